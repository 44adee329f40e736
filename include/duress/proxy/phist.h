/* SPDX-License-Identifier: MIT */
/*
 * A latency histogram for the proxy's counters: log-linear buckets (32 per
 * power of two, within about 3%), fixed size, no allocation.  Values in
 * microseconds; percentiles come back in milliseconds.
 */
#ifndef DURESS_PHIST_H
#define DURESS_PHIST_H

#include <stdint.h>

#include <jansson.h>

#define PHIST_SUB 32
#define PHIST_BUCKETS (40 * PHIST_SUB)

struct phist {
	uint64_t n, max_us;
	uint32_t b[PHIST_BUCKETS];
};

void phist_add(struct phist *h, uint64_t us);
/* The value below which pct percent of the samples lie, in ms (0 if none). */
double phist_pct_ms(const struct phist *h, double pct);
/* {"count": n, "p50": ms, "p99": ms, "max": ms} */
json_t *phist_json(const struct phist *h);

#endif
