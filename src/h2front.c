/* h2front: HTTP/2 client connections, each stream bridged to the proxy as
 * an HTTP/1.1 exchange (include/weir/h2front.h says why and how).
 *
 * A connection: the client's bytes go into h2session_recv; what the session
 * has for the client is moved to the socket by one deferred event per
 * connection (h2conn_flush), so the streams that answered during one loop
 * iteration leave in one write. The connection's timer closes it when it
 * has had no stream for timeouts.idle, resets streams stalled for
 * timeouts.idle (a response the client gives no window for, or a complete
 * response to a request the client has not ended), and bounds the last
 * write.
 *
 * A stream: on_request opens the proxy side (proxy_stream_open) on a
 * bufferevent without a socket and puts the converted head into its input;
 * body bytes follow there (chunk-framed when the request has no
 * content-length) while the proxy reads, and the client's window is given
 * back once the proxy has them. The proxy's response is read from that
 * bufferevent's output at the connection's flush (stream_out_cb marks the
 * stream, bridge_relay reads): its head (after any 1xx) becomes HEADERS,
 * its body DATA, its end END_STREAM. The proxy side closes either from
 * here (the stream ended: proxy_stream_close) or on its own
 * (h2front_stream_gone); whichever comes first unlinks the other. Ended
 * streams' bufferevents are kept for later ones. */
#include "weir/h2front.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "weir/admission.h"
#include "weir/blockpool.h"
#include "weir/clock.h"
#include "weir/connread.h"
#include "weir/h2session.h"
#include "weir/headbuf.h"
#include "weir/http1.h"
#include "weir/log.h"
#include "weir/proxy.h"
#include "weir/runtime-t.h"
#include "weir/tls.h"
#include "weir/worker-t.h"

/* The session's output is moved to the socket while less than OUT_HIGH is
 * queued there, and again once it drained to OUT_LOW. */
#define OUT_HIGH (256 * 1024)
#define OUT_LOW (64 * 1024)
/* The proxy rewrites a response head it accepted (at least 64 KiB, or the
 * request head limit) and may add a field or two. */
#define RESP_HEAD_MIN (64 * 1024)

struct h2conn {
	struct worker *w;
	struct bufferevent *bev;
	struct connread rd;
	struct h2session *sess;
	struct event timer;                 /* idle, stalled streams, last write */
	struct event flush;                 /* deferred: the streams' responses into the
	                                       session, its output to the socket */
	struct h2front_stream *dirty;       /* streams the proxy wrote to since the last
	                                       flush (stream_out_cb) */
	struct h2conn *prev, *next;         /* the worker's HTTP/2 connections */
	uint64_t active_ms;                 /* last read, or last stream closed */
	bool tls;
	bool closing;                       /* the session is done: close once written */
	char peer[48];
};

enum resp_phase {
	RESP_HEAD,                          /* reading the proxy's response head */
	RESP_BODY,                          /* relaying its body */
	RESP_DONE                           /* END_STREAM queued (or the stream reset) */
};

struct h2front_stream {
	struct h2conn *h;
	struct h2stream *st;
	struct client_conn *c;              /* the proxy side; NULL once it closed */
	struct bufferevent *bev;            /* the proxy side's (no socket): the bridge
	                                       fills its input and reads its output;
	                                       NULL once released */
	struct evbuffer_cb_entry *out_watch; /* stream_out_cb on its output */
	struct evbuffer_cb_entry *in_watch;  /* stream_in_cb on its input (a body) */
	struct h2front_stream *dirty_prev, *dirty_next; /* in h->dirty when DIRTY */
	bool dirty;
	bool req_chunked;                   /* the body is chunk-framed for the proxy */
	bool req_head;                      /* a HEAD request: no response body */
	uint64_t unconsumed;                /* request body bytes the proxy has not taken */
	enum resp_phase phase;
	bool paused;                        /* not relaying: the stream's queue is full */
	bool head_taken;                    /* the parser adopted the proxy's head
	                                       (h2front_stream_take_head) */
	enum http1_body body;
	uint64_t remaining;                 /* LENGTH: body bytes to come */
	uint64_t pending;                   /* CHUNKED: data bytes at the front of the proxy's
	                                       output that the decoder has passed already */
	struct http1_chunked chunked;
	struct evbuffer *trailers;          /* CHUNKED: its trailer section, as it comes */
	struct http1_parser parser;         /* the response head; last: on_request zeroes
	                                       only what comes before it */
};

static void h2conn_close(struct h2conn *h);

/* ---- the connection ------------------------------------------------------ */

static void h2conn_schedule_flush(struct h2conn *h)
{
	if (!event_pending(&h->flush, EV_WRITE, NULL))
		event_active(&h->flush, EV_WRITE, 0);
}

static void h2conn_arm_timer(struct h2conn *h)
{
	uint64_t idle = h->w->cfg->timeouts.idle_ms;
	uint64_t now = clock_now_ms();
	uint64_t stall = h2session_oldest_stall(h->sess);
	uint64_t at;

	if (h->closing)
		at = now + idle;
	else if (h2session_streams(h->sess) == 0)
		at = h->active_ms + idle;
	else if (stall)
		at = stall + idle;
	else {
		evtimer_del(&h->timer);
		return;
	}
	struct timeval tv = clock_ms_to_tv(at > now ? at - now : 0);
	evtimer_add(&h->timer, &tv);
}

/* The session's output is many small pieces (a 3 B response is a HEADERS
 * frame, a DATA frame header and its payload): each evbuffer_add runs the
 * output's callbacks, about 270 instructions. Pieces up to SINK_BATCH are
 * gathered here and added together; larger ones go straight in, after what
 * was gathered before them. */
#define SINK_BATCH 4096

struct sink {
	struct evbuffer *out;
	size_t len;
	uint8_t buf[SINK_BATCH];
};

static int sink_drain(struct sink *k)
{
	int r = k->len ? evbuffer_add(k->out, k->buf, k->len) : 0;

	k->len = 0;
	return r;
}

static int h2conn_sink(const uint8_t *data, size_t len, void *arg)
{
	struct sink *k = arg;

	if (len > SINK_BATCH - k->len && sink_drain(k) < 0)
		return -1;
	if (len > SINK_BATCH)
		return evbuffer_add(k->out, data, len);
	memcpy(k->buf + k->len, data, len);
	k->len += len;
	return 0;
}

/* Move what the session has for the client into the socket's output, as
 * long as less than OUT_HIGH waits there. May close H. */
static void h2conn_flush(struct h2conn *h)
{
	struct evbuffer *out = bufferevent_get_output(h->bev);
	uint64_t now = clock_now_ms();
	struct sink k;

	k.out = out;
	k.len = 0;
	size_t queued = evbuffer_get_length(out);
	if (queued < OUT_HIGH &&
	    (h2session_output_to(h->sess, h2conn_sink, &k, OUT_HIGH - queued, now) < 0 || sink_drain(&k) < 0)) {
		h2conn_close(h);
		return;
	}
	if (h2session_done(h->sess) && !h->closing) {
		h->closing = true;
		connread_disable(&h->rd);
	}
	tls_write_now(h->bev); /* h2 over TLS: in this pass, not at the next EPOLLOUT */
	if (h->closing && tls_all_sent(h->bev)) { /* (TLS: records under it too) */
		h2conn_close(h);
		return;
	}
	h2conn_arm_timer(h);
}

static void bridge_relay(struct h2front_stream *s);
static void dirty_unlink(struct h2front_stream *s);

static void h2conn_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct h2conn *h = arg;
	(void)fd;
	(void)events;

	/* what the proxy wrote for each stream, into the session, then out in
	 * one write */
	while (h->dirty) {
		struct h2front_stream *s = h->dirty;
		dirty_unlink(s);
		bridge_relay(s);
	}
	h2conn_flush(h);
}

static void h2conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2conn *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint64_t now = clock_now_ms();

	h->active_ms = now;
	while (!h->closing && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		int r = h2session_recv(h->sess, v.iov_base, v.iov_len, now);
		evbuffer_drain(in, v.iov_len);
		if (r < 0) {
			enum h2session_abuse a = h2session_abuse(h->sess);
			if (a != H2SESSION_ABUSE_NONE && a != H2SESSION_ABUSE_PROTOCOL)
				log_warn("http2 client %s: %s, connection closed", h->peer, h2session_abuse_name(a));
			h->closing = true;
			connread_disable(&h->rd);
		}
	}
	evbuffer_drain(in, evbuffer_get_length(in)); /* after the end: ignored */
	h2conn_flush(h);
}

static void h2conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h2conn_flush(arg);
}

static void h2conn_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct h2conn *h = arg;

	if (h->tls && (events & BEV_EVENT_CONNECTED))
		return;
	if (h->tls && tls_handshake_failed(bev, events))
		admission_tls_handshake_failed(&h->w->rt->admission);
	h2conn_close(h); /* EOF, error or write timeout: the client is gone */
}

static void h2conn_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct h2conn *h = arg;
	uint64_t now = clock_now_ms();
	uint64_t idle = h->w->cfg->timeouts.idle_ms;
	(void)fd;
	(void)events;

	if (h->closing) {
		h2conn_close(h); /* the client did not take the last bytes */
		return;
	}
	if (h2session_streams(h->sess) == 0) {
		if (now >= h->active_ms + idle)
			h2session_shutdown(h->sess); /* GOAWAY; done once it is out */
	} else {
		(void)h2session_expire_stalled(h->sess, now, idle);
	}
	h2conn_flush(h);
}

static void h2conn_close(struct h2conn *h)
{
	struct worker *w = h->w;

	evtimer_del(&h->timer);
	event_del(&h->flush);
	connread_stop(&h->rd);
	/* Every stream still open is closed (on_close), and its proxy side. */
	h2session_free(h->sess);
	h->sess = NULL;
	tls_bufferevent_free(h->bev);
	if (h->prev)
		h->prev->next = h->next;
	else
		w->clients.h2open = h->next;
	if (h->next)
		h->next->prev = h->prev;
	w->clients.nh2--;
	admission_leave(&w->rt->admission);
	free(h);
	if (w->draining && w->clients.nopen == 0 && w->clients.nh2 == 0)
		event_base_loopexit(w->base, NULL);
}

/* ---- spare stream bufferevents --------------------------------------------- */

/* A stream's proxy side is a client connection on a bufferevent without a
 * socket (bufferevent_socket_new with -1): the bridge puts the request
 * into its input and runs its read callback, takes the response from its
 * output and runs its write callback, both deferred as a socket's would be.
 * Its write side stays disabled (enabled, every write into the output
 * would add its write event) and its EV_READ is never enabled: whether the
 * proxy reads is connread's flag (connread_init_memory).
 *
 * Making and freeing one per stream costs, so an ended stream's is kept
 * for a later one: the proxy lets go of it first (h2front_stream_bev_release),
 * then the bridge (bridge_release), which empties and parks it.
 *
 * Its callbacks are deferred: some may still be scheduled for the next
 * loop pass, and would call a new owner's. So a released one gets no-op
 * callbacks (libevent clears a pending flag only by calling one: with none
 * it would stay set for the next owner), and a parked one is reused only
 * from a later pass than the one that parked it: the sweep runs on a timer,
 * after the deferred callbacks of the pass before (libevent runs those
 * before the timers that its next poll makes active, as weir's events
 * share one priority), and takes the ones parked at another cached loop
 * time than its own pass's (the cache is on: worker.c does not set
 * EVENT_BASE_FLAG_NO_CACHE_TIME, so every callback of one pass sees the
 * same time). */

#define SPARE_SWEEP_US 1000

static void stream_bev_noop(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)arg;
}

static void stream_bev_noop_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

static uint64_t loop_time_us(struct worker *w)
{
	struct timeval tv;

	event_base_gettimeofday_cached(w->base, &tv);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void spare_sweep_arm(struct worker *w)
{
	static const struct timeval later = { 0, SPARE_SWEEP_US };

	evtimer_add(w->clients.stream_bev_sweep, &later);
}

static void spare_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct proxy_clients *pc = &w->clients;
	uint64_t now = loop_time_us(w);
	uint32_t i = 0;
	(void)fd;
	(void)what;

	/* parked in time order: those of earlier passes are a prefix (a time
	 * other than this pass's, earlier unless the clock stepped back) */
	for (; i < pc->nstream_bev_parked && pc->stream_bev_parked[i].parked_us != now; i++) {
		if (pc->nstream_bev_ready < H2FRONT_SPARE_BEVS)
			pc->stream_bev_ready[pc->nstream_bev_ready++] = pc->stream_bev_parked[i].bev;
		else
			bufferevent_free(pc->stream_bev_parked[i].bev);
	}
	pc->nstream_bev_parked -= i;
	memmove(pc->stream_bev_parked, pc->stream_bev_parked + i,
	        pc->nstream_bev_parked * sizeof(pc->stream_bev_parked[0]));
	if (pc->nstream_bev_parked)
		spare_sweep_arm(w);
}

void h2front_stream_bev_release(struct bufferevent *bev)
{
	bufferevent_setcb(bev, stream_bev_noop, stream_bev_noop, stream_bev_noop_event, NULL);
}

/* BEV, which neither the proxy nor the bridge uses any more: emptied and
 * parked for a later stream, or freed. */
static void stream_bev_park(struct worker *w, struct bufferevent *bev)
{
	struct proxy_clients *pc = &w->clients;

	h2front_stream_bev_release(bev); /* (the proxy's own release, when it never had it) */
	if (pc->nstream_bev_parked == H2FRONT_SPARE_BEVS ||
	    (!pc->stream_bev_sweep && !(pc->stream_bev_sweep = evtimer_new(w->base, spare_sweep_cb, w)))) {
		bufferevent_free(bev);
		return;
	}
	/* back as stream_bev_take makes it: empty, no watermarks, nothing
	 * enabled (nothing sets timeouts on it: the proxy's states and
	 * h2front's timer time a stream) */
	struct evbuffer *in = bufferevent_get_input(bev), *out = bufferevent_get_output(bev);
	short enabled = bufferevent_get_enabled(bev);
	if (enabled)
		bufferevent_disable(bev, enabled);
	evbuffer_drain(in, evbuffer_get_length(in));
	/* a socket bufferevent keeps its output's front frozen */
	evbuffer_unfreeze(out, 1);
	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_freeze(out, 1);
	bufferevent_setwatermark(bev, EV_READ | EV_WRITE, 0, 0);
	pc->stream_bev_parked[pc->nstream_bev_parked++] = (struct h2front_parked_bev){ bev, loop_time_us(w) };
	if (pc->nstream_bev_parked == 1)
		spare_sweep_arm(w);
}

/* A bufferevent for a new stream's proxy side: a ready one, else a new
 * one. NULL when out of memory. */
static struct bufferevent *stream_bev_take(struct worker *w)
{
	struct proxy_clients *pc = &w->clients;
	struct bufferevent *bev;

	if (pc->nstream_bev_ready) {
		bev = pc->stream_bev_ready[--pc->nstream_bev_ready];
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		return bev;
	}
	if (!(bev = bufferevent_socket_new(w->base, -1, BEV_OPT_DEFER_CALLBACKS)))
		return NULL;
	bufferevent_disable(bev, EV_WRITE); /* (enabled in a new one) */
	return bev;
}

void h2front_free_spares(struct worker *w)
{
	struct proxy_clients *pc = &w->clients;

	while (pc->nstream_bev_parked)
		bufferevent_free(pc->stream_bev_parked[--pc->nstream_bev_parked].bev);
	while (pc->nstream_bev_ready)
		bufferevent_free(pc->stream_bev_ready[--pc->nstream_bev_ready]);
	if (pc->stream_bev_sweep) {
		event_free(pc->stream_bev_sweep);
		pc->stream_bev_sweep = NULL;
	}
}

/* ---- a stream's response, from the proxy's output ------------------------ */

/* Give the client the window for the body bytes the proxy has taken: put
 * into its input while it reads, or read from there since. */
static void bridge_consumed(struct h2front_stream *s)
{
	if (s->unconsumed && s->st) {
		h2session_consume(s->st, s->unconsumed);
		s->unconsumed = 0;
	}
}

/* The response cannot be relayed (a head the stream cannot take, a framing
 * error): reset the stream. on_close follows. */
static void bridge_fail(struct h2front_stream *s)
{
	s->phase = RESP_DONE;
	if (s->st)
		h2session_reset(s->st, H2SESSION_INTERNAL_ERROR);
}

static void bridge_end_with(struct h2front_stream *s, const struct h2conv_field *fields, size_t n)
{
	s->phase = RESP_DONE;
	if (s->st && h2session_send_end(s->st, fields, n) < 0)
		h2session_reset(s->st, H2SESSION_INTERNAL_ERROR);
}

static void bridge_end(struct h2front_stream *s)
{
	bridge_end_with(s, NULL, 0);
}

/* At most this many trailer fields go to the client (gRPC sends 2 or 3). */
#define MAX_TRAILERS 32

/* The trailer section in S->trailers is complete ("name: value" CRLF lines,
 * then CRLF; the proxy's chunked decoder validated it): end the stream
 * with its fields, names in lower case as HTTP/2 wants them. */
static void bridge_end_trailers(struct h2front_stream *s)
{
	struct h2conv_field f[MAX_TRAILERS];
	size_t n = 0;
	size_t len = evbuffer_get_length(s->trailers);
	char *buf = (char *)evbuffer_pullup(s->trailers, -1);

	for (size_t i = 0; buf && i < len && n < MAX_TRAILERS;) {
		char *eol = memchr(buf + i, '\n', len - i);
		size_t end = eol ? (size_t)(eol - buf) : len;
		char *colon = memchr(buf + i, ':', end - i);
		if (colon) {
			size_t v = (size_t)(colon - buf) + 1, ve = end;
			while (ve > v && (buf[ve - 1] == '\r' || buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
				ve--;
			while (v < ve && (buf[v] == ' ' || buf[v] == '\t'))
				v++;
			for (char *p = buf + i; p < colon; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			f[n++] = (struct h2conv_field){ buf + i, (size_t)(colon - buf) - i, buf + v, ve - v };
		}
		i = end + 1;
	}
	bridge_end_with(s, f, n);
	evbuffer_free(s->trailers);
	s->trailers = NULL;
}

/* Queue up to LEN bytes at the front of IN as DATA; returns how many the
 * stream took. Fewer than LEN: its queue is full, relaying stops until
 * on_writable. */
static size_t bridge_send(struct h2front_stream *s, struct evbuffer *in, size_t len)
{
	struct evbuffer_iovec v;

	if (evbuffer_peek(in, (ev_ssize_t)len, NULL, &v, 1) < 1)
		return 0;
	size_t want = v.iov_len < len ? v.iov_len : len;
	size_t took = h2session_send_data(s->st, v.iov_base, want);
	evbuffer_drain(in, took);
	if (took < want)
		s->paused = true;
	return took;
}

/* The response head at the front of IN is complete. Returns 0, -1 when it
 * cannot be relayed. */
static int bridge_head(struct h2front_stream *s, struct evbuffer *in, const char *buf)
{
	struct http1_head *hd = &s->parser.head;
	size_t head_len = hd->head_len;

	if (hd->status < 200) {
		/* Interim: relayed, and the final one follows. */
		if (h2session_respond_http1(s->st, buf, hd, false) < 0)
			return -1;
		evbuffer_drain(in, head_len);
		http1_parser_init(&s->parser, HTTP1_RESPONSE, s->parser.max_head_bytes, 0);
		return 0;
	}
	http1_response_body(hd, s->req_head);
	s->body = hd->body;
	s->remaining = hd->content_length;
	bool end = s->body == HTTP1_BODY_NONE || (s->body == HTTP1_BODY_LENGTH && s->remaining == 0);
	if (h2session_respond_http1(s->st, buf, hd, end) < 0)
		return -1;
	evbuffer_drain(in, head_len);
	if (end) {
		s->phase = RESP_DONE;
		return 0;
	}
	if (s->body == HTTP1_BODY_CHUNKED)
		http1_chunked_init(&s->chunked);
	s->pending = 0;
	s->phase = RESP_BODY;
	return 0;
}

/* Relay the chunked body at the front of IN: data as DATA, framing dropped
 * (weir's own chunking carries no trailers), the last chunk as END_STREAM.
 * Returns 0, -1 on a framing error. */
static int bridge_chunked(struct h2front_stream *s, struct evbuffer *in)
{
	while (!s->paused && s->phase == RESP_BODY && evbuffer_get_length(in) > 0) {
		if (s->pending) {
			s->pending -= bridge_send(s, in, s->pending);
			continue;
		}
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return -1;
		enum http1_chunk_part part;
		ssize_t n = http1_chunked_step(&s->chunked, v.iov_base, v.iov_len, &part);
		if (n < 0)
			return -1;
		if (part == HTTP1_CHUNK_DATA) {
			s->pending = (uint64_t)n;
			continue;
		}
		if (part == HTTP1_CHUNK_TRAILERS) {
			evbuffer_drain(in, (size_t)n);
			if (!(s->trailers = evbuffer_new()))
				return -1;
			continue;
		}
		if (s->trailers) {
			if (evbuffer_remove_buffer(in, s->trailers, (size_t)n) != (int)n)
				return -1;
			if (part == HTTP1_CHUNK_LAST)
				bridge_end_trailers(s);
			continue;
		}
		evbuffer_drain(in, (size_t)n);
		if (part == HTTP1_CHUNK_LAST)
			bridge_end(s);
	}
	return 0;
}

bool h2front_stream_take_head(struct h2front_stream *s, const struct http1_head *head)
{
	if (!s->bev || s->phase != RESP_HEAD || evbuffer_get_length(bufferevent_get_output(s->bev)) != 0)
		return false;
	s->head_taken = http1_parser_adopt(&s->parser, head);
	return s->head_taken;
}

bool h2front_stream_take_back(struct h2front_stream *s)
{
	/* The bridge reads at the connection's flush: what the proxy wrote in
	 * this callback waits in its output (which it discards), unparsed. */
	if (!s->bev || s->phase != RESP_HEAD)
		return false;
	http1_parser_init(&s->parser, HTTP1_RESPONSE, s->parser.max_head_bytes, 0);
	s->head_taken = false;
	return true;
}

#ifdef WEIR_SELF_CHECKS
/* Debug and sanitizer builds: the head the proxy described is the one it
 * wrote, to the last field and span. */
static void check_taken_head(const struct h2front_stream *s, const char *buf)
{
	struct http1_parser p;

	http1_parser_init(&p, HTTP1_RESPONSE, s->parser.max_head_bytes, 0);
	if (http1_parse_head(&p, buf, s->parser.head.head_len) != HTTP1_DONE ||
	    !http1_head_equal(&p.head, &s->parser.head)) {
		log_error("h2front: the response head the proxy described differs from its parse");
		abort();
	}
}
#endif

/* Relay the response at the front of IN (the proxy's output), as far as
 * the stream's queue takes it. */
static void bridge_relay_from(struct h2front_stream *s, struct evbuffer *in)
{
	while (!s->paused && s->phase != RESP_DONE && evbuffer_get_length(in) > 0) {
		if (s->phase == RESP_HEAD) {
			const char *buf;
			enum http1_result r = headbuf_parse(&s->parser, in, s->parser.max_head_bytes + 1, &buf);
			if (r == HTTP1_AGAIN)
				return;
#ifdef WEIR_SELF_CHECKS
			if (r == HTTP1_DONE && s->head_taken)
				check_taken_head(s, buf);
#endif
			if (r == HTTP1_ERROR || bridge_head(s, in, buf) < 0) {
				bridge_fail(s);
				return;
			}
			continue;
		}
		if (s->body == HTTP1_BODY_CHUNKED) {
			if (bridge_chunked(s, in) < 0)
				bridge_fail(s);
			continue;
		}
		size_t len = evbuffer_get_length(in);
		if (s->body == HTTP1_BODY_LENGTH && len > s->remaining)
			len = (size_t)s->remaining;
		size_t took = bridge_send(s, in, len);
		if (s->body == HTTP1_BODY_LENGTH) {
			s->remaining -= took;
			if (s->remaining == 0)
				bridge_end(s);
		}
	}
	if (s->phase == RESP_DONE)
		evbuffer_drain(in, evbuffer_get_length(in)); /* after the end: ignored */
}

/* Relay what the proxy has written, as far as the stream's queue takes it.
 * Its front is frozen (a socket bufferevent's: only its own write would
 * drain it), thawed for this; what left it gives the proxy its write
 * callback, as a socket's write would. */
static void bridge_relay(struct h2front_stream *s)
{
	if (!s->bev || !s->st)
		return;
	struct evbuffer *in = bufferevent_get_output(s->bev);
	size_t before = evbuffer_get_length(in);

	evbuffer_unfreeze(in, 1);
	bridge_relay_from(s, in);
	evbuffer_freeze(in, 1);
	if (s->c && evbuffer_get_length(in) < before)
		bufferevent_trigger(s->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

static void dirty_unlink(struct h2front_stream *s)
{
	if (!s->dirty)
		return;
	if (s->dirty_prev)
		s->dirty_prev->dirty_next = s->dirty_next;
	else
		s->h->dirty = s->dirty_next;
	if (s->dirty_next)
		s->dirty_next->dirty_prev = s->dirty_prev;
	s->dirty_prev = s->dirty_next = NULL;
	s->dirty = false;
}

/* The proxy wrote into its output: relay at the connection's flush (one
 * pass for every stream that got bytes, then one write to the socket). */
static void stream_out_cb(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	struct h2front_stream *s = arg;
	struct h2conn *h = s->h;
	(void)out;

	if (info->n_added == 0 || s->dirty)
		return;
	s->dirty = true;
	s->dirty_prev = NULL;
	s->dirty_next = h->dirty;
	if (h->dirty)
		h->dirty->dirty_prev = s;
	h->dirty = s;
	h2conn_schedule_flush(h);
}

/* The proxy read its input empty: body bytes that waited there while it
 * did not read are taken now, window back. (Called from within the
 * proxy's drain: h2session_consume only queues a WINDOW_UPDATE.) */
static void stream_in_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct h2front_stream *s = arg;

	if (info->n_deleted == 0 || !s->unconsumed || evbuffer_get_length(in) != 0)
		return;
	bridge_consumed(s);
	h2conn_schedule_flush(s->h);
}

/* The bridge is done with the proxy side's bufferevent, after the proxy
 * (s->c is NULL): its watches off, parked for a later stream. */
static void bridge_release(struct h2front_stream *s)
{
	dirty_unlink(s);
	if (!s->bev)
		return;
#ifdef WEIR_SELF_CHECKS
	if (s->c) {
		log_error("h2front: a stream's bufferevent parked while the proxy still uses it");
		abort();
	}
#endif
	if (s->out_watch)
		evbuffer_remove_cb_entry(bufferevent_get_output(s->bev), s->out_watch);
	if (s->in_watch)
		evbuffer_remove_cb_entry(bufferevent_get_input(s->bev), s->in_watch);
	s->out_watch = s->in_watch = NULL;
	stream_bev_park(s->h->w, s->bev);
	s->bev = NULL;
	/* Body bytes the proxy never took (it answered early and closed) are
	 * dropped with its input: the client gets their window back, or its
	 * stream and connection windows would stay shut for good. Later DATA
	 * is dropped as it comes (on_data). */
	if (s->unconsumed && s->st) {
		bridge_consumed(s);
		h2conn_schedule_flush(s->h);
	}
}

/* Request bytes (the head, body, chunk framing) are put straight into the
 * proxy side's input; its back is frozen (a socket bufferevent's: only its
 * own read would add), thawed for this. The read callback follows,
 * deferred as a socket's, while the proxy reads; when it resumes reading,
 * connread runs it for what waited (connread_init_memory). */
static int bridge_put(struct h2front_stream *s, const void *data, size_t len)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	evbuffer_unfreeze(in, 0);
	int r = evbuffer_add(in, data, len);
	evbuffer_freeze(in, 0);
	return r;
}

/* Run the proxy's read callback (deferred) if it reads now. Returns
 * whether it does. */
static bool bridge_wake_reader(struct h2front_stream *s)
{
	if (!s->c || !proxy_stream_reading(s->c))
		return false;
	bufferevent_trigger(s->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	return true;
}

void h2front_stream_gone(struct h2front_stream *s, bool cut)
{
	struct h2conn *h = s->h;

	s->c = NULL;
	bridge_relay(s); /* what the proxy wrote before it closed */
	bridge_release(s);
	if (s->phase != RESP_DONE) {
		if (!cut && !s->paused && s->phase == RESP_BODY && s->body == HTTP1_BODY_CLOSE)
			bridge_end(s); /* a body delimited by the close: complete */
		else
			bridge_fail(s);
	}
	h2conn_schedule_flush(h);
}

/* ---- the session's callbacks --------------------------------------------- */

static void on_request(struct h2stream *st, const char *head, size_t len, const struct http1_head *parsed,
                       const struct h2conv_request *req, void *arg)
{
	struct h2conn *h = arg;
	struct worker *w = h->w;
	struct bufferevent *bev = NULL;
	/* Not zeroed whole: the parser's 2 KiB header array needs no zeroing
	 * (http1_parser_init sets everything the parser reads). */
	struct h2front_stream *s = blockpool_alloc(sizeof(*s));

	if (s)
		memset(s, 0, offsetof(struct h2front_stream, parser));
	if (!s || !(bev = stream_bev_take(w))) {
		blockpool_free(s);
		h2session_reset(st, H2SESSION_REFUSED_STREAM);
		return;
	}
	s->h = h;
	s->st = st;
	s->bev = bev;
	s->req_chunked = req->chunked;
	s->req_head = parsed->is_head;
	size_t head_max = w->cfg->limits.max_header_bytes > RESP_HEAD_MIN ? w->cfg->limits.max_header_bytes
	                                                                   : RESP_HEAD_MIN;
	http1_parser_init(&s->parser, HTTP1_RESPONSE, 2 * head_max, 0);
	h2session_stream_set_owner(st, s);
	s->c = proxy_stream_open(w, bev, h->peer, h->tls, s, parsed);
	if (!s->c) {
		bridge_release(s);
		s->phase = RESP_DONE;
		h2session_reset(st, H2SESSION_REFUSED_STREAM);
		return;
	}
	s->out_watch = evbuffer_add_cb(bufferevent_get_output(bev), stream_out_cb, s);
	if (!s->out_watch || bridge_put(s, head, len) < 0) {
		bridge_fail(s);
		return;
	}
	bridge_wake_reader(s);
}

static void on_data(struct h2stream *st, const uint8_t *data, size_t len, void *arg)
{
	struct h2front_stream *s = h2session_stream_owner(st);
	(void)arg;

	if (!s || !s->bev || !s->c || len == 0) {
		if (len)
			h2session_consume(st, len); /* nobody takes it: dropped */
		return;
	}
	/* The window comes back once the proxy has the bytes: at once while it
	 * reads, else when it has read its input empty (stream_in_cb). */
	if (!s->in_watch && !(s->in_watch = evbuffer_add_cb(bufferevent_get_input(s->bev), stream_in_cb, s))) {
		bridge_fail(s);
		return;
	}
	int r = 0;
	if (s->req_chunked) {
		/* A zero-length chunk would end the body: empty DATA is skipped above. */
		char line[HTTP1_CHUNK_SIZE_LINE_MAX];
		size_t n = http1_chunk_size_line(len, line);
		r |= bridge_put(s, line, n);
		r |= bridge_put(s, data, len);
		r |= bridge_put(s, "\r\n", 2);
	} else {
		r = bridge_put(s, data, len);
	}
	if (r < 0) {
		bridge_fail(s);
		return;
	}
	s->unconsumed += len;
	if (bridge_wake_reader(s))
		bridge_consumed(s);
}

static void on_end(struct h2stream *st, const struct h2conv_field *trailers, size_t n, void *arg)
{
	struct h2front_stream *s = h2session_stream_owner(st);
	(void)trailers; /* the proxy forwards no request trailers (RFC 9110 6.5.1 lets it drop them) */
	(void)n;
	(void)arg;

	if (!s || !s->bev || !s->c || !s->req_chunked)
		return;
	if (bridge_put(s, "0\r\n\r\n", 5) < 0)
		bridge_fail(s);
	else
		bridge_wake_reader(s);
}

static void on_writable(struct h2stream *st, void *arg)
{
	struct h2front_stream *s = h2session_stream_owner(st);
	(void)arg;

	if (!s || !s->paused)
		return;
	s->paused = false;
	bridge_relay(s);
	if (s->c == NULL && s->phase != RESP_DONE && !s->paused) {
		/* The proxy side closed while the stream was paused: what it had
		 * written has now gone out. */
		if (s->body == HTTP1_BODY_CLOSE)
			bridge_end(s);
		else
			bridge_fail(s);
	}
}

static void on_close(struct h2stream *st, uint32_t error_code, bool by_client, void *arg)
{
	struct h2front_stream *s = h2session_stream_owner(st);
	struct h2conn *h = arg;

	h->active_ms = clock_now_ms();
	if (!s)
		return;
	h2session_stream_set_owner(st, NULL);
	s->st = NULL;
	if (s->c) {
		struct client_conn *c = s->c;
		s->c = NULL;
		/* weir's own PROTOCOL_ERROR reset: the client broke the stream */
		proxy_stream_close(c, !by_client && error_code == H2SESSION_PROTOCOL_ERROR);
	}
	bridge_release(s);
	if (s->trailers)
		evbuffer_free(s->trailers);
	blockpool_free(s);
}

static const struct h2session_callbacks session_cbs = {
	.on_request = on_request,
	.on_data = on_data,
	.on_end = on_end,
	.on_writable = on_writable,
	.on_close = on_close,
};

/* ---- entry points --------------------------------------------------------- */

void h2front_adopt(struct worker *w, struct bufferevent *bev, const char *peer, bool tls)
{
	struct h2conn *h = calloc(1, sizeof(*h));
	struct h2session_limits lim;
	char err[128];

	if (!h)
		goto fail;
	h2session_limits_default(&lim, w->cfg->limits.h2_max_streams, w->cfg->limits.max_header_bytes);
	h->sess = h2session_new(&lim, &session_cbs, h, clock_now_ms(), err, sizeof(err));
	if (!h->sess) {
		log_warn("http2 client %s: %s", peer, err);
		free(h);
		goto fail;
	}
	h->w = w;
	h->bev = bev;
	h->tls = tls;
	h->active_ms = clock_now_ms();
	snprintf(h->peer, sizeof(h->peer), "%s", peer);
	evtimer_assign(&h->timer, w->base, h2conn_timer_cb, h);
	event_assign(&h->flush, w->base, -1, 0, h2conn_flush_cb, h);
	h->next = w->clients.h2open;
	if (h->next)
		h->next->prev = h;
	w->clients.h2open = h;
	w->clients.nh2++;
	bufferevent_setcb(bev, h2conn_read_cb, h2conn_write_cb, h2conn_event_cb, h);
	connread_init(&h->rd, w->base, bev, !tls, true, h2conn_read_cb, h2conn_event_cb, h);
	bufferevent_setwatermark(bev, EV_WRITE, OUT_LOW, 0);
	bufferevent_set_max_single_write(bev, OUT_HIGH); /* libevent's own: 16 KiB a write */
	/* A client that stops reading what it is sent is cut after the idle timeout. */
	struct timeval idle = clock_ms_to_tv(w->cfg->timeouts.idle_ms);
	connread_set_timeouts(&h->rd, NULL, &idle);
	connread_set_limit(&h->rd, OUT_HIGH);
	bufferevent_enable(bev, EV_WRITE);
	connread_enable(&h->rd);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		h2conn_read_cb(bev, h); /* the preface the proxy read */
	else
		h2conn_flush(h); /* our SETTINGS */
	return;
fail:
	tls_bufferevent_free(bev);
	admission_leave(&w->rt->admission);
}

uint32_t h2front_shutdown_all(struct worker *w)
{
	for (struct h2conn *h = w->clients.h2open; h; h = h->next) {
		h2session_shutdown(h->sess);
		h2conn_schedule_flush(h);
	}
	return w->clients.nh2;
}

void h2front_close_all(struct worker *w)
{
	while (w->clients.h2open)
		h2conn_close(w->clients.h2open);
}
