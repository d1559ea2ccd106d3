"""Errors of the RISC-V user-mode emulator.

Every error is an :class:`ember.errors.EmberError`, so the CLI prints one line.
Guest faults carry the guest pc, which is what a user debugging a program needs.
"""

from __future__ import annotations

from ember.errors import EmberError


class IsaError(EmberError):
    """Base of the RISC-V loader and emulator errors."""


class ElfError(IsaError):
    """The file is not a static RV64 ELF executable ember can load."""

    exit_code = 2


class GuestFault(IsaError):
    """The guest did something a real hart would trap on (like SIGSEGV/SIGBUS)."""

    #: The exit status a shell shows for a process killed by SIGSEGV.
    exit_code = 128 + 11

    def __init__(self, message: str, pc: int | None = None) -> None:
        self.detail = message
        self.pc = pc
        super().__init__(self._text())

    def _text(self) -> str:
        where = f" at pc 0x{self.pc:x}" if self.pc is not None else ""
        return f"guest fault{where}: {self.detail}"

    def locate(self, pc: int | None) -> None:
        """Attach the guest pc, known only to the engine that caught the fault."""
        if self.pc is None and pc is not None:
            self.pc = pc
            self.args = (self._text(),)


class BusError(GuestFault):
    """A misaligned atomic access (like SIGBUS; plain accesses may be misaligned)."""

    exit_code = 128 + 7


class IllegalInstruction(GuestFault):
    """An instruction encoding ember does not implement (like SIGILL)."""

    exit_code = 128 + 4

    def __init__(self, pc: int, bits: int, length: int = 4) -> None:
        self.bits = bits
        width = 4 if length == 2 else 8
        super().__init__(f"illegal instruction 0x{bits:0{width}x}", pc)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (GuestFault, (self.detail, self.pc))


class GuestExit(Exception):
    """The guest called exit/exit_group; not an error, it unwinds the engine loop."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Leave(Exception):
    """Raised inside translated code by a store that invalidated it: args are
    (the pc to continue at, instructions the trace executed). Never escapes
    the translator."""
