/* SPDX-License-Identifier: MIT */
/*
 * The typed experiment (agent/experiment/manifest_validate.c): from the
 * manifest tree (manifest.h) to a struct experiment, checking everything on
 * the way: unknown keys, wrong types, out-of-range values, unknown providers,
 * each fault action's options through the fault's own table and validate
 * hook.  Every problem is a diagnostic with its line and column
 * (docs/manifests.md).
 */
#ifndef DURESS_MANIFEST_VALIDATE_H
#define DURESS_MANIFEST_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/experiment/manifest.h>
#include <duress/experiment/probe.h>
#include <duress/faults/fault.h>

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
	bool is_probe;	  /* a "probe" activity: its result is recorded only */
	bool unsupported; /* a python provider: reported, cannot run */
	const struct fault_desc *fault;
	struct mf_pos provider_pos;
	struct fault_setting *opts;
	size_t nopts;
	uint64_t duration_us; /* fault: how long it stays in force; pause: length */
	bool background;
	uint64_t pause_before_us, pause_after_us;
	struct probe probe;	/* ACT_PROBE */
	struct mf_node *source; /* the activity as written (for the journal) */
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
	unsigned probe_failures;     /* a probe failing N times in a row; 0: off */
	struct metric_expr *metrics; /* abort as soon as one holds */
	size_t nmetrics;
	uint64_t max_duration_us; /* wall clock from the start of the run; 0: none */
	struct psi_trigger triggers[ABORT_MAX_TRIGGERS];
	size_t ntriggers;
};

struct experiment {
	const char *file;
	bool ctk; /* Chaos Toolkit format */
	const char *title, *description;
	const char *hyp_title, *hyp_description;
	const char *target;	    /* target spec, NULL: sandbox (or -t) */
	uint64_t duration_us;	    /* default in-force time of a fault action */
	uint64_t probe_interval_us; /* probes during the method; 0: none */
	uint64_t sample_interval_us;
	uint64_t baseline_us;
	bool baseline_set; /* written in the manifest */
	uint64_t recovery_timeout_us;
	double silent_pressure_pct; /* PSI some avg10 above this is a silent failure */
	struct probe *steady;
	size_t nsteady;
	struct action *method;
	size_t nmethod;
	struct action *rollback;
	size_t nrollback;
	struct abort_spec abort;
	json_t *source;	       /* the manifest as JSON (journal "experiment") */
	struct mf_node *root;  /* owns every string above */
	bool python_providers; /* some activity needs python (cannot run) */
};

/*
 * Read, parse and check an experiment file.  Every problem goes to d;
 * returns 0 when there is none, else -1 with err->code
 * DURESS_EXIT_INVALID_MANIFEST (or DURESS_EXIT_UNSUPPORTED when the only
 * problems are python providers).  A file that cannot be read fails with
 * DURESS_EXIT_USAGE.
 */
int manifest_load(const char *path, struct experiment *x, struct mf_diags *d,
		  struct duress_err *err);
/* The same from text; `name` is the file name for messages. */
/* manifest_load_text with flags: MANIFEST_NO_ENV, the environment is never
 * read ({type: env} configuration entries are diagnostics). */
#define MANIFEST_NO_ENV 1u
int manifest_load_text_opts(const char *name, const char *text, size_t len, unsigned flags,
			    struct experiment *x, struct mf_diags *d, struct duress_err *err);
int manifest_load_text(const char *name, const char *text, size_t len, struct experiment *x,
		       struct mf_diags *d, struct duress_err *err);
void manifest_free(struct experiment *x);

/*
 * Set up a fault for a fault action: fault_init, every option through
 * fault_opt_set, then validate().  The caller sets target/root/undo.
 */
int manifest_fault_build(const struct action *a, struct fault *f, struct duress_err *err);

#endif
