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
	char *text; /* MF_SCALAR: the value, after ${name} substitution */
	bool plain; /* MF_SCALAR: unquoted, so true, 10, null are typed */
	char *raw;  /* MF_SCALAR with ${name}: the text as written */
	bool raw_plain;
	size_t n;	       /* MF_SEQ items, MF_MAP entries */
	size_t cap;	       /* room in kids (keys, kpos) */
	struct mf_node **kids; /* MF_SEQ items, MF_MAP values */
	char **keys;	       /* MF_MAP keys */
	struct mf_pos *kpos;   /* MF_MAP key positions */
};

/* One problem found in a manifest. */
struct mf_diag {
	struct mf_pos pos;
	char *msg;	  /* "key: reason" */
	bool unsupported; /* valid, but cannot run here (python providers) */
};

struct mf_diags {
	const char *file;
	struct mf_diag *v;
	size_t n, cap;
	/* values read from the environment (${name} of a {type: env}
	 * configuration entry) and what was written instead: a diagnostic never
	 * quotes the first, it shows the second */
	struct mf_secret {
		char *value, *written;
	} * secrets;
	size_t nsecrets;
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
int mf_parse(const char *text, size_t len, bool json, struct mf_node **root, struct mf_diags *d);
void mf_node_free(struct mf_node *n);

/* The value of `key` in a map, or NULL (also when n is not a map). */
struct mf_node *mf_get(const struct mf_node *map, const char *key);
/* Index of `key` in a map, or -1. */
int mf_find(const struct mf_node *map, const char *key);
/* "a string", "a number", "a list", "a map", "null", "true"/"false" as a type name. */
const char *mf_type_name(const struct mf_node *n);
/* A plain scalar null (~, null, empty). */
bool mf_is_null(const struct mf_node *n);
/* The node as JSON (plain scalars typed), its values substituted. */
json_t *mf_to_json(const struct mf_node *n);
/* The same as written (${name} kept): what journals record, as Chaos
 * Toolkit's do, so that no configuration or secret value lands in them. */
json_t *mf_to_json_raw(const struct mf_node *n);

/*
 * Replace ${name} in every string scalar of the tree from `config` (a map
 * of name to a scalar, or to {type: env, key: VAR, default: X}); an unknown
 * name or unset variable is a diagnostic.  The `configuration` key of the
 * root itself is left as written.  With no_env the environment is never
 * read: an env entry is a diagnostic (the API without --allow-commands).
 * Values from the environment are remembered in d, so that no diagnostic
 * shows them.
 */
void mf_substitute(struct mf_node *root, const struct mf_node *config, bool no_env,
		   struct mf_diags *d);

/*
 * The same for a Chaos Toolkit experiment, only where chaostoolkit-lib
 * substitutes (activities' http url, headers, timeout, arguments; process
 * arguments; pauses; tolerances; never the title or description), with
 * values from the configuration, then from every scope of `secrets` (inline
 * values or {type: env, key: VAR}); an unknown name stays as written, as
 * string.Template.safe_substitute leaves it.
 */
void mf_substitute_ctk(struct mf_node *root, const struct mf_node *config,
		       const struct mf_node *secrets, bool no_env, struct mf_diags *d);

#endif
