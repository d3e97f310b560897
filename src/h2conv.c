/* h2conv: an HTTP/2 request's header list as an HTTP/1.1 request head (see
 * include/weir/h2conv.h for the rules). Two passes over the fields: the
 * first checks every one and finds the pseudo-headers, host, content-length
 * and cookies; the second writes the head. Then weir's HTTP/1.1 parser
 * reads the head back and must agree on what it says. */
#include "weir/h2conv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum pseudo { P_METHOD, P_SCHEME, P_AUTHORITY, P_PATH, P_COUNT };

static const char *const pseudo_names[P_COUNT] = { ":method", ":scheme", ":authority", ":path" };

/* What the first pass learned. */
struct scan {
	const struct h2conv_field *pseudo[P_COUNT];
	const struct h2conv_field *host;
	bool has_length;
	uint64_t length;
	size_t ncookies;
	size_t cookie_bytes;          /* their values joined with "; " */
	size_t nregular;              /* regular fields that will be written */
};

static enum h2conv_result refuse(char *why, size_t whylen, enum h2conv_result r, const char *fmt, ...)
{
	va_list ap;

	if (whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool name_is(const struct h2conv_field *f, const char *lower)
{
	size_t n = strlen(lower);

	return f->namelen == n && memcmp(f->name, lower, n) == 0;
}

/* A regular field name: a token without upper-case letters (RFC 9113
 * 8.2.1: upper case makes the request malformed). */
static bool valid_name(const struct h2conv_field *f)
{
	if (!http1_is_token(f->name, f->namelen))
		return false;
	for (size_t i = 0; i < f->namelen; i++)
		if (f->name[i] >= 'A' && f->name[i] <= 'Z')
			return false;
	return true;
}

/* NULL when the value may cross, else what is wrong with it. */
static const char *value_fault(const struct h2conv_field *f)
{
	const unsigned char *v = (const unsigned char *)f->value;
	size_t n = f->valuelen;

	for (size_t i = 0; i < n; i++) {
		/* VCHAR, SP and obs-text in one comparison: the common byte */
		if ((unsigned char)(v[i] - 0x20) < 0x5f || v[i] >= 0x80 || v[i] == '\t')
			continue;
		if (v[i] == 0 || v[i] == '\r' || v[i] == '\n')
			return "NUL, CR or LF in the value";
		return "a control byte in the value"; /* the rest below 0x20, and 0x7f */
	}
	if (n && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		return "white space at the start or end of the value";
	return NULL;
}

/* Fields that only mean something to one HTTP/1.1 connection (RFC 9113
 * 8.2.2); te is handled apart. */
static bool connection_specific(const struct h2conv_field *f)
{
	return name_is(f, "connection") || name_is(f, "keep-alive") || name_is(f, "proxy-connection") ||
	       name_is(f, "transfer-encoding") || name_is(f, "upgrade");
}

/* 1*DIGIT not above INT64_MAX. */
static bool parse_length(const struct h2conv_field *f, uint64_t *out)
{
	uint64_t v = 0;

	if (f->valuelen == 0)
		return false;
	for (size_t i = 0; i < f->valuelen; i++) {
		unsigned d = (unsigned char)f->value[i] - '0';
		if (d > 9 || v > ((uint64_t)INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static enum h2conv_result scan_pseudo(const struct h2conv_field *f, struct scan *s, char *why, size_t whylen)
{
	for (int p = 0; p < P_COUNT; p++) {
		if (!name_is(f, pseudo_names[p]))
			continue;
		if (s->pseudo[p])
			return refuse(why, whylen, H2CONV_MALFORMED, "%s twice", pseudo_names[p]);
		s->pseudo[p] = f;
		return H2CONV_OK;
	}
	if (name_is(f, ":protocol"))
		return refuse(why, whylen, H2CONV_NOT_IMPLEMENTED, "extended CONNECT");
	return refuse(why, whylen, H2CONV_MALFORMED, "unknown pseudo-header %.*s",
	              (int)(f->namelen > 32 ? 32 : f->namelen), f->name);
}

static enum h2conv_result scan_regular(const struct h2conv_field *f, struct scan *s, char *why, size_t whylen)
{
	uint64_t len;

	if (!valid_name(f))
		return refuse(why, whylen, H2CONV_MALFORMED, "a field name that is not a lower-case token");
	if (connection_specific(f))
		return refuse(why, whylen, H2CONV_MALFORMED, "connection-specific field %.*s", (int)f->namelen,
		              f->name);
	if (name_is(f, "te")) {
		if (f->valuelen != 8 || strncasecmp(f->value, "trailers", 8) != 0)
			return refuse(why, whylen, H2CONV_MALFORMED, "te other than \"trailers\"");
		return H2CONV_OK; /* hop-by-hop: not written */
	}
	if (name_is(f, "host")) {
		if (s->host)
			return refuse(why, whylen, H2CONV_MALFORMED, "host twice");
		s->host = f;
		return H2CONV_OK;
	}
	if (name_is(f, "content-length")) {
		if (!parse_length(f, &len))
			return refuse(why, whylen, H2CONV_MALFORMED, "a content-length that is not a number");
		if (s->has_length && len != s->length)
			return refuse(why, whylen, H2CONV_MALFORMED, "two different content-length values");
		s->has_length = true;
		s->length = len;
		return H2CONV_OK;
	}
	if (name_is(f, "cookie")) {
		s->cookie_bytes += (s->ncookies ? 2 : 0) + f->valuelen;
		if (s->ncookies++ == 0)
			s->nregular++;
		return H2CONV_OK;
	}
	s->nregular++;
	return H2CONV_OK;
}

/* First pass: every field checked, the special ones found. */
static enum h2conv_result scan_fields(const struct h2conv_field *fields, size_t n, struct scan *s, char *why,
                                      size_t whylen)
{
	bool regular_seen = false;
	enum h2conv_result r;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		const struct h2conv_field *f = &fields[i];
		const char *fault;

		if (f->namelen == 0)
			return refuse(why, whylen, H2CONV_MALFORMED, "an empty field name");
		if ((fault = value_fault(f)) != NULL)
			return refuse(why, whylen, H2CONV_MALFORMED, "%s of %.*s", fault,
			              (int)(f->namelen > 32 ? 32 : f->namelen), f->name);
		if (f->name[0] == ':') {
			if (regular_seen)
				return refuse(why, whylen, H2CONV_MALFORMED, "a pseudo-header after a regular field");
			r = scan_pseudo(f, s, why, whylen);
		} else {
			regular_seen = true;
			r = scan_regular(f, s, why, whylen);
		}
		if (r != H2CONV_OK)
			return r;
	}
	return H2CONV_OK;
}

/* The request line's parts and the authority, once the fields are known. */
static enum h2conv_result check_request(const struct scan *s, bool has_body, char *why, size_t whylen)
{
	const struct h2conv_field *m = s->pseudo[P_METHOD], *sc = s->pseudo[P_SCHEME];
	const struct h2conv_field *a = s->pseudo[P_AUTHORITY], *p = s->pseudo[P_PATH];

	if (!m)
		return refuse(why, whylen, H2CONV_MALFORMED, "no :method");
	if (!http1_is_token(m->value, m->valuelen))
		return refuse(why, whylen, H2CONV_MALFORMED, ":method is not a token");
	if (m->valuelen == 7 && memcmp(m->value, "CONNECT", 7) == 0)
		return refuse(why, whylen, H2CONV_NOT_IMPLEMENTED, "CONNECT");
	if (!sc || !((sc->valuelen == 4 && strncasecmp(sc->value, "http", 4) == 0) ||
	             (sc->valuelen == 5 && strncasecmp(sc->value, "https", 5) == 0)))
		return refuse(why, whylen, H2CONV_MALFORMED, ":scheme missing or not http or https");
	if (!p || p->valuelen == 0)
		return refuse(why, whylen, H2CONV_MALFORMED, "no :path");
	for (size_t i = 0; i < p->valuelen; i++)
		if ((unsigned char)p->value[i] <= 0x20 || (unsigned char)p->value[i] >= 0x7f || p->value[i] == '#')
			return refuse(why, whylen, H2CONV_MALFORMED, ":path with a byte a request line cannot carry");
	if (p->value[0] != '/' &&
	    !(p->valuelen == 1 && p->value[0] == '*' && m->valuelen == 7 && memcmp(m->value, "OPTIONS", 7) == 0))
		return refuse(why, whylen, H2CONV_MALFORMED, ":path neither origin-form nor * for OPTIONS");
	if (!a && !s->host)
		return refuse(why, whylen, H2CONV_MALFORMED, "neither :authority nor host");
	const struct h2conv_field *auth = a ? a : s->host;
	if (!http1_valid_authority(auth->value, auth->valuelen))
		return refuse(why, whylen, H2CONV_MALFORMED, "%s is not host[:port]", a ? ":authority" : "host");
	if (a && s->host &&
	    (s->host->valuelen != a->valuelen || strncasecmp(s->host->value, a->value, a->valuelen) != 0))
		return refuse(why, whylen, H2CONV_MALFORMED, "host differs from :authority");
	if (!has_body && s->has_length && s->length != 0)
		return refuse(why, whylen, H2CONV_MALFORMED, "content-length without a body");
	return H2CONV_OK;
}

/* Appends to a fixed buffer; remembers running out. */
struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

#define PUT_LIT(o, s) put((o), (s), sizeof(s) - 1)

static void put_field(struct out *o, const char *name, size_t namelen, const char *value, size_t valuelen)
{
	put(o, name, namelen);
	PUT_LIT(o, ": ");
	put(o, value, valuelen);
	PUT_LIT(o, "\r\n");
}

/* All cookie fields' values, joined with "; " (RFC 9113 8.2.3). */
static void put_cookies(struct out *o, const struct h2conv_field *fields, size_t n)
{
	bool first = true;

	PUT_LIT(o, "cookie: ");
	for (size_t i = 0; i < n; i++) {
		if (!name_is(&fields[i], "cookie"))
			continue;
		if (!first)
			PUT_LIT(o, "; ");
		put(o, fields[i].value, fields[i].valuelen);
		first = false;
	}
	PUT_LIT(o, "\r\n");
}

/* Second pass: the head itself. */
static void write_head(struct out *o, const struct h2conv_field *fields, size_t n, const struct scan *s,
                       struct h2conv_request *req, bool has_body)
{
	const struct h2conv_field *auth = s->pseudo[P_AUTHORITY] ? s->pseudo[P_AUTHORITY] : s->host;
	bool cookies_done = false;
	char num[24];

	put(o, s->pseudo[P_METHOD]->value, s->pseudo[P_METHOD]->valuelen);
	PUT_LIT(o, " ");
	put(o, s->pseudo[P_PATH]->value, s->pseudo[P_PATH]->valuelen);
	PUT_LIT(o, " HTTP/1.1\r\n");
	put_field(o, "host", 4, auth->value, auth->valuelen);
	for (size_t i = 0; i < n; i++) {
		const struct h2conv_field *f = &fields[i];

		if (f->name[0] == ':' || name_is(f, "te") || name_is(f, "host") || name_is(f, "content-length"))
			continue;
		if (name_is(f, "cookie")) {
			if (!cookies_done)
				put_cookies(o, fields, n);
			cookies_done = true;
			continue;
		}
		put_field(o, f->name, f->namelen, f->value, f->valuelen);
	}
	req->has_length = s->has_length;
	req->length = s->has_length ? s->length : 0;
	req->chunked = has_body && !s->has_length;
	if (req->has_length)
		put_field(o, "content-length", 14, num, (size_t)snprintf(num, sizeof(num), "%llu",
		                                                        (unsigned long long)s->length));
	else if (req->chunked)
		PUT_LIT(o, "transfer-encoding: chunked\r\n");
	PUT_LIT(o, "\r\n");
}

/* The HTTP/1.1 parser read OUT's head: does it say what was meant? */
static bool parser_agrees(const struct http1_parser *p, const struct out *o, const struct scan *s,
                          const struct h2conv_request *req)
{
	const struct http1_head *h = &p->head;
	const struct h2conv_field *m = s->pseudo[P_METHOD], *path = s->pseudo[P_PATH];
	enum http1_body body = req->has_length ? HTTP1_BODY_LENGTH : req->chunked ? HTTP1_BODY_CHUNKED
	                                                                           : HTTP1_BODY_NONE;

	if (h->head_len != o->len || h->minor_version != 1 || h->authority.len != 0 || h->has_upgrade ||
	    h->conn_names)
		return false;
	if (h->method.len != m->valuelen || memcmp(o->buf + h->method.off, m->value, m->valuelen) != 0)
		return false;
	if (h->target.len != path->valuelen || memcmp(o->buf + h->target.off, path->value, path->valuelen) != 0)
		return false;
	if (h->body == HTTP1_BODY_LENGTH && req->has_length && h->content_length == req->length)
		return true;
	/* Content-Length 0 is parsed as NONE or LENGTH 0 alike: no body. */
	if (req->has_length && req->length == 0 && h->body == HTTP1_BODY_NONE)
		return true;
	return h->body == body && body != HTTP1_BODY_LENGTH;
}

enum h2conv_result h2conv_request(const struct h2conv_field *fields, size_t n, bool has_body, char *out,
                                  size_t cap, struct http1_parser *parser, struct h2conv_request *req,
                                  char *why, size_t whylen)
{
	struct out o = { out, cap, 0, false };
	struct scan s;
	enum h2conv_result r;

	if (whylen > 0)
		why[0] = '\0';
	memset(req, 0, sizeof(*req));
	if ((r = scan_fields(fields, n, &s, why, whylen)) != H2CONV_OK ||
	    (r = check_request(&s, has_body, why, whylen)) != H2CONV_OK)
		return r;
	/* host, the fields, framing: what the HTTP/1.1 parser will count */
	if (1 + s.nregular + (s.has_length || has_body) > HTTP1_MAX_HEADERS)
		return refuse(why, whylen, H2CONV_TOO_LARGE, "%zu fields", s.nregular);
	write_head(&o, fields, n, &s, req, has_body);
	if (o.full)
		return refuse(why, whylen, H2CONV_TOO_LARGE, "a head over %zu bytes", cap);
	switch (http1_parse_head(parser, out, o.len)) {
	case HTTP1_DONE:
		break;
	case HTTP1_AGAIN:
		return refuse(why, whylen, H2CONV_MALFORMED, "not expressible as HTTP/1.1 (incomplete head)");
	case HTTP1_ERROR:
		if (parser->error == HTTP1_E_HEADERS_TOO_LARGE || parser->error == HTTP1_E_URI_TOO_LONG)
			return refuse(why, whylen, H2CONV_TOO_LARGE, "over the head limits");
		return refuse(why, whylen, H2CONV_MALFORMED, "not expressible as HTTP/1.1 (%s)",
		              http1_error_reason(parser->error));
	}
	if (!parser_agrees(parser, &o, &s, req))
		return refuse(why, whylen, H2CONV_MALFORMED, "not expressible as HTTP/1.1 (read back differently)");
	req->head_len = o.len;
	return H2CONV_OK;
}

int h2conv_status(enum h2conv_result r)
{
	switch (r) {
	case H2CONV_OK:
		return 200;
	case H2CONV_MALFORMED:
		return 400;
	case H2CONV_NOT_IMPLEMENTED:
		return 501;
	case H2CONV_TOO_LARGE:
		return 431;
	}
	return 400;
}
