/* SPDX-License-Identifier: MIT */
/*
 * Undo records: how to put back what a fault changes.
 *
 * A fault records an undo step BEFORE it changes anything (the original
 * value, where it lives, which fault).  Reverting runs the steps in reverse
 * order; each step is idempotent and bounded in time, and one failing step
 * does not stop the others: the report lists what could not be reverted.
 *
 * Every step is plain text (kind, fault, where, what, value), so that the
 * crash-safety journal can persist it as one line and a process that knows
 * nothing of the fault (the guardian, `duress recover`) can replay it.
 * The module that owns a kind (cgroup files, qdiscs, links) defines it and
 * declares it in its header; the one table of every kind, by name, is the
 * replay's (include/duress/session/undo_kinds.h).  The log persists each
 * step through a sink the session attaches (the undo journal), never by
 * calling up into it.
 */
#ifndef DURESS_UNDO_H
#define DURESS_UNDO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <duress/core/error.h>

struct undo_kind;

struct undo_rec {
	const struct undo_kind *kind;
	char fault[32];	      /* fault that recorded it ("memory") */
	char where[PATH_MAX]; /* cgroup dir, file path, or network namespace reference */
	char what[256];	      /* interface file, interface name, ... */
	char *value;	      /* original value or saved state (text, malloc'd, may be "") */
	bool done;	      /* reverted (or dropped): skip */
	size_t jid;	      /* its id in the undo journal (DONE lines name it) */
};

/*
 * A kind of undo step.  revert() puts `value` back; it must be idempotent
 * (running it twice, or after the thing is already back, succeeds) and
 * treat "the object is gone" (target exited) as success, setting *gone so
 * the report can say so.
 */
struct undo_kind {
	const char *name;
	int (*revert)(const struct undo_rec *rec, bool *gone, struct duress_err *err);
	/* One line for --dry-run and reports: "memory.max on /x: back to 'max'". */
	void (*describe)(const struct undo_rec *rec, char *buf, size_t len);
	/* A record read back from disk is input: 0 when it is one the agent
	 * could have written (the objects it touches, the text of its value),
	 * else -1 with why.  Checked before any record of a journal is
	 * replayed. */
	int (*check)(const struct undo_rec *rec, char *why, size_t len);
};

/* kill: where = pid, what = process start time (proc_starttime) so that
 * a reused pid is never killed.  For the agent's own helper processes. */
extern const struct undo_kind undo_kind_kill;

/* helper: where = pid, what = its start time, value = its name (duress-*):
 * a long-running process of a fault (a proxy) ended with SIGTERM, then
 * SIGKILL; only if the pid still has that start time and is the agent's. */
extern const struct undo_kind undo_kind_helper;

/* cont: where = pid, what = its start time, value = its name (comm): a
 * process of the target the stop fault stopped (SIGSTOP), resumed with
 * SIGCONT; only if the pid still has that start time (a reused pid is
 * never signalled). */
extern const struct undo_kind undo_kind_cont;

/* Where a log persists its steps (the undo journal: undo_journal_attach).
 * add() runs before undo_record() returns and may renumber rec->jid; done()
 * once the step is reverted. */
struct undo_sink {
	int (*add)(void *ctx, struct undo_rec *rec, struct duress_err *err);
	int (*done)(void *ctx, const struct undo_rec *rec, struct duress_err *err);
};

struct undo_log {
	struct undo_rec *recs;
	size_t n, cap;
	const struct undo_sink *sink; /* NULL: in memory only */
	void *sink_ctx;
};

void undo_log_init(struct undo_log *log);
void undo_log_free(struct undo_log *log);

/*
 * Record a step before acting.  Returns its index (>= 0) or < 0 (then
 * nothing is recorded and the caller must not act).
 */
int undo_record(struct undo_log *log, const struct undo_kind *kind, const char *fault,
		const char *where, const char *what, const char *value, struct duress_err *err);

/* The step at idx is no longer needed (reverted early by its fault). */
void undo_forget(struct undo_log *log, size_t idx);

struct undo_report {
	size_t reverted, gone, failed;
	char failures[8][DURESS_ERR_MSG_MAX]; /* the first failures, verbatim */
};

/*
 * Revert every step not yet done, newest first.  Never stops at a failure.
 * Returns 0 if all succeeded, < 0 if any failed (see report).
 */
int undo_revert_all(struct undo_log *log, struct undo_report *report);

/* The same for the steps at idx[0..n) (one fault's), last listed first. */
int undo_revert_steps(struct undo_log *log, const size_t *idx, size_t n,
		      struct undo_report *report);

/* Add one report's counts and first failures to another's. */
void undo_report_add(struct undo_report *to, const struct undo_report *from);

/* Print each pending step's description (for --dry-run and reports). */
void undo_log_print(const struct undo_log *log, FILE *f, const char *prefix);

#endif
