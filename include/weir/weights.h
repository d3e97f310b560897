/* weights: owns the canary weight and its persistence. It keeps the weight
 * the main thread decided, publishes it to the workers as one atomic word,
 * writes the state file (weight, guard state, rollout step) and appends the
 * event log, and keeps the recent events and the per-actor change counts.
 * The order of a change is the product's promise: an operator's change is
 * persisted (state file, then event log) before it is published, so a
 * failure changes nothing; a guard rollback is published first (users come
 * before bookkeeping) and then persisted. It decides nothing: the guard
 * driver (canary.c) says what changes. Main thread, but weights_published. */
#ifndef WEIR_WEIGHTS_H
#define WEIR_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"
#include "weir/state.h"

/* Who changed a weight (the event log's "actor"). */
enum weights_actor {
	WEIGHTS_ACTOR_GUARD,
	WEIGHTS_ACTOR_CONTROL,
	WEIGHTS_ACTOR_ROLLOUT,
	WEIGHTS_ACTOR_CONFIG,
	WEIGHTS_ACTOR_COUNT
};

/* What is persisted with a weight. */
struct weights_record {
	const char *guard_state;     /* guard_state_name() */
	int rollout_step;            /* -1 without a rollout */
	bool fleet_rollback_pending; /* a rollback waits to be written to the fleet */
	int64_t fleet_rollback_base; /* ... decided on this weights revision (0: unknown) */
};

/* One change: the weight after it and what is written about it. */
struct weights_change {
	uint32_t after;
	struct weights_record rec;   /* persisted with AFTER */
	enum weights_actor actor;
	const char *action;          /* the event's action: "set_weight", "rollback" ... */
	const char *reason;          /* NULL or "" for none */
	const char *node;            /* the fleet member that decided; NULL alone */
};

struct weights;

/* Remove temporary files a crashed save left, load the state file (it wins
 * over split.canary_weight) and open the event log, reading its last lines
 * into the recent events. Nothing is published yet (weights_start). Returns
 * NULL with a message in ERR (a corrupt state file says what to do). Release
 * with weights_free. */
struct weights *weights_new(const struct weir_config *cfg, char *err, size_t errlen);
void weights_free(struct weights *w);

/* The state file's contents when weights_new loaded one (true), else false. */
bool weights_loaded(const struct weights *w, struct weir_state *st);

/* Persist the weight with REC and publish it: the first state of the run.
 * Returns 0, or -1 with ERR. */
int weights_start(struct weights *w, const struct weights_record *rec, char *err, size_t errlen);

/* The weight the main thread decided. Main thread. */
uint32_t weights_current(const struct weights *w);
/* The published weight. Any thread: the workers route every request by it. */
uint32_t weights_published(const struct weights *w);

/* An operator's or the rollout's change: the state file with CH's record,
 * the event, then the weight is published. Returns 0, or -1 with ERR and
 * nothing changed: the state file is put back to the weight as it was, with
 * BEFORE (the record that held until now). */
int weights_change_persisted(struct weights *w, const struct weights_change *ch,
                             const struct weights_record *before, char *err, size_t errlen);

/* A change that must happen whatever the disk says (a guard rollback): the
 * weight is published first, then persisted; failures are logged. */
void weights_change_now(struct weights *w, const struct weights_change *ch);

/* Persist REC with the current weight (a guard transition, pause, resume).
 * Returns 0, or -1 with ERR. */
int weights_save(struct weights *w, const struct weights_record *rec, char *err, size_t errlen);

/* Append an event that does not change the weight (before = after = the
 * current weight). Returns 0, or -1 with ERR. */
int weights_note(struct weights *w, enum weights_actor actor, const char *action, const char *reason,
                 char *err, size_t errlen);
/* The same, naming the fleet member NODE (NULL: none) in the event. */
int weights_note_node(struct weights *w, enum weights_actor actor, const char *action, const char *reason,
                      const char *node, char *err, size_t errlen);

/* Read-only views for the status documents. */
const char *weights_actor_name(enum weights_actor a);
/* The actor named NAME, or -1. */
int weights_actor_parse(const char *name);
uint64_t weights_changes(const struct weights *w, enum weights_actor a);
/* The recent events (at most 20), oldest first, as event log lines. */
size_t weights_recent_count(const struct weights *w);
const char *weights_recent(const struct weights *w, size_t i);
/* The event log's path ("" without one). */
const char *weights_event_log_path(const struct weights *w);

#endif
