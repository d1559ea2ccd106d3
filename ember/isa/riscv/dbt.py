"""Dynamic binary translation: hot guest code becomes Python functions (traces).

A block is first run by the interpreter's handlers; once it has run
HOT_THRESHOLD times it is translated into a *trace*: the instructions from its
pc along the direction each conditional branch took most often while its code
was cold (the fall-through when unknown), through direct jumps,
*into* called functions (jal with a link register) and back out of them at
their return (a ``ret`` whose target is the predicted return address, guarded
by one comparison), and through other indirect jumps that had one target
while cold (guarded the same way), up to MAX_BLOCK instructions. The operations' templates
(:mod:`ember.isa.riscv.semantics`) are pasted into one Python function with
every operand a constant and the busy integer registers local variables
(loaded once at entry, stored once at exit; x0 is the constant 0). A transfer
back to the trace's head is ``continue`` of a ``while True`` loop, so a hot
loop (or a recursion that calls its own head) runs inside one Python frame.

The function returns the *next block function*:

* direct successors (side exits of branches, the fall-through) go through
  per-trace exit slots ``E[i]``, which start as stubs that look up (or
  interpret, or translate) the target and then patch the slot: traces chain
  to each other and the dispatch loop is just ``while True: block = block()``;
* indirect jumps (jalr, and returns that miss their prediction) probe the code
  cache (pc -> block) inline.

fence.i, the riscv_flush_icache syscall and any store into a page holding
decoded code flush the caches and reset every exit slot to a stub; a store
that flushes also leaves its trace right after itself, so the rest of a trace
never runs stale code. With ``cache=False`` nothing is kept: every block
executed is translated again (the baseline showing what the code cache buys).
"""

from __future__ import annotations

import sys
import time

from ember.isa.riscv.errors import GuestExit, GuestFault
from ember.isa.riscv.fpu import DYN, RMM, RNE
from ember.isa.riscv.interp import MEMORY_ERRORS, TOKEN
from ember.isa.riscv.machine import CSR_FCSR, CSR_FFLAGS, CSR_FRM
from ember.isa.riscv.memory import PAGE
from ember.isa.riscv.semantics import OPS
from ember.isa.riscv.tracecache import TraceCache
from ember.isa.riscv.tracecache import enabled as trace_cache_enabled
from ember.log import get_logger

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any

    from ember.isa.riscv.decode import Instr
    from ember.isa.riscv.machine import Machine, RunStats

    Block = Callable[[], Any]

log = get_logger(__name__)

#: Longest run of instructions translated as one trace.
MAX_BLOCK = 48
#: Executions of a block before it is translated. compile() costs about as
#: much as interpreting a block a hundred times, and most of a static
#: program's code (start-up, formatting) runs only a handful of times, so
#: cold blocks are interpreted with the interpreter's pre-decoded handlers.
HOT_THRESHOLD = 40
#: Times HOT_THRESHOLD for blocks in pages whose code was rewritten before.
VOLATILE_HOTNESS = 8
#: A trace this long ends where another trace starts (0: never).
JOIN_AFTER = 8
#: Failed aligned-access guards after which a trace is translated again
#: without the aligned fast path.
GUARD_MISSES = 32
#: Instructions a translated loop runs before returning to the dispatcher.
LOOP_SLICE = 1 << 20
MASK = (1 << 64) - 1
MK = "0xFFFFFFFFFFFFFFFF"
SB = "0x8000000000000000"
#: Registers that hold return addresses (the calling convention's ra and t0):
#: a ``jalr x0, 0(link)`` after a followed call is a predicted return.
LINK_REGISTERS = (1, 5)
_ADDR = "({R1} + {IMM}) & 0xFFFFFFFFFFFFFFFF"
_MEMORY = {"lb", "lh", "lw", "ld", "lbu", "lhu", "lwu", "sb", "sh", "sw", "sd",
           "flw", "fld", "fsw", "fsd"}


#: Loads and stores the aligned fast path handles: kind -> (width, store,
#: view, code template). {V}: the view element; {R}: RD / R2 / FD / F2.
_FAST: dict[str, tuple[int, bool, str, str]] = {
    "ld": (8, False, "MQ", "{R} = {V}"),
    "lwu": (4, False, "MW", "{R} = {V}"),
    "lw": (4, False, "MSW", "v = {V}\n{R} = v if v >= 0 else v + 0x10000000000000000"),
    "lhu": (2, False, "MH", "{R} = {V}"),
    "lh": (2, False, "MSH", "v = {V}\n{R} = v if v >= 0 else v + 0x10000000000000000"),
    "sd": (8, True, "MQ", "{V} = {R}"),
    "sw": (4, True, "MW", "{V} = {R} & 0xFFFFFFFF"),
    "sh": (2, True, "MH", "{V} = {R} & 0xFFFF"),
    "sb": (1, True, "", "{V} = {R} & 0xFF"),
    "fld": (8, False, "MQ", "{R} = {V}"),
    "flw": (4, False, "MW", "{R} = 0xFFFFFFFF00000000 | {V}"),
    "fsd": (8, True, "MQ", "{V} = {R}"),
    "fsw": (4, True, "MW", "{V} = {R} & 0xFFFFFFFF"),
}
_SHIFT = {1: 0, 2: 1, 4: 2, 8: 3}


def _memory_groups(instrs: list[tuple[int, Instr]], kinds: list[_Kind]) -> dict[int, tuple[int, int]]:
    """Plan the aligned fast path: runs of loads and stores through the same
    base register (not written in between) share one guard, placed before the
    run's first access, that checks the base's alignment for the widest access,
    that no offset makes the address negative and that no store can reach a
    page of decoded code (every such store lies above CHI). Returns
    index -> (group id, index of the group's first access) for the accesses in
    runs of two or more and for lone stores; lone loads keep the struct path."""
    groups: list[list[int]] = []
    open_: dict[int, int] = {}  # base register -> group id
    for i, ((_, ins), k) in enumerate(zip(instrs, kinds)):
        fast = _FAST.get(ins.kind)
        if fast is not None and ins.rs1 and ins.imm % fast[0] == 0:
            gid = open_.get(ins.rs1)
            if gid is None:
                gid = open_[ins.rs1] = len(groups)
                groups.append([])
            groups[gid].append(i)
        if ins.rd and k.rd:  # a write to a base register ends its run
            open_.pop(ins.rd, None)
    plan: dict[int, tuple[int, int]] = {}
    for gid, members in enumerate(groups):
        # A lone load gains little (a guard and a subscript against a struct
        # call); a lone store gains its code-page check too.
        if len(members) >= 2 or _FAST[instrs[members[0]][1].kind][1]:
            for i in members:
                plan[i] = (gid, members[0])
    return plan


class _Kind:
    """What the code generator needs to know about one operation, computed once."""

    __slots__ = ("body", "cond", "pure", "r1", "r2", "rd", "store", "term")

    def __init__(self, kind: str) -> None:
        op = OPS[kind]

        def conv(text: str) -> str:
            text = TOKEN.sub(lambda m: "{" + m.group(1) + "}", text)
            # Address arithmetic of loads and stores: see _address().
            return text.replace(_ADDR, "{A}") if kind in _MEMORY else text

        body = [conv(line) for line in op.body]
        self.store = bool(body) and body[-1].startswith("if a < CHI")
        if self.store:
            body.pop()  # the code-page check is generated with a trace exit
        self.body = tuple(body)
        self.cond = conv(op.cond)
        self.term = op.term
        self.pure = op.pure
        tokens = TOKEN.findall("\n".join(op.body) + "\n" + op.cond)
        # Register uses (reads and writes), to choose which become locals;
        # jal and jalr write the link register, jalr reads R1.
        self.r1 = tokens.count("R1") + (op.term == "jalr")
        self.r2 = tokens.count("R2")
        self.rd = tokens.count("RD") + (op.term in ("jal", "jalr"))


_KINDS: dict[str, _Kind] = {}


def _kind(name: str) -> _Kind:
    k = _KINDS.get(name)
    if k is None:
        k = _KINDS[name] = _Kind(name)
    return k


def _target(at: int, ins: Instr) -> int | None:
    """The static target of a branch or jal (None for other instructions)."""
    term = OPS[ins.kind].term
    if term in ("branch", "jal"):
        return (at + ins.imm) & MASK
    return None


def _address(r1: str, imm: int) -> str:
    """The effective address of a load or store. A non-negative offset needs no
    wrap-around mask: a sum of 2^64 or more lies beyond the space and faults
    just the same; a negative one is masked (a small negative sum must not be
    read as an offset from the end of the buffer)."""
    if r1 == "0":
        return str(imm & MASK)
    if imm == 0:
        return r1
    if imm > 0:
        return f"{r1} + {imm}"
    return f"({r1} - {-imm}) & {MK}"


def _special(kind: str, ins: Instr, r1: str, r2: str, rd: str) -> list[str] | None:
    """Cheaper code for common cases the generic template covers more slowly
    (operands known at translation time); None: use the template."""
    if kind == "addi":
        imm = ins.imm
        if r1 == "0":
            return [f"{rd} = {imm & MASK}"]
        if imm == 0:
            return [f"{rd} = {r1}"]
        if imm > 0:
            return [f"{rd} = ({r1} + {imm}) & {MK}"]
        # Subtracting: a compare is cheaper than masking the (rarely) negative result.
        return [f"v = {r1} - {-imm}", f"{rd} = v if v >= 0 else v + 0x10000000000000000"]
    if kind == "add" and (r1 == "0" or r2 == "0"):
        return [f"{rd} = {r2 if r1 == '0' else r1}"]
    if kind == "slti":  # signed r1 < imm without computing the signed value
        imm = ins.imm
        if imm >= 0:
            return [f"{rd} = 1 if {r1} < {imm} or {r1} >= {SB} else 0"]
        return [f"{rd} = 1 if {SB} <= {r1} < {imm & MASK} else 0"]
    if kind == "slt" and r2 == "0":  # sltz
        return [f"{rd} = 1 if {r1} >= {SB} else 0"]
    if kind == "slt" and r1 == "0":  # sgtz
        return [f"{rd} = 1 if 0 < {r2} < {SB} else 0"]
    if kind == "addiw" and ins.imm == 0:  # sext.w
        return [f"v = {r1} & 0xFFFFFFFF", f"{rd} = v if v < 0x80000000 else v + 0xFFFFFFFF00000000"]
    if kind in _DIVIDE:
        # Both operands non-negative (nearly always): the host's floor
        # division is RISC-V's; otherwise the helper handles signs, zero
        # and overflow.
        op, helper, word = _DIVIDE[kind]
        if word:
            return [f"v = {r1} & 0xFFFFFFFF", f"w = {r2} & 0xFFFFFFFF",
                    (f"{rd} = v {op} w if v < 0x80000000 and 0 < w < 0x80000000 "
                     f"else {helper}({r1}, {r2})")]
        return [f"{rd} = {r1} {op} {r2} if {r1} < {SB} and 0 < {r2} < {SB} else {helper}({r1}, {r2})"]
    if kind in _AMO_FAST:
        return _amo(kind, r1, r2, rd)
    if kind in ("lr.w", "lr.d", "sc.w", "sc.d"):
        return _lr_sc(kind, r1, r2, rd)
    if kind.startswith("csr") and ins.imm in _FP_CSR:
        return _fp_csr(kind, ins, r1, rd)
    if kind in _FP_ARITH and ins.ex & 7 in (RNE, DYN):
        return _fp_arith(kind, ins)
    if kind in _FP_FROM_INT and ins.ex & 7 in (*_STATIC_RM, DYN):
        return _fp_from_int(kind, ins, r1)
    return None


#: Divisions with a fast path: kind -> (operator, helper, W operation).
_DIVIDE = {"div": ("//", "DIV", False), "rem": ("%", "REM", False),
           "divw": ("//", "DIVW", True), "remw": ("%", "REMW", True)}
#: AMOs with an inline fast path: the new memory value from the old one (v)
#: and the operand (w); min/max stay with the machine's helper.
_AMO_FAST = {f"amo{op}.{sfx}": expr for sfx in ("w", "d") for op, expr in
             (("add", "v + w"), ("swap", "w"), ("xor", "v ^ w"), ("or", "v | w"), ("and", "v & w"))}
#: fflags, frm, fcsr: read and written by glibc's fenv functions around every
#: FP operation they test.
_FP_CSR = (CSR_FFLAGS, CSR_FRM, CSR_FCSR)


def _amo(kind: str, r1: str, r2: str, rd: str) -> list[str]:
    """An aligned AMO above every page of decoded code is a load and a store
    through the typed views; anything else (misaligned: SIGBUS; a code page:
    invalidation) goes through the machine's helper. Out-of-range addresses
    fault in the view's subscript as any load does."""
    op = kind[3:-2]
    if kind.endswith(".w"):
        size, view, shift, mask = 4, "MW", 2, "0xFFFFFFFF"
        result = f"{rd} = v if v < 0x80000000 else v + 0xFFFFFFFF00000000"
    else:
        size, view, shift, mask = 8, "MQ", 3, MK
        result = f"{rd} = v"
    new = _AMO_FAST[kind]
    lines = [f"a = {r1}", f"w = {r2}",
             f"if a & {size - 1} or a < CHI: {rd} = AMO('{op}', a, w, {size})",
             "else:",
             f"  v = {view}[a >> {shift}]",
             # (a 32-bit view takes the low half of a 64-bit operand only masked)
             f"  {view}[a >> {shift}] = " + (f"({new}) & {mask}" if op == "add" or size == 4 and op != "and"
                                             else new),
             "  " + result]
    return lines


def _lr_sc(kind: str, r1: str, r2: str, rd: str) -> list[str]:
    """LR/SC on the typed views when aligned (and, for SC, above the code
    pages with the reservation held); the machine's helpers otherwise (the
    misaligned trap, a failing SC, a store that invalidates code)."""
    word = kind.endswith(".w")
    size, view, shift = (4, "MW", 2) if word else (8, "MQ", 3)
    if kind.startswith("lr"):
        return [f"a = {r1}",
                f"if a & {size - 1}: {rd} = LR(a, {size})",
                "else:",
                f"  v = {view}[a >> {shift}]",
                "  M.reservation = a",
                f"  {rd} = " + ("v if v < 0x80000000 else v + 0xFFFFFFFF00000000" if word else "v")]
    value = f"{r2} & 0xFFFFFFFF" if word else r2
    return [f"a = {r1}",
            f"if a & {size - 1} or a < CHI or M.reservation != a: {rd} = SC(a, {r2}, {size})",
            "else:",
            "  M.reservation = None",
            f"  {view}[a >> {shift}] = {value}",
            f"  {rd} = 0"]


_STATIC_RM = tuple(range(RMM + 1))
#: FP arithmetic inlined in round-to-nearest-even: kind -> (Python operator,
#: the FPU method the other cases call).
_FP_ARITH = {f"f{name}.{p}": (sym, f"{name}_{p}") for p in ("s", "d")
             for name, sym in (("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/"))}
#: fcvt from integers: kind -> (single, bits, signed).
_FP_FROM_INT = {f"fcvt.{p}.{it}": (p == "s", bits, signed) for p in ("s", "d")
                for it, bits, signed in (("w", 32, True), ("wu", 32, False), ("l", 64, True),
                                         ("lu", 64, False))}
_MIN_NORMAL = {"d": "2.2250738585072014e-308", "s": "1.1754943508222875e-38"}
_MAX_FINITE = {"d": "1.7976931348623157e308", "s": "3.4028234663852886e38"}


def _fp_arith(kind: str, ins: Instr) -> list[str]:
    """fadd/fsub/fmul/fdiv in RNE (static, or dynamic with frm = RNE) on host
    floats, as the FPU's fast path does it (see fpu.Fpu) but without the call:
    operands reinterpreted through the FPU's scratch cell (CQ/CD, CI/CF), the
    result kept when it is a finite normal number, NX decided exactly; any
    other case (NaNs, infinities, zeros, tiny or huge results, other modes, an
    improperly boxed single) calls the FPU method."""
    sym, method = _FP_ARITH[kind]
    single = kind.endswith(".s")
    p = "s" if single else "d"
    rm = ins.ex & 7
    fd, f1, f2 = f"f[{ins.rd}]", f"f[{ins.rs1}]", f"f[{ins.rs2}]"
    guard = "FPU.frm == 0 and " if rm == DYN else ""
    if single:
        # Bytes 0-3 of the cell hold the single, bytes 4-7 the NaN-box.
        lines = [f"CQ[0] = {f1}", "fa = CF[0]", "o = CI[1]", f"CQ[0] = {f2}", "fb = CF[0]"]
        boxed = "(o & CI[1]) == 0xFFFFFFFF"
    else:
        lines = [f"CQ[0] = {f1}", "fa = CD[0]", f"CQ[0] = {f2}", "fb = CD[0]"]
        boxed = ""
    if sym == "/":
        ok = f"fb and {boxed}" if boxed else "fb"  # x / 0 (and -0): the FPU method
    else:
        ok = boxed
    lines.append(f"fr = fa {sym} fb if {ok} else NAN" if ok else f"fr = fa {sym} fb")
    lines.append(f"if {guard}{_MIN_NORMAL[p]} <= (fr if fr >= 0.0 else -fr) <= {_MAX_FINITE[p]}:")
    if single:
        lines.append("  CF[0] = fr")  # rounded to single (innocuous double rounding)
        rounded = "CF[0] != fr or "
    else:
        rounded = ""
    if sym in "+-":
        other = "fb" if sym == "+" else "-fb"
        lines += ["  fs = fr - fa",
                  f"  if {rounded}(fa - (fr - fs)) + ({other} - fs) != 0.0: FPU.flags |= 1"]
    elif sym == "*":
        # A product of two singles is exact in double.
        lines.append("  if CF[0] != fr: FPU.flags |= 1" if single
                     else "  if not EXQ(fa, fr, fb): FPU.flags |= 1")
    else:
        lines.append("  if CF[0] * fb != fa: FPU.flags |= 1" if single
                     else "  if not EXQ(fr, fa, fb): FPU.flags |= 1")
    if single:
        lines.append(f"  {fd} = 0xFFFFFFFF00000000 | CI[0]")
    else:
        lines += ["  CD[0] = fr", f"  {fd} = CQ[0]"]
    lines.append(f"else: {fd} = FPU.{method}({f1}, {f2}, {rm})")
    return lines


def _fp_from_int(kind: str, ins: Instr, r1: str) -> list[str]:
    """fcvt.{s,d}.{w,wu,l,lu} of an integer the format holds exactly (|v| up to
    2^24 / 2^53): no rounding, no flags, the value through the scratch cell."""
    single, bits, signed = _FP_FROM_INT[kind]
    rm = ins.ex & 7
    fd = f"f[{ins.rd}]"
    if bits == 32:
        lines = [f"v = {r1} & 0xFFFFFFFF"]
        if signed:
            lines.append("v = v - 0x100000000 if v >= 0x80000000 else v")
    else:
        lines = [f"v = {r1} - 0x10000000000000000 if {r1} >= {SB} else {r1}" if signed
                 else f"v = {r1}"]
    tests = []
    if rm == DYN:
        tests.append("FPU.frm <= 4")  # a reserved frm faults in the FPU method
    if single or bits == 64:
        limit = 1 << (24 if single else 53)
        tests.append(f"-{limit} <= v <= {limit}" if signed else f"v <= {limit}")
    if single:
        body = ["CF[0] = v", f"{fd} = 0xFFFFFFFF00000000 | CI[0]"]
    else:
        body = ["CD[0] = v", f"{fd} = CQ[0]"]
    if not tests:
        return lines + body
    return [*lines, f"if {' and '.join(tests)}:", *("  " + b for b in body),
            f"else: {fd} = FPU.from_int({r1}, {single}, {rm}, {bits}, {signed})"]


def _fp_csr(kind: str, ins: Instr, r1: str, rd: str) -> list[str]:
    """fflags / frm / fcsr accesses on the FPU's attributes (the machine's CSR
    helper does the same with a call and a chain of tests)."""
    number = ins.imm
    old = {CSR_FFLAGS: "FPU.flags", CSR_FRM: "FPU.frm",
           CSR_FCSR: "(FPU.frm << 5 | FPU.flags)"}[number]
    immediate = kind.endswith("i")
    source = str(ins.ex) if immediate else r1
    writes = kind in ("csrrw", "csrrwi") or ins.ex != 0
    lines = [f"o = {old}"]
    if writes:
        new = {"csrrw": "{s}", "csrrs": "o | {s}", "csrrc": "o & ~{s}"}[kind.rstrip("i")].format(s=source)
        if number == CSR_FFLAGS:
            lines.append(f"FPU.flags = ({new}) & 0x1F")
        elif number == CSR_FRM:
            lines.append(f"FPU.frm = ({new}) & 7")
        else:
            lines += [f"v = {new}", "FPU.flags = v & 0x1F", "FPU.frm = (v >> 5) & 7"]
    if rd != "_":
        lines.append(f"{rd} = o")
    return lines


def _condition(kind: str, fmt: str, r1: str, r2: str) -> str:
    """A branch's taken condition; comparisons with x0 are simpler than the template."""
    if r2 == "0":
        if kind == "blt":
            return f"{r1} >= {SB}"
        if kind == "bge":
            return f"{r1} < {SB}"
    if r1 == "0":
        if kind == "blt":
            return f"0 < {r2} < {SB}"
        if kind == "bge":
            return f"not 0 < {r2} < {SB}"
    return fmt.format(R1=r1, R2=r2)


class Translator:
    """Runs a :class:`Machine` trace by trace through a code cache."""

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
        #: trace head -> (exit slots, their target pcs), to reset on flush.
        self.exits: dict[int, tuple[list[Any], tuple[int, ...]]] = {}
        #: page -> heads of the traces holding code from it, and trace head ->
        #: the exit slots linked to that trace: what a store into one page of
        #: code invalidates (the rest of the code cache stays).
        self.page_traces: dict[int, set[int]] = {}
        self.links_to: dict[int, list[tuple[list[Any], int]]] = {}
        #: block start pc -> guest pc of each source line (for fault reports).
        self.lines: dict[int, list[int]] = {}
        self.icount = [0]
        self.translated = 0
        self.hits = 0
        self.misses = 0
        self.links = 0
        self.translate_seconds = 0.0
        #: trace head -> failed aligned-access guards; heads translated without.
        self.guard_misses: dict[int, int] = {}
        self.careful: set[int] = set()
        #: Cold executions ending at a pc, and how many of them jumped away
        #: (a taken branch): traces follow a branch's usual direction.
        self.branch_seen: dict[int, int] = {}
        self.branch_taken: dict[int, int] = {}
        #: Indirect jumps: the last target while cold, and how often a jump
        #: went to the same target as the time before.
        self.jump_last: dict[int, int] = {}
        self.jump_same: dict[int, int] = {}
        #: (pc, after, careful, instructions...) -> compiled trace, survives flushes.
        self.compiled: dict[tuple[Any, ...], tuple[Any, tuple[int, ...], list[int]]] = {}
        #: Compiled traces of earlier runs of this program (None: not kept).
        self.store: TraceCache | None = None
        if cache and trace_cache_enabled():
            self.store = TraceCache(machine.syscalls.exe_path)
        g = machine.globals
        g["IC"] = self.icount
        g["J"] = self.lookup
        g["C"] = self.cache
        g["SLOW"] = self.slow
        machine.flush_hooks.append(self.flush)
        machine.page_hooks.append(self.forget_pages)

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
        icount = self.icount
        seen, taken = self.branch_seen, self.branch_taken
        last, same = self.jump_last, self.jump_same
        count = 0
        # Code in a page that was rewritten before is likely rewritten again
        # (a JIT's buffer): it must prove itself longer before it is compiled.
        threshold = self.hot_threshold * (VOLATILE_HOTNESS if pc // PAGE in self.m.volatile_pages
                                          else 1)

        def cold() -> Any:
            nonlocal count
            count += 1
            if count >= threshold:
                block = self.translate(pc)
                if self.use_cache:
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
                icount[0] += n
                self.cold_instructions += n
            # The profile traces are built from: which way this block's last
            # instruction went (only a branch that ran goes either way).
            seen[p] = seen.get(p, 0) + 1
            if q != p + 4 and q != p + 2:
                taken[p] = taken.get(p, 0) + 1
                if last.get(p) == q:  # and whether a jump goes where it went before
                    same[p] = same.get(p, 0) + 1
                else:
                    last[p] = q
            return self.lookup(q)

        cold.cold = True  # type: ignore[attr-defined]
        return cold

    def flush(self) -> None:
        self.cache.clear()
        for slots, targets in self.exits.values():
            for i, target in enumerate(targets):
                slots[i] = self._stub(slots, i, target)
        self.exits.clear()
        self.page_traces.clear()
        self.links_to.clear()

    def forget_pages(self, pages: set[int], pcs: list[int]) -> None:
        """Code in these pages changed: drop the traces holding any of it (and
        unlink every exit slot chained to them) and the cold stand-ins of
        blocks starting there; other traces stay translated and chained."""
        heads: set[int] = set()
        for page in pages:
            heads |= self.page_traces.pop(page, set())
        cache = self.cache
        for pc in pcs:
            cache.pop(pc, None)
        for head in heads:
            cache.pop(head, None)
            self.exits.pop(head, None)
            for slots, i in self.links_to.pop(head, ()):
                slots[i] = self._stub(slots, i, head)

    def _stub(self, slots: list[Any], i: int, target: int) -> Block:
        def stub() -> Any:
            block = self.lookup(target)
            if self.use_cache and not hasattr(block, "cold"):
                slots[i] = block
                self.links_to.setdefault(target, []).append((slots, i))
                self.links += 1
            return block()

        return stub

    # -- translation ------------------------------------------------------------------
    def _decode_trace(self, pc: int) -> tuple[list[tuple[int, Instr]], int | None]:
        """Instructions of the trace starting at pc, in execution order: along
        fall-through paths, direct jumps, calls and their predicted returns; and
        the pc control reaches after the last one (None when the last
        instruction leaves the trace itself: an indirect jump, ecall...).

        A ``jalr`` in the list that is not the last, or the last one with
        ``after`` set, is predicted to jump to the next pc (or ``after``): the
        return of a call followed in this trace, or the one target the jump
        had while its code was cold."""
        out: list[tuple[int, Instr]] = []
        seen: set[int] = set()
        returns: list[tuple[int, int]] = []  # (link register, return address) of followed calls
        fetch = self.m.fetch
        addr = pc
        cache = self.cache
        volatile = self.m.volatile_pages
        while len(out) < MAX_BLOCK:
            if addr in seen:
                return out, addr  # back to code already in the trace
            if volatile and out and addr // PAGE in volatile and addr // PAGE != pc // PAGE:
                # Code that gets rewritten (a JIT's buffer): a trace running
                # into it would be invalidated with it every time.
                return out, addr
            if len(out) >= JOIN_AFTER and JOIN_AFTER:
                block = cache.get(addr)
                if block is not None and not hasattr(block, "cold"):
                    # Chain to the trace already there rather than compile
                    # its code into this one again.
                    return out, addr
            try:
                ins = fetch(addr)
            except GuestFault:
                if not out:
                    raise
                return out, addr  # the trace ends where executable memory does
            out.append((addr, ins))
            seen.add(addr)
            term = OPS[ins.kind].term
            if term is None:
                addr += ins.length
            elif term == "branch":
                # Follow the direction the branch took most often while cold
                # (the fall-through when nothing is known): fewer side exits.
                target = (addr + ins.imm) & MASK
                runs = self.branch_seen.get(addr, 0)
                if runs and 2 * self.branch_taken.get(addr, 0) > runs and target != addr + ins.length:
                    addr = target
                else:
                    addr += ins.length
            elif term == "jal":
                if ins.rd:
                    returns.append((ins.rd, addr + ins.length))
                addr = (addr + ins.imm) & MASK
            elif term == "jalr":
                if returns and ins.rd == 0 and ins.imm == 0 and ins.rs1 == returns[-1][0]:
                    addr = returns.pop()[1]  # the return of a call in this trace
                    continue
                # Otherwise follow the target this jump had (nearly) every time
                # it ran cold, if it had one: a return to the usual caller, a
                # function pointer that never changes.
                runs = self.branch_seen.get(addr, 0)
                usual = self.jump_last.get(addr)
                if usual is None or runs < 8 or 4 * self.jump_same.get(addr, 0) < 3 * runs:
                    return out, None
                if ins.rd:
                    returns.append((ins.rd, addr + ins.length))
                addr = usual
            else:
                return out, None
        return out, addr

    def translate(self, pc: int) -> Block:
        start = time.perf_counter()
        instrs, after = self._decode_trace(pc)
        # Code flushed (fence.i, a store into a code page) and decoded again is
        # usually unchanged: the compiled trace is kept by its instructions.
        key = (pc, after, pc in self.careful, *instrs)
        known = self.compiled.get(key) if self.use_cache else None
        if known is None:
            source, targets, linemap = self.generate(pc, instrs, after)
            store = self.store
            name = f"<block 0x{pc:x}>"
            code = store.get(source, name) if store is not None else None
            if code is None:
                code = compile(source, name, "exec")
                if store is not None:
                    store.put(source, name, code)
            if self.use_cache:
                self.compiled[key] = code, targets, linemap
        else:
            code, targets, linemap = known
        ns: dict[str, Any] = {}
        exec(code, self.m.globals, ns)  # noqa: S102 - running generated code is the point
        slots: list[Any] = [None] * len(targets)
        for i, target in enumerate(targets):
            slots[i] = self._stub(slots, i, target)
        block: Block = ns["make"](slots)
        if self.use_cache:
            self.exits[pc] = (slots, targets)
            for at, ins in instrs:
                for page in {at // PAGE, (at + ins.length - 1) // PAGE}:
                    self.page_traces.setdefault(page, set()).add(pc)
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
        kinds = [_kind(ins.kind) for _, ins in instrs]
        uses: dict[int, int] = {}
        in_loop: set[int] = set()  # registers used up to the last back edge
        loops = after == pc
        pending: set[int] = set()
        for (at, ins), k in zip(instrs, kinds):
            if k.r1 and ins.rs1:
                uses[ins.rs1] = uses.get(ins.rs1, 0) + k.r1
                pending.add(ins.rs1)
            if k.r2 and ins.rs2:
                uses[ins.rs2] = uses.get(ins.rs2, 0) + k.r2
                pending.add(ins.rs2)
            if k.rd and ins.rd:
                uses[ins.rd] = uses.get(ins.rd, 0) + k.rd
                pending.add(ins.rd)
            if k.term == "branch" and ((at + ins.imm) & MASK == pc or at + ins.length == pc):
                loops = True
                in_loop |= pending
        if after == pc:
            in_loop |= pending
        # A local costs a load at entry and a store at exit, even when the trace
        # leaves early: worth it from three uses on (each use of x[n] is a
        # subscript), and for every register the loop of a loop trace uses
        # (not those only used after the loop).
        local = {n for n, c in uses.items() if c >= 3 or n in in_loop}
        written: set[int] = set()
        targets: list[int] = [pc] if loops else []  # slot 0 of a loop: its own head

        def reg(n: int) -> str:
            if n == 0:
                return "0"
            return f"r{n}" if n in local else f"x[{n}]"

        # Every way out of the trace sets k (instructions executed in this
        # pass) and e (exit slot; -1: indirect jump to t; -2: the trace's own
        # last instruction, a system instruction) and breaks to one shared
        # epilogue, so the code stays linear in the trace length (CPython's
        # compile() is the cost).
        body: list[tuple[int, int, str]] = []  # (indent, guest pc, line)
        back: list[int] = []  # instructions per iteration at each back edge
        final: list[str] = []  # what the epilogue does for e == -2
        indirect = leaves = slow = False

        def leave(indent: int, at: int, executed: int, target: int) -> None:
            targets.append(target)
            body.append((indent, at, f"k = {executed}; e = {len(targets) - 1}; break"))

        def goto(indent: int, at: int, executed: int, target: int) -> None:
            if target == pc and loops:
                back.append(executed)
                body.append((indent, at, f"\0{executed}"))  # a back edge: see below
                return
            leave(indent, at, executed, target)

        plan = {} if pc in self.careful else _memory_groups(instrs, kinds)
        members: dict[int, list[int]] = {}
        for i, (gid, first) in plan.items():
            members.setdefault(first, []).append(i)
        executed = 0
        ended = False
        last = len(instrs) - 1
        known: dict[int, int] = {}  # register -> value known at this point of the pass
        for i, ((at, ins), k) in enumerate(zip(instrs, kinds)):
            executed += 1
            npc = at + ins.length
            rd = ins.rd
            r1, r2 = reg(ins.rs1), reg(ins.rs2)
            rdn = reg(rd) if rd else "_"
            term = k.term
            # Constants: lui, auipc and addi of a known value give a known
            # value (la/li pairs, addresses of globals), assigned as a literal.
            # Knowledge runs from the trace's head along its one path, so it
            # holds in every pass of a loop.
            kind = ins.kind
            base = known.get(ins.rs1) if ins.rs1 else 0
            if rd and kind == "addi" and base is not None:
                const: int | None = (base + ins.imm) & MASK
            elif rd and kind in ("lui", "auipc"):
                const = (ins.imm if kind == "lui" else at + ins.imm) & MASK
            else:
                const = None
            if const is not None:
                known[rd] = const
                written.add(rd)
                body.append((0, at, f"{rdn} = {const}"))
                continue
            if rd and k.rd:
                known.pop(rd, None)
            if i in members:
                slow = True
                for line in self._guard(plan[i][0], at, r1, [instrs[j][1] for j in members[i]],
                                        executed - 1):
                    body.append((0, at, line))
            if i in plan:
                fast = _FAST[ins.kind]
                width, store = fast[0], fast[1]
                if store:
                    value = f"f[{ins.rs2}]" if ins.kind[0] == "f" else r2
                elif ins.kind[0] == "f":
                    value = f"f[{rd}]"
                else:
                    value = rdn  # "_" for x0: the access still faults out of bounds
                    if rd:
                        written.add(rd)
                if width == 1:
                    view = f"mem[{_address(r1, ins.imm)}]"
                else:
                    off = ins.imm // width
                    index = f"q{plan[i][0]}_{width}"
                    view = f"{fast[2]}[{index} + {off}]" if off else f"{fast[2]}[{index}]"
                for line in fast[3].format(V=view, R=value).split("\n"):
                    body.append((0, at, line))
                continue
            if k.body and not (k.pure and rd == 0):
                if rd and k.rd:
                    written.add(rd)
                lines = _special(ins.kind, ins, r1, r2, rdn)
                if lines is None:
                    imm = ins.imm
                    values = {
                        "R1": r1, "R2": r2, "RD": rdn, "IMM": f"({imm})",
                        "FD": f"f[{rd}]", "F1": f"f[{ins.rs1}]", "F2": f"f[{ins.rs2}]",
                        "F3": f"f[{ins.ex >> 3}]", "EX": str(ins.ex), "RM": str(ins.ex & 7),
                        "PC": str(at), "NPC": str(npc),
                        "A": _address(r1, imm) if ins.kind in _MEMORY else "",
                    }
                    lines = [line.format_map(values) for line in k.body]
                for line in lines:
                    body.append((0, at, line))
                if k.store:
                    # A store into a page of decoded code flushes it, and LEAVE
                    # raises Leave(npc, executed): the rest of this trace may be
                    # stale. The handler around the loop body stores the
                    # registers and continues at npc (an exception keeps this
                    # check short: compile() time is the cost of a trace).
                    leaves = True
                    body.append((0, at, f"if a < CHI: LEAVE(a, {npc}, {executed})"))
            if term is None:
                continue
            if term == "branch":
                cond = _condition(ins.kind, k.cond, r1, r2)
                target = (at + ins.imm) & MASK
                if target != npc and (instrs[i + 1][0] if i < last else after) == target:
                    # The trace follows the taken direction: the side exit is
                    # the fall-through.
                    body.append((0, at, f"if not ({cond}):"))
                    goto(1, at, executed, npc)
                else:
                    body.append((0, at, f"if {cond}:"))
                    goto(1, at, executed, target)
                continue
            if term == "jal":
                if rd:
                    body.append((0, at, f"{rdn} = {npc}"))
                    written.add(rd)
                    known[rd] = npc
                continue
            if term == "jalr":
                predicted = instrs[i + 1][0] if i < last else after
                if predicted is not None and base is not None \
                        and (base + ins.imm) & (MASK - 1) == predicted:
                    # The target is known (a return to a call in this trace
                    # whose link register was not touched): no guard needed.
                    if rd:
                        written.add(rd)
                        body.append((0, at, f"{rdn} = {npc}"))
                        known[rd] = npc
                    if i == last:
                        goto(0, at, executed, predicted)
                        ended = True
                    continue
                indirect = True
                dest = f"{r1} & {MASK - 1:#x}" if ins.imm == 0 else f"({r1} + ({ins.imm})) & {MASK - 1:#x}"
                body.append((0, at, f"t = {dest}"))
                if rd:
                    written.add(rd)
                    body.append((0, at, f"{rdn} = {npc}"))
                    known[rd] = npc
                if predicted is not None:
                    # A followed call's return, or the one target this jump had
                    # while cold: stay in the trace if it goes there again.
                    body.append((0, at, f"if t != {predicted}: k = {executed}; e = -1; break"))
                    if i == last:
                        goto(0, at, executed, predicted)
                        ended = True
                    continue
                ended = True
                body.append((0, at, f"k = {executed}; e = -1; break"))
                continue
            ended = True
            body.append((0, at, f"k = {executed}; e = -2; break"))
            if term in ("ecall", "fence.i"):
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
        # A loop leaves now and then (after about LOOP_SLICE instructions), so
        # the dispatcher can enforce an instruction limit; re-entry goes
        # through exit slot 0. When every back edge closes an iteration of the
        # same length C, a ``for`` over a range counts the iterations (a back
        # edge is a bare ``continue``, the count i * C is taken at the exit);
        # otherwise a counter n is kept.
        counted = len(set(back)) == 1
        if counted:
            per = back[0]
            lines.append(f"    for i in range({LOOP_SLICE // per}):")
            count = f"i * {per} + k"
        else:
            lines += ["    n = 0", "    while True:"]
            linemap.append(pc)
            count = "n + k"
        linemap.append(pc)
        pad = "      "
        if leaves:
            indirect = True
            lines.append("      try:")
            linemap.append(pc)
            pad = "        "
        for indent, at, text in body:
            indent_text = pad + "  " * indent
            if text[0] == "\0":  # a back edge
                if counted:
                    lines.append(indent_text + "continue")
                    linemap.append(at)
                else:
                    lines += [indent_text + f"n += {text[1:]}",
                              indent_text + f"if n < {LOOP_SLICE}: continue",
                              indent_text + "k = 0; e = 0; break"]
                    linemap += [at, at, at]
                continue
            lines.append(indent_text + text)
            linemap.append(at)
        if leaves:
            lines += ["      except Leave as out:", "        t, k = out.args; e = -1; break"]
            linemap += [pc, pc]
        if counted:  # the range ran out: i + 1 whole iterations
            lines.append(f"    else: k = {per}; e = 0")
            linemap.append(pc)
        last_pc = instrs[-1][0]
        epilogue = [f"x[{n}] = r{n}" for n in sorted(written & local)]
        epilogue.append(f"IC[0] += {count}")
        if final or indirect or slow:
            epilogue.append("if e < 0:")
            if slow:
                epilogue.append(f"  if e == -3: return SLOW(t, {pc})")
            if final and indirect:
                epilogue += ["  if e == -2:"] + ["    " + t for t in final]
            elif final:
                epilogue += ["  " + t for t in final]
            if indirect:
                epilogue += ["  b = C.get(t)", "  return b if b is not None else J(t)"]
        epilogue.append("return E[e]")
        for text in epilogue:
            lines.append("    " + text)
            linemap.append(last_pc)
        lines.append("  return block")
        return "\n".join(lines) + "\n", tuple(targets), linemap

    @staticmethod
    def _guard(gid: int, at: int, base: str, group: list[Instr], before: int) -> list[str]:
        """The guard of an aligned-access group (see :func:`_memory_groups`) and
        the group's view indices. On failure (misaligned base, a negative
        address, or a store that may hit code) the trace leaves before the
        group's first access and the interpreter runs that basic block (e == -3)."""
        widths = {_FAST[ins.kind][0] for ins in group}
        align = max(widths)
        low = min(ins.imm for ins in group)
        stores = [ins.imm for ins in group if _FAST[ins.kind][1]]
        tests = []
        if align > 1:
            tests.append(f"{base} & {align - 1}")
        if low < 0:
            tests.append(f"{base} < {-low}")
        if stores:
            lo = min(stores)
            tests.append(f"{base} < CHI" if lo == 0 else f"{base} + {lo} < CHI" if lo > 0
                         else f"{base} - {-lo} < CHI")
        lines = ["if " + " or ".join(tests) + f": t = {at}; k = {before}; e = -3; break"]
        for width in sorted(widths - {1}):
            lines.append(f"q{gid}_{width} = {base} >> {_SHIFT[width]}")
        return lines

    def slow(self, pc: int, head: int) -> Block:
        """Interpret the basic block at pc (the aligned-access guard of the trace
        at head failed there), then continue with whatever follows it. A trace
        whose guards keep failing (a base that is not aligned after all) is
        retranslated without the fast path."""
        misses = self.guard_misses[head] = self.guard_misses.get(head, 0) + 1
        if misses == GUARD_MISSES:
            self.careful.add(head)
            self.flush()  # (exit slots elsewhere may point at the trace)
        handlers = self.interp.cache
        transfers = self.interp.transfers
        predecode = self.interp.predecode
        where = self.cold_pc
        p = pc
        n = 0
        try:
            while True:
                where[0] = p
                handler = handlers.get(p) or predecode(p)
                n += 1
                q = handler()
                if p in transfers:
                    break
                p = q
        finally:
            self.icount[0] += n
            self.cold_instructions += n
        return self.lookup(q)

    # -- running -------------------------------------------------------------------------
    def run(self, limit: int | None = None) -> int:
        """Run until the guest exits; returns its exit status. ``limit`` is checked
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
            elif tb.tb_frame.f_code.co_name in ("cold", "slow"):
                cold = True
            tb = tb.tb_next
        return self.cold_pc[0] if cold else found

    def close(self) -> None:
        """The run is over: keep the traces it compiled for the next one."""
        if self.store is not None:
            self.store.save()

    def stats(self, seconds: float) -> RunStats:
        from ember.isa.riscv.machine import RunStats

        stats = RunStats(engine=self.name, instructions=self.m.instret, seconds=seconds,
                        blocks_translated=self.translated, cache_hits=self.hits,
                        cache_misses=self.misses, chain_links=self.links,
                        translate_seconds=self.translate_seconds, flushes=self.m.flushes,
                        invalidations=self.m.invalidations,
                        cold_instructions=self.cold_instructions,
                        syscalls=dict(self.m.syscalls.counts))
        stats.stored_traces = self.store.hits if self.store is not None else 0
        return stats
