/* split: which pool a request goes to, and which server inside a pool.
 *
 * Pure logic: no sockets, no clock of its own, no allocation. The data path
 * calls it once per request with the weight snapshot it loaded atomically. */
#ifndef WEIR_SPLIT_H
#define WEIR_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"

/* A small, fast per-worker pseudo-random generator (not for secrets). */
struct split_rng {
	uint64_t state;
};

/* Seed RNG; distinct seeds give independent streams. */
void split_rng_seed(struct split_rng *rng, uint64_t seed);
uint64_t split_rng_next(struct split_rng *rng);

/* Uniform bucket in [0, WEIGHT_SCALE) from one draw. */
uint32_t split_rng_bucket(struct split_rng *rng);

/* Bucket in [0, WEIGHT_SCALE) for a sticky key; the same key always gives the
 * same bucket (stable across restarts and builds: no random seed). */
uint32_t split_key_bucket(const char *key, size_t len);

/* The pool for BUCKET at CANARY_WEIGHT (hundredths of a percent): canary when
 * bucket < canary_weight. Raising the weight therefore only ever moves buckets
 * from baseline to canary. */
static inline enum pool_id split_pool_for_bucket(uint32_t bucket, uint32_t canary_weight)
{
	return bucket < canary_weight ? POOL_CANARY : POOL_BASELINE;
}

/* Parse an override header value: "baseline" or "canary" (case-insensitive,
 * surrounding whitespace ignored). Returns the pool, or -1 when it is neither. */
int split_parse_override(const char *value, size_t len);

/* Find cookie NAME in a Cookie header VALUE ("a=1; b=2"). On success points
 * *out/*outlen into VALUE and returns true. */
bool split_find_cookie(const char *value, size_t len, const char *name,
                       const char **out, size_t *outlen);

/* ---- server choice inside a pool ---------------------------------------- */

/* What the balancer needs to know of one server. */
struct split_server_view {
	uint64_t down_until_ms;       /* skipped while now_ms < down_until_ms */
	uint32_t active;              /* requests in flight (least_conn) */
};

/* Pick a server index among N by BALANCE, skipping servers that are down.
 * *CURSOR is the round-robin position, advanced on each pick. When every
 * server is down, returns the one whose back-off ends first (a request is
 * never moved to the other pool). Returns -1 only when n == 0. */
int split_pick_server(enum balance balance, const struct split_server_view *servers, size_t n,
                      uint32_t *cursor, uint64_t now_ms);

#endif
