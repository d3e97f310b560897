/* h2conv: an HTTP/2 request's header list as an HTTP/1.1 request head.
 *
 * Owns the rules by which an h2 stream may become a request to an HTTP/1.1
 * backend (RFC 9113 8.2 and 8.3, RFC 9110), so that no h2 request reaches a
 * backend as an HTTP/1.1 message it could frame or route differently from
 * weir (the h2-to-h1 smuggling shapes). Pure: no sockets, no libevent, no
 * nghttp2; the HTTP/2 front hands it the decoded field list of a HEADERS
 * block and whether the stream carries a body.
 *
 * Refused as malformed (RFC 9113 8.1.1: a stream error, the request is not
 * forwarded):
 *   - names: empty, not a token, any upper-case letter, a pseudo-header
 *     after a regular field, an unknown or repeated pseudo-header;
 *   - values: NUL, CR, LF or another control byte but HTAB, leading or
 *     trailing SP/HTAB;
 *   - connection-specific fields: connection, keep-alive, proxy-connection,
 *     transfer-encoding, upgrade; te other than "trailers";
 *   - :method missing or not a token; :scheme missing or not http/https;
 *     :path missing, empty, not visible ASCII, with a '#', or neither
 *     origin-form nor "*" (OPTIONS only);
 *   - no :authority and no host; :authority that is not host[:port]
 *     (http1_valid_authority: no userinfo); a host that differs from it;
 *     more than one host;
 *   - content-length that is not digits, above INT64_MAX, repeated with
 *     another value, or non-zero on a stream without a body.
 * CONNECT (and extended CONNECT) is not implemented (501). A head larger
 * than the limit, or with more fields than the HTTP/1.1 parser takes, is
 * too large (431).
 *
 * What comes out: "METHOD SP path SP HTTP/1.1", Host (the authority), the
 * regular fields in order (cookie fields joined with "; " into the place of
 * the first, RFC 9113 8.2.3; te dropped), then the framing: Content-Length
 * when the request has one, Transfer-Encoding: chunked for a body without
 * one (the front chunk-frames the DATA), nothing without a body. As a last
 * gate the head is parsed by weir's strict HTTP/1.1 parser, which must
 * agree on its length, method, target and framing; the proxy then forwards
 * it as it forwards any HTTP/1.1 request (X-Forwarded-*, split, ...). */
#ifndef WEIR_H2CONV_H
#define WEIR_H2CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/http1.h"

/* One decoded field of a HEADERS block (pseudo-headers included). */
struct h2conv_field {
	const char *name;
	size_t namelen;
	const char *value;
	size_t valuelen;
};

enum h2conv_result {
	H2CONV_OK,
	H2CONV_MALFORMED,         /* RST_STREAM PROTOCOL_ERROR; nothing forwarded */
	H2CONV_NOT_IMPLEMENTED,   /* CONNECT: answer 501 */
	H2CONV_TOO_LARGE          /* answer 431 */
};

/* What the data path needs to know of a converted request. */
struct h2conv_request {
	size_t head_len;          /* bytes written to OUT */
	bool has_length;          /* content-length given: DATA must total it */
	uint64_t length;
	bool chunked;             /* a body without content-length: sent chunked */
};

/* Convert FIELDS[0..N) (HAS_BODY: the HEADERS frame did not end the
 * stream) into an HTTP/1.1 request head in OUT, at most CAP bytes (the
 * request head limit). PARSER must have been set up by http1_parser_init
 * for a request (its limits apply too); on H2CONV_OK it holds the parsed
 * head (spans into OUT), so the proxy need not parse it again, and *REQ
 * describes the framing. Otherwise WHY (WHYLEN bytes) says what was
 * refused, for the log. */
enum h2conv_result h2conv_request(const struct h2conv_field *fields, size_t n, bool has_body, char *out,
                                  size_t cap, struct http1_parser *parser, struct h2conv_request *req,
                                  char *why, size_t whylen);

/* The HTTP status weir answers a refused request with (400 for malformed,
 * when the front chooses to answer rather than reset; 501; 431). */
int h2conv_status(enum h2conv_result r);

#endif
