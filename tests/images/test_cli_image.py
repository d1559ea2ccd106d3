"""``ember image``: JSON output and one-line errors, run as the user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ember.images.initramfs import DEFAULT_BUSYBOX


def ember(*args: str, cache: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if cache:
        env["EMBER_CACHE_DIR"] = cache
    return subprocess.run(
        [sys.executable, "-m", "ember", "image", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.skipif(not DEFAULT_BUSYBOX.exists(), reason="busybox-static is not installed")
def test_initramfs_json(tmp_path):
    out = tmp_path / "i.cpio"
    r = ember("initramfs", "--out", str(out), "--compress", "none", "--json", cache=str(tmp_path))
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["path"] == str(out) and info["size"] == out.stat().st_size
    assert info["marker"] == "EMBER-INIT-OK" and info["compression"] == "none"


def test_initramfs_default_path_is_in_the_cache(tmp_path):
    r = ember("initramfs", "--json", "--busybox", "/nonexistent", cache=str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.startswith("ember: error: busybox not found at /nonexistent")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("initramfs", "--modules", "virtio_blk"), "no unpacked kernel in the cache"),
        (("initramfs", "--busybox", "/bin/ls"), "dynamically linked"),
    ],
)
def test_errors_are_one_line(tmp_path, args, message):
    r = ember(*args, cache=str(tmp_path))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr


def test_unknown_module_against_real_kernel(debian_kernel_dir, tmp_path):
    r = ember(
        "initramfs",
        "--kernel-dir",
        str(debian_kernel_dir.parent),
        "--modules",
        "virtio_bk",
        "--out",
        str(tmp_path / "x"),
    )
    assert r.returncode == 1
    assert "did you mean virtio_blk" in r.stderr and "Traceback" not in r.stderr


def test_subcommand_required():
    r = ember()
    assert r.returncode == 2 and "kernel,initramfs" in r.stderr
