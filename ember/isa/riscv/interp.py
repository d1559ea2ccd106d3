"""The interpreter: one pre-decoded record and one handler call per instruction.

Each operation of :mod:`ember.isa.riscv.semantics` is compiled once into a
handler ``h(rd, rs1, rs2, imm, ex, pc) -> next_pc`` (two variants: 4- and
2-byte instructions). Decoding happens once per address; the decode cache maps
pc to ``(handler, rd, rs1, rs2, imm, ex)``, so the loop does a dict lookup, a
tuple unpack and a call.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from typing import Any, Callable

from ember.isa.riscv.decode import Instr
from ember.isa.riscv.errors import GuestExit, GuestFault
from ember.isa.riscv.machine import Machine, RunStats
from ember.isa.riscv.semantics import MK, OPS, Op

log = logging.getLogger(__name__)

TOKEN = re.compile(r"\b(RD|R1|R2|FD|F1|F2|F3|IMM|EX|RM|PC|NPC)\b")
#: Python exceptions that mean "the guest touched memory outside its space".
MEMORY_ERRORS = (IndexError, struct.error, ValueError, OverflowError)

_INTERP_TOKENS = {
    "RD": "x[rd]", "R1": "x[rs1]", "R2": "x[rs2]", "FD": "f[rd]", "F1": "f[rs1]",
    "F2": "f[rs2]", "F3": "f[ex >> 3]", "IMM": "imm", "EX": "ex", "RM": "(ex & 7)", "PC": "pc",
}


def _handler_source(name: str, op: Op, length: int) -> str:
    subst = dict(_INTERP_TOKENS, NPC=f"(pc + {length})")

    def fill(text: str) -> str:
        return TOKEN.sub(lambda m: subst[m.group(1)], text)

    lines = [fill(s) for s in op.body]
    npc = subst["NPC"]
    term = op.term
    if term is None:
        lines.append(f"return {npc}")
    elif term == "branch":
        lines.append(f"return pc + imm if {fill(op.cond)} else {npc}")
    elif term == "jal":
        lines += [f"x[rd] = {npc}", f"return (pc + imm) & {MK}"]
    elif term == "jalr":
        lines += [f"t = (x[rs1] + imm) & {int(MK, 16) - 1:#x}", f"x[rd] = {npc}", "return t"]
    elif term == "ecall":
        lines += ["SYS()", f"return {npc}"]
    elif term == "fence.i":
        lines += ["FLUSH()", f"return {npc}"]
    elif term == "ebreak":
        lines += ["TRAP(pc)"]
    else:
        lines += [f"ILL(pc, imm, {length})"]
    body = "\n    ".join(lines)
    return f"def h(rd, rs1, rs2, imm, ex, pc):\n    {body}\n"


def compile_handlers(globals_: dict[str, Any]) -> dict[tuple[str, int], Callable[..., int]]:
    handlers: dict[tuple[str, int], Callable[..., int]] = {}
    for name, op in OPS.items():
        for length in (2, 4):
            ns: dict[str, Any] = {}
            exec(compile(_handler_source(name, op, length), f"<op {name}>", "exec"), globals_, ns)
            handlers[name, length] = ns["h"]
    return handlers


class Interpreter:
    """Runs a :class:`Machine` instruction by instruction."""

    name = "interp"

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.handlers = compile_handlers(machine.globals)
        self.cache: dict[int, tuple[Any, ...]] = {}
        self.decoded = 0
        machine.flush_hooks.append(self.cache.clear)

    def predecode(self, pc: int) -> tuple[Any, ...]:
        ins: Instr = self.m.fetch(pc)
        op = OPS[ins.kind]
        self.decoded += 1
        rd = ins.rd
        if rd == 0 and (any("RD" in line for line in op.body) or op.term in ("jal", "jalr")):
            rd = 32  # writes to x0 land in a register nobody reads
        imm = ins.bits if ins.kind == "illegal" else ins.imm
        rec = (self.handlers[ins.kind, ins.length], rd, ins.rs1, ins.rs2, imm, ins.ex)
        self.cache[pc] = rec
        return rec

    def run(self, limit: int | None = None) -> int:
        """Run until the guest exits; returns its exit status."""
        m = self.m
        get = self.cache.get
        predecode = self.predecode
        pc = m.pc
        n = 0
        budget = limit if limit is not None else -1
        try:
            while n != budget:
                rec = get(pc)
                if rec is None:
                    rec = predecode(pc)
                h, rd, rs1, rs2, imm, ex = rec
                pc = h(rd, rs1, rs2, imm, ex, pc)
                n += 1
            raise GuestFault(f"instruction limit {limit} reached", pc)
        except GuestExit as done:
            n += 1
            return done.status
        except GuestFault as fault:
            if fault.pc is None:
                raise GuestFault(str(fault).removeprefix("guest fault: "), pc) from None
            raise
        except MEMORY_ERRORS as exc:
            raise GuestFault(f"memory access outside the address space ({exc})", pc) from None
        finally:
            m.pc = pc
            m.instret += n

    def stats(self, seconds: float) -> RunStats:
        return RunStats(engine=self.name, instructions=self.m.instret, seconds=seconds,
                        decoded=self.decoded, flushes=self.m.flushes,
                        syscalls=dict(self.m.syscalls.counts))


def timed_run(engine: Any, limit: int | None = None) -> tuple[int, RunStats]:
    start = time.perf_counter()
    try:
        status = engine.run(limit)
    finally:
        elapsed = time.perf_counter() - start
    return status, engine.stats(elapsed)
