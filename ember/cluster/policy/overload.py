"""Host overload detectors (Beloglazov & Buyya, CCPE 2012, section 6).

Every detector answers, for a batch of hosts at once, "is this host
overloaded?". Its inputs are plain arrays so a cluster manager and the
simulator can both call it:

- ``util``: requested MIPS of the host's VMs / host MIPS, one per host;
- ``history``: (hosts, W) host utilisation history, newest first, zero-padded
  at the old end (trailing zeros are trimmed, as CloudSim does, so they never
  count as observations);
- ``horizon``: how many scheduling intervals ahead the local-regression
  detectors predict (ceil(longest migration on the host / interval)).

Adaptive detectors fall back to a static threshold while the history is too
short, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

#: Fallback threshold of the adaptive detectors (CloudSim's examples use 0.7).
FALLBACK_THRESHOLD = 0.7
#: Observations IQR and MAD need before they trust their statistic.
MIN_HISTORY_ROBUST = 12
#: Observations the local regressions fit (the paper's window).
LR_WINDOW = 10
#: Tuning constant of the bisquare weights (residuals beyond 6 MAD get weight 0).
BISQUARE_C = 6.0
#: Residuals this small count as on the line when most points are exactly on it.
EXACT_FIT = 1e-12
#: Robustness iterations of LRR (as LOWESS: a few reweightings suffice).
ROBUST_ITERATIONS = 3


class Detector(Protocol):
    @property
    def name(self) -> str: ...

    def overloaded(self, util: np.ndarray, history: np.ndarray, horizon: np.ndarray) -> np.ndarray: ...


def history_length(history: np.ndarray) -> np.ndarray:
    """Number of observations per row once trailing (oldest-end) zeros are dropped."""
    import numpy as np

    nz = history != 0
    width = history.shape[1]
    # index of the last non-zero + 1, or 0 for an all-zero row
    last = width - np.argmax(nz[:, ::-1], axis=1)
    return np.where(nz.any(axis=1), last, 0)


def java_round(x: np.ndarray) -> np.ndarray:
    """Java's Math.round (half up), which the quartile positions use."""
    import numpy as np

    return np.floor(x + 0.5).astype(np.intp)


def _sorted_valid(values: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Sort each row's first ``length`` values; the rest become +inf (sorted last)."""
    import numpy as np

    cols = np.arange(values.shape[1])
    masked = np.where(cols[None, :] < length[:, None], values, np.inf)
    return np.sort(masked, axis=1)


def _median_sorted(s: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Median of the first ``length`` entries of sorted rows (length >= 1).

    Even counts: the lower middle plus half the gap to the upper middle, the
    estimator of Apache Commons Math's Percentile(50) that CloudSim calls.
    """
    import numpy as np

    rows = np.arange(s.shape[0])
    lo = s[rows, (length - 1) // 2]
    hi = s[rows, length // 2]
    return lo + 0.5 * (hi - lo)


def iqr(history: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Interquartile range per row: q = element round(p (n + 1)) (1-based) of the sorted data."""
    import numpy as np

    s = _sorted_valid(history, length)
    rows = np.arange(s.shape[0])
    n = np.maximum(length, 1)
    q1 = np.clip(java_round(0.25 * (n + 1)) - 1, 0, n - 1)
    q3 = np.clip(java_round(0.75 * (n + 1)) - 1, 0, n - 1)
    with np.errstate(invalid="ignore"):  # empty rows give inf - inf; callers fall back for them
        return s[rows, q3] - s[rows, q1]


def mad(history: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Median absolute deviation from the median, per row."""
    import numpy as np

    n = np.maximum(length, 1)
    s = _sorted_valid(history, n)
    med = _median_sorted(s, n)
    dev = np.abs(med[:, None] - history)
    return _median_sorted(_sorted_valid(dev, n), n)


def ols_prediction(window: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Least-squares line through rows (time order, x = 1..k), evaluated at x = *at*."""
    import numpy as np

    k = window.shape[1]
    x = np.arange(1, k + 1, dtype=float)
    xm = x.mean()
    ym = window.mean(axis=1)
    slope = ((x - xm)[None, :] * (window - ym[:, None])).sum(axis=1) / ((x - xm) ** 2).sum()
    return ym + slope * (at - xm)


def robust_prediction(window: np.ndarray, at: np.ndarray, iterations: int = ROBUST_ITERATIONS) -> np.ndarray:
    """Bisquare-reweighted least-squares line (LOESS robustness step), evaluated at *at*.

    Start from ordinary least squares, then repeatedly weight each point by
    (1 - (r / (6 MAD))^2)^2 of its residual r, so outliers stop pulling the line.
    """
    import numpy as np

    k = window.shape[1]
    x = np.arange(1, k + 1, dtype=float)[None, :]
    w = np.ones_like(window)
    a = b = None
    for step in range(iterations + 1):
        sw = w.sum(axis=1, keepdims=True)
        sw = np.where(sw > 0, sw, 1.0)
        xm = (w * x).sum(axis=1, keepdims=True) / sw
        ym = (w * window).sum(axis=1, keepdims=True) / sw
        sxx = (w * (x - xm) ** 2).sum(axis=1, keepdims=True)
        sxy = (w * (x - xm) * (window - ym)).sum(axis=1, keepdims=True)
        b = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
        a = ym - b * xm
        if step == iterations:
            break
        r = window - (a + b * x)
        ar = np.sort(np.abs(r), axis=1)
        scale = 0.5 * (ar[:, (k - 1) // 2] + ar[:, k // 2])[:, None]  # median, without np.median's overhead
        # Most points on the line (scale 0): keep them, drop the rest.
        safe = np.where(scale > 0, scale, 1.0)
        z = r / (BISQUARE_C * safe)
        exact = np.where(np.abs(r) <= EXACT_FIT, 1.0, 0.0)
        w = np.where(scale > 0, np.where(np.abs(z) < 1, (1 - z**2) ** 2, 0.0), exact)
    assert a is not None and b is not None
    return (a + b * np.asarray(at, dtype=float)[:, None])[:, 0]


@dataclass(frozen=True)
class Thr:
    """Static threshold: overloaded iff requested utilisation > threshold."""

    threshold: float = 0.8
    name: str = field(default="thr", init=False)

    def overloaded(self, util: np.ndarray, history: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.asarray(util) > self.threshold


@dataclass(frozen=True)
class Iqr:
    """Adaptive threshold 1 - s * IQR(history)."""

    safety: float = 1.5
    fallback: Thr = Thr(FALLBACK_THRESHOLD)
    min_history: int = MIN_HISTORY_ROBUST
    name: str = field(default="iqr", init=False)

    def statistic(self, history: np.ndarray, length: np.ndarray) -> np.ndarray:
        return iqr(history, length)

    def overloaded(self, util: np.ndarray, history: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        import numpy as np

        util = np.asarray(util, dtype=float)
        length = history_length(history)
        enough = length >= self.min_history
        upper = 1.0 - self.safety * self.statistic(history, length)
        adaptive = util > upper
        return np.where(enough, adaptive, self.fallback.overloaded(util, history, horizon))


@dataclass(frozen=True)
class Mad(Iqr):
    """Adaptive threshold 1 - s * MAD(history)."""

    safety: float = 2.5
    name: str = field(default="mad", init=False)

    def statistic(self, history: np.ndarray, length: np.ndarray) -> np.ndarray:
        return mad(history, length)


@dataclass(frozen=True)
class Lr:
    """Local regression: overloaded iff s * predicted utilisation >= 1.

    The prediction extrapolates a line through the newest ``window`` values
    ``horizon`` intervals ahead (the time the longest migration would take).
    """

    safety: float = 1.2
    fallback: Thr = Thr(FALLBACK_THRESHOLD)
    window: int = LR_WINDOW
    robust: bool = False
    name: str = field(default="lr", init=False)

    def predict(self, history: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        import numpy as np

        recent = history[:, : self.window][:, ::-1]  # oldest first, x = 1..window
        at = self.window + np.asarray(horizon, dtype=float)
        if self.robust:
            return robust_prediction(recent, at)
        return ols_prediction(recent, at)

    def overloaded(self, util: np.ndarray, history: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        import numpy as np

        util = np.asarray(util, dtype=float)
        length = history_length(history)
        enough = length >= self.window
        out = self.fallback.overloaded(util, history, horizon).copy()
        if enough.any():
            pred = self.predict(history[enough], np.broadcast_to(horizon, util.shape)[enough])
            out[enough] = self.safety * pred >= 1.0
        return out


@dataclass(frozen=True)
class Lrr(Lr):
    """Robust local regression (bisquare reweighting)."""

    robust: bool = True
    name: str = field(default="lrr", init=False)
