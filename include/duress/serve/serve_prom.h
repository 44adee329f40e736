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

#endif
