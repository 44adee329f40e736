/* SPDX-License-Identifier: MIT */
/*
 * The commands (agent/cmd/cmd_<name>.c), one entry point each, called by
 * main.c's table.  Each takes argv with argv[0] = the subcommand name and
 * returns a process exit code (enum duress_exit).  Errors are printed with
 * duress_err_print() to stderr before returning.
 */
#ifndef DURESS_CMD_H
#define DURESS_CMD_H

#include <getopt.h>

int cmd_sample(int argc, char **argv);
int cmd_targets(int argc, char **argv);
int cmd_inject(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_report(int argc, char **argv);

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
extern const struct option report_longopts[];

#endif
