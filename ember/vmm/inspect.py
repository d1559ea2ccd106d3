"""Looking inside a VM: registers and guest-virtual → guest-physical → host translation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ember.kvm.vcpu import VcpuFd
from ember.memory.errors import TranslationFault
from ember.memory.walker import paging_mode, translate

if TYPE_CHECKING:
    from ember.vmm.vm import Vm

GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags")


def vcpu_registers(fd: VcpuFd) -> dict[str, int]:
    r, sr = fd.get_regs(), fd.get_sregs()
    out = {n: int(getattr(r, n)) for n in GPRS}
    out.update(cr0=sr.cr0, cr2=sr.cr2, cr3=sr.cr3, cr4=sr.cr4, efer=sr.efer, cs=sr.cs.selector, cpl=sr.cs.dpl)
    return out


def translate_on_vcpu(vm: Vm, vcpu: int, gva: int) -> dict[str, Any]:
    """Walk vCPU *vcpu*'s page tables for *gva*; cross-check with KVM_TRANSLATE."""
    fd = vm.vcpus[vcpu].fd
    sr = fd.get_sregs()
    kvm = fd.translate(gva)
    result: dict[str, Any] = {
        "vcpu": vcpu, "gva": gva, "mode": paging_mode(sr.cr0, sr.cr4, sr.efer), "cr3": sr.cr3,
        "kvm_translate": {"valid": bool(kvm.valid), "gpa": kvm.physical_address,
                          "writeable": bool(kvm.writeable), "usermode": bool(kvm.usermode)},
    }
    try:
        t = translate(vm.memory, gva, sr.cr0, sr.cr3, sr.cr4, sr.efer)
    except TranslationFault as exc:
        result.update(fault=str(exc))
        return result
    result.update(
        gpa=t.gpa, host=t.host_addr, page_size=t.page_size, writable=t.writable, user=t.user,
        executable=t.executable,
        steps=[{"level": s.level, "table": s.table_gpa, "index": s.index, "entry_addr": s.entry_gpa,
                "entry": s.entry, "flags": s.flags} for s in t.steps],
    )
    return result


def format_translation(res: dict[str, Any]) -> str:
    lines = [f"vCPU {res['vcpu']}: {res['mode']} paging, CR3 = {res['cr3']:#x}",
             f"guest-virtual   {res['gva']:#018x}"]
    for s in res.get("steps", []):
        lines.append(f"  {s['level']:<6} table {s['table']:#012x} [{s['index']:3d}] @ {s['entry_addr']:#012x}"
                     f" = {s['entry']:#018x}  {s['flags']}")
    if "fault" in res:
        lines.append(f"  fault: {res['fault']}")
    else:
        lines.append(f"guest-physical  {res['gpa']:#018x}  ({res['page_size'] // 1024} KiB page, "
                     f"{'rw' if res['writable'] else 'ro'}, {'user' if res['user'] else 'supervisor'}, "
                     f"{'exec' if res['executable'] else 'noexec'})")
        lines.append(f"host-virtual    {res['host']:#018x}")
    k = res["kvm_translate"]
    agree = "agrees" if k["valid"] and k["gpa"] == res.get("gpa") else (
        "disagrees" if k["valid"] or "gpa" in res else "agrees: no mapping")
    lines.append(f"KVM_TRANSLATE   {k['gpa']:#018x} valid={int(k['valid'])} ({agree})")
    return "\n".join(lines)
