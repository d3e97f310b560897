/* state: the state file and the event log (see include/weir/state.h).
 *
 * The state file is what makes a rollback survive a restart, so both of its
 * failure modes are loud: a save that cannot be made durable returns -1
 * (the caller must not acknowledge the change), and a file that cannot be
 * trusted at start stops weir with a message that says how to recover. It
 * is never silently reset to split.canary_weight.
 *
 * Durability of a save: write a temporary file next to the target, fsync
 * it, rename(2) it over the target, fsync the directory. A crash at any
 * point leaves either the old complete file or the new complete file (the
 * rename is atomic; the directory fsync makes it survive power loss).
 *
 * The event log is append-only JSON Lines. Each event is one write(2) of a
 * whole line followed by fdatasync, so a crash can only leave a torn LAST
 * line: the reader skips it, and event_log_open terminates it so that the
 * next event starts on a line of its own. */
#include "weir/state.h"
#include "weir/clock.h"
#include "weir/json.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#define STATE_VERSION 1
#define FILE_MODE 0640

/* What every "cannot use the state file" message ends with. */
#define STATE_ADVICE "fix it or remove it to start from split.canary_weight"

/* Event lines. The caps bound a line far below EVENT_LINE_CAP, so a caller's
 * buffer of EVENT_LINE_CAP bytes always receives the whole line. */
#define EVENT_LINE_CAP 2048
#define EVENT_REASON_CAP 1024         /* escaped reason text, quotes excluded */
#define EVENT_NAME_CAP 64             /* escaped actor / action */

/* Reading the log backwards: block size, and the longest line kept (weir
 * writes lines of at most EVENT_LINE_CAP; longer ones are not its events). */
#define READ_BLOCK 16384
#define READ_LINE_CAP 65536

static const char *const guard_state_names[] = {
	"idle", "watching", "breaching", "rolled_back", "paused", "promoted",
};

static bool guard_state_valid(const char *s)
{
	for (size_t i = 0; i < sizeof(guard_state_names) / sizeof(guard_state_names[0]); i++)
		if (strcmp(s, guard_state_names[i]) == 0)
			return true;
	return false;
}

/* The directory part of PATH into DIR ("." without a slash, "/" for "/x"). */
static void dir_of(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, dirlen, ".");
	else if (slash == path)
		snprintf(dir, dirlen, "/");
	else
		snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
}

/* write(2) all of BUF, retrying on EINTR and short writes. Returns 0, or -1
 * with errno; *DONE (if given) is how much was written either way. */
static int write_all(int fd, const char *buf, size_t len, size_t *done)
{
	size_t off = 0;
	int rc = 0;

	while (off < len) {
		ssize_t k = write(fd, buf + off, len - off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		if (k == 0) {                 /* not expected for a regular file */
			errno = EIO;
			rc = -1;
			break;
		}
		off += (size_t)k;
	}
	if (done)
		*done = off;
	return rc;
}

/* ---- state file: load ------------------------------------------------------------- */

/* The "invalid" message: LINE 0 when the problem has no line. Returns -1. */
static int invalid(char *err, size_t errlen, const char *path, int line, const char *what)
{
	if (line > 0)
		snprintf(err, errlen, "state file %s is invalid (line %d: %s): " STATE_ADVICE, path, line,
		         what);
	else
		snprintf(err, errlen, "state file %s is invalid (%s): " STATE_ADVICE, path, what);
	return -1;
}

static bool is_int_type(int type)
{
	return type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
}

/* Check one top-level setting and store it into ST. SEEN marks the keys
 * found (bit per key). Returns 0 or -1 with WHAT set. */
static int load_setting(const config_setting_t *s, struct weir_state *st, unsigned *seen,
                        const char **what)
{
	const char *name = config_setting_name(s);
	int type = config_setting_type(s);

	if (name == NULL) {
		*what = "unexpected unnamed setting";
		return -1;
	}
	if (strcmp(name, "version") == 0) {
		if (!is_int_type(type) || config_setting_get_int64(s) != STATE_VERSION) {
			*what = "version must be 1: this weir reads only version 1 state files";
			return -1;
		}
		*seen |= 1u;
	} else if (strcmp(name, "canary_weight") == 0) {
		double x, h;

		if (type != CONFIG_TYPE_FLOAT && !is_int_type(type)) {
			*what = "canary_weight must be a number";
			return -1;
		}
		if (type == CONFIG_TYPE_FLOAT) {
			x = config_setting_get_float(s);
		} else {
			long long i = config_setting_get_int64(s);

			x = (double)i;
		}
		if (!isfinite(x) || x < 0.0 || x > 100.0) {
			*what = "canary_weight must be between 0 and 100";
			return -1;
		}
		h = round(x * 100.0);
		/* 99.99 * 100 is 9998.999999999998 in binary; 5.005 * 100 is
		 * 500.49999999999994. Anything not within rounding noise of a
		 * hundredth was not written by weir. */
		if (fabs(x * 100.0 - h) > 1e-6) {
			*what = "canary_weight must be a multiple of 0.01";
			return -1;
		}
		st->canary_weight = (uint32_t)h;
		*seen |= 2u;
	} else if (strcmp(name, "guard_state") == 0) {
		const char *v = type == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;

		if (!v || !guard_state_valid(v)) {
			*what = "guard_state must be one of idle, watching, breaching, rolled_back, paused, "
			        "promoted";
			return -1;
		}
		snprintf(st->guard_state, sizeof(st->guard_state), "%s", v);
		*seen |= 4u;
	} else if (strcmp(name, "rollout_step") == 0) {
		long long v;

		if (!is_int_type(type)) {
			*what = "rollout_step must be an integer";
			return -1;
		}
		/* libconfig 1.5 wraps integer literals beyond 32 bits without
		 * an error; later versions read them as 64-bit, caught here. */
		v = config_setting_get_int64(s);
		if (v < -1 || v > INT_MAX) {
			*what = "rollout_step must be -1 (no rollout) or a step index";
			return -1;
		}
		st->rollout_step = (int)v;
		*seen |= 8u;
	} else if (strcmp(name, "fleet_rollback_pending") == 0) {
		if (type != CONFIG_TYPE_BOOL) {
			*what = "fleet_rollback_pending must be true or false";
			return -1;
		}
		st->fleet_rollback_pending = config_setting_get_bool(s) != 0;
	} else if (strcmp(name, "fleet_rollback_base") == 0) {
		/* Written with an L suffix: libconfig 1.5 would wrap a plain
		 * literal beyond 32 bits, and etcd revisions get there. */
		if (!is_int_type(type) || config_setting_get_int64(s) < 0) {
			*what = "fleet_rollback_base must be a revision (a whole number from 0 on)";
			return -1;
		}
		st->fleet_rollback_base = (int64_t)config_setting_get_int64(s);
	} else {
		*what = NULL;                 /* unknown: the caller names it */
		return -1;
	}
	return 0;
}

/* Validate the parsed file. Returns 1 or -1 with ERR. */
static int load_root(const config_t *cfg, const char *path, struct weir_state *st, char *err,
                     size_t errlen)
{
	static const char *const keys[] = { "version", "canary_weight", "guard_state", "rollout_step" };
	const config_setting_t *root = config_root_setting(cfg);
	unsigned seen = 0;
	int n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *what = NULL;
		char buf[160];

		if (load_setting(s, st, &seen, &what) < 0) {
			if (!what) {
				snprintf(buf, sizeof(buf), "unknown setting \"%.100s\"", config_setting_name(s));
				what = buf;
			}
			return invalid(err, errlen, path, (int)config_setting_source_line(s), what);
		}
	}
	for (unsigned k = 0; k < 4; k++) {
		if (!(seen & (1u << k))) {
			char buf[64];

			snprintf(buf, sizeof(buf), "%s is missing", keys[k]);
			return invalid(err, errlen, path, 0, buf);
		}
	}
	return 1;
}

int state_load(const char *path, struct weir_state *st, char *err, size_t errlen)
{
	struct weir_state tmp = { .canary_weight = 0, .rollout_step = -1 };
	struct stat sb;
	config_t cfg;
	FILE *f;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read state file %s: %s: " STATE_ADVICE, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "cannot read state file %s: %s: " STATE_ADVICE, path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return invalid(err, errlen, path, 0,
		               S_ISDIR(sb.st_mode) ? "it is a directory" : "it is not a regular file");
	}
	if (sb.st_size == 0) {
		close(fd);
		return invalid(err, errlen, path, 0, "the file is empty, which a crash cannot cause as weir "
		               "replaces it by rename: something else truncated it");
	}
	f = fdopen(fd, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read state file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	config_init(&cfg);
	if (config_read(&cfg, f) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "cannot read state file %s: %s: " STATE_ADVICE, path,
			         config_error_text(&cfg) ? config_error_text(&cfg) : "read error");
		else
			invalid(err, errlen, path, config_error_line(&cfg),
			        config_error_text(&cfg) ? config_error_text(&cfg) : "syntax error");
		rc = -1;
	} else {
		rc = load_root(&cfg, path, &tmp, err, errlen);
	}
	config_destroy(&cfg);
	fclose(f);
	if (rc == 1)
		*st = tmp;
	return rc;
}

/* ---- state file: save ------------------------------------------------------------- */

/* "cannot write state file PATH: REASON", with a hint when a directory is
 * missing. ERRNUM is the errno of the failed call. */
static void save_error(char *err, size_t errlen, const char *path, const char *step, int errnum)
{
	char dir[PATH_MAX];

	if (errnum == ENOENT) {
		dir_of(path, dir, sizeof(dir));
		snprintf(err, errlen, "cannot write state file %s: %s%s%s (create the directory %s)", path,
		         step, *step ? ": " : "", strerror(errnum), dir);
	} else {
		snprintf(err, errlen, "cannot write state file %s: %s%s%s", path, step, *step ? ": " : "",
		         strerror(errnum));
	}
}

/* Open the temporary file TMP exclusively. A leftover of the same name can
 * only come from an earlier weir that had our pid and died mid-save: remove
 * it and try once more (O_EXCL still refuses to follow a planted symlink). */
static int open_temp(const char *tmp)
{
	int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, FILE_MODE);

	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, FILE_MODE);
	return fd;
}

/* fsync the directory that holds PATH, so the rename survives power loss. */
static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd, rc, e;

	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

int state_save(const char *path, const struct weir_state *st, char *err, size_t errlen)
{
	char body[384], base[96] = "", *tmp = NULL;
	size_t tmplen;
	int fd = -1, n, rc;

	/* Never write what state_load would refuse: the next start would stop. */
	if (st->canary_weight > WEIGHT_SCALE || st->rollout_step < -1 || st->fleet_rollback_base < 0 ||
	    memchr(st->guard_state, '\0', sizeof(st->guard_state)) == NULL ||
	    !guard_state_valid(st->guard_state)) {
		snprintf(err, errlen, "cannot write state file %s: invalid state (weight %u, guard \"%.16s\", "
		         "step %d)", path, st->canary_weight,
		         memchr(st->guard_state, '\0', sizeof(st->guard_state)) ? st->guard_state : "?",
		         st->rollout_step);
		return -1;
	}
	/* The base only with the rollback it belongs to, and only when known:
	 * a file without it reads as "unknown", as files of older weirs do. */
	if (st->fleet_rollback_pending && st->fleet_rollback_base > 0)
		snprintf(base, sizeof(base), "fleet_rollback_base = %" PRId64 "L;  # the weights revision it was decided on\n",
		         st->fleet_rollback_base);
	n = snprintf(body, sizeof(body),
	             "# weir state: written by weir, do not edit while it runs\n"
	             "version = %d;\n"
	             "canary_weight = %.2f;      # percent\n"
	             "guard_state = \"%s\";\n"
	             "rollout_step = %d;\n%s%s",
	             STATE_VERSION, st->canary_weight / 100.0, st->guard_state, st->rollout_step,
	             st->fleet_rollback_pending ? "fleet_rollback_pending = true;  # written to etcd once it answers\n"
	                                        : "", base);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		snprintf(err, errlen, "cannot write state file %s: state text too long", path);
		return -1;
	}

	tmplen = strlen(path) + 32;
	tmp = malloc(tmplen);
	if (!tmp) {
		snprintf(err, errlen, "cannot write state file %s: out of memory", path);
		return -1;
	}
	snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid());

	fd = open_temp(tmp);
	if (fd < 0) {
		save_error(err, errlen, path, "", errno);
		free(tmp);
		return -1;
	}
	if (write_all(fd, body, (size_t)n, NULL) < 0) {
		save_error(err, errlen, path, "write", errno);
		goto fail;
	}
	if (fsync(fd) < 0) {
		save_error(err, errlen, path, "fsync", errno);
		goto fail;
	}
	rc = close(fd);
	fd = -1;
	if (rc < 0) {
		save_error(err, errlen, path, "close", errno);
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		save_error(err, errlen, path, "rename", errno);
		goto fail;
	}
	free(tmp);
	/* Renamed: the new state is in place, but without this fsync a power
	 * cut could bring the old one back. Report it; nothing to remove. */
	if (sync_dir(path) < 0) {
		save_error(err, errlen, path, "fsync of the directory", errno);
		return -1;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* ---- state file: leftovers of a crash ------------------------------------------ */

/* The pid of NAME when it is BASE ".tmp." and the pid in the exact decimal
 * form state_save writes (no sign, no leading zero), else 0: a name weir
 * never writes is not weir's to remove. */
static pid_t temp_owner(const char *name, const char *base)
{
	size_t blen = strlen(base);
	const char *digits = name + blen + 5;
	long pid = 0;

	if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0 || *digits < '1' ||
	    *digits > '9')
		return 0;
	for (const char *p = digits; *p; p++) {
		if (*p < '0' || *p > '9' || pid > INT_MAX / 10)
			return 0;
		pid = pid * 10 + (*p - '0');
	}
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

int state_remove_stale_temps(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	struct dirent *de;
	struct stat sb;
	int removed = 0, failed = 0;
	DIR *d;

	dir_of(path, dir, sizeof(dir));
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;      /* state_save names the missing directory */
		snprintf(err, errlen, "cannot read the directory of state file %s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		pid_t pid = temp_owner(de->d_name, base);

		if (pid == 0 || fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (sb.st_uid != geteuid())
			continue;      /* another user's: not a save of ours */
		if (pid != getpid() && !(kill(pid, 0) < 0 && errno == ESRCH))
			continue;      /* alive (or not ours to signal): maybe mid-save */
		if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT) {
			removed++;
			continue;
		}
		/* One file we cannot remove must not keep the others: report the
		 * first and go on. */
		if (failed++ == 0)
			snprintf(err, errlen, "cannot remove %s/%s, left by a crashed save of state file %s: %s", dir,
			         de->d_name, path, strerror(errno));
	}
	closedir(d);
	if (failed > 1) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, " (and %d more)", failed - 1);
	}
	return failed ? -1 : removed;
}

/* ---- event log: formatting -------------------------------------------------------- */

/* The whole event line, newline included, into BUF (EVENT_LINE_CAP bytes).
 * Returns its length or -1 with ERR. */
static long format_event(char *buf, const struct weir_event *ev, char *err, size_t errlen)
{
	char t[40], actor[EVENT_NAME_CAP], action[EVENT_NAME_CAP], reason[EVENT_REASON_CAP];
	char node[EVENT_NAME_CAP];
	long na, nb, nr = 0, nn = 0;
	int n;

	if (!ev->actor || !ev->action || ev->before > WEIGHT_SCALE || ev->after > WEIGHT_SCALE) {
		snprintf(err, errlen, "invalid event (actor, action or weight out of range)");
		return -1;
	}
	na = json_escape_bounded(actor, sizeof(actor), ev->actor, false);
	nb = json_escape_bounded(action, sizeof(action), ev->action, false);
	if (na < 0 || nb < 0) {
		snprintf(err, errlen, "invalid event: actor or action longer than %d bytes", EVENT_NAME_CAP);
		return -1;
	}
	if (ev->reason)
		nr = json_escape_bounded(reason, sizeof(reason), ev->reason, true);
	if (ev->node && (nn = json_escape_bounded(node, sizeof(node), ev->node, false)) < 0) {
		snprintf(err, errlen, "invalid event: node longer than %d bytes", EVENT_NAME_CAP);
		return -1;
	}
	if (clock_format_wall(t, sizeof(t), clock_wall_ms(), true) < 0) {
		snprintf(err, errlen, "the wall clock is outside the years 0000-9999");
		return -1;
	}
	n = snprintf(buf, EVENT_LINE_CAP,
	             "{\"time\":\"%s\",\"actor\":\"%.*s\",\"action\":\"%.*s\","
	             "\"before\":{\"baseline\":%.2f,\"canary\":%.2f},"
	             "\"after\":{\"baseline\":%.2f,\"canary\":%.2f},\"reason\":%s%.*s%s%s%.*s%s}\n",
	             t, (int)na, actor, (int)nb, action,
	             (WEIGHT_SCALE - ev->before) / 100.0, ev->before / 100.0,
	             (WEIGHT_SCALE - ev->after) / 100.0, ev->after / 100.0,
	             ev->reason ? "\"" : "null", (int)nr, reason, ev->reason ? "\"" : "",
	             ev->node ? ",\"node\":\"" : "", (int)nn, node, ev->node ? "\"" : "");
	if (n < 0 || n >= EVENT_LINE_CAP) {     /* cannot happen with the caps above */
		snprintf(err, errlen, "event line too long");
		return -1;
	}
	return n;
}

/* ---- event log: writing ----------------------------------------------------------- */

struct event_log {
	int fd;                       /* O_WRONLY | O_APPEND */
	char *path;                   /* for messages */
};

/* A crash can leave a torn last line. Terminate it, so that the next event
 * does not glue onto it and become unreadable too; the reader then skips
 * the torn line as not being a JSON object. The log is evidence: the torn
 * bytes are kept, not truncated away. */
static int terminate_torn_line(struct event_log *log)
{
	struct stat sb;
	char last;
	int rfd;
	ssize_t k;

	if (fstat(log->fd, &sb) < 0)
		return -1;
	if (sb.st_size == 0)
		return 0;
	rfd = open(log->path, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return -1;
	do
		k = pread(rfd, &last, 1, sb.st_size - 1);
	while (k < 0 && errno == EINTR);
	close(rfd);
	if (k != 1)
		return k < 0 ? -1 : 0;
	if (last == '\n')
		return 0;
	if (write_all(log->fd, "\n", 1, NULL) < 0 || fdatasync(log->fd) < 0)
		return -1;
	return 0;
}

struct event_log *event_log_open(const char *path, char *err, size_t errlen)
{
	struct event_log *log = calloc(1, sizeof(*log));

	if (!log || !(log->path = strdup(path))) {
		snprintf(err, errlen, "cannot open event log %s: out of memory", path);
		free(log);
		return NULL;
	}
	log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, FILE_MODE);
	if (log->fd < 0) {
		int e = errno;

		if (e == ENOENT) {
			char dir[PATH_MAX];

			dir_of(path, dir, sizeof(dir));
			snprintf(err, errlen, "cannot open event log %s: %s (create the directory %s)", path,
			         strerror(e), dir);
		} else {
			snprintf(err, errlen, "cannot open event log %s: %s", path, strerror(e));
		}
		goto fail;
	}
	if (terminate_torn_line(log) < 0) {
		snprintf(err, errlen, "cannot repair the torn last line of event log %s: %s", path,
		         strerror(errno));
		goto fail;
	}
	return log;
fail:
	event_log_close(log);
	return NULL;
}

void event_log_close(struct event_log *log)
{
	if (!log)
		return;
	if (log->fd >= 0)
		close(log->fd);
	free(log->path);
	free(log);
}

int event_format_line(const struct weir_event *ev, char *line, size_t linelen, char *err, size_t errlen)
{
	char buf[EVENT_LINE_CAP];
	long n = format_event(buf, ev, err, errlen);

	if (n < 0)
		return -1;
	if ((size_t)n > linelen) {
		snprintf(err, errlen, "event line of %ld bytes does not fit a buffer of %zu", n - 1, linelen);
		return -1;
	}
	memcpy(line, buf, (size_t)n - 1);
	line[n - 1] = '\0';
	return 0;
}

int event_log_append(struct event_log *log, const struct weir_event *ev, char *line, size_t linelen,
                     char *err, size_t errlen)
{
	char buf[EVENT_LINE_CAP];
	long n = format_event(buf, ev, err, errlen);
	size_t done = 0;
	off_t end;

	if (n < 0)
		return -1;
	if (line && (size_t)n > linelen) {    /* n counts the newline: n - 1 + NUL */
		snprintf(err, errlen, "event line of %ld bytes does not fit a buffer of %zu", n - 1, linelen);
		return -1;
	}
	/* Where this line starts, to undo a partial write (ENOSPC halfway):
	 * half a line would corrupt the next event, which appends after it. */
	end = lseek(log->fd, 0, SEEK_END);
	if (write_all(log->fd, buf, (size_t)n, &done) < 0) {
		int e = errno;

		/* If even this fails, the next event_log_open terminates the
		 * torn line, and the reader skips it. */
		if (done > 0 && end >= 0 && ftruncate(log->fd, end) < 0)
			snprintf(err, errlen, "cannot write event log %s: %s (a partial line remains)",
			         log->path, strerror(e));
		else
			snprintf(err, errlen, "cannot write event log %s: %s", log->path, strerror(e));
		return -1;
	}
	if (fdatasync(log->fd) < 0) {
		snprintf(err, errlen, "cannot write event log %s: fdatasync: %s", log->path, strerror(errno));
		return -1;
	}
	if (line) {
		memcpy(line, buf, (size_t)n - 1);
		line[n - 1] = '\0';
	}
	return 0;
}

/* ---- event log: reading the tail -------------------------------------------------- */

/* The line being assembled while the file is walked backwards: its bytes
 * fill FRAG from the right end, so each earlier piece is prepended. */
struct tail_reader {
	char frag[READ_LINE_CAP];
	size_t fraglen;
	bool overlong;                /* longer than READ_LINE_CAP: skipped */
	bool torn;                    /* the bytes after the last newline */
	char **lines;                 /* found lines, newest first */
	size_t count, cap, want;
};

static void tail_prepend(struct tail_reader *t, const char *p, size_t len)
{
	if (t->overlong || t->torn)
		return;
	if (len > READ_LINE_CAP - t->fraglen) {
		t->overlong = true;
		return;
	}
	t->fraglen += len;
	memcpy(t->frag + READ_LINE_CAP - t->fraglen, p, len);
}

/* The current fragment is complete (a newline precedes it, or it starts the
 * file): keep it when it is a JSON object. Returns 0 or -1 (out of memory). */
static int tail_finish_line(struct tail_reader *t)
{
	const char *s = t->frag + READ_LINE_CAP - t->fraglen;

	if (!t->torn && !t->overlong && t->fraglen >= 2 && s[0] == '{' && s[t->fraglen - 1] == '}') {
		char *copy;

		if (t->count == t->cap) {
			/* Grown as lines are found: N is the caller's (an operator's
			 * "show events N"), not a size to allocate up front. */
			size_t cap = t->cap ? t->cap * 2 : 32;
			char **grown;

			if (cap > t->want)
				cap = t->want;
			grown = realloc(t->lines, cap * sizeof(*grown));
			if (!grown)
				return -1;
			t->lines = grown;
			t->cap = cap;
		}
		copy = malloc(t->fraglen + 1);
		if (!copy)
			return -1;
		memcpy(copy, s, t->fraglen);
		copy[t->fraglen] = '\0';
		t->lines[t->count++] = copy;
	}
	t->fraglen = 0;
	t->overlong = false;
	t->torn = false;
	return 0;
}

/* Walk FD (SIZE bytes) backwards in blocks until T has WANT lines or the
 * start of the file is reached. Memory stays bounded by one block and one
 * line, whatever the size of the log. Returns 0 or -1 with errno. */
static int tail_scan(int fd, off_t size, struct tail_reader *t)
{
	char block[READ_BLOCK];
	off_t pos = size;

	while (pos > 0 && t->count < t->want) {
		size_t len = pos >= READ_BLOCK ? READ_BLOCK : (size_t)pos;
		size_t got = 0, right;

		pos -= (off_t)len;
		while (got < len) {
			ssize_t k = pread(fd, block + got, len - got, pos + (off_t)got);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				if (k == 0)
					errno = EIO;  /* truncated while we read */
				return -1;
			}
			got += (size_t)k;
		}
		right = len;
		while (right > 0 && t->count < t->want) {
			const char *nl = memrchr(block, '\n', right);
			size_t start = nl ? (size_t)(nl - block) + 1 : 0;

			tail_prepend(t, block + start, right - start);
			if (!nl)
				break;
			if (tail_finish_line(t) < 0)
				return -1;
			right = start - 1;
		}
	}
	/* At the start of the file the fragment is the first line, complete
	 * if any newline followed it (otherwise it is still marked torn). */
	if (pos == 0 && t->count < t->want && tail_finish_line(t) < 0)
		return -1;
	return 0;
}

int event_log_read_last(const char *path, unsigned n, char ***out, size_t *count, char *err,
                        size_t errlen)
{
	struct tail_reader *t = NULL;
	struct stat sb;
	int fd, e;

	*out = NULL;
	*count = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read event log %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		e = errno;
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		snprintf(err, errlen, "cannot read event log %s: not a regular file", path);
		return -1;
	}
	if (n == 0 || sb.st_size == 0) {
		close(fd);
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		e = ENOMEM;
		goto fail;
	}
	t->want = n;
	t->torn = true;
	if (tail_scan(fd, sb.st_size, t) < 0) {
		e = errno;
		goto fail;
	}
	close(fd);
	/* Newest first -> oldest first. */
	for (size_t i = 0; i < t->count / 2; i++) {
		char *tmp = t->lines[i];

		t->lines[i] = t->lines[t->count - 1 - i];
		t->lines[t->count - 1 - i] = tmp;
	}
	if (t->count == 0) {
		free(t->lines);
		t->lines = NULL;
	}
	*out = t->lines;
	*count = t->count;
	free(t);
	return 0;
fail:
	close(fd);
	if (t) {
		event_log_lines_free(t->lines, t->count);
		free(t);
	}
	snprintf(err, errlen, "cannot read event log %s: %s", path, strerror(e));
	return -1;
}

void event_log_lines_free(char **lines, size_t count)
{
	if (!lines)
		return;
	for (size_t i = 0; i < count; i++)
		free(lines[i]);
	free(lines);
}
