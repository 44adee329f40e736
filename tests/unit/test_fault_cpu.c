// SPDX-License-Identifier: MIT
/*
 * The cpu fault: cpu.max formatting, default worker counts, cpuset lists,
 * the duty cycle's carry, the option table's bounds, and plans (defaults,
 * what gets written) against a fake cgroup hierarchy in a temporary dir.
 */
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/fault_cpu.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
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

#include "fixture.h"

#define MS 1000000ULL

/* ---- cpu.max ---- */

static void quota_is(double cpus, const char *want)
{
	char buf[64];

	assert_int_equal(cpu_quota_format(cpus, CPU_PERIOD_US, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_quota_format(void **state)
{
	char small[8];

	(void)state;
	quota_is(0.5, "50000 100000");
	quota_is(0.2, "20000 100000");
	quota_is(0.01, "1000 100000");
	quota_is(1.5, "150000 100000");
	quota_is(0.333, "33300 100000");
	quota_is(3, "300000 100000");
	errno = 0;
	assert_int_equal(cpu_quota_format(0.009, CPU_PERIOD_US, small, sizeof(small)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cpu_quota_format(-1, CPU_PERIOD_US, small, sizeof(small)), -1);
	assert_int_equal(cpu_quota_format(0.5, 0, small, sizeof(small)), -1);
	errno = 0;
	assert_int_equal(cpu_quota_format(0.5, CPU_PERIOD_US, small, sizeof(small)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void test_default_workers(void **state)
{
	(void)state;
	assert_int_equal(cpu_default_workers(0.01), 1);
	assert_int_equal(cpu_default_workers(0.2), 1);
	assert_int_equal(cpu_default_workers(1), 1);
	assert_int_equal(cpu_default_workers(1.5), 2);
	assert_int_equal(cpu_default_workers(2), 2);
	assert_int_equal(cpu_default_workers(300000.0 / 100000.0), 3);
	assert_int_equal(cpu_default_workers(7.3), 8);
	assert_int_equal(cpu_default_workers(0), 1);
	assert_int_equal(cpu_default_workers(-3), 1);
}

/* ---- cpuset lists ---- */

static void test_cpu_list(void **state)
{
	static const char *const bad[] = { "a",	    "3-1", "0,,1", "0-",    "-1",
					   "1-2-3", "0,",  "1 2",  "99999", "0;1" };
	cpu_set_t set;
	unsigned int n = 99;

	(void)state;
	assert_int_equal(cpu_list_parse("0-3,8,10-11\n", &set, &n), 0);
	assert_int_equal(n, 7);
	for (int c = 0; c < 16; c++)
		assert_int_equal(!!CPU_ISSET(c, &set), (c <= 3 || c == 8 || c == 10 || c == 11));
	assert_int_equal(cpu_list_parse("1\n", &set, &n), 0);
	assert_int_equal(n, 1);
	assert_true(CPU_ISSET(1, &set));
	assert_int_equal(cpu_list_parse("\n", &set, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cpu_list_parse("", &set, &n), 0);
	assert_int_equal(n, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 99;
		errno = 0;
		if (cpu_list_parse(bad[i], &set, &n) != -1)
			fail_msg("'%s' parsed", bad[i]);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(n, 99); /* untouched on failure */
	}
}

/* ---- duty cycle ---- */

/*
 * Run `slices` slices of a worker whose slices cost busy * scale + extra_ns
 * of CPU (scale < 1: preempted during the busy phase; extra: wake-up and
 * clock reads), and return the average CPU per slice in percent.
 */
static double simulate(double load, double scale, uint64_t extra_ns, int slices)
{
	struct cpu_duty d;
	uint64_t total = 0;

	cpu_duty_init(&d, load, 10 * MS);
	for (int i = 0; i < slices; i++) {
		uint64_t b = cpu_duty_budget(&d);
		uint64_t used = (uint64_t)((double)b * scale) + extra_ns;

		if (used > d.period_ns)
			used = d.period_ns;
		cpu_duty_account(&d, d.period_ns, used);
		total += used;
	}
	return 100.0 * (double)total / ((double)slices * (double)d.period_ns);
}

static void test_duty_exact(void **state)
{
	struct cpu_duty d;

	(void)state;
	cpu_duty_init(&d, 50, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 5 * MS);
	cpu_duty_account(&d, 10 * MS, 5 * MS);
	assert_int_equal(cpu_duty_budget(&d), 5 * MS);
	/* one slice cost 1 ms too much: the next is 1 ms shorter */
	cpu_duty_account(&d, 10 * MS, 6 * MS);
	assert_int_equal(cpu_duty_budget(&d), 4 * MS);
	cpu_duty_account(&d, 10 * MS, 4 * MS);
	assert_int_equal(cpu_duty_budget(&d), 5 * MS);
	/* woke up 4 ms late: owed half of that too */
	cpu_duty_account(&d, 14 * MS, 5 * MS);
	assert_int_equal(cpu_duty_budget(&d), 7 * MS);
	cpu_duty_account(&d, 10 * MS, 7 * MS);
	assert_int_equal(cpu_duty_budget(&d), 5 * MS);

	cpu_duty_init(&d, 100, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 10 * MS);
	cpu_duty_account(&d, 10 * MS, 3 * MS); /* starved: cannot ask for more than the slice */
	assert_int_equal(cpu_duty_budget(&d), 10 * MS);

	cpu_duty_init(&d, 250, 10 * MS); /* clamped */
	assert_int_equal(cpu_duty_budget(&d), 10 * MS);
	cpu_duty_init(&d, -5, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 0);
	cpu_duty_account(&d, 10 * MS, 0);
	assert_int_equal(cpu_duty_budget(&d), 0);
	cpu_duty_init(&d, 25, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 2500000);
	cpu_duty_init(&d, 0.5, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 50000);
}

static void test_duty_converges(void **state)
{
	static const double loads[] = { 5, 25, 50, 75 };

	(void)state;
	for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
		double l = loads[i];

		/* wake-up overhead of 0.3 ms a slice is paid back */
		assert_float_equal(simulate(l, 1.0, 300000, 1000), l, 0.1);
		/* preempted for a fifth of the busy phase: made up */
		assert_float_equal(simulate(l, 0.8, 100000, 1000), l, 0.1);
	}
	assert_float_equal(simulate(90, 1.0, 300000, 1000), 90, 0.1);
	/* what cannot be made up stays lost: 80% of a full slice, plus 1% */
	assert_float_equal(simulate(90, 0.8, 100000, 1000), 81, 0.1);
	/* overhead alone above the wanted share: the best is the overhead */
	assert_float_equal(simulate(1, 1.0, 200000, 1000), 2.0, 0.01);
}

static void test_duty_carry_bounded(void **state)
{
	struct cpu_duty d;

	(void)state;
	cpu_duty_init(&d, 50, 10 * MS);
	/* throttled for a second: owed far more than a slice */
	for (int i = 0; i < 100; i++)
		cpu_duty_account(&d, 10 * MS, 0);
	assert_int_equal(d.debt_ns, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 10 * MS);
	/* stopped for a second in one go (SIGSTOP, frozen): the same bound */
	cpu_duty_init(&d, 50, 10 * MS);
	cpu_duty_account(&d, 1000 * MS, 0);
	assert_int_equal(d.debt_ns, 10 * MS);
	/* no burst afterwards: one full slice pays it back, then 50% again */
	cpu_duty_account(&d, 10 * MS, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 10 * MS);
	cpu_duty_account(&d, 10 * MS, 10 * MS);
	assert_int_equal(cpu_duty_budget(&d), 5 * MS);
	for (int i = 0; i < 100; i++)
		cpu_duty_account(&d, 10 * MS, 10 * MS);
	/* overspent: paid back by sleeping, up to 10 slices' worth */
	assert_int_equal(d.debt_ns, -(int64_t)(100 * MS));
	assert_int_equal(cpu_duty_budget(&d), 0);
	/* charged 40 ms for one 10 ms slice (preempted but charged, as
	 * in a VM): the 35 ms too many are made up over the next slices */
	cpu_duty_init(&d, 50, 10 * MS);
	cpu_duty_account(&d, 40 * MS, 40 * MS);
	assert_int_equal(d.debt_ns, -(int64_t)(20 * MS));
	assert_int_equal(cpu_duty_budget(&d), 0);
	cpu_duty_account(&d, 10 * MS, 0);
	cpu_duty_account(&d, 10 * MS, 0);
	cpu_duty_account(&d, 10 * MS, 0);
	assert_int_equal(cpu_duty_budget(&d), 0);
	cpu_duty_account(&d, 10 * MS, 0);
	assert_int_equal(cpu_duty_budget(&d), 5 * MS);
}

static void test_chunk_adapt(void **state)
{
	unsigned int c = 1;

	(void)state;
	/* cheap chunks grow until a chunk takes 50 us or more */
	assert_int_equal(cpu_chunk_adapt(64, 1000), 128);
	assert_int_equal(cpu_chunk_adapt(64, CPU_CHECK_MIN_NS - 1), 128);
	assert_int_equal(cpu_chunk_adapt(64, CPU_CHECK_MIN_NS), 64);
	assert_int_equal(cpu_chunk_adapt(64, 100000), 64);
	assert_int_equal(cpu_chunk_adapt(64, CPU_CHECK_MAX_NS), 64);
	assert_int_equal(cpu_chunk_adapt(64, CPU_CHECK_MAX_NS + 1), 32);
	assert_int_equal(cpu_chunk_adapt(1, 1000000), 1);
	assert_int_equal(cpu_chunk_adapt(0, 100000), 1);
	assert_int_equal(cpu_chunk_adapt(CPU_CHUNK_MAX, 1), CPU_CHUNK_MAX);
	/* a model where a round costs 10 ns and a clock read 5 us (an
	 * emulated HPET): settles where reads are 50-200 us apart */
	for (int i = 0; i < 50; i++)
		c = cpu_chunk_adapt(c, (uint64_t)c * 10 + 5000);
	assert_in_range((uint64_t)c * 10 + 5000, CPU_CHECK_MIN_NS, CPU_CHECK_MAX_NS);
}

/* ---- options ---- */

static int set_opt(struct fault *f, const char *name, const char *text, struct duress_err *err)
{
	char what[64];
	int idx = fault_opt_index(&fault_cpu, name);

	assert_true(idx >= 0);
	snprintf(what, sizeof(what), "--%s", name);
	return fault_opt_set(f, idx, text, what, err);
}

static void opt_bad(const char *name, const char *text)
{
	struct duress_err err = { 0 };
	struct fault f;
	char what[64];

	assert_int_equal(fault_init(&f, &fault_cpu, &err), 0);
	snprintf(what, sizeof(what), "--%s", name);
	if (set_opt(&f, name, text, &err) == 0 && fault_cpu.validate(&f, &err) == 0)
		fail_msg("--%s %s accepted", name, text);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	if (!strstr(err.msg, what))
		fail_msg("--%s %s: message '%s' does not name the option", name, text, err.msg);
	fault_free(&f);
}

static void opt_ok(const char *name, const char *text)
{
	struct duress_err err = { 0 };
	struct fault f;

	assert_int_equal(fault_init(&f, &fault_cpu, &err), 0);
	if (set_opt(&f, name, text, &err) < 0 || fault_cpu.validate(&f, &err) < 0)
		fail_msg("--%s %s: %s", name, text, err.msg);
	fault_free(&f);
}

static void test_options(void **state)
{
	(void)state;
	assert_non_null(fault_find("cpu"));
	opt_bad("workers", "0");
	opt_bad("workers", "-1");
	opt_bad("workers", "two");
	opt_bad("workers", "100000");
	opt_ok("workers", "1");
	opt_ok("workers", "64");
	opt_bad("load", "120");
	opt_bad("load", "101%");
	opt_bad("load", "-5");
	opt_bad("load", "0");
	opt_ok("load", "50");
	opt_ok("load", "0.5%");
	opt_ok("load", "100");
	opt_bad("quota", "-1");
	opt_bad("quota", "0");
	opt_bad("quota", "0.005");
	opt_bad("quota", "half");
	opt_ok("quota", "0.01");
	opt_ok("quota", "0.5");
	opt_ok("quota", "2");
	opt_bad("weight", "0");
	opt_bad("weight", "10001");
	opt_ok("weight", "1");
	opt_ok("weight", "10000");
	opt_bad("placement", "nearby");
	opt_ok("placement", "inside");
	opt_ok("placement", "beside");
}

/* ---- plans against a fake hierarchy ---- */

struct fake {
	char mount[64];
	char dir[128];
	struct cg_root root;
	struct target t;
	struct undo_log undo;
	struct fault f;
};

static void get(const char *dir, const char *file, char *buf, size_t len)
{
	char path[2 * PATH_MAX];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/* The fake hierarchy of a test that failed (cmocka leaves the test at the
 * failed assertion): removed by the group teardown. */
static char fake_live[64];

static int remove_fake_live(void **state)
{
	(void)state;
	if (fake_live[0])
		fx_rm_tree(fake_live);
	fake_live[0] = '\0';
	return 0;
}

/* mount/x is the target; cpu.max, cpu.weight, cpuset as given (NULL: absent) */
static void fake_setup(struct fake *k, const char *cpu_max, const char *cpuset)
{
	struct duress_err err = { 0 };

	remove_fake_live(NULL);
	memset(k, 0, sizeof(*k));
	snprintf(k->mount, sizeof(k->mount), "/tmp/duress-test-cpu.XXXXXX");
	assert_non_null(mkdtemp(k->mount));
	snprintf(fake_live, sizeof(fake_live), "%s", k->mount);
	snprintf(k->dir, sizeof(k->dir), "%s/x", k->mount);
	assert_int_equal(mkdir(k->dir, 0755), 0);
	fx_put(k->dir, "cgroup.procs", "");
	fx_put(k->mount, "cpuset.cpus.effective", "0-3\n");
	fx_put(k->dir, "cpu.weight", "42\n");
	if (cpu_max)
		fx_put(k->dir, "cpu.max", cpu_max);
	if (cpuset)
		fx_put(k->dir, "cpuset.cpus.effective", cpuset);
	snprintf(k->root.mount, sizeof(k->root.mount), "%s", k->mount);
	target_init(&k->t);
	k->t.kind = TARGET_CGROUP;
	snprintf(k->t.dir, sizeof(k->t.dir), "%s", k->dir);
	snprintf(k->t.rel, sizeof(k->t.rel), "/x");
	undo_log_init(&k->undo);
	assert_int_equal(fault_init(&k->f, &fault_cpu, &err), 0);
	k->f.root = &k->root;
	k->f.target = &k->t;
	k->f.undo = &k->undo;
	k->f.duration_us = 1000000;
}

static void fake_teardown(struct fake *k)
{
	fault_free(&k->f);
	undo_log_free(&k->undo);
	remove_fake_live(NULL);
}

/* Plan with options "name=value" ...; returns 0 or the plan's result. */
static int fake_plan(struct fake *k, const char *const *opts)
{
	struct duress_err err = { 0 };

	for (; *opts; opts++) {
		char name[32];
		const char *eq = strchr(*opts, '=');

		assert_non_null(eq);
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *opts), *opts);
		assert_int_equal(set_opt(&k->f, name, eq + 1, &err), 0);
	}
	if (fault_cpu.validate(&k->f, &err) < 0 || fault_cpu.supported(&k->f, &err) < 0 ||
	    fault_cpu.plan(&k->f, &err) < 0) {
		print_message("plan: %s\n", err.msg);
		return err.code ? err.code : -1;
	}
	return 0;
}

/* Does some plan line contain every one of the NULL-terminated needles? */
static bool plan_has(const struct fake *k, ...)
{
	for (size_t i = 0; i < k->f.nplan; i++) {
		const char *needle;
		bool all = true;
		va_list ap;

		va_start(ap, k);
		while ((needle = va_arg(ap, const char *)))
			if (!strstr(k->f.plan[i], needle))
				all = false;
		va_end(ap);
		if (all)
			return true;
	}
	return false;
}

static void dump_plan(const struct fake *k)
{
	for (size_t i = 0; i < k->f.nplan; i++)
		print_message("  plan: %s\n", k->f.plan[i]);
}

#define PLAN_HAS(k, ...)                                                \
	do {                                                            \
		if (!plan_has(k, __VA_ARGS__, (const char *)NULL)) {    \
			dump_plan(k);                                   \
			fail_msg("no plan line with %s", #__VA_ARGS__); \
		}                                                       \
	} while (0)

static void test_plan_default_workers(void **state)
{
	static const char *const none[] = { NULL };
	static const char *const load[] = { "load=50", NULL };
	struct fake k;
	char before[64], after[64];

	(void)state;
	/* no limit: the cpuset's 4 CPUs, at 100% */
	fake_setup(&k, "max 100000\n", "0-3\n");
	assert_int_equal(fake_plan(&k, none), 0);
	PLAN_HAS(&k, "start 4 worker processes", "100% of one CPU", "4.00 CPUs in all",
		 "cpuset.cpus.effective");
	PLAN_HAS(&k, "create cgroup", "/x/duress-cpu-", "inside the target");
	PLAN_HAS(&k, "pin them to CPUs 0-3");
	assert_false(plan_has(&k, "cpu.max", (const char *)NULL));
	fake_teardown(&k);

	/* a 1.5 CPU quota: 2 workers; nothing is written by a plan */
	fake_setup(&k, "150000 100000\n", "0-1\n");
	get(k.dir, "cpu.max", before, sizeof(before));
	assert_int_equal(fake_plan(&k, load), 0);
	PLAN_HAS(&k, "start 2 worker processes", "50% of one CPU", "1.00 CPUs in all",
		 "1.50 CPUs, cpu.max of");
	PLAN_HAS(&k, "pin them to CPUs 0-1");
	get(k.dir, "cpu.max", after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(k.undo.n, 0);
	fake_teardown(&k);
}

static void test_plan_limits_only(void **state)
{
	static const char *const quota[] = { "quota=0.2", NULL };
	static const char *const both[] = { "quota=0.5", "weight=7", NULL };
	static const char *const with_load[] = { "quota=0.5", "load=80", NULL };
	struct fake k;

	(void)state;
	fake_setup(&k, "300000 100000\n", NULL);
	assert_int_equal(fake_plan(&k, quota), 0);
	PLAN_HAS(&k, "write '20000 100000' to", "/x/cpu.max", "now '300000 100000'");
	assert_false(plan_has(&k, "worker", (const char *)NULL));
	PLAN_HAS(&k, "revert", "original cpu.max");
	fake_teardown(&k);

	fake_setup(&k, "max 100000\n", NULL);
	assert_int_equal(fake_plan(&k, both), 0);
	PLAN_HAS(&k, "write '50000 100000' to", "now 'max 100000'");
	PLAN_HAS(&k, "write '7' to", "/x/cpu.weight", "now '42'");
	PLAN_HAS(&k, "original cpu.max and cpu.weight");
	assert_false(plan_has(&k, "worker", (const char *)NULL));
	fake_teardown(&k);

	/* a quota with workers: the default count follows the new quota */
	fake_setup(&k, "max 100000\n", NULL);
	assert_int_equal(fake_plan(&k, with_load), 0);
	PLAN_HAS(&k, "start 1 worker process ", "80% of one CPU", "--quota");
	fake_teardown(&k);
}

static void test_plan_beside(void **state)
{
	static const char *const beside[] = { "placement=beside", NULL };
	static const char *const three[] = { "placement=beside", "workers=3", "load=25", NULL };
	struct fake k;

	(void)state;
	/* the target's quota does not bound a neighbour: one per CPU of its cpuset */
	fake_setup(&k, "50000 100000\n", "2-3\n");
	assert_int_equal(fake_plan(&k, beside), 0);
	PLAN_HAS(&k, "start 2 worker processes", "the 2 CPUs the target may run on, 2-3");
	PLAN_HAS(&k, "create cgroup", "beside the target");
	PLAN_HAS(&k, "pin them to CPUs 2-3", "/x)");
	assert_false(plan_has(&k, "/x/duress-cpu-", (const char *)NULL));
	fake_teardown(&k);

	/* no cpuset on the target: its parent's (here the mount's) */
	fake_setup(&k, "max 100000\n", NULL);
	assert_int_equal(fake_plan(&k, three), 0);
	PLAN_HAS(&k, "start 3 worker processes", "25% of one CPU", "0.75 CPUs in all");
	PLAN_HAS(&k, "pin them to CPUs 0-3");
	fake_teardown(&k);
}

static void test_supported(void **state)
{
	static const char *const quota[] = { "quota=0.5", NULL };
	static const char *const weight[] = { "weight=5", NULL };
	struct fake k;

	(void)state;
	/* no cpu.max: the cpu controller is not enabled for the target */
	fake_setup(&k, NULL, NULL);
	assert_int_equal(fake_plan(&k, quota), DURESS_EXIT_UNSUPPORTED);
	fake_teardown(&k);
	fake_setup(&k, NULL, NULL);
	assert_int_equal(fake_plan(&k, weight), 0);
	fake_teardown(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quota_format),
		cmocka_unit_test(test_default_workers),
		cmocka_unit_test(test_cpu_list),
		cmocka_unit_test(test_duty_exact),
		cmocka_unit_test(test_duty_converges),
		cmocka_unit_test(test_duty_carry_bounded),
		cmocka_unit_test(test_chunk_adapt),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_plan_default_workers),
		cmocka_unit_test(test_plan_limits_only),
		cmocka_unit_test(test_plan_beside),
		cmocka_unit_test(test_supported),
	};

	return cmocka_run_group_tests(tests, NULL, remove_fake_live);
}
