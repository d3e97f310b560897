/* diag: a list of human-readable diagnostics (errors and warnings).
 * Owns: a list of diagnostics and their texts.
 *
 * Libraries never print: they append "FILE:LINE: what is wrong (got X)" here and
 * the caller decides where it goes (stderr for weir -t, the ERR line of the
 * control socket for "reload"). */
#ifndef WEIR_DIAG_H
#define WEIR_DIAG_H

#include <stddef.h>
#include <stdio.h>

enum diag_level { DIAG_ERROR, DIAG_WARNING };

struct diag_msg {
	enum diag_level level;
	char *text;               /* owned; without the "weir: " prefix */
};

struct diag {
	struct diag_msg *msgs;
	size_t n, cap;
	size_t nerrors;
	size_t nwarnings;
};

/* Initialise an empty list. Release with diag_dispose. */
void diag_init(struct diag *d);
void diag_dispose(struct diag *d);

/* Append a formatted message. Out of memory is fatal (startup/config path). */
void diag_add(struct diag *d, enum diag_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Print every message as "PREFIX: text" (errors) or "PREFIX: warning: text". */
void diag_print(const struct diag *d, FILE *out, const char *prefix);

/* Join all errors into one line separated by "; " (for the control socket).
 * Returns a malloc'd string; release with free(). */
char *diag_join_errors(const struct diag *d);

#endif
