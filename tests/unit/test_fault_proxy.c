// SPDX-License-Identifier: MIT
/*
 * The http and tcp faults' options, checked before anything runs: bad
 * values and combinations are usage errors naming the option; rules
 * (--rule, manifests) split, quote and parse into the same options.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include <duress/core/exitcode.h>
#include <duress/experiment/manifest_validate.h>
#include <duress/faults/fault.h>
#include <duress/faults/fault_rule.h>

/* Set up fault `name` with the options (pairs: name, value; value NULL for
 * a flag), run validate; returns its result, the message in msg. */
static int try(const char *name, char *msg, size_t len, ...)
{
	const struct fault_desc *d = fault_find(name);
	struct duress_err err = { 0 };
	struct fault f;
	va_list ap;
	const char *k;
	int rc = 0;

	assert_non_null(d);
	assert_int_equal(fault_init(&f, d, &err), 0);
	va_start(ap, len);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		int idx = fault_opt_index(d, k);
		char what[64];

		if (idx < 0)
			fail_msg("%s: no option %s", name, k);
		snprintf(what, sizeof(what), "--%s", k);
		if (fault_opt_set(&f, idx, v, what, &err) < 0) {
			rc = -1;
			break;
		}
	}
	va_end(ap);
	if (!rc)
		rc = d->validate(&f, &err);
	snprintf(msg, len, "%s", err.msg);
	if (rc < 0 && err.code != DURESS_EXIT_USAGE)
		fail_msg("%s: not a usage error (%d): %s", name, err.code, err.msg);
	fault_free(&f);
	return rc;
}

#define BAD(needle, ...)                                         \
	do {                                                     \
		char m_[1024];                                   \
		if (try(__VA_ARGS__, NULL) == 0)                 \
			fail_msg("accepted: %s", #__VA_ARGS__);  \
		if (!strstr(m_, needle))                         \
			fail_msg("'%s' lacks '%s'", m_, needle); \
	} while (0)
#define OK(...)                                                        \
	do {                                                           \
		char m_[1024];                                         \
		if (try(__VA_ARGS__, NULL) < 0)                        \
			fail_msg("refused: %s: %s", #__VA_ARGS__, m_); \
	} while (0)

static void test_http_options(void **state)
{
	(void)state;
	OK("http", m_, sizeof(m_), "port", "8080", "abort", "503");
	OK("http", m_, sizeof(m_), "listen", "127.0.0.1:1", "upstream", "127.0.0.1:2", "delay",
	   "200ms", "percent", "10", "method", "get", "path", "/api/*", "header", "X-A: b*");
	BAD("--abort 299: not a known HTTP status", "http", m_, sizeof(m_), "port", "80", "abort",
	    "299");
	BAD("--abort: '700': must be between 200 and 599", "http", m_, sizeof(m_), "port", "80",
	    "abort", "700");
	BAD("--percent", "http", m_, sizeof(m_), "port", "80", "abort", "503", "percent", "150");
	BAD("nothing to do", "http", m_, sizeof(m_), "port", "80");
	BAD("--port N is required", "http", m_, sizeof(m_), "abort", "503");
	BAD("--listen and --upstream go together", "http", m_, sizeof(m_), "listen", "127.0.0.1:1",
	    "abort", "503");
	BAD("--upstream: 'nowhere': expected ADDR:PORT", "http", m_, sizeof(m_), "listen",
	    "127.0.0.1:1", "upstream", "nowhere", "abort", "503");
	BAD("--port is for a transparent proxy", "http", m_, sizeof(m_), "listen", "127.0.0.1:1",
	    "upstream", "127.0.0.1:2", "port", "80", "abort", "503");
	BAD("--to: only with --direction outbound", "http", m_, sizeof(m_), "port", "80", "to",
	    "10.0.0.0/8", "abort", "503");
	OK("http", m_, sizeof(m_), "port", "80", "direction", "outbound", "to", "10.0.0.0/8", "to",
	   "fd00::/8", "abort", "503");
	BAD("--to", "http", m_, sizeof(m_), "port", "80", "direction", "outbound", "to",
	    "10.0.0.300", "abort", "503");
	BAD("--abort and --truncate-body exclude each other", "http", m_, sizeof(m_), "port", "80",
	    "abort", "503", "truncate-body", "50%");
	BAD("--retry-after needs --abort", "http", m_, sizeof(m_), "port", "80", "delay", "1s",
	    "retry-after", "3");
	BAD("--rate-limit-queue needs --rate-limit", "http", m_, sizeof(m_), "port", "80", "delay",
	    "1s", "rate-limit-queue", NULL);
	BAD("--rate-limit", "http", m_, sizeof(m_), "port", "80", "rate-limit", "fast");
	BAD("--slow-body", "http", m_, sizeof(m_), "port", "80", "slow-body", "10");
	BAD("--path 'api': a path starts with '/'", "http", m_, sizeof(m_), "port", "80", "abort",
	    "500", "path", "api");
	BAD("--header", "http", m_, sizeof(m_), "port", "80", "abort", "500", "header", "Bad Name");
	BAD("--content-type", "http", m_, sizeof(m_), "port", "80", "content-type", "a\r\nb");
	BAD("--replace-body: /nonexistent/body", "http", m_, sizeof(m_), "port", "80",
	    "replace-body", "/nonexistent/body");
	BAD("--delay: at most 10m", "http", m_, sizeof(m_), "port", "80", "delay", "11m");
	BAD("--method qualifies a fault", "http", m_, sizeof(m_), "port", "80", "method", "GET",
	    "rule", "abort=503");
}

static void test_http_rules(void **state)
{
	(void)state;
	OK("http", m_, sizeof(m_), "port", "80", "rule",
	   "method=GET,path=/api/*,abort=503,percent=10", "rule", "delay=200ms, header=X-Canary:1",
	   "rule", "reset=true,path=/download");
	OK("http", m_, sizeof(m_), "port", "80", "abort", "500", "rule",
	   "abort-body=\"a, \\\"b\\\"\",abort=502");
	BAD("--rule 1: port: given once for the whole fault", "http", m_, sizeof(m_), "port", "80",
	    "rule", "port=81,abort=503");
	BAD("--rule 2: nope: not an option of the http fault", "http", m_, sizeof(m_), "port", "80",
	    "rule", "abort=503", "rule", "nope=1");
	BAD("--rule 1: abort: '1000'", "http", m_, sizeof(m_), "port", "80", "rule", "abort=1000");
	BAD("--rule 1: no fault in it", "http", m_, sizeof(m_), "port", "80", "rule", "path=/x");
	BAD("--rule 1: --abort and --reset", "http", m_, sizeof(m_), "port", "80", "rule",
	    "abort=500,reset");
	BAD("a quote is not closed", "http", m_, sizeof(m_), "port", "80", "rule",
	    "abort-body=\"x,abort=500");
	BAD("--rule 1: abort: given twice", "http", m_, sizeof(m_), "port", "80", "rule",
	    "abort=500,abort=502");
	BAD("--rule 1", "http", m_, sizeof(m_), "port", "80", "rule", "reset=maybe");
	BAD("empty rule", "http", m_, sizeof(m_), "port", "80", "rule", " ");
}

static void test_rule_text(void **state)
{
	struct fault_rule_item *it;
	struct duress_err err = { 0 };
	char buf[256] = "";
	size_t n;

	(void)state;
	assert_int_equal(fault_rule_append(buf, sizeof(buf), "path", "/a,b"), 0);
	assert_int_equal(fault_rule_append(buf, sizeof(buf), "abort-body", "say \"hi\" \\ bye"), 0);
	assert_int_equal(fault_rule_append(buf, sizeof(buf), "reset", NULL), 0);
	assert_int_equal(fault_rule_append(buf, sizeof(buf), "percent", "10"), 0);
	assert_string_equal(
		buf, "path=\"/a,b\",abort-body=\"say \\\"hi\\\" \\\\ bye\",reset,percent=10");
	assert_int_equal(fault_rule_split(buf, "--rule", &it, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(it[0].key, "path");
	assert_string_equal(it[0].value, "/a,b");
	assert_string_equal(it[1].value, "say \"hi\" \\ bye");
	assert_string_equal(it[2].key, "reset");
	assert_null(it[2].value);
	assert_string_equal(it[3].value, "10");
	fault_rule_items_free(it, n);
	/* spaces around items and values are not part of them */
	assert_int_equal(fault_rule_split(" a = 1 , b=2 ", "--rule", &it, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(it[0].key, "a");
	assert_string_equal(it[0].value, "1");
	assert_string_equal(it[1].value, "2");
	fault_rule_items_free(it, n);
	/* too small a buffer: an error, never an overrun */
	buf[0] = '\0';
	assert_int_equal(fault_rule_append(buf, 8, "path", "/long/path"), -1);
	assert_string_equal(buf, "");
	assert_int_equal(fault_rule_split("=1", "--rule 3", &it, &n, &err), -1);
	assert_non_null(strstr(err.msg, "--rule 3"));
}

static void test_tcp_options(void **state)
{
	(void)state;
	OK("tcp", m_, sizeof(m_), "port", "5432", "reset", NULL, "percent", "30");
	OK("tcp", m_, sizeof(m_), "listen", "[::1]:9", "upstream", "127.0.0.1:5432", "latency",
	   "100ms", "latency-up", "10ms", "jitter", "5ms", "bandwidth", "1mbit", "bandwidth-up",
	   "10KB/s", "slow-close", "1s", "limit-data", "1M");
	BAD("nothing to do", "tcp", m_, sizeof(m_), "port", "5432");
	BAD("--timeout lets nothing through: --latency", "tcp", m_, sizeof(m_), "port", "1",
	    "timeout", NULL, "latency", "1s");
	BAD("--timeout and --reset", "tcp", m_, sizeof(m_), "port", "1", "timeout", NULL, "reset",
	    NULL);
	BAD("--reset-after needs --reset", "tcp", m_, sizeof(m_), "port", "1", "reset-after", "1s",
	    "latency", "1s");
	BAD("--jitter varies a latency", "tcp", m_, sizeof(m_), "port", "1", "jitter", "1s",
	    "slow-close", "1s");
	BAD("--bandwidth", "tcp", m_, sizeof(m_), "port", "1", "bandwidth", "fast");
	BAD("--port: '0'", "tcp", m_, sizeof(m_), "port", "0", "reset", NULL);
	BAD("--port: '70000'", "tcp", m_, sizeof(m_), "port", "70000", "reset", NULL);
	BAD("--limit-data", "tcp", m_, sizeof(m_), "port", "1", "limit-data", "0");
}

/* The database faults: the same options, each its own error codes. */
static void test_sql_options(void **state)
{
	(void)state;
	OK("postgres", m_, sizeof(m_), "port", "5432", "deadlock", "20", "match", "^update",
	   "in-transaction", NULL, "seed", "42");
	OK("postgres", m_, sizeof(m_), "port", "5432", "fail-ddl", NULL, "after", "2", "error",
	   "55P03");
	BAD("--error '00000': not a PostgreSQL error SQLSTATE", "postgres", m_, sizeof(m_), "port",
	    "5432", "error", "00000");
	OK("mysql", m_, sizeof(m_), "port", "3306", "deadlock", "20", "match", "^update",
	   "in-transaction", NULL, "seed", "42");
	OK("mysql", m_, sizeof(m_), "listen", "127.0.0.1:1", "upstream", "127.0.0.1:3306", "error",
	   "1062", "percent", "5");
	OK("mysql", m_, sizeof(m_), "port", "3306", "fail-ddl", NULL, "after", "2", "error",
	   "1205");
	OK("mysql", m_, sizeof(m_), "port", "3306", "query-canceled", "5", "admin-shutdown", "1",
	   "too-many-connections", "10", "delay", "200ms", "drop-connection", "1", "corrupt-rows",
	   "100");
	BAD("--error '2013': not a MySQL server error number", "mysql", m_, sizeof(m_), "port",
	    "3306", "error", "2013");
	BAD("--error '40P01': not a MySQL server error number", "mysql", m_, sizeof(m_), "port",
	    "3306", "error", "40P01");
	BAD("--error '999'", "mysql", m_, sizeof(m_), "port", "3306", "error", "999");
	BAD("--serialization-failure: MySQL has no serialization failure error", "mysql", m_,
	    sizeof(m_), "port", "3306", "serialization-failure", "5");
	BAD("--error and --deadlock exclude each other", "mysql", m_, sizeof(m_), "port", "3306",
	    "error", "1062", "deadlock", "5");
	BAD("--fail-ddl and --deadlock exclude each other (--error N sets", "mysql", m_, sizeof(m_),
	    "port", "3306", "fail-ddl", NULL, "deadlock", "5");
	BAD("--after counts the schema changes", "mysql", m_, sizeof(m_), "port", "3306", "after",
	    "2", "deadlock", "5");
	BAD("mysql: nothing to do: give --error, --deadlock, --query-canceled, --admin-shutdown",
	    "mysql", m_, sizeof(m_), "port", "3306", "match", "x");
	BAD("--match", "mysql", m_, sizeof(m_), "port", "3306", "deadlock", "5", "match", "(");
	BAD("--delay: a duration above 0", "mysql", m_, sizeof(m_), "port", "3306", "delay", "0s");
	BAD("--deadlock", "mysql", m_, sizeof(m_), "port", "3306", "deadlock", "101");
}

/* provider: mysql in a manifest: its options checked as on the command line. */
static void test_manifest_mysql(void **state)
{
	static const char head[] = "name: t\ndescription: d\nmethod:\n"
				   "  - type: action\n    name: a\n    provider: mysql\n"
				   "    port: 3306\n    duration: 1s\n";
	const char *bodies[] = { "    deadlock: 10\n    in-transaction: true\n",
				 "    error: 2013\n" };
	struct experiment x;
	struct mf_diags d;
	struct duress_err err = { 0 };
	struct fault f;
	char text[512];

	(void)state;
	snprintf(text, sizeof(text), "%s%s", head, bodies[0]);
	mf_diags_init(&d, "good.yaml");
	if (manifest_load_text("good.yaml", text, strlen(text), &x, &d, &err) < 0) {
		mf_diags_print(&d, stderr);
		fail_msg("%s", err.msg);
	}
	assert_int_equal(manifest_fault_build(&x.method[0], &f, &err), 0);
	fault_free(&f);
	manifest_free(&x);
	mf_diags_free(&d);
	snprintf(text, sizeof(text), "%s%s", head, bodies[1]);
	mf_diags_init(&d, "bad.yaml");
	assert_int_equal(manifest_load_text("bad.yaml", text, strlen(text), &x, &d, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_INVALID_MANIFEST);
	assert_true(d.n >= 1);
	assert_non_null(strstr(d.v[0].msg, "not a MySQL server error number"));
	manifest_free(&x);
	mf_diags_free(&d);
}

/* A manifest's list of rules (maps) becomes one rule value each, in the
 * text form; keys that are not options are pointed at. */
static void test_manifest_rules(void **state)
{
	static const char good[] =
		"name: t\ndescription: d\nmethod:\n"
		"  - type: action\n    name: a\n    fault: http\n    port: 8080\n    duration: 1s\n"
		"    rule:\n"
		"      - path: /api/*\n        method: [GET, HEAD]\n        abort: 503\n"
		"        percent: 10\n        abort-body: 'a, \"b\"'\n"
		"      - delay: 200ms\n        reset: true\n        corrupt-body: false\n";
	static const char bad[] =
		"name: t\ndescription: d\nmethod:\n"
		"  - type: action\n    name: a\n    fault: http\n    port: 8080\n    duration: 1s\n"
		"    rule:\n      - abort: 503\n        nope: 1\n";
	struct experiment x;
	struct mf_diags d;
	struct duress_err err = { 0 };
	struct fault f;
	const char *want[] = { "path=/api/*,method=GET,method=HEAD,abort=503,percent=10,"
			       "abort-body=\"a, \\\"b\\\"\"",
			       "delay=200ms,reset" };
	size_t k = 0;

	(void)state;
	mf_diags_init(&d, "good.yaml");
	if (manifest_load_text("good.yaml", good, strlen(good), &x, &d, &err) < 0) {
		mf_diags_print(&d, stderr);
		fail_msg("%s", err.msg);
	}
	assert_int_equal(x.nmethod, 1);
	for (size_t i = 0; i < x.method[0].nopts; i++) {
		if (strcmp(x.method[0].opts[i].name, "rule"))
			continue;
		assert_true(k < 2);
		assert_string_equal(x.method[0].opts[i].value, want[k]);
		k++;
	}
	assert_int_equal(k, 2);
	/* and the fault takes them */
	assert_int_equal(manifest_fault_build(&x.method[0], &f, &err), 0);
	fault_free(&f);
	manifest_free(&x);
	mf_diags_free(&d);
	mf_diags_init(&d, "bad.yaml");
	assert_int_equal(manifest_load_text("bad.yaml", bad, strlen(bad), &x, &d, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_INVALID_MANIFEST);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].pos.line, 11);
	assert_non_null(strstr(d.v[0].msg, "rule: nope: not an option of the fault"));
	manifest_free(&x);
	mf_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_options),   cmocka_unit_test(test_http_rules),
		cmocka_unit_test(test_rule_text),      cmocka_unit_test(test_tcp_options),
		cmocka_unit_test(test_manifest_rules), cmocka_unit_test(test_sql_options),
		cmocka_unit_test(test_manifest_mysql),
	};

	return cmocka_run_group_tests_name("fault_proxy", tests, NULL, NULL);
}
