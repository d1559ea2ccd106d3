"""Overload detectors against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.cluster.policy.overload import Iqr, Lr, Lrr, Mad, Thr, history_length, iqr, mad

W = 30
ONE = np.array([1.0])


def hist(values: list[float]) -> np.ndarray:
    """A host history row, newest first, zero-padded to the window."""
    row = np.zeros((1, W))
    row[0, : len(values)] = values
    return row


def test_thr_is_strictly_greater() -> None:
    d = Thr(0.8)
    assert d.overloaded(np.array([0.8, 0.81, 0.2]), np.zeros((3, W)), np.ones(3)).tolist() == [False, True, False]


def test_history_length_drops_old_end_zeros_only() -> None:
    h = np.zeros((3, W))
    h[0, :5] = [0.1, 0, 0.3, 0, 0]  # a zero in the middle counts; the tail does not
    h[1, :] = 0.5
    assert history_length(h).tolist() == [3, W, 0]


def test_iqr_of_twelve_values_by_hand() -> None:
    # sorted 1..12 (/100): q1 = element round(0.25*13)=3 -> 0.03, q3 = round(9.75)=10 -> 0.10
    values = [v / 100 for v in (7, 3, 12, 1, 9, 5, 11, 2, 8, 4, 10, 6)]
    assert iqr(hist(values), np.array([12]))[0] == pytest.approx(0.07)
    d = Iqr(1.5)  # threshold 1 - 1.5 * 0.07 = 0.895
    assert not d.overloaded(np.array([0.895]), hist(values), ONE)[0]
    assert d.overloaded(np.array([0.9]), hist(values), ONE)[0]


def test_quartile_position_rounds_half_up() -> None:
    # n = 13: 0.25 * 14 = 3.5 -> Java's Math.round gives 4 (Python's round would give 4 too),
    # n = 9: 0.25 * 10 = 2.5 -> 3 (Python's banker's round would give 2)
    values = [float(v) for v in range(1, 10)]
    # q1 = 3rd smallest = 3, q3 = round(7.5) = 8th = 8
    assert iqr(hist(values), np.array([9]))[0] == pytest.approx(5.0)


def test_iqr_falls_back_to_thr_07_with_eleven_values() -> None:
    values = [0.5] * 11  # IQR 0 would give threshold 1.0; the fallback says 0.7
    d = Iqr(1.5)
    assert d.overloaded(np.array([0.75]), hist(values), ONE)[0]
    assert not d.overloaded(np.array([0.75]), hist([0.5] * 12), ONE)[0]


def test_mad_by_hand_even_count() -> None:
    values = [0.1, 0.2, 0.2, 0.3, 0.4, 0.6, 0.7, 0.9, 0.1, 0.2, 0.5, 0.8]
    # sorted: .1 .1 .2 .2 .2 .3 .4 .5 .6 .7 .8 .9 -> median (.3+.4)/2 = .35
    # |x - .35| sorted: .05 .05 .15 .15 .15 .15 .25 .25 .35 .35 .45 .55 -> median (.15+.25)/2 = .2
    assert mad(hist(values), np.array([12]))[0] == pytest.approx(0.2)
    d = Mad(2.5)  # threshold 1 - 0.5 = 0.5
    assert d.overloaded(np.array([0.51]), hist(values), ONE)[0]
    assert not d.overloaded(np.array([0.5]), hist(values), ONE)[0]


def test_lr_extrapolates_a_line_one_interval_ahead() -> None:
    # oldest..newest = 0.10, 0.15, ..., 0.55 (x = 1..10): the line predicts 0.60 at x = 11
    series = [0.10 + 0.05 * i for i in range(10)]
    h = hist(series[::-1])
    d = Lr(1.2)
    assert d.predict(h, ONE)[0] == pytest.approx(0.60)
    assert not d.overloaded(np.array([0.0]), h, ONE)[0]  # 1.2 * 0.60 = 0.72 < 1
    assert Lr(1.7).overloaded(np.array([0.0]), h, ONE)[0]  # 1.7 * 0.60 = 1.02 >= 1
    # two intervals ahead (a longer migration): 0.65
    assert d.predict(h, np.array([2.0]))[0] == pytest.approx(0.65)


def test_lr_uses_only_the_ten_newest_values() -> None:
    newest = [0.5] * 10
    assert Lr(1.2).predict(hist(newest + [0.0, 0.9, 0.9]), ONE)[0] == pytest.approx(0.5)


def test_lr_falls_back_with_nine_values() -> None:
    h = hist([0.1] * 9)
    assert Lr(1.2).overloaded(np.array([0.71]), h, ONE)[0]  # THR 0.7 decides
    assert not Lr(1.2).overloaded(np.array([0.71]), hist([0.1] * 10), ONE)[0]


def test_lrr_ignores_an_outlier_that_drags_lr() -> None:
    series = [0.3] * 10
    series[-1] = 0.95  # one spike at the newest point
    h = hist(series[::-1])
    plain = Lr(1.2).predict(h, ONE)[0]
    robust = Lrr(1.2).predict(h, ONE)[0]
    assert plain > 0.5
    assert robust == pytest.approx(0.3, abs=1e-6)
    # with safety 2 the spike makes LR call the host overloaded (2 * 0.56), LRR does not (2 * 0.3)
    assert Lr(2.0).overloaded(np.array([0.0]), h, ONE)[0]
    assert not Lrr(2.0).overloaded(np.array([0.0]), h, ONE)[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=W), min_size=1, max_size=6),
       st.floats(0, 1.2, allow_nan=False))
def test_batch_equals_row_by_row(rows: list[list[float]], util: float) -> None:
    h = np.zeros((len(rows), W))
    for i, r in enumerate(rows):
        h[i, : len(r)] = r
    u = np.full(len(rows), util)
    hz = np.ones(len(rows))
    for det in (Thr(0.8), Iqr(1.5), Mad(2.5), Lr(1.2), Lrr(1.2)):
        batch = det.overloaded(u, h, hz)
        single = [det.overloaded(u[i : i + 1], h[i : i + 1], hz[i : i + 1])[0] for i in range(len(rows))]
        assert batch.tolist() == single


# -- scalar twins and sketches ----------------------------------------------------------------
from ember.cluster.policy.overload import numpy_sum

ROWS = st.lists(st.lists(st.floats(0, 1.5, allow_nan=False), min_size=0, max_size=W), min_size=1, max_size=5)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=300))
def test_numpy_sum_is_numpys_order_bit_for_bit(values: list[float]) -> None:
    assert numpy_sum(values) == float(np.add.reduce(np.array(values, dtype=float)))


@settings(max_examples=150, deadline=None)
@given(ROWS, st.lists(st.floats(0, 1.5, allow_nan=False), min_size=5, max_size=5), st.integers(1, 3),
       st.booleans())
def test_scalar_twin_equals_batch(rows: list[list[float]], utils: list[float], horizon: int, coarse: bool) -> None:
    h = np.zeros((len(rows), W))
    for i, r in enumerate(rows):
        h[i, : len(r)] = np.round(r, 1) if coarse else r  # coarse values: exact ties and lines
    u = np.array(utils[: len(rows)])
    hz = np.full(len(rows), float(horizon))
    for det in (Thr(0.8), Iqr(1.5), Mad(2.5), Lr(1.2), Lrr(1.2), Iqr(0.3), Lr(0.9)):
        batch = det.overloaded(u, h, hz)
        assert [det.overloaded_one(float(u[i]), h[i].tolist(), float(hz[i])) for i in range(len(rows))] == batch.tolist()
    for det in (Lr(1.2), Lrr(1.2)):
        pred = det.predict(h, hz)
        at = det.window + float(horizon)
        from ember.cluster.policy.overload import ols_prediction_one, robust_prediction_one

        one = robust_prediction_one if det.robust else ols_prediction_one
        assert [one(h[i, : det.window][::-1].tolist(), at) for i in range(len(rows))] == pred.tolist()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=W),
       st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=W),
       st.floats(0.05, 2.0), st.floats(0.5, 2.0), st.integers(1, 2), st.floats(0, 1.2))
def test_lr_sketch_verdict_is_the_rows_verdict(a: list[float], b: list[float], ratio: float, safety: float,
                                               horizon: int, util: float) -> None:
    ra, rb = np.zeros(W), np.zeros(W)
    ra[: len(a)], rb[: len(b)] = a, b
    det = Lr(safety)
    row = [x + y * ratio for x, y in zip(ra.tolist(), rb.tolist())]
    exact = det.overloaded_one(util, row, float(horizon))
    sa, sb = det.sketch(ra[None, :])[0], det.sketch_one(rb.tolist())
    assert np.allclose(det.sketch(rb[None, :])[0], sb, rtol=1e-12, atol=1e-12)
    verdict = det.overloaded_sketch(util, sa.tolist(), list(sb), ratio, float(horizon))
    assert verdict is None or verdict == exact


def test_lr_sketch_abstains_near_the_threshold_and_for_negative_rows() -> None:
    det = Lr(1.0)
    flat = np.full(W, 0.5)
    sk = det.sketch(flat[None, :])[0].tolist()
    # host 0.5 + 1.0 * VM 0.5 predicts exactly 1.0: too close to call from sketches
    assert det.overloaded_sketch(0.0, sk, sk, 1.0, 1.0) is None
    assert det.overloaded_sketch(0.0, sk, sk, 0.9, 1.0) is False
    assert det.overloaded_sketch(0.0, sk, sk, 1.1, 1.0) is True
    neg = det.sketch((flat - 1.0)[None, :])[0].tolist()
    assert det.overloaded_sketch(0.0, neg, sk, 1.0, 1.0) is None
    assert np.isnan(Lrr(1.0).sketch(flat[None, :])[0, 1])  # a robust fit is not linear: no sketch
