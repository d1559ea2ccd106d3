/* clock.h - the guest clock in nanoseconds: kvmclock when the KVM
 * signature and KVM_FEATURE_CLOCKSOURCE2 are present, else the TSC
 * calibrated against PIT channel 2. */
#ifndef EMBER_CLOCK_H
#define EMBER_CLOCK_H
#include "libcflat.h"
enum clock_source { CLOCK_NONE, CLOCK_KVMCLOCK, CLOCK_TSC_PIT };
extern enum clock_source clock_source;
extern u64 tsc_khz;
bool kvm_signature(void);
u32 kvm_features(void);
void clock_init(void);
u64 clock_ns(void);
const char *clock_name(void);
void udelay_ns(u64 ns);
/* LAPIC timer ticks per microsecond, measured against clock_ns(). */
u64 lapic_timer_calibrate(void);
#endif
