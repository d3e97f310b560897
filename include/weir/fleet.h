/* fleet: several weir instances, one canary (INTERFACE.md "Fleet").
 * Owns: this member's place in the fleet: its etcd lease and member key,
 * the watch of /weir/<name>/, the fleet's weights as etcd committed them
 * (the revision applied here), the members as last seen, the leader, the
 * members' published measurements and their merge, the changes in flight
 * (an operator's command waiting for etcd, a rollback to write once etcd
 * is back), and the commands "set weight", "rollback" and "promote" of a
 * member.
 *
 * Keys (docs/FLEET.md):
 *   /weir/<name>/weights          the weight record; every change is a
 *                                 transaction on its mod_revision
 *   /weir/<name>/members/<node>   one per live member, with its lease
 *   /weir/<name>/metrics/<node>   its measurements (HDR histograms), with its lease
 *   /weir/<name>/leader           the node that judges, with its lease
 * Every member applies a committed weight record from its watch through
 * canary_apply_fleet (published, then persisted to the state file). The
 * record codec below is pure and unit-tested; the rest runs on the main
 * event base. */
#ifndef WEIR_FLEET_H
#define WEIR_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"
#include "weir/control.h"
#include "weir/stats.h"
#include "weir/textbuf.h"
#include "weir/weights.h"

#define FLEET_REASON_MAX 512           /* bytes of a reason in a weight record */
#define FLEET_OP_MAX 128               /* bytes of an operation id */

/* ---- records (pure) ------------------------------------------------------------ */

/* The value of /weir/<name>/weights: the fleet's last decision. */
struct fleet_weights {
	uint32_t canary;                   /* WEIGHT_SCALE units */
	char action[16];                   /* set_weight, rollback, promote, advance */
	enum weights_actor actor;
	char reason[FLEET_REASON_MAX + 1]; /* "" for none */
	char node[CLUSTER_NAME_MAX + 1];   /* who decided */
	char op[FLEET_OP_MAX + 1];         /* unique per proposal: who, when, which */
};

/* W as JSON text (release with free), or NULL when out of memory. */
char *fleet_weights_encode(const struct fleet_weights *w);
/* Read VALUE (LEN bytes) strictly into W. Returns 0, or -1 with the reason
 * in ERR (not JSON, a missing field, a wrong type, out of range). */
int fleet_weights_decode(const char *value, size_t len, struct fleet_weights *w, char *err, size_t errlen);

/* The value of /weir/<name>/members/<node>. */
struct fleet_member_record {
	char node[CLUSTER_NAME_MAX + 1];
	char address[64];                  /* the member's first listen address */
	int64_t applied_revision;          /* of the weights it applied (0: none) */
};

char *fleet_member_encode(const struct fleet_member_record *m);
int fleet_member_decode(const char *value, size_t len, struct fleet_member_record *m, char *err, size_t errlen);

/* A rollback decided here that waited for etcd (cut off, or etcd refused
 * it) is about to be written over the fleet's record CUR, committed at
 * revision CUR_REV (CUR NULL: no readable record). DECIDED_ON is the
 * weights revision this member had applied when it decided (0: unknown,
 * as after a state file of an older weir). True when the rollback must be
 * dropped instead: an operator ("control") decided CUR after the rollback's
 * base, knowing the fleet as it was then, and a rollback only wins over
 * OLDER committed weights. A newer record of the guard or the rollout (of
 * any member) does not cancel it: a rollback wins over automatic advances;
 * nor does any record when the base is unknown (as before). Pure. */
bool fleet_rollback_outdated(int64_t decided_on, const struct fleet_weights *cur, int64_t cur_rev);

/* How long to wait before the next try after FAILURES failures in a row
 * (1 for the first): 1 s doubling with each one up to MAX_MS, less up to a
 * quarter of it drawn from RND (32 uniform bits; 0 gives the whole delay),
 * so that members cut off together do not all come back at the same
 * instant. For a rollback whose write failed while connected, and for
 * joining again after etcd could not be reached. Pure. */
uint32_t fleet_backoff_ms(unsigned failures, uint32_t max_ms, uint32_t rnd);

/* ---- measurements (pure) -------------------------------------------------------------- */

/* The views a member publishes of each pool (metrics/<node>): its guard's
 * window, its run since it applied the weights of its record's revision,
 * and everything since it started. */
enum fleet_view { FLEET_WINDOW, FLEET_RUN, FLEET_TOTAL, FLEET_VIEWS };

/* A member's measurements as decoded from its record. */
struct fleet_metrics {
	char node[CLUSTER_NAME_MAX + 1];
	int64_t revision;              /* the weights revision it had applied when it measured */
	bool valid;                    /* the last record was well-formed */
	bool run_only;                 /* its member left while measuring REVISION: only its
	                                  run counts, so that the run judged by the
	                                  sequential tests does not shrink */
	bool unseen;                   /* fleet.c's: not in the read being applied (yet) */
	struct stats_view v[POOL_COUNT][FLEET_VIEWS];
};

/* FLEET_ANY_REVISION as ONLY_REV: every valid record counts. */
#define FLEET_ANY_REVISION (-1)

/* The sum of view K of the N records M into OUT[0 .. POOL_COUNT) (views
 * from stats_run_view_init; reset first): histograms added bucket by
 * bucket, counts added. Only valid records count, and with ONLY_REV >= 0
 * only those measured under weights revision ONLY_REV: the member that
 * judges passes the revision it judges, so that a member that has not
 * applied a change yet (its window and run are of the previous weights)
 * stays out of the judgement rather than mixing old and new traffic. A
 * run_only record counts in FLEET_RUN only, without its in-flight gauge.
 * In-flight gauges add up (the sequential tests count the fleet's requests
 * in flight as censored). A record whose counts would wrap the sum is left
 * out. Pure. */
void fleet_merge(const struct fleet_metrics *m, size_t n, enum fleet_view k, int64_t only_rev,
                 struct stats_view *out);

/* ---- watch liveness (pure: the caller passes the clock) ---------------------------- */

/* A watch stream can go silent with its TCP connection open (a hung or
 * partitioned etcd member): nothing says it is dead. But every put this
 * member makes under the fleet's prefix (its measurements at least every
 * 5 s, its member key every ttl) comes back through its own watch, so a put
 * etcd committed at revision R that the watch has not delivered within
 * the bound proves the watch dead; so does a watch whose "created" did not
 * come within the bound. */
enum fleet_watch_verdict {
	FLEET_WATCH_LIVE,              /* nothing proves it dead */
	FLEET_WATCH_NOT_CREATED,       /* no "created" within the bound */
	FLEET_WATCH_SILENT             /* a put of ours committed, not delivered within the bound */
};

struct fleet_watchdog {
	uint64_t bound_ms;
	bool running;                  /* a watch is started */
	bool created;                  /* ... and etcd said it was created */
	uint64_t started_ms;
	int64_t delivered;             /* every revision up to this one came (or precedes the watch) */
	int64_t wait_rev;              /* the oldest put of ours not delivered yet (0: none) */
	uint64_t wait_ms;              /* ... committed (its reply came) at */
	int64_t next_rev;              /* the first one after it (0: none) */
	uint64_t next_ms;
};

/* The bound for a lease of TTL_MS: the ttl, at least 2 s, at most 5 s. */
uint64_t fleet_watch_bound_ms(uint64_t ttl_ms);
/* A watch from revision FROM started at NOW_MS. */
void fleet_watchdog_start(struct fleet_watchdog *w, uint64_t bound_ms, int64_t from, uint64_t now_ms);
/* The watch is gone (ended, cancelled). */
void fleet_watchdog_stop(struct fleet_watchdog *w);
void fleet_watchdog_created(struct fleet_watchdog *w);
/* The watch delivered an event of revision REV (events come in order). */
void fleet_watchdog_delivered(struct fleet_watchdog *w, int64_t rev);
/* A put of ours under the watched prefix was committed at revision REV;
 * its reply came at NOW_MS. */
void fleet_watchdog_put(struct fleet_watchdog *w, int64_t rev, uint64_t now_ms);
/* The verdict at NOW_MS; *LATE_REV is the revision that did not come
 * (FLEET_WATCH_SILENT). */
enum fleet_watch_verdict fleet_watchdog_check(const struct fleet_watchdog *w, uint64_t now_ms, int64_t *late_rev);

/* ---- the member (main thread) ------------------------------------------------------ */

struct event_base;
struct canary;
struct fleet;

/* Join the fleet of CFG->cluster (present) as this member: connects in the
 * background; until etcd answers, the member serves with the weights the
 * state file had and says it is disconnected. Hands the guard's and the
 * rollout's decisions of CANARY to the fleet. Returns NULL with ERR (out of
 * memory). Release with fleet_free (revokes the lease, best effort). */
struct fleet *fleet_new(struct event_base *base, const struct weir_config *cfg, struct canary *canary,
                        char *err, size_t errlen);
void fleet_free(struct fleet *f);

/* Register "set weight", "rollback" and "promote" (the fleet's versions)
 * with REG (F outlives the socket). Returns 0 or -1. */
int fleet_register_commands(struct fleet *f, struct control_registry *reg);

/* Views for the status documents (main thread). */
bool fleet_connected(const struct fleet *f);
bool fleet_is_leader(const struct fleet *f);
int64_t fleet_applied_revision(const struct fleet *f);
size_t fleet_member_count(const struct fleet *f);
/* "show fleet": one line per member, "node address leader|member|disconnected
 * applied_revision last_seen". */
int fleet_format_show(const struct fleet *f, struct textbuf *o);
/* The /stats.json "fleet" object, without the merged pools. */
int fleet_format_json(const struct fleet *f, struct textbuf *o);
/* The fleet's merged window and since-start views per pool (every member
 * whose last measurement record was valid and whose lease lives, whatever
 * weights it measured under), valid until the next call; false when no
 * member published any yet. */
bool fleet_merged_pools(struct fleet *f, const struct stats_view **window, const struct stats_view **total);

#endif
