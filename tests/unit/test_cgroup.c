// SPDX-License-Identifier: MIT
/* Parsers of cgroup v2 kernel formats, against literal fixtures, and the
 * file helpers against a temporary directory. */
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

#include "fixture.h"

#include <duress/core/cgroup.h>

static const char cpu_stat[] = "usage_usec 9150734\n"
			       "user_usec 6201932\n"
			       "system_usec 2948802\n"
			       "core_sched.force_idle_usec 0\n"
			       "nr_periods 120\n"
			       "nr_throttled 37\n"
			       "throttled_usec 1840212\n"
			       "nr_bursts 0\n"
			       "burst_usec 0\n";

static const char memory_events[] = "low 0\nhigh 12\nmax 40\noom 2\noom_kill 2\noom_group_kill 0\n";

static void test_keyed(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(cg_parse_keyed(cpu_stat, "usage_usec", &v), 0);
	assert_int_equal(v, 9150734);
	assert_int_equal(cg_parse_keyed(cpu_stat, "nr_throttled", &v), 0);
	assert_int_equal(v, 37);
	assert_int_equal(cg_parse_keyed(cpu_stat, "throttled_usec", &v), 0);
	assert_int_equal(v, 1840212);
	/* a key that is a prefix of another must not match it */
	assert_int_equal(cg_parse_keyed(memory_events, "oom", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(cg_parse_keyed(memory_events, "max", &v), 0);
	assert_int_equal(v, 40);
	assert_int_equal(cg_parse_keyed(memory_events, "oom_group", &v), -1);
	assert_int_equal(cg_parse_keyed(memory_events, "kill", &v), -1);
	assert_int_equal(cg_parse_keyed("", "x", &v), -1);
}

static void test_u64(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(cg_parse_u64("max\n", &v), 0);
	assert_true(v == CG_MAX);
	assert_int_equal(cg_parse_u64("104857600\n", &v), 0);
	assert_int_equal(v, 104857600);
	assert_int_equal(cg_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cg_parse_u64("maxi", &v), -1);
	assert_int_equal(cg_parse_u64("-1", &v), -1);
	assert_int_equal(cg_parse_u64("12 34", &v), -1);
	assert_int_equal(cg_parse_u64("", &v), -1);
}

static void test_pressure(void **state)
{
	static const char memory[] = "some avg10=1.53 avg60=0.40 avg300=0.09 total=5003211\n"
				     "full avg10=75.00 avg60=20.12 avg300=4.50 total=3300100\n";
	static const char cpu_old[] = "some avg10=12.50 avg60=3.00 avg300=1.00 total=42\n";
	struct psi p;

	(void)state;
	assert_int_equal(cg_parse_pressure(memory, &p), 0);
	assert_true(p.some.present && p.full.present);
	assert_true(p.some.avg10 == 1.53);
	assert_true(p.some.avg300 == 0.09);
	assert_int_equal(p.some.total, 5003211);
	assert_true(p.full.avg10 == 75.0);
	assert_true(p.full.avg60 == 20.12);
	assert_int_equal(p.full.total, 3300100);
	/* cpu.pressure on kernels before 5.13 has no "full" line */
	assert_int_equal(cg_parse_pressure(cpu_old, &p), 0);
	assert_true(p.some.present);
	assert_false(p.full.present);
	assert_int_equal(p.some.total, 42);
	assert_int_equal(cg_parse_pressure("garbage\n", &p), -1);
	assert_int_equal(cg_parse_pressure("some avg10=x\n", &p), -1);
}

static void test_io_stat(void **state)
{
	static const char io[] =
		"254:0 rbytes=1048576 wbytes=52428800 rios=256 wios=12800 dbytes=0 dios=0\n"
		"7:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"
		"259:1 rbytes=10 wbytes=20 rios=3 wios=4\n";
	struct io_dev_stat devs[2];
	size_t n = 0;

	(void)state;
	assert_int_equal(cg_parse_io_stat(io, devs, 2, &n), 0);
	assert_int_equal(n, 3); /* counts all, fills what fits */
	assert_int_equal(devs[0].major, 254);
	assert_int_equal(devs[0].minor, 0);
	assert_int_equal(devs[0].rbytes, 1048576);
	assert_int_equal(devs[0].wbytes, 52428800);
	assert_int_equal(devs[0].rios, 256);
	assert_int_equal(devs[0].wios, 12800);
	assert_int_equal(devs[1].major, 7);
	assert_int_equal(devs[1].rbytes, 4096);
	assert_int_equal(cg_parse_io_stat("", devs, 2, &n), 0);
	assert_int_equal(n, 0);
}

static void test_proc_cgroup(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(
		cg_parse_proc_cgroup("0::/system.slice/docker-abc.scope\n", out, sizeof(out)), 0);
	assert_string_equal(out, "/system.slice/docker-abc.scope");
	/* hybrid host: v1 lines first, then the v2 line */
	assert_int_equal(cg_parse_proc_cgroup("12:pids:/user.slice\n"
					      "4:memory:/user.slice\n"
					      "1:name=systemd:/user.slice/session-1.scope\n"
					      "0::/user.slice/session-1.scope\n",
					      out, sizeof(out)),
			 0);
	assert_string_equal(out, "/user.slice/session-1.scope");
	assert_int_equal(cg_parse_proc_cgroup("0::/\n", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(cg_parse_proc_cgroup("0::/gone (deleted)\n", out, sizeof(out)), 0);
	assert_string_equal(out, "/gone");
	/* v1 only: no 0:: line */
	assert_int_equal(cg_parse_proc_cgroup("4:memory:/x\n1:cpu:/x\n", out, sizeof(out)), -1);
	/* too long for the buffer */
	assert_int_equal(cg_parse_proc_cgroup("0::/a/very/long/path\n", out, 8), -1);
}

static char tmpdir[64];

static int make_tree(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/duress-test-cg.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int drop_tree(void **state)
{
	(void)state;
	fx_rm_tree(tmpdir);
	return 0;
}

static void test_files(void **state)
{
	struct duress_err err = { 0 };
	char buf[16];
	char *text = NULL;
	uint64_t v;
	pid_t *pids = NULL;
	size_t n;

	(void)state;
	fx_put(tmpdir, "memory.max", "max\n");
	fx_put(tmpdir, "memory.current", "104857600\n");
	fx_put(tmpdir, "cgroup.procs", "12\n345\n6789\n");
	fx_put(tmpdir, "cgroup.events", "populated 1\nfrozen 0\n");
	fx_put(tmpdir, "memory.bad", "lots\n");
	assert_int_equal(cg_read_u64(tmpdir, "memory.max", &v, &err), 0);
	assert_true(v == CG_MAX);
	assert_int_equal(cg_read_u64(tmpdir, "memory.current", &v, &err), 0);
	assert_int_equal(v, 104857600);
	assert_int_equal(cg_read_u64(tmpdir, "memory.bad", &v, &err), -1);
	assert_non_null(strstr(err.msg, "memory.bad"));
	assert_int_equal(cg_read_u64(tmpdir, "memory.peak", &v, &err), -1);
	assert_non_null(strstr(err.msg, "memory.peak"));
	assert_int_equal(err.errnum, ENOENT);
	/* buffer truncation keeps a NUL */
	assert_int_equal(cg_read_buf(tmpdir, "cgroup.procs", buf, 5, &err), 4);
	assert_string_equal(buf, "12\n3");
	assert_int_equal(cg_read(tmpdir, "cgroup.procs", &text, &err), 12);
	assert_string_equal(text, "12\n345\n6789\n");
	free(text);
	assert_int_equal(cg_procs(tmpdir, &pids, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pids[0], 12);
	assert_int_equal(pids[2], 6789);
	free(pids);
	assert_int_equal(cg_populated(tmpdir, &err), 1);
	assert_int_equal(cg_write(tmpdir, "memory.max", "64M", &err), 0);
	/* a plain file keeps the old tail ("max\n" -> "64M\n"); cgroupfs parses one write */
	assert_int_equal(cg_read_buf(tmpdir, "memory.max", buf, sizeof(buf), &err), 4);
	assert_string_equal(buf, "64M\n");
	assert_int_equal(cg_write(tmpdir, "nope/memory.max", "1", &err), -1);
	assert_non_null(strstr(err.msg, "write '1' to"));
	assert_non_null(strstr(err.msg, "nope/memory.max"));
	assert_true(cg_exists(tmpdir, "memory.max"));
	assert_false(cg_exists(tmpdir, "memory.min"));
}

static void test_root_paths(void **state)
{
	struct duress_err err = { 0 };
	struct cg_root root = { .mount = "/sys/fs/cgroup",
				.controllers = "cpuset cpu io memory pids" };
	char out[128];

	(void)state;
	assert_int_equal(cg_path_join(&root, "/system.slice/x.service/", out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "/sys/fs/cgroup/system.slice/x.service");
	assert_int_equal(cg_path_join(&root, "/", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/sys/fs/cgroup");
	assert_int_equal(cg_path_join(&root, "a", out, 10, &err), -1);
	assert_string_equal(cg_path_rel(&root, "/sys/fs/cgroup/a/b"), "/a/b");
	assert_string_equal(cg_path_rel(&root, "/sys/fs/cgroup"), "/");
	assert_string_equal(cg_path_rel(&root, "/sys/fs/cgroupX/a"), "/sys/fs/cgroupX/a");
	assert_true(cg_root_has(&root, "cpu"));
	assert_true(cg_root_has(&root, "cpuset"));
	assert_false(cg_root_has(&root, "hugetlb"));
	assert_int_equal(cg_root_require(&root, "cpu memory io", &err), 0);
}

static void test_root_require_hybrid(void **state)
{
	struct duress_err err = { 0 };
	struct cg_root root = { .mount = "/sys/fs/cgroup/unified",
				.controllers = "hugetlb",
				.v1_controllers = "cpu cpuacct memory pids blkio",
				.v1_memory_mount = "/sys/fs/cgroup/memory" };

	(void)state;
	assert_int_equal(cg_root_require(&root, "cpu memory io pids", &err), -1);
	assert_int_equal(err.code, 4);
	assert_non_null(strstr(err.msg, "lacks the cpu memory io pids"));
	assert_non_null(strstr(err.msg, "cgroup v1"));
	assert_non_null(strstr(err.msg, "/sys/fs/cgroup/memory"));
	assert_non_null(strstr(err.msg, "vm-run"));
	root.v1_controllers[0] = '\0';
	assert_int_equal(cg_root_require(&root, "memory", &err), -1);
	assert_non_null(strstr(err.msg, "not delegated"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyed),
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_pressure),
		cmocka_unit_test(test_io_stat),
		cmocka_unit_test(test_proc_cgroup),
		cmocka_unit_test_setup_teardown(test_files, make_tree, drop_tree),
		cmocka_unit_test(test_root_paths),
		cmocka_unit_test(test_root_require_hybrid),
	};

	return cmocka_run_group_tests_name("cgroup", tests, NULL, NULL);
}
