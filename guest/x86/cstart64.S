/*
 * cstart64.S - entry points, descriptor tables and page tables of ember's
 * test guest.
 *
 * Ring-0 code is the expensive part of this guest: the host's software KVM
 * emulates every ring-0 instruction (~2 MIPS), while ring-3 code runs
 * natively.  So everything a loop would normally build at boot (page
 * tables, IDT, TSS descriptors) is initialised data here, assembled by
 * .rept blocks and finished by the linker (flat.lds computes the split
 * address fields of the IDT gates and TSS descriptors).  The boot path from
 * the PVH entry to ring 3 is about thirty instructions and has no loop.
 */
#include "layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
#define PTE_P 0x001
#define PTE_RW 0x002
#define PTE_US 0x004
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS 0x080
#define PAGE_2M 0x200000

/*
 * PVH note: Xen's XEN_ELFNOTE_PHYS32_ENTRY.  The descriptor is 8 bytes as
 * Linux emits it (QEMU reads a pointer-sized value from ELF64 notes); the
 * entry address fits in 32 bits, so readers may take the low 4 bytes.
 */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* n_namesz: "Xen\0" */
	.long 8				/* n_descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY	/* n_type */
	.asciz "Xen"
	.balign 4
	.quad pvh_entry32
	.balign 4

/*
 * PVH entry: 32-bit protected mode, paging off, flat CS/DS, %ebx = physical
 * address of struct hvm_start_info.  No stack is needed until long mode.
 */
	.section .text.entry, "ax"
	.code32
	.globl pvh_entry32
pvh_entry32:
	cli
	mov %ebx, %edi			/* user_start(start_info, cpu 0) */
	xor %esi, %esi
	lgdt gdt_desc
	/* fall through */

/* Common to the BSP and the APs: %edi = argument, %esi = cpu index. */
enter_long_mode:
	mov $CR4_PAE, %eax
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	ljmp $KERNEL_CS, $entry64

/* APs arrive here from the real-mode trampoline with the GDT loaded. */
	.globl ap_entry32
ap_entry32:
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov ap_boot_cpu, %esi
	xor %edi, %edi
	jmp enter_long_mode

	.code64
entry64:
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	mov %esi, %esi
	mov kstack_tops(,%rsi,8), %rsp
	lidt idt_desc
	mov %esi, %eax
	shl $4, %eax
	add $TSS_SEL0, %eax
	ltr %ax
	/* Drop to ring 3: user_start(%rdi, %rsi) on this CPU's user stack. */
	pushq $(USER_DS | 3)
	pushq ustack_tops(,%rsi,8)
	pushq $USER_RFLAGS
	pushq $(USER_CS | 3)
	pushq $user_start
	iretq

/*
 * Interrupt and exception stubs: 256 stubs of 16 bytes each, so the IDT can
 * be static data (gate i points at isr_table + 16 * i).  Each pushes a dummy
 * error code where the CPU does not push one, then the vector.
 */
	.text
	.balign 4096
	.globl isr_table
isr_table:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr
	.balign 16
	.globl isr_table_end
isr_table_end:

/*
 * Only the caller-saved registers are saved: trap() is C and preserves the
 * others, and no handler needs them (12 fewer emulated instructions on
 * every interrupt and system call).
 */
isr_common:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	mov %rsp, %rdi
	cld
	call trap
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $16, %rsp			/* vector and error code */
	iretq

/*
 * AP start-up trampoline, copied to TRAMPOLINE_ADDR by the BSP (from ring 3)
 * before INIT-SIPI-SIPI.  Real mode, CS = TRAMPOLINE_ADDR >> 4, IP = 0: load
 * the kernel's GDT, set PE and jump to ap_entry32 in the kernel image.
 */
	.section .rodata.trampoline, "a"
	.code16
	.globl ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	lgdtl %cs:ap_gdt_desc - ap_trampoline
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $KERNEL_CS32, $ap_entry32
	.balign 4
ap_gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
ap_trampoline_end:
	.code64

	.data
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* KERNEL_CS: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff	/* KERNEL_DS */
	.quad 0x00cf9a000000ffff	/* KERNEL_CS32: 32-bit code for APs */
	.quad 0x00cff2000000ffff	/* USER_DS: DPL 3 */
	.quad 0x00affa000000ffff	/* USER_CS: 64-bit code, DPL 3 */
	/* One 64-bit available TSS descriptor per CPU; flat.lds splits the base. */
	.set cpu, 0
	.rept MAX_CPUS
	.word 103			/* limit */
	.word tss_base_lo16 + cpu * TSS_STRIDE
	.byte tss_base_16_23
	.byte 0x89			/* present, DPL 0, 64-bit TSS (available) */
	.byte 0
	.byte tss_base_24_31
	.long 0				/* base 63:32 */
	.long 0
	.set cpu, cpu + 1
	.endr
gdt_end:

	.balign 8
	.globl gdt_desc, idt_desc
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt
	.balign 8
idt_desc:
	.word 256 * 16 - 1
	.quad idt

	.globl ap_boot_cpu
ap_boot_cpu:
	.long 0

	.balign 8
kstack_tops:
	.set cpu, 0
	.rept MAX_CPUS
	.quad kstacks + (cpu + 1) * KSTACK_SIZE
	.set cpu, cpu + 1
	.endr
ustack_tops:
	.set cpu, 0
	.rept MAX_CPUS
	.quad ustacks + (cpu + 1) * USTACK_SIZE
	.set cpu, cpu + 1
	.endr

/* IDT: interrupt gates to isr_table + 16 * vector; only the system-call
 * gate int $0x80 is DPL 3. */
	.balign 4096
	.globl idt
idt:
	.set vec, 0
	.rept 256
	.word isr_lo16 + vec * 16	/* offset 15:0 */
	.word KERNEL_CS
	.byte 0				/* IST */
	.if vec == VEC_SYSCALL
	.byte 0xee			/* present, DPL 3, 64-bit interrupt gate */
	.else
	.byte 0x8e			/* present, DPL 0, 64-bit interrupt gate */
	.endif
	.word isr_mid16			/* offset 31:16 */
	.long 0				/* offset 63:32 */
	.long 0
	.set vec, vec + 1
	.endr

/* TSSs: rsp0 = this CPU's ring-0 stack; the I/O map base past the limit
 * means "no bitmap", so IOPL=3 alone grants ring 3 all ports. */
	.balign 4096
	.globl tss_array
tss_array:
	.set cpu, 0
	.rept MAX_CPUS
	.long 0
	.quad kstacks + (cpu + 1) * KSTACK_SIZE	/* rsp0 */
	.fill 88, 1, 0
	.word 0
	.word 104			/* I/O map base */
	.fill TSS_STRIDE - 104, 1, 0
	.set cpu, cpu + 1
	.endr

/*
 * Identity map of the low 4 GiB with 2 MiB pages, user-accessible (ring 3
 * does the work, including MMIO to the LAPIC and IOAPIC).  The top GiB holds
 * MMIO (LAPIC, IOAPIC, the `mmio` scenario's address) and is mapped uncached.
 */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + (PTE_P | PTE_RW | PTE_US)
	.fill 511, 8, 0
pdpt:
	.quad pd + 0 * 4096 + (PTE_P | PTE_RW | PTE_US)
	.quad pd + 1 * 4096 + (PTE_P | PTE_RW | PTE_US)
	.quad pd + 2 * 4096 + (PTE_P | PTE_RW | PTE_US)
	.quad pd + 3 * 4096 + (PTE_P | PTE_RW | PTE_US)
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 1536
	.quad page * PAGE_2M + (PTE_P | PTE_RW | PTE_US | PTE_PS)
	.set page, page + 1
	.endr
	.rept 512
	.quad page * PAGE_2M + (PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_PWT | PTE_PCD)
	.set page, page + 1
	.endr

	.bss
	.balign 4096
	.globl kstacks, ustacks
kstacks:
	.fill MAX_CPUS * KSTACK_SIZE, 1, 0
ustacks:
	.fill MAX_CPUS * USTACK_SIZE, 1, 0
