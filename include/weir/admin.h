/* admin: owns the read-only HTTP listener (admin.http): the status page,
 * /stats.json, /metrics, /healthz, /report.json. The documents come from the
 * status module; this one only serves them. Runs on the main thread's event
 * base. */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include <stddef.h>

#include <event2/event.h>

#include "weir/config-t.h"

struct admin;
struct status;

/* Listen on ADDR and answer from STATUS (which outlives the listener).
 * Returns NULL with a message in ERR. Release with admin_free. */
struct admin *admin_new(struct event_base *base, const struct cfg_addr *addr, struct status *status,
                        char *err, size_t errlen);
void admin_free(struct admin *a);

#endif
