/*
 * smp.c - start every AP with INIT-SIPI-SIPI and have each report in.
 *
 * The BSP does this from ring 3: it copies the real-mode trampoline below
 * 1 MiB and writes the LAPIC's ICR (both are in the user-accessible identity
 * map).  APs are started one at a time so each knows its index from
 * ap_boot_cpu; an AP runs the trampoline and the long-mode switch in ring 0,
 * then reports from ring 3 and parks in HLT.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "apic.h"
#include "clock.h"
#include "platform.h"
#include "scenario.h"

#define INIT_DELAY_NS (10 * NS_PER_MS)		/* MP spec: 10 ms after INIT */
#define SIPI_DELAY_NS (200 * 1000UL)		/* and 200 us after each SIPI */
#define AP_TIMEOUT_NS (2000 * NS_PER_MS)

extern char ap_trampoline[], ap_trampoline_end[];
extern volatile u32 ap_boot_cpu;
static volatile u32 ap_online[MAX_CPUS];	/* APIC ID + 1 once cpu n reported */

void ap_main(unsigned cpu)
{
	u32 id = lapic_id();
	printf("cpu %u online (apic id %u)\n", cpu, id);
	WRITE_ONCE(ap_online[cpu], id + 1);
	sys_halt_forever();
}

static bool wait_online(unsigned cpu, u64 ns)
{
	u64 deadline = clock_ns() + ns;
	while (!READ_ONCE(ap_online[cpu]))
		if (clock_ns() > deadline)
			return false;
		else
			pause();
	return true;
}

static bool start_ap(unsigned cpu, u32 apic_id)
{
	ap_boot_cpu = cpu;
	barrier();
	if (!lapic_send_ipi(apic_id, APIC_ICR_INIT | APIC_ICR_LEVEL_ASSERT | APIC_ICR_LEVEL_TRIGGER))
		return false;
	lapic_send_ipi(apic_id, APIC_ICR_INIT | APIC_ICR_LEVEL_TRIGGER);	/* de-assert */
	udelay_ns(INIT_DELAY_NS);
	for (int sipi = 0; sipi < 2; sipi++) {
		lapic_send_ipi(apic_id, APIC_ICR_STARTUP | TRAMPOLINE_SIPI_VECTOR);
		if (wait_online(cpu, SIPI_DELAY_NS))
			return true;
	}
	return wait_online(cpu, AP_TIMEOUT_NS);
}

int scenario_smp(int argc, const char *const *argv)
{
	size_t tsize = ap_trampoline_end - ap_trampoline;
	unsigned online = 1;
	u64 t0;
	(void)argc, (void)argv;
	printf("smp: %u cpus from the %s, bsp apic id %u\n", platform.cpus,
	       cpu_source_name(platform.cpu_source), platform.bsp_apic_id);
	if (platform.cpus_listed > platform.cpus)
		report_info("%u cpus listed; this guest starts at most %u", platform.cpus_listed,
			    MAX_CPUS);
	printf("cpu 0 online (apic id %u)\n", lapic_id());
	if (platform.cpus > 1) {
		if (!is_ram(TRAMPOLINE_ADDR, tsize)) {
			report(false, "trampoline address 0x%x is RAM", TRAMPOLINE_ADDR);
			return report_summary();
		}
		memcpy((void *)TRAMPOLINE_ADDR, ap_trampoline, tsize);
	}
	t0 = clock_ns();
	for (unsigned cpu = 1; cpu < platform.cpus; cpu++) {
		if (start_ap(cpu, platform.apic_ids[cpu]))
			online++;
		else
			printf("smp: cpu %u (apic id %u) did not come online\n", cpu,
			       platform.apic_ids[cpu]);
	}
	printf("smp: %u of %u cpus online in %lu us\n", online, platform.cpus,
	       (clock_ns() - t0) / 1000);
	report(online == platform.cpus, "all %u cpus online", platform.cpus);
	for (unsigned cpu = 1; cpu < platform.cpus; cpu++)
		if (ap_online[cpu])
			report(ap_online[cpu] - 1 == platform.apic_ids[cpu],
			       "cpu %u has the apic id of the table (%u)", cpu, platform.apic_ids[cpu]);
	return report_summary();
}
