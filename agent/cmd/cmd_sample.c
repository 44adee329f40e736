// SPDX-License-Identifier: MIT
/*
 * duress sample: sample a target's usage at a fixed cadence (timerfd,
 * drift-free) until --duration, a signal, or the target vanishes.
 */
#include <duress/samples/sample_format.h>
#include <duress/core/undo_journal.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/core/timing.h>
#include <duress/core/proc.h>

#include <duress/samples/sample.h>
#include <duress/targets/sandbox.h>
#include <duress/session/session.h>
#include <duress/targets/target.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define MIN_INTERVAL_USEC 10000 /* 10 ms: below that the reads are the load */

static void sample_usage(FILE *f)
{
	fprintf(f,
		"usage: duress sample [-t TARGET] [--interval DUR] [--duration DUR]\n"
		"                     [--format jsonl|csv|table] [-o FILE]\n\n"
		"Samples the target's usage: cpu.stat, memory.*, io.stat, pids, pressure\n"
		"stall information and the network counters of its namespace.\n\n"
		"  -t, --target SPEC   cgroup:PATH, pid:N or container:ID; none = a sandbox\n"
		"  -i, --interval DUR  time between samples (default 1s, at least 10ms)\n"
		"  -d, --duration DUR  stop after DUR (default: until Ctrl-C or the target exits)\n"
		"  -f, --format FMT    jsonl, csv or table (default: table on a terminal, else jsonl)\n"
		"  -o, --output FILE   write samples to FILE instead of standard output\n"
		"  --state-dir DIR     sandbox only: undo journal (default /run/duress)\n"
		"  --no-recover        sandbox only: do not first revert what dead agents left\n"
		"  -h, --help          this text\n\n"
		"Schema: docs/samples.md.  Exit codes: docs/cli.md.\n");
}

struct sample_opts {
	const char *target;
	uint64_t interval_us;
	uint64_t duration_us; /* 0 = unbounded */
	bool format_set;
	enum sample_format format;
	const char *output;
	const char *state_dir;
	bool no_recover;
};

/* also listed by `duress __complete options sample` */
const struct option sample_longopts[] = {
	{ "target", required_argument, NULL, 't' },
	{ "interval", required_argument, NULL, 'i' },
	{ "duration", required_argument, NULL, 'd' },
	{ "format", required_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "state-dir", required_argument, NULL, 'S' },
	{ "no-recover", no_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_sample_opts(int argc, char **argv, struct sample_opts *o)
{
	struct duress_err err = { 0 };
	int c;

	o->interval_us = 1000000;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:i:d:f:o:h", sample_longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o->target = optarg;
			break;
		case 'i':
			if (parse_duration(optarg, "--interval", &o->interval_us, &err) < 0)
				return cli_usage_error("sample", "%s", err.msg);
			if (o->interval_us < MIN_INTERVAL_USEC)
				return cli_usage_error("sample",
						       "--interval: '%s': must be at least 10ms",
						       optarg);
			break;
		case 'd':
			if (parse_duration(optarg, "--duration", &o->duration_us, &err) < 0)
				return cli_usage_error("sample", "%s", err.msg);
			if (o->duration_us == 0)
				return cli_usage_error(
					"sample", "--duration: '%s': must be more than 0", optarg);
			break;
		case 'f':
			if (sample_format_parse(optarg, &o->format, &err) < 0)
				return cli_usage_error("sample", "%s", err.msg);
			o->format_set = true;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'S':
			o->state_dir = optarg;
			break;
		case 'R':
			o->no_recover = true;
			break;
		case 'h':
			sample_usage(stdout);
			return -1;
		case ':':
			return cli_usage_error("sample", "option %s needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("sample", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("sample", "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The sampling loop proper; returns an exit code. */
static int sample_loop(struct target *t, const struct sample_opts *o, FILE *out,
		       enum sample_format format, int sfd)
{
	struct duress_err err = { 0 };
	cleanup_close int tfd = -1;
	struct sample_writer w;
	struct sample prev, cur;
	bool have_prev = false;
	char title[PATH_MAX + 64];
	double start;
	uint64_t n = 0, missed = 0;
	int rc = DURESS_EXIT_OK;

	tfd = timing_periodic_fd(o->interval_us);
	if (tfd < 0) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "sampling timer (timerfd)");
		return cli_fail(&err);
	}
	target_describe(t, title, sizeof(title));
	sample_writer_init(&w, format, out, title);
	start = timing_now();

	for (;;) {
		double t_rel = timing_now() - start;
		struct pollfd pfd[2] = {
			{ .fd = tfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};

		/* A target process that exited: follow another for the netns. */
		if (t->pid > 0 && kill(t->pid, 0) < 0 && errno == ESRCH) {
			struct duress_err e2 = { 0 };

			target_refresh_pid(t, &e2);
		}
		if (sample_take(t, have_prev ? &prev : NULL, t_rel, &cur, &err) < 0) {
			if (err.errnum == ENOENT) {
				fprintf(stderr,
					"duress: target %s vanished after %.1fs; %" PRIu64
					" samples written\n",
					title, t_rel, n);
				break;
			}
			rc = cli_fail(&err);
			break;
		}
		if (sample_writer_write(&w, &cur, &err) < 0) {
			rc = cli_fail(&err);
			break;
		}
		n++;
		prev = cur;
		have_prev = true;
		if (o->duration_us && t_rel * 1e6 + o->interval_us / 2.0 >= (double)o->duration_us)
			break;

		for (;;) {
			if (poll(pfd, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "poll");
				rc = cli_fail(&err);
				goto out;
			}
			if (pfd[1].revents & POLLIN) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
				    format != SAMPLE_FORMAT_TABLE)
					fprintf(stderr,
						"duress: %s: stopping after %" PRIu64 " samples\n",
						strsignal(si.ssi_signo), n);
				goto out;
			}
			if (pfd[0].revents & POLLIN) {
				uint64_t ticks = 0;

				if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks) && ticks > 1)
					missed += ticks - 1;
				break;
			}
		}
	}
out:
	sample_writer_close(&w);
	if (missed)
		fprintf(stderr,
			"duress: %" PRIu64 " sampling ticks were missed (system too busy)\n",
			missed);
	return rc;
}

int cmd_sample(int argc, char **argv)
{
	struct sample_opts o = { 0 };
	struct duress_err err = { 0 };
	struct target_spec spec;
	struct target t;
	struct cg_root root;
	enum sample_format format;
	cleanup_close int sfd = -1;
	struct agent_session sess = { .journal.fd = -1 };
	struct undo_log sbx_undo;
	bool have_sess = false;
	sigset_t oldmask;
	FILE *out = stdout;
	int rc;

	rc = parse_sample_opts(argc, argv, &o);
	if (rc < 0)
		return DURESS_EXIT_OK;
	if (rc > 0)
		return rc;
	if (target_spec_parse(o.target, &spec, &err) < 0)
		return cli_usage_error("sample", "%s", err.msg);

	target_init(&t);
	undo_log_init(&sbx_undo);
	if (cg_root_discover(&root, &err) < 0)
		return cli_fail(&err);
	/* From here on, signals are read in the loop: a Ctrl-C while the
	 * sandbox is being made still removes it. */
	sfd = proc_signals_to_fd(&oldmask);
	if (sfd < 0) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "signals (signalfd)");
		return cli_fail(&err);
	}
	if (spec.kind == TARGET_SANDBOX) {
		/* The sandbox is journaled: if the agent is killed, its guardian
		 * (or the next agent, or duress recover) removes it. */
		if (cli_require_root("creating the sandbox target", &err) < 0 ||
		    cg_root_require(&root, "cpu memory io pids", &err) < 0 ||
		    session_begin(&sess, o.state_dir, o.no_recover, "sample (sandbox)", &err) < 0) {
			rc = cli_fail(&err);
			goto done;
		}
		have_sess = true;
		undo_journal_attach(&sess.journal, &sbx_undo);
		if (session_sandbox(&sess, &root, &sbx_undo, &t, &err) < 0) {
			rc = cli_fail(&err);
			goto done;
		}
	} else if (target_resolve(&root, &spec, &t, &err) < 0) {
		rc = cli_fail(&err);
		goto done;
	}

	if (o.output) {
		out = fopen(o.output, "we");
		if (!out) {
			duress_err_setc(&err, DURESS_EXIT_USAGE, errno, "--output: cannot open %s",
					o.output);
			rc = cli_fail(&err);
			goto done;
		}
	}
	format = o.format_set ? o.format
			      : (!o.output && isatty(STDOUT_FILENO) ? SAMPLE_FORMAT_TABLE
								    : SAMPLE_FORMAT_JSONL);
	rc = sample_loop(&t, &o, out, format, sfd);
	if (out != stdout && fclose(out) != 0 && rc == DURESS_EXIT_OK) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "write %s", o.output);
		rc = cli_fail(&err);
	}
done:
	session_drop_sandbox(&t, NULL, &sbx_undo);
	rc = session_finish(&sess, have_sess, NULL, &sbx_undo, rc);
	undo_log_free(&sbx_undo);
	target_release(&t);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	return rc;
}
