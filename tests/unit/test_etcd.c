/* Unit tests for etcd.c's codec: base64 both ways and strictness, the
 * request bodies etcd's gateway takes, and the replies it sends (as
 * captured from etcd 3.4), with every malformed shape refused whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "weir/clock.h"
#include "weir/config.h"
#include "weir/etcd.h"

static void test_b64_round_trip(void **state)
{
	unsigned char bytes[256];
	(void)state;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(bytes); n++) {
		char *enc = etcd_b64_encode(bytes, n), *dec;
		size_t len;
		assert_non_null(enc);
		assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
		assert_int_equal(etcd_b64_decode(enc, strlen(enc), &dec, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, bytes, n);
		assert_int_equal(dec[len], '\0');
		free(enc);
		free(dec);
	}
}

static void test_b64_known_and_strict(void **state)
{
	char *enc, *dec;
	size_t len;
	(void)state;

	enc = etcd_b64_encode("/weir/shop/", 11);
	assert_string_equal(enc, "L3dlaXIvc2hvcC8=");
	free(enc);
	assert_int_equal(etcd_b64_decode("Zm9v", 4, &dec, &len), 0);
	assert_string_equal(dec, "foo");
	free(dec);
	assert_int_equal(etcd_b64_decode("", 0, &dec, &len), 0);
	assert_int_equal(len, 0);
	free(dec);

	static const char *const refused[] = {
		"Zm9", "Zm9v=", "Z===", "Zm=v", "Zm 9v", "Zm9v\n", "Zm-_", "Zh==", /* h: dropped bits set */
		"Zm9w=A==", "====",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		dec = (char *)1;
		if (etcd_b64_decode(refused[i], strlen(refused[i]), &dec, &len) == 0)
			fail_msg("accepted %s", refused[i]);
		assert_null(dec);
	}
}

/* A JSON body as a jansson object, for field checks. */
static json_t *load(char *text)
{
	json_error_t je;
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, &je);
	free(text);
	assert_non_null(j);
	return j;
}

static void assert_field(const json_t *obj, const char *name, const char *want)
{
	const json_t *v = json_object_get(obj, name);
	if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
		fail_msg("field %s: want %s, got %s", name, want, json_is_string(v) ? json_string_value(v) : "?");
}

static void test_bodies(void **state)
{
	json_t *j, *c;
	(void)state;

	j = load(etcd_body_range("/weir/shop/", 11, true));
	assert_field(j, "key", "L3dlaXIvc2hvcC8=");      /* "/weir/shop/" */
	assert_field(j, "range_end", "L3dlaXIvc2hvcDA="); /* "/weir/shop0" */
	json_decref(j);
	j = load(etcd_body_range("k", 1, false));
	assert_null(json_object_get(j, "range_end"));
	json_decref(j);
	/* a prefix ending in 0xff: the byte before it is raised and the rest cut */
	j = load(etcd_body_range("a\xff", 2, true));
	assert_field(j, "range_end", "Yg==");
	json_decref(j);

	j = load(etcd_body_put("k", 1, "v\0w", 3, 7));
	assert_field(j, "key", "aw==");
	assert_field(j, "value", "dgB3");
	assert_field(j, "lease", "7");
	json_decref(j);
	j = load(etcd_body_put("k", 1, "", 0, 0));
	assert_field(j, "value", "");
	assert_null(json_object_get(j, "lease"));
	json_decref(j);
	/* a large value of every byte, as measurements are: it comes back */
	char big[3001];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	j = load(etcd_body_put("k/x", 3, big, sizeof(big), INT64_MAX));
	assert_field(j, "lease", "9223372036854775807");
	const json_t *bv = json_object_get(j, "value");
	char *back = NULL;
	size_t backlen = 0;
	assert_int_equal(etcd_b64_decode(json_string_value(bv), json_string_length(bv), &back, &backlen), 0);
	assert_int_equal(backlen, sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	free(back);
	json_decref(j);

	j = load(etcd_body_txn_put("k", 1, ETCD_IF_MOD_REVISION, 42, "v", 1, 0));
	c = json_array_get(json_object_get(j, "compare"), 0);
	assert_field(c, "key", "aw==");
	assert_field(c, "target", "MOD");
	assert_field(c, "result", "EQUAL");
	assert_field(c, "mod_revision", "42");
	assert_field(json_object_get(json_array_get(json_object_get(j, "success"), 0), "request_put"), "value", "dg==");
	assert_field(json_object_get(json_array_get(json_object_get(j, "failure"), 0), "request_range"), "key", "aw==");
	json_decref(j);
	j = load(etcd_body_txn_put("k", 1, ETCD_IF_ABSENT, 0, "v", 1, 99));
	c = json_array_get(json_object_get(j, "compare"), 0);
	assert_field(c, "target", "CREATE");
	assert_field(c, "create_revision", "0");
	assert_field(json_object_get(json_array_get(json_object_get(j, "success"), 0), "request_put"), "lease", "99");
	json_decref(j);
	/* a leader's decision: the weights' revision and the leader key's lease */
	j = load(etcd_body_txn_put_fenced("k", 1, 42, "v", 1, "l", 1, 7));
	assert_int_equal(json_array_size(json_object_get(j, "compare")), 2);
	c = json_array_get(json_object_get(j, "compare"), 0);
	assert_field(c, "target", "MOD");
	assert_field(c, "mod_revision", "42");
	c = json_array_get(json_object_get(j, "compare"), 1);
	assert_field(c, "key", "bA==");
	assert_field(c, "target", "LEASE");
	assert_field(c, "result", "EQUAL");
	assert_field(c, "lease", "7");
	assert_null(json_object_get(json_object_get(json_array_get(json_object_get(j, "success"), 0), "request_put"),
	                            "lease"));
	assert_field(json_object_get(json_array_get(json_object_get(j, "failure"), 0), "request_range"), "key", "aw==");
	json_decref(j);

	j = load(etcd_body_lease_grant(5));
	assert_field(j, "TTL", "5");
	json_decref(j);
	j = load(etcd_body_lease_id(4111120470746703365));
	assert_field(j, "ID", "4111120470746703365");
	json_decref(j);
	j = load(etcd_body_watch("/p/", 3, 12));
	c = json_object_get(j, "create_request");
	assert_field(c, "key", "L3Av");
	assert_field(c, "range_end", "L3Aw");
	assert_field(c, "start_revision", "12");
	json_decref(j);
}

static int parse(enum etcd_kind kind, const char *body, struct etcd_reply *r, char *err)
{
	return etcd_parse_reply(kind, body, strlen(body), r, err, 256);
}

#define HDR "\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"1\",\"revision\":\"%s\"," \
            "\"raft_term\":\"2\"}"

static void test_replies(void **state)
{
	struct etcd_reply r;
	char err[256];
	(void)state;

	/* as etcd 3.4.23 sends them */
	assert_int_equal(parse(ETCD_RANGE,
	                       "{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"1\",\"revision\":\"2\",\"raft_term\":\"2\"},"
	                       "\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\","
	                       "\"value\":\"YmFy\"}],\"count\":\"1\"}", &r, err), 0);
	assert_int_equal(r.revision, 2);
	assert_int_equal(r.nkvs, 1);
	assert_string_equal(r.kvs[0].key, "foo");
	assert_string_equal(r.kvs[0].value, "bar");
	assert_int_equal(r.kvs[0].mod_revision, 2);
	assert_int_equal(r.kvs[0].lease, 0);
	etcd_reply_dispose(&r);

	assert_int_equal(parse(ETCD_RANGE, "{\"header\":{\"revision\":\"9\"}}", &r, err), 0);
	assert_int_equal(r.nkvs, 0);
	etcd_reply_dispose(&r);

	assert_int_equal(parse(ETCD_TXN, "{\"header\":{\"revision\":\"3\"},\"succeeded\":true,\"responses\":"
	                                 "[{\"response_put\":{\"header\":{\"revision\":\"3\"}}}]}", &r, err), 0);
	assert_true(r.succeeded);
	assert_int_equal(r.revision, 3);
	etcd_reply_dispose(&r);
	assert_int_equal(parse(ETCD_TXN, "{\"header\":{\"revision\":\"2\"},\"responses\":[{\"response_range\":"
	                                 "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":"
	                                 "\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}],\"count\":\"1\"}}]}",
	                       &r, err), 0);
	assert_false(r.succeeded);
	assert_int_equal(r.nkvs, 1);
	assert_int_equal(r.kvs[0].mod_revision, 2);
	etcd_reply_dispose(&r);

	assert_int_equal(parse(ETCD_LEASE_GRANT, "{\"header\":{\"revision\":\"1\"},\"ID\":\"4111120470746703365\","
	                                         "\"TTL\":\"5\"}", &r, err), 0);
	assert_int_equal(r.lease_id, 4111120470746703365);
	assert_int_equal(r.ttl, 5);
	etcd_reply_dispose(&r);
	assert_int_equal(parse(ETCD_LEASE_KEEPALIVE, "{\"result\":{\"header\":{\"revision\":\"3\"},\"ID\":\"123\"}}",
	                       &r, err), 0);
	assert_int_equal(r.ttl, 0); /* the lease is gone */
	etcd_reply_dispose(&r);

	assert_int_equal(parse(ETCD_WATCH, "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}", &r, err),
	                 0);
	assert_true(r.created);
	etcd_reply_dispose(&r);
	assert_int_equal(parse(ETCD_WATCH, "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{\"kv\":{\"key\":"
	                                   "\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"4\",\"version\":\"2\","
	                                   "\"value\":\"cXV4\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9v\","
	                                   "\"mod_revision\":\"5\"}}]}}", &r, err), 0);
	assert_int_equal(r.nkvs, 2);
	assert_false(r.kvs[0].deleted);
	assert_string_equal(r.kvs[0].value, "qux");
	assert_true(r.kvs[1].deleted);
	assert_int_equal(r.kvs[1].mod_revision, 5);
	assert_int_equal(r.kvs[1].vlen, 0);
	etcd_reply_dispose(&r);
	assert_int_equal(parse(ETCD_WATCH, "{\"result\":{\"header\":{\"revision\":\"9\"},\"canceled\":true,"
	                                   "\"compact_revision\":\"7\",\"cancel_reason\":\"compacted\"}}", &r, err), 0);
	assert_true(r.canceled);
	assert_int_equal(r.compact_revision, 7);
	assert_string_equal(r.cancel_reason, "compacted");
	etcd_reply_dispose(&r);

	/* etcd's own errors are errors, with its message */
	assert_int_equal(parse(ETCD_LEASE_REVOKE, "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
	                                          "\"etcdserver: requested lease not found\",\"code\":5}", &r, err), -1);
	assert_string_equal(err, "etcd: etcdserver: requested lease not found (code 5)");
	assert_int_equal(parse(ETCD_WATCH, "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"no leader\"}}",
	                       &r, err), -1);
	assert_non_null(strstr(err, "no leader"));
}

/* One value that cannot be read (not base64, or more than ETCD_VALUE_MAX
 * bytes) is flagged on its key-value; the others of the range stand. */
static void test_bad_value_skipped(void **state)
{
	struct etcd_reply r;
	char err[256];
	size_t big = (ETCD_VALUE_MAX / 3 + 1) * 4; /* base64 of more than ETCD_VALUE_MAX bytes */
	char *body = malloc(big + 256);
	(void)state;

	assert_non_null(body);
	int n = snprintf(body, 256, "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"YQ==\",\"value\":\"!!\","
	                 "\"mod_revision\":\"3\"},{\"key\":\"Yg==\",\"value\":\"");
	memset(body + n, 'A', big);
	snprintf(body + n + big, 256, "\",\"mod_revision\":\"4\"},{\"key\":\"Yw==\",\"value\":\"dg==\",\"mod_revision\":\"5\"}]}");
	assert_int_equal(etcd_parse_reply(ETCD_RANGE, body, strlen(body), &r, err, sizeof(err)), 0);
	assert_int_equal(r.nkvs, 3);
	assert_true(r.kvs[0].value_bad);
	assert_string_equal(r.kvs[0].key, "a");
	assert_string_equal(r.kvs[0].value, "");
	assert_int_equal(r.kvs[0].mod_revision, 3);
	assert_true(r.kvs[1].value_bad);
	assert_int_equal(r.kvs[1].vlen, 0);
	assert_int_equal(r.kvs[1].mod_revision, 4);
	assert_false(r.kvs[2].value_bad);
	assert_string_equal(r.kvs[2].value, "v");
	etcd_reply_dispose(&r);
	free(body);
}

static void test_bad_replies(void **state)
{
	static const struct {
		enum etcd_kind kind;
		const char *body;
		const char *phrase;
	} cases[] = {
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"kvs\":[", "not JSON" },
		{ ETCD_RANGE, "[1]", "not a JSON object" },
		{ ETCD_RANGE, "{\"kvs\":[]}", "without header" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"-2\"}}", "revision is not" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"99999999999999999999\"}}", "revision is not" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":2.5}}", "revision is not" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"kvs\":{}}", "kvs is not an array" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"value\":7}]}", "value is not a string" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"value\":\"YmFy\"}]}", "no key" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":7}]}", "key is not a string" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"kvs\":[3]}", "not an object" },
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"header\":{\"revision\":\"3\"}}", "not JSON" },
		{ ETCD_TXN, "{\"header\":{\"revision\":\"2\"},\"succeeded\":\"yes\"}", "succeeded is not" },
		{ ETCD_LEASE_GRANT, "{\"header\":{\"revision\":\"2\"},\"TTL\":\"5\"}", "without ID" },
		{ ETCD_LEASE_KEEPALIVE, "{\"header\":{\"revision\":\"2\"},\"ID\":\"1\"}", "without result" },
		{ ETCD_WATCH, "{\"result\":{\"events\":[{\"type\":\"EXPIRE\",\"kv\":{\"key\":\"Zm9v\"}}]}}", "PUT or DELETE" },
		{ ETCD_WATCH, "{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":[]}}]}}", "mod_revision" },
		{ ETCD_WATCH, "{\"result\":7}", "result is not an object" },
		{ ETCD_WATCH, "{\"result\":{\"created\":1}}", "created is not" },
	};
	struct etcd_reply r;
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (parse(cases[i].kind, cases[i].body, &r, err) != -1 || !strstr(err, cases[i].phrase))
			fail_msg("case %zu (%s): got \"%s\", want an error with \"%s\"", i, cases[i].body, err,
			         cases[i].phrase);
		assert_null(r.kvs);
		assert_int_equal(r.nkvs, 0);
	}
}

/* Values above the cap are refused (in a reply: that key-value is
 * flagged), replies above the reply cap too. */
static void test_caps(void **state)
{
	size_t big = ETCD_VALUE_MAX + 3, n;
	char *raw = calloc(1, big), *b64 = etcd_b64_encode(raw, big), *body, *dec;
	struct etcd_reply r;
	char err[256];
	(void)state;

	assert_non_null(b64);
	assert_int_equal(etcd_b64_decode(b64, strlen(b64), &dec, &n), -1);
	n = strlen(b64) + 128;
	body = malloc(n);
	snprintf(body, n, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"%s\"}]}", b64);
	assert_int_equal(parse(ETCD_RANGE, body, &r, err), 0); /* the key-value flagged, not the reply */
	assert_int_equal(r.nkvs, 1);
	assert_true(r.kvs[0].value_bad);
	etcd_reply_dispose(&r);
	free(body);
	body = calloc(1, ETCD_REPLY_MAX + 2);
	memset(body, ' ', ETCD_REPLY_MAX + 1);
	assert_int_equal(etcd_parse_reply(ETCD_RANGE, body, ETCD_REPLY_MAX + 1, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	free(body);
	free(b64);
	free(raw);
}

/* ---- the client against a scripted server ------------------------------------------- */

/* A fake etcd on 127.0.0.1: it reads a request head and body, then writes
 * REPLY in pieces of STEP bytes (0: at once), or nothing when REPLY is NULL;
 * the next request on the same connection gets REPLY again once it was
 * all sent. With CLOSE_ON_SECOND, a second request on one connection is
 * not answered: the connection is closed (as etcd closes an idle one just
 * as a client reuses it). */
struct fake {
	struct event_base *base;
	struct evconnlistener *lis;
	struct cfg_addr addr;
	char text[32];
	const char *reply;
	size_t reply_len, step;
	size_t requests;
	size_t accepts;
	bool close_on_second;
	const char *after_reply;        /* written 20 ms after the reply went, unasked */
	struct event *late;
	size_t conn_requests;           /* on the current connection */
	struct bufferevent *conn;
	size_t sent;
	struct event *drip;
};

static void drip_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *fk = arg;
	size_t n = fk->reply_len - fk->sent;
	struct timeval tv = { 0, 1000 };
	(void)fd;
	(void)what;

	if (!fk->conn)
		return;
	if (fk->step && n > fk->step)
		n = fk->step;
	bufferevent_write(fk->conn, fk->reply + fk->sent, n);
	fk->sent += n;
	if (fk->sent < fk->reply_len)
		evtimer_add(fk->drip, &tv);
	else if (fk->after_reply) {
		struct timeval later = { 0, 20000 };
		evtimer_add(fk->late, &later);
	}
}

static void late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *fk = arg;
	(void)fd;
	(void)what;

	if (fk->conn && fk->after_reply)
		bufferevent_write(fk->conn, fk->after_reply, strlen(fk->after_reply));
}

static void fake_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake *fk = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);

	if (end.pos < 0 || (fk->sent && fk->sent < fk->reply_len) || !fk->reply)
		return;
	if (fk->close_on_second && fk->conn_requests == 1) {
		bufferevent_free(bev);
		fk->conn = NULL;
		return;
	}
	fk->requests++;
	fk->conn_requests++;
	fk->sent = 0;
	evbuffer_drain(in, evbuffer_get_length(in)); /* the bodies here are small: all arrived */
	drip_cb(-1, 0, fk);
}

static void fake_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct fake *fk = arg;
	(void)what;

	bufferevent_free(bev);
	fk->conn = NULL;
}

static void fake_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct fake *fk = arg;
	(void)l;
	(void)sa;
	(void)len;

	if (fk->conn)
		bufferevent_free(fk->conn);
	fk->sent = 0;
	fk->accepts++;
	fk->conn_requests = 0;
	fk->conn = bufferevent_socket_new(fk->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(fk->conn, fake_read_cb, NULL, fake_event_cb, fk);
	bufferevent_enable(fk->conn, EV_READ | EV_WRITE);
}

static void fake_start(struct fake *fk, struct event_base *base, const char *reply, size_t step)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	memset(fk, 0, sizeof(*fk));
	fk->base = base;
	fk->reply = reply;
	fk->reply_len = reply ? strlen(reply) : 0;
	fk->step = step;
	fk->lis = evconnlistener_new_bind(base, fake_accept, fk, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                                  (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(fk->lis);
	assert_int_equal(getsockname(evconnlistener_get_fd(fk->lis), (struct sockaddr *)&sin, &len), 0);
	memcpy(&fk->addr.ss, &sin, sizeof(sin));
	fk->addr.len = sizeof(sin);
	snprintf(fk->text, sizeof(fk->text), "127.0.0.1:%u", ntohs(sin.sin_port));
	fk->addr.text = fk->text;
	fk->drip = evtimer_new(base, drip_cb, fk);
	fk->late = evtimer_new(base, late_cb, fk);
}

static void fake_stop(struct fake *fk)
{
	if (fk->conn)
		bufferevent_free(fk->conn);
	evconnlistener_free(fk->lis);
	event_free(fk->drip);
	event_free(fk->late);
}

/* What a call ended with. */
struct outcome {
	struct event_base *base;
	bool done;
	bool ok;
	int64_t revision;
	char err[512];
	size_t messages;
	int64_t last_mod;
};

static void done_cb(void *arg, const struct etcd_reply *r, const char *err)
{
	struct outcome *o = arg;

	o->done = true;
	o->ok = r != NULL;
	if (r)
		o->revision = r->revision;
	else
		snprintf(o->err, sizeof(o->err), "%s", err);
	event_base_loopbreak(o->base);
}

static int msg_cb(void *arg, const struct etcd_reply *r)
{
	struct outcome *o = arg;

	o->messages++;
	if (r->nkvs)
		o->last_mod = r->kvs[r->nkvs - 1].mod_revision;
	if (o->messages == 3)
		event_base_loopbreak(o->base);
	return 0;
}

/* Run BASE until the outcome is known, five seconds at most. */
static void run_until(struct event_base *base, struct outcome *o)
{
	struct timeval limit = { 5, 0 };

	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	(void)o;
}

#define REPLY_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

/* A reply with STATUS_LINE (CRLF included) and BODY, by Content-Length.
 * Release with free. */
static char *by_length(const char *status_line, const char *body)
{
	char *out = NULL;

	assert_true(asprintf(&out, "%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", status_line,
	                     strlen(body), body) > 0);
	return out;
}

/* A chunked reply whose chunks are PARTS (NULL-terminated), then the last
 * chunk unless OPEN. Release with free. */
static char *chunked(const char *const *parts, bool open)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	fputs(REPLY_HEAD "Transfer-Encoding: chunked\r\n\r\n", f);
	for (; *parts; parts++)
		fprintf(f, "%zx\r\n%s\r\n", strlen(*parts), *parts);
	if (!open)
		fputs("0\r\n\r\n", f);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void test_client_reply_in_pieces(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	struct outcome o = { .base = base };
	(void)state;

	/* chunked, one byte at a time, as a slow gateway might */
	static const char *const parts[] = { "{\"header\":{\"revisi", "on\":\"42\"}}\n", NULL };
	char *reply = chunked(parts, false);
	fake_start(&fk, base, reply, 1);
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	assert_non_null(etcd_call(e, ETCD_RANGE, etcd_body_range("k", 1, false), done_cb, &o));
	run_until(base, &o);
	assert_true(o.done);
	if (!o.ok)
		fail_msg("%s", o.err);
	assert_int_equal(o.revision, 42);
	etcd_free(e);
	fake_stop(&fk);
	event_base_free(base);
	free(reply);
}

/* LINE with the values of key KEY_B64 emptied, as a string. */
static char *blanked(const char *line, const char *key_b64)
{
	char *buf = strdup(line);

	assert_non_null(buf);
	buf[etcd_blank_values(buf, strlen(buf), key_b64, strlen(key_b64))] = '\0';
	return buf;
}

#define BLANK_CHECK(line, key, want)                                                                               \
	do {                                                                                                       \
		char *got_ = blanked((line), (key));                                                               \
		assert_string_equal(got_, (want));                                                                 \
		free(got_);                                                                                        \
	} while (0)

static void test_blank_values(void **state)
{
	(void)state;

	/* Zm9v = "foo", Zm9vMg = "foo2", YmFy = "bar" */
	BLANK_CHECK("{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"6\",\"value\":\"YmFy\"}}]}}", "Zm9v",
	            "{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"6\",\"value\":\"\"}}]}}");
	/* another key, and a key that only starts like it, are left alone */
	BLANK_CHECK("{\"kv\":{\"key\":\"Zm9vMg\",\"value\":\"YmFy\"}}", "Zm9v", "{\"kv\":{\"key\":\"Zm9vMg\",\"value\":\"YmFy\"}}");
	/* several events: only the matching ones */
	BLANK_CHECK("[{\"kv\":{\"key\":\"Zm9v\",\"value\":\"YmFy\"}},{\"kv\":{\"key\":\"YmFy\",\"value\":\"Zm9v\"}},"
	            "{\"kv\":{\"key\":\"Zm9v\",\"value\":\"YQ==\"}}]",
	            "Zm9v",
	            "[{\"kv\":{\"key\":\"Zm9v\",\"value\":\"\"}},{\"kv\":{\"key\":\"YmFy\",\"value\":\"Zm9v\"}},"
	            "{\"kv\":{\"key\":\"Zm9v\",\"value\":\"\"}}]");
	/* a delete has no value: nothing of the next object is taken */
	BLANK_CHECK("[{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"7\"}},{\"kv\":{\"key\":\"YmFy\",\"value\":\"YQ==\"}}]",
	            "Zm9v",
	            "[{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"7\"}},{\"kv\":{\"key\":\"YmFy\",\"value\":\"YQ==\"}}]");
	/* cut short anywhere: never read past the end, never a change of shape */
	const char *full = "{\"kv\":{\"key\":\"Zm9v\",\"value\":\"YmFy\"}}";
	for (size_t n = 0; n < strlen(full); n++) {
		char *buf = malloc(n ? n : 1);
		assert_non_null(buf);
		memcpy(buf, full, n);
		size_t m = etcd_blank_values(buf, n, "Zm9v", 4);
		assert_true(m <= n);
		if (m < n) /* only a whole value string, closed before the end, goes */
			assert_int_equal(n - m, 4);
		free(buf);
	}
	/* an empty value stays empty */
	BLANK_CHECK("{\"kv\":{\"key\":\"Zm9v\",\"value\":\"\"}}", "Zm9v", "{\"kv\":{\"key\":\"Zm9v\",\"value\":\"\"}}");
}

/* Every key-value's key and value, as "key=value;" in arrival order. */
struct kv_log {
	struct event_base *base;
	char text[256];
	size_t messages;
};

static int kv_log_cb(void *arg, const struct etcd_reply *r)
{
	struct kv_log *l = arg;

	for (size_t i = 0; i < r->nkvs; i++) {
		size_t n = strlen(l->text);
		snprintf(l->text + n, sizeof(l->text) - n, "%s=%s;", r->kvs[i].key, r->kvs[i].value ? r->kvs[i].value : "");
	}
	if (++l->messages == 2)
		event_base_loopbreak(l->base);
	return 0;
}

static void test_client_watch_blank(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	struct kv_log l = { .base = base };
	(void)state;

	static const char *const parts[] = {
		"{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}\n",
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"6\",\"value\":\"YmFy\"}},"
		"{\"kv\":{\"key\":\"YmFy\",\"mod_revision\":\"6\",\"value\":\"YmFy\"}}]}}\n",
		NULL,
	};
	char *reply = chunked(parts, true);
	fake_start(&fk, base, reply, 0);
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	struct etcd_call *w = etcd_watch(e, etcd_body_watch("f", 1, 0), kv_log_cb, NULL, &l);
	assert_non_null(w);
	assert_int_equal(etcd_watch_blank(w, "foo", 3), 0);
	struct timeval limit = { 5, 0 };
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	assert_int_equal(l.messages, 2);
	assert_string_equal(l.text, "foo=;bar=bar;");
	etcd_free(e);
	fake_stop(&fk);
	event_base_free(base);
	free(reply);
}

static void test_client_watch_stream(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	struct outcome o = { .base = base };
	(void)state;

	/* three messages, the second split across chunks, delivered in 7-byte pieces */
	static const char *const parts[] = {
		"{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}\n",
		"{\"result\":{\"events\":[{\"kv\":{\"k",
		"ey\":\"Zm9v\",\"mod_revision\":\"6\",\"value\":\"YmFy\"}}]}}\n{\"result\":{\"events\":[{\"type\":",
		"\"DELETE\",\"kv\":{\"key\":\"Zm9v\",\"mod_revision\":\"7\"}}]}}\n",
		NULL,
	};
	char *reply = chunked(parts, true);
	fake_start(&fk, base, reply, 7);
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	assert_non_null(etcd_watch(e, etcd_body_watch("f", 1, 0), msg_cb, done_cb, &o));
	run_until(base, &o);
	assert_int_equal(o.messages, 3);
	assert_int_equal(o.last_mod, 7);
	assert_false(o.done); /* the stream is still open */
	etcd_free(e);         /* ends it without a callback */
	fake_stop(&fk);
	event_base_free(base);
	free(reply);
}

/* A watch answered by a whole 200 reply (a gateway or proxy that does not
 * stream) ends with an error that says so, never with a reply and no
 * error text. */
static void test_client_watch_not_a_stream(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	struct outcome o = { .base = base };
	(void)state;

	char *reply = by_length("HTTP/1.1 200 OK\r\n", "{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}");
	fake_start(&fk, base, reply, 0);
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	assert_non_null(etcd_watch(e, etcd_body_watch("f", 1, 0), msg_cb, done_cb, &o));
	run_until(base, &o);
	assert_true(o.done);
	assert_false(o.ok);
	assert_int_equal(o.messages, 0);
	assert_non_null(strstr(o.err, "not a stream"));
	assert_non_null(strstr(o.err, fk.text));
	etcd_free(e);
	fake_stop(&fk);
	event_base_free(base);
	free(reply);
}

/* One call on E, run to its end; fails the test unless it succeeded with
 * revision REV. */
static void call_ok(struct event_base *base, struct etcd *e, enum etcd_kind kind, int64_t rev)
{
	struct outcome o = { .base = base };

	assert_non_null(etcd_call(e, kind, kind == ETCD_PUT ? etcd_body_put("k", 1, "v", 1, 0)
	                                                     : etcd_body_range("k", 1, false),
	                          done_cb, &o));
	run_until(base, &o);
	assert_true(o.done);
	if (!o.ok)
		fail_msg("%s", o.err);
	assert_int_equal(o.revision, rev);
}

static void test_client_keeps_connection(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	(void)state;

	/* a whole reply by length: the next calls ride the same connection */
	char *reply = by_length("HTTP/1.1 200 OK\r\n", "{\"header\":{\"revision\":\"7\"}}");
	fake_start(&fk, base, reply, 0);
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	call_ok(base, e, ETCD_RANGE, 7);
	call_ok(base, e, ETCD_PUT, 7);
	call_ok(base, e, ETCD_RANGE, 7);
	assert_int_equal(fk.requests, 3);
	assert_int_equal(fk.accepts, 1);

	/* a watch never takes the kept connection (it would keep it) */
	struct outcome o = { .base = base };
	assert_non_null(etcd_watch(e, etcd_body_watch("f", 1, 0), msg_cb, done_cb, &o));
	run_until(base, &o);
	assert_true(o.done); /* the fake's whole reply is not a stream */
	assert_int_equal(fk.accepts, 2);
	etcd_free(e);
	fake_stop(&fk);
	free(reply);

	/* etcd says it closes: a new connection per call */
	reply = by_length("HTTP/1.1 200 OK\r\nConnection: close\r\n", "{\"header\":{\"revision\":\"8\"}}");
	fake_start(&fk, base, reply, 0);
	e = etcd_new(base, &fk.addr, 1, 2000);
	call_ok(base, e, ETCD_RANGE, 8);
	call_ok(base, e, ETCD_RANGE, 8);
	assert_int_equal(fk.accepts, 2);
	etcd_free(e);
	fake_stop(&fk);
	free(reply);

	/* a reply with bytes after it is out of step: not kept */
	char *twice = NULL;
	reply = by_length("HTTP/1.1 200 OK\r\n", "{\"header\":{\"revision\":\"9\"}}");
	assert_true(asprintf(&twice, "%s%s", reply, reply) > 0);
	fake_start(&fk, base, twice, 0);
	e = etcd_new(base, &fk.addr, 1, 2000);
	call_ok(base, e, ETCD_RANGE, 9);
	call_ok(base, e, ETCD_RANGE, 9);
	assert_int_equal(fk.accepts, 2);
	etcd_free(e);
	fake_stop(&fk);
	free(reply);
	free(twice);
	event_base_free(base);
}

static uint64_t fake_now_us;
static uint64_t fake_clock(void)
{
	return fake_now_us;
}

/* A kept connection is not reused after ETCD_IDLE_REUSE_MS (etcd may be
 * closing it), nor after it said anything while idle. */
static void test_client_kept_connection_expires(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	(void)state;

	char *reply = by_length("HTTP/1.1 200 OK\r\n", "{\"header\":{\"revision\":\"4\"}}");
	fake_start(&fk, base, reply, 0);
	fake_now_us = 1000000;
	clock_set_source(fake_clock);
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	call_ok(base, e, ETCD_RANGE, 4);
	fake_now_us += (uint64_t)ETCD_IDLE_REUSE_MS * 1000; /* just in time */
	call_ok(base, e, ETCD_RANGE, 4);
	assert_int_equal(fk.accepts, 1);
	fake_now_us += (uint64_t)ETCD_IDLE_REUSE_MS * 1000 + 1000; /* too old */
	call_ok(base, e, ETCD_RANGE, 4);
	assert_int_equal(fk.accepts, 2);
	assert_int_equal(fk.requests, 3);

	/* bytes nobody asked for, on the kept connection (idle_read_cb): it is
	 * closed (the fake sees it go), and the next call connects afresh */
	fk.after_reply = "X";
	call_ok(base, e, ETCD_RANGE, 4);
	assert_int_equal(fk.accepts, 2);
	struct timeval tick = { 0, 10000 };
	for (int i = 0; i < 500 && fk.conn; i++) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	assert_null(fk.conn);
	fk.after_reply = NULL;
	call_ok(base, e, ETCD_RANGE, 4);
	assert_int_equal(fk.accepts, 3);
	clock_set_source(NULL);
	etcd_free(e);
	fake_stop(&fk);
	free(reply);
	event_base_free(base);
}

static void test_client_kept_connection_closed(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	(void)state;

	/* etcd closes the kept connection as the next call goes out on it: the
	 * call is retried on a new connection, once, and succeeds */
	char *reply = by_length("HTTP/1.1 200 OK\r\n", "{\"header\":{\"revision\":\"3\"}}");
	fake_start(&fk, base, reply, 0);
	fk.close_on_second = true;
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	call_ok(base, e, ETCD_PUT, 3);
	call_ok(base, e, ETCD_PUT, 3);
	assert_int_equal(fk.requests, 2);
	assert_int_equal(fk.accepts, 2);
	etcd_free(e);
	fake_stop(&fk);
	free(reply);
	event_base_free(base);
}

static void test_client_failover_and_limits(void **state)
{
	struct event_base *base = event_base_new();
	struct fake good, silent;
	struct outcome o = { .base = base };
	struct cfg_addr eps[3];
	const char *why;
	(void)state;

	/* a closed port, a server that never answers, a good one */
	char *reply = by_length("HTTP/1.1 200 OK\r\n", "{\"header\":{\"revision\":\"9\"}}");
	fake_start(&good, base, reply, 0);
	fake_start(&silent, base, NULL, 0);
	char closed[] = "127.0.0.1:1";
	eps[0].text = closed;
	assert_int_equal(config_parse_address(eps[0].text, &eps[0].ss, &eps[0].len, &why), 0);
	eps[1] = silent.addr;
	eps[2] = good.addr;
	struct etcd *e = etcd_new(base, eps, 3, 300);
	assert_non_null(etcd_call(e, ETCD_PUT, etcd_body_put("k", 1, "v", 1, 0), done_cb, &o));
	run_until(base, &o);
	assert_true(o.done);
	if (!o.ok)
		fail_msg("%s", o.err);
	assert_int_equal(o.revision, 9);
	assert_string_equal(etcd_endpoint(e), good.text); /* tried first next time */
	etcd_free(e);

	/* only the silent one: the deadline ends the call */
	memset(&o, 0, sizeof(o));
	o.base = base;
	e = etcd_new(base, &silent.addr, 1, 200);
	assert_non_null(etcd_call(e, ETCD_RANGE, etcd_body_range("k", 1, false), done_cb, &o));
	run_until(base, &o);
	assert_true(o.done);
	assert_false(o.ok);
	assert_non_null(strstr(o.err, "no reply within 200 ms"));
	etcd_free(e);
	fake_stop(&good);
	fake_stop(&silent);
	event_base_free(base);
	free(reply);
}

static int first_msg_cb(void *arg, const struct etcd_reply *r)
{
	struct outcome *o = arg;
	(void)r;

	o->messages++;
	event_base_loopbreak(o->base);
	return 0;
}

/* A watch its owner found silent: abandoned, it ends without a callback,
 * and the next call goes to another endpoint, since the silent one was
 * the first choice. */
static void test_client_abandon(void **state)
{
	struct event_base *base = event_base_new();
	struct fake streaming, good;
	struct outcome o = { .base = base };
	struct cfg_addr eps[2];
	(void)state;

	static const char *const parts[] = { "{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}\n", NULL };
	char *stream = chunked(parts, true);
	char *reply = by_length("HTTP/1.1 200 OK\r\n", "{\"header\":{\"revision\":\"9\"}}");
	fake_start(&streaming, base, stream, 0);
	fake_start(&good, base, reply, 0);
	eps[0] = streaming.addr;
	eps[1] = good.addr;
	struct etcd *e = etcd_new(base, eps, 2, 2000);
	struct etcd_call *w = etcd_watch(e, etcd_body_watch("f", 1, 0), first_msg_cb, done_cb, &o);
	assert_non_null(w);
	run_until(base, &o);
	assert_int_equal(o.messages, 1); /* created, then nothing */
	assert_string_equal(etcd_call_endpoint(w), streaming.text);
	assert_string_equal(etcd_endpoint(e), streaming.text);
	etcd_abandon(w);
	assert_string_equal(etcd_endpoint(e), good.text);
	/* the next call goes there and answers */
	assert_non_null(etcd_call(e, ETCD_RANGE, etcd_body_range("k", 1, false), done_cb, &o));
	run_until(base, &o);
	assert_true(o.done);
	if (!o.ok)
		fail_msg("%s", o.err);
	assert_int_equal(o.revision, 9);
	assert_int_equal(o.messages, 1); /* nothing from the abandoned watch */

	etcd_free(e);
	fake_stop(&streaming);
	fake_stop(&good);
	event_base_free(base);
	free(stream);
	free(reply);
}

static void test_client_caps(void **state)
{
	struct event_base *base = event_base_new();
	struct fake fk;
	struct outcome o = { .base = base };
	char head[256];
	(void)state;

	/* a reply announcing more than the cap is refused before its body */
	snprintf(head, sizeof(head), REPLY_HEAD "Content-Length: %u\r\n\r\n{", ETCD_REPLY_MAX + 1);
	fake_start(&fk, base, head, 0);
	struct etcd *e = etcd_new(base, &fk.addr, 1, 2000);
	assert_non_null(etcd_call(e, ETCD_RANGE, etcd_body_range("k", 1, false), done_cb, &o));
	run_until(base, &o);
	assert_true(o.done);
	assert_false(o.ok);
	assert_non_null(strstr(o.err, "cap"));
	etcd_free(e);
	fake_stop(&fk);

	/* an etcd error status is an error with etcd's message, not a failover */
	memset(&o, 0, sizeof(o));
	o.base = base;
	char *reply = by_length("HTTP/1.1 404 Not Found\r\n",
	                        "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}");
	fake_start(&fk, base, reply, 0);
	e = etcd_new(base, &fk.addr, 1, 2000);
	assert_non_null(etcd_call(e, ETCD_LEASE_REVOKE, etcd_body_lease_id(7), done_cb, &o));
	run_until(base, &o);
	assert_false(o.ok);
	assert_non_null(strstr(o.err, "requested lease not found"));
	assert_int_equal(fk.requests, 1);
	etcd_free(e);
	fake_stop(&fk);
	event_base_free(base);
	free(reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_known_and_strict),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_bad_value_skipped),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_client_reply_in_pieces),
		cmocka_unit_test(test_client_watch_stream),
		cmocka_unit_test(test_client_watch_not_a_stream),
		cmocka_unit_test(test_blank_values),
		cmocka_unit_test(test_client_watch_blank),
		cmocka_unit_test(test_client_keeps_connection),
		cmocka_unit_test(test_client_kept_connection_closed),
		cmocka_unit_test(test_client_kept_connection_expires),
		cmocka_unit_test(test_client_failover_and_limits),
		cmocka_unit_test(test_client_abandon),
		cmocka_unit_test(test_client_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
