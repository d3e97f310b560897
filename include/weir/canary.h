/* canary: owns the canary run on the main thread: the authoritative weight
 * (published to the workers as one atomic word), the guard and the rollout it
 * drives once per guard.interval, the persisted decisions (state file, event
 * log), the recent events and the per-step report. Others change the run only
 * through the canary_* operations below and read it through the accessors. */
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

/* Who changed a weight (the event log's "actor"). */
enum canary_actor {
	CANARY_ACTOR_GUARD,
	CANARY_ACTOR_CONTROL,
	CANARY_ACTOR_ROLLOUT,
	CANARY_ACTOR_CONFIG,
	CANARY_ACTOR_COUNT
};

/* Load the state file (it wins over split.canary_weight), open the event log,
 * set up guard and rollout, publish the weight and start the guard timer on
 * BASE. STATS and HEALTH are the runtime's and outlive the canary. Returns
 * NULL with a message in ERR (a corrupt state file says what to do). Release
 * with canary_free. */
struct canary *canary_new(struct event_base *base, const struct weir_config *cfg, struct stats *stats,
                          struct health *health, char *err, size_t errlen);
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

/* The published canary weight (WEIGHT_SCALE units). Any thread: the workers
 * route every request by it. */
uint32_t canary_weight(const struct canary *c);

/* Read-only views for the status documents (main thread). Pointers stay
 * valid until the next change of the run. */
const struct guard *canary_guard(const struct canary *c);
/* NULL without a rollout. */
const struct rollout *canary_rollout(const struct canary *c);
/* Monotonic MONO_MS as wall-clock text; CTX is the canary (a rollout_wall_fn). */
void canary_wall_format(uint64_t mono_ms, char *buf, size_t len, void *ctx);
/* The recent events (at most 20), oldest first, as event log lines. */
size_t canary_recent_count(const struct canary *c);
const char *canary_recent(const struct canary *c, size_t i);
/* The event log's path ("" without one). */
const char *canary_event_log_path(const struct canary *c);
const char *canary_actor_name(enum canary_actor a);
uint64_t canary_weight_changes(const struct canary *c, enum canary_actor a);
/* The report's history, its current step's numbers brought up to SNAP. */
const struct rollout_history *canary_report_refresh(struct canary *c, const struct stats_snapshot *snap);

#endif
