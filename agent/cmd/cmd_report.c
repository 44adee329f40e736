// SPDX-License-Identifier: MIT
/*
 * duress report JOURNAL [--samples FILE] [-o FILE] [--format html|markdown]:
 * what the target went through, from a run's journal and samples
 * (experiment/report.h).  The output is written to FILE.tmp and renamed, so
 * a failed report leaves nothing behind.
 */
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/report.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_SAMPLES = 256,
	OPT_FORMAT,
};

const struct option report_longopts[] = {
	{ "samples", required_argument, NULL, OPT_SAMPLES },
	{ "output", required_argument, NULL, 'o' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void report_usage(FILE *f)
{
	fprintf(f,
		"usage: duress report JOURNAL [--samples FILE] [-o FILE] [--format html|markdown]\n\n"
		"What the target went through, from the journal of `duress run --journal`\n"
		"(and the samples of `--samples`): the verdict in words, a timeline of the\n"
		"run, the samples against the limits the faults set (OOM kills marked), the\n"
		"probes' latency and error rate per phase, recovery time, silent failures.\n\n"
		"  --samples FILE      the run's samples (JSON Lines) to plot\n"
		"  -o, --output FILE   where to write it (default: standard output)\n"
		"  --format FORMAT     html (one self-contained page: inline SVG, no script,\n"
		"                      nothing fetched; the default) or markdown (for a pull-\n"
		"                      request comment)\n"
		"Exit: 0 written, 2 bad journal, samples or option, 5 could not write\n"
		"(docs/report.md).\n");
}

int cmd_report(int argc, char **argv)
{
	json_auto_t *journal = NULL, *samples = NULL; /* jansson's cleanup */
	const char *samples_path = NULL, *output = NULL;
	enum report_format fmt = REPORT_HTML;
	struct duress_err err = { 0 };
	char tmp[4096];
	FILE *out = stdout;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", report_longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SAMPLES:
			samples_path = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_FORMAT:
			if (report_format_parse(optarg, &fmt, &err) < 0)
				return cli_usage_error("report", "%s", err.msg);
			break;
		case 'h':
			report_usage(stdout);
			return DURESS_EXIT_OK;
		default:
			report_usage(stderr);
			return DURESS_EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("report", "expected one JOURNAL (the file `duress run "
						 "--journal` wrote)");
	if (report_journal_load(argv[optind], &journal, &err) < 0 ||
	    (samples_path && report_samples_load(samples_path, &samples, &err) < 0))
		return cli_fail(&err);
	if (output && strcmp(output, "-")) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", output) >= sizeof(tmp))
			return cli_usage_error("report", "-o: path too long");
		out = fopen(tmp, "we");
		if (!out) {
			duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "-o: cannot create %s",
					tmp);
			return cli_fail(&err);
		}
	}
	if (report_write(out, journal, samples, fmt, &err) < 0) {
		if (out != stdout) {
			fclose(out);
			unlink(tmp);
		}
		return cli_fail(&err);
	}
	if (out != stdout) {
		if (fclose(out) != 0 || rename(tmp, output) < 0) {
			duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "-o: cannot write %s",
					output);
			unlink(tmp);
			return cli_fail(&err);
		}
	}
	return DURESS_EXIT_OK;
}
