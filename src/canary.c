/* canary: the guard driver (see canary.h): the tick that judges the canary
 * and acts, the rollout it drives, the operator's commands and the report.
 * Every weight change goes through weights.c, which persists and publishes
 * in the promised order: an operator's change is persisted first (a failure
 * changes nothing and answers ERR), a guard rollback is published first. */
#include "config.h"

#include "weir/canary.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "weir/clock.h"
#include "weir/guard.h"
#include "weir/health.h"
#include "weir/log.h"
#include "weir/rollout.h"
#include "weir/state.h"
#include "weir/stats.h"
#include "weir/weights.h"

/* Messages of state.c name the state file or event log path (at most twice,
 * with strerror and a few words), so this holds any of them whole. */
#define ERR_TEXT_MAX (2 * PATH_MAX + 256)

struct canary {
	const struct weir_config *cfg;
	struct stats *stats;             /* the measurements (the runtime's) */
	struct health *health;           /* the health checks (the runtime's) */
	struct weights *weights;         /* the weight and its persistence (the runtime's) */
	struct guard guard;
	struct rollout rollout;
	bool has_rollout;
	struct rollout_history history;
	struct event *tick;
	uint64_t window_since_ms;        /* the guard judges data from here on */
	struct stats_snapshot *snap;
	/* method "sequential": the run views; copies of them at the start of the
	 * current [0] and previous [1] segment; the slots of each stream */
	struct stats_view run[POOL_COUNT];
	struct stats_view seg_base[2][POOL_COUNT];
	uint64_t seg_start_ms[2];
	uint64_t seg_index;              /* the current segment's number; 0: none yet */
	uint64_t run_start_ms;
	uint64_t run_gen;                /* of the run views in c->run (stats_take_run) */
	int64_t *slot_lo[GUARD_STREAMS][POOL_COUNT], *slot_hi[GUARD_STREAMS][POOL_COUNT];
	uint64_t *slot_count[GUARD_STREAMS][POOL_COUNT];
	size_t slot_cap;
	int64_t wall_offset_ms;          /* wall clock = monotonic + offset */
	bool pool_down[POOL_COUNT];      /* health checks: no server up, as last reported */
	const struct canary_fleet_hooks *fleet;   /* NULL: weir alone */
	void *fleet_ctx;
	const char *node;                /* this member, in its own events */
	struct stats_view merged_window[POOL_COUNT];   /* the fleet's, when it judges them */
	uint64_t merged_gen;             /* of the merged run views in c->run */
	bool run_merged;                 /* c->run holds the fleet's run, not this member's */
	bool fleet_pending;              /* a rollback waits to be written to the fleet */
	int64_t fleet_pending_base;      /* ... decided on this weights revision (0: unknown) */
};

/* ---- persistence ------------------------------------------------------------------ */

/* What is persisted with the weight while the guard is G. */
static struct weights_record record_of(const struct canary *c, const struct guard *g)
{
	return (struct weights_record){ .guard_state = guard_state_name(g->state),
	                                .rollout_step = c->has_rollout ? (int)c->rollout.cur : -1,
	                                .fleet_rollback_pending = c->fleet_pending,
	                                .fleet_rollback_base = c->fleet_pending ? c->fleet_pending_base : 0 };
}

static int save_state(struct canary *c, const struct guard *g, char *err, size_t errlen)
{
	struct weights_record rec = record_of(c, g);
	return weights_save(c->weights, &rec, err, errlen);
}

static uint32_t current_weight(const struct canary *c)
{
	return weights_current(c->weights);
}

/* ---- weight changes ------------------------------------------------------------------ */

/* Put the step views of SNAP into the report's current step. */
static void fill_step_numbers_from(struct canary *c, const struct stats_snapshot *snap)
{
	struct rollout_record *cur = rollout_history_current(&c->history);
	if (!cur)
		return;
	cur->has_numbers = true;
	for (int p = 0; p < POOL_COUNT; p++) {
		const struct stats_view *v = &snap->pools[p].step;
		cur->pools[p].requests = v->requests;
		cur->pools[p].errors = v->errors;
		cur->pools[p].abandoned = v->abandoned;
		cur->pools[p].overridden = v->overridden;
		cur->pools[p].error_rate = stats_view_error_rate(v);
		cur->pools[p].p50_ms = stats_view_percentile_ms(v, 50.0);
		cur->pools[p].p99_ms = stats_view_percentile_ms(v, 99.0);
		cur->pools[p].p999_ms = stats_view_percentile_ms(v, 99.9);
	}
}

/* Put the step views' numbers, as they are now, into the report's current step. */
static void fill_step_numbers(struct canary *c, uint64_t now_ms)
{
	if (!rollout_history_current(&c->history))
		return;
	stats_snapshot_take(c->stats, now_ms, c->snap);
	fill_step_numbers_from(c, c->snap);
}

/* Close the current report step with its numbers and open one at AFTER. */
static void report_step(struct canary *c, uint32_t after, enum rollout_outcome outcome,
                        enum weights_actor actor, const char *reason, uint64_t now_ms)
{
	fill_step_numbers(c, now_ms);
	rollout_history_change(&c->history, after, outcome, weights_actor_name(actor), reason, now_ms);
	stats_reset_step(c->stats);
}

/* An operator's (or the rollout's) change: persist first, then publish.
 * GUARD_AFTER is the guard as it will be after the change (already computed
 * on a copy). Returns 0, or -1 with ERR and nothing changed. */
static int change_weight_persisted(struct canary *c, uint32_t after, const struct guard *guard_after,
                                   enum weights_actor actor, const char *action, enum rollout_outcome outcome,
                                   const char *reason, uint64_t now_ms, char *err, size_t errlen)
{
	uint32_t before = current_weight(c);
	struct weights_change ch = { .after = after, .rec = record_of(c, guard_after), .actor = actor,
	                             .action = action, .reason = reason };
	struct weights_record before_rec = record_of(c, &c->guard);

	if (weights_change_persisted(c->weights, &ch, &before_rec, err, errlen) < 0)
		return -1;
	c->guard = *guard_after;
	if (before != after)
		report_step(c, after, outcome, actor, reason, now_ms);
	return 0;
}

/* A new canary run: the window rule judges from NOW_MS on, the sequential
 * tests start from zero evidence. */
static void restart_run(struct canary *c, uint64_t now_ms)
{
	c->window_since_ms = now_ms;
	stats_reset_run(c->stats);
	c->merged_gen = UINT64_MAX;
	c->run_start_ms = now_ms;
	c->seg_index = 0;
}

/* A fresh judgement after a change the guard did not make. */
static void rearm(struct canary *c, uint64_t now_ms)
{
	restart_run(c, now_ms);
	if (c->has_rollout) {
		rollout_rearm(&c->rollout, current_weight(c), now_ms);
		guard_set_thresholds(&c->guard, rollout_thresholds(&c->rollout));
	}
}

/* ---- operator changes ------------------------------------------------------------------ */

int canary_set_weight(struct canary *c, enum pool_id pool, uint32_t weight, char *err, size_t errlen)
{
	uint64_t now = clock_now_ms();
	uint32_t canary = pool == POOL_CANARY ? weight : WEIGHT_SCALE - weight;
	struct guard g = c->guard;

	guard_rearm(&g, canary, now);
	if (change_weight_persisted(c, canary, &g, WEIGHTS_ACTOR_CONTROL, "set_weight",
	                            rollout_outcome_for_weights(current_weight(c), canary), NULL, now, err,
	                            errlen) < 0)
		return -1;
	rearm(c, now);
	return 0;
}

int canary_rollback(struct canary *c, const char *reason, char *err, size_t errlen)
{
	uint64_t now = clock_now_ms();
	struct guard g = c->guard;
	char why[GUARD_REASON_MAX];

	guard_copy_text(why, sizeof(why), reason && reason[0] ? reason : "manual rollback");
	guard_rolled_back(&g, why, now);
	if (change_weight_persisted(c, 0, &g, WEIGHTS_ACTOR_CONTROL, "rollback", ROLLOUT_OUTCOME_ROLLED_BACK, why,
	                            now, err, errlen) < 0)
		return -1;
	if (c->has_rollout)
		rollout_rolled_back(&c->rollout);
	return 0;
}

int canary_promote(struct canary *c, char *err, size_t errlen)
{
	uint64_t now = clock_now_ms();
	uint32_t target = WEIGHT_SCALE;
	struct rollout saved;

	if (c->has_rollout) {
		saved = c->rollout;
		if (rollout_promote(&c->rollout, now, &target, err, errlen) < 0)
			return -1;
	}
	struct guard g = c->guard;
	guard_rearm(&g, target, now);
	if (c->has_rollout)
		guard_set_thresholds(&g, rollout_thresholds(&c->rollout));
	if (change_weight_persisted(c, target, &g, WEIGHTS_ACTOR_CONTROL, "promote", ROLLOUT_OUTCOME_PROMOTED, NULL,
	                            now, err, errlen) < 0) {
		if (c->has_rollout)
			c->rollout = saved;
		return -1;
	}
	restart_run(c, now);
	return 0;
}

static int pause_or_resume(struct canary *c, bool pause, char *err, size_t errlen)
{
	uint64_t now = clock_now_ms();
	struct guard g = c->guard;

	if (pause)
		guard_pause(&g, now);
	else
		guard_resume(&g, current_weight(c), now);
	if (save_state(c, &g, err, errlen) < 0)
		return -1;
	if (weights_note(c->weights, WEIGHTS_ACTOR_CONTROL, pause ? "pause" : "resume", NULL, err, errlen) < 0)
		return -1;
	c->guard = g;
	if (c->has_rollout) {
		if (pause)
			rollout_pause(&c->rollout);
		else
			rollout_resume(&c->rollout);
	}
	if (!pause)
		restart_run(c, now);
	log_info("control %s: guard %s", pause ? "pause" : "resume", guard_state_name(g.state));
	return 0;
}

int canary_pause(struct canary *c, char *err, size_t errlen)
{
	return pause_or_resume(c, true, err, errlen);
}

int canary_resume(struct canary *c, char *err, size_t errlen)
{
	return pause_or_resume(c, false, err, errlen);
}

/* ---- the operator's commands ------------------------------------------------------------ */

static int cmd_set_weight(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                          size_t errlen)
{
	(void)out;
	return canary_set_weight(ctx, a->pool, a->weight, err, errlen);
}

static int cmd_rollback(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                        size_t errlen)
{
	(void)out;
	return canary_rollback(ctx, a->reason, err, errlen);
}

static int cmd_promote(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                       size_t errlen)
{
	(void)a;
	(void)out;
	return canary_promote(ctx, err, errlen);
}

static int cmd_pause(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                     size_t errlen)
{
	(void)a;
	(void)out;
	return canary_pause(ctx, err, errlen);
}

static int cmd_resume(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                      size_t errlen)
{
	(void)a;
	(void)out;
	return canary_resume(ctx, err, errlen);
}

static const struct control_command canary_commands[] = {
	{ { "set", "weight" }, "set weight canary|baseline PERCENT",
	  "set that pool to PERCENT (0 to 100, steps of 0.01), the other to the rest; re-arms the guard",
	  CONTROL_ARGS_POOL_WEIGHT, cmd_set_weight },
	{ { "rollback", NULL }, "rollback [REASON...]",
	  "canary to 0 at once; guard state rolled_back", CONTROL_ARGS_REASON, cmd_rollback },
	{ { "promote", NULL }, "promote",
	  "next rollout step (or canary 100 without a rollout)", CONTROL_ARGS_NONE, cmd_promote },
	{ { "pause", NULL }, "pause",
	  "stop the guard's judgement and the rollout's auto-advance", CONTROL_ARGS_NONE, cmd_pause },
	{ { "resume", NULL }, "resume",
	  "restart the guard's judgement and the rollout's auto-advance", CONTROL_ARGS_NONE, cmd_resume },
};

int canary_register_commands(struct canary *c, struct control_registry *reg)
{
	return control_register(reg, canary_commands, sizeof(canary_commands) / sizeof(canary_commands[0]), c);
}

/* pause and resume: the last two rows. */
int canary_register_local_commands(struct canary *c, struct control_registry *reg)
{
	size_t n = sizeof(canary_commands) / sizeof(canary_commands[0]);
	return control_register(reg, canary_commands + n - 2, 2, c);
}

/* ---- the guard's tick ------------------------------------------------------------------ */

static const char *transition_action(enum guard_state to)
{
	switch (to) {
	case GUARD_BREACHING: return "breach";
	case GUARD_WATCHING: return "recover";
	default: return guard_state_name(to);
	}
}

/* The guard rolled the canary back (its state already is ROLLED_BACK with
 * REASON). Users first: publish, then persist. */
static void apply_guard_rollback(struct canary *c, const char *reason, uint64_t now)
{
	if (c->has_rollout)
		rollout_rolled_back(&c->rollout);
	struct weights_change ch = { .after = 0, .rec = record_of(c, &c->guard), .actor = WEIGHTS_ACTOR_GUARD,
	                             .action = "rollback", .reason = reason, .node = c->node };
	weights_change_now(c->weights, &ch);
	report_step(c, 0, ROLLOUT_OUTCOME_ROLLED_BACK, WEIGHTS_ACTOR_GUARD, reason, now);
	if (c->fleet) {
		struct canary_fleet_change fc = { .after = 0, .rollback = true, .actor = WEIGHTS_ACTOR_GUARD,
		                                  .action = "rollback", .reason = reason };
		c->fleet->decided(c->fleet_ctx, &fc);
	}
}

/* Health checks, apart from the guard's judgement of measurements (so that
 * it holds whatever guard.method judges them): a canary pool whose checks
 * have no server up is rolled back at once through the guard's path; unless
 * the guard is off, paused, only alerting, or there is nothing to roll back,
 * when it is recorded as an alert. A baseline pool with no server up is
 * logged and recorded as an alert, and its traffic stays where it is. */
static bool check_pools(struct canary *c, uint64_t now)
{
	bool rolled_back = false;
	char why[GUARD_REASON_MAX], err[ERR_TEXT_MAX];

	for (int p = 0; p < POOL_COUNT; p++) {
		/* The reason is written only when it is used: this runs every tick. */
		bool down = health_pool_down(c->health, (enum pool_id)p, NULL, 0);
		bool can_roll_back = p == POOL_CANARY && current_weight(c) > 0 && c->cfg->guard.enabled &&
		                     c->cfg->guard.action == GUARD_ACTION_ROLLBACK &&
		                     c->guard.state != GUARD_PAUSED && c->guard.state != GUARD_ROLLED_BACK;
		bool was_down = c->pool_down[p];

		c->pool_down[p] = down;
		if (down && (can_roll_back || !was_down))
			(void)health_pool_down(c->health, (enum pool_id)p, why, sizeof(why));
		if (down && can_roll_back) {
			guard_rolled_back(&c->guard, why, now);
			apply_guard_rollback(c, why, now);
			rolled_back = true;
		} else if (down && !was_down) {
			log_warn("health alert: %s", why);
			if (weights_note(c->weights, WEIGHTS_ACTOR_GUARD, "alert", why, err, sizeof(err)) < 0)
				log_error("%s", err);
		} else if (!down && was_down) {
			log_info("health: pool %s has a server up again", p == POOL_CANARY ? "canary" : "baseline");
		}
	}
	return rolled_back;
}

void canary_health_changed(struct canary *c)
{
	(void)check_pools(c, clock_now_ms());
}

static int take_merged(struct canary *c, bool run);

/* The guard's view of the window histograms (for latency confidence bounds). */
static double window_quantile_ms(void *ctx, enum pool_id pool, double percentile)
{
	const struct canary *c = ctx;
	return stats_view_percentile_ms(&c->snap->pools[pool].window, percentile);
}

/* Method "window": the window's numbers, once per guard.interval. */
static struct guard_verdict judge_window(struct canary *c, uint64_t now)
{
	struct guard_input in;

	stats_snapshot_take_since(c->stats, now, c->window_since_ms, c->snap);
	if (take_merged(c, false) >= 0) /* the leader judges the fleet's window */
		for (int p = 0; p < POOL_COUNT; p++)
			stats_view_copy(&c->snap->pools[p].window, &c->merged_window[p]);
	memset(&in, 0, sizeof(in));
	in.canary_weight = current_weight(c);
	in.quantile_ms = window_quantile_ms;
	in.quantile_ctx = c;
	for (int p = 0; p < POOL_COUNT; p++) {
		const struct stats_view *v = &c->snap->pools[p].window;
		in.pools[p].requests = (double)v->requests;
		in.pools[p].errors = (double)v->errors;
		in.pools[p].p50_ms = stats_view_percentile_ms(v, 50.0);
		in.pools[p].p99_ms = stats_view_percentile_ms(v, 99.0);
		in.pools[p].p999_ms = stats_view_percentile_ms(v, 99.9);
	}
	return guard_tick(&c->guard, &in, now);
}

/* A new segment of the run every minute (seqtest.h: late failures). */
#define SEGMENT_MS 60000u

/* Stream I of the guard: the run's views minus BASE (NULL for the run). */
static void fill_evidence(struct canary *c, size_t i, const struct stats_view *base,
                          struct guard_evidence *ev)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		const struct stats_view *v = &c->run[p], *b = base ? &base[p] : NULL;
		struct seq_pool *sp = &ev->pools[p];
		struct seq_hist *h = &sp->latency;

		sp->requests = b && b->requests <= v->requests ? v->requests - b->requests : b ? 0 : v->requests;
		sp->errors = b && b->errors <= v->errors ? v->errors - b->errors : b ? 0 : v->errors;
		sp->in_flight = v->in_flight; /* now, whatever the stream's start */
		h->nslots = hdr_slots_diff(v->latency_us, b ? b->latency_us : NULL, c->slot_lo[i][p],
		                           c->slot_hi[i][p], c->slot_count[i][p], c->slot_cap);
		h->lo = c->slot_lo[i][p];
		h->hi = c->slot_hi[i][p];
		h->count = c->slot_count[i][p];
		h->total = 0;
		for (size_t k = 0; k < h->nslots; k++)
			h->total += h->count[k];
	}
}

/* Method "sequential": the run since it started and its last two segments,
 * at every fold. */
static struct guard_verdict judge_sequential(struct canary *c, uint64_t now)
{
	struct guard_evidence ev[GUARD_STREAMS];
	size_t n = 0;

	/* Nothing can be judged: spare the copies, let the guard follow the
	 * weight and the flags. */
	if (!c->guard.enabled || current_weight(c) == 0 || current_weight(c) >= WEIGHT_SCALE || c->guard.paused ||
	    c->guard.state == GUARD_ROLLED_BACK) {
		memset(&ev[0], 0, sizeof(ev[0]));
		return guard_judge(&c->guard, ev, 1, current_weight(c), now);
	}
	/* Folds come every 200 ms, ticks every 100: a tick with no new data
	 * has nothing to judge (the run and its segments are as they were). */
	int merged = take_merged(c, true); /* the leader judges the fleet's run */
	bool fresh;
	if (merged >= 0) {
		fresh = merged == 1;
	} else {
		if (c->run_merged) /* leadership lost: this member's own run again */
			c->run_gen = UINT64_MAX;
		c->run_merged = false;
		fresh = stats_take_run(c->stats, c->run, &c->run_gen);
	}
	if (!fresh && c->guard.state == GUARD_WATCHING)
		return (struct guard_verdict){ .kind = GUARD_VERDICT_NONE, .from = c->guard.state,
		                               .to = c->guard.state, .judged = c->guard.last.judged };
	if (now - (c->seg_index ? c->seg_start_ms[0] : c->run_start_ms) >= SEGMENT_MS) {
		for (int p = 0; p < POOL_COUNT; p++) {
			struct stats_view t = c->seg_base[1][p];

			c->seg_base[1][p] = c->seg_base[0][p];
			c->seg_base[0][p] = t;
			stats_view_copy(&c->seg_base[0][p], &c->run[p]);
		}
		c->seg_start_ms[1] = c->seg_start_ms[0];
		c->seg_start_ms[0] = now;
		c->seg_index++;
	}
	ev[n].segment = 0;
	ev[n].span_ms = now - c->run_start_ms;
	fill_evidence(c, n, NULL, &ev[n]);
	n++;
	for (uint64_t k = 0; k < 2 && k < c->seg_index; k++, n++) {
		ev[n].segment = c->seg_index - k;
		ev[n].span_ms = now - c->seg_start_ms[k];
		fill_evidence(c, n, c->seg_base[k], &ev[n]);
	}
	return guard_judge(&c->guard, ev, n, current_weight(c), now);
}

/* After a judgement: advance the rollout when its step has been HEALTHY for
 * its hold and the evidence shows the canary within the step's thresholds;
 * say once per step when only that proof is missing. */
static void drive_rollout(struct canary *c, bool healthy, uint64_t now)
{
	char unproven[GUARD_REASON_MAX], why[128], err[ERR_TEXT_MAX];
	bool within = guard_within(&c->guard, unproven, sizeof(unproven));
	bool was_awaiting = c->rollout.awaiting_evidence;
	uint32_t next;

	if (!rollout_tick(&c->rollout, c->guard.state, healthy, within, now, &next)) {
		if (c->rollout.awaiting_evidence && !was_awaiting)
			log_info("rollout: step %zu has held for its hold; it advances once the evidence shows the "
			         "canary within its thresholds: %s", rollout_step_number(&c->rollout), unproven);
		return;
	}
	snprintf(why, sizeof(why), "step %zu healthy for its hold", rollout_step_number(&c->rollout) - 1);
	if (c->fleet) {
		/* The fleet commits it and every member applies it (this one
		 * too); until then the rollout stands where the weight is. */
		struct canary_fleet_change fc = { .after = next, .actor = WEIGHTS_ACTOR_ROLLOUT, .action = "advance",
		                                  .reason = why };
		rollout_rearm(&c->rollout, current_weight(c), now);
		c->fleet->decided(c->fleet_ctx, &fc);
		return;
	}
	struct guard g = c->guard;
	guard_rearm(&g, next, now);
	guard_set_thresholds(&g, rollout_thresholds(&c->rollout));
	if (change_weight_persisted(c, next, &g, WEIGHTS_ACTOR_ROLLOUT, "advance", ROLLOUT_OUTCOME_ADVANCED, why, now,
	                            err, sizeof(err)) < 0)
		log_error("rollout advance not applied: %s", err);
	else
		restart_run(c, now);
}

static void guard_tick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct canary *c = arg;
	uint64_t now = clock_now_ms();
	char err[ERR_TEXT_MAX];
	(void)fd;
	(void)events;

	if (check_pools(c, now)) /* a weight raised while the canary pool was down */
		return;
	/* In a fleet only the leader judges (on the merged measurements). */
	if (c->fleet && c->fleet->may_judge && !c->fleet->may_judge(c->fleet_ctx))
		return;

	struct guard_verdict v = c->guard.method == GUARD_METHOD_SEQUENTIAL ? judge_sequential(c, now)
	                                                                    : judge_window(c, now);

	if (v.kind == GUARD_VERDICT_ROLLBACK) {
		apply_guard_rollback(c, v.reason, now);
		return;
	}
	if (v.kind == GUARD_VERDICT_ALERT) {
		log_warn("guard alert: %s", v.reason);
		if (weights_note(c->weights, WEIGHTS_ACTOR_GUARD, "alert", v.reason, err, sizeof(err)) < 0)
			log_error("%s", err);
	} else if (v.from != v.to && (v.to == GUARD_BREACHING || v.from == GUARD_BREACHING)) {
		log_info("guard %s%s%s", transition_action(v.to), v.reason ? ": " : "", v.reason ? v.reason : "");
		if (weights_note(c->weights, WEIGHTS_ACTOR_GUARD, transition_action(v.to), v.reason, err,
		                 sizeof(err)) < 0)
			log_error("%s", err);
	}
	if (v.from != v.to && save_state(c, &c->guard, err, sizeof(err)) < 0)
		log_error("%s", err);

	/* A step is healthy only with every checked canary server up. */
	if (c->has_rollout)
		drive_rollout(c, v.judged && health_pool_all_up(c->health, POOL_CANARY), now);
}

/* ---- the fleet ----------------------------------------------------------------------------- */

void canary_set_fleet(struct canary *c, const struct canary_fleet_hooks *hooks, void *ctx, const char *node)
{
	c->fleet = hooks;
	c->fleet_ctx = ctx;
	c->node = node;
}

void canary_take_views(struct canary *c, struct stats_view *window, struct stats_view *run, struct stats_view *total)
{
	uint64_t gen = UINT64_MAX;

	stats_take_window_total(c->stats, clock_now_ms(), c->window_since_ms, window, total);
	(void)stats_take_run(c->stats, run, &gen);
}

/* The fleet's merged measurements when this member judges them: RUN
 * (into c->run) or the window (into c->merged_window). Returns -1 (judge
 * this member's own), 0 (unchanged) or 1 (updated). */
static int take_merged(struct canary *c, bool run)
{
	uint64_t gen = UINT64_MAX;

	if (!c->fleet || !c->fleet->merged)
		return -1;
	if (run) {
		if (!c->run_merged)
			c->merged_gen = UINT64_MAX; /* c->run holds this member's own run */
		int rc = c->fleet->merged(c->fleet_ctx, true, c->run, &c->merged_gen);
		if (rc >= 0)
			c->run_merged = true;
		return rc;
	}
	return c->fleet->merged(c->fleet_ctx, false, c->merged_window, &gen);
}

void canary_apply_fleet(struct canary *c, const struct canary_fleet_change *ch)
{
	uint64_t now = clock_now_ms();
	uint32_t before = current_weight(c);
	enum rollout_outcome outcome;

	if (ch->rollback) {
		if (before == 0 && c->guard.state == GUARD_ROLLED_BACK)
			return; /* applied here already (this member's own rollback) */
		guard_rolled_back(&c->guard, ch->reason && ch->reason[0] ? ch->reason : "rollback", now);
		if (c->has_rollout)
			rollout_rolled_back(&c->rollout);
		outcome = ROLLOUT_OUTCOME_ROLLED_BACK;
	} else {
		guard_rearm(&c->guard, ch->after, now);
		if (c->has_rollout) {
			rollout_rearm(&c->rollout, ch->after, now);
			guard_set_thresholds(&c->guard, rollout_thresholds(&c->rollout));
		}
		outcome = strcmp(ch->action, "promote") == 0   ? ROLLOUT_OUTCOME_PROMOTED
		          : strcmp(ch->action, "advance") == 0 ? ROLLOUT_OUTCOME_ADVANCED
		                                               : rollout_outcome_for_weights(before, ch->after);
		restart_run(c, now);
	}
	struct weights_change wc = { .after = ch->after, .rec = record_of(c, &c->guard), .actor = ch->actor,
	                             .action = ch->action, .reason = ch->reason, .node = ch->node };
	weights_change_now(c->weights, &wc);
	if (before != ch->after)
		report_step(c, ch->after, outcome, ch->actor, ch->reason, now);
}

uint32_t canary_weight(const struct canary *c)
{
	return current_weight(c);
}

int canary_set_fleet_pending(struct canary *c, bool pending, int64_t base, char *err, size_t errlen)
{
	if (!pending)
		base = 0;
	if (c->fleet_pending == pending && c->fleet_pending_base == base)
		return 0;
	c->fleet_pending = pending;
	c->fleet_pending_base = base;
	return save_state(c, &c->guard, err, errlen);
}

bool canary_fleet_pending(const struct canary *c, int64_t *base)
{
	*base = c->fleet_pending ? c->fleet_pending_base : 0;
	return c->fleet_pending;
}

void canary_note_fleet(struct canary *c, enum weights_actor actor, const char *action, const char *reason)
{
	char err[512];

	if (weights_note_node(c->weights, actor, action, reason, c->node, err, sizeof(err)) < 0)
		log_error("%s", err);
}

bool canary_rolled_back(const struct canary *c)
{
	return c->guard.state == GUARD_ROLLED_BACK;
}

int canary_plan_promote(const struct canary *c, uint32_t *target, char *err, size_t errlen)
{
	*target = WEIGHT_SCALE;
	if (!c->has_rollout)
		return 0;
	/* rollout_promote on a copy: the steps are shared, not freed by it */
	struct rollout r = c->rollout;
	return rollout_promote(&r, clock_now_ms(), target, err, errlen);
}

/* ---- what the status documents read ---------------------------------------------------------- */

const struct guard *canary_guard(const struct canary *c)
{
	return &c->guard;
}

const struct rollout *canary_rollout(const struct canary *c)
{
	return c->has_rollout ? &c->rollout : NULL;
}

void canary_wall_format(uint64_t mono_ms, char *buf, size_t len, void *ctx)
{
	const struct canary *c = ctx;

	clock_format_wall(buf, len, (int64_t)mono_ms + c->wall_offset_ms, false);
}

const struct rollout_history *canary_report_refresh(struct canary *c, const struct stats_snapshot *snap)
{
	fill_step_numbers_from(c, snap); /* the current step's numbers so far */
	return &c->history;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* Under "sequential" the guard looks at every fold: the workers fold every
 * 200 ms each, at their own phase, so a 100 ms tick sees each fold within
 * 100 ms. */
#define SEQUENTIAL_TICK_MS 100

static void start_tick(struct canary *c)
{
	uint64_t ms = c->cfg->guard.method == GUARD_METHOD_SEQUENTIAL ? SEQUENTIAL_TICK_MS
	                                                               : c->cfg->guard.interval_ms;
	struct timeval tv = clock_ms_to_tv(ms);
	event_del(c->tick);
	event_add(c->tick, &tv);
}

void canary_reconfigure(struct canary *c, const struct weir_config *cfg)
{
	uint64_t now = clock_now_ms();
	char err[ERR_TEXT_MAX];

	c->cfg = cfg;
	if (cfg->rollout.present) {
		if (c->has_rollout) {
			if (rollout_reconfigure(&c->rollout, &cfg->rollout, current_weight(c), now, err, sizeof(err)) < 0)
				log_error("rollout: %s", err);
		} else if (rollout_init(&c->rollout, &cfg->rollout, current_weight(c), now, err, sizeof(err)) == 0) {
			c->has_rollout = true;
		} else {
			log_error("rollout: %s", err);
		}
	} else if (c->has_rollout) {
		rollout_dispose(&c->rollout);
		c->has_rollout = false;
	}
	/* The guard's settings with the current step's thresholds, in one go: a
	 * reload that changes neither keeps the run's evidence; one that does
	 * starts the run over, data included. */
	struct cfg_guard gc = cfg->guard;
	if (c->has_rollout)
		gc.thresholds = *rollout_thresholds(&c->rollout);
	if (guard_configure(&c->guard, &gc))
		restart_run(c, now);
	start_tick(c);
}

/* The sequential guard's buffers, allocated once. */
static int run_views_new(struct canary *c)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		if (stats_run_view_init(&c->run[p]) < 0 || stats_run_view_init(&c->seg_base[0][p]) < 0 ||
		    stats_run_view_init(&c->seg_base[1][p]) < 0 || stats_run_view_init(&c->merged_window[p]) < 0)
			return -1;
		c->slot_cap = hdr_slot_count(c->run[p].latency_us);
		for (int i = 0; i < GUARD_STREAMS; i++) {
			c->slot_lo[i][p] = calloc(c->slot_cap, sizeof(int64_t));
			c->slot_hi[i][p] = calloc(c->slot_cap, sizeof(int64_t));
			c->slot_count[i][p] = calloc(c->slot_cap, sizeof(uint64_t));
			if (!c->slot_lo[i][p] || !c->slot_hi[i][p] || !c->slot_count[i][p])
				return -1;
		}
	}
	return 0;
}

/* The guard and the rollout as the state file left them (GUARD restored
 * over the fresh one; a rolled-back or paused run stops the rollout too). */
static void restore_state(struct canary *c, const struct weir_state *st, uint64_t now)
{
	int gs = guard_state_parse(st->guard_state);
	if (gs >= 0)
		guard_restore(&c->guard, (enum guard_state)gs, current_weight(c), now);
	if (c->has_rollout && c->guard.state == GUARD_ROLLED_BACK)
		rollout_rolled_back(&c->rollout);
	if (c->has_rollout && c->guard.state == GUARD_PAUSED)
		rollout_pause(&c->rollout);
}

struct canary *canary_new(struct event_base *base, const struct weir_config *cfg, struct weights *weights,
                          struct stats *stats, struct health *health, char *err, size_t errlen)
{
	struct canary *c = calloc(1, sizeof(*c));
	uint64_t now = clock_now_ms();
	struct weir_state st;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->cfg = cfg;
	c->weights = weights;
	c->stats = stats;
	c->health = health;
	c->run_gen = UINT64_MAX; /* c->run holds nothing yet */
	c->wall_offset_ms = clock_wall_ms() - (int64_t)now;
	c->snap = stats_snapshot_new();
	c->tick = event_new(base, -1, EV_PERSIST, guard_tick_cb, c);
	if (run_views_new(c) < 0 || !c->snap || !c->tick) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	guard_init(&c->guard, &cfg->guard, current_weight(c), now);
	if (cfg->rollout.present) {
		if (rollout_init(&c->rollout, &cfg->rollout, current_weight(c), now, err, errlen) < 0)
			goto fail;
		c->has_rollout = true;
		guard_set_thresholds(&c->guard, rollout_thresholds(&c->rollout));
	}
	bool loaded = weights_loaded(weights, &st);
	if (loaded)
		restore_state(c, &st, now);
	c->fleet_pending = loaded && st.fleet_rollback_pending && cfg->cluster.present;
	c->fleet_pending_base = c->fleet_pending ? st.fleet_rollback_base : 0; /* 0: an older weir's file */
	rollout_history_init(&c->history, current_weight(c), now);
	struct weights_record rec = record_of(c, &c->guard);
	if (weights_start(weights, &rec, err, errlen) < 0)
		goto fail;
	if (loaded && st.canary_weight != cfg->split.canary_weight)
		log_info("state file %s: canary %.2f%% (split.canary_weight %.2f%% is ignored)", cfg->state_file,
		         current_weight(c) / 100.0, cfg->split.canary_weight / 100.0);
	restart_run(c, now);
	start_tick(c);
	return c;
fail:
	canary_free(c);
	return NULL;
}

void canary_free(struct canary *c)
{
	if (!c)
		return;
	if (c->tick)
		event_free(c->tick);
	if (c->has_rollout)
		rollout_dispose(&c->rollout);
	stats_snapshot_free(c->snap);
	for (int p = 0; p < POOL_COUNT; p++) {
		stats_run_view_dispose(&c->run[p]);
		stats_run_view_dispose(&c->seg_base[0][p]);
		stats_run_view_dispose(&c->seg_base[1][p]);
		stats_run_view_dispose(&c->merged_window[p]);
		for (int i = 0; i < GUARD_STREAMS; i++) {
			free(c->slot_lo[i][p]);
			free(c->slot_hi[i][p]);
			free(c->slot_count[i][p]);
		}
	}
	free(c);
}
