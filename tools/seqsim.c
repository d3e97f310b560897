/* seqsim: replays synthetic request streams through the sequential guard's
 * tests (seqtest.c, the very code weir runs) and reports false-rollback
 * fractions of healthy canaries and detection delays of broken ones.
 *
 * The model, per fold (200 ms, as the workers fold):
 *   - the canary gets RATE * 0.2 requests a fold on average, the baseline
 *     BASELINE_FACTOR times that (canary weight 50 % by default), each
 *     pool's requests per latency value drawn as independent Poisson counts
 *     (exact: inversion below a mean of 10, Hormann's PTRS above), its
 *     errors as a binomial of its requests (exact inversion);
 *   - latencies are a few values whose 99th percentile sits on a knife's
 *     edge (P(X < q) = 0.98999, P(X <= q) = 0.99001), the hardest case for
 *     the quantile confidence sequences; the canary's values are the
 *     baseline's times a factor;
 *   - the guard's tests exactly as guard.c runs them: the count tests
 *     (error_rate) through a change-point detector offered a new start
 *     every second, the others on the streams canary.c keeps (the whole
 *     run and, every 60 s, a new segment, the last two kept), all judged
 *     at every fold; a rollback is the first rejection of any.
 * Thresholds: max_error_rate 0.05 and max_p99_ratio 1.5 (the issue's
 * "thresholds only" setting), alpha 0.001 unless told otherwise.
 *
 * Scenarios: healthy-margin (error rate 0.05/1.2, p99 ratio 1.5/1.2),
 * healthy-threshold (0.05 and 1.5 exactly), errors30 (30 % errors from
 * SWITCH seconds on), latency55 (canary latency x11, 5 -> 55 ms, from
 * SWITCH on). Baseline: 1 % errors, p99 6 ms.
 *
 * Usage: seqsim [--table] [--scenario S --rate R] [--runs N] [--hours H]
 *               [--threads T] [--seed S] [--alpha A] [--baseline-factor F]
 * --table prints the BENCHMARKS table (healthy runs at 20 and 2,000 req/s,
 * detection at 20, 200 and 2,000 req/s). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/seqtest.h"

#define FOLD_MS 200
#define SEGMENT_FOLDS (60000 / FOLD_MS)
#define NATOMS 5
#define STREAMS 3

/* ---- random numbers: splitmix64 seeding, xoshiro256** ------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in (0, 1). */
static double unif(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

/* Poisson(LAM), exact: inversion for small means, PTRS (Hormann 1993). */
static uint64_t poisson(struct rng *r, double lam)
{
	if (lam <= 0.0)
		return 0;
	if (lam < 10.0) {
		double p = exp(-lam), f = p, u = unif(r);
		uint64_t k = 0;

		while (u > f && k < 1000) {
			k++;
			p *= lam / (double)k;
			f += p;
		}
		return k;
	}
	double slam = sqrt(lam), loglam = log(lam);
	double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
	double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);

	for (;;) {
		double u = unif(r) - 0.5, v = unif(r), us = 0.5 - fabs(u);
		double k = floor((2.0 * a / us + b) * u + lam + 0.43);

		if (us >= 0.07 && v <= vr)
			return (uint64_t)k;
		if (k < 0.0 || (us < 0.013 && v > us))
			continue;
		if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lam + k * loglam - lgamma(k + 1.0))
			return (uint64_t)k;
	}
}

/* Binomial(N, P), exact: inversion on the smaller tail. */
static uint64_t binomial(struct rng *r, uint64_t n, double p)
{
	if (n == 0 || p <= 0.0)
		return 0;
	if (p >= 1.0)
		return n;
	if (p > 0.5)
		return n - binomial(r, n, 1.0 - p);
	double q = 1.0 - p, s = p / q, f = pow(q, (double)n), cdf = f, u = unif(r);
	uint64_t k = 0;

	if (f <= 0.0) {
		/* n p beyond inversion's reach (not in our scenarios): sum halves */
		uint64_t h = n / 2;
		return binomial(r, h, p) + binomial(r, n - h, p);
	}
	while (u > cdf && k < n) {
		f *= s * (double)(n - k) / (double)(k + 1);
		k++;
		cdf += f;
	}
	return k;
}

/* ---- the model ------------------------------------------------------------ */

static const int64_t base_us[NATOMS] = { 5000, 5900, 6000, 6100, 20000 };
static const double base_p[NATOMS] = { 0.98, 0.00999, 0.00002, 0.00899, 0.001 };

enum scenario { SC_MARGIN, SC_THRESHOLD, SC_ERRORS30, SC_LATENCY55, SC_COUNT };
static const char *const scenario_names[SC_COUNT] = { "healthy-margin", "healthy-threshold",
	                                              "errors30", "latency55" };

struct params {
	enum scenario sc;
	double rate;                  /* canary requests/s */
	double baseline_factor;
	double hours;
	long runs;
	int threads;
	uint64_t seed;
	double alpha;
	double switch_s;              /* detection scenarios: when the canary breaks */
};

struct pool_state {
	uint64_t count[2 * NATOMS];   /* cumulative since the arm, per latency value:
	                               * [0, NATOMS) before the switch, then after */
	uint64_t requests, errors;
};

/* One pool's fold: requests per latency value into the set at OFFSET. */
static void draw(struct rng *r, struct pool_state *ps, double mean, double err, int offset)
{
	uint64_t n = 0;

	for (int k = 0; k < NATOMS; k++) {
		uint64_t c = poisson(r, mean * base_p[k]);

		ps->count[offset + k] += c;
		n += c;
	}
	ps->requests += n;
	ps->errors += binomial(r, n, err);
}

/* POOL minus BASE as a seq_pool over VALUES (ascending; empty slots dropped). */
static void to_pool(const struct pool_state *ps, const struct pool_state *base, const int64_t *values,
                    int64_t *lo, int64_t *hi, uint64_t *cnt, struct seq_pool *out)
{
	size_t m = 0;

	out->requests = ps->requests - (base ? base->requests : 0);
	out->errors = ps->errors - (base ? base->errors : 0);
	out->in_flight = 0; /* the simulator's requests end within their fold */
	out->latency.total = 0;
	for (int k = 0; k < 2 * NATOMS; k++) {
		uint64_t c = ps->count[k] - (base ? base->count[k] : 0);

		if (c == 0)
			continue;
		lo[m] = hi[m] = values[k];
		cnt[m++] = c;
		out->latency.total += c;
	}
	out->latency.nslots = m;
	out->latency.lo = lo;
	out->latency.hi = hi;
	out->latency.count = cnt;
}

/* One run: the fold (from 1) of the first rejection, or 0. */
static long one_run(const struct params *pp, uint64_t seed, const struct cfg_thresholds *th)
{
	struct rng r;
	struct pool_state pools[POOL_COUNT], seg_base[2][POOL_COUNT];
	struct seq_stream st[STREAMS];
	struct seq_setup full;
	struct seq_detectors det;
	int64_t values[POOL_COUNT][2 * NATOMS];
	int64_t lo[POOL_COUNT][2 * NATOMS], hi[POOL_COUNT][2 * NATOMS];
	uint64_t cnt[POOL_COUNT][2 * NATOMS];
	long folds = (long)(pp->hours * 3600.0 * 1000.0 / FOLD_MS), switch_fold = -1;
	uint64_t seg_index = 0;
	double cmean = pp->rate * FOLD_MS / 1000.0, bmean = cmean * pp->baseline_factor;
	double cerr = 0.01, cfac = 1.0, after_fac = 1.0;
	int coff = 0;
	char err[128];

	switch (pp->sc) {
	case SC_MARGIN: cerr = 0.05 / 1.2; cfac = 1.5 / 1.2; break;
	case SC_THRESHOLD: cerr = 0.05; cfac = 1.5; break;
	case SC_ERRORS30: switch_fold = (long)(pp->switch_s * 1000.0 / FOLD_MS); break;
	case SC_LATENCY55:
		switch_fold = (long)(pp->switch_s * 1000.0 / FOLD_MS);
		after_fac = 11.0;
		break;
	case SC_COUNT: break;
	}
	rng_seed(&r, seed);
	memset(pools, 0, sizeof(pools));
	memset(seg_base, 0, sizeof(seg_base));
	for (int k = 0; k < NATOMS; k++) {
		values[POOL_BASELINE][k] = values[POOL_BASELINE][NATOMS + k] = base_us[k];
		values[POOL_CANARY][k] = (int64_t)llround((double)base_us[k] * cfac);
		/* after the switch: 55 ms and up, above every value before it */
		values[POOL_CANARY][NATOMS + k] = (int64_t)llround((double)base_us[k] * after_fac * cfac);
	}
	if (pp->sc != SC_LATENCY55)
		for (int k = 0; k < NATOMS; k++)
			values[POOL_CANARY][NATOMS + k] = values[POOL_CANARY][NATOMS - 1] + 1 + k;
	if (seq_stream_start(&st[0], th, pp->alpha, 0, err, sizeof(err)) < 0 ||
	    seq_setup_init(&full, th, pp->alpha, err, sizeof(err)) < 0) {
		fprintf(stderr, "seqsim: %s\n", err);
		exit(2);
	}
	st[0].setup.counts_elsewhere = true;
	seq_detectors_reset(&det);
	for (long f = 1; f <= folds; f++) {
		struct seq_pool sp[POOL_COUNT];

		if (f == switch_fold + 1) {
			if (pp->sc == SC_ERRORS30)
				cerr = 0.30;
			else
				coff = NATOMS;
		}
		draw(&r, &pools[POOL_BASELINE], bmean, 0.01, 0);
		draw(&r, &pools[POOL_CANARY], cmean, cerr, coff);
		/* a new segment every minute; streams 1, 2: current, previous */
		if (f % SEGMENT_FOLDS == 0) {
			memcpy(seg_base[1], seg_base[0], sizeof(seg_base[0]));
			memcpy(seg_base[0], pools, sizeof(pools));
			seg_index++;
			for (int i = 1; i < STREAMS && (uint64_t)i <= seg_index; i++) {
				seq_stream_start(&st[i], th, pp->alpha, seg_index + 1 - (uint64_t)i, err,
				                 sizeof(err));
				st[i].setup.counts_elsewhere = true;
			}
		}
		/* the detectors: a new start once a second (every 5th fold) */
		to_pool(&pools[POOL_CANARY], NULL, values[POOL_CANARY], lo[POOL_CANARY], hi[POOL_CANARY],
		        cnt[POOL_CANARY], &sp[POOL_CANARY]);
		seq_detectors_update(&det, &full, &sp[POOL_CANARY], (f - 1) % 5 == 0, (uint64_t)f);
		for (int id = 0; id < SEQ_TEST_COUNT; id++)
			if (seq_is_count_test(&full, (enum seq_test_id)id) &&
			    seq_detector_rejects(&det, &full, (enum seq_test_id)id))
				return f;
		for (int i = 0; i < STREAMS && (uint64_t)i <= seg_index; i++) {
			for (int p = 0; p < POOL_COUNT; p++)
				to_pool(&pools[p], i ? &seg_base[i - 1][p] : NULL, values[p], lo[p], hi[p], cnt[p],
				        &sp[p]);
			if (seq_stream_evaluate(&st[i], sp, false) >= 0)
				return f;
		}
	}
	return 0;
}

/* ---- runs over threads ---------------------------------------------------- */

struct job {
	const struct params *pp;
	const struct cfg_thresholds *th;
	int tid;
	long *result;                 /* per run: rejection fold or 0 */
};

static void *worker(void *arg)
{
	struct job *j = arg;

	for (long i = j->tid; i < j->pp->runs; i += j->pp->threads) {
		uint64_t x = j->pp->seed ^ ((uint64_t)j->pp->sc << 56) ^ (uint64_t)(j->pp->rate * 1000.0);
		uint64_t seed = splitmix(&x) + (uint64_t)i * 0x632be59bd9b4e019ULL;

		j->result[i] = one_run(j->pp, seed, j->th);
	}
	return NULL;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* Run PP; print one table row. */
static void run_scenario(const struct params *pp)
{
	struct cfg_thresholds th = { 0.05, NAN, NAN, NAN, NAN, 1.5 };
	long *res = calloc((size_t)pp->runs, sizeof(long));
	pthread_t tids[64];
	struct job jobs[64];
	int nt = pp->threads < 1 ? 1 : pp->threads > 64 ? 64 : pp->threads;
	long rejected = 0, nd = 0;

	if (!res) {
		fprintf(stderr, "seqsim: out of memory\n");
		exit(2);
	}
	for (int t = 0; t < nt; t++) {
		jobs[t] = (struct job){ pp, &th, t, res };
		pthread_create(&tids[t], NULL, worker, &jobs[t]);
	}
	for (int t = 0; t < nt; t++)
		pthread_join(tids[t], NULL);
	for (long i = 0; i < pp->runs; i++)
		rejected += res[i] > 0;
	if (pp->sc == SC_MARGIN || pp->sc == SC_THRESHOLD) {
		printf("| %-17s | %6.0f | %6ld | %4.1f h | %5ld | %.5f |\n", scenario_names[pp->sc], pp->rate,
		       pp->runs, pp->hours, rejected, (double)rejected / (double)pp->runs);
	} else {
		long switch_fold = (long)(pp->switch_s * 1000.0 / FOLD_MS), early = 0;

		/* delay from the switch to the rejecting fold, in folds */
		for (long i = 0; i < pp->runs; i++) {
			if (res[i] == 0)
				continue;
			if (res[i] <= switch_fold) {
				early++;
				continue;
			}
			res[nd++] = res[i] - switch_fold;
		}
		qsort(res, (size_t)nd, sizeof(long), cmp_long);
		if (nd == 0)
			printf("| %-17s | %6.0f | %6ld | never rejected |\n", scenario_names[pp->sc], pp->rate,
			       pp->runs);
		else
			printf("| %-17s | %6.0f | %6ld | %5.1f s | %5.1f s | %5.1f s | %ld | %ld |\n",
			       scenario_names[pp->sc], pp->rate, pp->runs,
			       res[nd / 2] * FOLD_MS / 1000.0, res[(nd * 9) / 10] * FOLD_MS / 1000.0,
			       res[nd - 1] * FOLD_MS / 1000.0, pp->runs - nd - early, early);
	}
	fflush(stdout);
	free(res);
}

static void usage(void)
{
	fprintf(stderr, "usage: seqsim [--table] [--scenario healthy-margin|healthy-threshold|"
	                "errors30|latency55] [--rate R] [--runs N] [--detect-runs N] [--hours H]\n"
	                "              [--threads T] [--seed S] [--alpha A] [--baseline-factor F] "
	                "[--switch S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct params pp = { .sc = SC_MARGIN, .rate = 20, .baseline_factor = 1.0, .hours = 1.0,
	                     .runs = 10000, .threads = 2, .seed = 1, .alpha = 0.001, .switch_s = 10.0 };
	long detect_runs = 1000;
	int table = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--table") == 0) {
			table = 1;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--scenario") == 0) {
			int k;
			for (k = 0; k < SC_COUNT && strcmp(v, scenario_names[k]) != 0; k++)
				;
			if (k == SC_COUNT)
				usage();
			pp.sc = (enum scenario)k;
		} else if (strcmp(a, "--rate") == 0) {
			pp.rate = atof(v);
		} else if (strcmp(a, "--runs") == 0) {
			pp.runs = atol(v);
		} else if (strcmp(a, "--detect-runs") == 0) {
			detect_runs = atol(v);
		} else if (strcmp(a, "--hours") == 0) {
			pp.hours = atof(v);
		} else if (strcmp(a, "--threads") == 0) {
			pp.threads = atoi(v);
		} else if (strcmp(a, "--seed") == 0) {
			pp.seed = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--alpha") == 0) {
			pp.alpha = atof(v);
		} else if (strcmp(a, "--baseline-factor") == 0) {
			pp.baseline_factor = atof(v);
		} else if (strcmp(a, "--switch") == 0) {
			pp.switch_s = atof(v);
		} else {
			usage();
		}
	}
	if (pp.runs < 1 || !(pp.rate > 0) || !(pp.hours > 0) || !(pp.alpha > 0 && pp.alpha < 0.5) ||
	    pp.threads < 1 || !(pp.baseline_factor > 0) || detect_runs < 1 || !(pp.switch_s >= 0))
		usage();
	if (!table) {
		run_scenario(&pp);
		return 0;
	}
	printf("False rollbacks (alpha %g, %ld runs of %.1f h each, baseline %.0fx the canary's rate):\n\n",
	       pp.alpha, pp.runs, pp.hours, pp.baseline_factor);
	printf("| scenario          | req/s  | runs   | length | rollbacks | fraction |\n");
	printf("|---|---|---|---|---|---|\n");
	static const double healthy_rates[] = { 20, 2000 };
	for (int s = SC_MARGIN; s <= SC_THRESHOLD; s++)
		for (size_t k = 0; k < 2; k++) {
			struct params q = pp;
			q.sc = (enum scenario)s;
			q.rate = healthy_rates[k];
			run_scenario(&q);
		}
	printf("\nDetection delay from the switch (%.0f s after the arm) to the rejecting fold "
	       "(%ld runs; add up to ~0.3 s of fold and tick latency in weir):\n\n",
	       pp.switch_s, detect_runs);
	printf("| scenario          | req/s  | runs   | median  | p90     | max     | missed | before switch |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	static const double detect_rates[] = { 20, 200, 2000 };
	for (int s = SC_ERRORS30; s <= SC_LATENCY55; s++)
		for (size_t k = 0; k < 3; k++) {
			struct params q = pp;
			q.sc = (enum scenario)s;
			q.rate = detect_rates[k];
			q.runs = detect_runs;
			q.hours = (q.switch_s + 120.0) / 3600.0;
			run_scenario(&q);
		}
	return 0;
}
