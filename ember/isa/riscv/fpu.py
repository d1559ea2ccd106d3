"""IEEE 754 binary32/binary64 arithmetic on bit patterns, as RISC-V F and D define it.

Python floats only round to nearest-even and raise no flags, so every operation
here is computed *exactly* on integers (value = m * 2**e) and then rounded once
by :func:`_round` in the requested rounding mode, which also derives the
accrued-exception flags. RISC-V specifics: NaN results are always the canonical
NaN (no payload propagation), tininess is detected after rounding, and single
values live NaN-boxed in the 64-bit f registers.
"""

from __future__ import annotations

import math

# fflags bits (fcsr[4:0]).
NX, UF, OF, DZ, NV = 1, 2, 4, 8, 16
# Rounding modes (instruction rm field / frm).
RNE, RTZ, RDN, RUP, RMM, DYN = 0, 1, 2, 3, 4, 7

#: Upper half of a NaN-boxed single in a 64-bit f register.
BOX = 0xFFFFFFFF00000000

_ZERO, _SUB, _NORM, _INF, _QNAN, _SNAN = range(6)


class Fmt:
    """An IEEE binary format: exponent and fraction widths, and the derived
    constants (precomputed: they are read on every operation). A plain class:
    ``dataclasses`` is off the start-up path."""

    __slots__ = ("bias", "ebits", "emax", "emin", "mbits", "qnan", "width")

    def __init__(self, ebits: int, mbits: int) -> None:
        bias = (1 << (ebits - 1)) - 1
        self.ebits = ebits
        self.mbits = mbits
        self.width = 1 + ebits + mbits
        self.bias = bias
        self.emin = 1 - bias
        self.emax = bias
        #: RISC-V's canonical NaN: positive, quiet, zero payload.
        self.qnan = ((1 << ebits) - 1) << mbits | 1 << (mbits - 1)


S = Fmt(8, 23)
D = Fmt(11, 52)


def _unpack(bits: int, fmt: Fmt) -> tuple[int, int, int, int]:
    """(class, sign, m, e) with value = (-1)**sign * m * 2**e for finite numbers."""
    mb = fmt.mbits
    sign = bits >> (fmt.width - 1)
    exp = (bits >> mb) & ((1 << fmt.ebits) - 1)
    frac = bits & ((1 << mb) - 1)
    if exp == (1 << fmt.ebits) - 1:
        if frac == 0:
            return _INF, sign, 0, 0
        return (_QNAN if frac >> (mb - 1) else _SNAN), sign, 0, 0
    if exp == 0:
        if frac == 0:
            return _ZERO, sign, 0, 0
        return _SUB, sign, frac, fmt.emin - mb
    return _NORM, sign, frac | 1 << mb, exp - fmt.bias - mb


def _inf(sign: int, fmt: Fmt) -> int:
    return sign << (fmt.width - 1) | ((1 << fmt.ebits) - 1) << fmt.mbits


def _zero(sign: int, fmt: Fmt) -> int:
    return sign << (fmt.width - 1)


def _shift_round(m: int, s: int, sign: int, rm: int) -> tuple[int, bool]:
    """m * 2**-s rounded to an integer in mode rm; (result, inexact)."""
    if s <= 0:
        return m << -s, False
    kept = m >> s
    rem = m & ((1 << s) - 1)
    if rem == 0:
        return kept, False
    half = 1 << (s - 1)
    if rm == RNE:
        up = rem > half or (rem == half and kept & 1)
    elif rm == RTZ:
        up = False
    elif rm == RDN:
        up = bool(sign)
    elif rm == RUP:
        up = not sign
    else:  # RMM
        up = rem >= half
    return kept + (1 if up else 0), True


def _round(sign: int, m: int, e: int, fmt: Fmt, rm: int) -> tuple[int, int]:
    """Round the exact value (-1)**sign * m * 2**e (m > 0) to fmt; (bits, flags).

    Callers whose value is not exact append a sticky 1 bit below at least p+1
    significant bits, which rounds identically to the exact value.
    """
    p = fmt.mbits + 1
    lead = e + m.bit_length() - 1
    q = max(lead, fmt.emin) - (p - 1)
    kept, inexact = _shift_round(m, q - e, sign, rm)
    if kept >> p:  # rounding carried into a new bit
        kept >>= 1
        q += 1
    flags = NX if inexact else 0
    if inexact and lead < fmt.emin:
        # Tininess after rounding: would the result, rounded with an unbounded
        # exponent range, still be below the smallest normal?
        k2, _ = _shift_round(m, lead - (p - 1) - e, sign, rm)
        if lead + (1 if k2 >> p else 0) < fmt.emin:
            flags |= UF
    if kept == 0:
        return _zero(sign, fmt), flags
    top = q + kept.bit_length() - 1
    if top > fmt.emax:
        flags |= OF | NX
        to_inf = rm in (RNE, RMM) or (rm == RDN and sign) or (rm == RUP and not sign)
        if to_inf:
            return _inf(sign, fmt), flags
        return sign << (fmt.width - 1) | (_inf(0, fmt) - 1), flags
    if kept.bit_length() == p:
        biased = top + fmt.bias
        return (sign << (fmt.width - 1) | biased << fmt.mbits | (kept & ((1 << fmt.mbits) - 1))), flags
    return sign << (fmt.width - 1) | kept, flags


def _nan_flags(*classes: int) -> int:
    return NV if _SNAN in classes else 0


def _exact_sum(sa: int, ma: int, ea: int, sb: int, mb: int, eb: int) -> tuple[int, int]:
    """Signed exact sum of two finite values as (signed integer, exponent)."""
    e = min(ea, eb)
    va = (ma << (ea - e)) * (-1 if sa else 1)
    vb = (mb << (eb - e)) * (-1 if sb else 1)
    return va + vb, e


def add(a: int, b: int, fmt: Fmt, rm: int, negate_b: bool = False) -> tuple[int, int]:
    ca, sa, ma, ea = _unpack(a, fmt)
    cb, sb, mb, eb = _unpack(b, fmt)
    if negate_b:
        sb ^= 1
    if ca >= _QNAN or cb >= _QNAN:
        return fmt.qnan, _nan_flags(ca, cb)
    if ca == _INF or cb == _INF:
        if ca == _INF and cb == _INF and sa != sb:
            return fmt.qnan, NV
        return _inf(sa if ca == _INF else sb, fmt), 0
    if ca == _ZERO and cb == _ZERO:
        return _zero(sa if sa == sb else (1 if rm == RDN else 0), fmt), 0
    if ca == _ZERO:
        return sb << (fmt.width - 1) | (b & ((1 << (fmt.width - 1)) - 1)), 0
    if cb == _ZERO:
        return a, 0
    total, e = _exact_sum(sa, ma, ea, sb, mb, eb)
    if total == 0:
        return _zero(1 if rm == RDN else 0, fmt), 0
    return _round(1 if total < 0 else 0, abs(total), e, fmt, rm)


def mul(a: int, b: int, fmt: Fmt, rm: int) -> tuple[int, int]:
    ca, sa, ma, ea = _unpack(a, fmt)
    cb, sb, mb, eb = _unpack(b, fmt)
    sign = sa ^ sb
    if ca >= _QNAN or cb >= _QNAN:
        return fmt.qnan, _nan_flags(ca, cb)
    if (ca == _INF and cb == _ZERO) or (ca == _ZERO and cb == _INF):
        return fmt.qnan, NV
    if ca == _INF or cb == _INF:
        return _inf(sign, fmt), 0
    if ca == _ZERO or cb == _ZERO:
        return _zero(sign, fmt), 0
    return _round(sign, ma * mb, ea + eb, fmt, rm)


def div(a: int, b: int, fmt: Fmt, rm: int) -> tuple[int, int]:
    ca, sa, ma, ea = _unpack(a, fmt)
    cb, sb, mb, eb = _unpack(b, fmt)
    sign = sa ^ sb
    if ca >= _QNAN or cb >= _QNAN:
        return fmt.qnan, _nan_flags(ca, cb)
    if (ca == _INF and cb == _INF) or (ca == _ZERO and cb == _ZERO):
        return fmt.qnan, NV
    if ca == _INF or cb == _ZERO:
        # DZ only for a finite dividend: infinity / 0 is an exact infinity.
        return _inf(sign, fmt), (DZ if cb == _ZERO and ca != _INF else 0)
    if ca == _ZERO or cb == _INF:
        return _zero(sign, fmt), 0
    shift = max(0, fmt.mbits + 3 + mb.bit_length() - ma.bit_length())
    quo, rem = divmod(ma << shift, mb)
    return _round(sign, quo << 1 | (1 if rem else 0), ea - eb - shift - 1, fmt, rm)


def sqrt(a: int, fmt: Fmt, rm: int) -> tuple[int, int]:
    ca, sa, ma, ea = _unpack(a, fmt)
    if ca >= _QNAN:
        return fmt.qnan, _nan_flags(ca)
    if ca == _ZERO:
        return a, 0
    if sa:
        return fmt.qnan, NV
    if ca == _INF:
        return a, 0
    k = max(0, 2 * (fmt.mbits + 3) - ma.bit_length())
    if (ea - k) & 1:
        k += 1
    big = ma << k
    root = math.isqrt(big)
    sticky = 1 if root * root != big else 0
    return _round(0, root << 1 | sticky, (ea - k) // 2 - 1, fmt, rm)


def fma(a: int, b: int, c: int, fmt: Fmt, rm: int, neg_prod: bool, neg_c: bool) -> tuple[int, int]:
    """(+/-)(a*b) (+/-) c with a single rounding: fmadd/fmsub/fnmsub/fnmadd."""
    ca, sa, ma, ea = _unpack(a, fmt)
    cb, sb, mb, eb = _unpack(b, fmt)
    cc, sc, mc, ec = _unpack(c, fmt)
    sp = sa ^ sb ^ (1 if neg_prod else 0)
    if neg_c:
        sc ^= 1
    prod_invalid = (ca == _INF and cb == _ZERO) or (ca == _ZERO and cb == _INF)
    if ca >= _QNAN or cb >= _QNAN or cc >= _QNAN:
        # RISC-V raises NV for inf*0 even when the addend is a quiet NaN.
        return fmt.qnan, _nan_flags(ca, cb, cc) | (NV if prod_invalid else 0)
    if prod_invalid:
        return fmt.qnan, NV
    prod_inf = ca == _INF or cb == _INF
    if prod_inf or cc == _INF:
        if prod_inf and cc == _INF and sp != sc:
            return fmt.qnan, NV
        return _inf(sp if prod_inf else sc, fmt), 0
    prod_zero = ca == _ZERO or cb == _ZERO
    if prod_zero:
        if cc == _ZERO:
            return _zero(sp if sp == sc else (1 if rm == RDN else 0), fmt), 0
        return sc << (fmt.width - 1) | (c & ((1 << (fmt.width - 1)) - 1)), 0
    if cc == _ZERO:
        return _round(sp, ma * mb, ea + eb, fmt, rm)
    total, e = _exact_sum(sp, ma * mb, ea + eb, sc, mc, ec)
    if total == 0:
        return _zero(1 if rm == RDN else 0, fmt), 0
    return _round(1 if total < 0 else 0, abs(total), e, fmt, rm)


def _key(bits: int, fmt: Fmt) -> int:
    """An integer ordering key for non-NaN values (-0 and +0 compare equal)."""
    mag = bits & ((1 << (fmt.width - 1)) - 1)
    return -mag if bits >> (fmt.width - 1) else mag


def compare(a: int, b: int, fmt: Fmt, op: str) -> tuple[int, int]:
    """feq (quiet), flt/fle (signalling): (0 or 1, flags)."""
    ca = _unpack(a, fmt)[0]
    cb = _unpack(b, fmt)[0]
    if ca >= _QNAN or cb >= _QNAN:
        flags = NV if op != "eq" or _SNAN in (ca, cb) else 0
        return 0, flags
    ka, kb = _key(a, fmt), _key(b, fmt)
    if op == "eq":
        return int(ka == kb), 0
    if op == "lt":
        return int(ka < kb), 0
    return int(ka <= kb), 0


def minmax(a: int, b: int, fmt: Fmt, want_max: bool) -> tuple[int, int]:
    ca = _unpack(a, fmt)[0]
    cb = _unpack(b, fmt)[0]
    flags = _nan_flags(ca, cb)
    if ca >= _QNAN and cb >= _QNAN:
        return fmt.qnan, flags
    if ca >= _QNAN:
        return b, flags
    if cb >= _QNAN:
        return a, flags
    ka, kb = _key(a, fmt), _key(b, fmt)
    if ka == kb:  # equal values; only +/-0 differ in bits
        sign_bit = 1 << (fmt.width - 1)
        return ((a & b) if want_max else (a | b)) & sign_bit | (a & ~sign_bit), flags
    return (a if (ka > kb) == want_max else b), flags


def classify(a: int, fmt: Fmt) -> int:
    """The fclass bit mask."""
    cls, sign, _, _ = _unpack(a, fmt)
    if cls == _SNAN:
        return 1 << 8
    if cls == _QNAN:
        return 1 << 9
    index = {_INF: 0, _NORM: 1, _SUB: 2, _ZERO: 3}[cls]
    return 1 << (index if sign else 7 - index)


def to_int(a: int, fmt: Fmt, rm: int, bits: int, signed: bool) -> tuple[int, int]:
    """fcvt.{w,wu,l,lu}: the integer as a two's-complement value of `bits` bits."""
    cls, sign, m, e = _unpack(a, fmt)
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    if cls >= _QNAN:
        return hi, NV
    if cls == _INF:
        return (lo if sign else hi), NV
    if cls == _ZERO:
        return 0, 0
    mag, inexact = _shift_round(m, -e, sign, rm)
    value = -mag if sign else mag
    if value < lo or value > hi:
        return (lo if sign else hi), NV
    return value, (NX if inexact else 0)


def from_int(value: int, fmt: Fmt, rm: int) -> tuple[int, int]:
    """fcvt.{s,d}.{w,wu,l,lu} from an already sign- or zero-interpreted integer."""
    if value == 0:
        return 0, 0
    return _round(1 if value < 0 else 0, abs(value), 0, fmt, rm)


def convert(a: int, src: Fmt, dst: Fmt, rm: int) -> tuple[int, int]:
    """fcvt.s.d / fcvt.d.s."""
    cls, sign, m, e = _unpack(a, src)
    if cls >= _QNAN:
        return dst.qnan, _nan_flags(cls)
    if cls == _INF:
        return _inf(sign, dst), 0
    if cls == _ZERO:
        return _zero(sign, dst), 0
    return _round(sign, m, e, dst, rm)


_MIN_NORMAL = 2.0 ** -1022
_MAX_FINITE = 1.7976931348623157e308
_MIN_NORMAL_S = 2.0 ** -126
_MAX_FINITE_S = 3.4028234663852886e38
#: Integers up to these magnitudes convert exactly (24- and 53-bit significands).
_EXACT_INT_S, _EXACT_INT_D = 1 << 24, 1 << 53


def exact_quotient(r: float, a: float, b: float) -> bool:
    """Is r exactly a / b? (r*b == a in exact rational arithmetic)"""
    rn, rd = r.as_integer_ratio()
    an, ad = a.as_integer_ratio()
    bn, bd = b.as_integer_ratio()
    return rn * bn * ad == an * rd * bd


class Fpu:
    """The F/D state (fflags, frm) and the operations the instruction templates call.

    Every method takes and returns raw bit patterns; singles are unboxed on the
    way in (an improperly boxed value reads as the canonical NaN) and boxed on
    the way out.
    """

    __slots__ = ("as_f32", "as_f64", "as_u32", "as_u64", "flags", "frm")

    def __init__(self) -> None:
        self.flags = 0
        self.frm = RNE
        # One 8-byte cell seen as u64/double and u32/float: reinterpreting a
        # bit pattern is two subscripts, not struct's pack and unpack calls
        # (translated code uses the same views). Per instance, so two
        # machines on two threads never share it.
        cell = memoryview(bytearray(8))
        self.as_u64 = cell.cast("Q")
        self.as_f64 = cell.cast("d")
        self.as_u32 = cell.cast("I")
        self.as_f32 = cell.cast("f")

    def rm(self, rm: int) -> int:
        if rm == DYN:
            rm = self.frm
        if rm > RMM:
            from ember.isa.riscv.errors import GuestFault

            raise GuestFault(f"reserved floating-point rounding mode {rm}")
        return rm

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def unbox(v: int) -> int:
        return v & 0xFFFFFFFF if v >> 32 == 0xFFFFFFFF else S.qnan

    def _s(self, result: tuple[int, int]) -> int:
        bits, flags = result
        self.flags |= flags
        return BOX | bits

    def _d(self, result: tuple[int, int]) -> int:
        bits, flags = result
        self.flags |= flags
        return bits

    # -- arithmetic --------------------------------------------------------
    # Singles in round-to-nearest-even are computed in double and rounded to
    # single: for +, -, *, / and sqrt the double rounding is innocuous (53 >=
    # 2 * 24 + 2: Figueroa, "When is double rounding innocuous?", 1995), so the
    # result is the correctly rounded single. When that result is a finite
    # normal number only NX can be raised, and it is decided exactly: the
    # product of two singles is exact in double, so r * b == a tests a
    # quotient and r * r == a a square root; a sum is exact when TwoSum's
    # error term is zero and the double is a single. Everything else takes the
    # exact integer path.
    def _rne(self, rm: int) -> bool:
        return rm == RNE or (rm == DYN and self.frm == RNE)

    def add_s(self, a: int, b: int, rm: int, negate_b: bool = False) -> int:
        if self._rne(rm):
            i, f = self.as_u32, self.as_f32
            i[0] = self.unbox(a)
            fa = f[0]
            i[0] = self.unbox(b)
            fb = -f[0] if negate_b else f[0]
            r = fa + fb
            if _MIN_NORMAL_S <= abs(r) <= _MAX_FINITE_S:
                f[0] = r  # rounded to single (C's conversion: RNE)
                t = r - fa
                if f[0] != r or (fa - (r - t)) + (fb - t) != 0.0:
                    self.flags |= NX
                return BOX | i[0]
        return self._s(add(self.unbox(a), self.unbox(b), S, self.rm(rm), negate_b))

    def sub_s(self, a: int, b: int, rm: int) -> int:
        return self.add_s(a, b, rm, True)

    def mul_s(self, a: int, b: int, rm: int) -> int:
        if self._rne(rm):
            i, f = self.as_u32, self.as_f32
            i[0] = self.unbox(a)
            fa = f[0]
            i[0] = self.unbox(b)
            r = fa * f[0]  # exact in double
            if _MIN_NORMAL_S <= abs(r) <= _MAX_FINITE_S:
                f[0] = r
                if f[0] != r:
                    self.flags |= NX
                return BOX | i[0]
        return self._s(mul(self.unbox(a), self.unbox(b), S, self.rm(rm)))

    def div_s(self, a: int, b: int, rm: int) -> int:
        if self._rne(rm):
            i, f = self.as_u32, self.as_f32
            i[0] = self.unbox(a)
            fa = f[0]
            i[0] = self.unbox(b)
            fb = f[0]
            if fb != 0.0 and not math.isinf(fb) and not math.isnan(fb):
                r = fa / fb
                if _MIN_NORMAL_S <= abs(r) <= _MAX_FINITE_S:
                    f[0] = r
                    if f[0] * fb != fa:
                        self.flags |= NX
                    return BOX | i[0]
        return self._s(div(self.unbox(a), self.unbox(b), S, self.rm(rm)))

    def sqrt_s(self, a: int, rm: int) -> int:
        if self._rne(rm):
            i, f = self.as_u32, self.as_f32
            i[0] = self.unbox(a)
            fa = f[0]
            if _MIN_NORMAL_S <= fa <= _MAX_FINITE_S:
                f[0] = math.sqrt(fa)
                if f[0] * f[0] != fa:
                    self.flags |= NX
                return BOX | i[0]
        return self._s(sqrt(self.unbox(a), S, self.rm(rm)))

    def fma_s(self, a: int, b: int, c: int, rm: int, np: bool, nc: bool) -> int:
        u = self.unbox
        return self._s(fma(u(a), u(b), u(c), S, self.rm(rm), np, nc))

    # Doubles in round-to-nearest-even (what C code runs in) take a fast path
    # through the host's IEEE arithmetic, which rounds identically, when the
    # result is a finite normal number: then only NX can be raised, and it is
    # decided exactly (TwoSum's error term, or integer cross-multiplication).
    # Everything else (NaNs, infinities, overflow, tiny results, directed
    # modes) goes through the exact integer path.
    def add_d(self, a: int, b: int, rm: int, negate_b: bool = False) -> int:
        if rm == RNE or (rm == DYN and self.frm == RNE):
            q, d = self.as_u64, self.as_f64
            q[0] = a
            fa = d[0]
            q[0] = b
            fb = -d[0] if negate_b else d[0]
            r = fa + fb
            if _MIN_NORMAL <= abs(r) <= _MAX_FINITE:
                s = r - fa
                if (fa - (r - s)) + (fb - s) != 0.0:
                    self.flags |= NX
                d[0] = r
                return q[0]
        if negate_b:
            return self._d(add(a, b, D, self.rm(rm), True))
        return self._d(add(a, b, D, self.rm(rm)))

    def sub_d(self, a: int, b: int, rm: int) -> int:
        return self.add_d(a, b, rm, True)

    def mul_d(self, a: int, b: int, rm: int) -> int:
        if rm == RNE or (rm == DYN and self.frm == RNE):
            q, d = self.as_u64, self.as_f64
            q[0] = a
            fa = d[0]
            q[0] = b
            fb = d[0]
            r = fa * fb
            if _MIN_NORMAL <= abs(r) <= _MAX_FINITE and not math.isinf(fa) and not math.isinf(fb):
                if not exact_quotient(fa, r, fb):  # fa * fb == r  <=>  fa == r / fb
                    self.flags |= NX
                d[0] = r
                return q[0]
        return self._d(mul(a, b, D, self.rm(rm)))

    def div_d(self, a: int, b: int, rm: int) -> int:
        if rm == RNE or (rm == DYN and self.frm == RNE):
            q, d = self.as_u64, self.as_f64
            q[0] = a
            fa = d[0]
            q[0] = b
            fb = d[0]
            if fb != 0.0 and not math.isinf(fb):
                r = fa / fb
                if _MIN_NORMAL <= abs(r) <= _MAX_FINITE:
                    if not exact_quotient(r, fa, fb):
                        self.flags |= NX
                    d[0] = r
                    return q[0]
        return self._d(div(a, b, D, self.rm(rm)))

    def sqrt_d(self, a: int, rm: int) -> int:
        if rm == RNE or (rm == DYN and self.frm == RNE):
            q, d = self.as_u64, self.as_f64
            q[0] = a
            fa = d[0]
            if _MIN_NORMAL <= fa <= _MAX_FINITE:
                r = math.sqrt(fa)
                if not exact_quotient(r, fa, r):  # r * r == fa
                    self.flags |= NX
                d[0] = r
                return q[0]
        return self._d(sqrt(a, D, self.rm(rm)))

    def fma_d(self, a: int, b: int, c: int, rm: int, np: bool, nc: bool) -> int:
        return self._d(fma(a, b, c, D, self.rm(rm), np, nc))

    # -- sign injection, min/max, compare, classify ------------------------
    def sgnj_s(self, a: int, b: int, mode: int) -> int:
        a, b = self.unbox(a), self.unbox(b)
        sign = b >> 31 if mode == 0 else (b >> 31) ^ 1 if mode == 1 else (a ^ b) >> 31
        return BOX | sign << 31 | (a & 0x7FFFFFFF)

    @staticmethod
    def sgnj_d(a: int, b: int, mode: int) -> int:
        sign = b >> 63 if mode == 0 else (b >> 63) ^ 1 if mode == 1 else (a ^ b) >> 63
        return sign << 63 | (a & 0x7FFFFFFFFFFFFFFF)

    def minmax_s(self, a: int, b: int, want_max: bool) -> int:
        return self._s(minmax(self.unbox(a), self.unbox(b), S, want_max))

    def minmax_d(self, a: int, b: int, want_max: bool) -> int:
        return self._d(minmax(a, b, D, want_max))

    def cmp_s(self, a: int, b: int, op: str) -> int:
        return self._d(compare(self.unbox(a), self.unbox(b), S, op))

    def cmp_d(self, a: int, b: int, op: str) -> int:
        return self._d(compare(a, b, D, op))

    def class_s(self, a: int) -> int:
        return classify(self.unbox(a), S)

    @staticmethod
    def class_d(a: int) -> int:
        return classify(a, D)

    # -- conversions ---------------------------------------------------------
    def to_int(self, a: int, single: bool, rm: int, bits: int, signed: bool) -> int:
        """fcvt to integer; the result is sign-extended to 64 bits as RISC-V requires."""
        src = self.unbox(a) if single else a
        value, flags = to_int(src, S if single else D, self.rm(rm), bits, signed)
        self.flags |= flags
        value &= (1 << bits) - 1
        if bits == 32 and value >> 31:
            value |= 0xFFFFFFFF00000000
        return value

    def from_int(self, v: int, single: bool, rm: int, bits: int, signed: bool) -> int:
        v &= (1 << bits) - 1
        if signed and v >> (bits - 1):
            v -= 1 << bits
        if single:
            if -_EXACT_INT_S <= v <= _EXACT_INT_S and (self.frm if rm == DYN else rm) <= RMM:
                self.as_f32[0] = v  # exact: no rounding, no flags
                return BOX | self.as_u32[0]
            return self._s(from_int(v, S, self.rm(rm)))
        if -_EXACT_INT_D <= v <= _EXACT_INT_D and (self.frm if rm == DYN else rm) <= RMM:
            self.as_f64[0] = v
            return self.as_u64[0]
        return self._d(from_int(v, D, self.rm(rm)))

    def s_to_d(self, a: int, rm: int) -> int:
        return self._d(convert(self.unbox(a), S, D, self.rm(rm)))

    def d_to_s(self, a: int, rm: int) -> int:
        return self._s(convert(a, D, S, self.rm(rm)))
