/* check: rise/fall state machine and expect status sets (see check.h). */
#include "weir/check.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "weir/config-t.h"

_Static_assert(sizeof(((struct cfg_check *)0)->expect_bits) == CHECK_STATUS_WORDS * sizeof(uint64_t),
               "cfg_check.expect_bits holds CHECK_STATUS_WORDS words");

static const char *const state_names[CHECK_STATE_COUNT] = { "unchecked", "up", "down" };

const char *check_state_name(enum check_state s)
{
	return (unsigned)s < CHECK_STATE_COUNT ? state_names[s] : "?";
}

/* The one setter: every state change goes through here. */
static bool sm_set(struct check_sm *sm, enum check_state to)
{
	bool changed = sm->state != to;

	sm->state = to;
	sm->streak = 0;
	return changed;
}

bool check_sm_result(struct check_sm *sm, bool ok, unsigned rise, unsigned fall)
{
	unsigned need = ok ? (rise ? rise : 1) : (fall ? fall : 1);

	/* A result that agrees with the state ends any opposite streak. */
	if ((sm->state == CHECK_UP && ok) || (sm->state == CHECK_DOWN && !ok)) {
		sm->streak = 0;
		return false;
	}
	/* UNCHECKED counts either way; a change of kind starts over. */
	if (sm->streak == 0 || sm->streak_ok != ok) {
		sm->streak_ok = ok;
		sm->streak = 0;
	}
	sm->streak++;
	if (sm->streak < need)
		return false;
	return sm_set(sm, ok ? CHECK_UP : CHECK_DOWN);
}

static void status_set(uint64_t bits[CHECK_STATUS_WORDS], unsigned lo, unsigned hi)
{
	for (unsigned st = lo; st <= hi; st++)
		bits[st / 64] |= (uint64_t)1 << (st % 64);
}

int check_expect_parse(const char *text, uint64_t bits[CHECK_STATUS_WORDS], char *err,
                       size_t errlen)
{
	const char *p = text;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *item = p;

		while (n > 0 && (*item == ' ' || *item == '\t')) {
			item++;
			n--;
		}
		while (n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			n--;
		if (n == 3 && item[0] >= '1' && item[0] <= '5' && tolower((unsigned char)item[1]) == 'x' &&
		    tolower((unsigned char)item[2]) == 'x') {
			unsigned lo = (unsigned)(item[0] - '0') * 100;
			status_set(bits, lo, lo + 99);
		} else if (n == 3 && isdigit((unsigned char)item[0]) && isdigit((unsigned char)item[1]) &&
		           isdigit((unsigned char)item[2]) && item[0] >= '1' && item[0] <= '5') {
			unsigned st = (unsigned)(item[0] - '0') * 100 + (unsigned)(item[1] - '0') * 10 +
			              (unsigned)(item[2] - '0');
			status_set(bits, st, st);
		} else {
			if (n == 0)
				snprintf(err, errlen, "empty item: a status class like \"2xx\" or a status "
				         "from 100 to 599 is expected");
			else
				snprintf(err, errlen, "\"%.*s\" is neither a status class like \"2xx\" nor "
				         "a status from 100 to 599", (int)(n > 32 ? 32 : n), item);
			return -1;
		}
		if (!end)
			return 0;
		p = end + 1;
	}
}

/* True when every status of class C (1..5) is in BITS. */
static bool whole_class(const uint64_t bits[CHECK_STATUS_WORDS], int c)
{
	for (int st = c * 100; st < c * 100 + 100; st++)
		if (!check_status_in(bits, st))
			return false;
	return true;
}

int check_expect_format(const uint64_t bits[CHECK_STATUS_WORDS], char *buf, size_t len)
{
	size_t o = 0;
	int n;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (int c = 1; c <= 5; c++) {
		if (whole_class(bits, c)) {
			n = snprintf(buf + o, len - o, "%s%dxx", o ? "," : "", c);
			if (n < 0 || (size_t)n >= len - o)
				return -1;
			o += (size_t)n;
			continue;
		}
		for (int st = c * 100; st < c * 100 + 100; st++) {
			if (!check_status_in(bits, st))
				continue;
			n = snprintf(buf + o, len - o, "%s%d", o ? "," : "", st);
			if (n < 0 || (size_t)n >= len - o)
				return -1;
			o += (size_t)n;
		}
	}
	return 0;
}
