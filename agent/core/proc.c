// SPDX-License-Identifier: MIT
/* Processes: start times, the child set-up, private descriptors (proc.h). */
#include <duress/core/cleanup.h>
#include <duress/core/proc.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

int proc_starttime(pid_t pid, unsigned long long *out)
{
	char path[64], buf[1024];
	cleanup_close int fd = -1;
	ssize_t r;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return -1;
	/* after ") " come fields 3..: state is field 3, starttime field 22 */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   out) != 1)
		return -1;
	return 0;
}

char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	cleanup_close int fd = -1;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	r = read(fd, buf, sizeof(buf) - 1);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

bool proc_is_agents(pid_t pid)
{
	char path[64], comm[32];
	cleanup_close int fd = -1;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	r = read(fd, comm, sizeof(comm) - 1);
	if (r <= 0)
		return false;
	comm[r] = '\0';
	return !strncmp(comm, "duress", 6);
}

/* ---- private descriptors ---- */

#define PROC_MAX_PRIVATE 32

static int private_fds[PROC_MAX_PRIVATE];
static size_t nprivate;

void proc_private_fd(int fd)
{
	if (fd >= 0 && nprivate < PROC_MAX_PRIVATE)
		private_fds[nprivate++] = fd;
}

void proc_private_forget(int fd)
{
	for (size_t i = 0; i < nprivate; i++)
		if (private_fds[i] == fd) {
			private_fds[i] = private_fds[--nprivate];
			return;
		}
}

void proc_close_private(void)
{
	for (size_t i = 0; i < nprivate; i++)
		close(private_fds[i]);
	nprivate = 0;
}

/* ---- the child set-up ---- */

int proc_oom_score_adj(int value)
{
	cleanup_close int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", value);

	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		return -1;
	return 0;
}

void proc_protect_self(void)
{
	if (proc_oom_score_adj(-1000) < 0)
		fprintf(stderr, "duress: cannot protect the agent from the OOM killer: %s\n",
			strerror(errno));
}

int proc_child_setup(const struct proc_child *c, int exit_code)
{
	sigset_t none;
	int rc = 0;

	if (!c->keep_private)
		proc_close_private();
	/* Without its parent-death signal a child could outlive the agent;
	 * and the parent may have died before the prctl: nobody would
	 * signal us. */
	if (c->deathsig &&
	    (prctl(PR_SET_PDEATHSIG, c->deathsig) < 0 || (c->parent && getppid() != c->parent)))
		_exit(exit_code);
	if (c->default_handlers) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (int sig = 1; sig < NSIG; sig++)
			sigaction(sig, &sa,
				  NULL); /* fails harmlessly for SIGKILL, SIGSTOP, libc's */
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, c->mask ? c->mask : &none, NULL);
	if (c->name)
		prctl(PR_SET_NAME, c->name);
	if (c->set_oom && proc_oom_score_adj(c->oom_score_adj) < 0)
		rc = -1;
	return rc;
}

int proc_signals_to_fd(sigset_t *old)
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
