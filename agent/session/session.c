// SPDX-License-Identifier: MIT
/* Agent sessions: recovery, journal, locks, guardian (session.h). */
#include <duress/session/recover.h>
#include <duress/core/proc.h>
#include <duress/core/statedir.h>
#include <duress/targets/cgview.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/targets/sandbox.h>
#include <duress/session/session.h>
#include <duress/core/undo_journal.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

void session_recover_dead(const char *state_dir, const char *who)
{
	struct recover_report rep = { 0 };
	struct duress_err e = { 0 };

	if (recover_all(state_dir, NULL, false, true, stderr, &rep, &e) < 0 && !rep.journals)
		fprintf(stderr, "%s: recovery: %s\n", who, e.msg);
	if (rep.refused)
		fprintf(stderr, "%s: %zu journal(s) in %s not replayed: not the agent's (above)\n",
			who, rep.refused, state_dir);
	if (rep.journals)
		fprintf(stderr,
			"%s: recovered %zu journal(s) left by agents that died: %zu change(s) "
			"reverted, %zu already gone, %zu failed\n",
			who, rep.journals, rep.reverted, rep.gone, rep.failed);
}

int session_begin(struct agent_session *s, const char *state_dir_opt, bool no_recover,
		  const char *what, struct duress_err *err)
{
	memset(s, 0, sizeof(*s));
	s->journal.fd = -1;
	snprintf(s->state_dir, sizeof(s->state_dir), "%s", state_dir_resolve(state_dir_opt));
	if (!no_recover)
		session_recover_dead(s->state_dir, "duress");
	if (undo_journal_open(&s->journal, s->state_dir, what, err) < 0) {
		err->code = DURESS_EXIT_UNSUPPORTED;
		return duress_err_wrap(err, "state directory %s (--state-dir to move it)",
				       s->state_dir);
	}
	proc_private_fd(s->journal.fd);
	return 0;
}

/* FNV-1a, 64 bits: a short stable name for a target path. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Open (making it if asked) the lock file of fault on t, through the
 * checked state directory (never a symlink, only a file of the agent's
 * own); < 0 with err. */
static int lock_open(const char *state_dir, const struct target *t, const char *fault, bool create,
		     char *path, size_t len, struct duress_err *err)
{
	cleanup_close int sfd = -1;
	cleanup_close int lfd = -1;
	char name[128];

	snprintf(name, sizeof(name), "%.64s-%016" PRIx64 ".lock", fault, fnv1a(t->dir));
	snprintf(path, len, "%s/locks/%s", state_dir, name);
	sfd = statedir_open(state_dir, create, err);
	if (sfd < 0)
		return -1;
	lfd = statedir_subdir(sfd, "locks", create, err);
	if (lfd < 0)
		return -1;
	return statedir_file(lfd, name, O_RDWR | (create ? O_CREAT : 0), 0600, err);
}

/* flock fd without waiting: 0, or -1 (fd closed) with the refusal or error. */
static int lock_take(int fd, const char *path, const struct target *t, const char *fault,
		     struct duress_err *err)
{
	char owner[512] = "";
	int n, e;

	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	e = errno;
	n = pread(fd, owner, sizeof(owner) - 1, 0);
	owner[n > 0 ? n : 0] = '\0';
	owner[strcspn(owner, "\n")] = '\0';
	close(fd);
	if (e == EWOULDBLOCK)
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "a %s fault is already in force on %s (%s); one agent "
				       "per target and resource, different resources may "
				       "combine",
				       fault, t->dir, owner[0] ? owner : "another agent");
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "lock %s", path);
}

int session_lock(struct agent_session *s, const struct target *t, const char *fault,
		 struct duress_err *err)
{
	char path[4096 + 128], info[PATH_MAX + 128];
	int fd, n;

	if (s->nlocks >= SESSION_MAX_LOCKS)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0, "too many locks");
	fd = lock_open(s->state_dir, t, fault, true, path, sizeof(path), err);
	if (fd < 0) {
		err->code = DURESS_EXIT_UNSUPPORTED;
		return duress_err_wrap(err, "lock %s", path);
	}
	if (lock_take(fd, path, t, fault, err) < 0)
		return -1;
	n = snprintf(info, sizeof(info), "held by duress pid %d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, info, n, 0) != n)
		(void)0; /* the owner note is informative only */
	s->lock_fds[s->nlocks++] = fd;
	proc_private_fd(fd);
	return 0;
}

int session_lock_probe(const char *state_dir, const struct target *t, const char *fault,
		       struct duress_err *err)
{
	char path[4096 + 128];
	struct duress_err e = { 0 };
	int fd = lock_open(state_dir, t, fault, false, path, sizeof(path), &e);

	if (fd < 0) {
		if (e.errnum == ENOENT)
			return 0; /* never locked here */
		*err = e;
		return -1;
	}
	if (lock_take(fd, path, t, fault, err) < 0)
		return -1;
	close(fd); /* releases it */
	return 0;
}

static void clear_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl >= 0)
		fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

int session_guard(struct agent_session *s, struct duress_err *err)
{
	char spid[16], sjfd[16], sready[16];
	struct pollfd pfd;
	int ready[2];
	char tag = 0;
	pid_t child;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "guardian: pipe");
	snprintf(spid, sizeof(spid), "%d", (int)getpid());
	snprintf(sjfd, sizeof(sjfd), "%d", s->journal.fd);
	snprintf(sready, sizeof(sready), "%d", ready[1]);
	child = fork();
	if (child < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "guardian: fork");
	if (child == 0) {
		char *const argv[] = { "duress",	"__guardian", spid, sjfd,
				       s->journal.path, sready,	      NULL };
		/* it must outlive the agent and keep the journal and the locks */
		const struct proc_child setup = { .keep_private = true };

		(void)proc_child_setup(&setup, 127);
		setsid();
		clear_cloexec(s->journal.fd);
		clear_cloexec(ready[1]);
		for (size_t i = 0; i < s->nlocks; i++)
			clear_cloexec(s->lock_fds[i]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(ready[1]);
	pfd.fd = ready[0];
	pfd.events = POLLIN;
	/* A guardian that cannot start ends the pipe at once (exit 127); a
	 * slow one (exec under emulation or heavy load takes seconds) is
	 * given time rather than refused. */
	if (poll(&pfd, 1, 30000) <= 0 || read(ready[0], &tag, 1) != 1 || tag != 'R') {
		close(ready[0]);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				       "the guardian process did not start: without it a crash of "
				       "the agent would leave faults behind");
	}
	close(ready[0]);
	s->guardian = child;
	return 0;
}

void session_end(struct agent_session *s, bool nothing_pending)
{
	proc_private_forget(s->journal.fd);
	if (nothing_pending)
		cg_views_release(); /* before the journal that names them goes */
	undo_journal_close(&s->journal, nothing_pending);
	for (size_t i = 0; i < s->nlocks; i++) {
		proc_private_forget(s->lock_fds[i]);
		close(s->lock_fds[i]);
	}
	s->nlocks = 0;
	/* The guardian sees the journal gone and exits once we do; reap it
	 * if it already has. */
	if (s->guardian > 0)
		waitpid(s->guardian, NULL, WNOHANG);
}

int session_sandbox(struct agent_session *s, const struct cg_root *root, struct undo_log *sbx,
		    struct target *t, struct duress_err *err)
{
	char dir[PATH_MAX], name[64];

	snprintf(name, sizeof(name), "duress-sandbox-%d", (int)getpid());
	if (session_guard(s, err) < 0 || cg_path_join(root, name, dir, sizeof(dir), err) < 0 ||
	    undo_record(sbx, &undo_kind_cgroup_remove, "sandbox", dir, "", "", err) < 0)
		return -1;
	return sandbox_create(root, t, err);
}

void session_drop_sandbox(struct target *t, struct undo_log *faults, struct undo_log *sbx)
{
	struct duress_err e = { 0 };
	struct undo_report rep;

	if (!t->owned)
		return;
	if (faults && faults->n)
		undo_revert_all(faults, &rep);
	if (sandbox_destroy(t, &e) < 0)
		duress_err_print(stderr, &e);
	else if (sbx->n)
		undo_forget(sbx, 0);
}

static bool log_pending(const struct undo_log *log)
{
	for (size_t i = 0; log && i < log->n; i++)
		if (!log->recs[i].done)
			return true;
	return false;
}

int session_finish(struct agent_session *s, bool started, struct undo_log *faults,
		   struct undo_log *sbx, int rc)
{
	struct undo_report rep;

	if (faults && faults->n && undo_revert_all(faults, &rep) < 0 && rc == DURESS_EXIT_OK)
		rc = DURESS_EXIT_NOT_REVERTED;
	if (sbx && sbx->n && undo_revert_all(sbx, &rep) < 0 && rc == DURESS_EXIT_OK)
		rc = DURESS_EXIT_NOT_REVERTED;
	if (started)
		session_end(s, !log_pending(faults) && !log_pending(sbx));
	return rc;
}

/* ---- the guardian ---- */

int guardian_main(int argc, char **argv)
{
	struct recover_report rep = { 0 };
	struct duress_err err = { 0 };
	struct pollfd pfd;
	struct stat st;
	sigset_t none;
	pid_t agent;
	int jfd, ready, pidfd;

	if (argc != 5)
		return DURESS_EXIT_USAGE;
	agent = (pid_t)atoi(argv[1]);
	jfd = atoi(argv[2]);
	ready = atoi(argv[4]);
	prctl(PR_SET_NAME, "duress-guard");
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the OOM killer takes the hogs, never the one who reverts */
	(void)proc_oom_score_adj(-1000);
	if (chdir("/") < 0)
		(void)0;
	pidfd = (int)syscall(SYS_pidfd_open, agent, 0);
	/* Our parent is the agent: if it is not any more, it already died. */
	if (pidfd >= 0 && getppid() != agent) {
		close(pidfd);
		pidfd = -1;
	}
	if (write(ready, "R", 1) < 0)
		(void)0;
	close(ready);
	if (pidfd >= 0) {
		pfd.fd = pidfd;
		pfd.events = POLLIN;
		while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
	} else if (errno != ESRCH) {
		/* no pidfd (old kernel): watch the parent */
		while (getppid() == agent)
			usleep(50000);
	}
	/* The agent is gone.  A removed journal means it ended cleanly. */
	if (fstat(jfd, &st) == 0 && st.st_nlink == 0)
		return DURESS_EXIT_OK;
	close(jfd);
	fprintf(stderr,
		"duress guardian: the agent (pid %d) died with changes in force; "
		"reverting them\n",
		(int)agent);
	if (recover_journal(argv[3], true, false, stderr, &rep, &err) < 0 && err.msg[0])
		fprintf(stderr, "duress guardian: %s\n", err.msg);
	fprintf(stderr, "duress guardian: %zu change(s) reverted, %zu already gone, %zu failed\n",
		rep.reverted, rep.gone, rep.failed);
	return rep.failed ? DURESS_EXIT_NOT_REVERTED : DURESS_EXIT_OK;
}
