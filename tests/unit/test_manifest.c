// SPDX-License-Identifier: MIT
/* Experiment manifests: loader, validator (positions of every problem),
 * ${name} substitution, Chaos Toolkit format, metric expressions, JSON
 * pointers. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <duress/experiment/journal.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/experiment.h>
#include <duress/experiment/manifest.h>
#include <duress/experiment/manifest_validate.h>
#include <duress/experiment/probe.h>

/* Load text; returns the number of diagnostics (sorted) in *d. */
static size_t load(const char *name, const char *text, struct experiment *x, struct mf_diags *d,
		   int *code)
{
	struct duress_err err = { 0 };
	FILE *null = fopen("/dev/null", "w");

	mf_diags_init(d, name);
	*code = manifest_load_text(name, text, strlen(text), x, d, &err) < 0 ? err.code : 0;
	mf_diags_print(d, null); /* sorts */
	fclose(null);
	return d->n;
}

/* Exactly one problem, at line:col, whose message contains `msg`. */
static void expect_one(const char *text, unsigned line, unsigned col, const char *msg)
{
	struct experiment x;
	struct mf_diags d;
	int code;

	load("m.yaml", text, &x, &d, &code);
	if (d.n != 1)
		fail_msg("%zu problems, wanted 1 at %u:%u (...%s...); first %u:%u: %s", d.n, line,
			 col, msg, d.n ? d.v[0].pos.line : 0, d.n ? d.v[0].pos.col : 0,
			 d.n ? d.v[0].msg : "");
	assert_int_equal(code, DURESS_EXIT_INVALID_MANIFEST);
	if (d.v[0].pos.line != line || d.v[0].pos.col != col || !strstr(d.v[0].msg, msg))
		fail_msg("got %u:%u: %s; wanted %u:%u: ...%s...", d.v[0].pos.line, d.v[0].pos.col,
			 d.v[0].msg, line, col, msg);
	manifest_free(&x);
	mf_diags_free(&d);
}

static void test_valid_own_format(void **state)
{
	static const char text[] = "name: ok\n"
				   "duration: 2s\n"
				   "probe_interval: 500ms\n"
				   "steady_state:\n"
				   "  probes:\n"
				   "    - name: alive\n"
				   "      type: metric\n"
				   "      check: pids.current >= 1\n"
				   "    - name: web\n"
				   "      type: http\n"
				   "      url: http://127.0.0.1:8080/\n"
				   "      status: [200, 300-399, 4xx]\n"
				   "      headers: {Accept: application/json}\n"
				   "method:\n"
				   "  - type: action\n"
				   "    name: cap\n"
				   "    provider: memory\n"
				   "    max: 64M\n"
				   "    background: true\n"
				   "  - type: pause\n"
				   "    duration: 1s\n"
				   "  - type: action\n"
				   "    name: slow\n"
				   "    provider: network\n"
				   "    delay: 100ms\n"
				   "    to: [10.0.0.1, 10.0.0.2]\n"
				   "    duration: 3s\n"
				   "abort:\n"
				   "  probe_failures: 2\n"
				   "  metrics: ['psi.memory.full_avg10 > 50']\n";
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	assert_int_equal(load("ok.yaml", text, &x, &d, &code), 0);
	assert_int_equal(code, 0);
	assert_false(x.ctk);
	assert_string_equal(x.title, "ok");
	assert_int_equal(x.nsteady, 2);
	assert_int_equal(x.steady[1].type, PROBE_HTTP);
	assert_int_equal(x.steady[1].nstatus, 3);
	assert_int_equal(x.steady[1].status[2].lo, 400);
	assert_int_equal(x.steady[1].status[2].hi, 499);
	assert_int_equal(x.steady[1].nheaders, 1);
	assert_string_equal(x.steady[1].headers[0], "Accept: application/json");
	assert_int_equal(x.nmethod, 3);
	assert_int_equal(x.method[0].type, ACT_FAULT);
	assert_true(x.method[0].background);
	assert_int_equal(x.method[0].duration_us, 2000000); /* the top-level default */
	assert_int_equal(x.method[1].type, ACT_PAUSE);
	assert_int_equal(x.method[2].nopts, 3); /* delay and two "to" */
	assert_int_equal(x.probe_interval_us, 500000);
	assert_int_equal(x.abort.probe_failures, 2);
	assert_int_equal(x.abort.nmetrics, 1);
	assert_int_equal(x.abort.metrics[0].op, METRIC_GT);
	manifest_free(&x);
	mf_diags_free(&d);
}

static void test_fault_built_through_table(void **state)
{
	static const char text[] = "name: ok\n"
				   "method:\n"
				   "  - type: action\n"
				   "    name: cap\n"
				   "    provider: memory\n"
				   "    max: 50%\n"
				   "    hog: 16M\n"
				   "    hog-once: true\n"
				   "    duration: 1s\n";
	struct experiment x;
	struct mf_diags d;
	struct duress_err err = { 0 };
	struct fault f;
	int code;

	(void)state;
	assert_int_equal(load("ok.yaml", text, &x, &d, &code), 0);
	assert_int_equal(manifest_fault_build(&x.method[0], &f, &err), 0);
	assert_true(fault_opt(&f, "max")->set);
	assert_true(fault_opt(&f, "max")->size.is_pct);
	assert_true(fault_opt(&f, "hog-once")->set);
	assert_int_equal(fault_opt(&f, "hog")->size.bytes, 16 << 20);
	assert_int_equal(f.duration_us, 1000000);
	fault_free(&f);
	manifest_free(&x);
	mf_diags_free(&d);
}

/* A dozen kinds of malformed manifests, each with its exact position. */
static void test_malformed(void **state)
{
	(void)state;
	/* 1. syntax: unclosed flow sequence */
	expect_one("name: x\nmethod: [\n", 3, 1, "syntax:");
	/* 2. tab indentation */
	expect_one("name: x\nmethod:\n\t- a\n", 3, 1, "syntax:");
	/* 3. unknown top-level key */
	expect_one("name: x\nmethod: []\nmethd: 1\n", 3, 1, "methd: unknown key in the experiment");
	/* 4. duplicate key */
	expect_one("name: x\nmethod: []\nname: y\n", 3, 1, "name: given twice (first at line 1");
	/* 5. wrong type: method is a map */
	expect_one("name: x\nmethod: {a: 1}\n", 2, 9, "method: expected a list, got a map");
	/* 6. missing required key */
	expect_one("description: x\nmethod: []\n", 1, 1, "name: required key missing");
	/* 7. unknown provider */
	expect_one("name: x\nmethod:\n  - type: action\n    name: a\n    provider: frob\n", 5, 15,
		   "provider: 'frob': unknown provider");
	/* 8. out-of-range fault option (through the fault's table) */
	expect_one("name: x\nmethod:\n  - type: action\n    name: a\n    provider: cpu\n"
		   "    duration: 1s\n    workers: 0\n",
		   7, 14, "workers: '0'");
	/* 9. an option of another fault */
	expect_one("name: x\nmethod:\n  - type: action\n    name: a\n    provider: freeze\n"
		   "    duration: 1s\n    max: 64M\n",
		   7, 5, "max: not an option of the freeze fault");
	/* 10. bad duration */
	expect_one("name: x\nmethod: []\nprobe_interval: soon\n", 3, 17, "probe_interval: 'soon'");
	/* 11. bad metric expression */
	expect_one("name: x\nmethod: []\nsteady_state:\n  probes:\n    - name: p\n"
		   "      type: metric\n      check: cpu.usage_pct ~ 3\n",
		   7, 14, "expected a comparison");
	/* 12. the fault's own validate(): jitter without delay */
	expect_one("name: x\nmethod:\n  - type: action\n    name: a\n    provider: network\n"
		   "    duration: 1s\n    loss: 1\n    jitter: 10ms\n",
		   5, 15, "--jitter needs --delay");
	/* 13. wrong type of a flag */
	expect_one("name: x\nmethod:\n  - type: action\n    name: a\n    provider: network\n"
		   "    duration: 1s\n    partition: maybe\n",
		   7, 16, "partition: expected true or false, got a string");
	/* 14. http probe without a url, status out of range */
	expect_one("name: x\nmethod: []\nsteady_state:\n  probes:\n    - name: p\n"
		   "      type: http\n      url: http://a/\n      status: 99\n",
		   8, 15, "status: 99: must be between 100 and 599");
	/* 15. unknown ${name} */
	expect_one("name: x\nmethod: []\ntarget: cgroup:${where}\n", 3, 9,
		   "${where}: no such key in configuration");
	/* 16. anchors and aliases refused */
	expect_one("name: x\nmethod: &m []\n", 2, 9, "anchors and aliases are not supported");
	/* 17. a fault in a rollback */
	expect_one("name: x\nmethod: []\nrollback:\n  - type: action\n    name: r\n"
		   "    provider: freeze\n",
		   6, 15, "a rollback cannot inject a fault");
	/* 18. probe_failures without probe_interval */
	expect_one("name: x\nmethod: []\nsteady_state:\n  probes:\n    - {name: p, type: metric, "
		   "check: pids.current > 0}\nabort:\n  probe_failures: 2\n",
		   6, 1, "probe_failures needs probe_interval");
}

static void test_all_at_once(void **state)
{
	static const char text[] = "name: x\n"
				   "frob: 1\n"
				   "duration: 5x\n"
				   "method:\n"
				   "  - type: action\n"
				   "    name: a\n"
				   "    provider: memory\n"
				   "    max: -1\n";
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	assert_int_equal(load("m.yaml", text, &x, &d, &code), 4);
	assert_int_equal(d.v[0].pos.line, 2);
	assert_int_equal(d.v[1].pos.line, 3);
	assert_int_equal(d.v[2].pos.line, 5); /* duration required (5x was refused) */
	assert_int_equal(d.v[3].pos.line, 8);
	manifest_free(&x);
	mf_diags_free(&d);
}

static void test_ctk_json(void **state)
{
	static const char text[] =
		"{\"title\": \"t\", \"description\": \"d\",\n"
		" \"configuration\": {\"url\": \"http://h:1\", \"n\": 3,\n"
		"   \"e\": {\"type\": \"env\", \"key\": \"DURESS_UNIT_NOPE\", \"default\": \"/x\"}},\n"
		" \"steady-state-hypothesis\": {\"title\": \"s\", \"probes\": [\n"
		"   {\"type\": \"probe\", \"name\": \"p\", \"tolerance\": {\"type\": \"range\", "
		"\"range\": [200, 204]},\n"
		"    \"provider\": {\"type\": \"http\", \"url\": \"${url}/a\", \"timeout\": \"${n}\"}},\n"
		"   {\"type\": \"probe\", \"name\": \"q\", \"tolerance\": 0,\n"
		"    \"provider\": {\"type\": \"process\", \"path\": \"/bin/ls\", \"arguments\": \"-l "
		"'${e} y'\"}}]},\n"
		" \"method\": [{\"ref\": \"p\"},\n"
		"   {\"type\": \"action\", \"name\": \"f\", \"pauses\": {\"after\": 2},\n"
		"    \"provider\": {\"type\": \"duress\", \"fault\": \"cpu\", \"duration\": \"1s\", "
		"\"arguments\": {\"workers\": 1}}}],\n"
		" \"rollbacks\": []}\n";
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	assert_int_equal(load("ctk.json", text, &x, &d, &code), 0);
	assert_true(x.ctk);
	assert_int_equal(x.nsteady, 2);
	assert_string_equal(x.steady[0].url, "http://h:1/a");
	assert_int_equal(x.steady[0].timeout_us, 3000000);
	/* the tolerance as written, evaluated as within_tolerance does */
	assert_true(x.steady[0].ctk);
	assert_string_equal(json_string_value(json_object_get(x.steady[0].tolerance, "type")),
			    "range");
	/* string arguments: one shell line "PATH ARGUMENTS" (process.py) */
	assert_string_equal(x.steady[1].path, "/bin/sh");
	assert_int_equal(x.steady[1].nargs, 2);
	assert_string_equal(x.steady[1].args[0], "-c");
	assert_string_equal(x.steady[1].args[1], "/bin/ls -l '/x y'");
	assert_int_equal(x.steady[1].timeout_us, 0); /* no default timeout */
	assert_int_equal(x.nmethod, 2);
	assert_int_equal(x.method[0].type, ACT_PROBE); /* the ref */
	assert_int_equal(x.method[1].type, ACT_FAULT);
	assert_int_equal(x.method[1].pause_after_us, 2000000);
	manifest_free(&x);
	mf_diags_free(&d);
}

static void test_ctk_errors(void **state)
{
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	/* JSON syntax: jansson's position */
	expect_one("{\"title\": \"t\",\n \"method\": [}\n", 2, 13, "syntax:");
	/* python providers: unsupported (exit 4), named */
	assert_int_equal(load("py.json",
			      "{\"title\": \"t\", \"description\": \"d\", \"method\": [{\"type\": "
			      "\"action\", \"name\": \"a\", \"provider\": {\"type\": \"python\", "
			      "\"module\": \"m\", \"func\": \"f\"}}]}",
			      &x, &d, &code),
			 1);
	assert_int_equal(code, DURESS_EXIT_UNSUPPORTED);
	assert_true(d.v[0].unsupported);
	assert_non_null(strstr(d.v[0].msg, "python (m.f)"));
	manifest_free(&x);
	mf_diags_free(&d);
	/* a steady-state probe needs a tolerance */
	expect_one(
		"title: t\ndescription: d\nsteady-state-hypothesis:\n  title: s\n  probes:\n"
		"    - type: probe\n      name: p\n      provider: {type: http, url: 'http://a/'}\n"
		"method: []\n",
		6, 7, "tolerance: required");
}

/* One CTK method activity (YAML provider text) loaded; returns its probe. */
static const struct probe *ctk_one(const char *provider, struct experiment *x, struct mf_diags *d,
				   int *code)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "title: t\ndescription: d\nmethod:\n  - type: action\n    name: a\n"
		 "    provider: %s\n",
		 provider);
	load("c.yaml", text, x, d, code);
	return x->nmethod ? &x->method[0].probe : NULL;
}

/* chaoslib/provider/process.py: shutil.which on PATH, a list is the argv
 * (None and "" dropped, str() of each), a map flattened into key, value. */
static void test_ctk_process_arguments(void **state)
{
	struct experiment x;
	struct mf_diags d;
	const struct probe *p;
	int code;

	(void)state;
	setenv("PATH", "/nonexistent:/bin:/usr/bin", 1);
	p = ctk_one("{type: process, path: sh, arguments: [-c, '', null, 'echo a b', 3, true]}", &x,
		    &d, &code);
	assert_int_equal(code, 0);
	assert_string_equal(p->path, "/bin/sh");
	assert_int_equal(p->nargs, 4);
	assert_string_equal(p->args[0], "-c");
	assert_string_equal(p->args[1], "echo a b");
	assert_string_equal(p->args[2], "3");
	assert_string_equal(p->args[3], "True");
	manifest_free(&x);
	mf_diags_free(&d);
	p = ctk_one("{type: process, path: /bin/echo, arguments: {--a: 1, --b: '', -c: x}}", &x, &d,
		    &code);
	assert_int_equal(code, 0);
	assert_int_equal(p->nargs, 5);
	assert_string_equal(p->args[0], "--a");
	assert_string_equal(p->args[1], "1");
	assert_string_equal(p->args[2], "--b"); /* the key stays, the empty value goes */
	assert_string_equal(p->args[3], "-c");
	assert_string_equal(p->args[4], "x");
	manifest_free(&x);
	mf_diags_free(&d);
	/* not on PATH: invalid, as validate_process_activity says */
	expect_one("title: t\ndescription: d\nmethod:\n  - type: action\n    name: a\n"
		   "    provider: {type: process, path: no-such-program-here}\n",
		   6, 37, "cannot be found (not on PATH)");
}

/* chaoslib/provider/http.py: method upper-cased; GET arguments are the
 * query string; other methods JSON only with Content-Type:
 * application/json, else form-encoded; no default timeout. */
static void test_ctk_http_arguments(void **state)
{
	struct experiment x;
	struct mf_diags d;
	const struct probe *p;
	int code;

	(void)state;
	p = ctk_one("{type: http, url: 'http://h/p?x=1', method: get, max_retries: 2,\n"
		    "      expected_status: 200, arguments: {q: 'a b&c', n: [1, 2], z: null}}",
		    &x, &d, &code);
	assert_int_equal(code, 0);
	assert_string_equal(p->method, "GET");
	assert_string_equal(p->url, "http://h/p?x=1&q=a+b%26c&n=1&n=2");
	assert_null(p->body);
	assert_int_equal(p->max_retries, 2);
	assert_int_equal(p->timeout_us, 0);
	manifest_free(&x);
	mf_diags_free(&d);
	p = ctk_one("{type: http, url: 'http://h/', method: post, arguments: {a: 1, b: x}}", &x, &d,
		    &code);
	assert_string_equal(p->body, "a=1&b=x");
	assert_string_equal(p->headers[p->nheaders - 1],
			    "Content-Type: application/x-www-form-urlencoded");
	manifest_free(&x);
	mf_diags_free(&d);
	p = ctk_one("{type: http, url: 'http://h/', method: put,\n"
		    "      headers: {Content-Type: application/json}, arguments: {a: 1, b: [x]}}",
		    &x, &d, &code);
	assert_string_equal(p->body, "{\"a\": 1, \"b\": [\"x\"]}");
	assert_int_equal(p->nheaders, 1);
	manifest_free(&x);
	mf_diags_free(&d);
}

/* Tolerances checked as ensure_hypothesis_tolerance_is_valid; python once;
 * ref finds activities anywhere (the method, then the hypothesis). */
static void test_ctk_tolerances_refs_python(void **state)
{
	static const char head[] = "title: t\ndescription: d\nsteady-state-hypothesis:\n"
				   "  title: s\n  probes:\n    - type: probe\n      name: p\n"
				   "      provider: {type: http, url: 'http://h/'}\n";
	char text[1024];
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	snprintf(text, sizeof(text), "%s      tolerance: 1.5\nmethod: []\n", head);
	expect_one(text, 9, 18, "must be an integer");
	snprintf(text, sizeof(text), "%s      tolerance: {type: nope}\nmethod: []\n", head);
	expect_one(text, 9, 25, "type 'nope' is unsupported");
	snprintf(text, sizeof(text), "%s      tolerance: {type: range, range: [1]}\nmethod: []\n",
		 head);
	expect_one(text, 9, 39, "range: expected [LOW, HIGH]");
	snprintf(text, sizeof(text),
		 "%s      tolerance: {type: jsonpath, path: '$.a', count: 1, "
		 "target: body}\nmethod:\n  - ref: q\n  - ref: p\n  - type: action\n"
		 "    name: q\n    provider: {type: process, path: /bin/true}\n",
		 head);
	assert_int_equal(load("r.yaml", text, &x, &d, &code), 0);
	assert_int_equal(x.method[0].type, ACT_PROBE); /* a ref to a later activity */
	assert_string_equal(x.method[0].probe.path, "/bin/true");
	assert_string_equal(x.method[1].probe.url, "http://h/");
	manifest_free(&x);
	mf_diags_free(&d);
	/* a probe tolerance that runs a program runs a command (the API refuses
	 * it without --allow-commands) */
	snprintf(text, sizeof(text),
		 "%s      tolerance: {type: probe, name: t, provider: {type: "
		 "process, path: /bin/true}}\nmethod: []\n",
		 head);
	assert_int_equal(load("t.yaml", text, &x, &d, &code), 0);
	assert_int_equal(x.steady[0].type, PROBE_HTTP);
	assert_true(probe_runs_command(&x.steady[0]));
	manifest_free(&x);
	mf_diags_free(&d);
	/* a python probe in the hypothesis, named again by a ref: one message, exit 4 */
	assert_int_equal(load("py.yaml",
			      "title: t\ndescription: d\nsteady-state-hypothesis:\n  title: s\n"
			      "  probes:\n    - type: probe\n      name: p\n      tolerance: true\n"
			      "      provider: {type: python, module: m, func: f}\n"
			      "method:\n  - ref: p\n",
			      &x, &d, &code),
			 1);
	assert_int_equal(code, DURESS_EXIT_UNSUPPORTED);
	manifest_free(&x);
	mf_diags_free(&d);
}

/* ${} only where chaostoolkit-lib substitutes; secrets scopes after the
 * configuration; an unknown name kept (safe_substitute). */
static void test_ctk_substitution(void **state)
{
	static const char text[] =
		"title: 't ${a}'\ndescription: '${a}'\nconfiguration: {a: x}\n"
		"secrets: {s1: {b: y}, s2: {c: {type: vault, path: p}}}\n"
		"method:\n  - type: action\n    name: '${a}'\n"
		"    provider: {type: http, url: 'http://h/${a}/${b}/${nope}', method: '${a}'}\n";
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	load("s.yaml", text, &x, &d, &code);
	assert_int_equal(d.n, 1); /* vault: unsupported */
	assert_true(d.v[0].unsupported);
	assert_string_equal(x.title, "t ${a}");
	assert_string_equal(x.description, "${a}");
	assert_string_equal(x.method[0].name, "${a}");
	assert_string_equal(x.method[0].probe.url, "http://h/x/y/${nope}");
	assert_string_equal(x.method[0].probe.method, "${A}"); /* not substituted, upper-cased */
	manifest_free(&x);
	mf_diags_free(&d);
}

/* Our format forgives the Chaos Toolkit habit: provider as a map. */
static void test_own_provider_map(void **state)
{
	static const char text[] =
		"name: n\nduration: 1s\nsteady_state:\n  probes:\n"
		"  - type: probe\n    name: p\n    provider: {type: process, path: /bin/true, "
		"arguments: [a]}\n"
		"method:\n  - type: action\n    name: f\n    provider: {type: cpu, workers: 1}\n"
		"  - type: probe\n    name: h\n    provider: {type: http, url: 'http://h/'}\n";
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	assert_int_equal(load("o.yaml", text, &x, &d, &code), 0);
	assert_false(x.ctk);
	assert_string_equal(x.steady[0].path, "/bin/true");
	assert_int_equal(x.steady[0].nargs, 1);
	assert_int_equal(x.method[0].type, ACT_FAULT);
	assert_int_equal(x.method[0].nopts, 1);
	assert_string_equal(x.method[1].probe.url, "http://h/");
	manifest_free(&x);
	mf_diags_free(&d);
	/* still strict: our format wants an absolute path; a key out of place is named */
	expect_one("name: n\nmethod:\n  - type: probe\n    name: p\n"
		   "    provider: {type: process, path: true}\n",
		   5, 37, "give the program's path");
	expect_one("name: n\nmethod:\n  - type: probe\n    name: p\n    url: x\n"
		   "    provider: {type: http, url: 'http://h/'}\n",
		   5, 5, "url: unknown key in an action");
}

/* chaostoolkit-lib ignores keys it does not know and `pauses: null`; a
 * failed ${} is one message, not a second one about the empty value. */
static void test_ctk_lenient(void **state)
{
	static const char text[] =
		"title: t\ndescription: d\nx-vendor: 1\nsteady-state-hypothesis:\n"
		"  title: s\n  controls: []\n  probes: []\nmethod:\n  - type: action\n"
		"    name: a\n    arguments: {x: 1}\n    pauses:\n"
		"    provider: {type: process, path: /bin/true, extra: 1}\n";
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	assert_int_equal(load("l.yaml", text, &x, &d, &code), 0);
	manifest_free(&x);
	mf_diags_free(&d);
	unsetenv("DURESS_UNIT_UNSET");
	expect_one("title: t\ndescription: d\nconfiguration: {u: {type: env, key: "
		   "DURESS_UNIT_UNSET}}\nmethod:\n  - type: action\n    name: a\n"
		   "    provider: {type: http, url: '${u}'}\n",
		   7, 33, "DURESS_UNIT_UNSET is not set");
}

static void test_metric_expressions(void **state)
{
	json_t *s = json_pack("{s:{s:f}, s:{s:{s:i}, s:s}, s:{s:{s:f}}}", "cpu", "usage_pct", 42.5,
			      "memory", "events", "oom_kill", 3, "max", "max", "psi", "memory",
			      "full_avg10", 12.0);
	json_t *first = json_pack("{s:{s:{s:i}}}", "memory", "events", "oom_kill", 1);
	struct metric_expr m;
	struct duress_err err = { 0 };
	double v;
	bool holds;

	(void)state;
	assert_int_equal(metric_parse("cpu.usage_pct < 95", &m, &err), 0);
	assert_int_equal(metric_eval(&m, s, NULL, &v, &holds, &err), 0);
	assert_true(holds);
	assert_true(v == 42.5);
	assert_int_equal(metric_parse("  memory.events.oom_kill==0 ", &m, &err), 0);
	assert_int_equal(metric_eval(&m, s, NULL, &v, &holds, &err), 0);
	assert_false(holds);
	assert_int_equal(metric_parse("increase(memory.events.oom_kill) <= 2", &m, &err), 0);
	assert_int_equal(metric_eval(&m, s, first, &v, &holds, &err), 0);
	assert_true(holds);
	assert_true(v == 2);
	assert_int_equal(metric_parse("memory.max == max", &m, &err), 0);
	assert_int_equal(metric_eval(&m, s, NULL, &v, &holds, &err), 0);
	assert_true(holds);
	assert_int_equal(metric_parse("psi.memory.full_avg10 >= 20", &m, &err), 0);
	assert_int_equal(metric_eval(&m, s, NULL, &v, &holds, &err), 0);
	assert_false(holds);
	/* absent is not zero */
	assert_int_equal(metric_parse("psi.io.some_avg10 < 5", &m, &err), 0);
	assert_int_equal(metric_eval(&m, s, NULL, &v, &holds, &err), -1);
	assert_non_null(strstr(err.msg, "not in the sample"));
	/* malformed */
	assert_int_equal(metric_parse("< 3", &m, &err), -1);
	assert_int_equal(metric_parse("cpu.usage_pct 3", &m, &err), -1);
	assert_int_equal(metric_parse("cpu.usage_pct < ", &m, &err), -1);
	assert_int_equal(metric_parse("cpu.usage_pct < 3 4", &m, &err), -1);
	assert_int_equal(metric_parse("increase(cpu.usage_pct < 3", &m, &err), -1);
	json_decref(s);
	json_decref(first);
}

/* Inputs that libFuzzer found (make fuzz, docs/performance.md). */
static void test_fuzz_regressions(void **state)
{
	/* A metric check that ends right after its key: the key scan went on
	 * past the NUL (strchr matches the terminator). */
	static const char text[] = "name: m\n"
				   "steady_state:\n"
				   "  probes:\n"
				   "    - name: alive\n"
				   "      type: metric\n"
				   "      check: pids.cur\n"
				   "method:\n"
				   "  - type: pause\n"
				   "    duration: 1s\n";
	char *key = strdup("pids.cur");
	struct metric_expr m;
	struct duress_err err = { 0 };
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	assert_non_null(key);
	assert_int_equal(metric_parse(key, &m, &err), -1);
	assert_non_null(strstr(err.msg, "expected a comparison"));
	free(key);
	assert_int_equal(load("fuzz.yaml", text, &x, &d, &code), 1);
	assert_int_equal(code, DURESS_EXIT_INVALID_MANIFEST);
	assert_non_null(strstr(d.v[0].msg, "expected a comparison"));
	manifest_free(&x);
	mf_diags_free(&d);
}

static void test_json_pointer(void **state)
{
	json_t *doc = json_loads("{\"a\": {\"b/c\": [1, {\"d~e\": \"x\"}]}, \"\": 5}", 0, NULL);

	(void)state;
	assert_ptr_equal(json_pointer_get(doc, ""), doc);
	assert_string_equal(json_string_value(json_pointer_get(doc, "/a/b~1c/1/d~0e")), "x");
	assert_int_equal(json_integer_value(json_pointer_get(doc, "/a/b~1c/0")), 1);
	assert_int_equal(json_integer_value(json_pointer_get(doc, "/")), 5);
	assert_null(json_pointer_get(doc, "/a/b~1c/2"));
	assert_null(json_pointer_get(doc, "/a/b~1c/01"));
	assert_null(json_pointer_get(doc, "a"));
	assert_null(json_pointer_get(doc, "/nope"));
	json_decref(doc);
}

static void test_journal_time_and_check(void **state)
{
	char buf[64];
	json_t *j = json_object();
	struct duress_err err = { 0 };

	(void)state;
	journal_time(0.25, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.250000Z");
	assert_int_equal(journal_check(j, &err), -1);
	assert_non_null(strstr(err.msg, "experiment: missing"));
	json_decref(j);
}

/* Issue 12: a value from the environment never comes back in a
 * diagnostic (what was written is quoted instead), never lands in the
 * journal's record of the experiment, and with MANIFEST_NO_ENV is not even
 * read. */
static void test_env_never_leaks(void **state)
{
	static const char text[] = "name: leak\n"
				   "configuration:\n"
				   "  s: {type: env, key: DURESS_TEST_SECRET}\n"
				   "  n: {type: env, key: DURESS_TEST_SHORT}\n"
				   "method:\n"
				   "  - type: action\n"
				   "    name: cap\n"
				   "    provider: memory\n"
				   "    max: ${n}\n"
				   "    duration: \"${s}\"\n";
	const char *secret = "hunter2-very-secret-token";
	struct duress_err err = { 0 };
	struct experiment x;
	struct mf_diags d;
	char *dump;
	int code;

	(void)state;
	setenv("DURESS_TEST_SECRET", secret, 1);
	setenv("DURESS_TEST_SHORT", "1Q", 1);
	load("m.yaml", text, &x, &d, &code);
	assert_int_equal(code, DURESS_EXIT_INVALID_MANIFEST);
	assert_true(d.n >= 2);
	for (size_t i = 0; i < d.n; i++) {
		assert_null(strstr(d.v[i].msg, secret));
		assert_null(strstr(d.v[i].msg, "'1Q'"));
	}
	{
		bool quoted_s = false, quoted_n = false;

		for (size_t i = 0; i < d.n; i++) {
			quoted_s |= strstr(d.v[i].msg, "${s}") != NULL;
			quoted_n |= strstr(d.v[i].msg, "${n}") != NULL;
		}
		assert_true(quoted_s);
		assert_true(quoted_n);
	}
	dump = json_dumps(x.source, JSON_COMPACT);
	assert_non_null(dump);
	assert_null(strstr(dump, secret));
	assert_non_null(strstr(dump, "${s}"));
	free(dump);
	manifest_free(&x);
	mf_diags_free(&d);

	/* refused before it is read */
	mf_diags_init(&d, "m.yaml");
	assert_int_equal(manifest_load_text_opts("m.yaml", text, strlen(text), MANIFEST_NO_ENV, &x,
						 &d, &err),
			 -1);
	assert_true(d.n >= 1);
	for (size_t i = 0; i < d.n; i++)
		assert_null(strstr(d.v[i].msg, secret));
	assert_non_null(strstr(d.v[0].msg, "--allow-commands"));
	assert_int_equal(d.nsecrets, 0); /* nothing was taken from the environment */
	manifest_free(&x);
	mf_diags_free(&d);
	unsetenv("DURESS_TEST_SECRET");
	unsetenv("DURESS_TEST_SHORT");
}

/* Issue 12, item 5: a map of many keys is checked for duplicates in linear
 * time (a hash set per map), a duplicate among 5,000 keys is still found,
 * and a document of more than 100,000 values is refused. */
static void test_many_keys(void **state)
{
	size_t n = 5000, len = 0;
	char *text = NULL;
	FILE *m = open_memstream(&text, &len);
	struct experiment x;
	struct mf_diags d;
	int code;

	(void)state;
	fputs("name: many\nx:\n", m);
	for (size_t i = 0; i < n; i++)
		fprintf(m, "  k%zu: 1\n", i);
	fputs("  k123: 2\n", m); /* the one duplicate, last */
	fclose(m);
	load("m.yaml", text, &x, &d, &code);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "k123: given twice"));
	manifest_free(&x);
	mf_diags_free(&d);
	free(text);

	text = NULL;
	m = open_memstream(&text, &len);
	fputs("x: [", m);
	for (size_t i = 0; i < 100001; i++)
		fputs(i ? ",1" : "1", m);
	fputs("]\n", m);
	fclose(m);
	load("m.yaml", text, &x, &d, &code);
	assert_true(d.n >= 1);
	assert_non_null(strstr(d.v[0].msg, "more than 100000 values"));
	manifest_free(&x);
	mf_diags_free(&d);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_own_format),
		cmocka_unit_test(test_fault_built_through_table),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_all_at_once),
		cmocka_unit_test(test_ctk_json),
		cmocka_unit_test(test_ctk_errors),
		cmocka_unit_test(test_ctk_process_arguments),
		cmocka_unit_test(test_ctk_http_arguments),
		cmocka_unit_test(test_ctk_tolerances_refs_python),
		cmocka_unit_test(test_ctk_substitution),
		cmocka_unit_test(test_own_provider_map),
		cmocka_unit_test(test_ctk_lenient),
		cmocka_unit_test(test_metric_expressions),
		cmocka_unit_test(test_fuzz_regressions),
		cmocka_unit_test(test_json_pointer),
		cmocka_unit_test(test_journal_time_and_check),
		cmocka_unit_test(test_env_never_leaks),
		cmocka_unit_test(test_many_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
