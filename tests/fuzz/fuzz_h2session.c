/* fuzz_h2session: the server side of an HTTP/2 connection (h2session) fed
 * whatever a hostile client could send after the connection preface.
 *
 * Input: a flag byte (bits 0-1: max_streams 1 / 4 / 100 / 1000; bit 2:
 * max_memory at its minimum, 64 KiB; bit 3: the owner answers each request
 * at once with a head, a body and trailers, else it leaves them open;
 * bit 4: a graceful shutdown after the input; bit 5: the streams stalled
 * by then are expired), a chunk byte (the input is fed in pieces of that
 * many bytes, 0: whole), then the bytes that follow the client preface
 * (frames: SETTINGS first, as a client must).
 *
 * Properties: every request handed to the owner is an HTTP/1.1 head that
 * weir's parser reads back whole; request body bytes never exceed a
 * content-length; trailers carry no pseudo-header and no framing or
 * connection field; on_close comes exactly once for every stream handed
 * over (h2session_free included) and never for another; the session's
 * heap stays within max_memory (plus the reserve for the GOAWAY). */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "weir/h2session.h"

/* What the allocator grants beyond max_memory for the GOAWAY. */
#define RESERVE 16384

struct owner {
	struct h2session *s;
	bool respond;
	bool small_memory;             /* answering may fail: memory is short */
	unsigned handed, closed;
};

/* The owner's exchange: allocated by on_request, freed by on_close, so a
 * second on_close is a double free and a missing one a leak. */
struct exchange {
	struct owner *o;
	bool has_length;
	uint64_t length, received;
};

static bool is(const char *name, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(name, lit, n) == 0;
}

static void on_request(struct h2stream *st, const char *head, size_t len, const struct http1_head *parsed,
                       const struct h2conv_request *req, void *arg)
{
	static struct http1_parser p;
	static const struct h2conv_field fields[] = { { "content-type", 12, "application/grpc", 16 } };
	static const struct h2conv_field trailers[] = { { "grpc-status", 11, "0", 1 } };
	struct owner *o = arg;
	struct exchange *x = calloc(1, sizeof(*x));

	FUZZ_CHECK(x != NULL);
	FUZZ_CHECK(h2session_stream_id(st) > 0 && h2session_stream_id(st) % 2 == 1);
	FUZZ_CHECK(h2session_stream_owner(st) == NULL);
	FUZZ_CHECK(parsed->head_len == len);
	http1_parser_init(&p, HTTP1_REQUEST, len, len);
	FUZZ_CHECK(http1_parse_head(&p, head, len) == HTTP1_DONE && p.head.head_len == len);
	FUZZ_CHECK(!(req->has_length && req->chunked));
	x->o = o;
	x->has_length = req->has_length;
	x->length = req->length;
	h2session_stream_set_owner(st, x);
	o->handed++;
	if (!o->respond)
		return;
	if (h2session_respond(st, 200, fields, 1, false) == 0) {
		h2session_send_data(st, "\0\0\0\0\0", 5);
		FUZZ_CHECK(h2session_send_end(st, trailers, 1) == 0 || o->small_memory);
	}
}

static void on_data(struct h2stream *st, const uint8_t *data, size_t len, void *arg)
{
	struct exchange *x = h2session_stream_owner(st);

	(void)data;
	FUZZ_CHECK(x != NULL && x->o == arg);
	x->received += len;
	FUZZ_CHECK(!x->has_length || x->received <= x->length);
	h2session_consume(st, len);
}

static void on_end(struct h2stream *st, const struct h2conv_field *trailers, size_t n, void *arg)
{
	struct exchange *x = h2session_stream_owner(st);

	FUZZ_CHECK(x != NULL && x->o == arg);
	FUZZ_CHECK(!x->has_length || x->received == x->length);
	for (size_t k = 0; k < n; k++) {
		const char *name = trailers[k].name;
		size_t nl = trailers[k].namelen;

		FUZZ_CHECK(nl > 0 && name[0] != ':');
		FUZZ_CHECK(!is(name, nl, "content-length") && !is(name, nl, "transfer-encoding") &&
		           !is(name, nl, "host") && !is(name, nl, "connection") && !is(name, nl, "te"));
	}
}

static void on_close(struct h2stream *st, uint32_t code, bool by_client, void *arg)
{
	struct owner *o = arg;
	struct exchange *x = h2session_stream_owner(st);

	(void)code;
	(void)by_client;
	FUZZ_CHECK(x != NULL && x->o == o);
	h2session_stream_set_owner(st, NULL);
	free(x);
	o->closed++;
}

static int count_sink(const uint8_t *data, size_t len, void *arg)
{
	size_t *n = arg;

	FUZZ_CHECK(data != NULL || len == 0);
	*n += len;
	return 0;
}

/* Everything the session has, through both output paths in turn: copied
 * (h2session_output) and by reference (h2session_output_to, bounded). */
static void drain(struct owner *o, const struct h2session_limits *l)
{
	static bool by_sink;
	const uint8_t *d;
	ssize_t n;

	by_sink = !by_sink;
	if (by_sink) {
		size_t sunk = 0;
		do {
			n = h2session_output_to(o->s, count_sink, &sunk, 4096, 1000);
			FUZZ_CHECK(n <= 4096);
		} while (n == 4096);
	} else {
		while ((n = h2session_output(o->s, &d, 1000)) > 0)
			FUZZ_CHECK(d != NULL);
	}
	FUZZ_CHECK(h2session_memory(o->s) <= l->max_memory + RESERVE);
}

int fuzz_h2session(const uint8_t *data, size_t size)
{
	static const uint32_t streams[4] = { 1, 4, 100, 1000 };
	static const struct h2session_callbacks cb = { on_request, on_data, on_end, NULL, on_close, NULL };
	struct owner o;
	struct h2session_limits l;
	size_t chunk;

	if (size < 2)
		return 0;
	memset(&o, 0, sizeof(o));
	h2session_limits_default(&l, streams[data[0] & 3], 16384);
	o.small_memory = data[0] & 4;
	if (o.small_memory)
		l.max_memory = 64 * 1024;
	o.respond = data[0] & 8;
	chunk = data[1] ? data[1] : size;
	o.s = h2session_new(&l, &cb, &o, 1000, NULL, 0);
	FUZZ_CHECK(o.s != NULL);
	h2session_recv(o.s, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, 1000);
	for (size_t off = 2; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		h2session_recv(o.s, data + off, n, 1000);
		drain(&o, &l);
	}
	if (data[0] & 16)
		h2session_shutdown(o.s);
	if (data[0] & 32)
		h2session_expire_stalled(o.s, 100000, 1000);
	drain(&o, &l);
	FUZZ_CHECK(h2session_stats(o.s)->memory_peak <= l.max_memory + RESERVE);
	FUZZ_CHECK(h2session_stats(o.s)->requests == o.handed);
	h2session_free(o.s);
	FUZZ_CHECK(o.closed == o.handed);
	return 0;
}

#ifdef WEIR_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_h2session(data, size);
}
#endif
