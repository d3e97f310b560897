/* admin: the read-only HTTP listener on admin.http (evhttp: low volume). */
#include "config.h"

#include "weir/admin.h"

#include <errno.h>
#include <math.h>
#include <unistd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "weir/canary.h"
#include "weir/clock.h"
#include "weir/health.h"
#include "weir/httpd.h"
#include "weir/json.h"
#include "weir/net.h"
#include "weir/page.h"
#include "weir/stats.h"
#include "weir/worker.h"

struct admin {
	struct runtime *rt;
	struct httpd *http;
	struct stats_snapshot *snap;
};

#define ADMIN_BACKLOG 128

/* What one client may cost (README, "Admin listener"): it can never take
 * more than a few dozen descriptors from the proxy, nor memory for a body. */
static const struct httpd_limits admin_limits = {
	.max_clients = 64,
	.max_head_bytes = 8192,
	.timeout_seconds = 10,
};

static const char *const pool_names[POOL_COUNT] = { "baseline", "canary" };

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

/* S as a JSON string literal (json.h's escaping) onto B. */
static void add_json_string(struct evbuffer *b, const char *s)
{
	struct textbuf t;

	textbuf_start_growing(&t);
	json_string(&t, s);
	if (!t.truncated)
		evbuffer_add(b, t.buf, t.off);
	else
		evbuffer_add(b, "null", 4);
	textbuf_dispose(&t);
}

/* One server as every view shows it: the health check's state for a checked
 * pool, except that a connection back-off shows as "down" whatever the check
 * says; "up"/"down" from the back-off alone for a pool without check. */
struct server_row {
	const char *address;
	const char *state;
	uint32_t active;
	struct health_info check;
};

static void server_row(struct runtime *rt, enum pool_id p, size_t s, uint64_t now_ms,
                       struct server_row *row)
{
	uint64_t down_until;

	row->address = rt->cfg->pools[p].servers[s].text;
	worker_server_state(rt, p, s, &row->active, &down_until);
	health_server_info(rt->health, p, s, &row->check);
	if (down_until > now_ms)
		row->state = "down";
	else if (row->check.checked)
		row->state = check_state_name(row->check.state);
	else
		row->state = "up";
}

static double age_seconds(uint64_t then_ms, uint64_t now_ms)
{
	return now_ms > then_ms ? (double)(now_ms - then_ms) / 1000.0 : 0.0;
}

static void json_server(struct evbuffer *b, const struct server_row *row, uint64_t now_ms)
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

void admin_servers_text(struct runtime *rt, struct evbuffer *out)
{
	uint64_t now_ms = clock_now_ms();

	for (int p = 0; p < POOL_COUNT; p++) {
		for (size_t s = 0; s < rt->cfg->pools[p].nservers; s++) {
			struct server_row row;
			server_row(rt, (enum pool_id)p, s, now_ms, &row);
			evbuffer_add_printf(out, "%s %s %s %u ", pool_names[p], row.address, row.state, row.active);
			if (!row.check.checked)
				evbuffer_add_printf(out, "- - - not checked\n");
			else if (!row.check.has_last)
				evbuffer_add_printf(out, "- - - no check completed yet\n");
			else if (row.check.last_status)
				evbuffer_add_printf(out, "%d %u %.1f %s\n", row.check.last_status, row.check.last_ms,
				                    age_seconds(row.check.last_at_ms, now_ms), row.check.reason);
			else
				evbuffer_add_printf(out, "- %u %.1f %s\n", row.check.last_ms,
				                    age_seconds(row.check.last_at_ms, now_ms), row.check.reason);
		}
	}
}

static void stats_json(struct runtime *rt, struct stats_snapshot *snap, struct evbuffer *b)
{
	uint64_t now_us = clock_now_us();
	uint64_t now_ms = now_us / 1000;
	double uptime = (double)(now_us - rt->start_us) / 1e6;
	uint32_t cw = atomic_load(&rt->canary_weight);
	double weights[POOL_COUNT] = { (WEIGHT_SCALE - cw) / 100.0, cw / 100.0 };

	stats_snapshot_take(rt->stats, now_ms, snap);
	/* Until the process has run a whole window, rates are over the uptime. */
	double wsec = (double)snap->window_ms / 1000.0;
	double rate_sec = uptime < wsec ? uptime : wsec;

	evbuffer_add_printf(b, "{\"version\":\"%s\",\"uptime_seconds\":%.1f,", PACKAGE_VERSION, uptime);
	evbuffer_add_printf(b, "\"weights\":{\"baseline\":%.2f,\"canary\":%.2f},\"pools\":{", weights[0],
	                    weights[1]);
	for (int p = 0; p < POOL_COUNT; p++) {
		const struct cfg_pool *cp = &rt->cfg->pools[p];
		evbuffer_add_printf(b, "%s\"%s\":{\"weight\":%.2f,\"servers\":[", p ? "," : "", pool_names[p],
		                    weights[p]);
		for (size_t s = 0; s < cp->nservers; s++) {
			struct server_row row;
			server_row(rt, (enum pool_id)p, s, now_ms, &row);
			evbuffer_add_printf(b, "%s", s ? "," : "");
			json_server(b, &row, now_ms);
		}
		evbuffer_add_printf(b, "],\"total\":");
		json_view(b, &snap->pools[p].total, false, 0);
		evbuffer_add_printf(b, ",\"window\":");
		json_view(b, &snap->pools[p].window, true, rate_sec);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "},");
	canary_stats_json(rt->canary, b);
	evbuffer_add_printf(b, "}");
}

char *admin_stats_json(struct runtime *rt)
{
	struct stats_snapshot *snap = stats_snapshot_new();
	struct evbuffer *b = evbuffer_new();
	char *out = NULL;

	if (snap && b) {
		stats_json(rt, snap, b);
		size_t len = evbuffer_get_length(b);
		out = malloc(len + 1);
		if (out) {
			evbuffer_remove(b, out, len);
			out[len] = '\0';
		}
	}
	if (b)
		evbuffer_free(b);
	stats_snapshot_free(snap);
	return out;
}

/* A since-start counter family: the uint64_t at OFFSET in each pool's total view. */
static void counter_per_pool(struct evbuffer *b, const char *name, const char *help,
                             const struct stats_snapshot *snap, size_t offset)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int p = 0; p < POOL_COUNT; p++) {
		const uint64_t *v = (const uint64_t *)(const void *)((const char *)&snap->pools[p].total + offset);
		evbuffer_add_printf(b, "%s{pool=\"%s\"} %llu\n", name, pool_names[p], (unsigned long long)*v);
	}
}

static void metrics_text(struct runtime *rt, struct stats_snapshot *snap, struct evbuffer *b)
{
	uint32_t cw = atomic_load(&rt->canary_weight);
	double weights[POOL_COUNT] = { (WEIGHT_SCALE - cw) / 100.0, cw / 100.0 };

	stats_snapshot_take(rt->stats, clock_now_ms(), snap);
	counter_per_pool(b, "weir_requests_total", "Requests answered, per pool, since start.", snap,
	                 offsetof(struct stats_view, requests));
	counter_per_pool(b, "weir_errors_total", "Requests counted as errors, per pool, since start.", snap,
	                 offsetof(struct stats_view, errors));
	counter_per_pool(b, "weir_abandoned_total",
	                 "Requests whose client left before the response was complete, per pool, since start.",
	                 snap, offsetof(struct stats_view, abandoned));
	counter_per_pool(b, "weir_overridden_total",
	                 "Requests routed by the override header (counted, never judged), per pool, since start.",
	                 snap, offsetof(struct stats_view, overridden));
	evbuffer_add_printf(b, "# HELP weir_pool_weight_percent Share of requests routed to the pool.\n"
	                       "# TYPE weir_pool_weight_percent gauge\n");
	for (int p = 0; p < POOL_COUNT; p++)
		evbuffer_add_printf(b, "weir_pool_weight_percent{pool=\"%s\"} %.2f\n", pool_names[p], weights[p]);
	/* Quantiles over the sliding window (what the guard judges); _sum and
	 * _count since start, so that they only grow, as rate() expects. */
	evbuffer_add_printf(b, "# HELP weir_request_duration_seconds Request latency: quantiles over the "
	                       "sliding window, sum and count since start.\n"
	                       "# TYPE weir_request_duration_seconds summary\n");
	static const double qs[] = { 0.5, 0.99, 0.999 };
	for (int p = 0; p < POOL_COUNT; p++) {
		const struct stats_view *v = &snap->pools[p].window;
		const struct stats_view *t = &snap->pools[p].total;
		for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++)
			evbuffer_add_printf(b, "weir_request_duration_seconds{pool=\"%s\",quantile=\"%g\"} %.6f\n",
			                    pool_names[p], qs[q], stats_view_percentile_ms(v, qs[q] * 100) / 1000.0);
		evbuffer_add_printf(b, "weir_request_duration_seconds_sum{pool=\"%s\"} %llu.%06llu\n",
		                    pool_names[p], (unsigned long long)(t->latency_sum_us / 1000000),
		                    (unsigned long long)(t->latency_sum_us % 1000000));
		evbuffer_add_printf(b, "weir_request_duration_seconds_count{pool=\"%s\"} %llu\n", pool_names[p],
		                    (unsigned long long)hdr_count(t->latency_us));
	}
	evbuffer_add_printf(b, "# HELP weir_tls_handshake_failures_total Client TLS handshakes that failed.\n"
	                       "# TYPE weir_tls_handshake_failures_total counter\n"
	                       "weir_tls_handshake_failures_total %llu\n",
	                    (unsigned long long)atomic_load(&rt->tls_handshake_failures));
	evbuffer_add_printf(b, "# HELP weir_tls_upstream_failures_total TLS handshakes or verifications "
	                       "with backend servers that failed.\n"
	                       "# TYPE weir_tls_upstream_failures_total counter\n"
	                       "weir_tls_upstream_failures_total %llu\n",
	                    (unsigned long long)atomic_load(&rt->tls_upstream_failures));
	evbuffer_add_printf(b, "# HELP weir_server_up 1 when the server may be sent requests (up, or not "
	                       "checked yet), 0 when it is down (health check or connection back-off).\n"
	                       "# TYPE weir_server_up gauge\n");
	uint64_t now_ms = clock_now_ms();
	for (int p = 0; p < POOL_COUNT; p++) {
		for (size_t s = 0; s < rt->cfg->pools[p].nservers; s++) {
			struct server_row row;
			server_row(rt, (enum pool_id)p, s, now_ms, &row);
			evbuffer_add_printf(b, "weir_server_up{pool=\"%s\",server=\"%s\"} %d\n", pool_names[p],
			                    row.address, strcmp(row.state, "down") != 0);
		}
	}
	canary_metrics(rt->canary, b);
}

/* The admin listener's answers (httpd.h: GET and HEAD only, no body). */
static int admin_handle(void *arg, const char *path, struct evbuffer *b, const char **type)
{
	struct admin *a = arg;

	if (strcmp(path, "/healthz") == 0) {
		evbuffer_add_printf(b, "ok\n");
	} else if (strcmp(path, "/stats.json") == 0) {
		stats_json(a->rt, a->snap, b);
		evbuffer_add(b, "\n", 1);
		*type = "application/json";
	} else if (strcmp(path, "/report.json") == 0) {
		canary_report_json(a->rt->canary, b);
		evbuffer_add(b, "\n", 1);
		*type = "application/json";
	} else if (strcmp(path, "/metrics") == 0) {
		metrics_text(a->rt, a->snap, b);
		*type = "text/plain; version=0.0.4";
	} else if (strcmp(path, "/") == 0) {
		evbuffer_add(b, admin_page_html, admin_page_html_len);
		*type = "text/html; charset=utf-8";
	} else {
		evbuffer_add_printf(b, "not found\n");
		return 404;
	}
	return 200;
}

struct admin *admin_new(struct runtime *rt, char *err, size_t errlen)
{
	struct admin *a = calloc(1, sizeof(*a));
	const struct cfg_addr *addr = &rt->cfg->admin_http;

	if (!a)
		goto fail;
	a->rt = rt;
	a->snap = stats_snapshot_new();
	if (!a->snap)
		goto fail;
	evutil_socket_t fd = net_listen(addr, false, ADMIN_BACKLOG, "admin.http", err, errlen);
	if (fd < 0) {
		admin_free(a);
		return NULL;
	}
	a->http = httpd_new(rt->base, fd, &admin_limits, admin_handle, a, err, errlen);
	if (!a->http) {
		admin_free(a);
		return NULL;
	}
	return a;
fail:
	snprintf(err, errlen, "out of memory");
	admin_free(a);
	return NULL;
}

void admin_free(struct admin *a)
{
	if (!a)
		return;
	httpd_free(a->http);
	stats_snapshot_free(a->snap);
	free(a);
}
