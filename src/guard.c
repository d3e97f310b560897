/* guard: the judgement of the canary (see include/weir/guard.h).
 *
 * Judgement rules, in the order a tick applies them:
 *
 *  1. Arming. ROLLED_BACK sticks until guard_rearm (an operator's weight
 *     change); PAUSED while the operator flag is set; IDLE at canary weight
 *     0 (or with the guard disabled); PROMOTED at 100 % (no baseline traffic
 *     left to compare with). None of these judge anything.
 *  2. Gate. Below min_requests canary requests in the window nothing is
 *     judged, not even at 100 % errors: ten requests cannot tell a bad canary
 *     from an unlucky one. A tick that cannot judge neither starts, extends
 *     nor ends a breach episode, and never acts.
 *  3. Thresholds, each only when set (not NaN), first breached one reported:
 *     - max_error_rate: the LOWER bound of the 95 % Wilson score interval of
 *       the canary's error rate must exceed the threshold. The bound is the
 *       smallest true error rate that is still consistent with what was seen,
 *       so a breach is a statement that the canary is bad beyond reasonable
 *       noise. The Wilson interval (unlike p +- z*sqrt(p(1-p)/n)) stays inside
 *       0..1 and behaves at 0 errors and at small n:
 *           p = e/n, z = 1.96
 *           centre = (p + z^2/2n) / (1 + z^2/n)
 *           half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
 *           lower  = centre - half,  upper = centre + half
 *       20 errors in 100: lower 0.133, so a 2 % threshold is breached;
 *       12 in 600 (2 % observed): lower 0.0115, not breached.
 *     - max_error_rate_increase: canary lower bound minus baseline UPPER
 *       bound must exceed the threshold, i.e. the canary is worse than the
 *       baseline even when each is given the benefit of the doubt. Skipped
 *       while the baseline has fewer than min_requests requests in the window
 *       (nothing to compare with); zero baseline errors is fine.
 *     - max_p50_ms / max_p99_ms: the canary percentile above the threshold
 *       (the min_requests gate is their sample floor).
 *     - max_p999_ms: as above, but only with GUARD_P999_MIN_SAMPLES (1000)
 *       canary requests in the window: below that the 99.9th percentile is
 *       merely the slowest request seen.
 *     - max_p99_ratio: canary p99 / baseline p99 above the ratio; skipped
 *       while the baseline has fewer than min_requests requests or a p99 of 0.
 *     Inputs that are NaN, infinite or negative are "no data": the checks
 *     that need them are skipped, never breached.
 *  4. Hysteresis. The first breached tick moves WATCHING -> BREACHING and
 *     starts the episode; the first judged tick without a breach ends it
 *     (back to WATCHING). When now - episode start >= guard.for (so for = 0
 *     acts on the first breached tick), the action: rollback -> ROLLED_BACK;
 *     alert -> one alert for the episode, state stays BREACHING. */
#include "weir/guard.h"
#include "weir/json.h"
#include "weir/textbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- names --------------------------------------------------------------- */

static const char *const state_names[GUARD_STATE_COUNT] = {
	[GUARD_IDLE] = "idle",
	[GUARD_WATCHING] = "watching",
	[GUARD_BREACHING] = "breaching",
	[GUARD_ROLLED_BACK] = "rolled_back",
	[GUARD_PAUSED] = "paused",
	[GUARD_PROMOTED] = "promoted",
};

const char *guard_state_name(enum guard_state s)
{
	if ((unsigned)s >= GUARD_STATE_COUNT)
		return "unknown";
	return state_names[s];
}

int guard_state_parse(const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < GUARD_STATE_COUNT; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

const char *guard_metric_name(enum guard_metric m)
{
	switch (m) {
	case GUARD_METRIC_NONE:
		return "none";
	case GUARD_METRIC_ERROR_RATE:
		return "error_rate";
	case GUARD_METRIC_ERROR_RATE_INCREASE:
		return "error_rate_increase";
	case GUARD_METRIC_P50:
		return "p50";
	case GUARD_METRIC_P99:
		return "p99";
	case GUARD_METRIC_P999:
		return "p999";
	case GUARD_METRIC_P99_RATIO:
		return "p99_ratio";
	}
	return "unknown";
}

/* ---- bounded text output (textbuf.h) ---------------------------------- */

static int out_finish(const struct textbuf *o)
{
	return o->truncated ? -1 : 0;
}

void guard_copy_text(char *dst, size_t dstlen, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t n, i = 0, o = 0;

	if (dstlen == 0)
		return;
	n = src != NULL ? strlen(src) : 0;
	while (i < n) {
		size_t k = utf8_char_len(p + i, n - i);

		if (k == 0) {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + k >= dstlen)
			break;
		if (k == 1 && (p[i] < 0x20 || p[i] == 0x7f))
			dst[o] = ' ';
		else
			memcpy(dst + o, p + i, k);
		o += k;
		i += k;
	}
	dst[o] = '\0';
}

/* ---- the Wilson score interval ------------------------------------------- */

void guard_wilson(double errors, double requests, double *lower, double *upper)
{
	const double z = GUARD_WILSON_Z, z2 = z * z;
	double p, denom, centre, half;

	*lower = 0.0;
	*upper = 1.0;
	if (!isfinite(errors) || !isfinite(requests) || errors < 0.0 || requests <= 0.0)
		return;
	if (errors > requests)
		errors = requests;
	p = errors / requests;
	denom = 1.0 + z2 / requests;
	centre = (p + z2 / (2.0 * requests)) / denom;
	half = z / denom * sqrt(p * (1.0 - p) / requests + z2 / (4.0 * requests * requests));
	*lower = centre - half < 0.0 ? 0.0 : centre - half;
	*upper = centre + half > 1.0 ? 1.0 : centre + half;
}

/* ---- state --------------------------------------------------------------- */

static bool is_set(double threshold)
{
	return !isnan(threshold);
}

static bool have(double v)
{
	return !isnan(v);
}

/* What the weight alone says, for an armed, unpaused guard. */
static enum guard_state state_for_weight(const struct guard *g, uint32_t w)
{
	if (w == 0)
		return GUARD_IDLE;
	if (w >= WEIGHT_SCALE)
		return GUARD_PROMOTED;
	return g->enabled ? GUARD_WATCHING : GUARD_IDLE;
}

/* The only place STATE changes. Leaving BREACHING ends the episode; leaving
 * ROLLED_BACK forgets its reason. */
static void set_state(struct guard *g, enum guard_state st, uint64_t now_ms)
{
	if (st == g->state)
		return;
	if (g->state == GUARD_BREACHING)
		g->alerted = false;
	if (g->state == GUARD_ROLLED_BACK)
		g->state_reason[0] = '\0';
	g->state = st;
	g->since_ms = now_ms;
}

static void clear_judgement(struct guard_judgement *j, uint64_t now_ms)
{
	int p;

	memset(j, 0, sizeof(*j));
	j->at_ms = now_ms;
	for (p = 0; p < POOL_COUNT; p++) {
		j->pools[p].requests = NAN;
		j->pools[p].errors = NAN;
		j->pools[p].p50_ms = NAN;
		j->pools[p].p99_ms = NAN;
		j->pools[p].p999_ms = NAN;
		j->error_rate[p] = NAN;
		j->lower[p] = NAN;
		j->upper[p] = NAN;
	}
	j->error_rate_increase = NAN;
	j->canary_lo_ms[0] = j->canary_lo_ms[1] = j->canary_lo_ms[2] = NAN;
	j->baseline_p99_hi_ms = NAN;
	j->p99_ratio = NAN;
}

/* A new run (or new thresholds): the evidence starts over. */
static void restart_tests(struct guard *g)
{
	for (int i = 0; i < GUARD_STREAMS; i++)
		g->streams[i].ready = false;
	seq_detectors_reset(&g->det);
	g->det_started = false;
	g->tests_valid = false;
}

/* Rebuild the sequential tests for the current thresholds and alpha. A
 * setup that fails (alpha out of range: the configuration rejects it, so
 * only a hand-made cfg_guard gets here) leaves the tests not ready, and the
 * guard then judges nothing under "sequential". */
static bool setup_tests(struct guard *g)
{
	char err[128];
	bool ready = g->method == GUARD_METHOD_SEQUENTIAL;
	/* A reload that changes nothing here keeps the run's evidence. */
	bool same = ready && g->seq_ready && g->seq.alpha == g->alpha &&
	            memcmp(&g->seq.th, &g->th, sizeof(g->th)) == 0;

	if (same)
		return false;
	g->seq_ready = ready && seq_setup_init(&g->seq, &g->th, g->alpha, err, sizeof(err)) == 0;
	/* New thresholds are new hypotheses: their evidence starts over. */
	restart_tests(g);
	return ready;
}

static bool apply_settings(struct guard *g, const struct cfg_guard *cfg)
{
	g->enabled = cfg->enabled;
	g->interval_ms = cfg->interval_ms;
	g->min_requests = cfg->min_requests;
	g->for_ms = cfg->for_ms;
	g->action = cfg->action;
	g->th = cfg->thresholds;
	g->method = cfg->method;
	g->alpha = cfg->alpha;
	return setup_tests(g);
}

void guard_init(struct guard *g, const struct cfg_guard *cfg, uint32_t canary_weight,
                uint64_t now_ms)
{
	memset(g, 0, sizeof(*g));
	(void)apply_settings(g, cfg);
	g->canary_weight = canary_weight;
	g->state = state_for_weight(g, canary_weight);
	g->since_ms = now_ms;
	g->breach.metric = GUARD_METRIC_NONE;
	clear_judgement(&g->last, now_ms);
}

bool guard_configure(struct guard *g, const struct cfg_guard *cfg)
{
	return apply_settings(g, cfg);
}

bool guard_set_thresholds(struct guard *g, const struct cfg_thresholds *th)
{
	g->th = *th;
	return setup_tests(g);
}

bool guard_restore(struct guard *g, enum guard_state state, uint32_t canary_weight,
                   uint64_t now_ms)
{
	enum guard_state before = g->state;

	g->canary_weight = canary_weight;
	g->alerted = false;
	if (state == GUARD_ROLLED_BACK) {
		set_state(g, GUARD_ROLLED_BACK, now_ms);
		guard_copy_text(g->state_reason, sizeof(g->state_reason),
		                "rolled back before the restart");
	} else if (state == GUARD_PAUSED) {
		g->paused = true;
		set_state(g, GUARD_PAUSED, now_ms);
	} else {
		/* An episode is not persisted; leaving BREACHING starts it over. */
		set_state(g, state_for_weight(g, canary_weight), now_ms);
	}
	return g->state != before;
}

bool guard_rearm(struct guard *g, uint32_t canary_weight, uint64_t now_ms)
{
	enum guard_state before = g->state;

	g->canary_weight = canary_weight;
	/* Go through IDLE so that leaving BREACHING / ROLLED_BACK cleans up. */
	set_state(g, GUARD_IDLE, now_ms);
	set_state(g, g->paused ? GUARD_PAUSED : state_for_weight(g, canary_weight), now_ms);
	g->since_ms = now_ms;          /* a fresh start, even in the same state */
	g->alerted = false;
	clear_judgement(&g->last, now_ms);
	restart_tests(g);
	return g->state != before;
}

bool guard_rolled_back(struct guard *g, const char *reason, uint64_t now_ms)
{
	enum guard_state before = g->state;

	set_state(g, GUARD_ROLLED_BACK, now_ms);
	if (reason == NULL || reason[0] == '\0')
		reason = "manual rollback";
	guard_copy_text(g->state_reason, sizeof(g->state_reason), reason);
	g->canary_weight = 0;
	return g->state != before;
}

bool guard_pause(struct guard *g, uint64_t now_ms)
{
	enum guard_state before = g->state;

	g->paused = true;
	if (g->state != GUARD_ROLLED_BACK)
		set_state(g, GUARD_PAUSED, now_ms);
	return g->state != before;
}

bool guard_resume(struct guard *g, uint32_t canary_weight, uint64_t now_ms)
{
	enum guard_state before = g->state;

	g->paused = false;
	g->canary_weight = canary_weight;
	if (g->state != GUARD_ROLLED_BACK)
		set_state(g, state_for_weight(g, canary_weight), now_ms);
	restart_tests(g);
	return g->state != before;
}

const char *guard_reason(const struct guard *g)
{
	if (g->state == GUARD_BREACHING && g->breach.metric != GUARD_METRIC_NONE)
		return g->breach.reason;
	if (g->state == GUARD_ROLLED_BACK && g->state_reason[0] != '\0')
		return g->state_reason;
	return NULL;
}

/* ---- judgement ----------------------------------------------------------- */

/* NaN unless V is a usable measurement. */
static double sane(double v)
{
	return isfinite(v) && v >= 0.0 ? v : NAN;
}

static void sanitize_sample(const struct guard_pool_sample *in, struct guard_pool_sample *out)
{
	out->requests = sane(in->requests);
	out->errors = sane(in->errors);
	out->p50_ms = sane(in->p50_ms);
	out->p99_ms = sane(in->p99_ms);
	out->p999_ms = sane(in->p999_ms);
	if (have(out->errors) && have(out->requests) && out->errors > out->requests)
		out->errors = out->requests;
}

/* Enough requests for comparisons: at least min_requests. */
static bool enough(const struct guard *g, double requests)
{
	return have(requests) && requests >= (double)g->min_requests;
}

double guard_quantile_bound_pct(double n, double q, bool upper)
{
	if (!(n >= 1.0) || !(q > 0.0 && q < 1.0))
		return NAN;
	double rank = n * q + (upper ? 1.0 : -1.0) * GUARD_WILSON_Z * sqrt(n * q * (1.0 - q));
	rank = ceil(rank);
	if (rank < 1.0)
		rank = 1.0;
	if (rank > n)
		rank = n;
	return 100.0 * rank / n;
}

/* The latency bounds of J: from IN's quantile function when it has one,
 * else the point estimates. */
static void latency_bounds(struct guard_judgement *j, const struct guard_input *in)
{
	static const double qs[3] = { 0.5, 0.99, 0.999 };
	const struct guard_pool_sample *b = &j->pools[POOL_BASELINE], *c = &j->pools[POOL_CANARY];
	double point[3] = { c->p50_ms, c->p99_ms, c->p999_ms };

	for (int i = 0; i < 3; i++) {
		j->canary_lo_ms[i] = point[i];
		if (in->quantile_ms && have(c->requests) && have(point[i]))
			j->canary_lo_ms[i] = sane(in->quantile_ms(in->quantile_ctx, POOL_CANARY,
			                                          guard_quantile_bound_pct(c->requests, qs[i], false)));
	}
	j->baseline_p99_hi_ms = b->p99_ms;
	if (in->quantile_ms && have(b->requests) && have(b->p99_ms))
		j->baseline_p99_hi_ms = sane(in->quantile_ms(in->quantile_ctx, POOL_BASELINE,
		                                             guard_quantile_bound_pct(b->requests, 0.99, true)));
}

/* Fill the derived values of J from its (sanitised) pools. */
static void derive(const struct guard *g, struct guard_judgement *j)
{
	const struct guard_pool_sample *b = &j->pools[POOL_BASELINE];
	int p;

	for (p = 0; p < POOL_COUNT; p++) {
		const struct guard_pool_sample *s = &j->pools[p];

		if (have(s->requests) && s->requests > 0.0 && have(s->errors)) {
			j->error_rate[p] = s->errors / s->requests;
			guard_wilson(s->errors, s->requests, &j->lower[p], &j->upper[p]);
		}
	}
	if (enough(g, b->requests) && have(j->lower[POOL_CANARY]) && have(j->upper[POOL_BASELINE]))
		j->error_rate_increase = j->lower[POOL_CANARY] - j->upper[POOL_BASELINE];
	/* A baseline that is mostly errors (lower bound above one half) is no
	 * yardstick for latency: its fast errors (a dead pool answers 502 in
	 * microseconds) would make a healthy canary look slow, and a rollback
	 * would send every request to the failing pool (bench/guard.sh saw
	 * exactly that). */
	bool baseline_failing = have(j->lower[POOL_BASELINE]) && j->lower[POOL_BASELINE] > 0.5;
	if (enough(g, b->requests) && !baseline_failing && have(j->baseline_p99_hi_ms) &&
	    j->baseline_p99_hi_ms > 0.0 && have(j->canary_lo_ms[1]))
		j->p99_ratio = j->canary_lo_ms[1] / j->baseline_p99_hi_ms;
}

/* Decimals that show THRESHOLD exactly (3 to 6): a threshold of 0.0015 must
 * not read "0.002", nor a value above it read the same as the threshold. */
static int rate_decimals(double threshold)
{
	double scaled = threshold * 1000.0;
	int d;

	for (d = 3; d < 6; d++, scaled *= 10.0)
		if (fabs(scaled - floor(scaled + 0.5)) < 1e-6 * (scaled > 1.0 ? scaled : 1.0))
			break;
	return d;
}

/* From BASE decimals up, the fewest that print VALUE and THRESHOLD apart:
 * a ratio of 1.503 against 1.5 reads "1.503 > 1.500", not "1.50 > 1.50". */
static int distinct_decimals(double value, double threshold, int base)
{
	char a[64], b[64];
	int d;

	for (d = base; d < base + 4; d++) {
		snprintf(a, sizeof(a), "%.*f", d, value);
		snprintf(b, sizeof(b), "%.*f", d, threshold);
		if (strcmp(a, b) != 0)
			break;
	}
	return d;
}

/* The breach text without its duration. */
static void describe(const struct guard_judgement *j, struct guard_breach *b)
{
	int d = distinct_decimals(b->value, b->threshold, rate_decimals(b->threshold));
	const char *name = guard_metric_name(b->metric);
	int n = 0;

	switch (b->metric) {
	case GUARD_METRIC_ERROR_RATE:
		n = snprintf(b->reason, sizeof(b->reason),
		             "canary error_rate %.*f (95%% lower bound %.*f) > %.*f",
		             d, b->observed, d, b->value, d, b->threshold);
		break;
	case GUARD_METRIC_ERROR_RATE_INCREASE:
		n = snprintf(b->reason, sizeof(b->reason),
		             "canary error_rate %.*f vs baseline %.*f: increase %.*f "
		             "(95%% lower bound %.*f - 95%% upper bound %.*f) > %.*f",
		             d, j->error_rate[POOL_CANARY], d, j->error_rate[POOL_BASELINE],
		             d, b->value, d, j->lower[POOL_CANARY], d, j->upper[POOL_BASELINE],
		             d, b->threshold);
		break;
	case GUARD_METRIC_P50:
	case GUARD_METRIC_P99:
	case GUARD_METRIC_P999:
		d = distinct_decimals(b->value, b->threshold, 1);
		if (b->value != b->observed)
			n = snprintf(b->reason, sizeof(b->reason), "canary %s %.*fms (95%% lower bound %.*fms) > %.*fms",
			             name, d, b->observed, d, b->value, d, b->threshold);
		else
			n = snprintf(b->reason, sizeof(b->reason), "canary %s %.*fms > %.*fms",
			             name, d, b->value, d, b->threshold);
		break;
	case GUARD_METRIC_P99_RATIO:
		d = distinct_decimals(b->value, b->threshold, 2);
		if (b->value != b->observed)
			n = snprintf(b->reason, sizeof(b->reason),
			             "canary p99 / baseline p99 = %.*f (95%% bounds: %.*f) > %.*f", d, b->observed, d,
			             b->value, d, b->threshold);
		else
			n = snprintf(b->reason, sizeof(b->reason),
			             "canary p99 / baseline p99 = %.*f > %.*f", d, b->value, d, b->threshold);
		break;
	case GUARD_METRIC_NONE:
		b->reason[0] = '\0';
		break;
	}
	if (n < 0 || (size_t)n >= sizeof(b->reason))
		b->reason[sizeof(b->reason) - 1] = '\0';   /* absurd numbers: text cut short */
}

/* Append " for 5s" (tenths when not whole: " for 2.5s") to B's reason. */
static void add_duration(struct guard_breach *b, uint64_t held_ms)
{
	size_t len = strlen(b->reason);
	uint64_t tenths = (held_ms + 50) / 100;
	int n;

	if (tenths % 10 == 0)
		n = snprintf(b->reason + len, sizeof(b->reason) - len, " for %llus",
		             (unsigned long long)(tenths / 10));
	else
		n = snprintf(b->reason + len, sizeof(b->reason) - len, " for %llu.%llus",
		             (unsigned long long)(tenths / 10), (unsigned long long)(tenths % 10));
	if (n < 0 || (size_t)n >= sizeof(b->reason) - len)
		b->reason[len] = '\0';                      /* keep the text without it */
}

/* Check the thresholds against J in metric order; fill B with the first
 * breach. Returns true when one was found. */
static bool find_breach(const struct guard *g, const struct guard_judgement *j,
                        struct guard_breach *b)
{
	const struct guard_pool_sample *c = &j->pools[POOL_CANARY];
	const struct cfg_thresholds *th = &g->th;

	b->metric = GUARD_METRIC_NONE;
	if (is_set(th->max_error_rate) && have(j->lower[POOL_CANARY]) &&
	    j->lower[POOL_CANARY] > th->max_error_rate) {
		b->metric = GUARD_METRIC_ERROR_RATE;
		b->value = j->lower[POOL_CANARY];
		b->observed = j->error_rate[POOL_CANARY];
		b->threshold = th->max_error_rate;
	} else if (is_set(th->max_error_rate_increase) && have(j->error_rate_increase) &&
	           j->error_rate_increase > th->max_error_rate_increase) {
		b->metric = GUARD_METRIC_ERROR_RATE_INCREASE;
		b->value = j->error_rate_increase;
		b->observed = j->error_rate[POOL_CANARY];
		b->threshold = th->max_error_rate_increase;
	} else if (is_set(th->max_p50_ms) && have(j->canary_lo_ms[0]) && j->canary_lo_ms[0] > th->max_p50_ms) {
		b->metric = GUARD_METRIC_P50;
		b->value = j->canary_lo_ms[0];
		b->observed = c->p50_ms;
		b->threshold = th->max_p50_ms;
	} else if (is_set(th->max_p99_ms) && have(j->canary_lo_ms[1]) && j->canary_lo_ms[1] > th->max_p99_ms) {
		b->metric = GUARD_METRIC_P99;
		b->value = j->canary_lo_ms[1];
		b->observed = c->p99_ms;
		b->threshold = th->max_p99_ms;
	} else if (is_set(th->max_p999_ms) && c->requests >= GUARD_P999_MIN_SAMPLES &&
	           have(j->canary_lo_ms[2]) && j->canary_lo_ms[2] > th->max_p999_ms) {
		b->metric = GUARD_METRIC_P999;
		b->value = j->canary_lo_ms[2];
		b->observed = c->p999_ms;
		b->threshold = th->max_p999_ms;
	} else if (is_set(th->max_p99_ratio) && have(j->p99_ratio) &&
	           j->p99_ratio > th->max_p99_ratio) {
		b->metric = GUARD_METRIC_P99_RATIO;
		b->value = j->p99_ratio;
		b->observed = have(c->p99_ms) && have(j->pools[POOL_BASELINE].p99_ms) &&
		                      j->pools[POOL_BASELINE].p99_ms > 0.0
		                  ? c->p99_ms / j->pools[POOL_BASELINE].p99_ms
		                  : j->p99_ratio;
		b->threshold = th->max_p99_ratio;
	}
	if (b->metric == GUARD_METRIC_NONE)
		return false;
	describe(j, b);
	return true;
}

/* Arming and gating: returns true when this tick may judge, after moving
 * the state where the weight and the flags put it. SEQUENTIAL: the gate is
 * one canary request since the run started, not min_requests in the window. */
static bool may_judge(struct guard *g, uint64_t now_ms, bool sequential)
{
	struct guard_judgement *j = &g->last;
	const struct guard_pool_sample *c = &j->pools[POOL_CANARY];
	enum guard_state armed;
	int n = 0;

	if (g->state == GUARD_ROLLED_BACK) {
		n = snprintf(j->note, sizeof(j->note), "rolled back: set a weight to re-arm");
	} else if (g->paused) {
		set_state(g, GUARD_PAUSED, now_ms);
		n = snprintf(j->note, sizeof(j->note), "paused");
	} else if ((armed = state_for_weight(g, g->canary_weight)) != GUARD_WATCHING) {
		set_state(g, armed, now_ms);
		n = snprintf(j->note, sizeof(j->note), "%s",
		             g->canary_weight == 0 ? "canary weight is 0" :
		             g->canary_weight >= WEIGHT_SCALE ? "canary weight is 100%" :
		             "guard disabled");
	} else {
		if (g->state != GUARD_BREACHING)
			set_state(g, GUARD_WATCHING, now_ms);
		if (sequential && !g->seq_ready)
			n = snprintf(j->note, sizeof(j->note), "sequential tests not set up (alpha %g)",
			             g->alpha);
		else if (sequential && have(c->requests) && c->requests >= 1.0)
			return true;
		else if (sequential)
			n = snprintf(j->note, sizeof(j->note), "no canary requests since the run started");
		else if (enough(g, c->requests))
			return true;
		else if (have(c->requests))
			n = snprintf(j->note, sizeof(j->note),
			             "canary has %.0f of %llu requests in the window", c->requests,
			             (unsigned long long)g->min_requests);
		else
			n = snprintf(j->note, sizeof(j->note), "no canary data");
	}
	if (n < 0 || (size_t)n >= sizeof(j->note))
		j->note[0] = '\0';
	return false;
}

struct guard_verdict guard_tick(struct guard *g, const struct guard_input *in, uint64_t now_ms)
{
	struct guard_verdict v = { .kind = GUARD_VERDICT_NONE, .from = g->state };
	struct guard_judgement *j = &g->last;
	struct guard_breach b;
	uint64_t held;
	int p;

	clear_judgement(j, now_ms);
	g->canary_weight = in->canary_weight > WEIGHT_SCALE ? WEIGHT_SCALE : in->canary_weight;
	j->canary_weight = g->canary_weight;
	for (p = 0; p < POOL_COUNT; p++)
		sanitize_sample(&in->pools[p], &j->pools[p]);

	if (!may_judge(g, now_ms, false))
		goto done;
	j->judged = true;
	latency_bounds(j, in);
	derive(g, j);
	if (!find_breach(g, j, &b)) {
		set_state(g, GUARD_WATCHING, now_ms);       /* recovery ends the episode */
		goto done;
	}
	if (g->state != GUARD_BREACHING) {
		set_state(g, GUARD_BREACHING, now_ms);
		g->breach_start_ms = now_ms;
		g->alerted = false;
	}
	held = now_ms > g->breach_start_ms ? now_ms - g->breach_start_ms : 0;
	b.start_ms = g->breach_start_ms;
	b.at_ms = now_ms;
	/* Ticks come every interval, give or take the timer's jitter: the tick
	 * meant to complete guard.for may land a millisecond early, which would
	 * cost a whole extra interval (5 s acting at 6 s, bench/guard.sh). Allow
	 * a tenth of the interval, at most 50 ms. */
	uint64_t slack = g->interval_ms / 10 < 50 ? g->interval_ms / 10 : 50;
	if (held + slack >= g->for_ms && (g->action == GUARD_ACTION_ROLLBACK || !g->alerted)) {
		add_duration(&b, held);
		g->breach = b;
		v.reason = g->breach.reason;
		if (g->action == GUARD_ACTION_ROLLBACK) {
			set_state(g, GUARD_ROLLED_BACK, now_ms);
			memcpy(g->state_reason, b.reason, sizeof(g->state_reason));
			v.kind = GUARD_VERDICT_ROLLBACK;
		} else {
			g->alerted = true;
			v.kind = GUARD_VERDICT_ALERT;
		}
		goto done;
	}
	if (held > 0)
		add_duration(&b, held);
	g->breach = b;
	if (v.from != GUARD_BREACHING)
		v.reason = g->breach.reason;
done:
	v.to = g->state;
	v.judged = j->judged;
	return v;
}

/* ---- sequential judgement ------------------------------------------------ */

/* V for a reason: DECIMALS, "inf", or "-" when unknown. */
static void reason_num(char *buf, size_t len, int decimals, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (isinf(v))
		snprintf(buf, len, "%sinf", v < 0 ? "-" : "");
	else if (fabs(v) < 1e12)
		snprintf(buf, len, "%.*f", decimals, v);
	else
		snprintf(buf, len, "%.6g", v);
}

/* "canary error_rate 0.302 [0.182, 0.447] > 0.050 (sequential test
 * error_rate, canary n=63, baseline n=2104, alpha=0.0005)". */
static void describe_sequential(double a, uint64_t span_ms, enum seq_test_id id,
                                const struct seq_result *r, struct guard_breach *b)
{
	char est[40], lo[40], hi[40], th[40], span[48] = "";
	const char *what = seq_test_name(id), *unit = "";
	int d;
	int n;

	switch (id) {
	case SEQ_P50:
	case SEQ_P99:
	case SEQ_P999:
		d = distinct_decimals(r->lo, r->threshold, 1);
		unit = "ms";
		break;
	case SEQ_P99_RATIO:
		d = distinct_decimals(r->lo, r->threshold, 2);
		what = "p99 / baseline p99";
		break;
	default:
		d = distinct_decimals(r->lo, r->threshold, rate_decimals(r->threshold));
		break;
	}
	reason_num(est, sizeof(est), d, r->estimate);
	reason_num(lo, sizeof(lo), d, r->lo);
	reason_num(hi, sizeof(hi), d, r->hi);
	reason_num(th, sizeof(th), d, r->threshold);
	if (span_ms > 0)
		snprintf(span, sizeof(span), " over the last %.1fs", (double)span_ms / 1000.0);
	n = snprintf(b->reason, sizeof(b->reason),
	             "canary %s %s%s [%s, %s]%s > %s%s (sequential test %s%s, canary n=%llu, "
	             "baseline n=%llu, alpha=%.3g)", what, est, unit, lo, hi, unit, th, unit,
	             seq_test_name(id), span, (unsigned long long)r->n_canary,
	             (unsigned long long)r->n_baseline, a);
	if (n < 0 || (size_t)n >= sizeof(b->reason))
		b->reason[sizeof(b->reason) - 1] = '\0';
}

/* The judgement's display values from the run's pools. */
static void fill_sequential(struct guard_judgement *j, const struct seq_pool pools[POOL_COUNT])
{
	for (int p = 0; p < POOL_COUNT; p++) {
		const struct seq_pool *sp = &pools[p];
		struct guard_pool_sample *s = &j->pools[p];

		s->requests = (double)sp->requests;
		s->errors = (double)(sp->errors > sp->requests ? sp->requests : sp->errors);
		s->p50_ms = sane(seq_hist_quantile(&sp->latency, 0.5) / 1000.0);
		s->p99_ms = sane(seq_hist_quantile(&sp->latency, 0.99) / 1000.0);
		s->p999_ms = sane(seq_hist_quantile(&sp->latency, 0.999) / 1000.0);
		if (sp->requests > 0)
			j->error_rate[p] = s->errors / s->requests;
	}
}

/* Per test, the result of the stream with the most evidence (NaN counts
 * as none): what show guard and /stats.json display. */
static void merge_results(struct guard *g, const struct guard_evidence *ev, size_t nstreams)
{
	for (int id = 0; id < SEQ_TEST_COUNT; id++) {
		size_t best = 0;

		for (size_t i = 1; i < nstreams; i++) {
			double e = g->streams[i].results[id].evidence, be = g->streams[best].results[id].evidence;

			if (!isnan(e) && (isnan(be) || e > be))
				best = i;
		}
		g->tests[id] = g->streams[best].results[id];
		g->test_span_ms[id] = best > 0 ? ev[best].span_ms : 0;
	}
}

/* The count tests' detectors: their evidence and decision into g->tests;
 * once rejected, error_rate's estimate and interval over the data since the
 * start that weighs most (a late failure shows its own rate, not the run's). */
static void apply_detectors(struct guard *g, const struct seq_pool *canary, uint64_t now_ms)
{
	for (int id = 0; id < SEQ_TEST_COUNT; id++) {
		struct seq_result *r = &g->tests[id];
		uint64_t n0, k0, tag;

		if (!seq_is_count_test(&g->seq, (enum seq_test_id)id))
			continue;
		r->evidence = seq_detector_evidence(&g->det, &g->seq, (enum seq_test_id)id, &r->rejected);
		/* A healthy run shows the whole run; a rejection, the failure. */
		if (id != SEQ_ERROR_RATE || !r->rejected || !seq_detector_best(&g->det.d[id], &n0, &k0, &tag))
			continue;
		uint64_t n = canary->requests - n0, k = canary->errors - k0;

		if (n0 > canary->requests || k0 > canary->errors || n == 0)
			continue;
		if (k > n)
			k = n;
		r->n_canary = n;
		r->estimate = (double)k / (double)n;
		r->lo = seq_rate_lower(n, k, g->seq.a);
		r->hi = seq_rate_upper(n, k, g->seq.a);
		g->test_span_ms[id] = tag > g->det_first_ms && now_ms > tag ? now_ms - tag : 0;
	}
}

struct guard_verdict guard_judge(struct guard *g, const struct guard_evidence *ev, size_t nev,
                                 uint32_t canary_weight, uint64_t now_ms)
{
	struct guard_verdict v = { .kind = GUARD_VERDICT_NONE, .from = g->state };
	struct guard_judgement *j = &g->last;
	struct guard_breach b;
	int first = -1;
	size_t i;
	char err[128];

	clear_judgement(j, now_ms);
	g->canary_weight = canary_weight > WEIGHT_SCALE ? WEIGHT_SCALE : canary_weight;
	j->canary_weight = g->canary_weight;
	if (nev > GUARD_STREAMS)
		nev = GUARD_STREAMS;
	if (nev > 0)
		fill_sequential(j, ev[0].pools);
	if (nev == 0 || !may_judge(g, now_ms, true))
		goto done;
	j->judged = true;
	/* a new start for the detectors once a second */
	bool epoch = !g->det_started || now_ms >= g->det_epoch_ms + 1000;
	/* A start covers the data that came after the previous judgement: its
	 * tag is that judgement's time. */
	uint64_t since = g->det_started ? g->det_last_ms : now_ms;
	if (epoch) {
		if (!g->det_started)
			g->det_first_ms = now_ms;
		g->det_epoch_ms = now_ms;
		g->det_started = true;
	}
	seq_detectors_update(&g->det, &g->seq, &ev[0].pools[POOL_CANARY], epoch, since);
	g->det_last_ms = now_ms;
	for (i = 0; i < nev; i++) {
		struct seq_stream *st = &g->streams[i];

		if (!st->ready || st->index != ev[i].segment) {
			seq_stream_start(st, &g->th, g->alpha, ev[i].segment, err, sizeof(err));
			st->setup.counts_elsewhere = true;
		}
		seq_stream_evaluate(st, ev[i].pools, true);
	}
	merge_results(g, ev, nev);
	apply_detectors(g, &ev[0].pools[POOL_CANARY], now_ms);
	g->tests_valid = true;
	if (g->tests[SEQ_ERROR_RATE_INCREASE].enabled)
		j->error_rate_increase = g->streams[0].results[SEQ_ERROR_RATE_INCREASE].estimate;
	if (g->tests[SEQ_P99_RATIO].enabled)
		j->p99_ratio = g->streams[0].results[SEQ_P99_RATIO].estimate;

	/* The first test, in order, that any of its streams (or its detector) rejects. */
	double a = g->seq.a;
	for (int id = 0; id < SEQ_TEST_COUNT && first < 0; id++) {
		if (seq_is_count_test(&g->seq, (enum seq_test_id)id)) {
			if (g->tests[id].rejected)
				first = id;
			continue;
		}
		for (i = 0; i < nev; i++)
			if (g->streams[i].ready && g->streams[i].results[id].rejected) {
				first = id;
				g->tests[id] = g->streams[i].results[id];
				g->test_span_ms[id] = i > 0 ? ev[i].span_ms : 0;
				a = g->streams[i].setup.a;
				break;
			}
	}
	if (first < 0) {
		/* A rejection stands until a re-arm: the evidence of an anytime-valid
		 * test may fall back below its boundary, but the canary was shown to
		 * break the threshold (under "alert" it stays BREACHING, so neither
		 * the rollout advances nor the alert repeats). */
		if (g->state != GUARD_BREACHING)
			set_state(g, GUARD_WATCHING, now_ms);
		goto done;
	}
	const struct seq_result *r = &g->tests[first];
	b.metric = (enum guard_metric)(GUARD_METRIC_ERROR_RATE + first);
	b.value = r->lo;
	b.observed = r->estimate;
	b.threshold = r->threshold;
	describe_sequential(a, g->test_span_ms[first], (enum seq_test_id)first, r, &b);
	if (g->state != GUARD_BREACHING) {
		set_state(g, GUARD_BREACHING, now_ms);
		g->breach_start_ms = now_ms;
		g->alerted = false;
		v.reason = g->breach.reason;
	}
	b.start_ms = g->breach_start_ms;
	b.at_ms = now_ms;
	g->breach = b;
	if (g->action == GUARD_ACTION_ROLLBACK) {
		set_state(g, GUARD_ROLLED_BACK, now_ms);
		memcpy(g->state_reason, b.reason, sizeof(g->state_reason));
		v.kind = GUARD_VERDICT_ROLLBACK;
		v.reason = g->breach.reason;
	} else if (!g->alerted) {
		g->alerted = true;
		v.kind = GUARD_VERDICT_ALERT;
		v.reason = g->breach.reason;
	}
done:
	v.to = g->state;
	v.judged = j->judged;
	return v;
}

bool guard_within(const struct guard *g, char *why, size_t whylen)
{
	if (whylen > 0)
		why[0] = '\0';
	if (g->method != GUARD_METHOD_SEQUENTIAL)
		return true;
	if (!g->tests_valid || !g->streams[0].ready) {
		snprintf(why, whylen, "no judgement yet in this run");
		return false;
	}
	for (int id = 0; id < SEQ_TEST_COUNT; id++) {
		const struct seq_result *r = &g->streams[0].results[id];
		char hi[40], th[40];
		int d;

		/* NaN (too few samples for a bound) is no proof either. */
		if (!r->enabled || r->hi < r->threshold)
			continue;
		d = id == SEQ_P99_RATIO ? 2 : id >= SEQ_P50 ? 1 : rate_decimals(r->threshold);
		reason_num(hi, sizeof(hi), d, r->hi);
		reason_num(th, sizeof(th), d, r->threshold);
		snprintf(why, whylen, "%s upper bound %s, not yet below %s (canary n=%llu, baseline n=%llu)",
		         seq_test_name((enum seq_test_id)id), hi, th, (unsigned long long)r->n_canary,
		         (unsigned long long)r->n_baseline);
		return false;
	}
	return true;
}

/* ---- output -------------------------------------------------------------- */

/* The state members of the "guard" object: "state", "since" and "reason". */
static void out_state_members(struct textbuf *o, const struct guard *g, const char *since_wall)
{
	const char *reason = guard_reason(g);

	textbuf_printf(o, "\"state\":\"%s\",\"since\":", guard_state_name(g->state));
	if (since_wall != NULL)
		json_string(o, since_wall);
	else
		textbuf_printf(o, "null");
	textbuf_printf(o, ",\"reason\":");
	if (reason != NULL)
		json_string(o, reason);
	else
		textbuf_printf(o, "null");
}

int guard_format_json(const struct guard *g, const char *since_wall, struct textbuf *o)
{
	textbuf_printf(o, "{");
	out_state_members(o, g, since_wall);
	textbuf_printf(o, "}");
	return out_finish(o);
}

int guard_format_stats_json(const struct guard *g, const char *since_wall, struct textbuf *o)
{
	textbuf_printf(o, "{");
	out_state_members(o, g, since_wall);
	textbuf_printf(o, ",");
	guard_format_tests_json(g, o);
	textbuf_printf(o, "}");
	return out_finish(o);
}

/* The threshold of sequential test ID. */
static double threshold_value(const struct cfg_thresholds *th, int id)
{
	const double v[SEQ_TEST_COUNT] = { th->max_error_rate, th->max_error_rate_increase,
	                                   th->max_p50_ms, th->max_p99_ms, th->max_p999_ms,
	                                   th->max_p99_ratio };

	return id >= 0 && id < SEQ_TEST_COUNT ? v[id] : NAN;
}


int guard_format_tests_json(const struct guard *g, struct textbuf *o)
{
	bool comma = false;

	textbuf_printf(o, "\"method\":\"%s\",\"alpha\":",
	               g->method == GUARD_METHOD_SEQUENTIAL ? "sequential" : "window");
	json_number(o, g->alpha);
	textbuf_printf(o, ",\"tests\":[");
	for (int id = 0; g->method == GUARD_METHOD_SEQUENTIAL && g->seq_ready && id < SEQ_TEST_COUNT;
	     id++) {
		const struct seq_result *r = &g->tests[id];
		bool known = g->tests_valid;

		if (!g->seq.enabled[id])
			continue;
		textbuf_printf(o, "%s{\"name\":\"%s\",\"evidence\":", comma ? "," : "",
		               seq_test_name((enum seq_test_id)id));
		comma = true;
		json_number(o, known ? r->evidence : NAN);
		textbuf_printf(o, ",\"estimate\":");
		json_number(o, known ? r->estimate : NAN);
		textbuf_printf(o, ",\"interval\":[");
		json_number(o, known ? r->lo : NAN);
		textbuf_printf(o, ",");
		json_number(o, known ? r->hi : NAN);
		textbuf_printf(o, "],\"n_canary\":");
		if (known)
			textbuf_printf(o, "%llu,\"n_baseline\":%llu", (unsigned long long)r->n_canary,
			               (unsigned long long)r->n_baseline);
		else
			textbuf_printf(o, "null,\"n_baseline\":null");
		textbuf_printf(o, ",\"threshold\":");
		json_number(o, threshold_value(&g->th, id));
		textbuf_printf(o, ",\"rejected\":%s}", known && r->rejected ? "true" : "false");
	}
	textbuf_printf(o, "]");
	return out_finish(o);
}

/* "5s", or "1500ms" when not whole seconds. */
static void out_duration(struct textbuf *o, uint64_t ms)
{
	if (ms % 1000 == 0)
		textbuf_printf(o, "%llus", (unsigned long long)(ms / 1000));
	else
		textbuf_printf(o, "%llums", (unsigned long long)ms);
}

/* V with DECIMALS, or "-" when NaN. Absurdly large numbers in exponent
 * form, so that GUARD_SHOW_MAX holds the output whatever came in. */
static void out_num(struct textbuf *o, int decimals, double v)
{
	if (isnan(v))
		textbuf_printf(o, "-");
	else if (fabs(v) < 1e12)
		textbuf_printf(o, "%.*f", decimals, v);
	else
		textbuf_printf(o, "%.6g", v);
}

static void out_threshold(struct textbuf *o, const char *name, int decimals, double v)
{
	textbuf_printf(o, "%s ", name);
	if (isnan(v))
		textbuf_printf(o, "off");
	else
		out_num(o, decimals, v);
	textbuf_printf(o, "\n");
}

static void out_pool(struct textbuf *o, const struct guard_judgement *j, enum pool_id p)
{
	const struct guard_pool_sample *s = &j->pools[p];

	textbuf_printf(o, "%s requests ", p == POOL_CANARY ? "canary" : "baseline");
	out_num(o, 0, s->requests);
	textbuf_printf(o, " errors ");
	out_num(o, 0, s->errors);
	textbuf_printf(o, " error_rate ");
	out_num(o, 4, j->error_rate[p]);
	textbuf_printf(o, " wilson95 ");
	out_num(o, 4, j->lower[p]);
	textbuf_printf(o, "..");
	out_num(o, 4, j->upper[p]);
	textbuf_printf(o, " p50_ms ");
	out_num(o, 1, s->p50_ms);
	textbuf_printf(o, " p99_ms ");
	out_num(o, 1, s->p99_ms);
	textbuf_printf(o, " p999_ms ");
	out_num(o, 1, s->p999_ms);
	textbuf_printf(o, "\n");
}

/* One "test NAME evidence E estimate V interval LO..HI threshold T n_canary
 * N n_baseline M" line per enabled sequential test. */
static void out_tests(struct textbuf *o, const struct guard *g)
{
	for (int id = 0; id < SEQ_TEST_COUNT; id++) {
		const struct seq_result *r = &g->tests[id];
		bool known = g->tests_valid;
		int d = id == SEQ_P99_RATIO ? 2 : id >= SEQ_P50 ? 1 : 4;

		if (!g->seq.enabled[id])
			continue;
		textbuf_printf(o, "test %s evidence ", seq_test_name((enum seq_test_id)id));
		out_num(o, 2, known ? r->evidence : NAN);
		textbuf_printf(o, " estimate ");
		out_num(o, d, known ? r->estimate : NAN);
		textbuf_printf(o, " interval ");
		out_num(o, d, known ? r->lo : NAN);
		textbuf_printf(o, "..");
		out_num(o, d, known && isfinite(r->hi) ? r->hi : NAN);
		textbuf_printf(o, " threshold ");
		out_num(o, d, threshold_value(&g->th, id));
		if (known)
			textbuf_printf(o, " n_canary %llu n_baseline %llu%s\n",
			               (unsigned long long)r->n_canary, (unsigned long long)r->n_baseline,
			               r->rejected ? " rejected" : "");
		else
			textbuf_printf(o, " n_canary - n_baseline -\n");
	}
}

int guard_format_show(const struct guard *g, uint64_t now_ms, const char *since_wall, struct textbuf *o)
{
	const struct guard_judgement *j = &g->last;
	const char *reason = guard_reason(g);

	textbuf_printf(o, "state %s\n", guard_state_name(g->state));
	textbuf_printf(o, "since %s\n", since_wall != NULL ? since_wall : "-");
	textbuf_printf(o, "reason %s\n", reason != NULL ? reason : "-");
	textbuf_printf(o, "enabled %s\n", g->enabled ? "yes" : "no");
	textbuf_printf(o, "action %s\n", g->action == GUARD_ACTION_ROLLBACK ? "rollback" : "alert");
	textbuf_printf(o, "method %s\n",
	               g->method == GUARD_METHOD_SEQUENTIAL ? "sequential" : "window");
	if (g->method == GUARD_METHOD_SEQUENTIAL)
		textbuf_printf(o, "alpha %g\n", g->alpha);
	textbuf_printf(o, "interval ");
	out_duration(o, g->interval_ms);
	textbuf_printf(o, "\nmin_requests %llu\nfor ", (unsigned long long)g->min_requests);
	out_duration(o, g->for_ms);
	textbuf_printf(o, "\n");
	out_threshold(o, "max_error_rate", 4, g->th.max_error_rate);
	out_threshold(o, "max_error_rate_increase", 4, g->th.max_error_rate_increase);
	out_threshold(o, "max_p50_ms", 1, g->th.max_p50_ms);
	out_threshold(o, "max_p99_ms", 1, g->th.max_p99_ms);
	out_threshold(o, "max_p999_ms", 1, g->th.max_p999_ms);
	out_threshold(o, "max_p99_ratio", 2, g->th.max_p99_ratio);
	textbuf_printf(o, "canary_weight %.2f\n", j->canary_weight / 100.0);
	if (j->judged)
		textbuf_printf(o, "judged yes\n");
	else
		textbuf_printf(o, "judged no (%s)\n", j->note);
	out_pool(o, j, POOL_BASELINE);
	out_pool(o, j, POOL_CANARY);
	textbuf_printf(o, "error_rate_increase ");
	out_num(o, 4, j->error_rate_increase);
	textbuf_printf(o, "\np99_ratio ");
	out_num(o, 2, j->p99_ratio);
	textbuf_printf(o, "\n");
	if (g->method == GUARD_METHOD_SEQUENTIAL && g->seq_ready)
		out_tests(o, g);
	if (g->breach.metric == GUARD_METRIC_NONE) {
		textbuf_printf(o, "last_breach none\n");
	} else {
		uint64_t age = now_ms > g->breach.at_ms ? now_ms - g->breach.at_ms : 0;

		textbuf_printf(o, "last_breach ");
		out_duration(o, age / 1000 * 1000);
		textbuf_printf(o, " ago: %s\n", g->breach.reason);
	}
	return out_finish(o);
}
