/*
 * echo.c - echo serial input until 'q', woken by the UART's receive
 * interrupt: IER.RDA on the 16550A, ISA IRQ 4 routed by the IOAPIC to
 * VEC_UART on the BSP, the legacy PIC masked.  Exercises the VMM's
 * in-kernel irqchip and its UART interrupt line.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "apic.h"
#include "uart.h"
#include "platform.h"
#include "scenario.h"

#define ECHO_QUIT 'q'

int scenario_echo(int argc, const char *const *argv)
{
	unsigned received = 0;
	(void)argc, (void)argv;
	lapic_enable();
	lapic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	ioapic_route(platform.uart_ioapic_pin, VEC_UART, platform.bsp_apic_id, 0);
	outb(COM1 + UART_IER, UART_IER_RDA);
	printf("echo: ready (IRQ %u -> IOAPIC pin %u -> vector 0x%x); type, 'q' quits\n",
	       COM1_IRQ, platform.uart_ioapic_pin, VEC_UART);
	/* Drain only after an interrupt said there is input: the first wait
	 * also covers input typed before IER was set (setting IER.RDA with
	 * data waiting raises the line), so every run proves the IRQ path. */
	for (u64 seen = 0;;) {
		sys_halt_unless(&uart_irqs, seen);
		seen = uart_irqs;
		while (inb(COM1 + UART_LSR) & UART_LSR_DR) {
			char c = (char)inb(COM1 + UART_RBR);
			received++;
			puts_raw(&c, 1);
			if (c == ECHO_QUIT)
				goto done;
		}
	}
done:
	outb(COM1 + UART_IER, 0);
	printf("\necho: %u bytes echoed, %lu uart interrupts\n", received, (u64)uart_irqs);
	report(uart_irqs > 0, "input arrived through the UART interrupt");
	return report_summary();
}
