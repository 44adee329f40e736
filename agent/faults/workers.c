// SPDX-License-Identifier: MIT
/* Worker processes of faults, in a cgroup of their own. */
#include <duress/core/timing.h>
#include <duress/targets/cgview.h>
#include <duress/core/proc.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/workers.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int workers_cgroup(struct fault *f, bool beside, char *dir, size_t len, struct duress_err *err)
{
	char parent[PATH_MAX];

	snprintf(parent, sizeof(parent), "%s", f->target->dir);
	if (beside) {
		char *slash = strrchr(parent, '/');

		if (!slash || slash == parent || !strcmp(f->target->rel, "/"))
			return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
					       "%s fault: the root cgroup has no parent to put a "
					       "neighbour in",
					       f->desc->name);
		*slash = '\0';
	}
	if ((size_t)snprintf(dir, len, "%s/duress-%s-%d", parent, f->desc->name, (int)getpid()) >=
	    len)
		return duress_err_set(err, ENAMETOOLONG, "%s/duress-%s-%d", parent, f->desc->name,
				      (int)getpid());
	if (undo_record(f->undo, &undo_kind_cgroup_remove, f->desc->name, dir, "", "", err) < 0)
		return -1;
	if (cg_create(dir, false, err) < 0)
		return duress_err_wrap(err, "%s fault: workers cgroup", f->desc->name);
	return 0;
}

/* Sent over the pipe when the child fails before running fn. */
struct spawn_report {
	char tag; /* 'R' ready, 'E' error */
	struct duress_err err;
};

static void write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= w;
	}
}

static void child_fail(int fd, struct duress_err *e)
{
	struct spawn_report r = { .tag = 'E', .err = *e };

	write_full(fd, &r, sizeof(r));
	_exit(DURESS_EXIT_INTERNAL);
}

int worker_spawn(const char *dir, const char *name, int oom_score_adj, int (*fn)(void *arg),
		 void *arg, pid_t *pid, struct duress_err *err)
{
	pid_t parent = getpid();
	struct spawn_report r = { 0 };
	int p[2];
	pid_t child;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "worker %s: pipe", name);
	child = fork();
	if (child < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "worker %s: fork", name);
	}
	if (child == 0) {
		struct duress_err e = { 0 };
		const struct proc_child setup = {
			.name = name,
			.deathsig = SIGKILL,
			.parent = parent,
			.default_handlers = true,
			.set_oom = true,
			.oom_score_adj = oom_score_adj,
		};

		close(p[0]);
		/* into the cgroup before anything is allocated or touched */
		if (cg_attach(dir, 0, &e) < 0) {
			duress_err_wrap(&e, "worker %s: join %s", name, dir);
			child_fail(p[1], &e);
		}
		/* an OOM score not set is not fatal: the hog still runs */
		(void)proc_child_setup(&setup, DURESS_EXIT_INTERNAL);
		r.tag = 'R';
		write_full(p[1], &r.tag, 1);
		close(p[1]);
		_exit(fn(arg));
	}
	close(p[1]);
	do
		n = read(p[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n >= 1 && r.tag == 'R') {
		*pid = child;
		return 0;
	}
	waitpid(child, NULL, 0);
	if (n == (ssize_t)sizeof(r) && r.tag == 'E') {
		*err = r.err;
		/* ENOENT on cgroup.procs of a cgroup that exists: it lies outside
		 * the agent's cgroup namespace (a sidecar, nsdelegate). */
		if (err->errnum == ENOENT && access(dir, F_OK) == 0) {
			err->code = DURESS_EXIT_UNSUPPORTED;
			duress_err_wrap(err,
					"%s is outside the agent's cgroup namespace, where the "
					"kernel (nsdelegate) moves no process: run the agent in "
					"the host cgroup namespace for faults with workers "
					"(docs/containers.md)",
					dir);
		}
		return -1;
	}
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0, "worker %s: died before it started",
			       name);
}

int worker_spawn_reporting(const char *dir, const char *name, int oom_score_adj,
			   int (*fn)(void *arg), void *arg, int *job_rd, int *job_wr,
			   struct wmsg *msg, pid_t *pid, struct duress_err *err)
{
	int rep[2], r;

	if (pipe2(rep, O_CLOEXEC) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "worker %s: pipe", name);
	*job_rd = rep[0];
	*job_wr = rep[1];
	r = worker_spawn(dir, name, oom_score_adj, fn, arg, pid, err);
	close(rep[1]);
	*job_rd = *job_wr = -1;
	if (r < 0) {
		close(rep[0]);
		return r;
	}
	wmsg_init(msg, rep[0]);
	return 0;
}

int worker_reap(pid_t pid, int *status)
{
	pid_t r;

	do
		r = waitpid(pid, status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	return r == pid ? 1 : 0;
}

/* ---- worker reports ---- */

void wmsg_send(int fd, const char *fmt, ...)
{
	char buf[PIPE_BUF];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	while (write(fd, buf, n) < 0 && errno == EINTR)
		;
}

void wmsg_init(struct wmsg *m, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	memset(m, 0, sizeof(*m));
	m->fd = fd;
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int take_line(struct wmsg *m, char *line, size_t len)
{
	char *nl = memchr(m->buf, '\n', m->len);
	size_t ll;

	/* a partial line at the end, or one too long for buf, goes out as it is */
	if (!nl && !(m->len && (m->eof || m->len == sizeof(m->buf))))
		return 0;
	ll = nl ? (size_t)(nl - m->buf) : m->len;
	snprintf(line, len, "%.*s", (int)ll, m->buf);
	if (nl)
		ll++;
	memmove(m->buf, m->buf + ll, m->len - ll);
	m->len -= ll;
	return 1;
}

int wmsg_recv(struct wmsg *m, int timeout_ms, char *line, size_t len)
{
	int64_t deadline = (int64_t)(timing_now() * 1e3) + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		struct pollfd pfd = { .fd = m->fd, .events = POLLIN };
		int64_t left;
		ssize_t r;

		if (take_line(m, line, len))
			return 1;
		if (m->eof || m->fd < 0)
			return -1;
		r = read(m->fd, m->buf + m->len, sizeof(m->buf) - m->len);
		if (r > 0) {
			m->len += (size_t)r;
			continue;
		}
		if (r == 0) {
			m->eof = true;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			m->eof = true;
			continue;
		}
		left = deadline - (int64_t)(timing_now() * 1e3);
		if (left <= 0)
			return 0;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return 0;
	}
}
