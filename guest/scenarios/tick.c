/*
 * tick.c - print "tick <n> <guest clock ns>" every 10 ms, sleeping in HLT
 * between ticks and woken by the LAPIC timer in one-shot mode.
 *
 * Deadlines are start + n * 10 ms, so the ticks don't drift; a wake-up
 * before the deadline (another interrupt) simply re-arms the timer.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "apic.h"
#include "clock.h"
#include "scenario.h"

#define TICK_NS (10 * NS_PER_MS)
#define NS_PER_US 1000UL

int scenario_tick(int argc, const char *const *argv)
{
	u64 count, ticks_per_us, start, late_max = 0;
	bool forever = argc < 1;
	if (!arg_u64(argc, argv, 0, 0, &count))
		return printf("tick: usage: tick [N]\n"), EXIT_USAGE;
	lapic_enable();
	ticks_per_us = lapic_timer_calibrate();
	if (!ticks_per_us) {
		report(false, "the LAPIC timer counts (calibration read 0 ticks/us)");
		return report_summary();
	}
	lapic_write(APIC_LVT_TIMER, VEC_TIMER);	/* one-shot, unmasked */
	start = clock_ns();
	for (u64 n = 0; forever || n < count; n++) {
		u64 deadline = start + n * TICK_NS, now;
		while ((now = clock_ns()) < deadline) {
			u64 seen = timer_irqs;
			u64 ticks = (deadline - now) * ticks_per_us / NS_PER_US;
			lapic_write(APIC_TMICT, (u32)MIN(MAX(ticks, 1UL), 0xffffffffUL));
			sys_halt_unless(&timer_irqs, seen);
		}
		late_max = MAX(late_max, now - deadline);
		printf("tick %lu %lu\n", n, now);
	}
	lapic_write(APIC_TMICT, 0);
	printf("tick: %lu ticks, LAPIC timer %lu ticks/us, %lu timer interrupts, "
	       "latest wake-up %lu us after its deadline\n",
	       count, ticks_per_us, (u64)timer_irqs, late_max / NS_PER_US);
	report(count < 2 || timer_irqs > 0, "woken by the LAPIC timer");
	return report_summary();
}
