"""VM selection: which VM to take off an overloaded host next.

A selector sees the host's migratable VMs in the host's list order (VMs are
appended when placed) and returns the position of the one to move. Ties go
to the first VM in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Candidates:
    """The migratable VMs of one host, in list order."""

    ram_mb: np.ndarray  # configured RAM: what a migration must copy
    utilization: np.ndarray  # current requested MIPS / VM MIPS
    history: np.ndarray  # (n, W) VM utilisation, newest first
    history_len: np.ndarray  # observations recorded per VM

    def __len__(self) -> int:
        return int(self.ram_mb.shape[0])


class Selector(Protocol):
    @property
    def name(self) -> str: ...

    def select(self, vms: Candidates, rng: np.random.Generator) -> int: ...


#: Start value of the R² search: the smallest positive double (Java's Double.MIN_VALUE),
#: so a VM only wins with a positive R².
SMALLEST_POSITIVE = 5e-324


def _first_min(values: np.ndarray) -> int:
    import numpy as np

    return int(np.argmin(values))  # argmin returns the first of equal minima


@dataclass(frozen=True)
class Mmt:
    """Minimum migration time: the VM with the least RAM to copy."""

    name: str = field(default="mmt", init=False)

    def select(self, vms: Candidates, rng: np.random.Generator) -> int:
        return _first_min(vms.ram_mb)


@dataclass(frozen=True)
class Mu:
    """Minimum utilisation: the VM using the smallest fraction of its MIPS."""

    name: str = field(default="mu", init=False)

    def select(self, vms: Candidates, rng: np.random.Generator) -> int:
        return _first_min(vms.utilization)


@dataclass(frozen=True)
class Rs:
    """Random selection, uniform over the candidates, from the caller's seeded generator."""

    name: str = field(default="rs", init=False)

    def select(self, vms: Candidates, rng: np.random.Generator) -> int:
        return int(rng.integers(len(vms)))


def r_squared_each(data: np.ndarray) -> np.ndarray:
    """R² of regressing each row on all the others (least squares with intercept).

    Rows are variables, columns observations. All rows at once from the
    inverse covariance matrix: R²_i = 1 - 1 / (S_ii (S⁻¹)_ii). Falls back to
    one least-squares fit per row when S is singular. NaN where a row is
    constant (R² undefined), so it never wins a comparison.
    """
    import numpy as np

    n = data.shape[0]
    constant = np.ptp(data, axis=1) == 0
    centred = data - data.mean(axis=1, keepdims=True)
    cov = centred @ centred.T
    try:
        inv = np.linalg.inv(cov)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1.0 - 1.0 / (np.diag(cov) * np.diag(inv))
        if np.all(np.isfinite(r2[~constant])) and np.all(r2[~constant] <= 1 + 1e-9):
            return np.where(constant, np.nan, r2)
    except np.linalg.LinAlgError:
        pass
    return _r_squared_lstsq(data, constant, n)


def _r_squared_lstsq(data: np.ndarray, constant: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    m = data.shape[1]
    out = np.full(n, np.nan)
    for i in range(n):
        if constant[i]:
            continue
        y = data[i]
        x = np.column_stack([np.ones(m), np.delete(data, i, axis=0).T])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        out[i] = 1.0 - float((resid**2).sum()) / float(((y - y.mean()) ** 2).sum())
    return out


def _sequential_sum(x: np.ndarray) -> np.ndarray:
    """Sum along the last axis one term after the other (as a Java loop does; np.sum pairs them)."""
    return x.cumsum(axis=-1)[..., -1]


def r_squared_householder(data: np.ndarray) -> np.ndarray | None:
    """R² of each row regressed on the others, as commons-math3's OLSMultipleLinearRegression
    computes it (intercept first, Householder QR, every sum one term after the other), or
    None where it refuses: fewer than two rows, more rows than observations, or a zero on
    the diagonal of R in any of the regressions (CloudSim then falls back to MMT).

    All n regressions run at once along a leading axis; each keeps the library's own
    order of operations, so the R² agree with CloudSim's bit for bit.
    """
    import numpy as np

    n, m = data.shape
    p = n  # n - 1 regressors and the intercept
    if n < 2 or p > m:
        return None
    others = np.array([[j for j in range(n) if j != i] for i in range(n)], dtype=np.intp)
    q = np.empty((n, p, m))
    q[:, 0, :] = 1.0
    q[:, 1:, :] = data[others]
    rdiag = np.empty((n, p))
    for minor in range(p):
        qm = q[:, minor, minor:]
        a = np.sqrt(_sequential_sum(qm * qm))
        a = np.where(q[:, minor, minor] > 0, -a, a)
        if not (a != 0).all():
            return None  # singular: the whole selection falls back
        rdiag[:, minor] = a
        q[:, minor, minor] -= a
        if minor + 1 < p:
            rest = q[:, minor + 1 :, minor:]
            alpha = -_sequential_sum(rest * qm[:, None, :]) / (a * q[:, minor, minor])[:, None]
            rest -= alpha[:, :, None] * qm[:, None, :]
    y = data.astype(float, copy=True)
    for minor in range(p):
        qm = q[:, minor, minor:]
        dot = _sequential_sum(y[:, minor:] * qm) / (rdiag[:, minor] * q[:, minor, minor])
        y[:, minor:] += dot[:, None] * qm
    beta = np.empty((n, p))
    for row in range(p - 1, -1, -1):
        y[:, row] /= rdiag[:, row]
        beta[:, row] = y[:, row]
        y[:, :row] -= y[:, row : row + 1] * q[:, row, :row]
    # fitted value of observation j: 1 * beta_0 + sum over regressors k of x_jk beta_k, in order
    terms = np.empty((n, m, p))
    terms[:, :, 0] = beta[:, 0:1]
    terms[:, :, 1:] = np.transpose(data[others], (0, 2, 1)) * beta[:, None, 1:]
    resid = data - _sequential_sum(terms)
    ssr = _sequential_sum(resid * resid)
    # the total sum of squares by commons-math's SecondMoment recurrence
    m1 = np.zeros(n)
    m2 = np.zeros(n)
    for k in range(m):
        dev = data[:, k] - m1
        ndev = dev / (k + 1)
        m1 = m1 + ndev
        m2 = m2 + float(k) * dev * ndev
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - ssr / m2


@dataclass(frozen=True)
class Mc:
    """Maximum correlation: the VM whose history the others explain best (largest R²).

    Falls back to MMT when the regression has no degrees of freedom left
    (observations <= VMs), as CloudSim does when its regression refuses.
    """

    fallback: Mmt = Mmt()
    #: CloudSim's regression (commons-math3: Householder QR, refusing only more VMs than
    #: observations or a singular fit) instead of the inverse-covariance shortcut, which
    #: differs in the last bits and refuses one observation earlier.
    householder: bool = False
    name: str = field(default="mc", init=False)

    def select(self, vms: Candidates, rng: np.random.Generator) -> int:
        n = len(vms)
        m = int(vms.history_len.min()) if n else 0
        if self.householder:
            found = r_squared_householder(vms.history[:, :m]) if n else None
            if found is None:
                return self.fallback.select(vms, rng)
            r2 = found
        else:
            if m <= n:
                return self.fallback.select(vms, rng)
            r2 = r_squared_each(vms.history[:, :m])
        best, best_i = SMALLEST_POSITIVE, 0
        for i, value in enumerate(r2):
            if value > best:  # NaN never wins; ties keep the first
                best, best_i = value, i
        return best_i
