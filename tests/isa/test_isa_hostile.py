"""Hostile and broken inputs: bad ELF files, illegal instructions, bad jumps,
misaligned atomics. Every one must end in an IsaError (one line from the CLI),
never a Python traceback or a hang."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from isa_support import assemble, run_ember

from ember.isa.riscv import ElfError, GuestFault, IllegalInstruction, IsaError, run_program
from ember.isa.riscv.errors import BusError
from ember.isa.riscv.loader import EHDR, PHDR

EXIT = """
    li a0, 0
    li a7, 93
    ecall
"""


def _run(path: Path, engine: str = "dbt", limit: int | None = 200_000) -> int:
    status, _ = run_program(str(path), [str(path)], env=[], engine=engine, limit=limit)
    return status


def _minimal_elf(code: bytes, *, machine: int = 243, e_type: int = 2, interp: bool = False,
                 vaddr: int = 0x10000, entry_off: int = 0, flags: int = 5) -> bytes:
    """A one-segment ELF built by hand, for corrupting its fields one at a time."""
    phnum = 2 if interp else 1
    code_off = EHDR.size + phnum * PHDR.size
    header = EHDR.pack(b"\x7fELF\x02\x01\x01" + bytes(9), e_type, machine, 1,
                       vaddr + code_off + entry_off, EHDR.size, 0, 0, EHDR.size, PHDR.size,
                       phnum, 64, 0, 0)
    load = PHDR.pack(1, flags, 0, vaddr, vaddr, code_off + len(code), code_off + len(code), 0x1000)
    extra = PHDR.pack(3, 4, 0, 0, 0, 0, 0, 1) if interp else b""
    return header + load + extra + code


# addi a0, zero, 7 ; addi a7, zero, 93 ; ecall
EXIT7 = struct.pack("<3I", 0x00700513, 0x05D00893, 0x00000073)


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_minimal_handmade_elf_runs(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "exit7"
    path.write_bytes(_minimal_elf(EXIT7))
    assert _run(path, engine) == 7


@pytest.mark.parametrize("blob, message", [
    (b"", "too short"),
    (b"\x7fELF", "too short"),
    (b"MZ" + bytes(100), "bad magic"),
    (_minimal_elf(EXIT7, machine=62), "not RISC-V"),
    (_minimal_elf(EXIT7, e_type=1), "not an executable"),
    (_minimal_elf(EXIT7, interp=True), "dynamically linked"),
    (_minimal_elf(EXIT7, vaddr=0), "outside the loadable range"),
    (_minimal_elf(EXIT7, vaddr=1 << 40), "outside the loadable range"),
    (_minimal_elf(EXIT7, entry_off=1 << 20), "not in an executable segment"),
    (_minimal_elf(EXIT7, flags=6), "not in an executable segment"),
    (_minimal_elf(EXIT7)[:EHDR.size + 10], "truncated"),
])
def test_bad_elf_is_a_clear_error(tmp_path: Path, blob: bytes, message: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(blob)
    with pytest.raises(ElfError, match=message):
        _run(path)


def test_missing_file_is_an_elf_error(tmp_path: Path) -> None:
    with pytest.raises(ElfError, match="cannot read"):
        _run(tmp_path / "nope")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_elf_never_escapes(tmp_path: Path, data: st.DataObject) -> None:
    """Truncate and flip bytes of a valid program: the result is either a clean
    run or an IsaError, whatever the damage."""
    blob = bytearray(_minimal_elf(EXIT7))
    cut = data.draw(st.integers(0, len(blob)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 255)),
                               max_size=4))
    for pos, value in flips:
        blob[pos] = value
    path = tmp_path / "fuzz"
    path.write_bytes(bytes(blob[:cut]))
    engine = data.draw(st.sampled_from(["interp", "dbt"]))
    try:
        _run(path, engine, limit=10_000)
    except IsaError:
        pass


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_illegal_instruction_reports_pc_and_bits(asm_dir: Path, engine: str) -> None:
    prog = assemble(asm_dir, "illegal", """
    .globl _start
_start:
    nop
    .word 0xffffffff
""" + EXIT)
    with pytest.raises(IllegalInstruction) as info:
        _run(prog, engine)
    assert info.value.bits == 0xFFFFFFFF
    assert info.value.pc is not None and "illegal instruction 0xffffffff" in str(info.value)


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_unsupported_csr_is_illegal(asm_dir: Path, engine: str) -> None:
    prog = assemble(asm_dir, "badcsr", """
    .globl _start
_start:
    csrr a0, mstatus
""" + EXIT)
    with pytest.raises(GuestFault, match="unsupported CSR 0x300"):
        _run(prog, engine)


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_jump_to_unmapped_memory(asm_dir: Path, engine: str) -> None:
    prog = assemble(asm_dir, "wild", """
    .globl _start
_start:
    li t0, 0x12345678
    jr t0
""" + EXIT)
    with pytest.raises(GuestFault, match="fetch from unmapped") as info:
        _run(prog, engine)
    assert info.value.pc == 0x12345678


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_load_outside_address_space_faults_at_its_pc(asm_dir: Path, engine: str) -> None:
    prog = assemble(asm_dir, "farload", """
    .globl _start
_start:
    li t0, -16
    nop
here:
    ld t1, 0(t0)
""" + EXIT)
    with pytest.raises(GuestFault, match="outside the address space") as info:
        _run(prog, engine)
    assert info.value.pc is not None and info.value.pc > 0x10000


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_misaligned_atomic_faults(asm_dir: Path, engine: str) -> None:
    prog = assemble(asm_dir, "misatomic", """
    .data
    .align 3
buf: .dword 0, 0
    .text
    .globl _start
_start:
    la t0, buf
    addi t0, t0, 4
    amoadd.d t1, t1, (t0)
""" + EXIT)
    with pytest.raises(BusError, match="misaligned atomic") as info:
        _run(prog, engine)
    assert info.value.exit_code == 128 + 7  # what a shell shows for qemu's SIGBUS


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_misaligned_plain_access_works(asm_dir: Path, engine: str) -> None:
    prog = assemble(asm_dir, "misaligned", """
    .data
    .align 3
buf: .dword 0x1122334455667788, 0x99aabbccddeeff00
    .text
    .globl _start
_start:
    la t0, buf
    ld a0, 3(t0)
    sd a0, 5(t0)
    lw a0, 9(t0)
    andi a0, a0, 0xff
    li a7, 93
    ecall
""")
    # ld at 3 reads bytes 3..10 = 55 44 33 22 11 00 ff ee; sd puts them at 5..12,
    # so the byte at 9 is 0x11.
    assert _run(prog, engine) == 0x11


@pytest.mark.parametrize("engine", ["interp", "dbt"])
def test_ebreak_traps(asm_dir: Path, engine: str) -> None:
    prog = assemble(asm_dir, "ebreak", """
    .globl _start
_start:
    ebreak
""" + EXIT)
    with pytest.raises(GuestFault, match="ebreak"):
        _run(prog, engine)


def test_instruction_limit_stops_an_endless_loop(asm_dir: Path) -> None:
    prog = assemble(asm_dir, "spin", """
    .globl _start
_start:
    j _start
""")
    for engine in ("interp", "dbt"):
        with pytest.raises(GuestFault, match="instruction limit"):
            _run(prog, engine, limit=5000)


def test_cli_reports_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"#!/bin/sh\n" + bytes(100))
    got = run_ember([str(bad)], "dbt")
    assert got.returncode == 2
    assert got.stderr.decode().strip() == "ember: error: not an ELF file (bad magic)"
    got = run_ember([str(tmp_path / "missing")], "interp")
    assert got.returncode == 2 and b"cannot read" in got.stderr
    good = tmp_path / "exit7"
    good.write_bytes(_minimal_elf(EXIT7))
    assert run_ember([str(good)], "interp").returncode == 7
    assert run_ember([str(good)], "native").returncode == 7
