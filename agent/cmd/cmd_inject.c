// SPDX-License-Identifier: MIT
/*
 * duress inject FAULT: apply one fault to a target for --for, sampling the
 * target before and while it is in force, then revert it through the undo
 * log and print what the target went through.
 */
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/cmd/cli.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/core/parse.h>
#include <duress/samples/sample.h>
#include <duress/session/runtime.h>
#include <duress/targets/sandbox.h>
#include <duress/session/session.h>
#include <duress/samples/summary.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TICK_USEC 100000

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
	fprintf(f, "Common options:\n"
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
		longopts[nc + i].has_arg = d->opts[i].type == FOPT_FLAG ? no_argument : required_argument;
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
				return cli_usage_error("inject", "--for: '%s': must be at least 100ms",
						       optarg);
			o->for_set = true;
			break;
		case OPT_INTERVAL:
			if (parse_duration(optarg, "--interval", &o->interval_us, &err) < 0)
				return cli_usage_error("inject", "%s", err.msg);
			if (o->interval_us < 10000)
				return cli_usage_error("inject", "--interval: '%s': must be at least 10ms",
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
			return cli_usage_error("inject", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("inject", "unknown option '%s' for the %s fault",
					       argv[optind - 1], d->name);
		}
	}
	if (optind < argc)
		return cli_usage_error("inject", "unexpected argument '%s'", argv[optind]);
	if (!o->for_set)
		return cli_usage_error("inject", "--for DUR is required: how long the %s fault "
						 "stays in force",
				       d->name);
	return 0;
}

struct run {
	struct fault *f;
	struct target *t;
	const struct inject_opts *o;
	int sfd;
	FILE *samples;
	struct sample_writer live;
	bool live_on;
	struct sample prev;
	bool have_prev;
	double start;
	struct phase_stats before, during;
	bool vanished;
	bool no_target;       /* the fault needs none (an explicit proxy): no samples */
	bool had_procs;       /* the target had processes of its own when applied */
	int stop_signal;
	double applied_at, reverted_at;
	char title[PATH_MAX + 128];
};

/* Take one sample, tag it with its phase, write it out; < 0 when the target
 * vanished (r->vanished) or on error. */
static int take(struct run *r, const char *phase, struct phase_stats *ps)
{
	struct duress_err err = { 0 };
	struct sample s;

	if (r->no_target)
		return 0;
	if (sample_take(r->t, r->have_prev ? &r->prev : NULL, mono_seconds() - r->start, &s, &err) < 0) {
		if (err.errnum == ENOENT) {
			r->vanished = true;
			return -1;
		}
		duress_err_print(stderr, &err);
		return -1;
	}
	s.phase = phase;
	if (ps)
		phase_stats_add(ps, &s);
	if (r->samples) {
		struct sample_writer w;

		sample_writer_init(&w, SAMPLE_FORMAT_JSONL, r->samples, NULL);
		sample_writer_write(&w, &s, &err);
		sample_writer_close(&w);
	}
	if (r->live_on)
		sample_writer_write(&r->live, &s, &err);
	r->prev = s;
	r->have_prev = true;
	return 0;
}

/* Drain a signalfd; returns the signal number or 0. */
static int read_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) == sizeof(si))
		return (int)si.ssi_signo;
	return 0;
}

/*
 * Sample (and tick) until `until` (seconds since start), a signal, or the
 * target vanishing.  Returns 0 on reaching `until`, 1 when stopped early.
 */
static int run_phase(struct run *r, const char *phase, struct phase_stats *ps, double until,
		     bool ticking)
{
	cleanup_close int sample_fd = periodic_timer(r->o->interval_us);
	cleanup_close int tick_fd = ticking && r->f->desc->tick ? periodic_timer(TICK_USEC) : -1;
	struct duress_err err = { 0 };

	if (sample_fd < 0)
		return 1;
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = sample_fd, .events = POLLIN },
			{ .fd = r->sfd, .events = POLLIN },
			{ .fd = tick_fd, .events = POLLIN },
		};
		double now = mono_seconds() - r->start;
		int timeout = until > now ? (int)((until - now) * 1000) + 1 : 0;
		uint64_t ticks;

		if (now >= until)
			return 0;
		if (poll(pfd, tick_fd >= 0 ? 3 : 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[1].revents & POLLIN) {
			r->stop_signal = read_signal(r->sfd);
			if (r->stop_signal)
				return 1;
		}
		if (tick_fd >= 0 && (pfd[2].revents & POLLIN)) {
			if (read(tick_fd, &ticks, sizeof(ticks)) < 0)
				(void)0;
			/* A container whose processes all exited is gone: stop
			 * before a fault restarts workers into it. */
			if (!r->no_target && r->had_procs && target_own_procs(r->t) <= 0) {
				r->vanished = true;
				return 1;
			}
			if (r->f->desc->tick(r->f, (uint64_t)((mono_seconds() - r->start - r->applied_at) * 1e6),
					     &err) < 0) {
				if (!target_alive(r->t)) {
					r->vanished = true;
					return 1;
				}
				duress_err_print(stderr, &err);
				duress_err_clear(&err);
			}
		}
		if (pfd[0].revents & POLLIN) {
			if (read(sample_fd, &ticks, sizeof(ticks)) < 0)
				(void)0;
			if (take(r, phase, ps) < 0 && r->vanished)
				return 1;
		}
	}
}

static void print_plan(const struct fault *f, FILE *out)
{
	for (size_t i = 0; i < f->nplan; i++)
		fprintf(out, "  %s\n", f->plan[i]);
}

static json_t *summary_json(struct run *r, const struct undo_report *rep, double revert_ms)
{
	json_t *o = json_object(), *fails = json_array(), *extra = json_object();
	char dur[32];

	json_object_set_new(o, "fault", json_string(r->f->desc->name));
	json_object_set_new(o, "target", json_string(r->t->dir));
	json_object_set_new(o, "for", json_string(format_duration(r->o->for_us, dur, sizeof(dur))));
	json_object_set_new(o, "in_force_s",
			    json_real(round((r->reverted_at - r->applied_at) * 100) / 100));
	json_object_set_new(o, "revert_ms", json_real(round(revert_ms * 10) / 10));
	json_object_set_new(o, "reverted", json_integer((json_int_t)rep->reverted));
	json_object_set_new(o, "already_gone", json_integer((json_int_t)rep->gone));
	for (size_t i = 0; i < rep->failed && i < DURESS_ARRAY_SIZE(rep->failures); i++)
		json_array_append_new(fails, json_string(rep->failures[i]));
	json_object_set_new(o, "not_reverted", fails);
	json_object_set_new(o, "ended_by",
			    json_string(r->vanished      ? "target vanished"
					: r->stop_signal ? strsignal(r->stop_signal)
							 : "duration"));
	json_object_set_new(o, "before", phase_stats_json(&r->before, NULL));
	json_object_set_new(o, "during", phase_stats_json(&r->during, &r->before));
	if (r->f->desc->report)
		r->f->desc->report(r->f, extra);
	json_object_set_new(o, "fault_report", extra);
	return o;
}

static int inject_run(struct run *r, struct undo_log *undo)
{
	struct fault *f = r->f;
	struct duress_err err = { 0 };
	struct undo_report rep;
	double t0, revert_ms;
	json_t *sum;
	int rc = DURESS_EXIT_OK;
	bool applied = false;

	protect_agent();
	r->start = mono_seconds();
	phase_stats_init(&r->before);
	phase_stats_init(&r->during);
	if (r->o->baseline_us) {
		if (take(r, "before", &r->before) == 0)
			run_phase(r, "before", &r->before, r->o->baseline_us / 1e6, false);
	}
	if (!r->vanished && !r->stop_signal && r->before.n == 0)
		take(r, "before", &r->before);
	if (r->vanished || r->stop_signal)
		goto revert;

	r->applied_at = mono_seconds() - r->start;
	r->had_procs = !r->no_target && target_own_procs(r->t) > 0;
	if (f->desc->apply(f, &err) < 0) {
		fprintf(stderr, "duress: %s fault could not be applied; reverting what was done\n",
			f->desc->name);
		rc = cli_fail(&err);
		goto revert;
	}
	applied = true;
	fprintf(stderr, "duress: %s fault in force on %s for %.1fs\n", f->desc->name, r->title,
		r->o->for_us / 1e6);
	if (take(r, "during", &r->during) == 0)
		run_phase(r, "during", &r->during, r->applied_at + r->o->for_us / 1e6, true);

revert:
	/* Signals stay blocked: a second Ctrl-C cannot abandon the revert. */
	t0 = mono_seconds();
	undo_revert_all(undo, &rep);
	revert_ms = (mono_seconds() - t0) * 1e3;
	r->reverted_at = mono_seconds() - r->start;
	if (!applied)
		return rc != DURESS_EXIT_OK ? rc : (r->vanished ? DURESS_EXIT_NO_TARGET : DURESS_EXIT_INTERRUPTED);
	if (!r->vanished)
		take(r, "after", NULL);
	if (r->live_on)
		sample_writer_close(&r->live);

	fprintf(stdout, "\n%s fault on %s: in force %.1fs, ended by %s; reverted in %.1f ms "
			"(%zu undone, %zu already gone, %zu failed)\n",
		f->desc->name, r->title, r->reverted_at - r->applied_at,
		r->vanished ? "the target vanishing" : r->stop_signal ? strsignal(r->stop_signal) : "--for",
		revert_ms, rep.reverted, rep.gone, rep.failed);
	phase_stats_print(stdout, &r->before, &r->during);
	sum = summary_json(r, &rep, revert_ms);
	{
		json_t *extra = json_object_get(sum, "fault_report");
		const char *k;
		json_t *v;

		json_object_foreach(extra, k, v) {
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6));

			fprintf(stdout, "  %-26s %s\n", k, s ? s : "?");
			free(s);
		}
	}
	for (size_t i = 0; i < rep.failed && i < DURESS_ARRAY_SIZE(rep.failures); i++)
		fprintf(stderr, "duress: NOT REVERTED: %s\n", rep.failures[i]);
	if (r->o->summary && json_dump_file(sum, r->o->summary, JSON_INDENT(2)) < 0)
		fprintf(stderr, "duress: cannot write the summary to %s\n", r->o->summary);
	json_decref(sum);
	if (rep.failed)
		return DURESS_EXIT_NOT_REVERTED;
	if (r->vanished) {
		fprintf(stderr, "duress: target %s vanished during the fault (its processes exited "
				"or its cgroup was removed); the run ended cleanly\n",
			r->title);
		return DURESS_EXIT_OK;
	}
	if (r->stop_signal)
		return DURESS_EXIT_INTERRUPTED;
	return rc;
}

int cmd_inject(int argc, char **argv)
{
	struct inject_opts o = { 0 };
	struct duress_err err = { 0 };
	struct target_spec spec;
	struct target t;
	struct cg_root root;
	struct fault f;
	struct undo_log undo, sbx_undo;
	struct agent_session sess = { .journal.fd = -1 };
	bool have_sess = false, no_target = false;
	char what[128];
	const struct fault_desc *d;
	cleanup_close int sfd = -1;
	sigset_t oldmask;
	struct run r;
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
	if (fault_init(&f, d, &err) < 0)
		return cli_fail(&err);
	undo_log_init(&undo);
	undo_log_init(&sbx_undo);
	target_init(&t);
	rc = parse_inject(argc - 1, argv + 1, &f, &o);
	if (rc) {
		rc = rc < 0 ? DURESS_EXIT_OK : rc;
		goto out;
	}
	f.duration_us = o.for_us;
	f.force = o.s.force;
	f.undo = &undo;
	f.root = &root;
	f.target = &t;
	if (d->validate && d->validate(&f, &err) < 0) {
		rc = err.code == DURESS_EXIT_USAGE ? cli_usage_error("inject", "%s", err.msg)
						   : cli_fail(&err);
		goto out;
	}
	/* a fault that needs no target (an explicit proxy) and none given:
	 * no cgroups, no samples, no sandbox; the session still guards it */
	no_target = d->no_target && d->no_target(&f) && !o.s.target;
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
	sfd = signals_to_fd(&oldmask);
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
			undo.journal = &sess.journal;
		}
	} else if (cli_open_target(&o.s, what, &root, &spec, &sess, &have_sess, &undo, &sbx_undo,
				   &t, &err) < 0) {
		rc = cli_fail(&err);
		goto out_target;
	}
	if ((d->supported && d->supported(&f, &err) < 0) || (d->plan && d->plan(&f, &err) < 0)) {
		rc = cli_fail(&err);
		goto out_target;
	}
	/* One agent per target and resource; the guardian inherits the lock. */
	if (have_sess && !t.owned &&
	    ((!no_target && session_lock(&sess, &t, d->name, &err) < 0) ||
	     session_guard(&sess, &err) < 0)) {
		rc = cli_fail(&err);
		goto out_target;
	}

	memset(&r, 0, sizeof(r));
	r.f = &f;
	r.t = &t;
	r.o = &o;
	r.sfd = sfd;
	r.no_target = no_target;
	if (no_target)
		snprintf(r.title, sizeof(r.title), "no target");
	else
		target_describe(&t, r.title, sizeof(r.title));
	if (o.s.dry_run) {
		char dur[32];

		printf("dry run: %s fault on %s for %s would:\n", d->name, r.title,
		       format_duration(o.for_us, dur, sizeof(dur)));
		print_plan(&f, stdout);
		printf("nothing was changed\n");
		rc = DURESS_EXIT_OK;
		goto out_target;
	}
	if (o.s.samples) {
		r.samples = fopen(o.s.samples, "we");
		if (!r.samples) {
			duress_err_setc(&err, DURESS_EXIT_USAGE, errno, "--samples: cannot open %s",
					o.s.samples);
			rc = cli_fail(&err);
			goto out_target;
		}
	}
	print_plan(&f, stderr);
	r.live_on = !o.s.quiet && isatty(STDOUT_FILENO);
	if (r.live_on)
		sample_writer_init(&r.live, SAMPLE_FORMAT_TABLE, stdout, r.title);
	rc = inject_run(&r, &undo);
	if (r.samples && fclose(r.samples) != 0)
		fprintf(stderr, "duress: error writing %s\n", o.s.samples);
out_target:
	session_drop_sandbox(&t, &undo, &sbx_undo);
out_mask:
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
out:
	/* Nothing recorded may stay applied, whatever path got us here. */
	rc = session_finish(&sess, have_sess, &undo, &sbx_undo, rc);
	target_release(&t);
	fault_free(&f);
	undo_log_free(&undo);
	undo_log_free(&sbx_undo);
	return rc;
}
