/* SPDX-License-Identifier: MIT */
/*
 * Sample output (agent/samples/sample_format.c): the nested JSON object of
 * docs/samples.md, the writers built on it (JSONL, CSV, a live table for
 * terminals), and lookups by flattened key.
 */
#ifndef DURESS_SAMPLE_FORMAT_H
#define DURESS_SAMPLE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/samples/sample.h>

/* The nested JSON object of docs/samples.md (new reference). */
json_t *sample_to_json(const struct sample *s);

/* json_dump*() flags for samples: compact, and reals with 12 significant
 * digits so that 12.34 prints as 12.34, not 12.339999999999999. */
#define SAMPLE_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

/* One sample's JSON (with what the faults added to it) as a JSON Lines
 * line. */
int sample_jsonl_write(FILE *out, json_t *j, struct duress_err *err);

enum sample_format {
	SAMPLE_FORMAT_JSONL,
	SAMPLE_FORMAT_CSV,
	SAMPLE_FORMAT_TABLE,
};

int sample_format_parse(const char *text, enum sample_format *out, struct duress_err *err);

/*
 * What an experiment is doing, for the live view of `duress run`: filled by
 * the experiment runner (experiment.c) and drawn by this module with the
 * target's samples; nothing here knows what an experiment is.  Times are
 * on the run's clock (seconds, as a sample's t).
 */
#define LIVE_MAX_ACTIONS 16
#define LIVE_MAX_PROBES 8
#define LIVE_HIST 40

enum live_state { LIVE_PENDING, LIVE_ON, LIVE_DONE, LIVE_FAILED };

struct live_action {
	char name[48];
	char kind[24]; /* a fault kind, "pause", "probe", "action", "rollback" */
	enum live_state state;
	bool background;
	double ends; /* LIVE_ON: the end of its duration; 0 none */
};

struct live_probe {
	char name[48];
	bool ok;	   /* the last run's result (runs > 0) */
	double latency_ms; /* the last run's */
	unsigned runs, failures;
	double lat[LIVE_HIST]; /* the last runs' latencies (ms); NAN: failed */
	size_t n;
};

struct live_status {
	/* "baseline", "steady state before", "method", "rollback",
	 * "recovering", "steady state after", "done" */
	const char *phase;
	double phase_ends; /* 0: no end known */
	double now;	   /* when this was last updated */
	bool no_target;	   /* probes only: no samples to show */
	struct live_action actions[LIVE_MAX_ACTIONS];
	size_t nactions;
	struct live_probe probes[LIVE_MAX_PROBES];
	size_t nprobes;
	char event[160]; /* the last progress line, "[  1.02s] ..." */
};

/* A probe's result into its history (the oldest drops out). */
void live_probe_push(struct live_probe *p, bool ok, double latency_ms);

struct sample_writer {
	enum sample_format format;
	FILE *out;
	bool header_done;   /* csv: header written */
	char **csv_columns; /* csv: columns fixed by the first sample */
	size_t ncsv_columns;
	const char *title;  /* table: target description */
	struct sample prev; /* table: for rates */
	bool have_prev;
	/* table, the live view (docs/samples.md): set by sample_writer_init
	 * from the terminal and the environment, which tests may override */
	int cols, rows;	   /* TIOCGWINSZ of out, else 80x24 */
	bool dumb;	   /* TERM=dumb: one line per sample, no escapes */
	bool color;	   /* not dumb and NO_COLOR unset or empty */
	bool utf8;	   /* a UTF-8 locale: block sparklines, else ASCII */
	const char *phase; /* what the samples are under (inject, run), or NULL */
	double phase_ends; /* its end on the samples' clock (t); 0: none */
			   /* the last SAMPLE_HIST values: cpu %, memory.current, io bytes/s,
	 * pressure (highest some avg10), dropped packets/s; NAN when absent */
#define SAMPLE_HIST 40
#define SAMPLE_HIST_N 5
	double hist[SAMPLE_HIST_N][SAMPLE_HIST];
	size_t nhist;
	/* run: what the experiment is doing (its own layout); NULL: none */
	const struct live_status *status;
	double drawn_at; /* timing_now() of the last frame */
};

void sample_writer_init(struct sample_writer *w, enum sample_format format, FILE *out,
			const char *title);
/* Write one sample; flushes so that `tail -f` and pipes see it at once. */
int sample_writer_write(struct sample_writer *w, const struct sample *s, struct duress_err *err);
void sample_writer_close(struct sample_writer *w);
/* Redraw the table view from w->status and the last sample (none yet: the
 * experiment's part only): at most every 100 ms unless `force`; nothing on
 * TERM=dumb (its lines are the samples' and the progress lines). */
int sample_writer_redraw(struct sample_writer *w, bool force, struct duress_err *err);

/* Flatten a JSON object into dotted keys ("memory.events.oom_kill"). */
typedef void (*sample_flat_cb)(const char *key, json_t *value, void *data);
void sample_json_flatten(json_t *obj, sample_flat_cb cb, void *data);

/* A number from a sample's JSON (sample_to_json) by flattened key
 * ("psi.memory.full_avg10"); "max" is +infinity.  0, or -1 when absent. */
int sample_lookup(json_t *sample, const char *key, double *out);

#endif
