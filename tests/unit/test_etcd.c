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

#include <cmocka.h>
#include <jansson.h>

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
		{ ETCD_RANGE, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"!!\"}]}", "value is not base64" },
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

/* Values above the cap and replies above the reply cap are refused. */
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
	assert_int_equal(parse(ETCD_RANGE, body, &r, err), -1);
	assert_non_null(strstr(err, "at most"));
	free(body);
	body = calloc(1, ETCD_REPLY_MAX + 2);
	memset(body, ' ', ETCD_REPLY_MAX + 1);
	assert_int_equal(etcd_parse_reply(ETCD_RANGE, body, ETCD_REPLY_MAX + 1, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	free(body);
	free(b64);
	free(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_known_and_strict),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
