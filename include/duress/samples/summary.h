/* SPDX-License-Identifier: MIT */
/*
 * What the target went through: aggregates of samples per phase (before a
 * fault, while it is in force), compared in the summary of inject (and
 * later of experiments).  Counters are deltas over the phase; gauges are
 * peaks or means.  Pure: unit-tested with hand-made samples.
 */
#ifndef DURESS_SUMMARY_H
#define DURESS_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <duress/samples/sample.h>

struct phase_stats {
	unsigned n;		   /* samples seen */
	struct sample first, last; /* for counter deltas */
	double cpu_pct_sum;	   /* mean = sum / cpu_pct_n */
	unsigned cpu_pct_n;
	double cpu_pct_max;
	bool has_mem;
	uint64_t mem_peak;		    /* max memory.current */
	double psi_some_peak[SAMPLE_PSI_N]; /* avg10 peaks: cpu, memory, io */
	double psi_full_peak[SAMPLE_PSI_N];
	bool has_psi[SAMPLE_PSI_N];
};

void phase_stats_init(struct phase_stats *ps);
/* Add a sample; `base` is the sample the phase's counters start from (the
 * last one of the previous phase), may be NULL. */
void phase_stats_add(struct phase_stats *ps, const struct sample *s);

/* Counter delta over the phase: last - first (0 when absent or backwards). */
uint64_t phase_delta(const struct opt_u64 *first, const struct opt_u64 *last);

/* The phase as a JSON object (deltas, peaks, means); absent fields omitted. */
json_t *phase_stats_json(const struct phase_stats *ps, const struct phase_stats *prev);

/* Human table "before | during" of the interesting lines. */
void phase_stats_print(FILE *f, const struct phase_stats *before, const struct phase_stats *during);

#endif
