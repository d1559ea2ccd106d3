/* apic.h - local APIC (xAPIC MMIO) and IOAPIC access.  The registers sit in
 * the user-accessible identity map, so ring 3 programs them directly; only
 * the EOI in the interrupt handlers is done from ring 0. */
#ifndef EMBER_APIC_H
#define EMBER_APIC_H
#include "libcflat.h"

#define LAPIC_DEFAULT_BASE 0xfee00000UL
#define IOAPIC_DEFAULT_BASE 0xfec00000UL

#define APIC_ID 0x20
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define APIC_TDCR 0x3e0

#define APIC_SVR_ENABLE 0x100
#define APIC_LVT_MASKED 0x10000
#define APIC_TDCR_DIV1 0xb
#define APIC_ICR_INIT 0x500
#define APIC_ICR_STARTUP 0x600
#define APIC_ICR_LEVEL_ASSERT 0x4000
#define APIC_ICR_LEVEL_TRIGGER 0x8000
#define APIC_ICR_BUSY 0x1000

extern u64 lapic_base, ioapic_base;

static inline u32 lapic_read(u32 reg) { return *(volatile u32 *)(lapic_base + reg); }
static inline void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(lapic_base + reg) = v; }
static inline void lapic_eoi(void) { lapic_write(APIC_EOI, 0); }
static inline u32 lapic_id(void) { return lapic_read(APIC_ID) >> 24; }

void lapic_enable(void);
u32 ioapic_read(u32 reg);
#define IOAPIC_TRIGGER_LEVEL 0x8000	/* redirection entry bit 15 */
#define IOAPIC_MASKED 0x10000		/* redirection entry bit 16 */
void ioapic_route(unsigned pin, unsigned vector, unsigned dest_apic_id, u32 flags);
bool lapic_send_ipi(u32 apic_id, u32 icr_lo);
#endif
