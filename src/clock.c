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

int64_t clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int clock_format_wall(char *buf, size_t size, int64_t wall_ms, bool millis)
{
	int64_t ms = wall_ms % 1000;
	time_t secs = (time_t)((wall_ms - ms) / 1000);
	struct tm tm;
	int n;

	if (ms < 0) {                   /* before 1970: floor, not truncate */
		ms += 1000;
		secs -= 1;
	}
	if (size > 0)
		buf[0] = '\0';
	if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -1;
	if (millis)
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
	else
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return -1;
	}
	return 0;
}
