/* desc.h - trap frames, system calls and exception fix-ups. */
#ifndef EMBER_DESC_H
#define EMBER_DESC_H
#include "libcflat.h"
#include "layout.h"

/* Layout pushed by isr_common in cstart64.S (lowest address first): the
 * caller-saved registers only. */
struct trap_frame {
	u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

/*
 * An expected exception: ring-3 code sets fixup_rip before an instruction
 * that may fault; the ring-0 handler then records the vector and resumes
 * at fixup_rip instead of reporting a failure (kvm-unit-tests' "exception
 * fixup" idea, without a table).
 */
struct fault_fixup {
	u64 rip;		/* 0 = no fault expected */
	u64 vector;		/* set by the handler: vector taken, or ~0 */
};
extern struct fault_fixup fault_fixup;

/* rax after a hypercall the watchdog had to abandon (no KVM return value
 * looks like it: KVM returns 0, small positives or -KVM_E*). */
#define HYPERCALL_STUCK 0x57c4c0de57c4c0deUL

/* Counters bumped by the ring-0 interrupt handlers; ring 3 reads them. */
extern volatile u64 timer_irqs, uart_irqs, uart_level_irqs, spurious_irqs;

static inline u64 syscall5(u64 nr, u64 a0, u64 a1, u64 a2_rdx, u64 a3, u64 a4)
{
	register u64 r10 asm("r10") = a3;
	register u64 r8 asm("r8") = a4;
	register u64 r9 asm("r9") = 0;
	u64 ret;
	asm volatile("int $0x80"
		     : "=a"(ret)
		     : "a"(nr), "D"(a0), "S"(a1), "d"(a2_rdx), "r"(r10), "r"(r8), "r"(r9)
		     : "memory");
	return ret;
}
struct cpuid;
/* CPUID as ring 0 sees it (KVM's CPUID), whatever ring 3 would see. */
void sys_cpuid(u32 leaf, u32 sub, u32 out[4]);
static inline u64 syscall0(u64 nr) { return syscall5(nr, 0, 0, 0, 0, 0); }

/*
 * Wait for an interrupt unless *counter has moved on from seen.  The check
 * happens in ring 0 with interrupts off, right before sti; hlt, so an
 * interrupt that bumps the counter just before the call is not slept
 * through (ring 3 itself may run with IF=1: this project's software KVM
 * forces it on for user code).
 */
static inline void sys_halt_unless(volatile u64 *counter, u64 seen)
{
	syscall5(SYS_HALT, (u64)counter, seen, 0, 0, 0);
}
void __noreturn sys_halt_forever(void);
static inline u64 sys_rdmsr(u32 msr) { return syscall5(SYS_RDMSR, msr, 0, 0, 0, 0); }
static inline void sys_wrmsr(u32 msr, u64 v) { syscall5(SYS_WRMSR, msr, v, 0, 0, 0); }

#endif
