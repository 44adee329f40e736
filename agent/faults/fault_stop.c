// SPDX-License-Identifier: MIT
/*
 * stop: SIGSTOP selected processes of the target (targets/procsel.h: main,
 * all, NAME, /REGEX/, --port N) for the whole fault, SIGCONT after.  Unlike
 * freeze (the whole cgroup), it hangs some processes while the others run:
 * a stuck leader, a hung worker, a listener that accepts nothing.  Each
 * process is recorded as a "cont" undo step (pid and start time) BEFORE it
 * is stopped, so a guardian or `duress recover` resumes it if the agent
 * dies, and a reused pid is never signalled.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/proc.h>
#include <duress/core/timing.h>
#include <duress/core/undo.h>
#include <duress/faults/fault.h>
#include <duress/targets/procsel.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long apply waits for every stopped process to show state T. */
#define STOP_WAIT_MS 2000

struct stop_priv {
	struct procsel sel;
	unsigned stopped, failed, already;
	pid_t *pids;
	size_t npids;
	double time_to_stop_ms; /* until each shows state T; < 0 not seen */
};

static const struct fault_opt stop_opts[] = {
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
};

static int stop_validate(struct fault *f, struct duress_err *err)
{
	struct stop_priv *p = f->priv;
	const struct fault_val *proc = fault_opt(f, "process"), *port = fault_opt(f, "port");

	for (size_t i = 0; i < proc->nlist; i++)
		if (procsel_add(&p->sel, proc->list[i], "--process", err) < 0)
			return -1;
	p->sel.port = port->set ? (unsigned)port->u : 0;
	return 0;
}

static int stop_supported(struct fault *f, struct duress_err *err)
{
	if (!f->target->dir[0])
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0, "stop: needs a target");
	return 0;
}

static int stop_select(struct fault *f, struct procsel_proc **procs, size_t *n, bool **sel,
		       struct duress_err *err)
{
	struct stop_priv *p = f->priv;

	*sel = NULL;
	if (procsel_scan(f->target->dir, procs, n, err) < 0)
		return -1;
	*sel = calloc(*n ? *n : 1, sizeof(**sel));
	if (!*sel)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "stop");
	return procsel_select(&p->sel, *procs, *n, *sel, err);
}

static int stop_plan(struct fault *f, struct duress_err *err)
{
	struct stop_priv *p = f->priv;
	struct procsel_proc *procs = NULL;
	cleanup_free bool *sel = NULL;
	size_t n = 0, off = 0;
	char what[512], list[1024] = "";
	int k = stop_select(f, &procs, &n, &sel, err);

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
				       "stop: no process of %s matches %s", f->target->dir, what);
	fault_plan_add(f, "send SIGSTOP to the processes of %s that match %s, now %s",
		       f->target->dir, what, list);
	fault_plan_add(f, "revert: SIGCONT to each of them that still runs (same pid and start "
			  "time)");
	return 0;
}

/* Wait (bounded) until every stopped process shows state T (or is gone). */
static double wait_stopped(const pid_t *pids, size_t n)
{
	double start = timing_now();

	while ((timing_now() - start) * 1e3 < STOP_WAIT_MS) {
		bool all = true;

		for (size_t i = 0; i < n && all; i++) {
			char st = proc_state(pids[i]);

			all = !st || st == 'T' || st == 'Z' || st == 'X';
		}
		if (all)
			return (timing_now() - start) * 1e3;
		usleep(1000);
	}
	return -1;
}

static int stop_apply(struct fault *f, struct duress_err *err)
{
	struct stop_priv *p = f->priv;
	struct procsel_proc *procs = NULL;
	cleanup_free bool *sel = NULL;
	size_t n = 0;
	char what[512];
	int k = stop_select(f, &procs, &n, &sel, err), rc = 0;

	if (k <= 0) {
		procsel_procs_free(procs, n);
		if (k < 0)
			return -1;
		procsel_describe(&p->sel, what, sizeof(what));
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
				       "stop: no process of %s matches %s any more", f->target->dir,
				       what);
	}
	p->pids = calloc((size_t)k, sizeof(*p->pids));
	if (!p->pids) {
		procsel_procs_free(procs, n);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "stop");
	}
	for (size_t i = 0; i < n; i++) {
		char pid[24], start[24];
		unsigned long long now;

		if (!sel[i])
			continue;
		/* stopped already (by someone else): left as it is, or the
		 * revert would resume what it did not stop */
		if (proc_state(procs[i].pid) == 'T') {
			p->already++;
			continue;
		}
		snprintf(pid, sizeof(pid), "%d", (int)procs[i].pid);
		snprintf(start, sizeof(start), "%llu", procs[i].start);
		/* first the way back, then the change */
		if (undo_record(f->undo, &undo_kind_cont, f->desc->name, pid, start, procs[i].comm,
				err) < 0) {
			rc = -1;
			break;
		}
		if (proc_starttime(procs[i].pid, &now) < 0 || now != procs[i].start)
			continue; /* exited meanwhile */
		if (kill(procs[i].pid, SIGSTOP) < 0) {
			if (errno != ESRCH)
				p->failed++;
			continue;
		}
		p->pids[p->npids++] = procs[i].pid;
		p->stopped++;
	}
	procsel_procs_free(procs, n);
	if (rc < 0)
		return -1;
	p->time_to_stop_ms = wait_stopped(p->pids, p->npids);
	if (p->time_to_stop_ms < 0)
		fprintf(stderr, "duress: stop: not every process showed state T within %d ms\n",
			STOP_WAIT_MS);
	return 0;
}

static void stop_report(struct fault *f, json_t *out)
{
	struct stop_priv *p = f->priv;

	json_object_set_new(out, "stopped", json_integer(p->stopped));
	json_object_set_new(out, "signal_failed", json_integer(p->failed));
	json_object_set_new(out, "already_stopped", json_integer(p->already));
	json_object_set_new(out, "time_to_stop_ms",
			    p->time_to_stop_ms >= 0 ? json_real(round(p->time_to_stop_ms * 10) / 10)
						    : json_null());
}

static void stop_sample(struct fault *f, json_t *sample)
{
	struct stop_priv *p = f->priv;
	unsigned in_t = 0;

	for (size_t i = 0; i < p->npids; i++)
		in_t += proc_state(p->pids[i]) == 'T';
	json_object_set_new(sample, "stop",
			    json_pack("{s:i, s:i}", "stopped", p->stopped, "in_state_t", in_t));
}

static void stop_release(struct fault *f)
{
	struct stop_priv *p = f->priv;

	procsel_free(&p->sel);
	free(p->pids);
}

const struct fault_desc fault_stop_desc = {
	.name = "stop",
	.summary = "stop processes of the target (SIGSTOP) while in force, SIGCONT after",
	.opts = stop_opts,
	.nopts = sizeof(stop_opts) / sizeof(stop_opts[0]),
	.priv_size = sizeof(struct stop_priv),
	.validate = stop_validate,
	.supported = stop_supported,
	.plan = stop_plan,
	.apply = stop_apply,
	.report = stop_report,
	.release = stop_release,
	.sample = stop_sample,
};
