/*
 * layout.h - constants shared by cstart64.S, the linker script and C:
 * segment selectors, interrupt vectors, system-call numbers and sizes.
 * Plain #defines only, so the assembler can include it too.
 */
#ifndef EMBER_LAYOUT_H
#define EMBER_LAYOUT_H

#define LOAD_ADDR 0x100000      /* linked and loaded at 1 MiB physical */
#define MAX_CPUS 16             /* GDT TSS slots, stacks */

/* GDT selectors */
#define KERNEL_CS 0x08          /* 64-bit ring-0 code */
#define KERNEL_DS 0x10
#define KERNEL_CS32 0x18        /* 32-bit ring-0 code for the AP trampoline */
#define USER_DS 0x20            /* used with RPL 3: 0x23 */
#define USER_CS 0x28            /* 64-bit ring-3 code, used with RPL 3: 0x2b */
#define TSS_SEL0 0x30           /* CPU n's TSS is TSS_SEL0 + 16 * n */
#define TSS_STRIDE 128          /* bytes per TSS in tss_array (104 used) */

#define KSTACK_SIZE 4096        /* ring-0 stack per CPU: traps and syscalls only */
#define USTACK_SIZE 16384       /* ring-3 stack per CPU */

/* RFLAGS for ring 3: IOPL=3 (port I/O, cli/sti allowed), IF=0, reserved bit 1. */
#define USER_RFLAGS 0x3002

/* Interrupt vectors */
#define VEC_SYSCALL 0x80        /* int $0x80: the only DPL-3 gate */
#define VEC_TIMER 0x20          /* LAPIC timer */
#define VEC_UART 0x24           /* COM1 (ISA IRQ 4) through the IOAPIC */
#define VEC_UART_LEVEL 0x25     /* the same line, level-triggered (`irqlevel`) */
#define VEC_SPURIOUS 0xff

/* System calls: int $0x80 with rax = number, rdi/rsi/rdx/r10/r8 =
 * arguments; result in rax.  (Where the KVM turns `int $n` from ring 3 into
 * #UD, as this project's software KVM does, the #UD handler recognises the
 * cd 80 bytes and runs the same system call.) */
#define SYS_HALT 1              /* if *(u64 *)rdi == rsi: sti; hlt; cli (one interrupt) */
#define SYS_HALT_FOREVER 2      /* cli; hlt: park this CPU */
#define SYS_RDMSR 3
#define SYS_WRMSR 4
#define SYS_VMCALL 5            /* vmcall(nr=rdi, a0=rsi, a1=rdx, a2=r10, a3=r8) */
#define SYS_TRIPLE_FAULT 6      /* load an empty IDT and raise #UD */
#define SYS_INB 7               /* inb(port=rdi) */
#define SYS_OUTB 8              /* outb(port=rdi, value=rsi) */
#define SYS_OUTB_REPEAT 9       /* outb(port=rdi, value=rsi) rdx times */
#define SYS_UART_WRITE 10       /* uart_write(base=rdi, buf=rsi, len=rdx) */
#define SYS_CPUID 11            /* cpuid(leaf=rdi, subleaf=rsi) -> u32 out[4] at rdx */
#define SYS_RDTSC 12
#define SYS_OUTB_LIST 14         /* outb each {port, value} of a struct port_write[rsi] at rdi */
#define SYS_VMMCALL 13          /* as SYS_VMCALL, with AMD's vmmcall */

/* Where the AP start-up trampoline is copied (below 1 MiB, 4 KiB aligned). */
#define TRAMPOLINE_ADDR 0x8000
#define TRAMPOLINE_SIPI_VECTOR (TRAMPOLINE_ADDR >> 12)

#endif
