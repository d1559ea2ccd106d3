"""Differential tests: every corpus program under every engine vs qemu-riscv64."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from isa_support import guest_status, run_ember, run_qemu

pytestmark = pytest.mark.qemu

#: program -> arguments (small inputs keep the suite inside its time budget).
PROGRAMS: dict[str, list[str]] = {
    "hello": ["one", "two words"],
    "intmath": ["6000"],
    "fp": ["1500"],
    "fenv": [],
    "malloc": ["600"],
    "fileio": ["@tmp"],
    "recursion": ["14"],
    "smc": [],
    "atomics": [],
    "strings": ["60"],
    "badmem": [],
    "loops": ["150"],
    "dirlist": ["@dir"],
}


def _args(name: str, tmp_path: Path) -> list[str]:
    places = {"@tmp": str(tmp_path / "file.txt"), "@dir": str(tmp_path / "dir")}
    return [places.get(a, a) for a in PROGRAMS[name]]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_engines_match_qemu(name: str, corpus: Path, qemu: str, tmp_path: Path) -> None:
    prog = str(corpus / name)
    args = _args(name, tmp_path)
    ref = run_qemu(qemu, [prog, *args])
    counts = {}
    for engine in ("interp", "dbt", "native"):
        got = run_ember([prog, *args], engine, ["--json"])
        assert got.stdout == ref.stdout, f"{engine}: stdout differs from qemu"
        assert got.returncode == guest_status(ref.returncode), f"{engine}: exit status differs"
        stats = json.loads(got.stderr.decode().strip().splitlines()[-1])
        counts[engine] = stats["instructions"]
        assert stats["instructions"] > 1000
    # One semantics: the engines retire exactly the same instruction stream.
    assert counts["interp"] == counts["dbt"] == counts["native"]


def test_every_corpus_program_is_tested(corpus: Path) -> None:
    sources = {p.stem for p in (Path(__file__).parent / "corpus").glob("*.c")}
    assert sources == set(PROGRAMS)


def test_dbt_without_code_cache_matches(corpus: Path, qemu: str) -> None:
    prog = str(corpus / "hello")
    ref = run_qemu(qemu, [prog])
    got = run_ember([prog], "dbt", ["--no-cache", "--json"])
    assert got.stdout == ref.stdout
    assert got.returncode == guest_status(ref.returncode)
    stats = json.loads(got.stderr.decode().strip().splitlines()[-1])
    assert stats["cache_hits"] == 0 and stats["blocks_translated"] == stats["cache_misses"]


def test_wild_jump_faults_with_pc(corpus: Path, qemu: str) -> None:
    prog = str(corpus / "badmem")
    ref = run_qemu(qemu, [prog, "jump"])
    assert guest_status(ref.returncode) == 128 + 11  # qemu: SIGSEGV
    for engine in ("interp", "dbt", "native"):
        got = run_ember([prog, "jump"], engine)
        assert got.stdout == ref.stdout  # output before the fault is flushed
        assert got.returncode == 128 + 11
        assert b"at pc 0x40" in got.stderr and b"ember: error: guest fault" in got.stderr
