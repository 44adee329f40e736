// SPDX-License-Identifier: MIT
/* duress recover: revert whatever journals of dead agents still hold. */
#include <duress/session/recover.h>
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/core/undo_journal.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void recover_usage(FILE *f)
{
	fprintf(f, "usage: duress recover [--dry-run] [--state-dir DIR]\n\n"
		   "Reverts every change that agents which died (killed, crashed, their host\n"
		   "or container restarted) left recorded in the state directory's undo\n"
		   "journals. Journals of live agents are left alone. Every agent start does\n"
		   "this too, unless --no-recover.\n\n"
		   "  --dry-run        list what would be reverted; change nothing\n"
		   "  --state-dir DIR  default $DURESS_STATE_DIR, else /run/duress\n");
}

/* also listed by `duress __complete options recover` */
const struct option recover_longopts[] = {
	{ "dry-run", no_argument, NULL, 'n' },
	{ "state-dir", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_recover(int argc, char **argv)
{
	struct duress_err err = { 0 };
	struct recover_report rep;
	const char *state = NULL;
	bool dry = false;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", recover_longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			dry = true;
			break;
		case 's':
			state = optarg;
			break;
		case 'h':
			recover_usage(stdout);
			return DURESS_EXIT_OK;
		case ':':
			return cli_usage_error("recover", "option %s needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("recover", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("recover", "unexpected argument '%s'", argv[optind]);
	if (!dry && cli_require_root("recover", &err) < 0)
		return cli_fail(&err);
	state = state_dir_resolve(state);
	rc = recover_all(state, NULL, dry, false, stdout, &rep, &err);
	printf("%s: %zu journal(s)%s: %zu change(s) %s, %zu already gone, %zu failed, %zu in use "
	       "by live agents%s",
	       state, rep.journals, dry ? " (dry run)" : "", rep.reverted,
	       dry ? "to revert" : "reverted", rep.gone, rep.failed, rep.busy,
	       rep.refused ? "" : "\n");
	if (rep.refused)
		printf(", %zu not replayed (not the agent's; see above)\n", rep.refused);
	if (rc < 0)
		return rep.failed ? DURESS_EXIT_NOT_REVERTED : cli_fail(&err);
	return DURESS_EXIT_OK;
}
