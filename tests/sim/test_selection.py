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
