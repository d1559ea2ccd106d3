/* report.c - kvm-unit-tests' reporting verbs: PASS/FAIL/SKIP lines and a
 * closing "SUMMARY: N tests, M unexpected failures". */
#include "libcflat.h"

static unsigned tests, failures, skipped;

static void vreport(const char *tag, const char *fmt, va_list ap)
{
	char msg[200];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	printf("%s: %s\n", tag, msg);
}

void report(bool pass, const char *fmt, ...)
{
	va_list ap;
	tests++;
	if (!pass)
		failures++;
	va_start(ap, fmt);
	vreport(pass ? "PASS" : "FAIL", fmt, ap);
	va_end(ap);
}

void report_skip(const char *fmt, ...)
{
	va_list ap;
	tests++;
	skipped++;
	va_start(ap, fmt);
	vreport("SKIP", fmt, ap);
	va_end(ap);
}

void report_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("INFO", fmt, ap);
	va_end(ap);
}

int report_summary(void)
{
	if (skipped)
		printf("SUMMARY: %u tests, %u unexpected failures, %u skipped\n", tests, failures,
		       skipped);
	else
		printf("SUMMARY: %u tests, %u unexpected failures\n", tests, failures);
	return failures ? EXIT_FAIL : EXIT_OK;
}
