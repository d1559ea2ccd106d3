"""The on-disk store of compiled traces: a cache that can only miss, never mislead."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from isa_support import assemble, run_ember

from ember.isa.riscv import Machine, tracecache
from ember.isa.riscv.dbt import Translator
from ember.isa.riscv.tracecache import TraceCache

SOURCE_A = "def make(E):\n  def block():\n    return 1\n  return block\n"
SOURCE_B = "def make(E):\n  def block():\n    return 2\n  return block\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(tracecache.ENV_SWITCH, raising=False)
    return tmp_path


def test_a_saved_trace_is_found_by_its_source_in_the_next_run() -> None:
    first = TraceCache("/bin/prog")
    assert first.get(SOURCE_A, "<a>") is None
    first.put(SOURCE_A, "<a>", compile(SOURCE_A, "<a>", "exec"))
    first.save()
    second = TraceCache("/bin/prog")
    code = second.get(SOURCE_A, "<a>")
    assert code is not None and second.hits == 1
    ns: dict[str, object] = {}
    exec(code, {}, ns)  # noqa: S102
    assert ns["make"]([])() == 1  # type: ignore[operator]
    assert second.get(SOURCE_B, "<a>") is None  # another source never gets A's code
    assert second.get(SOURCE_A, "<b>") is None  # nor the same source at another head
    assert TraceCache("/bin/other").get(SOURCE_A, "<a>") is None  # nor another program


def test_a_run_that_compiled_nothing_new_does_not_write() -> None:
    store = TraceCache("/bin/prog")
    store.get(SOURCE_A, "<a>")
    store.save()
    assert not os.path.exists(store.path)


def test_a_corrupt_file_is_an_empty_store_and_is_replaced(private_cache: Path) -> None:
    store = TraceCache("/bin/prog")
    os.makedirs(os.path.dirname(store.path))
    Path(store.path).write_bytes(b"\x00not marshal")
    assert store.get(SOURCE_A, "<a>") is None
    store.put(SOURCE_A, "<a>", compile(SOURCE_A, "<a>", "exec"))
    store.save()
    assert TraceCache("/bin/prog").get(SOURCE_A, "<a>") is not None


def test_an_unwritable_cache_is_only_a_miss(private_cache: Path) -> None:
    (private_cache / "ember").write_text("a file where the directory should be")
    store = TraceCache("/bin/prog")
    store.put(SOURCE_A, "<a>", compile(SOURCE_A, "<a>", "exec"))
    store.save()  # logged, not raised
    assert TraceCache("/bin/prog").get(SOURCE_A, "<a>") is None


def test_old_program_files_are_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracecache, "MAX_FILES", 3)
    for i in range(5):
        store = TraceCache(f"/bin/prog{i}")
        store.put(SOURCE_A, "<a>", compile(SOURCE_A, "<a>", "exec"))
        store.save()
    assert len(os.listdir(tracecache.cache_dir())) == 3


def test_switched_off_by_the_environment(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracecache.ENV_SWITCH, "off")
    machine = Machine(str(corpus / "hello"), [str(corpus / "hello")], [])
    try:
        assert Translator(machine).store is None
        assert Translator(machine, cache=False).store is None
    finally:
        machine.space.close()


def test_a_second_run_takes_its_traces_from_disk_with_the_same_results(
        corpus: Path, private_cache: Path) -> None:
    prog = str(corpus / "strings")
    runs = [run_ember(["--json", prog, "40"], "dbt", env_extra={"XDG_CACHE_HOME": str(private_cache)})
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    stats = [json.loads(r.stderr.decode().strip().splitlines()[-1]) for r in runs]
    assert runs[0].stdout == runs[1].stdout
    assert stats[0]["instructions"] == stats[1]["instructions"]
    assert stats[1]["blocks_translated"] == stats[0]["blocks_translated"] > 10
    assert stats[0]["stored_traces"] < stats[0]["blocks_translated"] // 10
    assert stats[1]["stored_traces"] >= stats[1]["blocks_translated"] * 9 // 10


# A hot loop whose load walks off the end of the address space: the fault
# happens inside a translated trace, whose code comes from disk the second time.
WALK_OFF = """
    .globl _start
_start:
    li t0, 0x30000000
    li t2, 0x10000
1:  ld t1, 0(t0)
    add t0, t0, t2
    addi t3, t3, 1
    j 1b
"""


def test_a_fault_in_a_trace_from_disk_reports_the_same_pc(asm_dir: Path, private_cache: Path) -> None:
    prog = assemble(asm_dir, "walkoff", WALK_OFF)
    env = {"XDG_CACHE_HOME": str(private_cache)}
    runs = [run_ember(["--json", str(prog)], "dbt", env_extra=env) for _ in range(2)]
    errors = [r.stderr.decode().strip().splitlines()[-1] for r in runs]
    assert all(r.returncode != 0 for r in runs)
    assert "outside the address space" in errors[0] and "pc 0x" in errors[0]
    assert errors[1] == errors[0]
    assert os.listdir(tracecache.cache_dir())  # the second run did use a stored file
