/* Types of a data-path thread.
 * Owns: nothing at run time: the type of a worker. What it embeds belongs to
 * the modules that own it: the server tables (struct worker_pool) to
 * upstream, the client connections (struct proxy_clients) to proxy.
 * Functions are in worker.h. */
#ifndef WEIR_WORKER_T_H
#define WEIR_WORKER_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/accesslog.h"
#include "weir/config-t.h"
#include "weir/proxy-t.h"
#include "weir/split.h"
#include "weir/stats.h"
#include "weir/upstream-t.h"

struct event;
struct event_base;
struct evconnlistener;
struct h2up_conn;
struct runtime;
struct tls_set;

struct worker {
	struct runtime *rt;
	const struct weir_config *cfg;      /* this worker's view; switched on reload */
	uint32_t gen;                       /* bumped when the server tables are rebuilt */
	pthread_mutex_t pools_lock;         /* table swap vs. the admin page's reads */
	_Atomic(const struct weir_config *) next_cfg; /* handed over by the main thread */
	const struct tls_set *tls;          /* TLS contexts of cfg (owned by the runtime) */
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct event *tick;                 /* flush stats, publish server states */
	_Atomic unsigned cmd_pending;       /* the main thread's commands (WORKER_CMD_* in
	                                       worker.c), set before a wake-up byte on cmd */
	int cmd[2];                         /* pipe: wakes the worker for them; the only
	                                       way into this thread */
	struct event *cmd_ev;               /* the read end */
	struct event *accept_resume;        /* accepting paused (out of descriptors) */
	uint64_t accept_warned_ms;          /* last "cannot accept" warning */

	struct split_rng rng;
	struct stats_interval rec[POOL_COUNT];
	struct accesslog_buf alog;          /* this thread's access log lines */
	struct worker_pool pools[POOL_COUNT]; /* upstream's */
	struct proxy_clients clients;       /* proxy's */
	struct h2up_conn *h2up;             /* h2up's: HTTP/2 connections to servers */
	bool draining;
};

#endif
