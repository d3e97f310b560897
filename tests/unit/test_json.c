/* Unit tests for json: UTF-8 validity at every boundary RFC 3629 draws,
 * string escaping into fixed and growing buffers, numbers, and the bounded
 * escape's cut at character boundaries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "weir/json.h"

static size_t len_of(const char *s)
{
	return utf8_char_len((const unsigned char *)s, strlen(s));
}

static void test_utf8_char_len(void **state)
{
	(void)state;
	assert_int_equal(len_of("a"), 1);
	assert_int_equal(len_of("\x01"), 1);
	assert_int_equal(len_of("\x7f"), 1);
	assert_int_equal(len_of("\xc3\xa9"), 2);               /* é */
	assert_int_equal(len_of("\xe2\x82\xac"), 3);           /* € */
	assert_int_equal(len_of("\xf0\x9f\x98\x80"), 4);       /* U+1F600 */
	assert_int_equal(len_of("\xf4\x8f\xbf\xbf"), 4);       /* U+10FFFF */
	/* overlong forms */
	assert_int_equal(len_of("\xc0\xaf"), 0);
	assert_int_equal(len_of("\xc1\xbf"), 0);
	assert_int_equal(len_of("\xe0\x9f\xbf"), 0);
	assert_int_equal(len_of("\xf0\x8f\xbf\xbf"), 0);
	/* surrogates, above U+10FFFF, bytes that never start a character */
	assert_int_equal(len_of("\xed\xa0\x80"), 0);
	assert_int_equal(len_of("\xed\x9f\xbf"), 3);           /* U+D7FF is fine */
	assert_int_equal(len_of("\xf4\x90\x80\x80"), 0);
	assert_int_equal(len_of("\xf5\x80\x80\x80"), 0);
	assert_int_equal(len_of("\x80"), 0);
	assert_int_equal(len_of("\xff"), 0);
	/* cut short, or a bad continuation byte */
	assert_int_equal(utf8_char_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
	assert_int_equal(len_of("\xe2\x82"), 0);
	assert_int_equal(len_of("\xe2\x28\xac"), 0);
	assert_int_equal(len_of("\xf0\x9f\x98\x28"), 0);
	assert_int_equal(utf8_char_len((const unsigned char *)"a", 0), 0);
}

static void test_utf8_is_c1(void **state)
{
	(void)state;
	assert_true(utf8_is_c1((const unsigned char *)"\xc2\x80", 2));
	assert_true(utf8_is_c1((const unsigned char *)"\xc2\x9f", 2));
	assert_false(utf8_is_c1((const unsigned char *)"\xc2\xa0", 2));
	assert_false(utf8_is_c1((const unsigned char *)"\xc3\xa9", 2));
	assert_false(utf8_is_c1((const unsigned char *)"a", 1));
}

static void check_string(const char *in, const char *want)
{
	char buf[256];
	struct textbuf t;

	textbuf_start(&t, buf, sizeof(buf));
	json_string(&t, in);
	assert_false(t.truncated);
	assert_string_equal(buf, want);
}

static void test_json_string(void **state)
{
	(void)state;
	check_string("", "\"\"");
	check_string("plain text", "\"plain text\"");
	check_string("a \"quoted\" \\ path", "\"a \\\"quoted\\\" \\\\ path\"");
	check_string("tab\tnl\ncr\r", "\"tab\\u0009nl\\u000acr\\u000d\"");
	check_string("del\x7f", "\"del\\u007f\"");
	check_string("caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\"");
	check_string("bad \xff byte", "\"bad \\ufffd byte\"");
	check_string("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_string("cut \xe2\x82", "\"cut \\ufffd\\ufffd\"");
}

static void test_json_string_or_null(void **state)
{
	char buf[32];
	struct textbuf t;

	(void)state;
	textbuf_start(&t, buf, sizeof(buf));
	json_string_or_null(&t, NULL);
	textbuf_append(&t, ",", 1);
	json_string_or_null(&t, "");
	textbuf_append(&t, ",", 1);
	json_string_or_null(&t, "x");
	assert_string_equal(buf, "null,null,\"x\"");
}

static void test_json_string_truncates_whole(void **state)
{
	char buf[8];
	struct textbuf t;

	(void)state;
	textbuf_start(&t, buf, sizeof(buf));
	json_string(&t, "much too long for eight bytes");
	assert_true(t.truncated);
	assert_true(strlen(buf) < sizeof(buf));
}

static void test_json_string_grows(void **state)
{
	char in[5000];
	struct textbuf t;

	(void)state;
	memset(in, '"', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	textbuf_start_growing(&t);
	json_string(&t, in);
	assert_false(t.truncated);
	assert_int_equal(t.off, 2 + 2 * (sizeof(in) - 1));
	assert_int_equal(t.buf[0], '"');
	assert_int_equal(t.buf[1], '\\');
	assert_int_equal(t.buf[t.off - 1], '"');
	textbuf_dispose(&t);
}

static void test_json_number(void **state)
{
	char buf[64];
	struct textbuf t;

	(void)state;
	textbuf_start(&t, buf, sizeof(buf));
	json_number(&t, 0.25);
	textbuf_append(&t, ",", 1);
	json_number(&t, NAN);
	textbuf_append(&t, ",", 1);
	json_number(&t, INFINITY);
	textbuf_append(&t, ",", 1);
	json_number(&t, 1234567.0);
	assert_string_equal(buf, "0.25,null,null,1.23457e+06");
}

static void test_json_escape_bounded(void **state)
{
	char out[16];
	long n;

	(void)state;
	n = json_escape_bounded(out, sizeof(out), "a\"b", false);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "a\\\"b", 4);
	/* too long without truncation */
	assert_int_equal(json_escape_bounded(out, 8, "0123456789", false), -1);
	/* cut, marked, never inside an escape or a character */
	n = json_escape_bounded(out, 8, "0123\"56789", true);
	assert_int_equal(n, 7);
	assert_memory_equal(out, "0123...", 7);
	n = json_escape_bounded(out, 8, "ab\xe2\x82\xac\xe2\x82\xacx", true);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "ab\xe2\x82\xac...", 8);
	/* exactly the capacity fits without a mark */
	n = json_escape_bounded(out, 8, "01234567", true);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "01234567", 8);
	/* a capacity that cannot hold the mark */
	assert_int_equal(json_escape_bounded(out, 2, "abc", true), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_char_len),
		cmocka_unit_test(test_utf8_is_c1),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_json_string_or_null),
		cmocka_unit_test(test_json_string_truncates_whole),
		cmocka_unit_test(test_json_string_grows),
		cmocka_unit_test(test_json_number),
		cmocka_unit_test(test_json_escape_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
