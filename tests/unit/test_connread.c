/* Unit tests for connread: weir's own reads of a plain socket, on a real
 * event base over a UNIX socketpair (TCP on loopback for the reset cases).
 * What is asserted is what proxy.c relies on: bufferevent semantics for the
 * callbacks (data before EOF, EOF / ERROR / TIMEOUT with BEV_EVENT_READING
 * and reading disabled first), the per-event limit, large reads in one
 * callback, reads gated on connect, timeouts set and cleared, and sleeping
 * (the bufferevent given back, and taken again before anything is read).
 * Every loop is bounded; no timing is asserted, only the order of events. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "weir/connread.h"

struct fixture {
	struct event_base *base;
	struct bufferevent *bev;
	struct connread r;
	evutil_socket_t peer;           /* the other end, blocking */
	int reads;                      /* read callbacks */
	size_t last_read_len;           /* input length at the last read callback */
	int events;                     /* event callbacks */
	short last_events;
	int last_errno;
	bool wanted_at_event;           /* r.want when the event callback ran */
	bool free_on_read;              /* the read callback frees everything */
	bool sleep_on_read;             /* the read callback tries connread_sleep */
	int slept_on_read;              /* ... which said yes (1) or no (0) */
	struct bufferevent *spare;      /* asleep: the bufferevent R gave back */
	int wakes;                      /* wake callbacks */
	bool refuse_wake;               /* ... which close the connection instead */
};

static bool on_wake(void *arg);

static void on_read(struct bufferevent *bev, void *arg)
{
	struct fixture *f = arg;

	f->reads++;
	f->last_read_len = evbuffer_get_length(bufferevent_get_input(bev));
	if (f->sleep_on_read) /* (a wrong yes then fails in on_wake, not a crash) */
		f->slept_on_read = connread_sleep(&f->r, on_wake);
	if (f->free_on_read) {
		connread_stop(&f->r);
		bufferevent_free(f->bev);
		f->bev = NULL;
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct fixture *f = arg;

	(void)bev;
	f->events++;
	f->last_events = what;
	f->last_errno = errno;
	f->wanted_at_event = f->r.want;
}

/* R is asleep: give it the spare bufferevent, set to its socket, or (with
 * refuse_wake) close everything and refuse. */
static bool on_wake(void *arg)
{
	struct fixture *f = arg;

	f->wakes++;
	assert_null(f->r.bev);
	assert_null(f->bev);
	if (f->refuse_wake) {
		evutil_socket_t fd = connread_fd(&f->r);
		connread_stop(&f->r);
		bufferevent_free(f->spare);
		f->spare = NULL;
		close(fd);
		return false;
	}
	assert_int_equal(bufferevent_setfd(f->spare, connread_fd(&f->r)), 0);
	f->bev = f->spare;
	f->spare = NULL;
	bufferevent_setcb(f->bev, on_read, NULL, on_event, f);
	connread_wake(&f->r, f->bev);
	return true;
}

/* F's connread goes to sleep: its bufferevent is the spare now. */
static void fixture_sleep(struct fixture *f)
{
	assert_true(connread_sleep(&f->r, on_wake));
	assert_null(f->r.bev);
	assert_int_equal(bufferevent_setfd(f->bev, -1), 0);
	f->spare = f->bev;
	f->bev = NULL;
}

/* F around a connected pair: a UNIX socketpair, or TCP on loopback. */
static struct fixture *fixture_new(bool tcp, bool connected)
{
	struct fixture *f = calloc(1, sizeof(*f));
	evutil_socket_t fds[2];

	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	if (tcp) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t alen = sizeof(a);
		int l = socket(AF_INET, SOCK_STREAM, 0);

		assert_true(l >= 0);
		assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(listen(l, 1), 0);
		assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
		fds[1] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(fds[1], (struct sockaddr *)&a, sizeof(a)), 0);
		fds[0] = accept(l, NULL, NULL);
		assert_true(fds[0] >= 0);
		close(l);
	} else {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	}
	assert_int_equal(evutil_make_socket_nonblocking(fds[0]), 0);
	f->peer = fds[1];
	f->bev = bufferevent_socket_new(f->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(f->bev);
	bufferevent_setcb(f->bev, on_read, NULL, on_event, f);
	connread_init(&f->r, f->base, f->bev, true, connected, on_read, on_event, f);
	return f;
}

static void fixture_free(struct fixture *f)
{
	if (f->bev) {
		connread_stop(&f->r);
		bufferevent_free(f->bev);
	}
	if (f->spare) { /* asleep: R holds the socket */
		connread_stop(&f->r);
		close(connread_fd(&f->r));
		bufferevent_free(f->spare);
	}
	if (f->peer >= 0)
		close(f->peer);
	event_base_free(f->base);
	free(f);
}

/* Run the loop once without waiting: the callbacks of what is ready now. */
static void run_ready(struct fixture *f)
{
	assert_true(event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) >= 0);
}

/* Run the loop until the read or event callback count changes, at most
 * BOUND passes (each waits for the next event, or 2 s at most). */
static void run_until_callback(struct fixture *f, int bound)
{
	int before = f->reads + f->events;
	struct timeval cap = { 2, 0 };

	for (int i = 0; i < bound && f->reads + f->events == before; i++) {
		event_base_loopexit(f->base, &cap);
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
	}
	assert_int_not_equal(f->reads + f->events, before);
}

static void write_pattern(evutil_socket_t fd, size_t n)
{
	unsigned char buf[4096];
	size_t off = 0;

	while (off < n) {
		size_t k = n - off < sizeof(buf) ? n - off : sizeof(buf);
		for (size_t i = 0; i < k; i++)
			buf[i] = (unsigned char)((off + i) % 251);
		ssize_t w = write(fd, buf, k);
		assert_true(w > 0);
		off += (size_t)w;
	}
}

static void assert_pattern(struct evbuffer *in, size_t from, size_t n)
{
	unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)((from + i) % 251))
			fail_msg("byte %zu is %u, expected %u", from + i, p[i], (unsigned)((from + i) % 251));
}

/* The peer sends N bytes, then resets the connection (close with SO_LINGER 0). */
static void peer_sends_then_resets(struct fixture *f, size_t n)
{
	struct linger lg = { 1, 0 };

	write_pattern(f->peer, n);
	assert_int_equal(setsockopt(f->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(f->peer);
	f->peer = -1;
}

/* 100 KB waiting: one read callback gets all of it, intact. */
static void test_large_read_in_one_callback(void **state)
{
	struct fixture *f = fixture_new(false, true);
	int sz = 1 << 20;
	(void)state;

	assert_int_equal(setsockopt(f->peer, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	write_pattern(f->peer, 100000);
	connread_enable(&f->r);
	run_ready(f);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->last_read_len, 100000);
	assert_pattern(bufferevent_get_input(f->bev), 0, 100000);
	fixture_free(f);
}

/* The limit caps one event's reads; the rest comes at the next events. */
static void test_limit_per_event(void **state)
{
	struct fixture *f = fixture_new(false, true);
	struct evbuffer *in;
	(void)state;

	connread_set_limit(&f->r, 20000);
	write_pattern(f->peer, 50000);
	connread_enable(&f->r);
	run_ready(f);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->last_read_len, 20000);
	run_ready(f);
	assert_int_equal(f->last_read_len, 40000);
	run_ready(f);
	assert_int_equal(f->last_read_len, 50000);
	in = bufferevent_get_input(f->bev);
	assert_pattern(in, 0, 50000);
	fixture_free(f);
}

/* Data, then the peer's close: the data first, then EOF | READING with
 * reading disabled before the callback. */
static void test_data_then_eof(void **state)
{
	struct fixture *f = fixture_new(false, true);
	(void)state;

	write_pattern(f->peer, 10);
	close(f->peer);
	f->peer = -1;
	connread_enable(&f->r);
	run_until_callback(f, 5);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->events, 0);
	run_until_callback(f, 5);
	assert_int_equal(f->events, 1);
	assert_int_equal(f->last_events, BEV_EVENT_READING | BEV_EVENT_EOF);
	assert_false(f->wanted_at_event);
	assert_int_equal(evbuffer_get_length(bufferevent_get_input(f->bev)), 10);
	fixture_free(f);
}

/* Disabled: nothing is read; enabled again: the data arrives. */
static void test_disable_and_enable(void **state)
{
	struct fixture *f = fixture_new(false, true);
	(void)state;

	connread_enable(&f->r);
	connread_disable(&f->r);
	write_pattern(f->peer, 100);
	run_ready(f);
	assert_int_equal(f->reads, 0);
	connread_enable(&f->r);
	run_ready(f);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->last_read_len, 100);
	fixture_free(f);
}

/* Not connected yet: reads wait for connread_connected. */
static void test_reads_wait_for_connect(void **state)
{
	struct fixture *f = fixture_new(false, false);
	(void)state;

	connread_enable(&f->r);
	write_pattern(f->peer, 100);
	run_ready(f);
	assert_int_equal(f->reads, 0);
	connread_connected(&f->r);
	run_ready(f);
	assert_int_equal(f->reads, 1);
	fixture_free(f);
}

/* A read timeout fires as TIMEOUT | READING, reading disabled first. */
static void test_read_timeout(void **state)
{
	struct fixture *f = fixture_new(false, true);
	struct timeval t = { 0, 20000 };
	(void)state;

	connread_set_timeouts(&f->r, &t, NULL);
	connread_enable(&f->r);
	run_until_callback(f, 5);
	assert_int_equal(f->events, 1);
	assert_int_equal(f->last_events, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
	assert_false(f->wanted_at_event);
	fixture_free(f);
}

/* A timeout set, then cleared while disabled, never fires after the next
 * enable, not even once a read has made libevent re-arm the event (it does
 * so from the timeout stored in the event): the loop ends on a later timer
 * with no event callback. */
static void test_cleared_timeout_stays_cleared(void **state)
{
	struct fixture *f = fixture_new(false, true);
	struct timeval t = { 0, 20000 };
	struct timeval end = { 0, 200000 };
	(void)state;

	connread_set_timeouts(&f->r, &t, NULL);
	connread_enable(&f->r);    /* stores the 20 ms timeout in the event */
	connread_disable(&f->r);
	connread_set_timeouts(&f->r, NULL, NULL);
	connread_enable(&f->r);
	write_pattern(f->peer, 10);
	event_base_loopexit(f->base, &end);
	assert_true(event_base_dispatch(f->base) >= 0);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->events, 0);
	fixture_free(f);
}

/* The peer sends N bytes and resets: the data, then ERROR | READING with
 * errno ECONNRESET (in the same loop pass or the next). */
static void check_data_then_reset(size_t n)
{
	struct fixture *f = fixture_new(true, true);

	peer_sends_then_resets(f, n);
	connread_enable(&f->r);
	run_until_callback(f, 5);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->last_read_len, n);
	if (f->events == 0)
		run_until_callback(f, 5);
	assert_int_equal(f->events, 1);
	assert_int_equal(f->last_events, BEV_EVENT_READING | BEV_EVENT_ERROR);
	assert_int_equal(f->last_errno, ECONNRESET);
	fixture_free(f);
}

/* A little data, then a reset seen at the next readable event. */
static void test_data_then_reset(void **state)
{
	(void)state;
	check_data_then_reset(1000);
}

/* A reset right after a read that filled the first buffer, seen in the same
 * event: still an ERROR, reported right after the data (the kernel reports
 * a reset only once; a later read would see a clean EOF). */
static void test_reset_in_the_same_event_stays_an_error(void **state)
{
	(void)state;
	check_data_then_reset(16 * 1024 - 256); /* connread's first read */
}

/* The read callback may free the connection, with a failure pending: no
 * callback runs after it (ASan / valgrind see any use after free). */
static void test_free_in_read_callback(void **state)
{
	struct fixture *f = fixture_new(true, true);
	(void)state;

	peer_sends_then_resets(f, 16 * 1024 - 256);
	f->free_on_read = true;
	connread_enable(&f->r);
	run_until_callback(f, 5);
	assert_int_equal(f->reads, 1);
	run_ready(f);
	run_ready(f);
	assert_int_equal(f->events, 0);
	fixture_free(f);
}

/* Asleep, the socket readable: the wake callback runs first, then the
 * read callback, with what arrived in the new bufferevent's input. */
static void test_asleep_wakes_before_reading(void **state)
{
	struct fixture *f = fixture_new(false, true);
	(void)state;

	connread_enable(&f->r);
	fixture_sleep(f);
	run_ready(f);
	assert_int_equal(f->wakes + f->reads, 0);
	write_pattern(f->peer, 100);
	run_ready(f);
	assert_int_equal(f->wakes, 1);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->last_read_len, 100);
	assert_pattern(bufferevent_get_input(f->bev), 0, 100);
	/* Awake again: more data takes no wake. */
	write_pattern(f->peer, 50);
	run_ready(f);
	assert_int_equal(f->wakes, 1);
	assert_int_equal(f->reads, 2);
	fixture_free(f);
}

/* Asleep, the peer closes: woken, then EOF | READING as when awake. */
static void test_asleep_eof(void **state)
{
	struct fixture *f = fixture_new(false, true);
	(void)state;

	connread_enable(&f->r);
	fixture_sleep(f);
	close(f->peer);
	f->peer = -1;
	run_until_callback(f, 5);
	assert_int_equal(f->wakes, 1);
	assert_int_equal(f->reads, 0);
	assert_int_equal(f->events, 1);
	assert_int_equal(f->last_events, BEV_EVENT_READING | BEV_EVENT_EOF);
	fixture_free(f);
}

/* A wake that closes the connection instead: no callback after it
 * (ASan / valgrind see any use of what it freed). */
static void test_asleep_wake_refused(void **state)
{
	struct fixture *f = fixture_new(false, true);
	(void)state;

	connread_enable(&f->r);
	fixture_sleep(f);
	f->refuse_wake = true;
	write_pattern(f->peer, 100);
	run_ready(f);
	run_ready(f);
	assert_int_equal(f->wakes, 1);
	assert_int_equal(f->reads + f->events, 0);
	fixture_free(f);
}

/* Set up asleep on a bare socket: the first byte brings the bufferevent. */
static void test_init_asleep(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	evutil_socket_t fds[2];
	(void)state;

	assert_non_null(f);
	assert_non_null(f->base = event_base_new());
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(evutil_make_socket_nonblocking(fds[0]), 0);
	f->peer = fds[1];
	assert_non_null(f->spare = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE));
	connread_init_asleep(&f->r, f->base, fds[0], on_wake, on_read, on_event, f);
	assert_int_equal(connread_fd(&f->r), fds[0]);
	write_pattern(f->peer, 100);
	run_ready(f);
	assert_int_equal(f->wakes + f->reads, 0); /* reading starts disabled */
	connread_enable(&f->r);
	run_ready(f);
	assert_int_equal(f->wakes, 1);
	assert_int_equal(f->reads, 1);
	assert_pattern(bufferevent_get_input(f->bev), 0, 100);
	fixture_free(f);
}

/* A TLS-style connection (not read by weir) and one with a failure still
 * to report keep their bufferevent. */
static void test_sleep_refused(void **state)
{
	struct fixture *f = fixture_new(true, true);
	struct connread other;
	(void)state;

	connread_init(&other, f->base, f->bev, false, true, on_read, on_event, f);
	assert_false(connread_sleep(&other, on_wake));
	assert_ptr_equal(other.bev, f->bev);
	connread_init(&f->r, f->base, f->bev, true, true, on_read, on_event, f);
	/* The reset is seen in the read event that returned the data, and
	 * reported after the read callback. */
	peer_sends_then_resets(f, 16 * 1024 - 256);
	f->sleep_on_read = true;
	f->slept_on_read = -1;
	connread_enable(&f->r);
	run_until_callback(f, 5);
	assert_int_equal(f->reads, 1);
	assert_int_equal(f->slept_on_read, 0);
	assert_ptr_equal(f->r.bev, f->bev);
	if (f->events == 0)
		run_until_callback(f, 5);
	assert_int_equal(f->events, 1);
	assert_true(f->last_events & BEV_EVENT_ERROR);
	fixture_free(f);
}

/* Memory mode (an HTTP/2 stream's bufferevent, no socket): reading is a
 * flag that leaves the bufferevent's own EV_READ alone; enabling it with
 * bytes already in the input runs the read callback for them (deferred),
 * enabling it with none runs nothing. */
static void test_memory_mode(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	(void)state;

	assert_non_null(f);
	f->peer = -1;
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->bev = bufferevent_socket_new(f->base, -1, BEV_OPT_DEFER_CALLBACKS));
	bufferevent_setcb(f->bev, on_read, NULL, on_event, f);
	connread_init_memory(&f->r, f->bev, on_read, on_event, f);
	assert_false(connread_enabled(&f->r));

	struct evbuffer *in = bufferevent_get_input(f->bev);
	evbuffer_unfreeze(in, 0);
	assert_int_equal(evbuffer_add(in, "abc", 3), 0);
	evbuffer_freeze(in, 0);
	run_ready(f);
	assert_int_equal(f->reads, 0); /* not reading: nothing runs */

	connread_enable(&f->r);
	assert_true(connread_enabled(&f->r));
	assert_false(bufferevent_get_enabled(f->bev) & EV_READ);
	assert_int_equal(f->reads, 0); /* deferred, not from inside the enable */
	run_ready(f);
	assert_int_equal(f->reads, 1);

	evbuffer_drain(in, evbuffer_get_length(in));
	connread_disable(&f->r);
	assert_false(connread_enabled(&f->r));
	connread_enable(&f->r);
	run_ready(f);
	assert_int_equal(f->reads, 1); /* nothing waited */
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_large_read_in_one_callback),
		cmocka_unit_test(test_limit_per_event),
		cmocka_unit_test(test_data_then_eof),
		cmocka_unit_test(test_disable_and_enable),
		cmocka_unit_test(test_reads_wait_for_connect),
		cmocka_unit_test(test_read_timeout),
		cmocka_unit_test(test_cleared_timeout_stays_cleared),
		cmocka_unit_test(test_data_then_reset),
		cmocka_unit_test(test_reset_in_the_same_event_stays_an_error),
		cmocka_unit_test(test_free_in_read_callback),
		cmocka_unit_test(test_asleep_wakes_before_reading),
		cmocka_unit_test(test_asleep_eof),
		cmocka_unit_test(test_asleep_wake_refused),
		cmocka_unit_test(test_init_asleep),
		cmocka_unit_test(test_sleep_refused),
		cmocka_unit_test(test_memory_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
