"""The interpreter: one pre-decoded record and one handler call per instruction.

Each operation of :mod:`ember.isa.riscv.semantics` is compiled once into a
handler factory (two variants: 4- and 2-byte instructions). Decoding happens
once per address and yields a closure over the instruction's operands that
executes it and returns the next pc; the decode cache maps pc to that closure,
so the loop is a dict lookup and a call.
"""

from __future__ import annotations

import re
import struct
import sys
import time

from ember.isa.riscv.errors import GuestExit, GuestFault
from ember.isa.riscv.semantics import MK, OPS
from ember.log import get_logger

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ember.isa.riscv.decode import Instr
    from ember.isa.riscv.machine import Machine, RunStats
    from ember.isa.riscv.semantics import Op

log = get_logger(__name__)

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


def _module_source() -> str:
    """One module defining every handler factory, ``make_<i>_<length>``, plus the
    table ``FACTORIES`` mapping (operation, length) to them."""
    parts = []
    table = []
    for i, (name, op) in enumerate(OPS.items()):
        for length in (2, 4):
            src = _factory_source(op, length).replace("def make(", f"def make_{i}_{length}(", 1)
            parts.append(src)
            table.append(f"    ({name!r}, {length}): make_{i}_{length},")
    return "\n".join(parts) + "\nFACTORIES = {\n" + "\n".join(table) + "\n}\n"


def _cache_file() -> str | None:
    """Where the compiled handler module is kept between runs, keyed by the
    sources it is generated from and the Python version (None: no cache)."""
    import os
    import zlib  # (hashlib would cost more start-up than the cache saves)

    here = os.path.dirname(os.path.abspath(__file__))
    data = sys.version.encode()
    try:
        for name in ("semantics.py", "interp.py"):
            with open(os.path.join(here, name), "rb") as fh:
                data += fh.read()
    except OSError:
        return None
    key = f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}{len(data):x}"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ember", "isa", f"handlers-{key}.marshal")


def _handlers_code() -> Any:
    """The code object of the handler module: loaded from the cache, or compiled
    (330 factories, ~50 ms) and stored there for the next run."""
    import marshal
    import os

    path = _cache_file()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                return marshal.loads(fh.read())
        except (OSError, EOFError, ValueError, TypeError):
            pass
    code = compile(_module_source(), "<isa handlers>", "exec")
    if path is not None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "wb") as fh:
                fh.write(marshal.dumps(code))
            os.replace(tmp, path)  # atomic: concurrent runs never read half a file
            folder = os.path.dirname(path)
            for name in os.listdir(folder):  # versions of other sources
                if name.startswith("handlers-") and name.endswith(".marshal") \
                        and name != os.path.basename(path):
                    os.unlink(os.path.join(folder, name))
        except OSError as exc:
            log.debug("cannot cache the interpreter's handlers in %s: %s", path, exc)
    return code


def compile_handlers(globals_: dict[str, Any]) -> dict[tuple[str, int], Callable[..., Any]]:
    """One handler factory per (operation, instruction length), bound to the
    machine's namespace. The module is compiled once and cached on disk, so
    start-up does not pay compile() for it."""
    ns = dict(globals_)
    exec(_handlers_code(), ns)  # noqa: S102 - generated handlers
    factories: dict[tuple[str, int], Callable[..., Any]] = ns["FACTORIES"]
    # The factories must see the machine's namespace itself (CLO/CHI change).
    import types

    return {key: types.FunctionType(fn.__code__, globals_, fn.__name__)
            for key, fn in factories.items()}


#: Operations that may transfer control (they end a basic block).
_TRANSFERS = {name for name, op in OPS.items() if op.term is not None}
#: Operations whose template writes RD, or that link (jal, jalr).
_WRITES_RD = {name for name, op in OPS.items()
              if any("RD" in line for line in op.body) or op.term in ("jal", "jalr")}


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
        machine.page_hooks.append(self.forget_pcs)

    def forget(self) -> None:
        self.cache.clear()
        self.transfers.clear()

    def forget_pcs(self, _pages: set[int], pcs: list[int]) -> None:
        cache, transfers = self.cache, self.transfers
        for pc in pcs:
            cache.pop(pc, None)
            transfers.discard(pc)

    def predecode(self, pc: int) -> Callable[[], int]:
        ins: Instr = self.m.fetch(pc)
        kind = ins.kind
        self.decoded += 1
        rd = ins.rd
        if rd == 0 and kind in _WRITES_RD:
            rd = 32  # writes to x0 land in a register nobody reads
        imm = ins.bits if kind == "illegal" else ins.imm
        handler: Callable[[], int] = self.factories[kind, ins.length](rd, ins.rs1, ins.rs2, imm,
                                                                      ins.ex, pc)
        self.cache[pc] = handler
        if kind in _TRANSFERS:
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
        from ember.isa.riscv.machine import RunStats

        return RunStats(engine=self.name, instructions=self.m.instret, seconds=seconds,
                        decoded=self.decoded, flushes=self.m.flushes,
                        invalidations=self.m.invalidations,
                        syscalls=dict(self.m.syscalls.counts))


def timed_run(engine: Any, limit: int | None = None) -> tuple[int, RunStats]:
    start = time.perf_counter()
    cpu = time.process_time()
    try:
        status = engine.run(limit)
    finally:
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    stats = engine.stats(elapsed)
    stats.cpu_seconds = cpu
    return status, stats
