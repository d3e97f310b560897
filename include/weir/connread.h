/* connread: the reading side of one proxied connection.
 * Owns: the read buffer and read state of one proxied connection.
 *
 * libevent 2.1's socket bufferevents read at most 4,096 bytes per readable
 * event and ask ioctl(FIONREAD) before each read: a 64 KiB response costs
 * 16 reads and 16 ioctls on each side of the proxy. For a plain socket weir
 * therefore reads itself, on the same loop: one persistent EV_READ event,
 * recv straight into the bufferevent's input buffer in large segments
 * (evbuffer_reserve_space, no copy), no FIONREAD. The bufferevent keeps its
 * output side (writes, the write timeout, connect) and its EV_READ stays
 * disabled. A TLS bufferevent (tls.h: libevent's OpenSSL filter over a
 * socket bufferevent) is read the same way: weir reads the socket into the
 * input under the filter, and the filter decrypts it into its own; the read
 * timeout is the filter's, the write timeout the socket bufferevent's (it
 * runs while records wait for the socket). An HTTP/2 stream's
 * bufferevent has no socket at all (h2front fills its input): there
 * "reading" is a flag the writer looks at (connread_init_memory).
 *
 * The callbacks keep bufferevent semantics, so the caller's code is the
 * same for both: READCB after bytes were added to the input; EVENTCB with
 * BEV_EVENT_READING | EOF, ERROR (errno set) or TIMEOUT, reading being
 * disabled first, as libevent does. The read timeout restarts at every
 * readable event, as a bufferevent's does, and a zero one is none.
 *
 * Asleep. A plain connection that waits for the first byte of a request
 * needs no buffers: its owner may take the bufferevent away (connread_sleep)
 * while R goes on watching the socket. Its next readable event, or read
 * timeout, first calls the WAKE callback, which gives R a bufferevent again
 * (connread_wake) or closes the connection and returns false. */
#ifndef WEIR_CONNREAD_H
#define WEIR_CONNREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>

/* See "Asleep" above: true when R has a bufferevent again. */
typedef bool (*connread_wake_cb)(void *arg);

struct connread {
	struct event ev;                /* EV_READ | EV_PERSIST on the socket (own reads) */
	struct bufferevent *bev;        /* NULL while asleep */
	struct bufferevent *under;      /* TLS: the socket bufferevent under BEV's filter */
	connread_wake_cb wake;          /* ... and this gives it one back */
	bufferevent_data_cb readcb;
	bufferevent_event_cb eventcb;
	void *arg;
	struct timeval timeout;         /* read timeout; has_timeout false: none */
	bool has_timeout;
	bool own;                       /* a plain socket: weir reads it */
	bool memory;                    /* no socket: another module fills the input */
	bool want;                      /* the owner wants reads */
	bool ready;                     /* the socket is connected (own reads) */
	size_t limit;                   /* bytes per readable event, at most */
	short failed;                   /* BEV_EVENT_EOF / ERROR seen after data in
	                                   the same event: reported at the next one */
	int failed_errno;
};

/* Set up R for BEV, whose descriptor exists (accepted, or connect started).
 * OWN: BEV is a plain socket bufferevent and weir reads it; its callbacks
 * are READCB / EVENTCB with ARG (set the same on BEV for its write side).
 * Else BEV is a TLS filter (its callbacks are the owner's, set on BEV),
 * or a bufferevent that reads by itself. CONNECTED false: reads start once
 * connread_connected is called. A TLS filter's socket is read for its
 * handshake until that is done, whatever CONNECTED and the owner say.
 * Starts with reading disabled and no read timeout. Never fails. */
void connread_init(struct connread *r, struct event_base *base, struct bufferevent *bev, bool own,
                   bool connected, bufferevent_data_cb readcb, bufferevent_event_cb eventcb,
                   void *arg);

/* Set up R for BEV, a bufferevent without a socket whose input another
 * module of the worker fills (an HTTP/2 stream's, h2front): it adds only
 * while connread_enabled, and then runs READCB (deferred). Enabling R with
 * bytes already in the input runs READCB for them (deferred), as a pair's
 * end would. Starts with reading disabled. Never fails. */
void connread_init_memory(struct connread *r, struct bufferevent *bev, bufferevent_data_cb readcb,
                          bufferevent_event_cb eventcb, void *arg);

/* Set up R for the plain socket FD, connected and asleep: no bufferevent
 * until WAKE gives it one. Starts with reading disabled and no read
 * timeout. Never fails. */
void connread_init_asleep(struct connread *r, struct event_base *base, evutil_socket_t fd,
                          connread_wake_cb wake, bufferevent_data_cb readcb,
                          bufferevent_event_cb eventcb, void *arg);

/* R (own reads; the owner left its input empty) gives up its bufferevent
 * until its socket is readable again: WAKE is then called first. False, and
 * R keeps it, when R is no own reader or has a failure to report still. */
bool connread_sleep(struct connread *r, connread_wake_cb wake);

/* R's owner gives it BEV, a socket bufferevent on the same descriptor. */
void connread_wake(struct connread *r, struct bufferevent *bev);

/* The socket R reads (own reads only: asleep or not). */
evutil_socket_t connread_fd(const struct connread *r);

/* Start or stop reading (bufferevent_enable / disable of EV_READ). Enabling
 * a reader that reads already changes nothing: its read timeout runs on
 * (connread_set_timeouts restarts it). */
void connread_enable(struct connread *r);
void connread_disable(struct connread *r);

/* Whether reading is enabled: the last of connread_enable and
 * connread_disable (on a plain socket also the disable made before an EOF,
 * error or timeout is reported). */
bool connread_enabled(const struct connread *r);

/* The read timeout READ and BEV's write timeout WRITE; NULL: none. Like
 * bufferevent_set_timeouts, it restarts a pending read timeout. Not while
 * asleep (there is no BEV to time). */
void connread_set_timeouts(struct connread *r, const struct timeval *read, const struct timeval *write);

/* Read at most LIMIT bytes per readable event (never less than one first
 * read of about 16 KiB, never more than about 144 KiB): the caller's
 * backpressure mark, so that what it checks after READCB is overshot by
 * LIMIT at most. Plain sockets only; a TLS bufferevent reads as libevent
 * does. */
void connread_set_limit(struct connread *r, size_t limit);

/* BEV's connect completed: reading starts if it was enabled. */
void connread_connected(struct connread *r);

/* Stop for good, before BEV is freed; R may then be set up again. */
void connread_stop(struct connread *r);

#endif
