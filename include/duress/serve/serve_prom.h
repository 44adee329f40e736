/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition, version 0.0.4 (agent/serve/serve_prom.c):
 * the targets' usage and the agent's own counters for GET /metrics.
 */
#ifndef DURESS_SERVE_PROM_H
#define DURESS_SERVE_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <duress/samples/sample.h>

/* Label value escaping: backslash, double quote, newline. */
void prom_escape_label(FILE *out, const char *s);

/* The latest sample of one target under a fault. */
struct prom_target {
	const char *target; /* label value: the cgroup directory */
	const struct sample *s;
};

/* Every target metric family, # HELP and # TYPE once each, one line per
 * target that has the value (absent values are left out). */
void prom_targets(FILE *out, const struct prom_target *v, size_t n);

/* The agent's own counters and gauges. */
struct prom_agent {
	unsigned faults_active, experiments_active;
	uint64_t faults_started, experiments_started;
	uint64_t reverts_ok, revert_failures, jobs_failed;
	double sample_cost_last_s, sample_cost_total_s;
	uint64_t samples_total;
};

/* One active fault as an info-style gauge (value 1). */
struct prom_fault {
	const char *id, *fault, *target, *kind; /* kind: "fault" or "experiment" */
};

void prom_agent(FILE *out, const struct prom_agent *a, const struct prom_fault *f, size_t n);

/*
 * A steady-state probe's latency as a Prometheus histogram,
 * duress_probe_duration_seconds{id, experiment, probe}: observations up to
 * each bound of PROM_PROBE_BOUNDS (seconds), their count and their sum.
 */
#define PROM_PROBE_NB 11
#define PROM_PROBE_BOUNDS                                               \
	{                                                               \
		0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 \
	}
#define PROM_PROBE_NAME_MAX 64

struct prom_hist {
	char probe[PROM_PROBE_NAME_MAX]; /* the probe's name (cut) */
	uint64_t le[PROM_PROBE_NB];	 /* observations <= bound i */
	uint64_t count;
	double sum; /* seconds */
};

void prom_hist_observe(struct prom_hist *h, double seconds);

/* One probe of one experiment job. */
struct prom_probe {
	const char *id, *experiment;
	const struct prom_hist *h;
};

void prom_probes(FILE *out, const struct prom_probe *p, size_t n);

#endif
