/* pending.c - scenarios not written yet. */
#include "libcflat.h"
#include "scenario.h"
#define PENDING(fn, nm) int fn(int argc, const char *const *argv) { (void)argc, (void)argv; printf("%s: not implemented yet\n", nm); return EXIT_FAIL; }
PENDING(scenario_smp, "smp")
PENDING(scenario_hypercall, "hypercall")
PENDING(scenario_tick, "tick")
PENDING(scenario_rtc, "rtc")
PENDING(scenario_echo, "echo")
void ap_main(unsigned cpu) { (void)cpu; for (;;) ; }
#include "processor.h"
#include "desc.h"
int scenario_diag(int argc, const char *const *argv)
{
	u32 r0[4];
	struct cpuid r3;
	u64 t3a, t0, t3b;
	(void)argc, (void)argv;
	printf("rflags %lx direct_io %d\n", read_rflags(), direct_io);
	for (u32 leaf = 0x40000000; leaf <= 0x40000001; leaf++) {
		r3 = cpuid(leaf, 0);
		sys_cpuid(leaf, 0, r0);
		printf("cpuid %x ring3 %x %x %x %x ring0 %x %x %x %x\n", leaf, r3.a, r3.b, r3.c, r3.d, r0[0], r0[1], r0[2], r0[3]);
	}
	r3 = cpuid(1, 0);
	sys_cpuid(1, 0, r0);
	printf("cpuid 1 ring3 %x %x %x %x ring0 %x %x %x %x\n", r3.a, r3.b, r3.c, r3.d, r0[0], r0[1], r0[2], r0[3]);
	t3a = rdtsc(); t0 = syscall0(SYS_RDTSC); t3b = rdtsc();
	printf("tsc ring3 %lx ring0 %lx ring3 %lx\n", t3a, t0, t3b);
	return 0;
}
