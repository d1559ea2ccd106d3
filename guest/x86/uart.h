/* uart.h - 16550A registers (COM1). */
#ifndef EMBER_UART_H
#define EMBER_UART_H
#define COM1 0x3f8
#define COM1_IRQ 4
#define UART_THR 0
#define UART_RBR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_IER_RDA 0x01
#define UART_IER_THRE 0x02
#define UART_LCR_8N1 0x03
#define UART_LCR_DLAB 0x80
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT2 0x08
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_FIFO_SIZE 16
void uart_init(void);
/* Ring 0 or direct-I/O ring 3: the LSR/THR burst loop; returns bytes written. */
unsigned long uart_write_raw(unsigned short base, const char *s, unsigned long n);
#endif
