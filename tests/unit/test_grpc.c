/* Unit tests for grpc: status names, the errors.grpc list parser and the
 * classification of a response. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "weir/grpc.h"

#define BIT(code) (1u << (code))

static void test_names(void **unused)
{
	(void)unused;
	assert_string_equal(grpc_status_name(0), "OK");
	assert_string_equal(grpc_status_name(14), "UNAVAILABLE");
	assert_string_equal(grpc_status_name(16), "UNAUTHENTICATED");
	assert_null(grpc_status_name(17));
	assert_null(grpc_status_name(-1));
}

static void test_default_list(void **unused)
{
	grpc_status_set set = 0;
	char err[128];

	(void)unused;
	assert_int_equal(grpc_status_set_parse(GRPC_DEFAULT_ERRORS, &set, err, sizeof(err)), 0);
	assert_int_equal(set, BIT(2) | BIT(4) | BIT(12) | BIT(13) | BIT(14) | BIT(15));
	assert_string_equal(err, "");
}

static void test_list_forms(void **unused)
{
	grpc_status_set set = 0;
	char err[128];

	(void)unused;
	/* numbers, any case, blanks around elements */
	assert_int_equal(grpc_status_set_parse(" 14,internal ,\tData_Loss, 0 ", &set, err, sizeof(err)), 0);
	assert_int_equal(set, BIT(14) | BIT(13) | BIT(15) | BIT(0));
	assert_int_equal(grpc_status_set_parse("16", &set, err, sizeof(err)), 0);
	assert_int_equal(set, BIT(16));
	/* the empty list: no gRPC status is an error */
	set = 7;
	assert_int_equal(grpc_status_set_parse("", &set, err, sizeof(err)), 0);
	assert_int_equal(set, 0);
	set = 7;
	assert_int_equal(grpc_status_set_parse("  ", &set, err, sizeof(err)), 0);
	assert_int_equal(set, 0);
}

static void expect_refused(const char *list, const char *what)
{
	grpc_status_set set = 12345;
	char err[128];

	assert_int_equal(grpc_status_set_parse(list, &set, err, sizeof(err)), -1);
	assert_int_equal(set, 12345); /* untouched */
	if (!strstr(err, what))
		fail_msg("\"%s\": expected \"%s\" in \"%s\"", list, what, err);
}

static void test_list_refused(void **unused)
{
	grpc_status_set set;

	(void)unused;
	expect_refused("UNAVAILABLE, NOPE", "\"NOPE\" is not a status");
	expect_refused("17", "\"17\" is not a status");
	expect_refused("100", "\"100\" is not a status");
	expect_refused("-1", "\"-1\" is not a status");
	expect_refused("1 4", "\"1 4\" is not a status");
	expect_refused("UNAVAILABLE UNKNOWN", "is not a status");
	expect_refused("14, UNAVAILABLE", "\"UNAVAILABLE\" is listed twice");
	expect_refused("internal, INTERNAL", "is listed twice");
	expect_refused("UNKNOWN,", "an empty element");
	expect_refused(",UNKNOWN", "an empty element");
	expect_refused("UNKNOWN,,INTERNAL", "an empty element");
	expect_refused("UNKNOWN, ,INTERNAL", "an empty element");
	/* a long element is cut in the message, which stays a string */
	expect_refused("XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "XXXXXXXXXX\" is not");
	/* no room for the message is fine */
	assert_int_equal(grpc_status_set_parse("NOPE", &set, NULL, 0), -1);
}

static void test_is_grpc(void **unused)
{
	static const struct {
		const char *ct;
		bool grpc;
	} cases[] = {
		{ "application/grpc", true },
		{ "application/grpc+proto", true },
		{ "application/grpc+json", true },
		{ "application/grpc;charset=utf-8", true },
		{ "Application/GRPC", true },
		{ "application/grpc-web", false },
		{ "application/grpc-web+proto", false },
		{ "application/grpcx", false },
		{ "application/json", false },
		{ "application/grp", false },
		{ "", false },
	};

	(void)unused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (grpc_is_grpc(cases[i].ct, strlen(cases[i].ct)) != cases[i].grpc)
			fail_msg("%s", cases[i].ct);
	assert_false(grpc_is_grpc(NULL, 0));
}

static void test_status_code(void **unused)
{
	(void)unused;
	assert_int_equal(grpc_status_code("0", 1), 0);
	assert_int_equal(grpc_status_code("14", 2), 14);
	assert_int_equal(grpc_status_code("16", 2), 16);
	/* what a client reads as UNKNOWN */
	assert_int_equal(grpc_status_code("17", 2), GRPC_STATUS_UNKNOWN);
	assert_int_equal(grpc_status_code("", 0), GRPC_STATUS_UNKNOWN);
	assert_int_equal(grpc_status_code(NULL, 0), GRPC_STATUS_UNKNOWN);
	assert_int_equal(grpc_status_code("1x", 2), GRPC_STATUS_UNKNOWN);
	assert_int_equal(grpc_status_code(" 1", 2), GRPC_STATUS_UNKNOWN);
	assert_int_equal(grpc_status_code("123", 3), GRPC_STATUS_UNKNOWN);
}

static void test_classify(void **unused)
{
	grpc_status_set errors;
	const char *ct = "application/grpc";

	(void)unused;
	assert_int_equal(grpc_status_set_parse(GRPC_DEFAULT_ERRORS, &errors, NULL, 0), 0);
	assert_int_equal(grpc_classify(ct, 16, "0", 1, errors), GRPC_OK);
	assert_int_equal(grpc_classify(ct, 16, "14", 2, errors), GRPC_ERROR);       /* UNAVAILABLE */
	assert_int_equal(grpc_classify(ct, 16, "5", 1, errors), GRPC_OK);           /* NOT_FOUND: the client's */
	assert_int_equal(grpc_classify(ct, 16, "4", 1, errors), GRPC_ERROR);        /* DEADLINE_EXCEEDED */
	assert_int_equal(grpc_classify(ct, 16, NULL, 0, errors), GRPC_ERROR);       /* no status: UNKNOWN */
	assert_int_equal(grpc_classify(ct, 16, "99", 2, errors), GRPC_ERROR);       /* unknown code: UNKNOWN */
	assert_int_equal(grpc_classify("text/html", 9, "14", 2, errors), GRPC_NOT_GRPC);
	assert_int_equal(grpc_classify(NULL, 0, "14", 2, errors), GRPC_NOT_GRPC);
	/* an operator's own set */
	assert_int_equal(grpc_status_set_parse("NOT_FOUND", &errors, NULL, 0), 0);
	assert_int_equal(grpc_classify(ct, 16, "5", 1, errors), GRPC_ERROR);
	assert_int_equal(grpc_classify(ct, 16, "14", 2, errors), GRPC_OK);
	assert_int_equal(grpc_classify(ct, 16, NULL, 0, errors), GRPC_OK);
	/* every code against the set of itself alone */
	for (int code = 0; code < GRPC_STATUS_COUNT; code++) {
		char num[4];
		int len = snprintf(num, sizeof(num), "%d", code);

		assert_int_equal(grpc_status_set_parse(grpc_status_name(code), &errors, NULL, 0), 0);
		assert_int_equal(errors, BIT(code));
		assert_int_equal(grpc_classify(ct, 16, num, (size_t)len, errors), GRPC_ERROR);
		assert_int_equal(grpc_classify(ct, 16, num, (size_t)len, ~BIT(code) & 0x1ffffu), GRPC_OK);
	}
}

/* SCAN fed TEXT in pieces of PIECE bytes. */
static int scan_in_pieces(const char *text, size_t piece)
{
	struct grpc_scan s;
	size_t len = strlen(text);

	grpc_scan_init(&s);
	for (size_t i = 0; i < len; i += piece)
		grpc_scan_feed(&s, text + i, len - i < piece ? len - i : piece);
	return s.status;
}

static void test_scan_trailers(void **state)
{
	(void)state;
	for (size_t piece = 1; piece <= 8; piece++) {
		assert_int_equal(scan_in_pieces("grpc-status: 14\r\n\r\n", piece), 14);
		assert_int_equal(scan_in_pieces("grpc-message: no\r\nGRPC-Status:0\r\n\r\n", piece), 0);
		assert_int_equal(scan_in_pieces("x-a: 1\r\ngrpc-status: \t7 \r\ngrpc-status: 3\r\n\r\n", piece), 7);
		/* none, or a value a client reads as UNKNOWN */
		assert_int_equal(scan_in_pieces("grpc-message: x\r\n\r\n", piece), -1);
		assert_int_equal(scan_in_pieces("grpc-status: 99\r\n\r\n", piece), GRPC_STATUS_UNKNOWN);
		assert_int_equal(scan_in_pieces("grpc-status: \r\n\r\n", piece), GRPC_STATUS_UNKNOWN);
		assert_int_equal(scan_in_pieces("grpc-statusx: 1\r\n\r\n", piece), -1);
	}
	/* a line longer than the scanner's window is not a status line, and
	 * the next line is read normally */
	char text[400];
	snprintf(text, sizeof(text), "grpc-message: %0200d\r\ngrpc-status: 4\r\n\r\n", 0);
	assert_int_equal(scan_in_pieces(text, 3), 4);
	snprintf(text, sizeof(text), "grpc-status: %0100d1\r\n\r\n", 0);
	assert_int_equal(scan_in_pieces(text, 5), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_default_list),
		cmocka_unit_test(test_list_forms),
		cmocka_unit_test(test_list_refused),
		cmocka_unit_test(test_is_grpc),
		cmocka_unit_test(test_status_code),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_scan_trailers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
