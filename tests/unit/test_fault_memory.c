// SPDX-License-Identifier: MIT
/*
 * The memory fault: its pure computations (values to write, ramp, restart
 * backoff), its option table and cross-checks, and its plan against a fake
 * cgroup directory (percentages of the target's memory.max, page rounding,
 * guard messages).  Nothing here touches a real cgroup.
 */
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

#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/fault_memory.h>
#include <duress/core/parse.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

#define MiB (1ULL << 20)
#define PAGE 4096ULL

/* ---- pure computations ---- */

static void test_resolve(void **state)
{
	struct duress_err err = { 0 };
	struct size_spec s = { 0 };
	uint64_t v = 0;

	(void)state;
	s.bytes = 64 * MiB;
	assert_int_equal(memory_resolve(&s, 256 * MiB, PAGE, "--max", &v, &err), 0);
	assert_int_equal(v, 64 * MiB);

	/* whole pages, rounded down, as the kernel keeps memory.max */
	s.bytes = 100 * PAGE + 123;
	assert_int_equal(memory_resolve(&s, 256 * MiB, PAGE, "--max", &v, &err), 0);
	assert_int_equal(v, 100 * PAGE);

	s.is_pct = true;
	s.pct = 50;
	assert_int_equal(memory_resolve(&s, 256 * MiB, PAGE, "--hog", &v, &err), 0);
	assert_int_equal(v, 128 * MiB);
	s.pct = 100;
	assert_int_equal(memory_resolve(&s, 900 * MiB, PAGE, "--max", &v, &err), 0);
	assert_int_equal(v, 900 * MiB);
	/* 33% of 1000 pages = 330 pages; half of an odd number of pages, rounded down */
	s.pct = 33;
	assert_int_equal(memory_resolve(&s, 1000 * PAGE, PAGE, "--max", &v, &err), 0);
	assert_int_equal(v, 330 * PAGE);
	s.pct = 50;
	assert_int_equal(memory_resolve(&s, 1001 * PAGE, PAGE, "--max", &v, &err), 0);
	assert_int_equal(v, 500 * PAGE);
	/* 8 GiB of host RAM, 12.5% */
	s.pct = 12.5;
	assert_int_equal(memory_resolve(&s, 8192 * MiB, PAGE, "--high", &v, &err), 0);
	assert_int_equal(v, 1024 * MiB);
}

static void test_resolve_errors(void **state)
{
	struct duress_err err = { 0 };
	struct size_spec s = { .is_pct = true, .pct = 0.001 };
	uint64_t v = 7;

	(void)state;
	/* 0.001% of 256 MiB is 2684 bytes: less than a page */
	assert_int_equal(memory_resolve(&s, 256 * MiB, PAGE, "--high", &v, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "--high"));
	assert_non_null(strstr(err.msg, "less than one page"));
	assert_int_equal(v, 7);

	memset(&err, 0, sizeof(err));
	s.is_pct = false;
	s.bytes = 100;
	assert_int_equal(memory_resolve(&s, 256 * MiB, PAGE, "--hog", &v, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "--hog"));
	assert_int_equal(v, 7);
}

static void test_ramp(void **state)
{
	(void)state;
	/* no ramp: everything at once, from the start */
	assert_int_equal(memory_ramp_bytes(128 * MiB, 0, 0, PAGE), 128 * MiB);
	/* linear */
	assert_int_equal(memory_ramp_bytes(128 * MiB, 0, 10000000, PAGE), 0);
	assert_int_equal(memory_ramp_bytes(128 * MiB, 5000000, 10000000, PAGE), 64 * MiB);
	assert_int_equal(memory_ramp_bytes(128 * MiB, 2500000, 10000000, PAGE), 32 * MiB);
	assert_int_equal(memory_ramp_bytes(128 * MiB, 10000000, 10000000, PAGE), 128 * MiB);
	assert_int_equal(memory_ramp_bytes(128 * MiB, 99000000, 10000000, PAGE), 128 * MiB);
	/* whole pages: 1/3 of 10 pages is 3 pages */
	assert_int_equal(memory_ramp_bytes(10 * PAGE, 1000000, 3000000, PAGE), 3 * PAGE);
	/* large values do not overflow: 1 TiB over an hour, half-way */
	assert_int_equal(memory_ramp_bytes(1ULL << 40, 1800ULL * 1000000, 3600ULL * 1000000, PAGE),
			 1ULL << 39);
	/* monotonic and never above the total */
	for (uint64_t t = 0, last = 0; t <= 3100000; t += 50000) {
		uint64_t b = memory_ramp_bytes(200 * MiB, t, 3000000, PAGE);

		assert_true(b >= last);
		assert_true(b <= 200 * MiB);
		assert_int_equal(b % PAGE, 0);
		last = b;
	}
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(memory_backoff_us(0), 100000);
	assert_int_equal(memory_backoff_us(1), 100000);
	assert_int_equal(memory_backoff_us(2), 200000);
	assert_int_equal(memory_backoff_us(3), 400000);
	assert_int_equal(memory_backoff_us(5), 1600000);
	assert_int_equal(memory_backoff_us(6), 2000000);
	assert_int_equal(memory_backoff_us(1000), 2000000);
	assert_int_equal(memory_backoff_us(~0U), 2000000);
}

/* ---- options and validate ---- */

static void init_fault(struct fault *f)
{
	struct duress_err err = { 0 };

	assert_int_equal(fault_init(f, &fault_memory, &err), 0);
}

static void set_ok(struct fault *f, const char *name, const char *text)
{
	struct duress_err err = { 0 };
	char what[64];
	int idx = fault_opt_index(f->desc, name);

	assert_true(idx >= 0);
	snprintf(what, sizeof(what), "--%s", name);
	if (fault_opt_set(f, idx, text, what, &err) != 0)
		fail_msg("--%s %s: %s", name, text, err.msg);
}

static void set_bad(const char *name, const char *text, const char *needle)
{
	struct duress_err err = { 0 };
	struct fault f;
	char what[64];
	int idx;

	init_fault(&f);
	idx = fault_opt_index(f.desc, name);
	assert_true(idx >= 0);
	snprintf(what, sizeof(what), "--%s", name);
	assert_int_equal(fault_opt_set(&f, idx, text, what, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	if (!strstr(err.msg, needle) || !strstr(err.msg, what))
		fail_msg("--%s %s: message '%s' lacks '%s'", name, text, err.msg, needle);
	fault_free(&f);
}

static void test_option_table(void **state)
{
	static const char *const names[] = { "max", "high", "swap-max", "hog", "ramp", "hog-once" };
	struct fault f;

	(void)state;
	assert_ptr_equal(fault_find("memory"), &fault_memory);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_true(fault_opt_index(&fault_memory, names[i]) >= 0);
	init_fault(&f);
	set_ok(&f, "max", "64M");
	assert_int_equal(fault_opt(&f, "max")->size.bytes, 64 * MiB);
	set_ok(&f, "high", "50%");
	assert_true(fault_opt(&f, "high")->size.is_pct);
	set_ok(&f, "swap-max", "0");
	assert_int_equal(fault_opt(&f, "swap-max")->u, 0);
	set_ok(&f, "hog", "1.5G");
	assert_int_equal(fault_opt(&f, "hog")->size.bytes, 1536 * MiB);
	set_ok(&f, "ramp", "30s");
	assert_int_equal(fault_opt(&f, "ramp")->u, 30000000);
	set_ok(&f, "hog-once", NULL);
	assert_true(fault_opt(&f, "hog-once")->set);
	fault_free(&f);
}

static void test_option_errors(void **state)
{
	(void)state;
	set_bad("max", "-5M", "negative");
	set_bad("max", "150%", "100");
	set_bad("max", "0", "at least");
	set_bad("max", "0%", "more than 0");
	set_bad("max", "12Q", "suffix");
	set_bad("high", "-1", "negative");
	set_bad("high", "101%", "100");
	set_bad("swap-max", "10%", "percentage");
	set_bad("swap-max", "-1G", "negative");
	set_bad("hog", "-200M", "negative");
	set_bad("hog", "0", "at least");
	set_bad("hog", "200%", "100");
	set_bad("ramp", "fast", "duration");
	set_bad("ramp", "-3s", "duration");
}

/* validate() on a fresh fault with options given as name/value pairs. */
static int run_validate(struct duress_err *err, ...)
{
	struct fault f;
	const char *name;
	va_list ap;
	int r;

	init_fault(&f);
	va_start(ap, err);
	while ((name = va_arg(ap, const char *))) {
		const char *val = va_arg(ap, const char *);

		set_ok(&f, name, val);
	}
	va_end(ap);
	r = fault_memory.validate(&f, err);
	fault_free(&f);
	return r;
}

static void expect_invalid(int r, const struct duress_err *err, const char *needle)
{
	assert_int_equal(r, -1);
	assert_int_equal(err->code, DURESS_EXIT_USAGE);
	if (!strstr(err->msg, needle))
		fail_msg("message '%s' lacks '%s'", err->msg, needle);
}

static void test_validate(void **state)
{
	struct duress_err err = { 0 };

	(void)state;
	expect_invalid(run_validate(&err, NULL), &err, "--max, --high, --swap-max, --hog");
	memset(&err, 0, sizeof(err));
	expect_invalid(run_validate(&err, "ramp", "10s", NULL), &err, "--ramp");
	memset(&err, 0, sizeof(err));
	expect_invalid(run_validate(&err, "max", "64M", "ramp", "10s", NULL), &err, "--ramp");
	memset(&err, 0, sizeof(err));
	expect_invalid(run_validate(&err, "high", "64M", "hog-once", NULL, NULL), &err,
		       "--hog-once");
	memset(&err, 0, sizeof(err));
	expect_invalid(run_validate(&err, "hog", "64M", "ramp", "0s", NULL), &err, "--ramp");

	assert_int_equal(run_validate(&err, "max", "64M", NULL), 0);
	assert_int_equal(run_validate(&err, "high", "50%", NULL), 0);
	assert_int_equal(run_validate(&err, "swap-max", "0", NULL), 0);
	assert_int_equal(run_validate(&err, "hog", "50%", NULL), 0);
	assert_int_equal(run_validate(&err, "hog", "200M", "ramp", "5s", "hog-once", NULL, NULL),
			 0);
	assert_int_equal(run_validate(&err, "max", "64M", "high", "48M", "swap-max", "0", "hog",
				      "200M", NULL),
			 0);
}

/* ---- supported and plan, against a fake cgroup directory ---- */

struct fake {
	char mount[256];
	char dir[PATH_MAX];
	struct target t;
	struct undo_log undo;
	struct fault f;
};

/* A target "/app" below a fake mount, with memory files when `memcg`. */
static void fake_setup(struct fake *k, bool memcg, bool swap, const char *max, const char *current)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->mount, sizeof(k->mount), "/tmp/duress-test-memory.XXXXXX");
	assert_non_null(mkdtemp(k->mount));
	snprintf(k->dir, sizeof(k->dir), "%s/app", k->mount);
	assert_int_equal(mkdir(k->dir, 0755), 0);
	fx_put(k->dir, "cgroup.procs", "");
	if (memcg) {
		fx_put(k->dir, "memory.max", max);
		fx_put(k->dir, "memory.high", "max\n");
		fx_put(k->dir, "memory.current", current);
	}
	if (swap)
		fx_put(k->dir, "memory.swap.max", "max\n");
	target_init(&k->t);
	k->t.kind = TARGET_CGROUP;
	snprintf(k->t.dir, sizeof(k->t.dir), "%s", k->dir);
	snprintf(k->t.rel, sizeof(k->t.rel), "/app");
	undo_log_init(&k->undo);
	init_fault(&k->f);
	k->f.target = &k->t;
	k->f.undo = &k->undo;
	k->f.duration_us = 60000000;
}

static void fake_teardown(struct fake *k)
{
	fault_free(&k->f);
	/* plan() changes nothing: the undo log stays empty */
	assert_int_equal(k->undo.n, 0);
	undo_log_free(&k->undo);
	fx_rm_tree(k->mount);
}

/* The plan line that contains every needle, or fail. */
static void expect_plan(const struct fault *f, const char *n1, const char *n2, const char *n3)
{
	for (size_t i = 0; i < f->nplan; i++) {
		const char *l = f->plan[i];

		if (strstr(l, n1) && (!n2 || strstr(l, n2)) && (!n3 || strstr(l, n3)))
			return;
	}
	for (size_t i = 0; i < f->nplan; i++)
		fprintf(stderr, "plan: %s\n", f->plan[i]);
	fail_msg("no plan line with '%s' '%s' '%s'", n1, n2 ? n2 : "", n3 ? n3 : "");
}

static int plan_with(struct fake *k, struct duress_err *err)
{
	if (fault_memory.validate(&k->f, err) < 0 || fault_memory.supported(&k->f, err) < 0)
		return -1;
	return fault_memory.plan(&k->f, err);
}

static void test_plan_percentages(void **state)
{
	struct duress_err err = { 0 };
	char where[PATH_MAX + 64];
	struct fake k;

	(void)state;
	fake_setup(&k, true, true, "268435456\n", "10485760\n");
	set_ok(&k.f, "max", "50%");
	set_ok(&k.f, "high", "40%");
	set_ok(&k.f, "swap-max", "0");
	set_ok(&k.f, "hog", "25%");
	set_ok(&k.f, "ramp", "10s");
	if (plan_with(&k, &err) < 0)
		fail_msg("plan: %s", err.msg);
	/* the base and where it came from */
	snprintf(where, sizeof(where), "memory.max of %s", k.dir);
	expect_plan(&k.f, "percentages are of 256 MiB", where, NULL);
	/* 50% = 128 MiB, 40% of 65536 pages = 26214 pages, 25% = 64 MiB */
	expect_plan(&k.f, "write 134217728 (128 MiB, 50%)", "/app/memory.max", "now '268435456'");
	expect_plan(&k.f, "write 107372544 ", "/app/memory.high", "now 'max'");
	expect_plan(&k.f, "write 0 (0 B)", "/app/memory.swap.max", "now 'max'");
	expect_plan(&k.f, "memory hog", "67108864 (64 MiB, 25%)", "growing linearly over 10s");
	expect_plan(&k.f, "oom_score_adj 1000", "restarted if killed", NULL);
	expect_plan(&k.f, "revert: kill the hog", "/app/duress-memory-", NULL);
	/* nothing written: the files hold their originals */
	{
		char buf[64];
		FILE *fp;

		snprintf(where, sizeof(where), "%s/memory.max", k.dir);
		fp = fopen(where, "r");
		assert_non_null(fp);
		assert_non_null(fgets(buf, sizeof(buf), fp));
		fclose(fp);
		assert_string_equal(buf, "268435456\n");
	}
	fake_teardown(&k);
}

static void test_plan_host_ram_and_notes(void **state)
{
	struct duress_err err = { 0 };
	struct fake k;

	(void)state;
	/* no limit on the target or above: percentages of the host's RAM */
	fake_setup(&k, true, true, "max\n", "0\n");
	set_ok(&k.f, "hog", "10%");
	set_ok(&k.f, "hog-once", NULL);
	if (plan_with(&k, &err) < 0)
		fail_msg("plan: %s", err.msg);
	expect_plan(&k.f, "percentages are of", "host RAM", NULL);
	expect_plan(&k.f, "all at once", "not restarted if killed (--hog-once)", NULL);
	fake_teardown(&k);

	/* a hog above the cap it runs under; a ramp longer than --for */
	fake_setup(&k, true, true, "max\n", "0\n");
	set_ok(&k.f, "max", "64M");
	set_ok(&k.f, "hog", "200M");
	set_ok(&k.f, "ramp", "2m");
	if (plan_with(&k, &err) < 0)
		fail_msg("plan: %s", err.msg);
	expect_plan(&k.f, "larger than the 64 MiB", "OOM kills", NULL);
	expect_plan(&k.f, "--ramp is longer than --for", "100 MiB", NULL);
	fake_teardown(&k);

	/* --max below what the target uses now: allowed (a warning on stderr) */
	fake_setup(&k, true, true, "max\n", "209715200\n");
	set_ok(&k.f, "max", "64M");
	set_ok(&k.f, "high", "32M");
	assert_int_equal(plan_with(&k, &err), 0);
	expect_plan(&k.f, "write 67108864 (64 MiB)", "memory.max", NULL);
	expect_plan(&k.f, "uses 200 MiB now", "throttled", NULL);
	fake_teardown(&k);
}

static void test_plan_errors(void **state)
{
	struct duress_err err = { 0 };
	struct fake k;

	(void)state;
	/* --high not below --max */
	fake_setup(&k, true, true, "max\n", "0\n");
	set_ok(&k.f, "max", "64M");
	set_ok(&k.f, "high", "64M");
	expect_invalid(plan_with(&k, &err), &err, "--high");
	assert_int_equal(k.f.nplan, 0);
	fake_teardown(&k);

	/* a percentage that comes to less than a page */
	memset(&err, 0, sizeof(err));
	fake_setup(&k, true, true, "8192\n", "0\n");
	set_ok(&k.f, "hog", "10%");
	expect_invalid(plan_with(&k, &err), &err, "--hog");
	fake_teardown(&k);
}

static void test_supported(void **state)
{
	struct duress_err err = { 0 };
	struct fake k;

	(void)state;
	/* no memory controller on the target */
	fake_setup(&k, false, false, "", "");
	set_ok(&k.f, "max", "64M");
	assert_int_equal(fault_memory.supported(&k.f, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "memory controller"));
	fake_teardown(&k);

	/* a hog alone needs no memory controller */
	memset(&err, 0, sizeof(err));
	fake_setup(&k, false, false, "", "");
	set_ok(&k.f, "hog", "1M");
	assert_int_equal(fault_memory.supported(&k.f, &err), 0);
	fake_teardown(&k);

	/* memory.swap.max missing: no swap accounting */
	memset(&err, 0, sizeof(err));
	fake_setup(&k, true, false, "max\n", "0\n");
	set_ok(&k.f, "swap-max", "0");
	assert_int_equal(fault_memory.supported(&k.f, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "--swap-max"));
	assert_non_null(strstr(err.msg, "memory.swap.max"));
	fake_teardown(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_resolve_errors),
		cmocka_unit_test(test_ramp),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_option_table),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_plan_percentages),
		cmocka_unit_test(test_plan_host_ram_and_notes),
		cmocka_unit_test(test_plan_errors),
		cmocka_unit_test(test_supported),
	};

	return cmocka_run_group_tests_name("fault_memory", tests, NULL, NULL);
}
