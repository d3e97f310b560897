/* Unit tests for stats: the arithmetic of the since-start total, the sliding
 * window and the step, with explicit NOW_MS values; abandoned and overridden
 * requests; the exact since-start latency sum; stale slots, the slot size
 * of long windows, and the run views the sequential guard reads, with the
 * requests in flight. */
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

/* A slot is reused only for its own second: a second that left the window
 * no longer counts, and the slot it shared the ring position with starts
 * from zero when a later second is folded into it. */
static void test_stale_slots(void **state)
{
	struct fixture *f = *state;
	const struct stats_view *w = &f->snap->pools[POOL_CANARY].window;

	stats_interval_record(&f->iv, 100, true);
	stats_flush(f->s, POOL_CANARY, &f->iv, 3200);             /* second 3, ring slot 3 */
	stats_snapshot_take(f->s, 12999, f->snap);                 /* seconds 3..12 */
	assert_int_equal(w->requests, 1);
	stats_snapshot_take(f->s, 13000, f->snap);                 /* seconds 4..13 */
	assert_int_equal(w->requests, 0);
	assert_int_equal(hdr_count(w->latency_us), 0);

	stats_interval_record(&f->iv, 200, false);
	stats_interval_record(&f->iv, 300, false);
	stats_flush(f->s, POOL_CANARY, &f->iv, 23500);            /* second 23: ring slot 3 again */
	stats_snapshot_take(f->s, 23600, f->snap);
	assert_int_equal(w->requests, 2);
	assert_int_equal(w->errors, 0);
	assert_int_equal(w->latency_sum_us, 500);
	assert_int_equal(f->snap->pools[POOL_CANARY].total.requests, 3);
	/* The other pool saw nothing. */
	assert_int_equal(f->snap->pools[POOL_BASELINE].window.requests, 0);
}

/* Windows over a minute use slots of several seconds (at most 60 slots):
 * 150 s are 50 slots of 3 s, and the window is whole slots. */
static void test_long_window_slot_size(void **state)
{
	struct fixture *f = *state;
	struct stats *s = stats_new(150000);

	assert_non_null(s);
	assert_int_equal(s->slot_ms, 3000);
	assert_int_equal(s->nslots, 50);
	stats_interval_record(&f->iv, 100, false);
	stats_flush(s, POOL_BASELINE, &f->iv, 2999);               /* slot 0 */
	stats_interval_record(&f->iv, 100, false);
	stats_flush(s, POOL_BASELINE, &f->iv, 3000);               /* slot 1 */
	stats_snapshot_take(s, 149999, f->snap);                    /* slots 0..49 */
	assert_int_equal(f->snap->window_ms, 150000);
	assert_int_equal(f->snap->pools[POOL_BASELINE].window.requests, 2);
	stats_snapshot_take(s, 150000, f->snap);                    /* slots 1..50 */
	assert_int_equal(f->snap->pools[POOL_BASELINE].window.requests, 1);
	/* Since 4 s: the slot holding it (3..6 s) is included. */
	stats_snapshot_take_since(s, 10000, 4000, f->snap);
	assert_int_equal(f->snap->pools[POOL_BASELINE].window.requests, 1);
	stats_free(s);
	assert_null(stats_new(999));                                /* below one slot */
}

/* The run views: a fold or a reset makes them new (stats_take_run copies
 * once per change), a reset starts them from zero, the total keeps all. */
static void test_run_views(void **state)
{
	struct fixture *f = *state;
	struct stats_view run[POOL_COUNT];
	uint64_t gen = UINT64_MAX;

	for (int p = 0; p < POOL_COUNT; p++)
		assert_int_equal(stats_run_view_init(&run[p]), 0);
	stats_interval_record(&f->iv, 1000, true);
	stats_flush(f->s, POOL_CANARY, &f->iv, 500);
	assert_true(stats_take_run(f->s, run, &gen));
	assert_int_equal(run[POOL_CANARY].requests, 1);
	assert_int_equal(run[POOL_CANARY].errors, 1);
	assert_false(stats_take_run(f->s, run, &gen));              /* nothing new */

	stats_flush(f->s, POOL_CANARY, &f->iv, 600);               /* an empty interval folds nothing */
	assert_false(stats_take_run(f->s, run, &gen));

	stats_reset_run(f->s);
	assert_true(stats_take_run(f->s, run, &gen));
	assert_int_equal(run[POOL_CANARY].requests, 0);
	assert_int_equal(hdr_count(run[POOL_CANARY].latency_us), 0);
	stats_interval_overridden(&f->iv);
	stats_flush(f->s, POOL_CANARY, &f->iv, 700);
	assert_true(stats_take_run(f->s, run, &gen));
	assert_int_equal(run[POOL_CANARY].overridden, 1);
	assert_int_equal(run[POOL_CANARY].requests, 0);
	stats_snapshot_take(f->s, 800, f->snap);
	assert_int_equal(f->snap->pools[POOL_CANARY].total.requests, 1);
	for (int p = 0; p < POOL_COUNT; p++)
		stats_run_view_dispose(&run[p]);
}

/* Requests in flight: each worker's gauge replaces its own part of the
 * pool's sum, a change of the gauge alone is news for the guard (a stall
 * finishes nothing), and a reset of the run keeps them (they are still on
 * their way). */
static void test_in_flight(void **state)
{
	struct fixture *f = *state;
	struct stats_interval other;      /* a second worker */
	struct stats_view run[POOL_COUNT];
	uint64_t gen = UINT64_MAX;

	assert_int_equal(stats_interval_init(&other), 0);
	for (int p = 0; p < POOL_COUNT; p++)
		assert_int_equal(stats_run_view_init(&run[p]), 0);
	f->iv.in_flight = 7;
	stats_flush(f->s, POOL_BASELINE, &f->iv, 100);
	other.in_flight = 5;
	stats_flush(f->s, POOL_BASELINE, &other, 150);
	assert_true(stats_take_run(f->s, run, &gen));
	assert_int_equal(run[POOL_BASELINE].in_flight, 12);
	assert_int_equal(run[POOL_BASELINE].requests, 0);
	assert_int_equal(run[POOL_CANARY].in_flight, 0);

	f->iv.in_flight = 7;                                     /* unchanged: no news */
	stats_flush(f->s, POOL_BASELINE, &f->iv, 200);
	assert_false(stats_take_run(f->s, run, &gen));

	stats_interval_record(&f->iv, 1000, false);              /* one of them answered */
	f->iv.in_flight = 6;
	stats_flush(f->s, POOL_BASELINE, &f->iv, 300);
	assert_true(stats_take_run(f->s, run, &gen));
	assert_int_equal(run[POOL_BASELINE].in_flight, 11);
	assert_int_equal(run[POOL_BASELINE].requests, 1);
	assert_int_equal(f->iv.in_flight, 6);                    /* the gauge stays */

	stats_reset_run(f->s);
	assert_true(stats_take_run(f->s, run, &gen));
	assert_int_equal(run[POOL_BASELINE].in_flight, 11);
	assert_int_equal(run[POOL_BASELINE].requests, 0);

	f->iv.in_flight = 0;                                     /* both workers done */
	other.in_flight = 0;
	stats_flush(f->s, POOL_BASELINE, &f->iv, 400);
	stats_flush(f->s, POOL_BASELINE, &other, 400);
	assert_true(stats_take_run(f->s, run, &gen));
	assert_int_equal(run[POOL_BASELINE].in_flight, 0);
	stats_snapshot_take(f->s, 500, f->snap);                 /* other views: never */
	assert_int_equal(f->snap->pools[POOL_BASELINE].total.in_flight, 0);
	for (int p = 0; p < POOL_COUNT; p++)
		stats_run_view_dispose(&run[p]);
	stats_interval_dispose(&other);
}

/* F's snapshot's canary window equals the slots of [since, now] added one
 * by one (WANT: scratch). */
static void check_window(struct fixture *f, struct hdr *want, uint64_t now, uint64_t since)
{
	int64_t newest = (int64_t)(now / f->s->slot_ms);
	int64_t oldest = newest - (int64_t)f->s->nslots + 1;
	uint64_t requests = 0, errors = 0, sum = 0;

	if ((int64_t)(since / f->s->slot_ms) > oldest)
		oldest = (int64_t)(since / f->s->slot_ms);
	hdr_reset(want);
	for (size_t i = 0; i < f->s->nslots; i++) {
		const struct stats_slot *slot = &f->s->pools[POOL_CANARY].ring[i];
		if (slot->epoch < oldest || slot->epoch > newest)
			continue;
		requests += slot->v.requests;
		errors += slot->v.errors;
		sum += slot->v.latency_sum_us;
		assert_int_equal(hdr_add(want, slot->v.latency_us), 0);
	}
	const struct stats_view *w = &f->snap->pools[POOL_CANARY].window;
	assert_int_equal(w->requests, requests);
	assert_int_equal(w->errors, errors);
	assert_int_equal(w->latency_sum_us, sum);
	assert_int_equal(hdr_count(w->latency_us), hdr_count(want));
	assert_int_equal(hdr_min(w->latency_us), hdr_min(want));
	assert_int_equal(hdr_max(w->latency_us), hdr_max(want));
	for (double pct = 10; pct <= 100; pct += 22.5)
		assert_int_equal(hdr_value_at_percentile(w->latency_us, pct), hdr_value_at_percentile(want, pct));
	assert_int_equal(hdr_value_at_percentile(w->latency_us, 99.9), hdr_value_at_percentile(want, 99.9));
}

/* The window from the cached sum of closed slots equals the window summed
 * slot by slot, whatever the order of flushes and snapshots: flushes late
 * into a closed slot, early into a slot the snapshot has not reached,
 * snapshots several times a slot, since moving, the ring wrapping. */
static void test_window_cache_exact(void **state)
{
	struct fixture *f = *state;
	struct hdr *want = hdr_new(STATS_LOWEST_US, STATS_HIGHEST_US, STATS_SIGFIGS);
	uint64_t seed = 12345, now = 0, since = 0;
	struct stats_view win[POOL_COUNT], tot[POOL_COUNT];

	assert_non_null(want);
	for (int p = 0; p < POOL_COUNT; p++)
		assert_int_equal(stats_run_view_init(&win[p]) | stats_run_view_init(&tot[p]), 0);
	for (int step = 0; step < 6000; step++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		unsigned r = (unsigned)(seed >> 33);
		now += r % 400;                              /* 0-0.4 s on */
		uint64_t at = now;
		if (r % 13 == 0 && now >= 2000)
			at = now - 1000 - r % 1000;              /* late, into a closed slot */
		else if (r % 17 == 0)
			at = now + 1000;                         /* a worker's clock a slot ahead */
		if (r % 3 != 0) {
			for (unsigned k = 0; k < 1 + r % 4; k++)
				stats_interval_record(&f->iv, 50 + (r >> (k + 3)) % 200000, (r >> k) & 1);
			stats_flush(f->s, POOL_CANARY, &f->iv, at);
		}
		if (r % 97 == 0)                             /* a re-armed guard */
			since = now > r % 5000 ? now - r % 5000 : 0;
		else if (r % 89 == 0)
			since = now + 1500;                      /* a window that starts later */
		/* the status page's window from the start, between the guard's */
		if (r % 5 == 0) {
			stats_snapshot_take(f->s, now, f->snap);
			check_window(f, want, now, 0);
		}
		stats_snapshot_take_since(f->s, now, since, f->snap);
		check_window(f, want, now, since);
		const struct stats_view *w = &f->snap->pools[POOL_CANARY].window;

		/* what a fleet member publishes: the same window and total */
		stats_take_window_total(f->s, now, since, win, tot);
		const struct stats_view *t = &f->snap->pools[POOL_CANARY].total;
		assert_int_equal(win[POOL_CANARY].requests, w->requests);
		assert_int_equal(win[POOL_CANARY].latency_sum_us, w->latency_sum_us);
		assert_int_equal(hdr_count(win[POOL_CANARY].latency_us), hdr_count(w->latency_us));
		assert_int_equal(hdr_max(win[POOL_CANARY].latency_us), hdr_max(w->latency_us));
		assert_int_equal(tot[POOL_CANARY].requests, t->requests);
		assert_int_equal(hdr_count(tot[POOL_CANARY].latency_us), hdr_count(t->latency_us));
		assert_int_equal(hdr_value_at_percentile(tot[POOL_CANARY].latency_us, 99.0),
		                 hdr_value_at_percentile(t->latency_us, 99.0));
	}
	for (int p = 0; p < POOL_COUNT; p++) {
		stats_run_view_dispose(&win[p]);
		stats_run_view_dispose(&tot[p]);
	}
	hdr_free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_total_and_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_judged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_not_judged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overridden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_slots_and_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_window_slot_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_views, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_cache_exact, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
