/* httpd: a small HTTP/1.1 server for read-only endpoints (the admin
 * Owns: the admin listener's HTTP connections and their limits; the answers come from a handler.
 * listener), bounded in every resource a client could make it spend.
 *
 * Only GET and HEAD are served. Any other method is answered 405 as soon as
 * its head is parsed, and a request with a body 413, both without reading
 * the body: the connection then closes (after a short lingering read, so
 * that the answer is not lost to a reset). Heads are parsed by http1.c, read
 * into at most max_head_bytes of memory (431 beyond, 414 for a request line
 * over HTTPD_LINE_MAX). At most max_clients connections are open at once;
 * one more takes the slot of the keep-alive connection idle longest, or is
 * answered 503 and closed at once when none is idle, so clients can never
 * take more descriptors than that. A connection must deliver each request
 * head within timeout_seconds of its start or of the previous answer
 * (slow or idle clients are closed), and read each answer within as long
 * of the moment it starts going out (reset otherwise).
 *
 * Runs on one event base; not thread-safe. */
#ifndef WEIR_HTTPD_H
#define WEIR_HTTPD_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define HTTPD_LINE_MAX 2048          /* request line, CRLF excluded (414 beyond) */

struct httpd_limits {
	unsigned max_clients;        /* connections at once */
	size_t max_head_bytes;       /* request line and header fields */
	unsigned timeout_seconds;    /* to send a head, and to read an answer */
};

/* Answer a GET (or HEAD: the body is then counted, not sent) of PATH (the
 * target's path, query and fragment removed; NUL-terminated). Fill BODY,
 * set *TYPE to the Content-Type (static storage) and return the status
 * (200, 404 ...). */
typedef int (*httpd_handler_fn)(void *ctx, const char *path, struct evbuffer *body,
                                const char **type);

struct httpd;

/* Serve on FD, a listening stream socket (non-blocking), which is taken
 * over: closed by httpd_free, or at once when this fails. Returns NULL with
 * ERR. Release with httpd_free. */
struct httpd *httpd_new(struct event_base *base, evutil_socket_t fd, const struct httpd_limits *lim,
                        httpd_handler_fn handler, void *ctx, char *err, size_t errlen);

/* Stop listening and close every connection. NULL is allowed. */
void httpd_free(struct httpd *h);

#endif
