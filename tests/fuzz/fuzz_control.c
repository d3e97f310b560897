/* fuzz_control: the control socket's line protocol (control_execute) with
 * fake operations, as a client's bytes reach it: lines cut at "\n".
 *
 * Input: a flag byte (which fake operations fail, and whether they write
 * their payload), a length byte L, L bytes that the fake operations write
 * as payload or error text (anything: empty lines, NUL, CR, no final
 * newline), then the client's bytes.
 *
 * Properties, for every line: the reply is "OK\n" or "ERR <reason>\n"
 * followed by payload lines and exactly one empty line, at its very end (a
 * client reads up to the first empty line); an ERR reason is one line of
 * printable text; at most one operation runs per line, only with valid
 * arguments (weight 0..10000, pool baseline or canary, 1..10000 events),
 * and only a command that no operation refused is answered OK. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "weir/control.h"

struct fake {
	uint8_t flags;          /* bit K: operation K fails; 0x80: no payload */
	const uint8_t *payload;
	size_t payload_len;
	int calls;
	int failed;
};

static struct fake fk;

/* Operation number K was called: write the payload to OUT or fail with it. */
static int op(int k, struct evbuffer *out, char *err, size_t errlen)
{
	fk.calls++;
	if (fk.flags & (1u << (k % 7))) {
		size_t n = fk.payload_len < errlen - 1 ? fk.payload_len : errlen - 1;
		memcpy(err, fk.payload, n);
		err[n] = '\0';
		fk.failed++;
		return -1;
	}
	if (out && !(fk.flags & 0x80))
		evbuffer_add(out, fk.payload, fk.payload_len);
	return 0;
}

/* The handlers: K is the operation's number; the checks hold what
 * control_execute promises about the arguments it passes. */
#define FAKE(fn, k, writes)                                                                              \
	static int fn(void *ctx, const struct control_args *a, struct evbuffer *out, char *err, size_t errlen) \
	{                                                                                                \
		(void)ctx;                                                                               \
		(void)a;                                                                                 \
		return op(k, (writes) ? out : NULL, err, errlen);                                       \
	}
FAKE(f_show_weights, 0, true)
FAKE(f_promote, 3, false)
FAKE(f_pause, 4, false)
FAKE(f_resume, 5, false)
FAKE(f_show_stats, 6, true)
FAKE(f_show_guard, 0, true)
FAKE(f_show_report, 2, true)
FAKE(f_reload, 3, false)

static int f_set_weight(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                        size_t errlen)
{
	(void)ctx;
	(void)out;
	FUZZ_CHECK(a->pool == POOL_BASELINE || a->pool == POOL_CANARY);
	FUZZ_CHECK(a->weight <= 10000);
	return op(1, NULL, err, errlen);
}

static int f_rollback(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                      size_t errlen)
{
	(void)ctx;
	(void)out;
	if (a->reason) {
		size_t n = strlen(a->reason);
		FUZZ_CHECK(n > 0);
		FUZZ_CHECK(a->reason[0] != ' ' && a->reason[n - 1] != ' ' && !strchr(a->reason, '\t'));
	}
	return op(2, NULL, err, errlen);
}

static int f_show_events(void *ctx, const struct control_args *a, struct evbuffer *out, char *err,
                         size_t errlen)
{
	(void)ctx;
	FUZZ_CHECK(a->count >= 1 && a->count <= 10000);
	return op(1, out, err, errlen);
}

/* Every command but "show servers", which stays unknown here. */
static const struct control_command rows[] = {
	{ { "show", "weights" }, "show weights", "", CONTROL_ARGS_NONE, f_show_weights },
	{ { "set", "weight" }, "set weight canary|baseline PERCENT", "", CONTROL_ARGS_POOL_WEIGHT, f_set_weight },
	{ { "rollback", NULL }, "rollback [REASON...]", "", CONTROL_ARGS_REASON, f_rollback },
	{ { "promote", NULL }, "promote", "", CONTROL_ARGS_NONE, f_promote },
	{ { "pause", NULL }, "pause", "", CONTROL_ARGS_NONE, f_pause },
	{ { "resume", NULL }, "resume", "", CONTROL_ARGS_NONE, f_resume },
	{ { "show", "stats" }, "show stats", "", CONTROL_ARGS_NONE, f_show_stats },
	{ { "show", "guard" }, "show guard", "", CONTROL_ARGS_NONE, f_show_guard },
	{ { "show", "events" }, "show events [N]", "", CONTROL_ARGS_COUNT, f_show_events },
	{ { "show", "report" }, "show report", "", CONTROL_ARGS_NONE, f_show_report },
	{ { "reload", NULL }, "reload", "", CONTROL_ARGS_NONE, f_reload },
};

static struct control_registry ops;

/* LINE[0..LEN) is the help command: its first word is "help". */
static bool is_help(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return len - i >= 4 && memcmp(line + i, "help", 4) == 0 &&
	       (len - i == 4 || line[i + 4] == ' ' || line[i + 4] == '\t' || line[i + 4] == '\r');
}

/* The reply R[0..N) to one line obeys the framing. */
static void check_reply(const char *r, size_t n, bool is_help)
{
	const char *first_empty;

	FUZZ_CHECK(n >= 4 && r[n - 1] == '\n' && r[n - 2] == '\n');
	first_empty = memmem(r, n, "\n\n", 2);
	FUZZ_CHECK(first_empty == r + n - 2);
	if (n >= 3 && memcmp(r, "OK\n", 3) == 0) {
		/* OK: some operation ran and did not fail, or it was help. */
		FUZZ_CHECK(fk.failed == 0 && (fk.calls == 1 || is_help));
		return;
	}
	FUZZ_CHECK(n > 6 && memcmp(r, "ERR ", 4) == 0);
	FUZZ_CHECK(memchr(r, '\n', n) == r + n - 2);   /* one line */
	for (size_t i = 0; i < n - 2; i++)
		FUZZ_CHECK((unsigned char)r[i] >= 0x20 && r[i] != 0x7f);
	FUZZ_CHECK(fk.calls == fk.failed);              /* ERR: refused, or an operation failed */
}

int fuzz_control(const uint8_t *data, size_t size)
{
	struct evbuffer *out;
	size_t pos, plen;

	if (size < 2)
		return 0;
	plen = data[1];
	if (plen > size - 2)
		plen = size - 2;
	fk = (struct fake){ .flags = data[0], .payload = data + 2, .payload_len = plen };
	control_registry_init(&ops);
	FUZZ_CHECK(control_register(&ops, rows, sizeof(rows) / sizeof(rows[0]), &fk) == 0);
	pos = 2 + plen;

	out = evbuffer_new();
	FUZZ_CHECK(out != NULL);
	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
		char *line = malloc(len ? len : 1);
		const char *r;
		size_t n;

		FUZZ_CHECK(line != NULL);
		memcpy(line, data + pos, len);  /* exactly LEN bytes: overreads show */
		fk.calls = fk.failed = 0;
		control_execute(&ops, line, len, out);
		FUZZ_CHECK(fk.calls <= 1);
		n = evbuffer_get_length(out);
		r = (const char *)evbuffer_pullup(out, -1);
		check_reply(r, n, is_help(line, len));
		evbuffer_drain(out, n);
		free(line);
		pos += len + 1;
	}
	evbuffer_free(out);
	return 0;
}

#ifdef WEIR_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_control(data, size);
}
#endif
