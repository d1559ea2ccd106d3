"""Decoding RV64GC instruction words into :class:`Instr` records.

Compressed (C) instructions are expanded here into the base instruction they
stand for, so the engines only know one semantics per operation; the record
keeps the length (2 or 4) for the next pc. Anything not decodable becomes the
kind ``illegal``, which traps only if it is executed (code after a call to
``abort`` is often padding).
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import NamedTuple

    class Instr(NamedTuple):
        kind: str
        rd: int = 0
        rs1: int = 0
        rs2: int = 0
        imm: int = 0
        ex: int = 0
        length: int = 4
        bits: int = 0
else:
    #: One decoded instruction. ``ex`` holds the extra field an operation needs:
    #: the rounding mode and rs3 (rm | rs3 << 3) for FP, the zimm of CSR-immediate
    #: forms, the aq/rl-free AMO width, and so on.
    Instr = namedtuple("Instr", "kind rd rs1 rs2 imm ex length bits", defaults=(0, 0, 0, 0, 0, 4, 0))


def _sext(value: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (value & (sign - 1)) - (value & sign)


_BRANCH = {0: "beq", 1: "bne", 4: "blt", 5: "bge", 6: "bltu", 7: "bgeu"}
_LOAD = {0: "lb", 1: "lh", 2: "lw", 3: "ld", 4: "lbu", 5: "lhu", 6: "lwu"}
_STORE = {0: "sb", 1: "sh", 2: "sw", 3: "sd"}
_OPIMM = {0: "addi", 2: "slti", 3: "sltiu", 4: "xori", 6: "ori", 7: "andi"}
_OP = {
    (0, 0): "add", (0x20, 0): "sub", (0, 1): "sll", (0, 2): "slt", (0, 3): "sltu",
    (0, 4): "xor", (0, 5): "srl", (0x20, 5): "sra", (0, 6): "or", (0, 7): "and",
    (1, 0): "mul", (1, 1): "mulh", (1, 2): "mulhsu", (1, 3): "mulhu",
    (1, 4): "div", (1, 5): "divu", (1, 6): "rem", (1, 7): "remu",
}
_OP32 = {
    (0, 0): "addw", (0x20, 0): "subw", (0, 1): "sllw", (0, 5): "srlw", (0x20, 5): "sraw",
    (1, 0): "mulw", (1, 4): "divw", (1, 5): "divuw", (1, 6): "remw", (1, 7): "remuw",
}
_AMO = {
    0x00: "amoadd", 0x01: "amoswap", 0x02: "lr", 0x03: "sc", 0x04: "amoxor",
    0x08: "amoor", 0x0C: "amoand", 0x10: "amomin", 0x14: "amomax",
    0x18: "amominu", 0x1C: "amomaxu",
}
_CSR = {1: "csrrw", 2: "csrrs", 3: "csrrc", 5: "csrrwi", 6: "csrrsi", 7: "csrrci"}
_FMA = {0x43: "fmadd", 0x47: "fmsub", 0x4B: "fnmsub", 0x4F: "fnmadd"}
_FARITH = {0x00: "fadd", 0x04: "fsub", 0x08: "fmul", 0x0C: "fdiv"}


def decode32(w: int) -> Instr:
    """Decode a 32-bit instruction word."""
    op = w & 0x7F
    rd = (w >> 7) & 31
    f3 = (w >> 12) & 7
    rs1 = (w >> 15) & 31
    rs2 = (w >> 20) & 31
    f7 = w >> 25
    imm_i = _sext(w >> 20, 12)
    bad = Instr("illegal", bits=w)
    if op == 0x37:
        return Instr("lui", rd, imm=_sext(w & 0xFFFFF000, 32), bits=w)
    if op == 0x17:
        return Instr("auipc", rd, imm=_sext(w & 0xFFFFF000, 32), bits=w)
    if op == 0x6F:
        imm = ((w >> 31) << 20 | ((w >> 12) & 0xFF) << 12 | ((w >> 20) & 1) << 11
               | ((w >> 21) & 0x3FF) << 1)
        return Instr("jal", rd, imm=_sext(imm, 21), bits=w)
    if op == 0x67:
        return Instr("jalr", rd, rs1, imm=imm_i, bits=w) if f3 == 0 else bad
    if op == 0x63:
        if f3 not in _BRANCH:
            return bad
        imm = ((w >> 31) << 12 | ((w >> 7) & 1) << 11 | ((w >> 25) & 0x3F) << 5
               | ((w >> 8) & 0xF) << 1)
        return Instr(_BRANCH[f3], 0, rs1, rs2, _sext(imm, 13), bits=w)
    if op == 0x03:
        return Instr(_LOAD[f3], rd, rs1, imm=imm_i, bits=w) if f3 in _LOAD else bad
    if op == 0x23:
        if f3 not in _STORE:
            return bad
        imm = _sext((f7 << 5) | rd, 12)
        return Instr(_STORE[f3], 0, rs1, rs2, imm, bits=w)
    if op == 0x13:
        if f3 in _OPIMM:
            return Instr(_OPIMM[f3], rd, rs1, imm=imm_i, bits=w)
        shamt = (w >> 20) & 63
        top = w >> 26
        if f3 == 1 and top == 0:
            return Instr("slli", rd, rs1, imm=shamt, bits=w)
        if f3 == 5 and top == 0:
            return Instr("srli", rd, rs1, imm=shamt, bits=w)
        if f3 == 5 and top == 0x10:
            return Instr("srai", rd, rs1, imm=shamt, bits=w)
        return bad
    if op == 0x1B:
        if f3 == 0:
            return Instr("addiw", rd, rs1, imm=imm_i, bits=w)
        shamt = rs2
        if f3 == 1 and f7 == 0:
            return Instr("slliw", rd, rs1, imm=shamt, bits=w)
        if f3 == 5 and f7 == 0:
            return Instr("srliw", rd, rs1, imm=shamt, bits=w)
        if f3 == 5 and f7 == 0x20:
            return Instr("sraiw", rd, rs1, imm=shamt, bits=w)
        return bad
    if op == 0x33:
        kind = _OP.get((f7, f3))
        return Instr(kind, rd, rs1, rs2, bits=w) if kind else bad
    if op == 0x3B:
        kind = _OP32.get((f7, f3))
        return Instr(kind, rd, rs1, rs2, bits=w) if kind else bad
    if op == 0x0F:
        if f3 == 0:
            return Instr("fence", bits=w)
        if f3 == 1:
            return Instr("fence.i", bits=w)
        return bad
    if op == 0x73:
        if w == 0x00000073:
            return Instr("ecall", bits=w)
        if w == 0x00100073:
            return Instr("ebreak", bits=w)
        if f3 in _CSR:
            return Instr(_CSR[f3], rd, rs1, imm=w >> 20, ex=rs1, bits=w)
        return bad
    if op == 0x2F:
        f5 = w >> 27
        if f3 not in (2, 3) or f5 not in _AMO:
            return bad
        kind = _AMO[f5] + (".w" if f3 == 2 else ".d")
        if f5 == 0x02 and rs2 != 0:
            return bad
        return Instr(kind, rd, rs1, rs2, bits=w)
    if op == 0x07:
        if f3 == 2:
            return Instr("flw", rd, rs1, imm=imm_i, bits=w)
        if f3 == 3:
            return Instr("fld", rd, rs1, imm=imm_i, bits=w)
        return bad
    if op == 0x27:
        imm = _sext((f7 << 5) | rd, 12)
        if f3 == 2:
            return Instr("fsw", 0, rs1, rs2, imm, bits=w)
        if f3 == 3:
            return Instr("fsd", 0, rs1, rs2, imm, bits=w)
        return bad
    if op in _FMA:
        fmt = f7 & 3
        if fmt > 1:
            return bad
        return Instr(_FMA[op] + (".s", ".d")[fmt], rd, rs1, rs2, ex=f3 | (w >> 27) << 3, bits=w)
    if op == 0x53:
        return _decode_opfp(w, rd, f3, rs1, rs2, f7)
    return bad


def _decode_opfp(w: int, rd: int, f3: int, rs1: int, rs2: int, f7: int) -> Instr:
    bad = Instr("illegal", bits=w)
    fmt = f7 & 3
    if fmt > 1:
        return bad
    sfx = (".s", ".d")[fmt]
    group = f7 & ~3
    if group in _FARITH:
        return Instr(_FARITH[group] + sfx, rd, rs1, rs2, ex=f3, bits=w)
    if group == 0x2C and rs2 == 0:
        return Instr("fsqrt" + sfx, rd, rs1, ex=f3, bits=w)
    if group == 0x10 and f3 < 3:
        return Instr(("fsgnj", "fsgnjn", "fsgnjx")[f3] + sfx, rd, rs1, rs2, bits=w)
    if group == 0x14 and f3 < 2:
        return Instr(("fmin", "fmax")[f3] + sfx, rd, rs1, rs2, bits=w)
    if f7 == 0x20 and rs2 == 1:
        return Instr("fcvt.s.d", rd, rs1, ex=f3, bits=w)
    if f7 == 0x21 and rs2 == 0:
        return Instr("fcvt.d.s", rd, rs1, ex=f3, bits=w)
    if group == 0x50 and f3 in (0, 1, 2):
        return Instr(("fle", "flt", "feq")[f3] + sfx, rd, rs1, rs2, bits=w)
    if group == 0x60 and rs2 < 4:
        return Instr("fcvt." + ("w", "wu", "l", "lu")[rs2] + sfx, rd, rs1, ex=f3, bits=w)
    if group == 0x68 and rs2 < 4:
        return Instr("fcvt" + sfx + "." + ("w", "wu", "l", "lu")[rs2], rd, rs1, ex=f3, bits=w)
    if group == 0x70 and rs2 == 0 and f3 == 0:
        return Instr(("fmv.x.w", "fmv.x.d")[fmt], rd, rs1, bits=w)
    if group == 0x70 and rs2 == 0 and f3 == 1:
        return Instr("fclass" + sfx, rd, rs1, bits=w)
    if group == 0x78 and rs2 == 0 and f3 == 0:
        return Instr(("fmv.w.x", "fmv.d.x")[fmt], rd, rs1, bits=w)
    return bad


def _c(kind: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0, h: int = 0) -> Instr:
    return Instr(kind, rd, rs1, rs2, imm, 0, 2, h)


def decode16(h: int) -> Instr:
    """Expand a compressed instruction into the base instruction it encodes."""
    op = h & 3
    f3 = h >> 13
    bad = Instr("illegal", length=2, bits=h)

    def b(hi: int, lo: int) -> int:  # bits hi:lo of h
        return (h >> lo) & ((1 << (hi - lo + 1)) - 1)

    rdp = b(4, 2) + 8  # rd'/rs2' in bits 4:2
    rs1p = b(9, 7) + 8
    rd = b(11, 7)
    rs2 = b(6, 2)
    imm6 = _sext(b(12, 12) << 5 | b(6, 2), 6)
    if op == 0:
        if f3 == 0:
            imm = b(12, 11) << 4 | b(10, 7) << 6 | b(6, 6) << 2 | b(5, 5) << 3
            return _c("addi", rdp, 2, imm=imm, h=h) if imm else bad
        uimm_d = b(12, 10) << 3 | b(6, 5) << 6
        uimm_w = b(12, 10) << 3 | b(6, 6) << 2 | b(5, 5) << 6
        table = {1: ("fld", uimm_d), 2: ("lw", uimm_w), 3: ("ld", uimm_d),
                 5: ("fsd", uimm_d), 6: ("sw", uimm_w), 7: ("sd", uimm_d)}
        if f3 not in table:
            return bad
        kind, uimm = table[f3]
        if f3 >= 5:
            return _c(kind, 0, rs1p, rdp, uimm, h)
        return _c(kind, rdp, rs1p, imm=uimm, h=h)
    if op == 1:
        if f3 == 0:
            return _c("addi", rd, rd, imm=imm6, h=h)
        if f3 == 1:
            return _c("addiw", rd, rd, imm=imm6, h=h) if rd else bad
        if f3 == 2:
            return _c("addi", rd, 0, imm=imm6, h=h)
        if f3 == 3:
            if rd == 2:
                imm = _sext(b(12, 12) << 9 | b(6, 6) << 4 | b(5, 5) << 6 | b(4, 3) << 7
                            | b(2, 2) << 5, 10)
                return _c("addi", 2, 2, imm=imm, h=h) if imm else bad
            imm = _sext(b(12, 12) << 17 | b(6, 2) << 12, 18)
            return _c("lui", rd, imm=imm, h=h) if imm else bad
        if f3 == 4:
            f2 = b(11, 10)
            shamt = b(12, 12) << 5 | b(6, 2)
            if f2 == 0:
                return _c("srli", rs1p, rs1p, imm=shamt, h=h)
            if f2 == 1:
                return _c("srai", rs1p, rs1p, imm=shamt, h=h)
            if f2 == 2:
                return _c("andi", rs1p, rs1p, imm=imm6, h=h)
            kinds = (("sub", "xor", "or", "and"), ("subw", "addw", None, None))[b(12, 12)]
            alu = kinds[b(6, 5)]
            return _c(alu, rs1p, rs1p, rdp, h=h) if alu else bad
        if f3 == 5:
            imm = (b(12, 12) << 11 | b(11, 11) << 4 | b(10, 9) << 8 | b(8, 8) << 10
                   | b(7, 7) << 6 | b(6, 6) << 7 | b(5, 3) << 1 | b(2, 2) << 5)
            return _c("jal", 0, imm=_sext(imm, 12), h=h)
        imm = (b(12, 12) << 8 | b(11, 10) << 3 | b(6, 5) << 6 | b(4, 3) << 1 | b(2, 2) << 5)
        return _c("beq" if f3 == 6 else "bne", 0, rs1p, 0, _sext(imm, 9), h)
    if op == 2:
        if f3 == 0:
            return _c("slli", rd, rd, imm=b(12, 12) << 5 | b(6, 2), h=h)
        if f3 in (1, 3):
            uimm = b(12, 12) << 5 | b(6, 5) << 3 | b(4, 2) << 6
            if f3 == 3 and rd == 0:
                return bad
            return _c("fld" if f3 == 1 else "ld", rd, 2, imm=uimm, h=h)
        if f3 == 2:
            uimm = b(12, 12) << 5 | b(6, 4) << 2 | b(3, 2) << 6
            return _c("lw", rd, 2, imm=uimm, h=h) if rd else bad
        if f3 == 4:
            if b(12, 12) == 0:
                if rs2 == 0:
                    return _c("jalr", 0, rd, imm=0, h=h) if rd else bad
                return _c("add", rd, 0, rs2, h=h)
            if rd == 0 and rs2 == 0:
                return _c("ebreak", h=h)
            if rs2 == 0:
                return _c("jalr", 1, rd, imm=0, h=h)
            return _c("add", rd, rd, rs2, h=h)
        if f3 == 6:
            return _c("sw", 0, 2, rs2, b(12, 9) << 2 | b(8, 7) << 6, h)
        return _c("fsd" if f3 == 5 else "sd", 0, 2, rs2, b(12, 10) << 3 | b(9, 7) << 6, h)
    return bad


#: instruction bits -> record. Records do not depend on the address, and a
#: program repeats many words (moves, returns, stack stores), so each distinct
#: word is decoded once.
_MEMO: dict[int, Instr] = {}


def decode(word: int) -> Instr:
    """Decode the instruction whose first bytes are ``word`` (at least 32 bits read)."""
    bits = word & 0xFFFF if word & 3 != 3 else word & 0xFFFFFFFF
    ins = _MEMO.get(bits)
    if ins is None:
        if bits & 3 != 3:
            ins = decode16(bits)
        elif bits & 0x1F == 0x1F:  # 48-bit and longer encodings: not in RV64GC
            ins = Instr("illegal", bits=bits)
        else:
            ins = decode32(bits)
        _MEMO[bits] = ins
    return ins
