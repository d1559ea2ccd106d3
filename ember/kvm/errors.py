"""Errors from the KVM layer."""

from __future__ import annotations

import errno
import os

from ember.errors import EmberError


class KvmError(EmberError):
    """A KVM ioctl failed, or KVM is missing something ember needs."""


class KvmUnavailable(KvmError):
    """/dev/kvm is missing or cannot be opened."""


class KvmCapabilityMissing(KvmError):
    """The host's KVM lacks a capability ember needs."""


class IoctlError(KvmError):
    """One ioctl failed; carries its name and errno."""

    def __init__(self, name: str, err: int, hint: str = "") -> None:
        self.name, self.errno = name, err
        msg = f"{name} failed: {os.strerror(err)} (errno {errno.errorcode.get(err, err)})"
        super().__init__(f"{msg}; {hint}" if hint else msg)
