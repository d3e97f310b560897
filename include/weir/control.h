/* control: the UNIX control socket (admin.socket) and its line protocol.
 *
 * One command per line; every reply is a status line ("OK" or "ERR <reason>"),
 * payload lines, and an empty line. Commands live in one keyword table
 * (words, usage, handler) from which "help" is generated. The protocol code
 * knows nothing of the proxy: it calls the operations the runtime supplies,
 * so it can be tested with fake ones. Runs on the main thread's event base. */
#ifndef WEIR_CONTROL_H
#define WEIR_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "weir/config-t.h"

#define CONTROL_MAX_LINE 4096

/* What the runtime does for each command. Each returns 0 after appending
 * payload lines (each ending in "\n") to OUT, or -1 with a one-line reason in
 * ERR. OUT may be NULL for commands without payload. */
struct control_ops {
	void *ctx;
	int (*show_weights)(void *ctx, struct evbuffer *out, char *err, size_t errlen);
	int (*set_weight)(void *ctx, enum pool_id pool, uint32_t weight, char *err, size_t errlen);
	int (*rollback)(void *ctx, const char *reason, char *err, size_t errlen);
	int (*promote)(void *ctx, char *err, size_t errlen);
	int (*pause)(void *ctx, char *err, size_t errlen);
	int (*resume)(void *ctx, char *err, size_t errlen);
	int (*show_stats)(void *ctx, struct evbuffer *out, char *err, size_t errlen);
	int (*show_guard)(void *ctx, struct evbuffer *out, char *err, size_t errlen);
	int (*show_events)(void *ctx, unsigned n, struct evbuffer *out, char *err, size_t errlen);
	int (*show_report)(void *ctx, struct evbuffer *out, char *err, size_t errlen);
	int (*show_servers)(void *ctx, struct evbuffer *out, char *err, size_t errlen);
	int (*reload)(void *ctx, char *err, size_t errlen);
};

/* Execute one command LINE (without its newline; may hold any bytes) and
 * append the whole reply, including the final empty line, to OUT: "OK\n",
 * the payload the operation wrote, "\n"; or "ERR <reason>\n\n". Arguments
 * are checked before any operation is called, so a refused command (unknown,
 * wrong arity, bad number, non-text bytes) changes nothing. An operation's
 * multi-line ERR text is joined into one line with "; ". */
void control_execute(const struct control_ops *ops, const char *line, size_t len, struct evbuffer *out);

struct control;

/* Listen on PATH (mode 0600). A stale socket file left by a crashed run is
 * replaced; a live one (another weir answers on it) is refused, and so is a
 * PATH that is not a socket (left in place). Returns NULL with a message in
 * ERR. OPS is copied. Main thread only; the process must ignore SIGPIPE (a
 * client may leave before its reply). Release with control_free. */
struct control *control_new(struct event_base *base, const char *path, const struct control_ops *ops,
                            char *err, size_t errlen);
/* Close every client and remove the socket file (if it is still ours). May
 * be called from inside an operation (e.g. a reload moving the socket): the
 * listener and file go at once, the rest when that command returns. */
void control_free(struct control *c);

#endif
