/* runtime: start the workers and the main loop, handle signals, stop cleanly. */
#include "config.h"

#include "weir/runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "weir/accesslog.h"
#include "weir/admin.h"
#include "weir/canary.h"
#include "weir/config.h"
#include "weir/control.h"
#include "weir/diag.h"
#include "weir/fleet.h"
#include "weir/health.h"
#include "weir/clock.h"
#include "weir/log.h"
#include "weir/runtime-t.h"
#include "weir/status.h"
#include "weir/tls.h"
#include "weir/weights.h"
#include "weir/worker.h"

static bool cluster_same(const struct cfg_cluster *a, const struct cfg_cluster *b)
{
	if (a->present != b->present)
		return false;
	if (!a->present)
		return true;
	if (a->netcd != b->netcd || strcmp(a->name, b->name) != 0 || strcmp(a->node, b->node) != 0 ||
	    a->ttl_ms != b->ttl_ms)
		return false;
	for (size_t i = 0; i < a->netcd; i++)
		if (strcmp(a->etcd[i].text, b->etcd[i].text) != 0)
			return false;
	return true;
}

/* What a reload cannot change in a running process: said once, in the log. */
static void warn_restart_only(const struct weir_config *old, const struct weir_config *cfg)
{
	bool listen_changed = old->nlisteners != cfg->nlisteners;
	for (size_t i = 0; !listen_changed && i < cfg->nlisteners; i++)
		listen_changed = strcmp(old->listeners[i].addr.text, cfg->listeners[i].addr.text) != 0 ||
		                 old->listeners[i].tls != cfg->listeners[i].tls ||
		                 old->listeners[i].protocols != cfg->listeners[i].protocols ||
		                 old->listeners[i].h2_first != cfg->listeners[i].h2_first;
	if (listen_changed)
		log_warn("reload: listen changed; it takes effect at the next restart");
	if (old->workers != cfg->workers)
		log_warn("reload: workers changed; it takes effect at the next restart");
	if (old->admin_http_set != cfg->admin_http_set ||
	    (cfg->admin_http_set && strcmp(old->admin_http.text, cfg->admin_http.text) != 0))
		log_warn("reload: admin.http changed; it takes effect at the next restart");
	if (strcmp(old->admin_socket, cfg->admin_socket) != 0)
		log_warn("reload: admin.socket changed; it takes effect at the next restart");
	if (strcmp(old->state_file, cfg->state_file) != 0 || strcmp(old->event_log, cfg->event_log) != 0)
		log_warn("reload: state_file/event_log changed; they take effect at the next restart");
	if (strcmp(old->access_log, cfg->access_log) != 0)
		log_warn("reload: access_log changed; it takes effect at the next restart");
	if (!cluster_same(&old->cluster, &cfg->cluster))
		log_warn("reload: cluster changed; it takes effect at the next restart");
	if (old->guard.window_ms != cfg->guard.window_ms)
		log_warn("reload: guard.window changed; it takes effect at the next restart");
	if (old->split.canary_weight != cfg->split.canary_weight)
		log_info("reload: split.canary_weight is not applied: the current weights stay "
		         "(use weirctl set weight)");
}

int runtime_reload(struct runtime *rt, char *err, size_t errlen)
{
	struct diag d;
	struct weir_config *cfg;
	struct tls_set *tls;
	char msg[768];

	if (rt->old_cfg) {
		snprintf(err, errlen, "a reload is still being applied; try again");
		return -1;
	}
	diag_init(&d);
	cfg = config_load(rt->cfg->path, &d);
	for (size_t i = 0; i < d.n; i++)
		log_warn("reload: %s", d.msgs[i].text);
	if (!cfg) {
		char *joined = diag_join_errors(&d);
		snprintf(err, errlen, "invalid configuration, nothing changed: %s", joined ? joined : "?");
		free(joined);
		diag_dispose(&d);
		log_error("reload refused: the configuration is invalid; still running on the old one");
		return -1;
	}
	diag_dispose(&d);
	/* Certificates and keys are loaded here, on the main thread: a file that
	 * changed since it was checked refuses the reload, and the workers never
	 * see a half-made context. */
	tls = tls_set_new(cfg, rt->tls, msg, sizeof(msg));
	if (!tls) {
		config_free(cfg);
		snprintf(err, errlen, "invalid configuration, nothing changed: %s", msg);
		log_error("reload refused: %s; still running on the old configuration", msg);
		return -1;
	}
	/* The checks move to CFG before any worker looks up its words there. */
	if (health_reconfigure(rt->health, cfg, tls, msg, sizeof(msg)) < 0) {
		tls_set_free(tls);
		config_free(cfg);
		snprintf(err, errlen, "cannot apply the configuration, nothing changed: %s", msg);
		log_error("reload refused: %s; still running on the old configuration", msg);
		return -1;
	}
	/* Settings that only a restart can change stay as they are. */
	warn_restart_only(rt->cfg, cfg);
	rt->old_cfg = rt->cfg;
	rt->cfg = cfg;
	rt->old_tls = rt->tls;
	rt->tls = tls; /* the workers take it with CFG */
	atomic_store(&rt->reconf_pending, rt->nworkers);
	for (unsigned i = 0; i < rt->nworkers; i++)
		worker_request_reconfigure(&rt->workers[i], cfg);
	canary_reconfigure(rt->canary, cfg);
	status_set_config(rt->status, cfg);
	log_info("reload: %s applied", cfg->path);
	return 0;
}

static void reconf_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct runtime *rt = arg;
	(void)fd;
	(void)events;
	health_release_old(rt->health); /* no worker reads the old words any more */
	config_free(rt->old_cfg);
	rt->old_cfg = NULL;
	tls_set_free(rt->old_tls); /* connections keep the contexts they use */
	rt->old_tls = NULL;
}

static void sighup_cb(evutil_socket_t sig, short events, void *arg)
{
	char err[1024];
	(void)sig;
	(void)events;
	log_info("SIGHUP: reloading the configuration");
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "RELOADING=1");
#endif
	if (runtime_reload(arg, err, sizeof(err)) < 0)
		log_error("reload: %s", err);
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "READY=1");
#endif
}

/* logrotate renamed the access log: go on in a new file at its path. */
static void sigusr1_cb(evutil_socket_t sig, short events, void *arg)
{
	struct runtime *rt = arg;
	char err[1024];
	(void)sig;
	(void)events;
	if (!rt->access_log) {
		log_info("SIGUSR1: no access log to reopen");
		return;
	}
	if (accesslog_reopen(rt->access_log, err, sizeof(err)) < 0)
		log_error("SIGUSR1: %s; still writing to the old file", err);
	else
		log_info("SIGUSR1: access log reopened");
}

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
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	log_info("%s: draining (up to %llu ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
	         (unsigned long long)rt->cfg->timeouts.drain_ms);
	for (unsigned i = 0; i < rt->nworkers; i++)
		worker_request_drain(&rt->workers[i]);
	struct timeval tv = clock_ms_to_tv(rt->cfg->timeouts.drain_ms);
	rt->stop_timer = evtimer_new(rt->base, stop_timer_cb, rt);
	if (rt->stop_timer)
		evtimer_add(rt->stop_timer, &tv);
}

/* ---- the control socket's commands ------------------------------------------------- */

static int cmd_reload(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                      size_t errlen)
{
	(void)a;
	(void)out;
	return runtime_reload(ctx, err, errlen);
}

static const struct control_command runtime_commands[] = {
	{ { "reload", NULL }, "reload",
	  "re-read the configuration file, as SIGHUP does", CONTROL_ARGS_NONE, cmd_reload },
};

/* Every module registers the commands it owns; help lists them in this order. */
static int register_commands(struct runtime *rt, struct control_registry *reg)
{
	control_registry_init(reg);
	if (rt->fleet) {
		/* set weight, rollback and promote are the fleet's */
		if (fleet_register_commands(rt->fleet, reg) < 0 || canary_register_local_commands(rt->canary, reg) < 0)
			return -1;
	} else if (canary_register_commands(rt->canary, reg) < 0) {
		return -1;
	}
	if (status_register_commands(rt->status, reg) < 0)
		return -1;
	return control_register(reg, runtime_commands, sizeof(runtime_commands) / sizeof(runtime_commands[0]), rt);
}

static int start_control(struct runtime *rt, char *err, size_t errlen)
{
	struct control_registry reg;

	if (register_commands(rt, &reg) < 0) {
		snprintf(err, errlen, "control commands: two modules claim the same words");
		return -1;
	}
	rt->control = control_new(rt->base, rt->cfg->admin_socket, &reg, err, errlen);
	return rt->control ? 0 : -1;
}

/* ---- setup, run, teardown ------------------------------------------------------------ */

static void runtime_free(struct runtime *rt);

/* The runtime's own parts: event base, stats, the workers' array. Takes
 * ownership of CFG. Returns NULL (logged) when out of memory. */
static struct runtime *runtime_new(struct weir_config *cfg)
{
	struct runtime *rt = calloc(1, sizeof(*rt));

	if (!rt) {
		log_error("out of memory");
		config_free(cfg);
		return NULL;
	}
	rt->cfg = cfg;
	rt->start_us = clock_now_us();
	rt->base = event_base_new();
	if (rt->base)
		rt->reconf_done = event_new(rt->base, -1, 0, reconf_done_cb, rt);
	rt->stats = stats_new(cfg->guard.window_ms);
	rt->nworkers = cfg->workers;
	rt->workers = calloc(rt->nworkers, sizeof(*rt->workers));
	if (!rt->base || !rt->reconf_done || !rt->stats || !rt->workers) {
		log_error("out of memory");
		runtime_free(rt);
		return NULL;
	}
	return rt;
}

/* What the workers need before they exist: the listeners checked, the access
 * log (each worker takes a buffer into it), TLS contexts and the health
 * checks (their server views point at its words); then the workers. */
static int start_data_path(struct runtime *rt, char *err, size_t errlen)
{
	const struct weir_config *cfg = rt->cfg;

	if (worker_probe_listeners(cfg, err, errlen) < 0)
		return -1;
	if (cfg->access_log[0] && !(rt->access_log = accesslog_open(cfg->access_log, err, errlen)))
		return -1;
	if (!(rt->tls = tls_set_new(cfg, NULL, err, errlen)))
		return -1;
	if (!(rt->health = health_new(rt, err, errlen)))
		return -1;
	for (unsigned i = 0; i < rt->nworkers; i++)
		if (worker_init(&rt->workers[i], rt, i, err, errlen) < 0)
			return -1;
	return 0;
}

/* The main thread's modules: the weights (state file first) and the guard
 * driver before any worker accepts, the status documents, the control
 * socket and the admin listener. */
static int start_control_path(struct runtime *rt, char *err, size_t errlen)
{
	const struct weir_config *cfg = rt->cfg;

	if (!(rt->weights = weights_new(cfg, err, errlen)))
		return -1;
	if (!(rt->canary = canary_new(rt->base, cfg, rt->weights, rt->stats, rt->health, err, errlen)))
		return -1;
	/* The fleet connects in the background: weir serves from here on with
	 * the state file's weights, etcd or not. */
	if (cfg->cluster.present && !(rt->fleet = fleet_new(rt->base, cfg, rt->canary, err, errlen)))
		return -1;
	struct status_sources src = {
		.rt = rt, .stats = rt->stats, .health = rt->health, .weights = rt->weights, .canary = rt->canary,
		.start_us = rt->start_us, .admission = &rt->admission, .fleet = rt->fleet,
	};
	if (!(rt->status = status_new(&src, cfg))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cfg->admin_socket[0] && start_control(rt, err, errlen) < 0)
		return -1;
	if (cfg->admin_http_set && !(rt->admin = admin_new(rt->base, &cfg->admin_http, rt->status, err, errlen)))
		return -1;
	return 0;
}

static int start_signals(struct runtime *rt)
{
	rt->sigterm = evsignal_new(rt->base, SIGTERM, stop_signal_cb, rt);
	rt->sigint = evsignal_new(rt->base, SIGINT, stop_signal_cb, rt);
	rt->sighup = evsignal_new(rt->base, SIGHUP, sighup_cb, rt);
	/* Always caught, access log or not: SIGUSR1's default action kills. */
	rt->sigusr1 = evsignal_new(rt->base, SIGUSR1, sigusr1_cb, rt);
	if (!rt->sigterm || !rt->sigint || !rt->sighup || !rt->sigusr1 || evsignal_add(rt->sigterm, NULL) < 0 ||
	    evsignal_add(rt->sigint, NULL) < 0 || evsignal_add(rt->sighup, NULL) < 0 ||
	    evsignal_add(rt->sigusr1, NULL) < 0) {
		log_error("cannot install signal handlers");
		return -1;
	}
	return 0;
}

static void announce(const struct runtime *rt)
{
	const struct weir_config *cfg = rt->cfg;

	log_info("weir %s: %zu listener(s), %u worker(s), canary %.2f%%", PACKAGE_VERSION, cfg->nlisteners,
	         rt->nworkers, weights_published(rt->weights) / 100.0);
	for (size_t i = 0; i < cfg->nlisteners; i++)
		log_info("listening on %s%s", cfg->listeners[i].addr.text, cfg->listeners[i].tls ? " (TLS)" : "");
#ifdef HAVE_LIBSYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=canary %.2f%%", weights_published(rt->weights) / 100.0);
#endif
}

/* Start the workers and run the main loop until stopped; every started
 * worker is joined. Returns 0 after a clean stop, 2 when a worker could not
 * start. */
static int run(struct runtime *rt)
{
	unsigned started = 0;
	int rc = 2;

	for (; started < rt->nworkers; started++) {
		if (worker_start(&rt->workers[started]) < 0) {
			log_error("cannot start worker thread %u", started);
			break;
		}
	}
	if (started == rt->nworkers) {
		announce(rt);
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
	return rc;
}

static void close_access_log(struct runtime *rt)
{
	/* The workers handed over their last lines in worker_dispose. */
	struct accesslog_stats st;

	accesslog_get_stats(rt->access_log, &st);
	accesslog_close(rt->access_log);
	if (st.lines_dropped)
		log_warn("access log: %llu line(s) could not be written (last error: %s)",
		         (unsigned long long)st.lines_dropped, strerror(st.last_errno));
}

static void free_event(struct event *ev)
{
	if (ev)
		event_free(ev);
}

/* Everything runtime_new and the start_* functions made, whatever they got to. */
static void runtime_free(struct runtime *rt)
{
	free_event(rt->sigterm);
	free_event(rt->sigint);
	free_event(rt->stop_timer);
	free_event(rt->sighup);
	free_event(rt->sigusr1);
	control_free(rt->control);
	admin_free(rt->admin);
	if (rt->workers)
		for (unsigned i = 0; i < rt->nworkers; i++)
			worker_dispose(&rt->workers[i]);
	free(rt->workers);
	health_free(rt->health);
	if (rt->access_log)
		close_access_log(rt);
	status_free(rt->status);
	fleet_free(rt->fleet);
	canary_free(rt->canary);
	weights_free(rt->weights);
	stats_free(rt->stats);
	free_event(rt->reconf_done);
	if (rt->base)
		event_base_free(rt->base);
	/* A reload still in flight when the workers stopped: they are joined now. */
	config_free(rt->old_cfg);
	config_free(rt->cfg);
	tls_set_free(rt->old_tls);
	tls_set_free(rt->tls);
	free(rt);
}

int runtime_run(struct weir_config *cfg)
{
	struct runtime *rt;
	char err[512];
	int rc = 2;

	if (evthread_use_pthreads() < 0) {
		log_error("libevent has no thread support");
		config_free(cfg);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	rt = runtime_new(cfg);
	if (!rt)
		return 2;
	if (start_data_path(rt, err, sizeof(err)) < 0 || start_control_path(rt, err, sizeof(err)) < 0)
		log_error("%s", err);
	else if (start_signals(rt) == 0)
		rc = run(rt);
	runtime_free(rt);
	return rc;
}
