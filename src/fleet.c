/* fleet: this member of a fleet of weir instances sharing one canary
 * through etcd (see include/weir/fleet.h and docs/FLEET.md).
 *
 * How a member stands (enum fleet_phase):
 *   DISCONNECTED  etcd could not be reached; the member serves with the
 *                 weights it has and tries again after 1 s, then 2, 4,
 *                 and every 5 s (fleet_backoff_ms), from 1 s again once
 *                 connected.
 *   JOINING       a lease, then its member key, then a read of the fleet's
 *                 keys, then a watch from the revision after that read.
 *   CONNECTED     the watch is running and the lease is kept alive.
 * A keepalive that fails for longer than the lease's ttl makes the member
 * DISCONNECTED; a lease etcd no longer knows makes it join again. A watch
 * that went silent (the watchdog: a put of ours not back through it within
 * fleet_watch_bound_ms) is closed, and the member joins again with its
 * lease: JOINING until the new watch is created, on another endpoint when
 * the silent one was the first choice.
 *
 * Changes. An operator's "set weight" or "promote" is a transaction on
 * the weights key conditioned on the mod_revision this member last saw
 * there: it commits only if nobody changed the weights since, else the
 * reply is ERR with the revision that won. OK comes once the watch has
 * brought the committed revision back and this member applied it, or ERR
 * after FLEET_OP_TIMEOUT_MS. A rollback (operator, guard, health) is
 * applied here at once, then written the same way; when the comparison
 * fails it is tried again on the newer revision (a rollback wins over
 * older weights and over automatic decisions), and while etcd is
 * unreachable it waits and is written once etcd is back, unless an
 * operator changed the weights after the revision it was decided on
 * (fleet_rollback_outdated: the operator knew more than its evidence).
 * While a rollback waits or is being written, the member applies no other
 * weight: its rollback is about to supersede it. Each proposal carries an
 * operation id, so a transaction retried after a lost reply recognises
 * its own write.
 *
 * Judgement. Every member publishes its measurements (window, run and
 * total views of each pool: counters and HDR histograms) under
 * metrics/<node> with its lease every FLEET_PUBLISH_MS, and reads
 * everyone's from its watch. One member leads: the one whose transaction
 * created the leader key (with its lease) when there was none. The leader
 * judges the canary on the sum of the valid records (canary.c asks through
 * the "merged" hook); the others do not judge, except a member cut off from
 * etcd, which judges its own traffic.
 *
 * A record in etcd that is not a valid weight, member or measurement
 * record (corrupt, wrong types, out of range) is logged and never used. */
#include "config.h"

#include "weir/fleet.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "weir/canary.h"
#include "weir/clock.h"
#include "weir/config.h"
#include "weir/etcd.h"
#include "weir/hdr.h"
#include "weir/log.h"
#include "weir/split.h"
#include "weir/stats.h"
#include "weir/textbuf.h"

#define FLEET_ETCD_TIMEOUT_MS 1500     /* one attempt of one etcd call */
#define FLEET_OP_TIMEOUT_MS 5000       /* an operator's change: committed and applied */
#define FLEET_MEMBERS_MAX 256          /* members listed; more are counted */
#define FLEET_ROLLBACK_TRIES 20        /* conditional writes of one rollback */
#define FLEET_WATCH_RESTART_MS 200     /* after a watch stream ended */
#define FLEET_PUBLISH_MS 200           /* a member's measurements, as often as the workers fold */
#define FLEET_PUBLISH_IDLE_MS 5000     /* ... and this often without new requests (windows age) */
#define FLEET_BACKOFF_MIN_MS 1000      /* a retry after a failure (rollback write, join): the first */
#define FLEET_REWRITE_MAX_MS 30000     /* ... doubling up to this for a rollback etcd refused */
#define FLEET_JOIN_MAX_MS 5000         /* ... and for joining: a member converges within 10 s of
                                          etcd's return, whatever the outage (issue 16) */
#define FLEET_WATCH_BOUND_MIN_MS 2000  /* a put of ours not back through the watch: dead after ... */
#define FLEET_WATCH_BOUND_MAX_MS 5000  /* ... the ttl, within these */
#define FLEET_WATCHDOG_TICK_MS 250     /* how often the watch's liveness is judged */

/* The views a member publishes of each pool (enum fleet_view). */
static const char *const view_names[FLEET_VIEWS] = { "window", "run", "total" };

/* ---- records ------------------------------------------------------------------------ */

/* Objects are built with json_pack, never with jansson's json_string:
 * weir's own json.c has a function of that name, and the static library's
 * wins at link time. */
char *fleet_weights_encode(const struct fleet_weights *w)
{
	json_t *o = json_pack("{s:i,s:s,s:s,s:s?,s:s,s:s}", "canary", (int)w->canary, "action", w->action, "actor",
	                      weights_actor_name(w->actor), "reason", w->reason[0] ? w->reason : NULL, "node",
	                      w->node, "op", w->op);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

/* A string member NAME of O into BUF (LEN bytes with the NUL), 1 to LEN-1
 * bytes unless EMPTY_OK; NULL_OK also takes null as "". */
static int get_text(const json_t *o, const char *name, char *buf, size_t len, bool empty_ok, bool null_ok,
                    char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, name);

	if (null_ok && json_is_null(v)) {
		buf[0] = '\0';
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s is %s", name, v ? "not a string" : "missing");
		return -1;
	}
	size_t n = json_string_length(v);
	if ((n == 0 && !empty_ok) || n >= len || memchr(json_string_value(v), '\0', n)) {
		snprintf(err, errlen, "%s is empty, too long or holds a NUL", name);
		return -1;
	}
	memcpy(buf, json_string_value(v), n + 1);
	return 0;
}

/* S (N bytes) is a node's name as config.c takes one: one segment of an
 * etcd key (letters, digits, '.', '_', '-'; 1 to CLUSTER_NAME_MAX bytes;
 * not "." or ".."). No NUL, no quote, no backslash: safe in JSON as is. */
static bool is_key_segment(const char *s, size_t n)
{
	if (n == 0 || n > CLUSTER_NAME_MAX || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* S is a listen address as a member publishes it: host:port, [v6]:port
 * (a zone after '%'), or "-" (none). Safe in JSON as is. */
static bool is_address(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == ':' || *s == '-' || *s == '_' || *s == '[' || *s == ']' || *s == '%'))
			return false;
	return true;
}

/* VALUE as a JSON object (release with json_decref), or NULL with ERR. */
static json_t *load_object(const char *value, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);

	if (!o) {
		snprintf(err, errlen, "not JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		snprintf(err, errlen, "not a JSON object");
		json_decref(o);
		return NULL;
	}
	return o;
}

int fleet_weights_decode(const char *value, size_t len, struct fleet_weights *w, char *err, size_t errlen)
{
	static const char *const actions[] = { "set_weight", "rollback", "promote", "advance", NULL };
	json_t *o = load_object(value, len, err, errlen);
	char actor[16];
	int rc = -1;

	memset(w, 0, sizeof(*w));
	if (!o)
		return -1;
	const json_t *c = json_object_get(o, "canary");
	if (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > WEIGHT_SCALE) {
		snprintf(err, errlen, "canary is not a whole number from 0 to %u", WEIGHT_SCALE);
		goto out;
	}
	w->canary = (uint32_t)json_integer_value(c);
	if (get_text(o, "action", w->action, sizeof(w->action), false, false, err, errlen) < 0 ||
	    get_text(o, "actor", actor, sizeof(actor), false, false, err, errlen) < 0 ||
	    get_text(o, "reason", w->reason, sizeof(w->reason), true, true, err, errlen) < 0 ||
	    get_text(o, "node", w->node, sizeof(w->node), false, false, err, errlen) < 0 ||
	    get_text(o, "op", w->op, sizeof(w->op), false, false, err, errlen) < 0)
		goto out;
	size_t i = 0;
	while (actions[i] && strcmp(actions[i], w->action) != 0)
		i++;
	if (!actions[i]) {
		snprintf(err, errlen, "action %s is not set_weight, rollback, promote or advance", w->action);
		goto out;
	}
	int a = weights_actor_parse(actor);
	if (a < 0) {
		snprintf(err, errlen, "actor %s is unknown", actor);
		goto out;
	}
	w->actor = (enum weights_actor)a;
	if (strcmp(w->action, "rollback") == 0 && w->canary != 0) {
		snprintf(err, errlen, "a rollback with canary %u", w->canary);
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	if (rc < 0)
		memset(w, 0, sizeof(*w));
	return rc;
}

char *fleet_member_encode(const struct fleet_member_record *m)
{
	json_t *o = json_pack("{s:s,s:s,s:I}", "node", m->node, "address", m->address, "applied_revision",
	                      (json_int_t)m->applied_revision);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

int fleet_member_decode(const char *value, size_t len, struct fleet_member_record *m, char *err, size_t errlen)
{
	json_t *o = load_object(value, len, err, errlen);
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (!o)
		return -1;
	const json_t *r = json_object_get(o, "applied_revision");
	if (get_text(o, "node", m->node, sizeof(m->node), false, false, err, errlen) < 0 ||
	    get_text(o, "address", m->address, sizeof(m->address), false, false, err, errlen) < 0)
		goto out;
	if (!json_is_integer(r) || json_integer_value(r) < 0) {
		snprintf(err, errlen, "applied_revision is not a whole number");
		goto out;
	}
	m->applied_revision = (int64_t)json_integer_value(r);
	if (!is_key_segment(m->node, strlen(m->node))) {
		snprintf(err, errlen, "node is not a node name (letters, digits, '.', '_', '-')");
		goto out;
	}
	if (!is_address(m->address)) {
		snprintf(err, errlen, "address is not host:port");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- watch liveness ------------------------------------------------------------------ */

/* At least 2 s: a healthy etcd delivers a committed put to its watchers in
 * milliseconds, but a leader election (about one election timeout, 1 s by
 * default) or an fsync stall on a loaded disk can hold it back for about a
 * second, and every false alarm costs a read of the whole prefix and a log
 * line. At most 5 s: a long ttl is chosen to ride out etcd outages without
 * leaving the fleet, not to stay blind to weight changes for minutes. In
 * between, the ttl: the time the fleet already tolerates a member being out
 * of touch before it counts as gone. */
uint64_t fleet_watch_bound_ms(uint64_t ttl_ms)
{
	if (ttl_ms < FLEET_WATCH_BOUND_MIN_MS)
		return FLEET_WATCH_BOUND_MIN_MS;
	return ttl_ms > FLEET_WATCH_BOUND_MAX_MS ? FLEET_WATCH_BOUND_MAX_MS : ttl_ms;
}

void fleet_watchdog_start(struct fleet_watchdog *w, uint64_t bound_ms, int64_t from, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	w->bound_ms = bound_ms;
	w->running = true;
	w->started_ms = now_ms;
	w->delivered = from > 0 ? from - 1 : 0; /* a watch from FROM never brings what came before */
}

void fleet_watchdog_stop(struct fleet_watchdog *w)
{
	w->running = false;
}

void fleet_watchdog_created(struct fleet_watchdog *w)
{
	w->created = true;
}

void fleet_watchdog_delivered(struct fleet_watchdog *w, int64_t rev)
{
	if (rev <= w->delivered)
		return;
	w->delivered = rev;
	if (!w->wait_rev || rev < w->wait_rev)
		return;
	/* Events come in revision order: everything up to REV came. The next
	 * put waited for is the first one after, if it has not come too (the
	 * puts between are not tracked: the earlier one's deadline is the
	 * stricter one, and the next put re-arms the slot). */
	if (w->next_rev > rev) {
		w->wait_rev = w->next_rev;
		w->wait_ms = w->next_ms;
	} else {
		w->wait_rev = 0;
	}
	w->next_rev = 0;
}

void fleet_watchdog_put(struct fleet_watchdog *w, int64_t rev, uint64_t now_ms)
{
	if (!w->running || rev <= w->delivered)
		return; /* no watch to judge, or it brought the put before its reply came */
	if (!w->wait_rev) {
		w->wait_rev = rev;
		w->wait_ms = now_ms;
	} else if (rev > w->wait_rev && !w->next_rev) {
		w->next_rev = rev;
		w->next_ms = now_ms;
	}
	/* a put older than the one waited for comes before it: nothing to add */
}

enum fleet_watch_verdict fleet_watchdog_check(const struct fleet_watchdog *w, uint64_t now_ms, int64_t *late_rev)
{
	*late_rev = 0;
	if (!w->running)
		return FLEET_WATCH_LIVE;
	if (!w->created && now_ms - w->started_ms >= w->bound_ms)
		return FLEET_WATCH_NOT_CREATED;
	if (w->wait_rev && now_ms - w->wait_ms >= w->bound_ms) {
		*late_rev = w->wait_rev;
		return FLEET_WATCH_SILENT;
	}
	return FLEET_WATCH_LIVE;
}

/* ---- the member --------------------------------------------------------------------- */

/* Where this member stands. Changed only through set_phase(). */
enum fleet_phase {
	FLEET_DISCONNECTED,   /* etcd unreachable; the retry timer runs */
	FLEET_JOINING,        /* lease, member key, read, watch: one call at a time */
	FLEET_CONNECTED       /* the watch runs, the lease is kept alive */
};

static const char *const phase_names[] = { "disconnected", "joining", "connected" };

/* Another member (or this one) as the fleet's keys show it. */
struct member {
	struct fleet_member_record rec;
	int64_t seen_wall_ms;          /* when its key last changed, as seen here */
};

/* A proposal on its way to etcd. */
struct op {
	struct fleet *f;
	struct control_later *later;   /* the operator waiting; NULL for the guard and rollout */
	struct fleet_weights rec;
	int64_t base;                  /* the weights' mod_revision it is based on */
	int64_t committed;             /* the revision etcd committed it at; 0: not yet */
	bool fenced;                   /* the leader's: commits only while the leader key has our lease */
	int64_t decided_on;            /* a rollback: the weights revision applied here when it was
	                                  decided (0: unknown) */
	bool waited;                   /* a rollback that waited for etcd, written now: an operator's
	                                  newer record cancels it (fleet_rollback_outdated) */
	struct etcd_call *call;
	struct event *deadline;
	int tries;
	struct op *next;
};

struct fleet {
	struct event_base *base;
	struct canary *canary;
	struct etcd *etcd;
	char *name, *node, *address;
	char *prefix;                  /* "/weir/<name>/" */
	char *weights_key, *member_key, *members_prefix;
	uint64_t ttl_ms;
	enum fleet_phase phase;
	char last_error[512];          /* why etcd was last unreachable */
	struct event *retry;           /* DISCONNECTED: the next attempt; JOINING: watch restart */
	struct event *keepalive;       /* every ttl/3 while there is a lease */
	uint64_t keepalive_ok_ms;      /* monotonic time of the last successful keepalive */
	unsigned keepalive_ticks;
	int64_t lease;                 /* 0: none */
	struct etcd_call *join_call, *keepalive_call, *watch_call, *member_call;
	struct fleet_watchdog dog;     /* is watch_call alive? */
	struct event *watchdog;        /* every FLEET_WATCHDOG_TICK_MS: asks it */
	unsigned join_failures;        /* attempts to reach etcd failed in a row */
	struct split_rng rng;          /* jitter of the retries */
	bool member_dirty;             /* the member key must be written again */
	int64_t applied_rev;           /* mod_revision of the weight record applied here */
	int64_t seen_rev;              /* the newest mod_revision seen on the weights key */
	int64_t bad_rev;               /* the last revision refused (logged once) */
	int64_t watch_from;            /* the revision the next watch starts at */
	struct member *members;
	size_t nmembers;
	struct op *ops;
	char leader[CLUSTER_NAME_MAX + 1];   /* the leader key's node; "" none known */
	char *leader_key, *metrics_prefix, *metrics_key;
	struct etcd_call *campaign_call, *publish_call;
	struct event *publish;         /* every FLEET_PUBLISH_MS */
	struct stats_view pub[FLEET_VIEWS][POOL_COUNT];   /* this member's, to publish */
	struct stats_view shown[2][POOL_COUNT];           /* merged window and total for the status */
	uint64_t pub_requests;         /* requests in the last publication's totals */
	int64_t pub_rev;               /* the weights revision of the last publication */
	uint64_t pub_at_ms;
	uint8_t *enc;                  /* a histogram's encoding, kept: its bound is ~230 kB, an mmap */
	size_t enc_cap;
	struct fleet_metrics *metrics;       /* the members' publications (FLEET_MEMBERS_MAX) */
	size_t nmetrics;
	struct fleet_metrics *scratch;       /* a record decoded here before it replaces its member's */
	uint64_t merged_gen;           /* bumped when any publication changes */
	bool rollback_pending;         /* a rollback waits for etcd */
	struct fleet_weights pending;  /* ... this one */
	int64_t pending_on;            /* ... decided on this weights revision (0: unknown) */
	struct fleet_weights held;     /* the newest record not applied because a rollback waits */
	int64_t held_rev;              /* ... its revision; 0: none */
	bool publish_due;              /* publish again as soon as the put in flight is done */
	struct event *rewrite;         /* CONNECTED: the waiting rollback's next write */
	unsigned rewrite_failures;     /* writes of it failed in a row while connected */
	uint64_t op_seq;
	int64_t started_wall_ms;
};

static void set_phase(struct fleet *f, enum fleet_phase p)
{
	if (f->phase != p)
		log_info("fleet %s: %s -> %s", f->name, phase_names[f->phase], phase_names[p]);
	f->phase = p;
}

static void join_start(struct fleet *f);
static void member_write(struct fleet *f);
static void apply_leader_kv(struct fleet *f, const struct etcd_kv *kv);
static void seed(struct fleet *f);
static void metrics_drop(struct fleet *f, const char *node);
static void metrics_prune(struct fleet *f, int64_t rev);
static void apply_metrics_kv(struct fleet *f, const struct etcd_kv *kv);
static void publish(struct fleet *f, bool force);
static void apply_record(struct fleet *f, const struct fleet_weights *w, int64_t rev);
static void rollback_dropped(struct fleet *f, const struct fleet_weights *rb, int64_t on,
                             const struct fleet_weights *w, int64_t rev);

/* ---- operations ---------------------------------------------------------------------- */

static bool rollback_holding(const struct fleet *f)
{
	if (f->rollback_pending)
		return true;
	for (const struct op *o = f->ops; o; o = o->next)
		if (strcmp(o->rec.action, "rollback") == 0 && (!o->committed || o->committed > f->applied_rev))
			return true;
	return false;
}

/* OP is done: answer its operator (RC 0: OK with TEXT as payload; -1: ERR
 * TEXT) and forget it. */
static void op_finish(struct op *op, int rc, const char *text)
{
	struct fleet *f = op->f;

	for (struct op **pp = &f->ops; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	}
	etcd_cancel(op->call);
	if (op->later)
		control_later_done(op->later, rc, rc == 0 ? text : NULL, rc == 0 ? NULL : text);
	event_free(op->deadline);
	free(op);
}

/* Persist whether a rollback waits for etcd, and the weights revision it
 * was decided on (the state file keeps both over a restart). */
static void persist_pending(struct fleet *f, bool pending, int64_t decided_on)
{
	char err[512];

	if (canary_set_fleet_pending(f->canary, pending, decided_on, err, sizeof(err)) < 0)
		log_error("fleet %s: %s", f->name, err);
}

uint32_t fleet_backoff_ms(unsigned failures, uint32_t max_ms, uint32_t rnd)
{
	uint32_t ms = FLEET_BACKOFF_MIN_MS;

	for (unsigned i = 1; i < failures && ms < max_ms; i++)
		ms *= 2;
	if (ms > max_ms)
		ms = max_ms;
	/* Jitter downwards only: the documented ceilings stay ceilings. */
	return ms - (uint32_t)((uint64_t)(ms / 4) * rnd >> 32);
}

/* The delay of the next try after FAILURES in a row, at most MAX_MS, jittered. */
static uint32_t backoff(struct fleet *f, unsigned failures, uint32_t max_ms)
{
	return fleet_backoff_ms(failures, max_ms, (uint32_t)(split_rng_next(&f->rng) >> 32));
}

/* A put of ours under the prefix committed at REV (R a successful reply):
 * the watch must bring it back. */
static void put_committed(struct fleet *f, const struct etcd_reply *r)
{
	fleet_watchdog_put(&f->dog, r->revision, clock_now_ms());
}

/* A rollback that could not be written now waits for etcd. Disconnected,
 * it is written once the member is connected again (watch_msg); connected
 * (etcd answered the member but not this write: a timeout, a 5xx, the
 * weights changing under every try), it is written again after a delay
 * that doubles with each failure, so it is never left behind while the
 * member keeps ignoring every other weight (rollback_holding). */
static void rollback_wait(struct fleet *f, const struct fleet_weights *rec, int64_t decided_on)
{
	f->rollback_pending = true;
	f->pending = *rec;
	f->pending_on = decided_on;
	persist_pending(f, true, decided_on);
	if (f->phase == FLEET_CONNECTED) {
		struct timeval tv = clock_ms_to_tv(backoff(f, ++f->rewrite_failures, FLEET_REWRITE_MAX_MS));
		event_del(f->rewrite);
		evtimer_add(f->rewrite, &tv);
	}
}

/* Every operation whose commit this member has applied is done. */
static void ops_applied(struct fleet *f)
{
	struct op *o = f->ops, *next;

	for (; o; o = next) {
		next = o->next;
		if (o->committed && o->committed <= f->applied_rev) {
			if (strcmp(o->rec.action, "rollback") == 0) {
				f->rewrite_failures = 0;
				if (!f->rollback_pending)
					persist_pending(f, false, 0); /* in the fleet now */
			}
			char text[96];
			textbuf_message(text, sizeof(text), "fleet revision %" PRId64 "\n", o->committed);
			op_finish(o, 0, text);
		}
	}
}

static int op_send(struct op *op);

static void op_txn_done(void *arg, const struct etcd_reply *r, const char *err)
{
	struct op *op = arg;
	struct fleet *f = op->f;
	bool rollback = strcmp(op->rec.action, "rollback") == 0;
	char text[768];

	op->call = NULL;
	if (!r) {
		if (rollback) {
			rollback_wait(f, &op->rec, op->decided_on);
			textbuf_message(text, sizeof(text), "rollback applied here; not yet in etcd (%s): it is written when etcd "
			    "answers\n", err);
			log_warn("fleet %s: %s", f->name, text);
			op_finish(op, 0, text);
		} else {
			textbuf_message(text, sizeof(text), "fleet: etcd did not take the change (%s); it may or may not have been "
			    "committed: check show weights", err);
			op_finish(op, -1, text);
		}
		return;
	}
	if (r->succeeded) {
		op->committed = r->revision;
		put_committed(f, r);
		ops_applied(f);
		return;
	}
	/* The weights changed since op->base: what is there now? */
	struct fleet_weights now;
	const struct etcd_kv *kv = r->nkvs ? &r->kvs[0] : NULL;
	char why[256] = "";
	bool readable = kv && fleet_weights_decode(kv->value, kv->vlen, &now, why, sizeof(why)) == 0;
	int64_t rev = kv ? kv->mod_revision : 0;

	if (readable && (strcmp(now.op, op->rec.op) == 0 || (rollback && strcmp(now.action, "rollback") == 0))) {
		/* our own write (a retry after a lost reply), or a rollback already */
		op->committed = rev;
		ops_applied(f);
		return;
	}
	if (rollback && op->waited && readable && rev > f->applied_rev &&
	    fleet_rollback_outdated(op->decided_on, &now, rev)) {
		/* an operator decided between the read and this write */
		struct fleet_weights rb = op->rec;
		int64_t on = op->decided_on;
		if (rev > f->seen_rev)
			f->seen_rev = rev;
		op_finish(op, 0, "rollback dropped: the operator changed the weights after it\n");
		rollback_dropped(f, &rb, on, &now, rev);
		return;
	}
	if (op->fenced && rev == op->base) {
		/* the weights as they were: the leader key is no longer ours */
		log_warn("fleet %s: %s %s to canary %.2f%% dropped: %s no longer leads (the leader key is not held by its "
		         "lease %" PRIx64 ")", f->name, weights_actor_name(op->rec.actor), op->rec.action,
		         op->rec.canary / 100.0, f->node, (uint64_t)f->lease);
		op_finish(op, -1, "not the leader");
		return;
	}
	if (!kv)
		f->seen_rev = 0; /* the key is gone (deleted): the next try is conditioned on its absence */
	else if (rev > f->seen_rev)
		f->seen_rev = rev;
	if (rollback && ++op->tries < FLEET_ROLLBACK_TRIES) {
		if (op_send(op) < 0) {
			rollback_wait(f, &op->rec, op->decided_on);
			op_finish(op, 0, "rollback applied here; it is written when etcd answers\n");
		}
		return;
	}
	if (rollback) {
		rollback_wait(f, &op->rec, op->decided_on);
		op_finish(op, 0, "rollback applied here; the fleet's weights kept changing: it is written again\n");
		return;
	}
	if (readable)
		textbuf_message(text, sizeof(text), "fleet: revision conflict: the weights changed at revision %" PRId64 " (%s by %s: "
		    "canary %.2f%%) after revision %" PRId64 " this change was based on; nothing changed (check show "
		    "weights, then retry)", rev, now.action, now.node, now.canary / 100.0, op->base);
	else
		textbuf_message(text, sizeof(text), "fleet: revision conflict: the weights changed at revision %" PRId64 " after "
		    "revision %" PRId64 " this change was based on; nothing changed (check show weights, then retry)",
		    rev, op->base);
	if (!op->later)
		log_info("fleet %s: %s %s not committed: %s", f->name, weights_actor_name(op->rec.actor), op->rec.action,
		         text);
	op_finish(op, -1, text);
}

/* The transaction of OP on the revision seen now. Returns 0, or -1 (out of memory). */
static int op_send(struct op *op)
{
	struct fleet *f = op->f;
	char *value = fleet_weights_encode(&op->rec);
	char *body = NULL;

	if (value && op->fenced)
		body = etcd_body_txn_put_fenced(f->weights_key, strlen(f->weights_key), f->seen_rev, value, strlen(value),
		                                f->leader_key, strlen(f->leader_key), f->lease);
	else if (value)
		body = etcd_body_txn_put(f->weights_key, strlen(f->weights_key), ETCD_IF_MOD_REVISION, f->seen_rev, value,
		                         strlen(value), 0);

	free(value);
	op->base = f->seen_rev;
	op->call = body ? etcd_call(f->etcd, ETCD_TXN, body, op_txn_done, op) : NULL;
	return op->call ? 0 : -1;
}

static void op_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct op *op = arg;
	struct fleet *f = op->f;
	char text[256];
	(void)fd;
	(void)what;

	if (strcmp(op->rec.action, "rollback") == 0) {
		if (!op->committed)
			rollback_wait(f, &op->rec, op->decided_on);
		op_finish(op, 0, "rollback applied here; etcd has not confirmed it yet: it is written when etcd answers\n");
		return;
	}
	if (op->committed)
		textbuf_message(text, sizeof(text), "fleet: committed at revision %" PRId64 " but not applied here within %u ms "
		    "(the watch lags); it applies when the watch brings it", op->committed, FLEET_OP_TIMEOUT_MS);
	else
		textbuf_message(text, sizeof(text), "fleet: etcd did not answer within %u ms; the change may or may not have been "
		    "committed: check show weights", FLEET_OP_TIMEOUT_MS);
	op_finish(op, -1, text);
}

/* A new operation id: unique across members, restarts and proposals. */
static void next_op_id(struct fleet *f, char *buf, size_t len)
{
	textbuf_message(buf, len, "%s/%" PRId64 "/%" PRIu64, f->node, f->started_wall_ms, ++f->op_seq);
}

/* Propose REC (its op id is set here) for LATER (may be NULL); a rollback
 * decided on weights revision DECIDED_ON. Returns the operation (the
 * answer comes through LATER), or NULL with ERR. */
static struct op *propose_op(struct fleet *f, struct fleet_weights *rec, struct control_later *later, bool fenced,
                             int64_t decided_on, char *err, size_t errlen)
{
	struct op *op = calloc(1, sizeof(*op));
	struct timeval tv = clock_ms_to_tv(FLEET_OP_TIMEOUT_MS);

	if (!op || !(op->deadline = evtimer_new(f->base, op_deadline_cb, op))) {
		free(op);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	next_op_id(f, rec->op, sizeof(rec->op));
	op->f = f;
	op->rec = *rec;
	op->fenced = fenced;
	op->decided_on = decided_on;
	op->next = f->ops;
	f->ops = op;
	/* A rollback is in the state file as still to write before it leaves:
	 * a member killed before etcd committed it writes it again after its
	 * restart instead of applying the older record etcd holds. */
	if (strcmp(rec->action, "rollback") == 0)
		persist_pending(f, true, decided_on);
	if (op_send(op) < 0) {
		op->later = NULL;
		op_finish(op, -1, NULL);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	op->later = later;
	evtimer_add(op->deadline, &tv);
	return op;
}

/* An unfenced proposal: an operator's, a rollback decided now, the first
 * weights. Returns 0, or -1 with ERR. */
static int propose(struct fleet *f, struct fleet_weights *rec, struct control_later *later, char *err,
                   size_t errlen)
{
	return propose_op(f, rec, later, false, f->applied_rev, err, errlen) ? 0 : -1;
}

bool fleet_rollback_outdated(int64_t decided_on, const struct fleet_weights *cur, int64_t cur_rev)
{
	/* Unknown base: nothing says the operator came after it (a state file
	 * of an older weir, or a rollback decided before this member ever
	 * applied a record): the rollback wins, as it always did. */
	if (decided_on <= 0 || !cur || cur_rev <= decided_on)
		return false;
	return cur->actor == WEIGHTS_ACTOR_CONTROL && strcmp(cur->action, "rollback") != 0;
}

/* The rollback RB that waited for etcd, decided on revision ON, is dropped:
 * the operator's record W, committed at REV after that base, is the fleet's
 * newer decision. Logged with why, noted in the event log, and W applied
 * here as any record of the fleet. */
static void rollback_dropped(struct fleet *f, const struct fleet_weights *rb, int64_t on,
                             const struct fleet_weights *w, int64_t rev)
{
	char why[FLEET_REASON_MAX + 512];

	textbuf_message(why, sizeof(why), "the %s rollback decided here on weights revision %" PRId64 " (%s) waited for "
	    "etcd and is dropped, not written: the operator's %s to canary %.2f%% (given on %s) at revision %" PRId64
	    " came after it, and a rollback only wins over older weights", weights_actor_name(rb->actor), on,
	    rb->reason[0] ? rb->reason : "no reason given", w->action, w->canary / 100.0, w->node, rev);
	log_warn("fleet %s: %s", f->name, why);
	canary_note_fleet(f->canary, rb->actor, "rollback_dropped", why);
	event_del(f->rewrite);
	f->rollback_pending = false;
	f->rewrite_failures = 0;
	apply_record(f, w, rev); /* clears the state file's mark: nothing holds any more */
}

/* The rollback that waited for etcd: written now, unless an operator
 * changed the weights after the revision it was decided on. */
static void write_pending_rollback(struct fleet *f)
{
	char err[64];

	if (!f->rollback_pending)
		return;
	if (f->held_rev > f->applied_rev && fleet_rollback_outdated(f->pending_on, &f->held, f->held_rev)) {
		struct fleet_weights held = f->held;
		rollback_dropped(f, &f->pending, f->pending_on, &held, f->held_rev);
		return;
	}
	event_del(f->rewrite);
	f->rollback_pending = false;
	if (f->rewrite_failures)
		log_info("fleet %s: writing the rollback again (%u failed)", f->name, f->rewrite_failures);
	else
		log_info("fleet %s: writing the rollback given while etcd was unreachable", f->name);
	struct op *op = propose_op(f, &f->pending, NULL, false, f->pending_on, err, sizeof(err));
	if (op)
		op->waited = true;
	else
		rollback_wait(f, &f->pending, f->pending_on);
}

/* ---- applying what etcd holds --------------------------------------------------------- */

/* The weights key at KV (from the read or the watch). */
static void apply_weights_kv(struct fleet *f, const struct etcd_kv *kv)
{
	struct fleet_weights w;
	char why[256];

	if (kv->mod_revision <= f->applied_rev)
		return;
	if (kv->mod_revision > f->seen_rev)
		f->seen_rev = kv->mod_revision;
	f->held_rev = 0; /* the fleet's record is this one now, whatever it holds */
	if (kv->deleted) {
		/* A change is conditioned on the key's mod_revision; a deleted key
		 * has none (0): the next change is the fleet's first weights
		 * again, this member's unless another member's came first. */
		log_warn("fleet %s: %s was deleted at revision %" PRId64 "; the weights stay (canary %.2f%%) and are "
		         "proposed as the fleet's", f->name, f->weights_key, kv->mod_revision,
		         canary_weight(f->canary) / 100.0);
		f->seen_rev = 0;
		seed(f);
		return;
	}
	if (fleet_weights_decode(kv->value, kv->vlen, &w, why, sizeof(why)) < 0) {
		if (kv->mod_revision != f->bad_rev)
			log_error("fleet %s: %s at revision %" PRId64 " is not a weight record (%s); ignored, the weights "
			          "stay (canary %.2f%%)", f->name, f->weights_key, kv->mod_revision, why,
			          canary_weight(f->canary) / 100.0);
		f->bad_rev = kv->mod_revision;
		return;
	}
	if (strcmp(w.action, "rollback") != 0 && rollback_holding(f)) {
		/* Kept: when the waiting rollback is about to be written, an
		 * operator's record newer than its base cancels it. */
		f->held = w;
		f->held_rev = kv->mod_revision;
		log_info("fleet %s: %s of revision %" PRId64 " not applied: the rollback given here wins", f->name,
		         w.action, kv->mod_revision);
		return;
	}
	apply_record(f, &w, kv->mod_revision);
}

/* Apply the fleet's record W of revision REV here. */
static void apply_record(struct fleet *f, const struct fleet_weights *w, int64_t rev)
{
	struct canary_fleet_change ch = { .after = w->canary, .rollback = strcmp(w->action, "rollback") == 0,
	                                  .actor = w->actor, .action = w->action,
	                                  .reason = w->reason[0] ? w->reason : NULL, .node = w->node };
	canary_apply_fleet(f->canary, &ch);
	f->applied_rev = rev;
	f->held_rev = 0;
	f->merged_gen++; /* the windows and runs of this revision only, from now on */
	metrics_prune(f, rev);
	member_write(f);
	ops_applied(f);
	if (!rollback_holding(f))
		persist_pending(f, false, 0); /* every rollback of this member committed and applied */
	/* This member's window and run restarted with the change: publish them
	 * now under the new revision, so that the leader's merge (which takes
	 * only records of the revision it judges) fills within a round trip,
	 * not at the next tick (up to 5 s for an idle member). */
	publish(f, true);
}

static bool has_prefix(const struct etcd_kv *kv, const char *prefix, size_t n)
{
	return kv->keylen > n && memcmp(kv->key, prefix, n) == 0;
}

/* The node KV's key (PREFIX then one segment) names, or NULL when the rest
 * is not a node's name: compared by length, so "weir-1\0x" or "a/b" never
 * passes for a member's key (the segment holds no NUL: the rest is a C
 * string of its whole length). */
static const char *key_node(const struct etcd_kv *kv, const char *prefix)
{
	size_t n = strlen(prefix);

	return kv->keylen > n && is_key_segment(kv->key + n, kv->keylen - n) ? kv->key + n : NULL;
}

static struct member *member_find(struct fleet *f, const char *node)
{
	for (size_t i = 0; i < f->nmembers; i++)
		if (strcmp(f->members[i].rec.node, node) == 0)
			return &f->members[i];
	return NULL;
}

static void member_remove(struct fleet *f, const char *node)
{
	struct member *m = member_find(f, node);

	if (!m)
		return;
	log_info("fleet %s: member %s left", f->name, node);
	*m = f->members[--f->nmembers];
	metrics_drop(f, node); /* a member's measurements count only while it is one */
}

/* A key under members/ at KV. */
static void apply_member_kv(struct fleet *f, const struct etcd_kv *kv)
{
	const char *node = key_node(kv, f->members_prefix);
	struct fleet_member_record rec;
	char why[256];

	if (!node) {
		log_error("fleet %s: a key under %s at revision %" PRId64 " does not end in a node name; ignored", f->name,
		          f->members_prefix, kv->mod_revision);
		return;
	}
	if (kv->deleted) {
		member_remove(f, node);
		return;
	}
	if (fleet_member_decode(kv->value, kv->vlen, &rec, why, sizeof(why)) < 0 || strcmp(rec.node, node) != 0) {
		log_error("fleet %s: %.*s at revision %" PRId64 " is not a member record (%s); ignored", f->name,
		          (int)kv->keylen, kv->key, kv->mod_revision, why[0] ? why : "node differs from its key");
		return;
	}
	struct member *m = member_find(f, node);
	if (!m) {
		if (f->nmembers == FLEET_MEMBERS_MAX)
			return;
		m = &f->members[f->nmembers++];
		if (strcmp(node, f->node) != 0)
			log_info("fleet %s: member %s (%s) joined", f->name, node, rec.address);
	}
	m->rec = rec;
	m->seen_wall_ms = clock_wall_ms();
}

static void apply_kv(struct fleet *f, const struct etcd_kv *kv)
{
	if (kv->value_bad && !kv->deleted) {
		/* logged and skipped; the weights key's still counts as its
		 * revision (refused there as not a weight record) */
		log_error("fleet %s: the value of %.*s at revision %" PRId64 " is larger than %u bytes or not base64; "
		          "skipped", f->name, (int)kv->keylen, kv->key, kv->mod_revision, ETCD_VALUE_MAX);
		if (!(kv->keylen == strlen(f->weights_key) && memcmp(kv->key, f->weights_key, kv->keylen) == 0))
			return;
	}
	if (kv->keylen == strlen(f->weights_key) && memcmp(kv->key, f->weights_key, kv->keylen) == 0)
		apply_weights_kv(f, kv);
	else if (has_prefix(kv, f->members_prefix, strlen(f->members_prefix)))
		apply_member_kv(f, kv);
	else if (has_prefix(kv, f->metrics_prefix, strlen(f->metrics_prefix)))
		apply_metrics_kv(f, kv);
	else if (kv->keylen == strlen(f->leader_key) && memcmp(kv->key, f->leader_key, kv->keylen) == 0)
		apply_leader_kv(f, kv);
}

/* ---- the leader ------------------------------------------------------------------------ */

static void campaign_done(void *arg, const struct etcd_reply *r, const char *err)
{
	struct fleet *f = arg;

	f->campaign_call = NULL;
	if (!r)
		log_warn("fleet %s: election: %s", f->name, err);
	else if (r->succeeded)
		put_committed(f, r);
	/* won or lost, the watch says who leads */
}

/* Stand for leader: the leader key, created with this member's lease only
 * if nobody holds it (etcd decides; the watch tells everyone). */
static void campaign(struct fleet *f)
{
	if (f->phase != FLEET_CONNECTED || f->leader[0] || f->campaign_call || !f->lease)
		return;
	char *body = etcd_body_txn_put(f->leader_key, strlen(f->leader_key), ETCD_IF_ABSENT, 0, f->node,
	                               strlen(f->node), f->lease);
	f->campaign_call = body ? etcd_call(f->etcd, ETCD_TXN, body, campaign_done, f) : NULL;
}

static void apply_leader_kv(struct fleet *f, const struct etcd_kv *kv)
{
	if (kv->deleted) {
		if (f->leader[0])
			log_info("fleet %s: leader %s is gone: electing another", f->name, f->leader);
		f->leader[0] = '\0';
		f->merged_gen++;
		campaign(f);
		return;
	}
	if (!is_key_segment(kv->value, kv->vlen)) {
		log_error("fleet %s: %s at revision %" PRId64 " is not a node name; ignored", f->name, f->leader_key,
		          kv->mod_revision);
		return;
	}
	if (strcmp(f->leader, kv->value) != 0)
		log_info("fleet %s: %s leads%s", f->name, kv->value,
		         strcmp(kv->value, f->node) == 0 ? " (this member): it judges the fleet's merged measurements" : "");
	memcpy(f->leader, kv->value, kv->vlen + 1);
	f->merged_gen++;
}

/* ---- measurements ---------------------------------------------------------------------- */

/* The record of this member's measurements (release with free), or NULL.
 * Written as text directly rather than through jansson: it is built five
 * times a second and its histograms are tens of kilobytes of base64,
 * which jansson would copy and scan for escapes character by character.
 * Nothing needs escaping: the node is a key segment (config.c checks it,
 * see is_key_segment), the rest numbers and base64. */
static char *metrics_encode(struct fleet *f)
{
	struct textbuf o;

	textbuf_start_growing(&o);
	textbuf_printf(&o, "{\"node\":\"%s\",\"revision\":%" PRId64 ",\"pools\":{", f->node, f->applied_rev);
	for (int p = 0; p < POOL_COUNT && !o.truncated; p++) {
		textbuf_printf(&o, "%s\"%s\":{", p ? "," : "", cfg_pool_name((enum pool_id)p));
		for (int k = 0; k < FLEET_VIEWS && !o.truncated; k++) {
			const struct stats_view *v = &f->pub[k][p];
			size_t need = hdr_encoded_size_max(v->latency_us);
			if (need > f->enc_cap) {
				free(f->enc);
				f->enc = malloc(need);
				f->enc_cap = f->enc ? need : 0;
			}
			size_t n = f->enc ? hdr_encode(v->latency_us, f->enc, f->enc_cap) : 0;
			char *b64 = n ? etcd_b64_encode(f->enc, n) : NULL;
			if (!b64) {
				o.truncated = true;
				break;
			}
			textbuf_printf(&o,
			               "%s\"%s\":{\"requests\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"abandoned\":%" PRIu64
			               ",\"overridden\":%" PRIu64 ",\"latency_sum_us\":%" PRIu64 ",\"in_flight\":%" PRIu64
			               ",\"hist\":\"",
			               k ? "," : "", view_names[k], v->requests, v->errors, v->abandoned, v->overridden,
			               v->latency_sum_us, v->in_flight);
			textbuf_append(&o, b64, strlen(b64));
			textbuf_append(&o, "\"}", 2);
			free(b64);
		}
		textbuf_append(&o, "}", 1);
	}
	textbuf_append(&o, "}}", 2);
	if (o.truncated) {
		textbuf_dispose(&o);
		return NULL;
	}
	return o.buf;
}

/* A count at O.NAME: a whole number from 0 on. */
static int get_count(const json_t *o, const char *name, uint64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "%s is not a whole number", name);
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* One view of one pool of a record into V. */
static int view_decode(const json_t *o, struct stats_view *v, char *err, size_t errlen)
{
	struct stats_view n = { .latency_us = v->latency_us };
	const json_t *hist = json_object_get(o, "hist");
	char *bytes = NULL;
	size_t len;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "a view is not an object");
		return -1;
	}
	if (get_count(o, "requests", &n.requests, err, errlen) < 0 || get_count(o, "errors", &n.errors, err, errlen) < 0 ||
	    get_count(o, "abandoned", &n.abandoned, err, errlen) < 0 ||
	    get_count(o, "overridden", &n.overridden, err, errlen) < 0 ||
	    get_count(o, "latency_sum_us", &n.latency_sum_us, err, errlen) < 0)
		return -1;
	/* Optional: a member of an earlier version does not publish it. */
	if (json_object_get(o, "in_flight") && get_count(o, "in_flight", &n.in_flight, err, errlen) < 0)
		return -1;
	if (n.errors > n.requests) {
		snprintf(err, errlen, "more errors than requests");
		return -1;
	}
	if (!json_is_string(hist) ||
	    etcd_b64_decode(json_string_value(hist), json_string_length(hist), &bytes, &len) < 0) {
		snprintf(err, errlen, "hist is not base64");
		return -1;
	}
	int rc = hdr_decode(v->latency_us, (const uint8_t *)bytes, len, err, errlen);
	free(bytes);
	if (rc < 0)
		return -1;
	if (hdr_count(v->latency_us) != n.requests) {
		snprintf(err, errlen, "the histogram holds %llu values for %llu requests",
		         (unsigned long long)hdr_count(v->latency_us), (unsigned long long)n.requests);
		return -1;
	}
	*v = n;
	return 0;
}

static int metrics_decode(const char *value, size_t len, struct fleet_metrics *m, char *err, size_t errlen)
{
	json_t *o = load_object(value, len, err, errlen);
	char node[CLUSTER_NAME_MAX + 1];
	int rc = -1;

	if (!o)
		return -1;
	const json_t *rev = json_object_get(o, "revision"), *pools = json_object_get(o, "pools");
	if (get_text(o, "node", node, sizeof(node), false, false, err, errlen) < 0)
		goto out;
	if (strcmp(node, m->node) != 0) {
		snprintf(err, errlen, "node %s differs from its key", node);
		goto out;
	}
	if (!json_is_integer(rev) || json_integer_value(rev) < 0) {
		snprintf(err, errlen, "revision is not a whole number");
		goto out;
	}
	if (!json_is_object(pools)) {
		snprintf(err, errlen, "pools is not an object");
		goto out;
	}
	for (int p = 0; p < POOL_COUNT; p++) {
		const json_t *pv = json_object_get(pools, cfg_pool_name((enum pool_id)p));
		if (!json_is_object(pv)) {
			snprintf(err, errlen, "pool %s is missing", cfg_pool_name((enum pool_id)p));
			goto out;
		}
		for (int k = 0; k < FLEET_VIEWS; k++)
			if (view_decode(json_object_get(pv, view_names[k]), &m->v[p][k], err, errlen) < 0)
				goto out;
	}
	m->revision = (int64_t)json_integer_value(rev);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static void metrics_dispose(struct fleet_metrics *m)
{
	for (int p = 0; p < POOL_COUNT; p++)
		for (int k = 0; k < FLEET_VIEWS; k++)
			stats_run_view_dispose(&m->v[p][k]);
}

/* M with empty views (histograms allocated). Returns 0, or -1 (out of memory). */
static int metrics_init(struct fleet_metrics *m, const char *node)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->node, sizeof(m->node), "%s", node);
	for (int p = 0; p < POOL_COUNT; p++)
		for (int k = 0; k < FLEET_VIEWS; k++)
			if (stats_run_view_init(&m->v[p][k]) < 0) {
				metrics_dispose(m);
				return -1;
			}
	return 0;
}

/* NODE's entry, or with ADD a new empty one; NULL when there is none or
 * no room. */
static struct fleet_metrics *metrics_find(struct fleet *f, const char *node, bool add)
{
	for (size_t i = 0; i < f->nmetrics; i++)
		if (strcmp(f->metrics[i].node, node) == 0)
			return &f->metrics[i];
	if (!add || f->nmetrics == FLEET_MEMBERS_MAX)
		return NULL;
	struct fleet_metrics *m = &f->metrics[f->nmetrics];
	if (metrics_init(m, node) < 0)
		return NULL;
	f->nmetrics++;
	return m;
}

/* The scratch record, allocated once. Returns 0, or -1 (out of memory). */
static int scratch_new(struct fleet *f, const char *node)
{
	f->scratch = calloc(1, sizeof(*f->scratch));
	if (f->scratch && metrics_init(f->scratch, node) == 0)
		return 0;
	free(f->scratch);
	f->scratch = NULL;
	return -1;
}

static void metrics_remove(struct fleet *f, struct fleet_metrics *m)
{
	metrics_dispose(m);
	*m = f->metrics[--f->nmetrics];
	f->merged_gen++;
}

/* The sum of M's run requests over the pools. */
static uint64_t run_requests(const struct fleet_metrics *m)
{
	uint64_t n = 0;

	for (int p = 0; p < POOL_COUNT; p++)
		n += m->v[p][FLEET_RUN].requests;
	return n;
}

/* NODE's publication leaves the merge (its key went, or the member did).
 * What it measured under the weights judged here stays in the merged run
 * until the run restarts (the next change applied): the sequential tests
 * treat the run as a stream that only grows, and evidence that vanished
 * with a member would let them test again on less. Its window and total
 * leave at once. One entry per node: a member that comes back replaces
 * it (its run went on, or, restarted, begins again: that run shrinks). */
static void metrics_drop(struct fleet *f, const char *node)
{
	struct fleet_metrics *m = metrics_find(f, node, false);

	if (!m)
		return;
	if (m->valid && m->revision == f->applied_rev && run_requests(m) > 0) {
		if (!m->run_only)
			f->merged_gen++;
		m->run_only = true;
		return;
	}
	metrics_remove(f, m);
}

/* The run just restarted (weights of revision REV applied): records kept
 * only for the previous run's sake go. */
static void metrics_prune(struct fleet *f, int64_t rev)
{
	for (size_t i = f->nmetrics; i-- > 0;)
		if (f->metrics[i].run_only && f->metrics[i].revision != rev)
			metrics_remove(f, &f->metrics[i]);
}

/* A key under metrics/: a member's measurements, or their end (its lease
 * expired, so it leaves the merge). */
static void apply_metrics_kv(struct fleet *f, const struct etcd_kv *kv)
{
	const char *node = key_node(kv, f->metrics_prefix);
	char why[256];

	if (!node)
		return; /* not a member's: never merged */
	if (kv->deleted) {
		metrics_drop(f, node);
		return;
	}
	if (strcmp(node, f->node) == 0)
		return; /* ours: installed from memory when etcd took it (own_installed) */
	/* Decoded into the scratch record first: a record that is not valid,
	 * has no lease (it would never leave), or is not of a live member
	 * costs no entry; a valid one swaps its views with its member's. */
	struct fleet_metrics *m = metrics_find(f, node, false);
	int rc = -1;
	if (!kv->lease)
		snprintf(why, sizeof(why), "no lease: it would outlive its member");
	else if (!member_find(f, node))
		snprintf(why, sizeof(why), "no member %s in the fleet", node);
	else if (!f->scratch && scratch_new(f, node) < 0)
		snprintf(why, sizeof(why), "out of memory");
	else {
		snprintf(f->scratch->node, sizeof(f->scratch->node), "%s", node);
		rc = metrics_decode(kv->value, kv->vlen, f->scratch, why, sizeof(why));
	}
	if (m)
		m->unseen = false;
	if (rc == 0 && !m)
		m = metrics_find(f, node, true);
	if (rc == 0 && m) {
		struct stats_view tmp[POOL_COUNT][FLEET_VIEWS];
		memcpy(tmp, m->v, sizeof(tmp));
		memcpy(m->v, f->scratch->v, sizeof(tmp));
		memcpy(f->scratch->v, tmp, sizeof(tmp));
		m->revision = f->scratch->revision;
		m->valid = true;
		m->run_only = false; /* back (its run went on) */
		f->merged_gen++;
		return;
	}
	if (rc == 0) {
		log_error("fleet %s: no room for the measurements of %s (%d members at most)", f->name, node,
		          FLEET_MEMBERS_MAX);
		return;
	}
	if (!m || m->valid || m->revision == 0)
		log_error("fleet %s: %.*s at revision %" PRId64 " is not a measurement record (%s); member %s %s until it "
		          "publishes a good one", f->name, (int)kv->keylen, kv->key, kv->mod_revision, why, node,
		          m ? "leaves the merge" : "is not merged");
	if (m && !m->run_only) { /* a kept run of a member that left stays */
		m->valid = false;
		m->revision = -1;
		f->merged_gen++;
	}
}

void fleet_merge(const struct fleet_metrics *m, size_t n, enum fleet_view k, int64_t only_rev,
                 struct stats_view *out)
{
	for (int p = 0; p < POOL_COUNT; p++) {
		struct stats_view *o = &out[p];
		hdr_reset(o->latency_us);
		o->requests = o->errors = o->latency_sum_us = o->abandoned = o->overridden = o->in_flight = 0;
		for (size_t i = 0; i < n; i++) {
			const struct stats_view *v = &m[i].v[p][k];
			if (!m[i].valid || (only_rev >= 0 && m[i].revision != only_rev) || (m[i].run_only && k != FLEET_RUN))
				continue;
			if (v->requests > UINT64_MAX - o->requests || v->latency_sum_us > UINT64_MAX - o->latency_sum_us ||
			    v->abandoned > UINT64_MAX - o->abandoned || v->overridden > UINT64_MAX - o->overridden)
				continue; /* counts no real fleet reaches: a record left out, not a sum wrapped */
			hdr_add(o->latency_us, v->latency_us);
			o->requests += v->requests;
			o->errors += v->errors;
			o->latency_sum_us += v->latency_sum_us;
			o->abandoned += v->abandoned;
			o->overridden += v->overridden;
			/* A member that left has nothing in flight any more; a gauge no
			 * real fleet reaches saturates rather than wraps. */
			if (!m[i].run_only)
				o->in_flight = v->in_flight > UINT64_MAX - o->in_flight ? UINT64_MAX : o->in_flight + v->in_flight;
		}
	}
}

/* This member's publication, just committed, joins the merge straight from
 * f->pub (untouched while its put was in flight): decoding it again when
 * the watch brings it back would cost this member what every other
 * member pays for it, five times a second. An older record of this node
 * (a previous run of it, within its lease) is never merged. */
static void own_installed(struct fleet *f)
{
	struct fleet_metrics *m = metrics_find(f, f->node, true);

	if (!m) {
		log_error("fleet %s: no room for this member's own measurements (%d members at most)", f->name,
		          FLEET_MEMBERS_MAX);
		return;
	}
	for (int p = 0; p < POOL_COUNT; p++)
		for (int k = 0; k < FLEET_VIEWS; k++)
			stats_view_copy(&m->v[p][k], &f->pub[k][p]);
	m->revision = f->pub_rev;
	m->valid = true;
	m->run_only = false;
	f->merged_gen++;
}

static void published(void *arg, const struct etcd_reply *r, const char *err)
{
	struct fleet *f = arg;

	f->publish_call = NULL;
	if (!r) {
		log_warn("fleet %s: measurements not published: %s", f->name, err);
	} else {
		put_committed(f, r);
		own_installed(f);
	}
	if (f->publish_due)
		publish(f, true); /* a change was applied while this put was on its way */
}

/* This member's views under metrics/<node>, with its lease (gone with it):
 * when new requests came in, the weights revision changed since the last
 * one, or the last one is FLEET_PUBLISH_IDLE_MS old; with FORCE (a new
 * weights revision applied) at once. One put at a time: a forced one
 * waits for the put in flight. */
static void publish(struct fleet *f, bool force)
{
	uint64_t now = clock_now_ms(), requests = 0;

	if (f->phase != FLEET_CONNECTED || !f->lease)
		return; /* connected again, the timer publishes */
	if (f->publish_call) {
		f->publish_due |= force;
		return;
	}
	f->publish_due = false;
	canary_take_views(f->canary, f->pub[FLEET_WINDOW], f->pub[FLEET_RUN], f->pub[FLEET_TOTAL]);
	for (int p = 0; p < POOL_COUNT; p++)
		requests += f->pub[FLEET_TOTAL][p].requests;
	if (!force && requests == f->pub_requests && f->applied_rev == f->pub_rev &&
	    now - f->pub_at_ms < FLEET_PUBLISH_IDLE_MS)
		return;
	char *value = metrics_encode(f);
	char *body = value ? etcd_body_put(f->metrics_key, strlen(f->metrics_key), value, strlen(value), f->lease)
	                   : NULL;
	free(value);
	f->publish_call = body ? etcd_call(f->etcd, ETCD_PUT, body, published, f) : NULL;
	if (f->publish_call) {
		f->pub_requests = requests;
		f->pub_rev = f->applied_rev;
		f->pub_at_ms = now;
	}
}

/* Every FLEET_PUBLISH_MS. */
static void publish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	publish(arg, false);
}

/* ---- etcd unreachable -------------------------------------------------------------------- */

static void cancel_calls(struct fleet *f)
{
	etcd_cancel(f->join_call);
	etcd_cancel(f->watch_call);
	etcd_cancel(f->member_call);
	etcd_cancel(f->keepalive_call);
	etcd_cancel(f->campaign_call);
	etcd_cancel(f->publish_call);
	f->join_call = f->watch_call = f->member_call = f->keepalive_call = NULL;
	f->campaign_call = f->publish_call = NULL;
	fleet_watchdog_stop(&f->dog);
}

/* etcd could not be reached (WHY): serve on, try again later. */
static void disconnected(struct fleet *f, const char *why)
{
	/* Backing off: a cause that does not go away by itself (a gateway that
	 * does not stream the watch, an etcd refusing us) would otherwise be
	 * hit every second, with a new lease each time, by every member. */
	uint32_t ms = backoff(f, ++f->join_failures, FLEET_JOIN_MAX_MS);
	struct timeval tv = clock_ms_to_tv(ms);

	if (f->phase != FLEET_DISCONNECTED || strcmp(f->last_error, why) != 0)
		log_warn("fleet %s: etcd unreachable: %s; serving with the last weights (canary %.2f%%)", f->name, why,
		         canary_weight(f->canary) / 100.0);
	snprintf(f->last_error, sizeof(f->last_error), "%s", why);
	cancel_calls(f);
	event_del(f->keepalive);
	event_del(f->rewrite); /* the rejoin writes the waiting rollback */
	if (f->lease) {
		/* Best effort, nobody waits for it: when etcd did answer (the watch
		 * was refused) the member key and the leader key go now rather
		 * than after the ttl, and retries leave no leases behind. */
		char *body = etcd_body_lease_id(f->lease);
		if (body)
			(void)etcd_call(f->etcd, ETCD_LEASE_REVOKE, body, NULL, NULL);
	}
	f->lease = 0; /* a new one when etcd is back */
	f->leader[0] = '\0';
	set_phase(f, FLEET_DISCONNECTED);
	event_del(f->retry);
	evtimer_add(f->retry, &tv);
}

/* ---- the member key --------------------------------------------------------------------- */

static void member_written(void *arg, const struct etcd_reply *r, const char *err)
{
	struct fleet *f = arg;

	f->member_call = NULL;
	if (!r) {
		log_warn("fleet %s: member key not written: %s", f->name, err);
		f->member_dirty = true; /* the next keepalive tick tries again */
		return;
	}
	put_committed(f, r);
	if (f->member_dirty)
		member_write(f);
}

/* Write this member's key (with the lease) when connected; one write at a
 * time, the latest state wins. */
static void member_write(struct fleet *f)
{
	struct fleet_member_record rec = { .applied_revision = f->applied_rev };
	char *value, *body;

	f->member_dirty = true;
	if (f->phase != FLEET_CONNECTED || f->member_call || !f->lease)
		return;
	snprintf(rec.node, sizeof(rec.node), "%s", f->node);
	snprintf(rec.address, sizeof(rec.address), "%s", f->address);
	value = fleet_member_encode(&rec);
	body = value ? etcd_body_put(f->member_key, strlen(f->member_key), value, strlen(value), f->lease) : NULL;
	free(value);
	f->member_dirty = false;
	f->member_call = body ? etcd_call(f->etcd, ETCD_PUT, body, member_written, f) : NULL;
	if (!f->member_call)
		f->member_dirty = true;
}

/* ---- keepalive ------------------------------------------------------------------------------ */

static void keepalive_done(void *arg, const struct etcd_reply *r, const char *err)
{
	struct fleet *f = arg;

	f->keepalive_call = NULL;
	if (r && r->ttl > 0) {
		f->keepalive_ok_ms = clock_now_ms();
		if (f->member_dirty || ++f->keepalive_ticks % 3 == 0)
			member_write(f); /* last_seen for the others, or a write that failed */
		campaign(f);             /* nobody leads: an election that failed is tried again */
		return;
	}
	if (r) {
		log_warn("fleet %s: etcd no longer knows lease %" PRIx64 " (it expired): joining again", f->name,
		         (uint64_t)f->lease);
		f->lease = 0;
		join_start(f);
		return;
	}
	if (clock_now_ms() - f->keepalive_ok_ms > f->ttl_ms)
		disconnected(f, err);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fleet *f = arg;
	char *body;
	(void)fd;
	(void)what;

	if (!f->lease || f->keepalive_call)
		return;
	body = etcd_body_lease_id(f->lease);
	f->keepalive_call = body ? etcd_call(f->etcd, ETCD_LEASE_KEEPALIVE, body, keepalive_done, f) : NULL;
}

/* ---- joining ---------------------------------------------------------------------------------- */

static void watch_done(void *arg, const struct etcd_reply *r, const char *err);

static int watch_msg(void *arg, const struct etcd_reply *msg)
{
	struct fleet *f = arg;

	if (msg->canceled) {
		log_warn("fleet %s: etcd cancelled the watch (%s%s); reading the fleet's keys again", f->name,
		         msg->cancel_reason[0] ? msg->cancel_reason : "no reason given",
		         msg->compact_revision ? ", revision compacted" : "");
		f->watch_call = NULL;
		join_start(f);
		return -1;
	}
	if (msg->created)
		fleet_watchdog_created(&f->dog);
	if (msg->created && f->phase == FLEET_JOINING) {
		set_phase(f, FLEET_CONNECTED);
		f->join_failures = 0;
		f->last_error[0] = '\0';
		log_info("fleet %s: member %s connected through etcd %s (lease %" PRIx64 ", fleet revision %" PRId64 ")",
		         f->name, f->node, etcd_endpoint(f->etcd), (uint64_t)f->lease, f->applied_rev);
		member_write(f);
		write_pending_rollback(f);
		campaign(f);
	}
	for (size_t i = 0; i < msg->nkvs; i++) {
		apply_kv(f, &msg->kvs[i]);
		fleet_watchdog_delivered(&f->dog, msg->kvs[i].mod_revision);
		if (msg->kvs[i].mod_revision >= f->watch_from)
			f->watch_from = msg->kvs[i].mod_revision + 1;
	}
	return 0;
}

static void watch_start(struct fleet *f)
{
	char *body = etcd_body_watch(f->prefix, strlen(f->prefix), f->watch_from);

	f->watch_call = body ? etcd_watch(f->etcd, body, watch_msg, watch_done, f) : NULL;
	if (!f->watch_call) {
		disconnected(f, "out of memory");
		return;
	}
	/* Our own measurements come back through the watch 5 times a second;
	 * only their revision is used (the record is installed from memory), so
	 * their value is not parsed. Without it (out of memory) it only costs. */
	(void)etcd_watch_blank(f->watch_call, f->metrics_key, strlen(f->metrics_key));
	fleet_watchdog_start(&f->dog, fleet_watch_bound_ms(f->ttl_ms), f->watch_from, clock_now_ms());
}

/* The watch is gone while etcd answers (WHY): read the fleet's keys again
 * and watch from there, keeping the lease. Not connected meanwhile: no
 * live watch, no judgement of the fleet, no changes accepted. */
static void watch_lost(struct fleet *f, const char *why)
{
	struct timeval tv = clock_ms_to_tv(FLEET_WATCH_RESTART_MS);

	snprintf(f->last_error, sizeof(f->last_error), "%s", why);
	set_phase(f, FLEET_JOINING);
	event_del(f->retry);
	evtimer_add(f->retry, &tv);
}

/* Every FLEET_WATCHDOG_TICK_MS: a watch that is proven dead is closed
 * (one warning), and the member joins again through another endpoint
 * when the silent one was the first choice. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fleet *f = arg;
	int64_t late;
	char why[400];
	(void)fd;
	(void)what;

	if (!f->watch_call)
		return;
	enum fleet_watch_verdict v = fleet_watchdog_check(&f->dog, clock_now_ms(), &late);
	if (v == FLEET_WATCH_LIVE)
		return;
	if (v == FLEET_WATCH_NOT_CREATED)
		textbuf_message(why, sizeof(why), "the watch on etcd %s was not created within %" PRIu64 " ms",
		                etcd_call_endpoint(f->watch_call), f->dog.bound_ms);
	else
		textbuf_message(why, sizeof(why), "the watch on etcd %s is silent: revision %" PRId64 ", a put of this "
		                "member, was committed more than %" PRIu64 " ms ago and has not come through it",
		                etcd_call_endpoint(f->watch_call), late, f->dog.bound_ms);
	log_warn("fleet %s: %s; closing it, reading the fleet's keys again", f->name, why);
	etcd_abandon(f->watch_call);
	f->watch_call = NULL;
	fleet_watchdog_stop(&f->dog);
	watch_lost(f, why);
}

static void watch_done(void *arg, const struct etcd_reply *r, const char *err)
{
	struct fleet *f = arg;
	(void)r;

	f->watch_call = NULL;
	fleet_watchdog_stop(&f->dog);
	if (!err)
		err = "ended without a reason"; /* etcd.c always gives one; never NULL to %s */
	if (f->phase == FLEET_CONNECTED) {
		log_warn("fleet %s: watch ended (%s); reading the fleet's keys again", f->name, err);
		watch_lost(f, err);
		return;
	}
	disconnected(f, err);
}

/* A fleet without weights yet (its first member, or the key was deleted):
 * this member's weights become the fleet's, if nobody else's came first
 * (the transaction is conditioned on the key's absence). */
static void seed(struct fleet *f)
{
	struct fleet_weights rec = { .canary = canary_weight(f->canary), .actor = WEIGHTS_ACTOR_CONFIG,
	                             .action = "set_weight" };
	char err[64];

	if (rollback_holding(f))
		return; /* the waiting rollback is the first record */
	if (rec.canary == 0 && canary_rolled_back(f->canary)) {
		snprintf(rec.action, sizeof(rec.action), "rollback");
		snprintf(rec.reason, sizeof(rec.reason), "the fleet's first weights: %s was rolled back", f->node);
	} else {
		snprintf(rec.reason, sizeof(rec.reason), "the fleet's first weights, from %s", f->node);
	}
	snprintf(rec.node, sizeof(rec.node), "%s", f->node);
	log_info("fleet %s: no weights in etcd yet: proposing this member's (canary %.2f%%)", f->name,
	         rec.canary / 100.0);
	f->seen_rev = 0;
	if (propose(f, &rec, NULL, err, sizeof(err)) < 0)
		log_error("fleet %s: cannot propose the first weights: %s", f->name, err);
}

static void read_done(void *arg, const struct etcd_reply *r, const char *err)
{
	struct fleet *f = arg;

	f->join_call = NULL;
	if (!r) {
		disconnected(f, err);
		return;
	}
	/* The members as they are now: the table is rebuilt from the read. The
	 * measurements are checked against it instead: a record that is not
	 * there any more left with its member (metrics_drop keeps its run while
	 * that run is judged); kept runs stay, and so does this member's own
	 * record (from memory, never read back). */
	bool has_weights = false;
	f->nmembers = 0;
	f->leader[0] = '\0';
	for (size_t i = 0; i < f->nmetrics; i++)
		f->metrics[i].unseen = !f->metrics[i].run_only && strcmp(f->metrics[i].node, f->node) != 0;
	f->merged_gen++;
	for (size_t i = 0; i < r->nkvs; i++) {
		has_weights |= r->kvs[i].keylen == strlen(f->weights_key) &&
		               memcmp(r->kvs[i].key, f->weights_key, r->kvs[i].keylen) == 0;
		apply_kv(f, &r->kvs[i]);
	}
	for (size_t i = f->nmetrics; i-- > 0;)
		if (f->metrics[i].unseen)
			metrics_drop(f, f->metrics[i].node);
	f->watch_from = r->revision + 1;
	watch_start(f);
	if (!has_weights && f->watch_call)
		seed(f);
}

static void read_fleet(struct fleet *f)
{
	char *body = etcd_body_range(f->prefix, strlen(f->prefix), true);

	f->join_call = body ? etcd_call(f->etcd, ETCD_RANGE, body, read_done, f) : NULL;
	if (!f->join_call)
		disconnected(f, "out of memory");
}

static void granted(void *arg, const struct etcd_reply *r, const char *err)
{
	struct fleet *f = arg;
	struct timeval tv = clock_ms_to_tv(f->ttl_ms / 3);

	f->join_call = NULL;
	if (!r) {
		disconnected(f, err);
		return;
	}
	f->lease = r->lease_id;
	f->keepalive_ok_ms = clock_now_ms();
	event_del(f->keepalive);
	evtimer_add(f->keepalive, &tv);
	read_fleet(f);
}

/* Join (again): a lease when there is none, the fleet's keys, the watch. */
static void join_start(struct fleet *f)
{
	cancel_calls(f);
	set_phase(f, FLEET_JOINING);
	if (f->lease) {
		read_fleet(f);
		return;
	}
	char *body = etcd_body_lease_grant((int64_t)(f->ttl_ms / 1000));
	f->join_call = body ? etcd_call(f->etcd, ETCD_LEASE_GRANT, body, granted, f) : NULL;
	if (!f->join_call)
		disconnected(f, "out of memory");
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	join_start(arg);
}

/* The rollback's write failed while connected: once more (disconnected
 * meanwhile, the rejoin writes it). */
static void rewrite_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fleet *f = arg;
	(void)fd;
	(void)what;

	if (f->phase == FLEET_CONNECTED)
		write_pending_rollback(f);
}

/* ---- the guard's and the rollout's decisions ---------------------------------------------- */

static void decided(void *ctx, const struct canary_fleet_change *ch)
{
	struct fleet *f = ctx;
	struct fleet_weights rec = { .canary = ch->after, .actor = ch->actor };
	char err[64];

	snprintf(rec.action, sizeof(rec.action), "%s", ch->action);
	snprintf(rec.reason, sizeof(rec.reason), "%s", ch->reason ? ch->reason : "");
	snprintf(rec.node, sizeof(rec.node), "%s", f->node);
	if (ch->rollback) {
		if (f->phase == FLEET_CONNECTED && propose(f, &rec, NULL, err, sizeof(err)) == 0)
			return;
		next_op_id(f, rec.op, sizeof(rec.op));
		rollback_wait(f, &rec, f->applied_rev);
		return;
	}
	/* Fenced: a leader paused past its ttl (another member leads by now)
	 * must not commit a stale advance. A rollback is not fenced: whoever
	 * gives it, it wins over the weights it was decided on. */
	if (f->phase != FLEET_CONNECTED || !propose_op(f, &rec, NULL, true, 0, err, sizeof(err)))
		log_info("fleet %s: %s %s to canary %.2f%% dropped: etcd is unreachable", f->name,
		         weights_actor_name(ch->actor), ch->action, ch->after / 100.0);
}

/* The leader judges the fleet's merged measurements; a member that cannot
 * reach etcd judges its own traffic (its rollbacks wait for etcd); the
 * others do not judge. */
static bool may_judge(void *ctx)
{
	struct fleet *f = ctx;
	return fleet_is_leader(f) || f->phase != FLEET_CONNECTED;
}

static int merged(void *ctx, bool run, struct stats_view *out, uint64_t *gen)
{
	struct fleet *f = ctx;

	if (!fleet_is_leader(f))
		return -1;
	if (*gen == f->merged_gen)
		return 0;
	/* Window and run alike: only members that measured under the weights
	 * judged here (a member that has not applied the latest change yet
	 * would mix the previous weights' traffic into the judgement). */
	fleet_merge(f->metrics, f->nmetrics, run ? FLEET_RUN : FLEET_WINDOW, f->applied_rev, out);
	*gen = f->merged_gen;
	return 1;
}

static const struct canary_fleet_hooks hooks = { .decided = decided, .may_judge = may_judge, .merged = merged };

/* ---- the commands ------------------------------------------------------------------------------ */

/* ERR for a change refused while etcd cannot be reached. */
static int refuse_disconnected(struct fleet *f, const char *what, char *err, size_t errlen)
{
	textbuf_message(err, errlen, "fleet: etcd is unreachable (%s); %s is refused until it is back (rollback still acts "
	    "here at once)", f->last_error[0] ? f->last_error : "connecting", what);
	return -1;
}

static int cmd_set_weight(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                          size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_weights rec = { .canary = a->pool == POOL_CANARY ? a->weight : WEIGHT_SCALE - a->weight,
	                             .actor = WEIGHTS_ACTOR_CONTROL, .action = "set_weight" };
	(void)out;

	if (f->phase != FLEET_CONNECTED)
		return refuse_disconnected(f, "set weight", err, errlen);
	snprintf(rec.node, sizeof(rec.node), "%s", f->node);
	return propose(f, &rec, a->later, err, errlen) < 0 ? -1 : CONTROL_LATER;
}

static int cmd_promote(void *ctx, const struct control_args *a, struct evbuffer *out, char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_weights rec = { .actor = WEIGHTS_ACTOR_CONTROL, .action = "promote" };
	(void)out;

	if (f->phase != FLEET_CONNECTED)
		return refuse_disconnected(f, "promote", err, errlen);
	if (canary_plan_promote(f->canary, &rec.canary, err, errlen) < 0)
		return -1;
	snprintf(rec.node, sizeof(rec.node), "%s", f->node);
	return propose(f, &rec, a->later, err, errlen) < 0 ? -1 : CONTROL_LATER;
}

static int cmd_rollback(void *ctx, const struct control_args *a, struct evbuffer *out, char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_weights rec = { .canary = 0, .actor = WEIGHTS_ACTOR_CONTROL, .action = "rollback" };

	snprintf(rec.reason, sizeof(rec.reason), "%s", a->reason && a->reason[0] ? a->reason : "manual rollback");
	snprintf(rec.node, sizeof(rec.node), "%s", f->node);
	/* Users first: here at once, then the fleet; the state file says it
	 * is still to write before the weights change (a crash in between
	 * writes it after the restart). */
	persist_pending(f, true, f->applied_rev);
	struct canary_fleet_change ch = { .after = 0, .rollback = true, .actor = WEIGHTS_ACTOR_CONTROL,
	                                  .action = "rollback", .reason = rec.reason, .node = f->node };
	canary_apply_fleet(f->canary, &ch);
	if (f->phase == FLEET_CONNECTED && propose(f, &rec, a->later, err, errlen) == 0) {
		if (a->later)
			return CONTROL_LATER;
		evbuffer_add_printf(out, "rollback applied here; being written to the fleet\n");
		return 0;
	}
	next_op_id(f, rec.op, sizeof(rec.op));
	rollback_wait(f, &rec, f->applied_rev);
	evbuffer_add_printf(out, "rollback applied here; etcd is unreachable (%s): the fleet gets it when etcd is "
	                    "back\n", f->last_error[0] ? f->last_error : "connecting");
	return 0;
}

static const struct control_command fleet_commands[] = {
	{ { "set", "weight" }, "set weight canary|baseline PERCENT",
	  "set that pool to PERCENT on every member of the fleet (OK once etcd committed it and this member "
	  "applied it)", CONTROL_ARGS_POOL_WEIGHT, cmd_set_weight },
	{ { "rollback", NULL }, "rollback [REASON...]",
	  "canary to 0 here at once, then on every member of the fleet", CONTROL_ARGS_REASON, cmd_rollback },
	{ { "promote", NULL }, "promote",
	  "next rollout step (or canary 100 without a rollout) on every member of the fleet", CONTROL_ARGS_NONE,
	  cmd_promote },
};

int fleet_register_commands(struct fleet *f, struct control_registry *reg)
{
	return control_register(reg, fleet_commands, sizeof(fleet_commands) / sizeof(fleet_commands[0]), f);
}

/* ---- views ------------------------------------------------------------------------------------ */

bool fleet_connected(const struct fleet *f)
{
	return f->phase == FLEET_CONNECTED;
}

bool fleet_is_leader(const struct fleet *f)
{
	return f->phase == FLEET_CONNECTED && strcmp(f->leader, f->node) == 0;
}

bool fleet_merged_pools(struct fleet *f, const struct stats_view **window, const struct stats_view **total)
{
	size_t valid = 0;

	for (size_t i = 0; i < f->nmetrics; i++)
		valid += f->metrics[i].valid && !f->metrics[i].run_only;
	if (!valid)
		return false;
	fleet_merge(f->metrics, f->nmetrics, FLEET_WINDOW, FLEET_ANY_REVISION, f->shown[0]);
	fleet_merge(f->metrics, f->nmetrics, FLEET_TOTAL, FLEET_ANY_REVISION, f->shown[1]);
	*window = f->shown[0];
	*total = f->shown[1];
	return true;
}

int64_t fleet_applied_revision(const struct fleet *f)
{
	return f->applied_rev;
}

size_t fleet_member_count(const struct fleet *f)
{
	return f->nmembers;
}

/* The members in node order, as pointers into F's table (N of them). */
static int by_node(const void *a, const void *b)
{
	const struct member *const *x = a, *const *y = b;
	return strcmp((*x)->rec.node, (*y)->rec.node);
}

static const char *role_of(const struct fleet *f, const struct member *m)
{
	if (strcmp(m->rec.node, f->node) == 0 && f->phase != FLEET_CONNECTED)
		return "disconnected";
	return strcmp(m->rec.node, f->leader) == 0 ? "leader" : "member";
}

/* This member's own row when its key is not (yet) in the table. */
static void self_row(const struct fleet *f, struct member *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->rec.node, sizeof(m->rec.node), "%s", f->node);
	snprintf(m->rec.address, sizeof(m->rec.address), "%s", f->address);
	m->rec.applied_revision = f->applied_rev;
}

/* Apply FN to every member in node order, this member included (its own
 * applied revision is always the current one). Returns 0 or -1 (memory). */
static int each_member(const struct fleet *f, void (*fn)(const struct fleet *, const struct member *, size_t,
                                                         struct textbuf *),
                       struct textbuf *o)
{
	const struct member **rows = calloc(f->nmembers + 1, sizeof(*rows));
	struct member self;
	size_t n = 0;
	bool have_self = false;

	if (!rows)
		return -1;
	self_row(f, &self);
	for (size_t i = 0; i < f->nmembers; i++) {
		if (strcmp(f->members[i].rec.node, f->node) == 0) {
			self.seen_wall_ms = f->members[i].seen_wall_ms;
			rows[n++] = &self;
			have_self = true;
		} else {
			rows[n++] = &f->members[i];
		}
	}
	if (!have_self)
		rows[n++] = &self;
	qsort(rows, n, sizeof(*rows), by_node);
	for (size_t i = 0; i < n; i++)
		fn(f, rows[i], i, o);
	free(rows);
	return o->truncated ? -1 : 0;
}

static void seen_text(const struct member *m, char *buf, size_t len)
{
	if (!m->seen_wall_ms || clock_format_wall(buf, len, m->seen_wall_ms, false) < 0)
		snprintf(buf, len, "-");
}

static void show_row(const struct fleet *f, const struct member *m, size_t i, struct textbuf *o)
{
	char seen[40];
	(void)i;

	seen_text(m, seen, sizeof(seen));
	textbuf_printf(o, "%s %s %s %" PRId64 " %s\n", m->rec.node, m->rec.address, role_of(f, m),
	               m->rec.applied_revision, seen);
}

int fleet_format_show(const struct fleet *f, struct textbuf *o)
{
	return each_member(f, show_row, o);
}

static void json_row(const struct fleet *f, const struct member *m, size_t i, struct textbuf *o)
{
	char seen[40];

	seen_text(m, seen, sizeof(seen));
	/* node and address are checked key segments and addresses: no escaping needed */
	textbuf_printf(o, "%s{\"node\":\"%s\",\"address\":\"%s\",\"role\":\"%s\",\"applied_revision\":%" PRId64
	               ",\"last_seen\":", i ? "," : "", m->rec.node, m->rec.address, role_of(f, m),
	               m->rec.applied_revision);
	if (strcmp(seen, "-") == 0)
		textbuf_printf(o, "null}");
	else
		textbuf_printf(o, "\"%s\"}", seen);
}

int fleet_format_json(const struct fleet *f, struct textbuf *o)
{
	textbuf_printf(o, "{\"name\":\"%s\",\"node\":\"%s\",\"connected\":%s,\"etcd\":\"%s\",\"error\":", f->name,
	               f->node, f->phase == FLEET_CONNECTED ? "true" : "false", etcd_endpoint(f->etcd));
	if (f->phase == FLEET_CONNECTED || !f->last_error[0]) {
		textbuf_printf(o, "null");
	} else {
		textbuf_printf(o, "\"");
		for (const char *p = f->last_error; *p; p++)
			textbuf_printf(o, *p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < ' ' ? " " : "%c", *p);
		textbuf_printf(o, "\"");
	}
	if (f->leader[0])
		textbuf_printf(o, ",\"leader\":\"%s\"", f->leader); /* a checked key segment */
	else
		textbuf_printf(o, ",\"leader\":null");
	textbuf_printf(o, ",\"applied_revision\":%" PRId64 ",\"members\":[", f->applied_rev);
	if (each_member(f, json_row, o) < 0)
		return -1;
	textbuf_printf(o, "]}");
	return o->truncated ? -1 : 0;
}

/* ---- life cycle ---------------------------------------------------------------------------------- */

static char *joined(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

struct fleet *fleet_new(struct event_base *base, const struct weir_config *cfg, struct canary *canary, char *err,
                        size_t errlen)
{
	const struct cfg_cluster *cl = &cfg->cluster;
	struct fleet *f = calloc(1, sizeof(*f));

	if (!f)
		goto oom;
	f->base = base;
	f->canary = canary;
	f->ttl_ms = cl->ttl_ms;
	f->started_wall_ms = clock_wall_ms();
	f->name = strdup(cl->name);
	f->node = strdup(cl->node);
	f->address = strdup(cfg->nlisteners ? cfg->listeners[0].addr.text : "-");
	f->prefix = joined("/weir/", cl->name, "/");
	f->members = calloc(FLEET_MEMBERS_MAX, sizeof(*f->members));
	f->etcd = etcd_new(base, cl->etcd, cl->netcd, FLEET_ETCD_TIMEOUT_MS);
	f->retry = evtimer_new(base, retry_cb, f);
	f->rewrite = evtimer_new(base, rewrite_cb, f);
	f->keepalive = event_new(base, -1, EV_PERSIST, keepalive_cb, f);
	f->watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, f);
	if (!f->name || !f->node || !f->address || !f->prefix || !f->members || !f->etcd || !f->retry || !f->rewrite ||
	    !f->keepalive || !f->watchdog)
		goto oom;
	split_rng_seed(&f->rng, (uint64_t)f->started_wall_ms ^ (uint64_t)getpid() << 40);
	f->weights_key = joined(f->prefix, "weights", "");
	f->members_prefix = joined(f->prefix, "members/", "");
	f->member_key = f->members_prefix ? joined(f->members_prefix, cl->node, "") : NULL;
	f->leader_key = joined(f->prefix, "leader", "");
	f->metrics_prefix = joined(f->prefix, "metrics/", "");
	f->metrics_key = f->metrics_prefix ? joined(f->metrics_prefix, cl->node, "") : NULL;
	f->metrics = calloc(FLEET_MEMBERS_MAX, sizeof(*f->metrics));
	f->publish = event_new(base, -1, EV_PERSIST, publish_cb, f);
	if (!f->weights_key || !f->members_prefix || !f->member_key || !f->leader_key || !f->metrics_prefix ||
	    !f->metrics_key || !f->metrics || !f->publish)
		goto oom;
	for (int p = 0; p < POOL_COUNT; p++) {
		for (int k = 0; k < FLEET_VIEWS; k++)
			if (stats_run_view_init(&f->pub[k][p]) < 0)
				goto oom;
		if (stats_run_view_init(&f->shown[0][p]) < 0 || stats_run_view_init(&f->shown[1][p]) < 0)
			goto oom;
	}
	snprintf(f->last_error, sizeof(f->last_error), "not connected yet");
	canary_set_fleet(canary, &hooks, f, f->node);
	if (canary_fleet_pending(canary, &f->pending_on)) {
		/* a rollback given before a restart, while etcd was unreachable
		 * (its base revision from the state file; 0 from an older weir's) */
		struct fleet_weights rec = { .canary = 0, .actor = WEIGHTS_ACTOR_CONTROL, .action = "rollback" };
		snprintf(rec.reason, sizeof(rec.reason), "rollback given on %s while etcd was unreachable", f->node);
		snprintf(rec.node, sizeof(rec.node), "%s", f->node);
		next_op_id(f, rec.op, sizeof(rec.op));
		f->rollback_pending = true;
		f->pending = rec;
		log_warn("fleet %s: the state file holds a rollback not yet written to etcd: it is written first",
		         f->name);
	}
	struct timeval every = clock_ms_to_tv(FLEET_PUBLISH_MS), tick = clock_ms_to_tv(FLEET_WATCHDOG_TICK_MS);
	evtimer_add(f->publish, &every);
	evtimer_add(f->watchdog, &tick);
	log_info("fleet %s: member %s joining through %zu etcd endpoint(s) (lease %llus); serving with canary %.2f%% "
	         "until etcd answers", f->name, f->node, cl->netcd, (unsigned long long)(cl->ttl_ms / 1000),
	         canary_weight(canary) / 100.0);
	join_start(f);
	return f;
oom:
	snprintf(err, errlen, "out of memory");
	fleet_free(f);
	return NULL;
}

/* How long a stopping member waits for etcd to take its lease back. */
#define FLEET_REVOKE_MS 500

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	while (f->ops)
		op_finish(f->ops, -1, "weir is stopping");
	if (f->etcd)
		cancel_calls(f);
	if (f->etcd && f->lease) {
		/* Leave at once (member key, measurements, leadership) rather than
		 * after the ttl: the others elect a new leader now. */
		char err[512];
		if (etcd_call_blocking(f->etcd, ETCD_LEASE_REVOKE, etcd_body_lease_id(f->lease), FLEET_REVOKE_MS, err,
		                       sizeof(err)) == 0)
			log_info("fleet %s: member %s left the fleet (lease revoked)", f->name, f->node);
		else
			log_warn("fleet %s: lease not revoked (%s): member %s leaves when it expires", f->name, err,
			         f->node);
	}
	etcd_free(f->etcd);
	if (f->retry)
		event_free(f->retry);
	if (f->rewrite)
		event_free(f->rewrite);
	if (f->keepalive)
		event_free(f->keepalive);
	if (f->watchdog)
		event_free(f->watchdog);
	if (f->publish)
		event_free(f->publish);
	if (f->metrics)
		while (f->nmetrics)
			metrics_dispose(&f->metrics[--f->nmetrics]);
	free(f->metrics);
	if (f->scratch)
		metrics_dispose(f->scratch);
	free(f->scratch);
	free(f->enc);
	for (int p = 0; p < POOL_COUNT; p++) {
		for (int k = 0; k < FLEET_VIEWS; k++)
			stats_run_view_dispose(&f->pub[k][p]);
		stats_run_view_dispose(&f->shown[0][p]);
		stats_run_view_dispose(&f->shown[1][p]);
	}
	free(f->leader_key);
	free(f->metrics_prefix);
	free(f->metrics_key);
	free(f->members);
	free(f->name);
	free(f->node);
	free(f->address);
	free(f->prefix);
	free(f->weights_key);
	free(f->members_prefix);
	free(f->member_key);
	free(f);
}
