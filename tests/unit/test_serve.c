// SPDX-License-Identifier: MIT
/*
 * The HTTP API's pure parts (agent/serve/serve_api.c): routing (404, 405 and
 * Allow), the bearer token (constant-time compare, token file checks),
 * single-fault requests (400 for malformed JSON, 422 naming the field, the
 * fault's own option table and validate hook, the inject arguments made),
 * and the Prometheus text exposition (HELP/TYPE once per family, label
 * escaping, absent values left out, "max" as +Inf).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <duress/core/cgroup.h>
#include <duress/core/exitcode.h>
#include <duress/serve/serve_api.h>
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
	assert_int_equal(serve_route("POST", "/v1/faults/flt-7/leases", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/flt-7/lease/", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults//lease", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/a.b/lease", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/../lease", id, &st, &allow), ROUTE_NONE);
	assert_int_equal(serve_route("POST", "/v1/faults/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/lease", id,
				     &st, &allow),
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
	assert_int_equal(serve_route("GET", "/v1/faults/flt-7/report", id, &st, &allow), ROUTE_NONE);
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
	assert_false(serve_auth_ok("Bearer 0123456789abcdefXY", tok));  /* a prefix */
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

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, "  s3cr3t-token-0123456789  \nsecond line\n", 0600);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "s3cr3t-token-0123456789");
	write_file(path, "s3cr3t-token-0123456789\n", 0640);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "chmod 600"));
	write_file(path, "short\n", 0600);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "at least 16"));
	write_file(path, "with a space in it 0123456789\n", 0600);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "printable"));
	unlink(path);
	assert_int_equal(serve_read_token(path, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "cannot open"));
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
	const char *want[] = { "inject",     "memory", "-t",	     "cgroup:/x", "--for",
			       "30s",	     "--interval", "1s",  "--baseline", "0s",
			       "-q",	     "--max",	   "64M", "--hog",	"16777216" };

	(void)state;
	assert_int_equal(parse("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"30s\","
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
	assert_int_equal(parse("{\"fault\":\"memory\",\"target\":\"cgroup:/x\",\"duration\":\"30s\","
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
	assert_non_null(strstr(s, "# TYPE duress_target_oom_kills_total counter\n"
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
	struct prom_agent a = { .faults_active = 1, .faults_started = 3, .reverts_ok = 2,
				.revert_failures = 0, .sample_cost_last_s = 0.00025 };
	char *s = capture(agent_cb, &a);

	(void)state;
	assert_non_null(strstr(s, "# TYPE duress_faults_active gauge\nduress_faults_active 1\n"));
	assert_non_null(strstr(s, "# TYPE duress_faults_started_total counter\n"
				  "duress_faults_started_total 3\n"));
	assert_non_null(strstr(s, "duress_reverts_ok_total 2\n"));
	assert_non_null(strstr(s, "duress_revert_failures_total 0\n"));
	assert_non_null(strstr(s, "duress_sample_cost_seconds 0.00025"));
	assert_non_null(strstr(s, "duress_fault_active{id=\"flt-1\",kind=\"fault\",fault=\"network\","
				  "target=\"/sys/fs/cgroup/x\"} 1\n"));
	free(s);
}

static void test_target_matches(void **state)
{
	(void)state;
	assert_true(serve_target_matches("cgroup:/x", "cgroup:/x", "/sys/fs/cgroup/x", "/x"));
	assert_true(serve_target_matches("/sys/fs/cgroup/x", "pid:5", "/sys/fs/cgroup/x", "/x"));
	assert_true(serve_target_matches("cgroup:/sys/fs/cgroup/x", "pid:5", "/sys/fs/cgroup/x",
					 "/x"));
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
		"127.0.0.1",	  "127.0.0.1:",	 "127.0.0.1:0",	   "127.0.0.1:65536",
		"127.0.0.1:80x", ":80",		 "localhost:80",   "[::1:80",
		"::1:80",	  "[]:80",	 "1.2.3.4.5:80",   "[127.0.0.1]:80",
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),	       cmocka_unit_test(test_routes_404_405),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_auth),	       cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_fault_bad),      cmocka_unit_test(test_fault_good),
		cmocka_unit_test(test_prom_escape),    cmocka_unit_test(test_prom_targets),
		cmocka_unit_test(test_prom_agent),     cmocka_unit_test(test_target_matches),
		cmocka_unit_test(test_listen_tcp_parse), cmocka_unit_test(test_listen_unix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
