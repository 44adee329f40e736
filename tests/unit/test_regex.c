// SPDX-License-Identifier: MIT
/*
 * Regular expressions from outside are compiled within bounds (issue 12,
 * item 4): a 20-byte `x{0,32767}` is refused at once, a nest of small
 * repetitions that would take gigabytes is refused by the trial compile
 * under limits, an ordinary pattern compiles.
 */
#include <duress/core/exitcode.h>
#include <duress/core/regex.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

/* CPU seconds used by waited-for children: the trial compile's limit is CPU
 * time, so that is what the test bounds (wall time grows with the host's load) */
static double children_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void test_bounds(void **state)
{
	struct duress_err err = { 0 };
	char why[128], big[REGEX_MAX_LEN + 2];
	regex_t re;
	double cpu0;

	(void)state;
	assert_non_null(regex_pattern_untrusted("x{0,32767}", why, sizeof(why)));
	assert_non_null(regex_pattern_untrusted("a{256}", why, sizeof(why)));
	assert_null(regex_pattern_untrusted("a{255}", why, sizeof(why)));
	assert_null(regex_pattern_untrusted("\\{99999\\}", why, sizeof(why))); /* literal braces */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_non_null(regex_pattern_untrusted(big, why, sizeof(why)));

	cpu0 = children_cpu();
	assert_int_equal(regex_compile(&re, "x{0,32767}", REG_EXTENDED, "regex", &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "regex: 'x{0,32767}'"));
	/* small counts, nested: the trial compile runs out of its limits */
	duress_err_clear(&err);
	assert_int_equal(regex_compile(&re, "((((a{200}){200}){200}){200})", REG_EXTENDED, "regex",
				       &err),
			 -1);
	assert_non_null(strstr(err.msg, "too costly"));
	/* each trial child stopped at its CPU limit (with some slack for its exit) */
	assert_true(children_cpu() - cpu0 < REGEX_CHILD_CPU_S * 2 + 1);
	/* an invalid one says why */
	duress_err_clear(&err);
	assert_int_equal(regex_compile(&re, "a(b", REG_EXTENDED, "regex", &err), -1);
	/* an ordinary one compiles */
	assert_int_equal(regex_compile(&re, "^(GET|POST) /api/v[0-9]+/", REG_EXTENDED | REG_NOSUB,
				       "regex", &err),
			 0);
	assert_int_equal(regexec(&re, "GET /api/v2/users", 0, NULL, 0), 0);
	regfree(&re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
