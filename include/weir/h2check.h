/* h2check: the HTTP/2 half of the health checks of an "h2" pool (see
 * Owns: one check connection's HTTP/2 session and the verdict on its check stream; no I/O.
 * health.h for the half that owns sockets, timers and states): one
 * libnghttp2 client session per check connection, each check one stream
 * on it.
 *
 * No sockets, no libevent, no clock, like h2session: bytes read from the
 * server go in with h2check_recv, bytes for the server come out of
 * h2check_output; the caller owns the connection (h2c, or TLS with ALPN
 * "h2") and the check's deadline. weir's HTTP/2 client for requests
 * (h2up) is not used: it bridges a proxy request through a bufferevent
 * pair on a worker, with flow control tied to the proxy's reads, where a
 * check wants one status; and a session without I/O is what unit tests
 * drive frame by frame.
 *
 * A check is HEADERS with END_STREAM: :method GET, :scheme ("http", or
 * "https" over TLS), :authority, :path, and the user-agent (weir-check)
 * and accept fields of an HTTP/1.1 check: the same request. The :status
 * of the final response head answers it (interim 1xx heads are skipped).
 * The body is not wanted: once the head is in, an open stream is reset
 * (CANCEL), and the connection serves the next check, as long as the
 * server lets it (no GOAWAY, no failure).
 *
 * A check fails, with a reason for the log, on: RST_STREAM from the server,
 * a GOAWAY that leaves the stream unanswered, a response nghttp2 finds
 * malformed, a connection error (a first frame that is not SETTINGS, a bad
 * frame: nghttp2's message), an answer in HTTP/1.x, a response head larger
 * than H2CHECK_HEAD_MAX, more than H2CHECK_INPUT_MAX bytes from the server
 * without an answer, or the connection's end (h2check_fail). A failed
 * check leaves the session unusable: close the connection.
 *
 * Bounds, so that a server can fail a check but not grow weir:
 *   - a response head counts its fields as SETTINGS_MAX_HEADER_LIST_SIZE
 *     does (name + value + 32 each), and that setting is announced;
 *     nghttp2 keeps one field of at most 64 KiB while it decodes, after at
 *     most 8 CONTINUATION frames; the HPACK table is 4 KiB;
 *   - no server push, no closed streams kept, at most 32 entries in one
 *     SETTINGS frame and 100 PING/SETTINGS ACKs not yet sent;
 *   - a stream window of 16 KiB: the body the server may send before the
 *     reset reaches it (nghttp2 acknowledges what it drops);
 *   - more than H2CHECK_INPUT_MAX bytes between two checks (frames of any
 *     kind, endless) end the session.
 * The caller bounds what it queues for the server (a server that does not
 * read), and the check's time. */
#ifndef WEIR_H2CHECK_H
#define WEIR_H2CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A response head larger than this (RFC 9113 counting) fails the check. */
#define H2CHECK_HEAD_MAX 16384
/* Bytes from the server from one check's start to the next; more ends the
 * session (and fails a check in flight). */
#define H2CHECK_INPUT_MAX (256 * 1024)
/* Room for a reason, NUL included. */
#define H2CHECK_REASON_MAX 160

struct h2check;

/* Where the session's current check stands. */
enum h2check_state {
	H2CHECK_IDLE,       /* no check sent yet */
	H2CHECK_WAITING,    /* a check is sent, its final response head has not come */
	H2CHECK_ANSWERED,   /* it came: h2check_status */
	H2CHECK_FAILED      /* the check failed: h2check_reason; the session is unusable */
};

/* A client session: the connection preface and SETTINGS are queued for
 * h2check_output. Returns NULL with a message in ERR (ERRLEN bytes) when
 * memory is short. Release with h2check_free. */
struct h2check *h2check_new(char *err, size_t errlen);

/* Release C. NULL is ignored. */
void h2check_free(struct h2check *c);

/* Send a check: GET PATH with :scheme SCHEME and :authority AUTHORITY
 * (copied). Requires h2check_usable. Returns 0, or -1 with the reason in
 * ERR (no stream left on the connection, out of memory). */
int h2check_request(struct h2check *c, const char *scheme, const char *authority, const char *path,
                    char *err, size_t errlen);

/* Feed LEN bytes read from the server. Returns 0, or -1 when the session
 * is over (send what h2check_output still has, then close); a check in
 * flight has then failed. */
int h2check_recv(struct h2check *c, const uint8_t *data, size_t len);

/* The next bytes for the server: sets *DATA and returns their length,
 * valid until the next call of any h2check function; 0 when there is
 * nothing to send now; -1 when the session failed (close). */
ssize_t h2check_output(struct h2check *c, const uint8_t **data);

/* The connection ended or failed, in words WHY ("Connection reset by
 * peer"): a check in flight fails with WHY, after the server's GOAWAY when
 * one came ("GOAWAY PROTOCOL_ERROR, then WHY"). Nothing changes for a
 * check already decided. */
void h2check_fail(struct h2check *c, const char *why);

enum h2check_state h2check_state(const struct h2check *c);

/* The final status of an ANSWERED check (100..599), else 0. */
int h2check_status(const struct h2check *c);

/* Why the check FAILED ("" otherwise). Valid until the next call that
 * changes C. */
const char *h2check_reason(const struct h2check *c);

/* The server has sent something on the current check's stream (HEADERS,
 * DATA, RST_STREAM): it saw the request. A check that failed without
 * this on a connection kept from an earlier check may have met the
 * server's idle close, and deserves a new connection. */
bool h2check_heard(const struct h2check *c);

/* C can take another check: no check in flight, none failed, no GOAWAY
 * either way, stream ids left. */
bool h2check_usable(const struct h2check *c);

/* C will neither read nor write any more: close the connection. */
bool h2check_done(const struct h2check *c);

#endif
