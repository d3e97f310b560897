/* Unit tests for rollout: staged progression over a scripted clock (one tick
 * per second), alone and together with the real guard, and the history of
 * weight steps behind /report.json. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/guard.h"
#include "weir/rollout.h"

#define SEC UINT64_C(1000)
#define MIN (60 * SEC)

/* The formatters into a caller's fixed buffer (textbuf.h). */
static int fixed_format_json(const struct rollout *r, const char *next_at, char *buf, size_t len)
{
	struct textbuf o;

	textbuf_start(&o, buf, len);
	return rollout_format_json(r, next_at, &o);
}

static int fixed_history_json(const struct rollout_history *h, uint64_t now_ms, rollout_wall_fn wall,
                              void *ctx, char *buf, size_t len)
{
	struct textbuf o;

	textbuf_start(&o, buf, len);
	return rollout_history_format_json(h, now_ms, wall, ctx, &o);
}

/* ---- fixtures ------------------------------------------------------------ */

static struct cfg_thresholds thresholds(double max_error_rate)
{
	struct cfg_thresholds th = {
		.max_error_rate = max_error_rate, .max_p50_ms = NAN, .max_p99_ms = NAN,
		.max_p999_ms = NAN, .max_error_rate_increase = NAN, .max_p99_ratio = NAN,
	};

	return th;
}

/* steps [1, 10, 25, 50, 100] %, hold 10m each, auto; max_error_rate 0.02. */
static struct cfg_rollout_step five_steps[5];

static struct cfg_rollout std_cfg(void)
{
	static const uint32_t w[5] = { 100, 1000, 2500, 5000, 10000 };
	struct cfg_rollout c = { .present = true, .steps = five_steps, .nsteps = 5,
	                         .hold_ms = 10 * MIN, .auto_advance = true };
	size_t i;

	for (i = 0; i < 5; i++) {
		five_steps[i].weight = w[i];
		five_steps[i].hold_ms = 10 * MIN;
		five_steps[i].thresholds = thresholds(0.02);
	}
	return c;
}

static struct rollout make(const struct cfg_rollout *c, uint32_t weight, uint64_t now)
{
	struct rollout r;
	char err[128];

	assert_int_equal(rollout_init(&r, c, weight, now, err, sizeof(err)), 0);
	return r;
}

/* Healthy ticks from FROM (seconds) until an advance or TO; the advance
 * time (seconds) or 0. */
static uint64_t tick_healthy(struct rollout *r, uint64_t from, uint64_t to, uint32_t *weight)
{
	uint64_t t;

	for (t = from; t <= to; t++)
		if (rollout_tick(r, GUARD_WATCHING, true, true, t * SEC, weight))
			return t;
	return 0;
}

/* ---- progression --------------------------------------------------------- */

static void test_auto_advance_through_steps(void **unused)
{
	static const uint32_t expect[] = { 1000, 2500, 5000, 10000 };
	struct cfg_rollout c = std_cfg();
	struct rollout r = make(&c, 100, 0);
	uint32_t w = 0;
	uint64_t t = 1, at;
	size_t i;

	(void)unused;
	assert_int_equal(rollout_step_number(&r), 1);
	for (i = 0; i < 4; i++) {
		at = tick_healthy(&r, t, t + 3600, &w);
		/* The stretch starts at the first healthy tick t; hold 600 s. */
		assert_int_equal(at, t + 600);
		assert_int_equal(w, expect[i]);
		assert_int_equal(rollout_step_number(&r), i + 2);
		assert_int_equal(r.step_start_ms, at * SEC);
		t = at + 1;
	}
	assert_true(rollout_at_last_step(&r));
	/* Nothing after the last step, however long it stays healthy. */
	assert_int_equal(tick_healthy(&r, t, t + 86400, &w), 0);
	rollout_dispose(&r);
}

/* The last step at 100 % makes the guard PROMOTED. */
static void test_promoted_at_the_end_with_guard(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct cfg_guard gc = { .enabled = true, .interval_ms = SEC, .window_ms = 30 * SEC,
	                        .min_requests = 100, .for_ms = 5 * SEC,
	                        .thresholds = thresholds(0.02), .action = GUARD_ACTION_ROLLBACK };
	struct rollout r = make(&c, 100, 0);
	struct guard g;
	struct guard_input in = { .pools = { { 20000, 200, 10, 100, 300 }, { 600, 6, 10, 100, 300 } } };
	struct guard_verdict v;
	uint32_t w = 100, advances = 0;
	uint64_t t;

	(void)unused;
	guard_init(&g, &gc, w, 0);
	for (t = 1; t <= 4 * 3600; t++) {
		uint32_t nw;

		in.canary_weight = w;
		v = guard_tick(&g, &in, t * SEC);
		assert_int_not_equal(v.kind, GUARD_VERDICT_ROLLBACK);
		if (rollout_tick(&r, g.state, v.judged, true, t * SEC, &nw)) {
			w = nw;
			advances++;
			guard_set_thresholds(&g, rollout_thresholds(&r));
			guard_rearm(&g, w, t * SEC);
		}
	}
	assert_int_equal(advances, 4);
	assert_int_equal(w, WEIGHT_SCALE);
	assert_int_equal(g.state, GUARD_PROMOTED);
	assert_true(rollout_at_last_step(&r));
	rollout_dispose(&r);
}

static void test_breach_resets_hold(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r = make(&c, 100, 0);
	uint32_t w = 0;
	uint64_t t, at;

	(void)unused;
	/* Healthy for 9 min 59 s ... */
	assert_int_equal(tick_healthy(&r, 1, 599, &w), 0);
	assert_true(rollout_next_at(&r, &at));
	assert_int_equal(at, 601 * SEC);
	/* ... one breaching tick ends the stretch ... */
	assert_false(rollout_tick(&r, GUARD_BREACHING, true, true, 600 * SEC, &w));
	assert_false(r.healthy);
	assert_false(rollout_next_at(&r, &at));
	/* ... so the hold counts again from the next healthy tick (601 s). */
	assert_int_equal(tick_healthy(&r, 601, 1200, &w), 0);
	assert_int_equal(tick_healthy(&r, 1201, 1201, &w), 1201);
	assert_int_equal(w, 1000);

	/* Watching but not judged (too few requests) is not health either. */
	assert_int_equal(tick_healthy(&r, 1202, 1500, &w), 0);
	assert_false(rollout_tick(&r, GUARD_WATCHING, false, true, 1501 * SEC, &w));
	assert_int_equal(tick_healthy(&r, 1502, 2101, &w), 0);
	assert_int_equal(tick_healthy(&r, 2102, 2102, &w), 2102);
	assert_int_equal(w, 2500);

	/* Nor is idle, or paused (the guard's state). */
	for (t = 2103; t < 2200; t++)
		assert_false(rollout_tick(&r, GUARD_IDLE, false, true, t * SEC, &w));
	assert_false(r.healthy);
	assert_false(rollout_tick(&r, GUARD_PAUSED, false, true, 2200 * SEC, &w));
	assert_false(r.healthy);
	rollout_dispose(&r);
}

/* A hold that is over does not advance a step whose evidence does not yet
 * show the canary within its thresholds (rollout_tick's WITHIN): the step
 * waits, says so, and advances on the first tick that shows it. A breach
 * while waiting ends the stretch, and the hold counts again. */
static void test_hold_waits_for_evidence(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r = make(&c, 100, 0);
	uint32_t w = 0;
	uint64_t t;
	char buf[256];

	(void)unused;
	for (t = 1; t <= 700; t++)
		assert_false(rollout_tick(&r, GUARD_WATCHING, true, false, t * SEC, &w));
	assert_true(r.awaiting_evidence);
	assert_int_equal(fixed_format_json(&r, NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"awaiting_evidence\":true}"));
	assert_true(rollout_tick(&r, GUARD_WATCHING, true, true, 701 * SEC, &w));
	assert_int_equal(w, 1000);
	assert_false(r.awaiting_evidence);

	/* Waiting at step 2, then a breach: the hold starts over. */
	for (t = 702; t <= 1400; t++)
		assert_false(rollout_tick(&r, GUARD_WATCHING, true, false, t * SEC, &w));
	assert_true(r.awaiting_evidence);
	assert_false(rollout_tick(&r, GUARD_BREACHING, true, true, 1401 * SEC, &w));
	assert_false(r.awaiting_evidence);
	assert_int_equal(tick_healthy(&r, 1402, 2001, &w), 0);
	assert_int_equal(tick_healthy(&r, 2002, 2002, &w), 2002);
	assert_int_equal(w, 2500);
	rollout_dispose(&r);
}

static void test_hold_zero_and_step_holds(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r;
	uint32_t w = 0;

	(void)unused;
	five_steps[0].hold_ms = 0;
	five_steps[1].hold_ms = 30 * SEC;
	r = make(&c, 100, 0);
	/* Hold 0: the first healthy judgement advances. */
	assert_int_equal(tick_healthy(&r, 1, 1, &w), 1);
	assert_int_equal(w, 1000);
	/* A step's own hold. */
	assert_int_equal(tick_healthy(&r, 2, 100, &w), 32);
	assert_int_equal(w, 2500);
	rollout_dispose(&r);
}

static void test_promote_advances_early(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r = make(&c, 100, 0);
	uint32_t w = 0;
	char err[128];

	(void)unused;
	assert_int_equal(tick_healthy(&r, 1, 10, &w), 0);
	assert_int_equal(rollout_promote(&r, 11 * SEC, &w, err, sizeof(err)), 0);
	assert_int_equal(w, 1000);
	assert_int_equal(rollout_step_number(&r), 2);
	assert_false(r.healthy);
	/* Promote ignores health and the guard's state: it is the operator's call. */
	rollout_tick(&r, GUARD_BREACHING, true, true, 12 * SEC, &w);
	assert_int_equal(rollout_promote(&r, 13 * SEC, &w, err, sizeof(err)), 0);
	assert_int_equal(w, 2500);
	assert_int_equal(rollout_promote(&r, 14 * SEC, &w, err, sizeof(err)), 0);
	assert_int_equal(rollout_promote(&r, 15 * SEC, &w, err, sizeof(err)), 0);
	assert_int_equal(w, 10000);
	w = 42;
	assert_int_equal(rollout_promote(&r, 16 * SEC, &w, err, sizeof(err)), -1);
	assert_string_equal(err, "the rollout is at its last step");
	assert_int_equal(w, 42);
	rollout_dispose(&r);
}

static void test_manual_mode_waits(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r;
	uint32_t w = 0;
	uint64_t at;
	char err[128];

	(void)unused;
	c.auto_advance = false;
	r = make(&c, 100, 0);
	assert_int_equal(tick_healthy(&r, 1, 86400, &w), 0);
	assert_false(rollout_next_at(&r, &at));
	assert_int_equal(rollout_promote(&r, 86401 * SEC, &w, err, sizeof(err)), 0);
	assert_int_equal(w, 1000);
	assert_int_equal(tick_healthy(&r, 86402, 2 * 86400, &w), 0);
	rollout_dispose(&r);
}

static void test_per_step_thresholds(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct cfg_guard gc = { .enabled = true, .interval_ms = SEC, .window_ms = 30 * SEC,
	                        .min_requests = 100, .for_ms = 0,
	                        .thresholds = thresholds(0.02), .action = GUARD_ACTION_ROLLBACK };
	struct rollout r;
	struct guard g;
	/* 4 % errors at 1000 requests: Wilson lower bound 0.0295. */
	struct guard_input in = { .pools = { { 20000, 200, 10, 100, 300 }, { 1000, 40, 10, 100, 300 } } };
	struct guard_verdict v;
	uint32_t w = 0;
	char err[128];

	(void)unused;
	five_steps[0].thresholds = thresholds(0.05);       /* lenient at 1 % */
	five_steps[1].thresholds = thresholds(0.01);       /* strict at 10 % */
	r = make(&c, 100, 0);
	assert_float_equal(rollout_thresholds(&r)->max_error_rate, 0.05, 0);
	guard_init(&g, &gc, 100, 0);
	guard_set_thresholds(&g, rollout_thresholds(&r));
	in.canary_weight = 100;
	v = guard_tick(&g, &in, 1 * SEC);
	assert_true(v.judged);
	assert_int_equal(v.to, GUARD_WATCHING);

	assert_int_equal(rollout_promote(&r, 2 * SEC, &w, err, sizeof(err)), 0);
	assert_float_equal(rollout_thresholds(&r)->max_error_rate, 0.01, 0);
	guard_set_thresholds(&g, rollout_thresholds(&r));
	guard_rearm(&g, w, 2 * SEC);
	in.canary_weight = w;
	v = guard_tick(&g, &in, 3 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_string_equal(v.reason, "canary error_rate 0.040 (95% lower bound 0.030) > 0.010 for 0s");

	/* Below the first step, step 1's thresholds apply. */
	rollout_rearm(&r, 50, 4 * SEC);
	assert_int_equal(rollout_step_number(&r), 0);
	assert_float_equal(rollout_thresholds(&r)->max_error_rate, 0.05, 0);
	rollout_dispose(&r);
}

static void test_rollback_stops(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r = make(&c, 1000, 0);
	uint32_t w = 0;
	uint64_t at;
	char err[128];

	(void)unused;
	assert_int_equal(rollout_step_number(&r), 2);
	assert_int_equal(tick_healthy(&r, 1, 300, &w), 0);
	/* The guard rolled back: the rollout sees it at its tick and stops. */
	assert_false(rollout_tick(&r, GUARD_ROLLED_BACK, false, true, 301 * SEC, &w));
	assert_true(r.stopped);
	assert_false(rollout_next_at(&r, &at));
	/* Even if the guard looked healthy again, nothing advances ... */
	assert_int_equal(tick_healthy(&r, 302, 86400, &w), 0);
	/* ... and promote is refused. */
	assert_int_equal(rollout_promote(&r, 86401 * SEC, &w, err, sizeof(err)), -1);
	assert_string_equal(err, "the canary was rolled back: set a weight to re-arm the rollout");

	/* An operator re-arms at 1 %: running again from step 1. */
	rollout_rearm(&r, 100, 90000 * SEC);
	assert_false(r.stopped);
	assert_int_equal(rollout_step_number(&r), 1);
	assert_int_equal(tick_healthy(&r, 90001, 91000, &w), 90601);
	assert_int_equal(w, 1000);

	/* A manual rollback goes through rollout_rolled_back. */
	rollout_rolled_back(&r);
	assert_int_equal(tick_healthy(&r, 91001, 92000, &w), 0);
	assert_int_equal(rollout_promote(&r, 92001 * SEC, &w, err, sizeof(err)), -1);
	rollout_dispose(&r);
}

static void test_rearm_positions(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r = make(&c, 0, 0);
	uint32_t w = 0;
	char err[128];

	(void)unused;
	/* Weight 0: below the first step; idle is not health, so no auto-advance. */
	assert_int_equal(rollout_step_number(&r), 0);
	assert_false(rollout_tick(&r, GUARD_IDLE, false, true, 10 * MIN, &w));
	/* promote from below the first step goes to step 1. */
	assert_int_equal(rollout_promote(&r, 11 * MIN, &w, err, sizeof(err)), 0);
	assert_int_equal(w, 100);
	assert_int_equal(rollout_step_number(&r), 1);
	/* Between steps: the step below; the next advance goes to the step above. */
	rollout_rearm(&r, 3000, 12 * MIN);
	assert_int_equal(rollout_step_number(&r), 3);
	assert_int_equal(rollout_promote(&r, 13 * MIN, &w, err, sizeof(err)), 0);
	assert_int_equal(w, 5000);
	rollout_rearm(&r, 10000, 14 * MIN);
	assert_true(rollout_at_last_step(&r));
	/* Below step 1 but not 0 (0.5 %): auto-advance after rollout.hold. */
	rollout_rearm(&r, 50, 0);
	assert_int_equal(tick_healthy(&r, 1, 1000, &w), 601);
	assert_int_equal(w, 100);
	rollout_dispose(&r);
}

static void test_pause_resume(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r = make(&c, 100, 0);
	uint32_t w = 0;
	uint64_t at;
	char err[128];

	(void)unused;
	assert_int_equal(tick_healthy(&r, 1, 500, &w), 0);
	rollout_pause(&r);
	assert_false(rollout_next_at(&r, &at));
	/* No auto-advance while paused, even if the guard says watching. */
	assert_int_equal(tick_healthy(&r, 501, 5000, &w), 0);
	rollout_resume(&r);
	/* The hold starts over after resume. */
	assert_int_equal(tick_healthy(&r, 5001, 6000, &w), 5601);
	/* promote works while paused. */
	rollout_pause(&r);
	assert_int_equal(rollout_promote(&r, 6001 * SEC, &w, err, sizeof(err)), 0);
	assert_int_equal(w, 2500);
	assert_true(r.paused);
	rollout_dispose(&r);
}

static void test_next_at_and_json(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct rollout r;
	uint32_t w = 0;
	uint64_t at = 0;
	char buf[256], tiny[16];

	(void)unused;
	five_steps[0].weight = 1;                        /* 0.01 % */
	five_steps[1].weight = 250;                      /* 2.5 % */
	r = make(&c, 1, 0);
	assert_int_equal(fixed_format_json(&r, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"step\":1,\"steps\":[0.01,2.5,25,50,100],\"next_at\":null,"
	                    "\"auto\":true,\"paused\":false,\"stopped\":false,\"awaiting_evidence\":false}");
	assert_false(rollout_next_at(&r, &at));
	tick_healthy(&r, 5, 5, &w);
	assert_true(rollout_next_at(&r, &at));
	assert_int_equal(at, 605 * SEC);
	tick_healthy(&r, 6, 10, &w);
	assert_true(rollout_next_at(&r, &at));
	assert_int_equal(at, 605 * SEC);
	assert_int_equal(fixed_format_json(&r, "2026-11-23T12:10:05Z", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"step\":1,\"steps\":[0.01,2.5,25,50,100],"
	                    "\"next_at\":\"2026-11-23T12:10:05Z\",\"auto\":true,\"paused\":false,"
	                    "\"stopped\":false,\"awaiting_evidence\":false}");
	rollout_rolled_back(&r);
	assert_int_equal(fixed_format_json(&r, NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"stopped\":true,"));
	assert_int_equal(fixed_format_json(&r, NULL, tiny, sizeof(tiny)), -1);
	rollout_dispose(&r);
}

/* 500 steps: the "rollout" object grows with them and comes out whole in a
 * growing textbuf (a fixed 2 KiB buffer once cut /stats.json short). */
static void test_json_many_steps(void **unused)
{
	static struct cfg_rollout_step steps[500];
	struct cfg_rollout c = { .present = true, .steps = steps, .nsteps = 500, .hold_ms = MIN,
	                         .auto_advance = true };
	struct textbuf o;
	struct rollout r;
	char small[2048];

	(void)unused;
	for (size_t i = 0; i < 500; i++) {
		steps[i].weight = (uint32_t)(i + 1) * 20;  /* 0.2 % .. 100 % */
		steps[i].thresholds = thresholds(0.02);
	}
	r = make(&c, 20, 0);
	textbuf_start_growing(&o);
	assert_int_equal(rollout_format_json(&r, NULL, &o), 0);
	assert_true(o.off > sizeof(small));
	assert_int_equal(strlen(o.buf), o.off);
	assert_true(strncmp(o.buf, "{\"step\":1,\"steps\":[0.2,0.4,0.6,", 30) == 0);
	assert_non_null(strstr(o.buf, ",99.8,100],\"next_at\":null,\"auto\":true,\"paused\":false,"
	                              "\"stopped\":false,\"awaiting_evidence\":false}"));
	textbuf_dispose(&o);
	/* A fixed buffer reports the cut instead of passing it off as whole. */
	assert_int_equal(fixed_format_json(&r, NULL, small, sizeof(small)), -1);
	rollout_dispose(&r);
}

static void test_reconfigure(void **unused)
{
	struct cfg_rollout c = std_cfg();
	struct cfg_rollout_step two[2] = {
		{ .weight = 1000, .hold_ms = 5 * MIN, .thresholds = thresholds(0.03) },
		{ .weight = 10000, .hold_ms = 5 * MIN, .thresholds = thresholds(0.03) },
	};
	struct cfg_rollout c2 = { .present = true, .steps = two, .nsteps = 2, .hold_ms = MIN,
	                          .auto_advance = true };
	struct cfg_rollout empty = { .present = true, .steps = NULL, .nsteps = 0 };
	struct rollout r = make(&c, 1000, 0);
	uint32_t w = 0;
	char err[128];

	(void)unused;
	assert_int_equal(tick_healthy(&r, 1, 100, &w), 0);
	/* Same step weight: the healthy stretch survives; its hold is the new one. */
	assert_int_equal(rollout_reconfigure(&r, &c2, 1000, 101 * SEC, err, sizeof(err)), 0);
	assert_int_equal(rollout_step_number(&r), 1);
	assert_true(r.healthy);
	assert_float_equal(rollout_thresholds(&r)->max_error_rate, 0.03, 0);
	assert_int_equal(tick_healthy(&r, 102, 1000, &w), 301);
	assert_int_equal(w, 10000);
	/* Invalid input leaves R as it was. */
	assert_int_equal(rollout_reconfigure(&r, &empty, 1000, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "rollout has no steps");
	assert_int_equal(r.nsteps, 2);
	rollout_dispose(&r);
	/* A failed init leaves nothing to release; dispose is still harmless. */
	assert_int_equal(rollout_init(&r, &empty, 0, 0, err, sizeof(err)), -1);
	assert_null(r.steps);
	rollout_dispose(&r);
}

/* ---- history ------------------------------------------------------------- */

static void wall(uint64_t ms, char *buf, size_t len, void *ctx)
{
	(void)ctx;
	snprintf(buf, len, "T+%llu", (unsigned long long)(ms / 1000));
}

static void test_history_outcomes(void **unused)
{
	struct rollout_history *h = malloc(sizeof(*h));
	struct rollout_record *ended;
	const struct rollout_record *e;

	(void)unused;
	assert_non_null(h);
	rollout_history_init(h, 100, 0);
	assert_int_equal(rollout_history_count(h), 1);
	assert_int_equal(rollout_history_current(h)->outcome, ROLLOUT_OUTCOME_CURRENT);

	ended = rollout_history_change(h, 1000, ROLLOUT_OUTCOME_ADVANCED, "rollout", NULL, 600 * SEC);
	assert_non_null(ended);
	assert_int_equal(ended->weight, 100);
	assert_int_equal(ended->end_ms, 600 * SEC);
	ended->has_numbers = true;
	ended->pools[POOL_CANARY] = (struct rollout_pool_numbers){ 6000, 60, 0.01, 10, 100, 300, 0, 0 };
	ended->pools[POOL_BASELINE] = (struct rollout_pool_numbers){ 594000, 5940, 0.01, 9, 90, NAN, 0, 0 };

	rollout_history_change(h, 2500, ROLLOUT_OUTCOME_PROMOTED, "control", NULL, 700 * SEC);
	rollout_history_change(h, 0, ROLLOUT_OUTCOME_ROLLED_BACK, "guard",
	                       "canary p99 182.4ms > 150.0ms for 5s", 800 * SEC);
	/* set weight: the outcome from the weights. */
	rollout_history_change(h, 500, rollout_outcome_for_weights(0, 500), "control", NULL, 900 * SEC);
	rollout_history_change(h, 200, ROLLOUT_OUTCOME_CURRENT, "control", "", 950 * SEC);

	assert_int_equal(rollout_history_count(h), 6);
	{
		static const struct {
			uint32_t weight;
			uint64_t start, end;
			enum rollout_outcome outcome;
			const char *name;
		} want[] = {
			{ 100, 0, 600, ROLLOUT_OUTCOME_ADVANCED, "advanced" },
			{ 1000, 600, 700, ROLLOUT_OUTCOME_PROMOTED, "promoted" },
			{ 2500, 700, 800, ROLLOUT_OUTCOME_ROLLED_BACK, "rolled_back" },
			{ 0, 800, 900, ROLLOUT_OUTCOME_ADVANCED, "advanced" },
			{ 500, 900, 950, ROLLOUT_OUTCOME_ROLLED_BACK, "rolled_back" },
			{ 200, 950, 0, ROLLOUT_OUTCOME_CURRENT, "current" },
		};
		size_t i;

		for (i = 0; i < 6; i++) {
			e = rollout_history_get(h, i);
			assert_non_null(e);
			assert_int_equal(e->seq, i + 1);
			assert_int_equal(e->weight, want[i].weight);
			assert_int_equal(e->start_ms, want[i].start * SEC);
			assert_int_equal(e->end_ms, want[i].end * SEC);
			assert_int_equal(e->outcome, want[i].outcome);
			assert_string_equal(rollout_outcome_name(e->outcome), want[i].name);
		}
	}
	assert_null(rollout_history_get(h, 6));
	e = rollout_history_get(h, 2);
	assert_string_equal(e->actor, "guard");
	assert_string_equal(e->reason, "canary p99 182.4ms > 150.0ms for 5s");
	assert_int_equal(rollout_outcome_for_weights(500, 500), ROLLOUT_OUTCOME_ROLLED_BACK);
	free(h);
}

static void test_history_json(void **unused)
{
	struct rollout_history *h = malloc(sizeof(*h));
	struct rollout_record *ended;
	char *buf = malloc(65536);
	char tiny[64];

	(void)unused;
	assert_non_null(h);
	assert_non_null(buf);
	rollout_history_init(h, 100, 1 * SEC);
	ended = rollout_history_change(h, 0, ROLLOUT_OUTCOME_ROLLED_BACK, "control",
	                               "bad \"v2\"", 11500);
	ended->has_numbers = true;
	ended->pools[POOL_CANARY] = (struct rollout_pool_numbers){ 100, 30, 0.3, 10, 100, NAN, 7, 3 };
	ended->pools[POOL_BASELINE] = (struct rollout_pool_numbers){ 9900, 99, 0.01, 9, 90, 200, 0, 0 };
	assert_int_equal(fixed_history_json(h, 20 * SEC, wall, NULL, buf, 65536), 0);
	assert_string_equal(buf,
		"{\"steps\":["
		"{\"step\":1,\"weight\":1,\"start\":\"T+1\",\"end\":\"T+11\",\"duration_seconds\":10.500,"
		"\"outcome\":\"rolled_back\",\"actor\":\"control\",\"reason\":\"bad \\\"v2\\\"\","
		"\"pools\":{\"baseline\":{\"requests\":9900,\"errors\":99,\"error_rate\":0.01,"
		"\"p50_ms\":9,\"p99_ms\":90,\"p999_ms\":200,\"abandoned\":0,\"overridden\":0},"
		"\"canary\":{\"requests\":100,\"errors\":30,\"error_rate\":0.3,"
		"\"p50_ms\":10,\"p99_ms\":100,\"p999_ms\":null,\"abandoned\":7,\"overridden\":3}}},"
		"{\"step\":2,\"weight\":0,\"start\":\"T+11\",\"end\":null,\"duration_seconds\":8.500,"
		"\"outcome\":\"current\",\"actor\":null,\"reason\":null,\"pools\":null}"
		"],\"dropped\":0}");
	/* Without a wall clock, times are null. */
	assert_int_equal(fixed_history_json(h, 20 * SEC, NULL, NULL, buf, 65536), 0);
	assert_non_null(strstr(buf, "\"start\":null,\"end\":null"));
	assert_int_equal(fixed_history_json(h, 20 * SEC, wall, NULL, tiny, sizeof(tiny)), -1);
	free(buf);
	free(h);
}

static void test_history_bounded(void **unused)
{
	struct rollout_history *h = malloc(sizeof(*h));
	char *buf = malloc(1 << 20);
	uint32_t i;
	const struct rollout_record *e;

	(void)unused;
	assert_non_null(h);
	assert_non_null(buf);
	rollout_history_init(h, 0, 0);
	for (i = 1; i <= 100; i++) {
		struct rollout_record *ended =
			rollout_history_change(h, i * 10, ROLLOUT_OUTCOME_ADVANCED, "control",
			                       "a long reason that fills the record with text", i * SEC);

		/* The record handed back is the one that just ended, intact. */
		assert_int_equal(ended->seq, i);
		assert_int_equal(ended->end_ms, i * SEC);
		assert_int_equal(rollout_history_current(h)->seq, i + 1);
	}
	assert_int_equal(rollout_history_count(h), ROLLOUT_HISTORY_MAX);
	assert_int_equal(h->dropped, 101 - ROLLOUT_HISTORY_MAX);
	e = rollout_history_get(h, 0);
	assert_int_equal(e->seq, 101 - ROLLOUT_HISTORY_MAX + 1);
	e = rollout_history_get(h, ROLLOUT_HISTORY_MAX - 1);
	assert_int_equal(e->seq, 101);
	assert_int_equal(e->weight, 1000);
	assert_int_equal(e->outcome, ROLLOUT_OUTCOME_CURRENT);
	/* A full history fits the documented 64 KiB. */
	assert_int_equal(fixed_history_json(h, 200 * SEC, wall, NULL, buf, 65536), 0);
	assert_non_null(strstr(buf, "\"dropped\":37}"));
	free(buf);
	free(h);
}

static void long_wall(uint64_t ms, char *buf, size_t len, void *ctx)
{
	(void)ms;
	(void)ctx;
	memset(buf, 'w', len - 1);
	buf[len - 1] = '\0';
}

/* The worst case: every record full of characters that need escaping,
 * every number as long as it gets. */
static void test_history_json_max(void **unused)
{
	struct rollout_history *h = malloc(sizeof(*h));
	char *buf = malloc(ROLLOUT_HISTORY_JSON_MAX);
	char reason[2 * GUARD_REASON_MAX];
	const struct rollout_pool_numbers worst = {
		UINT64_MAX, UINT64_MAX, -1.23456789e-300, -1.23456789e300, -1.23456789e300, -1e300,
		UINT64_MAX, UINT64_MAX
	};
	size_t i;

	(void)unused;
	assert_non_null(h);
	assert_non_null(buf);
	memset(reason, '"', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	rollout_history_init(h, WEIGHT_SCALE - 1, 0);
	for (i = 0; i < 2 * ROLLOUT_HISTORY_MAX; i++) {
		struct rollout_record *e = rollout_history_change(h, WEIGHT_SCALE - 1,
		                                                  ROLLOUT_OUTCOME_ROLLED_BACK,
		                                                  "\\\\\\\\\\\\\\\\\\\\",
		                                                  reason, UINT64_MAX / 2);

		e->has_numbers = true;
		e->pools[POOL_BASELINE] = worst;
		e->pools[POOL_CANARY] = worst;
		e->seq = UINT64_MAX;
	}
	rollout_history_current(h)->has_numbers = true;
	rollout_history_current(h)->pools[POOL_CANARY] = worst;
	rollout_history_current(h)->pools[POOL_BASELINE] = worst;
	assert_int_equal(fixed_history_json(h, UINT64_MAX, long_wall, NULL, buf,
	                                             ROLLOUT_HISTORY_JSON_MAX), 0);
	print_message("worst-case report: %zu bytes\n", strlen(buf));
	free(buf);
	free(h);
}

/* Without a configured rollout: the runtime records manual weight changes. */
static void test_history_without_rollout(void **unused)
{
	struct rollout_history *h = malloc(sizeof(*h));
	uint32_t before = 500, after;
	const struct rollout_record *e;

	(void)unused;
	assert_non_null(h);
	rollout_history_init(h, before, 0);
	after = 10000;                                  /* "promote" without a rollout */
	rollout_history_change(h, after, ROLLOUT_OUTCOME_PROMOTED, "control", NULL, 60 * SEC);
	e = rollout_history_get(h, 0);
	assert_int_equal(e->outcome, ROLLOUT_OUTCOME_PROMOTED);
	assert_int_equal(rollout_history_current(h)->weight, 10000);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_advance_through_steps),
		cmocka_unit_test(test_promoted_at_the_end_with_guard),
		cmocka_unit_test(test_breach_resets_hold),
		cmocka_unit_test(test_hold_waits_for_evidence),
		cmocka_unit_test(test_hold_zero_and_step_holds),
		cmocka_unit_test(test_promote_advances_early),
		cmocka_unit_test(test_manual_mode_waits),
		cmocka_unit_test(test_per_step_thresholds),
		cmocka_unit_test(test_rollback_stops),
		cmocka_unit_test(test_rearm_positions),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_next_at_and_json),
		cmocka_unit_test(test_json_many_steps),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_history_outcomes),
		cmocka_unit_test(test_history_json),
		cmocka_unit_test(test_history_bounded),
		cmocka_unit_test(test_history_json_max),
		cmocka_unit_test(test_history_without_rollout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
