// SPDX-License-Identifier: MIT
/*
 * The sandbox target: a cgroup of the agent's own with a small built-in
 * service in it, for trying faults without a real victim (docs/sandbox.md).
 *
 * sandbox_create() forks the workload leader.  The leader joins the cgroup
 * before anything else, so that everything it does is charged there, then
 * makes itself die with the agent, moves into a private network namespace
 * and starts the workload.  It reports over a pipe: one READY_TAG byte, or
 * an ERROR_TAG record carrying a struct duress_err.
 */
#include <duress/core/proc.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/targets/sandbox.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_CONTROLLERS "cpu memory io pids"
#define SANDBOX_READY_TIMEOUT_MS 5000
#define SANDBOX_DESTROY_TIMEOUT_MS 5000
#define SANDBOX_REAP_TIMEOUT_MS 2000
#define SANDBOX_OOM_SCORE_ADJ 500

#define READY_TAG 'R'
#define ERROR_TAG 'E'

/* What the leader sends when it fails before it is ready (< PIPE_BUF: one write). */
struct ready_msg {
	char tag;
	struct duress_err err;
};

/* ---- time ---- */

#define NSEC_PER_SEC 1000000000LL
#define NSEC_PER_MSEC 1000000LL

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* Sleep until CLOCK_MONOTONIC reaches `when` (ns); returns at once if past. */
static void sleep_until_ns(int64_t when)
{
	struct timespec ts = {
		.tv_sec = when / NSEC_PER_SEC,
		.tv_nsec = when % NSEC_PER_SEC,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Advance a periodic schedule by one period and sleep until then.  A
 * schedule that fell more than a period behind (the task was throttled or
 * stopped) restarts from now instead of bursting to catch up.
 */
static void sleep_next_period(int64_t *next, int64_t period)
{
	int64_t now = mono_ns();

	*next += period;
	if (*next < now - period)
		*next = now;
	sleep_until_ns(*next);
}

/* ---- the workload ---- */

#define WL_MEM_SIZE (32UL << 20)	       /* kept resident */
#define WL_MEM_SLICE (1UL << 20)	       /* re-touched per second */
#define WL_DISK_SIZE (1UL << 20)	       /* written and fsynced per second */
#define WL_MSG_SIZE 4096		       /* one echo message */
#define WL_MSG_PERIOD_NS (100 * NSEC_PER_MSEC) /* 10 messages per second */
#define WL_CPU_BUSY_NS (2 * NSEC_PER_MSEC)
#define WL_CPU_PERIOD_NS (10 * NSEC_PER_MSEC) /* 2 ms busy in 10 ms: 20% of a CPU */
#define WL_SOCK_TIMEOUT_S 2		      /* a stalled connection is dropped and redone */
#define WL_POLL_MS 250			      /* how often blocked threads look at the stop flag */
#define WL_MAX_CONNS 8
#define WL_NTHREADS 5

struct workload {
	atomic_bool stop;
	size_t page;
	unsigned char *mem;
	int disk_fd;
	unsigned char *disk_buf;
	int listen_fd;
	int client_fd; /* owned by the client thread once it runs */
	struct sockaddr_in addr;
	pthread_t threads[WL_NTHREADS];
	size_t nthreads;
	volatile uint64_t sink; /* keeps the CPU burner's arithmetic alive */
};

static bool wl_stopping(struct workload *wl)
{
	return atomic_load_explicit(&wl->stop, memory_order_relaxed);
}

/* (a) About 20% of one CPU: busy 2 ms, idle 8 ms, by the monotonic clock. */
static void *wl_cpu_thread(void *arg)
{
	struct workload *wl = arg;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int64_t next = mono_ns();

	while (!wl_stopping(wl)) {
		int64_t start = mono_ns();
		int64_t busy_until = start + WL_CPU_BUSY_NS;

		while (mono_ns() < busy_until) {
			for (int i = 0; i < 256; i++)
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		}
		wl->sink = x;
		sleep_next_period(&next, WL_CPU_PERIOD_NS);
	}
	return NULL;
}

/* Write one byte in every page of [off, off + len): keeps them resident and recently used. */
static void wl_touch(struct workload *wl, size_t off, size_t len)
{
	for (size_t p = off; p < off + len; p += wl->page)
		wl->mem[p]++;
}

/* (b) 32 MiB touched once at setup; a rotating 1 MiB slice re-touched every second. */
static void *wl_mem_thread(void *arg)
{
	struct workload *wl = arg;
	int64_t next = mono_ns();
	size_t off = 0;

	while (!wl_stopping(wl)) {
		wl_touch(wl, off, WL_MEM_SLICE);
		off = (off + WL_MEM_SLICE) % WL_MEM_SIZE;
		sleep_next_period(&next, NSEC_PER_SEC);
	}
	return NULL;
}

/* (c) Every second: 1 MiB written and fsynced, then truncated away. */
static void *wl_disk_thread(void *arg)
{
	struct workload *wl = arg;
	int64_t next = mono_ns();

	while (!wl_stopping(wl)) {
		size_t done = 0;

		while (done < WL_DISK_SIZE && !wl_stopping(wl)) {
			ssize_t n = pwrite(wl->disk_fd, wl->disk_buf + done, WL_DISK_SIZE - done,
					   (off_t)done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break; /* full disk, I/O error: try again next second */
			done += (size_t)n;
		}
		fsync(wl->disk_fd);
		while (ftruncate(wl->disk_fd, 0) < 0 && errno == EINTR)
			;
		sleep_next_period(&next, NSEC_PER_SEC);
	}
	return NULL;
}

static int wl_send_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int wl_recv_all(int fd, unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send and receive timeouts, so that a connection stalled by a fault is dropped. */
static void wl_sock_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = WL_SOCK_TIMEOUT_S };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The listener: 127.0.0.1, a port the kernel picks. */
static int wl_listen(struct workload *wl, struct duress_err *err)
{
	socklen_t alen = sizeof(wl->addr);

	wl->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (wl->listen_fd < 0)
		return duress_err_set(err, errno, "create the echo listener socket");
	memset(&wl->addr, 0, sizeof(wl->addr));
	wl->addr.sin_family = AF_INET;
	wl->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(wl->listen_fd, (struct sockaddr *)&wl->addr, sizeof(wl->addr)) < 0)
		return duress_err_set(err, errno, "bind the echo listener to 127.0.0.1");
	if (listen(wl->listen_fd, WL_MAX_CONNS) < 0)
		return duress_err_set(err, errno, "listen on 127.0.0.1");
	if (getsockname(wl->listen_fd, (struct sockaddr *)&wl->addr, &alen) < 0)
		return duress_err_set(err, errno, "read the echo listener's port");
	return 0;
}

static int wl_connect(struct workload *wl, struct duress_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return duress_err_set(err, errno, "create the echo client socket");
	wl_sock_timeouts(fd); /* SO_SNDTIMEO also bounds connect() */
	while (connect(fd, (struct sockaddr *)&wl->addr, sizeof(wl->addr)) < 0) {
		if (errno == EINTR)
			continue;
		duress_err_set(err, errno, "connect to the echo listener on 127.0.0.1:%u",
			       ntohs(wl->addr.sin_port));
		close(fd);
		return -1;
	}
	return fd;
}

/* (d) Echo server: whatever a connection sends comes back. */
static void *wl_echo_thread(void *arg)
{
	struct workload *wl = arg;
	struct pollfd pfd[1 + WL_MAX_CONNS];
	unsigned char buf[16384];
	size_t nconn = 0;

	pfd[0].fd = wl->listen_fd;
	pfd[0].events = POLLIN;
	while (!wl_stopping(wl)) {
		if (poll(pfd, 1 + nconn, WL_POLL_MS) <= 0)
			continue;
		for (size_t i = 1; i <= nconn; i++) {
			ssize_t n;

			if (!pfd[i].revents)
				continue;
			n = recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n > 0 && wl_send_all(pfd[i].fd, buf, (size_t)n) == 0)
				continue;
			/* End of stream or a broken connection: drop it. */
			close(pfd[i].fd);
			pfd[i] = pfd[nconn];
			nconn--;
			i--;
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(wl->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			if (nconn == WL_MAX_CONNS) {
				close(fd);
				continue;
			}
			wl_sock_timeouts(fd);
			nconn++;
			pfd[nconn].fd = fd;
			pfd[nconn].events = POLLIN;
			pfd[nconn].revents = 0;
		}
	}
	for (size_t i = 1; i <= nconn; i++)
		close(pfd[i].fd);
	return NULL;
}

/* (d) Client: a 4 KiB message 10 times a second, and its echo read back and checked. */
static void *wl_client_thread(void *arg)
{
	struct workload *wl = arg;
	unsigned char out[WL_MSG_SIZE], in[WL_MSG_SIZE];
	int64_t next = mono_ns();
	uint32_t seq = 0;

	while (!wl_stopping(wl)) {
		if (wl->client_fd < 0) {
			struct duress_err ignored = { 0 };

			wl->client_fd = wl_connect(wl, &ignored);
		}
		if (wl->client_fd >= 0) {
			seq++;
			for (size_t i = 0; i < sizeof(out); i++)
				out[i] = (unsigned char)(seq + i);
			if (wl_send_all(wl->client_fd, out, sizeof(out)) < 0 ||
			    wl_recv_all(wl->client_fd, in, sizeof(in)) < 0 ||
			    memcmp(in, out, sizeof(in)) != 0) {
				close(wl->client_fd);
				wl->client_fd = -1;
			}
		}
		sleep_next_period(&next, WL_MSG_PERIOD_NS);
	}
	return NULL;
}

/* mkostemp in dir, unlinked at once: the file cannot outlive the process. */
static int wl_scratch_in(const char *dir)
{
	char path[PATH_MAX];
	int len = snprintf(path, sizeof(path), "%s/duress-sandbox-", dir);
	int fd;

	if (len < 0 || (size_t)len + 7 > sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(path + len, 'X', 6); /* mkostemp's template */
	path[len + 6] = '\0';
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (unlink(path) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int wl_setup(struct workload *wl, struct duress_err *err)
{
	int var_errno;

	wl->mem =
		mmap(NULL, WL_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (wl->mem == MAP_FAILED) {
		wl->mem = NULL;
		return duress_err_set(err, errno, "allocate %lu MiB of memory", WL_MEM_SIZE >> 20);
	}
	wl_touch(wl, 0, WL_MEM_SIZE);

	wl->disk_buf = malloc(WL_DISK_SIZE);
	if (!wl->disk_buf)
		return duress_err_set(err, errno, "allocate the %lu MiB disk buffer",
				      WL_DISK_SIZE >> 20);
	/* Not zeros, so that no filesystem can compress or skip the writes. */
	for (size_t i = 0; i < WL_DISK_SIZE; i++)
		wl->disk_buf[i] = (unsigned char)(i * 131 + (i >> 12));

	wl->disk_fd = wl_scratch_in("/var/tmp");
	if (wl->disk_fd < 0) {
		var_errno = errno;
		wl->disk_fd = wl_scratch_in("/tmp");
		if (wl->disk_fd < 0)
			return duress_err_set(err, errno,
					      "create a scratch file in /var/tmp (%s) or /tmp",
					      strerror(var_errno));
	}

	if (wl_listen(wl, err) < 0)
		return -1;
	wl->client_fd = wl_connect(wl, err);
	if (wl->client_fd < 0)
		return -1;
	return 0;
}

static void wl_teardown(struct workload *wl)
{
	atomic_store(&wl->stop, true);
	/* Wake the echo thread out of accept/recv at once. */
	if (wl->listen_fd >= 0)
		shutdown(wl->listen_fd, SHUT_RDWR);
	for (size_t i = 0; i < wl->nthreads; i++)
		pthread_join(wl->threads[i], NULL);
	wl->nthreads = 0;
	if (wl->client_fd >= 0)
		close(wl->client_fd);
	if (wl->listen_fd >= 0)
		close(wl->listen_fd);
	if (wl->disk_fd >= 0)
		close(wl->disk_fd);
	free(wl->disk_buf);
	if (wl->mem)
		munmap(wl->mem, WL_MEM_SIZE);
}

int sandbox_workload_main(int ready_fd, struct duress_err *err)
{
	static void *(*const starts[WL_NTHREADS])(void *) = {
		wl_cpu_thread, wl_mem_thread, wl_disk_thread, wl_echo_thread, wl_client_thread,
	};
	/* Thread names (15 chars at most) show in top -H and /proc/PID/task. */
	static const char *const names[WL_NTHREADS] = { "sandbox-cpu", "sandbox-memory",
							"sandbox-disk", "sandbox-echo",
							"sandbox-client" };
	struct workload wl = {
		.disk_fd = -1,
		.listen_fd = -1,
		.client_fd = -1,
	};
	char tag = READY_TAG;
	ssize_t n;
	long page = sysconf(_SC_PAGESIZE);

	atomic_init(&wl.stop, false);
	wl.page = page > 0 ? (size_t)page : 4096;
	if (wl_setup(&wl, err) < 0)
		goto fail;
	for (size_t i = 0; i < WL_NTHREADS; i++) {
		int rc = pthread_create(&wl.threads[i], NULL, starts[i], &wl);

		if (rc) {
			duress_err_set(err, rc, "start thread %s", names[i]);
			goto fail;
		}
		wl.nthreads++;
		pthread_setname_np(wl.threads[i], names[i]);
	}

	if (ready_fd >= 0) {
		do
			n = write(ready_fd, &tag, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1) {
			duress_err_set(err, n < 0 ? errno : EIO, "report readiness on fd %d",
				       ready_fd);
			goto fail;
		}
		close(ready_fd);
	}
	for (;;)
		pause();

fail:
	wl_teardown(&wl);
	return -1;
}

/* ---- the leader (runs in the forked child) ---- */

static __attribute__((noreturn)) void leader_fail(int ready_fd, struct duress_err *err)
{
	struct ready_msg msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	duress_err_wrap(err, "sandbox workload");
	msg.tag = ERROR_TAG;
	msg.err = *err;
	do
		n = write(ready_fd, &msg, sizeof(msg));
	while (n < 0 && errno == EINTR);
	_exit(DURESS_EXIT_INTERNAL);
}

/* Close fds lo..hi; close_range needs Linux 5.9, else one by one. */
static int close_fds(int lo, int hi)
{
	long max;

	if (lo > hi)
		return 0;
	if (close_range((unsigned int)lo, (unsigned int)hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1L << 20)
		max = 1L << 20;
	for (long fd = lo; fd <= hi && fd < max; fd++)
		close((int)fd);
	return 0;
}

/* Nothing of the agent's but stderr and the readiness pipe; returns the pipe's new fd. */
static int leader_fds(int ready_fd, struct duress_err *err)
{
	int fd = fcntl(ready_fd, F_DUPFD_CLOEXEC, 3);
	int devnull;

	if (fd < 0)
		return duress_err_set(err, errno, "move the readiness pipe (fd %d)", ready_fd);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return duress_err_set(err, errno, "open /dev/null");
	/* dup2 clears FD_CLOEXEC on the copies. */
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
	    ((ready_fd == STDERR_FILENO || fcntl(STDERR_FILENO, F_GETFD) < 0) &&
	     dup2(devnull, STDERR_FILENO) < 0))
		return duress_err_set(err, errno, "redirect stdin/stdout to /dev/null");
	if (close_fds(3, fd - 1) < 0 || close_fds(fd + 1, INT_MAX) < 0)
		return duress_err_set(err, errno, "close the agent's file descriptors");
	return fd;
}

static int leader_lo_up(struct duress_err *err)
{
	cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (fd < 0)
		return duress_err_set(err, errno, "create a socket to bring lo up");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", sizeof("lo"));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return duress_err_set(err, errno, "read the flags of lo (SIOCGIFFLAGS)");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return duress_err_set(err, errno, "bring lo up (SIOCSIFFLAGS)");
	return 0;
}

/*
 * The forked child.  It joins the sandbox first, so that every page and
 * every CPU cycle it uses from then on is charged to the sandbox.
 */
static __attribute__((noreturn)) void leader_main(const char *dir, pid_t agent, int ready_fd)
{
	/* The agent may block or catch signals; the workload starts with defaults. */
	const struct proc_child setup = {
		.name = "duress-sandbox",
		.deathsig = SIGKILL,
		.parent = agent,
		.default_handlers = true,
		.set_oom = true,
		.oom_score_adj = SANDBOX_OOM_SCORE_ADJ,
	};
	struct duress_err err = { 0 };
	int fd;

	if (cg_attach(dir, 0, &err) < 0) {
		duress_err_wrap(&err, "cannot join cgroup %s", dir);
		leader_fail(ready_fd, &err);
	}
	if (proc_child_setup(&setup, DURESS_EXIT_INTERNAL) < 0) {
		duress_err_set(&err, errno, "write %d to /proc/self/oom_score_adj",
			       SANDBOX_OOM_SCORE_ADJ);
		leader_fail(ready_fd, &err);
	}
	fd = leader_fds(ready_fd, &err);
	if (fd < 0)
		leader_fail(ready_fd, &err);
	ready_fd = fd;
	if (unshare(CLONE_NEWNET) < 0) {
		duress_err_setc(&err, errno == EPERM ? DURESS_EXIT_UNSUPPORTED : 0, errno,
				"unshare a network namespace (needs CAP_SYS_ADMIN)");
		leader_fail(ready_fd, &err);
	}
	if (leader_lo_up(&err) < 0)
		leader_fail(ready_fd, &err);
	sandbox_workload_main(ready_fd, &err);
	leader_fail(ready_fd, &err);
}

/* ---- the agent's side ---- */

/*
 * Reap our child `pid`, waiting at most timeout_ms and sending SIGKILL
 * halfway.  The kill is safe: a child we have not reaped keeps its pid.
 * Returns 0 when reaped (or reaped elsewhere: ECHILD), -1 on timeout.
 */
static int reap_child(pid_t pid, int timeout_ms, int *status)
{
	int64_t start = mono_ns();
	int64_t kill_at = start + (int64_t)timeout_ms * NSEC_PER_MSEC / 2;
	int64_t give_up = start + (int64_t)timeout_ms * NSEC_PER_MSEC;
	bool killed = false;
	int st = 0;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD)) {
			if (status)
				*status = r == pid ? st : -1;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (!killed && mono_ns() >= kill_at) {
			kill(pid, SIGKILL);
			killed = true;
		}
		if (mono_ns() >= give_up)
			return -1;
		sleep_until_ns(mono_ns() + 5 * NSEC_PER_MSEC);
	}
}

/* The leader closed the pipe without a message: say how it ended. */
static int leader_died(pid_t pid, struct duress_err *err)
{
	int st = -1;

	if (reap_child(pid, SANDBOX_REAP_TIMEOUT_MS, &st) < 0)
		return duress_err_set(err, 0,
				      "sandbox workload (pid %d) closed its readiness pipe "
				      "without a word and did not exit",
				      pid);
	if (st != -1 && WIFEXITED(st))
		return duress_err_set(err, 0,
				      "sandbox workload (pid %d) exited with status %d before "
				      "it was ready",
				      pid, WEXITSTATUS(st));
	if (st != -1 && WIFSIGNALED(st))
		return duress_err_set(err, 0,
				      "sandbox workload (pid %d) was killed by signal %d (%s) "
				      "before it was ready",
				      pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
	return duress_err_set(err, 0, "sandbox workload (pid %d) ended before it was ready", pid);
}

/* Wait for READY_TAG from the leader, or its error, or the timeout. */
static int wait_ready(int fd, pid_t pid, struct duress_err *err)
{
	struct ready_msg msg;
	size_t got = 0;
	int64_t deadline = mono_ns() + SANDBOX_READY_TIMEOUT_MS * NSEC_PER_MSEC;

	memset(&msg, 0, sizeof(msg));
	for (;;) {
		int64_t left = deadline - mono_ns();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (left <= 0)
			return duress_err_set(err, 0,
					      "sandbox workload (pid %d) not ready after %d s", pid,
					      SANDBOX_READY_TIMEOUT_MS / 1000);
		r = poll(&pfd, 1, (int)((left + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC));
		if (r < 0 && errno != EINTR)
			return duress_err_set(err, errno, "wait for the sandbox workload (pid %d)",
					      pid);
		if (r <= 0)
			continue;
		n = read(fd, (char *)&msg + got, sizeof(msg) - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return duress_err_set(err, errno,
					      "read the readiness pipe of the sandbox workload "
					      "(pid %d)",
					      pid);
		if (n == 0)
			break;
		got += (size_t)n;
		if (msg.tag == READY_TAG)
			return 0;
		if (msg.tag != ERROR_TAG)
			return duress_err_set(err, 0,
					      "sandbox workload (pid %d) sent a bad readiness "
					      "byte 0x%02x",
					      pid, (unsigned char)msg.tag);
		if (got == sizeof(msg))
			break;
	}
	if (got == sizeof(msg)) {
		msg.err.msg[sizeof(msg.err.msg) - 1] = '\0';
		err->errnum = msg.err.errnum;
		err->code = msg.err.code;
		memcpy(err->msg, msg.err.msg, sizeof(err->msg));
		return -1;
	}
	return leader_died(pid, err);
}

static int open_ns(pid_t pid, const char *ns, int *out, struct duress_err *err)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns);
	*out = open(path, O_RDONLY | O_CLOEXEC);
	if (*out < 0)
		return duress_err_set(err, errno, "open %s (sandbox workload)", path);
	return 0;
}

int sandbox_create(const struct cg_root *root, struct target *t, struct duress_err *err)
{
	struct duress_err local = { 0 };
	char rel[64], dir[PATH_MAX];
	cleanup_close int netns_fd = -1;
	cleanup_close int mntns_fd = -1;
	cleanup_close int rfd = -1;
	int pipefd[2];
	pid_t agent = getpid();
	pid_t child = -1;

	if (!root->mount[0])
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "no cgroup v2 hierarchy: a sandbox needs one");
	if (cg_root_require(root, SANDBOX_CONTROLLERS, err) < 0)
		return -1;
	if (cg_enable_controllers(root->mount, SANDBOX_CONTROLLERS, err) < 0)
		return duress_err_wrap(err, "prepare a sandbox below %s", root->mount);

	snprintf(rel, sizeof(rel), "/duress-sandbox-%d", agent);
	if (cg_path_join(root, rel, dir, sizeof(dir), err) < 0)
		return -1;
	if (cg_create(dir, false, err) < 0) {
		if (err->errnum == EEXIST)
			return duress_err_set(err, EEXIST,
					      "create sandbox %s (left by an earlier duress with "
					      "the same pid? kill what is in its cgroup.procs and "
					      "rmdir it)",
					      dir);
		return -1;
	}

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		duress_err_set(err, errno, "create the sandbox readiness pipe");
		goto fail_rmdir;
	}
	rfd = pipefd[0];
	child = fork();
	if (child < 0) {
		duress_err_set(err, errno, "fork the sandbox workload");
		close(pipefd[1]);
		goto fail_rmdir;
	}
	if (child == 0) {
		close(pipefd[0]);
		leader_main(dir, agent, pipefd[1]);
	}
	close(pipefd[1]);

	if (wait_ready(rfd, child, err) < 0)
		goto fail_kill;
	if (open_ns(child, "net", &netns_fd, err) < 0 || open_ns(child, "mnt", &mntns_fd, err) < 0)
		goto fail_kill;

	target_init(t);
	t->kind = TARGET_SANDBOX;
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	snprintf(t->rel, sizeof(t->rel), "%s", rel);
	t->owned = true;
	t->pid = child;
	t->workload_pid = child;
	t->netns_fd = steal_fd(&netns_fd);
	t->mntns_fd = steal_fd(&mntns_fd);
	return 0;

fail_kill:
	/* It may have failed before joining the cgroup: kill it by pid too. */
	kill(child, SIGKILL);
	reap_child(child, SANDBOX_REAP_TIMEOUT_MS, NULL);
fail_rmdir:
	if (cg_destroy(dir, SANDBOX_DESTROY_TIMEOUT_MS, &local) < 0)
		duress_err_print(stderr, &local);
	return -1;
}

int sandbox_destroy(struct target *t, struct duress_err *err)
{
	int rc = 0;

	if (!t->owned)
		return 0;
	t->owned = false;

	if (cg_destroy(t->dir, SANDBOX_DESTROY_TIMEOUT_MS, err) < 0) {
		duress_err_wrap(err, "remove sandbox %s (kill what is left in it and rmdir it)",
				t->dir);
		rc = -1;
	}
	if (t->workload_pid > 0) {
		if (reap_child(t->workload_pid, SANDBOX_REAP_TIMEOUT_MS, NULL) < 0 && rc == 0)
			rc = duress_err_set(err, 0, "sandbox workload (pid %d) did not exit",
					    t->workload_pid);
		t->workload_pid = 0;
	}
	t->pid = 0;
	if (t->netns_fd >= 0) {
		close(t->netns_fd);
		t->netns_fd = -1;
	}
	if (t->mntns_fd >= 0) {
		close(t->mntns_fd);
		t->mntns_fd = -1;
	}
	return rc;
}
