/* seqtest: anytime-valid sequential tests of the canary's thresholds.
 * Owns: the evidence of each sequential test; pure arithmetic, no I/O.
 *
 * Pure computation over counts and histograms: no clock, no I/O, no
 * allocation. The guard (method "sequential") and the simulator
 * (tools/seqsim.c) call the same functions.
 *
 * Every test is a nonnegative supermartingale under its null hypothesis
 * "the canary meets this threshold"; by Ville's inequality it ever reaches
 * 1/a with probability at most a, however long and however often it is
 * looked at. The guard splits alpha over the K enabled tests (a = alpha/K),
 * so a canary that meets every threshold is rolled back with probability
 * at most alpha over a whole run. The derivations are in seqtest.c. */
#ifndef WEIR_SEQTEST_H
#define WEIR_SEQTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"

/* Alternatives of the mixture (see seqtest.c). */
#define SEQ_ALT_COUNT 20

/* One-sided test of H0 "each event's conditional probability is <= P0"
 * from K events in N trials: an equal-weight mixture of likelihood ratios
 * against alternatives q > p0. Plain data; fill with seq_bern_init. */
struct seq_bern {
	double p0;
	double alpha;
	double log_inv_alpha;         /* log(1/alpha): log M at the boundary */
	double up[SEQ_ALT_COUNT];     /* log(q_j / p0) */
	double down[SEQ_ALT_COUNT];   /* log((1 - q_j) / (1 - p0)) */
};

/* Returns 0, or -1 unless 0 < p0 < 1 and 0 < alpha < 1. */
int seq_bern_init(struct seq_bern *b, double p0, double alpha);
/* log M(n, k), the log of the mixture after K events in N trials (K above N
 * counts as N). 0 at n = 0. */
double seq_bern_log_m(const struct seq_bern *b, uint64_t n, uint64_t k);
/* M(n, k) >= 1/alpha. Exact (same answer as comparing seq_bern_log_m), but
 * skips the exponentials when the largest term decides. */
bool seq_bern_rejects(const struct seq_bern *b, uint64_t n, uint64_t k);
/* log M / log(1/alpha), clipped below at 0: >= 1 means rejected. */
double seq_bern_evidence(const struct seq_bern *b, uint64_t n, uint64_t k);
/* A search hint: the last (n, answer) of one boundary. Zero it to start. */
struct seq_hint {
	uint64_t n, k;
};

/* The largest k in 0..n that is not rejected at n (k = 0 never is; M grows
 * with k). HINT (may be NULL) holds the previous n and answer and is
 * updated: the search starts from the answer extrapolated at slope p0, so
 * callers whose n grows pay O(log(error)) evaluations instead of O(log n).
 * Any hint gives the same answer. */
uint64_t seq_bern_max_accepted(const struct seq_bern *b, uint64_t n, struct seq_hint *hint);

/* Confidence sequence bounds of a rate from K events in N trials, each at
 * ALPHA (one-sided): the smallest / largest p0 that the one-sided test
 * (upper / mirrored lower alternatives) does not reject. So
 * P(for some n the true rate < lower) <= alpha, and likewise for upper.
 * lower is 0 at k = 0 and upper is 1 at k = n; [0, 1] at n = 0; always
 * lower <= k/n <= upper. About 50 bisection steps. */
double seq_rate_lower(uint64_t n, uint64_t k, double alpha);
double seq_rate_upper(uint64_t n, uint64_t k, double alpha);

/* A histogram as sorted slots: LO[i] <= every value in slot i <= HI[i],
 * slots ascending, COUNT[i] > 0 values each (hdr_slots' output). Units are
 * the caller's (weir: microseconds). */
struct seq_hist {
	size_t nslots;
	const int64_t *lo;
	const int64_t *hi;
	const uint64_t *count;
	uint64_t total;               /* sum of COUNT */
};

/* Values in slots lying wholly above T (LO > T): surely above T. */
uint64_t seq_hist_count_above(const struct seq_hist *h, double t);
/* Index of the slot holding the RANK-th smallest value (1..total). */
size_t seq_hist_slot_of_rank(const struct seq_hist *h, uint64_t rank);

/* The nearest-rank P-quantile (0..1) of H: the highest value of the slot of
 * rank ceil(p * total). NaN when empty. */
double seq_hist_quantile(const struct seq_hist *h, double p);

/* Confidence-sequence bounds of the P-quantile of the distribution H was
 * drawn from (each side at the level its test was initialised with).
 * LOWER: with GT = seq_bern for p0 = 1 - p (the rate of values above q),
 * l = n - max_accepted(GT, n); the bound is the lowest value of the slot of
 * rank l. UPPER: with LT = seq_bern for p0 = p (the rate of values below
 * q), u = max_accepted(LT, n); the bound is the highest value of the slot
 * of rank u + 1. Return false (nothing known yet) when the rank is out of
 * 1..n. HINT as for seq_bern_max_accepted (may be NULL).
 * UNSEEN (UPPER only): values drawn but not in H yet, requests still in
 * flight. A stall ends in one pool's measurements before the other's (the
 * pool with more requests queued drains later), so leaving them out would
 * make that pool look fast just then; they count as n + UNSEEN values above
 * every value of H, and the bound holds whatever they turn out to be (false
 * when its rank falls among them). A lower bound needs no such care:
 * leaving out values only lowers it. */
bool seq_quantile_lower(const struct seq_bern *gt, const struct seq_hist *h, struct seq_hint *hint,
                        double *out);
bool seq_quantile_upper(const struct seq_bern *lt, const struct seq_hist *h, uint64_t unseen,
                        struct seq_hint *hint, double *out);

/* ---- the guard's tests -------------------------------------------------- */

/* In the order they are checked (and reported first when several reject);
 * the same order as the guard's metrics. */
enum seq_test_id {
	SEQ_ERROR_RATE,
	SEQ_ERROR_RATE_INCREASE,
	SEQ_P50,
	SEQ_P99,
	SEQ_P999,
	SEQ_P99_RATIO,
	SEQ_TEST_COUNT
};

/* "error_rate", "error_rate_increase", "p50", "p99", "p999", "p99_ratio". */
const char *seq_test_name(enum seq_test_id id);

/* The tests for one set of thresholds and alpha, with their precomputed
 * mixtures. Plain data; fill with seq_setup_init. */
struct seq_setup {
	bool counts_elsewhere;        /* error_rate and pXX are decided by detectors
	                               * (below): seq_evaluate leaves them unrejected */
	double alpha;
	int ntests;                   /* enabled ones: alpha is split over them */
	double a;                     /* alpha / ntests */
	struct cfg_thresholds th;
	bool enabled[SEQ_TEST_COUNT];
	struct seq_bern err;          /* error_rate: p0 = max_error_rate, at a */
	struct seq_bern gt[3], lt[3]; /* p50/p99/p999: rate above / below q, at a */
	struct seq_bern ratio_gt, ratio_lt;   /* p99 at a/2, for the ratio */
};

/* Returns 0, or -1 with a message in ERR when ALPHA is not in (0, 0.5) or a
 * threshold is out of range (rates in (0, 1), latencies and ratio > 0). */
int seq_setup_init(struct seq_setup *s, const struct cfg_thresholds *th, double alpha, char *err,
                   size_t errlen);

/* What one pool has seen since the run started. */
struct seq_pool {
	uint64_t requests;
	uint64_t errors;
	struct seq_hist latency;      /* microseconds */
	uint64_t in_flight;           /* requests routed, not measured yet: every
	                                 upper bound takes them as errors and as
	                                 slower than anything measured (censored) */
};

/* Search hints kept between evaluations of one run (zero them at its start). */
struct seq_hints {
	struct seq_hint v[16];
};

/* One test's state after an evaluation. Doubles are NaN when unknown. */
struct seq_result {
	bool enabled;
	bool rejected;
	double evidence;              /* fraction of the boundary; >= 1: rejected */
	double estimate;              /* rate, ms or ratio */
	double lo, hi;                /* its confidence interval */
	double threshold;
	uint64_t n_canary, n_baseline;
};

/* Evaluate every enabled test on POOLS (indexed by enum pool_id). With
 * DETAIL false only what the decision needs is computed (the simulator):
 * intervals and estimates may be NaN, evidence is exact for count-based
 * tests. Returns the first rejecting test, or -1. */
int seq_evaluate(const struct seq_setup *s, const struct seq_pool pools[POOL_COUNT],
                 struct seq_hints *hints, bool detail, struct seq_result out[SEQ_TEST_COUNT]);

/* ---- streams: the whole run and its rolling segments --------------------- *
 *
 * Evidence accumulated since the arm dilutes a late failure: after an hour
 * of healthy traffic the run's error rate moves slowly. So the guard also
 * runs the tests on segments, each on the data since its own start (the
 * runtime starts one every minute and keeps the last two). Stream 0 is the
 * whole run at alpha/2; segment j >= 1 gets alpha / (2 j (j + 1)): these sum
 * to alpha, so the union bound still gives P(any stream ever rejects a
 * canary that meets every threshold) <= alpha. Segment j needs only
 * log(j (j + 1)) more evidence than the run: after a day (j = 1440) that is
 * about 15 nats, a few dozen requests of a gross failure. */

/* The level of stream INDEX (0: the run) within ALPHA. */
double seq_stream_alpha(double alpha, uint64_t index);

/* One stream's tests, search hints and last results. Plain data. */
struct seq_stream {
	uint64_t index;               /* 0: the whole run; j: the j-th segment */
	bool ready;
	struct seq_setup setup;
	struct seq_hints hints;
	struct seq_result results[SEQ_TEST_COUNT];
};

/* (Re)start ST as stream INDEX for TH and ALPHA (the guard's alpha; the
 * stream takes its share). Returns 0, or -1 with ERR (ST not ready). */
int seq_stream_start(struct seq_stream *st, const struct cfg_thresholds *th, double alpha,
                     uint64_t index, char *err, size_t errlen);
/* seq_evaluate on ST's tests into ST's results; -1 when not ready. */
int seq_stream_evaluate(struct seq_stream *st, const struct seq_pool pools[POOL_COUNT], bool detail);

/* ---- change-point mixtures for the count tests ------------------------- *
 *
 * A canary may break long after the arm. For the tests that are counts
 * against a fixed p0 (error_rate, pXX), a detector mixes the Bernoulli
 * mixture over start times as well: start j (offered by the caller, once a
 * second) has weight w_j: 1/2 for the arm, and
 *     w_j = (c + 1) / (2 (j + c) (j + c + 1))   for j >= 1, c = SEQ_START_SHIFT,
 * which sum to 1/2 (the sum telescopes), and
 *     M_t = sum_j w_j prod_{i from j to t} LR_i + (1 - sum of the weights offered)
 * is again a nonnegative supermartingale with M_0 = 1 (each term is one
 * from its start on, and a convex combination of supermartingales on the
 * same data is one), so Ville's inequality holds for it as for the plain
 * test, with no union bound. Updated in O(alternatives) per call from the
 * totals; a failure starting at second j costs log(1/w_j) ~ 2 log(j + c)
 * of evidence and no dilution by the healthy data before it.
 *
 * The shift c spreads the weight of the first c seconds almost evenly: a
 * canary that fails in its first seconds is mostly the arm's start's to
 * catch (weight 1/2), while one that fails at second j >> c pays
 * log(1/w_j) = log 2 + log((j + c)(j + c + 1)) - log(c + 1), log(c + 1)
 * less than without the shift (c = 0: 2 log j + log 2). In the
 * simulator (20 canary requests/s, 30 % errors) c = 30 moved the median
 * detection from 2.8 to 2.4 s for a failure 30 s after the arm and from
 * 3.6 to 3.0 s at 10 minutes, and from 1.8 to 2.2 s at 2 s. */
#define SEQ_START_SHIFT 30

/* The weight of start EPOCH (0: the arm). */
double seq_start_weight(uint64_t epoch);

struct seq_detector {
	double log_sum[SEQ_ALT_COUNT];   /* log of sum_j w_j prod LR, per alternative */
	double log_best[SEQ_ALT_COUNT];  /* log of its largest term */
	uint64_t best_n0[SEQ_ALT_COUNT]; /* totals when that term's start came ... */
	uint64_t best_k0[SEQ_ALT_COUNT];
	uint64_t best_tag[SEQ_ALT_COUNT];/* ... and the caller's tag of it */
	double started;                  /* the weights offered so far */
	uint64_t epochs;                 /* starts offered so far */
	uint64_t n, k;                   /* totals fed so far */
};

void seq_detector_reset(struct seq_detector *d);
/* Bring D to the totals N trials, K events (since the arm), offering a new
 * start first when NEW_EPOCH (TAG names it for seq_detector_best). Totals
 * that went down are taken as unchanged. */
void seq_detector_update(struct seq_detector *d, const struct seq_bern *b, uint64_t n, uint64_t k,
                         bool new_epoch, uint64_t tag);
/* log M_t (0 before any start). */
double seq_detector_log_m(const struct seq_detector *d);
/* The start of the largest single term: totals then, and its tag. False
 * before any start. */
bool seq_detector_best(const struct seq_detector *d, uint64_t *n0, uint64_t *k0, uint64_t *tag);

/* The detectors of one run, indexed by test (error_rate, p50, p99, p999). */
struct seq_detectors {
	struct seq_detector d[SEQ_TEST_COUNT];
};

void seq_detectors_reset(struct seq_detectors *ds);
/* Feed the canary's run totals (requests and errors; values surely above
 * each latency threshold) to the enabled count tests of S. */
void seq_detectors_update(struct seq_detectors *ds, const struct seq_setup *s,
                          const struct seq_pool *canary, bool new_epoch, uint64_t tag);
/* Whether count test ID is decided by a detector under S. */
bool seq_is_count_test(const struct seq_setup *s, enum seq_test_id id);
/* Detector ID's decision alone (cheap when far from the boundary). */
bool seq_detector_rejects(const struct seq_detectors *ds, const struct seq_setup *s,
                          enum seq_test_id id);
/* Detector ID's evidence (log M / log(1/a), clipped at 0) and decision. */
double seq_detector_evidence(const struct seq_detectors *ds, const struct seq_setup *s,
                             enum seq_test_id id, bool *rejected);

#endif
