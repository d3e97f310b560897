/* config: load and validate weir's configuration file (libconfig syntax).
 *
 * The file is read with libconfig, then walked once, group by group, into
 * struct weir_config. Every problem is reported as "FILE:LINE: what (got X)"
 * and the walk goes on, so one run of "weir -t" lists all of them. A typo is
 * never ignored: every group checks its keys against the schema.
 *
 * Defaults (a key that is absent takes the value below):
 *
 *   listen                      required, at least one address
 *   listen[].protocols          ( "h2", "http/1.1" ) on a listener with tls,
 *                               ( "http/1.1" ) on a plain one
 *   workers                     1 ("auto": one per online CPU, clamped to 1..256)
 *   admin.http                  "127.0.0.1:9090"  ("" disables the admin listener;
 *                               admin_http_set is true unless it is disabled)
 *   admin.socket                WEIR_DEFAULT_SOCKET ("" disables the control socket)
 *   pools.baseline, .canary     required, each with a non-empty servers list
 *   pools.<pool>.tls            absent: plain TCP. Present: ca = system store,
 *                               server_name = none, verify = true
 *   pools.<pool>.protocol       "http/1.1" ("h2" is refused: HTTP/2 to
 *                               servers is not supported yet)
 *   pools.balance               "round_robin"
 *   split.canary_weight         0
 *   split.sticky_header/_cookie, override_header   not set
 *   split.expose_pool           false
 *   errors.statuses             "5xx"
 *   errors.abandoned            true
 *   errors.grpc                 GRPC_DEFAULT_ERRORS ("UNKNOWN, DEADLINE_EXCEEDED,
 *                               UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS")
 *   timeouts                    connect 2s, request_header 10s, backend 30s,
 *                               idle 60s, drain 10s
 *   limits                      max_connections 10000, max_header_bytes 65536,
 *                               h2_max_streams 100
 *   guard                       enabled true, method "sequential", alpha 0.001,
 *                               interval 1s, window 30s,
 *                               min_requests 100, for 5s, action "rollback",
 *                               max_error_rate 0.02, max_error_rate_increase 0.01,
 *                               max_p99_ratio 1.5, max_p50_ms/max_p99_ms/max_p999_ms
 *                               not set. These thresholds are the defaults whether
 *                               or not a guard group is written: a guard group only
 *                               replaces the thresholds it names. A threshold set to
 *                               the string "off" is not judged (this is how a default
 *                               threshold is switched off, in guard or in a step).
 *   rollout                     absent: no rollout (present = false). Present:
 *                               steps required, hold "10m", auto true; a step
 *                               without hold uses rollout.hold; a step's thresholds
 *                               are the guard's with the step's keys replacing them.
 *   state_file                  WEIR_DEFAULT_STATE_FILE ("" disables persistence)
 *   event_log                   WEIR_DEFAULT_EVENT_LOG ("" disables the event log)
 *   access_log                  "" (no access log)
 *
 * Decisions the interface leaves open:
 *
 *   - Durations are strings "<number><unit>" with unit ms, s, m or h and an
 *     optional decimal part ("1.5s"), or integers in milliseconds. They have
 *     millisecond resolution: "1.5ms" or "0.0001s" is rejected rather than
 *     rounded. The largest accepted duration is 8760h (a year), so that any
 *     consumer may turn it into nanoseconds without overflow.
 *   - A duration of 0 is accepted only where it means something: timeouts.drain
 *     (stop at once), guard.for (act on the first breached judgement), and
 *     rollout.hold / a step's hold (advance at the first healthy judgement).
 *     Everything else must be > 0, guard.window at least 1s and not shorter
 *     than guard.interval.
 *   - Addresses are numeric ("a.b.c.d:port", "[v6]:port") or "localhost:port",
 *     which is 127.0.0.1. Other host names are rejected: weir does not resolve
 *     DNS at startup, and a name that resolves differently later would be a
 *     surprise. Ports are 1..65535.
 *   - listen and servers may also be a single entry instead of a list.
 *   - A missing required top-level setting (listen, pools) is reported at line
 *     1; a missing key inside a group at the group's line. A file that cannot
 *     be opened has no line: "FILE: cannot read configuration file: REASON".
 *   - Diagnostics come out sorted by line, whatever order the walk found them.
 *   - Two listen entries with the same address (compared after parsing, so
 *     "localhost:80" equals "127.0.0.1:80"), or a listen entry equal to
 *     admin.http (including its default), are errors: the bind would fail.
 *   - split header and cookie names must be RFC 9110 tokens; "" means not set.
 *   - errors.statuses is "5xx", "4xx", a status (integer or string), or a list
 *     of those. An empty list is allowed: then only weir's own 502/504 count.
 *   - errors.grpc is one string (grpc.h: names in any case or numbers 0..16,
 *     separated by commas); "" is allowed: then no gRPC status is an error.
 *   - listen[].protocols is a list of "h2", "http/1.1" and "h2c" (or a lone
 *     string), each at most once. "h2" is chosen by ALPN, so it needs tls;
 *     "h2c" (prior knowledge, told from HTTP/1.1 by the connection preface)
 *     is refused with tls. On a TLS listener the order is the server's ALPN
 *     preference (h2_first).
 *   - pools.<pool>.protocol is "http/1.1" or "h2"; a check group is
 *     checked alike for both (an "h2" pool's checks speak HTTP/2).
 *   - state_file, event_log and access_log must be different files when set.
 *   - cluster (the fleet): etcd is one or more "http://host:port" endpoints
 *     with a numeric host or localhost (https is refused as not supported yet,
 *     never downgraded), no duplicates; name is required, node defaults to
 *     the host name; both are 1-64 of [A-Za-z0-9._-] since they name etcd
 *     keys; ttl is whole seconds from 2s to 300s (default 5s).
 *   - TLS files (certificate, key, ca) must be readable, and are then loaded
 *     once by tls.c the way the daemon will load them: a certificate chain
 *     or key that does not parse, a key that does not match its certificate,
 *     or a CA file without a certificate is reported at the key's line.
 *   - Under guard.method "sequential", each of guard.interval, window,
 *     min_requests and for that is written gets a warning that it is unused
 *     (INTERFACE.md: weir -t notes them); the values are still validated, so
 *     switching to "window" later cannot uncover an error.
 *   - The other warning is guard.interval + guard.for > 30s (INTERFACE.md). It is
 *     given whenever the sum exceeds 30s, even with the guard disabled or in
 *     "alert" mode, because the configuration would break the promise as soon
 *     as someone turns it on. guard.window shorter than guard.for is NOT warned
 *     about: a short window with a long "for" is a legitimate way to react to
 *     recent data while debouncing the decision.
 *
 * Known limit of libconfig 1.5: an integer literal outside the 32-bit range
 * without the "L" suffix is silently truncated by the library, so such a value
 * cannot be diagnosed here. Durations are best written as strings.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <libconfig.h>
#include <openssl/ssl.h>

#include "weir/check.h"
#include "weir/config.h"
#include "weir/grpc.h"
#include "weir/tls.h"

/* ---- out-of-memory wrappers (startup code: abort) ------------------------ */

static void oom(void)
{
	fputs("weir: out of memory\n", stderr);
	abort();
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom();
	return p;
}

__attribute__((format(printf, 1, 0)))
static char *xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

/* Replace *FIELD (owned) by a copy of VALUE. */
static void set_str(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

/* ---- small text helpers for diagnostics --------------------------------- */

/* A short piece of text returned by value (C11: the array lives until the end
 * of the full expression, so "f(x).s" may be passed straight to a printf). */
struct text {
	char s[320];
};

/* A string in double quotes, with quotes, backslashes and control characters
 * escaped so that a diagnostic stays on one line (the control socket sends it
 * as one). Long strings are cut after 64 bytes. */
static struct text quoted(const char *str)
{
	struct text t;
	size_t o = 0, i;

	t.s[o++] = '"';
	for (i = 0; str[i] != '\0' && i < 64; i++) {
		unsigned char ch = (unsigned char)str[i];

		if (ch == '"' || ch == '\\') {
			t.s[o++] = '\\';
			t.s[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			/* 4 bytes per character at most: 64 * 4 + 6 fits in t.s. */
			static const char hex[] = "0123456789abcdef";

			t.s[o++] = '\\';
			t.s[o++] = 'x';
			t.s[o++] = hex[ch >> 4];
			t.s[o++] = hex[ch & 15];
		} else {
			t.s[o++] = (char)ch;
		}
	}
	if (str[i] != '\0') {
		memcpy(t.s + o, "...", 3);
		o += 3;
	}
	t.s[o++] = '"';
	t.s[o] = '\0';
	return t;
}

/* The shortest of %.15g / %.17g that reads back as the same double. */
static struct text number_text(double v)
{
	struct text t;

	snprintf(t.s, sizeof(t.s), "%.15g", v);
	if (strtod(t.s, NULL) != v)
		snprintf(t.s, sizeof(t.s), "%.17g", v);
	return t;
}

/* A duration in milliseconds the way a user writes it: "35s", "1.5s", "250ms". */
static struct text duration_text(uint64_t ms)
{
	struct text t;

	if (ms % 1000 == 0) {
		snprintf(t.s, sizeof(t.s), "%llus", (unsigned long long)(ms / 1000));
	} else if (ms < 1000) {
		snprintf(t.s, sizeof(t.s), "%llums", (unsigned long long)ms);
	} else {
		unsigned frac = (unsigned)(ms % 1000);
		int digits = 3;

		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		snprintf(t.s, sizeof(t.s), "%llu.%0*us", (unsigned long long)(ms / 1000),
		         digits, frac);
	}
	return t;
}

/* A setting's value as written: 2.5, "abc", true, a group. */
static struct text value_text(const config_setting_t *s)
{
	struct text t;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		snprintf(t.s, sizeof(t.s), "%d", config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		snprintf(t.s, sizeof(t.s), "%lld", config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		return number_text(config_setting_get_float(s));
	case CONFIG_TYPE_STRING:
		return quoted(config_setting_get_string(s));
	case CONFIG_TYPE_BOOL:
		snprintf(t.s, sizeof(t.s), "%s", config_setting_get_bool(s) ? "true" : "false");
		break;
	case CONFIG_TYPE_GROUP:
		snprintf(t.s, sizeof(t.s), "a group");
		break;
	case CONFIG_TYPE_LIST:
		snprintf(t.s, sizeof(t.s), "a list");
		break;
	case CONFIG_TYPE_ARRAY:
		snprintf(t.s, sizeof(t.s), "an array");
		break;
	default:
		snprintf(t.s, sizeof(t.s), "nothing");
		break;
	}
	return t;
}

/* A setting's type and value, for "wrong type" messages: string "abc". */
static struct text typed_text(const config_setting_t *s)
{
	struct text t;
	const char *type;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		type = "integer";
		break;
	case CONFIG_TYPE_FLOAT:
		type = "float";
		break;
	case CONFIG_TYPE_STRING:
		type = "string";
		break;
	case CONFIG_TYPE_BOOL:
		type = "boolean";
		break;
	default:
		return value_text(s);
	}
	snprintf(t.s, sizeof(t.s), "%s %.300s", type, value_text(s).s);
	return t;
}

/* ---- setting paths ("pools.canary.servers[1]") --------------------------- */

struct path {
	char s[128];
};

/* Paths are built from the schema's own names and list indexes, so they are
 * short by construction; a truncation would be a bug in this file. */
static void path_check(int n, size_t size)
{
	if (n < 0 || (size_t)n >= size) {
		fputs("weir: internal error: configuration path too long\n", stderr);
		abort();
	}
}

/* "parent.key", or "key" at the top level (PARENT ""). */
static struct path path_key(const char *parent, const char *key)
{
	struct path p;

	if (parent[0] == '\0')
		path_check(snprintf(p.s, sizeof(p.s), "%s", key), sizeof(p.s));
	else
		path_check(snprintf(p.s, sizeof(p.s), "%s.%s", parent, key), sizeof(p.s));
	return p;
}

/* "parent[idx]". */
static struct path path_index(const char *parent, unsigned idx)
{
	struct path p;

	path_check(snprintf(p.s, sizeof(p.s), "%s[%u]", parent, idx), sizeof(p.s));
	return p;
}

/* ---- the walk's context and its reporting -------------------------------- */

/* Where a diagnostic points, kept so that they can be sorted by line. */
struct loc {
	const char *file;
	unsigned line;
};

struct ctx {
	struct diag *diag;
	const char *name;             /* file name for settings libconfig gives none */
	struct weir_config *cfg;
	size_t start;                 /* diag->n before the walk */
	struct loc *locs;             /* one per diagnostic added since START */
	size_t nlocs, caplocs;
};

/* Report at setting S ("FILE:LINE: ..."); S NULL or the root means line 1. */
__attribute__((format(printf, 4, 0)))
static void vreport(struct ctx *c, enum diag_level level, const config_setting_t *s,
                    const char *fmt, va_list ap)
{
	const char *file = s != NULL ? config_setting_source_file(s) : NULL;
	unsigned line = s != NULL ? config_setting_source_line(s) : 0;
	char *msg = xvasprintf(fmt, ap);

	if (file == NULL)
		file = c->name;
	if (line == 0)
		line = 1;
	diag_add(c->diag, level, "%s:%u: %s", file, line, msg);
	free(msg);
	if (c->nlocs == c->caplocs) {
		struct loc *l;

		c->caplocs = c->caplocs ? c->caplocs * 2 : 16;
		l = realloc(c->locs, c->caplocs * sizeof(*l));
		if (l == NULL)
			oom();
		c->locs = l;
	}
	c->locs[c->nlocs].file = file;
	c->locs[c->nlocs].line = line;
	c->nlocs++;
}

static bool loc_before(const struct loc *a, const struct loc *b)
{
	int r = strcmp(a->file, b->file);

	return r != 0 ? r < 0 : a->line < b->line;
}

/* The walk goes group by group, not line by line: put what it found in file
 * order (stable, so messages about one line keep their order). */
static void sort_by_location(struct ctx *c)
{
	struct diag_msg *msgs;
	size_t i, j;

	/* Without a message the array may be NULL, and NULL + 0 is undefined. */
	if (c->nlocs < 2)
		return;
	msgs = c->diag->msgs + c->start;
	for (i = 1; i < c->nlocs; i++) {
		struct diag_msg m = msgs[i];
		struct loc l = c->locs[i];

		for (j = i; j > 0 && loc_before(&l, &c->locs[j - 1]); j--) {
			msgs[j] = msgs[j - 1];
			c->locs[j] = c->locs[j - 1];
		}
		msgs[j] = m;
		c->locs[j] = l;
	}
}

__attribute__((format(printf, 3, 4)))
static void error_at(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, DIAG_ERROR, s, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void warning_at(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, DIAG_WARNING, s, fmt, ap);
	va_end(ap);
}

/* ---- unknown keys -------------------------------------------------------- */

/* Edit distance, for "did you mean". Names longer than 63 bytes get none. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t prev[64], cur[64];

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

/* Report every member of group G (at PATH) whose name is not in KNOWN. */
static void check_keys(struct ctx *c, const config_setting_t *g, const char *path,
                       const char *const *known)
{
	int i, n = config_setting_length(g);

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *guess = NULL;
		size_t best = 3, k;
		bool found = false;

		for (k = 0; known[k] != NULL; k++) {
			size_t d;

			if (strcmp(name, known[k]) == 0) {
				found = true;
				break;
			}
			d = edit_distance(name, known[k]);
			if (d < best) {
				best = d;
				guess = known[k];
			}
		}
		if (found)
			continue;
		if (guess != NULL)
			error_at(c, m, "unknown setting %s%s%s (did you mean %s?)", path,
			         path[0] ? "." : "", name, guess);
		else
			error_at(c, m, "unknown setting %s%s%s", path, path[0] ? "." : "", name);
	}
}

/* ---- typed values -------------------------------------------------------
 *
 * The *_value functions check one setting S known by PATH. They return 1 and
 * store the value, or report and return -1. The read_* wrappers look up KEY in
 * group G first and return 0 (nothing stored) when it is absent. */

static const config_setting_t *member(const config_setting_t *g, const char *key)
{
	return g != NULL ? config_setting_get_member(g, key) : NULL;
}

static bool is_number(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static bool is_integer(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static double number_of(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		return config_setting_get_int(s);
	case CONFIG_TYPE_INT64:
		return (double)config_setting_get_int64(s);
	default:
		return config_setting_get_float(s);
	}
}

static long long integer_of(const config_setting_t *s)
{
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		return config_setting_get_int(s);
	return config_setting_get_int64(s);
}

/* A group (or NULL when absent or of the wrong type, which is reported). */
static const config_setting_t *read_group(struct ctx *c, const config_setting_t *g,
                                          const char *gpath, const char *key)
{
	const config_setting_t *s = member(g, key);

	if (s == NULL)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		error_at(c, s, "%s must be a group { ... } (got %s)",
		         path_key(gpath, key).s, typed_text(s).s);
		return NULL;
	}
	return s;
}

static int read_bool(struct ctx *c, const config_setting_t *g, const char *gpath,
                     const char *key, bool *out)
{
	const config_setting_t *s = member(g, key);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		error_at(c, s, "%s must be true or false (got %s)", path_key(gpath, key).s,
		         typed_text(s).s);
		return -1;
	}
	*out = config_setting_get_bool(s) != 0;
	return 1;
}

static int string_value(struct ctx *c, const config_setting_t *s, const char *path,
                        const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		error_at(c, s, "%s must be a string (got %s)", path, typed_text(s).s);
		return -1;
	}
	*out = config_setting_get_string(s);
	return 1;
}

static int read_string(struct ctx *c, const config_setting_t *g, const char *gpath,
                       const char *key, const char **out)
{
	const config_setting_t *s = member(g, key);

	if (s == NULL)
		return 0;
	return string_value(c, s, path_key(gpath, key).s, out);
}

/* A string that names one of CHOICES ("a", "b", NULL); stores its index. */
static int read_choice(struct ctx *c, const config_setting_t *g, const char *gpath,
                       const char *key, const char *const *choices, const char *expect,
                       int *out)
{
	const config_setting_t *s = member(g, key);
	int i;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *v = config_setting_get_string(s);

		for (i = 0; choices[i] != NULL; i++) {
			if (strcmp(v, choices[i]) == 0) {
				*out = i;
				return 1;
			}
		}
	}
	error_at(c, s, "%s must be %s (got %s)", path_key(gpath, key).s, expect, typed_text(s).s);
	return -1;
}

/* An integer in MIN..MAX. */
static int read_integer(struct ctx *c, const config_setting_t *g, const char *gpath,
                        const char *key, long long min, long long max, long long *out)
{
	const config_setting_t *s = member(g, key);
	long long v;

	if (s == NULL)
		return 0;
	if (!is_integer(s)) {
		error_at(c, s, "%s must be an integer (got %s)", path_key(gpath, key).s,
		         typed_text(s).s);
		return -1;
	}
	v = integer_of(s);
	if (v < min || v > max) {
		if (max == LLONG_MAX)
			error_at(c, s, "%s must be at least %lld (got %lld)", path_key(gpath, key).s,
			         min, v);
		else
			error_at(c, s, "%s must be between %lld and %lld (got %lld)",
			         path_key(gpath, key).s, min, max, v);
		return -1;
	}
	*out = v;
	return 1;
}

/* Longest accepted duration: 8760h. */
#define DURATION_MAX_MS (8760ull * 3600 * 1000)

static int duration_value(struct ctx *c, const config_setting_t *s, const char *path,
                          bool zero_ok, uint64_t *out)
{
	uint64_t ms = 0;
	bool ok;

	if (is_integer(s)) {
		long long v = integer_of(s);

		ok = v >= 0;
		ms = ok ? (uint64_t)v : 0;
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		ok = config_parse_duration(config_setting_get_string(s), &ms) == 0;
	} else {
		ok = false;
	}
	if (!ok) {
		error_at(c, s, "%s must be a duration like \"250ms\", \"1.5s\", \"2m\", \"1h\" "
		         "or a number of milliseconds (got %s)", path, typed_text(s).s);
		return -1;
	}
	if (ms == 0 && !zero_ok) {
		error_at(c, s, "%s must be greater than 0 (got %s)", path, value_text(s).s);
		return -1;
	}
	if (ms > DURATION_MAX_MS) {
		error_at(c, s, "%s must be at most 8760h (got %s)", path, value_text(s).s);
		return -1;
	}
	*out = ms;
	return 1;
}

static int read_duration(struct ctx *c, const config_setting_t *g, const char *gpath,
                         const char *key, bool zero_ok, uint64_t *out)
{
	const config_setting_t *s = member(g, key);

	if (s == NULL)
		return 0;
	return duration_value(c, s, path_key(gpath, key).s, zero_ok, out);
}

static int percent_value(struct ctx *c, const config_setting_t *s, const char *path,
                         uint32_t *out)
{
	double v;

	if (!is_number(s)) {
		error_at(c, s, "%s must be a percentage, a number from 0 to 100 (got %s)", path,
		         typed_text(s).s);
		return -1;
	}
	v = number_of(s);
	if (!(v >= 0.0 && v <= 100.0)) {
		error_at(c, s, "%s must be between 0 and 100 (got %s)", path, value_text(s).s);
		return -1;
	}
	if (config_percent_to_weight(v, out) < 0) {
		error_at(c, s, "%s must be a multiple of 0.01: percentages have 0.01 resolution "
		         "(got %s)", path, value_text(s).s);
		return -1;
	}
	return 1;
}

/* An address string into *A (A->text replaced). */
static int address_value(struct ctx *c, const config_setting_t *s, const char *path,
                         struct cfg_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *text, *why;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		error_at(c, s, "%s must be an address string \"host:port\" (got %s)", path,
		         typed_text(s).s);
		return -1;
	}
	text = config_setting_get_string(s);
	if (config_parse_address(text, &ss, &len, &why) < 0) {
		error_at(c, s, "%s is not a valid address: %s (got %s)", path, why,
		         quoted(text).s);
		return -1;
	}
	a->ss = ss;
	a->len = len;
	set_str(&a->text, text);
	a->line = (int)config_setting_source_line(s);
	return 1;
}

/* The elements of a list, an array, or a lone scalar treated as a list of one.
 * Returns the count; *ONE is set when S itself is the only element. */
static int elements(const config_setting_t *s, bool *one)
{
	int t = config_setting_type(s);

	*one = !(t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY);
	return *one ? 1 : config_setting_length(s);
}

static const config_setting_t *element(const config_setting_t *s, bool one, int i)
{
	return one ? s : config_setting_get_elem(s, (unsigned)i);
}

/* Check that FILE (named by setting S at PATH) can be opened for reading. */
static void check_readable(struct ctx *c, const config_setting_t *s, const char *path,
                           const char *what, const char *file)
{
	struct stat st;
	int fd, e = 0;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		e = errno;
	} else {
		if (fstat(fd, &st) < 0)
			e = errno;
		else if (S_ISDIR(st.st_mode))
			e = EISDIR;
		close(fd);
	}
	if (e != 0)
		error_at(c, s, "%s: cannot read %s %s: %s", path, what, file, strerror(e));
}

/* A non-empty path string that must be readable; stored into *OUT. */
static int read_file_path(struct ctx *c, const config_setting_t *g, const char *gpath,
                          const char *key, const char *what, char **out)
{
	const config_setting_t *s = member(g, key);
	struct path p = path_key(gpath, key);
	const char *v = NULL;

	if (s == NULL)
		return 0;
	if (string_value(c, s, p.s, &v) < 0 || v == NULL)
		return -1;
	if (v[0] == '\0') {
		error_at(c, s, "%s must not be empty (got \"\")", p.s);
		return -1;
	}
	check_readable(c, s, p.s, what, v);
	set_str(out, v);
	return 1;
}

/* ---- listen ---------------------------------------------------------------- */

static void parse_listen_tls(struct ctx *c, const config_setting_t *g, const char *gpath,
                             struct cfg_tls_listen *t)
{
	static const char *const keys[] = { "certificate", "key", "min_version", NULL };
	static const char *const versions[] = { "1.2", "1.3", NULL };
	size_t nerrors;
	bool readable;
	enum tls_fault fault;
	char msg[768];
	int v;

	check_keys(c, g, gpath, keys);
	nerrors = c->diag->nerrors;
	if (read_file_path(c, g, gpath, "certificate", "certificate", &t->certificate) == 0)
		error_at(c, g, "%s.certificate is required", gpath);
	if (read_file_path(c, g, gpath, "key", "key", &t->key) == 0)
		error_at(c, g, "%s.key is required", gpath);
	readable = c->diag->nerrors == nerrors;
	if (read_choice(c, g, gpath, "min_version", versions, "\"1.2\" or \"1.3\"", &v) > 0)
		t->min_version = v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
	/* Readable files: do they make a working pair? */
	if (readable && t->certificate && t->key && tls_check_listen(t, &fault, msg, sizeof(msg)) < 0) {
		const char *key = fault == TLS_FAULT_KEY ? "key" : "certificate";
		error_at(c, member(g, key), "%s: %s", path_key(gpath, key).s, msg);
	}
}

/* The names of listen[].protocols (their ALPN identifiers) and their bits. */
static const struct {
	const char *name;
	unsigned bit;
} listen_protocols[] = {
	{ "h2", CFG_PROTO_H2 },
	{ "http/1.1", CFG_PROTO_HTTP1 },
	{ "h2c", CFG_PROTO_H2C },
};

#define NLISTEN_PROTOCOLS (sizeof(listen_protocols) / sizeof(listen_protocols[0]))
#define LISTEN_PROTOCOLS_EXPECT "\"h2\", \"http/1.1\" or \"h2c\""

/* The listener's protocols setting S (NULL: absent) at LPATH.protocols into
 * L, whose tls is already known. */
static void parse_listen_protocols(struct ctx *c, const config_setting_t *s, const char *lpath,
                                   struct cfg_listener *l)
{
	struct path p = path_key(lpath, "protocols");
	int at[NLISTEN_PROTOCOLS];    /* where each name is listed, -1: not */
	unsigned bits = 0;
	bool one, ok = true;
	int i, n;

	if (s == NULL) {
		l->protocols = l->tls ? CFG_PROTO_H2 | CFG_PROTO_HTTP1 : CFG_PROTO_HTTP1;
		l->h2_first = l->tls;
		return;
	}
	if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
		error_at(c, s, "%s must be a list of " LISTEN_PROTOCOLS_EXPECT ", like ( \"h2\", "
		         "\"http/1.1\" ) (got a group)", p.s);
		return;
	}
	n = elements(s, &one);
	if (n == 0) {
		error_at(c, s, "%s must not be empty: list one or more of " LISTEN_PROTOCOLS_EXPECT
		         " (got an empty list)", p.s);
		return;
	}
	for (size_t k = 0; k < NLISTEN_PROTOCOLS; k++)
		at[k] = -1;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = element(s, one, i);
		struct path ep = one ? p : path_index(p.s, (unsigned)i);
		const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
		size_t k = 0;

		while (v != NULL && k < NLISTEN_PROTOCOLS && strcmp(v, listen_protocols[k].name) != 0)
			k++;
		if (v == NULL || k == NLISTEN_PROTOCOLS) {
			error_at(c, e, "%s must be " LISTEN_PROTOCOLS_EXPECT " (got %s)", ep.s, typed_text(e).s);
			ok = false;
		} else if (at[k] >= 0) {
			error_at(c, e, "%s duplicates %s[%d] (got %s)", ep.s, p.s, at[k], quoted(v).s);
			ok = false;
		} else if (listen_protocols[k].bit == CFG_PROTO_H2 && !l->tls) {
			error_at(c, e, "%s: \"h2\" needs tls (it is chosen by ALPN): add a tls group, or use "
			         "\"h2c\" for HTTP/2 in cleartext (got \"h2\")", ep.s);
			ok = false;
		} else if (listen_protocols[k].bit == CFG_PROTO_H2C && l->tls) {
			error_at(c, e, "%s: \"h2c\" is HTTP/2 in cleartext and this listener has tls; "
			         "use \"h2\" (got \"h2c\")", ep.s);
			ok = false;
		} else {
			at[k] = i;
			bits |= listen_protocols[k].bit;
		}
	}
	if (!ok)
		return;
	l->protocols = bits;
	/* listen_protocols[0] is "h2", [1] "http/1.1". */
	l->h2_first = at[0] >= 0 && (at[1] < 0 || at[0] < at[1]);
}

/* One listen entry: an address string or { address; tls; protocols; }.
 * Returns 1 when L was filled. */
static int parse_listener(struct ctx *c, const config_setting_t *s, const char *path,
                          struct cfg_listener *l)
{
	static const char *const keys[] = { "address", "tls", "protocols", NULL };
	const config_setting_t *a, *t;
	int ok;

	l->tls_conf.min_version = TLS1_2_VERSION;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		parse_listen_protocols(c, NULL, path, l);
		return address_value(c, s, path, &l->addr);
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		error_at(c, s, "%s must be an address string or a group { address; tls; } (got %s)",
		         path, typed_text(s).s);
		return -1;
	}
	check_keys(c, s, path, keys);
	a = member(s, "address");
	if (a == NULL) {
		error_at(c, s, "%s.address is required", path);
		ok = -1;
	} else {
		ok = address_value(c, a, path_key(path, "address").s, &l->addr);
	}
	t = read_group(c, s, path, "tls");
	if (t != NULL) {
		l->tls = true;
		parse_listen_tls(c, t, path_key(path, "tls").s, &l->tls_conf);
	}
	parse_listen_protocols(c, member(s, "protocols"), path, l);
	return ok;
}

static bool same_addr(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void parse_listen(struct ctx *c, const config_setting_t *root)
{
	const config_setting_t *s = member(root, "listen");
	struct weir_config *cfg = c->cfg;
	bool one;
	int i, j, n;

	if (s == NULL) {
		error_at(c, root, "listen is required: at least one address to accept "
		         "connections on (got nothing)");
		return;
	}
	n = elements(s, &one);
	if (n == 0) {
		error_at(c, s, "listen must not be empty (got an empty list)");
		return;
	}
	cfg->listeners = xcalloc((size_t)n, sizeof(*cfg->listeners));
	for (i = 0; i < n; i++) {
		const config_setting_t *e = element(s, one, i);
		struct path p = one ? path_key("", "listen") : path_index("listen", (unsigned)i);
		struct cfg_listener *l = &cfg->listeners[i];

		/* Every entry gets its slot, good or not: any error discards the whole
		 * configuration, and config_free releases what each slot holds. */
		cfg->nlisteners++;
		if (parse_listener(c, e, p.s, l) <= 0)
			continue;
		for (j = 0; j < (int)cfg->nlisteners - 1; j++) {
			if (cfg->listeners[j].addr.text != NULL &&
			    same_addr(&cfg->listeners[j].addr, &l->addr)) {
				error_at(c, e, "%s duplicates listen[%d] (line %d) (got %s)", p.s, j,
				         cfg->listeners[j].addr.line, quoted(l->addr.text).s);
				break;
			}
		}
		if (cfg->admin_http_set && same_addr(&cfg->admin_http, &l->addr))
			error_at(c, e, "%s is also the admin.http address; give admin.http another "
			         "address, or \"\" to disable it (got %s)", p.s, quoted(l->addr.text).s);
	}
}

/* ---- workers, admin ---------------------------------------------------- */

#define WORKERS_MAX 256

static void parse_workers(struct ctx *c, const config_setting_t *root)
{
	const config_setting_t *s = member(root, "workers");
	struct weir_config *cfg = c->cfg;
	long long v;

	if (s == NULL)
		return;
	if (config_setting_type(s) == CONFIG_TYPE_STRING &&
	    strcmp(config_setting_get_string(s), "auto") == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
		cfg->workers_auto = true;
		return;
	}
	if (!is_integer(s)) {
		error_at(c, s, "workers must be an integer from 1 to %d or \"auto\" (got %s)",
		         WORKERS_MAX, typed_text(s).s);
		return;
	}
	if (read_integer(c, root, "", "workers", 1, WORKERS_MAX, &v) > 0)
		cfg->workers = (unsigned)v;
}

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

static void parse_admin(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "http", "socket", NULL };
	const config_setting_t *g = read_group(c, root, "", "admin");
	struct weir_config *cfg = c->cfg;
	const char *v = NULL;

	if (g == NULL)
		return;
	check_keys(c, g, "admin", keys);
	if (read_string(c, g, "admin", "http", &v) > 0) {
		if (v[0] == '\0') {
			cfg->admin_http_set = false;
			set_str(&cfg->admin_http.text, "");
			memset(&cfg->admin_http.ss, 0, sizeof(cfg->admin_http.ss));
			cfg->admin_http.len = 0;
			cfg->admin_http.line = (int)config_setting_source_line(member(g, "http"));
		} else if (address_value(c, member(g, "http"), "admin.http",
		                         &cfg->admin_http) < 0) {
			/* Already an error; do not compare listeners with the default. */
			cfg->admin_http_set = false;
		}
	}
	if (read_string(c, g, "admin", "socket", &v) > 0) {
		size_t len = strlen(v);

		if (len > SUN_PATH_MAX)
			error_at(c, member(g, "socket"), "admin.socket is too long for a UNIX socket: "
			         "%zu bytes, at most %zu (got %s)", len, SUN_PATH_MAX, quoted(v).s);
		else
			set_str(&cfg->admin_socket, v);
	}
}

/* ---- pools ------------------------------------------------------------- */

static void parse_pool_tls(struct ctx *c, const config_setting_t *g, const char *gpath,
                           struct cfg_tls_upstream *t)
{
	static const char *const keys[] = { "ca", "server_name", "verify", NULL };
	const char *v = NULL;
	size_t nerrors;
	enum tls_fault fault;
	char msg[768];

	t->enabled = true;
	check_keys(c, g, gpath, keys);
	nerrors = c->diag->nerrors;
	read_file_path(c, g, gpath, "ca", "CA file", &t->ca);
	/* A readable CA file: does it hold certificates? */
	if (c->diag->nerrors == nerrors && t->ca && tls_check_upstream(t, &fault, msg, sizeof(msg)) < 0)
		error_at(c, member(g, "ca"), "%s: %s", path_key(gpath, "ca").s, msg);
	if (read_string(c, g, gpath, "server_name", &v) > 0) {
		const char *p;
		bool ok = v[0] != '\0';

		for (p = v; *p != '\0'; p++)
			if (!isgraph((unsigned char)*p))
				ok = false;
		if (ok)
			set_str(&t->server_name, v);
		else
			error_at(c, member(g, "server_name"), "%s.server_name must be a host name "
			         "without spaces (got %s)", gpath, quoted(v).s);
	}
	read_bool(c, g, gpath, "verify", &t->verify);
}

/* check.expect: "2xx", "200, 204", or a list of such items and statuses. */
static void parse_check_expect(struct ctx *c, const config_setting_t *s, const char *path,
                               uint64_t bits[CHECK_STATUS_WORDS])
{
	uint64_t got[CHECK_STATUS_WORDS];
	bool one;
	int i, n;
	char msg[160];

	memset(got, 0, sizeof(got));
	if (config_setting_type(s) == CONFIG_TYPE_GROUP || (n = elements(s, &one)) == 0) {
		error_at(c, s, "%s must be a status class like \"2xx\", a list like \"200, 204\" "
		         "or ( 200, 204 ) (got %s)", path, typed_text(s).s);
		return;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *el = element(s, one, i);
		struct path ep = path_index(path, (unsigned)i);
		const char *where = one ? path : ep.s;
		char num[16];
		const char *text = NULL;

		if (is_integer(el)) {
			snprintf(num, sizeof(num), "%lld", integer_of(el));
			text = num;
		} else if (config_setting_type(el) == CONFIG_TYPE_STRING) {
			text = config_setting_get_string(el);
		}
		if (text == NULL) {
			error_at(c, el, "%s must be a status class like \"2xx\" or a status from 100 "
			         "to 599 (got %s)", where, typed_text(el).s);
			return;
		}
		if (check_expect_parse(text, got, msg, sizeof(msg)) < 0) {
			error_at(c, el, "%s: %s (got %s)", where, msg, typed_text(el).s);
			return;
		}
	}
	memcpy(bits, got, sizeof(got));
}

/* A pool's check group. Defaults as HAProxy's: every 2 s, 1 s to answer
 * (at most the interval), up after 2 passes, down after 3 failures, any 2xx. */
static void parse_pool_check(struct ctx *c, const config_setting_t *g, const char *gpath,
                             struct cfg_check *ck)
{
	static const char *const keys[] = { "path", "interval", "timeout", "rise", "fall",
	                                    "expect", NULL };
	const char *v = NULL;
	long long n;
	int interval_set, timeout_set;

	ck->enabled = true;
	ck->interval_ms = 2000;
	ck->rise = 2;
	ck->fall = 3;
	memset(ck->expect_bits, 0, sizeof(ck->expect_bits));
	(void)check_expect_parse("2xx", ck->expect_bits, NULL, 0);
	check_keys(c, g, gpath, keys);
	if (member(g, "path") == NULL) {
		error_at(c, g, "%s.path is required: the request target to check, like "
		         "\"/healthz\" (got nothing)", gpath);
	} else if (read_string(c, g, gpath, "path", &v) > 0) {
		bool ok = v[0] == '/' && strlen(v) <= CHECK_PATH_MAX;

		for (const char *p = v; *p != '\0'; p++)
			if (!isgraph((unsigned char)*p))
				ok = false;
		if (ok)
			set_str(&ck->path, v);
		else
			error_at(c, member(g, "path"), "%s.path must start with '/' and hold no "
			         "spaces or control characters, at most %d bytes (got %s)", gpath,
			         CHECK_PATH_MAX, quoted(v).s);
	}
	interval_set = read_duration(c, g, gpath, "interval", false, &ck->interval_ms);
	if (interval_set > 0 && ck->interval_ms < CHECK_INTERVAL_MIN_MS)
		error_at(c, member(g, "interval"), "%s.interval must be at least %dms: every server is "
		         "checked that often (got %s)", gpath, CHECK_INTERVAL_MIN_MS,
		         value_text(member(g, "interval")).s);
	timeout_set = read_duration(c, g, gpath, "timeout", false, &ck->timeout_ms);
	if (timeout_set <= 0)
		ck->timeout_ms = ck->interval_ms < 1000 ? ck->interval_ms : 1000;
	else if (interval_set >= 0 && ck->timeout_ms > ck->interval_ms)
		error_at(c, member(g, "timeout"), "%s.timeout must not exceed %s.interval (%s): one "
		         "check at a time per server (got %s)", gpath, gpath,
		         duration_text(ck->interval_ms).s, value_text(member(g, "timeout")).s);
	if (read_integer(c, g, gpath, "rise", 1, 100, &n) > 0)
		ck->rise = (uint32_t)n;
	if (read_integer(c, g, gpath, "fall", 1, 100, &n) > 0)
		ck->fall = (uint32_t)n;
	if (member(g, "expect") != NULL)
		parse_check_expect(c, member(g, "expect"), path_key(gpath, "expect").s,
		                   ck->expect_bits);
}

static void parse_pool_protocol(struct ctx *c, const config_setting_t *g, const char *gpath,
                                struct cfg_pool *pool)
{
	static const char *const protocols[] = { "http/1.1", "h2", NULL };
	int v;

	if (read_choice(c, g, gpath, "protocol", protocols, "\"http/1.1\" or \"h2\"", &v) <= 0)
		return;
	pool->protocol = v == 0 ? POOL_PROTO_HTTP1 : POOL_PROTO_H2;
}

static void parse_pool(struct ctx *c, const config_setting_t *pools, const char *name,
                       struct cfg_pool *pool)
{
	static const char *const keys[] = { "servers", "protocol", "tls", "check", NULL };
	struct path gp = path_key("pools", name);
	const config_setting_t *g, *s, *t;
	bool one;
	int i, n;

	if (member(pools, name) == NULL) {
		error_at(c, pools, "%s is required: pools.baseline and pools.canary must both "
		         "be defined (got nothing)", gp.s);
		return;
	}
	g = read_group(c, pools, "pools", name);
	if (g == NULL)
		return;
	check_keys(c, g, gp.s, keys);
	s = member(g, "servers");
	if (s == NULL) {
		error_at(c, g, "%s.servers is required (got nothing)", gp.s);
	} else if ((n = elements(s, &one)) == 0) {
		error_at(c, s, "%s.servers must not be empty (got an empty list)", gp.s);
	} else {
		struct path sp = path_key(gp.s, "servers");

		pool->servers = xcalloc((size_t)n, sizeof(*pool->servers));
		for (i = 0; i < n; i++) {
			struct path ep = one ? sp : path_index(sp.s, (unsigned)i);

			pool->nservers++;
			address_value(c, element(s, one, i), ep.s, &pool->servers[i]);
		}
	}
	parse_pool_protocol(c, g, gp.s, pool);
	t = read_group(c, g, gp.s, "tls");
	if (t != NULL)
		parse_pool_tls(c, t, path_key(gp.s, "tls").s, &pool->tls);
	/* On an "h2" pool the checks speak HTTP/2 too (health.c, h2check.c). */
	t = read_group(c, g, gp.s, "check");
	if (t != NULL)
		parse_pool_check(c, t, path_key(gp.s, "check").s, &pool->check);
}

static void parse_pools(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "baseline", "canary", "balance", NULL };
	static const char *const balances[] = { "round_robin", "least_conn", NULL };
	const config_setting_t *g;
	int v;

	if (member(root, "pools") == NULL) {
		error_at(c, root, "pools is required: pools.baseline and pools.canary must both "
		         "be defined (got nothing)");
		return;
	}
	g = read_group(c, root, "", "pools");
	if (g == NULL)
		return;
	check_keys(c, g, "pools", keys);
	parse_pool(c, g, "baseline", &c->cfg->pools[POOL_BASELINE]);
	parse_pool(c, g, "canary", &c->cfg->pools[POOL_CANARY]);
	if (read_choice(c, g, "pools", "balance", balances,
	                "\"round_robin\" or \"least_conn\"", &v) > 0)
		c->cfg->balance = v == 0 ? BALANCE_ROUND_ROBIN : BALANCE_LEAST_CONN;
}

/* ---- split ------------------------------------------------------------- */

/* RFC 9110 token: what a header field name (or a cookie name) may contain. */
static bool is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (!isalnum(ch) && strchr("!#$%&'*+-.^_`|~", ch) == NULL)
			return false;
	}
	return true;
}

/* An optional token-valued string: "" or absent leaves *OUT NULL. */
static void read_token(struct ctx *c, const config_setting_t *g, const char *key,
                       const char *what, char **out)
{
	const char *v = NULL;

	if (read_string(c, g, "split", key, &v) <= 0 || v[0] == '\0')
		return;
	if (!is_token(v)) {
		error_at(c, member(g, key), "split.%s must be a valid %s name: letters, digits "
		         "and !#$%%&'*+-.^_`|~ (got %s)", key, what, quoted(v).s);
		return;
	}
	set_str(out, v);
}

static void parse_split(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "canary_weight", "sticky_header", "sticky_cookie",
	                                    "override_header", "expose_pool", NULL };
	const config_setting_t *g = read_group(c, root, "", "split");
	struct cfg_split *sp = &c->cfg->split;
	const config_setting_t *s;

	if (g == NULL)
		return;
	check_keys(c, g, "split", keys);
	s = member(g, "canary_weight");
	if (s != NULL)
		percent_value(c, s, "split.canary_weight", &sp->canary_weight);
	read_token(c, g, "sticky_header", "header", &sp->sticky_header);
	read_token(c, g, "sticky_cookie", "cookie", &sp->sticky_cookie);
	read_token(c, g, "override_header", "header", &sp->override_header);
	read_bool(c, g, "split", "expose_pool", &sp->expose_pool);
}

/* ---- errors ------------------------------------------------------------ */

static void status_set(struct cfg_errors *e, unsigned lo, unsigned hi)
{
	unsigned st;

	for (st = lo; st <= hi; st++)
		e->status_bits[st / 64] |= (uint64_t)1 << (st % 64);
}

/* One statuses item: 100..599, "4xx", "5xx" or "100".."599". */
static void status_item(struct ctx *c, const config_setting_t *s, const char *path,
                        struct cfg_errors *e)
{
	long long v = -1;

	if (is_integer(s)) {
		v = integer_of(s);
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *t = config_setting_get_string(s);

		if (strcmp(t, "5xx") == 0 || strcmp(t, "4xx") == 0) {
			unsigned lo = (unsigned)(t[0] - '0') * 100;

			status_set(e, lo, lo + 99);
			return;
		}
		if (strlen(t) == 3 && isdigit((unsigned char)t[0]) &&
		    isdigit((unsigned char)t[1]) && isdigit((unsigned char)t[2]))
			v = strtol(t, NULL, 10);
	}
	if (v >= 100 && v <= 599) {
		status_set(e, (unsigned)v, (unsigned)v);
		return;
	}
	if (is_integer(s))
		error_at(c, s, "%s must be an HTTP status between 100 and 599 (got %lld)", path, v);
	else
		error_at(c, s, "%s must be \"5xx\", \"4xx\" or an HTTP status from 100 to 599 "
		         "(got %s)", path, typed_text(s).s);
}

/* errors.grpc: one string of gRPC status names or numbers (grpc.h). */
static void parse_errors_grpc(struct ctx *c, const config_setting_t *g)
{
	const config_setting_t *s = member(g, "grpc");
	char msg[256];
	grpc_status_set set;
	const char *v, *p;

	if (s == NULL)
		return;
	v = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
	/* Control characters would end up in the message (blanks are tabs or spaces). */
	for (p = v; p != NULL && *p != '\0'; p++)
		if (iscntrl((unsigned char)*p) && *p != '\t')
			v = NULL;
	if (v == NULL) {
		error_at(c, s, "errors.grpc must be a string of gRPC status names or numbers separated "
		         "by commas, like \"UNAVAILABLE, INTERNAL\" (got %s)", typed_text(s).s);
		return;
	}
	if (grpc_status_set_parse(v, &set, msg, sizeof(msg)) < 0) {
		error_at(c, s, "errors.grpc: %s (got %s)", msg, quoted(v).s);
		return;
	}
	c->cfg->errors.grpc = set;
}

static void parse_errors(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "statuses", "abandoned", "grpc", NULL };
	const config_setting_t *g = read_group(c, root, "", "errors");
	const config_setting_t *s;
	struct cfg_errors e;
	bool one;
	int i, n;

	if (g == NULL)
		return;
	check_keys(c, g, "errors", keys);
	read_bool(c, g, "errors", "abandoned", &c->cfg->errors.abandoned);
	parse_errors_grpc(c, g);
	s = member(g, "statuses");
	if (s == NULL)
		return;
	if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
		error_at(c, s, "errors.statuses must be \"5xx\", \"4xx\" or a list of statuses "
		         "(got %s)", typed_text(s).s);
		return;
	}
	memset(&e, 0, sizeof(e));
	n = elements(s, &one);
	for (i = 0; i < n; i++) {
		const config_setting_t *el = element(s, one, i);

		if (config_setting_is_aggregate(el))
			error_at(c, el, "errors.statuses[%d] must be \"5xx\", \"4xx\" or an HTTP "
			         "status (got %s)", i, typed_text(el).s);
		else
			status_item(c, el, one ? "errors.statuses"
			            : path_index("errors.statuses", (unsigned)i).s, &e);
	}
	memcpy(c->cfg->errors.status_bits, e.status_bits, sizeof(e.status_bits));
}

/* ---- timeouts, limits ---------------------------------------------------- */

static void parse_timeouts(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "connect", "request_header", "backend", "idle",
	                                    "drain", NULL };
	const config_setting_t *g = read_group(c, root, "", "timeouts");
	struct cfg_timeouts *t = &c->cfg->timeouts;

	if (g == NULL)
		return;
	check_keys(c, g, "timeouts", keys);
	read_duration(c, g, "timeouts", "connect", false, &t->connect_ms);
	read_duration(c, g, "timeouts", "request_header", false, &t->request_header_ms);
	read_duration(c, g, "timeouts", "backend", false, &t->backend_ms);
	read_duration(c, g, "timeouts", "idle", false, &t->idle_ms);
	read_duration(c, g, "timeouts", "drain", true, &t->drain_ms);
}

static void parse_limits(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "max_connections", "max_header_bytes", "h2_max_streams", NULL };
	const config_setting_t *g = read_group(c, root, "", "limits");
	struct cfg_limits *l = &c->cfg->limits;
	long long v;

	if (g == NULL)
		return;
	check_keys(c, g, "limits", keys);
	if (read_integer(c, g, "limits", "max_connections", 1, 1000000, &v) > 0)
		l->max_connections = (uint32_t)v;
	if (read_integer(c, g, "limits", "max_header_bytes", 1024, 1048576, &v) > 0)
		l->max_header_bytes = (uint32_t)v;
	if (read_integer(c, g, "limits", "h2_max_streams", 1, 10000, &v) > 0)
		l->h2_max_streams = (uint32_t)v;
}

/* ---- guard thresholds (shared with rollout steps) ------------------------ */

struct threshold_def {
	const char *name;
	size_t offset;                /* in struct cfg_thresholds */
	double max;                   /* inclusive; INFINITY: none */
	bool zero_ok;                 /* 0 allowed (rates), else > 0 */
};

static const struct threshold_def threshold_defs[] = {
	{ "max_error_rate", offsetof(struct cfg_thresholds, max_error_rate), 1.0, true },
	{ "max_p50_ms", offsetof(struct cfg_thresholds, max_p50_ms), INFINITY, false },
	{ "max_p99_ms", offsetof(struct cfg_thresholds, max_p99_ms), INFINITY, false },
	{ "max_p999_ms", offsetof(struct cfg_thresholds, max_p999_ms), INFINITY, false },
	{ "max_error_rate_increase", offsetof(struct cfg_thresholds, max_error_rate_increase),
	  1.0, true },
	{ "max_p99_ratio", offsetof(struct cfg_thresholds, max_p99_ratio), INFINITY, false },
};

#define NTHRESHOLDS (sizeof(threshold_defs) / sizeof(threshold_defs[0]))

/* Replace in T the thresholds that group G (at GPATH) names. */
static void parse_thresholds(struct ctx *c, const config_setting_t *g, const char *gpath,
                             struct cfg_thresholds *t)
{
	size_t i;

	for (i = 0; i < NTHRESHOLDS; i++) {
		const struct threshold_def *d = &threshold_defs[i];
		const config_setting_t *s = member(g, d->name);
		struct path p = path_key(gpath, d->name);
		double *field = (double *)(void *)((char *)t + d->offset);
		double v;

		if (s == NULL)
			continue;
		if (config_setting_type(s) == CONFIG_TYPE_STRING &&
		    strcmp(config_setting_get_string(s), "off") == 0) {
			*field = NAN;
			continue;
		}
		if (!is_number(s)) {
			error_at(c, s, "%s must be a number or \"off\" (got %s)", p.s, typed_text(s).s);
			continue;
		}
		v = number_of(s);
		if (!isfinite(v) || v < 0.0 || (v == 0.0 && !d->zero_ok) || v > d->max) {
			if (d->max <= 1.0)
				error_at(c, s, "%s must be between 0 and %s (got %s)", p.s,
				         number_text(d->max).s, value_text(s).s);
			else
				error_at(c, s, "%s must be greater than 0 (got %s)", p.s,
				         value_text(s).s);
			continue;
		}
		*field = v;
	}
}

/* ---- guard --------------------------------------------------------------- */

/* The product promises that a breach changes the weights within this long. */
#define GUARD_REACTION_MS 30000u

static void parse_guard(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = {
		"enabled", "interval", "window", "min_requests", "for", "max_error_rate",
		"max_p50_ms", "max_p99_ms", "max_p999_ms", "max_error_rate_increase",
		"max_p99_ratio", "action", "method", "alpha", NULL
	};
	static const char *const actions[] = { "rollback", "alert", NULL };
	static const char *const methods[] = { "sequential", "window", NULL };
	static const char *const window_only[] = { "interval", "window", "min_requests", "for", NULL };
	const config_setting_t *g = read_group(c, root, "", "guard");
	struct cfg_guard *gd = &c->cfg->guard;
	int interval_ok, window_ok, for_ok, v;
	long long n;

	if (g == NULL)
		return;
	check_keys(c, g, "guard", keys);
	read_bool(c, g, "guard", "enabled", &gd->enabled);
	interval_ok = read_duration(c, g, "guard", "interval", false, &gd->interval_ms);
	window_ok = read_duration(c, g, "guard", "window", false, &gd->window_ms);
	if (read_integer(c, g, "guard", "min_requests", 0, LLONG_MAX, &n) > 0)
		gd->min_requests = (uint64_t)n;
	for_ok = read_duration(c, g, "guard", "for", true, &gd->for_ms);
	parse_thresholds(c, g, "guard", &gd->thresholds);
	if (read_choice(c, g, "guard", "action", actions, "\"rollback\" or \"alert\"", &v) > 0)
		gd->action = v == 0 ? GUARD_ACTION_ROLLBACK : GUARD_ACTION_ALERT;
	if (read_choice(c, g, "guard", "method", methods, "\"sequential\" or \"window\"", &v) > 0)
		gd->method = v == 0 ? GUARD_METHOD_SEQUENTIAL : GUARD_METHOD_WINDOW;
	const config_setting_t *as = member(g, "alpha");
	if (as != NULL) {
		if (!is_number(as))
			error_at(c, as, "guard.alpha must be a number (got %s)", typed_text(as).s);
		else if (!(number_of(as) > 0.0 && number_of(as) < 0.5))
			error_at(c, as, "guard.alpha must be greater than 0 and less than 0.5 (got %s)",
			         value_text(as).s);
		else
			gd->alpha = number_of(as);
	}
	if (gd->method == GUARD_METHOD_SEQUENTIAL)
		for (size_t i = 0; window_only[i] != NULL; i++)
			if (member(g, window_only[i]) != NULL)
				warning_at(c, member(g, window_only[i]),
				           "guard.%s is unused under guard.method \"sequential\" "
				           "(it applies to \"window\" only)", window_only[i]);

	/* Cross-checks, only between values that were valid themselves. */
	if (window_ok >= 0 && interval_ok >= 0) {
		const config_setting_t *at = member(g, "window") ? member(g, "window") : g;

		if (gd->window_ms < 1000)
			error_at(c, at, "guard.window must be at least 1s (got %s)",
			         duration_text(gd->window_ms).s);
		else if (gd->window_ms < gd->interval_ms)
			error_at(c, at, "guard.window must not be shorter than guard.interval (%s) "
			         "(got %s)", duration_text(gd->interval_ms).s,
			         duration_text(gd->window_ms).s);
	}
	if (gd->method == GUARD_METHOD_WINDOW && interval_ok >= 0 && for_ok >= 0 &&
	    gd->interval_ms + gd->for_ms > GUARD_REACTION_MS)
		warning_at(c, g, "guard.interval + guard.for = %s exceeds 30s: a breach may take "
		           "longer than 30 seconds to change the weights",
		           duration_text(gd->interval_ms + gd->for_ms).s);
}

/* ---- rollout ------------------------------------------------------------- */

/* One step, a number or { weight; hold; thresholds... }. Returns 1 when
 * ST was filled. */
static int parse_step(struct ctx *c, const config_setting_t *s, const char *path,
                      struct cfg_rollout_step *st)
{
	static const char *const keys[] = {
		"weight", "hold", "max_error_rate", "max_p50_ms", "max_p99_ms", "max_p999_ms",
		"max_error_rate_increase", "max_p99_ratio", NULL
	};
	const config_setting_t *w;
	int ok = 1;

	st->hold_ms = c->cfg->rollout.hold_ms;
	st->thresholds = c->cfg->guard.thresholds;
	if (is_number(s)) {
		w = s;
	} else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
		check_keys(c, s, path, keys);
		w = member(s, "weight");
		if (w == NULL) {
			error_at(c, s, "%s.weight is required (got nothing)", path);
			ok = -1;
		}
		if (read_duration(c, s, path, "hold", true, &st->hold_ms) < 0)
			ok = -1;
		parse_thresholds(c, s, path, &st->thresholds);
	} else {
		error_at(c, s, "%s must be a percentage or a group { weight; hold; ... } (got %s)",
		         path, typed_text(s).s);
		return -1;
	}
	if (w != NULL) {
		struct path wp = w == s ? path_key("", path) : path_key(path, "weight");

		if (percent_value(c, w, wp.s, &st->weight) < 0) {
			ok = -1;
		} else if (st->weight == 0) {
			error_at(c, w, "%s must be greater than 0 (got %s)", wp.s, value_text(w).s);
			ok = -1;
		}
	}
	return w != NULL && ok > 0 ? 1 : -1;
}

static void parse_rollout(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "steps", "hold", "auto", NULL };
	const config_setting_t *g = read_group(c, root, "", "rollout");
	struct cfg_rollout *r = &c->cfg->rollout;
	const config_setting_t *s;
	uint32_t prev = 0;
	int i, n;

	if (g == NULL)
		return;
	r->present = true;
	check_keys(c, g, "rollout", keys);
	read_duration(c, g, "rollout", "hold", true, &r->hold_ms);
	read_bool(c, g, "rollout", "auto", &r->auto_advance);
	s = member(g, "steps");
	if (s == NULL) {
		error_at(c, g, "rollout.steps is required: the canary weights of the rollout "
		         "(got nothing)");
		return;
	}
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    config_setting_type(s) != CONFIG_TYPE_ARRAY) {
		error_at(c, s, "rollout.steps must be a list of percentages or of groups "
		         "(got %s)", typed_text(s).s);
		return;
	}
	n = config_setting_length(s);
	if (n == 0) {
		error_at(c, s, "rollout.steps must not be empty (got an empty list)");
		return;
	}
	r->steps = xcalloc((size_t)n, sizeof(*r->steps));
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct path p = path_index("rollout.steps", (unsigned)i);
		struct cfg_rollout_step *st = &r->steps[r->nsteps];

		if (parse_step(c, e, p.s, st) <= 0)
			continue;
		if (st->weight <= prev) {
			error_at(c, e, "%s must be greater than the step before it (%s) "
			         "(got %s)", p.s, number_text(prev / 100.0).s,
			         number_text(st->weight / 100.0).s);
			continue;
		}
		prev = st->weight;
		r->nsteps++;
	}
}

/* ---- cluster ------------------------------------------------------------- */

/* etcd's leases are whole seconds; below 2s etcd would raise it anyway (its
 * minimum follows the election timeout), above 5 minutes a dead member would
 * stay in the fleet for too long to mean anything. */
#define CLUSTER_TTL_MIN_MS 2000u
#define CLUSTER_TTL_MAX_MS 300000u

/* A fleet name or node: it becomes one segment of an etcd key, so letters,
 * digits, '.', '_' and '-', 1 to CLUSTER_NAME_MAX bytes, not "." or "..". */
static bool is_key_segment(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CLUSTER_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* One endpoint "http://host:port" (an optional final "/") into *A, whose
 * text becomes "host:port". */
static void cluster_endpoint(struct ctx *c, const config_setting_t *s, const char *path, struct cfg_addr *a)
{
	static const char scheme[] = "http://";
	char hostport[128];
	const char *text, *rest, *why;
	size_t n;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		error_at(c, s, "%s must be an endpoint string \"http://host:port\" (got %s)", path, typed_text(s).s);
		return;
	}
	text = config_setting_get_string(s);
	if (strncasecmp(text, "https://", 8) == 0) {
		error_at(c, s, "%s: https endpoints are not supported yet; reach etcd over http:// on a "
		         "trusted network (got %s)", path, quoted(text).s);
		return;
	}
	if (strncasecmp(text, scheme, sizeof(scheme) - 1) != 0) {
		error_at(c, s, "%s must be an endpoint \"http://host:port\" (got %s)", path, quoted(text).s);
		return;
	}
	rest = text + sizeof(scheme) - 1;
	n = strlen(rest);
	if (n > 0 && rest[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(hostport) || memchr(rest, '/', n) || memchr(rest, '@', n)) {
		error_at(c, s, "%s must be an endpoint \"http://host:port\" without a path or user "
		         "(got %s)", path, quoted(text).s);
		return;
	}
	memcpy(hostport, rest, n);
	hostport[n] = '\0';
	if (config_parse_address(hostport, &a->ss, &a->len, &why) < 0) {
		error_at(c, s, "%s is not a valid endpoint: %s (got %s)", path, why, quoted(text).s);
		return;
	}
	set_str(&a->text, hostport);
	a->line = (int)config_setting_source_line(s);
}

static void parse_cluster_etcd(struct ctx *c, const config_setting_t *g)
{
	const config_setting_t *s = member(g, "etcd");
	struct cfg_cluster *cl = &c->cfg->cluster;
	bool one;
	int n;

	if (s == NULL) {
		error_at(c, g, "cluster.etcd is required: the etcd endpoints, e.g. "
		         "( \"http://127.0.0.1:2379\" ) (got nothing)");
		return;
	}
	n = elements(s, &one);
	if (n == 0 || n > CLUSTER_MAX_ENDPOINTS) {
		error_at(c, s, "cluster.etcd must list 1 to %d endpoints (got %d)", CLUSTER_MAX_ENDPOINTS, n);
		return;
	}
	cl->etcd = xcalloc((size_t)n, sizeof(*cl->etcd));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = element(s, one, i);
		struct path p = one ? path_key("", "cluster.etcd") : path_index("cluster.etcd", (unsigned)i);
		struct cfg_addr *a = &cl->etcd[cl->netcd++];

		cluster_endpoint(c, e, p.s, a);
		for (size_t j = 0; a->text && j + 1 < cl->netcd; j++) {
			if (cl->etcd[j].text && same_addr(&cl->etcd[j], a)) {
				error_at(c, e, "%s duplicates cluster.etcd[%zu] (got %s)", p.s, j, quoted(a->text).s);
				break;
			}
		}
	}
}

/* NAME (cluster.name or .node) into *OUT when it is a valid key segment. */
static void read_cluster_segment(struct ctx *c, const config_setting_t *g, const char *key, char **out)
{
	const char *v = NULL;

	if (read_string(c, g, "cluster", key, &v) <= 0)
		return;
	if (!is_key_segment(v)) {
		error_at(c, member(g, key), "cluster.%s must be 1 to %d letters, digits, '.', '_' or '-' "
		         "(it names etcd keys) (got %s)", key, CLUSTER_NAME_MAX, quoted(v).s);
		return;
	}
	set_str(out, v);
}

static void parse_cluster(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = { "etcd", "name", "node", "ttl", NULL };
	const config_setting_t *g = read_group(c, root, "", "cluster");
	struct cfg_cluster *cl = &c->cfg->cluster;
	uint64_t ttl;

	if (g == NULL)
		return;
	cl->present = true;
	cl->line = (int)config_setting_source_line(g);
	check_keys(c, g, "cluster", keys);
	parse_cluster_etcd(c, g);
	if (member(g, "name") == NULL)
		error_at(c, g, "cluster.name is required: instances with the same name share one canary "
		         "(got nothing)");
	read_cluster_segment(c, g, "name", &cl->name);
	read_cluster_segment(c, g, "node", &cl->node);
	if (read_duration(c, g, "cluster", "ttl", false, &ttl) > 0) {
		if (ttl % 1000 != 0 || ttl < CLUSTER_TTL_MIN_MS || ttl > CLUSTER_TTL_MAX_MS)
			error_at(c, member(g, "ttl"), "cluster.ttl must be whole seconds from %us to %us "
			         "(etcd leases are in seconds) (got %s)", CLUSTER_TTL_MIN_MS / 1000,
			         CLUSTER_TTL_MAX_MS / 1000, value_text(member(g, "ttl")).s);
		else
			cl->ttl_ms = ttl;
	}
	if (cl->node == NULL && member(g, "node") == NULL) {
		/* The host name is what an operator would pick; said in weir.conf(5). */
		char host[256] = "";

		if (gethostname(host, sizeof(host) - 1) < 0 || !is_key_segment(host))
			error_at(c, g, "cluster.node is required here: the host name %s cannot name an etcd "
			         "key (got nothing)", quoted(host).s);
		else
			set_str(&cl->node, host);
	}
}

/* ---- files --------------------------------------------------------------- */

static void parse_files(struct ctx *c, const config_setting_t *root)
{
	static const char *const names[] = { "state_file", "event_log", "access_log" };
	struct weir_config *cfg = c->cfg;
	char **fields[] = { &cfg->state_file, &cfg->event_log, &cfg->access_log };
	size_t i, j;
	const char *v = NULL;

	for (i = 0; i < 3; i++)
		if (read_string(c, root, "", names[i], &v) > 0)
			set_str(fields[i], v);
	for (i = 0; i < 3; i++) {
		for (j = 0; j < i; j++) {
			if ((*fields[i])[0] != '\0' && strcmp(*fields[i], *fields[j]) == 0) {
				error_at(c, member(root, names[i]) ? member(root, names[i]) : root,
				         "%s must not be the same file as %s (got %s)", names[i],
				         names[j], quoted(*fields[i]).s);
				break;
			}
		}
	}
}

/* ---- the whole file ------------------------------------------------------- */

static void config_set_defaults(struct weir_config *cfg)
{
	const char *why;

	cfg->workers = 1;
	cfg->admin_http_set = true;
	cfg->admin_http.text = xstrdup("127.0.0.1:9090");
	(void)config_parse_address(cfg->admin_http.text, &cfg->admin_http.ss,
	                           &cfg->admin_http.len, &why);
	cfg->admin_socket = xstrdup(WEIR_DEFAULT_SOCKET);
	cfg->balance = BALANCE_ROUND_ROBIN;
	status_set(&cfg->errors, 500, 599);
	cfg->errors.abandoned = true;
	if (grpc_status_set_parse(GRPC_DEFAULT_ERRORS, &cfg->errors.grpc, NULL, 0) < 0)
		abort(); /* a constant of grpc.h that grpc.c refuses: a bug */
	cfg->timeouts.connect_ms = 2000;
	cfg->timeouts.request_header_ms = 10000;
	cfg->timeouts.backend_ms = 30000;
	cfg->timeouts.idle_ms = 60000;
	cfg->timeouts.drain_ms = 10000;
	cfg->limits.max_connections = 10000;
	cfg->limits.max_header_bytes = 65536;
	cfg->limits.h2_max_streams = 100;
	cfg->guard.enabled = true;
	cfg->guard.method = GUARD_METHOD_SEQUENTIAL;
	cfg->guard.alpha = 0.001;
	cfg->guard.interval_ms = 1000;
	cfg->guard.window_ms = 30000;
	cfg->guard.min_requests = 100;
	cfg->guard.for_ms = 5000;
	cfg->guard.thresholds.max_error_rate = 0.02;
	cfg->guard.thresholds.max_p50_ms = NAN;
	cfg->guard.thresholds.max_p99_ms = NAN;
	cfg->guard.thresholds.max_p999_ms = NAN;
	cfg->guard.thresholds.max_error_rate_increase = 0.01;
	cfg->guard.thresholds.max_p99_ratio = 1.5;
	cfg->guard.action = GUARD_ACTION_ROLLBACK;
	cfg->rollout.hold_ms = 600000;
	cfg->rollout.auto_advance = true;
	cfg->cluster.ttl_ms = 5000;
	cfg->pools[POOL_BASELINE].tls.verify = true;
	cfg->pools[POOL_CANARY].tls.verify = true;
	cfg->pools[POOL_BASELINE].protocol = POOL_PROTO_HTTP1;
	cfg->pools[POOL_CANARY].protocol = POOL_PROTO_HTTP1;
	cfg->state_file = xstrdup(WEIR_DEFAULT_STATE_FILE);
	cfg->event_log = xstrdup(WEIR_DEFAULT_EVENT_LOG);
	cfg->access_log = xstrdup("");
}

static void parse_root(struct ctx *c, const config_setting_t *root)
{
	static const char *const keys[] = {
		"listen", "workers", "admin", "pools", "split", "errors", "timeouts", "limits",
		"guard", "rollout", "cluster", "state_file", "event_log", "access_log", NULL
	};
	check_keys(c, root, "", keys);
	parse_admin(c, root);          /* before listen: a listener must not take its address */
	parse_listen(c, root);
	parse_workers(c, root);
	parse_pools(c, root);
	parse_split(c, root);
	parse_errors(c, root);
	parse_timeouts(c, root);
	parse_limits(c, root);
	parse_guard(c, root);          /* before rollout: steps inherit its thresholds */
	parse_rollout(c, root);
	parse_cluster(c, root);
	parse_files(c, root);
}

/* Walk a libconfig tree that was read without error. */
static struct weir_config *config_build(config_t *lc, const char *name, struct diag *diag)
{
	struct weir_config *cfg = xcalloc(1, sizeof(*cfg));
	struct ctx c;
	size_t before = diag->nerrors;

	cfg->path = xstrdup(name);
	config_set_defaults(cfg);
	c.diag = diag;
	c.name = name;
	c.cfg = cfg;
	c.start = diag->n;
	c.locs = NULL;
	c.nlocs = 0;
	c.caplocs = 0;
	parse_root(&c, config_root_setting(lc));
	sort_by_location(&c);
	free(c.locs);
	if (diag->nerrors != before) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* libconfig's own error, as "FILE:LINE: message". */
static void report_read_error(const config_t *lc, const char *name, struct diag *diag)
{
	const char *file = config_error_file(lc);
	const char *text = config_error_text(lc);

	diag_add(diag, DIAG_ERROR, "%s:%d: %s", file != NULL ? file : name,
	         config_error_line(lc) > 0 ? config_error_line(lc) : 1,
	         text != NULL ? text : "cannot parse");
}

struct weir_config *config_load(const char *path, struct diag *diag)
{
	struct weir_config *cfg = NULL;
	struct stat st;
	config_t lc;
	int fd;

	/* libconfig says only "file I/O error"; find the reason ourselves. A
	 * directory would open fine and read as a confusing parse error. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		int e = fd < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : errno;

		if (fd >= 0)
			close(fd);
		diag_add(diag, DIAG_ERROR, "%s: cannot read configuration file: %s", path,
		         strerror(e));
		return NULL;
	}
	close(fd);

	config_init(&lc);
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			diag_add(diag, DIAG_ERROR, "%s: cannot read configuration file: %s", path,
			         config_error_text(&lc));
		else
			report_read_error(&lc, path, diag);
		goto fail;
	}
	cfg = config_build(&lc, path, diag);
	if (cfg == NULL)
		goto fail;
	config_destroy(&lc);
	return cfg;
fail:
	config_destroy(&lc);
	return NULL;
}

struct weir_config *config_load_string(const char *text, const char *name, struct diag *diag)
{
	struct weir_config *cfg = NULL;
	config_t lc;

	config_init(&lc);
	if (config_read_string(&lc, text) != CONFIG_TRUE) {
		report_read_error(&lc, name, diag);
		goto fail;
	}
	cfg = config_build(&lc, name, diag);
	if (cfg == NULL)
		goto fail;
	config_destroy(&lc);
	return cfg;
fail:
	config_destroy(&lc);
	return NULL;
}

void config_free(struct weir_config *cfg)
{
	size_t i, p;

	if (cfg == NULL)
		return;
	free(cfg->path);
	for (i = 0; i < cfg->nlisteners; i++) {
		free(cfg->listeners[i].addr.text);
		free(cfg->listeners[i].tls_conf.certificate);
		free(cfg->listeners[i].tls_conf.key);
	}
	free(cfg->listeners);
	free(cfg->admin_http.text);
	free(cfg->admin_socket);
	for (p = 0; p < POOL_COUNT; p++) {
		for (i = 0; i < cfg->pools[p].nservers; i++)
			free(cfg->pools[p].servers[i].text);
		free(cfg->pools[p].servers);
		free(cfg->pools[p].tls.ca);
		free(cfg->pools[p].tls.server_name);
		free(cfg->pools[p].check.path);
	}
	free(cfg->split.sticky_header);
	free(cfg->split.sticky_cookie);
	free(cfg->split.override_header);
	free(cfg->rollout.steps);
	for (i = 0; i < cfg->cluster.netcd; i++)
		free(cfg->cluster.etcd[i].text);
	free(cfg->cluster.etcd);
	free(cfg->cluster.name);
	free(cfg->cluster.node);
	free(cfg->state_file);
	free(cfg->event_log);
	free(cfg->access_log);
	free(cfg);
}

/* ---- public parsers ------------------------------------------------------- */

int config_parse_duration(const char *text, uint64_t *ms)
{
	/* Exact decimal arithmetic: "0.1s" must be 100 ms, not 99. */
	static const struct { const char *name; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	const char *p = text;
	uint64_t whole = 0, frac = 0, scale = 1, unit = 0, total;
	size_t i;

	if (p == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return -1;
		whole = whole * 10 + d;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			/* Nine digits are finer than a millisecond for every unit; any
			 * further digit must be 0 or the value is not whole milliseconds. */
			if (scale >= 1000000000u) {
				if (*p != '0')
					return -1;
				continue;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].name) == 0) {
			unit = units[i].ms;
			break;
		}
	}
	if (unit == 0)
		return -1;
	if (whole > UINT64_MAX / unit)
		return -1;
	total = whole * unit;
	/* frac < 1e9 and unit <= 3.6e6: the product fits in 64 bits. */
	if ((frac * unit) % scale != 0)
		return -1;
	if (total > UINT64_MAX - (frac * unit) / scale)
		return -1;
	*ms = total + (frac * unit) / scale;
	return 0;
}

int config_parse_address(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                         const char **err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port, *h, *p;
	size_t hlen;
	bool v6 = false;
	unsigned long pn = 0;

	memset(ss, 0, sizeof(*ss));
	*len = 0;
	if (text == NULL || text[0] == '\0') {
		*err = "empty address";
		return -1;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL) {
			*err = "missing ']' after the IPv6 address";
			return -1;
		}
		if (close[1] != ':') {
			*err = close[1] == '\0' ? "missing port: write [address]:port"
			       : "expected ':' and a port after ']'";
			return -1;
		}
		h = text + 1;
		hlen = (size_t)(close - h);
		port = close + 2;
		v6 = true;
	} else {
		const char *colon = strrchr(text, ':');

		if (colon == NULL) {
			*err = "missing port: write host:port";
			return -1;
		}
		if (memchr(text, ':', (size_t)(colon - text)) != NULL) {
			*err = "an IPv6 address must be written in brackets, e.g. [::1]:80";
			return -1;
		}
		h = text;
		hlen = (size_t)(colon - text);
		port = colon + 1;
	}
	if (hlen == 0) {
		*err = "missing host";
		return -1;
	}

	if (*port == '\0') {
		*err = "missing port";
		return -1;
	}
	for (p = port; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || p - port >= 5) {
			pn = 0;
			break;
		}
		pn = pn * 10 + (unsigned long)(*p - '0');
	}
	if (pn < 1 || pn > 65535) {
		*err = "the port must be a number from 1 to 65535";
		return -1;
	}

	if (hlen < sizeof(host)) {
		memcpy(host, h, hlen);
		host[hlen] = '\0';
	} else {
		host[0] = '\0';
	}
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (host[0] == '\0' || inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			*err = "bad IPv6 address";
			return -1;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)pn);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (strcasecmp(host, "localhost") == 0) {
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		} else if (host[0] == '\0' || inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			if (host[0] != '\0' && strspn(host, "0123456789.") == hlen)
				*err = "bad IPv4 address";
			else
				*err = "host names other than localhost are not resolved at startup "
				       "(no DNS); use a numeric address";
			return -1;
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)pn);
		*len = sizeof(*s4);
	}
	return 0;
}

int config_percent_to_weight(double percent, uint32_t *weight)
{
	double hundredths, r;

	if (!isfinite(percent) || percent < 0.0 || percent > 100.0)
		return -1;
	hundredths = percent * 100.0;
	r = round(hundredths);
	/* Tolerate the binary representation of decimals (0.29 * 100 is
	 * 28.999999999999996), not a finer resolution (0.005 * 100 = 0.5). */
	if (fabs(hundredths - r) > 1e-9 * fmax(1.0, fabs(hundredths)))
		return -1;
	*weight = (uint32_t)r;
	return 0;
}

const char *cfg_pool_name(enum pool_id p)
{
	return p == POOL_CANARY ? "canary" : "baseline";
}
