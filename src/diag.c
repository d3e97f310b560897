/* diag: a growable list of human-readable diagnostics.
 *
 * Only the startup and reload paths use it, so running out of memory here is
 * fatal (through the static x-wrappers below) rather than something every
 * caller has to handle. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/diag.h"

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fputs("weir: out of memory\n", stderr);
		abort();
	}
	return q;
}

__attribute__((format(printf, 1, 0)))
static char *xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		/* Only an invalid format or wide-character conversion gets here. */
		fputs("weir: cannot format a diagnostic\n", stderr);
		abort();
	}
	s = xrealloc(NULL, (size_t)n + 1);
	if (vsnprintf(s, (size_t)n + 1, fmt, ap) != n) {
		fputs("weir: cannot format a diagnostic\n", stderr);
		abort();
	}
	return s;
}

void diag_init(struct diag *d)
{
	d->msgs = NULL;
	d->n = 0;
	d->cap = 0;
	d->nerrors = 0;
	d->nwarnings = 0;
}

void diag_dispose(struct diag *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->msgs[i].text);
	free(d->msgs);
	diag_init(d);
}

void diag_add(struct diag *d, enum diag_level level, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->msgs = xrealloc(d->msgs, d->cap * sizeof(*d->msgs));
	}
	d->msgs[d->n].level = level;
	d->msgs[d->n].text = text;
	d->n++;
	if (level == DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
}

void diag_print(const struct diag *d, FILE *out, const char *prefix)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (d->msgs[i].level == DIAG_WARNING)
			fprintf(out, "%s: warning: %s\n", prefix, d->msgs[i].text);
		else
			fprintf(out, "%s: %s\n", prefix, d->msgs[i].text);
	}
}

char *diag_join_errors(const struct diag *d)
{
	static const char sep[] = "; ";
	size_t i, len = 0, off = 0;
	char *s;

	for (i = 0; i < d->n; i++)
		if (d->msgs[i].level == DIAG_ERROR)
			len += strlen(d->msgs[i].text) + sizeof(sep) - 1;
	s = xrealloc(NULL, len + 1);
	for (i = 0; i < d->n; i++) {
		size_t n;

		if (d->msgs[i].level != DIAG_ERROR)
			continue;
		if (off > 0) {
			memcpy(s + off, sep, sizeof(sep) - 1);
			off += sizeof(sep) - 1;
		}
		n = strlen(d->msgs[i].text);
		memcpy(s + off, d->msgs[i].text, n);
		off += n;
	}
	s[off] = '\0';
	return s;
}
