"""Where ember keeps downloaded kernels and built initramfs images.

``$EMBER_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ember``, else
``~/.cache/ember`` (the XDG base directory default). Layout::

    <cache>/kernel/<release>/{vmlinuz,config,modules/,package.deb,.complete}
    <cache>/kernel/latest -> <release>
    <cache>/initramfs/default.cpio.gz
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "EMBER_CACHE_DIR"


def cache_dir() -> Path:
    """The root of ember's cache (not created here)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "ember"
    return Path.home() / ".cache" / "ember"


def kernel_dir() -> Path:
    """Where ``ember image kernel`` unpacks kernels by default."""
    return cache_dir() / "kernel"


def initramfs_dir() -> Path:
    """Where ``ember image initramfs`` writes its images by default."""
    return cache_dir() / "initramfs"


def default_initramfs() -> Path:
    """The initramfs ``make setup`` builds and the tests boot."""
    return initramfs_dir() / "default.cpio.gz"


__all__ = ["CACHE_ENV", "cache_dir", "default_initramfs", "initramfs_dir", "kernel_dir"]
