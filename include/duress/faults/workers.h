/* SPDX-License-Identifier: MIT */
/*
 * Worker processes of faults (agent/faults/workers.c): memory hogs, CPU
 * burners, I/O and fill workers, in a cgroup of their own, and the one-line
 * reports they send back over a pipe.
 */
#ifndef DURESS_WORKERS_H
#define DURESS_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <duress/core/error.h>

struct fault;
struct wmsg;

/*
 * Make a cgroup for a fault's workers: inside the target
 * (<target>/duress-<fault>-<agent pid>, plain mkdir, no controllers: their
 * usage is charged to the target) or beside it (same name under the
 * target's parent: a noisy neighbour).  Records "cgroup-remove" first.
 */
int workers_cgroup(struct fault *f, bool beside, char *dir, size_t len, struct duress_err *err);

/*
 * Fork a worker process into dir.  The child joins the cgroup before
 * anything else, dies with the agent (PR_SET_PDEATHSIG SIGKILL), resets
 * the signal mask, sets oom_score_adj, names itself `name` (comm), runs
 * fn(arg) and _exit()s with its result.  The agent must be single-threaded.
 */
int worker_spawn(const char *dir, const char *name, int oom_score_adj, int (*fn)(void *arg),
		 void *arg, pid_t *pid, struct duress_err *err);

/*
 * worker_spawn() for a worker that reports over a pipe (disk-fill, io): the
 * pipe's ends are put in *job_rd and *job_wr, the fields of arg that the
 * child reads (it writes to *job_wr and closes *job_rd); after the fork
 * both are closed here and set to -1, and the read end becomes *msg
 * (wmsg_init).  On failure nothing is left open.
 */
int worker_spawn_reporting(const char *dir, const char *name, int oom_score_adj,
			   int (*fn)(void *arg), void *arg, int *job_rd, int *job_wr,
			   struct wmsg *msg, pid_t *pid, struct duress_err *err);

/* Reap one worker without blocking: 1 if it exited (wait status in
 * *status), 0 if still running, < 0 if it is not our child.  Only ever reap
 * your own pids: other faults and the sandbox have children too. */
int worker_reap(pid_t pid, int *status);

/* ---- worker reports: one text line each, over a pipe ---- */

/* Child side: write one line (a '\n' is added).  Lines up to PIPE_BUF
 * arrive whole. */
void wmsg_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct wmsg {
	int fd; /* read end, O_NONBLOCK is set by wmsg_init */
	char buf[1024];
	size_t len;
	bool eof;
};

void wmsg_init(struct wmsg *m, int fd);
/*
 * Wait up to timeout_ms (0: do not wait) for one line; copies it without
 * the '\n'.  Returns 1 with a line, 0 if none yet, -1 at end of file (the
 * worker closed the pipe or exited) with no line left.
 */
int wmsg_recv(struct wmsg *m, int timeout_ms, char *line, size_t len);

#endif
