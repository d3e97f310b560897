/* hdr: a High Dynamic Range histogram of integer values (weir records
 * microseconds), after Gil Tene's HdrHistogram design; our own code.
 *
 * Precision: every value v in [lowest, highest] is kept in a slot whose
 * lowest and highest equivalents both differ from v by less than
 * v * 10^-sigfigs (sigfigs 1..5); values below 2 * 10^sigfigs are exact when
 * lowest < 10^sigfigs. Unlike HdrHistogram, LOWEST is a floor, not a resolution:
 * the promise holds from lowest upward.
 *
 * Cost: recording is O(1) (no loop, no division) and never allocates; about
 * 3 ns per value. Memory is fixed at creation: 1 us .. 1 h at 3 figures
 * (weir's latency histograms) takes 188,520 bytes (hdr_memory_size).
 *
 * Not thread-safe: one writer per histogram, no concurrent readers; to
 * combine per-worker histograms, hdr_copy or hdr_add them on one thread. */
#ifndef WEIR_HDR_H
#define WEIR_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hdr;

/* Allocate a histogram tracking LOWEST..HIGHEST (1 <= lowest, 2*lowest <= highest,
 * highest up to INT64_MAX) with SIGFIGS significant figures (1..5). Returns
 * NULL on bad arguments or out of memory. Release with hdr_free (NULL is
 * a no-op). */
struct hdr *hdr_new(int64_t lowest, int64_t highest, int sigfigs);
void hdr_free(struct hdr *h);

/* Record one value (or COUNT of them; COUNT 0 records nothing). Values above
 * the trackable range are recorded as HIGHEST and also counted in
 * hdr_out_of_range(); values below lowest (including negatives) are recorded
 * as LOWEST and counted likewise. So nothing is lost: hdr_count includes
 * them, and min, max, mean and percentiles see the clamped values. Never
 * fails, never allocates. */
void hdr_record(struct hdr *h, int64_t value);
void hdr_record_n(struct hdr *h, int64_t value, uint64_t count);

uint64_t hdr_count(const struct hdr *h);        /* values recorded, clamped ones included */
uint64_t hdr_out_of_range(const struct hdr *h); /* of those, how many were clamped */
int64_t hdr_min(const struct hdr *h);          /* exact; 0 when empty */
int64_t hdr_max(const struct hdr *h);          /* exact; 0 when empty */
double hdr_mean(const struct hdr *h);          /* exact (128-bit sum); 0 when empty */

/* Value at PERCENTILE (0..100): the smallest recorded value v such that at
 * least percentile% of the values are <= v (nearest rank: the value of rank
 * ceil(percentile/100 * count), at least 1), reported as the highest value
 * equivalent to v's bucket, clamped to max. So the answer is >= v and less
 * than v * (1 + 10^-sigfigs). PERCENTILE <= 0 (and NaN) gives min and >= 100
 * gives max, both exact. PERCENTILE is read as the decimal it was written
 * as: 99.99 of 100000 values is rank 99990 although 99.99 is inexact in
 * binary. 0 when empty. O(number of slots between min and max). */
int64_t hdr_value_at_percentile(const struct hdr *h, double percentile);

/* dst += src (counts, out-of-range, min, max, sum). Both must have been
 * created with the same arguments; returns 0, or -1 (dst untouched) when
 * they were not. */
int hdr_add(struct hdr *dst, const struct hdr *src);
/* dst = src (same arguments required; dst == src is fine); returns 0 or -1,
 * leaving dst untouched on -1. */
int hdr_copy(struct hdr *dst, const struct hdr *src);
void hdr_reset(struct hdr *h);

/* Bytes this histogram occupies, including its counts array: a small header
 * and one 8-byte counter per slot, (buckets + 1) * 2^ceil(log2(10^sigfigs))
 * slots, where buckets is the number of doublings needed to reach highest. */
size_t hdr_memory_size(const struct hdr *h);

/* Lowest and highest values that are equivalent to V (in the same bucket).
 * V is first clamped into [lowest, highest], as hdr_record would. */
int64_t hdr_lowest_equivalent(const struct hdr *h, int64_t v);
int64_t hdr_highest_equivalent(const struct hdr *h, int64_t v);

/* Number of slots: an upper bound on what hdr_slots can return. */
size_t hdr_slot_count(const struct hdr *h);

/* The non-empty slots in ascending order, at most MAX of them: for slot i,
 * LO[i] and HI[i] are its lowest and highest equivalent values, HI narrowed
 * to the exact max (so every recorded value v of the slot has
 * LO[i] <= v <= HI[i]), and COUNT[i] its count. Returns how many were
 * written; with MAX >= hdr_slot_count(h) that is all of them and the
 * counts sum to hdr_count(h). O(slots between min and max). */
size_t hdr_slots(const struct hdr *h, int64_t *lo, int64_t *hi, uint64_t *count, size_t max);

/* The same for the counts of H minus those of MINUS (NULL: nothing), slot
 * by slot, negative differences taken as 0: what H gained since MINUS was a
 * copy of it. MINUS must have H's geometry (else 0 slots are returned). */
size_t hdr_slots_diff(const struct hdr *h, const struct hdr *minus, int64_t *lo, int64_t *hi,
                      uint64_t *count, size_t max);

/* ---- compact encoding ----------------------------------------------------
 *
 * A histogram as bytes, for another process to merge bucket by bucket (a
 * fleet's members publish theirs): the geometry, the totals and the counts
 * as runs, every integer an LEB128 varint (signed ones zigzag-coded).
 *
 *   'H' 1 lowest highest sigfigs total out_of_range min max sum_lo sum_hi
 *   then entries over the slots in order: zigzag(-n) skips n empty slots,
 *   zigzag(c), c > 0, is one slot with count c; trailing empty slots are
 *   not written.
 *
 * The encoding is canonical (minimal varints, no empty run, no zero count,
 * no trailing skip), and hdr_decode accepts only canonical, self-consistent
 * input, so decoding then encoding gives back the very bytes. */

/* Bytes hdr_encode may need for H: an upper bound. */
size_t hdr_encoded_size_max(const struct hdr *h);
/* Encode H into BUF (CAP bytes). Returns the length, or 0 when CAP is too
 * small (hdr_encoded_size_max(h) always suffices) or a slot holds more than
 * INT64_MAX values. */
size_t hdr_encode(const struct hdr *h, uint8_t *buf, size_t cap);
/* Replace DST's contents by the histogram encoded in BUF (LEN bytes).
 * Returns 0, or -1 with a message in ERR (ERRLEN bytes) and DST untouched
 * when the bytes are not a canonical encoding, its geometry is not DST's,
 * or its numbers disagree (counts that do not sum to the total, min or max
 * outside their slots or the range, a sum outside total*min..total*max,
 * more out-of-range values than values, trailing bytes). */
int hdr_decode(struct hdr *dst, const uint8_t *buf, size_t len, char *err, size_t errlen);

#endif
