/* fuzz_h2conv: the HTTP/2 -> HTTP/1.1 request conversion (h2conv_request)
 * with field lists as a hostile h2 client could send them after HPACK.
 *
 * Input: a flag byte (bit 0: the stream has a body; bits 1-2: the head
 * limit, 64 / 512 / 4096 / 65536 bytes; bit 3: start with the pseudo-headers
 * of a plain GET, so the rest explores regular fields), then fields, each a
 * name length byte, the name, a value length byte and the value (any bytes).
 *
 * Properties, when the request is accepted: a fresh HTTP/1.1 parser reads
 * the head whole and finds exactly what the conversion reported: its length,
 * the method and path of the pseudo-headers, one host, the framing (length,
 * chunked or none), no connection-specific field, no te, at most one cookie;
 * every other field of the input appears, in order, with its exact name and
 * value. When it is refused, a reason is given. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "weir/h2conv.h"

#define MAX_FIELDS 256

static bool span_is(const char *buf, struct http1_span s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(buf + s.off, lit, s.len) == 0;
}

static bool field_is(const struct h2conv_field *f, const char *lit)
{
	return f->namelen == strlen(lit) && memcmp(f->name, lit, f->namelen) == 0;
}

/* The input field the converter copies as it is (not a pseudo-header and
 * none of the fields it rewrites). */
static bool copied(const struct h2conv_field *f)
{
	return f->namelen && f->name[0] != ':' && !field_is(f, "host") && !field_is(f, "te") &&
	       !field_is(f, "content-length") && !field_is(f, "cookie");
}

static void check_head(const char *out, const struct h2conv_request *req, const struct h2conv_field *fields,
                       size_t n, size_t cap)
{
	static struct http1_parser p;
	const struct http1_head *h = &p.head;
	const struct h2conv_field *method = NULL, *path = NULL;
	unsigned hosts = 0, cookies = 0, lengths = 0, te_chunked = 0;
	size_t next = 0;

	http1_parser_init(&p, HTTP1_REQUEST, cap, cap);
	FUZZ_CHECK(http1_parse_head(&p, out, req->head_len) == HTTP1_DONE);
	FUZZ_CHECK(h->head_len == req->head_len);
	for (size_t i = 0; i < n; i++) {
		if (field_is(&fields[i], ":method"))
			method = &fields[i];
		if (field_is(&fields[i], ":path"))
			path = &fields[i];
	}
	FUZZ_CHECK(method && path);
	FUZZ_CHECK(h->method.len == method->valuelen && !memcmp(out + h->method.off, method->value, method->valuelen));
	FUZZ_CHECK(h->target.len == path->valuelen && !memcmp(out + h->target.off, path->value, path->valuelen));
	if (req->has_length)
		FUZZ_CHECK((h->body == HTTP1_BODY_LENGTH && h->content_length == req->length) ||
		           (req->length == 0 && h->body == HTTP1_BODY_NONE));
	else
		FUZZ_CHECK(h->body == (req->chunked ? HTTP1_BODY_CHUNKED : HTTP1_BODY_NONE));
	for (unsigned i = 0; i < h->nheaders; i++) {
		struct http1_span nm = h->headers[i].name, v = h->headers[i].value;

		FUZZ_CHECK(!http1_span_ieq(out, nm, "connection") && !http1_span_ieq(out, nm, "keep-alive") &&
		           !http1_span_ieq(out, nm, "proxy-connection") && !http1_span_ieq(out, nm, "upgrade") &&
		           !http1_span_ieq(out, nm, "te"));
		hosts += http1_span_ieq(out, nm, "host");
		cookies += http1_span_ieq(out, nm, "cookie");
		lengths += http1_span_ieq(out, nm, "content-length");
		if (http1_span_ieq(out, nm, "transfer-encoding")) {
			FUZZ_CHECK(span_is(out, v, "chunked") && req->chunked);
			te_chunked++;
			continue;
		}
		if (http1_span_ieq(out, nm, "host") || http1_span_ieq(out, nm, "cookie") ||
		    http1_span_ieq(out, nm, "content-length"))
			continue;
		/* the next copied input field, exactly */
		while (next < n && !copied(&fields[next]))
			next++;
		FUZZ_CHECK(next < n);
		FUZZ_CHECK(nm.len == fields[next].namelen && !memcmp(out + nm.off, fields[next].name, nm.len));
		FUZZ_CHECK(v.len == fields[next].valuelen && !memcmp(out + v.off, fields[next].value, v.len));
		next++;
	}
	while (next < n && !copied(&fields[next]))
		next++;
	FUZZ_CHECK(next == n); /* every copied field came out */
	FUZZ_CHECK(hosts == 1 && cookies <= 1 && lengths == (req->has_length ? 1u : 0u) &&
	           te_chunked == (req->chunked ? 1u : 0u));
}

int fuzz_h2conv(const uint8_t *data, size_t size)
{
	static const size_t caps[4] = { 64, 512, 4096, 65536 };
	static const struct h2conv_field get[4] = {
		{ ":method", 7, "GET", 3 }, { ":scheme", 7, "http", 4 },
		{ ":authority", 10, "example.com", 11 }, { ":path", 5, "/", 1 },
	};
	static struct h2conv_field fields[MAX_FIELDS];
	static char out[65536];
	static struct http1_parser parser;
	struct h2conv_request req;
	char why[160];
	size_t n = 0, i = 1;

	if (size < 1)
		return 0;
	bool has_body = data[0] & 1;
	size_t cap = caps[(data[0] >> 1) & 3];
	if (data[0] & 8) {
		memcpy(fields, get, sizeof(get));
		n = 4;
	}
	while (i < size && n < MAX_FIELDS) {
		size_t nl = data[i++], vl;
		if (nl > size - i)
			break;
		const char *name = (const char *)data + i;
		i += nl;
		if (i >= size)
			break;
		vl = data[i++];
		if (vl > size - i)
			break;
		fields[n++] = (struct h2conv_field){ name, nl, (const char *)data + i, vl };
		i += vl;
	}
	http1_parser_init(&parser, HTTP1_REQUEST, cap, cap);
	memset(why, 'x', sizeof(why));
	enum h2conv_result r = h2conv_request(fields, n, has_body, out, cap, &parser, &req, why, sizeof(why));
	if (r != H2CONV_OK) {
		FUZZ_CHECK(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL);
		FUZZ_CHECK(h2conv_status(r) == 400 || h2conv_status(r) == 431 || h2conv_status(r) == 501);
		return 0;
	}
	FUZZ_CHECK(req.head_len <= cap);
	FUZZ_CHECK(!(req.chunked && req.has_length) && (!req.chunked || has_body));
	FUZZ_CHECK(!req.has_length || has_body || req.length == 0);
	check_head(out, &req, fields, n, cap);
	return 0;
}

#ifdef WEIR_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_h2conv(data, size);
}
#endif
