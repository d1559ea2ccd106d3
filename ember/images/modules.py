"""Kernel modules from an unpacked kernel package: find, order by dependency, decompress.

Debian's package ships the modules but not ``modules.dep`` (its postinst runs
depmod on the installed system, which we never do). The dependencies are
recorded in each module's own ``.modinfo`` section (``depends=a,b``), so we read
those, resolve the requested names transitively, and produce the load order
and a ``modules.dep`` for just the modules that go into the initramfs.

Module names follow the kernel's rule: ``-`` and ``_`` are the same.
Compressed modules (``.ko.xz``, ``.ko.zst``, ``.ko.gz``) are decompressed,
because an initramfs' busybox ``insmod`` loads plain ELF objects.
"""

from __future__ import annotations

import difflib
import gzip
import io
import logging
import lzma
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ember.images import ImageError

log = logging.getLogger(__name__)

#: Suffixes of module files, the compressed ones mapping to their decompressor.
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


def module_name(filename: str) -> str:
    """``kernel/fs/fuse/virtio-fs.ko.xz`` → ``virtio_fs``."""
    base = filename.rsplit("/", 1)[-1]
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def plain_path(relpath: str) -> str:
    """The path of a module once decompressed (``x.ko.xz`` → ``x.ko``)."""
    for suffix in MODULE_SUFFIXES[1:]:
        if relpath.endswith(suffix):
            return relpath[: -len(suffix)] + ".ko"
    return relpath


@dataclass(frozen=True)
class ModuleFile:
    name: str
    relpath: str  # relative to the modules tree, as in modules.dep (possibly compressed)
    depends: tuple[str, ...]

    @property
    def plain_relpath(self) -> str:
        return plain_path(self.relpath)


def decompress_module(path: Path) -> bytes:
    """The plain ELF bytes of a module file, whatever its compression."""
    raw = path.read_bytes()
    name = path.name
    try:
        if name.endswith(".ko.xz"):
            data = lzma.decompress(raw)
        elif name.endswith(".ko.gz"):
            data = gzip.decompress(raw)
        elif name.endswith(".ko.zst"):
            data = _unzstd(raw, path)
        else:
            data = raw
    except (lzma.LZMAError, OSError, EOFError) as exc:
        raise ImageError(f"cannot decompress module {path}: {exc}") from None
    if not data.startswith(b"\x7fELF"):
        raise ImageError(f"module {path} is not an ELF object after decompression")
    return data


def _unzstd(raw: bytes, path: Path) -> bytes:
    try:
        import zstandard
    except ImportError:
        zstd = shutil.which("zstd")
        if zstd is None:
            raise ImageError(
                f"{path} is zstd-compressed; install the 'zstd' tool (make setup does)"
            ) from None
        r = subprocess.run([zstd, "-dc"], input=raw, capture_output=True, check=False)
        if r.returncode:
            raise ImageError(f"zstd could not decompress {path}: {r.stderr.decode().strip()}")
        return r.stdout
    out: bytes = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    return out


def read_modinfo(elf_bytes: bytes, where: str = "module") -> dict[str, str]:
    """The ``key=value`` strings of a module's ``.modinfo`` section (last value wins)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(elf_bytes))
        section = elf.get_section_by_name(".modinfo")
        blob = section.data() if section is not None else b""
    except (ELFError, ValueError, OSError) as exc:
        raise ImageError(f"{where} is not a readable ELF module: {exc}") from None
    info: dict[str, str] = {}
    for item in blob.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            info[key.decode(errors="replace")] = value.decode(errors="replace")
    return info


class ModuleTree:
    """The ``lib/modules/<release>`` tree of one kernel."""

    def __init__(self, root: Path) -> None:
        if not (root / "kernel").is_dir():
            raise ImageError(f"{root} is not a kernel modules tree (no kernel/ directory)")
        self.root = root
        self._files: dict[str, str] = {}
        for path in sorted((root / "kernel").rglob("*.ko*")):
            rel = path.relative_to(root).as_posix()
            if rel.endswith(MODULE_SUFFIXES):
                self._files.setdefault(module_name(rel), rel)
        self.builtin = frozenset(self._read_list("modules.builtin"))
        self._cache: dict[str, ModuleFile] = {}

    def _read_list(self, name: str) -> list[str]:
        path = self.root / name
        if not path.exists():
            return []
        return [module_name(line.strip()) for line in path.read_text().splitlines() if line]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._files)

    def module(self, name: str) -> ModuleFile:
        key = name.replace("-", "_")
        if key in self._cache:
            return self._cache[key]
        rel = self._files.get(key)
        if rel is None:
            close = difflib.get_close_matches(key, self._files, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ImageError(f"kernel module {name!r} is not in {self.root}{hint}")
        info = read_modinfo(decompress_module(self.root / rel), rel)
        deps = tuple(d.replace("-", "_") for d in info.get("depends", "").split(",") if d)
        mod = ModuleFile(key, rel, deps)
        self._cache[key] = mod
        return mod

    def resolve(self, names: Iterable[str]) -> tuple[list[ModuleFile], list[str]]:
        """Modules to load for ``names``, dependencies first; and the names that are built in."""
        order: list[ModuleFile] = []
        builtin: list[str] = []
        state: dict[str, str] = {}  # "visiting" | "done", to catch dependency cycles

        def visit(name: str, chain: tuple[str, ...]) -> None:
            key = name.replace("-", "_")
            if state.get(key) == "done":
                return
            if state.get(key) == "visiting":
                raise ImageError(f"module dependency cycle: {' -> '.join((*chain, key))}")
            if key in self.builtin and key not in self._files:
                builtin.append(key)
                state[key] = "done"
                return
            state[key] = "visiting"
            mod = self.module(key)
            for dep in mod.depends:
                visit(dep, (*chain, key))
            state[key] = "done"
            order.append(mod)

        for n in names:
            visit(n, ())
        return order, builtin


def modules_dep(order: list[ModuleFile]) -> str:
    """``modules.dep`` text for modules given in load order (as :meth:`ModuleTree.resolve` returns).

    Each line lists a module's full transitive dependencies in depmod's order:
    a loader inserts them from the last to the first, so a dependency's own
    dependencies come after it.
    """
    position = {m.name: i for i, m in enumerate(order)}
    by_name = {m.name: m for m in order}
    lines = []
    for mod in order:
        closure: set[str] = set()
        stack = [d for d in mod.depends if d in by_name]
        while stack:
            d = stack.pop()
            if d not in closure:
                closure.add(d)
                stack.extend(x for x in by_name[d].depends if x in by_name)
        deps = sorted(closure, key=position.__getitem__, reverse=True)
        text = " ".join(by_name[d].plain_relpath for d in deps)
        lines.append(f"{mod.plain_relpath}: {text}".rstrip())
    return "\n".join(lines) + ("\n" if lines else "")


__all__ = [
    "ModuleFile",
    "ModuleTree",
    "decompress_module",
    "module_name",
    "modules_dep",
    "read_modinfo",
]
