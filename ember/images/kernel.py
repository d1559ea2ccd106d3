"""Fetch Debian's cloud kernel with apt, without installing it on the host.

``linux-image-cloud-amd64`` is a meta package; its one dependency names the
current kernel package (``linux-image-<release>``). We ``apt-get download`` that
.deb into a scratch directory of the cache, unpack it with ``dpkg-deb -x``, and
keep only what a VM needs::

    <dest>/<release>/vmlinuz       the bzImage (validated with BzImage)
    <dest>/<release>/config        the kernel's .config
    <dest>/<release>/modules/      the lib/modules/<release> tree
    <dest>/<release>/package.json  package name, Debian version, .deb sha256
    <dest>/latest -> <release>

A finished directory is marked by ``.complete``; fetching again is a no-op
unless ``force`` is set. The unpacked tree is assembled beside the final
directory and renamed into place, so an interrupted run leaves no half kernel.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ember.images import ImageError
from ember.images.cache import kernel_dir

log = logging.getLogger(__name__)

META_PACKAGE = "linux-image-cloud-amd64"
COMPLETE_MARKER = ".complete"
LATEST_LINK = "latest"
#: apt-get has to resolve and download ~30 MB; a stuck mirror must not hang `make`.
APT_TIMEOUT_S = 600

Reporter = Callable[[str], None]


@dataclass(frozen=True)
class KernelImage:
    """An unpacked Debian kernel in the cache."""

    release: str  # e.g. "6.1.0-56-cloud-amd64", what `uname -r` prints
    root: Path

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def modules_dir(self) -> Path:
        """The ``lib/modules/<release>`` tree."""
        return self.root / "modules"

    @property
    def metadata(self) -> dict[str, str]:
        path = self.root / "package.json"
        try:
            data: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def as_json(self) -> dict[str, str]:
        return {
            "release": self.release,
            "dir": str(self.root),
            "vmlinuz": str(self.vmlinuz),
            "config": str(self.config),
            "modules": str(self.modules_dir),
            **{k: v for k, v in self.metadata.items() if k in ("package", "version", "sha256")},
        }


def _run(argv: list[str], cwd: Path | None = None) -> str:
    tool = shutil.which(argv[0])
    if tool is None:
        raise ImageError(
            f"'{argv[0]}' is not installed: ember fetches kernels with apt and dpkg, "
            "so this needs a Debian or Ubuntu host"
        )
    try:
        r = subprocess.run(
            [tool, *argv[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ImageError(f"'{' '.join(argv)}' did not finish in {APT_TIMEOUT_S} s") from None
    if r.returncode != 0:
        detail = (r.stderr or r.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit status {r.returncode}"
        raise ImageError(f"'{' '.join(argv)}' failed: {last}")
    return r.stdout


def resolve_package(meta: str = META_PACKAGE) -> str:
    """The versioned kernel package the meta package currently depends on."""
    out = _run(["apt-cache", "depends", "--important", meta])
    for line in out.splitlines():
        m = re.match(r"\s*\|?Depends:\s*(linux-image-\S+)", line)
        if m and not m.group(1).startswith("<"):
            return m.group(1)
    raise ImageError(
        f"apt knows no kernel behind {meta}: is this a Debian host with the main "
        "archive in its sources? (run 'apt-get update' if the lists are stale)"
    )


def release_of(package: str) -> str:
    """``linux-image-6.1.0-56-cloud-amd64`` → ``6.1.0-56-cloud-amd64``."""
    release = package.removeprefix("linux-image-")
    if release == package or not re.fullmatch(r"[0-9][A-Za-z0-9.+_-]*", release):
        raise ImageError(f"{package!r} does not look like a Debian kernel package")
    return release


def find_kernel(dest: Path | None = None, release: str | None = None) -> KernelImage | None:
    """The cached kernel ``release`` (default: the one ``latest`` points to), if complete."""
    base = dest or kernel_dir()
    root = base / (release or LATEST_LINK)
    if not (root / COMPLETE_MARKER).exists():
        return None
    root = root.resolve()
    return KernelImage(release=root.name, root=root)


def fetch_kernel(
    dest: Path | None = None, *, force: bool = False, report: Reporter | None = None
) -> KernelImage:
    """Download and unpack the current Debian cloud kernel into ``dest`` (the cache)."""
    say = report or (lambda msg: log.info("%s", msg))
    base = dest or kernel_dir()
    say(f"resolving {META_PACKAGE} with apt-cache")
    package = resolve_package()
    release = release_of(package)
    final = base / release
    if (final / COMPLETE_MARKER).exists() and not force:
        say(f"{release} is already in {final}")
        _point_latest(base, release)
        return KernelImage(release=release, root=final)
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".fetch-{release}-", dir=base) as tmp:
        work = Path(tmp)
        say(f"downloading {package} with apt-get download")
        _run(["apt-get", "download", package], cwd=work)
        debs = sorted(work.glob(f"{package}_*.deb"))
        if not debs:
            raise ImageError(f"apt-get download {package} produced no .deb in {work}")
        deb = debs[-1]
        version = _run(["dpkg-deb", "--field", str(deb), "Version"]).strip()
        say(f"unpacking {deb.name}")
        unpacked = work / "root"
        _run(["dpkg-deb", "-x", str(deb), str(unpacked)])
        staged = work / release
        _assemble(unpacked, release, staged)
        _validate(staged / "vmlinuz")
        meta = {
            "package": package,
            "version": version,
            "release": release,
            "deb": deb.name,
            "sha256": _sha256(deb),
        }
        (staged / "package.json").write_text(json.dumps(meta, indent=2) + "\n")
        (staged / COMPLETE_MARKER).touch()
        if final.exists():
            shutil.rmtree(final)
        staged.rename(final)
    _point_latest(base, release)
    say(f"kernel {release} ({version}) ready in {final}")
    return KernelImage(release=release, root=final)


def _assemble(unpacked: Path, release: str, out: Path) -> None:
    """Move vmlinuz, config and the modules tree out of the unpacked package."""
    wanted = {
        unpacked / "boot" / f"vmlinuz-{release}": out / "vmlinuz",
        unpacked / "boot" / f"config-{release}": out / "config",
        unpacked / "lib" / "modules" / release: out / "modules",
    }
    # Debian moved /lib to /usr/lib in trixie; accept both.
    usr_modules = unpacked / "usr" / "lib" / "modules" / release
    if not (unpacked / "lib" / "modules" / release).exists() and usr_modules.exists():
        wanted[usr_modules] = wanted.pop(unpacked / "lib" / "modules" / release)
    out.mkdir()
    for src, dst in wanted.items():
        if not src.exists():
            raise ImageError(f"the kernel package has no {src.relative_to(unpacked)}")
        src.rename(dst)


def _validate(vmlinuz: Path) -> None:
    from ember.arch.x86.bzimage import BzImage
    from ember.arch.x86.errors import BootError

    try:
        BzImage.from_path(vmlinuz)
    except BootError as exc:
        raise ImageError(f"the downloaded kernel is not a usable bzImage: {exc}") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _point_latest(base: Path, release: str) -> None:
    """Atomically repoint ``latest`` at ``release`` (relative link, survives moving the cache)."""
    tmp = base / f".{LATEST_LINK}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(release)
    os.replace(tmp, base / LATEST_LINK)


__all__ = ["META_PACKAGE", "KernelImage", "fetch_kernel", "find_kernel", "resolve_package"]
