/* SPDX-License-Identifier: MIT */
/*
 * The experiment runner (agent/experiment/experiment.c), the one loop of
 * `run` and `inject`; its journal is journal.h's (docs/manifests.md).
 *
 * Order of a run: baseline samples; the steady-state probes (before); the
 * method, in order: faults (each its own `struct fault`, all recording into
 * ONE undo log, so one revert covers all of them), pauses, http and
 * process actions, with `background: true` ones overlapping the next;
 * probes every probe_interval during the method (error rate, latency);
 * abort conditions checked on every probe and sample; one revert of
 * everything; the rollback actions; recovery time (probes hold again,
 * pressure back to its level before the faults); the steady-state probes
 * (after); silent failures.
 */
#ifndef DURESS_EXPERIMENT_H
#define DURESS_EXPERIMENT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include <duress/core/cgroup.h>
#include <duress/faults/fault.h>
#include <duress/samples/summary.h>
#include <duress/samples/sample_format.h>
#include <duress/experiment/manifest_validate.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

/* One fault action of the method, set up before anything runs. */
struct fault_run {
	const struct action *a;
	struct fault f; /* its lifecycle state: f.started, f.ended, ... */
	bool built;
	bool ok;	/* applied without an error */
	double ends_at; /* run clock (s) */
	/* the steady-state probes after its hits (fault_hits: kill rounds) */
	unsigned hits_seen;  /* hits the runner has seen */
	double hit_at;	     /* run clock of the last one */
	bool hit_pending;    /* no probe round has passed since */
	bool hit_failed;     /* a probe round failed since */
	double pass_again_s; /* the longest time to a passing round, < 0 none */
};

/* What a command shows while an experiment runs; every member optional. */
struct exp_hooks {
	void *ctx;
	/* every sample, its phase set ("before", "during", "after") */
	void (*sample)(void *ctx, const struct sample *s);
	/* a fault action is in force, or could not be applied (what it did
	 * record is reverted with the rest) */
	void (*fault_started)(void *ctx, const struct fault_run *fr);
	void (*fault_failed)(void *ctx, const struct fault_run *fr, const struct duress_err *e);
	/* what the run is doing (phase, actions, probes, last progress line),
	 * for `run`'s live view: on every change (`changed`) and on every
	 * wake-up of the loop (countdowns) */
	void (*status)(void *ctx, const struct live_status *st, bool changed);
};

struct exp_opts {
	FILE *samples;	   /* JSON Lines of every sample, with a phase; NULL: none */
	FILE *probes;	   /* JSON Lines of every steady-state probe run (t, phase,
			    * probe, ok, latency_ms); NULL: none */
	bool quiet;	   /* no progress lines */
	bool own_messages; /* the command reports failures, signals and a vanished
			     * target itself (inject); the runner prints none */
	bool no_target;	   /* the faults need none (an explicit proxy): t is an
			     * empty target, nothing is sampled or watched */
	struct exp_hooks hooks;
};

/* The outcome of a run, for a command's own summary. */
struct exp_result {
	int stop_signal; /* the signal that stopped it, 0 if none */
	bool vanished;	 /* the target's processes or cgroup went away */
	bool aborted;
	struct undo_report revert; /* the one revert at the end */
	double revert_ms;
	double revert_at; /* run clock (s) */
	struct phase_stats before, during, after;
};

/*
 * Run an experiment whose fault actions are built, supported and planned
 * (faults[i] for the i-th ACT_FAULT of the method, in order).  The target
 * is resolved, the undo log attached to the session journal by the caller;
 * signals arrive on sfd.  Returns the exit code; *journal gets the journal,
 * *res (if not NULL) the outcome.  `duress inject` runs a one-action
 * experiment through it (experiment_one).
 */
int experiment_run(const struct experiment *x, struct target *t, struct fault_run *faults,
		   size_t nfaults, struct undo_log *undo, int sfd, const struct exp_opts *o,
		   json_t **journal, struct exp_result *res);

/*
 * A one-action experiment: `fault` in force for duration_us after
 * baseline_us of samples every interval_us, no probes, no recovery wait.
 * Its strings point into static storage; fr->a is set to its action.
 */
void experiment_one(struct experiment *x, struct action *a, struct fault_run *fr,
		    uint64_t duration_us, uint64_t baseline_us, uint64_t interval_us);

#endif
