/* split: which pool a request goes to, and which server inside a pool.
 *
 * Pure logic: no sockets, no clock of its own, no allocation. The data path
 * calls it once per request with the weight snapshot it loaded atomically. */
#ifndef WEIR_SPLIT_H
#define WEIR_SPLIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/check.h"
#include "weir/config-t.h"

/* A small, fast per-worker pseudo-random generator (not for secrets):
 * splitmix64, a Weyl sequence of period 2^64 through a 64-bit mixer. */
struct split_rng {
	uint64_t state;
};

/* Seed RNG; distinct seeds give independent streams (the seed is mixed, so
 * nearby seeds start at unrelated points of the period and their streams do
 * not overlap in any realistic run). */
void split_rng_seed(struct split_rng *rng, uint64_t seed);
uint64_t split_rng_next(struct split_rng *rng);

/* Uniform bucket in [0, WEIGHT_SCALE) from one draw, by multiply-high of the
 * top 32 bits (no modulo): every bucket's probability is within 2.4e-6
 * (relative) of 1/WEIGHT_SCALE. */
uint32_t split_rng_bucket(struct split_rng *rng);

/* Bucket in [0, WEIGHT_SCALE) for a sticky key; the same key always gives the
 * same bucket (stable across restarts and builds: no random seed). The hash
 * is FNV-1a 64 of the LEN bytes, then the splitmix64 finalizer, mapped like
 * split_rng_bucket; test_split pins a few values, since changing it would
 * move users between pools on upgrade. KEY may be NULL when LEN is 0. */
uint32_t split_key_bucket(const char *key, size_t len);

/* The pool for BUCKET at CANARY_WEIGHT (hundredths of a percent): canary when
 * bucket < canary_weight. Raising the weight therefore only ever moves buckets
 * from baseline to canary. */
static inline enum pool_id split_pool_for_bucket(uint32_t bucket, uint32_t canary_weight)
{
	return bucket < canary_weight ? POOL_CANARY : POOL_BASELINE;
}

/* Parse an override header value: "baseline" or "canary" (case-insensitive,
 * surrounding spaces and tabs ignored). Returns the pool, or -1 when it is
 * neither (or VALUE is NULL). */
int split_parse_override(const char *value, size_t len);

/* Find cookie NAME in a Cookie header VALUE ("a=1; b=2"). On success points
 * OUT and OUTLEN into VALUE and returns true (OUT and OUTLEN may be NULL).
 * Pairs are split on ';' (RFC 6265), with spaces and tabs around names and
 * values ignored; the name must match exactly and case-sensitively ("xuid=1"
 * does not match "uid"); the first matching pair wins; a quoted value is
 * returned without its DQUOTEs. An empty value ("uid=") is found with
 * *OUTLEN 0: callers wanting a sticky key should treat it as absent. */
bool split_find_cookie(const char *value, size_t len, const char *name,
                       const char **out, size_t *outlen);

/* ---- server choice inside a pool ---------------------------------------- */

/* What the balancer needs to know of one server. */
struct split_server_view {
	uint64_t down_until_ms;       /* skipped while now_ms < down_until_ms */
	uint32_t active;              /* requests in flight (least_conn) */
	const _Atomic uint32_t *health; /* the health checks' published state (an enum
	                                   check_state), NULL when not checked; a
	                                   CHECK_DOWN server is never picked */
};

/* True when the health checks have S down (relaxed load: the word is the
 * whole state, nothing else is read through it). */
static inline bool split_server_check_down(const struct split_server_view *s)
{
	return s->health != NULL &&
	       atomic_load_explicit(s->health, memory_order_relaxed) == CHECK_DOWN;
}

/* True when S may be picked now: not down by its health check and not in a
 * connection back-off. */
static inline bool split_server_available(const struct split_server_view *s, uint64_t now_ms)
{
	return now_ms >= s->down_until_ms && !split_server_check_down(s);
}

/* Pick a server index among N by BALANCE, skipping servers that are down
 * (split_server_available: a backed-off server is up again once
 * now_ms >= down_until_ms; a checked one when its check says so).
 *  - round_robin: the first up server at or after *CURSOR; down servers are
 *    skipped without taking a turn.
 *  - least_conn: the up server with the fewest active requests; ties go to
 *    the first at or after *CURSOR, so equally idle servers take turns.
 * *CURSOR (any value; taken modulo N) is then set just past the pick. When
 * every server is down, returns the one whose back-off ends first (ties in
 * cursor order) among those not down by their health check: a request is
 * never moved to the other pool. Returns -1 when n == 0 or every server is
 * down by its health check (cursor untouched). */
int split_pick_server(enum balance balance, const struct split_server_view *servers, size_t n,
                      uint32_t *cursor, uint64_t now_ms);

#endif
