/* fuzz: the libFuzzer harnesses of tests/fuzz and what they share.
 *
 * Each harness is a function that takes one input and checks what weir's
 * code does with it: sanitizers catch memory errors, and the harness itself
 * aborts when a property of the interface does not hold (an incremental
 * parse that disagrees with a whole one, a control reply that breaks the
 * framing ...). The same functions run in two programs: under libFuzzer
 * (./configure CC=clang --enable-fuzzing, one binary per harness, which
 * defines LLVMFuzzerTestOneInput) and in tests/fuzz/replay, built by every
 * build, which runs them over the seed corpus and every input that ever
 * crashed them (tests/fuzz/corpus/NAME, tests/fuzz/regressions/NAME). */
#ifndef WEIR_FUZZ_H
#define WEIR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weir/http1.h"

/* The harnesses; each returns 0 (libFuzzer's convention) or aborts. */
int fuzz_request(const uint8_t *data, size_t size);
int fuzz_response(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_control(const uint8_t *data, size_t size);
int fuzz_h2conv(const uint8_t *data, size_t size);
int fuzz_h2session(const uint8_t *data, size_t size);
int fuzz_hdr(const uint8_t *data, size_t size);

/* Shared by fuzz_request and fuzz_response: the first byte chooses limits
 * and how the rest is split; the rest is a message head of KIND, and what
 * follows it a body. */
int fuzz_http1(enum http1_kind kind, const uint8_t *data, size_t size);

/* Abort with a message naming the property that failed. */
#define FUZZ_CHECK(cond)                                                          \
	do {                                                                      \
		if (!(cond))                                                      \
			fuzz_fail(__FILE__, __LINE__, #cond);                     \
	} while (0)
static inline _Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
	abort();
}

#endif
