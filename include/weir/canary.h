/* canary: the canary run, owned by the main thread. It holds the authoritative
 * weight (published to the workers as one atomic word), drives the guard and
 * the rollout once per guard.interval, persists every decision (state file,
 * event log) and keeps the per-step report. The control socket and the admin
 * listener act and read only through it. */
#ifndef WEIR_CANARY_H
#define WEIR_CANARY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "weir/control.h"
#include "weir/proxy-t.h"

struct canary;

/* Load the state file (it wins over split.canary_weight), open the event log,
 * set up guard and rollout, publish the weight and start the guard timer on
 * rt->base. Returns NULL with a message in ERR (a corrupt state file says what
 * to do). Release with canary_free. */
struct canary *canary_new(struct runtime *rt, char *err, size_t errlen);
void canary_free(struct canary *c);

/* The control socket's operations, bound to C. */
void canary_control_ops(struct canary *c, struct control_ops *ops);

/* Take a reloaded configuration: guard settings and thresholds, rollout steps.
 * The weights are not touched (the persisted ones stay). */
void canary_reconfigure(struct canary *c, const struct weir_config *cfg);

/* The health checks changed a server's state: a canary pool with no server
 * up is rolled back now (guard reason "pool canary has no server up: ...");
 * a pool without a server up is otherwise logged and recorded as an alert.
 * The guard's tick makes the same check. */
void canary_health_changed(struct canary *c);

/* /stats.json members after "pools": "guard":{...},"rollout":...,"events":[...] */
void canary_stats_json(struct canary *c, struct evbuffer *out);
/* The /report.json document. */
void canary_report_json(struct canary *c, struct evbuffer *out);
/* Prometheus lines for weir_guard_state and weir_weight_changes_total. */
void canary_metrics(struct canary *c, struct evbuffer *out);

#endif
