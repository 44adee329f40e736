// SPDX-License-Identifier: MIT
/* GET /v1/targets: the listing child (serve_listing.h). */
#include <duress/core/proc.h>
#include <duress/core/timing.h>
#include <duress/serve/serve_reply.h>
#include <duress/serve/serve_listing.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * GET /v1/targets: `duress targets --format json` in a child, read by the
 * event loop (never waited for in a handler: it measures CPU use for a
 * moment, and a host with many containers takes longer).  Requests that
 * come meanwhile wait (suspended) for the same listing; its end (or the
 * TARGETS_WAIT_S limit) answers them all.
 */
#define TARGETS_WAIT_S 10
#define TARGETS_MAX_WAITERS 32
#define TARGETS_MAX_BYTES (16 << 20)

static struct {
	pid_t pid; /* > 0 while a listing runs */
	int fd;	   /* its standard output */
	double started;
	char *buf;
	size_t n, cap;
	unsigned long gen; /* listings started */
	struct MHD_Connection *waiters[TARGETS_MAX_WAITERS];
	size_t nwaiters;
	/* the last listing that ended: what its waiters are answered */
	char *answer;
	size_t answer_len;
	bool answer_ok;
	unsigned long answer_gen;
} L = { .fd = -1 };

static int targets_start(const char *self_exe)
{
	pid_t pid, parent = getpid();
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		const struct proc_child setup = { .deathsig = SIGKILL, .parent = parent };
		int fd;

		(void)proc_child_setup(&setup, 127);
		fd = open("/dev/null", O_RDWR);
		dup2(p[1], STDOUT_FILENO);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl("/proc/self/exe", self_exe, "targets", "--format", "json", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	L.pid = pid;
	L.fd = p[0];
	L.started = timing_now();
	L.n = 0;
	L.gen++;
	return 0;
}

/* The listing ended (EOF), or was stopped (why: too slow, too big, the
 * server stops): keep its answer, wake its waiters. */
void listing_stop(const char *why)
{
	int status = 0;

	kill(L.pid, SIGKILL);
	if (waitpid(L.pid, &status, 0) < 0)
		status = -1;
	close(L.fd);
	L.fd = -1;
	L.pid = 0;
	free(L.answer);
	L.answer = L.buf;
	L.answer_len = L.n;
	L.answer_ok = !why && status == 0 && L.n > 0;
	L.answer_gen = L.gen;
	L.buf = NULL;
	L.n = L.cap = 0;
	if (why)
		fprintf(stderr, "duress serve: duress targets stopped: %s\n", why);
	for (size_t i = 0; i < L.nwaiters; i++)
		MHD_resume_connection(L.waiters[i]);
	L.nwaiters = 0;
}

/* Read what the listing wrote (the loop saw its fd ready). */
void listing_read(void)
{
	for (;;) {
		ssize_t r;

		if (L.n + 4096 > L.cap) {
			size_t cap = L.cap ? L.cap * 2 : 65536;
			char *q = cap <= TARGETS_MAX_BYTES ? realloc(L.buf, cap + 1) : NULL;

			if (!q) {
				listing_stop("its output is too big");
				return;
			}
			L.buf = q;
			L.cap = cap;
		}
		r = read(L.fd, L.buf + L.n, L.cap - L.n);
		if (r > 0) {
			L.n += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EAGAIN)
			return;
		L.buf[L.n] = '\0';
		listing_stop(NULL);
		return;
	}
}

enum MHD_Result listing_get(struct MHD_Connection *c, struct serve_req *r, const char *self_exe)
{
	if (r->targets_gen && r->targets_gen <= L.answer_gen) {
		if (!L.answer_ok)
			return reply_fail(c, 500, "", "%s", "duress targets failed");
		char *copy = malloc(L.answer_len + 1);

		if (!copy)
			return MHD_NO;
		memcpy(copy, L.answer, L.answer_len);
		return reply(c, 200, "application/json", copy, L.answer_len);
	}
	if (!L.pid && targets_start(self_exe) < 0)
		return reply_fail(c, 500, "", "duress targets: %s", strerror(errno));
	if (L.nwaiters == TARGETS_MAX_WAITERS)
		return reply_fail(c, 503, "", "%s", "too many requests wait for the target list");
	L.waiters[L.nwaiters++] = c;
	r->targets_gen = L.gen;
	MHD_suspend_connection(c);
	return MHD_YES;
}

int listing_fd(void)
{
	return L.pid ? L.fd : -1;
}

void listing_tick(void)
{
	if (L.pid && timing_now() - L.started > TARGETS_WAIT_S)
		listing_stop("it took over 10 s");
}

void listing_free(void)
{
	if (L.pid)
		listing_stop("the server stops");
	free(L.answer);
	free(L.buf);
	L.answer = L.buf = NULL;
}
