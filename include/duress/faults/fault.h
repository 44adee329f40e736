/* SPDX-License-Identifier: MIT */
/*
 * Faults: one kind = one file (agent/faults/fault_<name>.c) exporting one
 * const `struct fault_desc`, listed once in include/duress/faults/faults.h.
 *
 * One driver (agent/faults/fault.c) runs the hooks; nothing else calls them.
 *   1. options parsed from the descriptor's table   (usage errors, exit 2)
 *   2. fault_check(): validate(), cross-option checks on values (exit 2)
 *   3. fault_prepare(): supported(), can it run on this host and target
 *      (exit 4 with a reason); plan(), resolve against the target
 *      (percentages, devices), compute every value to write, one plan line
 *      per change; touches nothing.  --dry-run prints the plan and stops.
 *   4. fault_start(): apply(): for each change, FIRST undo_record() the
 *      original, THEN change it.  Workers go in a cgroup recorded as
 *      "cgroup-remove"; a long-running helper process is recorded before
 *      it runs.  The driver keeps the steps it recorded.
 *   5. fault_tick() about every 100 ms while in force (ramps, restarts,
 *      cycles, helpers watched).
 *   6. fault_stop(): its own steps reverted, newest first, when it ends
 *      before the others; otherwise the one revert of the whole undo log
 *      (agent/core/undo.c) -- the same path a crash recovery takes, so
 *      nothing reverts only in memory.
 *   7. fault_report() adds fault-specific lines to the summary; release()
 *      frees (fault_free).
 * The runner (agent/experiment/experiment.c) drives these for `run` and,
 * as a one-action experiment, for `inject`.
 */
#ifndef DURESS_FAULT_H
#define DURESS_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/core/parse.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

enum fopt_type {
	FOPT_FLAG,     /* no value */
	FOPT_UINT,     /* whole number in [min, max] */
	FOPT_DOUBLE,   /* number in [min, max] */
	FOPT_PERCENT,  /* 0..100, "%" optional */
	FOPT_SIZE,     /* bytes with suffixes */
	FOPT_SIZE_PCT, /* bytes, or a percentage of a base the fault defines */
	FOPT_DURATION, /* microseconds, in [min, max] when max > 0 */
	FOPT_STRING,   /* text the fault validates */
	FOPT_ENUM,     /* one of choices */
	FOPT_LIST,     /* repeatable text */
};

struct fault_opt {
	const char *name; /* long option without "--" ("swap-max") */
	enum fopt_type type;
	const char *metavar;	    /* for --help: "SIZE|PCT" */
	double min, max;	    /* numeric bounds, inclusive; max 0 = none */
	const char *const *choices; /* FOPT_ENUM: NULL-terminated */
	const char *help;
};

struct fault_val {
	bool set;
	uint64_t u;	       /* UINT, SIZE, DURATION (us) */
	double d;	       /* DOUBLE, PERCENT */
	struct size_spec size; /* SIZE_PCT (and SIZE: bytes, is_pct false) */
	const char *s;	       /* STRING, ENUM: the text as given */
	int choice;	       /* ENUM: index into choices */
	const char **list;     /* LIST: malloc'd array of the texts */
	size_t nlist;
};

#define FAULT_PLAN_MAX 64

struct fault;

struct fault_desc {
	const char *name;    /* "memory", "cpu", "io", "disk-fill", "freeze", "network" */
	const char *summary; /* one line for help */
	const struct fault_opt *opts;
	size_t nopts;
	size_t priv_size; /* zeroed bytes at f->priv */
	int (*validate)(struct fault *f, struct duress_err *err);
	int (*supported)(struct fault *f, struct duress_err *err);
	int (*plan)(struct fault *f, struct duress_err *err);
	int (*apply)(struct fault *f, struct duress_err *err);
	int (*tick)(struct fault *f, uint64_t since_apply_us, struct duress_err *err); /* or NULL */
	void (*report)(struct fault *f, json_t *summary);			       /* or NULL */
	void (*release)(struct fault *f);					       /* or NULL */
	/* Or NULL: this instance, as its options stand, needs no target (an
	 * explicit proxy: --listen/--upstream); inject then runs without one
	 * (f->target is an empty target: no cgroup, no process, netns_fd -1). */
	bool (*no_target)(const struct fault *f);
	/* Or NULL: add the fault's own counters (a helper's) to the JSON
	 * object of a sample, e.g. "http": {"requests": ...}; the driver calls
	 * it for every sample it writes while the fault is in force. */
	void (*sample)(struct fault *f, json_t *sample);
	/* It ends processes of the target (kill): the target may have none
	 * for a while, until its supervisor restarts them; the runner does
	 * not take an empty cgroup for a vanished target once it started. */
	bool may_empty;
	/* Or NULL: how many times it has hit the target so far (kill rounds)
	 * and when the last one was, in seconds since apply; the runner
	 * measures from it the time until the steady-state probes pass
	 * again. */
	unsigned (*hits)(const struct fault *f, double *last_s);
};

struct fault {
	const struct fault_desc *desc;
	struct fault_val *vals; /* one per desc->opts entry, same index */
	const struct cg_root *root;
	struct target *target;
	struct undo_log *undo;
	uint64_t duration_us; /* --for */
	bool force;	      /* --force: guard rails off */
	void *priv;
	char *plan[FAULT_PLAN_MAX]; /* human-readable changes, in order */
	size_t nplan;
	/* the driver's state (fault.c): read, never written, elsewhere */
	bool checked, prepared;
	bool started, ended;	     /* started: apply() ran (even if it failed) */
	double started_at, ended_at; /* seconds, on the runner's clock */
	size_t *steps;		     /* its undo steps: indices in *undo */
	size_t nsteps;
	struct undo_report stop_rep; /* what fault_stop() reverted */
	double stop_ms;		     /* and how long it took */
};

/* ---- registry (agent/faults/fault.c) ---- */

#define FAULT(sym) extern const struct fault_desc sym;
#include <duress/faults/faults.h>
#undef FAULT

const struct fault_desc *fault_find(const char *name);
/* Calls fn for each registered fault, in list order. */
void fault_for_each(void (*fn)(const struct fault_desc *d, void *data), void *data);

/* ---- instances ---- */

/* Allocate vals and priv for desc; f->target etc. are set by the caller. */
int fault_init(struct fault *f, const struct fault_desc *desc, struct duress_err *err);
void fault_free(struct fault *f);

/* Index of an option by name, or -1.  Faults use it to read their values:
 * `const struct fault_val *v = fault_opt(f, "max");` */
int fault_opt_index(const struct fault_desc *d, const char *name);
const struct fault_val *fault_opt(const struct fault *f, const char *name);

/*
 * Parse one option value from text (CLI, manifest) into f->vals[idx] after
 * checking type and bounds.  `what` names it for messages ("--max").
 * Usage errors carry code DURESS_EXIT_USAGE.
 */
int fault_opt_set(struct fault *f, int idx, const char *text, const char *what,
		  struct duress_err *err);

/* ---- the lifecycle: the one driver of the hooks ---- */

/* validate(): the option values only (no target needed).  Once. */
int fault_check(struct fault *f, struct duress_err *err);
/* fault_check(), then supported() and plan() against f->target: touches
 * nothing.  Once. */
int fault_prepare(struct fault *f, struct duress_err *err);
/* apply() at `now` (runner clock, s); every undo step it records is the
 * fault's own.  On failure what it did record stays in the log. */
int fault_start(struct fault *f, double now, struct duress_err *err);
/* tick() while in force (no-op without one); `now` as above. */
int fault_tick(struct fault *f, double now, struct duress_err *err);
/* True while started and not ended. */
bool fault_in_force(const struct fault *f);
/* End it now: revert its own steps, newest first (f->stop_rep, stop_ms).
 * Returns < 0 when a step could not be reverted.  No-op unless in force. */
int fault_stop(struct fault *f, double now);
/* The log was reverted whole at `now`: it ended then. */
void fault_ended(struct fault *f, double now);
/* report(): its own lines for the summary and the journal, into out. */
void fault_report(struct fault *f, json_t *out);
/* Add the fault's own counters (its helper's) to a sample's JSON object
 * while it is in force. */
void fault_sample(struct fault *f, json_t *sample);
/* False when this instance, as its options stand, works without a target
 * (an explicit proxy: --listen/--upstream). */
bool fault_needs_target(const struct fault *f);
/* Its hits so far (desc->hits; 0 without one) and, when > 0, the run
 * clock time of the last in *last_at. */
unsigned fault_hits(const struct fault *f, double *last_at);
/* True once a fault that may empty the target (desc->may_empty) started. */
bool fault_may_empty(const struct fault *f);

/* Add a plan line ("write '64M' to /sys/fs/cgroup/x/memory.max (now 'max')"). */
int fault_plan_add(struct fault *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error (exit 2) whose message is fmt: the faults' option checks. */
int fault_usage(struct duress_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print the options table as --help text. */
void fault_print_options(const struct fault_desc *d, FILE *out);

/* ---- helpers every fault uses (agent/faults/fault.c) ---- */

/*
 * Record the current content of dir/file as a "cgroup-write" undo step, then
 * write value.  The one way faults change a cgroup file.
 */
int fault_cg_set(struct fault *f, const char *dir, const char *file, const char *value,
		 struct duress_err *err);

#endif
