/* upstream: a worker's connections to the pools' servers.
 *
 * Owns, per worker: the server tables (struct worker_pool: the balancer's
 * views, each server's idle keep-alive connections, connect failures and
 * back-off, its last TLS session, the states published to the admin
 * page), the upstream connections themselves (connect, take from and park
 * in the idle lists, free), and the tables' migration when a reload brings
 * new ones. The proxy decides what to send and when a connection may be
 * reused; this module decides where connections live. Worker thread only. */
#ifndef WEIR_UPSTREAM_H
#define WEIR_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#include "weir/upstream-t.h"

struct health;
struct weir_config;

/* The proxy's callbacks for an upstream connection's bufferevent and reads;
 * their ARG is the struct upstream_conn. */
struct upstream_callbacks {
	bufferevent_data_cb read;
	bufferevent_data_cb write;
	bufferevent_event_cb event;
};

/* Server tables for CFG's pools into POOLS: each view points at its
 * server's health-check word in H; CURSOR staggers the workers' round-robin.
 * Returns 0, or -1 when out of memory (nothing to free then). */
int upstream_tables_build(struct worker_pool pools[POOL_COUNT], const struct weir_config *cfg,
                          const struct health *h, uint32_t cursor);

/* Free POOLS' tables (not their connections: see upstream_close_idle) and
 * cached sessions. */
void upstream_tables_free(struct worker_pool pools[POOL_COUNT]);

/* A reload: move what survives from OLD (built for OLD_CFG) into FRESH
 * (built for CFG, generation NEW_GEN): a server whose address stays keeps
 * its idle connections, back-off and session; in a pool with TLS before or
 * after, idle connections, sessions and back-off go (the next connection is
 * verified as the files say now). What stays in OLD is closed; connections
 * in flight keep their old generation and are closed when released. */
void upstream_tables_migrate(struct worker_pool old[POOL_COUNT], const struct weir_config *old_cfg,
                             struct worker_pool fresh[POOL_COUNT], const struct weir_config *cfg,
                             uint32_t new_gen);

/* A connection to SERVER of POOL for W's next request: an idle one when
 * ALLOW_IDLE and there is one (reused), else a new one (connecting, CB set);
 * either has no timeout (its client's state timer bounds the exchange).
 * Counts it active on the server. Returns 0 with *OUT, -1 when the server
 * could not be reached (it is marked down), or -2 when weir itself is short
 * of descriptors, ports or memory (the server is not to blame). */
int upstream_acquire(struct worker *w, enum pool_id pool, int server, bool allow_idle, uint64_t now_ms,
                     const struct upstream_callbacks *cb, struct upstream_conn **out);

/* UP's exchange is over (UP->client already cleared by the caller). With
 * REUSABLE, and unless W is draining, the table changed since (reload) or
 * the server's idle list is full, it is parked idle for at most IDLE_MS
 * (upstream_expire_idle closes it then), watched for its server closing
 * it; else it is closed. */
void upstream_release(struct upstream_conn *up, bool reusable, uint64_t idle_ms);

/* Close W's idle connections parked for their IDLE_MS by NOW_MS: on the
 * worker's tick, so an idle connection is closed that late at most, and
 * parking and taking one back touch no timer. */
void upstream_expire_idle(struct worker *w, uint64_t now_ms);

/* Close UP now (unlinked from its idle list if parked). Not counted active
 * any more only through upstream_release. */
void upstream_free(struct upstream_conn *up);

/* Close every idle connection of W (stop, drain over). */
void upstream_close_idle(struct worker *w);

/* A connect to SERVER of POOL failed (refused, timed out, TLS): back off
 * 1 s, 2 s ... 30 s, and close its idle connections. UP, the failed
 * connection (NULL when none was made), has its TLS failure counted and
 * logged when the server was up until now. */
void upstream_server_down(struct worker *w, enum pool_id pool, int server, const struct upstream_conn *up,
                          uint64_t now_ms);

/* A connect to SERVER of POOL succeeded: no back-off. */
void upstream_server_up(struct worker *w, enum pool_id pool, int server);

/* Server SERVER of POOL as a TLS target: the pool's tls group (server_name,
 * verify), the server's address, ALPN by the pool's protocol. */
struct tls_target upstream_tls_target(const struct cfg_pool *pool, size_t server);

/* TLS resumption, per worker and server, for HTTP/1.1 and h2 pools alike:
 * the session the next connection to SERVER of POOL offers (NULL: none),
 * and the keeping of a new one its server issued to a connection of table
 * generation GEN (the last one wins). Keep returns false, SESS not taken,
 * for a connection of a table from before a reload. */
struct ssl_session_st *upstream_session(const struct worker *w, enum pool_id pool, int server);
bool upstream_keep_session(struct worker *w, enum pool_id pool, int server, uint32_t gen,
                           struct ssl_session_st *sess);

#endif
