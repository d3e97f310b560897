/* hdr_bench: how long hdr_record takes per value.
 *
 *   bench/hdr_bench [COUNT]      (default 100,000,000)
 *
 * Records COUNT latency-like values (microseconds, roughly log-normal around
 * 4 ms with a tail to seconds) into a 1 us .. 1 h, 3-figure histogram. The
 * values are precomputed into a table that is cycled, so the generator's
 * cost is not measured and memory stays at 32 MiB whatever COUNT is. A
 * percentile is printed at the end so the loop cannot be optimised away. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weir/hdr.h"

#define TABLE_LEN (UINT64_C(1) << 22)     /* power of two: cheap wrap */

static uint64_t bench_rng(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* A latency-like value without libm: a binary exponent that is the sum of
 * four small uniforms (so clustered, roughly normal in log space) and a
 * random 10-bit mantissa; one value in 1000 is a multi-second stall. */
static int64_t latency_like(uint64_t *s)
{
	uint64_t r = bench_rng(s);
	int exp2 = 6 + (int)(r & 3) + (int)((r >> 2) & 3) + (int)((r >> 4) & 3) + (int)((r >> 6) & 3);
	int64_t mantissa = 1024 + (int64_t)((r >> 8) & 1023);

	if ((r >> 20) % 1000 == 0)
		return 1000000 + (int64_t)((r >> 32) % 59000000);
	return (mantissa << exp2) >> 10;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t count = 100000000, i, seed = 42;
	int64_t *table;
	struct hdr *h;
	double t0, t1;

	if (argc > 1) {
		char *end;

		errno = 0;
		count = strtoull(argv[1], &end, 10);
		if (errno != 0 || end == argv[1] || *end != '\0' || count == 0) {
			fprintf(stderr, "usage: %s [COUNT]\n", argv[0]);
			return 2;
		}
	}

	table = malloc(TABLE_LEN * sizeof(*table));
	h = hdr_new(1, INT64_C(3600000000), 3);
	if (table == NULL || h == NULL) {
		fprintf(stderr, "hdr_bench: out of memory\n");
		free(table);
		hdr_free(h);
		return 1;
	}
	for (i = 0; i < TABLE_LEN; i++)
		table[i] = latency_like(&seed);

	/* warm the counts array and the table into cache once */
	for (i = 0; i < TABLE_LEN; i++)
		hdr_record(h, table[i]);
	hdr_reset(h);

	t0 = now_ns();
	for (i = 0; i < count; i++)
		hdr_record(h, table[i & (TABLE_LEN - 1)]);
	t1 = now_ns();

	printf("hdr_record: %.2f ns/value (%" PRIu64 " values)\n", (t1 - t0) / (double)count, count);
	printf("memory %zu bytes; count %" PRIu64 " p50 %" PRId64 " p99 %" PRId64
	       " p99.9 %" PRId64 " max %" PRId64 " us\n",
	       hdr_memory_size(h), hdr_count(h), hdr_value_at_percentile(h, 50.0),
	       hdr_value_at_percentile(h, 99.0), hdr_value_at_percentile(h, 99.9), hdr_max(h));

	hdr_free(h);
	free(table);
	return 0;
}
