/*
 * clock.c - kvmclock (pvclock) or a PIT-calibrated TSC, read from ring 3.
 *
 * Only the MSR write that registers the pvclock page needs ring 0 (one
 * system call); rdtsc and the pvclock page are read natively in ring 3.
 */
#include "libcflat.h"
#include "processor.h"
#include "desc.h"
#include "apic.h"
#include "clock.h"

#define KVM_CPUID_SIGNATURE 0x40000000
#define KVM_CPUID_FEATURES 0x40000001
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVM_SYSTEM_TIME_ENABLE 1

#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_CH0_MODE2 0x34	/* channel 0, lobyte/hibyte, mode 2 */
#define PIT_CH0_MODE0 0x30	/* channel 0, lobyte/hibyte, mode 0 */
#define PIT_LATCH_CH0 0x00
#define PIT_HZ 1193182UL
#define PIT_CALIBRATE_TICKS 47727	/* 40 ms */
#define PIT_POLL_LIMIT 100000
#define LAPIC_CALIBRATE_NS (2 * NS_PER_MS)

struct pvclock_vcpu_time_info {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	s8 tsc_shift;
	u8 flags;
	u8 pad[2];
} __attribute__((aligned(64)));

static struct pvclock_vcpu_time_info pvti;
enum clock_source clock_source;
u64 tsc_khz;
static u64 tsc_base;

/*
 * CPUID through ring 0: on this project's software KVM, ring-3 CPUID runs
 * natively and shows the host's CPUID, not the one the VMM set for the
 * guest, so the KVM leaves must be read from ring 0.
 */
bool kvm_signature(void)
{
	u32 r[4];
	sys_cpuid(KVM_CPUID_SIGNATURE, 0, r);
	return r[1] == 0x4b4d564b && r[2] == 0x564b4d56 && r[3] == 0x4d;	/* "KVMKVMKVM\0\0\0" */
}

u32 kvm_features(void)
{
	u32 r[4];
	if (!kvm_signature())
		return 0;
	sys_cpuid(KVM_CPUID_FEATURES, 0, r);
	return r[0];
}

static u64 pvclock_read(void)
{
	u32 version;
	u64 delta, ns;
	do {
		version = READ_ONCE(pvti.version);
		barrier();
		delta = rdtsc() - pvti.tsc_timestamp;
		if (pvti.tsc_shift >= 0)
			delta <<= pvti.tsc_shift;
		else
			delta >>= -pvti.tsc_shift;
		ns = pvti.system_time + (u64)(((unsigned __int128)delta * pvti.tsc_to_system_mul) >> 32);
		barrier();
	} while ((version & 1) || version != READ_ONCE(pvti.version));
	return ns;
}

static u16 pit_ch0_read(u64 *tsc)
{
	u64 t0 = rdtsc(), t1;
	u8 lo, hi;
	outb(PIT_CMD, PIT_LATCH_CH0);
	t1 = rdtsc();
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	*tsc = t0 + (t1 - t0) / 2;	/* the latch happened between t0 and t1 */
	return (u16)(hi << 8 | lo);
}

/*
 * TSC cycles per ms against PIT channel 0 counting down from 0xffff (mode
 * 2).  Channel 0 is used because its gate is always on: channel 2's gate
 * needs port 0x61, which QEMU's microvm does not have.  The counter is read
 * by latching; PIT_CALIBRATE_TICKS (~40 ms) keeps the error of the latch
 * timing (a port write, ~0.1-0.4 ms here) around 1%.
 */
static u64 calibrate_tsc_khz(void)
{
	u64 tsc0, tsc1;
	u16 c0, c1;
	unsigned polls = 0;
	outb(PIT_CMD, PIT_CH0_MODE2);
	outb(PIT_CH0, 0xff);
	outb(PIT_CH0, 0xff);
	c0 = pit_ch0_read(&tsc0);
	do {
		c1 = pit_ch0_read(&tsc1);
		if (++polls > PIT_POLL_LIMIT || c1 > c0)	/* stuck or wrapped */
			return 0;
	} while ((u16)(c0 - c1) < PIT_CALIBRATE_TICKS);
	/* Leave channel 0 in mode 0 (one interrupt, then silent) rather than
	 * as a rate generator raising IRQ 0 forever. */
	outb(PIT_CMD, PIT_CH0_MODE0);
	outb(PIT_CH0, 0xff);
	outb(PIT_CH0, 0xff);
	return (tsc1 - tsc0) * PIT_HZ / ((u64)(c0 - c1) * 1000);
}

void clock_init(void)
{
	if (kvm_features() & KVM_FEATURE_CLOCKSOURCE2) {
		sys_wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (u64)&pvti | KVM_SYSTEM_TIME_ENABLE);
		if (READ_ONCE(pvti.tsc_to_system_mul)) {
			clock_source = CLOCK_KVMCLOCK;
			return;
		}
	}
	tsc_khz = calibrate_tsc_khz();
	if (!tsc_khz) {
		printf("clock: PIT calibration failed; assuming a 1 GHz TSC\n");
		tsc_khz = 1000000;
	}
	tsc_base = rdtsc();
	clock_source = CLOCK_TSC_PIT;
}

u64 clock_ns(void)
{
	if (clock_source == CLOCK_KVMCLOCK)
		return pvclock_read();
	return (u64)(((unsigned __int128)(rdtsc() - tsc_base) * 1000000) / tsc_khz);
}

const char *clock_name(void)
{
	return clock_source == CLOCK_KVMCLOCK ? "kvmclock" : "tsc";
}

void udelay_ns(u64 ns)
{
	u64 end = clock_ns() + ns;
	while (clock_ns() < end)
		pause();
}

u64 lapic_timer_calibrate(void)
{
	u64 t0, t1;
	u32 left;
	lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	lapic_write(APIC_TDCR, APIC_TDCR_DIV1);
	lapic_write(APIC_TMICT, 0xffffffff);
	t0 = clock_ns();
	udelay_ns(LAPIC_CALIBRATE_NS);
	left = lapic_read(APIC_TMCCT);
	t1 = clock_ns();
	lapic_write(APIC_TMICT, 0);
	return (u64)(0xffffffffu - left) * 1000 / MAX(t1 - t0, 1UL);
}
