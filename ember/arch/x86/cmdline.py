"""A validating kernel command line, in the manner of rust-vmm linux-loader's ``Cmdline``.

Every insertion is checked, so a :class:`Cmdline` is always something the kernel
will accept: printable ASCII only (no NUL, which would end it early, no control
characters), and no longer than its capacity, which is the kernel's
``cmdline_size`` (the length without the terminating NUL) when known.
"""

from __future__ import annotations

from ember.arch.x86.errors import CmdlineError

#: x86's COMMAND_LINE_SIZE is 2048 bytes including the NUL; used when the
#: kernel's own cmdline_size is not known.
DEFAULT_CMDLINE_MAX = 2047
_PRINTABLE = range(0x20, 0x7F)


def _check_text(text: str, what: str) -> None:
    for i, ch in enumerate(text):
        if ord(ch) not in _PRINTABLE:
            kind = "a NUL byte" if ch == "\0" else f"the character {ch!r}"
            raise CmdlineError(
                f"{what} contains {kind} at position {i}; a kernel command line is printable "
                "ASCII only"
            )


class Cmdline:
    """A kernel command line that is valid at every step.

    >>> c = Cmdline(64)
    >>> c.insert("console", "ttyS0")
    >>> c.insert_str("panic=-1 quiet")
    >>> str(c)
    'console=ttyS0 panic=-1 quiet'
    """

    def __init__(self, capacity: int = DEFAULT_CMDLINE_MAX) -> None:
        if capacity <= 0:
            raise CmdlineError(f"command line capacity must be positive, got {capacity}")
        self._capacity = capacity
        self._text = ""

    @classmethod
    def parse(cls, text: str, capacity: int = DEFAULT_CMDLINE_MAX) -> Cmdline:
        """A Cmdline holding ``text`` (surrounding whitespace stripped)."""
        c = cls(capacity)
        if text.strip():
            c.insert_str(text)
        return c

    @property
    def capacity(self) -> int:
        """Longest allowed length in bytes, not counting the terminating NUL."""
        return self._capacity

    def _append(self, piece: str) -> None:
        new = f"{self._text} {piece}" if self._text else piece
        if len(new) > self._capacity:
            raise CmdlineError(
                f"kernel command line would be {len(new)} bytes, longer than the "
                f"{self._capacity} the kernel accepts; shorten --cmdline"
            )
        self._text = new

    def insert_str(self, text: str) -> None:
        """Append free-form parameters (``"quiet panic=-1"``)."""
        _check_text(text, "command line")
        text = text.strip()
        if not text:
            raise CmdlineError("cannot append an empty parameter to the command line")
        self._append(text)

    def insert(self, key: str, value: str) -> None:
        """Append ``key=value``; neither part may contain spaces, the key no ``=``."""
        _check_text(key, "command line key")
        _check_text(value, "command line value")
        if not key:
            raise CmdlineError("command line key is empty")
        if " " in key or "=" in key:
            raise CmdlineError(f"command line key {key!r} must not contain spaces or '='")
        if " " in value:
            raise CmdlineError(
                f"value {value!r} for {key!r} contains a space; quote it and use insert_str"
            )
        self._append(f"{key}={value}")

    def to_bytes(self) -> bytes:
        """The bytes to place in guest memory, NUL terminated."""
        return self._text.encode("ascii") + b"\0"

    def __len__(self) -> int:
        """Length without the NUL (what boot_params' cmdline checks compare)."""
        return len(self._text)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Cmdline({self._text!r}, capacity={self._capacity})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Cmdline):
            return self._text == other._text
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable


__all__ = ["DEFAULT_CMDLINE_MAX", "Cmdline", "CmdlineError"]
