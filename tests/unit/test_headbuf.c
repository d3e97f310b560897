/* headbuf: a head parsed at the front of an evbuffer, pulling up only
 * what the head needs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "weir/headbuf.h"

static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\nX-A: b\r\n\r\n";

static void parser(struct http1_parser *p, size_t max)
{
	http1_parser_init(p, HTTP1_RESPONSE, max, 0);
}

/* A head with a large body behind it in one chain: parsed in place, the
 * body neither moved nor linearised. */
static void test_in_first_chain(void **state)
{
	(void)state;
	struct evbuffer *in = evbuffer_new();
	static char body[65536];
	char *one = malloc(sizeof(head) - 1 + sizeof(body));
	memcpy(one, head, sizeof(head) - 1);
	memcpy(one + sizeof(head) - 1, body, sizeof(body));
	evbuffer_add(in, one, sizeof(head) - 1 + sizeof(body));
	free(one);
	/* a second chain behind it that a whole pull-up would join */
	evbuffer_add_reference(in, body, sizeof(body), NULL, NULL);
	size_t first = evbuffer_get_contiguous_space(in);

	struct http1_parser p;
	const char *buf;
	parser(&p, 128 * 1024);
	assert_int_equal(headbuf_parse(&p, in, 128 * 1024 + 1, &buf), HTTP1_DONE);
	assert_int_equal(p.head.head_len, sizeof(head) - 1);
	assert_int_equal(p.head.status, 200);
	assert_int_equal(evbuffer_get_contiguous_space(in), first); /* nothing joined */
	evbuffer_free(in);
}

/* A head that arrives a byte at a time, each byte its own chain: AGAIN
 * until the last, then DONE, the same parse as whole. */
static void test_byte_by_byte(void **state)
{
	(void)state;
	struct evbuffer *in = evbuffer_new();
	struct http1_parser p;
	const char *buf;
	parser(&p, 65536);
	for (size_t i = 0; i + 1 < sizeof(head) - 1; i++) {
		evbuffer_add_reference(in, head + i, 1, NULL, NULL);
		assert_int_equal(headbuf_parse(&p, in, 65537, &buf), HTTP1_AGAIN);
	}
	evbuffer_add_reference(in, head + sizeof(head) - 2, 1, NULL, NULL);
	assert_int_equal(headbuf_parse(&p, in, 65537, &buf), HTTP1_DONE);
	assert_non_null(buf);
	assert_memory_equal(buf, head, sizeof(head) - 1);
	assert_int_equal(p.head.content_length, 65536);
	evbuffer_free(in);
}

/* A head longer than the first pull-up, each field its own chain: the
 * doubling reaches its end. */
static void test_long_head_many_chains(void **state)
{
	(void)state;
	static char fields[60][128];
	struct evbuffer *in = evbuffer_new();
	evbuffer_add_reference(in, "HTTP/1.1 200 OK\r\n", 17, NULL, NULL);
	for (int i = 0; i < 60; i++) { /* 60 x 115 bytes: 6.9 KB, over the first 4 KiB */
		int n = snprintf(fields[i], sizeof(fields[i]), "X-Field-%03d: %0100d\r\n", i, i);
		evbuffer_add_reference(in, fields[i], (size_t)n, NULL, NULL);
	}
	evbuffer_add_reference(in, "Content-Length: 0\r\n\r\n", 21, NULL, NULL);
	size_t total = evbuffer_get_length(in);
	assert_true(evbuffer_get_contiguous_space(in) < 4096);
	struct http1_parser p;
	const char *buf;
	parser(&p, 65536);
	assert_int_equal(headbuf_parse(&p, in, 65537, &buf), HTTP1_DONE);
	assert_int_equal(p.head.head_len, total);
	assert_int_equal(p.head.content_length, 0);
	evbuffer_free(in);
}

/* Over the limit: an error, not a wait. */
static void test_too_large(void **state)
{
	(void)state;
	struct evbuffer *in = evbuffer_new();
	evbuffer_add(in, "HTTP/1.1 200 OK\r\n", 17);
	for (int i = 0; i < 100; i++)
		evbuffer_add_printf(in, "X-Field-%03d: %040d\r\n", i, i);
	struct http1_parser p;
	const char *buf;
	parser(&p, 1024);
	assert_int_equal(headbuf_parse(&p, in, 1025, &buf), HTTP1_ERROR);
	assert_non_null(buf); /* a parse error, not a failed pull-up */
	evbuffer_free(in);
}

/* Nothing yet: AGAIN, no buffer. */
static void test_empty(void **state)
{
	(void)state;
	struct evbuffer *in = evbuffer_new();
	struct http1_parser p;
	const char *buf = "x";
	parser(&p, 1024);
	assert_int_equal(headbuf_parse(&p, in, 1025, &buf), HTTP1_AGAIN);
	assert_null(buf);
	evbuffer_free(in);
}

/* A request parser that adopted a head (http1_parser_adopt) waits until
 * the whole head is in the buffer, then returns it contiguous. */
static void test_adopted_waits_for_head(void **state)
{
	(void)state;
	static const char req[] = "GET /x HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789\r\n\r\n";
	struct http1_parser first, p;
	const char *buf;
	http1_parser_init(&first, HTTP1_REQUEST, 65536, 8192);
	assert_int_equal(http1_parse_head(&first, req, sizeof(req) - 1), HTTP1_DONE);
	http1_parser_init(&p, HTTP1_REQUEST, 65536, 8192);
	assert_true(http1_parser_adopt(&p, &first.head));

	struct evbuffer *in = evbuffer_new();
	size_t half = 20;
	evbuffer_add(in, req, half);
	assert_int_equal(headbuf_parse(&p, in, 65537, &buf), HTTP1_AGAIN);
	/* the rest in a chain of its own: joined for the caller */
	evbuffer_add_reference(in, req + half, sizeof(req) - 1 - half, NULL, NULL);
	assert_int_equal(headbuf_parse(&p, in, 65537, &buf), HTTP1_DONE);
	assert_non_null(buf);
	assert_memory_equal(buf, req, sizeof(req) - 1);
	assert_int_equal(p.head.head_len, sizeof(req) - 1);
	evbuffer_free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_first_chain),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_long_head_many_chains),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_adopted_waits_for_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
