/* json: the one place weir writes JSON strings and checks UTF-8.
 *
 * Every document weir emits (/stats.json, /report.json, show ... json, the
 * event log, the rollout history) takes its strings through here, so that
 * a reason typed by an operator or a server name from the configuration
 * is escaped the same way everywhere: quote and backslash escaped, control
 * characters and DEL as \u00XX, bytes that are not valid UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF) as \ufffd.
 * Pure functions; no allocation beyond a growing textbuf's own. */
#ifndef WEIR_JSON_H
#define WEIR_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "weir/textbuf.h"

/* Length (1-4) of the well-formed UTF-8 character at P, N >= 1 bytes
 * left; 0 when P does not start one. ASCII, control bytes included, is 1. */
size_t utf8_char_len(const unsigned char *p, size_t n);

/* True when the character of length LEN at P is a C1 control (U+0080 to
 * U+009F): valid UTF-8 that no person types. */
bool utf8_is_c1(const unsigned char *p, size_t len);

/* S (NUL-terminated) as a JSON string literal, quotes included. */
void json_string(struct textbuf *o, const char *s);

/* As json_string, but null when S is NULL or empty. */
void json_string_or_null(struct textbuf *o, const char *s);

/* V with six significant digits ("%.6g"); null when V is not finite (JSON
 * has no NaN or infinity). */
void json_number(struct textbuf *o, double v);

/* The inside of S's JSON string literal (no quotes) into OUT, at most CAP
 * (>= 3) bytes and not NUL-terminated, never splitting an escape or a
 * character. When the whole text does not fit, it is cut at a character
 * boundary and "..." marks the cut, or, when TRUNCATE is false, -1 is
 * returned. Returns the length written. For fixed-size records. */
long json_escape_bounded(char *out, size_t cap, const char *s, bool truncate);

#endif
