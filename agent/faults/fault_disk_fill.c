// SPDX-License-Identifier: MIT
/*
 * disk-fill: exhaust a filesystem of the target (--size, --percent or
 * --leave) with one unnamed file that a worker process inside the target
 * allocates (fallocate(2), write(2) where the filesystem lacks it) and
 * holds open until it is killed.  The file has no name (O_TMPFILE, or
 * unlinked right after it is made), so the space returns as soon as the
 * worker dies: at revert, or with the agent (PR_SET_PDEATHSIG).
 */
#include <duress/core/timing.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/core/parse.h>
#include <duress/faults/fault_disk_fill.h>
#include <duress/faults/workers.h>
#include <duress/targets/fsinfo.h>
#include <duress/core/undo_journal.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- disk fills ---- */

int64_t fill_needed(const struct fill_goal *g, const struct fs_space *s, uint64_t held)
{
	uint64_t block = s->block ? s->block : 1;

	switch (g->mode) {
	case FILL_SIZE:
		return (int64_t)g->bytes - (int64_t)held;
	case FILL_LEAVE:
		return (int64_t)s->avail - (int64_t)g->bytes;
	case FILL_PERCENT: {
		uint64_t inuse = s->total > s->free ? s->total - s->free : 0;
		double base = (double)(inuse + s->avail);
		uint64_t goal = (uint64_t)(base * g->pct / 100.0);

		goal -= goal % block;
		return (int64_t)goal - (int64_t)inuse;
	}
	}
	return 0;
}

uint64_t fill_avail_after(const struct fs_space *s, uint64_t fill)
{
	return s->avail > fill ? s->avail - fill : 0;
}

bool fill_leaves_too_little(const struct fs_space *s, uint64_t fill, double pct)
{
	return (double)fill_avail_after(s, fill) < (double)s->total * pct / 100.0;
}

#define FILL_OPEN_TIMEOUT_MS 10000
#define FILL_WAIT_MS 2000  /* apply waits this long for the fill itself */
#define FILL_GUARD_PCT 1.0 /* least free space on the agent's own filesystem */
#define FILL_WRITE_CHUNK (1 << 20)
#define FILL_CORRECTIONS 3

static const struct fault_opt fill_opts[] = {
	{ .name = "path",
	  .type = FOPT_STRING,
	  .metavar = "DIR",
	  .help = "a directory on the filesystem to fill, in the target's view (default: the "
		  "target's root)" },
	{ .name = "size",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .min = 1,
	  .help = "allocate SIZE bytes" },
	{ .name = "percent",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "fill until PCT of the filesystem is in use (df's Use%)" },
	{ .name = "leave",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .help = "fill until SIZE is left to unprivileged users (f_bavail; root keeps the "
		  "reserved blocks)" },
};

/* What the worker needs; copied into the child by fork. */
struct fill_job {
	int dirfd;
	int report_rd, report_wr;
	struct fill_goal goal;
};

struct fill_priv {
	struct fill_job job;
	const char *goal_opt; /* "--leave" */
	char goal_text[96];   /* "leave 16 MiB free" */
	char path[PATH_MAX];
	char view[64];
	char fstype[64];
	bool tmpfs;
	struct fs_space space; /* at plan time */
	int64_t need;	       /* estimate at plan time */

	char workers_dir[PATH_MAX];
	pid_t pid;
	struct wmsg msg;
	bool opened, filled, exited, full, failed;
	uint64_t held; /* bytes the fill file holds */
	char method[16];
	double fill_s;
	uint64_t avail_after;
	char note[320];
};

/* ---- the worker (runs in the child) ---- */

static int fill_open(int dirfd, char *desc, size_t len)
{
	char name[64];
	int fd;

	/* O_EXCL: the file can never be given a name with linkat(2) */
	fd = openat(dirfd, ".", O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		snprintf(desc, len, "an unnamed file (O_TMPFILE)");
		return fd;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -1;
	snprintf(name, sizeof(name), ".duress-fill-%d.tmp", (int)getpid());
	fd = openat(dirfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (unlinkat(dirfd, name, 0) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	snprintf(desc, len, "%s (unlinked at once)", name);
	return fd;
}

static int space_of(int fd, struct fs_space *s)
{
	struct statvfs v;

	if (fstatvfs(fd, &v) < 0)
		return -1;
	s->block = v.f_frsize ? v.f_frsize : v.f_bsize;
	s->total = (uint64_t)v.f_blocks * s->block;
	s->free = (uint64_t)v.f_bfree * s->block;
	s->avail = (uint64_t)v.f_bavail * s->block;
	return 0;
}

/* write(2) fallback: data that does not compress, until len or ENOSPC. */
static int write_fill(int fd, uint64_t off, uint64_t len, bool *full)
{
	cleanup_free uint64_t *buf = malloc(FILL_WRITE_CHUNK);
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();

	if (!buf)
		return -1;
	for (size_t i = 0; i < FILL_WRITE_CHUNK / sizeof(*buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = x;
	}
	while (len) {
		size_t n = len < FILL_WRITE_CHUNK ? (size_t)len : FILL_WRITE_CHUNK;
		ssize_t w = pwrite(fd, buf, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == ENOSPC || errno == EDQUOT)) {
			*full = true;
			return 0;
		}
		if (w <= 0)
			return -1;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/* Make the file hold len more bytes from off. */
static int grow(int fd, uint64_t off, uint64_t len, char *method, size_t mlen, bool *full)
{
	if (!strcmp(method, "fallocate")) {
		if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0)
			return 0;
		if (errno == ENOSPC || errno == EDQUOT) {
			*full = true;
			return 0;
		}
		if (errno != EOPNOTSUPP)
			return -1;
		snprintf(method, mlen, "write");
	}
	return write_fill(fd, off, len, full);
}

static int fill_fail(struct fill_job *j, const char *what, int e)
{
	wmsg_send(j->report_wr, "error %s: %s", what, strerror(e));
	return 1;
}

static int fill_worker_main(void *arg)
{
	struct fill_job *j = arg;
	char desc[128], method[16] = "fallocate";
	struct fs_space s;
	struct stat st;
	bool full = false;
	double t0;
	int64_t need;
	int fd;

	close(j->report_rd);
	fd = fill_open(j->dirfd, desc, sizeof(desc));
	if (fd < 0)
		return fill_fail(j, "create the fill file", errno);
	close(j->dirfd);
	wmsg_send(j->report_wr, "open %s", desc);
	t0 = timing_now();
	if (space_of(fd, &s) < 0)
		return fill_fail(j, "statfs", errno);
	need = fill_needed(&j->goal, &s, 0);
	if (need > 0 && grow(fd, 0, (uint64_t)need, method, sizeof(method), &full) < 0)
		return fill_fail(j, method, errno);
	/* --leave and --percent: correct for metadata and for what others did meanwhile */
	for (int k = 0; k < FILL_CORRECTIONS && j->goal.mode != FILL_SIZE && !full; k++) {
		if (space_of(fd, &s) < 0 || fstat(fd, &st) < 0)
			return fill_fail(j, "statfs", errno);
		need = fill_needed(&j->goal, &s, (uint64_t)st.st_blocks * 512);
		if (need >= (int64_t)s.block) {
			if (grow(fd, (uint64_t)st.st_size, (uint64_t)need, method, sizeof(method),
				 &full) < 0)
				return fill_fail(j, method, errno);
		} else if (need <= -(int64_t)s.block) {
			int64_t size = (int64_t)st.st_size + need;

			if (ftruncate(fd, size > 0 ? size : 0) < 0)
				return fill_fail(j, "ftruncate", errno);
		} else {
			break;
		}
	}
	if (fstat(fd, &st) < 0 || space_of(fd, &s) < 0)
		return fill_fail(j, "statfs", errno);
	wmsg_send(j->report_wr, "filled %llu %s %.6f %llu%s",
		  (unsigned long long)st.st_blocks * 512, method, timing_now() - t0,
		  (unsigned long long)s.avail, full ? " full" : "");
	close(j->report_wr);
	/* hold the space until killed */
	for (;;)
		pause();
}

/* ---- validate ---- */

static int fill_validate(struct fault *f, struct duress_err *err)
{
	struct fill_priv *p = f->priv;
	const struct fault_val *size = fault_opt(f, "size");
	const struct fault_val *pct = fault_opt(f, "percent");
	const struct fault_val *leave = fault_opt(f, "leave");
	char a[32];
	int n = size->set + pct->set + leave->set;

	p->job.dirfd = p->job.report_rd = p->job.report_wr = -1;
	p->msg.fd = -1;
	if (n == 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "disk-fill: give one of --size SIZE, --percent PCT or "
				       "--leave SIZE");
	if (n > 1)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "disk-fill: %s%s%s%s%s: give only one of --size, --percent "
				       "and --leave",
				       size->set ? "--size" : "", size->set ? " and " : "",
				       pct->set ? "--percent" : "",
				       pct->set && leave->set ? " and " : "",
				       leave->set ? "--leave" : "");
	if (size->set) {
		p->job.goal.mode = FILL_SIZE;
		p->job.goal.bytes = size->u;
		p->goal_opt = "--size";
		snprintf(p->goal_text, sizeof(p->goal_text), "allocate %s",
			 format_size(size->u, a, sizeof(a)));
	} else if (pct->set) {
		p->job.goal.mode = FILL_PERCENT;
		p->job.goal.pct = pct->d;
		p->goal_opt = "--percent";
		snprintf(p->goal_text, sizeof(p->goal_text), "reach %g%% in use (df's Use%%)",
			 pct->d);
	} else {
		p->job.goal.mode = FILL_LEAVE;
		p->job.goal.bytes = leave->u;
		p->goal_opt = "--leave";
		snprintf(p->goal_text, sizeof(p->goal_text), "leave %s free to unprivileged users",
			 format_size(leave->u, a, sizeof(a)));
	}
	return 0;
}

/* ---- plan ---- */

/*
 * The filesystem of dirfd holds the agent's own state: /, /run, the state
 * directory ($DURESS_STATE_DIR, else /run/duress), or its working directory.
 */
static bool holds_agent_state(int dirfd, char *which, size_t len)
{
	const char *const paths[] = { "/", "/run", state_dir_resolve(NULL), "." };
	struct stat d, st;

	if (fstat(dirfd, &d) < 0)
		return false;
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(paths); i++) {
		if (stat(paths[i], &st) < 0 || st.st_dev != d.st_dev)
			continue;
		if (!strcmp(paths[i], ".")) {
			char cwd[PATH_MAX];

			snprintf(which, len, "the agent's working directory %s",
				 getcwd(cwd, sizeof(cwd)) ? cwd : ".");
		} else {
			snprintf(which, len, "%s", paths[i]);
		}
		return true;
	}
	return false;
}

static int plan_open(struct fault *f, struct duress_err *err)
{
	struct fill_priv *p = f->priv;
	const struct fault_val *path = fault_opt(f, "path");
	int code = path->set ? DURESS_EXIT_USAGE : DURESS_EXIT_UNSUPPORTED;
	const char *what = path->set ? "--path" : "disk-fill: the target's root";
	struct statfs sfs;
	const char *name;
	int fd;

	fs_root_view(f->target->pid, p->view, sizeof(p->view));
	snprintf(p->path, sizeof(p->path), "%s", path->set ? path->s : "/");
	fd = fs_open_in_root(f->target->pid, p->path, O_RDONLY | O_DIRECTORY, err);
	if (fd < 0 && err->errnum == ESRCH && f->target->pid > 0) {
		struct duress_err e2 = { 0 };

		/* the target's process went away: take another */
		if (target_refresh_pid(f->target, &e2) == 0) {
			fs_root_view(f->target->pid, p->view, sizeof(p->view));
			fd = fs_open_in_root(f->target->pid, p->path, O_RDONLY | O_DIRECTORY, err);
		}
	}
	if (fd < 0) {
		err->code = code;
		return duress_err_wrap(err, "%s", what);
	}
	p->job.dirfd = fd;
	if (fstatfs(fd, &sfs) < 0 || space_of(fd, &p->space) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "statfs %s", p->path);
	name = fs_type_name(sfs.f_type);
	if (name)
		snprintf(p->fstype, sizeof(p->fstype), "%s", name);
	else
		snprintf(p->fstype, sizeof(p->fstype), "fs 0x%lx", (unsigned long)sfs.f_type);
	p->tmpfs = sfs.f_type == TMPFS_MAGIC;
	if (sfs.f_flags & ST_RDONLY)
		return duress_err_setc(err, code, EROFS, "%s %s (%s)", what, p->path, p->fstype);
	if (p->space.total == 0)
		return duress_err_setc(err, code, 0,
				       "%s %s: the %s filesystem reports no size (statfs f_blocks "
				       "0): there is nothing to fill",
				       what, p->path, p->fstype);
	return 0;
}

static int fill_plan(struct fault *f, struct duress_err *err)
{
	struct fill_priv *p = f->priv;
	const struct fill_goal *g = &p->job.goal;
	const struct fs_space *s = &p->space;
	char av[32], tot[32], nd[32], left[32], res[32], which[PATH_MAX + 40];
	uint64_t inuse;

	if (plan_open(f, err) < 0)
		return -1;
	inuse = s->total > s->free ? s->total - s->free : 0;
	p->need = fill_needed(g, s, 0);
	format_size(s->avail, av, sizeof(av));
	format_size(s->total, tot, sizeof(tot));
	if (p->need <= 0 && g->mode == FILL_LEAVE)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--leave %s: %s (%s) has only %s free to unprivileged users "
				       "already: nothing to fill",
				       format_size(g->bytes, nd, sizeof(nd)), p->path, p->fstype,
				       av);
	if (p->need <= 0 && g->mode == FILL_PERCENT)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--percent %g: %s (%s) is already %.1f%% in use: nothing to "
				       "fill",
				       g->pct, p->path, p->fstype,
				       inuse + s->avail ? 100.0 * inuse / (inuse + s->avail) : 0.0);
	if (g->mode == FILL_SIZE && g->bytes > s->avail)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--size %s: %s (%s) has only %s free to unprivileged users; "
				       "--leave 0 fills all of it",
				       format_size(g->bytes, nd, sizeof(nd)), p->path, p->fstype,
				       av);
	format_size((uint64_t)p->need, nd, sizeof(nd));
	format_size(fill_avail_after(s, (uint64_t)p->need), left, sizeof(left));
	if (holds_agent_state(p->job.dirfd, which, sizeof(which)) &&
	    fill_leaves_too_little(s, (uint64_t)p->need, FILL_GUARD_PCT)) {
		if (!f->force)
			return duress_err_setc(
				err, DURESS_EXIT_REFUSED, 0,
				"%s: %s (%s) also holds %s, where the agent keeps its "
				"state: filling %s would leave %s of %s free, less "
				"than %g%% (--force to do it anyway)",
				p->goal_opt, p->path, p->fstype, which, nd, left, tot,
				FILL_GUARD_PCT);
		fault_plan_add(f, "--force: %s also holds %s; %s left is less than %g%%", p->path,
			       which, left, FILL_GUARD_PCT);
	}
	fault_plan_add(f,
		       "fill %s (%s, seen through %s): %s of %s free to unprivileged users "
		       "(f_bavail); allocate about %s to %s, leaving %s",
		       p->path, p->fstype, p->view, av, tot, nd, p->goal_text, left);
	fault_plan_add(f,
		       "how: one worker 'duress-fill' in %s/duress-disk-fill-%d opens an "
		       "unnamed file there (O_TMPFILE, else created and unlinked at once), "
		       "fills it with fallocate(2) (write(2) if the filesystem lacks it) and "
		       "holds it open: it cannot outlive the agent",
		       f->target->dir, (int)getpid());
	if (s->free > s->avail)
		fault_plan_add(f, "root can still use the %s reserved for it (f_bfree - f_bavail)",
			       format_size(s->free - s->avail, res, sizeof(res)));
	if (p->tmpfs)
		fault_plan_add(f, "tmpfs: the fill is memory, charged to the target");
	fault_plan_add(f, "revert: kill the worker and remove its cgroup; the space returns as "
			  "its file closes");
	return 0;
}

/* ---- apply ---- */

/* "filled BYTES METHOD SECONDS AVAIL [full]" */
static int parse_filled(struct fill_priv *p, const char *line)
{
	unsigned long long held, avail;
	char method[16], full[8] = "";
	double secs;

	if (sscanf(line, "filled %llu %15s %lf %llu %7s", &held, method, &secs, &avail, full) < 4)
		return -1;
	p->held = held;
	snprintf(p->method, sizeof(p->method), "%s", method);
	p->fill_s = secs;
	p->avail_after = avail;
	p->full = !strcmp(full, "full");
	p->filled = true;
	return 0;
}

/*
 * Read the worker's lines for up to timeout_ms: 1 once it has filled, 0 not
 * yet (or, with until_open, once the file is open), -1 on its error.
 */
static int poll_worker(struct fault *f, int timeout_ms, bool until_open, struct duress_err *err)
{
	struct fill_priv *p = f->priv;
	char line[1024];
	int r;

	while (!p->filled && (r = wmsg_recv(&p->msg, timeout_ms, line, sizeof(line))) != 0) {
		if (r < 0)
			return duress_err_setc(
				err, DURESS_EXIT_FAILED, 0,
				"disk-fill worker %d on %s exited before it reported", (int)p->pid,
				p->path);
		if (!strncmp(line, "error ", 6))
			return duress_err_setc(err, DURESS_EXIT_FAILED, 0,
					       "disk-fill worker %d on %s (%s): %s", (int)p->pid,
					       p->path, p->fstype, line + 6);
		if (!strncmp(line, "open ", 5)) {
			p->opened = true;
			snprintf(p->note, sizeof(p->note), "%.300s", line + 5);
			if (until_open)
				return 0;
			continue;
		}
		if (!strncmp(line, "filled ", 7) && parse_filled(p, line) < 0)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
					       "disk-fill worker %d: bad report '%.100s'",
					       (int)p->pid, line);
	}
	return p->filled ? 1 : 0;
}

static int fill_apply(struct fault *f, struct duress_err *err)
{
	struct fill_priv *p = f->priv;

	if (workers_cgroup(f, false, p->workers_dir, sizeof(p->workers_dir), err) < 0)
		return -1;
	if (worker_spawn_reporting(p->workers_dir, "duress-fill", 1000, fill_worker_main, &p->job,
				   &p->job.report_rd, &p->job.report_wr, &p->msg, &p->pid, err) < 0)
		return duress_err_wrap(err, "disk-fill");
	if (poll_worker(f, FILL_OPEN_TIMEOUT_MS, true, err) < 0)
		return -1;
	if (!p->opened && !p->filled)
		return duress_err_setc(err, DURESS_EXIT_FAILED, ETIMEDOUT,
				       "disk-fill worker %d: no report from %s within %d s",
				       (int)p->pid, p->path, FILL_OPEN_TIMEOUT_MS / 1000);
	/* fallocate takes milliseconds; a write(2) fill goes on in the background */
	return poll_worker(f, FILL_WAIT_MS, false, err) < 0 ? -1 : 0;
}

/* ---- tick, report, release ---- */

static int fill_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct fill_priv *p = f->priv;
	int status = 0;

	if (p->exited)
		return 0;
	if (!p->filled && !p->failed && poll_worker(f, 0, false, err) < 0) {
		p->failed = true;
		return -1;
	}
	if (p->pid <= 0 || worker_reap(p->pid, &status) != 1)
		return 0;
	p->exited = true;
	if (p->failed)
		return 0; /* its error was reported already */
	if (!p->filled && poll_worker(f, 0, false, err) < 0)
		return -1;
	if (WIFSIGNALED(status))
		return duress_err_setc(
			err, DURESS_EXIT_FAILED, 0,
			"disk-fill worker %d was killed by signal %d (%s): the space "
			"is back%s",
			(int)p->pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
			p->tmpfs && WTERMSIG(status) == SIGKILL
				? " (a tmpfs fill is memory: the OOM killer?)"
				: "");
	return duress_err_setc(err, DURESS_EXIT_FAILED, 0,
			       "disk-fill worker %d exited (status %d): the space is back",
			       (int)p->pid, WEXITSTATUS(status));
}

static void fill_report(struct fault *f, json_t *summary)
{
	struct fill_priv *p = f->priv;

	json_object_set_new(summary, "fill_path", json_string(p->path));
	json_object_set_new(summary, "fill_fs", json_string(p->fstype));
	json_object_set_new(summary, "fill_goal", json_string(p->goal_text));
	if (!p->filled)
		return;
	json_object_set_new(summary, "fill_bytes", json_integer((json_int_t)p->held));
	json_object_set_new(summary, "fill_method", json_string(p->method));
	json_object_set_new(summary, "fill_seconds", json_real(p->fill_s));
	json_object_set_new(summary, "fill_avail_after", json_integer((json_int_t)p->avail_after));
	if (p->full)
		json_object_set_new(summary, "fill_filesystem_full", json_true());
}

static void fill_release(struct fault *f)
{
	struct fill_priv *p = f->priv;
	int *fds[] = { &p->job.dirfd, &p->job.report_rd, &p->job.report_wr, &p->msg.fd };

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(fds); i++) {
		if (*fds[i] > 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

const struct fault_desc fault_disk_fill = {
	.name = "disk-fill",
	.summary = "fill a filesystem of the target (--size, --percent or --leave) with a file "
		   "that cannot outlive the agent",
	.opts = fill_opts,
	.nopts = DURESS_ARRAY_SIZE(fill_opts),
	.priv_size = sizeof(struct fill_priv),
	.validate = fill_validate,
	.supported = NULL,
	.plan = fill_plan,
	.apply = fill_apply,
	.tick = fill_tick,
	.report = fill_report,
	.release = fill_release,
};
