"""x86 boot: the Linux boot protocol (bzImage, boot_params, e820, command line)."""

from ember.arch.x86.errors import BootError

__all__ = ["BootError"]
