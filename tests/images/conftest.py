"""Fixtures of the images area: the Debian kernel and initramfs in ember's cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.images.cache import cache_dir, default_initramfs, kernel_dir


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(
            f"{what} {path} is absent: run 'make setup' (or 'ember image kernel' and "
            f"'ember image initramfs') to fetch it into the cache {cache_dir()}"
        )
    return path


@pytest.fixture(scope="session")
def debian_kernel_dir() -> Path:
    """The unpacked Debian cloud kernel (vmlinuz, config, modules/)."""
    return _need(kernel_dir() / "latest", "the Debian kernel directory")


@pytest.fixture(scope="session")
def debian_vmlinuz(debian_kernel_dir: Path) -> Path:
    return _need(debian_kernel_dir / "vmlinuz", "the Debian bzImage")


@pytest.fixture(scope="session")
def default_initramfs_path() -> Path:
    return _need(default_initramfs(), "the default initramfs")
