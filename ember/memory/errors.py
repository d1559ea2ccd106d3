"""Errors from guest memory."""

from __future__ import annotations

from ember.errors import EmberError


class GuestMemoryError(EmberError):
    """A guest address or length falls outside guest memory."""


class InvalidGuestAddress(GuestMemoryError):
    def __init__(self, addr: int, length: int = 1) -> None:
        self.addr, self.length = addr, length
        super().__init__(f"guest-physical range {addr:#x}+{length:#x} is not backed by guest RAM")


class TranslationFault(GuestMemoryError):
    """A guest-virtual address has no valid mapping in the guest's page tables."""
