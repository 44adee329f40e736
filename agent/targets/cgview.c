// SPDX-License-Identifier: MIT
/*
 * Cgroup-namespace views (cgview.h, docs/containers.md).
 *
 * The order of the steps matters: the cgroup2 mount is made while in the
 * target's cgroup namespace (so its root is that namespace's root and the
 * target is visible below it), and every interface file is opened after
 * going back to the agent's own namespace, because with nsdelegate the
 * kernel refuses writes to a namespace root's files from inside it.
 */
#include <duress/core/proc.h>
#include <duress/core/cgroup.h>
#include <duress/targets/cgview.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/statedir.h>
#include <duress/core/parse.h>
#include <duress/core/undo.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define MAX_VIEWS 16

static bool mntns_private;
static bool atexit_set;
static size_t nviews;
static struct {
	char dir[PATH_MAX];
	pid_t maker; /* the process that mounted it: only it cleans up */
} views[MAX_VIEWS];

const char *cg_view_base(void)
{
	static char buf[PATH_MAX];
	const char *env = getenv("DURESS_CGNS_DIR");
	const char *state = getenv("DURESS_STATE_DIR");

	if (env && *env)
		return env;
	if (state && *state && (size_t)snprintf(buf, sizeof(buf), "%s/cgns", state) < sizeof(buf))
		return buf;
	return CGVIEW_BASE_DEFAULT;
}

bool cg_rel_outside(const char *rel)
{
	return !strncmp(rel, "/..", 3) && (rel[3] == '\0' || rel[3] == '/');
}

bool cg_rel_only_up(const char *rel)
{
	const char *p = rel;

	if (!cg_rel_outside(rel))
		return false;
	for (size_t len; path_next(&p, &len); p += len)
		if (len != 2 || p[0] != '.' || p[1] != '.')
			return false;
	return true;
}

int cg_view_parse(const char *base, const char *path, pid_t *pid, unsigned long long *start,
		  char *dir, size_t dirlen)
{
	size_t bl = strlen(base), cl;
	const char *comp;
	char name[64], *end;
	long p;

	while (bl > 1 && base[bl - 1] == '/')
		bl--;
	if (strncmp(path, base, bl) || path[bl] != '/')
		return 0;
	comp = path + bl + 1;
	cl = strcspn(comp, "/");
	if (cl == 0 || cl >= sizeof(name))
		return 0;
	memcpy(name, comp, cl);
	name[cl] = '\0';
	errno = 0;
	p = strtol(name, &end, 10);
	if (end == name || *end != '-' || p <= 0 || p > INT_MAX || errno)
		return 0;
	if (pid)
		*pid = (pid_t)p;
	errno = 0;
	{
		const char *s = end + 1;
		unsigned long long st = strtoull(s, &end, 10);

		if (end == s || *end || errno)
			return 0;
		if (start)
			*start = st;
	}
	if (dir && (size_t)snprintf(dir, dirlen, "%.*s/%s", (int)bl, base, name) >= dirlen)
		return 0;
	return 1;
}

static bool is_cgroup2_mount(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* Unmount (if it is a cgroup2 mount) and remove the view directory dir,
 * base/<name>: through the checked view base, never a path, so that a
 * symlink planted for the base or the view cannot lead the unmount or the
 * removal to a mount or a directory elsewhere.  0, or -1 if it is still
 * there (or the base cannot be trusted). */
static int view_unmount_rm(const char *dir)
{
	struct duress_err e = { 0 };
	char at[PATH_MAX + 64];
	cleanup_close int bfd = -1;
	cleanup_close int vfd = -1;
	const char *name = strrchr(dir, '/') + 1;
	struct statfs sf;

	bfd = statedir_open(cg_view_base(), false, &e);
	if (bfd < 0)
		return e.errnum == ENOENT ? 0 : -1;
	vfd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0)
		return errno == ENOENT ? 0 : -1;
	snprintf(at, sizeof(at), "/proc/self/fd/%d/%s", bfd, name);
	if (fstatfs(vfd, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		umount2(at, MNT_DETACH | UMOUNT_NOFOLLOW);
	if (unlinkat(bfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

void cg_views_release(void)
{
	size_t kept = 0;

	for (size_t i = 0; i < nviews; i++) {
		if (views[i].maker != getpid()) {
			views[kept++] = views[i];
			continue;
		}
		(void)view_unmount_rm(views[i].dir);
	}
	nviews = kept;
}

int cg_view_remove(const char *path)
{
	char dir[PATH_MAX];
	size_t kept = 0;
	int rc;

	if (!cg_view_parse(cg_view_base(), path, NULL, NULL, dir, sizeof(dir)))
		return 0;
	rc = view_unmount_rm(dir);
	for (size_t i = 0; i < nviews; i++)
		if (strcmp(views[i].dir, dir))
			views[kept++] = views[i];
	nviews = kept;
	return rc;
}

static void views_cleanup(void)
{
	cg_views_release();
}

static void view_note(const char *dir)
{
	for (size_t i = 0; i < nviews; i++)
		if (!strcmp(views[i].dir, dir) && views[i].maker == getpid())
			return;
	if (nviews == MAX_VIEWS)
		return;
	snprintf(views[nviews].dir, sizeof(views[nviews].dir), "%s", dir);
	views[nviews].maker = getpid();
	nviews++;
	if (!atexit_set) {
		atexit(views_cleanup);
		atexit_set = true;
	}
}

/* The view directory base/<pid>-<start>, made (0700) through the checked
 * state directory (statedir.h): its fd, what the mount goes on, so that no
 * symlink planted in a path can move the mount elsewhere. */
static int view_mkdir(const char *path, struct duress_err *err)
{
	const char *base = cg_view_base(), *name = strrchr(path, '/') + 1;
	cleanup_close int bfd = statedir_open(base, true, err);
	int fd;

	if (bfd < 0)
		return duress_err_wrap(err, "cgroup view %s", path);
	fd = statedir_subdir(bfd, name, true, err);
	if (fd < 0)
		return duress_err_wrap(err, "cgroup view %s", path);
	return fd;
}

/* The agent's own mount namespace, private, so that the views it mounts
 * show up nowhere else. */
static int private_mntns(struct duress_err *err)
{
	if (mntns_private)
		return 0;
	if (unshare(CLONE_NEWNS) < 0)
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, errno,
				       "cgroup view: unshare(CLONE_NEWNS) (needs CAP_SYS_ADMIN, "
				       "and seccomp/AppArmor must allow unshare)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return duress_err_setc(
			err, DURESS_EXIT_NO_TARGET, errno,
			"cgroup view: make the mounts private (mount / MS_REC|MS_PRIVATE)");
	mntns_private = true;
	return 0;
}

/* setns into pid's cgroup namespace, mount cgroup2 at dir (unless it is
 * already), read pid's cgroup there into rel (if rel), setns back. */
static int view_mount(pid_t pid, const char *dir, int dirfd, char *rel, size_t rellen,
		      struct duress_err *err)
{
	cleanup_close int own = -1, tns = -1;
	char path[64], at[64];
	int ret = 0;

	own = open("/proc/self/ns/cgroup", O_RDONLY | O_CLOEXEC);
	if (own < 0)
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, errno,
				       "cgroup view: open /proc/self/ns/cgroup");
	snprintf(path, sizeof(path), "/proc/%d/ns/cgroup", (int)pid);
	tns = open(path, O_RDONLY | O_CLOEXEC);
	if (tns < 0)
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, errno,
				       "cgroup view: open %s (needs CAP_SYS_PTRACE for another "
				       "user's process)",
				       path);
	if (setns(tns, CLONE_NEWCGROUP) < 0)
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, errno,
				       "cgroup view: setns into the cgroup namespace of pid %d "
				       "(needs CAP_SYS_ADMIN)",
				       (int)pid);
	snprintf(at, sizeof(at), "/proc/self/fd/%d", dirfd);
	if (!is_cgroup2_mount(dir) &&
	    mount("cgroup2", at, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		ret = duress_err_setc(err, DURESS_EXIT_NO_TARGET, errno,
				      "cgroup view: mount cgroup2 at %s (needs CAP_SYS_ADMIN; "
				      "AppArmor must allow mounting cgroup2)",
				      dir);
	if (ret == 0 && rel && cg_of_pid(pid, rel, rellen, err) < 0)
		ret = duress_err_wrap(err, "cgroup view");
	/* Back to our own namespace before any interface file is opened. */
	if (setns(own, CLONE_NEWCGROUP) < 0)
		return duress_err_setc(
			err, DURESS_EXIT_INTERNAL, errno,
			"cgroup view: setns back to the agent's own cgroup namespace");
	return ret;
}

int cg_view_for_pid(pid_t pid, char *dir, size_t dirlen, char *rel, size_t rellen,
		    struct duress_err *err)
{
	unsigned long long start;
	cleanup_close int vfd = -1;

	if (proc_starttime(pid, &start) < 0)
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, ESRCH,
				       "cgroup view: no process %d", (int)pid);
	if ((size_t)snprintf(dir, dirlen, "%s/%d-%llu", cg_view_base(), (int)pid, start) >= dirlen)
		return duress_err_set(err, ENAMETOOLONG, "cgroup view: %s", cg_view_base());
	if (private_mntns(err) < 0 || (vfd = view_mkdir(dir, err)) < 0)
		return -1;
	view_note(dir);
	if (view_mount(pid, dir, vfd, rel, rellen, err) < 0)
		return -1;
	if (cg_rel_outside(rel))
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
				       "cgroup view: process %d's cgroup %s lies outside its own "
				       "cgroup namespace",
				       (int)pid, rel);
	return 0;
}

int cg_view_ensure(const char *path, struct duress_err *err)
{
	char dir[PATH_MAX];
	unsigned long long start, now;
	cleanup_close int vfd = -1;
	pid_t pid;

	if (!cg_view_parse(cg_view_base(), path, &pid, &start, dir, sizeof(dir)))
		return 0;
	if (is_cgroup2_mount(dir))
		return 0;
	if (proc_starttime(pid, &now) < 0 || now != start)
		return duress_err_set(err, ESRCH,
				      "cgroup view %s: process %d (start %llu) is gone, its cgroup "
				      "went with it",
				      dir, (int)pid, start);
	if (private_mntns(err) < 0 || (vfd = view_mkdir(dir, err)) < 0)
		return -1;
	view_note(dir);
	return view_mount(pid, dir, vfd, NULL, 0, err);
}

int cg_ns_join_from_env(struct duress_err *err)
{
	const char *v = getenv("DURESS_CGROUPNS");
	const char *path;
	cleanup_close int fd = -1;
	struct stat want, have;

	if (!v || !*v)
		return 0;
	path = strcmp(v, "host") ? v : "/proc/1/ns/cgroup";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return duress_err_setc(
			err, DURESS_EXIT_UNSUPPORTED, errno,
			"DURESS_CGROUPNS=%s: cannot open %s (the host's PID namespace "
			"and CAP_SYS_PTRACE are needed for host)",
			v, path);
	if (fstat(fd, &want) < 0 || stat("/proc/self/ns/cgroup", &have) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "DURESS_CGROUPNS: stat %s",
				       path);
	if (want.st_ino == have.st_ino && want.st_dev == have.st_dev)
		return 0; /* there already (the host, or a child of a joined agent) */
	if (setns(fd, CLONE_NEWCGROUP) < 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, errno,
				       "DURESS_CGROUPNS=%s: setns into the cgroup namespace of %s "
				       "(needs CAP_SYS_ADMIN; seccomp/AppArmor must allow setns)",
				       v, path);
	if (getenv("DURESS_CGROUP_ROOT"))
		return 0; /* the caller mounted the whole tree there (a hostPath) */
	/* A cgroup2 mounted now has that namespace's root as its root: put it
	 * where the container's own (narrower, often read-only) one was, in a
	 * mount namespace of our own. */
	if (private_mntns(err) < 0)
		return duress_err_wrap(err, "DURESS_CGROUPNS");
	if (umount2("/sys/fs/cgroup", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, errno,
				       "DURESS_CGROUPNS: umount the container's /sys/fs/cgroup");
	if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
	    0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, errno,
				       "DURESS_CGROUPNS: mount cgroup2 at /sys/fs/cgroup (needs "
				       "CAP_SYS_ADMIN; AppArmor must allow mounting cgroup2)");
	return 0;
}

/* ---- undo kinds: cgroup files and cgroups, through a view if need be ---- */

/* A path below a cgroup-namespace view made by another process (the agent
 * that died): mount the view again here.  1 if it cannot be: gone. */
static int view_ensure(const char *where, bool *gone, struct duress_err *err)
{
	struct duress_err e = { 0 };

	if (cg_view_ensure(where, &e) == 0)
		return 0;
	if (e.errnum == ESRCH) {
		*gone = true;
		return 1;
	}
	*err = e;
	return -1;
}

static int revert_cg_write(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	struct duress_err e2 = { 0 };
	int v = view_ensure(rec->where, gone, err);

	if (v)
		return v < 0 ? -1 : 0;

	if (access(rec->where, F_OK) != 0 && errno == ENOENT) {
		*gone = true;
		return 0;
	}
	if (cg_write(rec->where, rec->what, rec->value, &e2) == 0)
		return 0;
	if (e2.errnum == ENOENT || e2.errnum == ENODEV) {
		/* the cgroup (or the device) went away meanwhile */
		if (access(rec->where, F_OK) != 0) {
			*gone = true;
			return 0;
		}
	}
	*err = e2;
	return -1;
}

static void describe_cg_write(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "%s of %s back to '%.200s'", rec->what, rec->where, rec->value);
}

/* ---- cgroup-remove ---- */

static int revert_cg_remove(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	int v = view_ensure(rec->where, gone, err);

	if (v)
		return v < 0 ? -1 : 0;
	if (access(rec->where, F_OK) != 0 && errno == ENOENT) {
		*gone = true;
		return 0;
	}
	return cg_destroy(rec->where, 5000, err);
}

static void describe_cg_remove(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "kill the processes of %s and remove it", rec->where);
}

/* ---- what a journal may hold ---- */

/* The interface files a fault writes (and so a replay may write back). */
static const char *const written_files[] = {
	"memory.max", "memory.high", "memory.swap.max", "cpu.max",
	"cpu.weight", "io.max",	     "cgroup.freeze",	NULL,
};

/* A cgroup directory: an absolute path without "." or ".." components,
 * below a view of this state directory, or on a cgroup2 filesystem reached
 * without a symlink (a cgroup that is gone is reverted as gone). */
static int check_cg_dir(const struct undo_rec *rec, char *why, size_t len)
{
	const char *p = rec->where;
	char real[PATH_MAX];
	struct statfs sf;

	if (p[0] != '/')
		goto bad;
	for (size_t l; path_next(&p, &l); p += l)
		if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			goto bad;
	if (cg_view_parse(cg_view_base(), rec->where, NULL, NULL, NULL, 0))
		return 0;
	if (statfs(rec->where, &sf) < 0)
		return errno == ENOENT ? 0
				       : (snprintf(why, len, "%s: %.200s: %s", rec->kind->name,
						   rec->where, strerror(errno)),
					  -1);
	if (sf.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, len, "%s: %.200s is not on a cgroup2 filesystem", rec->kind->name,
			 rec->where);
		return -1;
	}
	if (!realpath(rec->where, real) || strcmp(real, rec->where)) {
		snprintf(why, len, "%s: %.200s goes through a symbolic link", rec->kind->name,
			 rec->where);
		return -1;
	}
	return 0;
bad:
	snprintf(why, len, "%s: '%.200s' is not an absolute path without . and ..", rec->kind->name,
		 rec->where);
	return -1;
}

static int check_cg_write(const struct undo_rec *rec, char *why, size_t len)
{
	bool known = false;

	for (size_t i = 0; written_files[i]; i++)
		known |= !strcmp(rec->what, written_files[i]);
	if (!known) {
		snprintf(why, len, "cgroup-write: '%.100s' is not a file a fault writes",
			 rec->what);
		return -1;
	}
	return check_cg_dir(rec, why, len);
}

/* Who makes cgroups of their own (workers.c, the sandbox): a record of
 * another fault never names one. */
static const char *const cgroup_makers[] = { "cpu", "memory", "io", "disk-fill", "sandbox", NULL };

/* Only cgroups the agent makes: duress-<fault>-<pid>, the fault being the
 * record's own and one that makes cgroups (a cgroup merely named like one,
 * duress-canary-1, is not the agent's). */
static int check_cg_remove(const struct undo_rec *rec, char *why, size_t len)
{
	const char *base = strrchr(rec->where, '/');
	size_t fl = strlen(rec->fault);
	bool maker = false;

	for (size_t i = 0; cgroup_makers[i]; i++)
		maker |= !strcmp(rec->fault, cgroup_makers[i]);
	base = base ? base + 1 : rec->where;
	if (!maker || strncmp(base, "duress-", 7) || strncmp(base + 7, rec->fault, fl) ||
	    base[7 + fl] != '-' || !base[8 + fl])
		goto bad;
	for (const char *d = base + 8 + fl; *d; d++)
		if (*d < '0' || *d > '9')
			goto bad;
	return check_cg_dir(rec, why, len);
bad:
	snprintf(why, len, "cgroup-remove: '%.200s' (%.30s fault) is not a cgroup the agent makes",
		 rec->where, rec->fault);
	return -1;
}

const struct undo_kind undo_kind_cgroup_write = { "cgroup-write", revert_cg_write,
						  describe_cg_write, check_cg_write };
const struct undo_kind undo_kind_cgroup_remove = { "cgroup-remove", revert_cg_remove,
						   describe_cg_remove, check_cg_remove };
