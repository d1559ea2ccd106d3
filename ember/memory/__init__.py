"""Guest memory (rust-vmm vm-memory) and the guest page-table walker."""

from ember.memory.errors import GuestMemoryError, InvalidGuestAddress, TranslationFault
from ember.memory.guest_memory import PAGE_SIZE, GuestMemory, GuestRegion
from ember.memory.walker import Translation, WalkStep, translate

__all__ = [
    "PAGE_SIZE", "GuestMemory", "GuestMemoryError", "GuestRegion", "InvalidGuestAddress",
    "Translation", "TranslationFault", "WalkStep", "translate",
]
