/* h2session: the server side of one HTTP/2 connection (RFC 9113), on
 * libnghttp2.
 *
 * Owns the connection's HTTP/2 state: frames, HPACK, flow control, the
 * streams and their response queues, and the abuse limits. Each request
 * stream becomes an HTTP/1.1 request head through h2conv (so an h2 request
 * reaches the proxy as the same head an HTTP/1.1 client could have sent,
 * with the RFC 9113 8.2/8.3 refusals applied), then body bytes, then its
 * end (with trailers, if any). The owner (the proxy) answers on the same
 * stream: a response head from an HTTP/1.1 response (connection-specific
 * fields dropped) or from a field list, body bytes, trailers, the end.
 *
 * No sockets, no libevent, no clock: bytes read from the client go in with
 * h2session_recv, bytes for the client come out of h2session_output, and
 * the caller passes the time (milliseconds of any monotonic clock) to both.
 * Owner callbacks run inside h2session_recv and h2session_output only. A
 * callback may call every function below that takes a struct h2stream
 * (respond, send, end, reset, consume), and h2session_shutdown or
 * h2session_terminate, but never h2session_recv, h2session_output or
 * h2session_free. One session belongs to one thread.
 *
 * Limits (struct h2session_limits), each answered by RST_STREAM for one
 * stream or by GOAWAY for the connection; h2session_abuse says which:
 *   - max_streams concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS):
 *     more are refused (REFUSED_STREAM before the client has our SETTINGS,
 *     a connection error after);
 *   - streams ended early, by the client's RST_STREAM or by a stream error
 *     the client caused, take from a token bucket (reset_burst, reset_rate
 *     per second): empty, GOAWAY ENHANCE_YOUR_CALM (rapid reset,
 *     CVE-2023-44487). With the defaults a burst of any number of HEADERS +
 *     RST_STREAM pairs hands at most max_streams + 1 requests to the owner;
 *   - a request's fields are counted as SETTINGS_MAX_HEADER_LIST_SIZE counts
 *     them (name + value + 32 each): beyond max_header_list the request is
 *     answered 431 and not handed over; at most max_continuations
 *     CONTINUATION frames follow a HEADERS frame, more is GOAWAY
 *     (CONTINUATION flood, CVE-2024-27316); the HPACK table the client may
 *     fill is header_table bytes (SETTINGS_HEADER_TABLE_SIZE), ours 4096;
 *   - PING, SETTINGS, PRIORITY, empty DATA and WINDOW_UPDATE frames of
 *     less than 1 KiB, and streams refused beyond max_streams, take from a
 *     second bucket (control_burst, control_rate per second, one token back
 *     per request and per non-empty DATA frame from the client, two per
 *     DATA frame of ours that emptied its stream's queue, which a client may
 *     answer with two small WINDOW_UPDATEs: gRPC's small messages): empty, GOAWAY
 *     ENHANCE_YOUR_CALM (ping, settings, empty-frame floods, data
 *     dribble); unread PING and SETTINGS ACKs beyond 200, or more than 32
 *     entries in one SETTINGS frame, end the connection too;
 *   - request bodies are flow-controlled by what the owner has consumed
 *     (h2session_consume): a stream has at most stream_window unconsumed
 *     bytes, the connection conn_window;
 *   - response bodies wait in per-stream queues of at most stream_buffer
 *     bytes, conn_buffer for the connection: h2session_send_data takes what
 *     fits and the rest waits for on_writable (backpressure: the owner stops
 *     reading the backend). A stream whose queued data cannot move because
 *     the client gives no window is stalled (h2session_stream_stalled_since,
 *     h2session_expire_stalled), so the owner can time it out; so is one
 *     whose response is complete while the client has not ended its
 *     request (no END_STREAM after an early answer or a body complete by
 *     its content-length);
 *   - all heap memory of the session (nghttp2's included, through a
 *     counting allocator) is capped at max_memory: an allocation beyond it
 *     fails, which ends the connection.
 * Memory: about 25 KiB for an idle connection after the handshake, plus
 * about 0.5 KiB per open stream, plus the queued response bytes (at most
 * conn_buffer) and one request head while it is decoded and converted;
 * tests/unit/test_h2session.c measures these (h2session_memory). */
#ifndef WEIR_H2SESSION_H
#define WEIR_H2SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weir/h2conv.h"
#include "weir/http1.h"

struct h2session;
/* One stream of a session, from its request HEADERS until on_close. */
struct h2stream;

/* RFC 9113 section 7 error codes the owner may use. */
#define H2SESSION_NO_ERROR 0x0u
#define H2SESSION_PROTOCOL_ERROR 0x1u
#define H2SESSION_INTERNAL_ERROR 0x2u
#define H2SESSION_REFUSED_STREAM 0x7u
#define H2SESSION_CANCEL 0x8u
#define H2SESSION_ENHANCE_YOUR_CALM 0xbu

struct h2session_limits {
	uint32_t max_streams;         /* concurrent streams (limits.h2_max_streams) */
	uint32_t max_header_list;     /* a request's fields, RFC 9113 counting;
	                               * also the HTTP/1.1 head limit of h2conv */
	uint32_t header_table;        /* HPACK dynamic table the client may use */
	uint32_t max_continuations;   /* CONTINUATION frames after one HEADERS */
	uint32_t stream_window;       /* unconsumed request body bytes, per stream */
	uint32_t conn_window;         /* ... and for the connection */
	uint32_t stream_buffer;       /* queued response body bytes, per stream */
	uint32_t conn_buffer;         /* ... and for the connection */
	uint32_t reset_burst;         /* streams ended early: bucket size */
	uint32_t reset_rate;          /* ... tokens back per second */
	uint32_t control_burst;       /* PING, SETTINGS, PRIORITY, empty DATA */
	uint32_t control_rate;        /* ... tokens back per second */
	size_t max_memory;            /* heap bytes of the whole session */
};

/* The limits for MAX_STREAMS concurrent streams and MAX_HEADER_BYTES of
 * request head (limits.max_header_bytes): header_table 4096,
 * max_continuations 8, stream_window 65535, conn_window 1 MiB,
 * stream_buffer 64 KiB, conn_buffer 1 MiB, reset_burst MAX_STREAMS,
 * reset_rate MAX_STREAMS / 10 (at least 1), control_burst 100,
 * control_rate 10, max_memory what the rest can use plus a margin. */
void h2session_limits_default(struct h2session_limits *l, uint32_t max_streams, uint32_t max_header_bytes);

/* What the owner is told. ARG is the one given to h2session_new. Every
 * callback may be NULL but on_request. */
struct h2session_callbacks {
	/* A request stream's head is complete and accepted: HEAD (LEN bytes)
	 * is an HTTP/1.1 request head, PARSED weir's parse of it (spans into
	 * HEAD) and REQ its framing (h2conv_request). All three are valid
	 * during the call only. Body bytes, then on_end, follow, unless the
	 * stream closes first; on_close comes in any case. */
	void (*on_request)(struct h2stream *st, const char *head, size_t len, const struct http1_head *parsed,
	                   const struct h2conv_request *req, void *arg);
	/* Request body bytes (valid during the call). The client may send at
	 * most stream_window more bytes than the owner has consumed with
	 * h2session_consume. */
	void (*on_data)(struct h2stream *st, const uint8_t *data, size_t len, void *arg);
	/* The request is complete: its body had the length it announced.
	 * TRAILERS (N fields, lower-case names, no pseudo-headers and none of
	 * the fields that frame or route a message) are valid during the
	 * call; N is 0 without trailers. */
	void (*on_end)(struct h2stream *st, const struct h2conv_field *trailers, size_t n, void *arg);
	/* ST's response queue has room again after h2session_send_data took
	 * less than it was given. */
	void (*on_writable)(struct h2stream *st, void *arg);
	/* ST is gone: ERROR_CODE 0 when both sides ended it, else the RFC 9113
	 * code of the RST_STREAM or GOAWAY that ended it; BY_CLIENT when the
	 * client sent it. Called exactly once for every stream on_request was
	 * called for (from h2session_free too); ST is invalid after it. */
	void (*on_close)(struct h2stream *st, uint32_t error_code, bool by_client, void *arg);
	/* A request refused before it reached the owner: STATUS 400 (reset
	 * with PROTOCOL_ERROR), 431 or 501 (answered with that status), and
	 * why, for the log. */
	void (*on_refused)(int32_t stream_id, int status, const char *why, void *arg);
};

/* Why a session ended the connection. */
enum h2session_abuse {
	H2SESSION_ABUSE_NONE,
	H2SESSION_ABUSE_PROTOCOL,     /* a connection error of RFC 9113 (bad preface, frames ...) */
	H2SESSION_ABUSE_RAPID_RESET,  /* the reset bucket ran dry */
	H2SESSION_ABUSE_CONTROL_FLOOD,/* the control-frame bucket ran dry, or unread ACKs piled up */
	H2SESSION_ABUSE_CONTINUATION, /* more than max_continuations CONTINUATION frames */
	H2SESSION_ABUSE_MEMORY        /* max_memory reached */
};

/* Counters of one session, for the proxy's metrics and logs. */
struct h2session_stats {
	uint64_t requests;            /* handed to the owner (on_request) */
	uint64_t refused;             /* refused before that (on_refused) */
	uint64_t client_resets;       /* RST_STREAM frames from the client */
	uint64_t stalls_expired;      /* streams reset by h2session_expire_stalled */
	size_t memory_peak;           /* most heap bytes held at once */
};

/* A server session with LIMITS and the owner's callbacks CB (copied) and
 * ARG. Queues the server's SETTINGS; the first bytes h2session_recv takes
 * must be the client connection preface. NOW_MS starts the buckets.
 * Returns NULL with a message in ERR (ERRLEN bytes) when the limits are
 * unusable or memory is short. Release with h2session_free. */
struct h2session *h2session_new(const struct h2session_limits *limits, const struct h2session_callbacks *cb,
                                void *arg, uint64_t now_ms, char *err, size_t errlen);

/* Release S: on_close (CANCEL, not by the client) for every stream the
 * owner still holds, then all memory. NULL is ignored. */
void h2session_free(struct h2session *s);

/* Feed LEN bytes read from the client, at NOW_MS. Returns 0, or -1 when
 * the connection is over (a limit, a bad preface, a flood): send what
 * h2session_output still has (the GOAWAY), then close. A connection error
 * nghttp2 finds in a frame (RFC 9113 5.4.1) returns 0: its GOAWAY goes out
 * with the next output, after which h2session_done holds and
 * h2session_abuse says PROTOCOL. Bytes after the end are ignored. */
int h2session_recv(struct h2session *s, const uint8_t *data, size_t len, uint64_t now_ms);

/* The next bytes for the client: sets *DATA and returns their length,
 * valid until the next call of any h2session function; 0 when there is
 * nothing more to send now, -1 when the session failed (close at once).
 * Call it until it returns 0 while the client's socket takes bytes;
 * response bodies move only as fast as this is called. */
ssize_t h2session_output(struct h2session *s, const uint8_t **data, uint64_t now_ms);

/* The same as calling h2session_output until it returns 0 and passing
 * each span to SINK (which returns 0, or -1 to fail the session), but
 * stopping once MAX bytes went (the last frame is whole: at most one DATA
 * frame, 16 KiB + 9, or one other frame over MAX). Response bodies go from
 * their queues to SINK directly: one copy fewer than through
 * h2session_output. Returns the bytes passed (at most MAX), -1 when the
 * session or SINK failed (close at once). */
ssize_t h2session_output_to(struct h2session *s, int (*sink)(const uint8_t *data, size_t len, void *arg),
                            void *arg, size_t max, uint64_t now_ms);

/* S has bytes for h2session_output (or on_writable calls to make there). */
bool h2session_want_write(const struct h2session *s);

/* S will neither read nor write anything more: close the connection. */
bool h2session_done(const struct h2session *s);

/* Graceful GOAWAY (NO_ERROR): streams already begun finish, no new ones
 * are taken; S is done once they have. For a reload or drain. */
void h2session_shutdown(struct h2session *s);

/* GOAWAY with ERROR_CODE now: no stream makes progress any more, S is
 * done once the GOAWAY is out; h2session_free ends the streams left
 * (on_close). */
void h2session_terminate(struct h2session *s, uint32_t error_code);

/* Why S ended the connection (NONE while it has not) and its name
 * ("rapid reset", ...). */
enum h2session_abuse h2session_abuse(const struct h2session *s);
const char *h2session_abuse_name(enum h2session_abuse a);

const struct h2session_stats *h2session_stats(const struct h2session *s);

/* Heap bytes S holds now (nghttp2's and its own). */
size_t h2session_memory(const struct h2session *s);

/* Streams that are open now. */
size_t h2session_streams(const struct h2session *s);

/* The earliest time a stream of S became stalled, 0 when none is: the
 * owner arms one timer per connection at that time + its timeout. */
uint64_t h2session_oldest_stall(const struct h2session *s);

/* Reset every stream stalled since NOW_MS - STALL_MS or earlier (on_close
 * follows): with CANCEL one whose response waits for window, with NO_ERROR
 * one whose response is complete while its request has not ended (RFC 9113
 * 8.1). Returns how many. */
size_t h2session_expire_stalled(struct h2session *s, uint64_t now_ms, uint64_t stall_ms);

/* ---- one stream ---------------------------------------------------------- */

/* The stream's id, and the pointer the owner attached (NULL at first). */
int32_t h2session_stream_id(const struct h2stream *st);
void *h2session_stream_owner(const struct h2stream *st);
void h2session_stream_set_owner(struct h2stream *st, void *owner);

/* The session ST belongs to. */
struct h2session *h2session_stream_session(const struct h2stream *st);

/* When ST's queued response data stopped moving for want of flow-control
 * window, or its complete response went out before its request ended (the
 * NOW_MS of that h2session_output), 0 when it is not stalled. */
uint64_t h2session_stream_stalled_since(const struct h2stream *st);

/* Response bytes queued on ST, not yet handed to h2session_output. */
size_t h2session_stream_queued(const struct h2stream *st);

/* The response head from an HTTP/1.1 response: RESP parsed from BUF
 * (http1_parse_head). The status and every field but the
 * connection-specific ones (Connection, the names it lists, Keep-Alive,
 * Proxy-Connection, Transfer-Encoding, Upgrade, TE) are sent, names in
 * lower case. A 1xx status (not 101) is an interim response: a final one
 * must follow. END: the response has no body (nor trailers). Returns 0, or
 * -1 (101, a final response already given, ST ended). */
int h2session_respond_http1(struct h2stream *st, const char *buf, const struct http1_head *resp, bool end);

/* The response head from STATUS (100..599, not 101) and FIELDS[0..N),
 * filtered like h2session_respond_http1 (pseudo-headers dropped too). */
int h2session_respond(struct h2stream *st, int status, const struct h2conv_field *fields, size_t n, bool end);

/* Queue response body bytes on ST, after its final response head.
 * Returns how many of LEN were taken (copied): fewer when ST's queue or
 * the connection's is full; on_writable says when to offer the rest.
 * Returns 0 when ST cannot take data (no head yet, ended, reset). */
size_t h2session_send_data(struct h2stream *st, const void *data, size_t len);

/* End ST's response after its queued data, with trailers FIELDS[0..N)
 * (filtered like a head; N 0: no trailers). Returns 0, or -1 when ST
 * has no final head yet or has already ended. */
int h2session_send_end(struct h2stream *st, const struct h2conv_field *fields, size_t n);

/* Reset ST with ERROR_CODE (RST_STREAM); on_close follows. Its queued
 * data is dropped. */
void h2session_reset(struct h2stream *st, uint32_t error_code);

/* The owner has passed on LEN request body bytes of ST: the client may
 * send that many more (WINDOW_UPDATE). */
void h2session_consume(struct h2stream *st, size_t len);

#endif
