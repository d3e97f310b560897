/* runtime: the running daemon. Owns the main event loop and its signals, the
 * workers, the current and previous configuration and the reload; it
 * creates the main-thread modules (weights, canary, status, control, admin),
 * gives the control socket their command rows, and stops all in order. */
#ifndef WEIR_RUNTIME_H
#define WEIR_RUNTIME_H

#include <stddef.h>

#include "weir/config-t.h"

/* Run weir on CFG until stopped; takes ownership of CFG (a reload replaces
 * it). Returns the process exit status: 0 after a clean stop, 2 for a runtime
 * failure (cannot bind, cannot read the state file ...). */
int runtime_run(struct weir_config *cfg);

struct runtime;

/* Re-read the configuration file (SIGHUP, "reload"). A valid file takes
 * effect for new requests; an invalid one changes nothing and its errors are
 * returned in ERR ("FILE:LINE: ...; ...") and logged. Main thread only.
 * Returns 0 or -1. */
int runtime_reload(struct runtime *rt, char *err, size_t errlen);

#endif
