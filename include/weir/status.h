/* status: owns the assembly of every status document weir shows: /stats.json,
 * /metrics, /report.json and the payloads of "show weights|stats|guard|events|
 * report|servers". Each request takes one snapshot (status_take) and renders
 * from it, so the parts of one answer agree with each other. Leaf modules
 * (guard, rollout, stats) format their own objects; only this module puts
 * them together. Main thread only; it reads its sources and changes nothing
 * but its own snapshot buffers. */
#ifndef WEIR_STATUS_H
#define WEIR_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "weir/admission.h"
#include "weir/config-t.h"
#include "weir/control.h"
#include "weir/health.h"
#include "weir/proxy-t.h"

struct canary;
struct fleet;
struct runtime;
struct stats;
struct stats_snapshot;
struct weights;

/* Where the documents' numbers come from; all outlive the status. */
struct status_sources {
	struct runtime *rt;          /* only to ask the workers for server states */
	struct stats *stats;
	struct health *health;
	struct weights *weights;     /* the weight, the recent events, change counts */
	struct canary *canary;       /* guard, rollout, report */
	uint64_t start_us;           /* monotonic start of the process */
	const struct admission *admission;   /* the TLS failure counts */
	struct fleet *fleet;         /* NULL: weir alone */
};

/* One server as every view shows it: the health check's state for a checked
 * pool, except that a connection back-off shows as "down" whatever the check
 * says; "up"/"down" from the back-off alone for a pool without check. */
struct status_server {
	const char *address;
	const char *state;
	uint32_t active;
	struct health_info check;
};

/* Everything one answer shows, read once. */
struct status_snapshot {
	uint64_t now_us, now_ms;
	double uptime_seconds;
	uint32_t canary_weight;                 /* WEIGHT_SCALE units */
	struct stats_snapshot *stats;
	struct status_server *servers[POOL_COUNT];
	size_t nservers[POOL_COUNT];
	uint64_t tls_handshake_failures, tls_upstream_failures;
	uint64_t downstream_requests[DOWNSTREAM_PROTO_COUNT]; /* all workers', by protocol */
};

struct status;

/* A status reading SRC (copied) under CFG, the current configuration.
 * Returns NULL when out of memory. Release with status_free. */
struct status *status_new(const struct status_sources *src, const struct weir_config *cfg);
void status_free(struct status *st);

/* A reload made CFG the current configuration (its servers are shown). */
void status_set_config(struct status *st, const struct weir_config *cfg);

/* Take the snapshot that the renderers below show. Returns it (owned by ST,
 * valid until the next status_take), or NULL when out of memory. */
const struct status_snapshot *status_take(struct status *st);

/* The documents, appended to OUT from SNAP (taken from ST). */
void status_stats_json(struct status *st, const struct status_snapshot *snap, struct evbuffer *out);
void status_metrics(struct status *st, const struct status_snapshot *snap, struct evbuffer *out);
void status_report_json(struct status *st, const struct status_snapshot *snap, struct evbuffer *out);

/* Register "show weights|stats|guard|events|report|servers|fleet" with the control
 * socket's REG (ST outlives the socket); each answer takes its own snapshot.
 * Returns 0 or -1 (control_register). */
int status_register_commands(struct status *st, struct control_registry *reg);

#endif
