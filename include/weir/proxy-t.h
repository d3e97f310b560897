/* Types of the client side of the data path: a worker's client connections.
 * Owns: nothing at run time: the types of client connections, their states
 * and exchanges, and the per-worker lists proxy keeps of them (struct
 * proxy_clients, embedded in struct worker). Functions are in proxy.h. */
#ifndef WEIR_PROXY_T_H
#define WEIR_PROXY_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "weir/accesslog.h"
#include "weir/config-t.h"
#include "weir/connread.h"
#include "weir/grpc.h"
#include "weir/http1.h"

struct h2conn;
struct h2front_stream;
struct upstream_conn;
struct worker;

/* States of a client connection. Changed only through conn_set_state(), which
 * arms the state's timer; the table atop src/proxy.c says what each waits
 * for, its timer and its exits. */
enum conn_state {
	CONN_IDLE,           /* keep-alive: no byte of the next request yet */
	CONN_DORMANT,        /* ... for over IDLE_AWAKE_MS: its buffers were given
	                        back (a plain socket), or are taken back at the
	                        first byte of a request */
	CONN_NEXT,           /* the next request (pipelined) is in the input: it is
	                        parsed from the loop, its timer fires at once */
	CONN_HEAD,           /* reading a request head */
	CONN_CONNECT,        /* head parsed, connecting to the chosen server; the
	                        request (and its body as it comes) waits for it */
	CONN_SEND_BODY,      /* connected; the request body is still coming from
	                        the client; no response head yet */
	CONN_AWAIT_RESPONSE, /* the request was read whole; no response head yet */
	CONN_RELAY,          /* the response head went to the client; its body
	                        streams (and the request body, if a server
	                        answered before it was all in) */
	CONN_DELIVER,        /* the response is complete from the backend (upstream
	                        released) but not all handed to the kernel:
	                        measured once it is */
	CONN_FLUSH,          /* the last response is queued: flush the output, then close */
	CONN_LINGER,         /* all written, writing shut down: discard input until the
	                        client closes, so unread bytes cannot turn the close
	                        into a reset that destroys the answer */
	CONN_STATE_COUNT
};

/* What a request needs only while it is in flight: both parsers (their field
 * tables) and the access log's copies, ~6.6 KB. A connection takes one when
 * the first byte of a request arrives and gives it back to its worker's cache
 * when it waits for the next request; its bufferevent goes too, once that
 * wait is longer than IDLE_AWAKE_MS (DORMANT), so an idle keep-alive
 * connection costs only its client_conn. */
struct exchange_mem {
	struct http1_parser req;
	struct http1_parser resp;
	struct accesslog_req al_req;        /* method and target, copied at request_begin */
	char al_server[ACCESSLOG_ADDR_MAX]; /* the chosen server's address; "" before choice */
	struct trailer_relay {              /* the response's chunked trailer section */
		bool inside;                /* being relayed now */
		struct grpc_scan grpc;      /* its grpc-status (a gRPC response) */
	} trailers;
	struct exchange_mem *next_free;     /* in the worker's cache */
};

struct client_conn {
	struct worker *w;
	struct bufferevent *bev;            /* NULL while asleep: a plain socket waiting
	                                       for a request's first byte (connread.h) */
	struct connread rd;                 /* its reads (bev keeps the writes); paused
	                                       (backpressure, pipelining) is
	                                       connread_enabled's to say */
	enum conn_state state;
	struct event timer;                 /* the timeout of the current state */
	uint64_t due_us;                    /* its deadline (clock_now_us); 0: none */
	uint64_t armed_us;                  /* the deadline TIMER is pending for, earlier
	                                       or the same; 0: not pending */
	bool idle_awake;                    /* IDLE's timer runs its first phase
	                                       (IDLE_AWAKE_MS), then DORMANT's */
	struct client_conn *prev, *next;    /* the worker's list of open connections */
	bool is_tls;                        /* the client came over TLS (X-Forwarded-Proto) */
	bool plain;                         /* BEV is a plain socket: weir writes it itself
	                                       (bev_write_now), peeks at it, shuts it down */
	bool h2c_sniff;                     /* a plain listener that also speaks h2c: the
	                                       first bytes may be the HTTP/2 preface */
	bool h2_stream;                     /* an HTTP/2 stream's proxy side: BEV has no
	                                       socket (h2front.h); not
	                                       counted in limits.max_connections */
	struct h2front_stream *stream;      /* ... its stream, until either side closed */

	char peer[48];                      /* client address for X-Forwarded-For */
	uint8_t peer_len;

	/* The request in progress. */
	struct exchange_mem *x;             /* from HEAD until the response is delivered */
	enum pool_id pool;
	bool overridden;                    /* pool forced by override_header: not judged */
	bool measured;                      /* recorded (answered, failed or abandoned).
	                                       Not the state's: a client that half-closes
	                                       while its request is answered is measured
	                                       as abandoned at once, and the exchange
	                                       goes on */
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
	bool req_done;                      /* the request was read whole. Implied by
	                                       AWAIT_RESPONSE (true) and SEND_BODY
	                                       (false); not by CONNECT (the body is
	                                       buffered while connecting) nor RELAY or
	                                       DELIVER (a server may answer first) */
	struct evbuffer *replay;            /* the head of a bodiless request sent on a reused
	                                       upstream or an h2 stream ... */
	bool replay_kept;                   /* ... this request's is there (an h2 stream takes
	                                       its head from its input: a retry after a failed
	                                       connect resends this copy) ... */
	bool replay_ok;                     /* ... and it may be resent once on a new one:
	                                       when a reused connection closed (kept there for
	                                       a safe method only), or whatever the method when
	                                       its h2 stream was refused (upstream_conn.refused) */

	/* Its response (its head went to the client: RELAY, DELIVER). */
	enum http1_body resp_body;
	bool resp_dechunk;                  /* chunked from the backend, sent to an
	                                       HTTP/1.0 client de-chunked until the close */
	uint64_t resp_remaining;
	struct http1_chunked resp_chunked;
	bool resp_keep_alive;
	bool resp_grpc;                     /* content-type application/grpc*: its grpc-status
	                                       (head, or trailers) judges it too */
	bool grpc_error;                    /* ... and that status is one of errors.grpc (as
	                                       far as it arrived: none yet is UNKNOWN) */
	int status;
	uint16_t interim;                   /* 1xx responses relayed for this request */
	uint64_t t_done_us;                 /* the response was complete from the backend
	                                       (DELIVER measures as of it) */
	bool linger_on_close;               /* FLUSH ends in a lingering close, else a
	                                       plain one: whether the client may still
	                                       be sending is the peer's state, which
	                                       no state of ours implies */

	uint64_t resp_bytes;                /* response bytes passed to the client (access log) */
};

/* Spare bufferevents a worker keeps (struct proxy_clients): enough for the
 * connections that go idle or close between two of its loop passes. */
#define PROXY_SPARE_BEVS 256
/* ... and bufferevents of HTTP/2 streams' proxy sides, parked and ready
 * each: the streams that end in one loop pass at a few hundred in flight. */
#define H2FRONT_SPARE_BEVS 256

/* The protocol a request came in (weir_downstream_requests_total{protocol}). */
enum downstream_proto {
	DOWNSTREAM_HTTP1,                   /* HTTP/1.0 and HTTP/1.1 */
	DOWNSTREAM_H2,                      /* an HTTP/2 stream (h2 or h2c) */
	DOWNSTREAM_PROTO_COUNT
};

/* A worker's client connections: proxy's, kept in its struct worker. */
struct proxy_clients {
	struct client_conn *open;           /* open client connections */
	uint32_t nopen;
	struct client_conn *cached;         /* reusable connection structs */
	uint32_t ncached;
	struct exchange_mem *cached_x;      /* reusable exchange memory */
	uint32_t ncached_x;
	/* Socket bufferevents of plain clients that went to sleep or closed,
	 * without a descriptor: taken by the next that wakes or is accepted. */
	struct bufferevent *spare_bev[PROXY_SPARE_BEVS];
	uint32_t nspare_bev;
	struct h2conn *h2open;              /* open HTTP/2 connections (h2front's) */
	uint32_t nh2;
	/* Bufferevents of ended HTTP/2 streams' proxy sides (h2front's):
	 * parked ones wait until their deferred callbacks have run
	 * (stream_bev_sweep), ready ones are taken by the next streams. */
	struct h2front_parked_bev {
		struct bufferevent *bev;
		uint64_t parked_us;         /* the loop pass's cached time */
	} stream_bev_parked[H2FRONT_SPARE_BEVS];
	uint32_t nstream_bev_parked;
	struct bufferevent *stream_bev_ready[H2FRONT_SPARE_BEVS];
	uint32_t nstream_bev_ready;
	struct event *stream_bev_sweep;
	/* Requests begun, by protocol. Written by the worker alone (a relaxed
	 * load and store, no read-modify-write), read by the admin thread. */
	_Atomic uint64_t requests[DOWNSTREAM_PROTO_COUNT];
};

#endif
