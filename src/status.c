/* status: every status document from one snapshot (see status.h). */
#include "config.h"

#include "weir/status.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/admission.h"
#include "weir/canary.h"
#include "weir/clock.h"
#include "weir/config.h"
#include "weir/fleet.h"
#include "weir/guard.h"
#include "weir/json.h"
#include "weir/rollout.h"
#include "weir/runtime-t.h"
#include "weir/state.h"
#include "weir/stats.h"
#include "weir/textbuf.h"
#include "weir/weights.h"
#include "weir/worker.h"

struct status {
	struct status_sources src;
	const struct weir_config *cfg;
	struct status_snapshot snap;
	size_t server_cap[POOL_COUNT];
};

/* ---- the snapshot ---------------------------------------------------------------- */

struct status *status_new(const struct status_sources *src, const struct weir_config *cfg)
{
	struct status *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->src = *src;
	st->cfg = cfg;
	st->snap.stats = stats_snapshot_new();
	if (!st->snap.stats) {
		free(st);
		return NULL;
	}
	return st;
}

void status_free(struct status *st)
{
	if (!st)
		return;
	stats_snapshot_free(st->snap.stats);
	for (int p = 0; p < POOL_COUNT; p++)
		free(st->snap.servers[p]);
	free(st);
}

void status_set_config(struct status *st, const struct weir_config *cfg)
{
	st->cfg = cfg;
}

static void take_server(struct status *st, enum pool_id p, size_t s, struct status_server *row)
{
	uint64_t down_until;

	row->address = st->cfg->pools[p].servers[s].text;
	worker_server_state(st->src.rt, p, s, &row->active, &down_until);
	health_server_info(st->src.health, p, s, &row->check);
	if (down_until > st->snap.now_ms)
		row->state = "down";
	else if (row->check.checked)
		row->state = check_state_name(row->check.state);
	else
		row->state = "up";
}

static int take_servers(struct status *st)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		size_t n = st->cfg->pools[p].nservers;
		if (n > st->server_cap[p]) {
			struct status_server *rows = realloc(st->snap.servers[p], n * sizeof(*rows));
			if (!rows)
				return -1;
			st->snap.servers[p] = rows;
			st->server_cap[p] = n;
		}
		st->snap.nservers[p] = n;
		for (size_t s = 0; s < n; s++)
			take_server(st, (enum pool_id)p, s, &st->snap.servers[p][s]);
	}
	return 0;
}

/* Requests begun by protocol, summed over the workers: each worker writes
 * its own counters alone (proxy-t.h), so relaxed loads are enough. */
static void take_downstream(const struct runtime *rt, uint64_t out[DOWNSTREAM_PROTO_COUNT])
{
	for (int p = 0; p < DOWNSTREAM_PROTO_COUNT; p++)
		out[p] = 0;
	for (unsigned i = 0; i < rt->nworkers; i++)
		for (int p = 0; p < DOWNSTREAM_PROTO_COUNT; p++)
			out[p] += atomic_load_explicit(&rt->workers[i].clients.requests[p], memory_order_relaxed);
}

const struct status_snapshot *status_take(struct status *st)
{
	struct status_snapshot *snap = &st->snap;

	snap->now_us = clock_now_us();
	snap->now_ms = snap->now_us / 1000;
	snap->uptime_seconds = (double)(snap->now_us - st->src.start_us) / 1e6;
	snap->canary_weight = weights_published(st->src.weights);
	stats_snapshot_take(st->src.stats, snap->now_ms, snap->stats);
	snap->tls_handshake_failures = admission_tls_handshake_failures(st->src.admission);
	snap->tls_upstream_failures = admission_tls_upstream_failures(st->src.admission);
	take_downstream(st->src.rt, snap->downstream_requests);
	if (take_servers(st) < 0)
		return NULL;
	return snap;
}

static void weights_percent(const struct status_snapshot *snap, double weights[POOL_COUNT])
{
	weights[POOL_BASELINE] = (WEIGHT_SCALE - snap->canary_weight) / 100.0;
	weights[POOL_CANARY] = snap->canary_weight / 100.0;
}

/* ---- JSON pieces ----------------------------------------------------------------- */

/* Append what a growing textbuf T received (RC 0), or FALLBACK when memory
 * ran out, so that the document stays whole; releases T. */
static void add_text(struct evbuffer *out, struct textbuf *t, int rc, const char *fallback)
{
	if (rc == 0 && !t->truncated)
		evbuffer_add(out, t->buf, t->off);
	else
		evbuffer_add(out, fallback, strlen(fallback));
	textbuf_dispose(t);
}

/* S as a JSON string literal (json.h's escaping) onto B. */
static void add_json_string(struct evbuffer *b, const char *s)
{
	struct textbuf t;

	textbuf_start_growing(&t);
	json_string(&t, s);
	add_text(b, &t, 0, "null");
}

/* JSON has no NaN or infinity: report 0 for them. */
static double finite_or_zero(double v)
{
	return isfinite(v) ? v : 0.0;
}

static void json_view(struct evbuffer *b, const struct stats_view *v, bool window, double seconds)
{
	evbuffer_add_printf(b, "{");
	if (window)
		evbuffer_add_printf(b, "\"seconds\":%.0f,", seconds);
	evbuffer_add_printf(b, "\"requests\":%llu,\"errors\":%llu,\"error_rate\":%.6f,"
	                       "\"abandoned\":%llu,\"overridden\":%llu,",
	                    (unsigned long long)v->requests, (unsigned long long)v->errors,
	                    stats_view_error_rate(v), (unsigned long long)v->abandoned,
	                    (unsigned long long)v->overridden);
	if (window)
		evbuffer_add_printf(b, "\"rps\":%.3f,", seconds > 0 ? (double)v->requests / seconds : 0.0);
	evbuffer_add_printf(b, "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}",
	                    finite_or_zero(stats_view_percentile_ms(v, 50.0)),
	                    finite_or_zero(stats_view_percentile_ms(v, 99.0)),
	                    finite_or_zero(stats_view_percentile_ms(v, 99.9)),
	                    finite_or_zero(stats_view_percentile_ms(v, 100.0)));
}

static double age_seconds(uint64_t then_ms, uint64_t now_ms)
{
	return now_ms > then_ms ? (double)(now_ms - then_ms) / 1000.0 : 0.0;
}

static void json_server(struct evbuffer *b, const struct status_server *row, uint64_t now_ms)
{
	const struct health_info *ck = &row->check;

	evbuffer_add_printf(b, "{\"address\":");
	add_json_string(b, row->address);
	evbuffer_add_printf(b, ",\"state\":\"%s\",\"active\":%u,\"last_check\":", row->state, row->active);
	if (!ck->has_last) {
		evbuffer_add_printf(b, "null}");
		return;
	}
	evbuffer_add_printf(b, "{\"ok\":%s,\"status\":", ck->last_ok ? "true" : "false");
	if (ck->last_status)
		evbuffer_add_printf(b, "%d", ck->last_status);
	else
		evbuffer_add_printf(b, "null");
	evbuffer_add_printf(b, ",\"ms\":%u,\"age_seconds\":%.1f,\"reason\":", ck->last_ms,
	                    age_seconds(ck->last_at_ms, now_ms));
	add_json_string(b, ck->reason);
	evbuffer_add_printf(b, "}}");
}

static void json_pools(const struct status_snapshot *snap, struct evbuffer *b)
{
	double weights[POOL_COUNT];
	/* Until the process has run a whole window, rates are over the uptime. */
	double wsec = (double)snap->stats->window_ms / 1000.0;
	double rate_sec = snap->uptime_seconds < wsec ? snap->uptime_seconds : wsec;

	weights_percent(snap, weights);
	evbuffer_add_printf(b, "\"pools\":{");
	for (int p = 0; p < POOL_COUNT; p++) {
		evbuffer_add_printf(b, "%s\"%s\":{\"weight\":%.2f,\"servers\":[", p ? "," : "", cfg_pool_name(p),
		                    weights[p]);
		for (size_t s = 0; s < snap->nservers[p]; s++) {
			evbuffer_add_printf(b, "%s", s ? "," : "");
			json_server(b, &snap->servers[p][s], snap->now_ms);
		}
		evbuffer_add_printf(b, "],\"total\":");
		json_view(b, &snap->stats->pools[p].total, false, 0);
		evbuffer_add_printf(b, ",\"window\":");
		json_view(b, &snap->stats->pools[p].window, true, rate_sec);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "}");
}

/* "guard":{...},"rollout":...,"events":[...] */
static void json_canary(struct canary *c, const struct weights *w, struct evbuffer *out)
{
	const struct guard *g = canary_guard(c);
	const struct rollout *r = canary_rollout(c);
	char since[40];
	struct textbuf t;

	canary_wall_format(g->since_ms, since, sizeof(since), c);
	textbuf_start_growing(&t);
	evbuffer_add_printf(out, "\"guard\":");
	add_text(out, &t, guard_format_stats_json(g, since, &t), "null");
	evbuffer_add_printf(out, ",\"rollout\":");
	if (r) {
		uint64_t at;
		char next[40];
		bool has_next = rollout_next_at(r, &at);
		if (has_next)
			canary_wall_format(at, next, sizeof(next), c);
		textbuf_start_growing(&t);
		add_text(out, &t, rollout_format_json(r, has_next ? next : NULL, &t), "null");
	} else {
		evbuffer_add_printf(out, "null");
	}
	evbuffer_add_printf(out, ",\"events\":[");
	for (size_t i = 0; i < weights_recent_count(w); i++)
		evbuffer_add_printf(out, "%s%s", i ? "," : "", weights_recent(w, i));
	evbuffer_add_printf(out, "]");
}

/* ,"fleet":{... "pools":{merged window and total per pool, as "pools"}} */
static void json_fleet(struct fleet *f, const struct status_snapshot *snap, struct evbuffer *b)
{
	const struct stats_view *window, *total;
	double wsec = (double)snap->stats->window_ms / 1000.0;
	struct textbuf t;

	textbuf_start_growing(&t);
	int rc = fleet_format_json(f, &t);
	if (rc < 0 || t.truncated || t.off == 0 || t.buf[t.off - 1] != '}') {
		textbuf_dispose(&t);
		evbuffer_add_printf(b, ",\"fleet\":null");
		return;
	}
	evbuffer_add_printf(b, ",\"fleet\":");
	evbuffer_add(b, t.buf, t.off - 1);
	textbuf_dispose(&t);
	evbuffer_add_printf(b, ",\"pools\":");
	if (!fleet_merged_pools(f, &window, &total)) {
		evbuffer_add_printf(b, "null}");
		return;
	}
	evbuffer_add_printf(b, "{");
	for (int p = 0; p < POOL_COUNT; p++) {
		evbuffer_add_printf(b, "%s\"%s\":{\"total\":", p ? "," : "", cfg_pool_name(p));
		json_view(b, &total[p], false, 0);
		evbuffer_add_printf(b, ",\"window\":");
		json_view(b, &window[p], true, wsec);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "}}");
}

void status_stats_json(struct status *st, const struct status_snapshot *snap, struct evbuffer *b)
{
	double weights[POOL_COUNT];

	weights_percent(snap, weights);
	evbuffer_add_printf(b, "{\"version\":\"%s\",\"uptime_seconds\":%.1f,", PACKAGE_VERSION,
	                    snap->uptime_seconds);
	evbuffer_add_printf(b, "\"weights\":{\"baseline\":%.2f,\"canary\":%.2f},", weights[0], weights[1]);
	json_pools(snap, b);
	evbuffer_add_printf(b, ",");
	json_canary(st->src.canary, st->src.weights, b);
	if (st->src.fleet)
		json_fleet(st->src.fleet, snap, b);
	evbuffer_add_printf(b, "}");
}

void status_report_json(struct status *st, const struct status_snapshot *snap, struct evbuffer *out)
{
	struct canary *c = st->src.canary;
	const struct rollout_history *h = canary_report_refresh(c, snap->stats);
	struct textbuf t;

	/* {"steps":[...],"dropped":N} and the guard's current run: its tests */
	textbuf_start_growing(&t);
	int rc = rollout_history_format_json(h, snap->now_ms, canary_wall_format, c, &t);
	if (rc == 0 && t.off > 0 && t.buf[t.off - 1] == '}') {
		t.buf[--t.off] = '\0';
		textbuf_printf(&t, ",\"guard\":{");
		guard_format_tests_json(canary_guard(c), &t);
		textbuf_printf(&t, "}}");
		rc = t.truncated ? -1 : 0;
	}
	add_text(out, &t, rc, "{\"error\":\"out of memory\"}");
}

/* ---- Prometheus ------------------------------------------------------------------ */

/* A since-start counter family: the uint64_t at OFFSET in each pool's total view. */
static void counter_per_pool(struct evbuffer *b, const char *name, const char *help,
                             const struct stats_snapshot *snap, size_t offset)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int p = 0; p < POOL_COUNT; p++) {
		const uint64_t *v = (const uint64_t *)(const void *)((const char *)&snap->pools[p].total + offset);
		evbuffer_add_printf(b, "%s{pool=\"%s\"} %llu\n", name, cfg_pool_name(p), (unsigned long long)*v);
	}
}

static void metrics_pools(const struct status_snapshot *snap, struct evbuffer *b)
{
	double weights[POOL_COUNT];

	weights_percent(snap, weights);
	counter_per_pool(b, "weir_requests_total", "Requests answered, per pool, since start.", snap->stats,
	                 offsetof(struct stats_view, requests));
	counter_per_pool(b, "weir_errors_total", "Requests counted as errors, per pool, since start.", snap->stats,
	                 offsetof(struct stats_view, errors));
	counter_per_pool(b, "weir_abandoned_total",
	                 "Requests whose client left before the response was complete, per pool, since start.",
	                 snap->stats, offsetof(struct stats_view, abandoned));
	counter_per_pool(b, "weir_overridden_total",
	                 "Requests routed by the override header (counted, never judged), per pool, since start.",
	                 snap->stats, offsetof(struct stats_view, overridden));
	evbuffer_add_printf(b, "# HELP weir_pool_weight_percent Share of requests routed to the pool.\n"
	                       "# TYPE weir_pool_weight_percent gauge\n");
	for (int p = 0; p < POOL_COUNT; p++)
		evbuffer_add_printf(b, "weir_pool_weight_percent{pool=\"%s\"} %.2f\n", cfg_pool_name(p), weights[p]);
}

/* Quantiles over the sliding window (what the guard judges); _sum and
 * _count since start, so that they only grow, as rate() expects. */
static void metrics_latency(const struct status_snapshot *snap, struct evbuffer *b)
{
	static const double qs[] = { 0.5, 0.99, 0.999 };

	evbuffer_add_printf(b, "# HELP weir_request_duration_seconds Request latency: quantiles over the "
	                       "sliding window, sum and count since start.\n"
	                       "# TYPE weir_request_duration_seconds summary\n");
	for (int p = 0; p < POOL_COUNT; p++) {
		const struct stats_view *v = &snap->stats->pools[p].window;
		const struct stats_view *t = &snap->stats->pools[p].total;
		for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++)
			evbuffer_add_printf(b, "weir_request_duration_seconds{pool=\"%s\",quantile=\"%g\"} %.6f\n",
			                    cfg_pool_name(p), qs[q], stats_view_percentile_ms(v, qs[q] * 100) / 1000.0);
		evbuffer_add_printf(b, "weir_request_duration_seconds_sum{pool=\"%s\"} %llu.%06llu\n",
		                    cfg_pool_name(p), (unsigned long long)(t->latency_sum_us / 1000000),
		                    (unsigned long long)(t->latency_sum_us % 1000000));
		evbuffer_add_printf(b, "weir_request_duration_seconds_count{pool=\"%s\"} %llu\n", cfg_pool_name(p),
		                    (unsigned long long)hdr_count(t->latency_us));
	}
}

/* weir_downstream_requests_total{protocol}: the label is the ALPN name. */
static void metrics_downstream(const struct status_snapshot *snap, struct evbuffer *b)
{
	static const char *const names[DOWNSTREAM_PROTO_COUNT] = {
		[DOWNSTREAM_HTTP1] = "http/1.1",
		[DOWNSTREAM_H2] = "h2",
	};

	evbuffer_add_printf(b, "# HELP weir_downstream_requests_total Requests begun, by the protocol the client "
	                       "spoke (http/1.1 includes HTTP/1.0; h2 is HTTP/2 over TLS or cleartext), since start.\n"
	                       "# TYPE weir_downstream_requests_total counter\n");
	for (int p = 0; p < DOWNSTREAM_PROTO_COUNT; p++)
		evbuffer_add_printf(b, "weir_downstream_requests_total{protocol=\"%s\"} %llu\n", names[p],
		                    (unsigned long long)snap->downstream_requests[p]);
}

static void metrics_servers(const struct status_snapshot *snap, struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP weir_tls_handshake_failures_total Client TLS handshakes that failed.\n"
	                       "# TYPE weir_tls_handshake_failures_total counter\n"
	                       "weir_tls_handshake_failures_total %llu\n",
	                    (unsigned long long)snap->tls_handshake_failures);
	evbuffer_add_printf(b, "# HELP weir_tls_upstream_failures_total TLS handshakes or verifications "
	                       "with backend servers that failed.\n"
	                       "# TYPE weir_tls_upstream_failures_total counter\n"
	                       "weir_tls_upstream_failures_total %llu\n",
	                    (unsigned long long)snap->tls_upstream_failures);
	evbuffer_add_printf(b, "# HELP weir_server_up 1 when the server may be sent requests (up, or not "
	                       "checked yet), 0 when it is down (health check or connection back-off).\n"
	                       "# TYPE weir_server_up gauge\n");
	for (int p = 0; p < POOL_COUNT; p++)
		for (size_t s = 0; s < snap->nservers[p]; s++)
			evbuffer_add_printf(b, "weir_server_up{pool=\"%s\",server=\"%s\"} %d\n", cfg_pool_name(p),
			                    snap->servers[p][s].address, strcmp(snap->servers[p][s].state, "down") != 0);
}

static void metrics_canary(const struct canary *c, const struct weights *w, struct evbuffer *b)
{
	const struct guard *g = canary_guard(c);

	evbuffer_add_printf(b, "# HELP weir_guard_state The guard's state (1 for the current one).\n"
	                       "# TYPE weir_guard_state gauge\n");
	for (int s = 0; s < GUARD_STATE_COUNT; s++)
		evbuffer_add_printf(b, "weir_guard_state{state=\"%s\"} %d\n", guard_state_name((enum guard_state)s),
		                    g->state == (enum guard_state)s);
	evbuffer_add_printf(b, "# HELP weir_weight_changes_total Weight changes since start, per actor.\n"
	                       "# TYPE weir_weight_changes_total counter\n");
	for (int a = 0; a < WEIGHTS_ACTOR_COUNT; a++)
		evbuffer_add_printf(b, "weir_weight_changes_total{actor=\"%s\"} %llu\n",
		                    weights_actor_name((enum weights_actor)a),
		                    (unsigned long long)weights_changes(w, (enum weights_actor)a));
}

static void metrics_fleet(const struct fleet *f, struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP weir_fleet_members Members of the fleet this instance knows, itself included.\n"
	                       "# TYPE weir_fleet_members gauge\nweir_fleet_members %zu\n"
	                       "# HELP weir_fleet_is_leader 1 when this member judges the fleet's canary.\n"
	                       "# TYPE weir_fleet_is_leader gauge\nweir_fleet_is_leader %d\n"
	                       "# HELP weir_fleet_applied_revision The etcd revision of the weights applied here.\n"
	                       "# TYPE weir_fleet_applied_revision gauge\nweir_fleet_applied_revision %lld\n"
	                       "# HELP weir_fleet_connected 1 while this member reaches etcd.\n"
	                       "# TYPE weir_fleet_connected gauge\nweir_fleet_connected %d\n",
	                    fleet_member_count(f), fleet_is_leader(f), (long long)fleet_applied_revision(f),
	                    fleet_connected(f));
}

void status_metrics(struct status *st, const struct status_snapshot *snap, struct evbuffer *b)
{
	metrics_pools(snap, b);
	metrics_latency(snap, b);
	metrics_downstream(snap, b);
	metrics_servers(snap, b);
	metrics_canary(st->src.canary, st->src.weights, b);
	if (st->src.fleet)
		metrics_fleet(st->src.fleet, b);
}

/* ---- control payloads ------------------------------------------------------------ */

static const struct status_snapshot *take_or_fail(struct status *st, char *err, size_t errlen)
{
	const struct status_snapshot *snap = status_take(st);
	if (!snap)
		snprintf(err, errlen, "out of memory");
	return snap;
}

static int show_weights(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                        size_t errlen)
{
	struct status *st = ctx;
	const struct status_snapshot *snap = take_or_fail(st, err, errlen);
	double weights[POOL_COUNT];

	(void)a;
	if (!snap)
		return -1;
	weights_percent(snap, weights);
	evbuffer_add_printf(out, "baseline %.2f\ncanary %.2f\n", weights[POOL_BASELINE], weights[POOL_CANARY]);
	return 0;
}

/* A document rendered from a fresh snapshot, on one line for the socket. */
static int show_document(struct status *st,
                         void (*render)(struct status *, const struct status_snapshot *, struct evbuffer *),
                         struct evbuffer *out, char *err, size_t errlen)
{
	const struct status_snapshot *snap = take_or_fail(st, err, errlen);

	if (!snap)
		return -1;
	render(st, snap, out);
	evbuffer_add(out, "\n", 1);
	return 0;
}

static int show_stats(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                      size_t errlen)
{
	(void)a;
	return show_document(ctx, status_stats_json, out, err, errlen);
}

static int show_guard(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                      size_t errlen)
{
	struct status *st = ctx;
	const struct status_snapshot *snap = take_or_fail(st, err, errlen);
	const struct guard *g = canary_guard(st->src.canary);
	char since[40];
	struct textbuf t;

	(void)a;
	if (!snap)
		return -1;
	textbuf_start_growing(&t);
	canary_wall_format(g->since_ms, since, sizeof(since), st->src.canary);
	if (guard_format_show(g, snap->now_ms, since, &t) < 0) {
		textbuf_dispose(&t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	add_text(out, &t, 0, "");
	return 0;
}

static int show_events(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                       size_t errlen)
{
	struct status *st = ctx;
	unsigned n = a->count;
	const struct weights *w = st->src.weights;
	const char *path = weights_event_log_path(w);

	/* The event log holds more than the recent ring: read it when there is one. */
	if (path[0]) {
		char **lines = NULL;
		size_t count = 0;
		if (event_log_read_last(path, n, &lines, &count, err, errlen) < 0)
			return -1;
		for (size_t i = 0; i < count; i++)
			evbuffer_add_printf(out, "%s\n", lines[i]);
		event_log_lines_free(lines, count);
		return 0;
	}
	size_t nrecent = weights_recent_count(w);
	for (size_t i = nrecent > n ? nrecent - n : 0; i < nrecent; i++)
		evbuffer_add_printf(out, "%s\n", weights_recent(w, i));
	return 0;
}

static int show_report(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                       size_t errlen)
{
	(void)a;
	return show_document(ctx, status_report_json, out, err, errlen);
}

static void server_line(const char *pool, const struct status_server *row, uint64_t now_ms,
                        struct evbuffer *out)
{
	const struct health_info *ck = &row->check;

	evbuffer_add_printf(out, "%s %s %s %u ", pool, row->address, row->state, row->active);
	if (!ck->checked)
		evbuffer_add_printf(out, "- - - not checked\n");
	else if (!ck->has_last)
		evbuffer_add_printf(out, "- - - no check completed yet\n");
	else if (ck->last_status)
		evbuffer_add_printf(out, "%d %u %.1f %s\n", ck->last_status, ck->last_ms,
		                    age_seconds(ck->last_at_ms, now_ms), ck->reason);
	else
		evbuffer_add_printf(out, "- %u %.1f %s\n", ck->last_ms, age_seconds(ck->last_at_ms, now_ms),
		                    ck->reason);
}

static int show_servers(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                        size_t errlen)
{
	struct status *st = ctx;
	const struct status_snapshot *snap = take_or_fail(st, err, errlen);

	(void)a;
	if (!snap)
		return -1;
	for (int p = 0; p < POOL_COUNT; p++)
		for (size_t s = 0; s < snap->nservers[p]; s++)
			server_line(cfg_pool_name(p), &snap->servers[p][s], snap->now_ms, out);
	return 0;
}

static int show_fleet(void *ctx, const struct control_args *a, struct evbuffer *out, char *err, size_t errlen)
{
	struct status *st = ctx;
	struct textbuf t;

	(void)a;
	if (!st->src.fleet) {
		snprintf(err, errlen, "this weir is not in a fleet (no cluster group in its configuration)");
		return -1;
	}
	textbuf_start_growing(&t);
	if (fleet_format_show(st->src.fleet, &t) < 0) {
		textbuf_dispose(&t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	add_text(out, &t, 0, "");
	return 0;
}

static const struct control_command status_commands[] = {
	{ { "show", "weights" }, "show weights",
	  "the weight of each pool in percent", CONTROL_ARGS_NONE, show_weights },
	{ { "show", "stats" }, "show stats",
	  "the /stats.json document, on one line", CONTROL_ARGS_NONE, show_stats },
	{ { "show", "guard" }, "show guard",
	  "guard state, thresholds, the judged values and the last breach", CONTROL_ARGS_NONE, show_guard },
	{ { "show", "events" }, "show events [N]",
	  "the last N events (default 20, at most 10000), one JSON object per line", CONTROL_ARGS_COUNT,
	  show_events },
	{ { "show", "report" }, "show report",
	  "the canary run so far as JSON (as /report.json)", CONTROL_ARGS_NONE, show_report },
	{ { "show", "servers" }, "show servers",
	  "one line per server: pool address state active check_status check_ms check_age_s reason",
	  CONTROL_ARGS_NONE, show_servers },
	{ { "show", "fleet" }, "show fleet",
	  "one line per member of the fleet: node address leader|member|disconnected applied_revision last_seen",
	  CONTROL_ARGS_NONE, show_fleet },
};

int status_register_commands(struct status *st, struct control_registry *reg)
{
	return control_register(reg, status_commands, sizeof(status_commands) / sizeof(status_commands[0]), st);
}
