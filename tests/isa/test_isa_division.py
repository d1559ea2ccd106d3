"""The M extension's division helpers against the specification's table.

The helpers take a fast path when both operands are non-negative; the
reference here is written from the RISC-V spec (truncating division, x/0 = -1,
x%0 = x, the one overflow case) without one.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ember.isa.riscv.machine import DIV, DIVUW, DIVW, REM, REMUW, REMW

MK = (1 << 64) - 1
EDGES64 = [0, 1, 2, 3, MK, MK - 1, 1 << 63, (1 << 63) - 1, (1 << 63) + 1, 0x7FFFFFFF,
           0x80000000, 0xFFFFFFFF, 0xFFFFFFFF80000000, 0x1_0000_0003]
regs = st.one_of(st.sampled_from(EDGES64), st.integers(0, MK),
                 st.integers(0, 1 << 40), st.integers(MK - (1 << 40), MK))


def signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def ref_div(a: int, b: int, bits: int) -> tuple[int, int]:
    """(quotient, remainder) of signed division of the low ``bits``, as
    register values (results of W operations sign-extended to 64 bits)."""
    sa, sb = signed(a, bits), signed(b, bits)
    if sb == 0:
        q, r = -1, sa
    elif sa == -(1 << (bits - 1)) and sb == -1:
        q, r = sa, 0
    else:
        q = abs(sa) // abs(sb) * (1 if (sa < 0) == (sb < 0) else -1)
        r = sa - q * sb
    return signed(q, bits) & MK, signed(r, bits) & MK


@given(regs, regs)
def test_signed_division_matches_the_spec(a: int, b: int) -> None:
    assert (DIV(a, b), REM(a, b)) == ref_div(a, b, 64)
    assert (DIVW(a, b), REMW(a, b)) == ref_div(a, b, 32)


@given(regs, regs)
def test_unsigned_word_division_matches_the_spec(a: int, b: int) -> None:
    ua, ub = a & 0xFFFFFFFF, b & 0xFFFFFFFF
    q, r = (0xFFFFFFFF, ua) if ub == 0 else (ua // ub, ua % ub)
    assert DIVUW(a, b) == signed(q, 32) & MK
    assert REMUW(a, b) == signed(r, 32) & MK
