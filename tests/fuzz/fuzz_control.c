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

static int f_show_weights(void *ctx, struct evbuffer *out, char *err, size_t errlen)
{
	(void)ctx;
	return op(0, out, err, errlen);
}

static int f_set_weight(void *ctx, enum pool_id pool, uint32_t weight, char *err, size_t errlen)
{
	(void)ctx;
	FUZZ_CHECK(pool == POOL_BASELINE || pool == POOL_CANARY);
	FUZZ_CHECK(weight <= 10000);
	return op(1, NULL, err, errlen);
}

static int f_rollback(void *ctx, const char *reason, char *err, size_t errlen)
{
	(void)ctx;
	if (reason) {
		size_t n = strlen(reason);
		FUZZ_CHECK(n > 0);
		FUZZ_CHECK(reason[0] != ' ' && reason[n - 1] != ' ' && !strchr(reason, '\t'));
	}
	return op(2, NULL, err, errlen);
}

static int f_promote(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return op(3, NULL, err, errlen);
}

static int f_pause(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return op(4, NULL, err, errlen);
}

static int f_resume(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return op(5, NULL, err, errlen);
}

static int f_show_stats(void *ctx, struct evbuffer *out, char *err, size_t errlen)
{
	(void)ctx;
	return op(6, out, err, errlen);
}

static int f_show_guard(void *ctx, struct evbuffer *out, char *err, size_t errlen)
{
	(void)ctx;
	return op(0, out, err, errlen);
}

static int f_show_events(void *ctx, unsigned n, struct evbuffer *out, char *err, size_t errlen)
{
	(void)ctx;
	FUZZ_CHECK(n >= 1 && n <= 10000);
	return op(1, out, err, errlen);
}

static int f_show_report(void *ctx, struct evbuffer *out, char *err, size_t errlen)
{
	(void)ctx;
	return op(2, out, err, errlen);
}

static int f_reload(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return op(3, NULL, err, errlen);
}

static const struct control_ops ops = {
	.show_weights = f_show_weights, .set_weight = f_set_weight, .rollback = f_rollback,
	.promote = f_promote,           .pause = f_pause,           .resume = f_resume,
	.show_stats = f_show_stats,     .show_guard = f_show_guard, .show_events = f_show_events,
	.show_report = f_show_report,   .reload = f_reload,
};

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
