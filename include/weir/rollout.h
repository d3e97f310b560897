/* rollout: the staged progression of the canary weight (rollout.steps), and
 * the history of weight steps that /report.json shows.
 *
 * Pure logic like the guard: no sockets, no files, no clock of its own; the
 * runtime calls it on the main thread right after guard_tick(). Not
 * thread-safe: one owner.
 *
 * Steps and health:
 *   - The rollout stands at one step: the highest step whose weight is at or
 *     below the current canary weight ("below the first step" when the weight
 *     is lower than step 1). Steps are numbered from 1 for people: weight
 *     steps [1, 10, 25, 50, 100] at weight 1 % is step 1; 0 means below the
 *     first step.
 *   - Healthy means: the guard judged the canary at this tick (enough
 *     requests) and stayed WATCHING. (The runtime passes JUDGED only when
 *     every health-checked canary server is up as well: health.h.) Any other tick (breaching, not judged,
 *     paused, idle, rolled back) ends the healthy stretch; the next healthy
 *     tick starts a new one. Hold is therefore "continuous judged health".
 *   - auto: once a stretch has lasted the step's hold, the tick returns the
 *     next step's weight (hold 0: the first healthy judgement advances).
 *     Without auto only rollout_promote advances. promote advances at once,
 *     whatever the health or the hold.
 *   - At the last step there is nothing to advance to (at 100 % the guard is
 *     PROMOTED). After a rollback the rollout is stopped: no advance, auto or
 *     promote, until rollout_rearm (an operator's "set weight").
 *   - Pause stops the auto-advance (and ends the healthy stretch). */
#ifndef WEIR_ROLLOUT_H
#define WEIR_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"
#include "weir/guard.h"
#include "weir/textbuf.h"

struct rollout {
	struct cfg_rollout_step *steps;   /* own copy of the configured steps */
	size_t nsteps;
	uint64_t hold_ms;                 /* rollout.hold: the way up from below step 1 */
	bool auto_advance;
	bool paused;
	bool stopped;                     /* rolled back; until rollout_rearm */
	int cur;                          /* index into steps; -1 below the first */
	uint64_t step_start_ms;           /* when cur was entered */
	bool healthy;                     /* a healthy stretch is running ... */
	uint64_t healthy_since_ms;        /* ... since this tick */
	bool awaiting_evidence;           /* the hold is over, but the evidence does
	                                   * not yet show the canary within its
	                                   * thresholds (rollout_tick's WITHIN) */
};

/* Set R up from CFG (which must be present with nsteps > 0) at the current
 * CANARY_WEIGHT. Copies the steps: CFG may be freed afterwards. Returns 0, or
 * -1 with ERR when out of memory or CFG has no steps (nothing to release
 * then). Release with rollout_dispose. After a restart in state rolled_back, follow with
 * rollout_rolled_back; in state paused, with rollout_pause. */
int rollout_init(struct rollout *r, const struct cfg_rollout *cfg, uint32_t canary_weight,
                 uint64_t now_ms, char *err, size_t errlen);
void rollout_dispose(struct rollout *r);

/* Take a reloaded CFG (steps, holds, thresholds, auto). The step is found
 * again from CANARY_WEIGHT; a healthy stretch survives when the step did not
 * move; stopped and paused are kept. Returns 0, or -1 with ERR (R unchanged).
 * Follow with guard_set_thresholds(g, rollout_thresholds(r)). */
int rollout_reconfigure(struct rollout *r, const struct cfg_rollout *cfg, uint32_t canary_weight,
                        uint64_t now_ms, char *err, size_t errlen);

/* Once per guard interval, after guard_tick: GUARD_STATE is the guard's state
 * after the tick and JUDGED the verdict's judged. WITHIN is whether the
 * evidence shows the canary within the step's thresholds (guard_within;
 * always true under method "window", whose min_requests gate is its proof):
 * a step whose hold is over waits for it, with awaiting_evidence set.
 * Returns true when the
 * canary must move to *WEIGHT now (R already stands at the new step): swap
 * the weights, guard_set_thresholds(g, rollout_thresholds(r)),
 * guard_rearm(g, *weight, now), rollout_history_change(..., ADVANCED ...),
 * log an event with actor "rollout". A guard state ROLLED_BACK stops R. */
bool rollout_tick(struct rollout *r, enum guard_state guard_state, bool judged, bool within,
                  uint64_t now_ms, uint32_t *weight);

/* "promote": move to the next step now. Returns 0 with *WEIGHT (then do as
 * for an advance, with outcome PROMOTED and actor "control"), or -1 with ERR
 * when stopped after a rollback or already at the last step. */
int rollout_promote(struct rollout *r, uint64_t now_ms, uint32_t *weight, char *err, size_t errlen);

/* "set weight": re-arm at CANARY_WEIGHT: not stopped any more, the step is
 * the highest at or below the weight, the hold starts over. Pause is kept. */
void rollout_rearm(struct rollout *r, uint32_t canary_weight, uint64_t now_ms);

/* A rollback (by the guard or the operator): stop until rollout_rearm. */
void rollout_rolled_back(struct rollout *r);

/* "pause" / "resume": no auto-advance while paused (promote still works);
 * the hold starts over after resume. */
void rollout_pause(struct rollout *r);
void rollout_resume(struct rollout *r);

/* The thresholds of the current step (step 1's below the first step). Owned
 * by R; valid until rollout_reconfigure or rollout_dispose. */
const struct cfg_thresholds *rollout_thresholds(const struct rollout *r);

/* The current step, 1-based; 0 below the first step. */
size_t rollout_step_number(const struct rollout *r);

/* True at the last step: nothing left to advance to. */
bool rollout_at_last_step(const struct rollout *r);

/* When the next auto-advance is due if health holds: true with *AT_MS while
 * a healthy stretch runs, auto is on, R is neither paused nor stopped nor at
 * its last step; false otherwise ("next_at": null). */
bool rollout_next_at(const struct rollout *r, uint64_t *at_ms);

/* /stats.json's "rollout" object appended to O (textbuf.h); its size grows
 * with the number of steps, so the runtime passes a growing textbuf:
 * {"step":1,"steps":[1,10,25,50,100],"next_at":"<NEXT_AT_WALL>"|null,
 *  "auto":true,"paused":false,"stopped":false}
 * NEXT_AT_WALL is rollout_next_at's time as wall-clock text from the caller
 * (NULL: null). Returns 0, or -1 when O was or became truncated. */
int rollout_format_json(const struct rollout *r, const char *next_at_wall, struct textbuf *o);

/* ---- the history of weight steps (/report.json) -------------------------
 *
 * Independent of struct rollout: every weight change starts a step, with or
 * without a configured rollout (set weight, rollback, promote, a rollout
 * advance, a reload that changed the weight). */

#define ROLLOUT_HISTORY_MAX 64            /* the oldest steps are dropped */

/* How a step ended. */
enum rollout_outcome {
	ROLLOUT_OUTCOME_CURRENT,          /* it has not ended */
	ROLLOUT_OUTCOME_ADVANCED,         /* the weight went up: rollout hold, or set weight */
	ROLLOUT_OUTCOME_ROLLED_BACK,      /* the weight went down: rollback, or set weight */
	ROLLOUT_OUTCOME_PROMOTED          /* the operator's "promote" */
};

/* "current", "advanced", "rolled_back", "promoted". Static storage. */
const char *rollout_outcome_name(enum rollout_outcome o);

/* The outcome for an operator's "set weight" from BEFORE to AFTER:
 * ADVANCED when it went up, ROLLED_BACK otherwise. */
enum rollout_outcome rollout_outcome_for_weights(uint32_t before, uint32_t after);

/* One pool over one step; the runtime fills it from its per-step stats. */
struct rollout_pool_numbers {
	uint64_t requests;
	uint64_t errors;
	double error_rate;
	double p50_ms;
	double p99_ms;
	double p999_ms;
	uint64_t abandoned;               /* client left first (in requests when judged) */
	uint64_t overridden;              /* routed by override_header, not in the rest */
};

struct rollout_record {
	uint64_t seq;                     /* 1 for the first step since start */
	uint32_t weight;                  /* canary weight, hundredths of a percent */
	uint64_t start_ms;
	uint64_t end_ms;                  /* 0 while CURRENT */
	enum rollout_outcome outcome;
	char actor[16];                   /* who ended it: "guard", "control", ... */
	char reason[GUARD_REASON_MAX];    /* why it ended; "" when none was given */
	bool has_numbers;                 /* set by the runtime with pools */
	struct rollout_pool_numbers pools[POOL_COUNT];
};

struct rollout_history {
	struct rollout_record rec[ROLLOUT_HISTORY_MAX];   /* a ring */
	size_t first;
	size_t count;
	uint64_t dropped;                 /* steps that fell off the ring */
	uint64_t next_seq;
};

/* Start the history with a current step at CANARY_WEIGHT. Plain data: no
 * release needed. */
void rollout_history_init(struct rollout_history *h, uint32_t canary_weight, uint64_t now_ms);

/* The weight changed to NEW_WEIGHT: end the current step with OUTCOME
 * (CURRENT: derived from the weights, rollout_outcome_for_weights), ACTOR
 * and REASON (each may be NULL) and start a new current
 * one. Returns the step that ended, for the runtime to fill its pools (and
 * set has_numbers) from the per-step stats before it restarts them; valid
 * until the next change. */
struct rollout_record *rollout_history_change(struct rollout_history *h, uint32_t new_weight,
                                              enum rollout_outcome outcome, const char *actor,
                                              const char *reason, uint64_t now_ms);

size_t rollout_history_count(const struct rollout_history *h);
/* The I-th step kept, 0 the oldest; NULL when I >= count. */
const struct rollout_record *rollout_history_get(const struct rollout_history *h, size_t i);
/* The current step (to fill its numbers before a report). */
struct rollout_record *rollout_history_current(struct rollout_history *h);

/* Turns monotonic milliseconds into wall-clock text for the JSON. */
typedef void (*rollout_wall_fn)(uint64_t ms, char *buf, size_t len, void *ctx);

/* The /report.json document appended to O:
 * {"steps":[{"step":1,"weight":1,"start":"...","end":null,"duration_seconds":12.5,
 *   "outcome":"current","actor":null,"reason":null,
 *   "pools":{"baseline":{"requests":..,"errors":..,"error_rate":..,"p50_ms":..,
 *   "p99_ms":..,"p999_ms":..,"abandoned":..,"overridden":..},"canary":{...}}|null}, ...],
 *  "dropped":0}
 * The current step's duration runs to NOW_MS. Returns 0, or -1 when it did
 * not fit; a buffer of ROLLOUT_HISTORY_JSON_MAX always holds it (a typical
 * history needs a small fraction of that). */
#define ROLLOUT_HISTORY_JSON_MAX (128 * 1024)
int rollout_history_format_json(const struct rollout_history *h, uint64_t now_ms,
                                rollout_wall_fn wall, void *ctx, struct textbuf *o);

#endif
