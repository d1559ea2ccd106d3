"""A user-mode emulator for static RV64GC Linux executables.

``Machine`` loads a program (ELF segments, stack, auxv) and owns its state;
an engine runs it: ``Interpreter`` (pre-decoded instructions) or
``Translator`` (basic blocks compiled to Python functions, with a code cache
and block chaining). Both are generated from the one table of operation
semantics in :mod:`ember.isa.riscv.semantics`.
"""

from __future__ import annotations

from ember.isa.riscv.errors import ElfError, GuestExit, GuestFault, IllegalInstruction, IsaError
from ember.isa.riscv.machine import Machine, RunStats

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import Any

ENGINES = ("interp", "dbt", "native")

__all__ = ["ENGINES", "ElfError", "GuestExit", "GuestFault", "IllegalInstruction", "IsaError",
           "Machine", "RunStats", "make_engine", "run_program"]


def make_engine(machine: Machine, engine: str, cache: bool = True) -> Any:
    if engine == "interp":
        from ember.isa.riscv.interp import Interpreter

        return Interpreter(machine)
    if engine == "dbt":
        from ember.isa.riscv.dbt import Translator

        return Translator(machine, cache=cache)
    if engine == "native":
        import platform

        if platform.machine() not in ("x86_64", "AMD64"):
            raise IsaError(f"the native engine emits x86-64 code; this host is {platform.machine()}")
        from ember.isa.riscv.native import NativeTranslator

        return NativeTranslator(machine, cache=cache)
    raise IsaError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


def run_program(path: str, argv: list[str] | None = None, env: list[str] | None = None,
                engine: str = "dbt", cache: bool = True,
                limit: int | None = None) -> tuple[int, RunStats]:
    """Load and run a program to completion; (exit status, statistics)."""
    from ember.isa.riscv.interp import timed_run

    machine = Machine(path, argv, env)
    runner: Any = None  # the engine; make_engine() returns one of several classes
    try:
        runner = make_engine(machine, engine, cache)
        return timed_run(runner, limit)
    finally:
        if hasattr(runner, "close"):
            runner.close()
        machine.space.close()
