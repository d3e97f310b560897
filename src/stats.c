/* stats: per-pool totals, sliding window and rollout step (see stats.h). */
#include "weir/stats.h"

#include <stdlib.h>
#include <string.h>

#define STATS_MAX_SLOTS 60

static struct hdr *latency_hdr_new(void)
{
	return hdr_new(STATS_LOWEST_US, STATS_HIGHEST_US, STATS_SIGFIGS);
}

int stats_interval_init(struct stats_interval *iv)
{
	memset(iv, 0, sizeof(*iv));
	iv->latency_us = latency_hdr_new();
	return iv->latency_us ? 0 : -1;
}

void stats_interval_dispose(struct stats_interval *iv)
{
	hdr_free(iv->latency_us);
	iv->latency_us = NULL;
}

/* The counters of a view or interval, added in one place. */
#define COUNTERS_ADD(dst, src)                               \
	do {                                                 \
		(dst)->requests += (src)->requests;          \
		(dst)->errors += (src)->errors;              \
		(dst)->latency_sum_us += (src)->latency_sum_us; \
		(dst)->abandoned += (src)->abandoned;        \
		(dst)->overridden += (src)->overridden;      \
	} while (0)

#define COUNTERS_ZERO(v)                                                          \
	do {                                                                      \
		(v)->requests = (v)->errors = (v)->latency_sum_us = 0;            \
		(v)->abandoned = (v)->overridden = 0;                             \
	} while (0)

static int view_init(struct stats_view *v)
{
	COUNTERS_ZERO(v);
	v->in_flight = 0;
	v->latency_us = latency_hdr_new();
	return v->latency_us ? 0 : -1;
}

static void view_reset(struct stats_view *v)
{
	hdr_reset(v->latency_us);
	COUNTERS_ZERO(v);
}

static void view_add(struct stats_view *dst, const struct stats_view *src)
{
	hdr_add(dst->latency_us, src->latency_us);
	COUNTERS_ADD(dst, src);
}

static void view_add_interval(struct stats_view *dst, const struct stats_interval *iv)
{
	hdr_add(dst->latency_us, iv->latency_us);
	COUNTERS_ADD(dst, iv);
}

void stats_view_copy(struct stats_view *dst, const struct stats_view *src)
{
	struct hdr *h = dst->latency_us;

	hdr_copy(h, src->latency_us);
	*dst = *src;
	dst->latency_us = h;
}

struct stats *stats_new(uint64_t window_ms)
{
	if (window_ms < 1000)
		return NULL;
	struct stats *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	/* Slots of whole seconds; at most STATS_MAX_SLOTS of them. */
	uint64_t secs = (window_ms + 999) / 1000;
	uint64_t slot_s = (secs + STATS_MAX_SLOTS - 1) / STATS_MAX_SLOTS;
	s->slot_ms = slot_s * 1000;
	s->nslots = (size_t)((secs + slot_s - 1) / slot_s);
	for (int p = 0; p < POOL_COUNT; p++) {
		struct stats_pool *sp = &s->pools[p];
		if (view_init(&sp->total) < 0 || view_init(&sp->step) < 0 || view_init(&sp->run) < 0)
			goto fail;
		sp->ring = calloc(s->nslots, sizeof(*sp->ring));
		if (!sp->ring)
			goto fail;
		for (size_t c = 0; c < STATS_CLOSED_SUMS; c++) {
			struct stats_closed_sum *cs = &sp->closed[c];
			cs->in = calloc(s->nslots, sizeof(*cs->in));
			cs->writes = calloc(s->nslots, sizeof(*cs->writes));
			if (!cs->in || !cs->writes || view_init(&cs->sum) < 0)
				goto fail;
		}
		for (size_t i = 0; i < s->nslots; i++) {
			sp->ring[i].epoch = -1;
			if (view_init(&sp->ring[i].v) < 0)
				goto fail;
		}
	}
	return s;
fail:
	stats_free(s);
	return NULL;
}

void stats_free(struct stats *s)
{
	if (!s)
		return;
	for (int p = 0; p < POOL_COUNT; p++) {
		struct stats_pool *sp = &s->pools[p];
		hdr_free(sp->total.latency_us);
		hdr_free(sp->step.latency_us);
		hdr_free(sp->run.latency_us);
		for (size_t c = 0; c < STATS_CLOSED_SUMS; c++) {
			hdr_free(sp->closed[c].sum.latency_us);
			free(sp->closed[c].in);
			free(sp->closed[c].writes);
		}
		if (sp->ring)
			for (size_t i = 0; i < s->nslots; i++)
				hdr_free(sp->ring[i].v.latency_us);
		free(sp->ring);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void stats_flush(struct stats *s, enum pool_id pool, struct stats_interval *iv, uint64_t now_ms)
{
	bool counted = iv->requests || iv->abandoned || iv->overridden;

	if (!counted && iv->in_flight == iv->in_flight_folded)
		return;
	pthread_mutex_lock(&s->mu);
	struct stats_pool *sp = &s->pools[pool];
	if (counted) {
		int64_t epoch = (int64_t)(now_ms / s->slot_ms);
		struct stats_slot *slot = &sp->ring[(size_t)epoch % s->nslots];
		if (slot->epoch != epoch) {
			view_reset(&slot->v);
			slot->epoch = epoch;
		}
		slot->writes++;
		view_add_interval(&slot->v, iv);
		view_add_interval(&sp->total, iv);
		view_add_interval(&sp->step, iv);
		view_add_interval(&sp->run, iv);
	}
	/* The sum holds this worker's last gauge, so it cannot go below zero. */
	sp->in_flight = sp->in_flight - iv->in_flight_folded + iv->in_flight;
	iv->in_flight_folded = iv->in_flight;
	s->run_gen++;
	pthread_mutex_unlock(&s->mu);
	if (counted) {
		hdr_reset(iv->latency_us);
		COUNTERS_ZERO(iv);
	}
}

void stats_reset_step(struct stats *s)
{
	pthread_mutex_lock(&s->mu);
	for (int p = 0; p < POOL_COUNT; p++)
		view_reset(&s->pools[p].step);
	pthread_mutex_unlock(&s->mu);
}

void stats_reset_run(struct stats *s)
{
	pthread_mutex_lock(&s->mu);
	for (int p = 0; p < POOL_COUNT; p++)
		view_reset(&s->pools[p].run);
	s->run_gen++;
	pthread_mutex_unlock(&s->mu);
}

int stats_run_view_init(struct stats_view *v)
{
	return view_init(v);
}

void stats_run_view_dispose(struct stats_view *v)
{
	hdr_free(v->latency_us);
	v->latency_us = NULL;
}

bool stats_take_run(struct stats *s, struct stats_view out[POOL_COUNT], uint64_t *gen)
{
	bool changed;

	pthread_mutex_lock(&s->mu);
	changed = *gen != s->run_gen;
	if (changed) {
		for (int p = 0; p < POOL_COUNT; p++) {
			stats_view_copy(&out[p], &s->pools[p].run);
			out[p].in_flight = s->pools[p].in_flight;
		}
		*gen = s->run_gen;
	}
	pthread_mutex_unlock(&s->mu);
	return changed;
}

struct stats_snapshot *stats_snapshot_new(void)
{
	struct stats_snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap)
		return NULL;
	for (int p = 0; p < POOL_COUNT; p++) {
		if (view_init(&snap->pools[p].total) < 0 || view_init(&snap->pools[p].window) < 0 ||
		    view_init(&snap->pools[p].step) < 0) {
			stats_snapshot_free(snap);
			return NULL;
		}
	}
	return snap;
}

void stats_snapshot_free(struct stats_snapshot *snap)
{
	if (!snap)
		return;
	for (int p = 0; p < POOL_COUNT; p++) {
		hdr_free(snap->pools[p].total.latency_us);
		hdr_free(snap->pools[p].window.latency_us);
		hdr_free(snap->pools[p].step.latency_us);
	}
	free(snap);
}

/* SP's window of epochs [OLDEST, NEWEST] into OUT: the closed slots'
 * ([OLDEST, NEWEST)) cached sum, summed again only when one of them changed
 * (a write, a slot reused) or neither cache entry is of this range, plus
 * the newest slot. The sum of counts is exact, so this equals adding every
 * slot. Under s->mu. */
static bool closed_is_of(const struct stats_closed_sum *cs, int64_t oldest, int64_t newest)
{
	return cs->valid && cs->oldest == oldest && cs->newest == newest;
}

static void window_take(struct stats *s, struct stats_pool *sp, int64_t oldest, int64_t newest,
                        struct stats_view *out)
{
	unsigned e = 0;

	while (e < STATS_CLOSED_SUMS && !closed_is_of(&sp->closed[e], oldest, newest))
		e++;
	if (e == STATS_CLOSED_SUMS) /* none is of this range: the one after the one used last */
		e = (sp->closed_last + 1) % STATS_CLOSED_SUMS;
	sp->closed_last = e;
	struct stats_closed_sum *cs = &sp->closed[e];
	bool valid = closed_is_of(cs, oldest, newest);

	/* A ring index holds one epoch of any nslots in a row, so "in" and its
	 * write count name the very data that was summed. */
	for (size_t i = 0; valid && i < s->nslots; i++) {
		const struct stats_slot *slot = &sp->ring[i];
		bool in = slot->epoch >= oldest && slot->epoch < newest;
		valid = in == cs->in[i] && (!in || slot->writes == cs->writes[i]);
	}
	if (!valid) {
		view_reset(&cs->sum);
		for (size_t i = 0; i < s->nslots; i++) {
			const struct stats_slot *slot = &sp->ring[i];
			cs->in[i] = slot->epoch >= oldest && slot->epoch < newest;
			cs->writes[i] = slot->writes;
			if (cs->in[i])
				view_add(&cs->sum, &slot->v);
		}
		cs->oldest = oldest;
		cs->newest = newest;
		cs->valid = true;
	}
	stats_view_copy(out, &cs->sum);
	if (newest >= oldest) {
		const struct stats_slot *slot = &sp->ring[(size_t)newest % s->nslots];
		if (slot->epoch == newest)
			view_add(out, &slot->v);
	}
}

void stats_snapshot_take(struct stats *s, uint64_t now_ms, struct stats_snapshot *snap)
{
	stats_snapshot_take_since(s, now_ms, 0, snap);
}

/* The window's epochs [*OLDEST, *NEWEST] at NOW_MS, from SINCE_MS on. */
static void window_range(const struct stats *s, uint64_t now_ms, uint64_t since_ms, int64_t *oldest,
                         int64_t *newest)
{
	int64_t since = (int64_t)(since_ms / s->slot_ms);

	*newest = (int64_t)(now_ms / s->slot_ms);
	*oldest = *newest - (int64_t)s->nslots + 1;
	if (since > *oldest)
		*oldest = since;
}

void stats_snapshot_take_since(struct stats *s, uint64_t now_ms, uint64_t since_ms,
                               struct stats_snapshot *snap)
{
	int64_t oldest, newest;

	window_range(s, now_ms, since_ms, &oldest, &newest);
	snap->window_ms = s->slot_ms * s->nslots;
	pthread_mutex_lock(&s->mu);
	for (int p = 0; p < POOL_COUNT; p++) {
		struct stats_pool *sp = &s->pools[p];
		stats_view_copy(&snap->pools[p].total, &sp->total);
		stats_view_copy(&snap->pools[p].step, &sp->step);
		window_take(s, sp, oldest, newest, &snap->pools[p].window);
	}
	pthread_mutex_unlock(&s->mu);
}

void stats_take_window_total(struct stats *s, uint64_t now_ms, uint64_t since_ms,
                             struct stats_view window[POOL_COUNT], struct stats_view total[POOL_COUNT])
{
	int64_t oldest, newest;

	window_range(s, now_ms, since_ms, &oldest, &newest);
	pthread_mutex_lock(&s->mu);
	for (int p = 0; p < POOL_COUNT; p++) {
		stats_view_copy(&total[p], &s->pools[p].total);
		window_take(s, &s->pools[p], oldest, newest, &window[p]);
	}
	pthread_mutex_unlock(&s->mu);
}

double stats_view_error_rate(const struct stats_view *v)
{
	return v->requests ? (double)v->errors / (double)v->requests : 0.0;
}

double stats_view_percentile_ms(const struct stats_view *v, double pct)
{
	if (hdr_count(v->latency_us) == 0)
		return 0.0;
	return (double)hdr_value_at_percentile(v->latency_us, pct) / 1000.0;
}
