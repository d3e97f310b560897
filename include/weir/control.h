/* control: the UNIX control socket (admin.socket) and its line protocol.
 *
 * One command per line; every reply is a status line ("OK" or "ERR <reason>"),
 * payload lines, and an empty line. Each module that owns commands registers
 * its rows (words, usage, argument kind, handler); "help" is generated from
 * them. This module owns the protocol: tokenizing, argument checks, reply
 * framing, and the socket. It knows nothing of the proxy, so it can be
 * tested with fake rows. Runs on the main thread's event base. */
#ifndef WEIR_CONTROL_H
#define WEIR_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "weir/config-t.h"

#define CONTROL_MAX_LINE 4096

/* What control_execute parsed and checked for a command, by its row's kind. */
enum control_args_kind {
	CONTROL_ARGS_NONE,          /* no argument */
	CONTROL_ARGS_POOL_WEIGHT,   /* "canary|baseline PERCENT": pool and weight */
	CONTROL_ARGS_REASON,        /* the rest of the line, if any: reason */
	CONTROL_ARGS_COUNT,         /* an optional N from 1 to 10000 (default 20): count */
};

struct control_later;

struct control_args {
	enum pool_id pool;
	uint32_t weight;            /* WEIGHT_SCALE units */
	const char *reason;         /* NULL without one; tabs made spaces */
	unsigned count;
	/* Non-NULL when the reply may come later (a client of the socket):
	 * the handler may keep it and return CONTROL_LATER. */
	struct control_later *later;
};

/* A handler's return: the reply comes later, through control_later_done. */
#define CONTROL_LATER 1

/* A command's handler: runs with valid arguments only. It appends payload
 * lines (each ending in "\n") to OUT and returns 0, or returns -1 with a
 * one-line reason in ERR (several lines are joined with "; "), or (with
 * args->later set) returns CONTROL_LATER and answers with
 * control_later_done, exactly once, within a bounded time. The client's
 * next commands wait for that reply, so replies keep their order. */
typedef int (*control_handler_fn)(void *ctx, const struct control_args *args, struct evbuffer *out,
                                  char *err, size_t errlen);

/* One row of the command table, owned by the module whose handler it names. */
struct control_command {
	const char *words[2];       /* the keyword(s); words[1] NULL for one word */
	const char *usage;          /* shown by help and in "ERR usage: ..." */
	const char *summary;        /* shown by help */
	enum control_args_kind args;
	control_handler_fn handler;
};

#define CONTROL_MAX_COMMANDS 32

/* The commands a control socket answers, "help" apart (it is the protocol's
 * own, generated from the rows). Help lists them in registration order. */
struct control_registry {
	struct {
		const struct control_command *row;
		void *ctx;
	} entries[CONTROL_MAX_COMMANDS];
	size_t n;
};

/* An empty registry: only "help". */
void control_registry_init(struct control_registry *reg);

/* Add N rows of ROWS (static; not copied) whose handlers get CTX. Returns 0,
 * or -1 when the registry is full or a command's words are taken already
 * (nothing added). */
int control_register(struct control_registry *reg, const struct control_command *rows, size_t n, void *ctx);

/* Execute one command LINE (without its newline; may hold any bytes) and
 * append the whole reply, including the final empty line, to OUT: "OK\n",
 * the payload the handler wrote, "\n"; or "ERR <reason>\n\n". Arguments
 * are checked before any handler is called, so a refused command (unknown,
 * wrong arity, bad number, non-text bytes) changes nothing. A handler's
 * multi-line ERR text is joined into one line with "; ". */
void control_execute(const struct control_registry *reg, const char *line, size_t len, struct evbuffer *out);

/* Answer a command whose handler returned CONTROL_LATER: RC 0 is "OK" with
 * PAYLOAD (lines, or NULL), -1 is "ERR <ERR>". L is released; when its
 * client has gone meanwhile, nothing is sent. Main thread. */
void control_later_done(struct control_later *l, int rc, const char *payload, const char *err);

struct control;

/* Listen on PATH (mode 0600). A stale socket file left by a crashed run is
 * replaced; a live one (another weir answers on it) is refused, and so is a
 * PATH that is not a socket (left in place). Returns NULL with a message in
 * ERR. REG is copied (its rows and contexts must outlive the socket). Main
 * thread only; the process must ignore SIGPIPE (a client may leave before
 * its reply). Release with control_free. */
struct control *control_new(struct event_base *base, const char *path, const struct control_registry *reg,
                            char *err, size_t errlen);
/* Close every client and remove the socket file (if it is still ours). May
 * be called from inside an operation (e.g. a reload moving the socket): the
 * listener and file go at once, the rest when that command returns. */
void control_free(struct control *c);

#endif
