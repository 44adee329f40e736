/* SPDX-License-Identifier: MIT */
/*
 * Experiment reports (agent/experiment/report.c): what the target went
 * through, from a run's journal (journal.h) and, optionally, its samples
 * (`duress run --samples`, docs/samples.md), as one self-contained HTML
 * page (inline CSS and SVG; no script, nothing fetched) or as Markdown for
 * a pull-request comment.  docs/report.md describes both.
 *
 * Every chart shares one time axis, the run clock of the samples' `t`
 * (journal `duress.timeline`).  An SVG chart carries its scale so that a
 * test can check where a point is: data-tmin, data-tmax (seconds),
 * data-ymax (axis units), data-scale (sample units per axis unit); its plot
 * area is REPORT_PLOT_* below:
 *   x = L + (t - tmin) / (tmax - tmin) * (W - L - R)
 *   y = T + (1 - v / ymax) * (H - T - B)
 * Series are <polyline class="series" data-series="KEY">, limits
 * <polyline class="limit" data-series="KEY">, OOM kills
 * <circle class="oom" data-t="T">, probe failures <path class="probe-fail">.
 */
#ifndef DURESS_REPORT_H
#define DURESS_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include <duress/core/error.h>

#define REPORT_PLOT_W 900
#define REPORT_PLOT_H 200
#define REPORT_PLOT_L 170
#define REPORT_PLOT_R 16
#define REPORT_PLOT_T 12
#define REPORT_PLOT_B 26

enum report_format {
	REPORT_HTML,
	REPORT_MARKDOWN,
};

/* "html" or "markdown" (or "md"); anything else is a usage error. */
int report_format_parse(const char *text, enum report_format *out, struct duress_err *err);

/* A journal file, checked against its schema (journal_check); errors name
 * the file (and line, for bad JSON). */
int report_journal_load(const char *path, json_t **out, struct duress_err *err);

/* Samples as JSON Lines into an array; a line that is not a sample object
 * with a numeric `t` is an error naming FILE:LINE.  Empty lines and a
 * truncated last line (a run killed while writing) are skipped. */
int report_samples_load(const char *path, json_t **out, struct duress_err *err);

/* The verdict in words a reader of a CI log understands, one paragraph:
 * "HELD: ...", "DEVIATED: ...", "ABORTED: ...". */
void report_verdict_text(json_t *journal, char *buf, size_t len);

/* The report of a journal (and samples: an array, or NULL) to out. */
int report_write(FILE *out, json_t *journal, json_t *samples, enum report_format fmt,
		 struct duress_err *err);

#endif
