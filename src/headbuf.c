/* headbuf: an HTTP/1.1 head parsed at the front of an evbuffer
 * (include/weir/headbuf.h says why). */
#include "weir/headbuf.h"

/* The first pull-up when the first chain holds less than this: a head
 * split across small chains is joined in one step for the common sizes. */
#define HEADBUF_FIRST 4096

enum http1_result headbuf_parse(struct http1_parser *p, struct evbuffer *in, size_t limit, const char **buf)
{
	size_t avail = evbuffer_get_length(in);
	size_t most = avail < limit ? avail : limit;
	size_t len = evbuffer_get_contiguous_space(in);

	*buf = NULL;
	/* Fewer bytes than were scanned: a parser that adopted a head
	 * (http1_parser_adopt) waits for all of it. */
	if (most == 0 || avail < p->scanned)
		return HTTP1_AGAIN;
	if (len < HEADBUF_FIRST)
		len = HEADBUF_FIRST;
	if (len <= p->scanned) /* resume past what an earlier call scanned */
		len = p->scanned + HEADBUF_FIRST;
	for (;;) {
		if (len > most)
			len = most;
		*buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		if (!*buf)
			return HTTP1_ERROR;
		enum http1_result r = http1_parse_head(p, *buf, len);
		if (r != HTTP1_AGAIN || len == most)
			return r;
		len *= 2;
	}
}
