"""Linux guest images: a stock Debian kernel and an initramfs of ours.

``ember image kernel`` fetches Debian's ``linux-image-cloud-amd64`` with apt
(download only, never installed on the host) and unpacks ``vmlinuz``, its
``config`` and the modules tree into the cache (:mod:`ember.images.kernel`).
``ember image initramfs`` builds a newc cpio archive from busybox-static, an
``/init`` script of ours and the kernel modules asked for, decompressed
(:mod:`ember.images.initramfs`, :mod:`ember.images.cpio`,
:mod:`ember.images.modules`). Everything lives under :func:`ember.images.cache.cache_dir`.

::

    EmberError
     +-- ImageError     a guest image could not be fetched or built
"""

from __future__ import annotations

from ember.errors import EmberError


class ImageError(EmberError):
    """A kernel could not be fetched/unpacked or an initramfs could not be built."""


__all__ = ["ImageError"]
