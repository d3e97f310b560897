/* Unit tests for clock: the one timestamp format weir writes (event log,
 * access log, status documents), at its edges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "weir/clock.h"

static void test_format_wall(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(clock_format_wall(buf, sizeof(buf), 0, false), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	assert_int_equal(clock_format_wall(buf, sizeof(buf), 1795521600123LL, true), 0);
	assert_string_equal(buf, "2026-11-24T12:00:00.123Z");
	assert_int_equal(clock_format_wall(buf, sizeof(buf), 1795521600999LL, false), 0);
	assert_string_equal(buf, "2026-11-24T12:00:00Z");
	/* before 1970 the milliseconds count forward from the second below */
	assert_int_equal(clock_format_wall(buf, sizeof(buf), -1, true), 0);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

static void test_format_wall_refuses(void **state)
{
	char buf[32], small[20];

	(void)state;
	/* year 10000 */
	assert_int_equal(clock_format_wall(buf, sizeof(buf), 253402300800000LL, false), -1);
	assert_string_equal(buf, "");
	/* "2026-11-24T12:00:00Z" needs 21 bytes */
	assert_int_equal(clock_format_wall(small, sizeof(small), 1795521600000LL, false), -1);
	assert_string_equal(small, "");
	assert_int_equal(clock_format_wall(buf, 21, 1795521600000LL, false), 0);
}

static void test_wall_and_monotonic_move(void **state)
{
	uint64_t a, b;

	(void)state;
	assert_true(clock_wall_ms() > 1700000000000LL);
	a = clock_now_us();
	b = clock_now_us();
	assert_true(b >= a);
}

static uint64_t fake_us;

static uint64_t fake_clock(void)
{
	return fake_us;
}

static void test_injected_source(void **state)
{
	(void)state;
	fake_us = 5000123;
	clock_set_source(fake_clock);
	assert_int_equal(clock_now_us(), 5000123);
	assert_int_equal(clock_now_ms(), 5000);
	fake_us += 2000;
	assert_int_equal(clock_now_ms(), 5002);
	clock_set_source(NULL);         /* back to CLOCK_MONOTONIC */
	assert_true(clock_now_us() != 5002123);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_wall),
		cmocka_unit_test(test_format_wall_refuses),
		cmocka_unit_test(test_wall_and_monotonic_move),
		cmocka_unit_test(test_injected_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
