/* upstream: a worker's server tables and its connections to servers (see
 * include/weir/upstream.h). Each server has a LIFO list of idle keep-alive
 * connections (the most recently used is the warmest), a count of
 * consecutive connect failures that sets its back-off, and the last TLS
 * session it issued, offered by the next connection to it. */
#include "weir/upstream.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "weir/clock.h"
#include "weir/config.h"
#include "weir/h2up.h"
#include "weir/health.h"
#include "weir/log.h"
#include "weir/runtime-t.h"
#include "weir/tls.h"
#include "weir/worker-t.h"

/* Idle connections kept per server and worker. Above this, every exchange
 * past the cap pays a connect() and a close(): with 400 client connections
 * 64 was a third of all requests. Idle ones still expire after
 * timeouts.idle, and there are never more than the peak of exchanges in
 * flight. */
#define MAX_IDLE_PER_SERVER 1024
/* Back-off after consecutive connect failures: 1 s doubling, at most this. */
#define BACKOFF_MAX_MS 30000

/* ---- server tables ---------------------------------------------------------- */

static void sessions_free(struct server_rt *servers, size_t n)
{
	for (size_t i = 0; servers && i < n; i++) {
		SSL_SESSION_free(servers[i].session);
		servers[i].session = NULL;
	}
}

void upstream_tables_free(struct worker_pool pools[POOL_COUNT])
{
	for (int p = 0; p < POOL_COUNT; p++) {
		sessions_free(pools[p].servers, pools[p].nservers);
		free(pools[p].views);
		free(pools[p].servers);
		free(pools[p].pub);
		memset(&pools[p], 0, sizeof(pools[p]));
	}
}

int upstream_tables_build(struct worker_pool pools[POOL_COUNT], const struct weir_config *cfg,
                          const struct health *h, uint32_t cursor)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		struct worker_pool *wp = &pools[p];
		wp->nservers = cfg->pools[p].nservers;
		wp->views = calloc(wp->nservers, sizeof(*wp->views));
		wp->servers = calloc(wp->nservers, sizeof(*wp->servers));
		wp->pub = calloc(wp->nservers, sizeof(*wp->pub));
		wp->cursor = cursor;
		if (!wp->views || !wp->servers || !wp->pub) {
			upstream_tables_free(pools);
			return -1;
		}
		for (size_t i = 0; i < wp->nservers; i++)
			wp->views[i].health = health_word(h, (enum pool_id)p, i);
	}
	return 0;
}

static void close_server_idle(struct server_rt *sr)
{
	while (sr->idle)
		upstream_free(sr->idle);
}

void upstream_tables_migrate(struct worker_pool old[POOL_COUNT], const struct weir_config *old_cfg,
                             struct worker_pool fresh[POOL_COUNT], const struct weir_config *cfg,
                             uint32_t new_gen)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		struct worker_pool *o = &old[p];

		if (old_cfg->pools[p].tls.enabled || cfg->pools[p].tls.enabled) {
			for (size_t i = 0; i < o->nservers; i++) {
				close_server_idle(&o->servers[i]);
				o->servers[i].fails = 0;
				o->views[i].down_until_ms = 0;
			}
			sessions_free(o->servers, o->nservers);
		}
		for (size_t n = 0; n < fresh[p].nservers; n++) {
			const char *addr = cfg->pools[p].servers[n].text;

			for (size_t i = 0; i < o->nservers; i++) {
				if (strcmp(old_cfg->pools[p].servers[i].text, addr) != 0)
					continue;
				fresh[p].views[n].down_until_ms = o->views[i].down_until_ms;
				fresh[p].servers[n] = o->servers[i];
				memset(&o->servers[i], 0, sizeof(o->servers[i]));
				for (struct upstream_conn *up = fresh[p].servers[n].idle; up; up = up->next) {
					up->server = (int)n;
					up->gen = new_gen;
				}
				break;
			}
		}
		for (size_t i = 0; i < o->nservers; i++)
			close_server_idle(&o->servers[i]);
	}
}

/* ---- connections ------------------------------------------------------------ */

static void idle_unlink(struct upstream_conn *up)
{
	struct server_rt *sr = &up->w->pools[up->pool].servers[up->server];

	if (up->prev)
		up->prev->next = up->next;
	else
		sr->idle = up->next;
	if (up->next)
		up->next->prev = up->prev;
	else
		sr->idle_oldest = up->prev;
	up->prev = up->next = NULL;
	up->idle = false;
	sr->nidle--;
}

void upstream_free(struct upstream_conn *up)
{
	if (up->idle)
		idle_unlink(up);
	if (up->h2)
		h2up_release(up);
	connread_stop(&up->rd);
	tls_bufferevent_free(up->bev);
	free(up);
}

void upstream_close_idle(struct worker *w)
{
	for (int p = 0; p < POOL_COUNT; p++)
		for (size_t s = 0; s < w->pools[p].nservers; s++)
			close_server_idle(&w->pools[p].servers[s]);
	h2up_close_idle(w);
}

struct tls_target upstream_tls_target(const struct cfg_pool *pool, size_t server)
{
	return (struct tls_target){ .server_name = pool->tls.server_name, .addr = &pool->servers[server],
		                    .verify = pool->tls.verify, .h2 = pool->protocol == POOL_PROTO_H2 };
}

SSL_SESSION *upstream_session(const struct worker *w, enum pool_id pool, int server)
{
	const struct worker_pool *wp = &w->pools[pool];

	return server >= 0 && (size_t)server < wp->nservers ? wp->servers[server].session : NULL;
}

bool upstream_keep_session(struct worker *w, enum pool_id pool, int server, uint32_t gen, SSL_SESSION *sess)
{
	struct worker_pool *wp = &w->pools[pool];

	if (gen != w->gen || server < 0 || (size_t)server >= wp->nservers)
		return false; /* a table of before a reload */
	SSL_SESSION_free(wp->servers[server].session);
	wp->servers[server].session = sess;
	return true;
}

/* A new TLS session from UP's server. */
static bool keep_session(struct tls_session_sink *sink, SSL_SESSION *sess)
{
	struct upstream_conn *up = (struct upstream_conn *)((char *)sink - offsetof(struct upstream_conn, sessions));

	return upstream_keep_session(up->w, up->pool, up->server, up->gen, sess);
}

/* A new, connecting connection to SERVER of POOL; NULL with errno. */
static struct upstream_conn *connect_new(struct worker *w, enum pool_id pool, int server,
                                         const struct upstream_callbacks *cb)
{
	const struct cfg_addr *a = &w->cfg->pools[pool].servers[server];
	SSL_CTX *tls = tls_set_pool_ctx(w->tls, pool);
	struct upstream_conn *up = calloc(1, sizeof(*up));

	if (!up)
		return NULL;
	up->w = w;
	up->pool = pool;
	up->server = server;
	up->gen = w->gen;
	up->tls = tls != NULL;
	up->sessions.keep = keep_session;
	struct tls_target to = upstream_tls_target(&w->cfg->pools[pool], (size_t)server);
	up->bev = tls ? tls_connect_bufferevent(w->base, tls, &to, upstream_session(w, pool, server), &up->sessions)
	              : bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!up->bev) {
		free(up);
		errno = ENOMEM;
		return NULL;
	}
	bufferevent_setcb(up->bev, cb->read, cb->write, cb->event, up);
	if (tls_socket_connect(up->bev, (const struct sockaddr *)&a->ss, (int)a->len) < 0) {
		int e = errno; /* for upstream_acquire: whose fault it was */
		bufferevent_free(up->bev);
		free(up);
		errno = e;
		return NULL;
	}
	/* The descriptor exists now; reads start once it is connected. */
	connread_init(&up->rd, w->base, up->bev, !up->tls, false, cb->read, cb->event, up);
	return up;
}

/* A connect that failed before reaching the network for lack of weir's own
 * resources: descriptors, local ports, buffers, memory. */
static bool local_shortage(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EADDRNOTAVAIL;
}

int upstream_acquire(struct worker *w, enum pool_id pool, int server, bool allow_idle, uint64_t now_ms,
                     const struct upstream_callbacks *cb, struct upstream_conn **out)
{
	struct worker_pool *wp = &w->pools[pool];
	struct server_rt *sr = &wp->servers[server];
	struct upstream_conn *up;

	if (w->cfg->pools[pool].protocol == POOL_PROTO_H2) {
		/* Streams on shared HTTP/2 connections: nothing idles here. */
		int r = h2up_acquire(w, pool, server, cb, out);
		if (r == -1)
			upstream_server_down(w, pool, server, NULL, now_ms);
		else if (r == 0)
			wp->views[server].active++;
		return r;
	}
	if (sr->idle && allow_idle) {
		up = sr->idle;
		idle_unlink(up);
		up->reused = true;
	} else if (!(up = connect_new(w, pool, server, cb))) {
		if (local_shortage(errno))
			return -2;
		upstream_server_down(w, pool, server, NULL, now_ms);
		return -1;
	}
	wp->views[server].active++;
	*out = up;
	return 0;
}

void upstream_release(struct upstream_conn *up, bool reusable, uint64_t idle_ms)
{
	struct worker *w = up->w;
	struct worker_pool *wp = &w->pools[up->pool];

	if (up->gen != w->gen) {
		/* The server tables were rebuilt by a reload: this one is history. */
		upstream_free(up);
		return;
	}
	struct server_rt *sr = &wp->servers[up->server];
	if (wp->views[up->server].active)
		wp->views[up->server].active--;
	if (!reusable || up->h2 || w->draining || sr->nidle >= MAX_IDLE_PER_SERVER) {
		upstream_free(up);
		return;
	}
	/* Idle: watch for the server closing it, and do not keep it forever. */
	connread_enable(&up->rd);
	up->idle = true;
	up->idle_until_ms = clock_now_ms() + idle_ms;
	up->prev = NULL;
	up->next = sr->idle;
	if (sr->idle)
		sr->idle->prev = up;
	else
		sr->idle_oldest = up;
	sr->idle = up;
	sr->nidle++;
}

void upstream_expire_idle(struct worker *w, uint64_t now_ms)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		struct worker_pool *wp = &w->pools[p];

		for (size_t s = 0; s < wp->nservers; s++) {
			struct server_rt *sr = &wp->servers[s];
			/* Parked LIFO: the oldest is the first to expire. */
			while (sr->idle_oldest && sr->idle_oldest->idle_until_ms <= now_ms)
				upstream_free(sr->idle_oldest);
		}
	}
}

/* ---- back-off ------------------------------------------------------------------ */

/* UP could not connect. When that was a TLS failure (handshake, verification)
 * it is counted and, if the server was up in this worker until now, logged
 * with its reason: once per server and back-off period, not per request. */
static void tls_failed(struct worker *w, enum pool_id pool, int server, const struct upstream_conn *up,
                       uint64_t now_ms)
{
	char why[300];

	if (!up || !up->tls || !tls_failure_text(up->bev, why, sizeof(why)))
		return;
	admission_tls_upstream_failed(&w->rt->admission);
	if (w->pools[pool].views[server].down_until_ms <= now_ms)
		log_warn("pool %s, server %s: TLS %s; marked down", cfg_pool_name(pool),
		         w->cfg->pools[pool].servers[server].text, why);
}

void upstream_server_down(struct worker *w, enum pool_id pool, int server, const struct upstream_conn *up,
                          uint64_t now_ms)
{
	struct worker_pool *wp = &w->pools[pool];

	if (server < 0 || (size_t)server >= wp->nservers)
		return;
	tls_failed(w, pool, server, up, now_ms);
	struct server_rt *sr = &wp->servers[server];
	unsigned shift = sr->fails < 5 ? sr->fails : 5;
	uint64_t backoff = 1000u << shift; /* 1 s, 2 s ... 32 s, capped */

	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	sr->fails++;
	wp->views[server].down_until_ms = now_ms + backoff;
	/* Idle connections to a server that refuses new ones are suspect too. */
	close_server_idle(sr);
}

void upstream_server_up(struct worker *w, enum pool_id pool, int server)
{
	if (server < 0 || (size_t)server >= w->pools[pool].nservers)
		return;
	w->pools[pool].servers[server].fails = 0;
	w->pools[pool].views[server].down_until_ms = 0;
}
