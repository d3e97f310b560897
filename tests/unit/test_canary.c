/* Unit tests for the canary run's persistence promises (canary.c driving
 * weights.c): an operator's change is persisted (state file, then event log)
 * before it is published, and a failure changes nothing and answers ERR; a
 * guard rollback is published whatever the disk says. The file I/O of
 * state.c is faked with -Wl,--wrap (see Makefile.am), the clock through
 * clock_set_source, and the commands run through the control protocol as an
 * operator types them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "weir/canary.h"
#include "weir/clock.h"
#include "weir/config.h"
#include "weir/control.h"
#include "weir/diag.h"
#include "weir/guard.h"
#include "weir/state.h"
#include "weir/stats.h"
#include "weir/weights.h"

/* ---- the fakes ------------------------------------------------------------------- */

#define MAX_CALLS 16

/* One call of a faked file operation, with the published weight at the
 * moment it was made (what the workers were routing by). */
struct io_call {
	char what[16];                  /* "save" or "append" */
	uint32_t weight;                /* saved, or the event's after */
	char detail[32];                /* saved guard state, or the event's action */
	uint32_t published;
};

static struct {
	struct io_call calls[MAX_CALLS];
	size_t n;
	bool fail_save, fail_append;
	struct weights *w;              /* to read the published weight */
	uint64_t now_us;
	bool saved_pending;             /* fleet_rollback_pending of the last save */
	int64_t saved_base;             /* fleet_rollback_base of the last save */
} io;

static void note(const char *what, uint32_t weight, const char *detail)
{
	assert_true(io.n < MAX_CALLS);
	struct io_call *c = &io.calls[io.n++];
	snprintf(c->what, sizeof(c->what), "%s", what);
	snprintf(c->detail, sizeof(c->detail), "%s", detail);
	c->weight = weight;
	c->published = io.w ? weights_published(io.w) : UINT32_MAX;
}

int __wrap_state_remove_stale_temps(const char *path, char *err, size_t errlen);
int __wrap_state_load(const char *path, struct weir_state *st, char *err, size_t errlen);
int __wrap_state_save(const char *path, const struct weir_state *st, char *err, size_t errlen);
struct event_log *__wrap_event_log_open(const char *path, char *err, size_t errlen);
void __wrap_event_log_close(struct event_log *log);
int __wrap_event_log_append(struct event_log *log, const struct weir_event *ev, char *line, size_t linelen,
                            char *err, size_t errlen);
int __wrap_event_log_read_last(const char *path, size_t n, char ***out, size_t *count, char *err,
                               size_t errlen);

int __wrap_state_remove_stale_temps(const char *path, char *err, size_t errlen)
{
	(void)path;
	(void)err;
	(void)errlen;
	return 0;
}

int __wrap_state_load(const char *path, struct weir_state *st, char *err, size_t errlen)
{
	(void)path;
	(void)st;
	(void)err;
	(void)errlen;
	return 0; /* first start: no state file */
}

int __wrap_state_save(const char *path, const struct weir_state *st, char *err, size_t errlen)
{
	note("save", st->canary_weight, st->guard_state);
	io.saved_pending = st->fleet_rollback_pending;
	io.saved_base = st->fleet_rollback_base;
	if (io.fail_save) {
		snprintf(err, errlen, "cannot write state file %s: No space left on device", path);
		return -1;
	}
	return 0;
}

static char fake_log;

struct event_log *__wrap_event_log_open(const char *path, char *err, size_t errlen)
{
	(void)path;
	(void)err;
	(void)errlen;
	return (struct event_log *)(void *)&fake_log;
}

void __wrap_event_log_close(struct event_log *log)
{
	(void)log;
}

int __wrap_event_log_append(struct event_log *log, const struct weir_event *ev, char *line, size_t linelen,
                            char *err, size_t errlen)
{
	(void)log;
	note("append", ev->after, ev->action);
	if (io.fail_append) {
		snprintf(err, errlen, "cannot append to event log: Input/output error");
		return -1;
	}
	snprintf(line, linelen, "{\"action\":\"%s\"}", ev->action);
	return 0;
}

int __wrap_event_log_read_last(const char *path, size_t n, char ***out, size_t *count, char *err,
                               size_t errlen)
{
	(void)path;
	(void)n;
	(void)err;
	(void)errlen;
	*out = NULL;
	*count = 0;
	return 0;
}

static uint64_t fake_now_us(void)
{
	return io.now_us;
}

/* ---- the run under test ------------------------------------------------------------ */

struct env {
	struct weir_config *cfg;
	struct event_base *base;
	struct stats *stats;
	struct weights *w;
	struct canary *c;
	struct control_registry reg;
};

static const char conf[] =
	"listen = ( \"127.0.0.1:8080\" );\n"
	"pools = { baseline = { servers = ( \"127.0.0.1:9001\" ); }; "
	"canary = { servers = ( \"127.0.0.1:9101\" ); }; };\n"
	"split = { canary_weight = 5.0; };\n"
	"guard = { method = \"window\"; };\n"
	"state_file = \"/nonexistent/weir/state\";\n"
	"event_log = \"/nonexistent/weir/events.log\";\n";

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[512];
	struct diag d;

	assert_non_null(e);
	memset(&io, 0, sizeof(io));
	io.now_us = 1000000000ull; /* 1000 s after the fake clock's epoch */
	clock_set_source(fake_now_us);
	diag_init(&d);
	e->cfg = config_load_string(conf, "t.conf", &d);
	diag_dispose(&d);
	assert_non_null(e->cfg);
	e->base = event_base_new();
	e->stats = stats_new(e->cfg->guard.window_ms);
	assert_non_null(e->base);
	assert_non_null(e->stats);
	e->w = weights_new(e->cfg, err, sizeof(err));
	assert_non_null(e->w);
	io.w = e->w;
	/* The health checks are only read by the tick, which never runs here. */
	e->c = canary_new(e->base, e->cfg, e->w, e->stats, NULL, err, sizeof(err));
	assert_non_null(e->c);
	control_registry_init(&e->reg);
	assert_int_equal(canary_register_commands(e->c, &e->reg), 0);
	io.n = 0; /* forget the first save */
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	canary_free(e->c);
	weights_free(e->w);
	stats_free(e->stats);
	event_base_free(e->base);
	config_free(e->cfg);
	clock_set_source(NULL);
	free(e);
	return 0;
}

/* LINE's whole reply through the control protocol. Release with free(). */
static char *command(struct env *e, const char *line)
{
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *s;

	assert_non_null(out);
	control_execute(&e->reg, line, strlen(line), out);
	n = evbuffer_get_length(out);
	s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(out, s, n);
	s[n] = '\0';
	evbuffer_free(out);
	return s;
}

static void expect_reply(struct env *e, const char *line, const char *reply)
{
	char *got = command(e, line);
	assert_string_equal(got, reply);
	free(got);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_start_persists_then_publishes(void **state)
{
	struct env *e = *state;

	/* setup: the first state was saved; the weight of the file wins. */
	assert_int_equal(weights_published(e->w), 500);
	assert_int_equal(weights_current(e->w), 500);
	assert_string_equal(guard_state_name(canary_guard(e->c)->state), "watching");
}

/* Persist before publish: state file, then event, then the new weight. */
static void test_set_weight_persists_before_publish(void **state)
{
	struct env *e = *state;

	io.now_us += 5000000;
	expect_reply(e, "set weight canary 20", "OK\n\n");
	assert_int_equal(io.n, 2);
	assert_string_equal(io.calls[0].what, "save");
	assert_int_equal(io.calls[0].weight, 2000);
	assert_string_equal(io.calls[0].detail, "watching");
	assert_int_equal(io.calls[0].published, 500);     /* not yet published */
	assert_string_equal(io.calls[1].what, "append");
	assert_string_equal(io.calls[1].detail, "set_weight");
	assert_int_equal(io.calls[1].published, 500);     /* logged before the change */
	assert_int_equal(weights_published(e->w), 2000);  /* then published, then OK */
	/* The guard re-armed at the injected time. */
	assert_int_equal(canary_guard(e->c)->since_ms, io.now_us / 1000);
	assert_int_equal(weights_changes(e->w, WEIGHTS_ACTOR_CONTROL), 1);
	assert_int_equal(weights_recent_count(e->w), 1);
}

/* A failed state-file write leaves the published weight and the guard as
 * they were, appends no event, and answers ERR with the reason. */
static void test_failed_save_changes_nothing(void **state)
{
	struct env *e = *state;
	uint64_t since = canary_guard(e->c)->since_ms;

	io.fail_save = true;
	io.now_us += 5000000;
	expect_reply(e, "set weight canary 20",
	             "ERR cannot write state file /nonexistent/weir/state: No space left on device\n\n");
	assert_int_equal(io.n, 1);
	assert_string_equal(io.calls[0].what, "save");
	assert_int_equal(weights_published(e->w), 500);
	assert_int_equal(weights_current(e->w), 500);
	assert_int_equal(canary_guard(e->c)->since_ms, since);
	assert_int_equal(weights_changes(e->w, WEIGHTS_ACTOR_CONTROL), 0);
	assert_int_equal(weights_recent_count(e->w), 0);

	expect_reply(e, "promote",
	             "ERR cannot write state file /nonexistent/weir/state: No space left on device\n\n");
	assert_int_equal(weights_published(e->w), 500);
}

/* An event that cannot be appended is not acknowledged: the state file is
 * put back to the old weight and nothing is published. */
static void test_failed_append_restores_state_file(void **state)
{
	struct env *e = *state;

	io.fail_append = true;
	expect_reply(e, "set weight baseline 70", "ERR cannot append to event log: Input/output error\n\n");
	assert_int_equal(io.n, 3);
	assert_string_equal(io.calls[0].what, "save");
	assert_int_equal(io.calls[0].weight, 3000);
	assert_string_equal(io.calls[1].what, "append");
	assert_string_equal(io.calls[2].what, "save");
	assert_int_equal(io.calls[2].weight, 500);        /* the old state back */
	assert_string_equal(io.calls[2].detail, "watching");
	assert_int_equal(weights_published(e->w), 500);
}

/* The operator's rollback keeps the operator's promise too: when the state
 * file cannot be written it answers ERR and the canary keeps its weight
 * (the operator can retry; only the guard's rollback bypasses the disk). */
static void test_operator_rollback_is_persisted_first(void **state)
{
	struct env *e = *state;

	io.fail_save = true;
	expect_reply(e, "rollback bad deploy",
	             "ERR cannot write state file /nonexistent/weir/state: No space left on device\n\n");
	assert_int_equal(weights_published(e->w), 500);
	assert_string_equal(guard_state_name(canary_guard(e->c)->state), "watching");

	io.fail_save = false;
	io.n = 0;
	io.now_us += 1000000;
	expect_reply(e, "rollback bad deploy", "OK\n\n");
	assert_int_equal(io.n, 2);
	assert_string_equal(io.calls[0].detail, "rolled_back");
	assert_int_equal(io.calls[0].published, 500);
	assert_string_equal(io.calls[1].detail, "rollback");
	assert_int_equal(io.calls[1].weight, 0);
	assert_int_equal(weights_published(e->w), 0);
	assert_string_equal(guard_state_name(canary_guard(e->c)->state), "rolled_back");
	assert_string_equal(canary_guard(e->c)->state_reason, "bad deploy");
	assert_int_equal(canary_guard(e->c)->since_ms, io.now_us / 1000);
}

/* The guard's rollback wins over the disk: published first, then both
 * persistence steps are still attempted, and their failures only logged. */
static void test_guard_rollback_wins(void **state)
{
	struct env *e = *state;
	struct weights_change ch = { .after = 0, .rec = { .guard_state = "rolled_back", .rollout_step = -1 },
	                             .actor = WEIGHTS_ACTOR_GUARD, .action = "rollback",
	                             .reason = "canary error_rate 0.200 > 0.020 for 5s" };

	io.fail_save = true;
	io.fail_append = true;
	weights_change_now(e->w, &ch);
	assert_int_equal(weights_published(e->w), 0);
	assert_int_equal(io.n, 2);
	assert_string_equal(io.calls[0].what, "save");
	assert_int_equal(io.calls[0].published, 0);       /* users first */
	assert_string_equal(io.calls[1].what, "append");
	assert_int_equal(io.calls[1].published, 0);
	assert_int_equal(weights_changes(e->w, WEIGHTS_ACTOR_GUARD), 1);
}

/* pause and resume change no weight but are persisted before they hold. */
static void test_pause_persisted_first(void **state)
{
	struct env *e = *state;

	io.fail_append = true;
	expect_reply(e, "pause", "ERR cannot append to event log: Input/output error\n\n");
	assert_string_equal(guard_state_name(canary_guard(e->c)->state), "watching");
	io.fail_append = false;
	io.n = 0;
	expect_reply(e, "pause", "OK\n\n");
	assert_int_equal(io.n, 2);
	assert_string_equal(io.calls[0].detail, "paused");
	assert_string_equal(io.calls[1].detail, "pause");
	assert_string_equal(guard_state_name(canary_guard(e->c)->state), "paused");
	assert_int_equal(weights_published(e->w), 500);
}

/* A fleet's committed change, as every member applies it: published first,
 * then persisted, the guard following; a rollback this member applied
 * already (its own) changes nothing and logs no second event. */
static void test_fleet_apply(void **state)
{
	struct env *e = *state;
	struct canary_fleet_change set = { .after = 2500, .actor = WEIGHTS_ACTOR_CONTROL, .action = "set_weight",
	                                   .node = "weir-b" };
	struct canary_fleet_change rb = { .after = 0, .rollback = true, .actor = WEIGHTS_ACTOR_GUARD,
	                                  .action = "rollback", .reason = "canary error_rate 0.3 > 0.05",
	                                  .node = "weir-a" };

	canary_apply_fleet(e->c, &set);
	assert_int_equal(weights_published(e->w), 2500);
	assert_int_equal(io.n, 2);
	assert_string_equal(io.calls[0].what, "save");
	assert_int_equal(io.calls[0].published, 2500);   /* committed: users first */
	assert_string_equal(io.calls[1].detail, "set_weight");
	assert_string_equal(guard_state_name(canary_guard(e->c)->state), "watching");

	io.n = 0;
	canary_apply_fleet(e->c, &rb);
	assert_int_equal(weights_published(e->w), 0);
	assert_int_equal(io.n, 2);
	assert_string_equal(io.calls[1].detail, "rollback");
	assert_string_equal(guard_state_name(canary_guard(e->c)->state), "rolled_back");
	assert_string_equal(canary_guard(e->c)->state_reason, "canary error_rate 0.3 > 0.05");
	assert_true(canary_rolled_back(e->c));

	io.n = 0;
	canary_apply_fleet(e->c, &rb); /* the same rollback coming back from etcd */
	assert_int_equal(io.n, 0);

	uint32_t target;
	char err[256];
	assert_int_equal(canary_plan_promote(e->c, &target, err, sizeof(err)), 0);
	assert_int_equal(target, WEIGHT_SCALE); /* no rollout: promote is 100 */
	assert_int_equal(weights_published(e->w), 0); /* planning changes nothing */
}

static void decided_nothing(void *ctx, const struct canary_fleet_change *ch)
{
	(void)ctx;
	(void)ch;
}

static bool never_judge(void *ctx)
{
	(void)ctx;
	return false;
}

/* The pending mark of a fleet rollback is persisted with the weights, and
 * with it the weights revision the rollback was decided on. */
static void test_fleet_hooks(void **state)
{
	struct env *e = *state;
	static const struct canary_fleet_hooks hooks = { .decided = decided_nothing, .may_judge = never_judge };
	char err[256];
	int64_t base = -1;

	canary_set_fleet(e->c, &hooks, NULL, "weir-a");
	assert_false(canary_fleet_pending(e->c, &base));
	assert_int_equal(base, 0);
	assert_int_equal(canary_set_fleet_pending(e->c, true, 41, err, sizeof(err)), 0);
	assert_int_equal(io.n, 1);
	assert_string_equal(io.calls[0].what, "save");
	assert_true(io.saved_pending);
	assert_int_equal(io.saved_base, 41);
	assert_true(canary_fleet_pending(e->c, &base));
	assert_int_equal(base, 41);
	io.n = 0;
	assert_int_equal(canary_set_fleet_pending(e->c, true, 41, err, sizeof(err)), 0);
	assert_int_equal(io.n, 0); /* nothing new to write */
	assert_int_equal(canary_set_fleet_pending(e->c, true, 57, err, sizeof(err)), 0);
	assert_int_equal(io.n, 1); /* a later rollback, on a later revision */
	assert_int_equal(io.saved_base, 57);
	assert_int_equal(canary_set_fleet_pending(e->c, false, 57, err, sizeof(err)), 0);
	assert_false(io.saved_pending);
	assert_int_equal(io.saved_base, 0); /* no base without its rollback */
	assert_false(canary_fleet_pending(e->c, &base));
	assert_int_equal(base, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_persists_then_publishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_weight_persists_before_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_save_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_append_restores_state_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator_rollback_is_persisted_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_rollback_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_persisted_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_hooks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
