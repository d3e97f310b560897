/* httpd: the bounded GET/HEAD server behind the admin listener (see
 * include/weir/httpd.h).
 *
 * Each connection is a small state machine:
 *   READING    waiting for (the rest of) a request head, or writing a
 *              keep-alive answer; the deadline runs: timeout_seconds from
 *              the start of the connection, then from the moment an answer
 *              starts going out (the whole answer must be written within
 *              it, however slowly the client reads), then from the moment
 *              it is all written (the next head must arrive within it)
 *   CLOSING    the last answer is queued; once it is written, shut down our
 *              side and go LINGERING. One fixed deadline bounds the whole
 *              answer: a client that reads a trickle cannot keep the slot
 *   LINGERING  read and drop what the client still sends, for at most
 *              LINGER_SECONDS, so that closing with unread bytes (which
 *              makes the kernel send a reset) cannot destroy the answer
 *              before the client has read it
 * Memory per connection is bounded by the input watermark (max_head_bytes)
 * plus one queued answer: the pump stops parsing pipelined requests while
 * OUTPUT_HIGH bytes are waiting to be written.
 *
 * At max_clients, a new connection takes the slot of the keep-alive
 * connection that has been idle longest (everything answered and written,
 * no byte of a next head received): otherwise clients sending one tiny
 * request every few seconds could keep every slot. It is refused (503) only
 * when no connection is idle. */
#include "config.h"

#include "weir/httpd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifdef __linux__
#include <linux/sockios.h>      /* SIOCOUTQ */
#endif

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "weir/clock.h"
#include "weir/http1.h"

#define OUTPUT_HIGH (64 * 1024)      /* stop taking pipelined requests above this */
#define LINGER_SECONDS 2
#define ACCEPT_RETRY_SECONDS 1       /* after EMFILE and the like */

enum conn_state {
	CONN_READING,                /* waiting for a request head */
	CONN_CLOSING,                /* the last answer is queued */
	CONN_LINGERING               /* answer written, our side shut: dropping input */
};

struct conn {
	struct httpd *h;
	struct bufferevent *bev;
	struct event *deadline;      /* head not complete in time, or linger over */
	enum conn_state state;
	bool eof;                    /* the client sends nothing more */
	bool writing;                /* an answer is queued, not yet all written */
	bool answered;               /* at least one answer went out */
	uint64_t idle_seq;           /* when it last became idle (h->seq) */
	uint64_t answer_due_ms;      /* the last answer must be read by then */
	struct http1_parser parser;
	struct conn *prev, *next;
};

struct httpd {
	struct event_base *base;
	struct httpd_limits lim;
	httpd_handler_fn handler;
	void *ctx;
	struct evconnlistener *listener;
	struct event *retry;         /* re-enables the listener after an accept error */
	struct conn *conns;
	unsigned nconns;
	uint64_t seq;                /* orders the moments connections go idle */
};

static void conn_free(struct conn *c)
{
	struct httpd *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	if (c->deadline)
		event_free(c->deadline);
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
}

static void arm_deadline(struct conn *c, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	evtimer_add(c->deadline, &tv);
}

/* An answer starts going out: it must be written, and read, in time. */
static void arm_answer_deadline(struct conn *c)
{
	c->answer_due_ms = clock_now_ms() + (uint64_t)c->h->lim.timeout_seconds * 1000;
	arm_deadline(c, c->h->lim.timeout_seconds);
}

/* The only place the state changes. */
static void conn_set_state(struct conn *c, enum conn_state s)
{
	c->state = s;
	/* The whole last answer within one timeout, not a write timeout that
	 * every byte the client reads re-arms. An answer already going out
	 * keeps the deadline it started with. */
	if (s == CONN_CLOSING && !c->writing)
		arm_answer_deadline(c);
	if (s == CONN_LINGERING) {
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		arm_deadline(c, LINGER_SECONDS);
	}
}

/* Queue an answer. KEEP: the connection stays open for another request. */
static void answer(struct conn *c, int status, const char *reason, const char *type, struct evbuffer *body,
                   bool head_only, bool keep, bool http10)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = evbuffer_get_length(body);

	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                    "Cache-Control: no-store\r\n%s%s\r\n",
	                    status, reason, type, len, status == 405 ? "Allow: GET, HEAD\r\n" : "",
	                    !keep ? "Connection: close\r\n" : http10 ? "Connection: keep-alive\r\n" : "");
	if (head_only)
		evbuffer_drain(body, len);
	else
		evbuffer_add_buffer(out, body);
	if (!keep)
		conn_set_state(c, CONN_CLOSING);
}

/* A short text answer that ends the connection (errors). */
static void answer_text(struct conn *c, int status, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	if (!body) {
		conn_set_state(c, CONN_CLOSING);
		return;
	}
	evbuffer_add(body, text, strlen(text));
	answer(c, status, reason, "text/plain", body, false, false, false);
	evbuffer_free(body);
}

/* The path of the request target in BUF into PATH (HTTPD_LINE_MAX + 1
 * bytes): origin-form up to '?' or '#', or the path of an absolute-form
 * target. False when the target has no path ("*", garbage). */
static bool target_path(const char *buf, struct http1_span t, char *path)
{
	const char *p = buf + t.off, *end = p + t.len, *scheme = NULL;

	if (t.len > 0 && *p != '/') {
		for (const char *q = p; q + 2 < end; q++)
			if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
				scheme = q + 3;
				break;
			}
		if (!scheme)
			return false;
		p = scheme;
		while (p < end && *p != '/' && *p != '?' && *p != '#')
			p++;
		if (p == end || *p != '/') {
			strcpy(path, "/");
			return true;
		}
	}
	if (p == end)
		return false;
	size_t n = 0;
	while (p + n < end && p[n] != '?' && p[n] != '#' && n < HTTPD_LINE_MAX)
		n++;
	memcpy(path, p, n);
	path[n] = '\0';
	return true;
}

/* Answer the parsed request at the start of BUF. */
static void serve(struct conn *c, const char *buf)
{
	const struct http1_head *hd = &c->parser.head;
	bool get = hd->method.len == 3 && memcmp(buf + hd->method.off, "GET", 3) == 0;
	char path[HTTPD_LINE_MAX + 1];
	const char *type = "text/plain";
	struct evbuffer *body;
	int status;

	/* Decided on the head alone: a body is never read, let alone kept. */
	if (!get && !hd->is_head) {
		answer_text(c, 405, http1_status_reason(405), "method not allowed\n");
		return;
	}
	if (hd->body == HTTP1_BODY_CHUNKED || (hd->body == HTTP1_BODY_LENGTH && hd->content_length > 0)) {
		answer_text(c, 413, http1_status_reason(413), "a request body is not accepted here\n");
		return;
	}
	if (!target_path(buf, hd->target, path)) {
		answer_text(c, 400, http1_status_reason(400), "bad request target\n");
		return;
	}
	body = evbuffer_new();
	if (!body) {
		conn_set_state(c, CONN_CLOSING);
		return;
	}
	status = c->h->handler(c->h->ctx, path, body, &type);
	answer(c, status, http1_status_reason(status), type, body, hd->is_head, hd->keep_alive, hd->minor_version == 0);
	evbuffer_free(body);
}

/* Take requests from the input while there is room to answer. Returns -1
 * when C was freed. */
static int pump(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (c->state == CONN_READING && evbuffer_get_length(out) < OUTPUT_HIGH) {
		size_t len = evbuffer_get_length(in);
		const char *buf;
		enum http1_result r;

		if (len == 0)
			break;
		buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		if (!buf) {
			conn_free(c);
			return -1;
		}
		r = http1_parse_head(&c->parser, buf, len);
		if (r == HTTP1_AGAIN)
			break;
		if (r == HTTP1_ERROR) {
			enum http1_error e = c->parser.error;
			answer_text(c, http1_error_status(e), http1_error_reason(e), "bad request\n");
			break;
		}
		serve(c, buf);
		evbuffer_drain(in, c->parser.head.head_len);
		http1_parser_init(&c->parser, HTTP1_REQUEST, c->h->lim.max_head_bytes, HTTPD_LINE_MAX);
		/* A pipelined answer queued behind one going out shares its
		 * deadline: reading slowly must not buy more time. */
		if (c->state == CONN_READING && !c->writing) {
			arm_answer_deadline(c);
			c->writing = true;
		}
	}
	if (evbuffer_get_length(out) == 0) {
		if (c->state == CONN_CLOSING)
			conn_set_state(c, CONN_LINGERING);
		if (c->eof) {
			conn_free(c);
			return -1;
		}
		if (c->state == CONN_READING && c->writing) {
			/* All written: now the next head has its timeout. */
			c->writing = false;
			c->answered = true;
			c->idle_seq = ++c->h->seq;
			arm_deadline(c, c->h->lim.timeout_seconds);
		}
	}
	if (c->state == CONN_LINGERING)
		evbuffer_drain(in, evbuffer_get_length(in));
	if (c->state == CONN_READING && evbuffer_get_length(out) >= OUTPUT_HIGH)
		bufferevent_disable(c->bev, EV_READ);
	else if (!c->eof)
		bufferevent_enable(c->bev, EV_READ);
	return 0;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pump(arg);
}

/* The output drained. */
static void write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pump(arg);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & BEV_EVENT_EOF) && c->state != CONN_LINGERING) {
		/* Answer what was sent, then close once the answers are out. */
		c->eof = true;
		bufferevent_disable(bev, EV_READ);
		pump(c);
		return;
	}
	/* EOF while lingering, or a reset. */
	conn_free(c);
}

/* Waiting for a next head of which not a byte has arrived. */
static bool conn_idle(struct conn *c)
{
	return c->state == CONN_READING && c->answered && !c->writing &&
	       evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
}

/* Close the connection idle longest to make room for a new one. False when
 * none is idle. */
static bool evict_idle(struct httpd *h)
{
	struct conn *oldest = NULL;

	for (struct conn *c = h->conns; c; c = c->next)
		if (conn_idle(c) && (!oldest || c->idle_seq < oldest->idle_seq))
			oldest = c;
	if (!oldest)
		return false;
	conn_free(oldest);
	return true;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct linger abort_close = { 1, 0 };
	evutil_socket_t s = bufferevent_getfd(c->bev);
	int unsent = 0;

	(void)fd;
	(void)what;
	/* Bytes of an answer the kernel holds that the client has not taken. */
#ifdef SIOCOUTQ
	if (ioctl(s, SIOCOUTQ, &unsent) < 0)
		unsent = 0;
#endif
	if (c->state == CONN_LINGERING && unsent > 0 && clock_now_ms() < c->answer_due_ms) {
		arm_deadline(c, 1);     /* still being read, and still in time */
		return;
	}
	/* An answer not read in time: reset rather than close, or the kernel
	 * would go on trickling what it holds of it to the slow reader. */
	if (c->state == CONN_CLOSING || c->writing || unsent > 0)
		(void)setsockopt(s, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
	conn_free(c);
}

/* Refuse a connection beyond max_clients, never blocking. */
static void refuse(evutil_socket_t fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
	                          "Content-Length: 27\r\nConnection: close\r\n\r\n"
	                          "too many admin connections\n";
	ssize_t n = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)n;
	evutil_closesocket(fd);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct httpd *h = arg;
	struct conn *c;

	(void)lis;
	(void)sa;
	(void)salen;
	if (h->nconns >= h->lim.max_clients && !evict_idle(h)) {
		refuse(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->h = h;
	c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(h->base, deadline_cb, c);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	if (!c->bev) {
		evutil_closesocket(fd);
		conn_free(c);
		return;
	}
	if (!c->deadline) {
		conn_free(c);
		return;
	}
	http1_parser_init(&c->parser, HTTP1_REQUEST, h->lim.max_head_bytes, HTTPD_LINE_MAX);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* Never more than a head's worth of input in memory. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, h->lim.max_head_bytes);
	/* No bufferevent timeouts: the one deadline timer bounds every state,
	 * and only its path resets a connection whose answer was not read. */
	arm_deadline(c, h->lim.timeout_seconds);
	if (bufferevent_enable(c->bev, EV_READ) < 0)
		conn_free(c);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(h->listener);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS ...): the listening socket stays
 * readable, so pause it for a moment rather than spin. */
static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
	struct httpd *h = arg;
	struct timeval tv = { ACCEPT_RETRY_SECONDS, 0 };

	evconnlistener_disable(lis);
	evtimer_add(h->retry, &tv);
}

struct httpd *httpd_new(struct event_base *base, evutil_socket_t fd, const struct httpd_limits *lim,
                        httpd_handler_fn handler, void *ctx, char *err, size_t errlen)
{
	struct httpd *h = calloc(1, sizeof(*h));

	if (!h)
		goto fail;
	h->base = base;
	h->lim = *lim;
	h->handler = handler;
	h->ctx = ctx;
	h->retry = evtimer_new(base, retry_cb, h);
	if (!h->retry)
		goto fail;
	/* Backlog 0: FD is listening already. */
	h->listener = evconnlistener_new(base, accept_cb, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!h->listener)
		goto fail;
	evconnlistener_set_error_cb(h->listener, accept_error_cb);
	return h;
fail:
	snprintf(err, errlen, "out of memory");
	evutil_closesocket(fd);
	httpd_free(h);
	return NULL;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	while (h->conns)
		conn_free(h->conns);
	if (h->listener)
		evconnlistener_free(h->listener);
	if (h->retry)
		event_free(h->retry);
	free(h);
}
