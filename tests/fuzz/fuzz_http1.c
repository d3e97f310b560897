/* fuzz_http1: what fuzz_request and fuzz_response check of src/http1.c.
 *
 * Input: one flag byte, then the bytes of a message. The flags choose the
 * parser's limits (small ones too, so that 414 and 431 are reachable by
 * short inputs), where the input is cut for the incremental run, and a
 * mode: for requests, the whole rest fed to the chunked decoder alone; for
 * responses, whether the request was HEAD.
 *
 * Properties, beyond the sanitizers' memory checks:
 *  - feeding the head in pieces, each call on a buffer of exactly that many
 *    bytes, ends as feeding it whole: same result, error and head;
 *  - a parsed head is well-formed: it ends in CRLF CRLF within the input,
 *    every span lies inside it, names are tokens, values hold no CR, LF or
 *    NUL and no outer whitespace;
 *  - what weir relies on against smuggling: a request never has both
 *    Content-Length and Transfer-Encoding, at most one Content-Length, a
 *    Transfer-Encoding only with chunked framing, exactly one Host in
 *    HTTP/1.1; every refusal maps to 400, 414, 431, 501 or 505 (requests)
 *    or is BAD_RESPONSE (responses);
 *  - the chunked decoder agrees with itself across splits, consumes no more
 *    than it is given, ends a body right after a CRLF, and stays done or
 *    failed; stepping through it as the proxy re-frames (http1_chunked_step)
 *    consumes the same bytes, and its data is exactly the announced sizes;
 *  - the new head fields (codings, Connection names, absolute-form parts)
 *    agree across splits too, and the authority and path lie in the target. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAX_PIECES 24

static const size_t head_limits[4] = { 64, 512, 8192, 65536 };
static const size_t line_limits[4] = { 16, 256, 8192, 65536 };

/* A small deterministic generator for cut points. */
static uint32_t next_rand(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool span_in(struct http1_span s, size_t len)
{
	return (size_t)s.off + s.len <= len;
}

static bool span_eq(struct http1_span a, struct http1_span b)
{
	return a.off == b.off && a.len == b.len;
}

static bool name_is(const uint8_t *b, struct http1_span s, const char *lower)
{
	return http1_span_ieq((const char *)b, s, lower);
}

/* The parse of BUF[0..N) on a buffer of exactly N bytes. */
static enum http1_result parse_exact(struct http1_parser *p, const uint8_t *buf, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum http1_result r;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, buf, n);
	r = http1_parse_head(p, (const char *)copy, n);
	free(copy);
	return r;
}

static void same_head(const struct http1_head *a, const struct http1_head *b)
{
	FUZZ_CHECK(span_eq(a->method, b->method) && span_eq(a->target, b->target));
	FUZZ_CHECK(a->status == b->status && span_eq(a->reason, b->reason));
	FUZZ_CHECK(a->minor_version == b->minor_version && a->nheaders == b->nheaders);
	for (unsigned i = 0; i < a->nheaders; i++)
		FUZZ_CHECK(span_eq(a->headers[i].name, b->headers[i].name) &&
		           span_eq(a->headers[i].value, b->headers[i].value));
	FUZZ_CHECK(a->head_len == b->head_len && a->body == b->body);
	FUZZ_CHECK(a->content_length == b->content_length && a->keep_alive == b->keep_alive);
	FUZZ_CHECK(a->expect_continue == b->expect_continue && a->is_head == b->is_head);
	FUZZ_CHECK(a->is_connect == b->is_connect && a->has_upgrade == b->has_upgrade);
	FUZZ_CHECK(a->conn_names == b->conn_names && a->ncodings == b->ncodings);
	FUZZ_CHECK(memcmp(a->codings, b->codings, a->ncodings) == 0);
	FUZZ_CHECK(span_eq(a->authority, b->authority) && span_eq(a->path, b->path));
}

static void check_head(enum http1_kind kind, const struct http1_head *h, const uint8_t *b, size_t len)
{
	unsigned cl = 0, te = 0, host = 0;

	FUZZ_CHECK(h->head_len >= 4 && h->head_len <= len);
	FUZZ_CHECK(memcmp(b + h->head_len - 4, "\r\n\r\n", 4) == 0);
	FUZZ_CHECK(h->minor_version == 0 || h->minor_version == 1);
	FUZZ_CHECK(h->nheaders <= HTTP1_MAX_HEADERS);
	for (unsigned i = 0; i < h->nheaders; i++) {
		struct http1_span n = h->headers[i].name, v = h->headers[i].value;

		FUZZ_CHECK(span_in(n, h->head_len) && span_in(v, h->head_len) && n.len > 0);
		for (uint32_t k = 0; k < n.len; k++)
			FUZZ_CHECK(is_tchar(b[n.off + k]));
		FUZZ_CHECK(b[n.off + n.len] == ':');
		for (uint32_t k = 0; k < v.len; k++)
			FUZZ_CHECK(b[v.off + k] != '\r' && b[v.off + k] != '\n' && b[v.off + k] != '\0');
		if (v.len)
			FUZZ_CHECK(b[v.off] != ' ' && b[v.off] != '\t' && b[v.off + v.len - 1] != ' ' &&
			           b[v.off + v.len - 1] != '\t');
		cl += name_is(b, n, "content-length");
		te += name_is(b, n, "transfer-encoding");
		host += name_is(b, n, "host");
	}
	FUZZ_CHECK(cl <= 1);
	if (h->body == HTTP1_BODY_LENGTH)
		FUZZ_CHECK(cl == 1 && h->content_length <= (uint64_t)INT64_MAX);
	if (kind == HTTP1_REQUEST) {
		FUZZ_CHECK(span_in(h->method, h->head_len) && h->method.len > 0);
		FUZZ_CHECK(span_in(h->target, h->head_len) && h->target.len > 0);
		for (uint32_t k = 0; k < h->method.len; k++)
			FUZZ_CHECK(is_tchar(b[h->method.off + k]));
		for (uint32_t k = 0; k < h->target.len; k++)
			FUZZ_CHECK(b[h->target.off + k] > 0x20 && b[h->target.off + k] < 0x7f);
		FUZZ_CHECK(!(cl && te));
		FUZZ_CHECK(te == 0 || h->body == HTTP1_BODY_CHUNKED);
		FUZZ_CHECK(h->body != HTTP1_BODY_CLOSE);
		FUZZ_CHECK(host <= 1 && (h->minor_version == 0 || host == 1));
		FUZZ_CHECK(!(h->minor_version == 0 && te));
		/* absolute-form: a non-empty authority inside the target */
		if (h->authority.len)
			FUZZ_CHECK(h->authority.off > h->target.off &&
			           h->path.off + h->path.len == h->target.off + h->target.len);
	} else {
		FUZZ_CHECK(h->status >= 100 && h->status <= 599);
		FUZZ_CHECK(span_in(h->reason, h->head_len));
		FUZZ_CHECK(!(cl && te));
	}
}

/* Step through BODY[0..LEN) as the proxy re-frames it: it consumes what
 * feeding does, every step makes progress, and the data bytes are exactly
 * the sizes the SIZE steps announced. Returns the bytes consumed, or -1. */
static ssize_t step_chunked(const uint8_t *body, size_t len)
{
	struct http1_chunked c;
	enum http1_chunk_part part;
	uint64_t announced = 0, data = 0;
	size_t pos = 0;

	http1_chunked_init(&c);
	while (pos < len && !c.done) {
		ssize_t n = http1_chunked_step(&c, (const char *)body + pos, len - pos, &part);

		if (n < 0)
			return -1;
		FUZZ_CHECK(n > 0 && (size_t)n <= len - pos);
		if (part == HTTP1_CHUNK_SIZE) {
			FUZZ_CHECK(c.remaining > 0 && data == announced);
			announced += c.remaining;
		} else if (part == HTTP1_CHUNK_DATA) {
			data += (uint64_t)n;
			FUZZ_CHECK(data + c.remaining == announced);
		} else if (part == HTTP1_CHUNK_LAST) {
			FUZZ_CHECK(c.done);
		}
		pos += (size_t)n;
	}
	if (c.done)
		FUZZ_CHECK(data == announced);
	return (ssize_t)pos;
}

/* Decode BODY[0..LEN) as chunked, whole and in pieces; both must agree. */
static void check_chunked(const uint8_t *body, size_t len, uint32_t seed)
{
	struct http1_chunked whole, parts;
	ssize_t n1, total = 0;
	size_t pos = 0;
	bool failed = false;

	http1_chunked_init(&whole);
	n1 = http1_chunked_feed(&whole, (const char *)body, len);
	FUZZ_CHECK(n1 >= -1 && (n1 < 0 || (size_t)n1 <= len));
	if (n1 >= 0 && whole.done) {
		FUZZ_CHECK(n1 >= 5 && body[n1 - 2] == '\r' && body[n1 - 1] == '\n');
		FUZZ_CHECK(http1_chunked_feed(&whole, (const char *)body + n1, len - (size_t)n1) == 0);
	}
	if (n1 >= 0 && !whole.done)
		FUZZ_CHECK((size_t)n1 == len);      /* short only when done or failed */
	if (n1 < 0)
		FUZZ_CHECK(http1_chunked_feed(&whole, "0\r\n\r\n", 5) == -1);
	FUZZ_CHECK(step_chunked(body, len) == n1);

	http1_chunked_init(&parts);
	for (int k = 0; pos < len && k < MAX_PIECES; k++) {
		size_t piece = k == MAX_PIECES - 1 ? len - pos : 1 + next_rand(&seed) % (len - pos);
		uint8_t *copy = malloc(piece);
		ssize_t used;

		FUZZ_CHECK(copy != NULL);
		memcpy(copy, body + pos, piece);
		used = http1_chunked_feed(&parts, (const char *)copy, piece);
		free(copy);
		if (used < 0) {
			failed = true;
			break;
		}
		FUZZ_CHECK((size_t)used <= piece);
		total += used;
		pos += piece;
		if (parts.done || (size_t)used < piece)
			break;
	}
	if (n1 < 0) {
		FUZZ_CHECK(failed);
	} else {
		FUZZ_CHECK(!failed && total == n1 && parts.done == whole.done);
	}
}

int fuzz_http1(enum http1_kind kind, const uint8_t *data, size_t size)
{
	struct http1_parser *whole, *parts;
	enum http1_result r1, r2 = HTTP1_AGAIN;
	size_t max_head, max_line, len, pos = 0;
	const uint8_t *buf;
	uint32_t seed;
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	buf = data + 1;
	len = size - 1;
	seed = (uint32_t)flags * 2654435761u ^ (uint32_t)len;
	if (kind == HTTP1_REQUEST && (flags & 0x80)) {
		check_chunked(buf, len, seed);
		return 0;
	}
	max_head = head_limits[flags & 3];
	max_line = line_limits[(flags >> 2) & 3];

	/* struct http1_parser holds 128 headers: keep it off the stack. */
	whole = malloc(sizeof(*whole));
	parts = malloc(sizeof(*parts));
	FUZZ_CHECK(whole != NULL && parts != NULL);
	http1_parser_init(whole, kind, max_head, max_line);
	http1_parser_init(parts, kind, max_head, max_line);
	r1 = parse_exact(whole, buf, len);
	FUZZ_CHECK(r1 == HTTP1_DONE || r1 == HTTP1_AGAIN || r1 == HTTP1_ERROR);
	/* Sticky: asking again gives the same answer. */
	if (r1 != HTTP1_AGAIN)
		FUZZ_CHECK(parse_exact(whole, buf, len) == r1);

	for (int k = 0; k < MAX_PIECES && pos < len; k++) {
		pos += 1 + next_rand(&seed) % (len - pos);
		r2 = parse_exact(parts, buf, pos);
		if (r2 != HTTP1_AGAIN)
			break;
	}
	if (r2 == HTTP1_AGAIN && pos < len)
		r2 = parse_exact(parts, buf, len);
	FUZZ_CHECK(r2 == r1);
	if (r1 == HTTP1_ERROR) {
		FUZZ_CHECK(whole->error != HTTP1_E_NONE && whole->error == parts->error);
		if (kind == HTTP1_RESPONSE) {
			FUZZ_CHECK(whole->error == HTTP1_E_BAD_RESPONSE);
		} else {
			int st = http1_error_status(whole->error);
			FUZZ_CHECK(st == 400 || st == 414 || st == 431 || st == 501 || st == 505);
		}
	} else if (r1 == HTTP1_DONE) {
		struct http1_head *h = &whole->head;

		same_head(h, &parts->head);
		check_head(kind, h, buf, len);
		if (kind == HTTP1_RESPONSE)
			http1_response_body(h, (flags & 0x80) != 0);
		if (h->body == HTTP1_BODY_CHUNKED)
			check_chunked(buf + h->head_len, len - h->head_len, seed);
	} else {
		/* Nothing decided yet: the limits cannot have been passed. */
		FUZZ_CHECK(len < max_head);
	}
	free(whole);
	free(parts);
	return 0;
}
