// SPDX-License-Identifier: MIT
#include <duress/core/undo_journal.h>
#include <duress/cmd/cli.h>
#include <duress/core/exitcode.h>

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int cli_exit_code(const struct duress_err *err)
{
	return err->code ? err->code : DURESS_EXIT_INTERNAL;
}

int cli_fail(const struct duress_err *err)
{
	duress_err_print(stderr, err);
	return cli_exit_code(err);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "duress %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'duress %s --help')\n", cmd);
	return DURESS_EXIT_USAGE;
}

int cli_require_root(const char *what, struct duress_err *err)
{
	if (geteuid() == 0)
		return 0;
	return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
			       "%s needs root (CAP_SYS_ADMIN to create and write cgroups); "
			       "run it with sudo",
			       what);
}

bool cli_session_opt(int c, const char *arg, struct cli_session_opts *o)
{
	switch (c) {
	case 't':
		o->target = arg;
		return true;
	case CLI_OPT_SAMPLES:
		o->samples = arg;
		return true;
	case CLI_OPT_DRY_RUN:
		o->dry_run = true;
		return true;
	case CLI_OPT_FORCE:
		o->force = true;
		return true;
	case 'q':
		o->quiet = true;
		return true;
	case CLI_OPT_STATE_DIR:
		o->state_dir = arg;
		return true;
	case CLI_OPT_NO_RECOVER:
		o->no_recover = true;
		return true;
	}
	return false;
}

int cli_open_target(const struct cli_session_opts *o, const char *what, const struct cg_root *root,
		    const struct target_spec *spec, struct agent_session *sess, bool *have_sess,
		    struct undo_log *undo, struct undo_log *sbx_undo, struct target *t,
		    struct duress_err *err)
{
	if (!o->dry_run) {
		if (session_begin(sess, o->state_dir, o->no_recover, what, err) < 0)
			return -1;
		*have_sess = true;
		undo_journal_attach(&sess->journal, undo);
		undo_journal_attach(&sess->journal, sbx_undo);
	}
	if (spec->kind == TARGET_SANDBOX) {
		if (cg_root_require(root, "cpu memory io pids", err) < 0 ||
		    session_sandbox(sess, root, sbx_undo, t, err) < 0)
			return -1;
	} else if (target_resolve(root, spec, t, err) < 0) {
		return -1;
	}
	return target_guard(t, o->force, err);
}
