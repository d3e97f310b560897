/* Unit tests for hdr: percentiles against the exact nearest-rank percentile
 * of the sorted samples, within the precision the histogram promises.
 *
 * No libm: the Makefile links the unit tests without -lm, so the few
 * transcendental helpers the data generators need are written here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/hdr.h"

#define LOW 1
#define HIGH INT64_C(3600000000)          /* 1 us .. 1 h */
#define NSAMPLES 100000

static const uint64_t ten_pow[] = { 1, 10, 100, 1000, 10000, 100000 };

/* ---- deterministic test data -------------------------------------------- */

/* splitmix64: the test's own generator, independent of src/split.c. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Approximately standard normal (Irwin-Hall, 12 uniforms): good enough to
 * shape test data, and needs no libm. */
static double rng_normal(uint64_t *s)
{
	double sum = 0.0;
	int i;

	for (i = 0; i < 12; i++)
		sum += rng_unit(s);
	return sum - 6.0;
}

/* e^y for moderate y, by range reduction to [-0.5, 0.5] and a Taylor series. */
static double test_exp(double y)
{
	double term = 1.0, sum = 1.0, scale = 1.0;
	int k, n = 0;

	while (y > 0.5) {
		y -= 1.0;
		n++;
	}
	while (y < -0.5) {
		y += 1.0;
		n--;
	}
	for (k = 1; k < 20; k++) {
		term *= y / k;
		sum += term;
	}
	for (; n > 0; n--)
		scale *= 2.718281828459045;
	for (; n < 0; n++)
		scale /= 2.718281828459045;
	return sum * scale;
}

static int64_t clamp_range(double v)
{
	if (v < (double)LOW)
		return LOW;
	if (v > (double)HIGH)
		return HIGH;
	return (int64_t)v;
}

enum dataset { DS_UNIFORM, DS_LOGNORMAL, DS_BIMODAL, DS_CONSTANT, DS_OUTLIERS, DS_COUNT };

static const char *const dataset_name[DS_COUNT] = {
	"uniform", "lognormal", "bimodal", "constant", "outliers"
};

static void gen_dataset(enum dataset ds, int64_t *out, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	size_t i;

	for (i = 0; i < n; i++) {
		switch (ds) {
		case DS_UNIFORM:
			out[i] = LOW + (int64_t)(rng_next(&s) % (uint64_t)HIGH);
			break;
		case DS_LOGNORMAL:      /* median 5 ms, wide */
			out[i] = clamp_range(test_exp(8.517 + 1.5 * rng_normal(&s)));
			break;
		case DS_BIMODAL:        /* 70 % cache hits ~2 ms, 30 % misses ~200 ms */
			if (rng_unit(&s) < 0.7)
				out[i] = clamp_range(2000.0 + 200.0 * rng_normal(&s));
			else
				out[i] = clamp_range(200000.0 + 20000.0 * rng_normal(&s));
			break;
		case DS_CONSTANT:
			out[i] = 4242;
			break;
		case DS_OUTLIERS:       /* 1 % of requests hang for 17 min .. 1 h */
			if (rng_next(&s) % 100 == 0)
				out[i] = INT64_C(1000000000) + (int64_t)(rng_next(&s) % INT64_C(2600000001));
			else
				out[i] = 900 + (int64_t)(rng_next(&s) % 201);
			break;
		case DS_COUNT:
			break;
		}
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Percentiles under test, in parts per million so the exact rank can be
 * computed in integers: rank = ceil(ppm * n / 10^6), at least 1. */
static const uint64_t test_ppm[] = { 0, 500000, 900000, 990000, 999000, 999900, 1000000 };
#define NPPM (sizeof(test_ppm) / sizeof(test_ppm[0]))

static int64_t exact_percentile(const int64_t *sorted, size_t n, uint64_t ppm)
{
	uint64_t rank = (ppm * n + 999999) / 1000000;

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* The histogram's answer must lie in the exact value's own slot (it is
 * reported as the slot's highest equivalent, clamped to max, and p0 as the
 * min itself), and hence within the stated relative precision. Both are
 * asserted: the first is the tight property, the second the contract. */
static void assert_percentile(const struct hdr *h, const int64_t *sorted, size_t n,
                              uint64_t ppm, int sigfigs, const char *what)
{
	int64_t exact = exact_percentile(sorted, n, ppm);
	int64_t got = hdr_value_at_percentile(h, (double)ppm / 10000.0);
	int64_t hi = hdr_highest_equivalent(h, exact);
	uint64_t diff = (uint64_t)(got > exact ? got - exact : exact - got);

	if (got < exact || got > hi || diff * ten_pow[sigfigs] > (uint64_t)exact)
		print_error("%s sigfigs=%d p%.4f: hdr %lld, exact %lld, slot top %lld\n",
		            what, sigfigs, (double)ppm / 10000.0, (long long)got,
		            (long long)exact, (long long)hi);
	assert_true(got >= exact);
	assert_true(got <= hi);
	assert_true(diff * ten_pow[sigfigs] <= (uint64_t)exact);
}

static void check_dataset(const int64_t *values, size_t n, int64_t lowest, int64_t highest,
                          int sigfigs, const char *what)
{
	struct hdr *h = hdr_new(lowest, highest, sigfigs);
	int64_t *sorted = malloc(n * sizeof(*sorted));
	long double sum = 0;
	double mean;
	size_t i, k;

	assert_non_null(h);
	assert_non_null(sorted);
	for (i = 0; i < n; i++) {
		hdr_record(h, values[i]);
		sorted[i] = values[i];
		sum += values[i];
	}
	qsort(sorted, n, sizeof(*sorted), cmp_i64);

	assert_int_equal(hdr_count(h), n);
	assert_int_equal(hdr_out_of_range(h), 0);
	assert_int_equal(hdr_min(h), sorted[0]);
	assert_int_equal(hdr_max(h), sorted[n - 1]);
	mean = (double)(sum / n);
	assert_true(hdr_mean(h) >= mean * (1 - 1e-12) && hdr_mean(h) <= mean * (1 + 1e-12));

	for (k = 0; k < NPPM; k++)
		assert_percentile(h, sorted, n, test_ppm[k], sigfigs, what);
	/* The ends are exact. */
	assert_int_equal(hdr_value_at_percentile(h, 0.0), sorted[0]);
	assert_int_equal(hdr_value_at_percentile(h, 100.0), sorted[n - 1]);

	free(sorted);
	hdr_free(h);
}

/* ---- tests -------------------------------------------------------------- */

static void test_datasets_3_figures(void **state)
{
	int64_t *values = malloc(NSAMPLES * sizeof(*values));
	int ds;

	(void)state;
	assert_non_null(values);
	for (ds = 0; ds < DS_COUNT; ds++) {
		gen_dataset((enum dataset)ds, values, NSAMPLES, 0x5eed0000u + (uint64_t)ds);
		check_dataset(values, NSAMPLES, LOW, HIGH, 3, dataset_name[ds]);
	}
	free(values);
}

/* Every precision level, on every data set. */
static void test_sigfigs_1_to_5(void **state)
{
	int64_t *values = malloc(NSAMPLES * sizeof(*values));
	int ds, sf;

	(void)state;
	assert_non_null(values);
	for (sf = 1; sf <= 5; sf++) {
		for (ds = 0; ds < DS_COUNT; ds++) {
			gen_dataset((enum dataset)ds, values, NSAMPLES / 4, 0xabcd00u + (uint64_t)ds);
			check_dataset(values, NSAMPLES / 4, LOW, HIGH, sf, dataset_name[ds]);
		}
	}
	free(values);
}

/* A lowest above 1 must keep the promise from lowest upward (lowest is a
 * floor, not a resolution). */
static void test_lowest_above_one(void **state)
{
	static const int64_t lowest[] = { 1000, 5000, 1000000, 123456789 };
	int64_t *values = malloc(NSAMPLES / 4 * sizeof(*values));
	size_t i, j;
	int sf;

	(void)state;
	assert_non_null(values);
	for (j = 0; j < sizeof(lowest) / sizeof(lowest[0]); j++) {
		for (sf = 1; sf <= 5; sf++) {
			uint64_t s = 77 + j;

			for (i = 0; i < NSAMPLES / 4; i++)
				values[i] = lowest[j] + (int64_t)(rng_next(&s) % (uint64_t)(lowest[j] * 50));
			values[0] = lowest[j];
			check_dataset(values, NSAMPLES / 4, lowest[j], lowest[j] * 100, sf, "lowest");
		}
	}
	free(values);
}

/* Slot width against the promise, over a sweep of values at every level:
 * lowest <= v <= highest implies lo <= v <= hi and hi - lo < v * 10^-s. */
static void test_bucket_width(void **state)
{
	static const int64_t lowest[] = { 1, 3, 1000, 5000, 1000000 };
	size_t j;
	int sf;

	(void)state;
	for (j = 0; j < sizeof(lowest) / sizeof(lowest[0]); j++) {
		for (sf = 1; sf <= 5; sf++) {
			struct hdr *h = hdr_new(lowest[j], HIGH, sf);
			uint64_t s = 99;
			int64_t v;
			int i;

			assert_non_null(h);
			for (i = 0; i < 20000; i++) {
				int64_t lo, hi;

				/* geometric sweep plus the edges */
				if (i == 0)
					v = lowest[j];
				else if (i == 1)
					v = HIGH;
				else {
					uint64_t r = rng_next(&s), shift = rng_next(&s) % 64;

					v = lowest[j] + (int64_t)((r >> shift) % (uint64_t)(HIGH - lowest[j]));
				}
				lo = hdr_lowest_equivalent(h, v);
				hi = hdr_highest_equivalent(h, v);
				assert_true(lo <= v && v <= hi);
				assert_true((uint64_t)(hi - lo) * ten_pow[sf] < (uint64_t)v);
				/* both ends map back to the same slot */
				assert_int_equal(hdr_lowest_equivalent(h, hi), lo);
				if (lo >= lowest[j])
					assert_int_equal(hdr_highest_equivalent(h, lo), hi);
			}
			hdr_free(h);
		}
	}
}

/* Values exactly representable below 2 * 10^sigfigs are kept exactly. */
static void test_exact_small_values(void **state)
{
	struct hdr *h = hdr_new(1, HIGH, 3);
	int64_t v;

	(void)state;
	assert_non_null(h);
	for (v = 1; v < 2048; v++) {
		assert_int_equal(hdr_lowest_equivalent(h, v), v);
		assert_int_equal(hdr_highest_equivalent(h, v), v);
	}
	/* first doubled slot */
	assert_int_equal(hdr_lowest_equivalent(h, 2049), 2048);
	assert_int_equal(hdr_highest_equivalent(h, 2048), 2049);
	hdr_free(h);
}

/* The classic: one stall among 10,000 fast requests. */
static void test_classic_outlier(void **state)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3);
	double mean;
	int i;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < 10000; i++)
		hdr_record(h, 1000);
	hdr_record(h, 100000000);

	assert_int_equal(hdr_count(h), 10001);
	/* 1,000 sits in the exact region (< 2048), so "within precision" is exact */
	assert_int_equal(hdr_value_at_percentile(h, 50.0), 1000);
	assert_int_equal(hdr_value_at_percentile(h, 99.99), 1000);   /* rank 10000 */
	assert_int_equal(hdr_value_at_percentile(h, 99.999), 100000000);
	assert_int_equal(hdr_value_at_percentile(h, 100.0), 100000000);
	assert_int_equal(hdr_min(h), 1000);
	assert_int_equal(hdr_max(h), 100000000);
	mean = hdr_mean(h);
	assert_true(mean > 10999.0 * 0.999 && mean < 10999.0 * 1.001);
	/* and the mean is in fact the exact one: 110,000,000 / 10001 */
	assert_true(mean > 10998.9 && mean < 10999.0);
	hdr_free(h);
}

static void test_invalid_args(void **state)
{
	(void)state;
	assert_null(hdr_new(0, 1000, 3));
	assert_null(hdr_new(-1, 1000, 3));
	assert_null(hdr_new(INT64_MIN, 1000, 3));
	assert_null(hdr_new(100, 199, 3));          /* highest < 2 * lowest */
	assert_null(hdr_new(100, 100, 3));
	assert_null(hdr_new(100, -5, 3));
	assert_null(hdr_new(INT64_MAX / 2 + 1, INT64_MAX, 3));
	assert_null(hdr_new(1, 1000, 0));
	assert_null(hdr_new(1, 1000, 6));
	assert_null(hdr_new(1, 1000, -3));
}

/* The widest legal ranges must not overflow anywhere (UBSan watches). */
static void test_extreme_ranges(void **state)
{
	int sf;

	(void)state;
	for (sf = 1; sf <= 5; sf++) {
		struct hdr *h = hdr_new(1, INT64_MAX, sf);
		struct hdr *g = hdr_new(INT64_MAX / 2, INT64_MAX, sf);

		assert_non_null(h);
		assert_non_null(g);
		hdr_record(h, INT64_MAX);
		hdr_record(h, 1);
		hdr_record(h, INT64_MIN);
		assert_int_equal(hdr_out_of_range(h), 1);
		assert_int_equal(hdr_max(h), INT64_MAX);
		assert_int_equal(hdr_highest_equivalent(h, INT64_MAX), INT64_MAX);
		assert_int_equal(hdr_value_at_percentile(h, 100.0), INT64_MAX);
		assert_int_equal(hdr_value_at_percentile(h, 50.0), 1);
		assert_int_equal(hdr_value_at_percentile(h, 99.0), INT64_MAX);

		hdr_record(g, INT64_MAX);
		hdr_record(g, INT64_MAX / 2);
		hdr_record(g, 0);
		assert_int_equal(hdr_out_of_range(g), 1);
		assert_int_equal(hdr_min(g), INT64_MAX / 2);
		assert_true(hdr_value_at_percentile(g, 50.0) >= INT64_MAX / 2);
		assert_true((uint64_t)(hdr_value_at_percentile(g, 50.0) - INT64_MAX / 2) *
		            ten_pow[sf] <= (uint64_t)(INT64_MAX / 2));
		/* sum of INT64_MAX + 2 * INT64_MAX/2 overflows 64 bits; the mean must not */
		assert_true(hdr_mean(g) > 0.66 * (double)INT64_MAX &&
		            hdr_mean(g) < 0.67 * (double)INT64_MAX);
		hdr_free(h);
		hdr_free(g);
	}
}

static void test_memory_size(void **state)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3);

	(void)state;
	assert_non_null(h);
	print_message("hdr_memory_size(1 us .. 1 h, 3 figures) = %zu bytes\n", hdr_memory_size(h));
	assert_true(hdr_memory_size(h) < 200000);
	/* 22 buckets of 1024 slots plus the first half, 8 bytes each */
	assert_true(hdr_memory_size(h) >= 23 * 1024 * 8);
	hdr_free(h);
}

static void test_out_of_range(void **state)
{
	struct hdr *h = hdr_new(10, 1000, 3);

	(void)state;
	assert_non_null(h);
	hdr_record(h, 500);
	assert_int_equal(hdr_out_of_range(h), 0);

	hdr_record(h, 5000);                    /* above highest */
	assert_int_equal(hdr_out_of_range(h), 1);
	assert_int_equal(hdr_max(h), 1000);
	assert_int_equal(hdr_value_at_percentile(h, 100.0), 1000);

	hdr_record(h, 5);                       /* below lowest */
	assert_int_equal(hdr_out_of_range(h), 2);
	assert_int_equal(hdr_min(h), 10);

	hdr_record(h, -7);                      /* negative */
	hdr_record(h, INT64_MIN);
	hdr_record(h, INT64_MAX);
	assert_int_equal(hdr_out_of_range(h), 5);
	assert_int_equal(hdr_min(h), 10);
	assert_int_equal(hdr_max(h), 1000);

	hdr_record_n(h, 2000, 5);
	hdr_record_n(h, 0, 3);
	assert_int_equal(hdr_out_of_range(h), 13);
	/* nothing lost: every value counted */
	assert_int_equal(hdr_count(h), 14);
	/* 6 x 10 and 7 x 1000 clamped, 1 x 500: the clamped values are what is
	 * recorded, so they take part in percentiles and the mean */
	assert_int_equal(hdr_value_at_percentile(h, 0.0), 10);
	assert_int_equal(hdr_value_at_percentile(h, 100.0 * 6 / 14), 10);
	assert_int_equal(hdr_value_at_percentile(h, 100.0 * 7 / 14), 500);
	assert_int_equal(hdr_value_at_percentile(h, 100.0 * 8 / 14), 1000);
	assert_true(hdr_mean(h) > (6 * 10 + 500 + 7 * 1000) / 14.0 - 1e-9 &&
	            hdr_mean(h) < (6 * 10 + 500 + 7 * 1000) / 14.0 + 1e-9);
	hdr_free(h);
}

static void assert_same(const struct hdr *a, const struct hdr *b)
{
	int i;

	assert_int_equal(hdr_count(a), hdr_count(b));
	assert_int_equal(hdr_out_of_range(a), hdr_out_of_range(b));
	assert_int_equal(hdr_min(a), hdr_min(b));
	assert_int_equal(hdr_max(a), hdr_max(b));
	assert_true(hdr_mean(a) == hdr_mean(b));
	for (i = 0; i <= 10000; i++)
		assert_int_equal(hdr_value_at_percentile(a, i / 100.0),
		                 hdr_value_at_percentile(b, i / 100.0));
	assert_int_equal(hdr_value_at_percentile(a, 99.999), hdr_value_at_percentile(b, 99.999));
}

static void test_add(void **state)
{
	struct hdr *a = hdr_new(LOW, HIGH, 3);
	struct hdr *b = hdr_new(LOW, HIGH, 3);
	struct hdr *all = hdr_new(LOW, HIGH, 3);
	struct hdr *empty = hdr_new(LOW, HIGH, 3);
	int64_t *va = malloc(20000 * sizeof(*va));
	int64_t *vb = malloc(20000 * sizeof(*vb));
	int i;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(all);
	assert_non_null(empty);
	assert_non_null(va);
	assert_non_null(vb);
	gen_dataset(DS_LOGNORMAL, va, 20000, 1);
	gen_dataset(DS_BIMODAL, vb, 20000, 2);
	for (i = 0; i < 20000; i++) {
		hdr_record(a, va[i]);
		hdr_record(all, va[i]);
		hdr_record(b, vb[i]);
		hdr_record(all, vb[i]);
	}
	hdr_record(b, HIGH + 1);
	hdr_record(all, HIGH + 1);

	/* adding an empty histogram changes nothing */
	assert_int_equal(hdr_add(a, empty), 0);
	assert_int_equal(hdr_count(a), 20000);

	assert_int_equal(hdr_add(a, b), 0);
	assert_same(a, all);
	assert_int_equal(hdr_count(a), 40001);
	assert_int_equal(hdr_out_of_range(a), 1);

	/* into an empty one: equals the source (min must not stick at 0) */
	assert_int_equal(hdr_add(empty, b), 0);
	assert_same(empty, b);

	free(va);
	free(vb);
	hdr_free(a);
	hdr_free(b);
	hdr_free(all);
	hdr_free(empty);
}

static void test_add_mismatch(void **state)
{
	struct hdr *dst = hdr_new(1, 1000000, 3);
	struct hdr *other[3];
	int i;

	(void)state;
	other[0] = hdr_new(1, 1000000, 2);
	other[1] = hdr_new(2, 1000000, 3);
	other[2] = hdr_new(1, 1000001, 3);
	assert_non_null(dst);
	hdr_record(dst, 42);
	for (i = 0; i < 3; i++) {
		assert_non_null(other[i]);
		hdr_record(other[i], 7);
		assert_int_equal(hdr_add(dst, other[i]), -1);
		assert_int_equal(hdr_copy(dst, other[i]), -1);
		/* dst untouched */
		assert_int_equal(hdr_count(dst), 1);
		assert_int_equal(hdr_min(dst), 42);
		hdr_free(other[i]);
	}
	hdr_free(dst);
}

static void test_copy(void **state)
{
	struct hdr *src = hdr_new(LOW, HIGH, 3);
	struct hdr *dst = hdr_new(LOW, HIGH, 3);
	int64_t *v = malloc(10000 * sizeof(*v));
	int i;

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	assert_non_null(v);
	gen_dataset(DS_OUTLIERS, v, 10000, 3);
	for (i = 0; i < 10000; i++)
		hdr_record(src, v[i]);
	hdr_record(src, -1);
	hdr_record(dst, 123456);                /* to be overwritten */
	hdr_record(dst, 1);

	assert_int_equal(hdr_copy(dst, src), 0);
	assert_same(dst, src);

	/* the copy is independent of the source */
	hdr_record(src, 77);
	assert_int_equal(hdr_count(dst), 10001);
	assert_int_equal(hdr_count(src), 10002);
	assert_int_equal(hdr_copy(dst, dst), 0);
	assert_int_equal(hdr_count(dst), 10001);

	free(v);
	hdr_free(src);
	hdr_free(dst);
}

static void assert_empty(const struct hdr *h)
{
	assert_int_equal(hdr_count(h), 0);
	assert_int_equal(hdr_out_of_range(h), 0);
	assert_int_equal(hdr_min(h), 0);
	assert_int_equal(hdr_max(h), 0);
	assert_true(hdr_mean(h) == 0.0);
	assert_int_equal(hdr_value_at_percentile(h, 0.0), 0);
	assert_int_equal(hdr_value_at_percentile(h, 50.0), 0);
	assert_int_equal(hdr_value_at_percentile(h, 100.0), 0);
}

static void test_empty(void **state)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3);

	(void)state;
	assert_non_null(h);
	assert_empty(h);
	hdr_free(h);
	hdr_free(NULL);
}

static void test_reset(void **state)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3);
	int i;

	(void)state;
	assert_non_null(h);
	for (i = 1; i <= 1000; i++)
		hdr_record(h, i * 1000);
	hdr_record(h, -1);
	hdr_reset(h);
	assert_empty(h);

	/* min and max start afresh */
	hdr_record(h, 5000000);
	assert_int_equal(hdr_min(h), 5000000);
	assert_int_equal(hdr_max(h), 5000000);
	assert_int_equal(hdr_value_at_percentile(h, 1.0), 5000000);
	assert_true(hdr_mean(h) == 5000000.0);
	hdr_free(h);
}

/* The number of slots of H holding a count, over all its slots: widened
 * by recording LOW and HIGH, so that a count left outside min..max would
 * show up. Returns that number minus the two probes' slots. */
static size_t slots_after_widening(struct hdr *h)
{
	enum { MAX = 64 };
	int64_t lo[MAX], hi[MAX];
	uint64_t count[MAX];
	uint64_t before = hdr_count(h);

	hdr_record(h, LOW);
	hdr_record(h, HIGH);
	size_t n = hdr_slots(h, lo, hi, count, MAX);
	assert_true(n < MAX);
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += count[i];
	assert_int_equal(sum, before + 2); /* slots hold exactly the values counted */
	return n - 2;
}

/* reset, copy, add and decode work over the slots between min and max;
 * none may leave a count outside them. */
static void test_no_stale_slots(void **state)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3);
	struct hdr *src = hdr_new(LOW, HIGH, 3);
	uint8_t buf[256];
	char err[128];

	(void)state;
	assert_non_null(h);
	assert_non_null(src);
	for (int i = 1; i <= 20; i++)
		hdr_record(h, i * 997);
	hdr_reset(h);
	assert_int_equal(slots_after_widening(h), 0);

	/* a copy over a histogram with values elsewhere: only the source's */
	hdr_reset(h);
	for (int i = 1; i <= 20; i++)
		hdr_record(h, i * 100003);
	hdr_record(src, 5000);
	hdr_record(src, 5001);
	assert_int_equal(hdr_copy(h, src), 0);
	assert_int_equal(slots_after_widening(h), 1);

	/* an add of an empty histogram changes nothing; of a full one, its slots */
	hdr_reset(h);
	hdr_reset(src);
	assert_int_equal(hdr_add(h, src), 0);
	assert_int_equal(slots_after_widening(h), 0);
	hdr_reset(h);
	hdr_record(src, 70);
	hdr_record(src, 700000);
	assert_int_equal(hdr_add(h, src), 0);
	assert_int_equal(slots_after_widening(h), 2);

	/* a decode over values elsewhere */
	size_t n = hdr_encode(src, buf, sizeof(buf));
	assert_true(n > 0);
	for (int i = 1; i <= 20; i++)
		hdr_record(h, i * 3001);
	assert_int_equal(hdr_decode(h, buf, n, err, sizeof(err)), 0);
	assert_int_equal(slots_after_widening(h), 2);
	hdr_free(h);
	hdr_free(src);
}

static void test_record_n(void **state)
{
	struct hdr *a = hdr_new(LOW, HIGH, 3);
	struct hdr *b = hdr_new(LOW, HIGH, 3);
	int i;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	hdr_record_n(a, 1234567, 1000);
	hdr_record_n(a, 17, 3);
	hdr_record_n(a, 999, 0);                /* nothing */
	for (i = 0; i < 1000; i++)
		hdr_record(b, 1234567);
	for (i = 0; i < 3; i++)
		hdr_record(b, 17);
	assert_same(a, b);
	assert_int_equal(hdr_min(a), 17);

	/* a 128-bit sum: 2^40 values of 3.6e9 do not overflow the mean */
	hdr_reset(a);
	hdr_record_n(a, HIGH, UINT64_C(1) << 40);
	hdr_record_n(a, HIGH, UINT64_C(1) << 40);
	assert_int_equal(hdr_count(a), UINT64_C(1) << 41);
	assert_true(hdr_mean(a) == (double)HIGH);
	assert_int_equal(hdr_value_at_percentile(a, 50.0), HIGH);
	hdr_free(a);
	hdr_free(b);
}

/* Percentile is non-decreasing in p, and out-of-domain p is clamped. */
static void test_percentile_monotone(void **state)
{
	struct hdr *h = hdr_new(LOW, HIGH, 2);
	int64_t *v = malloc(30000 * sizeof(*v));
	int64_t prev = 0;
	int i;

	(void)state;
	assert_non_null(h);
	assert_non_null(v);
	gen_dataset(DS_BIMODAL, v, 30000, 4);
	for (i = 0; i < 30000; i++)
		hdr_record(h, v[i]);
	for (i = 0; i <= 100000; i++) {
		int64_t p = hdr_value_at_percentile(h, i / 1000.0);

		assert_true(p >= prev);
		prev = p;
	}
	assert_int_equal(hdr_value_at_percentile(h, -5.0), hdr_min(h));
	assert_int_equal(hdr_value_at_percentile(h, 250.0), hdr_max(h));
	free(v);
	hdr_free(h);
}

/* hdr_slots: every recorded value lies inside its slot's [lo, hi], slots
 * ascend, counts add up, and the extremes are the exact min and max. */
static void test_slots(void **state)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3);
	static const int64_t vals[] = { 7, 7, 2048, 2049, 5000, 5003, 123456, 123457, 99999999 };
	size_t nv = sizeof(vals) / sizeof(vals[0]), cap, n, i, j;
	int64_t *lo, *hi;
	uint64_t *count, sum = 0;

	(void)state;
	assert_non_null(h);
	cap = hdr_slot_count(h);
	lo = calloc(cap, sizeof(*lo));
	hi = calloc(cap, sizeof(*hi));
	count = calloc(cap, sizeof(*count));
	assert_non_null(lo);
	assert_non_null(hi);
	assert_non_null(count);
	assert_int_equal(hdr_slots(h, lo, hi, count, cap), 0);
	for (i = 0; i < nv; i++)
		hdr_record(h, vals[i]);
	n = hdr_slots(h, lo, hi, count, cap);
	assert_true(n >= 5 && n <= nv);
	assert_int_equal(lo[0], 7);
	assert_int_equal(hi[n - 1], 99999999);
	for (j = 0; j < n; j++) {
		assert_true(lo[j] <= hi[j]);
		if (j > 0)
			assert_true(lo[j] > hi[j - 1]);
		assert_true(count[j] > 0);
		sum += count[j];
	}
	assert_int_equal(sum, nv);
	for (i = 0; i < nv; i++) {
		bool found = false;

		for (j = 0; j < n; j++)
			found |= lo[j] <= vals[i] && vals[i] <= hi[j];
		assert_true(found);
	}
	/* 5000 and 5003 share a slot at 3 figures (width 4 above 4096) */
	assert_int_equal(hdr_slots(h, lo, hi, count, 2), 2);

	/* what was added since a copy */
	struct hdr *base = hdr_new(LOW, HIGH, 3), *other = hdr_new(LOW, HIGH, 2);
	assert_non_null(base);
	assert_non_null(other);
	assert_int_equal(hdr_copy(base, h), 0);
	hdr_record(h, 5001);
	hdr_record(h, 7);
	hdr_record(h, 300);
	n = hdr_slots_diff(h, base, lo, hi, count, cap);
	assert_int_equal(n, 3);
	assert_true(lo[0] == 7 && hi[0] == 7 && count[0] == 1);
	assert_true(lo[1] == 300 && hi[1] == 300 && count[1] == 1);
	assert_true(lo[2] <= 5001 && hi[2] >= 5001 && count[2] == 1);
	assert_int_equal(hdr_slots_diff(h, h, lo, hi, count, cap), 0);
	/* LO is the slot's own low end, never the minimum: a count of values
	 * surely above a threshold must not fall when a lower value joins the
	 * lowest slot (5003 alone, then 5000, share the slot 5000..5003). */
	hdr_reset(base);
	hdr_record(base, 5003);
	assert_int_equal(hdr_slots(base, lo, hi, count, cap), 1);
	assert_int_equal(lo[0], 5000);
	hdr_record(base, 5000);
	assert_int_equal(hdr_slots(base, lo, hi, count, cap), 1);
	assert_int_equal(lo[0], 5000);
	assert_int_equal(hdr_slots_diff(h, other, lo, hi, count, cap), 0);
	hdr_free(base);
	hdr_free(other);
	free(lo);
	free(hi);
	free(count);
	hdr_free(h);
}

/* ---- compact encoding ------------------------------------------------------ */

/* Decoding an encoding gives the same histogram (counts, totals, min, max,
 * sum: every percentile and the mean agree), and re-encoding it gives the
 * same bytes. */
static void assert_round_trip(const struct hdr *h)
{
	size_t cap = hdr_encoded_size_max(h), n, m;
	uint8_t *buf = malloc(cap), *again = malloc(cap);
	struct hdr *d = hdr_new(LOW, HIGH, 3);
	char err[128];

	assert_non_null(buf);
	assert_non_null(again);
	n = hdr_encode(h, buf, cap);
	assert_true(n > 0);
	assert_int_equal(hdr_decode(d, buf, n, err, sizeof(err)), 0);
	assert_int_equal(hdr_count(d), hdr_count(h));
	assert_int_equal(hdr_out_of_range(d), hdr_out_of_range(h));
	assert_int_equal(hdr_min(d), hdr_min(h));
	assert_int_equal(hdr_max(d), hdr_max(h));
	assert_true(hdr_mean(d) == hdr_mean(h));
	for (double p = 0.0; p <= 100.0; p += 0.5)
		assert_int_equal(hdr_value_at_percentile(d, p), hdr_value_at_percentile(h, p));
	m = hdr_encode(d, again, cap);
	assert_int_equal(m, n);
	assert_memory_equal(again, buf, n);
	/* Merged bucket by bucket, two decoded halves are the whole. */
	assert_int_equal(hdr_add(d, h), 0);
	assert_int_equal(hdr_count(d), 2 * hdr_count(h));
	hdr_free(d);
	free(buf);
	free(again);
}

static void test_encode_round_trip(void **unused)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3);
	uint64_t seed = 11;
	uint8_t small[8];

	(void)unused;
	assert_round_trip(h); /* empty */
	hdr_record(h, 5000);
	assert_round_trip(h);
	for (int i = 0; i < 20000; i++)
		hdr_record(h, (int64_t)(5000.0 + 2000.0 * rng_normal(&seed)));
	hdr_record(h, -5);              /* out of range, both ends */
	hdr_record(h, HIGH + 1);
	hdr_record_n(h, 123456789, UINT64_C(1) << 40);
	assert_round_trip(h);
	assert_int_equal(hdr_encode(h, small, sizeof(small)), 0);
	/* The compact form is small: a latency histogram of a fold. */
	hdr_reset(h);
	for (int i = 0; i < 400; i++)
		hdr_record(h, (int64_t)(5000.0 + 2000.0 * rng_normal(&seed)));
	uint8_t buf[4096];
	size_t n = hdr_encode(h, buf, sizeof(buf));
	print_message("400 values at 5 +- 2 ms: %zu bytes (in memory %zu)\n", n, hdr_memory_size(h));
	assert_true(n > 0 && n < 1024);
	hdr_free(h);
}

/* Expect hdr_decode to refuse BUF with a message containing WHAT and to
 * leave D as it was. */
static void assert_refused(struct hdr *d, const uint8_t *buf, size_t len, const char *what)
{
	char err[128] = "";
	uint64_t before = hdr_count(d);
	int64_t max = hdr_max(d);

	assert_int_equal(hdr_decode(d, buf, len, err, sizeof(err)), -1);
	if (what && !strstr(err, what))
		fail_msg("expected \"%s\" in \"%s\"", what, err);
	assert_int_equal(hdr_count(d), before);
	assert_int_equal(hdr_max(d), max);
}

/* Hostile bytes (a fleet member's value in etcd may be anything): every
 * truncation, every flipped bit and the inconsistencies a forger would
 * try are refused, or decode to a histogram that re-encodes to the very
 * same bytes (the encoding is canonical), never to something else. */
static void test_decode_refuses(void **unused)
{
	struct hdr *h = hdr_new(LOW, HIGH, 3), *d = hdr_new(LOW, HIGH, 3), *other = hdr_new(LOW, HIGH, 2);
	uint8_t buf[512], mut[512], again[4096];
	size_t n;

	(void)unused;
	hdr_record(h, 100);
	hdr_record_n(h, 5000, 3);
	hdr_record(h, 90000);
	n = hdr_encode(h, buf, sizeof(buf));
	assert_true(n > 0 && n < sizeof(buf));
	hdr_record(d, 7); /* D's contents must survive every refusal */

	assert_refused(d, buf, 0, "not a weir histogram");
	assert_refused(d, (const uint8_t *)"X\1", 2, "not a weir histogram");
	memcpy(mut, buf, n);
	mut[1] = 2;
	assert_refused(d, mut, n, "unknown version");
	assert_refused(other, buf, n, "another geometry");
	for (size_t len = 1; len < n; len++)
		assert_refused(d, buf, len, NULL);
	memcpy(mut, buf, n);
	mut[n] = 0x02; /* one more count after the end: total disagrees */
	assert_refused(d, mut, n + 1, "do not sum to the total");
	/* a non-minimal varint: 0x85 0x00 is 5 in two bytes */
	uint8_t padded[] = { 'H', 1, 0x81, 0x00 };
	assert_refused(d, padded, sizeof(padded), "shortest form");
	uint8_t huge[] = { 'H', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	assert_refused(d, huge, sizeof(huge), "above 64 bits");

	/* Every single flipped bit. */
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			char err[128];

			memcpy(mut, buf, n);
			mut[i] ^= (uint8_t)(1u << bit);
			hdr_reset(d);
			if (hdr_decode(d, mut, n, err, sizeof(err)) == 0) {
				size_t m = hdr_encode(d, again, sizeof(again));
				assert_int_equal(m, n);
				assert_memory_equal(again, mut, n);
			}
		}
	hdr_free(h);
	hdr_free(d);
	hdr_free(other);
}

/* Headers that lie about their slots are refused by name. Built by hand:
 * 'H' 1 lowest=1 highest=3600000000 sigfigs=3, then the totals. */
static size_t forged(uint8_t *p, uint64_t total, uint64_t oor, int64_t min, int64_t max, uint64_t sum,
                     const uint8_t *slots, size_t nslots)
{
	struct hdr *g = hdr_new(LOW, HIGH, 3);
	size_t n;

	/* the real header of an empty histogram of this geometry ... */
	n = hdr_encode(g, p, 64);
	hdr_free(g);
	/* ... up to sigfigs (its last 6 varints are the zeros of the totals) */
	n -= 6;
	uint64_t vals[6] = { total, oor, ((uint64_t)min << 1) ^ (uint64_t)(min >> 63),
		             ((uint64_t)max << 1) ^ (uint64_t)(max >> 63), sum, 0 };
	for (int i = 0; i < 6; i++) {
		uint64_t v = vals[i];
		while (v >= 0x80) {
			p[n++] = (uint8_t)(v | 0x80);
			v >>= 7;
		}
		p[n++] = (uint8_t)v;
	}
	memcpy(p + n, slots, nslots);
	return n + nslots;
}

static void test_decode_inconsistent(void **unused)
{
	/* slot entries: zigzag(+2) = 4 (a count of 2), zigzag(-3) = 5 (skip 3);
	 * slot 3 holds the value 3; slot 0 the value 0, below lowest 1 */
	static const struct {
		uint64_t total, oor;
		int64_t min, max;
		uint64_t sum;
		uint8_t slots[3];
		size_t nslots;
		const char *what;        /* NULL: accepted */
	} cases[] = {
		{ 2, 0, 3, 3, 6, { 5, 4 }, 2, NULL },
		{ 2, 0, 1, 1, 2, { 4 }, 1, "outside the histogram's range" },
		{ 2, 0, 4, 4, 8, { 5, 4 }, 2, "not in the first or last slot" },
		{ 2, 0, 3, 3, 7, { 5, 4 }, 2, "a sum outside" },
		{ 2, 3, 3, 3, 6, { 5, 4 }, 2, "more values out of range" },
		{ 2, 0, 3, 3, 6, { 5, 4, 5 }, 3, "a trailing skip" },
		{ 2, 0, 3, 3, 6, { 0, 4 }, 2, "an empty entry" },
		{ 2, 0, 3, 3, 6, { 5, 5, 4 }, 3, "two skips in a row" },
		{ 0, 0, 0, 5, 0, { 0 }, 0, "an empty histogram with" },
		{ 2, 0, 5, 3, 6, { 5, 4 }, 2, "min or max outside the range" },
	};
	struct hdr *d = hdr_new(LOW, HIGH, 3);
	uint8_t p[128];

	(void)unused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = forged(p, cases[i].total, cases[i].oor, cases[i].min, cases[i].max, cases[i].sum,
		                  cases[i].slots, cases[i].nslots);

		if (cases[i].what) {
			assert_refused(d, p, n, cases[i].what);
			continue;
		}
		assert_int_equal(hdr_decode(d, p, n, NULL, 0), 0);
		assert_int_equal(hdr_count(d), 2);
		assert_int_equal(hdr_value_at_percentile(d, 50), 3);
	}
	hdr_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datasets_3_figures),
		cmocka_unit_test(test_sigfigs_1_to_5),
		cmocka_unit_test(test_lowest_above_one),
		cmocka_unit_test(test_bucket_width),
		cmocka_unit_test(test_exact_small_values),
		cmocka_unit_test(test_classic_outlier),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_extreme_ranges),
		cmocka_unit_test(test_memory_size),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_add_mismatch),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_no_stale_slots),
		cmocka_unit_test(test_record_n),
		cmocka_unit_test(test_percentile_monotone),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_decode_inconsistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
