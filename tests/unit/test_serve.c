// SPDX-License-Identifier: MIT
/*
 * The HTTP API's pure parts (agent/serve/serve_api.c): routing (404, 405 and
 * Allow), the bearer token (constant-time compare, token file checks),
 * single-fault requests (400 for malformed JSON, 422 naming the field, the
 * fault's own option table and validate hook, the inject arguments made),
 * and the Prometheus text exposition (HELP/TYPE once per family, label
 * escaping, absent values left out, "max" as +Inf).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <duress/core/cgroup.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/probe.h>
#include <duress/serve/serve_api.h>
#include <duress/serve/serve_jobs.h>
#include <duress/serve/serve_listen.h>
#include <duress/serve/serve_prom.h>

/* ---- routing ---- */

static void test_routes(void **state)
{
	char id[SERVE_ID_MAX + 1];
	const char *allow;
	int st;

	(void)state;
	assert_int_equal(serve_route("GET", "/healthz", id, &st, &allow), ROUTE_HEALTHZ);
	assert_int_equal(st, 0);
	assert_int_equal(serve_route("GET", "/metrics", id, &st, &allow), ROUTE_METRICS);
	assert_int_equal(serve_route("GET", "/v1/targets", id, &st, &allow), ROUTE_TARGETS);
	assert_int_equal(serve_route("GET", "/v1/samples", id, &st, &allow), ROUTE_SAMPLES);
	assert_int_equal(serve_route("POST", "/v1/faults", id, &st, &allow), ROUTE_FAULTS);
	assert_int_equal(st, 0);
	assert_int_equal(serve_route("GET", "/v1/faults/", id, &st, &allow), ROUTE_FAULTS);
	assert_int_equal(serve_route("DELETE", "/v1/faults/flt-12", id, &st, &allow), ROUTE_FAULT);
	assert_int_equal(st, 0);
	assert_string_equal(id, "flt-12");
	assert_int_equal(serve_route("GET", "/v1/experiments/exp-1", id, &st, &allow),
			 ROUTE_EXPERIMENT);
	assert_string_equal(id, "exp-1");
	assert_int_equal(serve_route("HEAD", "/metrics", id, &st, &allow), ROUTE_METRICS);
	assert_int_equal(st, 0);
	assert_int_equal(serve_route("GET", "/v1/version", id, &st, &allow), ROUTE_VERSION);
	assert_int_equal(st, 0);
	assert_int_equal(serve_route("POST", "/v1/version", id, &st, &allow), ROUTE_VERSION);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "GET");
	/* leases: POST ID/lease, the id checked as any other */
	assert_int_equal(serve_route("POST", "/v1/faults/flt-7/lease", id, &st, &allow),
			 ROUTE_FAULT_LEASE);
	assert_int_equal(st, 0);
	assert_string_equal(id, "flt-7");
	assert_int_equal(serve_route("POST", "/v1/experiments/x-1/lease", id, &st, &allow),
			 ROUTE_EXPERIMENT_LEASE);
	assert_string_equal(id, "x-1");
	assert_int_equal(serve_route("GET", "/v1/faults/flt-7/lease", id, &st, &allow),
			 ROUTE_FAULT_LEASE);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "POST");
	assert_int_equal(serve_route("POST", "/v1/faults/flt-7/leases", id, &st, &allow),
			 ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/flt-7/lease/", id, &st, &allow),
			 ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults//lease", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/a.b/lease", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/../lease", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/lease",
				     id, &st, &allow),
			 ROUTE_NONE); /* 33 characters */
	assert_int_equal(serve_route("POST", "/v1/targets/x/lease", id, &st, &allow), ROUTE_NONE);
	/* an experiment's report: GET ID/report; not of a fault */
	assert_int_equal(serve_route("GET", "/v1/experiments/x-1/report", id, &st, &allow),
			 ROUTE_EXPERIMENT_REPORT);
	assert_int_equal(st, 0);
	assert_string_equal(id, "x-1");
	assert_int_equal(serve_route("POST", "/v1/experiments/x-1/report", id, &st, &allow),
			 ROUTE_EXPERIMENT_REPORT);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "GET");
	assert_int_equal(serve_route("GET", "/v1/faults/flt-7/report", id, &st, &allow),
			 ROUTE_NONE);
	assert_int_equal(serve_route("GET", "/v1/experiments/../report", id, &st, &allow),
			 ROUTE_NONE);
	assert_int_equal(serve_route("GET", "/v1/experiments/x-1/reports", id, &st, &allow),
			 ROUTE_NONE);
}

/* GET /v1/version: the release the Makefile passes (VERSION), the API
 * version, a list of features; one JSON object and a newline */
static void test_version(void **state)
{
	char *s = serve_version_json();
	json_error_t je;
	json_t *o;

	(void)state;
	assert_non_null(s);
	assert_int_equal(s[strlen(s) - 1], '\n');
	o = json_loads(s, 0, &je);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "version")), DURESS_VERSION);
	assert_int_equal(json_integer_value(json_object_get(o, "api")), SERVE_API_VERSION);
	assert_true(json_is_array(json_object_get(o, "features")));
	json_decref(o);
	free(s);
}

static void test_routes_404_405(void **state)
{
	char id[SERVE_ID_MAX + 1];
	const char *allow;
	int st;

	(void)state;
	assert_int_equal(serve_route("GET", "/", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(st, 404);
	assert_int_equal(serve_route("GET", "/v1/faultsx", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("GET", "/v1/faults/a/b", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("GET", "/v1/faults/../x", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("GET", "/v1/targets/x", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("GET", "/v1/faults/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", id, &st,
				     &allow),
			 ROUTE_NONE); /* 33 characters */
	assert_int_equal(serve_route("PUT", "/v1/faults", id, &st, &allow), ROUTE_FAULTS);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "GET, POST");
	assert_int_equal(serve_route("POST", "/v1/faults/x", id, &st, &allow), ROUTE_FAULT);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "GET, DELETE");
	assert_int_equal(serve_route("DELETE", "/metrics", id, &st, &allow), ROUTE_METRICS);
	assert_int_equal(st, 405);
	assert_string_equal(allow, "GET");
	/* a method that is a prefix of an allowed one is not allowed */
	assert_int_equal(serve_route("GE", "/metrics", id, &st, &allow), ROUTE_METRICS);
	assert_int_equal(st, 405);
	assert_int_equal(serve_route("POS", "/v1/faults", id, &st, &allow), ROUTE_FAULTS);
	assert_int_equal(st, 405);
}

/* ---- auth ---- */

static void test_auth(void **state)
{
	const char *tok = "0123456789abcdefXYZ";

	(void)state;
	assert_true(serve_auth_ok("Bearer 0123456789abcdefXYZ", tok));
	assert_true(serve_auth_ok("bearer 0123456789abcdefXYZ", tok));
	assert_false(serve_auth_ok(NULL, tok));
	assert_false(serve_auth_ok("", tok));
	assert_false(serve_auth_ok("Bearer ", tok));
	assert_false(serve_auth_ok("Bearer 0123456789abcdefXY", tok));	 /* a prefix */
	assert_false(serve_auth_ok("Bearer 0123456789abcdefXYZZ", tok)); /* longer */
	assert_false(serve_auth_ok("Bearer 0123456789abcdefXYz", tok));
	assert_false(serve_auth_ok("Basic 0123456789abcdefXYZ", tok));
	assert_false(serve_auth_ok("0123456789abcdefXYZ", tok));
	assert_false(serve_auth_ok("Bearer x", ""));
	assert_true(serve_secret_equal("abc", 3, "abc", 3));
	assert_false(serve_secret_equal("abc", 3, "abd", 3));
	assert_false(serve_secret_equal("abc", 3, "abc\0", 4));
	assert_false(serve_secret_equal("", 0, "a", 1));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_token_file(void **state)
{
	char dir[] = "/tmp/duress-serve-XXXXXX", path[64], tok[128];
	struct duress_err err = { 0 };
	const char *good = "3f9c1a7be04d5e6f8a2b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b";

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	snprintf(tok, sizeof(tok), "  %s  \nsecond line\n", good);
	write_file(path, tok, 0600);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, good);
	snprintf(tok, sizeof(tok), "%s\n", good);
	write_file(path, tok, 0640);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "chmod 600"));
	write_file(path, "\n", 0600);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "no token"));
	write_file(path, "with a space in it 0123456789\n", 0600);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "printable"));
	unlink(path);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "cannot open"));
	rmdir(dir);
}

/* Issue 12, item 13: the token of an example (the sidecar's was
 * "change-me-to-a-long-random-string") or one with less than 32 bytes of
 * entropy is refused; what openssl rand makes is taken. */
static void test_token_placeholder_and_weak_refused(void **state)
{
	char dir[] = "/tmp/duress-serve-XXXXXX", path[64], tok[256];
	struct duress_err err = { 0 };
	static const char *const weak[] = {
		"0123456789abcdef",				   /* 16 hex: 64 bits */
		"5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ff", /* 48 hex: 192 bits */
		"abababababababababababababababababababababababababababababababababab",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
		"2b0e6d5c-8a1f-4e3b-9c7d-1a2b3c4d5e6f", /* a uuid: 122 bits */
	};
	static const char *const placeholders[] = {
		"change-me-to-a-long-random-string",
		"CHANGEME-9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766554433221100",
		"replace-me-Xq3vT8bN2mK7pL9sW4eR6yU1iO5aZ0cV",
		"example-token-4d7f9a2c1e8b3f6a0d5c7e9b2a4f6c8e1d3b5a7c9e0f2a4c6e8b",
	};
	static const char *const good[] = {
		"3f9c1a7be04d5e6f8a2b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b", /* -hex 32 */
		"q0cQ8mZ1vH3kP9tYbXn4Lr7Ws2Fd6Gj5Ae8Uo1Ki3Mz=",			    /* -base64 32 */
	};

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		snprintf(tok, sizeof(tok), "%s\n", weak[i]);
		write_file(path, tok, 0600);
		if (serve_read_token(path, tok, sizeof(tok), &err) != -1 ||
		    !strstr(err.msg, "bits"))
			fail_msg("%s: taken (%s)", weak[i], err.msg);
		assert_int_equal(err.code, DURESS_EXIT_USAGE);
	}
	for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++) {
		snprintf(tok, sizeof(tok), "%s\n", placeholders[i]);
		write_file(path, tok, 0600);
		if (serve_read_token(path, tok, sizeof(tok), &err) != -1 ||
		    !strstr(err.msg, "placeholder"))
			fail_msg("%s: taken (%s)", placeholders[i], err.msg);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(tok, sizeof(tok), "%s\n", good[i]);
		write_file(path, tok, 0600);
		if (serve_read_token(path, tok, sizeof(tok), &err) != 0)
			fail_msg("%s: refused: %s (%.0f bits)", good[i], err.msg,
				 serve_token_bits(good[i]));
		assert_string_equal(tok, good[i]);
	}
	unlink(path);
	rmdir(dir);
}

/* ---- POST /v1/faults ---- */

static int parse(const char *body, struct fault *f, struct serve_fault_req *r,
		 struct serve_error *e)
{
	memset(e, 0, sizeof(*e));
	return serve_fault_parse(body, strlen(body), f, r, e);
}

static void bad(const char *body, int status, const char *field, const char *needle)
{
	struct serve_fault_req r;
	struct serve_error e;
	struct fault f;

	if (parse(body, &f, &r, &e) == 0) {
		fault_free(&f);
		serve_fault_req_free(&r);
		fail_msg("accepted: %s", body);
	}
	if (e.status != status || strcmp(e.field, field) || !strstr(e.reason, needle))
		fail_msg("%s: got %d field '%s' reason '%s'; want %d '%s' '%s'", body, e.status,
			 e.field, e.reason, status, field, needle);
}

static void test_fault_bad(void **state)
{
	(void)state;
	bad("{\"fault\":\"memory\"", 400, "body", "malformed JSON");
	bad("[1,2]", 400, "body", "expected a JSON object");
	bad("{\"fault\":\"memory\",\"fault\":\"cpu\"}", 400, "body", "duplicate");
	bad("{\"fault\":\"nosuch\",\"target\":\"cgroup:/x\",\"duration\":\"1s\"}", 422, "fault",
	    "unknown fault");
	bad("{\"target\":\"cgroup:/x\",\"duration\":\"1s\"}", 422, "fault", "required");
	bad("{\"fault\":\"memory\",\"duration\":\"1s\",\"options\":{\"max\":\"64M\"}}", 422,
	    "target", "required");
	bad("{\"fault\":\"memory\",\"target\":\"bogus:1\",\"duration\":\"1s\"}", 422, "target",
	    "bogus");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"options\":{\"max\":\"64M\"}}", 422,
	    "duration", "required");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"5parsecs\"}", 422,
	    "duration", "duration");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"10ms\"}", 422,
	    "duration", "at least 100ms");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":30}", 422, "duration",
	    "duration string");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\",\"color\":1}", 422,
	    "color", "unknown field");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\",\"options\":[]}",
	    422, "options", "expected an object");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
	    "\"options\":{\"maxx\":\"64M\"}}",
	    422, "options.maxx", "unknown option of the memory fault");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
	    "\"options\":{\"max\":\"64Q\"}}",
	    422, "options.max", "options.max");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
	    "\"options\":{\"max\":{}}}",
	    422, "options.max", "expected a string or a number");
	/* the validate hook: memory needs one of its limits */
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\"}", 422, "options",
	    "at least one of");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
	    "\"options\":{\"max\":\"64M\",\"hog-once\":\"yes\"}}",
	    422, "options.hog-once", "true or false");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
	    "\"options\":{\"max\":\"64M\",\"hog-once\":true}}",
	    422, "options", "only applies with --hog");
	bad("{\"fault\":\"network\",\"target\":\"pid:1\",\"duration\":\"1s\","
	    "\"options\":{\"loss\":\"120%\"}}",
	    422, "options.loss", "options.loss");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\",\"force\":1,"
	    "\"options\":{\"max\":\"64M\"}}",
	    422, "force", "true or false");
	bad("{\"id\":\"a/b\",\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
	    "\"options\":{\"max\":\"64M\"}}",
	    422, "id", "letters");
	/* leases: a duration string from 1s to 1h */
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\",\"lease\":5,"
	    "\"options\":{\"max\":\"64M\"}}",
	    422, "lease", "duration string");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\",\"lease\":\"500ms\","
	    "\"options\":{\"max\":\"64M\"}}",
	    422, "lease", "from 1s to 1h");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\",\"lease\":\"2h\","
	    "\"options\":{\"max\":\"64M\"}}",
	    422, "lease", "from 1s to 1h");
	bad("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\",\"lease\":\"5x\","
	    "\"options\":{\"max\":\"64M\"}}",
	    422, "lease", "lease");
}

static void test_fault_good(void **state)
{
	struct serve_fault_req r;
	struct serve_error e;
	struct fault f;
	const char *want[] = { "inject", "memory",     "-t",  "cgroup:/x",  "--for",
			       "30s",	 "--interval", "1s",  "--baseline", "0s",
			       "-q",	 "--max",      "64M", "--hog",	    "16777216" };

	(void)state;
	assert_int_equal(
		parse("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"30s\","
		      "\"id\":\"ctk-1\",\"options\":{\"max\":\"64M\",\"hog\":16777216}}",
		      &f, &r, &e),
		0);
	assert_string_equal(r.id, "ctk-1");
	assert_int_equal(r.duration_us, 30000000);
	assert_int_equal(r.lease_us, 0);
	assert_int_equal(r.argc, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < r.argc; i++)
		assert_string_equal(r.argv[i], want[i]);
	assert_null(r.argv[r.argc]);
	assert_true(fault_opt(&f, "max")->set);
	assert_int_equal(fault_opt(&f, "max")->size.bytes, 64ULL << 20);
	fault_free(&f);
	serve_fault_req_free(&r);

	/* a lease: not an argument of the child, the server keeps it */
	assert_int_equal(
		parse("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"30s\","
		      "\"lease\":\"5s\",\"options\":{\"max\":\"64M\"}}",
		      &f, &r, &e),
		0);
	assert_int_equal(r.lease_us, 5000000);
	for (size_t i = 0; i < r.argc; i++)
		assert_null(strstr(r.argv[i], "lease"));
	fault_free(&f);
	serve_fault_req_free(&r);

	/* lists, flags, force */
	assert_int_equal(parse("{\"fault\":\"network\",\"target\":\"pid:1\",\"duration\":\"2s\","
			       "\"force\":true,\"options\":{\"delay\":\"100ms\","
			       "\"to\":[\"10.0.0.0/8\",\"fd00::/8\"],\"partition\":false}}",
			       &f, &r, &e),
			 0);
	assert_true(r.force);
	{
		size_t nto = 0;
		bool force = false;

		for (size_t i = 0; i < r.argc; i++) {
			nto += !strcmp(r.argv[i], "--to");
			force |= !strcmp(r.argv[i], "--force");
			assert_string_not_equal(r.argv[i], "--partition");
		}
		assert_int_equal(nto, 2);
		assert_true(force);
	}
	assert_int_equal(fault_opt(&f, "to")->nlist, 2);
	/* the fault's strings outlive the request's JSON */
	assert_string_equal(fault_opt(&f, "to")->list[1], "fd00::/8");
	assert_string_equal(fault_opt(&f, "delay")->s ? fault_opt(&f, "delay")->s : "100ms",
			    "100ms");
	fault_free(&f);
	serve_fault_req_free(&r);
}

/* Issue 12, item 10: what is checked is what runs.  A duration, an option
 * or a target longer than the buffer it is copied into is refused, never
 * checked whole and run cut ("000...0100ms" checked as 100 ms ran as 100
 * minutes); one that fits reaches the child's arguments byte for byte. */
static void test_validated_value_is_value_run(void **state)
{
	char body[8192], zeros[64], longopt[400], longtarget[5000];
	struct serve_fault_req r;
	struct serve_error e;
	struct fault f;
	bool seen = false;

	(void)state;
	memset(zeros, '0', 40);
	zeros[40] = '\0';
	snprintf(body, sizeof(body),
		 "{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"%s100ms\","
		 "\"options\":{\"max\":\"64M\"}}",
		 zeros);
	bad(body, 422, "duration", "too long");
	snprintf(body, sizeof(body),
		 "{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
		 "\"interval\":\"%s10ms\",\"options\":{\"max\":\"64M\"}}",
		 zeros);
	bad(body, 422, "interval", "too long");
	snprintf(body, sizeof(body),
		 "{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
		 "\"baseline\":\"%s1s\",\"options\":{\"max\":\"64M\"}}",
		 zeros);
	bad(body, 422, "baseline", "too long");
	memset(longopt, '0', 300);
	snprintf(longopt + 300, sizeof(longopt) - 300, "64M");
	snprintf(body, sizeof(body),
		 "{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"1s\","
		 "\"options\":{\"max\":\"%s\"}}",
		 longopt);
	bad(body, 422, "options.max", "too long");
	snprintf(body, sizeof(body),
		 "{\"fault\":\"network\",\"target\":\"pid:1\",\"duration\":\"1s\","
		 "\"options\":{\"delay\":\"1ms\",\"to\":[\"10.0.0.0/8\",\"%s\"]}}",
		 longopt);
	bad(body, 422, "options.to", "too long");
	memcpy(longtarget, "cgroup:/", 8);
	memset(longtarget + 8, 'a', sizeof(longtarget) - 9);
	longtarget[sizeof(longtarget) - 1] = '\0';
	snprintf(body, sizeof(body),
		 "{\"fault\":\"memory\",\"target\":\"%s\",\"duration\":\"1s\","
		 "\"options\":{\"max\":\"64M\"}}",
		 longtarget);
	bad(body, 422, "target", "too long");

	/* 31 bytes fit: passed on exactly as checked */
	assert_int_equal(parse("{\"fault\":\"memory\",\"target\":\"cgroup:/x\","
			       "\"duration\":\"0000000000000000000000000100ms\","
			       "\"options\":{\"max\":\"64M\"}}",
			       &f, &r, &e),
			 0);
	assert_int_equal(r.duration_us, 100000);
	for (size_t i = 0; i + 1 < r.argc; i++)
		if (!strcmp(r.argv[i], "--for")) {
			assert_string_equal(r.argv[i + 1], "0000000000000000000000000100ms");
			seen = true;
		}
	assert_true(seen);
	fault_free(&f);
	serve_fault_req_free(&r);
}

/* Issue 12, item 11: an id a client chose is never given again to a job
 * the server names itself (two jobs with one id). */
static void test_client_id_never_reused_as_automatic(void **state)
{
	char dir[] = "/tmp/duress-serve-ids.XXXXXX", sub[64], cmd[128];
	struct job_table tab = { 0 };
	struct serve_error e = { 0 };
	struct job *mine, *a, *b;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/serve", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	tab.state_dir = dir;
	tab.seq = 4;
	mine = job_new(&tab, false, "flt-5", &e);
	assert_non_null(mine);
	tab.jobs[tab.njobs++] = mine;
	mine = job_new(&tab, false, "flt-6", &e);
	assert_non_null(mine);
	tab.jobs[tab.njobs++] = mine;
	a = job_new(&tab, false, NULL, &e);
	assert_non_null(a);
	assert_string_equal(a->id, "flt-7");
	tab.jobs[tab.njobs++] = a;
	b = job_new(&tab, false, NULL, &e);
	assert_non_null(b);
	assert_string_equal(b->id, "flt-8");
	tab.jobs[tab.njobs++] = b;
	/* and a client cannot take an automatic one either */
	assert_null(job_new(&tab, true, "flt-7", &e));
	assert_int_equal(e.status, 409);
	for (size_t i = 0; i < tab.njobs; i++)
		job_discard(tab.jobs[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* Issue 12, item 14: a message cut by its buffer in the middle of a
 * UTF-8 character, or quoting bytes that are not UTF-8, still gives an
 * answer with its "error" (jansson refuses invalid UTF-8: the field was
 * lost). */
static void test_error_cut_on_character_boundary(void **state)
{
	char quoted[3 * DURESS_ERR_MSG_MAX], *text;
	struct serve_error e;
	json_t *o, *v;

	(void)state;
	/* 'é' is 2 bytes: the one the buffer cuts is dropped, whatever the
	 * prefix's length */
	for (size_t pre = 0; pre < 3; pre++) {
		size_t n = 0;

		for (; n < pre; n++)
			quoted[n] = 'x';
		while (n + 2 < sizeof(quoted)) {
			quoted[n++] = (char)0xc3;
			quoted[n++] = (char)0xa9;
		}
		quoted[n] = '\0';
		serve_error_set(&e, 422, "options.x", "options.x: '%s': bad", quoted);
		text = serve_error_json(&e);
		assert_non_null(text);
		o = json_loads(text, 0, NULL);
		assert_non_null(o);
		v = json_object_get(o, "error");
		assert_non_null(v);
		assert_true(json_string_length(v) > DURESS_ERR_MSG_MAX - 4);
		assert_int_equal(strncmp(json_string_value(v), "options.x: '", 12), 0);
		assert_int_equal(json_integer_value(json_object_get(o, "status")), 422);
		json_decref(o);
		free(text);
	}
	/* bytes that are no character: '?' in their place, the rest kept */
	serve_error_set(&e, 422, "\xff", "bad \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 %s",
			"ok \xe2\x82\xac");
	text = serve_error_json(&e);
	o = json_loads(text, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "error")),
			    "bad ?? ??? ???? ok \xe2\x82\xac");
	assert_string_equal(json_string_value(json_object_get(o, "field")), "?");
	json_decref(o);
	free(text);
	/* a log's tail that starts inside a character, a title cut by its buffer */
	v = serve_json_text("\xa9tail \xe2\x82");
	assert_non_null(v);
	assert_string_equal(json_string_value(v), "?tail ");
	json_decref(v);
}

static void put_file(const char *dir, const char *name, size_t bytes)
{
	char path[PATH_MAX + 64];
	char *buf = calloc(1, bytes + 1);
	FILE *f;

	assert_non_null(buf);
	memset(buf, 'x', bytes);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, bytes, f), bytes);
	fclose(f);
	free(buf);
}

static size_t entries(const char *dir)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

/* Issue 12, item 7: a job dropped from the table (256 kept, or the bytes
 * cap of the state directory) takes its directory with it; a link in it
 * is removed, not followed. */
static void test_evicted_job_directories_removed(void **state)
{
	char dir[] = "/tmp/duress-serve-evict.XXXXXX", sub[64], cmd[128], victim[128];
	char first[PATH_MAX + 64], path[PATH_MAX + 128];
	struct job_table tab = { 0 };
	struct serve_error e = { 0 };
	struct stat st;
	struct job *j;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/serve", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	put_file(dir, "victim", 10);
	tab.state_dir = dir;
	/* 256 finished jobs: the 257th drops the oldest, directory and all */
	for (int i = 0; i < SERVE_MAX_JOBS; i++) {
		j = job_new(&tab, i % 2, NULL, &e);
		assert_non_null(j);
		put_file(j->dir, "log", 100);
		j->state = JOB_EXITED;
		j->bytes = job_dir_bytes(j);
		tab.jobs[tab.njobs++] = j;
	}
	snprintf(first, sizeof(first), "%s", tab.jobs[0]->dir);
	snprintf(path, sizeof(path), "%s/link", first);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(entries(sub), SERVE_MAX_JOBS);
	j = job_new(&tab, false, NULL, &e);
	assert_non_null(j);
	assert_int_equal(tab.njobs, SERVE_MAX_JOBS - 1);
	assert_int_equal(stat(first, &st), -1);
	assert_int_equal(stat(victim, &st), 0); /* the link went, not what it named */
	job_discard(j);
	assert_int_equal(entries(sub), SERVE_MAX_JOBS - 1);

	/* the bytes cap: the oldest finished go until the rest fit; the newest
	 * stays */
	tab.bytes_max = 64 * 1024;
	put_file(tab.jobs[tab.njobs - 1]->dir, "journal.json", 200 * 1024);
	tab.jobs[tab.njobs - 1]->bytes = job_dir_bytes(tab.jobs[tab.njobs - 1]);
	jobs_trim(&tab);
	assert_int_equal(tab.njobs, 1);
	assert_int_equal(entries(sub), 1);
	tab.bytes_max = 0;
	for (int i = 0; i < 10; i++) {
		j = job_new(&tab, false, NULL, &e);
		put_file(j->dir, "summary.json", 4096);
		j->state = JOB_EXITED;
		j->bytes = job_dir_bytes(j);
		tab.jobs[tab.njobs++] = j;
	}
	jobs_trim(&tab); /* under the default cap: nothing goes */
	assert_int_equal(tab.njobs, 11);
	for (size_t i = 0; i < tab.njobs; i++)
		job_discard(tab.jobs[i]);
	assert_int_equal(entries(sub), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A one-line HTTP server on 127.0.0.1 (a child): its port. */
static int tiny_server(pid_t *pid)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		static const char answer[] = "HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\n"
					     "{\"secret\":\"s1\"}";
		for (;;) {
			int c = accept(fd, NULL, NULL);
			char buf[1024];

			if (c < 0)
				_exit(0);
			if (read(c, buf, sizeof(buf)) < 0 || write(c, answer, strlen(answer)) < 0)
				(void)0;
			close(c);
		}
	}
	close(fd);
	return ntohs(sa.sin_port);
}

static void probe_url(const char *url, struct probe_result *r)
{
	struct probe p = { .type = PROBE_HTTP,
			   .timeout_us = 2000000,
			   .method = "GET",
			   .url = url,
			   .json_pointer = "/secret" };
	struct probe_ctx ctx = { 0 };

	p.json_value = json_string("s2");
	memset(r, 0, sizeof(*r));
	probe_run(&p, &ctx, r);
	json_decref(p.json_value);
}

/* Issue 12, item 9: the http probes of a job started over the API reach no
 * loopback, link-local or metadata address (checked on the address
 * resolved: "localhost" and ::ffff:127.0.0.1 too) unless the operator
 * allowed it, and its client is shown no body. */
static void test_api_probes_guarded(void **state)
{
	struct probe_net_guard g = { .on = true };
	struct duress_err err = { 0 };
	struct probe_result r;
	char url[128];
	json_t *journal;
	pid_t pid;
	int port;

	(void)state;
	assert_int_equal(probe_global_init(&err), 0);
	port = tiny_server(&pid);
	probe_net_guard_set(&g);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	probe_url(url, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.reason, "127.0.0.1: a loopback, link-local or metadata address"));
	probe_result_free(&r);
	snprintf(url, sizeof(url), "http://localhost:%d/", port);
	probe_url(url, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.reason, "refused for a job started over the API"));
	probe_result_free(&r);
	snprintf(url, sizeof(url), "http://[::ffff:127.0.0.1]:%d/", port);
	probe_url(url, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.reason, "refused for a job started over the API"));
	probe_result_free(&r);
	probe_url("http://169.254.169.254/latest/meta-data/", &r);
	assert_non_null(strstr(r.reason, "169.254.169.254: a loopback, link-local"));
	probe_result_free(&r);
	{
		static const struct {
			int family;
			const char *addr;
			bool refused;
		} cases[] = {
			{ AF_INET, "127.1.2.3", true },
			{ AF_INET, "0.0.0.0", true },
			{ AF_INET, "169.254.1.1", true },
			{ AF_INET, "100.100.100.200", true },
			{ AF_INET, "10.0.0.1", false },
			{ AF_INET, "100.100.100.201", false },
			{ AF_INET6, "::1", true },
			{ AF_INET6, "fe80::1", true },
			{ AF_INET6, "fd00:ec2::254", true },
			{ AF_INET6, "::ffff:169.254.169.254", true },
			{ AF_INET6, "2001:db8::1", false },
			{ AF_INET6, "fd00::1", false },
		};
		unsigned char a[16];

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			assert_int_equal(inet_pton(cases[i].family, cases[i].addr, a), 1);
			if (probe_net_refused(&g, cases[i].family, a) != cases[i].refused)
				fail_msg("%s: refused should be %d", cases[i].addr,
					 cases[i].refused);
		}
	}

	/* allowed by the operator: fetched; the value is not echoed */
	assert_int_equal(ns_parse_cidr("127.0.0.0/8", "t", &g.allow[0], &err), 0);
	g.nallow = 1;
	probe_net_guard_set(&g);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	probe_url(url, &r);
	assert_string_equal(json_string_value(json_object_get(r.output, "body")),
			    "{\"secret\":\"s1\"}");
	assert_non_null(strstr(r.reason, "(withheld)"));
	assert_null(strstr(r.reason, "s1"));
	/* and the journal the API shows has no body */
	journal = json_pack("{s:[{s:O}]}", "run", "output", r.output);
	serve_withhold_bodies(journal);
	assert_true(json_is_null(json_object_get(
		json_object_get(json_array_get(json_object_get(journal, "run"), 0), "output"),
		"body")));
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_array_get(json_object_get(journal, "run"), 0),
						 "output"),
				 "status")),
			 200);
	json_decref(journal);
	probe_result_free(&r);

	g = (struct probe_net_guard){ 0 };
	probe_net_guard_set(&g);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	probe_global_cleanup();
}

/* Issue 12, item 3: what a web page can send is refused: an Origin, a
 * Sec-Fetch-Site other than none, a form or text body, and on a loopback
 * listener a Host that is not the loopback (DNS rebinding). */
static void test_cross_site_requests_refused(void **state)
{
	struct serve_error e;

	(void)state;
	assert_int_equal(serve_cross_site_check("POST", "https://evil.example", NULL, "text/plain",
						"127.0.0.1:9100", true, &e),
			 403);
	assert_string_equal(e.field, "Origin");
	assert_int_equal(serve_cross_site_check("GET", NULL, "cross-site", NULL, "localhost", true,
						&e),
			 403);
	assert_int_equal(serve_cross_site_check("GET", NULL, "same-site", NULL, NULL, false, &e),
			 403);
	assert_int_equal(serve_cross_site_check("POST", NULL, NULL, "text/plain;charset=utf-8",
						NULL, false, &e),
			 415);
	/* what curl -d sends: a form, refused as the rest */
	assert_int_equal(serve_cross_site_check("POST", NULL, NULL,
						"application/x-www-form-urlencoded", NULL, false,
						&e),
			 415);
	assert_non_null(strstr(e.reason, "application/json"));
	assert_int_equal(
		serve_cross_site_check("POST", NULL, NULL, "application/json", NULL, false, &e), 0);
	assert_int_equal(serve_cross_site_check("POST", NULL, NULL,
						"Application/YAML; charset=utf-8", NULL, false, &e),
			 0);
	assert_int_equal(serve_cross_site_check("POST", NULL, NULL, "application/jsonx", NULL,
						false, &e),
			 415);
	assert_int_equal(serve_cross_site_check("POST", NULL, NULL, "multipart/form-data; b=x",
						NULL, false, &e),
			 415);
	assert_int_equal(serve_cross_site_check("GET", NULL, NULL, NULL, "evil.example:9100", true,
						&e),
			 421);
	assert_int_equal(serve_cross_site_check("GET", NULL, NULL, NULL, "127.0.0.1.evil.example",
						true, &e),
			 421);
	/* what clients send */
	assert_int_equal(serve_cross_site_check("POST", NULL, "none", "application/json",
						"127.0.0.1:9100", true, &e),
			 0);
	assert_int_equal(
		serve_cross_site_check("POST", NULL, NULL, "text/yaml", "duress", false, &e), 0);
	assert_int_equal(serve_cross_site_check("GET", NULL, NULL, NULL, "evil.example", false, &e),
			 0); /* the unix socket: no browser reaches it */
	assert_true(serve_host_is_loopback("localhost:7070"));
	assert_true(serve_host_is_loopback("127.9.9.9"));
	assert_true(serve_host_is_loopback("[::1]:9100"));
	assert_true(serve_host_is_loopback("[::1]"));
	assert_false(serve_host_is_loopback("[::1]x"));
	assert_false(serve_host_is_loopback("10.0.0.1:9100"));
	assert_false(serve_host_is_loopback("localhost.evil.example"));
	assert_false(serve_host_is_loopback(""));
}

/* ---- Prometheus ---- */

static char *capture(void (*fn)(FILE *, const void *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, arg);
	fclose(f);
	return buf;
}

static void escape_cb(FILE *f, const void *arg)
{
	prom_escape_label(f, arg);
}

static void test_prom_escape(void **state)
{
	char *s = capture(escape_cb, "a\"b\\c\nd");

	(void)state;
	assert_string_equal(s, "a\\\"b\\\\c\\nd");
	free(s);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

struct two {
	struct prom_target v[2];
};

static void targets_cb(FILE *f, const void *arg)
{
	const struct two *t = arg;

	prom_targets(f, t->v, 2);
}

static void test_prom_targets(void **state)
{
	struct sample a = { 0 }, b = { 0 };
	struct two t = { .v = { { "/sys/fs/cgroup/a", &a }, { "/sys/fs/cgroup/q\"uote", &b } } };
	char *s;

	(void)state;
	a.memory.current = (struct opt_u64){ true, 12345678 };
	a.memory.max = (struct opt_u64){ true, 64ULL << 20 };
	a.memory.ev_oom_kill = (struct opt_u64){ true, 2 };
	a.cpu.usage_usec = (struct opt_u64){ true, 1500000 };
	a.psi.memory_present = true;
	a.psi.memory.some = (struct psi_line){ true, 12.5, 0, 0, 3000000 };
	a.psi.memory.full = (struct psi_line){ true, 4.25, 0, 0, 1500000 };
	a.io.present = true;
	a.io.rbytes = 4096;
	a.io.wbytes = 8192;
	a.cpu.max_quota = (struct opt_u64){ true, 50000 };
	a.cpu.max_period = (struct opt_u64){ true, 100000 };
	b.memory.current = (struct opt_u64){ true, 1000 };
	b.memory.max = (struct opt_u64){ true, CG_MAX };
	b.cpu.max_quota = (struct opt_u64){ true, CG_MAX };
	b.cpu.max_period = (struct opt_u64){ true, 100000 };
	b.net.present = true;
	b.net.rx_bytes = 77;
	b.net.tx_bytes = 88;
	b.net.rx_drops = 5;
	s = capture(targets_cb, &t);
	assert_int_equal(count(s, "# HELP duress_target_memory_current_bytes "), 1);
	assert_int_equal(count(s, "# TYPE duress_target_memory_current_bytes gauge\n"), 1);
	assert_non_null(strstr(s, "duress_target_memory_current_bytes{target=\"/sys/fs/cgroup/a\"} "
				  "12345678\n"));
	assert_non_null(strstr(s, "duress_target_memory_current_bytes{target=\"/sys/fs/cgroup/"
				  "q\\\"uote\"} 1000\n"));
	assert_non_null(strstr(s, "duress_target_memory_max_bytes{target=\"/sys/fs/cgroup/a\"} "
				  "67108864\n"));
	assert_non_null(strstr(s, "duress_target_memory_max_bytes{target=\"/sys/fs/cgroup/q\\\"uote"
				  "\"} +Inf\n"));
	assert_non_null(strstr(s,
			       "# TYPE duress_target_oom_kills_total counter\n"
			       "duress_target_oom_kills_total{target=\"/sys/fs/cgroup/a\"} 2\n"));
	assert_non_null(strstr(s, "duress_target_cpu_usage_seconds_total{target=\"/sys/fs/cgroup/"
				  "a\"} 1.5\n"));
	assert_non_null(strstr(s, "duress_target_pressure_some_avg10{target=\"/sys/fs/cgroup/a\","
				  "resource=\"memory\"} 12.5\n"));
	assert_non_null(strstr(s, "duress_target_pressure_some_seconds_total{target=\"/sys/fs/"
				  "cgroup/a\",resource=\"memory\"} 3\n"));
	assert_non_null(strstr(s, "duress_target_pressure_full_avg10{target=\"/sys/fs/cgroup/a\","
				  "resource=\"memory\"} 4.25\n"));
	assert_non_null(strstr(s, "duress_target_pressure_full_seconds_total{target=\"/sys/fs/"
				  "cgroup/a\",resource=\"memory\"} 1.5\n"));
	assert_non_null(strstr(s, "duress_target_io_bytes_total{target=\"/sys/fs/cgroup/a\","
				  "direction=\"read\"} 4096\n"));
	assert_non_null(strstr(s, "duress_target_io_bytes_total{target=\"/sys/fs/cgroup/a\","
				  "direction=\"write\"} 8192\n"));
	assert_non_null(strstr(s, "duress_target_network_drops_total{target=\"/sys/fs/cgroup/"
				  "q\\\"uote\",direction=\"receive\"} 5\n"));
	assert_non_null(strstr(s, "duress_target_network_bytes_total{target=\"/sys/fs/cgroup/"
				  "q\\\"uote\",direction=\"transmit\"} 88\n"));
	assert_non_null(strstr(s, "duress_target_cpu_max_cpus{target=\"/sys/fs/cgroup/a\"} 0.5\n"));
	assert_non_null(strstr(s, "duress_target_cpu_max_cpus{target=\"/sys/fs/cgroup/q\\\"uote\"} "
				  "+Inf\n"));
	/* absent is not zero: no cpu percent, no pids, no cpu pressure lines */
	assert_null(strstr(s, "duress_target_cpu_usage_percent"));
	assert_null(strstr(s, "duress_target_pids_current"));
	assert_null(strstr(s, "resource=\"cpu\""));
	/* every sample line belongs to a family declared just before */
	assert_int_equal(count(s, "# HELP "), count(s, "# TYPE "));
	free(s);
}

static void agent_cb(FILE *f, const void *arg)
{
	const struct prom_agent *a = arg;
	const struct prom_fault fv[] = { { "flt-1", "network", "/sys/fs/cgroup/x", "fault" } };

	prom_agent(f, a, fv, 1);
}

static void test_prom_agent(void **state)
{
	struct prom_agent a = { .faults_active = 1,
				.faults_started = 3,
				.reverts_ok = 2,
				.revert_failures = 0,
				.sample_cost_last_s = 0.00025 };
	char *s = capture(agent_cb, &a);

	(void)state;
	assert_non_null(strstr(s, "# TYPE duress_faults_active gauge\nduress_faults_active 1\n"));
	assert_non_null(strstr(s, "# TYPE duress_faults_started_total counter\n"
				  "duress_faults_started_total 3\n"));
	assert_non_null(strstr(s, "duress_reverts_ok_total 2\n"));
	assert_non_null(strstr(s, "duress_revert_failures_total 0\n"));
	assert_non_null(strstr(s, "duress_sample_cost_seconds 0.00025"));
	assert_non_null(strstr(s,
			       "duress_fault_active{id=\"flt-1\",kind=\"fault\",fault=\"network\","
			       "target=\"/sys/fs/cgroup/x\"} 1\n"));
	free(s);
}

static void probes_cb(FILE *f, const void *arg)
{
	prom_probes(f, arg, 1);
}

/* The probe latency histogram: cumulative buckets in seconds, +Inf equal
 * to _count, _sum in seconds, labels escaped. */
static void test_prom_probes(void **state)
{
	struct prom_hist h = { .probe = "say \"hi\"" };
	struct prom_probe p = { "exp-1", "a\nb", &h };
	char *s;

	(void)state;
	prom_hist_observe(&h, 0.004);
	prom_hist_observe(&h, 0.2);
	prom_hist_observe(&h, 30);
	prom_hist_observe(&h, -1);  /* ignored */
	prom_hist_observe(&h, NAN); /* ignored */
	s = capture(probes_cb, &p);
	assert_non_null(strstr(s, "# TYPE duress_probe_duration_seconds histogram\n"));
#define L "{id=\"exp-1\",experiment=\"a\\nb\",probe=\"say \\\"hi\\\"\""
	assert_non_null(strstr(s, "duress_probe_duration_seconds_bucket" L ",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(s, "duress_probe_duration_seconds_bucket" L ",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(s, "duress_probe_duration_seconds_bucket" L ",le=\"0.25\"} 2\n"));
	assert_non_null(strstr(s, "duress_probe_duration_seconds_bucket" L ",le=\"10\"} 2\n"));
	assert_non_null(strstr(s, "duress_probe_duration_seconds_bucket" L ",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(s, "duress_probe_duration_seconds_count" L "} 3\n"));
	assert_non_null(strstr(s, "duress_probe_duration_seconds_sum" L "} 30.204"));
#undef L
	assert_int_equal(count(s, "_bucket{"), PROM_PROBE_NB + 1);
	free(s);
}

static void test_target_matches(void **state)
{
	(void)state;
	assert_true(serve_target_matches("cgroup:/x", "cgroup:/x", "/sys/fs/cgroup/x", "/x"));
	assert_true(serve_target_matches("/sys/fs/cgroup/x", "pid:5", "/sys/fs/cgroup/x", "/x"));
	assert_true(
		serve_target_matches("cgroup:/sys/fs/cgroup/x", "pid:5", "/sys/fs/cgroup/x", "/x"));
	assert_true(serve_target_matches("/x", "pid:5", "/sys/fs/cgroup/x", "/x"));
	assert_false(serve_target_matches("/y", "pid:5", "/sys/fs/cgroup/x", "/x"));
	assert_false(serve_target_matches("", "", "/sys/fs/cgroup/x", "/x"));
}

/* ---- listeners: the address parser and the unix socket ---- */

static void test_listen_tcp_parse(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	static const char *const bad[] = {
		"127.0.0.1",	 "127.0.0.1:", "127.0.0.1:0",  "127.0.0.1:65536",
		"127.0.0.1:80x", ":80",	       "localhost:80", "[::1:80",
		"::1:80",	 "[]:80",      "1.2.3.4.5:80", "[127.0.0.1]:80",
	};
	char ip[64];

	(void)state;
	assert_int_equal(listen_parse_tcp("127.0.0.1:9100", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9100);
	assert_true(listen_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(listen_parse_tcp("127.8.9.10:1", &ss, &len), 0);
	assert_true(listen_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(listen_parse_tcp("10.0.0.5:65535", &ss, &len), 0);
	assert_false(listen_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(listen_parse_tcp("[::1]:8080", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_true(listen_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(listen_parse_tcp("[fd00::5]:80", &ss, &len), 0);
	assert_false(listen_is_loopback((struct sockaddr *)&ss));
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
	assert_string_equal(ip, "fd00::5");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (listen_parse_tcp(bad[i], &ss, &len) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	}
}

static void test_listen_unix(void **state)
{
	char dir[] = "/tmp/duress-serve-test.XXXXXX", path[128], notsock[160];
	struct duress_err err = { 0 };
	struct stat st;
	int fd, fd2;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/api.sock", dir);
	fd = listen_unix(path, &err);
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(notsock, sizeof(notsock), "%s/sub", dir);
	assert_int_equal(stat(notsock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* a live server there: refused */
	assert_true(listen_unix(path, &err) < 0);
	assert_int_equal(err.code, DURESS_EXIT_REFUSED);
	assert_non_null(strstr(err.msg, "another server"));
	/* its server gone: the stale socket is taken over */
	close(fd);
	fd2 = listen_unix(path, &err);
	assert_true(fd2 >= 0);
	close(fd2);
	unlink(path);
	/* a file that is not a socket is never removed */
	snprintf(notsock, sizeof(notsock), "%s/plain", dir);
	close(open(notsock, O_CREAT | O_WRONLY, 0600));
	assert_true(listen_unix(notsock, &err) < 0);
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(stat(notsock, &st), 0);
	unlink(notsock);
	/* relative paths are usage errors */
	assert_true(listen_unix("api.sock", &err) < 0);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	snprintf(notsock, sizeof(notsock), "%s/sub", dir);
	rmdir(notsock);
	rmdir(dir);
}

/* Issue 12, item 15: the socket is 0600 from its bind (whatever the umask
 * the agent was started with), and the path is never followed: a symlink
 * planted there is refused and what it points to keeps its mode. */
static void test_listen_unix_never_follows_symlinks(void **state)
{
	char dir[] = "/tmp/duress-serve-link.XXXXXX", path[128], victim[128];
	struct duress_err err = { 0 };
	struct stat st;
	mode_t old;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	old = umask(0);
	fd = listen_unix(path, &err);
	umask(old);
	assert_true(fd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	close(fd);
	unlink(path);
	close(open(victim, O_CREAT | O_WRONLY, 0644));
	assert_int_equal(chmod(victim, 0644), 0);
	assert_int_equal(symlink(victim, path), 0);
	assert_true(listen_unix(path, &err) < 0);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	unlink(path);
	unlink(victim);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_routes_404_405),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_token_placeholder_and_weak_refused),
		cmocka_unit_test(test_fault_bad),
		cmocka_unit_test(test_fault_good),
		cmocka_unit_test(test_validated_value_is_value_run),
		cmocka_unit_test(test_client_id_never_reused_as_automatic),
		cmocka_unit_test(test_evicted_job_directories_removed),
		cmocka_unit_test(test_api_probes_guarded),
		cmocka_unit_test(test_cross_site_requests_refused),
		cmocka_unit_test(test_error_cut_on_character_boundary),
		cmocka_unit_test(test_prom_escape),
		cmocka_unit_test(test_prom_targets),
		cmocka_unit_test(test_prom_agent),
		cmocka_unit_test(test_prom_probes),
		cmocka_unit_test(test_target_matches),
		cmocka_unit_test(test_listen_tcp_parse),
		cmocka_unit_test(test_listen_unix),
		cmocka_unit_test(test_listen_unix_never_follows_symlinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
