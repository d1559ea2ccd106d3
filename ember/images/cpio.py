"""The "newc" cpio format the kernel unpacks as an initramfs.

Each member is a 110-byte ASCII header (magic ``070701`` and thirteen 8-digit
hex fields), the NUL-terminated name padded to a multiple of 4 bytes, then the
data padded to 4; the archive ends with a member named ``TRAILER!!!``
(Documentation/driver-api/early-userspace/buffer-format.rst).

The writer is deterministic (mtime 0, inode numbers in order of addition) and
needs no root: device nodes are just headers, so ``/dev/console`` can be in the
archive without ``mknod`` on the host. The kernel does not create missing
parent directories, so the writer adds them itself.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from ember.images import ImageError

NEWC_MAGIC = b"070701"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"
_FIELDS = (
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
)
_U32 = 1 << 32


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


@dataclass(frozen=True)
class CpioEntry:
    """One member: ``name`` is relative (``bin/busybox``), ``mode`` includes the file type."""

    name: str
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    rdevmajor: int = 0
    rdevminor: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def link_target(self) -> str:
        return self.data.decode() if self.is_symlink else ""


def _check_name(name: str) -> str:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\0" in name:
        raise ImageError(f"bad cpio member name {name!r}: must be relative, without '..' or NUL")
    return path.as_posix()


class CpioWriter:
    """Collects members and renders a newc archive."""

    def __init__(self) -> None:
        self._entries: dict[str, CpioEntry] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    @property
    def entries(self) -> list[CpioEntry]:
        return list(self._entries.values())

    def _add(self, entry: CpioEntry) -> None:
        name = _check_name(entry.name)
        if name in self._entries:
            old = self._entries[name]
            if old.is_dir and entry.is_dir:
                return
            raise ImageError(f"cpio member {name!r} added twice")
        parent = PurePosixPath(name).parent
        if parent != PurePosixPath("."):
            self.add_dir(parent.as_posix())
        if len(entry.data) >= _U32:
            raise ImageError(
                f"cpio member {name!r} is {len(entry.data)} bytes; newc allows < 4 GiB"
            )
        self._entries[name] = replace(entry, name=name)

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._add(CpioEntry(name, stat.S_IFDIR | mode))

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._add(CpioEntry(name, stat.S_IFREG | mode, bytes(data)))

    def add_symlink(self, name: str, target: str) -> None:
        self._add(CpioEntry(name, stat.S_IFLNK | 0o777, target.encode()))

    def add_chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._add(CpioEntry(name, stat.S_IFCHR | mode, rdevmajor=major, rdevminor=minor))

    def to_bytes(self) -> bytes:
        out = bytearray()
        for ino, entry in enumerate([*self._entries.values(), CpioEntry(TRAILER, 0)], start=1):
            out += _encode(entry, 0 if entry.name == TRAILER else ino)
        return bytes(out)


def _encode(entry: CpioEntry, ino: int) -> bytes:
    name = entry.name.encode() + b"\0"
    values = {
        "ino": ino,
        "mode": entry.mode,
        "uid": entry.uid,
        "gid": entry.gid,
        "nlink": 2 if entry.is_dir else 1,
        "mtime": entry.mtime,
        "filesize": len(entry.data),
        "devmajor": 0,
        "devminor": 0,
        "rdevmajor": entry.rdevmajor,
        "rdevminor": entry.rdevminor,
        "namesize": len(name),
        "check": 0,
    }
    head = NEWC_MAGIC + b"".join(b"%08x" % values[f] for f in _FIELDS)
    assert len(head) == HEADER_SIZE
    return b"".join(
        (
            head,
            name,
            b"\0" * _pad4(HEADER_SIZE + len(name)),
            entry.data,
            b"\0" * _pad4(len(entry.data)),
        )
    )


def read_newc(data: bytes) -> list[CpioEntry]:
    """Parse a newc archive (up to its trailer); raises ImageError on malformed input."""
    entries: list[CpioEntry] = []
    pos = 0
    while True:
        head = data[pos : pos + HEADER_SIZE]
        if len(head) < HEADER_SIZE:
            raise ImageError(f"cpio archive truncated at offset {pos} (no trailer)")
        if head[:6] != NEWC_MAGIC:
            raise ImageError(f"not a newc cpio member at offset {pos}: magic {head[:6]!r}")
        try:
            vals = {f: int(head[6 + 8 * i : 14 + 8 * i], 16) for i, f in enumerate(_FIELDS)}
        except ValueError:
            raise ImageError(f"cpio header at offset {pos} has non-hex fields") from None
        name_start = pos + HEADER_SIZE
        name_end = name_start + vals["namesize"]
        if vals["namesize"] == 0 or name_end > len(data) or data[name_end - 1] != 0:
            raise ImageError(f"cpio member name at offset {pos} is malformed")
        name = data[name_start : name_end - 1].decode(errors="replace")
        data_start = name_end + _pad4(HEADER_SIZE + vals["namesize"])
        data_end = data_start + vals["filesize"]
        if data_end > len(data):
            raise ImageError(f"cpio member {name!r} runs past the end of the archive")
        if name == TRAILER:
            return entries
        entries.append(
            CpioEntry(
                name,
                vals["mode"],
                data[data_start:data_end],
                vals["uid"],
                vals["gid"],
                vals["mtime"],
                vals["rdevmajor"],
                vals["rdevminor"],
            )
        )
        pos = data_end + _pad4(vals["filesize"])


__all__ = ["CpioEntry", "CpioWriter", "read_newc"]
