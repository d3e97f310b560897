/* clock: monotonic time with an injectable source (see clock.h). */
#include "weir/clock.h"

#include <stdio.h>
#include <time.h>

static uint64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t (*clock_source)(void) = monotonic_us;

uint64_t clock_now_us(void)
{
	return clock_source();
}

void clock_set_source(uint64_t (*now_us)(void))
{
	clock_source = now_us ? now_us : monotonic_us;
}

void clock_format_wall(char *buf, unsigned long size, int millis)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (millis)
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		         ts.tv_nsec / 1000000);
	else
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
