"""Defaults for Linux guests when the user gives no command line."""

from __future__ import annotations

#: Serial console from the first instruction on, reset (not halt) on reboot, reboot on panic:
#: with no ACPI, `reboot` through the i8042 is how a Linux guest ends the VM.
LINUX_CMDLINE = "console=ttyS0 earlyprintk=serial reboot=k panic=-1"

#: On a software (shadow-paging, emulated ring 0) KVM such as this project's development
#: hosts' kvm_pvm, the stock kernel needs these to get past early boot: its emulator lacks
#: XSAVE, CMPXCHG16B (CPUID bit 141 = cx16), SMAP/SMEP, FSGSBASE and PKU support.
SOFTWARE_KVM_QUIRKS = "noxsave clearcpuid=141 nosmap nosmep nofsgsbase nopku"


def default_linux_cmdline() -> str:
    from ember.kvm.system import kvm_flavour

    if kvm_flavour().hardware:
        return LINUX_CMDLINE
    return f"{LINUX_CMDLINE} {SOFTWARE_KVM_QUIRKS}"


def is_bzimage(path: str) -> bool:
    """Whether the file at *path* is a bzImage (False when it cannot be read: the loader says why)."""
    from ember.arch.x86.loader import BZIMAGE_MAGIC, BZIMAGE_MAGIC_OFFSET
    from ember.arch.x86.loader import is_bzimage as has_magic

    try:
        with open(path, "rb") as f:
            head = f.read(BZIMAGE_MAGIC_OFFSET + len(BZIMAGE_MAGIC))
    except OSError:
        return False
    return has_magic(head)
