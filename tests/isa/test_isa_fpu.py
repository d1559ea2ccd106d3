"""The soft-float core against independent references.

Round-to-nearest-even results must equal the host's IEEE double arithmetic
(and numpy's float32); the directed modes are checked against exact rational
arithmetic (fractions.Fraction) stepped with math.nextafter; the inexact flag
must be raised exactly when the exact result was not representable.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ember.isa.riscv import fpu

doubles = st.floats(allow_nan=False, allow_infinity=False, width=64)
singles = st.floats(allow_nan=False, allow_infinity=False, width=32)


def bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def sbits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def value(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def directed(exact: Fraction, rm: int) -> float:
    """exact rounded to a double in a directed mode, from the RNE neighbour."""
    near = float(exact)
    if Fraction(near) == exact or rm == fpu.RNE:
        return near
    toward_zero = (rm == fpu.RTZ) or (rm == fpu.RDN and exact > 0) or (rm == fpu.RUP and exact < 0)
    if toward_zero:
        if abs(Fraction(near)) > abs(exact):
            near = math.nextafter(near, 0.0)
        return near
    # away from zero
    if abs(Fraction(near)) < abs(exact):
        near = math.nextafter(near, math.copysign(math.inf, float(exact)))
    return near


@settings(max_examples=300, deadline=None)
@given(doubles, doubles)
def test_double_rne_matches_host(a: float, b: float) -> None:
    for op, host in (("add", a + b), ("mul", a * b)):
        if math.isinf(host):
            continue
        fn = fpu.add if op == "add" else fpu.mul
        got, flags = fn(bits(a), bits(b), fpu.D, fpu.RNE)
        assert got == bits(host), op
        exact = Fraction(a) + Fraction(b) if op == "add" else Fraction(a) * Fraction(b)
        assert bool(flags & fpu.NX) == (Fraction(host) != exact)
    if b != 0 and not math.isinf(a / b):
        got, flags = fpu.div(bits(a), bits(b), fpu.D, fpu.RNE)
        assert got == bits(a / b)
        assert bool(flags & fpu.NX) == (Fraction(a / b) != Fraction(a) / Fraction(b))
    if a >= 0:
        got, _ = fpu.sqrt(bits(a), fpu.D, fpu.RNE)
        assert got == bits(math.sqrt(a))


@settings(max_examples=300, deadline=None)
@given(doubles, doubles, st.sampled_from([fpu.RTZ, fpu.RDN, fpu.RUP]))
def test_double_directed_modes(a: float, b: float, rm: int) -> None:
    for fn, exact in ((fpu.add, Fraction(a) + Fraction(b)), (fpu.mul, Fraction(a) * Fraction(b))):
        try:
            want = directed(exact, rm)
        except OverflowError:
            continue
        assume(not math.isinf(want))
        got, flags = fn(bits(a), bits(b), fpu.D, rm)
        if exact == 0:
            continue  # the sign of an exact zero sum is checked separately
        assert value(got) == want
        assert bool(flags & fpu.NX) == (Fraction(want) != exact)


@settings(max_examples=300, deadline=None)
@given(singles, singles)
def test_single_rne_matches_numpy(a: float, b: float) -> None:
    fa, fb = np.float32(a), np.float32(b)
    with np.errstate(all="ignore"):
        for fn, host in ((fpu.add, fa + fb), (fpu.mul, fa * fb), (fpu.div, fa / fb if b else None)):
            if host is None or not np.isfinite(host):
                continue
            got, _ = fn(sbits(a), sbits(b), fpu.S, fpu.RNE)
            assert got == sbits(float(host))


def test_exact_zero_sum_sign() -> None:
    one, minus_one = bits(1.0), bits(-1.0)
    assert fpu.add(one, minus_one, fpu.D, fpu.RNE)[0] == 0
    assert fpu.add(one, minus_one, fpu.D, fpu.RDN)[0] == 1 << 63
    assert fpu.add(bits(-0.0), bits(-0.0), fpu.D, fpu.RNE)[0] == 1 << 63


def test_underflow_is_detected_after_rounding() -> None:
    # The largest subnormal times (1 + 2^-52) rounds up to the smallest normal
    # in RUP: tiny before rounding but not after, so only NX is raised.
    biggest_sub = (1 << 52) - 1
    got, flags = fpu.mul(biggest_sub, bits(1.0 + 2**-52), fpu.D, fpu.RUP)
    assert got == 1 << 52 and flags == fpu.NX
    got, flags = fpu.mul(biggest_sub, bits(0.75), fpu.D, fpu.RNE)
    assert flags == fpu.NX | fpu.UF


@pytest.mark.parametrize("x, rm, signed, want, flags", [
    (2.5, fpu.RNE, True, 2, fpu.NX),
    (-2.5, fpu.RNE, True, -2, fpu.NX),
    (2.5, fpu.RMM, True, 3, fpu.NX),
    (-0.5, fpu.RTZ, False, 0, fpu.NX),
    (-1.0, fpu.RTZ, False, 0, fpu.NV),
    (2.0**31, fpu.RNE, True, 2**31 - 1, fpu.NV),
    (-(2.0**31), fpu.RNE, True, -(2**31), 0),
    (math.inf, fpu.RNE, False, 2**32 - 1, fpu.NV),
    (math.nan, fpu.RNE, True, 2**31 - 1, fpu.NV),
])
def test_float_to_int32(x: float, rm: int, signed: bool, want: int, flags: int) -> None:
    got = fpu.to_int(bits(x), fpu.D, rm, 32, signed)
    assert got == (want, flags)


def test_nan_boxing() -> None:
    unit = fpu.Fpu()
    assert unit.unbox(0xFFFFFFFF3F800000) == 0x3F800000
    assert unit.unbox(0x000000003F800000) == fpu.S.qnan  # not boxed: canonical NaN
    assert unit.add_s(0xFFFFFFFF3F800000, 0xFFFFFFFF3F800000, fpu.RNE) == 0xFFFFFFFF40000000
    assert unit.add_d(bits(math.inf), bits(-math.inf), fpu.RNE) == fpu.D.qnan
    assert unit.flags == fpu.NV


any_double = st.one_of(
    st.floats(width=64),
    st.integers(0, (1 << 64) - 1).map(value),  # any bit pattern: NaNs with payloads, subnormals
    st.sampled_from([0.0, -0.0, 2.0**-1022, 2.0**-1074, 1.7976931348623157e308, 1.0, 3.0]),
)


def assert_fast_equals_exact(fmt: fpu.Fmt, a: int, b: int, rm: int) -> None:
    """Fpu's host-float fast paths (add, sub, mul, div, sqrt) give the same bits
    and flags as the exact integer implementation; singles go in and come out
    NaN-boxed."""
    box, p = (fpu.BOX, "s") if fmt is fpu.S else (0, "d")
    for name, exact in (("add", lambda: fpu.add(a, b, fmt, fpu.RNE)),
                        ("sub", lambda: fpu.add(a, b, fmt, fpu.RNE, True)),
                        ("mul", lambda: fpu.mul(a, b, fmt, fpu.RNE)),
                        ("div", lambda: fpu.div(a, b, fmt, fpu.RNE)),
                        ("sqrt", lambda: fpu.sqrt(a, fmt, fpu.RNE))):
        unit = fpu.Fpu()
        operands = (box | a,) if name == "sqrt" else (box | a, box | b)
        got = getattr(unit, f"{name}_{p}")(*operands, rm)
        want, flags = exact()
        assert (got, unit.flags) == (box | want, flags), name


@settings(max_examples=500, deadline=None)
@given(any_double, any_double, st.sampled_from([fpu.RNE, fpu.DYN]))
def test_fast_path_equals_exact_path(a: float, b: float, rm: int) -> None:
    assert_fast_equals_exact(fpu.D, bits(a), bits(b), rm)


def value32(b: int) -> float:
    return struct.unpack("<f", struct.pack("<I", b))[0]


any_single = st.one_of(
    st.floats(width=32),
    st.integers(0, (1 << 32) - 1).map(value32),  # any bit pattern: NaNs with payloads, subnormals
    st.sampled_from([0.0, -0.0, 2.0**-126, 2.0**-149, 3.4028234663852886e38, 1.0, 3.0,
                     1.0 + 2.0**-23, 16777216.0]),
)


@settings(max_examples=500, deadline=None)
@given(any_single, any_single, st.sampled_from([fpu.RNE, fpu.DYN]))
def test_single_fast_path_equals_exact_path(a: float, b: float, rm: int) -> None:
    """Singles computed in double and rounded once more (the fast path)."""
    assert_fast_equals_exact(fpu.S, sbits(a), sbits(b), rm)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(-(1 << 25), 1 << 25), st.integers(0, (1 << 64) - 1)),
       st.sampled_from([fpu.RNE, fpu.RTZ, fpu.RDN, fpu.RUP, fpu.RMM, fpu.DYN]),
       st.sampled_from([(32, True), (32, False), (64, True), (64, False)]), st.booleans())
def test_int_to_float_fast_path_equals_exact_path(v: int, rm: int, width: tuple[int, bool],
                                                  single: bool) -> None:
    bits_, signed = width
    unit = fpu.Fpu()
    got = unit.from_int(v & ((1 << 64) - 1), single, rm, bits_, signed)
    u = v & ((1 << bits_) - 1)
    if signed and u >> (bits_ - 1):
        u -= 1 << bits_
    want, flags = fpu.from_int(u, fpu.S if single else fpu.D, fpu.RNE if rm == fpu.DYN else rm)
    assert (got, unit.flags) == ((fpu.BOX | want) if single else want, flags)


def test_reserved_rounding_mode_faults_on_the_fast_path_too() -> None:
    unit = fpu.Fpu()
    unit.frm = 5
    with pytest.raises(Exception, match="rounding mode"):
        unit.from_int(1, True, fpu.DYN, 32, True)
    with pytest.raises(Exception, match="rounding mode"):
        unit.add_s(fpu.BOX, fpu.BOX, 6)
