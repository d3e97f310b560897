/* worker: one event-loop thread of the data path. Each worker owns its event
 * base, its listening sockets (SO_REUSEPORT), its upstream connection pools
 * and its measurements; the hot path takes no lock. */
#ifndef WEIR_WORKER_H
#define WEIR_WORKER_H

#include "weir/worker-t.h"

struct runtime;

/* Check that every listen address is free (binding without SO_REUSEPORT, so a
 * second weir on the same port is refused). Returns 0, or -1 with a message
 * in ERR (size ERRLEN). */
int worker_probe_listeners(const struct weir_config *cfg, char *err, size_t errlen);

/* Set W up: event base, listeners, server tables, stats buffers. Returns 0 or
 * -1 with a message in ERR. Release with worker_dispose (also after failure). */
int worker_init(struct worker *w, struct runtime *rt, unsigned id, char *err, size_t errlen);
void worker_dispose(struct worker *w);

/* Start / join the thread. */
int worker_start(struct worker *w);
void worker_join(struct worker *w);

/* From any thread: stop accepting and finish in-flight requests. */
void worker_request_drain(struct worker *w);
/* From any thread: stop now (drain time is over). */
void worker_request_stop(struct worker *w);

/* Sum, over all workers, of the published state of one server of the
 * current configuration (rt->cfg). Main thread. */
void worker_server_state(struct runtime *rt, enum pool_id pool, size_t server,
                         uint32_t *active, uint64_t *down_until_ms);

/* From the main thread: switch W to CFG (a reload). W lets go of its old
 * configuration, then decrements rt->reconf_pending and, at zero, activates
 * rt->reconf_done. */
void worker_request_reconfigure(struct worker *w, const struct weir_config *cfg);

#endif
