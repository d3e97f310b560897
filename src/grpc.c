/* grpc: gRPC status codes, the errors.grpc set and the classification of a
 * response (see include/weir/grpc.h). */
#include "weir/grpc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const names[GRPC_STATUS_COUNT] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *grpc_status_name(int code)
{
	return code >= 0 && code < GRPC_STATUS_COUNT ? names[code] : NULL;
}

/* 1*DIGIT with a value 0..16, else -1. */
static int parse_number(const char *s, size_t n)
{
	int v = 0;

	if (n == 0 || n > 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v < GRPC_STATUS_COUNT ? v : -1;
}

/* One element of the list: a name or a number, else -1. */
static int parse_element(const char *s, size_t n)
{
	int v;

	if (n > 0 && s[0] >= '0' && s[0] <= '9')
		return parse_number(s, n);
	for (v = 0; v < GRPC_STATUS_COUNT; v++)
		if (strlen(names[v]) == n && strncasecmp(names[v], s, n) == 0)
			return v;
	return -1;
}

/* The message of a refused list: ELEM (N bytes, at most 40 shown), then WHAT. */
static int list_error(char *err, size_t errlen, const char *elem, size_t n, const char *what)
{
	if (errlen > 0 && n == 0)
		snprintf(err, errlen, "gRPC status list: %s", what);
	else if (errlen > 0)
		snprintf(err, errlen, "gRPC status list: \"%.*s\" %s", (int)(n > 40 ? 40 : n), elem, what);
	return -1;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int grpc_status_set_parse(const char *list, grpc_status_set *set, char *err, size_t errlen)
{
	grpc_status_set out = 0;
	const char *p = list;

	if (errlen > 0)
		err[0] = '\0';
	while (blank(*p))
		p++;
	if (*p == '\0') {
		*set = 0;
		return 0;
	}
	for (;;) {
		const char *start, *end;
		int code;

		while (blank(*p))
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && blank(end[-1]))
			end--;
		if (end == start)
			return list_error(err, errlen, NULL, 0, "has an empty element");
		code = parse_element(start, (size_t)(end - start));
		if (code < 0)
			return list_error(err, errlen, start, (size_t)(end - start),
			                  "is not a status (a name such as UNAVAILABLE, or 0 to 16)");
		if (out & (1u << code))
			return list_error(err, errlen, start, (size_t)(end - start), "is listed twice");
		out |= 1u << code;
		if (*p == '\0')
			break;
		p++; /* the comma: an element must follow */
	}
	*set = out;
	return 0;
}

bool grpc_is_grpc(const char *content_type, size_t len)
{
	static const char type[] = "application/grpc";
	size_t n = sizeof(type) - 1;

	if (!content_type || len < n || strncasecmp(content_type, type, n) != 0)
		return false;
	return len == n || content_type[n] == '+' || content_type[n] == ';';
}

int grpc_status_code(const char *value, size_t len)
{
	int v = value ? parse_number(value, len) : -1;

	return v < 0 ? GRPC_STATUS_UNKNOWN : v;
}

enum grpc_verdict grpc_classify(const char *content_type, size_t ctlen, const char *status, size_t statuslen,
                                grpc_status_set errors)
{
	if (!grpc_is_grpc(content_type, ctlen))
		return GRPC_NOT_GRPC;
	return errors & (1u << grpc_status_code(status, statuslen)) ? GRPC_ERROR : GRPC_OK;
}

void grpc_scan_init(struct grpc_scan *s)
{
	s->len = 0;
	s->long_line = false;
	s->status = -1;
}

/* The line in S is complete (its LF seen): take its status if it is the
 * first grpc-status line. */
static void scan_line(struct grpc_scan *s)
{
	static const char name[] = "grpc-status:";
	size_t n = sizeof(name) - 1;
	size_t len = s->len;

	if (s->long_line || s->status >= 0 || len < n || strncasecmp(s->line, name, n) != 0)
		return;
	while (len > n && (s->line[len - 1] == '\r' || s->line[len - 1] == ' ' || s->line[len - 1] == '\t'))
		len--;
	while (n < len && (s->line[n] == ' ' || s->line[n] == '\t'))
		n++;
	s->status = grpc_status_code(s->line + n, len - n);
}

void grpc_scan_feed(struct grpc_scan *s, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			scan_line(s);
			s->len = 0;
			s->long_line = false;
		} else if (s->len < GRPC_SCAN_LINE) {
			s->line[s->len++] = buf[i];
		} else {
			s->long_line = true;
		}
	}
}
