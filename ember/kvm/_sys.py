"""The raw ``ioctl(2)`` call, through ctypes so that KVM_RUN releases the GIL.

``fcntl.ioctl`` keeps the GIL for the whole call; a vCPU thread blocked in
KVM_RUN must not stop every other thread, so all KVM ioctls go through libc.
"""

from __future__ import annotations

import ctypes

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import Any

from ember.kvm.errors import IoctlError

# Named directly: ctypes.util.find_library runs ldconfig in a subprocess (slow start-up).
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc_ioctl = _libc.ioctl
_libc_ioctl.restype = ctypes.c_int
_libc_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]


def ioctl(fd: int, request: int, arg: Any = None, name: str = "ioctl") -> int:
    """Issue *request* on *fd*; *arg* is None, an int, or a ctypes object passed by pointer."""
    if arg is None or isinstance(arg, int):
        ptr = arg
    else:
        ptr = ctypes.addressof(arg)
    ret = _libc_ioctl(fd, request, ptr)
    if ret < 0:
        raise IoctlError(name, ctypes.get_errno())
    return int(ret)


#: The bare libc call, for the KVM_RUN hot path: (fd, request, pointer or None) -> int.
libc_ioctl = _libc_ioctl
get_errno = ctypes.get_errno

