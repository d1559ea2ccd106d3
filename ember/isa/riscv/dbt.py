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
import re
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ember.isa.riscv.decode import Instr
from ember.isa.riscv.errors import GuestExit, GuestFault
from ember.isa.riscv.interp import MEMORY_ERRORS, TOKEN
from ember.isa.riscv.machine import Machine, RunStats
from ember.isa.riscv.semantics import MK, OPS

log = logging.getLogger(__name__)

#: Longest run of instructions translated as one trace.
MAX_BLOCK = 48
#: Executions of a block before it is translated. compile() costs about as
#: much as interpreting a block a few hundred times, and most of a static
#: program's code (start-up, formatting) runs only a handful of times, so
#: cold blocks are interpreted with the interpreter's pre-decoded handlers.
HOT_THRESHOLD = 48
#: Instructions a translated loop runs before returning to the dispatcher.
LOOP_SLICE = 1 << 20
Block = Callable[[], Any]


def uses_text(ins: Instr) -> str:
    """The template text an instruction expands to (to count register uses)."""
    op = OPS[ins.kind]
    text = "\n".join(op.body) + "\n" + op.cond
    if op.term == "jalr":
        text += " R1 RD"
    elif op.term == "jal":
        text += " RD"
    return text


_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {}
_REG = r"(r\d+|x\[\d+\])"
#: Adding zero to a register value needs no wrap-around mask (mv, loads at
#: offset 0): CPython folds constant expressions but not these.
_ADD_ZERO = (re.compile(rf"\({_REG} \+ \(0\)\) & 0xFFFFFFFFFFFFFFFF"),
             re.compile(rf"\(0 \+ {_REG}\) & 0xFFFFFFFFFFFFFFFF"))


def _peephole(line: str) -> str:
    for pattern in _ADD_ZERO:
        line = pattern.sub(r"\1", line)
    return line


def _formats(kind: str) -> tuple[tuple[str, ...], str]:
    """An operation's body lines and branch condition as str.format templates
    (much faster to fill than a regex substitution per token)."""
    cached = _FORMATS.get(kind)
    if cached is None:
        op = OPS[kind]

        def conv(text: str) -> str:
            return TOKEN.sub(lambda m: "{" + m.group(1) + "}", text)

        cached = _FORMATS[kind] = (tuple(conv(line) for line in op.body), conv(op.cond))
    return cached


def _target(at: int, ins: Instr) -> int | None:
    """The static target of a branch or jal (None for other instructions)."""
    term = OPS[ins.kind].term
    if term in ("branch", "jal"):
        return (at + ins.imm) & 0xFFFFFFFFFFFFFFFF
    return None


class Translator:
    """Runs a :class:`Machine` block by block through a code cache."""

    name = "dbt"

    def __init__(self, machine: Machine, cache: bool = True,
                 hot_threshold: int = HOT_THRESHOLD) -> None:
        from ember.isa.riscv.interp import Interpreter

        self.m = machine
        self.use_cache = cache
        self.hot_threshold = hot_threshold if cache else 0
        #: Cold code runs on the interpreter's decoded handlers.
        self.interp = Interpreter(machine)
        self.cold_pc = [0]
        self.cold_instructions = 0
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
        g["C"] = self.cache
        machine.flush_hooks.append(self.flush)

    # -- code cache ---------------------------------------------------------------
    def lookup(self, pc: int) -> Block:
        block = self.cache.get(pc)
        if block is not None:
            self.hits += 1
            return block
        self.misses += 1
        if self.hot_threshold > 0:
            block = self._cold(pc)
        else:
            block = self.translate(pc)
        if self.use_cache:
            self.cache[pc] = block
        return block

    def _cold(self, pc: int) -> Block:
        """A stand-in for the block at pc that interprets it until it gets hot."""
        handlers = self.interp.cache
        transfers = self.interp.transfers
        predecode = self.interp.predecode
        where = self.cold_pc
        count = 0

        def cold() -> Any:
            nonlocal count
            count += 1
            if count >= self.hot_threshold:
                block = self.translate(pc)
                self.cache[pc] = block
                return block()
            p = pc
            n = 0
            try:
                while True:
                    where[0] = p
                    handler = handlers.get(p) or predecode(p)
                    n += 1  # before the call: an exiting ecall still retires
                    q = handler()
                    if p in transfers:
                        break
                    p = q
            finally:
                self.icount[0] += n
                self.cold_instructions += n
            return self.lookup(q)

        cold.cold = True  # type: ignore[attr-defined]
        return cold

    def flush(self) -> None:
        self.cache.clear()
        for slots, targets in self.exits:
            for i, target in enumerate(targets):
                slots[i] = self._stub(slots, i, target)
        self.exits.clear()

    def _stub(self, slots: list[Any], i: int, target: int) -> Block:
        def stub() -> Any:
            block = self.lookup(target)
            if self.use_cache and not hasattr(block, "cold"):
                slots[i] = block
                self.links += 1
            return block()

        return stub

    # -- translation ------------------------------------------------------------------
    def _decode_trace(self, pc: int) -> tuple[list[tuple[int, Instr]], int | None]:
        """Instructions of the trace starting at pc, following fall-through paths
        and direct jumps (not calls); and the pc control reaches after the last one when it is
        not itself a control transfer (None when the last instruction ends it)."""
        out: list[tuple[int, Instr]] = []
        seen: set[int] = set()
        addr = pc
        while len(out) < MAX_BLOCK:
            if addr in seen:
                return out, addr  # back to code already in the trace
            try:
                ins = self.m.fetch(addr)
            except GuestFault:
                if not out:
                    raise
                return out, addr  # the trace ends where executable memory does
            out.append((addr, ins))
            seen.add(addr)
            term = OPS[ins.kind].term
            if term is None or term == "branch":
                addr += ins.length
            elif term == "jal":
                addr = (addr + ins.imm) & int(MK, 16)
                if ins.rd:
                    # A call: end here and chain to the callee's own trace
                    # rather than compiling the callee into every call site.
                    return out, addr
            else:
                return out, None
        return out, addr

    def translate(self, pc: int) -> Block:
        start = time.perf_counter()
        instrs, after = self._decode_trace(pc)
        source, targets, linemap = self.generate(pc, instrs, after)
        code = compile(source, f"<block 0x{pc:x}>", "exec")
        ns: dict[str, Any] = {}
        exec(code, self.m.globals, ns)  # noqa: S102 - running generated code is the point
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

    def generate(self, pc: int, instrs: list[tuple[int, Instr]],
                 after: int | None) -> tuple[str, tuple[int, ...], list[int]]:
        """Python source of the trace starting at pc; its exit targets; line -> guest pc.

        Conditional branches inside the trace become side exits; a transfer back
        to pc becomes ``continue`` of a ``while True`` loop, so a hot loop runs
        inside one Python frame with its registers in locals.
        """
        uses: dict[int, int] = {}
        for _, ins in instrs:
            text = uses_text(ins)
            for token, n in (("R1", ins.rs1), ("R2", ins.rs2), ("RD", ins.rd)):
                if n and token in text:
                    uses[n] = uses.get(n, 0) + text.count(token)
        loops = any(_target(at, ins) == pc for at, ins in instrs) or after == pc
        # A local costs a load at entry and a store at exit: worth it from three
        # uses on (each use of x[n] is a subscript), and always in a loop.
        local = {n for n, k in uses.items() if k >= 3 or loops}
        written: set[int] = set()
        targets: list[int] = [pc] if loops else []  # slot 0 of a loop: its own head
        mask = int(MK, 16)

        def reg(n: int) -> str:
            if n == 0:
                return "0"
            return f"r{n}" if n in local else f"x[{n}]"

        def fill(text: str, ins: Instr, at: int) -> str:
            if ins.rd and "{RD}" in text:
                written.add(ins.rd)
            return _peephole(text.format_map({
                "R1": reg(ins.rs1), "R2": reg(ins.rs2), "RD": reg(ins.rd) if ins.rd else "_",
                "FD": f"f[{ins.rd}]", "F1": f"f[{ins.rs1}]", "F2": f"f[{ins.rs2}]",
                "F3": f"f[{ins.ex >> 3}]", "IMM": f"({ins.imm})", "EX": str(ins.ex),
                "RM": str(ins.ex & 7), "PC": str(at), "NPC": str(at + ins.length),
            }))

        # Every way out of the trace sets k (instructions executed in this
        # pass) and e (exit slot) and breaks to one shared epilogue, so the code
        # stays linear in the trace length (CPython's compile() is the cost).
        body: list[tuple[int, int, str]] = []  # (indent, guest pc, line)
        final: list[str] = []  # what the epilogue does for the trace's own last instruction

        def goto(indent: int, at: int, executed: int, target: int) -> None:
            if target == pc and loops:
                # Leave the loop now and then, so the dispatcher can enforce
                # an instruction limit (re-entry goes through exit slot 0).
                body.append((indent, at, f"n += {executed}"))
                body.append((indent, at, f"if n < {LOOP_SLICE}: continue"))
                body.append((indent, at, "k = 0; e = 0; break"))
                return
            targets.append(target)
            body.append((indent, at, f"k = {executed}; e = {len(targets) - 1}; break"))

        executed = 0
        ended = False
        for at, ins in instrs:
            op = OPS[ins.kind]
            executed += 1
            npc = at + ins.length
            body_fmt, cond_fmt = _formats(ins.kind)
            if not (op.pure and ins.rd == 0):
                for line in body_fmt:
                    body.append((0, at, fill(line, ins, at)))
            term = op.term
            if term is None:
                continue
            if term == "branch":
                body.append((0, at, "if " + fill(cond_fmt, ins, at) + ":"))
                goto(1, at, executed, at + ins.imm)
                continue
            if term == "jal":
                if ins.rd:
                    body.append((0, at, f"{reg(ins.rd)} = {npc}"))
                    written.add(ins.rd)
                continue
            ended = True
            body.append((0, at, f"k = {executed}; e = -1; break"))
            if term == "jalr":
                body.insert(len(body) - 1, (0, at, f"t = ({reg(ins.rs1)} + ({ins.imm})) & {mask - 1:#x}"))
                if ins.rd:
                    body.insert(len(body) - 1, (0, at, f"{reg(ins.rd)} = {npc}"))
                    written.add(ins.rd)
                # Inline code-cache probe: a call of J only on a miss.
                final = ["b = C.get(t)", "return b if b is not None else J(t)"]
            elif term in ("ecall", "fence.i"):
                targets.append(npc)
                final = ["SYS()" if term == "ecall" else "FLUSH()", f"return E[{len(targets) - 1}]"]
            elif term == "ebreak":
                final = [f"TRAP({at})"]
            else:
                final = [f"ILL({at}, {ins.bits}, {ins.length})"]
        if not ended:
            assert after is not None
            goto(0, instrs[-1][0], executed, after)

        lines = ["def make(E):", "  def block():"]
        linemap = [pc, pc, pc]  # line numbers start at 1
        for n in sorted(local):
            lines.append(f"    r{n} = x[{n}]")
            linemap.append(pc)
        lines += ["    n = 0", "    while True:"]
        linemap += [pc, pc]
        for indent, at, text in body:
            lines.append("      " + "  " * indent + text)
            linemap.append(at)
        last_pc = instrs[-1][0]
        epilogue = [f"x[{n}] = r{n}" for n in sorted(written & local)]
        epilogue.append("IC[0] += n + k")
        if final:
            epilogue += ["if e < 0:"] + ["  " + t for t in final]
        epilogue.append("return E[e]")
        for text in epilogue:
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
            fault.locate(self._fault_pc(sys.exc_info()[2]))
            raise
        except MEMORY_ERRORS as exc:
            raise GuestFault(f"memory access outside the address space ({exc})",
                             self._fault_pc(sys.exc_info()[2])) from None
        finally:
            m.instret += ic[0]
            ic[0] = 0

    def _fault_pc(self, tb: TracebackType | None) -> int | None:
        """The guest pc of the innermost translated line in a traceback (or of the
        cold instruction being interpreted)."""
        found = None
        cold = False
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.startswith("<block 0x"):
                start = int(name[9:-1], 16)
                lines = self.lines.get(start)
                if lines and tb.tb_lineno < len(lines):
                    found = lines[tb.tb_lineno]
                    cold = False
            elif tb.tb_frame.f_code.co_name == "cold":
                cold = True
            tb = tb.tb_next
        return self.cold_pc[0] if cold else found

    def stats(self, seconds: float) -> RunStats:
        return RunStats(engine=self.name, instructions=self.m.instret, seconds=seconds,
                        blocks_translated=self.translated, cache_hits=self.hits,
                        cache_misses=self.misses, chain_links=self.links,
                        translate_seconds=self.translate_seconds, flushes=self.m.flushes,
                        cold_instructions=self.cold_instructions,
                        syscalls=dict(self.m.syscalls.counts))
