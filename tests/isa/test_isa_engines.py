"""Engine behaviour beyond plain semantics: code invalidation, statistics, CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from isa_support import CC, ROOT, run_ember

from ember.isa.riscv import Machine, make_engine
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


def _run(path: Path, engine: str) -> tuple[int, object]:
    machine = Machine(str(path), [str(path)], [])
    try:
        return timed_run(make_engine(machine, engine))
    finally:
        machine.space.close()


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_store_into_translated_code_invalidates_it(asm_dir: Path, engine: str) -> None:
    # -N links text writable, as a JIT's code buffer would be.
    prog = _build(asm_dir, "patch", PATCH, "-Wl,-N")
    status, stats = _run(prog, engine)
    assert status == 9
    assert stats.flushes >= 1
    if engine == "dbt":
        assert stats.blocks_translated >= 1


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
