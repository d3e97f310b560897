/* hdr: a High Dynamic Range histogram of integer values (weir records
 * microseconds), after Gil Tene's HdrHistogram design; our own code.
 *
 * Values between lowest and highest are recorded with a relative error no
 * larger than 10^-sigfigs (sigfigs 1..5). Recording is O(1) and never
 * allocates. Not thread-safe: one writer; merge copies with hdr_add. */
#ifndef WEIR_HDR_H
#define WEIR_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hdr;

/* Allocate a histogram tracking LOWEST..HIGHEST (1 <= lowest, 2*lowest <= highest)
 * with SIGFIGS significant figures (1..5). Returns NULL on bad arguments or
 * out of memory. Release with hdr_free. */
struct hdr *hdr_new(int64_t lowest, int64_t highest, int sigfigs);
void hdr_free(struct hdr *h);

/* Record one value (or COUNT of them). Values above the trackable range are
 * recorded as the highest trackable value and also counted in
 * hdr_out_of_range(); values below lowest (including negatives) are recorded
 * in the lowest bucket and counted likewise. Never fails, never allocates. */
void hdr_record(struct hdr *h, int64_t value);
void hdr_record_n(struct hdr *h, int64_t value, uint64_t count);

uint64_t hdr_count(const struct hdr *h);
uint64_t hdr_out_of_range(const struct hdr *h);
int64_t hdr_min(const struct hdr *h);          /* 0 when empty */
int64_t hdr_max(const struct hdr *h);          /* 0 when empty */
double hdr_mean(const struct hdr *h);          /* 0 when empty */

/* Value at PERCENTILE (0..100): the smallest recorded value v such that at
 * least percentile% of the values are <= v, reported as the highest value
 * equivalent to v's bucket (clamped to max). 0 when empty. */
int64_t hdr_value_at_percentile(const struct hdr *h, double percentile);

/* dst += src. Both must have been created with the same arguments;
 * returns 0, or -1 when they were not. */
int hdr_add(struct hdr *dst, const struct hdr *src);
/* dst = src (same arguments required); returns 0 or -1. */
int hdr_copy(struct hdr *dst, const struct hdr *src);
void hdr_reset(struct hdr *h);

/* Bytes this histogram occupies, including its counts array. */
size_t hdr_memory_size(const struct hdr *h);

/* Lowest and highest values that are equivalent to V (in the same bucket). */
int64_t hdr_lowest_equivalent(const struct hdr *h, int64_t v);
int64_t hdr_highest_equivalent(const struct hdr *h, int64_t v);

#endif
