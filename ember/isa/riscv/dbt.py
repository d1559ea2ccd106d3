"""Dynamic binary translation: each guest basic block becomes one Python function.

A block is decoded up to its first control transfer (or MAX_BLOCK
instructions), its operations' templates are pasted into Python source with
every operand a constant and every integer register a local variable (loaded
once at entry, stored once at exit; x0 is the constant 0), and the source is
compiled once. The function returns the *next block function*:

* direct successors (branch targets, fall-through, jal) go through per-block
  exit slots ``E[i]``, which start as stubs that translate or look up the
  target and then patch the slot with it: blocks chain to each other and the
  dispatch loop is just ``while True: block = block()``;
* indirect jumps (jalr) look the target up in the code cache (pc -> block).

fence.i, the riscv_flush_icache syscall and any store into a page holding
translated code flush the cache and reset every exit slot to a stub.
With ``cache=False`` nothing is kept: every block executed is translated
again (the baseline showing what the code cache buys).
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Any, Callable

from ember.isa.riscv.decode import Instr
from ember.isa.riscv.errors import GuestExit, GuestFault
from ember.isa.riscv.interp import MEMORY_ERRORS, TOKEN
from ember.isa.riscv.machine import Machine, RunStats
from ember.isa.riscv.semantics import MK, OPS

log = logging.getLogger(__name__)

#: Longest straight-line run translated as one block.
MAX_BLOCK = 128
Block = Callable[[], Any]


class Translator:
    """Runs a :class:`Machine` block by block through a code cache."""

    name = "dbt"

    def __init__(self, machine: Machine, cache: bool = True) -> None:
        self.m = machine
        self.use_cache = cache
        self.cache: dict[int, Block] = {}
        #: (exit slots, their target pcs) of every live block, to reset on flush.
        self.exits: list[tuple[list[Any], tuple[int, ...]]] = []
        #: block start pc -> guest pc of each source line (for fault reports).
        self.lines: dict[int, list[int]] = {}
        self.icount = [0]
        self.translated = 0
        self.hits = 0
        self.misses = 0
        self.links = 0
        self.translate_seconds = 0.0
        g = machine.globals
        g["IC"] = self.icount
        g["J"] = self.lookup
        machine.flush_hooks.append(self.flush)

    # -- code cache ---------------------------------------------------------------
    def lookup(self, pc: int) -> Block:
        block = self.cache.get(pc)
        if block is not None:
            self.hits += 1
            return block
        self.misses += 1
        block = self.translate(pc)
        if self.use_cache:
            self.cache[pc] = block
        return block

    def flush(self) -> None:
        self.cache.clear()
        for slots, targets in self.exits:
            for i, target in enumerate(targets):
                slots[i] = self._stub(slots, i, target)
        self.exits.clear()

    def _stub(self, slots: list[Any], i: int, target: int) -> Block:
        def stub() -> Any:
            block = self.lookup(target)
            if self.use_cache:
                slots[i] = block
                self.links += 1
            return block()

        return stub

    # -- translation ------------------------------------------------------------------
    def _decode_block(self, pc: int) -> list[tuple[int, Instr]]:
        out: list[tuple[int, Instr]] = []
        addr = pc
        while len(out) < MAX_BLOCK:
            try:
                ins = self.m.fetch(addr)
            except GuestFault:
                if not out:
                    raise
                break  # the block ends where executable memory does
            out.append((addr, ins))
            addr += ins.length
            if OPS[ins.kind].term is not None:
                break
        return out

    def translate(self, pc: int) -> Block:
        start = time.perf_counter()
        instrs = self._decode_block(pc)
        source, targets, linemap = self.generate(pc, instrs)
        code = compile(source, f"<block 0x{pc:x}>", "exec")
        ns: dict[str, Any] = {}
        exec(code, self.m.globals, ns)
        slots: list[Any] = [None] * len(targets)
        for i, target in enumerate(targets):
            slots[i] = self._stub(slots, i, target)
        block = ns["make"](slots)
        if self.use_cache:
            self.exits.append((slots, targets))
        self.lines[pc] = linemap
        self.translated += 1
        self.translate_seconds += time.perf_counter() - start
        return block

    def generate(self, pc: int, instrs: list[tuple[int, Instr]]) -> tuple[str, tuple[int, ...], list[int]]:
        """Python source of the block starting at pc; its exit targets; line -> guest pc."""
        body: list[tuple[int, str]] = []  # (guest pc, line)
        read: set[int] = set()
        written: set[int] = set()
        targets: list[int] = []
        reg = lambda n: f"r{n}" if n else "0"  # noqa: E731 - x0 reads as constant 0

        def fill(text: str, ins: Instr, at: int) -> str:
            def sub(m: Any) -> str:
                t = m.group(1)
                if t == "R1":
                    if ins.rs1:
                        read.add(ins.rs1)
                    return reg(ins.rs1)
                if t == "R2":
                    if ins.rs2:
                        read.add(ins.rs2)
                    return reg(ins.rs2)
                if t == "RD":
                    if ins.rd:
                        written.add(ins.rd)
                        return f"r{ins.rd}"
                    return "_"
                if t == "FD":
                    return f"f[{ins.rd}]"
                if t == "F1":
                    return f"f[{ins.rs1}]"
                if t == "F2":
                    return f"f[{ins.rs2}]"
                if t == "F3":
                    return f"f[{ins.ex >> 3}]"
                if t == "IMM":
                    return f"({ins.imm})"
                if t == "EX":
                    return str(ins.ex)
                if t == "RM":
                    return str(ins.ex & 7)
                if t == "PC":
                    return str(at)
                return str(at + ins.length)  # NPC

            return TOKEN.sub(sub, text)

        last_pc, last = instrs[-1]
        for at, ins in instrs:
            op = OPS[ins.kind]
            if op.pure and ins.rd == 0:
                continue  # a nop (or a hint): nothing to do
            for line in op.body:
                body.append((at, fill(line, ins, at)))
        term = OPS[last.kind].term
        npc = last_pc + last.length
        tail: list[str] = []
        if term is None:
            targets.append(npc)
            tail = ["return E[0]"]
        elif term == "branch":
            body.append((last_pc, "c = " + fill(OPS[last.kind].cond, last, last_pc)))
            targets += [last_pc + last.imm, npc]
            tail = ["return E[0] if c else E[1]"]
        elif term == "jal":
            if last.rd:
                written.add(last.rd)
                body.append((last_pc, f"r{last.rd} = {npc}"))
            targets.append((last_pc + last.imm) & int(MK, 16))
            tail = ["return E[0]"]
        elif term == "jalr":
            if last.rs1:
                read.add(last.rs1)
            body.append((last_pc, f"t = ({reg(last.rs1)} + ({last.imm})) & {int(MK, 16) - 1:#x}"))
            if last.rd:
                written.add(last.rd)
                body.append((last_pc, f"r{last.rd} = {npc}"))
            tail = ["return J(t)"]
        elif term == "ecall":
            targets.append(npc)
            tail = ["SYS()", "return E[0]"]
        elif term == "fence.i":
            targets.append(npc)
            tail = ["FLUSH()", "return E[0]"]
        elif term == "ebreak":
            tail = [f"TRAP({last_pc})"]
        else:
            tail = [f"ILL({last_pc}, {last.bits}, {last.length})"]
        head = [f"IC[0] += {len(instrs)}"] + [f"r{n} = x[{n}]" for n in sorted(read | written)]
        store = [f"x[{n}] = r{n}" for n in sorted(written)]
        lines = ["def make(E):", "  def block():"]
        linemap = [pc, pc, pc]  # line numbers start at 1
        for text in head:
            lines.append("    " + text)
            linemap.append(pc)
        for at, text in body:
            lines.append("    " + text)
            linemap.append(at)
        for text in store + tail:
            lines.append("    " + text)
            linemap.append(last_pc)
        lines.append("  return block")
        return "\n".join(lines) + "\n", tuple(targets), linemap

    # -- running -------------------------------------------------------------------------
    def run(self, limit: int | None = None) -> int:
        """Run until the guest exits; returns its exit status. ``limit`` is ignored
        between blocks only (the check costs nothing per instruction)."""
        m = self.m
        block = self.lookup(m.pc)
        ic = self.icount
        try:
            if limit is None:
                while True:
                    block = block()
            while ic[0] < limit:
                block = block()
            raise GuestFault(f"instruction limit {limit} reached")
        except GuestExit as done:
            return done.status
        except GuestFault as fault:
            if fault.pc is None:
                raise GuestFault(str(fault).removeprefix("guest fault: "),
                                 self._fault_pc(sys.exc_info()[2])) from None
            raise
        except MEMORY_ERRORS as exc:
            raise GuestFault(f"memory access outside the address space ({exc})",
                             self._fault_pc(sys.exc_info()[2])) from None
        finally:
            m.instret += ic[0]
            ic[0] = 0

    def _fault_pc(self, tb: TracebackType | None) -> int | None:
        """The guest pc of the innermost translated line in a traceback."""
        found = None
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.startswith("<block 0x"):
                start = int(name[9:-1], 16)
                lines = self.lines.get(start)
                if lines and tb.tb_lineno < len(lines):
                    found = lines[tb.tb_lineno]
            tb = tb.tb_next
        return found

    def stats(self, seconds: float) -> RunStats:
        return RunStats(engine=self.name, instructions=self.m.instret, seconds=seconds,
                        blocks_translated=self.translated, cache_hits=self.hits,
                        cache_misses=self.misses, chain_links=self.links,
                        translate_seconds=self.translate_seconds, flushes=self.m.flushes,
                        syscalls=dict(self.m.syscalls.counts))
