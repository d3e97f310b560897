/* http1: a strict, incremental, zero-copy HTTP/1.1 message-head parser and
 * body-framing decoder (RFC 9112).
 *
 * Pure code: no allocation, no I/O, no libevent. The caller owns the bytes.
 * No global mutable state: threads may use separate parsers freely; one parser
 * (or chunked decoder) belongs to one thread at a time.
 *
 * Zero-copy: every name, value, method, target and reason is reported as a
 * span (offset, length) relative to the start of the buffer passed in, so the
 * results stay valid if the caller's buffer is moved (e.g. evbuffer_pullup
 * re-linearising it) as long as the bytes themselves are unchanged.
 *
 * Incremental: http1_parse_head may be called repeatedly with the same growing
 * buffer (the first LEN bytes unchanged between calls); it resumes where it
 * stopped instead of rescanning. Any split of the input gives the same result
 * as feeding it whole; ERROR and DONE are sticky until the next init.
 *
 * Strict: what RFC 9112 lets a recipient refuse is refused (bare LF, bare CR,
 * NUL, obs-fold, space before a colon, CL+TE, duplicate Content-Length or
 * Host, a transfer coding list not ending in "chunked" ...). The full list of
 * decisions is at the top of src/http1.c. */
#ifndef WEIR_HTTP1_H
#define WEIR_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_MAX_HEADERS 128
/* Names all Connection fields of a head may list together (close and
 * keep-alive included); more is refused, never partly ignored. */
#define HTTP1_MAX_CONN_NAMES 32
/* Transfer codings other than chunked a message may carry (e.g. gzip). */
#define HTTP1_MAX_CODINGS 4

/* The transfer codings weir knows and forwards (RFC 9110 8.4.1, 9112 7). */
enum http1_coding {
	HTTP1_TC_GZIP = 1,
	HTTP1_TC_X_GZIP,
	HTTP1_TC_DEFLATE,
	HTTP1_TC_COMPRESS,
	HTTP1_TC_X_COMPRESS
};

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
	HTTP1_E_NOT_IMPLEMENTED,      /* 501: final coding not "chunked", or an unknown coding */
	HTTP1_E_VERSION,              /* 505: HTTP/x.y other than 1.0 or 1.1 */
	HTTP1_E_BAD_RESPONSE          /* response head is malformed (weir answers 502) */
};

/* Status code weir sends for an error (400, 414, 431, 501, 505, or 502). */
int http1_error_status(enum http1_error e);
/* Short reason text, e.g. "Bad Request". */
const char *http1_error_reason(enum http1_error e);
/* The reason phrase of a status weir itself sends ("Error" for others). */
const char *http1_status_reason(int status);

/* A parsed head. Request fields are set for requests, status/reason for responses. */
struct http1_head {
	struct http1_span method;     /* request */
	struct http1_span target;     /* request */
	int status;                   /* response: 100..599 */
	struct http1_span reason;     /* response */
	int minor_version;            /* 0 or 1 (HTTP/1.0, HTTP/1.1) */

	struct http1_header headers[HTTP1_MAX_HEADERS];
	unsigned nheaders;
	size_t head_len;              /* bytes of the head including the final CRLF CRLF
	                               * (and any empty lines skipped before a request line) */

	/* Derived from the fields while parsing. */
	enum http1_body body;         /* for responses: before http1_response_body() */
	uint64_t content_length;      /* valid when body == HTTP1_BODY_LENGTH (may be 0);
	                               * never above INT64_MAX */
	bool keep_alive;              /* HTTP/1.1 unless Connection: close; HTTP/1.0 only with
	                               * Connection: keep-alive; false for a response
	                               * delimited by close (not 1xx/204/304) */
	bool expect_continue;         /* HTTP/1.1 request carried "Expect: 100-continue"
	                               * (ignored in HTTP/1.0, RFC 9110 10.1.1) */
	bool is_head;                 /* request method is exactly HEAD */
	bool is_connect;              /* request method is exactly CONNECT (weir answers 501) */
	bool has_upgrade;             /* an Upgrade field is present */
	bool conn_names;              /* a Connection field lists a name other than
	                               * close and keep-alive */
	struct http1_span authority;  /* request in absolute-form: the target's
	                               * authority (never empty); len 0 otherwise */
	struct http1_span path;       /* absolute-form: what follows the authority
	                               * (path, query; may be empty) */
	uint8_t codings[HTTP1_MAX_CODINGS]; /* transfer codings other than chunked,
	                               * in order (enum http1_coding) */
	uint8_t ncodings;
};

struct http1_parser {
	enum http1_kind kind;
	size_t max_head_bytes;        /* refuse (431) beyond this */
	size_t max_line_bytes;        /* request line limit, CRLF excluded (414) */
	/* resumable scan state (private) */
	size_t scanned;               /* bytes already searched for the current line's LF */
	int state;
	size_t line_start;            /* offset of the line being scanned */
	unsigned empty_lines;         /* CRLFs skipped before the request line */
	unsigned flags;               /* fields seen so far (H1F_* in http1.c) */
	unsigned conn_count;          /* Connection list elements so far */
	enum http1_error error;
	struct http1_head head;
};

enum http1_result {
	HTTP1_DONE = 0,               /* head complete: p->head is filled in */
	HTTP1_AGAIN = 1,              /* need more bytes */
	HTTP1_ERROR = -1              /* refused: see p->error */
};

/* Prepare P to parse one head of KIND. Call again before each new message.
 * MAX_HEAD_BYTES bounds the whole head (431, or BAD_RESPONSE for responses);
 * MAX_LINE_BYTES bounds a request line, CRLF excluded (414); it is not applied
 * to status lines. Limits above UINT32_MAX are treated as UINT32_MAX. */
void http1_parser_init(struct http1_parser *p, enum http1_kind kind,
                       size_t max_head_bytes, size_t max_line_bytes);

/* Parse the head at the start of BUF (LEN bytes available). Returns DONE with
 * p->head filled in (the head is the first p->head.head_len bytes; anything
 * after it is body or the next message), AGAIN when more bytes are needed, or
 * ERROR with p->error set. Every error in a response head is
 * HTTP1_E_BAD_RESPONSE. Never allocates. */
enum http1_result http1_parse_head(struct http1_parser *p, const char *buf, size_t len);

/* P, just initialised, takes DONE as its result without a scan: DONE is
 * the head another parser returned HTTP1_DONE for, over the same bytes
 * (so the spans hold for them). True when parsing those bytes under P's
 * own limits would have returned DONE with that head too; false (P
 * unchanged: parse the bytes) when they might not fit P's limits. Saves
 * the second parse when one module writes a head another reads (the
 * HTTP/2 front hands its converted requests to the proxy this way). */
bool http1_parser_adopt(struct http1_parser *p, const struct http1_head *done);

/* A and B describe the same head: every span, count and derived field
 * (the unused parts of the header and coding arrays aside). */
bool http1_head_equal(const struct http1_head *a, const struct http1_head *b);

/* Decide a response's body framing given the request it answers:
 * HEAD requests, 1xx, 204 and 304 have no body (RFC 9112 6.3). Updates head->body.
 * keep_alive is left alone: a response to HEAD that carried neither
 * Content-Length nor Transfer-Encoding keeps keep_alive == false (conservative). */
void http1_response_body(struct http1_head *resp, bool request_was_head);

/* The name of a transfer coding, e.g. "gzip". */
const char *http1_coding_name(uint8_t coding);

/* Write into OUT the request-target H is forwarded with: origin-form for an
 * absolute-form target (its path and query, "/" when the path is empty, "*"
 * for OPTIONS without path or query: RFC 9112 3.2.1, 3.2.4), the target as
 * received otherwise. OUT must hold h->target.len + 1 bytes. Returns the
 * length written. */
size_t http1_forward_target(const char *buf, const struct http1_head *h, char *out);

/* Longest line http1_put_transfer_encoding writes. */
#define HTTP1_TE_LINE_MAX (sizeof "Transfer-Encoding: \r\n" - 1 + \
                           HTTP1_MAX_CODINGS * sizeof "x-compress, " + sizeof "chunked")
/* Write into OUT the Transfer-Encoding field line (CRLF included) for H's
 * codings (h->codings) followed by "chunked" when CHUNKED; nothing when that
 * list is empty. OUT must hold HTTP1_TE_LINE_MAX bytes. Returns the length. */
size_t http1_put_transfer_encoding(const struct http1_head *h, bool chunked, char *out);

/* ---- Connection-listed fields (RFC 9110 7.6.1) ---------------------------
 * The field names a head's Connection fields ask the next hop to drop, minus
 * those that must cross whatever Connection says: Host, Content-Length and
 * Transfer-Encoding (framing, routing), Cookie and Authorization (what the
 * request was routed and authenticated by), X-Forwarded-For and
 * X-Forwarded-Proto (weir writes them), and the caller's KEEP names. */
struct http1_conn_names {
	struct http1_span name[HTTP1_MAX_CONN_NAMES];
	unsigned n;
};

/* Fill OUT from the Connection fields of H (a head parsed from BUF). KEEP:
 * NULL or a NULL-terminated array of further names that must cross (any
 * case; NULL entries before the end are not allowed). */
void http1_conn_names_get(const char *buf, const struct http1_head *h,
                          const char *const *keep, struct http1_conn_names *out);

/* NAME (a span of BUF) is one of L's names, ignoring case. */
bool http1_conn_names_has(const char *buf, const struct http1_conn_names *l,
                          struct http1_span name);

/* Compare a span of BUF with a lower-case token, case-insensitively (ASCII
 * letters only are folded). */
bool http1_span_ieq(const char *buf, struct http1_span s, const char *lower);

/* S (N bytes) is a token (RFC 9110 5.6.2): one or more tchar. */
bool http1_is_token(const char *s, size_t n);
/* S (N bytes) is an authority as weir accepts one in a request target:
 * host [":" port], host a bracketed IPv6 address, a dotted-quad IPv4
 * address or a reg-name of unreserved and pct-encoded bytes (no userinfo,
 * no sub-delims), port 1-5 digits not above 65535. */
bool http1_valid_authority(const char *s, size_t n);

/* ---- chunked body decoder -----------------------------------------------
 * Validates chunked framing (sizes, extensions, CRLFs, trailer fields) byte by
 * byte without copying. http1_chunked_step tells data from framing so that the
 * caller re-frames the body (weir writes minimal chunk sizes, no extensions
 * and no trailers) or removes the chunking.
 * Limits: chunk size <= INT64_MAX, a chunk-size line (extensions and CRLF
 * included) <= 4096 bytes, the trailer section (final CRLF included) <= 65536
 * bytes. Any split of the input gives the same result. */
struct http1_chunked {
	int state;                    /* private */
	uint64_t remaining;           /* data bytes left in the current chunk */
	uint32_t line_len;            /* bytes of the current chunk-size line */
	uint64_t total_trailer;       /* bytes of trailer section so far */
	bool done;                    /* the last chunk and trailers were consumed */
};

/* Prepare C to decode one chunked body. Call again before each new body. */
void http1_chunked_init(struct http1_chunked *c);

/* Consume up to LEN bytes of chunked body. Returns the number of bytes that
 * belong to the body (stops right after the final CRLF, so bytes of the next
 * message are never consumed), or -1 on a framing error. c->done is set once
 * the body is complete; after that it returns 0. Once it has returned -1 it
 * keeps returning -1. */
ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len);

/* What the bytes consumed by one http1_chunked_step were. */
enum http1_chunk_part {
	HTTP1_CHUNK_FRAMING,          /* framing only (size lines, extensions, CRLFs,
	                               * trailer fields) */
	HTTP1_CHUNK_SIZE,             /* framing ending with the size line of a chunk of
	                               * c->remaining (> 0) bytes, which follow */
	HTTP1_CHUNK_DATA,             /* chunk data; c->remaining is what is left of
	                               * the chunk (0: its data is complete) */
	HTTP1_CHUNK_LAST,             /* framing ending the body (c->done is set) */
	HTTP1_CHUNK_TRAILERS          /* framing ending with the last chunk's size line:
	                               * what follows up to and including the LAST
	                               * step is the trailer section (its fields,
	                               * then the final CRLF) */
};

/* Like http1_chunked_feed, but stops where data and framing meet, after each
 * chunk-size line and at the end of the body, and says in *PART what the
 * consumed bytes were. Returns the bytes consumed (0 only when LEN is 0 or
 * the body is done), or -1 on a framing error (sticky). */
ssize_t http1_chunked_step(struct http1_chunked *c, const char *buf, size_t len,
                           enum http1_chunk_part *part);

/* STATUS (100..599, as the parser and HTTP/2 hold it) as its three digits
 * in OUT; no terminator. */
void http1_put_status(int status, char out[3]);

/* Longest chunk-size line http1_chunk_size_line writes. */
#define HTTP1_CHUNK_SIZE_LINE_MAX 18
/* Write the chunk-size line for SIZE into OUT: minimal lower-case hex, no
 * extension, CRLF. Returns its length. */
size_t http1_chunk_size_line(uint64_t size, char out[HTTP1_CHUNK_SIZE_LINE_MAX]);

#endif
