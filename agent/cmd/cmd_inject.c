// SPDX-License-Identifier: MIT
/*
 * duress inject FAULT: apply one fault to a target for --for, sampling the
 * target before and while it is in force, then revert it through the undo
 * log and print what the target went through.
 */
#include <duress/samples/sample_format.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/experiment.h>
#include <duress/faults/fault.h>
#include <duress/core/parse.h>
#include <duress/samples/sample.h>
#include <duress/core/proc.h>

#include <duress/targets/sandbox.h>
#include <duress/session/session.h>
#include <duress/samples/summary.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_FOR = 256,
	OPT_INTERVAL,
	OPT_BASELINE,
	OPT_SUMMARY,
	OPT_FAULT_BASE = 1000,
};

struct inject_opts {
	struct cli_session_opts s;
	bool for_set;
	uint64_t for_us;
	uint64_t interval_us;
	uint64_t baseline_us;
	bool baseline_set;
	const char *summary;
};

static void print_fault_line(const struct fault_desc *d, void *data)
{
	fprintf(data, "  %-10s %s\n", d->name, d->summary);
}

static void inject_usage(FILE *f, const struct fault_desc *d)
{
	fprintf(f, "usage: duress inject %s [-t TARGET] --for DUR [options]\n\n",
		d ? d->name : "FAULT");
	if (!d) {
		fprintf(f, "Faults:\n");
		fault_for_each(print_fault_line, f);
		fprintf(f, "\n");
	} else {
		fprintf(f, "%s\n\nOptions of %s:\n", d->summary, d->name);
		fault_print_options(d, f);
		fprintf(f, "\n");
	}
	fprintf(f,
		"Common options:\n"
		"  -t, --target SPEC          cgroup:PATH, pid:N or container:ID; none = a sandbox\n"
		"  --for DUR                  how long the fault stays in force (required)\n"
		"  --interval DUR             sampling interval (default 1s)\n"
		"  --baseline DUR             sample this long before applying (default 2s; 0: none)\n"
		"  --samples FILE             write every sample as JSON Lines, with a phase field\n"
		"  --summary FILE             write the summary as JSON\n"
		"  --dry-run                  print exactly what would be written where; change nothing\n"
		"  --force                    lift the guard rails (root cgroup, own cgroup, PID 1)\n"
		"  -q, --quiet                no live table\n"
		"  --state-dir DIR            undo journal and locks (default /run/duress)\n"
		"  --no-recover               do not first revert what dead agents left\n"
		"Docs: docs/faults/<fault>.md, docs/cli.md (exit codes).\n");
}

/* The options of every fault (also listed by `duress __complete options inject`). */
const struct option inject_longopts[] = {
	CLI_SESSION_LONGOPTS,
	{ "for", required_argument, NULL, OPT_FOR },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "baseline", required_argument, NULL, OPT_BASELINE },
	{ "summary", required_argument, NULL, OPT_SUMMARY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Parse the command line against the common options and the fault's table. */
static int parse_inject(int argc, char **argv, struct fault *f, struct inject_opts *o)
{
	const struct fault_desc *d = f->desc;
	size_t nc = DURESS_ARRAY_SIZE(inject_longopts) - 1; /* without the terminator */
	cleanup_free struct option *longopts = calloc(nc + d->nopts + 1, sizeof(*longopts));
	struct duress_err err = { 0 };
	char what[80];
	int c, li;

	if (!longopts)
		return DURESS_EXIT_INTERNAL;
	memcpy(longopts, inject_longopts, nc * sizeof(*longopts));
	for (size_t i = 0; i < d->nopts; i++) {
		longopts[nc + i].name = d->opts[i].name;
		longopts[nc + i].has_arg = d->opts[i].type == FOPT_FLAG ? no_argument
									: required_argument;
		longopts[nc + i].val = OPT_FAULT_BASE + (int)i;
	}
	o->interval_us = 1000000;
	o->baseline_us = 2000000;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":" CLI_SESSION_SHORTOPTS "h", longopts, &li)) != -1) {
		if (c >= OPT_FAULT_BASE) {
			int idx = c - OPT_FAULT_BASE;

			snprintf(what, sizeof(what), "--%s", d->opts[idx].name);
			if (f->vals[idx].set && d->opts[idx].type != FOPT_LIST)
				return cli_usage_error("inject", "%s given twice", what);
			if (fault_opt_set(f, idx, optarg, what, &err) < 0)
				return cli_usage_error("inject", "%s", err.msg);
			continue;
		}
		if (cli_session_opt(c, optarg, &o->s))
			continue;
		switch (c) {
		case OPT_FOR:
			if (parse_duration(optarg, "--for", &o->for_us, &err) < 0)
				return cli_usage_error("inject", "%s", err.msg);
			if (o->for_us < 100000)
				return cli_usage_error(
					"inject", "--for: '%s': must be at least 100ms", optarg);
			o->for_set = true;
			break;
		case OPT_INTERVAL:
			if (parse_duration(optarg, "--interval", &o->interval_us, &err) < 0)
				return cli_usage_error("inject", "%s", err.msg);
			if (o->interval_us < 10000)
				return cli_usage_error("inject",
						       "--interval: '%s': must be at least 10ms",
						       optarg);
			break;
		case OPT_BASELINE:
			if (parse_duration(optarg, "--baseline", &o->baseline_us, &err) < 0)
				return cli_usage_error("inject", "%s", err.msg);
			o->baseline_set = true;
			break;
		case OPT_SUMMARY:
			o->summary = optarg;
			break;
		case 'h':
			inject_usage(stdout, d);
			return -1;
		case ':':
			return cli_usage_error("inject", "option %s needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("inject", "unknown option '%s' for the %s fault",
					       argv[optind - 1], d->name);
		}
	}
	if (optind < argc)
		return cli_usage_error("inject", "unexpected argument '%s'", argv[optind]);
	if (!o->for_set)
		return cli_usage_error("inject",
				       "--for DUR is required: how long the %s fault "
				       "stays in force",
				       d->name);
	return 0;
}

/* What inject shows while its one-action experiment runs. */
struct inject_ui {
	const struct inject_opts *o;
	const char *title;
	struct sample_writer live;
	bool live_on;
	int rc; /* the exit code of a fault that could not be applied */
};

static void ui_sample(void *ctx, const struct sample *s)
{
	struct inject_ui *ui = ctx;
	struct duress_err err = { 0 };

	if (ui->live_on)
		sample_writer_write(&ui->live, s, &err);
}

static void ui_started(void *ctx, const struct fault_run *fr)
{
	struct inject_ui *ui = ctx;

	fprintf(stderr, "duress: %s fault in force on %s for %.1fs\n", fr->f.desc->name, ui->title,
		ui->o->for_us / 1e6);
	/* the live view counts down to the fault's end (the samples' clock) */
	ui->live.phase_ends = fr->ends_at;
}

static void ui_failed(void *ctx, const struct fault_run *fr, const struct duress_err *e)
{
	struct inject_ui *ui = ctx;

	fprintf(stderr, "duress: %s fault could not be applied; reverting what was done\n",
		fr->f.desc->name);
	ui->rc = cli_fail(e);
}

static void print_plan(const struct fault *f, FILE *out)
{
	for (size_t i = 0; i < f->nplan; i++)
		fprintf(out, "  %s\n", f->plan[i]);
}

static const char *ended_by(const struct exp_result *res, bool human)
{
	if (res->vanished)
		return human ? "the target vanishing" : "target vanished";
	if (res->stop_signal)
		return strsignal(res->stop_signal);
	return human ? "--for" : "duration";
}

static json_t *summary_json(struct fault *f, const struct inject_ui *ui,
			    const struct exp_result *res, const struct undo_report *rep,
			    double revert_ms)
{
	json_t *o = json_object(), *fails = json_array(), *extra = json_object();
	char dur[32];

	json_object_set_new(o, "fault", json_string(f->desc->name));
	json_object_set_new(o, "target", json_string(f->target->dir));
	json_object_set_new(o, "for",
			    json_string(format_duration(ui->o->for_us, dur, sizeof(dur))));
	json_object_set_new(o, "in_force_s",
			    json_real(round((f->ended_at - f->started_at) * 100) / 100));
	json_object_set_new(o, "revert_ms", json_real(round(revert_ms * 10) / 10));
	json_object_set_new(o, "reverted", json_integer((json_int_t)rep->reverted));
	json_object_set_new(o, "already_gone", json_integer((json_int_t)rep->gone));
	for (size_t i = 0; i < rep->failed && i < DURESS_ARRAY_SIZE(rep->failures); i++)
		json_array_append_new(fails, json_string(rep->failures[i]));
	json_object_set_new(o, "not_reverted", fails);
	json_object_set_new(o, "ended_by", json_string(ended_by(res, false)));
	json_object_set_new(o, "before", phase_stats_json(&res->before, NULL));
	json_object_set_new(o, "during", phase_stats_json(&res->during, &res->before));
	fault_report(f, extra);
	json_object_set_new(o, "fault_report", extra);
	return o;
}

/* Run the fault as a one-action experiment; print what the target went
 * through.  Returns the exit code. */
static int inject_run(struct fault_run *fr, struct inject_ui *ui, FILE *samples,
		      struct undo_log *undo, int sfd, bool no_target)
{
	struct fault *f = &fr->f;
	const struct inject_opts *o = ui->o;
	struct exp_opts eo = {
		.samples = samples,
		.quiet = true,
		.own_messages = true,
		.no_target = no_target,
		.hooks = { .ctx = ui,
			   .sample = ui_sample,
			   .fault_started = ui_started,
			   .fault_failed = ui_failed },
	};
	struct experiment x;
	struct action a;
	struct exp_result res;
	struct undo_report rep = { 0 };
	json_t *journal = NULL, *sum;
	double revert_ms;

	experiment_one(&x, &a, fr, o->for_us, o->baseline_us, o->interval_us);
	experiment_run(&x, f->target, fr, 1, undo, sfd, &eo, &journal, &res);
	json_decref(journal);
	if (ui->live_on)
		sample_writer_close(&ui->live);
	if (!fr->ok) {
		if (!ui->rc && res.vanished)
			fprintf(stderr,
				"duress: target %s vanished before the %s fault was in "
				"force; nothing is left of it\n",
				ui->title, f->desc->name);
		return ui->rc ? ui->rc
			      : (res.vanished ? DURESS_EXIT_NO_TARGET : DURESS_EXIT_INTERRUPTED);
	}

	/* ended by its own --for (fault_stop), or by the revert of everything */
	/* what its own end could not revert was tried again at the end:
	 * only what still failed then counts */
	rep.reverted = f->stop_rep.reverted;
	rep.gone = f->stop_rep.gone;
	undo_report_add(&rep, &res.revert);
	revert_ms = f->stop_ms + res.revert_ms;
	fprintf(stdout,
		"\n%s fault on %s: in force %.1fs, ended by %s; reverted in %.1f ms "
		"(%zu undone, %zu already gone, %zu failed)\n",
		f->desc->name, ui->title, f->ended_at - f->started_at, ended_by(&res, true),
		revert_ms, rep.reverted, rep.gone, rep.failed);
	phase_stats_print(stdout, &res.before, &res.during);
	sum = summary_json(f, ui, &res, &rep, revert_ms);
	{
		json_t *extra = json_object_get(sum, "fault_report");
		const char *k;
		json_t *v;

		json_object_foreach(extra, k, v) {
			char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
							  JSON_REAL_PRECISION(6));

			fprintf(stdout, "  %-26s %s\n", k, txt ? txt : "?");
			free(txt);
		}
	}
	for (size_t i = 0; i < rep.failed && i < DURESS_ARRAY_SIZE(rep.failures); i++)
		fprintf(stderr, "duress: NOT REVERTED: %s\n", rep.failures[i]);
	if (o->summary && json_dump_file(sum, o->summary, JSON_INDENT(2)) < 0)
		fprintf(stderr, "duress: cannot write the summary to %s\n", o->summary);
	json_decref(sum);
	if (rep.failed)
		return DURESS_EXIT_NOT_REVERTED;
	if (res.vanished) {
		fprintf(stderr,
			"duress: target %s vanished during the fault (its processes exited "
			"or its cgroup was removed); the run ended cleanly\n",
			ui->title);
		return DURESS_EXIT_OK;
	}
	if (res.stop_signal)
		return DURESS_EXIT_INTERRUPTED;
	return DURESS_EXIT_OK;
}

int cmd_inject(int argc, char **argv)
{
	struct inject_opts o = { 0 };
	struct duress_err err = { 0 };
	struct target_spec spec;
	struct target t;
	struct cg_root root;
	struct fault_run fr = { 0 };
	struct fault *f = &fr.f;
	struct undo_log undo, sbx_undo;
	struct agent_session sess = { .journal.fd = -1 };
	bool have_sess = false, no_target;
	char what[128];
	const struct fault_desc *d;
	cleanup_close int sfd = -1;
	sigset_t oldmask;
	struct inject_ui ui = { .o = &o };
	char title[PATH_MAX + 128];
	FILE *samples = NULL;
	int rc;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			inject_usage(stdout, NULL);
			return DURESS_EXIT_OK;
		}
		inject_usage(stderr, NULL);
		return DURESS_EXIT_USAGE;
	}
	d = fault_find(argv[1]);
	if (!d) {
		fprintf(stderr, "duress inject: unknown fault '%s'\n\n", argv[1]);
		inject_usage(stderr, NULL);
		return DURESS_EXIT_USAGE;
	}
	if (fault_init(f, d, &err) < 0)
		return cli_fail(&err);
	undo_log_init(&undo);
	undo_log_init(&sbx_undo);
	target_init(&t);
	rc = parse_inject(argc - 1, argv + 1, f, &o);
	if (rc) {
		rc = rc < 0 ? DURESS_EXIT_OK : rc;
		goto out;
	}
	f->duration_us = o.for_us;
	f->force = o.s.force;
	f->undo = &undo;
	f->root = &root;
	f->target = &t;
	if (fault_check(f, &err) < 0) {
		rc = err.code == DURESS_EXIT_USAGE ? cli_usage_error("inject", "%s", err.msg)
						   : cli_fail(&err);
		goto out;
	}
	/* a fault that needs no target (an explicit proxy) and none given:
	 * no cgroups, no samples, no sandbox; the session still guards it */
	no_target = !fault_needs_target(f) && !o.s.target;
	if (no_target && !o.baseline_set)
		o.baseline_us = 0;
	if (!no_target && target_spec_parse(o.s.target, &spec, &err) < 0) {
		rc = cli_usage_error("inject", "%s", err.msg);
		goto out;
	}
	if ((!no_target && cg_root_discover(&root, &err) < 0) ||
	    (!o.s.dry_run && cli_require_root("inject", &err) < 0)) {
		rc = cli_fail(&err);
		goto out;
	}
	sfd = proc_signals_to_fd(&oldmask);
	if (sfd < 0) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "signalfd");
		rc = cli_fail(&err);
		goto out;
	}
	if (!no_target && spec.kind == TARGET_SANDBOX && o.s.dry_run) {
		fprintf(stderr, "duress inject: --dry-run needs a target (-t): the sandbox "
				"exists only while the agent runs\n");
		rc = DURESS_EXIT_USAGE;
		goto out_mask;
	}
	/* Before the first change: recover what dead agents left, open this
	 * run's undo journal (every step is on disk before it is made). */
	snprintf(what, sizeof(what), "inject %s", d->name);
	if (no_target) {
		if (!o.s.dry_run) {
			if (session_begin(&sess, o.s.state_dir, o.s.no_recover, what, &err) < 0) {
				rc = cli_fail(&err);
				goto out_target;
			}
			have_sess = true;
			undo_journal_attach(&sess.journal, &undo);
		}
	} else if (cli_open_target(&o.s, what, &root, &spec, &sess, &have_sess, &undo, &sbx_undo,
				   &t, &err) < 0) {
		rc = cli_fail(&err);
		goto out_target;
	}
	if (fault_prepare(f, &err) < 0) {
		rc = cli_fail(&err);
		goto out_target;
	}
	/* One agent per target and resource (none to lock without a target);
	 * the guardian inherits the lock. */
	if (have_sess && !t.owned &&
	    ((!no_target && session_lock(&sess, &t, d->name, &err) < 0) ||
	     session_guard(&sess, &err) < 0)) {
		rc = cli_fail(&err);
		goto out_target;
	}

	if (no_target)
		snprintf(title, sizeof(title), "no target");
	else
		target_describe(&t, title, sizeof(title));
	ui.title = title;
	if (o.s.dry_run) {
		char dur[32];

		printf("dry run: %s fault on %s for %s would:\n", d->name, title,
		       format_duration(o.for_us, dur, sizeof(dur)));
		print_plan(f, stdout);
		printf("nothing was changed\n");
		rc = DURESS_EXIT_OK;
		goto out_target;
	}
	if (o.s.samples) {
		samples = fopen(o.s.samples, "we");
		if (!samples) {
			duress_err_setc(&err, DURESS_EXIT_USAGE, errno, "--samples: cannot open %s",
					o.s.samples);
			rc = cli_fail(&err);
			goto out_target;
		}
	}
	print_plan(f, stderr);
	ui.live_on = !o.s.quiet && isatty(STDOUT_FILENO);
	if (ui.live_on)
		sample_writer_init(&ui.live, SAMPLE_FORMAT_TABLE, stdout, title);
	rc = inject_run(&fr, &ui, samples, &undo, sfd, no_target);
	if (samples && fclose(samples) != 0)
		fprintf(stderr, "duress: error writing %s\n", o.s.samples);
out_target:
	session_drop_sandbox(&t, &undo, &sbx_undo);
out_mask:
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
out:
	/* Nothing recorded may stay applied, whatever path got us here. */
	rc = session_finish(&sess, have_sess, &undo, &sbx_undo, rc);
	target_release(&t);
	fault_free(f);
	undo_log_free(&undo);
	undo_log_free(&sbx_undo);
	return rc;
}
