/* health: active health checks on the main thread (see health.h).
 *
 * One probe per checked server. Its timer does two jobs: while no check is
 * in flight it starts the next one; while one is, it is that check's
 * deadline (check.timeout covers connect, TLS and the response head). A
 * check is "GET path HTTP/1.1", or on an "h2" pool the same GET as an
 * HTTP/2 stream ("h2" pools, below); the status of the response head
 * decides it. The connection is kept for the next check when the response
 * allows it (keep-alive, a body delimited by length or chunks, read off in
 * full), as Envoy's reuse_connection does: a check then costs one write and
 * one read instead of a connection set up and torn down, which is what
 * keeps a thousand servers checked every second cheap (docs/BENCHMARKS.md). A
 * server that dies closes the connection, and the next check connects anew
 * (and is refused). The next check starts check.interval after the previous
 * one started, rounded up to a grain of the clock (arm_at).
 *
 * Decisions:
 *   - A check fails on: refused/reset/closed before a complete head, a
 *     malformed head, a status outside `expect`, a TLS failure (handshake,
 *     verification), or the timeout; on an "h2" pool also on a TLS server
 *     that does not choose h2 by ALPN, and on what h2check.h lists
 *     (RST_STREAM, GOAWAY, a bad preface or frame, an HTTP/1.x answer).
 *   - Interim 1xx responses are skipped; the final status decides.
 *   - State changes are logged once per change, with the last reason; the
 *     canary decides what a pool without a server up means (canary.h). */
#include "weir/health.h"
#include "weir/textbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "weir/canary.h"
#include "weir/clock.h"
#include "weir/config.h"
#include "weir/h2check.h"
#include "weir/http1.h"
#include "weir/log.h"
#include "weir/runtime-t.h"
#include "weir/tls.h"
#include "weir/upstream.h"

#define CHECK_HEAD_MAX 16384  /* a response head larger than this fails the check */
#define CHECK_REQUEST_FMT "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir-check\r\nAccept: */*\r\n\r\n"
#define CHECK_GRAIN_MAX_MS 100 /* check starts are aligned to a grid of at most this (see arm) */
#define CHECK_H2_OUT_MAX 65536 /* "h2": output the server has not taken; more ends the connection */

struct probe_set;

/* Where a probe stands. Changed only through probe_set_phase(). */
enum probe_phase {
	PROBE_IDLE,       /* between checks; bev is an idle keep-alive connection or NULL */
	PROBE_HEAD,       /* a check in flight: request sent, awaiting the response head */
	PROBE_BODY        /* result recorded; reading the body to reuse the connection */
};

struct probe {
	struct health *h;
	struct probe_set *set;
	enum pool_id pool;
	size_t idx;
	_Atomic uint32_t word;          /* published state: enum check_state */
	struct check_sm sm;
	struct event *timer;            /* next check; or the deadline of the one in flight */
	/* The connection: a bufferevent with TLS; a bare socket without, read
	 * with one recv(2) per wake-up (a bufferevent costs an ioctl(FIONREAD)
	 * and buffer bookkeeping more per read: the cost of a thousand
	 * servers checked every second is mostly system calls). An "h2"
	 * pool's connection is a bufferevent either way (see "h2" below). */
	struct bufferevent *bev;        /* TLS, or "h2"; NULL when no connection is open */
	evutil_socket_t fd;             /* plain; -1 when no connection is open */
	struct event io;                /* plain: EV_WRITE while connecting, then EV_READ */
	bool io_added;
	bool connecting;                /* plain: connect(2) in progress; "h2": until
	                                   connected (TLS: and h2 chosen by ALPN) */
	struct h2check *h2;             /* "h2": the HTTP/2 session on bev */
	struct evbuffer *in;            /* plain: bytes received and not consumed yet */
	enum probe_phase phase;
	bool reused;                    /* the check in flight reuses a connection */
	bool got_bytes;                 /* ... and has read something on it */
	enum http1_body body;           /* PROBE_BODY: its framing */
	uint64_t body_left;             /* PROBE_BODY, Content-Length: bytes still to read */
	struct http1_chunked chunked;   /* PROBE_BODY, chunked */
	struct http1_parser parser;
	uint64_t started_us;
	uint64_t deadline_us;
	struct health_info last;        /* the last result (its state is sm.state) */
};

/* The probes of one configuration. */
struct probe_set {
	const struct weir_config *cfg;
	const struct tls_set *tls;
	struct probe *probes[POOL_COUNT];
	size_t n[POOL_COUNT];
};

struct health {
	struct runtime *rt;
	struct event_base *base;
	struct probe_set *cur;
	struct probe_set *old;          /* until every worker switched */
};

static void probe_set_phase(struct probe *p, enum probe_phase to)
{
	p->phase = to;
}

static const struct cfg_check *probe_check(const struct probe *p)
{
	return &p->set->cfg->pools[p->pool].check;
}

static const char *probe_addr(const struct probe *p)
{
	return p->set->cfg->pools[p->pool].servers[p->idx].text;
}

/* Run P's timer in MS. Unless EXACT, the due time is rounded up to the
 * next multiple of a grain of the monotonic clock, a tenth of the check
 * interval up to CHECK_GRAIN_MAX_MS: the checks due in one grain start in
 * one wake-up of the loop and their answers come back close together,
 * instead of a wake-up or two per check (a thousand servers at 1 s cost
 * 1.5-1.9 % of a core so, 2 % with a 25 ms grain: docs/BENCHMARKS.md). */
static void arm_at(struct probe *p, uint64_t ms, bool exact)
{
	if (!exact) {
		uint64_t grain = probe_check(p)->interval_ms / 10;
		uint64_t now = clock_now_ms(), due = now + ms;
		if (grain > CHECK_GRAIN_MAX_MS)
			grain = CHECK_GRAIN_MAX_MS;
		if (grain > 1)
			due += (grain - due % grain) % grain;
		ms = due - now;
	}
	struct timeval tv = clock_ms_to_tv(ms);
	evtimer_add(p->timer, &tv);
}

static void arm(struct probe *p, uint64_t ms)
{
	arm_at(p, ms, false);
}

static bool probe_open(const struct probe *p)
{
	return p->bev != NULL || p->fd >= 0;
}

static void probe_close(struct probe *p)
{
	if (p->bev) {
		tls_bufferevent_free(p->bev);
		p->bev = NULL;
	}
	h2check_free(p->h2);
	p->h2 = NULL;
	p->connecting = false;
	if (p->fd >= 0) {
		if (p->io_added)
			event_del(&p->io);
		p->io_added = false;
		evutil_closesocket(p->fd);
		p->fd = -1;
	}
	if (p->in)
		evbuffer_drain(p->in, evbuffer_get_length(p->in));
	probe_set_phase(p, PROBE_IDLE);
}

/* A check ended: record it, feed the state machine, publish, schedule the
 * next. The connection is the caller's business. */
static void probe_result(struct probe *p, bool ok, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void probe_result(struct probe *p, bool ok, int status, const char *fmt, ...)
{
	const struct cfg_check *ck = probe_check(p);
	uint64_t now_us = clock_now_us();
	uint64_t took_ms = (now_us - p->started_us) / 1000;
	va_list ap;

	evtimer_del(p->timer);
	p->last.has_last = true;
	p->last.last_ok = ok;
	p->last.last_status = status;
	p->last.last_ms = took_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)took_ms;
	p->last.last_at_ms = now_us / 1000;
	va_start(ap, fmt);
	vsnprintf(p->last.reason, sizeof(p->last.reason), fmt, ap);
	va_end(ap);

	enum check_state before = p->sm.state;
	if (check_sm_result(&p->sm, ok, ck->rise, ck->fall)) {
		atomic_store_explicit(&p->word, (uint32_t)p->sm.state, memory_order_release);
		if (p->sm.state == CHECK_DOWN)
			log_warn("pool %s, server %s: check down after %u failure(s) in a row (%s)",
			         cfg_pool_name(p->pool), probe_addr(p), ck->fall, p->last.reason);
		else
			log_info("pool %s, server %s: check %s (was %s)", cfg_pool_name(p->pool), probe_addr(p),
			         check_state_name(p->sm.state), check_state_name(before));
		if (p->h->rt->canary)
			canary_health_changed(p->h->rt->canary);
	}
	arm(p, took_ms < ck->interval_ms ? ck->interval_ms - took_ms : 0);
}

static void probe_connect(struct probe *p);

/* The check in flight failed on its connection: close it and record the
 * failure; but a reused connection that the server closed before sending
 * anything (an idle close racing our request) gets one new connection. */
static void probe_conn_failed(struct probe *p, const char *why)
{
	bool heard = p->h2 ? h2check_heard(p->h2) : p->got_bytes;
	bool retry = p->reused && !heard && clock_now_us() < p->deadline_us;
	char h2why[HEALTH_REASON_MAX];

	if (p->h2) {
		/* the session's words: its own failure, or the server's GOAWAY
		 * before this end */
		h2check_fail(p->h2, why);
		if (h2check_state(p->h2) == H2CHECK_FAILED) {
			snprintf(h2why, sizeof(h2why), "%s", h2check_reason(p->h2));
			why = h2why;
		}
	}
	probe_close(p);
	if (retry) {
		probe_connect(p);
		return;
	}
	probe_result(p, false, 0, "%s", why);
}

/* PROBE_BODY: read the body off IN so that the connection can serve the
 * next check; IDLE once it is complete, closed when it cannot be reused. */
static void probe_body(struct probe *p, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	if (p->body == HTTP1_BODY_LENGTH) {
		size_t n = p->body_left < len ? (size_t)p->body_left : len;
		evbuffer_drain(in, n);
		p->body_left -= n;
		if (p->body_left == 0)
			probe_set_phase(p, PROBE_IDLE);
	} else if (p->body == HTTP1_BODY_CHUNKED) {
		const char *buf = len ? (const char *)evbuffer_pullup(in, -1) : NULL;
		ssize_t n = buf ? http1_chunked_feed(&p->chunked, buf, len) : 0;
		if (n < 0) {
			probe_close(p);
			return;
		}
		evbuffer_drain(in, (size_t)n);
		if (p->chunked.done)
			probe_set_phase(p, PROBE_IDLE);
	} else {
		probe_set_phase(p, PROBE_IDLE);
	}
	/* Bytes nobody asked for: the connection is out of step. */
	if (p->phase == PROBE_IDLE && evbuffer_get_length(in) > 0)
		probe_close(p);
}

/* STATUS, the final status of the check in flight, decides it. */
static void probe_judge(struct probe *p, int status)
{
	const struct cfg_check *ck = probe_check(p);

	if (check_status_in(ck->expect_bits, status)) {
		probe_result(p, true, status, "status %d", status);
	} else {
		char want[64];
		if (check_expect_format(ck->expect_bits, want, sizeof(want)) < 0)
			snprintf(want, sizeof(want), "...");
		probe_result(p, false, status, "status %d (expect %s)", status, want);
	}
}

/* The response head is complete: judge its status, then keep the connection
 * for the next check when the response allows it. */
static void probe_head_done(struct probe *p, struct evbuffer *in)
{
	struct http1_head *head = &p->parser.head;
	int status = head->status;

	http1_response_body(head, false);
	evbuffer_drain(in, head->head_len);
	p->body = head->body;
	p->body_left = head->content_length;
	http1_chunked_init(&p->chunked);
	if (head->keep_alive && head->body != HTTP1_BODY_CLOSE)
		probe_set_phase(p, PROBE_BODY);
	else
		probe_close(p);
	probe_judge(p, status);
	if (p->phase == PROBE_BODY)
		probe_body(p, in);
}

/* Bytes arrived in IN (the bufferevent's input, or p->in). */
static void probe_input(struct probe *p, struct evbuffer *in)
{
	if (p->phase == PROBE_BODY) {
		probe_body(p, in);
		return;
	}
	if (p->phase == PROBE_IDLE) {
		probe_close(p); /* bytes nobody asked for */
		return;
	}
	p->got_bytes = true;
	for (;;) {
		size_t len = evbuffer_get_length(in);
		const char *buf = (const char *)evbuffer_pullup(in, -1);
		if (!buf)
			return;
		enum http1_result r = http1_parse_head(&p->parser, buf, len);
		if (r == HTTP1_AGAIN)
			return;
		if (r == HTTP1_ERROR) {
			probe_close(p);
			probe_result(p, false, 0, "malformed response head");
			return;
		}
		if (p->parser.head.status >= 200) {
			probe_head_done(p, in);
			return;
		}
		/* Interim 1xx: drop it and parse the final response. */
		evbuffer_drain(in, p->parser.head.head_len);
		http1_parser_init(&p->parser, HTTP1_RESPONSE, CHECK_HEAD_MAX, 0);
	}
}

static void probe_read_cb(struct bufferevent *bev, void *arg)
{
	probe_input(arg, bufferevent_get_input(bev));
}

/* The connection ended (EOF, or error E; TLS failures are the caller's). */
static void probe_conn_ended(struct probe *p, int e)
{
	if (p->phase != PROBE_HEAD)
		probe_close(p); /* an idle connection closed, or a body cut: not a check */
	else if (e)
		probe_conn_failed(p, evutil_socket_error_to_string(e));
	else
		probe_conn_failed(p, "closed before a complete response head");
}

static void probe_h2_connected(struct probe *p);

static void probe_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct probe *p = arg;
	char why[300];

	if (events & BEV_EVENT_CONNECTED) {
		if (p->h2)
			probe_h2_connected(p);
		return;
	}
	if (p->phase == PROBE_HEAD && tls_failure_text(bev, why, sizeof(why))) {
		char tls_why[320];
		snprintf(tls_why, sizeof(tls_why), "TLS %s", why);
		probe_close(p);
		probe_result(p, false, 0, "%s", tls_why);
		return;
	}
	int e = (events & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
	probe_conn_ended(p, (events & BEV_EVENT_ERROR) && !e ? ECONNRESET : e);
}

static void probe_io_cb(evutil_socket_t fd, short events, void *arg);

/* Watch P's socket for WHAT (EV_WRITE: the connect's end; EV_READ). */
static void probe_watch(struct probe *p, short what)
{
	if (p->io_added)
		event_del(&p->io);
	event_assign(&p->io, p->h->base, p->fd, what | (what & EV_READ ? EV_PERSIST : 0), probe_io_cb, p);
	event_add(&p->io, NULL);
	p->io_added = true;
}

static void probe_send(struct probe *p);

static void probe_io_cb(evutil_socket_t fd, short events, void *arg)
{
	struct probe *p = arg;
	char buf[4096];
	(void)events;

	if (p->connecting) {
		int e = 0;
		socklen_t elen = sizeof(e);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		if (e) {
			probe_conn_ended(p, e);
			return;
		}
		p->connecting = false;
		probe_watch(p, EV_READ);
		probe_send(p);
		return;
	}
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0) {
		if (evbuffer_add(p->in, buf, (size_t)n) < 0) {
			probe_conn_ended(p, ENOMEM);
			return;
		}
		probe_input(p, p->in);
	} else if (n == 0) {
		probe_conn_ended(p, 0);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		probe_conn_ended(p, errno);
	}
}

/* The Host of a check: the pool's server_name with TLS, else the address. */
static const char *probe_host(const struct probe *p)
{
	const struct cfg_pool *cp = &p->set->cfg->pools[p->pool];
	return cp->tls.enabled && cp->tls.server_name ? cp->tls.server_name : probe_addr(p);
}

static void probe_h2_send(struct probe *p);

/* Send the check's request on P's connection: a plain socket writes it at
 * once with one send(2) (nothing else is ever queued on it: one check at a
 * time, about a hundred bytes); TLS through the bufferevent; "h2" as a
 * stream of its session. */
static void probe_send(struct probe *p)
{
	const struct cfg_pool *cp = &p->set->cfg->pools[p->pool];
	char req[CHECK_PATH_MAX + 512];
	int n;

	if (p->h2) {
		probe_h2_send(p);
		return;
	}
	http1_parser_init(&p->parser, HTTP1_RESPONSE, CHECK_HEAD_MAX, 0);
	p->got_bytes = false;
	probe_set_phase(p, PROBE_HEAD);
	if (p->bev) {
		evbuffer_add_printf(bufferevent_get_output(p->bev), CHECK_REQUEST_FMT, cp->check.path,
		                    probe_host(p));
		bufferevent_enable(p->bev, EV_READ | EV_WRITE);
		return;
	}
	n = snprintf(req, sizeof(req), CHECK_REQUEST_FMT, cp->check.path, probe_host(p));
	if (n < 0 || (size_t)n >= sizeof(req)) {
		/* Only a plain pool gets here: its Host is an address, far shorter. */
		probe_close(p);
		probe_result(p, false, 0, "check request too long");
		return;
	}
	ssize_t w = send(p->fd, req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w == n)
		return;
	probe_conn_ended(p, w < 0 ? errno : EMSGSIZE);
}

/* ---- "h2" pools ------------------------------------------------------------------ */

/* A check of an "h2" pool is one stream on an HTTP/2 connection (h2c with
 * prior knowledge, or TLS with ALPN "h2"), kept for the next check while
 * the server lets it, as an HTTP/1.1 check's connection is: a check then
 * costs one HEADERS frame each way, and the body is never read (the
 * stream is reset). h2check has the session: bytes in, bytes out, the
 * verdict. Here is only the transport, a bufferevent even without TLS: an
 * HTTP/2 connection answers PING and SETTINGS at any time, between checks
 * too, and may have more to write than one send(2) takes. */

/* Queue the session's output on the connection (held back until it is
 * connected). Returns NULL, or why the connection cannot go on. */
static const char *probe_h2_flush(struct probe *p)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);
	const uint8_t *data;
	ssize_t n;

	if (p->connecting)
		return NULL;
	while ((n = h2check_output(p->h2, &data)) > 0) {
		if (evbuffer_get_length(out) + (size_t)n > CHECK_H2_OUT_MAX)
			return "the server does not read what weir sends";
		if (evbuffer_add(out, data, (size_t)n) < 0)
			return "out of memory";
	}
	return n < 0 ? "the HTTP/2 session failed" : NULL;
}

/* Bytes went into P's session (OVER: it wants no more) or may come out:
 * send them, then act on where the check in flight stands. */
static void probe_h2_progress(struct probe *p, bool over)
{
	const char *why = probe_h2_flush(p);

	over = over || why != NULL || h2check_done(p->h2);
	if (p->phase != PROBE_HEAD) {
		if (over || !h2check_usable(p->h2))
			probe_close(p); /* between checks: GOAWAY, a failure, a flood */
		return;
	}
	switch (h2check_state(p->h2)) {
	case H2CHECK_ANSWERED: {
		int status = h2check_status(p->h2);
		if (over || !h2check_usable(p->h2))
			probe_close(p);
		else
			probe_set_phase(p, PROBE_IDLE);
		probe_judge(p, status);
		break;
	}
	case H2CHECK_FAILED:
		probe_conn_failed(p, h2check_reason(p->h2));
		break;
	default:
		if (over)
			probe_conn_failed(p, why ? why : "the HTTP/2 session ended");
		break;
	}
}

static void probe_h2_read_cb(struct bufferevent *bev, void *arg)
{
	struct probe *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	bool over = false;

	while (!over && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		over = h2check_recv(p->h2, v.iov_base, v.iov_len) < 0;
		evbuffer_drain(in, v.iov_len);
	}
	probe_h2_progress(p, over);
}

/* P's connection is up; with TLS, the server must have chosen h2. */
static void probe_h2_connected(struct probe *p)
{
	if (p->set->cfg->pools[p->pool].tls.enabled && !tls_alpn_h2(p->bev)) {
		probe_close(p);
		probe_result(p, false, 0, "TLS: the server did not choose h2 by ALPN");
		return;
	}
	p->connecting = false;
	probe_h2_progress(p, false);
}

/* Send the check on P's session (it goes out once connected). */
static void probe_h2_send(struct probe *p)
{
	const struct cfg_pool *cp = &p->set->cfg->pools[p->pool];
	char err[H2CHECK_REASON_MAX];

	p->got_bytes = false;
	probe_set_phase(p, PROBE_HEAD);
	if (h2check_request(p->h2, cp->tls.enabled ? "https" : "http", probe_host(p), cp->check.path, err,
	                    sizeof(err)) < 0) {
		probe_close(p);
		probe_result(p, false, 0, "%s", err);
		return;
	}
	probe_h2_progress(p, false);
}

/* A new HTTP/2 connection for the check in flight. */
static void probe_h2_connect(struct probe *p)
{
	const struct cfg_pool *cp = &p->set->cfg->pools[p->pool];
	const struct cfg_addr *a = &cp->servers[p->idx];
	SSL_CTX *ctx = cp->tls.enabled ? tls_set_pool_ctx(p->set->tls, p->pool) : NULL;
	char err[H2CHECK_REASON_MAX];
	int e;

	p->reused = false;
	if (!(p->h2 = h2check_new(err, sizeof(err)))) {
		probe_result(p, false, 0, "%s", err);
		return;
	}
	struct tls_target to = upstream_tls_target(cp, p->idx);
	p->bev = ctx ? tls_check_bufferevent(p->h->base, ctx, &to)
	             : bufferevent_socket_new(p->h->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!p->bev) {
		probe_close(p);
		probe_result(p, false, 0, "cannot set up a connection (out of memory?)");
		return;
	}
	bufferevent_setcb(p->bev, probe_h2_read_cb, NULL, probe_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	p->connecting = true;
	probe_h2_send(p);
	if (!p->h2)
		return; /* it failed: recorded */
	if (bufferevent_socket_connect(p->bev, (const struct sockaddr *)&a->ss, (int)a->len) < 0) {
		e = errno;
		probe_close(p);
		probe_result(p, false, 0, "connect: %s", strerror(e));
	}
}

/* A new connection for the check in flight. */
static void probe_connect(struct probe *p)
{
	const struct cfg_pool *cp = &p->set->cfg->pools[p->pool];
	const struct cfg_addr *a = &cp->servers[p->idx];
	SSL_CTX *ctx = cp->tls.enabled ? tls_set_pool_ctx(p->set->tls, p->pool) : NULL;
	int e;

	if (cp->protocol == POOL_PROTO_H2) {
		probe_h2_connect(p);
		return;
	}
	p->reused = false;
	if (ctx) {
		struct tls_target to = upstream_tls_target(cp, p->idx);
		p->bev = tls_check_bufferevent(p->h->base, ctx, &to);
		if (!p->bev) {
			probe_result(p, false, 0, "cannot set up a TLS connection (out of memory?)");
			return;
		}
		bufferevent_setcb(p->bev, probe_read_cb, NULL, probe_event_cb, p);
		probe_send(p);
		if (bufferevent_socket_connect(p->bev, (const struct sockaddr *)&a->ss, (int)a->len) < 0) {
			e = errno;
			probe_close(p);
			probe_result(p, false, 0, "connect: %s", strerror(e));
		}
		return;
	}
	if (!p->in && !(p->in = evbuffer_new())) {
		probe_result(p, false, 0, "cannot set up a connection (out of memory)");
		return;
	}
	p->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		e = errno;
		probe_result(p, false, 0, "socket: %s", strerror(e));
		return;
	}
	probe_set_phase(p, PROBE_HEAD);
	if (connect(p->fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
		probe_watch(p, EV_READ);
		probe_send(p);
	} else if (errno == EINPROGRESS) {
		p->connecting = true;
		probe_watch(p, EV_WRITE);
	} else {
		e = errno;
		probe_close(p);
		probe_result(p, false, 0, "%s", strerror(e));
	}
}

/* Start a check: on the idle connection of the previous one when there is
 * one (one write and one read per check, like Envoy's reuse_connection),
 * else on a new connection. */
static void probe_start(struct probe *p)
{
	const struct cfg_check *ck = probe_check(p);

	if (p->phase == PROBE_BODY)
		probe_close(p); /* the last body is still not complete: give up on it */
	p->started_us = clock_now_us();
	p->deadline_us = p->started_us + ck->timeout_ms * 1000;
	arm_at(p, ck->timeout_ms, true);
	if (probe_open(p) && (!p->h2 || h2check_usable(p->h2))) {
		p->reused = true;
		probe_send(p);
	} else {
		probe_close(p);
		probe_connect(p);
	}
}

static void probe_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct probe *p = arg;
	(void)fd;
	(void)events;
	if (p->phase == PROBE_HEAD) {
		probe_close(p);
		probe_result(p, false, 0, "timeout after %llu ms",
		             (unsigned long long)probe_check(p)->timeout_ms);
	} else {
		probe_start(p);
	}
}

/* ---- sets ------------------------------------------------------------------------ */

/* Stop every probe of SET (checks in flight are abandoned); the words stay. */
static void set_stop(struct probe_set *set)
{
	for (int pl = 0; pl < POOL_COUNT; pl++) {
		for (size_t i = 0; i < set->n[pl]; i++) {
			struct probe *p = &set->probes[pl][i];
			probe_close(p);
			if (p->timer) {
				event_free(p->timer);
				p->timer = NULL;
			}
			if (p->in) {
				evbuffer_free(p->in);
				p->in = NULL;
			}
		}
	}
}

static void set_free(struct probe_set *set)
{
	if (!set)
		return;
	set_stop(set);
	for (int pl = 0; pl < POOL_COUNT; pl++)
		free(set->probes[pl]);
	free(set);
}

/* Probes for CFG's checked pools; state carried over from PREV (may be NULL)
 * for servers whose address stays in their pool. Timers are not armed yet. */
static struct probe_set *set_new(struct health *h, const struct weir_config *cfg,
                                 const struct tls_set *tls, const struct probe_set *prev)
{
	struct probe_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	set->cfg = cfg;
	set->tls = tls;
	for (int pl = 0; pl < POOL_COUNT; pl++) {
		const struct cfg_pool *cp = &cfg->pools[pl];
		if (!cp->check.enabled || cp->nservers == 0)
			continue;
		set->probes[pl] = calloc(cp->nservers, sizeof(*set->probes[pl]));
		if (!set->probes[pl])
			goto fail;
		set->n[pl] = cp->nservers;
		for (size_t i = 0; i < cp->nservers; i++) {
			struct probe *p = &set->probes[pl][i];
			p->h = h;
			p->set = set;
			p->pool = (enum pool_id)pl;
			p->idx = i;
			p->last.checked = true;
			p->fd = -1;
			p->timer = evtimer_new(h->base, probe_timer_cb, p);
			if (!p->timer)
				goto fail;
			for (size_t o = 0; prev && o < prev->n[pl]; o++) {
				const struct probe *q = &prev->probes[pl][o];
				if (strcmp(prev->cfg->pools[pl].servers[o].text, cp->servers[i].text) != 0)
					continue;
				p->sm = q->sm;
				p->last = q->last;
				atomic_store(&p->word, (uint32_t)q->sm.state);
				break;
			}
		}
	}
	return set;
fail:
	set_free(set);
	return NULL;
}

/* Spread the first checks of each pool over its first interval, so that a
 * thousand servers are not checked in the same millisecond. */
static void set_start(struct probe_set *set)
{
	for (int pl = 0; pl < POOL_COUNT; pl++) {
		const struct cfg_check *ck = &set->cfg->pools[pl].check;
		for (size_t i = 0; i < set->n[pl]; i++)
			arm(&set->probes[pl][i], ck->interval_ms * i / set->n[pl]);
	}
}

struct health *health_new(struct runtime *rt, char *err, size_t errlen)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		goto fail;
	h->rt = rt;
	h->base = rt->base;
	h->cur = set_new(h, rt->cfg, rt->tls, NULL);
	if (!h->cur)
		goto fail;
	set_start(h->cur);
	return h;
fail:
	snprintf(err, errlen, "out of memory");
	health_free(h);
	return NULL;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	set_free(h->cur);
	set_free(h->old);
	free(h);
}

int health_reconfigure(struct health *h, const struct weir_config *cfg, const struct tls_set *tls,
                       char *err, size_t errlen)
{
	struct probe_set *set = set_new(h, cfg, tls, h->cur);

	if (!set) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The runtime refuses a reload while one is being applied: no old set. */
	set_free(h->old);
	set_stop(h->cur);
	h->old = h->cur;
	h->cur = set;
	set_start(set);
	return 0;
}

void health_release_old(struct health *h)
{
	set_free(h->old);
	h->old = NULL;
}

/* ---- readers ---------------------------------------------------------------------- */

static const struct probe *probe_of(const struct health *h, enum pool_id p, size_t s)
{
	if (!h || !h->cur || s >= h->cur->n[p])
		return NULL;
	return &h->cur->probes[p][s];
}

const _Atomic uint32_t *health_word(const struct health *h, enum pool_id p, size_t s)
{
	const struct probe *pr = probe_of(h, p, s);
	return pr ? &pr->word : NULL;
}

void health_server_info(const struct health *h, enum pool_id p, size_t s, struct health_info *out)
{
	const struct probe *pr = probe_of(h, p, s);

	if (pr) {
		*out = pr->last;
		out->state = pr->sm.state;
	} else {
		memset(out, 0, sizeof(*out));
	}
}

bool health_pool_down(const struct health *h, enum pool_id p, char *why, size_t whylen)
{
	if (!h || !h->cur || h->cur->n[p] == 0)
		return false;
	for (size_t i = 0; i < h->cur->n[p]; i++)
		if (h->cur->probes[p][i].sm.state != CHECK_DOWN)
			return false;
	if (why && whylen) {
		struct textbuf t;

		textbuf_start(&t, why, whylen); /* cut at a whole server when long */
		textbuf_printf(&t, "pool %s has no server up:", cfg_pool_name(p));
		for (size_t i = 0; i < h->cur->n[p]; i++) {
			const struct probe *pr = &h->cur->probes[p][i];
			textbuf_printf(&t, "%s %s %s", i ? ";" : "", probe_addr(pr), pr->last.reason);
		}
	}
	return true;
}

bool health_pool_all_up(const struct health *h, enum pool_id p)
{
	if (!h || !h->cur)
		return true;
	for (size_t i = 0; i < h->cur->n[p]; i++)
		if (h->cur->probes[p][i].sm.state != CHECK_UP)
			return false;
	return true;
}
