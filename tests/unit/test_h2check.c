/* Unit tests for h2check: the check session talks to weir's own server
 * session (h2session) in the same process, whose owner answers as a
 * health endpoint would, or takes frames written by hand where a server
 * must misbehave (RST_STREAM, GOAWAY, a wrong preface, a bad frame, a
 * huge head, an endless stream of frames). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/h2check.h"
#include "weir/h2session.h"

/* ---- a server: h2session and an owner that answers checks ------------------ */

struct server {
	struct h2session *s;
	int requests;
	char head[4096];                /* the last request, as HTTP/1.1 */
	struct h2stream *st;            /* the last request's stream, until closed */
	int status;                     /* the answer; 0: none (the test decides) */
	int interim;                    /* an interim status first, 0: none */
	size_t body;                    /* body bytes after the head */
	uint32_t reset;                 /* reset the stream with this code instead (+1) */
	int closes;
	uint32_t close_code;
	bool close_by_client;
};

static void on_request(struct h2stream *st, const char *head, size_t len, const struct http1_head *parsed,
                       const struct h2conv_request *req, void *arg)
{
	struct server *sv = arg;
	static char body[32768];
	(void)parsed;
	(void)req;

	assert_true(len < sizeof(sv->head));
	memcpy(sv->head, head, len);
	sv->head[len] = '\0';
	sv->requests++;
	sv->st = st;
	if (sv->reset) {
		h2session_reset(st, sv->reset - 1);
		return;
	}
	if (!sv->status)
		return;
	if (sv->interim)
		assert_int_equal(h2session_respond(st, sv->interim, NULL, 0, false), 0);
	assert_int_equal(h2session_respond(st, sv->status, NULL, 0, sv->body == 0), 0);
	if (sv->body) {
		assert_true(sv->body <= sizeof(body));
		memset(body, 'b', sv->body);
		assert_int_equal(h2session_send_data(st, body, sv->body), sv->body);
		assert_int_equal(h2session_send_end(st, NULL, 0), 0);
	}
}

static void on_close(struct h2stream *st, uint32_t error_code, bool by_client, void *arg)
{
	struct server *sv = arg;

	sv->closes++;
	sv->close_code = error_code;
	sv->close_by_client = by_client;
	if (sv->st == st)
		sv->st = NULL;
}

static void server_start(struct server *sv)
{
	struct h2session_limits lim;
	struct h2session_callbacks cb = { .on_request = on_request, .on_close = on_close };
	char err[160];

	memset(sv, 0, sizeof(*sv));
	h2session_limits_default(&lim, 10, 16384);
	sv->s = h2session_new(&lim, &cb, sv, 0, err, sizeof(err));
	assert_non_null(sv->s);
}

/* Move bytes both ways until neither side has any. Returns -1 when
 * h2check_recv or h2check_output did. */
static int pump(struct h2check *c, struct server *sv)
{
	int rc = 0;
	bool moved;

	do {
		const uint8_t *data;
		ssize_t n;

		moved = false;
		while ((n = h2check_output(c, &data)) > 0) {
			moved = true;
			assert_int_equal(h2session_recv(sv->s, data, (size_t)n, 0), 0);
		}
		if (n < 0)
			rc = -1;
		while ((n = h2session_output(sv->s, &data, 0)) > 0) {
			moved = true;
			if (h2check_recv(c, data, (size_t)n) < 0)
				rc = -1;
		}
	} while (moved && rc == 0);
	return rc;
}

static struct h2check *client(void)
{
	char err[160];
	struct h2check *c = h2check_new(err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(h2check_state(c), H2CHECK_IDLE);
	assert_true(h2check_usable(c));
	return c;
}

static void request(struct h2check *c)
{
	char err[160];

	assert_int_equal(h2check_request(c, "http", "127.0.0.1:9101", "/healthz", err, sizeof(err)), 0);
	assert_int_equal(h2check_state(c), H2CHECK_WAITING);
	assert_false(h2check_usable(c));
}

/* ---- frames by hand ------------------------------------------------------------ */

struct bytes {
	uint8_t p[1 << 17];
	size_t len;
};

static void frame(struct bytes *b, uint8_t type, uint8_t flags, uint32_t stream, const void *payload, size_t len)
{
	uint8_t hd[9] = { (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type, flags,
		          (uint8_t)(stream >> 24), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8), (uint8_t)stream };

	assert_true(b->len + 9 + len <= sizeof(b->p));
	memcpy(b->p + b->len, hd, 9);
	if (len)
		memcpy(b->p + b->len + 9, payload, len);
	b->len += 9 + len;
}

#define F_DATA 0x0
#define F_HEADERS 0x1
#define F_RST_STREAM 0x3
#define F_SETTINGS 0x4
#define F_PING 0x6
#define F_GOAWAY 0x7
#define F_CONTINUATION 0x9
#define END_STREAM 0x1
#define END_HEADERS 0x4

/* Everything the client has to send, sent nowhere. Returns -1 when
 * h2check_output failed. */
static int drain(struct h2check *c)
{
	const uint8_t *data;
	ssize_t n;

	while ((n = h2check_output(c, &data)) > 0)
		;
	return n < 0 ? -1 : 0;
}

/* A client whose check (stream 1) is out, and the server's SETTINGS. */
static struct h2check *raw_client(void)
{
	struct h2check *c = client();
	struct bytes *b = calloc(1, sizeof(*b));

	request(c);
	assert_int_equal(drain(c), 0);
	frame(b, F_SETTINGS, 0, 0, NULL, 0);
	assert_int_equal(h2check_recv(c, b->p, b->len), 0);
	assert_int_equal(drain(c), 0);
	free(b);
	return c;
}

/* Feed B's bytes; drain the answers. Returns h2check_recv's result. */
static int feed(struct h2check *c, const struct bytes *b)
{
	int rc = h2check_recv(c, b->p, b->len);

	(void)drain(c);
	return rc;
}

/* HPACK: a literal field without indexing, new name (both shorter than 127). */
static size_t literal(uint8_t *out, const char *name, size_t vlen, char fill)
{
	size_t nlen = strlen(name);

	out[0] = 0x00;
	out[1] = (uint8_t)nlen;
	memcpy(out + 2, name, nlen);
	out[2 + nlen] = (uint8_t)vlen;
	memset(out + 3 + nlen, fill, vlen);
	return 3 + nlen + vlen;
}

/* ---- tests ------------------------------------------------------------------------ */

/* A check answered 200, then the same connection's next one 503: each is
 * a GET with the health check's fields, on a new stream. */
static void test_answer_and_reuse(void **state)
{
	struct server sv;
	struct h2check *c = client();
	(void)state;

	server_start(&sv);
	sv.status = 200;
	request(c);
	assert_int_equal(pump(c, &sv), 0);
	assert_int_equal(h2check_state(c), H2CHECK_ANSWERED);
	assert_int_equal(h2check_status(c), 200);
	assert_string_equal(h2check_reason(c), "");
	assert_true(h2check_heard(c));
	assert_true(h2check_usable(c));
	assert_non_null(strstr(sv.head, "GET /healthz HTTP/1.1\r\n"));
	assert_non_null(strstr(sv.head, "\r\nhost: 127.0.0.1:9101\r\n"));
	assert_non_null(strstr(sv.head, "\r\nuser-agent: weir-check\r\n"));
	assert_non_null(strstr(sv.head, "\r\naccept: */*\r\n"));

	sv.status = 503;
	request(c);
	assert_int_equal(h2check_status(c), 0);
	assert_int_equal(pump(c, &sv), 0);
	assert_int_equal(h2check_state(c), H2CHECK_ANSWERED);
	assert_int_equal(h2check_status(c), 503);
	assert_int_equal(sv.requests, 2);
	assert_int_equal(sv.closes, 2);
	assert_true(h2check_usable(c));
	assert_false(h2check_done(c));
	h2check_free(c);
	h2session_free(sv.s);
}

/* An interim head is skipped: the final status answers. */
static void test_interim_skipped(void **state)
{
	struct server sv;
	struct h2check *c = client();
	(void)state;

	server_start(&sv);
	sv.interim = 103;
	sv.status = 204;
	request(c);
	assert_int_equal(pump(c, &sv), 0);
	assert_int_equal(h2check_state(c), H2CHECK_ANSWERED);
	assert_int_equal(h2check_status(c), 204);
	h2check_free(c);
	h2session_free(sv.s);
}

/* A body is not read: the stream is reset (CANCEL) once the head is in,
 * and the connection takes the next check. */
static void test_body_cancelled(void **state)
{
	struct server sv;
	struct h2check *c = client();
	(void)state;

	server_start(&sv);
	sv.status = 200;
	sv.body = 30000; /* more than the stream window: the server must wait */
	request(c);
	assert_int_equal(pump(c, &sv), 0);
	assert_int_equal(h2check_status(c), 200);
	assert_int_equal(sv.closes, 1);
	assert_true(sv.close_by_client);
	assert_int_equal(sv.close_code, H2SESSION_CANCEL);
	assert_true(h2check_usable(c));
	sv.body = 0;
	request(c);
	assert_int_equal(pump(c, &sv), 0);
	assert_int_equal(h2check_status(c), 200);
	h2check_free(c);
	h2session_free(sv.s);
}

/* The server resets the stream: a failed check that names the code. */
static void test_rst_stream(void **state)
{
	struct server sv;
	struct h2check *c = client();
	(void)state;

	server_start(&sv);
	sv.reset = H2SESSION_REFUSED_STREAM + 1;
	request(c);
	assert_int_equal(pump(c, &sv), -1); /* a failed check's session takes nothing more */
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "reset by the server (RST_STREAM REFUSED_STREAM)");
	assert_int_equal(h2check_status(c), 0);
	assert_true(h2check_heard(c));
	assert_false(h2check_usable(c));
	h2check_free(c);
	h2session_free(sv.s);
}

/* A GOAWAY that covers the stream, then the connection's end: the reason
 * has both. */
static void test_goaway_then_closed(void **state)
{
	struct server sv;
	struct h2check *c = client();
	(void)state;

	server_start(&sv);
	request(c);
	assert_int_equal(pump(c, &sv), 0);
	assert_int_equal(sv.requests, 1);
	h2session_terminate(sv.s, H2SESSION_ENHANCE_YOUR_CALM);
	(void)pump(c, &sv);
	assert_int_equal(h2check_state(c), H2CHECK_WAITING); /* the stream was taken */
	h2check_fail(c, "closed before a complete response head");
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c),
	                    "GOAWAY ENHANCE_YOUR_CALM from the server, then closed before a complete response head");
	assert_false(h2check_usable(c));
	h2check_free(c);
	h2session_free(sv.s);
}

/* A GOAWAY that leaves the stream out: refused, and not heard (a check on
 * a kept connection may try a new one). */
static void test_goaway_refuses(void **state)
{
	struct h2check *c = raw_client();
	struct bytes *b = calloc(1, sizeof(*b));
	const uint8_t goaway[8] = { 0, 0, 0, 0, 0, 0, 0, 0 }; /* last stream 0, NO_ERROR */
	(void)state;

	frame(b, F_GOAWAY, 0, 0, goaway, sizeof(goaway));
	(void)feed(c, b);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "refused by the server's GOAWAY (NO_ERROR)");
	assert_false(h2check_heard(c));
	assert_false(h2check_usable(c));
	assert_true(h2check_done(c));
	h2check_free(c);
	free(b);
}

/* A server whose first frame is not SETTINGS: a connection error in
 * nghttp2's words; the session is done once its GOAWAY is out. */
static void test_wrong_preface(void **state)
{
	struct h2check *c = client();
	struct bytes *b = calloc(1, sizeof(*b));
	const uint8_t ping[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	(void)state;

	request(c);
	assert_int_equal(drain(c), 0);
	frame(b, F_PING, 0, 0, ping, sizeof(ping));
	(void)feed(c, b);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "HTTP/2 PROTOCOL_ERROR: SETTINGS expected");
	assert_true(h2check_done(c));
	assert_int_equal(h2check_recv(c, b->p, b->len), -1);
	h2check_free(c);
	free(b);
}

/* An HTTP/1.1 server answers the preface with a status line. */
static void test_http1_answer(void **state)
{
	struct h2check *c = client();
	const char *answer = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	(void)state;

	request(c);
	assert_int_equal(drain(c), 0);
	assert_int_equal(h2check_recv(c, (const uint8_t *)answer, strlen(answer)), -1);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "the server answered in HTTP/1.x, not HTTP/2");
	assert_false(h2check_usable(c));
	h2check_free(c);
}

/* A frame RFC 9113 forbids (DATA on stream 0): a connection error. */
static void test_bad_frame(void **state)
{
	struct h2check *c = raw_client();
	struct bytes *b = calloc(1, sizeof(*b));
	(void)state;

	frame(b, F_DATA, 0, 0, "x", 1);
	(void)feed(c, b);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_memory_equal(h2check_reason(c), "HTTP/2 PROTOCOL_ERROR: ", 23);
	assert_true(h2check_done(c));
	h2check_free(c);
	free(b);
}

/* A response without :status is malformed: the stream is reset, the
 * check fails. */
static void test_malformed_response(void **state)
{
	struct h2check *c = raw_client();
	struct bytes *b = calloc(1, sizeof(*b));
	uint8_t block[64];
	size_t n = literal(block, "x-a", 1, 'b');
	(void)state;

	frame(b, F_HEADERS, END_HEADERS | END_STREAM, 1, block, n);
	(void)feed(c, b);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_memory_equal(h2check_reason(c), "malformed response: ", 20);
	h2check_free(c);
	free(b);
}

/* A response head beyond H2CHECK_HEAD_MAX (in HEADERS and CONTINUATION
 * frames) fails the check; nothing of it is kept. */
static void test_huge_head(void **state)
{
	struct h2check *c = raw_client();
	struct bytes *b = calloc(1, sizeof(*b));
	uint8_t *block = malloc(65536);
	size_t n = 0;
	(void)state;

	block[n++] = 0x88; /* :status: 200 */
	while (n < 40000)
		n += literal(block + n, "x-a", 100, 'v');
	for (size_t off = 0; off < n; off += 16384) {
		size_t len = n - off < 16384 ? n - off : 16384;
		uint8_t flags = off + len == n ? END_HEADERS : 0;
		frame(b, off ? F_CONTINUATION : F_HEADERS, flags, 1, block + off, len);
	}
	(void)feed(c, b);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "response head larger than 16384 bytes");
	assert_false(h2check_usable(c));
	h2check_free(c);
	free(block);
	free(b);
}

/* More CONTINUATION frames than nghttp2 takes: the session ends. */
static void test_continuation_flood(void **state)
{
	struct h2check *c = raw_client();
	struct bytes *b = calloc(1, sizeof(*b));
	uint8_t status = 0x88;
	(void)state;

	frame(b, F_HEADERS, 0, 1, &status, 1);
	for (int i = 0; i < 50; i++)
		frame(b, F_CONTINUATION, 0, 1, NULL, 0);
	(void)feed(c, b);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_memory_equal(h2check_reason(c), "HTTP/2", 6);
	assert_false(h2check_usable(c));
	h2check_free(c);
	free(b);
}

/* An endless stream of frames (PINGs, each answered) ends the session
 * after H2CHECK_INPUT_MAX bytes, whatever the check's timeout. */
static void test_endless_frames(void **state)
{
	struct h2check *c = raw_client();
	struct bytes *b = calloc(1, sizeof(*b));
	const uint8_t ping[8] = { 0 };
	size_t fed = 0;
	int rc = 0;
	(void)state;

	frame(b, F_PING, 0, 0, ping, sizeof(ping));
	while (rc == 0 && fed < 4 * H2CHECK_INPUT_MAX) {
		rc = feed(c, b);
		fed += b->len;
	}
	assert_int_equal(rc, -1);
	/* counted from the check's start: the server's SETTINGS (9 bytes) too */
	assert_true(fed + 9 > H2CHECK_INPUT_MAX && fed + 9 <= H2CHECK_INPUT_MAX + b->len);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "more than 262144 bytes from the server without an answer");
	h2check_free(c);
	free(b);
}

/* PINGs faster than their ACKs can leave (all in one read): nghttp2's
 * bound on queued ACKs ends the session. */
static void test_ping_burst(void **state)
{
	struct h2check *c = raw_client();
	struct bytes *b = calloc(1, sizeof(*b));
	const uint8_t ping[8] = { 0 };
	(void)state;

	for (int i = 0; i < 500; i++)
		frame(b, F_PING, 0, 0, ping, sizeof(ping));
	assert_int_equal(h2check_recv(c, b->p, b->len), -1);
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "HTTP/2: Flooding was detected in this HTTP/2 session, and it must be closed");
	h2check_free(c);
	free(b);
}

/* A graceful GOAWAY between checks: no further check on that connection. */
static void test_goaway_between_checks(void **state)
{
	struct server sv;
	struct h2check *c = client();
	char err[160];
	(void)state;

	server_start(&sv);
	sv.status = 200;
	request(c);
	assert_int_equal(pump(c, &sv), 0);
	assert_true(h2check_usable(c));
	h2session_shutdown(sv.s);
	assert_int_equal(pump(c, &sv), -1);
	assert_int_equal(h2check_state(c), H2CHECK_ANSWERED); /* the verdict stays */
	assert_false(h2check_usable(c));
	assert_true(h2check_done(c));
	assert_int_equal(h2check_request(c, "http", "a", "/", err, sizeof(err)), -1);
	h2check_fail(c, "closed");
	assert_int_equal(h2check_state(c), H2CHECK_ANSWERED);
	assert_int_equal(h2check_status(c), 200);
	h2check_free(c);
	h2session_free(sv.s);
}

/* The connection ends before anything came: WHY alone. */
static void test_closed(void **state)
{
	struct h2check *c = client();
	(void)state;

	request(c);
	assert_int_equal(drain(c), 0);
	h2check_fail(c, "Connection reset by peer");
	assert_int_equal(h2check_state(c), H2CHECK_FAILED);
	assert_string_equal(h2check_reason(c), "Connection reset by peer");
	assert_false(h2check_heard(c));
	h2check_free(c);
	h2check_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_and_reuse),
		cmocka_unit_test(test_interim_skipped),
		cmocka_unit_test(test_body_cancelled),
		cmocka_unit_test(test_rst_stream),
		cmocka_unit_test(test_goaway_then_closed),
		cmocka_unit_test(test_goaway_refuses),
		cmocka_unit_test(test_wrong_preface),
		cmocka_unit_test(test_http1_answer),
		cmocka_unit_test(test_bad_frame),
		cmocka_unit_test(test_malformed_response),
		cmocka_unit_test(test_huge_head),
		cmocka_unit_test(test_continuation_flood),
		cmocka_unit_test(test_endless_frames),
		cmocka_unit_test(test_ping_burst),
		cmocka_unit_test(test_goaway_between_checks),
		cmocka_unit_test(test_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
