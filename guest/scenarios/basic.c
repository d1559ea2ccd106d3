/* basic.c - the short scenarios: hello, exit, pio, memtouch, mmio, ud,
 * triplefault and reset. */
#include "libcflat.h"
#include "../x86/processor.h"
#include "../x86/desc.h"
#include "../x86/clock.h"
#include "../x86/platform.h"
#include "../x86/apic.h"
#include "scenario.h"

#define PIO_PORT 0x80
#define PIO_DEFAULT 1000
#define SYSCALL_ROUND_TRIPS 100
#define MEMTOUCH_DEFAULT_MIB 16
#define PAGE_SIZE 4096
#define MEMTOUCH_PATTERN 0x5a5aa5a5c3c33c3cUL
#define MMIO_PROBE_ADDR 0xd0000000UL
#define MMIO_PROBE_VALUE 0x12345678u
#define MMIO_ALL_ONES 0xffffffffu
#define I8042_CMD 0x64
#define I8042_RESET 0xfe
#define RESET_WAIT_NS (1000 * NS_PER_MS)

static int usage(const char *name, const char *msg)
{
	printf("%s: %s\n", name, msg);
	return EXIT_USAGE;
}

int scenario_hello(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	printf("hello from ember test guest: %u cpus (%s), %lu MiB RAM, clock %s, "
	       "cmdline '%s'\n",
	       platform.cpus, cpu_source_name(platform.cpu_source), platform.ram_bytes / MiB,
	       clock_name(), platform.cmdline);
	if (platform.cpus_listed > platform.cpus)
		report_info("the %s lists %u cpus; this guest uses the first %u",
			    cpu_source_name(platform.cpu_source), platform.cpus_listed, platform.cpus);
	report_info("guest clock at the greeting: %lu us", clock_ns() / 1000);
	report_info("start info v%u at 0x%lx, rsdp_paddr 0x%lx, lapic 0x%lx, ioapic 0x%lx",
		    platform.start_info_version, platform.start_info, platform.rsdp, lapic_base,
		    ioapic_base);
	report(platform.start_info_version >= 1, "start info version %u",
	       platform.start_info_version);
	report(platform.memmap_entries > 0 && platform.ram_bytes > 0,
	       "memory map: %u entries", platform.memmap_entries);
	report(is_ram((u64)_image_start, (u64)_end - (u64)_image_start),
	       "guest image [%p, %p) is in RAM", _image_start, _end);
	report(platform.cpus >= 1, "cpu count %u", platform.cpus);
	return report_summary();
}

int scenario_exit(int argc, const char *const *argv)
{
	u64 status;
	if (argc < 1 || !parse_u64(argv[0], &status) || status > 255)
		return usage("exit", "usage: exit N (0..255)");
	return (int)status;
}

int scenario_pio(int argc, const char *const *argv)
{
	u64 n, t0, t1;
	if (!arg_u64(argc, argv, 0, PIO_DEFAULT, &n) || n == 0)
		return usage("pio", "usage: pio [N > 0]");
	/* With IOPL 3 honoured, ring 3 does the outb itself.  Otherwise one
	 * system call runs the N outb in a tight ring-0 loop, so each exit's
	 * cost is not buried under a system call's. */
	t0 = clock_ns();
	if (direct_io)
		for (u64 i = 0; i < n; i++)
			raw_outb(PIO_PORT, (u8)i);
	else
		syscall5(SYS_OUTB_REPEAT, PIO_PORT, 0, n, 0, 0);
	t1 = clock_ns();
	printf("pio: %lu exits in %lu ns (%lu ns/exit)\n", n, t1 - t0, (t1 - t0) / n);
	report_info("outb issued from %s", direct_io ? "ring 3 (IOPL 3)" :
		    "a ring-0 loop entered by one system call (ring 3 has no port access here)");
	report(t1 > t0, "%s advanced across the writes", clock_name());
	t0 = clock_ns();
	for (u64 i = 0; i < SYSCALL_ROUND_TRIPS; i++)
		syscall0(SYS_RDTSC);
	t1 = clock_ns();
	printf("pio: system call round trip %lu ns (%u calls)\n", (t1 - t0) / SYSCALL_ROUND_TRIPS,
	       SYSCALL_ROUND_TRIPS);
	return report_summary();
}

int scenario_memtouch(int argc, const char *const *argv)
{
	u64 mib, start, end, bad = 0, t0, t1, t2;
	if (!arg_u64(argc, argv, 0, MEMTOUCH_DEFAULT_MIB, &mib) || mib == 0)
		return usage("memtouch", "usage: memtouch [MiB > 0]");
	if (!free_ram(&start, &end) || mib > (end - start) / MiB) {
		printf("memtouch: %lu MiB requested but only %lu MiB of RAM is free\n", mib,
		       free_ram(&start, &end) ? (end - start) / MiB : 0);
		report(false, "memtouch %lu MiB fits in free RAM", mib);
		return report_summary();
	}
	end = start + mib * MiB;
	t0 = clock_ns();
	for (u64 p = start; p < end; p += PAGE_SIZE)
		*(volatile u64 *)p = p ^ MEMTOUCH_PATTERN;
	t1 = clock_ns();
	for (u64 p = start; p < end; p += PAGE_SIZE)
		if (*(volatile u64 *)p != (p ^ MEMTOUCH_PATTERN))
			bad++;
	t2 = clock_ns();
	if (!bad)
		printf("memtouch: %lu MiB ok\n", mib);
	report_info("written in %lu us, verified in %lu us", (t1 - t0) / 1000, (t2 - t1) / 1000);
	report(bad == 0, "%lu pages at [0x%lx, 0x%lx) written and verified (%lu bad)",
	       (end - start) / PAGE_SIZE, start, end, bad);
	return report_summary();
}

int scenario_mmio(int argc, const char *const *argv)
{
	u32 first, second, after;
	(void)argc, (void)argv;
	first = mmio_read32(MMIO_PROBE_ADDR);
	second = mmio_read32(MMIO_PROBE_ADDR);
	mmio_write32(MMIO_PROBE_ADDR, MMIO_PROBE_VALUE);
	after = mmio_read32(MMIO_PROBE_ADDR);
	printf("mmio: read 0x%08x, 0x%08x at 0x%lx; after writing 0x%08x read 0x%08x\n",
	       first, second, MMIO_PROBE_ADDR, MMIO_PROBE_VALUE, after);
	if (first == MMIO_ALL_ONES)
		report_info("unassigned MMIO reads as all-ones");
	else
		report_info("unassigned MMIO reads as 0x%08x, not all-ones", first);
	report(first == second, "repeated reads agree");
	report(after == first, "the write was discarded");
	return report_summary();
}

int scenario_ud(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	printf("ud: executing ud2 in ring 3\n");
	asm volatile("ud2");
	printf("ud: ud2 did not fault\n");
	return EXIT_FAIL;
}

int scenario_triplefault(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	printf("triplefault: loading an empty IDT and raising #UD\n");
	syscall0(SYS_TRIPLE_FAULT);
	printf("triplefault: still running\n");
	return EXIT_FAIL;
}

int scenario_reset(int argc, const char *const *argv)
{
	u64 deadline;
	(void)argc, (void)argv;
	printf("reset: pulsing the reset line through the i8042 (0x%x to port 0x%x)\n",
	       I8042_RESET, I8042_CMD);
	outb(I8042_CMD, I8042_RESET);
	deadline = clock_ns() + RESET_WAIT_NS;
	while (clock_ns() < deadline)
		pause();
	printf("reset: still running %lu ms after the reset request\n", RESET_WAIT_NS / NS_PER_MS);
	return EXIT_FAIL;
}
