/* fuzz_response: response heads, their framing and chunked response bodies
 * (src/http1.c), the bytes a broken backend controls; see fuzz_http1.c. */
#include "fuzz.h"

int fuzz_response(const uint8_t *data, size_t size)
{
	return fuzz_http1(HTTP1_RESPONSE, data, size);
}

#ifdef WEIR_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_response(data, size);
}
#endif
