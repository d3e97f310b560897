/* rollout: staged progression and the history of weight steps (see
 * include/weir/rollout.h). Pure functions over plain data. */
#include "weir/rollout.h"
#include "weir/json.h"
#include "weir/textbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bounded text output (textbuf.h) ---------------------------------- */

/* A weight as a percentage without trailing zeros: 1, 2.5, 0.01. */
static void out_weight(struct textbuf *o, uint32_t w)
{
	if (w % 100 == 0)
		textbuf_printf(o, "%u", (unsigned)(w / 100));
	else if (w % 10 == 0)
		textbuf_printf(o, "%u.%u", (unsigned)(w / 100), (unsigned)(w % 100 / 10));
	else
		textbuf_printf(o, "%u.%02u", (unsigned)(w / 100), (unsigned)(w % 100));
}


static int out_finish(const struct textbuf *o)
{
	return o->truncated ? -1 : 0;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

/* ---- steps --------------------------------------------------------------- */

/* The highest step at or below W, or -1. */
static int step_for_weight(const struct cfg_rollout_step *steps, size_t n, uint32_t w)
{
	int cur = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (steps[i].weight <= w)
			cur = (int)i;
	return cur;
}

static void end_stretch(struct rollout *r)
{
	r->healthy = false;
	r->healthy_since_ms = 0;
	r->awaiting_evidence = false;
}

static void enter_step(struct rollout *r, int cur, uint64_t now_ms)
{
	r->cur = cur;
	r->step_start_ms = now_ms;
	end_stretch(r);
}

/* A copy of CFG's steps into *OUT; -1 with ERR. */
static int copy_steps(const struct cfg_rollout *cfg, struct cfg_rollout_step **out, char *err,
                      size_t errlen)
{
	if (cfg == NULL || cfg->nsteps == 0 || cfg->steps == NULL) {
		set_err(err, errlen, "rollout has no steps");
		return -1;
	}
	*out = malloc(cfg->nsteps * sizeof(**out));
	if (*out == NULL) {
		set_err(err, errlen, "out of memory for the rollout steps");
		return -1;
	}
	memcpy(*out, cfg->steps, cfg->nsteps * sizeof(**out));
	return 0;
}

int rollout_init(struct rollout *r, const struct cfg_rollout *cfg, uint32_t canary_weight,
                 uint64_t now_ms, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (copy_steps(cfg, &r->steps, err, errlen) < 0)
		return -1;
	r->nsteps = cfg->nsteps;
	r->hold_ms = cfg->hold_ms;
	r->auto_advance = cfg->auto_advance;
	enter_step(r, step_for_weight(r->steps, r->nsteps, canary_weight), now_ms);
	return 0;
}

void rollout_dispose(struct rollout *r)
{
	free(r->steps);
	r->steps = NULL;
	r->nsteps = 0;
}

int rollout_reconfigure(struct rollout *r, const struct cfg_rollout *cfg, uint32_t canary_weight,
                        uint64_t now_ms, char *err, size_t errlen)
{
	struct cfg_rollout_step *steps;
	uint32_t old_weight = r->cur >= 0 ? r->steps[r->cur].weight : 0;
	int cur;

	if (copy_steps(cfg, &steps, err, errlen) < 0)
		return -1;
	free(r->steps);
	r->steps = steps;
	r->nsteps = cfg->nsteps;
	r->hold_ms = cfg->hold_ms;
	r->auto_advance = cfg->auto_advance;
	cur = step_for_weight(r->steps, r->nsteps, canary_weight);
	/* The index may move (a step inserted below); the step is the same when
	 * its weight is. */
	if ((cur >= 0 ? r->steps[cur].weight : 0) != old_weight)
		enter_step(r, cur, now_ms);
	else
		r->cur = cur;
	return 0;
}

static uint64_t current_hold(const struct rollout *r)
{
	return r->cur >= 0 ? r->steps[r->cur].hold_ms : r->hold_ms;
}

bool rollout_at_last_step(const struct rollout *r)
{
	return r->nsteps == 0 || r->cur == (int)r->nsteps - 1;
}

/* Stand at the next step; its weight into *WEIGHT. */
static void advance(struct rollout *r, uint64_t now_ms, uint32_t *weight)
{
	enter_step(r, r->cur + 1, now_ms);
	*weight = r->steps[r->cur].weight;
}

bool rollout_tick(struct rollout *r, enum guard_state guard_state, bool judged, bool within,
                  uint64_t now_ms, uint32_t *weight)
{
	uint64_t held;

	if (guard_state == GUARD_ROLLED_BACK)
		r->stopped = true;
	if (r->stopped || r->paused || rollout_at_last_step(r) ||
	    guard_state != GUARD_WATCHING || !judged) {
		end_stretch(r);
		return false;
	}
	if (!r->healthy) {
		r->healthy = true;
		r->healthy_since_ms = now_ms;
	}
	held = now_ms > r->healthy_since_ms ? now_ms - r->healthy_since_ms : 0;
	if (!r->auto_advance || held < current_hold(r))
		return false;
	r->awaiting_evidence = !within;
	if (!within)
		return false;
	advance(r, now_ms, weight);
	return true;
}

int rollout_promote(struct rollout *r, uint64_t now_ms, uint32_t *weight, char *err, size_t errlen)
{
	if (r->stopped) {
		set_err(err, errlen, "the canary was rolled back: set a weight to re-arm the rollout");
		return -1;
	}
	if (rollout_at_last_step(r)) {
		set_err(err, errlen, "the rollout is at its last step");
		return -1;
	}
	advance(r, now_ms, weight);
	return 0;
}

void rollout_rearm(struct rollout *r, uint32_t canary_weight, uint64_t now_ms)
{
	r->stopped = false;
	enter_step(r, step_for_weight(r->steps, r->nsteps, canary_weight), now_ms);
}

void rollout_rolled_back(struct rollout *r)
{
	r->stopped = true;
	end_stretch(r);
}

void rollout_pause(struct rollout *r)
{
	r->paused = true;
	end_stretch(r);
}

void rollout_resume(struct rollout *r)
{
	r->paused = false;
	end_stretch(r);
}

const struct cfg_thresholds *rollout_thresholds(const struct rollout *r)
{
	return &r->steps[r->cur >= 0 ? r->cur : 0].thresholds;
}

size_t rollout_step_number(const struct rollout *r)
{
	return (size_t)(r->cur + 1);
}

bool rollout_next_at(const struct rollout *r, uint64_t *at_ms)
{
	if (!r->healthy || !r->auto_advance || r->paused || r->stopped || rollout_at_last_step(r))
		return false;
	*at_ms = r->healthy_since_ms + current_hold(r);
	return true;
}

int rollout_format_json(const struct rollout *r, const char *next_at_wall, struct textbuf *o)
{
	size_t i;

	textbuf_printf(o, "{\"step\":%zu,\"steps\":[", rollout_step_number(r));
	for (i = 0; i < r->nsteps; i++) {
		if (i > 0)
			textbuf_printf(o, ",");
		out_weight(o, r->steps[i].weight);
	}
	textbuf_printf(o, "],\"next_at\":");
	json_string_or_null(o, next_at_wall);
	textbuf_printf(o, ",\"auto\":%s,\"paused\":%s,\"stopped\":%s,\"awaiting_evidence\":%s}",
	               r->auto_advance ? "true" : "false", r->paused ? "true" : "false",
	               r->stopped ? "true" : "false", r->awaiting_evidence ? "true" : "false");
	return out_finish(o);
}

/* ---- history ------------------------------------------------------------- */

const char *rollout_outcome_name(enum rollout_outcome o)
{
	switch (o) {
	case ROLLOUT_OUTCOME_CURRENT:
		return "current";
	case ROLLOUT_OUTCOME_ADVANCED:
		return "advanced";
	case ROLLOUT_OUTCOME_ROLLED_BACK:
		return "rolled_back";
	case ROLLOUT_OUTCOME_PROMOTED:
		return "promoted";
	}
	return "unknown";
}

enum rollout_outcome rollout_outcome_for_weights(uint32_t before, uint32_t after)
{
	return after > before ? ROLLOUT_OUTCOME_ADVANCED : ROLLOUT_OUTCOME_ROLLED_BACK;
}

static struct rollout_record *slot(struct rollout_history *h, size_t i)
{
	return &h->rec[(h->first + i) % ROLLOUT_HISTORY_MAX];
}

/* Append a current step at W, dropping the oldest when full. */
static void open_step(struct rollout_history *h, uint32_t w, uint64_t now_ms)
{
	struct rollout_record *r;

	if (h->count == ROLLOUT_HISTORY_MAX) {
		h->first = (h->first + 1) % ROLLOUT_HISTORY_MAX;
		h->count--;
		h->dropped++;
	}
	r = slot(h, h->count++);
	memset(r, 0, sizeof(*r));
	r->seq = ++h->next_seq;
	r->weight = w;
	r->start_ms = now_ms;
	r->outcome = ROLLOUT_OUTCOME_CURRENT;
}

void rollout_history_init(struct rollout_history *h, uint32_t canary_weight, uint64_t now_ms)
{
	memset(h, 0, sizeof(*h));
	open_step(h, canary_weight, now_ms);
}

struct rollout_record *rollout_history_change(struct rollout_history *h, uint32_t new_weight,
                                              enum rollout_outcome outcome, const char *actor,
                                              const char *reason, uint64_t now_ms)
{
	struct rollout_record *ended = rollout_history_current(h);

	if (ended != NULL) {
		ended->end_ms = now_ms < ended->start_ms ? ended->start_ms : now_ms;
		ended->outcome = outcome == ROLLOUT_OUTCOME_CURRENT ?
		                 rollout_outcome_for_weights(ended->weight, new_weight) : outcome;
		guard_copy_text(ended->actor, sizeof(ended->actor), actor);
		guard_copy_text(ended->reason, sizeof(ended->reason), reason);
	}
	open_step(h, new_weight, now_ms);
	/* The ring holds at least two records: opening never reuses ENDED's. */
	return ended;
}

size_t rollout_history_count(const struct rollout_history *h)
{
	return h->count;
}

const struct rollout_record *rollout_history_get(const struct rollout_history *h, size_t i)
{
	if (i >= h->count)
		return NULL;
	return &h->rec[(h->first + i) % ROLLOUT_HISTORY_MAX];
}

struct rollout_record *rollout_history_current(struct rollout_history *h)
{
	return h->count > 0 ? slot(h, h->count - 1) : NULL;
}

static void out_pool_numbers(struct textbuf *o, const char *name, const struct rollout_pool_numbers *p)
{
	textbuf_printf(o, "\"%s\":{\"requests\":%llu,\"errors\":%llu,\"error_rate\":", name,
	           (unsigned long long)p->requests, (unsigned long long)p->errors);
	json_number(o, p->error_rate);
	textbuf_printf(o, ",\"p50_ms\":");
	json_number(o, p->p50_ms);
	textbuf_printf(o, ",\"p99_ms\":");
	json_number(o, p->p99_ms);
	textbuf_printf(o, ",\"p999_ms\":");
	json_number(o, p->p999_ms);
	textbuf_printf(o, ",\"abandoned\":%llu,\"overridden\":%llu}", (unsigned long long)p->abandoned,
	               (unsigned long long)p->overridden);
}

static void out_time(struct textbuf *o, uint64_t ms, rollout_wall_fn wall, void *ctx)
{
	char text[64];

	if (wall == NULL) {
		textbuf_printf(o, "null");
		return;
	}
	text[0] = '\0';
	wall(ms, text, sizeof(text), ctx);
	text[sizeof(text) - 1] = '\0';
	json_string_or_null(o, text);
}

int rollout_history_format_json(const struct rollout_history *h, uint64_t now_ms,
                                rollout_wall_fn wall, void *ctx, struct textbuf *o)
{
	size_t i;

	textbuf_printf(o, "{\"steps\":[");
	for (i = 0; i < h->count; i++) {
		const struct rollout_record *r = rollout_history_get(h, i);
		bool current = r->outcome == ROLLOUT_OUTCOME_CURRENT;
		uint64_t end = current ? now_ms : r->end_ms;

		if (end < r->start_ms)
			end = r->start_ms;
		textbuf_printf(o, "%s{\"step\":%llu,\"weight\":", i > 0 ? "," : "",
		           (unsigned long long)r->seq);
		out_weight(o, r->weight);
		textbuf_printf(o, ",\"start\":");
		out_time(o, r->start_ms, wall, ctx);
		textbuf_printf(o, ",\"end\":");
		if (current)
			textbuf_printf(o, "null");
		else
			out_time(o, r->end_ms, wall, ctx);
		textbuf_printf(o, ",\"duration_seconds\":%.3f,\"outcome\":\"%s\",\"actor\":",
		           (double)(end - r->start_ms) / 1000.0, rollout_outcome_name(r->outcome));
		json_string_or_null(o, r->actor);
		textbuf_printf(o, ",\"reason\":");
		json_string_or_null(o, r->reason);
		textbuf_printf(o, ",\"pools\":");
		if (r->has_numbers) {
			textbuf_printf(o, "{");
			out_pool_numbers(o, "baseline", &r->pools[POOL_BASELINE]);
			textbuf_printf(o, ",");
			out_pool_numbers(o, "canary", &r->pools[POOL_CANARY]);
			textbuf_printf(o, "}");
		} else {
			textbuf_printf(o, "null");
		}
		textbuf_printf(o, "}");
	}
	textbuf_printf(o, "],\"dropped\":%llu}", (unsigned long long)h->dropped);
	return out_finish(o);
}
