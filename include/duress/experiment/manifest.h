/* SPDX-License-Identifier: MIT */
/*
 * Experiment manifests (docs/manifests.md).
 *
 * Two steps, both before anything runs:
 *   1. load (agent/experiment/manifest.c): YAML with libyaml, or JSON (syntax checked
 *      strictly with jansson, then read with libyaml, of which JSON is a
 *      subset), into a tree of nodes that each know their line and column;
 *      `${name}` in a string is replaced by the configuration value `name`.
 *   2. build (agent/experiment/manifest_validate.c): the tree into a typed experiment,
 *      checking every key, type, range and provider.  Every problem is
 *      collected as one diagnostic `FILE:LINE:COLUMN: key: reason`, all of
 *      them at once; fault options go through the fault's own option table
 *      (fault_opt_set) and its validate() hook.
 *
 * Two formats are read: ours (`name`, `steady_state`, `method`, `rollback`,
 * faults as providers with their options as keys) and Chaos Toolkit's
 * (`title`, `steady-state-hypothesis`, `method`, `rollbacks`, http and
 * process providers, `tolerance`, `pauses`, `configuration`).
 */
#ifndef DURESS_MANIFEST_H
#define DURESS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/faults/fault.h>

/* ---- the tree (agent/experiment/manifest.c) ---- */

struct mf_pos {
	unsigned line, col; /* 1-based; 0 when unknown */
};

enum mf_type {
	MF_SCALAR,
	MF_SEQ,
	MF_MAP,
};

struct mf_node {
	enum mf_type type;
	struct mf_pos pos;
	char *text;            /* MF_SCALAR: the value, after ${name} substitution */
	bool plain;            /* MF_SCALAR: unquoted, so true, 10, null are typed */
	size_t n;              /* MF_SEQ items, MF_MAP entries */
	struct mf_node **kids; /* MF_SEQ items, MF_MAP values */
	char **keys;           /* MF_MAP keys */
	struct mf_pos *kpos;   /* MF_MAP key positions */
};

/* One problem found in a manifest. */
struct mf_diag {
	struct mf_pos pos;
	char *msg;        /* "key: reason" */
	bool unsupported; /* valid, but cannot run here (python providers) */
};

struct mf_diags {
	const char *file;
	struct mf_diag *v;
	size_t n, cap;
};

void mf_diags_init(struct mf_diags *d, const char *file);
void mf_diags_free(struct mf_diags *d);
void mf_diag_add(struct mf_diags *d, struct mf_pos pos, bool unsupported, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sorted by position; "FILE:LINE:COLUMN: key: reason", one a line. */
void mf_diags_print(struct mf_diags *d, FILE *out);
/* True when every diagnostic is an "unsupported" one. */
bool mf_diags_only_unsupported(const struct mf_diags *d);

/*
 * Parse YAML (or JSON when `json`) text into a tree.  A syntax error is
 * one diagnostic with its position, and the function fails.  Anchors and
 * aliases, several documents and duplicate keys are refused.
 */
int mf_parse(const char *text, size_t len, bool json, struct mf_node **root,
	     struct mf_diags *d);
void mf_node_free(struct mf_node *n);

/* The value of `key` in a map, or NULL (also when n is not a map). */
struct mf_node *mf_get(const struct mf_node *map, const char *key);
/* Index of `key` in a map, or -1. */
int mf_find(const struct mf_node *map, const char *key);
/* "a string", "a number", "a list", "a map", "null", "true"/"false" as a type name. */
const char *mf_type_name(const struct mf_node *n);
/* A plain scalar null (~, null, empty). */
bool mf_is_null(const struct mf_node *n);
/* The node as JSON (plain scalars typed), for the journal. */
json_t *mf_to_json(const struct mf_node *n);

/*
 * Replace ${name} in every string scalar of the tree from `config` (a map
 * of name to a scalar, or to {type: env, key: VAR, default: X}); an unknown
 * name or unset variable is a diagnostic.  The `configuration` key of the
 * root itself is left as written.
 */
void mf_substitute(struct mf_node *root, const struct mf_node *config, struct mf_diags *d);

/* ---- the typed experiment (agent/experiment/manifest_validate.c) ---- */

enum metric_op {
	METRIC_EQ,
	METRIC_NE,
	METRIC_LT,
	METRIC_LE,
	METRIC_GT,
	METRIC_GE,
};

/* "KEY OP NUMBER" over a sample's flattened keys, or "increase(KEY) OP N"
 * (the change since the run's first sample).  NUMBER may be "max". */
struct metric_expr {
	char key[128];
	bool increase;
	enum metric_op op;
	double value;
	char text[192]; /* as written, for messages */
};

enum probe_type {
	PROBE_HTTP,
	PROBE_PROCESS,
	PROBE_METRIC,
};

#define PROBE_MAX_STATUS 16

struct status_range {
	long lo, hi;
};

struct probe {
	const char *name;
	struct mf_pos pos;
	enum probe_type type;
	bool in_target_netns;    /* run in the target's network namespace */
	uint64_t timeout_us;
	/* http */
	const char *url, *method, *body;
	char *owned_body;        /* body made from CTK arguments, malloc'd */
	char **headers;          /* "Name: value", malloc'd */
	size_t nheaders;
	bool verify_tls;
	/* expected http status or process exit code; none: http below 400,
	 * process exit 0 */
	struct status_range status[PROBE_MAX_STATUS];
	size_t nstatus;
	/* http body, process standard output */
	const char *contains;    /* substring */
	const char *equals;      /* whole text, surrounding white space ignored */
	const char *regex;       /* POSIX extended */
	const char *json_pointer; /* RFC 6901, into the body parsed as JSON */
	json_t *json_value;      /* expected value there; NULL: only present */
	uint64_t max_latency_us; /* 0: none (http and process) */
	/* process */
	const char *path;
	const char **args;       /* argv[1..], malloc'd array */
	size_t nargs;
	/* metric */
	struct metric_expr metric;
};

enum action_type {
	ACT_FAULT,
	ACT_PAUSE,
	ACT_PROBE, /* an http, process or metric activity */
};

struct fault_setting {
	const char *name;  /* option name in the fault's table */
	const char *value; /* text for fault_opt_set; NULL for a flag */
	struct mf_pos pos;
};

struct action {
	const char *name;
	struct mf_pos pos;
	enum action_type type;
	bool is_probe;           /* a "probe" activity: its result is recorded only */
	const struct fault_desc *fault;
	struct mf_pos provider_pos;
	struct fault_setting *opts;
	size_t nopts;
	uint64_t duration_us;    /* fault: how long it stays in force; pause: length */
	bool background;
	uint64_t pause_before_us, pause_after_us;
	struct probe probe;      /* ACT_PROBE */
	struct mf_node *source;  /* the activity as written (for the journal) */
};

#define ABORT_MAX_TRIGGERS 3

/* A kernel PSI trigger on the target: POLLPRI when tasks stall on the
 * resource for `stall` within any `window`. */
struct psi_trigger {
	char resource[8]; /* cpu, memory, io */
	bool full;
	uint64_t stall_us, window_us;
};

struct abort_spec {
	unsigned probe_failures;   /* a probe failing N times in a row; 0: off */
	struct metric_expr *metrics; /* abort as soon as one holds */
	size_t nmetrics;
	uint64_t max_duration_us;  /* wall clock from the start of the run; 0: none */
	struct psi_trigger triggers[ABORT_MAX_TRIGGERS];
	size_t ntriggers;
};

struct experiment {
	const char *file;
	bool ctk;                  /* Chaos Toolkit format */
	const char *title, *description;
	const char *hyp_title, *hyp_description;
	const char *target;        /* target spec, NULL: sandbox (or -t) */
	uint64_t duration_us;      /* default in-force time of a fault action */
	uint64_t probe_interval_us; /* probes during the method; 0: none */
	uint64_t sample_interval_us;
	uint64_t baseline_us;
	uint64_t recovery_timeout_us;
	double silent_pressure_pct; /* PSI some avg10 above this is a silent failure */
	struct probe *steady;
	size_t nsteady;
	struct action *method;
	size_t nmethod;
	struct action *rollback;
	size_t nrollback;
	struct abort_spec abort;
	json_t *source;            /* the manifest as JSON (journal "experiment") */
	struct mf_node *root;      /* owns every string above */
	bool python_providers;     /* some activity needs python (cannot run) */
};

/*
 * Read, parse and check an experiment file.  Every problem goes to d;
 * returns 0 when there is none, else -1 with err->code
 * DURESS_EXIT_INVALID_MANIFEST (or DURESS_EXIT_UNSUPPORTED when the only
 * problems are python providers).  A file that cannot be read fails with
 * DURESS_EXIT_USAGE.
 */
int experiment_load(const char *path, struct experiment *x, struct mf_diags *d,
		    struct duress_err *err);
/* The same from text; `name` is the file name for messages. */
int experiment_load_text(const char *name, const char *text, size_t len,
			 struct experiment *x, struct mf_diags *d, struct duress_err *err);
void experiment_free(struct experiment *x);

/*
 * Set up a fault for a fault action: fault_init, every option through
 * fault_opt_set, then validate().  The caller sets target/root/undo.
 */
int action_fault_build(const struct action *a, struct fault *f, struct duress_err *err);

/* Pure: parse a metric expression. */
int metric_parse(const char *text, struct metric_expr *m, struct duress_err *err);

#endif
