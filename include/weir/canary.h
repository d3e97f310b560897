/* canary: owns the guard driver on the main thread: the guard and the
 * rollout, the tick that judges the canary once per guard.interval (or at
 * every fold under "sequential") and acts on the verdict, the health-check
 * reaction, the operator's commands (set weight, rollback, promote, pause,
 * resume) and the per-step report. The weight itself and its persistence
 * belong to weights.c; this module decides what changes and when. */
#ifndef WEIR_CANARY_H
#define WEIR_CANARY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "weir/config-t.h"
#include "weir/control.h"

struct canary;
struct guard;
struct health;
struct rollout;
struct rollout_history;
struct stats;
struct stats_snapshot;
struct weights;

/* Set up guard and rollout from CFG and from what WEIGHTS loaded from the
 * state file, persist and publish the first state (weights_start) and start
 * the guard timer on BASE. WEIGHTS, STATS and HEALTH are the runtime's and
 * outlive the canary. Returns NULL with a message in ERR. Release with
 * canary_free. */
struct canary *canary_new(struct event_base *base, const struct weir_config *cfg, struct weights *weights,
                          struct stats *stats, struct health *health, char *err, size_t errlen);
void canary_free(struct canary *c);

/* The operator's changes ("set weight", "rollback", "promote", "pause",
 * "resume"). Each persists first (state file, then the event log line) and
 * publishes after; it returns 0, or -1 with a one-line reason in ERR and
 * nothing changed. Main thread. */
int canary_set_weight(struct canary *c, enum pool_id pool, uint32_t weight, char *err, size_t errlen);
int canary_rollback(struct canary *c, const char *reason, char *err, size_t errlen);
int canary_promote(struct canary *c, char *err, size_t errlen);
int canary_pause(struct canary *c, char *err, size_t errlen);
int canary_resume(struct canary *c, char *err, size_t errlen);

/* Register the commands above with the control socket's REG (C outlives
 * the socket). Returns 0 or -1 (control_register). */
int canary_register_commands(struct canary *c, struct control_registry *reg);

/* Take a reloaded configuration: guard settings and thresholds, rollout steps.
 * The weights are not touched (the persisted ones stay). */
void canary_reconfigure(struct canary *c, const struct weir_config *cfg);

/* The health checks changed a server's state: a canary pool with no server
 * up is rolled back now (guard reason "pool canary has no server up: ...");
 * a pool without a server up is otherwise logged and recorded as an alert.
 * The guard's tick makes the same check. */
void canary_health_changed(struct canary *c);

/* Read-only views for the status documents (main thread). Pointers stay
 * valid until the next change of the run. */
const struct guard *canary_guard(const struct canary *c);
/* NULL without a rollout. */
const struct rollout *canary_rollout(const struct canary *c);
/* Monotonic MONO_MS as wall-clock text; CTX is the canary (a rollout_wall_fn). */
void canary_wall_format(uint64_t mono_ms, char *buf, size_t len, void *ctx);
/* The report's history, its current step's numbers brought up to SNAP. */
const struct rollout_history *canary_report_refresh(struct canary *c, const struct stats_snapshot *snap);

#endif
