// SPDX-License-Identifier: MIT
/*
 * HTTP rules, pure: matchers (method, path prefix and glob, headers),
 * percentages, the token bucket, how several rules combine into a plan,
 * synthetic answers, head rewrites, cuts, malformed bodies, rates; and the
 * latency histogram.
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
#include <duress/proxy/httprule.h>
#include <duress/proxy/phist.h>

static const char *const hn[] = { "Host", "X-Canary", "Content-Type" };
static const char *const hv[] = { "example", "1", "application/json" };

static struct hrule_req req(const char *method, const char *path)
{
	struct hrule_req q = { method, path, hn, hv, 3 };

	return q;
}

static void test_match(void **state)
{
	struct hrule r = { 0 };
	struct hrule_req q = req("GET", "/api/v1/users");

	(void)state;
	assert_true(hrule_matches(&r, &q)); /* no matcher: everything */
	r.methods[r.nmethods++] = (char *)"POST";
	assert_false(hrule_matches(&r, &q));
	r.methods[r.nmethods++] = (char *)"GET";
	assert_true(hrule_matches(&r, &q));
	r.paths[r.npaths++] = (char *)"/admin";
	assert_false(hrule_matches(&r, &q));
	r.paths[r.npaths++] = (char *)"/api/";
	assert_true(hrule_matches(&r, &q));
	/* globs: '*' crosses '/' */
	assert_true(hrule_path_match("/api/*", "/api/v1/users"));
	assert_true(hrule_path_match("/api/*/users", "/api/v1/users"));
	assert_false(hrule_path_match("/api/*/users", "/api/v1/orders"));
	assert_true(hrule_path_match("/v?/x", "/v2/x"));
	assert_true(hrule_path_match("/api", "/apix")); /* a prefix is a prefix */
	assert_false(hrule_path_match("/api/", "/api"));
	/* headers: case-insensitive names, exact or glob values, all of them */
	r.headers[0] = (struct hrule_header){ (char *)"x-canary", (char *)"1" };
	r.nheaders = 1;
	assert_true(hrule_matches(&r, &q));
	r.headers[1] = (struct hrule_header){ (char *)"content-type", (char *)"application/*" };
	r.nheaders = 2;
	assert_true(hrule_matches(&r, &q));
	r.headers[1].value = (char *)"text/*";
	assert_false(hrule_matches(&r, &q));
	r.headers[1] = (struct hrule_header){ (char *)"X-Missing", NULL };
	assert_false(hrule_matches(&r, &q));
	r.headers[1] = (struct hrule_header){ (char *)"HOST", NULL }; /* any value */
	assert_true(hrule_matches(&r, &q));
}

static void test_rng(void **state)
{
	struct hrule_rng rng;
	unsigned hits = 0;

	(void)state;
	hrule_rng_seed(&rng, 42);
	for (int i = 0; i < 100000; i++)
		hits += hrule_rng_pct(&rng, 10);
	/* 10% of 100000: sd 95 */
	assert_in_range(hits, 9600, 10400);
	assert_true(hrule_rng_pct(&rng, 100));
	assert_false(hrule_rng_pct(&rng, 0));
}

static void test_bucket(void **state)
{
	struct hrule_bucket b;
	uint64_t t = 1000000000ULL, passed = 0;
	bool ok;

	(void)state;
	/* 20/s, burst 1: one every 50 ms, whatever the demand */
	hrule_bucket_init(&b, 20, 1);
	for (uint64_t ms = 0; ms < 10000; ms++) {
		hrule_bucket_take(&b, t + ms * 1000000, false, &ok);
		passed += ok;
	}
	assert_in_range(passed, 199, 201);
	/* the refusal says how long until a token */
	hrule_bucket_init(&b, 2, 1);
	assert_int_equal(hrule_bucket_take(&b, t, false, &ok), 0);
	assert_true(ok);
	assert_int_equal(hrule_bucket_take(&b, t + 100000000, false, &ok), 400000000);
	assert_false(ok);
	/* queued: granted, with the wait; the next one waits longer */
	assert_int_equal(hrule_bucket_take(&b, t + 100000000, true, &ok), 400000000);
	assert_true(ok);
	assert_int_equal(hrule_bucket_take(&b, t + 100000000, true, &ok), 900000000);
	/* burst 5: five at once, then one per interval */
	hrule_bucket_init(&b, 10, 5);
	passed = 0;
	for (int i = 0; i < 8; i++) {
		hrule_bucket_take(&b, t, false, &ok);
		passed += ok;
	}
	assert_int_equal(passed, 5);
}

static void test_plan(void **state)
{
	static struct hrule rules[3];
	struct hrule_req q = req("GET", "/api/x");
	struct hrule_rng rng;
	struct hrule_plan pl;

	(void)state;
	hrule_rng_seed(&rng, 1);
	/* rule 1: delay for /api; rule 2: 503 for everything; rule 3: another delay */
	rules[0].paths[rules[0].npaths++] = (char *)"/api";
	rules[0].percent = 100;
	rules[0].delay_ns = 200000000;
	rules[1].percent = 100;
	rules[1].abort_status = 503;
	rules[2].percent = 100;
	rules[2].delay_ns = 5;
	hrule_plan(rules, 3, &q, 0, &rng, &pl);
	assert_true(pl.matched);
	assert_int_equal(pl.abort_status, 503);
	assert_int_equal(pl.delay_ns, 200000000); /* the first delay decides */
	assert_true(pl.fired & (1u << HR_ABORT));
	assert_true(pl.fired & (1u << HR_DELAY));
	/* no match: nothing */
	q = req("GET", "/other");
	rules[1].percent = 0;
	hrule_plan(rules, 2, &q, 0, &rng, &pl);
	assert_true(pl.matched);
	assert_int_equal(pl.fired, 0);
	/* an abort leaves no response faults in the plan */
	rules[1].percent = 100;
	rules[1].corrupt = true;
	rules[0].reset = true;
	q = req("GET", "/api/y");
	hrule_plan(rules, 2, &q, 0, &rng, &pl);
	assert_false(pl.fired & (1u << HR_CORRUPT));
	assert_false(pl.fired & (1u << HR_RESET));
	/* a rate limit past its bucket answers 429 with Retry-After */
	memset(rules, 0, sizeof(rules));
	rules[0].percent = 100;
	rules[0].rate = 1;
	hrule_bucket_init(&rules[0].bucket, 1, 1);
	hrule_plan(rules, 1, &q, 1000000000, &rng, &pl);
	assert_int_equal(pl.abort_status, 0);
	hrule_plan(rules, 1, &q, 1200000000, &rng, &pl);
	assert_int_equal(pl.abort_status, 429);
	assert_true(pl.has_retry_after);
	assert_int_equal(pl.retry_after_s, 1);
	assert_true(pl.fired & (1u << HR_RATE_LIMIT));
	/* queued instead: a delay */
	rules[0].rate_queue = true;
	hrule_plan(rules, 1, &q, 1200000000, &rng, &pl);
	assert_int_equal(pl.abort_status, 0);
	assert_int_equal(pl.delay_ns, 800000000);
	assert_true(pl.fired & (1u << HR_RATE_QUEUE));
}

static void test_synth(void **state)
{
	char *out;
	size_t len;

	(void)state;
	assert_non_null(hrule_status_reason(503));
	assert_string_equal(hrule_status_reason(429), "Too Many Requests");
	assert_null(hrule_status_reason(299));
	assert_null(hrule_status_reason(600));
	assert_null(hrule_status_reason(100));
	assert_int_equal(
		hrule_synth_response(503, NULL, 0, false, 0, HRULE_CONN_DEFAULT, &out, &len), 0);
	{
		const char want[] = "HTTP/1.1 503 Service Unavailable\r\n"
				    "Content-Type: text/plain; charset=utf-8\r\n"
				    "Content-Length: 41\r\n\r\n"
				    "Service Unavailable (injected by duress)\n";

		assert_int_equal(len, strlen(want));
		assert_memory_equal(out, want, len);
	}
	free(out);
	/* 429 always says when to retry; a JSON body says it is JSON */
	assert_int_equal(hrule_synth_response(429, "{\"e\":1}", 7, false, 0, HRULE_CONN_CLOSE, &out,
					      &len),
			 0);
	out = realloc(out, len + 1);
	out[len] = '\0';
	assert_non_null(strstr(out, "Retry-After: 1\r\n"));
	assert_non_null(strstr(out, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(out, "Connection: close\r\n"));
	assert_non_null(strstr(out, "\r\n\r\n{\"e\":1}"));
	free(out);
	assert_int_equal(
		hrule_synth_response(503, "x", 1, true, 30, HRULE_CONN_KEEP_ALIVE, &out, &len), 0);
	out = realloc(out, len + 1);
	out[len] = '\0';
	assert_non_null(strstr(out, "Retry-After: 30\r\n"));
	assert_non_null(strstr(out, "Connection: keep-alive\r\n"));
	free(out);
}

static void test_rewrite(void **state)
{
	const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Transfer-Encoding: chunked\r\nX-Keep: yes\r\n\r\n";
	static const char *const drop[] = { "content-type", "transfer-encoding", NULL };
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(hrule_head_rewrite(head, strlen(head), drop,
					    "Content-Type: text/html\r\nContent-Length: 5\r\n",
					    &out, &len),
			 0);
	{
		const char want[] = "HTTP/1.1 200 OK\r\nX-Keep: yes\r\nContent-Type: text/html\r\n"
				    "Content-Length: 5\r\n\r\n";

		assert_int_equal(len, strlen(want));
		assert_memory_equal(out, want, len);
	}
	free(out);
	/* a header named like the start of one we drop stays */
	{
		const char h2[] = "HTTP/1.1 200 OK\r\nContent-Type-Options: x\r\n\r\n";

		assert_int_equal(hrule_head_rewrite(h2, strlen(h2), drop, NULL, &out, &len), 0);
		assert_int_equal(len, strlen(h2));
		assert_memory_equal(out, h2, len);
		free(out);
	}
}

static void test_cuts(void **state)
{
	struct hrule r = { .truncate = true, .truncate_pct = true, .truncate_keep_pct = 50 };
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(hrule_truncate_keep(&r, 1000), 500);
	assert_int_equal(hrule_truncate_keep(&r, 1), 0);
	r.truncate_keep_pct = 100;
	assert_int_equal(hrule_truncate_keep(&r, 1000), 999); /* always short of the whole */
	r.truncate_pct = false;
	r.truncate_keep_bytes = 100;
	assert_int_equal(hrule_truncate_keep(&r, 1000), 100);
	assert_int_equal(hrule_truncate_keep(&r, 50), 49);
	assert_int_equal(hrule_truncate_keep(&r, 0), 100); /* unknown length */
	assert_int_equal(hrule_malformed("{\"a\":[1,2,3]}", 13, &out, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(out, "{\"a\":[", 6);
	free(out);
	assert_int_equal(hrule_malformed("", 0, &out, &len), 0);
	assert_true(len > 0 && out[0] == '{' && out[len - 1] != '}');
	free(out);
}

static void test_rate_parse(void **state)
{
	struct duress_err err = { 0 };
	double r;

	(void)state;
	assert_int_equal(hrule_parse_rate("20/s", "--rate-limit", &r, &err), 0);
	assert_true(r == 20);
	assert_int_equal(hrule_parse_rate("120/m", "--rate-limit", &r, &err), 0);
	assert_true(r == 2);
	assert_int_equal(hrule_parse_rate("5", "--rate-limit", &r, &err), 0);
	assert_true(r == 5);
	assert_int_equal(hrule_parse_rate("0/s", "--rate-limit", &r, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "--rate-limit"));
	assert_int_equal(hrule_parse_rate("5/d", "--rate-limit", &r, &err), -1);
	assert_int_equal(hrule_parse_rate("x/s", "--rate-limit", &r, &err), -1);
}

static void test_hist(void **state)
{
	struct phist h = { 0 };

	(void)state;
	assert_true(phist_pct_ms(&h, 50) == 0);
	for (int i = 0; i < 99; i++)
		phist_add(&h, 200000); /* 200 ms */
	phist_add(&h, 2000000);	       /* one 2 s */
	assert_in_range((uint64_t)phist_pct_ms(&h, 50), 194, 206);
	assert_in_range((uint64_t)phist_pct_ms(&h, 99), 194, 206);
	assert_in_range((uint64_t)phist_pct_ms(&h, 100), 1940, 2000);
	{
		json_t *j = phist_json(&h);

		assert_int_equal(json_integer_value(json_object_get(j, "count")), 100);
		assert_true(json_real_value(json_object_get(j, "max")) == 2000.0);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),  cmocka_unit_test(test_rng),
		cmocka_unit_test(test_bucket), cmocka_unit_test(test_plan),
		cmocka_unit_test(test_synth),  cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_cuts),   cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_hist),
	};

	return cmocka_run_group_tests_name("httprule", tests, NULL, NULL);
}
