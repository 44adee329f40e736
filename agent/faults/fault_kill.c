// SPDX-License-Identifier: MIT
/*
 * kill: send a signal (TERM by default) to selected processes of the target
 * (targets/procsel.h: main, all, NAME, /REGEX/, --port N), once or every
 * DUR (up to --count rounds), and measure the restart: the time from the
 * signal to the first new process in the target that the selection picks,
 * when a supervisor (a
 * container runtime's restart policy, systemd, a shell loop) brings it
 * back.  A signal cannot be taken back: there is nothing to undo, and the
 * target may be empty for a while (the runner tolerates it: may_empty).
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/core/proc.h>
#include <duress/core/timing.h>
#include <duress/faults/fault.h>
#include <duress/targets/procsel.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define KILL_ROUNDS_KEPT 256

struct kill_seen {
	pid_t pid;
	unsigned long long start;
};

struct kill_priv {
	struct procsel sel;
	int sig;
	uint64_t every_us, count;
	/* rounds */
	unsigned rounds, empty_rounds, signalled, failed;
	uint64_t next_us; /* since apply */
	/* the last round, for its restart */
	struct kill_seen *before; /* every process of the target just before it */
	size_t nbefore;
	struct kill_seen *hit; /* the ones signalled */
	size_t nhit;
	unsigned exited;    /* of every round's, seen gone */
	double kill_boot_s; /* CLOCK_BOOTTIME when it was signalled */
	uint64_t kill_us;   /* and since apply */
	bool waiting;	    /* no new process seen since */
	/* restart times (s) per round, < 0 not back (yet) */
	double restart[KILL_ROUNDS_KEPT];
	unsigned restarts;
	double restart_max, restart_last;
	long hz;
};

static const struct fault_opt kill_opts[] = {
	{ .name = "signal",
	  .type = FOPT_STRING,
	  .metavar = "SIG",
	  .help = "signal by name or number: TERM (default), KILL, HUP, INT, USR1, ..." },
	{ .name = "process",
	  .type = FOPT_LIST,
	  .metavar = "SEL",
	  .help = "which processes: main (default), all, NAME, /REGEX/ (repeatable: the union)" },
	{ .name = "port",
	  .type = FOPT_UINT,
	  .min = 1,
	  .max = 65535,
	  .metavar = "N",
	  .help = "the processes listening on TCP port N (in the target's network namespace)" },
	{ .name = "every",
	  .type = FOPT_DURATION,
	  .min = 100000,
	  .metavar = "DUR",
	  .help = "signal again every DUR while in force (default: once, when applied)" },
	{ .name = "count",
	  .type = FOPT_UINT,
	  .min = 1,
	  .max = 1000000,
	  .metavar = "N",
	  .help = "with --every: at most N rounds (default: until --for ends)" },
};

static double boot_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int kill_validate(struct fault *f, struct duress_err *err)
{
	struct kill_priv *p = f->priv;
	const struct fault_val *sig = fault_opt(f, "signal"), *proc = fault_opt(f, "process");
	const struct fault_val *port = fault_opt(f, "port"), *every = fault_opt(f, "every");
	const struct fault_val *count = fault_opt(f, "count");

	p->sig = SIGTERM;
	if (sig->set && procsel_signal(sig->s, "--signal", &p->sig, err) < 0)
		return -1;
	for (size_t i = 0; i < proc->nlist; i++)
		if (procsel_add(&p->sel, proc->list[i], "--process", err) < 0)
			return -1;
	p->sel.port = port->set ? (unsigned)port->u : 0;
	if (count->set && !every->set)
		return duress_err_setc(
			err, DURESS_EXIT_USAGE, 0,
			"--count: needs --every (without it the signal is sent once)");
	p->every_us = every->set ? every->u : 0;
	p->count = count->set ? count->u : 0;
	for (size_t i = 0; i < KILL_ROUNDS_KEPT; i++)
		p->restart[i] = -1;
	p->hz = sysconf(_SC_CLK_TCK);
	if (p->hz <= 0)
		p->hz = 100;
	return 0;
}

static int kill_supported(struct fault *f, struct duress_err *err)
{
	if (!f->target->dir[0])
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0, "kill: needs a target");
	return 0;
}

/* The processes of the target s selects: procs (all) and sel (marks). */
static int select_now(struct fault *f, struct procsel_proc **procs, size_t *n, bool **sel,
		      struct duress_err *err)
{
	struct kill_priv *p = f->priv;
	int k;

	*sel = NULL;
	if (procsel_scan(f->target->dir, procs, n, err) < 0)
		return -1;
	*sel = calloc(*n ? *n : 1, sizeof(**sel));
	if (!*sel)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "kill");
	k = procsel_select(&p->sel, *procs, *n, *sel, err);
	return k;
}

static int kill_plan(struct fault *f, struct duress_err *err)
{
	struct kill_priv *p = f->priv;
	struct procsel_proc *procs = NULL;
	cleanup_free bool *sel = NULL;
	size_t n = 0;
	char what[512], sname[32], list[1024] = "", every[32];
	size_t off = 0;
	int k = select_now(f, &procs, &n, &sel, err);

	if (k < 0) {
		procsel_procs_free(procs, n);
		return -1;
	}
	procsel_describe(&p->sel, what, sizeof(what));
	for (size_t i = 0; i < n && off < sizeof(list); i++)
		if (sel[i])
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%d (%s)",
						off ? ", " : "", (int)procs[i].pid, procs[i].comm);
	procsel_procs_free(procs, n);
	if (!k)
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
				       "kill: no process of %s matches %s", f->target->dir, what);
	procsel_signal_name(p->sig, sname, sizeof(sname));
	fault_plan_add(f, "send SIG%s to the processes of %s that match %s, now %s", sname,
		       f->target->dir, what, list);
	if (p->every_us)
		fault_plan_add(f, "then again every %s%s (the processes that match then)",
			       format_duration(p->every_us, every, sizeof(every)),
			       p->count ? "" : ", until the fault ends");
	if (p->count)
		fault_plan_add(f, "at most %llu rounds", (unsigned long long)p->count);
	fault_plan_add(f,
		       "measure the restart: time to the first new process in %s that "
		       "matches %s",
		       f->target->dir, what);
	fault_plan_add(f, "revert: nothing (a signal cannot be taken back)");
	return 0;
}

/* Send sig to pid if it is still the process that started at `start`. */
static int send_to(pid_t pid, unsigned long long start, int sig)
{
	cleanup_close int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	unsigned long long now;

	if (pfd < 0 && errno != ENOSYS)
		return -1;
	/* checked after the pidfd is held: the pid cannot be reused since */
	if (proc_starttime(pid, &now) < 0 || now != start) {
		errno = ESRCH;
		return -1;
	}
	if (pfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0);
	return kill(pid, sig);
}

/* One round: signal what matches now.  0 when nothing matched. */
static int kill_round(struct fault *f, struct duress_err *err)
{
	struct kill_priv *p = f->priv;
	struct procsel_proc *procs = NULL;
	cleanup_free bool *sel = NULL;
	size_t n = 0;
	int k = select_now(f, &procs, &n, &sel, err), sent = 0;

	if (k <= 0) {
		procsel_procs_free(procs, n);
		return k;
	}
	free(p->before);
	free(p->hit);
	p->before = calloc(n, sizeof(*p->before));
	p->hit = calloc((size_t)k, sizeof(*p->hit));
	p->nbefore = p->nhit = 0;
	if (!p->before || !p->hit) {
		procsel_procs_free(procs, n);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "kill");
	}
	for (size_t i = 0; i < n; i++)
		p->before[p->nbefore++] = (struct kill_seen){ procs[i].pid, procs[i].start };
	p->kill_boot_s = boot_s();
	for (size_t i = 0; i < n; i++) {
		if (!sel[i])
			continue;
		if (send_to(procs[i].pid, procs[i].start, p->sig) < 0) {
			if (errno != ESRCH)
				p->failed++;
			continue;
		}
		p->hit[p->nhit++] = (struct kill_seen){ procs[i].pid, procs[i].start };
		sent++;
	}
	procsel_procs_free(procs, n);
	if (sent) {
		p->rounds++;
		p->signalled += (unsigned)sent;
		p->waiting = true;
	}
	return sent;
}

static int kill_apply(struct fault *f, struct duress_err *err)
{
	struct kill_priv *p = f->priv;
	char what[512];
	int k = kill_round(f, err);

	p->kill_us = 0;
	if (k < 0)
		return -1;
	p->next_us = p->every_us;
	if (!k) {
		procsel_describe(&p->sel, what, sizeof(what));
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
				       "kill: no process of %s matches %s any more", f->target->dir,
				       what);
	}
	return 0;
}

static bool seen_in(const struct kill_seen *v, size_t n, pid_t pid, unsigned long long start)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == pid && v[i].start == start)
			return true;
	return false;
}

/* Count the signalled ones that are gone; note the first new process. */
static void watch_restart(struct fault *f)
{
	struct kill_priv *p = f->priv;
	struct duress_err e = { 0 };
	struct procsel_proc *procs = NULL;
	cleanup_free bool *sel = NULL;
	size_t n = 0;
	double first = -1;

	if (procsel_scan(f->target->dir, &procs, &n, &e) < 0)
		return; /* gone for now: the runner decides */
	/* a new process counts when the selection would pick it (a new main
	 * process, a new worker matching the pattern, a new listener), not a
	 * short-lived child of a process that survived */
	sel = calloc(n ? n : 1, sizeof(*sel));
	if (!sel || (p->waiting && procsel_select(&p->sel, procs, n, sel, &e) < 0)) {
		procsel_procs_free(procs, n);
		return;
	}
	for (size_t i = 0; i < p->nhit; i++) {
		unsigned long long st;

		if (p->hit[i].pid && (proc_starttime(p->hit[i].pid, &st) < 0 ||
				      st != p->hit[i].start || proc_state(p->hit[i].pid) == 'Z')) {
			p->exited++;
			p->hit[i].pid = 0; /* counted */
		}
	}
	for (size_t i = 0; p->waiting && i < n; i++) {
		double started = (double)procs[i].start / (double)p->hz;
		/* main: a new process started from outside the target (another
		 * old one may be the oldest now) */
		bool pick = sel[i] || (procsel_has_main(&p->sel) && procsel_is_root(procs, n, i));

		if (!pick || seen_in(p->before, p->nbefore, procs[i].pid, procs[i].start))
			continue;
		if (first < 0 || started < first)
			first = started;
	}
	procsel_procs_free(procs, n);
	if (first < 0)
		return;
	/* start times count clock ticks: a process started in the tick of the
	 * signal reads as up to one tick before it */
	first -= p->kill_boot_s;
	if (first < 0)
		first = 0;
	if (p->rounds - 1 < KILL_ROUNDS_KEPT)
		p->restart[p->rounds - 1] = first;
	p->restarts++;
	p->restart_last = first;
	if (first > p->restart_max)
		p->restart_max = first;
	p->waiting = false;
}

static int kill_tick(struct fault *f, uint64_t now_us, struct duress_err *err)
{
	struct kill_priv *p = f->priv;
	int k;

	watch_restart(f);
	if (!p->every_us || now_us < p->next_us || (p->count && p->rounds >= p->count))
		return 0;
	p->next_us += p->every_us;
	if (p->next_us <= now_us) /* a late tick: no burst of rounds */
		p->next_us = now_us + p->every_us;
	k = kill_round(f, err);
	if (k < 0)
		return -1;
	if (k)
		p->kill_us = now_us;
	if (!k)
		p->empty_rounds++; /* the target restarting: not a round */
	return 0;
}

static json_t *seconds(double s)
{
	return json_real(round(s * 1000) / 1000);
}

static void kill_report(struct fault *f, json_t *out)
{
	struct kill_priv *p = f->priv;
	json_t *times = json_array();
	char sname[32];

	watch_restart(f);
	for (unsigned i = 0; i < p->rounds && i < KILL_ROUNDS_KEPT; i++)
		json_array_append_new(times,
				      p->restart[i] < 0 ? json_null() : seconds(p->restart[i]));
	json_object_set_new(out, "signal",
			    json_string(procsel_signal_name(p->sig, sname, sizeof(sname))));
	json_object_set_new(out, "rounds", json_integer(p->rounds));
	json_object_set_new(out, "rounds_without_match", json_integer(p->empty_rounds));
	json_object_set_new(out, "signalled", json_integer(p->signalled));
	json_object_set_new(out, "signal_failed", json_integer(p->failed));
	json_object_set_new(out, "exited", json_integer(p->exited));
	json_object_set_new(out, "restarts", json_integer(p->restarts));
	json_object_set_new(out, "restart_time",
			    p->restarts ? seconds(p->restart_max) : json_null());
	json_object_set_new(out, "restart_times", times);
}

static void kill_sample(struct fault *f, json_t *sample)
{
	struct kill_priv *p = f->priv;

	json_object_set_new(sample, "kill",
			    json_pack("{s:i, s:i, s:o}", "rounds", p->rounds, "signalled",
				      p->signalled, "restart_time",
				      p->restarts ? seconds(p->restart_last) : json_null()));
}

static unsigned kill_hits(const struct fault *f, double *last_s)
{
	const struct kill_priv *p = f->priv;

	*last_s = (double)p->kill_us / 1e6;
	return p->rounds;
}

static void kill_release(struct fault *f)
{
	struct kill_priv *p = f->priv;

	procsel_free(&p->sel);
	free(p->before);
	free(p->hit);
}

const struct fault_desc fault_kill = {
	.name = "kill",
	.summary = "send a signal to processes of the target (once or every DUR), measure the "
		   "restart",
	.opts = kill_opts,
	.nopts = sizeof(kill_opts) / sizeof(kill_opts[0]),
	.priv_size = sizeof(struct kill_priv),
	.may_empty = true,
	.validate = kill_validate,
	.supported = kill_supported,
	.plan = kill_plan,
	.apply = kill_apply,
	.tick = kill_tick,
	.report = kill_report,
	.release = kill_release,
	.sample = kill_sample,
	.hits = kill_hits,
};
