/* weir-demo-backend: the backend of the demo, the integration tests and chaos
 * drills.
 *
 * An HTTP/1.1 server (libevent's evhttp) that answers every request with a
 * small JSON description of what it received, after a configurable delay and
 * with a configurable probability of a 500. Delay and error rate are flags and
 * can be changed while it runs, which is how a test makes a canary misbehave.
 *
 *   /__backend/set?latency_ms=&jitter_ms=&error_rate=   change any subset
 *   /__backend/stats                                    counters, delays, settings
 *   /__backend/reset                                    zero counters and delays
 *   GET|HEAD /bytes/N[?chunked=1]                       N deterministic bytes
 *   anything else                                       the JSON echo
 *
 * The body of /bytes/N is a sequence of 32-byte records, cut to N bytes:
 * record k is the offset 32*k as 16 lowercase hex digits followed by
 * "0123456789abcde\n". Every byte follows from its offset alone, so a proxy
 * that drops, repeats or reorders data cannot produce a matching body. It is
 * written in pieces of at most 64 KiB (one chunk each with ?chunked=1; an
 * HTTP/1.0 client gets a Content-Length instead) as the connection drains, so
 * memory stays flat whatever N is. X-Body-Sha256 carries its SHA-256 when
 * N <= 16 MiB: it must be known before the first byte goes out.
 *
 * Every request outside /__backend/ is counted as a hit, then draws its fate:
 * with probability error_rate it is answered 500 with the echo plus
 * "error": true (also on /bytes/N), and every answer waits
 * max(0, latency +- uniform jitter) first, on a timer.
 *
 * The control endpoints answer at once: no latency, no error draw, and they
 * are not counted, so a backend set to a one-hour latency can still be fixed.
 *
 * /__backend/stats reports, besides the settings:
 *   "hits"            requests outside /__backend/
 *   "errors"          of those, answered 500 by the draw
 *   "served"          of the hits, those whose answer was handed to the
 *                     connection in full: not one still waiting, nor a
 *                     /bytes body cut short by a client that left
 *   "latency_p99_ms"  the 99th percentile of the served requests' delays,
 *                     each from the moment its request had been read to the
 *                     moment its response (the last piece of a /bytes body)
 *                     was handed to the connection, on the monotonic clock:
 *                     a timer that fires late counts. Nearest rank, the
 *                     ceil(0.99 n)-th smallest of n (weir's rule), exact to
 *                     the microsecond; null before the first
 *   "latency_samples" n: the delays of the last 65536 served requests are
 *                     kept, so the p99 is over all of them up to that many
 * /__backend/reset zeroes hits, errors, served and the delays.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>	/* request version: no getter in 2.1 */
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <openssl/evp.h>

#define PROG		"weir-demo-backend"
#define CONTROL_PREFIX	"/__backend/"
#define BYTES_PREFIX	"/bytes/"
#define BYTES_MAX	(UINT64_C(1) << 30)	/* largest N of /bytes/N */
#define BYTES_HASH_MAX	(UINT64_C(16) << 20)	/* X-Body-Sha256 up to N */
#define RECORD_SIZE	32
#define PIECE_SIZE	65536		/* one write of a /bytes body */
#define HASH_CACHE_SIZE	8
#define MAX_BODY_SIZE	(1L << 30)	/* request bodies */
#define MS_MAX		3600000.0	/* latency and jitter bound */
#define NAME_LEN_MAX	128
#define DELAYS_MAX	65536		/* served requests' delays kept */

/* Settings that /__backend/set changes. */
struct settings {
	double latency_ms;	/* mean delay before a response */
	double jitter_ms;	/* uniform in [-jitter, +jitter] around it */
	double error_rate;	/* probability of a 500, 0..1 */
};

/*
 * A response in progress: waiting for its latency timer (timer pending), or
 * a /bytes body written piece by piece as the connection drains. Every reply
 * is on the backend's list until it is done, so that the close callback and
 * the shutdown can find it.
 */
enum reply_kind {
	REPLY_JSON,		/* a complete JSON body, sent in one go */
	REPLY_BYTES,		/* a /bytes/N body, generated as it goes */
};

struct backend;

struct reply {
	struct backend *b;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;	/* the connection req came on */
	enum reply_kind kind;
	struct event *timer;
	int code;			/* REPLY_JSON: status */
	struct evbuffer *body;		/* REPLY_JSON: body */
	int chunked;			/* REPLY_BYTES: chunked encoding */
	uint64_t total;			/* REPLY_BYTES: N */
	uint64_t sent;			/* REPLY_BYTES: handed over */
	uint64_t t_read_ns;		/* its request had been read (now_ns) */
	struct evbuffer *piece;		/* REPLY_BYTES: the next piece */
	struct reply *prev, *next;
};

struct hash_entry {
	int used;
	uint64_t n;
	char hex[2 * 32 + 1];
};

struct backend {
	struct event_base *base;
	struct evhttp *http;
	struct event *sigterm, *sigint;
	EVP_MD_CTX *md;
	const char *name;
	char addr[INET6_ADDRSTRLEN + 16];	/* as bound, for the log */
	struct settings set;
	uint64_t rng;			/* splitmix64 state */
	uint64_t hits;			/* requests not to /__backend/ */
	uint64_t errors;		/* of those, answered 500 by the draw */
	uint64_t served;		/* of the hits, answered in full */
	uint64_t *delays_us;		/* the last DELAYS_MAX served delays, a ring */
	size_t ndelays;			/* held in it, up to DELAYS_MAX */
	size_t delay_next;		/* where the next one goes */
	struct reply *replies;		/* pending replies */
	struct hash_entry hashes[HASH_CACHE_SIZE];
	unsigned hash_next;
};

static const char hexdigits[] = "0123456789abcdef";

/* ---- small helpers ---------------------------------------------------- */

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* splitmix64: small, fast, and plenty for latency and error draws. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z;

	z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

/* The monotonic clock in nanoseconds: wall clock changes do not move it. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	    (uint64_t)ts.tv_nsec;
}

/* A normal request's response was handed to its connection: count it and
 * keep its delay since T_READ_NS, when its request had been read. */
static void
count_served(struct backend *b, uint64_t t_read_ns)
{
	uint64_t now = now_ns();

	b->served++;
	b->delays_us[b->delay_next] = now > t_read_ns ?
	    (now - t_read_ns) / 1000 : 0;
	b->delay_next = (b->delay_next + 1) % DELAYS_MAX;
	if (b->ndelays < DELAYS_MAX)
		b->ndelays++;
}

static int
cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, c = *(const uint64_t *)pb;

	return (a > c) - (a < c);
}

/* The 99th percentile of the delays held (at least one): the
 * ceil(0.99 n)-th smallest. Returns 0, or -1 when out of memory. */
static int
delay_p99_us(const struct backend *b, uint64_t *out)
{
	uint64_t *v;
	size_t rank;

	if ((v = malloc(b->ndelays * sizeof(*v))) == NULL)
		return -1;
	memcpy(v, b->delays_us, b->ndelays * sizeof(*v));
	qsort(v, b->ndelays, sizeof(*v), cmp_u64);
	rank = (b->ndelays * 99 + 99) / 100;
	*out = v[rank - 1];
	free(v);
	return 0;
}

/* FNV-1a: the default seed comes from the name, so a run is reproducible
 * and two backends with different names draw differently. */
static uint64_t
seed_from_name(const char *name)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *name != '\0'; name++) {
		h ^= (unsigned char)*name;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* Parse a finite decimal number in [min, max]. Returns 0 or -1. */
static int
parse_number(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s || !isfinite(v))
		return -1;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parse an unsigned decimal integer without sign or spaces. */
static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- JSON output ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * The inside of a JSON string. Quotes, backslashes and control characters are
 * escaped (control characters as \u00XX); valid UTF-8 passes through; a byte
 * that is not part of valid UTF-8 is written as \u00XX (its Latin-1 reading),
 * so the document is valid JSON whatever a client sent.
 */
static void
json_chars(struct evbuffer *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, run = 0, len;

	while (i < n) {
		if (s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' &&
		    s[i] != '\\') {
			i++;
			run++;
			continue;
		}
		len = s[i] >= 0x80 ? utf8_len(s + i, n - i) : 0;
		if (len > 0) {
			i += len;
			run += len;
			continue;
		}
		evbuffer_add(out, s + i - run, run);
		run = 0;
		if (s[i] == '"' || s[i] == '\\')
			evbuffer_add_printf(out, "\\%c", s[i]);
		else
			evbuffer_add_printf(out, "\\u%04x", (unsigned)s[i]);
		i++;
	}
	evbuffer_add(out, s + i - run, run);
}

static void
json_string(struct evbuffer *out, const char *str)
{
	evbuffer_add(out, "\"", 1);
	json_chars(out, str);
	evbuffer_add(out, "\"", 1);
}

/* `"key":` preceded by a comma unless it is the first member. */
static void
json_key(struct evbuffer *out, int *first, const char *key)
{
	if (!*first)
		evbuffer_add(out, ",", 1);
	*first = 0;
	json_string(out, key);
	evbuffer_add(out, ":", 1);
}

static void
json_number(struct evbuffer *out, double v)
{
	evbuffer_add_printf(out, "%.15g", v);
}

static void
json_settings(struct evbuffer *out, int *first, const struct settings *set)
{
	json_key(out, first, "latency_ms");
	json_number(out, set->latency_ms);
	json_key(out, first, "jitter_ms");
	json_number(out, set->jitter_ms);
	json_key(out, first, "error_rate");
	json_number(out, set->error_rate);
}

/* ---- hashing ---------------------------------------------------------- */

/* SHA-256 of a whole evbuffer, without copying it. Returns 0 or -1. */
static int
sha256_evbuffer(EVP_MD_CTX *md, struct evbuffer *buf, char hex[65])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	struct evbuffer_iovec *vec = NULL;
	int n, i, rc = -1;

	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto fail;
	n = evbuffer_peek(buf, -1, NULL, NULL, 0);
	if (n > 0) {
		if ((vec = calloc((size_t)n, sizeof(*vec))) == NULL)
			goto fail;
		n = evbuffer_peek(buf, -1, NULL, vec, n);
		for (i = 0; i < n; i++)
			if (EVP_DigestUpdate(md, vec[i].iov_base,
			    vec[i].iov_len) != 1)
				goto fail;
	}
	if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != 32)
		goto fail;
	hex_encode(digest, dlen, hex);
	rc = 0;
fail:
	free(vec);
	return rc;
}

/* ---- /bytes/N content ------------------------------------------------- */

static void
bytes_record(unsigned char rec[RECORD_SIZE], uint64_t offset)
{
	static const char tail[] = "0123456789abcde\n";
	int k;

	for (k = 15; k >= 0; k--) {
		rec[k] = (unsigned char)hexdigits[offset & 15];
		offset >>= 4;
	}
	memcpy(rec + 16, tail, 16);
}

/* Write len bytes of the /bytes stream, starting at offset, into dst. */
static void
bytes_fill(unsigned char *dst, uint64_t offset, size_t len)
{
	unsigned char rec[RECORD_SIZE];
	size_t in, take;

	while (len > 0) {
		in = (size_t)(offset % RECORD_SIZE);
		take = RECORD_SIZE - in;
		if (take > len)
			take = len;
		if (in == 0 && take == RECORD_SIZE) {
			bytes_record(dst, offset);
		} else {
			bytes_record(rec, offset - in);
			memcpy(dst, rec + in, take);
		}
		dst += take;
		offset += take;
		len -= take;
	}
}

/*
 * SHA-256 of the first n bytes of the stream, for the X-Body-Sha256 header.
 * Only for n <= BYTES_HASH_MAX (it has to be known before the first byte is
 * sent); the last few results are cached for benchmarks hammering one size.
 * Returns NULL when not available.
 */
static const char *
bytes_sha256(struct backend *b, uint64_t n)
{
	unsigned char *scratch = NULL;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	struct hash_entry *e;
	uint64_t off;
	size_t len;
	unsigned i;
	const char *res = NULL;

	if (n > BYTES_HASH_MAX)
		return NULL;
	for (i = 0; i < HASH_CACHE_SIZE; i++)
		if (b->hashes[i].used && b->hashes[i].n == n)
			return b->hashes[i].hex;
	if ((scratch = malloc(PIECE_SIZE)) == NULL)
		goto fail;
	if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
		goto fail;
	for (off = 0; off < n; off += len) {
		len = n - off > PIECE_SIZE ? PIECE_SIZE : (size_t)(n - off);
		bytes_fill(scratch, off, len);
		if (EVP_DigestUpdate(b->md, scratch, len) != 1)
			goto fail;
	}
	if (EVP_DigestFinal_ex(b->md, digest, &dlen) != 1 || dlen != 32)
		goto fail;
	e = &b->hashes[b->hash_next];
	b->hash_next = (b->hash_next + 1) % HASH_CACHE_SIZE;
	e->used = 1;
	e->n = n;
	hex_encode(digest, dlen, e->hex);
	res = e->hex;
fail:
	free(scratch);
	return res;
}

/* ---- replies ---------------------------------------------------------- */

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:		return "GET";
	case EVHTTP_REQ_POST:		return "POST";
	case EVHTTP_REQ_HEAD:		return "HEAD";
	case EVHTTP_REQ_PUT:		return "PUT";
	case EVHTTP_REQ_DELETE:		return "DELETE";
	case EVHTTP_REQ_OPTIONS:	return "OPTIONS";
	case EVHTTP_REQ_TRACE:		return "TRACE";
	case EVHTTP_REQ_CONNECT:	return "CONNECT";
	case EVHTTP_REQ_PATCH:		return "PATCH";
	}
	return "UNKNOWN";
}

/* The path of the request target, not decoded ("/a/b" of "/a/b?x=1"). */
static const char *
request_path(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	return path != NULL && *path != '\0' ? path : "/";
}

static const char *
request_query(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);

	return uri != NULL ? evhttp_uri_get_query(uri) : NULL;
}

static void
reply_link(struct backend *b, struct reply *r)
{
	r->prev = NULL;
	r->next = b->replies;
	if (b->replies != NULL)
		b->replies->prev = r;
	b->replies = r;
}

static void
reply_unlink(struct reply *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		r->b->replies = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* Release a reply that is no longer on the list; never touches r->req. */
static void
reply_free(struct reply *r)
{
	if (r == NULL)
		return;
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->body != NULL)
		evbuffer_free(r->body);
	if (r->piece != NULL)
		evbuffer_free(r->piece);
	free(r);
}

static void
add_common_headers(struct backend *b, struct evhttp_request *req,
    const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "X-Backend", b->name);
}

/* Send a complete JSON response now. Takes ownership of body. A HEAD gets
 * the headers of the GET: evhttp 2.1 would send a body after them. */
static void
send_json(struct backend *b, struct evhttp_request *req, int code,
    struct evbuffer *body)
{
	char len[32];

	add_common_headers(b, req, "application/json");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Length", len);
		evhttp_send_reply(req, code, NULL, NULL);
	} else {
		evhttp_send_reply(req, code, NULL, body);
	}
	evbuffer_free(body);
}

/* The request path could not get a buffer: answer without one. */
static void
send_oom(struct evhttp_request *req)
{
	evhttp_send_error(req, 500, "Out of memory");
}

/* {"name":..., "error":"MSG"}. Returns NULL when out of memory. */
static struct evbuffer *
error_json(struct backend *b, const char *msg)
{
	struct evbuffer *out;
	int first = 1;

	if ((out = evbuffer_new()) == NULL)
		return NULL;
	evbuffer_add(out, "{", 1);
	json_key(out, &first, "name");
	json_string(out, b->name);
	json_key(out, &first, "error");
	json_string(out, msg);
	evbuffer_add(out, "}\n", 2);
	return out;
}

/* An error document with status code, sent now. */
static void send_error_json(struct backend *b, struct evhttp_request *req,
    int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
send_error_json(struct backend *b, struct evhttp_request *req, int code,
    const char *fmt, ...)
{
	struct evbuffer *out;
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	else if ((size_t)n >= sizeof(msg))	/* truncated: mark it */
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	if ((out = error_json(b, msg)) == NULL) {
		send_oom(req);
		return;
	}
	send_json(b, req, code, out);
}

/* Add the request's headers as a JSON object; repeated names are joined
 * with ", " under the first spelling, in the order they came. */
static void
json_headers(struct evbuffer *out, struct evkeyvalq *headers)
{
	struct evkeyval *h, *p, *q;
	int first = 1, seen;

	evbuffer_add(out, "{", 1);
	TAILQ_FOREACH(h, headers, next) {
		seen = 0;
		for (p = TAILQ_FIRST(headers); p != h; p = TAILQ_NEXT(p, next))
			if (strcasecmp(p->key, h->key) == 0) {
				seen = 1;
				break;
			}
		if (seen)
			continue;
		json_key(out, &first, h->key);
		evbuffer_add(out, "\"", 1);
		for (q = h; q != NULL; q = TAILQ_NEXT(q, next)) {
			if (strcasecmp(q->key, h->key) != 0)
				continue;
			if (q != h)
				evbuffer_add(out, ", ", 2);
			json_chars(out, q->value);
		}
		evbuffer_add(out, "\"", 1);
	}
	evbuffer_add(out, "}", 1);
}

/* The echo document. Returns NULL when out of memory. */
static struct evbuffer *
echo_json(struct backend *b, struct evhttp_request *req, int error)
{
	struct evbuffer *out, *in = evhttp_request_get_input_buffer(req);
	char sha[65];
	int first = 1;

	if ((out = evbuffer_new()) == NULL)
		return NULL;
	if (sha256_evbuffer(b->md, in, sha) != 0) {
		evbuffer_free(out);
		return NULL;
	}
	evbuffer_add(out, "{", 1);
	json_key(out, &first, "name");
	json_string(out, b->name);
	json_key(out, &first, "method");
	json_string(out, method_name(evhttp_request_get_command(req)));
	json_key(out, &first, "path");
	json_string(out, evhttp_request_get_uri(req));
	json_key(out, &first, "body_length");
	evbuffer_add_printf(out, "%zu", evbuffer_get_length(in));
	json_key(out, &first, "body_sha256");
	json_string(out, sha);
	json_key(out, &first, "headers");
	json_headers(out, evhttp_request_get_input_headers(req));
	if (error) {
		json_key(out, &first, "error");
		evbuffer_add(out, "true", 4);
	}
	evbuffer_add(out, "}\n", 2);
	return out;
}

static void stream_next(struct reply *r);

static void
on_piece_sent(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	stream_next(arg);
}

/* Hand the next piece of a /bytes body to the connection, or finish. The
 * connection calls back when its output has drained, so at most one piece is
 * buffered here whatever N is. */
static void
stream_next(struct reply *r)
{
	struct evhttp_request *req = r->req;
	struct evbuffer_iovec vec;
	size_t len;

	if (r->sent == r->total) {
		struct backend *b = r->b;
		uint64_t t_read_ns = r->t_read_ns;

		/* unlink first: ending may free the connection, which runs
		 * the close callback */
		reply_unlink(r);
		reply_free(r);
		evhttp_send_reply_end(req);
		count_served(b, t_read_ns);
		return;
	}
	len = r->total - r->sent > PIECE_SIZE ? PIECE_SIZE :
	    (size_t)(r->total - r->sent);
	if (evbuffer_reserve_space(r->piece, (ev_ssize_t)len, &vec, 1) < 1 ||
	    vec.iov_len < len) {
		/* cannot continue the body: cut the connection short */
		reply_unlink(r);
		reply_free(r);
		evhttp_connection_free(evhttp_request_get_connection(req));
		return;
	}
	bytes_fill(vec.iov_base, r->sent, len);
	vec.iov_len = len;
	evbuffer_commit_space(r->piece, &vec, 1);
	r->sent += len;
	evhttp_send_reply_chunk_with_cb(req, r->piece, on_piece_sent, r);
}

static void
bytes_start(struct reply *r)
{
	struct backend *b = r->b;
	struct evhttp_request *req = r->req;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *sha;
	char len[32];

	add_common_headers(b, req, "application/octet-stream");
	if ((sha = bytes_sha256(b, r->total)) != NULL)
		evhttp_add_header(h, "X-Body-Sha256", sha);
	/* HTTP/1.0 has no chunked encoding: such a client gets a length */
	if (req->major == 1 && req->minor == 0)
		r->chunked = 0;
	if (!r->chunked) {
		snprintf(len, sizeof(len), "%" PRIu64, r->total);
		evhttp_add_header(h, "Content-Length", len);
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ||
	    (r->total == 0 && !r->chunked)) {
		uint64_t t_read_ns = r->t_read_ns;

		reply_unlink(r);
		reply_free(r);
		evhttp_send_reply(req, 200, NULL, NULL);
		count_served(b, t_read_ns);
		return;
	}
	evhttp_send_reply_start(req, 200, NULL);
	stream_next(r);
}

/* The reply's moment has come (its timer fired, or it had no latency). */
static void
reply_fire(struct reply *r)
{
	struct backend *b = r->b;
	struct evhttp_request *req = r->req;
	struct evbuffer *body;
	uint64_t t_read_ns = r->t_read_ns;
	int code;

	if (r->kind == REPLY_BYTES) {
		bytes_start(r);
		return;
	}
	body = r->body;
	code = r->code;
	r->body = NULL;
	reply_unlink(r);
	reply_free(r);
	send_json(b, req, code, body);
	count_served(b, t_read_ns);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reply_fire(arg);
}

/*
 * A connection is going away. A reply still on it is dropped; evhttp has
 * either detached its request (client gone while we were not done: the
 * request is ours to free) or is about to free it itself.
 */
static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct backend *b = arg;
	struct reply *r, *next;

	for (r = b->replies; r != NULL; r = next) {
		next = r->next;
		if (r->evcon != evcon)
			continue;
		reply_unlink(r);
		if (evhttp_request_get_connection(r->req) == NULL)
			evhttp_request_free(r->req);
		reply_free(r);
	}
}

/* Parse "/bytes/N" and its query into r. Returns 0, or -1 with msg set. */
static int
bytes_plan(struct evhttp_request *req, const char *path, struct reply *r,
    char *msg, size_t msglen)
{
	struct evkeyvalq q;
	struct evkeyval *kv;
	const char *query = request_query(req);
	uint64_t n;
	int rc = 0;

	if (parse_u64(path + strlen(BYTES_PREFIX), BYTES_MAX, &n) != 0) {
		snprintf(msg, msglen, "/bytes/N needs N between 0 and %" PRIu64
		    " (got \"%.64s\")", BYTES_MAX, path + strlen(BYTES_PREFIX));
		return -1;
	}
	r->kind = REPLY_BYTES;
	r->total = n;
	r->chunked = 0;
	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) != 0) {
		snprintf(msg, msglen, "malformed query string");
		rc = -1;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (rc != 0)
			break;
		if (strcmp(kv->key, "chunked") != 0) {
			snprintf(msg, msglen, "unknown parameter \"%.64s\" "
			    "(known: chunked)", kv->key);
			rc = -1;
		} else if (strcmp(kv->value, "1") == 0 ||
		    strcmp(kv->value, "true") == 0) {
			r->chunked = 1;
		} else if (strcmp(kv->value, "0") == 0 ||
		    strcmp(kv->value, "false") == 0) {
			r->chunked = 0;
		} else {
			snprintf(msg, msglen, "chunked must be 0 or 1 "
			    "(got \"%.64s\")", kv->value);
			rc = -1;
		}
	}
	evhttp_clear_headers(&q);
	return rc;
}

/* A normal request: count it, draw its fate, answer after its latency. */
static void
serve(struct backend *b, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct reply *r;
	struct timeval tv;
	char msg[256];
	double delay_ms;
	uint64_t delay_us, t_read_ns = now_ns();
	int fail;

	b->hits++;
	/* always two draws per request, so a seed gives one sequence
	 * whatever the settings are */
	fail = rng_unit(&b->rng) < b->set.error_rate;
	delay_ms = b->set.latency_ms +
	    (2.0 * rng_unit(&b->rng) - 1.0) * b->set.jitter_ms;
	if (fail)
		b->errors++;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		send_oom(req);
		count_served(b, t_read_ns);
		return;
	}
	r->b = b;
	r->req = req;
	r->t_read_ns = t_read_ns;
	r->evcon = evhttp_request_get_connection(req);
	r->kind = REPLY_JSON;
	r->code = fail ? 500 : 200;
	if (!fail && strncmp(path, BYTES_PREFIX, strlen(BYTES_PREFIX)) == 0 &&
	    (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) &&
	    bytes_plan(req, path, r, msg, sizeof(msg)) != 0) {
		/* a bad /bytes request: answered 400, after the latency too */
		r->kind = REPLY_JSON;
		r->code = 400;
		r->body = error_json(b, msg);
	} else if (r->kind == REPLY_JSON) {
		r->body = echo_json(b, req, fail);
	}
	if ((r->kind == REPLY_JSON && r->body == NULL) ||
	    (r->kind == REPLY_BYTES && (r->piece = evbuffer_new()) == NULL)) {
		free(r);
		send_oom(req);
		count_served(b, t_read_ns);
		return;
	}
	reply_link(b, r);
	evhttp_connection_set_closecb(r->evcon, on_conn_close, b);

	delay_us = delay_ms > 0 ? (uint64_t)(delay_ms * 1000.0 + 0.5) : 0;
	if (delay_us == 0) {
		reply_fire(r);
		return;
	}
	tv.tv_sec = (time_t)(delay_us / 1000000);
	tv.tv_usec = (suseconds_t)(delay_us % 1000000);
	if ((r->timer = evtimer_new(b->base, on_timer, r)) == NULL ||
	    evtimer_add(r->timer, &tv) != 0)
		reply_fire(r);		/* late is better than never */
}

/* ---- control endpoints ------------------------------------------------ */

static void
send_settings(struct backend *b, struct evhttp_request *req, int stats)
{
	struct evbuffer *out;
	uint64_t p99 = 0;
	int first = 1;

	if ((out = evbuffer_new()) == NULL ||
	    (stats && b->ndelays > 0 && delay_p99_us(b, &p99) != 0)) {
		if (out != NULL)
			evbuffer_free(out);
		send_oom(req);
		return;
	}
	evbuffer_add(out, "{", 1);
	json_key(out, &first, "name");
	json_string(out, b->name);
	if (stats) {
		json_key(out, &first, "hits");
		evbuffer_add_printf(out, "%" PRIu64, b->hits);
		json_key(out, &first, "errors");
		evbuffer_add_printf(out, "%" PRIu64, b->errors);
		json_key(out, &first, "served");
		evbuffer_add_printf(out, "%" PRIu64, b->served);
		json_key(out, &first, "latency_p99_ms");
		if (b->ndelays > 0)
			evbuffer_add_printf(out, "%" PRIu64 ".%03u",
			    p99 / 1000, (unsigned)(p99 % 1000));
		else
			evbuffer_add(out, "null", 4);
		json_key(out, &first, "latency_samples");
		evbuffer_add_printf(out, "%zu", b->ndelays);
	}
	json_settings(out, &first, &b->set);
	evbuffer_add(out, "}\n", 2);
	send_json(b, req, 200, out);
}

/* /__backend/set: all parameters valid, or nothing changes. */
static void
control_set(struct backend *b, struct evhttp_request *req)
{
	struct settings next = b->set;
	struct evkeyvalq q;
	struct evkeyval *kv;
	const char *query = request_query(req);
	char msg[256];
	unsigned seen = 0, bit;
	double *dst, max;

	msg[0] = '\0';
	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) != 0)
		snprintf(msg, sizeof(msg), "malformed query string");
	TAILQ_FOREACH(kv, &q, next) {
		if (msg[0] != '\0')
			break;
		if (strcmp(kv->key, "latency_ms") == 0) {
			dst = &next.latency_ms;
			max = MS_MAX;
			bit = 1;
		} else if (strcmp(kv->key, "jitter_ms") == 0) {
			dst = &next.jitter_ms;
			max = MS_MAX;
			bit = 2;
		} else if (strcmp(kv->key, "error_rate") == 0) {
			dst = &next.error_rate;
			max = 1.0;
			bit = 4;
		} else {
			snprintf(msg, sizeof(msg), "unknown parameter "
			    "\"%.64s\" (known: latency_ms, jitter_ms, "
			    "error_rate)", kv->key);
			break;
		}
		if (seen & bit) {
			snprintf(msg, sizeof(msg), "%s given twice", kv->key);
			break;
		}
		seen |= bit;
		if (parse_number(kv->value, 0.0, max, dst) != 0)
			snprintf(msg, sizeof(msg), "%s must be a number "
			    "between 0 and %.15g (got \"%.64s\")", kv->key, max,
			    kv->value);
	}
	evhttp_clear_headers(&q);
	if (msg[0] != '\0') {
		send_error_json(b, req, 400, "%s", msg);
		return;
	}
	if (seen != 0) {
		b->set = next;
		logmsg(PROG " %s: latency_ms=%.15g jitter_ms=%.15g "
		    "error_rate=%.15g", b->name, b->set.latency_ms,
		    b->set.jitter_ms, b->set.error_rate);
	}
	send_settings(b, req, 0);
}

static void
control(struct backend *b, struct evhttp_request *req, const char *path)
{
	const char *what = path + strlen(CONTROL_PREFIX);

	if (strcmp(what, "set") == 0) {
		control_set(b, req);
	} else if (strcmp(what, "stats") == 0) {
		send_settings(b, req, 1);
	} else if (strcmp(what, "reset") == 0) {
		b->hits = 0;
		b->errors = 0;
		b->served = 0;
		b->ndelays = 0;
		b->delay_next = 0;
		send_settings(b, req, 1);
	} else {
		send_error_json(b, req, 404, "unknown control endpoint "
		    "\"%.64s\" (known: " CONTROL_PREFIX "set, " CONTROL_PREFIX
		    "stats, " CONTROL_PREFIX "reset)", path);
	}
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct backend *b = arg;
	const char *path = request_path(req);

	if (strncmp(path, CONTROL_PREFIX, strlen(CONTROL_PREFIX)) == 0)
		control(b, req, path);
	else
		serve(b, req, path);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct backend *b = arg;

	(void)what;
	logmsg(PROG " %s stopping (%s)", b->name,
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopexit(b->base, NULL);
}

/* ---- startup ---------------------------------------------------------- */

static void
usage(FILE *out)
{
	static const char text[] =
"usage: " PROG " --listen HOST:PORT [--name NAME] [--latency-ms MS]\n"
"       [--jitter-ms MS] [--error-rate F] [--seed N] [-h]\n"
"  -l, --listen HOST:PORT  address to serve on (\"[::1]:PORT\" for IPv6;\n"
"                          port 0 picks a free one, see the log line)\n"
"  -n, --name NAME         reported in every answer and in X-Backend\n"
"                          (default: the listen address)\n"
"  -L, --latency-ms MS     mean delay before each answer (default 0)\n"
"  -j, --jitter-ms MS      uniform jitter around it, +-MS (default 0)\n"
"  -e, --error-rate F      probability of a 500, 0 to 1 (default 0)\n"
"  -s, --seed N            seed of the draws (default: from the name)\n"
"  -h, --help              this text\n"
"Runtime control: GET /__backend/set?latency_ms=..&jitter_ms=..&\n"
"error_rate=.. (any subset), /__backend/stats (counters and the p99 of\n"
"the delays served), /__backend/reset.\n"
"GET /bytes/N[?chunked=1] streams N deterministic bytes.\n";

	fputs(text, out);
}

/* Split "HOST:PORT" or "[V6]:PORT". Returns 0 or -1. */
static int
parse_listen(const char *arg, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = arg;
	size_t hlen;
	uint64_t p;

	if (*arg == '[') {
		const char *close = strchr(arg, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = arg + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(arg, ':')) == NULL)
			return -1;
		hlen = (size_t)(colon - arg);
	}
	if (hlen == 0 || hlen >= hostlen)
		return -1;
	if (parse_u64(colon + 1, 65535, &p) != 0)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* Printable ASCII only: the name goes into a header line and the log. */
static int
valid_name(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > NAME_LEN_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return 0;
	return 1;
}

/* The address the listener really has (port 0 becomes the chosen port). */
static void
describe_bound(struct evhttp_bound_socket *bs, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);

	out[0] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(out, outlen, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(out, outlen, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	}
}

static int
backend_start(struct backend *b, const char *host, uint16_t port,
    const char *listen_arg)
{
	struct evhttp_bound_socket *bs;

	if ((b->md = EVP_MD_CTX_new()) == NULL ||
	    (b->delays_us = calloc(DELAYS_MAX, sizeof(*b->delays_us))) == NULL ||
	    (b->base = event_base_new()) == NULL ||
	    (b->http = evhttp_new(b->base)) == NULL) {
		logmsg(PROG ": cannot set up the event loop");
		return -1;
	}
	evhttp_set_allowed_methods(b->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(b->http, MAX_BODY_SIZE);
	evhttp_set_gencb(b->http, on_request, b);

	/* before binding: whoever sees the port open may stop us at once */
	b->sigterm = evsignal_new(b->base, SIGTERM, on_signal, b);
	b->sigint = evsignal_new(b->base, SIGINT, on_signal, b);
	if (b->sigterm == NULL || b->sigint == NULL ||
	    evsignal_add(b->sigterm, NULL) != 0 ||
	    evsignal_add(b->sigint, NULL) != 0) {
		logmsg(PROG ": cannot install signal handlers");
		return -1;
	}

	errno = 0;
	bs = evhttp_bind_socket_with_handle(b->http, host, port);
	if (bs == NULL) {
		logmsg(PROG ": cannot listen on %s: %s", listen_arg,
		    errno != 0 ? strerror(errno) : "bind failed");
		return -1;
	}
	describe_bound(bs, b->addr, sizeof(b->addr));
	if (b->addr[0] == '\0')
		snprintf(b->addr, sizeof(b->addr), "%s", listen_arg);

	return 0;
}

/* Release everything. Pending replies are dropped first: their requests
 * still belong to their connections, which evhttp_free releases. */
static void
backend_dispose(struct backend *b)
{
	struct reply *r, *next;

	for (r = b->replies; r != NULL; r = next) {
		next = r->next;
		reply_free(r);
	}
	b->replies = NULL;
	if (b->http != NULL)
		evhttp_free(b->http);
	if (b->sigterm != NULL)
		event_free(b->sigterm);
	if (b->sigint != NULL)
		event_free(b->sigint);
	if (b->base != NULL)
		event_base_free(b->base);
	EVP_MD_CTX_free(b->md);
	free(b->delays_us);
	libevent_global_shutdown();
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen",	required_argument, NULL, 'l' },
		{ "name",	required_argument, NULL, 'n' },
		{ "latency-ms",	required_argument, NULL, 'L' },
		{ "jitter-ms",	required_argument, NULL, 'j' },
		{ "error-rate",	required_argument, NULL, 'e' },
		{ "seed",	required_argument, NULL, 's' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct backend b;
	const char *listen_arg = NULL;
	char host[256];
	uint16_t port = 0;
	uint64_t seed = 0;
	int have_seed = 0, c, rc;

	memset(&b, 0, sizeof(b));
	while ((c = getopt_long(argc, argv, "l:n:L:j:e:s:h", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'n':
			b.name = optarg;
			break;
		case 'L':
			if (parse_number(optarg, 0, MS_MAX,
			    &b.set.latency_ms) != 0) {
				logmsg(PROG ": --latency-ms must be a number "
				    "between 0 and %.0f (got \"%s\")", MS_MAX,
				    optarg);
				usage(stderr);
				return 1;
			}
			break;
		case 'j':
			if (parse_number(optarg, 0, MS_MAX,
			    &b.set.jitter_ms) != 0) {
				logmsg(PROG ": --jitter-ms must be a number "
				    "between 0 and %.0f (got \"%s\")", MS_MAX,
				    optarg);
				usage(stderr);
				return 1;
			}
			break;
		case 'e':
			if (parse_number(optarg, 0, 1,
			    &b.set.error_rate) != 0) {
				logmsg(PROG ": --error-rate must be a number "
				    "between 0 and 1 (got \"%s\")", optarg);
				usage(stderr);
				return 1;
			}
			break;
		case 's':
			if (parse_u64(optarg, UINT64_MAX, &seed) != 0) {
				logmsg(PROG ": --seed must be an unsigned "
				    "integer (got \"%s\")", optarg);
				return 1;
			}
			have_seed = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		logmsg(PROG ": unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return 1;
	}
	if (listen_arg == NULL) {
		logmsg(PROG ": --listen is required");
		usage(stderr);
		return 1;
	}
	if (parse_listen(listen_arg, host, sizeof(host), &port) != 0) {
		logmsg(PROG ": --listen wants HOST:PORT (got \"%s\")",
		    listen_arg);
		usage(stderr);
		return 1;
	}
	if (b.name == NULL)
		b.name = listen_arg;
	if (!valid_name(b.name)) {
		logmsg(PROG ": --name must be 1 to %d printable ASCII "
		    "characters", NAME_LEN_MAX);
		usage(stderr);
		return 1;
	}
	b.rng = have_seed ? seed : seed_from_name(b.name);

	/* a client that vanishes must cost a connection, not the process */
	signal(SIGPIPE, SIG_IGN);

	rc = 0;
	if (backend_start(&b, host, port, listen_arg) != 0) {
		rc = 2;
	} else {
		logmsg(PROG " %s listening on %s", b.name, b.addr);
		if (event_base_dispatch(b.base) != 0) {
			logmsg(PROG ": event loop failed");
			rc = 2;
		}
	}
	backend_dispose(&b);
	return rc;
}
