/* Unit tests for seqtest: the mixture against a direct product, its
 * martingale property computed exactly, every boundary against brute force,
 * and the guard's tests on clearly bad, borderline and healthy canaries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/seqtest.h"

/* The grid as documented: odds ratios of the alternatives. */
static const double odds[SEQ_ALT_COUNT] = {
	1.1, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0,
	24.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 1048576.0
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rng_unit(void)
{
	return (double)(rng_next() >> 11) / 9007199254740992.0;
}

/* M(n, k) the long way: the product of per-trial factors for each q_j. */
static double direct_m(double p0, const int *x, int n)
{
	double o = p0 / (1.0 - p0), sum = 0.0;

	for (int j = 0; j < SEQ_ALT_COUNT; j++) {
		double q = odds[j] * o / (1.0 + odds[j] * o), l = 1.0;

		for (int i = 0; i < n; i++)
			l *= x[i] ? q / p0 : (1.0 - q) / (1.0 - p0);
		sum += l;
	}
	return sum / SEQ_ALT_COUNT;
}

static void test_mixture_direct(void **state)
{
	static const double p0s[] = { 0.001, 0.02, 0.05, 0.5, 0.99, 0.999 };
	int x[60];

	(void)state;
	rng_state = 1;
	for (size_t t = 0; t < sizeof(p0s) / sizeof(p0s[0]); t++) {
		struct seq_bern b;

		assert_int_equal(seq_bern_init(&b, p0s[t], 0.001), 0);
		for (int n = 0; n <= 60; n += 7) {
			int k = 0;

			for (int i = 0; i < n; i++) {
				x[i] = rng_unit() < 0.3;
				k += x[i];
			}
			double want = log(direct_m(p0s[t], x, n));
			double got = seq_bern_log_m(&b, (uint64_t)n, (uint64_t)k);
			assert_true(fabs(got - want) <= 1e-9 * (1.0 + fabs(want)));
			assert_int_equal(seq_bern_rejects(&b, (uint64_t)n, (uint64_t)k),
			                 got >= log(1000.0));
		}
	}
}

/* E[M_n] = 1 exactly at p = p0 (a martingale started at 1), < 1 below. */
static void test_martingale_exact(void **state)
{
	static const double p0s[] = { 0.01, 0.05, 0.5, 0.99 };

	(void)state;
	for (size_t t = 0; t < sizeof(p0s) / sizeof(p0s[0]); t++) {
		struct seq_bern b;
		const int n = 80;

		assert_int_equal(seq_bern_init(&b, p0s[t], 0.01), 0);
		for (int below = 0; below < 2; below++) {
			double p = below ? p0s[t] * 0.8 : p0s[t], mean = 0.0;

			for (int k = 0; k <= n; k++) {
				double lc = lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0);
				double lp = lc + k * log(p) + (n - k) * log1p(-p);
				mean += exp(lp + seq_bern_log_m(&b, n, (uint64_t)k));
			}
			if (below)
				assert_true(mean < 1.0);
			else
				assert_true(fabs(mean - 1.0) < 1e-9);
		}
	}
}

static void test_bad_args(void **state)
{
	struct seq_bern b;
	struct seq_setup s;
	struct cfg_thresholds th = { NAN, NAN, NAN, NAN, NAN, NAN };
	char err[128];

	(void)state;
	assert_int_equal(seq_bern_init(&b, 0.0, 0.01), -1);
	assert_int_equal(seq_bern_init(&b, 1.0, 0.01), -1);
	assert_int_equal(seq_bern_init(&b, NAN, 0.01), -1);
	assert_int_equal(seq_bern_init(&b, 0.5, 0.0), -1);
	assert_int_equal(seq_bern_init(&b, 0.5, 1.0), -1);
	assert_int_equal(seq_setup_init(&s, &th, 0.5, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "alpha"));
	assert_int_equal(seq_setup_init(&s, &th, 0.0, err, sizeof(err)), -1);
	assert_int_equal(seq_setup_init(&s, &th, NAN, err, sizeof(err)), -1);
	th.max_p99_ms = -1.0;
	assert_int_equal(seq_setup_init(&s, &th, 0.001, err, sizeof(err)), -1);
	th.max_p99_ms = 100.0;
	assert_int_equal(seq_setup_init(&s, &th, 0.001, err, sizeof(err)), 0);
	assert_int_equal(s.ntests, 1);
	assert_true(s.a == 0.001);
}

/* max_accepted against a scan over k, from any hint. */
static void test_max_accepted_brute(void **state)
{
	static const double p0s[] = { 0.001, 0.05, 0.5, 0.99, 0.999 };
	static const uint64_t ns[] = { 0, 1, 2, 5, 17, 100, 333, 1000, 4096 };

	(void)state;
	for (size_t t = 0; t < sizeof(p0s) / sizeof(p0s[0]); t++) {
		struct seq_bern b;

		assert_int_equal(seq_bern_init(&b, p0s[t], 0.0005), 0);
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			uint64_t n = ns[i], want = 0, hints[] = { 0, 1, n / 2, n, n + 5, UINT64_MAX };

			for (uint64_t k = 0; k <= n; k++) {
				if (seq_bern_rejects(&b, n, k))
					break;
				want = k;
			}
			/* monotone: everything above want is rejected */
			for (uint64_t k = want + 1; k <= n; k++)
				assert_true(seq_bern_rejects(&b, n, k));
			for (size_t h = 0; h < sizeof(hints) / sizeof(hints[0]); h++) {
				struct seq_hint hint = { hints[h] / 2, hints[h] };

				assert_int_equal(seq_bern_max_accepted(&b, n, &hint), want);
				assert_int_equal(hint.k, want);
				assert_int_equal(hint.n, n);
				hint.n = n + 7;       /* a hint from a larger n */
				assert_int_equal(seq_bern_max_accepted(&b, n, &hint), want);
			}
			assert_int_equal(seq_bern_max_accepted(&b, n, NULL), want);
		}
	}
}

/* The rate bounds are where the test flips, and bracket k/n. */
static void test_rate_bounds(void **state)
{
	static const uint64_t cases[][2] = { { 10, 3 }, { 63, 19 }, { 1000, 12 }, { 5000, 4990 },
	                                     { 200, 0 }, { 200, 200 }, { 1, 1 } };

	(void)state;
	assert_true(seq_rate_lower(0, 0, 0.01) == 0.0);
	assert_true(seq_rate_upper(0, 0, 0.01) == 1.0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t n = cases[i][0], k = cases[i][1];
		double lo = seq_rate_lower(n, k, 0.001), hi = seq_rate_upper(n, k, 0.001);
		double phat = (double)k / (double)n;
		struct seq_bern b;

		assert_true(lo >= 0.0 && lo <= phat && phat <= hi && hi <= 1.0);
		if (k == 0)
			assert_true(lo == 0.0);
		if (lo > 1e-12) {
			seq_bern_init(&b, lo * (1.0 - 1e-6), 0.001);
			assert_true(seq_bern_rejects(&b, n, k));
			seq_bern_init(&b, lo * (1.0 + 1e-6), 0.001);
			assert_false(seq_bern_rejects(&b, n, k));
		}
		if (hi < 1.0 - 1e-12) {
			/* the mirror: "1 - x has rate <= 1 - p0" */
			seq_bern_init(&b, (1.0 - hi) * (1.0 - 1e-6), 0.001);
			assert_true(seq_bern_rejects(&b, n, n - k));
			seq_bern_init(&b, (1.0 - hi) * (1.0 + 1e-6), 0.001);
			assert_false(seq_bern_rejects(&b, n, n - k));
		}
	}
	/* 19 errors in 63 against 5 %: the lower bound is clear of it */
	assert_true(seq_rate_lower(63, 19, 0.0005) > 0.05);
}

/* A canary at 30 % errors against 5 % is rejected within a few dozen
 * requests; one exactly at 5 % is never rejected over a long run; the
 * confidence sequence covers the true rate throughout. */
static void test_bad_and_borderline(void **state)
{
	struct seq_bern b;
	uint64_t n, k, worst = 0;
	int run;

	(void)state;
	assert_int_equal(seq_bern_init(&b, 0.05, 0.0005), 0);
	rng_state = 42;
	for (run = 0; run < 200; run++) {
		for (n = 0, k = 0; !seq_bern_rejects(&b, n, k); ) {
			n++;
			k += rng_unit() < 0.3;
			assert_true(n < 1000);
		}
		if (n > worst)
			worst = n;
	}
	print_message("30%% vs 5%%, a=0.0005: rejected within %llu requests in 200 runs\n",
	              (unsigned long long)worst);
	assert_true(worst < 200);

	rng_state = 7;
	for (n = 0, k = 0; n < 2000000; ) {
		n++;
		k += rng_unit() < 0.05;
		assert_false(seq_bern_rejects(&b, n, k));
		if (n % 100000 == 0) {
			assert_true(seq_rate_lower(n, k, 0.0005) <= 0.05);
			assert_true(seq_rate_upper(n, k, 0.0005) >= 0.05);
		}
	}
}

/* Quantile bounds against the definition on a small histogram. */
static void test_quantile_bounds(void **state)
{
	int64_t lo[5] = { 1000, 2000, 3000, 4000, 50000 }, hi[5] = { 1099, 2099, 3099, 4099, 50999 };
	uint64_t count[5] = { 500, 300, 150, 45, 5 };
	struct seq_hist h = { 5, lo, hi, count, 1000 };
	struct seq_bern gt, lt;
	double v;
	struct seq_hint hint = { 0, 0 };
	uint64_t m, u;

	(void)state;
	assert_int_equal(seq_hist_count_above(&h, 3099.0), 50);
	assert_int_equal(seq_hist_count_above(&h, 3000.0), 50);   /* 3000..3099 may be <= 3000.x */
	assert_int_equal(seq_hist_count_above(&h, 2999.0), 200);
	assert_int_equal(seq_hist_slot_of_rank(&h, 1), 0);
	assert_int_equal(seq_hist_slot_of_rank(&h, 500), 0);
	assert_int_equal(seq_hist_slot_of_rank(&h, 501), 1);
	assert_int_equal(seq_hist_slot_of_rank(&h, 1000), 4);

	seq_bern_init(&gt, 0.5, 0.001);
	seq_bern_init(&lt, 0.5, 0.001);
	m = seq_bern_max_accepted(&gt, 1000, NULL);
	u = seq_bern_max_accepted(&lt, 1000, NULL);
	assert_true(seq_quantile_lower(&gt, &h, &hint, &v));
	assert_true(v == (double)lo[seq_hist_slot_of_rank(&h, 1000 - m)]);
	assert_true(seq_quantile_upper(&lt, &h, 0, NULL, &v));
	assert_true(v == (double)hi[seq_hist_slot_of_rank(&h, u + 1)]);
	/* the median (rank 500, slot 0) lies inside */
	assert_true(seq_quantile_lower(&gt, &h, NULL, &v) && v <= 1099.0);
	assert_true(seq_quantile_upper(&lt, &h, 0, NULL, &v) && v >= 1000.0);

	/* p99 upper bound needs more than 1000 values below q to say anything
	 * beyond the maximum; with 5 values of 10 nothing is known */
	uint64_t few[1] = { 5 };
	struct seq_hist h5 = { 1, lo, hi, few, 5 };
	seq_bern_init(&lt, 0.99, 0.001);
	seq_bern_init(&gt, 0.01, 0.001);
	assert_false(seq_quantile_upper(&lt, &h5, 0, NULL, &v));
	assert_false(seq_quantile_lower(&gt, &h5, NULL, &v) && v > 1099.0);
}

/* Coverage: quantile bounds of a known distribution hold along a run. */
static void test_quantile_coverage(void **state)
{
	int64_t lo[100], hi[100];
	uint64_t count[100] = { 0 };
	struct seq_bern gt, lt;
	struct seq_hint hg = { 0, 0 }, hl = { 0, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < 100; i++)
		lo[i] = hi[i] = (int64_t)(i + 1) * 100;   /* values 100..10000, uniform */
	seq_bern_init(&gt, 0.01, 0.001);
	seq_bern_init(&lt, 0.99, 0.001);
	rng_state = 99;
	for (int step = 0; step < 2000; step++) {
		struct seq_hist h = { 100, lo, hi, count, 0 };
		double l, u;

		for (int r = 0; r < 50; r++)
			count[rng_next() % 100]++;
		h.total = (uint64_t)(step + 1) * 50;
		/* compact the empty slots away, as hdr_slots would */
		int64_t clo[100], chi[100];
		uint64_t cc[100];
		size_t m = 0;
		for (i = 0; i < 100; i++)
			if (count[i]) {
				clo[m] = lo[i];
				chi[m] = hi[i];
				cc[m++] = count[i];
			}
		struct seq_hist hc = { m, clo, chi, cc, h.total };
		/* true p99: 9900 (P(X <= 9900) = 0.99, P(X < 9900) = 0.98) */
		if (seq_quantile_lower(&gt, &hc, &hg, &l))
			assert_true(l <= 9900.0);
		if (seq_quantile_upper(&lt, &hc, 0, &hl, &u))
			assert_true(u >= 9900.0);
		if (step == 1999) {
			assert_true(seq_quantile_lower(&gt, &hc, &hg, &l) && l >= 9700.0);
			assert_true(seq_quantile_upper(&lt, &hc, 0, &hl, &u) && u <= 10000.0);
		}
	}
}

static void pool_fill(struct seq_pool *p, uint64_t req, uint64_t err, size_t nslots, const int64_t *lo,
                      const int64_t *hi, const uint64_t *count)
{
	p->requests = req;
	p->errors = err;
	p->in_flight = 0;
	p->latency.nslots = nslots;
	p->latency.lo = lo;
	p->latency.hi = hi;
	p->latency.count = count;
	p->latency.total = 0;
	for (size_t i = 0; i < nslots; i++)
		p->latency.total += count[i];
}

static void test_evaluate(void **state)
{
	struct cfg_thresholds th = { 0.05, NAN, NAN, NAN, NAN, 1.5 };
	struct seq_setup s;
	struct seq_pool pools[POOL_COUNT];
	struct seq_hints hints;
	struct seq_result r[SEQ_TEST_COUNT];
	char err[128];
	int64_t blo[1] = { 5000 }, bhi[1] = { 5004 }, clo[1] = { 55000 }, chi[1] = { 55031 };
	uint64_t bcount[1] = { 2000 }, ccount[1] = { 63 };

	(void)state;
	memset(&hints, 0, sizeof(hints));
	assert_int_equal(seq_setup_init(&s, &th, 0.001, err, sizeof(err)), 0);
	assert_int_equal(s.ntests, 2);
	assert_true(s.a == 0.0005);

	/* 19 errors of 63 (30 %), same latency as the baseline */
	pool_fill(&pools[POOL_BASELINE], 2000, 10, 1, blo, bhi, bcount);
	pool_fill(&pools[POOL_CANARY], 63, 19, 1, blo, bhi, ccount);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_ERROR_RATE);
	assert_true(r[SEQ_ERROR_RATE].rejected && r[SEQ_ERROR_RATE].evidence >= 1.0);
	assert_true(r[SEQ_ERROR_RATE].lo > 0.05 && r[SEQ_ERROR_RATE].lo < 0.3016);
	assert_true(r[SEQ_ERROR_RATE].hi > 0.3016 && r[SEQ_ERROR_RATE].hi < 1.0);
	assert_int_equal(r[SEQ_ERROR_RATE].n_canary, 63);
	assert_false(r[SEQ_P99_RATIO].rejected);
	assert_false(r[SEQ_P50].enabled);

	/* 2 errors of 63: not rejected, evidence below 1 */
	pools[POOL_CANARY].errors = 2;
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), -1);
	assert_true(r[SEQ_ERROR_RATE].evidence < 1.0);

	/* latency 5 -> 55 ms: the ratio test rejects; the interval shows it */
	pool_fill(&pools[POOL_CANARY], 63, 0, 1, clo, chi, ccount);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_P99_RATIO);
	assert_true(r[SEQ_P99_RATIO].lo > 1.5);
	assert_true(fabs(r[SEQ_P99_RATIO].estimate - 55031.0 / 5004.0) < 1e-9);
	assert_int_equal(r[SEQ_P99_RATIO].n_baseline, 2000);
	/* the same decision without detail */
	memset(&hints, 0, sizeof(hints));
	assert_int_equal(seq_evaluate(&s, pools, &hints, false, r), SEQ_P99_RATIO);

	/* too few baseline values for an upper bound of its p99: no verdict */
	bcount[0] = 300;
	pool_fill(&pools[POOL_BASELINE], 300, 0, 1, blo, bhi, bcount);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), -1);
	assert_true(r[SEQ_P99_RATIO].evidence == 0.0);

	/* a failing baseline is no yardstick */
	bcount[0] = 2000;
	pool_fill(&pools[POOL_BASELINE], 2000, 1500, 1, blo, bhi, bcount);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), -1);
}

/* A host stall slows both pools alike (requests are split at random): 3 %
 * of each pool's requests take a second. The baseline's p99 moves with
 * the canary's, so the ratio test neither fires on the healthy canary nor
 * goes blind to a real +50 ms regression of the rest. */
static void test_ratio_under_stall(void **state)
{
	struct cfg_thresholds th = { NAN, NAN, NAN, NAN, NAN, 1.5 };
	struct seq_setup s;
	struct seq_pool pools[POOL_COUNT];
	struct seq_hints hints;
	struct seq_result r[SEQ_TEST_COUNT];
	char err[128];
	int64_t lo[3] = { 5000, 55000, 1000000 }, hi[3] = { 5004, 55031, 1000447 };
	uint64_t bc[3] = { 19400, 0, 600 }, cc[3] = { 19400, 0, 600 };

	(void)state;
	memset(&hints, 0, sizeof(hints));
	assert_int_equal(seq_setup_init(&s, &th, 0.001, err, sizeof(err)), 0);
	/* healthy canary, both stalled */
	pool_fill(&pools[POOL_BASELINE], 20000, 0, 3, lo, hi, bc);
	pool_fill(&pools[POOL_CANARY], 20000, 0, 3, lo, hi, cc);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), -1);
	assert_true(r[SEQ_P99_RATIO].lo <= 1.0);
	/* without the stall the canary's 5 -> 55 ms is caught ... */
	uint64_t b0[1] = { 20000 }, c0[2] = { 0, 20000 };
	pool_fill(&pools[POOL_BASELINE], 20000, 0, 1, lo, hi, b0);
	pool_fill(&pools[POOL_CANARY], 20000, 0, 2, lo, hi, c0);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_P99_RATIO);
	/* ... and with it, a canary at 55 ms outside the stall has a p99 of a
	 * second like the baseline: the ratio is 1 and nothing is claimed,
	 * which is right for a p99 ratio (the max_p50_ms / max_p99_ms tests are
	 * the tools for the rest). */
	cc[0] = 0;
	cc[1] = 19400;
	pool_fill(&pools[POOL_BASELINE], 20000, 0, 3, lo, hi, bc);
	pool_fill(&pools[POOL_CANARY], 20000, 0, 3, lo, hi, cc);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), -1);
}

/* The soak's false rollback: both backends stopped for a second, the
 * canary's 20 queued requests answered first, the baseline's 180 still on
 * their way when the guard looked. Measured alone, the canary's p99 is a
 * second against the baseline's 5 ms; with the baseline's requests in
 * flight counted (censored), nothing is claimed. A real regression is
 * still caught next to the few requests a busy baseline always has in
 * flight. */
static void test_ratio_in_flight(void **state)
{
	struct cfg_thresholds th = { NAN, NAN, NAN, NAN, NAN, 1.5 };
	struct seq_setup s;
	struct seq_pool pools[POOL_COUNT];
	struct seq_hints hints;
	struct seq_result r[SEQ_TEST_COUNT];
	char err[128];
	int64_t lo[3] = { 5000, 55000, 1000000 }, hi[3] = { 5004, 55031, 1000447 };
	uint64_t bc[1] = { 1425 }, cc[3] = { 129, 0, 20 };

	(void)state;
	memset(&hints, 0, sizeof(hints));
	assert_int_equal(seq_setup_init(&s, &th, 0.001, err, sizeof(err)), 0);
	pool_fill(&pools[POOL_BASELINE], 1425, 0, 1, lo, hi, bc);
	pool_fill(&pools[POOL_CANARY], 149, 0, 3, lo, hi, cc);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_P99_RATIO);
	pools[POOL_BASELINE].in_flight = 180;
	memset(&hints, 0, sizeof(hints));
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), -1);
	assert_true(isnan(r[SEQ_P99_RATIO].lo));
	/* a little in flight moves the bound by a rank or two: +50 ms on every
	 * canary request is still rejected */
	uint64_t b0[1] = { 20000 }, c0[2] = { 0, 20000 };
	pool_fill(&pools[POOL_BASELINE], 20000, 0, 1, lo, hi, b0);
	pool_fill(&pools[POOL_CANARY], 20000, 0, 2, lo, hi, c0);
	pools[POOL_BASELINE].in_flight = 10;
	memset(&hints, 0, sizeof(hints));
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_P99_RATIO);
	/* the upper bounds shown take the canary's own requests in flight as
	 * slow errors: an interval never claims more than is known */
	struct cfg_thresholds th2 = { 0.05, NAN, 100.0, NAN, NAN, NAN };
	assert_int_equal(seq_setup_init(&s, &th2, 0.001, err, sizeof(err)), 0);
	pool_fill(&pools[POOL_CANARY], 20000, 0, 2, lo, hi, c0);
	memset(&hints, 0, sizeof(hints));
	seq_evaluate(&s, pools, &hints, true, r);
	double hi_rate = r[SEQ_ERROR_RATE].hi, hi_p99 = r[SEQ_P99].hi;
	assert_false(isnan(hi_p99));
	pools[POOL_CANARY].in_flight = 1000;
	memset(&hints, 0, sizeof(hints));
	seq_evaluate(&s, pools, &hints, true, r);
	assert_true(r[SEQ_ERROR_RATE].hi > hi_rate);
	assert_true(isnan(r[SEQ_P99].hi));
}

static void test_increase_and_latency(void **state)
{
	struct cfg_thresholds th = { NAN, 20.0, NAN, NAN, 0.01, NAN };
	struct seq_setup s;
	struct seq_pool pools[POOL_COUNT];
	struct seq_hints hints;
	struct seq_result r[SEQ_TEST_COUNT];
	char err[128];
	int64_t lo[2] = { 10000, 30000 }, hi[2] = { 10009, 30019 };
	uint64_t bc[2] = { 10000, 0 }, cc[2] = { 900, 100 };

	(void)state;
	memset(&hints, 0, sizeof(hints));
	assert_int_equal(seq_setup_init(&s, &th, 0.001, err, sizeof(err)), 0);
	assert_int_equal(s.ntests, 2);
	/* canary 10 % errors vs baseline 1 %: increase 0.09 > 0.01 */
	pool_fill(&pools[POOL_BASELINE], 10000, 100, 1, lo, hi, bc);
	pool_fill(&pools[POOL_CANARY], 1000, 100, 2, lo, hi, cc);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_ERROR_RATE_INCREASE);
	assert_true(r[SEQ_ERROR_RATE_INCREASE].lo > 0.01);
	assert_true(fabs(r[SEQ_ERROR_RATE_INCREASE].estimate - 0.09) < 1e-12);
	assert_true(r[SEQ_ERROR_RATE_INCREASE].hi > 0.09);
	/* p50 is 10 ms against 20: not rejected; 10 % at 30 ms is no p50 problem */
	assert_false(r[SEQ_P50].rejected);
	assert_true(r[SEQ_P50].lo <= 10.009 && r[SEQ_P50].hi >= 10.0);
	/* most requests at 30 ms: p50 above 20 ms */
	cc[0] = 100;
	cc[1] = 900;
	pool_fill(&pools[POOL_CANARY], 1000, 10, 2, lo, hi, cc);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_P50);
	assert_true(r[SEQ_P50].lo >= 30.0);
	/* degenerate thresholds: max_error_rate 0 rejects on one error, 1 never */
	struct cfg_thresholds t0 = { 0.0, NAN, NAN, NAN, NAN, NAN };
	assert_int_equal(seq_setup_init(&s, &t0, 0.001, err, sizeof(err)), 0);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), SEQ_ERROR_RATE);
	t0.max_error_rate = 1.0;
	assert_int_equal(seq_setup_init(&s, &t0, 0.001, err, sizeof(err)), 0);
	assert_int_equal(seq_evaluate(&s, pools, &hints, true, r), -1);
	assert_string_equal(seq_test_name(SEQ_P99_RATIO), "p99_ratio");
	assert_string_equal(seq_test_name(SEQ_TEST_COUNT), "unknown");
}

/* The detector against the sum over starts written out, and its
 * martingale property computed exactly over two steps. */
/* The start prior, exactly: 1/2 at the arm, (c+1) / (2 (j+c) (j+c+1)) after. */
static void test_start_weights(void **state)
{
	(void)state;
	assert_int_equal(SEQ_START_SHIFT, 30);
	assert_true(seq_start_weight(0) == 0.5);
	assert_true(fabs(seq_start_weight(1) - 1.0 / 64.0) < 1e-17);
	assert_true(fabs(seq_start_weight(2) - 31.0 / (2.0 * 32.0 * 33.0)) < 1e-17);
	assert_true(fabs(seq_start_weight(3570) - 31.0 / (2.0 * 3600.0 * 3601.0)) < 1e-20);
	/* decreasing after the arm */
	for (uint64_t j = 1; j < 100; j++)
		assert_true(seq_start_weight(j + 1) < seq_start_weight(j));
}

static void test_detector_exact(void **state)
{
	struct seq_bern b;
	struct seq_detector d;
	/* steps: (new start?, trials, events) */
	static const int steps[][3] = { { 1, 3, 1 }, { 0, 2, 2 }, { 1, 4, 0 }, { 1, 1, 1 }, { 0, 5, 3 } };
	double o = 0.05 / 0.95;

	(void)state;
	seq_bern_init(&b, 0.05, 0.001);
	seq_detector_reset(&d);
	assert_true(seq_detector_log_m(&d) == 0.0);
	uint64_t n = 0, k = 0, epochs = 0, start_n[8] = { 0 }, start_k[8] = { 0 };
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		if (steps[s][0]) {
			start_n[epochs] = n;
			start_k[epochs] = k;
			epochs++;
		}
		n += (uint64_t)steps[s][1];
		k += (uint64_t)steps[s][2];
		seq_detector_update(&d, &b, n, k, steps[s][0] != 0, s);
		/* brute force */
		double m = 1.0;
		for (uint64_t e = 0; e < epochs; e++) {
			double w = seq_start_weight(e), mix = 0.0;

			m -= w;
			for (int j = 0; j < SEQ_ALT_COUNT; j++) {
				double q = odds[j] * o / (1.0 + odds[j] * o);
				double dk = (double)(k - start_k[e]), dn = (double)(n - start_n[e]);

				mix += pow(q / 0.05, dk) * pow((1.0 - q) / 0.95, dn - dk);
			}
			m += w * mix / SEQ_ALT_COUNT;
		}
		assert_true(fabs(seq_detector_log_m(&d) - log(m)) < 1e-9);
	}
	uint64_t n0, k0, tag;
	assert_true(seq_detector_best(&d, &n0, &k0, &tag));
	/* totals going down change nothing */
	double before = seq_detector_log_m(&d);
	seq_detector_update(&d, &b, 1, 0, false, 0);
	assert_true(seq_detector_log_m(&d) == before);

	/* E[M] = 1 at p = p0 over two steps of 3 trials, a start before each */
	double mean = 0.0;
	for (int k1 = 0; k1 <= 3; k1++)
		for (int k2 = 0; k2 <= 3; k2++) {
			double pr = 1.0;
			static const double c3[4] = { 1, 3, 3, 1 };
			pr *= c3[k1] * pow(0.05, k1) * pow(0.95, 3 - k1);
			pr *= c3[k2] * pow(0.05, k2) * pow(0.95, 3 - k2);
			seq_detector_reset(&d);
			seq_detector_update(&d, &b, 3, (uint64_t)k1, true, 0);
			seq_detector_update(&d, &b, 6, (uint64_t)(k1 + k2), true, 1);
			mean += pr * exp(seq_detector_log_m(&d));
		}
	assert_true(fabs(mean - 1.0) < 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixture_direct),
		cmocka_unit_test(test_martingale_exact),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_max_accepted_brute),
		cmocka_unit_test(test_rate_bounds),
		cmocka_unit_test(test_bad_and_borderline),
		cmocka_unit_test(test_quantile_bounds),
		cmocka_unit_test(test_quantile_coverage),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_increase_and_latency),
		cmocka_unit_test(test_ratio_under_stall),
		cmocka_unit_test(test_ratio_in_flight),
		cmocka_unit_test(test_start_weights),
		cmocka_unit_test(test_detector_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
