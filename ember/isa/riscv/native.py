"""The native engine: hot loops compiled to x86-64 machine code.

This is the translator (:mod:`ember.isa.riscv.dbt`) with one more tier. When
a hot trace is a loop made only of integer operations, loads, stores and
conditional branches, it is assembled into x86-64 code in an executable
``mmap`` buffer and called through ctypes; every other trace stays Python.

Native code keeps the guest registers in a ctypes array (``rdi`` points at
it; x0 is entry 0 and never written) and addresses guest memory relative to
the base of the guest's address space (``rsi``); ``rdx`` (kept in ``r9``)
points at the machine's map of pages holding decoded code. Around each call the Python
wrapper copies the registers the loop uses in and the ones it writes out.
Every load and store is bounds-checked; an access outside the space, or a
store into the range of pages holding translated code, *bails out*: the code
returns before executing that instruction, with all earlier effects done, and
the Python tiers run it (raising the fault, or invalidating code). Loops return
to Python every LOOP_SLICE instructions so instruction limits hold.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import struct
from typing import Any

from ember.isa.riscv.dbt import LOOP_SLICE, Translator, _target
from ember.isa.riscv.decode import Instr
from ember.isa.riscv.errors import GuestFault, IsaError
from ember.isa.riscv.interp import MEMORY_ERRORS
from ember.isa.riscv.machine import Machine

log = logging.getLogger(__name__)

#: Slots of the register array after x0..x31.
COUNT, BAIL_PC = 32, 33
SLOTS = 34
CODE_SIZE = 4 << 20
MASK = (1 << 64) - 1

# x86-64 condition codes (the low nibble of Jcc/SETcc opcodes).
CC = {"beq": 0x4, "bne": 0x5, "blt": 0xC, "bge": 0xD, "bltu": 0x2, "bgeu": 0x3}
ALU_RR = {"add": 0x01, "sub": 0x29, "and": 0x21, "or": 0x09, "xor": 0x31}
ALU_RI = {"addi": 0x05, "andi": 0x25, "ori": 0x0D, "xori": 0x35}
SHIFT_EXT = {"sll": 0xE0, "srl": 0xE8, "sra": 0xF8}
LOADS = {
    "lb": b"\x48\x0f\xbe\x04\x06", "lbu": b"\x0f\xb6\x04\x06",
    "lh": b"\x48\x0f\xbf\x04\x06", "lhu": b"\x0f\xb7\x04\x06",
    "lw": b"\x48\x63\x04\x06", "lwu": b"\x8b\x04\x06", "ld": b"\x48\x8b\x04\x06",
}
STORES = {"sb": b"\x88\x0c\x06", "sh": b"\x66\x89\x0c\x06", "sw": b"\x89\x0c\x06",
          "sd": b"\x48\x89\x0c\x06"}
WIDTH = {"lb": 1, "lbu": 1, "lh": 2, "lhu": 2, "lw": 4, "lwu": 4, "ld": 8,
         "sb": 1, "sh": 2, "sw": 4, "sd": 8}
SUPPORTED = (set(CC) | set(ALU_RR) | set(ALU_RI) | set(LOADS) | set(STORES) | {
    "lui", "auipc", "slti", "sltiu", "slli", "srli", "srai", "sll", "srl", "sra", "slt", "sltu",
    "addiw", "slliw", "srliw", "sraiw", "addw", "subw", "sllw", "srlw", "sraw", "mul", "mulw",
    "jal", "fence", "div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"})


def _i32(v: int) -> bytes:
    return struct.pack("<i", v)


class Assembler:
    """Just enough x86-64 for the supported operations (rax, rcx scratch)."""

    def __init__(self) -> None:
        self.code = bytearray()
        self.fixups: list[tuple[int, str]] = []  # (offset of rel32, label)
        self.labels: dict[str, int] = {}

    def emit(self, *parts: bytes | int) -> None:
        for p in parts:
            self.code += bytes([p]) if isinstance(p, int) else p

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def jump(self, opcode: bytes, label: str) -> None:
        self.emit(opcode, b"\0\0\0\0")
        self.fixups.append((len(self.code) - 4, label))

    def load_reg(self, reg: int, n: int) -> None:  # mov rax/rcx, [rdi + 8n]
        self.emit(0x48, 0x8B, 0x87 | reg << 3, _i32(8 * n))

    def store_rax(self, n: int) -> None:  # mov [rdi + 8n], rax
        self.emit(0x48, 0x89, 0x87, _i32(8 * n))

    def mov_rax_imm(self, value: int) -> None:
        self.emit(0x48, 0xB8, struct.pack("<Q", value & MASK))

    def link(self) -> bytes:
        for offset, label in self.fixups:
            rel = self.labels[label] - (offset + 4)
            self.code[offset:offset + 4] = _i32(rel)
        return bytes(self.code)


class NativeTranslator(Translator):
    """The translator, with hot integer loops compiled to x86-64."""

    name = "native"

    def __init__(self, machine: Machine, cache: bool = True) -> None:
        super().__init__(machine, cache)
        try:
            self.code = mmap.mmap(-1, CODE_SIZE,
                                  prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except OSError as exc:
            raise IsaError(f"cannot map executable memory for native code ({exc.strerror}); "
                           "use --engine dbt") from None
        self.code_used = 0
        self.regs = (ctypes.c_uint64 * SLOTS)()
        self.regs_addr = ctypes.addressof(self.regs)
        self._mem_anchor = ctypes.c_char.from_buffer(machine.space.mem)
        self.mem_addr = ctypes.addressof(self._mem_anchor)
        self.native_blocks = 0
        self._map_anchor = ctypes.c_char.from_buffer(machine.code_map)
        self.map_addr = ctypes.addressof(self._map_anchor)
        self.prototype = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_void_p)
        self._keep: list[Any] = []

    def close(self) -> None:
        """Release the exported pointer into guest memory (so it can be unmapped)."""
        self._keep.clear()
        del self._mem_anchor
        del self._map_anchor

    # -- translation -------------------------------------------------------------
    def translate(self, pc: int) -> Any:
        instrs, after = self._decode_trace(pc)
        # The longest supported prefix of the trace; what follows it (the code
        # after the loop, a syscall...) is left to the Python tiers.
        for i, (at, ins) in enumerate(instrs):
            if ins.kind not in SUPPORTED or (ins.kind == "jal" and ins.rd):
                instrs = instrs[:i]
                after = at
                break
        loops = any(_target(at, ins) == pc for at, ins in instrs) or after == pc
        if not instrs or not loops or after is None:
            return super().translate(pc)
        try:
            return self._translate_native(pc, instrs, after)
        except (KeyError, ValueError, struct.error) as exc:  # an operand we cannot encode
            log.debug("native translation of 0x%x failed (%s); using Python", pc, exc)
            return super().translate(pc)

    def _translate_native(self, pc: int, instrs: list[tuple[int, Instr]], after: int) -> Any:
        import time

        start = time.perf_counter()
        asm = Assembler()
        targets: list[int] = [pc]  # exit 0: back to the loop head (end of a slice)
        size = self.m.space.size
        used: set[int] = set()
        written: set[int] = set()
        exits: list[tuple[str, int, int]] = []  # (label, exit index or -1 for bail, k / bail pc)
        asm.emit(0x4D, 0x31, 0xC0)  # xor r8, r8: instructions of completed iterations
        asm.emit(0x49, 0x89, 0xD1)  # mov r9, rdx: the code-page map (division clobbers rdx)
        asm.label("head")
        executed = 0

        def bail_label(at: int, k: int) -> str:
            name = f"bail{len(exits)}"
            exits.append((name, -1, k))
            self._bail_pcs[name] = at
            return name

        self._bail_pcs: dict[str, int] = {}
        for at, ins in instrs:
            kind = ins.kind
            done_before = executed
            executed += 1
            rd, rs1, rs2, imm = ins.rd, ins.rs1, ins.rs2, ins.imm
            for n in (rs1, rs2):
                used.add(n)
            if kind in ("fence", "jal"):
                continue
            if kind in CC:
                asm.load_reg(0, rs1)
                asm.load_reg(1, rs2)
                asm.emit(0x48, 0x39, 0xC8)  # cmp rax, rcx
                target = at + imm
                if target == pc:
                    asm.jump(bytes([0x0F, 0x80 | CC[kind]]), f"back{executed}")
                    exits.append((f"back{executed}", -2, executed))
                else:
                    targets.append(target)
                    asm.jump(bytes([0x0F, 0x80 | CC[kind]]), f"exit{len(exits)}")
                    exits.append((f"exit{len(exits)}", len(targets) - 1, executed))
                continue
            if kind in LOADS or kind in STORES:
                asm.load_reg(0, rs1)
                asm.emit(0x48, 0x05, _i32(imm))  # add rax, imm
                asm.emit(0x48, 0x3D, _i32(size - WIDTH[kind]))  # cmp rax, size - width
                asm.jump(b"\x0f\x87", bail_label(at, done_before))  # ja bail (also wraps)
                if kind in LOADS:
                    asm.emit(LOADS[kind])
                    if rd:
                        asm.store_rax(rd)
                        written.add(rd)
                else:
                    # A store into a page holding decoded code: let Python do it
                    # (and invalidate). rdx points at the machine's page map.
                    asm.emit(0x48, 0x89, 0xC1)  # mov rcx, rax
                    asm.emit(0x48, 0xC1, 0xE9, 12)  # shr rcx, 12
                    asm.emit(0x41, 0x80, 0x3C, 0x09, 0x00)  # cmp byte [r9+rcx], 0
                    asm.jump(b"\x0f\x85", bail_label(at, done_before))  # jne bail
                    asm.load_reg(1, rs2)
                    asm.emit(STORES[kind])
                continue
            if not rd:
                continue  # no side effects: a hint/nop
            written.add(rd)
            if kind == "lui":
                asm.mov_rax_imm(imm)
            elif kind == "auipc":
                asm.mov_rax_imm(at + imm)
            elif kind in ALU_RI:
                asm.load_reg(0, rs1)
                asm.emit(0x48, ALU_RI[kind], _i32(imm))
            elif kind in ALU_RR:
                asm.load_reg(0, rs1)
                asm.load_reg(1, rs2)
                asm.emit(0x48, ALU_RR[kind], 0xC8)
            elif kind in ("slli", "srli", "srai"):
                asm.load_reg(0, rs1)
                asm.emit(0x48, 0xC1, SHIFT_EXT[kind[:3]], imm & 63)
            elif kind in ("sll", "srl", "sra"):
                asm.load_reg(0, rs1)
                asm.load_reg(1, rs2)
                asm.emit(0x48, 0xD3, SHIFT_EXT[kind])
            elif kind in ("slt", "sltu", "slti", "sltiu"):
                asm.load_reg(0, rs1)
                if kind in ("slt", "sltu"):
                    asm.load_reg(1, rs2)
                else:
                    asm.emit(0x48, 0xC7, 0xC1, _i32(imm))  # mov rcx, imm (sign-extended)
                asm.emit(0x48, 0x39, 0xC8)  # cmp rax, rcx
                asm.emit(0x0F, 0x9C if kind in ("slt", "slti") else 0x92, 0xC0)  # setl/setb al
                asm.emit(0x48, 0x0F, 0xB6, 0xC0)  # movzx rax, al
            elif kind == "mul":
                asm.load_reg(0, rs1)
                asm.load_reg(1, rs2)
                asm.emit(0x48, 0x0F, 0xAF, 0xC1)  # imul rax, rcx
            elif kind in ("div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"):
                # x86 traps on a zero divisor and on MIN / -1; RISC-V defines both,
                # so those cases (and any division by -1) are left to Python.
                wide = not kind.endswith("w")
                rex = b"\x48" if wide else b""
                asm.load_reg(0, rs1)
                asm.load_reg(1, rs2)
                asm.emit(rex, 0x85, 0xC9)  # test rcx, rcx
                asm.jump(b"\x0f\x84", bail_label(at, done_before))  # jz bail
                asm.emit(rex, 0x83, 0xF9, 0xFF)  # cmp rcx, -1
                asm.jump(b"\x0f\x84", bail_label(at, done_before))  # je bail
                if kind.startswith(("divu", "remu")):
                    asm.emit(0x31, 0xD2)  # xor edx, edx
                    asm.emit(rex, 0xF7, 0xF1)  # div rcx
                else:
                    asm.emit(rex, 0x99)  # cqo / cdq
                    asm.emit(rex, 0xF7, 0xF9)  # idiv rcx
                if kind.startswith("rem"):
                    asm.emit(rex, 0x89, 0xD0)  # mov rax, rdx
                if not wide:
                    asm.emit(0x48, 0x63, 0xC0)  # movsxd rax, eax
            elif kind in ("addiw", "slliw", "srliw", "sraiw"):
                asm.load_reg(0, rs1)
                if kind == "addiw":
                    asm.emit(0x05, _i32(imm))  # add eax, imm
                else:
                    asm.emit(0xC1, SHIFT_EXT["s" + kind[1:3]], imm & 31)
                asm.emit(0x48, 0x63, 0xC0)  # movsxd rax, eax
            elif kind in ("addw", "subw", "sllw", "srlw", "sraw", "mulw"):
                asm.load_reg(0, rs1)
                asm.load_reg(1, rs2)
                if kind == "addw":
                    asm.emit(0x01, 0xC8)
                elif kind == "subw":
                    asm.emit(0x29, 0xC8)
                elif kind == "mulw":
                    asm.emit(0x0F, 0xAF, 0xC1)  # imul eax, ecx
                else:
                    asm.emit(0xD3, SHIFT_EXT[kind[:3]])  # 32-bit shift by cl (masks to 5 bits)
                asm.emit(0x48, 0x63, 0xC0)
            else:
                raise KeyError(kind)
            asm.store_rax(rd)
        # falling off the end: to `after`
        if after == pc:
            exits.append(("fallback", -2, executed))
            asm.jump(b"\xe9", "fallback")
        else:
            targets.append(after)
            exits.append(("fallend", len(targets) - 1, executed))
            asm.jump(b"\xe9", "fallend")
        # exit stubs
        for label, index, k in exits:
            asm.label(label)
            if index == -2:  # back-edge: count an iteration, continue unless the slice is over
                asm.emit(0x49, 0x81, 0xC0, _i32(k))  # add r8, k
                asm.emit(0x49, 0x81, 0xF8, _i32(LOOP_SLICE))  # cmp r8, LOOP_SLICE
                asm.jump(b"\x0f\x82", "head")  # jb head
                asm.emit(0x4C, 0x89, 0x87, _i32(8 * COUNT))  # mov [rdi+COUNT], r8
                asm.emit(0x48, 0xC7, 0xC0, _i32(0))  # mov rax, 0 (exit slot 0: the head)
                asm.emit(0xC3)
                continue
            asm.emit(0x49, 0x8D, 0x80, _i32(k))  # lea rax, [r8 + k]
            asm.emit(0x48, 0x89, 0x87, _i32(8 * COUNT))  # mov [rdi+COUNT], rax
            if index == -1:
                asm.mov_rax_imm(self._bail_pcs[label])
                asm.emit(0x48, 0x89, 0x87, _i32(8 * BAIL_PC))
                asm.emit(0x48, 0xC7, 0xC0, _i32(-1))
            else:
                asm.emit(0x48, 0xC7, 0xC0, _i32(index))
            asm.emit(0xC3)
        blob = asm.link()
        if self.code_used + len(blob) > CODE_SIZE:
            raise ValueError("native code buffer full")
        where = self.code_used
        self.code[where:where + len(blob)] = blob
        self.code_used = (where + len(blob) + 15) & ~15
        func = self.prototype(ctypes.addressof(ctypes.c_char.from_buffer(self.code, where)))
        self._keep.append(func)
        # Copy in every register the loop reads *or* writes: an early exit copies
        # back all written registers, including ones not yet written this call.
        block = self._wrap(func, targets, tuple(sorted((used | written) - {0})),
                           tuple(sorted(written)))
        self.translated += 1
        self.native_blocks += 1
        self.translate_seconds += time.perf_counter() - start
        return block

    def _wrap(self, func: Any, targets: list[int], used: tuple[int, ...],
              written: tuple[int, ...]) -> Any:
        slots: list[Any] = [None] * len(targets)
        for i, t in enumerate(targets):
            slots[i] = self._stub(slots, i, t)
        if self.use_cache:
            self.exits.append((slots, tuple(targets)))
        regs, x, ic = self.regs, self.m.x, self.icount
        raddr, maddr, paddr = self.regs_addr, self.mem_addr, self.map_addr
        lookup = self.lookup
        handlers, predecode = self.interp.cache, self.interp.predecode

        def bail() -> Any:
            # Run the instruction native code refused through the
            # interpreter's handler (it faults, or stores into code and
            # invalidates it), then carry on from wherever it leads.
            pc = regs[BAIL_PC]
            handler = handlers.get(pc) or predecode(pc)
            ic[0] += 1
            try:
                return lookup(handler())
            except GuestFault as fault:
                fault.locate(pc)
                raise
            except MEMORY_ERRORS as exc:
                raise GuestFault(f"memory access outside the address space ({exc})", pc) from None

        # The wrapper is generated so the register copies are unrolled.
        copy_in = "".join(f"    regs[{n}] = x[{n}]\n" for n in used)
        copy_out = "".join(f"    x[{n}] = regs[{n}]\n" for n in written)
        source = (
            "def block():\n"
            f"{copy_in}"
            "    e = func(raddr, maddr, paddr)\n"
            f"{copy_out}"
            f"    ic[0] += regs[{COUNT}]\n"
            "    if e < 0:\n"
            "        return bail()\n"
            "    return slots[e]\n"
        )
        env = {"regs": regs, "x": x, "func": func, "raddr": raddr, "maddr": maddr,
               "paddr": paddr, "ic": ic, "bail": bail, "slots": slots}
        exec(compile(source, "<native wrapper>", "exec"), env)  # noqa: S102 - generated wrapper
        block = env["block"]
        return block

    def stats(self, seconds: float) -> Any:
        stats = super().stats(seconds)
        stats.engine = self.name
        stats.native_blocks = self.native_blocks
        return stats
