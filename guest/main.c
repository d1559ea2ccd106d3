/*
 * main.c - ring-3 entry of ember's test guest and the scenario table.
 *
 * cstart64.S drops every CPU to ring 3 at user_start(arg, cpu): the BSP
 * (cpu 0) with the PVH start info, each AP with arg 0.
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/desc.h"
#include "x86/uart.h"
#include "x86/clock.h"
#include "x86/platform.h"
#include "scenarios/scenario.h"

static const struct scenario scenarios[] = {
	{ "hello", "", scenario_hello },
	{ "exit", "N", scenario_exit },
	{ "pio", "[N]", scenario_pio },
	{ "memtouch", "[MiB]", scenario_memtouch },
	{ "smp", "", scenario_smp },
	{ "hypercall", "", scenario_hypercall },
	{ "tick", "[N]", scenario_tick },
	{ "triplefault", "", scenario_triplefault },
	{ "reset", "", scenario_reset },
	{ "rtc", "", scenario_rtc },
	{ "echo", "", scenario_echo },
	{ "irqlevel", "[N]", scenario_irqlevel },
	{ "mmio", "", scenario_mmio },
	{ "ud", "", scenario_ud },
};

bool arg_u64(int argc, const char *const *argv, int i, u64 dflt, u64 *out)
{
	if (i >= argc) {
		*out = dflt;
		return true;
	}
	return parse_u64(argv[i], out);
}

static void list_scenarios(void)
{
	printf("scenarios:");
	for (unsigned i = 0; i < ARRAY_SIZE(scenarios); i++)
		printf(" %s%s%s", scenarios[i].name, scenarios[i].usage[0] ? " " : "",
		       scenarios[i].usage);
	printf("\n");
}

void __noreturn user_start(u64 arg, u64 cpu);
void __noreturn user_start(u64 arg, u64 cpu)
{
	const char *name;
	if (cpu != 0)
		ap_main((unsigned)cpu);
	/* Did the IOPL=3 that cstart64.S asked for reach ring 3? */
	direct_io = (read_rflags() & RFLAGS_IOPL3) == RFLAGS_IOPL3;
#ifdef EMBER_FORCE_SYSCALL_IO
	direct_io = false;	/* to measure the system-call I/O path under TCG */
#endif
	uart_init();
	if (!platform_init((const struct hvm_start_info *)arg))
		exit(EXIT_FAIL);
	clock_init();
	name = platform.argc ? platform.argv[0] : "";
	for (unsigned i = 0; i < ARRAY_SIZE(scenarios); i++)
		if (!strcmp(name, scenarios[i].name))
			exit(scenarios[i].run(platform.argc - 1, platform.argv + 1));
	printf("unknown scenario '%s'\n", name);
	list_scenarios();
	exit(EXIT_USAGE);
}
