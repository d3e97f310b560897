/* worker: an event-loop thread with its own listeners, pools and stats. */
#include "weir/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "weir/accesslog.h"
#include "weir/blockpool.h"
#include "weir/clock.h"
#include "weir/health.h"
#include "weir/log.h"
#include "weir/net.h"
#include "weir/proxy.h"
#include "weir/runtime-t.h"
#include "weir/tls.h"
#include "weir/upstream.h"

#define LISTEN_BACKLOG 1024
#define TICK_MS 200 /* stats flush and server-state publication period */
#define ACCEPT_PAUSE_MS 100    /* accept(2) failed for lack of resources: retry after */
#define ACCEPT_WARN_MS 10000   /* at most one warning about it per worker this often */
/* Callbacks one loop pass runs before libevent polls again (see worker_init). */
#define PASS_CALLBACKS 256

int worker_probe_listeners(const struct weir_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		int fd = net_listen(&cfg->listeners[i].addr, false, LISTEN_BACKLOG, NULL, err, errlen);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

static void worker_publish(struct worker *w)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		struct worker_pool *wp = &w->pools[p];
		for (size_t s = 0; s < wp->nservers; s++) {
			atomic_store_explicit(&wp->pub[s].active, wp->views[s].active, memory_order_relaxed);
			atomic_store_explicit(&wp->pub[s].down_until_ms, wp->views[s].down_until_ms,
			                      memory_order_relaxed);
		}
	}
}

static void worker_flush(struct worker *w)
{
	uint64_t now_ms = clock_now_ms(), in_flight[POOL_COUNT];

	upstream_expire_idle(w, now_ms);
	proxy_count_in_flight(w, in_flight);
	for (int p = 0; p < POOL_COUNT; p++) {
		w->rec[p].in_flight = in_flight[p];
		stats_flush(w->rt->stats, (enum pool_id)p, &w->rec[p], now_ms);
	}
	worker_publish(w);
	/* Hand the access log lines to its writer thread (no I/O here): on the
	 * tick, so a quiet server's lines still reach the file, and at exit. */
	accesslog_flush(&w->alog);
}

static void tick_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	worker_flush(arg);
}

/* Begin draining: stop accepting; the loop ends once the last client
 * connection closed. */
static void worker_drain(struct worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_disable(w->listeners[i]);
	if (proxy_close_idle(w) == 0)
		event_base_loopexit(w->base, NULL);
}

/* The pause is over: accept again, unless draining began meanwhile. */
static void accept_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)events;
	if (w->draining)
		return;
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_enable(w->listeners[i]);
}

/* accept(2) failed with an error that is not "try again": the process or the
 * system is out of descriptors (EMFILE, ENFILE) or memory. The connection
 * stays in the backlog, so the listener would be woken at once, again and
 * again: a spinning core and a log line per failed call. Pause accepting
 * instead; open connections are still served and free descriptors as they
 * close, and the backlog waits for the next try. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval pause = clock_ms_to_tv(ACCEPT_PAUSE_MS);
	uint64_t now = clock_now_ms();

	(void)l;
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_disable(w->listeners[i]);
	evtimer_add(w->accept_resume, &pause);
	if (w->accept_warned_ms == 0 || now - w->accept_warned_ms >= ACCEPT_WARN_MS) {
		w->accept_warned_ms = now;
		log_warn("worker %u: cannot accept connections: %s (pausing for %d ms; "
		         "this warning at most every %d s)",
		         w->id, evutil_socket_error_to_string(e), ACCEPT_PAUSE_MS, ACCEPT_WARN_MS / 1000);
	}
}

/* Take the configuration the main thread handed over: new server tables
 * (a server whose address stays keeps its idle connections and back-off),
 * new limits and timeouts for new requests, new TLS contexts. Exchanges in
 * flight finish on the connections they have; those are closed rather than
 * pooled afterwards. In a pool with TLS before or after, idle connections,
 * cached sessions and back-off go: the next connection is verified as the
 * files say now, at once (a reload is how a fixed certificate is taken). */
static void worker_reconfigure(struct worker *w)
{
	const struct weir_config *cfg = atomic_load_explicit(&w->next_cfg, memory_order_acquire);
	/* Set with CFG and stable until every worker took it: the main thread
	 * refuses another reload until then. */
	const struct tls_set *tls = w->rt->tls;
	struct worker_pool fresh[POOL_COUNT];

	memset(fresh, 0, sizeof(fresh));
	/* rt->health was switched to CFG with it, before this was called. */
	if (upstream_tables_build(fresh, cfg, w->rt->health, w->id) == 0) {
		upstream_tables_migrate(w->pools, w->cfg, fresh, cfg, w->gen + 1);
		pthread_mutex_lock(&w->pools_lock);
		upstream_tables_free(w->pools);
		memcpy(w->pools, fresh, sizeof(fresh));
		w->gen++;
		w->cfg = cfg;
		w->tls = tls;
		pthread_mutex_unlock(&w->pools_lock);
		worker_publish(w);
	} else {
		/* Out of memory: stay on the old configuration. It is never freed,
		 * and the main thread refuses further reloads (one still pending). */
		log_error("worker %u: out of memory while reloading; keeping the old configuration", w->id);
		return;
	}
	if (atomic_fetch_sub(&w->rt->reconf_pending, 1) == 1)
		event_active(w->rt->reconf_done, EV_TIMEOUT, 0);
}

/* The main thread's commands: bits in w->cmd_pending, and a byte on the
 * worker's pipe to wake it. A pipe rather than event_active() on the
 * worker's events: cross-thread calls into an event base need its lock, and
 * then every event operation of the data path takes and releases a mutex
 * (~40 per HTTP/2 stream). With the pipe nothing but this thread touches
 * its base, which has no lock. The bits carry the commands, so a wake-up
 * byte that cannot be written (a full pipe is readable already) loses
 * nothing. */
#define WORKER_CMD_RECONFIGURE 1u /* take next_cfg */
#define WORKER_CMD_DRAIN 2u
#define WORKER_CMD_STOP 4u

static void cmd_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker *w = arg;
	char bytes[64];
	(void)events;

	while (read(fd, bytes, sizeof(bytes)) > 0)
		;
	unsigned cmds = atomic_exchange_explicit(&w->cmd_pending, 0, memory_order_acquire);
	if (cmds & WORKER_CMD_RECONFIGURE)
		worker_reconfigure(w);
	if (cmds & WORKER_CMD_DRAIN)
		worker_drain(w);
	if (cmds & WORKER_CMD_STOP)
		event_base_loopexit(w->base, NULL);
}

static void cmd_send(struct worker *w, unsigned cmd)
{
	static const char wake = 'w';
	ssize_t n;

	atomic_fetch_or_explicit(&w->cmd_pending, cmd, memory_order_release);
	while ((n = write(w->cmd[1], &wake, 1)) < 0 && errno == EINTR)
		;
	/* EAGAIN: the pipe is full, so readable, and the worker reads the bits. */
	if (n != 1 && !(n < 0 && errno == EAGAIN))
		log_error("worker %u: cannot wake the worker for a command: %s", w->id,
		          n < 0 ? strerror(errno) : "short write");
}

int worker_init(struct worker *w, struct runtime *rt, unsigned id, char *err, size_t errlen)
{
	const struct weir_config *cfg = rt->cfg;

	memset(w, 0, sizeof(*w));
	w->rt = rt;
	w->cfg = cfg;
	w->tls = rt->tls;
	w->id = id;
	w->cmd[0] = w->cmd[1] = -1;
	pthread_mutex_init(&w->pools_lock, NULL);
	split_rng_seed(&w->rng, clock_now_us() ^ ((uint64_t)id << 48) ^ (uint64_t)getpid());
	/* The epoll changelist folds the enable/disable pairs a request makes
	 * within one loop iteration (pause reading, resume, arm writing) into
	 * at most one epoll_ctl per descriptor and iteration. weir never dup()s
	 * a descriptor it hands to libevent, the changelist's one caveat.
	 * The base has no lock: only this worker's thread uses it (cmd_cb).
	 * A pass runs at most PASS_CALLBACKS callbacks before libevent polls
	 * again; unbounded, it runs everything one epoll_wait reported (its
	 * array grows to 4,096). With 400 busy connections and the backends on
	 * the same core, unbounded passes ran ~390 events for ~7 ms each and
	 * p99 was 1.6-1.75 times p50; bounded, 1.35 times at the same
	 * requests/s (HAProxy, whose passes take at most 200 events: 1.2;
	 * docs/BENCHMARKS.md). The queue keeps its order, so what the bound
	 * changes is how often the loop polls, reschedules deferred callbacks
	 * and runs timers. A pass at 50 connections stays below it. */
	struct event_config *ecfg = event_config_new();
	if (ecfg) {
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK);
		(void)event_config_set_max_dispatch_interval(ecfg, NULL, PASS_CALLBACKS, 0);
		w->base = event_base_new_with_config(ecfg);
		event_config_free(ecfg);
	}
	if (!w->base) {
		snprintf(err, errlen, "cannot create an event loop");
		return -1;
	}
	if (upstream_tables_build(w->pools, cfg, rt->health, id) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int p = 0; p < POOL_COUNT; p++) {
		if (stats_interval_init(&w->rec[p]) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (accesslog_buf_init(&w->alog, rt->access_log) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->listeners = calloc(cfg->nlisteners, sizeof(*w->listeners));
	if (!w->listeners) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		int fd = net_listen(&cfg->listeners[i].addr, true, LISTEN_BACKLOG, NULL, err, errlen);
		if (fd < 0)
			return -1;
		w->listeners[i] = evconnlistener_new(w->base, proxy_accept, w, LEV_OPT_CLOSE_ON_FREE, 0, fd);
		if (!w->listeners[i]) {
			close(fd);
			snprintf(err, errlen, "cannot listen on %s", cfg->listeners[i].addr.text);
			return -1;
		}
		evconnlistener_set_error_cb(w->listeners[i], accept_error_cb);
		w->nlisteners++;
	}
	w->tick = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
	if (pipe2(w->cmd, O_NONBLOCK | O_CLOEXEC) < 0) {
		w->cmd[0] = w->cmd[1] = -1;
		snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	w->cmd_ev = event_new(w->base, w->cmd[0], EV_READ | EV_PERSIST, cmd_cb, w);
	w->accept_resume = evtimer_new(w->base, accept_resume_cb, w);
	if (!w->tick || !w->cmd_ev || !w->accept_resume) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	struct timeval tick = clock_ms_to_tv(TICK_MS);
	event_add(w->tick, &tick);
	event_add(w->cmd_ev, NULL);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct runtime *rt = w->rt;

	event_base_dispatch(w->base);
	proxy_close_all(w);
	worker_flush(w);
	if (atomic_fetch_sub(&rt->workers_running, 1) == 1)
		event_base_loopbreak(rt->base);
	/* What this thread allocates from now on is freed by the main thread
	 * (worker_dispose), into the main thread's cache. */
	blockpool_thread_release();
	return NULL;
}

int worker_start(struct worker *w)
{
	atomic_fetch_add(&w->rt->workers_running, 1);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		atomic_fetch_sub(&w->rt->workers_running, 1);
		return -1;
	}
	return 0;
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void worker_request_drain(struct worker *w)
{
	cmd_send(w, WORKER_CMD_DRAIN);
}

void worker_request_stop(struct worker *w)
{
	cmd_send(w, WORKER_CMD_STOP);
}

void worker_dispose(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	free(w->listeners);
	if (w->tick)
		event_free(w->tick);
	if (w->cmd_ev)
		event_free(w->cmd_ev);
	for (int i = 0; w->rt && i < 2; i++) /* (a worker never initialised is all zeros) */
		if (w->cmd[i] >= 0)
			close(w->cmd[i]);
	if (w->accept_resume)
		event_free(w->accept_resume);
	proxy_free_cache(w);
	upstream_tables_free(w->pools);
	for (int p = 0; p < POOL_COUNT; p++)
		stats_interval_dispose(&w->rec[p]);
	accesslog_buf_dispose(&w->alog); /* hands over what is left; before accesslog_close */
	if (w->base)
		event_base_free(w->base);
	if (w->rt)
		pthread_mutex_destroy(&w->pools_lock);
	memset(w, 0, sizeof(*w));
}

void worker_server_state(struct runtime *rt, enum pool_id pool, size_t server,
                         uint32_t *active, uint64_t *down_until_ms)
{
	*active = 0;
	*down_until_ms = 0;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct worker *w = &rt->workers[i];
		pthread_mutex_lock(&w->pools_lock);
		const struct worker_pool *wp = &w->pools[pool];
		/* A worker that has not taken a reload yet has other tables. */
		if (w->cfg == rt->cfg && server < wp->nservers && wp->pub) {
			*active += atomic_load_explicit(&wp->pub[server].active, memory_order_relaxed);
			uint64_t d = atomic_load_explicit(&wp->pub[server].down_until_ms, memory_order_relaxed);
			if (d > *down_until_ms)
				*down_until_ms = d;
		}
		pthread_mutex_unlock(&w->pools_lock);
	}
}

void worker_request_reconfigure(struct worker *w, const struct weir_config *cfg)
{
	atomic_store_explicit(&w->next_cfg, cfg, memory_order_release);
	cmd_send(w, WORKER_CMD_RECONFIGURE);
}
