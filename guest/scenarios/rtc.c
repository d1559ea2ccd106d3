/*
 * rtc.c - read the CMOS real-time clock (ports 0x70/0x71).
 *
 * Waits for the update-in-progress flag to clear, reads the time twice until
 * two reads agree (an update may land between registers), and converts from
 * BCD and 12-hour mode as status register B says.
 */
#include "libcflat.h"
#include "processor.h"
#include "clock.h"
#include "scenario.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_NMI_DISABLE 0x80
#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_CENTURY 0x32	/* the ACPI FADT's usual century register */
#define RTC_UIP 0x80
#define RTC_B_24H 0x02
#define RTC_B_BINARY 0x04
#define RTC_PM 0x80
#define RTC_TRIES 10
#define UIP_WAIT_NS (20 * NS_PER_MS)

struct rtc_time {
	unsigned year, month, day, hour, minute, second;
};

static u8 cmos_read(u8 reg)
{
	outb(CMOS_INDEX, CMOS_NMI_DISABLE | reg);
	return inb(CMOS_DATA);
}

static unsigned bcd(u8 v, bool binary) { return binary ? v : (v >> 4) * 10 + (v & 0xf); }

static bool wait_not_updating(void)
{
	u64 deadline = clock_ns() + UIP_WAIT_NS;
	while (cmos_read(RTC_STATUS_A) & RTC_UIP)
		if (clock_ns() > deadline)
			return false;
	return true;
}

static void read_raw(u8 r[7])
{
	r[0] = cmos_read(RTC_SECONDS);
	r[1] = cmos_read(RTC_MINUTES);
	r[2] = cmos_read(RTC_HOURS);
	r[3] = cmos_read(RTC_DAY);
	r[4] = cmos_read(RTC_MONTH);
	r[5] = cmos_read(RTC_YEAR);
	r[6] = cmos_read(RTC_CENTURY);
}

int scenario_rtc(int argc, const char *const *argv)
{
	u8 a[7], b[7], status_b;
	bool binary, stable = false;
	unsigned century, hour;
	struct rtc_time t;
	(void)argc, (void)argv;
	for (int i = 0; i < RTC_TRIES && !stable; i++) {
		if (!wait_not_updating())
			continue;
		read_raw(a);
		if (!wait_not_updating())
			continue;
		read_raw(b);
		stable = !memcmp(a, b, sizeof(a));
	}
	status_b = cmos_read(RTC_STATUS_B);
	binary = status_b & RTC_B_BINARY;
	hour = bcd(a[2] & ~RTC_PM, binary);
	if (!(status_b & RTC_B_24H)) {
		hour %= 12;
		if (a[2] & RTC_PM)
			hour += 12;
	}
	century = bcd(a[6], binary);
	if (century < 19 || century > 30)
		century = 20;	/* no century register */
	t = (struct rtc_time){ century * 100 + bcd(a[5], binary), bcd(a[4], binary),
			       bcd(a[3], binary), hour, bcd(a[1], binary), bcd(a[0], binary) };
	printf("rtc: %04u-%02u-%02u %02u:%02u:%02u\n", t.year, t.month, t.day, t.hour, t.minute,
	       t.second);
	report_info("status B 0x%02x: %s, %s", status_b, binary ? "binary" : "BCD",
		    status_b & RTC_B_24H ? "24-hour" : "12-hour");
	report(stable, "two consecutive reads agree");
	report(t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= 31 && t.hour < 24 &&
		       t.minute < 60 && t.second < 60,
	       "the date and time are in range");
	return report_summary();
}
