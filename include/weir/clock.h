/* clock: the monotonic time source of the whole tree.
 * Owns: the time source (monotonic and wall clock) and its test hook.
 *
 * Everything that measures or schedules reads time through clock_now_us(), so
 * tests can inject a fake clock with clock_set_source(). */
#ifndef WEIR_CLOCK_H
#define WEIR_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

/* Microseconds on CLOCK_MONOTONIC (or the injected source). */
uint64_t clock_now_us(void);

static inline uint64_t clock_now_ms(void)
{
	return clock_now_us() / 1000;
}

/* MS milliseconds as the struct timeval libevent's timers take. */
static inline struct timeval clock_ms_to_tv(uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	return tv;
}

/* Replace the source; NULL restores CLOCK_MONOTONIC. Not thread-safe: call it
 * before any thread reads the clock (tests only). */
void clock_set_source(uint64_t (*now_us)(void));

/* The wall clock (CLOCK_REALTIME), milliseconds since the epoch. For
 * timestamps people read, never for measuring. */
int64_t clock_wall_ms(void);

/* WALL_MS as "2026-11-23T12:00:00Z", or "2026-11-23T12:00:00.123Z" with
 * MILLIS, into BUF of SIZE bytes (25 always suffice). Returns 0, or -1
 * with BUF empty when the year has not four digits or SIZE is too small:
 * every timestamp weir writes has the same fixed shape. */
int clock_format_wall(char *buf, size_t size, int64_t wall_ms, bool millis);

#endif
