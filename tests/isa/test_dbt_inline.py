"""The translator's inline code for operations that otherwise call a helper
(FP arithmetic and int-to-float conversions in RNE, division, AMOs) against
those helpers, on arbitrary operands.

Each case pastes the lines `dbt._special` generates into a function over the
same names translated code sees (f, x, FPU and its scratch cell views, ...)
and compares the register it writes and the accrued flags with what the
helper gives on the same state.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from ember.isa.riscv import GuestFault, dbt, fpu
from ember.isa.riscv.decode import Instr
from ember.isa.riscv.machine import DIV, DIVW, REM, REMW

M64 = (1 << 64) - 1


def _run(lines: list[str], f: list[int], x: list[int], unit: fpu.Fpu) -> None:
    g = {"f": f, "x": x, "FPU": unit, "CQ": unit.as_u64, "CD": unit.as_f64, "CI": unit.as_u32,
         "CF": unit.as_f32, "EXQ": fpu.exact_quotient, "NAN": float("nan"),
         "DIV": DIV, "REM": REM, "DIVW": DIVW, "REMW": REMW}
    src = "def op():\n" + "".join(f"    {line}\n" for line in lines)
    exec(src, g)  # noqa: S102 - the generated code under test
    g["op"]()


def _bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def _sbits(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0]


ordinary = st.floats(min_value=1e-6, max_value=1e6).flatmap(
    lambda v: st.sampled_from([v, -v]))  # results mostly normal: the inline path itself
doubles = st.one_of(st.integers(0, M64), st.floats(width=64).map(_bits), ordinary.map(_bits),
                    st.sampled_from([0, 1 << 63, _bits(1.0), _bits(3.0), _bits(0.1),
                                     _bits(2.0 ** -1022), _bits(1.7976931348623157e308)]))
singles = st.one_of(
    st.integers(0, (1 << 32) - 1).map(lambda b: fpu.BOX | b),
    st.floats(width=32).map(lambda v: fpu.BOX | _sbits(v)),
    ordinary.map(lambda v: fpu.BOX | _sbits(v)),
    ordinary.map(lambda v: fpu.BOX | _sbits(v)),
    st.integers(0, M64),  # mostly badly boxed: the canonical NaN
    st.sampled_from([fpu.BOX | _sbits(1.0), fpu.BOX | _sbits(3.0), fpu.BOX | _sbits(2.0 ** -126)]))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(dbt._FP_ARITH)), st.data(), st.sampled_from([0, 7]),
       st.sampled_from([0, 0, 1, 2, 3]))
def test_inline_fp_arithmetic_equals_the_fpu(kind: str, data: st.DataObject, rm: int,
                                             frm: int) -> None:
    operand = singles if kind.endswith(".s") else doubles
    a, b = data.draw(operand), data.draw(operand)
    ins = Instr(kind, rd=3, rs1=1, rs2=2, ex=rm)
    lines = dbt._special(kind, ins, "x[1]", "x[2]", "x[3]")
    assert lines is not None
    f = [0] * 32
    f[1], f[2] = a, b
    unit, ref = fpu.Fpu(), fpu.Fpu()
    unit.frm = ref.frm = frm
    _run(lines, f, [0] * 33, unit)
    want = getattr(ref, dbt._FP_ARITH[kind][1])(a, b, rm)
    assert (f[3], unit.flags) == (want, ref.flags)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(dbt._FP_FROM_INT)),
       st.one_of(st.integers(0, M64), st.integers(-(1 << 25), 1 << 25).map(lambda v: v & M64),
                 st.integers(-(1 << 54), 1 << 54).map(lambda v: v & M64)),
       st.sampled_from([0, 1, 2, 3, 4, 7]), st.sampled_from([0, 1, 2, 3, 4, 5]))
def test_inline_int_to_float_equals_the_fpu(kind: str, v: int, rm: int, frm: int) -> None:
    single, bits, signed = dbt._FP_FROM_INT[kind]
    ins = Instr(kind, rd=3, rs1=1, ex=rm)
    lines = dbt._special(kind, ins, "x[1]", "x[2]", "x[3]")
    assert lines is not None
    f, x = [0] * 32, [0] * 33
    x[1] = v
    unit, ref = fpu.Fpu(), fpu.Fpu()
    unit.frm = ref.frm = frm
    try:
        want: object = (ref.from_int(v, single, rm, bits, signed), ref.flags)
    except GuestFault as exc:  # a reserved dynamic rounding mode
        want = str(exc)
    try:
        _run(lines, f, x, unit)
        got: object = (f[3], unit.flags)
    except GuestFault as exc:
        got = str(exc)
    assert got == want


regs = st.one_of(st.integers(0, M64), st.integers(0, 1 << 40), st.sampled_from([0, 1, M64, 1 << 63]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(dbt._DIVIDE)), regs, regs)
def test_inline_division_equals_the_helpers(kind: str, a: int, b: int) -> None:
    ins = Instr(kind, rd=3, rs1=1, rs2=2)
    lines = dbt._special(kind, ins, "x[1]", "x[2]", "x[3]")
    assert lines is not None
    x = [0] * 33
    x[1], x[2] = a, b
    _run(lines, [0] * 32, x, fpu.Fpu())
    helper = {"div": DIV, "rem": REM, "divw": DIVW, "remw": REMW}[kind]
    assert x[3] == helper(a, b)
