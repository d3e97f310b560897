/* proxy: the client side of the data path: accept, parse, route, relay.
 * Owns: the client connections of a worker: their state machines, buffers and the exchange in flight. */
#ifndef WEIR_PROXY_H
#define WEIR_PROXY_H

#include <event2/listener.h>

#include "weir/proxy-t.h"

struct worker;

/* evconnlistener callback; ARG is the struct worker. */
void proxy_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                  int socklen, void *arg);

/* Draining: close connections that are idle between requests; others close
 * once their current response is complete. Returns how many are still open
 * (at zero the worker's loop may end; later, the last close ends it). */
uint32_t proxy_close_idle(struct worker *w);

/* OUT[pool]: W's judged requests of each pool routed and not yet measured
 * (the sequential guard's upper bounds count them; seqtest.h). Walks W's
 * connections: once per fold, not per request. */
void proxy_count_in_flight(const struct worker *w, uint64_t out[POOL_COUNT]);

/* Close every connection at once (drain time is over) and free the pool. */
void proxy_close_all(struct worker *w);

/* Free the worker's cached connection structs. */
void proxy_free_cache(struct worker *w);

#endif
