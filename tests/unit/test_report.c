// SPDX-License-Identifier: MIT
/*
 * Experiment reports (experiment/report.c) on fixture journals and samples
 * built here: the SVG series exist, the limit lines, OOM markers and probe
 * failures sit where the samples say (the chart scale of report.h), the
 * verdict is in words, nothing is fetched or run; an aborted run and a
 * probe-only run render; Markdown; bad input is named.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <duress/core/exitcode.h>
#include <duress/experiment/journal.h>
#include <duress/experiment/report.h>

#define START "2026-12-03T03:00:00.000000Z"
#define MIB 1048576.0

static void iso(double s, char *buf, size_t len)
{
	journal_time(1796266800.0 + s, buf, len); /* 2026-12-03T03:00:00Z */
}

static json_t *probe_rec(const char *name, double st, double ms, bool ok)
{
	char a[64], b[64];

	iso(st, a, sizeof(a));
	iso(st + ms / 1000, b, sizeof(b));
	return json_pack("{s:{s:s, s:s}, s:s, s:s, s:s, s:f, s:b}", "activity", "type", "probe",
			 "name", name, "status", "succeeded", "start", a, "end", b, "latency_ms",
			 ms, "tolerance_met", ok);
}

static json_t *fault_rec(const char *name, const char *kind, double st, double en, json_t *rep)
{
	char a[64], b[64];

	iso(st, a, sizeof(a));
	iso(en, b, sizeof(b));
	return json_pack("{s:{s:s, s:s}, s:s, s:s, s:s, s:f, s:{s:s, s:o}}", "activity", "type",
			 "action", "name", name, "status", "succeeded", "start", a, "end", b,
			 "duration", en - st, "output", "fault", kind, "fault_report", rep);
}

/* A run: baseline 0..2, method 2..6 (memory, cpu, io faults), revert 6,
 * probe "web" every 0.5 s of the method, failing at 4.0 and 4.5. */
static json_t *journal(const char *verdict, bool faults, bool probes)
{
	json_t *j, *run = json_array(), *pr = json_array(), *tl = json_array();
	json_t *before = json_array(), *after = json_array();
	json_t *faultlist, *events;
	char endts[64];

	if (faults) {
		json_array_append_new(run, fault_rec("cap", "memory", 2, 6, json_object()));
		json_array_append_new(run,
				      fault_rec("quota", "cpu", 2, 6,
						json_pack("{s:s}", "cpu_max", "50000 100000")));
		json_array_append_new(run, fault_rec("slow-disk", "io", 2.5, 5.5,
						     json_pack("{s:s}", "io_max",
							       "8:0 rbps=1048576 wbps=2097152")));
	}
	if (probes) {
		for (int i = 0; i < 8; i++) {
			double t = 0.5 * i;
			bool ok = !(t == 2.0 || t == 2.5);

			json_array_append_new(tl, json_pack("{s:f, s:b, s:f}", "t", t, "ok", ok,
							    "latency_ms", ok ? 10.0 + i : 80.0));
		}
		json_array_append_new(before, probe_rec("web", 1.5, 9, true));
		json_array_append_new(after, probe_rec("web", 8.0, 11, true));
		json_array_append_new(pr, json_pack("{s:s, s:i, s:i, s:f, s:{s:f, s:f, s:f}, s:o}",
						    "name", "web", "runs", 8, "failures", 2,
						    "error_rate", 0.25, "latency_ms", "p50", 13.0,
						    "p95", 80.0, "max", 80.0, "timeline", tl));
	} else {
		json_decref(tl);
	}
	iso(9.5, endts, sizeof(endts));
	faultlist = faults ? json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "name", "cap",
				       "fault", "memory", "name", "quota", "fault", "cpu", "name",
				       "slow-disk", "fault", "io")
			   : json_array();
	events = json_pack("[{s:s, s:f, s:s}]", "kind", "oom_kill", "value", 2.0, "detail",
			   "2 processes of the target killed by the OOM killer");
	j = json_pack("{s:{s:s}, s:s, s:s, s:f, s:s, s:b, s:{s:{s:b, s:o}, s:{s:b, s:o}, s:[]},"
		      " s:o, s:[]}",
		      "experiment", "title", "memory, cpu and io", "start", START, "end", endts,
		      "duration", 9.5, "status",
		      !strcmp(verdict, "held")	    ? "completed"
		      : !strcmp(verdict, "aborted") ? "aborted"
						    : "failed",
		      "deviated", false, "steady_states", "before", "steady_state_met", true,
		      "probes", before, "after", "steady_state_met", true, "probes", after,
		      "during", "run", run, "rollbacks");
	json_object_set_new(
		j, "duress",
		json_pack("{s:s, s:s, s:i, s:{s:s, s:s}, s:o, s:{s:{}, s:{}, s:{}},"
			  " s:{s:f, s:i, s:i, s:[], s:f}, s:{s:f, s:f, s:n}, s:o,"
			  " s:o, s:o, s:o, s:{s:f, s:f, s:o, s:f}}",
			  "format", "duress", "verdict", verdict, "exit_code",
			  !strcmp(verdict, "aborted") ? 9 : 0, "target", "dir",
			  "/sys/fs/cgroup/app", "kind", "cgroup", "abort",
			  !strcmp(verdict, "aborted")
				  ? json_pack("{s:s, s:s, s:f}", "kind", "probe", "reason",
					      "probe 'web' failed 2 times in a row: HTTP 503",
					      "at_s", 1.5)
				  : json_null(),
			  "phases", "before", "during", "after", "revert", "ms", 3.2, "reverted", 5,
			  "at_end", 5, "not_reverted", "at_s", 4.0, "recovery", "timeout_s", 30.0,
			  "probes_s", 1.25, "pressure_s", "probes", pr, "kernel_events",
			  json_incref(events), "silent_failures", events, "faults", faultlist,
			  "timeline", "method_start_s", 2.0, "revert_at_s", 6.0, "abort_at_s",
			  !strcmp(verdict, "aborted") ? json_real(3.5) : json_null(), "end_s",
			  9.5));
	return j;
}

/* samples every 0.5 s from 0 to 9: memory climbs to the 64M cap at 2..6
 * (high 48M), two OOM kills seen at 4.0 and 5.0; cpu 100% until capped at
 * 50%; writes at 2 MiB/s */
static json_t *samples(void)
{
	json_t *arr = json_array();
	unsigned long long usage = 0, thr = 0, wbytes = 0;
	int kills = 0;

	for (int i = 0; i <= 18; i++) {
		double t = 0.5 * i;
		bool during = t >= 2 && t < 6;
		double mem = during ? fmin(64, 20 + 10 * (t - 2)) : 20;

		kills += (t == 4.0 || t == 5.0);
		usage += during ? 250000 : 500000;
		thr += during ? 200000 : 0;
		wbytes += 1048576;
		json_array_append_new(
			arr,
			json_pack("{s:f, s:s, s:{s:f, s:I, s:I, s:{s:o, s:i}},"
				  " s:{s:I, s:o, s:o, s:{s:i}}, s:{s:I, s:I}, s:{s:{s:f}},"
				  " s:{s:I, s:I}}",
				  "t", t, "phase",
				  during  ? "during"
				  : t < 2 ? "before"
					  : "after",
				  "cpu", "usage_pct", during ? 50.0 : 100.0, "usage_usec",
				  (json_int_t)usage, "throttled_usec", (json_int_t)thr, "max",
				  "quota", during ? json_integer(50000) : json_string("max"),
				  "period", 100000, "memory", "current", (json_int_t)(mem * MIB),
				  "max", during ? json_integer(64 * 1048576) : json_string("max"),
				  "high", during ? json_integer(48 * 1048576) : json_string("max"),
				  "events", "oom_kill", kills, "io", "rbytes", (json_int_t)0,
				  "wbytes", (json_int_t)wbytes, "psi", "memory", "some_avg10",
				  during ? 12.5 : 0.0, "net", "rx_drops", (json_int_t)0, "tx_drops",
				  (json_int_t)(during ? 3 * i : 0)));
	}
	return arr;
}

static char *render(json_t *j, json_t *s, enum report_format fmt)
{
	struct duress_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(report_write(f, j, s, fmt, &err), 0);
	fclose(f);
	return buf;
}

/* the value of attribute attr of the element that holds `marker` */
static void attr(const char *html, const char *marker, const char *attr_name, char *out, size_t len)
{
	const char *m = strstr(html, marker), *start, *a, *q;
	char key[64];

	assert_non_null(m);
	start = m;
	while (start > html && *start != '<')
		start--;
	snprintf(key, sizeof(key), " %s=\"", attr_name);
	a = strstr(start, key);
	assert_non_null(a);
	assert_true(a < strchr(start, '>'));
	a += strlen(key);
	q = strchr(a, '"');
	assert_non_null(q);
	assert_true((size_t)(q - a) < len);
	memcpy(out, a, (size_t)(q - a));
	out[q - a] = '\0';
}

static double attr_num(const char *html, const char *marker, const char *name)
{
	char b[64];

	attr(html, marker, name, b, sizeof(b));
	return strtod(b, NULL);
}

static size_t count(const char *h, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(h, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

struct scale {
	double tmin, tmax, ymax;
};

static struct scale scale_of(const char *html, const char *id)
{
	char marker[64];
	struct scale s;

	snprintf(marker, sizeof(marker), "id=\"chart-%s\"", id);
	s.tmin = attr_num(html, marker, "data-tmin");
	s.tmax = attr_num(html, marker, "data-tmax");
	s.ymax = attr_num(html, marker, "data-ymax");
	return s;
}

static double xof(const struct scale *s, double t)
{
	return REPORT_PLOT_L + (t - s->tmin) / (s->tmax - s->tmin) *
				       (REPORT_PLOT_W - REPORT_PLOT_L - REPORT_PLOT_R);
}

static double yof(const struct scale *s, double v)
{
	return REPORT_PLOT_T + (1 - v / s->ymax) * (REPORT_PLOT_H - REPORT_PLOT_T - REPORT_PLOT_B);
}

/* does the points list of series key (class cls) hold (x, y), to 0.1? */
static bool has_point(const char *html, const char *cls, const char *key, double x, double y)
{
	char marker[128], pts[8192];
	const char *p;

	snprintf(marker, sizeof(marker), "class=\"%s\" data-series=\"%s\"", cls, key);
	attr(html, marker, "points", pts, sizeof(pts));
	for (p = pts; *p;) {
		char *e;
		double px = strtod(p, &e), py;

		if (e == p || *e != ',')
			break;
		py = strtod(e + 1, &e);
		if (fabs(px - x) < 0.11 && fabs(py - y) < 0.11)
			return true;
		p = e;
		while (*p == ' ')
			p++;
	}
	return false;
}

static void test_self_contained(void **state)
{
	json_t *j = journal("held", true, true), *s = samples();
	char *h = render(j, s, REPORT_HTML);
	const char *keep = getenv("DURESS_TEST_REPORT_OUT"); /* to look at it */

	if (keep) {
		FILE *f = fopen(keep, "w");

		assert_non_null(f);
		fputs(h, f);
		fclose(f);
	}
	assert_non_null(strstr(h, "<!DOCTYPE html>"));
	assert_null(strstr(h, "<script"));
	assert_null(strstr(h, " src="));
	assert_null(strstr(h, "href="));
	assert_null(strstr(h, "url("));
	assert_null(strstr(h, "@import"));
	/* the only URL is SVG's namespace */
	assert_int_equal(count(h, "http"), count(h, "xmlns=\"http://www.w3.org/2000/svg\""));
	free(h);
	json_decref(j);
	json_decref(s);
}

static void test_verdict_first(void **state)
{
	json_t *j = journal("held", true, true), *s = samples();
	char *h = render(j, s, REPORT_HTML);
	const char *v = strstr(h, "id=\"verdict\"");

	assert_non_null(v);
	/* before any chart */
	assert_true(v < strstr(h, "<svg"));
	assert_non_null(strstr(v, "HELD: the steady state held before and after 3 faults (1 "
				  "probe checked). 1 silent failure: the kernel saw trouble"));
	assert_non_null(strstr(h, "class=\"callout\" id=\"silent\""));
	assert_non_null(strstr(h, "2 processes of the target killed by the OOM killer"));
	assert_non_null(strstr(h, "the probes held again 1.25 s after the revert"));
	free(h);
	json_decref(j);
	json_decref(s);
}

static void test_memory_limits_and_oom(void **state)
{
	json_t *j = journal("held", true, true), *s = samples();
	char *h = render(j, s, REPORT_HTML);
	struct scale sc = scale_of(h, "memory");

	assert_float_equal(sc.tmin, 0, 1e-9);
	assert_float_equal(sc.tmax, 9.5, 1e-9);
	assert_true(sc.ymax >= 64);
	/* memory.current at 3.0 s is 30 MiB, at 8.0 s 20 MiB */
	assert_true(has_point(h, "series", "memory.current", xof(&sc, 3.0), yof(&sc, 30)));
	assert_true(has_point(h, "series", "memory.current", xof(&sc, 8.0), yof(&sc, 20)));
	/* memory.max 64 MiB from 2.0 to 5.5 s, not outside the fault */
	assert_true(has_point(h, "limit", "memory.max", xof(&sc, 2.0), yof(&sc, 64)));
	assert_true(has_point(h, "limit", "memory.max", xof(&sc, 5.5), yof(&sc, 64)));
	assert_false(has_point(h, "limit", "memory.max", xof(&sc, 6.0), yof(&sc, 64)));
	assert_false(has_point(h, "limit", "memory.max", xof(&sc, 1.5), yof(&sc, 64)));
	assert_true(has_point(h, "limit", "memory.high", xof(&sc, 4.0), yof(&sc, 48)));
	/* two OOM markers, at the samples that saw the kills, on the usage */
	assert_int_equal(count(h, "<circle class=\"oom\""), 2);
	assert_float_equal(attr_num(h, "class=\"oom\" data-t=\"4.000\"", "cx"), xof(&sc, 4.0),
			   0.06);
	assert_float_equal(attr_num(h, "class=\"oom\" data-t=\"4.000\"", "cy"), yof(&sc, 40), 0.06);
	assert_float_equal(attr_num(h, "class=\"oom\" data-t=\"5.000\"", "cx"), xof(&sc, 5.0),
			   0.06);
	assert_float_equal(attr_num(h, "class=\"oom\" data-t=\"5.000\"", "cy"), yof(&sc, 50), 0.06);
	free(h);
	json_decref(j);
	json_decref(s);
}

static void test_cpu_io_psi_net(void **state)
{
	json_t *j = journal("held", true, true), *s = samples();
	char *h = render(j, s, REPORT_HTML);
	struct scale c = scale_of(h, "cpu"), io = scale_of(h, "io");
	struct scale psi = scale_of(h, "psi"), net = scale_of(h, "net");

	/* cpu.max 50000/100000 = 50% while the fault is on */
	assert_true(has_point(h, "limit", "cpu.max", xof(&c, 3.0), yof(&c, 50)));
	assert_true(has_point(h, "series", "cpu.usage_pct", xof(&c, 1.0), yof(&c, 100)));
	assert_true(has_point(h, "series", "cpu.usage_pct", xof(&c, 3.0), yof(&c, 50)));
	/* 200000 µs throttled per 0.5 s = 40% of wall time */
	assert_true(has_point(h, "series", "cpu.throttled_pct", xof(&c, 3.0), yof(&c, 40)));
	/* 1 MiB per 0.5 s = 2 MiB/s written; io.max wbps 2 MiB/s inside 2.5..5.5 */
	assert_true(has_point(h, "series", "io.wbytes", xof(&io, 4.0), yof(&io, 2)));
	assert_true(has_point(h, "limit", "io.max.wbps", xof(&io, 3.0), yof(&io, 2)));
	assert_true(has_point(h, "limit", "io.max.rbps", xof(&io, 3.0), yof(&io, 1)));
	assert_false(has_point(h, "limit", "io.max.wbps", xof(&io, 2.0), yof(&io, 2)));
	assert_true(
		has_point(h, "series", "psi.memory.some_avg10", xof(&psi, 3.0), yof(&psi, 12.5)));
	/* tx drops: 3*i - 3*(i-1) per 0.5 s = 6/s */
	assert_true(has_point(h, "series", "net.tx_drops", xof(&net, 3.0), yof(&net, 6)));
	free(h);
	json_decref(j);
	json_decref(s);
}

static void test_timeline_and_probes(void **state)
{
	json_t *j = journal("held", true, true), *s = samples();
	char *h = render(j, s, REPORT_HTML);
	struct scale p = scale_of(h, "probes");
	struct scale tl = scale_of(h, "timeline");

	/* each fault's window where its record says */
	assert_non_null(strstr(h, "data-kind=\"fault\" data-start=\"2.000\" data-end=\"6.000\""));
	assert_non_null(strstr(h, "data-kind=\"fault\" data-start=\"2.500\" data-end=\"5.500\""));
	assert_float_equal(attr_num(h, "data-start=\"2.500\" data-end=\"5.500\"", "x"),
			   xof(&tl, 2.5), 0.06);
	assert_non_null(strstr(h, "data-kind=\"steady\" data-start=\"1.500\""));
	assert_non_null(strstr(h, "data-kind=\"steady\" data-start=\"8.000\""));
	assert_non_null(
		strstr(h, "data-kind=\"recovery\" data-start=\"6.000\" data-end=\"7.250\""));
	assert_non_null(strstr(h, "class=\"revert\""));
	assert_null(strstr(h, "class=\"abort\""));
	/* probe latency: 10 ms at the method's start (2.0 s), failures at 4.0, 4.5 */
	assert_true(has_point(h, "series", "probe:web", xof(&p, 2.0), yof(&p, 10)));
	assert_true(has_point(h, "series", "probe:web", xof(&p, 1.5), yof(&p, 9)));
	assert_int_equal(count(h, "<path class=\"probe-fail\""), 2);
	assert_non_null(strstr(h, "class=\"probe-fail\" data-t=\"4.000\""));
	assert_non_null(strstr(h, "class=\"probe-fail\" data-t=\"4.500\""));
	/* error rate per phase */
	assert_non_null(strstr(h, "<td>web</td><td>0 / 1 (0%)</td><td>2 / 8 (25%)</td>"
				  "<td>0 / 1 (0%)</td>"));
	free(h);
	json_decref(j);
	json_decref(s);
}

static void test_aborted(void **state)
{
	json_t *j = journal("aborted", true, true);
	char *h = render(j, NULL, REPORT_HTML);

	assert_non_null(strstr(h, "data-verdict=\"aborted\""));
	assert_non_null(strstr(h,
			       "ABORTED: probe &#39;web&#39; failed 2 times in a row: HTTP 503 "
			       "(probe abort, 1.5s into the method); every fault was reverted."));
	assert_non_null(strstr(h, "<line class=\"abort\""));
	assert_non_null(strstr(h, "No samples: pass <code>--samples FILE</code>"));
	assert_null(strstr(h, "id=\"chart-memory\""));
	free(h);
	json_decref(j);
}

static void test_probe_only(void **state)
{
	json_t *j = journal("held", false, true);
	char *h = render(j, NULL, REPORT_HTML);

	assert_non_null(strstr(h, "HELD: the steady state held before and after 0 faults"));
	assert_non_null(strstr(h, "id=\"chart-probes\""));
	assert_null(strstr(h, "data-kind=\"fault\""));
	free(h);
	json_decref(j);
	j = journal("deviated", false, false);
	json_object_set_new(json_object_get(json_object_get(j, "steady_states"), "after"), "probes",
			    json_pack("[{s:{s:s}, s:b, s:[s]}]", "activity", "name", "web",
				      "tolerance_met", false, "exception", "HTTP 500"));
	h = render(j, NULL, REPORT_HTML);
	assert_non_null(strstr(h, "DEVIATED: the steady state did not hold after the faults were "
				  "reverted: probe &#39;web&#39; failed: HTTP 500."));
	assert_non_null(strstr(h, "The experiment has no steady-state probes."));
	free(h);
	json_decref(j);
}

static void test_markdown(void **state)
{
	json_t *j = journal("held", true, true), *s = samples();
	char *m = render(j, s, REPORT_MARKDOWN);

	assert_non_null(strstr(m, "## duress report: memory, cpu and io\n\n**HELD**: the steady "));
	assert_non_null(strstr(m, "| cap | fault | 2.00 | 6.00 | ok |"));
	assert_non_null(strstr(m, "| slow-disk | fault | 2.50 | 5.50 | ok |"));
	assert_non_null(strstr(m, "| memory (MiB) | `"));
	assert_non_null(strstr(m, "| web | 0/1 | 2/8 | 0/1 | 80.0 ms |"));
	assert_non_null(strstr(m, "**1 silent failure(s)**"));
	assert_null(strstr(m, "<"));
	free(m);
	json_decref(j);
	json_decref(s);
}

static void test_bad_input(void **state)
{
	char dir[] = "/tmp/duress-report-XXXXXX", path[128];
	struct duress_err err = { 0 };
	enum report_format fmt;
	json_t *out = NULL, *j;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.jsonl", dir);
	f = fopen(path, "w");
	fputs("{\"t\": 0.5}\n\n{\"t\": 1.0}\n[1,2]\n", f);
	fclose(f);
	assert_int_equal(report_samples_load(path, &out, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "s.jsonl:4: not a sample"));
	/* a last line cut short by a kill is skipped */
	f = fopen(path, "w");
	fputs("{\"t\": 0.5}\n{\"t\": 1.0}\n{\"t\": 1.", f);
	fclose(f);
	memset(&err, 0, sizeof(err));
	assert_int_equal(report_samples_load(path, &out, &err), 0);
	assert_int_equal(json_array_size(out), 2);
	json_decref(out);
	/* a journal that is not one */
	snprintf(path, sizeof(path), "%s/j.json", dir);
	f = fopen(path, "w");
	fputs("{\"status\": \"completed\"}", f);
	fclose(f);
	memset(&err, 0, sizeof(err));
	assert_int_equal(report_journal_load(path, &out, &err), -1);
	assert_non_null(
		strstr(err.msg, "is not a duress run journal: journal: experiment: missing"));
	/* the fixture is one */
	j = journal("held", true, true);
	assert_int_equal(journal_write(j, path, &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(report_journal_load(path, &out, &err), 0);
	json_decref(out);
	json_decref(j);
	unlink(path);
	snprintf(path, sizeof(path), "%s/s.jsonl", dir);
	unlink(path);
	rmdir(dir);
	assert_int_equal(report_format_parse("markdown", &fmt, &err), 0);
	assert_int_equal(fmt, REPORT_MARKDOWN);
	assert_int_equal(report_format_parse("pdf", &fmt, &err), -1);
	assert_non_null(strstr(err.msg, "--format: unknown report format 'pdf'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_contained),
		cmocka_unit_test(test_verdict_first),
		cmocka_unit_test(test_memory_limits_and_oom),
		cmocka_unit_test(test_cpu_io_psi_net),
		cmocka_unit_test(test_timeline_and_probes),
		cmocka_unit_test(test_aborted),
		cmocka_unit_test(test_probe_only),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
