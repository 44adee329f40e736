/* SPDX-License-Identifier: MIT */
/*
 * The experiment runner (agent/experiment/experiment.c) and its reports
 * (agent/experiment/journal.c): see docs/manifests.md.
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
#include <duress/experiment/manifest.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

/* One fault action of the method, set up before anything runs. */
struct fault_run {
	const struct action *a;
	struct fault f;
	bool built, applied, ended;
	double applied_at, ends_at; /* run clock (s); ends_at 0: with the method */
	double ended_at;
	size_t *steps;              /* its undo steps (indices in the shared log) */
	size_t nsteps;
	json_t *record;             /* its journal activity */
};

struct exp_opts {
	const char *samples; /* JSON Lines of every sample, with a phase */
	bool quiet;
};

/*
 * Run an experiment whose fault actions are built, supported and planned
 * (faults[i] for the i-th ACT_FAULT of the method, in order).  The target
 * is resolved, the undo log attached to the session journal by the caller;
 * signals arrive on sfd.  Returns the exit code; *journal gets the journal.
 */
int experiment_run(const struct experiment *x, struct target *t, struct fault_run *faults,
		   size_t nfaults, struct undo_log *undo, int sfd, const struct exp_opts *o,
		   json_t **journal);

/* ---- reports (agent/experiment/journal.c) ---- */

/* ISO 8601 UTC with microseconds, as Chaos Toolkit writes them. */
void journal_time(double real_s, char *buf, size_t len);

/* The JUnit XML of a journal: each steady-state probe (before, after, and
 * its error rate during the method), each method and rollback activity,
 * the recovery and the abort as test cases. */
int junit_write(json_t *journal, const char *path, struct duress_err *err);

/* Write JSON to path (indented); errors name the file. */
int journal_write(json_t *journal, const char *path, struct duress_err *err);

/* Check a journal against the documented schema (the keys CI relies on);
 * the first missing or mistyped key is the error. */
int journal_check(json_t *journal, struct duress_err *err);

#endif
