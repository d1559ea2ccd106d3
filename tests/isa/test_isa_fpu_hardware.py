"""The soft-float core against the host's own IEEE hardware, flags included.

glibc's fma()/fmaf() (x86-64's FMA3 instruction, or glibc's exact software
fallback) in each of the four directed and nearest modes, with the
exception flags read back through fenv: an independent reference for fused
multiply-add, and through fma(a, 1, b) and fma(a, b, -0) for addition and
multiplication with one rounding. x86 detects tininess after rounding, as
RISC-V does, so UF must agree too. NaN operands are left out (RISC-V returns
the canonical NaN where x86 propagates payloads, and the two differ on
inf x 0 + qNaN by design); a NaN result is compared by its flags.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import platform
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.isa.riscv import fpu

if platform.machine() != "x86_64" or not ctypes.util.find_library("m"):
    pytest.skip("needs x86-64 glibc's libm as the reference", allow_module_level=True)

LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
LIBM.fma.restype = ctypes.c_double
LIBM.fma.argtypes = [ctypes.c_double] * 3
LIBM.fmaf.restype = ctypes.c_float
LIBM.fmaf.argtypes = [ctypes.c_float] * 3
#: x86 <fenv.h>: exception bits and rounding-control values.
FE_INVALID, FE_DIVBYZERO, FE_OVERFLOW, FE_UNDERFLOW, FE_INEXACT = 1, 4, 8, 16, 32
FE_ALL = 63
FE_MODE = {fpu.RNE: 0x000, fpu.RDN: 0x400, fpu.RUP: 0x800, fpu.RTZ: 0xC00}
TO_RISCV = ((FE_INEXACT, fpu.NX), (FE_UNDERFLOW, fpu.UF), (FE_OVERFLOW, fpu.OF),
            (FE_DIVBYZERO, fpu.DZ), (FE_INVALID, fpu.NV))


def hardware_fma(a: float, b: float, c: float, rm: int, single: bool) -> tuple[float, int]:
    LIBM.fesetround(FE_MODE[rm])
    LIBM.feclearexcept(FE_ALL)
    try:
        r = (LIBM.fmaf if single else LIBM.fma)(a, b, c)
        raised = LIBM.fetestexcept(FE_ALL)
    finally:
        LIBM.fesetround(0)
    return r, sum(rv for fe, rv in TO_RISCV if raised & fe)


def d_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def s_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def near(bound: float, width: int) -> st.SearchStrategy[float]:
    """Values whose products and sums land around bound (the smallest normal)."""
    root = math.sqrt(bound)
    return st.one_of(st.floats(width=width, allow_nan=False),
                     st.floats(root / 4, root * 4, width=width).flatmap(lambda v: st.sampled_from([v, -v])),
                     st.floats(-bound * 2, bound * 2, width=width))


modes = st.sampled_from(sorted(FE_MODE))


def check(a: float, b: float, c: float, rm: int, single: bool) -> None:
    want, flags = hardware_fma(a, b, c, rm, single)
    fmt, to_bits = (fpu.S, s_bits) if single else (fpu.D, d_bits)
    got, got_flags = fpu.fma(to_bits(a), to_bits(b), to_bits(c), fmt, rm, False, False)
    assert got_flags == flags, (a.hex(), b.hex(), c.hex(), rm)
    if math.isnan(want):
        assert got == fmt.qnan
    else:
        assert got == to_bits(want), (a.hex(), b.hex(), c.hex(), rm)


@settings(max_examples=600, deadline=None)
@given(near(2.0 ** -1022, 64), near(2.0 ** -1022, 64), near(2.0 ** -1022, 64), modes)
def test_double_fma_matches_the_hardware(a: float, b: float, c: float, rm: int) -> None:
    check(a, b, c, rm, single=False)


@settings(max_examples=600, deadline=None)
@given(near(2.0 ** -126, 32), near(2.0 ** -126, 32), near(2.0 ** -126, 32), modes)
def test_single_fma_matches_the_hardware(a: float, b: float, c: float, rm: int) -> None:
    check(a, b, c, rm, single=True)


@settings(max_examples=400, deadline=None)
@given(st.data(), modes, st.booleans())
def test_sum_and_product_match_the_hardware(data: st.DataObject, rm: int, single: bool) -> None:
    """fma(a, 1, b) is a + b and fma(a, b, z) is a x b, each rounded once (z is the
    zero that leaves a zero product's sign alone: -0, but +0 when rounding down)."""
    values = near(2.0 ** -126, 32) if single else near(2.0 ** -1022, 64)
    a, b = data.draw(values), data.draw(values)
    fmt, to_bits = (fpu.S, s_bits) if single else (fpu.D, d_bits)
    zero = 0.0 if rm == fpu.RDN else -0.0
    for op, args in ((fpu.add, (a, 1.0, b)), (fpu.mul, (a, b, zero))):
        want, flags = hardware_fma(*args, rm, single)
        got, got_flags = op(to_bits(a), to_bits(b), fmt, rm)
        assert got_flags == flags, (op.__name__, a.hex(), b.hex(), rm)
        assert got == (fmt.qnan if math.isnan(want) else to_bits(want)), (op.__name__, a.hex(), b.hex(), rm)
