/* SPDX-License-Identifier: MIT */
/*
 * HTTP fault rules: which requests (matchers: method, path prefix or glob,
 * headers), how many of them (a percentage), and what happens to them
 * (abort, delay, rate limit, and what the response goes through).  Pure
 * code: the HTTP filter (httpf.h) runs it per request; unit-tested in
 * tests/unit/test_httprule.c.
 *
 * Rules are independent: each one whose matchers hold rolls its own
 * percentage; the faults of every rule that fires are combined, and where
 * two set the same kind the first rule in order decides.  An abort (or a
 * 429 from a rate limit) answers the request without the server; the
 * response faults then do not apply.
 */
#ifndef DURESS_HTTPRULE_H
#define DURESS_HTTPRULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duress/core/error.h>

enum hrule_kind {
	HR_ABORT,
	HR_DELAY,
	HR_SLOW_BODY,
	HR_RATE_LIMIT, /* the excess answered 429 */
	HR_RATE_QUEUE, /* the excess held until its turn */
	HR_TRUNCATE,
	HR_CORRUPT,
	HR_REPLACE,
	HR_CONTENT_TYPE,
	HR_MALFORMED_JSON,
	HR_RESET,
	HR_NKINDS,
};

/* "abort", "delay", "slow_body", ... (counter names) */
const char *hrule_kind_name(enum hrule_kind k);

#define HRULE_MAX_MATCH 16
#define HRULE_BODY_MAX (1 << 20)		/* --abort-body, --replace-body */
#define HRULE_BUFFER_MAX (16u << 20)		/* bodies a fault must hold whole */
#define HRULE_QUEUE_MAX_NS (60ULL * 1000000000) /* --rate-limit-queue: longest wait */

struct hrule_header {
	char *name;  /* case-insensitive */
	char *value; /* glob on the value; NULL: any value */
};

/* A GCRA token bucket: rate per second, burst requests at once. */
struct hrule_bucket {
	uint64_t interval_ns;  /* 1 s / rate */
	uint64_t tolerance_ns; /* (burst - 1) * interval */
	uint64_t tat_ns;       /* theoretical arrival time */
};

struct hrule {
	/* matchers (empty: any) */
	char *methods[HRULE_MAX_MATCH]; /* any of, upper case */
	size_t nmethods;
	char *paths[HRULE_MAX_MATCH]; /* any of: a prefix, or a glob with * ? [ */
	size_t npaths;
	struct hrule_header headers[HRULE_MAX_MATCH]; /* all of */
	size_t nheaders;
	double percent; /* of the matching requests, 0..100 */
	/* faults (0/NULL/false: not set) */
	unsigned abort_status;
	char *abort_body; /* NULL: "<reason> (injected by duress)\n" */
	size_t abort_body_len;
	bool has_retry_after;
	uint64_t retry_after_s;
	uint64_t delay_ns;
	uint64_t slow_body_bps; /* bytes per second */
	double rate;		/* requests per second; 0: none */
	unsigned rate_burst;
	bool rate_queue;
	bool truncate, truncate_pct;
	double truncate_keep_pct;     /* keep this share of the body */
	uint64_t truncate_keep_bytes; /* or this many bytes */
	bool corrupt;
	char *replace_body; /* the file's content */
	size_t replace_len;
	char *content_type;
	bool malformed_json;
	bool reset;
	/* state (in the proxy process) */
	struct hrule_bucket bucket;
};

/* A request as the matchers see it. */
struct hrule_req {
	const char *method;	   /* "GET" */
	const char *path;	   /* without the query, NUL-terminated */
	const char *const *hnames; /* headers, as received */
	const char *const *hvalues;
	size_t nheaders;
};

/* What happens to one request: the combination of the rules that fired. */
struct hrule_plan {
	unsigned fired;	       /* bit per enum hrule_kind */
	bool matched;	       /* some rule's matchers held */
	unsigned abort_status; /* also 429 of a rate limit */
	const char *abort_body;
	size_t abort_body_len;
	bool has_retry_after;
	uint64_t retry_after_s;
	uint64_t delay_ns; /* before forwarding (delay and queue) */
	uint64_t slow_body_bps;
	const struct hrule *truncate; /* the rule that decides each */
	bool corrupt;
	const char *replace_body;
	size_t replace_len;
	const char *content_type;
	bool malformed_json;
	bool reset;
};

/* Pure: glob (fnmatch, '*' crosses '/') or prefix match of path. */
bool hrule_path_match(const char *pattern, const char *path);
bool hrule_matches(const struct hrule *r, const struct hrule_req *q);

/* Set up a rule's bucket (rate, burst >= 1). */
void hrule_bucket_init(struct hrule_bucket *b, double rate, unsigned burst);
/*
 * Take a token at now: 0 if there is one; else the nanoseconds until there
 * would be.  queue: reserve the next one anyway (the caller waits the
 * returned time), unless that is over HRULE_QUEUE_MAX_NS.
 */
uint64_t hrule_bucket_take(struct hrule_bucket *b, uint64_t now, bool queue, bool *granted);

/* A fast, seeded random source (xoshiro256**); seed from getrandom. */
struct hrule_rng {
	uint64_t s[4];
};
void hrule_rng_seed(struct hrule_rng *r, uint64_t seed);
uint64_t hrule_rng_next(struct hrule_rng *r);
/* true with probability pct/100 */
bool hrule_rng_pct(struct hrule_rng *r, double pct);

/* Decide for one request at now (takes rate-limit tokens). */
void hrule_plan(struct hrule *rules, size_t n, const struct hrule_req *q, uint64_t now,
		struct hrule_rng *rng, struct hrule_plan *out);

/* Is status one we can answer (200..599 and known)?  Its reason phrase. */
const char *hrule_status_reason(unsigned status);

/* The Connection header of a synthetic response: none (HTTP/1.1 keeps
 * the connection), close, or keep-alive (what an HTTP/1.0 client that
 * asked for it needs to hear). */
enum { HRULE_CONN_DEFAULT, HRULE_CONN_CLOSE, HRULE_CONN_KEEP_ALIVE };

/*
 * Build a whole response (status line, headers, body) for an abort:
 * Content-Type text/plain (application/json when the body looks like it),
 * Content-Length, Retry-After when asked (always for 429: 1 s unless
 * given), a Connection header as conn says.  malloc'd in *out.
 */
int hrule_synth_response(unsigned status, const char *body, size_t body_len, bool has_retry_after,
			 uint64_t retry_after_s, int conn, char **out, size_t *len);

/*
 * Rewrite a response head (status line and header lines, ending with an
 * empty line): drop the headers named in drop (case-insensitive,
 * NULL-terminated), then add extra (already "Name: value\r\n" lines)
 * before the end.  malloc'd in *out.
 */
int hrule_head_rewrite(const char *head, size_t len, const char *const *drop, const char *extra,
		       char **out, size_t *outlen);

/* --truncate-body: how many bytes of a body of total bytes to keep. */
uint64_t hrule_truncate_keep(const struct hrule *r, uint64_t total);

/* --malformed-json: the body as sent: its first half (at least one byte
 * less), or a fixed broken document when it is empty.  Into out (malloc'd). */
int hrule_malformed(const char *body, size_t len, char **out, size_t *outlen);

/* Parse "N/s", "N/m", "N" (per second) into requests per second; `what`
 * names the option. */
int hrule_parse_rate(const char *text, const char *what, double *rate, struct duress_err *err);

/* Free the strings a rule owns (matchers, bodies). */
void hrule_free(struct hrule *r);

#endif
