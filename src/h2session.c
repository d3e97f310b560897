/* h2session: the server side of one HTTP/2 connection on libnghttp2 (see
 * include/weir/h2session.h for the contract and the limits).
 *
 * nghttp2 does the framing, HPACK, flow-control arithmetic and the RFC 9113
 * messaging checks; this file adds what a proxy needs around it:
 *   - every allocation (nghttp2's too) goes through a counting allocator
 *     with a cap, so a connection's memory is a number, not a hope;
 *   - a request's fields are kept (bounded) until its header block ends,
 *     then h2conv makes the HTTP/1.1 head the owner receives; a field
 *     nghttp2 would silently drop (bad name or value) refuses the request
 *     instead, as h2conv would;
 *   - request body bytes count against the window until the owner consumes
 *     them (nghttp2's automatic WINDOW_UPDATE is off);
 *   - response bodies wait in per-stream queues nghttp2 reads through a data
 *     provider, bounded per stream and per connection;
 *   - two token buckets, driven by the caller's clock, price the frames an
 *     attacker gets for free: early stream ends (rapid reset) and control
 *     frames (PING, SETTINGS, PRIORITY, empty DATA, small WINDOW_UPDATE); a
 *     request, a non-empty DATA frame from the client, or a DATA frame that
 *     sent all a stream had queued gives a control token back.
 * nghttp2's own guards are set too (max_continuations, max_outbound_ack,
 * max_settings, its stream reset rate limit on the wall clock) as a second
 * line. */
#include "weir/h2session.h"

#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weir/blockpool.h"

/* The HPACK table weir's encoder uses for responses. */
#define DEFLATE_TABLE 4096
/* Unread PING/SETTINGS ACKs nghttp2 keeps before it gives up. */
#define MAX_OUTBOUND_ACK 200
/* Entries accepted in one SETTINGS frame. */
#define MAX_SETTINGS_ENTRIES 32
/* Fields of one request or trailer section: what the HTTP/1.1 parser takes,
 * with room for the pseudo-headers; more is 431 like h2conv's own count. */
#define MAX_FIELDS (HTTP1_MAX_HEADERS + 8)
/* What the allocator still grants once the cap was hit: enough for the
 * GOAWAY that ends the connection. */
#define MEM_RESERVE 16384
/* The size header of each allocation (keeps max_align_t alignment). */
#define MEM_HDR 16
/* A WINDOW_UPDATE smaller than this is priced like a control frame. */
#define SMALL_WINDOW_UPDATE 1024
/* Smallest response chunk allocated behind queued bytes; small writes share one. */
#define CHUNK_MIN 4096

/* nghttp2_nv wants a writable pointer; it never writes through it. */
static uint8_t status_name[] = ":status";

enum stream_flag {
	ST_HANDED = 1u << 0,      /* on_request was called: on_close is owed */
	ST_REFUSED = 1u << 1,     /* refused before the owner saw it */
	ST_TOO_LARGE = 1u << 2,   /* the fields went over max_header_list */
	ST_TRAILERS = 1u << 3,    /* the fields being collected are trailers */
	ST_REQ_DONE = 1u << 4,    /* the request ended (on_end was called) */
	ST_FINAL = 1u << 5,       /* the final response head is submitted */
	ST_ENDED = 1u << 6,       /* the response's end is queued */
	ST_DEFERRED = 1u << 7,    /* nghttp2 waits for data: resume on more */
	ST_BLOCKED = 1u << 8,     /* send_data took less than offered */
	ST_RESET = 1u << 9,       /* reset by the owner or by weir */
	ST_OWNER_RESET = 1u << 10,/* ... by the owner's choice: not the client's cost */
	ST_CLIENT_RESET = 1u << 11,/* the client sent RST_STREAM */
	ST_AWAIT_END = 1u << 12,  /* the response's last frame is out, the
	                             request's END_STREAM has not come */
};

/* Queued response bytes: data[off, len) is still to go. */
struct chunk {
	struct chunk *next;
	size_t off, len, cap;
	uint8_t data[];
};

struct h2stream {
	struct h2session *s;
	struct h2stream *prev, *next;  /* the session's streams */
	void *owner;
	int32_t id;
	unsigned flags;
	/* the fields of the header block being decoded: records of two
	 * uint32_t lengths, then name and value */
	uint8_t *fbuf;
	size_t flen, fcap, nfields, fbytes;
	/* the request body */
	bool has_length;
	uint64_t length, received, unconsumed;
	/* the response */
	struct chunk *head, *tail;
	size_t queued;
	nghttp2_nv *trailers;          /* one allocation with their bytes */
	size_t ntrailers;
	uint64_t stalled_since;
};

/* A token bucket in thousandths of a token. */
struct bucket {
	uint64_t milli, cap;
	uint64_t last_ms;
	uint32_t rate;                 /* tokens per second: milli-tokens per ms */
};

struct h2session {
	nghttp2_session *ng;
	struct h2session_limits lim;
	struct h2session_callbacks cb;
	void *arg;
	uint64_t now;
	size_t mem_used;
	bool mem_failed;               /* the cap was hit: only the reserve is left */
	bool dead;                     /* nghttp2 failed: nothing goes in or out */
	int (*sink)(const uint8_t *, size_t, void *); /* set during h2session_output_to */
	void *sink_arg;
	size_t sink_left;              /* bytes the sink takes before output_to stops */
	bool notify;                   /* a blocked stream may have room again */
	bool goaway;                   /* the owner asked for a GOAWAY */
	enum h2session_abuse abuse;
	struct bucket resets, control;
	struct h2stream *streams;
	size_t nstreams;
	size_t nblocked;               /* streams with ST_BLOCKED */
	size_t queued;                 /* response bytes in all queues */
	struct h2session_stats stats;
};

/* ---- memory ------------------------------------------------------------- */

static void *mem_alloc(size_t size, void *ud)
{
	struct h2session *s = ud;
	size_t limit = s->lim.max_memory + (s->mem_failed ? MEM_RESERVE : 0);
	uint8_t *p;

	if (size > SIZE_MAX - MEM_HDR - s->mem_used || s->mem_used + size + MEM_HDR > limit ||
	    !(p = blockpool_alloc(size + MEM_HDR))) {
		s->mem_failed = true;
		return NULL;
	}
	memcpy(p, &size, sizeof(size));
	s->mem_used += size + MEM_HDR;
	if (s->mem_used > s->stats.memory_peak)
		s->stats.memory_peak = s->mem_used;
	return p + MEM_HDR;
}

static void mem_free(void *ptr, void *ud)
{
	struct h2session *s = ud;
	uint8_t *p = ptr;
	size_t size;

	if (!p)
		return;
	p -= MEM_HDR;
	memcpy(&size, p, sizeof(size));
	s->mem_used -= size + MEM_HDR;
	blockpool_free(p);
}

static void *mem_calloc(size_t nmemb, size_t size, void *ud)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	if ((p = mem_alloc(nmemb * size, ud)) != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

static void *mem_realloc(void *ptr, size_t size, void *ud)
{
	uint8_t *p = ptr, *q;
	size_t old;

	if (!p)
		return mem_alloc(size, ud);
	memcpy(&old, p - MEM_HDR, sizeof(old));
	if (size <= old)
		return p; /* keep the block: its size stays accounted as it is */
	if (!(q = mem_alloc(size, ud)))
		return NULL;
	memcpy(q, p, old);
	mem_free(p, ud);
	return q;
}

/* ---- limits --------------------------------------------------------------- */

void h2session_limits_default(struct h2session_limits *l, uint32_t max_streams, uint32_t max_header_bytes)
{
	memset(l, 0, sizeof(*l));
	l->max_streams = max_streams ? max_streams : 1;
	l->max_header_list = max_header_bytes;
	l->header_table = 4096;
	l->max_continuations = 8;
	l->stream_window = 65535;
	l->conn_window = 1u << 20;
	l->stream_buffer = 1u << 16;
	l->conn_buffer = 1u << 20;
	l->reset_burst = l->max_streams;
	l->reset_rate = l->max_streams / 10 ? l->max_streams / 10 : 1;
	l->control_burst = 100;
	l->control_rate = 10;
	/* the queues, one request head being decoded and converted (twice
	 * its limit), per stream its state and the spare room of its last
	 * queue chunk, 256 KiB for nghttp2's buffers, HPACK tables and the
	 * rest */
	l->max_memory = (size_t)l->conn_buffer + 2 * (size_t)max_header_bytes +
	                (2048 + CHUNK_MIN) * (size_t)l->max_streams + (256u << 10);
}

static const char *check_limits(const struct h2session_limits *l)
{
	if (l->max_streams == 0)
		return "max_streams must be at least 1";
	if (l->max_header_list < 256)
		return "max_header_list must be at least 256 bytes";
	if (l->stream_window == 0 || l->stream_window > INT32_MAX)
		return "stream_window must be 1 to 2^31-1";
	if (l->conn_window < l->stream_window || l->conn_window > INT32_MAX)
		return "conn_window must be stream_window to 2^31-1";
	if (l->stream_buffer == 0 || l->conn_buffer < l->stream_buffer)
		return "stream_buffer must be at least 1 and conn_buffer at least stream_buffer";
	if (l->reset_burst == 0 || l->control_burst == 0)
		return "reset_burst and control_burst must be at least 1";
	if (l->max_memory < (64u << 10))
		return "max_memory must be at least 64 KiB";
	return NULL;
}

static void bucket_init(struct bucket *b, uint32_t burst, uint32_t rate, uint64_t now)
{
	b->cap = (uint64_t)burst * 1000;
	b->milli = b->cap;
	b->rate = rate;
	b->last_ms = now;
}

static void bucket_refill(struct bucket *b, uint64_t now)
{
	if (now <= b->last_ms)
		return;
	/* an hour refills any bucket; beyond it the product could overflow */
	if (now - b->last_ms >= 3600u * 1000 || b->milli + (now - b->last_ms) * b->rate >= b->cap)
		b->milli = b->cap;
	else
		b->milli += (now - b->last_ms) * b->rate;
	b->last_ms = now;
}

/* Take one token at NOW; false when there is none. */
static bool bucket_take(struct bucket *b, uint64_t now)
{
	bucket_refill(b, now);
	if (b->milli < 1000)
		return false;
	b->milli -= 1000;
	return true;
}

static void bucket_give(struct bucket *b)
{
	b->milli = b->milli + 1000 > b->cap ? b->cap : b->milli + 1000;
}

/* End the connection for A with GOAWAY CODE (the first reason is kept). */
static void abuse(struct h2session *s, enum h2session_abuse a, uint32_t code)
{
	if (s->abuse == H2SESSION_ABUSE_NONE)
		s->abuse = a;
	if (nghttp2_session_terminate_session(s->ng, code) != 0)
		s->dead = true;
}

/* ---- streams -------------------------------------------------------------- */

static void set_blocked(struct h2stream *st, bool blocked)
{
	if (blocked == ((st->flags & ST_BLOCKED) != 0))
		return;
	st->flags ^= ST_BLOCKED;
	if (blocked)
		st->s->nblocked++;
	else
		st->s->nblocked--;
}

static struct h2stream *stream_of(struct h2session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s->ng, id);
}

static void drop_queue(struct h2stream *st)
{
	struct h2session *s = st->s;

	while (st->head) {
		struct chunk *c = st->head;
		st->head = c->next;
		mem_free(c, s);
	}
	st->tail = NULL;
	s->queued -= st->queued;
	/* room for the streams the connection's limit holds back */
	if (st->queued && s->nblocked)
		s->notify = true;
	st->queued = 0;
}

static void drop_fields(struct h2stream *st)
{
	mem_free(st->fbuf, st->s);
	st->fbuf = NULL;
	st->flen = st->fcap = st->nfields = st->fbytes = 0;
}

static void stream_free(struct h2stream *st)
{
	struct h2session *s = st->s;

	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	s->nstreams--;
	set_blocked(st, false);
	drop_queue(st);
	drop_fields(st);
	mem_free(st->trailers, s);
	mem_free(st, s);
}

/* Reset ST with CODE; OWNER: the owner's (or weir's) choice, not a cost
 * the client imposed. */
static void stream_reset(struct h2stream *st, uint32_t code, bool owner)
{
	if (st->flags & ST_RESET)
		return;
	st->flags |= ST_RESET | (owner ? ST_OWNER_RESET : 0);
	set_blocked(st, false);
	drop_queue(st);
	if (nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id, code) != 0)
		abuse(st->s, H2SESSION_ABUSE_MEMORY, NGHTTP2_INTERNAL_ERROR);
}

/* A request that does not reach the owner: STATUS 400 resets the stream
 * (PROTOCOL_ERROR), 431 and 501 are answered here. */
static void refuse(struct h2stream *st, int status, const char *why)
{
	struct h2session *s = st->s;
	char code[4];
	nghttp2_nv nv = { status_name, (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE };

	st->flags |= ST_REFUSED;
	s->stats.refused++;
	drop_fields(st);
	if (s->cb.on_refused)
		s->cb.on_refused(st->id, status, why, s->arg);
	if (status == 400) {
		stream_reset(st, NGHTTP2_PROTOCOL_ERROR, false);
		return;
	}
	snprintf(code, sizeof(code), "%03d", status);
	if (nghttp2_submit_response(s->ng, st->id, &nv, 1, NULL) != 0) {
		stream_reset(st, NGHTTP2_INTERNAL_ERROR, true);
		return;
	}
	/* RFC 9113 8.1: a complete response before the request's end, then
	 * RST_STREAM NO_ERROR so the client stops sending the body. Not here:
	 * nghttp2 marks a stream it is to reset as closing at once, and then
	 * drops the HEADERS still queued for it; on_frame_send resets it
	 * after they have gone, if the request has not ended by then. */
}

/* Keep one field of the block being decoded (bounded). */
static int keep_field(struct h2stream *st, const uint8_t *name, size_t namelen, const uint8_t *value,
                      size_t valuelen)
{
	struct h2session *s = st->s;
	size_t need = 2 * sizeof(uint32_t) + namelen + valuelen;
	uint32_t lens[2] = { (uint32_t)namelen, (uint32_t)valuelen };

	st->fbytes += namelen + valuelen + 32;
	if (st->fbytes > s->lim.max_header_list || st->nfields >= MAX_FIELDS) {
		st->flags |= ST_TOO_LARGE;
		drop_fields(st);
		return 0;
	}
	if (st->flen + need > st->fcap) {
		size_t cap = st->fcap ? st->fcap : 512;
		uint8_t *nb;

		while (cap < st->flen + need)
			cap *= 2;
		if (!(nb = mem_realloc(st->fbuf, cap, s))) {
			abuse(s, H2SESSION_ABUSE_MEMORY, NGHTTP2_ENHANCE_YOUR_CALM);
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		st->fbuf = nb;
		st->fcap = cap;
	}
	memcpy(st->fbuf + st->flen, lens, sizeof(lens));
	memcpy(st->fbuf + st->flen + sizeof(lens), name, namelen);
	memcpy(st->fbuf + st->flen + sizeof(lens) + namelen, value, valuelen);
	st->flen += need;
	st->nfields++;
	return 0;
}

/* The kept fields as h2conv_field records (allocated; NULL when there are
 * none or memory is short: *N says which). */
static struct h2conv_field *fields_of(struct h2stream *st, size_t *n)
{
	struct h2conv_field *f;
	size_t off = 0;

	*n = 0;
	if (st->nfields == 0 || !(f = mem_alloc(st->nfields * sizeof(*f), st->s)))
		return NULL;
	for (size_t i = 0; i < st->nfields; i++) {
		uint32_t lens[2];

		memcpy(lens, st->fbuf + off, sizeof(lens));
		off += sizeof(lens);
		f[i] = (struct h2conv_field){ (const char *)st->fbuf + off, lens[0],
			                      (const char *)st->fbuf + off + lens[0], lens[1] };
		off += lens[0] + lens[1];
	}
	*n = st->nfields;
	return f;
}

/* The request's header block ended: convert it and hand it over. */
static void request_head(struct h2session *s, struct h2stream *st, bool end_stream)
{
	struct http1_parser parser;
	struct h2conv_request req;
	struct h2conv_field *f;
	size_t n, cap;
	char why[160], *out;
	enum h2conv_result r;

	if (st->flags & ST_TOO_LARGE) {
		refuse(st, 431, "request fields over the header list limit");
		return;
	}
	f = fields_of(st, &n);
	/* the head is at most the fields' counted size plus its framing line:
	 * a buffer that size holds it whenever the limit does */
	cap = st->fbytes + 128 < s->lim.max_header_list ? st->fbytes + 128 : s->lim.max_header_list;
	if ((st->nfields && !f) || !(out = mem_alloc(cap, s))) {
		mem_free(f, s);
		abuse(s, H2SESSION_ABUSE_MEMORY, NGHTTP2_ENHANCE_YOUR_CALM);
		return;
	}
	http1_parser_init(&parser, HTTP1_REQUEST, cap, cap);
	r = h2conv_request(f, n, !end_stream, out, cap, &parser, &req, why, sizeof(why));
	mem_free(f, s);
	drop_fields(st);
	if (r != H2CONV_OK) {
		mem_free(out, s);
		refuse(st, h2conv_status(r), why);
		return;
	}
	st->flags |= ST_HANDED;
	st->has_length = req.has_length;
	st->length = req.length;
	s->stats.requests++;
	bucket_give(&s->control);
	s->cb.on_request(st, out, req.head_len, &parser.head, &req, s->arg);
	mem_free(out, s);
}

/* Fields that only mean something to one hop, or that frame or route a
 * message: never in trailers handed on or sent. */
static bool trailer_forbidden(const char *name, size_t n)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection", "transfer-encoding",
		                             "upgrade", "te", "host", "content-length", "trailer", NULL };

	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == n && strncasecmp(names[i], name, n) == 0)
			return true;
	return false;
}

/* The request ended (END_STREAM), with the kept trailers if any. */
static void request_end(struct h2session *s, struct h2stream *st)
{
	struct h2conv_field *f = NULL;
	size_t n = 0, kept = 0;

	if (!(st->flags & ST_HANDED) || (st->flags & (ST_REQ_DONE | ST_RESET)))
		return;
	if (st->has_length && st->received != st->length) {
		stream_reset(st, NGHTTP2_PROTOCOL_ERROR, false);
		return;
	}
	if (st->flags & ST_TOO_LARGE) {
		stream_reset(st, NGHTTP2_ENHANCE_YOUR_CALM, false);
		return;
	}
	if ((st->flags & ST_TRAILERS) && st->nfields && !(f = fields_of(st, &n))) {
		abuse(s, H2SESSION_ABUSE_MEMORY, NGHTTP2_ENHANCE_YOUR_CALM);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!trailer_forbidden(f[i].name, f[i].namelen))
			f[kept++] = f[i];
	st->flags |= ST_REQ_DONE;
	if (s->cb.on_end)
		s->cb.on_end(st, f, kept, s->arg);
	mem_free(f, s);
	drop_fields(st);
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
		/* trailers: collect them afresh */
		if ((st = stream_of(s, frame->hd.stream_id)) != NULL) {
			drop_fields(st);
			st->flags = (st->flags & ~ST_TOO_LARGE) | ST_TRAILERS;
		}
		return 0;
	}
	if (s->abuse != H2SESSION_ABUSE_NONE)
		return 0;
	if (!(st = mem_calloc(1, sizeof(*st), s))) {
		abuse(s, H2SESSION_ABUSE_MEMORY, NGHTTP2_ENHANCE_YOUR_CALM);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	st->s = s;
	st->id = frame->hd.stream_id;
	if (nghttp2_session_set_stream_user_data(ng, st->id, st) != 0) {
		mem_free(st, s);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	st->next = s->streams;
	if (s->streams)
		s->streams->prev = st;
	s->streams = st;
	s->nstreams++;
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct h2stream *st = stream_of(ud, frame->hd.stream_id);

	(void)ng;
	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS || !st || (st->flags & (ST_TOO_LARGE | ST_REFUSED | ST_RESET)))
		return 0;
	return keep_field(st, name, namelen, value, valuelen);
}

/* nghttp2 would drop a field whose name or value RFC 9113 does not allow
 * (CR, LF, NUL, white space at the ends, a byte outside a token): weir
 * refuses the request instead, so no request differs from what was sent. */
static int on_invalid_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                             size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st = stream_of(s, frame->hd.stream_id);

	(void)ng;
	(void)name;
	(void)namelen;
	(void)value;
	(void)valuelen;
	(void)flags;
	if (st && !(st->flags & (ST_REFUSED | ST_HANDED))) {
		st->flags |= ST_REFUSED | ST_RESET;
		s->stats.refused++;
		drop_fields(st);
		if (s->cb.on_refused)
			s->cb.on_refused(st->id, 400, "a field name or value HTTP/2 does not allow", s->arg);
	} else if (st) {
		st->flags |= ST_RESET; /* trailers: the stream is reset */
	}
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

/* A frame the client gets for free: take a control token. */
static void control_frame(struct h2session *s)
{
	if (!bucket_take(&s->control, s->now))
		abuse(s, H2SESSION_ABUSE_CONTROL_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st = frame->hd.stream_id ? stream_of(s, frame->hd.stream_id) : NULL;
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

	(void)ng;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		if (!st || (st->flags & (ST_REFUSED | ST_RESET)) || s->abuse != H2SESSION_ABUSE_NONE)
			break;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			request_head(s, st, end);
		if (end && (st->flags & ST_HANDED))
			request_end(s, st);
		break;
	case NGHTTP2_DATA:
		if (frame->hd.length == 0 && !end)
			control_frame(s);
		else if (frame->hd.length)
			bucket_give(&s->control);
		if (end && st)
			request_end(s, st);
		break;
	case NGHTTP2_PING:
	case NGHTTP2_SETTINGS:
		if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
			control_frame(s);
		break;
	case NGHTTP2_PRIORITY:
		control_frame(s);
		break;
	case NGHTTP2_WINDOW_UPDATE:
		/* a window opened a few bytes at a time makes weir send as many
		 * tiny DATA frames (the "data dribble" of CVE-2019-9511) */
		if (frame->window_update.window_size_increment < SMALL_WINDOW_UPDATE)
			control_frame(s);
		break;
	case NGHTTP2_RST_STREAM:
		s->stats.client_resets++;
		if (st)
			st->flags |= ST_CLIENT_RESET;
		if (!bucket_take(&s->resets, s->now))
			abuse(s, H2SESSION_ABUSE_RAPID_RESET, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	default:
		break;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st = stream_of(s, id);

	(void)flags;
	if (!st || !(st->flags & ST_HANDED) || (st->flags & ST_RESET) || !s->cb.on_data ||
	    s->abuse != H2SESSION_ABUSE_NONE) {
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	st->received += len;
	if (st->has_length && st->received > st->length) {
		nghttp2_session_consume(ng, id, len);
		stream_reset(st, NGHTTP2_PROTOCOL_ERROR, false);
		return 0;
	}
	st->unconsumed += len;
	s->cb.on_data(st, data, len, s->arg);
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st = stream_of(s, id);

	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	/* what the owner had not consumed no longer holds the window */
	if (st->unconsumed)
		nghttp2_session_consume_connection(ng, st->unconsumed);
	if (!(st->flags & (ST_HANDED | ST_REFUSED | ST_CLIENT_RESET)) && code != NGHTTP2_NO_ERROR) {
		s->stats.refused++;
		if (s->cb.on_refused)
			s->cb.on_refused(id, 400, nghttp2_http2_strerror(code), s->arg);
	}
	if ((st->flags & ST_HANDED) && s->cb.on_close)
		s->cb.on_close(st, code, (st->flags & ST_CLIENT_RESET) != 0, s->arg);
	stream_free(st);
	return 0;
}

/* A stream error the client caused costs a reset token; weir's and the
 * owner's own resets (and NO_ERROR after an early answer) do not. A stream
 * refused for exceeding max_streams before the client saw our SETTINGS
 * never did any work: it costs a control token, like any frame the client
 * gets for free. */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st;

	/* a GOAWAY neither weir's limits nor the owner asked for: nghttp2
	 * found a connection error (RFC 9113 5.4.1) */
	if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR && !s->goaway &&
	    s->abuse == H2SESSION_ABUSE_NONE)
		s->abuse = H2SESSION_ABUSE_PROTOCOL;
	/* The response is complete and the client has not ended its request
	 * (an early answer, or a body whose END_STREAM never comes). Resetting
	 * now (RFC 9113 8.1 allows NO_ERROR) would overtake an END_STREAM
	 * merely in flight, which some clients (curl 7.88) take as a failure;
	 * never resetting lets the client hold the stream, and so the
	 * connection, for as long as it likes. So the stream counts as stalled
	 * from now on: h2session_expire_stalled resets it after the owner's
	 * timeout, with NO_ERROR. */
	if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    nghttp2_session_get_stream_remote_close(ng, frame->hd.stream_id) == 0) {
		st = stream_of(s, frame->hd.stream_id);
		/* weir's own answer to a request it refused (refuse; a stream
		 * refused otherwise is reset already and sends no answer): the
		 * client is to stop sending a body nobody will read, at once */
		if (st && (st->flags & ST_REFUSED))
			stream_reset(st, NGHTTP2_NO_ERROR, true);
		if (st && !(st->flags & ST_RESET)) {
			st->flags |= ST_AWAIT_END;
			st->stalled_since = s->now ? s->now : 1;
		}
	}
	/* A DATA frame that took all the stream had queued was small because
	 * the response came so (gRPC's messages), not because the window was:
	 * the client's WINDOW_UPDATEs answering it (stream and connection) are
	 * its due, so it gets two control tokens back. A window opened a few bytes at a time (the
	 * dribble) leaves data queued, and earns nothing. */
	if (frame->hd.type == NGHTTP2_DATA && frame->hd.length > 0) {
		st = stream_of(s, frame->hd.stream_id);
		if (st && st->queued == 0) {
			bucket_give(&s->control); /* the stream's WINDOW_UPDATE */
			bucket_give(&s->control); /* ... and the connection's */
		}
		return 0;
	}
	if (frame->hd.type != NGHTTP2_RST_STREAM || frame->rst_stream.error_code == NGHTTP2_NO_ERROR)
		return 0;
	st = stream_of(s, frame->hd.stream_id);
	if (st && (st->flags & ST_OWNER_RESET))
		return 0;
	if (frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM && !st)
		control_frame(s);
	else if (!bucket_take(&s->resets, s->now))
		abuse(s, H2SESSION_ABUSE_RAPID_RESET, NGHTTP2_ENHANCE_YOUR_CALM);
	return 0;
}

/* Set EOF on a response being read, with its trailers when it has some. */
static int read_eof(struct h2stream *st, uint32_t *flags)
{
	struct h2session *s = st->s;
	int rv = 0;

	*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (st->ntrailers) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		rv = nghttp2_submit_trailer(s->ng, st->id, st->trailers, st->ntrailers);
		mem_free(st->trailers, s);
		st->trailers = NULL;
		st->ntrailers = 0;
	}
	return rv;
}

/* LEN bytes of ST's queue have left (copied, or passed to the sink). */
static void queue_taken(struct h2stream *st, size_t len)
{
	struct h2session *s = st->s;

	st->queued -= len;
	s->queued -= len;
	if (s->nblocked && len)
		s->notify = true;
}

/* The end of ST's DATA: END_STREAM, or its trailers. */
static ssize_t read_end_or_defer(struct h2stream *st, size_t done, uint32_t *flags)
{
	if (done == st->queued && (st->flags & ST_ENDED)) {
		if (read_eof(st, flags) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	} else if (done == 0) {
		st->flags |= ST_DEFERRED;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)done;
}

/* Move LEN bytes (no more than are queued) from the front of ST's queue
 * to PUT, freeing the chunks emptied. Returns 0, -1 when PUT failed. */
static int queue_take(struct h2stream *st, size_t len, int (*put)(const uint8_t *, size_t, void *), void *arg)
{
	size_t done = 0;
	int rv = 0;

	while (done < len && st->head && rv == 0) {
		struct chunk *c = st->head;
		size_t n = c->len - c->off < len - done ? c->len - c->off : len - done;

		rv = put(c->data + c->off, n, arg);
		c->off += n;
		done += n;
		if (c->off == c->len) {
			st->head = c->next;
			if (!st->head)
				st->tail = NULL;
			mem_free(c, st->s);
		}
	}
	queue_taken(st, done);
	return rv;
}

static int copy_out(const uint8_t *data, size_t len, void *cursor)
{
	uint8_t **to = cursor;

	memcpy(*to, data, len);
	*to += len;
	return 0;
}

/* nghttp2 asks for up to LEN response bytes of a stream. With a sink
 * (h2session_output_to) none are copied here: the frame goes to the sink
 * from the queue in send_data, within the same nghttp2_session_mem_send. */
static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st = src->ptr;
	size_t done = st->queued < len ? st->queued : len;

	(void)ng;
	(void)id;
	ssize_t r = read_end_or_defer(st, done, flags);
	if (r < 0)
		return r;
	if (s->sink)
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	else
		(void)queue_take(st, done, copy_out, &buf);
	return r;
}

/* A DATA frame of ST whose payload read_body left in the queue (NO_COPY):
 * its header, then LENGTH bytes from the queue, to the sink. nghttp2 calls
 * this right after read_body, in the same mem_send, so the queue still
 * holds them. */
static int send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *ud)
{
	struct h2session *s = ud;
	struct h2stream *st = src->ptr;

	(void)ng;
	if (!s->sink || frame->data.padlen > 0 || length > st->queued)
		return NGHTTP2_ERR_CALLBACK_FAILURE; /* weir pads nothing; cannot happen otherwise */
	if (s->sink(framehd, 9, s->sink_arg) < 0 || queue_take(st, length, s->sink, s->sink_arg) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	/* nghttp2 goes on to the next DATA frame within the same mem_send
	 * unless told to pause (after this frame, which is complete) */
	s->sink_left -= 9 + length < s->sink_left ? 9 + length : s->sink_left;
	return s->sink_left ? 0 : NGHTTP2_ERR_PAUSE;
}

/* ---- the session ------------------------------------------------------ */

static int set_options(nghttp2_option **opt, const struct h2session_limits *l)
{
	if (nghttp2_option_new(opt) != 0)
		return -1;
	nghttp2_option_set_no_auto_window_update(*opt, 1);
	nghttp2_option_set_no_closed_streams(*opt, 1);
	nghttp2_option_set_max_continuations(*opt, l->max_continuations);
	nghttp2_option_set_max_outbound_ack(*opt, MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(*opt, MAX_SETTINGS_ENTRIES);
	nghttp2_option_set_max_deflate_dynamic_table_size(*opt, DEFLATE_TABLE);
	/* nghttp2's own reset limiter runs on the wall clock: a loose
	 * backstop (its defaults on top of four times weir's bucket), so that
	 * weir's bucket, on the caller's clock, is the one that decides */
	nghttp2_option_set_stream_reset_rate_limit(*opt, 4 * (uint64_t)l->reset_burst + 1000,
	                                           4 * (uint64_t)l->reset_rate + 33);
	return 0;
}

static int set_callbacks(nghttp2_session_callbacks **cbs)
{
	if (nghttp2_session_callbacks_new(cbs) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(*cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(*cbs, on_header);
	nghttp2_session_callbacks_set_on_invalid_header_callback(*cbs, on_invalid_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(*cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(*cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(*cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(*cbs, on_frame_send);
	nghttp2_session_callbacks_set_send_data_callback(*cbs, send_data);
	return 0;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct h2session *h2session_new(const struct h2session_limits *limits, const struct h2session_callbacks *cb,
                                void *arg, uint64_t now_ms, char *err, size_t errlen)
{
	struct h2session *s = NULL;
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	const char *bad;
	int rv;

	if ((bad = check_limits(limits)) != NULL || !cb || !cb->on_request) {
		fail(err, errlen, "h2session: %s", bad ? bad : "on_request is required");
		return NULL;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		fail(err, errlen, "h2session: out of memory");
		return NULL;
	}
	s->lim = *limits;
	s->cb = *cb;
	s->arg = arg;
	s->now = now_ms;
	s->mem_used = sizeof(*s);
	s->stats.memory_peak = s->mem_used;
	bucket_init(&s->resets, limits->reset_burst, limits->reset_rate, now_ms);
	bucket_init(&s->control, limits->control_burst, limits->control_rate, now_ms);

	nghttp2_mem mem = { s, mem_alloc, mem_free, mem_calloc, mem_realloc };
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits->max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits->stream_window },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits->max_header_list },
		{ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, limits->header_table },
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};
	if (set_options(&opt, limits) != 0 || set_callbacks(&cbs) != 0) {
		fail(err, errlen, "h2session: out of memory");
		goto fail;
	}
	if ((rv = nghttp2_session_server_new3(&s->ng, cbs, s, opt, &mem)) != 0 ||
	    (rv = nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]))) != 0 ||
	    (rv = nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, (int32_t)limits->conn_window)) !=
	            0) {
		fail(err, errlen, "h2session: %s", nghttp2_strerror(rv));
		goto fail;
	}
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	return s;
fail:
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	if (s->ng)
		nghttp2_session_del(s->ng);
	free(s);
	return NULL;
}

void h2session_free(struct h2session *s)
{
	if (!s)
		return;
	while (s->streams) {
		struct h2stream *st = s->streams;

		nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
		if ((st->flags & ST_HANDED) && s->cb.on_close)
			s->cb.on_close(st, NGHTTP2_CANCEL, false, s->arg);
		stream_free(st);
	}
	nghttp2_session_del(s->ng);
	free(s);
}

/* nghttp2 returned the fatal RV: say why, and try to tell the client. */
static void fatal(struct h2session *s, int rv)
{
	switch (rv) {
	case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
		abuse(s, H2SESSION_ABUSE_CONTINUATION, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	case NGHTTP2_ERR_FLOODED:
		abuse(s, H2SESSION_ABUSE_CONTROL_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	case NGHTTP2_ERR_NOMEM:
		abuse(s, H2SESSION_ABUSE_MEMORY, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
		abuse(s, H2SESSION_ABUSE_PROTOCOL, NGHTTP2_PROTOCOL_ERROR);
		break;
	default:
		if (s->abuse == H2SESSION_ABUSE_NONE)
			s->abuse = H2SESSION_ABUSE_PROTOCOL;
		s->dead = true;
	}
}

int h2session_recv(struct h2session *s, const uint8_t *data, size_t len, uint64_t now_ms)
{
	ssize_t n;

	s->now = now_ms;
	if (s->dead || s->abuse != H2SESSION_ABUSE_NONE)
		return -1;
	if (!nghttp2_session_want_read(s->ng))
		return 0;
	n = nghttp2_session_mem_recv(s->ng, data, len);
	if (n < 0)
		fatal(s, (int)n);
	return s->dead || s->abuse != H2SESSION_ABUSE_NONE ? -1 : 0;
}

/* The streams that took less than offered and have room again. */
static void notify_writable(struct h2session *s)
{
	s->notify = false;
	if (s->queued > s->lim.conn_buffer / 2)
		return;
	for (struct h2stream *st = s->streams, *next; st; st = next) {
		next = st->next;
		if (!(st->flags & ST_BLOCKED) || st->queued > s->lim.stream_buffer / 2)
			continue;
		set_blocked(st, false);
		if (s->cb.on_writable)
			s->cb.on_writable(st, s->arg);
	}
}

/* After a flush: streams whose queued data waits for window are stalled,
 * and those whose response is out while their request has not ended. */
static void mark_stalls(struct h2session *s, uint64_t now)
{
	bool conn_blocked = nghttp2_session_get_remote_window_size(s->ng) <= 0;

	for (struct h2stream *st = s->streams; st; st = st->next) {
		bool stalled = !(st->flags & ST_RESET) &&
		               ((st->flags & ST_AWAIT_END) ||
		                (st->queued > 0 && (conn_blocked ||
		                                    nghttp2_session_get_stream_remote_window_size(s->ng, st->id) <= 0)));

		if (!stalled)
			st->stalled_since = 0;
		else if (!st->stalled_since)
			st->stalled_since = now ? now : 1;
	}
}

ssize_t h2session_output(struct h2session *s, const uint8_t **data, uint64_t now_ms)
{
	ssize_t n;

	s->now = now_ms;
	if (s->dead)
		return -1;
	for (;;) {
		if (s->notify)
			notify_writable(s);
		n = nghttp2_session_mem_send(s->ng, data);
		if (n < 0) {
			fatal(s, (int)n);
			return -1;
		}
		if (n > 0)
			return n;
		if (!s->notify)
			break;
	}
	mark_stalls(s, now_ms);
	return 0;
}

ssize_t h2session_output_to(struct h2session *s, int (*sink)(const uint8_t *, size_t, void *), void *arg,
                            size_t max, uint64_t now_ms)
{
	s->now = now_ms;
	if (s->dead)
		return -1;
	if (max == 0)
		return 0;
	s->sink = sink;
	s->sink_arg = arg;
	s->sink_left = max;
	while (s->sink_left > 0) {
		const uint8_t *data;
		if (s->notify)
			notify_writable(s);
		ssize_t n = nghttp2_session_mem_send(s->ng, &data);
		if (n < 0 || (n > 0 && sink(data, (size_t)n, arg) < 0)) {
			s->sink = NULL;
			fatal(s, n < 0 ? (int)n : NGHTTP2_ERR_CALLBACK_FAILURE);
			return -1;
		}
		s->sink_left -= (size_t)n < s->sink_left ? (size_t)n : s->sink_left;
		/* 0: nothing more to send, or send_data paused at the bound */
		if (n == 0 && !s->notify)
			break;
	}
	s->sink = NULL;
	mark_stalls(s, now_ms);
	return (ssize_t)(max - s->sink_left);
}

bool h2session_want_write(const struct h2session *s)
{
	return !s->dead && (nghttp2_session_want_write(s->ng) || s->notify);
}

bool h2session_done(const struct h2session *s)
{
	return s->dead || (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng));
}

void h2session_shutdown(struct h2session *s)
{
	s->goaway = true;
	if (s->dead)
		return;
	if (nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s->ng),
	                          NGHTTP2_NO_ERROR, NULL, 0) != 0)
		s->dead = true;
}

void h2session_terminate(struct h2session *s, uint32_t error_code)
{
	s->goaway = true;
	if (!s->dead && nghttp2_session_terminate_session(s->ng, error_code) != 0)
		s->dead = true;
}

enum h2session_abuse h2session_abuse(const struct h2session *s)
{
	return s->abuse;
}

const char *h2session_abuse_name(enum h2session_abuse a)
{
	switch (a) {
	case H2SESSION_ABUSE_NONE:
		return "none";
	case H2SESSION_ABUSE_PROTOCOL:
		return "protocol error";
	case H2SESSION_ABUSE_RAPID_RESET:
		return "rapid reset";
	case H2SESSION_ABUSE_CONTROL_FLOOD:
		return "control frame flood";
	case H2SESSION_ABUSE_CONTINUATION:
		return "CONTINUATION flood";
	case H2SESSION_ABUSE_MEMORY:
		return "memory limit";
	}
	return "unknown";
}

const struct h2session_stats *h2session_stats(const struct h2session *s)
{
	return &s->stats;
}

size_t h2session_memory(const struct h2session *s)
{
	return s->mem_used;
}

size_t h2session_streams(const struct h2session *s)
{
	return s->nstreams;
}

uint64_t h2session_oldest_stall(const struct h2session *s)
{
	uint64_t oldest = 0;

	for (const struct h2stream *st = s->streams; st; st = st->next)
		if (st->stalled_since && (!oldest || st->stalled_since < oldest))
			oldest = st->stalled_since;
	return oldest;
}

size_t h2session_expire_stalled(struct h2session *s, uint64_t now_ms, uint64_t stall_ms)
{
	size_t n = 0;

	for (struct h2stream *st = s->streams; st; st = st->next) {
		if (!st->stalled_since || st->stalled_since > now_ms || now_ms - st->stalled_since < stall_ms ||
		    (st->flags & ST_RESET))
			continue;
		st->stalled_since = 0;
		/* a request not ended is asked to stop (RFC 9113 8.1); a response
		 * the client gave no window for is given up */
		stream_reset(st, (st->flags & ST_AWAIT_END) ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL, true);
		s->stats.stalls_expired++;
		n++;
	}
	return n;
}

/* ---- one stream ------------------------------------------------------------ */

int32_t h2session_stream_id(const struct h2stream *st)
{
	return st->id;
}

void *h2session_stream_owner(const struct h2stream *st)
{
	return st->owner;
}

void h2session_stream_set_owner(struct h2stream *st, void *owner)
{
	st->owner = owner;
}

struct h2session *h2session_stream_session(const struct h2stream *st)
{
	return st->s;
}

uint64_t h2session_stream_stalled_since(const struct h2stream *st)
{
	return st->stalled_since;
}

size_t h2session_stream_queued(const struct h2stream *st)
{
	return st->queued;
}

/* Fields a response or its trailers never carry across to HTTP/2. */
static bool hop_field(const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t len;
	} hop[] = {
#define HOP(lit) { lit, sizeof lit - 1 }
		HOP("connection"), HOP("keep-alive"), HOP("proxy-connection"), HOP("transfer-encoding"),
		HOP("upgrade"), HOP("te"), HOP("http2-settings"),
#undef HOP
	};

	for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
		if (hop[i].len == n && strncasecmp(hop[i].name, name, n) == 0)
			return true;
	return false;
}

/* A value HTTP/2 may carry: no NUL, CR or LF. */
static bool value_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		/* one comparison for the common byte: the three are below 0x0e */
		if ((unsigned char)v[i] <= '\r' && (v[i] == '\0' || v[i] == '\r' || v[i] == '\n'))
			return false;
	return true;
}

/* Lower-case NAME (N bytes) into OUT. */
static void lower(uint8_t *out, const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
}

/* An nghttp2 field list, one allocation: the records, then the bytes of
 * every name (lower case) and value; STATUS first when it is not 0.
 * Fields that are no tokens or whose values HTTP/2 cannot carry are left
 * out, unless PARSED says that the strict HTTP/1.1 parser read them (it
 * refuses both), as for every head from a backend. */
struct nvlist {
	nghttp2_nv *nv;
	size_t n;
};

static int nvlist_build(struct h2session *s, struct nvlist *out, int status, const struct h2conv_field *f,
                        size_t n, bool trailers, bool parsed)
{
	size_t bytes = 4, count = status ? 1 : 0;
	uint8_t *p;

	for (size_t i = 0; i < n; i++)
		bytes += f[i].namelen + f[i].valuelen;
	if (n > (SIZE_MAX - bytes) / sizeof(nghttp2_nv) - 1 ||
	    !(out->nv = mem_alloc((n + 1) * sizeof(nghttp2_nv) + bytes, s)))
		return -1;
	p = (uint8_t *)(out->nv + n + 1);
	if (status) {
		http1_put_status(status, (char *)p); /* head_allowed: 100..599 */
		p[3] = '\0';
		out->nv[0] = (nghttp2_nv){ status_name, p, 7, 3, NGHTTP2_NV_FLAG_NONE };
		p += 4;
	}
	for (size_t i = 0; i < n; i++) {
		if ((!parsed && (!http1_is_token(f[i].name, f[i].namelen) || !value_ok(f[i].value, f[i].valuelen))) ||
		    hop_field(f[i].name, f[i].namelen) || (trailers && trailer_forbidden(f[i].name, f[i].namelen)))
			continue;
		lower(p, f[i].name, f[i].namelen);
		memcpy(p + f[i].namelen, f[i].value, f[i].valuelen);
		out->nv[count++] = (nghttp2_nv){ p, p + f[i].namelen, f[i].namelen, f[i].valuelen,
			                         NGHTTP2_NV_FLAG_NONE };
		p += f[i].namelen + f[i].valuelen;
	}
	out->n = count;
	return 0;
}

/* Submit a response head whose fields are filtered into NV. */
static int submit_head(struct h2stream *st, int status, const struct nvlist *nv, bool end)
{
	struct h2session *s = st->s;
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = read_body };
	bool interim = status < 200;

	if (interim && end)
		return -1;
	if (interim)
		return nghttp2_submit_headers(s->ng, NGHTTP2_FLAG_NONE, st->id, NULL, nv->nv, nv->n, NULL) < 0 ? -1 : 0;
	if (nghttp2_submit_response(s->ng, st->id, nv->nv, nv->n, end ? NULL : &prd) != 0)
		return -1;
	st->flags |= ST_FINAL | (end ? ST_ENDED : 0);
	return 0;
}

/* May ST take a response head now? */
static bool head_allowed(const struct h2stream *st, int status)
{
	return (st->flags & ST_HANDED) && !(st->flags & (ST_FINAL | ST_RESET)) && status >= 100 && status <= 599 &&
	       status != 101;
}

static int respond(struct h2stream *st, int status, const struct h2conv_field *fields, size_t n, bool end,
                   bool parsed)
{
	struct nvlist nv;
	int rv;

	if (!head_allowed(st, status))
		return -1;
	if (nvlist_build(st->s, &nv, status, fields, n, false, parsed) != 0)
		return -1;
	rv = submit_head(st, status, &nv, end);
	mem_free(nv.nv, st->s);
	return rv;
}

int h2session_respond(struct h2stream *st, int status, const struct h2conv_field *fields, size_t n, bool end)
{
	return respond(st, status, fields, n, end, false);
}

int h2session_respond_http1(struct h2stream *st, const char *buf, const struct http1_head *resp, bool end)
{
	struct http1_conn_names listed;
	struct h2conv_field f[HTTP1_MAX_HEADERS];
	size_t n = 0;

	if (!head_allowed(st, resp->status))
		return -1;
	http1_conn_names_get(buf, resp, NULL, &listed);
	for (unsigned i = 0; i < resp->nheaders; i++) {
		const struct http1_header *h = &resp->headers[i];

		if (http1_conn_names_has(buf, &listed, h->name))
			continue;
		f[n++] = (struct h2conv_field){ buf + h->name.off, h->name.len, buf + h->value.off, h->value.len };
	}
	return respond(st, resp->status, f, n, end, true);
}

/* nghttp2 waits for ST's data: tell it there is some (or the end). */
static void resume(struct h2stream *st)
{
	if (!(st->flags & ST_DEFERRED))
		return;
	st->flags &= ~ST_DEFERRED;
	if (nghttp2_session_resume_data(st->s->ng, st->id) != 0)
		stream_reset(st, NGHTTP2_INTERNAL_ERROR, true);
}

size_t h2session_send_data(struct h2stream *st, const void *data, size_t len)
{
	struct h2session *s = st->s;
	size_t room, n, done = 0;

	if (!(st->flags & ST_FINAL) || (st->flags & (ST_ENDED | ST_RESET)))
		return 0;
	room = s->lim.stream_buffer - st->queued;
	if (s->lim.conn_buffer - s->queued < room)
		room = s->lim.conn_buffer - s->queued;
	n = len < room ? len : room;
	/* fill the last chunk, then one new chunk for the rest */
	if (st->tail && st->tail->cap > st->tail->len) {
		struct chunk *c = st->tail;
		size_t k = c->cap - c->len < n ? c->cap - c->len : n;

		memcpy(c->data + c->len, data, k);
		c->len += k;
		done = k;
	}
	if (done < n) {
		/* Cut to size when the queue is empty: most responses are one
		 * small write, and a 4 KiB allocation for each takes malloc's
		 * slow path. Behind queued bytes, at least CHUNK_MIN, so that a
		 * trickle of small writes shares chunks. */
		size_t rest = n - done;
		size_t want = rest >= CHUNK_MIN || !st->tail ? rest : CHUNK_MIN;
		struct chunk *c = mem_alloc(sizeof(*c) + want, s);

		/* the queues are within max_memory by design: a failure here
		 * means the connection holds what it should not */
		if (!c) {
			abuse(s, H2SESSION_ABUSE_MEMORY, NGHTTP2_ENHANCE_YOUR_CALM);
		} else {
			c->next = NULL;
			c->off = 0;
			c->cap = want;
			c->len = n - done;
			memcpy(c->data, (const uint8_t *)data + done, n - done);
			if (st->tail)
				st->tail->next = c;
			else
				st->head = c;
			st->tail = c;
			done = n;
		}
	}
	st->queued += done;
	s->queued += done;
	if (done < len)
		set_blocked(st, true);
	if (done)
		resume(st);
	return done;
}

int h2session_send_end(struct h2stream *st, const struct h2conv_field *fields, size_t n)
{
	struct nvlist nv = { NULL, 0 };

	if (!(st->flags & ST_FINAL) || (st->flags & (ST_ENDED | ST_RESET)))
		return -1;
	if (n && nvlist_build(st->s, &nv, 0, fields, n, true, false) != 0)
		return -1;
	if (nv.n == 0) {
		mem_free(nv.nv, st->s);
		nv.nv = NULL;
	}
	st->trailers = nv.nv;
	st->ntrailers = nv.n;
	st->flags |= ST_ENDED;
	resume(st);
	return 0;
}

void h2session_reset(struct h2stream *st, uint32_t error_code)
{
	stream_reset(st, error_code, true);
}

void h2session_consume(struct h2stream *st, size_t len)
{
	if (len > st->unconsumed)
		len = st->unconsumed;
	st->unconsumed -= len;
	if (len && nghttp2_session_consume(st->s->ng, st->id, len) != 0)
		abuse(st->s, H2SESSION_ABUSE_MEMORY, NGHTTP2_INTERNAL_ERROR);
}
