/* textbuf: formatted text appended into a caller's fixed buffer, remembering
 * truncation instead of ignoring it (snprintf's result checked once, here). */
#ifndef WEIR_TEXTBUF_H
#define WEIR_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf {
	char *buf;
	size_t len;
	size_t off;
	bool truncated;              /* something did not fit; later appends are dropped */
};

/* Start appending into BUF of LEN bytes (made an empty string). */
void textbuf_start(struct textbuf *t, char *buf, size_t len);

/* Append; on truncation the text stops at the last whole append. */
void textbuf_printf(struct textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
