// SPDX-License-Identifier: MIT
/* Long-running helper processes of faults; see include/duress/faults/helper.h. */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/undo.h>
#include <duress/faults/helper.h>
#include <duress/core/proc.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- the agent's death, seen early ----
 *
 * A helper learns that its agent died from the control socket's EOF and
 * from its parent-death signal; both come late in the agent's exit: the
 * EOF when the kernel releases the agent's descriptors (after, say, its
 * nftables socket, whose owned table's release waits for RCU grace
 * periods: long on a starved machine), the signal at the very end.  The
 * earliest step of a thread's exit is its robust futex list: a mutex it
 * holds is marked "owner died" and one waiter woken.  So the agent's main
 * thread holds a process-shared robust mutex, in a shared page its helpers
 * inherit, for its whole life, and a thread of each helper waits for it:
 * the helper ends at once, its connections closed while the agent is
 * still being torn down. */
static pthread_mutex_t *agent_alive;
static pid_t agent_alive_pid; /* the process whose main thread holds it */

static void agent_alive_init(void)
{
	pthread_mutexattr_t a;
	pthread_mutex_t *m;

	/* the main thread's life is the process's, not another thread's */
	if (agent_alive_pid == getpid() || (pid_t)syscall(SYS_gettid) != getpid())
		return;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return; /* the later signs (EOF, the parent-death signal) remain */
	if (pthread_mutexattr_init(&a) == 0) {
		if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
		    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
		    pthread_mutex_init(m, &a) == 0 && pthread_mutex_lock(m) == 0) {
			agent_alive = m;
			agent_alive_pid = getpid();
		}
		pthread_mutexattr_destroy(&a);
	}
	if (agent_alive != m)
		munmap(m, sizeof(*m));
}

static void *agent_watch(void *arg)
{
	/* returns only once the holder's thread is exiting (EOWNERDEAD) */
	(void)pthread_mutex_lock(arg);
	_exit(0);
}

/* In the child: a thread that ends it when the agent dies.  It takes no
 * signal: the helper's own handling (a signalfd) gets them all. */
static void agent_watch_start(pid_t parent)
{
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t t;

	if (!agent_alive || agent_alive_pid != parent || pthread_attr_init(&a))
		return;
	pthread_attr_setstacksize(&a, 64 * 1024);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	(void)pthread_create(&t, &a, agent_watch, agent_alive);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
}

/* ---- the child ---- */

static bool kept(int fd, const int *keep, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (keep[i] == fd)
			return true;
	return false;
}

/* Close every descriptor above stderr but those in keep. */
static void close_all_but(const int *keep, size_t n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int dfd = d ? dirfd(d) : -1;

	if (!d) {
		/* no /proc: the slow way, up to a sane bound */
		for (int fd = 3; fd < 65536; fd++)
			if (!kept(fd, keep, n))
				close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || fd <= 2 || fd == dfd || kept((int)fd, keep, n))
			continue;
		close((int)fd);
	}
	closedir(d);
}

static void child_error(int ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void child_error(int ctl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fault_helper_send(ctl, "error", NULL, msg);
}

static _Noreturn void child_run(const struct fault_helper_spec *spec, pid_t parent, int go, int ctl)
{
	const struct proc_child setup = {
		.name = spec->name, .deathsig = SIGKILL, .parent = parent, .default_handlers = true
	};
	int keep[FAULT_HELPER_MAX_KEEP + 1];
	char c;
	ssize_t n;

	(void)proc_child_setup(&setup, DURESS_EXIT_INTERNAL);
	signal(SIGPIPE, SIG_IGN); /* a peer gone is an EPIPE, never a death */
	/* nothing happens before the parent has journaled our pid */
	do
		n = read(go, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(DURESS_EXIT_INTERNAL);
	close(go);
	agent_watch_start(parent);
	if (spec->netns_fd >= 0 && setns(spec->netns_fd, CLONE_NEWNET) < 0) {
		child_error(ctl, "enter the target's network namespace: %s", strerror(errno));
		_exit(DURESS_EXIT_INTERNAL);
	}
	memcpy(keep, spec->keep_fds, spec->nkeep * sizeof(int));
	keep[spec->nkeep] = ctl;
	close_all_but(keep, spec->nkeep + 1);
	_exit(spec->main(spec->arg, ctl));
}

int fault_helper_send(int ctl_fd, const char *type, json_t *data, const char *msg)
{
	json_t *o = json_object();
	char *text;
	size_t len;
	ssize_t w;

	if (!o)
		return -1;
	json_object_set_new(o, "t", json_string(type));
	if (data)
		json_object_set(o, "data", data);
	if (msg)
		json_object_set_new(o, "msg", json_string(msg));
	text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!text)
		return -1;
	len = strlen(text);
	{
		struct iovec iov[2] = { { text, len }, { (void *)"\n", 1 } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

		/* one line in one write: the reader never sees half of it first */
		do
			w = sendmsg(ctl_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
	}
	free(text);
	return w == (ssize_t)len + 1 ? 0 : -1;
}

/* ---- the parent ---- */

static void forget_step(struct fault_helper *h)
{
	if (h->has_undo)
		undo_forget(h->f->undo, h->undo_idx);
	h->has_undo = false;
}

static void reap_blocking(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/* The death of a helper as words: "exited with 5", "killed by SIGSEGV". */
static void status_text(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by %s", strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended (status %d)", st);
}

static void on_line(struct fault_helper *h, const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
	const char *t = json_string_value(json_object_get(o, "t"));
	const char *msg = json_string_value(json_object_get(o, "msg"));

	if (!t) {
		json_decref(o);
		return;
	}
	if (!strcmp(t, "stats") && json_is_object(json_object_get(o, "data"))) {
		json_decref(h->last);
		h->last = json_incref(json_object_get(o, "data"));
	} else if (!strcmp(t, "event") && msg) {
		fprintf(stderr, "duress: %s: %s\n", h->spec.name, msg);
	} else if (!strcmp(t, "error") && msg) {
		snprintf(h->last_error, sizeof(h->last_error), "%s", msg);
	}
	json_decref(o);
}

/* Read what the channel holds; returns 1 on "ready" seen, 0 else; EOF
 * closes it. */
static int read_channel(struct fault_helper *h, bool want_ready)
{
	char buf[8192];
	int ready = 0;

	while (h->ctl >= 0) {
		ssize_t n = recv(h->ctl, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) {
			close(h->ctl);
			h->ctl = -1;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (h->rlen < FAULT_HELPER_LINE_MAX - 1)
					h->rbuf[h->rlen++] = buf[i];
				else
					h->skipping = true;
				continue;
			}
			h->rbuf[h->rlen] = '\0';
			if (!h->skipping) {
				if (want_ready && !strncmp(h->rbuf, "{\"t\":\"ready\"", 12))
					ready = 1;
				on_line(h, h->rbuf);
			}
			h->rlen = 0;
			h->skipping = false;
		}
	}
	return ready;
}

static int spawn(struct fault_helper *h, struct duress_err *err)
{
	const struct fault_helper_spec *spec = &h->spec;
	unsigned long long start;
	pid_t parent = getpid(), child;
	char when[32];
	int sp[2], go[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "%s: socketpair",
				       spec->name);
	if (pipe2(go, O_CLOEXEC) < 0) {
		int e = errno;

		close(sp[0]);
		close(sp[1]);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "%s: pipe", spec->name);
	}
	agent_alive_init();
	fflush(NULL); /* nothing buffered is written twice */
	child = fork();
	if (child < 0) {
		int e = errno;

		close(sp[0]);
		close(sp[1]);
		close(go[0]);
		close(go[1]);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "%s: fork", spec->name);
	}
	if (child == 0) {
		close(sp[0]);
		close(go[1]);
		child_run(spec, parent, go[0], sp[1]);
	}
	close(sp[1]);
	close(go[0]);
	h->pid = child;
	h->ctl = sp[0];
	h->rlen = 0;
	h->skipping = false;
	h->last_error[0] = '\0';
	fcntl(h->ctl, F_SETFL, fcntl(h->ctl, F_GETFL) | O_NONBLOCK);
	/* journaled before the child may do anything */
	if (proc_starttime(child, &start) < 0) {
		kill(child, SIGKILL);
		reap_blocking(child, NULL);
		close(go[1]);
		h->pid = 0;
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "%s: start time of pid %d",
				       spec->name, (int)child);
	}
	{
		char where[32];
		int idx;

		snprintf(where, sizeof(where), "%d", (int)child);
		snprintf(when, sizeof(when), "%llu", start);
		idx = undo_record(h->f->undo, &undo_kind_helper, h->f->desc->name, where, when,
				  spec->name, err);
		if (idx < 0) {
			kill(child, SIGKILL);
			reap_blocking(child, NULL);
			close(go[1]);
			h->pid = 0;
			return duress_err_wrap(err, "%s", spec->name);
		}
		h->undo_idx = (size_t)idx;
		h->has_undo = true;
	}
	if (write(go[1], "g", 1) != 1) {
		int e = errno;

		close(go[1]);
		fault_helper_stop(h);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "%s: let the child go",
				       spec->name);
	}
	close(go[1]);
	return 0;
}

/* Wait for "ready" (or the child's death) up to the spec's timeout. */
static int wait_ready(struct fault_helper *h, struct duress_err *err)
{
	uint64_t end = mono_us() + h->spec.ready_timeout_us;
	char how[64];
	int st;

	for (;;) {
		struct pollfd p = { .fd = h->ctl, .events = POLLIN };
		uint64_t now = mono_us();
		int r;

		if (h->ctl < 0 || now >= end)
			break;
		r = poll(&p, 1, (int)((end - now) / 1000) + 1);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && read_channel(h, true))
			return 0;
	}
	/* EOF comes as the child exits, a moment before it can be reaped */
	for (int i = 0; h->ctl < 0 && i < 1000; i++) {
		if (waitpid(h->pid, &st, WNOHANG) == h->pid)
			goto died;
		usleep(1000);
	}
	if (waitpid(h->pid, &st, WNOHANG) == h->pid) {
	died:
		h->pid = 0;
		forget_step(h);
		status_text(st, how, sizeof(how));
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				       "%s %s before it was ready%s%s", h->spec.name, how,
				       h->last_error[0] ? ": " : "", h->last_error);
	}
	fault_helper_stop(h);
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, ETIMEDOUT,
			       "%s: not ready within %.1fs%s%s", h->spec.name,
			       h->spec.ready_timeout_us / 1e6, h->last_error[0] ? ": " : "",
			       h->last_error);
}

int fault_helper_start(struct fault *f, struct fault_helper *h,
		       const struct fault_helper_spec *spec, struct duress_err *err)
{
	memset(h, 0, sizeof(*h));
	h->ctl = -1;
	h->f = f;
	h->spec = *spec;
	h->backoff_us = FAULT_HELPER_BACKOFF_MIN_US;
	if (spec->nkeep > FAULT_HELPER_MAX_KEEP || !spec->main || !spec->name)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL, "helper: bad spec");
	h->rbuf = malloc(FAULT_HELPER_LINE_MAX);
	if (!h->rbuf)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", spec->name);
	if (spawn(h, err) < 0)
		return -1;
	if (spec->ready_timeout_us && wait_ready(h, err) < 0)
		return -1;
	return 0;
}

bool fault_helper_running(const struct fault_helper *h)
{
	return h->pid > 0;
}

/* Fold the dead helper's counters into base. */
static void fold(struct fault_helper *h)
{
	if (!h->last)
		return;
	if (!h->base)
		h->base = json_object();
	fault_helper_merge(h->base, h->last);
	json_decref(h->last);
	h->last = NULL;
}

int fault_helper_poll(struct fault_helper *h, struct duress_err *err)
{
	char how[64];
	int st;

	if (h->failed)
		goto failed;
	if (h->pid > 0) {
		read_channel(h, false);
		if (waitpid(h->pid, &st, WNOHANG) != h->pid)
			return 0;
		read_channel(h, false); /* its last words */
		h->pid = 0;
		h->last_status = st;
		forget_step(h);
		fold(h);
		if (h->ctl >= 0) {
			close(h->ctl);
			h->ctl = -1;
		}
		status_text(st, how, sizeof(how));
		if (h->restarts >= h->spec.max_restarts) {
			h->failed = true;
			goto failed;
		}
		fprintf(stderr, "duress: %s %s%s%s; restarting it in %.1fs (%u of %u)\n",
			h->spec.name, how, h->last_error[0] ? ": " : "", h->last_error,
			h->backoff_us / 1e6, h->restarts + 1, h->spec.max_restarts);
		h->restart_at_us = mono_us() + h->backoff_us;
		h->backoff_us = h->backoff_us * 2 > FAULT_HELPER_BACKOFF_MAX_US
					? FAULT_HELPER_BACKOFF_MAX_US
					: h->backoff_us * 2;
		return 0;
	}
	if (!h->restart_at_us || mono_us() < h->restart_at_us)
		return 0;
	h->restart_at_us = 0;
	h->restarts++;
	if (spawn(h, err) < 0 || (h->spec.ready_timeout_us && wait_ready(h, err) < 0)) {
		h->failed = true;
		return duress_err_wrap(err, "%s: restart %u", h->spec.name, h->restarts);
	}
	return 0;
failed:
	status_text(h->last_status, how, sizeof(how));
	return duress_err_setc(err, DURESS_EXIT_FAILED, 0, "%s %s%s%s%s", h->spec.name, how,
			       h->last_error[0] ? ": " : "", h->last_error,
			       h->spec.max_restarts ? "; no more restarts" : "");
}

json_t *fault_helper_counters(const struct fault_helper *h)
{
	json_t *o;

	if (!h->last && !h->base)
		return NULL;
	o = h->base ? json_deep_copy(h->base) : json_object();
	if (h->last)
		fault_helper_merge(o, h->last);
	return o;
}

void fault_helper_sample(const struct fault_helper *h, json_t *sample)
{
	json_t *c = fault_helper_counters(h);
	const char *k;
	json_t *v;

	if (!c)
		return;
	json_object_foreach(c, k, v)
		json_object_set(sample, k, v);
	json_decref(c);
}

void fault_helper_merge(json_t *dst, json_t *src)
{
	const char *k;
	json_t *v;

	json_object_foreach(src, k, v) {
		json_t *d = json_object_get(dst, k);

		if (json_is_object(v)) {
			if (!json_is_object(d)) {
				d = json_object();
				json_object_set_new(dst, k, d);
			}
			fault_helper_merge(d, v);
		} else if (json_is_integer(v) && json_is_integer(d)) {
			json_object_set_new(
				dst, k,
				json_integer(json_integer_value(d) + json_integer_value(v)));
		} else {
			json_object_set(dst, k, v);
		}
	}
}

void fault_helper_stop(struct fault_helper *h)
{
	uint64_t end;
	int st;

	if (h->pid <= 0) {
		forget_step(h);
		return;
	}
	kill(h->pid, SIGTERM);
	end = mono_us() + FAULT_HELPER_STOP_US;
	for (;;) {
		pid_t r = waitpid(h->pid, &st, WNOHANG);

		if (r == h->pid)
			break;
		if (r < 0 && errno != EINTR)
			break;
		if (mono_us() >= end) {
			kill(h->pid, SIGKILL);
			reap_blocking(h->pid, &st);
			break;
		}
		usleep(10000);
	}
	read_channel(h, false);
	h->pid = 0;
	forget_step(h);
	fold(h);
}

void fault_helper_collect(struct fault_helper *h)
{
	int st;

	if (h->pid > 0) {
		read_channel(h, false);
		/* The revert waits until the helper's main thread is a zombie;
		 * its other thread (agent_watch) may still be exiting, and until
		 * it has, the helper cannot be reaped: a moment, waited for. */
		if (waitpid(h->pid, &st, WNOHANG) != h->pid &&
		    (proc_state(h->pid) != 'Z' || waitpid(h->pid, &st, 0) != h->pid))
			return;
		h->pid = 0;
		h->last_status = st;
	}
	read_channel(h, false); /* its last words: the final counters */
	forget_step(h);
	fold(h);
}

void fault_helper_release(struct fault_helper *h)
{
	if (h->pid > 0) {
		/* the revert sent SIGKILL already (its "kill" step); make sure */
		kill(h->pid, SIGKILL);
		reap_blocking(h->pid, NULL);
		h->pid = 0;
	}
	if (h->f)
		forget_step(h);
	if (h->ctl >= 0)
		close(h->ctl);
	h->ctl = -1;
	free(h->rbuf);
	h->rbuf = NULL;
	json_decref(h->last);
	json_decref(h->base);
	h->last = h->base = NULL;
}
