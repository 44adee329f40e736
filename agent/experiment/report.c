// SPDX-License-Identifier: MIT
/*
 * Experiment reports; see include/duress/experiment/report.h.
 *
 * Everything is drawn on one time axis, the run clock of the samples' `t`:
 * activity records carry ISO 8601 times (mapped through the journal's own
 * `start`), probe timelines seconds into the method (mapped through
 * duress.timeline.method_start_s).
 */
#include <duress/experiment/report.h>
#include <duress/experiment/journal.h>
#include <duress/samples/sample_format.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLE_LINES 1000000
#define MAX_ROWS 64
#define MAX_PROBES 16

static const char *const palette[] = { "#1f77b4", "#2ca02c", "#9467bd", "#8c564b",
				       "#e377c2", "#17becf", "#bcbd22", "#7f7f7f" };

/* ---- input ---- */

int report_format_parse(const char *text, enum report_format *out, struct duress_err *err)
{
	if (text && !strcmp(text, "html")) {
		*out = REPORT_HTML;
		return 0;
	}
	if (text && (!strcmp(text, "markdown") || !strcmp(text, "md"))) {
		*out = REPORT_MARKDOWN;
		return 0;
	}
	return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
			       "--format: unknown report format '%s' (expected html or markdown)",
			       text ? text : "");
}

int report_journal_load(const char *path, json_t **out, struct duress_err *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (!j)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "journal %s:%d: %s", path,
				       je.line, je.text);
	if (journal_check(j, err) < 0) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		json_decref(j);
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "journal %s is not a duress run journal: %s", path, why);
	}
	*out = j;
	return 0;
}

int report_samples_load(const char *path, json_t **out, struct duress_err *err)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	cleanup_free char *line = NULL;
	size_t cap = 0, lineno = 0;
	json_t *arr;
	ssize_t n;

	if (!f)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "--samples: cannot open %s",
				       path);
	arr = json_array();
	while ((n = getline(&line, &cap, f)) >= 0) {
		bool complete = n > 0 && line[n - 1] == '\n';
		json_error_t je;
		json_t *s, *t;

		lineno++;
		if (lineno > MAX_SAMPLE_LINES) {
			json_decref(arr);
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "--samples %s: more than %d lines", path,
					       MAX_SAMPLE_LINES);
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		s = json_loads(line, 0, &je);
		if (!s && !complete)
			break; /* the last line, cut short by a kill */
		t = json_object_get(s, "t");
		if (!json_is_object(s) || !json_is_number(t) || !isfinite(json_number_value(t))) {
			json_decref(s);
			json_decref(arr);
			return duress_err_setc(
				err, DURESS_EXIT_USAGE, 0,
				"--samples %s:%zu: not a sample (a JSON object with a "
				"number `t`, as `duress run --samples` writes)",
				path, lineno);
		}
		json_array_append_new(arr, s);
	}
	*out = arr;
	return 0;
}

/* ---- the model: one time axis ---- */

struct row {
	char label[64];
	const char *kind; /* css class: fault, action, probe, pause, steady, recovery, rollback */
	double start, end;
	bool failed;
	char title[256];
};

struct rep {
	json_t *j, *d, *samples;
	double start_real;
	double method_s, revert_s, abort_s, end_s; /* NAN: none */
	size_t ns;
	double *t;
	double tmin, tmax;
};

static double iso_real(const char *s)
{
	struct tm tm = { 0 };
	double sec;
	int n = 0;

	if (!s ||
	    sscanf(s, "%d-%d-%dT%d:%d:%lf%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &sec, &n) != 6 ||
	    sec < 0 || sec >= 61)
		return NAN;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_sec = 0;
	return (double)timegm(&tm) + sec;
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* an ISO time of the journal on the run clock */
static double rel(const struct rep *r, const char *iso)
{
	return iso_real(iso) - r->start_real;
}

static int rep_init(struct rep *r, json_t *journal, json_t *samples)
{
	json_t *tl, *s;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->j = journal;
	r->d = json_object_get(journal, "duress");
	r->samples = json_is_array(samples) ? samples : NULL;
	r->start_real = iso_real(str(journal, "start"));
	if (!isfinite(r->start_real))
		r->start_real = 0;
	tl = json_object_get(r->d, "timeline");
	r->method_s = num(tl, "method_start_s");
	r->revert_s = num(tl, "revert_at_s");
	r->abort_s = num(tl, "abort_at_s");
	r->end_s = num(tl, "end_s");
	if (!isfinite(r->end_s))
		r->end_s = num(journal, "duration");
	/* journals from before duress.timeline: the first activity, the revert
	 * and abort relative to it */
	if (!json_is_object(tl)) {
		json_t *rec;

		json_array_foreach(json_object_get(journal, "run"), i, rec) {
			double st = rel(r, str(rec, "start"));

			if (isfinite(st) && (!isfinite(r->method_s) || st < r->method_s))
				r->method_s = st;
		}
		if (isfinite(r->method_s)) {
			r->revert_s = r->method_s + num(json_object_get(r->d, "revert"), "at_s");
			r->abort_s = r->method_s + num(json_object_get(r->d, "abort"), "at_s");
		}
	}
	r->ns = r->samples ? json_array_size(r->samples) : 0;
	r->t = calloc(r->ns + 1, sizeof(double));
	if (!r->t)
		return -1;
	r->tmin = 0;
	r->tmax = isfinite(r->end_s) ? r->end_s : 0;
	json_array_foreach(r->samples, i, s) {
		r->t[i] = num(s, "t");
		if (r->t[i] > r->tmax)
			r->tmax = r->t[i];
	}
	if (r->tmax <= r->tmin)
		r->tmax = r->tmin + 1;
	return 0;
}

/* a sample key's values, NAN where absent or unlimited ("max") */
static void values(const struct rep *r, const char *key, double scale, double *out)
{
	for (size_t i = 0; i < r->ns; i++) {
		double v;

		if (sample_lookup(json_array_get(r->samples, i), key, &v) == 0 && isfinite(v))
			out[i] = v / scale;
		else
			out[i] = NAN;
	}
}

/* per-second rate of a counter, scaled; NAN where it cannot be told */
static void rate(const struct rep *r, const char *key, double scale, double *out)
{
	values(r, key, 1, out);
	for (size_t i = r->ns; i-- > 0;) {
		double dt = i ? r->t[i] - r->t[i - 1] : 0;
		double dv = i ? out[i] - out[i - 1] : NAN;

		out[i] = dt > 0 && dv >= 0 ? dv / dt / scale : NAN;
	}
}

static double vmax(const double *v, size_t n)
{
	double m = 0;

	for (size_t i = 0; v && i < n; i++)
		if (isfinite(v[i]) && v[i] > m)
			m = v[i];
	return m;
}

static bool any(const double *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (isfinite(v[i]))
			return true;
	return false;
}

static double nice_ceil(double v)
{
	static const double steps[] = { 1, 2, 2.5, 5, 10 };
	double p;

	if (!(v > 0) || !isfinite(v))
		return 1;
	p = pow(10, floor(log10(v)));
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(steps); i++)
		if (steps[i] * p >= v * 1.0001)
			return steps[i] * p;
	return 10 * p;
}

/* ---- HTML helpers ---- */

static void esc(FILE *o, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", o);
			break;
		case '>':
			fputs("&gt;", o);
			break;
		case '&':
			fputs("&amp;", o);
			break;
		case '"':
			fputs("&quot;", o);
			break;
		case '\'':
			fputs("&#39;", o);
			break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				fputc('?', o);
			else
				fputc(*s, o);
		}
	}
}

static double X(const struct rep *r, double t)
{
	return REPORT_PLOT_L + (t - r->tmin) / (r->tmax - r->tmin) *
				       (REPORT_PLOT_W - REPORT_PLOT_L - REPORT_PLOT_R);
}

static double Y(double v, double ymax, double h)
{
	return REPORT_PLOT_T + (1 - v / ymax) * (h - REPORT_PLOT_T - REPORT_PLOT_B);
}

static void fmt_num(double v, char *buf, size_t len)
{
	if (v >= 100 || v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else if (v >= 1)
		snprintf(buf, len, "%.3g", v);
	else
		snprintf(buf, len, "%.2g", v);
}

/* time ticks and the phase of the method, shared by the charts and the
 * timeline */
static void time_axis(FILE *o, const struct rep *r, double h)
{
	double span = r->tmax - r->tmin, step = nice_ceil(span / 8);
	double y0 = REPORT_PLOT_T, y1 = h - REPORT_PLOT_B;

	if (isfinite(r->method_s)) {
		double end = isfinite(r->revert_s) ? r->revert_s : r->tmax;

		fprintf(o,
			"<rect class=\"band-during\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			"height=\"%.1f\"><title>the method (faults in force)</title></rect>\n",
			X(r, r->method_s), y0, fmax(0, X(r, end) - X(r, r->method_s)), y1 - y0);
	}
	for (double t = ceil(r->tmin / step) * step; t <= r->tmax + 1e-9; t += step) {
		char b[32];

		fmt_num(t, b, sizeof(b));
		fprintf(o,
			"<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
			"<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%ss</text>\n",
			X(r, t), y0, X(r, t), y1, X(r, t), y1 + 16, b);
	}
	if (isfinite(r->abort_s))
		fprintf(o,
			"<line class=\"abort\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\">"
			"<title>abort at %.2fs</title></line>\n",
			X(r, r->abort_s), y0, X(r, r->abort_s), y1, r->abort_s);
	if (isfinite(r->revert_s))
		fprintf(o,
			"<line class=\"revert\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\">"
			"<title>everything reverted at %.2fs</title></line>\n",
			X(r, r->revert_s), y0, X(r, r->revert_s), y1, r->revert_s);
}

struct chart {
	const char *id, *title, *unit;
	double scale, ymax;
	FILE *o;
	const struct rep *r;
	char legend[2048];
	size_t nlegend;
};

static void chart_begin(struct chart *c, FILE *o, const struct rep *r, const char *id,
			const char *title, const char *unit, double scale, double ymax)
{
	char b[32];

	c->o = o;
	c->r = r;
	c->id = id;
	c->title = title;
	c->unit = unit;
	c->scale = scale;
	c->ymax = nice_ceil(ymax);
	c->legend[0] = '\0';
	c->nlegend = 0;
	fprintf(o, "<figure class=\"chart\"><figcaption>%s</figcaption>\n", title);
	fprintf(o,
		"<svg id=\"chart-%s\" class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" "
		"viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" data-tmin=\"%.3f\" "
		"data-tmax=\"%.3f\" data-ymax=\"%g\" data-scale=\"%g\">\n",
		id, REPORT_PLOT_W, REPORT_PLOT_H, REPORT_PLOT_W, REPORT_PLOT_H, r->tmin, r->tmax,
		c->ymax, scale);
	time_axis(o, r, REPORT_PLOT_H);
	for (int k = 0; k <= 2; k++) {
		double v = c->ymax * k / 2, y = Y(v, c->ymax, REPORT_PLOT_H);

		fmt_num(v, b, sizeof(b));
		fprintf(o,
			"<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			"<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s %s</text>\n",
			REPORT_PLOT_L, y, REPORT_PLOT_W - REPORT_PLOT_R, y, REPORT_PLOT_L - 6,
			y + 4, b, unit);
	}
}

static void legend_add(struct chart *c, const char *name, const char *color, bool dashed)
{
	size_t used = strlen(c->legend);

	snprintf(c->legend + used, sizeof(c->legend) - used,
		 "<span class=\"key\"><span class=\"swatch%s\" style=\"border-color:%s\"></span>%s"
		 "</span> ",
		 dashed ? " dashed" : "", color, name);
	c->nlegend++;
}

/* a series (or a limit, drawn as steps) as polylines broken where absent */
static void chart_line(struct chart *c, const char *cls, const char *key, const char *label,
		       const char *color, const double *v)
{
	const struct rep *r = c->r;
	bool open = false, limit = !strcmp(cls, "limit");
	double prev = NAN;

	if (!any(v, r->ns))
		return;
	for (size_t i = 0; i < r->ns; i++) {
		double x = X(r, r->t[i]);

		if (!isfinite(v[i]) || !isfinite(r->t[i])) {
			if (open)
				fputs("\"/>\n", c->o);
			open = false;
			continue;
		}
		if (!open) {
			fprintf(c->o,
				"<polyline class=\"%s\" data-series=\"%s\" stroke=\"%s\" "
				"points=\"",
				cls, key, color);
			open = true;
		} else if (limit && prev != v[i]) {
			fprintf(c->o, "%.1f,%.1f ", x,
				Y(fmin(prev, c->ymax), c->ymax, REPORT_PLOT_H));
		}
		fprintf(c->o, "%.1f,%.1f ", x, Y(fmin(v[i], c->ymax), c->ymax, REPORT_PLOT_H));
		prev = v[i];
	}
	if (open)
		fputs("\"/>\n", c->o);
	legend_add(c, label, color, limit);
}

static void chart_end(struct chart *c, const char *note)
{
	fprintf(c->o, "</svg>\n<div class=\"legend\">%s</div>", c->legend);
	if (note && *note)
		fprintf(c->o, "<p class=\"note\">%s</p>", note);
	fputs("</figure>\n", c->o);
}

/* ---- sections ---- */

static const char *verdict_word(const char *v)
{
	static const struct {
		const char *v, *word;
	} words[] = {
		{ "held", "HELD" },
		{ "deviated", "DEVIATED" },
		{ "aborted", "ABORTED" },
		{ "interrupted", "INTERRUPTED" },
		{ "not-steady-before", "NOT STEADY BEFORE" },
	};

	for (size_t i = 0; v && i < DURESS_ARRAY_SIZE(words); i++)
		if (!strcmp(v, words[i].v))
			return words[i].word;
	return "UNKNOWN";
}

/* the first failed probe of a steady-state round: "probe 'x' failed: why" */
static void first_failure(json_t *round, char *buf, size_t len)
{
	json_t *p;
	size_t i;

	buf[0] = '\0';
	json_array_foreach(json_object_get(round, "probes"), i, p) {
		json_t *ex = json_object_get(p, "exception");

		if (json_is_false(json_object_get(p, "tolerance_met"))) {
			snprintf(buf, len, "probe '%s' failed: %s",
				 str(json_object_get(p, "activity"), "name") ?: "?",
				 json_is_array(ex) ? json_string_value(json_array_get(ex, 0)) ?: "?"
						   : "?");
			return;
		}
	}
}

void report_verdict_text(json_t *journal, char *buf, size_t len)
{
	json_t *d = json_object_get(journal, "duress");
	json_t *steady = json_object_get(journal, "steady_states");
	json_t *abort = json_object_get(d, "abort"), *rev = json_object_get(d, "revert");
	json_t *silent = json_object_get(d, "silent_failures");
	const char *v = str(d, "verdict");
	size_t nprobes = json_array_size(json_object_get(d, "probes"));
	size_t nfaults = json_array_size(json_object_get(d, "faults"));
	size_t notrev = json_array_size(json_object_get(rev, "not_reverted"));
	char why[600] = "";
	int n = 0;

	if (v && !strcmp(v, "held") && nprobes)
		n = snprintf(buf, len,
			     "HELD: the steady state held before and after %zu fault%s (%zu "
			     "probe%s checked).",
			     nfaults, nfaults == 1 ? "" : "s", nprobes, nprobes == 1 ? "" : "s");
	else if (v && !strcmp(v, "held"))
		n = snprintf(buf, len,
			     "HELD: %zu fault%s applied and reverted; the experiment has no "
			     "steady-state probes, so only the samples tell how the target coped.",
			     nfaults, nfaults == 1 ? "" : "s");
	else if (v && !strcmp(v, "deviated")) {
		first_failure(json_object_get(steady, "after"), why, sizeof(why));
		n = snprintf(buf, len,
			     "DEVIATED: the steady state did not hold after the faults were "
			     "reverted%s%s.",
			     why[0] ? ": " : "", why);
	} else if (v && !strcmp(v, "aborted")) {
		n = snprintf(buf, len,
			     "ABORTED: %s (%s abort, %.1fs into the method); every fault was "
			     "reverted.",
			     str(abort, "reason") ?: "no reason recorded",
			     str(abort, "kind") ?: "?", num(abort, "at_s"));
	} else if (v && !strcmp(v, "interrupted")) {
		n = snprintf(buf, len,
			     "INTERRUPTED: the run was stopped by a signal before it "
			     "ended; every fault was reverted.");
	} else if (v && !strcmp(v, "not-steady-before")) {
		first_failure(json_object_get(steady, "before"), why, sizeof(why));
		n = snprintf(buf, len,
			     "NOT STEADY BEFORE: the steady state did not hold before any fault, "
			     "so none was applied%s%s.",
			     why[0] ? ": " : "", why);
	} else {
		n = snprintf(buf, len, "UNKNOWN: the journal gives no verdict.");
	}
	if (n < 0 || (size_t)n >= len)
		return;
	if (notrev)
		n += snprintf(buf + n, len - (size_t)n,
			      " WARNING: %zu change%s could NOT be reverted (see Revert).", notrev,
			      notrev == 1 ? "" : "s");
	if (n < 0 || (size_t)n >= len)
		return;
	if (json_array_size(silent))
		snprintf(buf + n, len - (size_t)n,
			 " %zu silent failure%s: the kernel saw trouble that no probe noticed.",
			 json_array_size(silent), json_array_size(silent) == 1 ? "" : "s");
}

static void html_head(FILE *o, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"generator\" content=\"duress report\">\n<title>duress report: ",
	      o);
	esc(o, title);
	fputs("</title>\n<style>\n"
	      "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:940px;"
	      "color:#222;background:#fff}\n"
	      "h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin-top:28px;"
	      "border-bottom:1px solid #ddd}\n"
	      ".verdict{padding:12px 16px;border-radius:6px;border-left:8px solid}\n"
	      ".v-held{background:#e9f7ec;border-color:#2e7d32}"
	      ".v-deviated,.v-not-steady-before{background:#fdecea;border-color:#c62828}"
	      ".v-aborted,.v-interrupted{background:#fff4e5;border-color:#ef6c00}\n"
	      ".verdict p{margin:4px 0 0;font-size:15px}\n"
	      "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;"
	      "padding:3px 8px;text-align:left;vertical-align:top}th{background:#f5f5f5}\n"
	      "figure{margin:12px 0}figcaption{font-weight:600}\n"
	      "svg.plot{max-width:100%;height:auto;font-size:11px}\n"
	      ".grid{stroke:#e6e6e6}.tick{fill:#666}\n"
	      ".band-during{fill:#fff1dc}.abort{stroke:#c62828;stroke-width:2;"
	      "stroke-dasharray:6 3}.revert{stroke:#2e7d32;stroke-width:2}\n"
	      "polyline{fill:none;stroke-width:1.8}polyline.limit{stroke-width:2;"
	      "stroke-dasharray:7 4}\n"
	      ".oom{fill:#c62828;stroke:#fff}.oom-label{fill:#c62828;font-weight:700}\n"
	      ".probe-ok{stroke:#fff}.probe-fail{stroke:#c62828;stroke-width:2.5}\n"
	      ".window{stroke:#0003}.w-fault{fill:#ff9800}.w-action{fill:#64b5f6}"
	      ".w-probe{fill:#4db6ac}.w-pause{fill:#bdbdbd}.w-steady{fill:#81c784}"
	      ".w-baseline{fill:#e0e0e0}.w-recovery{fill:#aed581}.w-rollback{fill:#ba68c8}"
	      ".w-failed{fill:#e57373}\n"
	      ".row-label{fill:#333}\n"
	      ".legend{font-size:12px;color:#444}.key{margin-right:14px;white-space:nowrap}"
	      ".swatch{display:inline-block;width:18px;border-top:3px solid;margin-right:5px;"
	      "vertical-align:middle}.swatch.dashed{border-top-style:dashed}\n"
	      ".note{color:#555;font-size:12px;margin:2px 0}\n"
	      ".callout{background:#fff8e1;border:1px solid #ffcc80;padding:8px 12px;"
	      "border-radius:4px}\n"
	      "footer{margin-top:32px;color:#888;font-size:12px}\n"
	      "</style></head><body>\n",
	      o);
}

static void fmt_s(double v, char *buf, size_t len)
{
	if (isfinite(v))
		snprintf(buf, len, "%.2f s", v);
	else
		snprintf(buf, len, "-");
}

static void html_summary(FILE *o, const struct rep *r)
{
	json_t *d = r->d, *rev = json_object_get(d, "revert"),
	       *rec = json_object_get(d, "recovery");
	json_t *tgt = json_object_get(d, "target"), *nr = json_object_get(rev, "not_reverted"), *x;
	char b1[64], b2[64];
	size_t i;

	fputs("<section id=\"summary\"><table>\n<tr><th>target</th><td>", o);
	esc(o, str(tgt, "dir"));
	fputs(" (", o);
	esc(o, str(tgt, "kind"));
	fprintf(o, ")</td></tr>\n<tr><th>started</th><td>");
	esc(o, str(r->j, "start"));
	fprintf(o,
		"</td></tr>\n<tr><th>duration</th><td>%.2f s</td></tr>\n"
		"<tr><th>exit code</th><td>%.0f (%s)</td></tr>\n",
		num(r->j, "duration"), num(d, "exit_code"), str(r->j, "status") ?: "?");
	fprintf(o, "<tr><th>revert</th><td>%.0f change%s undone, the last %.0f in %.1f ms",
		num(rev, "reverted"), num(rev, "reverted") == 1 ? "" : "s", num(rev, "at_end"),
		num(rev, "ms"));
	if (json_array_size(nr)) {
		fprintf(o, "; <strong>%zu NOT reverted:</strong><ul>", json_array_size(nr));
		json_array_foreach(nr, i, x) {
			fputs("<li>", o);
			esc(o, json_string_value(x));
			fputs("</li>", o);
		}
		fputs("</ul>", o);
	}
	fmt_s(num(rec, "probes_s"), b1, sizeof(b1));
	fmt_s(num(rec, "pressure_s"), b2, sizeof(b2));
	fprintf(o,
		"</td></tr>\n<tr><th>recovery</th><td>probes hold again: %s after the revert; "
		"pressure back: %s (timeout %.1f s)</td></tr>\n</table></section>\n",
		isfinite(num(rec, "probes_s")) ? b1 : "not within the timeout",
		isfinite(num(rec, "pressure_s")) ? b2 : "not within the timeout",
		num(rec, "timeout_s"));
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static void round_row(const struct rep *r, json_t *round, const char *label, struct row *row)
{
	json_t *p;
	size_t i;

	row->start = INFINITY;
	row->end = -INFINITY;
	json_array_foreach(json_object_get(round, "probes"), i, p) {
		row->start = fmin(row->start, rel(r, str(p, "start")));
		row->end = fmax(row->end, rel(r, str(p, "end")));
	}
	snprintf(row->label, sizeof(row->label), "%s", label);
	row->kind = "steady";
	row->failed = json_is_false(json_object_get(round, "steady_state_met"));
	snprintf(row->title, sizeof(row->title), "%s: %s", label, row->failed ? "NOT met" : "met");
}

static size_t activity_rows(const struct rep *r, json_t *recs, bool rollback, struct row *rows,
			    size_t n)
{
	json_t *rec;
	size_t i;

	json_array_foreach(recs, i, rec) {
		json_t *act = json_object_get(rec, "activity"),
		       *out = json_object_get(rec, "output");
		const char *fault = str(out, "fault"), *type = str(act, "type");
		struct row *w;

		if (n >= MAX_ROWS)
			break;
		w = &rows[n];
		w->start = rel(r, str(rec, "start"));
		w->end = rel(r, str(rec, "end"));
		if (!isfinite(w->start) || !isfinite(w->end))
			continue;
		snprintf(w->label, sizeof(w->label), "%s%s%s", rollback ? "rollback " : "",
			 fault ? fault : (type ? type : "action"), "");
		snprintf(w->title, sizeof(w->title), "%s '%s' %s: %.2fs to %.2fs",
			 fault ? "fault" : (type ? type : "action"), str(act, "name") ?: "?",
			 str(rec, "status") ?: "?", w->start, w->end);
		if (str(act, "name"))
			snprintf(w->label, sizeof(w->label), "%s%s", rollback ? "rollback: " : "",
				 str(act, "name"));
		w->kind = rollback			   ? "rollback"
			  : fault			   ? "fault"
			  : type && !strcmp(type, "probe") ? "probe"
			  : json_object_get(act, "pauses") || (type && !strcmp(type, "pause"))
				  ? "pause"
				  : "action";
		w->failed = str(rec, "status") && strcmp(str(rec, "status"), "succeeded");
		n++;
	}
	return n;
}

static void html_timeline(FILE *o, const struct rep *r)
{
	json_t *steady = json_object_get(r->j, "steady_states");
	json_t *rec = json_object_get(r->d, "recovery");
	struct row rows[MAX_ROWS];
	size_t n = 0, first_act;
	int h, rh = 22;

	memset(rows, 0, sizeof(rows));
	if (isfinite(r->method_s) || json_object_get(steady, "before")) {
		struct row *b = &rows[n++];

		snprintf(b->label, sizeof(b->label), "baseline");
		b->kind = "baseline";
		b->start = 0;
		b->end = isfinite(r->method_s) ? r->method_s : r->tmax;
		snprintf(b->title, sizeof(b->title),
			 "baseline samples and the steady state before");
	}
	if (json_is_object(json_object_get(steady, "before"))) {
		round_row(r, json_object_get(steady, "before"), "steady state before", &rows[n]);
		if (isfinite(rows[n].start))
			n++;
	}
	first_act = n;
	n = activity_rows(r, json_object_get(r->j, "run"), false, rows, n);
	qsort(rows + first_act, n - first_act, sizeof(rows[0]), row_cmp);
	n = activity_rows(r, json_object_get(r->j, "rollbacks"), true, rows, n);
	if (n < MAX_ROWS && isfinite(r->revert_s) && isfinite(num(rec, "probes_s"))) {
		struct row *w = &rows[n++];

		snprintf(w->label, sizeof(w->label), "recovery");
		w->kind = "recovery";
		w->start = r->revert_s;
		w->end = r->revert_s + num(rec, "probes_s");
		snprintf(w->title, sizeof(w->title), "probes held again %.2fs after the revert",
			 num(rec, "probes_s"));
	}
	if (n < MAX_ROWS && json_is_object(json_object_get(steady, "after"))) {
		round_row(r, json_object_get(steady, "after"), "steady state after", &rows[n]);
		if (isfinite(rows[n].start))
			n++;
	}
	h = REPORT_PLOT_T + REPORT_PLOT_B + rh * (int)(n ? n : 1);
	fprintf(o,
		"<section id=\"timeline\"><h2>Timeline</h2>\n"
		"<svg id=\"chart-timeline\" class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" "
		"viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" data-tmin=\"%.3f\" "
		"data-tmax=\"%.3f\" data-ymax=\"1\" data-scale=\"1\">\n",
		REPORT_PLOT_W, h, REPORT_PLOT_W, h, r->tmin, r->tmax);
	time_axis(o, r, h);
	for (size_t i = 0; i < n; i++) {
		const struct row *w = &rows[i];
		double y = REPORT_PLOT_T + rh * (double)i + 3;
		double x0 = X(r, fmax(w->start, r->tmin)), x1 = X(r, fmin(w->end, r->tmax));

		fprintf(o, "<text class=\"row-label\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
			REPORT_PLOT_L - 6, y + 12);
		esc(o, w->label);
		fprintf(o,
			"</text><rect class=\"window w-%s%s\" data-kind=\"%s\" data-start=\"%.3f\" "
			"data-end=\"%.3f\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\"><title>",
			w->failed ? "failed" : w->kind, "", w->kind, w->start, w->end, x0, y,
			fmax(1.5, x1 - x0), rh - 6);
		esc(o, w->title);
		fputs("</title></rect>\n", o);
	}
	fputs("</svg>\n<p class=\"note\">Shaded: the method. ", o);
	if (isfinite(r->abort_s))
		fprintf(o, "Red dashed line: the abort (%.2f s). ", r->abort_s);
	if (isfinite(r->revert_s))
		fprintf(o, "Green line: everything reverted (%.2f s). ", r->revert_s);
	fputs("Times on the run clock (seconds since the run began).</p></section>\n", o);
}

/* io.max limits the io faults set, in MiB/s, inside their windows */
static void io_limits(const struct rep *r, double *rbps, double *wbps)
{
	json_t *rec;
	size_t i;

	for (size_t k = 0; k < r->ns; k++)
		rbps[k] = wbps[k] = NAN;
	json_array_foreach(json_object_get(r->j, "run"), i, rec) {
		json_t *out = json_object_get(rec, "output");
		const char *line = str(json_object_get(out, "fault_report"), "io_max");
		double st = rel(r, str(rec, "start")), en = rel(r, str(rec, "end"));
		const char *p;
		double rb = NAN, wb = NAN;

		if (!line || !isfinite(st) || !isfinite(en))
			continue;
		if ((p = strstr(line, "rbps=")) && strncmp(p + 5, "max", 3))
			rb = strtod(p + 5, NULL) / 1048576;
		if ((p = strstr(line, "wbps=")) && strncmp(p + 5, "max", 3))
			wb = strtod(p + 5, NULL) / 1048576;
		for (size_t k = 0; k < r->ns; k++) {
			if (r->t[k] < st || r->t[k] > en)
				continue;
			if (isfinite(rb))
				rbps[k] = rb;
			if (isfinite(wb))
				wbps[k] = wb;
		}
	}
}

struct bufs {
	double *a, *b, *c, *d, *e;
};

static void html_samples(FILE *o, const struct rep *r, struct bufs *B)
{
	const size_t n = r->ns;
	struct chart c;
	double ymax;
	char note[512];
	int kills = 0;

	fputs("<section id=\"target\"><h2>What the target went through</h2>\n", o);
	if (!n) {
		fputs("<p class=\"note\">No samples: pass <code>--samples FILE</code> (written by "
		      "<code>duress run --samples FILE</code>) to plot them.</p></section>\n",
		      o);
		return;
	}
	/* memory */
	values(r, "memory.current", 1048576, B->a);
	values(r, "memory.max", 1048576, B->b);
	values(r, "memory.high", 1048576, B->c);
	values(r, "memory.events.oom_kill", 1, B->d);
	if (any(B->a, n)) {
		ymax = fmax(vmax(B->a, n), fmax(vmax(B->b, n), vmax(B->c, n)));
		chart_begin(&c, o, r, "memory",
			    "Memory: memory.current against memory.max and "
			    "memory.high, OOM kills marked",
			    "MiB", 1048576, ymax);
		chart_line(&c, "limit", "memory.max", "memory.max", "#c62828", B->b);
		chart_line(&c, "limit", "memory.high", "memory.high", "#ef6c00", B->c);
		chart_line(&c, "series", "memory.current", "memory.current", palette[0], B->a);
		for (size_t i = 1; i < n; i++) {
			double y;

			if (!isfinite(B->d[i]) || !isfinite(B->d[i - 1]) || B->d[i] <= B->d[i - 1])
				continue;
			kills += (int)(B->d[i] - B->d[i - 1]);
			y = Y(fmin(isfinite(B->a[i]) ? B->a[i] : 0, c.ymax), c.ymax, REPORT_PLOT_H);
			fprintf(o,
				"<circle class=\"oom\" data-t=\"%.3f\" data-kills=\"%.0f\" "
				"cx=\"%.1f\" cy=\"%.1f\" r=\"5\"><title>%.0f OOM kill%s at %.2fs"
				"</title></circle><text class=\"oom-label\" x=\"%.1f\" y=\"%.1f\" "
				"text-anchor=\"middle\">OOM</text>\n",
				r->t[i], B->d[i] - B->d[i - 1], X(r, r->t[i]), y,
				B->d[i] - B->d[i - 1], B->d[i] - B->d[i - 1] == 1 ? "" : "s",
				r->t[i], X(r, r->t[i]), y - 8);
		}
		if (kills)
			legend_add(&c, "OOM kill (memory.events oom_kill)", "#c62828", false);
		if (kills)
			snprintf(note, sizeof(note),
				 "%d process%s of the target killed by the OOM killer (each red "
				 "dot: the sample that saw it).",
				 kills, kills == 1 ? "" : "es");
		else
			snprintf(note, sizeof(note), "No OOM kill.");
		chart_end(&c, note);
	}
	/* cpu */
	values(r, "cpu.usage_pct", 1, B->a);
	values(r, "cpu.max.quota", 1, B->b);
	values(r, "cpu.max.period", 1, B->c);
	for (size_t i = 0; i < n; i++)
		B->b[i] = B->c[i] > 0 ? B->b[i] / B->c[i] * 100 : NAN;
	rate(r, "cpu.throttled_usec", 1e4, B->d); /* µs per s / 1e4 = % of wall time */
	if (any(B->a, n)) {
		ymax = fmax(fmax(vmax(B->a, n), vmax(B->b, n)), fmax(vmax(B->d, n), 100));
		chart_begin(&c, o, r, "cpu", "CPU: usage against cpu.max, and time throttled", "%",
			    1, ymax);
		chart_line(&c, "limit", "cpu.max", "cpu.max (quota / period)", "#c62828", B->b);
		chart_line(&c, "series", "cpu.usage_pct", "usage (% of one CPU)", palette[0], B->a);
		chart_line(&c, "series", "cpu.throttled_pct",
			   "throttled (% of wall time, summed over CPUs)", "#ef6c00", B->d);
		chart_end(&c, "100% = one CPU busy all the time.");
	}
	/* io */
	rate(r, "io.rbytes", 1048576, B->a);
	rate(r, "io.wbytes", 1048576, B->b);
	io_limits(r, B->c, B->d);
	if (any(B->a, n) || any(B->b, n)) {
		ymax = fmax(fmax(vmax(B->a, n), vmax(B->b, n)), fmax(vmax(B->c, n), vmax(B->d, n)));
		chart_begin(&c, o, r, "io", "I/O: read and write rates against io.max", "MiB/s",
			    1048576, ymax);
		chart_line(&c, "limit", "io.max.rbps", "io.max rbps", "#c62828", B->c);
		chart_line(&c, "limit", "io.max.wbps", "io.max wbps", "#ef6c00", B->d);
		chart_line(&c, "series", "io.rbytes", "read", palette[0], B->a);
		chart_line(&c, "series", "io.wbytes", "written", palette[1], B->b);
		chart_end(&c, NULL);
	}
	/* psi */
	values(r, "psi.cpu.some_avg10", 1, B->a);
	values(r, "psi.memory.some_avg10", 1, B->b);
	values(r, "psi.io.some_avg10", 1, B->c);
	if (any(B->a, n) || any(B->b, n) || any(B->c, n)) {
		ymax = fmax(fmax(vmax(B->a, n), vmax(B->b, n)), fmax(vmax(B->c, n), 1));
		chart_begin(&c, o, r, "psi", "Pressure (PSI some avg10): time some task stalled",
			    "%", 1, ymax);
		chart_line(&c, "series", "psi.cpu.some_avg10", "cpu", palette[0], B->a);
		chart_line(&c, "series", "psi.memory.some_avg10", "memory", palette[2], B->b);
		chart_line(&c, "series", "psi.io.some_avg10", "io", palette[3], B->c);
		chart_end(&c, NULL);
	}
	/* network */
	rate(r, "net.rx_drops", 1, B->a);
	rate(r, "net.tx_drops", 1, B->b);
	rate(r, "net.tx_packets", 1, B->c);
	if (any(B->a, n) || any(B->b, n)) {
		ymax = fmax(fmax(vmax(B->a, n), vmax(B->b, n)), 1);
		chart_begin(&c, o, r, "net", "Network: packets dropped per second", "pkt/s", 1,
			    ymax);
		chart_line(&c, "series", "net.rx_drops", "rx drops", "#c62828", B->a);
		chart_line(&c, "series", "net.tx_drops", "tx drops", "#ef6c00", B->b);
		chart_end(&c, "Counters of the target's network namespace, loopback excluded.");
	}
	fputs("</section>\n", o);
}

struct probe_pt {
	double t, ms;
	bool ok;
};

/* a probe's points: before, during, after, in order */
static size_t probe_points(const struct rep *r, const char *name, json_t *during,
			   struct probe_pt *pts, size_t cap)
{
	json_t *steady = json_object_get(r->j, "steady_states"), *p;
	const char *phases[] = { "before", "after" };
	size_t n = 0, i;

	for (int ph = 0; ph < 2; ph++) {
		json_array_foreach(json_object_get(json_object_get(steady, phases[ph]), "probes"),
				   i, p) {
			if (n >= cap)
				break;
			if (!name ||
			    strcmp(str(json_object_get(p, "activity"), "name") ?: "", name))
				continue;
			pts[n].t = rel(r, str(p, "start"));
			pts[n].ms = num(p, "latency_ms");
			pts[n].ok = !json_is_false(json_object_get(p, "tolerance_met"));
			if (isfinite(pts[n].t))
				n++;
		}
		if (ph == 1)
			break;
		json_array_foreach(json_object_get(during, "timeline"), i, p) {
			if (n >= cap || !isfinite(r->method_s))
				break;
			pts[n].t = r->method_s + num(p, "t");
			pts[n].ms = num(p, "latency_ms");
			pts[n].ok = json_is_true(json_object_get(p, "ok"));
			if (isfinite(pts[n].t))
				n++;
		}
	}
	return n;
}

/* failures / runs of a probe in a steady-state round list */
static void round_rate(json_t *round, const char *name, int *runs, int *fails)
{
	json_t *p;
	size_t i;

	*runs = *fails = 0;
	json_array_foreach(json_object_get(round, "probes"), i, p) {
		if (strcmp(str(json_object_get(p, "activity"), "name") ?: "", name))
			continue;
		(*runs)++;
		*fails += json_is_false(json_object_get(p, "tolerance_met"));
	}
}

static void rate_cell(FILE *o, int runs, int fails)
{
	if (runs)
		fprintf(o, "<td>%d / %d (%.0f%%)</td>", fails, runs, 100.0 * fails / runs);
	else
		fputs("<td>-</td>", o);
}

static void html_probes(FILE *o, const struct rep *r)
{
	json_t *probes = json_object_get(r->d, "probes"),
	       *steady = json_object_get(r->j, "steady_states");
	json_t *p;
	size_t np = json_array_size(probes), i, cap = 4096;
	struct probe_pt *pts;
	struct chart c;
	double ymax = 0;

	fputs("<section id=\"probes\"><h2>Probes</h2>\n", o);
	if (!np) {
		fputs("<p class=\"note\">The experiment has no steady-state probes.</p></section>\n",
		      o);
		return;
	}
	pts = calloc(cap, sizeof(*pts));
	if (!pts) {
		fputs("</section>\n", o);
		return;
	}
	json_array_foreach(probes, i, p) {
		size_t k = probe_points(r, str(p, "name"), p, pts, cap);

		for (size_t m = 0; m < k; m++)
			if (isfinite(pts[m].ms))
				ymax = fmax(ymax, pts[m].ms);
	}
	chart_begin(&c, o, r, "probes", "Probe latency over time (failures: red crosses)", "ms", 1,
		    ymax);
	json_array_foreach(probes, i, p) {
		size_t k = probe_points(r, str(p, "name"), p, pts, cap);
		const char *col = palette[i % DURESS_ARRAY_SIZE(palette)];
		bool open = false;

		if (i >= MAX_PROBES)
			break;
		for (size_t m = 0; m < k; m++) {
			double x = X(r, pts[m].t),
			       y = Y(fmin(isfinite(pts[m].ms) ? pts[m].ms : 0, c.ymax), c.ymax,
				     REPORT_PLOT_H);

			if (!open) {
				fputs("<polyline class=\"series\" data-series=\"probe:", o);
				esc(o, str(p, "name"));
				fprintf(o, "\" stroke=\"%s\" points=\"", col);
				open = true;
			}
			fprintf(o, "%.1f,%.1f ", x, y);
		}
		if (open)
			fputs("\"/>\n", o);
		for (size_t m = 0; m < k; m++) {
			double x = X(r, pts[m].t),
			       y = Y(fmin(isfinite(pts[m].ms) ? pts[m].ms : 0, c.ymax), c.ymax,
				     REPORT_PLOT_H);

			if (pts[m].ok)
				continue;
			fprintf(o,
				"<path class=\"probe-fail\" data-t=\"%.3f\" d=\"M%.1f %.1fl8 8m0 "
				"-8l-8 8\"><title>failed at %.2fs</title></path>\n",
				pts[m].t, x - 4, y - 4, pts[m].t);
		}
		{
			char label[128];

			snprintf(label, sizeof(label), "%s", str(p, "name") ?: "probe");
			for (char *q = label; *q; q++)
				if (*q == '<' || *q == '>' || *q == '&' || *q == '"')
					*q = '?';
			legend_add(&c, label, col, false);
		}
	}
	chart_end(&c, "Before and after: the steady-state rounds; during: every probe_interval.");
	free(pts);
	fputs("<table><tr><th>probe</th><th>failed before</th><th>failed during</th>"
	      "<th>failed after</th><th>latency during p50 / p95 / max</th></tr>\n",
	      o);
	json_array_foreach(probes, i, p) {
		json_t *lat = json_object_get(p, "latency_ms");
		int runs, fails;

		fputs("<tr><td>", o);
		esc(o, str(p, "name"));
		fputs("</td>", o);
		round_rate(json_object_get(steady, "before"), str(p, "name") ?: "", &runs, &fails);
		rate_cell(o, runs, fails);
		rate_cell(o, (int)num(p, "runs"), (int)num(p, "failures"));
		round_rate(json_object_get(steady, "after"), str(p, "name") ?: "", &runs, &fails);
		rate_cell(o, runs, fails);
		if (isfinite(num(lat, "p50")))
			fprintf(o, "<td>%.1f / %.1f / %.1f ms</td></tr>\n", num(lat, "p50"),
				num(lat, "p95"), num(lat, "max"));
		else
			fputs("<td>-</td></tr>\n", o);
	}
	fputs("</table>\n", o);
	{
		json_t *rec = json_object_get(r->d, "recovery");

		if (isfinite(num(rec, "probes_s")))
			fprintf(o,
				"<p><strong>Recovery time:</strong> the probes held again %.2f s "
				"after the revert.</p>\n",
				num(rec, "probes_s"));
		else if (isfinite(r->revert_s))
			fprintf(o,
				"<p><strong>Recovery time:</strong> the probes did not hold again "
				"within the recovery timeout (%.1f s).</p>\n",
				num(rec, "timeout_s"));
	}
	fputs("</section>\n", o);
}

static void html_events(FILE *o, const struct rep *r)
{
	json_t *ev = json_object_get(r->d, "kernel_events"), *silent;
	json_t *e;
	size_t i;

	silent = json_object_get(r->d, "silent_failures");
	fputs("<section id=\"events\"><h2>Kernel events and silent failures</h2>\n", o);
	if (json_array_size(silent)) {
		fprintf(o,
			"<div class=\"callout\" id=\"silent\"><strong>%zu silent failure%s"
			"</strong>: the kernel saw these while every probe passed, so a user "
			"may have been hurt without the probes noticing.<ul>",
			json_array_size(silent), json_array_size(silent) == 1 ? "" : "s");
		json_array_foreach(silent, i, e) {
			fputs("<li>", o);
			esc(o, str(e, "detail"));
			fputs("</li>", o);
		}
		fputs("</ul></div>\n", o);
	}
	if (!json_array_size(ev)) {
		fputs("<p>None: no OOM kill, no limit reached, no throttling, no pressure above the "
		      "threshold, no process restarted.</p></section>\n",
		      o);
		return;
	}
	fputs("<ul>", o);
	json_array_foreach(ev, i, e) {
		fputs("<li><code>", o);
		esc(o, str(e, "kind"));
		fputs("</code>: ", o);
		esc(o, str(e, "detail"));
		fputs("</li>", o);
	}
	fputs("</ul></section>\n", o);
}

static const char *title_of(json_t *journal)
{
	json_t *x = json_object_get(journal, "experiment");

	return str(x, "title") ?: str(x, "name") ?: "experiment";
}

static void write_html(FILE *o, const struct rep *r, struct bufs *B)
{
	const char *v = str(r->d, "verdict") ?: "unknown";
	char words[2048];

	html_head(o, title_of(r->j));
	report_verdict_text(r->j, words, sizeof(words));
	fprintf(o, "<header class=\"verdict v-%s\" id=\"verdict\" data-verdict=\"", v);
	esc(o, v);
	fputs("\"><h1>", o);
	esc(o, verdict_word(v));
	fputs(": ", o);
	esc(o, title_of(r->j));
	fputs("</h1><p>", o);
	esc(o, words);
	fputs("</p></header>\n", o);
	html_summary(o, r);
	html_timeline(o, r);
	html_samples(o, r, B);
	html_probes(o, r);
	html_events(o, r);
	fputs("<footer>Made by <code>duress report</code> from the run's journal", o);
	if (r->ns)
		fprintf(o, " and %zu samples", r->ns);
	fputs(". Self-contained: no script, nothing fetched.</footer>\n</body></html>\n", o);
}

/* ---- Markdown ---- */

static void md_cell(FILE *o, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|' || *s == '\n')
			fputc(*s == '|' ? '/' : ' ', o);
		else
			fputc(*s, o);
	}
}

static void spark(FILE *o, const double *v, size_t n, double top)
{
	static const char *const bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	size_t width = 40, step = n > width ? (n + width - 1) / width : 1;

	if (!(top > 0))
		top = 1;
	for (size_t i = 0; i < n; i += step) {
		double m = NAN;

		for (size_t k = i; k < i + step && k < n; k++)
			if (isfinite(v[k]) && !(m >= v[k]))
				m = v[k];
		if (!isfinite(m)) {
			fputc(' ', o);
			continue;
		}
		fputs(bars[(int)fmin(7, fmax(0, m / top * 7.999))], o);
	}
}

static void md_spark_row(FILE *o, const struct rep *r, const char *label, const double *v,
			 const double *limit, const char *unit)
{
	double top = fmax(vmax(v, r->ns), vmax(limit, r->ns));

	if (!any(v, r->ns))
		return;
	fprintf(o, "| %s | `", label);
	spark(o, v, r->ns, top);
	fprintf(o, "` | %.1f %s |", vmax(v, r->ns), unit);
	if (limit && any(limit, r->ns))
		fprintf(o, " %.1f %s |\n", vmax(limit, r->ns), unit);
	else
		fputs(" - |\n", o);
}

static void write_md(FILE *o, const struct rep *r, struct bufs *B)
{
	json_t *probes = json_object_get(r->d, "probes"),
	       *steady = json_object_get(r->j, "steady_states");
	struct row rows[MAX_ROWS];
	char words[2048];
	size_t n, i;
	json_t *p;

	report_verdict_text(r->j, words, sizeof(words));
	fputs("## duress report: ", o);
	md_cell(o, title_of(r->j));
	fputs("\n\n**", o);
	md_cell(o, verdict_word(str(r->d, "verdict")));
	fputs("**: ", o);
	md_cell(o, strchr(words, ':') ? strchr(words, ':') + 2 : words);
	fprintf(o, "\n\n| | |\n|---|---|\n| target | `");
	md_cell(o, str(json_object_get(r->d, "target"), "dir"));
	fprintf(o,
		"` |\n| duration | %.2f s |\n| exit code | %.0f |\n| revert | %.0f undone "
		"in %.1f ms, %zu not reverted |\n",
		num(r->j, "duration"), num(r->d, "exit_code"),
		num(json_object_get(r->d, "revert"), "reverted"),
		num(json_object_get(r->d, "revert"), "ms"),
		json_array_size(json_object_get(json_object_get(r->d, "revert"), "not_reverted")));
	if (isfinite(num(json_object_get(r->d, "recovery"), "probes_s")))
		fprintf(o, "| recovery | probes hold again %.2f s after the revert |\n",
			num(json_object_get(r->d, "recovery"), "probes_s"));
	memset(rows, 0, sizeof(rows));
	n = activity_rows(r, json_object_get(r->j, "run"), false, rows, 0);
	qsort(rows, n, sizeof(rows[0]), row_cmp);
	n = activity_rows(r, json_object_get(r->j, "rollbacks"), true, rows, n);
	if (n) {
		fputs("\n### Timeline\n\n| activity | kind | from (s) | to (s) | status |\n"
		      "|---|---|---:|---:|---|\n",
		      o);
		for (i = 0; i < n; i++) {
			fputs("| ", o);
			md_cell(o, rows[i].label);
			fprintf(o, " | %s | %.2f | %.2f | %s |\n", rows[i].kind, rows[i].start,
				rows[i].end, rows[i].failed ? "failed" : "ok");
		}
		if (isfinite(r->abort_s))
			fprintf(o, "| **abort** | | %.2f | | |\n", r->abort_s);
		if (isfinite(r->revert_s))
			fprintf(o, "| revert | | %.2f | | |\n", r->revert_s);
	}
	if (r->ns) {
		fputs("\n### Target\n\n| | over time | peak | limit |\n|---|---|---:|---:|\n", o);
		values(r, "memory.current", 1048576, B->a);
		values(r, "memory.max", 1048576, B->b);
		md_spark_row(o, r, "memory (MiB)", B->a, B->b, "MiB");
		values(r, "cpu.usage_pct", 1, B->a);
		values(r, "cpu.max.quota", 1, B->b);
		values(r, "cpu.max.period", 1, B->c);
		for (i = 0; i < r->ns; i++)
			B->b[i] = B->c[i] > 0 ? B->b[i] / B->c[i] * 100 : NAN;
		md_spark_row(o, r, "cpu (%)", B->a, B->b, "%");
		rate(r, "io.wbytes", 1048576, B->a);
		md_spark_row(o, r, "io written (MiB/s)", B->a, NULL, "MiB/s");
		values(r, "psi.memory.some_avg10", 1, B->a);
		md_spark_row(o, r, "memory pressure (%)", B->a, NULL, "%");
		rate(r, "net.tx_drops", 1, B->a);
		md_spark_row(o, r, "tx drops (/s)", B->a, NULL, "/s");
	}
	if (json_array_size(probes)) {
		fputs("\n### Probes\n\n| probe | failed before | failed during | failed after | "
		      "p95 during |\n|---|---:|---:|---:|---:|\n",
		      o);
		json_array_foreach(probes, i, p) {
			int rb, fb, ra, fa;

			round_rate(json_object_get(steady, "before"), str(p, "name") ?: "", &rb,
				   &fb);
			round_rate(json_object_get(steady, "after"), str(p, "name") ?: "", &ra,
				   &fa);
			fputs("| ", o);
			md_cell(o, str(p, "name"));
			fprintf(o, " | %d/%d | %.0f/%.0f | %d/%d | ", fb, rb, num(p, "failures"),
				num(p, "runs"), fa, ra);
			if (isfinite(num(json_object_get(p, "latency_ms"), "p95")))
				fprintf(o, "%.1f ms |\n",
					num(json_object_get(p, "latency_ms"), "p95"));
			else
				fputs("- |\n", o);
		}
	}
	if (json_array_size(json_object_get(r->d, "kernel_events"))) {
		fputs("\n### Kernel events\n\n", o);
		json_array_foreach(json_object_get(r->d, "kernel_events"), i, p) {
			fputs("- ", o);
			md_cell(o, str(p, "detail"));
			fputs("\n", o);
		}
	}
	if (json_array_size(json_object_get(r->d, "silent_failures")))
		fprintf(o,
			"\n> **%zu silent failure(s)**: the kernel saw the events above while "
			"every probe passed.\n",
			json_array_size(json_object_get(r->d, "silent_failures")));
}

int report_write(FILE *out, json_t *journal, json_t *samples, enum report_format fmt,
		 struct duress_err *err)
{
	struct rep r;
	struct bufs B = { 0 };
	int ret = 0;

	if (!json_is_object(journal) || !json_is_object(json_object_get(journal, "duress")))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "report: not a duress journal (no `duress` section)");
	if (rep_init(&r, journal, samples) < 0)
		return duress_err_set(err, ENOMEM, "report: samples");
	B.a = calloc(r.ns + 1, sizeof(double));
	B.b = calloc(r.ns + 1, sizeof(double));
	B.c = calloc(r.ns + 1, sizeof(double));
	B.d = calloc(r.ns + 1, sizeof(double));
	B.e = calloc(r.ns + 1, sizeof(double));
	if (!B.a || !B.b || !B.c || !B.d || !B.e) {
		ret = duress_err_set(err, ENOMEM, "report: samples");
		goto out;
	}
	if (fmt == REPORT_HTML)
		write_html(out, &r, &B);
	else
		write_md(out, &r, &B);
	if (fflush(out) != 0 || ferror(out))
		ret = duress_err_set(err, errno ? errno : EIO, "report: write");
out:
	free(B.a);
	free(B.b);
	free(B.c);
	free(B.d);
	free(B.e);
	free(r.t);
	return ret;
}
