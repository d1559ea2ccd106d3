"""A small x86-64 assembler: the instruction forms the native engine emits.

Only what :mod:`ember.isa.riscv.native` needs: 64- and 32-bit ALU operations
between a host register and a register or a ``[base + disp]`` memory operand,
shifts, multiplications and divisions, ``movsx``/``movzx`` loads from
``[base + index]``, ``setcc``, and jumps to labels (rel32, resolved by
:meth:`Asm.link`) or to absolute offsets in the code buffer (for chaining to
code emitted earlier). Register numbers are the hardware encodings.
"""

from __future__ import annotations

import struct
from functools import lru_cache

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11 = range(8, 12)

#: Condition-code nibbles of Jcc / SETcc.
CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A = 0x2, 0x3, 0x4, 0x5, 0x6, 0x7
CC_L, CC_GE = 0xC, 0xD

#: /digit of the 0x81/0x83 immediate group and the 0xC1/0xD3 shift group.
ADD, OR, AND, SUB, XOR, CMP = 0, 1, 4, 5, 6, 7
SHL, SHR, SAR = 4, 5, 7
#: Opcodes of "op reg, r/m" (reg is the destination).
OP_ADD, OP_OR, OP_AND, OP_SUB, OP_XOR, OP_CMP = 0x03, 0x0B, 0x23, 0x2B, 0x33, 0x3B
OP_MOV_LOAD, OP_MOV_STORE = 0x8B, 0x89


_REL32 = struct.Struct("<i")


def _imm8(v: int) -> bool:
    return -128 <= v < 128


class Asm:
    """Machine code for one unit, placed at ``base`` in the code buffer."""

    def __init__(self, base: int = 0) -> None:
        self.base = base
        self.code = bytearray()
        self.labels: dict[str, int] = {}
        #: (offset of a rel32 field, label) resolved at link time.
        self.fixups: list[tuple[int, str]] = []
        #: (offset of a rel32 field, absolute buffer offset of the target).
        self.abs_fixups: list[tuple[int, int]] = []

    # -- raw bytes ----------------------------------------------------------------
    def emit(self, *parts: int | bytes) -> None:
        for p in parts:
            if isinstance(p, int):
                self.code.append(p)
            else:
                self.code += p

    def here(self) -> int:
        return len(self.code)

    # -- generic forms (encodings are cached: a region repeats the same few) ----------
    def op_rm(self, opcode: bytes | int, reg: int, base: int, disp: int, w: int = 1,
              prefix: bytes = b"") -> None:
        """``opcode reg, [base + disp]`` (or ``[base+disp], reg`` for store opcodes)."""
        self.code += _enc_rm(opcode, reg, base, disp, w, prefix)

    def op_rr(self, opcode: bytes | int, reg: int, rm: int, w: int = 1) -> None:
        """``opcode`` with ModRM mod=11: reg field ``reg``, r/m field ``rm``."""
        self.code += _enc_rr(opcode, reg, rm, w)

    def op_sib(self, opcode: bytes | int, reg: int, base: int, index: int, w: int = 1,
               prefix: bytes = b"") -> None:
        """``opcode reg, [base + index]`` (base must not be rbp/r13)."""
        self.code += _enc_sib(opcode, reg, base, index, w, prefix)

    def imm_group(self, digit: int, rm: int, imm: int, w: int = 1) -> None:
        """``op rm, imm`` (add/or/and/sub/xor/cmp with a sign-extended immediate)."""
        self.code += _enc_imm(digit, rm, imm, w)

    # -- common instructions ----------------------------------------------------------
    def load(self, reg: int, base: int, disp: int, w: int = 1) -> None:
        self.op_rm(OP_MOV_LOAD, reg, base, disp, w)

    def store(self, base: int, disp: int, reg: int) -> None:
        self.op_rm(OP_MOV_STORE, reg, base, disp)

    def store_imm(self, base: int, disp: int, imm: int) -> None:
        """``mov qword [base + disp], imm32`` (sign-extended)."""
        self.op_rm(0xC7, 0, base, disp)
        self.code += struct.pack("<i", imm)

    def mov_rr(self, dst: int, src: int, w: int = 1) -> None:
        self.op_rr(0x89, src, dst, w)

    def mov_imm(self, reg: int, value: int) -> None:
        """reg = value (any 64-bit pattern), in the shortest form."""
        value &= (1 << 64) - 1
        if value < 1 << 32:
            self.code += _rex(0, 0, 0, reg)
            self.code.append(0xB8 | reg & 7)
            self.code += struct.pack("<I", value)
        elif value >= (1 << 64) - (1 << 31):
            self.op_rr(0xC7, 0, reg)
            self.code += struct.pack("<i", value - (1 << 64))
        else:
            self.code += _rex(1, 0, 0, reg)
            self.code.append(0xB8 | reg & 7)
            self.code += struct.pack("<Q", value)

    def shift_imm(self, digit: int, rm: int, count: int, w: int = 1) -> None:
        if count:
            self.op_rr(0xC1, digit, rm, w)
            self.code.append(count)

    def shift_cl(self, digit: int, rm: int, w: int = 1) -> None:
        self.op_rr(0xD3, digit, rm, w)

    def movsxd(self, dst: int, src: int) -> None:
        """dst = sign-extended low 32 bits of src."""
        self.op_rr(0x63, dst, src, 1)

    def zero(self, reg: int) -> None:
        """reg = 0 (xor: clobbers the flags, so before any compare)."""
        self.op_rr(0x31, reg, reg, 0)

    def setcc(self, cc: int, reg: int) -> None:
        """Low byte of reg (rax..rbx) = condition ? 1 : 0."""
        self.emit(0x0F, 0x90 | cc, 0xC0 | reg)

    # -- control flow -----------------------------------------------------------------
    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def jmp(self, label: str) -> None:
        self.code += b"\xe9\0\0\0\0"
        self.fixups.append((len(self.code) - 4, label))

    def jcc(self, cc: int, label: str) -> None:
        self.code += bytes((0x0F, 0x80 | cc)) + b"\0\0\0\0"
        self.fixups.append((len(self.code) - 4, label))

    def jmp_abs(self, target: int) -> int:
        """jmp to an absolute offset of the code buffer; returns the rel32's offset."""
        self.code += b"\xe9\0\0\0\0"
        self.abs_fixups.append((len(self.code) - 4, target))
        return len(self.code) - 4

    def jcc_abs(self, cc: int, target: int) -> int:
        self.code += bytes((0x0F, 0x80 | cc)) + b"\0\0\0\0"
        self.abs_fixups.append((len(self.code) - 4, target))
        return len(self.code) - 4

    def link(self) -> bytes:
        code, labels, pack = self.code, self.labels, _REL32.pack_into
        for offset, label in self.fixups:
            pack(code, offset, labels[label] - (offset + 4))
        base = self.base + 4
        for offset, target in self.abs_fixups:
            pack(code, offset, target - (base + offset))
        return bytes(code)


def _rex(w: int, reg: int, index: int, rm: int) -> bytes:
    rex = 0x40 | w << 3 | (reg >> 3) << 2 | (index >> 3) << 1 | rm >> 3
    return bytes((rex,)) if rex != 0x40 else b""


def _op(opcode: bytes | int) -> bytes:
    return bytes((opcode,)) if isinstance(opcode, int) else opcode


@lru_cache(maxsize=4096)
def _enc_rm(opcode: bytes | int, reg: int, base: int, disp: int, w: int, prefix: bytes) -> bytes:
    low = base & 7
    sib = b"\x24" if low == RSP else b""
    head = prefix + _rex(w, reg, 0, base) + _op(opcode)
    if disp == 0 and low != RBP:
        return head + bytes((reg << 3 & 0x38 | low,)) + sib
    if _imm8(disp):
        return head + bytes((0x40 | reg << 3 & 0x38 | low,)) + sib + struct.pack("<b", disp)
    return head + bytes((0x80 | reg << 3 & 0x38 | low,)) + sib + struct.pack("<i", disp)


@lru_cache(maxsize=1024)
def _enc_rr(opcode: bytes | int, reg: int, rm: int, w: int) -> bytes:
    return _rex(w, reg, 0, rm) + _op(opcode) + bytes((0xC0 | reg << 3 & 0x38 | rm & 7,))


@lru_cache(maxsize=1024)
def _enc_sib(opcode: bytes | int, reg: int, base: int, index: int, w: int, prefix: bytes) -> bytes:
    return (prefix + _rex(w, reg, index, base) + _op(opcode)
            + bytes((0x04 | reg << 3 & 0x38, (index & 7) << 3 | base & 7)))


@lru_cache(maxsize=4096)
def _enc_imm(digit: int, rm: int, imm: int, w: int) -> bytes:
    if _imm8(imm):
        return _enc_rr(0x83, digit, rm, w) + struct.pack("<b", imm)
    return _enc_rr(0x81, digit, rm, w) + struct.pack("<i", imm)


def rel32(at: int, target: int) -> bytes:
    """The rel32 field at buffer offset ``at`` that reaches ``target``."""
    return struct.pack("<i", target - (at + 4))
