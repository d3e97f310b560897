/* connread: weir's own reads of a plain socket (see include/weir/connread.h).
 *
 * Sizes. The first read of a readable event goes into a per-thread scratch
 * buffer of READ_FIRST bytes and is copied into the input: a request head or
 * a small response, the common case, then takes a buffer chain the size of
 * what arrived (a slow client trickling a head pins ~1 KiB, not a 16 KiB
 * reservation). Only when it fills the scratch buffer does weir read the rest
 * straight into the input, READ_MORE at a time, up to the owner's limit
 * (its backpressure mark: connread_set_limit) and READ_BUDGET per event, so
 * that one busy connection cannot hold the loop and what the owner checks in
 * READCB is overshot by one read at most. A read
 * that returns less than it asked for has emptied the socket: no further
 * read, no EAGAIN round trip.
 *
 * evbuffer_reserve_space hands out whole chains, sized to the next power of
 * two above the request plus libevent's chain header: READ_MORE stays under
 * 64 KiB by more than that header, so each direct read allocates one 64 KiB
 * chain, and the reservation is trimmed to READ_MORE so that an event never
 * reads more than its budget.
 *
 * The input buffer. An accepted socket bufferevent keeps the end of its
 * input frozen so that nobody but its own read path adds to it (a connected
 * one does not); weir thaws it around its reads, and keeps it frozen after.
 *
 * EOF and errors after data. When a read returns data and a later read in
 * the same event sees EOF or an error, the data goes to READCB first and the
 * failure is kept and reported at once after it, through the event made
 * active again (the kernel reports a reset only once: a later read would see
 * a clean EOF instead). If READCB freed the connection, connread_stop's
 * event_del cancels that; if it paused reading, the failure waits for the
 * next connread_enable.
 *
 * TLS (a filter over a socket bufferevent, see include/weir/tls.h). The
 * socket is read the same way, into the input of the bufferevent under the
 * filter; then that bufferevent's read callback, libevent's, is run
 * (bufferevent_trigger) and the filter decrypts what it can into its own
 * input and runs the owner's READCB: deferred (the filter has
 * BEV_OPT_DEFER_CALLBACKS), so no owner code runs inside this module and the
 * owner's READCB runs before the next socket event is seen. A failure after
 * data is therefore not made active at once (it would be reported before
 * that deferred READCB): the socket stays readable at EOF or after a reset,
 * so the next readable event reports it. The socket is read during the
 * handshake whatever the owner wants (the handshake needs it), afterwards
 * only while the owner wants reads; a peer's close_notify ends the reading
 * (the filter reports the EOF itself). */
#include "weir/connread.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

enum {
	READ_FIRST = 16 * 1024 - 256,   /* one 16 KiB chain once libevent adds its header */
	READ_MORE = 64 * 1024 - 256,    /* one 64 KiB chain */
	READ_BUDGET = READ_FIRST + 2 * READ_MORE,
};

/* Read once into IOV; EINTR retried. recv and recvmsg go straight to the
 * socket layer; readv takes the VFS path first (descriptor position lock,
 * rw_verify_area, an iovec import), a cost perf showed per read. */
static ssize_t read_once(evutil_socket_t fd, struct iovec *iov, int n)
{
	ssize_t r;

	do {
		if (n == 1) {
			r = recv(fd, iov->iov_base, iov->iov_len, 0);
		} else {
			struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
			r = recvmsg(fd, &m, 0);
		}
	} while (r < 0 && errno == EINTR);
	return r;
}

/* A failed read's outcome: 0 for "nothing there" (EAGAIN), else
 * BEV_EVENT_EOF or BEV_EVENT_ERROR with *ERR set. */
static short read_failure(ssize_t n, int *err)
{
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	*err = n == 0 ? 0 : errno;
	return n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
}

/* Read straight into IN's reserved space, READ_MORE at a time, until the
 * socket is empty or TOTAL reaches LIMIT. Returns the failure seen (0 when
 * none), with *ERR set. */
static short read_direct(evutil_socket_t fd, struct evbuffer *in, size_t limit, size_t *total, int *err)
{
	while (*total < limit) {
		struct evbuffer_iovec v[2];
		struct iovec iov[2];
		size_t want = limit - *total < READ_MORE ? limit - *total : READ_MORE;
		size_t space = 0;
		int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);

		if (nv <= 0) {
			*err = ENOMEM;
			return BEV_EVENT_ERROR;
		}
		/* Trim the reservation to what was asked for. */
		for (int i = 0; i < nv; i++) {
			size_t len = v[i].iov_len < want - space ? v[i].iov_len : want - space;
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = len;
			space += len;
		}
		ssize_t n = read_once(fd, iov, nv);
		if (n <= 0)
			return read_failure(n, err);
		/* Commit what the read filled: whole vectors, then part of one. */
		size_t left = (size_t)n;
		int used = 0;
		while (used < nv && left > 0) {
			v[used].iov_len = iov[used].iov_len < left ? iov[used].iov_len : left;
			left -= v[used].iov_len;
			used++;
		}
		if (evbuffer_commit_space(in, v, used) < 0) {
			*err = ENOMEM;
			return BEV_EVENT_ERROR;
		}
		*total += (size_t)n;
		if ((size_t)n < space)
			return 0; /* the socket is empty */
	}
	return 0;
}

/* Read what the socket holds, up to LIMIT (one first read at least), into
 * IN. Returns the bytes read, and in *FAIL the failure that ended the
 * reading (0 when none), *ERR its errno. */
static size_t read_socket(evutil_socket_t fd, struct evbuffer *in, size_t limit, short *fail, int *err)
{
	static _Thread_local unsigned char scratch[READ_FIRST];
	struct iovec iov = { scratch, sizeof(scratch) };
	size_t total = 0;

	*fail = 0;
	*err = 0;
	ssize_t n = read_once(fd, &iov, 1);
	if (n <= 0) {
		*fail = read_failure(n, err);
		return 0;
	}
	evbuffer_unfreeze(in, 0);
	if (evbuffer_add(in, scratch, (size_t)n) < 0) {
		*fail = BEV_EVENT_ERROR;
		*err = ENOMEM;
	} else {
		total = (size_t)n;
		if ((size_t)n == sizeof(scratch))
			*fail = read_direct(fd, in, limit, &total, err);
	}
	evbuffer_freeze(in, 0);
	return total;
}

static void connread_cb(evutil_socket_t fd, short what, void *arg)
{
	struct connread *r = arg;
	short fail;
	int err;

	if (!r->bev && !r->wake(r->arg))
		return; /* asleep, and the owner closed it instead */
	if (what & EV_TIMEOUT) {
		connread_disable(r);
		r->eventcb(r->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, r->arg);
		return;
	}
	if (r->failed) {
		fail = r->failed;
		err = r->failed_errno;
		r->failed = 0;
	} else if (read_socket(fd, bufferevent_get_input(r->bev), r->limit, &fail, &err) > 0) {
		if (fail) {
			r->failed = fail;
			r->failed_errno = err;
			event_active(&r->ev, EV_READ, 1);
		}
		r->readcb(r->bev, r->arg); /* may free R: nothing after it */
		return;
	}
	if (fail) {
		connread_disable(r);
		errno = err;
		r->eventcb(r->bev, (short)(BEV_EVENT_READING | fail), r->arg);
	}
}

/* TLS: the filter's handshake is not done, so weir reads its socket
 * whatever the owner wants. */
static bool tls_handshaking(const struct connread *r)
{
	SSL *ssl = bufferevent_openssl_get_ssl(r->bev);

	return ssl && !SSL_is_init_finished(ssl);
}

/* TLS: stop watching the socket until the owner wants reads again. */
static void tls_pause(struct connread *r)
{
	r->want = false;
	bufferevent_disable(r->bev, EV_READ);
	(void)event_del(&r->ev);
}

/* TLS: BEV's input is empty but may hold the chain libevent's filter
 * reserved for its last read (8 KiB): a read that found no whole record
 * commits nothing, and draining an empty buffer frees nothing. After the
 * handshake, a client that has not sent its request yet would keep it while
 * it waits (HAProxy's waiting TLS connection holds no buffer). A byte put in
 * and drained with the rest frees it; the next read reserves anew, once. */
static void tls_release_empty_input(struct bufferevent *bev)
{
	static const char byte;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (evbuffer_get_length(in) == 0 && evbuffer_add(in, &byte, 1) == 0)
		evbuffer_drain(in, 1);
}

static void connread_tls_cb(evutil_socket_t fd, short what, void *arg)
{
	struct connread *r = arg;
	struct bufferevent *under = r->under;
	SSL *ssl = bufferevent_openssl_get_ssl(r->bev);
	short fail;
	int err;

	(void)what;
	if (r->failed) {
		fail = r->failed;
		err = r->failed_errno;
		r->failed = 0;
	} else if (read_socket(fd, bufferevent_get_input(under), r->limit, &fail, &err) > 0) {
		bool handshaking = tls_handshaking(r);

		if (fail) {
			r->failed = fail; /* reported at the next readable event: see above */
			r->failed_errno = err;
		}
		/* libevent's filter takes the bytes: handshake or decryption; the
		 * owner's callbacks are deferred, R is still there after it */
		bufferevent_trigger(under, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
		if (handshaking)
			tls_release_empty_input(r->bev);
		if (ssl && (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN)) {
			r->failed = 0; /* the peer's close_notify: the filter reports EOF */
			tls_pause(r);
		} else if (!r->want && !tls_handshaking(r)) {
			(void)event_del(&r->ev); /* the handshake's reads are over */
		}
		return;
	}
	if (fail) {
		tls_pause(r);
		errno = err;
		/* the filter turns it into its own event (EOF, or ERROR) */
		bufferevent_trigger_event(under, (short)(BEV_EVENT_READING | fail), 0);
	}
}

void connread_init(struct connread *r, struct event_base *base, struct bufferevent *bev, bool own,
                   bool connected, bufferevent_data_cb readcb, bufferevent_event_cb eventcb,
                   void *arg)
{
	/* R is not pending: a recycled one was stopped (connread_stop). */
	*r = (struct connread){ .bev = bev, .readcb = readcb, .eventcb = eventcb, .arg = arg,
	                        .own = own, .ready = connected, .limit = READ_BUDGET };
	if (own) {
		event_assign(&r->ev, base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, connread_cb, r);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	r->under = bufferevent_get_underlying(bev);
	if (r->under) {
		/* a TLS filter: weir reads the socket under it, and during the
		 * handshake whatever the owner wants (the handshake needs it) */
		bufferevent_disable(r->under, EV_READ);
		event_assign(&r->ev, base, bufferevent_getfd(r->under), EV_READ | EV_PERSIST, connread_tls_cb, r);
		if (tls_handshaking(r))
			(void)event_add(&r->ev, NULL);
	}
}

void connread_init_memory(struct connread *r, struct bufferevent *bev, bufferevent_data_cb readcb,
                          bufferevent_event_cb eventcb, void *arg)
{
	*r = (struct connread){ .bev = bev, .readcb = readcb, .eventcb = eventcb, .arg = arg,
	                        .memory = true, .ready = true, .limit = READ_BUDGET };
}

void connread_init_asleep(struct connread *r, struct event_base *base, evutil_socket_t fd,
                          connread_wake_cb wake, bufferevent_data_cb readcb,
                          bufferevent_event_cb eventcb, void *arg)
{
	*r = (struct connread){ .wake = wake, .readcb = readcb, .eventcb = eventcb, .arg = arg,
	                        .own = true, .ready = true, .limit = READ_BUDGET };
	event_assign(&r->ev, base, fd, EV_READ | EV_PERSIST, connread_cb, r);
}

bool connread_sleep(struct connread *r, connread_wake_cb wake)
{
	if (!r->own || r->failed)
		return false;
	r->bev = NULL;
	r->wake = wake;
	return true;
}

void connread_wake(struct connread *r, struct bufferevent *bev)
{
	r->bev = bev;
}

evutil_socket_t connread_fd(const struct connread *r)
{
	return event_get_fd(&r->ev);
}

/* Add the read event, with the read timeout when there is one. */
static void arm(struct connread *r)
{
	(void)event_add(&r->ev, r->has_timeout ? &r->timeout : NULL);
}

void connread_enable(struct connread *r)
{
	if (r->memory) {
		if (r->want)
			return;
		r->want = true;
		if (evbuffer_get_length(bufferevent_get_input(r->bev)) != 0)
			bufferevent_trigger(r->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	if (r->under) {
		r->want = true;
		/* the filter first decrypts what waits under it (READCB deferred) */
		bufferevent_enable(r->bev, EV_READ);
		if (!event_pending(&r->ev, EV_READ, NULL))
			(void)event_add(&r->ev, NULL);
		return;
	}
	if (!r->own) {
		bufferevent_enable(r->bev, EV_READ);
		return;
	}
	if (r->want)
		return; /* reading (or waiting for the connect) already */
	r->want = true;
	if (r->ready)
		arm(r);
}

void connread_disable(struct connread *r)
{
	if (r->memory) {
		r->want = false;
		return;
	}
	if (r->under) {
		r->want = false;
		bufferevent_disable(r->bev, EV_READ);
		if (!tls_handshaking(r))
			(void)event_del(&r->ev); /* (the handshake reads on) */
		return;
	}
	if (!r->own) {
		bufferevent_disable(r->bev, EV_READ);
		return;
	}
	r->want = false;
	(void)event_del(&r->ev);
}

bool connread_enabled(const struct connread *r)
{
	if (r->memory || r->under)
		return r->want;
	if (!r->own)
		return (bufferevent_get_enabled(r->bev) & EV_READ) != 0;
	return r->want;
}

void connread_set_timeouts(struct connread *r, const struct timeval *read, const struct timeval *write)
{
	assert(r->bev); /* not asleep: the write timeout is the bufferevent's */
	if (r->under) {
		/* The filter's own write timer would restart at each record it
		 * encrypts and fire on a connection that has nothing to send;
		 * the socket bufferevent's runs only while records wait for the
		 * socket (its event reaches the owner through the filter). */
		bufferevent_set_timeouts(r->bev, read, NULL);
		bufferevent_set_timeouts(r->under, NULL, write);
		return;
	}
	if (!r->own) {
		bufferevent_set_timeouts(r->bev, read, write);
		return;
	}
	bufferevent_set_timeouts(r->bev, NULL, write);
	r->has_timeout = read && evutil_timerisset(read); /* zero is none, as for a bufferevent */
	if (r->has_timeout)
		r->timeout = *read;
	if (event_pending(&r->ev, EV_READ, NULL)) {
		if (r->has_timeout)
			arm(r); /* restarts it */
		else
			(void)event_remove_timer(&r->ev);
		return;
	}
	/* Not reading; but the old timeout may have fired in this loop pass,
	 * its callback not run yet (libevent took the event out of epoll and
	 * queued it): the new setting replaces it, so drop it. And event_add(ev,
	 * NULL) would keep a timeout an earlier add stored in the event: with
	 * none, assign it afresh (event_del first: it may be queued). */
	bool fired = event_pending(&r->ev, EV_TIMEOUT, NULL) != 0;
	if (fired || !r->has_timeout)
		(void)event_del(&r->ev);
	if (!r->has_timeout)
		event_assign(&r->ev, event_get_base(&r->ev), event_get_fd(&r->ev), EV_READ | EV_PERSIST,
		             connread_cb, r);
	if (fired && r->want && r->ready)
		arm(r);
}

void connread_set_limit(struct connread *r, size_t limit)
{
	r->limit = limit < READ_BUDGET ? limit : READ_BUDGET;
}

void connread_connected(struct connread *r)
{
	if (!r->own || r->ready) /* (a TLS filter's reads follow its handshake) */
		return;
	r->ready = true;
	if (r->want)
		arm(r);
}

void connread_stop(struct connread *r)
{
	if (r->own || r->under)
		(void)event_del(&r->ev);
	r->want = false;
	r->ready = false;
}
