// SPDX-License-Identifier: MIT
/*
 * The state directory is trusted only as far as it is checked (issue 12):
 * statedir_open/subdir/file refuse symlinks, other users' directories and
 * files, shared directories, hard links; fix the mode of the agent's own;
 * and a replay refuses journals that are not the agent's or that hold a
 * record no fault writes, touching nothing they name.
 */
#include <duress/core/exitcode.h>
#include <duress/core/proc.h>
#include <duress/core/statedir.h>
#include <duress/core/undo.h>
#include <duress/core/undo_journal.h>
#include <duress/session/recover.h>
#include <duress/targets/cgview.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

#define NOBODY 65534

static char base[64];

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/duress-test-statedir-XXXXXX");
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fx_rm_tree(base);
	return 0;
}

static void path_of(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", base, rel);
}

static void test_open_makes_and_fixes_mode(void **state)
{
	struct duress_err err = { 0 };
	char p[PATH_MAX];
	struct stat st;
	int fd;

	(void)state;
	path_of(p, sizeof(p), "a/b/state");
	fd = statedir_open(p, true, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* an emptyDir-like 0777 directory of ours is made 0700 */
	assert_int_equal(chmod(p, 0777), 0);
	fd = statedir_open(p, false, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_open_refuses(void **state)
{
	struct duress_err err = { 0 };
	char p[256], q[256], r[512];

	(void)state;
	/* a symlink as the state directory */
	path_of(p, sizeof(p), "real");
	path_of(q, sizeof(q), "link");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(symlink(p, q), 0);
	assert_true(statedir_open(q, true, &err) < 0);
	assert_int_equal(err.code, DURESS_EXIT_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "symbolic link"));
	/* a symlink on the way */
	duress_err_clear(&err);
	snprintf(r, sizeof(r), "%s/sub", q);
	assert_true(statedir_open(r, true, &err) < 0);
	/* another user's directory */
	duress_err_clear(&err);
	path_of(p, sizeof(p), "theirs");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chown(p, NOBODY, NOBODY), 0);
	assert_true(statedir_open(p, false, &err) < 0);
	assert_non_null(strstr(err.msg, "owned by uid"));
	/* below a directory others may write (not sticky) */
	duress_err_clear(&err);
	path_of(p, sizeof(p), "shared");
	assert_int_equal(mkdir(p, 0777), 0);
	assert_int_equal(chmod(p, 0777), 0);
	path_of(q, sizeof(q), "shared/state");
	assert_true(statedir_open(q, true, &err) < 0);
	assert_non_null(strstr(err.msg, "writable by group or others"));
	/* but a sticky one (/tmp) is fine */
	duress_err_clear(&err);
	assert_int_equal(chmod(p, 01777), 0);
	{
		int fd = statedir_open(q, true, &err);

		assert_true(fd >= 0);
		close(fd);
	}
	/* relative paths and .. */
	assert_true(statedir_open("relative/state", true, &err) < 0);
	path_of(p, sizeof(p), "real/../real");
	assert_true(statedir_open(p, false, &err) < 0);
}

static void test_file_checks(void **state)
{
	struct duress_err err = { 0 };
	char dir[256], p[512], victim[256];
	int dfd, fd;

	(void)state;
	path_of(dir, sizeof(dir), "files");
	dfd = statedir_open(dir, true, &err);
	assert_true(dfd >= 0);
	path_of(victim, sizeof(victim), "victim");
	fx_put(base, "victim", "precious\n");
	/* a lock file planted as a symlink: refused, the target untouched */
	snprintf(p, sizeof(p), "%s/x.lock", dir);
	assert_int_equal(symlink(victim, p), 0);
	assert_true(statedir_file(dfd, "x.lock", O_RDWR | O_CREAT, 0600, &err) < 0);
	/* a hard link to another file */
	snprintf(p, sizeof(p), "%s/y.lock", dir);
	assert_int_equal(link(victim, p), 0);
	duress_err_clear(&err);
	assert_true(statedir_file(dfd, "y.lock", O_RDWR, 0600, &err) < 0);
	assert_non_null(strstr(err.msg, "hard links"));
	/* another user's file */
	fx_put(dir, "z.lock", "");
	snprintf(p, sizeof(p), "%s/z.lock", dir);
	assert_int_equal(chown(p, NOBODY, NOBODY), 0);
	duress_err_clear(&err);
	assert_true(statedir_file(dfd, "z.lock", O_RDWR, 0600, &err) < 0);
	/* a FIFO with no writer: refused, without blocking in open() (it is
	 * opened O_RDONLY here, which would block) */
	snprintf(p, sizeof(p), "%s/f.lock", dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	duress_err_clear(&err);
	assert_true(statedir_file(dfd, "f.lock", O_RDONLY, 0600, &err) < 0);
	assert_non_null(strstr(err.msg, "not a regular file"));
	/* a device: never opened */
	snprintf(p, sizeof(p), "%s/d.lock", dir);
	assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(1, 3)), 0);
	duress_err_clear(&err);
	assert_true(statedir_file(dfd, "d.lock", O_RDWR | O_CREAT, 0600, &err) < 0);
	assert_non_null(strstr(err.msg, "not a regular file"));
	/* our own is fine, made new or found */
	fd = statedir_file(dfd, "ok.lock", O_RDWR | O_CREAT, 0600, &err);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	fd = statedir_file(dfd, "ok.lock", O_RDWR | O_CREAT, 0600, &err);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "y", 1), 1);
	close(fd);
	close(dfd);
	{
		char buf[32] = "";
		FILE *f = fopen(victim, "r");

		assert_non_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		assert_string_equal(buf, "precious\n");
	}
}

/* One journal line as the agent writes it. */
static void line(FILE *f, const char *body)
{
	fprintf(f, "%08x %s\n", (unsigned)undo_journal_crc32(body, strlen(body)), body);
}

static void write_journal(const char *path, const char *const *bodies)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	line(f, "0 BEGIN pid=999999 start=1 cmd=planted");
	for (size_t i = 0; bodies[i]; i++)
		line(f, bodies[i]);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

static size_t replay_all(const char *state, struct recover_report *rep)
{
	struct duress_err err = { 0 };
	FILE *out = fopen("/dev/null", "w");

	assert_non_null(out);
	recover_all(state, NULL, false, false, out, rep, &err);
	fclose(out);
	return rep->journals;
}

static void test_replay_refuses_planted(void **state)
{
	char st[256], jdir[512], j[600], victim[256], body[1024];
	struct recover_report rep = { 0 };
	struct duress_err err = { 0 };
	struct stat sb;
	int fd;

	(void)state;
	path_of(st, sizeof(st), "state");
	fd = statedir_open(st, true, &err);
	assert_true(fd >= 0);
	close(fd);
	snprintf(jdir, sizeof(jdir), "%s/journal", st);
	assert_int_equal(mkdir(jdir, 0700), 0);
	fx_put(base, "victim", "precious\n");
	path_of(victim, sizeof(victim), "victim");

	/* a write to a file no fault writes, outside any cgroup */
	snprintf(j, sizeof(j), "%s/1.undo", jdir);
	snprintf(body, sizeof(body), "1 ADD 0 cgroup-write memory %s victim pwned", base);
	write_journal(j, (const char *const[]){ body, NULL });
	/* an allowed file name, but not on a cgroup2 filesystem */
	snprintf(j, sizeof(j), "%s/2.undo", jdir);
	snprintf(body, sizeof(body), "1 ADD 0 cgroup-write memory %s memory.max 1", base);
	write_journal(j, (const char *const[]){ body, NULL });
	/* remove a cgroup the agent did not make */
	snprintf(j, sizeof(j), "%s/3.undo", jdir);
	write_journal(j,
		      (const char *const[]){
			      "1 ADD 0 cgroup-remove cpu /sys/fs/cgroup/system.slice % %", NULL });
	/* a link that is not one of the agent's ifb devices */
	snprintf(j, sizeof(j), "%s/4.undo", jdir);
	write_journal(j, (const char *const[]){
				 "1 ADD 0 link network /proc/1/ns/net@4026531840 eth0 ifb", NULL });
	/* a journal of another user: not even read */
	snprintf(j, sizeof(j), "%s/5.undo", jdir);
	snprintf(body, sizeof(body), "1 ADD 0 cgroup-write memory %s victim pwned", base);
	write_journal(j, (const char *const[]){ body, NULL });
	assert_int_equal(chown(j, NOBODY, NOBODY), 0);
	/* a journal as a symlink to another file */
	snprintf(j, sizeof(j), "%s/6.undo", jdir);
	assert_int_equal(symlink(victim, j), 0);

	replay_all(st, &rep);
	assert_int_equal(rep.journals, 0);
	assert_int_equal(rep.reverted, 0);
	assert_int_equal(rep.refused, 6); /* the symlink too: never opened */
	/* nothing they name was touched */
	{
		char buf[32] = "";
		FILE *f = fopen(victim, "r");

		assert_non_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		assert_string_equal(buf, "precious\n");
	}
	/* ours but refused: kept aside, not replayed again */
	snprintf(j, sizeof(j), "%s/1.undo.refused", jdir);
	assert_int_equal(stat(j, &sb), 0);
	snprintf(j, sizeof(j), "%s/1.undo", jdir);
	assert_int_equal(stat(j, &sb), -1);
	/* another user's is left where it is */
	snprintf(j, sizeof(j), "%s/5.undo", jdir);
	assert_int_equal(stat(j, &sb), 0);
}

/* A helper step names a process that is not one of the agent's (with the
 * right pid and start time): the replay leaves it alone.  A plain kill
 * step (no fault records one) is refused, its journal never replayed. */
static void test_replay_kills_only_the_agents(void **state)
{
	char st[256], jdir[512], j[600], body[256];
	struct recover_report rep = { 0 };
	struct duress_err err = { 0 };
	unsigned long long start;
	int status, fd;
	pid_t child;

	(void)state;
	path_of(st, sizeof(st), "killstate");
	fd = statedir_open(st, true, &err);
	assert_true(fd >= 0);
	close(fd);
	snprintf(jdir, sizeof(jdir), "%s/journal", st);
	assert_int_equal(mkdir(jdir, 0700), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	/* its start time once it is sleep */
	for (int i = 0; i < 200; i++) {
		char comm[64] = "";
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)child);
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) && !strncmp(comm, "sleep", 5)) {
			fclose(f);
			break;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	assert_int_equal(proc_starttime(child, &start), 0);
	snprintf(j, sizeof(j), "%s/7.undo", jdir);
	snprintf(body, sizeof(body), "1 ADD 0 helper http %d %llu duress-http", (int)child, start);
	write_journal(j, (const char *const[]){ body, NULL });
	snprintf(j, sizeof(j), "%s/8.undo", jdir);
	snprintf(body, sizeof(body), "1 ADD 0 kill helper %d %llu %%", (int)child, start);
	write_journal(j, (const char *const[]){ body, NULL });
	replay_all(st, &rep);
	assert_int_equal(rep.journals, 1);
	assert_int_equal(rep.refused, 1);
	assert_int_equal(waitpid(child, &status, WNOHANG), 0); /* still alive */
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
}

/* A view named in a journal is unmounted and removed through the checked
 * view base: a base planted as a symlink to a directory holding a mount
 * named like a view leaves that mount and directory alone; a real view (a
 * cgroup2 mount, where the kernel has one) is unmounted and removed. */
static void test_view_remove_never_through_symlinks(void **state)
{
	char views[256], other[256], link[256], mnt[300], path[320];
	struct statfs sf;

	(void)state;
	path_of(other, sizeof(other), "other");
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(mnt, sizeof(mnt), "%s/1-1", other);
	assert_int_equal(mkdir(mnt, 0700), 0);
	assert_int_equal(mount("canary", mnt, "tmpfs", 0, "size=64k"), 0);
	path_of(link, sizeof(link), "cgns");
	assert_int_equal(symlink(other, link), 0);
	setenv("DURESS_CGNS_DIR", link, 1);
	snprintf(path, sizeof(path), "%s/1-1/sub", link);
	assert_int_equal(cg_view_remove(path), -1); /* kept: the base is a symlink */
	assert_int_equal(statfs(mnt, &sf), 0);
	assert_int_equal(sf.f_type, TMPFS_MAGIC); /* still mounted */
	/* a tmpfs under a real base: not a view, removed only if empty */
	path_of(views, sizeof(views), "views");
	assert_int_equal(mkdir(views, 0700), 0);
	setenv("DURESS_CGNS_DIR", views, 1);
	snprintf(mnt, sizeof(mnt), "%s/2-2", views);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("cgroup2", mnt, "cgroup2", 0, NULL) == 0) {
		snprintf(path, sizeof(path), "%s/2-2/x", views);
		assert_int_equal(cg_view_remove(path), 0);
		assert_int_equal(access(mnt, F_OK), -1); /* unmounted and removed */
	}
	unsetenv("DURESS_CGNS_DIR");
	snprintf(mnt, sizeof(mnt), "%s/1-1", other);
	assert_int_equal(umount(mnt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_makes_and_fixes_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_refuses_planted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_kills_only_the_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_remove_never_through_symlinks, setup,
						teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_statedir: needs root (chown); skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
