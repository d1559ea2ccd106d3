"""Guest memory (rust-vmm vm-memory) and the guest page-table walker.

The walker is imported on first use: ``ember run`` does not need it to boot.
"""

from ember.memory.errors import GuestMemoryError, InvalidGuestAddress, TranslationFault
from ember.memory.guest_memory import PAGE_SIZE, GuestMemory, GuestRegion

__all__ = [
    "PAGE_SIZE", "GuestMemory", "GuestMemoryError", "GuestRegion", "InvalidGuestAddress",
    "Translation", "TranslationFault", "WalkStep", "translate",
]
_WALKER = ("Translation", "WalkStep", "translate")


def __getattr__(name: str) -> object:
    if name in _WALKER:
        from ember.memory import walker

        return getattr(walker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
