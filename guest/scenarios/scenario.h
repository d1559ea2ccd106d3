/* scenario.h - one function per scenario, picked by the first word of the
 * command line; argc/argv are the remaining words.  Returns the exit status. */
#ifndef EMBER_SCENARIO_H
#define EMBER_SCENARIO_H
#include "libcflat.h"

struct scenario {
	const char *name;
	const char *usage;
	int (*run)(int argc, const char *const *argv);
};

int scenario_hello(int argc, const char *const *argv);
int scenario_exit(int argc, const char *const *argv);
int scenario_pio(int argc, const char *const *argv);
int scenario_memtouch(int argc, const char *const *argv);
int scenario_smp(int argc, const char *const *argv);
int scenario_hypercall(int argc, const char *const *argv);
int scenario_tick(int argc, const char *const *argv);
int scenario_triplefault(int argc, const char *const *argv);
int scenario_reset(int argc, const char *const *argv);
int scenario_rtc(int argc, const char *const *argv);
int scenario_echo(int argc, const char *const *argv);
int scenario_irqlevel(int argc, const char *const *argv);
int scenario_mmio(int argc, const char *const *argv);
int scenario_ud(int argc, const char *const *argv);

/* The AP side of `smp` (runs in ring 3 on each AP). */
void __noreturn ap_main(unsigned cpu);

/* Parse argv[i] as a number, or use dflt when absent; false on junk. */
bool arg_u64(int argc, const char *const *argv, int i, u64 dflt, u64 *out);
#endif
