"""The images really boot: the Debian kernel runs our /init under QEMU's TCG emulator.

This checks the kernel + initramfs pair independently of ember's VMM. It uses
QEMU's software CPU (``-accel tcg``) on purpose: this project's hosts have a
software KVM on which the stock kernel stops at its int3 self-test before
reaching user space (issue 3, item 7), while TCG boots it in a few seconds.
QEMU boots the bzImage through SeaBIOS and its own linuxboot option ROM, so
nothing of ember's boot-protocol code is involved here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ember.images.initramfs import INIT_MARKER, write_initramfs
from ember.images.kernel import find_kernel

QEMU = shutil.which("qemu-system-x86_64")
#: TCG boots the cloud kernel to /init in ~5 s here; a wedged guest must not hold the suite.
BOOT_TIMEOUT_S = 90

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.slow,
    pytest.mark.timeout(2 * BOOT_TIMEOUT_S),
    pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed"),
]


def boot(vmlinuz: Path, initrd: Path, cmdline: str) -> str:
    argv = [
        QEMU or "qemu-system-x86_64",
        "-accel", "tcg",
        "-cpu", "max",
        "-m", "256",
        "-nodefaults", "-nographic", "-no-reboot",
        "-serial", "stdio",
        "-kernel", str(vmlinuz),
        "-initrd", str(initrd),
        "-append", cmdline,
    ]  # fmt: skip
    r = subprocess.run(argv, capture_output=True, timeout=BOOT_TIMEOUT_S, check=False)
    return r.stdout.decode(errors="replace")


def test_default_initramfs_reaches_init(debian_kernel_dir, default_initramfs_path):
    cmdline = "console=ttyS0 panic=-1 quiet ember.test=default"
    out = boot(debian_kernel_dir / "vmlinuz", default_initramfs_path, cmdline)
    lines = [line.strip() for line in out.splitlines()]
    assert INIT_MARKER in lines, out[-2000:]
    assert f"ember-init: uname -r: {debian_kernel_dir.resolve().name}" in lines
    assert f"ember-init: cmdline: {cmdline}" in lines
    assert "reboot: Restarting system" in out  # /init left the VM on purpose


def test_modules_load_in_the_guest(debian_kernel_dir, tmp_path):
    kernel = find_kernel(debian_kernel_dir.parent)
    assert kernel is not None
    initrd = tmp_path / "mods.cpio.gz"
    info = write_initramfs(initrd, ["vsock_loopback"], kernel=kernel)
    out = boot(kernel.vmlinuz, initrd, "console=ttyS0 panic=-1 quiet")
    for path in info.modules:
        assert f"ember-init: loaded {path}" in out, out[-2000:]
    assert "FAILED" not in out
    assert INIT_MARKER in out
