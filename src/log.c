/* log: messages to stderr with a level word, "weir: warning: ...". */
#include "weir/log.h"

#include <stdarg.h>
#include <stdio.h>

static void log_line(const char *level, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) /* keep what fits, and say it was cut */
		n = snprintf(buf + sizeof(buf) - 5, 5, "...") + (int)sizeof(buf) - 5;
	fprintf(stderr, "weir: %s%s\n", level, buf);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("warning: ", fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("error: ", fmt, ap);
	va_end(ap);
}
