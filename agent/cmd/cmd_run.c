// SPDX-License-Identifier: MIT
/*
 * duress run EXPERIMENT: check the manifest, resolve the target, set up
 * every fault (supported, planned) before changing anything, run the
 * experiment, write the journal (and JUnit).  duress validate EXPERIMENT:
 * only the checks.
 */
#include <duress/experiment/journal.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/experiment.h>
#include <duress/experiment/manifest.h>
#include <duress/experiment/manifest_validate.h>
#include <duress/experiment/probe.h>
#include <duress/samples/sample_format.h>
#include <duress/core/proc.h>

#include <duress/targets/sandbox.h>
#include <duress/session/session.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

enum {
	OPT_JOURNAL = 256,
	OPT_JUNIT,
	OPT_PROBE_NET_GUARD,
	OPT_ALLOW_PROBE_NET,
	OPT_PROBES,
};

struct run_opts {
	struct cli_session_opts s;
	const char *file;
	const char *journal;
	const char *junit;
	const char *probes;
	struct probe_net_guard guard; /* duress serve's jobs */
};

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: duress run EXPERIMENT [-t TARGET] [--journal FILE] [--junit FILE]\n"
		"                  [--samples FILE] [--probes FILE] [--dry-run] [--force] [-q]\n"
		"       duress validate EXPERIMENT...\n\n"
		"Runs an experiment (YAML or JSON; ours or a Chaos Toolkit one): steady-state\n"
		"probes, the method's faults and actions, abort conditions, one revert of\n"
		"everything, rollbacks, recovery time, steady state after.\n\n"
		"  -t, --target SPEC   cgroup:PATH, pid:N or container:ID (overrides the manifest's\n"
		"                      target; none anywhere = a sandbox)\n"
		"  --journal FILE      the journal (Chaos Toolkit journal.json + a duress section)\n"
		"  --junit FILE        JUnit XML: each probe, activity and phase as a test case\n"
		"  --samples FILE      every sample as JSON Lines, with its phase\n"
		"  --probes FILE       every steady-state probe run as JSON Lines (latency)\n"
		"  --dry-run           check, resolve and print every change; change nothing\n"
		"  --force             lift the guard rails (root cgroup, own cgroup, PID 1)\n"
		"  -q, --quiet         no progress lines\n"
		"  --state-dir DIR     undo journal and locks (default /run/duress)\n"
		"  --no-recover        do not first revert what dead agents left\n"
		"  --probe-net-guard   http probes refuse loopback, link-local and metadata\n"
		"                      addresses (duress serve's jobs)\n"
		"  --allow-probe-net CIDR  ... except inside CIDR (repeatable)\n"
		"Exit: 0 held, 1 deviated (or not steady before), 9 aborted, 10 invalid\n"
		"manifest, 4 unsupported, 5 internal (docs/cli.md, docs/manifests.md).\n");
}

/* also listed by `duress __complete options run` */
const struct option run_longopts[] = {
	CLI_SESSION_LONGOPTS,
	{ "journal", required_argument, NULL, OPT_JOURNAL },
	{ "junit", required_argument, NULL, OPT_JUNIT },
	{ "probes", required_argument, NULL, OPT_PROBES },
	{ "probe-net-guard", no_argument, NULL, OPT_PROBE_NET_GUARD },
	{ "allow-probe-net", required_argument, NULL, OPT_ALLOW_PROBE_NET },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* validate takes only file names and --help (for `duress __complete`) */
const struct option validate_longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_run(int argc, char **argv, struct run_opts *o)
{
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":" CLI_SESSION_SHORTOPTS "h", run_longopts, NULL)) !=
	       -1) {
		if (cli_session_opt(c, optarg, &o->s))
			continue;
		switch (c) {
		case OPT_JOURNAL:
			o->journal = optarg;
			break;
		case OPT_JUNIT:
			o->junit = optarg;
			break;
		case OPT_PROBES:
			o->probes = optarg;
			break;
		case OPT_PROBE_NET_GUARD:
			o->guard.on = true;
			break;
		case OPT_ALLOW_PROBE_NET: {
			struct duress_err err = { 0 };

			if (o->guard.nallow == PROBE_NET_ALLOW_MAX)
				return cli_usage_error("run", "--allow-probe-net: at most %d",
						       PROBE_NET_ALLOW_MAX);
			if (ns_parse_cidr(optarg, "--allow-probe-net",
					  &o->guard.allow[o->guard.nallow], &err) < 0)
				return cli_usage_error("run", "%s", err.msg);
			o->guard.nallow++;
			break;
		}
		case 'h':
			run_usage(stdout);
			return -1;
		case ':':
			return cli_usage_error("run", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "which experiment? (duress run EXPERIMENT.yaml)");
	o->file = argv[optind++];
	if (optind < argc)
		return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Load and check; prints every diagnostic.  Returns 0 or an exit code. */
static int load(const char *file, struct experiment *x)
{
	struct mf_diags d;
	struct duress_err err = { 0 };
	int rc = 0;

	mf_diags_init(&d, file);
	if (manifest_load(file, x, &d, &err) < 0) {
		mf_diags_print(&d, stderr);
		rc = cli_fail(&err);
	}
	mf_diags_free(&d);
	return rc;
}

int cmd_validate(int argc, char **argv)
{
	int rc = DURESS_EXIT_OK;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		run_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? DURESS_EXIT_USAGE : DURESS_EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		struct experiment x;
		int r = load(argv[i], &x);

		if (!r) {
			size_t nf = 0;

			for (size_t k = 0; k < x.nmethod; k++)
				nf += x.method[k].type == ACT_FAULT;
			printf("%s: valid %s experiment '%s': %zu steady-state probe%s, %zu method "
			       "action%s (%zu fault%s), %zu rollback%s\n",
			       argv[i], x.ctk ? "Chaos Toolkit" : "duress", x.title, x.nsteady,
			       x.nsteady == 1 ? "" : "s", x.nmethod, x.nmethod == 1 ? "" : "s", nf,
			       nf == 1 ? "" : "s", x.nrollback, x.nrollback == 1 ? "" : "s");
		}
		manifest_free(&x);
		if (r && (!rc || r == DURESS_EXIT_INVALID_MANIFEST))
			rc = r;
	}
	return rc;
}

static void print_timeline(const struct experiment *x, struct fault_run *faults, bool planned)
{
	size_t k = 0;

	printf("dry run: experiment '%s' (%s format)\n", x->title,
	       x->ctk ? "Chaos Toolkit" : "duress");
	printf("  baseline %.1fs, then %zu steady-state probe%s\n", x->baseline_us / 1e6,
	       x->nsteady, x->nsteady == 1 ? "" : "s");
	for (size_t i = 0; i < x->nmethod; i++) {
		const struct action *a = &x->method[i];

		switch (a->type) {
		case ACT_FAULT:
			printf("  method: %s fault '%s' for %.1fs%s\n", a->fault->name, a->name,
			       a->duration_us / 1e6, a->background ? " (background)" : "");
			for (size_t p = 0; planned && p < faults[k].f.nplan; p++)
				printf("    %s\n", faults[k].f.plan[p]);
			k++;
			break;
		case ACT_PAUSE:
			printf("  method: pause %.1fs\n", a->duration_us / 1e6);
			break;
		case ACT_PROBE:
			printf("  method: %s '%s'\n", a->is_probe ? "probe" : "action", a->name);
			break;
		}
	}
	printf("  then one revert of everything, %zu rollback action%s, recovery (at most "
	       "%.1fs), steady-state probes\n",
	       x->nrollback, x->nrollback == 1 ? "" : "s", x->recovery_timeout_us / 1e6);
	if (!planned)
		printf("  (the changes are resolved against a target: give -t to see them)\n");
	printf("nothing was changed\n");
}

/*
 * A run that needs no target: no fault action, no metric probe, no abort on
 * metrics or pressure, and no target asked for (-t or the manifest).  Chaos
 * Toolkit users often only probe: such a run works on any Linux host, as
 * any user, without cgroup v2 (nothing is changed, nothing sampled).
 */
static bool probes_only(const struct experiment *x, const struct run_opts *o)
{
	if (o->s.target || x->target || x->abort.nmetrics || x->abort.ntriggers)
		return false;
	for (size_t i = 0; i < x->nsteady; i++)
		if (x->steady[i].type == PROBE_METRIC)
			return false;
	for (size_t i = 0; i < x->nmethod; i++)
		if (x->method[i].type == ACT_FAULT ||
		    (x->method[i].type == ACT_PROBE && x->method[i].probe.type == PROBE_METRIC))
			return false;
	for (size_t i = 0; i < x->nrollback; i++)
		if (x->rollback[i].type == ACT_PROBE && x->rollback[i].probe.type == PROBE_METRIC)
			return false;
	return true;
}

/* Check that an output file can be written before anything changes,
 * without touching it (an existing file stays as it is until the report
 * replaces it whole). */
static int writable(const char *opt, const char *path, struct duress_err *err)
{
	cleanup_free char *dir = NULL;
	char *slash;

	if (!path)
		return 0;
	if (!access(path, F_OK))
		return access(path, W_OK) < 0 ? duress_err_setc(err, DURESS_EXIT_USAGE, errno,
								"%s: cannot write %s", opt, path)
					      : 0;
	dir = strdup(path);
	if (!dir)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", opt);
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir] = '\0';
	if (access(slash ? dir : ".", W_OK | X_OK) < 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "%s: cannot create %s", opt,
				       path);
	return 0;
}

static void print_outcome(json_t *j)
{
	json_t *d = json_object_get(j, "duress"), *v, *rec = json_object_get(d, "recovery");
	size_t i;

	printf("\nexperiment: %s (status %s, deviated %s)\n",
	       json_string_value(json_object_get(d, "verdict")),
	       json_string_value(json_object_get(j, "status")),
	       json_is_true(json_object_get(j, "deviated")) ? "yes" : "no");
	v = json_object_get(d, "abort");
	if (json_is_object(v))
		printf("  aborted (%s) at %.2fs into the method: %s\n",
		       json_string_value(json_object_get(v, "kind")),
		       json_number_value(json_object_get(v, "at_s")),
		       json_string_value(json_object_get(v, "reason")));
	json_array_foreach(json_object_get(d, "probes"), i, v)
		printf("  probe %-24s %lld runs during the method, error rate %.1f%%\n",
		       json_string_value(json_object_get(v, "name")),
		       (long long)json_integer_value(json_object_get(v, "runs")),
		       json_number_value(json_object_get(v, "error_rate")) * 100);
	v = json_object_get(rec, "probes_s");
	if (json_is_number(v))
		printf("  recovery: probes hold again %.2fs after the revert\n",
		       json_number_value(v));
	v = json_object_get(rec, "pressure_s");
	if (json_is_number(v))
		printf("  recovery: pressure back to its level before the faults after %.2fs\n",
		       json_number_value(v));
	json_array_foreach(json_object_get(d, "silent_failures"), i, v)
		printf("  SILENT FAILURE (%s): %s\n", json_string_value(json_object_get(v, "kind")),
		       json_string_value(json_object_get(v, "detail")));
}

/* The live view of a run on a terminal (docs/samples.md#live-view). */
struct run_ui {
	struct sample_writer live;
};

static void ui_sample(void *ctx, const struct sample *s)
{
	struct run_ui *ui = ctx;
	struct duress_err err = { 0 };

	sample_writer_write(&ui->live, s, &err);
}

static void ui_status(void *ctx, const struct live_status *st, bool changed)
{
	struct run_ui *ui = ctx;
	struct duress_err err = { 0 };

	ui->live.status = st;
	sample_writer_redraw(&ui->live, changed, &err);
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct experiment x = { 0 };
	struct duress_err err = { 0 };
	struct target_spec spec;
	struct target t;
	struct cg_root root;
	struct undo_log undo, sbx_undo;
	struct agent_session sess = { .journal.fd = -1 };
	struct fault_run *faults = NULL;
	size_t nfaults = 0;
	bool have_sess = false, curl = false, no_target;
	char what[160];
	cleanup_close int sfd = -1;
	sigset_t oldmask;
	json_t *journal = NULL;
	FILE *samples = NULL, *probes = NULL;
	int rc;

	undo_log_init(&undo);
	undo_log_init(&sbx_undo);
	target_init(&t);
	rc = parse_run(argc, argv, &o);
	if (rc)
		return rc < 0 ? DURESS_EXIT_OK : rc;
	rc = load(o.file, &x);
	if (rc)
		goto out_free;
	if (target_spec_parse(o.s.target ? o.s.target : x.target, &spec, &err) < 0) {
		rc = cli_usage_error("run", "%s", err.msg);
		goto out_free;
	}
	no_target = probes_only(&x, &o);
	if (no_target && !x.baseline_set)
		x.baseline_us = 0; /* nothing to sample */
	if (writable("--journal", o.journal, &err) < 0 || writable("--junit", o.junit, &err) < 0 ||
	    writable("--samples", o.s.samples, &err) < 0 ||
	    writable("--probes", o.probes, &err) < 0 ||
	    (!no_target && cg_root_discover(&root, &err) < 0) ||
	    (!no_target && !o.s.dry_run && cli_require_root("run", &err) < 0)) {
		rc = cli_fail(&err);
		goto out_free;
	}
	for (size_t i = 0; i < x.nmethod; i++)
		nfaults += x.method[i].type == ACT_FAULT;
	faults = calloc(nfaults + 1, sizeof(*faults));
	if (!faults) {
		rc = DURESS_EXIT_INTERNAL;
		goto out_free;
	}
	for (size_t i = 0, k = 0; i < x.nmethod; i++) {
		if (x.method[i].type != ACT_FAULT)
			continue;
		faults[k].a = &x.method[i];
		if (manifest_fault_build(&x.method[i], &faults[k].f, &err) < 0) {
			rc = cli_fail(&err);
			goto out_free;
		}
		faults[k].built = true;
		faults[k].f.root = &root;
		faults[k].f.target = &t;
		faults[k].f.undo = &undo;
		faults[k].f.force = o.s.force;
		k++;
	}
	if ((no_target || spec.kind == TARGET_SANDBOX) && o.s.dry_run) {
		print_timeline(&x, faults, false);
		rc = DURESS_EXIT_OK;
		goto out_free;
	}
	sfd = proc_signals_to_fd(&oldmask);
	if (sfd < 0) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "signalfd");
		rc = cli_fail(&err);
		goto out_free;
	}
	snprintf(what, sizeof(what), "run %s", o.file);
	if (!no_target && cli_open_target(&o.s, what, &root, &spec, &sess, &have_sess, &undo,
					  &sbx_undo, &t, &err) < 0) {
		rc = cli_fail(&err);
		goto out_target;
	}
	/* every fault checks it can run here and plans, before anything changes */
	for (size_t k = 0; k < nfaults; k++) {
		const struct fault_desc *d = faults[k].f.desc;

		if (fault_prepare(&faults[k].f, &err) < 0) {
			duress_err_wrap(&err, "%s: action '%s'", o.file, faults[k].a->name);
			rc = cli_fail(&err);
			goto out_target;
		}
		if (have_sess && !t.owned) {
			bool seen = false;

			for (size_t j = 0; j < k; j++)
				seen |= faults[j].f.desc == d;
			if (!seen && session_lock(&sess, &t, d->name, &err) < 0) {
				rc = cli_fail(&err);
				goto out_target;
			}
		}
	}
	if (o.s.dry_run) {
		print_timeline(&x, faults, true);
		rc = DURESS_EXIT_OK;
		goto out_target;
	}
	if (have_sess && !t.owned && session_guard(&sess, &err) < 0) {
		rc = cli_fail(&err);
		goto out_target;
	}
	if (probe_global_init(&err) < 0) {
		rc = cli_fail(&err);
		goto out_target;
	}
	probe_net_guard_set(&o.guard);
	curl = true;
	if (o.s.samples && !(samples = fopen(o.s.samples, "we"))) {
		duress_err_setc(&err, DURESS_EXIT_USAGE, errno, "--samples: cannot open %s",
				o.s.samples);
		rc = cli_fail(&err);
		goto out_target;
	}
	if (o.probes && !(probes = fopen(o.probes, "we"))) {
		duress_err_setc(&err, DURESS_EXIT_USAGE, errno, "--probes: cannot open %s",
				o.probes);
		rc = cli_fail(&err);
		if (samples)
			fclose(samples);
		goto out_target;
	}
	{
		struct exp_opts eo = { .samples = samples,
				       .probes = probes,
				       .quiet = o.s.quiet,
				       .no_target = no_target };
		char title[PATH_MAX + 128], head[PATH_MAX + 256];
		struct run_ui ui;

		snprintf(head, sizeof(head), "'%s' on %s", x.title,
			 no_target ? "this host (probes only: no target)"
				   : target_describe(&t, title, sizeof(title)));
		fprintf(stderr, "duress: experiment %s\n", head);
		/* on a terminal, the live view; its EVENT line is the last
		 * progress line (TERM=dumb: the samples' lines and the
		 * progress lines, scrolling) */
		if (!o.s.quiet && isatty(STDOUT_FILENO)) {
			sample_writer_init(&ui.live, SAMPLE_FORMAT_TABLE, stdout, head);
			eo.quiet = !ui.live.dumb;
			eo.hooks = (struct exp_hooks){ .ctx = &ui,
						       .sample = ui_sample,
						       .status = ui_status };
		}
		rc = experiment_run(&x, &t, faults, nfaults, &undo, sfd, &eo, &journal, NULL);
		if (eo.hooks.ctx) {
			ui.live.status = NULL; /* the run's state is gone */
			sample_writer_close(&ui.live);
		}
	}
	if (samples && fclose(samples) != 0)
		fprintf(stderr, "duress: error writing %s\n", o.s.samples);
	if (probes && fclose(probes) != 0)
		fprintf(stderr, "duress: error writing %s\n", o.probes);
	print_outcome(journal);
	if (o.journal && journal_write(journal, o.journal, &err) < 0) {
		duress_err_print(stderr, &err);
		duress_err_clear(&err);
	}
	if (o.junit && journal_junit_write(journal, o.junit, &err) < 0)
		duress_err_print(stderr, &err);
out_target:
	session_drop_sandbox(&t, &undo, &sbx_undo);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
out_free:
	/* Nothing recorded may stay applied, whatever path got us here. */
	rc = session_finish(&sess, have_sess, &undo, &sbx_undo, rc);
	if (curl)
		probe_global_cleanup();
	json_decref(journal);
	for (size_t k = 0; faults && k < nfaults; k++) {
		if (faults[k].built)
			fault_free(&faults[k].f);
	}
	free(faults);
	target_release(&t);
	manifest_free(&x);
	undo_log_free(&undo);
	undo_log_free(&sbx_undo);
	return rc;
}
