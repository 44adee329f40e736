/* SPDX-License-Identifier: MIT */
/*
 * Faults: one kind = one file (agent/fault_<name>.c) exporting one const
 * `struct fault_desc`, listed once in include/duress/faults.h.
 *
 * Life of a fault (driven by agent/cmd/cmd_inject.c, later by experiments):
 *   1. options parsed from the descriptor's table   (usage errors, exit 2)
 *   2. validate(): cross-option checks on values    (usage errors, exit 2)
 *   3. supported(): can it run on this host/target  (exit 4 with a reason)
 *   4. plan(): resolve against the target (percentages, devices), compute
 *      every value to write, add one plan line per change; touches nothing.
 *      --dry-run prints the plan and stops here.
 *   5. apply(): for each change, FIRST undo_record() the original, THEN
 *      change it.  Workers go in a cgroup recorded as "cgroup-remove".
 *   6. tick() about every 100 ms while in force (ramps, restarts, cycles).
 *   7. revert: the undo log, newest first (agent/core/undo.c) -- the same path
 *      a crash recovery takes, so nothing reverts only in memory.
 *   8. report() adds fault-specific lines to the summary; release() frees.
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
	const char *name;            /* long option without "--" ("swap-max") */
	enum fopt_type type;
	const char *metavar;         /* for --help: "SIZE|PCT" */
	double min, max;             /* numeric bounds, inclusive; max 0 = none */
	const char *const *choices;  /* FOPT_ENUM: NULL-terminated */
	const char *help;
};

struct fault_val {
	bool set;
	uint64_t u;            /* UINT, SIZE, DURATION (us) */
	double d;              /* DOUBLE, PERCENT */
	struct size_spec size; /* SIZE_PCT (and SIZE: bytes, is_pct false) */
	const char *s;         /* STRING, ENUM: the text as given */
	int choice;            /* ENUM: index into choices */
	const char **list;     /* LIST: malloc'd array of the texts */
	size_t nlist;
};

#define FAULT_PLAN_MAX 64

struct fault;

struct fault_desc {
	const char *name;            /* "memory", "cpu", "io", "disk-fill", "freeze", "network" */
	const char *summary;         /* one line for help */
	const struct fault_opt *opts;
	size_t nopts;
	size_t priv_size;            /* zeroed bytes at f->priv */
	int (*validate)(struct fault *f, struct duress_err *err);
	int (*supported)(struct fault *f, struct duress_err *err);
	int (*plan)(struct fault *f, struct duress_err *err);
	int (*apply)(struct fault *f, struct duress_err *err);
	int (*tick)(struct fault *f, uint64_t since_apply_us, struct duress_err *err); /* or NULL */
	void (*report)(struct fault *f, json_t *summary);                             /* or NULL */
	void (*release)(struct fault *f);                                             /* or NULL */
	/* Or NULL: this instance, as its options stand, needs no target (an
	 * explicit proxy: --listen/--upstream); inject then runs without one
	 * (f->target is an empty target: no cgroup, no process, netns_fd -1). */
	bool (*no_target)(const struct fault *f);
	/* Or NULL: add the fault's own counters (a helper's) to the JSON
	 * object of a sample, e.g. "http": {"requests": ...}; the driver calls
	 * it for every sample it writes while the fault is in force. */
	void (*sample)(struct fault *f, json_t *sample);
};

struct fault {
	const struct fault_desc *desc;
	struct fault_val *vals;      /* one per desc->opts entry, same index */
	const struct cg_root *root;
	struct target *target;
	struct undo_log *undo;
	uint64_t duration_us;        /* --for */
	bool force;                  /* --force: guard rails off */
	void *priv;
	char *plan[FAULT_PLAN_MAX];  /* human-readable changes, in order */
	size_t nplan;
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

/* Add a plan line ("write '64M' to /sys/fs/cgroup/x/memory.max (now 'max')"). */
int fault_plan_add(struct fault *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print the options table as --help text. */
void fault_print_options(const struct fault_desc *d, FILE *out);

/* ---- helpers every fault uses (agent/faults/fault.c) ---- */

/*
 * Record the current content of dir/file as a "cgroup-write" undo step, then
 * write value.  The one way faults change a cgroup file.
 */
int fault_cg_set(struct fault *f, const char *dir, const char *file, const char *value,
		 struct duress_err *err);

/*
 * What the target may use, for percentages and defaults: the smallest
 * limit from the target up to the root (the one that binds): memory.max
 * (else the host's MemTotal); cpu.max quota/period, or the CPUs in
 * cpuset.cpus.effective when fewer (else the host's online CPUs).  `source` says where the number came from, e.g.
 * "memory.max of /sys/fs/cgroup/x" or "host RAM".
 */
int target_memory_capacity(const struct target *t, uint64_t *bytes, char *source, size_t len,
			   struct duress_err *err);
int target_cpu_capacity(const struct target *t, double *cpus, char *source, size_t len,
			struct duress_err *err);

/* ---- workers (agent/faults/workers.c) ---- */

/*
 * Make a cgroup for a fault's workers: inside the target
 * (<target>/duress-<fault>-<agent pid>, plain mkdir, no controllers: their
 * usage is charged to the target) or beside it (same name under the
 * target's parent: a noisy neighbour).  Records "cgroup-remove" first.
 */
int workers_cgroup(struct fault *f, bool beside, char *dir, size_t len, struct duress_err *err);

/*
 * Fork a worker process into dir.  The child joins the cgroup before
 * anything else, dies with the agent (PR_SET_PDEATHSIG SIGKILL), resets
 * the signal mask, sets oom_score_adj, names itself `name` (comm), runs
 * fn(arg) and _exit()s with its result.  The agent must be single-threaded.
 */
int worker_spawn(const char *dir, const char *name, int oom_score_adj, int (*fn)(void *arg),
		 void *arg, pid_t *pid, struct duress_err *err);

/*
 * worker_spawn() for a worker that reports over a pipe (disk-fill, io): the
 * pipe's ends are put in *job_rd and *job_wr, the fields of arg that the
 * child reads (it writes to *job_wr and closes *job_rd); after the fork
 * both are closed here and set to -1, and the read end becomes *msg
 * (wmsg_init).  On failure nothing is left open.
 */
struct wmsg;
int worker_spawn_reporting(const char *dir, const char *name, int oom_score_adj,
			   int (*fn)(void *arg), void *arg, int *job_rd, int *job_wr,
			   struct wmsg *msg, pid_t *pid, struct duress_err *err);

/* Reap one worker without blocking: 1 if it exited (wait status in
 * *status), 0 if still running, < 0 if it is not our child.  Only ever reap
 * your own pids: other faults and the sandbox have children too. */
int worker_reap(pid_t pid, int *status);

/* True if the agent has been asked to stop (set by the inject loop). */
extern volatile int duress_stopping;

#endif
