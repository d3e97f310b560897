/* fuzz_request: request heads and chunked request bodies (src/http1.c), the
 * bytes a hostile client controls; see fuzz_http1.c for what is checked. */
#include "fuzz.h"

int fuzz_request(const uint8_t *data, size_t size)
{
	return fuzz_http1(HTTP1_REQUEST, data, size);
}

#ifdef WEIR_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_request(data, size);
}
#endif
