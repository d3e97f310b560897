/* health: active health checks of the pools' servers (a pool's `check`
 * Owns: the health-check probes, their timers and each checked server's published state.
 * group). The checks run on the main thread's event base, one at a time per
 * server (never once per worker), with a small non-blocking HTTP/1.1 client:
 * GET check.path, over TLS with the pool's SNI and verification when the pool
 * has `tls`, and the status line parsed by http1. An "h2" pool's checks are
 * the same GET in HTTP/2 (h2check): h2c with prior knowledge, or TLS with
 * ALPN "h2". Each result goes through the rise/fall state machine of
 * check.h; the state is published as one atomic word per server that the
 * workers read when they pick a server (see split_server_view.health):
 * lock-free, and every worker sees a change at once. Check traffic never
 * reaches the pools' request statistics.
 *
 * Main thread only, except health_word's words, which any thread may read. */
#ifndef WEIR_HEALTH_H
#define WEIR_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/check.h"
#include "weir/config-t.h"

struct runtime;
struct tls_set;
struct health;

/* Room for one check's reason text, NUL included. */
#define HEALTH_REASON_MAX 160

/* Start checking the servers of rt->cfg's checked pools (TLS contexts from
 * rt->tls) on rt->base; the first checks are spread over the first interval.
 * Returns NULL with a message in ERR when out of memory. Release with
 * health_free. */
struct health *health_new(struct runtime *rt, char *err, size_t errlen);
void health_free(struct health *h);

/* A reload: check the servers of CFG with TLS contexts TLS from now on. A
 * server whose address stays in its pool (and that pool stays checked)
 * keeps its state and its last result; checks in flight are abandoned. The
 * previous tables stay readable (the workers still on the old configuration
 * read their words) until health_release_old. Returns 0, or -1 when out of
 * memory (nothing changed). */
int health_reconfigure(struct health *h, const struct weir_config *cfg, const struct tls_set *tls,
                       char *err, size_t errlen);

/* Every worker has switched to the current configuration: free the old tables. */
void health_release_old(struct health *h);

/* The published word of server S of pool P of the current configuration (an
 * enum check_state), or NULL when P has no check. Valid until the reload
 * after next's health_release_old: a worker takes it with its configuration. */
const _Atomic uint32_t *health_word(const struct health *h, enum pool_id p, size_t s);

/* What the admin page and "show servers" show of one server. */
struct health_info {
	bool checked;                 /* its pool has a check */
	enum check_state state;
	bool has_last;                /* a check has completed */
	bool last_ok;
	int last_status;              /* 0: no status (refused, timeout, TLS ...) */
	uint32_t last_ms;             /* how long the check took */
	uint64_t last_at_ms;          /* when it completed (monotonic) */
	char reason[HEALTH_REASON_MAX];  /* "ok", "status 503 (expect 2xx)", "timeout after 1000 ms" ... */
};

/* Server S of pool P of the current configuration. */
void health_server_info(const struct health *h, enum pool_id p, size_t s, struct health_info *out);

/* True when P is checked and every one of its servers is DOWN: no server up.
 * With WHY (may be NULL): "pool canary has no server up: 127.0.0.1:9101 status
 * 503 (expect 2xx); ..." cut to WHYLEN. */
bool health_pool_down(const struct health *h, enum pool_id p, char *why, size_t whylen);

/* True when P is not checked, or every one of its servers is UP (the
 * rollout's "healthy canary pool"; UNCHECKED is not healthy yet). */
bool health_pool_all_up(const struct health *h, enum pool_id p);

#endif
