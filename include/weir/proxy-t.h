/* Types of the data path: the runtime, its workers and client connections
 * Owns: nothing at run time: the types of the runtime, its workers and client connections.
 * (upstream connections and server tables: upstream-t.h). Functions are in
 * runtime.h, worker.h and proxy.h. */
#ifndef WEIR_PROXY_T_H
#define WEIR_PROXY_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "weir/accesslog.h"
#include "weir/admission.h"
#include "weir/config-t.h"
#include "weir/connread.h"
#include "weir/http1.h"
#include "weir/split.h"
#include "weir/stats.h"
#include "weir/upstream-t.h"

struct runtime;
struct worker;
struct upstream_conn;
struct accesslog;
struct admin;
struct canary;
struct control;
struct status;
struct weights;
struct health;
struct tls_set;

/* States of a client connection. Changed only through conn_set_state(). */
enum conn_state {
	CONN_IDLE,        /* keep-alive: no byte of the next request yet (timeouts.idle) */
	CONN_HEAD,        /* reading a request head (timeouts.request_header) */
	CONN_CONNECT,     /* head parsed, connecting to the chosen server (timeouts.connect) */
	CONN_EXCHANGE,    /* request forwarded (its body may still stream); awaiting or
	                     relaying the response (timeouts.backend, on the upstream) */
	CONN_DELIVER,     /* the response is complete from the backend (upstream
	                     released) but not all handed to the kernel: measured
	                     once it is; a client that stops reading is cut by its
	                     write timeout, a pipelined request waits */
	CONN_FLUSH,       /* the last response is queued: flush the output, then close */
	CONN_LINGER,      /* all written, writing shut down: discard input until the
	                     client closes, so unread bytes cannot turn the close into a
	                     reset that destroys the answer (LINGER_MS at most) */
	CONN_STATE_COUNT
};

/* What a request needs only while it is in flight: both parsers (their field
 * tables) and the access log's copies, ~6.6 KB. A connection takes one when
 * the first byte of a request arrives and gives it back to its worker's cache
 * when it waits for the next request, so an idle keep-alive connection costs
 * only its client_conn. */
struct exchange_mem {
	struct http1_parser req;
	struct http1_parser resp;
	struct accesslog_req al_req;        /* method and target, copied at request_begin */
	char al_server[ACCESSLOG_ADDR_MAX]; /* the chosen server's address; "" before choice */
	struct exchange_mem *next_free;     /* in the worker's cache */
};

struct client_conn {
	struct worker *w;
	struct bufferevent *bev;
	struct connread rd;                 /* its reads (bev keeps the writes) */
	enum conn_state state;
	struct event timer;                 /* the timeout of the current state */
	struct client_conn *prev, *next;    /* the worker's list of open connections */
	bool is_tls;
	bool parse_deferred;                /* TIMER fires at once to parse a pipelined
	                                       request (conn_defer_parse), not a timeout */

	char peer[48];                      /* client address for X-Forwarded-For */
	uint8_t peer_len;

	/* The request in progress. */
	struct exchange_mem *x;             /* from HEAD until the response is delivered */
	enum pool_id pool;
	bool overridden;                    /* pool forced by override_header: not judged */
	bool measured;                      /* recorded (answered, failed or abandoned) */
	bool left_early;                    /* the client had closed when its request was
	                                       routed: weir kept it waiting, not the pool */
	bool peeked;                        /* its first request was checked for a
	                                       queued FIN (left_early) */
	int server;                         /* index in the pool, -1 before choice */
	int tries;                          /* servers tried for this request */
	struct upstream_conn *up;
	uint64_t t_head_us;                 /* request head complete */
	bool req_keep_alive;
	bool req_is_head;
	uint8_t req_minor;
	enum http1_body req_body;
	uint64_t req_remaining;
	struct http1_chunked req_chunked;
	bool req_done;
	bool client_read_paused;            /* backpressure or pipelining */
	struct evbuffer *replay;            /* the head sent on a reused upstream ... */
	bool replay_ok;                     /* ... which may be resent once on a new one */

	/* Its response. */
	bool resp_started;                  /* head written to the client */
	enum http1_body resp_body;
	bool resp_dechunk;                  /* chunked from the backend, sent to an
	                                       HTTP/1.0 client de-chunked until the close */
	uint64_t resp_remaining;
	struct http1_chunked resp_chunked;
	bool resp_keep_alive;
	int status;
	uint16_t interim;                   /* 1xx responses relayed for this request */
	uint64_t t_done_us;                 /* the response was complete from the backend
	                                       (DELIVER measures as of it) */
	bool linger_on_close;               /* FLUSH ends in a lingering close (the client
	                                       may still be sending), else a plain one */
	bool upstream_read_paused;          /* backpressure */

	uint64_t resp_bytes;                /* response bytes passed to the client (access log) */
};

struct worker {
	struct runtime *rt;
	const struct weir_config *cfg;      /* this worker's view; switched on reload */
	uint32_t gen;                       /* bumped when the server tables are rebuilt */
	pthread_mutex_t pools_lock;         /* table swap vs. the admin page's reads */
	const struct weir_config *next_cfg; /* handed over by the main thread */
	const struct tls_set *tls;          /* TLS contexts of cfg (owned by the runtime) */
	struct event *reconf;               /* cross-thread: take next_cfg */
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct event *tick;                 /* flush stats, publish server states */
	struct event *wake;                 /* cross-thread: begin draining */
	struct event *accept_resume;        /* accepting paused (out of descriptors) */
	uint64_t accept_warned_ms;          /* last "cannot accept" warning */

	struct split_rng rng;
	struct stats_interval rec[POOL_COUNT];
	struct accesslog_buf alog;          /* this thread's access log lines */
	struct worker_pool pools[POOL_COUNT];

	struct client_conn *conns;          /* open client connections */
	uint32_t nconns;
	struct client_conn *free_conns;     /* reusable connection structs */
	uint32_t nfree;
	struct exchange_mem *free_x;        /* reusable exchange memory */
	uint32_t nfree_x;
	bool draining;
};

struct runtime {
	struct weir_config *cfg;            /* the current configuration (main thread) */
	struct weir_config *old_cfg;        /* the previous one, until every worker let go */
	struct tls_set *tls;                /* TLS contexts of cfg */
	struct tls_set *old_tls;            /* of old_cfg, freed with it */
	_Atomic unsigned reconf_pending;    /* workers that have not switched yet */
	struct event *reconf_done;          /* cross-thread: free old_cfg */
	struct event_base *base;            /* main thread: signals, admin, control, guard */
	struct admission admission;         /* connections open and refused, TLS
	                                       failures: counted by the workers */
	struct stats *stats;
	struct worker *workers;
	unsigned nworkers;
	_Atomic unsigned workers_running;
	uint64_t start_us;
	int exit_code;
	bool stopping;
	struct event *stop_timer;
	struct admin *admin;
	struct weights *weights;            /* owns the published weight */
	struct canary *canary;              /* the guard driver */
	struct fleet *fleet;                /* NULL without a cluster group */
	struct status *status;              /* renders the status documents */
	struct health *health;              /* active health checks (main thread) */
	struct control *control;
	struct event *sigterm, *sigint;     /* stop: drain, then exit */
	struct event *sighup;
	struct event *sigusr1;              /* reopen the access log (logrotate) */
	struct accesslog *access_log;       /* NULL: access_log = "" */
};

#endif
