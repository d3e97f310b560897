/* proxy: one client connection's life: read a request head, choose a pool and
 * a server, relay the request and its response, measure it, and either wait
 * for the next request (keep-alive, pipelining) or close.
 *
 * Both directions stream with watermark backpressure: when one side's output
 * passes its high mark, reading from the other side stops until it drains to
 * a quarter of it (bp_high).
 * Nothing is allocated per request except what libevent's buffers need;
 * connection structs and upstream connections are reused.
 *
 * A client connection's states (enum conn_state). A state changes only in
 * conn_set_state, and its timer (c->timer, one per connection) is armed only
 * in conn_arm_timer: by conn_set_state, and again within a state when the
 * party it waits for makes progress or changes (a restart). What the timer
 * waits for in the three exchange states (SEND_BODY, AWAIT_RESPONSE, RELAY)
 * is exchange_waits_for's answer, which also says whom its expiry blames:
 *
 *   state           waits for                timer                  exits
 *   IDLE            a request's first byte   timeouts.idle: close;  HEAD; DORMANT; FLUSH
 *                                            awake, IDLE_AWAKE_MS   (half-closed); close
 *                                            of it first: DORMANT
 *   DORMANT         the same, its buffers    the rest of            HEAD; close
 *                   given back (conn_sleep)  timeouts.idle: close
 *   NEXT            the loop (a pipelined    at once: parse it      HEAD; IDLE (nothing
 *                   request is in the input)                        left to parse); FLUSH;
 *                                                                   close
 *   HEAD            the rest of the head     request_header: 408    CONNECT; SEND_BODY or
 *                                                                   AWAIT_RESPONSE (reused
 *                                                                   upstream); FLUSH
 *   CONNECT         the server's connect     timeouts.connect:      SEND_BODY or
 *                   (and TLS handshake)      another server, or     AWAIT_RESPONSE;
 *                                            504                    CONNECT (another
 *                                                                   server); FLUSH (502/504)
 *   SEND_BODY       the client's body;       idle: 408 (the         AWAIT_RESPONSE; RELAY
 *                   the server taking it     client's); backend:    (early answer); FLUSH;
 *                   (client reads paused)    504 (the pool's)       close
 *   AWAIT_RESPONSE  the response head        backend, restarted at  RELAY; CONNECT (a
 *                                            every read: 504        reused upstream closed:
 *                                                                   once more); FLUSH; close
 *   RELAY           the response body (and   backend, restarted at  DELIVER; IDLE or NEXT;
 *                   a request body still     every read: 504, cut;  FLUSH; close (a cut
 *                   coming: as SEND_BODY)    none while the client  response: a reset if
 *                                            holds it up            close-delimited)
 *   DELIVER         the client taking the    none: the client's     IDLE or NEXT; FLUSH;
 *                   rest of the response     write timeout (idle,   close
 *                                            on its bufferevent)
 *   FLUSH           the output to drain      timeouts.idle: close   LINGER; close
 *   LINGER          the client's close, its  min(idle, 3 s): close  close
 *                   input discarded
 *
 * The client's write timeout (timeouts.idle) is no state's: it bounds every
 * state in which a response waits in the output for a client that stopped
 * reading. "close" is conn_close; every failure goes through conn_fail,
 * which releases the upstream, measures the request, answers when nothing
 * of a response has left weir, and picks the close: FLUSH then LINGER after
 * an answer, a reset when a close-delimited response was cut, else a plain
 * close. A client that leaves while its routed request is in flight is
 * measured as abandoned there.
 *
 * A client connection may also be an HTTP/2 stream's proxy side
 * (c->h2_stream, h2front.h): its bufferevent has no socket (h2front fills
 * its input and empties its output), and the states, timers and
 * measurement are the same but for IDLE before its request, which has no
 * timer there (the head is in the input when the stream opens). What needs
 * a socket is skipped (the FIN peek, lingering, the reset of a cut
 * response: h2front resets the stream instead), and it takes no admission
 * slot (its HTTP/2 connection holds one). An HTTP/2 client is handed over before its
 * first request: after a TLS handshake that chose h2 by ALPN, or when the
 * first bytes on a plain h2c listener are the connection preface. */
#include "weir/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "weir/accesslog.h"
#include "weir/clock.h"
#include "weir/config.h"
#include "weir/h2front.h"
#include "weir/headbuf.h"
#include "weir/net.h"
#include "weir/split.h"
#include "weir/tls.h"
#include "weir/runtime-t.h"
#include "weir/upstream.h"
#include "weir/weights.h"
#include "weir/worker-t.h"

#define BP_HIGH (256 * 1024)          /* pause the producer above this... */
#define BP_LOW (64 * 1024)            /* ...resume it at or below this (write callbacks) */
/* ...as long as a worker's connections stay within BP_BUDGET each way; with
 * more of them each gets its share, but never less than BP_FLOOR. */
#define BP_BUDGET (32 * 1024 * 1024)
#define BP_FLOOR (16 * 1024)
#define MAX_REQUEST_LINE 8192         /* longer request lines get 414 */
#define MIN_RESPONSE_HEAD (64 * 1024) /* backends may send larger heads than clients */
#define MAX_FREE_CONNS 1024           /* connection structs (and exchange memories) cached per worker */
/* How long an idle plain connection keeps its bufferevent (~1 KB with its
 * two evbuffers) before it gives it back (DORMANT): a client that sends its
 * next request within this (a busy API client, a load test) pays nothing
 * for sleeping and waking; one that idles longer holds no buffers. A sleep
 * and a wake cost ~3 k instructions (a request ~10-12 k): at 100 ms only
 * clients slower than 10 requests/s pay them, and a burst of new clients
 * holds a tenth of the buffers a 1 s wait held (docs/BENCHMARKS.md). */
#define IDLE_AWAKE_MS 100
/* A connection's timer that fires this close to its deadline has reached
 * it: libevent times its events on the coarse monotonic clock (a tick of
 * 1-4 ms), so an event may fire that much before the deadline on ours. */
#define TIMER_SLACK_US 5000
/* Lingering close: how long a closing connection discards what the client
 * still sends before it is closed anyway (nginx's lingering_timeout is 5 s;
 * a client that read its answer closes within a round trip). */
#define LINGER_MS 3000
/* Interim (1xx) responses relayed per request; one more is the backend's
 * error (502). A client may ask for 100-continue and get 103 Early Hints:
 * a few are legitimate, an endless stream is not. */
#define MAX_INTERIM 8

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short events, void *arg);
static void upstream_read_cb(struct bufferevent *bev, void *arg);
static void upstream_write_cb(struct bufferevent *bev, void *arg);
static void upstream_event_cb(struct bufferevent *bev, short events, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short events, void *arg);
static void client_parse_head(struct client_conn *c);
static void conn_close(struct client_conn *c);
static bool forward_response_body(struct client_conn *c);

static inline const struct weir_config *conf(const struct client_conn *c)
{
	return c->w->cfg;
}

static void set_nodelay(evutil_socket_t fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The high mark of one connection's output buffers: BP_HIGH while the
 * worker has few connections, so one transfer streams at full speed; with
 * many, the share of BP_BUDGET, so that what a worker buffers stays near
 * BP_BUDGET each way (plus BP_FLOOR a connection), not 256 KiB times
 * max_connections. Producers resume at a quarter of it. */
static size_t bp_high(const struct worker *w)
{
	size_t share = w->clients.nopen ? BP_BUDGET / w->clients.nopen : BP_HIGH;

	return share > BP_HIGH ? BP_HIGH : share < BP_FLOOR ? BP_FLOOR : share;
}

/* ---- connection state ---------------------------------------------------- */

/* C is in SEND_BODY, AWAIT_RESPONSE or RELAY: an upstream is attached and
 * connected, and bytes flow. */
static bool in_exchange(const struct client_conn *c)
{
	return c->state == CONN_SEND_BODY || c->state == CONN_AWAIT_RESPONSE || c->state == CONN_RELAY;
}

/* The exchange state a connected request is in before its response: by
 * whether its body is all in. */
static enum conn_state exchange_state(const struct client_conn *c)
{
	return c->req_done ? CONN_AWAIT_RESPONSE : CONN_SEND_BODY;
}

/* Whom an exchange waits for, which sets the timer of its state and whom
 * its expiry blames. */
enum exchange_wait {
	WAIT_NOBODY, /* the server's response is held up by a client that does not
	                read it: the client's write timeout bounds that */
	WAIT_CLIENT, /* the request body: timeouts.idle, then 408 (not the pool's) */
	WAIT_SERVER, /* the server: to take the request body weir holds for it
	                (reading the client is paused for it), or to send the
	                response: timeouts.backend, then 504 (the pool's) */
};

static enum exchange_wait exchange_waits_for(const struct client_conn *c)
{
	if (!c->req_done)
		return connread_enabled(&c->rd) ? WAIT_CLIENT : WAIT_SERVER;
	return c->up && connread_enabled(&c->up->rd) ? WAIT_SERVER : WAIT_NOBODY;
}

/* Add C's timer event for its deadline, NOW being clock_now_us(). */
static void conn_timer_add(struct client_conn *c, uint64_t now)
{
	uint64_t us = c->due_us > now ? c->due_us - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000) };

	c->armed_us = c->due_us;
	evtimer_add(&c->timer, &tv);
}

/* C's timer stops for good (C closes or is handed over). */
static void conn_timer_stop(struct client_conn *c)
{
	evtimer_del(&c->timer);
	c->armed_us = c->due_us = 0;
}

/* The one place C's timer is armed, for the state C is in (the table atop
 * this file); arming it again restarts it. The deadline is kept in C
 * (due_us), and the event is added again only when the deadline is earlier
 * than the one it is pending for: a later deadline, which most state changes
 * and every restart of a flowing exchange make, costs no update of
 * libevent's timer heap (a fifth of a keep-alive request's instructions
 * went there). The event that then fires before the deadline is added again
 * for the rest (conn_timer_cb), at most once per deadline it was added for;
 * a state without a timer leaves it pending, to fire and find none. */
static void conn_arm_timer(struct client_conn *c)
{
	const struct cfg_timeouts *t = &conf(c)->timeouts;
	uint64_t ms = 0;

	c->idle_awake = false;
	switch (c->state) {
	case CONN_IDLE:
		/* An HTTP/2 stream is idle before its request only until its
		 * head, already in its input, is read in this loop pass or the
		 * next; after a response it is idle as any client. */
		if (c->h2_stream && c->t_head_us == 0) {
			c->due_us = 0;
			return;
		}
		/* A plain connection that holds its buffers gives them back first. */
		c->idle_awake = c->plain && c->bev && t->idle_ms > IDLE_AWAKE_MS;
		ms = c->idle_awake ? IDLE_AWAKE_MS : t->idle_ms;
		break;
	case CONN_DORMANT: /* (a reload may have shortened timeouts.idle since) */
		ms = t->idle_ms > IDLE_AWAKE_MS ? t->idle_ms - IDLE_AWAKE_MS : 0;
		break;
	case CONN_NEXT: ms = 0; break; /* at once, from the loop: never recursion */
	case CONN_HEAD: ms = t->request_header_ms; break;
	case CONN_CONNECT: ms = t->connect_ms; break;
	case CONN_SEND_BODY:
	case CONN_AWAIT_RESPONSE:
	case CONN_RELAY: {
		enum exchange_wait who = exchange_waits_for(c);
		if (who == WAIT_NOBODY) {
			c->due_us = 0;
			return;
		}
		ms = who == WAIT_CLIENT ? t->idle_ms : t->backend_ms;
		break;
	}
	case CONN_FLUSH: ms = t->idle_ms; break;
	case CONN_LINGER: ms = t->idle_ms < LINGER_MS ? t->idle_ms : LINGER_MS; break;
	case CONN_DELIVER: /* none: the client's write timeout */
	case CONN_STATE_COUNT:
		c->due_us = 0;
		return;
	}
	uint64_t now = clock_now_us();
	c->due_us = now + ms * 1000;
	if (!c->armed_us || c->armed_us > c->due_us)
		conn_timer_add(c, now);
}

/* The one place a state changes. */
static void conn_set_state(struct client_conn *c, enum conn_state s)
{
	c->state = s;
	conn_arm_timer(c);
}

/* WHO made progress in C's exchange: if the timer waits for it, it starts over. */
static void exchange_progress(struct client_conn *c, enum exchange_wait who)
{
	if (in_exchange(c) && exchange_waits_for(c) == who)
		conn_arm_timer(c);
}

/* C's exchange memory, taken from the worker's cache (or allocated) with both
 * parsers ready, when a request's first byte arrives. NULL when out of memory. */
static struct exchange_mem *exchange_take(struct client_conn *c)
{
	const struct weir_config *cfg = conf(c);
	struct worker *w = c->w;
	struct exchange_mem *x = c->x;
	size_t line = cfg->limits.max_header_bytes < MAX_REQUEST_LINE ? cfg->limits.max_header_bytes
	                                                              : MAX_REQUEST_LINE;
	size_t resp_max = cfg->limits.max_header_bytes > MIN_RESPONSE_HEAD ? cfg->limits.max_header_bytes
	                                                                   : MIN_RESPONSE_HEAD;

	if (x)
		return x;
	if (w->clients.cached_x) {
		x = w->clients.cached_x;
		w->clients.cached_x = x->next_free;
		w->clients.ncached_x--;
	} else if (!(x = malloc(sizeof(*x)))) {
		return NULL;
	}
	http1_parser_init(&x->req, HTTP1_REQUEST, cfg->limits.max_header_bytes, line);
	http1_parser_init(&x->resp, HTTP1_RESPONSE, resp_max, resp_max);
	accesslog_req_clear(&x->al_req);
	x->al_server[0] = '\0';
	c->x = x;
	return x;
}

/* C waits for its next request (or closes): its exchange memory goes back to
 * the worker's cache, or is freed past MAX_FREE_CONNS of them. */
static void exchange_give_back(struct client_conn *c)
{
	struct worker *w = c->w;
	struct exchange_mem *x = c->x;

	if (!x)
		return;
	c->x = NULL;
	if (w->clients.ncached_x < MAX_FREE_CONNS) {
		x->next_free = w->clients.cached_x;
		w->clients.cached_x = x;
		w->clients.ncached_x++;
	} else {
		free(x);
	}
}

static void request_reset(struct client_conn *c)
{
	/* The exchange is over: no retry needs its head, and an idle keep-alive
	 * connection should not hold the ~1 kB chain it is kept in (the next
	 * request's head needs a new one anyway: draining it all frees it). */
	if (c->replay)
		evbuffer_drain(c->replay, evbuffer_get_length(c->replay));
	exchange_give_back(c);
	c->server = -1;
	c->measured = false;
	c->tries = 0;
	c->up = NULL;
	c->req_done = false;
	c->replay_kept = c->replay_ok = false;
	c->resp_dechunk = false;
	c->status = 0;
	c->resp_grpc = false;
	c->grpc_error = false;
	c->interim = 0;
	c->resp_bytes = 0;
}

/* Pause and resume reading the client (backpressure, pipelining) and the
 * upstream (backpressure). In an exchange that may change whom it waits
 * for, and so the timer. */
static void client_pause_read(struct client_conn *c)
{
	if (!connread_enabled(&c->rd))
		return;
	connread_disable(&c->rd);
	if (in_exchange(c) && !c->req_done)
		conn_arm_timer(c); /* the server holds the body up now */
}

static void client_resume_read(struct client_conn *c)
{
	if (connread_enabled(&c->rd))
		return;
	connread_enable(&c->rd);
	if (in_exchange(c) && !c->req_done)
		conn_arm_timer(c);
}

static void upstream_pause_read(struct client_conn *c)
{
	if (!connread_enabled(&c->up->rd))
		return;
	connread_disable(&c->up->rd);
	if (c->req_done)
		conn_arm_timer(c); /* the client holds the response up now */
}

static void upstream_resume_read(struct client_conn *c)
{
	if (connread_enabled(&c->up->rd))
		return;
	connread_enable(&c->up->rd);
	if (c->req_done)
		conn_arm_timer(c);
}

/* Write what is queued on BEV now, from the callback that queued it, instead
 * of arming EV_WRITE and writing on the next loop iteration: for a message
 * that fits the socket buffer this saves two epoll_ctl calls and a trip
 * through epoll_wait. Whatever the socket does not take, and any error, is
 * left to the bufferevent with EV_WRITE enabled, so its callbacks see it as
 * before. Rule: whoever queues bytes on a plain bufferevent whose EV_WRITE is
 * disabled (clients between responses, reused upstreams) calls this before
 * returning to the loop. A TLS client's bufferevent (PLAIN false) works the
 * same way through OpenSSL: tls_write_now encrypts what is queued and sends
 * the records. */
static void bev_write_now(struct bufferevent *bev, bool plain)
{
	if (!plain) {
		tls_write_now(bev); /* (an HTTP/2 stream's: nothing) */
		return;
	}
	if (!net_send_output(bev))
		bufferevent_enable(bev, EV_WRITE);
}

/* Everything queued for C's client has left weir: its output is empty and,
 * on TLS, so are the records under it (tls_all_sent). What closes the
 * connection or measures a response as delivered waits for this. */
static bool client_output_sent(struct client_conn *c)
{
	if (c->plain || c->h2_stream)
		return evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
	return tls_all_sent(c->bev);
}

/* ---- upstream connections ------------------------------------------------ */

static const struct upstream_callbacks upstream_cbs = {
	.read = upstream_read_cb,
	.write = upstream_write_cb,
	.event = upstream_event_cb,
};

/* Detach C's upstream. A connection that finished a clean keep-alive exchange
 * goes back to its server's idle list; anything else is closed. */
static void upstream_detach(struct client_conn *c, bool reusable)
{
	struct upstream_conn *up = c->up;

	c->up = NULL;
	up->client = NULL;
	upstream_release(up, reusable, conf(c)->timeouts.idle_ms);
}

/* Choose a server of C's pool and give C a connection to it: an idle one if
 * there is one, else a new one. Returns 0, -1 when none could be had, -2
 * when weir itself is short of descriptors or memory (the server is not to
 * blame, and is not marked down), or -3 when the health checks have every
 * server of the pool down (no server is tried). */
static int upstream_attach(struct client_conn *c, uint64_t now_ms, bool allow_idle)
{
	struct worker *w = c->w;
	struct worker_pool *wp = &w->pools[c->pool];
	int s = split_pick_server(conf(c)->balance, wp->views, wp->nservers, &wp->cursor, now_ms);
	struct upstream_conn *up;
	int r;

	if (s < 0)
		return wp->nservers ? -3 : -1;
	c->server = s;
	c->tries++;
	if (w->alog.log) {
		/* A copy: a reload may free this configuration before the line is written. */
		const char *text = conf(c)->pools[c->pool].servers[s].text;
		size_t n = strnlen(text, sizeof(c->x->al_server) - 1);
		memcpy(c->x->al_server, text, n);
		c->x->al_server[n] = '\0';
	}
	if ((r = upstream_acquire(w, c->pool, s, allow_idle, now_ms, &upstream_cbs, &up)) < 0)
		return r;
	up->client = c;
	c->up = up;
	/* No timeout of its own: C's state timer waits for the server (conn_arm_timer).
	 * Reads stop at the backpressure mark: one read past it at most. */
	connread_set_limit(&up->rd, bp_high(w));
	connread_set_limit(&c->rd, bp_high(w));
	bufferevent_setwatermark(up->bev, EV_WRITE, BP_LOW, 0);
	if (up->reused && !up->tls && !up->h2)
		bufferevent_disable(up->bev, EV_WRITE); /* connected: request_begin writes the head at once */
	else
		bufferevent_enable(up->bev, EV_WRITE);
	connread_enable(&up->rd);
	return 0;
}

/* ---- measurement ----------------------------------------------------------- */

/* C's access log line for STATUS. LATENCY_US < 0: the request never reached
 * a pool (weir refused it), so pool, server and latency are "-". */
static void log_access(struct client_conn *c, int status, int64_t latency_us)
{
	static const struct accesslog_req no_req; /* "-": no request byte was read */
	struct accesslog_buf *b = &c->w->alog;
	const struct exchange_mem *x = c->x;

	if (!b->log)
		return;
	struct accesslog_entry e = {
		.time_us = accesslog_now_us(),
		.client = c->peer,
		.req = x ? &x->al_req : &no_req,
		.status = status,
		.pool = latency_us >= 0 ? cfg_pool_name(c->pool) : NULL,
		.server = latency_us >= 0 && x && x->al_server[0] ? x->al_server : NULL,
		.bytes = c->resp_bytes,
		.latency_us = latency_us,
	};
	accesslog_append(b, &e);
}

/* Microseconds from C's request head to NOW (clock_now_us). */
static uint64_t waited_us(const struct client_conn *c, uint64_t now)
{
	return now > c->t_head_us ? now - c->t_head_us : 0;
}

/* STATUS is an error of the pool: weir's 502/504 or one of errors.statuses. */
static bool status_is_error(const struct client_conn *c, int status)
{
	return status == 502 || status == 504 || cfg_status_is_error(&conf(c)->errors, (unsigned)status);
}

/* C's exchange is an error of its pool: STATUS is (status_is_error), or a
 * gRPC response's grpc-status is one of errors.grpc. */
static bool exchange_failed(const struct client_conn *c, int status)
{
	return status_is_error(c, status) || (c->resp_grpc && c->grpc_error);
}

/* C's request is routed and owes its measurement: an upstream is attached,
 * or the response is complete but not yet handed to the kernel. */
static bool request_in_flight(const struct client_conn *c)
{
	return !c->measured && (c->up || c->state == CONN_DELIVER);
}

/* Measure C's exchange as ended at NOW (clock_now_us). Each routed request
 * is measured once: answered, failed, or abandoned. */
static void record_exchange_at(struct client_conn *c, int status, uint64_t now)
{
	if (c->measured)
		return; /* abandoned already: its client had closed */
	uint64_t latency = waited_us(c, now);
	bool error = exchange_failed(c, status);

	c->measured = true;
	if (c->overridden)
		stats_interval_overridden(&c->w->rec[c->pool]);
	else
		stats_interval_record(&c->w->rec[c->pool], latency, error);
	log_access(c, status, (int64_t)latency);
}

static void record_exchange(struct client_conn *c, int status)
{
	record_exchange_at(c, status, clock_now_us());
}

/* The client closed, reset or timed out while its routed request was in
 * flight (an upstream attached, or the response complete but not yet handed
 * to the kernel): abandoned, with what it waited. Logged with nginx's 499. A
 * drain does not come here. Judged (errors.abandoned) unless the client had
 * left before weir routed the request. When the backend had answered in
 * full, its answer decides instead: an error status is the pool's error,
 * with the backend's latency (a slow client never hides it); a success is
 * no success, as the client did not get it, and no error either. */
static void record_abandoned(struct client_conn *c)
{
	struct stats_interval *rec = &c->w->rec[c->pool];

	bool delivering = c->state == CONN_DELIVER;

	if (!request_in_flight(c))
		return;
	uint64_t latency = waited_us(c, delivering ? c->t_done_us : clock_now_us());

	c->measured = true;
	if (c->overridden)
		stats_interval_overridden(rec);
	else if (delivering)
		stats_interval_abandoned(rec, latency, exchange_failed(c, c->status));
	else
		stats_interval_abandoned(rec, latency, conf(c)->errors.abandoned && !c->left_early);
	log_access(c, ACCESSLOG_STATUS_ABANDONED, (int64_t)latency);
}

/* ---- a client's bufferevent ---------------------------------------------------- */

/* A plain client connection holds its bufferevent only while bytes flow:
 * from accept until its first byte, and after IDLE_AWAKE_MS of a keep-alive
 * wait, it has none (its connread watches the socket, "asleep"), and it
 * takes one from its worker's spares when a byte arrives. 10,000 idle
 * connections then cost their client_conns alone. Sleeping and waking make
 * no syscall: the bufferevent's own events are never in epoll at the time
 * (weir reads the socket itself, and EV_WRITE is enabled only while output
 * waits). */

/* Discard what OUT holds. FRONT_FROZEN: OUT belongs to a bufferevent that
 * keeps its front frozen so that only its own writer drains it (a plain
 * socket's, unless bufferevent_setfd thawed it; an HTTP/2 stream's):
 * thawed for this, frozen after. A TLS bufferevent's is not frozen. */
static void output_discard(struct evbuffer *out, bool front_frozen)
{
	if (front_frozen)
		evbuffer_unfreeze(out, 1);
	evbuffer_drain(out, evbuffer_get_length(out));
	if (front_frozen)
		evbuffer_freeze(out, 1);
}

/* C's callbacks, write watermark and write timeout on its bufferevent. */
static void client_bev_setup(struct client_conn *c)
{
	struct timeval idle = clock_ms_to_tv(conf(c)->timeouts.idle_ms);

	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, BP_LOW, 0);
	/* A client that stops reading its response is cut after the idle timeout. */
	if (c->plain)
		bufferevent_set_timeouts(c->bev, NULL, &idle); /* connread times the reads */
	else
		connread_set_timeouts(&c->rd, NULL, &idle);
}

/* Asleep C's socket is readable: it takes a spare bufferevent (or a new
 * one) and reads on. Out of memory, C is closed (nothing of a request was
 * read yet) and false returned. */
static bool client_wake(void *arg)
{
	struct client_conn *c = arg;
	struct proxy_clients *pc = &c->w->clients;
	evutil_socket_t fd = connread_fd(&c->rd);
	struct bufferevent *bev;

	if (pc->nspare_bev) {
		bev = pc->spare_bev[--pc->nspare_bev];
		bufferevent_setfd(bev, fd);
		/* As a new one is: the end of its input and the front of its
		 * output frozen (setfd thaws them), so that only weir's own
		 * reads and writes touch them (connread, bev_write_now). */
		evbuffer_freeze(bufferevent_get_input(bev), 0);
		evbuffer_freeze(bufferevent_get_output(bev), 1);
	} else if (!(bev = bufferevent_socket_new(c->w->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		conn_close(c);
		return false;
	}
	/* Write-enabled is libevent's default; weir writes at once instead and
	 * enables EV_WRITE only for what the socket did not take (bev_write_now). */
	bufferevent_disable(bev, EV_WRITE);
	c->bev = bev;
	connread_wake(&c->rd, bev);
	client_bev_setup(c);
	return true;
}

/* Plain BEV, its input and output discarded, goes to W's spares without its
 * descriptor (the caller keeps or closes it), or is freed past
 * PROXY_SPARE_BEVS. */
static void bev_give_back(struct worker *w, struct bufferevent *bev)
{
	struct proxy_clients *pc = &w->clients;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);

	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_setfd(bev, -1);
	if (pc->nspare_bev == PROXY_SPARE_BEVS) {
		bufferevent_free(bev);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	output_discard(out, true);
	pc->spare_bev[pc->nspare_bev++] = bev;
}

/* Idle C gives its bufferevent back when it is a plain socket's with
 * nothing buffered either way; else it keeps it. */
static void conn_sleep(struct client_conn *c)
{
	struct bufferevent *bev = c->bev;

	if (!c->plain || !bev || evbuffer_get_length(bufferevent_get_input(bev)) ||
	    evbuffer_get_length(bufferevent_get_output(bev)) || !connread_sleep(&c->rd, client_wake))
		return;
	c->bev = NULL;
	bev_give_back(c->w, bev);
}

/* ---- closing --------------------------------------------------------------- */

/* Free C for good (not to the cache), with the replay buffer it may keep. */
static void conn_free(struct client_conn *c)
{
	if (c->replay)
		evbuffer_free(c->replay);
	free(c);
}

/* Unlink C from its worker's open connections and keep its struct for the
 * next one. C's descriptor, buffers and timer are released already. A
 * connection handed to h2front keeps its admission slot (LEAVE false). */
static void conn_release(struct client_conn *c, bool leave)
{
	struct worker *w = c->w;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->clients.open = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->clients.nopen--;
	if (leave)
		admission_leave(&w->rt->admission);
	if (w->clients.ncached < MAX_FREE_CONNS) {
		c->next = w->clients.cached;
		w->clients.cached = c;
		w->clients.ncached++;
	} else {
		conn_free(c);
	}
	/* Draining: the last connection's close ends the worker's loop. */
	if (w->draining && w->clients.nopen == 0 && w->clients.nh2 == 0)
		event_base_loopexit(w->base, NULL);
}

/* Close C now. The HTTP/2 stream of a stream's proxy side learns it (CUT:
 * its response was cut short). */
static void conn_close_stream(struct client_conn *c, bool cut)
{
	struct h2front_stream *s = c->stream;

	if (c->up)
		upstream_detach(c, false);
	if (c->replay) /* kept (empty) for the next connection in this struct */
		evbuffer_drain(c->replay, evbuffer_get_length(c->replay));
	exchange_give_back(c);
	conn_timer_stop(c);
	if (c->plain) {
		evutil_socket_t fd = connread_fd(&c->rd);
		connread_stop(&c->rd);
		if (c->bev)
			bev_give_back(c->w, c->bev);
		evutil_closesocket(fd);
	} else if (c->h2_stream) {
		connread_stop(&c->rd);
		h2front_stream_bev_release(c->bev);
	} else {
		connread_stop(&c->rd);
		tls_bufferevent_free(c->bev);
	}
	c->bev = NULL;
	c->stream = NULL;
	if (s)
		h2front_stream_gone(s, cut);
	conn_release(c, !c->h2_stream);
}

static void conn_close(struct client_conn *c)
{
	conn_close_stream(c, false);
}

/* Close with a reset: the response was cut short, and its body is delimited
 * by the close, so a clean close would tell the client it is complete. */
static void conn_abort(struct client_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	evutil_socket_t fd = c->h2_stream ? -1 : tls_socket_fd(c->bev);

	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_close_stream(c, true);
}

/* Everything has been written: close gracefully. Closing a socket with
 * unread input makes the kernel send a reset, and a reset arriving before
 * the client has read the answer (a 400 after a request it had not finished
 * sending, say) destroys it. So: close_notify on TLS, shut down writing (the
 * client sees the end), then read and discard until the client closes too,
 * for LINGER_MS at most (client_read_cb, client_event_cb, conn_timer_cb). */
static void conn_linger(struct client_conn *c)
{
	evutil_socket_t fd = c->h2_stream ? -1 : tls_socket_fd(c->bev);

	if (fd < 0 || (c->is_tls && tls_shutdown_write(c->bev) < 0) || shutdown(fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	conn_set_state(c, CONN_LINGER);
	connread_set_timeouts(&c->rd, NULL, NULL); /* the state's timer bounds it */
	bufferevent_disable(c->bev, EV_WRITE);
	/* Also after an EOF: reading again sees it again and closes at once. */
	connread_enable(&c->rd);
	evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
}

/* The output is written: linger if the client may still be sending, else
 * close at once (a client that asked to close, or half-closed, and left
 * nothing unread cannot make the close a reset; the linger would only cost
 * it a round trip and weir a connection slot). */
static void conn_flushed(struct client_conn *c)
{
	if (c->linger_on_close || evbuffer_get_length(bufferevent_get_input(c->bev)) != 0)
		conn_linger(c);
	else
		conn_close(c);
}

/* Close once everything queued for the client has been written. LINGER: the
 * client may still send (weir answered before reading all of it, or it
 * did not ask to close). */
static void conn_flush_and_close(struct client_conn *c, bool linger)
{
	if (c->up)
		upstream_detach(c, false);
	conn_set_state(c, CONN_FLUSH);
	c->linger_on_close = linger;
	/* Keep reading (and discarding) so the close is not turned into a reset by
	 * unread bytes; the FLUSH timeout bounds how long. */
	client_resume_read(c);
	bev_write_now(c->bev, c->plain);
	if (client_output_sent(c))
		conn_flushed(c);
}

/* Queue weir's own answer STATUS for C's client. */
static void queue_answer(struct client_conn *c, int status)
{
	const char *reason = http1_status_reason(status);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int n = evbuffer_add_printf(out,
	                            "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	                            "Connection: close\r\n\r\n%d %s\n",
	                            status, reason, strlen(reason) + 5, status, reason);
	if (n > 0)
		c->resp_bytes += (uint64_t)n;
}

/* How conn_fail measures a request. */
enum conn_acct {
	ACCT_REFUSED,   /* not the pool's doing: weir refused the request, its client
	                   broke or stalled it, or weir is short of resources;
	                   logged, not measured */
	ACCT_POOL,      /* the pool's answer STATUS: measured (an error if 502, 504
	                   or one of errors.statuses) */
	ACCT_ABANDONED, /* the client left: measured as abandoned (record_abandoned) */
};

/* The one failure path: C's exchange cannot go on. The upstream is released
 * and closed (what it was sent or sent back is unknown), the request is
 * measured by ACCT, and C is closed. STATUS is weir's answer, sent when
 * nothing of a response has reached the client yet, then C is flushed and
 * closes lingering (the client may still be sending). Once a response head
 * went out the client can only be told by the close: a reset when the body
 * is delimited by the close (a clean close would say it is complete), else
 * a plain close. STATUS 0: no answer (the client is gone), a plain close.
 * C may be freed on return. */
static void conn_fail(struct client_conn *c, int status, enum conn_acct acct)
{
	bool started = c->state == CONN_RELAY || c->state == CONN_DELIVER;

	if (status && !started)
		queue_answer(c, status);
	switch (acct) {
	case ACCT_REFUSED:
		log_access(c, status, c->server < 0 ? -1 : (int64_t)waited_us(c, clock_now_us()));
		break;
	case ACCT_POOL:
		record_exchange(c, status);
		c->status = status;
		break;
	case ACCT_ABANDONED:
		record_abandoned(c);
		break;
	}
	if (c->up)
		upstream_detach(c, false);
	if (status && !started)
		conn_flush_and_close(c, true);
	else if (status && (c->resp_body == HTTP1_BODY_CLOSE || c->resp_dechunk))
		conn_abort(c);
	else
		conn_close(c);
}

/* upstream_attach failed with R: weir's own shortage (-2) is a 503 and not
 * the pool's error (counting it would let an overloaded proxy roll a healthy
 * canary back); a pool whose checks have every server down (-3) is a 503 of
 * that pool; a server that could not be reached (-1) the pool's 502. */
static void attach_failed(struct client_conn *c, int r)
{
	conn_fail(c, r == -2 || r == -3 ? 503 : 502, r == -2 ? ACCT_REFUSED : ACCT_POOL);
}

/* ---- request head ------------------------------------------------------------ */

static bool span_ieq_name(const char *buf, struct http1_span s, const char *name, size_t len)
{
	return s.len == len && strncasecmp(buf + s.off, name, len) == 0;
}

/* Hop-by-hop fields never cross weir (RFC 9110 7.6.1); framing is regenerated. */
static bool is_hop_by_hop(const char *buf, struct http1_span n)
{
	const char *p = buf + n.off;
	switch (n.len) {
	case 2: return strncasecmp(p, "te", 2) == 0;
	case 7: return strncasecmp(p, "upgrade", 7) == 0 || strncasecmp(p, "trailer", 7) == 0;
	case 10: return strncasecmp(p, "connection", 10) == 0 || strncasecmp(p, "keep-alive", 10) == 0;
	case 16: return strncasecmp(p, "proxy-connection", 16) == 0;
	case 17: return strncasecmp(p, "transfer-encoding", 17) == 0;
	default: return false;
	}
}

/* The fields H's Connection fields ask weir to drop: none in the common case
 * (no Connection, or only close / keep-alive). Content-Length, Host, weir's
 * own fields and the ones routing reads cross anyway (http1_conn_names_get):
 * dropping Content-Length while relaying the body as it was framed would
 * make the body a second request upstream (smuggling). */
static void connection_names(const struct client_conn *c, const char *buf, const struct http1_head *h,
                             struct http1_conn_names *l)
{
	const struct cfg_split *sp = &conf(c)->split;
	const char *keep[3] = { NULL, NULL, NULL };
	size_t k = 0;

	if (!h->conn_names) {
		l->n = 0;
		return;
	}
	if (sp->override_header)
		keep[k++] = sp->override_header;
	if (sp->sticky_header)
		keep[k++] = sp->sticky_header;
	http1_conn_names_get(buf, h, keep, l);
}

static inline char *put(char *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

#define PUT_LIT(p, s) put((p), (s), sizeof(s) - 1)

static inline char *put_span(char *p, const char *buf, struct http1_span s)
{
	return put(p, buf + s.off, s.len);
}

static const struct http1_header *find_header(const char *buf, const struct http1_head *h, const char *name)
{
	size_t len = strlen(name);
	for (unsigned i = 0; i < h->nheaders; i++)
		if (span_ieq_name(buf, h->headers[i].name, name, len))
			return &h->headers[i];
	return NULL;
}

/* The pool for this request: an override header wins, then a sticky key,
 * then an independent draw. The weight is read once, atomically. */
static enum pool_id choose_pool(struct client_conn *c, const char *buf)
{
	const struct cfg_split *sp = &conf(c)->split;
	const struct http1_head *h = &c->x->req.head;
	const struct http1_header *f;

	c->overridden = false;
	if (sp->override_header && (f = find_header(buf, h, sp->override_header))) {
		int p = split_parse_override(buf + f->value.off, f->value.len);
		if (p >= 0) {
			c->overridden = true;
			return (enum pool_id)p;
		}
	}
	uint32_t weight = weights_published(c->w->rt->weights);
	if (sp->sticky_header && (f = find_header(buf, h, sp->sticky_header)) && f->value.len)
		return split_pool_for_bucket(split_key_bucket(buf + f->value.off, f->value.len), weight);
	if (sp->sticky_cookie) {
		for (unsigned i = 0; i < h->nheaders; i++) {
			const char *v;
			size_t vlen;
			if (span_ieq_name(buf, h->headers[i].name, "cookie", 6) &&
			    split_find_cookie(buf + h->headers[i].value.off, h->headers[i].value.len,
			                      sp->sticky_cookie, &v, &vlen) &&
			    vlen)
				return split_pool_for_bucket(split_key_bucket(v, vlen), weight);
		}
	}
	return split_pool_for_bucket(split_rng_bucket(&c->w->rng), weight);
}

/* Write the request head as it goes to the backend into OUT: hop-by-hop fields
 * removed, X-Forwarded-For appended, X-Forwarded-Proto set, framing regenerated.
 * An absolute-form target goes out in origin-form, with its authority as the
 * Host (RFC 9112 3.2.2: it replaces the client's Host). */
static void write_request_head(struct client_conn *c, const char *buf, struct evbuffer *out)
{
	const struct http1_head *h = &c->x->req.head;
	struct http1_conn_names drop;
	/* The head is at most max_header_bytes; what weir adds is bounded too:
	 * one SP per field ("Name:value" comes out as "Name: value"), the peer,
	 * at most 97 bytes of fields of its own, the Transfer-Encoding line, and
	 * for an absolute-form target a "/" and a Host line (its authority). */
	size_t cap = h->head_len + h->nheaders + sizeof(c->peer) + 160 + HTTP1_TE_LINE_MAX +
	             h->authority.len + 16;
	struct evbuffer_iovec vec;
	bool xff_seen = false;

	connection_names(c, buf, h, &drop);
	if (evbuffer_reserve_space(out, (ev_ssize_t)cap, &vec, 1) < 1)
		return;
	char *p = vec.iov_base;
	p = put_span(p, buf, h->method);
	*p++ = ' ';
	p += http1_forward_target(buf, h, p);
	p = c->req_minor ? PUT_LIT(p, " HTTP/1.1\r\n") : PUT_LIT(p, " HTTP/1.0\r\n");
	if (h->authority.len) {
		p = PUT_LIT(p, "Host: ");
		p = put_span(p, buf, h->authority);
		p = PUT_LIT(p, "\r\n");
	}
	for (unsigned i = 0; i < h->nheaders; i++) {
		struct http1_span n = h->headers[i].name;
		if (is_hop_by_hop(buf, n) || (drop.n && http1_conn_names_has(buf, &drop, n)) ||
		    span_ieq_name(buf, n, "x-forwarded-proto", 17) ||
		    span_ieq_name(buf, n, "x-forwarded-for", 15) ||
		    (h->authority.len && span_ieq_name(buf, n, "host", 4)))
			continue;
		p = put_span(p, buf, n);
		p = PUT_LIT(p, ": ");
		p = put_span(p, buf, h->headers[i].value);
		p = PUT_LIT(p, "\r\n");
	}
	/* X-Forwarded-For: earlier hops (all fields, in order), then this client.
	 * Their bytes were skipped above, so the space reserved still suffices. */
	p = PUT_LIT(p, "X-Forwarded-For: ");
	for (unsigned i = 0; i < h->nheaders; i++) {
		if (!span_ieq_name(buf, h->headers[i].name, "x-forwarded-for", 15) || !h->headers[i].value.len)
			continue;
		p = put_span(p, buf, h->headers[i].value);
		p = PUT_LIT(p, ", ");
		xff_seen = true;
	}
	(void)xff_seen;
	p = put(p, c->peer, c->peer_len);
	p = c->is_tls ? PUT_LIT(p, "\r\nX-Forwarded-Proto: https\r\n") : PUT_LIT(p, "\r\nX-Forwarded-Proto: http\r\n");
	if (c->req_body == HTTP1_BODY_CHUNKED)
		p += http1_put_transfer_encoding(h, true, p);
	if (!c->req_minor)
		p = PUT_LIT(p, "Connection: keep-alive\r\n");
	p = PUT_LIT(p, "\r\n");
	vec.iov_len = (size_t)(p - (char *)vec.iov_base);
	evbuffer_commit_space(out, &vec, 1);
}

/* Relay a chunked body from IN to OUT re-framed: each chunk size in minimal
 * hex, no chunk extensions, no trailer fields (a lenient next hop cannot
 * misread what weir validated); with DECHUNK, the data alone. Data moves
 * between the buffers without a copy where libevent can; nothing is
 * allocated here. Returns as relay_body. */
static int relay_chunked(struct evbuffer *in, struct evbuffer *out, struct http1_chunked *ch,
                         bool dechunk, struct trailer_relay *tr, bool pass)
{
	while (!ch->done) {
		struct evbuffer_iovec vec[4];
		enum http1_chunk_part part;
		char line[HTTP1_CHUNK_SIZE_LINE_MAX];
		int nv = evbuffer_peek(in, -1, NULL, vec, 4);
		int v = 0;
		int added = 0;

		if (nv > 4)
			nv = 4;
		while (v < nv && vec[v].iov_len == 0) /* empty chains at the front */
			v++;
		if (v >= nv)
			break;
		ssize_t n = http1_chunked_step(ch, vec[v].iov_base, vec[v].iov_len, &part);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (part == HTTP1_CHUNK_DATA) {
			if (evbuffer_remove_buffer(in, out, (size_t)n) != (int)n)
				return -1;
			if (!dechunk && ch->remaining == 0)
				added = evbuffer_add(out, "\r\n", 2);
		} else if (tr && part == HTTP1_CHUNK_TRAILERS) {
			evbuffer_drain(in, (size_t)n);
			tr->inside = true;
			if (pass)
				added = evbuffer_add(out, "0\r\n", 3);
		} else if (tr && tr->inside) {
			/* Trailer fields and the final CRLF: scanned, and passed whole
			 * or replaced by weir's own end. */
			grpc_scan_feed(&tr->grpc, vec[v].iov_base, (size_t)n);
			if (pass) {
				if (evbuffer_remove_buffer(in, out, (size_t)n) != (int)n)
					return -1;
			} else {
				evbuffer_drain(in, (size_t)n);
				if (!dechunk && part == HTTP1_CHUNK_LAST)
					added = evbuffer_add(out, "0\r\n\r\n", 5);
			}
		} else {
			evbuffer_drain(in, (size_t)n);
			if (!dechunk && part == HTTP1_CHUNK_SIZE)
				added = evbuffer_add(out, line, http1_chunk_size_line(ch->remaining, line));
			else if (!dechunk && part == HTTP1_CHUNK_LAST)
				added = evbuffer_add(out, "0\r\n\r\n", 5);
		}
		if (added < 0)
			return -1; /* out of memory: the body would go out misframed */
	}
	return ch->done;
}

/* Move body bytes from IN to OUT by the framing in (*body, *remaining, ch);
 * a chunked body is re-framed, or with DECHUNK sent as bare data (relay_chunked).
 * TR (a response's, NULL for a request) is where its trailer section is
 * scanned; PASS forwards the section (an HTTP/2 stream's bridge makes
 * trailers of it), else weir's re-framing drops it.
 * Returns 1 when the body is complete, 0 when more is needed, -1 on a
 * framing error. CLOSE framing never completes here (EOF completes it). */
static int relay_body(struct evbuffer *in, struct evbuffer *out, enum http1_body body,
                      uint64_t *remaining, struct http1_chunked *ch, bool dechunk, struct trailer_relay *tr,
                      bool pass)
{
	size_t avail = evbuffer_get_length(in);

	switch (body) {
	case HTTP1_BODY_NONE:
		return 1;
	case HTTP1_BODY_LENGTH: {
		size_t n = avail < *remaining ? avail : (size_t)*remaining;
		if (n)
			evbuffer_remove_buffer(in, out, n);
		*remaining -= n;
		return *remaining == 0;
	}
	case HTTP1_BODY_CHUNKED:
		return relay_chunked(in, out, ch, dechunk, tr, pass);
	case HTTP1_BODY_CLOSE:
		if (avail)
			evbuffer_remove_buffer(in, out, avail);
		return 0;
	}
	return -1;
}

/* Stream the request body that has arrived to the upstream. Returns 0, or
 * -1 when the body is broken (C failed: do not touch). */
static int forward_request_body(struct client_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->up->bev);
	int r = relay_body(in, out, c->req_body, &c->req_remaining, &c->req_chunked, false, NULL, false);

	if (r < 0) {
		/* The backend saw part of a broken body: that connection is spoiled. */
		conn_fail(c, 400, ACCT_REFUSED);
		return -1;
	}
	if (r == 1) {
		/* A pipelined request waits in the input until this response is
		 * complete (client_read_cb): reading is not paused for it, which
		 * would cost two epoll_ctl calls per request. */
		c->req_done = true;
		if (c->state == CONN_SEND_BODY)
			conn_set_state(c, CONN_AWAIT_RESPONSE);
		else if (c->state == CONN_RELAY)
			conn_arm_timer(c); /* no more body to wait for: the server's */
	} else if (evbuffer_get_length(out) > bp_high(c->w)) {
		client_pause_read(c);
	} else {
		exchange_progress(c, WAIT_CLIENT);
	}
	return 0;
}

/* The client's FIN is already queued: it has closed (or shut down its
 * sending side) before this point. */
static bool client_closed_already(struct client_conn *c)
{
	char byte;

	return recv(tls_socket_fd(c->bev), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* A copy of the kept request head (c->replay) at the end of OUT: it stays
 * kept, for a retry on another server after this attempt's connect fails.
 * False when there is none or memory is short. */
static bool replay_copy(struct client_conn *c, struct evbuffer *out)
{
	size_t n = c->replay ? evbuffer_get_length(c->replay) : 0;
	const unsigned char *bytes = n ? evbuffer_pullup(c->replay, -1) : NULL;

	return bytes && evbuffer_add(out, bytes, n) == 0;
}

/* A complete request head is at the start of the client's input: route it. */
static void request_begin(struct client_conn *c, const char *buf)
{
	const struct http1_head *h = &c->x->req.head;
	struct evbuffer *in = bufferevent_get_input(c->bev);

	enum downstream_proto proto = c->h2_stream ? DOWNSTREAM_H2 : DOWNSTREAM_HTTP1;
	_Atomic uint64_t *count = &c->w->clients.requests[proto];

	atomic_store_explicit(count, atomic_load_explicit(count, memory_order_relaxed) + 1, memory_order_relaxed);
	c->t_head_us = clock_now_us();
	if (c->w->alog.log)
		accesslog_req_set(&c->x->al_req, buf + h->method.off, h->method.len, buf + h->target.off,
		                  h->target.len);
	if (h->is_connect) {
		conn_fail(c, 501, ACCT_REFUSED);
		return;
	}
	c->req_keep_alive = h->keep_alive;
	c->req_is_head = h->is_head;
	c->req_minor = (uint8_t)h->minor_version;
	c->req_body = h->body;
	c->req_remaining = h->content_length;
	if (h->body == HTTP1_BODY_CHUNKED)
		http1_chunked_init(&c->req_chunked);
	c->req_done = h->body == HTTP1_BODY_NONE ||
	              (h->body == HTTP1_BODY_LENGTH && h->content_length == 0);
	c->pool = choose_pool(c, buf);
	int r = upstream_attach(c, c->t_head_us / 1000, true);
	if (r < 0) {
		attach_failed(c, r);
		return;
	}
	/* A reused connection may have been closed by its server just now, and
	 * an HTTP/2 server may refuse a stream (REFUSED_STREAM, or a GOAWAY
	 * below it: a graceful restart) having processed nothing of it: keep
	 * what it takes to resend a bodiless request once, a safe one after a
	 * close (RFC 9110 9.2.2), any after a refusal (RFC 9113 8.7). The head
	 * is written once, into the replay buffer, and copied. */
	struct evbuffer *up_out = bufferevent_get_output(c->up->bev);
	bool safe = span_ieq_name(buf, h->method, "GET", 3) || span_ieq_name(buf, h->method, "HEAD", 4) ||
	            span_ieq_name(buf, h->method, "OPTIONS", 7);
	bool keep = c->req_done && ((c->up->reused && safe) || c->up->h2);
	c->replay_kept = c->replay_ok = false;
	if (keep && !c->replay)
		c->replay = evbuffer_new();
	if (keep && c->replay) {
		evbuffer_drain(c->replay, evbuffer_get_length(c->replay));
		write_request_head(c, buf, c->replay);
		c->replay_kept = c->replay_ok = replay_copy(c, up_out);
	}
	if (!c->replay_kept)
		write_request_head(c, buf, up_out);
	evbuffer_drain(in, h->head_len);
	/* A new connection's request may have waited in weir's accept queue (an
	 * overloaded weir) until its client gave up: one look, per connection. */
	c->left_early = !c->peeked && c->plain && client_closed_already(c);
	c->peeked = true;
	conn_set_state(c, c->up->reused ? exchange_state(c) : CONN_CONNECT);
	if (c->up->reused && !c->up->h2) {
		if (c->up->tls)
			tls_write_now(c->up->bev); /* its EV_WRITE stays enabled */
		else if (c->req_done)
			bev_write_now(c->up->bev, true);
		else
			bufferevent_enable(c->up->bev, EV_WRITE); /* the body streams as before */
	}
	if (!c->req_done)
		forward_request_body(c);
}

/* C's client speaks HTTP/2 (ALPN, or the preface on an h2c listener), and
 * no request of it has begun: h2front takes its bufferevent, with what was
 * read of it, and its admission slot. */
static void conn_to_h2(struct client_conn *c)
{
	struct worker *w = c->w;
	struct bufferevent *bev = c->bev;
	char peer[sizeof(c->peer)];
	bool tls = c->is_tls;

	memcpy(peer, c->peer, sizeof(peer));
	exchange_give_back(c);
	conn_timer_stop(c);
	connread_stop(&c->rd);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	c->bev = NULL;
	conn_release(c, false);
	h2front_adopt(w, bev, peer, tls);
}

/* The HTTP/2 connection preface (RFC 9113 3.4). */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

/* A plain listener that speaks h2c too: whether the first LEN bytes of IN
 * begin the HTTP/2 preface. 1: it is HTTP/2 (the preface is whole), 0: it
 * is HTTP/1.x, -1: too early to tell. */
static int sniff_h2c(struct evbuffer *in, size_t len)
{
	size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);

	if (!buf || memcmp(buf, h2_preface, n) != 0)
		return 0;
	return n == H2_PREFACE_LEN ? 1 : -1;
}

static void client_parse_head(struct client_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	size_t limit = (size_t)conf(c)->limits.max_header_bytes + 1;

	if (!len) {
		if (c->state == CONN_NEXT)
			conn_set_state(c, CONN_IDLE);
		return;
	}
	if (c->h2c_sniff) {
		int h2 = sniff_h2c(in, len);
		if (h2 < 0)
			return; /* the IDLE timer bounds the wait */
		c->h2c_sniff = false;
		if (h2) {
			conn_to_h2(c);
			return;
		}
	}
	if (!exchange_take(c)) {
		conn_close(c); /* out of memory: nothing was read of it yet */
		return;
	}
	if (c->state != CONN_HEAD)
		conn_set_state(c, CONN_HEAD);
	const char *buf;
	enum http1_result r = headbuf_parse(&c->x->req, in, limit, &buf);
	if (!buf && r == HTTP1_ERROR) {
		conn_close(c);
		return;
	}
	switch (r) {
	case HTTP1_AGAIN:
		return;
	case HTTP1_ERROR:
		conn_fail(c, http1_error_status(c->x->req.error), ACCT_REFUSED);
		return;
	case HTTP1_DONE:
		request_begin(c, buf);
		return;
	}
}

/* ---- response ---------------------------------------------------------------- */

/* The head an HTTP/2 stream's bridge will read from C's output, as the
 * parse of it would come out: field by field while write_response_head
 * writes it. Only for the framings it writes plainly (a length, or chunked
 * without other codings); NULL otherwise. The bridge takes it only while
 * nothing else waits in that output (h2front_stream_take_head). */
static struct http1_head *shadow_begin(struct client_conn *c, struct http1_parser *shadow)
{
	const struct http1_head *h = &c->x->resp.head;

	if (!c->stream || !c->req_minor || h->ncodings ||
	    (c->resp_body != HTTP1_BODY_LENGTH && (c->resp_body != HTTP1_BODY_CHUNKED || c->resp_dechunk)))
		return NULL;
	http1_parser_init(shadow, HTTP1_RESPONSE, 0, 0);
	struct http1_head *sh = &shadow->head;
	sh->status = h->status;
	sh->minor_version = 1;
	sh->reason = (struct http1_span){ sizeof "HTTP/1.1 200 " - 1, h->reason.len };
	sh->body = c->resp_body;
	sh->content_length = c->resp_body == HTTP1_BODY_LENGTH ? h->content_length : 0;
	return sh;
}

/* Field NAME_LEN: VALUE_LEN written at P (BASE: the head's first byte). */
static void shadow_field(struct http1_head **shp, const char *base, const char *p, size_t name_len,
                         size_t value_len)
{
	struct http1_head *sh = *shp;

	if (sh->nheaders == HTTP1_MAX_HEADERS) {
		*shp = NULL; /* the bridge's parse refuses it, as it should */
		return;
	}
	uint32_t off = (uint32_t)(p - base);
	sh->headers[sh->nheaders++] = (struct http1_header){ { off, (uint32_t)name_len },
		                                             { off + (uint32_t)name_len + 2, (uint32_t)value_len } };
}

/* The response head as the client gets it: hop-by-hop fields removed, framing
 * regenerated. A chunked body keeps its codings ("gzip, chunked") for an
 * HTTP/1.1 client; an HTTP/1.0 client gets it de-chunked and delimited by the
 * close (c->resp_dechunk, WILL_CLOSE set). */
static void write_response_head(struct client_conn *c, const char *buf, bool will_close)
{
	const struct http1_head *h = &c->x->resp.head;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct http1_conn_names drop;
	/* One SP per field ("Name:value" comes out as "Name: value"), one after a
	 * status code sent without a reason, at most 75 bytes of our fields, and
	 * the Transfer-Encoding line. */
	size_t cap = h->head_len + h->nheaders + 1 + 128 + HTTP1_TE_LINE_MAX;
	struct evbuffer_iovec vec;
	struct http1_parser shadow;
	struct http1_head *sh;

	connection_names(c, buf, h, &drop);
	if (evbuffer_reserve_space(out, (ev_ssize_t)cap, &vec, 1) < 1)
		return;
	sh = shadow_begin(c, &shadow);
	char *base = vec.iov_base, *p = base;
	p = PUT_LIT(p, "HTTP/1.1 ");
	http1_put_status(h->status, p);
	p += 3;
	*p++ = ' ';
	p = put_span(p, buf, h->reason);
	p = PUT_LIT(p, "\r\n");
	for (unsigned i = 0; i < h->nheaders; i++) {
		struct http1_span n = h->headers[i].name;
		if (is_hop_by_hop(buf, n) || (drop.n && http1_conn_names_has(buf, &drop, n)))
			continue;
		if (sh)
			shadow_field(&sh, base, p, n.len, h->headers[i].value.len);
		p = put_span(p, buf, n);
		p = PUT_LIT(p, ": ");
		p = put_span(p, buf, h->headers[i].value);
		p = PUT_LIT(p, "\r\n");
	}
	if (c->resp_body == HTTP1_BODY_CHUNKED && !c->resp_dechunk) {
		if (sh) /* "Transfer-Encoding: chunked": no other codings (shadow_begin) */
			shadow_field(&sh, base, p, sizeof "Transfer-Encoding" - 1, sizeof "chunked" - 1);
		p += http1_put_transfer_encoding(h, true, p);
	} else if (c->resp_body == HTTP1_BODY_CLOSE) {
		p += http1_put_transfer_encoding(h, false, p); /* e.g. "gzip" until the close */
	}
	if (conf(c)->split.expose_pool) {
		bool canary = c->pool == POOL_CANARY;
		if (sh)
			shadow_field(&sh, base, p, sizeof "X-Weir-Pool" - 1, canary ? 6 : 8);
		p = canary ? PUT_LIT(p, "X-Weir-Pool: canary\r\n") : PUT_LIT(p, "X-Weir-Pool: baseline\r\n");
	}
	if (will_close) {
		if (sh)
			shadow_field(&sh, base, p, sizeof "Connection" - 1, sizeof "close" - 1);
		p = PUT_LIT(p, "Connection: close\r\n");
	} else if (!c->req_minor) {
		p = PUT_LIT(p, "Connection: keep-alive\r\n");
	}
	p = PUT_LIT(p, "\r\n");
	vec.iov_len = (size_t)(p - base);
	if (sh) {
		sh->head_len = vec.iov_len;
		sh->keep_alive = !will_close; /* HTTP/1.1, and not delimited by the close */
		/* Before the bytes go in: taken only while the bridge has none. */
		h2front_stream_take_head(c->stream, sh);
	}
	evbuffer_commit_space(out, &vec, 1);
	c->resp_bytes += vec.iov_len;
}

/* The whole response has been handed to the kernel: measure it (as of
 * t_done_us: a slow reader is not the backend's latency), and go on with the
 * next request or close. */
static void response_delivered(struct client_conn *c)
{
	bool close_client = !c->req_keep_alive || c->resp_body == HTTP1_BODY_CLOSE || !c->req_done ||
	                    c->w->draining || c->resp_dechunk;

	record_exchange_at(c, c->status, c->t_done_us);
	if (close_client) {
		/* The client said it is done when it did not ask for keep-alive
		 * (or half-closed) and its request was read whole. */
		conn_flush_and_close(c, c->req_keep_alive || !c->req_done);
		return;
	}
	request_reset(c);
	/* A pipelined request waiting is parsed from the loop (NEXT), not from
	 * inside the callback that finished this response: a chain of them
	 * never recurses, and each starts from a clean stack. */
	conn_set_state(c, evbuffer_get_length(bufferevent_get_input(c->bev)) ? CONN_NEXT : CONN_IDLE);
	client_resume_read(c);
}

/* The response is complete from the backend: recycle the upstream. It is
 * measured once the client's output has been written (response_delivered,
 * from client_write_cb when the socket did not take it all): a client that
 * disappears first got a truncated response, which is no success. Until
 * then the connection is in DELIVER, where a client that stops reading
 * is cut by the write timeout and a pipelined request waits. */
static void exchange_finish(struct client_conn *c)
{
	struct evbuffer *up_in = bufferevent_get_input(c->up->bev);
	/* A response without a body by the request method or status (HEAD, 204,
	 * 304) ends where its head ends, but a backend that sends a body anyway
	 * may do so in a later packet, after the connection went back to the
	 * pool: the next client would get it as its response. Nothing proves
	 * such a connection clean, so it is closed. */
	bool bodiless = c->req_is_head || c->status == 204 || c->status == 304;
	bool reusable = c->resp_keep_alive && c->req_done && c->resp_body != HTTP1_BODY_CLOSE &&
	                !bodiless && evbuffer_get_length(up_in) == 0;

	c->t_done_us = clock_now_us();
	upstream_detach(c, reusable);
	bev_write_now(c->bev, c->plain);
	if (!client_output_sent(c)) {
		conn_set_state(c, CONN_DELIVER);
		return;
	}
	response_delivered(c);
}

/* A gRPC status CODE is one of errors.grpc. */
static bool grpc_status_failed(const struct weir_config *cfg, int code)
{
	return code >= 0 && code < GRPC_STATUS_COUNT && (cfg->errors.grpc >> code) & 1u;
}

/* The final response head H (in BUF) of C: a gRPC response is judged by its
 * grpc-status, from the head (trailers-only) or else the trailers; until
 * one arrives it is UNKNOWN, which is how a gRPC client reads a response
 * that ends without. */
static void response_grpc(struct client_conn *c, const char *buf, const struct http1_head *h)
{
	const struct http1_header *ct = find_header(buf, h, "content-type");

	c->x->trailers.inside = false;
	grpc_scan_init(&c->x->trailers.grpc);
	c->resp_grpc = ct && grpc_is_grpc(buf + ct->value.off, ct->value.len);
	if (!c->resp_grpc)
		return;
	const struct http1_header *st = find_header(buf, h, "grpc-status");
	int code = st ? grpc_status_code(buf + st->value.off, st->value.len) : GRPC_STATUS_UNKNOWN;
	c->grpc_error = grpc_status_failed(conf(c), code);
}

/* Parse the response head from the upstream. Returns 1 when the final head
 * was written to the client, 0 when more bytes are needed, -1 when the
 * exchange failed (already handled). Interim 1xx responses are relayed. */
static int response_begin(struct client_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->up->bev);

	for (;;) {
		size_t limit = c->x->resp.max_head_bytes + 1;
		if (!evbuffer_get_length(in))
			return 0;
		const char *buf;
		enum http1_result r = headbuf_parse(&c->x->resp, in, limit, &buf);
		if (!buf && r == HTTP1_ERROR) {
			conn_fail(c, 502, ACCT_POOL);
			return -1;
		}
		switch (r) {
		case HTTP1_AGAIN:
			return 0;
		case HTTP1_ERROR:
			conn_fail(c, 502, ACCT_POOL);
			return -1;
		case HTTP1_DONE:
			break;
		}
		const struct http1_head *h = &c->x->resp.head;
		if (h->status == 101) {
			/* weir never forwards Upgrade, so a switch is a broken backend. */
			conn_fail(c, 502, ACCT_POOL);
			return -1;
		}
		if (h->status < 200) {
			/* Interim response: relay it to HTTP/1.1 clients, then read on.
			 * Their number is bounded: they bypass backpressure. */
			if (++c->interim > MAX_INTERIM) {
				conn_fail(c, 502, ACCT_POOL);
				return -1;
			}
			if (c->req_minor) {
				evbuffer_remove_buffer(in, bufferevent_get_output(c->bev), h->head_len);
				c->resp_bytes += h->head_len;
				bev_write_now(c->bev, c->plain);
			} else
				evbuffer_drain(in, h->head_len);
			http1_parser_init(&c->x->resp, HTTP1_RESPONSE, c->x->resp.max_head_bytes,
			                  c->x->resp.max_line_bytes);
			continue;
		}
		http1_response_body(&c->x->resp.head, c->req_is_head);
		c->status = h->status;
		response_grpc(c, buf, h);
		c->resp_body = h->body;
		c->resp_remaining = h->content_length;
		c->resp_keep_alive = h->keep_alive;
		if (h->body == HTTP1_BODY_CHUNKED)
			http1_chunked_init(&c->resp_chunked);
		if (!c->req_minor && h->body != HTTP1_BODY_NONE && h->ncodings) {
			/* An HTTP/1.0 client cannot be told of a transfer coding. */
			conn_fail(c, 502, ACCT_POOL);
			return -1;
		}
		/* HTTP/1.0 clients know no chunked: the data alone, until the close. */
		c->resp_dechunk = !c->req_minor && h->body == HTTP1_BODY_CHUNKED;
		/* A request body still coming in means a close (exchange_finish). */
		bool will_close = !c->req_keep_alive || h->body == HTTP1_BODY_CLOSE || c->w->draining ||
		                  !c->req_done || c->resp_dechunk;
		write_response_head(c, buf, will_close);
		evbuffer_drain(in, h->head_len);
		conn_set_state(c, CONN_RELAY);
		return 1;
	}
}

/* Returns true while the body goes on; false when the exchange ended (C may
 * be closed, or already serving the next pipelined request: do not touch). */
static bool forward_response_body(struct client_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->up->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t before = evbuffer_get_length(out);
	struct trailer_relay *tr = &c->x->trailers;
	int r = relay_body(in, out, c->resp_body, &c->resp_remaining, &c->resp_chunked, c->resp_dechunk, tr,
	                   c->h2_stream);
	size_t after = evbuffer_get_length(out);

	c->resp_bytes += after > before ? after - before : 0;
	if (r < 0) {
		conn_fail(c, 502, ACCT_POOL); /* the response started: closes the client */
		return false;
	}
	if (r == 1) {
		if (c->resp_grpc && tr->grpc.status >= 0)
			c->grpc_error = grpc_status_failed(conf(c), tr->grpc.status);
		exchange_finish(c);
		return false;
	}
	bev_write_now(c->bev, c->plain);
	if (evbuffer_get_length(out) > bp_high(c->w))
		upstream_pause_read(c);
	return true;
}

/* ---- callbacks ----------------------------------------------------------------- */

static void drain_input(struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client_conn *c = arg;

	switch (c->state) {
	case CONN_IDLE:
	case CONN_DORMANT:
	case CONN_NEXT:
	case CONN_HEAD:
		client_parse_head(c);
		break;
	case CONN_CONNECT:
	case CONN_SEND_BODY:
	case CONN_AWAIT_RESPONSE:
	case CONN_RELAY:
	case CONN_DELIVER:
		if (c->req_done) {
			/* The next request (pipelining): hold about one head, no more. */
			if (evbuffer_get_length(bufferevent_get_input(bev)) > conf(c)->limits.max_header_bytes)
				client_pause_read(c);
		} else if (c->state == CONN_DELIVER) {
			drain_input(bev); /* answered before the body was in: closing */
		} else {
			forward_request_body(c);
		}
		break;
	case CONN_FLUSH:
	case CONN_LINGER:
		drain_input(bev);
		break;
	case CONN_STATE_COUNT:
		break;
	}
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client_conn *c = arg;
	size_t pending = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->state == CONN_FLUSH) {
		if (client_output_sent(c))
			conn_flushed(c);
		return;
	}
	if (c->state == CONN_LINGER)
		return;
	bool sent = client_output_sent(c);
	if (sent && !c->h2_stream)
		bufferevent_disable(bev, EV_WRITE); /* back to bev_write_now; no syscall */
	if (c->state == CONN_DELIVER && sent) {
		response_delivered(c);
	} else if (c->state == CONN_RELAY && !connread_enabled(&c->up->rd) && pending <= bp_high(c->w) / 4) {
		/* Read the response on, and relay what is already buffered (it
		 * would trigger no read callback). */
		upstream_resume_read(c);
		forward_response_body(c);
	}
}

/* C's client half-closed (EOF, no error): it may still read what it is sent.
 * Between requests, or closing already, with output queued: flush it, then
 * close (a request head begun can never be finished: it is dropped). After
 * its whole request, while it is answered (reading goes on during an
 * exchange, so this is seen now): answer, then close. Anything else: the
 * client is gone. Reading has stopped. */
static void client_half_closed(struct client_conn *c)
{
	bool queued = !client_output_sent(c);

	switch (c->state) {
	case CONN_IDLE:
	case CONN_DORMANT:
	case CONN_NEXT:
	case CONN_HEAD:
	case CONN_FLUSH:
		if (!queued)
			break;
		if (c->state != CONN_FLUSH)
			conn_set_state(c, CONN_FLUSH);
		c->linger_on_close = false; /* it sent its FIN: nothing more comes */
		client_pause_read(c);
		return; /* client_write_cb closes once flushed; FLUSH's timer bounds it */
	case CONN_CONNECT:
	case CONN_AWAIT_RESPONSE:
	case CONN_RELAY:
	case CONN_DELIVER:
		if (!c->req_done)
			break;
		c->req_keep_alive = false;
		/* A half-close cannot be told from a close: measured now, as
		 * abandoned, so a hanging pool is seen before timeouts.backend.
		 * One that came with the request is measured by its outcome, and
		 * so is a response complete and being written. */
		if (!c->left_early && c->state != CONN_DELIVER)
			record_abandoned(c);
		return;
	case CONN_SEND_BODY:
	case CONN_LINGER:
	case CONN_STATE_COUNT:
		break;
	}
	conn_fail(c, 0, ACCT_ABANDONED);
}

static void client_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct client_conn *c = arg;

	if (events & BEV_EVENT_CONNECTED) {
		/* The TLS handshake is done: HTTP/2 if ALPN chose it, else
		 * HTTP/1.1 requests follow. */
		if (tls_alpn_h2(bev))
			conn_to_h2(c);
		return;
	}
	if (c->state == CONN_LINGER) {
		conn_close(c); /* the client closed (or failed): done */
		return;
	}
	if (c->is_tls && !c->h2_stream && tls_handshake_failed(bev, events))
		admission_tls_handshake_failed(&c->w->rt->admission);
	if ((events & BEV_EVENT_EOF) && !(events & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		client_half_closed(c);
	else
		conn_fail(c, 0, ACCT_ABANDONED); /* error or write timeout: gone */
}

static void upstream_read_cb(struct bufferevent *bev, void *arg)
{
	struct upstream_conn *up = arg;
	struct client_conn *c = up->client;
	(void)bev;

	if (!c) {
		upstream_free(up); /* bytes on an idle connection: nobody asked; never reuse it */
		return;
	}
	if (c->state != CONN_RELAY) {
		int r = response_begin(c);
		if (r == 0)
			exchange_progress(c, WAIT_SERVER); /* part of a head, or an interim response */
		if (r <= 0)
			return;
		forward_response_body(c); /* its state's timer was just armed */
		return;
	}
	if (forward_response_body(c))
		exchange_progress(c, WAIT_SERVER);
}

static void upstream_write_cb(struct bufferevent *bev, void *arg)
{
	struct upstream_conn *up = arg;
	struct client_conn *c = up->client;

	if (!c || c->req_done || connread_enabled(&c->rd))
		return;
	if (evbuffer_get_length(bufferevent_get_output(bev)) <= bp_high(up->w) / 4) {
		client_resume_read(c);
		forward_request_body(c); /* bytes that were already buffered */
	}
}

/* Try the request on another server of the same pool after a failed connect.
 * Nothing has reached the failed server, so its queued bytes move over; an
 * h2 stream has taken them from its input already, so its request goes again
 * only from the kept copy of a bodiless one (else 502 at once, not an empty
 * request left waiting for its answer). */
static bool retry_other_server(struct client_conn *c, uint64_t now_ms)
{
	struct worker_pool *wp = &c->w->pools[c->pool];
	struct upstream_conn *old = c->up;

	if ((size_t)c->tries >= wp->nservers || (old->h2 && !c->replay_kept))
		return false;
	bool any_up = false;
	for (size_t i = 0; i < wp->nservers; i++)
		if (split_server_available(&wp->views[i], now_ms))
			any_up = true;
	if (!any_up)
		return false;
	/* The failed server is down now, so it is not picked again; the old
	 * connection stays C's until a new one is had. */
	c->up = NULL;
	if (upstream_attach(c, now_ms, true) < 0) {
		c->up = old;
		return false;
	}
	if (old->h2) {
		if (!replay_copy(c, bufferevent_get_output(c->up->bev))) {
			old->client = NULL;
			upstream_release(old, false, 0);
			return false; /* C's upstream is the new one: conn_fail releases it */
		}
	} else {
		evbuffer_add_buffer(bufferevent_get_output(c->up->bev), bufferevent_get_output(old->bev));
	}
	bufferevent_enable(c->up->bev, EV_WRITE);
	old->client = NULL;
	upstream_release(old, false, 0);
	conn_set_state(c, c->up->reused ? exchange_state(c) : CONN_CONNECT);
	return true;
}

/* C's connect (or TLS handshake) failed, or TIMED_OUT: the server is marked
 * down, and the request goes to another server of the pool or is answered
 * 502 (504 after a timeout) as the pool's error. */
static void connect_failed(struct client_conn *c, bool timed_out)
{
	uint64_t now_ms = clock_now_ms();

	if (c->up->gen == c->w->gen) /* a TLS failure is a connect failure too */
		upstream_server_down(c->w, c->pool, c->up->server, timed_out ? NULL : c->up, now_ms);
	if (!retry_other_server(c, now_ms))
		conn_fail(c, timed_out ? 504 : 502, ACCT_POOL);
}

/* UP has connected (and finished its TLS handshake). */
static void upstream_connected(struct upstream_conn *up)
{
	struct client_conn *c = up->client;

	connread_connected(&up->rd);
	if (!up->h2)
		set_nodelay(tls_socket_fd(up->bev));
	if (up->tls)
		tls_upstream_established(up->bev);
	if (up->gen == up->w->gen) /* else its index is one of the old table */
		upstream_server_up(up->w, up->pool, up->server);
	if (c && c->state == CONN_CONNECT)
		conn_set_state(c, exchange_state(c));
}

/* A reused connection's server closed it as C's request went out on it, or
 * an HTTP/2 server refused its stream, and nothing of the request was
 * processed: once more, on a new connection or stream (the request kept in
 * c->replay: see client_parse_head). */
static void replay_request(struct client_conn *c)
{
	c->replay_ok = false;
	upstream_detach(c, false);
	int r = upstream_attach(c, clock_now_ms(), false);
	if (r < 0) {
		attach_failed(c, r);
		return;
	}
	if (!replay_copy(c, bufferevent_get_output(c->up->bev))) {
		conn_fail(c, 502, ACCT_POOL);
		return;
	}
	conn_set_state(c, CONN_CONNECT);
}

/* C's connected server closed (EOF) or failed (ERROR). A read-until-close
 * body ends here at a clean close (a reset cuts it short, and so does a TLS
 * backend that closes without close_notify); anything else is a backend
 * that broke off: 502. */
static void upstream_closed(struct client_conn *c, short events)
{
	struct bufferevent *ubev = c->up->bev;
	struct evbuffer *in = bufferevent_get_input(ubev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	bool clean = !(events & BEV_EVENT_ERROR) && tls_clean_eof(ubev);
	size_t queued = evbuffer_get_length(out);

	if (c->state != CONN_RELAY && (events & BEV_EVENT_EOF) && evbuffer_get_length(in)) {
		/* The head, and maybe the body, arrived with the close. */
		int r = response_begin(c);
		if (r < 0)
			return;
		if (r == 1 && !(c->resp_body == HTTP1_BODY_CLOSE && clean)) {
			if (c->resp_body == HTTP1_BODY_CLOSE && queued == 0 && c->interim == 0 &&
			    (!c->h2_stream || (c->stream && h2front_stream_take_back(c->stream)))) {
				/* Truncated, and nothing of it has left weir yet (no
				 * interim response before it; on an HTTP/2 stream, its
				 * bridge had not read the head): the head is taken
				 * back, and the client can still get a 502. */
				output_discard(out, c->plain || c->h2_stream);
				c->resp_bytes = 0;
				conn_set_state(c, exchange_state(c));
			} else if (!forward_response_body(c)) {
				return;
			}
		}
	}
	if (c->state == CONN_RELAY && c->resp_body == HTTP1_BODY_CLOSE && clean) {
		c->resp_bytes += evbuffer_get_length(in);
		evbuffer_add_buffer(out, in);
		c->resp_keep_alive = false;
		exchange_finish(c);
		return;
	}
	conn_fail(c, 502, ACCT_POOL);
}

static void upstream_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct upstream_conn *up = arg;
	struct client_conn *c = up->client;

	if (events & BEV_EVENT_CONNECTED)
		upstream_connected(up);
	else if (!c)
		upstream_free(up); /* an idle connection closed or timed out */
	else if (up->refused && c->replay_ok && c->state != CONN_RELAY &&
	         evbuffer_get_length(bufferevent_get_input(bev)) == 0)
		replay_request(c); /* refused (maybe before CONNECTED was told): not a connect failure */
	else if (c->state == CONN_CONNECT)
		connect_failed(c, false);
	else if (events & BEV_EVENT_TIMEOUT)
		conn_fail(c, 504, ACCT_POOL); /* none is set while attached; should one fire */
	else if (c->replay_ok && up->reused && c->state != CONN_RELAY && /* kept on a reused one: safe */
	         evbuffer_get_length(bufferevent_get_input(bev)) == 0)
		replay_request(c);
	else
		upstream_closed(c, events);
}

static void conn_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct client_conn *c = arg;
	(void)fd;
	(void)events;

	c->armed_us = 0;
	if (!c->due_us)
		return; /* added for an earlier state; this one has no timer */
	uint64_t now = clock_now_us();
	if (now + TIMER_SLACK_US < c->due_us) {
		conn_timer_add(c, now); /* added for an earlier deadline: the rest */
		return;
	}
	c->due_us = 0;

	switch (c->state) {
	case CONN_IDLE:
		if (c->idle_awake) {
			conn_sleep(c);
			conn_set_state(c, CONN_DORMANT);
		} else {
			conn_close(c);
		}
		break;
	case CONN_DORMANT:
	case CONN_FLUSH:
	case CONN_LINGER:
		conn_close(c);
		break;
	case CONN_NEXT:
		client_parse_head(c);
		break;
	case CONN_HEAD:
		conn_fail(c, 408, ACCT_REFUSED);
		break;
	case CONN_CONNECT:
		connect_failed(c, true);
		break;
	case CONN_SEND_BODY:
	case CONN_AWAIT_RESPONSE:
	case CONN_RELAY:
		if (exchange_waits_for(c) == WAIT_CLIENT)
			conn_fail(c, 408, ACCT_REFUSED); /* a client that stops sending its body */
		else
			conn_fail(c, 504, ACCT_POOL);
		break;
	case CONN_DELIVER:
	case CONN_STATE_COUNT:
		break;
	}
}

/* ---- accept ------------------------------------------------------------------------ */

static struct client_conn *conn_alloc(struct worker *w)
{
	struct client_conn *c = w->clients.cached;
	if (c) {
		w->clients.cached = c->next;
		w->clients.ncached--;
		struct evbuffer *replay = c->replay; /* empty; saves a new one per request */
		memset(c, 0, sizeof(*c));
		c->replay = replay;
		return c;
	}
	return calloc(1, sizeof(*c));
}

/* C is set up: link it into its worker's open connections, start reading,
 * wait for a request. */
static void conn_open(struct client_conn *c)
{
	struct worker *w = c->w;

	connread_enable(&c->rd);
	c->next = w->clients.open;
	if (w->clients.open)
		w->clients.open->prev = c;
	w->clients.open = c;
	w->clients.nopen++;
	conn_set_state(c, CONN_IDLE);
}

static void format_peer(struct client_conn *c, const struct sockaddr *sa)
{
	const void *addr = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
	                                             : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	if (!inet_ntop(sa->sa_family, addr, c->peer, sizeof(c->peer)))
		strcpy(c->peer, "unknown");
	c->peer_len = (uint8_t)strlen(c->peer);
}

/* W's listener L: its index in the configuration, -1 if unknown. */
static ssize_t listener_index(const struct worker *w, const struct evconnlistener *l)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		if (w->listeners[i] == l)
			return (ssize_t)i;
	return -1;
}

void proxy_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen,
                  void *arg)
{
	struct worker *w = arg;
	struct runtime *rt = w->rt;
	ssize_t li = listener_index(w, l);
	SSL_CTX *tls = li >= 0 ? tls_set_listen_ctx(w->tls, (size_t)li) : NULL;
	/* As the socket was opened: a reload may have changed the file's. */
	unsigned protocols = li >= 0 ? tls_set_listen_protocols(w->tls, (size_t)li) : CFG_PROTO_HTTP1;
	(void)socklen;

	if (!admission_enter(&rt->admission, w->cfg->limits.max_connections, w->draining)) {
		evutil_closesocket(fd);
		return;
	}
	struct client_conn *c = conn_alloc(w);
	if (!c)
		goto refuse;
	c->w = w;
	c->is_tls = tls != NULL;
	set_nodelay(fd);
	format_peer(c, sa);
	if (!tls && (protocols & CFG_PROTO_H2C) && !(protocols & CFG_PROTO_HTTP1)) {
		/* HTTP/2 with prior knowledge only: no HTTP/1.1 state at all. */
		char peer[sizeof(c->peer)];
		memcpy(peer, c->peer, sizeof(peer));
		conn_free(c);
		struct bufferevent *bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			goto refuse;
		h2front_adopt(w, bev, peer, false);
		return;
	}
	c->plain = !tls;
	c->h2c_sniff = !tls && (protocols & CFG_PROTO_H2C);
	evtimer_assign(&c->timer, w->base, conn_timer_cb, c);
	request_reset(c);
	if (tls) {
		if (!(c->bev = tls_accept_bufferevent(w->base, fd, tls))) {
			conn_free(c);
			goto refuse;
		}
		connread_init(&c->rd, w->base, c->bev, false, true, client_read_cb, client_event_cb, c);
		client_bev_setup(c);
		/* a new bufferevent has EV_WRITE enabled: off until bev_write_now,
		 * so a response queued in pieces leaves as one record */
		bufferevent_disable(c->bev, EV_WRITE);
	} else {
		/* Asleep until its first byte: a connection that sends nothing
		 * costs no buffers. */
		connread_init_asleep(&c->rd, w->base, fd, client_wake, client_read_cb, client_event_cb, c);
	}
	connread_set_limit(&c->rd, bp_high(w)); /* until its first exchange sets it */
	conn_open(c);
	return;
refuse:
	admission_leave(&rt->admission);
	evutil_closesocket(fd);
}

struct client_conn *proxy_stream_open(struct worker *w, struct bufferevent *bev, const char *peer, bool tls,
                                      struct h2front_stream *s, const struct http1_head *head)
{
	struct client_conn *c = conn_alloc(w);

	if (!c)
		return NULL;
	c->w = w;
	c->bev = bev;
	c->is_tls = tls;
	c->stream = s;
	c->h2_stream = true;
	c->peeked = true; /* no socket to look at: the stream's reset says it */
	size_t peer_len = strnlen(peer, sizeof(c->peer) - 1);
	memcpy(c->peer, peer, peer_len);
	c->peer[peer_len] = '\0';
	c->peer_len = (uint8_t)peer_len;
	evtimer_assign(&c->timer, w->base, conn_timer_cb, c);
	request_reset(c);
	bufferevent_setcb(bev, client_read_cb, client_write_cb, client_event_cb, c);
	connread_init_memory(&c->rd, bev, client_read_cb, client_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, BP_LOW, 0);
	/* No write timeout: the stream's flow control is h2front's, which resets
	 * a stream the client gives no window for. */
	conn_open(c);
	/* The head h2front puts into the input was parsed there: its parse is
	 * taken instead of a second one (without memory now, the read finds out). */
	if (exchange_take(c))
		http1_parser_adopt(&c->x->req, head);
	return c;
}

bool proxy_stream_reading(const struct client_conn *c)
{
	return connread_enabled(&c->rd);
}

void proxy_stream_close(struct client_conn *c, bool client_broke)
{
	c->stream = NULL;
	/* A response handed over whole whose measurement waits for the loop
	 * (client_write_cb) was delivered: measured as such. */
	if (c->state == CONN_DELIVER && client_output_sent(c))
		record_exchange_at(c, c->status, c->t_done_us);
	conn_fail(c, 0, client_broke ? ACCT_REFUSED : ACCT_ABANDONED);
}

uint32_t proxy_close_idle(struct worker *w)
{
	struct client_conn *c = w->clients.open;
	while (c) {
		struct client_conn *next = c->next;
		/* A stream's proxy side closes with its stream (GOAWAY lets it end). */
		if ((c->state == CONN_IDLE || c->state == CONN_DORMANT || c->state == CONN_NEXT) &&
		    !c->h2_stream)
			conn_close(c);
		c = next;
	}
	return w->clients.nopen + h2front_shutdown_all(w);
}

void proxy_count_in_flight(const struct worker *w, uint64_t out[POOL_COUNT])
{
	for (int p = 0; p < POOL_COUNT; p++)
		out[p] = 0;
	for (const struct client_conn *c = w->clients.open; c; c = c->next)
		if (!c->overridden && request_in_flight(c))
			out[c->pool]++;
}

void proxy_close_all(struct worker *w)
{
	h2front_close_all(w); /* their streams' proxy sides with them */
	while (w->clients.open)
		conn_close(w->clients.open);
	upstream_close_idle(w);
}

void proxy_free_cache(struct worker *w)
{
	while (w->clients.cached) {
		struct client_conn *c = w->clients.cached;
		w->clients.cached = c->next;
		conn_free(c);
	}
	w->clients.ncached = 0;
	while (w->clients.cached_x) {
		struct exchange_mem *x = w->clients.cached_x;
		w->clients.cached_x = x->next_free;
		free(x);
	}
	w->clients.ncached_x = 0;
	while (w->clients.nspare_bev)
		bufferevent_free(w->clients.spare_bev[--w->clients.nspare_bev]);
	h2front_free_spares(w);
}
