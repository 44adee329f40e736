// SPDX-License-Identifier: MIT
/* Shared pieces of the commands that change a target (runtime.h). */
#include <duress/core/cgroup.h>
#include <duress/targets/cgview.h>
#include <duress/core/exitcode.h>
#include <duress/session/runtime.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

bool cg_rel_covers(const char *anc, const char *rel)
{
	size_t n = strlen(anc);

	if (!strcmp(anc, "/"))
		return true;
	return !strncmp(anc, rel, n) && (rel[n] == '\0' || rel[n] == '/');
}

int target_guard(const struct target *t, bool force, struct duress_err *err)
{
	struct duress_err e = { 0 };
	char own[PATH_MAX], init[PATH_MAX];

	if (force || t->owned)
		return 0;
	if (t->view[0]) {
		/* Seen from the agent's cgroup namespace ("/../app"): "/.."
		 * alone (or more of them) is an ancestor of the agent itself. */
		if (cg_rel_only_up(t->nsrel))
			return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
					       "refusing: target %s holds the agent itself (it is "
					       "an ancestor of the agent's cgroup namespace) (use "
					       "--force)",
					       t->nsrel);
		/* No PID 1 check: in a sidecar PID 1 is the first container
		 * of the shared PID namespace, a legitimate target. */
		return 0;
	}
	if (!strcmp(t->rel, "/"))
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "refusing to put the root cgroup under duress: that is the "
				       "whole host (use --force if you mean it)");
	if (cg_of_pid(getpid(), own, sizeof(own), &e) == 0 && cg_rel_covers(t->rel, own))
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "refusing: target %s holds the agent itself (its cgroup is "
				       "%s); the agent could not revert what it breaks (use --force)",
				       t->rel, own);
	if (cg_of_pid(1, init, sizeof(init), &e) == 0 && cg_rel_covers(t->rel, init))
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "refusing: target %s holds PID 1 of this host (cgroup %s) "
				       "(use --force)",
				       t->rel, init);
	return 0;
}

int signals_to_fd(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int periodic_timer(uint64_t interval_us)
{
	struct itimerspec its = { 0 };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0)
		return -1;
	its.it_interval.tv_sec = (time_t)(interval_us / 1000000);
	its.it_interval.tv_nsec = (long)(interval_us % 1000000) * 1000;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void protect_agent(void)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "-1000", 5) < 0)
		fprintf(stderr, "duress: cannot protect the agent from the OOM killer: %s\n",
			strerror(errno));
	close(fd);
}
