/*
 * io.c - console output on the 16550A UART at 0x3f8 and the exit path
 * through the debug-exit port 0xf4.
 *
 * Every port access is a VM exit (~30 us here), so the transmitter is fed
 * in bursts: one LSR read, then up to a FIFO's worth (16 bytes) of THR
 * writes.  Lines are written whole under a lock so CPUs don't interleave.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "uart.h"

#define DEBUG_EXIT_PORT 0xf4
#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1
#define PIC_MASK_ALL 0xff
#define SERIAL_SPIN_LIMIT 10000	/* LSR polls (~0.2 s of exits) before output is dropped */

static volatile u32 console_lock;


/*
 * Boot-time port set-up, in one system call: mask the legacy PIC (a KVM PIC
 * that nobody initialised would deliver ISA IRQs through LINT0 as vectors
 * 0-7, i.e. as CPU exceptions) and initialise the UART.
 */
void uart_init(void)
{
	static const struct port_write init[] = {
		{ PIC1_DATA, PIC_MASK_ALL },
		{ PIC2_DATA, PIC_MASK_ALL },
		{ COM1 + UART_IER, 0 },
		{ COM1 + UART_LCR, UART_LCR_DLAB },
		{ COM1 + UART_DLL, 1 },		/* 115200 baud */
		{ COM1 + UART_DLM, 0 },
		{ COM1 + UART_LCR, UART_LCR_8N1 },
		{ COM1 + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX },
		{ COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2 },
	};
	outb_list(init, ARRAY_SIZE(init));
}

bool direct_io;

size_t uart_write_raw(u16 base, const char *s, size_t n)
{
	size_t done = 0;
	while (done < n) {
		size_t chunk = MIN(n - done, (size_t)UART_FIFO_SIZE);
		unsigned spins = 0;
		while (!(raw_inb(base + UART_LSR) & UART_LSR_THRE))
			if (++spins > SERIAL_SPIN_LIMIT)
				return done;
		for (; chunk; chunk--)
			raw_outb(base + UART_THR, (u8)s[done++]);
	}
	return done;
}

static void uart_write(const char *s, size_t n)
{
	if (io_direct())
		uart_write_raw(COM1, s, n);
	else
		syscall5(SYS_UART_WRITE, COM1, (u64)s, n, 0, 0);
}

void puts_raw(const char *s, size_t n)
{
	/* Ring 0 prints only when reporting a fatal exception; it may have
	 * interrupted the lock holder on this CPU, so it does not take the lock. */
	bool locked = cpl() != 0;
	if (locked)
		while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
			pause();
	uart_write(s, n);
	if (locked)
		__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void exit(int status)
{
	outb(DEBUG_EXIT_PORT, (u8)status);
	/* Still here: the VMM has no debug-exit device.  Say so and park. */
	printf("--- DONE --- (exit status %d; no debug-exit device at port 0x%x)\n", status,
	       DEBUG_EXIT_PORT);
	if (cpl() == 0)
		for (;;)
			asm volatile("cli; hlt");
	sys_halt_forever();
}
