/* stats: per-pool request measurements, since start and over a sliding window.
 *
 * The hot path records into a worker-owned struct stats_interval without any
 * lock. A few times a second each worker folds its interval into the shared
 * struct stats under a mutex (stats_flush), which keeps three views per pool:
 * the since-start total, a ring of time slots forming the sliding window, and
 * the current rollout step. Readers (admin page, guard) take a snapshot. */
#ifndef WEIR_STATS_H
#define WEIR_STATS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"
#include "weir/hdr.h"

/* Histogram geometry for latencies: 1 µs .. 1 h at 3 significant figures. */
#define STATS_LOWEST_US   1
#define STATS_HIGHEST_US  3600000000LL
#define STATS_SIGFIGS     3

/* What one worker saw of one pool since its last flush. The judged
 * measurements (requests, errors, latencies) leave out overridden requests,
 * which are only counted; abandoned ones are in them when errors.abandoned. */
struct stats_interval {
	struct hdr *latency_us;
	uint64_t requests;
	uint64_t errors;
	uint64_t latency_sum_us;      /* exact sum of the recorded latencies */
	uint64_t abandoned;           /* the client left before the response was complete */
	uint64_t overridden;          /* routed by override_header: counted, never judged */
	/* A gauge, not a count: the worker's judged requests of this pool routed
	 * and not yet measured, set before each flush (stats_flush keeps their
	 * sum over the workers; IN_FLIGHT_FOLDED is this worker's part of it). */
	uint64_t in_flight;
	uint64_t in_flight_folded;
};

/* Allocate the histogram of IV; returns 0 or -1. Release with stats_interval_dispose. */
int stats_interval_init(struct stats_interval *iv);
void stats_interval_dispose(struct stats_interval *iv);

/* Hot path: one finished request of this pool. */
static inline void stats_interval_record(struct stats_interval *iv, uint64_t latency_us, bool error)
{
	hdr_record(iv->latency_us, (int64_t)latency_us);
	iv->requests++;
	iv->errors += error;
	iv->latency_sum_us += latency_us;
}

/* Hot path: a request whose client left after LATENCY_US of waiting. JUDGED
 * (errors.abandoned): it is also a request, an error and a latency. */
static inline void stats_interval_abandoned(struct stats_interval *iv, uint64_t latency_us, bool judged)
{
	iv->abandoned++;
	if (judged)
		stats_interval_record(iv, latency_us, true);
}

/* Hot path: a request routed by override_header, whatever its outcome. */
static inline void stats_interval_overridden(struct stats_interval *iv)
{
	iv->overridden++;
}

/* Counters and a histogram; the unit of every view. */
struct stats_view {
	struct hdr *latency_us;
	uint64_t requests;
	uint64_t errors;
	uint64_t latency_sum_us;      /* exact; the histogram's mean is rounded */
	uint64_t abandoned;
	uint64_t overridden;
	uint64_t in_flight;           /* run views from stats_take_run: the pool's
	                                 requests in flight then; 0 in every other view */
};

struct stats_slot {
	int64_t epoch;                /* slot number (time / slot_ms); -1 when empty */
	uint64_t writes;              /* flushes into it, ever (the closed sum's check) */
	struct stats_view v;
};

/* Closed-slot sums kept per pool (struct stats_pool.closed). */
#define STATS_CLOSED_SUMS 2

/* The window's closed slots (all but the newest), summed once: a snapshot
 * is taken several times a slot (a fleet member publishes every 200 ms), and
 * summing every slot each time cost 30-60 histogram additions. */
struct stats_closed_sum {
	bool valid;
	int64_t oldest, newest;       /* it sums the slots of epochs [oldest, newest) */
	bool *in;                     /* per ring slot: summed ... */
	uint64_t *writes;             /* ... at this many writes */
	struct stats_view sum;
};

struct stats_pool {
	struct stats_view total;
	struct stats_view step;       /* since the last stats_reset_step */
	struct stats_view run;        /* since the last stats_reset_run */
	struct stats_slot *ring;
	/* Two: the status page and the step's numbers take the window from
	 * the start while the guard and a fleet's publish take it from the
	 * run's start, and one entry would be summed again at every turn. */
	struct stats_closed_sum closed[STATS_CLOSED_SUMS];
	unsigned closed_last;         /* the entry used last (the next one is replaced) */
	uint64_t in_flight;           /* sum of the workers' last in_flight gauges */
};

struct stats {
	pthread_mutex_t mu;
	uint64_t run_gen;             /* bumped when the run views change */
	uint64_t slot_ms;
	size_t nslots;
	struct stats_pool pools[POOL_COUNT];
};

/* A window of WINDOW_MS is kept as at most 60 slots (1 s each for windows up to
 * a minute). Returns NULL on bad arguments or out of memory. Release with stats_free. */
struct stats *stats_new(uint64_t window_ms);
void stats_free(struct stats *s);

/* Fold IV (one worker's interval of POOL) into S at NOW_MS and reset IV's
 * counts; its in_flight gauge replaces the worker's part of the pool's. */
void stats_flush(struct stats *s, enum pool_id pool, struct stats_interval *iv, uint64_t now_ms);

/* Start a new rollout step: the step views restart from zero. */
void stats_reset_step(struct stats *s);

/* Start a new canary run (the guard re-armed): the run views restart from
 * zero. */
void stats_reset_run(struct stats *s);

/* Copy the run views (since stats_reset_run) into OUT, indexed by pool; each
 * OUT[p].latency_us must come from stats_run_view_init. Lighter than a
 * snapshot: the sequential guard reads it at every fold. *GEN is the run's
 * generation OUT holds: when it is still current nothing is copied and the
 * result is false (OUT is already up to date); else OUT and *GEN are
 * updated and the result is true. Each OUT[p].in_flight is the pool's
 * requests in flight as of the same folds. */
int stats_run_view_init(struct stats_view *v);
void stats_run_view_dispose(struct stats_view *v);
bool stats_take_run(struct stats *s, struct stats_view out[POOL_COUNT], uint64_t *gen);

/* The window (as stats_snapshot_take_since with NOW_MS and SINCE_MS) and
 * the total of every pool, straight into WINDOW and TOTAL: what a fleet
 * member publishes, without a snapshot's step views and second copies. */
void stats_take_window_total(struct stats *s, uint64_t now_ms, uint64_t since_ms,
                             struct stats_view window[POOL_COUNT], struct stats_view total[POOL_COUNT]);

/* DST becomes a copy of SRC (counters and histogram; DST keeps its own). */
void stats_view_copy(struct stats_view *dst, const struct stats_view *src);

/* A copy of everything, for one reader. Allocate with stats_snapshot_new,
 * fill with stats_snapshot_take, release with stats_snapshot_free. */
struct stats_snapshot {
	struct {
		struct stats_view total;
		struct stats_view window;
		struct stats_view step;
	} pools[POOL_COUNT];
	uint64_t window_ms;           /* configured window length */
};

struct stats_snapshot *stats_snapshot_new(void);
void stats_snapshot_free(struct stats_snapshot *snap);
void stats_snapshot_take(struct stats *s, uint64_t now_ms, struct stats_snapshot *snap);
/* Same, with the window restricted to slots from SINCE_MS on (a re-armed guard
 * judges a fresh window; the slot holding SINCE_MS is included). */
void stats_snapshot_take_since(struct stats *s, uint64_t now_ms, uint64_t since_ms,
                               struct stats_snapshot *snap);

/* Error rate of a view (0 when it has no requests). */
double stats_view_error_rate(const struct stats_view *v);
/* Latency percentile of a view in milliseconds (0 when empty). */
double stats_view_percentile_ms(const struct stats_view *v, double pct);

#endif
