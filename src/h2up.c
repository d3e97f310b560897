/* h2up: HTTP/2 connections to an "h2" pool's servers, each request bridged
 * from the proxy's HTTP/1.1 (include/weir/h2up.h says why and how).
 *
 * A connection (struct h2up_conn) is one nghttp2 client session on a
 * socket or TLS bufferevent. Its output leaves through one deferred event
 * (conn_flush), so the requests of one loop iteration go out in one write.
 * It takes streams while it is alive and below the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS (and MAX_STREAMS); a dead one (failed,
 * GOAWAY, a reload's old table) takes none and is freed when its last
 * stream goes. One without streams is closed after timeouts.idle.
 *
 * A stream (struct h2up_stream) belongs to one upstream_conn of the
 * proxy. Request: the head is parsed from the pair with weir's strict
 * parser and submitted; the body (de-chunked) waits in BODY for the data
 * provider. Response: HEADERS become an HTTP/1.1 head in the pair; DATA
 * chunks; trailers the chunked trailer section; END_STREAM the last chunk.
 * A response whose head came with END_STREAM gets Content-Length: 0 (or
 * keeps the server's, for HEAD, 204 and 304, whose bodies are none). */
#include "weir/h2up.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "weir/clock.h"
#include "weir/config.h"
#include "weir/connread.h"
#include "weir/headbuf.h"
#include "weir/http1.h"
#include "weir/log.h"
#include "weir/tls.h"
#include "weir/upstream.h"
#include "weir/worker-t.h"

#define MAX_STREAMS 100            /* per connection, whatever the server allows */
#define STREAM_WINDOW (256 * 1024) /* response bytes in flight per stream */
#define CONN_WINDOW (1024 * 1024)  /* ... and per connection */
#define BODY_HIGH (64 * 1024)      /* request body waiting for the provider: stop reading */
#define RESP_HEAD_MAX (64 * 1024)  /* a response head (or trailer section), as HTTP/1.1 */
#define OUT_HIGH (256 * 1024)      /* session output queued on the socket */

struct h2up_stream;

struct h2up_conn {
	struct worker *w;
	enum pool_id pool;
	int server;
	uint32_t gen;                       /* the worker's server-table generation */
	struct bufferevent *bev;
	struct connread rd;                 /* its reads (bev keeps the writes) */
	nghttp2_session *ng;
	struct event flush;                 /* deferred: session output to the socket */
	struct event timer;                 /* idle: closed after timeouts.idle */
	bool tls;
	struct tls_session_sink sessions;   /* TLS: its server's new sessions, for the next */
	bool connected;
	bool dead;                          /* takes no new stream */
	uint32_t nstreams;
	struct h2up_stream *streams;        /* attached to proxy requests */
	struct h2up_conn *prev, *next;      /* the worker's list */
};

enum resp_state {
	RESP_WAIT,                          /* no final head yet (interim ones may come) */
	RESP_BODY,                          /* final head written; DATA, trailers */
	RESP_DONE                           /* END_STREAM written */
};

struct h2up_stream {
	struct h2up_conn *conn;
	struct upstream_conn *up;           /* the proxy's side */
	struct bufferevent *pair;           /* our end */
	struct upstream_callbacks cb;       /* the proxy's, for events */
	struct event notify;                /* deferred: an event to the proxy */
	short notify_events;
	int32_t id;                         /* -1 before the request is submitted */
	bool closed;                        /* nghttp2 closed it */
	/* request */
	struct http1_parser req;
	bool req_head_done;
	enum http1_body req_body;
	uint64_t req_remaining;
	struct http1_chunked req_chunked;
	struct evbuffer *body;              /* de-chunked body for the data provider */
	bool body_end;
	bool deferred;                      /* the provider is waiting for BODY */
	bool paused;                        /* not reading the pair: BODY is full */
	bool is_head;
	/* response */
	enum resp_state resp;
	struct evbuffer *head;              /* the HTTP/1.1 head (or trailers) being built */
	int status;
	bool chunked;                       /* the body goes to the proxy chunked */
	bool has_length;                    /* the final head has a content-length */
	size_t unconsumed;                  /* DATA bytes the proxy has not taken */
	struct h2up_stream *prev, *next;    /* the connection's streams */
};

static void conn_free(struct h2up_conn *h);

/* ---- the proxy's side ----------------------------------------------------- */

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2up_stream *s = arg;
	(void)fd;
	(void)what;

	s->cb.event(s->up->bev, s->notify_events, s->up);
}

/* Tell the proxy EVENTS from the loop. A failure replaces a CONNECTED not
 * yet told (to the proxy that is a connect that failed); a CONNECTED after
 * a failure is dropped. */
static void notify(struct h2up_stream *s, short events)
{
	if (event_pending(&s->notify, EV_TIMEOUT, NULL)) {
		if (!(events & BEV_EVENT_CONNECTED))
			s->notify_events = events;
		return;
	}
	struct timeval now = { 0, 0 };
	s->notify_events = events;
	event_add(&s->notify, &now);
}

/* The stream cannot go on: the proxy sees its connection fail. */
static void stream_fail(struct h2up_stream *s)
{
	if (s->resp == RESP_DONE)
		return;
	s->resp = RESP_DONE;
	notify(s, BEV_EVENT_READING | BEV_EVENT_ERROR);
}

static void schedule_flush(struct h2up_conn *h)
{
	if (h->bev && !event_pending(&h->flush, EV_TIMEOUT, NULL)) {
		struct timeval now = { 0, 0 };
		event_add(&h->flush, &now);
	}
}

/* ---- request: the proxy's HTTP/1.1 into HEADERS and DATA ------------------ */

static ssize_t body_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                            nghttp2_data_source *src, void *user)
{
	/* Through the stream, not SRC: a released request's stream has none. */
	struct h2up_stream *s = nghttp2_session_get_stream_user_data(ng, id);
	(void)src;
	(void)user;

	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */

	size_t n = evbuffer_remove(s->body, buf, len);
	if (n == 0 && !s->body_end) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (s->body_end && evbuffer_get_length(s->body) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	/* Room again: read on from the pair, and what waits in it already. */
	if (s->pair && s->paused && evbuffer_get_length(s->body) < BODY_HIGH / 2) {
		s->paused = false;
		bufferevent_enable(s->pair, EV_READ);
		bufferevent_trigger(s->pair, EV_READ, BEV_OPT_DEFER_CALLBACKS);
	}
	return (ssize_t)n;
}

static bool hop_by_hop(const char *name, size_t len)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection", "transfer-encoding",
	                                      "upgrade", "te", "host" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
			return true;
	return false;
}

static nghttp2_nv nv_make(const char *name, size_t namelen, const char *value, size_t valuelen)
{
	return (nghttp2_nv){ (uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, namelen, valuelen,
		             NGHTTP2_NV_FLAG_NONE };
}

/* The request head in BUF (parsed in s->req) as HEADERS. Returns 0, -1. */
static int submit_request(struct h2up_stream *s, char *buf)
{
	const struct http1_head *hd = &s->req.head;
	struct h2up_conn *h = s->conn;
	nghttp2_nv nv[HTTP1_MAX_HEADERS + 5];
	size_t n = 0;
	const char *authority = NULL;
	size_t authority_len = 0;

	for (unsigned i = 0; i < hd->nheaders && !authority; i++) {
		if (hd->headers[i].name.len == 4 && strncasecmp(buf + hd->headers[i].name.off, "host", 4) == 0) {
			authority = buf + hd->headers[i].value.off;
			authority_len = hd->headers[i].value.len;
		}
	}
	if (!authority)
		return -1; /* the proxy always sends Host */
	/* Pseudo-headers first (RFC 9113 8.3). */
	nv[n++] = nv_make(":method", 7, buf + hd->method.off, hd->method.len);
	nv[n++] = nv_make(":scheme", 7, h->tls ? "https" : "http", h->tls ? 5 : 4);
	nv[n++] = nv_make(":authority", 10, authority, authority_len);
	nv[n++] = nv_make(":path", 5, buf + hd->target.off, hd->target.len);
	for (unsigned i = 0; i < hd->nheaders; i++) {
		char *name = buf + hd->headers[i].name.off;
		size_t len = hd->headers[i].name.len;
		if (hop_by_hop(name, len))
			continue;
		for (size_t k = 0; k < len; k++) /* HTTP/2 field names are lower case */
			if (name[k] >= 'A' && name[k] <= 'Z')
				name[k] = (char)(name[k] - 'A' + 'a');
		nv[n++] = nv_make(name, len, buf + hd->headers[i].value.off, hd->headers[i].value.len);
	}
	/* gRPC servers want it; it is harmless to any other (RFC 9113 8.2.2). */
	nv[n++] = nv_make("te", 2, "trailers", 8);

	bool has_body = hd->body == HTTP1_BODY_CHUNKED ||
	                (hd->body == HTTP1_BODY_LENGTH && hd->content_length > 0);
	nghttp2_data_provider prd = { .source.ptr = NULL, .read_callback = body_read_cb };
	s->id = nghttp2_submit_request(h->ng, NULL, nv, n, has_body ? &prd : NULL, s);
	return s->id < 0 ? -1 : 0;
}

/* More of the request body for the provider. */
static void body_more(struct h2up_stream *s)
{
	if (s->deferred && s->id >= 0 && !s->closed) {
		s->deferred = false;
		(void)nghttp2_session_resume_data(s->conn->ng, s->id);
	}
	schedule_flush(s->conn);
}

/* Read what the proxy wrote into the pair: the request head, then its body. */
static void request_read(struct h2up_stream *s)
{
	struct evbuffer *in = bufferevent_get_input(s->pair);

	if (!s->req_head_done) {
		const char *buf;
		enum http1_result r = headbuf_parse(&s->req, in, s->req.max_head_bytes + 1, &buf);
		if (r == HTTP1_AGAIN)
			return;
		/* the same bytes, writable (submit_request lower-cases names in place) */
		char *head = r == HTTP1_DONE ? (char *)evbuffer_pullup(in, (ev_ssize_t)s->req.head.head_len) : NULL;
		if (!head || submit_request(s, head) < 0) {
			stream_fail(s);
			return;
		}
		s->req_head_done = true;
		s->req_body = s->req.head.body;
		s->req_remaining = s->req.head.content_length;
		s->is_head = s->req.head.is_head;
		if (s->req_body == HTTP1_BODY_CHUNKED)
			http1_chunked_init(&s->req_chunked);
		s->body_end = s->req_body == HTTP1_BODY_NONE ||
		              (s->req_body == HTTP1_BODY_LENGTH && s->req_remaining == 0);
		evbuffer_drain(in, s->req.head.head_len);
		schedule_flush(s->conn);
	}
	while (!s->body_end && evbuffer_get_length(in) > 0 && evbuffer_get_length(s->body) < BODY_HIGH) {
		if (s->req_body == HTTP1_BODY_LENGTH) {
			size_t n = evbuffer_get_length(in);
			if (n > s->req_remaining)
				n = (size_t)s->req_remaining;
			evbuffer_remove_buffer(in, s->body, n);
			s->req_remaining -= n;
			s->body_end = s->req_remaining == 0;
			continue;
		}
		struct evbuffer_iovec v;
		enum http1_chunk_part part;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		ssize_t n = http1_chunked_step(&s->req_chunked, v.iov_base, v.iov_len, &part);
		if (n < 0) {
			stream_fail(s);
			return;
		}
		if (part == HTTP1_CHUNK_DATA)
			evbuffer_remove_buffer(in, s->body, (size_t)n);
		else
			evbuffer_drain(in, (size_t)n); /* framing; request trailers are not forwarded */
		s->body_end = s->req_chunked.done;
	}
	if (!s->body_end && evbuffer_get_length(s->body) >= BODY_HIGH) {
		s->paused = true;
		bufferevent_disable(s->pair, EV_READ); /* the provider re-enables it */
	}
	body_more(s);
}

static void pair_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	request_read(arg);
}

/* The proxy took what was written into the pair: the server may send that
 * much more. */
static void pair_write_cb(struct bufferevent *bev, void *arg)
{
	struct h2up_stream *s = arg;
	(void)bev;

	if (s->unconsumed && s->id >= 0 && !s->closed) {
		(void)nghttp2_session_consume(s->conn->ng, s->id, s->unconsumed);
		schedule_flush(s->conn);
	}
	s->unconsumed = 0;
}

static void pair_event_cb(struct bufferevent *bev, short events, void *arg)
{
	(void)bev;
	(void)events;
	(void)arg; /* the proxy's side ends through h2up_release */
}

/* ---- response: HEADERS, DATA and trailers into HTTP/1.1 ------------------- */

static struct h2up_stream *stream_of(nghttp2_session *ng, int32_t id)
{
	return nghttp2_session_get_stream_user_data(ng, id);
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2up_stream *s = stream_of(ng, f->hd.stream_id);
	(void)user;

	if (s && !s->head && !(s->head = evbuffer_new()))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (s)
		s->status = 0;
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
	struct h2up_stream *s = stream_of(ng, f->hd.stream_id);
	(void)flags;
	(void)user;

	if (!s || !s->head || s->resp == RESP_DONE)
		return 0;
	if (evbuffer_get_length(s->head) + namelen + valuelen + 4 > RESP_HEAD_MAX)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		/* nghttp2 has checked it: three digits */
		s->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
		return 0;
	}
	if (namelen && name[0] == ':')
		return 0;
	/* A body chunked for the proxy carries no Content-Length beside it. */
	if (s->resp == RESP_WAIT && namelen == 14 && memcmp(name, "content-length", 14) == 0) {
		if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
			return 0;
		s->has_length = true;
	}
	/* nghttp2 has refused names and values an HTTP/1.1 line could not hold */
	if (evbuffer_add(s->head, name, namelen) < 0 || evbuffer_add(s->head, ": ", 2) < 0 ||
	    evbuffer_add(s->head, value, valuelen) < 0 || evbuffer_add(s->head, "\r\n", 2) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* A complete HEADERS frame of S: an interim or final response head, or the
 * trailers. Writes it to the pair as HTTP/1.1. */
static void headers_done(struct h2up_stream *s, bool end)
{
	struct evbuffer *out = bufferevent_get_output(s->pair);
	char line[64];

	if (s->resp == RESP_BODY) {
		/* trailers: the chunked trailer section (none without a body) */
		s->resp = RESP_DONE;
		if (!s->chunked)
			return;
		evbuffer_add(out, "0\r\n", 3);
		evbuffer_add_buffer(out, s->head);
		evbuffer_add(out, "\r\n", 2);
		return;
	}
	if (s->status < 100 || s->status == 101 || (s->status < 200 && end)) {
		stream_fail(s);
		return;
	}
	snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", s->status, http1_status_reason(s->status));
	evbuffer_add(out, line, strlen(line));
	evbuffer_add_buffer(out, s->head);
	if (s->status < 200) {
		evbuffer_add(out, "\r\n", 2);
		return; /* interim: the final head follows */
	}
	bool bodiless = s->is_head || s->status == 204 || s->status == 304;
	if (end) {
		/* No body: the server's Content-Length (kept above) or none, which
		 * for a response that may have a body says 0. */
		if (!bodiless && !s->has_length)
			evbuffer_add(out, "content-length: 0\r\n", 19);
		evbuffer_add(out, "\r\n", 2);
		s->resp = RESP_DONE;
		return;
	}
	s->chunked = !bodiless;
	if (s->chunked)
		evbuffer_add(out, "transfer-encoding: chunked\r\n", 28);
	evbuffer_add(out, "\r\n", 2);
	s->resp = RESP_BODY;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
	struct h2up_conn *h = user;
	struct h2up_stream *s = f->hd.stream_id ? stream_of(ng, f->hd.stream_id) : NULL;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		h->dead = true; /* streams past its last id are closed by nghttp2 */
		return 0;
	}
	if (!s || !s->pair || s->resp == RESP_DONE)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS) {
		headers_done(s, end);
		if (end && s->resp != RESP_DONE)
			stream_fail(s); /* END_STREAM on an interim head, or on nothing */
	} else if (f->hd.type == NGHTTP2_DATA && end) {
		if (s->chunked)
			evbuffer_add(bufferevent_get_output(s->pair), "0\r\n\r\n", 5);
		s->resp = RESP_DONE;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *user)
{
	struct h2up_stream *s = stream_of(ng, id);
	(void)flags;
	(void)user;

	if (!s || !s->pair || s->resp != RESP_BODY || !s->chunked) {
		(void)nghttp2_session_consume(ng, id, len); /* nobody reads it */
		return 0;
	}
	struct evbuffer *out = bufferevent_get_output(s->pair);
	char line[HTTP1_CHUNK_SIZE_LINE_MAX];
	if (len && (evbuffer_add(out, line, http1_chunk_size_line(len, line)) < 0 ||
	            evbuffer_add(out, data, len) < 0 || evbuffer_add(out, "\r\n", 2) < 0))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->unconsumed += len;
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
	struct h2up_stream *s = stream_of(ng, id);
	(void)user;

	if (!s)
		return 0;
	s->closed = true;
	/* REFUSED_STREAM, by the server's RST_STREAM or for a stream above a
	 * GOAWAY's last id (nghttp2 closes those with it): nothing of the
	 * request was processed, and the proxy may send it again, unless the
	 * server sent a head first (an interim one reached the client already:
	 * a server that refuses after answering is broken, not restarting). */
	if (s->resp == RESP_WAIT && !s->head && code == NGHTTP2_REFUSED_STREAM && s->up)
		s->up->refused = true;
	if (s->resp != RESP_DONE)
		stream_fail(s); /* reset, refused, or the connection went */
	return 0;
}

/* ---- the connection -------------------------------------------------------- */

static void conn_flush(struct h2up_conn *h)
{
	struct evbuffer *out = bufferevent_get_output(h->bev);

	while (evbuffer_get_length(out) < OUT_HIGH) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(h->ng, &data);
		if (n < 0) {
			h->dead = true;
			break;
		}
		if (n == 0)
			break;
		if (evbuffer_add(out, data, (size_t)n) < 0) {
			h->dead = true;
			break;
		}
	}
	if (h->nstreams == 0) {
		struct timeval idle = clock_ms_to_tv(h->dead ? 0 : h->w->cfg->timeouts.idle_ms);
		evtimer_add(&h->timer, &idle);
	} else {
		evtimer_del(&h->timer);
	}
}

static void conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2up_conn *h = arg;
	(void)fd;
	(void)what;

	if (h->nstreams == 0)
		conn_free(h);
}

/* Every stream of H fails (the connection did): the proxy sees each one's
 * connection fail, a connect failure while it waits for CONNECTED. */
static void conn_fail_streams(struct h2up_conn *h)
{
	h->dead = true;
	for (struct h2up_stream *s = h->streams; s; s = s->next)
		stream_fail(s);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2up_conn *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		ssize_t n = nghttp2_session_mem_recv(h->ng, v.iov_base, v.iov_len);
		if (n < 0) {
			log_warn("pool %s, server %s: HTTP/2: %s", cfg_pool_name(h->pool),
			         h->w->cfg->pools[h->pool].servers[h->server].text, nghttp2_strerror((int)n));
			evbuffer_drain(in, evbuffer_get_length(in));
			conn_fail_streams(h);
			break;
		}
		evbuffer_drain(in, (size_t)n);
	}
	schedule_flush(h);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	schedule_flush(arg);
}

/* The server chose HTTP/2 by ALPN (a TLS pool). */
static bool alpn_h2(struct bufferevent *bev)
{
	return tls_alpn_h2(bev);
}

static void conn_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct h2up_conn *h = arg;

	if ((events & BEV_EVENT_CONNECTED) && (!h->tls || alpn_h2(bev))) {
		h->connected = true;
		connread_connected(&h->rd);
		for (struct h2up_stream *s = h->streams; s; s = s->next)
			notify(s, BEV_EVENT_CONNECTED);
		schedule_flush(h);
		return;
	}
	if (events & BEV_EVENT_CONNECTED)
		log_warn("pool %s, server %s: the server does not speak h2 (ALPN)", cfg_pool_name(h->pool),
		         h->w->cfg->pools[h->pool].servers[h->server].text);
	conn_fail_streams(h);
	connread_disable(&h->rd);
	bufferevent_disable(bev, EV_WRITE);
	if (h->nstreams == 0)
		conn_free(h);
}

static void conn_free(struct h2up_conn *h)
{
	struct worker *w = h->w;

	evtimer_del(&h->timer);
	event_del(&h->flush);
	nghttp2_session_del(h->ng);
	connread_stop(&h->rd);
	tls_bufferevent_free(h->bev);
	if (h->prev)
		h->prev->next = h->next;
	else
		w->h2up = h->next;
	if (h->next)
		h->next->prev = h->prev;
	free(h);
}

/* A new TLS session from H's server: offered by the next connection to it,
 * as an HTTP/1.1 pool's are (upstream_keep_session). */
static bool keep_session(struct tls_session_sink *sink, struct ssl_session_st *sess)
{
	struct h2up_conn *h = (struct h2up_conn *)((char *)sink - offsetof(struct h2up_conn, sessions));

	return upstream_keep_session(h->w, h->pool, h->server, h->gen, sess);
}

static struct h2up_conn *conn_new(struct worker *w, enum pool_id pool, int server)
{
	const struct cfg_addr *a = &w->cfg->pools[pool].servers[server];
	SSL_CTX *tls = tls_set_pool_ctx(w->tls, pool);
	struct h2up_conn *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;

	if (!h)
		return NULL;
	h->w = w;
	h->pool = pool;
	h->server = server;
	h->gen = w->gen;
	h->tls = tls != NULL;
	if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
		goto fail;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_peer_max_concurrent_streams(opt, MAX_STREAMS);
	int r = nghttp2_session_client_new2(&h->ng, cbs, h, opt);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	cbs = NULL;
	if (r != 0)
		goto fail;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
	};
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0)
		goto fail;
	h->sessions.keep = keep_session;
	struct tls_target to = upstream_tls_target(&w->cfg->pools[pool], (size_t)server);
	h->bev = tls ? tls_connect_bufferevent(w->base, tls, &to, upstream_session(w, pool, server), &h->sessions)
	             : bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!h->bev) /* a TLS one offers h2 alone by ALPN (tls.c) */
		goto fail;
	event_assign(&h->flush, w->base, -1, 0, conn_flush_cb, h);
	evtimer_assign(&h->timer, w->base, conn_timer_cb, h);
	bufferevent_setcb(h->bev, conn_read_cb, conn_write_cb, conn_event_cb, h);
	bufferevent_setwatermark(h->bev, EV_WRITE, OUT_HIGH / 4, 0);
	if (tls_socket_connect(h->bev, (const struct sockaddr *)&a->ss, (int)a->len) < 0) {
		int e = errno;
		bufferevent_free(h->bev);
		h->bev = NULL;
		nghttp2_session_del(h->ng);
		free(h);
		errno = e;
		return NULL;
	}
	/* Large reads (connread) and writes: libevent's own are 4 and 16 KiB. */
	connread_init(&h->rd, w->base, h->bev, !h->tls, false, conn_read_cb, conn_event_cb, h);
	connread_set_limit(&h->rd, CONN_WINDOW);
	connread_enable(&h->rd);
	bufferevent_set_max_single_write(h->bev, OUT_HIGH);
	bufferevent_enable(h->bev, EV_WRITE);
	h->next = w->h2up;
	if (h->next)
		h->next->prev = h;
	w->h2up = h;
	return h;
fail:
	if (h->bev)
		bufferevent_free(h->bev);
	if (h->ng)
		nghttp2_session_del(h->ng);
	free(h);
	errno = ENOMEM;
	return NULL;
}

/* A live connection of W to SERVER of POOL with room for a stream. */
static struct h2up_conn *conn_with_room(struct worker *w, enum pool_id pool, int server)
{
	for (struct h2up_conn *h = w->h2up; h; h = h->next) {
		if (h->dead || h->gen != w->gen || h->pool != pool || h->server != server)
			continue;
		uint32_t max = nghttp2_session_get_remote_settings(h->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		if (h->nstreams < (max < MAX_STREAMS ? max : MAX_STREAMS))
			return h;
	}
	return NULL;
}

/* ---- entry points ------------------------------------------------------------ */

int h2up_acquire(struct worker *w, enum pool_id pool, int server, const struct upstream_callbacks *cb,
                 struct upstream_conn **out)
{
	struct h2up_conn *h = conn_with_room(w, pool, server);
	struct upstream_conn *up = calloc(1, sizeof(*up));
	struct h2up_stream *s = calloc(1, sizeof(*s));
	struct bufferevent *pair[2] = { NULL, NULL };

	if (!up || !s || !(s->body = evbuffer_new()) ||
	    bufferevent_pair_new(w->base, BEV_OPT_DEFER_CALLBACKS, pair) < 0)
		goto short_of;
	if (!h && !(h = conn_new(w, pool, server))) {
		bool ours = errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM ||
		            errno == EADDRNOTAVAIL;
		bufferevent_free(pair[0]);
		bufferevent_free(pair[1]);
		evbuffer_free(s->body);
		free(s);
		free(up);
		return ours ? -2 : -1;
	}
	up->w = w;
	up->pool = pool;
	up->server = server;
	up->gen = w->gen;
	up->h2 = s;
	up->bev = pair[0];
	bufferevent_setcb(up->bev, cb->read, cb->write, cb->event, up);
	connread_init(&up->rd, w->base, up->bev, false, false, cb->read, cb->event, up);
	s->conn = h;
	s->up = up;
	s->cb = *cb;
	s->id = -1;
	s->pair = pair[1];
	size_t head_max = w->cfg->limits.max_header_bytes + 8192; /* with the proxy's X-Forwarded-* */
	http1_parser_init(&s->req, HTTP1_REQUEST, head_max, head_max);
	event_assign(&s->notify, w->base, -1, 0, notify_cb, s);
	bufferevent_setcb(s->pair, pair_read_cb, pair_write_cb, pair_event_cb, s);
	bufferevent_enable(s->pair, EV_READ | EV_WRITE);
	s->next = h->streams;
	if (s->next)
		s->next->prev = s;
	h->streams = s;
	h->nstreams++;
	evtimer_del(&h->timer);
	if (h->connected)
		notify(s, BEV_EVENT_CONNECTED);
	*out = up;
	return 0;
short_of:
	if (pair[0]) {
		bufferevent_free(pair[0]);
		bufferevent_free(pair[1]);
	}
	if (s && s->body)
		evbuffer_free(s->body);
	free(s);
	free(up);
	return -2;
}

void h2up_release(struct upstream_conn *up)
{
	struct h2up_stream *s = up->h2;
	struct h2up_conn *h = s->conn;

	event_del(&s->notify);
	if (s->id >= 0 && !s->closed) {
		nghttp2_session_set_stream_user_data(h->ng, s->id, NULL);
		if (s->resp != RESP_DONE || !s->body_end)
			(void)nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
	} else if (s->id >= 0) {
		nghttp2_session_set_stream_user_data(h->ng, s->id, NULL);
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->nstreams--;
	bufferevent_free(s->pair);
	if (s->head)
		evbuffer_free(s->head);
	evbuffer_free(s->body);
	free(s);
	up->h2 = NULL;
	if (h->dead && h->nstreams == 0)
		conn_free(h);
	else
		schedule_flush(h);
}

void h2up_close_idle(struct worker *w)
{
	struct h2up_conn *h = w->h2up;

	while (h) {
		struct h2up_conn *next = h->next;
		if (h->nstreams == 0)
			conn_free(h);
		h = next;
	}
}
