/* runtime: start the workers and the main loop, handle signals, stop cleanly. */
#include "config.h"

#include "weir/runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "weir/admin.h"
#include "weir/clock.h"
#include "weir/log.h"
#include "weir/proxy-t.h"
#include "weir/worker.h"

static void stop_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct runtime *rt = arg;
	(void)fd;
	(void)events;
	log_warn("drain time is over; closing the remaining connections");
	for (unsigned i = 0; i < rt->nworkers; i++)
		worker_request_stop(&rt->workers[i]);
}

static void stop_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct runtime *rt = arg;
	(void)events;
	if (rt->stopping)
		return;
	rt->stopping = true;
	log_info("%s: draining (up to %llu ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
	         (unsigned long long)rt->cfg->timeouts.drain_ms);
	for (unsigned i = 0; i < rt->nworkers; i++)
		worker_request_drain(&rt->workers[i]);
	struct timeval tv = { .tv_sec = (time_t)(rt->cfg->timeouts.drain_ms / 1000),
	                      .tv_usec = (suseconds_t)(rt->cfg->timeouts.drain_ms % 1000) * 1000 };
	rt->stop_timer = evtimer_new(rt->base, stop_timer_cb, rt);
	if (rt->stop_timer)
		evtimer_add(rt->stop_timer, &tv);
}

int runtime_run(const struct weir_config *cfg)
{
	struct runtime *rt = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	char err[512];
	unsigned started = 0;
	int rc = 2;

	if (evthread_use_pthreads() < 0) {
		log_error("libevent has no thread support");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		if (cfg->listeners[i].tls) {
			log_error("%s: TLS listeners are not supported by this build yet",
			          cfg->listeners[i].addr.text);
			return 2;
		}
	}
	for (int p = 0; p < POOL_COUNT; p++) {
		if (cfg->pools[p].tls.enabled) {
			log_error("TLS to backend pools is not supported by this build yet");
			return 2;
		}
	}

	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		log_error("out of memory");
		return 2;
	}
	rt->cfg = cfg;
	rt->start_us = clock_now_us();
	atomic_store(&rt->canary_weight, cfg->split.canary_weight);
	rt->base = event_base_new();
	rt->stats = stats_new(cfg->guard.window_ms);
	rt->nworkers = cfg->workers;
	rt->workers = calloc(rt->nworkers, sizeof(*rt->workers));
	if (!rt->base || !rt->stats || !rt->workers) {
		log_error("out of memory");
		goto out;
	}
	if (worker_probe_listeners(cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	for (unsigned i = 0; i < rt->nworkers; i++) {
		if (worker_init(&rt->workers[i], rt, i, err, sizeof(err)) < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	if (cfg->admin_http_set) {
		rt->admin = admin_new(rt, err, sizeof(err));
		if (!rt->admin) {
			log_error("%s", err);
			goto out;
		}
	}
	sigterm = evsignal_new(rt->base, SIGTERM, stop_signal_cb, rt);
	sigint = evsignal_new(rt->base, SIGINT, stop_signal_cb, rt);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	for (; started < rt->nworkers; started++) {
		if (worker_start(&rt->workers[started]) < 0) {
			log_error("cannot start worker thread %u", started);
			break;
		}
	}
	if (started == rt->nworkers) {
		log_info("weir %s: %zu listener(s), %u worker(s), canary %.2f%%", PACKAGE_VERSION,
		         cfg->nlisteners, rt->nworkers, cfg->split.canary_weight / 100.0);
		for (size_t i = 0; i < cfg->nlisteners; i++)
			log_info("listening on %s", cfg->listeners[i].addr.text);
		event_base_dispatch(rt->base);
		rc = 0;
	} else {
		for (unsigned i = 0; i < started; i++)
			worker_request_stop(&rt->workers[i]);
	}
	for (unsigned i = 0; i < started; i++)
		worker_join(&rt->workers[i]);
	if (rc == 0)
		log_info("stopped");
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (rt->stop_timer)
		event_free(rt->stop_timer);
	admin_free(rt->admin);
	if (rt->workers)
		for (unsigned i = 0; i < rt->nworkers; i++)
			worker_dispose(&rt->workers[i]);
	free(rt->workers);
	stats_free(rt->stats);
	if (rt->base)
		event_base_free(rt->base);
	free(rt);
	return rc;
}
