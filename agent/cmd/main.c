// SPDX-License-Identifier: MIT
/* duress: put a cgroup v2 under resource duress and measure how it copes. */
#include <duress/targets/cgview.h>
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/session/session.h>

#include <stdio.h>
#include <string.h>

#ifndef DURESS_VERSION
#error "DURESS_VERSION comes from the VERSION file (the Makefile passes it)"
#endif

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "sample", cmd_sample,
	  "sample a target's usage (CPU, memory, I/O, pids, pressure, network)" },
	{ "inject", cmd_inject, "apply one fault to a target for a while, sample it, revert it" },
	{ "recover", cmd_recover, "revert what agents that died left behind (undo journals)" },
	{ "run", cmd_run,
	  "run an experiment: probes, faults, abort conditions, recovery, journal" },
	{ "validate", cmd_validate,
	  "check experiment manifests (every problem with its line and column)" },
	{ "targets", cmd_targets, "list the cgroups that look like containers, with their usage" },
	{ "report", cmd_report,
	  "render a run's journal and samples as an HTML or Markdown report" },
	{ "serve", cmd_serve, "serve the HTTP API: experiments, faults, /metrics (docs/api.md)" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: duress COMMAND [OPTIONS]\n\n"
		"Puts a container (a cgroup v2) under resource duress and measures how it copes.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-10s %s\n", "version", "print the version");
	fprintf(f,
		"\nTargets (-t): cgroup:PATH, pid:N, container:ID; none = a sandbox of its own.\n"
		"'duress COMMAND --help' for a command's options; exit codes in docs/cli.md.\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return DURESS_EXIT_USAGE;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return DURESS_EXIT_OK;
	}
	/* internal: the crash guardian that session_guard() starts */
	if (!strcmp(cmd, "__guardian"))
		return guardian_main(argc - 1, argv + 1);
	/* internal: shell completion; the command names from the table above */
	if (!strcmp(cmd, "__complete") && argc == 3 && !strcmp(argv[2], "commands")) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			puts(commands[i].name);
		puts("version");
		return DURESS_EXIT_OK;
	}
	if (!strcmp(cmd, "__complete"))
		return cmd_complete(argc - 1, argv + 1);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("duress %s\n", DURESS_VERSION);
		return DURESS_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		struct duress_err err = { 0 };

		if (strcmp(cmd, commands[i].name))
			continue;
		/* An agent in a container told to see the host's cgroup tree
		 * (DaemonSet): joined before anything reads a cgroup. */
		if (cg_ns_join_from_env(&err) < 0) {
			duress_err_print(stderr, &err);
			return err.code ? err.code : DURESS_EXIT_INTERNAL;
		}
		return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "duress: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return DURESS_EXIT_USAGE;
}
