// SPDX-License-Identifier: MIT
/* The fault framework: option tables, registry, plans; undo log; summary. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <duress/net/netundo.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/net/netshape.h>
#include <duress/session/recover.h>
#include <duress/targets/cgview.h>
#include <duress/samples/summary.h>
#include <duress/core/undo.h>

static const char *const modes[] = { "read", "write", NULL };

static const struct fault_opt test_opts[] = {
	{ .name = "max", .type = FOPT_SIZE_PCT },
	{ .name = "workers", .type = FOPT_UINT, .min = 1, .max = 64 },
	{ .name = "load", .type = FOPT_PERCENT, .min = 1 },
	{ .name = "quota", .type = FOPT_DOUBLE, .min = 0.01, .max = 1024 },
	{ .name = "ramp", .type = FOPT_DURATION, .min = 100000 },
	{ .name = "mode", .type = FOPT_ENUM, .choices = modes },
	{ .name = "to", .type = FOPT_LIST },
	{ .name = "once", .type = FOPT_FLAG },
	{ .name = "block", .type = FOPT_SIZE, .min = 512, .max = 1 << 24 },
};

static const struct fault_desc test_desc = {
	.name = "test",
	.summary = "test fault",
	.opts = test_opts,
	.nopts = sizeof(test_opts) / sizeof(test_opts[0]),
	.priv_size = 16,
};

static void set_ok(struct fault *f, const char *name, const char *text)
{
	struct duress_err err = { 0 };
	int idx = fault_opt_index(f->desc, name);

	assert_true(idx >= 0);
	if (fault_opt_set(f, idx, text, name, &err) != 0)
		fail_msg("--%s %s: %s", name, text, err.msg);
}

static void set_bad(struct fault *f, const char *name, const char *text, const char *needle)
{
	struct duress_err err = { 0 };
	char what[64];
	int idx = fault_opt_index(f->desc, name);

	snprintf(what, sizeof(what), "--%s", name);
	assert_int_equal(fault_opt_set(f, idx, text, what, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	if (!strstr(err.msg, needle) || !strstr(err.msg, what))
		fail_msg("--%s %s: message '%s' lacks '%s'", name, text, err.msg, needle);
}

static void test_options(void **state)
{
	struct duress_err err = { 0 };
	struct fault f;

	(void)state;
	assert_int_equal(fault_init(&f, &test_desc, &err), 0);
	assert_non_null(f.priv);
	assert_false(fault_opt(&f, "max")->set);
	assert_false(fault_opt(&f, "nonexistent")->set);
	set_ok(&f, "max", "50%");
	assert_true(fault_opt(&f, "max")->size.is_pct);
	assert_true(fault_opt(&f, "max")->size.pct == 50.0);
	set_ok(&f, "max", "64M");
	assert_int_equal(fault_opt(&f, "max")->size.bytes, 64 << 20);
	set_ok(&f, "workers", "4");
	assert_int_equal(fault_opt(&f, "workers")->u, 4);
	set_ok(&f, "load", "75%");
	assert_true(fault_opt(&f, "load")->d == 75.0);
	set_ok(&f, "quota", "0.5");
	assert_true(fault_opt(&f, "quota")->d == 0.5);
	set_ok(&f, "ramp", "2s");
	assert_int_equal(fault_opt(&f, "ramp")->u, 2000000);
	set_ok(&f, "mode", "write");
	assert_int_equal(fault_opt(&f, "mode")->choice, 1);
	set_ok(&f, "to", "10.0.0.1/32");
	set_ok(&f, "to", "fd00::1/128");
	assert_int_equal(fault_opt(&f, "to")->nlist, 2);
	assert_string_equal(fault_opt(&f, "to")->list[1], "fd00::1/128");
	set_ok(&f, "once", NULL);
	assert_true(fault_opt(&f, "once")->set);
	set_ok(&f, "block", "4K");
	assert_int_equal(fault_opt(&f, "block")->u, 4096);

	set_bad(&f, "max", "-5M", "negative");
	set_bad(&f, "max", "120%", "exceed 100%");
	set_bad(&f, "max", "0%", "more than 0");
	set_bad(&f, "max", "", "needs a value");
	set_bad(&f, "workers", "0", "between 1 and 64");
	set_bad(&f, "workers", "65", "between 1 and 64");
	set_bad(&f, "load", "120", "between 0 and 100");
	set_bad(&f, "load", "0", "at least 1");
	set_bad(&f, "quota", "-1", "at least 0.01");
	set_bad(&f, "quota", "abc", "expected a number");
	set_bad(&f, "quota", "2000", "at most 1024");
	set_bad(&f, "ramp", "10ms", "at least 100000");
	set_bad(&f, "ramp", "soon", "not a duration");
	set_bad(&f, "mode", "sideways", "one of read, write");
	set_bad(&f, "block", "100", "at least 512");
	fault_free(&f);
}

static void test_plan_and_registry(void **state)
{
	struct duress_err err = { 0 };
	struct fault f;

	(void)state;
	assert_non_null(fault_find("freeze"));
	assert_null(fault_find("nope"));
	assert_int_equal(fault_init(&f, &test_desc, &err), 0);
	assert_int_equal(fault_plan_add(&f, "write '%s' to %s", "64M", "/x/memory.max"), 0);
	assert_int_equal(f.nplan, 1);
	assert_string_equal(f.plan[0], "write '64M' to /x/memory.max");
	for (int i = 1; i < FAULT_PLAN_MAX; i++)
		assert_int_equal(fault_plan_add(&f, "line %d", i), 0);
	assert_int_equal(fault_plan_add(&f, "one too many"), -1);
	fault_free(&f);
}

static void test_undo_log(void **state)
{
	struct duress_err err = { 0 };
	struct undo_report rep;
	struct undo_log log;
	char dir[] = "/tmp/duress-undo.XXXXXX", path[256], buf[64] = "";
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/memory.max", dir);
	fp = fopen(path, "w");
	fputs("64M", fp);
	fclose(fp);
	undo_log_init(&log);
	/* the replay knows every kind by its name, and no other */
	assert_null(recover_kind_find("nonsense"));
	assert_ptr_equal(recover_kind_find("cgroup-write"), &undo_kind_cgroup_write);
	assert_ptr_equal(recover_kind_find("qdisc"), &undo_kind_qdisc);
	assert_int_equal(undo_record(&log, &undo_kind_cgroup_write, "memory", dir, "memory.max",
				     "max", &err),
			 0);
	assert_int_equal(undo_record(&log, &undo_kind_cgroup_remove, "cpu", "/nonexistent/x", "",
				     "", &err),
			 1);
	/* a kill step for a pid that is not the recorded process must not kill */
	assert_int_equal(undo_record(&log, &undo_kind_kill, "cpu", "1", "12345", "", &err), 2);
	assert_int_equal(undo_revert_all(&log, &rep), 0);
	assert_int_equal(rep.reverted, 1);
	assert_int_equal(rep.gone, 2);
	assert_int_equal(rep.failed, 0);
	snprintf(path, sizeof(path), "%s/memory.max", dir);
	fp = fopen(path, "r");
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "max");
	/* idempotent: a second revert does nothing */
	assert_int_equal(undo_revert_all(&log, &rep), 0);
	assert_int_equal(rep.reverted + rep.gone + rep.failed, 0);
	/* a failing step is reported and the others still run */
	assert_int_equal(undo_record(&log, &undo_kind_cgroup_write, "memory", dir, "memory.max",
				     "1G", &err),
			 3);
	assert_int_equal(
		undo_record(&log, &undo_kind_cgroup_write, "memory", dir, "sub/x", "v", &err), 4);
	chmod(path, 0); /* root ignores modes: make it a directory to force a failure */
	unlink(path);
	mkdir(path, 0700);
	assert_int_equal(undo_revert_all(&log, &rep), -1);
	assert_int_equal(rep.failed, 2); /* both, newest first: neither stopped the other */
	assert_non_null(strstr(rep.failures[0], "sub/x"));
	assert_non_null(strstr(rep.failures[1], "memory.max"));
	rmdir(path);
	undo_log_free(&log);
	rmdir(dir);
}

static void fill(struct sample *s, double t, uint64_t usage, double pct, uint64_t mem,
		 uint64_t oomk, double psi_mem)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->cpu.usage_usec = (struct opt_u64){ true, usage };
	s->cpu.throttled_usec = (struct opt_u64){ true, usage / 10 };
	s->cpu.nr_throttled = (struct opt_u64){ true, usage / 1000 };
	s->cpu.has_usage_pct = pct >= 0;
	s->cpu.usage_pct = pct;
	s->memory.current = (struct opt_u64){ true, mem };
	s->memory.ev_oom_kill = (struct opt_u64){ true, oomk };
	s->psi.memory_present = true;
	s->psi.memory.some.present = true;
	s->psi.memory.some.avg10 = psi_mem;
	s->psi.memory.full.present = true;
	s->psi.memory.full.avg10 = psi_mem / 2;
}

static void test_summary(void **state)
{
	struct phase_stats before, during;
	struct sample s;
	json_t *b, *d;

	(void)state;
	phase_stats_init(&before);
	phase_stats_init(&during);
	fill(&s, 0, 1000, -1, 100, 0, 0.5);
	phase_stats_add(&before, &s);
	fill(&s, 1, 2000, 10, 120, 0, 1.5);
	phase_stats_add(&before, &s);
	fill(&s, 2, 5000, 30, 300, 1, 40);
	phase_stats_add(&during, &s);
	fill(&s, 3, 9000, 50, 200, 3, 75);
	phase_stats_add(&during, &s);
	b = phase_stats_json(&before, NULL);
	d = phase_stats_json(&during, &before);
	assert_int_equal(json_integer_value(json_object_get(b, "samples")), 2);
	assert_true(json_real_value(json_object_get(json_object_get(b, "cpu"), "usage_pct_avg")) ==
		    10.0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "memory"), "peak")),
			 120);
	/* during counters start from the last sample before: 9000 - 2000 */
	assert_true(json_real_value(json_object_get(d, "seconds")) == 2.0);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(d, "cpu"), "throttled_usec")),
		700);
	assert_true(json_real_value(json_object_get(json_object_get(d, "cpu"), "usage_pct_avg")) ==
		    40.0);
	assert_true(json_real_value(json_object_get(json_object_get(d, "cpu"), "usage_pct_max")) ==
		    50.0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "memory"), "peak")),
			 300);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(json_object_get(d, "memory"), "events"), "oom_kill")),
		3);
	assert_true(json_real_value(
			    json_object_get(json_object_get(json_object_get(d, "psi"), "memory"),
					    "some_avg10_peak")) == 75.0);
	assert_true(json_real_value(
			    json_object_get(json_object_get(json_object_get(d, "psi"), "memory"),
					    "full_avg10_peak")) == 37.5);
	/* absent PSI of cpu/io is omitted, not zero */
	assert_null(json_object_get(json_object_get(d, "psi"), "cpu"));
	json_decref(b);
	json_decref(d);
	/* counters that go backwards (a reset) give 0, never a huge number */
	assert_int_equal(phase_delta(&(struct opt_u64){ true, 10 }, &(struct opt_u64){ true, 5 }),
			 0);
	assert_int_equal(phase_delta(&(struct opt_u64){ false, 0 }, &(struct opt_u64){ true, 5 }),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_plan_and_registry),
		cmocka_unit_test(test_undo_log),
		cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests_name("fault", tests, NULL, NULL);
}
