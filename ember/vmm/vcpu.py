"""A vCPU thread: KVM_RUN in a loop, each exit dispatched to the I/O buses (trap and emulate).

The thread owns its vCPU fd. Other threads talk to it only by setting the
VM's run state and kicking it out of KVM_RUN with a signal (with
``immediate_exit`` set first, so a kick that lands before KVM_RUN is entered
is not lost).
"""

from __future__ import annotations

import errno
import signal
import threading

TYPE_CHECKING = False

from ember.errors import EmberError
from ember.kvm import ExitReason, SystemEvent
from ember.kvm.caps import KVM_EXIT_IO_OUT
from ember.kvm.errors import IoctlError
from ember.kvm.vcpu import VcpuExit, VcpuFd
from ember.log import get_logger
from ember.vmm.stats import ExitStats

if TYPE_CHECKING:
    from ember.vmm.bus import BusRange
    from ember.vmm.vm import Vm

log = get_logger(__name__)

#: The signal that kicks a vCPU thread out of KVM_RUN (QEMU uses SIGUSR1 too: SIG_IPI).
KICK_SIGNAL = signal.SIGUSR1
_EXIT_IO = int(ExitReason.IO)
_IO_OUT = KVM_EXIT_IO_OUT
_ALL_ONES = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}


def install_kick_handler() -> None:
    """A do-nothing handler, so the kick signal interrupts KVM_RUN instead of killing us."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(KICK_SIGNAL) in (signal.SIG_DFL, None):
        signal.signal(KICK_SIGNAL, lambda _sig, _frame: None)


class Vcpu:
    def __init__(self, vm: Vm, fd: VcpuFd) -> None:
        self.vm = vm
        self.fd = fd
        self.id = fd.id
        self.stats = ExitStats()
        self.thread: threading.Thread | None = None
        self.last_exit: VcpuExit | None = None
        self.paused = threading.Event()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._thread_main, name=f"vcpu{self.id}", daemon=True)
        self.thread.start()

    def kick(self) -> None:
        """Make KVM_RUN return to user space as soon as possible."""
        self.fd.set_immediate_exit(True)
        t = self.thread
        if t is not None and t.ident is not None and t.is_alive():
            try:
                signal.pthread_kill(t.ident, KICK_SIGNAL)
            except ProcessLookupError:
                pass

    def _thread_main(self) -> None:
        try:
            self._run_loop()
        except EmberError as exc:
            self.vm.fail(exc)
        except Exception as exc:
            log.exception("vcpu%d crashed", self.id)
            self.vm.fail(EmberError(f"vcpu{self.id}: internal error: {type(exc).__name__}: {exc}"))

    def _run_loop(self) -> None:
        vm = self.vm
        fd = self.fd
        stats = self.stats
        reasons = stats.reasons
        pio_out, pio_in = stats.pio_out, stats.pio_in
        pio_find = vm.pio_bus.find
        mmio_find = vm.mmio_bus.find
        stopping = vm.stop_event.is_set
        run_raw, io = fd.run_raw, fd.io
        kvm_run = fd.run_map
        # Port → bus range (or None), filled as ports are first used: the exit path
        # is Python's hottest loop, and a dict lookup beats a bisect.
        ports: dict[int, BusRange | None] = {}
        while not stopping():
            if vm.pause_requested:
                self._park()
                continue
            try:
                reason = run_raw()
            except IoctlError as exc:
                if exc.errno == errno.EFAULT:
                    raise vm.crash_error(self, "KVM_RUN failed with EFAULT (guest memory not mapped)") from None
                raise
            reasons[reason] += 1
            if reason == _EXIT_IO:
                direction, size, port, count, off = io()
                try:
                    rng = ports[port]
                except KeyError:
                    rng = ports[port] = pio_find(port)
                if direction == _IO_OUT:
                    pio_out[port] += 1
                    if rng is None:
                        stats.unhandled_pio[port] += 1
                        continue
                    for i in range(off, off + size * count, size):
                        self._dev_write(rng, port - rng.base, int.from_bytes(kvm_run[i:i + size], "little"), size)
                else:
                    pio_in[port] += 1
                    if rng is None:
                        stats.unhandled_pio[port] += 1
                        kvm_run[off:off + size * count] = b"\xff" * (size * count)
                        continue
                    for i in range(off, off + size * count, size):
                        kvm_run[i:i + size] = self._dev_read(rng, port - rng.base, size).to_bytes(size, "little")
                continue
            ex = fd.decode(reason)
            if reason == ExitReason.MMIO:
                addr, size = ex.addr, ex.size
                rng = mmio_find(addr)
                if ex.is_write:
                    stats.mmio_write[addr] += 1
                    if rng is None:
                        stats.unhandled_mmio[addr] += 1
                        continue
                    self._dev_write(rng, addr - rng.base, int.from_bytes(ex.data, "little"), size)
                else:
                    stats.mmio_read[addr] += 1
                    if rng is None:
                        stats.unhandled_mmio[addr] += 1
                        fd.respond(ex, b"\xff" * size)
                        continue
                    fd.respond(ex, self._dev_read(rng, addr - rng.base, size).to_bytes(size, "little"))
            elif reason == ExitReason.IOAPIC_EOI:
                vm.ioapic.end_of_interrupt(ex.subtype)
            elif reason == ExitReason.INTR:
                fd.set_immediate_exit(False)
            elif reason == ExitReason.HLT:
                # Only without an in-kernel LAPIC; ember always has one, so a HLT exit
                # means the guest halted with interrupts it can never get: stop.
                vm.request_stop("halted", 0)
            elif reason == ExitReason.SHUTDOWN:
                vm.request_stop("triple-fault", 1, detail=self._where())
            elif reason == ExitReason.SYSTEM_EVENT:
                kind = ex.subtype
                if kind == SystemEvent.RESET:
                    vm.request_stop("reset", 0)
                elif kind == SystemEvent.SHUTDOWN:
                    vm.request_stop("poweroff", 0)
                else:
                    raise vm.crash_error(self, f"guest system event {kind} ({_event_name(kind)})")
            elif reason in (ExitReason.INTERNAL_ERROR, ExitReason.FAIL_ENTRY, ExitReason.UNKNOWN,
                            ExitReason.EXCEPTION):
                self.last_exit = ex
                raise vm.crash_error(self, _describe_fatal(ex))
            else:
                self.last_exit = ex
                raise vm.crash_error(self, f"unexpected exit {ex.name} ({reason})")

    def _dev_read(self, rng, offset: int, size: int) -> int:  # type: ignore[no-untyped-def]
        try:
            return int(rng.device.read(offset, size))
        except EmberError as exc:
            self.stats.device_errors += 1
            log.warning("vcpu%d: %s read at +%#x: %s", self.id, rng.name, offset, exc)
            return _ALL_ONES.get(size, 0xFF)

    def _dev_write(self, rng, offset: int, value: int, size: int) -> None:  # type: ignore[no-untyped-def]
        try:
            rng.device.write(offset, value, size)
        except EmberError as exc:
            self.stats.device_errors += 1
            log.warning("vcpu%d: %s write at +%#x: %s", self.id, rng.name, offset, exc)

    def _park(self) -> None:
        self.paused.set()
        with self.vm.run_cond:
            while self.vm.pause_requested and not self.vm.stop_event.is_set():
                self.vm.run_cond.wait()
        self.paused.clear()
        self.fd.set_immediate_exit(False)

    def _where(self) -> str:
        try:
            r = self.fd.get_regs()
            return f"vcpu{self.id} rip={r.rip:#x}"
        except EmberError:
            return f"vcpu{self.id}"


def _event_name(kind: int) -> str:
    return SystemEvent.name_of(kind)


def _describe_fatal(ex: VcpuExit) -> str:
    if ex.reason == ExitReason.INTERNAL_ERROR:
        sub = {1: "emulation failure", 2: "simultaneous exceptions", 3: "event delivery failed",
               4: "unexpected exit reason"}.get(ex.subtype, f"suberror {ex.subtype}")
        return f"KVM internal error, suberror {ex.subtype} ({sub}): KVM cannot run this guest further"
    if ex.reason == ExitReason.FAIL_ENTRY:
        return f"VM entry failed (hardware reason {ex.words[0]:#x}): the vCPU state is invalid"
    return f"KVM exit {ex.name}"
