/* Unit tests for control: the line protocol through control_execute with
 * fake operations that record what they were asked, then the socket itself
 * on a real event base with plain client sockets (every wait bounded). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "weir/control.h"

/* ---- fake operations ------------------------------------------------------ */

struct fake {
	int calls;                      /* operations called, all kinds */
	const char *last;               /* name of the last one */
	enum pool_id pool;
	uint32_t weight;
	bool reason_null;
	char reason[CONTROL_MAX_LINE + 1];
	unsigned events_n;
	const char *fail;               /* when set, operations fail with this */
	const char *payload;            /* what the show_* operations write */
	struct control *free_me;        /* reload frees the control socket */
};

static struct fake fk;

static int record(const char *name, struct evbuffer *out, char *err, size_t errlen)
{
	fk.calls++;
	fk.last = name;
	if (out && fk.payload)
		evbuffer_add(out, fk.payload, strlen(fk.payload));
	if (fk.fail) {
		snprintf(err, errlen, "%s", fk.fail);
		return -1;
	}
	return 0;
}

static int f_show_weights(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                          size_t errlen)
{
	(void)ctx;
	(void)a;
	if (!fk.payload && !fk.fail) {
		fk.calls++;
		fk.last = "show_weights";
		evbuffer_add_printf(out, "baseline 95.00\ncanary 5.00\n");
		return 0;
	}
	return record("show_weights", out, err, errlen);
}

static int f_set_weight(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                        size_t errlen)
{
	(void)ctx;
	(void)out;
	fk.pool = a->pool;
	fk.weight = a->weight;
	return record("set_weight", NULL, err, errlen);
}

static int f_rollback(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                      size_t errlen)
{
	(void)ctx;
	(void)out;
	fk.reason_null = a->reason == NULL;
	snprintf(fk.reason, sizeof(fk.reason), "%s", a->reason ? a->reason : "");
	return record("rollback", NULL, err, errlen);
}

static int f_show_events(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                         size_t errlen)
{
	(void)ctx;
	fk.events_n = a->count;
	return record("show_events", out, err, errlen);
}

static int f_reload(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                    size_t errlen)
{
	(void)ctx;
	(void)a;
	(void)out;
	if (fk.free_me) {
		control_free(fk.free_me);
		fk.free_me = NULL;
	}
	return record("reload", NULL, err, errlen);
}

/* The commands without arguments of their own only record their name (the
 * row's words joined by "_"), and the show ones write the payload. */
#define FAKE(fn, name, writes)                                                                         \
	static int fn(void *ctx, const struct control_args *a, struct evbuffer *out, char *err, size_t errlen) \
	{                                                                                              \
		(void)ctx;                                                                             \
		(void)a;                                                                               \
		return record(name, (writes) ? out : NULL, err, errlen);                              \
	}
FAKE(f_promote, "promote", false)
FAKE(f_pause, "pause", false)
FAKE(f_resume, "resume", false)
FAKE(f_show_stats, "show_stats", true)
FAKE(f_show_guard, "show_guard", true)
FAKE(f_show_report, "show_report", true)
FAKE(f_show_servers, "show_servers", true)

static const struct control_command fake_rows[] = {
	{ { "show", "weights" }, "show weights", "the weights", CONTROL_ARGS_NONE, f_show_weights },
	{ { "set", "weight" }, "set weight canary|baseline PERCENT", "set a weight", CONTROL_ARGS_POOL_WEIGHT,
	  f_set_weight },
	{ { "rollback", NULL }, "rollback [REASON...]", "roll back", CONTROL_ARGS_REASON, f_rollback },
	{ { "promote", NULL }, "promote", "promote", CONTROL_ARGS_NONE, f_promote },
	{ { "pause", NULL }, "pause", "pause", CONTROL_ARGS_NONE, f_pause },
	{ { "resume", NULL }, "resume", "resume", CONTROL_ARGS_NONE, f_resume },
	{ { "show", "stats" }, "show stats", "stats", CONTROL_ARGS_NONE, f_show_stats },
	{ { "show", "guard" }, "show guard", "guard", CONTROL_ARGS_NONE, f_show_guard },
	{ { "show", "events" }, "show events [N]", "events", CONTROL_ARGS_COUNT, f_show_events },
	{ { "show", "report" }, "show report", "report", CONTROL_ARGS_NONE, f_show_report },
	{ { "show", "servers" }, "show servers", "servers", CONTROL_ARGS_NONE, f_show_servers },
	{ { "reload", NULL }, "reload", "reload", CONTROL_ARGS_NONE, f_reload },
};

#define NROWS (sizeof(fake_rows) / sizeof(fake_rows[0]))

static struct control_registry ops;

static int reset(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	fk.pool = POOL_COUNT;
	control_registry_init(&ops);
	assert_int_equal(control_register(&ops, fake_rows, NROWS, &fk), 0);
	return 0;
}

/* The whole reply to LINE[0..LEN), as a string (release with free). */
static char *run_n(const struct control_registry *o, const char *line, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *s;

	assert_non_null(out);
	control_execute(o, line, len, out);
	n = evbuffer_get_length(out);
	s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(out, s, n);
	s[n] = '\0';
	evbuffer_free(out);
	return s;
}

static char *run(const char *line)
{
	return run_n(&ops, line, strlen(line));
}

/* LINE gets exactly REPLY. */
static void expect_reply(const char *line, const char *reply)
{
	char *got = run(line);
	assert_string_equal(got, reply);
	free(got);
}

/* LINE is refused with exactly "ERR REASON" and no operation is called. */
static void expect_refused(const char *line, const char *reason)
{
	char want[8192];
	int calls = fk.calls;

	snprintf(want, sizeof(want), "ERR %s\n\n", reason);
	expect_reply(line, want);
	assert_int_equal(fk.calls, calls);
}

/* ---- commands ---------------------------------------------------------------- */

static const char *const usages[] = {
	"help", "show weights", "set weight canary|baseline PERCENT", "rollback [REASON...]",
	"promote", "pause", "resume", "show stats", "show guard", "show events [N]", "show report",
	"show servers", "reload",
};

static void test_help_lists_every_command(void **state)
{
	char *got = run("help"), *line, *save = NULL;
	size_t n = 0, len = strlen(got);

	(void)state;
	assert_int_equal(fk.calls, 0);
	assert_true(len > 5);
	assert_memory_equal(got, "OK\n", 3);
	assert_string_equal(got + len - 2, "\n\n");
	got[len - 2] = '\0';
	for (line = strtok_r(got + 3, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t ulen;
		assert_true(n < sizeof(usages) / sizeof(usages[0]));
		ulen = strlen(usages[n]);
		/* "USAGE<at least two spaces>summary" */
		assert_memory_equal(line, usages[n], ulen);
		assert_memory_equal(line + ulen, "  ", 2);
		assert_true(strlen(line) > ulen + 2);
		n++;
	}
	assert_int_equal(n, sizeof(usages) / sizeof(usages[0]));
	free(got);

	/* The summaries line up in one column. */
	got = run("help");
	assert_non_null(strstr(got, "\nhelp                                "));
	assert_non_null(strstr(got, "\nset weight canary|baseline PERCENT  "));
	free(got);
	expect_refused("help me", "usage: help");
}

static void test_show_weights(void **state)
{
	(void)state;
	expect_reply("show weights", "OK\nbaseline 95.00\ncanary 5.00\n\n");
	assert_string_equal(fk.last, "show_weights");
	assert_int_equal(fk.calls, 1);
	expect_refused("show weights now", "usage: show weights");
}

static void test_set_weight(void **state)
{
	(void)state;
	expect_reply("set weight canary 5", "OK\n\n");
	assert_string_equal(fk.last, "set_weight");
	assert_int_equal(fk.pool, POOL_CANARY);
	assert_int_equal(fk.weight, 500);

	expect_reply("set weight baseline 95.5", "OK\n\n");
	assert_int_equal(fk.pool, POOL_BASELINE);
	assert_int_equal(fk.weight, 9550);

	static const struct { const char *text; uint32_t weight; } ok[] = {
		{ "0", 0 }, { "100", 10000 }, { "100.00", 10000 }, { "0.01", 1 }, { "33.33", 3333 },
		{ "5.", 500 }, { ".5", 50 }, { "07", 700 }, { "99.99", 9999 }, { "12.340000", 1234 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "set weight canary %s", ok[i].text);
		fk.weight = UINT32_MAX;
		expect_reply(line, "OK\n\n");
		assert_int_equal(fk.weight, ok[i].weight);
	}

	/* Blanks: runs of spaces and tabs, a trailing CR. */
	expect_reply("  set \t weight\tcanary   12.5  \r", "OK\n\n");
	assert_int_equal(fk.pool, POOL_CANARY);
	assert_int_equal(fk.weight, 1250);
	assert_int_equal(fk.calls, 13);
}

static void test_set_weight_refusals(void **state)
{
	static const char *const bad[] = {
		"-1", "100.01", "0.005", "abc", "nan", "NaN", "inf", "-inf", "1e2", "1E2", "+5", "0x10",
		"5..0", ".", "5.0.0", "1,5", "5%", "101", "1000000000000000000000", "0.001",
	};
	char line[128], reason[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "set weight canary %s", bad[i]);
		snprintf(reason, sizeof(reason),
		         "weight must be a number from 0 to 100 in steps of 0.01 (got %s)", bad[i]);
		expect_refused(line, reason);
	}
	expect_refused("set weight baseline -0.5",
	               "weight must be a number from 0 to 100 in steps of 0.01 (got -0.5)");

	expect_refused("set weight", "usage: set weight canary|baseline PERCENT");
	expect_refused("set weight canary", "usage: set weight canary|baseline PERCENT");
	expect_refused("set weight canary 5 6", "usage: set weight canary|baseline PERCENT");
	expect_refused("set weight canary 5 6 7 8 9 10 11 12 13",
	               "usage: set weight canary|baseline PERCENT");
	expect_refused("set weight green 5", "pool must be canary or baseline (got green)");
	expect_refused("set weight CANARY 5", "pool must be canary or baseline (got CANARY)");
	expect_refused("set", "unknown command 'set' (try help)");
	expect_refused("set weights canary 5", "unknown command 'set weights' (try help)");

	/* An over-long token is quoted cut short. */
	memset(line, 0, sizeof(line));
	strcpy(line, "set weight canary ");
	memset(line + strlen(line), '9', 100);
	snprintf(reason, sizeof(reason),
	         "weight must be a number from 0 to 100 in steps of 0.01 (got %.64s...)",
	         "9999999999999999999999999999999999999999999999999999999999999999999999");
	expect_refused(line, reason);
	assert_int_equal(fk.calls, 0);
}

static void test_unknown_and_empty(void **state)
{
	char line[600], reason[200];

	(void)state;
	expect_refused("foo", "unknown command 'foo' (try help)");
	expect_refused("foo bar baz", "unknown command 'foo' (try help)");
	expect_refused("show", "unknown command 'show' (try help)");
	expect_refused("show foo", "unknown command 'show foo' (try help)");
	expect_refused("show\tfoo", "unknown command 'show foo' (try help)");
	expect_refused("SHOW WEIGHTS", "unknown command 'SHOW' (try help)");
	expect_refused("helpme", "unknown command 'helpme' (try help)");

	memset(line, 'x', 500);
	line[500] = '\0';
	snprintf(reason, sizeof(reason), "unknown command '%.64s...' (try help)", line);
	expect_refused(line, reason);

	/* UTF-8 is cut at a character boundary: 63 x then a 2-byte character. */
	memset(line, 'x', 63);
	strcpy(line + 63, "\xc3\xa9\xc3\xa9\xc3\xa9");
	snprintf(reason, sizeof(reason), "unknown command '%.63s...' (try help)", line);
	expect_refused(line, reason);

	expect_refused("", "empty command (try help)");
	expect_refused("   \t  ", "empty command (try help)");
	expect_refused("\r", "empty command (try help)");
	assert_int_equal(fk.calls, 0);
}

static void test_invalid_bytes(void **state)
{
	static const struct { const char *s; size_t n; } bad[] = {
		{ "show\0weights", 12 },
		{ "show weights\0", 13 },
		{ "\xff\xfe\x00\x01", 4 },
		{ "show weights\xff", 13 },
		{ "rollback \x1b[31mred", 17 },
		{ "rollback a\nshow weights", 23 },
		{ "rollback a\rb", 12 },
		{ "rollback \x7f", 10 },
		{ "rollback \xc2\x85", 11 },            /* C1 control NEL */
		{ "rollback \xc0\xaf", 11 },            /* overlong '/' */
		{ "rollback \xed\xa0\x80", 12 },        /* surrogate */
		{ "rollback \xf4\x90\x80\x80", 13 },    /* above U+10FFFF */
		{ "rollback \xe2\x82", 11 },            /* truncated */
		{ "\r\r", 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *got = run_n(&ops, bad[i].s, bad[i].n);
		assert_string_equal(got, "ERR invalid bytes in command\n\n");
		free(got);
	}
	assert_int_equal(fk.calls, 0);
}

static void test_rollback(void **state)
{
	(void)state;
	expect_reply("rollback", "OK\n\n");
	assert_string_equal(fk.last, "rollback");
	assert_true(fk.reason_null);

	expect_reply("rollback   \t ", "OK\n\n");
	assert_true(fk.reason_null);

	expect_reply("rollback  p99 too high:  250ms > 200ms  \r", "OK\n\n");
	assert_false(fk.reason_null);
	assert_string_equal(fk.reason, "p99 too high:  250ms > 200ms");

	expect_reply("rollback\tbad\tdeploy", "OK\n\n");
	assert_string_equal(fk.reason, "bad deploy");

	expect_reply("rollback d\xc3\xa9ploiement rat\xc3\xa9", "OK\n\n");
	assert_string_equal(fk.reason, "d\xc3\xa9ploiement rat\xc3\xa9");

	expect_reply("rollback 1 2 3 4 5 6 7 8 9 10 11 12", "OK\n\n");
	assert_string_equal(fk.reason, "1 2 3 4 5 6 7 8 9 10 11 12");
	assert_int_equal(fk.calls, 6);
}

static void test_simple_commands(void **state)
{
	static const struct { const char *line, *op, *usage; } cmds[] = {
		{ "promote", "promote", "usage: promote" },
		{ "pause", "pause", "usage: pause" },
		{ "resume", "resume", "usage: resume" },
		{ "reload", "reload", "usage: reload" },
	};
	char line[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		fk.last = NULL;
		expect_reply(cmds[i].line, "OK\n\n");
		assert_string_equal(fk.last, cmds[i].op);
		snprintf(line, sizeof(line), "%s now", cmds[i].line);
		expect_refused(line, cmds[i].usage);
	}
	assert_int_equal(fk.calls, 4);
}

static void test_show_json(void **state)
{
	static const struct { const char *line, *op; } cmds[] = {
		{ "show stats", "show_stats" },
		{ "show guard", "show_guard" },
		{ "show report", "show_report" },
		{ "show servers", "show_servers" },
	};

	(void)state;
	fk.payload = "{\"a\":1}\n";
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		expect_reply(cmds[i].line, "OK\n{\"a\":1}\n\n");
		assert_string_equal(fk.last, cmds[i].op);
	}
	expect_refused("show stats json", "usage: show stats");
	assert_int_equal(fk.calls, 4);
}

static void test_show_events(void **state)
{
	static const char *const bad[] = { "0", "-1", "abc", "1.5", "10001", "99999999999999999999",
		                           "+5", "5x", "1e3" };
	char line[64], reason[128];

	(void)state;
	fk.payload = "{\"e\":1}\n{\"e\":2}\n";
	expect_reply("show events", "OK\n{\"e\":1}\n{\"e\":2}\n\n");
	assert_int_equal(fk.events_n, 20);
	expect_reply("show events 5", "OK\n{\"e\":1}\n{\"e\":2}\n\n");
	assert_int_equal(fk.events_n, 5);
	expect_reply("show events 1", "OK\n{\"e\":1}\n{\"e\":2}\n\n");
	assert_int_equal(fk.events_n, 1);
	expect_reply("show events 10000", "OK\n{\"e\":1}\n{\"e\":2}\n\n");
	assert_int_equal(fk.events_n, 10000);
	assert_int_equal(fk.calls, 4);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "show events %s", bad[i]);
		snprintf(reason, sizeof(reason), "N must be a whole number from 1 to 10000 (got %s)", bad[i]);
		expect_refused(line, reason);
	}
	expect_refused("show events 1 2", "usage: show events [N]");
	assert_int_equal(fk.calls, 4);
}

static void test_handler_errors(void **state)
{
	(void)state;
	fk.fail = "canary pool has no servers";
	expect_reply("set weight canary 5", "ERR canary pool has no servers\n\n");
	assert_int_equal(fk.calls, 1);
	assert_int_equal(fk.weight, 500);

	/* Payload written before the failure is not sent. */
	fk.payload = "half a document\n";
	expect_reply("show stats", "ERR canary pool has no servers\n\n");

	/* Several reasons (reload's file:line list) become one line. */
	fk.fail = "weir.conf:3: bad\nweir.conf:9: worse\n";
	expect_reply("reload", "ERR weir.conf:3: bad; weir.conf:9: worse\n\n");
	fk.fail = "a\r\n\r\nb\x01" "c\n";
	expect_reply("pause", "ERR a; b c\n\n");

	fk.fail = "";
	expect_reply("promote", "ERR command failed\n\n");
	fk.fail = "\n";
	expect_reply("resume", "ERR command failed\n\n");
}

static void test_payload_framing(void **state)
{
	(void)state;
	/* Empty lines would end the reply early; a missing newline would glue
	 * the payload to the terminator. Both are repaired. */
	fk.payload = "a\n\nb";
	expect_reply("show guard", "OK\na\nb\n\n");
	fk.payload = "\nx\n\n\n";
	expect_reply("show guard", "OK\nx\n\n");
	fk.payload = "";
	expect_reply("show guard", "OK\n\n");
	fk.payload = "\n";
	expect_reply("show guard", "OK\n\n");
}

/* A command that no module registered is unknown, help lists only what is
 * registered, and no two rows may claim the same words. */
static void test_registry(void **state)
{
	struct control_registry none;
	char *got;

	(void)state;
	control_registry_init(&none);
	got = run_n(&none, "show report", 11);
	assert_string_equal(got, "ERR unknown command 'show' (try help)\n\n");
	free(got);
	got = run_n(&none, "help", 4);
	assert_string_equal(got, "OK\nhelp  list the commands\n\n");
	free(got);
	got = run_n(&none, "set weight canary 500", 21);
	assert_string_equal(got, "ERR unknown command 'set' (try help)\n\n");
	free(got);

	/* Taken words are refused whole: nothing of the rows is added. */
	assert_int_equal(control_register(&none, fake_rows, NROWS, &fk), 0);
	assert_int_equal(control_register(&none, &fake_rows[1], 1, &fk), -1);
	assert_int_equal(none.n, NROWS);
	static const struct control_command twice[] = {
		{ { "frob", NULL }, "frob", "x", CONTROL_ARGS_NONE, f_promote },
		{ { "frob", NULL }, "frob", "x", CONTROL_ARGS_NONE, f_promote },
	};
	assert_int_equal(control_register(&none, twice, 2, &fk), -1);
	static const struct control_command help_again[] = {
		{ { "help", NULL }, "help", "x", CONTROL_ARGS_NONE, f_promote },
	};
	assert_int_equal(control_register(&none, help_again, 1, &fk), -1);
	assert_int_equal(none.n, NROWS);
}

/* ---- the socket ------------------------------------------------------------------ */

struct sock_env {
	char dir[64];
	char path[100];
	struct event_base *base;
};

static int sock_setup(void **state)
{
	struct sock_env *env = calloc(1, sizeof(*env));

	reset(NULL);
	assert_non_null(env);
	strcpy(env->dir, "/tmp/weir-test-control.XXXXXX");
	assert_non_null(mkdtemp(env->dir));
	snprintf(env->path, sizeof(env->path), "%s/ctl.sock", env->dir);
	env->base = event_base_new();
	assert_non_null(env->base);
	*state = env;
	return 0;
}

static int sock_teardown(void **state)
{
	struct sock_env *env = *state;
	char other[160];

	unlink(env->path);
	snprintf(other, sizeof(other), "%s/file", env->dir);
	unlink(other);
	rmdir(env->dir);
	event_base_free(env->base);
	free(env);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* What a client reads while the base runs. */
struct reader {
	struct event_base *base;
	struct evbuffer *got;
	size_t want;                    /* replies to wait for */
	bool eof;
	struct event *ev;
};

static size_t count_replies(struct evbuffer *b)
{
	struct evbuffer_ptr p;
	size_t n = 0;

	evbuffer_ptr_set(b, &p, 0, EVBUFFER_PTR_SET);
	for (;;) {
		p = evbuffer_search(b, "\n\n", 2, &p);
		if (p.pos < 0)
			return n;
		n++;
		evbuffer_ptr_set(b, &p, 2, EVBUFFER_PTR_ADD);
	}
}

static size_t count_replies_str(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (s[0] == '\n' && s[1] == '\n') {
			n++;
			s++;
		}
	}
	return n;
}

static void reader_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reader *r = arg;
	char buf[65536];
	ssize_t n;

	(void)what;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		r->eof = true;
		event_del(r->ev);
		event_base_loopbreak(r->base);
		return;
	}
	evbuffer_add(r->got, buf, (size_t)n);
	if (r->want && count_replies(r->got) >= r->want)
		event_base_loopbreak(r->base);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run BASE until FD has delivered WANT whole replies (0: until EOF) or five
 * seconds have passed. Returns what was read (release with free). */
static char *read_replies(struct event_base *base, int fd, size_t want, bool *eof)
{
	struct reader r = { .base = base, .want = want };
	struct timeval limit = { 5, 0 };
	struct event *timer;
	size_t n;
	char *s;

	r.got = evbuffer_new();
	r.ev = event_new(base, fd, EV_READ | EV_PERSIST, reader_cb, &r);
	timer = evtimer_new(base, timeout_cb, base);
	assert_non_null(r.got);
	assert_non_null(r.ev);
	assert_non_null(timer);
	event_add(r.ev, NULL);
	evtimer_add(timer, &limit);
	event_base_dispatch(base);
	event_free(timer);
	event_free(r.ev);
	n = evbuffer_get_length(r.got);
	s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(r.got, s, n);
	s[n] = '\0';
	evbuffer_free(r.got);
	if (eof)
		*eof = r.eof;
	return s;
}

static struct control *listen_ok(struct sock_env *env)
{
	char err[256] = "";
	struct control *c = control_new(env->base, env->path, &ops, err, sizeof(err));

	if (!c)
		fail_msg("control_new: %s", err);
	return c;
}

static void test_socket_two_commands_one_write(void **state)
{
	struct sock_env *env = *state;
	struct control *c = listen_ok(env);
	struct stat st;
	int fd;
	char *got;

	assert_int_equal(stat(env->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	fd = connect_to(env->path);
	send_str(fd, "show weights\nset weight canary 5\n");
	got = read_replies(env->base, fd, 2, NULL);
	assert_string_equal(got, "OK\nbaseline 95.00\ncanary 5.00\n\nOK\n\n");
	assert_int_equal(fk.pool, POOL_CANARY);
	assert_int_equal(fk.weight, 500);
	free(got);

	/* The same connection goes on serving, CRLF too. */
	send_str(fd, "bogus\r\nshow events 3\r\n");
	got = read_replies(env->base, fd, 2, NULL);
	assert_string_equal(got, "ERR unknown command 'bogus' (try help)\n\nOK\n\n");
	assert_int_equal(fk.events_n, 3);
	free(got);

	close(fd);
	control_free(c);
	assert_int_equal(access(env->path, F_OK), -1);
}

static void test_socket_eof_flushes_and_closes(void **state)
{
	struct sock_env *env = *state;
	struct control *c = listen_ok(env);
	int fd = connect_to(env->path);
	bool eof = false;
	char *got;

	/* The last line may lack its newline; the reply still comes, then EOF. */
	send_str(fd, "help\nshow weights");
	shutdown(fd, SHUT_WR);
	got = read_replies(env->base, fd, 0, &eof);
	assert_true(eof);
	assert_int_equal(count_replies_str(got), 2);
	assert_non_null(strstr(got, "\n\nOK\nbaseline 95.00\ncanary 5.00\n\n"));
	free(got);
	close(fd);
	control_free(c);
}

static void test_socket_long_line(void **state)
{
	struct sock_env *env = *state;
	struct control *c = listen_ok(env);
	int fd = connect_to(env->path);
	char *big = malloc(3 * CONTROL_MAX_LINE);
	char *got;

	assert_non_null(big);
	memset(big, 'a', 3 * CONTROL_MAX_LINE);

	/* A whole over-long line, then a good command in the same write. */
	send_all(fd, big, CONTROL_MAX_LINE + 10);
	send_str(fd, "\nshow weights\n");
	got = read_replies(env->base, fd, 2, NULL);
	assert_string_equal(got, "ERR line too long\n\nOK\nbaseline 95.00\ncanary 5.00\n\n");
	free(got);

	/* An over-long line arriving in pieces: one ERR, the rest of it is
	 * dropped up to its newline, and the connection goes on. */
	send_all(fd, big, 2 * CONTROL_MAX_LINE);
	got = read_replies(env->base, fd, 1, NULL);
	assert_string_equal(got, "ERR line too long\n\n");
	free(got);
	send_all(fd, big, 3 * CONTROL_MAX_LINE);
	send_str(fd, "still the long line\npause\n");
	got = read_replies(env->base, fd, 1, NULL);
	assert_string_equal(got, "OK\n\n");
	assert_string_equal(fk.last, "pause");
	free(got);

	/* Exactly CONTROL_MAX_LINE bytes (plus CR) is still a line. */
	memcpy(big, "rollback ", 9);
	big[CONTROL_MAX_LINE] = '\r';
	big[CONTROL_MAX_LINE + 1] = '\n';
	send_all(fd, big, CONTROL_MAX_LINE + 2);
	got = read_replies(env->base, fd, 1, NULL);
	assert_string_equal(got, "OK\n\n");
	assert_int_equal(strlen(fk.reason), CONTROL_MAX_LINE - 9);
	free(got);

	close(fd);
	free(big);
	control_free(c);
}

static void test_socket_many_clients(void **state)
{
	struct sock_env *env = *state;
	struct control *c = listen_ok(env);
	int fds[64];
	char *got;

	for (size_t i = 0; i < 64; i++)
		fds[i] = connect_to(env->path);
	/* Replies come back to whoever asked, in any order of asking. */
	for (size_t i = 64; i-- > 0;) {
		char line[64];
		snprintf(line, sizeof(line), "show events %zu\n", i + 1);
		send_str(fds[i], line);
	}
	for (size_t i = 0; i < 64; i++) {
		got = read_replies(env->base, fds[i], 1, NULL);
		assert_string_equal(got, "OK\n\n");
		free(got);
		close(fds[i]);
	}
	assert_int_equal(fk.calls, 64);
	control_free(c);
}

/* A client that sends far more commands than it reads back: its replies are
 * produced as it reads them, none is lost, and memory stays bounded. */
static void test_socket_pipelined_backpressure(void **state)
{
	struct sock_env *env = *state;
	struct control *c = listen_ok(env);
	int fd = connect_to(env->path);
	enum { N = 3000 };
	char *cmds = malloc(N * 5), *got;
	bool eof = false;

	assert_non_null(cmds);
	for (size_t i = 0; i < N; i++)
		memcpy(cmds + 5 * i, "help\n", 5);
	send_all(fd, cmds, N * 5);
	shutdown(fd, SHUT_WR);
	got = read_replies(env->base, fd, 0, &eof);
	assert_true(eof);
	assert_int_equal(count_replies_str(got), N);
	free(got);
	free(cmds);
	close(fd);
	control_free(c);
}

static void test_socket_stale_replaced(void **state)
{
	struct sock_env *env = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *c;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char *got;

	/* A crashed run: a bound socket file nobody listens on. */
	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", env->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(access(env->path, F_OK), 0);

	c = listen_ok(env);
	fd = connect_to(env->path);
	send_str(fd, "pause\n");
	got = read_replies(env->base, fd, 1, NULL);
	assert_string_equal(got, "OK\n\n");
	free(got);
	close(fd);
	control_free(c);
}

static void test_socket_live_refused(void **state)
{
	struct sock_env *env = *state;
	struct control *c = listen_ok(env), *c2;
	char err[256] = "", want[256];
	struct stat st1, st2;
	int fd;
	char *got;

	assert_int_equal(stat(env->path, &st1), 0);
	c2 = control_new(env->base, env->path, &ops, err, sizeof(err));
	assert_null(c2);
	snprintf(want, sizeof(want), "another process is listening on control socket %s", env->path);
	assert_string_equal(err, want);

	/* The first one is untouched and still serves. */
	assert_int_equal(stat(env->path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	fd = connect_to(env->path);
	send_str(fd, "resume\n");
	got = read_replies(env->base, fd, 1, NULL);
	assert_string_equal(got, "OK\n\n");
	free(got);
	close(fd);
	control_free(c);
}

static void test_socket_path_errors(void **state)
{
	struct sock_env *env = *state;
	char err[512] = "", file[160], longpath[200], want[512];
	int fd;

	/* Not a socket: refused, and left alone. */
	snprintf(file, sizeof(file), "%s/file", env->dir);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data\n", 5), 5);
	close(fd);
	assert_null(control_new(env->base, file, &ops, err, sizeof(err)));
	snprintf(want, sizeof(want), "control socket %s exists and is not a socket (not removed)", file);
	assert_string_equal(err, want);
	assert_int_equal(access(file, F_OK), 0);

	/* Longer than sun_path. */
	memset(longpath, 0, sizeof(longpath));
	snprintf(longpath, sizeof(longpath), "%s/", env->dir);
	memset(longpath + strlen(longpath), 'p', 150);
	assert_null(control_new(env->base, longpath, &ops, err, sizeof(err)));
	assert_non_null(strstr(err, "is too long"));

	/* A directory that does not exist. */
	snprintf(file, sizeof(file), "%s/nope/ctl.sock", env->dir);
	assert_null(control_new(env->base, file, &ops, err, sizeof(err)));
	snprintf(want, sizeof(want), "cannot bind control socket %s: %s", file, strerror(ENOENT));
	assert_string_equal(err, want);

	assert_null(control_new(env->base, "", &ops, err, sizeof(err)));
	assert_string_equal(err, "control socket path is empty");
}

/* An operation may free the control socket (a reload that moves it): the
 * command finishes, nothing is used after free, the file is gone at once. */
static void test_socket_free_from_operation(void **state)
{
	struct sock_env *env = *state;
	struct control *c = listen_ok(env);
	int fd = connect_to(env->path), fd2 = connect_to(env->path);
	bool eof = false;
	char *got;

	/* Let the listener accept both before the reload. */
	send_str(fd2, "pause\n");
	got = read_replies(env->base, fd2, 1, NULL);
	assert_string_equal(got, "OK\n\n");
	free(got);

	fk.free_me = c;
	send_str(fd, "reload\nshow weights\n");
	got = read_replies(env->base, fd, 0, &eof);
	assert_true(eof);
	free(got);
	assert_string_equal(fk.last, "reload");
	assert_null(fk.free_me);
	assert_int_equal(access(env->path, F_OK), -1);
	close(fd);
	close(fd2);
}

/* A handler that answers later: the reply comes when its owner says, and
 * the client's next command waits for it (replies keep their order); a
 * client gone meanwhile costs nothing. */
static struct control_later *held;

static int f_later(void *ctx, const struct control_args *a, struct evbuffer *out, char *err, size_t errlen)
{
	(void)ctx;
	(void)out;
	fk.calls++;
	fk.last = "later";
	if (!a->later) {
		snprintf(err, errlen, "cannot wait");
		return -1;
	}
	held = a->later;
	return CONTROL_LATER;
}

static void answer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	control_later_done(held, 0, "done at last\n", NULL);
	held = NULL;
}

static const struct control_command later_row[] = {
	{ { "wait", NULL }, "wait", "answers later", CONTROL_ARGS_NONE, f_later },
};

static void test_socket_later(void **state)
{
	struct sock_env *env = *state;
	struct control *c;
	struct event *answer;
	struct timeval soon = { 0, 100000 };
	int fd;
	char *got;

	assert_int_equal(control_register(&ops, later_row, 1, &fk), 0);
	/* without a socket, the handler must answer now */
	got = run("wait");
	assert_string_equal(got, "ERR cannot wait\n\n");
	free(got);

	c = listen_ok(env);
	fd = connect_to(env->path);
	answer = evtimer_new(env->base, answer_cb, NULL);
	assert_non_null(answer);
	evtimer_add(answer, &soon);
	send_str(fd, "wait\nshow weights\n");
	got = read_replies(env->base, fd, 2, NULL);
	assert_string_equal(got, "OK\ndone at last\n\nOK\nbaseline 95.00\ncanary 5.00\n\n");
	free(got);
	assert_null(held);

	/* the client leaves before the answer: nothing is sent, nothing leaks */
	send_str(fd, "wait\n");
	event_base_loopexit(env->base, &soon);
	event_base_dispatch(env->base);
	assert_non_null(held);
	close(fd);
	fd = connect_to(env->path);
	send_str(fd, "show weights\n");
	got = read_replies(env->base, fd, 1, NULL);
	free(got);
	control_later_done(held, -1, NULL, "too late");
	held = NULL;
	close(fd);
	/* the deferred callbacks run, so that every bufferevent can go */
	event_base_loop(env->base, EVLOOP_NONBLOCK);
	event_free(answer);
	control_free(c);
	event_base_loop(env->base, EVLOOP_NONBLOCK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_help_lists_every_command, reset),
		cmocka_unit_test_setup(test_show_weights, reset),
		cmocka_unit_test_setup(test_set_weight, reset),
		cmocka_unit_test_setup(test_set_weight_refusals, reset),
		cmocka_unit_test_setup(test_unknown_and_empty, reset),
		cmocka_unit_test_setup(test_invalid_bytes, reset),
		cmocka_unit_test_setup(test_rollback, reset),
		cmocka_unit_test_setup(test_simple_commands, reset),
		cmocka_unit_test_setup(test_show_json, reset),
		cmocka_unit_test_setup(test_show_events, reset),
		cmocka_unit_test_setup(test_handler_errors, reset),
		cmocka_unit_test_setup(test_payload_framing, reset),
		cmocka_unit_test_setup(test_registry, reset),
		cmocka_unit_test_setup_teardown(test_socket_two_commands_one_write, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_eof_flushes_and_closes, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_long_line, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_many_clients, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_pipelined_backpressure, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_stale_replaced, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_live_refused, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_path_errors, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_free_from_operation, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_socket_later, sock_setup, sock_teardown),
	};

	/* A client that goes away must not kill the test (weir ignores it too). */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
