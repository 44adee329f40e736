/* SPDX-License-Identifier: MIT */
/*
 * Subcommands.  Each takes argv with argv[0] = the subcommand name and
 * returns a process exit code (enum duress_exit).  Errors are printed with
 * duress_err_print() to stderr before returning.
 */
#ifndef DURESS_CLI_H
#define DURESS_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include <duress/error.h>

int cmd_sample(int argc, char **argv);
int cmd_targets(int argc, char **argv);
int cmd_inject(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/*
 * `duress __complete WHAT [ARGS]` for the shell completion
 * (scripts/completion/duress.bash): faults, options CMD [FAULT], targets.
 * The command names come from main.c's table (it answers `commands` itself).
 */
int cmd_complete(int argc, char **argv);

/* Each command's getopt_long table (NULL-terminated), read by cmd_complete. */
extern const struct option sample_longopts[];
extern const struct option targets_longopts[];
extern const struct option inject_longopts[];
extern const struct option run_longopts[];
extern const struct option validate_longopts[];
extern const struct option recover_longopts[];
extern const struct option serve_longopts[];

/* Exit code for an error: err->code if set, else DURESS_EXIT_INTERNAL. */
int cli_exit_code(const struct duress_err *err);

/* Print the error and return its exit code. */
int cli_fail(const struct duress_err *err);

/* Print "duress <cmd>: <message>\n(see 'duress <cmd> --help')" and return
 * DURESS_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Shared environment check for commands that change things: root. */
int cli_require_root(const char *what, struct duress_err *err);

#endif
