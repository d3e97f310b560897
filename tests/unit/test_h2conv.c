/* Unit tests for h2conv: HTTP/2 request header lists to HTTP/1.1 heads.
 * Every refusal of RFC 9113 8.2 / 8.3 that weir implements has a case, and
 * every accepted request is checked byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "weir/h2conv.h"

#define CAP 8192
#define MAXF 160

/* A field list written as "name\tvalue" strings (values may hold any
 * byte but NUL and TAB; fields_from keeps the lengths). */
struct list {
	struct h2conv_field f[MAXF];
	size_t n;
};

static void add(struct list *l, const char *name, const char *value)
{
	assert_true(l->n < MAXF);
	l->f[l->n++] = (struct h2conv_field){ name, strlen(name), value, strlen(value) };
}

/* The usual pseudo-headers of a GET to example.com:8080/a?b. */
static struct list get_list(void)
{
	struct list l = { .n = 0 };

	add(&l, ":method", "GET");
	add(&l, ":scheme", "https");
	add(&l, ":authority", "example.com:8080");
	add(&l, ":path", "/a?b");
	return l;
}

static enum h2conv_result convert(const struct list *l, bool has_body, char *out, size_t cap,
                                  struct h2conv_request *req, char *why)
{
	struct http1_parser p;

	http1_parser_init(&p, HTTP1_REQUEST, cap, cap);
	return h2conv_request(l->f, l->n, has_body, out, cap, &p, req, why, 160);
}

static void expect_head(const struct list *l, bool has_body, const char *head)
{
	char out[CAP], why[160];
	struct h2conv_request req;

	assert_int_equal(convert(l, has_body, out, sizeof(out), &req, why), H2CONV_OK);
	assert_int_equal(req.head_len, strlen(head));
	assert_memory_equal(out, head, req.head_len);
}

static void expect_refused(const struct list *l, bool has_body, enum h2conv_result r, const char *what)
{
	char out[CAP], why[160];
	struct h2conv_request req;

	assert_int_equal(convert(l, has_body, out, sizeof(out), &req, why), r);
	if (!strstr(why, what))
		fail_msg("expected \"%s\" in \"%s\"", what, why);
}

static void test_plain_get(void **unused)
{
	struct list l = get_list();

	(void)unused;
	add(&l, "accept", "*/*");
	add(&l, "user-agent", "curl/7.88");
	expect_head(&l, false, "GET /a?b HTTP/1.1\r\nhost: example.com:8080\r\naccept: */*\r\n"
	                       "user-agent: curl/7.88\r\n\r\n");
}

static void test_bodies(void **unused)
{
	struct list l = get_list();
	char out[CAP], why[160];
	struct h2conv_request req;

	(void)unused;
	l.f[0].value = "POST";
	l.f[0].valuelen = 4;
	add(&l, "content-length", "5");
	assert_int_equal(convert(&l, true, out, sizeof(out), &req, why), H2CONV_OK);
	assert_true(req.has_length && req.length == 5 && !req.chunked);
	assert_non_null(strstr(out, "\r\ncontent-length: 5\r\n\r\n"));
	/* the same length twice is one field */
	add(&l, "content-length", "5");
	expect_head(&l, true, "POST /a?b HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 5\r\n\r\n");
	/* no length, a body: chunked */
	l = get_list();
	l.f[0].value = "POST";
	l.f[0].valuelen = 4;
	assert_int_equal(convert(&l, true, out, sizeof(out), &req, why), H2CONV_OK);
	assert_true(req.chunked && !req.has_length);
	expect_head(&l, true, "POST /a?b HTTP/1.1\r\nhost: example.com:8080\r\ntransfer-encoding: chunked\r\n\r\n");
	/* no body, no framing; content-length 0 without a body is fine */
	expect_head(&l, false, "POST /a?b HTTP/1.1\r\nhost: example.com:8080\r\n\r\n");
	add(&l, "content-length", "0");
	expect_head(&l, false, "POST /a?b HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 0\r\n\r\n");
}

static void test_cookies_te_host(void **unused)
{
	struct list l = get_list();

	(void)unused;
	add(&l, "cookie", "a=1");
	add(&l, "x-one", "1");
	add(&l, "cookie", "b=2");
	add(&l, "te", "trailers");
	add(&l, "host", "EXAMPLE.com:8080");  /* the same entity as :authority */
	add(&l, "cookie", "c=3");
	expect_head(&l, false, "GET /a?b HTTP/1.1\r\nhost: example.com:8080\r\ncookie: a=1; b=2; c=3\r\n"
	                       "x-one: 1\r\n\r\n");
	/* host alone stands for :authority */
	l = get_list();
	l.f[2] = l.f[3];
	l.n--;
	add(&l, "host", "h.example");
	expect_head(&l, false, "GET /a?b HTTP/1.1\r\nhost: h.example\r\n\r\n");
	/* OPTIONS * */
	l = get_list();
	l.f[0] = (struct h2conv_field){ ":method", 7, "OPTIONS", 7 };
	l.f[3] = (struct h2conv_field){ ":path", 5, "*", 1 };
	expect_head(&l, false, "OPTIONS * HTTP/1.1\r\nhost: example.com:8080\r\n\r\n");
}

/* Two regular fields appended to the GET (NAME2 NULL: one). */
static void refused_with(const char *name1, const char *value1, const char *name2, const char *value2,
                         bool has_body, const char *what)
{
	struct list l = get_list();

	add(&l, name1, value1);
	if (name2)
		add(&l, name2, value2);
	expect_refused(&l, has_body, H2CONV_MALFORMED, what);
}

static void test_refused_fields(void **unused)
{
	static const struct {
		const char *name1, *value1, *name2, *value2;
		bool has_body;
		const char *what;
	} cases[] = {
		{ "Accept", "*/*", NULL, NULL, false, "lower-case token" },
		{ "x y", "1", NULL, NULL, false, "lower-case token" },
		{ "x:y", "1", NULL, NULL, false, "lower-case token" },
		{ "connection", "close", NULL, NULL, false, "connection-specific field connection" },
		{ "keep-alive", "300", NULL, NULL, false, "connection-specific" },
		{ "proxy-connection", "x", NULL, NULL, false, "connection-specific" },
		{ "transfer-encoding", "chunked", NULL, NULL, true, "connection-specific" },
		{ "upgrade", "websocket", NULL, NULL, false, "connection-specific" },
		{ "te", "gzip", NULL, NULL, false, "te other than" },
		{ "te", "trailers, gzip", NULL, NULL, false, "te other than" },
		{ "x-a", "1\r\nx-b: 2", NULL, NULL, false, "NUL, CR or LF" },
		{ "x-a", "1\nx-b: 2", NULL, NULL, false, "NUL, CR or LF" },
		{ "x-a", "\x01", NULL, NULL, false, "control byte" },
		{ "x-a", "\x7f", NULL, NULL, false, "control byte" },
		{ "x-a", " 1", NULL, NULL, false, "white space" },
		{ "x-a", "1\t", NULL, NULL, false, "white space" },
		{ "content-length", "5x", NULL, NULL, true, "not a number" },
		{ "content-length", "", NULL, NULL, true, "not a number" },
		{ "content-length", "99999999999999999999", NULL, NULL, true, "not a number" },
		{ "content-length", "3", NULL, NULL, false, "content-length without a body" },
		{ "content-length", "5", "content-length", "6", true, "two different content-length" },
		{ "host", "other.example", NULL, NULL, false, "host differs" },
		{ "host", "example.com:8080", "host", "example.com:8080", false, "host twice" },
		{ "x-a", "1", ":path", "/x", false, "pseudo-header after a regular field" },
	};
	static const char nul_value[] = { 'a', '\0', 'b' };
	struct list l = get_list();

	(void)unused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refused_with(cases[i].name1, cases[i].value1, cases[i].name2, cases[i].value2, cases[i].has_body,
		             cases[i].what);
	l.f[l.n++] = (struct h2conv_field){ "x-a", 3, nul_value, sizeof(nul_value) };
	expect_refused(&l, false, H2CONV_MALFORMED, "NUL, CR or LF");
	l = get_list();
	l.f[l.n++] = (struct h2conv_field){ "", 0, "x", 1 };
	expect_refused(&l, false, H2CONV_MALFORMED, "empty field name");
}

/* Pseudo-header I of the GET replaced by VALUE (NULL: removed). */
static void pseudo_refused(size_t i, const char *value, enum h2conv_result r, const char *what)
{
	struct list l = get_list();

	if (value) {
		l.f[i].value = value;
		l.f[i].valuelen = strlen(value);
	} else {
		memmove(&l.f[i], &l.f[i + 1], (l.n - i - 1) * sizeof(l.f[0]));
		l.n--;
	}
	expect_refused(&l, false, r, what);
}

static void test_refused_pseudo(void **unused)
{
	struct list l = get_list();

	(void)unused;
	pseudo_refused(0, NULL, H2CONV_MALFORMED, "no :method");
	pseudo_refused(0, "G T", H2CONV_MALFORMED, ":method is not a token");
	pseudo_refused(0, "", H2CONV_MALFORMED, ":method is not a token");
	pseudo_refused(0, "CONNECT", H2CONV_NOT_IMPLEMENTED, "CONNECT");
	pseudo_refused(1, NULL, H2CONV_MALFORMED, ":scheme missing");
	pseudo_refused(1, "ftp", H2CONV_MALFORMED, "not http or https");
	pseudo_refused(2, NULL, H2CONV_MALFORMED, "neither :authority nor host");
	pseudo_refused(2, "user@example.com", H2CONV_MALFORMED, ":authority is not host[:port]");
	pseudo_refused(2, "example.com:99999", H2CONV_MALFORMED, ":authority is not host[:port]");
	pseudo_refused(2, "", H2CONV_MALFORMED, ":authority is not host[:port]");
	pseudo_refused(3, NULL, H2CONV_MALFORMED, "no :path");
	pseudo_refused(3, "", H2CONV_MALFORMED, "no :path");
	pseudo_refused(3, "/a b", H2CONV_MALFORMED, "a byte a request line cannot carry");
	pseudo_refused(3, "/a#frag", H2CONV_MALFORMED, "a byte a request line cannot carry");
	pseudo_refused(3, "/a\xc3\xa9", H2CONV_MALFORMED, "a byte a request line cannot carry");
	pseudo_refused(3, "http://other.example/", H2CONV_MALFORMED, "neither origin-form");
	pseudo_refused(3, "*", H2CONV_MALFORMED, "neither origin-form");
	add(&l, ":method", "GET");
	expect_refused(&l, false, H2CONV_MALFORMED, ":method twice");
	l = get_list();
	l.f[1] = (struct h2conv_field){ ":status", 7, "200", 3 };
	expect_refused(&l, false, H2CONV_MALFORMED, "unknown pseudo-header :status");
	l = get_list();
	add(&l, ":protocol", "websocket");
	expect_refused(&l, false, H2CONV_NOT_IMPLEMENTED, "extended CONNECT");
}

static void test_limits(void **unused)
{
	struct list l = get_list();
	char out[CAP], why[160], names[MAXF][16];
	struct h2conv_request req;

	(void)unused;
	/* the head limit: 32 bytes do not hold this head of 45 */
	assert_int_equal(convert(&l, false, out, 32, &req, why), H2CONV_TOO_LARGE);
	assert_int_equal(h2conv_status(H2CONV_TOO_LARGE), 431);
	assert_int_equal(h2conv_status(H2CONV_MALFORMED), 400);
	assert_int_equal(h2conv_status(H2CONV_NOT_IMPLEMENTED), 501);
	/* as many fields as the HTTP/1.1 parser takes, with host and framing */
	for (unsigned i = 0; l.n < 4 + HTTP1_MAX_HEADERS - 1 && i < MAXF; i++) {
		snprintf(names[i], sizeof(names[i]), "x-%u", i % 1000u);
		add(&l, names[i], "1");
	}
	assert_int_equal(convert(&l, false, out, sizeof(out), &req, why), H2CONV_OK);
	add(&l, "x-last", "1");
	expect_refused(&l, false, H2CONV_TOO_LARGE, "fields");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_get),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_cookies_te_host),
		cmocka_unit_test(test_refused_fields),
		cmocka_unit_test(test_refused_pseudo),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
