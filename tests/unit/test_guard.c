/* Unit tests for guard: the judgement driven over scripted traffic with a
 * scripted clock (plain now_ms values, one tick per second unless a test says
 * otherwise). Wilson bounds are checked against values worked out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weir/guard.h"

#define SEC 1000u
#define W5 500u                         /* 5 % in hundredths of a percent */

/* ---- fixtures ------------------------------------------------------------ */

/* The formatters into a caller's fixed buffer (textbuf.h). */
static int fixed_format_json(const struct guard *g, const char *since, char *buf, size_t len)
{
	struct textbuf o;

	textbuf_start(&o, buf, len);
	return guard_format_json(g, since, &o);
}

static int fixed_format_show(const struct guard *g, uint64_t now_ms, const char *since, char *buf,
                             size_t len)
{
	struct textbuf o;

	textbuf_start(&o, buf, len);
	return guard_format_show(g, now_ms, since, &o);
}

static int fixed_format_tests_json(const struct guard *g, char *buf, size_t len)
{
	struct textbuf o;

	textbuf_start(&o, buf, len);
	return guard_format_tests_json(g, &o);
}

static struct cfg_thresholds no_thresholds(void)
{
	struct cfg_thresholds th = {
		.max_error_rate = NAN, .max_p50_ms = NAN, .max_p99_ms = NAN, .max_p999_ms = NAN,
		.max_error_rate_increase = NAN, .max_p99_ratio = NAN,
	};

	return th;
}

/* interval 1s, window 30s, min_requests 100, for 5s, rollback, no thresholds. */
static struct cfg_guard base_cfg(void)
{
	struct cfg_guard c = {
		.enabled = true, .interval_ms = SEC, .window_ms = 30 * SEC, .min_requests = 100,
		.for_ms = 5 * SEC, .thresholds = no_thresholds(), .action = GUARD_ACTION_ROLLBACK,
	};

	return c;
}

static struct cfg_guard cfg_error_rate(double max)
{
	struct cfg_guard c = base_cfg();

	c.thresholds.max_error_rate = max;
	return c;
}

/* A healthy baseline (10,000 requests, 1 % errors, 10/100/300 ms) and a
 * canary with REQ requests and ERR errors at the same latencies, at 5 %. */
static struct guard_input traffic(double req, double err)
{
	struct guard_input in = {
		.pools = {
			[POOL_BASELINE] = { 10000, 100, 10.0, 100.0, 300.0 },
			[POOL_CANARY] = { req, err, 10.0, 100.0, 300.0 },
		},
		.canary_weight = W5,
	};

	return in;
}

static struct guard_input latency(double req, double p50, double p99, double p999)
{
	struct guard_input in = traffic(req, 0);

	in.pools[POOL_CANARY].p50_ms = p50;
	in.pools[POOL_CANARY].p99_ms = p99;
	in.pools[POOL_CANARY].p999_ms = p999;
	return in;
}

/* ---- names --------------------------------------------------------------- */

static void test_state_names_round_trip(void **unused)
{
	static const char *const names[] = {
		"idle", "watching", "breaching", "rolled_back", "paused", "promoted"
	};
	int i;

	(void)unused;
	assert_int_equal(GUARD_STATE_COUNT, 6);
	for (i = 0; i < GUARD_STATE_COUNT; i++) {
		assert_string_equal(guard_state_name((enum guard_state)i), names[i]);
		assert_int_equal(guard_state_parse(names[i]), i);
	}
	assert_int_equal(guard_state_parse(""), -1);
	assert_int_equal(guard_state_parse("IDLE"), -1);
	assert_int_equal(guard_state_parse("rolled-back"), -1);
	assert_int_equal(guard_state_parse("watching "), -1);
	assert_int_equal(guard_state_parse(NULL), -1);
	assert_string_equal(guard_state_name((enum guard_state)42), "unknown");
	assert_string_equal(guard_metric_name(GUARD_METRIC_P99_RATIO), "p99_ratio");
	assert_string_equal(guard_metric_name(GUARD_METRIC_ERROR_RATE), "error_rate");
}

/* ---- the Wilson interval ------------------------------------------------- */

/* Worked by hand: p = e/n, z = 1.96, d = 1 + z^2/n,
 * centre = (p + z^2/2n)/d, half = z/d * sqrt(p(1-p)/n + z^2/4n^2).
 * 20/100: d = 1.038416, centre = 0.219208/1.038416 = 0.211101,
 *         sqrt(0.0016 + 0.00009604) = 0.041183, half = 0.077735
 *         -> 0.1334 .. 0.2888 */
static void test_wilson_by_hand(void **unused)
{
	static const struct {
		double e, n, lower, upper;
	} cases[] = {
		{ 20, 100, 0.1334, 0.2888 },
		{ 0, 100, 0.0, 0.0370 },          /* upper = z^2/(n + z^2) */
		{ 6, 600, 0.0046, 0.0216 },
		{ 12, 600, 0.0115, 0.0346 },
		{ 30, 100, 0.2189, 0.3959 },
		{ 1, 1, 0.2065, 1.0 },
		{ 10, 10, 0.7225, 1.0 },          /* lower = n/(n + z^2) */
		{ 100, 10000, 0.0082, 0.0121 },
		{ 0, 10000, 0.0, 0.0004 },
	};
	double lo, hi;
	size_t i;

	(void)unused;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		guard_wilson(cases[i].e, cases[i].n, &lo, &hi);
		assert_float_equal(lo, cases[i].lower, 1e-3);
		assert_float_equal(hi, cases[i].upper, 1e-3);
		assert_true(lo <= cases[i].e / cases[i].n && cases[i].e / cases[i].n <= hi);
	}
	/* The closed forms at the edges, exactly. */
	guard_wilson(0, 100, &lo, &hi);
	assert_float_equal(hi, 1.96 * 1.96 / (100 + 1.96 * 1.96), 1e-12);
	guard_wilson(10, 10, &lo, &hi);
	assert_float_equal(lo, 10 / (10 + 1.96 * 1.96), 1e-12);

	/* Nothing known: the whole interval. */
	guard_wilson(0, 0, &lo, &hi);
	assert_true(lo == 0.0 && hi == 1.0);
	guard_wilson(NAN, 100, &lo, &hi);
	assert_true(lo == 0.0 && hi == 1.0);
	guard_wilson(5, NAN, &lo, &hi);
	assert_true(lo == 0.0 && hi == 1.0);
	guard_wilson(-1, 100, &lo, &hi);
	assert_true(lo == 0.0 && hi == 1.0);
	guard_wilson(5, INFINITY, &lo, &hi);
	assert_true(lo == 0.0 && hi == 1.0);
	/* More errors than requests count as all errors. */
	guard_wilson(150, 100, &lo, &hi);
	assert_float_equal(lo, 100 / (100 + 1.96 * 1.96), 1e-12);
	assert_float_equal(hi, 1.0, 1e-12);
}

/* ---- states by weight ---------------------------------------------------- */

static void test_init_state_from_weight(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;

	(void)unused;
	guard_init(&g, &c, 0, 7);
	assert_int_equal(g.state, GUARD_IDLE);
	assert_int_equal(g.since_ms, 7);
	guard_init(&g, &c, W5, 7);
	assert_int_equal(g.state, GUARD_WATCHING);
	guard_init(&g, &c, WEIGHT_SCALE, 7);
	assert_int_equal(g.state, GUARD_PROMOTED);
	c.enabled = false;
	guard_init(&g, &c, W5, 7);
	assert_int_equal(g.state, GUARD_IDLE);
}

static void test_idle_and_promoted_do_not_judge(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input in = traffic(1000, 1000);
	struct guard_verdict v;
	uint64_t t;

	(void)unused;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	in.canary_weight = 0;
	for (t = 1; t <= 60; t++) {
		v = guard_tick(&g, &in, t * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_false(v.judged);
		assert_int_equal(g.state, GUARD_IDLE);
	}
	assert_int_equal(g.since_ms, 1 * SEC);
	in.canary_weight = WEIGHT_SCALE;
	v = guard_tick(&g, &in, 61 * SEC);
	assert_int_equal(v.from, GUARD_IDLE);
	assert_int_equal(v.to, GUARD_PROMOTED);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_false(v.judged);
	assert_string_equal(g.last.note, "canary weight is 100%");

	/* Weight above the scale is clamped, still promoted. */
	in.canary_weight = WEIGHT_SCALE + 1;
	v = guard_tick(&g, &in, 62 * SEC);
	assert_int_equal(v.to, GUARD_PROMOTED);

	/* Back to a partial weight: watching, and now it judges. */
	in.canary_weight = W5;
	v = guard_tick(&g, &in, 63 * SEC);
	assert_int_equal(v.from, GUARD_PROMOTED);
	assert_int_equal(v.to, GUARD_ROLLED_BACK);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
}

static void test_disabled_guard_never_judges(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input in = traffic(1000, 1000);
	struct guard_verdict v;

	(void)unused;
	c.enabled = false;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	v = guard_tick(&g, &in, SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_int_equal(g.state, GUARD_IDLE);
	assert_string_equal(g.last.note, "guard disabled");
}

/* ---- the min_requests gate ----------------------------------------------- */

static void test_min_requests_gate(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_verdict v;
	struct guard_input in;
	uint64_t t;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_p50_ms = 1.0;
	guard_init(&g, &c, W5, 0);
	/* 100 % errors and a slow p50, but 99 requests: nothing is judged. */
	for (t = 1; t <= 600; t++) {
		in = traffic(99, 99);
		in.pools[POOL_CANARY].p50_ms = 5000;
		v = guard_tick(&g, &in, t * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_false(v.judged);
		assert_int_equal(g.state, GUARD_WATCHING);
	}
	assert_string_equal(g.last.note, "canary has 99 of 100 requests in the window");
	assert_int_equal(g.breach.metric, GUARD_METRIC_NONE);
	/* The 100th request makes the window judgeable. */
	in = traffic(100, 100);
	v = guard_tick(&g, &in, 601 * SEC);
	assert_true(v.judged);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(g.state, GUARD_ROLLED_BACK);
}

/* A tick that cannot judge neither ends nor confirms an episode. */
static void test_gate_during_episode(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(200, 60), thin = traffic(50, 0);
	struct guard_verdict v;

	(void)unused;
	guard_init(&g, &c, W5, 0);
	v = guard_tick(&g, &bad, 1 * SEC);
	assert_int_equal(v.to, GUARD_BREACHING);
	v = guard_tick(&g, &thin, 2 * SEC);
	assert_int_equal(v.to, GUARD_BREACHING);
	assert_false(v.judged);
	/* Held 5 s by now, but the thin tick does not act ... */
	v = guard_tick(&g, &thin, 6 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_int_equal(g.state, GUARD_BREACHING);
	/* ... the next judged breach does. */
	v = guard_tick(&g, &bad, 7 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_string_equal(v.reason, "canary error_rate 0.300 (95% lower bound 0.241) > 0.020 for 6s");
}

/* ---- hysteresis ---------------------------------------------------------- */

static void test_for_hysteresis(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30), good = traffic(600, 6);
	struct guard_verdict v;
	uint64_t t;

	(void)unused;
	guard_init(&g, &c, W5, 0);

	/* Breached at 1..5 s (held 4 s < for), recovered at 6 s: no action. */
	v = guard_tick(&g, &bad, 1 * SEC);
	assert_int_equal(v.from, GUARD_WATCHING);
	assert_int_equal(v.to, GUARD_BREACHING);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_string_equal(v.reason, "canary error_rate 0.300 (95% lower bound 0.219) > 0.020");
	assert_int_equal(g.since_ms, 1 * SEC);
	assert_int_equal(g.breach_start_ms, 1 * SEC);
	for (t = 2; t <= 5; t++) {
		v = guard_tick(&g, &bad, t * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_int_equal(v.to, GUARD_BREACHING);
		assert_null(v.reason);
	}
	assert_string_equal(g.breach.reason,
	                    "canary error_rate 0.300 (95% lower bound 0.219) > 0.020 for 4s");
	v = guard_tick(&g, &good, 6 * SEC);
	assert_int_equal(v.from, GUARD_BREACHING);
	assert_int_equal(v.to, GUARD_WATCHING);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_int_equal(g.since_ms, 6 * SEC);
	/* The last breach is remembered for "show guard", not as the state's reason. */
	assert_int_equal(g.breach.metric, GUARD_METRIC_ERROR_RATE);
	assert_null(guard_reason(&g));

	/* A new episode from 7 s: the action comes exactly at 12 s (held 5 s). */
	for (t = 7; t <= 11; t++) {
		v = guard_tick(&g, &bad, t * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_int_equal(g.state, GUARD_BREACHING);
	}
	assert_int_equal(g.breach_start_ms, 7 * SEC);
	v = guard_tick(&g, &bad, 12 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(v.from, GUARD_BREACHING);
	assert_int_equal(v.to, GUARD_ROLLED_BACK);
	assert_string_equal(v.reason, "canary error_rate 0.300 (95% lower bound 0.219) > 0.020 for 5s");
	assert_string_equal(guard_reason(&g), v.reason);
	assert_int_equal(g.since_ms, 12 * SEC);

	/* Rolled back sticks: more ticks, even healthy ones at a weight, change nothing. */
	for (t = 13; t <= 100; t++) {
		v = guard_tick(&g, &good, t * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_int_equal(v.to, GUARD_ROLLED_BACK);
	}
	v = guard_tick(&g, &bad, 101 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
}

/* Ticks need not be on whole seconds; "for" is measured, not counted. */
static void test_for_measured_in_ms(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30);
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 2500;
	guard_init(&g, &c, W5, 0);
	assert_int_equal(guard_tick(&g, &bad, 1000).to, GUARD_BREACHING);
	assert_int_equal(guard_tick(&g, &bad, 2000).kind, GUARD_VERDICT_NONE);
	/* 50 ms of slack (a tenth of the 1 s interval, at most 50 ms) */
	assert_int_equal(guard_tick(&g, &bad, 3449).kind, GUARD_VERDICT_NONE);
	v = guard_tick(&g, &bad, 3450);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_string_equal(v.reason, "canary error_rate 0.300 (95% lower bound 0.219) > 0.020 for 2.5s");
}

/* A dead baseline answers 502 in microseconds: its p99 is tiny, and a
 * healthy canary must not be rolled back onto it for being "slower". */
static void test_p99_ratio_skipped_when_baseline_fails(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in;
	uint64_t t;

	(void)unused;
	c.thresholds.max_p99_ratio = 1.5;
	guard_init(&g, &c, W5, 0);
	in = latency(1000, 10, 100, 300);                  /* healthy canary, 1 % errors below */
	in.pools[POOL_CANARY].errors = 10;
	in.pools[POOL_BASELINE].errors = 9990;             /* baseline: 99.9 % errors ... */
	in.pools[POOL_BASELINE].p50_ms = 0.05;              /* ... answered at once */
	in.pools[POOL_BASELINE].p99_ms = 0.08;
	for (t = 1; t <= 10; t++)
		assert_int_equal(guard_tick(&g, &in, t * SEC).kind, GUARD_VERDICT_NONE);
	assert_int_equal(g.state, GUARD_WATCHING);
	assert_true(isnan(g.last.p99_ratio));
	/* The same latencies with a healthy baseline do breach. */
	in.pools[POOL_BASELINE].errors = 100;
	assert_int_equal(guard_tick(&g, &in, 11 * SEC).to, GUARD_BREACHING);
}

/* Ticks drift: the fifth tick of a 1 s interval after a breach may come at
 * 4,999 ms. guard.for = 5s must act there, not a whole interval later. */
static void test_for_tolerates_tick_jitter(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30);
	uint64_t t = 10000;

	(void)unused;
	guard_init(&g, &c, W5, 0);
	assert_int_equal(guard_tick(&g, &bad, t).to, GUARD_BREACHING);
	for (int i = 1; i < 5; i++)
		assert_int_equal(guard_tick(&g, &bad, t + (uint64_t)i * 999).kind, GUARD_VERDICT_NONE);
	assert_int_equal(guard_tick(&g, &bad, t + 5 * 999).kind, GUARD_VERDICT_ROLLBACK);
}

static void test_for_zero_acts_at_once(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30);
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	v = guard_tick(&g, &bad, 1 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(v.from, GUARD_WATCHING);
	assert_int_equal(v.to, GUARD_ROLLED_BACK);
	assert_string_equal(v.reason, "canary error_rate 0.300 (95% lower bound 0.219) > 0.020 for 0s");
}

/* ---- the Wilson rule against noise --------------------------------------- */

/* 1 % errors at 20 req/s over a 30 s window: 600 requests with 6 to 14
 * errors is noise (14/600 = 2.3 % > 2 % raw), never a breach. */
static void test_wilson_noise_does_not_breach(void **unused)
{
	static const double errs[] = { 6, 9, 12, 7, 13, 8, 14, 10, 11, 12, 14, 13, 6, 12 };
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;
	uint64_t t;

	(void)unused;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	for (t = 0; t < 1000; t++) {
		in = traffic(600, errs[t % (sizeof(errs) / sizeof(errs[0]))]);
		v = guard_tick(&g, &in, (t + 1) * SEC);
		assert_true(v.judged);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_int_equal(v.to, GUARD_WATCHING);
	}
	/* While 30 % at 100 requests is a breach. */
	in = traffic(100, 30);
	v = guard_tick(&g, &in, 1001 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
}

/* The bound sits just past 18 of 600: 19 breaches, 18 does not. */
static void test_wilson_boundary(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input in;

	(void)unused;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	in = traffic(600, 18);
	assert_int_equal(guard_tick(&g, &in, 1 * SEC).kind, GUARD_VERDICT_NONE);
	assert_float_equal(g.last.lower[POOL_CANARY], 0.01906, 1e-4);
	in = traffic(600, 19);
	assert_int_equal(guard_tick(&g, &in, 2 * SEC).kind, GUARD_VERDICT_ROLLBACK);
	assert_float_equal(g.breach.value, 0.02036, 1e-4);
	assert_float_equal(g.breach.observed, 19.0 / 600.0, 1e-12);
	assert_float_equal(g.breach.threshold, 0.02, 1e-12);
}

/* ---- relative thresholds -------------------------------------------------- */

static void test_error_rate_increase(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_error_rate_increase = 0.01;
	guard_init(&g, &c, W5, 0);
	/* 1.5 % vs 1 %: 0.0091 - 0.0121 < 0: fine. */
	in = traffic(1000, 15);
	v = guard_tick(&g, &in, 1 * SEC);
	assert_true(v.judged);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_float_equal(g.last.error_rate_increase, 0.00911 - 0.01215, 1e-4);
	/* 4 % vs 1 %: 0.0295 - 0.0121 = 0.0174 > 0.01. */
	in = traffic(1000, 40);
	v = guard_tick(&g, &in, 2 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(g.breach.metric, GUARD_METRIC_ERROR_RATE_INCREASE);
	assert_float_equal(g.breach.value, 0.02951 - 0.01215, 1e-4);
	assert_string_equal(v.reason, "canary error_rate 0.040 vs baseline 0.010: increase 0.017 "
	                    "(95% lower bound 0.030 - 95% upper bound 0.012) > 0.010 for 0s");
}

static void test_p99_ratio(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;
	uint64_t t;

	(void)unused;
	c.thresholds.max_p99_ratio = 1.5;
	guard_init(&g, &c, W5, 0);
	in = latency(1000, 10, 150, 300);                  /* 1.50: not above */
	v = guard_tick(&g, &in, 1 * SEC);
	assert_int_equal(v.to, GUARD_WATCHING);
	assert_float_equal(g.last.p99_ratio, 1.5, 1e-12);
	in = latency(1000, 10, 310, 300);                  /* 3.10 */
	for (t = 2; t <= 6; t++)
		assert_int_equal(guard_tick(&g, &in, t * SEC).kind, GUARD_VERDICT_NONE);
	v = guard_tick(&g, &in, 7 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_string_equal(v.reason, "canary p99 / baseline p99 = 3.10 > 1.50 for 5s");
}

/* ---- zero baselines and bad numbers --------------------------------------- */

static void test_zero_baseline_traffic(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_error_rate_increase = 0.01;
	c.thresholds.max_p99_ratio = 1.5;
	guard_init(&g, &c, W5, 0);
	/* No baseline at all: both relative checks are skipped, not breached. */
	in = latency(1000, 10, 5000, 9000);
	in.pools[POOL_CANARY].errors = 300;
	in.pools[POOL_BASELINE] = (struct guard_pool_sample){ 0, 0, 0, 0, 0 };
	v = guard_tick(&g, &in, 1 * SEC);
	assert_true(v.judged);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_int_equal(v.to, GUARD_WATCHING);
	assert_true(isnan(g.last.error_rate_increase));
	assert_true(isnan(g.last.p99_ratio));
	assert_true(isnan(g.last.error_rate[POOL_BASELINE]));
	/* A baseline below min_requests is as good as none. */
	in.pools[POOL_BASELINE] = (struct guard_pool_sample){ 99, 0, 1, 1, 1 };
	v = guard_tick(&g, &in, 2 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_true(isnan(g.last.p99_ratio));
}

static void test_zero_baseline_errors_and_p99(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_error_rate_increase = 0.01;
	c.thresholds.max_p99_ratio = 1.5;
	guard_init(&g, &c, W5, 0);
	/* Zero baseline errors: upper bound 0.0004; a 1 % canary (lower 0.0054)
	 * is 0.005 worse at most: fine. */
	in = traffic(1000, 10);
	in.pools[POOL_BASELINE].errors = 0;
	in.pools[POOL_BASELINE].p99_ms = 0;              /* and p99 0: ratio skipped */
	in.pools[POOL_CANARY].p99_ms = 900;
	v = guard_tick(&g, &in, 1 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_float_equal(g.last.upper[POOL_BASELINE], 0.00038, 1e-5);
	assert_true(isnan(g.last.p99_ratio));
	/* 5 % against a perfect baseline is a breach. */
	in.pools[POOL_CANARY].errors = 50;
	v = guard_tick(&g, &in, 2 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(g.breach.metric, GUARD_METRIC_ERROR_RATE_INCREASE);
}

static void test_nan_and_garbage_inputs(void **unused)
{
	const double bad[] = { NAN, INFINITY, -INFINITY, -1.0 };
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;
	char buf[GUARD_SHOW_MAX];
	uint64_t t = 0;
	size_t i, f;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_error_rate = 0.02;
	c.thresholds.max_error_rate_increase = 0.01;
	c.thresholds.max_p50_ms = 50;
	c.thresholds.max_p99_ms = 200;
	c.thresholds.max_p999_ms = 1000;
	c.thresholds.max_p99_ratio = 1.5;
	guard_init(&g, &c, W5, 0);
	/* Every single field of either pool made garbage, the rest healthy. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (f = 0; f < 2 * 5; f++) {
			double *fields;

			in = latency(2000, 10, 100, 300);
			fields = &in.pools[f / 5].requests;
			fields[f % 5] = bad[i];
			v = guard_tick(&g, &in, ++t * SEC);
			assert_int_equal(v.kind, GUARD_VERDICT_NONE);
			assert_int_equal(v.to, GUARD_WATCHING);
			assert_int_equal(fixed_format_show(&g, t * SEC, NULL, buf, sizeof(buf)), 0);
		}
	}
	/* All of them at once. */
	in.canary_weight = W5;
	for (f = 0; f < POOL_COUNT; f++)
		in.pools[f] = (struct guard_pool_sample){ NAN, NAN, NAN, NAN, NAN };
	v = guard_tick(&g, &in, ++t * SEC);
	assert_false(v.judged);
	assert_int_equal(v.to, GUARD_WATCHING);
	assert_string_equal(g.last.note, "no canary data");
	/* NaN errors only: the error checks are skipped, latencies still judged. */
	in = latency(2000, 10, 500, 300);
	in.pools[POOL_CANARY].errors = NAN;
	v = guard_tick(&g, &in, ++t * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(g.breach.metric, GUARD_METRIC_P99);
	/* More errors than requests: counted as all errors, never a crash. */
	guard_rearm(&g, W5, ++t * SEC);
	in = traffic(200, 500);
	v = guard_tick(&g, &in, ++t * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(g.breach.metric, GUARD_METRIC_ERROR_RATE);
	assert_float_equal(g.breach.observed, 1.0, 1e-12);
}

/* ---- latency thresholds --------------------------------------------------- */

static void test_latency_thresholds(void **unused)
{
	static const struct {
		size_t field;               /* offset of the threshold */
		double th;
		double p50, p99, p999;
		enum guard_metric metric;
		const char *reason;
	} cases[] = {
		{ offsetof(struct cfg_thresholds, max_p50_ms), 50.0, 50.1, 60, 70, GUARD_METRIC_P50,
		  "canary p50 50.1ms > 50.0ms for 5s" },
		{ offsetof(struct cfg_thresholds, max_p99_ms), 150.0, 10, 182.4, 300, GUARD_METRIC_P99,
		  "canary p99 182.4ms > 150.0ms for 5s" },
		{ offsetof(struct cfg_thresholds, max_p999_ms), 1000.0, 10, 100, 1234.5,
		  GUARD_METRIC_P999, "canary p999 1234.5ms > 1000.0ms for 5s" },
	};
	size_t i;
	uint64_t t;

	(void)unused;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg_guard c = base_cfg();
		struct guard g;
		struct guard_input ok, slow;
		struct guard_verdict v;

		*(double *)((char *)&c.thresholds + cases[i].field) = cases[i].th;
		guard_init(&g, &c, W5, 0);
		/* At the threshold exactly is not above it. */
		ok = latency(5000, cases[i].th, cases[i].th, cases[i].th);
		slow = latency(5000, cases[i].p50, cases[i].p99, cases[i].p999);
		v = guard_tick(&g, &ok, 1 * SEC);
		assert_int_equal(v.to, GUARD_WATCHING);
		for (t = 2; t <= 6; t++) {
			v = guard_tick(&g, &slow, t * SEC);
			assert_int_equal(v.kind, GUARD_VERDICT_NONE);
			assert_int_equal(v.to, GUARD_BREACHING);
			assert_int_equal(g.breach.metric, cases[i].metric);
		}
		v = guard_tick(&g, &slow, 7 * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
		assert_string_equal(v.reason, cases[i].reason);
	}
}

/* p999 is judged from 1000 canary requests on. */
static void test_p999_needs_1000_samples(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_p999_ms = 1000;
	guard_init(&g, &c, W5, 0);
	in = latency(999, 10, 100, 60000);
	v = guard_tick(&g, &in, 1 * SEC);
	assert_true(v.judged);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	in = latency(GUARD_P999_MIN_SAMPLES, 10, 100, 60000);
	v = guard_tick(&g, &in, 2 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_string_equal(v.reason, "canary p999 60000.0ms > 1000.0ms for 0s");
}

/* Value and threshold never print alike: more decimals when needed. */
static void test_reason_precision(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in = latency(2000, 10, 150.04, 300);
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_p99_ms = 150;
	guard_init(&g, &c, W5, 0);
	v = guard_tick(&g, &in, SEC);
	assert_string_equal(v.reason, "canary p99 150.04ms > 150.00ms for 0s");

	c.thresholds = no_thresholds();
	c.thresholds.max_p99_ratio = 1.5;
	guard_init(&g, &c, W5, 0);
	in = latency(2000, 10, 150.3, 300);               /* baseline p99 100 */
	v = guard_tick(&g, &in, SEC);
	assert_string_equal(v.reason, "canary p99 / baseline p99 = 1.503 > 1.500 for 0s");

	/* Absurd but finite numbers only make a long text, cut short. */
	c.thresholds = no_thresholds();
	c.thresholds.max_p99_ms = 150;
	guard_init(&g, &c, W5, 0);
	in = latency(2000, 10, 1e300, 300);
	v = guard_tick(&g, &in, SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_true(strlen(v.reason) < GUARD_REASON_MAX);
}

/* Several thresholds breached: the first in metric order is reported. */
static void test_breach_order(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct guard g;
	struct guard_input in = latency(2000, 900, 900, 900);
	struct guard_verdict v;

	(void)unused;
	c.for_ms = 0;
	c.thresholds.max_p99_ms = 100;
	c.thresholds.max_p50_ms = 100;
	guard_init(&g, &c, W5, 0);
	v = guard_tick(&g, &in, SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(g.breach.metric, GUARD_METRIC_P50);
}

/* ---- alert ------------------------------------------------------------------ */

static void test_alert_once_per_episode(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30), good = traffic(600, 6);
	struct guard_verdict v;
	int alerts = 0;
	uint64_t t;

	(void)unused;
	c.action = GUARD_ACTION_ALERT;
	guard_init(&g, &c, W5, 0);
	for (t = 1; t <= 100; t++) {
		v = guard_tick(&g, &bad, t * SEC);
		assert_int_not_equal(v.kind, GUARD_VERDICT_ROLLBACK);
		assert_int_equal(v.to, GUARD_BREACHING);
		if (v.kind == GUARD_VERDICT_ALERT) {
			alerts++;
			assert_int_equal(t, 6);
			assert_string_equal(v.reason, "canary error_rate 0.300 "
			                    "(95% lower bound 0.219) > 0.020 for 5s");
		}
	}
	assert_int_equal(alerts, 1);
	assert_int_equal(g.since_ms, 1 * SEC);
	assert_non_null(guard_reason(&g));
	assert_non_null(strstr(guard_reason(&g), "for 99s"));

	/* Recovery ends the episode; a new one alerts again, once. */
	v = guard_tick(&g, &good, 101 * SEC);
	assert_int_equal(v.to, GUARD_WATCHING);
	for (t = 102; t <= 200; t++) {
		v = guard_tick(&g, &bad, t * SEC);
		if (v.kind == GUARD_VERDICT_ALERT) {
			alerts++;
			assert_int_equal(t, 107);
		}
	}
	assert_int_equal(alerts, 2);
	assert_int_equal(g.state, GUARD_BREACHING);
}

/* Switching to rollback by a reload during an alerted episode acts. */
static void test_alert_then_reload_to_rollback(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30);

	(void)unused;
	c.action = GUARD_ACTION_ALERT;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	assert_int_equal(guard_tick(&g, &bad, 1 * SEC).kind, GUARD_VERDICT_ALERT);
	assert_int_equal(guard_tick(&g, &bad, 2 * SEC).kind, GUARD_VERDICT_NONE);
	c.action = GUARD_ACTION_ROLLBACK;
	guard_configure(&g, &c);
	assert_int_equal(g.state, GUARD_BREACHING);
	assert_int_equal(guard_tick(&g, &bad, 3 * SEC).kind, GUARD_VERDICT_ROLLBACK);
}

/* ---- operator commands ------------------------------------------------------ */

static void test_pause_resume(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30);
	struct guard_verdict v;
	uint64_t t;

	(void)unused;
	guard_init(&g, &c, W5, 0);
	for (t = 1; t <= 4; t++)
		guard_tick(&g, &bad, t * SEC);
	assert_int_equal(g.state, GUARD_BREACHING);
	assert_true(guard_pause(&g, 5 * SEC));
	assert_int_equal(g.state, GUARD_PAUSED);
	assert_int_equal(g.since_ms, 5 * SEC);
	assert_false(guard_pause(&g, 6 * SEC));          /* already paused */
	for (t = 6; t <= 100; t++) {
		v = guard_tick(&g, &bad, t * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_false(v.judged);
		assert_int_equal(v.to, GUARD_PAUSED);
	}
	assert_string_equal(g.last.note, "paused");
	/* Weight changes while paused do not unpause. */
	assert_false(guard_rearm(&g, 1000, 100 * SEC));
	assert_int_equal(g.state, GUARD_PAUSED);

	assert_true(guard_resume(&g, W5, 101 * SEC));
	assert_int_equal(g.state, GUARD_WATCHING);
	/* The episode starts over: the action needs a full "for" again. */
	for (t = 102; t <= 106; t++)
		assert_int_equal(guard_tick(&g, &bad, t * SEC).kind, GUARD_VERDICT_NONE);
	assert_int_equal(g.breach_start_ms, 102 * SEC);
	assert_int_equal(guard_tick(&g, &bad, 107 * SEC).kind, GUARD_VERDICT_ROLLBACK);

	/* Pause does not hide a rollback, and resume does not undo it. */
	assert_false(guard_pause(&g, 108 * SEC));
	assert_int_equal(g.state, GUARD_ROLLED_BACK);
	assert_false(guard_resume(&g, 0, 109 * SEC));
	assert_int_equal(g.state, GUARD_ROLLED_BACK);
	/* Resume at weight 0 / 100. */
	guard_rearm(&g, 0, 110 * SEC);
	guard_pause(&g, 111 * SEC);
	guard_resume(&g, 0, 112 * SEC);
	assert_int_equal(g.state, GUARD_IDLE);
	guard_pause(&g, 113 * SEC);
	guard_resume(&g, WEIGHT_SCALE, 114 * SEC);
	assert_int_equal(g.state, GUARD_PROMOTED);
}

static void test_rearm(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30), good = traffic(600, 6);
	struct guard_verdict v;
	uint64_t t;

	(void)unused;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	assert_int_equal(guard_tick(&g, &bad, 1 * SEC).kind, GUARD_VERDICT_ROLLBACK);
	/* The runtime set canary 0; then an operator sets 2 %. */
	assert_true(guard_rearm(&g, 200, 30 * SEC));
	assert_int_equal(g.state, GUARD_WATCHING);
	assert_int_equal(g.since_ms, 30 * SEC);
	assert_null(guard_reason(&g));
	assert_string_equal(g.state_reason, "");
	assert_false(g.last.judged);
	/* Fresh window, fresh judgement: it can roll back again. */
	good.canary_weight = 200;
	for (t = 31; t <= 40; t++) {
		v = guard_tick(&g, &good, t * SEC);
		assert_int_equal(v.to, GUARD_WATCHING);
	}
	bad.canary_weight = 200;
	assert_int_equal(guard_tick(&g, &bad, 41 * SEC).kind, GUARD_VERDICT_ROLLBACK);

	/* Re-arm into each weight class; since moves even without a state change. */
	guard_rearm(&g, 0, 50 * SEC);
	assert_int_equal(g.state, GUARD_IDLE);
	assert_false(guard_rearm(&g, 0, 51 * SEC));
	assert_int_equal(g.since_ms, 51 * SEC);
	guard_rearm(&g, WEIGHT_SCALE, 52 * SEC);
	assert_int_equal(g.state, GUARD_PROMOTED);
	guard_rearm(&g, 5000, 53 * SEC);
	assert_int_equal(g.state, GUARD_WATCHING);

	/* Re-arming in the middle of an episode drops it. */
	c.for_ms = 5 * SEC;
	guard_configure(&g, &c);
	bad.canary_weight = 5000;
	guard_tick(&g, &bad, 54 * SEC);
	assert_int_equal(g.state, GUARD_BREACHING);
	guard_rearm(&g, 5000, 55 * SEC);
	assert_int_equal(g.state, GUARD_WATCHING);
	for (t = 56; t <= 60; t++)
		assert_int_equal(guard_tick(&g, &bad, t * SEC).kind, GUARD_VERDICT_NONE);
	assert_int_equal(guard_tick(&g, &bad, 61 * SEC).kind, GUARD_VERDICT_ROLLBACK);
}

static void test_manual_rollback(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input good = traffic(600, 6);
	char buf[512];

	(void)unused;
	guard_init(&g, &c, W5, 0);
	assert_true(guard_rolled_back(&g, "bad deploy \"v2\"", 10 * SEC));
	assert_int_equal(g.state, GUARD_ROLLED_BACK);
	assert_int_equal(g.since_ms, 10 * SEC);
	assert_string_equal(guard_reason(&g), "bad deploy \"v2\"");
	assert_int_equal(fixed_format_json(&g, "2026-11-23T12:00:00Z", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"state\":\"rolled_back\",\"since\":\"2026-11-23T12:00:00Z\","
	                    "\"reason\":\"bad deploy \\\"v2\\\"\"}");
	/* Ticks keep it, whatever the weight says. */
	assert_int_equal(guard_tick(&g, &good, 11 * SEC).to, GUARD_ROLLED_BACK);

	/* No reason given. */
	guard_rearm(&g, W5, 20 * SEC);
	guard_rolled_back(&g, NULL, 21 * SEC);
	assert_string_equal(guard_reason(&g), "manual rollback");
	guard_rearm(&g, W5, 22 * SEC);
	guard_rolled_back(&g, "", 23 * SEC);
	assert_string_equal(guard_reason(&g), "manual rollback");

	/* Control characters and broken UTF-8 never reach the JSON. */
	guard_rearm(&g, W5, 24 * SEC);
	guard_rolled_back(&g, "a\tb\nc\\ \xff\xc3\xa9 \xe2\x82", 25 * SEC);
	assert_string_equal(guard_reason(&g), "a b c\\ ?\xc3\xa9 ??");
	assert_int_equal(fixed_format_json(&g, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"state\":\"rolled_back\",\"since\":null,"
	                    "\"reason\":\"a b c\\\\ ?\xc3\xa9 ??\"}");
}

static void test_copy_text_cuts_at_characters(void **unused)
{
	char dst[6];
	char big[2 * GUARD_REASON_MAX];
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;

	(void)unused;
	guard_copy_text(dst, sizeof(dst), "ab\xc3\xa9\xc3\xa9");     /* "abéé": 6 bytes */
	assert_string_equal(dst, "ab\xc3\xa9");
	guard_copy_text(dst, sizeof(dst), NULL);
	assert_string_equal(dst, "");
	guard_copy_text(dst, sizeof(dst), "\xed\xa0\x80");            /* a surrogate */
	assert_string_equal(dst, "???");
	guard_copy_text(dst, sizeof(dst), "\xf0\x9f\x98\x80!");        /* U+1F600 */
	assert_string_equal(dst, "\xf0\x9f\x98\x80!");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	guard_init(&g, &c, W5, 0);
	guard_rolled_back(&g, big, 1);
	assert_int_equal(strlen(guard_reason(&g)), GUARD_REASON_MAX - 1);
}

static void test_restore(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input good = traffic(600, 6);

	(void)unused;
	guard_init(&g, &c, 0, 0);
	assert_true(guard_restore(&g, GUARD_ROLLED_BACK, 0, 5));
	assert_int_equal(g.state, GUARD_ROLLED_BACK);
	assert_string_equal(guard_reason(&g), "rolled back before the restart");
	assert_int_equal(guard_tick(&g, &good, 6).to, GUARD_ROLLED_BACK);

	guard_init(&g, &c, W5, 0);
	assert_true(guard_restore(&g, GUARD_PAUSED, W5, 5));
	assert_int_equal(g.state, GUARD_PAUSED);
	assert_true(g.paused);
	guard_resume(&g, W5, 6);
	assert_int_equal(g.state, GUARD_WATCHING);

	guard_init(&g, &c, W5, 0);
	assert_false(guard_restore(&g, GUARD_BREACHING, W5, 5));
	assert_int_equal(g.state, GUARD_WATCHING);
	assert_true(guard_restore(&g, GUARD_PROMOTED, WEIGHT_SCALE, 5));
	assert_int_equal(g.state, GUARD_PROMOTED);
}

static void test_set_thresholds(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.05);
	struct guard g;
	struct guard_input in = traffic(1000, 40);        /* lower bound 0.0295 */
	struct cfg_thresholds th = no_thresholds();

	(void)unused;
	c.for_ms = 0;
	guard_init(&g, &c, W5, 0);
	assert_int_equal(guard_tick(&g, &in, 1 * SEC).kind, GUARD_VERDICT_NONE);
	th.max_error_rate = 0.02;
	guard_set_thresholds(&g, &th);
	assert_int_equal(guard_tick(&g, &in, 2 * SEC).kind, GUARD_VERDICT_ROLLBACK);
	/* A threshold that is not a round thousandth shows all its digits. */
	guard_rearm(&g, W5, 3 * SEC);
	th.max_error_rate = 0.0015;
	guard_set_thresholds(&g, &th);
	in = traffic(10000, 40);
	assert_int_equal(guard_tick(&g, &in, 4 * SEC).kind, GUARD_VERDICT_ROLLBACK);
	assert_string_equal(g.breach.reason,
	                    "canary error_rate 0.0040 (95% lower bound 0.0029) > 0.0015 for 0s");
}

/* ---- output ------------------------------------------------------------------ */

static void test_format_json(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input bad = traffic(100, 30);
	char buf[256], tiny[20];

	(void)unused;
	guard_init(&g, &c, W5, 0);
	assert_int_equal(fixed_format_json(&g, "2026-11-23T12:00:00Z", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"state\":\"watching\",\"since\":\"2026-11-23T12:00:00Z\","
	                    "\"reason\":null}");
	guard_tick(&g, &bad, 1 * SEC);
	guard_tick(&g, &bad, 3 * SEC);
	assert_int_equal(fixed_format_json(&g, "t", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"state\":\"breaching\",\"since\":\"t\",\"reason\":"
	                    "\"canary error_rate 0.300 (95% lower bound 0.219) > 0.020 for 2s\"}");
	assert_int_equal(fixed_format_json(&g, "t", tiny, sizeof(tiny)), -1);
	assert_true(strlen(tiny) < sizeof(tiny));
	assert_int_equal(fixed_format_json(&g, "t", tiny, 0), -1);
}

/* A reason longer than any the guard keeps. */
static const char *big_reason(void)
{
	static char text[2 * GUARD_REASON_MAX];

	memset(text, 'r', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	return text;
}

static void test_format_show(void **unused)
{
	struct cfg_guard c = cfg_error_rate(0.02);
	struct guard g;
	struct guard_input in = traffic(600, 6);
	char buf[GUARD_SHOW_MAX], tiny[64];
	int i;

	(void)unused;
	c.thresholds.max_p99_ratio = 1.5;
	guard_init(&g, &c, W5, 0);
	guard_tick(&g, &in, 1 * SEC);
	assert_int_equal(fixed_format_show(&g, 2 * SEC, "2026-11-23T12:00:00Z", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "state watching\n"));
	assert_non_null(strstr(buf, "since 2026-11-23T12:00:00Z\n"));
	assert_non_null(strstr(buf, "reason -\n"));
	assert_non_null(strstr(buf, "action rollback\n"));
	assert_non_null(strstr(buf, "interval 1s\nmin_requests 100\nfor 5s\n"));
	assert_non_null(strstr(buf, "max_error_rate 0.0200\n"));
	assert_non_null(strstr(buf, "max_p50_ms off\n"));
	assert_non_null(strstr(buf, "max_p99_ratio 1.50\n"));
	assert_non_null(strstr(buf, "canary_weight 5.00\n"));
	assert_non_null(strstr(buf, "judged yes\n"));
	assert_non_null(strstr(buf, "canary requests 600 errors 6 error_rate 0.0100 "
	                        "wilson95 0.0046..0.0216 p50_ms 10.0 p99_ms 100.0 p999_ms 300.0\n"));
	assert_non_null(strstr(buf, "baseline requests 10000 errors 100 "));
	assert_non_null(strstr(buf, "p99_ratio 1.00\n"));
	assert_non_null(strstr(buf, "last_breach none\n"));
	assert_int_equal(buf[strlen(buf) - 1], '\n');

	in = traffic(100, 30);
	guard_tick(&g, &in, 3 * SEC);
	in = traffic(50, 0);
	guard_tick(&g, &in, 4 * SEC);
	assert_int_equal(fixed_format_show(&g, 20 * SEC, NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "state breaching\nsince -\nreason canary error_rate"));
	assert_non_null(strstr(buf, "judged no (canary has 50 of 100 requests in the window)\n"));
	assert_non_null(strstr(buf, "last_breach 17s ago: canary error_rate 0.300"));
	assert_non_null(strstr(buf, "p999_ms 300.0\nerror_rate_increase -\n"));
	assert_int_equal(fixed_format_show(&g, 20 * SEC, NULL, tiny, sizeof(tiny)), -1);

	/* The largest output: long reasons, every number absurd. */
	c.thresholds.max_p99_ms = 1e300;
	c.thresholds.max_p50_ms = 1e300;
	c.thresholds.max_p999_ms = 1e300;
	c.min_requests = UINT64_MAX;
	guard_configure(&g, &c);
	guard_rolled_back(&g, big_reason(), 21 * SEC);
	g.breach.metric = GUARD_METRIC_P99;
	memcpy(g.breach.reason, g.state_reason, sizeof(g.breach.reason));
	for (i = 0; i < POOL_COUNT; i++) {
		g.last.pools[i] = (struct guard_pool_sample){ 1e300, 1e300, 1e300, 1e300, 1e300 };
		g.last.error_rate[i] = g.last.lower[i] = g.last.upper[i] = 1e300;
	}
	g.last.error_rate_increase = g.last.p99_ratio = -1e300;
	memset(g.last.note, 'n', sizeof(g.last.note) - 1);
	assert_int_equal(fixed_format_show(&g, UINT64_MAX, big_reason(), buf, sizeof(buf)), 0);
	assert_true(strlen(buf) < GUARD_SHOW_MAX / 2);
}

/* ---- a long healthy run ------------------------------------------------------- */

/* splitmix64: the test's own generator. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Binomial(n, p) by n coin flips. */
static unsigned rng_binomial(uint64_t *s, unsigned n, double p)
{
	unsigned i, k = 0;

	for (i = 0; i < n; i++)
		k += rng_unit(s) < p;
	return k;
}

/* Approximately standard normal (Irwin-Hall, 12 uniforms). */
static double rng_normal(uint64_t *s)
{
	double sum = 0.0;
	int i;

	for (i = 0; i < 12; i++)
		sum += rng_unit(s);
	return sum - 6.0;
}

#define WINDOW 30                       /* seconds, one slot per second */
#define TICKS 10000

struct slot {
	unsigned req[POOL_COUNT];
	unsigned err[POOL_COUNT];
};

/* One second of traffic: ~20 req/s to the canary (5 %), ~380 to the
 * baseline, each request an error with probability ERR_RATE[pool]. */
static void one_second(uint64_t *s, struct slot *sl, const double err_rate[POOL_COUNT])
{
	sl->req[POOL_CANARY] = rng_binomial(s, 40, 0.5);
	sl->req[POOL_BASELINE] = 360 + rng_binomial(s, 40, 0.5);
	sl->err[POOL_CANARY] = rng_binomial(s, sl->req[POOL_CANARY], err_rate[POOL_CANARY]);
	sl->err[POOL_BASELINE] = rng_binomial(s, sl->req[POOL_BASELINE], err_rate[POOL_BASELINE]);
}

/* The window's numbers; latencies are noisy but healthy on both sides. */
static struct guard_input window_input(uint64_t *s, const struct slot *ring)
{
	struct guard_input in = { .canary_weight = W5 };
	int p, i;

	for (p = 0; p < POOL_COUNT; p++) {
		for (i = 0; i < WINDOW; i++) {
			in.pools[p].requests += ring[i].req[p];
			in.pools[p].errors += ring[i].err[p];
		}
		in.pools[p].p50_ms = 20.0 + 2.0 * rng_normal(s);
		in.pools[p].p99_ms = 120.0 + 10.0 * rng_normal(s);
		in.pools[p].p999_ms = 300.0 + 30.0 * rng_normal(s);
	}
	return in;
}

static void test_long_healthy_run(void **unused)
{
	const double healthy[POOL_COUNT] = { 0.01, 0.01 }, broken[POOL_COUNT] = { 0.01, 0.10 };
	struct cfg_guard c = base_cfg();                 /* the documented defaults ... */
	struct slot ring[WINDOW];
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;
	uint64_t seed = 20261123, t;
	unsigned rollbacks = 0, breaching_ticks = 0, judged = 0, max_err = 0;

	(void)unused;
	c.thresholds.max_error_rate = 0.02;
	c.thresholds.max_error_rate_increase = 0.01;
	c.thresholds.max_p99_ratio = 1.5;
	c.thresholds.max_p99_ms = 200;                   /* ... and a latency bound */
	c.thresholds.max_p999_ms = 1000;
	memset(ring, 0, sizeof(ring));
	guard_init(&g, &c, W5, 0);
	for (t = 1; t <= TICKS; t++) {
		one_second(&seed, &ring[t % WINDOW], healthy);
		in = window_input(&seed, ring);
		v = guard_tick(&g, &in, t * SEC);
		rollbacks += v.kind == GUARD_VERDICT_ROLLBACK;
		assert_int_not_equal(v.kind, GUARD_VERDICT_ALERT);
		breaching_ticks += v.to == GUARD_BREACHING;
		judged += v.judged;
		if (in.pools[POOL_CANARY].errors > max_err)
			max_err = (unsigned)in.pools[POOL_CANARY].errors;
	}
	print_message("healthy run: %u ticks, %u judged, %u breaching, %u rollbacks, "
	              "max canary errors in a window %u; last breach: %s\n", TICKS, judged,
	              breaching_ticks, rollbacks, max_err,
	              g.breach.metric == GUARD_METRIC_NONE ? "none" : g.breach.reason);
	assert_int_equal(rollbacks, 0);
	assert_int_equal(g.state, GUARD_WATCHING);
	assert_true(judged >= TICKS - 10);              /* the first ~5 s fill the window */

	/* Then the canary breaks (10 % errors): rolled back well within the
	 * 30 s the product promises. */
	for (; t <= TICKS + 60; t++) {
		one_second(&seed, &ring[t % WINDOW], broken);
		in = window_input(&seed, ring);
		v = guard_tick(&g, &in, t * SEC);
		if (v.kind == GUARD_VERDICT_ROLLBACK)
			break;
	}
	print_message("broken canary rolled back after %llu s\n",
	              (unsigned long long)(t - TICKS));
	assert_int_equal(g.state, GUARD_ROLLED_BACK);
	assert_true(t - TICKS <= 30);
}


/* ---- latency confidence bounds -------------------------------------------- */

static void test_quantile_bound_pct(void **unused)
{
	(void)unused;
	/* n = 600, q = 0.99: rank 594 -/+ 1.96 * sqrt(5.94) = 589.2 / 598.8 -> 590 / 599 */
	assert_float_equal(guard_quantile_bound_pct(600, 0.99, false), 100.0 * 590 / 600, 1e-9);
	assert_float_equal(guard_quantile_bound_pct(600, 0.99, true), 100.0 * 599 / 600, 1e-9);
	/* n = 10000, q = 0.5: 5000 -/+ 98 */
	assert_float_equal(guard_quantile_bound_pct(10000, 0.5, false), 49.02, 1e-9);
	assert_float_equal(guard_quantile_bound_pct(10000, 0.5, true), 50.98, 1e-9);
	/* clamped to one sample .. all samples */
	assert_float_equal(guard_quantile_bound_pct(1, 0.99, false), 100.0, 1e-9);
	assert_float_equal(guard_quantile_bound_pct(3, 0.01, false), 100.0 / 3, 1e-9);
	assert_true(isnan(guard_quantile_bound_pct(0, 0.99, false)));
	assert_true(isnan(guard_quantile_bound_pct(100, 1.0, false)));
}

/* A fake window: the canary's latencies are one of two curves, the
 * baseline's another; each maps a percentile to milliseconds. */
struct fake_windows {
	double canary_shift_ms;
	int calls;
};

static double fake_quantile(void *ctx, enum pool_id pool, double pct)
{
	struct fake_windows *f = ctx;
	f->calls++;
	/* 1 ms up to the 98th percentile, then a steep tail: p99 = 3.1 ms,
	 * p98.33 = 1.6 ms. Both pools share it; the canary may be shifted. */
	double v = pct <= 98.0 ? 1.0 : 1.0 + (pct - 98.0) * 2.1;
	return pool == POOL_CANARY ? v + f->canary_shift_ms : v;
}

static void test_latency_bounds_against_noise(void **unused)
{
	struct cfg_guard c = base_cfg();
	struct fake_windows f = { 0, 0 };
	struct guard g;
	struct guard_input in;
	struct guard_verdict v;
	uint64_t t;

	(void)unused;
	c.thresholds.max_p99_ratio = 1.5;
	c.thresholds.max_p99_ms = 3.0;
	guard_init(&g, &c, W5, 0);
	/* The point estimates look bad: canary p99 3.1 ms against 1.5 ms and
	 * against 3.0 ms. But 600 samples cannot tell: the lower bound of the
	 * canary's p99 (rank 590 of 600, 98.33 %) is 1.7 ms, and the baseline's
	 * upper bound (10,000 samples) is in the same tail. No breach. */
	in = traffic(600, 0);
	in.pools[POOL_CANARY].p99_ms = 3.1;
	in.pools[POOL_BASELINE].p99_ms = 1.5;
	in.quantile_ms = fake_quantile;
	in.quantile_ctx = &f;
	for (t = 1; t <= 10; t++) {
		v = guard_tick(&g, &in, t * SEC);
		assert_int_equal(v.kind, GUARD_VERDICT_NONE);
		assert_int_equal(v.to, GUARD_WATCHING);
	}
	assert_true(f.calls > 0);
	assert_true(g.last.canary_lo_ms[1] < 2.0);
	/* Without the quantile function the same numbers breach. */
	struct guard g2;
	struct guard_input in2 = in;
	in2.quantile_ms = NULL;
	guard_init(&g2, &c, W5, 0);
	assert_int_equal(guard_tick(&g2, &in2, 1 * SEC).to, GUARD_BREACHING);

	/* A canary that is really slower (+50 ms everywhere) breaches at once
	 * and is rolled back after guard.for; the reason shows both numbers. */
	f.canary_shift_ms = 50.0;
	in.pools[POOL_CANARY].p99_ms = 53.1;
	v = guard_tick(&g, &in, 11 * SEC);
	assert_int_equal(v.to, GUARD_BREACHING);
	for (t = 12; t < 16; t++)
		assert_int_equal(guard_tick(&g, &in, t * SEC).kind, GUARD_VERDICT_NONE);
	v = guard_tick(&g, &in, 16 * SEC);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_non_null(strstr(v.reason, "canary p99 53.1ms (95% lower bound"));
	assert_non_null(strstr(v.reason, "> 3.0ms for 5s"));
}

/* ---- method "sequential" (guard_judge) ------------------------------------ */

static struct cfg_guard seq_cfg(void)
{
	struct cfg_guard c = base_cfg();

	c.method = GUARD_METHOD_SEQUENTIAL;
	c.alpha = 0.001;
	c.thresholds.max_error_rate = 0.05;
	c.thresholds.max_p99_ratio = 1.5;
	return c;
}

/* Both pools at 5 ms; REQ/ERR for the canary, 2000/10 for the baseline;
 * the whole run (segment 0). */
static int64_t seq_lo[1] = { 5000 }, seq_hi[1] = { 5004 };
static uint64_t seq_bcount[1], seq_ccount[1];

static void seq_traffic(struct guard_evidence *ev, uint64_t req, uint64_t err)
{
	seq_bcount[0] = 2000;
	seq_ccount[0] = req;
	ev->segment = 0;
	ev->span_ms = 10 * SEC;
	ev->pools[POOL_BASELINE] = (struct seq_pool){ 2000, 10, { 1, seq_lo, seq_hi, seq_bcount, 2000 }, 0 };
	ev->pools[POOL_CANARY] = (struct seq_pool){ req, err, { req ? 1 : 0, seq_lo, seq_hi, seq_ccount, req }, 0 };
}

static void test_sequential_rolls_back_at_once(void **unused)
{
	struct cfg_guard c = seq_cfg();
	struct guard g;
	struct guard_evidence pools[1];
	struct guard_verdict v;
	char buf[GUARD_SHOW_MAX];

	(void)unused;
	guard_init(&g, &c, W5, 0);
	assert_true(g.seq_ready);
	/* no canary request yet: not judged */
	seq_traffic(pools, 0, 0);
	v = guard_judge(&g, pools, 1, W5, 200);
	assert_false(v.judged);
	assert_string_equal(g.last.note, "no canary requests since the run started");
	/* 2 errors of 40: judged, not rejected, no min_requests gate */
	seq_traffic(pools, 40, 2);
	v = guard_judge(&g, pools, 1, W5, 400);
	assert_true(v.judged);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);
	assert_int_equal(g.state, GUARD_WATCHING);
	assert_true(g.tests_valid && g.tests[SEQ_ERROR_RATE].evidence < 1.0);
	/* 19 of 63: rolled back at this very judgement, no `for` */
	seq_traffic(pools, 63, 19);
	v = guard_judge(&g, pools, 1, W5, 600);
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_int_equal(v.from, GUARD_WATCHING);
	assert_int_equal(v.to, GUARD_ROLLED_BACK);
	assert_int_equal(g.breach.metric, GUARD_METRIC_ERROR_RATE);
	assert_non_null(strstr(v.reason, "canary error_rate 0.302 ["));
	assert_non_null(strstr(v.reason, "] > 0.050 (sequential test error_rate, canary n=63, "
	                                 "baseline n=2000, alpha=0.0005)"));
	assert_string_equal(guard_reason(&g), v.reason);
	/* show guard lists the tests */
	assert_int_equal(fixed_format_show(&g, 1 * SEC, NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "method sequential\nalpha 0.001\n"));
	assert_non_null(strstr(buf, "test error_rate evidence "));
	assert_non_null(strstr(buf, " threshold 0.0500 n_canary 63 n_baseline 2000 rejected\n"));
	assert_non_null(strstr(buf, "test p99_ratio evidence "));
	/* sticky until re-armed; the re-arm starts the evidence over */
	assert_int_equal(guard_judge(&g, pools, 1, W5, 800).to, GUARD_ROLLED_BACK);
	guard_rearm(&g, W5, 1 * SEC);
	assert_false(g.tests_valid);
	assert_int_equal(fixed_format_tests_json(&g, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "\"method\":\"sequential\",\"alpha\":0.001,\"tests\":["
	                    "{\"name\":\"error_rate\",\"evidence\":null,\"estimate\":null,"
	                    "\"interval\":[null,null],\"n_canary\":null,\"n_baseline\":null,"
	                    "\"threshold\":0.05,\"rejected\":false},"
	                    "{\"name\":\"p99_ratio\",\"evidence\":null,\"estimate\":null,"
	                    "\"interval\":[null,null],\"n_canary\":null,\"n_baseline\":null,"
	                    "\"threshold\":1.5,\"rejected\":false}]");
	seq_traffic(pools, 40, 0);
	assert_int_equal(guard_judge(&g, pools, 1, W5, 1200).kind, GUARD_VERDICT_NONE);
	assert_int_equal(fixed_format_tests_json(&g, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"n_canary\":40,\"n_baseline\":2000,\"threshold\":0.05"));
	/* the window rule's members */
	guard_configure(&g, &(struct cfg_guard){ .method = GUARD_METHOD_WINDOW, .alpha = 0.001 });
	assert_int_equal(fixed_format_tests_json(&g, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "\"method\":\"window\",\"alpha\":0.001,\"tests\":[]");
	assert_int_equal(fixed_format_tests_json(&g, buf, 10), -1);
}

/* guard_within: a rollout's proof of health. Not rejecting is not enough;
 * every test's interval over the run must lie below its threshold. */
static void test_sequential_within(void **unused)
{
	struct cfg_guard c = seq_cfg();
	struct guard g;
	struct guard_evidence ev[1];
	char why[GUARD_REASON_MAX];

	(void)unused;
	c.method = GUARD_METHOD_WINDOW;
	guard_init(&g, &c, W5, 0);
	assert_true(guard_within(&g, why, sizeof(why)));
	c.method = GUARD_METHOD_SEQUENTIAL;
	guard_init(&g, &c, W5, 0);
	assert_false(guard_within(&g, why, sizeof(why)));
	assert_string_equal(why, "no judgement yet in this run");
	/* 40 clean requests: far from rejected, but 0 of 40 does not show a
	 * rate below 5 % at this level */
	seq_traffic(ev, 40, 0);
	assert_int_equal(guard_judge(&g, ev, 1, W5, 200).kind, GUARD_VERDICT_NONE);
	assert_false(guard_within(&g, why, sizeof(why)));
	assert_non_null(strstr(why, "error_rate upper bound 0."));
	assert_non_null(strstr(why, ", not yet below 0.05"));
	assert_non_null(strstr(why, "(canary n=40, baseline n=2000)"));
	/* 2000 requests, 0.5 % errors, the baseline's latency: shown */
	seq_traffic(ev, 2000, 10);
	assert_int_equal(guard_judge(&g, ev, 1, W5, 400).kind, GUARD_VERDICT_NONE);
	assert_true(guard_within(&g, why, sizeof(why)));
	assert_string_equal(why, "");
	/* 4 % of 2000: within the threshold, not shown to be */
	seq_traffic(ev, 2000, 80);
	guard_init(&g, &c, W5, 0);
	assert_int_equal(guard_judge(&g, ev, 1, W5, 200).kind, GUARD_VERDICT_NONE);
	assert_false(guard_within(&g, why, 0));
}

/* A failure after ten healthy minutes (20 canary requests/s, 1 % errors,
 * judged every 200 ms): the change-point detector catches it within a few
 * seconds, and the reason shows the failure's own rate and span. */
static void test_sequential_late_failure(void **unused)
{
	struct cfg_guard c = seq_cfg();
	struct guard g;
	struct guard_evidence ev[1];
	struct guard_verdict v = { .kind = GUARD_VERDICT_NONE };
	uint64_t n = 0, k = 0, t, seed = 5, broke = 600 * SEC;

	(void)unused;
	guard_init(&g, &c, W5, 0);
	for (t = 200; t <= 700 * SEC && v.kind == GUARD_VERDICT_NONE; t += 200) {
		for (int i = 0; i < 4; i++) {
			double u = (double)(rng_next(&seed) >> 11) / 9007199254740992.0;

			n++;
			k += u < (t > broke ? 0.30 : 0.01);
		}
		seq_traffic(ev, n, k);
		v = guard_judge(&g, ev, 1, W5, t);
	}
	assert_int_equal(v.kind, GUARD_VERDICT_ROLLBACK);
	assert_true(t > broke);
	print_message("late failure: rolled back %.1f s after it began\n", (double)(t - broke) / SEC);
	assert_true(t - broke < 10 * SEC);
	assert_non_null(strstr(v.reason, "(sequential test error_rate over the last "));
	/* the rate shown is the failure's, not the run's (~1.2 %) */
	assert_true(g.tests[SEQ_ERROR_RATE].estimate > 0.15);
	assert_true(g.tests[SEQ_ERROR_RATE].n_canary < 200);
	/* the start weights sum to 1: 1/2 + (c+1)/2 (1/(c+1) - 1/(N+c)) up to N */
	double sum = 0.0, shift = SEQ_START_SHIFT;
	for (uint64_t j = 0; j < 1000000; j++)
		sum += seq_start_weight(j);
	assert_true(sum <= 1.0);
	assert_true(fabs(sum - (1.0 - 0.5 * (shift + 1.0) / (1e6 + shift))) < 1e-9);
	assert_true(fabs(seq_stream_alpha(0.001, 60) - 0.001 / (2.0 * 60 * 61)) < 1e-18);
}

static void test_sequential_alert_and_arming(void **unused)
{
	struct cfg_guard c = seq_cfg();
	struct guard g;
	struct guard_evidence pools[1];
	struct guard_verdict v;

	(void)unused;
	c.action = GUARD_ACTION_ALERT;
	guard_init(&g, &c, W5, 0);
	seq_traffic(pools, 100, 40);
	v = guard_judge(&g, pools, 1, W5, 200);
	assert_int_equal(v.kind, GUARD_VERDICT_ALERT);
	assert_int_equal(v.to, GUARD_BREACHING);
	v = guard_judge(&g, pools, 1, W5, 400);
	assert_int_equal(v.kind, GUARD_VERDICT_NONE);      /* one alert per episode */
	assert_int_equal(v.to, GUARD_BREACHING);
	/* weight 0 and 100 % judge nothing; paused neither */
	assert_int_equal(guard_judge(&g, pools, 1, 0, 600).to, GUARD_IDLE);
	assert_int_equal(guard_judge(&g, pools, 1, WEIGHT_SCALE, 800).to, GUARD_PROMOTED);
	guard_pause(&g, 900);
	assert_false(guard_judge(&g, pools, 1, W5, 1000).judged);
	guard_resume(&g, W5, 1100);
	assert_false(g.tests_valid);
	/* a reload that changes nothing keeps the evidence; new thresholds restart it */
	seq_traffic(pools, 100, 1);
	guard_judge(&g, pools, 1, W5, 1150);
	assert_true(g.tests_valid);
	guard_configure(&g, &c);
	assert_true(g.tests_valid);
	c.thresholds.max_error_rate = 0.04;
	guard_configure(&g, &c);
	assert_false(g.tests_valid);
	/* a bad alpha (hand-made settings): nothing judged, said so */
	c.alpha = 0.7;
	guard_configure(&g, &c);
	assert_false(g.seq_ready);
	v = guard_judge(&g, pools, 1, W5, 1200);
	assert_false(v.judged);
	assert_non_null(strstr(g.last.note, "not set up"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names_round_trip),
		cmocka_unit_test(test_wilson_by_hand),
		cmocka_unit_test(test_init_state_from_weight),
		cmocka_unit_test(test_idle_and_promoted_do_not_judge),
		cmocka_unit_test(test_disabled_guard_never_judges),
		cmocka_unit_test(test_min_requests_gate),
		cmocka_unit_test(test_gate_during_episode),
		cmocka_unit_test(test_for_hysteresis),
		cmocka_unit_test(test_for_measured_in_ms),
		cmocka_unit_test(test_for_tolerates_tick_jitter),
		cmocka_unit_test(test_p99_ratio_skipped_when_baseline_fails),
		cmocka_unit_test(test_for_zero_acts_at_once),
		cmocka_unit_test(test_wilson_noise_does_not_breach),
		cmocka_unit_test(test_wilson_boundary),
		cmocka_unit_test(test_error_rate_increase),
		cmocka_unit_test(test_p99_ratio),
		cmocka_unit_test(test_zero_baseline_traffic),
		cmocka_unit_test(test_zero_baseline_errors_and_p99),
		cmocka_unit_test(test_nan_and_garbage_inputs),
		cmocka_unit_test(test_latency_thresholds),
		cmocka_unit_test(test_p999_needs_1000_samples),
		cmocka_unit_test(test_reason_precision),
		cmocka_unit_test(test_breach_order),
		cmocka_unit_test(test_alert_once_per_episode),
		cmocka_unit_test(test_alert_then_reload_to_rollback),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_rearm),
		cmocka_unit_test(test_manual_rollback),
		cmocka_unit_test(test_copy_text_cuts_at_characters),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_set_thresholds),
		cmocka_unit_test(test_format_json),
		cmocka_unit_test(test_format_show),
		cmocka_unit_test(test_long_healthy_run),
		cmocka_unit_test(test_quantile_bound_pct),
		cmocka_unit_test(test_latency_bounds_against_noise),
		cmocka_unit_test(test_sequential_rolls_back_at_once),
		cmocka_unit_test(test_sequential_within),
		cmocka_unit_test(test_sequential_late_failure),
		cmocka_unit_test(test_sequential_alert_and_arming),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
