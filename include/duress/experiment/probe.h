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

#include <duress/net/netparse.h>

#include <stdbool.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/experiment/manifest.h>
#include <duress/targets/target.h>

enum metric_op {
	METRIC_EQ,
	METRIC_NE,
	METRIC_LT,
	METRIC_LE,
	METRIC_GT,
	METRIC_GE,
};

/* "KEY OP NUMBER" over a sample's flattened keys, or "increase(KEY) OP N"
 * (the change since the run's first sample).  NUMBER may be "max". */
struct metric_expr {
	char key[128];
	bool increase;
	enum metric_op op;
	double value;
	char text[192]; /* as written, for messages */
};

enum probe_type {
	PROBE_HTTP,
	PROBE_PROCESS,
	PROBE_METRIC,
};

#define PROBE_MAX_STATUS 16

struct status_range {
	long lo, hi;
};

struct probe {
	const char *name;
	struct mf_pos pos;
	enum probe_type type;
	/* Chaos Toolkit activity: the output is recorded as chaostoolkit-lib
	 * records it, and only an error (refused, timed out, exec failed) makes
	 * the probe fail; the tolerance, when there is one, decides the rest */
	bool ctk;
	json_t *tolerance;	      /* CTK tolerance as written (substituted), or NULL */
	struct probe *tol_probe;      /* CTK `tolerance: {type: probe, ...}`: run it */
	const struct mf_node *source; /* the activity as written, for the journal */
	bool in_target_netns;	      /* run in the target's network namespace */
	uint64_t timeout_us;	      /* 0: none (Chaos Toolkit's default) */
	/* http */
	const char *url, *method, *body;
	char *owned_body;   /* body made from CTK arguments, malloc'd */
	char *owned_url;    /* CTK GET: the url with the arguments as its query */
	char *owned_method; /* CTK: the method upper-cased */
	char **headers;	    /* "Name: value", malloc'd */
	size_t nheaders;
	bool verify_tls;
	/* expected http status or process exit code; none: http below 400,
	 * process exit 0 */
	struct status_range status[PROBE_MAX_STATUS];
	size_t nstatus;
	/* http body, process standard output */
	const char *contains;	  /* substring */
	const char *equals;	  /* whole text, surrounding white space ignored */
	const char *regex;	  /* POSIX extended */
	const char *json_pointer; /* RFC 6901, into the body parsed as JSON */
	json_t *json_value;	  /* expected value there; NULL: only present */
	uint64_t max_latency_us;  /* 0: none (http and process) */
	/* process */
	const char *path;
	const char **args; /* argv[1..], malloc'd array */
	size_t nargs;
	char *owned_path;  /* path found on PATH, malloc'd */
	char *owned_line;  /* CTK string arguments: "PATH ARGUMENTS" for sh -c */
	char **owned_args; /* CTK map or typed list arguments, as text */
	size_t nowned_args;
	unsigned max_retries; /* http: retries of a refused connection */
	/* metric */
	struct metric_expr metric;
};

struct probe_ctx {
	const struct target *target; /* for netns: target; may be NULL */
	json_t *sample;		     /* the latest sample (sample_to_json), or NULL */
	json_t *first_sample;	     /* the run's first, for increase(); or NULL */
	bool no_tolerance;	     /* a method or rollback activity: Chaos Toolkit
				      * checks no tolerance there */
};

struct probe_result {
	bool ok;
	bool raised; /* CTK: the activity itself failed (status failed) */
	double latency_ms;
	double start, end; /* CLOCK_REALTIME, seconds */
	char reason[512];  /* why it failed; "" when ok */
	json_t *output;	   /* http {status, body}, process {status, stdout, stderr},
			      * metric {key, value} */
};

/*
 * Where http probes may connect, for the jobs of `duress serve` (an API
 * client must not reach the host's loopback, link-local addresses or a
 * cloud metadata service through the agent): with the guard on, an address
 * curl resolved and is about to connect to is refused when it is in
 * 127.0.0.0/8, 0.0.0.0/8, 169.254.0.0/16, 100.100.100.200, ::1, ::,
 * fe80::/10, fd00:ec2::254 (or such an IPv4 address mapped in IPv6),
 * unless it is inside one of allow[]; proxies are not used (the address
 * checked is the one fetched).  Set once per process, before probes run.
 */
#define PROBE_NET_ALLOW_MAX 16
struct probe_net_guard {
	bool on;
	struct ns_cidr allow[PROBE_NET_ALLOW_MAX];
	size_t nallow;
};
void probe_net_guard_set(const struct probe_net_guard *g);
/* Would the guard g refuse addr (network order, of family)? */
bool probe_net_refused(const struct probe_net_guard *g, int family, const unsigned char *addr);

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

/* True when running the probe runs a program: a process probe, or a
 * Chaos Toolkit probe tolerance that is one (the API refuses both without
 * --allow-commands). */
bool probe_runs_command(const struct probe *p);

/* One-time library set-up (curl_global_init). */
int probe_global_init(struct duress_err *err);
void probe_global_cleanup(void);

/* Pure: look up an RFC 6901 pointer ("" is the whole document). */
json_t *json_pointer_get(json_t *doc, const char *ptr);

/* Pure: parse a metric expression ("memory.current < 100M"). */
int metric_parse(const char *text, struct metric_expr *m, struct duress_err *err);

#endif
