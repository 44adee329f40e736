// SPDX-License-Identifier: MIT
/*
 * manifests/grafana/duress.json: every query (panel targets, annotations,
 * template variables) names only metrics that `duress serve` exports, as
 * its exporter (serve/serve_prom.c) writes them for a target with every
 * field present; and the dashboard shows each thing the issue asks for
 * (usage against limits, faults in force, reverts and failures).  Run from
 * the top of the tree (scripts/run-tests does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <duress/core/cgroup.h>
#include <duress/samples/sample.h>
#include <duress/serve/serve_prom.h>

#define DASHBOARD "manifests/grafana/duress.json"

/* The series names the exporter writes (a histogram's _bucket, _sum and
 * _count, not its family's name, which no query can read), newline-joined. */
static char *exported(void)
{
	struct sample s = { 0 };
	struct prom_target t = { "/sys/fs/cgroup/app", &s };
	struct prom_agent a = { 0 };
	struct prom_fault f = { "flt-1", "memory", "/sys/fs/cgroup/app", "fault" };
	struct prom_hist h = { .probe = "api" };
	struct prom_probe pr = { "exp-1", "checkout holds", &h };
	char *buf = NULL, *names, *p;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	struct opt_u64 one = { true, 1 };

	assert_non_null(out);
	s.memory.current = s.memory.peak = s.memory.max = s.memory.high = one;
	s.memory.swap_current = s.memory.ev_high = s.memory.ev_max = one;
	s.memory.ev_oom = s.memory.ev_oom_kill = one;
	s.cpu.usage_usec = s.cpu.nr_throttled = s.cpu.throttled_usec = one;
	s.cpu.max_quota = s.cpu.max_period = one;
	s.cpu.has_usage_pct = true;
	s.pids.current = s.pids.max = one;
	s.psi.cpu_present = s.psi.memory_present = s.psi.io_present = true;
	s.psi.cpu.some.present = s.psi.cpu.full.present = true;
	s.psi.memory.some.present = s.psi.memory.full.present = true;
	s.psi.io.some.present = s.psi.io.full.present = true;
	s.io.present = s.net.present = true;
	prom_agent(out, &a, &f, 1);
	prom_targets(out, &t, 1);
	prom_hist_observe(&h, 0.012);
	prom_probes(out, &pr, 1);
	fclose(out);
	names = calloc(1, len + 2);
	assert_non_null(names);
	names[0] = '\n';
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		size_t n = strcspn(p, "{ \n");

		if (*p == '#' || !n)
			continue;
		strncat(names, p, n);
		strcat(names, "\n");
	}
	free(buf);
	return names;
}

static bool is_exported(const char *names, const char *metric)
{
	char key[256];

	if (strlen(metric) > 200)
		return false;
	snprintf(key, sizeof(key), "\n%s\n", metric);
	return strstr(names, key) != NULL;
}

/* Every duress_* name in expr must be exported; returns how many it names,
 * or -1 (with the culprit in bad) when one is not. */
static int check_expr(const char *names, const char *expr, char *bad, size_t len)
{
	int n = 0;

	for (const char *p = expr; (p = strstr(p, "duress_"));) {
		char m[128];
		size_t k = 0;

		if (p > expr && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) {
			p++;
			continue;
		}
		while ((isalnum((unsigned char)p[k]) || p[k] == '_') && k < sizeof(m) - 1)
			k++;
		memcpy(m, p, k);
		m[k] = '\0';
		p += k;
		if (!is_exported(names, m)) {
			snprintf(bad, len, "%s", m);
			return -1;
		}
		n++;
	}
	return n;
}

struct walk {
	const char *names;
	int queries, failures;
	char used[8192];
};

/* every "expr", and "query" of a variable (a string or {query: ...}) */
static void walk(json_t *j, struct walk *w)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			walk(v, w);
		return;
	}
	if (!json_is_object(j))
		return;
	json_object_foreach(j, k, v) {
		const char *q = NULL;
		char bad[128];

		if (!strcmp(k, "expr") && json_is_string(v))
			q = json_string_value(v);
		else if (!strcmp(k, "query") && json_is_object(v))
			q = json_string_value(json_object_get(v, "query"));
		else if (!strcmp(k, "query") && json_is_string(v) &&
			 strstr(json_string_value(v), "duress_"))
			q = json_string_value(v);
		if (q) {
			int n = check_expr(w->names, q, bad, sizeof(bad));

			w->queries++;
			if (n <= 0) {
				print_error("%s: query '%s' %s%s\n", DASHBOARD, q,
					    n < 0 ? "names a metric the agent does not export: "
						  : "names no duress metric",
					    n < 0 ? bad : "");
				w->failures++;
			} else if (strlen(w->used) + strlen(q) + 2 < sizeof(w->used)) {
				strcat(w->used, q);
				strcat(w->used, "\n");
			}
		}
		walk(v, w);
	}
}

static void test_checker(void **state)
{
	char *names = exported();
	char bad[128];

	/* the exporter's names, and the checker catches one it does not have */
	assert_true(is_exported(names, "duress_target_memory_max_bytes"));
	assert_true(is_exported(names, "duress_target_cpu_max_cpus"));
	assert_true(is_exported(names, "duress_fault_active"));
	assert_true(is_exported(names, "duress_probe_duration_seconds_bucket"));
	assert_true(is_exported(names, "duress_probe_duration_seconds_count"));
	assert_false(is_exported(names, "duress_probe_duration_seconds"));
	assert_int_equal(
		check_expr(names, "rate(duress_target_io_bytes_total[1m])", bad, sizeof(bad)), 1);
	assert_int_equal(check_expr(names,
				    "duress_target_memory_current_bytes / "
				    "duress_target_memory_maximum_bytes",
				    bad, sizeof(bad)),
			 -1);
	assert_string_equal(bad, "duress_target_memory_maximum_bytes");
	assert_int_equal(check_expr(names, "up", bad, sizeof(bad)), 0);
	free(names);
}

static void test_dashboard(void **state)
{
	json_error_t je;
	json_t *d = json_load_file(DASHBOARD, 0, &je);
	struct walk w = { 0 };
	static const char *const wanted[] = {
		"duress_target_memory_current_bytes",
		"duress_target_memory_max_bytes",
		"duress_target_memory_high_bytes",
		"duress_target_oom_kills_total",
		"duress_target_cpu_usage_percent",
		"duress_target_cpu_max_cpus",
		"duress_target_cpu_throttled_seconds_total",
		"duress_target_io_bytes_total",
		"duress_target_pressure_some_avg10",
		"duress_target_network_drops_total",
		"duress_fault_active",
		"duress_reverts_ok_total",
		"duress_revert_failures_total",
		"duress_jobs_failed_total",
		"duress_probe_duration_seconds_bucket",
	};

	if (!d)
		fail_msg("%s:%d: %s (run from the top of the tree)", DASHBOARD, je.line, je.text);
	w.names = exported();
	walk(d, &w);
	assert_true(w.queries >= 15);
	assert_int_equal(w.failures, 0);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (!strstr(w.used, wanted[i]))
			fail_msg("%s: no panel shows %s", DASHBOARD, wanted[i]);
	/* the target variable feeds every target query */
	assert_non_null(strstr(w.used, "{target=~\"$target\"}"));
	free((char *)w.names);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker),
		cmocka_unit_test(test_dashboard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
