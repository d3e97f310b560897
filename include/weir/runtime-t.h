/* Types of the running daemon.
 * Owns: nothing at run time: the type of the runtime. Functions are in
 * runtime.h. */
#ifndef WEIR_RUNTIME_T_H
#define WEIR_RUNTIME_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "weir/admission.h"
#include "weir/config-t.h"

struct accesslog;
struct admin;
struct canary;
struct control;
struct event;
struct event_base;
struct health;
struct stats;
struct status;
struct tls_set;
struct weights;
struct worker;

struct runtime {
	struct weir_config *cfg;            /* the current configuration (main thread) */
	struct weir_config *old_cfg;        /* the previous one, until every worker let go */
	struct tls_set *tls;                /* TLS contexts of cfg */
	struct tls_set *old_tls;            /* of old_cfg, freed with it */
	_Atomic unsigned reconf_pending;    /* workers that have not switched yet */
	struct event *reconf_done;          /* cross-thread: free old_cfg */
	struct event_base *base;            /* main thread: signals, admin, control, guard */
	struct admission admission;         /* connections open and refused, TLS
	                                       failures: counted by the workers */
	struct stats *stats;
	struct worker *workers;
	unsigned nworkers;
	_Atomic unsigned workers_running;
	uint64_t start_us;
	int exit_code;
	bool stopping;
	struct event *stop_timer;
	struct admin *admin;
	struct weights *weights;            /* owns the published weight */
	struct canary *canary;              /* the guard driver */
	struct fleet *fleet;                /* NULL without a cluster group */
	struct status *status;              /* renders the status documents */
	struct health *health;              /* active health checks (main thread) */
	struct control *control;
	struct event *sigterm, *sigint;     /* stop: drain, then exit */
	struct event *sighup;
	struct event *sigusr1;              /* reopen the access log (logrotate) */
	struct accesslog *access_log;       /* NULL: access_log = "" */
};

#endif
