"""The native engine: hot guest code compiled to x86-64 machine code.

This is the translator (:mod:`ember.isa.riscv.dbt`) with one more tier. When
a block gets hot, the *region* starting there is compiled to x86-64 in an
executable ``mmap`` buffer: the instructions from its pc following
fall-through paths and direct jumps, up to the first call, indirect jump,
instruction the native tier does not implement, code that already has a
native block of its own, or ``MAX_REGION`` instructions. Covered: RV64I
integer operations, loads and stores, branches, ``jal``/``jalr`` (calls and
returns), the M extension (with RISC-V's results for division by zero and
overflow), the W operations, LR/SC and the AMOs, the fflags/frm/fcsr CSRs,
and floating point through SSE (add, sub, mul, div, sqrt, fused
multiply-adds with FMA3, comparisons, conversions in range, loads, stores,
moves, sign injection), compressed forms included (the decoder expands
them). System calls, the counter CSRs, RMM rounding, ``fmin``/``fmax``/
``fclass`` and conversions between single and double stay with the Python
tiers.

Machine state in native code:

* the guest registers live in a ctypes array (``rdi``; x0 is entry 0, never
  written, so it reads as 0); the Python wrapper copies x1..x31 in at entry
  and out at exit;
* ``rsi`` is the host address of guest address 0, ``r9`` the machine's map
  of pages holding decoded code, ``r10`` the jump table, ``r8`` the
  instructions retired since entry.

Native blocks chain natively: a direct exit to a pc that has native code is
a ``jmp`` to it; one that has none yet jumps to an exit stub that returns to
Python, and is patched to jump straight to the target once it is compiled.
Indirect jumps (returns, function pointers) probe a direct-mapped jump table
(guest pc -> host address) and return to Python on a miss. Every block entry
and every backward jump inside a block checks the instruction count, so
native code returns to Python every LOOP_SLICE instructions (instruction
limits hold).

Security: the guest is hostile. Every load and store address is
``rs1 + imm`` computed modulo 2^64 and compared (unsigned) against the size
of the guest space minus the access width before ``[rsi + address]`` is
touched; the code-page map is indexed only by such checked addresses; the
jump table index is masked, and its entries only ever hold entry points of
blocks in the code buffer. An access outside the space, or a store into a
page holding decoded code, *bails out*: native code returns before that
instruction with every earlier effect done, and the wrapper runs it through
the interpreter's handler (which raises the fault with its pc, or stores and
invalidates the translated code). Instruction counts stay exact.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
import time

from ember.isa.riscv import x86asm as X
from ember.isa.riscv.dbt import LOOP_SLICE, Translator
from ember.isa.riscv.errors import GuestFault, IsaError
from ember.isa.riscv.interp import MEMORY_ERRORS
from ember.isa.riscv.machine import CSR_FCSR, CSR_FFLAGS, CSR_FRM
from ember.isa.riscv.memory import PAGE
from ember.log import get_logger

TYPE_CHECKING = False  # typing and logging stay off the start-up path (see ember/log.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ember.isa.riscv.decode import Instr
    from ember.isa.riscv.machine import Machine

log = get_logger(__name__)

#: Slots of the register array after x0..x31: instructions retired by the
#: last native run, then the pointers the entry trampoline loads.
COUNT, MEM, MAP, TABLE = 32, 33, 34, 35
#: The FPU's fflags and frm while native code runs (copied in and out by the
#: wrapper, so glibc's fetestexcept/feclearexcept/fesetround stay native).
FFLAGS, FRM = 36, 37
#: The LR reservation (Machine.reservation; NO_RESERVATION for None).
RESERVATION = 38
#: f0..f31 (raw bit patterns, as in Machine.f), copied in and out only once
#: some native code uses floating point.
FBASE = 40
#: Byte offsets in the register array: MXCSR scratch, the host's MXCSR
#: (saved at entry, restored at every exit), MXCSR per x86 rounding mode, and
#: the map from x86 exception flags to RISC-V fflags.
MXCSR_SCRATCH = 8 * 72
MXCSR_SAVE = 8 * 73
MXCSR_MODES = 8 * 74
FLAG_MAP = 8 * 76
SLOTS = 84
#: MXCSR with every exception masked, flags clear, no flush-to-zero.
MXCSR_BASE = 0x1F80
#: RISC-V rounding mode (RNE, RTZ, RDN, RUP) -> x86 rounding control.
X86_RC = (0, 3, 1, 2)
RNE, DYN = 0, 7
CANONICAL_D, CANONICAL_S = 0x7FF8000000000000, 0x7FC00000
BOX = 0xFFFFFFFF00000000
#: x86 MXCSR flags (IE, DE, ZE, OE, UE, PE) -> RISC-V (NV, -, DZ, OF, UF, NX).
X86_FLAGS = ((0x01, 0x10), (0x04, 0x08), (0x08, 0x04), (0x10, 0x02), (0x20, 0x01))
FP_ARITH = {"fadd": 0x58, "fsub": 0x5C, "fmul": 0x59, "fdiv": 0x5E, "fsqrt": 0x51}
FP_CONVERT = {f"fcvt.{p}.{i}" for p in "sd" for i in ("w", "wu", "l", "lu")}
#: Comparisons: x86 (ucomis: quiet, comis: signalling) and the setcc of each.
FP_COMPARE = {"feq": (0x2E, 0x94), "flt": (0x2F, 0x92), "fle": (0x2F, 0x96)}
#: fcvt to integers (in range only: x86 signals IE where RISC-V saturates).
FP_TO_INT = {f"fcvt.{i}.{p}" for p in "sd" for i in ("w", "wu", "l", "lu")}
FP_NATIVE = ({f"{op}.{p}" for op in FP_ARITH for p in "sd"} | FP_CONVERT | FP_TO_INT | {
    f"{op}.{p}" for op in FP_COMPARE for p in "sd"} | {
    "fld", "flw", "fsd", "fsw", "fmv.x.d", "fmv.x.w", "fmv.d.x", "fmv.w.x",
    "fsgnj.d", "fsgnjn.d", "fsgnjx.d"})
#: Fused multiply-adds: the VEX opcode of vf(n)madd/vf(n)msub 213 (a * b +- c,
#: negated product) that computes each (x86 FMA3, when the host has it).
FP_FMA = {"fmadd": 0xA9, "fmsub": 0xAB, "fnmsub": 0xAD, "fnmadd": 0xAF}
FP_FMA_KINDS = {f"{op}.{p}" for op in FP_FMA for p in "sd"}

#: No LR/SC address is odd.
NO_RESERVATION = 1
AMO_OPS = ("add", "swap", "xor", "or", "and", "min", "max", "minu", "maxu")
ATOMICS = ({f"amo{op}.{w}" for op in AMO_OPS for w in "wd"} | {"lr.w", "lr.d", "sc.w", "sc.d"})
#: x86 cmov condition (new = old when old <cc> value) of the min/max AMOs.
AMO_CMOV = {"min": 0xC, "max": 0xF, "minu": 0x2, "maxu": 0x7}
#: x86 ALU opcode ("op rdx, rcx" form, 0x01 group) of the arithmetic AMOs.
AMO_ALU = {"add": 0x01, "xor": 0x31, "or": 0x09, "and": 0x21}
#: CSR numbers native code implements (the rest, counters, stay in Python).
CSRS = {"csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci"}
CODE_SIZE = 16 << 20
#: Longest region compiled as one native block.
MAX_REGION = 64
#: Entries of the jump table of indirect jumps (a power of two).
TABLE_ENTRIES = 1 << 15
#: The index mixes in higher pc bits (folded down by this many), so code
#: TABLE_ENTRIES * 2 bytes apart does not always collide.
TABLE_FOLD = 15
#: A jump-table entry nobody can hit: jalr targets are always even.
EMPTY = 1
#: Executions of a block before it is compiled (native compilation is cheap).
NATIVE_HOT_THRESHOLD = 16
#: A region that ends at an unsupported instruction (so it returns to Python)
#: must be at least this long to pay for the call into native code.
MIN_DEAD_END = 4
PAGE_SHIFT = 12
MASK = (1 << 64) - 1

BRANCH_CC = {"beq": X.CC_E, "bne": X.CC_NE, "blt": X.CC_L, "bge": X.CC_GE,
             "bltu": X.CC_B, "bgeu": X.CC_AE}
ALU_RR = {"add": X.OP_ADD, "sub": X.OP_SUB, "and": X.OP_AND, "or": X.OP_OR, "xor": X.OP_XOR}
ALU_RI = {"addi": X.ADD, "andi": X.AND, "ori": X.OR, "xori": X.XOR}
SHIFTS = {"sll": X.SHL, "srl": X.SHR, "sra": X.SAR}
#: load kind -> (width, opcode, REX.W) of the host load into rcx.
LOADS = {
    "lb": (1, b"\x0f\xbe", 1), "lbu": (1, b"\x0f\xb6", 0),
    "lh": (2, b"\x0f\xbf", 1), "lhu": (2, b"\x0f\xb7", 0),
    "lw": (4, b"\x63", 1), "lwu": (4, b"\x8b", 0), "ld": (8, b"\x8b", 1),
}
#: store kind -> (width, operand-size prefix, REX.W).
STORES = {"sb": (1, b"", 0), "sh": (2, b"\x66", 0), "sw": (4, b"", 0), "sd": (8, b"", 1)}
DIVS = {"div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"}
SUPPORTED = (set(BRANCH_CC) | set(ALU_RR) | set(ALU_RI) | set(SHIFTS) | set(LOADS)
             | set(STORES) | DIVS | {
                 "lui", "auipc", "slti", "sltiu", "slli", "srli", "srai", "slt", "sltu",
                 "addiw", "slliw", "srliw", "sraiw", "addw", "subw", "sllw", "srlw", "sraw",
                 "mul", "mulh", "mulhu", "mulhsu", "mulw", "jal", "jalr", "fence"} | CSRS
             | ATOMICS | FP_NATIVE)
#: A native block entered from Python that runs fewer instructions than this
#: per entry on average (measured over DEMOTE_AFTER entries) costs more in
#: the entry (register copies, the ctypes call) than it saves: Python entries
#: at its pc go to the Python translation instead.
DEMOTE_BELOW = 12
DEMOTE_AFTER = 200


#: Operations whose code has no labels, so it can be reused as bytes, and
#: those among them whose code depends on their pc.
CACHEABLE = SUPPORTED - set(LOADS) - set(STORES) - ATOMICS - FP_NATIVE - DIVS - set(BRANCH_CC)
POSITIONAL = {"auipc", "jal", "jalr"}


def _encodings(emit: Callable[[X.Asm, int], None]) -> list[bytes]:
    """The bytes of one instruction form for each guest register."""
    out = []
    for n in range(32):
        asm = X.Asm(0)
        emit(asm, n)
        out.append(asm.link())
    return out


_LOAD_RAX = _encodings(lambda asm, n: asm.load(X.RAX, X.RDI, 8 * n))
_STORE_RCX = _encodings(lambda asm, n: asm.store(X.RDI, 8 * n, X.RCX))
_LOAD_OPS = {kind: X._enc_sib(opcode, X.RCX, X.RSI, X.RAX, w, b"")
             for kind, (_, opcode, w) in LOADS.items()}
_LOAD_RCX = _encodings(lambda asm, n: asm.load(X.RCX, X.RDI, 8 * n))
_STORE_OPS = {kind: X._enc_sib(0x88 if width == 1 else 0x89, X.RCX, X.RSI, X.RAX, w, prefix)
              for kind, (width, prefix, w) in STORES.items()}
#: rcx = rax >> 12; cmp byte [r9 + rcx], 0: is the stored-to page in the code map?
_CODE_PAGE_TEST = (X._enc_rr(0x89, X.RAX, X.RCX, 1) + X._enc_rr(0xC1, X.SHR, X.RCX, 1)
                   + bytes((PAGE_SHIFT,)) + X._enc_sib(0x80, 7, X.R9, X.RCX, 0, b"") + b"\0")


def _host_has_fma() -> bool:
    """FMA3 and AVX (VEX encoding) usable on this host, as the kernel reports them."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return {"fma", "avx"} <= set(line.split())
    except OSError:
        pass
    return False


def _table_index(pc: int) -> int:
    """Slot of pc in the jump table (the native dispatch computes the same)."""
    return ((pc ^ (pc >> TABLE_FOLD)) >> 1) & (TABLE_ENTRIES - 1)


class Region:
    """The instructions of one native block and how it ends."""

    __slots__ = ("after", "dead_end", "instrs")

    def __init__(self, instrs: list[tuple[int, Instr]], after: int | None,
                 dead_end: bool) -> None:
        self.instrs = instrs
        #: pc control reaches after the last instruction (None: the last one
        #: is a jalr; for a call, the callee).
        self.after = after
        #: the region stopped at an instruction the native tier does not implement.
        self.dead_end = dead_end


class NativeTranslator(Translator):
    """The translator, with hot integer code compiled to x86-64 and chained natively."""

    name = "native"

    def __init__(self, machine: Machine, cache: bool = True) -> None:
        super().__init__(machine, cache)
        if cache:
            self.hot_threshold = NATIVE_HOT_THRESHOLD
        try:
            self.code = mmap.mmap(-1, CODE_SIZE,
                                  prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except OSError as exc:
            raise IsaError(f"cannot map executable memory for native code ({exc.strerror}); "
                           "use --engine dbt") from None
        self._code_anchor = ctypes.c_char.from_buffer(self.code)
        self.code_addr = ctypes.addressof(self._code_anchor)
        self.regs = (ctypes.c_uint64 * SLOTS)()
        self.regs_addr = ctypes.addressof(self.regs)
        self._mem_anchor = ctypes.c_char.from_buffer(machine.space.mem)
        self._map_anchor = ctypes.c_char.from_buffer(machine.code_map)
        self.table = (ctypes.c_uint64 * (2 * TABLE_ENTRIES))()
        self.regs[MEM] = ctypes.addressof(self._mem_anchor)
        self.regs[MAP] = ctypes.addressof(self._map_anchor)
        self.regs[TABLE] = ctypes.addressof(self.table)
        modes = struct.pack("<4I", *(MXCSR_BASE | rc << 13 for rc in X86_RC))
        flag_map = bytes(sum(rv for xv, rv in X86_FLAGS if i & xv) for i in range(64))
        ctypes.memmove(self.regs_addr + MXCSR_MODES, modes, len(modes))
        ctypes.memmove(self.regs_addr + FLAG_MAP, flag_map, len(flag_map))
        #: Set once native code uses f registers: wrappers copy them from then on.
        self.fp_used = [False]
        #: Native code can only index the space with a sign-extended imm32 bound.
        self.space_size = machine.space.size
        self.enabled = cache and 8 < self.space_size < 1 << 31
        self.exit_at = self._emit_runtime()
        self.runtime_end = self.code_used
        self.enter = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)(
            self.code_addr)
        #: guest pc -> buffer offset of its native block.
        self.entries: dict[int, int] = {}
        #: guest pc -> rel32 fields of exits waiting for its native block.
        self.pending: dict[int, list[int]] = {}
        self.native_blocks = 0
        self.native_links = 0
        #: Pages holding guest code some native block was compiled from.
        self.native_pages: set[int] = set()
        #: Whether fused multiply-adds can be native (looked up when first met).
        self.has_fma: bool | None = None
        #: Bumped by every flush; a wrapper from an older generation is stale.
        self.generation = [0]
        #: Machine code of instructions that need no labels, by instruction.
        self._chunks: dict[Any, bytes] = {}
        #: cmp rax, space size - width, by width.
        self._cmp_size = {w: X._enc_imm(X.CMP, X.RAX, self.space_size - w, 1) for w in (1, 2, 4, 8)}
        self.demotions = 0
        self._reset_table()

    def close(self) -> None:
        """Release the exported pointers into guest memory (so it can be unmapped)."""
        super().close()
        del self._mem_anchor
        del self._map_anchor

    # -- the code buffer ---------------------------------------------------------------
    def _fma(self) -> bool:
        if self.has_fma is None:
            self.has_fma = _host_has_fma()
        return self.has_fma

    def _emit_runtime(self) -> int:
        """The entry trampoline at offset 0 and the shared exit; returns the exit's offset."""
        asm = X.Asm(0)
        # enter(regs, host): rdi = regs; jump to the block at rsi.
        asm.mov_rr(X.RAX, X.RSI)
        asm.load(X.RSI, X.RDI, 8 * MEM)
        asm.load(X.R9, X.RDI, 8 * MAP)
        asm.load(X.R10, X.RDI, 8 * TABLE)
        asm.zero(X.R8)
        asm.emit(0x0F, 0xAE, 0x9F, struct.pack("<i", MXCSR_SAVE))  # stmxcsr [rdi + save]
        asm.emit(0xFF, 0xE0)  # jmp rax
        exit_at = asm.here()
        # exit: rax = next guest pc (| 1: run that instruction in Python first).
        asm.store(X.RDI, 8 * COUNT, X.R8)
        asm.emit(0x0F, 0xAE, 0x97, struct.pack("<i", MXCSR_SAVE))  # ldmxcsr [rdi + save]
        asm.emit(0xC3)
        blob = asm.link()
        self.code[0:len(blob)] = blob
        self.code_used = (len(blob) + 15) & ~15
        return exit_at

    def _reset_table(self) -> None:
        empty = struct.pack("<QQ", EMPTY, 0) * TABLE_ENTRIES
        ctypes.memmove(self.table, empty, len(empty))

    def flush(self) -> None:
        """Code was invalidated: forget every native block too."""
        super().flush()
        self.generation[0] += 1
        table = self.table
        for pc in self.entries:  # every slot in use holds one of these pcs
            table[2 * _table_index(pc)] = EMPTY
        self.entries.clear()
        self.pending.clear()
        self.native_pages.clear()
        self.code_used = self.runtime_end

    def forget_pages(self, pages: set[int], pcs: list[int]) -> None:
        """Native blocks chain to each other in machine code (jumps patched in
        place, the jump table): a page holding native code flushes all of it; a
        page with only Python traces is invalidated alone."""
        if pages & self.native_pages:
            self.flush()  # native code may jump into it from anywhere
        else:
            super().forget_pages(pages, pcs)

    # -- region selection ---------------------------------------------------------------
    def _region(self, pc: int) -> Region:
        """The straight-line path from pc the native tier compiles (maybe empty)."""
        out: list[tuple[int, Instr]] = []
        seen: set[int] = set()
        addr = pc
        fetch = self.m.fetch
        compiled = self.entries
        while len(out) < MAX_REGION:
            if addr in seen:
                return Region(out, addr, False)
            if out and addr in compiled:
                # Already native code of its own: chain to it rather than
                # compile a second copy into this region.
                return Region(out, addr, False)
            try:
                ins = fetch(addr)
            except GuestFault:
                return Region(out, addr, True)
            unsupported = ins.kind not in SUPPORTED or (
                ins.kind in CSRS and ins.imm not in (CSR_FFLAGS, CSR_FRM, CSR_FCSR))
            if unsupported and not (ins.kind in FP_FMA_KINDS and self._fma()):
                return Region(out, addr, True)
            out.append((addr, ins))
            seen.add(addr)
            kind = ins.kind
            if kind == "jal":
                addr = (addr + ins.imm) & MASK
                if ins.rd:
                    return Region(out, addr, False)  # a call: chain to the callee's block
            elif kind == "jalr":
                return Region(out, None, False)
            else:
                addr += ins.length
        return Region(out, addr, False)

    # -- translation ------------------------------------------------------------------------
    def translate(self, pc: int) -> Any:
        if not self.enabled:
            return super().translate(pc)
        region = self._region(pc)
        if not region.instrs or (region.dead_end and len(region.instrs) < MIN_DEAD_END):
            return super().translate(pc)
        pages = {at // PAGE for at, _ in region.instrs} | {(at + ins.length - 1) // PAGE
                                                            for at, ins in region.instrs}
        if pages & self.m.volatile_pages:
            # Rewritten before (a JIT's buffer): a native block there would
            # flush every native block the next time it is rewritten.
            return super().translate(pc)
        start = time.perf_counter()
        try:
            host = self._compile(pc, region)
        except (KeyError, ValueError, struct.error) as exc:  # cannot encode, or buffer full
            log.debug("native translation of 0x%x failed (%s); using Python", pc, exc)
            return super().translate(pc)
        self.native_pages |= pages
        self.translated += 1
        self.native_blocks += 1
        self.translate_seconds += time.perf_counter() - start
        return self._wrapper(pc, host)

    def _compile(self, pc: int, region: Region) -> int:
        """Assemble the region into the code buffer; returns its entry offset."""
        base = self.code_used
        asm = X.Asm(base)
        instrs = region.instrs
        index = {at: i for i, (at, _) in enumerate(instrs)}
        # Instructions a jump inside the region lands on (label + count sync),
        # and those reached backwards (they also check the slice budget).
        landing: set[int] = {0}
        backward: set[int] = {0}
        for i, (at, ins) in enumerate(instrs):
            if ins.kind in BRANCH_CC or (ins.kind == "jal" and ins.rd):
                t = (at + ins.imm) & MASK
                if t in index:
                    landing.add(index[t])
                    if index[t] <= i:
                        backward.add(index[t])
        if region.after is not None and region.after in index:
            landing.add(index[region.after])
            backward.add(index[region.after])

        cmp_size = self._cmp_size
        stubs: list[tuple[str, int, int]] = []  # (label, instructions to count, rax value)
        chains: list[tuple[int, int]] = []  # (rel32 offset in asm, guest target)
        pending = 0  # instructions executed since r8 was last brought up to date

        def sync() -> None:
            nonlocal pending
            if pending:
                asm.imm_group(X.ADD, X.R8, pending)
                pending = 0

        def stub(count: int, value: int) -> str:
            name = f"s{len(stubs)}"
            stubs.append((name, count, value))
            return name

        def goto(cc: int | None, target: int) -> None:
            """Jump (always, or on condition cc) to guest pc target; r8 is in sync."""
            if target in index:
                label = f"i{index[target]}"
                if cc is None:
                    asm.jmp(label)
                else:
                    asm.jcc(cc, label)
                return
            host = self.entries.get(target)
            if host is not None:
                if cc is None:
                    asm.jmp_abs(host)
                else:
                    asm.jcc_abs(cc, host)
                return
            label = stub(0, target)
            if cc is None:
                asm.jmp(label)
            else:
                asm.jcc(cc, label)
            chains.append((asm.here() - 4, target))

        def address(ins: Instr, width: int, at: int) -> str:
            """rax = rs1 + imm, bailing out unless [rax, rax + width) is in the space;
            returns the bail-out label. (Precomputed encodings: loads and stores
            are most of what native code does.)"""
            code = asm.code
            code += _LOAD_RAX[ins.rs1]
            if ins.imm:
                code += X._enc_imm(X.ADD, X.RAX, ins.imm, 1)
            code += cmp_size[width]
            bail = stub(pending, at | 1)
            asm.jcc(X.CC_A, bail)  # unsigned: wrapped sums land here too
            return bail

        for i, (at, ins) in enumerate(instrs):
            if i in landing:
                sync()
                asm.label(f"i{i}")
                if i in backward:
                    asm.imm_group(X.CMP, X.R8, LOOP_SLICE)
                    asm.jcc(X.CC_AE, stub(0, at))
            kind = ins.kind
            if kind in LOADS:  # the commonest case, inline
                address(ins, LOADS[kind][0], at)
                code = asm.code
                code += _LOAD_OPS[kind]
                if ins.rd:
                    code += _STORE_RCX[ins.rd]
            elif kind in STORES:  # the next commonest
                bail = address(ins, STORES[kind][0], at)
                code = asm.code
                # A store into a page holding decoded code: leave it to Python,
                # which invalidates the translations.
                code += _CODE_PAGE_TEST
                asm.jcc(X.CC_NE, bail)
                code += _LOAD_RCX[ins.rs2]
                code += _STORE_OPS[kind]
            elif kind in CACHEABLE:
                # Code that depends only on the instruction (and its pc): reuse it.
                key = (ins, at) if kind in POSITIONAL else ins
                chunk = self._chunks.get(key)
                if chunk is None:
                    sub = X.Asm(0)
                    self._instruction(sub, at, ins, address, stub, pending)
                    chunk = self._chunks[key] = sub.link()
                asm.code += chunk
            else:
                self._instruction(asm, at, ins, address, stub, pending)
            pending += 1
            if kind in BRANCH_CC:
                sync()
                asm.load(X.RAX, X.RDI, 8 * ins.rs1)
                asm.op_rm(X.OP_CMP, X.RAX, X.RDI, 8 * ins.rs2)
                goto(BRANCH_CC[kind], (at + ins.imm) & MASK)
            elif kind == "jalr":
                sync()
                self._dispatch(asm)
            elif kind == "jal" and ins.rd:
                sync()
                goto(None, (at + ins.imm) & MASK)
        last = instrs[-1][1]
        if last.kind != "jalr" and not (last.kind == "jal" and last.rd):
            assert region.after is not None  # falls through (or jumps) to after
            sync()
            goto(None, region.after)
        # Exit stubs: count what ran, rax = where to go on, leave through this
        # block's own copy of the exit (local jumps link faster than absolute ones).
        code, labels, fixups = asm.code, asm.labels, asm.fixups
        for name, count, value in stubs:
            labels[name] = len(code)
            if count:
                code += X._enc_imm(X.ADD, X.R8, count, 1)
            if value < 1 << 32:
                code += b"\xb8" + struct.pack("<I", value)  # mov eax, value
            else:
                asm.mov_imm(X.RAX, value)
            code += b"\xe9\0\0\0\0"  # jmp exit
            fixups.append((len(code) - 4, "exit"))
        asm.label("exit")
        asm.store(X.RDI, 8 * COUNT, X.R8)
        asm.emit(0x0F, 0xAE, 0x97, struct.pack("<i", MXCSR_SAVE))  # ldmxcsr [rdi + save]
        asm.emit(0xC3)  # ret
        blob = asm.link()
        if base + len(blob) > CODE_SIZE:
            raise ValueError("native code buffer full")
        self.code[base:base + len(blob)] = blob
        self.code_used = (base + len(blob) + 15) & ~15
        for offset, target in chains:
            self.pending.setdefault(target, []).append(base + offset)
        # This block is now the place to go for pc: link everything waiting for it.
        self.entries[pc] = base
        for field in self.pending.pop(pc, ()):
            self.code[field:field + 4] = X.rel32(field, base)
            self.native_links += 1
        slot = 2 * _table_index(pc)
        self.table[slot] = pc
        self.table[slot + 1] = self.code_addr + base
        return base

    def _dispatch(self, asm: X.Asm) -> None:
        """Jump to the native block of the guest pc in rax, or return it to Python."""
        asm.mov_rr(X.RCX, X.RAX)
        asm.shift_imm(X.SHR, X.RCX, TABLE_FOLD)
        asm.op_rr(0x31, X.RAX, X.RCX)  # xor rcx, rax
        asm.shift_imm(X.SHL, X.RCX, 3)  # (slot index << 4): the entry's offset
        asm.imm_group(X.AND, X.RCX, (TABLE_ENTRIES - 1) << 4, w=0)
        asm.op_sib(X.OP_CMP, X.RAX, X.R10, X.RCX)  # cmp rax, [r10 + rcx]
        asm.jcc_abs(X.CC_NE, self.exit_at)
        asm.emit(0x41, 0xFF, 0x64, 0x0A, 0x08)  # jmp [r10 + rcx + 8]

    def _instruction(self, asm: X.Asm, at: int, ins: Instr,
                     address: Callable[[Instr, int, int], str],
                     stub: Callable[[int, int], str], pending: int) -> None:
        """The x86-64 code of one instruction (control transfers: only the link;
        loads and stores are emitted inline by _compile)."""
        kind, rd, rs1, rs2, imm = ins.kind, ins.rd, ins.rs1, ins.rs2, ins.imm
        npc = at + ins.length
        if kind in BRANCH_CC or kind == "fence":
            return
        if kind == "jal":
            if rd:
                self._set(asm, rd, npc)
            return
        if kind == "jalr":
            asm.load(X.RAX, X.RDI, 8 * rs1)
            if imm:
                asm.imm_group(X.ADD, X.RAX, imm)
            asm.imm_group(X.AND, X.RAX, -2)
            if rd:  # after reading rs1: rd may be rs1
                self._set(asm, rd, npc)
            return
        if kind in CSRS:
            self._csr(asm, ins)
            return
        if kind in FP_NATIVE or kind in FP_FMA_KINDS:
            self.fp_used[0] = True
            self._fp(asm, at, ins, stub(pending, at | 1), address)
            return
        if kind in ATOMICS:
            self._atomic(asm, at, ins, stub(pending, at | 1))
            return
        if not rd:
            return  # the rest only write rd: with x0 they are no-ops
        if kind == "lui":
            self._set(asm, rd, imm)
            return
        if kind == "auipc":
            self._set(asm, rd, at + imm)
            return
        if kind in ALU_RI:
            asm.load(X.RAX, X.RDI, 8 * rs1)
            asm.imm_group(ALU_RI[kind], X.RAX, imm)
        elif kind in ALU_RR:
            asm.load(X.RAX, X.RDI, 8 * rs1)
            asm.op_rm(ALU_RR[kind], X.RAX, X.RDI, 8 * rs2)
        elif kind in ("slli", "srli", "srai"):
            asm.load(X.RAX, X.RDI, 8 * rs1)
            asm.shift_imm(SHIFTS[kind[:3]], X.RAX, imm & 63)
        elif kind in SHIFTS:
            asm.load(X.RAX, X.RDI, 8 * rs1)
            asm.load(X.RCX, X.RDI, 8 * rs2)
            asm.shift_cl(SHIFTS[kind], X.RAX)  # the count is masked to 6 bits, as in RV64
        elif kind in ("slt", "sltu", "slti", "sltiu"):
            asm.zero(X.RCX)
            asm.load(X.RAX, X.RDI, 8 * rs1)
            if kind in ("slt", "sltu"):
                asm.op_rm(X.OP_CMP, X.RAX, X.RDI, 8 * rs2)
            else:
                asm.imm_group(X.CMP, X.RAX, imm)  # sign-extended, as RISC-V specifies
            asm.setcc(X.CC_L if kind in ("slt", "slti") else X.CC_B, X.RCX)
            asm.store(X.RDI, 8 * rd, X.RCX)
            return
        elif kind in ("addiw", "slliw", "srliw", "sraiw"):
            asm.load(X.RAX, X.RDI, 8 * rs1, w=0)
            if kind == "addiw":
                asm.imm_group(X.ADD, X.RAX, imm, w=0)
            else:
                asm.shift_imm(SHIFTS["s" + kind[1:3]], X.RAX, imm & 31, w=0)
            asm.movsxd(X.RAX, X.RAX)
        elif kind in ("addw", "subw", "mulw"):
            asm.load(X.RAX, X.RDI, 8 * rs1, w=0)
            opcodes: dict[str, bytes | int] = {"addw": X.OP_ADD, "subw": X.OP_SUB,
                                                "mulw": b"\x0f\xaf"}
            asm.op_rm(opcodes[kind], X.RAX, X.RDI, 8 * rs2, w=0)
            asm.movsxd(X.RAX, X.RAX)
        elif kind in ("sllw", "srlw", "sraw"):
            asm.load(X.RAX, X.RDI, 8 * rs1, w=0)
            asm.load(X.RCX, X.RDI, 8 * rs2, w=0)
            asm.shift_cl(SHIFTS[kind[:3]], X.RAX, w=0)  # masked to 5 bits, as in RV64
            asm.movsxd(X.RAX, X.RAX)
        elif kind == "mul":
            asm.load(X.RAX, X.RDI, 8 * rs1)
            asm.op_rm(b"\x0f\xaf", X.RAX, X.RDI, 8 * rs2)  # imul rax, [rs2]
        elif kind in ("mulh", "mulhu", "mulhsu"):
            asm.load(X.RAX, X.RDI, 8 * rs1)
            # one-operand imul / mul [rs2]: rdx:rax = rax * [rs2]
            asm.op_rm(0xF7, 5 if kind == "mulh" else 4, X.RDI, 8 * rs2)
            if kind == "mulhsu":
                # signed * unsigned = unsigned product - (rs1 < 0 ? rs2 << 64 : 0)
                asm.load(X.RCX, X.RDI, 8 * rs1)
                asm.shift_imm(X.SAR, X.RCX, 63)
                asm.op_rm(X.OP_AND, X.RCX, X.RDI, 8 * rs2)
                asm.op_rr(0x29, X.RCX, X.RDX)  # sub rdx, rcx
            asm.store(X.RDI, 8 * rd, X.RDX)
            return
        elif kind in DIVS:
            self._division(asm, kind, rs1, rs2, f"d{at:x}")
        else:
            raise KeyError(kind)
        asm.store(X.RDI, 8 * rd, X.RAX)

    def _atomic(self, asm: X.Asm, at: int, ins: Instr, bail: str) -> None:
        """LR/SC and the AMOs, as Machine.lr/sc/amo do them. Anything that
        raises there (misaligned, outside the space) or stores into code
        bails out to the interpreter before any effect."""
        kind, rd = ins.kind, ins.rd
        size = 4 if kind.endswith(".w") else 8
        w = size == 8
        asm.load(X.RAX, X.RDI, 8 * ins.rs1)
        asm.emit(0xA8, size - 1)  # test al, size - 1
        asm.jcc(X.CC_NE, bail)
        asm.imm_group(X.CMP, X.RAX, self.space_size - size)
        asm.jcc(X.CC_A, bail)
        old_opcode = b"\x8b" if w else b"\x63"  # mov rcx / movsxd rcx, [rsi + rax]
        if kind.startswith("lr"):
            asm.store(X.RDI, 8 * RESERVATION, X.RAX)
            asm.op_sib(old_opcode, X.RCX, X.RSI, X.RAX, 1)
            if rd:
                asm.store(X.RDI, 8 * rd, X.RCX)
            return
        # Stores into pages holding code: the interpreter (it invalidates).
        asm.mov_rr(X.RCX, X.RAX)
        asm.shift_imm(X.SHR, X.RCX, PAGE_SHIFT)
        asm.op_sib(0x80, 7, X.R9, X.RCX, 0)  # cmp byte [r9 + rcx], 0
        asm.emit(0)
        asm.jcc(X.CC_NE, bail)
        asm.load(X.RDX, X.RDI, 8 * ins.rs2)
        if kind.startswith("sc"):
            done = f"sc{at:x}"
            asm.mov_imm(X.RCX, 1)  # failure
            asm.op_rm(X.OP_CMP, X.RAX, X.RDI, 8 * RESERVATION)
            asm.jcc(X.CC_NE, done)
            asm.op_sib(0x89, X.RDX, X.RSI, X.RAX, int(w))  # store
            asm.zero(X.RCX)  # success
            asm.label(done)
            asm.mov_imm(X.RAX, NO_RESERVATION)
            asm.store(X.RDI, 8 * RESERVATION, X.RAX)
            if rd:
                asm.store(X.RDI, 8 * rd, X.RCX)
            return
        op = kind[3:-2]
        asm.op_sib(old_opcode, X.RCX, X.RSI, X.RAX, 1)  # rcx = old (sign-extended .w)
        if op in AMO_ALU:
            asm.op_rr(AMO_ALU[op], X.RCX, X.RDX, int(w))  # rdx = old <op> value
        elif op in AMO_CMOV:
            asm.op_rr(0x39, X.RDX, X.RCX, int(w))  # cmp old, value
            asm.op_rr(bytes((0x0F, 0x40 | AMO_CMOV[op])), X.RDX, X.RCX)  # cmovcc rdx, rcx
        asm.op_sib(0x89, X.RDX, X.RSI, X.RAX, int(w))  # store the new value
        if rd:
            asm.store(X.RDI, 8 * rd, X.RCX)

    def _fp(self, asm: X.Asm, at: int, ins: Instr, bail: str,
            address: Callable[[Instr, int, int], str]) -> None:
        """Floating point through SSE, with RISC-V's results: NaNs canonical,
        singles NaN-boxed (an unboxed operand bails out: Python reads it as
        the canonical NaN), fflags from the x86 exception flags of each
        operation. RMM and reserved rounding modes bail out."""
        kind, rd, rs1, rs2 = ins.kind, ins.rd, ins.rs1, ins.rs2
        fd, f1, f2 = 8 * (FBASE + rd), 8 * (FBASE + rs1), 8 * (FBASE + rs2)
        if kind in ("fld", "flw"):
            width = 8 if kind == "fld" else 4
            address(ins, width, at)
            asm.op_sib(0x8B, X.RCX, X.RSI, X.RAX, int(width == 8))  # mov rcx/ecx, [rsi + rax]
            if width == 4:
                asm.mov_imm(X.RDX, BOX)
                asm.op_rr(0x09, X.RDX, X.RCX)  # or rcx, rdx
            asm.store(X.RDI, fd, X.RCX)
            return
        if kind in ("fsd", "fsw"):
            width = 8 if kind == "fsd" else 4
            address(ins, width, at)
            asm.mov_rr(X.RCX, X.RAX)
            asm.shift_imm(X.SHR, X.RCX, PAGE_SHIFT)
            asm.op_sib(0x80, 7, X.R9, X.RCX, 0)  # cmp byte [r9 + rcx], 0
            asm.emit(0)
            asm.jcc(X.CC_NE, bail)
            asm.load(X.RCX, X.RDI, f2)
            asm.op_sib(0x89, X.RCX, X.RSI, X.RAX, int(width == 8))
            return
        if kind in ("fmv.x.d", "fmv.x.w"):
            if rd:
                if kind == "fmv.x.d":
                    asm.load(X.RAX, X.RDI, f1)
                else:
                    asm.op_rm(0x63, X.RAX, X.RDI, f1)  # movsxd rax, dword [f1]
                asm.store(X.RDI, 8 * rd, X.RAX)
            return
        if kind in ("fmv.d.x", "fmv.w.x"):
            if kind == "fmv.d.x":
                asm.load(X.RAX, X.RDI, 8 * rs1)
            else:
                asm.load(X.RAX, X.RDI, 8 * rs1, w=0)
                asm.mov_imm(X.RCX, BOX)
                asm.op_rr(0x09, X.RCX, X.RAX)  # or rax, rcx
            asm.store(X.RDI, fd, X.RAX)
            return
        if kind.startswith("fsgnj"):
            asm.load(X.RAX, X.RDI, f1)
            asm.shift_imm(X.SHL, X.RAX, 1)
            asm.shift_imm(X.SHR, X.RAX, 1)  # |f1|
            asm.load(X.RCX, X.RDI, f2)
            if kind == "fsgnjx.d":
                asm.load(X.RDX, X.RDI, f1)
                asm.op_rr(0x31, X.RDX, X.RCX)  # xor rcx, rdx: sign of f1 ^ f2
            elif kind == "fsgnjn.d":
                asm.op_rr(0xF7, 2, X.RCX)  # not rcx
            asm.shift_imm(X.SHR, X.RCX, 63)
            asm.shift_imm(X.SHL, X.RCX, 63)
            asm.op_rr(0x09, X.RCX, X.RAX)  # or rax, rcx
            asm.store(X.RDI, fd, X.RAX)
            return
        single = kind.endswith(".s") or kind.startswith("fcvt.s.")
        prefix = 0xF3 if single else 0xF2
        f3 = 8 * (FBASE + (ins.ex >> 3))
        operands = ((f1,) if kind.startswith(("fsqrt", "fcvt")) else
                    (f1, f2, f3) if kind in FP_FMA_KINDS else (f1, f2))
        if single and not kind.startswith("fcvt.s."):
            # NaN boxing: an operand whose upper half is not all ones reads as
            # the canonical NaN in Python; leave those to it.
            for disp in operands:
                asm.load(X.RAX, X.RDI, disp)
                asm.shift_imm(X.SHR, X.RAX, 32)
                asm.imm_group(X.CMP, X.RAX, -1, w=0)
                asm.jcc(X.CC_NE, bail)
        name = kind.split(".")[0]
        if name in FP_COMPARE:
            opcode, setcc = FP_COMPARE[name]
            asm.emit(0xC7, 0x87, struct.pack("<iI", MXCSR_SCRATCH, MXCSR_BASE))
            asm.emit(0x0F, 0xAE, 0x97, struct.pack("<i", MXCSR_SCRATCH))  # ldmxcsr
            for xmm, disp in enumerate((f1, f2)):
                asm.emit(prefix, 0x0F, 0x10, 0x87 | xmm << 3, struct.pack("<i", disp))
            asm.zero(X.RAX)
            asm.zero(X.RDX)
            asm.emit(*((0x0F, opcode, 0xC1) if single else (0x66, 0x0F, opcode, 0xC1)))
            asm.emit(0x0F, setcc, 0xC0)  # setcc al
            asm.emit(0x0F, 0x9B, 0xC2)  # setnp dl: false when unordered
            asm.op_rr(0x21, X.RDX, X.RAX)  # and rax, rdx
            self._fp_flags(asm)
            if rd:
                asm.store(X.RDI, 8 * rd, X.RAX)
            return
        # The rounding mode: static, or frm at run time; RMM/reserved: Python.
        rm = ins.ex & 7
        if rm == DYN:
            asm.load(X.RAX, X.RDI, 8 * FRM)
            asm.imm_group(X.CMP, X.RAX, 3)
            asm.jcc(X.CC_A, bail)
            asm.emit(0x8B, 0x84, 0x87, struct.pack("<i", MXCSR_MODES))  # mov eax, [rdi+rax*4+m]
            asm.emit(0x89, 0x87, struct.pack("<i", MXCSR_SCRATCH))  # mov [rdi + scratch], eax
        elif rm <= 3:
            asm.emit(0xC7, 0x87, struct.pack("<iI", MXCSR_SCRATCH, MXCSR_BASE | X86_RC[rm] << 13))
        else:
            asm.jmp(bail)
            return
        if kind in FP_TO_INT:
            target = kind.split(".")[1]
            asm.emit(prefix, 0x0F, 0x10, 0x87, struct.pack("<i", f1))  # movsd/movss xmm0
            asm.emit(0x0F, 0xAE, 0x97, struct.pack("<i", MXCSR_SCRATCH))  # ldmxcsr
            # cvtsd2si/cvtss2si rax, xmm0 (rounds as MXCSR says), 32 or 64 bits
            asm.emit(*((prefix, 0x0F, 0x2D, 0xC0) if target == "w" else
                       (prefix, 0x48, 0x0F, 0x2D, 0xC0)))
            asm.emit(0x0F, 0xAE, 0x9F, struct.pack("<i", MXCSR_SCRATCH))  # stmxcsr
            asm.emit(0xF6, 0x87, struct.pack("<i", MXCSR_SCRATCH), 0x01)  # test byte [..], IE
            asm.jcc(X.CC_NE, bail)  # NaN or out of range: RISC-V saturates, Python does it
            if target == "w":
                asm.movsxd(X.RAX, X.RAX)
            elif target == "wu":
                asm.mov_rr(X.RCX, X.RAX)
                asm.shift_imm(X.SHR, X.RCX, 32)
                asm.jcc(X.CC_NE, bail)  # negative or >= 2^32
                asm.movsxd(X.RAX, X.RAX)  # fcvt.wu writes the 32-bit result sign-extended
            elif target == "lu":
                asm.op_rr(0x85, X.RAX, X.RAX)  # test rax, rax
                asm.jcc(0x8, bail)  # js: negative, or 2^63 and above
            asm.mov_rr(X.RCX, X.RAX)  # keep the result while the flags are mapped
            self._fp_flags(asm)
            if rd:
                asm.store(X.RDI, 8 * rd, X.RCX)
            return
        if kind in FP_CONVERT:
            source = kind.rsplit(".", 1)[1]
            asm.load(X.RAX, X.RDI, 8 * rs1, w=int(source in ("l", "lu")))
            if source == "w":
                asm.movsxd(X.RAX, X.RAX)
            elif source == "lu":
                asm.op_rr(0x85, X.RAX, X.RAX)  # test rax, rax
                asm.jcc(0x8, bail)  # js: 2^63 and above do not fit a signed convert
            asm.emit(0x0F, 0xAE, 0x97, struct.pack("<i", MXCSR_SCRATCH))  # ldmxcsr
            asm.emit(prefix, 0x48, 0x0F, 0x2A, 0xC0)  # cvtsi2sd/ss xmm0, rax
        else:
            for xmm, disp in enumerate(operands):
                # movss/movsd xmm, [rdi + disp]
                asm.emit(prefix, 0x0F, 0x10, 0x87 | xmm << 3, struct.pack("<i", disp))
            asm.emit(0x0F, 0xAE, 0x97, struct.pack("<i", MXCSR_SCRATCH))  # ldmxcsr
            if kind in FP_FMA_KINDS:
                # A NaN addend: RISC-V raises NV for inf * 0 + qNaN, x86 does not;
                # leave NaN addends (rare) to Python.
                asm.emit(*((0x0F, 0x2E, 0xD2) if single else (0x66, 0x0F, 0x2E, 0xD2)))
                asm.jcc(0xA, bail)  # jp: ucomis xmm2, xmm2 is unordered
                # vf...213s[sd] xmm0, xmm1, xmm2: xmm0 = +-(xmm1 * xmm0) +- xmm2
                vex2 = (0x80 if not single else 0x00) | 0x71  # W, vvvv = ~xmm1, L=0, pp=66
                asm.emit(0xC4, 0xE2, vex2, FP_FMA[name], 0xC2)
            else:
                opcode = FP_ARITH[name]
                asm.emit(prefix, 0x0F, opcode, 0xC0 if opcode == 0x51 else 0xC1)
        self._fp_flags(asm)
        # Any NaN result is the canonical NaN.
        asm.emit(*((0x0F, 0x2E, 0xC0) if single else (0x66, 0x0F, 0x2E, 0xC0)))  # ucomis xmm0
        if single:
            asm.emit(0x66, 0x0F, 0x7E, 0xC0)  # movd eax, xmm0
            asm.mov_imm(X.RCX, CANONICAL_S)
            asm.emit(0x0F, 0x4A, 0xC1)  # cmovp eax, ecx
            asm.mov_imm(X.RCX, BOX)
            asm.op_rr(0x09, X.RCX, X.RAX)  # or rax, rcx
        else:
            asm.emit(0x66, 0x48, 0x0F, 0x7E, 0xC0)  # movq rax, xmm0
            asm.mov_imm(X.RCX, CANONICAL_D)
            asm.emit(0x48, 0x0F, 0x4A, 0xC1)  # cmovp rax, rcx
        asm.store(X.RDI, fd, X.RAX)

    @staticmethod
    def _fp_flags(asm: X.Asm) -> None:
        """fflags |= the x86 exception flags of the last operation (rcx, rdx kept)."""
        asm.emit(0x0F, 0xAE, 0x9F, struct.pack("<i", MXCSR_SCRATCH))  # stmxcsr
        asm.emit(0x44, 0x8B, 0x9F, struct.pack("<i", MXCSR_SCRATCH))  # mov r11d, [scratch]
        asm.imm_group(X.AND, X.R11, 0x3D, w=0)  # the flags, without DE
        # movzx r11d, byte [rdi + r11 + map]
        asm.emit(0x46, 0x0F, 0xB6, 0x9C, 0x1F, struct.pack("<i", FLAG_MAP))
        asm.op_rm(0x09, X.R11, X.RDI, 8 * FFLAGS)  # or [fflags], r11

    @staticmethod
    def _csr(asm: X.Asm, ins: Instr) -> None:
        """fflags/frm/fcsr read-modify-write, as Machine.csr does it."""
        number, kind = ins.imm, ins.kind
        if number == CSR_FFLAGS:
            asm.load(X.RAX, X.RDI, 8 * FFLAGS)
        elif number == CSR_FRM:
            asm.load(X.RAX, X.RDI, 8 * FRM)
        else:
            asm.load(X.RAX, X.RDI, 8 * FRM)
            asm.shift_imm(X.SHL, X.RAX, 5)
            asm.op_rm(X.OP_OR, X.RAX, X.RDI, 8 * FFLAGS)
        # csrrw(i) always writes; csrrs/csrrc(i) only with a nonzero rs1 field.
        if kind.startswith("csrrw") or ins.ex != 0:
            if kind.endswith("i"):
                asm.mov_imm(X.RCX, ins.ex)
            else:
                asm.load(X.RCX, X.RDI, 8 * ins.rs1)
            if kind.startswith("csrrw"):
                asm.mov_rr(X.RDX, X.RCX)
            elif kind.startswith("csrrs"):
                asm.mov_rr(X.RDX, X.RAX)
                asm.op_rr(0x09, X.RCX, X.RDX)  # or rdx, rcx
            else:
                asm.mov_rr(X.RDX, X.RCX)
                asm.op_rr(0xF7, 2, X.RDX)  # not rdx
                asm.op_rr(0x21, X.RAX, X.RDX)  # and rdx, rax
            if number == CSR_FFLAGS:
                asm.imm_group(X.AND, X.RDX, 0x1F)
                asm.store(X.RDI, 8 * FFLAGS, X.RDX)
            elif number == CSR_FRM:
                asm.imm_group(X.AND, X.RDX, 7)
                asm.store(X.RDI, 8 * FRM, X.RDX)
            else:
                asm.mov_rr(X.RCX, X.RDX)
                asm.imm_group(X.AND, X.RCX, 0x1F)
                asm.store(X.RDI, 8 * FFLAGS, X.RCX)
                asm.shift_imm(X.SHR, X.RDX, 5)
                asm.imm_group(X.AND, X.RDX, 7)
                asm.store(X.RDI, 8 * FRM, X.RDX)
        if ins.rd:
            asm.store(X.RDI, 8 * ins.rd, X.RAX)

    @staticmethod
    def _set(asm: X.Asm, rd: int, value: int) -> None:
        value &= MASK
        if value < 1 << 31 or value >= (1 << 64) - (1 << 31):
            asm.store_imm(X.RDI, 8 * rd, value - (1 << 64) if value >> 63 else value)
        else:
            asm.mov_imm(X.RCX, value)  # rcx: a jalr keeps its target in rax
            asm.store(X.RDI, 8 * rd, X.RCX)

    @staticmethod
    def _division(asm: X.Asm, kind: str, rs1: int, rs2: int, tag: str) -> None:
        """rax = the RISC-V quotient/remainder; x86 traps where RISC-V defines a
        result (zero divisor, MIN / -1), so those cases branch around the divide."""
        w = 0 if kind.endswith("w") else 1
        signed = kind in ("div", "rem", "divw", "remw")
        rem = kind.startswith("rem")
        asm.load(X.RAX, X.RDI, 8 * rs1, w=w)
        asm.load(X.RCX, X.RDI, 8 * rs2, w=w)
        asm.op_rr(0x85, X.RCX, X.RCX, w)  # test rcx, rcx
        asm.jcc(X.CC_E, f"{tag}z")
        if signed:
            asm.imm_group(X.CMP, X.RCX, -1, w)
            asm.jcc(X.CC_E, f"{tag}m")
            if w:
                asm.emit(0x48, 0x99)  # cqo
            else:
                asm.emit(0x99)  # cdq
            asm.op_rr(0xF7, 7, X.RCX, w)  # idiv rcx
        else:
            asm.zero(X.RDX)
            asm.op_rr(0xF7, 6, X.RCX, w)  # div rcx
        if rem:
            asm.mov_rr(X.RAX, X.RDX, w)
        asm.jmp(f"{tag}d")
        if signed:
            # x / -1 = -x (wrapping: MIN / -1 = MIN); x % -1 = 0.
            asm.label(f"{tag}m")
            if rem:
                asm.zero(X.RAX)
            else:
                asm.op_rr(0xF7, 3, X.RAX, w)  # neg rax
            asm.jmp(f"{tag}d")
        asm.label(f"{tag}z")
        # x / 0 = all ones; x % 0 = x (rax already holds x).
        if not rem:
            asm.mov_imm(X.RAX, MASK)
        asm.label(f"{tag}d")
        if not w:
            asm.movsxd(X.RAX, X.RAX)

    # -- running ---------------------------------------------------------------------------
    def _wrapper(self, pc: int, host: int) -> Callable[[], Any]:
        """The Python block that enters native code at buffer offset host."""
        m = self.m
        regs, x, ic, fpu = self.regs, m.x, self.icount, m.fpu
        f, fp_used = m.f, self.fp_used
        enter, raddr, entry = self.enter, self.regs_addr, self.code_addr + host
        cget, lookup, bail = self.cache.get, self.lookup, self._bail
        entries = retired = 0
        demoted: Any = None
        generation, born = self.generation, self.generation[0]

        def native() -> Any:
            nonlocal entries, retired, demoted
            if generation[0] != born:
                # The code buffer was flushed since: never enter what is there now.
                return lookup(pc)
            if demoted is not None:
                return demoted()
            # The ignores: mypy's ctypes plugin types a slice assignment to a
            # c_uint64 array as taking list[c_uint64 | int], which is invariant,
            # so list[int] is rejected; ctypes accepts any sequence of ints.
            regs[1:32] = x[1:32]  # type: ignore[assignment]
            if fp_used[0]:
                regs[FBASE:FBASE + 32] = f  # type: ignore[assignment]
            regs[FFLAGS] = fpu.flags
            regs[FRM] = fpu.frm
            resv = m.reservation
            regs[RESERVATION] = NO_RESERVATION if resv is None else resv
            r = enter(raddr, entry)
            x[1:32] = regs[1:32]
            if fp_used[0]:
                f[:] = regs[FBASE:FBASE + 32]
            fpu.flags = regs[FFLAGS]
            fpu.frm = regs[FRM]
            resv = regs[RESERVATION]
            m.reservation = None if resv == NO_RESERVATION else resv
            n = regs[COUNT]
            ic[0] += n
            entries += 1
            retired += n
            if entries == DEMOTE_AFTER and retired < DEMOTE_BELOW * DEMOTE_AFTER:
                demoted = self._demote(pc)
            if r & 1:
                return bail(r ^ 1)
            b = cget(r)
            return b if b is not None else lookup(r)

        return native

    def _demote(self, pc: int) -> Any:
        """Python entries at pc from now on run its Python translation."""
        block = Translator.translate(self, pc)
        if self.use_cache and pc in self.cache:
            self.cache[pc] = block
        self.demotions += 1
        return block

    def _bail(self, pc: int) -> Any:
        """Run the instruction native code refused through the interpreter's
        handler (it faults, or stores into code and invalidates it), then carry
        on from wherever it leads."""
        interp = self.interp
        handler = interp.cache.get(pc) or interp.predecode(pc)
        self.icount[0] += 1
        try:
            return self.lookup(handler())
        except GuestFault as fault:
            fault.locate(pc)
            raise
        except MEMORY_ERRORS as exc:
            raise GuestFault(f"memory access outside the address space ({exc})", pc) from None

    def stats(self, seconds: float) -> Any:
        stats = super().stats(seconds)
        stats.engine = self.name
        stats.native_blocks = self.native_blocks
        stats.chain_links += self.native_links
        return stats
