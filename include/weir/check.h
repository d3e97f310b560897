/* check: the pure half of active health checks (see health.h for the half
 * Owns: the rise/fall state of each checked server and the verdict on one check answer; no I/O.
 * that talks to servers): the rise/fall state machine of one server and the
 * `expect` status sets.
 *
 * Pure logic: no sockets, no clock, no allocation; the prober feeds it one
 * result at a time. */
#ifndef WEIR_CHECK_H
#define WEIR_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest check.path accepted, in bytes. */
#define CHECK_PATH_MAX 1024
/* The shortest check.interval: each server is checked that often. */
#define CHECK_INTERVAL_MIN_MS 100

/* A checked server's state. The value is what the prober publishes to the
 * workers as one atomic word per server (0 is also "no check configured"). */
enum check_state {
	CHECK_UNCHECKED = 0,  /* no decision yet: routed to, like before checks existed */
	CHECK_UP = 1,         /* passed `rise` checks in a row (or never failed `fall`) */
	CHECK_DOWN = 2,       /* failed `fall` checks in a row: gets no request */
	CHECK_STATE_COUNT
};

/* "unchecked", "up", "down". Static storage. */
const char *check_state_name(enum check_state s);

/* One server's streak counter. Plain data, zero is a valid start
 * (UNCHECKED, no streak). */
struct check_sm {
	enum check_state state;
	uint32_t streak;      /* results in a row that disagree with STATE (for UNCHECKED:
	                         passes when positive, see check_sm_result) */
	bool streak_ok;       /* the kind of result the streak counts */
};

/* Feed one check result. From UNCHECKED, RISE passes in a row make the
 * server UP and FALL failures in a row make it DOWN; an UP server goes DOWN
 * after FALL failures in a row, a DOWN one UP after RISE passes in a row; a
 * result of the other kind restarts the streak. RISE and FALL of 0 count
 * as 1. Returns true when the state changed. */
bool check_sm_result(struct check_sm *sm, bool ok, unsigned rise, unsigned fall);

/* Statuses 100..599 as a bitmap indexed by status (640 bits). */
#define CHECK_STATUS_WORDS 10

static inline bool check_status_in(const uint64_t bits[CHECK_STATUS_WORDS], int status)
{
	return status >= 100 && status < 600 && (bits[status / 64] >> (status % 64)) & 1u;
}

/* Add the statuses of TEXT to BITS: comma-separated items, each a class
 * "1xx".."5xx" (case-insensitive x) or a status 100..599, with spaces and
 * tabs around items ignored: "2xx", "200, 204", "2xx,301". Returns 0, or
 * -1 with a message in ERR (size ERRLEN) naming the bad item; BITS may then
 * be partly filled. */
int check_expect_parse(const char *text, uint64_t bits[CHECK_STATUS_WORDS], char *err,
                       size_t errlen);

/* Write BITS back as text ("2xx", "200,204", "2xx,301"), classes for whole
 * classes. Returns 0, or -1 when it did not fit in BUF. */
int check_expect_format(const uint64_t bits[CHECK_STATUS_WORDS], char *buf, size_t len);

#endif
