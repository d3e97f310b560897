/* textbuf: formatted text appended into a buffer, remembering truncation
 * Owns: a text buffer and its truncation flag.
 * instead of ignoring it (snprintf's result checked once, here). The buffer
 * is either the caller's, of fixed size, or a heap one that grows with the
 * text (for documents whose size depends on the configuration or the state:
 * rollout steps, reasons, history). */
#ifndef WEIR_TEXTBUF_H
#define WEIR_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf {
	char *buf;
	size_t len;
	size_t off;
	bool truncated;              /* something did not fit (or, growing, memory ran
	                              * out); later appends are dropped */
	bool grows;                  /* BUF is ours on the heap: realloc'd as needed */
};

/* Start appending into BUF of LEN bytes (made an empty string). */
void textbuf_start(struct textbuf *t, char *buf, size_t len);

/* Start appending into a heap buffer that grows as the text does; only
 * running out of memory truncates. Release with textbuf_dispose. */
void textbuf_start_growing(struct textbuf *t);

/* Release a growing buffer (nothing for a caller's buffer). */
void textbuf_dispose(struct textbuf *t);

/* Append LEN bytes of S (no NUL needed); truncation as for textbuf_printf. */
void textbuf_append(struct textbuf *t, const char *s, size_t len);

/* Append; on truncation the text stops at the last whole append. */
void textbuf_printf(struct textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Format into BUF of LEN bytes (NUL-terminated), cut when longer: for a
 * message (a log line, an ERR reply), where a cut message beats none. */
void textbuf_message(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
