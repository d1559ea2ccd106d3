"""VM selectors against hand-computed cases."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.cluster.policy.selection import Candidates, Mc, Mmt, Mu, Rs, r_squared_each

RNG = np.random.default_rng(0)


def cands(ram: list[float], util: list[float] | None = None, hist: np.ndarray | None = None) -> Candidates:
    n = len(ram)
    h = hist if hist is not None else np.zeros((n, 30))
    return Candidates(np.array(ram, dtype=float), np.array(util or [0.5] * n), h, np.full(n, h.shape[1]))


def test_mmt_takes_least_ram_first_of_ties() -> None:
    assert Mmt().select(cands([1740, 613, 870, 613]), RNG) == 1


def test_mu_takes_least_utilised() -> None:
    assert Mu().select(cands([1, 1, 1], [0.3, 0.1, 0.1]), RNG) == 1


def test_rs_is_seeded_and_in_range() -> None:
    c = cands([1] * 7)
    a = [Rs().select(c, np.random.default_rng(42)) for _ in range(3)]
    b = [Rs().select(c, np.random.default_rng(42)) for _ in range(3)]
    assert a == b
    picks = {Rs().select(c, np.random.default_rng(s)) for s in range(50)}
    assert picks <= set(range(7)) and len(picks) > 3


def test_mc_picks_the_vm_the_others_explain() -> None:
    rng = np.random.default_rng(1)
    a, b, noise, eps = rng.random(30), rng.random(30), rng.random(30), rng.random(30)
    hist = np.vstack([a, noise, b, 0.3 * a + 0.5 * b + 0.01 * eps])  # row 3 is nearly a mix of 0 and 2
    r2 = r_squared_each(hist)
    assert r2[3] > 0.999 and r2[1] < 0.5
    assert Mc().select(cands([1, 1, 1, 1], hist=hist), RNG) == 3 == int(np.argmax(r2))


def test_mc_falls_back_to_mmt_without_degrees_of_freedom() -> None:
    hist = np.random.default_rng(2).random((4, 4))  # 4 observations for 4 VMs: no freedom left
    c = Candidates(np.array([900.0, 300, 500, 300]), np.full(4, 0.5), hist, np.full(4, 4))
    assert Mc().select(c, RNG) == 1


def test_mc_constant_history_never_wins() -> None:
    rng = np.random.default_rng(3)
    hist = np.vstack([np.full(30, 0.2), rng.random(30), rng.random(30)])
    r2 = r_squared_each(hist)
    assert np.isnan(r2[0])
    assert Mc().select(cands([1, 1, 1], hist=hist), RNG) != 0


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), st.integers(0, 10_000))
def test_r_squared_shortcut_matches_one_fit_per_vm(n: int, seed: int) -> None:
    from ember.cluster.policy.selection import _r_squared_lstsq

    data = np.random.default_rng(seed).random((n, 30))
    fast = r_squared_each(data)
    slow = _r_squared_lstsq(data, np.zeros(n, dtype=bool), n)
    assert np.allclose(fast, slow, atol=1e-9)


# -- CloudSim's MC: commons-math3's regression --------------------------------------------------
from ember.cluster.policy.selection import r_squared_householder


def _householder_one(y: list[float], cols: list[list[float]]) -> float | None:
    """One regression (intercept first) by Householder QR with plain loops, the library's way."""
    import math

    m, p = len(y), len(cols) + 1
    if p > m:
        return None
    q = [[1.0] * m] + [list(c) for c in cols]
    rdiag = []
    for minor in range(p):
        qm = q[minor]
        norm = 0.0
        for row in range(minor, m):
            norm += qm[row] * qm[row]
        a = -math.sqrt(norm) if qm[minor] > 0 else math.sqrt(norm)
        if a == 0.0:
            return None
        rdiag.append(a)
        qm[minor] -= a
        for col in range(minor + 1, p):
            alpha = 0.0
            for row in range(minor, m):
                alpha -= q[col][row] * qm[row]
            alpha /= a * qm[minor]
            for row in range(minor, m):
                q[col][row] -= alpha * qm[row]
    yy = list(y)
    for minor in range(p):
        dot = 0.0
        for row in range(minor, m):
            dot += yy[row] * q[minor][row]
        dot /= rdiag[minor] * q[minor][minor]
        for row in range(minor, m):
            yy[row] += dot * q[minor][row]
    beta = [0.0] * p
    for row in range(p - 1, -1, -1):
        yy[row] /= rdiag[row]
        beta[row] = yy[row]
        for i in range(row):
            yy[i] -= yy[row] * q[row][i]
    ssr = 0.0
    for j in range(m):
        fitted = 0.0
        fitted += beta[0]
        for k, c in enumerate(cols):
            fitted += c[j] * beta[k + 1]
        ssr += (y[j] - fitted) * (y[j] - fitted)
    m1, m2 = 0.0, 0.0
    for count, d in enumerate(y, start=1):
        dev = d - m1
        ndev = dev / count
        m1 += ndev
        m2 += (count - 1.0) * dev * ndev
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(1 - np.float64(ssr) / np.float64(m2))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7), st.integers(1, 12), st.integers(0, 10_000),
       st.sampled_from(["plain", "coarse", "dup", "const"]))
def test_householder_r_squared_is_the_plain_loops_bit_for_bit(n: int, m: int, seed: int, kind: str) -> None:
    data = np.random.default_rng(seed).random((n, m))
    if kind == "coarse":
        data = np.round(data * 4) / 4
    elif kind == "dup" and n > 1:
        data[1] = data[0]
    elif kind == "const":
        data[0] = 0.25
    fast = r_squared_householder(data)
    rows = data.tolist()
    slow = None if n < 2 else [_householder_one(rows[i], [rows[j] for j in range(n) if j != i]) for i in range(n)]
    if slow is not None and any(v is None for v in slow):
        slow = None  # one refusal makes the whole selection fall back
    assert (fast is None) == (slow is None)
    if fast is not None and slow is not None:
        assert np.array_equal(fast, np.array(slow), equal_nan=True)


def test_cloudsim_mc_fits_as_many_observations_as_vms() -> None:
    # 4 VMs, 4 observations: the fit is exact, every R² is 1 and CloudSim takes the first VM;
    # the inverse-covariance shortcut has no degree of freedom left and falls back to MMT
    hist = np.random.default_rng(2).random((4, 4))
    c = Candidates(np.array([900.0, 300, 500, 300]), np.full(4, 0.5), hist, np.full(4, 4))
    assert Mc().select(c, RNG) == 1
    r2 = r_squared_householder(hist)
    assert r2 is not None and np.allclose(r2, 1.0)
    assert Mc(householder=True).select(c, RNG) == 0
    # 5 VMs, 4 observations: commons-math refuses, MMT decides
    c5 = Candidates(np.array([900.0, 300, 500, 300, 100]), np.full(5, 0.5), np.vstack([hist, hist[:1]]), np.full(5, 4))
    assert Mc(householder=True).select(c5, RNG) == 4


def test_cloudsim_mc_falls_back_on_a_singular_fit() -> None:
    hist = np.zeros((3, 10))  # all-zero histories: a zero on R's diagonal
    c = Candidates(np.array([900.0, 613, 870]), np.full(3, 0.5), hist, np.full(3, 10))
    assert r_squared_householder(hist) is None
    assert Mc(householder=True).select(c, RNG) == 1
