/* admin: the read-only HTTP listener (admin.http): status page, /stats.json,
 * /metrics, /healthz, /report.json. Runs on the main thread's event base. */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include <stddef.h>

#include "weir/proxy-t.h"

struct admin;

/* Start listening on cfg->admin_http. Returns NULL with a message in ERR.
 * Release with admin_free. */
struct admin *admin_new(struct runtime *rt, char *err, size_t errlen);
void admin_free(struct admin *a);

/* The /stats.json document, as a malloc'd NUL-terminated string (one line).
 * Release with free(). Used by the admin listener and "show stats". */
char *admin_stats_json(struct runtime *rt);

struct evbuffer;

/* "show servers": one line per server of the current configuration,
 * "POOL ADDRESS STATE ACTIVE CHECK_STATUS CHECK_MS CHECK_AGE_S REASON", with
 * "-" for what is not known (see README, "Health checks"). Main thread. */
void admin_servers_text(struct runtime *rt, struct evbuffer *out);

#endif
