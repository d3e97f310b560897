/* headbuf: an HTTP/1.1 head parsed at the front of an evbuffer.
 * Owns: nothing; the bridge between libevent's buffers and http1's parser.
 *
 * The parser wants the head contiguous. Pulling up as many bytes as a head
 * may have (64 KiB and more) linearises the body behind it too: with a
 * 64 KiB response that arrived in one read, every response paid a 64 KiB
 * copy for a head of 200 bytes (callgrind: 28 % of weir's instructions
 * through the h2 front). Here only what the first chain already holds is
 * used, and more is pulled up, doubling, only while the parser asks for
 * more; the parser resumes where it stopped, so the whole scan stays
 * linear. */
#ifndef WEIR_HEADBUF_H
#define WEIR_HEADBUF_H

#include <stddef.h>

#include <event2/buffer.h>

#include "weir/http1.h"

/* Parse the head at the front of IN, looking at no more than LIMIT bytes
 * (the parser's max_head_bytes + 1, so that an oversize head is an
 * error). Returns the parser's result; on DONE *BUF is the head's bytes
 * (contiguous, at least head_len of them, valid until IN changes). A
 * failed pull-up (out of memory) returns HTTP1_ERROR with *BUF NULL; a
 * parse error, HTTP1_ERROR with *BUF set. */
enum http1_result headbuf_parse(struct http1_parser *p, struct evbuffer *in, size_t limit, const char **buf);

#endif
