/*
 * trap.c - the ring-0 side of the guest: interrupts, system calls and
 * exceptions.  Every instruction here is emulated by the host's software
 * KVM, so the common paths (syscall, timer, UART interrupt) are a handful of
 * instructions and printing happens only when something went wrong.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "apic.h"
#include "uart.h"

#define UD_VECTOR 6
#define INT80_BYTES 0x80cd	/* cd 80, little endian */

#define HYPERCALL_INSN_LEN 3	/* vmcall and vmmcall: 0f 01 c1 / 0f 01 d9 */

struct fault_fixup fault_fixup;
static u64 hypercall_rip;	/* address of a vmcall in flight, for the watchdog */
volatile u64 timer_irqs, uart_irqs, uart_level_irqs, spurious_irqs;

static const char *const exception_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
	"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

static void syscall(struct trap_frame *f)
{
	switch (f->rax) {
	case SYS_HALT:
		if (*(volatile u64 *)f->rdi == f->rsi)
			asm volatile("sti; hlt; cli" ::: "memory");
		f->rax = 0;
		return;
	case SYS_HALT_FOREVER:
		for (;;)
			asm volatile("cli; hlt");
	case SYS_RDMSR:
		f->rax = rdmsr((u32)f->rdi);
		return;
	case SYS_WRMSR:
		wrmsr((u32)f->rdi, f->rsi);
		f->rax = 0;
		return;
	case SYS_VMCALL:
	case SYS_VMMCALL: {
		/* Interrupts are enabled around the instruction so the
		 * hypercall watchdog (a LAPIC timer the caller may arm) can
		 * step over a hypercall the KVM never completes. */
		u64 ret;
		if (f->rax == SYS_VMCALL)
			asm volatile("lea 1f(%%rip), %%r11\n\t"
				     "mov %%r11, %[watch]\n\t"
				     "sti\n"
				     "1: vmcall\n\t"
				     "cli"
				     : "=a"(ret), [watch] "=m"(hypercall_rip)
				     : "a"(f->rdi), "b"(f->rsi), "c"(f->rdx), "d"(f->r10), "S"(f->r8)
				     : "memory", "r11");
		else
			asm volatile("lea 1f(%%rip), %%r11\n\t"
				     "mov %%r11, %[watch]\n\t"
				     "sti\n"
				     "1: vmmcall\n\t"
				     "cli"
				     : "=a"(ret), [watch] "=m"(hypercall_rip)
				     : "a"(f->rdi), "b"(f->rsi), "c"(f->rdx), "d"(f->r10), "S"(f->r8)
				     : "memory", "r11");
		hypercall_rip = 0;
		f->rax = ret;
		return;
	}
	case SYS_TRIPLE_FAULT: {
		/* An IDT with no gates: #UD cannot be delivered, nor can the #GP
		 * or #DF that follow, so the CPU shuts down. */
		static const struct __packed { u16 limit; u64 base; } empty = { 0, 0 };
		asm volatile("lidt %0; ud2" :: "m"(empty));
		for (;;)
			;
	}
	case SYS_INB:
		f->rax = raw_inb((u16)f->rdi);
		return;
	case SYS_OUTB:
		raw_outb((u16)f->rdi, (u8)f->rsi);
		return;
	case SYS_OUTB_REPEAT: {
		u16 port = (u16)f->rdi;
		u8 v = (u8)f->rsi;
		for (u64 n = f->rdx; n; n--)
			raw_outb(port, v);
		return;
	}
	case SYS_OUTB_LIST: {
		const struct port_write *w = (const struct port_write *)f->rdi;
		for (u64 n = f->rsi; n; n--, w++)
			raw_outb(w->port, w->value);
		return;
	}
	case SYS_UART_WRITE:
		f->rax = uart_write_raw((u16)f->rdi, (const char *)f->rsi, f->rdx);
		return;
	case SYS_CPUID: {
		u32 *out = (u32 *)f->rdx;
		u32 a = (u32)f->rdi, b, c = (u32)f->rsi, d;
		asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
		out[0] = a, out[1] = b, out[2] = c, out[3] = d;
		return;
	}
	case SYS_RDTSC:
		f->rax = rdtsc();
		return;
	default:
		f->rax = (u64)-1;
	}
}

static void __noreturn unexpected(struct trap_frame *f)
{
	u64 cr2 = 0;
	if (f->vector == 14)
		asm volatile("mov %%cr2, %0" : "=r"(cr2));
	printf("unhandled exception %s (vector %lu) error 0x%lx at rip 0x%lx rflags 0x%lx (ring %lu)",
	       f->vector < 32 ? exception_names[f->vector] : "irq", f->vector, f->error,
	       f->rip, f->rflags, f->cs & 3);
	if (f->vector == 14)
		printf(" cr2 0x%lx", cr2);
	printf("\n");
	exit(EXIT_EXCEPTION);
}

void trap(struct trap_frame *f)
{
	switch (f->vector) {
	case VEC_SYSCALL:
		syscall(f);
		return;
	case VEC_TIMER:
		timer_irqs++;
		if (hypercall_rip && f->rip == hypercall_rip) {
			/* The vCPU is still at the vmcall: abandon it. */
			f->rip += HYPERCALL_INSN_LEN;
			f->rax = HYPERCALL_STUCK;
		}
		lapic_eoi();
		return;
	case VEC_UART:
		/* Ring 3 drains the UART; we only acknowledge the edge. */
		uart_irqs++;
		lapic_eoi();
		return;
	case VEC_UART_LEVEL:
		/* Level-triggered: lower the line (transmitter interrupt off)
		 * before the EOI, or the IOAPIC sends it again at once. */
		uart_level_irqs++;
		raw_outb(COM1 + UART_IER, 0);
		lapic_eoi();
		return;
	case VEC_SPURIOUS:
		spurious_irqs++;
		return;
	}
	if (f->vector == UD_VECTOR && (f->cs & 3) == 3 && *(const u16 *)f->rip == INT80_BYTES) {
		/* This KVM raises #UD for `int $0x80` in ring 3 instead of
		 * delivering it through the DPL-3 gate: run the system call and
		 * step over the two-byte instruction. */
		f->rip += 2;
		syscall(f);
		return;
	}
	if (f->vector < 32 && fault_fixup.rip) {
		fault_fixup.vector = f->vector;
		f->rip = fault_fixup.rip;
		fault_fixup.rip = 0;
		return;
	}
	unexpected(f);
}

u8 sys_inb(u16 port) { return (u8)syscall5(SYS_INB, port, 0, 0, 0, 0); }
void sys_outb(u16 port, u8 v) { syscall5(SYS_OUTB, port, v, 0, 0, 0); }

void outb_list(const struct port_write *w, size_t n)
{
	if (io_direct())
		for (; n; n--, w++)
			raw_outb(w->port, w->value);
	else
		syscall5(SYS_OUTB_LIST, (u64)w, n, 0, 0, 0);
}

void sys_cpuid(u32 leaf, u32 sub, u32 out[4])
{
	syscall5(SYS_CPUID, leaf, sub, (u64)out, 0, 0);
}

void sys_halt_forever(void)
{
	syscall0(SYS_HALT_FOREVER);
	for (;;)
		;
}
