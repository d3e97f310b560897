/* Unit tests for stats: the arithmetic of the since-start total, the sliding
 * window and the step, with explicit NOW_MS values; abandoned and overridden
 * requests; the exact since-start latency sum. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "weir/stats.h"

struct fixture {
	struct stats *s;
	struct stats_interval iv;
	struct stats_snapshot *snap;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->s = stats_new(10000);          /* 10 slots of 1 s */
	f->snap = stats_snapshot_new();
	if (!f->s || !f->snap || stats_interval_init(&f->iv) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stats_interval_dispose(&f->iv);
	stats_snapshot_free(f->snap);
	stats_free(f->s);
	free(f);
	return 0;
}

static void test_total_and_window(void **state)
{
	struct fixture *f = *state;

	stats_interval_record(&f->iv, 1000, false);
	stats_interval_record(&f->iv, 3000, true);
	stats_flush(f->s, POOL_CANARY, &f->iv, 1500);
	assert_int_equal(f->iv.requests, 0);            /* the interval was reset */
	assert_int_equal(f->iv.latency_sum_us, 0);

	stats_snapshot_take(f->s, 2000, f->snap);
	const struct stats_view *t = &f->snap->pools[POOL_CANARY].total;
	const struct stats_view *w = &f->snap->pools[POOL_CANARY].window;
	assert_int_equal(t->requests, 2);
	assert_int_equal(t->errors, 1);
	assert_int_equal(t->latency_sum_us, 4000);
	assert_int_equal(w->requests, 2);
	assert_int_equal(w->latency_sum_us, 4000);
	assert_int_equal(f->snap->pools[POOL_BASELINE].total.requests, 0);

	/* The window lets the slot go 10 s later; the total keeps it. */
	stats_snapshot_take(f->s, 11500, f->snap);
	assert_int_equal(w->requests, 0);
	assert_int_equal(w->latency_sum_us, 0);
	assert_int_equal(t->requests, 2);
	assert_int_equal(t->latency_sum_us, 4000);
	assert_int_equal(hdr_count(t->latency_us), 2);
}

static void test_abandoned_judged(void **state)
{
	struct fixture *f = *state;

	stats_interval_abandoned(&f->iv, 1000000, true);
	stats_interval_record(&f->iv, 2000, false);
	stats_flush(f->s, POOL_CANARY, &f->iv, 500);
	stats_snapshot_take(f->s, 900, f->snap);
	const struct stats_view *w = &f->snap->pools[POOL_CANARY].window;
	assert_int_equal(w->abandoned, 1);
	assert_int_equal(w->requests, 2);             /* an abandoned request is one */
	assert_int_equal(w->errors, 1);               /* and an error */
	assert_int_equal(w->latency_sum_us, 1002000); /* with its wait as latency */
	assert_int_equal(hdr_count(w->latency_us), 2);
	assert_true(stats_view_percentile_ms(w, 100.0) >= 999.0);
	assert_int_equal(f->snap->pools[POOL_CANARY].total.abandoned, 1);
	assert_int_equal(f->snap->pools[POOL_CANARY].step.abandoned, 1);
}

static void test_abandoned_not_judged(void **state)
{
	struct fixture *f = *state;

	stats_interval_abandoned(&f->iv, 1000000, false);
	stats_interval_abandoned(&f->iv, 500000, false);
	/* Nothing but abandoned requests: the flush must still carry them. */
	stats_flush(f->s, POOL_BASELINE, &f->iv, 500);
	assert_int_equal(f->iv.abandoned, 0);
	stats_snapshot_take(f->s, 900, f->snap);
	const struct stats_view *t = &f->snap->pools[POOL_BASELINE].total;
	assert_int_equal(t->abandoned, 2);
	assert_int_equal(t->requests, 0);
	assert_int_equal(t->errors, 0);
	assert_int_equal(t->latency_sum_us, 0);
	assert_int_equal(hdr_count(t->latency_us), 0);
	assert_int_equal(f->snap->pools[POOL_BASELINE].window.abandoned, 2);
}

static void test_overridden(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 5; i++)
		stats_interval_overridden(&f->iv);
	stats_flush(f->s, POOL_CANARY, &f->iv, 3000);
	stats_snapshot_take(f->s, 3100, f->snap);
	const struct stats_view *w = &f->snap->pools[POOL_CANARY].window;
	assert_int_equal(w->overridden, 5);
	assert_int_equal(w->requests, 0);
	assert_int_equal(w->errors, 0);
	assert_int_equal(f->snap->pools[POOL_CANARY].total.overridden, 5);
	/* Out of the window after it passes; in the total for good. */
	stats_snapshot_take(f->s, 14000, f->snap);
	assert_int_equal(w->overridden, 0);
	assert_int_equal(f->snap->pools[POOL_CANARY].total.overridden, 5);
}

/* Slots of different seconds add up in the window; the step restarts. */
static void test_window_slots_and_step(void **state)
{
	struct fixture *f = *state;

	for (uint64_t sec = 0; sec < 15; sec++) {
		stats_interval_record(&f->iv, 100 * (sec + 1), false);
		stats_interval_abandoned(&f->iv, 7, true);
		stats_flush(f->s, POOL_CANARY, &f->iv, sec * 1000 + 10);
		if (sec == 4)
			stats_reset_step(f->s);
	}
	stats_snapshot_take(f->s, 14500, f->snap);
	const struct stats_view *t = &f->snap->pools[POOL_CANARY].total;
	const struct stats_view *w = &f->snap->pools[POOL_CANARY].window;
	const struct stats_view *st = &f->snap->pools[POOL_CANARY].step;
	/* Total: 15 seconds; latencies 100..1500 plus 15 x 7. */
	assert_int_equal(t->requests, 30);
	assert_int_equal(t->abandoned, 15);
	assert_int_equal(t->latency_sum_us, 100 * 120 + 15 * 7);
	/* Window: seconds 5..14, latencies 600..1500. */
	assert_int_equal(w->requests, 20);
	assert_int_equal(w->abandoned, 10);
	assert_int_equal(w->errors, 10);
	assert_int_equal(w->latency_sum_us, 100 * (120 - 15) + 10 * 7);
	/* Step: reset after second 4, so seconds 5..14 too. */
	assert_int_equal(st->requests, 20);
	assert_int_equal(st->abandoned, 10);
	/* Since a moment: the slot holding it and after. */
	stats_snapshot_take_since(f->s, 14500, 12000, f->snap);
	assert_int_equal(w->requests, 6);
	assert_int_equal(w->abandoned, 3);
	assert_int_equal(t->requests, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_total_and_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_judged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_not_judged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overridden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_slots_and_step, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
