/* h2front: the HTTP/2 client connections of a worker.
 *
 * Owns each HTTP/2 connection (h2 by ALPN, h2c by prior knowledge): its
 * socket or TLS bufferevent, its h2session, its timer, and the bridge of
 * every stream to the proxy. A stream is an exchange like an HTTP/1.1
 * request: h2session turns its HEADERS into an HTTP/1.1 request head
 * (h2conv's rules), and the stream is handed to the proxy as a client of
 * its own on a bufferevent without a socket. The bridge gives it the
 * request (the head, then the body, chunk-framed when it has no
 * content-length, into its input, running its read callback as a socket
 * would) and reads the proxy's HTTP/1.1 response from its output: its head becomes
 * the stream's response head, its body (de-chunked) DATA frames, its end
 * END_STREAM. Where one side would parse what the other just wrote, the
 * parse is handed over instead (http1_parser_adopt). So split, sticky keys,
 * overrides, measurement, the guard, the access log, X-Forwarded-*,
 * retries and every timeout are the proxy's, for both protocols. HAProxy
 * 1.8 bridged HTTP/2 to its HTTP/1.1 engine the same way.
 *
 * Backpressure both ways: the client's request body is flow-controlled by
 * what the proxy has taken (WINDOW_UPDATE follows it: at once while it
 * reads, else once it has read its input empty), and a
 * response the client does not take stops the bridge reading the proxy's
 * output, so it fills and the proxy stops reading the server.
 *
 * Worker thread only. proxy.c calls in here (adopt a connection, a stream's
 * proxy side closed, drain, close); h2front calls proxy_stream_open and
 * proxy_stream_close for the proxy side of a stream. */
#ifndef WEIR_H2FRONT_H
#define WEIR_H2FRONT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#include "weir/http1.h"

struct worker;
struct h2front_stream;

/* Take over BEV, a client connection of W that speaks HTTP/2 (ALPN chose
 * h2 on TLS; or a plain listener's client sent the connection preface):
 * its input may already hold the client's first bytes. PEER is the
 * client's address (for X-Forwarded-For), TLS whether it came over TLS.
 * The connection keeps the admission slot the proxy took for it. On
 * failure (memory) BEV is freed and the slot given back. */
void h2front_adopt(struct worker *w, struct bufferevent *bev, const char *peer, bool tls);

/* The proxy side of stream S is closing (proxy_stream_close was not the
 * cause): CUT when its response was cut short (a close-delimited body
 * whose server failed). S's response ends there: END_STREAM when it is
 * complete, else RST_STREAM. */
void h2front_stream_gone(struct h2front_stream *s, bool cut);

/* The proxy is about to write the final response head of stream S into
 * its output; HEAD is what parsing those bytes gives (spans from their
 * first byte). The bridge takes it instead of parsing them when the head
 * will be the first thing it reads (nothing of an interim response waits
 * in that output); returns whether it did. */
bool h2front_stream_take_head(struct h2front_stream *s, const struct http1_head *head);

/* The proxy takes back the response head it wrote for stream S (its
 * server failed before anything else of it could follow: weir answers
 * instead). True when the bridge had not begun to read it, which is then
 * forgotten; false when it had, and the stream must be cut. */
bool h2front_stream_take_back(struct h2front_stream *s);

/* BEV, a stream's proxy side's (proxy_stream_open), is no longer used by
 * the proxy (its side closed): its callbacks are the proxy's no more, and
 * h2front keeps it for a later stream once the bridge is done with it too.
 * Nothing of BEV is used by the proxy after this. */
void h2front_stream_bev_release(struct bufferevent *bev);

/* Free the stream bufferevents W keeps (its loop has ended). */
void h2front_free_spares(struct worker *w);

/* Draining: a graceful GOAWAY on every HTTP/2 connection of W (streams in
 * progress finish, no new ones). Returns how many connections are open. */
uint32_t h2front_shutdown_all(struct worker *w);

/* Close every HTTP/2 connection of W now. */
void h2front_close_all(struct worker *w);

#endif
