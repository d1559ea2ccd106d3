"""The ctypes mirrors and ioctl numbers match the system's linux/kvm.h, checked by a C compiler."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest

from ember.kvm import ioctls
from ember.kvm import structs as s

STRUCTS = [
    "kvm_regs", "kvm_segment", "kvm_dtable", "kvm_sregs", "kvm_fpu", "kvm_msr_entry",
    "kvm_cpuid_entry2", "kvm_lapic_state", "kvm_mp_state", "kvm_vcpu_events", "kvm_debugregs",
    "kvm_xsave", "kvm_xcr", "kvm_xcrs", "kvm_translation", "kvm_userspace_memory_region",
    "kvm_irq_level", "kvm_pic_state", "kvm_ioapic_state", "kvm_irqchip", "kvm_pit_channel_state",
    "kvm_pit_state2", "kvm_pit_config", "kvm_clock_data", "kvm_dirty_log", "kvm_ioeventfd",
    "kvm_irqfd", "kvm_msi", "kvm_enable_cap", "kvm_run", "kvm_irq_routing_irqchip",
    "kvm_irq_routing_msi", "kvm_irq_routing_entry",
]
# (ctypes struct, field) -> C expression for offsetof
OFFSETS = {
    ("kvm_run", "exit_reason"): "offsetof(struct kvm_run, exit_reason)",
    ("kvm_run", "exit"): "offsetof(struct kvm_run, io)",
    ("kvm_run", "kvm_valid_regs"): "offsetof(struct kvm_run, kvm_valid_regs)",
    ("kvm_run", "s"): "offsetof(struct kvm_run, s)",
    ("kvm_sregs", "efer"): "offsetof(struct kvm_sregs, efer)",
    ("kvm_sregs", "interrupt_bitmap"): "offsetof(struct kvm_sregs, interrupt_bitmap)",
    ("kvm_vcpu_events", "exception_payload"): "offsetof(struct kvm_vcpu_events, exception_payload)",
    ("kvm_fpu", "mxcsr"): "offsetof(struct kvm_fpu, mxcsr)",
    ("kvm_pit_channel_state", "count_load_time"): "offsetof(struct kvm_pit_channel_state, count_load_time)",
    ("kvm_irq_routing_entry", "u"): "offsetof(struct kvm_irq_routing_entry, u)",
    # The flexible array's header: struct kvm_irq_routing up to its entries.
    ("kvm_irq_routing_header", "flags"): "offsetof(struct kvm_irq_routing, flags)",
}
UNION_OFFSETS = {
    ("mmio", "len"): "offsetof(struct kvm_run, mmio.len)",
    ("mmio", "is_write"): "offsetof(struct kvm_run, mmio.is_write)",
    ("io", "data_offset"): "offsetof(struct kvm_run, io.data_offset)",
    ("internal", "data"): "offsetof(struct kvm_run, internal.data)",
    ("emulation_failure", "insn_bytes"): "offsetof(struct kvm_run, emulation_failure.insn_bytes)",
    ("system_event", "data"): "offsetof(struct kvm_run, system_event.data)",
    ("hypercall", "ret"): "offsetof(struct kvm_run, hypercall.ret)",
    ("eoi", "vector"): "offsetof(struct kvm_run, eoi.vector)",
}
IOCTLS = [name for name in dir(ioctls) if name.startswith("KVM_") and isinstance(getattr(ioctls, name), int)]


@pytest.fixture(scope="module")
def kernel_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.fail("no C compiler: run `make setup` (installs build-essential)")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <linux/kvm.h>", "int main(void) {"]
    for name in STRUCTS:
        lines.append(f'printf("size.{name} %zu\\n", sizeof(struct {name}));')
    for (st, field), expr in OFFSETS.items():
        lines.append(f'printf("off.{st}.{field} %zu\\n", {expr});')
    for (sub, field), expr in UNION_OFFSETS.items():
        lines.append(f'printf("run.{sub}.{field} %zu\\n", {expr});')
    for name in IOCTLS:
        if name in ("KVMIO",):
            continue
        lines.append(f'#ifdef {name}\nprintf("ioctl.{name} %lu\\n", (unsigned long){name});\n#endif')
    lines.append("return 0; }")
    d = tmp_path_factory.mktemp("kvmh")
    (d / "probe.c").write_text("\n".join(lines))
    subprocess.run([cc, "-o", str(d / "probe"), str(d / "probe.c")], check=True)
    out = subprocess.run([str(d / "probe")], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("name", STRUCTS)
def test_struct_size_matches_kernel(kernel_values: dict[str, int], name: str) -> None:
    assert ctypes.sizeof(getattr(s, name)) == kernel_values[f"size.{name}"]


@pytest.mark.parametrize("key", list(OFFSETS))
def test_field_offset_matches_kernel(kernel_values: dict[str, int], key: tuple[str, str]) -> None:
    st, field = key
    assert getattr(getattr(s, st), field).offset == kernel_values[f"off.{st}.{field}"]


@pytest.mark.parametrize("key", list(UNION_OFFSETS))
def test_kvm_run_exit_union_offsets(kernel_values: dict[str, int], key: tuple[str, str]) -> None:
    sub, field = key
    sub_type = dict(s.kvm_run_exit._fields_)[sub]
    assert s.RUN_EXIT_UNION + getattr(sub_type, field).offset == kernel_values[f"run.{sub}.{field}"]


def test_every_ioctl_number_matches_kernel(kernel_values: dict[str, int]) -> None:
    checked = 0
    for name in IOCTLS:
        key = f"ioctl.{name}"
        if key in kernel_values:
            assert getattr(ioctls, name) == kernel_values[key], name
            checked += 1
    assert checked >= 50


def test_flex_arrays_have_header_plus_entries() -> None:
    assert ctypes.sizeof(s.kvm_cpuid2(3)) == 8 + 3 * 40
    assert ctypes.sizeof(s.kvm_msrs(2)) == 8 + 2 * 16
    assert ctypes.sizeof(s.kvm_irq_routing(2)) == 8 + 2 * 48
