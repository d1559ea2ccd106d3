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

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

#: Below this many terms NumPy sums one after the other; from it on, in eight
#: interleaved partial sums (its pairwise summation, numpy/_core/src/umath/loops_utils.h).
PAIRWISE_MIN = 8
#: Longest run NumPy sums with the eight partial sums before splitting in halves.
PAIRWISE_BLOCK = 128

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
#: How far (relative to the size of its terms) a prediction assembled from
#: per-row summaries must be from the threshold before it decides alone; the
#: rounding of either computation is some 1e-14 of those terms.
LINEAR_MARGIN = 1e-9


class Detector(Protocol):
    @property
    def name(self) -> str: ...

    def overloaded(self, util: np.ndarray, history: np.ndarray, horizon: np.ndarray) -> np.ndarray: ...

    def overloaded_one(self, util: float, history: Sequence[float], horizon: float) -> bool:
        """:meth:`overloaded` for one host, on plain floats (same verdict, bit for bit)."""
        ...


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
    median: np.ndarray = lo + 0.5 * (hi - lo)
    return median


def iqr(history: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Interquartile range per row: q = element round(p (n + 1)) (1-based) of the sorted data."""
    import numpy as np

    s = _sorted_valid(history, length)
    rows = np.arange(s.shape[0])
    n = np.maximum(length, 1)
    q1 = np.clip(java_round(0.25 * (n + 1)) - 1, 0, n - 1)
    q3 = np.clip(java_round(0.75 * (n + 1)) - 1, 0, n - 1)
    with np.errstate(invalid="ignore"):  # empty rows give inf - inf; callers fall back for them
        spread: np.ndarray = s[rows, q3] - s[rows, q1]
    return spread


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
    predicted: np.ndarray = ym + slope * (at - xm)
    return predicted


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
        with np.errstate(over="ignore"):  # far outliers of a tiny scale: weight 0 either way
            w = np.where(scale > 0, np.where(np.abs(z) < 1, (1 - z**2) ** 2, 0.0), exact)
    assert a is not None and b is not None
    predicted: np.ndarray = (a + b * np.asarray(at, dtype=float)[:, None])[:, 0]
    return predicted


# -- scalar twins -------------------------------------------------------------
# A placement asks the detector about one host at a time, thousands of times a
# round; NumPy's per-call cost dominates such tiny arrays. These functions give
# the batch functions' results for one row with plain floats, bit for bit: the
# same operations in the same order, and sums in NumPy's own (pairwise) order.


def numpy_sum(values: Sequence[float], start: int = 0, count: int | None = None) -> float:
    """``np.add.reduce`` of *values* with NumPy's summation order (pairwise, 8 partial sums)."""
    n = len(values) - start if count is None else count
    if n < PAIRWISE_MIN:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    if n <= PAIRWISE_BLOCK:
        r = [values[start + j] for j in range(PAIRWISE_MIN)]
        i = PAIRWISE_MIN
        whole = n - n % PAIRWISE_MIN
        while i < whole:
            for j in range(PAIRWISE_MIN):
                r[j] += values[start + i + j]
            i += PAIRWISE_MIN
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            total += values[start + i]
            i += 1
        return total
    half = n // 2
    half -= half % PAIRWISE_MIN
    return numpy_sum(values, start, half) + numpy_sum(values, start + half, n - half)


def history_length_one(history: Sequence[float]) -> int:
    """:func:`history_length` of one row."""
    for i in range(len(history) - 1, -1, -1):
        if history[i] != 0:
            return i + 1
    return 0


def _median_sorted_one(s: Sequence[float], n: int) -> float:
    lo, hi = s[(n - 1) // 2], s[n // 2]
    return lo + 0.5 * (hi - lo)


def iqr_one(history: Sequence[float], length: int) -> float:
    """:func:`iqr` of one row (*length* >= 1)."""
    n = max(length, 1)
    s = sorted(history[:n])
    q1 = min(max(math.floor(0.25 * (n + 1) + 0.5) - 1, 0), n - 1)
    q3 = min(max(math.floor(0.75 * (n + 1) + 0.5) - 1, 0), n - 1)
    return s[q3] - s[q1]


def mad_one(history: Sequence[float], length: int) -> float:
    """:func:`mad` of one row."""
    n = max(length, 1)
    med = _median_sorted_one(sorted(history[:n]), n)
    return _median_sorted_one(sorted([abs(med - h) for h in history[:n]]), n)


def ols_prediction_one(window: Sequence[float], at: float) -> float:
    """:func:`ols_prediction` of one window (oldest first)."""
    k = len(window)
    x = [float(j) for j in range(1, k + 1)]
    xm = numpy_sum(x) / k
    ym = numpy_sum(window) / k
    dx = [xj - xm for xj in x]
    slope = numpy_sum([d * (w - ym) for d, w in zip(dx, window)]) / numpy_sum([d * d for d in dx])
    return ym + slope * (at - xm)


def robust_prediction_one(window: Sequence[float], at: float, iterations: int = ROBUST_ITERATIONS) -> float:
    """:func:`robust_prediction` of one window (oldest first)."""
    k = len(window)
    x = [float(j) for j in range(1, k + 1)]
    w = [1.0] * k
    a = b = 0.0
    for step in range(iterations + 1):
        sw = numpy_sum(w)
        if not sw > 0:
            sw = 1.0
        xm = numpy_sum([wi * xi for wi, xi in zip(w, x)]) / sw
        ym = numpy_sum([wi * yi for wi, yi in zip(w, window)]) / sw
        dx = [xi - xm for xi in x]
        sxx = numpy_sum([wi * (d * d) for wi, d in zip(w, dx)])
        sxy = numpy_sum([wi * d * (yi - ym) for wi, d, yi in zip(w, dx, window)])
        b = sxy / sxx if sxx > 0 else 0.0
        a = ym - b * xm
        if step == iterations:
            break
        r = [yi - (a + b * xi) for yi, xi in zip(window, x)]
        ar = sorted(abs(ri) for ri in r)
        scale = 0.5 * (ar[(k - 1) // 2] + ar[k // 2])
        if scale > 0:
            w = []
            for ri in r:
                z = ri / (BISQUARE_C * scale)
                t = 1 - z * z
                w.append(t * t if abs(z) < 1 else 0.0)
        else:
            w = [1.0 if abs(ri) <= EXACT_FIT else 0.0 for ri in r]
    return a + b * at


@dataclass(frozen=True)
class Thr:
    """Static threshold: overloaded iff requested utilisation > threshold."""

    threshold: float = 0.8
    name: str = field(default="thr", init=False)
    #: The verdict depends on the utilisation only (callers may pass an empty history).
    uses_history = False

    def overloaded(self, util: np.ndarray, history: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.asarray(util) > self.threshold

    def overloaded_one(self, util: float, history: Sequence[float], horizon: float) -> bool:
        return util > self.threshold


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

    def statistic_one(self, history: Sequence[float], length: int) -> float:
        return iqr_one(history, length)

    def overloaded_one(self, util: float, history: Sequence[float], horizon: float) -> bool:
        length = history_length_one(history)
        if length < self.min_history:
            return self.fallback.overloaded_one(util, history, horizon)
        return util > 1.0 - self.safety * self.statistic_one(history, length)


@dataclass(frozen=True)
class Mad(Iqr):
    """Adaptive threshold 1 - s * MAD(history)."""

    safety: float = 2.5
    name: str = field(default="mad", init=False)

    def statistic(self, history: np.ndarray, length: np.ndarray) -> np.ndarray:
        return mad(history, length)

    def statistic_one(self, history: Sequence[float], length: int) -> float:
        return mad_one(history, length)


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

    def sketch(self, history: np.ndarray) -> np.ndarray:
        """(rows, 3): observations, mean and slope of each row's newest window.

        The mean and slope are linear in the row, so for rows without negative
        values the sketch of ``a + c * b`` is ``(max of the counts, mean_a + c
        mean_b, slope_a + c slope_b)`` up to rounding: a placement can judge a
        host with one more VM from two sketches (:meth:`overloaded_sketch`).
        NaN marks a row it cannot summarise (negative values; robust fits are
        not linear).
        """
        import numpy as np

        k = self.window
        out = np.full((history.shape[0], 3), np.nan)
        out[:, 0] = history_length(history)
        if self.robust or history.shape[1] < k:
            return out
        dx = np.arange(1, k + 1, dtype=float) - (k + 1) / 2
        recent = history[:, :k][:, ::-1]
        out[:, 1] = recent.mean(axis=1)
        out[:, 2] = (recent - out[:, 1:2]) @ dx / (dx @ dx)
        out[(history < 0).any(axis=1), 1:] = np.nan
        return out

    def sketch_one(self, history: Sequence[float]) -> tuple[float, float, float]:
        """:meth:`sketch` of one row."""
        k = self.window
        length = float(history_length_one(history))
        if self.robust or len(history) < k or min(history, default=0.0) < 0:
            return length, math.nan, math.nan
        recent = [history[i] for i in range(k - 1, -1, -1)]
        x = [float(j) for j in range(1, k + 1)]
        xm = numpy_sum(x) / k
        ym = numpy_sum(recent) / k
        dx = [xj - xm for xj in x]
        slope = numpy_sum([d * (w - ym) for d, w in zip(dx, recent)]) / numpy_sum([d * d for d in dx])
        return length, ym, slope

    def overloaded_sketch(self, util: float, a: Sequence[float], b: Sequence[float], ratio: float,
                          horizon: float) -> bool | None:
        """The verdict for the history ``a_row + ratio * b_row`` from the rows' sketches, or
        None when they cannot tell (then :meth:`overloaded_one` on the row decides).

        The least-squares prediction is linear in the window, so the sum's
        prediction is the weighted sum of the two up to rounding (some 1e-14 of
        the terms); a verdict is given only when the margin dwarfs that.
        """
        if a[1] != a[1] or b[1] != b[1] or not ratio > 0:  # NaN: no sketch
            return None
        if max(a[0], b[0]) < self.window:  # non-negative rows: the sum is as long as the longer
            return self.fallback.overloaded_one(util, (), horizon)
        ahead = horizon + (self.window - 1) / 2  # x = window + horizon, from the mean of x = 1..window
        pred = (a[1] + ratio * b[1]) + (a[2] + ratio * b[2]) * ahead
        size = 1.0 + abs(a[1]) + ratio * abs(b[1]) + (abs(a[2]) + ratio * abs(b[2])) * abs(ahead)
        margin = LINEAR_MARGIN * size
        if self.safety * (pred - margin) >= 1.0:
            return True
        if self.safety * (pred + margin) < 1.0:
            return False
        return None

    def overloaded_one(self, util: float, history: Sequence[float], horizon: float) -> bool:
        if history_length_one(history) < self.window:
            return self.fallback.overloaded_one(util, history, horizon)
        recent = [history[i] for i in range(self.window - 1, -1, -1)]  # oldest first
        at = self.window + horizon
        pred = robust_prediction_one(recent, at) if self.robust else ols_prediction_one(recent, at)
        return self.safety * pred >= 1.0


@dataclass(frozen=True)
class Lrr(Lr):
    """Robust local regression (bisquare reweighting)."""

    robust: bool = True
    name: str = field(default="lrr", init=False)
