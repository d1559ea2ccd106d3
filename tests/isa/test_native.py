"""The native (x86-64) tier against the interpreter, on programs built by hand.

The programs are RV64 machine code encoded here and wrapped in a one-segment
ELF, so these tests need no cross compiler. Each program is run by the
interpreter and by the native engine, and everything observable must agree:
exit status, the fault (kind and pc), instructions retired, the registers
and the data memory. The code is hot (loops run far past the native tier's
threshold), so it really runs as x86-64; the guest is hostile: addresses at
the end of the space, past it, wrapping around 2^64, stores into the code
being run, jumps to wild addresses.
"""

from __future__ import annotations

import platform
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ember.isa.riscv import GuestFault, Machine, make_engine
from ember.isa.riscv.dbt import LOOP_SLICE
from ember.isa.riscv.loader import EHDR, PHDR
from ember.isa.riscv.memory import SPACE_SIZE

BOX = 0xFFFFFFFF00000000

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                reason="the native engine emits x86-64 code")

VADDR = 0x10000
#: The data area: inside the segment (zero-filled), well away from the code pages.
DATA = 0x40000
DATA_SIZE = 0x4000
M64 = (1 << 64) - 1
EDGES = [0, 1, 2, 3, 7, M64, M64 - 1, 1 << 63, (1 << 63) - 1, 0x80000000, 0x7FFFFFFF,
         0xFFFFFFFF, 0xFFFFFFFF80000000, 0x123456789ABCDEF0, 0xFEDCBA9876543210, 5, M64 - 6]

# -- a tiny RV64 encoder -----------------------------------------------------------------
OP = {"add": (0, 0), "sub": (0x20, 0), "sll": (0, 1), "slt": (0, 2), "sltu": (0, 3),
      "xor": (0, 4), "srl": (0, 5), "sra": (0x20, 5), "or": (0, 6), "and": (0, 7),
      "mul": (1, 0), "mulh": (1, 1), "mulhsu": (1, 2), "mulhu": (1, 3), "div": (1, 4),
      "divu": (1, 5), "rem": (1, 6), "remu": (1, 7)}
OP32 = {"addw": (0, 0), "subw": (0x20, 0), "sllw": (0, 1), "srlw": (0, 5), "sraw": (0x20, 5),
        "mulw": (1, 0), "divw": (1, 4), "divuw": (1, 5), "remw": (1, 6), "remuw": (1, 7)}
OPIMM = {"addi": 0, "slti": 2, "sltiu": 3, "xori": 4, "ori": 6, "andi": 7}
SHIFTI = {"slli": (0, 1), "srli": (0, 5), "srai": (0x400, 5)}
SHIFTIW = {"slliw": (0, 1), "srliw": (0, 5), "sraiw": (0x400, 5)}
LOADS = {"lb": 0, "lh": 1, "lw": 2, "ld": 3, "lbu": 4, "lhu": 5, "lwu": 6}
STORES = {"sb": 0, "sh": 1, "sw": 2, "sd": 3}
BRANCHES = {"beq": 0, "bne": 1, "blt": 4, "bge": 5, "bltu": 6, "bgeu": 7}
AMOS = {"amoadd": 0x00, "amoswap": 0x01, "amoxor": 0x04, "amoor": 0x08, "amoand": 0x0C,
        "amomin": 0x10, "amomax": 0x14, "amominu": 0x18, "amomaxu": 0x1C}
CSRS = {"csrrw": 1, "csrrs": 2, "csrrc": 3, "csrrwi": 5, "csrrsi": 6, "csrrci": 7}


def r_type(kind: str, rd: int, rs1: int, rs2: int) -> int:
    f7, f3 = OP.get(kind) or OP32[kind]
    opcode = 0x33 if kind in OP else 0x3B
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opcode


def i_type(kind: str, rd: int, rs1: int, imm: int) -> int:
    if kind in SHIFTI:
        hi, f3 = SHIFTI[kind]
        return (hi | imm & 63) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x13
    if kind in SHIFTIW:
        hi, f3 = SHIFTIW[kind]
        return (hi | imm & 31) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x1B
    if kind == "addiw":
        return (imm & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x1B
    if kind in LOADS:
        return (imm & 0xFFF) << 20 | rs1 << 15 | LOADS[kind] << 12 | rd << 7 | 0x03
    if kind == "jalr":
        return (imm & 0xFFF) << 20 | rs1 << 15 | rd << 7 | 0x67
    if kind in CSRS:  # imm is the CSR number; rs1 the register or the zimm
        return (imm & 0xFFF) << 20 | rs1 << 15 | CSRS[kind] << 12 | rd << 7 | 0x73
    return (imm & 0xFFF) << 20 | rs1 << 15 | OPIMM[kind] << 12 | rd << 7 | 0x13


def s_type(kind: str, rs1: int, rs2: int, imm: int) -> int:
    imm &= 0xFFF
    return (imm >> 5) << 25 | rs2 << 20 | rs1 << 15 | STORES[kind] << 12 | (imm & 31) << 7 | 0x23


def b_type(kind: str, rs1: int, rs2: int, offset: int) -> int:
    o = offset & 0x1FFF
    return ((o >> 12) << 31 | ((o >> 5) & 0x3F) << 25 | rs2 << 20 | rs1 << 15
            | BRANCHES[kind] << 12 | ((o >> 1) & 0xF) << 8 | ((o >> 11) & 1) << 7 | 0x63)


def atomic(kind: str, rd: int, rs1: int, rs2: int = 0) -> int:
    """lr.w/d, sc.w/d, amo<op>.w/d (aq and rl clear)."""
    name, width = kind.rsplit(".", 1)
    f5 = {"lr": 0x02, "sc": 0x03}.get(name, AMOS.get(name, 0))
    return f5 << 27 | rs2 << 20 | rs1 << 15 | (2 if width == "w" else 3) << 12 | rd << 7 | 0x2F


FMA_OPS = {"fmadd": 0x43, "fmsub": 0x47, "fnmsub": 0x4B, "fnmadd": 0x4F}


def fma(kind: str, rd: int, rs1: int, rs2: int, rs3: int, rm: int = 7) -> int:
    name, fmt = kind.split(".")
    return (rs3 << 27 | (fmt == "d") << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7
            | FMA_OPS[name])


FP_OPS = {"fadd": 0x00, "fsub": 0x04, "fmul": 0x08, "fdiv": 0x0C, "fsqrt": 0x2C}


def fp_op(kind: str, rd: int, rs1: int, rs2: int = 0, rm: int = 7) -> int:
    """fadd/fsub/fmul/fdiv/fsqrt.{s,d}, fcvt.{s,d}.{w,wu,l,lu}, fsgnj*.d, fmv.*."""
    name, _, fmt = kind.rpartition(".")
    ints = ("w", "wu", "l", "lu")
    if name.startswith("fcvt.") and kind.split(".")[1] in ints:  # fcvt.<int>.<fp>
        f7, rs2 = 0x60 | (fmt == "d"), ints.index(kind.split(".")[1])
    elif name.startswith("fcvt."):  # fcvt.<fp>.<int>
        fp, src = kind.split(".")[1:]
        f7 = 0x68 | (fp == "d")
        rs2 = ints.index(src)
    elif name in ("feq", "flt", "fle"):
        f7, rm = 0x50 | (fmt == "d"), {"fle": 0, "flt": 1, "feq": 2}[name]
    elif name in FP_OPS:
        f7 = FP_OPS[name] | (fmt == "d")
    elif name.startswith("fsgnj"):
        f7, rm = 0x11, {"fsgnj": 0, "fsgnjn": 1, "fsgnjx": 2}[name]
    else:  # fmv.x.d, fmv.d.x, fmv.x.w, fmv.w.x
        f7 = {"fmv.x.d": 0x71, "fmv.d.x": 0x79, "fmv.x.w": 0x70, "fmv.w.x": 0x78}[kind]
        rm = rs2 = 0
    if name == "fsqrt":
        rs2 = 0
    return f7 << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | 0x53


def fp_mem(kind: str, freg: int, base: int, imm: int) -> int:
    """fld/flw (freg = destination) and fsd/fsw (freg = source)."""
    f3 = 3 if kind in ("fld", "fsd") else 2
    if kind in ("fld", "flw"):
        return (imm & 0xFFF) << 20 | base << 15 | f3 << 12 | freg << 7 | 0x07
    imm &= 0xFFF
    return (imm >> 5) << 25 | freg << 20 | base << 15 | f3 << 12 | (imm & 31) << 7 | 0x27


def u_type(kind: str, rd: int, imm20: int) -> int:
    return (imm20 & 0xFFFFF) << 12 | rd << 7 | (0x37 if kind == "lui" else 0x17)


def jal(rd: int, offset: int) -> int:
    o = offset & 0x1FFFFF
    return ((o >> 20) << 31 | ((o >> 1) & 0x3FF) << 21 | ((o >> 11) & 1) << 20
            | ((o >> 12) & 0xFF) << 12 | rd << 7 | 0x6F)


def li(rd: int, value: int) -> list[int]:
    """rd = a 12-bit signed value."""
    return [i_type("addi", rd, 0, value)]


EXIT = [*li(17, 93), 0x00000073]
#: ELF e_flags: compressed instructions, double-float ABI (qemu wants the ABI).
RVC_DOUBLE_ABI = 5  # a7 = exit; ecall (status in a0)
NOP = i_type("addi", 0, 0, 0)


def elf(words: list[int], tmp: Path, name: str, tail: bytes = b"") -> Path:
    """A one-segment RWX executable at VADDR (code, then ``tail``) whose bss
    holds the data area."""
    code = struct.pack(f"<{len(words)}I", *words) + tail
    off = EHDR.size + PHDR.size
    memsz = DATA + DATA_SIZE - VADDR
    header = EHDR.pack(b"\x7fELF\x02\x01\x01" + bytes(9), 2, 243, 1, VADDR + off, EHDR.size,
                       0, RVC_DOUBLE_ABI, EHDR.size, PHDR.size, 1, 64, 0, 0)
    load = PHDR.pack(1, 7, 0, VADDR, VADDR, off + len(code), memsz, 0x1000)
    path = tmp / name
    path.write_bytes(header + load + code)
    path.chmod(0o755)  # qemu-riscv64 runs only executable files
    return path


def code_addr(index: int) -> int:
    """Guest address of word ``index`` of the program."""
    return VADDR + EHDR.size + PHDR.size + 4 * index


def run(path: Path, engine: str, regs: dict[int, int] | None = None,
        limit: int | None = 2_000_000, fregs: list[int] | None = None) -> dict[str, Any]:
    machine = Machine(str(path), [str(path)], [])
    for n, value in (regs or {}).items():
        machine.x[n] = value & M64
    for n, value in enumerate(fregs or []):
        machine.f[n] = value & M64
    eng = make_engine(machine, engine)
    out: dict[str, Any] = {}
    try:
        out["status"] = eng.run(limit)
    except GuestFault as fault:
        out["fault"] = (type(fault).__name__, fault.pc)
    out["instret"] = machine.instret
    out["x"] = list(machine.x[:32])
    out["f"] = list(machine.f)
    out["fcsr"] = (machine.fpu.flags, machine.fpu.frm)
    out["data"] = machine.space.read(DATA, DATA_SIZE)
    out["native_blocks"] = getattr(eng, "native_blocks", 0)
    out["links"] = getattr(eng, "native_links", 0)
    # Stores that hit code: native flushes whole, the translator one page.
    out["flushes"] = machine.flushes + machine.invalidations
    if hasattr(eng, "close"):
        eng.close()
    machine.space.close()
    return out


def same(path: Path, regs: dict[int, int] | None = None,
         limit: int | None = 2_000_000, fregs: list[int] | None = None) -> dict[str, Any]:
    """Run under both engines, assert they agree, return the native run."""
    ref = run(path, "interp", regs, limit, fregs)
    got = run(path, "native", regs, limit, fregs)
    assert got.get("fault") == ref.get("fault")
    assert got.get("status") == ref.get("status")
    if "fault" not in ref:  # the engines count a faulting instruction differently
        assert got["instret"] == ref["instret"]
    assert [hex(v) for v in got["x"]] == [hex(v) for v in ref["x"]]
    assert [hex(v) for v in got["f"]] == [hex(v) for v in ref["f"]]
    assert got["fcsr"] == ref["fcsr"]
    assert got["data"] == ref["data"]
    assert got["flushes"] == ref["flushes"]
    return got


def loop(body: list[int], count: int = 60, counter: int = 31) -> list[int]:
    """``count`` passes over body (counter register counts down), then exit."""
    words = [*li(counter, count), *body, i_type("addi", counter, counter, -1)]
    words.append(b_type("bne", counter, 0, -4 * (len(body) + 1)))
    return words + EXIT


# -- hostile memory accesses -------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ld", "lw", "lhu", "lb", "sd", "sw", "sh", "sb"])
@pytest.mark.parametrize("start, step", [
    (SPACE_SIZE - 8 * 40, 8),      # walks off the end of the space
    (SPACE_SIZE - 8 * 40 + 5, 8),  # misaligned, straddling the end
    (8 * 30, -8),                  # walks below address 0: wraps around to 2^64 - 8
    (DATA, 1 << 24),               # strides past the end
])
def test_hostile_addresses_fault_like_the_interpreter(tmp_path: Path, kind: str, start: int,
                                                      step: int) -> None:
    """A hot loop walks an address out of the space: the native tier must bail
    out at the access, which faults with its pc as in the interpreter."""
    access = (i_type(kind, 5, 6, 0) if kind in LOADS else s_type(kind, 6, 7, 0))
    body = [access, r_type("add", 6, 6, 9), i_type("addi", 8, 8, 1)]
    prog = elf(loop(body, count=100), tmp_path, "walk")
    got = same(prog, {6: start, 7: 0x1122334455667788, 9: step})
    assert got["native_blocks"] >= 1
    assert got["fault"] == ("GuestFault", code_addr(1))
    assert 20 < got["x"][8] < 100  # it faulted after going native, before the loop ended


def test_offsets_wrap_modulo_2_64(tmp_path: Path) -> None:
    """rs1 + imm is computed modulo 2^64: base -8 plus offset 16 is address 8
    (inside the space); native code must neither fault nor touch anything else."""
    body = [s_type("sd", 6, 7, 16), i_type("ld", 5, 6, 16), r_type("add", 9, 9, 5),
            i_type("addi", 7, 7, 3), i_type("lbu", 8, 6, 23)]
    prog = elf(loop(body), tmp_path, "wrap")
    got = same(prog, {6: M64 - 7, 7: 0x0102030405060708})
    assert "fault" not in got and got["native_blocks"] >= 1
    assert got["x"][8] == 0x01  # the top byte of the last value stored at address 8


def test_stores_into_the_running_code_are_seen(tmp_path: Path) -> None:
    """A hot native loop that rewrites one of its own later instructions: the
    store bails out to Python, which invalidates the native code."""
    n = 7  # index of the patched instruction (after the li of the counter)
    patched = code_addr(n)
    body = [
        s_type("sw", 6, 7, 0),            # 1: store x7 (an instruction word) at x6
        i_type("addi", 9, 9, 1),          # 2
        i_type("addi", 10, 10, 2),        # 3
        i_type("xori", 11, 9, 0x55),      # 4
        r_type("add", 12, 12, 11),        # 5
        i_type("addi", 13, 13, -1),       # 6
        NOP,                              # 7: becomes addi x14, x14, 5
    ]
    prog = elf(loop(body), tmp_path, "smc")
    got = same(prog, {6: patched, 7: i_type("addi", 14, 14, 5)})
    assert got["x"][14] == 5 * 60
    assert got["flushes"] == 60


def test_wild_indirect_jump_faults_at_its_target(tmp_path: Path) -> None:
    """jalr from native code to an address the guest computes: off into
    unmapped memory after the loop has gone native (x6 grows each pass)."""
    body = [i_type("addi", 6, 6, 64),
            b_type("bltu", 6, 7, 8),           # skip the jump while x6 < x7
            i_type("jalr", 1, 6, 0),
            i_type("addi", 9, 9, 1)]
    prog = elf(loop(body, count=200), tmp_path, "wild")
    got = same(prog, {6: 0, 7: 64 * 100})
    assert got["fault"] == ("GuestFault", 64 * 100)


# -- arithmetic edge cases -----------------------------------------------------------------
M_OPS = ["mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu",
         "mulw", "divw", "divuw", "remw", "remuw", "sll", "srl", "sra", "sllw", "srlw", "sraw",
         "slt", "sltu", "addw", "subw"]


@pytest.mark.parametrize("kind", M_OPS)
def test_m_extension_edge_cases_in_native_code(tmp_path: Path, kind: str) -> None:
    """Every pair of edge values (zero divisors, INT_MIN / -1, ...) through a hot
    loop. The operand table follows the code; it is walked three times, so every
    pair also runs natively; each result is stored to the data area."""
    pairs = [(a, b) for a in EDGES for b in EDGES]
    # x20 table cursor, x21 result cursor, x22 pairs left; x23-x25 their start values
    body = [i_type("ld", 5, 20, 0), i_type("ld", 6, 20, 8), r_type(kind, 7, 5, 6),
            s_type("sd", 21, 7, 0), i_type("addi", 20, 20, 16), i_type("addi", 21, 21, 8),
            i_type("addi", 22, 22, -1)]
    inner = [*body, b_type("bne", 22, 0, -4 * len(body))]
    restart = [r_type("add", 20, 23, 0), r_type("add", 21, 25, 0), r_type("add", 22, 24, 0)]
    words = [*li(30, 3), *restart, *inner, i_type("addi", 30, 30, -1),
             b_type("bne", 30, 0, -4 * (len(inner) + len(restart) + 1)), *li(10, 0), *EXIT]
    if len(words) % 2:
        words.append(NOP)
    table = struct.pack(f"<{2 * len(pairs)}Q", *(v for pair in pairs for v in pair))
    prog = elf(words, tmp_path, kind, table)
    got = same(prog, {23: code_addr(len(words)), 24: len(pairs), 25: DATA})
    assert got["status"] == 0 and got["native_blocks"] >= 1
    results = dict(zip(pairs, struct.unpack_from(f"<{len(pairs)}Q", got["data"])))
    int_min, five = 1 << 63, 5
    if kind in ("div", "divu"):
        assert results[five, 0] == M64  # x / 0 = all ones
    if kind in ("rem", "remu"):
        assert results[five, 0] == five  # x % 0 = x
    if kind == "div":
        assert results[int_min, M64] == int_min  # overflow: INT64_MIN / -1
    if kind == "rem":
        assert results[int_min, M64] == 0
    if kind == "divw":
        assert results[0xFFFFFFFF80000000, M64] == 0xFFFFFFFF80000000
        assert results[five, 0] == M64
    if kind == "remuw":
        assert results[0xFFFFFFFF, 0] == M64  # sign-extended x


@pytest.mark.parametrize("kind", [f"{op}.{w}" for op in sorted(AMOS) for w in "wd"])
def test_amos_in_native_code(tmp_path: Path, kind: str) -> None:
    """Each AMO over edge values, hot: the old value to rd, the new one to memory."""
    # x20 walks the memory cells (8 bytes apart), x6 the operand
    body = [atomic(kind, 5, 20, 6), r_type("add", 9, 9, 5), i_type("addi", 20, 20, 8),
            r_type("xor", 6, 6, 5), i_type("addi", 6, 6, 0x123)]
    prog = elf(loop(body, count=len(EDGES) * 4), tmp_path, kind.replace(".", "_"))
    got = same(prog, {20: DATA, 6: 1 << 63})
    assert got["native_blocks"] >= 1 and "fault" not in got


def test_lr_sc_in_native_code(tmp_path: Path) -> None:
    """LR/SC pairs that succeed, and SCs without a reservation that fail."""
    body = [atomic("lr.d", 5, 20), i_type("addi", 5, 5, 3), atomic("sc.d", 7, 20, 5),
            r_type("add", 9, 9, 7),               # failures so far
            atomic("sc.w", 8, 20, 5),             # no reservation left: fails
            r_type("add", 10, 10, 8),
            atomic("lr.w", 11, 21), atomic("sc.w", 12, 20, 11),  # reserved elsewhere: fails
            r_type("add", 13, 13, 12)]
    prog = elf(loop(body), tmp_path, "lrsc")
    got = same(prog, {20: DATA, 21: DATA + 64})
    assert got["x"][9] == 0 and got["x"][10] == 60 and got["x"][13] == 60
    assert struct.unpack_from("<Q", got["data"])[0] == 3 * 60


@pytest.mark.parametrize("kind", ["amoadd.w", "amoswap.d", "lr.d", "sc.w"])
def test_misaligned_atomic_in_native_code_is_a_bus_error(tmp_path: Path, kind: str) -> None:
    """The address goes out of alignment (by one byte, at pass 40) after the
    loop went native."""
    rs2 = 0 if kind.startswith("lr") else 6
    body = [atomic(kind, 5, 20, rs2), i_type("addi", 20, 20, 8), i_type("addi", 8, 8, 1),
            i_type("xori", 9, 31, 40), i_type("sltiu", 9, 9, 1),  # x9 = (x31 == 40)
            r_type("add", 20, 20, 9)]
    prog = elf(loop(body, count=100), tmp_path, "misaligned")
    got = same(prog, {20: DATA, 6: 5})
    assert got["fault"] == ("BusError", code_addr(1))
    assert got["native_blocks"] >= 1


D_EDGES = [0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FF0000000000000,
           0xFFF0000000000000, 0x7FF8000000000000, 0x7FF4000000000000, 0x0000000000000001,
           0x8000000000000003, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF, 0x3FD5555555555555,
           0x4008000000000000, 0x001FFFFFFFFFFFFF, 0xC090000000000001]
#: Doubles around the integer ranges (2^31, 2^32, 2^63, 2^64, -0.5, -1.5, 2.5).
CVT_EDGES = [0x41E0000000000000, 0x41DFFFFFFFC00000, 0x41F0000000000000, 0x43E0000000000000,
             0x43F0000000000000, 0xBFE0000000000000, 0xBFF8000000000000, 0x4004000000000000]
S_EDGES = [BOX | v for v in (0, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0x7FC00000,
                             0x7FA00000, 0x00000001, 0x80000007, 0x00800000, 0x7F7FFFFF,
                             0x3EAAAAAB, 0x40400000)] + [0x3F800000, 0x123456789ABCDEF0]


@pytest.mark.parametrize("rm", [7, 0, 1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["fadd.d", "fsub.d", "fmul.d", "fdiv.d", "fsqrt.d",
                                  "fadd.s", "fsub.s", "fmul.s", "fdiv.s", "fsqrt.s",
                                  "fcvt.w.d", "fcvt.wu.d", "fcvt.l.d", "fcvt.lu.d",
                                  "fcvt.w.s", "fcvt.wu.s", "fcvt.l.s", "fcvt.lu.s",
                                  "feq.d", "flt.d", "fle.d", "feq.s", "flt.s", "fle.s"])
def test_fp_edge_cases_in_native_code_match_qemu(tmp_path: Path, kind: str, rm: int, qemu: str,
                                                 capfdbinary: pytest.CaptureFixture[bytes]
                                                 ) -> None:
    """Every pair of edge values (signed zeros, infinities, quiet and signalling
    NaNs, subnormals, the largest finite, values around the integer ranges,
    badly boxed singles) through a hot loop, in every rounding mode (static,
    and dynamic with frm cycling through RNE, RTZ, RDN and RUP; RMM bails out
    to Python). Each result and the fflags it raised go to the data area, which
    the program writes to stdout: byte for byte what qemu-riscv64 writes.
    (The reference is qemu: the native tier is x86's arithmetic, and qemu an
    independent model of RISC-V's.)"""

    edges = D_EDGES + CVT_EDGES if kind.endswith(".d") else S_EDGES + [BOX | 0x4F000000]
    pairs = [(a, b) for a in edges for b in edges]
    to_x = kind.startswith(("feq", "flt", "fle")) or kind.split(".")[1] in ("w", "wu", "l", "lu")
    body = [fp_mem("fld", 1, 20, 0), fp_mem("fld", 2, 20, 8),
            fp_op(kind, 3, 1, 0 if kind.startswith("fsqrt") else 2, rm),
            s_type("sd", 21, 3, 0) if to_x else fp_mem("fsd", 3, 21, 0),
            i_type("csrrs", 5, 0, 1), s_type("sd", 21, 5, 8), i_type("csrrw", 0, 0, 1),
            i_type("addi", 20, 20, 16), i_type("addi", 21, 21, 16),
            i_type("addi", 22, 22, -1),
            i_type("andi", 6, 22, 3), i_type("csrrw", 0, 6, 2)]  # frm = pairs left & 3
    _edge_table_matches_qemu(body, pairs, kind.replace(".", "_"), tmp_path, qemu, capfdbinary)


FMA_D = [0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FF0000000000000,
         0x7FF8000000000000, 0x7FF4000000000000, 0x0000000000000001, 0x7FEFFFFFFFFFFFFF,
         0x3FD5555555555555]
FMA_S = [BOX | v for v in (0, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0x7FC00000,
                           0x7FA00000, 0x00000001, 0x7F7FFFFF)] + [0x3EAAAAAB]


@pytest.mark.parametrize("rm", [7, 1, 4])
@pytest.mark.parametrize("kind", [f"{op}.{p}" for op in FMA_OPS for p in "sd"])
def test_fused_multiply_adds_match_qemu(tmp_path: Path, kind: str, rm: int, qemu: str,
                                        capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    """Every triple of edge values (inf * 0 + qNaN among them, where RISC-V
    wants NV) through the four fused multiply-adds: results and flags as qemu's."""

    edges = FMA_D if kind.endswith(".d") else FMA_S
    triples = [(a, b, c) for a in edges for b in edges for c in edges]
    body = [fp_mem("fld", 1, 20, 0), fp_mem("fld", 2, 20, 8), fp_mem("fld", 4, 20, 16),
            fma(kind, 3, 1, 2, 4, rm), fp_mem("fsd", 3, 21, 0),
            i_type("csrrw", 5, 0, 1), s_type("sd", 21, 5, 8),
            i_type("addi", 20, 20, 24), i_type("addi", 21, 21, 16), i_type("addi", 22, 22, -1),
            i_type("andi", 6, 22, 3), i_type("csrrw", 0, 6, 2)]
    _edge_table_matches_qemu(body, triples, kind.replace(".", "_"), tmp_path, qemu, capfdbinary)


def _edge_table_matches_qemu(body: list[int], operands: list[tuple[int, ...]], name: str,
                             tmp_path: Path, qemu: str,
                             capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    """Run *body* as a hot loop over a table of operand tuples, twice, under the
    native engine and under qemu-riscv64: the 16 bytes each iteration stores (a
    result and its fflags) must be the same, byte for byte.

    Registers: x20 walks the operand table, x21 the data area, x22 counts the
    tuples down (the body advances and decrements them); x23 = the table (after
    the code), x24 = the tuple count, x25 = the data area, written to stdout."""
    import subprocess

    inner = [*body, b_type("bne", 22, 0, -4 * len(body))]
    restart = [r_type("add", 20, 23, 0), r_type("add", 21, 25, 0), r_type("add", 22, 24, 0)]
    words = [u_type("auipc", 23, 0), NOP, u_type("lui", 25, DATA >> 12), *li(24, len(operands)),
             *li(30, 2), *restart, *inner, i_type("addi", 30, 30, -1),
             b_type("bne", 30, 0, -4 * (len(inner) + len(restart) + 1)),
             *li(10, 1), r_type("add", 11, 25, 0), i_type("slli", 12, 24, 4), *li(17, 64),
             0x00000073,  # write(1, data, 16 * tuples)
             *li(10, 0), *EXIT]
    if len(words) % 2:
        words.append(NOP)
    words[1] = i_type("addi", 23, 23, 4 * len(words))
    width = len(operands[0])
    table = struct.pack(f"<{width * len(operands)}Q", *(v for ops in operands for v in ops))
    prog = elf(words, tmp_path, name, table)
    capfdbinary.readouterr()
    got = run(prog, "native")
    out = capfdbinary.readouterr().out
    assert got["status"] == 0 and got["native_blocks"] >= 1
    ref = subprocess.run([qemu, str(prog)], capture_output=True, timeout=60, check=False)
    assert ref.returncode == 0
    assert len(out) == 16 * len(operands)
    if out != ref.stdout:
        ours = struct.unpack(f"<{2 * len(operands)}Q", out)
        theirs = struct.unpack(f"<{2 * len(operands)}Q", ref.stdout)
        bad = [",".join(f"{v:#x}" for v in ops) + f": ours {ours[2 * i]:#x}/{ours[2 * i + 1]} "
               f"qemu {theirs[2 * i]:#x}/{theirs[2 * i + 1]}"
               for i, ops in enumerate(operands) if ours[2 * i:2 * i + 2] != theirs[2 * i:2 * i + 2]]
        pytest.fail(f"{len(bad)} results differ from qemu: " + "; ".join(bad[:5]))


INF_OVER_ZERO = """
    .globl _start
_start:
    li t0, 0x7ff0000000000000
    fmv.d.x f1, t0
    fmv.d.x f2, zero
    li s0, 40
1:  fdiv.d f3, f1, f2
    csrrw a0, fflags, zero      # a0 = the flags of this division
    addi s0, s0, -1
    bnez s0, 1b
    li a7, 93
    ecall
"""


def test_infinity_over_zero_is_exact_like_qemu(asm_dir: Path, qemu: str) -> None:
    """inf / 0 is an exact infinity: IEEE 754 (and qemu) raise no flag (DZ is for
    finite dividends). Python's soft-float (the other tiers) raises DZ here,
    which is why the edge-case tables above leave these pairs out."""
    import subprocess

    from isa_support import assemble

    prog = assemble(asm_dir, "infdiv", INF_OVER_ZERO)
    got = run(prog, "native")
    assert got["native_blocks"] >= 1
    assert got["f"][3] == 0x7FF0000000000000
    ref = subprocess.run([qemu, str(prog)], capture_output=True, timeout=30, check=False)
    assert got["status"] == ref.returncode == 0


@pytest.mark.parametrize("kind", ["fcvt.d.w", "fcvt.d.wu", "fcvt.d.l", "fcvt.d.lu", "fcvt.s.w",
                                  "fcvt.s.wu", "fcvt.s.l", "fcvt.s.lu", "fmv.x.d", "fmv.x.w",
                                  "fmv.d.x", "fmv.w.x", "fsgnj.d", "fsgnjn.d", "fsgnjx.d"])
def test_fp_conversions_and_moves_in_native_code(tmp_path: Path, kind: str) -> None:
    """Integer edge values through conversions and bit moves, hot, in all modes."""
    to_int = kind in ("fmv.x.d", "fmv.x.w")
    from_int = kind.startswith("fcvt") or kind in ("fmv.d.x", "fmv.w.x")
    op = fp_op(kind, 5 if to_int else 3, 1 if not from_int else 6, 2, 7)
    body = [i_type("ld", 6, 20, 0), fp_mem("fld", 1, 20, 0), fp_mem("fld", 2, 20, 8), op,
            fp_mem("fsd", 3, 21, 0), s_type("sd", 21, 5, 8),
            i_type("csrrs", 7, 0, 1), s_type("sd", 21, 7, 16),
            i_type("addi", 20, 20, 8), i_type("addi", 21, 21, 24),
            i_type("andi", 8, 31, 3), i_type("csrrw", 0, 8, 2)]
    values = EDGES + D_EDGES + S_EDGES
    tail = struct.pack(f"<{len(values) + 1}Q", *values, 0)
    words = loop(body, count=len(values))
    if len(words) % 2:
        words.append(NOP)
    prog = elf(words, tmp_path, kind.replace(".", "_"), tail)
    got = same(prog, {20: code_addr(len(words)), 21: DATA})
    assert got["native_blocks"] >= 1


def test_code_from_before_a_flush_is_never_entered(tmp_path: Path) -> None:
    """A native block's Python wrapper that outlives a flush (its buffer space
    is reused) must not jump into the buffer: it hands over to a fresh lookup."""
    prog = elf(loop([i_type("addi", 5, 5, 1)]), tmp_path, "stale")
    machine = Machine(str(prog), [str(prog)], [])
    engine = make_engine(machine, "native")
    try:
        block = engine.translate(code_addr(1))
        assert engine.native_blocks == 1
        machine.flush()
        after = block()
        assert engine.icount[0] == 0 and machine.x[5] == 0  # nothing ran
        assert after is engine.cache[code_addr(1)]
    finally:
        engine.close()
        machine.space.close()


# -- control flow, counting, limits ---------------------------------------------------------
def test_recursive_calls_and_returns_chain_natively(tmp_path: Path) -> None:
    """fib(n) by plain recursion: calls (jal) and returns (jalr) between native
    blocks go through native chaining and the jump table."""
    # fib(a0): if a0 < 2 return a0; return fib(a0-1) + fib(a0-2)   (stack at x2)
    fib = [
        i_type("slti", 5, 10, 2),                 # 0
        b_type("beq", 5, 0, 8),                   # 1 -> 3
        i_type("jalr", 0, 1, 0),                  # 2 ret
        i_type("addi", 2, 2, -24),                # 3
        s_type("sd", 2, 1, 0), s_type("sd", 2, 10, 8),     # 4, 5
        i_type("addi", 10, 10, -1),               # 6
        jal(1, -4 * 7),                           # 7 call fib
        s_type("sd", 2, 10, 16),                  # 8
        i_type("ld", 10, 2, 8), i_type("addi", 10, 10, -2),  # 9, 10
        jal(1, -4 * 11),                          # 11 call fib
        i_type("ld", 5, 2, 16), r_type("add", 10, 10, 5),    # 12, 13
        i_type("ld", 1, 2, 0), i_type("addi", 2, 2, 24),     # 14, 15
        i_type("jalr", 0, 1, 0),                  # 16 ret
    ]
    # main: a0 = 18; call fib (which follows main's exit code); exit(fib(18) & 0xff)
    main = [*li(10, 18), jal(1, 4 * 4), i_type("andi", 10, 10, 0xFF), *EXIT, NOP]
    prog = elf(main + fib, tmp_path, "fib")
    got = same(prog, {2: DATA + DATA_SIZE - 8})
    assert got["status"] == 2584 & 0xFF
    assert got["native_blocks"] >= 3 and got["links"] >= 1


def test_endless_native_loop_obeys_the_limit(tmp_path: Path) -> None:
    """Native code returns to Python every LOOP_SLICE instructions, so --limit
    stops a loop that never leaves native code."""
    prog = elf([i_type("addi", 5, 5, 1), r_type("xor", 6, 6, 5), jal(0, -8)], tmp_path, "spin")
    limit = 3 * LOOP_SLICE
    got = run(prog, "native", limit=limit)
    assert got["fault"][0] == "GuestFault"
    assert limit <= got["instret"] < limit + LOOP_SLICE + 64
    assert got["x"][5] == got["instret"] // 3 + (got["instret"] % 3 >= 1)


def test_fflags_and_frm_in_native_code(tmp_path: Path) -> None:
    """fflags/frm/fcsr read-modify-writes (what fetestexcept/fesetround do) run
    natively and leave the FPU state as the interpreter does."""
    body = [
        i_type("csrrsi", 5, 3, 1),      # flags |= 3 (zimm in the rs1 field), old -> x5
        i_type("csrrw", 6, 9, 2),       # frm = x9 (masked to 3 bits), old -> x6
        i_type("csrrci", 7, 1, 1),      # flags &= ~1
        i_type("csrrs", 8, 0, 3),       # read fcsr
        i_type("csrrw", 0, 10, 1),      # fflags = x10
        i_type("addi", 9, 9, 3), i_type("addi", 10, 10, 5),
        r_type("add", 11, 11, 8),
    ]
    prog = elf(loop(body), tmp_path, "csr")
    got = same(prog)
    assert got["native_blocks"] >= 1 and got["x"][11] != 0


# -- random programs ---------------------------------------------------------------------
REG = st.integers(1, 29)  # x30 holds the data pointer, x31 the loop counter
IMM12 = st.integers(-2048, 2047)

_alu = st.tuples(st.sampled_from(sorted(OP) + sorted(OP32)), REG, REG, REG).map(
    lambda t: r_type(t[0], t[1], t[2], t[3]))
_imm = st.tuples(st.sampled_from(sorted(OPIMM) + ["addiw"]), REG, REG, IMM12).map(
    lambda t: i_type(t[0], t[1], t[2], t[3]))
_shift = st.tuples(st.sampled_from(sorted(SHIFTI) + sorted(SHIFTIW)), REG, REG,
                   st.integers(0, 63)).map(lambda t: i_type(t[0], t[1], t[2], t[3]))
_upper = st.tuples(st.sampled_from(["lui", "auipc"]), REG, st.integers(0, 0xFFFFF)).map(
    lambda t: u_type(t[0], t[1], t[2]))
# Memory through x30 (the data area) mostly, through any register sometimes.
_base = st.one_of(st.just(30), st.just(30), st.just(30), REG)
_load = st.tuples(st.sampled_from(sorted(LOADS)), REG, _base, st.integers(-64, 256)).map(
    lambda t: i_type(t[0], t[1], t[2], t[3]))
_store = st.tuples(st.sampled_from(sorted(STORES)), _base, REG, st.integers(-64, 256)).map(
    lambda t: s_type(t[0], t[1], t[2], t[3]))
_csr = st.tuples(st.sampled_from(sorted(CSRS)), REG, st.integers(0, 31),
                 st.sampled_from([1, 2, 3])).map(lambda t: i_type(t[0], t[1], t[2], t[3]))
_atomic = st.tuples(st.sampled_from(sorted(f"{op}.{w}" for op in [*AMOS, "lr", "sc"]
                                          for w in "wd")), REG, st.just(30), REG).map(
    lambda t: atomic(t[0], t[1], t[2], 0 if t[0].startswith("lr") else t[3]))
FREG = st.integers(0, 31)
_fparith = st.tuples(st.sampled_from([f"{op}.{p}" for op in FP_OPS for p in "sd"]), FREG, FREG,
                     FREG, st.sampled_from([7, 7, 7, 0, 1, 2, 3])).map(
    lambda t: fp_op(t[0], t[1], t[2], t[3], t[4]))
_fpcompare = st.tuples(st.sampled_from([f"{op}.{p}" for op in ("feq", "flt", "fle") for p in "sd"]
                                        + [f"fcvt.{i}.{p}" for i in ("w", "wu", "l", "lu")
                                           for p in "sd"]),
                       REG, FREG, FREG, st.sampled_from([7, 0, 1, 2, 3])).map(
    lambda t: fp_op(t[0], t[1], t[2], 0 if t[0].startswith("fcvt") else t[3], t[4]))
_fpmove = st.one_of(
    st.tuples(st.sampled_from(["fmv.x.d", "fmv.x.w"]), REG, FREG).map(
        lambda t: fp_op(t[0], t[1], t[2])),
    st.tuples(st.sampled_from(["fmv.d.x", "fmv.w.x"]), FREG, REG).map(
        lambda t: fp_op(t[0], t[1], t[2])),
    st.tuples(st.sampled_from([f"fcvt.{p}.{i}" for p in "sd" for i in ("w", "wu", "l", "lu")]),
              FREG, REG).map(lambda t: fp_op(t[0], t[1], t[2])),
    st.tuples(st.sampled_from(["fsgnj.d", "fsgnjn.d", "fsgnjx.d"]), FREG, FREG, FREG).map(
        lambda t: fp_op(t[0], t[1], t[2], t[3])),
    st.tuples(st.sampled_from(["fld", "flw", "fsd", "fsw"]), FREG, st.integers(-64, 256)).map(
        lambda t: fp_mem(t[0], t[1], 30, t[2])))
INSTRUCTION = st.one_of(_alu, _alu, _imm, _shift, _upper, _load, _load, _store, _store, _csr,
                        _atomic, _fparith, _fparith, _fpcompare, _fpmove, st.just("branch"),
                        st.just("jal"))


def _assemble_body(items: list[Any], draw_branch: list[tuple[str, int, int, int]]) -> list[int]:
    """Resolve the branch placeholders to forward offsets inside the body."""
    words: list[int] = []
    branches = iter(draw_branch)
    for i, item in enumerate(items):
        left = len(items) - i  # jumping `left` words ahead lands on the loop's decrement
        if item == "branch":
            kind, rs1, rs2, skip = next(branches)
            words.append(b_type(kind, rs1, rs2, 4 * (1 + skip % left)))
        elif item == "jal":
            _, rd, _, skip = next(branches)
            words.append(jal(rd, 4 * (1 + skip % left)))
        else:
            words.append(item)
    return words


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(INSTRUCTION, min_size=1, max_size=40),
       branches=st.lists(st.tuples(st.sampled_from(sorted(BRANCHES)), REG, REG,
                                   st.integers(0, 40)), min_size=40, max_size=40),
       values=st.lists(st.one_of(st.sampled_from(EDGES), st.integers(0, M64),
                                 st.integers(DATA, DATA + DATA_SIZE),
                                 st.integers(SPACE_SIZE - 64, SPACE_SIZE + 64)),
                       min_size=29, max_size=29),
       fvalues=st.lists(st.one_of(st.sampled_from(D_EDGES + S_EDGES), st.integers(0, M64)),
                        min_size=32, max_size=32))
def test_random_hot_code_matches_the_interpreter(tmp_path_factory: pytest.TempPathFactory,
                                                  items: list[Any], branches: Any,
                                                  values: list[int], fvalues: list[int]) -> None:
    body = _assemble_body(items, branches)
    prog = elf(loop(body, count=40), tmp_path_factory.mktemp("fuzz"), "random")
    regs = {n + 1: v for n, v in enumerate(values)}
    regs[30] = DATA + 0x800
    same(prog, regs, fregs=fvalues)
