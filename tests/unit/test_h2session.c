/* Unit tests for h2session: the server session is driven by a real nghttp2
 * client session in the same process (the client's bytes go to
 * h2session_recv, h2session_output's bytes to the client), or by frames
 * written by hand where a well-behaved client cannot misbehave enough
 * (floods, CONTINUATION, invalid fields). A fake owner records what the
 * session hands it and answers as the proxy would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/grpc.h"
#include "weir/h2session.h"

#define MAX_IDS 2048             /* client streams 1, 3, ... 4095 */
#define BODY_MAX (256 * 1024)

/* ---- byte buffers -------------------------------------------------------- */

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct bytes *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- the owner: what the proxy would be ----------------------------------- */

struct exchange {
	int32_t id;
	char head[16384];
	size_t head_len;
	bool has_length, chunked;
	uint64_t length;
	size_t body_len;
	char body[BODY_MAX];
	bool ended;
	size_t ntrailers;
	char trailers[512];
	bool closed;
	uint32_t close_code;
	bool by_client;
	struct h2stream *st;
};

struct owner {
	struct h2session *s;
	int requests, ends, closes, refused, writable;
	int last_refused_status;
	char last_refused_why[160];
	bool hold_body;                /* do not consume request bodies */
	struct exchange *ex[MAX_IDS];
};

static struct exchange *exchange_of(struct owner *o, int32_t id)
{
	assert_true(id > 0 && id % 2 == 1 && id / 2 < MAX_IDS);
	return o->ex[id / 2];
}

static void on_request(struct h2stream *st, const char *head, size_t len, const struct http1_head *parsed,
                       const struct h2conv_request *req, void *arg)
{
	struct owner *o = arg;
	int32_t id = h2session_stream_id(st);
	struct exchange *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_null(exchange_of(o, id));
	assert_true(len < sizeof(x->head));
	assert_int_equal(parsed->head_len, len);
	memcpy(x->head, head, len);
	x->head_len = len;
	x->has_length = req->has_length;
	x->length = req->length;
	x->chunked = req->chunked;
	x->id = id;
	x->st = st;
	o->ex[id / 2] = x;
	o->requests++;
	h2session_stream_set_owner(st, x);
}

static void on_data(struct h2stream *st, const uint8_t *data, size_t len, void *arg)
{
	struct owner *o = arg;
	struct exchange *x = h2session_stream_owner(st);

	assert_non_null(x);
	assert_true(x->body_len + len <= BODY_MAX);
	memcpy(x->body + x->body_len, data, len);
	x->body_len += len;
	if (!o->hold_body)
		h2session_consume(st, len);
}

static void on_end(struct h2stream *st, const struct h2conv_field *trailers, size_t n, void *arg)
{
	struct owner *o = arg;
	struct exchange *x = h2session_stream_owner(st);
	size_t off = 0;

	assert_non_null(x);
	assert_false(x->ended);
	x->ended = true;
	x->ntrailers = n;
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(x->trailers + off, sizeof(x->trailers) - off, "%.*s: %.*s\n",
		                        (int)trailers[i].namelen, trailers[i].name, (int)trailers[i].valuelen,
		                        trailers[i].value);
	o->ends++;
}

static void on_writable(struct h2stream *st, void *arg)
{
	(void)st;
	((struct owner *)arg)->writable++;
}

static void on_close(struct h2stream *st, uint32_t code, bool by_client, void *arg)
{
	struct owner *o = arg;
	struct exchange *x = h2session_stream_owner(st);

	assert_non_null(x);
	assert_false(x->closed);
	x->closed = true;
	x->close_code = code;
	x->by_client = by_client;
	x->st = NULL;
	o->closes++;
}

static void on_refused(int32_t id, int status, const char *why, void *arg)
{
	struct owner *o = arg;

	(void)id;
	o->refused++;
	o->last_refused_status = status;
	snprintf(o->last_refused_why, sizeof(o->last_refused_why), "%s", why);
}

static const struct h2session_callbacks owner_cb = {
	on_request, on_data, on_end, on_writable, on_close, on_refused,
};

static void owner_free(struct owner *o)
{
	for (size_t i = 0; i < MAX_IDS; i++)
		free(o->ex[i]);
}

/* ---- the client: an nghttp2 client session --------------------------------- */

struct response {
	int status;
	char headers[1024];
	char trailers[512];
	size_t body_len;
	char body[BODY_MAX];
	bool closed;
	uint32_t close_code;
	bool rst;                      /* the server reset it */
	int interim;                   /* 1xx heads */
};

struct client {
	nghttp2_session *ng;
	struct response *r[MAX_IDS];
	bool goaway;
	uint32_t goaway_code;
	int32_t goaway_last;
	int pings_acked;
	/* request bodies */
	const uint8_t *upload;
	size_t upload_len, upload_off;
	const nghttp2_nv *upload_trailers;
	size_t upload_ntrailers;
	bool upload_no_end;            /* the body's last DATA frame lacks END_STREAM */
};

static struct response *response_of(struct client *c, int32_t id)
{
	assert_true(id > 0 && id % 2 == 1 && id / 2 < MAX_IDS);
	if (!c->r[id / 2]) {
		c->r[id / 2] = calloc(1, sizeof(struct response));
		assert_non_null(c->r[id / 2]);
	}
	return c->r[id / 2];
}

static int c_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                       const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct response *r = response_of(ud, frame->hd.stream_id);
	char *dst = frame->headers.cat == NGHTTP2_HCAT_HEADERS && r->status >= 200 ? r->trailers : r->headers;
	size_t off = strlen(dst), cap = dst == r->trailers ? sizeof(r->trailers) : sizeof(r->headers);

	(void)ng;
	(void)flags;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		r->status = atoi((const char *)value);
		if (r->status < 200) {
			r->interim++;
			r->status = 0;
		}
		return 0;
	}
	snprintf(dst + off, cap - off, "%.*s: %.*s\n", (int)namelen, name, (int)valuelen, value);
	return 0;
}

static int c_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	struct response *r = response_of(ud, id);

	(void)ng;
	(void)flags;
	assert_true(r->body_len + len <= BODY_MAX);
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	return 0;
}

static int c_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct client *c = ud;

	(void)ng;
	if (frame->hd.type == NGHTTP2_GOAWAY) {
		c->goaway = true;
		c->goaway_code = frame->goaway.error_code;
		c->goaway_last = frame->goaway.last_stream_id;
	} else if (frame->hd.type == NGHTTP2_RST_STREAM) {
		response_of(c, frame->hd.stream_id)->rst = true;
	} else if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		c->pings_acked++;
	}
	return 0;
}

static int c_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct response *r = response_of(ud, id);

	(void)ng;
	r->closed = true;
	r->close_code = code;
	return 0;
}

static ssize_t c_read_upload(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                             nghttp2_data_source *src, void *ud)
{
	struct client *c = ud;
	size_t n = c->upload_len - c->upload_off < len ? c->upload_len - c->upload_off : len;

	(void)src;
	memcpy(buf, c->upload + c->upload_off, n);
	c->upload_off += n;
	if (c->upload_off == c->upload_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (c->upload_no_end)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (c->upload_ntrailers) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			assert_int_equal(nghttp2_submit_trailer(ng, id, c->upload_trailers, c->upload_ntrailers), 0);
		}
	}
	return (ssize_t)n;
}

static void client_init(struct client *c, nghttp2_option *opt, const nghttp2_settings_entry *iv, size_t niv)
{
	nghttp2_session_callbacks *cbs;

	memset(c, 0, sizeof(*c));
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_on_header_callback(cbs, c_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, c_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, c_on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, c_on_close);
	assert_int_equal(nghttp2_session_client_new2(&c->ng, cbs, c, opt), 0);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, niv), 0);
}

static void client_free(struct client *c)
{
	nghttp2_session_del(c->ng);
	for (size_t i = 0; i < MAX_IDS; i++)
		free(c->r[i]);
}

/* nghttp2_nv takes writable pointers it never writes through. */
#define U8(s) ((uint8_t *)(uintptr_t)(s))
#define NV(name, value) ((nghttp2_nv){ U8(name), U8(value), strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE })

/* ---- the pair ------------------------------------------------------------------ */

struct pair {
	struct owner o;
	struct client c;
	struct h2session *s;
	uint64_t now;
	int server_failed;             /* h2session_recv returned -1 */
	struct bytes rx;               /* server bytes not yet parsed (raw tests) */
	bool by_sink;                  /* server_to_client's last call used the sink */
	size_t sunk;                   /* bytes the sink passed on in that call */
};

static struct pair *pair_new_with(const struct h2session_limits *l, nghttp2_option *copt,
                                  const nghttp2_settings_entry *iv, size_t niv)
{
	struct pair *p = calloc(1, sizeof(*p));
	char err[128];

	assert_non_null(p);
	p->now = 1000;
	p->s = h2session_new(l, &owner_cb, &p->o, p->now, err, sizeof(err));
	if (!p->s)
		fail_msg("h2session_new: %s", err);
	p->o.s = p->s;
	client_init(&p->c, copt, iv, niv);
	return p;
}

static struct pair *pair_new(uint32_t max_streams)
{
	struct h2session_limits l;

	h2session_limits_default(&l, max_streams, 65536);
	return pair_new_with(&l, NULL, NULL, 0);
}

static void pair_free(struct pair *p)
{
	h2session_free(p->s);
	owner_free(&p->o);
	client_free(&p->c);
	bytes_free(&p->rx);
	free(p);
}

/* Bytes to the server, as the proxy's read callback would pass them. */
static void to_server(struct pair *p, const uint8_t *data, size_t len)
{
	if (h2session_recv(p->s, data, len, p->now) != 0)
		p->server_failed++;
}

static int client_sink(const uint8_t *data, size_t len, void *arg)
{
	struct pair *p = arg;

	assert_int_equal(nghttp2_session_mem_recv(p->c.ng, data, len), (ssize_t)len);
	p->sunk += len;
	return 0;
}

/* Everything the server has, to the client. Returns the bytes moved.
 * Every other call goes through h2session_output_to (bodies passed from
 * the queues by reference), the others through h2session_output (copied):
 * both paths see every test. */
static size_t server_to_client(struct pair *p)
{
	const uint8_t *d;
	ssize_t n;
	size_t total = 0;

	p->by_sink = !p->by_sink;
	if (p->by_sink) {
		p->sunk = 0;
		assert_true(h2session_output_to(p->s, client_sink, p, SIZE_MAX, p->now) >= 0);
		return p->sunk;
	}
	while ((n = h2session_output(p->s, &d, p->now)) > 0) {
		assert_int_equal(nghttp2_session_mem_recv(p->c.ng, d, (size_t)n), n);
		total += (size_t)n;
	}
	assert_true(n == 0);
	return total;
}

/* Everything the client has, in one burst to the server. */
static size_t client_to_server(struct pair *p)
{
	struct bytes b = { 0 };
	const uint8_t *d;
	ssize_t n;
	size_t total;

	while ((n = nghttp2_session_mem_send(p->c.ng, &d)) > 0)
		put(&b, d, (size_t)n);
	assert_true(n == 0);
	if (b.len)
		to_server(p, b.p, b.len);
	total = b.len;
	bytes_free(&b);
	return total;
}

/* Both ways until nothing moves. */
static void pump(struct pair *p)
{
	for (int i = 0; i < 10000; i++)
		if (client_to_server(p) + server_to_client(p) == 0)
			return;
	fail_msg("the pair never settled");
}

static int32_t client_request(struct pair *p, const char *method, const char *path, const nghttp2_nv *extra,
                              size_t nextra, bool body)
{
	nghttp2_nv nv[32];
	size_t n = 0;
	nghttp2_data_provider prd = { .read_callback = c_read_upload };
	int32_t id;

	nv[n++] = NV(":method", method);
	nv[n++] = NV(":scheme", "https");
	nv[n++] = NV(":authority", "example.com");
	nv[n++] = NV(":path", path);
	assert_true(nextra <= 28);
	if (nextra)
		memcpy(nv + n, extra, nextra * sizeof(*nv));
	n += nextra;
	id = nghttp2_submit_request(p->c.ng, NULL, nv, n, body ? &prd : NULL, NULL);
	assert_true(id > 0);
	return id;
}

/* An HTTP/1.1 response head, parsed, answered on ST. */
static void respond_http1(struct h2stream *st, const char *head, bool end)
{
	struct http1_parser parser;

	http1_parser_init(&parser, HTTP1_RESPONSE, 8192, 8192);
	assert_int_equal(http1_parse_head(&parser, head, strlen(head)), HTTP1_DONE);
	assert_int_equal(h2session_respond_http1(st, head, &parser.head, end), 0);
}

static size_t send_all(struct h2stream *st, const char *body)
{
	return h2session_send_data(st, body, strlen(body));
}

/* ---- round trips ------------------------------------------------------------------ */

static void test_get(void **unused)
{
	struct pair *p = pair_new(100);
	nghttp2_nv extra[] = { NV("accept", "*/*"), NV("cookie", "a=1"), NV("cookie", "b=2") };
	int32_t id;
	struct exchange *x;
	struct response *r;

	(void)unused;
	pump(p);
	id = client_request(p, "GET", "/a?b=1", extra, 3, false);
	pump(p);
	assert_int_equal(p->o.requests, 1);
	x = exchange_of(&p->o, id);
	assert_non_null(x);
	x->head[x->head_len] = '\0';
	assert_string_equal(x->head, "GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n");
	assert_true(x->ended && x->ntrailers == 0 && !x->has_length && !x->chunked);
	respond_http1(x->st, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n"
	                     "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\nContent-Length: 5\r\n\r\n", false);
	assert_int_equal(send_all(x->st, "hello"), 5);
	assert_int_equal(h2session_send_end(x->st, NULL, 0), 0);
	pump(p);
	r = response_of(&p->c, id);
	assert_int_equal(r->status, 200);
	assert_string_equal(r->headers, "content-type: text/plain\nx-kept: yes\ncontent-length: 5\n");
	assert_int_equal(r->body_len, 5);
	assert_memory_equal(r->body, "hello", 5);
	assert_true(r->closed && r->close_code == 0 && !r->rst);
	assert_true(x->closed && x->close_code == 0 && !x->by_client);
	assert_int_equal(h2session_streams(p->s), 0);
	assert_int_equal(h2session_stats(p->s)->requests, 1);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_NONE);
	pair_free(p);
}

static void test_post_and_flow_control(void **unused)
{
	struct pair *p = pair_new(100);
	static uint8_t upload[200000];
	nghttp2_nv extra[] = { NV("content-type", "application/octet-stream") };
	int32_t id;
	struct exchange *x;
	struct response *r;

	(void)unused;
	for (size_t i = 0; i < sizeof(upload); i++)
		upload[i] = (uint8_t)(i * 7 + i / 251);
	p->c.upload = upload;
	p->c.upload_len = sizeof(upload);
	p->o.hold_body = true;
	pump(p);
	id = client_request(p, "POST", "/upload", extra, 1, true);
	pump(p);
	x = exchange_of(&p->o, id);
	assert_non_null(x);
	x->head[x->head_len] = '\0';
	assert_string_equal(x->head, "POST /upload HTTP/1.1\r\nhost: example.com\r\ncontent-type: "
	                             "application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n");
	assert_true(x->chunked);
	/* nothing consumed: the stream window (65535) is all the client may send */
	assert_int_equal(x->body_len, 65535);
	assert_false(x->ended);
	/* consume step by step: the rest follows */
	while (!x->ended) {
		size_t before = x->body_len;

		h2session_consume(x->st, 65535);
		pump(p);
		assert_true(x->body_len > before || x->ended);
	}
	assert_int_equal(x->body_len, sizeof(upload));
	assert_memory_equal(x->body, upload, sizeof(upload));
	h2session_consume(x->st, sizeof(upload));
	respond_http1(x->st, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", false);
	assert_int_equal(send_all(x->st, "stored"), 6);
	assert_int_equal(h2session_send_end(x->st, NULL, 0), 0);
	pump(p);
	r = response_of(&p->c, id);
	assert_int_equal(r->status, 201);
	assert_string_equal(r->headers, "");
	assert_int_equal(r->body_len, 6);
	assert_true(r->closed && r->close_code == 0);
	assert_true(x->closed && x->close_code == 0);
	pair_free(p);
}

static void test_post_with_length_and_interim(void **unused)
{
	struct pair *p = pair_new(100);
	static const uint8_t upload[] = "0123456789";
	nghttp2_nv extra[] = { NV("content-length", "10"), NV("expect", "100-continue") };
	int32_t id;
	struct exchange *x;
	struct response *r;

	(void)unused;
	p->c.upload = upload;
	p->c.upload_len = 10;
	pump(p);
	id = client_request(p, "PUT", "/x", extra, 2, true);
	pump(p);
	x = exchange_of(&p->o, id);
	assert_true(x->has_length && x->length == 10 && !x->chunked);
	assert_true(x->ended && x->body_len == 10);
	/* an interim response, then the final one without a body */
	respond_http1(x->st, "HTTP/1.1 100 Continue\r\n\r\n", false);
	assert_int_equal(h2session_respond(x->st, 101, NULL, 0, false), -1);
	assert_int_equal(h2session_respond(x->st, 204, NULL, 0, true), 0);
	assert_int_equal(h2session_respond(x->st, 200, NULL, 0, true), -1);    /* one final head */
	assert_int_equal(h2session_send_data(x->st, "x", 1), 0);              /* ended */
	assert_int_equal(h2session_send_end(x->st, NULL, 0), -1);
	pump(p);
	r = response_of(&p->c, id);
	assert_int_equal(r->interim, 1);
	assert_int_equal(r->status, 204);
	assert_true(r->closed && r->close_code == 0);
	pair_free(p);
}

static void test_multiplexed(void **unused)
{
	struct pair *p = pair_new(100);
	int32_t ids[20];
	char path[32], body[64];

	(void)unused;
	pump(p);
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/item/%d", i);
		ids[i] = client_request(p, "GET", path, NULL, 0, false);
	}
	pump(p);
	assert_int_equal(p->o.requests, 20);
	assert_int_equal(h2session_streams(p->s), 20);
	/* answer in reverse order, bodies interleaved across streams */
	for (int i = 19; i >= 0; i--) {
		struct exchange *x = exchange_of(&p->o, ids[i]);

		snprintf(path, sizeof(path), "GET /item/%d HTTP/1.1\r\n", i);
		assert_memory_equal(x->head, path, strlen(path));
		assert_int_equal(h2session_respond(x->st, 200, NULL, 0, false), 0);
		snprintf(body, sizeof(body), "first half %d;", i);
		send_all(x->st, body);
	}
	server_to_client(p);
	for (int i = 0; i < 20; i++) {
		struct exchange *x = exchange_of(&p->o, ids[i]);

		snprintf(body, sizeof(body), "second half %d", i);
		send_all(x->st, body);
		assert_int_equal(h2session_send_end(x->st, NULL, 0), 0);
	}
	pump(p);
	for (int i = 0; i < 20; i++) {
		struct response *r = response_of(&p->c, ids[i]);
		char want[64];

		snprintf(want, sizeof(want), "first half %d;second half %d", i, i);
		assert_int_equal(r->status, 200);
		assert_int_equal(r->body_len, strlen(want));
		assert_memory_equal(r->body, want, r->body_len);
		assert_true(r->closed && r->close_code == 0);
	}
	assert_int_equal(p->o.closes, 20);
	assert_int_equal(h2session_streams(p->s), 0);
	pair_free(p);
}

static void test_trailers_both_ways(void **unused)
{
	struct pair *p = pair_new(100);
	static const uint8_t msg[] = "\0\0\0\0\x05hello";
	nghttp2_nv extra[] = { NV("content-type", "application/grpc"), NV("te", "trailers"),
		               NV("grpc-timeout", "1S") };
	nghttp2_nv trailers[] = { NV("x-checksum", "abc"), NV("x-count", "1") };
	struct h2conv_field resp[] = { { "Content-Type", 12, "application/grpc+proto", 22 },
		                       { "Connection", 10, "close", 5 },
		                       { ":path", 5, "/x", 2 },
		                       { "x-bad", 5, "a\r\nb", 4 } };
	struct h2conv_field tr[] = { { "grpc-status", 11, "14", 2 },
		                     { "Grpc-Message", 12, "unavailable", 11 },
		                     { "content-length", 14, "5", 1 },
		                     { "transfer-encoding", 17, "chunked", 7 } };
	grpc_status_set errors;
	int32_t id;
	struct exchange *x;
	struct response *r;
	const char *status;

	(void)unused;
	p->c.upload = msg;
	p->c.upload_len = 10;
	p->c.upload_trailers = trailers;
	p->c.upload_ntrailers = 2;
	pump(p);
	id = client_request(p, "POST", "/pkg.Service/Method", extra, 3, true);
	pump(p);
	x = exchange_of(&p->o, id);
	x->head[x->head_len] = '\0';
	/* te: trailers is checked and not forwarded (hop-by-hop); grpc-timeout passes */
	assert_string_equal(x->head, "POST /pkg.Service/Method HTTP/1.1\r\nhost: example.com\r\ncontent-type: "
	                             "application/grpc\r\ngrpc-timeout: 1S\r\ntransfer-encoding: chunked\r\n\r\n");
	assert_true(x->ended && x->body_len == 10);
	assert_int_equal(x->ntrailers, 2);
	assert_string_equal(x->trailers, "x-checksum: abc\nx-count: 1\n");
	/* the answer: head filtered, body, trailers filtered */
	assert_int_equal(h2session_respond(x->st, 200, resp, 4, false), 0);
	assert_int_equal(h2session_send_data(x->st, msg, 10), 10);
	assert_int_equal(h2session_send_end(x->st, tr, 4), 0);
	pump(p);
	r = response_of(&p->c, id);
	assert_int_equal(r->status, 200);
	assert_string_equal(r->headers, "content-type: application/grpc+proto\n");
	assert_int_equal(r->body_len, 10);
	assert_string_equal(r->trailers, "grpc-status: 14\ngrpc-message: unavailable\n");
	assert_true(r->closed && r->close_code == 0);
	/* and weir would judge it so */
	assert_int_equal(grpc_status_set_parse(GRPC_DEFAULT_ERRORS, &errors, NULL, 0), 0);
	status = strstr(r->trailers, "grpc-status: ") + 13;
	assert_int_equal(grpc_classify("application/grpc+proto", 22, status, 2, errors), GRPC_ERROR);
	pair_free(p);
}

static void test_trailers_only(void **unused)
{
	struct pair *p = pair_new(100);
	nghttp2_nv extra[] = { NV("content-type", "application/grpc"), NV("te", "trailers") };
	struct h2conv_field resp[] = { { "content-type", 12, "application/grpc", 16 },
		                       { "grpc-status", 11, "12", 2 } };
	int32_t id;
	struct response *r;

	(void)unused;
	pump(p);
	id = client_request(p, "POST", "/pkg.Service/Missing", extra, 2, false);
	pump(p);
	assert_int_equal(h2session_respond(exchange_of(&p->o, id)->st, 200, resp, 2, true), 0);
	pump(p);
	r = response_of(&p->c, id);
	assert_string_equal(r->headers, "content-type: application/grpc\ngrpc-status: 12\n");
	assert_int_equal(r->body_len, 0);
	assert_true(r->closed && r->close_code == 0);
	pair_free(p);
}

/* ---- refusals: never a request handed to the owner -------------------------------- */

/* A request with EXTRA fields: refused with STATUS (400: RST_STREAM
 * PROTOCOL_ERROR; else that response), nothing reaches the owner. */
static void expect_refused(const char *method, const nghttp2_nv *extra, size_t n, bool body, int status)
{
	struct pair *p = pair_new(100);
	static const uint8_t upload[] = "12345";
	int32_t id;
	struct response *r;

	p->c.upload = upload;
	p->c.upload_len = 5;
	pump(p);
	id = client_request(p, method, "/", extra, n, body);
	pump(p);
	r = response_of(&p->c, id);
	if (p->o.requests != 0)
		fail_msg("%.*s: %.*s reached the owner", (int)extra[0].namelen, extra[0].name, (int)extra[0].valuelen,
		         extra[0].value);
	assert_int_equal(p->o.refused, 1);
	assert_int_equal(p->o.last_refused_status, status);
	assert_int_equal(h2session_stats(p->s)->refused, 1);
	assert_true(r->closed);
	if (status == 400) {
		assert_true(r->rst);
		assert_int_equal(r->close_code, NGHTTP2_PROTOCOL_ERROR);
	} else {
		assert_int_equal(r->status, status);
	}
	/* the connection goes on */
	assert_false(p->c.goaway);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_NONE);
	id = client_request(p, "GET", "/next", NULL, 0, false);
	pump(p);
	assert_int_equal(p->o.requests, 1);
	assert_non_null(exchange_of(&p->o, id));
	pair_free(p);
}

static void test_refusals(void **unused)
{
	static const char nul[] = { 'a', '\0', 'b' };
	nghttp2_nv one[1];

	(void)unused;
#define REFUSED1(name, value, body)                    \
	do {                                           \
		one[0] = NV(name, value);              \
		expect_refused("GET", one, 1, body, 400); \
	} while (0)
	REFUSED1("connection", "close", false);
	REFUSED1("keep-alive", "300", false);
	REFUSED1("proxy-connection", "keep-alive", false);
	REFUSED1("transfer-encoding", "chunked", true);
	REFUSED1("upgrade", "websocket", false);
	REFUSED1("te", "gzip", false);
	REFUSED1("te", "trailers, deflate", false);
	/* nghttp2 lower-cases the names it copies: this one goes as it is */
	one[0] = (nghttp2_nv){ U8("Accept"), U8("*/*"), 6, 3, NGHTTP2_NV_FLAG_NO_COPY_NAME };
	expect_refused("GET", one, 1, false, 400);
	REFUSED1("x-a", "1\r\nx-b: 2", false);
	REFUSED1("x-a", "1\nx-b: 2", false);
	REFUSED1("x-a", "1\rx", false);
	REFUSED1("x-a", " padded", false);
	REFUSED1("x y", "1", false);
	REFUSED1("host", "other.example", false);
	REFUSED1("content-length", "3", false);
	REFUSED1("content-length", "x", true);
	one[0] = (nghttp2_nv){ U8("x-a"), U8(nul), 3, sizeof(nul), NGHTTP2_NV_FLAG_NONE };
	expect_refused("GET", one, 1, false, 400);
}

/* CONNECT (only :method and :authority, RFC 9113 8.5) is not implemented:
 * 501, and the connection goes on. */
static void test_connect(void **unused)
{
	struct pair *p = pair_new(100);
	nghttp2_nv nv[] = { NV(":method", "CONNECT"), NV(":authority", "example.com:443") };
	int32_t id;

	(void)unused;
	pump(p);
	id = nghttp2_submit_request(p->c.ng, NULL, nv, 2, NULL, NULL);
	pump(p);
	assert_int_equal(p->o.requests, 0);
	assert_int_equal(p->o.last_refused_status, 501);
	assert_int_equal(response_of(&p->c, id)->status, 501);
	assert_true(response_of(&p->c, id)->closed);
	id = client_request(p, "GET", "/", NULL, 0, false);
	pump(p);
	assert_int_equal(p->o.requests, 1);
	pair_free(p);
}

static void test_refused_pseudo(void **unused)
{
	static const struct {
		const char *authority, *path;
	} cases[] = {
		{ "user@example.com", "/" },
		{ "example.com:99999", "/" },
		{ "example.com", "/a#frag" },
		{ "example.com", "http://other.example/" },
		{ "example.com", "*" },
	};

	(void)unused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pair *p = pair_new(100);
		nghttp2_nv nv[4] = { NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", cases[i].authority),
			             NV(":path", cases[i].path) };
		int32_t id;

		pump(p);
		id = nghttp2_submit_request(p->c.ng, NULL, nv, 4, NULL, NULL);
		pump(p);
		if (p->o.requests)
			fail_msg("%s %s reached the owner", cases[i].authority, cases[i].path);
		assert_int_equal(p->o.refused, 1);
		assert_true(response_of(&p->c, id)->rst);
		pair_free(p);
	}
}

/* content-length that the DATA does not match: a stream error, and the
 * owner never sees the request end (it drops the backend exchange). */
static void test_length_mismatch(void **unused)
{
	static const uint8_t upload[] = "0123456789";
	static const char *const lengths[] = { "5", "20" };

	(void)unused;
	for (size_t i = 0; i < 2; i++) {
		struct pair *p = pair_new(100);
		nghttp2_nv extra[] = { NV("content-length", lengths[i]) };
		struct exchange *x;
		int32_t id;

		p->c.upload = upload;
		p->c.upload_len = 10;
		pump(p);
		id = client_request(p, "POST", "/", extra, 1, true);
		pump(p);
		x = exchange_of(&p->o, id);
		assert_non_null(x);
		assert_false(x->ended);
		assert_true(x->body_len <= (size_t)atoi(lengths[i]));
		assert_true(x->closed);
		assert_int_equal(x->close_code, NGHTTP2_PROTOCOL_ERROR);
		assert_false(x->by_client);
		assert_int_equal(p->o.ends, 0);
		assert_true(response_of(&p->c, id)->rst);
		pair_free(p);
	}
}

/* A header section over max_header_list: 431, and memory stays bounded. */
static void test_header_list_limit(void **unused)
{
	struct h2session_limits l;
	struct pair *p;
	static char big[3000];
	nghttp2_nv extra[10];
	int32_t id;
	nghttp2_option *opt;

	(void)unused;
	memset(big, 'v', sizeof(big) - 1);
	for (int i = 0; i < 10; i++)
		extra[i] = (nghttp2_nv){ U8("x-big"), U8(big), 5, sizeof(big) - 1,
			                 NGHTTP2_NV_FLAG_NO_INDEX };
	h2session_limits_default(&l, 100, 16384);
	assert_int_equal(nghttp2_option_new(&opt), 0);
	/* a client that ignores our SETTINGS_MAX_HEADER_LIST_SIZE */
	nghttp2_option_set_max_send_header_block_length(opt, 1 << 20);
	p = pair_new_with(&l, opt, NULL, 0);
	nghttp2_option_del(opt);
	pump(p);
	id = client_request(p, "GET", "/", extra, 10, false);
	pump(p);
	assert_int_equal(p->o.requests, 0);
	assert_int_equal(p->o.last_refused_status, 431);
	assert_int_equal(response_of(&p->c, id)->status, 431);
	assert_true(h2session_stats(p->s)->memory_peak < 128 * 1024);
	/* under the limit it passes */
	id = client_request(p, "GET", "/", extra, 4, false);
	pump(p);
	assert_int_equal(p->o.requests, 1);
	/* Over it with a body still to come: the whole 431, and then RST_STREAM
	 * NO_ERROR so that the client stops sending (RFC 9113 8.1); the reset
	 * must not overtake the response (nghttp2 drops what is queued for a
	 * stream once a reset is submitted). */
	static const uint8_t upload[] = "12345";
	p->c.upload = upload;
	p->c.upload_len = 5;
	p->c.upload_no_end = true;
	id = client_request(p, "POST", "/", extra, 10, true);
	pump(p);
	assert_int_equal(p->o.requests, 1);
	assert_int_equal(response_of(&p->c, id)->status, 431);
	assert_true(response_of(&p->c, id)->rst);
	assert_int_equal(response_of(&p->c, id)->close_code, NGHTTP2_NO_ERROR);
	pair_free(p);
}

/* ---- abuse ------------------------------------------------------------------------ */

/* Hand-written frames for the hostile tests. */
static void frame(struct bytes *b, uint8_t type, uint8_t flags, uint32_t sid, const void *payload, size_t len)
{
	uint8_t h[9] = { (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type, flags,
		         (uint8_t)(sid >> 24 & 0x7f), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid };

	put(b, h, 9);
	if (len)
		put(b, payload, len);
}

/* The client preface and an empty SETTINGS frame. */
static void preface(struct bytes *b)
{
	put(b, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
	frame(b, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
}

/* A GET / to example.com in HPACK: static-table entries and a literal
 * :authority (never indexed, so every block decodes alone). */
static size_t hpack_get(uint8_t *out)
{
	static const uint8_t block[] = { 0x82, 0x87, 0x84, 0x11, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm' };

	memcpy(out, block, sizeof(block));
	return sizeof(block);
}

/* A server for hand-written frames: its SETTINGS acknowledged. */
static struct pair *raw_pair(const struct h2session_limits *l)
{
	struct pair *p = pair_new_with(l, NULL, NULL, 0);
	struct bytes b = { 0 };

	preface(&b);
	frame(&b, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
	to_server(p, b.p, b.len);
	bytes_free(&b);
	assert_int_equal(p->server_failed, 0);
	return p;
}

/* What the server sent to a hand-written client, read frame by frame
 * (the client session of the pair would object to ACKs of SETTINGS it
 * never sent): a GOAWAY is recorded as the client session would. */
static void drain_to_observer(struct pair *p)
{
	const uint8_t *d;
	ssize_t n;
	size_t off = 0;

	while ((n = h2session_output(p->s, &d, p->now)) > 0)
		put(&p->rx, d, (size_t)n);
	while (p->rx.len - off >= 9) {
		const uint8_t *h = p->rx.p + off;
		size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];

		if (p->rx.len - off < 9 + len)
			break;
		if (h[3] == NGHTTP2_GOAWAY && len >= 8) {
			p->c.goaway = true;
			p->c.goaway_last = (int32_t)((uint32_t)(h[9] & 0x7f) << 24 | (uint32_t)h[10] << 16 |
			                             (uint32_t)h[11] << 8 | h[12]);
			p->c.goaway_code = (uint32_t)h[13] << 24 | (uint32_t)h[14] << 16 | (uint32_t)h[15] << 8 | h[16];
		}
		off += 9 + len;
	}
	memmove(p->rx.p, p->rx.p + off, p->rx.len - off);
	p->rx.len -= off;
}

/* B (freed) to the server, which finds a connection error in it: the
 * owner has REQUESTS requests by then, GOAWAY CODE goes out, and that is
 * the end of the session. */
static void expect_connection_error(struct pair *p, struct bytes *b, int requests, uint32_t code)
{
	to_server(p, b->p, b->len);
	bytes_free(b);
	assert_int_equal(p->o.requests, requests);
	drain_to_observer(p);
	assert_true(p->c.goaway);
	assert_int_equal(p->c.goaway_code, code);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_PROTOCOL);
	assert_true(h2session_done(p->s));
}

/* CVE-2023-44487: a burst of 1,000 HEADERS + RST_STREAM pairs. */
static void test_rapid_reset(void **unused)
{
	const uint32_t max_streams = 100;
	struct pair *p = pair_new(max_streams);
	struct bytes burst = { 0 };
	const uint8_t *d;
	ssize_t n;

	(void)unused;
	pump(p);
	for (int i = 0; i < 1000; i++) {
		int32_t id = client_request(p, "GET", "/expensive", NULL, 0, false);

		while ((n = nghttp2_session_mem_send(p->c.ng, &d)) > 0)
			put(&burst, d, (size_t)n);
		assert_int_equal(nghttp2_submit_rst_stream(p->c.ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL), 0);
		while ((n = nghttp2_session_mem_send(p->c.ng, &d)) > 0)
			put(&burst, d, (size_t)n);
	}
	to_server(p, burst.p, burst.len);
	bytes_free(&burst);
	print_message("rapid reset: %d of 1000 requests reached the owner (max_streams %u)\n", p->o.requests,
	              max_streams);
	assert_true(p->o.requests <= 2 * (int)max_streams);
	assert_true(p->o.requests >= (int)max_streams); /* the budget is not stingier than promised */
	assert_int_equal(p->o.closes, p->o.requests);   /* every one was told it is gone */
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_RAPID_RESET);
	assert_int_equal(p->server_failed, 1);
	server_to_client(p);
	assert_true(p->c.goaway);
	assert_int_equal(p->c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	assert_true(h2session_done(p->s));
	pair_free(p);
}

/* The bucket refills with time: a client that cancels now and then is fine. */
static void test_resets_over_time(void **unused)
{
	struct pair *p = pair_new(100);

	(void)unused;
	pump(p);
	for (int i = 0; i < 1000; i++) {
		int32_t id = client_request(p, "GET", "/", NULL, 0, false);

		client_to_server(p);
		assert_int_equal(nghttp2_submit_rst_stream(p->c.ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL), 0);
		pump(p);
		p->now += 100; /* ten a second: the refill rate */
	}
	assert_int_equal(p->o.requests, 1000);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_NONE);
	assert_int_equal(h2session_stats(p->s)->client_resets, 1000);
	assert_false(p->c.goaway);
	pair_free(p);
}

/* Malformed requests cost reset tokens too: a flood of them ends the
 * connection, and none reaches the owner. */
static void test_malformed_flood(void **unused)
{
	struct pair *p = pair_new(100);
	nghttp2_nv bad[] = { NV("connection", "close") };

	(void)unused;
	pump(p);
	for (int i = 0; i < 1000 && !p->server_failed; i++) {
		client_request(p, "GET", "/", bad, 1, false);
		pump(p);
	}
	assert_int_equal(p->o.requests, 0);
	assert_true(p->o.refused <= 101);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_RAPID_RESET);
	assert_true(p->c.goaway);
	pair_free(p);
}

/* CVE-2024-27316: HEADERS followed by CONTINUATION frames without end. */
static void test_continuation_flood(void **unused)
{
	struct h2session_limits l;
	struct pair *p;
	struct bytes b = { 0 };
	uint8_t block[64], field[64] = { 0x00, 3, 'x', '-', 'a', 40 };
	size_t len;

	(void)unused;
	h2session_limits_default(&l, 100, 65536);
	p = raw_pair(&l);
	len = hpack_get(block);
	frame(&b, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block, len);
	memset(field + 6, 'a', 40);
	for (int i = 0; i < 10000; i++)
		frame(&b, NGHTTP2_CONTINUATION, 0, 1, field, 46);
	to_server(p, b.p, b.len);
	bytes_free(&b);
	assert_int_equal(p->server_failed, 1);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_CONTINUATION);
	assert_int_equal(p->o.requests, 0);
	assert_true(h2session_stats(p->s)->memory_peak < 96 * 1024);
	drain_to_observer(p);
	assert_true(p->c.goaway);
	assert_int_equal(p->c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	/* empty CONTINUATION frames are the same flood */
	pair_free(p);
	p = raw_pair(&l);
	frame(&b, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block, len);
	for (int i = 0; i < 10000; i++)
		frame(&b, NGHTTP2_CONTINUATION, 0, 1, NULL, 0);
	to_server(p, b.p, b.len);
	bytes_free(&b);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_CONTINUATION);
	pair_free(p);
}

/* The HPACK table the client may fill is the one we advertised: a header
 * block that grows it beyond is a connection error (COMPRESSION_ERROR). */
static void test_hpack_table_cap(void **unused)
{
	static const uint8_t grow[] = { 0x3f, 0xe1, 0xff, 0x03 }; /* table size update to 65536 */
	static const uint8_t fits[] = { 0x3f, 0xe1, 0x1f };       /* ... to 4096 */
	struct h2session_limits l;
	struct pair *p;
	struct bytes b = { 0 };
	uint8_t block[64];
	size_t len;

	(void)unused;
	h2session_limits_default(&l, 100, 65536);
	p = raw_pair(&l);
	memcpy(block, fits, sizeof(fits));
	len = sizeof(fits) + hpack_get(block + sizeof(fits));
	frame(&b, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS, 1, block, len);
	to_server(p, b.p, b.len);
	assert_int_equal(p->o.requests, 1);
	b.len = 0;
	memcpy(block, grow, sizeof(grow));
	len = sizeof(grow) + hpack_get(block + sizeof(grow));
	frame(&b, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS, 3, block, len);
	expect_connection_error(p, &b, 1, NGHTTP2_COMPRESSION_ERROR);
	pair_free(p);
}

/* PING, SETTINGS and WINDOW_UPDATE floods, their answers read or not. */
static void control_flood(uint8_t type, bool read_acks, uint32_t control_burst, enum h2session_abuse want)
{
	struct h2session_limits l;
	struct pair *p;
	uint8_t payload[8] = { 0, 0, 0, 1, 5, 6, 7, 8 }; /* a PING's opaque data, a WINDOW_UPDATE of 1 */
	size_t len = type == NGHTTP2_PING ? 8 : type == NGHTTP2_WINDOW_UPDATE ? 4 : 0;

	h2session_limits_default(&l, 100, 65536);
	l.control_burst = control_burst;
	p = raw_pair(&l);
	for (int i = 0; i < 10000 && !p->server_failed; i++) {
		struct bytes b = { 0 };

		frame(&b, type, 0, 0, payload, len);
		to_server(p, b.p, b.len);
		bytes_free(&b);
		if (read_acks)
			drain_to_observer(p);
	}
	assert_int_equal(p->server_failed, 1);
	assert_int_equal(h2session_abuse(p->s), want);
	drain_to_observer(p);
	assert_true(p->c.goaway);
	assert_int_equal(p->c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	assert_true(h2session_stats(p->s)->memory_peak < 128 * 1024);
	pair_free(p);
}

static void test_ping_flood(void **unused)
{
	(void)unused;
	control_flood(NGHTTP2_PING, true, 100, H2SESSION_ABUSE_CONTROL_FLOOD);
	/* a client that never reads its ACKs: nghttp2's outbound cap */
	control_flood(NGHTTP2_PING, false, 100000, H2SESSION_ABUSE_CONTROL_FLOOD);
}

static void test_settings_flood(void **unused)
{
	(void)unused;
	control_flood(NGHTTP2_SETTINGS, true, 100, H2SESSION_ABUSE_CONTROL_FLOOD);
	control_flood(NGHTTP2_SETTINGS, false, 100000, H2SESSION_ABUSE_CONTROL_FLOOD);
}

/* A window opened one byte at a time (data dribble). */
static void test_window_dribble(void **unused)
{
	(void)unused;
	control_flood(NGHTTP2_WINDOW_UPDATE, true, 100, H2SESSION_ABUSE_CONTROL_FLOOD);
}

/* Pings that come with work are free; idle ones at the refill rate are too. */
static void test_pings_with_work(void **unused)
{
	struct pair *p = pair_new(100);
	uint8_t opaque[8] = { 0 };

	(void)unused;
	pump(p);
	for (int i = 0; i < 500; i++) {
		struct exchange *x;
		int32_t id = client_request(p, "GET", "/", NULL, 0, false);

		assert_int_equal(nghttp2_submit_ping(p->c.ng, NGHTTP2_FLAG_NONE, opaque), 0);
		pump(p);
		x = exchange_of(&p->o, id);
		assert_int_equal(h2session_respond(x->st, 204, NULL, 0, true), 0);
		pump(p);
	}
	for (int i = 0; i < 500; i++) {
		assert_int_equal(nghttp2_submit_ping(p->c.ng, NGHTTP2_FLAG_NONE, opaque), 0);
		pump(p);
		p->now += 100;
	}
	assert_int_equal(p->c.pings_acked, 1000);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_NONE);
	pair_free(p);
}

/* SETTINGS_MAX_CONCURRENT_STREAMS: a client that does not wait for our
 * SETTINGS has the streams beyond it refused; one that does is held to it. */
static void test_max_streams(void **unused)
{
	nghttp2_option *opt;
	struct h2session_limits l;
	struct pair *p;
	int32_t ids[10];
	int refused = 0;

	(void)unused;
	h2session_limits_default(&l, 4, 65536);
	assert_int_equal(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_peer_max_concurrent_streams(opt, 1000);
	p = pair_new_with(&l, opt, NULL, 0);
	nghttp2_option_del(opt);
	/* all ten before the server's SETTINGS arrive */
	for (int i = 0; i < 10; i++)
		ids[i] = client_request(p, "GET", "/", NULL, 0, false);
	client_to_server(p);
	assert_int_equal(p->o.requests, 4);
	server_to_client(p);
	for (int i = 0; i < 10; i++) {
		struct response *r = response_of(&p->c, ids[i]);

		assert_int_equal(r->closed, i >= 4);
		refused += r->closed && r->close_code == NGHTTP2_REFUSED_STREAM;
	}
	assert_int_equal(refused, 6);
	/* now the client knows: 10 more wait in its queue, 4 at a time */
	for (int i = 0; i < 10; i++)
		client_request(p, "GET", "/again", NULL, 0, false);
	pump(p);
	for (int round = 0; round < 4; round++) {
		assert_true(h2session_streams(p->s) <= 4);
		for (size_t k = 0; k < MAX_IDS; k++) {
			struct exchange *x = p->o.ex[k];

			if (x && !x->closed)
				assert_int_equal(h2session_respond(x->st, 204, NULL, 0, true), 0);
		}
		pump(p);
	}
	assert_int_equal(p->o.requests, 14);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_NONE);
	pair_free(p);
}

/* Once the client has acknowledged our SETTINGS, a stream beyond
 * max_streams is a connection error (RFC 9113 5.1.2). */
static void test_max_streams_after_ack(void **unused)
{
	struct h2session_limits l;
	struct pair *p;
	struct bytes b = { 0 };
	uint8_t block[64];
	size_t len = hpack_get(block);

	(void)unused;
	h2session_limits_default(&l, 4, 65536);
	p = raw_pair(&l);
	for (uint32_t id = 1; id <= 9; id += 2)
		frame(&b, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS, id, block, len);
	expect_connection_error(p, &b, 4, NGHTTP2_PROTOCOL_ERROR);
	pair_free(p);
}

/* X's stream was reset with CODE: the owner saw it closed so, and the
 * client (R) got the RST_STREAM. */
static void assert_reset_seen(const struct exchange *x, const struct response *r, uint32_t code)
{
	assert_true(x->closed);
	assert_int_equal(x->close_code, code);
	assert_true(r->rst);
	assert_int_equal(r->close_code, code);
}

/* ---- response backpressure and zero-window stalls --------------------------------------- */

static void test_backpressure_and_stall(void **unused)
{
	nghttp2_option *opt;
	struct h2session_limits l;
	struct pair *p;
	nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1024 } };
	static char body[100000];
	struct exchange *x;
	struct response *r;
	int32_t id;
	size_t took;

	(void)unused;
	memset(body, 'b', sizeof(body));
	h2session_limits_default(&l, 100, 65536);
	assert_int_equal(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_no_auto_window_update(opt, 1); /* a client that opens no window by itself */
	p = pair_new_with(&l, opt, iv, 1);
	nghttp2_option_del(opt);
	pump(p);
	id = client_request(p, "GET", "/big", NULL, 0, false);
	pump(p);
	x = exchange_of(&p->o, id);
	assert_int_equal(h2session_respond(x->st, 200, NULL, 0, false), 0);
	/* the queue takes stream_buffer (64 KiB), no more */
	took = h2session_send_data(x->st, body, sizeof(body));
	assert_int_equal(took, 65536);
	assert_int_equal(h2session_send_data(x->st, body, 10), 0);
	pump(p);
	r = response_of(&p->c, id);
	assert_int_equal(r->body_len, 1024);
	assert_int_equal(h2session_stream_queued(x->st), 65536 - 1024);
	assert_int_equal(h2session_stream_stalled_since(x->st), p->now);
	assert_int_equal(h2session_oldest_stall(p->s), p->now);
	assert_int_equal(p->o.writable, 0);
	/* the client opens its window: the queue drains, the owner may write */
	assert_int_equal(nghttp2_submit_window_update(p->c.ng, NGHTTP2_FLAG_NONE, id, 60000), 0);
	assert_int_equal(nghttp2_submit_window_update(p->c.ng, NGHTTP2_FLAG_NONE, 0, 60000), 0);
	pump(p);
	assert_int_equal(r->body_len, 1024 + 60000);
	assert_int_equal(p->o.writable, 1);
	assert_true(h2session_send_data(x->st, body + took, sizeof(body) - took) > 0);
	pump(p);
	assert_int_not_equal(h2session_stream_stalled_since(x->st), 0);
	/* stalled long enough: the owner's timer resets it */
	p->now += 5000;
	assert_int_equal(h2session_expire_stalled(p->s, p->now, 10000), 0);
	p->now += 6000;
	assert_int_equal(h2session_expire_stalled(p->s, p->now, 10000), 1);
	pump(p);
	assert_reset_seen(x, r, NGHTTP2_CANCEL);
	assert_int_equal(h2session_stats(p->s)->stalls_expired, 1);
	assert_int_equal(h2session_oldest_stall(p->s), 0);
	pair_free(p);
}

/* On P, a POST of "hello" with content-length 5 whose END_STREAM never
 * comes; the owner has its body and consumed it. Returns its exchange. */
static struct exchange *post_without_end(struct pair *p, int32_t *id)
{
	static const uint8_t upload[] = "hello";
	nghttp2_nv extra[] = { NV("content-length", "5") };
	struct exchange *x;

	p->c.upload = upload;
	p->c.upload_len = 5;
	p->c.upload_no_end = true;
	pump(p);
	*id = client_request(p, "POST", "/no-end", extra, 1, true);
	pump(p);
	x = exchange_of(&p->o, *id);
	assert_non_null(x);
	assert_int_equal(x->body_len, 5);
	assert_false(x->ended);
	h2session_consume(x->st, 5);
	return x;
}

/* A complete response to a request whose END_STREAM never comes: the
 * stream counts as stalled from the response's end, and is reset with
 * NO_ERROR once stalled for the timeout; until then it stays open (an
 * END_STREAM in flight is never overtaken). A request that ended first
 * leaves nothing stalled. */
static void test_unended_request_expires(void **unused)
{
	struct pair *p = pair_new(100);
	struct exchange *x;
	struct response *r;
	int32_t id;

	(void)unused;
	x = post_without_end(p, &id);
	assert_int_equal(h2session_oldest_stall(p->s), 0);
	assert_int_equal(h2session_respond(x->st, 204, NULL, 0, true), 0);
	pump(p);
	r = response_of(&p->c, id);
	assert_int_equal(r->status, 204);
	assert_false(x->closed);
	assert_int_equal(h2session_stream_stalled_since(x->st), p->now);
	assert_int_equal(h2session_oldest_stall(p->s), p->now);
	/* another flush does not restart (or clear) it */
	p->now += 1000;
	pump(p);
	assert_int_equal(h2session_oldest_stall(p->s), p->now - 1000);
	assert_int_equal(h2session_expire_stalled(p->s, p->now + 8999, 10000), 0);
	assert_false(x->closed);
	p->now += 9000;
	assert_int_equal(h2session_expire_stalled(p->s, p->now, 10000), 1);
	pump(p);
	assert_reset_seen(x, r, NGHTTP2_NO_ERROR);
	assert_int_equal(h2session_streams(p->s), 0);
	assert_int_equal(h2session_oldest_stall(p->s), 0);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_NONE);

	/* a request that ended: its complete response leaves nothing stalled */
	id = client_request(p, "GET", "/ended", NULL, 0, false);
	pump(p);
	x = exchange_of(&p->o, id);
	assert_non_null(x);
	assert_int_equal(h2session_respond(x->st, 204, NULL, 0, true), 0);
	pump(p);
	assert_true(x->closed);
	assert_int_equal(h2session_oldest_stall(p->s), 0);
	assert_int_equal(h2session_stats(p->s)->stalls_expired, 1);
	pair_free(p);
}

static ssize_t c_read_eof(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                          nghttp2_data_source *src, void *ud)
{
	(void)ng;
	(void)id;
	(void)buf;
	(void)len;
	(void)src;
	(void)ud;
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return 0;
}

/* The same with a response that ends with trailers, and a client that then
 * ends its request late (within the timeout): the trailers' frame marks the
 * stall, the client's END_STREAM closes the stream normally (no reset), and
 * nothing is left to expire. */
static void test_unended_request_ends_late(void **unused)
{
	struct pair *p = pair_new(100);
	struct h2conv_field tr[] = { { "grpc-status", 11, "0", 1 } };
	nghttp2_data_provider prd = { .read_callback = c_read_eof };
	struct exchange *x;
	struct response *r;
	int32_t id;

	(void)unused;
	x = post_without_end(p, &id);
	assert_int_equal(h2session_respond(x->st, 200, NULL, 0, false), 0);
	assert_int_equal(h2session_send_data(x->st, "abc", 3), 3);
	pump(p);
	assert_int_equal(h2session_oldest_stall(p->s), 0); /* not ended yet */
	assert_int_equal(h2session_send_end(x->st, tr, 1), 0);
	pump(p);
	r = response_of(&p->c, id);
	assert_string_equal(r->trailers, "grpc-status: 0\n");
	assert_int_equal(h2session_oldest_stall(p->s), p->now);
	assert_false(x->closed);
	p->now += 500;
	assert_int_equal(nghttp2_submit_data(p->c.ng, NGHTTP2_FLAG_END_STREAM, id, &prd), 0);
	pump(p);
	assert_true(x->closed);
	assert_int_equal(x->close_code, NGHTTP2_NO_ERROR);
	assert_false(r->rst);
	assert_int_equal(h2session_oldest_stall(p->s), 0);
	assert_int_equal(h2session_expire_stalled(p->s, p->now + 100000, 10), 0);
	assert_int_equal(h2session_stats(p->s)->stalls_expired, 0);
	pair_free(p);
}

/* A stream of small messages (gRPC server streaming), each answered by a
 * WINDOW_UPDATE of its size, is no flood; a window opened a few bytes at a
 * time with data waiting still is (test_window_dribble). */
static void test_small_messages_not_flood(void **unused)
{
	nghttp2_option *opt;
	struct h2session_limits l;
	struct pair *p;
	struct exchange *x;
	struct response *r;
	int32_t id;

	(void)unused;
	h2session_limits_default(&l, 100, 65536);
	assert_int_equal(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_no_auto_window_update(opt, 1); /* the client acks by hand */
	p = pair_new_with(&l, opt, NULL, 0);
	nghttp2_option_del(opt);
	pump(p);
	id = client_request(p, "POST", "/weir.Test/Stream", NULL, 0, false);
	pump(p);
	x = exchange_of(&p->o, id);
	assert_int_equal(h2session_respond(x->st, 200, NULL, 0, false), 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(h2session_send_data(x->st, "0123456789abcde", 15), 15);
		pump(p);
		assert_int_equal(nghttp2_submit_window_update(p->c.ng, NGHTTP2_FLAG_NONE, id, 15), 0);
		assert_int_equal(nghttp2_submit_window_update(p->c.ng, NGHTTP2_FLAG_NONE, 0, 15), 0);
		pump(p);
	}
	r = response_of(&p->c, id);
	assert_int_equal(r->body_len, 15000);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_NONE);
	assert_false(h2session_done(p->s));
	pair_free(p);
}

static char body64k[65536];

/* N requests, each answered 200 and offered 64 KiB of body at once,
 * before the client reads anything. Returns the bytes queued. */
static size_t answer_many(struct pair *p, int32_t *ids, int n)
{
	size_t total = 0;

	pump(p);
	for (int i = 0; i < n; i++)
		ids[i] = client_request(p, "GET", "/", NULL, 0, false);
	pump(p);
	for (int i = 0; i < n; i++) {
		struct exchange *x = exchange_of(&p->o, ids[i]);

		assert_int_equal(h2session_respond(x->st, 200, NULL, 0, false), 0);
		total += h2session_send_data(x->st, body64k, sizeof(body64k));
	}
	return total;
}

/* The connection-wide queue limit holds across streams. */
static void test_conn_buffer(void **unused)
{
	struct h2session_limits l;
	struct pair *p;
	int32_t ids[40];

	(void)unused;
	h2session_limits_default(&l, 100, 65536);
	p = pair_new_with(&l, NULL, NULL, 0);
	assert_int_equal(answer_many(p, ids, 40), l.conn_buffer);
	assert_true(h2session_memory(p->s) < l.conn_buffer + 256 * 1024);
	/* the client reads: every stream left without room hears it has some */
	assert_int_equal(p->o.writable, 0);
	pump(p);
	assert_int_equal(p->o.writable, 40 - (int)(l.conn_buffer / sizeof(body64k)));
	for (int i = 0; i < 40; i++)
		assert_int_equal(response_of(&p->c, ids[i])->body_len, i < 16 ? sizeof(body64k) : 0);
	pair_free(p);
}

static int count_sink(const uint8_t *data, size_t len, void *arg)
{
	size_t *n = arg;

	(void)data;
	*n += len;
	return 0;
}

/* h2session_output_to stops near MAX, not after everything queued: the
 * socket's output stays bounded however much the streams hold. */
static void test_output_to_bound(void **unused)
{
	struct h2session_limits l;
	struct pair *p;
	int32_t ids[8];
	size_t sunk = 0;

	(void)unused;
	h2session_limits_default(&l, 100, 65536);
	p = pair_new_with(&l, NULL, NULL, 0);
	assert_int_equal(answer_many(p, ids, 8), 8 * sizeof(body64k));
	/* the client's windows (64 KiB a stream and for the connection by
	 * default) allow far more than 1,000 bytes */
	ssize_t n = h2session_output_to(p->s, count_sink, &sunk, 1000, p->now);
	assert_true(n > 0 && n <= 1000);
	assert_true(sunk >= 1000 && sunk <= 1000 + 16384 + 9);
	/* and again: the next frames, the same bound */
	sunk = 0;
	n = h2session_output_to(p->s, count_sink, &sunk, 20000, p->now);
	assert_true(n > 0 && n <= 20000);
	assert_true(sunk >= 20000 && sunk <= 20000 + 16384 + 9);
	pair_free(p);
}

/* Room freed by a reset wakes the streams the connection's limit held back. */
static void test_reset_frees_room(void **unused)
{
	struct h2session_limits l;
	struct pair *p;
	int32_t ids[20];
	const uint8_t *d;

	(void)unused;
	h2session_limits_default(&l, 100, 65536);
	l.conn_buffer = 4 * sizeof(body64k);
	p = pair_new_with(&l, NULL, NULL, 0);
	assert_int_equal(answer_many(p, ids, 20), l.conn_buffer);
	assert_int_equal(p->o.writable, 0);
	/* the owner gives up on the four that hold the queue */
	for (int i = 0; i < 4; i++)
		h2session_reset(exchange_of(&p->o, ids[i])->st, NGHTTP2_INTERNAL_ERROR);
	assert_true(h2session_want_write(p->s));
	while (h2session_output(p->s, &d, p->now) > 0)
		;
	assert_int_equal(p->o.writable, 16);
	pair_free(p);
}

/* ---- lifecycle and memory ------------------------------------------------------------- */

static void test_shutdown_and_free(void **unused)
{
	struct pair *p = pair_new(100);
	int32_t a, b;

	(void)unused;
	pump(p);
	a = client_request(p, "GET", "/a", NULL, 0, false);
	b = client_request(p, "GET", "/b", NULL, 0, false);
	pump(p);
	h2session_shutdown(p->s);
	pump(p);
	assert_true(p->c.goaway);
	assert_int_equal(p->c.goaway_code, NGHTTP2_NO_ERROR);
	assert_int_equal(p->c.goaway_last, b);
	assert_false(h2session_done(p->s));
	/* the streams in flight finish */
	assert_int_equal(h2session_respond(exchange_of(&p->o, a)->st, 204, NULL, 0, true), 0);
	pump(p);
	assert_false(h2session_done(p->s));
	/* freeing with one still open closes it for the owner */
	h2session_free(p->s);
	p->s = NULL;
	assert_true(exchange_of(&p->o, b)->closed);
	assert_int_equal(exchange_of(&p->o, b)->close_code, NGHTTP2_CANCEL);
	assert_int_equal(p->o.closes, 2);
	pair_free(p);
}

static void test_bad_preface(void **unused)
{
	struct pair *p = pair_new(100);
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)unused;
	to_server(p, (const uint8_t *)junk, sizeof(junk) - 1);
	assert_int_equal(p->server_failed, 1);
	assert_int_equal(h2session_abuse(p->s), H2SESSION_ABUSE_PROTOCOL);
	assert_int_equal(p->o.requests, 0);
	pair_free(p);
}

static void test_memory(void **unused)
{
	struct pair *p = pair_new(100);
	size_t idle, open100;
	int32_t ids[100];

	(void)unused;
	pump(p);
	idle = h2session_memory(p->s);
	for (int i = 0; i < 100; i++)
		ids[i] = client_request(p, "GET", "/", NULL, 0, false);
	pump(p);
	open100 = h2session_memory(p->s);
	print_message("memory: %zu bytes idle, %zu per open stream, peak %zu\n", idle, (open100 - idle) / 100,
	              h2session_stats(p->s)->memory_peak);
	assert_true(idle < 32 * 1024);
	assert_true((open100 - idle) / 100 < 1024);
	for (int i = 0; i < 100; i++)
		assert_int_equal(h2session_respond(exchange_of(&p->o, ids[i])->st, 204, NULL, 0, true), 0);
	pump(p);
	assert_int_equal(h2session_streams(p->s), 0);
	assert_true(h2session_memory(p->s) <= idle + 1024);
	pair_free(p);
}

static void test_limits_checked(void **unused)
{
	struct h2session_limits l;
	char err[128];

	(void)unused;
	h2session_limits_default(&l, 0, 65536);
	assert_int_equal(l.max_streams, 1);
	l.conn_window = l.stream_window - 1;
	assert_null(h2session_new(&l, &owner_cb, NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "conn_window"));
	h2session_limits_default(&l, 10, 65536);
	l.max_memory = 1000;
	assert_null(h2session_new(&l, &owner_cb, NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "max_memory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_post_and_flow_control),
		cmocka_unit_test(test_post_with_length_and_interim),
		cmocka_unit_test(test_multiplexed),
		cmocka_unit_test(test_trailers_both_ways),
		cmocka_unit_test(test_trailers_only),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_refused_pseudo),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_length_mismatch),
		cmocka_unit_test(test_header_list_limit),
		cmocka_unit_test(test_rapid_reset),
		cmocka_unit_test(test_resets_over_time),
		cmocka_unit_test(test_malformed_flood),
		cmocka_unit_test(test_continuation_flood),
		cmocka_unit_test(test_hpack_table_cap),
		cmocka_unit_test(test_ping_flood),
		cmocka_unit_test(test_settings_flood),
		cmocka_unit_test(test_window_dribble),
		cmocka_unit_test(test_small_messages_not_flood),
		cmocka_unit_test(test_pings_with_work),
		cmocka_unit_test(test_max_streams),
		cmocka_unit_test(test_max_streams_after_ack),
		cmocka_unit_test(test_backpressure_and_stall),
		cmocka_unit_test(test_unended_request_expires),
		cmocka_unit_test(test_unended_request_ends_late),
		cmocka_unit_test(test_conn_buffer),
		cmocka_unit_test(test_output_to_bound),
		cmocka_unit_test(test_reset_frees_room),
		cmocka_unit_test(test_shutdown_and_free),
		cmocka_unit_test(test_bad_preface),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_limits_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
