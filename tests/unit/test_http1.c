/* Unit tests for src/http1.c: the strict HTTP/1.1 head parser and the chunked
 * decoder.
 *
 * Every message goes through parse_msg(), which parses it whole and then
 * re-parses it split at every point (prefix k, then the whole buffer) and
 * byte by byte, asserting the same outcome each time. Every feed copies the
 * bytes into a fresh allocation of exactly the length passed, so AddressSanitizer
 * catches any read past LEN and any reliance on the buffer's address. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/http1.h"

#define MAXH 8192
#define MAXL 1024

#define L(s) (s), (sizeof(s) - 1)       /* literal and its length, NULs included */

/* ---- helpers -------------------------------------------------------------- */

static void
dump(const char *what, const char *m, size_t n)
{
	char out[1024];
	size_t o = 0;

	for (size_t i = 0; i < n && o + 8 < sizeof out; i++) {
		unsigned char c = (unsigned char)m[i];
		if (c == '\r')
			o += (size_t)snprintf(out + o, sizeof out - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(out + o, sizeof out - o, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	print_error("%s: \"%s\"\n", what, out);
}

/* Fail with the case printed when COND is false. */
#define CHECK(cond, m, n) do { \
	if (!(cond)) { \
		dump("case", (m), (n)); \
		fail_msg("%s", #cond); \
	} \
} while (0)

static enum http1_result
feed_copy(struct http1_parser *p, const char *m, size_t k)
{
	char *b = malloc(k ? k : 1);
	enum http1_result r;

	assert_non_null(b);
	memcpy(b, m, k);
	r = http1_parse_head(p, b, k);
	free(b);
	return r;
}

static void
parser_fresh(struct http1_parser *p, enum http1_kind kind, size_t maxh, size_t maxl)
{
	memset(p, 0xa5, sizeof *p);     /* init must not rely on zeroed memory */
	http1_parser_init(p, kind, maxh, maxl);
}

static void
assert_same_span(struct http1_span a, struct http1_span b)
{
	assert_int_equal(a.off, b.off);
	assert_int_equal(a.len, b.len);
}

static void
assert_same_outcome(const struct http1_parser *a, enum http1_result ra,
                    const struct http1_parser *b, enum http1_result rb,
                    const char *m, size_t n)
{
	const struct http1_head *x = &a->head, *y = &b->head;

	CHECK(ra == rb, m, n);
	if (ra == HTTP1_ERROR)
		CHECK(a->error == b->error, m, n);
	if (ra != HTTP1_DONE)
		return;
	assert_same_span(x->method, y->method);
	assert_same_span(x->target, y->target);
	assert_int_equal(x->status, y->status);
	assert_same_span(x->reason, y->reason);
	assert_int_equal(x->minor_version, y->minor_version);
	assert_int_equal(x->nheaders, y->nheaders);
	for (unsigned i = 0; i < x->nheaders; i++) {
		assert_same_span(x->headers[i].name, y->headers[i].name);
		assert_same_span(x->headers[i].value, y->headers[i].value);
	}
	assert_int_equal(x->head_len, y->head_len);
	assert_int_equal(x->body, y->body);
	assert_int_equal(x->content_length, y->content_length);
	assert_int_equal(x->keep_alive, y->keep_alive);
	assert_int_equal(x->expect_continue, y->expect_continue);
	assert_int_equal(x->is_head, y->is_head);
	assert_int_equal(x->is_connect, y->is_connect);
	assert_int_equal(x->has_upgrade, y->has_upgrade);
}

/* Parse M (N bytes) whole into P, then check every split point and byte by
 * byte feeding against it. Large inputs are split at a sample of points. */
static enum http1_result
parse_lim(struct http1_parser *p, enum http1_kind kind, const char *m, size_t n,
          size_t maxh, size_t maxl)
{
	struct http1_parser q;
	enum http1_result whole, r;
	size_t step = n > 3000 ? n / 397 + 1 : 1;

	parser_fresh(p, kind, maxh, maxl);
	whole = feed_copy(p, m, n);
	CHECK(whole != HTTP1_ERROR || p->error != HTTP1_E_NONE, m, n);
	CHECK(whole == HTTP1_ERROR || p->error == HTTP1_E_NONE, m, n);

	for (size_t k = 0; k <= n; k = (k + step > n && k < n) ? n : k + step) {
		parser_fresh(&q, kind, maxh, maxl);
		r = feed_copy(&q, m, k);
		if (r != HTTP1_AGAIN)   /* decided early: must already agree */
			assert_same_outcome(p, whole, &q, r, m, n);
		r = feed_copy(&q, m, n);
		assert_same_outcome(p, whole, &q, r, m, n);
	}

	parser_fresh(&q, kind, maxh, maxl);
	r = HTTP1_AGAIN;
	for (size_t k = 0; k <= n && r == HTTP1_AGAIN; k += step > 1 ? step : 1)
		r = feed_copy(&q, m, k);
	if (r == HTTP1_AGAIN)
		r = feed_copy(&q, m, n);
	assert_same_outcome(p, whole, &q, r, m, n);
	/* DONE and ERROR are sticky */
	r = feed_copy(&q, m, n);
	assert_same_outcome(p, whole, &q, r, m, n);
	return whole;
}

static enum http1_result
parse_msg(struct http1_parser *p, enum http1_kind kind, const char *m, size_t n)
{
	return parse_lim(p, kind, m, n, MAXH, MAXL);
}

#define REQ(p, lit)  parse_msg((p), HTTP1_REQUEST, L(lit))
#define RESP(p, lit) parse_msg((p), HTTP1_RESPONSE, L(lit))

static void
expect_err_n(enum http1_kind kind, const char *m, size_t n, enum http1_error want)
{
	struct http1_parser p;
	enum http1_result r = parse_msg(&p, kind, m, n);

	CHECK(r == HTTP1_ERROR, m, n);
	CHECK(p.error == want, m, n);
}

static void
expect_err(enum http1_kind kind, const char *m, enum http1_error want)
{
	expect_err_n(kind, m, strlen(m), want);
}

static void
expect_done(struct http1_parser *p, enum http1_kind kind, const char *m)
{
	size_t n = strlen(m);
	enum http1_result r = parse_msg(p, kind, m, n);

	CHECK(r == HTTP1_DONE, m, n);
	CHECK(p->head.head_len == n, m, n);
}

static void
assert_span_is(const char *buf, struct http1_span s, const char *want)
{
	if (s.len != strlen(want) || memcmp(buf + s.off, want, s.len) != 0) {
		dump("span", buf + s.off, s.len);
		dump("want", want, strlen(want));
		fail();
	}
}

static void
assert_header(const char *buf, const struct http1_head *h, unsigned i,
              const char *name, const char *value)
{
	assert_true(i < h->nheaders);
	assert_span_is(buf, h->headers[i].name, name);
	assert_span_is(buf, h->headers[i].value, value);
}

/* Copy TEMPLATE into BUF with its single '@' replaced by C; returns length. */
static size_t
with_byte(char *buf, size_t cap, const char *template, int c)
{
	size_t n = strlen(template);
	const char *at = strchr(template, '@');

	assert_non_null(at);
	assert_true(n < cap);
	memcpy(buf, template, n);
	buf[at - template] = (char)c;
	return n;
}

/* "POST /u HTTP/1.1\r\nHost: h\r\n" FIELDS "\r\n" into BUF. */
static const char *
post_with(char *buf, size_t cap, const char *fields)
{
	int n = snprintf(buf, cap, "POST /u HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
	assert_true(n > 0 && (size_t)n < cap);
	return buf;
}

/* ---- request basics ------------------------------------------------------- */

static const char browser_req[] =
	"GET /static/app.js?v=42 HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
	"Accept: */*\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br, zstd\r\n"
	"Referer: https://www.example.com/\r\n"
	"Connection: keep-alive\r\n"
	"Cookie: session=4f2a9c0d1e; theme=dark\r\n"
	"Sec-Fetch-Dest: script\r\n"
	"Sec-Fetch-Mode: no-cors\r\n"
	"\r\n";

static void
test_request_basic(void **state)
{
	struct http1_parser p;
	const char *m = browser_req;
	const struct http1_head *h = &p.head;

	(void)state;
	expect_done(&p, HTTP1_REQUEST, m);
	assert_span_is(m, h->method, "GET");
	assert_span_is(m, h->target, "/static/app.js?v=42");
	assert_int_equal(h->minor_version, 1);
	assert_int_equal(h->status, 0);
	assert_int_equal(h->nheaders, 10);
	assert_header(m, h, 0, "Host", "www.example.com");
	assert_header(m, h, 1, "User-Agent",
	              "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0");
	assert_header(m, h, 2, "Accept", "*/*");
	assert_header(m, h, 4, "Accept-Encoding", "gzip, deflate, br, zstd");
	assert_header(m, h, 7, "Cookie", "session=4f2a9c0d1e; theme=dark");
	assert_header(m, h, 9, "Sec-Fetch-Mode", "no-cors");
	assert_int_equal(h->body, HTTP1_BODY_NONE);
	assert_int_equal(h->content_length, 0);
	assert_true(h->keep_alive);
	assert_false(h->expect_continue);
	assert_false(h->is_head);
	assert_false(h->is_connect);
	assert_false(h->has_upgrade);
}

static void
test_request_minimal_http10(void **state)
{
	struct http1_parser p;

	(void)state;
	expect_done(&p, HTTP1_REQUEST, "GET / HTTP/1.0\r\n\r\n");
	assert_span_is("GET / HTTP/1.0\r\n\r\n", p.head.target, "/");
	assert_int_equal(p.head.minor_version, 0);
	assert_int_equal(p.head.nheaders, 0);
	assert_int_equal(p.head.head_len, 18);
	assert_false(p.head.keep_alive);
	assert_int_equal(p.head.body, HTTP1_BODY_NONE);
}

static void
test_value_trimming(void **state)
{
	static const char m[] =
		"GET / HTTP/1.1\r\n"
		"Host: h\r\n"
		"A:  v  \r\n"
		"B:\tv\t\r\n"
		"C:\r\n"
		"D:   \t \r\n"
		"E: a  b \t c\r\n"
		"F:v\r\n"
		"G: \xff\x80 obs\xe9text\r\n"
		"H:: x :\r\n"
		"I: v: w\r\n"
		"\r\n";
	struct http1_parser p;

	(void)state;
	expect_done(&p, HTTP1_REQUEST, m);
	assert_int_equal(p.head.nheaders, 10);
	assert_header(m, &p.head, 1, "A", "v");
	assert_header(m, &p.head, 2, "B", "v");
	assert_header(m, &p.head, 3, "C", "");
	assert_header(m, &p.head, 4, "D", "");
	assert_header(m, &p.head, 5, "E", "a  b \t c");
	assert_header(m, &p.head, 6, "F", "v");
	assert_header(m, &p.head, 7, "G", "\xff\x80 obs\xe9text");
	assert_header(m, &p.head, 8, "H", ": x :");
	assert_header(m, &p.head, 9, "I", "v: w");
}

static void
test_leading_empty_lines(void **state)
{
	static const char four[] = "\r\n\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http1_parser p;

	(void)state;
	expect_done(&p, HTTP1_REQUEST, "\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(p.head.method.off, 2);
	assert_int_equal(p.head.target.off, 6);
	assert_int_equal(p.head.head_len, 2 + 17 + 9 + 2);

	expect_done(&p, HTTP1_REQUEST, four);
	assert_span_is(four, p.head.method, "GET");
	assert_span_is(four, p.head.target, "/x");
	assert_header(four, &p.head, 0, "Host", "h");

	expect_err(HTTP1_REQUEST, "\r\n\r\n\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n",
	           HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "\r\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, " \r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_BAD_REQUEST);
	/* responses get no allowance */
	expect_err(HTTP1_RESPONSE, "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	           HTTP1_E_BAD_RESPONSE);
}

/* ---- bytes that are never allowed ------------------------------------------ */

static void
test_bare_lf(void **state)
{
	static const char *const cases[] = {
		"GET / HTTP/1.1\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\n",
		"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n",
		"GET / HTTP/1.1\n\n",
		"\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_err(HTTP1_REQUEST, cases[i], HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
	           HTTP1_E_BAD_RESPONSE);
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 0\n\n",
	           HTTP1_E_BAD_RESPONSE);
}

static void
test_bare_cr(void **state)
{
	static const char *const cases[] = {
		"GET\r/ HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\rHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHo\rst: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: v\r \r\n\r\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_err(HTTP1_REQUEST, cases[i], HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n",
	           HTTP1_E_BAD_RESPONSE);
}

static void
test_nul(void **state)
{
	static const struct { const char *m; size_t n; } cases[] = {
		{ L("\0GET / HTTP/1.1\r\nHost: h\r\n\r\n") },
		{ L("G\0T / HTTP/1.1\r\nHost: h\r\n\r\n") },
		{ L("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n") },
		{ L("GET / HTTP/1.\0\r\nHost: h\r\n\r\n") },
		{ L("GET / HTTP/1.1\0\r\nHost: h\r\n\r\n") },
		{ L("GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n") },
		{ L("GET / HTTP/1.1\r\nHost\0: h\r\n\r\n") },
		{ L("GET / HTTP/1.1\r\nHost: h\0\r\n\r\n") },
		{ L("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n") },
		{ L("GET / HTTP/1.1\r\nHost: h\r\nX: \0\r\n\r\n") },
		{ L("GET / HTTP/1.1\r\nHost: h\r\n\0\r\n\r\n") },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_err_n(HTTP1_REQUEST, cases[i].m, cases[i].n, HTTP1_E_BAD_REQUEST);
	expect_err_n(HTTP1_RESPONSE, L("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"), HTTP1_E_BAD_RESPONSE);
	expect_err_n(HTTP1_RESPONSE, L("HTTP/1.1 200 O\0K\r\n\r\n"), HTTP1_E_BAD_RESPONSE);
}

static void
test_ctl_in_value(void **state)
{
	char m[128];
	struct http1_parser p;

	(void)state;
	for (int c = 0; c < 0x80; c++) {
		size_t n = with_byte(m, sizeof m, "GET / HTTP/1.1\r\nHost: h\r\nX: a@b\r\n\r\n", c);
		if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
			assert_int_equal(parse_msg(&p, HTTP1_REQUEST, m, n), HTTP1_DONE);
			assert_int_equal(p.head.headers[1].value.len, 3);
			assert_int_equal(m[p.head.headers[1].value.off + 1], c);
		} else {
			expect_err_n(HTTP1_REQUEST, m, n, HTTP1_E_BAD_REQUEST);
		}
	}
}

/* ---- request line --------------------------------------------------------- */

static void
test_request_line_syntax(void **state)
{
	static const struct { const char *line; enum http1_error e; } cases[] = {
		{ "GET  / HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET /  HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET\t/ HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET /\tHTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ " GET / HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/1.1 ", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/1.1\t", HTTP1_E_BAD_REQUEST },
		{ "GET /HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET / http/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET / Http/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/1", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/1.", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/1.10", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/11.1", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/1,1", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/a.1", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/1.a", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTPS/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET / HTTP/2", HTTP1_E_BAD_REQUEST },
		{ "GET /", HTTP1_E_BAD_REQUEST },
		{ "GET / ", HTTP1_E_BAD_REQUEST },
		{ "GET", HTTP1_E_BAD_REQUEST },
		{ "/ HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "G(T / HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET\"/ HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET /\x7f HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET /\x80 HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET /\xff HTTP/1.1", HTTP1_E_BAD_REQUEST },
		{ "GET /\x01 HTTP/2.0", HTTP1_E_BAD_REQUEST },  /* syntax before version */
		{ "GET / HTTP/2.0", HTTP1_E_VERSION },
		{ "GET / HTTP/9.9", HTTP1_E_VERSION },
		{ "GET / HTTP/1.2", HTTP1_E_VERSION },
		{ "GET / HTTP/1.9", HTTP1_E_VERSION },
		{ "GET / HTTP/0.9", HTTP1_E_VERSION },
		{ "GET / HTTP/3.0", HTTP1_E_VERSION },
		{ "GET / HTTP/0.0", HTTP1_E_VERSION },
		{ "PRI * HTTP/2.0", HTTP1_E_VERSION },          /* version before target form */
	};
	char m[256];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(m, sizeof m, "%s\r\nHost: h\r\n\r\n", cases[i].line);
		expect_err(HTTP1_REQUEST, m, cases[i].e);
	}
}

static void
test_methods(void **state)
{
	static const struct { const char *m; const char *method; bool head, connect; } ok[] = {
		{ "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET", false, false },
		{ "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD", true, false },
		{ "head / HTTP/1.1\r\nHost: h\r\n\r\n", "head", false, false },
		{ "Head / HTTP/1.1\r\nHost: h\r\n\r\n", "Head", false, false },
		{ "HEADX / HTTP/1.1\r\nHost: h\r\n\r\n", "HEADX", false, false },
		{ "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "CONNECT", false, true },
		{ "M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n", NULL, false, false },
		{ "M-SEARCH / HTTP/1.1\r\nHost: h\r\n\r\n", "M-SEARCH", false, false },
		{ "!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\nHost: h\r\n\r\n",
		  "!#$%&'*+-.^_`|~09azAZ", false, false },
	};
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		if (ok[i].method == NULL) {     /* asterisk-form needs OPTIONS */
			expect_err(HTTP1_REQUEST, ok[i].m, HTTP1_E_BAD_REQUEST);
			continue;
		}
		expect_done(&p, HTTP1_REQUEST, ok[i].m);
		assert_span_is(ok[i].m, p.head.method, ok[i].method);
		assert_int_equal(p.head.is_head, ok[i].head);
		assert_int_equal(p.head.is_connect, ok[i].connect);
	}
}

static void
test_target_forms(void **state)
{
	static const struct { const char *start; bool ok; } cases[] = {
		{ "GET /", true },
		{ "GET /a/b?c=d&e=%20|{}^\"<>\\", true },
		{ "GET /a/b?c=d#frag", false },
		{ "GET //x", true },
		{ "GET http://example.com/x", true },
		{ "GET http://example.com", true },
		{ "GET HTTP://EXAMPLE.COM", true },
		{ "GET https://e.com:8443/x?y", true },
		{ "GET hTtPs://e.com", true },
		{ "GET http://e.com?x", true },
		{ "GET http://[::1]:80/", true },
		{ "GET http://", false },
		{ "GET http:///x", false },
		{ "GET http://?x", false },
		{ "GET http://u@e.com/", false },
		{ "GET http://e.com\\x", false },
		{ "GET ftp://e.com/", false },
		{ "GET http:/e.com", false },
		{ "GET http:e.com", false },
		{ "GET httpx://e.com", false },
		{ "GET e.com:80", false },
		{ "GET e.com", false },
		{ "GET ?x", false },
		{ "GET *", false },
		{ "POST *", false },
		{ "OPTIONS *", true },
		{ "OPTIONS /", true },
		{ "OPTIONS http://e.com", true },
		{ "OPTIONS *x", false },
		{ "OPTIONS **", false },
		{ "options *", false },
		{ "CONNECT e.com:443", true },
		{ "CONNECT [::1]:443", true },
		{ "CONNECT 10.0.0.1:1", true },
		{ "CONNECT e.com", false },
		{ "CONNECT e.com:", false },
		{ "CONNECT :443", false },
		{ "CONNECT e.com:44a", false },
		{ "CONNECT e.com:443/", false },
		{ "CONNECT u@e.com:443", false },
		{ "CONNECT /", false },
		{ "CONNECT /x:443", false },
		{ "CONNECT http://e.com:443/", false },
		{ "CONNECT *", false },
		{ "connect e.com:443", false },
	};
	char m[256];
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(m, sizeof m, "%s HTTP/1.1\r\nHost: h\r\n\r\n", cases[i].start);
		if (!cases[i].ok) {
			expect_err(HTTP1_REQUEST, m, HTTP1_E_BAD_REQUEST);
			continue;
		}
		expect_done(&p, HTTP1_REQUEST, m);
		assert_span_is(m, p.head.target, strchr(cases[i].start, ' ') + 1);
	}
}

/* ---- field lines ---------------------------------------------------------- */

static void
test_field_syntax(void **state)
{
	static const char *const bad[] = {
		"Content-Length : 0\r\n",
		"Content-Length\t: 0\r\n",
		"X : v\r\n",
		": v\r\n",
		":\r\n",
		"Na me: v\r\n",
		"Name\r\n",
		"Name v\r\n",
		"Name;: v\r\n",
		"\"Name\": v\r\n",
		"Name(x): v\r\n",
		"N\xe9: v\r\n",
		"X: v\r\n continued\r\n",      /* obs-fold */
		"X: v\r\n\tcontinued\r\n",
		"X: v\r\n \r\n",
		"X: a\001b\r\n",
		"X: a\177b\r\n",
		"X: a\033b\r\n",
	};
	char m[256];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		post_with(m, sizeof m, bad[i]);
		expect_err(HTTP1_REQUEST, m, HTTP1_E_BAD_REQUEST);
	}
	/* whitespace between the request line and the first field */
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\n Host: h\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", HTTP1_E_BAD_REQUEST);
	/* and in responses every such error is a bad response */
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nX: v\r\n folded\r\n\r\n", HTTP1_E_BAD_RESPONSE);
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", HTTP1_E_BAD_RESPONSE);
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\n : 0\r\n\r\n", HTTP1_E_BAD_RESPONSE);
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\n: 0\r\n\r\n", HTTP1_E_BAD_RESPONSE);
}

/* The class tables, byte by byte, against definitions written out here. */
static bool
ref_tchar(int c)
{
	return c != 0 && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	                  (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
ref_fval(int c)
{
	return c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80;
}

static bool
ref_host(int c)
{
	return c != 0 && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	                  (c >= 'A' && c <= 'Z') || strchr("-._~!$&'()*+,;=%:[]", c) != NULL);
}

static bool
ref_qdtext(int c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

static void
test_byte_classes(void **state)
{
	char m[256];
	struct http1_parser p;
	size_t n;

	(void)state;
	for (int c = 0; c < 256; c++) {
		n = with_byte(m, sizeof m, "G@T / HTTP/1.1\r\nHost: h\r\n\r\n", c);
		CHECK((parse_msg(&p, HTTP1_REQUEST, m, n) == HTTP1_DONE) == ref_tchar(c), m, n);

		n = with_byte(m, sizeof m, "GET /a@b HTTP/1.1\r\nHost: h\r\n\r\n", c);
		CHECK((parse_msg(&p, HTTP1_REQUEST, m, n) == HTTP1_DONE) == (c > 0x20 && c < 0x7f && c != '#'), m, n);

		n = with_byte(m, sizeof m, "GET / HTTP/1.1\r\nHost: h\r\nX@Y: v\r\n\r\n", c);
		CHECK((parse_msg(&p, HTTP1_REQUEST, m, n) == HTTP1_DONE) == (ref_tchar(c) || c == ':'), m, n);

		n = with_byte(m, sizeof m, "GET / HTTP/1.1\r\nHost: h\r\nX: a@b\r\n\r\n", c);
		CHECK((parse_msg(&p, HTTP1_REQUEST, m, n) == HTTP1_DONE) == ref_fval(c), m, n);

		n = with_byte(m, sizeof m, "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", c);
		CHECK((parse_msg(&p, HTTP1_REQUEST, m, n) == HTTP1_DONE) == ref_host(c), m, n);

		n = with_byte(m, sizeof m, "HTTP/1.1 200 a@b\r\nContent-Length: 0\r\n\r\n", c);
		CHECK((parse_msg(&p, HTTP1_RESPONSE, m, n) == HTTP1_DONE) == ref_fval(c), m, n);

		/* well-formed, the unknown coding is 501; malformed, 400 */
		n = with_byte(m, sizeof m, "POST / HTTP/1.1\r\nHost: h\r\n"
		              "Transfer-Encoding: x;p=\"@\", chunked\r\n\r\n", c);
		(void)parse_msg(&p, HTTP1_REQUEST, m, n);
		CHECK((p.error == HTTP1_E_NOT_IMPLEMENTED) == (ref_qdtext(c) && c != '\\'), m, n);
	}
}

/* Parse once, no split checks: for the exhaustive loops below. */
static enum http1_result
parse_once(struct http1_parser *p, enum http1_kind kind, const char *m, size_t n)
{
	parser_fresh(p, kind, MAXH, MAXL);
	return feed_copy(p, m, n);
}

/* Long values and targets are checked eight bytes at a time: put every byte
 * value at every offset of a 24-byte run, so each lands in each lane of a
 * word and in the byte-by-byte tail. */
static void
test_byte_classes_long_runs(void **state)
{
	char m[256], tpl[3][256], run[25];
	struct http1_parser p;

	(void)state;
	for (int pos = 0; pos < 24; pos++) {
		memset(run, 'v', 24);
		run[pos] = '@';
		run[24] = '\0';
		snprintf(tpl[0], sizeof tpl[0], "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", run);
		snprintf(tpl[1], sizeof tpl[1], "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", run);
		snprintf(tpl[2], sizeof tpl[2], "HTTP/1.1 200 %s\r\nContent-Length: 0\r\n\r\n", run);
		for (int c = 0; c < 256; c++) {
			/* OWS at either end of the value is trimmed, not refused */
			bool trimmed = (c == ' ' || c == '\t') && (pos == 0 || pos == 23);
			enum http1_result r;
			size_t n;

			n = with_byte(m, sizeof m, tpl[0], c);
			r = parse_once(&p, HTTP1_REQUEST, m, n);
			CHECK((r == HTTP1_DONE) == ref_fval(c), m, n);
			if (r == HTTP1_DONE)
				assert_int_equal(p.head.headers[1].value.len, trimmed ? 23 : 24);

			n = with_byte(m, sizeof m, tpl[1], c);
			r = parse_once(&p, HTTP1_REQUEST, m, n);
			CHECK((r == HTTP1_DONE) == (c > 0x20 && c < 0x7f && c != '#'), m, n);
			if (r == HTTP1_DONE)
				assert_int_equal(p.head.target.len, 25);

			n = with_byte(m, sizeof m, tpl[2], c);
			r = parse_once(&p, HTTP1_RESPONSE, m, n);
			CHECK((r == HTTP1_DONE) == ref_fval(c), m, n);
			if (r == HTTP1_DONE)
				assert_int_equal(p.head.reason.len, 24);
		}
	}
}

static uint64_t
xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random values over a hostile alphabet, against the byte-wise definition. */
static void
test_values_random(void **state)
{
	static const unsigned char alpha[] = {
		'a', 'Z', '0', ' ', '\t', '~', '!', 0x7e, 0x7f, 0x80, 0xff, 0x00, 0x01, 0x1f,
		0x20, 0x21, 0x3a, '\r', '\n', 0xa0, 0x9f, 0x0b,
	};
	uint64_t x = 0x9e3779b97f4a7c15u;
	char m[256];
	struct http1_parser p;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t vlen, n;
		bool ok = true;

		vlen = 1 + (size_t)(xorshift(&x) % 40);
		n = (size_t)snprintf(m, sizeof m, "GET / HTTP/1.1\r\nHost: h\r\nX: v");
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c;

			xorshift(&x);
			/* mostly good bytes, now and then a bad one */
			c = (x >> 8) % 16 ? (unsigned char)('a' + (x >> 16) % 26) :
			                    alpha[(x >> 24) % sizeof alpha];
			m[n++] = (char)c;
			ok = ok && ref_fval(c);
		}
		memcpy(m + n, "v\r\n\r\n", 5);
		n += 5;
		CHECK((parse_once(&p, HTTP1_REQUEST, m, n) == HTTP1_DONE) == ok, m, n);
		if (ok)
			assert_int_equal(p.head.headers[1].value.len, vlen + 2);
	}
}

static void
test_host_rules(void **state)
{
	struct http1_parser p;

	(void)state;
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET http://e.com/ HTTP/1.1\r\n\r\n", HTTP1_E_BAD_REQUEST);

	expect_done(&p, HTTP1_REQUEST, "GET / HTTP/1.0\r\n\r\n");
	expect_done(&p, HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost:\r\n\r\n");
	assert_int_equal(p.head.headers[0].value.len, 0);
	expect_done(&p, HTTP1_REQUEST, "GET / HTTP/1.1\r\nHOST: [::1]:8080\r\n\r\n");
	assert_header("GET / HTTP/1.1\r\nHOST: [::1]:8080\r\n\r\n", &p.head, 0, "HOST", "[::1]:8080");
	expect_done(&p, HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: ex%41mple.com:80\r\n\r\n");
	/* a response may carry anything called Host */
	expect_done(&p, HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b/c\r\nContent-Length: 0\r\n\r\n");
}

/* ---- limits --------------------------------------------------------------- */

/* A request of exactly N bytes whose head ends at N: padding in one field. */
static size_t
sized_request(char *m, size_t cap, size_t n)
{
	const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
	size_t a = strlen(pre), i;

	assert_true(n >= a + 4 && n < cap);
	memcpy(m, pre, a);
	for (i = a; i < n - 4; i++)
		m[i] = 'x';
	memcpy(m + n - 4, "\r\n\r\n", 4);
	return n;
}

static void
test_head_limit(void **state)
{
	char m[512];
	struct http1_parser p;
	size_t n;

	(void)state;
	n = sized_request(m, sizeof m, 200);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, n, 200, 100), HTTP1_DONE);
	assert_int_equal(p.head.head_len, 200);
	assert_int_equal(p.head.headers[1].value.len, 200 - 4 - 28);

	n = sized_request(m, sizeof m, 201);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, n, 200, 100), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_HEADERS_TOO_LARGE);
	assert_int_equal(http1_error_status(p.error), 431);

	/* detected without the end of the head: 199 bytes wait, 201 refuse */
	n = sized_request(m, sizeof m, 400);
	parser_fresh(&p, HTTP1_REQUEST, 200, 100);
	assert_int_equal(feed_copy(&p, m, 199), HTTP1_AGAIN);
	assert_int_equal(feed_copy(&p, m, 201), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_HEADERS_TOO_LARGE);
	parser_fresh(&p, HTTP1_REQUEST, 200, 100);
	assert_int_equal(feed_copy(&p, m, 201), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_HEADERS_TOO_LARGE);

	/* the same head with the pipelined next request after it is still fine */
	n = sized_request(m, sizeof m, 200);
	memcpy(m + n, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, n + 16, 200, 100), HTTP1_DONE);
	assert_int_equal(p.head.head_len, 200);

	/* leading empty lines count */
	memcpy(m, "\r\n", 2);
	sized_request(m + 2, sizeof m - 2, 199);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, 201, 200, 100), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_HEADERS_TOO_LARGE);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, 201, 201, 100), HTTP1_DONE);
	assert_int_equal(p.head.head_len, 201);

	/* responses: too large is a bad response */
	n = (size_t)snprintf(m, sizeof m, "HTTP/1.1 200 OK\r\nX: %0100d\r\n\r\n", 0);
	assert_int_equal(parse_lim(&p, HTTP1_RESPONSE, m, n, n, 10), HTTP1_DONE);
	assert_int_equal(parse_lim(&p, HTTP1_RESPONSE, m, n, n - 1, 10000), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_BAD_RESPONSE);
}

static void
test_line_limit(void **state)
{
	char m[512];
	struct http1_parser p;
	int n;

	(void)state;
	/* "GET /" + 'a' * k + " HTTP/1.1": 14 + k bytes of line */
	n = snprintf(m, sizeof m, "GET /%018d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 1000, 32), HTTP1_DONE);
	assert_int_equal(p.head.target.len, 19);
	n = snprintf(m, sizeof m, "GET /%019d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 1000, 32), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_URI_TOO_LONG);
	assert_int_equal(http1_error_status(p.error), 414);

	/* detected before the line is complete */
	n = snprintf(m, sizeof m, "GET /%0100d", 0);
	parser_fresh(&p, HTTP1_REQUEST, 1000, 32);
	assert_int_equal(feed_copy(&p, m, 33), HTTP1_AGAIN);  /* byte 33 could be CR */
	assert_int_equal(feed_copy(&p, m, 34), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_URI_TOO_LONG);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 1000, 32), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_URI_TOO_LONG);

	/* empty lines before the request line do not count towards it */
	n = snprintf(m, sizeof m, "\r\n\r\nGET /%018d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 1000, 32), HTTP1_DONE);

	/* field lines are limited by the head only */
	n = snprintf(m, sizeof m, "GET / HTTP/1.1\r\nHost: h\r\nX: %0100d\r\n\r\n", 0);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 1000, 32), HTTP1_DONE);

	/* when the head limit comes first, 431 wins; on a tie, 414 */
	n = snprintf(m, sizeof m, "GET /%030d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 30, 32), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_HEADERS_TOO_LARGE);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 34, 32), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_URI_TOO_LONG);
	assert_int_equal(parse_lim(&p, HTTP1_REQUEST, m, (size_t)n, 35, 32), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_URI_TOO_LONG);

	/* not applied to status lines */
	n = snprintf(m, sizeof m, "HTTP/1.1 200 %0100d\r\nContent-Length: 0\r\n\r\n", 0);
	assert_int_equal(parse_lim(&p, HTTP1_RESPONSE, m, (size_t)n, 1000, 32), HTTP1_DONE);
	assert_int_equal(p.head.reason.len, 100);
}

static void
test_too_many_headers(void **state)
{
	static char m[8192];
	struct http1_parser p;
	size_t n;
	int i;

	(void)state;
	n = (size_t)snprintf(m, sizeof m, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 1; i < HTTP1_MAX_HEADERS; i++)
		n += (size_t)snprintf(m + n, sizeof m - n, "X%d: %d\r\n", i, i);
	memcpy(m + n, "\r\n", 2);
	assert_int_equal(parse_msg(&p, HTTP1_REQUEST, m, n + 2), HTTP1_DONE);
	assert_int_equal(p.head.nheaders, HTTP1_MAX_HEADERS);
	assert_header(m, &p.head, HTTP1_MAX_HEADERS - 1, "X127", "127");

	n += (size_t)snprintf(m + n, sizeof m - n, "Y: y\r\n\r\n");
	assert_int_equal(parse_msg(&p, HTTP1_REQUEST, m, n), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_HEADERS_TOO_LARGE);

	/* responses: the same count, the error is a bad response */
	n = (size_t)snprintf(m, sizeof m, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < HTTP1_MAX_HEADERS; i++)
		n += (size_t)snprintf(m + n, sizeof m - n, "X%d: %d\r\n", i, i);
	memcpy(m + n, "\r\n", 2);
	assert_int_equal(parse_msg(&p, HTTP1_RESPONSE, m, n + 2), HTTP1_DONE);
	assert_int_equal(p.head.nheaders, HTTP1_MAX_HEADERS);
	n += (size_t)snprintf(m + n, sizeof m - n, "Y: y\r\n\r\n");
	assert_int_equal(parse_msg(&p, HTTP1_RESPONSE, m, n), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_BAD_RESPONSE);
}

/* ---- incremental behaviour ------------------------------------------------ */

static void
test_pipelined(void **state)
{
	static const char m[] =
		"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
		"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	static const char post[] =
		"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		"GET /n HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http1_parser p;
	size_t first;

	(void)state;
	assert_int_equal(REQ(&p, m), HTTP1_DONE);
	first = p.head.head_len;
	assert_int_equal(first, 28);
	assert_span_is(m, p.head.target, "/a");
	assert_true(p.head.keep_alive);

	assert_int_equal(parse_msg(&p, HTTP1_REQUEST, m + first, sizeof m - 1 - first), HTTP1_DONE);
	assert_span_is(m + first, p.head.target, "/b");
	assert_int_equal(p.head.head_len, sizeof m - 1 - first);
	assert_false(p.head.keep_alive);

	assert_int_equal(REQ(&p, post), HTTP1_DONE);
	assert_int_equal(p.head.head_len, 48);
	assert_int_equal(p.head.body, HTTP1_BODY_LENGTH);
	assert_int_equal(p.head.content_length, 5);
	assert_memory_equal(post + p.head.head_len, "hello", 5);

	/* garbage after a complete head is not looked at */
	assert_int_equal(parse_msg(&p, HTTP1_REQUEST, L("GET / HTTP/1.1\r\nHost: h\r\n\r\n\0\r\n\n junk")),
	                 HTTP1_DONE);
	assert_int_equal(p.head.head_len, 27);
}

static void
test_incremental_fill(void **state)
{
	static const char m[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
	struct http1_parser p;

	(void)state;
	parser_fresh(&p, HTTP1_REQUEST, MAXH, MAXL);
	assert_int_equal(http1_parse_head(&p, m, 0), HTTP1_AGAIN);
	assert_int_equal(http1_parse_head(&p, m, 10), HTTP1_AGAIN);
	assert_int_equal(p.head.nheaders, 0);
	assert_int_equal(http1_parse_head(&p, m, 31), HTTP1_AGAIN);  /* through "A: 1\r\n" */
	assert_int_equal(p.head.nheaders, 2);
	assert_int_equal(p.scanned, 31);                              /* not rescanned */
	assert_int_equal(http1_parse_head(&p, m, 33), HTTP1_AGAIN);
	assert_int_equal(p.scanned, 33);
	assert_int_equal(p.head.nheaders, 2);
	assert_int_equal(http1_parse_head(&p, m, sizeof m - 2), HTTP1_AGAIN);
	assert_int_equal(p.head.nheaders, 3);
	assert_int_equal(http1_parse_head(&p, m, sizeof m - 1), HTTP1_DONE);
	assert_int_equal(p.head.nheaders, 3);
	assert_header(m, &p.head, 2, "B", "2");
	/* sticky; init starts over */
	assert_int_equal(http1_parse_head(&p, "x", 1), HTTP1_DONE);
	http1_parser_init(&p, HTTP1_REQUEST, MAXH, MAXL);
	assert_int_equal(http1_parse_head(&p, "x\r\n", 3), HTTP1_ERROR);
	assert_int_equal(p.error, HTTP1_E_BAD_REQUEST);
	assert_int_equal(http1_parse_head(&p, m, sizeof m - 1), HTTP1_ERROR);
	http1_parser_init(&p, HTTP1_REQUEST, MAXH, MAXL);
	assert_int_equal(p.error, HTTP1_E_NONE);
	assert_int_equal(http1_parse_head(&p, m, sizeof m - 1), HTTP1_DONE);
}

/* ---- framing: requests ---------------------------------------------------- */

static void
test_content_length(void **state)
{
	static const struct { const char *v; bool ok; uint64_t n; } cases[] = {
		{ "0", true, 0 },
		{ "5", true, 5 },
		{ "007", true, 7 },
		{ "  42 \t", true, 42 },
		{ "1234567890", true, 1234567890 },
		{ "9223372036854775807", true, INT64_MAX },
		{ "09223372036854775807", true, INT64_MAX },
		{ "9223372036854775808", false, 0 },
		{ "18446744073709551615", false, 0 },
		{ "18446744073709551616", false, 0 },
		{ "99999999999999999999999", false, 0 },
		{ "", false, 0 },
		{ "+5", false, 0 },
		{ "-5", false, 0 },
		{ "5 5", false, 0 },
		{ "0x5", false, 0 },
		{ "5,5", false, 0 },
		{ "5, 5", false, 0 },
		{ "5a", false, 0 },
		{ "1.0", false, 0 },
		{ "\"5\"", false, 0 },
		{ "five", false, 0 },
	};
	char m[256], f[128];
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(f, sizeof f, "Content-Length: %s\r\n", cases[i].v);
		post_with(m, sizeof m, f);
		if (!cases[i].ok) {
			expect_err(HTTP1_REQUEST, m, HTTP1_E_BAD_REQUEST);
			continue;
		}
		expect_done(&p, HTTP1_REQUEST, m);
		assert_int_equal(p.head.body, HTTP1_BODY_LENGTH);
		assert_int_equal(p.head.content_length, cases[i].n);
	}
	/* any second Content-Length, equal or not, in any case */
	expect_err(HTTP1_REQUEST, post_with(m, sizeof m, "Content-Length: 5\r\nContent-Length: 5\r\n"),
	           HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, post_with(m, sizeof m, "Content-Length: 5\r\ncontent-length: 6\r\n"),
	           HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, post_with(m, sizeof m, "Content-Length: 5\r\nX: y\r\nCONTENT-LENGTH: 5\r\n"),
	           HTTP1_E_BAD_REQUEST);
	/* a name that merely looks alike is just a field */
	expect_done(&p, HTTP1_REQUEST, post_with(m, sizeof m, "Content-Lengths: x\r\nContent-Length: 3\r\n"));
	assert_int_equal(p.head.content_length, 3);
	/* no framing fields: no body */
	expect_done(&p, HTTP1_REQUEST, post_with(m, sizeof m, ""));
	assert_int_equal(p.head.body, HTTP1_BODY_NONE);
}

static void
test_transfer_encoding(void **state)
{
	static const struct { const char *f; enum http1_error e; } cases[] = {
		{ "Transfer-Encoding: chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: Chunked\r\n", HTTP1_E_NONE },
		{ "TRANSFER-ENCODING: CHUNKED\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding:chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: gzip, chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: gzip,chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: gzip \t,\t chunked \r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: x-gzip, compress, x-compress, chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: GZIP, gzip, chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: gzip\r\nX: y\r\ntransfer-encoding: deflate, chunked\r\n", HTTP1_E_NONE },
		/* parameters (none is defined for these codings), unknown codings,
		 * more than HTTP1_MAX_CODINGS codings: 501 */
		{ "Transfer-Encoding: gzip;level=1, chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: gzip ; level = 1 ;x=y, chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: x;p=\"a \\\" , chunked\", chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: cow, chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: cow\r\nTransfer-Encoding: chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: br, chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: identity, chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: gzip, gzip, gzip, gzip, gzip, chunked\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: gzip\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: identity\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: chunked, gzip\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: chunkedx\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: chunke\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: x;p=\"chunked\"\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: chunked, chunked, gzip\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: chunked, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: chunked, gzip, chunked\r\n", HTTP1_E_BAD_REQUEST },
		/* empty list elements are ignored (RFC 9110 5.6.1) */
		{ "Transfer-Encoding: gzip, , chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: gzip,,chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: , chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: ,,\t, chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: chunked,\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: chunked , ,\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: gzip,\r\nTransfer-Encoding: ,chunked\r\n", HTTP1_E_NONE },
		{ "Transfer-Encoding: chunked,, gzip\r\n", HTTP1_E_NOT_IMPLEMENTED },
		{ "Transfer-Encoding: chunked, ,chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: ,\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: , ,\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip,;x=1, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding:\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: \t \r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: chunked x\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: chunked;q=1\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: chunked ; q=1\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip;level, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip;=1, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip;level=, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip;, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip;l=\"1, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip;l=\"1\\\", chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip;l=\"1\"x, chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: \"chunked\"\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: chunked\x0b\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding : chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Transfer-Encoding: gzip\r\nTransfer-Encoding: ,\r\n", HTTP1_E_BAD_REQUEST },
		/* CL with TE: 400, checked before the final coding */
		{ "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", HTTP1_E_BAD_REQUEST },
		{ "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", HTTP1_E_BAD_REQUEST },
		{ "Content-Length: 0\r\nTransfer-Encoding: gzip\r\n", HTTP1_E_BAD_REQUEST },
	};
	char m[512];
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		post_with(m, sizeof m, cases[i].f);
		if (cases[i].e != HTTP1_E_NONE) {
			expect_err(HTTP1_REQUEST, m, cases[i].e);
			continue;
		}
		expect_done(&p, HTTP1_REQUEST, m);
		CHECK(p.head.body == HTTP1_BODY_CHUNKED, m, strlen(m));
		assert_true(p.head.keep_alive);
	}
	/* HTTP/1.0 with Transfer-Encoding is faulty framing */
	expect_err(HTTP1_REQUEST, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	           HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
	           HTTP1_E_BAD_REQUEST);
	/* TE-like names are just fields */
	expect_done(&p, HTTP1_REQUEST, post_with(m, sizeof m, "TE: gzip\r\nTransfer-Encodings: gzip\r\n"));
	assert_int_equal(p.head.body, HTTP1_BODY_NONE);
}

static void
test_connection(void **state)
{
	static const struct { int minor; const char *f; bool ka; } cases[] = {
		{ 1, "", true },
		{ 1, "Connection: close\r\n", false },
		{ 1, "Connection: Close\r\n", false },
		{ 1, "connection: CLOSE\r\n", false },
		{ 1, "Connection: keep-alive\r\n", true },
		{ 1, "Connection: keep-alive, close\r\n", false },
		{ 1, "Connection: foo,close\r\n", false },
		{ 1, "Connection: ,, close ,\r\n", false },
		{ 1, "Connection: closed\r\n", true },
		{ 1, "Connection: x-close\r\n", true },
		{ 1, "Connection: upgrade\r\nConnection: close\r\n", false },
		{ 1, "Proxy-Connection: close\r\n", true },
		{ 0, "", false },
		{ 0, "Connection: keep-alive\r\n", true },
		{ 0, "Connection: Keep-Alive\r\n", true },
		{ 0, "Connection: upgrade,\tkeep-alive \r\n", true },
		{ 0, "Connection: x\r\nConnection: keep-alive\r\n", true },
		{ 0, "Connection: keep-alive, close\r\n", false },
		{ 0, "Connection: close\r\nConnection: keep-alive\r\n", false },
		{ 0, "Connection: keepalive\r\n", false },
		{ 0, "Keep-Alive: timeout=5\r\n", false },
	};
	char m[256];
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(m, sizeof m, "GET / HTTP/1.%d\r\nHost: h\r\n%s\r\n", cases[i].minor, cases[i].f);
		expect_done(&p, HTTP1_REQUEST, m);
		assert_int_equal(p.head.minor_version, cases[i].minor);
		CHECK(p.head.keep_alive == cases[i].ka, m, strlen(m));
	}
}

static void
test_expect_upgrade(void **state)
{
	static const struct { int minor; const char *f; bool cont, upg; } cases[] = {
		{ 1, "Expect: 100-continue\r\n", true, false },
		{ 1, "Expect: 100-Continue\r\n", true, false },
		{ 1, "EXPECT:  100-CONTINUE \r\n", true, false },
		{ 1, "Expect: 100-continue, foo\r\n", false, false },
		{ 1, "Expect: 100-continued\r\n", false, false },
		{ 1, "Expect: foo\r\n", false, false },
		{ 1, "Expect: foo\r\nExpect: 100-continue\r\n", true, false },
		{ 1, "Expects: 100-continue\r\n", false, false },
		{ 0, "Expect: 100-continue\r\n", false, false },
		{ 1, "Upgrade: websocket\r\nConnection: Upgrade\r\n", false, true },
		{ 1, "upgrade:\r\n", false, true },
		{ 1, "Connection: upgrade\r\n", false, false },
		{ 1, "Upgrades: h2c\r\n", false, false },
		{ 0, "Upgrade: websocket\r\n", false, true },
	};
	char m[256];
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(m, sizeof m, "PUT /x HTTP/1.%d\r\nHost: h\r\nContent-Length: 3\r\n%s\r\n",
		         cases[i].minor, cases[i].f);
		expect_done(&p, HTTP1_REQUEST, m);
		CHECK(p.head.expect_continue == cases[i].cont, m, strlen(m));
		CHECK(p.head.has_upgrade == cases[i].upg, m, strlen(m));
		assert_int_equal(p.head.body, HTTP1_BODY_LENGTH);
		assert_int_equal(p.head.content_length, 3);
	}
}

/* ---- responses ------------------------------------------------------------ */

static void
test_status_line(void **state)
{
	static const struct { const char *line; int status; const char *reason; int minor; } ok[] = {
		{ "HTTP/1.1 200 OK", 200, "OK", 1 },
		{ "HTTP/1.1 200 ", 200, "", 1 },
		{ "HTTP/1.1 200", 200, "", 1 },
		{ "HTTP/1.0 404 Not Found", 404, "Not Found", 0 },
		{ "HTTP/1.1 200  OK \t", 200, " OK \t", 1 },
		{ "HTTP/1.1 200 \xe9t\xe9", 200, "\xe9t\xe9", 1 },
		{ "HTTP/1.1 100 Continue", 100, "Continue", 1 },
		{ "HTTP/1.1 599 x", 599, "x", 1 },
		{ "HTTP/1.1 199 a:b \"c\"", 199, "a:b \"c\"", 1 },
	};
	static const char *const bad[] = {
		"HTTP/1.1 099 x", "HTTP/1.1 000 x", "HTTP/1.1 600 x", "HTTP/1.1 999 x",
		"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 20x OK", "HTTP/1.1  200 OK",
		"HTTP/1.1 200OK", "HTTP/1.1 200\tOK", "HTTP/1.1\t200 OK", "HTTP/1.1 -20 OK",
		"HTTP/1.1 +20 OK", "HTTP/2.0 200 OK", "HTTP/1.2 200 OK", "HTTP/0.9 200 OK",
		"HTTP/1 200 OK", "http/1.1 200 OK", "HTTP/1.1", "HTTP/1.1 ", "ICY 200 OK",
		"HTTP/1.1 200 O\x01K", "HTTP/1.1 200 O\x7fK", " HTTP/1.1 200 OK",
	};
	char m[256];
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		snprintf(m, sizeof m, "%s\r\nContent-Length: 0\r\n\r\n", ok[i].line);
		expect_done(&p, HTTP1_RESPONSE, m);
		assert_int_equal(p.head.status, ok[i].status);
		assert_span_is(m, p.head.reason, ok[i].reason);
		assert_int_equal(p.head.minor_version, ok[i].minor);
		assert_int_equal(p.head.method.len, 0);
		assert_int_equal(p.head.target.len, 0);
		assert_header(m, &p.head, 0, "Content-Length", "0");
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(m, sizeof m, "%s\r\nContent-Length: 0\r\n\r\n", bad[i]);
		expect_err(HTTP1_RESPONSE, m, HTTP1_E_BAD_RESPONSE);
	}
	expect_err(HTTP1_RESPONSE, "\r\n", HTTP1_E_BAD_RESPONSE);
	/* a request line is not a status line and vice versa */
	expect_err(HTTP1_RESPONSE, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_E_BAD_RESPONSE);
	expect_err(HTTP1_REQUEST, "HTTP/1.1 200 OK\r\nHost: h\r\n\r\n", HTTP1_E_BAD_REQUEST);
}

static void
test_response_framing(void **state)
{
	static const struct {
		const char *m; enum http1_body body; uint64_t cl; bool ka;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP1_BODY_LENGTH, 5, true },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP1_BODY_LENGTH, 0, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_BODY_CHUNKED, 0, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP1_BODY_CHUNKED, 0, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked,\r\n\r\n", HTTP1_BODY_CHUNKED, 0, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: deflate\r\n\r\n",
		  HTTP1_BODY_CLOSE, 0, false },
		{ "HTTP/1.1 200 OK\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
		{ "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
		{ "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
		  HTTP1_BODY_LENGTH, 1, false },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", HTTP1_BODY_LENGTH, 1, false },
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
		  HTTP1_BODY_LENGTH, 1, true },
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
		{ "HTTP/1.0 200 OK\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
		/* no body whatever the fields say: keep-alive follows Connection */
		{ "HTTP/1.1 204 No Content\r\n\r\n", HTTP1_BODY_CLOSE, 0, true },
		{ "HTTP/1.1 304 Not Modified\r\n\r\n", HTTP1_BODY_CLOSE, 0, true },
		{ "HTTP/1.1 100 Continue\r\n\r\n", HTTP1_BODY_CLOSE, 0, true },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		  HTTP1_BODY_CLOSE, 0, true },
		{ "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
		{ "HTTP/1.0 304 Not Modified\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
		{ "HTTP/1.1 205 Reset Content\r\n\r\n", HTTP1_BODY_CLOSE, 0, false },
	};
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: br\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: cow, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip;q=1, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: a b\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		expect_done(&p, HTTP1_RESPONSE, cases[i].m);
		CHECK(p.head.body == cases[i].body, cases[i].m, strlen(cases[i].m));
		CHECK(p.head.keep_alive == cases[i].ka, cases[i].m, strlen(cases[i].m));
		if (cases[i].body == HTTP1_BODY_LENGTH)
			assert_int_equal(p.head.content_length, cases[i].cl);
		assert_false(p.head.expect_continue);
		assert_false(p.head.is_head);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_err(HTTP1_RESPONSE, bad[i], HTTP1_E_BAD_RESPONSE);

	/* responses ignore Expect */
	expect_done(&p, HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
	assert_false(p.head.expect_continue);
	expect_done(&p, HTTP1_RESPONSE, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n");
	assert_true(p.head.has_upgrade);
}

static void
test_response_body(void **state)
{
	static const struct {
		const char *m; bool head; enum http1_body want; bool ka;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, HTTP1_BODY_LENGTH, true },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, HTTP1_BODY_CHUNKED, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 200 OK\r\n\r\n", false, HTTP1_BODY_CLOSE, false },
		{ "HTTP/1.1 200 OK\r\n\r\n", true, HTTP1_BODY_NONE, false },  /* conservative */
		{ "HTTP/1.1 100 Continue\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 101 Switching Protocols\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 199 x\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 204 No Content\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 304 Not Modified\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, HTTP1_BODY_LENGTH, true },
		{ "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n", false, HTTP1_BODY_LENGTH, true },
		{ "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", false, HTTP1_BODY_LENGTH, true },
		{ "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip\r\n\r\n", false, HTTP1_BODY_CLOSE, false },
		{ "HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\n", true, HTTP1_BODY_NONE, true },
		{ "HTTP/1.1 303 See Other\r\nContent-Length: 3\r\n\r\n", false, HTTP1_BODY_LENGTH, true },
	};
	struct http1_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		expect_done(&p, HTTP1_RESPONSE, cases[i].m);
		http1_response_body(&p.head, cases[i].head);
		CHECK(p.head.body == cases[i].want, cases[i].m, strlen(cases[i].m));
		CHECK(p.head.keep_alive == cases[i].ka, cases[i].m, strlen(cases[i].m));
	}
}

/* ---- small API ------------------------------------------------------------ */

static void
test_error_mapping(void **state)
{
	(void)state;
	assert_int_equal(http1_error_status(HTTP1_E_BAD_REQUEST), 400);
	assert_int_equal(http1_error_status(HTTP1_E_URI_TOO_LONG), 414);
	assert_int_equal(http1_error_status(HTTP1_E_HEADERS_TOO_LARGE), 431);
	assert_int_equal(http1_error_status(HTTP1_E_NOT_IMPLEMENTED), 501);
	assert_int_equal(http1_error_status(HTTP1_E_VERSION), 505);
	assert_int_equal(http1_error_status(HTTP1_E_BAD_RESPONSE), 502);
	assert_int_equal(http1_error_status(HTTP1_E_NONE), 500);
	assert_string_equal(http1_error_reason(HTTP1_E_BAD_REQUEST), "Bad Request");
	assert_string_equal(http1_error_reason(HTTP1_E_URI_TOO_LONG), "URI Too Long");
	assert_string_equal(http1_error_reason(HTTP1_E_HEADERS_TOO_LARGE),
	                    "Request Header Fields Too Large");
	assert_string_equal(http1_error_reason(HTTP1_E_NOT_IMPLEMENTED), "Not Implemented");
	assert_string_equal(http1_error_reason(HTTP1_E_VERSION), "HTTP Version Not Supported");
	assert_string_equal(http1_error_reason(HTTP1_E_BAD_RESPONSE), "Bad Gateway");
	assert_string_equal(http1_error_reason(HTTP1_E_NONE), "Internal Server Error");
}

static void
test_span_ieq(void **state)
{
	static const char b[] = "xContent-LENGTH@[`{";
	struct http1_span s = { 1, 14 };

	(void)state;
	assert_true(http1_span_ieq(b, s, "content-length"));
	assert_false(http1_span_ieq(b, s, "content-lengt"));
	assert_false(http1_span_ieq(b, s, "content-lengths"));
	assert_false(http1_span_ieq(b, s, "content_length"));
	assert_false(http1_span_ieq(b, s, "CONTENT-LENGTH"));   /* the literal is lower case */
	assert_false(http1_span_ieq(b, (struct http1_span){ 1, 13 }, "content-length"));
	assert_true(http1_span_ieq(b, (struct http1_span){ 0, 0 }, ""));
	assert_false(http1_span_ieq(b, (struct http1_span){ 0, 0 }, "x"));
	assert_false(http1_span_ieq(b, (struct http1_span){ 0, 1 }, ""));
	/* only letters fold: '@' is not '`', '[' is not '{' */
	assert_true(http1_span_ieq(b, (struct http1_span){ 15, 3 }, "@[`"));
	assert_false(http1_span_ieq(b, (struct http1_span){ 15, 1 }, "`"));
	assert_false(http1_span_ieq(b, (struct http1_span){ 16, 1 }, "{"));
	assert_false(http1_span_ieq(b, (struct http1_span){ 17, 1 }, "@"));
}

/* ---- chunked decoder ------------------------------------------------------ */

static ssize_t
cfeed(struct http1_chunked *c, const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	ssize_t r;

	assert_non_null(b);
	memcpy(b, s, n);
	r = http1_chunked_feed(c, b, n);
	free(b);
	return r;
}

/* Feed S whole; then split in two at every point, and byte by byte, checking
 * the same total is consumed with the same outcome. Returns the total (-1 on
 * error); the whole-feed decoder state is left in *OUT. */
static ssize_t
chunk_run(const char *s, size_t n, struct http1_chunked *out)
{
	struct http1_chunked c, d;
	ssize_t whole, r, total;
	size_t step = n > 3000 ? n / 397 + 1 : 1;

	http1_chunked_init(&c);
	whole = cfeed(&c, s, n);
	CHECK(whole >= -1 && whole <= (ssize_t)n, s, n);

	for (size_t k = 0; k <= n; k = (k + step > n && k < n) ? n : k + step) {
		http1_chunked_init(&d);
		r = cfeed(&d, s, k);
		if (r < 0) {
			total = -1;
		} else if (d.done) {
			total = r;
		} else {
			ssize_t r2;
			CHECK((size_t)r == k, s, n);  /* not done: everything consumed */
			r2 = cfeed(&d, s + k, n - k);
			total = r2 < 0 ? -1 : r + r2;
		}
		CHECK(total == whole, s, n);
		CHECK(d.done == c.done, s, n);
		if (whole >= 0)
			CHECK(d.remaining == c.remaining, s, n);
	}

	http1_chunked_init(&d);
	total = 0;
	for (size_t i = 0; i < n; i++) {
		r = cfeed(&d, s + i, 1);
		if (r < 0) {
			total = -1;
			break;
		}
		total += r;
		if (d.done)
			break;
		CHECK(r == 1, s, n);
	}
	CHECK(total == whole, s, n);
	CHECK(d.done == c.done, s, n);

	/* sticky: more input after the end or after an error changes nothing */
	if (whole < 0 || d.done) {
		r = cfeed(&d, "0\r\n\r\n", 5);
		CHECK(r == (whole < 0 ? -1 : 0), s, n);
	}
	*out = c;
	return whole;
}

#define CHUNK(c, lit) chunk_run(L(lit), (c))

static void
expect_chunk_ok(const char *s, size_t consumed)
{
	struct http1_chunked c;
	ssize_t r = chunk_run(s, strlen(s), &c);

	CHECK(r == (ssize_t)consumed, s, strlen(s));
	CHECK(c.done, s, strlen(s));
}

static void
expect_chunk_bad(const char *s, size_t n)
{
	struct http1_chunked c;

	CHECK(chunk_run(s, n, &c) == -1, s, n);
	CHECK(!c.done, s, n);
	CHECK(http1_chunked_feed(&c, "0\r\n\r\n", 5) == -1, s, n);
}

static void
test_chunked_basic(void **state)
{
	static const char many[] =
		"1\r\na\r\nA\r\n0123456789\r\na\r\n0123456789\r\n"
		"10\r\n0123456789abcdef\r\nF\r\n0123456789abcde\r\n0\r\n\r\n";
	/* data may contain anything, CRLF and NUL included */
	static const char crlf_data[] = "6\r\n" "\r\n0\r\n\r" "\r\n" "0\r\n\r\n";
	static const char nul_data[] = "3\r\n" "\0\r\n" "\r\n" "0\r\n\r\n";
	struct http1_chunked c;

	(void)state;
	assert_int_equal(CHUNK(&c, "5\r\nhello\r\n0\r\n\r\n"), 15);
	assert_true(c.done);
	assert_int_equal(c.remaining, 0);
	assert_int_equal(CHUNK(&c, "0\r\n\r\n"), 5);
	assert_true(c.done);
	assert_int_equal(CHUNK(&c, many), sizeof many - 1);
	assert_true(c.done);
	assert_int_equal(CHUNK(&c, "0005\r\nhello\r\n000\r\n\r\n"), 20);
	assert_true(c.done);
	assert_int_equal(CHUNK(&c, crlf_data), 16);
	assert_true(c.done);
	assert_int_equal(CHUNK(&c, nul_data), 13);
	assert_true(c.done);
	/* one byte short of each of those is not done */
	assert_int_equal(chunk_run(many, sizeof many - 2, &c), (ssize_t)sizeof many - 2);
	assert_false(c.done);
	assert_int_equal(chunk_run(crlf_data, 15, &c), 15);
	assert_false(c.done);
}

static void
test_chunked_incomplete(void **state)
{
	struct http1_chunked c;

	(void)state;
	assert_int_equal(CHUNK(&c, "5\r\nhel"), 6);
	assert_false(c.done);
	assert_int_equal(c.remaining, 2);
	assert_int_equal(CHUNK(&c, "5\r\nhello\r\n"), 10);
	assert_false(c.done);
	assert_int_equal(CHUNK(&c, "5\r\nhello\r\n0\r\n"), 13);
	assert_false(c.done);
	assert_int_equal(CHUNK(&c, "5\r\nhello\r\n0\r\n\r"), 14);
	assert_false(c.done);
	assert_int_equal(CHUNK(&c, "0\r\nX: y\r\n"), 9);
	assert_false(c.done);
	assert_int_equal(CHUNK(&c, "7fffffffffffffff\r\n"), 18);
	assert_false(c.done);
	assert_int_equal(c.remaining, (uint64_t)INT64_MAX);
	assert_int_equal(CHUNK(&c, "00000000000000000000000001\r\n"), 28);
	assert_int_equal(c.remaining, 1);
	assert_int_equal(CHUNK(&c, "aBcDeF\r\n"), 8);
	assert_int_equal(c.remaining, 0xabcdef);
}

static void
test_chunked_stops_at_end(void **state)
{
	struct http1_chunked c;
	static const char m[] = "5\r\nhello\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n\r\n";

	(void)state;
	assert_int_equal(CHUNK(&c, "0\r\n\r\nGET / HTTP/1.1\r\n"), 5);
	assert_true(c.done);
	assert_int_equal(CHUNK(&c, "0\r\n\r\n0\r\n\r\n"), 5);
	assert_int_equal(CHUNK(&c, m), 21);
	assert_true(c.done);
	/* after the end, nothing more is consumed */
	assert_int_equal(http1_chunked_feed(&c, m + 21, sizeof m - 1 - 21), 0);
	assert_int_equal(http1_chunked_feed(&c, "x", 1), 0);
	assert_true(c.done);
	/* init starts over */
	http1_chunked_init(&c);
	assert_false(c.done);
	assert_int_equal(http1_chunked_feed(&c, m, sizeof m - 1), 21);
}

static void
test_chunked_extensions(void **state)
{
	static const char *const ok[] = {
		"5;a\r\nhello\r\n0\r\n\r\n",
		"5;a=b\r\nhello\r\n0\r\n\r\n",
		"5;a=b;c;d=e\r\nhello\r\n0\r\n\r\n",
		"5 ;a\r\nhello\r\n0\r\n\r\n",
		"5\t; a = b ;\tc\r\nhello\r\n0\r\n\r\n",
		"5;a =b\r\nhello\r\n0\r\n\r\n",
		"5;a= b\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"x y;z=\\\"w\\\\\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"q\" ;b\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\xe9\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\\\xe9\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\t\"\r\nhello\r\n0\r\n\r\n",
		"5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\r\n0;last=yes\r\n\r\n",
	};
	static const char *const bad[] = {
		"5;\r\nhello\r\n0\r\n\r\n",
		"5; \r\nhello\r\n0\r\n\r\n",
		"5;;a\r\nhello\r\n0\r\n\r\n",
		"5;=b\r\nhello\r\n0\r\n\r\n",
		"5;a=\r\nhello\r\n0\r\n\r\n",
		"5;a= \r\nhello\r\n0\r\n\r\n",
		"5;a \r\nhello\r\n0\r\n\r\n",
		"5;a=b \r\nhello\r\n0\r\n\r\n",
		"5;a=\"b\" \r\nhello\r\n0\r\n\r\n",
		"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",
		"5;a=b=c\r\nhello\r\n0\r\n\r\n",
		"5;a==b\r\nhello\r\n0\r\n\r\n",
		"5;a b\r\nhello\r\n0\r\n\r\n",
		"5;a=\"b\r\nhello\r\n0\r\n\r\n",
		"5;a=\"b\\\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n",
		"5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n",
		"5;a=b,c\r\nhello\r\n0\r\n\r\n",
		"5;a(=b\r\nhello\r\n0\r\n\r\n",
		"5;a\x01\r\nhello\r\n0\r\n\r\n",
		"5;a=\xe9\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"5\t\r\nhello\r\n0\r\n\r\n",
		"5 a\r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\r\n0;\r\n\r\n",
	};
	struct http1_chunked c;
	char m[8192];

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		expect_chunk_ok(ok[i], strlen(ok[i]));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_chunk_bad(bad[i], strlen(bad[i]));

	/* a chunk-size line of 4096 bytes, CRLF included, is the most allowed */
	memcpy(m, "1;a=", 4);
	memset(m + 4, 'x', 4090);
	memcpy(m + 4094, "\r\nz\r\n0\r\n\r\n", 10);
	assert_int_equal(chunk_run(m, 4104, &c), 4104);
	assert_true(c.done);
	memcpy(m, "1;a=", 4);
	memset(m + 4, 'x', 4091);
	memcpy(m + 4095, "\r\nz\r\n0\r\n\r\n", 10);
	assert_int_equal(chunk_run(m, 4105, &c), -1);
	/* the limit is per line */
	memcpy(m, "1;a=", 4);
	memset(m + 4, 'x', 4090);
	memcpy(m + 4094, "\r\nz\r\n0;b=", 9);
	memset(m + 4103, 'y', 4087);
	memcpy(m + 8190, "\r\n", 2);
	assert_int_equal(chunk_run(m, 8192, &c), 8192);
	assert_false(c.done);
	assert_int_equal(http1_chunked_feed(&c, "\r\n", 2), 2);
	assert_true(c.done);
	/* leading zeros count towards the line, so they cannot go on forever */
	memset(m, '0', 4095);
	memcpy(m + 4095, "\r\n\r\n", 4);
	assert_int_equal(chunk_run(m, 4099, &c), -1);
	memset(m, '0', 4094);
	memcpy(m + 4094, "\r\n\r\n", 4);
	assert_int_equal(chunk_run(m, 4098, &c), 4098);
	assert_true(c.done);
}

static void
test_chunked_trailers(void **state)
{
	static const char *const ok[] = {
		"0\r\nX: y\r\n\r\n",
		"0\r\nX:y\r\n\r\n",
		"0\r\nX:\r\n\r\n",
		"0\r\nX: a b\t\xe9 \r\n\r\n",
		"0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum: abc\r\n\r\n",
		"3\r\nabc\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
	};
	static const char *const bad[] = {
		"0\r\nX : y\r\n\r\n",
		"0\r\n X: y\r\n\r\n",
		"0\r\nX: y\r\n folded\r\n\r\n",
		"0\r\n: y\r\n\r\n",
		"0\r\nX\r\n\r\n",
		"0\r\nX y\r\n\r\n",
		"0\r\nX: a\001b\r\n\r\n",
		"0\r\nX: a\x7f\r\n\r\n",
		"0\r\nX: y\n\r\n",
		"0\r\nX: y\r\r\n\r\n",
		"0\r\nX: y\r\n\n",
		"0\r\n\n",
		"0\r\n\rX",
		"0\r\n\r\r",
	};
	struct http1_chunked c;
	static char m[70000];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		expect_chunk_ok(ok[i], strlen(ok[i]));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_chunk_bad(bad[i], strlen(bad[i]));
	expect_chunk_bad(L("0\r\nX: a\0b\r\n\r\n"));

	/* trailer section: 65536 bytes including the final CRLF, not one more */
	memcpy(m, "0\r\nX: ", 6);
	n = 3 + 65536;
	memset(m + 6, 'v', n - 6 - 4);
	memcpy(m + n - 4, "\r\n\r\n", 4);
	assert_int_equal(chunk_run(m, n, &c), (ssize_t)n);
	assert_true(c.done);
	memset(m + 6, 'v', n + 1 - 6 - 4);
	memcpy(m + n + 1 - 4, "\r\n\r\n", 4);
	assert_int_equal(chunk_run(m, n + 1, &c), -1);
}

static void
test_chunked_bad_framing(void **state)
{
	static const struct { const char *m; size_t n; } bad[] = {
		{ L("g\r\nhello\r\n0\r\n\r\n") },
		{ L("\r\nhello\r\n0\r\n\r\n") },
		{ L(" 5\r\nhello\r\n0\r\n\r\n") },
		{ L("-1\r\nx\r\n0\r\n\r\n") },
		{ L("+5\r\nhello\r\n0\r\n\r\n") },
		{ L("0x5\r\nhello\r\n0\r\n\r\n") },
		{ L("5\nhello\r\n0\r\n\r\n") },
		{ L("5\rhello\r\n0\r\n\r\n") },
		{ L("5\r\r\nhello\r\n0\r\n\r\n") },
		{ L("5\r\nhelloX\r\n0\r\n\r\n") },
		{ L("5\r\nhello\n0\r\n\r\n") },
		{ L("5\r\nhello\r0\r\n\r\n") },
		{ L("5\r\nhello0\r\n\r\n") },
		{ L("5\r\nhell\r\n0\r\n\r\n") },
		{ L("5\r\nhello\r\n\r\n") },
		{ L("5\r\nhello\r\n0\n\r\n") },
		{ L("5\r\nhello\r\n0\r\n\n") },
		{ L("\0\r\n") },
		{ L("5\0\r\n") },
		{ L("8000000000000000\r\n") },
		{ L("ffffffffffffffff\r\n") },
		{ L("10000000000000000\r\n") },
		{ L("7fffffffffffffff0\r\n") },
		{ L("000000000000000000008000000000000000\r\n") },
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_chunk_bad(bad[i].m, bad[i].n);
}

static void
test_chunked_hex_digits(void **state)
{
	char m[64];
	struct http1_chunked c;

	(void)state;
	for (int ch = 0; ch < 256; ch++) {
		bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
		size_t n = with_byte(m, sizeof m, "@\r\n", ch);
		ssize_t r = chunk_run(m, n, &c);

		if (!hex) {
			CHECK(r == -1, m, n);
			continue;
		}
		CHECK(r == 3, m, n);
		CHECK(c.remaining == (uint64_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10), m, n);
	}
}

/* ---- issue 11: Connection lists, codings, absolute-form, re-chunking ------ */

static void
test_connection_names(void **state)
{
	char m[2048];
	size_t o;
	struct http1_parser p;
	struct http1_conn_names l;
	static const char *const keep[] = { "X-Canary", NULL };

	(void)state;
	/* not a token list: refused, not guessed at */
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: h\r\nConnection: c lose\r\n\r\n",
	           HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: h\r\nConnection: \"x\"\r\n\r\n",
	           HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nConnection: a;b\r\nContent-Length: 0\r\n\r\n",
	           HTTP1_E_BAD_RESPONSE);
	/* HTTP1_MAX_CONN_NAMES names over two lines pass, one more does not */
	o = (size_t)snprintf(m, sizeof m, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close");
	for (int i = 1; i < HTTP1_MAX_CONN_NAMES / 2; i++)
		o += (size_t)snprintf(m + o, sizeof m - o, ", ,x-%d", i);
	o += (size_t)snprintf(m + o, sizeof m - o, "\r\nConnection: ");
	for (int i = HTTP1_MAX_CONN_NAMES / 2; i < HTTP1_MAX_CONN_NAMES; i++)
		o += (size_t)snprintf(m + o, sizeof m - o, "x-%d,", i);
	snprintf(m + o, sizeof m - o, "\r\n\r\n");
	expect_done(&p, HTTP1_REQUEST, m);
	assert_true(p.head.conn_names);
	assert_false(p.head.keep_alive);
	http1_conn_names_get(m, &p.head, NULL, &l);
	assert_int_equal(l.n, HTTP1_MAX_CONN_NAMES - 1);
	snprintf(m + o, sizeof m - o, "x-extra\r\n\r\n");
	expect_err(HTTP1_REQUEST, m, HTTP1_E_BAD_REQUEST);
	o = (size_t)snprintf(m, sizeof m, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: ");
	for (int i = 0; i <= HTTP1_MAX_CONN_NAMES; i++)
		o += (size_t)snprintf(m + o, sizeof m - o, "x-%d,", i);
	snprintf(m + o, sizeof m - o, "\r\n\r\n");
	expect_err(HTTP1_RESPONSE, m, HTTP1_E_BAD_RESPONSE);

	/* close and keep-alive name nothing */
	expect_done(&p, HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n");
	assert_false(p.head.conn_names);
	http1_conn_names_get("", &p.head, NULL, &l);
	assert_int_equal(l.n, 0);

	/* the names that must cross are never in the list */
	{
		static const char r[] =
			"GET / HTTP/1.1\r\nHost: h\r\nConnection: HOST, content-length,Transfer-Encoding\r\n"
			"Connection: Cookie, authorization, X-Forwarded-For, x-forwarded-proto, x-canary\r\n"
			"Connection: X-Secret, keep-alive, te\r\nX-Secret: s\r\nCookie: c\r\nX-Canary: 1\r\n\r\n";
		struct http1_span te = { 0, 2 }, xs;
		expect_done(&p, HTTP1_REQUEST, r);
		http1_conn_names_get(r, &p.head, keep, &l);
		assert_int_equal(l.n, 2);
		assert_span_is(r, l.name[0], "X-Secret");
		assert_span_is(r, l.name[1], "te");
		xs = p.head.headers[4].name;
		assert_span_is(r, xs, "X-Secret");
		assert_true(http1_conn_names_has(r, &l, xs));
		assert_false(http1_conn_names_has(r, &l, p.head.headers[5].name));   /* Cookie */
		assert_false(http1_conn_names_has(r, &l, p.head.headers[6].name));   /* X-Canary */
		assert_false(http1_conn_names_has(r, &l, p.head.headers[0].name));   /* Host */
		te.off = l.name[1].off;
		assert_true(http1_conn_names_has(r, &l, te));
		/* without the caller's keep list, X-Canary is dropped */
		http1_conn_names_get(r, &p.head, NULL, &l);
		assert_int_equal(l.n, 3);
		assert_true(http1_conn_names_has(r, &l, p.head.headers[6].name));
	}
}

static void
test_transfer_codings(void **state)
{
	struct http1_parser p;
	char m[512];

	(void)state;
	expect_done(&p, HTTP1_REQUEST, post_with(m, sizeof m, "Transfer-Encoding: chunked\r\n"));
	assert_int_equal(p.head.ncodings, 0);
	expect_done(&p, HTTP1_REQUEST, post_with(m, sizeof m,
	            "Transfer-Encoding: GZip , deflate\r\nTransfer-Encoding: x-gzip,chunked\r\n"));
	assert_int_equal(p.head.ncodings, 3);
	assert_int_equal(p.head.codings[0], HTTP1_TC_GZIP);
	assert_int_equal(p.head.codings[1], HTTP1_TC_DEFLATE);
	assert_int_equal(p.head.codings[2], HTTP1_TC_X_GZIP);
	assert_string_equal(http1_coding_name(p.head.codings[2]), "x-gzip");
	assert_string_equal(http1_coding_name(HTTP1_TC_COMPRESS), "compress");
	assert_string_equal(http1_coding_name(HTTP1_TC_X_COMPRESS), "x-compress");
	assert_string_equal(http1_coding_name(0), "?");
	assert_string_equal(http1_coding_name(200), "?");
	expect_done(&p, HTTP1_REQUEST, post_with(m, sizeof m,
	            "Transfer-Encoding: gzip, gzip, gzip, gzip, chunked\r\n"));
	assert_int_equal(p.head.ncodings, HTTP1_MAX_CODINGS);
	/* responses: a list without chunked is delimited by the close */
	expect_done(&p, HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: compress\r\n\r\n");
	assert_int_equal(p.head.body, HTTP1_BODY_CLOSE);
	assert_int_equal(p.head.ncodings, 1);
	assert_int_equal(p.head.codings[0], HTTP1_TC_COMPRESS);
	expect_done(&p, HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	assert_int_equal(p.head.body, HTTP1_BODY_CHUNKED);
	assert_int_equal(p.head.ncodings, 1);
}

static void
expect_target(const char *m, const char *authority, const char *fwd)
{
	struct http1_parser p;
	char out[256];
	size_t n;

	expect_done(&p, HTTP1_REQUEST, m);
	if (authority) {
		assert_span_is(m, p.head.authority, authority);
	} else {
		assert_int_equal(p.head.authority.len, 0);
	}
	assert_true(p.head.target.len + 1 <= sizeof out);
	n = http1_forward_target(m, &p.head, out);
	if (n != strlen(fwd) || memcmp(out, fwd, n) != 0) {
		dump("forwarded", out, n);
		dump("want", fwd, strlen(fwd));
		fail();
	}
}

static void
test_absolute_form(void **state)
{
	struct http1_parser p_connect_dummy;

	(void)state;
	expect_target("GET /a?b HTTP/1.1\r\nHost: h\r\n\r\n", NULL, "/a?b");
	expect_target("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", NULL, "*");
	expect_target("GET http://evil.example/a HTTP/1.1\r\nHost: good\r\n\r\n", "evil.example", "/a");
	expect_target("GET HTTPS://e:8443 HTTP/1.1\r\nHost: good\r\n\r\n", "e:8443", "/");
	expect_target("GET http://e?q=1 HTTP/1.1\r\nHost: e\r\n\r\n", "e", "/?q=1");
	expect_target("GET http://[::1]:80/x/y HTTP/1.0\r\n\r\n", "[::1]:80", "/x/y");
	expect_target("OPTIONS http://e HTTP/1.1\r\nHost: e\r\n\r\n", "e", "*");
	expect_target("OPTIONS http://e/ HTTP/1.1\r\nHost: e\r\n\r\n", "e", "/");
	expect_target("OPTIONS http://e?x HTTP/1.1\r\nHost: e\r\n\r\n", "e", "/?x");
	/* an empty (or blank) Host beside an absolute-form target; no host */
	expect_err(HTTP1_REQUEST, "GET http://e/ HTTP/1.1\r\nHost:\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET http://e/ HTTP/1.1\r\nHost: \t \r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET http://e/ HTTP/1.0\r\nHost: \r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET http://:80/ HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET http:/// HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET ws://e/ HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	/* authorities are host [":" port], checked strictly */
	expect_target("GET http://a-b.c_d~e%41:65535/x HTTP/1.1\r\nHost: e\r\n\r\n", "a-b.c_d~e%41:65535", "/x");
	expect_target("GET http://10.0.0.1:8080/x HTTP/1.1\r\nHost: e\r\n\r\n", "10.0.0.1:8080", "/x");
	expect_target("GET http://[2001:db8::1]/x HTTP/1.1\r\nHost: e\r\n\r\n", "[2001:db8::1]", "/x");
	expect_target("GET http://[::ffff:1.2.3.4]:1/x HTTP/1.1\r\nHost: e\r\n\r\n", "[::ffff:1.2.3.4]:1", "/x");
	static const char *const bad_auth[] = {
		"http://a,b;c=(d)/x", "http://a:b:c/", "http://a:b:c", "http://[::1",
		"http://[::1/x", "http://[::1]x/", "http://[::1]:/", "http://[]/",
		"http://[g::1]/", "http://[v1.x]/", "http://[fe80::1%25eth0]/",
		"http://a:/", "http://a:65536/", "http://a:123456/", "http://a:-1/",
		"http://a:8x/", "http://u@a/", "http://u:p@a/", "http://a!b/",
		"http://a$b/", "http://a*b/", "http://a+b/", "http://a'b/", "http://a=b/",
		"http://a%4/", "http://a%zz/", "http://1.2.3.256/", "http://1.2.3/",
		"http://1..2.3/", "http://.../", "http://[::1]]/",
	};
	for (size_t k = 0; k < sizeof bad_auth / sizeof *bad_auth; k++) {
		char m[256];
		snprintf(m, sizeof m, "GET %s HTTP/1.1\r\nHost: e\r\n\r\n", bad_auth[k]);
		expect_err(HTTP1_REQUEST, m, HTTP1_E_BAD_REQUEST);
	}
	/* CONNECT's authority-form gets the same check, port required */
	expect_done(&p_connect_dummy, HTTP1_REQUEST, "CONNECT [::1]:443 HTTP/1.1\r\nHost: e\r\n\r\n");
	expect_err(HTTP1_REQUEST, "CONNECT a:b:443 HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "CONNECT a,b:443 HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "CONNECT a:99999 HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	/* a fragment has no place in any request-target form (RFC 9112 3.2) */
	expect_err(HTTP1_REQUEST, "GET /p#f HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET /p?q#f HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET /# HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET http://a#/x HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET http://a/x#y HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "CONNECT a:443#x HTTP/1.1\r\nHost: e\r\n\r\n", HTTP1_E_BAD_REQUEST);
	expect_err(HTTP1_REQUEST, "GET /#f HTTP/2.0\r\nHost: e\r\n\r\n", HTTP1_E_VERSION);
	/* an empty Host with an origin-form target is still fine (RFC 9110 7.2) */
	expect_target("GET / HTTP/1.1\r\nHost:\r\n\r\n", NULL, "/");
}

/* Re-frame chunked BODY as weir does (minimal sizes, no extensions, no
 * trailers), or remove the chunking when DECHUNK, feeding it in pieces of
 * at most PIECE bytes. Returns the output length, or -1 on an error. */
static ssize_t
reframe(const char *body, size_t n, size_t piece, bool dechunk, char *out, size_t cap)
{
	struct http1_chunked c;
	size_t i = 0, o = 0;

	http1_chunked_init(&c);
	while (i < n && !c.done) {
		size_t len = n - i < piece ? n - i : piece;
		enum http1_chunk_part part;
		ssize_t r = http1_chunked_step(&c, body + i, len, &part);

		if (r < 0)
			return -1;
		assert_true(r > 0 && (size_t)r <= len);
		assert_true(o + (size_t)r + HTTP1_CHUNK_SIZE_LINE_MAX + 8 <= cap);
		if (part == HTTP1_CHUNK_DATA) {
			memcpy(out + o, body + i, (size_t)r);
			o += (size_t)r;
			if (!dechunk && c.remaining == 0)
				o += (size_t)snprintf(out + o, cap - o, "\r\n");
		} else if (part == HTTP1_CHUNK_SIZE && !dechunk) {
			assert_true(c.remaining > 0);
			o += http1_chunk_size_line(c.remaining, out + o);
		} else if (part == HTTP1_CHUNK_LAST && !dechunk) {
			assert_true(c.done);
			o += (size_t)snprintf(out + o, cap - o, "0\r\n\r\n");
		}
		i += (size_t)r;
	}
	return (ssize_t)o;
}

static void
expect_reframe(const char *in, const char *framed, const char *plain)
{
	char out[512];
	size_t n = strlen(in);

	for (size_t piece = 1; piece <= n; piece++) {
		ssize_t r = reframe(in, n, piece, false, out, sizeof out);
		CHECK(r == (ssize_t)strlen(framed) && memcmp(out, framed, (size_t)r) == 0, out, r < 0 ? 0 : (size_t)r);
		r = reframe(in, n, piece, true, out, sizeof out);
		CHECK(r == (ssize_t)strlen(plain) && memcmp(out, plain, (size_t)r) == 0, out, r < 0 ? 0 : (size_t)r);
	}
}

static void
test_chunked_reframe(void **state)
{
	char line[HTTP1_CHUNK_SIZE_LINE_MAX];
	struct http1_chunked c;
	enum http1_chunk_part part;

	(void)state;
	expect_reframe("5\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello");
	expect_reframe("000000000000000000005;a=\"b;c\" ; d\r\nhello\r\n"
	               "0A\r\n0123456789\r\n000;x=y\r\nTrailer-A: 1\r\nB: 2\r\n\r\n",
	               "5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n", "hello0123456789");
	expect_reframe("0\r\n\r\n", "0\r\n\r\n", "");
	expect_reframe("1\r\n\n\r\n1\r\n\r\r\n0\r\n\r\n", "1\r\n\n\r\n1\r\n\r\r\n0\r\n\r\n", "\n\r");

	assert_int_equal(http1_chunk_size_line(0, line), 3);
	assert_memory_equal(line, "0\r\n", 3);
	assert_int_equal(http1_chunk_size_line(0x5d, line), 4);
	assert_memory_equal(line, "5d\r\n", 4);
	assert_int_equal(http1_chunk_size_line(UINT64_MAX, line), HTTP1_CHUNK_SIZE_LINE_MAX);
	assert_memory_equal(line, "ffffffffffffffff\r\n", HTTP1_CHUNK_SIZE_LINE_MAX);

	/* steps stop where data and framing meet; errors stay */
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_step(&c, L("3\r\nabc\r\n0\r\n\r\n"), &part), 3);
	assert_int_equal(part, HTTP1_CHUNK_SIZE);
	assert_int_equal(c.remaining, 3);
	assert_int_equal(http1_chunked_step(&c, L("ab"), &part), 2);
	assert_int_equal(part, HTTP1_CHUNK_DATA);
	assert_int_equal(c.remaining, 1);
	assert_int_equal(http1_chunked_step(&c, L("c\r\n0\r\n\r\nGET"), &part), 1);
	assert_int_equal(part, HTTP1_CHUNK_DATA);
	assert_int_equal(c.remaining, 0);
	assert_int_equal(http1_chunked_step(&c, L("\r\n0\r\n"), &part), 5);
	assert_int_equal(part, HTTP1_CHUNK_TRAILERS);
	assert_int_equal(http1_chunked_step(&c, L("\r\nGET"), &part), 2);
	assert_int_equal(part, HTTP1_CHUNK_LAST);
	assert_true(c.done);
	assert_int_equal(http1_chunked_step(&c, L("GET"), &part), 0);
	assert_int_equal(part, HTTP1_CHUNK_FRAMING);
	/* the trailer section follows its own step: fields, final CRLF, LAST */
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_step(&c, L("0;x=1\r\ngrpc-status: 14\r\n\r\n"), &part), 7);
	assert_int_equal(part, HTTP1_CHUNK_TRAILERS);
	assert_false(c.done);
	assert_int_equal(http1_chunked_step(&c, L("grpc-status: 14\r\ngrpc-message: x\r"), &part), 33);
	assert_int_equal(part, HTTP1_CHUNK_FRAMING);
	assert_int_equal(http1_chunked_step(&c, L("\n\r\nNEXT"), &part), 3);
	assert_int_equal(part, HTTP1_CHUNK_LAST);
	assert_true(c.done);
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_step(&c, L("3\r\nabcX"), &part), 3);
	assert_int_equal(http1_chunked_step(&c, L("abcX"), &part), 3);
	assert_int_equal(http1_chunked_step(&c, L("X"), &part), -1);
	assert_int_equal(http1_chunked_step(&c, L("\r\n"), &part), -1);
}

/* ---- adopting another parser's result ------------------------------------- */

/* A head parsed once under generous limits is adopted by a parser with
 * tighter ones exactly when parsing the bytes there would return DONE, and
 * the adopted head is that parse, field for field. Every head limit and
 * request-line limit around the head's sizes is tried. */
static void
test_adopt_matches_parse(void **state)
{
	static const struct {
		const char *m;
		size_t n;
	} cases[] = {
		{ L("GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\n\r\n") },
		{ L("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbody") },
		{ L("\r\nGET http://h:80/p HTTP/1.1\r\nHost: h:80\r\nTransfer-Encoding: chunked\r\n\r\n") },
		{ L("HEAD / HTTP/1.0\r\n\r\n") },
	};
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *m = cases[i].m;
		size_t n = cases[i].n;
		struct http1_parser first;
		http1_parser_init(&first, HTTP1_REQUEST, MAXH, MAXL);
		CHECK(http1_parse_head(&first, m, n) == HTTP1_DONE, m, n);
		size_t head_len = first.head.head_len;

		for (size_t max_head = head_len - 2; max_head <= head_len + 1; max_head++) {
			for (size_t max_line = 0; max_line <= head_len + 1; max_line++) {
				struct http1_parser parsed, adopted;
				http1_parser_init(&parsed, HTTP1_REQUEST, max_head, max_line);
				http1_parser_init(&adopted, HTTP1_REQUEST, max_head, max_line);
				bool fits = http1_parse_head(&parsed, m, n) == HTTP1_DONE;
				bool took = http1_parser_adopt(&adopted, &first.head);
				/* never a head the parser would refuse; the leading CRLF
				 * case is the only one adopt may decline while it fits */
				CHECK(!took || fits, m, n);
				if (first.head.method.off == 0)
					CHECK(took == fits, m, n);
				if (!took) {
					/* unchanged: the bytes are parsed as usual */
					CHECK(http1_parse_head(&adopted, m, n) == http1_parse_head(&parsed, m, n), m, n);
					continue;
				}
				/* done: a parse call returns DONE at once, whatever it is given */
				CHECK(http1_parse_head(&adopted, m, 1) == HTTP1_DONE, m, n);
				const struct http1_head *a = &adopted.head, *b = &parsed.head;
				CHECK(a->head_len == b->head_len && a->nheaders == b->nheaders, m, n);
				CHECK(memcmp(a, b, offsetof(struct http1_head, headers)) == 0, m, n);
				CHECK(memcmp(a->headers, b->headers, b->nheaders * sizeof(b->headers[0])) == 0, m, n);
				CHECK(a->body == b->body && a->content_length == b->content_length &&
				              a->keep_alive == b->keep_alive && a->is_head == b->is_head &&
				              a->authority.off == b->authority.off && a->authority.len == b->authority.len &&
				              a->path.off == b->path.off && a->path.len == b->path.len &&
				              a->ncodings == b->ncodings,
				      m, n);
			}
		}
	}
}

/* Two parses of one head are equal; a difference in any span, count or
 * derived field is seen. */
static void
test_head_equal(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\n";
	struct http1_parser a, b;
	(void)state;

	http1_parser_init(&a, HTTP1_RESPONSE, MAXH, 0);
	http1_parser_init(&b, HTTP1_RESPONSE, MAXH, 0);
	assert_int_equal(http1_parse_head(&a, m, sizeof m - 1), HTTP1_DONE);
	assert_int_equal(http1_parse_head(&b, m, sizeof m - 1), HTTP1_DONE);
	assert_true(http1_head_equal(&a.head, &b.head));
	b.head.headers[1].value.len++;
	assert_false(http1_head_equal(&a.head, &b.head));
	b.head.headers[1].value.len--;
	b.head.keep_alive = false;
	assert_false(http1_head_equal(&a.head, &b.head));
	b.head.keep_alive = true;
	b.head.content_length = 4;
	assert_false(http1_head_equal(&a.head, &b.head));
	b.head.content_length = 3;
	b.head.reason.off++;
	assert_false(http1_head_equal(&a.head, &b.head));
	b.head.reason.off--;
	b.head.headers[5].name.len = 99; /* beyond nheaders: not part of the head */
	assert_true(http1_head_equal(&a.head, &b.head));
}

/* A parser that has begun a head adopts nothing. */
static void
test_adopt_refused_once_started(void **state)
{
	static const char m[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http1_parser first, p;
	(void)state;

	http1_parser_init(&first, HTTP1_REQUEST, MAXH, MAXL);
	assert_int_equal(http1_parse_head(&first, m, sizeof m - 1), HTTP1_DONE);
	http1_parser_init(&p, HTTP1_REQUEST, MAXH, MAXL);
	assert_int_equal(http1_parse_head(&p, m, 5), HTTP1_AGAIN);
	assert_false(http1_parser_adopt(&p, &first.head));
	assert_int_equal(http1_parse_head(&p, m, sizeof m - 1), HTTP1_DONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_basic),
		cmocka_unit_test(test_adopt_matches_parse),
		cmocka_unit_test(test_adopt_refused_once_started),
		cmocka_unit_test(test_head_equal),
		cmocka_unit_test(test_request_minimal_http10),
		cmocka_unit_test(test_value_trimming),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_ctl_in_value),
		cmocka_unit_test(test_request_line_syntax),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_target_forms),
		cmocka_unit_test(test_field_syntax),
		cmocka_unit_test(test_byte_classes),
		cmocka_unit_test(test_byte_classes_long_runs),
		cmocka_unit_test(test_values_random),
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_incremental_fill),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_connection),
		cmocka_unit_test(test_expect_upgrade),
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_response_body),
		cmocka_unit_test(test_error_mapping),
		cmocka_unit_test(test_span_ieq),
		cmocka_unit_test(test_chunked_basic),
		cmocka_unit_test(test_chunked_incomplete),
		cmocka_unit_test(test_chunked_stops_at_end),
		cmocka_unit_test(test_chunked_extensions),
		cmocka_unit_test(test_chunked_trailers),
		cmocka_unit_test(test_chunked_bad_framing),
		cmocka_unit_test(test_chunked_hex_digits),
		cmocka_unit_test(test_connection_names),
		cmocka_unit_test(test_transfer_codings),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_chunked_reframe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
