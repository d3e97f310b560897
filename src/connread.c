/* connread: weir's own reads of a plain socket (see include/weir/connread.h).
 *
 * Sizes. The first read of a readable event asks for READ_FIRST bytes: a
 * request head or a small response fits, and an idle keep-alive connection
 * never holds more. Only when it fills the space does the next read ask for
 * READ_MORE, and one event reads READ_BUDGET at most, so that one busy
 * connection cannot hold the loop and the caller's backpressure (checked in
 * READCB) is overshot by a bounded amount. A read that returns less than it
 * asked for has emptied the socket: no further read, no EAGAIN round trip.
 *
 * The input buffer. A socket bufferevent keeps the end of its input frozen
 * so that nobody but its own read path adds to it; weir's read path thaws
 * it around its reads, the way libevent's does.
 *
 * EOF and errors after data. When a read returns data and a later read in
 * the same event sees EOF or an error, the data goes to READCB first and the
 * EOF is reported at the next readable event (epoll is level-triggered, and
 * a socket at EOF stays readable), so READCB never runs after EVENTCB freed
 * the connection. */
#include "weir/connread.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

enum {
	READ_FIRST = 16 * 1024,
	READ_MORE = 64 * 1024,
	READ_BUDGET = READ_FIRST + READ_MORE,
};

/* Read what the socket holds (up to READ_BUDGET) into IN. Returns the bytes
 * read; 0 with *FAIL set to BEV_EVENT_EOF or BEV_EVENT_ERROR (*ERR the errno)
 * when the first read saw that; 0 with *FAIL 0 when nothing was there. */
static size_t read_socket(evutil_socket_t fd, struct evbuffer *in, short *fail, int *err)
{
	size_t want = READ_FIRST;
	size_t total = 0;

	*fail = 0;
	*err = 0;
	evbuffer_unfreeze(in, 0);
	while (total < READ_BUDGET) {
		struct evbuffer_iovec v[2];
		struct iovec iov[2];
		size_t space = 0;
		int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);

		if (nv <= 0) {
			*fail = BEV_EVENT_ERROR;
			*err = ENOMEM;
			break;
		}
		for (int i = 0; i < nv; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			space += v[i].iov_len;
		}
		ssize_t n;
		do
			n = readv(fd, iov, nv);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			*fail = n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
			*err = n == 0 ? 0 : errno;
			break;
		}
		/* Commit what the read filled: whole vectors, then part of one. */
		size_t left = (size_t)n;
		int used = 0;
		while (used < nv && left > 0) {
			if (v[used].iov_len > left)
				v[used].iov_len = left;
			left -= v[used].iov_len;
			used++;
		}
		evbuffer_commit_space(in, v, used);
		total += (size_t)n;
		if ((size_t)n < space)
			break; /* the socket is empty */
		want = READ_MORE;
	}
	evbuffer_freeze(in, 0);
	if (total > 0)
		*fail = 0; /* reported at the next event, after the data */
	return total;
}

static void connread_cb(evutil_socket_t fd, short what, void *arg)
{
	struct connread *r = arg;
	short fail;
	int err;

	if (what & EV_TIMEOUT) {
		connread_disable(r);
		r->eventcb(r->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, r->arg);
		return;
	}
	if (read_socket(fd, bufferevent_get_input(r->bev), &fail, &err) > 0) {
		r->readcb(r->bev, r->arg); /* may free R: nothing after it */
		return;
	}
	if (fail) {
		connread_disable(r);
		errno = err;
		r->eventcb(r->bev, (short)(BEV_EVENT_READING | fail), r->arg);
	}
}

void connread_init(struct connread *r, struct event_base *base, struct bufferevent *bev, bool own,
                   bool connected, bufferevent_data_cb readcb, bufferevent_event_cb eventcb,
                   void *arg)
{
	r->bev = bev;
	r->readcb = readcb;
	r->eventcb = eventcb;
	r->arg = arg;
	r->has_timeout = false;
	r->own = own;
	r->want = false;
	r->ready = connected;
	if (own)
		event_assign(&r->ev, base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, connread_cb, r);
	else
		bufferevent_disable(bev, EV_READ);
}

/* Add the read event, with the read timeout when there is one. */
static void arm(struct connread *r)
{
	(void)event_add(&r->ev, r->has_timeout ? &r->timeout : NULL);
}

void connread_enable(struct connread *r)
{
	if (!r->own) {
		bufferevent_enable(r->bev, EV_READ);
		return;
	}
	r->want = true;
	if (r->ready)
		arm(r);
}

void connread_disable(struct connread *r)
{
	if (!r->own) {
		bufferevent_disable(r->bev, EV_READ);
		return;
	}
	r->want = false;
	(void)event_del(&r->ev);
}

void connread_set_timeouts(struct connread *r, const struct timeval *read, const struct timeval *write)
{
	if (!r->own) {
		bufferevent_set_timeouts(r->bev, read, write);
		return;
	}
	bufferevent_set_timeouts(r->bev, NULL, write);
	r->has_timeout = read != NULL;
	if (read)
		r->timeout = *read;
	if (!event_pending(&r->ev, EV_READ, NULL))
		return;
	if (r->has_timeout)
		arm(r); /* restarts it */
	else
		(void)event_remove_timer(&r->ev);
}

void connread_connected(struct connread *r)
{
	if (!r->own || r->ready)
		return;
	r->ready = true;
	if (r->want)
		arm(r);
}

void connread_stop(struct connread *r)
{
	if (r->own)
		(void)event_del(&r->ev);
	r->want = false;
	r->ready = false;
}
