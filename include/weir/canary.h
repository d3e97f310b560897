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
#include "weir/weights.h"

struct canary;
struct guard;
struct health;
struct rollout;
struct rollout_history;
struct stats;
struct stats_snapshot;
struct stats_view;
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
/* In a fleet, "set weight", "rollback" and "promote" are the fleet's
 * (fleet.c): only "pause" and "resume", which act on this member. */
int canary_register_local_commands(struct canary *c, struct control_registry *reg);

/* ---- the fleet (fleet.c) ----------------------------------------------------
 * In a fleet the weights are decided in etcd: the guard's and the
 * rollout's decisions go to the fleet instead of being applied here (a
 * rollback is applied here at once too), and every member applies what the
 * fleet committed with canary_apply_fleet. */

/* A change of the fleet's weights, as every member applies it. */
struct canary_fleet_change {
	uint32_t after;              /* the canary weight */
	bool rollback;               /* a rollback; else a re-arm at AFTER (set weight, promote, advance) */
	enum weights_actor actor;
	const char *action;          /* "set_weight", "rollback", "promote", "advance" */
	const char *reason;          /* NULL for none */
	const char *node;            /* the member that decided */
};

struct canary_fleet_hooks {
	/* The guard (or the health checks) or the rollout decided CH. A
	 * rollback has been applied here already; anything else has not. */
	void (*decided)(void *ctx, const struct canary_fleet_change *ch);
	/* False: this member does not judge (another one leads). NULL: it does. */
	bool (*may_judge)(void *ctx);
	/* The fleet's merged measurements, for the member that judges: the
	 * window (RUN false) or the run (RUN true) of every pool into OUT[0 ..
	 * POOL_COUNT) (views from stats_run_view_init). Returns -1 when this member judges
	 * its own measurements, 0 when OUT already holds generation *GEN, 1
	 * when OUT and *GEN were updated. */
	int (*merged)(void *ctx, bool run, struct stats_view *out, uint64_t *gen);
};

/* Hand the guard's and the rollout's decisions to HOOKS (static) with CTX
 * from now on; NODE (outlives C) names this member in its own events. */
void canary_set_fleet(struct canary *c, const struct canary_fleet_hooks *hooks, void *ctx, const char *node);

/* What this member's guard would judge now, for the fleet to publish: per
 * pool the window (from the last re-arm on), the run and the since-start
 * total, into arrays of POOL_COUNT views from stats_run_view_init. Main
 * thread. */
void canary_take_views(struct canary *c, struct stats_view *window, struct stats_view *run, struct stats_view *total);

/* Apply CH here: the weight (published first, then persisted, with the
 * deciding node in the event), the guard and the rollout as the command
 * would have left them. A rollback when this member already stands rolled
 * back at 0 changes nothing and logs no second event. Main thread. */
void canary_apply_fleet(struct canary *c, const struct canary_fleet_change *ch);

/* The fleet has (PENDING true) or no longer has a rollback of this member
 * to write to etcd, decided on the fleet's weights revision BASE (the one
 * applied here then; 0 unknown): persisted with the weights, so that a
 * restart before etcd is back still writes it, and still knows what it was
 * based on. Returns 0 or -1 with ERR. */
int canary_set_fleet_pending(struct canary *c, bool pending, int64_t base, char *err, size_t errlen);
/* The state file said a rollback was waiting for the fleet; *BASE is the
 * revision it was decided on (0: unknown, as in a file of an older weir). */
bool canary_fleet_pending(const struct canary *c, int64_t *base);
/* An event of this member that changes no weight (ACTION, REASON), naming
 * it as the deciding node; a failure to write it is logged. Main thread. */
void canary_note_fleet(struct canary *c, enum weights_actor actor, const char *action, const char *reason);

/* The canary weight this member decided (WEIGHT_SCALE units). */
uint32_t canary_weight(const struct canary *c);
/* The guard stands rolled back. */
bool canary_rolled_back(const struct canary *c);

/* The weight "promote" would move to from here, nothing changed. Returns 0
 * with *TARGET, or -1 with ERR (stopped after a rollback, at the last step). */
int canary_plan_promote(const struct canary *c, uint32_t *target, char *err, size_t errlen);

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
