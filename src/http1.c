/* http1: a strict, incremental, zero-copy HTTP/1.1 head parser and chunked
 * body decoder (RFC 9112, RFC 9110). See include/weir/http1.h.
 *
 * How the head parser works. The head is cut into lines at LF (memchr, which
 * is vectorised in libc); a line is validated only once it is complete, with
 * 256-entry class tables (field values and the request-target eight bytes at
 * a time when they are long), and field lines are stored as soon as they are
 * complete. Between calls the parser keeps the start of the incomplete line
 * and how far it has searched it for LF, so a growing buffer is never
 * rescanned. Because every decision depends only on bytes before a fixed
 * position (a complete line, or a size limit), the result does not depend on
 * how the input was split.
 *
 * Strictness decisions (every one deliberate; the README lists them too):
 *  1. Lines must end in CRLF. A bare LF is refused (400) although RFC 9112
 *     2.2 allows accepting it: a proxy that disagrees with the backend about
 *     where a line ends is a smuggling vector.
 *  2. A bare CR anywhere in the head, and NUL or any other CTL except HTAB in
 *     a field value, is refused (400).
 *  3. Up to 4 empty lines (CRLF) before a request line are skipped (RFC 9112
 *     2.2 says SHOULD ignore at least one); a 5th is refused (400). They
 *     count towards max_head_bytes and head_len. Responses get no such
 *     allowance.
 *  4. Request line: method = token, exactly one SP, request-target of visible
 *     ASCII (0x21-0x7e; no obs-text, no CTL), exactly one SP, "HTTP/" DIGIT
 *     "." DIGIT and nothing after it. Bad syntax is 400; well-formed versions
 *     other than 1.0 and 1.1 are 505. "HTTP/1", "http/1.1", "HTTP/1.10" and
 *     trailing space are 400. Checks run in that order, then the target form,
 *     so "PRI * HTTP/2.0" is 505.
 *  5. Request-target form must match the method: origin-form ("/...") for
 *     any method but CONNECT; absolute-form only with the http or https
 *     scheme (case-insensitive) and an authority host [":" port];
 *     h->authority and h->path record the absolute-form's parts;
 *     authority-form (host ":" port) only and always for CONNECT;
 *     asterisk-form "*" only for OPTIONS. Anything else is 400. Authorities
 *     are checked strictly (valid_authority): host is a bracketed IPv6
 *     address, a dotted-quad IPv4 address or a reg-name of unreserved and
 *     pct-encoded bytes (no sub-delims, no userinfo), port 1-5 digits <=
 *     65535. A '#' anywhere in the target is 400 (RFC 9112 3.2 has no
 *     fragment). The path is not otherwise checked against RFC 3986, since
 *     deployed clients send unescaped | { } ^ and similar.
 *  6. The request line, CRLF excluded, must fit in max_line_bytes (414),
 *     reported as soon as max_line_bytes + 2 bytes of it arrive without its
 *     LF. If the head limit would be reached first, 431 wins.
 *  7. Status line: "HTTP/1.0" or "HTTP/1.1", SP, 3 digits in 100..599, then
 *     either SP and a reason of HTAB/SP/VCHAR/obs-text (kept verbatim, may be
 *     empty) or directly CRLF (no reason and no SP, which RFC 9112 4 does not
 *     allow but many servers send). Every response error is BAD_RESPONSE.
 *  8. Field lines: name = token followed immediately by ":" (whitespace
 *     before the colon is refused, RFC 9112 5.1); a line starting with SP or
 *     HTAB (obs-fold, or whitespace before the first field) is refused; empty
 *     names are refused; values are trimmed of OWS on both sides.
 *  9. More than HTTP1_MAX_HEADERS field lines is 431; a head longer than
 *     max_head_bytes is 431, reported as soon as max_head_bytes bytes have
 *     arrived without the end of the head.
 * 10. Content-Length must be 1*DIGIT (leading zeros allowed) not above
 *     INT64_MAX. Any second Content-Length field line is refused, even with
 *     the same value, and so is a list such as "5, 5" (RFC 9110 8.6 would let
 *     us accept identical duplicates; refusing is simpler and safer).
 * 11. Transfer-Encoding lines combine into one list. Each element must be a
 *     token with optional ";" name "=" (token / quoted-string) parameters;
 *     empty elements (", chunked", "gzip,,chunked", "chunked,") are ignored
 *     (RFC 9110 5.6.1), but a line without any element is refused (400).
 *     "chunked" with parameters is refused. Requests, checked
 *     in this order at the end of the head: HTTP/1.0 with Transfer-Encoding
 *     400 (RFC 9112 6.1 faulty framing); Transfer-Encoding with
 *     Content-Length 400 (we refuse rather than strip CL); final coding not
 *     chunked 501; chunked more than once 400; a coding weir does not know
 *     (known: gzip, x-gzip, deflate, compress, x-compress), a coding with
 *     parameters, or more than HTTP1_MAX_CODINGS codings besides chunked
 *     501. The known codings are recorded in order (h->codings) for the
 *     proxy to forward.
 * 12. Responses: Transfer-Encoding with Content-Length, in HTTP/1.0, with
 *     chunked more than once or chunked anywhere but last, or with a coding
 *     a request would get 501 for, is BAD_RESPONSE; a
 *     list ending in chunked is CHUNKED, another list is CLOSE; otherwise
 *     Content-Length gives LENGTH, and nothing gives CLOSE.
 * 13. Host: an HTTP/1.1 request without one, any request with two, or a value
 *     with a byte outside unreserved / sub-delims / "%" / ":" / "[" / "]" is
 *     400 (RFC 9112 3.2). An empty Host is accepted (RFC 9110 7.2), except
 *     beside an absolute-form target (whose authority replaces it).
 * 14. Connection is a comma-separated list of tokens compared
 *     case-insensitively; "close" wins over "keep-alive"; empty elements are
 *     ignored, an element that is not a token is refused, and so are more
 *     than HTTP1_MAX_CONN_NAMES elements in all Connection fields together:
 *     the proxy removes the fields named, and a list it cut short or guessed
 *     at would let fields through that the sender wanted removed.
 *     conn_names says whether anything but close / keep-alive was named.
 *     A response delimited by close is never keep-alive (unless 1xx/204/304,
 *     which have no body whatever the framing fields say).
 * 15. "Expect: 100-continue" (case-insensitive, whole value) sets
 *     expect_continue in HTTP/1.1 requests only (RFC 9110 10.1.1); other
 *     expectations are ignored. has_upgrade means an Upgrade field exists.
 *     HEAD and CONNECT are recognised case-sensitively.
 *
 * Chunked decoder decisions:
 * 16. chunk-size = 1*HEXDIG, any number of leading zeros, value at most
 *     INT64_MAX. No whitespace after the size unless a ";" extension follows
 *     (BWS belongs to chunk-ext only). Extensions follow RFC 9112 7.1.1 with
 *     BWS around ";" and "=", token or quoted-string values; they are
 *     validated and reported as framing (the proxy drops them and writes
 *     the size in minimal hex). A chunk-size line (CRLF included) above 4096
 *     bytes is refused.
 * 17. Exactly CRLF after chunk data and after every line; bare LF is refused.
 * 18. Trailer fields are validated like header fields (token name, colon, no
 *     whitespace before it, no obs-fold, value without CTL); the trailer
 *     section including its final CRLF is limited to 65536 bytes. They are
 *     reported as framing: the proxy does not forward them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "weir/http1.h"

/* ---- character classes ---------------------------------------------------
 * One bit per class in ctab[]; generated once from the RFC definitions and
 * checked byte by byte in tests/unit/test_http1.c. */
#define CT_TCHAR   0x01  /* tchar (RFC 9110 5.6.2): ALPHA DIGIT !#$%&'*+-.^_`|~ */
#define CT_FVAL    0x02  /* field value byte: VCHAR, obs-text, SP, HTAB */
#define CT_TARGET  0x04  /* request-target byte: 0x21..0x7e */
#define CT_HEX     0x08  /* HEXDIG */
#define CT_HOST    0x10  /* authority byte: unreserved sub-delims % : [ ] */
#define CT_QDTEXT  0x20  /* qdtext (RFC 9110 5.6.4): HTAB SP ! #-[ ]-~ obs-text */
#define CT_WS      0x80  /* SP, HTAB */

static const uint8_t ctab[256] = {
	/* 00 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 10 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 20 */ 0xa2, 0x37, 0x06, 0x27, 0x37, 0x37, 0x37, 0x37, 0x36, 0x36, 0x37, 0x37, 0x36, 0x37, 0x37, 0x26,
	/* 30 */ 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x36, 0x36, 0x26, 0x36, 0x26, 0x26,
	/* 40 */ 0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
	/* 50 */ 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x36, 0x06, 0x36, 0x27, 0x37,
	/* 60 */ 0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
	/* 70 */ 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x26, 0x27, 0x26, 0x37, 0x00,
	/* 80 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	/* 90 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	/* a0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	/* b0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	/* c0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	/* d0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	/* e0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	/* f0 */ 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};

#define IS(c, cls) ((ctab[(unsigned char)(c)] & (cls)) != 0)

static inline unsigned char
lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26u ? (unsigned char)(c | 0x20) : c;
}

/* N bytes at A equal the lower-case literal L, ignoring ASCII case. */
static bool
ieq(const unsigned char *a, const char *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != (unsigned char)l[i])
			return false;
	return true;
}

static size_t
skip_ws(const unsigned char *b, size_t i, size_t end)
{
	while (i < end && IS(b[i], CT_WS))
		i++;
	return i;
}

static size_t
skip_token(const unsigned char *b, size_t i, size_t end)
{
	while (i < end && IS(b[i], CT_TCHAR))
		i++;
	return i;
}

/* B[I] is '"'. Returns the index after the closing quote, or 0 when the
 * quoted-string is malformed. Bytes before END are already known to be field
 * value bytes, so a quoted-pair only needs a byte after the backslash. */
static size_t
skip_quoted(const unsigned char *b, size_t i, size_t end)
{
	for (i++; i < end; i++) {
		if (b[i] == '"')
			return i + 1;
		if (b[i] == '\\') {
			if (++i == end)
				return 0;
		} else if (!IS(b[i], CT_QDTEXT)) {
			return 0;
		}
	}
	return 0;
}

/* Eight bytes at a time for the two long runs of a head, field values and the
 * request-target. HAS_LESS(w, n) is exact about whether any byte of W is
 * below N (N <= 128); bytes >= 0x80 never count as below. A word that fails
 * is looked at byte by byte with the table, so the words only speed up the
 * common case and never decide a rejection. */
#define ONES8  UINT64_C(0x0101010101010101)
#define HIGHS8 UINT64_C(0x8080808080808080)
#define HAS_LESS(w, n) (((w) - ONES8 * (n)) & ~(w) & HIGHS8)
#define HAS_BYTE(w, c) HAS_LESS((w) ^ (ONES8 * (c)), 1)

static inline uint64_t
load8(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof w);
	return w;
}

/* First index in [I, END) whose byte is not a field value byte, or END. */
static size_t
scan_value(const unsigned char *b, size_t i, size_t end)
{
	while (i < end) {
		if (end - i >= 8) {
			uint64_t w = load8(b + i);
			if (!(HAS_LESS(w, 0x20) | HAS_BYTE(w, 0x7f))) {
				i += 8;
				continue;
			}
		}
		if (!IS(b[i], CT_FVAL))
			return i;
		i++;
	}
	return end;
}

/* First index in [I, END) whose byte is not a request-target byte, or END. */
static size_t
scan_target(const unsigned char *b, size_t i, size_t end)
{
	while (i < end) {
		if (end - i >= 8) {
			uint64_t w = load8(b + i);
			if (!(HAS_LESS(w, 0x21) | HAS_BYTE(w, 0x7f) | (w & HIGHS8))) {
				i += 8;
				continue;
			}
		}
		if (!IS(b[i], CT_TARGET))
			return i;
		i++;
	}
	return end;
}

static inline struct http1_span
span(size_t off, size_t len)
{
	struct http1_span s = { (uint32_t)off, (uint32_t)len };
	return s;
}

/* ---- errors --------------------------------------------------------------- */

int
http1_error_status(enum http1_error e)
{
	switch (e) {
	case HTTP1_E_BAD_REQUEST:       return 400;
	case HTTP1_E_URI_TOO_LONG:      return 414;
	case HTTP1_E_HEADERS_TOO_LARGE: return 431;
	case HTTP1_E_NOT_IMPLEMENTED:   return 501;
	case HTTP1_E_VERSION:           return 505;
	case HTTP1_E_BAD_RESPONSE:      return 502;
	case HTTP1_E_NONE:              break;
	}
	return 500;     /* reporting "no error" as an error is a caller bug */
}

const char *
http1_error_reason(enum http1_error e)
{
	return http1_status_reason(http1_error_status(e));
}

const char *
http1_status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

bool
http1_span_ieq(const char *buf, struct http1_span s, const char *lower_lit)
{
	const unsigned char *a = (const unsigned char *)buf + s.off;

	for (uint32_t i = 0; i < s.len; i++)
		if (lower_lit[i] == '\0' || lower(a[i]) != (unsigned char)lower_lit[i])
			return false;
	return lower_lit[s.len] == '\0';
}

size_t
http1_forward_target(const char *buf, const struct http1_head *h, char *out)
{
	struct http1_span t = h->authority.len ? h->path : h->target;
	size_t k = 0;

	if (h->authority.len && (t.len == 0 || buf[t.off] != '/')) {
		if (t.len == 0 && h->method.len == 7 && memcmp(buf + h->method.off, "OPTIONS", 7) == 0) {
			out[0] = '*';
			return 1;
		}
		out[k++] = '/';
	}
	memcpy(out + k, buf + t.off, t.len);
	return k + t.len;
}

size_t
http1_put_transfer_encoding(const struct http1_head *h, bool chunked, char *out)
{
	static const char name[] = "Transfer-Encoding: ";
	size_t k = sizeof name - 1;

	if (h->ncodings == 0 && !chunked)
		return 0;
	memcpy(out, name, k);
	for (unsigned i = 0; i < h->ncodings; i++) {
		const char *c = http1_coding_name(h->codings[i]);
		size_t n = strlen(c);

		memcpy(out + k, c, n);
		k += n;
		if (i + 1 < h->ncodings || chunked) {
			memcpy(out + k, ", ", 2);
			k += 2;
		}
	}
	if (chunked) {
		memcpy(out + k, "chunked", 7);
		k += 7;
	}
	memcpy(out + k, "\r\n", 2);
	return k + 2;
}

/* ---- Connection-listed fields --------------------------------------------- */

/* Names that cross whatever a Connection field lists (see http1.h). */
static const char *const conn_protected[] = {
	"host", "content-length", "transfer-encoding", "cookie", "authorization",
	"x-forwarded-for", "x-forwarded-proto", "close", "keep-alive",
};

/* The N bytes at A equal the NUL-terminated S, ignoring ASCII case on both. */
static bool
ieq_any(const unsigned char *a, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n && s[i]; i++)
		if (lower(a[i]) != lower((unsigned char)s[i]))
			return false;
	return i == n && s[i] == '\0';
}

static bool
conn_name_kept(const unsigned char *t, size_t n, const char *const *keep)
{
	for (size_t k = 0; k < sizeof conn_protected / sizeof *conn_protected; k++)
		if (ieq_any(t, n, conn_protected[k]))
			return true;
	for (; keep && *keep; keep++)
		if (ieq_any(t, n, *keep))
			return true;
	return false;
}

void
http1_conn_names_get(const char *buf, const struct http1_head *h,
                     const char *const *keep, struct http1_conn_names *out)
{
	const unsigned char *b = (const unsigned char *)buf;

	out->n = 0;
	if (!h->conn_names)
		return;
	for (unsigned f = 0; f < h->nheaders; f++) {
		size_t i, end;

		if (!http1_span_ieq(buf, h->headers[f].name, "connection"))
			continue;
		i = h->headers[f].value.off;
		end = i + h->headers[f].value.len;
		/* The parser checked the syntax (1#token) and the count. */
		while (i < end && out->n < HTTP1_MAX_CONN_NAMES) {
			size_t t = skip_ws(b, i, end), e = skip_token(b, t, end);

			if (e > t && !conn_name_kept(b + t, e - t, keep))
				out->name[out->n++] = span(t, e - t);
			i = skip_ws(b, e, end) + 1;
		}
	}
}

bool
http1_conn_names_has(const char *buf, const struct http1_conn_names *l, struct http1_span name)
{
	const unsigned char *b = (const unsigned char *)buf;

	for (unsigned k = 0; k < l->n; k++)
		if (l->name[k].len == name.len) {
			uint32_t i = 0;
			while (i < name.len && lower(b[l->name[k].off + i]) == lower(b[name.off + i]))
				i++;
			if (i == name.len)
				return true;
		}
	return false;
}

/* ---- head parser ---------------------------------------------------------- */

enum {
	PS_START,       /* before the request/status line, skipping empty lines */
	PS_FIELDS,      /* field lines, until the empty line */
	PS_DONE,        /* head complete; p->head is valid */
	PS_ERROR        /* refused; p->error says why */
};

#define H1_MAX_EMPTY_LINES 4
/* Largest Content-Length or chunk size accepted. */
#define H1_MAX_LENGTH ((uint64_t)INT64_MAX)

/* p->flags: what the field lines so far have shown. */
#define H1F_HOST        0x01u
#define H1F_CL          0x02u
#define H1F_TE          0x04u
#define H1F_TE_CHUNKED  0x08u   /* some coding was "chunked" */
#define H1F_TE_LAST     0x10u   /* the last coding so far is "chunked" */
#define H1F_TE_TWICE    0x20u   /* "chunked" appeared more than once */
#define H1F_CONN_CLOSE  0x40u
#define H1F_CONN_KA     0x80u
#define H1F_TE_UNSUP    0x100u  /* unknown coding, parameters, or too many codings */
#define H1F_HOST_EMPTY  0x200u

void
http1_parser_init(struct http1_parser *p, enum http1_kind kind,
                  size_t max_head_bytes, size_t max_line_bytes)
{
	struct http1_head *h = &p->head;

#if SIZE_MAX > UINT32_MAX
	if (max_head_bytes > UINT32_MAX)
		max_head_bytes = UINT32_MAX;    /* spans are 32-bit offsets */
#endif
	p->kind = kind;
	p->max_head_bytes = max_head_bytes;
	p->max_line_bytes = max_line_bytes;
	p->scanned = 0;
	p->state = PS_START;
	p->line_start = 0;
	p->empty_lines = 0;
	p->flags = 0;
	p->conn_count = 0;
	p->error = HTTP1_E_NONE;

	/* Not the header array: 2 KiB of stores per message for nothing. */
	h->method = span(0, 0);
	h->target = span(0, 0);
	h->status = 0;
	h->reason = span(0, 0);
	h->minor_version = 0;
	h->nheaders = 0;
	h->head_len = 0;
	h->body = HTTP1_BODY_NONE;
	h->content_length = 0;
	h->keep_alive = false;
	h->expect_continue = false;
	h->is_head = false;
	h->is_connect = false;
	h->has_upgrade = false;
	h->conn_names = false;
	h->authority = span(0, 0);
	h->path = span(0, 0);
	h->ncodings = 0;
}

static enum http1_result
fail(struct http1_parser *p, enum http1_error e)
{
	p->error = p->kind == HTTP1_RESPONSE ? HTTP1_E_BAD_RESPONSE : e;
	p->state = PS_ERROR;
	return HTTP1_ERROR;
}

/* V points at 8 bytes that should read "HTTP/1.x". */
static enum http1_error
parse_version(const unsigned char *v, int *minor)
{
	if (memcmp(v, "HTTP/", 5) != 0 || (unsigned char)(v[5] - '0') > 9 ||
	    v[6] != '.' || (unsigned char)(v[7] - '0') > 9)
		return HTTP1_E_BAD_REQUEST;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return HTTP1_E_VERSION;
	*minor = v[7] - '0';
	return HTTP1_E_NONE;
}

/* reg-name restricted to unreserved and pct-encoded: the sub-delims RFC 3986
 * also allows (",;=()" ...) appear in no DNS name and would make the Host
 * field weir writes from it look like a list. A name of digits and dots only
 * must be a dotted-quad IPv4 address. */
static bool
valid_reg_name(const unsigned char *t, size_t n)
{
	char v4[16];
	struct in_addr a4;
	bool dotted = true;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = t[i];
		if (c == '%') {
			if (n - i < 3 || !IS(t[i + 1], CT_HEX) || !IS(t[i + 2], CT_HEX))
				return false;
			i += 2;
			dotted = false;
		} else if ((unsigned char)(c - '0') <= 9 || c == '.') {
			continue;
		} else if ((unsigned char)(lower(c) - 'a') < 26u || c == '-' || c == '_' || c == '~') {
			dotted = false;
		} else {
			return false;
		}
	}
	if (!dotted)
		return true;
	if (n >= sizeof v4)
		return false;
	memcpy(v4, t, n);
	v4[n] = '\0';
	return inet_pton(AF_INET, v4, &a4) == 1;
}

/* host [ ":" port ] (RFC 3986 3.2.2, 3.2.3), host being a reg-name (see
 * above), an IPv4 address or a bracketed IPv6 address; IPvFuture and zone
 * identifiers are refused. The port, when present, is 1 to 5 digits not
 * above 65535; NEED_PORT (CONNECT) makes it mandatory. */
static bool
valid_authority(const unsigned char *t, size_t n, bool need_port)
{
	size_t hend, i;
	unsigned port = 0;

	if (n > 0 && t[0] == '[') {
		char v6[INET6_ADDRSTRLEN];
		struct in6_addr a6;
		const unsigned char *rb = memchr(t, ']', n);

		if (rb == NULL || (size_t)(rb - t) - 1 >= sizeof v6 || rb == t + 1)
			return false;
		memcpy(v6, t + 1, (size_t)(rb - t) - 1);
		v6[rb - t - 1] = '\0';
		if (inet_pton(AF_INET6, v6, &a6) != 1)
			return false;
		hend = (size_t)(rb - t) + 1;
	} else {
		const unsigned char *c = memchr(t, ':', n);
		hend = c != NULL ? (size_t)(c - t) : n;
		if (!valid_reg_name(t, hend))
			return false;
	}
	if (hend == n)
		return !need_port;
	if (t[hend] != ':' || n - hend - 1 == 0 || n - hend - 1 > 5)
		return false;
	for (i = hend + 1; i < n; i++) {
		if ((unsigned char)(t[i] - '0') > 9)
			return false;
		port = port * 10 + (unsigned)(t[i] - '0');
	}
	return port <= 65535;
}

/* "http://" or "https://" (any case), then an authority (valid_authority,
 * so no userinfo), then anything. Sets h->authority and h->path. */
static bool
absolute_form(struct http1_head *h, const unsigned char *t, size_t n)
{
	size_t i, a;

	if (n > 7 && ieq(t, "http://", 7))
		i = 7;
	else if (n > 8 && ieq(t, "https://", 8))
		i = 8;
	else
		return false;
	for (a = i; i < n && t[i] != '/' && t[i] != '?'; i++)
		;
	if (!valid_authority(t + a, i - a, false))
		return false;
	h->authority = span(h->target.off + a, i - a);
	h->path = span(h->target.off + i, n - i);
	return true;
}

static enum http1_error
check_target_form(struct http1_head *h, const unsigned char *b)
{
	const unsigned char *t = b + h->target.off;
	size_t n = h->target.len;

	/* RFC 9112 3.2: no form of request-target has a fragment; forwarding
	 * one lets the backend and weir disagree on the path (CVE-2023-45539). */
	if (memchr(t, '#', n) != NULL)
		return HTTP1_E_BAD_REQUEST;
	if (h->is_connect)
		return valid_authority(t, n, true) ? HTTP1_E_NONE : HTTP1_E_BAD_REQUEST;
	if (t[0] == '/')
		return HTTP1_E_NONE;
	if (n == 1 && t[0] == '*')
		return h->method.len == 7 && memcmp(b + h->method.off, "OPTIONS", 7) == 0 ?
		       HTTP1_E_NONE : HTTP1_E_BAD_REQUEST;
	return absolute_form(h, t, n) ? HTTP1_E_NONE : HTTP1_E_BAD_REQUEST;
}

/* Request line in [S, CR); B[CR] is '\r'. */
static enum http1_error
parse_request_line(struct http1_head *h, const unsigned char *b, size_t s, size_t cr)
{
	enum http1_error e;
	size_t i = s, t;

	while (IS(b[i], CT_TCHAR))      /* stops at b[cr] == '\r' at the latest */
		i++;
	if (i == s || b[i] != ' ')
		return HTTP1_E_BAD_REQUEST;
	h->method = span(s, i - s);
	t = ++i;
	i = scan_target(b, i, cr);
	if (i == t || b[i] != ' ')
		return HTTP1_E_BAD_REQUEST;
	h->target = span(t, i - t);
	i++;
	if (cr - i != 8)
		return HTTP1_E_BAD_REQUEST;
	if ((e = parse_version(b + i, &h->minor_version)) != HTTP1_E_NONE)
		return e;
	h->is_head = h->method.len == 4 && memcmp(b + s, "HEAD", 4) == 0;
	h->is_connect = h->method.len == 7 && memcmp(b + s, "CONNECT", 7) == 0;
	return check_target_form(h, b);
}

/* Status line in [S, CR). */
static enum http1_error
parse_status_line(struct http1_head *h, const unsigned char *b, size_t s, size_t cr)
{
	const unsigned char *d;

	if (cr - s < 12)
		return HTTP1_E_BAD_RESPONSE;
	d = b + s + 9;
	if (parse_version(b + s, &h->minor_version) != HTTP1_E_NONE ||
	    b[s + 8] != ' ' || (unsigned char)(d[0] - '0') > 9 ||
	    (unsigned char)(d[1] - '0') > 9 || (unsigned char)(d[2] - '0') > 9)
		return HTTP1_E_BAD_RESPONSE;
	h->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
	if (h->status < 100 || h->status > 599)
		return HTTP1_E_BAD_RESPONSE;
	if (cr - s == 12) {
		h->reason = span(cr, 0);
		return HTTP1_E_NONE;
	}
	if (b[s + 12] != ' ' || scan_value(b, s + 13, cr) != cr)
		return HTTP1_E_BAD_RESPONSE;
	h->reason = span(s + 13, cr - s - 13);
	return HTTP1_E_NONE;
}

static enum http1_error
field_content_length(struct http1_parser *p, const unsigned char *b, size_t i, size_t end)
{
	uint64_t v = 0;

	if ((p->flags & H1F_CL) || i == end)
		return HTTP1_E_BAD_REQUEST;
	p->flags |= H1F_CL;
	for (; i < end; i++) {
		unsigned d = (unsigned char)(b[i] - '0');
		if (d > 9 || v > (H1_MAX_LENGTH - d) / 10)
			return HTTP1_E_BAD_REQUEST;
		v = v * 10 + d;
	}
	p->head.content_length = v;
	return HTTP1_E_NONE;
}

static const char *const coding_names[] = {
	[HTTP1_TC_GZIP] = "gzip",
	[HTTP1_TC_X_GZIP] = "x-gzip",
	[HTTP1_TC_DEFLATE] = "deflate",
	[HTTP1_TC_COMPRESS] = "compress",
	[HTTP1_TC_X_COMPRESS] = "x-compress",
};

const char *
http1_coding_name(uint8_t coding)
{
	if (coding == 0 || coding >= sizeof coding_names / sizeof *coding_names)
		return "?";
	return coding_names[coding];
}

/* The coding named by the N bytes at T, or 0 when weir does not know it. */
static uint8_t
coding_id(const unsigned char *t, size_t n)
{
	for (uint8_t k = 1; k < sizeof coding_names / sizeof *coding_names; k++)
		if (strlen(coding_names[k]) == n && ieq(t, coding_names[k], n))
			return k;
	return 0;
}

/* A coding other than chunked, without parameters (ID 0: unknown). */
static void
add_coding(struct http1_parser *p, uint8_t id, bool params)
{
	struct http1_head *h = &p->head;

	if (id == 0 || params || h->ncodings == HTTP1_MAX_CODINGS)
		p->flags |= H1F_TE_UNSUP;
	else
		h->codings[h->ncodings++] = id;
}

/* One Transfer-Encoding line: 1#transfer-coding, appended to earlier lines.
 * Empty elements are ignored (RFC 9110 5.6.1), as in Connection; a line
 * with no element at all is refused. */
static enum http1_error
field_transfer_encoding(struct http1_parser *p, const unsigned char *b, size_t i, size_t end)
{
	bool any = false;

	p->flags |= H1F_TE;
	for (;;) {
		size_t t;
		bool chunked, params = false;
		uint8_t id;

		while (i < end && b[i] == ',')  /* empty elements */
			i = skip_ws(b, i + 1, end);
		if (i == end)
			return any ? HTTP1_E_NONE : HTTP1_E_BAD_REQUEST;
		t = i;
		i = skip_token(b, i, end);
		if (i == t)             /* not a token */
			return HTTP1_E_BAD_REQUEST;
		any = true;
		chunked = i - t == 7 && ieq(b + t, "chunked", 7);
		id = chunked ? 0 : coding_id(b + t, i - t);
		i = skip_ws(b, i, end);
		while (i < end && b[i] == ';') {
			params = true;
			i = skip_ws(b, i + 1, end);
			t = i;
			i = skip_token(b, i, end);
			if (i == t)
				return HTTP1_E_BAD_REQUEST;
			i = skip_ws(b, i, end);
			if (i == end || b[i] != '=')
				return HTTP1_E_BAD_REQUEST;
			i = skip_ws(b, i + 1, end);
			if (i < end && b[i] == '"') {
				if ((i = skip_quoted(b, i, end)) == 0)
					return HTTP1_E_BAD_REQUEST;
			} else {
				t = i;
				i = skip_token(b, i, end);
				if (i == t)
					return HTTP1_E_BAD_REQUEST;
			}
			i = skip_ws(b, i, end);
		}
		if (chunked) {
			if (params)
				return HTTP1_E_BAD_REQUEST;
			if (p->flags & H1F_TE_CHUNKED)
				p->flags |= H1F_TE_TWICE;
			p->flags |= H1F_TE_CHUNKED | H1F_TE_LAST;
		} else {
			p->flags &= ~H1F_TE_LAST;
			add_coding(p, id, params);
		}
		if (i == end)
			return HTTP1_E_NONE;
		if (b[i] != ',')
			return HTTP1_E_BAD_REQUEST;
		i = skip_ws(b, i + 1, end);
	}
}

/* 1#token; empty elements are ignored (RFC 9110 5.6.1), anything else that
 * is not a token is refused, and so is a name past HTTP1_MAX_CONN_NAMES:
 * weir removes the fields named, and must not guess which. */
static enum http1_error
field_connection(struct http1_parser *p, const unsigned char *b, size_t i, size_t end)
{
	while (i < end) {
		size_t t = skip_ws(b, i, end), e;

		e = skip_token(b, t, end);
		i = skip_ws(b, e, end);
		if (i < end && b[i] != ',')
			return HTTP1_E_BAD_REQUEST;
		i++;
		if (e == t)
			continue;
		if (++p->conn_count > HTTP1_MAX_CONN_NAMES)
			return HTTP1_E_BAD_REQUEST;
		if (e - t == 5 && ieq(b + t, "close", 5))
			p->flags |= H1F_CONN_CLOSE;
		else if (e - t == 10 && ieq(b + t, "keep-alive", 10))
			p->flags |= H1F_CONN_KA;
		else
			p->head.conn_names = true;
	}
	return HTTP1_E_NONE;
}

static enum http1_error
field_host(struct http1_parser *p, const unsigned char *b, size_t i, size_t end)
{
	if (p->flags & H1F_HOST)
		return HTTP1_E_BAD_REQUEST;
	p->flags |= H1F_HOST;
	if (i == end)
		p->flags |= H1F_HOST_EMPTY;
	for (; i < end; i++)
		if (!IS(b[i], CT_HOST))
			return HTTP1_E_BAD_REQUEST;
	return HTTP1_E_NONE;
}

/* React to the fields that matter for framing and connection handling. */
static enum http1_error
field_semantics(struct http1_parser *p, const unsigned char *b,
                size_t name, size_t nlen, size_t v, size_t vend)
{
	struct http1_head *h = &p->head;
	const unsigned char *n = b + name;
	bool req = p->kind == HTTP1_REQUEST;

	switch (nlen) {
	case 4:
		if (req && ieq(n, "host", 4))
			return field_host(p, b, v, vend);
		break;
	case 6:
		if (req && h->minor_version == 1 && ieq(n, "expect", 6) &&
		    vend - v == 12 && ieq(b + v, "100-continue", 12))
			h->expect_continue = true;
		break;
	case 7:
		if (ieq(n, "upgrade", 7))
			h->has_upgrade = true;
		break;
	case 10:
		if (ieq(n, "connection", 10))
			return field_connection(p, b, v, vend);
		break;
	case 14:
		if (ieq(n, "content-length", 14))
			return field_content_length(p, b, v, vend);
		break;
	case 17:
		if (ieq(n, "transfer-encoding", 17))
			return field_transfer_encoding(p, b, v, vend);
		break;
	}
	return HTTP1_E_NONE;
}

/* Field line in [S, CR), not empty. */
static enum http1_error
parse_field_line(struct http1_parser *p, const unsigned char *b, size_t s, size_t cr)
{
	struct http1_header *f;
	size_t i = s, name_end, v, vend;

	while (IS(b[i], CT_TCHAR))      /* stops at b[cr] == '\r' at the latest */
		i++;
	/* Catches obs-fold and leading whitespace (SP first), empty names, and
	 * whitespace or anything else between the name and the colon. */
	if (i == s || b[i] != ':')
		return HTTP1_E_BAD_REQUEST;
	name_end = i;
	v = skip_ws(b, i + 1, cr);
	for (vend = cr; vend > v && IS(b[vend - 1], CT_WS); vend--)
		;
	if (scan_value(b, v, vend) != vend)
		return HTTP1_E_BAD_REQUEST;
	if (p->head.nheaders == HTTP1_MAX_HEADERS)
		return HTTP1_E_HEADERS_TOO_LARGE;
	f = &p->head.headers[p->head.nheaders++];
	f->name = span(s, name_end - s);
	f->value = span(v, vend - v);
	return field_semantics(p, b, s, name_end - s, v, vend);
}

static bool
status_has_no_body(int status)
{
	return status < 200 || status == 204 || status == 304;
}

/* The empty line ending the head has been seen: decide framing. */
static enum http1_result
finish_head(struct http1_parser *p, size_t head_len)
{
	struct http1_head *h = &p->head;
	unsigned f = p->flags;

	if (p->kind == HTTP1_REQUEST) {
		if (h->minor_version == 1 && !(f & H1F_HOST))
			return fail(p, HTTP1_E_BAD_REQUEST);
		if (h->authority.len && (f & H1F_HOST_EMPTY))
			return fail(p, HTTP1_E_BAD_REQUEST);
		if (f & H1F_TE) {
			if (h->minor_version == 0 || (f & H1F_CL))
				return fail(p, HTTP1_E_BAD_REQUEST);
			if (!(f & H1F_TE_LAST))
				return fail(p, HTTP1_E_NOT_IMPLEMENTED);
			if (f & H1F_TE_TWICE)
				return fail(p, HTTP1_E_BAD_REQUEST);
			if (f & H1F_TE_UNSUP)
				return fail(p, HTTP1_E_NOT_IMPLEMENTED);
			h->body = HTTP1_BODY_CHUNKED;
		} else {
			h->body = (f & H1F_CL) ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
		}
	} else {
		if (f & H1F_TE) {
			if (h->minor_version == 0 || (f & (H1F_CL | H1F_TE_TWICE | H1F_TE_UNSUP)) ||
			    (f & (H1F_TE_CHUNKED | H1F_TE_LAST)) == H1F_TE_CHUNKED)
				return fail(p, HTTP1_E_BAD_RESPONSE);
			h->body = (f & H1F_TE_LAST) ? HTTP1_BODY_CHUNKED : HTTP1_BODY_CLOSE;
		} else {
			h->body = (f & H1F_CL) ? HTTP1_BODY_LENGTH : HTTP1_BODY_CLOSE;
		}
	}
	if (f & H1F_CONN_CLOSE)
		h->keep_alive = false;
	else
		h->keep_alive = h->minor_version == 1 || (f & H1F_CONN_KA);
	if (h->body == HTTP1_BODY_CLOSE && !status_has_no_body(h->status))
		h->keep_alive = false;
	h->head_len = head_len;
	p->state = PS_DONE;
	return HTTP1_DONE;
}

bool
http1_parser_adopt(struct http1_parser *p, const struct http1_head *done)
{
	struct http1_head *h = &p->head;

	if (p->state != PS_START || p->scanned != 0 || done->head_len > p->max_head_bytes)
		return false;
	/* The request line's LF must lie within max_line_bytes + 2 (the parse
	 * loop's bound): its length, CRLF excluded, at most max_line_bytes. */
	if (p->kind == HTTP1_REQUEST &&
	    (size_t)done->target.off + done->target.len + sizeof " HTTP/1.1" - 1 - done->method.off >
	        p->max_line_bytes)
		return false;
	/* Field by field, not the whole struct: the unused part of the header
	 * array is 2 KiB that nobody reads. */
	memcpy(h, done, offsetof(struct http1_head, headers));
	memcpy(h->headers, done->headers, done->nheaders * sizeof(done->headers[0]));
	memcpy((char *)h + offsetof(struct http1_head, nheaders), (const char *)done + offsetof(struct http1_head, nheaders),
	       sizeof(*h) - offsetof(struct http1_head, nheaders));
	p->state = PS_DONE;
	p->scanned = p->line_start = done->head_len;
	return true;
}

static bool
span_eq(struct http1_span a, struct http1_span b)
{
	return a.off == b.off && a.len == b.len;
}

bool
http1_head_equal(const struct http1_head *a, const struct http1_head *b)
{
	if (!span_eq(a->method, b->method) || !span_eq(a->target, b->target) || a->status != b->status ||
	    !span_eq(a->reason, b->reason) || a->minor_version != b->minor_version ||
	    a->nheaders != b->nheaders || a->head_len != b->head_len || a->body != b->body ||
	    a->content_length != b->content_length || a->keep_alive != b->keep_alive ||
	    a->expect_continue != b->expect_continue || a->is_head != b->is_head ||
	    a->is_connect != b->is_connect || a->has_upgrade != b->has_upgrade ||
	    a->conn_names != b->conn_names || !span_eq(a->authority, b->authority) ||
	    !span_eq(a->path, b->path) || a->ncodings != b->ncodings)
		return false;
	for (unsigned i = 0; i < a->nheaders; i++)
		if (!span_eq(a->headers[i].name, b->headers[i].name) || !span_eq(a->headers[i].value, b->headers[i].value))
			return false;
	return memcmp(a->codings, b->codings, a->ncodings) == 0;
}

enum http1_result
http1_parse_head(struct http1_parser *p, const char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)buf;

	if (p->state == PS_DONE)
		return HTTP1_DONE;
	if (p->state == PS_ERROR)
		return HTTP1_ERROR;
	if (len < p->scanned)           /* the buffer shrank: not our contract */
		return HTTP1_AGAIN;

	for (;;) {
		size_t s = p->line_start, bound = p->max_head_bytes, room = bound - s;
		size_t end, lf, cr;
		enum http1_error limit = HTTP1_E_HEADERS_TOO_LARGE, e;
		const unsigned char *hit = NULL;

		/* The LF of this line must lie before BOUND. */
		if (p->state == PS_START && p->kind == HTTP1_REQUEST &&
		    room >= 2 && p->max_line_bytes <= room - 2) {
			bound = s + p->max_line_bytes + 2;
			limit = HTTP1_E_URI_TOO_LONG;
		}
		end = len < bound ? len : bound;
		if (p->scanned < end)
			hit = memchr(b + p->scanned, '\n', end - p->scanned);
		if (hit == NULL) {
			if (len >= bound)
				return fail(p, limit);
			p->scanned = len;
			return HTTP1_AGAIN;
		}
		lf = (size_t)(hit - b);
		if (lf == s || b[lf - 1] != '\r')
			return fail(p, HTTP1_E_BAD_REQUEST);    /* bare LF */
		cr = lf - 1;
		p->line_start = p->scanned = lf + 1;

		if (p->state == PS_FIELDS) {
			if (cr == s)
				return finish_head(p, lf + 1);
			e = parse_field_line(p, b, s, cr);
		} else if (cr == s) {
			if (p->kind == HTTP1_RESPONSE || ++p->empty_lines > H1_MAX_EMPTY_LINES)
				return fail(p, HTTP1_E_BAD_REQUEST);
			continue;
		} else {
			e = p->kind == HTTP1_REQUEST ? parse_request_line(&p->head, b, s, cr) :
			                               parse_status_line(&p->head, b, s, cr);
			p->state = PS_FIELDS;
		}
		if (e != HTTP1_E_NONE)
			return fail(p, e);
	}
}

void
http1_response_body(struct http1_head *resp, bool request_was_head)
{
	if (request_was_head || status_has_no_body(resp->status))
		resp->body = HTTP1_BODY_NONE;
}

/* ---- chunked decoder ------------------------------------------------------ */

enum {
	/* chunk-size line; bytes counted in line_len */
	CS_SIZE,        /* first hex digit */
	CS_SIZE_MORE,   /* more hex digits, ";", BWS or CR */
	CS_EXT_SEMI,    /* BWS, then ";" */
	CS_EXT_NAME0,   /* BWS, then the first byte of an extension name */
	CS_EXT_NAME,    /* extension name */
	CS_EXT_EQ,      /* BWS after a name, then "=" or ";" */
	CS_EXT_VAL0,    /* BWS, then a token or a quoted-string */
	CS_EXT_TOKEN,   /* token value */
	CS_EXT_QS,      /* inside a quoted-string value */
	CS_EXT_QP,      /* after a backslash inside it */
	CS_EXT_QEND,    /* after the closing quote */
	CS_SIZE_LF,     /* CR seen, LF expected */
	/* chunk data */
	CS_DATA,        /* remaining bytes of data */
	CS_DATA_CR,     /* CR after the data */
	CS_DATA_LF,     /* LF after the data */
	/* trailer section; bytes counted in total_trailer */
	CS_TRAILER,     /* start of a trailer line, or the final CRLF */
	CS_TR_NAME,     /* field name, then ":" */
	CS_TR_VALUE,    /* field value until CR */
	CS_TR_LF,       /* LF ending a trailer line */
	CS_FINAL_LF,    /* LF ending the body */
	CS_DONE,
	CS_ERROR
};

#define H1_CHUNK_LINE_MAX 4096u
#define H1_TRAILER_MAX    65536u

void
http1_chunked_init(struct http1_chunked *c)
{
	c->state = CS_SIZE;
	c->remaining = 0;
	c->line_len = 0;
	c->total_trailer = 0;
	c->done = false;
}

/* One byte CH of a chunk-size line in state ST; returns the next state. */
static int
chunk_line_byte(struct http1_chunked *c, int st, unsigned char ch)
{
	bool ws = IS(ch, CT_WS);

	switch (st) {
	case CS_SIZE:
	case CS_SIZE_MORE:
		if (IS(ch, CT_HEX)) {
			unsigned d = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
			if (c->remaining > (H1_MAX_LENGTH - d) >> 4)
				return CS_ERROR;
			c->remaining = c->remaining << 4 | d;
			return CS_SIZE_MORE;
		}
		if (st == CS_SIZE)
			return CS_ERROR;
		return ch == ';' ? CS_EXT_NAME0 : ws ? CS_EXT_SEMI : ch == '\r' ? CS_SIZE_LF : CS_ERROR;
	case CS_EXT_SEMI:
		return ch == ';' ? CS_EXT_NAME0 : ws ? st : CS_ERROR;
	case CS_EXT_NAME0:
		return IS(ch, CT_TCHAR) ? CS_EXT_NAME : ws ? st : CS_ERROR;
	case CS_EXT_NAME:
		if (IS(ch, CT_TCHAR))
			return st;
		return ch == '=' ? CS_EXT_VAL0 : ch == ';' ? CS_EXT_NAME0 :
		       ws ? CS_EXT_EQ : ch == '\r' ? CS_SIZE_LF : CS_ERROR;
	case CS_EXT_EQ:
		return ch == '=' ? CS_EXT_VAL0 : ch == ';' ? CS_EXT_NAME0 : ws ? st : CS_ERROR;
	case CS_EXT_VAL0:
		return IS(ch, CT_TCHAR) ? CS_EXT_TOKEN : ch == '"' ? CS_EXT_QS : ws ? st : CS_ERROR;
	case CS_EXT_TOKEN:
	case CS_EXT_QEND:
		if (st == CS_EXT_TOKEN && IS(ch, CT_TCHAR))
			return st;
		return ch == ';' ? CS_EXT_NAME0 : ws ? CS_EXT_SEMI : ch == '\r' ? CS_SIZE_LF : CS_ERROR;
	case CS_EXT_QS:
		return ch == '"' ? CS_EXT_QEND : ch == '\\' ? CS_EXT_QP : IS(ch, CT_QDTEXT) ? st : CS_ERROR;
	case CS_EXT_QP:
		return IS(ch, CT_FVAL) ? CS_EXT_QS : CS_ERROR;
	case CS_SIZE_LF:
		if (ch != '\n')
			return CS_ERROR;
		return c->remaining == 0 ? CS_TRAILER : CS_DATA;
	}
	return CS_ERROR;
}

/* One byte CH of the trailer section in state ST; returns the next state. */
static int
trailer_byte(int st, unsigned char ch)
{
	switch (st) {
	case CS_TRAILER:
		return ch == '\r' ? CS_FINAL_LF : IS(ch, CT_TCHAR) ? CS_TR_NAME : CS_ERROR;
	case CS_TR_NAME:
		return IS(ch, CT_TCHAR) ? st : ch == ':' ? CS_TR_VALUE : CS_ERROR;
	case CS_TR_VALUE:
		return IS(ch, CT_FVAL) ? st : ch == '\r' ? CS_TR_LF : CS_ERROR;
	case CS_TR_LF:
		return ch == '\n' ? CS_TRAILER : CS_ERROR;
	case CS_FINAL_LF:
		return ch == '\n' ? CS_DONE : CS_ERROR;
	}
	return CS_ERROR;
}

ssize_t
http1_chunked_step(struct http1_chunked *c, const char *buf, size_t len,
                   enum http1_chunk_part *part)
{
	const unsigned char *b = (const unsigned char *)buf;
	int st = c->state;
	size_t i = 0;
	bool trailers = false;

	*part = HTTP1_CHUNK_FRAMING;
	if (st == CS_DATA && len > 0) {
		size_t n = len < c->remaining ? len : (size_t)c->remaining;
		c->remaining -= n;
		if (c->remaining == 0)
			c->state = CS_DATA_CR;
		*part = HTTP1_CHUNK_DATA;
		return (ssize_t)n;
	}
	while (i < len && st != CS_DONE && st != CS_ERROR && st != CS_DATA) {
		unsigned char ch = b[i++];

		if (st <= CS_SIZE_LF) {
			if (++c->line_len > H1_CHUNK_LINE_MAX) {
				st = CS_ERROR;
			} else {
				st = chunk_line_byte(c, st, ch);
				if (st == CS_TRAILER) {
					trailers = true; /* a step ends at the trailer section */
					break;
				}
			}
		} else if (st == CS_DATA_CR) {
			st = ch == '\r' ? CS_DATA_LF : CS_ERROR;
		} else if (st == CS_DATA_LF) {
			st = ch == '\n' ? CS_SIZE : CS_ERROR;
			c->line_len = 0;
		} else if (++c->total_trailer > H1_TRAILER_MAX) {
			st = CS_ERROR;
		} else {
			st = trailer_byte(st, ch);
		}
	}
	c->state = st;
	if (st == CS_ERROR)
		return -1;
	if (st == CS_DONE) {
		if (!c->done && i > 0)
			*part = HTTP1_CHUNK_LAST;
		c->done = true;
	} else if (st == CS_DATA && i > 0) {
		*part = HTTP1_CHUNK_SIZE;
	} else if (trailers) {
		*part = HTTP1_CHUNK_TRAILERS;
	}
	return (ssize_t)i;
}

ssize_t
http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len)
{
	enum http1_chunk_part part;
	size_t i = 0;

	while (i < len && !c->done) {
		ssize_t n = http1_chunked_step(c, buf + i, len - i, &part);
		if (n < 0)
			return -1;
		i += (size_t)n;
	}
	return c->state == CS_ERROR ? -1 : (ssize_t)i;
}

void
http1_put_status(int status, char out[3])
{
	out[0] = (char)('0' + status / 100 % 10);
	out[1] = (char)('0' + status / 10 % 10);
	out[2] = (char)('0' + status % 10);
}

size_t
http1_chunk_size_line(uint64_t size, char out[HTTP1_CHUNK_SIZE_LINE_MAX])
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, k = 0;

	do {
		tmp[n++] = hex[size & 15];
		size >>= 4;
	} while (size);
	while (n)
		out[k++] = tmp[--n];
	out[k++] = '\r';
	out[k++] = '\n';
	return k;
}

bool http1_is_token(const char *s, size_t n)
{
	const unsigned char *b = (const unsigned char *)s;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!IS(b[i], CT_TCHAR))
			return false;
	return true;
}

bool http1_valid_authority(const char *s, size_t n)
{
	return n > 0 && valid_authority((const unsigned char *)s, n, false);
}
