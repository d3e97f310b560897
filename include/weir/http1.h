/* http1: a strict, incremental, zero-copy HTTP/1.1 message-head parser and
 * body-framing decoder (RFC 9112).
 *
 * Pure code: no allocation, no I/O, no libevent. The caller owns the bytes.
 *
 * Zero-copy: every name, value, method, target and reason is reported as a
 * span (offset, length) relative to the start of the buffer passed in, so the
 * results stay valid if the caller's buffer is moved (e.g. evbuffer_pullup
 * re-linearising it) as long as the bytes themselves are unchanged.
 *
 * Incremental: http1_parse_head may be called repeatedly with the same growing
 * buffer (the first LEN bytes unchanged between calls); it resumes where it
 * stopped instead of rescanning. */
#ifndef WEIR_HTTP1_H
#define WEIR_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_MAX_HEADERS 128

struct http1_span {
	uint32_t off;
	uint32_t len;
};

struct http1_header {
	struct http1_span name;
	struct http1_span value;      /* leading/trailing OWS already trimmed */
};

enum http1_kind {
	HTTP1_REQUEST,
	HTTP1_RESPONSE
};

/* How the body of a message is delimited (RFC 9112 section 6.3). */
enum http1_body {
	HTTP1_BODY_NONE,              /* no body */
	HTTP1_BODY_LENGTH,            /* content_length bytes */
	HTTP1_BODY_CHUNKED,           /* chunked transfer coding */
	HTTP1_BODY_CLOSE              /* response only: until the server closes */
};

/* Why a head was refused; each maps to the status weir answers with. */
enum http1_error {
	HTTP1_E_NONE = 0,
	HTTP1_E_BAD_REQUEST,          /* 400: syntax, obs-fold, space before colon, bad CL, CL+TE, NUL/bare CR ... */
	HTTP1_E_URI_TOO_LONG,         /* 414: request line longer than allowed */
	HTTP1_E_HEADERS_TOO_LARGE,    /* 431: head larger than max_head_bytes, or too many fields */
	HTTP1_E_NOT_IMPLEMENTED,      /* 501: a transfer coding other than a final "chunked" */
	HTTP1_E_VERSION,              /* 505: HTTP/x.y other than 1.0 or 1.1 */
	HTTP1_E_BAD_RESPONSE          /* response head is malformed (weir answers 502) */
};

/* Status code weir sends for an error (400, 414, 431, 501, 505, or 502). */
int http1_error_status(enum http1_error e);
/* Short reason text, e.g. "Bad Request". */
const char *http1_error_reason(enum http1_error e);

/* A parsed head. Request fields are set for requests, status/reason for responses. */
struct http1_head {
	struct http1_span method;     /* request */
	struct http1_span target;     /* request */
	int status;                   /* response: 100..999 */
	struct http1_span reason;     /* response */
	int minor_version;            /* 0 or 1 (HTTP/1.0, HTTP/1.1) */

	struct http1_header headers[HTTP1_MAX_HEADERS];
	unsigned nheaders;
	size_t head_len;              /* bytes of the head including the final CRLF CRLF */

	/* Derived from the fields while parsing. */
	enum http1_body body;         /* for responses: before http1_response_body() */
	uint64_t content_length;      /* valid when body == HTTP1_BODY_LENGTH */
	bool keep_alive;              /* version + Connection: close/keep-alive */
	bool expect_continue;         /* request carried "Expect: 100-continue" */
	bool is_head;                 /* request method is HEAD */
	bool is_connect;              /* request method is CONNECT (weir answers 501) */
	bool has_upgrade;             /* Connection: upgrade / Upgrade field present */
};

struct http1_parser {
	enum http1_kind kind;
	size_t max_head_bytes;        /* refuse (431) beyond this */
	size_t max_line_bytes;        /* request line limit (414) */
	/* resumable scan state (private) */
	size_t scanned;
	int state;
	enum http1_error error;
	struct http1_head head;
};

enum http1_result {
	HTTP1_DONE = 0,               /* head complete: p->head is filled in */
	HTTP1_AGAIN = 1,              /* need more bytes */
	HTTP1_ERROR = -1              /* refused: see p->error */
};

/* Prepare P to parse one head of KIND. Call again before each new message. */
void http1_parser_init(struct http1_parser *p, enum http1_kind kind,
                       size_t max_head_bytes, size_t max_line_bytes);

/* Parse the head at the start of BUF (LEN bytes available). */
enum http1_result http1_parse_head(struct http1_parser *p, const char *buf, size_t len);

/* Decide a response's body framing given the request it answers:
 * HEAD requests, 1xx, 204 and 304 have no body (RFC 9112 6.3). Updates head->body. */
void http1_response_body(struct http1_head *resp, bool request_was_head);

/* Compare a span of BUF with a lower-case token, case-insensitively. */
bool http1_span_ieq(const char *buf, struct http1_span s, const char *lower);

/* ---- chunked body decoder -----------------------------------------------
 * Validates chunked framing (sizes, extensions, CRLFs, trailer fields) byte by
 * byte without copying. The caller forwards the consumed bytes verbatim. */
struct http1_chunked {
	int state;                    /* private */
	uint64_t remaining;           /* data bytes left in the current chunk */
	uint32_t line_len;            /* bytes of the current size/trailer line */
	uint64_t total_trailer;       /* bytes of trailer section so far */
	bool done;                    /* the last chunk and trailers were consumed */
};

void http1_chunked_init(struct http1_chunked *c);

/* Consume up to LEN bytes of chunked body. Returns the number of bytes that
 * belong to the body (stops right after the final CRLF, so bytes of the next
 * message are never consumed), or -1 on a framing error. c->done is set once
 * the body is complete. */
ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len);

#endif
