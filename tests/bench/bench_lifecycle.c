// SPDX-License-Identifier: MIT
/*
 * How long a user waits: from `duress inject` being started to the fault
 * being in force on the kernel, and from SIGTERM to the original value
 * being back (and to the agent's exit).  Seen from outside, the way a user
 * would: the cgroup file the fault changes is polled every 100 us while
 * the agent runs.  Medians and 90th percentiles of N rounds.  Needs root.
 *
 *   bench_lifecycle LABEL CGFILE N DURESS inject FAULT ARGS...
 *
 * CGFILE is the file the fault changes (memory.max, cpu.max, ...).  The
 * agent's output goes to /dev/null; it must exit 8 (interrupted, reverted)
 * after SIGTERM, else the round counts as a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Poll until the file's content is (want_same) or is not the reference;
 * returns the time it happened, or -1 after timeout_ms. */
static double wait_content(const char *path, const char *ref, int want_same, double timeout_ms)
{
	double start = now_ms();
	char buf[4096];
	const struct timespec step = { 0, 100000 };

	for (;;) {
		double t = now_ms();

		if (read_file(path, buf, sizeof(buf)) == 0 && (!strcmp(buf, ref)) == want_same)
			return t;
		if (t - start > timeout_ms)
			return -1;
		nanosleep(&step, NULL);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[(int)(p * (n - 1) + 0.5)];
}

int main(int argc, char **argv)
{
	const char *label, *file;
	double *apply, *revert, *leave;
	char orig[4096];
	int n, ok = 0, failed = 0;

	if (argc < 6) {
		fprintf(stderr,
			"usage: bench_lifecycle LABEL CGFILE N DURESS inject FAULT ARGS...\n");
		return 2;
	}
	label = argv[1];
	file = argv[2];
	n = atoi(argv[3]);
	if (n < 1 || read_file(file, orig, sizeof(orig)) < 0) {
		fprintf(stderr, "bench_lifecycle: %s: %s\n", file, strerror(errno));
		return 2;
	}
	apply = calloc((size_t)n, sizeof(double));
	revert = calloc((size_t)n, sizeof(double));
	leave = calloc((size_t)n, sizeof(double));
	if (!apply || !revert || !leave)
		return 2;
	for (int i = 0; i < n; i++) {
		double t0 = now_ms(), ta, tk, tr, te;
		int st = 0;
		pid_t p = fork();

		if (p == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			dup2(null, 2);
			execv(argv[4], argv + 4);
			_exit(127);
		}
		if (p < 0)
			return 2;
		ta = wait_content(file, orig, 0, 30000);
		if (ta < 0) {
			kill(p, SIGKILL);
			waitpid(p, &st, 0);
			failed++;
			continue;
		}
		usleep(300000);
		tk = now_ms();
		kill(p, SIGTERM);
		tr = wait_content(file, orig, 1, 30000);
		waitpid(p, &st, 0);
		te = now_ms();
		if (tr < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 8) {
			failed++;
			continue;
		}
		apply[ok] = ta - t0;
		revert[ok] = tr - tk;
		leave[ok] = te - tk;
		ok++;
	}
	if (!ok) {
		printf("%-28s all %d rounds failed\n", label, n);
		return 1;
	}
	printf("%-28s start->in force %7.1f ms (p90 %7.1f) | SIGTERM->restored %6.1f ms (p90 %6.1f)"
	       " | SIGTERM->exit %6.1f ms   [%d rounds%s]\n",
	       label, pct(apply, ok, 0.5), pct(apply, ok, 0.9), pct(revert, ok, 0.5),
	       pct(revert, ok, 0.9), pct(leave, ok, 0.5), ok, failed ? ", some failed" : "");
	free(apply);
	free(revert);
	free(leave);
	return failed ? 1 : 0;
}
