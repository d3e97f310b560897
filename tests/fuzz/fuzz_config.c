/* fuzz_config: the configuration loader (config_load_string: libconfig's
 * parser, then weir's whole schema walk and validation).
 *
 * Properties: a configuration comes back exactly when no error was
 * reported; every error names the file and a line ("fuzz.conf:N: ...") and
 * is one line; everything is released (LeakSanitizer checks). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "weir/config.h"
#include "weir/diag.h"

#define NAME "fuzz.conf"

/* libconfig 1.5 (Debian 12) leaks a string token when a syntax error
 * follows it (the whole input `""` will do): its leak, not weir's, and not
 * one to stop a fuzzing run at. LeakSanitizer takes suppressions from this
 * hook; without a sanitizer it is never called. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

/* ... and without a report of the suppressions used after every check. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

int fuzz_config(const uint8_t *data, size_t size)
{
	struct weir_config *cfg;
	struct diag d;
	char *text;

	/* libconfig reads a C string: the input up to its first NUL. */
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';

	diag_init(&d);
	cfg = config_load_string(text, NAME, &d);
	FUZZ_CHECK((cfg != NULL) == (d.nerrors == 0));
	for (size_t i = 0; i < d.n; i++) {
		const char *m = d.msgs[i].text;
		FUZZ_CHECK(m != NULL && strncmp(m, NAME ":", sizeof(NAME)) == 0);
		FUZZ_CHECK(m[sizeof(NAME)] >= '1' && m[sizeof(NAME)] <= '9');
		FUZZ_CHECK(strchr(m, '\n') == NULL);
	}
	config_free(cfg);
	diag_dispose(&d);
	free(text);
	return 0;
}

#ifdef WEIR_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_config(data, size);
}
#endif
