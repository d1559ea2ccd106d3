"""Hand-written instruction tests, one snippet per extension.

Each snippet starts from the same edge-case register values (INT64_MIN, -1,
0x7fffffff, NaNs, signed zeros, subnormals, badly NaN-boxed singles...), runs
a sequence of instructions, then dumps x1, x3..x31, f0..f31 and fcsr to stdout.
The dump of each engine must equal qemu-riscv64's byte for byte, and the
architecturally specified edge cases are also asserted explicitly.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from isa_support import assemble, run_qemu

from ember.isa.riscv import run_program

X_INIT = [
    0, 0, 0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF,
    63, 64, 32, (1 << 64) - 2, 0x123456789ABCDEF0, 0xFEDCBA9876543210, 3, (1 << 64) - 3,
    0x100000000, 0xFFFFFFFF80000000, 5, 7, 0xFFFFFFFFFFFFFF80, 0x8000000000000001, 12345,
    0xDEADBEEF, 0x0000000100000001, 0xFFFFFFFF7FFFFFFF, 31, 65, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA,
]
F_INIT = [
    0x3FF0000000000000, 0x8000000000000000, 0x7FF0000000000000, 0x7FF8000000000000,
    0x7FF0000000000001, 0x0000000000000001, 0x7FEFFFFFFFFFFFFF, 0x3FD5555555555555,
    0xFFFFFFFF3FC00000, 0xFFFFFFFF80000000, 0xFFFFFFFF7F800000, 0xFFFFFFFF7F800001,
    0x000000003F800000, 0xFFFFFFFF00000001, 0xFFFFFFFF7F7FFFFF, 0xFFFFFFFF3DCCCCCD,
    0x4004000000000000, 0xC004000000000000, 0x3FE0000000000000, 0x7FE1CCF385EBC8A0,
    0x0010000000000000, 0x4008000000000000, 0xFFFFFFFF40400000, 0xFFFFFFFFC0200000,
    0x3FB999999999999A, 0xC330000000000000, 0x43E0000000000000, 0xFFFFFFFF4F000000,
    0xFFFFFFFFFF800000, 0xFFF0000000000000, 0xFFFFFFFF7FC00000, 0x0000000000000000,
]

PROLOGUE = """
    .section .data
    .align 4
init_x: .dword {xs}
init_f: .dword {fs}
buf:    .dword 0x0123456789abcdef, 0xfedcba9876543210, 0x8000000000000000, 0x7fffffff
        .space 64
    .text
    .globl _start
_start:
    la x31, init_f
{fload}
    la x31, init_x
{xload}
"""
EPILOGUE = """
    addi sp, sp, -528
{xstore}
{fstore}
    frcsr x5
    sd x5, 512(sp)
    li a0, 1
    mv a1, sp
    li a2, 520
    li a7, 64
    ecall
    li a0, 0
    li a7, 93
    ecall
"""


def program(body: str) -> str:
    regs = [i for i in range(1, 32) if i != 2]
    return PROLOGUE.format(
        xs=", ".join(str(v) for v in X_INIT),
        fs=", ".join(str(v) for v in F_INIT),
        fload="\n".join(f"    fld f{i}, {8 * i}(x31)" for i in range(32)),
        xload="\n".join(f"    ld x{i}, {8 * i}(x31)" for i in regs),
    ) + body + EPILOGUE.format(
        xstore="\n".join(f"    sd x{i}, {8 * i}(sp)" for i in regs),
        fstore="\n".join(f"    fsd f{i}, {256 + 8 * i}(sp)" for i in range(32)),
    )


SNIPPETS: dict[str, str] = {
    # Signed comparisons against x0 and immediates (the translator has its own
    # code for these), branches on both sides of x0.
    "compares": """
    slt x20, x5, x0
    slt x21, x4, x0
    slt x22, x0, x6
    slt x23, x0, x5
    slt x24, x0, x1
    slti x25, x5, 7
    slti x26, x6, 7
    slti x27, x4, -3
    slti x28, x17, -3
    slti x29, x3, 2047
    slti x30, x13, -2048
    slti x9, x13, -1
    blt x5, x0, 1f
    li x16, 1
1:  bge x0, x6, 2f
    li x15, 1
2:  blt x0, x1, 3f
    li x14, 1
3:  bge x4, x0, 4f
    li x12, 1
4:  blt x0, x6, 5f
    li x11, 1
5:  bge x1, x0, 6f
    li x10, 1
6:  nop
""",
    "rv64i": """
    add x20, x5, x4          # INT64_MIN + -1 wraps
    sub x21, x1, x5          # 0 - INT64_MIN
    sll x22, x3, x10         # shift by 63
    srl x23, x5, x10
    sra x24, x5, x10
    sll x25, x3, x11         # shift amount 64 uses only the low 6 bits
    slt x26, x5, x1
    sltu x27, x5, x1
    slti x28, x4, 0
    sltiu x29, x3, -1        # immediate sign-extended, then compared unsigned
    addiw x30, x8, 1         # 0x7fffffff + 1 -> sign-extended
    addw x16, x7, x7
    subw x17, x1, x7
    sllw x18, x9, x28        # shift by 0 or 1 from slt above
    srlw x19, x5, x12        # shift amount 32 uses only the low 5 bits
    sraw x6, x7, x3
    slliw x13, x3, 31
    srliw x14, x4, 31
    sraiw x15, x7, 31
    srai x12, x14, 3
    xori x11, x4, -1
    ori x10, x1, -2048
    andi x9, x15, 2047
    lui x8, 0x80000          # sign-extended upper immediate
    auipc x7, 0
    la x31, buf
    lb x3, 7(x31)
    lbu x4, 7(x31)
    lh x1, 14(x31)
    lhu x29, 14(x31)
    lw x28, 12(x31)
    lwu x27, 12(x31)
    ld x26, 3(x31)           # misaligned: allowed in user mode
    sb x5, 32(x31)
    sh x6, 34(x31)
    sw x15, 36(x31)
    sd x16, 41(x31)
    ld x25, 32(x31)
    ld x24, 40(x31)
    ld x23, 48(x31)
    beq x1, x1, 1f
    li x22, 99
1:  bltu x4, x3, 2f          # 0xff > sign-extended 0xff? no: taken only if less
    li x21, 77
2:  bge x5, x6, 3f
    addi x21, x21, 1
3:  jal x20, 4f
4:  jalr x19, 8(x20)
    nop
    nop
""",
    "rv64m": """
    div x20, x3, x1          # by zero -> -1
    divu x21, x3, x1         # by zero -> 2^64-1
    rem x22, x16, x1         # by zero -> dividend
    remu x23, x16, x1
    div x24, x5, x4          # INT64_MIN / -1 overflows -> INT64_MIN
    rem x25, x5, x4          # -> 0
    div x26, x17, x20        # -3 / -1
    rem x27, x17, x16        # -3 % 3
    divw x28, x7, x4         # INT32_MIN / -1 -> INT32_MIN sign-extended
    remw x29, x7, x4
    divuw x30, x4, x16
    remuw x31, x4, x12
    mul x6, x5, x4
    mulh x8, x5, x5
    mulhu x9, x4, x4
    mulhsu x10, x4, x4
    mulw x11, x8, x8
    divw x12, x16, x1        # by zero -> -1
    remw x13, x17, x1        # by zero -> dividend (sign-extended low 32 bits)
    divuw x14, x17, x16
    remu x15, x14, x21
    mulh x18, x17, x6
    li x19, 1000003          # positive operands: the fast paths
    li x3, 1234
    remw x1, x19, x3
    rem x7, x19, x3
    div x16, x19, x3
    divw x19, x19, x3
""",
    "rv64a": """
    la x31, buf
    addi x30, x31, 8
    addi x29, x31, 16
    addi x28, x31, 24
    addi x27, x31, 32
    addi x26, x31, 40
    addi x25, x31, 48
    addi x24, x31, 56
    lr.d x20, (x31)
    sc.d x21, x4, (x31)      # reservation held: succeeds (0)
    sc.d x22, x3, (x31)      # reservation consumed: fails (nonzero)
    lr.w x23, (x30)
    sc.w.rl x19, x5, (x30)
    amoadd.w x18, x7, (x29)
    amoadd.d.aq x17, x4, (x29)
    amoswap.d x16, x6, (x28)
    amoxor.d x15, x14, (x28)
    amoor.w x13, x9, (x27)
    amoand.w x12, x8, (x27)
    amomin.d x11, x5, (x26)
    amomax.d.aqrl x10, x6, (x26)
    amominu.w x9, x4, (x25)
    amomaxu.w x8, x4, (x25)
    amomin.w x7, x7, (x24)
    amomax.w x6, x7, (x24)
    amoxor.w x1, x3, (x24)   # a 64-bit operand: only its low half reaches memory
    amoswap.w x3, x3, (x25)  # rd = rs2
    amoadd.d x4, x4, (x26)
    ld x1, 0(x31)
    ld x3, 8(x31)
    ld x4, 16(x31)
    ld x5, 24(x31)
    ld x30, 32(x31)
    ld x29, 40(x31)
    ld x28, 48(x31)
    ld x27, 56(x31)
""",
    # The same on the stack, far above the code pages: the translator's
    # inline AMO path (not the helper it keeps for memory near code).
    "rv64a_stack": """
    addi x31, sp, -64
    sd x14, 0(x31)
    sd x15, 8(x31)
    addi x30, x31, 8
    amoadd.w x1, x3, (x31)
    amoxor.w x20, x15, (x31) # a 64-bit operand: only its low half reaches memory
    amoor.w x21, x4, (x31)
    amoswap.w x22, x22, (x31) # rd = rs2
    amoand.w x23, x15, (x31)
    amoswap.d x16, x16, (x30)
    amoadd.d x17, x4, (x30)
    amoxor.d x18, x14, (x30)
    amoor.d x19, x5, (x30)
    amoand.d x13, x9, (x30)
    amomin.w x12, x4, (x31)
    lr.d x9, (x30)
    sc.d x8, x17, (x30)      # reservation held: succeeds (0)
    sc.d x6, x16, (x30)      # reservation consumed: fails (nonzero)
    lr.w x5, (x31)
    sc.w x4, x22, (x31)
    amoswap.w x31, x0, (x31) # rd = rs1 (memory gets 0, not an address)
    mv x29, x31
    ld x10, -64(sp)
    ld x11, -56(sp)
    li x31, 0                # stack addresses differ between emulators
    li x30, 0
""",
    "rvfd": """
    fadd.d f20, f0, f7
    fsub.d f21, f2, f2       # inf - inf: invalid, canonical NaN
    fmul.d f22, f6, f6, rup  # overflow, rounding up
    fmul.d f23, f6, f6, rtz  # overflow, toward zero: max finite
    fdiv.d f24, f0, f1       # 1 / -0: divide by zero
    fdiv.d f25, f0, f21, rdn
    fsqrt.d f26, f17         # sqrt of negative: invalid
    fsqrt.d f27, f21, rtz
    fmadd.d f28, f7, f21, f0
    fnmsub.d f29, f7, f16, f0, rdn
    fadd.s f30, f8, f15      # singles, NaN-boxed
    fadd.s f31, f12, f8      # improperly boxed operand reads as canonical NaN
    fmul.s f19, f14, f14, rmm
    fdiv.s f18, f15, f22
    fsqrt.s f17, f22
    fmsub.s f16, f8, f22, f15
    fnmadd.s f15, f23, f8, f13
    fmin.d f14, f1, f31      # -0 < +0
    fmax.d f13, f3, f0       # one quiet NaN: the other operand
    fmin.s f12, f11, f8      # signalling NaN: invalid, other operand
    fmax.s f11, f9, f31
    fsgnj.d f10, f0, f17
    fsgnjn.s f9, f8, f8
    fsgnjx.d f8, f17, f17
    fcvt.s.d f7, f6          # overflow to inf
    fcvt.d.s f6, f11
    fcvt.s.d f5, f5          # underflow to zero
    feq.d x20, f3, f3
    flt.d x21, f3, f0        # signalling compare with NaN: invalid
    fle.s x22, f9, f9
    feq.s x23, f12, f12
    fclass.d x24, f4
    fclass.d x25, f1
    fclass.s x26, f13
    fclass.s x27, f28
    fcvt.w.d x28, f2         # +inf saturates
    fcvt.wu.d x29, f17       # negative to unsigned: invalid, 0
    fcvt.l.d x30, f3         # NaN -> INT64_MAX
    fcvt.lu.s x31, f27       # 2^31 as float
    fcvt.w.s x16, f23, rtz   # -2.5f
    fcvt.w.d x17, f16, rne   # 2.5 -> 2 (ties to even)
    fcvt.w.d x18, f16, rmm   # 2.5 -> 3
    fcvt.l.d x19, f17, rup   # -2.5 -> -2
    fcvt.d.l f4, x5
    fcvt.s.lu f3, x4, rdn
    fcvt.s.w f2, x8, rtz
    fcvt.d.wu f1, x4
    fmv.x.w x15, f8
    fmv.x.d x14, f12
    fmv.w.x f0, x14
    fmv.d.x f31, x5
    la x13, buf
    fsw f30, 0(x13)
    flw f29, 4(x13)
    ld x13, 0(x13)
""",
    "csr_and_rounding": """
    csrrwi x20, frm, 3       # round up
    fadd.d f20, f0, f7       # dynamic rounding mode
    fadd.s f21, f8, f15
    csrrsi x21, fflags, 0    # read without writing
    csrrci x22, fflags, 1    # clear NX
    csrrw x23, fcsr, x1
    fdiv.d f22, f0, f21      # RNE again (fcsr cleared)
    csrrs x24, frm, x16      # set bits: frm = 3
    fsub.d f23, f1, f7
    csrrc x25, frm, x3       # frm = 2 (down)
    fadd.d f24, f7, f7
    fmul.s f25, f15, f15
    fsrm x26, x20
    frflags x27
    fsflags x28, x1
    frrm x29
    csrrwi x30, fcsr, 0x1f
    frcsr x31
""",
    "rvc": """
    c.li x20, -7
    c.addi x20, 13
    c.lui x21, 0x1f
    c.addiw x20, -1
    c.slli x21, 3
    c.mv x22, x20
    c.add x22, x21
    c.srli x8, 3
    c.srai x9, 1
    c.andi x10, -3
    c.sub x11, x12
    c.xor x12, x13
    c.or x13, x14
    c.and x14, x15
    c.subw x15, x8
    c.addw x8, x9
    addi sp, sp, -64
    c.sdsp x20, 8(sp)
    c.swsp x21, 16(sp)
    c.ldsp x23, 8(sp)
    c.lwsp x24, 16(sp)
    c.fsdsp f7, 24(sp)
    c.fldsp f20, 24(sp)
    c.addi4spn x9, sp, 16
    c.ld x10, 0(x9)
    c.sw x11, 4(x9)
    c.lw x12, 4(x9)
    c.sd x13, 8(x9)
    c.fsd f8, 16(x9)
    c.fld f10, 16(x9)
    c.addi16sp sp, 64
    c.li x9, 0               # held a stack address, which differs from qemu's
    c.beqz x13, 1f
    c.li x25, 1
1:  c.bnez x14, 2f
    c.li x26, 1
2:  c.j 3f
    c.li x27, 1
3:  la x28, 4f
    c.jalr x28
4:  c.nop
""",
    # A hot loop of the integer operations the native engine compiles to x86-64
    # (it runs 300 times, so every tier gets to translate it).
    "hot_loop": """
    la x31, buf
    li x30, 300
1:  add x20, x20, x5
    sub x21, x21, x14
    xor x22, x22, x20
    or x23, x23, x21
    and x24, x24, x15
    addi x25, x25, -7
    xori x26, x25, 0x5a5
    ori x27, x26, -16
    andi x28, x27, 0x7f0
    slli x29, x20, 13
    srli x16, x21, 7
    srai x17, x15, 9
    sll x18, x22, x30
    srl x19, x23, x30
    sra x13, x24, x30
    slt x12, x20, x21
    sltu x11, x20, x21
    slti x10, x22, -5
    sltiu x9, x23, 100
    addiw x8, x20, 2047
    slliw x7, x21, 17
    srliw x6, x22, 3
    sraiw x4, x23, 5
    addw x3, x20, x21
    subw x1, x22, x23
    sllw x29, x24, x30
    srlw x28, x25, x30
    sraw x27, x26, x30
    mul x26, x20, x14
    mulw x25, x21, x15
    lui x24, 0xfffff
    auipc x23, 0x10
    addi x30, x30, -1
    bnez x30, 1b
    li x30, 300
6:  andi x31, x30, 3
    addi x31, x31, -1        # divisor cycles through -1, 0, 1, 2
    div x10, x26, x31
    divu x9, x5, x31
    rem x8, x25, x31
    remu x7, x24, x31
    divw x6, x7, x31
    divuw x4, x26, x31
    remw x3, x5, x31
    remuw x1, x25, x31
    div x12, x20, x30
    remu x11, x21, x30
    divw x13, x22, x30
    addi x30, x30, -1
    bnez x30, 6b
    la x31, buf
    li x30, 300
5:  sd x20, 0(x31)
    sw x21, 12(x31)
    sh x22, 17(x31)
    sb x23, 23(x31)
    ld x22, 8(x31)
    lw x21, 12(x31)
    lwu x20, 16(x31)
    lh x19, 18(x31)
    lhu x18, 20(x31)
    lb x17, 22(x31)
    lbu x16, 23(x31)
    beq x30, x0, 2f
    bltu x20, x21, 3f
    addi x12, x12, 1
3:  bge x22, x23, 4f
    addi x11, x11, 3
4:  addi x20, x20, 0x123
    addi x21, x21, -0x77
    addi x30, x30, -1
    bnez x30, 5b
2:  nop
""",
}


def dump(prog: Path, engine: str, capfd: pytest.CaptureFixture[bytes]) -> bytes:
    if engine == "dbt-hot":
        # The translator translating every block the first time it runs: the
        # generated code (not the interpreter's handlers) meets the edge cases.
        from ember.isa.riscv import Machine
        from ember.isa.riscv.dbt import Translator
        from ember.isa.riscv.interp import timed_run

        machine = Machine(str(prog), [str(prog)], [])
        try:
            status, stats = timed_run(Translator(machine, hot_threshold=1))
        finally:
            machine.space.close()
        assert stats.blocks_translated > 0
    else:
        status, _ = run_program(str(prog), [str(prog)], env=[], engine=engine)
    assert status == 0
    return capfd.readouterr().out


def parse(blob: bytes) -> tuple[list[int], list[int], int]:
    words = struct.unpack("<65Q", blob)
    return list(words[:32]), list(words[32:64]), words[64]


@pytest.fixture(scope="module")
def binaries(asm_dir: Path) -> dict[str, Path]:
    return {name: assemble(asm_dir, name, program(body)) for name, body in SNIPPETS.items()}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
@pytest.mark.parametrize("engine", ["interp", "dbt", "dbt-hot", "native"])
def test_register_state_matches_qemu(name: str, engine: str, binaries: dict[str, Path],
                                     qemu: str, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    ours = dump(binaries[name], engine, capfdbinary)
    ref = run_qemu(qemu, [str(binaries[name])])
    assert ref.returncode == 0
    assert len(ours) == 520
    if ours != ref.stdout:
        mx, mf, mc = parse(ours)
        qx, qf, qc = parse(ref.stdout)
        diffs = [f"x{i}: ours {mx[i]:#x} qemu {qx[i]:#x}" for i in range(32) if mx[i] != qx[i]]
        diffs += [f"f{i}: ours {mf[i]:#x} qemu {qf[i]:#x}" for i in range(32) if mf[i] != qf[i]]
        if mc != qc:
            diffs.append(f"fcsr: ours {mc:#x} qemu {qc:#x}")
        pytest.fail("register state differs from qemu: " + "; ".join(diffs))


def test_specified_edge_cases(binaries: dict[str, Path],
                              capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    capfd = capfdbinary
    """The edge cases the ISA manual spells out, asserted by value."""
    m64 = (1 << 64) - 1
    x, _, _ = parse(dump(binaries["rv64m"], "dbt", capfd))
    assert x[20] == m64  # x / 0 = -1
    assert x[21] == m64  # unsigned x / 0 = 2^64 - 1
    assert x[22] == 3 and x[23] == 3  # x % 0 = x
    assert x[24] == 1 << 63 and x[25] == 0  # INT64_MIN / -1 overflow
    assert x[28] == 0xFFFFFFFF80000000 and x[29] == 0  # 32-bit overflow, sign-extended
    assert x[12] == m64  # divw by zero
    x, _, _ = parse(dump(binaries["rv64i"], "interp", capfd))
    assert x[22] == 1 << 63  # 1 << 63
    assert x[6] == 0xFFFFFFFFC0000000  # sraw sign-extends bit 31
    assert x[14] == 1 and x[15] == m64  # srliw / sraiw by 31
    assert x[16] == 0 and x[17] == 0xFFFFFFFF80000000  # W ops wrap at 32 bits
    assert x[30] == 0xFFFFFFFF80000000  # addiw sign-extends
    assert x[13] == 0xFFFFFFFF80000000  # slliw 1, 31
    assert x[8] == 0xFFFFFFFF80000000  # lui 0x80000
    x, _, _ = parse(dump(binaries["rv64a"], "interp", capfd))
    assert x[21] == 0 and x[22] != 0  # sc succeeds once, then fails
    _, f, fcsr = parse(dump(binaries["rvfd"], "dbt", capfd))
    assert f[21] == 0x7FF8000000000000  # inf - inf: canonical NaN
    assert f[23] == 0x7FEFFFFFFFFFFFFF  # overflow in RTZ: max finite
    assert f[24] == 0xFFF0000000000000  # 1 / -0 = -inf
    assert fcsr & 0x1F == 0x1F  # NV DZ OF UF NX all raised along the way


def test_hot_loop_really_runs_native(binaries: dict[str, Path],
                                     capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    from ember.isa.riscv import Machine, make_engine

    prog = str(binaries["hot_loop"])
    machine = Machine(prog, [prog], [])
    engine = make_engine(machine, "native")
    try:
        assert engine.run() == 0
        assert engine.native_blocks >= 3  # the ALU, division and memory loops
    finally:
        engine.close()
        machine.space.close()
    capfdbinary.readouterr()
