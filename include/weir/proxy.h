/* proxy: the client side of the data path: accept, parse, route, relay.
 * Owns: the client connections of a worker: their state machines, buffers and the exchange in flight. */
#ifndef WEIR_PROXY_H
#define WEIR_PROXY_H

#include <stdbool.h>

#include <event2/listener.h>

#include "weir/proxy-t.h"

struct bufferevent;
struct worker;

/* evconnlistener callback; ARG is the struct worker. */
void proxy_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                  int socklen, void *arg);

/* Draining: close connections that are idle between requests; others close
 * once their current response is complete. Returns how many are still open
 * (at zero the worker's loop may end; later, the last close ends it). */
uint32_t proxy_close_idle(struct worker *w);

/* OUT[pool]: W's judged requests of each pool routed and not yet measured
 * (the sequential guard's upper bounds count them; seqtest.h). Walks W's
 * connections: once per fold, not per request. */
void proxy_count_in_flight(const struct worker *w, uint64_t out[POOL_COUNT]);

/* The proxy side of HTTP/2 stream S of W: a client connection on BEV (a
 * bufferevent without a socket: h2front puts the request into its input
 * while proxy_stream_reading, runs its read callback, and takes the
 * response from its output), PEER and TLS as the HTTP/2 connection's. Counted as an open connection,
 * not against limits.max_connections (the HTTP/2 connection is). HEAD is
 * the parse of the request head h2front writes first (http1_parser_adopt
 * takes it when it fits the proxy's limits). Returns NULL when out of memory (BEV is left to the caller). */
struct client_conn *proxy_stream_open(struct worker *w, struct bufferevent *bev, const char *peer, bool tls,
                                      struct h2front_stream *s, const struct http1_head *head);

/* Whether the proxy side C of an HTTP/2 stream takes request bytes now
 * (its reading is not paused for backpressure). */
bool proxy_stream_reading(const struct client_conn *c);

/* The HTTP/2 stream of C is over (its response ended, or the client reset
 * it, or its connection closed): measure its request if still owed (as
 * abandoned unless its response had been handed over whole) and close C.
 * CLIENT_BROKE: weir reset the stream for the client's protocol error (a
 * body shorter or longer than its content-length, say): like a malformed
 * HTTP/1.1 request, not the pool's doing and not measured. */
void proxy_stream_close(struct client_conn *c, bool client_broke);

/* Close every connection at once (drain time is over) and free the pool. */
void proxy_close_all(struct worker *w);

/* Free the worker's cached connection structs. */
void proxy_free_cache(struct worker *w);

#endif
