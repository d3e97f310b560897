/* seqtest: anytime-valid sequential tests (see include/weir/seqtest.h).
 *
 * 1. The building block: a one-sided Bernoulli mixture.
 *    Trials x_i in {0, 1} whose conditional mean given the past is
 *    p_i <= p0 (H0). They need not be independent nor identically
 *    distributed. For an alternative q > p0 the likelihood ratio
 *        L_q(n, k) = (q/p0)^k ((1-q)/(1-p0))^(n-k)
 *    gains the factor f = x (q/p0) + (1-x) (1-q)/(1-p0) per trial, and
 *        E[f | past] = p_i q/p0 + (1-p_i)(1-q)/(1-p0)
 *    is linear in p_i, equals 1 at p_i = p0 and grows with p_i (its slope
 *    q/p0 - (1-q)/(1-p0) is > 0 for q > p0). So E[f | past] <= 1 under H0:
 *    L_q is a nonnegative supermartingale with L_q(0) = 1, and so is any
 *    mixture M = sum_j w_j L_{q_j} with weights summing to 1. Ville's
 *    inequality: P(sup_n M_n >= 1/alpha) <= alpha. Rejecting H0 the first
 *    time M >= 1/alpha therefore has level alpha at every n, for any
 *    stopping rule and any number of looks.
 *
 *    The alternatives: q_j has odds c_j times the odds of p0 (c_j from 1.1
 *    to 2^20, equal weights). In odds terms the grid is the same at both
 *    ends of (0, 1), so the same code serves rare events (error rates,
 *    "slower than T") and common ones (the 99 % below a quantile). Writing
 *    o = p0 / (1 - p0):
 *        (1-q)/(1-p0) = (1+o) / (1+c o)      =: exp(down_j)
 *        q/p0         = c (1+o) / (1+c o)    =  exp(down_j + log c_j)
 *    so log L_j = n down_j + k log c_j: two multiply-adds per term, and M
 *    is computed in log space (log-sum-exp), never overflowing.
 *
 *    Monotonicity, used by every search below: log L_j grows with k (log c_j
 *    > 0), and with theta = logit(p0), d/dtheta log L_j = n (s(theta) -
 *    s(theta + log c_j)) < 0 (s the logistic function): M falls as p0 rises.
 *
 * 2. Confidence sequences for a rate. lower(n, k) = inf of the p0 that the
 *    test at alpha does not reject; as the test rejects the true p (rather:
 *    any p0 >= every p_i) with probability <= alpha over all n, the true
 *    rate stays >= lower for all n with probability >= 1 - alpha. By the
 *    monotonicity in p0, "lower > e0" is "the test of p0 = e0 rejects".
 *    The upper bound is the mirror: the test of "1 - x has rate <= 1 - p0".
 *    At p0 = k/n every term is exp(-n KL(k/n || q_j)) <= 1, so k/n is never
 *    rejected: lower <= k/n <= upper.
 *
 * 3. Confidence sequences for a quantile (the idea of Howard & Ramdas,
 *    Bernoulli 2022, derived here for counts). Let q be the true P-quantile:
 *    P(X <= q) >= p and P(X < q) <= p (ties and atoms allowed).
 *    - Upper: B_i = 1{X_i < q} has conditional mean <= p. With u_n the
 *      largest count the test of "rate <= p" does not reject at n, with
 *      probability >= 1 - alpha, #{i <= n : X_i < q} <= u_n for all n; then
 *      at most u_n values are below q, so the (u_n + 1)-th smallest is >= q.
 *    - Lower: B_i = 1{X_i > q} has conditional mean <= 1 - p. With m_n the
 *      largest count of it the test of "rate <= 1 - p" does not reject,
 *      #{X_i > q} <= m_n, so #{X_i <= q} >= l_n = n - m_n and the l_n-th
 *      smallest value is <= q.
 *    A histogram knows only the slot of an order statistic: the upper bound
 *    takes the slot's highest value and the lower bound its lowest, so
 *    rounding only ever widens the interval.
 *
 * 4. The guard's tests, each at a = alpha / K (K enabled tests; union bound):
 *    - error_rate <= e0: the test of section 1 on (requests, errors).
 *    - error_rate_increase <= d: reject when lower_c - upper_b > d, each
 *      bound at a/2. If both bounds hold (probability >= 1 - a) and
 *      p_c - p_b <= d, then lower_c - upper_b <= p_c - p_b <= d.
 *    - pXX <= T: "q_p <= T" is "P(X > T) <= 1 - p"; the test of section 1
 *      on the count of values surely above T (slots whose lowest value is
 *      above T), so histogram rounding never creates evidence.
 *    - p99 ratio <= r: H0 q_c <= r q_b. With L_c the canary's lower bound
 *      and U_b the baseline's upper bound, each at a/2: reject when
 *      L_c > r U_b. If both hold, L_c <= q_c <= r q_b <= r U_b. Requests
 *      are assigned to the pools at random, so a host stall slows both
 *      pools alike and moves both quantiles together: it does not fake a
 *      canary regression, and its inflation of the baseline is bounded by
 *      what the stall does to q_b itself. */
#include "weir/seqtest.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Odds ratios of the alternatives: dense near 1 for slow drifts measured
 * over many requests, sparse and far for gross failures seen in a few. */
static const double alt_odds[SEQ_ALT_COUNT] = {
	1.1, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0,
	24.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 1048576.0
};

/* ---- the Bernoulli mixture ----------------------------------------------- */

int seq_bern_init(struct seq_bern *b, double p0, double alpha)
{
	double o;
	int j;

	if (!(p0 > 0.0 && p0 < 1.0) || !(alpha > 0.0 && alpha < 1.0))
		return -1;
	b->p0 = p0;
	b->alpha = alpha;
	b->log_inv_alpha = -log(alpha);
	o = p0 / (1.0 - p0);
	for (j = 0; j < SEQ_ALT_COUNT; j++) {
		b->down[j] = log1p(o) - log1p(alt_odds[j] * o);
		b->up[j] = b->down[j] + log(alt_odds[j]);
	}
	return 0;
}

/* The log of each term, and their maximum. */
static double terms(const struct seq_bern *b, uint64_t n, uint64_t k, double t[SEQ_ALT_COUNT])
{
	double dk, dnk, max = -INFINITY;
	int j;

	if (k > n)
		k = n;
	dk = (double)k;
	dnk = (double)(n - k);
	for (j = 0; j < SEQ_ALT_COUNT; j++) {
		t[j] = dk * b->up[j] + dnk * b->down[j];
		if (t[j] > max)
			max = t[j];
	}
	return max;
}

/* Terms more than this far below the largest cannot change a double sum
 * that already holds e^0 = 1 (e^-38 < 2^-53): skipping their exp() gives
 * the very same result, and for large n most terms are that far. */
#define SEQ_NEGLIGIBLE 38.0

static double log_mean_exp(const double t[SEQ_ALT_COUNT], double max)
{
	double sum = 0.0;
	int j;

	for (j = 0; j < SEQ_ALT_COUNT; j++)
		if (t[j] > max - SEQ_NEGLIGIBLE)
			sum += exp(t[j] - max);
	return max + log(sum / SEQ_ALT_COUNT);
}

double seq_bern_log_m(const struct seq_bern *b, uint64_t n, uint64_t k)
{
	double t[SEQ_ALT_COUNT];
	double max = terms(b, n, k, t);

	return log_mean_exp(t, max);
}

bool seq_bern_rejects(const struct seq_bern *b, uint64_t n, uint64_t k)
{
	double t[SEQ_ALT_COUNT];
	double max = terms(b, n, k, t);

	/* max - log J <= log M <= max */
	if (max < b->log_inv_alpha)
		return false;
	if (max - log((double)SEQ_ALT_COUNT) >= b->log_inv_alpha)
		return true;
	/* log M >= L  <=>  sum_j e^(t_j - L) >= J; here every t_j - L < log J */
	double sum = 0.0, floor_t = max - SEQ_NEGLIGIBLE;
	for (int j = 0; j < SEQ_ALT_COUNT; j++)
		if (t[j] > floor_t)
			sum += exp(t[j] - b->log_inv_alpha);
	return sum >= (double)SEQ_ALT_COUNT;
}

double seq_bern_evidence(const struct seq_bern *b, uint64_t n, uint64_t k)
{
	double lm = seq_bern_log_m(b, n, k);

	return lm > 0.0 ? lm / b->log_inv_alpha : 0.0;
}

uint64_t seq_bern_max_accepted(const struct seq_bern *b, uint64_t n, struct seq_hint *hint)
{
	uint64_t lo, hi, g = 0, step;

	if (hint != NULL) {
		g = hint->k;
		if (n > hint->n)
			g += (uint64_t)((double)(n - hint->n) * b->p0 + 0.5);
		if (g > n)
			g = n;
	}

	/* Invariant: lo is accepted, hi is rejected (or n + 1). k = 0 is always
	 * accepted: every term is n * down_j <= 0 < log(1/alpha). */
	if (seq_bern_rejects(b, n, g)) {
		/* g >= 1 here; gallop down to an accepted k */
		hi = g;
		lo = 0;
		for (step = 1; step < hi; step *= 2) {
			uint64_t cand = hi - step;

			if (!seq_bern_rejects(b, n, cand)) {
				lo = cand;
				break;
			}
			hi = cand;
		}
	} else {
		lo = g;
		hi = n + 1;
		for (step = 1; n - lo >= step; step *= 2) {
			uint64_t cand = lo + step;

			if (seq_bern_rejects(b, n, cand)) {
				hi = cand;
				break;
			}
			lo = cand;
		}
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (seq_bern_rejects(b, n, mid))
			hi = mid;
		else
			lo = mid;
	}
	if (hint != NULL) {
		hint->n = n;
		hint->k = lo;
	}
	return lo;
}

/* ---- confidence sequences of a rate -------------------------------------- */

#define SEQ_BISECT_STEPS 56
#define SEQ_P_FLOOR 1e-15

double seq_rate_lower(uint64_t n, uint64_t k, double alpha)
{
	struct seq_bern b;
	double lo, hi;
	int i;

	if (k > n)
		k = n;
	if (n == 0 || k == 0 || !(alpha > 0.0 && alpha < 1.0))
		return 0.0;
	/* Bisect on log p0 between a floor (taken as 0 when even it is not
	 * rejected) and k/n (never rejected); 1 - 1e-15 stands in for 1. */
	hi = (double)k / (double)n;
	if (hi >= 1.0)
		hi = 1.0 - SEQ_P_FLOOR;
	lo = SEQ_P_FLOOR;
	seq_bern_init(&b, lo, alpha);
	if (!seq_bern_rejects(&b, n, k))
		return 0.0;
	for (i = 0; i < SEQ_BISECT_STEPS; i++) {
		double mid = sqrt(lo * hi);

		if (!(mid > lo && mid < hi))
			break;
		seq_bern_init(&b, mid, alpha);
		if (seq_bern_rejects(&b, n, k))
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

double seq_rate_upper(uint64_t n, uint64_t k, double alpha)
{
	if (k > n)
		k = n;
	return 1.0 - seq_rate_lower(n, n - k, alpha);
}

/* ---- histograms and quantiles -------------------------------------------- */

uint64_t seq_hist_count_above(const struct seq_hist *h, double t)
{
	uint64_t above = 0;
	size_t i = h->nslots;

	while (i > 0 && (double)h->lo[i - 1] > t)
		above += h->count[--i];
	return above;
}

size_t seq_hist_slot_of_rank(const struct seq_hist *h, uint64_t rank)
{
	uint64_t seen = 0;
	size_t i;

	for (i = 0; i + 1 < h->nslots; i++) {
		seen += h->count[i];
		if (seen >= rank)
			return i;
	}
	return h->nslots > 0 ? h->nslots - 1 : 0;
}

bool seq_quantile_lower(const struct seq_bern *gt, const struct seq_hist *h, struct seq_hint *hint,
                        double *out)
{
	uint64_t n = h->total, l;

	if (n == 0 || h->nslots == 0)
		return false;
	l = n - seq_bern_max_accepted(gt, n, hint);
	if (l < 1)
		return false;
	*out = (double)h->lo[seq_hist_slot_of_rank(h, l)];
	return true;
}

bool seq_quantile_upper(const struct seq_bern *lt, const struct seq_hist *h, uint64_t unseen,
                        struct seq_hint *hint, double *out)
{
	uint64_t n = h->total, u;

	if (n == 0 || h->nslots == 0)
		return false;
	u = seq_bern_max_accepted(lt, n + unseen, hint);
	if (u + 1 > n)
		return false;
	*out = (double)h->hi[seq_hist_slot_of_rank(h, u + 1)];
	return true;
}

/* (seqtest.h) */
double seq_hist_quantile(const struct seq_hist *h, double p)
{
	double r;
	uint64_t rank;

	if (h->total == 0 || h->nslots == 0)
		return NAN;
	r = ceil(p * (double)h->total - 1e-9);
	rank = r < 1.0 ? 1 : r > (double)h->total ? h->total : (uint64_t)r;
	return (double)h->hi[seq_hist_slot_of_rank(h, rank)];
}

/* ---- the guard's tests --------------------------------------------------- */

static const char *const test_names[SEQ_TEST_COUNT] = {
	[SEQ_ERROR_RATE] = "error_rate",
	[SEQ_ERROR_RATE_INCREASE] = "error_rate_increase",
	[SEQ_P50] = "p50",
	[SEQ_P99] = "p99",
	[SEQ_P999] = "p999",
	[SEQ_P99_RATIO] = "p99_ratio",
};

static const double latency_p[3] = { 0.5, 0.99, 0.999 };

const char *seq_test_name(enum seq_test_id id)
{
	if ((unsigned)id >= SEQ_TEST_COUNT)
		return "unknown";
	return test_names[id];
}

static double threshold_of(const struct cfg_thresholds *th, enum seq_test_id id)
{
	switch (id) {
	case SEQ_ERROR_RATE: return th->max_error_rate;
	case SEQ_ERROR_RATE_INCREASE: return th->max_error_rate_increase;
	case SEQ_P50: return th->max_p50_ms;
	case SEQ_P99: return th->max_p99_ms;
	case SEQ_P999: return th->max_p999_ms;
	case SEQ_P99_RATIO: return th->max_p99_ratio;
	case SEQ_TEST_COUNT: break;
	}
	return NAN;
}

int seq_setup_init(struct seq_setup *s, const struct cfg_thresholds *th, double alpha, char *err,
                   size_t errlen)
{
	int id, i;

	memset(s, 0, sizeof(*s));
	if (!(alpha > 0.0 && alpha < 0.5)) {
		snprintf(err, errlen, "alpha must be greater than 0 and less than 0.5 (got %g)", alpha);
		return -1;
	}
	s->alpha = alpha;
	s->th = *th;
	for (id = 0; id < SEQ_TEST_COUNT; id++) {
		double t = threshold_of(th, (enum seq_test_id)id);

		if (isnan(t))
			continue;
		if (!(t >= 0.0)) {
			snprintf(err, errlen, "%s threshold must be a number >= 0 (got %g)",
			         test_names[id], t);
			return -1;
		}
		s->enabled[id] = true;
		s->ntests++;
	}
	s->a = s->ntests > 0 ? alpha / s->ntests : alpha;
	/* Degenerate error rates (0 or 1) are handled in seq_evaluate. */
	if (s->enabled[SEQ_ERROR_RATE])
		seq_bern_init(&s->err, th->max_error_rate, s->a);
	for (i = 0; i < 3; i++) {
		seq_bern_init(&s->gt[i], 1.0 - latency_p[i], s->a);
		seq_bern_init(&s->lt[i], latency_p[i], s->a);
	}
	seq_bern_init(&s->ratio_gt, 1.0 - 0.99, s->a / 2.0);
	seq_bern_init(&s->ratio_lt, 0.99, s->a / 2.0);
	return 0;
}

/* Hint slots. */
enum { H_GT = 0, H_LT = 3, H_RC_GT = 6, H_RB_LT = 7, H_RC_LT = 8, H_RB_GT = 9 };

static void eval_error_rate(const struct seq_setup *s, const struct seq_pool *c, bool detail,
                            struct seq_result *r)
{
	double e0 = s->th.max_error_rate;
	uint64_t n = c->requests, k = c->errors > n ? n : c->errors;

	if (s->counts_elsewhere && seq_is_count_test(s, SEQ_ERROR_RATE)) {
		r->evidence = NAN;      /* decided by a detector */
	} else if (e0 <= 0.0) {         /* a single error disproves "never" */
		r->rejected = k > 0;
		r->evidence = k > 0 ? 1.0 : 0.0;
	} else if (e0 >= 1.0) {         /* nothing can exceed 100 % */
		r->evidence = 0.0;
	} else {
		r->rejected = seq_bern_rejects(&s->err, n, k);
		if (detail)
			r->evidence = seq_bern_evidence(&s->err, n, k);
	}
	if (detail && n > 0) {
		r->estimate = (double)k / (double)n;
		r->lo = seq_rate_lower(n, k, s->a);
		r->hi = seq_rate_upper(n + c->in_flight, k + c->in_flight, s->a);
	}
}

static void eval_increase(const struct seq_setup *s, const struct seq_pool *c,
                          const struct seq_pool *b, bool detail, struct seq_result *r)
{
	double d = s->th.max_error_rate_increase, half = s->a / 2.0, lower_c, upper_b;
	uint64_t nc = c->requests, kc = c->errors > nc ? nc : c->errors;
	uint64_t nb = b->requests, kb = b->errors > nb ? nb : b->errors;

	if (nc == 0 || nb == 0) {
		r->evidence = 0.0;
		return;
	}
	r->estimate = (double)kc / (double)nc - (double)kb / (double)nb;
	/* lower_c <= k_c/n_c and upper_b >= k_b/n_b: no need to search when
	 * the point estimates do not exceed d. */
	if (!detail && r->estimate <= d) {
		r->evidence = 0.0;
		return;
	}
	lower_c = seq_rate_lower(nc, kc, half);
	upper_b = seq_rate_upper(nb + b->in_flight, kb + b->in_flight, half);
	r->lo = lower_c - upper_b;
	r->rejected = r->lo > d;
	r->evidence = r->lo <= 0.0 ? 0.0 : d > 0.0 ? r->lo / d : 1.0;
	if (detail)
		r->hi = seq_rate_upper(nc + c->in_flight, kc + c->in_flight, half) - seq_rate_lower(nb, kb, half);
}

static void eval_latency(const struct seq_setup *s, int i, const struct seq_pool *c,
                         struct seq_hints *hints, bool detail, struct seq_result *r)
{
	const struct seq_hist *h = &c->latency;
	uint64_t above = seq_hist_count_above(h, r->threshold * 1000.0);
	double v;

	r->n_canary = h->total;
	if (!s->counts_elsewhere)
		r->rejected = seq_bern_rejects(&s->gt[i], h->total, above);
	if (!detail)
		return;
	if (!s->counts_elsewhere)
		r->evidence = seq_bern_evidence(&s->gt[i], h->total, above);
	r->estimate = seq_hist_quantile(h, latency_p[i]) / 1000.0;
	if (seq_quantile_lower(&s->gt[i], h, &hints->v[H_GT + i], &v))
		r->lo = v / 1000.0;
	if (seq_quantile_upper(&s->lt[i], h, c->in_flight, &hints->v[H_LT + i], &v))
		r->hi = v / 1000.0;
}

static void eval_ratio(const struct seq_setup *s, const struct seq_pool *c, const struct seq_pool *b,
                       struct seq_hints *hints, bool detail, struct seq_result *r)
{
	double lc, ub, uc, lb, rt = r->threshold;

	r->n_canary = c->latency.total;
	r->n_baseline = b->latency.total;
	r->evidence = 0.0;
	/* A baseline that is mostly errors is no yardstick: a dead pool answers
	 * 502 in microseconds and would make a healthy canary look slow. */
	if (b->errors * 2 > b->requests)
		return;
	if (seq_quantile_lower(&s->ratio_gt, &c->latency, &hints->v[H_RC_GT], &lc) &&
	    seq_quantile_upper(&s->ratio_lt, &b->latency, b->in_flight, &hints->v[H_RB_LT], &ub) &&
	    ub > 0.0) {
		r->lo = lc / ub;
		r->rejected = lc > rt * ub;
		r->evidence = rt > 0.0 ? r->lo / rt : 1.0;
	}
	if (!detail)
		return;
	if (seq_hist_quantile(&b->latency, 0.99) > 0.0)
		r->estimate = seq_hist_quantile(&c->latency, 0.99) / seq_hist_quantile(&b->latency, 0.99);
	if (seq_quantile_upper(&s->ratio_lt, &c->latency, c->in_flight, &hints->v[H_RC_LT], &uc) &&
	    seq_quantile_lower(&s->ratio_gt, &b->latency, &hints->v[H_RB_GT], &lb))
		r->hi = lb > 0.0 ? uc / lb : INFINITY;
}

int seq_evaluate(const struct seq_setup *s, const struct seq_pool pools[POOL_COUNT],
                 struct seq_hints *hints, bool detail, struct seq_result out[SEQ_TEST_COUNT])
{
	const struct seq_pool *c = &pools[POOL_CANARY], *b = &pools[POOL_BASELINE];
	int id, first = -1;

	for (id = 0; id < SEQ_TEST_COUNT; id++) {
		struct seq_result *r = &out[id];

		r->enabled = s->enabled[id];
		r->rejected = false;
		r->evidence = r->estimate = r->lo = r->hi = NAN;
		r->threshold = threshold_of(&s->th, (enum seq_test_id)id);
		r->n_canary = c->requests;
		r->n_baseline = b->requests;
		if (!r->enabled)
			continue;
		switch ((enum seq_test_id)id) {
		case SEQ_ERROR_RATE:
			eval_error_rate(s, c, detail, r);
			break;
		case SEQ_ERROR_RATE_INCREASE:
			eval_increase(s, c, b, detail, r);
			break;
		case SEQ_P50:
		case SEQ_P99:
		case SEQ_P999:
			eval_latency(s, id - SEQ_P50, c, hints, detail, r);
			break;
		case SEQ_P99_RATIO:
			eval_ratio(s, c, b, hints, detail, r);
			break;
		case SEQ_TEST_COUNT:
			break;
		}
		if (r->rejected) {
			if (!(r->evidence >= 1.0))
				r->evidence = 1.0;
			if (first < 0)
				first = id;
		}
	}
	return first;
}

/* ---- streams ------------------------------------------------------------- */

double seq_stream_alpha(double alpha, uint64_t index)
{
	double j = (double)index;

	return index == 0 ? alpha / 2.0 : alpha / (2.0 * j * (j + 1.0));
}

int seq_stream_start(struct seq_stream *st, const struct cfg_thresholds *th, double alpha,
                     uint64_t index, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->index = index;
	if (!(alpha > 0.0 && alpha < 0.5)) {
		snprintf(err, errlen, "alpha must be greater than 0 and less than 0.5 (got %g)", alpha);
		return -1;
	}
	if (seq_setup_init(&st->setup, th, seq_stream_alpha(alpha, index), err, errlen) < 0)
		return -1;
	st->ready = true;
	return 0;
}

int seq_stream_evaluate(struct seq_stream *st, const struct seq_pool pools[POOL_COUNT], bool detail)
{
	if (!st->ready)
		return -1;
	return seq_evaluate(&st->setup, pools, &st->hints, detail, st->results);
}

/* ---- change-point mixtures ------------------------------------------------ */

double seq_start_weight(uint64_t epoch)
{
	const double c = SEQ_START_SHIFT;
	double j = (double)epoch;

	/* sum over j >= 1 of 1/((j+c)(j+c+1)) telescopes to 1/(c+1) */
	return epoch == 0 ? 0.5 : 0.5 * (c + 1.0) / ((j + c) * (j + c + 1.0));
}

void seq_detector_reset(struct seq_detector *d)
{
	memset(d, 0, sizeof(*d));
	for (int j = 0; j < SEQ_ALT_COUNT; j++)
		d->log_sum[j] = d->log_best[j] = -INFINITY;
}

static double log_add(double a, double b)
{
	double m = a > b ? a : b;

	if (m == -INFINITY)
		return m;
	return m + log(exp(a - m) + exp(b - m));
}

void seq_detector_update(struct seq_detector *d, const struct seq_bern *b, uint64_t n, uint64_t k,
                         bool new_epoch, uint64_t tag)
{
	uint64_t dn, dk;

	if (k > n)
		k = n;
	if (n < d->n || k < d->k) {     /* totals went down: nothing new */
		n = d->n;
		k = d->k;
	}
	dn = n - d->n;
	dk = k - d->k;
	if (dk > dn)
		dk = dn;
	if (new_epoch) {
		double w = seq_start_weight(d->epochs++), lw = log(w);

		d->started += w;
		for (int j = 0; j < SEQ_ALT_COUNT; j++) {
			d->log_sum[j] = log_add(d->log_sum[j], lw);
			if (lw > d->log_best[j]) {
				d->log_best[j] = lw;
				d->best_n0[j] = d->n;
				d->best_k0[j] = d->k;
				d->best_tag[j] = tag;
			}
		}
	}
	if (dn > 0)
		for (int j = 0; j < SEQ_ALT_COUNT; j++) {
			double t = (double)dk * b->up[j] + (double)(dn - dk) * b->down[j];

			d->log_sum[j] += t;
			d->log_best[j] += t;
		}
	d->n = n;
	d->k = k;
}

double seq_detector_log_m(const struct seq_detector *d)
{
	double max = -INFINITY, sum = 0.0, rest = 1.0 - d->started;
	int j;

	for (j = 0; j < SEQ_ALT_COUNT; j++)
		if (d->log_sum[j] > max)
			max = d->log_sum[j];
	if (max == -INFINITY)
		return 0.0;
	for (j = 0; j < SEQ_ALT_COUNT; j++)
		if (d->log_sum[j] > max - SEQ_NEGLIGIBLE)
			sum += exp(d->log_sum[j] - max);
	/* (1/J) sum e^{log_sum} + rest, in log space */
	return log_add(max + log(sum / SEQ_ALT_COUNT), rest > 0.0 ? log(rest) : -INFINITY);
}

bool seq_detector_best(const struct seq_detector *d, uint64_t *n0, uint64_t *k0, uint64_t *tag)
{
	int best = -1;

	for (int j = 0; j < SEQ_ALT_COUNT; j++)
		if (d->log_best[j] > -INFINITY && (best < 0 || d->log_best[j] > d->log_best[best]))
			best = j;
	if (best < 0)
		return false;
	*n0 = d->best_n0[best];
	*k0 = d->best_k0[best];
	*tag = d->best_tag[best];
	return true;
}

void seq_detectors_reset(struct seq_detectors *ds)
{
	for (int id = 0; id < SEQ_TEST_COUNT; id++)
		seq_detector_reset(&ds->d[id]);
}

bool seq_is_count_test(const struct seq_setup *s, enum seq_test_id id)
{
	switch (id) {
	case SEQ_ERROR_RATE:
		return s->enabled[id] && s->th.max_error_rate > 0.0 && s->th.max_error_rate < 1.0;
	case SEQ_P50:
	case SEQ_P99:
	case SEQ_P999:
		return s->enabled[id];
	default:
		return false;
	}
}

void seq_detectors_update(struct seq_detectors *ds, const struct seq_setup *s,
                          const struct seq_pool *canary, bool new_epoch, uint64_t tag)
{
	if (seq_is_count_test(s, SEQ_ERROR_RATE))
		seq_detector_update(&ds->d[SEQ_ERROR_RATE], &s->err, canary->requests, canary->errors,
		                    new_epoch, tag);
	for (int i = 0; i < 3; i++) {
		enum seq_test_id id = (enum seq_test_id)(SEQ_P50 + i);

		if (seq_is_count_test(s, id))
			seq_detector_update(&ds->d[id], &s->gt[i], canary->latency.total,
			                    seq_hist_count_above(&canary->latency,
			                                         threshold_of(&s->th, id) * 1000.0),
			                    new_epoch, tag);
	}
}

bool seq_detector_rejects(const struct seq_detectors *ds, const struct seq_setup *s,
                          enum seq_test_id id)
{
	const struct seq_bern *b = id == SEQ_ERROR_RATE ? &s->err : &s->gt[id - SEQ_P50];
	const struct seq_detector *d = &ds->d[id];
	double max = -INFINITY;

	/* M <= e^max + 1 < 1/alpha when max < log(1/alpha - 1): no exp() */
	for (int j = 0; j < SEQ_ALT_COUNT; j++)
		if (d->log_sum[j] > max)
			max = d->log_sum[j];
	if (max < log(exp(b->log_inv_alpha) - 1.0))
		return false;
	return seq_detector_log_m(d) >= b->log_inv_alpha;
}

double seq_detector_evidence(const struct seq_detectors *ds, const struct seq_setup *s,
                             enum seq_test_id id, bool *rejected)
{
	const struct seq_bern *b = id == SEQ_ERROR_RATE ? &s->err : &s->gt[id - SEQ_P50];
	double lm = seq_detector_log_m(&ds->d[id]);

	*rejected = lm >= b->log_inv_alpha;
	return lm > 0.0 ? lm / b->log_inv_alpha : 0.0;
}
