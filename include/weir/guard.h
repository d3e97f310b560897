/* guard: the judgement of the canary against its thresholds.
 *
 * Pure logic: no sockets, no libevent, no files, no clock of its own. The
 * runtime calls guard_tick() once per guard.interval on the main thread with
 * both pools' numbers over the sliding window and the current canary weight,
 * then acts on the verdict (swap the weights, write the state file, append
 * to the event log). Time only ever comes in as NOW_MS arguments, so tests
 * drive it with a scripted clock. Not thread-safe: one owner (main thread).
 *
 * The rules (the README has the long form):
 *
 *   state      IDLE at canary weight 0, PROMOTED at 100 %, PAUSED while
 *              paused, ROLLED_BACK after a rollback until re-armed (it wins
 *              over every other state, paused included), otherwise WATCHING
 *              or BREACHING.
 *   gate       nothing is judged until the canary has min_requests requests
 *              in the window; p999 also needs GUARD_P999_MIN_SAMPLES.
 *   error rate judged on the 95 % Wilson score interval, not the raw ratio.
 *   hysteresis a breach must hold on every judged tick for guard.for before
 *              the action; one clean judged tick ends the episode.
 *   action     rollback: state ROLLED_BACK (the runtime sets canary to 0);
 *              alert: state stays BREACHING, one alert per episode.
 *
 * That is method "window". Under method "sequential" (the default) the
 * runtime calls guard_judge() instead, at every fold of the workers'
 * measurements, with the counts and histograms since the run started (the
 * last arm or re-arm); each threshold is an anytime-valid test (seqtest.h)
 * and the first one to reject acts at once: no gate, no `for`. */
#ifndef WEIR_GUARD_H
#define WEIR_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"
#include "weir/textbuf.h"
#include "weir/seqtest.h"

/* The guard's states, as INTERFACE.md names them. */
enum guard_state {
	GUARD_IDLE,               /* canary weight 0: nothing to judge */
	GUARD_WATCHING,           /* judging; no threshold breached */
	GUARD_BREACHING,          /* a threshold is breached, waiting for guard.for */
	GUARD_ROLLED_BACK,        /* canary rolled back; sticks until re-armed */
	GUARD_PAUSED,             /* operator pause: no judgement */
	GUARD_PROMOTED            /* canary at 100 %: nothing to compare against */
};
#define GUARD_STATE_COUNT 6

/* "idle", "watching", "breaching", "rolled_back", "paused", "promoted";
 * "unknown" for a value outside the enum. Static storage. */
const char *guard_state_name(enum guard_state s);
/* The state named NAME (exact, lower case), or -1. */
int guard_state_parse(const char *name);

/* z for a two-sided 95 % interval. */
#define GUARD_WILSON_Z 1.96
/* p999 is judged only with at least this many canary requests in the window:
 * below it the 99.9th percentile is just the slowest request seen. */
#define GUARD_P999_MIN_SAMPLES 1000
/* Room for one reason text, NUL included. */
#define GUARD_REASON_MAX 256

/* The 95 % Wilson score interval (z = GUARD_WILSON_Z) of ERRORS out of
 * REQUESTS into *LOWER and *UPPER (both within 0..1). With no requests, or
 * NaN/negative inputs, the interval is the whole 0..1 (nothing is known);
 * errors above requests count as requests. */
void guard_wilson(double errors, double requests, double *lower, double *upper);

/* Copy SRC (NULL: "") into DST of DSTLEN bytes as text fit for a JSON
 * string, the state file and a log line: control characters become spaces,
 * bytes that are not valid UTF-8 become '?', and a text that does not fit
 * is cut at a character boundary. Every reason the guard stores went
 * through it; the runtime may use it for operator text too. */
void guard_copy_text(char *dst, size_t dstlen, const char *src);

/* One pool over the window. NaN, infinite or negative numbers mean "no
 * data" for that number; 0 is a legitimate value (no traffic, no errors). */
struct guard_pool_sample {
	double requests;
	double errors;
	double p50_ms;
	double p99_ms;
	double p999_ms;
};

/* What one tick judges. */
struct guard_input {
	struct guard_pool_sample pools[POOL_COUNT];   /* indexed by enum pool_id */
	uint32_t canary_weight;                       /* hundredths of a percent */
	/* Optional: the latency (ms) at PERCENTILE (0..100) of POOL's window.
	 * With it, latency checks judge confidence bounds of the percentiles
	 * (see guard_quantile_bound_pct) rather than the point estimates, so a
	 * p99 drawn from a few hundred canary requests cannot trip a threshold
	 * by sampling noise alone. NULL: the point estimates are judged. */
	double (*quantile_ms)(void *ctx, enum pool_id pool, double percentile);
	void *quantile_ctx;
};

/* The percentile (0..100) whose value is a 95 % confidence bound of the
 * Q-quantile (0..1) estimated from N samples: the order statistic at rank
 * n*q - z*sqrt(n*q*(1-q)) (lower bound) or + (UPPER), z = GUARD_WILSON_Z,
 * clamped to 1..n. NaN when n < 1. */
double guard_quantile_bound_pct(double n, double q, bool upper);

/* The thresholds, in the order they are checked. */
enum guard_metric {
	GUARD_METRIC_NONE,
	GUARD_METRIC_ERROR_RATE,
	GUARD_METRIC_ERROR_RATE_INCREASE,
	GUARD_METRIC_P50,
	GUARD_METRIC_P99,
	GUARD_METRIC_P999,
	GUARD_METRIC_P99_RATIO
};

/* "none", "error_rate", "error_rate_increase", "p50", "p99", "p999",
 * "p99_ratio". Static storage. */
const char *guard_metric_name(enum guard_metric m);

/* A breach: the first threshold (in enum order) breached at one tick. */
struct guard_breach {
	enum guard_metric metric;     /* GUARD_METRIC_NONE: no breach seen yet */
	double value;                 /* what was compared: the Wilson lower bound,
	                               * the bound difference, ms, or the ratio */
	double observed;              /* the raw canary error rate (error metrics);
	                               * equal to value for the others */
	double threshold;
	uint64_t start_ms;            /* when its episode began */
	uint64_t at_ms;               /* the tick it was last seen at */
	char reason[GUARD_REASON_MAX];/* "canary p99 182.4ms > 150.0ms for 5s"
	                               * ("for" omitted at the episode's first tick
	                               * unless that tick acts) */
};

/* What the last tick saw and computed, for "show guard". Every double is
 * NaN when it was not available or not computed. */
struct guard_judgement {
	uint64_t at_ms;
	bool judged;                  /* thresholds were checked at this tick */
	char note[96];                /* why not, when !judged */
	uint32_t canary_weight;
	struct guard_pool_sample pools[POOL_COUNT];   /* sanitised input */
	double error_rate[POOL_COUNT];
	double lower[POOL_COUNT];     /* Wilson bounds */
	double upper[POOL_COUNT];
	double error_rate_increase;   /* canary lower - baseline upper */
	double canary_lo_ms[3];       /* lower bounds of the canary's p50, p99, p999
	                               * (the point estimates without quantile_ms) */
	double baseline_p99_hi_ms;    /* upper bound of the baseline's p99 */
	double p99_ratio;             /* canary p99 lower bound / baseline p99 upper bound */
};

/* Streams judged under "sequential": the run and two segments. */
#define GUARD_STREAMS 3

/* The guard. Plain data: embed it, no release needed. Read the fields
 * freely; change them only through the functions below. */
struct guard {
	/* settings (guard_init / guard_configure / guard_set_thresholds) */
	bool enabled;                 /* false: never judges, state IDLE unless
	                               * rolled back, paused or promoted */
	uint64_t interval_ms;
	uint64_t min_requests;
	uint64_t for_ms;
	enum guard_action action;
	struct cfg_thresholds th;     /* NaN = not set */
	enum guard_method method;
	double alpha;

	/* method "sequential": which tests are enabled (seq: th at alpha), the
	 * streams of the current run (the run, then segments; seqtest.h) and,
	 * per test, the last evaluation of the stream with the most evidence
	 * (tests_valid: there was one since the run started). */
	struct seq_setup seq;
	bool seq_ready;               /* seq matches th and alpha */
	struct seq_stream streams[GUARD_STREAMS];
	struct seq_detectors det;     /* the count tests (seqtest.h) */
	uint64_t det_first_ms;        /* when the run's first start was offered */
	uint64_t det_epoch_ms;        /* ... and the latest (one a second) */
	uint64_t det_last_ms;         /* the previous judgement */
	bool det_started;
	uint64_t test_span_ms[SEQ_TEST_COUNT];  /* 0: the whole run; else what the
	                                         * shown result covers */
	struct seq_result tests[SEQ_TEST_COUNT];
	bool tests_valid;

	enum guard_state state;
	uint64_t since_ms;            /* when STATE was entered */
	bool paused;                  /* operator flag, orthogonal to arming */
	uint32_t canary_weight;       /* as last told */

	uint64_t breach_start_ms;     /* valid while state == GUARD_BREACHING */
	bool alerted;                 /* the episode's alert has been given */

	struct guard_breach breach;   /* the latest breach; kept after recovery */
	char state_reason[GUARD_REASON_MAX];  /* why ROLLED_BACK; "" otherwise */
	struct guard_judgement last;
};

/* Initialise G from CFG (thresholds included) at CANARY_WEIGHT: state IDLE,
 * WATCHING or PROMOTED by the weight (IDLE when the guard is disabled). */
void guard_init(struct guard *g, const struct cfg_guard *cfg, uint32_t canary_weight,
                uint64_t now_ms);

/* Take new settings after a reload (interval, min_requests, for, action,
 * enabled and the thresholds); the state and a running episode are kept and
 * the next tick judges with the new values. With a rollout, pass a CFG whose
 * thresholds are the current step's (rollout_thresholds), so that an
 * unchanged configuration changes nothing. Returns true when the sequential
 * tests were set up anew (new thresholds or alpha are new hypotheses): their
 * evidence starts over, and the caller must start the run's data over too
 * (data seen before a hypothesis was chosen is no evidence for it). */
bool guard_configure(struct guard *g, const struct cfg_guard *cfg);

/* Replace the thresholds (the rollout's per-step ones). The episode is kept:
 * the next tick re-judges with these. Returns as guard_configure. */
bool guard_set_thresholds(struct guard *g, const struct cfg_thresholds *th);

/* Restore the persisted STATE at start (state file). ROLLED_BACK and PAUSED
 * are restored as they were; every other state re-derives from the weight
 * (a breach episode is not persisted: it starts over). Returns true when the
 * state changed. */
bool guard_restore(struct guard *g, enum guard_state state, uint32_t canary_weight,
                   uint64_t now_ms);

/* What the runtime must do after a tick. */
enum guard_verdict_kind {
	GUARD_VERDICT_NONE,           /* nothing (log a transition if from != to) */
	GUARD_VERDICT_ROLLBACK,       /* set canary to 0 now; the state already
	                               * is ROLLED_BACK */
	GUARD_VERDICT_ALERT           /* record and report the breach; change no
	                               * weight; the state stays BREACHING */
};

struct guard_verdict {
	enum guard_verdict_kind kind;
	enum guard_state from;        /* the state before the tick ... */
	enum guard_state to;          /* ... and after: log a transition when they differ */
	bool judged;                  /* thresholds were checked (the rollout's health) */
	const char *reason;           /* ROLLBACK / ALERT, or entering BREACHING: the
	                               * breach text; NULL otherwise. Points into G,
	                               * valid until the next call on G. */
};

/* Judge IN at NOW_MS (once per guard.interval). Never fails. */
struct guard_verdict guard_tick(struct guard *g, const struct guard_input *in, uint64_t now_ms);

/* What one sequential judgement sees: the counts and latency histograms
 * (microseconds) of the whole run (EV[0], segment 0) and of up to
 * GUARD_STREAMS - 1 segments (segment numbers 1, 2, ... in the order they
 * were started; seqtest.h explains why). */
struct guard_evidence {
	uint64_t segment;             /* 0: since the run started */
	uint64_t span_ms;             /* how long it has been collected */
	struct seq_pool pools[POOL_COUNT];
};

/* Judge under method "sequential" at NOW_MS on EV[0..NEV) (EV[0] the whole
 * run; at most GUARD_STREAMS are used). Arming works as for guard_tick; the
 * canary needs at least one request in the run; the first test to reject
 * in any stream acts at once (rollback, or an alert once per episode). The
 * reason names the test, the estimate, its interval, both sample sizes, the
 * span of a segment and the test's level. Never fails. */
struct guard_verdict guard_judge(struct guard *g, const struct guard_evidence *ev, size_t nev,
                                 uint32_t canary_weight, uint64_t now_ms);

/* Whether the evidence shows the canary within every threshold: under
 * "sequential", every enabled test's confidence interval over the run (the
 * step, since the last arm) lies wholly below its threshold; a bound that
 * cannot be computed yet (too few samples) is no proof. Always true under
 * "window" (its min_requests gate stands in). When false, WHY (WHYLEN bytes,
 * may be 0) names the first test not shown and its bound. A rollout step
 * advances only with it: no rejection is not proof of health when a step
 * saw a handful of requests. */
bool guard_within(const struct guard *g, char *why, size_t whylen);

/* Re-arm after a weight change the guard did not make (set weight, a rollout
 * step, promote): clears ROLLED_BACK and the breach episode, state from the
 * weight (IDLE / WATCHING / PROMOTED; PAUSED stays while paused), since =
 * now. The runtime also restarts the window data. Returns true when the
 * state changed. */
bool guard_rearm(struct guard *g, uint32_t canary_weight, uint64_t now_ms);

/* The operator's "rollback": state ROLLED_BACK with REASON (NULL or "":
 * "manual rollback"). The runtime sets canary to 0. Returns true when the
 * state changed. */
bool guard_rolled_back(struct guard *g, const char *reason, uint64_t now_ms);

/* "pause": no judgement until guard_resume; the episode is dropped. The
 * state becomes PAUSED unless ROLLED_BACK, which stays visible (and sticky).
 * Returns true when the state changed. */
bool guard_pause(struct guard *g, uint64_t now_ms);

/* "resume": judgement restarts from a clean episode, state from the weight
 * (ROLLED_BACK stays). Returns true when the state changed. */
bool guard_resume(struct guard *g, uint32_t canary_weight, uint64_t now_ms);

/* The reason of the current state for the JSON "reason": the breach while
 * BREACHING, the rollback's reason while ROLLED_BACK, NULL otherwise. */
const char *guard_reason(const struct guard *g);

/* /stats.json's "guard" object appended to O (textbuf.h):
 * {"state":"watching","since":"<SINCE_WALL>","reason":null|"..."}
 * SINCE_WALL is since_ms as wall-clock text from the caller (NULL: null).
 * Returns 0, or -1 when O was or became truncated (it then holds a prefix). */
int guard_format_json(const struct guard *g, const char *since_wall, struct textbuf *o);

/* The judgement members of the "guard" object (the runtime appends them to
 * guard_format_json's): "method":"sequential","alpha":0.001,"tests":[
 * {"name":"error_rate","evidence":0.42,"estimate":0.03,"interval":[0.01,0.07],
 * "n_canary":63,"n_baseline":0,"threshold":0.05,"rejected":false},...].
 * "tests" lists the enabled tests under "sequential" (numbers null until the
 * run's first judgement; interval ends null when unknown) and is [] under
 * "window". Appends to O; returns 0, or -1 when it did not fit. */
int guard_format_tests_json(const struct guard *g, struct textbuf *o);

/* /stats.json's whole "guard" object: guard_format_json's members followed by
 * guard_format_tests_json's. Returns 0, or -1 when O was or became truncated. */
int guard_format_stats_json(const struct guard *g, const char *since_wall, struct textbuf *o);

/* A buffer of this size always holds guard_format_show's output. */
#define GUARD_SHOW_MAX 6144

/* "show guard" payload lines ("key value\n" each) into BUF: state, since,
 * reason, settings, thresholds ("off" when not set), the last judged values
 * and the last breach ("last_breach none" or its age and text, relative to
 * NOW_MS). Returns 0, or -1 when O was or became truncated. */
int guard_format_show(const struct guard *g, uint64_t now_ms, const char *since_wall, struct textbuf *o);

#endif
