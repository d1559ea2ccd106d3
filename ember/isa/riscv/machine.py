"""One emulated RISC-V Linux process: registers, memory, FPU state, syscalls.

The engines (interpreter, translator) execute code generated from
:mod:`ember.isa.riscv.semantics`; that code runs with :attr:`Machine.globals`
as its global namespace, which holds the register files, the memory and the
helpers for the operations too rare or too complex to inline (division,
atomics, CSRs, system calls).
"""

from __future__ import annotations

import os
import struct
import time

from ember.isa.riscv.decode import decode
from ember.isa.riscv.errors import BusError, ElfError, GuestFault, IllegalInstruction, Leave
from ember.isa.riscv.fpu import Fpu, exact_quotient
from ember.isa.riscv.loader import build_stack, load_elf
from ember.isa.riscv.memory import PAGE, AddressSpace
from ember.isa.riscv.syscalls import Syscalls
from ember.log import get_logger

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ember.isa.riscv.decode import Instr

log = get_logger(__name__)

MK = (1 << 64) - 1
SB = 1 << 63
CSR_FFLAGS, CSR_FRM, CSR_FCSR = 0x001, 0x002, 0x003
CSR_CYCLE, CSR_TIME, CSR_INSTRET = 0xC00, 0xC01, 0xC02
#: rdtime ticks per second (the 10 MHz timebase of QEMU's virt board).
TIMEBASE_HZ = 10_000_000
#: Largest executable we read (a static glibc program is ~0.5 MiB).
MAX_ELF_SIZE = 256 << 20


def _sx(v: int) -> int:
    return v - (1 << 64) if v & SB else v


def _sx32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _tdiv(a: int, b: int) -> int:
    """Division truncating toward zero, as RISC-V (and C) define it."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def DIV(a: int, b: int) -> int:
    if a < SB and 0 < b < SB:  # both non-negative: the common case, one floor division
        return a // b
    if b == 0:
        return MK
    sa, sb = _sx(a), _sx(b)
    if sa == -SB and sb == -1:
        return a
    return _tdiv(sa, sb) & MK


def REM(a: int, b: int) -> int:
    if a < SB and 0 < b < SB:
        return a % b
    if b == 0:
        return a
    sa, sb = _sx(a), _sx(b)
    if sa == -SB and sb == -1:
        return 0
    return (sa - _tdiv(sa, sb) * sb) & MK


def DIVW(a: int, b: int) -> int:
    ua, ub = a & 0xFFFFFFFF, b & 0xFFFFFFFF
    if ua < 0x80000000 and 0 < ub < 0x80000000:  # a quotient below 2^31: no sign to extend
        return ua // ub
    sa, sb = _sx32(a), _sx32(b)
    if sb == 0:
        return MK
    if sa == -(1 << 31) and sb == -1:
        return sa & MK
    return _tdiv(sa, sb) & MK


def DIVUW(a: int, b: int) -> int:
    ua, ub = a & 0xFFFFFFFF, b & 0xFFFFFFFF
    if ub == 0:
        return MK
    return _sx32(ua // ub) & MK


def REMW(a: int, b: int) -> int:
    ua, ub = a & 0xFFFFFFFF, b & 0xFFFFFFFF
    if ua < 0x80000000 and 0 < ub < 0x80000000:
        return ua % ub
    sa, sb = _sx32(a), _sx32(b)
    if sb == 0:
        return sa & MK
    if sa == -(1 << 31) and sb == -1:
        return 0
    return (sa - _tdiv(sa, sb) * sb) & MK


def REMUW(a: int, b: int) -> int:
    ua, ub = a & 0xFFFFFFFF, b & 0xFFFFFFFF
    if ub == 0:
        return _sx32(ua) & MK
    return _sx32(ua % ub) & MK


class RunStats:
    """What ``--stats`` reports. (A plain class: ``dataclasses`` is off the
    start-up path; engines may add attributes, ``as_dict`` reports them all.)"""

    #: Blocks compiled to x86-64 (the native engine only). A class-level default,
    #: not set in ``__init__``: ``as_dict`` reports instance attributes, so the
    #: key appears only for the engine that assigns it.
    native_blocks: int = 0
    #: Traces whose compiled code came from the on-disk trace cache (the
    #: translating engines only; set the same way).
    stored_traces: int = 0

    def __init__(self, engine: str = "", instructions: int = 0, seconds: float = 0.0,
                 blocks_translated: int = 0, cache_hits: int = 0, cache_misses: int = 0,
                 chain_links: int = 0, translate_seconds: float = 0.0,
                 cold_instructions: int = 0, flushes: int = 0, invalidations: int = 0,
                 decoded: int = 0, syscalls: dict[int, int] | None = None) -> None:
        self.engine = engine
        self.instructions = instructions
        self.seconds = seconds
        self.blocks_translated = blocks_translated
        self.cache_hits = cache_hits
        self.cache_misses = cache_misses
        self.chain_links = chain_links
        self.translate_seconds = translate_seconds
        self.cold_instructions = cold_instructions
        self.flushes = flushes
        #: Page-granular invalidations (a store into a page of code).
        self.invalidations = invalidations
        self.decoded = decoded
        self.syscalls: dict[int, int] = dict(syscalls or {})
        #: CPU time of the run (user + system), next to the wall time in
        #: ``seconds``: on a shared host it excludes waiting for a CPU.
        self.cpu_seconds = 0.0

    def __repr__(self) -> str:
        return f"RunStats({self.as_dict()!r})"

    @property
    def mips(self) -> float:
        return self.instructions / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "syscalls"}
        d["mips"] = round(self.mips, 3)
        d["cpu_mips"] = round(self.instructions / self.cpu_seconds / 1e6, 3) if self.cpu_seconds > 0 else 0.0
        d["syscalls"] = {str(k): v for k, v in sorted(self.syscalls.items())}
        return d


class Machine:
    """A loaded program, ready for an engine to run it."""

    def __init__(self, path: str, argv: list[str] | None = None,
                 env: list[str] | None = None) -> None:
        try:
            size = os.path.getsize(path)
            if size > MAX_ELF_SIZE:
                raise ElfError(f"{path}: {size} bytes is too large for an executable")
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ElfError(f"cannot read {path}: {exc.strerror}") from None
        self.space = AddressSpace()
        image = load_elf(data, self.space)
        self.x: list[int] = [0] * 33  # x0..x31, plus x[32]: where writes to x0 go
        self.f: list[int] = [0] * 32
        self.fpu = Fpu()
        argv = list(argv) if argv else [path]
        env = list(env) if env is not None else [f"{k}={v}" for k, v in os.environ.items()]
        self.x[2] = build_stack(self.space, image, argv, env, argv[0])
        self.pc = image.entry
        self.instret = 0
        self.reservation: int | None = None
        self.syscalls = Syscalls(self, path)
        #: Pages holding code some engine decoded; stores to them flush.
        self.code_pages: set[int] = set()
        #: The same as one byte per page (1 = code here or on the next page,
        #: which a store starting here may reach), for native code to test.
        self.code_map = bytearray(self.space.size // PAGE)
        self.flush_hooks: list[Callable[[], None]] = []
        #: Engines that can forget single pages register here too (pages,
        #: pcs decoded there); while any engine cannot, every invalidation
        #: is a whole flush.
        self.page_hooks: list[Callable[[set[int], list[int]], None]] = []
        #: page -> pcs decoded there (an instruction straddling two pages is
        #: listed under both).
        self.page_pcs: dict[int, list[int]] = {}
        #: Pages whose code was rewritten at least once (JIT buffers,
        #: trampolines): the translator does not follow control into them.
        self.volatile_pages: set[int] = set()
        #: pc -> decoded instruction, shared by the engines (the translator
        #: decodes again what its cold path already interpreted).
        self.decoded: dict[int, Instr] = {}
        self.flushes = 0
        self.invalidations = 0
        self._word = struct.Struct("<I").unpack_from
        self.globals = self._make_globals()

    # -- namespace of generated code ----------------------------------------------
    def _make_globals(self) -> dict[str, Any]:
        def unpack(fmt: str) -> Callable[..., tuple[int, ...]]:
            return struct.Struct(fmt).unpack_from

        def pack(fmt: str) -> Callable[..., None]:
            return struct.Struct(fmt).pack_into

        return {
            "__builtins__": __builtins__,
            "x": self.x, "f": self.f, "mem": self.space.mem, "FPU": self.fpu,
            # The FPU's scratch cell and exactness test, for translated FP code.
            "CQ": self.fpu.as_u64, "CD": self.fpu.as_f64, "CI": self.fpu.as_u32,
            "CF": self.fpu.as_f32, "EXQ": exact_quotient, "NAN": float("nan"),
            "LB": unpack("<b"), "LH": unpack("<h"), "LHU": unpack("<H"), "LW": unpack("<i"),
            "LWU": unpack("<I"), "LD": unpack("<Q"),
            "SH": pack("<H"), "SW": pack("<I"), "SD": pack("<Q"),
            "DIV": DIV, "REM": REM, "DIVW": DIVW, "DIVUW": DIVUW, "REMW": REMW, "REMUW": REMUW,
            "M": self, "CSR": self.csr, "AMO": self.amo, "LR": self.lr, "SC": self.sc,
            "SYS": self.syscalls, "FLUSH": self.flush, "SMC": self.smc, "LEAVE": self.leave,
            "Leave": Leave,
            "TRAP": self.trap, "ILL": self.illegal,
            # Bounds of pages with decoded code (empty range: no check hits).
            "CLO": 0, "CHI": 0,
            **{name: view for name, view in self.space.views().items() if name != "_raw"},
        }

    # -- instruction fetch and code invalidation ------------------------------------
    def fetch(self, pc: int) -> Instr:
        """Decode the instruction at pc; a fetch outside executable memory faults."""
        ins = self.decoded.get(pc)
        if ins is not None:
            return ins
        space = self.space
        if pc >> 12 in space.exec_pages and pc & 0xFFF <= PAGE - 4 and not pc & 1:
            # The common case: all four bytes inside one executable page.
            self.note_code(pc)
            ins = self.decoded[pc] = decode(self._word(space.mem, pc)[0])
            self.page_pcs.setdefault(pc // PAGE, []).append(pc)
            return ins
        if pc & 1 or not space.executable(pc, 2):
            raise GuestFault("instruction fetch from unmapped or non-executable memory", pc)
        lo = space.mem[pc] | space.mem[pc + 1] << 8
        if lo & 3 == 3:
            if not space.executable(pc, 4):
                raise GuestFault("instruction straddles the end of executable memory", pc)
            word = lo | space.mem[pc + 2] << 16 | space.mem[pc + 3] << 24
        else:
            word = lo
        self.note_code(pc)
        ins = self.decoded[pc] = decode(word)
        self.page_pcs.setdefault(pc // PAGE, []).append(pc)
        last = (pc + ins.length - 1) // PAGE
        if last != pc // PAGE:  # straddling: a store to either page changes it
            self.note_code(last * PAGE)
            self.page_pcs.setdefault(last, []).append(pc)
        return ins

    def note_code(self, pc: int) -> None:
        page = pc // PAGE
        if page in self.code_pages:
            return
        self.code_pages.add(page)
        self.code_map[page] = 1
        if page:
            self.code_map[page - 1] = 1
        g = self.globals
        lo, hi = page * PAGE, (page + 2) * PAGE  # +1 page: instructions may straddle
        if g["CHI"] == 0:
            g["CLO"], g["CHI"] = lo, hi
        else:
            g["CLO"], g["CHI"] = min(g["CLO"], lo), max(g["CHI"], hi)
        # a store of up to 8 bytes may end inside the range
        g["CLO"] = max(0, g["CLO"] - 8)

    def smc(self, addr: int) -> bool:
        """A store hit the range of code pages: invalidate the code of the pages
        it hit (True then: translated code leaves its trace after the store)."""
        pages = {addr // PAGE, (addr + 7) // PAGE} & self.code_pages
        if not pages:
            return False
        log.debug("store to code page at 0x%x: invalidating its translated code", addr)
        self.volatile_pages |= pages
        self.invalidate(pages)
        return True

    def leave(self, addr: int, pc: int, executed: int) -> None:
        """Translated code stored into the range of code pages: if that flushed
        decoded code, leave the trace (continue at pc)."""
        if self.smc(addr):
            raise Leave(pc, executed)

    def code_changed(self, lo: int, hi: int) -> None:
        """Memory [lo, hi) was rewritten behind the engines' back (a syscall)."""
        g = self.globals
        if hi > lo and hi > g["CLO"] and lo < g["CHI"]:  # (most writes miss the code's bounds)
            pages = {p for p in self.code_pages if lo // PAGE <= p <= (hi - 1) // PAGE}
            if pages:
                self.invalidate(pages)

    def invalidate(self, pages: set[int]) -> None:
        """Forget the decoded and translated code of these pages (code pages),
        or everything when some engine can only flush whole."""
        if len(self.page_hooks) < len(self.flush_hooks):
            self.flush()
            return
        self.invalidations += 1
        pcs: list[int] = []
        decoded = self.decoded
        for page in pages:
            self.code_pages.discard(page)
            for pc in self.page_pcs.pop(page, ()):
                if decoded.pop(pc, None) is not None:
                    pcs.append(pc)
        # code_map[p] is 1 when page p or p + 1 holds code (see note_code).
        code_map = self.code_map
        for page in pages:
            for p in (page - 1, page):
                if p >= 0:
                    code_map[p] = 1 if p in self.code_pages or p + 1 in self.code_pages else 0
        g = self.globals
        if self.code_pages:
            g["CLO"] = max(0, min(self.code_pages) * PAGE - 8)
            g["CHI"] = (max(self.code_pages) + 2) * PAGE
        else:
            g["CLO"] = g["CHI"] = 0
        for hook in self.page_hooks:
            hook(pages, pcs)

    def flush(self) -> None:
        """fence.i, or code was overwritten: forget every decoded instruction."""
        self.flushes += 1
        self.code_pages.clear()
        self.code_map[:] = bytes(len(self.code_map))
        self.decoded.clear()
        self.page_pcs.clear()
        self.globals["CLO"] = self.globals["CHI"] = 0
        for hook in self.flush_hooks:
            hook()

    # -- helpers called by generated code --------------------------------------------
    def trap(self, pc: int) -> None:
        raise GuestFault("ebreak (breakpoint trap, SIGTRAP)", pc)

    def illegal(self, pc: int, bits: int, length: int) -> None:
        raise IllegalInstruction(pc, bits, length)

    def csr(self, number: int, op: int, value: int, write: bool) -> int:
        fpu = self.fpu
        if number == CSR_FFLAGS:
            old = fpu.flags
        elif number == CSR_FRM:
            old = fpu.frm
        elif number == CSR_FCSR:
            old = fpu.frm << 5 | fpu.flags
        elif number in (CSR_CYCLE, CSR_INSTRET):
            old = self.instret
        elif number == CSR_TIME:
            old = time.monotonic_ns() * TIMEBASE_HZ // 10**9
        else:
            raise GuestFault(f"access to unsupported CSR 0x{number:03x} (illegal instruction)")
        if write:
            if number >= CSR_CYCLE:
                raise GuestFault(f"write to read-only CSR 0x{number:03x} (illegal instruction)")
            new = value if op == 0 else (old | value) if op == 1 else (old & ~value)
            if number == CSR_FFLAGS:
                fpu.flags = new & 0x1F
            elif number == CSR_FRM:
                fpu.frm = new & 7
            else:
                fpu.flags, fpu.frm = new & 0x1F, (new >> 5) & 7
        return old

    def _atomic_addr(self, addr: int, size: int) -> None:
        if addr & (size - 1):
            raise BusError(f"misaligned atomic access to 0x{addr:x} (SIGBUS)")
        if addr + size > self.space.size:
            raise GuestFault(f"atomic access to unmapped memory 0x{addr:x}")

    def _load(self, addr: int, size: int) -> int:
        raw = int.from_bytes(self.space.mem[addr:addr + size], "little")
        return _sx32(raw) & MK if size == 4 else raw

    def _store(self, addr: int, value: int, size: int) -> None:
        self.space.mem[addr:addr + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        g = self.globals
        if g["CLO"] <= addr < g["CHI"]:
            self.smc(addr)

    def lr(self, addr: int, size: int) -> int:
        self._atomic_addr(addr, size)
        self.reservation = addr
        return self._load(addr, size)

    def sc(self, addr: int, value: int, size: int) -> int:
        self._atomic_addr(addr, size)
        if self.reservation != addr:
            self.reservation = None
            return 1
        self.reservation = None
        self._store(addr, value, size)
        return 0

    def amo(self, op: str, addr: int, value: int, size: int) -> int:
        self._atomic_addr(addr, size)
        old = self._load(addr, size)
        if size == 4:
            a, b = _sx32(old), _sx32(value)
            ua, ub = old & 0xFFFFFFFF, value & 0xFFFFFFFF
        else:
            a, b = _sx(old), _sx(value)
            ua, ub = old, value
        if op == "add":
            new = a + b
        elif op == "swap":
            new = value
        elif op == "xor":
            new = old ^ value
        elif op == "or":
            new = old | value
        elif op == "and":
            new = old & value
        elif op == "min":
            new = min(a, b)
        elif op == "max":
            new = max(a, b)
        elif op == "minu":
            new = min(ua, ub)
        else:
            new = max(ua, ub)
        self._store(addr, new, size)
        return old
