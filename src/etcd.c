/* etcd: the v3 JSON gateway's codec and a small HTTP/1.1 client (see
 * include/weir/etcd.h).
 *
 * Decisions:
 *   - etcd's gateway writes 64-bit numbers as JSON strings ("revision":
 *     "12") and leaves out fields that are zero or false; both are read
 *     here: a number is a string of 1-19 digits or a JSON integer, never
 *     negative, and an absent field is 0.
 *   - A field of the wrong type, bad base64, a key or value above
 *     ETCD_VALUE_MAX, more than ETCD_KVS_MAX key-values or a body above
 *     ETCD_REPLY_MAX makes the whole reply an error: nothing of it is used.
 *   - A connection serves one call at a time. After a whole reply (status
 *     200, by Content-Length, nothing after it, no "Connection: close") it
 *     is kept, one per endpoint, for the next call to that endpoint within
 *     ETCD_IDLE_REUSE_MS: a member publishes every 200 ms, and a connect,
 *     accept and close per publish cost weir's main thread (and etcd) more
 *     than the call itself. A kept connection that fails before the first
 *     byte of its reply (etcd closed it meanwhile) is retried once on a
 *     fresh one to the same endpoint, with a deadline of its own: a
 *     retry like the failover below, and as there the request may have
 *     been carried out already (see the last point). Streams (watch,
 *     keepalive) say "Connection: close" and keep their connection for
 *     their life; a kept connection has no bytes of an earlier reply left
 *     (anything it says while idle closes it).
 *   - The gateway answers the streaming calls (keepalive, watch) with a
 *     chunked body of JSON objects, each followed by "\n". A keepalive is
 *     complete with its first object; a watch hands over each one.
 *   - A failed attempt (refused, reset, timeout, 5xx, a head that is not
 *     HTTP) goes on to the next endpoint; a call ends with an error once
 *     every endpoint has failed it. Retrying a transaction is safe only
 *     because every transaction weir sends is conditioned on a revision
 *     (the caller recognises its own write when the first attempt did
 *     commit); a put written twice writes the same value, and a lease
 *     granted twice leaves one unused that expires after its ttl. */
#include "config.h"

#include "weir/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "weir/clock.h"
#include "weir/http1.h"
#include "weir/textbuf.h"

/* ---- base64 ---------------------------------------------------------------------- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of IN (N bytes) at OUT, which has room for (N + 2) / 3 * 4
 * bytes; returns the length written (no NUL). */
static size_t b64_write(char *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	char *o = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64_alphabet[(v >> 18) & 63];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	return (size_t)(o - out);
}

static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

char *etcd_b64_encode(const void *in, size_t n)
{
	char *out = malloc(b64_len(n) + 1);

	if (out)
		out[b64_write(out, in, n)] = '\0';
	return out;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int etcd_b64_decode(const char *in, size_t n, char **out, size_t *outlen)
{
	size_t pad = 0, len;
	char *buf;

	*out = NULL;
	*outlen = 0;
	if (n % 4 != 0)
		return -1;
	if (n > 0 && in[n - 1] == '=')
		pad = n > 1 && in[n - 2] == '=' ? 2 : 1;
	len = n / 4 * 3 - pad;
	if (len > ETCD_VALUE_MAX || !(buf = malloc(len + 1)))
		return -1;
	for (size_t i = 0, o = 0; i < n; i += 4) {
		int v[4];
		bool last = i + 4 == n;
		for (int k = 0; k < 4; k++) {
			v[k] = b64_value((unsigned char)in[i + k]);
			/* '=' only as the last one or two characters */
			if (v[k] < 0 && !(last && in[i + k] == '=' && k >= 4 - (int)pad)) {
				free(buf);
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
		buf[o++] = (char)(w >> 16);
		if (!(last && pad == 2)) {
			w |= (uint32_t)v[2] << 6;
			buf[o++] = (char)(w >> 8);
		}
		if (!(last && pad >= 1)) {
			w |= (uint32_t)v[3];
			buf[o++] = (char)w;
		}
		/* Canonical: the bits the padding drops must be zero. */
		if (last && ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3)))) {
			free(buf);
			return -1;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- request bodies ------------------------------------------------------------------ */

const char *etcd_kind_path(enum etcd_kind k)
{
	switch (k) {
	case ETCD_RANGE: return "/v3/kv/range";
	case ETCD_PUT: return "/v3/kv/put";
	case ETCD_TXN: return "/v3/kv/txn";
	case ETCD_LEASE_GRANT: return "/v3/lease/grant";
	case ETCD_LEASE_KEEPALIVE: return "/v3/lease/keepalive";
	case ETCD_LEASE_REVOKE: return "/v3/lease/revoke";
	case ETCD_WATCH: return "/v3/watch";
	}
	return "/";
}

/* A jansson string. Never jansson's json_string: weir's own json.c has a
 * function of that name, and the static library's wins at link time. */
static json_t *jstr(const char *s)
{
	return json_stringn(s, strlen(s));
}

/* A JSON string member holding base64 of DATA: set on OBJ as NAME. */
static int set_b64(json_t *obj, const char *name, const char *data, size_t n)
{
	char *b = etcd_b64_encode(data, n);
	int rc = b ? json_object_set_new(obj, name, jstr(b)) : -1;

	free(b);
	return rc;
}

/* 64-bit numbers go as strings, as etcd writes them. */
static int set_int64(json_t *obj, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_object_set_new(obj, name, jstr(buf));
}

/* The end of the range of every key starting with PREFIX (etcd's rule: the
 * prefix with its last byte below 0xff incremented, the rest cut; "\0" for
 * all keys). Release with free. */
static char *prefix_end(const char *prefix, size_t len, size_t *endlen)
{
	char *end = malloc(len + 1);

	if (!end)
		return NULL;
	memcpy(end, prefix, len);
	for (size_t i = len; i > 0; i--) {
		if ((unsigned char)end[i - 1] < 0xff) {
			end[i - 1]++;
			*endlen = i;
			return end;
		}
	}
	end[0] = '\0';
	*endlen = 1;
	return end;
}

/* OBJ as compact text (release with free); OBJ is released. */
static char *dump(json_t *obj, int rc)
{
	char *text = obj && rc == 0 ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	return text;
}

static int set_range(json_t *obj, const char *key, size_t keylen, bool prefix)
{
	int rc = set_b64(obj, "key", key, keylen);
	if (rc == 0 && prefix) {
		size_t endlen;
		char *end = prefix_end(key, keylen, &endlen);
		rc = end ? set_b64(obj, "range_end", end, endlen) : -1;
		free(end);
	}
	return rc;
}

char *etcd_body_range(const char *key, size_t keylen, bool prefix)
{
	json_t *obj = json_object();

	return dump(obj, obj ? set_range(obj, key, keylen, prefix) : -1);
}

/* A put request's fields on OBJ. */
static int set_put(json_t *obj, const char *key, size_t keylen, const char *value, size_t vlen, int64_t lease)
{
	int rc = set_b64(obj, "key", key, keylen);
	if (rc == 0)
		rc = set_b64(obj, "value", value, vlen);
	if (rc == 0 && lease)
		rc = set_int64(obj, "lease", lease);
	return rc;
}

/* Written without jansson: a member's measurements are put five times a
 * second, tens of kilobytes each, and base64 and a number need no
 * escaping. */
char *etcd_body_put(const char *key, size_t keylen, const char *value, size_t vlen, int64_t lease)
{
	static const char k[] = "{\"key\":\"", v[] = "\",\"value\":\"";
	char tail[48];
	int tn = lease ? snprintf(tail, sizeof(tail), "\",\"lease\":\"%" PRId64 "\"}", lease)
	               : snprintf(tail, sizeof(tail), "\"}");

	if (keylen > SIZE_MAX / 2 || vlen > SIZE_MAX / 2 || tn < 0 || (size_t)tn >= sizeof(tail))
		return NULL;
	char *body = malloc(sizeof(k) - 1 + b64_len(keylen) + sizeof(v) - 1 + b64_len(vlen) + (size_t)tn + 1);
	if (!body)
		return NULL;
	char *o = body;
	memcpy(o, k, sizeof(k) - 1);
	o += sizeof(k) - 1;
	o += b64_write(o, key, keylen);
	memcpy(o, v, sizeof(v) - 1);
	o += sizeof(v) - 1;
	o += b64_write(o, value, vlen);
	memcpy(o, tail, (size_t)tn + 1);
	return body;
}

/* The compare "FENCE_KEY is attached to FENCE_LEASE" on a new object, or
 * NULL when out of memory. */
static json_t *lease_compare(const char *fence_key, size_t fence_keylen, int64_t fence_lease)
{
	json_t *cmp = json_object();
	int rc = cmp ? set_b64(cmp, "key", fence_key, fence_keylen) : -1;

	if (rc == 0)
		rc = json_object_set_new(cmp, "target", jstr("LEASE"));
	if (rc == 0)
		rc = json_object_set_new(cmp, "result", jstr("EQUAL"));
	if (rc == 0)
		rc = set_int64(cmp, "lease", fence_lease);
	if (rc < 0) {
		json_decref(cmp);
		return NULL;
	}
	return cmp;
}

/* etcd_body_txn_put, with the fence's compare too when FENCE_KEY. */
static char *txn_put(const char *key, size_t keylen, enum etcd_cond cond, int64_t rev, const char *value,
                     size_t vlen, int64_t lease, const char *fence_key, size_t fence_keylen, int64_t fence_lease)
{
	json_t *obj = json_object(), *cmp = json_object(), *put = json_object(), *range = json_object();
	json_t *succ = json_object(), *fail = json_object();
	json_t *fence = fence_key ? lease_compare(fence_key, fence_keylen, fence_lease) : NULL;
	int rc = obj && cmp && put && range && succ && fail && (fence || !fence_key) ? 0 : -1;

	if (rc == 0)
		rc = set_b64(cmp, "key", key, keylen);
	if (rc == 0)
		rc = json_object_set_new(cmp, "target", jstr(cond == ETCD_IF_ABSENT ? "CREATE" : "MOD"));
	if (rc == 0)
		rc = json_object_set_new(cmp, "result", jstr("EQUAL"));
	if (rc == 0)
		rc = set_int64(cmp, cond == ETCD_IF_ABSENT ? "create_revision" : "mod_revision",
		               cond == ETCD_IF_ABSENT ? 0 : rev);
	if (rc == 0)
		rc = set_put(put, key, keylen, value, vlen, lease);
	if (rc == 0)
		rc = set_range(range, key, keylen, false);
	if (rc == 0) {
		rc = json_object_set_new(succ, "request_put", put);
		put = NULL;
	}
	if (rc == 0) {
		rc = json_object_set_new(fail, "request_range", range);
		range = NULL;
	}
	if (rc == 0) {
		rc = json_object_set_new(obj, "compare", fence ? json_pack("[oo]", cmp, fence) : json_pack("[o]", cmp));
		cmp = fence = NULL;
	}
	if (rc == 0) {
		rc = json_object_set_new(obj, "success", json_pack("[o]", succ));
		succ = NULL;
	}
	if (rc == 0) {
		rc = json_object_set_new(obj, "failure", json_pack("[o]", fail));
		fail = NULL;
	}
	json_decref(cmp);
	json_decref(fence);
	json_decref(put);
	json_decref(range);
	json_decref(succ);
	json_decref(fail);
	return dump(obj, rc);
}

char *etcd_body_txn_put(const char *key, size_t keylen, enum etcd_cond cond, int64_t rev, const char *value,
                        size_t vlen, int64_t lease)
{
	return txn_put(key, keylen, cond, rev, value, vlen, lease, NULL, 0, 0);
}

char *etcd_body_txn_put_fenced(const char *key, size_t keylen, int64_t rev, const char *value, size_t vlen,
                               const char *fence_key, size_t fence_keylen, int64_t fence_lease)
{
	return txn_put(key, keylen, ETCD_IF_MOD_REVISION, rev, value, vlen, 0, fence_key, fence_keylen, fence_lease);
}

char *etcd_body_lease_grant(int64_t ttl_seconds)
{
	json_t *obj = json_object();

	return dump(obj, obj ? set_int64(obj, "TTL", ttl_seconds) : -1);
}

char *etcd_body_lease_id(int64_t id)
{
	json_t *obj = json_object();

	return dump(obj, obj ? set_int64(obj, "ID", id) : -1);
}

char *etcd_body_watch(const char *prefix, size_t len, int64_t start)
{
	json_t *obj = json_object(), *create = json_object();
	int rc = obj && create ? set_range(create, prefix, len, true) : -1;

	if (rc == 0 && start > 0)
		rc = set_int64(create, "start_revision", start);
	if (rc == 0) {
		rc = json_object_set_new(obj, "create_request", create);
		create = NULL;
	}
	json_decref(create);
	return dump(obj, rc);
}

/* ---- replies ---------------------------------------------------------------------------- */

/* A reader of one reply: the first error wins and is kept. */
struct reader {
	char *err;
	size_t errlen;
	bool failed;
};

static void bad(struct reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bad(struct reader *rd, const char *fmt, ...)
{
	va_list ap;

	if (rd->failed)
		return;
	rd->failed = true;
	va_start(ap, fmt);
	vsnprintf(rd->err, rd->errlen, fmt, ap);
	va_end(ap);
}

/* A non-negative 64-bit number (etcd's string form or a JSON integer) at
 * OBJ.NAME; absent is 0. */
static int64_t get_int64(struct reader *rd, const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (int64_t)json_integer_value(v);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		int64_t x = 0;
		if (n == 0 || n > 19)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				goto fail;
			if (x > (INT64_MAX - (s[i] - '0')) / 10)
				goto fail;
			x = x * 10 + (s[i] - '0');
		}
		return x;
	}
fail:
	bad(rd, "field %s is not a non-negative 64-bit number", name);
	return 0;
}

static bool get_bool(struct reader *rd, const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	if (!v)
		return false;
	if (!json_is_boolean(v))
		bad(rd, "field %s is not true or false", name);
	return json_is_true(v);
}

/* OBJ.NAME when it is an object (or absent: NULL). */
static const json_t *get_object(struct reader *rd, const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	if (v && !json_is_object(v)) {
		bad(rd, "field %s is not an object", name);
		return NULL;
	}
	return v;
}

static const json_t *get_array(struct reader *rd, const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	if (v && !json_is_array(v)) {
		bad(rd, "field %s is not an array", name);
		return NULL;
	}
	if (v && json_array_size(v) > ETCD_KVS_MAX) {
		bad(rd, "field %s has %zu elements, more than %d", name, json_array_size(v), ETCD_KVS_MAX);
		return NULL;
	}
	return v;
}

/* Base64 bytes at OBJ.NAME into *OUT and *LEN (absent: ""). */
static void get_bytes(struct reader *rd, const json_t *obj, const char *name, char **out, size_t *len)
{
	const json_t *v = json_object_get(obj, name);

	*out = NULL;
	*len = 0;
	if (v && !json_is_string(v)) {
		bad(rd, "field %s is not a string", name);
		return;
	}
	if (etcd_b64_decode(v ? json_string_value(v) : "", v ? json_string_length(v) : 0, out, len) < 0)
		bad(rd, "field %s is not base64 of at most %u bytes", name, ETCD_VALUE_MAX);
}

static void kv_dispose(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
}

static void read_kv(struct reader *rd, const json_t *obj, struct etcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(obj)) {
		bad(rd, "a key-value is not an object");
		return;
	}
	get_bytes(rd, obj, "key", &kv->key, &kv->keylen);
	/* One value that cannot be read (more than ETCD_VALUE_MAX bytes, or not
	 * base64) is that key-value's problem, not the reply's: it comes as ""
	 * with value_bad, its key and revisions intact, so the caller logs and
	 * skips it and a foreign key under a prefix never fails a whole range. */
	const json_t *value = json_object_get(obj, "value");
	if (value && !json_is_string(value)) {
		bad(rd, "field value is not a string");
	} else if (etcd_b64_decode(value ? json_string_value(value) : "", value ? json_string_length(value) : 0,
	                           &kv->value, &kv->vlen) < 0) {
		kv->value_bad = true;
		kv->vlen = 0;
		if (!(kv->value = calloc(1, 1)))
			bad(rd, "out of memory");
	}
	kv->create_revision = get_int64(rd, obj, "create_revision");
	kv->mod_revision = get_int64(rd, obj, "mod_revision");
	kv->version = get_int64(rd, obj, "version");
	kv->lease = get_int64(rd, obj, "lease");
	if (!rd->failed && kv->keylen == 0)
		bad(rd, "a key-value has no key");
}

/* The key-values of array ARR (NULL: none) into R. WATCH: ARR holds events
 * ({"type", "kv"}). */
static void read_kvs(struct reader *rd, const json_t *arr, bool watch, struct etcd_reply *r)
{
	size_t n = arr ? json_array_size(arr) : 0;

	if (n == 0)
		return;
	r->kvs = calloc(n, sizeof(*r->kvs));
	if (!r->kvs) {
		bad(rd, "out of memory");
		return;
	}
	for (size_t i = 0; i < n && !rd->failed; i++) {
		const json_t *el = json_array_get(arr, i);
		struct etcd_kv *kv = &r->kvs[r->nkvs++];

		if (watch) {
			const json_t *type = json_is_object(el) ? json_object_get(el, "type") : NULL;
			if (!json_is_object(el)) {
				bad(rd, "a watch event is not an object");
				break;
			}
			if (type && !(json_is_string(type) && (strcmp(json_string_value(type), "PUT") == 0 ||
			                                        strcmp(json_string_value(type), "DELETE") == 0))) {
				bad(rd, "a watch event's type is not PUT or DELETE");
				break;
			}
			read_kv(rd, get_object(rd, el, "kv"), kv);
			kv->deleted = type && strcmp(json_string_value(type), "DELETE") == 0;
		} else {
			read_kv(rd, el, kv);
		}
	}
}

/* A txn's reply: succeeded, and the failure branch's read. */
static void read_txn(struct reader *rd, const json_t *root, struct etcd_reply *r)
{
	const json_t *resps = get_array(rd, root, "responses");

	r->succeeded = get_bool(rd, root, "succeeded");
	if (r->succeeded || !resps)
		return;
	for (size_t i = 0; i < json_array_size(resps) && !rd->failed; i++) {
		const json_t *range = get_object(rd, json_array_get(resps, i), "response_range");
		if (!json_is_object(json_array_get(resps, i)))
			bad(rd, "a txn response is not an object");
		else if (range)
			read_kvs(rd, get_array(rd, range, "kvs"), false, r);
	}
}

static void read_watch(struct reader *rd, const json_t *root, struct etcd_reply *r)
{
	const json_t *reason = json_object_get(root, "cancel_reason");

	r->created = get_bool(rd, root, "created");
	r->canceled = get_bool(rd, root, "canceled");
	r->compact_revision = get_int64(rd, root, "compact_revision");
	if (reason && !json_is_string(reason))
		bad(rd, "field cancel_reason is not a string");
	else if (reason)
		snprintf(r->cancel_reason, sizeof(r->cancel_reason), "%s", json_string_value(reason));
	read_kvs(rd, get_array(rd, root, "events"), true, r);
}

/* etcd's error object: {"error": "...", "code": N, "message": "..."}. */
static bool is_error_object(struct reader *rd, const json_t *root)
{
	const json_t *e = json_object_get(root, "error");
	const json_t *code = json_object_get(root, "code");

	if (!e)
		return false;
	if (json_is_string(e))
		bad(rd, "etcd: %.200s (code %" JSON_INTEGER_FORMAT ")", json_string_value(e),
		    json_is_integer(code) ? json_integer_value(code) : -1);
	else if (json_is_object(e))
		bad(rd, "etcd: %.200s (code %" JSON_INTEGER_FORMAT ")",
		    json_is_string(json_object_get(e, "message")) ? json_string_value(json_object_get(e, "message"))
		                                                 : "error",
		    json_is_integer(json_object_get(e, "http_code")) ? json_integer_value(json_object_get(e, "http_code"))
		                                                    : -1);
	else
		bad(rd, "etcd: an error of unknown shape");
	return true;
}

size_t etcd_blank_values(char *line, size_t len, const char *key_b64, size_t klen)
{
	static const char key_at[] = "\"key\":\"", value_at[] = "\"value\":\"";
	size_t at = 0;

	/* etcd's key-values are flat objects of base64 strings and numbers: no
	 * '"' inside a string, no '}' inside the object. */
	while (at < len) {
		const char *k = memmem(line + at, len - at, key_at, sizeof(key_at) - 1);
		if (!k)
			break;
		size_t ks = (size_t)(k - line) + sizeof(key_at) - 1;
		at = ks;
		if (len - ks < klen + 1 || memcmp(line + ks, key_b64, klen) != 0 || line[ks + klen] != '"')
			continue;
		at = ks + klen + 1;
		const char *end = memchr(line + at, '}', len - at);
		if (!end)
			break;
		size_t obj_end = (size_t)(end - line);
		const char *v = memmem(line + at, obj_end - at, value_at, sizeof(value_at) - 1);
		size_t vs = v ? (size_t)(v - line) + sizeof(value_at) - 1 : 0;
		const char *q = v ? memchr(line + vs, '"', obj_end - vs) : NULL;
		if (!q) {
			at = obj_end;
			continue;
		}
		size_t ve = (size_t)(q - line);
		memmove(line + vs, line + ve, len - ve);
		len -= ve - vs;
		at = vs + 1;
	}
	return len;
}

int etcd_parse_reply(enum etcd_kind kind, const char *body, size_t len, struct etcd_reply *r, char *err,
                     size_t errlen)
{
	struct reader rd = { .err = err, .errlen = errlen };
	json_error_t je;
	json_t *root;
	const json_t *obj;

	memset(r, 0, sizeof(*r));
	if (len > ETCD_REPLY_MAX) {
		snprintf(err, errlen, "reply of %zu bytes, more than %u", len, ETCD_REPLY_MAX);
		return -1;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "reply is not JSON: %s (byte %d)", je.text, je.position);
		return -1;
	}
	obj = root;
	if (!json_is_object(root)) {
		bad(&rd, "reply is not a JSON object");
	} else if (!is_error_object(&rd, root) && (kind == ETCD_WATCH || kind == ETCD_LEASE_KEEPALIVE)) {
		/* the streaming calls wrap each message: {"result": {...}} or {"error": ...} */
		const json_t *res = json_object_get(root, "result");
		if (!res)
			bad(&rd, "stream message without result");
		else if (!json_is_object(res))
			bad(&rd, "field result is not an object");
		else if (!is_error_object(&rd, res))
			obj = res;
	}
	if (!rd.failed) {
		const json_t *header = get_object(&rd, obj, "header");
		r->revision = header ? get_int64(&rd, header, "revision") : 0;
		switch (kind) {
		case ETCD_RANGE: read_kvs(&rd, get_array(&rd, obj, "kvs"), false, r); break;
		case ETCD_TXN: read_txn(&rd, obj, r); break;
		case ETCD_LEASE_GRANT:
		case ETCD_LEASE_KEEPALIVE:
			r->lease_id = get_int64(&rd, obj, "ID");
			r->ttl = get_int64(&rd, obj, "TTL");
			if (kind == ETCD_LEASE_GRANT && !rd.failed && (r->lease_id == 0 || r->ttl == 0))
				bad(&rd, "lease grant without ID or TTL");
			break;
		case ETCD_WATCH: read_watch(&rd, obj, r); break;
		case ETCD_PUT:
		case ETCD_LEASE_REVOKE: break;
		}
		if (!rd.failed && kind != ETCD_WATCH && !header)
			bad(&rd, "reply without header");
	}
	json_decref(root);
	if (rd.failed) {
		etcd_reply_dispose(r);
		return -1;
	}
	return 0;
}

void etcd_reply_dispose(struct etcd_reply *r)
{
	for (size_t i = 0; i < r->nkvs; i++)
		kv_dispose(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

/* ---- the client -------------------------------------------------------------------------- */

/* Where a call stands. Changed only through call_set_phase(). */
enum call_phase {
	CALL_CONNECTING,     /* connecting; the request is queued in the output */
	CALL_HEAD,           /* request sent or on its way; reading the reply head */
	CALL_BODY,           /* reading the body (by length, chunks or until close) */
	CALL_STREAM          /* a watch: handing over messages as they complete */
};

struct etcd {
	struct event_base *base;
	struct cfg_addr *eps;
	size_t neps;
	size_t cur;                     /* the endpoint calls try first */
	uint64_t timeout_ms;
	struct etcd_call *calls;        /* every call in flight */
	struct etcd_idle {              /* per endpoint: a connection kept between calls */
		struct bufferevent *bev;    /* NULL: none */
		uint64_t since_ms;          /* idle since (monotonic) */
	} *idle;
};

struct etcd_call {
	struct etcd *e;
	enum etcd_kind kind;
	char *body;
	etcd_done_fn done;
	etcd_msg_fn msg;
	void *arg;
	size_t ep;                      /* the endpoint of this attempt */
	size_t attempts;                /* started so far */
	char last_err[256];             /* why the previous attempt failed */
	int connect_errno;              /* connect(2) failed at once: said by the deadline */
	char *blank_key;                /* a watch: the key (base64) whose values are emptied */
	size_t blank_len;
	bool reused;                    /* this attempt's connection was kept from a call before */
	bool got_bytes;                 /* ... and has read a byte of the reply */
	struct bufferevent *bev;
	struct event *deadline;
	enum call_phase phase;
	struct http1_parser parser;
	int status;
	enum http1_body framing;
	uint64_t remaining;             /* CALL_BODY by length */
	struct http1_chunked chunked;
	struct evbuffer *data;          /* the body (or the stream's partial message) */
	struct etcd_call *prev, *next;
};

static void call_set_phase(struct etcd_call *c, enum call_phase p)
{
	c->phase = p;
}

/* ---- connections kept between calls ------------------------------------------ */

static void idle_drop(struct etcd *e, size_t ep)
{
	if (e->idle[ep].bev) {
		bufferevent_free(e->idle[ep].bev);
		e->idle[ep].bev = NULL;
	}
}

/* A kept connection said something (bytes, EOF, an error) while no call
 * was on it: etcd closed it, or it is out of step. Either way it goes. */
static void idle_gone(struct etcd *e, struct bufferevent *bev)
{
	for (size_t i = 0; i < e->neps; i++)
		if (e->idle[i].bev == bev)
			idle_drop(e, i);
}

static void idle_read_cb(struct bufferevent *bev, void *arg)
{
	idle_gone(arg, bev);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	idle_gone(arg, bev);
}

/* EP's kept connection when it went idle recently enough, taken out of
 * the slot; NULL otherwise (an older one is closed: etcd may be closing
 * it, and a fresh connect costs less than a failed reuse). */
static struct bufferevent *idle_take(struct etcd *e, size_t ep)
{
	struct bufferevent *bev = e->idle[ep].bev;

	if (!bev)
		return NULL;
	if (clock_now_ms() - e->idle[ep].since_ms > ETCD_IDLE_REUSE_MS) {
		idle_drop(e, ep);
		return NULL;
	}
	e->idle[ep].bev = NULL;
	return bev;
}

static bool is_stream(enum etcd_kind k)
{
	return k == ETCD_WATCH || k == ETCD_LEASE_KEEPALIVE;
}

/* C's reply was whole (by Content-Length, nothing after it) and etcd keeps
 * the connection open: it becomes its endpoint's kept one. */
static void call_keep_connection(struct etcd_call *c)
{
	struct etcd *e = c->e;

	if (!c->bev || is_stream(c->kind) || c->status != 200 || c->framing != HTTP1_BODY_LENGTH ||
	    c->remaining != 0 || !c->parser.head.keep_alive ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return;
	idle_drop(e, c->ep);
	bufferevent_setcb(c->bev, idle_read_cb, NULL, idle_event_cb, e);
	e->idle[c->ep].bev = c->bev;
	e->idle[c->ep].since_ms = clock_now_ms();
	c->bev = NULL;
}

static void call_close(struct etcd_call *c)
{
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	event_del(c->deadline);
}

static void call_free(struct etcd_call *c)
{
	struct etcd *e = c->e;

	call_close(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		e->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	event_free(c->deadline);
	evbuffer_free(c->data);
	free(c->body);
	free(c->blank_key);
	free(c);
}

/* The call ended with REPLY or ERR: tell its owner, then forget it. */
static void call_finish(struct etcd_call *c, const struct etcd_reply *reply, const char *err)
{
	etcd_done_fn done = c->done;
	void *arg = c->arg;
	char why[sizeof(c->last_err)];

	/* ERR may be the call's own text, which goes with it */
	if (err)
		snprintf(why, sizeof(why), "%s", err);
	call_free(c);
	if (done)
		done(arg, reply, err ? why : NULL);
}

static int call_start(struct etcd_call *c);
static int call_attempt(struct etcd_call *c, size_t epi, bool reuse);

/* This attempt failed with WHY: the next endpoint, or the end of the call.
 * A watch is never retried (its owner restarts it from its revision). */
static void call_failed(struct etcd_call *c, const char *why)
{
	struct etcd *e = c->e;

	textbuf_message(c->last_err, sizeof(c->last_err), "etcd %s: %s", e->eps[c->ep].text, why);
	call_close(c);
	if (c->kind != ETCD_WATCH && c->attempts < e->neps) {
		e->cur = (c->ep + 1) % e->neps;
		if (call_start(c) == 0)
			return;
	} else if (c->ep == e->cur) {
		e->cur = (c->ep + 1) % e->neps; /* the next call tries another */
	}
	if (c->attempts > 1) {
		char all[sizeof(c->last_err)];
		textbuf_message(all, sizeof(all), "no etcd endpoint answered (%zu tried; last: %s)", c->attempts, c->last_err);
		memcpy(c->last_err, all, sizeof(all));
	}
	call_finish(c, NULL, c->last_err);
}

/* A whole body of a non-stream call arrived. */
static void call_complete(struct etcd_call *c)
{
	struct etcd_reply r;
	char err[256], why[320];
	size_t len = evbuffer_get_length(c->data);
	const char *body = (const char *)evbuffer_pullup(c->data, -1);

	if (etcd_parse_reply(c->kind, body ? body : "", len, &r, err, sizeof(err)) < 0) {
		if (c->status >= 500) {
			textbuf_message(why, sizeof(why), "HTTP %d: %s", c->status, err);
			call_failed(c, why);
			return;
		}
		textbuf_message(c->last_err, sizeof(c->last_err), "etcd %s: %s%s", c->e->eps[c->ep].text,
		         c->status != 200 ? "" : "bad reply: ", err);
		call_finish(c, NULL, c->last_err);
		return;
	}
	if (c->status != 200) {
		textbuf_message(why, sizeof(why), "HTTP %d", c->status);
		etcd_reply_dispose(&r);
		if (c->status >= 500) {
			call_failed(c, why);
		} else {
			textbuf_message(c->last_err, sizeof(c->last_err), "etcd %s: %s", c->e->eps[c->ep].text, why);
			call_finish(c, NULL, c->last_err);
		}
		return;
	}
	if (c->kind == ETCD_WATCH) {
		/* A watch is a stream (a 200 head with a chunked body); a whole
		 * reply, even a well-formed one, is a gateway or proxy that does not
		 * stream: an error, never a reply the owner would take as a stream
		 * that ended without a reason. */
		etcd_reply_dispose(&r);
		textbuf_message(c->last_err, sizeof(c->last_err), "etcd %s: the watch reply is not a stream (HTTP 200 "
		                "without chunked framing)", c->e->eps[c->ep].text);
		call_finish(c, NULL, c->last_err);
		return;
	}
	c->e->cur = c->ep;
	call_keep_connection(c);
	call_finish(c, &r, NULL);
	etcd_reply_dispose(&r);
}

/* A watch: hand over every complete line of c->data. Returns -1 when the
 * call is gone. */
static int stream_messages(struct etcd_call *c)
{
	for (;;) {
		struct evbuffer_ptr eol = evbuffer_search_eol(c->data, NULL, NULL, EVBUFFER_EOL_LF);
		struct etcd_reply r;
		char err[256];

		if (eol.pos < 0) {
			if (evbuffer_get_length(c->data) > ETCD_REPLY_MAX) {
				call_failed(c, "a watch message is larger than the cap");
				return -1;
			}
			return 0;
		}
		size_t len = (size_t)eol.pos;
		char *line = (char *)evbuffer_pullup(c->data, (ssize_t)len + 1);
		size_t plen = c->blank_key ? etcd_blank_values(line, len, c->blank_key, c->blank_len) : len;
		int rc = etcd_parse_reply(ETCD_WATCH, line, plen, &r, err, sizeof(err));
		evbuffer_drain(c->data, len + 1);
		if (rc < 0) {
			char why[300];
			textbuf_message(why, sizeof(why), "watch: %s", err);
			call_failed(c, why);
			return -1;
		}
		c->e->cur = c->ep;
		if (c->msg(c->arg, &r) < 0) {
			etcd_reply_dispose(&r);
			call_free(c);
			return -1;
		}
		etcd_reply_dispose(&r);
	}
}

/* Append body bytes; enforce the cap. Returns -1 when the call is gone. */
static int body_add(struct etcd_call *c, const char *p, size_t n)
{
	if (evbuffer_get_length(c->data) + n > ETCD_REPLY_MAX) {
		char why[96];
		textbuf_message(why, sizeof(why), "reply larger than %u bytes", ETCD_REPLY_MAX);
		call_failed(c, why);
		return -1;
	}
	if (evbuffer_add(c->data, p, n) < 0) {
		call_failed(c, "out of memory");
		return -1;
	}
	return 0;
}

/* A keepalive's stream is complete with its first message. */
static bool first_message_complete(const struct etcd_call *c)
{
	return c->kind == ETCD_LEASE_KEEPALIVE && evbuffer_search_eol(c->data, NULL, NULL, EVBUFFER_EOL_LF).pos >= 0;
}

/* Consume the chunked body in IN. Returns -1 when the call is gone. */
static int read_chunked(struct etcd_call *c, struct evbuffer *in)
{
	while (evbuffer_get_length(in) > 0) {
		size_t avail = evbuffer_get_length(in);
		const char *p = (const char *)evbuffer_pullup(in, (ssize_t)avail);
		enum http1_chunk_part part;
		ssize_t used = http1_chunked_step(&c->chunked, p, avail, &part);

		if (used < 0) {
			call_failed(c, "bad chunked framing");
			return -1;
		}
		if (part == HTTP1_CHUNK_DATA && body_add(c, p, (size_t)used) < 0)
			return -1;
		evbuffer_drain(in, (size_t)used);
		if (c->phase == CALL_STREAM) {
			if (stream_messages(c) < 0)
				return -1;
		} else if (first_message_complete(c)) {
			call_complete(c);
			return -1;
		}
		if (c->chunked.done) {
			if (c->phase == CALL_STREAM) {
				call_finish(c, NULL, "watch stream ended");
				return -1;
			}
			call_complete(c);
			return -1;
		}
		if (used == 0)
			break;
	}
	return 0;
}

/* The reply head is in IN: check it and choose the body framing. Returns
 * -1 when the call is gone, 1 when the head is not complete yet. */
static int read_head(struct etcd_call *c, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t look = avail < ETCD_HEAD_MAX + 1 ? avail : ETCD_HEAD_MAX + 1;
	const char *p = (const char *)evbuffer_pullup(in, (ssize_t)look);
	enum http1_result res = http1_parse_head(&c->parser, p, look);

	if (res == HTTP1_AGAIN)
		return 1;
	if (res == HTTP1_ERROR) {
		call_failed(c, "reply is not HTTP/1.1");
		return -1;
	}
	struct http1_head *h = &c->parser.head;
	if (h->status >= 100 && h->status < 200) {
		evbuffer_drain(in, h->head_len);
		http1_parser_init(&c->parser, HTTP1_RESPONSE, ETCD_HEAD_MAX, ETCD_HEAD_MAX);
		return 0;
	}
	http1_response_body(h, false);
	c->status = h->status;
	c->framing = h->body;
	c->remaining = h->content_length;
	evbuffer_drain(in, h->head_len);
	if (c->framing == HTTP1_BODY_LENGTH && c->remaining > ETCD_REPLY_MAX) {
		call_failed(c, "reply announces more bytes than the cap");
		return -1;
	}
	http1_chunked_init(&c->chunked);
	if (c->kind == ETCD_WATCH && c->status == 200 && c->framing == HTTP1_BODY_CHUNKED) {
		call_set_phase(c, CALL_STREAM);
		event_del(c->deadline); /* a watch lives as long as its stream */
	} else {
		call_set_phase(c, CALL_BODY);
	}
	if (c->framing == HTTP1_BODY_NONE || (c->framing == HTTP1_BODY_LENGTH && c->remaining == 0)) {
		call_complete(c);
		return -1;
	}
	return 0;
}

static void call_read_cb(struct bufferevent *bev, void *arg)
{
	struct etcd_call *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->got_bytes = true;
	if (c->phase == CALL_HEAD) {
		int rc;
		do {
			rc = read_head(c, in);
		} while (rc == 0 && c->phase == CALL_HEAD);
		if (rc != 0)
			return;
	}
	if (c->framing == HTTP1_BODY_CHUNKED) {
		(void)read_chunked(c, in);
		return;
	}
	size_t n = evbuffer_get_length(in);
	if (c->framing == HTTP1_BODY_LENGTH && n > c->remaining)
		n = (size_t)c->remaining;
	const char *p = (const char *)evbuffer_pullup(in, (ssize_t)n);
	if (n > 0 && body_add(c, p, n) < 0)
		return;
	evbuffer_drain(in, n);
	if (c->framing == HTTP1_BODY_LENGTH) {
		c->remaining -= n;
		if (c->remaining == 0)
			call_complete(c);
	}
}

static void call_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct etcd_call *c = arg;
	(void)bev;

	if (what & BEV_EVENT_CONNECTED) {
		call_set_phase(c, CALL_HEAD);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->phase == CALL_BODY && c->framing == HTTP1_BODY_CLOSE) {
		call_complete(c);
		return;
	}
	if (c->phase == CALL_STREAM) {
		call_finish(c, NULL, what & BEV_EVENT_EOF ? "watch stream closed by etcd" : "watch stream broken");
		return;
	}
	if (c->reused && !c->got_bytes) {
		/* The kept connection was closed by etcd before this call's reply
		 * began: the same endpoint again, on a fresh connection. */
		call_close(c);
		c->attempts--;
		if (call_attempt(c, c->ep, false) == 0)
			return;
		textbuf_message(c->last_err, sizeof(c->last_err), "etcd %s: out of memory", c->e->eps[c->ep].text);
		call_finish(c, NULL, c->last_err);
		return;
	}
	char why[128];
	int e = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_EOF)
		textbuf_message(why, sizeof(why), "connection closed before the reply was complete");
	else
		textbuf_message(why, sizeof(why), "%s", c->phase == CALL_CONNECTING ? evutil_socket_error_to_string(e)
		                                                              : "connection error");
	call_failed(c, why);
}

static void call_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_call *c = arg;
	char why[64];
	(void)fd;
	(void)what;

	if (c->connect_errno)
		textbuf_message(why, sizeof(why), "connect: %s", strerror(c->connect_errno));
	else
		textbuf_message(why, sizeof(why), "no reply within %" PRIu64 " ms", c->e->timeout_ms);
	call_failed(c, why);
}

/* One attempt at endpoint EPI: on its kept connection when there is one
 * and REUSE allows it (never for a stream), else on a new one. Returns 0,
 * or -1 (out of memory). */
static int call_attempt(struct etcd_call *c, size_t epi, bool reuse)
{
	struct etcd *e = c->e;
	const struct cfg_addr *ep;
	struct timeval tv = clock_ms_to_tv(e->timeout_ms);
	size_t blen = strlen(c->body);

	c->ep = epi;
	c->attempts++;
	c->connect_errno = 0;
	ep = &e->eps[c->ep];
	evbuffer_drain(c->data, evbuffer_get_length(c->data));
	http1_parser_init(&c->parser, HTTP1_RESPONSE, ETCD_HEAD_MAX, ETCD_HEAD_MAX);
	c->status = 0;
	c->framing = HTTP1_BODY_NONE;
	c->got_bytes = false;
	c->bev = reuse && !is_stream(c->kind) ? idle_take(e, c->ep) : NULL;
	c->reused = c->bev != NULL;
	call_set_phase(c, c->reused ? CALL_HEAD : CALL_CONNECTING);
	if (!c->bev)
		c->bev = bufferevent_socket_new(e->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		return -1;
	bufferevent_setcb(c->bev, call_read_cb, NULL, call_event_cb, c);
	if (evbuffer_add_printf(bufferevent_get_output(c->bev),
	                        "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir\r\nContent-Type: application/json\r\n"
	                        "Content-Length: %zu\r\n%s\r\n",
	                        etcd_kind_path(c->kind), ep->text, blen,
	                        is_stream(c->kind) ? "Connection: close\r\n" : "") < 0 ||
	    evbuffer_add(bufferevent_get_output(c->bev), c->body, blen) < 0 ||
	    bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
		return -1;
	evtimer_add(c->deadline, &tv);
	if (c->reused)
		return 0;
	if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&ep->ss, (int)ep->len) < 0) {
		/* Said through the event callback path: fail this attempt later,
		 * never from inside etcd_call. */
		struct timeval now = { 0, 0 };
		c->connect_errno = errno ? errno : ECONNREFUSED;
		bufferevent_free(c->bev);
		c->bev = NULL;
		event_del(c->deadline);
		evtimer_add(c->deadline, &now);
	}
	return 0;
}

/* One attempt at the endpoint calls try first (e->cur). */
static int call_start(struct etcd_call *c)
{
	return call_attempt(c, c->e->cur, true);
}

static struct etcd_call *call_new(struct etcd *e, enum etcd_kind kind, char *body, etcd_msg_fn msg,
                                  etcd_done_fn done, void *arg)
{
	struct etcd_call *c = body ? calloc(1, sizeof(*c)) : NULL;

	if (!c) {
		free(body);
		return NULL;
	}
	c->e = e;
	c->kind = kind;
	c->body = body;
	c->msg = msg;
	c->done = done;
	c->arg = arg;
	c->deadline = evtimer_new(e->base, call_deadline_cb, c);
	c->data = evbuffer_new();
	c->next = e->calls;
	if (e->calls)
		e->calls->prev = c;
	e->calls = c;
	if (!c->deadline || !c->data || call_start(c) < 0) {
		c->done = NULL;
		call_free(c);
		return NULL;
	}
	return c;
}

struct etcd_call *etcd_call(struct etcd *e, enum etcd_kind kind, char *body, etcd_done_fn done, void *arg)
{
	return call_new(e, kind, body, NULL, done, arg);
}

struct etcd_call *etcd_watch(struct etcd *e, char *body, etcd_msg_fn msg, etcd_done_fn done, void *arg)
{
	return call_new(e, ETCD_WATCH, body, msg, done, arg);
}

int etcd_watch_blank(struct etcd_call *call, const char *key, size_t keylen)
{
	char *b64 = etcd_b64_encode(key, keylen);

	if (!b64)
		return -1;
	free(call->blank_key);
	call->blank_key = b64;
	call->blank_len = strlen(b64);
	return 0;
}

void etcd_cancel(struct etcd_call *call)
{
	if (call)
		call_free(call);
}

void etcd_abandon(struct etcd_call *call)
{
	if (!call)
		return;
	/* Only when nothing answered elsewhere since: an endpoint that did
	 * answer a later call is a better first choice than the next one. */
	if (call->ep == call->e->cur)
		call->e->cur = (call->ep + 1) % call->e->neps;
	call_free(call);
}

int etcd_call_blocking(struct etcd *e, enum etcd_kind kind, char *body, uint64_t timeout_ms, char *err,
                       size_t errlen)
{
	const struct cfg_addr *ep = &e->eps[e->cur];
	struct timeval tv = clock_ms_to_tv(timeout_ms);
	char *req = NULL, head[64];
	int fd = -1, rc = -1, n;
	size_t off = 0, len;

	if (!body || asprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir\r\nContent-Type: "
	                            "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                      etcd_kind_path(kind), ep->text, strlen(body), body) < 0) {
		req = NULL;
		textbuf_message(err, errlen, "out of memory");
		goto out;
	}
	fd = socket(ep->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&ep->ss, ep->len) < 0) {
		textbuf_message(err, errlen, "etcd %s: %s", ep->text, strerror(errno));
		goto out;
	}
	len = strlen(req);
	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w <= 0) {
			textbuf_message(err, errlen, "etcd %s: %s", ep->text, w < 0 ? strerror(errno) : "closed");
			goto out;
		}
		off += (size_t)w;
	}
	/* The status line is all that is needed. */
	n = (int)recv(fd, head, sizeof(head) - 1, 0);
	if (n < 12) {
		textbuf_message(err, errlen, "etcd %s: no answer within %" PRIu64 " ms", ep->text, timeout_ms);
		goto out;
	}
	head[n] = '\0';
	if (strncmp(head, "HTTP/1.1 200 ", 13) != 0 && strncmp(head, "HTTP/1.0 200 ", 13) != 0) {
		textbuf_message(err, errlen, "etcd %s: %.12s", ep->text, head);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(req);
	free(body);
	return rc;
}

const char *etcd_call_endpoint(const struct etcd_call *call)
{
	return call->e->eps[call->ep].text;
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->eps[e->cur].text;
}

struct etcd *etcd_new(struct event_base *base, const struct cfg_addr *eps, size_t n, uint64_t timeout_ms)
{
	struct etcd *e = calloc(1, sizeof(*e));

	if (!e || n == 0 || !(e->eps = calloc(n, sizeof(*e->eps))) || !(e->idle = calloc(n, sizeof(*e->idle))))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		e->eps[i] = eps[i];
		e->eps[i].text = strdup(eps[i].text);
		e->neps++;
		if (!e->eps[i].text)
			goto fail;
	}
	e->base = base;
	e->timeout_ms = timeout_ms;
	return e;
fail:
	etcd_free(e);
	return NULL;
}

void etcd_free(struct etcd *e)
{
	if (!e)
		return;
	while (e->calls)
		call_free(e->calls);
	for (size_t i = 0; i < e->neps; i++) {
		if (e->idle)
			idle_drop(e, i);
		free(e->eps[i].text);
	}
	free(e->idle);
	free(e->eps);
	free(e);
}
