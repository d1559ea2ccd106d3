"""A vCPU file descriptor (rust-vmm ``VcpuFd``): registers, ``run()`` and its exits.

``run()`` returns a :class:`VcpuExit` that carries the exit's data, as
kvm-ioctls' ``VcpuExit::IoOut(port, data)``. Data for port/MMIO reads is handed
back with :meth:`VcpuExit.respond` before the next ``run()``.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct

from ember.kvm import ioctls
from ember.kvm import structs as s
from ember.kvm._sys import get_errno, ioctl, libc_ioctl
from ember.kvm.caps import KVM_EXIT_IO_OUT, ExitReason
from ember.kvm.errors import IoctlError

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TypeVar

    _S = TypeVar("_S", bound=s.Struct)

_U32 = struct.Struct("<I")
_IO = struct.Struct("<BBHIQ")  # kvm_run.io: direction, size, port, count, data_offset
_MMIO = struct.Struct("<Q8sIB")  # kvm_run.mmio: phys_addr, data[8], len, is_write
_U = s.RUN_EXIT_UNION
_MMIO_DATA = _U + 8
_EXIT_REASON = s.RUN_EXIT_REASON
_EXIT_INTR = int(ExitReason.INTR)
_KVM_RUN = ioctls.KVM_RUN


class VcpuExit:
    """One exit from KVM_RUN.

    ``reason`` is the raw ``KVM_EXIT_*``; the other fields are filled for the
    kinds that have them: port I/O (``port``, ``size``, ``count``, ``is_write``,
    ``data``), MMIO (``addr``, ``size``, ``is_write``, ``data``), system events
    and internal errors (``subtype``, ``words``), IOAPIC EOIs (``subtype`` is
    the vector).
    """

    __slots__ = (
        "_data_offset",
        "addr",
        "count",
        "data",
        "is_write",
        "port",
        "reason",
        "size",
        "subtype",
        "words",
    )

    def __init__(self, reason: int, port: int = 0, addr: int = 0, size: int = 0, count: int = 0,
                 is_write: bool = False, data: bytes = b"", subtype: int = 0, words: tuple[int, ...] = (),
                 _data_offset: int = 0) -> None:
        self.reason = reason
        self.port = port
        self.addr = addr
        self.size = size
        self.count = count
        self.is_write = is_write
        self.data = data
        self.subtype = subtype
        self.words = words
        self._data_offset = _data_offset

    def __repr__(self) -> str:
        return f"VcpuExit({self.name}, port={self.port:#x}, addr={self.addr:#x}, size={self.size})"

    @property
    def name(self) -> str:
        return ExitReason.name_of(self.reason)


class VcpuFd:
    def __init__(self, fd: int, vcpu_id: int, mmap_size: int) -> None:
        self.fd = fd
        self.id = vcpu_id
        self.run_map = mmap.mmap(fd, mmap_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.run_struct = s.kvm_run.from_buffer(self.run_map)

    def close(self) -> None:
        if self.fd >= 0:
            del self.run_struct
            try:
                self.run_map.close()
            except BufferError:
                pass  # a memoryview is still alive; the mapping goes with the process
            os.close(self.fd)
            self.fd = -1

    # --- running --------------------------------------------------------------------

    def run(self) -> VcpuExit:
        """Enter the guest until the next exit KVM hands to user space."""
        return self.decode(self.run_raw())

    def run_raw(self) -> int:
        """KVM_RUN, returning only the exit reason (``KVM_EXIT_INTR`` when interrupted).

        The exit's data stays in ``kvm_run``: :meth:`io` or :meth:`decode` read it.
        This is the VMM's hot path, so it allocates nothing.
        """
        if libc_ioctl(self.fd, _KVM_RUN, None) < 0:
            err = get_errno()
            if err in (errno.EINTR, errno.EAGAIN):
                return _EXIT_INTR
            raise IoctlError("KVM_RUN", err)
        return int(_U32.unpack_from(self.run_map, _EXIT_REASON)[0])

    def io(self) -> tuple[int, int, int, int, int]:
        """A port-I/O exit's (direction, size, port, count, data offset in kvm_run)."""
        return _IO.unpack_from(self.run_map, _U)

    def decode(self, reason: int) -> VcpuExit:
        """The exit KVM_RUN just returned, with its data, as a :class:`VcpuExit`."""
        m = self.run_map
        if reason == ExitReason.INTR:
            return VcpuExit(reason)
        if reason == ExitReason.IO:
            direction, size, port, count, off = _IO.unpack_from(m, _U)
            if direction == KVM_EXIT_IO_OUT:
                return VcpuExit(reason, port=port, size=size, count=count, is_write=True,
                                data=m[off:off + size * count])
            return VcpuExit(reason, port=port, size=size, count=count, _data_offset=off)
        if reason == ExitReason.MMIO:
            addr, data, length, is_write = _MMIO.unpack_from(m, _U)
            length = min(length, 8)
            return VcpuExit(reason, addr=addr, size=length, is_write=bool(is_write),
                            data=data[:length] if is_write else b"", _data_offset=_MMIO_DATA)
        if reason in (ExitReason.SYSTEM_EVENT, ExitReason.INTERNAL_ERROR):
            sub, ndata = struct.unpack_from("<II", m, _U)
            ndata = min(ndata, 16)
            words = struct.unpack_from(f"<{ndata}Q", m, _U + 8) if ndata else ()
            return VcpuExit(reason, subtype=sub, words=words)
        if reason == ExitReason.IOAPIC_EOI:
            return VcpuExit(reason, subtype=m[_U])
        if reason == ExitReason.FAIL_ENTRY:
            hw, cpu = struct.unpack_from("<QI", m, _U)
            return VcpuExit(reason, subtype=cpu, words=(hw,))
        if reason in (ExitReason.UNKNOWN, ExitReason.EXCEPTION):
            return VcpuExit(reason, words=struct.unpack_from("<Q", m, _U))
        return VcpuExit(reason)

    def respond(self, exit_: VcpuExit, data: bytes) -> None:
        """Hand the result of a port-I/O or MMIO read back to the guest."""
        need = exit_.size * max(exit_.count, 1)
        if len(data) != need:
            data = (data + b"\xff" * need)[:need]
        self.run_map[exit_._data_offset:exit_._data_offset + need] = data

    def emulation_failure_bytes(self) -> bytes:
        """The instruction bytes KVM could not emulate, when it reports them."""
        ef = self.run_struct.exit.emulation_failure
        # flags bit 0: KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES
        if ef.ndata >= 3 and ef.flags & 1:
            return bytes(ef.insn_bytes[: min(ef.insn_size, 15)])
        return b""

    def set_immediate_exit(self, value: bool) -> None:
        self.run_map[s.RUN_IMMEDIATE_EXIT] = 1 if value else 0

    # --- registers ------------------------------------------------------------------

    def _get(self, cls: type[_S], request: int, name: str) -> _S:
        """Read one kernel struct of type *cls* with the ioctl *request*."""
        r = cls()
        ioctl(self.fd, request, r, name=name)
        return r

    def get_regs(self) -> s.kvm_regs:
        return self._get(s.kvm_regs, ioctls.KVM_GET_REGS, "KVM_GET_REGS")

    def set_regs(self, r: s.kvm_regs) -> None:
        ioctl(self.fd, ioctls.KVM_SET_REGS, r, name="KVM_SET_REGS")

    def get_sregs(self) -> s.kvm_sregs:
        return self._get(s.kvm_sregs, ioctls.KVM_GET_SREGS, "KVM_GET_SREGS")

    def set_sregs(self, r: s.kvm_sregs) -> None:
        ioctl(self.fd, ioctls.KVM_SET_SREGS, r, name="KVM_SET_SREGS")

    def get_fpu(self) -> s.kvm_fpu:
        return self._get(s.kvm_fpu, ioctls.KVM_GET_FPU, "KVM_GET_FPU")

    def set_fpu(self, r: s.kvm_fpu) -> None:
        ioctl(self.fd, ioctls.KVM_SET_FPU, r, name="KVM_SET_FPU")

    def set_cpuid2(self, entries: Sequence[s.kvm_cpuid_entry2]) -> None:
        buf = s.kvm_cpuid2(len(entries))()
        buf.header.nent = len(entries)
        for i, e in enumerate(entries):
            buf.entries[i] = e
        ioctl(self.fd, ioctls.KVM_SET_CPUID2, buf, name="KVM_SET_CPUID2")

    def get_msrs(self, indices: Sequence[int]) -> dict[int, int]:
        buf = s.kvm_msrs(len(indices))()
        buf.header.nmsrs = len(indices)
        for i, idx in enumerate(indices):
            buf.entries[i].index = idx
        n = ioctl(self.fd, ioctls.KVM_GET_MSRS, buf, name="KVM_GET_MSRS")
        return {buf.entries[i].index: buf.entries[i].data for i in range(n)}

    def set_msrs(self, msrs: dict[int, int]) -> None:
        buf = s.kvm_msrs(len(msrs))()
        buf.header.nmsrs = len(msrs)
        for i, (idx, val) in enumerate(msrs.items()):
            buf.entries[i].index, buf.entries[i].data = idx, val
        n = ioctl(self.fd, ioctls.KVM_SET_MSRS, buf, name="KVM_SET_MSRS")
        if n != len(msrs):
            bad = list(msrs)[n]
            raise IoctlError("KVM_SET_MSRS", errno.EINVAL, f"KVM refused MSR {bad:#x} (set {n} of {len(msrs)})")

    def get_lapic(self) -> s.kvm_lapic_state:
        return self._get(s.kvm_lapic_state, ioctls.KVM_GET_LAPIC, "KVM_GET_LAPIC")

    def set_lapic(self, r: s.kvm_lapic_state) -> None:
        ioctl(self.fd, ioctls.KVM_SET_LAPIC, r, name="KVM_SET_LAPIC")

    def get_mp_state(self) -> int:
        r = s.kvm_mp_state()
        ioctl(self.fd, ioctls.KVM_GET_MP_STATE, r, name="KVM_GET_MP_STATE")
        return int(r.mp_state)

    def set_mp_state(self, state: int) -> None:
        ioctl(self.fd, ioctls.KVM_SET_MP_STATE, s.kvm_mp_state(state), name="KVM_SET_MP_STATE")

    def get_vcpu_events(self) -> s.kvm_vcpu_events:
        return self._get(s.kvm_vcpu_events, ioctls.KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS")

    def set_vcpu_events(self, r: s.kvm_vcpu_events) -> None:
        ioctl(self.fd, ioctls.KVM_SET_VCPU_EVENTS, r, name="KVM_SET_VCPU_EVENTS")

    def get_debugregs(self) -> s.kvm_debugregs:
        return self._get(s.kvm_debugregs, ioctls.KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS")

    def set_debugregs(self, r: s.kvm_debugregs) -> None:
        ioctl(self.fd, ioctls.KVM_SET_DEBUGREGS, r, name="KVM_SET_DEBUGREGS")

    def get_xsave(self) -> s.kvm_xsave:
        return self._get(s.kvm_xsave, ioctls.KVM_GET_XSAVE, "KVM_GET_XSAVE")

    def set_xsave(self, r: s.kvm_xsave) -> None:
        ioctl(self.fd, ioctls.KVM_SET_XSAVE, r, name="KVM_SET_XSAVE")

    def get_xcrs(self) -> s.kvm_xcrs:
        return self._get(s.kvm_xcrs, ioctls.KVM_GET_XCRS, "KVM_GET_XCRS")

    def set_xcrs(self, r: s.kvm_xcrs) -> None:
        ioctl(self.fd, ioctls.KVM_SET_XCRS, r, name="KVM_SET_XCRS")

    def translate(self, linear_address: int) -> s.kvm_translation:
        t = s.kvm_translation()
        t.linear_address = linear_address
        ioctl(self.fd, ioctls.KVM_TRANSLATE, t, name="KVM_TRANSLATE")
        return t

    def kvmclock_ctrl(self) -> None:
        """Tell the guest's kvmclock it was paused (avoids soft-lockup warnings)."""
        ioctl(self.fd, ioctls.KVM_KVMCLOCK_CTRL, 0, name="KVM_KVMCLOCK_CTRL")


