"""``ember image kernel`` end to end, offline: fake apt tools serve a .deb built here.

The .deb is made with the real ``dpkg-deb --build`` and unpacked with the real
``dpkg-deb -x``; only ``apt-cache`` and ``apt-get`` are stand-ins, so the test
needs no network and never touches the host's package state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from images_factory import make_bzimage

from ember.arch.x86.bzimage import BzImage
from ember.images import ImageError
from ember.images.kernel import fetch_kernel, find_kernel, release_of, resolve_package

RELEASE = "6.99.0-1-cloud-amd64"
PACKAGE = f"linux-image-{RELEASE}"

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")


def _build_deb(tmp: Path, vmlinuz: bytes) -> Path:
    pkg = tmp / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\nVersion: 6.99.1-1\nArchitecture: amd64\n"
        "Maintainer: ember tests <tests@example.invalid>\nDescription: fake kernel\n"
    )
    (pkg / "boot").mkdir()
    (pkg / "boot" / f"vmlinuz-{RELEASE}").write_bytes(vmlinuz)
    (pkg / "boot" / f"config-{RELEASE}").write_text("CONFIG_64BIT=y\n")
    mod = pkg / "lib" / "modules" / RELEASE / "kernel" / "drivers"
    mod.mkdir(parents=True)
    (mod / "dummy.ko").write_bytes(b"\x7fELF")
    deb = tmp / f"{PACKAGE}_6.99.1-1_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "-Zgzip", str(pkg), str(deb)], check=True, capture_output=True
    )
    return deb


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """PATH with apt-cache/apt-get stand-ins; returns (deb path, call log)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "apt.log"
    deb = _build_deb(tmp_path, make_bzimage())
    (bindir / "apt-cache").write_text(
        f'#!/bin/sh\necho "apt-cache $*" >> {log}\n'
        f"echo linux-image-cloud-amd64\necho '  Depends: {PACKAGE}'\n"
    )
    (bindir / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >> {log}\ncp {deb} .\n')
    for tool in bindir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return deb, log


def test_fetch_unpacks_and_is_idempotent(tmp_path, fake_apt):
    _deb, log = fake_apt
    dest = tmp_path / "cache"
    image = fetch_kernel(dest)
    assert image.release == RELEASE
    assert image.root == dest / RELEASE
    assert BzImage.from_path(image.vmlinuz).setup_header.protocol == "2.15"
    assert image.config.read_text() == "CONFIG_64BIT=y\n"
    assert (image.modules_dir / "kernel" / "drivers" / "dummy.ko").exists()
    meta = image.metadata
    assert meta["package"] == PACKAGE and meta["version"] == "6.99.1-1"
    assert os.readlink(dest / "latest") == RELEASE
    assert find_kernel(dest) == image
    # Nothing but the kernel directory and the link is left behind.
    assert sorted(p.name for p in dest.iterdir()) == [RELEASE, "latest"]
    assert log.read_text().count("apt-get download") == 1
    fetch_kernel(dest)
    assert log.read_text().count("apt-get download") == 1  # cached
    fetch_kernel(dest, force=True)
    assert log.read_text().count("apt-get download") == 2


def test_a_kernel_that_is_not_a_bzimage_is_refused(tmp_path, fake_apt):
    deb, _ = fake_apt
    (tmp_path / "b").mkdir()
    shutil.copy(_build_deb(tmp_path / "b", b"\0" * 8192), deb)
    with pytest.raises(ImageError, match="not a usable bzImage"):
        fetch_kernel(tmp_path / "cache")
    assert find_kernel(tmp_path / "cache") is None
    assert not (tmp_path / "cache" / RELEASE).exists()


def test_find_kernel_absent(tmp_path):
    assert find_kernel(tmp_path) is None


def test_release_names():
    assert release_of("linux-image-6.1.0-56-cloud-amd64") == "6.1.0-56-cloud-amd64"
    for bad in ("linux-headers-6.1", "linux-image-", "linux-image-../../x"):
        with pytest.raises(ImageError):
            release_of(bad)


def test_missing_apt_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImageError, match="'apt-cache' is not installed"):
        resolve_package()


def test_cli_kernel_json(tmp_path, fake_apt):
    env = {**os.environ, "EMBER_CACHE_DIR": str(tmp_path / "c")}
    r = subprocess.run(
        [sys.executable, "-m", "ember", "image", "kernel", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["release"] == RELEASE and Path(out["vmlinuz"]).is_file()
    assert out["vmlinuz"].startswith(str(tmp_path / "c" / "kernel"))


def test_real_cached_kernel(debian_kernel_dir):
    image = find_kernel(debian_kernel_dir.parent)
    assert image is not None and image.release.endswith("-cloud-amd64")
    assert image.vmlinuz.is_file() and image.config.is_file() and image.modules_dir.is_dir()
    assert "CONFIG_X86_64=y" in image.config.read_text().splitlines()
    meta = image.metadata
    assert meta["package"] == f"linux-image-{image.release}"
    assert len(meta["sha256"]) == 64
