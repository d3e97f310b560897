/* Unit tests for accesslog: the exact line format (every field, "-" for
 * missing values, escaping and cutting of what a client controls, the
 * longest line within ACCESSLOG_LINE_MAX), and the file side: lines reach
 * the file whole and in order from one or many threads, a full buffer flushes
 * itself, a reopen splits old and new lines exactly, a failed reopen keeps
 * the old file, write errors are counted as drops. Every test works in its
 * own directory under /tmp, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weir/accesslog.h"

/* 2026-11-23T12:00:00.123456Z */
#define T0_US (1795435200ull * 1000000u + 123456u)

/* ---- fixtures ------------------------------------------------------------ */

struct tdir {
	char dir[64];
	char log[128];                /* DIR/access.log */
	char old[128];                /* DIR/access.log.1 */
};

static int setup_dir(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/weir-test-accesslog.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->log, sizeof(t->log), "%s/access.log", t->dir);
	snprintf(t->old, sizeof(t->old), "%s/access.log.1", t->dir);
	*state = t;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tdir *t = *state;

	unlink(t->log);
	unlink(t->old);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* The whole file, NUL-terminated; *LEN its length. Release with free. */
static char *slurp(const char *path, size_t *len)
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
	if (len)
		*len = (size_t)n;
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A formatted line as a C string. */
static const char *fmt(const struct accesslog_entry *e)
{
	static char line[ACCESSLOG_LINE_MAX + 1];
	size_t n = accesslog_format(e, line, sizeof(line));

	assert_true(n > 0 && n <= ACCESSLOG_LINE_MAX);
	line[n] = '\0';
	return line;
}

static struct accesslog_entry entry(const struct accesslog_req *req, uint64_t time_us)
{
	struct accesslog_entry e = {
		.time_us = time_us, .client = "127.0.0.1", .req = req, .status = 200,
		.pool = "canary", .server = "127.0.0.1:9101", .bytes = 1532, .latency_us = 2311,
	};
	return e;
}

/* ---- format ---------------------------------------------------------------- */

static void test_format_full_line(void **state)
{
	struct accesslog_req r;
	struct accesslog_entry e;
	(void)state;

	accesslog_req_set(&r, "GET", 3, "/api/items?id=3", 15);
	e = entry(&r, T0_US);
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z 127.0.0.1 GET /api/items?id=3 200 "
	                             "canary 127.0.0.1:9101 1532 2311\n");
}

static void test_format_time_edges(void **state)
{
	struct accesslog_req r;
	struct accesslog_entry e;
	(void)state;

	accesslog_req_set(&r, "GET", 3, "/", 1);
	e = entry(&r, 0);
	assert_string_equal(fmt(&e), "1970-01-01T00:00:00.000Z 127.0.0.1 GET / 200 canary "
	                             "127.0.0.1:9101 1532 2311\n");
	/* Milliseconds are truncated, not rounded: .999999 stays in its second. */
	e.time_us = 1795435200ull * 1000000u + 999999u;
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.999Z 127.0.0.1 GET / 200 canary "
	                             "127.0.0.1:9101 1532 2311\n");
	e.time_us = 253402300799ull * 1000000u + 5000u;
	assert_string_equal(fmt(&e), "9999-12-31T23:59:59.005Z 127.0.0.1 GET / 200 canary "
	                             "127.0.0.1:9101 1532 2311\n");
	/* Beyond four-digit years there is no honest ISO 8601 text. */
	e.time_us = 253402300800ull * 1000000u;
	assert_string_equal(fmt(&e), "- 127.0.0.1 GET / 200 canary 127.0.0.1:9101 1532 2311\n");
}

static void test_format_missing_fields(void **state)
{
	struct accesslog_entry e = { .time_us = T0_US, .latency_us = -1 };
	struct accesslog_req r;
	(void)state;

	/* A request refused before it was routed: no pool, server or latency. */
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z - - - - - - 0 -\n");
	e.client = "::1";
	e.status = 408;
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z ::1 - - 408 - - 0 -\n");
	accesslog_req_set(&r, "", 0, "", 0);
	e.req = &r;
	e.client = "";
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z - - - 408 - - 0 -\n");
	accesslog_req_set(&r, "CONNECT", 7, "example.com:443", 15);
	e.status = 501;
	e.bytes = 87;
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z - CONNECT example.com:443 501 - - 87 -\n");
	accesslog_req_clear(&r);
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z - - - 501 - - 87 -\n");
	/* Statuses outside three digits are not statuses. */
	e.status = 1000;
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z - - - - - - 87 -\n");
	e.status = 99;
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z - - - - - - 87 -\n");
}

static void test_format_large_numbers(void **state)
{
	struct accesslog_entry e = entry(NULL, T0_US);
	(void)state;

	e.bytes = UINT64_MAX;
	e.latency_us = INT64_MAX;
	e.status = 999;
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z 127.0.0.1 - - 999 canary 127.0.0.1:9101 "
	                             "18446744073709551615 9223372036854775807\n");
	e.bytes = 0;
	e.latency_us = 0;
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z 127.0.0.1 - - 999 canary 127.0.0.1:9101 "
	                             "0 0\n");
}

static void test_escaping(void **state)
{
	static const char target[] = "/a b\"c\\d\x7f\x01\xff%20~!";
	struct accesslog_req r;
	struct accesslog_entry e;
	(void)state;

	accesslog_req_set(&r, "G\tT", 3, target, sizeof(target) - 1);
	e = entry(&r, T0_US);
	/* A space, a quote or a control byte never splits or fakes a field. */
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z 127.0.0.1 G\\x09T "
	                             "/a\\x20b\\x22c\\x5cd\\x7f\\x01\\xff%20~! 200 canary "
	                             "127.0.0.1:9101 1532 2311\n");
	e.client = "evil client\n";
	e.server = "x\"y";
	assert_string_equal(fmt(&e), "2026-11-23T12:00:00.123Z evil\\x20client\\x0a G\\x09T "
	                             "/a\\x20b\\x22c\\x5cd\\x7f\\x01\\xff%20~! 200 canary "
	                             "x\\x22y 1532 2311\n");
}

/* A target of exactly the room left is kept whole; one byte more is cut to
 * "..." and stays within the limit, also when cut inside escapes. */
static void test_target_cut(void **state)
{
	static char big[ACCESSLOG_TARGET_MAX * 2];
	struct accesslog_req r;
	(void)state;

	memset(big, 'a', sizeof(big));
	accesslog_req_set(&r, "GET", 3, big, ACCESSLOG_TARGET_MAX);
	assert_int_equal(r.target_len, ACCESSLOG_TARGET_MAX);
	assert_memory_not_equal(r.target + ACCESSLOG_TARGET_MAX - 3, "...", 3);

	accesslog_req_set(&r, "GET", 3, big, ACCESSLOG_TARGET_MAX + 1);
	assert_int_equal(r.target_len, ACCESSLOG_TARGET_MAX);
	assert_memory_equal(r.target + ACCESSLOG_TARGET_MAX - 3, "...", 3);
	for (size_t i = 0; i < ACCESSLOG_TARGET_MAX - 3u; i++)
		assert_int_equal(r.target[i], 'a');

	/* All escapes: whole \xHH groups, then the marker. */
	memset(big, ' ', sizeof(big));
	accesslog_req_set(&r, "GET", 3, big, sizeof(big));
	assert_true(r.target_len <= ACCESSLOG_TARGET_MAX);
	assert_memory_equal(r.target + r.target_len - 3, "...", 3);
	assert_int_equal((r.target_len - 3) % 4, 0);
	for (size_t i = 0; i + 3 < r.target_len; i += 4)
		assert_memory_equal(r.target + i, "\\x20", 4);

	/* Methods have their own, smaller room. */
	memset(big, 'M', sizeof(big));
	accesslog_req_set(&r, big, 1000, "/", 1);
	assert_int_equal(r.method_len, ACCESSLOG_METHOD_MAX);
	assert_memory_equal(r.method + ACCESSLOG_METHOD_MAX - 3, "...", 3);
}

/* Every field at its longest: the line still fits ACCESSLOG_LINE_MAX, and a
 * smaller buffer is refused rather than overrun. */
static void test_longest_line(void **state)
{
	static char big[ACCESSLOG_TARGET_MAX * 2];
	static char addr[ACCESSLOG_ADDR_MAX * 2];
	static char line[ACCESSLOG_LINE_MAX];
	struct accesslog_req r;
	struct accesslog_entry e;
	(void)state;

	memset(big, 0x01, sizeof(big));
	memset(addr, 0x02, sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	accesslog_req_set(&r, big, sizeof(big), big, sizeof(big));
	e = (struct accesslog_entry){ .time_us = T0_US, .client = addr, .req = &r, .status = 999,
	                              .pool = addr, .server = addr, .bytes = UINT64_MAX,
	                              .latency_us = INT64_MAX };
	size_t n = accesslog_format(&e, line, sizeof(line));
	assert_true(n > ACCESSLOG_TARGET_MAX && n <= ACCESSLOG_LINE_MAX);
	assert_int_equal(line[n - 1], '\n');
	assert_null(memchr(line, '\n', n - 1));
	assert_int_equal(accesslog_format(&e, line, ACCESSLOG_LINE_MAX - 1), 0);
}

/* ---- the file ------------------------------------------------------------------ */

static void test_open_missing_directory(void **state)
{
	struct tdir *t = *state;
	char path[192], err[512] = "";

	snprintf(path, sizeof(path), "%s/nope/access.log", t->dir);
	assert_null(accesslog_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "create the directory"));
	assert_non_null(strstr(err, "/nope"));
}

static void test_lines_in_order(void **state)
{
	struct tdir *t = *state;
	struct accesslog *log;
	struct accesslog_buf b;
	struct accesslog_req r;
	struct accesslog_stats st;
	char err[256], want[128];
	size_t len;

	/* An existing file is appended to, never truncated. */
	FILE *f = fopen(t->log, "w");
	assert_non_null(f);
	fputs("before\n", f);
	fclose(f);
	log = accesslog_open(t->log, err, sizeof(err));
	assert_non_null(log);
	assert_int_equal(accesslog_buf_init(&b, log), 0);
	for (int i = 0; i < 100; i++) {
		char target[32];
		int n = snprintf(target, sizeof(target), "/item/%d", i);
		accesslog_req_set(&r, "GET", 3, target, (size_t)n);
		struct accesslog_entry e = entry(&r, T0_US + (uint64_t)i * 1000u);
		accesslog_append(&b, &e);
	}
	/* Nothing is written before the flush: appends do no I/O. */
	accesslog_sync(log);
	char *text = slurp(t->log, &len);
	assert_string_equal(text, "before\n");
	free(text);

	accesslog_flush(&b);
	accesslog_sync(log);
	text = slurp(t->log, &len);
	assert_int_equal(count_lines(text), 101);
	char *p = strchr(text, '\n') + 1;
	for (int i = 0; i < 100; i++) {
		snprintf(want, sizeof(want), "2026-11-23T12:00:00.%03dZ 127.0.0.1 GET /item/%d 200 canary "
		         "127.0.0.1:9101 1532 2311\n", 123 + i, i);
		assert_memory_equal(p, want, strlen(want));
		p += strlen(want);
	}
	assert_int_equal(*p, '\0');
	free(text);
	accesslog_get_stats(log, &st);
	assert_int_equal(st.lines_written, 100);
	assert_int_equal(st.lines_dropped, 0);
	assert_int_equal(st.last_errno, 0);
	accesslog_buf_dispose(&b);
	accesslog_close(log);
}

/* A new file is created 0640 (less the umask): client addresses and URLs
 * are not for every local user. */
static void test_new_file_mode(void **state)
{
	struct tdir *t = *state;
	struct accesslog *log;
	struct stat sb;
	char err[256];
	mode_t mask = umask(022);

	log = accesslog_open(t->log, err, sizeof(err));
	umask(mask);
	assert_non_null(log);
	accesslog_close(log);
	assert_int_equal(stat(t->log, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
}

/* More lines than one buffer holds, never flushed by hand until the end:
 * the buffer flushes itself, and nothing is lost or reordered. */
static void test_full_buffer_flushes(void **state)
{
	struct tdir *t = *state;
	struct accesslog *log;
	struct accesslog_buf b;
	struct accesslog_req r;
	char err[256], target[64];
	size_t len, n = 3 * ACCESSLOG_BUF_SIZE / 64;
	struct accesslog_stats st;

	log = accesslog_open(t->log, err, sizeof(err));
	assert_non_null(log);
	assert_int_equal(accesslog_buf_init(&b, log), 0);
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(target, sizeof(target), "/%zu", i);
		accesslog_req_set(&r, "GET", 3, target, (size_t)k);
		struct accesslog_entry e = entry(&r, T0_US);
		accesslog_append(&b, &e);
	}
	accesslog_sync(log);
	char *text = slurp(t->log, &len);
	/* Some lines reached the file without any explicit flush. */
	assert_true(count_lines(text) > 0 && count_lines(text) < n);
	free(text);
	accesslog_buf_dispose(&b);          /* flushes the rest */
	accesslog_sync(log);
	text = slurp(t->log, &len);
	assert_int_equal(count_lines(text), n);
	char *p = text;
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(target, sizeof(target), " GET /%zu ", i);
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		assert_non_null(strstr(p, target));
		p = nl + 1;
		(void)k;
	}
	free(text);
	accesslog_get_stats(log, &st);
	assert_int_equal(st.lines_written, n);
	accesslog_close(log);
}

#define NTHREADS 4
#define PER_THREAD 20000

struct producer {
	struct accesslog *log;
	int id;
};

static void *produce(void *arg)
{
	struct producer *pr = arg;
	struct accesslog_buf b;
	struct accesslog_req r;
	char target[64];

	if (accesslog_buf_init(&b, pr->log) < 0)
		return NULL;
	for (int i = 0; i < PER_THREAD; i++) {
		int k = snprintf(target, sizeof(target), "/t%d/%d", pr->id, i);
		accesslog_req_set(&r, "GET", 3, target, (size_t)k);
		struct accesslog_entry e = entry(&r, T0_US);
		accesslog_append(&b, &e);
		if (i % 997 == 0)
			accesslog_flush(&b);        /* as a timer would, at odd moments */
	}
	accesslog_buf_dispose(&b);
	return NULL;
}

/* Threads with their own buffers: every line whole, each thread's in order. */
static void test_threads(void **state)
{
	struct tdir *t = *state;
	struct producer pr[NTHREADS];
	pthread_t th[NTHREADS];
	int next[NTHREADS] = { 0 };
	char err[256];
	size_t len;
	struct accesslog *log = accesslog_open(t->log, err, sizeof(err));

	assert_non_null(log);
	for (int i = 0; i < NTHREADS; i++) {
		pr[i].log = log;
		pr[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	accesslog_close(log);               /* writes what is pending */

	char *text = slurp(t->log, &len), *p = text;
	assert_int_equal(count_lines(text), NTHREADS * PER_THREAD);
	while (*p) {
		char *nl = strchr(p, '\n');
		int id, i, used = 0;

		assert_non_null(nl);
		*nl = '\0';
		assert_int_equal(sscanf(p, "2026-11-23T12:00:00.123Z 127.0.0.1 GET /t%d/%d 200 canary "
		                        "127.0.0.1:9101 1532 2311%n", &id, &i, &used), 2);
		assert_int_equal((size_t)used, strlen(p));
		assert_true(id >= 0 && id < NTHREADS);
		assert_int_equal(i, next[id]);
		next[id]++;
		p = nl + 1;
	}
	free(text);
}

/* logrotate's way: rename, then reopen. Lines handed over before the reopen
 * stay in the renamed file even if the writer has not written them yet. */
static void test_reopen_splits(void **state)
{
	struct tdir *t = *state;
	struct accesslog *log;
	struct accesslog_buf b;
	struct accesslog_req r;
	struct accesslog_stats st;
	char err[256];
	size_t len;

	log = accesslog_open(t->log, err, sizeof(err));
	assert_non_null(log);
	assert_int_equal(accesslog_buf_init(&b, log), 0);
	for (int round = 0; round < 50; round++) {
		char old_target[32], new_target[32];
		int k1 = snprintf(old_target, sizeof(old_target), "/old/%d", round);
		int k2 = snprintf(new_target, sizeof(new_target), "/new/%d", round);

		accesslog_req_set(&r, "GET", 3, old_target, (size_t)k1);
		struct accesslog_entry e = entry(&r, T0_US);
		accesslog_append(&b, &e);
		accesslog_flush(&b);
		/* No sync: the writer may or may not have written it yet. */
		assert_int_equal(rename(t->log, t->old), 0);
		assert_int_equal(accesslog_reopen(log, err, sizeof(err)), 0);
		accesslog_req_set(&r, "GET", 3, new_target, (size_t)k2);
		e = entry(&r, T0_US);
		accesslog_append(&b, &e);
		accesslog_flush(&b);
		accesslog_sync(log);

		char *text = slurp(t->old, &len);
		assert_int_equal(count_lines(text), 1);
		assert_non_null(strstr(text, old_target));
		free(text);
		text = slurp(t->log, &len);
		assert_int_equal(count_lines(text), 1);
		assert_non_null(strstr(text, new_target));
		free(text);
		/* The next round renames over the old one: start from one file. */
		unlink(t->old);
		assert_int_equal(rename(t->log, t->old), 0);
		assert_int_equal(accesslog_reopen(log, err, sizeof(err)), 0);
		unlink(t->old);
	}
	/* A reopen with nothing pending is taken too (sync waits for it). */
	accesslog_sync(log);
	assert_int_equal(access(t->log, F_OK), 0);
	accesslog_get_stats(log, &st);
	assert_int_equal(st.lines_written, 100);
	assert_int_equal(st.lines_dropped, 0);
	accesslog_buf_dispose(&b);
	accesslog_close(log);
}

/* The directory vanished: the reopen fails with a reason and the lines go on
 * to the file weir still has open. */
static void test_reopen_failure_keeps_file(void **state)
{
	struct tdir *t = *state;
	char path[192], sub[160], err[512] = "";
	struct accesslog *log;
	struct accesslog_buf b;
	struct accesslog_req r;
	struct accesslog_stats st;
	size_t len;

	snprintf(sub, sizeof(sub), "%s/sub", t->dir);
	snprintf(path, sizeof(path), "%s/access.log", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	log = accesslog_open(path, err, sizeof(err));
	assert_non_null(log);
	/* Keep the file reachable under another name to read it afterwards. */
	assert_int_equal(link(path, t->log), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(accesslog_reopen(log, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot reopen access log"));
	assert_non_null(strstr(err, path));
	assert_int_equal(accesslog_buf_init(&b, log), 0);
	accesslog_req_set(&r, "GET", 3, "/still", 6);
	struct accesslog_entry e = entry(&r, T0_US);
	accesslog_append(&b, &e);
	accesslog_buf_dispose(&b);
	accesslog_sync(log);
	accesslog_get_stats(log, &st);
	assert_int_equal(st.last_errno, ENOENT);
	assert_int_equal(st.lines_written, 1);
	accesslog_close(log);
	char *text = slurp(t->log, &len);
	assert_non_null(strstr(text, " GET /still 200 "));
	free(text);
}

/* A disk that refuses writes: lines are counted as dropped, nothing blocks. */
static void test_write_errors_are_drops(void **state)
{
	struct accesslog *log;
	struct accesslog_buf b;
	struct accesslog_stats st;
	char err[256];
	(void)state;

	if (access("/dev/full", W_OK) != 0)
		skip();
	log = accesslog_open("/dev/full", err, sizeof(err));
	assert_non_null(log);
	assert_int_equal(accesslog_buf_init(&b, log), 0);
	for (int i = 0; i < 10; i++) {
		struct accesslog_entry e = entry(NULL, T0_US);
		accesslog_append(&b, &e);
	}
	accesslog_flush(&b);
	accesslog_sync(log);
	accesslog_get_stats(log, &st);
	assert_int_equal(st.lines_written, 0);
	assert_int_equal(st.lines_dropped, 10);
	assert_int_equal(st.last_errno, ENOSPC);
	accesslog_buf_dispose(&b);
	accesslog_close(log);
}

/* Logging off: a buffer without a log takes appends and flushes as no-ops. */
static void test_off(void **state)
{
	struct accesslog_buf b;
	(void)state;

	assert_int_equal(accesslog_buf_init(&b, NULL), 0);
	struct accesslog_entry e = entry(NULL, T0_US);
	accesslog_append(&b, &e);
	accesslog_flush(&b);
	assert_int_equal(b.len, 0);
	accesslog_buf_dispose(&b);
	accesslog_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_full_line),
		cmocka_unit_test(test_format_time_edges),
		cmocka_unit_test(test_format_missing_fields),
		cmocka_unit_test(test_format_large_numbers),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_target_cut),
		cmocka_unit_test(test_longest_line),
		cmocka_unit_test_setup_teardown(test_open_missing_directory, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_lines_in_order, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_new_file_mode, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_full_buffer_flushes, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_threads, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_reopen_splits, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_file, setup_dir, teardown_dir),
		cmocka_unit_test(test_write_errors_are_drops),
		cmocka_unit_test(test_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
