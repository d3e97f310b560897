/* Unit tests for split: pool choice (random and sticky), header parsing and
 * server choice. Distributions are checked against the binomial bound: a
 * count of n draws at probability p must lie within 4 standard deviations
 * of n*p (squared, so no libm: (k - np)^2 <= 16 np(1-p)). The generators
 * are deterministic, so these tests cannot flake: they pass or fail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/split.h"

#define NDRAWS 200000

static const uint32_t test_weights[] = { 100, 1000, 5000 };      /* 1 %, 10 %, 50 % */

static void assert_binomial(uint64_t k, uint64_t n, double p, const char *what)
{
	double mean = (double)n * p, var = (double)n * p * (1.0 - p);
	double d = (double)k - mean;

	if (d * d > 16.0 * var)
		print_error("%s: %llu of %llu at p=%.4f: expected %.1f, variance %.1f (4 sd allowed)\n", what,
		            (unsigned long long)k, (unsigned long long)n, p, mean, var);
	assert_true(d * d <= 16.0 * var);
}

/* Chi-square of BUCKETS (counts of WEIGHT_SCALE buckets) over N draws, grouped
 * into GROUPS equal ranges. With df = groups - 1 its sd is sqrt(2 df); allow
 * 4 sd either way: too uniform (a counter) fails as surely as too lumpy. */
static void assert_chi2(const uint32_t *buckets, uint64_t n, unsigned groups, const char *what)
{
	double expect = (double)n / groups, chi2 = 0.0, df = groups - 1.0, d;
	unsigned g, b, per = WEIGHT_SCALE / groups;

	for (g = 0; g < groups; g++) {
		uint64_t c = 0;

		for (b = g * per; b < (g + 1) * per; b++)
			c += buckets[b];
		chi2 += ((double)c - expect) * ((double)c - expect) / expect;
	}
	d = chi2 - df;
	if (d * d > 16.0 * 2.0 * df)
		print_error("%s: chi2 %.1f over %u groups (df %.0f)\n", what, chi2, groups, df);
	assert_true(d * d <= 16.0 * 2.0 * df);
}

/* Draws: the fraction routed to the canary at each weight, plus uniformity. */
static void check_buckets(const uint32_t *draws, size_t n, const char *what)
{
	uint32_t *hist = calloc(WEIGHT_SCALE, sizeof(*hist));
	size_t i, w;

	assert_non_null(hist);
	for (i = 0; i < n; i++) {
		assert_true(draws[i] < WEIGHT_SCALE);
		hist[draws[i]]++;
	}
	for (w = 0; w < sizeof(test_weights) / sizeof(test_weights[0]); w++) {
		uint64_t canary = 0;

		for (i = 0; i < n; i++)
			canary += split_pool_for_bucket(draws[i], test_weights[w]) == POOL_CANARY;
		assert_binomial(canary, n, test_weights[w] / (double)WEIGHT_SCALE, what);
	}
	assert_chi2(hist, n, 100, what);
	assert_chi2(hist, n, WEIGHT_SCALE, what);
	free(hist);
}

/* ---- random split ------------------------------------------------------- */

static void test_rng_distribution(void **state)
{
	static const uint64_t seeds[] = { 0, 1, 2, 12345, UINT64_MAX };
	uint32_t *draws = malloc(NDRAWS * sizeof(*draws));
	size_t s, i;

	(void)state;
	assert_non_null(draws);
	for (s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		struct split_rng rng;

		split_rng_seed(&rng, seeds[s]);
		for (i = 0; i < NDRAWS; i++)
			draws[i] = split_rng_bucket(&rng);
		check_buckets(draws, NDRAWS, "rng");
	}
	free(draws);
}

/* Consecutive draws must not be correlated: pairs of (canary?, canary?) at
 * 50 % fall into the four cells a quarter each. */
static void test_rng_pairs(void **state)
{
	struct split_rng rng;
	uint64_t cell[4] = { 0 };
	int i, c;

	(void)state;
	split_rng_seed(&rng, 7);
	for (i = 0; i < NDRAWS; i++) {
		int a = split_rng_bucket(&rng) < 5000;
		int b = split_rng_bucket(&rng) < 5000;

		cell[a * 2 + b]++;
	}
	for (c = 0; c < 4; c++)
		assert_binomial(cell[c], NDRAWS, 0.25, "rng pairs");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void test_rng_seeding(void **state)
{
	enum { N = 4096, SEEDS = 8 };
	struct split_rng a, b;
	uint64_t *all = malloc(N * SEEDS * sizeof(*all));
	int i, s;

	(void)state;
	assert_non_null(all);
	/* same seed, same stream */
	split_rng_seed(&a, 99);
	split_rng_seed(&b, 99);
	for (i = 0; i < 1000; i++)
		assert_int_equal(split_rng_next(&a), split_rng_next(&b));

	/* workers seeded 0..7: no value shared between (or within) their streams */
	for (s = 0; s < SEEDS; s++) {
		split_rng_seed(&a, (uint64_t)s);
		for (i = 0; i < N; i++)
			all[s * N + i] = split_rng_next(&a);
	}
	qsort(all, N * SEEDS, sizeof(*all), cmp_u64);
	for (i = 1; i < N * SEEDS; i++)
		assert_true(all[i] != all[i - 1]);
	free(all);
}

/* ---- sticky split ------------------------------------------------------- */

enum key_kind { KEY_USER, KEY_NUMBER, KEY_UUID, KEY_SESSION, KEY_KINDS };

static const char *const key_kind_name[KEY_KINDS] = { "user-N", "N", "uuid", "session" };

/* Key number I of KIND into KEY; returns its length. */
static size_t make_key(enum key_kind kind, size_t i, char *key, size_t size)
{
	unsigned long a = (unsigned long)i, b = (unsigned long)(i * 2654435761u % 1000003u);
	int len = -1;

	switch (kind) {
	case KEY_USER:
		len = snprintf(key, size, "user-%lu", a);
		break;
	case KEY_NUMBER:
		len = snprintf(key, size, "%lu", a);
		break;
	case KEY_UUID:
		len = snprintf(key, size, "%08lx-4a1c-9e2f-b3d5-%012lx", a, b);
		break;
	case KEY_SESSION:
		len = snprintf(key, size, "sess_%lu_%lu", b, a);
		break;
	case KEY_KINDS:
		break;
	}
	assert_true(len > 0 && (size_t)len < size);
	return (size_t)len;
}

static void test_key_distribution(void **state)
{
	uint32_t *draws = malloc(NDRAWS * sizeof(*draws));
	char key[64];
	size_t i;
	int k;

	(void)state;
	assert_non_null(draws);
	for (k = 0; k < KEY_KINDS; k++) {
		for (i = 0; i < NDRAWS; i++) {
			size_t len = make_key((enum key_kind)k, i, key, sizeof(key));

			draws[i] = split_key_bucket(key, len);
		}
		check_buckets(draws, NDRAWS, key_kind_name[k]);
	}
	free(draws);
}

/* Single-byte and two-byte keys, where a weak hash shows most. */
static void test_key_short(void **state)
{
	uint32_t *draws = malloc(65536 * sizeof(*draws));
	unsigned char k[2];
	unsigned i;

	(void)state;
	assert_non_null(draws);
	for (i = 0; i < 65536; i++) {
		k[0] = (unsigned char)(i >> 8);
		k[1] = (unsigned char)i;
		draws[i] = split_key_bucket((const char *)k, 2);
	}
	check_buckets(draws, 65536, "two-byte keys");
	free(draws);
}

static void test_key_sticky(void **state)
{
	char buf[32];
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		char key[32];
		int len = snprintf(key, sizeof(key), "customer-%d", i);
		uint32_t b = split_key_bucket(key, (size_t)len);

		/* same bytes elsewhere in memory, and again: same bucket */
		memcpy(buf, key, (size_t)len + 1);
		assert_int_equal(split_key_bucket(buf, (size_t)len), b);
		assert_int_equal(split_key_bucket(key, (size_t)len), b);
	}
	/* only LEN bytes count */
	assert_int_equal(split_key_bucket("alice;junk", 5), split_key_bucket("alice", 5));
	assert_int_equal(split_key_bucket(NULL, 0), split_key_bucket("", 0));

	/* Stable across builds and restarts: these are pinned (and were checked
	 * against an independent model of FNV-1a + splitmix64 finalizer +
	 * multiply-high). If they change, an upgrade would move users between
	 * pools mid-rollout. */
	assert_int_equal(split_key_bucket("alice", 5), 7727);
	assert_int_equal(split_key_bucket("bob", 3), 4317);
	assert_int_equal(split_key_bucket("", 0), 9576);
	assert_int_equal(split_key_bucket("550e8400-e29b-41d4-a716-446655440000", 36), 4019);
}

/* Raising the weight only ever moves keys from baseline to canary: for each
 * key, the pool over a rising sweep of weights is baseline...canary... */
static void test_monotonic(void **state)
{
	char key[32];
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		int len = snprintf(key, sizeof(key), "k%d", i);
		uint32_t b = split_key_bucket(key, (size_t)len), w;
		bool canary = false;

		for (w = 0; w <= WEIGHT_SCALE; w += 7) {
			enum pool_id p = split_pool_for_bucket(b, w);

			if (canary)
				assert_int_equal(p, POOL_CANARY);
			canary = p == POOL_CANARY;
		}
		/* and the switch happens exactly at the bucket */
		assert_int_equal(split_pool_for_bucket(b, b), POOL_BASELINE);
		assert_int_equal(split_pool_for_bucket(b, b + 1), POOL_CANARY);
	}
}

static void test_weight_extremes(void **state)
{
	struct split_rng rng;
	uint32_t b;
	int i;

	(void)state;
	for (b = 0; b < WEIGHT_SCALE; b++) {
		assert_int_equal(split_pool_for_bucket(b, 0), POOL_BASELINE);
		assert_int_equal(split_pool_for_bucket(b, WEIGHT_SCALE), POOL_CANARY);
	}
	split_rng_seed(&rng, 3);
	for (i = 0; i < NDRAWS; i++) {
		b = split_rng_bucket(&rng);
		assert_int_equal(split_pool_for_bucket(b, 0), POOL_BASELINE);
		assert_int_equal(split_pool_for_bucket(b, WEIGHT_SCALE), POOL_CANARY);
	}
}

/* ---- header parsing ----------------------------------------------------- */

static int override(const char *s)
{
	return split_parse_override(s, strlen(s));
}

static void test_override(void **state)
{
	(void)state;
	assert_int_equal(override("canary"), POOL_CANARY);
	assert_int_equal(override("CANARY"), POOL_CANARY);
	assert_int_equal(override("Canary"), POOL_CANARY);
	assert_int_equal(override("  canary \t"), POOL_CANARY);
	assert_int_equal(override("baseline"), POOL_BASELINE);
	assert_int_equal(override("BaseLine"), POOL_BASELINE);
	assert_int_equal(override("\tbaseline"), POOL_BASELINE);

	assert_int_equal(override(""), -1);
	assert_int_equal(override("   "), -1);
	assert_int_equal(override("canar"), -1);
	assert_int_equal(override("canaryy"), -1);
	assert_int_equal(override("can ary"), -1);
	assert_int_equal(override("base"), -1);
	assert_int_equal(override("baseline canary"), -1);
	assert_int_equal(override("primary"), -1);
	assert_int_equal(override("1"), -1);
	assert_int_equal(split_parse_override(NULL, 0), -1);

	/* only LEN bytes count */
	assert_int_equal(split_parse_override("canary!", 6), POOL_CANARY);
	assert_int_equal(split_parse_override("canary", 5), -1);
	assert_int_equal(split_parse_override("baselinebaseline", 8), POOL_BASELINE);
}

/* Expect NAME in HEADER to be found with value WANT (NULL: not found). */
static void cookie_case(const char *header, size_t len, const char *name, const char *want)
{
	const char *out = (const char *)1;
	size_t outlen = 12345;
	bool found = split_find_cookie(header, len, name, &out, &outlen);

	if (found != (want != NULL) ||
	    (found && (outlen != strlen(want) || memcmp(out, want, outlen) != 0)))
		print_error("cookie '%s' name '%s': found %d '%.*s', want %s\n", header, name,
		            found, found ? (int)outlen : 0, found ? out : "",
		            want != NULL ? want : "(not found)");
	assert_int_equal(found, want != NULL);
	if (want == NULL)
		return;
	assert_int_equal(outlen, strlen(want));
	assert_memory_equal(out, want, outlen);
	/* the result points into the header */
	assert_true(out >= header && out + outlen <= header + len);
}

static void cookie(const char *header, const char *name, const char *want)
{
	cookie_case(header, strlen(header), name, want);
}

static void test_cookie(void **state)
{
	(void)state;
	cookie("uid=42", "uid", "42");
	cookie("a=1; uid=42; b=2", "uid", "42");
	cookie("a=1; b=2; uid=42", "uid", "42");

	/* exact names: suffixes and prefixes of other names do not match */
	cookie("xuid=1; uid=2", "uid", "2");
	cookie("uidx=1; uid=2", "uid", "2");
	cookie("xuid=1; uidx=2", "uid", NULL);
	cookie("uid=1", "xuid", NULL);
	cookie("uid=1", "ui", NULL);
	cookie("a=uid=5; uid=6", "uid", "6");           /* "uid=" inside a value */
	cookie("UID=1", "uid", NULL);                   /* names are case-sensitive */

	/* empty values are found, and empty */
	cookie("uid=", "uid", "");
	cookie("uid=; b=2", "uid", "");
	cookie("a=1; uid=", "uid", "");

	/* missing */
	cookie("a=1; b=2", "uid", NULL);
	cookie("", "uid", NULL);
	cookie(";", "uid", NULL);
	cookie("uid", "uid", NULL);                     /* no '=': not a pair */
	cookie("uid; uid=5", "uid", "5");

	/* whitespace */
	cookie("a=1;uid=3", "uid", "3");
	cookie("a=1;\tuid=8", "uid", "8");
	cookie("  uid = 4 ;", "uid", "4");
	cookie("a=1;; uid=7;", "uid", "7");

	/* quoted values lose their DQUOTEs */
	cookie("uid=\"quoted\"", "uid", "quoted");
	cookie("a=1; uid=\"q\"; b=2", "uid", "q");
	cookie("uid=\"\"", "uid", "");
	cookie("uid=\"", "uid", "\"");                  /* a lone DQUOTE is kept */

	/* values may contain '=' (base64); the first pair of a name wins */
	cookie("uid=YWJj==", "uid", "YWJj==");
	cookie("uid=1; uid=2", "uid", "1");

	/* only LEN bytes count */
	cookie_case("uid=12345", 6, "uid", "12");
	cookie_case("uid=12345; x=1", 3, "uid", NULL);
	cookie_case("xuid=1; uid=2", 0, "uid", NULL);

	/* bad arguments */
	assert_false(split_find_cookie(NULL, 0, "uid", NULL, NULL));
	assert_false(split_find_cookie("uid=1", 5, NULL, NULL, NULL));
	assert_false(split_find_cookie("=1", 2, "", NULL, NULL));
	/* out pointers are optional */
	assert_true(split_find_cookie("uid=1", 5, "uid", NULL, NULL));
}

/* ---- server choice ------------------------------------------------------ */

static void test_round_robin(void **state)
{
	struct split_server_view s[3] = { { 0, 0, NULL }, { 0, 0, NULL }, { 0, 0, NULL } };
	uint32_t cursor = 0;
	int i;

	(void)state;
	for (i = 0; i < 9; i++)
		assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 500), i % 3);

	/* server 1 backs off until t=1000: skipped without taking a turn */
	s[1].down_until_ms = 1000;
	cursor = 0;
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 500), 0);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 500), 2);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 999), 0);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 999), 2);
	/* back at t=1000 */
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 1000), 0);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 1000), 1);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 1000), 2);

	/* a cursor past n (the pool shrank on reload) wraps */
	cursor = 7;
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 1000), 1);
	cursor = UINT32_MAX;
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 1000), 0);

	/* one server */
	cursor = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 1, &cursor, 0), 0);
}

static void test_round_robin_even(void **state)
{
	struct split_server_view s[5] = { { 0, 0, NULL }, { 0, 0, NULL }, { 0, 0, NULL }, { 0, 0, NULL }, { 0, 0, NULL } };
	unsigned got[5] = { 0 };
	uint32_t cursor = 0;
	int i;

	(void)state;
	s[3].down_until_ms = 100;
	for (i = 0; i < 4000; i++)
		got[split_pick_server(BALANCE_ROUND_ROBIN, s, 5, &cursor, 50)]++;
	assert_int_equal(got[0], 1000);
	assert_int_equal(got[1], 1000);
	assert_int_equal(got[2], 1000);
	assert_int_equal(got[3], 0);
	assert_int_equal(got[4], 1000);
}

static void test_least_conn(void **state)
{
	struct split_server_view s[4] = { { 0, 5, NULL }, { 0, 2, NULL }, { 0, 7, NULL }, { 0, 3, NULL } };
	uint32_t cursor = 0;
	unsigned got[3] = { 0 };
	int i;

	(void)state;
	assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, s, 4, &cursor, 10), 1);
	assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, s, 4, &cursor, 10), 1);

	/* the least loaded is down: next least among the up ones */
	s[1].down_until_ms = 20;
	assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, s, 4, &cursor, 10), 3);
	assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, s, 4, &cursor, 20), 1);

	/* ties rotate: 1 and 2 both at 1 active take turns */
	s[0].active = 3;
	s[1].active = 1;
	s[2].active = 1;
	s[3].active = 5;
	cursor = 0;
	for (i = 0; i < 6; i++)
		assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, s, 4, &cursor, 20), 1 + i % 2);

	/* idle servers all at 0 share the load round-robin */
	memset(s, 0, sizeof(s));
	cursor = 0;
	for (i = 0; i < 8; i++)
		assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, s, 4, &cursor, 0), i % 4);

	/* requests that never finish end up spread evenly */
	cursor = 0;
	for (i = 0; i < 30; i++) {
		int p = split_pick_server(BALANCE_LEAST_CONN, s, 3, &cursor, 0);

		s[p].active++;
		got[p]++;
	}
	assert_int_equal(got[0], 10);
	assert_int_equal(got[1], 10);
	assert_int_equal(got[2], 10);
}

static void test_all_down(void **state)
{
	struct split_server_view s[3] = { { 300, 0, NULL }, { 100, 9, NULL }, { 200, 0, NULL } };
	uint32_t cursor = 0;
	int b;

	(void)state;
	for (b = 0; b < 2; b++) {
		enum balance bal = b ? BALANCE_LEAST_CONN : BALANCE_ROUND_ROBIN;

		/* every server backing off: the one back first, never -1 */
		cursor = 0;
		assert_int_equal(split_pick_server(bal, s, 3, &cursor, 50), 1);
		assert_int_equal(split_pick_server(bal, s, 3, &cursor, 50), 1);
		/* at t=100 server 1 is up again */
		assert_int_equal(split_pick_server(bal, s, 3, &cursor, 100), 1);
	}

	/* ties among the earliest go round-robin */
	s[0].down_until_ms = 100;
	cursor = 0;
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 50), 0);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 50), 1);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 50), 0);

	/* a single server that is down is still the answer */
	cursor = 0;
	assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, s, 1, &cursor, 0), 0);
}

/* Servers down by their health check are never picked, not even when every
 * other server is backing off; with all of them down there is no answer. */
static void test_check_down(void **state)
{
	_Atomic uint32_t words[3];
	struct split_server_view s[3] = { { 0, 0, &words[0] }, { 0, 0, &words[1] }, { 0, 5, NULL } };
	uint32_t cursor = 0;
	int b, k;

	(void)state;
	atomic_init(&words[0], CHECK_UP);
	atomic_init(&words[1], CHECK_DOWN);
	for (b = 0; b < 2; b++) {
		enum balance bal = b ? BALANCE_LEAST_CONN : BALANCE_ROUND_ROBIN;

		cursor = 0;
		for (k = 0; k < 10; k++)
			assert_int_not_equal(split_pick_server(bal, s, 3, &cursor, 50), 1);
		/* unchecked is routed to */
		atomic_store(&words[1], CHECK_UNCHECKED);
		s[0].active = 9;
		cursor = 1;
		assert_int_equal(split_pick_server(bal, s, 3, &cursor, 50), 1);
		s[0].active = 0;
		atomic_store(&words[1], CHECK_DOWN);
	}
	/* the others backing off: the backed-off ones still, the checked-down one never */
	s[0].down_until_ms = 300;
	s[2].down_until_ms = 200;
	cursor = 1;
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 3, &cursor, 50), 2);
	assert_false(split_server_available(&s[1], 1000));
	assert_true(split_server_available(&s[2], 1000));
	/* every server down by its check: -1, cursor untouched */
	atomic_store(&words[0], CHECK_DOWN);
	struct split_server_view both[2] = { s[0], s[1] };
	cursor = 7;
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, both, 2, &cursor, 50), -1);
	assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, both, 2, &cursor, 1000), -1);
	assert_int_equal(cursor, 7);
}

static void test_no_servers(void **state)
{
	struct split_server_view s[1] = { { 0, 0, NULL } };
	uint32_t cursor = 5;

	(void)state;
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, NULL, 0, &cursor, 0), -1);
	assert_int_equal(split_pick_server(BALANCE_LEAST_CONN, NULL, 0, &cursor, 0), -1);
	assert_int_equal(split_pick_server(BALANCE_ROUND_ROBIN, s, 0, &cursor, 0), -1);
	assert_int_equal(cursor, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_distribution),
		cmocka_unit_test(test_rng_pairs),
		cmocka_unit_test(test_rng_seeding),
		cmocka_unit_test(test_key_distribution),
		cmocka_unit_test(test_key_short),
		cmocka_unit_test(test_key_sticky),
		cmocka_unit_test(test_monotonic),
		cmocka_unit_test(test_weight_extremes),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_round_robin_even),
		cmocka_unit_test(test_least_conn),
		cmocka_unit_test(test_all_down),
		cmocka_unit_test(test_check_down),
		cmocka_unit_test(test_no_servers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
