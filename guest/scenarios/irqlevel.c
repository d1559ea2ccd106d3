/*
 * irqlevel.c - a level-triggered IOAPIC pin and its EOI handshake.
 *
 * COM1's line (ISA IRQ 4) is routed level-triggered to VEC_UART_LEVEL.  Each
 * round enables the UART's transmitter-empty interrupt, which raises the line
 * at once (the transmitter is idle); the ring-0 handler turns it off again,
 * lowering the line, and sends the EOI.  While an IOAPIC pin's Remote IRR is
 * set it cannot fire again, and only the EOI clears it: so round n+1 only
 * completes if the IOAPIC saw round n's EOI.  With a user-space IOAPIC (KVM's
 * split irqchip) that EOI is a KVM_EXIT_IOAPIC_EOI the VMM must handle.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "apic.h"
#include "uart.h"
#include "platform.h"
#include "scenario.h"

#define IRQLEVEL_ROUNDS 20

int scenario_irqlevel(int argc, const char *const *argv)
{
	u64 rounds, done = 0;
	if (!arg_u64(argc, argv, 0, IRQLEVEL_ROUNDS, &rounds) || rounds == 0) {
		printf("irqlevel: usage: irqlevel [N > 0]\n");
		return EXIT_USAGE;
	}
	lapic_enable();
	lapic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	ioapic_route(platform.uart_ioapic_pin, VEC_UART_LEVEL, platform.bsp_apic_id, IOAPIC_TRIGGER_LEVEL);
	/* Halt for each interrupt rather than spin: on this project's
	 * software KVM an interrupt that becomes pending during a system call
	 * reaches ring 3 only at the next exit.  A lost EOI therefore hangs the
	 * guest, and the VMM's --timeout ends the run. */
	for (; done < rounds; done++) {
		outb(COM1 + UART_IER, UART_IER_THRE);
		sys_halt_unless(&uart_level_irqs, done);
		if (uart_level_irqs != done + 1)
			break;
	}
	outb(COM1 + UART_IER, 0);
	ioapic_route(platform.uart_ioapic_pin, VEC_UART_LEVEL, platform.bsp_apic_id,
		     IOAPIC_TRIGGER_LEVEL | IOAPIC_MASKED);
	printf("irqlevel: %lu of %lu rounds, %lu level-triggered interrupts\n", done, rounds,
	       (u64)uart_level_irqs);
	report(done == rounds, "each round's interrupt came after the previous round's EOI");
	report(uart_level_irqs == rounds, "one interrupt per round (the line was low at every EOI)");
	return report_summary();
}
