/* SPDX-License-Identifier: MIT */
/*
 * Probes: is the target still in its steady state?  (docs/manifests.md)
 *
 *   http     libcurl: url, method, headers, body, timeout; expected status
 *            (codes or ranges), a substring, exact text, regex or a JSON
 *            pointer (and value) in the body, a latency threshold
 *   process  fork/exec of a path with an argument list (no shell), a
 *            timeout, expected exit codes and output
 *   metric   a threshold on a field of the latest sample, by its flattened
 *            key ("memory.events.oom_kill == 0", "cpu.usage_pct < 95")
 *
 * http and process probes may run in the target's network namespace.
 * A probe never fails with an error: whatever goes wrong (refused, timed
 * out, wrong status) is its result, with the reason.
 */
#ifndef DURESS_PROBE_H
#define DURESS_PROBE_H

#include <stdbool.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/experiment/manifest.h>
#include <duress/targets/target.h>

struct probe_ctx {
	const struct target *target; /* for netns: target; may be NULL */
	json_t *sample;              /* the latest sample (sample_to_json), or NULL */
	json_t *first_sample;        /* the run's first, for increase(); or NULL */
};

struct probe_result {
	bool ok;
	double latency_ms;
	double start, end;   /* CLOCK_REALTIME, seconds */
	char reason[512];    /* why it failed; "" when ok */
	json_t *output;      /* http {status, body}, process {status, stdout, stderr},
			      * metric {key, value} */
};

/* Run once (bounded by the probe's timeout); fills r (free with
 * probe_result_free). */
void probe_run(const struct probe *p, const struct probe_ctx *ctx, struct probe_result *r);
void probe_result_free(struct probe_result *r);

/*
 * Evaluate on a sample (first: for increase()).  *holds says whether the
 * comparison is true; *value gets the left-hand side.  Fails when the key
 * is absent from the sample (absent is not zero).
 */
int metric_eval(const struct metric_expr *m, json_t *sample, json_t *first, double *value,
		bool *holds, struct duress_err *err);

/* One-time library set-up (curl_global_init). */
int probe_global_init(struct duress_err *err);
void probe_global_cleanup(void);

/* Pure: look up an RFC 6901 pointer ("" is the whole document). */
json_t *json_pointer_get(json_t *doc, const char *ptr);

#endif
