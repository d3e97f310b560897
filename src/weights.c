/* weights: the canary weight, published and persisted (see weights.h). */
#include "config.h"

#include "weir/weights.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/log.h"

#define RECENT_EVENTS 20             /* events kept for /stats.json and the page */
#define EVENT_LINE_MAX 2048           /* state.h: an event line is always shorter */
/* Messages of state.c name the state file or event log path (at most twice,
 * with strerror and a few words), so this holds any of them whole. */
#define ERR_TEXT_MAX (2 * PATH_MAX + 256)

static const char *const actor_names[WEIGHTS_ACTOR_COUNT] = { "guard", "control", "rollout", "config" };

struct weights {
	/* Restart-only settings: kept from the configuration weir started with. */
	char *state_file;
	char *event_log;
	struct event_log *elog;
	uint32_t weight;                 /* decided on the main thread */
	/* The published weight: the workers route by it. Only publish writes
	 * it; it holds the whole weight set in one word. */
	_Atomic uint32_t published;
	bool loaded;                     /* the state file existed at start */
	struct weir_state st;            /* what it held */
	char *recent[RECENT_EVENTS];     /* ring of event lines, oldest first */
	size_t recent_first, nrecent;
	uint64_t changes[WEIGHTS_ACTOR_COUNT];
};

/* ---- events ------------------------------------------------------------------------ */

static void recent_add(struct weights *w, const char *line)
{
	char *copy = strdup(line);
	if (!copy)
		return;
	if (w->nrecent == RECENT_EVENTS) {
		free(w->recent[w->recent_first]);
		w->recent[w->recent_first] = copy;
		w->recent_first = (w->recent_first + 1) % RECENT_EVENTS;
	} else {
		w->recent[(w->recent_first + w->nrecent) % RECENT_EVENTS] = copy;
		w->nrecent++;
	}
}

/* Record an event: event log (flushed) and the recent ring. */
static int record_event(struct weights *w, enum weights_actor actor, const char *action, uint32_t before,
                        uint32_t after, const char *reason, const char *node, char *err, size_t errlen)
{
	struct weir_event ev = { .actor = actor_names[actor], .action = action, .before = before,
	                         .after = after, .reason = reason && reason[0] ? reason : NULL, .node = node };
	char line[EVENT_LINE_MAX];

	if (w->elog) {
		if (event_log_append(w->elog, &ev, line, sizeof(line), err, errlen) < 0)
			return -1;
	} else if (event_format_line(&ev, line, sizeof(line), err, errlen) < 0) {
		return -1;
	}
	recent_add(w, line);
	return 0;
}

int weights_note(struct weights *w, enum weights_actor actor, const char *action, const char *reason,
                 char *err, size_t errlen)
{
	return record_event(w, actor, action, w->weight, w->weight, reason, NULL, err, errlen);
}

int weights_note_node(struct weights *w, enum weights_actor actor, const char *action, const char *reason,
                      const char *node, char *err, size_t errlen)
{
	return record_event(w, actor, action, w->weight, w->weight, reason, node, err, errlen);
}

/* ---- the state file -------------------------------------------------------------------- */

static int save_state(struct weights *w, uint32_t weight, const struct weights_record *rec, char *err,
                      size_t errlen)
{
	if (!w->state_file[0])
		return 0;
	struct weir_state st = { .canary_weight = weight, .rollout_step = rec->rollout_step,
	                         .fleet_rollback_pending = rec->fleet_rollback_pending,
	                         .fleet_rollback_base = rec->fleet_rollback_base };
	snprintf(st.guard_state, sizeof(st.guard_state), "%s", rec->guard_state);
	return state_save(w->state_file, &st, err, errlen);
}

int weights_save(struct weights *w, const struct weights_record *rec, char *err, size_t errlen)
{
	return save_state(w, w->weight, rec, err, errlen);
}

/* ---- changes ----------------------------------------------------------------------------- */

static void publish(struct weights *w, uint32_t weight)
{
	w->weight = weight;
	atomic_store_explicit(&w->published, weight, memory_order_release);
}

int weights_change_persisted(struct weights *w, const struct weights_change *ch,
                             const struct weights_record *before_rec, char *err, size_t errlen)
{
	uint32_t before = w->weight;
	char ignored[ERR_TEXT_MAX];

	if (save_state(w, ch->after, &ch->rec, err, errlen) < 0)
		return -1;
	if (record_event(w, ch->actor, ch->action, before, ch->after, ch->reason, ch->node, err, errlen) < 0) {
		save_state(w, before, before_rec, ignored, sizeof(ignored));
		return -1;
	}
	publish(w, ch->after);
	w->changes[ch->actor] += before != ch->after;
	log_info("%s %s: canary %.2f%% -> %.2f%%%s%s", actor_names[ch->actor], ch->action, before / 100.0,
	         ch->after / 100.0, ch->reason && ch->reason[0] ? ": " : "", ch->reason ? ch->reason : "");
	return 0;
}

void weights_change_now(struct weights *w, const struct weights_change *ch)
{
	uint32_t before = w->weight;
	char err[ERR_TEXT_MAX];

	publish(w, ch->after);
	w->changes[ch->actor]++;
	/* A rollback is news; a fleet member applying a committed change is not. */
	if (ch->after == 0 && before != 0)
		log_warn("%s %s%s%s: canary %.2f%% -> %.2f%%: %s", actor_names[ch->actor], ch->action,
		         ch->node ? " by " : "", ch->node ? ch->node : "", before / 100.0, ch->after / 100.0,
		         ch->reason ? ch->reason : "");
	else
		log_info("%s %s%s%s: canary %.2f%% -> %.2f%%%s%s", actor_names[ch->actor], ch->action,
		         ch->node ? " by " : "", ch->node ? ch->node : "", before / 100.0, ch->after / 100.0,
		         ch->reason && ch->reason[0] ? ": " : "", ch->reason ? ch->reason : "");
	if (save_state(w, ch->after, &ch->rec, err, sizeof(err)) < 0)
		log_error("%s", err);
	if (record_event(w, ch->actor, ch->action, before, ch->after, ch->reason, ch->node, err, sizeof(err)) < 0)
		log_error("%s", err);
}

/* ---- views ----------------------------------------------------------------------------- */

uint32_t weights_current(const struct weights *w)
{
	return w->weight;
}

uint32_t weights_published(const struct weights *w)
{
	return atomic_load_explicit(&w->published, memory_order_acquire);
}

const char *weights_actor_name(enum weights_actor a)
{
	return actor_names[a];
}

int weights_actor_parse(const char *name)
{
	for (int a = 0; a < WEIGHTS_ACTOR_COUNT; a++)
		if (strcmp(name, actor_names[a]) == 0)
			return a;
	return -1;
}

uint64_t weights_changes(const struct weights *w, enum weights_actor a)
{
	return w->changes[a];
}

size_t weights_recent_count(const struct weights *w)
{
	return w->nrecent;
}

const char *weights_recent(const struct weights *w, size_t i)
{
	return w->recent[(w->recent_first + i) % RECENT_EVENTS];
}

const char *weights_event_log_path(const struct weights *w)
{
	return w->event_log;
}

bool weights_loaded(const struct weights *w, struct weir_state *st)
{
	if (w->loaded)
		*st = w->st;
	return w->loaded;
}

/* ---- life cycle ------------------------------------------------------------------------ */

/* The state file at start: leftovers of a crashed save removed, then read. */
static int load_state(struct weights *w, char *err, size_t errlen)
{
	/* A leftover costs disk space, not correctness: warn and go on. */
	int stale = state_remove_stale_temps(w->state_file, err, errlen);
	if (stale < 0)
		log_warn("%s", err);
	else if (stale > 0)
		log_info("state file %s: removed %d temporary file(s) left by a crashed save", w->state_file, stale);
	int loaded = state_load(w->state_file, &w->st, err, errlen);
	if (loaded < 0)
		return -1;
	w->loaded = loaded > 0;
	if (w->loaded)
		w->weight = w->st.canary_weight;
	return 0;
}

/* The event log, and its last lines as the recent events. */
static int open_event_log(struct weights *w, char *err, size_t errlen)
{
	char **lines = NULL;
	size_t count = 0;
	char ignored[ERR_TEXT_MAX];

	w->elog = event_log_open(w->event_log, err, errlen);
	if (!w->elog)
		return -1;
	if (event_log_read_last(w->event_log, RECENT_EVENTS, &lines, &count, ignored, sizeof(ignored)) == 0) {
		for (size_t i = 0; i < count; i++)
			recent_add(w, lines[i]);
		event_log_lines_free(lines, count);
	}
	return 0;
}

struct weights *weights_new(const struct weir_config *cfg, char *err, size_t errlen)
{
	struct weights *w = calloc(1, sizeof(*w));

	if (!w || !(w->state_file = strdup(cfg->state_file)) || !(w->event_log = strdup(cfg->event_log))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->weight = cfg->split.canary_weight;
	if (w->state_file[0] && load_state(w, err, errlen) < 0)
		goto fail;
	if (w->event_log[0] && open_event_log(w, err, errlen) < 0)
		goto fail;
	return w;
fail:
	weights_free(w);
	return NULL;
}

int weights_start(struct weights *w, const struct weights_record *rec, char *err, size_t errlen)
{
	if (save_state(w, w->weight, rec, err, errlen) < 0)
		return -1;
	publish(w, w->weight);
	return 0;
}

void weights_free(struct weights *w)
{
	if (!w)
		return;
	event_log_close(w->elog);
	free(w->state_file);
	free(w->event_log);
	for (size_t i = 0; i < w->nrecent; i++)
		free(w->recent[(w->recent_first + i) % RECENT_EVENTS]);
	free(w);
}
