// SPDX-License-Identifier: MIT
/*
 * duress __complete: what the bash completion (scripts/completion/duress.bash)
 * asks the binary, so that it offers exactly the commands, faults and options
 * this build has, from the tables the parsers use:
 *
 *   duress __complete commands              (answered in main.c: its table)
 *   duress __complete faults                one fault name a line
 *   duress __complete options CMD [FAULT]   "--NAME<TAB>KIND" a line
 *   duress __complete targets               container:ID and pid:N a line
 *   duress __complete cgroup-root           the cgroup2 mount
 *
 * KIND says what the option's value is: "-" none (a flag), "target",
 * "file", "dir", "iface", "choice:A,B,C", or "value" (anything else).
 * Not a user interface: undocumented in --help, stable only for the script.
 */
#include <duress/targets/container.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/targets/target.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *cmd;
	const struct option *opts;
} cmd_opts[] = {
	{ "sample", sample_longopts },	   { "targets", targets_longopts },
	{ "inject", inject_longopts },	   { "run", run_longopts },
	{ "validate", validate_longopts }, { "recover", recover_longopts },
	{ "serve", serve_longopts },	   { "report", report_longopts },
};

/* The values of enumerated command options (their parsers accept these). */
static const struct {
	const char *cmd, *opt, *kind;
} cmd_kinds[] = {
	{ "sample", "format", "choice:jsonl,csv,table" },
	{ "targets", "format", "choice:table,json" },
};

/* What a command option's value is, by its name. */
static const char *cmd_opt_kind(const char *cmd, const struct option *o)
{
	static const char *const files[] = { "output", "samples", "summary", "journal", "junit" };

	if (o->has_arg == no_argument)
		return "-";
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(cmd_kinds); i++)
		if (!strcmp(cmd, cmd_kinds[i].cmd) && !strcmp(o->name, cmd_kinds[i].opt))
			return cmd_kinds[i].kind;
	if (!strcmp(o->name, "target"))
		return "target";
	if (!strcmp(o->name, "state-dir"))
		return "dir";
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(files); i++)
		if (!strcmp(o->name, files[i]))
			return "file";
	return "value";
}

/* What a fault option's value is, by its type and metavar. */
static void print_fault_opt(const struct fault_opt *o)
{
	const char *mv = o->metavar ? o->metavar : "";

	printf("--%s\t", o->name);
	if (o->type == FOPT_FLAG) {
		puts("-");
	} else if (o->type == FOPT_ENUM && o->choices) {
		fputs("choice:", stdout);
		for (size_t i = 0; o->choices[i]; i++)
			printf("%s%s", i ? "," : "", o->choices[i]);
		putchar('\n');
	} else if (!strcmp(mv, "IFACE")) {
		puts("iface");
	} else if (!strncmp(mv, "PATH", 4)) {
		puts("file");
	} else if (!strcmp(mv, "DIR")) {
		puts("dir");
	} else {
		puts("value");
	}
}

static int complete_options(const char *cmd, const char *fault_name)
{
	const struct option *opts = NULL;

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(cmd_opts); i++)
		if (!strcmp(cmd, cmd_opts[i].cmd))
			opts = cmd_opts[i].opts;
	if (!opts) {
		fprintf(stderr, "duress __complete: no option table for command '%s'\n", cmd);
		return DURESS_EXIT_USAGE;
	}
	for (const struct option *o = opts; o->name; o++)
		printf("--%s\t%s\n", o->name, cmd_opt_kind(cmd, o));
	if (fault_name && !strcmp(cmd, "inject")) {
		const struct fault_desc *d = fault_find(fault_name);

		if (!d) {
			fprintf(stderr, "duress __complete: unknown fault '%s'\n", fault_name);
			return DURESS_EXIT_USAGE;
		}
		for (size_t i = 0; i < d->nopts; i++)
			print_fault_opt(&d->opts[i]);
	}
	return DURESS_EXIT_OK;
}

static void print_fault_name(const struct fault_desc *d, void *data)
{
	puts(d->name);
}

/* container:ID for each container, then pid:N for each of their processes. */
static int complete_targets(void)
{
	struct duress_err err = { 0 };
	struct cg_root root;
	cleanup_free struct container_info *list = NULL;
	size_t n = 0;

	/* completion must stay quiet: no cgroup2 or nothing found = no words */
	if (cg_root_discover(&root, &err) < 0 || container_scan(&root, &list, &n, &err) < 0)
		return DURESS_EXIT_OK;
	for (size_t i = 0; i < n; i++)
		printf("container:%s\n", list[i].id);
	for (size_t i = 0; i < n; i++) {
		cleanup_free pid_t *pids = NULL;
		char dir[PATH_MAX];
		size_t np = 0;

		if (cg_path_join(&root, list[i].rel, dir, sizeof(dir), &err) < 0 ||
		    cg_procs(dir, &pids, &np, &err) < 0)
			continue;
		for (size_t k = 0; k < np; k++)
			printf("pid:%d\n", (int)pids[k]);
	}
	return DURESS_EXIT_OK;
}

int cmd_complete(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "faults") && argc == 2) {
		fault_for_each(print_fault_name, NULL);
		return DURESS_EXIT_OK;
	}
	if (!strcmp(what, "options") && (argc == 3 || argc == 4))
		return complete_options(argv[2], argc == 4 ? argv[3] : NULL);
	if (!strcmp(what, "targets") && argc == 2)
		return complete_targets();
	if (!strcmp(what, "cgroup-root") && argc == 2) {
		struct duress_err err = { 0 };
		struct cg_root root;

		if (cg_root_discover(&root, &err) == 0)
			puts(root.mount);
		return DURESS_EXIT_OK;
	}
	fprintf(stderr, "usage: duress __complete commands|faults|targets|cgroup-root|"
			"options CMD [FAULT]\n");
	return DURESS_EXIT_USAGE;
}
