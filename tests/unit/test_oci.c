// SPDX-License-Identifier: MIT
/*
 * Containers of an OCI runtime: state parsing, the scan of state roots
 * (start time checked, created and stale ones skipped, namespace levels),
 * container_find by exact name and prefix, and the cgroup-view helpers.
 * The "containers" here are this test process, described by state files.
 */
#include <duress/targets/container.h>
#include <duress/targets/oci.h>
#include <duress/session/recover.h>
#include <duress/core/proc.h>
#include <duress/core/cgroup.h>
#include <duress/targets/cgview.h>
#include <duress/core/exitcode.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>
#include <duress/core/undo_journal.h>

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

static char base[256];
static unsigned long long self_start;
static char self_rel[PATH_MAX];

static void make_state(const char *root, const char *id, const char *file, const char *text)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s", root, id);
	assert_int_equal(mkdir(dir, 0700) == 0 || errno == EEXIST, 1);
	fx_put(dir, file, text);
}

static void test_parse_state(void **state)
{
	struct duress_err err = { 0 };
	unsigned long long start = 0;
	pid_t pid = 0;

	(void)state;
	assert_int_equal(oci_parse_state("{\"init_process_pid\": 183, \"init_process_start\": 906, "
					 "\"created\": \"2026-11-27T00:54:25Z\"}",
					 OCI_FORMAT_RUNC, &pid, &start, &err),
			 0);
	assert_int_equal(pid, 183);
	assert_int_equal(start, 906);
	/* crun 1.8's status file, as written by crun itself. */
	assert_int_equal(oci_parse_state("{\n    \"pid\": 163,\n    \"process-start-time\": 745,\n"
					 "    \"cgroup-path\": \"/ocitest/c1\",\n"
					 "    \"detached\": true\n}\n",
					 OCI_FORMAT_CRUN, &pid, &start, &err),
			 0);
	assert_int_equal(pid, 163);
	assert_int_equal(start, 745);
	assert_int_equal(oci_parse_state("{\"pid\": \"42\", \"process-start-time\": \"7\"}",
					 OCI_FORMAT_CRUN, &pid, &start, &err),
			 0);
	assert_int_equal(pid, 42);

	assert_int_equal(oci_parse_state("not json", OCI_FORMAT_RUNC, &pid, &start, &err), -1);
	assert_non_null(strstr(err.msg, "state.json: not a JSON object"));
	assert_int_equal(oci_parse_state("{\"pid\": 0, \"process-start-time\": 1}", OCI_FORMAT_CRUN,
					 &pid, &start, &err),
			 -1);
	assert_non_null(strstr(err.msg, "status: no positive \"pid\""));
	assert_int_equal(oci_parse_state("{\"init_process_pid\": 5}", OCI_FORMAT_RUNC, &pid, &start,
					 &err),
			 -1);
	assert_non_null(strstr(err.msg, "no \"init_process_start\""));
}

static void test_rel_helpers(void **state)
{
	pid_t pid = 0;
	unsigned long long start = 0;
	char dir[PATH_MAX];

	(void)state;
	assert_true(cg_rel_outside("/.."));
	assert_true(cg_rel_outside("/../app"));
	assert_true(cg_rel_outside("/../../kubepods/pod1/x"));
	assert_false(cg_rel_outside("/"));
	assert_false(cg_rel_outside("/..x"));
	assert_false(cg_rel_outside("/a/.."));
	assert_true(cg_rel_only_up("/.."));
	assert_true(cg_rel_only_up("/../.."));
	assert_false(cg_rel_only_up("/../app"));
	assert_false(cg_rel_only_up("/"));

	assert_int_equal(cg_view_parse("/run/duress/cgns", "/run/duress/cgns/123-456/memory.max",
				       &pid, &start, dir, sizeof(dir)),
			 1);
	assert_int_equal(pid, 123);
	assert_int_equal(start, 456);
	assert_string_equal(dir, "/run/duress/cgns/123-456");
	assert_int_equal(cg_view_parse("/run/duress/cgns/", "/run/duress/cgns/9-1", &pid, &start,
				       dir, sizeof(dir)),
			 1);
	assert_string_equal(dir, "/run/duress/cgns/9-1");
	assert_int_equal(cg_view_parse("/run/duress/cgns", "/sys/fs/cgroup/x", NULL, NULL, NULL, 0),
			 0);
	assert_int_equal(
		cg_view_parse("/run/duress/cgns", "/run/duress/cgnsX/1-2", NULL, NULL, NULL, 0), 0);
	assert_int_equal(cg_view_parse("/run/duress/cgns", "/run/duress/cgns/abc-2", NULL, NULL,
				       NULL, 0),
			 0);
	assert_int_equal(
		cg_view_parse("/run/duress/cgns", "/run/duress/cgns/12-", NULL, NULL, NULL, 0), 0);
	/* Not a view path: nothing to do, even with no such mount. */
	{
		struct duress_err err = { 0 };

		assert_int_equal(cg_view_ensure("/sys/fs/cgroup/x", &err), 0);
	}
}

/* A view a dead agent mounted in a namespace that died with it is an empty
 * directory here: a replay removes it, and nothing that is not a view. */
static void test_view_remove(void **state)
{
	char dir[] = "/tmp/duress-test-cgns-XXXXXX", view[PATH_MAX], other[PATH_MAX];
	char path[PATH_MAX + 32];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("DURESS_CGNS_DIR", dir, 1);
	snprintf(view, sizeof(view), "%s/4242-99", dir);
	snprintf(other, sizeof(other), "%s/not-a-view", dir);
	assert_int_equal(mkdir(view, 0700), 0);
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(path, sizeof(path), "%s/app/memory.max", view);
	cg_view_remove(path);
	assert_int_equal(stat(view, &st), -1);
	assert_int_equal(errno, ENOENT);
	snprintf(path, sizeof(path), "%s/memory.max", other);
	cg_view_remove(path);
	cg_view_remove("/sys/fs/cgroup/app/memory.max");
	assert_int_equal(stat(other, &st), 0);
	unsetenv("DURESS_CGNS_DIR");
	fx_rm_tree(dir);
}

/* One journal line as the agent writes it: "<crc32> <body>\n". */
static void journal_line(FILE *f, const char *body)
{
	fprintf(f, "%08x %s\n", (unsigned)undo_journal_crc32(body, strlen(body)), body);
}

/* The guardian of a sidecar agent reverted every step (each marked DONE)
 * and was killed before it removed the view and the journal: the next
 * replay reverts nothing, and still removes the view before the journal. */
static void test_replay_done_journal_removes_view(void **state)
{
	char dir[] = "/tmp/duress-test-replay-XXXXXX", cgns[PATH_MAX], view[PATH_MAX + 16];
	char jdir[PATH_MAX], jpath[PATH_MAX + 16], body[2 * PATH_MAX];
	struct recover_report rep = { 0 };
	struct duress_err err = { 0 };
	struct stat st;
	FILE *f, *out;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cgns, sizeof(cgns), "%s/cgns", dir);
	snprintf(view, sizeof(view), "%s/1-4242", cgns);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	snprintf(jpath, sizeof(jpath), "%s/77.undo", jdir);
	assert_int_equal(mkdir(cgns, 0700), 0);
	assert_int_equal(mkdir(view, 0700), 0);
	assert_int_equal(mkdir(jdir, 0700), 0);
	setenv("DURESS_CGNS_DIR", cgns, 1);
	f = fopen(jpath, "w");
	assert_non_null(f);
	journal_line(f, "0 BEGIN pid=77 start=1 cmd=inject%20memory");
	snprintf(body, sizeof(body), "1 ADD 0 cgroup-write memory %s memory.max 943718400", view);
	journal_line(f, body);
	journal_line(f, "1000000001 DONE 0");
	assert_int_equal(fclose(f), 0);

	out = fopen("/dev/null", "w");
	assert_non_null(out);
	assert_int_equal(recover_all(dir, NULL, false, false, out, &rep, &err), 0);
	fclose(out);
	assert_int_equal(rep.journals, 1);
	assert_int_equal(rep.reverted, 0);
	assert_int_equal(stat(view, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(stat(jpath, &st), -1);
	assert_int_equal(errno, ENOENT);
	unsetenv("DURESS_CGNS_DIR");
	fx_rm_tree(dir);
}

/* Two roots: r1 (runc layout with a namespace level under it, as
 * containerd's) and r2 (crun). */
static int roots_setup(void **state)
{
	char r1[300], r2[300], ns[PATH_MAX], good[256], crun[256], stale[256];
	char env[2 * PATH_MAX + 2];
	struct duress_err err = { 0 };

	(void)state;
	snprintf(base, sizeof(base), "/tmp/duress-test-oci-XXXXXX");
	if (!mkdtemp(base))
		return -1;
	if (proc_starttime(getpid(), &self_start) < 0 ||
	    cg_of_pid(getpid(), self_rel, sizeof(self_rel), &err) < 0)
		self_rel[0] = '\0';
	snprintf(r1, sizeof(r1), "%s/runc", base);
	snprintf(r2, sizeof(r2), "%s/crun", base);
	snprintf(ns, sizeof(ns), "%s/k8s.io", r1);
	mkdir(r1, 0700);
	mkdir(r2, 0700);
	mkdir(ns, 0700);
	snprintf(good, sizeof(good), "{\"init_process_pid\": %d, \"init_process_start\": %llu}",
		 (int)getpid(), self_start);
	snprintf(crun, sizeof(crun), "{\"pid\": %d, \"process-start-time\": %llu}", (int)getpid(),
		 self_start);
	/* A start time no process has: self_start + 1 was the next tick, when
	 * a process started right after this one (a pipe's reader) matched
	 * it by start time (find_by_start) and the stale entry counted. */
	snprintf(stale, sizeof(stale), "{\"init_process_pid\": %d, \"init_process_start\": %llu}",
		 (int)getpid(), self_start + (1ULL << 50));
	make_state(r1, "web", "state.json", good);
	make_state(r1, "web2", "state.json", good);
	make_state(ns, "ctr-db", "state.json", good);
	make_state(r2, "Cache-1", "status", crun);
	make_state(r1, "stale", "state.json", stale);
	make_state(r1, "created", "state.json", good);
	make_state(r1, "created", "exec.fifo", "");
	make_state(r1, "broken", "state.json", "{");
	/* A cgroup2 "mount" with no cgroup-named container. */
	fx_put(base, "cgroup.procs", "");
	snprintf(env, sizeof(env), "%s:%s", r1, r2);
	setenv("DURESS_OCI_ROOTS", env, 1);
	return 0;
}

static int roots_teardown(void **state)
{
	(void)state;
	fx_rm_tree(base);
	unsetenv("DURESS_OCI_ROOTS");
	return 0;
}

static void test_scan(void **state)
{
	struct container_info *list = NULL;
	struct duress_err err = { 0 };
	size_t n = 0;

	(void)state;
	if (!self_rel[0])
		skip();
	assert_int_equal(oci_scan(&list, &n, &err), 0);
	/* stale (start time differs), created (exec.fifo) and broken are skipped. */
	assert_int_equal(n, 4);
	assert_string_equal(list[0].id, "Cache-1");
	assert_string_equal(list[0].runtime, "crun");
	assert_string_equal(list[1].id, "ctr-db");
	assert_string_equal(list[1].runtime, "runc");
	assert_non_null(strstr(list[1].state, "/runc/k8s.io/ctr-db"));
	assert_string_equal(list[2].id, "web");
	assert_string_equal(list[3].id, "web2");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(list[i].pid, getpid());
		assert_int_equal(list[i].start, self_start);
		assert_string_equal(list[i].rel, self_rel);
	}
	free(list);
}

static void test_find(void **state)
{
	struct cg_root root;
	struct container_info ci;
	struct duress_err err = { 0 };

	(void)state;
	if (!self_rel[0])
		skip();
	memset(&root, 0, sizeof(root));
	snprintf(root.mount, sizeof(root.mount), "%s", base);

	/* Exact name wins over "web2" that it is a prefix of. */
	assert_int_equal(container_find(&root, "web", &ci, &err), 0);
	assert_string_equal(ci.id, "web");
	assert_int_equal(ci.pid, getpid());
	assert_int_equal(container_find(&root, "ctr", &ci, &err), 0);
	assert_string_equal(ci.id, "ctr-db");
	assert_int_equal(container_find(&root, "Cache", &ci, &err), 0);
	assert_string_equal(ci.runtime, "crun");

	/* Names are case-sensitive. */
	assert_int_equal(container_find(&root, "cache", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_non_null(strstr(err.msg, "no container with id prefix 'cache' (4 containers found: "
					"Cache-1 (crun), ctr-db (runc), web (runc), web2 (runc))"));

	duress_err_clear(&err);
	assert_int_equal(container_find(&root, "we", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_non_null(
		strstr(err.msg, "container id prefix 'we' is ambiguous: matches web (runc, "));
	assert_non_null(strstr(err.msg, "/runc/web), web2 (runc, "));

	duress_err_clear(&err);
	assert_int_equal(container_find(&root, "stale", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	duress_err_clear(&err);
	assert_int_equal(container_find(&root, "a/b", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
}

static void test_resolve(void **state)
{
	struct cg_root root;
	struct target_spec spec;
	struct target t;
	struct duress_err err = { 0 };
	char buf[256];

	(void)state;
	if (!self_rel[0] || cg_rel_outside(self_rel))
		skip();
	memset(&root, 0, sizeof(root));
	snprintf(root.mount, sizeof(root.mount), "%s", base);
	/* Our own cgroup must exist in the fake mount. */
	{
		char dir[PATH_MAX * 2];

		snprintf(dir, sizeof(dir), "%s%s", base, strcmp(self_rel, "/") ? self_rel : "");
		for (char *p = dir + strlen(base); *p; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(dir, 0755);
				*p = '/';
			}
		mkdir(dir, 0755);
		fx_put(dir, "cgroup.procs", "");
	}
	assert_int_equal(target_spec_parse("container:ctr-db", &spec, &err), 0);
	target_init(&t);
	assert_int_equal(target_resolve(&root, &spec, &t, &err), 0);
	assert_int_equal(t.kind, TARGET_CONTAINER);
	assert_string_equal(t.id, "ctr-db");
	assert_string_equal(t.runtime, "runc");
	assert_int_equal(t.pid, getpid());
	assert_true(t.pin_pid);
	assert_string_equal(t.rel, self_rel);
	assert_string_equal(t.view, "");
	assert_string_equal(target_describe(&t, buf, sizeof(buf)), "container runc ctr-db");
	/* The init stays the target's process. */
	assert_int_equal(target_refresh_pid(&t, &err), 0);
	assert_int_equal(t.pid, getpid());
	target_release(&t);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_parse_state),
		cmocka_unit_test(test_rel_helpers),
		cmocka_unit_test(test_view_remove),
		cmocka_unit_test(test_replay_done_journal_removes_view),
	};
	const struct CMUnitTest roots[] = {
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_resolve),
	};
	int fails = 0;

	fails += cmocka_run_group_tests_name("oci: pure", pure, NULL, NULL);
	fails +=
		cmocka_run_group_tests_name("oci: state roots", roots, roots_setup, roots_teardown);
	return fails ? 1 : 0;
}
