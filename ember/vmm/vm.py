"""A VM: built from a :class:`VmConfig`, run by vCPU threads, stopped in order.

The builder path (Firecracker ``build_microvm_for_boot``): open KVM, check
capabilities, create the VM with a split irqchip (LAPICs in KVM, the IOAPIC
here on the MMIO bus), map guest memory, put the legacy devices on the port
bus, load the kernel, create and set up the vCPUs. ``start()`` launches the vCPU threads; ``wait()`` returns why the VM
stopped and the guest's exit status.
"""

from __future__ import annotations

import enum
import threading
import time

from ember.arch.x86 import layout
from ember.arch.x86.cpuid import vcpu_cpuid
from ember.arch.x86.loader import BootSetup, load_kernel
from ember.arch.x86.msrs import boot_msrs
from ember.arch.x86.regs import setup_boot_vcpu, setup_fpu, setup_lint, write_boot_tables
from ember.errors import EmberError
from ember.kvm import Kvm
from ember.kvm.caps import Cap
from ember.log import get_logger
from ember.memory import GuestMemory
from ember.record import Record
from ember.vmm.bus import IoBus
from ember.vmm.config import VmConfig
from ember.vmm.errors import GuestCrashed, VmError
from ember.vmm.stats import ExitStats
from ember.vmm.vcpu import Vcpu, install_kick_handler

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

log = get_logger(__name__)


# ISA interrupt lines of the PC devices ember emulates.
COM1_IRQ = 4
KBD_IRQ = 1
RTC_IRQ = 8
AUX_IRQ = 12


class VmState(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class VmExit(Record):
    """Why the VM stopped: ``reason`` is one of guest-exit, reset, poweroff,
    triple-fault, halted, user, signal, timeout, error; ``status`` is the process exit status to use."""

    __slots__ = ("detail", "error", "reason", "status")

    def __init__(self, reason: str, status: int, detail: str = "", error: EmberError | None = None) -> None:
        self.reason = reason
        self.status = status
        self.detail = detail
        self.error = error


class Vm:
    def __init__(self, config: VmConfig, console_out: Callable[[bytes], None] | None = None) -> None:
        self.config = config
        self.state = VmState.CREATED
        self.stop_event = threading.Event()
        self.run_cond = threading.Condition()
        self.pause_requested = False
        self._exit: VmExit | None = None
        self._exit_lock = threading.Lock()
        #: Serializes looks at vCPU state from the control socket (see ember/vmm/control.py).
        self.inspect_lock = threading.Lock()
        self.pio_bus = IoBus("pio")
        self.mmio_bus = IoBus("mmio")
        self.vcpus: list[Vcpu] = []
        self.port_names: dict[int, str] = {}
        self.console_out = console_out or (lambda data: None)
        self.kvm = Kvm()
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # --- building ---------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config.validate(self.kvm.max_vcpus())
        self.kvm.require()
        self.vmfd = self.kvm.create_vm()
        self.vmfd.set_tss_address()
        self.vmfd.set_identity_map_address()
        # A split irqchip rather than KVM_CREATE_IRQCHIP: the PIC and the PIT
        # have no use with ember's HW-reduced ACPI platform (Linux uses the
        # LAPIC's TSC-deadline timer), the IOAPIC's state becomes plain data
        # here, and an in-kernel PIT alone costs ~15 ms to tear down.
        from ember.devices.legacy.ioapic import NUM_PINS

        self.vmfd.enable_split_irqchip(NUM_PINS)
        self.memory = GuestMemory(layout.ram_regions(cfg.memory))
        for region in self.memory:
            self.vmfd.set_user_memory_region(region.slot, region.guest_addr, region.size, region.host_addr)
        self._add_devices(cfg.vcpus)
        self.boot: BootSetup = load_kernel(self.memory, cfg.kernel, cfg.cmdline, cfg.initrd, cfg.vcpus)
        write_boot_tables(self.memory, self.boot)
        supported = self.kvm.supported_cpuid()
        tsc_deadline = bool(self.kvm.check_extension(Cap.TSC_DEADLINE_TIMER))
        mmap_size = self.kvm.vcpu_mmap_size()
        msrs = boot_msrs()
        for i in range(cfg.vcpus):
            fd = self.vmfd.create_vcpu(i, mmap_size)
            fd.set_cpuid2(vcpu_cpuid(supported, i, cfg.vcpus, tsc_deadline))
            fd.set_msrs(msrs)
            setup_fpu(fd)
            setup_lint(fd)
            if i == 0:
                setup_boot_vcpu(fd, self.boot)
            self.vcpus.append(Vcpu(self, fd))

    def _add_devices(self, nr_vcpus: int) -> None:
        from ember.devices.legacy.debug_exit import DebugExit, PostCode
        from ember.devices.legacy.i8042 import I8042
        from ember.devices.legacy.ioapic import MMIO_SIZE, Ioapic
        from ember.devices.legacy.rtc import Rtc
        from ember.devices.legacy.serial import Serial

        # APIC IDs 0..n-1 are the vCPUs; the ACPI MADT and MP table give the IOAPIC the next.
        self.ioapic = ioapic = Ioapic(self.vmfd.signal_msi, self.vmfd.set_msi_routes, ioapic_id=nr_vcpus)
        self.mmio_bus.insert(layout.IOAPIC_ADDR, MMIO_SIZE, ioapic, "ioapic")
        self.serial = Serial(self.console_out, ioapic.pin(COM1_IRQ))
        self.i8042 = I8042(on_reset=lambda: self.request_stop("reset", 0),
                           kbd_irq=ioapic.pin(KBD_IRQ), aux_irq=ioapic.pin(AUX_IRQ))
        self.rtc = Rtc(irq=ioapic.pin(RTC_IRQ))
        below = self.memory.regions[0].size
        self.rtc.set_memory_size(below, self.memory.total_size - below)
        self.debug_exit = DebugExit(lambda status: self.request_stop("guest-exit", status))
        self.post = PostCode()
        for dev, name in ((self.serial, "serial"), (self.i8042, "i8042"), (self.rtc, "rtc"),
                          (self.debug_exit, "debug-exit"), (self.post, "post")):
            self.pio_bus.insert(dev.PORT_BASE, dev.PORT_LEN, dev, name)
            for p in range(dev.PORT_BASE, dev.PORT_BASE + dev.PORT_LEN):
                self.port_names[p] = name

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self.state is not VmState.CREATED:
            raise VmError(f"cannot start a VM that is {self.state.value}")
        install_kick_handler()
        self.state = VmState.RUNNING
        for v in self.vcpus:
            v.start()

    def request_stop(self, reason: str, status: int, detail: str = "", error: EmberError | None = None) -> None:
        """Ask every vCPU to stop; the first reason wins. Safe from any thread."""
        with self._exit_lock:
            if self._exit is None:
                self._exit = VmExit(reason, status, detail, error)
        self.stop_event.set()
        with self.run_cond:
            self.run_cond.notify_all()
        for v in self.vcpus:
            if v.thread is not threading.current_thread():
                v.kick()

    def fail(self, error: EmberError) -> None:
        self.request_stop("error", getattr(error, "exit_code", 1) or 1, str(error), error)

    def wait(self, timeout: float | None = None) -> VmExit | None:
        """Block until the VM stops (or *timeout* seconds pass: then None)."""
        if not self.stop_event.wait(timeout):
            return None
        for v in self.vcpus:
            if v.thread is not None and v.thread is not threading.current_thread():
                v.thread.join(timeout=5)
        self.state = VmState.STOPPED
        assert self._exit is not None
        return self._exit

    def pause(self, timeout: float = 5.0) -> None:
        if self.state is not VmState.RUNNING:
            raise VmError(f"cannot pause a VM that is {self.state.value}")
        self.pause_requested = True
        for v in self.vcpus:
            v.kick()
        deadline = time.monotonic() + timeout
        for v in self.vcpus:
            if not v.paused.wait(max(0.0, deadline - time.monotonic())) and not self.stop_event.is_set():
                raise VmError(f"vcpu{v.id} did not pause within {timeout} s")
        self.state = VmState.PAUSED

    def resume(self) -> None:
        if self.state is not VmState.PAUSED:
            raise VmError(f"cannot resume a VM that is {self.state.value}")
        with self.run_cond:
            self.pause_requested = False
            self.run_cond.notify_all()
        self.state = VmState.RUNNING

    def stats(self) -> ExitStats:
        total = ExitStats()
        for v in self.vcpus:
            total.merge(v.stats)
        return total

    def close(self) -> None:
        if not self.stop_event.is_set() and self.vcpus and self.state is VmState.RUNNING:
            self.request_stop("user", 0)
            self.wait(5)
        for v in self.vcpus:
            v.fd.close()
        if getattr(self, "vmfd", None) is not None:
            self.vmfd.close()
        if getattr(self, "memory", None) is not None:
            self.memory.close()
        self.kvm.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- diagnostics ------------------------------------------------------------------

    def crash_error(self, vcpu: Vcpu, summary: str) -> GuestCrashed:
        from ember.vmm.report import crash_report

        return GuestCrashed(f"vcpu{vcpu.id}: {summary}", crash_report(self, vcpu))
