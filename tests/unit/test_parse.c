// SPDX-License-Identifier: MIT
/* Sizes, durations, percentages and their formatters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <duress/core/parse.h>

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

static uint64_t size_ok(const char *s)
{
	struct duress_err err = { 0 };
	uint64_t v = 0;

	assert_int_equal(parse_size(s, "--max", &v, &err), 0);
	return v;
}

static void size_bad(const char *s, const char *needle)
{
	struct duress_err err = { 0 };
	uint64_t v = 12345;

	assert_int_equal(parse_size(s, "--max", &v, &err), -1);
	assert_int_equal(v, 12345); /* untouched on failure */
	if (!strstr(err.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
	assert_non_null(strstr(err.msg, "--max")); /* names the option */
}

static void test_size_suffixes(void **state)
{
	(void)state;
	assert_int_equal(size_ok("0"), 0);
	assert_int_equal(size_ok("4096"), 4096);
	assert_int_equal(size_ok("1b"), 1);
	assert_int_equal(size_ok("1K"), 1024);
	assert_int_equal(size_ok("1k"), 1024);
	assert_int_equal(size_ok("1KiB"), 1024);
	assert_int_equal(size_ok("2KB"), 2048);
	assert_int_equal(size_ok("256M"), 256 * MiB);
	assert_int_equal(size_ok("256MiB"), 256 * MiB);
	assert_int_equal(size_ok("1.5G"), 1536 * MiB);
	assert_int_equal(size_ok("0.5g"), 512 * MiB);
	assert_int_equal(size_ok("2T"), 2048 * GiB);
	assert_int_equal(size_ok(" 64M "), 64 * MiB);
	assert_int_equal(size_ok("64 M"), 64 * MiB);
}

static void test_size_errors(void **state)
{
	(void)state;
	size_bad("", "empty");
	size_bad("-1", "negative");
	size_bad("-64M", "negative");
	size_bad("abc", "expected a number");
	size_bad("12Q", "unknown size suffix");
	size_bad("12MBB", "unknown size suffix");
	size_bad("0x10", "plain decimal");
	size_bad("1.5", "whole");
	size_bad("50%", "percentage is not allowed");
	size_bad("99999999P", "too large");
	size_bad("inf", "expected a number");
}

static void test_size_spec_percent(void **state)
{
	struct duress_err err = { 0 };
	struct size_spec spec;

	(void)state;
	assert_int_equal(parse_size_spec("50%", "--hog", &spec, &err), 0);
	assert_true(spec.is_pct);
	assert_true(spec.pct == 50.0);
	assert_int_equal(size_spec_resolve(&spec, 256 * MiB), 128 * MiB);
	assert_int_equal(parse_size_spec("12.5 %", "--hog", &spec, &err), 0);
	assert_int_equal(size_spec_resolve(&spec, 800), 100);
	assert_int_equal(parse_size_spec("100%", "--hog", &spec, &err), 0);
	assert_int_equal(size_spec_resolve(&spec, 1000), 1000);
	assert_int_equal(parse_size_spec("101%", "--hog", &spec, &err), -1);
	assert_non_null(strstr(err.msg, "cannot exceed 100%"));
	assert_int_equal(parse_size_spec("50%x", "--hog", &spec, &err), -1);
	assert_int_equal(parse_size_spec("1G", "--hog", &spec, &err), 0);
	assert_false(spec.is_pct);
	assert_int_equal(size_spec_resolve(&spec, 5), GiB); /* bytes ignore the base */
}

static uint64_t dur_ok(const char *s)
{
	struct duress_err err = { 0 };
	uint64_t v = 0;

	if (parse_duration(s, "--for", &v, &err) != 0)
		fail_msg("'%s': %s", s, err.msg);
	return v;
}

static void dur_bad(const char *s, const char *needle)
{
	struct duress_err err = { 0 };
	uint64_t v = 7;

	assert_int_equal(parse_duration(s, "--for", &v, &err), -1);
	assert_int_equal(v, 7);
	if (!strstr(err.msg, needle) || !strstr(err.msg, "--for"))
		fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
}

static void test_duration(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("100ms"), 100000);
	assert_int_equal(dur_ok("2m"), 120000000);
	assert_int_equal(dur_ok("1.5s"), 1500000);
	assert_int_equal(dur_ok("30"), 30000000); /* bare number: seconds */
	assert_int_equal(dur_ok("500us"), 500);
	assert_int_equal(dur_ok("1500ns"), 2); /* rounds to the nearest us */
	assert_int_equal(dur_ok("1h"), 3600000000ULL);
	assert_int_equal(dur_ok("1d"), 86400000000ULL);
	assert_int_equal(dur_ok("1m30s"), 90000000);
	assert_int_equal(dur_ok("1h2m3s"), 3723000000ULL);
	assert_int_equal(dur_ok("0s"), 0);
	assert_int_equal(dur_ok("2min"), 120000000);
}

static void test_duration_errors(void **state)
{
	(void)state;
	dur_bad("", "empty");
	dur_bad("-5s", "not a duration");
	dur_bad("5 parsecs", "unknown unit");
	dur_bad("5x", "unknown unit");
	dur_bad("ms", "not a duration");
	dur_bad("1m30", "without a unit");
	dur_bad("1e3s", "not a duration");
}

static void test_percent_and_uint(void **state)
{
	struct duress_err err = { 0 };
	uint64_t u;
	double p;

	(void)state;
	assert_int_equal(parse_percent("50", "--load", &p, &err), 0);
	assert_true(p == 50.0);
	assert_int_equal(parse_percent("12.5%", "--load", &p, &err), 0);
	assert_true(p == 12.5);
	assert_int_equal(parse_percent("100.1", "--load", &p, &err), -1);
	assert_non_null(strstr(err.msg, "between 0 and 100"));
	assert_int_equal(parse_percent("-1", "--load", &p, &err), -1);
	assert_non_null(strstr(err.msg, "negative"));
	assert_int_equal(parse_uint("8", "--workers", 1, 1024, &u, &err), 0);
	assert_int_equal(u, 8);
	assert_int_equal(parse_uint("0", "--workers", 1, 1024, &u, &err), -1);
	assert_non_null(strstr(err.msg, "between 1 and 1024"));
	assert_int_equal(parse_uint("3x", "--workers", 1, 1024, &u, &err), -1);
	assert_int_equal(parse_uint("99999999999999999999999", "--workers", 1, 1024, &u, &err), -1);
}

static void test_format_size(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(format_size(0, buf, sizeof(buf)), "0 B");
	assert_string_equal(format_size(1023, buf, sizeof(buf)), "1023 B");
	assert_string_equal(format_size(1024, buf, sizeof(buf)), "1 KiB");
	assert_string_equal(format_size(1536 * MiB, buf, sizeof(buf)), "1.5 GiB");
	assert_string_equal(format_size(100 * MiB, buf, sizeof(buf)), "100 MiB");
	assert_string_equal(format_size(1234567, buf, sizeof(buf)), "1.2 MiB");
}

static void test_format_duration(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(format_duration(0, buf, sizeof(buf)), "0s");
	assert_string_equal(format_duration(20, buf, sizeof(buf)), "20us");
	assert_string_equal(format_duration(150000, buf, sizeof(buf)), "150ms");
	assert_string_equal(format_duration(2000000, buf, sizeof(buf)), "2s");
	assert_string_equal(format_duration(90000000, buf, sizeof(buf)), "1m30s");
	assert_string_equal(format_duration(3723000000ULL, buf, sizeof(buf)), "1h2m3s");
	assert_string_equal(format_duration(3600000000ULL, buf, sizeof(buf)), "1h");
	assert_string_equal(format_duration(1500000, buf, sizeof(buf)), "1.500s");
}

/* Formatting then parsing gives the value back. */
static void test_duration_round_trip(void **state)
{
	static const uint64_t values[] = { 1, 999, 1000, 250000, 1000000, 61000000, 7322000000ULL };
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		assert_int_equal(dur_ok(format_duration(values[i], buf, sizeof(buf))), values[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_suffixes),	    cmocka_unit_test(test_size_errors),
		cmocka_unit_test(test_size_spec_percent),   cmocka_unit_test(test_duration),
		cmocka_unit_test(test_duration_errors),	    cmocka_unit_test(test_percent_and_uint),
		cmocka_unit_test(test_format_size),	    cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_duration_round_trip),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
