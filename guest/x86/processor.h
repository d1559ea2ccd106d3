/* processor.h - x86 instructions as inline functions, usable from any ring
 * unless the comment says "ring 0".  Ring 3 runs with IOPL=3, so in/out and
 * cli/sti work there too. */
#ifndef EMBER_PROCESSOR_H
#define EMBER_PROCESSOR_H
#include "libcflat.h"

static inline void raw_outb(u16 port, u8 v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 raw_inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline unsigned cpl(void)
{
	u16 cs;
	asm volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

static inline u64 read_rflags(void)
{
	u64 f;
	asm volatile("pushfq; popq %0" : "=r"(f));
	return f;
}
#define RFLAGS_IOPL3 0x3000

/*
 * Port I/O.  Ring 3 runs with IOPL=3, but a KVM may not honour it for
 * natively-run user code (this project's software KVM forces IOPL to 0);
 * user_start() checks what ring 3 really got and sets direct_io.  Without
 * it, each access is a system call and ring 0 does the in/out.
 */
extern bool direct_io;
u8 sys_inb(u16 port);
void sys_outb(u16 port, u8 v);
static inline bool io_direct(void) { return direct_io || cpl() == 0; }
static inline void outb(u16 port, u8 v)
{
	if (io_direct())
		raw_outb(port, v);
	else
		sys_outb(port, v);
}
/* A sequence of port writes done in one system call when ring 3 has no
 * port access (a system call costs far more than the writes here). */
struct port_write {
	u16 port;
	u8 value;
};
void outb_list(const struct port_write *w, size_t n);
static inline u8 inb(u16 port) { return io_direct() ? raw_inb(port) : sys_inb(port); }
static inline void pause(void) { asm volatile("pause" ::: "memory"); }

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

struct cpuid { u32 a, b, c, d; };
static inline struct cpuid cpuid(u32 leaf, u32 sub)
{
	struct cpuid r;
	asm volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
	return r;
}

static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }
static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)addr = v; }

/* Ring 0 only. */
static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	asm volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
#endif
