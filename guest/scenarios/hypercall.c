/*
 * hypercall.c - KVM hypercalls from ring 0 (through a system call), and
 * what a vmcall from ring 3 does.
 *
 * KVM's ABI (Documentation/virt/kvm/x86/hypercalls.rst): nr in rax, args in
 * rbx, rcx, rdx, rsi, result in rax; an unknown nr returns -KVM_ENOSYS
 * (-1000); KVM_HC_VAPIC_POLL_IRQ returns 0; a hypercall from CPL > 0
 * returns -KVM_EPERM (-1).  The instruction is the vendor's own: vmcall on
 * Intel, vmmcall on AMD.
 *
 * A LAPIC-timer watchdog abandons a hypercall that has not returned after
 * HYPERCALL_WATCHDOG_NS (this project's software KVM never completes one),
 * so the scenario reports instead of hanging.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "apic.h"
#include "clock.h"
#include "scenario.h"

#define KVM_ENOSYS 1000
#define KVM_EPERM 1
#define KVM_HC_VAPIC_POLL_IRQ 1
#define KVM_HC_UNKNOWN 0xdead
#define NO_FAULT (~0UL)
#define HYPERCALL_WATCHDOG_NS (200 * NS_PER_MS)
#define NS_PER_US 1000UL
#define CPUID_VENDOR_AMD_EBX 0x68747541		/* "Auth" */
#define CPUID_VENDOR_HYGON_EBX 0x6f677948	/* "Hygo" */

static u64 watchdog_ticks;
static u64 hypercall_sys;

static const char *describe(s64 v)
{
	switch (v) {
	case 0:
		return "0";
	case -KVM_ENOSYS:
		return "-KVM_ENOSYS";
	case -KVM_EPERM:
		return "-KVM_EPERM";
	case (s64)HYPERCALL_STUCK:
		return "no return: abandoned by the watchdog";
	default:
		return "unexpected";
	}
}

static s64 hypercall0(u64 nr)
{
	s64 ret;
	lapic_write(APIC_TMICT, (u32)MIN(watchdog_ticks, 0xffffffffUL));
	ret = (s64)syscall5(hypercall_sys, nr, 0, 0, 0, 0);
	lapic_write(APIC_TMICT, 0);
	return ret;
}

static void check(u64 nr, const char *name, s64 expect, const char *what)
{
	s64 r;
	printf("hypercall: %s (nr 0x%lx) from ring 0 ...\n", name, nr);
	r = hypercall0(nr);
	if (r == (s64)HYPERCALL_STUCK)
		printf("hypercall: %s did not return within %lu ms\n", name,
		       HYPERCALL_WATCHDOG_NS / NS_PER_MS);
	else
		printf("hypercall: %s returned %ld (%s)\n", name, r, describe(r));
	report(r == expect, "%s", what);
}

static void ring3_vmcall(void)
{
	u64 ret = 0;
	fault_fixup.vector = NO_FAULT;
	asm volatile("lea 1f(%%rip), %%rdx\n\t"
		     "mov %%rdx, %[fixup]\n\t"
		     "vmcall\n"
		     "1:"
		     : "=a"(ret), [fixup] "=m"(fault_fixup.rip)
		     : "a"((u64)KVM_HC_UNKNOWN)
		     : "rdx", "rbx", "rcx", "rsi", "memory");
	fault_fixup.rip = 0;
	if (fault_fixup.vector != NO_FAULT) {
		printf("hypercall: vmcall from ring 3 raised exception vector %lu\n",
		       fault_fixup.vector);
		report(true, "vmcall from ring 3 is refused (by an exception)");
	} else {
		printf("hypercall: vmcall from ring 3 returned %ld (%s)\n", (s64)ret,
		       describe((s64)ret));
		report((s64)ret == -KVM_EPERM, "vmcall from ring 3 returns -KVM_EPERM");
	}
}

int scenario_hypercall(int argc, const char *const *argv)
{
	u32 vendor[4];
	(void)argc, (void)argv;
	if (!kvm_signature()) {
		report_skip("no KVM signature at CPUID 0x40000000: not running on KVM");
		return report_summary();
	}
	sys_cpuid(0, 0, vendor);
	hypercall_sys = vendor[1] == CPUID_VENDOR_AMD_EBX || vendor[1] == CPUID_VENDOR_HYGON_EBX
				? SYS_VMMCALL : SYS_VMCALL;
	printf("hypercall: using %s\n", hypercall_sys == SYS_VMMCALL ? "vmmcall" : "vmcall");
	ring3_vmcall();

	lapic_enable();
	watchdog_ticks = lapic_timer_calibrate() * (HYPERCALL_WATCHDOG_NS / NS_PER_US);
	lapic_write(APIC_LVT_TIMER, VEC_TIMER);
	check(KVM_HC_UNKNOWN, "an unknown hypercall", -KVM_ENOSYS,
	      "an unknown hypercall returns -KVM_ENOSYS (-1000)");
	check(KVM_HC_VAPIC_POLL_IRQ, "KVM_HC_VAPIC_POLL_IRQ", 0, "KVM_HC_VAPIC_POLL_IRQ returns 0");
	return report_summary();
}
