/* Unit tests for state: the state file (round trip, strict validation with
 * actionable messages, atomic replacement that leaves no temporary file
 * behind) and the event log (exact JSON lines, escaping, and reading the
 * tail of a log that is large, torn or holds lines that are not events).
 * Every test works in its own directory under /tmp, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weir/state.h"

/* ---- fixtures ------------------------------------------------------------ */

struct tdir {
	char dir[64];
	char state[128];              /* DIR/state */
	char log[128];                /* DIR/events.log */
};

static int setup_dir(void **ctx)
{
	struct tdir *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/weir-test-state-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/events.log", t->dir);
	umask(022);
	*ctx = t;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);            /* a read-only directory test may have left one */
	return remove(path);
}

static int teardown_dir(void **ctx)
{
	struct tdir *t = *ctx;

	chmod(t->dir, 0700);
	nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
	write_file(path, text, strlen(text));
}

static void append_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "ab");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The whole file as a NUL-terminated string; free it. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The names in DIR other than . and .., each followed by '|', in directory
 * order into OUT; returns their count. */
static int list_dir(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	out[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		strncat(out, e->d_name, outlen - strlen(out) - 1);
		strncat(out, "|", outlen - strlen(out) - 1);
		n++;
	}
	closedir(d);
	return n;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		print_error("expected \"%s\" in: %s\n", needle, haystack);
	assert_non_null(strstr(haystack, needle));
}

/* ---- state file: round trip ---------------------------------------------- */

static const char *const all_states[] = {
	"idle", "watching", "breaching", "rolled_back", "paused", "promoted",
};

static void test_round_trip(void **ctx)
{
	struct tdir *t = *ctx;
	static const uint32_t weights[] = { 0, 1, 500, 9999, 10000, 1234, 5050 };
	static const int steps[] = { -1, 0, 1, 4, 1000 };
	char err[512];

	for (size_t w = 0; w < sizeof(weights) / sizeof(weights[0]); w++) {
		for (size_t g = 0; g < sizeof(all_states) / sizeof(all_states[0]); g++) {
			for (size_t r = 0; r < sizeof(steps) / sizeof(steps[0]); r++) {
				struct weir_state in = { .canary_weight = weights[w], .rollout_step = steps[r] };
				struct weir_state out;

				snprintf(in.guard_state, sizeof(in.guard_state), "%s", all_states[g]);
				memset(&out, 0x5a, sizeof(out));
				err[0] = '\0';
				assert_int_equal(state_save(t->state, &in, err, sizeof(err)), 0);
				assert_int_equal(state_load(t->state, &out, err, sizeof(err)), 1);
				assert_int_equal(out.canary_weight, weights[w]);
				assert_string_equal(out.guard_state, all_states[g]);
				assert_int_equal(out.rollout_step, steps[r]);
			}
		}
	}
}

/* A fleet member's rollback still to write survives a restart; the line is
 * written only when true, so weir alone writes the files it always wrote. */
static void test_fleet_pending(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state in = { .canary_weight = 0, .guard_state = "rolled_back", .rollout_step = -1,
	                         .fleet_rollback_pending = true }, out;
	char err[512] = "";
	FILE *f;
	char text[1024];
	size_t n;

	assert_int_equal(state_save(t->state, &in, err, sizeof(err)), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(state_load(t->state, &out, err, sizeof(err)), 1);
	assert_true(out.fleet_rollback_pending);
	in.fleet_rollback_pending = false;
	assert_int_equal(state_save(t->state, &in, err, sizeof(err)), 0);
	f = fopen(t->state, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_null(strstr(text, "fleet"));
	out.fleet_rollback_pending = true;
	assert_int_equal(state_load(t->state, &out, err, sizeof(err)), 1);
	assert_false(out.fleet_rollback_pending);
	write_text(t->state, "version = 1; canary_weight = 0.0; guard_state = \"idle\"; rollout_step = -1;\n"
	                     "fleet_rollback_pending = 1;\n");
	assert_int_equal(state_load(t->state, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fleet_rollback_pending must be true or false"));

	/* The revision the rollback was decided on: kept with it (beyond 32
	 * bits too), never without it; absent (an older weir's file) is 0,
	 * unknown. */
	in.fleet_rollback_pending = true;
	in.fleet_rollback_base = 5000000000LL;
	assert_int_equal(state_save(t->state, &in, err, sizeof(err)), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(state_load(t->state, &out, err, sizeof(err)), 1);
	assert_true(out.fleet_rollback_pending);
	assert_true(out.fleet_rollback_base == 5000000000LL);
	in.fleet_rollback_pending = false;
	assert_int_equal(state_save(t->state, &in, err, sizeof(err)), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(state_load(t->state, &out, err, sizeof(err)), 1);
	assert_int_equal(out.fleet_rollback_base, 0);
	/* Hand-written: absent is unknown (0), an int or int64 is taken, a
	 * negative number or a string is refused. */
	static const struct {
		const char *lines, *phrase; /* PHRASE NULL: loads */
		int64_t base;
	} cases[] = {
		{ "fleet_rollback_pending = true;\n", NULL, 0 },
		{ "fleet_rollback_pending = true; fleet_rollback_base = 1234;\n", NULL, 1234 },
		{ "fleet_rollback_pending = true; fleet_rollback_base = 9000000000L;\n", NULL, 9000000000LL },
		{ "fleet_rollback_pending = true; fleet_rollback_base = -3;\n", "fleet_rollback_base must be a revision", 0 },
		{ "fleet_rollback_pending = true; fleet_rollback_base = \"12\";\n", "fleet_rollback_base must be a revision",
		  0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char file[256];
		snprintf(file, sizeof(file), "version = 1; canary_weight = 0.0; guard_state = \"rolled_back\"; "
		         "rollout_step = -1;\n%s", cases[i].lines);
		write_text(t->state, file);
		out.fleet_rollback_base = 7;
		err[0] = '\0';
		int rc = state_load(t->state, &out, err, sizeof(err));
		if (cases[i].phrase) {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, cases[i].phrase));
		} else {
			assert_int_equal(rc, 1);
			assert_true(out.fleet_rollback_pending);
			assert_true(out.fleet_rollback_base == cases[i].base);
		}
	}
}

static void test_file_format(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st = { .canary_weight = 500, .guard_state = "watching", .rollout_step = -1 };
	struct stat sb;
	char err[512], *text;

	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), 0);
	text = read_text(t->state);
	assert_string_equal(text, "# weir state: written by weir, do not edit while it runs\n"
	                          "version = 1;\n"
	                          "canary_weight = 5.00;      # percent\n"
	                          "guard_state = \"watching\";\n"
	                          "rollout_step = -1;\n");
	free(text);
	assert_int_equal(stat(t->state, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
}

/* Hand-written files an operator could produce are read as well. */
static void test_load_hand_written(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st;
	char err[512];

	write_text(t->state, "rollout_step = 2; guard_state = \"paused\";\n"
	                     "canary_weight = 25;  // an integer is a percentage too\n"
	                     "version = 1;\n");
	assert_int_equal(state_load(t->state, &st, err, sizeof(err)), 1);
	assert_int_equal(st.canary_weight, 2500);
	assert_string_equal(st.guard_state, "paused");
	assert_int_equal(st.rollout_step, 2);

	write_text(t->state, "version = 1;\ncanary_weight = 99.99;\nguard_state = \"idle\";\n"
	                     "rollout_step = -1;\n");
	assert_int_equal(state_load(t->state, &st, err, sizeof(err)), 1);
	assert_int_equal(st.canary_weight, 9999);

	write_text(t->state, "version = 1;\ncanary_weight = 0.01;\nguard_state = \"idle\";\n"
	                     "rollout_step = -1;\n");
	assert_int_equal(state_load(t->state, &st, err, sizeof(err)), 1);
	assert_int_equal(st.canary_weight, 1);
}

static void test_load_missing(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st = { .canary_weight = 777, .guard_state = "idle", .rollout_step = 3 };
	char err[512] = "";

	assert_int_equal(state_load(t->state, &st, err, sizeof(err)), 0);
	assert_int_equal(st.canary_weight, 777);       /* untouched */
	assert_string_equal(err, "");
}

/* ---- state file: invalid files ------------------------------------------- */

#define GOOD_TAIL "guard_state = \"watching\";\nrollout_step = -1;\n"

struct bad_case {
	const char *name;
	const char *text;
	size_t len;                   /* 0: strlen(text) */
	const char *expect;           /* also in the message */
};

static const struct bad_case bad_cases[] = {
	{ "garbage", "\x7f" "ELF\x02\x01\x01 binary junk \xff\xfe", 0, "line 1" },
	{ "syntax error", "version = 1;\ncanary_weight = ;\n" GOOD_TAIL, 0, "line 2" },
	{ "missing semicolon", "version = 1\ncanary_weight 5.0;\n" GOOD_TAIL, 0, "line 2" },
	{ "weight 101", "version = 1;\ncanary_weight = 101.0;\n" GOOD_TAIL, 0,
	  "line 2: canary_weight must be between 0 and 100" },
	{ "weight negative", "version = 1;\ncanary_weight = -0.01;\n" GOOD_TAIL, 0, "between 0 and 100" },
	{ "weight 5.005", "version = 1;\ncanary_weight = 5.005;\n" GOOD_TAIL, 0,
	  "line 2: canary_weight must be a multiple of 0.01" },
	{ "weight string", "version = 1;\ncanary_weight = \"5\";\n" GOOD_TAIL, 0,
	  "canary_weight must be a number" },
	{ "bad guard state", "version = 1;\ncanary_weight = 5.0;\nguard_state = \"sleeping\";\n"
	  "rollout_step = -1;\n", 0, "line 3: guard_state must be one of idle, watching" },
	{ "guard state number", "version = 1;\ncanary_weight = 5.0;\nguard_state = 1;\n"
	  "rollout_step = -1;\n", 0, "line 3: guard_state must be one of" },
	{ "unknown key", "version = 1;\ncanary_weight = 5.0;\n" GOOD_TAIL "colour = \"blue\";\n", 0,
	  "line 5: unknown setting \"colour\"" },
	{ "unknown group", "version = 1;\ncanary_weight = 5.0;\n" GOOD_TAIL "extra = { a = 1; };\n", 0,
	  "unknown setting \"extra\"" },
	{ "missing version", "canary_weight = 5.0;\n" GOOD_TAIL, 0, "version is missing" },
	{ "missing weight", "version = 1;\n" GOOD_TAIL, 0, "canary_weight is missing" },
	{ "missing guard", "version = 1;\ncanary_weight = 5.0;\nrollout_step = -1;\n", 0,
	  "guard_state is missing" },
	{ "missing step", "version = 1;\ncanary_weight = 5.0;\nguard_state = \"idle\";\n", 0,
	  "rollout_step is missing" },
	{ "version 2", "version = 2;\ncanary_weight = 5.0;\n" GOOD_TAIL, 0, "line 1: version must be 1" },
	{ "version string", "version = \"1\";\ncanary_weight = 5.0;\n" GOOD_TAIL, 0, "version must be 1" },
	{ "version float", "version = 1.0;\ncanary_weight = 5.0;\n" GOOD_TAIL, 0, "version must be 1" },
	{ "step -2", "version = 1;\ncanary_weight = 5.0;\nguard_state = \"idle\";\nrollout_step = -2;\n", 0,
	  "line 4: rollout_step must be -1" },
	{ "step float", "version = 1;\ncanary_weight = 5.0;\nguard_state = \"idle\";\nrollout_step = 1.5;\n",
	  0, "rollout_step must be an integer" },
	{ "duplicate key", "version = 1;\ncanary_weight = 5.0;\ncanary_weight = 6.0;\n" GOOD_TAIL, 0,
	  "line 3" },
	{ "empty file", "", 0, "the file is empty" },
	{ "only a comment", "# nothing here\n", 0, "version is missing" },
};

static void test_load_invalid(void **ctx)
{
	struct tdir *t = *ctx;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct weir_state st = { .canary_weight = 4242, .guard_state = "idle", .rollout_step = 7 };
		char err[512] = "";
		int rc;

		write_file(t->state, c->text, c->len ? c->len : strlen(c->text));
		rc = state_load(t->state, &st, err, sizeof(err));
		if (rc != -1)
			print_error("case \"%s\": state_load returned %d\n", c->name, rc);
		assert_int_equal(rc, -1);
		if (!strstr(err, t->state) || !strstr(err, "remove it") || !strstr(err, c->expect) ||
		    strchr(err, '\n'))
			print_error("case \"%s\": message: %s\n", c->name, err);
		assert_contains(err, t->state);
		assert_contains(err, "fix it or remove it to start from split.canary_weight");
		assert_contains(err, c->expect);
		assert_null(strchr(err, '\n'));
		assert_int_equal(st.canary_weight, 4242);      /* never half-loaded */
		assert_int_equal(st.rollout_step, 7);
	}
}

static void test_load_directory(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st;
	char err[512];

	assert_int_equal(mkdir(t->state, 0750), 0);
	assert_int_equal(state_load(t->state, &st, err, sizeof(err)), -1);
	assert_contains(err, t->state);
	assert_contains(err, "directory");
	assert_contains(err, "remove it");
}

/* ---- state file: saving -------------------------------------------------- */

static void test_save_leaves_no_temp(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st = { .canary_weight = 0, .guard_state = "idle", .rollout_step = -1 };
	char err[512], names[512];

	for (uint32_t w = 0; w <= 10000; w += 2500) {
		st.canary_weight = w;
		assert_int_equal(state_save(t->state, &st, err, sizeof(err)), 0);
		assert_int_equal(list_dir(t->dir, names, sizeof(names)), 1);
		assert_string_equal(names, "state|");
	}
}

/* A temporary file left by an earlier process with our pid (a crash, then a
 * reboot) does not block saving. */
static void test_save_over_stale_temp(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st = { .canary_weight = 100, .guard_state = "watching", .rollout_step = 0 };
	char err[512], names[512], tmp[256];

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", t->state, (long)getpid());
	write_text(tmp, "half a state");
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), 0);
	assert_int_equal(list_dir(t->dir, names, sizeof(names)), 1);
	assert_string_equal(names, "state|");
}

/* What saves killed mid-way left: the files of dead pids (and of our own)
 * go at start, a live process's stays (it may be mid-save), and nothing
 * that merely looks like one is touched. */
static void test_remove_stale_temps(void **ctx)
{
	struct tdir *t = *ctx;
	char err[512], dead[256], mine[256], live[256], dir_named[256], keep[6][256];
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	snprintf(dead, sizeof(dead), "%s.tmp.%ld", t->state, (long)child);
	snprintf(mine, sizeof(mine), "%s.tmp.%ld", t->state, (long)getpid());
	snprintf(live, sizeof(live), "%s.tmp.%ld", t->state, (long)getppid());
	snprintf(keep[0], sizeof(keep[0]), "%s.tmp.%ldx", t->state, (long)child);
	snprintf(keep[1], sizeof(keep[1]), "%s.tmp.", t->state);
	snprintf(keep[2], sizeof(keep[2]), "%s.tmpx.%ld", t->state, (long)child);
	snprintf(keep[3], sizeof(keep[3]), "%s/other.tmp.%ld", t->dir, (long)child);
	snprintf(keep[4], sizeof(keep[4]), "%s.tmp.99999999999999999999", t->state);
	snprintf(keep[5], sizeof(keep[5]), "%s.tmp.0%ld", t->state, (long)child);  /* never written */
	write_text(dead, "torn");
	write_text(mine, "torn");
	write_text(live, "busy");
	for (int i = 0; i < 6; i++)
		write_text(keep[i], "not ours");
	assert_int_equal(state_remove_stale_temps(t->state, err, sizeof(err)), 2);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(mine, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(access(keep[i], F_OK), 0);
	/* A directory of that name is not a temporary file. */
	snprintf(dir_named, sizeof(dir_named), "%s.tmp.%ld", t->state, (long)child);
	assert_int_equal(mkdir(dir_named, 0700), 0);
	assert_int_equal(state_remove_stale_temps(t->state, err, sizeof(err)), 0);
	assert_int_equal(access(dir_named, F_OK), 0);
	/* No directory yet: nothing to do (state_save names it). */
	snprintf(dir_named, sizeof(dir_named), "%s/missing/state", t->dir);
	assert_int_equal(state_remove_stale_temps(dir_named, err, sizeof(err)), 0);
}

/* A pid that is not running: a child that has been reaped. */
static pid_t dead_pid(void)
{
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	return child;
}

/* Another user's file of that name is not a save of ours, and a file that
 * cannot be removed is reported without stopping the scan. */
static void test_remove_stale_temps_owner_and_failures(void **ctx)
{
	struct tdir *t = *ctx;
	char err[512] = "", a[256], b[256];
	const uid_t nobody = 65534;
	pid_t child;
	int status;

	snprintf(a, sizeof(a), "%s.tmp.%ld", t->state, (long)dead_pid());
	snprintf(b, sizeof(b), "%s.tmp.%ld", t->state, (long)dead_pid());
	write_text(a, "torn");
	write_text(b, "torn");
	if (geteuid() == 0) {
		assert_int_equal(chown(a, nobody, nobody), 0);
		assert_int_equal(state_remove_stale_temps(t->state, err, sizeof(err)), 1);
		assert_int_equal(access(a, F_OK), 0);
		assert_int_equal(access(b, F_OK), -1);
		write_text(b, "torn");
		assert_int_equal(chown(b, nobody, nobody), 0);
		assert_int_equal(chown(t->dir, nobody, nobody), 0);
	} else {
		print_message("not root: skipping the other-owner half\n");
	}
	/* In a child (as nobody when we are root, since root ignores modes):
	 * a directory it may not write, two stale files; both are tried. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int r, ok;

		if (geteuid() == 0 && (setgid(nobody) < 0 || setuid(nobody) < 0))
			_exit(10);
		if (chmod(t->dir, 0500) < 0)
			_exit(11);
		r = state_remove_stale_temps(t->state, err, sizeof(err));
		ok = r == -1 && strstr(err, "cannot remove ") != NULL && strstr(err, "(and 1 more)") != NULL &&
		     access(a, F_OK) == 0 && access(b, F_OK) == 0;
		if (!ok)
			fprintf(stderr, "r=%d err=%s\n", r, err);
		(void)chmod(t->dir, 0700);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_save_missing_dir(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st = { .canary_weight = 500, .guard_state = "watching", .rollout_step = -1 };
	char err[512] = "", path[256], dir[200];

	snprintf(dir, sizeof(dir), "%s/nope", t->dir);
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(state_save(path, &st, err, sizeof(err)), -1);
	assert_contains(err, "cannot write state file");
	assert_contains(err, path);
	assert_contains(err, "No such file or directory");
	assert_contains(err, dir);
}

static void test_save_readonly_dir(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st = { .canary_weight = 500, .guard_state = "watching", .rollout_step = -1 };
	char err[512] = "", names[512];

	if (geteuid() == 0)
		skip();                   /* root writes through any permission */
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), 0);
	assert_int_equal(chmod(t->dir, 0500), 0);
	st.canary_weight = 0;
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), -1);
	assert_contains(err, t->state);
	assert_contains(err, "Permission denied");
	assert_int_equal(chmod(t->dir, 0700), 0);
	assert_int_equal(state_load(t->state, &st, err, sizeof(err)), 1);
	assert_int_equal(st.canary_weight, 500);        /* the old state survives */
	assert_int_equal(list_dir(t->dir, names, sizeof(names)), 1);
}

/* A failure after the temporary file exists (here the rename: the target
 * is a directory) removes it. */
static void test_save_failure_removes_temp(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state st = { .canary_weight = 500, .guard_state = "watching", .rollout_step = -1 };
	char err[512] = "", names[512];

	assert_int_equal(mkdir(t->state, 0750), 0);
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), -1);
	assert_contains(err, "cannot write state file");
	assert_contains(err, t->state);
	assert_contains(err, "rename");
	assert_int_equal(list_dir(t->dir, names, sizeof(names)), 1);
	assert_string_equal(names, "state|");
}

/* What state_load would refuse is never written. */
static void test_save_refuses_invalid(void **ctx)
{
	struct tdir *t = *ctx;
	struct weir_state good = { .canary_weight = 500, .guard_state = "watching", .rollout_step = -1 };
	struct weir_state st;
	char err[512], names[512];

	st = good;
	st.canary_weight = 10001;
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), -1);
	st = good;
	snprintf(st.guard_state, sizeof(st.guard_state), "bogus\"");
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), -1);
	st = good;
	st.rollout_step = -2;
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), -1);
	st = good;
	memset(st.guard_state, 'x', sizeof(st.guard_state));   /* no terminator */
	assert_int_equal(state_save(t->state, &st, err, sizeof(err)), -1);
	assert_contains(err, t->state);
	assert_int_equal(list_dir(t->dir, names, sizeof(names)), 0);
}

/* ---- event log: writing -------------------------------------------------- */

static struct event_log *open_log(const struct tdir *t)
{
	char err[512] = "";
	struct event_log *log = event_log_open(t->log, err, sizeof(err));

	if (!log)
		print_error("event_log_open: %s\n", err);
	assert_non_null(log);
	return log;
}

static void append(struct event_log *log, const char *actor, const char *action, uint32_t before,
                   uint32_t after, const char *reason, char *line, size_t linelen)
{
	struct weir_event ev = { .actor = actor, .action = action, .before = before, .after = after,
	                         .reason = reason };
	char err[512] = "";
	int rc = event_log_append(log, &ev, line, linelen, err, sizeof(err));

	if (rc != 0)
		print_error("event_log_append: %s\n", err);
	assert_int_equal(rc, 0);
}

/* LINE is {"time":"YYYY-MM-DDTHH:MM:SS.mmmZ then REST exactly (from the
 * quote that closes the time); the time is UTC and within a minute of now. */
static void assert_event(const char *line, const char *rest)
{
	static const char pre[] = "{\"time\":\"";
	const char *ts = line + sizeof(pre) - 1;
	struct tm tm = { 0 };
	time_t when;

	if (strncmp(line, pre, sizeof(pre) - 1) != 0 || strlen(line) < sizeof(pre) - 1 + 24 ||
	    strcmp(ts + 24, rest) != 0)
		print_error("event line: %s\nexpected time, then: %s\n", line, rest);
	assert_memory_equal(line, pre, sizeof(pre) - 1);
	assert_true(strlen(line) >= sizeof(pre) - 1 + 24);
	for (int i = 0; i < 24; i++) {
		const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";

		if (shape[i] == 'd')
			assert_true(ts[i] >= '0' && ts[i] <= '9');
		else
			assert_int_equal(ts[i], shape[i]);
	}
	assert_string_equal(ts + 24, rest);
	assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	when = timegm(&tm);
	assert_true(when >= time(NULL) - 60 && when <= time(NULL) + 1);
}

/* A fleet member's event names the node that decided; weir alone writes no
 * node field at all. */
static void test_events_node(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	struct weir_event ev = { .actor = "guard", .action = "rollback", .before = 500, .after = 0,
	                         .reason = "r", .node = "weir-b" };
	char line[2048], err[512] = "";

	assert_int_equal(event_log_append(log, &ev, line, sizeof(line), err, sizeof(err)), 0);
	assert_event(line, "\",\"actor\":\"guard\",\"action\":\"rollback\",\"before\":{\"baseline\":95.00,"
	                   "\"canary\":5.00},\"after\":{\"baseline\":100.00,\"canary\":0.00},\"reason\":\"r\","
	                   "\"node\":\"weir-b\"}");
	ev.node = NULL;
	ev.reason = NULL;
	assert_int_equal(event_format_line(&ev, line, sizeof(line), err, sizeof(err)), 0);
	assert_null(strstr(line, "node"));
	event_log_close(log);
}

static void read_last(const struct tdir *t, unsigned n, char ***lines, size_t *count)
{
	char err[512] = "";
	int rc = event_log_read_last(t->log, n, lines, count, err, sizeof(err));

	if (rc != 0)
		print_error("event_log_read_last: %s\n", err);
	assert_int_equal(rc, 0);
}

static void test_events_last_two(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	char line[3][2048], **lines;
	size_t count;
	struct stat sb;

	append(log, "config", "start", 0, 500, NULL, line[0], sizeof(line[0]));
	append(log, "control", "set_weight", 500, 1000, "ops ticket 42", line[1], sizeof(line[1]));
	append(log, "guard", "rollback", 1000, 0, "canary error_rate 0.200 > 0.020 for 5s", line[2],
	       sizeof(line[2]));
	event_log_close(log);

	read_last(t, 2, &lines, &count);
	assert_int_equal(count, 2);
	assert_event(lines[0], "\",\"actor\":\"control\",\"action\":\"set_weight\","
	                       "\"before\":{\"baseline\":95.00,\"canary\":5.00},"
	                       "\"after\":{\"baseline\":90.00,\"canary\":10.00},"
	                       "\"reason\":\"ops ticket 42\"}");
	assert_event(lines[1], "\",\"actor\":\"guard\",\"action\":\"rollback\","
	                       "\"before\":{\"baseline\":90.00,\"canary\":10.00},"
	                       "\"after\":{\"baseline\":100.00,\"canary\":0.00},"
	                       "\"reason\":\"canary error_rate 0.200 > 0.020 for 5s\"}");
	/* LINE is exactly what was written. */
	assert_string_equal(lines[0], line[1]);
	assert_string_equal(lines[1], line[2]);
	event_log_lines_free(lines, count);

	assert_int_equal(stat(t->log, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
}

static void test_events_null_reason_and_extremes(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	char line[2048], **lines;
	size_t count;

	append(log, "rollout", "promote", 9999, 10000, NULL, line, sizeof(line));
	assert_event(line, "\",\"actor\":\"rollout\",\"action\":\"promote\","
	                   "\"before\":{\"baseline\":0.01,\"canary\":99.99},"
	                   "\"after\":{\"baseline\":0.00,\"canary\":100.00},\"reason\":null}");
	/* LINE is optional. */
	append(log, "control", "pause", 1, 1, "", NULL, 0);
	event_log_close(log);

	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 2);
	assert_event(lines[1], "\",\"actor\":\"control\",\"action\":\"pause\","
	                       "\"before\":{\"baseline\":99.99,\"canary\":0.01},"
	                       "\"after\":{\"baseline\":99.99,\"canary\":0.01},\"reason\":\"\"}");
	event_log_lines_free(lines, count);
}

static void test_events_escaping(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	char line[2048], **lines;
	size_t count;

	append(log, "control", "rollback", 500, 0,
	       "say \"no\"\n\tC:\\path \x01\x1f\x7f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6", line,
	       sizeof(line));
	assert_event(line, "\",\"actor\":\"control\",\"action\":\"rollback\","
	                   "\"before\":{\"baseline\":95.00,\"canary\":5.00},"
	                   "\"after\":{\"baseline\":100.00,\"canary\":0.00},"
	                   "\"reason\":\"say \\\"no\\\"\\u000a\\u0009C:\\\\path \\u0001\\u001f\\u007f "
	                   "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6\"}");
	/* Invalid UTF-8: a stray continuation byte, 0xff, an overlong '/', a
	 * surrogate, a code point above U+10FFFF and a sequence cut short at
	 * the end: every offending byte becomes U+FFFD. */
	append(log, "control", "rollback", 500, 0,
	       "a\x80" "b\xff" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80\x80" "f\xe2\x82", line,
	       sizeof(line));
	assert_event(line, "\",\"actor\":\"control\",\"action\":\"rollback\","
	                   "\"before\":{\"baseline\":95.00,\"canary\":5.00},"
	                   "\"after\":{\"baseline\":100.00,\"canary\":0.00},"
	                   "\"reason\":\"a\\ufffdb\\ufffdc\\ufffd\\ufffdd\\ufffd\\ufffd\\ufffd"
	                   "e\\ufffd\\ufffd\\ufffd\\ufffdf\\ufffd\\ufffd\"}");
	event_log_close(log);

	/* What was written is what is read back. */
	read_last(t, 1, &lines, &count);
	assert_int_equal(count, 1);
	assert_string_equal(lines[0], line);
	event_log_lines_free(lines, count);
}

/* The reason is capped at 1024 bytes of escaped text, cut between
 * characters and marked with "...", so every line fits 2048 bytes. */
static void test_events_long_reason(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	char line[2048], *reason = malloc(100001);
	const char *r, *end;

	assert_non_null(reason);
	/* Exactly 1024 bytes: kept whole. */
	memset(reason, 'a', 1024);
	reason[1024] = '\0';
	append(log, "control", "rollback", 500, 0, reason, line, sizeof(line));
	r = strstr(line, "\"reason\":\"") + 10;
	end = strrchr(line, '"');
	assert_int_equal(end - r, 1024);
	assert_memory_equal(r, reason, 1024);

	/* 1025: cut to 1021 and the marker. */
	reason[1024] = 'b';
	reason[1025] = '\0';
	append(log, "control", "rollback", 500, 0, reason, line, sizeof(line));
	r = strstr(line, "\"reason\":\"") + 10;
	end = strrchr(line, '"');
	assert_int_equal(end - r, 1024);
	assert_memory_equal(end - 3, "...", 3);
	assert_int_equal(r[1020], 'a');

	/* Escapes are never split: 2-byte \" pieces stop at 1020, + "...". */
	memset(reason, '"', 100000);
	reason[100000] = '\0';
	append(log, "control", "rollback", 500, 0, reason, line, sizeof(line));
	r = strstr(line, "\"reason\":\"") + 10;
	end = strrchr(line, '"');
	assert_int_equal(end - r, 1023);
	assert_memory_equal(end - 5, "\\\"...", 5);

	/* Multi-byte characters are never split: 3-byte euro signs, 340 of
	 * them fill 1020 bytes, and 1021 bytes have no room for a 341st. */
	for (int i = 0; i < 1000; i++)
		memcpy(reason + 3 * i, "\xe2\x82\xac", 3);
	reason[3000] = '\0';
	append(log, "control", "rollback", 500, 0, reason, line, sizeof(line));
	r = strstr(line, "\"reason\":\"") + 10;
	end = strrchr(line, '"');
	assert_int_equal(end - r, 1023);
	assert_memory_equal(end - 6, "\xe2\x82\xac...", 6);
	free(reason);
	event_log_close(log);
}

static void test_events_rejected(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	struct weir_event ev = { .actor = "control", .action = "set_weight", .before = 500, .after = 10001 };
	char err[512], small[64];
	struct stat sb;

	assert_int_equal(event_log_append(log, &ev, NULL, 0, err, sizeof(err)), -1);
	ev.after = 1000;
	ev.action = NULL;
	assert_int_equal(event_log_append(log, &ev, NULL, 0, err, sizeof(err)), -1);
	ev.action = "set_weight";
	/* A LINE buffer that is too small is refused before anything is written. */
	assert_int_equal(event_log_append(log, &ev, small, sizeof(small), err, sizeof(err)), -1);
	assert_int_equal(stat(t->log, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	event_log_close(log);
}

/* A failed write is reported with the reason, and LINE is not filled. */
static void test_events_disk_full(void **ctx)
{
	struct weir_event ev = { .actor = "control", .action = "set_weight", .before = 500, .after = 1000 };
	char err[512] = "", line[2048] = "untouched";
	struct event_log *log;

	(void)ctx;
	log = event_log_open("/dev/full", err, sizeof(err));
	if (!log)
		skip();
	assert_int_equal(event_log_append(log, &ev, line, sizeof(line), err, sizeof(err)), -1);
	assert_contains(err, "cannot write event log /dev/full: No space left on device");
	assert_string_equal(line, "untouched");
	event_log_close(log);
}

static void test_events_open_missing_dir(void **ctx)
{
	struct tdir *t = *ctx;
	char err[512] = "", path[256], dir[200];

	snprintf(dir, sizeof(dir), "%s/no/such", t->dir);
	snprintf(path, sizeof(path), "%s/events.log", dir);
	assert_null(event_log_open(path, err, sizeof(err)));
	assert_contains(err, path);
	assert_contains(err, "No such file or directory");
	assert_contains(err, dir);
	event_log_close(NULL);
}

/* ---- event log: reading -------------------------------------------------- */

static void test_read_torn_last_line(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	char first[2048], second[2048], third[2048], **lines;
	size_t count;

	append(log, "control", "set_weight", 0, 100, NULL, first, sizeof(first));
	append(log, "control", "set_weight", 100, 200, NULL, second, sizeof(second));
	event_log_close(log);
	/* A crash in the middle of the write of a third event. */
	append_text(t->log, "{\"time\":\"2026-11-23T12:00:00.123Z\",\"actor\":\"gua");
	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 2);
	assert_string_equal(lines[0], first);
	assert_string_equal(lines[1], second);
	event_log_lines_free(lines, count);

	/* Even a torn line that happens to end in '}' is not complete. */
	append_text(t->log, "}");
	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 2);
	event_log_lines_free(lines, count);

	/* Reopening terminates the torn line, so the next event is whole. */
	append_text(t->log, "x");
	log = open_log(t);
	append(log, "guard", "rollback", 200, 0, NULL, third, sizeof(third));
	event_log_close(log);
	read_last(t, 2, &lines, &count);
	assert_int_equal(count, 2);
	assert_string_equal(lines[0], second);
	assert_string_equal(lines[1], third);
	event_log_lines_free(lines, count);
}

static void test_read_skips_garbage(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	char a[2048], b[2048], **lines;
	size_t count;

	append(log, "control", "set_weight", 0, 100, NULL, a, sizeof(a));
	event_log_close(log);
	append_text(t->log, "not json at all\n\n{\"half\": \n}\n  {\"indented\":1}\n");
	log = open_log(t);
	append(log, "control", "set_weight", 100, 200, NULL, b, sizeof(b));
	event_log_close(log);
	append_text(t->log, "trailing garbage\n");

	read_last(t, 2, &lines, &count);
	assert_int_equal(count, 2);
	assert_string_equal(lines[0], a);
	assert_string_equal(lines[1], b);
	event_log_lines_free(lines, count);
}

static void test_read_more_than_present(void **ctx)
{
	struct tdir *t = *ctx;
	struct event_log *log = open_log(t);
	char l[3][2048], **lines;
	size_t count;

	for (int i = 0; i < 3; i++)
		append(log, "rollout", "advance", (uint32_t)i * 100, (uint32_t)(i + 1) * 100, "hold done", l[i],
		       sizeof(l[i]));
	event_log_close(log);
	read_last(t, 100, &lines, &count);
	assert_int_equal(count, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(lines[i], l[i]);
	event_log_lines_free(lines, count);

	read_last(t, 0, &lines, &count);
	assert_int_equal(count, 0);
	event_log_lines_free(lines, count);
}

static void test_read_missing_and_empty(void **ctx)
{
	struct tdir *t = *ctx;
	char **lines = (char **)&lines;
	size_t count = 99;

	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 0);
	assert_null(lines);
	event_log_lines_free(lines, count);

	write_text(t->log, "");
	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 0);

	/* One line and no newline at all: torn, nothing complete. */
	write_text(t->log, "{\"a\":1}");
	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 0);

	write_text(t->log, "{\"a\":1}\n");
	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 1);
	assert_string_equal(lines[0], "{\"a\":1}");
	event_log_lines_free(lines, count);
}

static void test_read_large_log(void **ctx)
{
	struct tdir *t = *ctx;
	FILE *f = fopen(t->log, "w");
	char **lines, want[256];
	size_t count;

	assert_non_null(f);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "{\"time\":\"2026-11-23T12:00:00.000Z\",\"actor\":\"guard\",\"action\":\"tick\","
		           "\"before\":{\"baseline\":95.00,\"canary\":5.00},\"after\":{\"baseline\":95.00,"
		           "\"canary\":5.00},\"reason\":\"event %d\"}\n", i);
	assert_int_equal(fclose(f), 0);

	read_last(t, 5, &lines, &count);
	assert_int_equal(count, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(want, sizeof(want), "\"reason\":\"event %d\"}", 19995 + i);
		assert_non_null(strstr(lines[i], want));
		assert_int_equal(lines[i][0], '{');
	}
	event_log_lines_free(lines, count);

	/* Enough lines to cross many read blocks, and all of them. */
	read_last(t, 20000, &lines, &count);
	assert_int_equal(count, 20000);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(want, sizeof(want), "\"reason\":\"event %d\"}", i);
		assert_non_null(strstr(lines[i], want));
	}
	event_log_lines_free(lines, count);
}

/* Lines longer than a read block are reassembled across blocks; a line too
 * long to be an event is skipped without being held in memory. */
static void test_read_long_lines(void **ctx)
{
	struct tdir *t = *ctx;
	size_t big = 40000, huge = 300000;
	char *buf = malloc(huge + 16), **lines;
	size_t count;
	FILE *f = fopen(t->log, "w");

	assert_non_null(buf);
	assert_non_null(f);
	for (int i = 0; i < 4; i++) {
		memset(buf, 'a' + i, big);
		buf[0] = '{';
		buf[big - 1] = '}';
		fwrite(buf, 1, big, f);
		fputc('\n', f);
	}
	memset(buf, 'z', huge);
	buf[0] = '{';
	buf[huge - 1] = '}';
	fwrite(buf, 1, huge, f);
	fputs("\n{\"last\":true}\n", f);
	assert_int_equal(fclose(f), 0);

	read_last(t, 3, &lines, &count);
	assert_int_equal(count, 3);
	assert_int_equal(strlen(lines[0]), big);
	assert_int_equal(lines[0][1], 'c');
	assert_int_equal(lines[0][big - 2], 'c');
	assert_int_equal(strlen(lines[1]), big);
	assert_int_equal(lines[1][big / 2], 'd');
	assert_string_equal(lines[2], "{\"last\":true}");
	event_log_lines_free(lines, count);
	free(buf);
}

/* A log with a 64 GiB hole in front (sparse: it takes no disk): reading
 * the last lines touches only the end. Reading the whole file would take
 * minutes, and holding it in memory would fail. */
static void test_read_sparse_gigabyte(void **ctx)
{
	struct tdir *t = *ctx;
	int fd = open(t->log, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	static const char tail[] = "\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
	char **lines;
	size_t count;
	struct timespec a, b;

	assert_true(fd >= 0);
	if (ftruncate(fd, (off_t)64 << 30) < 0) {
		close(fd);
		skip();                   /* a file system without large sparse files */
	}
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)64 << 30);
	assert_int_equal(write(fd, tail, sizeof(tail) - 1), (ssize_t)(sizeof(tail) - 1));
	close(fd);

	clock_gettime(CLOCK_MONOTONIC, &a);
	read_last(t, 2, &lines, &count);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(count, 2);
	assert_string_equal(lines[0], "{\"n\":2}");
	assert_string_equal(lines[1], "{\"n\":3}");
	event_log_lines_free(lines, count);
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_format, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_fleet_pending, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_hand_written, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_missing, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_invalid, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_directory, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_save_leaves_no_temp, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_save_over_stale_temp, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_remove_stale_temps, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_remove_stale_temps_owner_and_failures, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_save_missing_dir, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_save_readonly_dir, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_save_failure_removes_temp, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_save_refuses_invalid, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_last_two, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_node, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_null_reason_and_extremes, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_escaping, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_long_reason, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_rejected, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_disk_full, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_events_open_missing_dir, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_torn_last_line, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_skips_garbage, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_more_than_present, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_missing_and_empty, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_large_log, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_long_lines, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_sparse_gigabyte, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
