/* Unit tests for check: the rise/fall state machine (fed results in order:
 * it has no clock, the prober's interval is its only time) and the expect
 * status sets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "weir/check.h"

/* Feed the results in PATTERN ('+' pass, '-' fail) and return the state
 * after each in STATES ('u' unchecked, 'U' up, 'D' down). */
static void feed(struct check_sm *sm, const char *pattern, unsigned rise, unsigned fall,
                 char *states)
{
	static const char letters[] = "uUD";
	for (size_t i = 0; pattern[i]; i++) {
		check_sm_result(sm, pattern[i] == '+', rise, fall);
		states[i] = letters[sm->state];
	}
	states[strlen(pattern)] = '\0';
}

static void expect_states(const char *pattern, unsigned rise, unsigned fall, const char *want)
{
	struct check_sm sm;
	char got[64];

	memset(&sm, 0, sizeof(sm));
	feed(&sm, pattern, rise, fall, got);
	if (strcmp(got, want) != 0)
		fail_msg("rise %u fall %u, results %s: states %s, expected %s", rise, fall, pattern, got, want);
}

static void test_from_unchecked(void **state)
{
	(void)state;
	expect_states("++", 2, 3, "uU");
	expect_states("---", 2, 3, "uuD");
	expect_states("+-+-+-", 2, 3, "uuuuuu");        /* no streak: no decision */
	expect_states("-+--+", 2, 3, "uuuuu");
	expect_states("+", 1, 1, "U");
	expect_states("-", 1, 1, "D");
}

static void test_rise_fall(void **state)
{
	(void)state;
	/* rise 2 fall 3: up, two failures are not enough, the third is. */
	expect_states("++--+---", 2, 3, "uUUUUUUD");
	/* down, one pass is not enough; rise 2 passes in a row are. */
	expect_states("---+-++", 2, 3, "uuDDDDU");
	/* a result that agrees with the state restarts the other streak. */
	expect_states("++--+--+--", 2, 3, "uUUUUUUUUU");
	expect_states("---+-+-+", 2, 3, "uuDDDDDD");
	/* 0 counts as 1. */
	expect_states("+-", 0, 0, "UD");
}

static void test_change_reported(void **state)
{
	struct check_sm sm;
	(void)state;

	memset(&sm, 0, sizeof(sm));
	assert_false(check_sm_result(&sm, true, 2, 2));
	assert_true(check_sm_result(&sm, true, 2, 2));
	assert_false(check_sm_result(&sm, true, 2, 2));
	assert_false(check_sm_result(&sm, false, 2, 2));
	assert_true(check_sm_result(&sm, false, 2, 2));
	assert_int_equal(sm.state, CHECK_DOWN);
	assert_string_equal(check_state_name(CHECK_UNCHECKED), "unchecked");
	assert_string_equal(check_state_name(CHECK_UP), "up");
	assert_string_equal(check_state_name(CHECK_DOWN), "down");
	assert_string_equal(check_state_name((enum check_state)7), "?");
}

static void expect_ok(const char *text, const char *formatted)
{
	uint64_t bits[CHECK_STATUS_WORDS];
	char err[160], buf[256];

	memset(bits, 0, sizeof(bits));
	if (check_expect_parse(text, bits, err, sizeof(err)) != 0)
		fail_msg("\"%s\": %s", text, err);
	assert_int_equal(check_expect_format(bits, buf, sizeof(buf)), 0);
	assert_string_equal(buf, formatted);
}

static void expect_bad(const char *text, const char *phrase)
{
	uint64_t bits[CHECK_STATUS_WORDS];
	char err[160];

	memset(bits, 0, sizeof(bits));
	assert_int_equal(check_expect_parse(text, bits, err, sizeof(err)), -1);
	if (!strstr(err, phrase))
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, phrase);
}

static void test_expect(void **state)
{
	uint64_t bits[CHECK_STATUS_WORDS];
	char err[160];
	(void)state;

	expect_ok("2xx", "2xx");
	expect_ok("2XX", "2xx");
	expect_ok("200, 204", "200,204");
	expect_ok(" 2xx ,\t301", "2xx,301");
	expect_ok("599,100", "100,599");
	expect_ok("3xx,4xx", "3xx,4xx");
	expect_bad("", "empty item");
	expect_bad("200,", "empty item");
	expect_bad("200,,204", "empty item");
	expect_bad("6xx", "\"6xx\" is neither");
	expect_bad("099", "\"099\" is neither");
	expect_bad("600", "\"600\" is neither");
	expect_bad("20", "\"20\" is neither");
	expect_bad("2000", "\"2000\" is neither");
	expect_bad("ok", "\"ok\" is neither");
	expect_bad("2x", "\"2x\" is neither");

	memset(bits, 0, sizeof(bits));
	assert_int_equal(check_expect_parse("2xx, 404", bits, err, sizeof(err)), 0);
	assert_true(check_status_in(bits, 200));
	assert_true(check_status_in(bits, 299));
	assert_true(check_status_in(bits, 404));
	assert_false(check_status_in(bits, 199));
	assert_false(check_status_in(bits, 300));
	assert_false(check_status_in(bits, 503));
	assert_false(check_status_in(bits, -1));
	assert_false(check_status_in(bits, 600));
	assert_false(check_status_in(bits, 100000));
	/* A buffer too small is refused, not overrun. */
	char small[4];
	assert_int_equal(check_expect_format(bits, small, sizeof(small)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_unchecked),
		cmocka_unit_test(test_rise_fall),
		cmocka_unit_test(test_change_reported),
		cmocka_unit_test(test_expect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
