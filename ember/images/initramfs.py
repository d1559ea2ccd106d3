"""Build ember's initramfs: busybox-static, an ``/init`` of ours, and chosen kernel modules.

The archive (newc cpio, gzip-compressed by default) holds::

    init                       the script below
    bin/busybox                the host's busybox-static (checked to be static x86-64)
    bin/<applet> -> busybox    the applets /init and a debugging shell use
    dev/console, dev/null      device nodes, so init has a console before devtmpfs
    proc/ sys/ tmp/ etc/ember/
    lib/modules/<release>/...  requested modules and their dependencies, decompressed,
                               with modules.dep, modules.builtin(.modinfo), modules.order
    etc/ember/modules.load     the modules to insmod, in dependency order

``/init`` mounts proc, sysfs and devtmpfs, loads the modules, prints the marker
line :data:`INIT_MARKER`, then ``uname -r`` and ``/proc/cmdline``, and leaves the
VM with ``reboot -f``: ember's VMM stops the VM on the i8042 reset line (as QEMU
does with ``-no-reboot``), and a power-off would need ACPI, which a minimal VM
may not have. ``ember.exit=poweroff`` or ``ember.exit=shell`` on the kernel
command line choose otherwise.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ember.images import ImageError
from ember.images.cpio import CpioWriter
from ember.images.kernel import KernelImage
from ember.images.modules import ModuleTree, decompress_module, modules_dep

log = logging.getLogger(__name__)

#: The line /init prints once it runs; tests and the VMM look for it on the console.
INIT_MARKER = "EMBER-INIT-OK"
#: Where Debian's busybox-static puts its binary.
DEFAULT_BUSYBOX = Path("/bin/busybox")
#: Applets /init uses, plus a few that make the optional shell useful.
APPLETS = (
    "sh",
    "mount",
    "umount",
    "mkdir",
    "cat",
    "echo",
    "uname",
    "reboot",
    "poweroff",
    "insmod",
    "modprobe",
    "lsmod",
    "sleep",
    "ls",
    "dmesg",
    "setsid",
    "cttyhack",
    "ps",
)
COMPRESSIONS = ("gzip", "none")
#: Device numbers of /dev/console (5,1) and /dev/null (1,3) (Documentation/admin-guide/devices.txt).
CONSOLE_DEV = (5, 1)
NULL_DEV = (1, 3)
#: gzip level 6 is zlib's default: within a few % of 9's size, much faster.
GZIP_LEVEL = 6

INIT_SCRIPT = f"""#!/bin/sh
# ember's /init: show that the kernel reached user space, then leave the VM.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
if [ -s /etc/ember/modules.load ]; then
    while read -r mod; do
        if insmod "/$mod"; then echo "ember-init: loaded $mod"; else echo "ember-init: FAILED $mod"; fi
    done < /etc/ember/modules.load
fi
# The empty line makes the marker start a line even after a partial console line.
echo
echo {INIT_MARKER}
echo "ember-init: uname -r: $(uname -r)"
echo "ember-init: cmdline: $(cat /proc/cmdline)"
action=reboot
for arg in $(cat /proc/cmdline); do
    case "$arg" in ember.exit=*) action="${{arg#ember.exit=}}" ;; esac
done
case "$action" in
    shell) exec setsid cttyhack sh ;;
    poweroff) poweroff -f ;;
    *) reboot -f ;;
esac
# Only reached if the kernel ignored the request: do not let init exit (that panics).
while true; do sleep 3600; done
"""


@dataclass(frozen=True)
class InitramfsInfo:
    """What went into an initramfs."""

    size: int
    compression: str
    modules: tuple[str, ...]  # module files in load order
    builtin: tuple[str, ...]  # requested modules that are built into the kernel
    kernel_release: str | None
    busybox: Path

    def as_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "compression": self.compression,
            "modules": list(self.modules),
            "builtin": list(self.builtin),
            "kernel_release": self.kernel_release,
            "busybox": str(self.busybox),
            "marker": INIT_MARKER,
        }


def check_busybox(path: Path) -> bytes:
    """The bytes of ``path`` if it is a statically linked x86-64 ELF; else ImageError."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    if not path.is_file():
        raise ImageError(
            f"busybox not found at {path}: install the busybox-static package (make setup does)"
        )
    data = path.read_bytes()
    try:
        import io

        elf = ELFFile(io.BytesIO(data))
        machine = elf["e_machine"]
        dynamic = any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())
    except (ELFError, ValueError) as exc:
        raise ImageError(f"{path} is not an ELF executable: {exc}") from None
    if machine != "EM_X86_64":
        raise ImageError(f"{path} is built for {machine}, not x86-64")
    if dynamic:
        raise ImageError(
            f"{path} is dynamically linked and would not run in an initramfs without its "
            "libraries; install busybox-static (it replaces the busybox package)"
        )
    return data


def build_initramfs(
    modules: Sequence[str] = (),
    *,
    kernel: KernelImage | None = None,
    busybox: Path = DEFAULT_BUSYBOX,
    compression: str = "gzip",
) -> tuple[bytes, InitramfsInfo]:
    """The initramfs image as bytes, and a description of it."""
    if compression not in COMPRESSIONS:
        raise ImageError(f"unknown compression {compression!r}; choose {', '.join(COMPRESSIONS)}")
    if modules and kernel is None:
        raise ImageError(
            "kernel modules were requested but no kernel is fetched: run 'ember image kernel'"
        )
    cpio = CpioWriter()
    for d in ("dev", "proc", "sys", "tmp", "etc/ember", "bin"):
        cpio.add_dir(d)
    cpio.add_chardev("dev/console", *CONSOLE_DEV)
    cpio.add_chardev("dev/null", *NULL_DEV, mode=0o666)
    cpio.add_file("init", INIT_SCRIPT.encode(), mode=0o755)
    cpio.add_file("bin/busybox", check_busybox(busybox), mode=0o755)
    for applet in APPLETS:
        cpio.add_symlink(f"bin/{applet}", "busybox")

    loaded: list[str] = []
    builtin: list[str] = []
    if kernel is not None and modules:
        tree = ModuleTree(kernel.modules_dir)
        order, builtin = tree.resolve(modules)
        base = f"lib/modules/{kernel.release}"
        for mod in order:
            path = f"{base}/{mod.plain_relpath}"
            cpio.add_file(path, decompress_module(tree.root / mod.relpath))
            loaded.append(path)
        cpio.add_file(f"{base}/modules.dep", modules_dep(order).encode())
        cpio.add_file(
            f"{base}/modules.order", "".join(f"{m.plain_relpath}\n" for m in order).encode()
        )
        for name in ("modules.builtin", "modules.builtin.modinfo"):
            src = tree.root / name
            if src.exists():
                cpio.add_file(f"{base}/{name}", src.read_bytes())
    cpio.add_file("etc/ember/modules.load", "".join(f"{p}\n" for p in loaded).encode())

    raw = cpio.to_bytes()
    data = gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0) if compression == "gzip" else raw
    info = InitramfsInfo(
        size=len(data),
        compression=compression,
        modules=tuple(loaded),
        builtin=tuple(builtin),
        kernel_release=kernel.release if kernel else None,
        busybox=busybox,
    )
    log.info("initramfs: %d bytes, %d modules", len(data), len(loaded))
    return data, info


def write_initramfs(out: Path, modules: Sequence[str] = (), **kwargs: object) -> InitramfsInfo:
    """Build and write atomically to ``out`` (a partial file never has the final name)."""
    data, info = build_initramfs(modules, **kwargs)  # type: ignore[arg-type]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return info


def default_output(modules: Sequence[str]) -> Path:
    """``default.cpio.gz`` without modules, else a name listing them."""
    from ember.images.cache import default_initramfs, initramfs_dir

    if not modules:
        return default_initramfs()
    names = "-".join(sorted({m.replace("-", "_") for m in modules}))
    return initramfs_dir() / f"modules-{names}.cpio.gz"


__all__ = [
    "APPLETS",
    "INIT_MARKER",
    "INIT_SCRIPT",
    "InitramfsInfo",
    "build_initramfs",
    "check_busybox",
    "default_output",
    "write_initramfs",
]
