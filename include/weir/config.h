/* config: load and validate weir's configuration file (libconfig syntax).
 * Owns: parsing and validation of the configuration file; a loaded weir_config belongs to its caller.
 *
 * The whole schema of INTERFACE.md is parsed into struct weir_config. Every
 * problem found is appended to a diag list as "FILE:LINE: what (got X)";
 * loading goes on after an error so that all of them are reported at once. */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include "weir/config-t.h"
#include "weir/diag.h"

/* Compiled-in default paths (follow --sysconfdir, --runstatedir, --localstatedir). */
#ifndef WEIR_SYSCONFDIR
#define WEIR_SYSCONFDIR "/etc"
#endif
#ifndef WEIR_RUNSTATEDIR
#define WEIR_RUNSTATEDIR "/run"
#endif
#ifndef WEIR_LOCALSTATEDIR
#define WEIR_LOCALSTATEDIR "/var"
#endif
#define WEIR_DEFAULT_CONFIG     WEIR_SYSCONFDIR "/weir/weir.conf"
#define WEIR_DEFAULT_SOCKET     WEIR_RUNSTATEDIR "/weir/weir.sock"
#define WEIR_DEFAULT_STATE_FILE WEIR_LOCALSTATEDIR "/lib/weir/state"
#define WEIR_DEFAULT_EVENT_LOG  WEIR_LOCALSTATEDIR "/log/weir/events.log"

/* Load and validate PATH. Returns the configuration, or NULL when at least one
 * error was added to DIAG (warnings alone do not fail). Release with config_free. */
struct weir_config *config_load(const char *path, struct diag *diag);

/* Same, from a string; NAME is used as the file name in diagnostics. */
struct weir_config *config_load_string(const char *text, const char *name, struct diag *diag);

void config_free(struct weir_config *cfg);

/* Parse a duration: "250ms", "5s", "2m", "1h" (decimals allowed, e.g. "1.5s").
 * Returns 0 and stores milliseconds, or -1 when it is not a duration. */
int config_parse_duration(const char *text, uint64_t *ms);

/* Parse "host:port", "a.b.c.d:port" or "[v6]:port" with a numeric host or
 * "localhost". Returns 0 on success, -1 with a reason in ERR (static string). */
int config_parse_address(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                         const char **err);

/* Parse a percentage (0..100, multiple of 0.01) into hundredths of a percent.
 * Returns 0 or -1. Used by the config and by the control socket. */
int config_percent_to_weight(double percent, uint32_t *weight);

/* "baseline" or "canary": the pool's name as the configuration, the logs and
 * every document spell it. Static storage. */
const char *cfg_pool_name(enum pool_id p);

#endif
