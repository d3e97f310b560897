/* state: what weir persists — the state file (current weights, guard state,
 * Owns: the formats and atomic writes of the state file and the event log.
 * rollout step; libconfig syntax, replaced atomically) and the event log (one
 * JSON object per line, appended and flushed before a change is acknowledged). */
#ifndef WEIR_STATE_H
#define WEIR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/config-t.h"

/* The persisted state. */
struct weir_state {
	uint32_t canary_weight;       /* hundredths of a percent */
	char guard_state[16];         /* "idle", "watching", ..., as INTERFACE.md names them */
	int rollout_step;             /* index into rollout.steps, -1 without a rollout */
	bool fleet_rollback_pending;  /* a fleet member's rollback not yet written to etcd
	                                 (optional in the file; written only when true) */
	int64_t fleet_rollback_base;  /* ... the weights revision the member had applied when
	                                 it decided it; 0 unknown (optional in the file;
	                                 written only with the rollback, when known) */
};

/* Read PATH. Returns 1 when loaded, 0 when the file does not exist (first
 * start), -1 when it exists but cannot be read or is invalid: ERR then says
 * what is wrong and what to do, in one line ("state file PATH is invalid
 * (line 3: ...): fix it or remove it to start from split.canary_weight").
 * Never a silent reset. Validation is strict: version = 1, canary_weight
 * 0..100 in steps of 0.01 (an integer is accepted too), a known guard_state,
 * rollout_step >= -1, fleet_rollback_base >= 0 (optional, written L as
 * int64); a missing or unknown setting and an empty file are errors. ST is written only when 1 is returned. */
int state_load(const char *path, struct weir_state *st, char *err, size_t errlen);

/* Write ST to PATH atomically: PATH.tmp.<pid> in the same directory (0640),
 * fsync, rename over PATH, fsync of the directory. Returns 0 or -1 with ERR
 * ("cannot write state file PATH: No space left on device"); on failure no
 * temporary file is left and PATH still holds the previous state (except
 * when only the directory fsync failed: the new state is in place but may
 * not survive a power cut). A state state_load would refuse is not written. */
int state_save(const char *path, const struct weir_state *st, char *err, size_t errlen);

/* Remove what a weir killed in the middle of state_save left behind: the
 * files PATH.tmp.<pid> (regular files owned by our effective uid, pid in
 * plain decimal without leading zero, as state_save writes it) whose pid is
 * not a running process, or is ours (at start nothing of ours is being
 * saved). A file of a live process is kept: it may be mid-save. Call at
 * start, before state_load. Returns how many were removed, or -1 with ERR
 * when the directory cannot be read or a stale file cannot be removed; in
 * the latter case the scan still goes on and removes what it can, and ERR
 * names the first failure and how many more there were. */
int state_remove_stale_temps(const char *path, char *err, size_t errlen);

/* One event: a weight change or a guard transition. */
struct weir_event {
	const char *actor;            /* "guard", "control", "rollout", "config" */
	const char *action;           /* e.g. "set_weight", "rollback", "promote", "breach", "pause" */
	uint32_t before;              /* canary weight before (hundredths of a percent) */
	uint32_t after;               /* canary weight after */
	const char *reason;           /* free text, may be NULL (JSON null) */
	const char *node;             /* the fleet member that decided; NULL alone (not written) */
};

struct event_log;

/* Open PATH for appending (created 0640 if absent; its directory must
 * exist). A last line torn by a crash is terminated with a newline so the
 * next event starts on its own line. Returns NULL with ERR. Release with
 * event_log_close (NULL is allowed). The handle belongs to one thread. */
struct event_log *event_log_open(const char *path, char *err, size_t errlen);
void event_log_close(struct event_log *log);

/* Append EV as one JSON line
 *   {"time":"2026-11-23T12:00:00.123Z","actor":"control","action":"set_weight",
 *    "before":{"baseline":95.00,"canary":5.00},"after":{...},"reason":"..."|null}
 * with a single write(2) and fdatasync, so a crash never leaves half a line
 * behind a complete one. Time is UTC wall clock. The reason is JSON-escaped
 * (invalid UTF-8 becomes \ufffd) and capped at 1024 escaped bytes, cut at a
 * character and marked "..."; actor and action may not exceed 64. A line
 * is therefore under 2048 bytes: the formatted line (without newline) is
 * copied into LINE when LINE is not NULL, and a LINELEN too small for it
 * is refused before anything is written. Returns 0 once the line is on
 * disk, or -1 with ERR (a partial write is truncated away). */
int event_log_append(struct event_log *log, const struct weir_event *ev, char *line, size_t linelen,
                     char *err, size_t errlen);

/* Format EV as event_log_append would, without writing it anywhere (for
 * /stats.json when no event log is configured). Returns 0 or -1 with ERR. */
int event_format_line(const struct weir_event *ev, char *line, size_t linelen, char *err, size_t errlen);

/* The last N complete, well-formed lines of the log at PATH, oldest first,
 * as a malloc'd array of malloc'd strings (*out, *count; NULL and 0 when
 * there are none). A torn last line (no newline), a line that does not start
 * with '{' and end with '}', and a line over 64 KiB are skipped. The file is
 * read backwards from its end, only as far as N lines need, so a huge log
 * costs neither time nor memory. A missing file is 0 lines. Returns 0 or
 * -1 with ERR. Release with event_log_lines_free. */
int event_log_read_last(const char *path, unsigned n, char ***out, size_t *count, char *err,
                        size_t errlen);
void event_log_lines_free(char **lines, size_t count);

#endif
