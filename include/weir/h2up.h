/* h2up: HTTP/2 to the servers of a pool with protocol "h2" (gRPC needs it:
 * a gRPC server may refuse HTTP/1.1, and its status travels in trailers).
 *
 * Owns, per worker, the HTTP/2 connections to such servers (h2c, or h2 by
 * ALPN when the pool has tls), each carrying many requests at once, and
 * the bridge of each request to the proxy. The proxy is unchanged: to it
 * an h2 request is an upstream connection like any other (struct
 * upstream_conn, up->h2), whose bufferevent is one end of an in-memory
 * pair. It writes the HTTP/1.1 request it would send a server into that
 * end; the bridge reads it from the other, turns the head into HEADERS
 * (pseudo-headers from the request line and Host, hop-by-hop fields
 * dropped, "te: trailers" added, names in lower case) and the body into
 * DATA. The server's response comes back into the pair as HTTP/1.1: the
 * head (interim ones too), then the body chunked, with the server's
 * trailers as the chunked trailer section (the proxy judges gRPC by them
 * and passes them to HTTP/2 clients). Connect, TLS and stream failures
 * reach the proxy as its bufferevent events would (CONNECTED, ERROR, EOF),
 * always from the loop, never from inside a call into the proxy's code.
 *
 * Flow control: the server's DATA is acknowledged (WINDOW_UPDATE) once the
 * proxy has taken it from the pair, so a client that does not read stops
 * the server; the request body is read from the pair only while less than
 * one window of it waits to be sent. Worker thread only. */
#ifndef WEIR_H2UP_H
#define WEIR_H2UP_H

#include <stdint.h>

#include "weir/upstream.h"

struct worker;

/* A stream to SERVER of POOL for W's next request, as upstream_acquire
 * gives it (a new connection is made when none to that server has room;
 * the CONNECTED event follows from the loop). Returns 0 with *OUT, -1
 * when the server could not be reached, -2 when weir is short of
 * resources. */
int h2up_acquire(struct worker *w, enum pool_id pool, int server, const struct upstream_callbacks *cb,
                 struct upstream_conn **out);

/* UP (up->h2) is done with: its stream is reset if still open, its end of
 * the pair freed. Called by upstream_free; UP itself is the caller's. */
void h2up_release(struct upstream_conn *up);

/* Close W's HTTP/2 connections that carry no stream (all of them when
 * the worker stops: by then no stream is left). */
void h2up_close_idle(struct worker *w);

#endif
