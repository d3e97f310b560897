/* net: listening sockets, and weir's own writes (see include/weir/net.h). */
#include "weir/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

int net_listen(const struct cfg_addr *addr, bool reuseport, int backlog, const char *what,
               char *err, size_t errlen)
{
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:;
	int saved = errno;

	snprintf(err, errlen, "cannot listen on %s%s%s%s: %s", addr->text, what ? " (" : "",
	         what ? what : "", what ? ")" : "", strerror(saved));
	if (fd >= 0)
		close(fd);
	return -1;
}

enum { SEND_IOV = 64 };   /* chains per sendmsg (libevent's writev takes up to 128) */

/* sendmsg goes straight to the socket layer; libevent's evbuffer_write uses
 * writev, which takes the VFS path first (rw_verify_area, an iovec import),
 * a cost perf showed per write. */
static void send_queued(struct evbuffer *out, evutil_socket_t fd)
{
	struct evbuffer_iovec v[SEND_IOV];
	struct iovec iov[SEND_IOV];

	for (;;) {
		int n = evbuffer_peek(out, -1, NULL, v, SEND_IOV);
		size_t want = 0;
		ssize_t r;

		if (n <= 0)
			return;
		if (n > SEND_IOV)
			n = SEND_IOV;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			want += v[i].iov_len;
		}
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		do
			r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r <= 0 || evbuffer_drain(out, (size_t)r) < 0 || (size_t)r < want)
			return; /* the socket is full, or failed */
	}
}

bool net_send_output(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0)
		return true;
	/* A socket bufferevent keeps its output's front frozen so that only
	 * its own write callback drains it; that callback thaws it the same
	 * way. */
	evbuffer_unfreeze(out, 1);
	send_queued(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	return evbuffer_get_length(out) == 0;
}
