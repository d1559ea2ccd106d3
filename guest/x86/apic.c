/* apic.c - LAPIC enable, IPIs and IOAPIC redirection (ring 3). */
#include "libcflat.h"
#include "processor.h"
#include "apic.h"

u64 lapic_base = LAPIC_DEFAULT_BASE;
u64 ioapic_base = IOAPIC_DEFAULT_BASE;

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))
#define ICR_BUSY_POLLS 100000

void lapic_enable(void)
{
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | 0xff);
	lapic_write(APIC_TPR, 0);
}

bool lapic_send_ipi(u32 apic_id, u32 icr_lo)
{
	unsigned polls = 0;
	lapic_write(APIC_ICR_HI, apic_id << 24);
	lapic_write(APIC_ICR_LO, icr_lo);
	while (lapic_read(APIC_ICR_LO) & APIC_ICR_BUSY)
		if (++polls > ICR_BUSY_POLLS)
			return false;
	return true;
}

static void ioapic_write(u32 reg, u32 v)
{
	mmio_write32(ioapic_base + IOAPIC_REGSEL, reg);
	mmio_write32(ioapic_base + IOAPIC_WIN, v);
}

u32 ioapic_read(u32 reg)
{
	mmio_write32(ioapic_base + IOAPIC_REGSEL, reg);
	return mmio_read32(ioapic_base + IOAPIC_WIN);
}

/* Edge-triggered, active-high, fixed delivery, physical destination: how
 * ISA IRQs are wired to the IOAPIC. */
void ioapic_route(unsigned pin, unsigned vector, unsigned dest_apic_id, u32 flags)
{
	ioapic_write(IOAPIC_REDTBL(pin) + 1, dest_apic_id << 24);
	ioapic_write(IOAPIC_REDTBL(pin), vector | flags);
}
