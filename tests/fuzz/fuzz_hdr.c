/* fuzz_hdr: the compact histogram encoding as another process's bytes reach
 * hdr_decode (a fleet member's histogram read back from etcd may be
 * anything).
 *
 * Input: the bytes to decode, as they are.
 *
 * Properties: decoding never reads past the input and either refuses it
 * (the destination keeps its contents, and says why) or yields a histogram
 * that re-encodes to exactly the input (the encoding is canonical, so an
 * accepted input has one meaning), whose counts sum to its total, whose
 * percentiles are monotone between min and max, and which merges with
 * another of the same geometry. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "weir/hdr.h"

#define LOW 1
#define HIGH INT64_C(3600000000) /* weir's latency histograms: 1 us .. 1 h */

int fuzz_hdr(const uint8_t *data, size_t size)
{
	static struct hdr *d, *sum;
	static uint8_t *again;
	static size_t cap;
	char err[128] = "";

	if (!d) {
		d = hdr_new(LOW, HIGH, 3);
		sum = hdr_new(LOW, HIGH, 3);
		cap = hdr_encoded_size_max(d);
		again = malloc(cap);
		if (!d || !sum || !again)
			abort();
	}
	hdr_reset(d);
	hdr_record(d, 42);
	if (hdr_decode(d, data, size, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(hdr_count(d) == 1 && hdr_min(d) == 42 && hdr_max(d) == 42);
		return 0;
	}
	size_t n = hdr_encode(d, again, cap);
	FUZZ_CHECK(n == size && memcmp(again, data, size) == 0);
	if (hdr_count(d) > 0) {
		int64_t prev = hdr_min(d);

		FUZZ_CHECK(hdr_min(d) >= LOW && hdr_max(d) <= HIGH && hdr_min(d) <= hdr_max(d));
		for (double p = 0.0; p <= 100.0; p += 12.5) {
			int64_t v = hdr_value_at_percentile(d, p);
			FUZZ_CHECK(v >= prev && v <= hdr_max(d));
			prev = v;
		}
	}
	hdr_reset(sum);
	FUZZ_CHECK(hdr_add(sum, d) == 0 && hdr_add(sum, d) == 0);
	FUZZ_CHECK(hdr_count(sum) == 2 * hdr_count(d));
	return 0;
}

#ifdef WEIR_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_hdr(data, size);
}
#endif
