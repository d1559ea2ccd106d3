"""A VM file descriptor (rust-vmm ``VmFd``): memory slots, irqchip, vCPUs, clock."""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False

from ember.kvm import ioctls
from ember.kvm import structs as s
from ember.kvm._sys import ioctl
from ember.kvm.caps import (
    KVM_IOEVENTFD_FLAG_DATAMATCH,
    KVM_IOEVENTFD_FLAG_DEASSIGN,
    KVM_IOEVENTFD_FLAG_PIO,
    KVM_IRQFD_FLAG_DEASSIGN,
    Cap,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ember.kvm.system import Kvm
    from ember.kvm.vcpu import VcpuFd

# Intel VMX needs three pages for the real-mode TSS and one for the identity
# map, inside guest-physical space but outside RAM; these sit just below the
# 4 GiB boundary, below the IOAPIC/LAPIC and the BIOS reset vector (as QEMU does).
KVM_TSS_ADDRESS = 0xFFFB_D000
KVM_IDENTITY_MAP_ADDRESS = 0xFFFB_C000

KVM_IRQCHIP_PIC_MASTER = 0
KVM_IRQCHIP_PIC_SLAVE = 1
KVM_IRQCHIP_IOAPIC = 2
#: struct kvm_irq_routing_entry types.
KVM_IRQ_ROUTING_IRQCHIP = 1
KVM_IRQ_ROUTING_MSI = 2


class VmFd:
    def __init__(self, fd: int, kvm: Kvm) -> None:
        self.fd = fd
        self.kvm = kvm

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def check_extension(self, cap: int) -> int:
        return ioctl(self.fd, ioctls.KVM_CHECK_EXTENSION, int(cap), name="KVM_CHECK_EXTENSION")

    # --- memory ---------------------------------------------------------------------

    def set_user_memory_region(
        self, slot: int, guest_phys_addr: int, size: int, host_addr: int, flags: int = 0
    ) -> None:
        region = s.kvm_userspace_memory_region(slot, flags, guest_phys_addr, size, host_addr)
        ioctl(self.fd, ioctls.KVM_SET_USER_MEMORY_REGION, region, name="KVM_SET_USER_MEMORY_REGION")

    def get_dirty_log(self, slot: int, npages: int) -> bytes:
        """The slot's dirty bitmap (one bit per page, cleared by the call)."""
        nbytes = ((npages + 63) // 64) * 8
        bitmap = (ctypes.c_uint8 * nbytes)()
        log = s.kvm_dirty_log(slot, 0, ctypes.addressof(bitmap))
        ioctl(self.fd, ioctls.KVM_GET_DIRTY_LOG, log, name="KVM_GET_DIRTY_LOG")
        return bytes(bitmap)

    def set_tss_address(self, addr: int = KVM_TSS_ADDRESS) -> None:
        ioctl(self.fd, ioctls.KVM_SET_TSS_ADDR, addr, name="KVM_SET_TSS_ADDR")

    def set_identity_map_address(self, addr: int = KVM_IDENTITY_MAP_ADDRESS) -> None:
        val = ctypes.c_uint64(addr)
        ioctl(self.fd, ioctls.KVM_SET_IDENTITY_MAP_ADDR, val, name="KVM_SET_IDENTITY_MAP_ADDR")

    # --- interrupts -----------------------------------------------------------------

    def create_irqchip(self) -> None:
        ioctl(self.fd, ioctls.KVM_CREATE_IRQCHIP, 0, name="KVM_CREATE_IRQCHIP")

    def enable_split_irqchip(self, ioapic_pins: int) -> None:
        """LAPICs in KVM, IOAPIC and PIC in user space (KVM_CAP_SPLIT_IRQCHIP).

        GSIs below *ioapic_pins* are the user-space IOAPIC's: KVM exits with
        KVM_EXIT_IOAPIC_EOI when a guest ends a level-triggered interrupt routed
        through one of them (see :meth:`set_msi_routes`).
        """
        self.enable_cap(Cap.SPLIT_IRQCHIP, ioapic_pins)

    def set_msi_routes(self, routes: Sequence[tuple[int, int, int]]) -> None:
        """Replace the GSI routing table with MSI routes ``(gsi, address, data)``.

        With a split irqchip KVM reads this table to learn which vectors a
        user-space IOAPIC delivers level-triggered, and exits on their EOI.
        """
        table = s.kvm_irq_routing(len(routes))()
        table.header.nr = len(routes)
        for e, (gsi, address, data) in zip(table.entries, routes):
            e.gsi, e.type = gsi, KVM_IRQ_ROUTING_MSI
            e.u.msi.address_lo, e.u.msi.address_hi = address & 0xFFFF_FFFF, address >> 32
            e.u.msi.data = data
        ioctl(self.fd, ioctls.KVM_SET_GSI_ROUTING, table, name="KVM_SET_GSI_ROUTING")

    def create_pit2(self, flags: int = 0) -> None:
        cfg = s.kvm_pit_config(flags)
        ioctl(self.fd, ioctls.KVM_CREATE_PIT2, cfg, name="KVM_CREATE_PIT2")

    def irq_line(self, irq: int, level: bool) -> None:
        lvl = s.kvm_irq_level(irq, 1 if level else 0)
        ioctl(self.fd, ioctls.KVM_IRQ_LINE, lvl, name="KVM_IRQ_LINE")

    def signal_msi(self, address: int, data: int) -> int:
        msi = s.kvm_msi(address & 0xFFFF_FFFF, address >> 32, data, 0, 0)
        return ioctl(self.fd, ioctls.KVM_SIGNAL_MSI, msi, name="KVM_SIGNAL_MSI")

    def register_irqfd(self, event_fd: int, gsi: int) -> None:
        ioctl(self.fd, ioctls.KVM_IRQFD, s.kvm_irqfd(event_fd, gsi, 0, 0), name="KVM_IRQFD")

    def unregister_irqfd(self, event_fd: int, gsi: int) -> None:
        req = s.kvm_irqfd(event_fd, gsi, KVM_IRQFD_FLAG_DEASSIGN, 0)
        ioctl(self.fd, ioctls.KVM_IRQFD, req, name="KVM_IRQFD")

    def register_ioeventfd(
        self, event_fd: int, addr: int, length: int, pio: bool, datamatch: int | None = None,
        deassign: bool = False,
    ) -> None:
        flags = KVM_IOEVENTFD_FLAG_PIO if pio else 0
        if datamatch is not None:
            flags |= KVM_IOEVENTFD_FLAG_DATAMATCH
        if deassign:
            flags |= KVM_IOEVENTFD_FLAG_DEASSIGN
        req = s.kvm_ioeventfd(datamatch or 0, addr, length, event_fd, flags)
        ioctl(self.fd, ioctls.KVM_IOEVENTFD, req, name="KVM_IOEVENTFD")

    def get_irqchip(self, chip_id: int) -> s.kvm_irqchip:
        chip = s.kvm_irqchip()
        chip.chip_id = chip_id
        ioctl(self.fd, ioctls.KVM_GET_IRQCHIP, chip, name="KVM_GET_IRQCHIP")
        return chip

    def set_irqchip(self, chip: s.kvm_irqchip) -> None:
        ioctl(self.fd, ioctls.KVM_SET_IRQCHIP, chip, name="KVM_SET_IRQCHIP")

    def get_pit2(self) -> s.kvm_pit_state2:
        st = s.kvm_pit_state2()
        ioctl(self.fd, ioctls.KVM_GET_PIT2, st, name="KVM_GET_PIT2")
        return st

    def set_pit2(self, st: s.kvm_pit_state2) -> None:
        ioctl(self.fd, ioctls.KVM_SET_PIT2, st, name="KVM_SET_PIT2")

    # --- clock ----------------------------------------------------------------------

    def get_clock(self) -> s.kvm_clock_data:
        data = s.kvm_clock_data()
        ioctl(self.fd, ioctls.KVM_GET_CLOCK, data, name="KVM_GET_CLOCK")
        return data

    def set_clock(self, clock_ns: int) -> None:
        data = s.kvm_clock_data()
        data.clock = clock_ns
        ioctl(self.fd, ioctls.KVM_SET_CLOCK, data, name="KVM_SET_CLOCK")

    def enable_cap(self, cap: int, *args: int) -> None:
        req = s.kvm_enable_cap()
        req.cap = int(cap)
        for i, a in enumerate(args):
            req.args[i] = a
        ioctl(self.fd, ioctls.KVM_ENABLE_CAP, req, name=f"KVM_ENABLE_CAP({Cap.name_of(cap).upper()})")

    # --- vCPUs ----------------------------------------------------------------------

    def create_vcpu(self, vcpu_id: int, mmap_size: int) -> VcpuFd:
        from ember.kvm.vcpu import VcpuFd

        fd = ioctl(self.fd, ioctls.KVM_CREATE_VCPU, vcpu_id, name="KVM_CREATE_VCPU")
        return VcpuFd(fd, vcpu_id, mmap_size)
