/* clock: the monotonic time source of the whole tree.
 *
 * Everything that measures or schedules reads time through clock_now_us(), so
 * tests can inject a fake clock with clock_set_source(). */
#ifndef WEIR_CLOCK_H
#define WEIR_CLOCK_H

#include <stdint.h>

/* Microseconds on CLOCK_MONOTONIC (or the injected source). */
uint64_t clock_now_us(void);

static inline uint64_t clock_now_ms(void)
{
	return clock_now_us() / 1000;
}

/* Replace the source; NULL restores CLOCK_MONOTONIC. Not thread-safe: call it
 * before any thread reads the clock (tests only). */
void clock_set_source(uint64_t (*now_us)(void));

/* Wall-clock time as "2026-11-23T12:00:00Z" (or with .mmm when MILLIS) into BUF. */
void clock_format_wall(char *buf, unsigned long size, int millis);

#endif
