/* SPDX-License-Identifier: MIT */
/*
 * What the commands share (agent/cmd/cli.c): exit codes from errors, usage
 * errors, the session options of inject and run, root.
 */
#ifndef DURESS_CLI_H
#define DURESS_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/session/session.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

/* Exit code for an error: err->code if set, else DURESS_EXIT_INTERNAL. */
int cli_exit_code(const struct duress_err *err);

/* Print the error and return its exit code. */
int cli_fail(const struct duress_err *err);

/* Print "duress <cmd>: <message>\n(see 'duress <cmd> --help')" and return
 * DURESS_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The options that `inject` and `run` share: where the target is, where
 * samples go, and how the agent session behaves (docs/cli.md).
 */
struct cli_session_opts {
	const char *target;    /* -t SPEC; NULL: the sandbox (or the manifest's) */
	const char *samples;   /* --samples FILE */
	const char *state_dir; /* --state-dir DIR; NULL: default */
	bool dry_run, force, quiet, no_recover;
};

enum {
	CLI_OPT_SAMPLES = 200,
	CLI_OPT_DRY_RUN,
	CLI_OPT_FORCE,
	CLI_OPT_STATE_DIR,
	CLI_OPT_NO_RECOVER,
};

/* Their getopt_long entries (for a command's table) and short options. */
#define CLI_SESSION_LONGOPTS                                                 \
	{ "target", required_argument, NULL, 't' },                          \
		{ "samples", required_argument, NULL, CLI_OPT_SAMPLES },     \
		{ "dry-run", no_argument, NULL, CLI_OPT_DRY_RUN },           \
		{ "force", no_argument, NULL, CLI_OPT_FORCE },               \
		{ "quiet", no_argument, NULL, 'q' },                         \
		{ "state-dir", required_argument, NULL, CLI_OPT_STATE_DIR }, \
	{                                                                    \
		"no-recover", no_argument, NULL, CLI_OPT_NO_RECOVER          \
	}
#define CLI_SESSION_SHORTOPTS "t:q"

/* Take getopt's c (and optarg) if it is one of them: true if taken. */
bool cli_session_opt(int c, const char *arg, struct cli_session_opts *o);

/*
 * The start that `inject` and `run` share, once their options and faults
 * are checked: unless --dry-run, the agent session (session_begin: dead
 * agents' journals replayed, this run's journal opened and given to both
 * undo logs; *have_sess set), described as `what`; then the target: a
 * sandbox made inside the session (spec kind TARGET_SANDBOX) or the one
 * spec names; then its guard rails (target_guard).  On failure the caller
 * still drops a sandbox that was made (session_drop_sandbox, a no-op
 * otherwise) and ends the session as on every other path.
 */
int cli_open_target(const struct cli_session_opts *o, const char *what, const struct cg_root *root,
		    const struct target_spec *spec, struct agent_session *sess, bool *have_sess,
		    struct undo_log *undo, struct undo_log *sbx_undo, struct target *t,
		    struct duress_err *err);

/* Shared environment check for commands that change things: root. */
int cli_require_root(const char *what, struct duress_err *err);

#endif
