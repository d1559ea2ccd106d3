"""The report printed when KVM cannot run a guest: registers, code bytes at rip, exit statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.errors import EmberError
from ember.memory.walker import translate

if TYPE_CHECKING:
    from ember.vmm.vcpu import Vcpu
    from ember.vmm.vm import Vm

CODE_BYTES = 16


def crash_report(vm: Vm, vcpu: Vcpu) -> str:
    lines: list[str] = []
    try:
        r = vcpu.fd.get_regs()
        sr = vcpu.fd.get_sregs()
    except EmberError as exc:
        return f"(registers unavailable: {exc})"
    names = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
    for i in range(0, len(names), 4):
        lines.append("  " + "  ".join(f"{n:>3}={getattr(r, n):016x}" for n in names[i:i + 4]))
    lines.append(f"  rip={r.rip:016x} rflags={r.rflags:08x} cs={sr.cs.selector:04x} (cpl {sr.cs.dpl}, "
                 f"{'64-bit' if sr.cs.l else '32-bit' if sr.cs.db else '16-bit'})")
    lines.append(f"  cr0={sr.cr0:08x} cr2={sr.cr2:016x} cr3={sr.cr3:016x} cr4={sr.cr4:08x} efer={sr.efer:x}")
    code = vcpu.fd.emulation_failure_bytes()
    source = "reported by KVM"
    if not code:
        try:
            rip_linear = (sr.cs.base + r.rip) & 0xFFFF_FFFF_FFFF_FFFF
            gpa = translate(vm.memory, rip_linear, sr.cr0, sr.cr3, sr.cr4, sr.efer).gpa
            code = vm.memory.read(gpa, CODE_BYTES)
            source = f"at guest-physical {gpa:#x}"
        except EmberError as exc:
            source = f"unreadable: {exc}"
    lines.append(f"  code ({source}): {code.hex(' ') if code else '-'}")
    lines.append("exit statistics:")
    lines.extend("  " + ln for ln in vm.stats().format(vm.port_names).splitlines())
    return "\n".join(lines)
