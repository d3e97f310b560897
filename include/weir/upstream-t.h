/* Types of the upstream side of the data path: a worker's server tables and
 * Owns: nothing at run time: the types of server tables and upstream connections.
 * its connections to servers. Functions are in upstream.h. */
#ifndef WEIR_UPSTREAM_T_H
#define WEIR_UPSTREAM_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"
#include "weir/connread.h"
#include "weir/split.h"
#include "weir/tls.h"

struct client_conn;
struct h2up_stream;
struct worker;

/* A server as other threads may read it: each worker publishes its own view
 * at every tick; the admin page sums them and never touches private state. */
struct server_pub {
	_Atomic uint32_t active;
	_Atomic uint64_t down_until_ms;
};

struct upstream_conn {
	struct bufferevent *bev;
	struct connread rd;                 /* its reads (bev keeps the writes) */
	struct worker *w;
	enum pool_id pool;
	int server;
	struct client_conn *client;         /* NULL while idle in the pool */
	struct upstream_conn *prev, *next;  /* idle list of its server */
	bool reused;
	bool tls;                           /* a TLS bufferevent: no direct writes */
	bool idle;                          /* linked in its server's idle list ... */
	uint64_t idle_until_ms;             /* ... until then (clock_now_ms) */
	uint32_t gen;                       /* the worker's server-table generation it
	                                       belongs to; an older one after a reload */
	struct tls_session_sink sessions;   /* TLS: where a new session is kept */
	struct h2up_stream *h2;             /* an "h2" pool's request: BEV is one end of a
	                                       bufferevent pair, the stream is h2up's */
	bool refused;                       /* h2: the server refused the stream (RST_STREAM
	                                       or GOAWAY, REFUSED_STREAM): it processed
	                                       nothing of it (RFC 9113 8.7) */
};

/* A worker's private view of one server. */
struct server_rt {
	struct upstream_conn *idle;         /* idle keep-alive connections, LIFO ... */
	struct upstream_conn *idle_oldest;  /* ... whose tail expires first */
	uint32_t nidle;
	uint32_t fails;                     /* consecutive connect failures */
	struct ssl_session_st *session;     /* SSL_SESSION, TLS pools: offered by the next
	                                       connection to this server */
};

struct worker_pool {
	size_t nservers;
	struct split_server_view *views;    /* balancer input, one per server */
	struct server_rt *servers;
	struct server_pub *pub;             /* this worker's published server states */
	uint32_t cursor;                    /* round-robin position */
};

#endif
