"""The meaning of every RV64GC operation, written once as Python source templates.

Both engines are generated from this table, so they share one semantics:

* the interpreter compiles each template into one handler function whose
  operands are arguments (``x[rd] = (x[rs1] + imm) & MK``);
* the translator pastes templates into the Python source of a whole basic
  block with operands as constants and registers as locals
  (``r10 = (r11 + 16) & 0xFFFFFFFFFFFFFFFF``), which CPython constant-folds.

Tokens: ``RD R1 R2`` integer registers, ``FD F1 F2 F3`` float registers (raw
64-bit patterns), ``IMM``, ``EX`` (extra field), ``RM`` (rounding mode),
``PC``, ``NPC`` (pc of the next instruction). Integer registers hold unsigned
64-bit Python ints; signed views are computed where an operation needs them.
"""

from __future__ import annotations

from collections import namedtuple

MK = "0xFFFFFFFFFFFFFFFF"
SB = "0x8000000000000000"


def _sx(e: str) -> str:
    """Signed view of a 64-bit register value."""
    return f"(({e} ^ {SB}) - {SB})"


def _sx32(e: str) -> str:
    """Signed view of the low 32 bits."""
    return f"((({e}) & 0xFFFFFFFF ^ 0x80000000) - 0x80000000)"


def _w(e: str) -> str:
    """Low 32 bits of e, sign-extended to a 64-bit register value (one expression;
    the operations use the cheaper two-statement form of :func:`_walu`)."""
    return f"(((({e}) & 0xFFFFFFFF) ^ 0x80000000) + 0xFFFFFFFF80000000 & {MK})"


def _lt(a: str, b: str) -> str:
    """Signed a < b of two register values. Same halves: unsigned order; else the
    one with the sign bit is smaller. Only comparisons: CPython's big-int xor and
    subtraction allocate, comparisons do not (about half the cost)."""
    return f"(({a} < {b}) if ({a} < {SB}) == ({b} < {SB}) else {a} >= {SB})"


ADDR = f"(R1 + IMM) & {MK}"


TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import NamedTuple

    class Op(NamedTuple):
        body: tuple[str, ...] = ()
        term: str | None = None
        cond: str = ""
        pure: bool = False
else:
    #: One operation: statements (using the tokens) and how control leaves it.
    #: term: None (falls through), "branch" (``cond`` is the taken condition),
    #: "jal", "jalr", "ecall", "ebreak", "fence.i", "illegal".
    #: pure: writes only RD, so it can be dropped when RD is x0.
    Op = namedtuple("Op", "body term cond pure", defaults=((), None, "", False))


def _alu(expr: str) -> Op:
    return Op((f"RD = {expr}",), pure=True)


def _walu(expr: str) -> Op:
    """A W operation: the low 32 bits of expr, sign-extended (a compare and an
    add instead of xor, add and mask)."""
    return Op((f"v = ({expr}) & 0xFFFFFFFF", "RD = v if v < 0x80000000 else v + 0xFFFFFFFF00000000"),
              pure=True)


def _sload(expr: str) -> Op:
    """A sign-extending load: a negative value becomes its 64-bit pattern."""
    return Op((f"v = {expr}", "RD = v if v >= 0 else v + 0x10000000000000000"))


def _load(expr: str) -> Op:
    return Op((f"RD = {expr}",))


def _store(stmt: str) -> Op:
    # A store into a page holding translated code invalidates it; CLO/CHI
    # bound all such pages so ordinary stores pay one comparison.
    # Code usually sits below the data, heap and stack: test the upper bound first.
    return Op((f"a = {ADDR}", stmt, "if a < CHI and CLO <= a: SMC(a)"))


OPS: dict[str, Op] = {
    "lui": _alu(f"IMM & {MK}"),
    "auipc": _alu(f"(PC + IMM) & {MK}"),
    "addi": _alu(f"(R1 + IMM) & {MK}"),
    "slti": _alu(f"1 if {_sx('R1')} < IMM else 0"),
    "sltiu": _alu(f"1 if R1 < (IMM & {MK}) else 0"),
    "xori": _alu(f"R1 ^ (IMM & {MK})"),
    "ori": _alu(f"R1 | (IMM & {MK})"),
    "andi": _alu(f"R1 & (IMM & {MK})"),
    "slli": _alu(f"(R1 << IMM) & {MK}"),
    "srli": _alu("R1 >> IMM"),
    "srai": _alu(f"R1 >> IMM if R1 < {SB} else (R1 >> IMM) | ({MK} ^ ({MK} >> IMM))"),
    "add": _alu(f"(R1 + R2) & {MK}"),
    "sub": _alu(f"(R1 - R2) & {MK}"),
    "sll": _alu(f"(R1 << (R2 & 63)) & {MK}"),
    "slt": _alu(f"1 if {_lt('R1', 'R2')} else 0"),
    "sltu": _alu("1 if R1 < R2 else 0"),
    "xor": _alu("R1 ^ R2"),
    "srl": _alu("R1 >> (R2 & 63)"),
    "sra": Op(("v = R2 & 63", f"RD = R1 >> v if R1 < {SB} else (R1 >> v) | ({MK} ^ ({MK} >> v))"),
              pure=True),
    "or": _alu("R1 | R2"),
    "and": _alu("R1 & R2"),
    "addiw": _walu("R1 + IMM"),
    "slliw": _walu("R1 << IMM"),
    "srliw": _walu("(R1 & 0xFFFFFFFF) >> IMM"),
    "sraiw": _walu(f"{_sx32('R1')} >> IMM"),
    "addw": _walu("R1 + R2"),
    "subw": _walu("R1 - R2"),
    "sllw": _walu("R1 << (R2 & 31)"),
    "srlw": _walu("(R1 & 0xFFFFFFFF) >> (R2 & 31)"),
    "sraw": _walu(f"{_sx32('R1')} >> (R2 & 31)"),
    # M
    "mul": _alu(f"(R1 * R2) & {MK}"),
    "mulh": _alu(f"(({_sx('R1')} * {_sx('R2')}) >> 64) & {MK}"),
    "mulhsu": _alu(f"(({_sx('R1')} * R2) >> 64) & {MK}"),
    "mulhu": _alu("(R1 * R2) >> 64"),
    "div": _alu("DIV(R1, R2)"),
    "divu": _alu(f"R1 // R2 if R2 else {MK}"),
    "rem": _alu("REM(R1, R2)"),
    "remu": _alu("R1 % R2 if R2 else R1"),
    "mulw": _walu("R1 * R2"),
    "divw": _alu("DIVW(R1, R2)"),
    "divuw": _alu("DIVUW(R1, R2)"),
    "remw": _alu("REMW(R1, R2)"),
    "remuw": _alu("REMUW(R1, R2)"),
    # loads and stores
    "lb": _sload(f"LB(mem, {ADDR})[0]"),
    "lh": _sload(f"LH(mem, {ADDR})[0]"),
    "lw": _sload(f"LW(mem, {ADDR})[0]"),
    "ld": _load(f"LD(mem, {ADDR})[0]"),
    "lbu": _load(f"mem[{ADDR}]"),
    "lhu": _load(f"LHU(mem, {ADDR})[0]"),
    "lwu": _load(f"LWU(mem, {ADDR})[0]"),
    "sb": _store("mem[a] = R2 & 0xFF"),
    "sh": _store("SH(mem, a, R2 & 0xFFFF)"),
    "sw": _store("SW(mem, a, R2 & 0xFFFFFFFF)"),
    "sd": _store("SD(mem, a, R2)"),
    # control transfer
    "beq": Op(term="branch", cond="R1 == R2"),
    "bne": Op(term="branch", cond="R1 != R2"),
    "blt": Op(term="branch", cond=_lt("R1", "R2")),
    "bge": Op(term="branch", cond=f"not {_lt('R1', 'R2')}"),
    "bltu": Op(term="branch", cond="R1 < R2"),
    "bgeu": Op(term="branch", cond="R1 >= R2"),
    "jal": Op(term="jal"),
    "jalr": Op(term="jalr"),
    # system
    "fence": Op(pure=True),
    "fence.i": Op(term="fence.i"),
    "ecall": Op(term="ecall"),
    "ebreak": Op(term="ebreak"),
    "illegal": Op(term="illegal"),
    "csrrw": _load("CSR(IMM, 0, R1, True)"),
    "csrrs": _load("CSR(IMM, 1, R1, EX != 0)"),
    "csrrc": _load("CSR(IMM, 2, R1, EX != 0)"),
    "csrrwi": _load("CSR(IMM, 0, EX, True)"),
    "csrrsi": _load("CSR(IMM, 1, EX, EX != 0)"),
    "csrrci": _load("CSR(IMM, 2, EX, EX != 0)"),
    # F and D
    "flw": Op((f"FD = 0xFFFFFFFF00000000 | LWU(mem, {ADDR})[0]",)),
    "fld": Op((f"FD = LD(mem, {ADDR})[0]",)),
    "fsw": _store("SW(mem, a, F2 & 0xFFFFFFFF)"),
    "fsd": _store("SD(mem, a, F2)"),
    "fmv.x.w": _load(_w("F1")),
    "fmv.x.d": _load("F1"),
    "fmv.w.x": Op(("FD = 0xFFFFFFFF00000000 | (R1 & 0xFFFFFFFF)",)),
    "fmv.d.x": Op(("FD = R1",)),
    "fsgnj.d": Op(("FD = (F1 & 0x7FFFFFFFFFFFFFFF) | (F2 & 0x8000000000000000)",)),
    "fsgnjn.d": Op(("FD = (F1 & 0x7FFFFFFFFFFFFFFF) | (~F2 & 0x8000000000000000)",)),
    "fsgnjx.d": Op(("FD = F1 ^ (F2 & 0x8000000000000000)",)),
    "fcvt.s.d": Op(("FD = FPU.d_to_s(F1, RM)",)),
    "fcvt.d.s": Op(("FD = FPU.s_to_d(F1, RM)",)),
}

for _p in ("s", "d"):
    for _name, _meth in (("fadd", "add"), ("fsub", "sub"), ("fmul", "mul"), ("fdiv", "div")):
        OPS[f"{_name}.{_p}"] = Op((f"FD = FPU.{_meth}_{_p}(F1, F2, RM)",))
    OPS[f"fsqrt.{_p}"] = Op((f"FD = FPU.sqrt_{_p}(F1, RM)",))
    for _name, _np, _nc in (("fmadd", 0, 0), ("fmsub", 0, 1), ("fnmsub", 1, 0), ("fnmadd", 1, 1)):
        OPS[f"{_name}.{_p}"] = Op((f"FD = FPU.fma_{_p}(F1, F2, F3, RM, {bool(_np)}, {bool(_nc)})",))
    OPS[f"fmin.{_p}"] = Op((f"FD = FPU.minmax_{_p}(F1, F2, False)",))
    OPS[f"fmax.{_p}"] = Op((f"FD = FPU.minmax_{_p}(F1, F2, True)",))
    for _cmp in ("eq", "lt", "le"):
        OPS[f"f{_cmp}.{_p}"] = _load(f"FPU.cmp_{_p}(F1, F2, '{_cmp}')")
    OPS[f"fclass.{_p}"] = _load(f"FPU.class_{_p}(F1)")
    for _it, _bits, _signed in (("w", 32, True), ("wu", 32, False), ("l", 64, True), ("lu", 64, False)):
        _single = _p == "s"
        OPS[f"fcvt.{_it}.{_p}"] = _load(f"FPU.to_int(F1, {_single}, RM, {_bits}, {_signed})")
        OPS[f"fcvt.{_p}.{_it}"] = Op((f"FD = FPU.from_int(R1, {_single}, RM, {_bits}, {_signed})",))
for _mode, _name in enumerate(("fsgnj", "fsgnjn", "fsgnjx")):
    OPS[f"{_name}.s"] = Op((f"FD = FPU.sgnj_s(F1, F2, {_mode})",))

# A: lr/sc and the AMOs go through the machine (alignment traps, reservations).
for _w_sfx, _size in (("w", 4), ("d", 8)):
    OPS[f"lr.{_w_sfx}"] = _load(f"LR(R1, {_size})")
    OPS[f"sc.{_w_sfx}"] = _load(f"SC(R1, R2, {_size})")
    for _amo in ("add", "swap", "xor", "or", "and", "min", "max", "minu", "maxu"):
        OPS[f"amo{_amo}.{_w_sfx}"] = _load(f"AMO('{_amo}', R1, R2, {_size})")


def uses(op: Op) -> str:
    """All template text of an operation (to see which tokens it mentions)."""
    return "\n".join(op.body) + "\n" + op.cond
