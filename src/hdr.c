/* hdr: a High Dynamic Range histogram (see include/weir/hdr.h).
 *
 * Geometry. A value v is split into a bucket (which power of two it falls
 * in) and a sub-bucket (its leading bits inside that power of two):
 *
 *   sub_count  = the smallest power of two >= 2 * 10^sigfigs
 *   half       = sub_count / 2                (>= 10^sigfigs)
 *   unit       = 2^unit_mag, the width of the finest sub-bucket
 *
 * Bucket 0 covers [0, sub_count * unit) in sub_count slots of width unit.
 * Bucket b >= 1 covers [half * unit * 2^b, sub_count * unit * 2^b) in half
 * slots of width unit * 2^b (its lower half would repeat bucket b-1, so it
 * is not stored). A slot of width w therefore never starts below half * w
 * >= 10^sigfigs * w, except the low half of bucket 0, where the width is
 * the unit itself.
 *
 * Unlike HdrHistogram, whose "lowest discernible value" is a resolution
 * (values near it are only known to within one unit), our LOWEST is a floor
 * and the precision promise holds from it upward: unit_mag is chosen so
 * that unit <= lowest / 10^sigfigs (and unit = 1 when lowest < 10^sigfigs).
 * Hence for every value in [lowest, highest] the width w of its slot obeys
 * w - 1 < v * 10^-sigfigs: any value reported as the lowest or highest
 * equivalent of v differs from v by less than v * 10^-sigfigs.
 *
 * Recording is a clamp, a count-leading-zeros, two shifts and an add: no
 * loop, no division, no allocation. */
#include "weir/hdr.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hdr {
	/* Arguments, kept to check that two histograms are compatible. */
	int64_t lowest;
	int64_t highest;
	int sigfigs;

	/* Geometry derived from them. */
	int unit_mag;                 /* log2 of the finest slot width */
	int half_mag;                 /* log2(half) */
	int64_t sub_mask;             /* (sub_count - 1) << unit_mag */
	int bucket_count;
	size_t counts_len;            /* (bucket_count + 1) * half */

	/* Totals. min/max/sum are of the values as recorded, i.e. after
	 * clamping into [lowest, highest]. */
	uint64_t total;
	uint64_t out_of_range;
	int64_t min;                  /* INT64_MAX when empty */
	int64_t max;                  /* 0 when empty */
	uint64_t sum_lo;              /* 128-bit running sum of values */
	uint64_t sum_hi;

	uint64_t counts[];
};

/* ---- geometry ----------------------------------------------------------- */

/* Index of the highest set bit of X (X != 0). */
static inline int hdr_log2(uint64_t x)
{
	return 63 - __builtin_clzll(x);
}

/* Slot of a value already clamped into [lowest, highest] (so v >= 1). The
 * OR with sub_mask makes every value below the end of bucket 0 land in
 * bucket 0, and keeps the clz argument non-zero. */
static inline size_t hdr_index(const struct hdr *h, int64_t v)
{
	int pow2ceil = 64 - __builtin_clzll((uint64_t)(v | h->sub_mask));
	int bucket = pow2ceil - h->unit_mag - (h->half_mag + 1);
	int shift = bucket + h->unit_mag;
	size_t sub = (size_t)((uint64_t)v >> shift);

	/* bucket 0: sub in [0, sub_count); bucket b: sub in [half, sub_count)
	 * and the slot is b * half + sub. */
	return ((size_t)bucket << h->half_mag) + sub;
}

/* Lowest value of slot I, and log2 of its width. */
static int64_t hdr_slot_low(const struct hdr *h, size_t i, int *width_mag)
{
	int bucket = (int)(i >> h->half_mag) - 1;
	uint64_t sub = (i & (((size_t)1 << h->half_mag) - 1)) + ((uint64_t)1 << h->half_mag);

	if (bucket < 0) {
		bucket = 0;
		sub -= (uint64_t)1 << h->half_mag;
	}
	*width_mag = bucket + h->unit_mag;
	return (int64_t)(sub << *width_mag);
}

static int64_t hdr_slot_high(const struct hdr *h, size_t i)
{
	int width_mag;
	int64_t low = hdr_slot_low(h, i, &width_mag);

	/* low + width - 1 < 2^63: a slot never straddles 2^63 (see hdr_new). */
	return (int64_t)((uint64_t)low + (((uint64_t)1 << width_mag) - 1));
}

static inline int64_t hdr_clamp(const struct hdr *h, int64_t v)
{
	if (v < h->lowest)
		return h->lowest;
	if (v > h->highest)
		return h->highest;
	return v;
}

/* ---- life cycle --------------------------------------------------------- */

struct hdr *hdr_new(int64_t lowest, int64_t highest, int sigfigs)
{
	static const uint64_t ten_pow[] = { 1, 10, 100, 1000, 10000, 100000 };
	struct hdr *h;
	uint64_t sub_count, reach, q;
	int unit_mag, sub_mag, buckets;
	size_t len;

	if (sigfigs < 1 || sigfigs > 5 || lowest < 1 || highest / 2 < lowest)
		return NULL;

	/* sub_count: the smallest power of two holding 2 * 10^sigfigs, so that
	 * half >= 10^sigfigs. */
	sub_mag = hdr_log2(2 * ten_pow[sigfigs] - 1) + 1;
	sub_count = (uint64_t)1 << sub_mag;

	/* unit <= lowest / 10^sigfigs keeps the promise down to lowest. */
	q = (uint64_t)lowest / ten_pow[sigfigs];
	unit_mag = q == 0 ? 0 : hdr_log2(q);

	/* lowest < 2^62 gives unit_mag <= 62 - log2(10^sigfigs), and sub_mag
	 * <= log2(10^sigfigs) + 2, so reach <= 2^63 fits. Add buckets, each
	 * doubling the reach, until it is beyond highest; reach stays <= 2^63
	 * since highest < 2^63. Slots therefore never reach past 2^63 - 1. */
	reach = sub_count << unit_mag;
	buckets = 1;
	while (reach <= (uint64_t)highest) {
		reach <<= 1;
		buckets++;
	}

	len = (size_t)(buckets + 1) << (sub_mag - 1);
	h = calloc(1, sizeof(*h) + len * sizeof(h->counts[0]));
	if (h == NULL)
		return NULL;
	h->lowest = lowest;
	h->highest = highest;
	h->sigfigs = sigfigs;
	h->unit_mag = unit_mag;
	h->half_mag = sub_mag - 1;
	h->sub_mask = (int64_t)((sub_count - 1) << unit_mag);
	h->bucket_count = buckets;
	h->counts_len = len;
	h->min = INT64_MAX;
	return h;
}

void hdr_free(struct hdr *h)
{
	free(h);
}

/* The slots that may hold counts, FIRST to LAST; false when there are none.
 * Every operation keeps counts outside the slots of min and max at zero
 * (recording moves min and max first, add and copy take the source's,
 * decode checks it), so a histogram's work is over the slots its values
 * span, a few thousand of its ~23,000 for latencies in microseconds. */
static inline bool hdr_used(const struct hdr *h, size_t *first, size_t *last)
{
	if (h->total == 0)
		return false;
	*first = hdr_index(h, h->min);
	*last = hdr_index(h, h->max);
	return true;
}

void hdr_reset(struct hdr *h)
{
	size_t first, last;

	if (hdr_used(h, &first, &last))
		memset(&h->counts[first], 0, (last - first + 1) * sizeof(h->counts[0]));
	h->total = 0;
	h->out_of_range = 0;
	h->min = INT64_MAX;
	h->max = 0;
	h->sum_lo = 0;
	h->sum_hi = 0;
}

size_t hdr_memory_size(const struct hdr *h)
{
	return sizeof(*h) + h->counts_len * sizeof(h->counts[0]);
}

static bool hdr_same_geometry(const struct hdr *a, const struct hdr *b)
{
	return a->lowest == b->lowest && a->highest == b->highest && a->sigfigs == b->sigfigs;
}

/* ---- recording ---------------------------------------------------------- */

static inline void hdr_sum_add(struct hdr *h, uint64_t lo, uint64_t hi)
{
	h->sum_lo += lo;
	h->sum_hi += hi + (h->sum_lo < lo);
}

void hdr_record(struct hdr *h, int64_t value)
{
	if (__builtin_expect(value < h->lowest || value > h->highest, 0)) {
		value = hdr_clamp(h, value);
		h->out_of_range++;
	}
	h->counts[hdr_index(h, value)]++;
	h->total++;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
	hdr_sum_add(h, (uint64_t)value, 0);
}

void hdr_record_n(struct hdr *h, int64_t value, uint64_t count)
{
	uint64_t v, a1, a0, b1, b0, mid1, mid2, lo, hi;

	if (count == 0)
		return;
	if (value < h->lowest || value > h->highest) {
		value = hdr_clamp(h, value);
		h->out_of_range += count;
	}
	h->counts[hdr_index(h, value)] += count;
	h->total += count;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;

	/* sum += value * count, a 64x64 -> 128-bit product from 32-bit halves. */
	v = (uint64_t)value;
	a1 = v >> 32;
	a0 = v & 0xffffffffu;
	b1 = count >> 32;
	b0 = count & 0xffffffffu;
	lo = a0 * b0;
	mid1 = a1 * b0;
	mid2 = a0 * b1;
	hi = a1 * b1 + (mid1 >> 32) + (mid2 >> 32);
	mid1 <<= 32;
	lo += mid1;
	hi += lo < mid1;
	mid2 <<= 32;
	lo += mid2;
	hi += lo < mid2;
	hdr_sum_add(h, lo, hi);
}

/* ---- queries ------------------------------------------------------------ */

uint64_t hdr_count(const struct hdr *h)
{
	return h->total;
}

uint64_t hdr_out_of_range(const struct hdr *h)
{
	return h->out_of_range;
}

int64_t hdr_min(const struct hdr *h)
{
	return h->total == 0 ? 0 : h->min;
}

int64_t hdr_max(const struct hdr *h)
{
	return h->total == 0 ? 0 : h->max;
}

double hdr_mean(const struct hdr *h)
{
	long double sum;

	if (h->total == 0)
		return 0.0;
	sum = (long double)h->sum_hi * 18446744073709551616.0L + (long double)h->sum_lo;
	return (double)(sum / (long double)h->total);
}

/* The nearest rank ceil(p/100 * total), in 1..total. P is taken to mean
 * the decimal it was written as: a product within a few units in the last
 * place of an integer is that integer (99.99% of 100000 is rank 99990, not
 * 99991 because 99.99 is not exact in binary). No libm: ceil by hand. */
static uint64_t hdr_rank(uint64_t total, double percentile)
{
	long double x = (long double)percentile / 100.0L * (long double)total;
	long double slack = x * 4.0L * (long double)DBL_EPSILON;
	uint64_t r;

	if (!(x > 1.0L))
		return 1;
	if (x >= (long double)total)
		return total;
	r = (uint64_t)x;                      /* floor, x > 0 */
	if ((long double)r + slack < x)
		r++;
	if (r < 1)
		r = 1;
	return r > total ? total : r;
}

int64_t hdr_value_at_percentile(const struct hdr *h, double percentile)
{
	uint64_t rank, seen = 0;
	size_t i, first, last;

	if (h->total == 0)
		return 0;
	/* p <= 0 (and NaN): the smallest value, which we know exactly. */
	if (!(percentile > 0.0))
		return h->min;
	if (percentile >= 100.0)
		return h->max;

	rank = hdr_rank(h->total, percentile);
	first = hdr_index(h, h->min);
	last = hdr_index(h, h->max);
	for (i = first; i <= last; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			int64_t v = hdr_slot_high(h, i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;                        /* not reached: counts sum to total */
}

int64_t hdr_lowest_equivalent(const struct hdr *h, int64_t v)
{
	int width_mag;

	return hdr_slot_low(h, hdr_index(h, hdr_clamp(h, v)), &width_mag);
}

int64_t hdr_highest_equivalent(const struct hdr *h, int64_t v)
{
	return hdr_slot_high(h, hdr_index(h, hdr_clamp(h, v)));
}

size_t hdr_slot_count(const struct hdr *h)
{
	return h->counts_len;
}

size_t hdr_slots_diff(const struct hdr *h, const struct hdr *minus, int64_t *lo, int64_t *hi,
                      uint64_t *count, size_t max)
{
	size_t i, first, last, n = 0;

	if (h->total == 0 || (minus != NULL && !hdr_same_geometry(h, minus)))
		return 0;
	first = hdr_index(h, h->min);
	last = hdr_index(h, h->max);
	for (i = first; i <= last && n < max; i++) {
		uint64_t c = h->counts[i];
		int width_mag;

		if (minus != NULL)
			c = c > minus->counts[i] ? c - minus->counts[i] : 0;
		if (c == 0)
			continue;
		lo[n] = hdr_slot_low(h, i, &width_mag);
		hi[n] = hdr_slot_high(h, i);
		/* H's maximum is known exactly: no value of H lies above. (Its
		 * minimum is not used to raise the lowest slot's LO: a new, lower
		 * minimum landing in that slot would lower LO again, and a count
		 * of values surely above a threshold must never go down.) */
		if (hi[n] > h->max)
			hi[n] = h->max;
		count[n] = c;
		n++;
	}
	return n;
}

size_t hdr_slots(const struct hdr *h, int64_t *lo, int64_t *hi, uint64_t *count, size_t max)
{
	return hdr_slots_diff(h, NULL, lo, hi, count, max);
}

/* ---- combining ---------------------------------------------------------- */

int hdr_add(struct hdr *dst, const struct hdr *src)
{
	size_t first, last;

	if (!hdr_same_geometry(dst, src))
		return -1;
	if (!hdr_used(src, &first, &last))
		return 0;
	for (size_t i = first; i <= last; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->out_of_range += src->out_of_range;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	hdr_sum_add(dst, src->sum_lo, src->sum_hi);
	return 0;
}

int hdr_copy(struct hdr *dst, const struct hdr *src)
{
	if (!hdr_same_geometry(dst, src))
		return -1;
	if (dst == src)
		return 0;
	hdr_reset(dst);
	memcpy(dst, src, offsetof(struct hdr, counts));
	size_t first, last;
	if (hdr_used(src, &first, &last))
		memcpy(&dst->counts[first], &src->counts[first], (last - first + 1) * sizeof(src->counts[0]));
	return 0;
}

/* ---- compact encoding ----------------------------------------------------- */

#define HDR_MAGIC 'H'
#define HDR_VERSION 1
#define VARINT_MAX 10           /* bytes of a 64-bit LEB128 varint */
#define HDR_HEADER_MAX (2 + 9 * VARINT_MAX)

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

size_t hdr_encoded_size_max(const struct hdr *h)
{
	/* At worst every other slot is a count and the rest single skips. */
	return HDR_HEADER_MAX + h->counts_len * VARINT_MAX;
}

size_t hdr_encode(const struct hdr *h, uint8_t *buf, size_t cap)
{
	uint8_t head[HDR_HEADER_MAX];
	size_t n = 0, zeros = 0;

	head[n++] = HDR_MAGIC;
	head[n++] = HDR_VERSION;
	n += put_varint(head + n, (uint64_t)h->lowest);
	n += put_varint(head + n, (uint64_t)h->highest);
	n += put_varint(head + n, (uint64_t)h->sigfigs);
	n += put_varint(head + n, h->total);
	n += put_varint(head + n, h->out_of_range);
	n += put_varint(head + n, zigzag(hdr_min(h)));
	n += put_varint(head + n, zigzag(hdr_max(h)));
	n += put_varint(head + n, h->sum_lo);
	n += put_varint(head + n, h->sum_hi);
	if (cap < n)
		return 0;
	memcpy(buf, head, n);
	size_t first, last;
	if (!hdr_used(h, &first, &last))
		return n;
	zeros = first;
	for (size_t i = first; i <= last; i++) {
		uint64_t c = h->counts[i];

		if (c == 0) {
			zeros++;
			continue;
		}
		uint8_t entry[2 * VARINT_MAX];
		size_t e = 0;

		if (c > (uint64_t)INT64_MAX) /* ~300 years of 10^9 values a second */
			return 0;
		if (zeros)
			e = put_varint(entry, zigzag(-(int64_t)zeros));
		e += put_varint(entry + e, zigzag((int64_t)c));
		if (cap - n < e)
			return 0;
		memcpy(buf + n, entry, e);
		n += e;
		zeros = 0;
	}
	return n;
}

/* A reader of canonical varints. */
struct hdr_reader {
	const uint8_t *p, *end;
	const char *fault;            /* the first problem, or NULL */
};

static uint64_t get_varint(struct hdr_reader *r)
{
	uint64_t v = 0;

	if (r->fault) /* keep the first problem */
		return 0;
	for (int i = 0; i < VARINT_MAX; i++) {
		if (r->p == r->end) {
			r->fault = "truncated";
			return 0;
		}
		uint8_t b = *r->p++;
		if (i == VARINT_MAX - 1 && b > 1) {
			r->fault = "a number above 64 bits";
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				r->fault = "a number not in its shortest form";
			return v;
		}
	}
	r->fault = "a number above 64 bits";
	return 0;
}

/* Walk the slot entries after the header: check them against GEOM's slots
 * and, with OUT, store the counts there (OUT's counts must be zero). Sets
 * the count sum and the first and last slots used; returns false with
 * R->fault. */
static bool hdr_read_slots(struct hdr_reader *r, const struct hdr *geom, struct hdr *out, uint64_t *sum,
                           size_t *first, size_t *last)
{
	size_t idx = 0, lo = hdr_index(geom, geom->lowest), hi = hdr_index(geom, geom->highest);
	bool after_skip = false;

	*sum = 0;
	*first = *last = SIZE_MAX;
	while (r->p < r->end) {
		int64_t v = unzigzag(get_varint(r));

		if (r->fault)
			return false;
		if (v == 0) {
			r->fault = "an empty entry";
			return false;
		}
		if (v < 0) {
			uint64_t skip = (uint64_t)0 - (uint64_t)v;
			if (after_skip) {
				r->fault = "two skips in a row";
				return false;
			}
			if (skip >= geom->counts_len - idx) {
				r->fault = "a skip past the last slot";
				return false;
			}
			idx += (size_t)skip;
			after_skip = true;
			continue;
		}
		if (idx >= geom->counts_len || idx < lo || idx > hi) {
			r->fault = "a count in a slot outside the histogram's range";
			return false;
		}
		if (__builtin_add_overflow(*sum, (uint64_t)v, sum)) {
			r->fault = "counts that overflow";
			return false;
		}
		if (*first == SIZE_MAX)
			*first = idx;
		*last = idx;
		if (out)
			out->counts[idx] = (uint64_t)v;
		idx++;
		after_skip = false;
	}
	if (after_skip) {
		r->fault = "a trailing skip";
		return false;
	}
	return true;
}

static int hdr_decode_fail(char *err, size_t errlen, const char *what)
{
	if (errlen)
		snprintf(err, errlen, "histogram encoding: %s", what);
	return -1;
}

int hdr_decode(struct hdr *dst, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct hdr_reader r = { buf, buf + len, NULL };
	uint64_t lowest, highest, sigfigs, total, oor, sum_lo, sum_hi, counted;
	int64_t min, max;
	size_t first, last, body;

	if (len < 2 || buf[0] != HDR_MAGIC)
		return hdr_decode_fail(err, errlen, "not a weir histogram");
	if (buf[1] != HDR_VERSION)
		return hdr_decode_fail(err, errlen, "unknown version");
	r.p += 2;
	lowest = get_varint(&r);
	highest = get_varint(&r);
	sigfigs = get_varint(&r);
	total = get_varint(&r);
	oor = get_varint(&r);
	min = unzigzag(get_varint(&r));
	max = unzigzag(get_varint(&r));
	sum_lo = get_varint(&r);
	sum_hi = get_varint(&r);
	if (r.fault)
		return hdr_decode_fail(err, errlen, r.fault);
	if (lowest != (uint64_t)dst->lowest || highest != (uint64_t)dst->highest ||
	    sigfigs != (uint64_t)dst->sigfigs)
		return hdr_decode_fail(err, errlen, "another geometry (lowest, highest or sigfigs)");
	body = (size_t)(r.p - buf);
	if (!hdr_read_slots(&r, dst, NULL, &counted, &first, &last))
		return hdr_decode_fail(err, errlen, r.fault);
	if (counted != total)
		return hdr_decode_fail(err, errlen, "slot counts that do not sum to the total");
	if (oor > total)
		return hdr_decode_fail(err, errlen, "more values out of range than values");
	if (total == 0) {
		if (min != 0 || max != 0 || sum_lo != 0 || sum_hi != 0)
			return hdr_decode_fail(err, errlen, "an empty histogram with a min, max or sum");
	} else {
		__extension__ typedef unsigned __int128 u128;
		u128 sum = ((u128)sum_hi << 64) | sum_lo;

		if (min < dst->lowest || max > dst->highest || min > max)
			return hdr_decode_fail(err, errlen, "min or max outside the range");
		if (hdr_index(dst, min) != first || hdr_index(dst, max) != last)
			return hdr_decode_fail(err, errlen, "min or max not in the first or last slot used");
		if (sum < (u128)total * (uint64_t)min || sum > (u128)total * (uint64_t)max)
			return hdr_decode_fail(err, errlen, "a sum outside total x min .. total x max");
	}
	/* Valid: now replace DST. */
	hdr_reset(dst);
	r = (struct hdr_reader){ buf + body, buf + len, NULL };
	(void)hdr_read_slots(&r, dst, dst, &counted, &first, &last);
	dst->total = total;
	dst->out_of_range = oor;
	dst->min = total ? min : INT64_MAX;
	dst->max = max;
	dst->sum_lo = sum_lo;
	dst->sum_hi = sum_hi;
	return 0;
}
