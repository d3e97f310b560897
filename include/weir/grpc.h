/* grpc: what weir needs to know of gRPC to judge a canary by it.
 *
 * Owns the gRPC status codes (their names and numbers), the parser of a
 * configured set of them (INTERFACE.md `errors.grpc`) and the classification
 * of one response: a response whose content-type is application/grpc (or
 * application/grpc+proto, application/grpc;...) is an error when its
 * grpc-status, from the trailers or from a trailers-only response's
 * headers, is in the set. Pure: no sockets, no libevent, no allocation. */
#ifndef WEIR_GRPC_H
#define WEIR_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The codes of the gRPC status (grpc/doc/statuscodes.md), 0 to 16. */
#define GRPC_STATUS_COUNT 17
#define GRPC_STATUS_UNKNOWN 2

/* errors.grpc when the configuration does not set it. */
#define GRPC_DEFAULT_ERRORS "UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS"

/* A set of status codes: bit N is code N. */
typedef uint32_t grpc_status_set;

/* The upper-case name of CODE ("UNAVAILABLE"), NULL outside 0..16. */
const char *grpc_status_name(int code);

/* Parse a list of status codes, each a name (any case: "unavailable") or a
 * number ("14"), separated by commas with optional blanks around them, into
 * *SET. The empty string is the empty set (no gRPC status is an error). A
 * name twice, an unknown name, a number above 16, an empty element or a
 * trailing comma is refused: returns -1 and says which element in ERR
 * (ERRLEN bytes, may be 0); *SET is left alone. Returns 0. */
int grpc_status_set_parse(const char *list, grpc_status_set *set, char *err, size_t errlen);

/* CONTENT_TYPE (LEN bytes) marks a gRPC response: "application/grpc",
 * alone or followed by '+' (a message format) or ';' (parameters),
 * ignoring case. */
bool grpc_is_grpc(const char *content_type, size_t len);

/* A grpc-status value (LEN bytes) as a code: the decimal number, 0..16;
 * anything else (missing: VALUE NULL, empty, not digits, out of range) is
 * UNKNOWN, as a gRPC client reads it. */
int grpc_status_code(const char *value, size_t len);

enum grpc_verdict {
	GRPC_NOT_GRPC,    /* not a gRPC response: judge it by its HTTP status */
	GRPC_OK,          /* a gRPC status outside the error set */
	GRPC_ERROR        /* a gRPC status in the error set */
};

/* Classify a response by its content-type (NULL: none) and its grpc-status
 * (NULL: none arrived, which counts as UNKNOWN) against ERRORS. */
enum grpc_verdict grpc_classify(const char *content_type, size_t ctlen, const char *status, size_t statuslen,
                                grpc_status_set errors);

/* grpc-status found in a trailer section that arrives in pieces (HTTP/1.1
 * chunked trailers: "name: value" lines, CRLF-ended, as the chunked decoder
 * has validated them). Bounded state, no allocation. */
#define GRPC_SCAN_LINE 64
struct grpc_scan {
	char line[GRPC_SCAN_LINE];    /* the start of the current line */
	uint8_t len;
	bool long_line;               /* longer than LINE: not a grpc-status line */
	int status;                   /* the first grpc-status's code, -1 before one */
};

void grpc_scan_init(struct grpc_scan *s);

/* Scan LEN more bytes of the trailer section. */
void grpc_scan_feed(struct grpc_scan *s, const char *buf, size_t len);

#endif
