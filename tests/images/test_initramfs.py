"""The initramfs builder: contents, /init, busybox checks, and the cached default image."""

from __future__ import annotations

import gzip
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from test_modules import make_tree, needs_cc

from ember.images import ImageError
from ember.images.cpio import read_newc
from ember.images.initramfs import (
    APPLETS,
    DEFAULT_BUSYBOX,
    INIT_MARKER,
    INIT_SCRIPT,
    build_initramfs,
    check_busybox,
    write_initramfs,
)
from ember.images.kernel import KernelImage

needs_busybox = pytest.mark.skipif(
    not DEFAULT_BUSYBOX.exists(), reason="busybox-static is not installed (make setup)"
)


def _entries(data: bytes) -> dict:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return {e.name: e for e in read_newc(data)}


@needs_busybox
def test_minimal_initramfs_contents():
    data, info = build_initramfs(compression="none")
    entries = _entries(data)
    assert entries["init"].data.decode() == INIT_SCRIPT
    assert entries["init"].mode & 0o111
    assert entries["bin/busybox"].data == DEFAULT_BUSYBOX.read_bytes()
    for applet in APPLETS:
        assert entries[f"bin/{applet}"].link_target == "busybox"
    console = entries["dev/console"]
    assert stat.S_ISCHR(console.mode) and (console.rdevmajor, console.rdevminor) == (5, 1)
    for d in ("proc", "sys", "dev", "tmp"):
        assert entries[d].is_dir
    assert entries["etc/ember/modules.load"].data == b""
    assert info.size == len(data) and info.modules == () and info.kernel_release is None


@needs_busybox
def test_gzip_is_reproducible():
    a, _ = build_initramfs()
    b, _ = build_initramfs()
    assert a == b and a[:2] == b"\x1f\x8b"


def test_init_script_prints_marker_then_release_and_cmdline():
    lines = INIT_SCRIPT.splitlines()
    marker = lines.index(f"echo {INIT_MARKER}")
    after = "\n".join(lines[marker:])
    assert "uname -r" in after and "/proc/cmdline" in after and "reboot -f" in after


@needs_busybox
def test_init_script_is_valid_busybox_sh(tmp_path):
    script = tmp_path / "init"
    script.write_text(INIT_SCRIPT)
    # -n: parse only. Never run /init on the host: it would reboot it.
    r = subprocess.run(
        [str(DEFAULT_BUSYBOX), "sh", "-n", str(script)], capture_output=True, check=False
    )
    assert r.returncode == 0, r.stderr


@needs_cc
@needs_busybox
def test_modules_are_included_decompressed_in_order(tmp_path):
    root = tmp_path / "k"
    make_tree(root / "modules", {"a/top": ("dep", "xz"), "b/dep": ("", "gz")}, builtin=["x/bi"])
    (root / "vmlinuz").write_bytes(b"")
    kernel = KernelImage(release="9.9.9-test", root=root)
    data, info = build_initramfs(["top", "bi"], kernel=kernel)
    entries = _entries(data)
    base = "lib/modules/9.9.9-test"
    assert info.modules == (f"{base}/kernel/b/dep.ko", f"{base}/kernel/a/top.ko")
    assert info.builtin == ("bi",)
    for path in info.modules:
        assert entries[path].data.startswith(b"\x7fELF")
    assert entries["etc/ember/modules.load"].data.decode().split() == list(info.modules)
    assert entries[f"{base}/modules.dep"].data.decode().splitlines() == [
        "kernel/b/dep.ko:",
        "kernel/a/top.ko: kernel/b/dep.ko",
    ]
    assert f"{base}/modules.builtin" in entries


def test_modules_without_kernel_is_an_error():
    with pytest.raises(ImageError, match="ember image kernel"):
        build_initramfs(["virtio_blk"])


def test_bad_compression():
    with pytest.raises(ImageError, match="unknown compression"):
        build_initramfs(compression="lz5")


def test_busybox_checks(tmp_path):
    with pytest.raises(ImageError, match="install the busybox-static"):
        check_busybox(tmp_path / "missing")
    dynamic = Path(shutil.which("ls") or "/bin/ls")
    with pytest.raises(ImageError, match="dynamically linked"):
        check_busybox(dynamic)
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    with pytest.raises(ImageError, match="not an ELF"):
        check_busybox(text)


@needs_busybox
def test_write_is_atomic_and_creates_dirs(tmp_path):
    out = tmp_path / "deep" / "dir" / "i.cpio.gz"
    info = write_initramfs(out)
    assert out.stat().st_size == info.size
    assert [p.name for p in out.parent.iterdir()] == ["i.cpio.gz"]


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio is not installed")
def test_cached_default_initramfs_lists_with_cpio(default_initramfs_path):
    raw = gzip.decompress(default_initramfs_path.read_bytes())
    names = (
        subprocess.run(["cpio", "-it", "--quiet"], input=raw, capture_output=True, check=True)
        .stdout.decode()
        .split()
    )
    assert {"init", "bin/busybox", "bin/sh", "dev/console"} <= set(names)
