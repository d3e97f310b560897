/* control: the control socket's line protocol and its UNIX socket listener
 * (see include/weir/control.h and INTERFACE.md, "Control socket").
 *
 * The protocol half (control_execute) is pure: it tokenizes one line, finds
 * the command among the rows the owning modules registered, checks its
 * arguments by the row's kind and calls the row's handler. Nothing is called
 * before the whole command has been validated, so a refused command changes
 * nothing. "help" is generated from the same rows, so it cannot drift from
 * what is accepted.
 *
 * The socket half serves any number of clients on one event base. A client
 * costs at most one input line (CONTROL_MAX_LINE plus one read) and its
 * pending replies: once those pass CLIENT_OUTPUT_HIGH we stop reading and
 * executing its commands until it has read them back down to
 * CLIENT_OUTPUT_LOW, so a client that never reads cannot make us queue more
 * than one reply beyond the mark; it is dropped by the write timeout. */
#include "weir/control.h"
#include "weir/json.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "weir/config.h"

/* ---- protocol limits ------------------------------------------------------ */

#define MAX_TOKENS 8            /* tokens kept; more are counted, not stored */
#define ECHO_MAX 64             /* bytes of a client's token echoed in a reply */
#define NUMBER_MAX 32           /* longest token taken for a number */
#define EVENTS_DEFAULT 20u
#define EVENTS_MAX 10000u
#define ERR_MAX 4096            /* a handler's reason, e.g. every reload error */

/* ---- text checks and echo ------------------------------------------------- */

/* True when LINE is text a person could have typed: printable ASCII, tabs
 * and well-formed UTF-8 (a rollback reason may be in any language). NUL,
 * other control characters, DEL and broken UTF-8 are refused. */
static bool line_is_text(const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i = 0;

	while (i < len) {
		if (s[i] < 0x80) {
			if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
				return false;
			i++;
		} else {
			size_t n = utf8_char_len(s + i, len - i);
			if (n == 0 || utf8_is_c1(s + i, n))
				return false;
			i += n;
		}
	}
	return true;
}

/* Copy the client's bytes P[0..N) into BUF (at least ECHO_MAX + 4 bytes) for
 * quoting in a reply: tabs become spaces, other control bytes '?', and a
 * long token is cut at a character boundary after ECHO_MAX bytes and marked
 * with "...". */
static const char *echo(char *buf, size_t size, const char *p, size_t n)
{
	size_t cut = n, o = 0;

	if (cut > ECHO_MAX) {
		cut = ECHO_MAX;
		while (cut > 0 && ((unsigned char)p[cut] & 0xc0) == 0x80)
			cut--;
	}
	if (cut > size - 4)
		cut = size - 4;
	for (size_t i = 0; i < cut; i++) {
		unsigned char ch = (unsigned char)p[i];
		buf[o++] = ch == '\t' ? ' ' : (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (cut < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- tokens ---------------------------------------------------------------- */

struct tok {
	const char *p;
	size_t len;
};

static bool tok_is(const struct tok *t, const char *word)
{
	size_t n = strlen(word);
	return t->len == n && memcmp(t->p, word, n) == 0;
}

/* A tokenized line. Tokens are separated by runs of spaces and tabs; only the
 * first MAX_TOKENS are stored but all are counted. */
struct cmdline {
	const char *line;
	size_t len;
	struct tok toks[MAX_TOKENS];
	size_t ntoks;
};

static void tokenize(struct cmdline *cl, const char *line, size_t len)
{
	size_t i = 0;

	cl->line = line;
	cl->len = len;
	cl->ntoks = 0;
	for (;;) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		if (cl->ntoks < MAX_TOKENS)
			cl->toks[cl->ntoks] = (struct tok){ line + start, i - start };
		cl->ntoks++;
	}
}

/* ---- the command table ------------------------------------------------------ */

/* The protocol's own command: help lists it first, then every registered row. */
static const struct control_command help_row = {
	{ "help", NULL }, "help", "list the commands", CONTROL_ARGS_NONE, NULL,
};

void control_registry_init(struct control_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

static size_t command_nwords(const struct control_command *cmd)
{
	return cmd->words[1] ? 2 : 1;
}

static bool same_words(const struct control_command *a, const struct control_command *b)
{
	return command_nwords(a) == command_nwords(b) && strcmp(a->words[0], b->words[0]) == 0 &&
	       (!a->words[1] || strcmp(a->words[1], b->words[1]) == 0);
}

static bool words_taken(const struct control_registry *reg, const struct control_command *cmd)
{
	if (same_words(cmd, &help_row))
		return true;
	for (size_t i = 0; i < reg->n; i++)
		if (same_words(cmd, reg->entries[i].row))
			return true;
	return false;
}

int control_register(struct control_registry *reg, const struct control_command *rows, size_t n, void *ctx)
{
	if (n > CONTROL_MAX_COMMANDS - reg->n)
		return -1;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (same_words(&rows[i], &rows[j]))
				return -1;
	for (size_t i = 0; i < n; i++)
		if (words_taken(reg, &rows[i]))
			return -1;
	for (size_t i = 0; i < n; i++) {
		reg->entries[reg->n].row = &rows[i];
		reg->entries[reg->n].ctx = ctx;
		reg->n++;
	}
	return 0;
}

/* Row I of what help lists: help itself, then the registered rows. */
static const struct control_command *listed_row(const struct control_registry *reg, size_t i)
{
	return i == 0 ? &help_row : reg->entries[i - 1].row;
}

/* The number of the row whose words start CL (the one with the most words
 * when several would), as listed_row counts, or -1. */
static long command_find(const struct control_registry *reg, const struct cmdline *cl)
{
	long best = -1;

	for (size_t i = 0; i <= reg->n; i++) {
		const struct control_command *cmd = listed_row(reg, i);
		size_t nw = command_nwords(cmd), w;

		if (cl->ntoks < nw)
			continue;
		for (w = 0; w < nw; w++)
			if (!tok_is(&cl->toks[w], cmd->words[w]))
				break;
		if (w == nw && (best < 0 || nw > command_nwords(listed_row(reg, (size_t)best))))
			best = (long)i;
	}
	return best;
}

/* How many tokens of CL to quote in "unknown command": the first, and the
 * second too when the first is the start of some command ("show foo"). */
static size_t unknown_words(const struct control_registry *reg, const struct cmdline *cl)
{
	if (cl->ntoks < 2)
		return cl->ntoks;
	for (size_t i = 0; i < reg->n; i++)
		if (reg->entries[i].row->words[1] && tok_is(&cl->toks[0], reg->entries[i].row->words[0]))
			return 2;
	return 1;
}

/* ---- arguments ----------------------------------------------------------------- */

/* PERCENT: plain decimal digits with an optional fraction ("5", "95.5",
 * "0.25", ".5"). Signs, exponents, hex, "nan" and "inf" are refused here so
 * that what an operator typed is exactly what is applied; range and the
 * 0.01 step are checked by config_percent_to_weight, as for the file. */
static int parse_percent(const struct tok *t, uint32_t *weight)
{
	char buf[NUMBER_MAX + 1];
	size_t digits = 0, dots = 0;
	char *end;
	double v;

	if (t->len == 0 || t->len > NUMBER_MAX)
		return -1;
	for (size_t i = 0; i < t->len; i++) {
		if (t->p[i] >= '0' && t->p[i] <= '9')
			digits++;
		else if (t->p[i] == '.')
			dots++;
		else
			return -1;
	}
	if (digits == 0 || dots > 1)
		return -1;
	memcpy(buf, t->p, t->len);
	buf[t->len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (end != buf + t->len || errno != 0)
		return -1;          /* e.g. a locale whose decimal point is not '.' */
	return config_percent_to_weight(v, weight);
}

/* N for "show events": a whole number from 1 to EVENTS_MAX, digits only. */
static int parse_count(const struct tok *t, unsigned *n)
{
	unsigned v = 0;

	if (t->len == 0)
		return -1;
	for (size_t i = 0; i < t->len; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(t->p[i] - '0');
		if (v > EVENTS_MAX)
			return -1;
	}
	if (v == 0)
		return -1;
	*n = v;
	return 0;
}

/* The arguments after a command's words. ARGS holds them all for commands
 * with a bounded arity (at most MAX_TOKENS words and arguments); REST is the
 * line from the first argument on, outer blanks trimmed (empty without
 * arguments): rollback's REASON. */
struct call {
	const struct tok *args;
	size_t nargs;
	const char *rest;
	size_t restlen;
};

static bool arity_ok(enum control_args_kind kind, size_t nargs)
{
	switch (kind) {
	case CONTROL_ARGS_NONE: return nargs == 0;
	case CONTROL_ARGS_POOL_WEIGHT: return nargs == 2;
	case CONTROL_ARGS_REASON: return true;
	case CONTROL_ARGS_COUNT: return nargs <= 1;
	}
	return false;
}

static int parse_pool_weight(const struct call *call, struct control_args *a, char *err, size_t errlen)
{
	const struct tok *pool_tok = &call->args[0], *pct_tok = &call->args[1];
	char quoted[ECHO_MAX + 4];

	if (tok_is(pool_tok, "canary")) {
		a->pool = POOL_CANARY;
	} else if (tok_is(pool_tok, "baseline")) {
		a->pool = POOL_BASELINE;
	} else {
		snprintf(err, errlen, "pool must be canary or baseline (got %s)",
		         echo(quoted, sizeof(quoted), pool_tok->p, pool_tok->len));
		return -1;
	}
	if (parse_percent(pct_tok, &a->weight) < 0) {
		snprintf(err, errlen, "weight must be a number from 0 to 100 in steps of 0.01 (got %s)",
		         echo(quoted, sizeof(quoted), pct_tok->p, pct_tok->len));
		return -1;
	}
	return 0;
}

/* The reason as the event log will keep it: a copy in which tabs become
 * spaces, also left in *OWNED (release with free); NULL without one. */
static int parse_reason(const struct call *call, struct control_args *a, char **owned, char *err,
                        size_t errlen)
{
	char *reason;

	if (call->restlen == 0)
		return 0;
	reason = malloc(call->restlen + 1);
	if (!reason) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < call->restlen; i++)
		reason[i] = call->rest[i] == '\t' ? ' ' : call->rest[i];
	reason[call->restlen] = '\0';
	a->reason = *owned = reason;
	return 0;
}

static int parse_events_count(const struct call *call, struct control_args *a, char *err, size_t errlen)
{
	a->count = EVENTS_DEFAULT;
	if (call->nargs == 1 && parse_count(&call->args[0], &a->count) < 0) {
		char quoted[ECHO_MAX + 4];
		snprintf(err, errlen, "N must be a whole number from 1 to %u (got %s)", EVENTS_MAX,
		         echo(quoted, sizeof(quoted), call->args[0].p, call->args[0].len));
		return -1;
	}
	return 0;
}

/* Check and convert CALL's arguments for KIND into A; what A holds that
 * was allocated is left in *OWNED (release with free). Returns 0, or -1 with
 * the reason in ERR. */
static int parse_args(enum control_args_kind kind, const struct call *call, struct control_args *a,
                      char **owned, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->pool = POOL_COUNT;
	*owned = NULL;
	switch (kind) {
	case CONTROL_ARGS_NONE: return 0;
	case CONTROL_ARGS_POOL_WEIGHT: return parse_pool_weight(call, a, err, errlen);
	case CONTROL_ARGS_REASON: return parse_reason(call, a, owned, err, errlen);
	case CONTROL_ARGS_COUNT: return parse_events_count(call, a, err, errlen);
	}
	return 0;
}

static int run_help(const struct control_registry *reg, struct evbuffer *out, char *err, size_t errlen)
{
	int width = 0;

	for (size_t i = 0; i <= reg->n; i++) {
		int n = (int)strlen(listed_row(reg, i)->usage);
		if (n > width)
			width = n;
	}
	for (size_t i = 0; i <= reg->n; i++) {
		const struct control_command *cmd = listed_row(reg, i);
		if (evbuffer_add_printf(out, "%-*s  %s\n", width, cmd->usage, cmd->summary) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* Row number I of REG with CALL's arguments: checked, then run. */
static int run_command(const struct control_registry *reg, size_t i, const struct call *call,
                       struct control_later *later, struct evbuffer *out, char *err, size_t errlen)
{
	struct control_args a;
	char *owned;
	int rc;

	if (i == 0)
		return run_help(reg, out, err, errlen);
	if (parse_args(reg->entries[i - 1].row->args, call, &a, &owned, err, errlen) < 0)
		return -1;
	a.later = later;
	rc = reg->entries[i - 1].row->handler(reg->entries[i - 1].ctx, &a, out, err, errlen);
	free(owned);
	if (rc == CONTROL_LATER && !later) {
		snprintf(err, errlen, "internal error: a reply deferred where it cannot be");
		rc = -1;
	}
	return rc;
}

/* ---- replies ------------------------------------------------------------------ */

/* Append "ERR <reason>\n\n". The reason is made one line: a handler may
 * return several (reload's file:line errors), which are joined with "; ";
 * other control bytes become spaces. */
static void reply_err(struct evbuffer *out, const char *reason)
{
	size_t n = strlen(reason), o = 0;
	char *line = malloc(2 * n + 1);

	if (!line) {
		evbuffer_add(out, "ERR out of memory\n\n", 19);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)reason[i];
		if (ch == '\n' || ch == '\r') {
			while (o > 0 && (line[o - 1] == ' ' || line[o - 1] == ';'))
				o--;
			if (o > 0) {
				line[o++] = ';';
				line[o++] = ' ';
			}
			while (i + 1 < n && (reason[i + 1] == '\n' || reason[i + 1] == '\r'))
				i++;
		} else {
			line[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
		}
	}
	while (o > 0 && (line[o - 1] == ' ' || line[o - 1] == ';'))
		o--;
	if (o == 0) {
		evbuffer_add(out, "ERR command failed\n\n", 20);
	} else {
		evbuffer_add(out, "ERR ", 4);
		evbuffer_add(out, line, o);
		evbuffer_add(out, "\n\n", 2);
	}
	free(line);
}

/* True when PAYLOAD can be sent as is: empty, or lines that each end in "\n"
 * with no empty one among them (an empty line would end the reply early). */
static bool payload_is_clean(struct evbuffer *payload)
{
	size_t len = evbuffer_get_length(payload);
	struct evbuffer_ptr pos;
	char c;

	if (len == 0)
		return true;
	if (evbuffer_copyout(payload, &c, 1) != 1 || c == '\n')
		return false;
	if (evbuffer_ptr_set(payload, &pos, len - 1, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(payload, &pos, &c, 1) != 1 || c != '\n')
		return false;
	return evbuffer_search(payload, "\n\n", 2, NULL).pos < 0;
}

/* Append "OK\n", PAYLOAD (emptied) and the final empty line. A handler's
 * stray empty lines are dropped and a missing final newline is added, so the
 * framing holds whatever the runtime wrote. */
static void reply_ok(struct evbuffer *out, struct evbuffer *payload)
{
	evbuffer_add(out, "OK\n", 3);
	if (payload_is_clean(payload)) {
		evbuffer_add_buffer(out, payload);
	} else {
		size_t len = evbuffer_get_length(payload), start = 0;
		const char *p = (const char *)evbuffer_pullup(payload, -1);

		for (size_t i = 0; p && i <= len; i++) {
			if (i == len || p[i] == '\n') {
				if (i > start) {
					evbuffer_add(out, p + start, i - start);
					evbuffer_add(out, "\n", 1);
				}
				start = i + 1;
			}
		}
		evbuffer_drain(payload, len);
	}
	evbuffer_add(out, "\n", 1);
}

/* A reason that filled ERR (ERR_MAX: every error of a huge configuration)
 * was cut: say so at a character boundary rather than stop mid-word. The
 * log has every reload error. */
static void mark_cut(char *err, size_t errlen)
{
	static const char more[] = " ... (cut; the log has the rest)";
	size_t at;

	if (strlen(err) + 1 < errlen || errlen < 2 * sizeof(more))
		return;
	at = errlen - sizeof(more);
	while (at > 0 && ((unsigned char)err[at] & 0xc0) == 0x80)
		at--;
	memcpy(err + at, more, sizeof(more));
}

/* control_execute with LATER (NULL: the reply is due now). Returns
 * CONTROL_LATER when the handler kept LATER (nothing appended to OUT),
 * else 0. */
static int execute(const struct control_registry *reg, const char *line, size_t len, struct control_later *later,
                   struct evbuffer *out)
{
	char quoted[ECHO_MAX + 4], err[ERR_MAX];
	const struct control_command *cmd;
	long found;
	struct evbuffer *payload;
	struct cmdline cl;
	struct call call;
	size_t nw;

	int rc;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (!line_is_text(line, len)) {
		reply_err(out, "invalid bytes in command");
		return 0;
	}
	tokenize(&cl, line, len);
	if (cl.ntoks == 0) {
		reply_err(out, "empty command (try help)");
		return 0;
	}

	found = command_find(reg, &cl);
	if (found < 0) {
		size_t n = unknown_words(reg, &cl);
		const char *end = cl.toks[n - 1].p + cl.toks[n - 1].len;
		echo(quoted, sizeof(quoted), cl.toks[0].p, (size_t)(end - cl.toks[0].p));
		evbuffer_add_printf(out, "ERR unknown command '%s' (try help)\n\n", quoted);
		return 0;
	}
	cmd = listed_row(reg, (size_t)found);
	nw = command_nwords(cmd);
	if (!arity_ok(cmd->args, cl.ntoks - nw)) {
		evbuffer_add_printf(out, "ERR usage: %s\n\n", cmd->usage);
		return 0;
	}

	call = (struct call){ .args = cl.toks + nw, .nargs = cl.ntoks - nw };
	if (call.nargs > 0) {
		const char *end = line + len;
		while (end > call.args[0].p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		call.rest = call.args[0].p;
		call.restlen = (size_t)(end - call.rest);
	}

	payload = evbuffer_new();
	if (!payload) {
		reply_err(out, "out of memory");
		return 0;
	}
	err[0] = '\0';
	rc = run_command(reg, (size_t)found, &call, later, payload, err, sizeof(err));
	if (rc == 0) {
		reply_ok(out, payload);
	} else if (rc != CONTROL_LATER) {
		mark_cut(err, sizeof(err));
		reply_err(out, err);
	}
	evbuffer_free(payload);
	return rc == CONTROL_LATER ? CONTROL_LATER : 0;
}

void control_execute(const struct control_registry *reg, const char *line, size_t len, struct evbuffer *out)
{
	(void)execute(reg, line, len, NULL, out);
}

/* ---- clients ---------------------------------------------------------------------- */

#define CLIENT_MAX 256                          /* connections at once */
#define CLIENT_OUTPUT_HIGH (64 * 1024)          /* stop executing above this */
#define CLIENT_OUTPUT_LOW (16 * 1024)           /* resume below this */
#define CLIENT_IDLE_SECONDS 300                 /* nothing received */
#define CLIENT_WRITE_SECONDS 60                 /* replies not being read */
#define ACCEPT_RETRY_SECONDS 1                  /* after EMFILE and the like */

struct client {
	struct control *ctl;
	struct bufferevent *bev;
	bool discarding;        /* inside an over-long line: drop up to the next LF */
	bool eof;               /* the client will send nothing more */
	struct control_later *waiting;  /* a command's reply is still to come */
	struct client *prev, *next;
};

/* A reply a handler gives later; its client, NULL once that has gone. */
struct control_later {
	struct client *cl;
};

struct control {
	struct event_base *base;
	struct control_registry reg;
	struct evconnlistener *listener;
	struct event *retry;            /* re-enables the listener after an accept error */
	char *path;
	dev_t dev;                      /* the socket file we created, so that we */
	ino_t ino;                      /* never unlink somebody else's */
	struct client *clients;
	size_t nclients;
	bool unlinked;                  /* the socket file is gone already */
	unsigned busy;                  /* commands executing right now */
	bool doomed;                    /* control_free was called during one */
};

static void control_destroy(struct control *c);

static void client_free(struct client *cl)
{
	struct control *c = cl->ctl;

	if (cl->waiting)
		cl->waiting->cl = NULL; /* its owner answers into the void */
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->nclients--;
	bufferevent_free(cl->bev);
	free(cl);
}

/* Take the next thing to do from the client's input. Returns 1 with a line
 * in *LINE (release with free) to execute, 2 after an over-long line was
 * consumed (reply "ERR line too long"), 0 when a whole line has not arrived
 * yet. At EOF, an unterminated last line counts as a line. */
static int client_next_line(struct client *cl, struct evbuffer *in, char **line, size_t *len)
{
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		struct evbuffer_ptr eol;

		if (avail == 0)
			return 0;
		eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (cl->discarding) {
			if (eol.pos < 0) {
				evbuffer_drain(in, avail);
				return 0;
			}
			evbuffer_drain(in, (size_t)eol.pos + 1);
			cl->discarding = false;
			continue;
		}
		if (eol.pos < 0) {
			/* +1: room for the "\r" of a "\r\n" still on its way. */
			if (avail > CONTROL_MAX_LINE + 1) {
				evbuffer_drain(in, avail);
				cl->discarding = !cl->eof;
				return 2;
			}
			if (!cl->eof)
				return 0;
			*line = malloc(avail + 1);
			if (!*line)
				return -1;
			evbuffer_remove(in, *line, avail);
			(*line)[avail] = '\0';
			*len = avail;
			return 1;
		}
		if ((size_t)eol.pos > CONTROL_MAX_LINE + 1) {
			evbuffer_drain(in, (size_t)eol.pos + 1);
			return 2;
		}
		/* The line is taken here rather than by evbuffer_readln, whose
		 * result comes from libevent's allocator: freed with free() below
		 * and by the caller, it must be malloc's. */
		*len = (size_t)eol.pos;
		if (!(*line = malloc(*len + 1)))
			return -1;
		evbuffer_remove(in, *line, *len);
		(*line)[*len] = '\0';
		evbuffer_drain(in, 1); /* the LF */
		if (*len > CONTROL_MAX_LINE && !(*len == CONTROL_MAX_LINE + 1 && (*line)[*len - 1] == '\r')) {
			free(*line);
			return 2;
		}
		return 1;
	}
}

/* Execute what the client has sent, as far as its unread replies allow, and
 * close it once it is finished with. Returns -1 when the client (or the
 * whole control socket) was freed. */
static int client_pump(struct client *cl)
{
	struct control *c = cl->ctl;
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	while (!cl->waiting && evbuffer_get_length(out) < CLIENT_OUTPUT_HIGH) {
		char *line = NULL;
		size_t len = 0;
		struct control_later *later;
		int r = client_next_line(cl, in, &line, &len);

		if (r == 0)
			break;
		if (r < 0) {
			client_free(cl);        /* out of memory: drop this client only */
			return -1;
		}
		if (r == 2) {
			evbuffer_add(out, "ERR line too long\n\n", 19);
			continue;
		}
		later = calloc(1, sizeof(*later));
		if (!later) {
			free(line);
			client_free(cl);
			return -1;
		}
		later->cl = cl;
		c->busy++;
		if (execute(&c->reg, line, len, later, out) == CONTROL_LATER)
			cl->waiting = later;
		else
			free(later);
		c->busy--;
		free(line);
		if (c->doomed && c->busy == 0) {
			control_destroy(c);
			return -1;
		}
	}

	if (cl->waiting) {
		/* Nothing more is read until the reply is out: a client cannot
		 * queue commands behind a slow one. */
		bufferevent_disable(cl->bev, EV_READ);
	} else if (cl->eof) {
		if (evbuffer_get_length(in) == 0 && evbuffer_get_length(out) == 0) {
			client_free(cl);
			return -1;
		}
	} else if (evbuffer_get_length(out) >= CLIENT_OUTPUT_HIGH) {
		bufferevent_disable(cl->bev, EV_READ);
	} else {
		bufferevent_enable(cl->bev, EV_READ);
	}
	return 0;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_pump(arg);
}

/* Called whenever a write leaves at most CLIENT_OUTPUT_LOW bytes queued. */
static void client_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_pump(arg);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *cl = arg;

	if (what & BEV_EVENT_EOF) {
		/* Answer what was sent, then close once the replies are out. */
		cl->eof = true;
		bufferevent_disable(bev, EV_READ);
		client_pump(cl);
		return;
	}
	/* BEV_EVENT_ERROR (reset, EPIPE) or BEV_EVENT_TIMEOUT (idle, or not
	 * reading its replies). */
	client_free(cl);
}

void control_later_done(struct control_later *l, int rc, const char *payload, const char *err)
{
	struct client *cl = l->cl;

	free(l);
	if (!cl)
		return;
	cl->waiting = NULL;
	struct evbuffer *out = bufferevent_get_output(cl->bev);
	if (rc == 0) {
		struct evbuffer *p = evbuffer_new();
		if (!p) {
			reply_err(out, "out of memory");
		} else {
			if (payload)
				evbuffer_add(p, payload, strlen(payload));
			reply_ok(out, p);
			evbuffer_free(p);
		}
	} else {
		reply_err(out, err && err[0] ? err : "command failed");
	}
	/* The client's next commands run from the event loop, never from
	 * inside the caller (who may be in the middle of its own work). */
	bufferevent_trigger(cl->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* Refuse a connection beyond CLIENT_MAX with a proper reply, never blocking. */
static void refuse_client(evutil_socket_t fd)
{
	static const char msg[] = "ERR too many control connections\n\n";
	ssize_t n = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)n;
	evutil_closesocket(fd);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct control *c = arg;
	struct timeval idle = { CLIENT_IDLE_SECONDS, 0 }, wr = { CLIENT_WRITE_SECONDS, 0 };
	struct client *cl;

	(void)lis;
	(void)sa;
	(void)salen;
	if (c->nclients >= CLIENT_MAX) {
		refuse_client(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		evutil_closesocket(fd);
		return;
	}
	cl->ctl = c;
	cl->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl->bev) {
		evutil_closesocket(fd);
		free(cl);
		return;
	}
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
	bufferevent_setwatermark(cl->bev, EV_WRITE, CLIENT_OUTPUT_LOW, 0);
	bufferevent_set_timeouts(cl->bev, &idle, &wr);
	if (bufferevent_enable(cl->bev, EV_READ) < 0) {
		bufferevent_free(cl->bev);
		free(cl);
		return;
	}
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->nclients++;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(c->listener);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS ...). The listening socket stays
 * readable, so pause it for a moment rather than spin. */
static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
	struct control *c = arg;
	struct timeval tv = { ACCEPT_RETRY_SECONDS, 0 };

	evconnlistener_disable(lis);
	evtimer_add(c->retry, &tv);
}

/* ---- the socket file ------------------------------------------------------------------ */

/* A message for control_new's caller. A message longer than its buffer is
 * cut short, which is all a caller could do with it anyway. */
static void errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errorf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Make PATH free for bind: nothing there, or a socket nobody answers on (left
 * by a crashed run), which is removed. Anything else is refused. */
static int clear_stale_socket(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	const char *path = sun->sun_path;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		errorf(err, errlen, "cannot check control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		errorf(err, errlen, "control socket %s exists and is not a socket (not removed)", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		errorf(err, errlen, "cannot check control socket %s: %s", path, strerror(errno));
		return -1;
	}
	/* Non-blocking: a live listener with a full backlog says EAGAIN, which
	 * is as live as an accepted connection. */
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		errorf(err, errlen, "another process is listening on control socket %s", path);
		return -1;
	}
	rc = errno;
	close(fd);
	if (rc != ECONNREFUSED) {
		errorf(err, errlen, "cannot check control socket %s: %s", path, strerror(rc));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		errorf(err, errlen, "cannot remove stale control socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Create, bind (mode 0600) and return a listening-ready socket on SUN. */
static int bind_socket(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	const char *path = sun->sun_path;
	mode_t old_mask;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		errorf(err, errlen, "cannot create control socket %s: %s", path, strerror(errno));
		return -1;
	}
	/* The umask makes the file 0600 from the first instant; the chmod holds
	 * even where a socket file ignores the umask. umask is process-wide:
	 * control_new runs on the main thread before anything else creates files. */
	old_mask = umask(077);
	rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	umask(old_mask);
	if (rc < 0) {
		errorf(err, errlen, "cannot bind control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, 0600) < 0) {
		errorf(err, errlen, "cannot set mode 0600 on control socket %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

struct control *control_new(struct event_base *base, const char *path, const struct control_registry *reg,
                            char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *c = NULL;
	struct stat st;
	size_t plen = strlen(path);
	int fd = -1;
	bool bound = false;

	if (plen == 0) {
		snprintf(err, errlen, "control socket path is empty");
		return NULL;
	}
	if (plen >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path %s is too long (%zu bytes, at most %zu)", path,
		         plen, sizeof(sun.sun_path) - 1);
		return NULL;
	}
	memcpy(sun.sun_path, path, plen + 1);

	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	c->base = base;
	c->reg = *reg;
	c->retry = evtimer_new(base, retry_cb, c);
	if (!c->retry) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	if (clear_stale_socket(&sun, err, errlen) < 0)
		goto fail;
	fd = bind_socket(&sun, err, errlen);
	if (fd < 0)
		goto fail;
	bound = true;
	if (stat(path, &st) < 0) {
		errorf(err, errlen, "cannot stat control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;

	c->listener = evconnlistener_new(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                                 SOMAXCONN, fd);
	if (!c->listener) {
		errorf(err, errlen, "cannot listen on control socket %s: %s", path, strerror(errno ? errno : ENOMEM));
		goto fail;
	}
	fd = -1;                        /* the listener owns it now */
	evconnlistener_set_error_cb(c->listener, accept_error_cb);
	return c;

fail:
	if (fd >= 0)
		close(fd);
	if (bound)
		unlink(path);
	if (c) {
		if (c->retry)
			event_free(c->retry);
		free(c->path);
		free(c);
	}
	return NULL;
}

/* Stop accepting and remove the socket file, if it is still ours: a newer
 * weir (or a reload) may have replaced it meanwhile. */
static void control_close_listener(struct control *c)
{
	struct stat st;

	if (c->listener) {
		evconnlistener_free(c->listener);
		c->listener = NULL;
	}
	evtimer_del(c->retry);
	if (!c->unlinked && stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	c->unlinked = true;
}

static void control_destroy(struct control *c)
{
	while (c->clients)
		client_free(c->clients);
	control_close_listener(c);
	event_free(c->retry);
	free(c->path);
	free(c);
}

/* Safe from inside an operation (e.g. a reload that moves the socket): the
 * destruction then waits until that command has returned. */
void control_free(struct control *c)
{
	if (!c)
		return;
	if (c->busy > 0) {
		c->doomed = true;
		control_close_listener(c);      /* give the path back right away */
		return;
	}
	control_destroy(c);
}
