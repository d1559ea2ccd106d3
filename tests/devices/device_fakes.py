"""Test doubles shared by the device tests (an IRQ line and an output sink)."""

from __future__ import annotations


class RecordingIrq:
    """An IrqLine that remembers every level change it was given."""

    def __init__(self) -> None:
        self.changes: list[bool] = []

    def set_level(self, high: bool) -> None:
        assert isinstance(high, bool)
        # Devices promise to report changes only.
        assert not self.changes or self.changes[-1] != high, "same level set twice"
        self.changes.append(high)

    @property
    def level(self) -> bool:
        return bool(self.changes) and self.changes[-1]


class Sink:
    """An output sink collecting what the device transmitted."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.chunks.append(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)
