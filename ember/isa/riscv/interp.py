"""The interpreter: one pre-decoded record and one handler call per instruction.

Each operation of :mod:`ember.isa.riscv.semantics` is compiled once into a
handler factory (two variants: 4- and 2-byte instructions). Decoding happens
once per address and yields a closure over the instruction's operands that
executes it and returns the next pc; the decode cache maps pc to that closure,
so the loop is a dict lookup and a call.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from collections.abc import Callable
from typing import Any

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
    "F2": "f[rs2]", "F3": "f[rs3]", "IMM": "imm", "EX": "ex", "RM": "rm", "PC": "pc", "NPC": "npc",
}


def _factory_source(op: Op, length: int) -> str:
    """Source of ``make(rd, rs1, rs2, imm, ex, pc)``, which returns the handler of one
    decoded instruction: a closure over its operands that executes it and
    returns the next pc."""

    def fill(text: str) -> str:
        return TOKEN.sub(lambda m: _INTERP_TOKENS[m.group(1)], text)

    lines = [fill(s) for s in op.body]
    term = op.term
    if term is None:
        lines.append("return npc")
    elif term == "branch":
        lines.append(f"return tgt if {fill(op.cond)} else npc")
    elif term == "jal":
        lines += ["x[rd] = npc", "return tgt"]
    elif term == "jalr":
        lines += [f"t = (x[rs1] + imm) & {int(MK, 16) - 1:#x}", "x[rd] = npc", "return t"]
    elif term == "ecall":
        lines += ["SYS()", "return npc"]
    elif term == "fence.i":
        lines += ["FLUSH()", "return npc"]
    elif term == "ebreak":
        lines += ["TRAP(pc)"]
    else:
        lines += [f"ILL(pc, imm, {length})"]
    body = "\n        ".join(lines)
    return (
        "def make(rd, rs1, rs2, imm, ex, pc):\n"
        f"    npc = pc + {length}\n"
        f"    tgt = (pc + imm) & {MK}\n"
        "    rm = ex & 7\n"
        "    rs3 = ex >> 3\n"
        "    def h():\n"
        f"        {body}\n"
        "    return h\n"
    )


def compile_handlers(globals_: dict[str, Any]) -> dict[tuple[str, int], Callable[..., Any]]:
    """One handler factory per (operation, instruction length)."""
    factories: dict[tuple[str, int], Callable[..., Any]] = {}
    for name, op in OPS.items():
        for length in (2, 4):
            ns: dict[str, Any] = {}
            source = _factory_source(op, length)
            exec(compile(source, f"<op {name}>", "exec"), globals_, ns)  # noqa: S102 - generated handlers
            factories[name, length] = ns["make"]
    return factories


class Interpreter:
    """Runs a :class:`Machine` instruction by instruction.

    Each address is decoded once into a handler closure (threaded code); the
    loop is ``pc = handlers[pc]()``.
    """

    name = "interp"

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.factories = compile_handlers(machine.globals)
        self.cache: dict[int, Callable[[], int]] = {}
        #: pcs whose instruction may transfer control (the end of a basic block).
        self.transfers: set[int] = set()
        self.decoded = 0
        machine.flush_hooks.append(self.forget)

    def forget(self) -> None:
        self.cache.clear()
        self.transfers.clear()

    def predecode(self, pc: int) -> Callable[[], int]:
        ins: Instr = self.m.fetch(pc)
        op = OPS[ins.kind]
        self.decoded += 1
        rd = ins.rd
        if rd == 0 and (any("RD" in line for line in op.body) or op.term in ("jal", "jalr")):
            rd = 32  # writes to x0 land in a register nobody reads
        imm = ins.bits if ins.kind == "illegal" else ins.imm
        handler = self.factories[ins.kind, ins.length](rd, ins.rs1, ins.rs2, imm, ins.ex, pc)
        self.cache[pc] = handler
        if op.term is not None:
            self.transfers.add(pc)
        return handler

    def run(self, limit: int | None = None) -> int:
        """Run until the guest exits; returns its exit status."""
        m = self.m
        cache = self.cache
        pc = m.pc
        n = 0
        try:
            if limit is None:
                while True:
                    try:
                        while True:
                            pc = cache[pc]()
                            n += 1
                    except KeyError:
                        if pc in cache:
                            raise  # a KeyError from inside a handler, not a cache miss
                        self.predecode(pc)
            while n < limit:
                handler = cache.get(pc) or self.predecode(pc)
                pc = handler()
                n += 1
            raise GuestFault(f"instruction limit {limit} reached", pc)
        except GuestExit as done:
            n += 1
            return done.status
        except GuestFault as fault:
            fault.locate(pc)
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
