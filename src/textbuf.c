/* textbuf: bounded appends with truncation tracking (see textbuf.h). */
#include "weir/textbuf.h"

#include <stdarg.h>
#include <stdio.h>

void textbuf_start(struct textbuf *t, char *buf, size_t len)
{
	t->buf = buf;
	t->len = len;
	t->off = 0;
	t->truncated = len == 0;
	if (len > 0)
		buf[0] = '\0';
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
	if (n < 0 || (size_t)n >= t->len - t->off) {
		t->buf[t->off] = '\0'; /* drop the partial append */
		t->truncated = true;
		return;
	}
	t->off += (size_t)n;
}
