/* textbuf: bounded or growing appends with truncation tracking (see textbuf.h). */
#include "weir/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROW_FIRST 256

void textbuf_start(struct textbuf *t, char *buf, size_t len)
{
	t->buf = buf;
	t->len = len;
	t->off = 0;
	t->truncated = len == 0;
	t->grows = false;
	if (len > 0)
		buf[0] = '\0';
}

void textbuf_start_growing(struct textbuf *t)
{
	char *buf = malloc(GROW_FIRST);

	textbuf_start(t, buf, buf ? GROW_FIRST : 0);
	t->grows = buf != NULL;
}

void textbuf_dispose(struct textbuf *t)
{
	if (t->grows)
		free(t->buf);
	t->buf = NULL;
	t->len = t->off = 0;
	t->grows = false;
	t->truncated = true;
}

/* Make room for NEED more bytes and a NUL; false when it cannot. */
static bool make_room(struct textbuf *t, size_t need)
{
	size_t len = t->len;
	char *buf;

	if (!t->grows || need >= (size_t)-1 / 2 - t->off)
		return false;
	while (len - t->off <= need)
		len *= 2;
	buf = realloc(t->buf, len);
	if (!buf)
		return false;
	t->buf = buf;
	t->len = len;
	return true;
}

void textbuf_append(struct textbuf *t, const char *s, size_t len)
{
	if (t->truncated || len == 0)
		return;
	if (len >= t->len - t->off && !make_room(t, len)) {
		t->truncated = true;
		return;
	}
	memcpy(t->buf + t->off, s, len);
	t->off += len;
	t->buf[t->off] = '\0';
}

void textbuf_printf(struct textbuf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->truncated)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->off, t->len - t->off, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= t->len - t->off && make_room(t, (size_t)n)) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->off, t->len - t->off, fmt, ap);
		va_end(ap);
	}
	if (n < 0 || (size_t)n >= t->len - t->off) {
		t->buf[t->off] = '\0'; /* drop the partial append */
		t->truncated = true;
		return;
	}
	t->off += (size_t)n;
}

void textbuf_message(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
