"""The split irqchip through ember's KVM bindings: MSI routes, MSIs, the IOAPIC on a real VM."""

from __future__ import annotations

import errno

import pytest

from ember import guests
from ember.arch.x86.layout import IOAPIC_ADDR
from ember.devices.legacy.ioapic import NUM_PINS, Ioapic
from ember.kvm import Kvm
from ember.kvm.errors import IoctlError
from ember.vmm.config import VmConfig
from ember.vmm.vm import Vm

pytestmark = pytest.mark.kvm
LEVEL_MSI = 0xC000  # trigger mode level + assert, as the IOAPIC sends them


def test_split_irqchip_takes_msi_routes_and_refuses_bad_ones() -> None:
    with Kvm() as kvm:
        vmfd = kvm.create_vm()
        try:
            vmfd.enable_split_irqchip(NUM_PINS)
            vmfd.set_msi_routes([(4, 0xFEE0_0000, LEVEL_MSI | 0x31), (9, 0xFEE0_1000, LEVEL_MSI | 0x41)])
            vmfd.set_msi_routes([])
            with pytest.raises(IoctlError) as err:
                vmfd.set_msi_routes([(1 << 24, 0xFEE0_0000, 0x31)])  # past KVM's GSI limit
            assert err.value.errno == errno.EINVAL
            with pytest.raises(IoctlError, match="KVM_ENABLE_CAP"):
                vmfd.enable_split_irqchip(NUM_PINS)  # once per VM, before any vCPU
        finally:
            vmfd.close()


def test_vm_routes_device_lines_through_its_ioapic() -> None:
    with Vm(VmConfig(kernel=guests.test_guest_path(), cmdline="hello", vcpus=2, memory=64 << 20)) as vm:
        rng = vm.mmio_bus.find(IOAPIC_ADDR)
        assert rng is not None and isinstance(rng.device, Ioapic)
        # APIC IDs 0..n-1 are the vCPUs; the firmware tables give the IOAPIC the next.
        assert vm.ioapic.id == 2
        rng.device.write(0x00, 0x10 + 2 * 4, 4)  # IOREGSEL: pin 4 (COM1), low dword
        rng.device.write(0x10, 0x31, 4)  # unmasked, edge, vector 0x31 to APIC 0
        vm.serial.write(4, 0x08, 1)  # MCR.OUT2: a PC's UART drives its IRQ only with it
        vm.serial.write(1, 0x02, 1)  # IER.THRE: the transmitter is empty, the line goes up
        assert vm.ioapic.delivered[4] == 1
