/* admin: the read-only HTTP listener on admin.http (evhttp: low volume). */
#include "config.h"

#include "weir/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "weir/httpd.h"
#include "weir/net.h"
#include "weir/page.h"
#include "weir/status.h"

struct admin {
	struct status *status;
	struct httpd *http;
};

#define ADMIN_BACKLOG 128

/* What one client may cost (README, "Admin listener"): it can never take
 * more than a few dozen descriptors from the proxy, nor memory for a body. */
static const struct httpd_limits admin_limits = {
	.max_clients = 64,
	.max_head_bytes = 8192,
	.timeout_seconds = 10,
};

/* A status document from one snapshot; a 503 when there is no memory for it. */
static int admin_document(struct admin *a, const char *path, struct evbuffer *b)
{
	const struct status_snapshot *snap = status_take(a->status);

	if (!snap) {
		evbuffer_add_printf(b, "out of memory\n");
		return 503;
	}
	if (strcmp(path, "/stats.json") == 0) {
		status_stats_json(a->status, snap, b);
		evbuffer_add(b, "\n", 1);
	} else if (strcmp(path, "/report.json") == 0) {
		status_report_json(a->status, snap, b);
		evbuffer_add(b, "\n", 1);
	} else {
		status_metrics(a->status, snap, b);
	}
	return 200;
}

/* The admin listener's answers (httpd.h: GET and HEAD only, no body). */
static int admin_handle(void *arg, const char *path, struct evbuffer *b, const char **type)
{
	struct admin *a = arg;

	if (strcmp(path, "/healthz") == 0) {
		evbuffer_add_printf(b, "ok\n");
	} else if (strcmp(path, "/stats.json") == 0 || strcmp(path, "/report.json") == 0) {
		*type = "application/json";
		return admin_document(a, path, b);
	} else if (strcmp(path, "/metrics") == 0) {
		*type = "text/plain; version=0.0.4";
		return admin_document(a, path, b);
	} else if (strcmp(path, "/") == 0) {
		evbuffer_add(b, admin_page_html, admin_page_html_len);
		*type = "text/html; charset=utf-8";
	} else {
		evbuffer_add_printf(b, "not found\n");
		return 404;
	}
	return 200;
}

struct admin *admin_new(struct event_base *base, const struct cfg_addr *addr, struct status *status,
                        char *err, size_t errlen)
{
	struct admin *a = calloc(1, sizeof(*a));

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->status = status;
	evutil_socket_t fd = net_listen(addr, false, ADMIN_BACKLOG, "admin.http", err, errlen);
	if (fd < 0)
		goto fail;
	a->http = httpd_new(base, fd, &admin_limits, admin_handle, a, err, errlen);
	if (!a->http)
		goto fail;
	return a;
fail:
	admin_free(a);
	return NULL;
}

void admin_free(struct admin *a)
{
	if (!a)
		return;
	httpd_free(a->http);
	free(a);
}
