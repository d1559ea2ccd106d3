"""Engine behaviour beyond plain semantics: code invalidation, statistics, CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from isa_support import CC, ROOT, run_ember

from ember.isa.riscv import GuestFault, Machine, make_engine
from ember.isa.riscv.interp import timed_run

# f is called often enough to be translated, then patched by a plain store
# without fence.i: ember invalidates translated code on stores to its pages.
PATCH = """
    .text
    .globl _start
_start:
    li s0, 100
1:  call f
    addi s0, s0, -1
    bnez s0, 1b
    la t0, f
    li t1, 0x00900513          # addi a0, zero, 9
    sw t1, 0(t0)
    call f
    li a7, 93
    ecall
    .option norvc
f:  addi a0, zero, 5
    ret
"""

# An instruction straddling two pages (jalr x0, 0(t2) at offset 0xffe), run
# hot, then patched through a store into the *second* page only (its upper
# half holds the offset): it must then jump to r9, not r5.
STRADDLE = """
    .text
    .globl _start
_start:
    li s0, 100
1:  call g
    addi s0, s0, -1
    bnez s0, 1b
    la t0, f
    li t1, 0x0083              # upper half of jalr x0, 8(t2)
    sh t1, 2(t0)
    call g
    li a7, 93
    ecall
g:  la t2, r5
    j f
    .option norvc
r5: addi a0, zero, 5
    ret
r9: addi a0, zero, 9           # r5 + 8
    ret
    .balign 4096
    .fill 2047, 2, 0x0001      # c.nop up to offset 0xffe
f:  jalr x0, 0(t2)             # bytes 0xffe..0x1001: two pages
"""

# A loop that fence.i's each iteration: every pass retranslates.
FENCE = """
    .globl _start
_start:
    li s0, 50
    li a0, 0
1:  addi a0, a0, 3
    fence.i
    addi s0, s0, -1
    bnez s0, 1b
    li a7, 93
    ecall
"""


def _build(tmp: Path, name: str, source: str, *flags: str) -> Path:
    src, out = tmp / f"{name}.S", tmp / name
    src.write_text(source)
    subprocess.run([CC, "-nostdlib", "-static", "-march=rv64gc", *flags, "-o", str(out), str(src)],
                   check=True)
    return out


def _run(path: Path, engine: str) -> tuple[int, Any]:
    """Run a program; engine "dbt-hot" is the translator translating every
    block the first time it runs (so the generated code itself is exercised)."""
    machine = Machine(str(path), [str(path)], [])
    if engine == "dbt-hot":
        from ember.isa.riscv.dbt import Translator

        runner: Any = Translator(machine, hot_threshold=1)
    else:
        runner = make_engine(machine, engine)
    try:
        return timed_run(runner)
    finally:
        if hasattr(runner, "close"):
            runner.close()
        machine.space.close()


@pytest.mark.parametrize("engine", ["interp", "dbt", "dbt-hot"])
def test_store_into_translated_code_invalidates_it(asm_dir: Path, engine: str) -> None:
    # -N links text writable, as a JIT's code buffer would be.
    prog = _build(asm_dir, "patch", PATCH, "-Wl,-N")
    status, stats = _run(prog, engine)
    assert status == 9
    assert stats.flushes == 0 and stats.invalidations >= 1
    if engine != "interp":
        assert stats.blocks_translated >= 1


def test_rewriting_one_page_keeps_the_rest_translated(corpus: Path) -> None:
    """The corpus JIT program rewrites a function each round and calls it 50
    times: only that page's code is invalidated, so the calling loop stays
    translated (with whole flushes, every round translates it again: 302
    traces for 300 rounds)."""
    from ember.isa.riscv.dbt import Translator

    prog = corpus / "smc"
    machine = Machine(str(prog), [str(prog), "300"], [])
    try:
        status, stats = timed_run(Translator(machine))
    finally:
        machine.space.close()
    assert status == 0
    assert stats.flushes == 0 and stats.invalidations == 300
    assert stats.blocks_translated < 50


@pytest.mark.parametrize("engine", ["interp", "dbt", "dbt-hot", "native"])
def test_store_into_the_second_page_of_a_straddling_instruction(asm_dir: Path, engine: str) -> None:
    prog = _build(asm_dir, "straddle", STRADDLE, "-Wl,-N")
    status, stats = _run(prog, engine)
    assert status == 9
    assert stats.flushes + stats.invalidations >= 1


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_fence_i_flushes(asm_dir: Path, engine: str) -> None:
    prog = _build(asm_dir, "fence", FENCE)
    status, stats = _run(prog, engine)
    assert status == 150
    assert stats.flushes == 50
    assert stats.instructions == 2 + 50 * 4 + 2


def test_code_flushed_every_pass_never_gets_hot(asm_dir: Path) -> None:
    prog = _build(asm_dir, "fence", FENCE)
    _, stats = _run(prog, "dbt")
    assert stats.blocks_translated == 0
    assert stats.cold_instructions == stats.instructions
    assert stats.cache_misses >= 50


def test_cli_stats_human_and_json(asm_dir: Path) -> None:
    prog = _build(asm_dir, "fence", FENCE)
    human = run_ember([str(prog)], "dbt", ["--stats"])
    assert human.returncode == 150
    text = human.stderr.decode()
    for label in ("instructions        204", "MIPS", "blocks translated", "cache hits",
                  "translation seconds", "code flushes        50"):
        assert label in text
    machine = run_ember([str(prog)], "interp", ["--json"])
    stats = json.loads(machine.stderr.decode())
    assert stats["engine"] == "interp" and stats["instructions"] == 204
    assert stats["syscalls"] == {"93": 1}


def test_cli_rejects_bad_options(asm_dir: Path) -> None:
    prog = _build(asm_dir, "fence", FENCE)
    got = run_ember([str(prog)], "interp", ["--no-cache"])
    assert got.returncode == 2 and b"--no-cache only applies" in got.stderr
    got = run_ember([str(prog)], "dbt", ["--limit", "0"])
    assert got.returncode == 2 and b"--limit must be" in got.stderr


def test_program_arguments_pass_through(corpus: Path) -> None:
    got = run_ember([str(corpus / "hello"), "--stats", "-x"], "dbt")
    assert b"argv[1] = --stats" in got.stdout and b"argv[2] = -x" in got.stdout
    assert got.returncode == 43
    assert ROOT.exists()


# A hot loop storing into the page it runs from (text linked writable): the
# native tier must hand every such store to Python, which invalidates the code.
STORE_NEAR_CODE = """
    .globl _start
_start:
    la t0, slot
    li t1, 100
    li a0, 0
1:  sd t1, 0(t0)
    ld t2, 0(t0)
    add a0, a0, t2
    addi t1, t1, -1
    bnez t1, 1b
    andi a0, a0, 0xff
    li a7, 93
    ecall
    .align 3
slot: .dword 0
"""

# A hot loop that reads its way off the end of the address space.
WALK_OFF_THE_END = """
    .globl _start
_start:
    li t0, 0x3fff0000
1:  ld t1, 0(t0)
    addi t0, t0, 8
    j 1b
"""


@pytest.mark.parametrize("engine", ["interp", "dbt", "native"])
def test_hot_loop_storing_next_to_its_code(asm_dir: Path, engine: str) -> None:
    prog = _build(asm_dir, "nearcode", STORE_NEAR_CODE, "-Wl,-N")
    status, stats = _run(prog, engine)
    assert status == 5050 % 256
    assert stats.instructions == 4 + 100 * 5 + 3
    assert stats.invalidations == 100  # every store hit a code page


def test_native_bails_out_on_stores_into_marked_pages(asm_dir: Path) -> None:
    """Mark the data page as holding code: native code must leave every store
    there to the Python tiers (which find no code and carry on)."""
    source = STORE_NEAR_CODE.replace("    .align 3\nslot:", "    .data\n    .align 3\nslot:")
    prog = _build(asm_dir, "marked", source)
    machine = Machine(str(prog), [str(prog)], [])
    engine = make_engine(machine, "native")
    try:
        for page in range(0x10000 // 4096, machine.space.brk // 4096):
            machine.code_map[page] = 1
        status = engine.run()
        assert status == 5050 % 256
        assert engine.native_blocks >= 1
        assert machine.instret == 4 + 100 * 5 + 3
    finally:
        engine.close()
        machine.space.close()


@pytest.mark.parametrize("engine", ["interp", "dbt", "native"])
def test_hot_loop_faults_at_the_end_of_memory(asm_dir: Path, engine: str) -> None:
    prog = _build(asm_dir, "walk", WALK_OFF_THE_END)
    with pytest.raises(GuestFault, match="outside the address space") as info:
        _run(prog, engine)
    assert info.value.pc is not None and info.value.pc > 0x10000
    assert info.value.exit_code == 139


# f returns to its caller, except every fourth call, which returns past the
# caller's increment: translated traces follow calls into f and predict the
# return; a wrong prediction must leave the trace for the real target.
WRONG_RETURN = """
    .globl _start
_start:
    li s0, 200
    li s1, 0
1:  call f
    addi s1, s1, 1
2:  addi s0, s0, -1
    bnez s0, 1b
    mv a0, s1
    li a7, 93
    ecall
f:  andi t0, s0, 3
    bnez t0, 3f
    la ra, 2b
3:  ret
"""

# Aligned loads and stores share one guard per base register; every other
# pass the base is misaligned (the guard fails and the interpreter runs that
# block), and the last store group writes into the code page (-N: writable
# text) that holds the loop itself.
MISALIGNED = """
    .globl _start
_start:
    la s2, buf
    li s0, 300
    li s3, 0
1:  andi t0, s0, 1
    add t1, s2, t0
    sd s0, 8(t1)
    sw s0, 16(t1)
    ld t2, 8(t1)
    lw t3, 16(t1)
    add s3, s3, t2
    add s3, s3, t3
    addi s0, s0, -1
    bnez s0, 1b
    la t1, code
    sd s3, 0(t1)
    sd s3, 8(t1)
    andi a0, s3, 0xff
    li a7, 93
    ecall
code: .dword 0, 0
    .data
    .balign 4096
    .space 8192              # (the two pages above code count as near it)
buf: .space 64
"""


@pytest.mark.parametrize("engine", ["interp", "dbt", "dbt-hot", "native"])
def test_mispredicted_return_leaves_the_trace(asm_dir: Path, engine: str) -> None:
    prog = _build(asm_dir, "wrongret", WRONG_RETURN)
    status, stats = _run(prog, engine)
    assert status == 150
    assert stats.instructions == 2 + 150 * 7 + 50 * 8 + 3


@pytest.mark.parametrize("engine", ["interp", "dbt", "dbt-hot", "native"])
def test_misaligned_bases_and_stores_into_code(asm_dir: Path, engine: str) -> None:
    prog = _build(asm_dir, "misaligned", MISALIGNED, "-Wl,-N")
    status, stats = _run(prog, engine)
    assert status == (2 * sum(range(1, 301))) & 0xFF
    assert stats.instructions == 4 + 300 * 10 + 7
    assert stats.flushes + stats.invalidations == 2  # both stores next to the code hit its page


def test_translating_every_block_counts_like_the_interpreter(asm_dir: Path) -> None:
    """Every trace translated at once still counts exactly like the interpreter."""
    prog = _build(asm_dir, "wrongret", WRONG_RETURN)
    _, hot = _run(prog, "dbt-hot")
    _, interp = _run(prog, "interp")
    assert hot.instructions == interp.instructions
    assert hot.blocks_translated >= 2 and hot.cold_instructions == 0


# One loop longer than a translated loop's slice (2^20 instructions): the
# iterations counted across slices must add up exactly.
LONG_LOOP = """
    .globl _start
_start:
    li t0, 400000
    li a0, 0
1:  addi a0, a0, 3
    addi t0, t0, -1
    bnez t0, 1b
    andi a0, a0, 0xff
    li a7, 93
    ecall
"""


@pytest.mark.parametrize("engine", ["dbt", "dbt-hot"])
def test_loop_longer_than_a_slice_counts_exactly(asm_dir: Path, engine: str) -> None:
    prog = _build(asm_dir, "longloop", LONG_LOOP)
    status, stats = _run(prog, engine)
    assert status == (3 * 400000) & 0xFF
    assert stats.instructions == 3 + 400000 * 3 + 3


def test_an_engine_that_can_only_flush_whole_gets_whole_flushes(corpus: Path) -> None:
    """Machine's contract: page invalidation only when every engine registered
    for it; one flush-only hook turns every invalidation into a flush."""
    machine = Machine(str(corpus / "hello"), [str(corpus / "hello")], [])
    try:
        engine = make_engine(machine, "dbt")
        flushed = []
        machine.flush_hooks.append(lambda: flushed.append(True))
        machine.fetch(machine.pc)
        page = machine.pc // 4096
        machine.code_changed(page * 4096, page * 4096 + 4)
        assert flushed and machine.flushes == 1 and machine.invalidations == 0
        assert not machine.decoded and not engine.cache
    finally:
        machine.space.close()
