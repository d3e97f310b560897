/* Unit tests for fleet.c's records: the weight record and the member
 * record each way, and every shape a corrupt record in etcd could take
 * refused whole (the member then keeps its weights); when a rollback that
 * waited for etcd is dropped; which measurements the judge merges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "weir/fleet.h"
#include "weir/hdr.h"
#include "weir/stats.h"

static void test_weights_round_trip(void **state)
{
	struct fleet_weights w = { .canary = 1250, .action = "set_weight", .actor = WEIGHTS_ACTOR_CONTROL,
	                           .reason = "", .node = "weir-a", .op = "weir-a/1700000000000/3" }, back;
	char err[256], *text;
	(void)state;

	text = fleet_weights_encode(&w);
	assert_non_null(text);
	assert_string_equal(text, "{\"canary\":1250,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,"
	                          "\"node\":\"weir-a\",\"op\":\"weir-a/1700000000000/3\"}");
	assert_int_equal(fleet_weights_decode(text, strlen(text), &back, err, sizeof(err)), 0);
	free(text);
	assert_int_equal(back.canary, w.canary);
	assert_string_equal(back.action, w.action);
	assert_int_equal(back.actor, w.actor);
	assert_string_equal(back.reason, w.reason);
	assert_string_equal(back.node, w.node);
	assert_string_equal(back.op, w.op);

	struct fleet_weights rb = { .canary = 0, .action = "rollback", .actor = WEIGHTS_ACTOR_GUARD,
	                            .reason = "canary error_rate \"0.3\" > 0.02", .node = "n", .op = "n/1/1" };
	text = fleet_weights_encode(&rb);
	assert_int_equal(fleet_weights_decode(text, strlen(text), &back, err, sizeof(err)), 0);
	assert_string_equal(back.reason, rb.reason);
	assert_int_equal(back.actor, WEIGHTS_ACTOR_GUARD);
	free(text);
}

static void test_weights_refused(void **state)
{
	static const struct {
		const char *value, *phrase;
	} cases[] = {
		{ "", "not JSON" },
		{ "{\"canary\": 9000, \"action\": \"set_weight\"", "not JSON" },
		{ "[]", "not a JSON object" },
		{ "{\"canary\":10001,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}", "canary" },
		{ "{\"canary\":-1,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}", "canary" },
		{ "{\"canary\":5.5,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}", "canary" },
		{ "{\"canary\":\"500\",\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}", "canary" },
		{ "{\"canary\":500,\"action\":\"drop\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}", "action drop" },
		{ "{\"canary\":500,\"action\":\"set_weight\",\"actor\":\"martian\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}", "actor" },
		{ "{\"canary\":500,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"op\":\"o\"}",
		  "node is missing" },
		{ "{\"canary\":500,\"action\":\"set_weight\",\"actor\":\"control\",\"node\":\"a\",\"op\":\"o\"}",
		  "reason is missing" },
		{ "{\"canary\":500,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"\",\"op\":\"o\"}", "node is empty" },
		{ "{\"canary\":500,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":7}", "op is not" },
		{ "{\"canary\":500,\"action\":\"rollback\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}", "a rollback with" },
		{ "{\"canary\":500,\"canary\":600,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\",\"op\":\"o\"}",
		  "not JSON" },
		{ "{\"canary\":500,\"action\":\"set_weight\",\"actor\":\"control\",\"reason\":null,\"node\":\"a\\u0000b\",\"op\":\"o\"}", "NUL" },
	};
	struct fleet_weights w;
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (fleet_weights_decode(cases[i].value, strlen(cases[i].value), &w, err, sizeof(err)) != -1 ||
		    !strstr(err, cases[i].phrase))
			fail_msg("case %zu: got \"%s\", want an error with \"%s\"", i, err, cases[i].phrase);
		assert_int_equal(w.canary, 0);
	}
	/* a reason longer than the record allows */
	char *big = malloc(FLEET_REASON_MAX + 200);
	int n = snprintf(big, FLEET_REASON_MAX + 200, "{\"canary\":0,\"action\":\"rollback\",\"actor\":\"guard\","
	                                              "\"node\":\"a\",\"op\":\"o\",\"reason\":\"%0*d\"}",
	                 FLEET_REASON_MAX + 1, 0);
	assert_int_equal(fleet_weights_decode(big, (size_t)n, &w, err, sizeof(err)), -1);
	free(big);
}

static void test_member(void **state)
{
	struct fleet_member_record m = { .node = "weir-b", .address = "127.0.0.1:8080", .applied_revision = 42 }, back;
	char err[256], *text;
	(void)state;

	text = fleet_member_encode(&m);
	assert_string_equal(text, "{\"node\":\"weir-b\",\"address\":\"127.0.0.1:8080\",\"applied_revision\":42}");
	assert_int_equal(fleet_member_decode(text, strlen(text), &back, err, sizeof(err)), 0);
	free(text);
	assert_string_equal(back.node, m.node);
	assert_string_equal(back.address, m.address);
	assert_int_equal(back.applied_revision, m.applied_revision);
	static const char *const bad[] = {
		"{\"node\":\"a\",\"address\":\"x y\",\"applied_revision\":1}",
		"{\"node\":\"a\",\"address\":\"x\",\"applied_revision\":-1}",
		"{\"node\":\"a\",\"address\":\"x\"}",
		"{\"address\":\"x\",\"applied_revision\":1}",
		"7",
		/* what would forge /stats.json or another member's key */
		"{\"node\":\"a\\\"b\",\"address\":\"x:1\",\"applied_revision\":1}",
		"{\"node\":\"a/b\",\"address\":\"x:1\",\"applied_revision\":1}",
		"{\"node\":\"..\",\"address\":\"x:1\",\"applied_revision\":1}",
		"{\"node\":\"a\",\"address\":\"x:1\\\",\\\"role\\\":\\\"leader\",\"applied_revision\":1}",
		"{\"node\":\"a\",\"address\":\"x:1\\\\\",\"applied_revision\":1}",
		"{\"node\":\"a\",\"address\":\"<b>:1\",\"applied_revision\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fleet_member_decode(bad[i], strlen(bad[i]), &back, err, sizeof(err)), -1);
	/* what a member publishes: host:port, [v6]:port, "-" without a listener */
	static const char *const good[] = {
		"{\"node\":\"weir_1.eu-west\",\"address\":\"[fe80::1%eth0]:8080\",\"applied_revision\":0}",
		"{\"node\":\"a\",\"address\":\"-\",\"applied_revision\":1}",
		"{\"node\":\"a\",\"address\":\"proxy-1.example.com:80\",\"applied_revision\":1}",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(fleet_member_decode(good[i], strlen(good[i]), &back, err, sizeof(err)), 0);
}

/* Retries (a rollback's write, joining again): 1 s, doubling, never beyond
 * the cap (30 s and 5 s in fleet.c) however many failures; the jitter takes
 * at most a quarter off, and never adds. */
static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(fleet_backoff_ms(0, 30000, 0), 1000);
	assert_int_equal(fleet_backoff_ms(1, 30000, 0), 1000);
	assert_int_equal(fleet_backoff_ms(2, 30000, 0), 2000);
	assert_int_equal(fleet_backoff_ms(3, 30000, 0), 4000);
	assert_int_equal(fleet_backoff_ms(5, 30000, 0), 16000);
	assert_int_equal(fleet_backoff_ms(6, 30000, 0), 30000);
	assert_int_equal(fleet_backoff_ms(40, 30000, 0), 30000);
	assert_int_equal(fleet_backoff_ms(~0u, 30000, 0), 30000);
	assert_int_equal(fleet_backoff_ms(3, 5000, 0), 4000);
	assert_int_equal(fleet_backoff_ms(4, 5000, 0), 5000);
	assert_int_equal(fleet_backoff_ms(~0u, 5000, 0), 5000);
	/* the largest draw: a quarter off, rounded towards the full delay */
	assert_int_equal(fleet_backoff_ms(1, 30000, UINT32_MAX), 751);
	assert_int_equal(fleet_backoff_ms(3, 30000, UINT32_MAX), 3001);
	assert_int_equal(fleet_backoff_ms(~0u, 30000, UINT32_MAX), 22501);
	assert_int_equal(fleet_backoff_ms(~0u, 5000, UINT32_MAX), 3751);
	assert_int_equal(fleet_backoff_ms(2, 30000, 1u << 31), 1750);
	for (unsigned n = 1; n < 12; n++)
		for (uint64_t r = 0; r <= UINT32_MAX; r += 0x10000001u) {
			uint32_t full = fleet_backoff_ms(n, 30000, 0), ms = fleet_backoff_ms(n, 30000, (uint32_t)r);
			assert_true(ms <= full && ms > full - full / 4);
		}
}

/* The bound: the ttl, within 2 and 5 s. */
static void test_watch_bound(void **state)
{
	(void)state;
	assert_int_equal(fleet_watch_bound_ms(1000), 2000);
	assert_int_equal(fleet_watch_bound_ms(2000), 2000);
	assert_int_equal(fleet_watch_bound_ms(3000), 3000);
	assert_int_equal(fleet_watch_bound_ms(5000), 5000);
	assert_int_equal(fleet_watch_bound_ms(300000), 5000);
}

/* A live watch: our puts come back, within the bound or before their
 * replies; a watch that brings nothing while puts commit is dead once the
 * oldest put waited for is older than the bound, not before. */
static void test_watchdog_silent(void **state)
{
	struct fleet_watchdog w;
	int64_t late;
	(void)state;

	fleet_watchdog_start(&w, 3000, 100, 10000);
	fleet_watchdog_created(&w);
	assert_int_equal(fleet_watchdog_check(&w, 60000, &late), FLEET_WATCH_LIVE); /* no put: nothing proven */
	fleet_watchdog_put(&w, 99, 10000);                                         /* before the watch: ignored */
	assert_int_equal(fleet_watchdog_check(&w, 60000, &late), FLEET_WATCH_LIVE);

	/* delivered within the bound */
	fleet_watchdog_put(&w, 100, 11000);
	assert_int_equal(fleet_watchdog_check(&w, 13999, &late), FLEET_WATCH_LIVE);
	fleet_watchdog_delivered(&w, 100);
	assert_int_equal(fleet_watchdog_check(&w, 20000, &late), FLEET_WATCH_LIVE);

	/* delivered before its reply came */
	fleet_watchdog_delivered(&w, 101);
	fleet_watchdog_put(&w, 101, 20000);
	assert_int_equal(fleet_watchdog_check(&w, 30000, &late), FLEET_WATCH_LIVE);

	/* two puts: the first comes, the second does not */
	fleet_watchdog_put(&w, 105, 30000);
	fleet_watchdog_put(&w, 108, 31000);
	fleet_watchdog_put(&w, 110, 31500);
	fleet_watchdog_delivered(&w, 104);
	assert_int_equal(fleet_watchdog_check(&w, 32999, &late), FLEET_WATCH_LIVE);
	fleet_watchdog_delivered(&w, 106); /* 105 came; 108 is waited for now, since 31000 */
	assert_int_equal(fleet_watchdog_check(&w, 33500, &late), FLEET_WATCH_LIVE);
	assert_int_equal(fleet_watchdog_check(&w, 34000, &late), FLEET_WATCH_SILENT);
	assert_int_equal(late, 108);
	/* everything came: live, and a later put is judged from its own time */
	fleet_watchdog_delivered(&w, 110);
	assert_int_equal(fleet_watchdog_check(&w, 90000, &late), FLEET_WATCH_LIVE);
	assert_int_equal(late, 0);
	fleet_watchdog_put(&w, 111, 90000);
	assert_int_equal(fleet_watchdog_check(&w, 92999, &late), FLEET_WATCH_LIVE);
	assert_int_equal(fleet_watchdog_check(&w, 93000, &late), FLEET_WATCH_SILENT);
	assert_int_equal(late, 111);

	/* stopped (the watch is gone): nothing to judge; started again: a
	 * clean slate from the new revision */
	fleet_watchdog_stop(&w);
	assert_int_equal(fleet_watchdog_check(&w, 99000, &late), FLEET_WATCH_LIVE);
	fleet_watchdog_put(&w, 120, 99000);
	fleet_watchdog_start(&w, 3000, 130, 99000);
	fleet_watchdog_created(&w);
	fleet_watchdog_put(&w, 125, 99000); /* committed before the new watch's start */
	assert_int_equal(fleet_watchdog_check(&w, 200000, &late), FLEET_WATCH_LIVE);
}

/* A watch whose "created" does not come within the bound is dead; one that
 * was created is judged by the puts only. */
static void test_watchdog_not_created(void **state)
{
	struct fleet_watchdog w;
	int64_t late;
	(void)state;

	fleet_watchdog_start(&w, 2000, 0, 5000);
	assert_int_equal(fleet_watchdog_check(&w, 6999, &late), FLEET_WATCH_LIVE);
	assert_int_equal(fleet_watchdog_check(&w, 7000, &late), FLEET_WATCH_NOT_CREATED);
	fleet_watchdog_created(&w);
	assert_int_equal(fleet_watchdog_check(&w, 7000, &late), FLEET_WATCH_LIVE);
	/* from 0 (now on): every revision is new */
	fleet_watchdog_put(&w, 1, 7000);
	assert_int_equal(fleet_watchdog_check(&w, 9000, &late), FLEET_WATCH_SILENT);
	assert_int_equal(late, 1);
}

/* RISK 8: a rollback that waited for etcd is dropped only for an
 * operator's record committed after the revision it was decided on. */
static void test_rollback_outdated(void **state)
{
	struct fleet_weights op = { .canary = 10000, .action = "promote", .actor = WEIGHTS_ACTOR_CONTROL,
	                            .node = "weir-b", .op = "weir-b/1/2" };
	struct fleet_weights set = { .canary = 1000, .action = "set_weight", .actor = WEIGHTS_ACTOR_CONTROL,
	                             .node = "weir-b", .op = "weir-b/1/1" };
	struct fleet_weights adv = { .canary = 5000, .action = "advance", .actor = WEIGHTS_ACTOR_ROLLOUT,
	                             .node = "weir-c", .op = "weir-c/1/1" };
	struct fleet_weights alert = { .canary = 2500, .action = "set_weight", .actor = WEIGHTS_ACTOR_GUARD,
	                               .node = "weir-c", .op = "weir-c/1/2" };
	struct fleet_weights first = { .canary = 500, .action = "set_weight", .actor = WEIGHTS_ACTOR_CONFIG,
	                               .node = "weir-c", .op = "weir-c/1/3" };
	struct fleet_weights orb = { .canary = 0, .action = "rollback", .actor = WEIGHTS_ACTOR_CONTROL,
	                             .node = "weir-b", .op = "weir-b/1/3" };
	(void)state;

	/* the operator decided after the base: the rollback goes */
	assert_true(fleet_rollback_outdated(40, &op, 52));
	assert_true(fleet_rollback_outdated(40, &set, 41));
	/* the operator's record is the one the rollback was decided on, or older */
	assert_false(fleet_rollback_outdated(40, &set, 40));
	assert_false(fleet_rollback_outdated(40, &set, 12));
	/* newer, but automatic (another member's guard or rollout), or the
	 * fleet's first weights again: a rollback wins over those */
	assert_false(fleet_rollback_outdated(40, &adv, 52));
	assert_false(fleet_rollback_outdated(40, &alert, 52));
	assert_false(fleet_rollback_outdated(40, &first, 52));
	/* an operator's rollback agrees with it: written (or found there) as before */
	assert_false(fleet_rollback_outdated(40, &orb, 52));
	/* base unknown (a state file of an older weir): the rollback wins, as before */
	assert_false(fleet_rollback_outdated(0, &op, 52));
	assert_false(fleet_rollback_outdated(-1, &op, 52));
	/* no readable record in etcd */
	assert_false(fleet_rollback_outdated(40, NULL, 52));
}

/* One member's record: REQUESTS canary requests at LAT_US each in every
 * view, ERRORS of them errors, measured under weights revision REV. */
static void metrics_fill(struct fleet_metrics *m, const char *node, int64_t rev, uint64_t requests,
                         uint64_t errors, int64_t lat_us)
{
	snprintf(m->node, sizeof(m->node), "%s", node);
	m->revision = rev;
	m->valid = true;
	for (int p = 0; p < POOL_COUNT; p++)
		for (int k = 0; k < FLEET_VIEWS; k++) {
			struct stats_view *v = &m->v[p][k];
			assert_int_equal(stats_run_view_init(v), 0);
			v->requests = requests;
			v->errors = errors;
			v->latency_sum_us = requests * (uint64_t)lat_us;
			hdr_record_n(v->latency_us, lat_us, requests);
		}
}

/* RISK 9: the member that judges merges only the windows and runs measured
 * under the weights revision it judges; the totals (and the status) take
 * every valid record. */
static void test_merge_filter(void **state)
{
	struct fleet_metrics m[4];
	struct stats_view out[POOL_COUNT];
	(void)state;

	memset(m, 0, sizeof(m));
	metrics_fill(&m[0], "weir-1", 70, 100, 1, 1000);     /* applied revision 70 */
	metrics_fill(&m[1], "weir-2", 70, 50, 0, 3000);
	metrics_fill(&m[2], "weir-3", 64, 400, 120, 90000);  /* still under the previous weights */
	metrics_fill(&m[3], "weir-4", 70, 10, 10, 5000);
	m[3].valid = false;                                  /* its last record was refused */
	for (int p = 0; p < POOL_COUNT; p++)
		assert_int_equal(stats_run_view_init(&out[p]), 0);

	fleet_merge(m, 4, FLEET_WINDOW, 70, out);
	assert_int_equal(out[POOL_CANARY].requests, 150);
	assert_int_equal(out[POOL_CANARY].errors, 1);
	assert_int_equal(out[POOL_CANARY].latency_sum_us, 100 * 1000 + 50 * 3000);
	assert_int_equal(hdr_count(out[POOL_CANARY].latency_us), 150);
	/* the old weights' slow requests are not in the judged percentiles */
	assert_true(hdr_max(out[POOL_CANARY].latency_us) < 4000);
	fleet_merge(m, 4, FLEET_RUN, 70, out);
	assert_int_equal(out[POOL_BASELINE].requests, 150);
	/* a revision nobody measured under yet (just applied): empty, not stale */
	fleet_merge(m, 4, FLEET_WINDOW, 71, out);
	assert_int_equal(out[POOL_CANARY].requests, 0);
	assert_int_equal(hdr_count(out[POOL_CANARY].latency_us), 0);
	/* the status: every valid record, whatever its revision */
	fleet_merge(m, 4, FLEET_TOTAL, FLEET_ANY_REVISION, out);
	assert_int_equal(out[POOL_CANARY].requests, 550);
	assert_int_equal(out[POOL_CANARY].errors, 121);
	assert_int_equal(hdr_count(out[POOL_CANARY].latency_us), 550);
	/* a record whose counts would wrap the sum is left out */
	m[1].v[POOL_CANARY][FLEET_WINDOW].requests = UINT64_MAX - 10;
	fleet_merge(m, 4, FLEET_WINDOW, 70, out);
	assert_int_equal(out[POOL_CANARY].requests, 100);

	for (int p = 0; p < POOL_COUNT; p++) {
		stats_run_view_dispose(&out[p]);
		for (int i = 0; i < 4; i++)
			for (int k = 0; k < FLEET_VIEWS; k++)
				stats_run_view_dispose(&m[i].v[p][k]);
	}
}

/* RISK 10: a member that left while measuring the judged weights keeps
 * its run in the merged run, so the run the sequential tests judge does
 * not shrink; its window and total leave at once. */
static void test_merge_run_only(void **state)
{
	struct fleet_metrics m[3];
	struct stats_view out[POOL_COUNT];
	(void)state;

	memset(m, 0, sizeof(m));
	metrics_fill(&m[0], "weir-1", 70, 100, 1, 1000);
	metrics_fill(&m[1], "weir-2", 70, 50, 5, 3000);
	metrics_fill(&m[2], "weir-3", 70, 20, 0, 2000);
	for (int p = 0; p < POOL_COUNT; p++)
		assert_int_equal(stats_run_view_init(&out[p]), 0);

	m[1].run_only = true;                                /* weir-2 left */
	m[0].v[POOL_CANARY][FLEET_RUN].in_flight = 3;
	m[1].v[POOL_CANARY][FLEET_RUN].in_flight = 100;      /* gone with its member */
	m[2].v[POOL_CANARY][FLEET_RUN].in_flight = 4;
	fleet_merge(m, 3, FLEET_RUN, 70, out);
	assert_int_equal(out[POOL_CANARY].requests, 170);
	assert_int_equal(out[POOL_CANARY].in_flight, 7);   /* the fleet's requests in flight */
	m[2].v[POOL_CANARY][FLEET_RUN].in_flight = UINT64_MAX;
	fleet_merge(m, 3, FLEET_RUN, 70, out);
	assert_true(out[POOL_CANARY].in_flight == UINT64_MAX); /* saturated, not wrapped */
	assert_int_equal(out[POOL_CANARY].errors, 6);
	assert_int_equal(hdr_count(out[POOL_CANARY].latency_us), 170);
	assert_int_equal(hdr_max(out[POOL_CANARY].latency_us), 3000);
	fleet_merge(m, 3, FLEET_WINDOW, 70, out);
	assert_int_equal(out[POOL_CANARY].requests, 120);
	fleet_merge(m, 3, FLEET_TOTAL, FLEET_ANY_REVISION, out);
	assert_int_equal(out[POOL_CANARY].requests, 120);
	assert_true(hdr_max(out[POOL_CANARY].latency_us) < 3000);
	/* the next run (revision 71) has nothing of them */
	fleet_merge(m, 3, FLEET_RUN, 71, out);
	assert_int_equal(out[POOL_CANARY].requests, 0);

	for (int p = 0; p < POOL_COUNT; p++) {
		stats_run_view_dispose(&out[p]);
		for (int i = 0; i < 3; i++)
			for (int k = 0; k < FLEET_VIEWS; k++)
				stats_run_view_dispose(&m[i].v[p][k]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weights_round_trip),
		cmocka_unit_test(test_weights_refused),
		cmocka_unit_test(test_member),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_watch_bound),
		cmocka_unit_test(test_watchdog_silent),
		cmocka_unit_test(test_watchdog_not_created),
		cmocka_unit_test(test_rollback_outdated),
		cmocka_unit_test(test_merge_filter),
		cmocka_unit_test(test_merge_run_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
