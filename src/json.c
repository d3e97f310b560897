/* json: JSON string escaping and UTF-8 checks (see include/weir/json.h). */
#include "weir/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t utf8_char_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 1;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 2;
		lo = p[0] == 0xe0 ? 0xa0 : 0x80;    /* overlong */
		hi = p[0] == 0xed ? 0x9f : 0xbf;    /* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 3;
		lo = p[0] == 0xf0 ? 0x90 : 0x80;    /* overlong */
		hi = p[0] == 0xf4 ? 0x8f : 0xbf;    /* above U+10FFFF */
	} else {
		return 0;
	}
	if (n <= need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need + 1;
}

bool utf8_is_c1(const unsigned char *p, size_t len)
{
	return len == 2 && p[0] == 0xc2 && p[1] <= 0x9f;
}

/* The JSON form of the character at P (N >= 1 bytes left) into ESC (at
 * least 7 bytes); *USED is how many input bytes it stands for. */
static size_t json_char(const unsigned char *p, size_t n, char esc[8], size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = utf8_char_len(p, n);

	*used = k ? k : 1;
	if (k == 0) {
		memcpy(esc, "\\ufffd", 6);
		return 6;
	}
	if (p[0] == '"' || p[0] == '\\') {
		esc[0] = '\\';
		esc[1] = (char)p[0];
		return 2;
	}
	if (p[0] < 0x20 || p[0] == 0x7f) {
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[p[0] >> 4];
		esc[5] = hex[p[0] & 0xf];
		return 6;
	}
	memcpy(esc, p, k);
	return k;
}

void json_string(struct textbuf *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i, used, run = 0;
	char esc[8];

	textbuf_append(o, "\"", 1);
	/* Characters that need no escape go out in runs, not one by one. */
	for (i = 0; i < n; i += used) {
		size_t k = json_char(p + i, n - i, esc, &used);

		if (k == used && memcmp(esc, p + i, k) == 0) {
			run += used;
			continue;
		}
		textbuf_append(o, s + i - run, run);
		run = 0;
		textbuf_append(o, esc, k);
	}
	textbuf_append(o, s + n - run, run);
	textbuf_append(o, "\"", 1);
}

void json_string_or_null(struct textbuf *o, const char *s)
{
	if (s == NULL || s[0] == '\0')
		textbuf_append(o, "null", 4);
	else
		json_string(o, s);
}

void json_number(struct textbuf *o, double v)
{
	if (isfinite(v))
		textbuf_printf(o, "%.6g", v);
	else
		textbuf_append(o, "null", 4);
}

long json_escape_bounded(char *out, size_t cap, const char *s, bool truncate)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i, o = 0, total = 0, used, limit;
	char esc[8];

	for (i = 0; i < n && total <= cap; i += used)
		total += json_char(p + i, n - i, esc, &used);
	if (total > cap && (!truncate || cap < 3))
		return -1;
	limit = total > cap ? cap - 3 : cap;
	for (i = 0; i < n; i += used) {
		size_t k = json_char(p + i, n - i, esc, &used);

		if (o + k > limit)
			break;
		memcpy(out + o, esc, k);
		o += k;
	}
	if (total > cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	return (long)o;
}
