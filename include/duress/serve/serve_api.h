/* SPDX-License-Identifier: MIT */
/*
 * The parts of `duress serve` that neither listen nor touch the kernel
 * (agent/serve/serve_api.c), unit-tested: routing, the bearer token, API
 * errors, the single-fault request (JSON) into the arguments of the
 * `duress inject` child, and which target a query names.
 */
#ifndef DURESS_SERVE_API_H
#define DURESS_SERVE_API_H

#include <stdbool.h>
#include <stddef.h>

#include <duress/core/error.h>
#include <duress/faults/fault.h>

#define SERVE_ID_MAX 32
#define SERVE_BODY_MAX (1024 * 1024) /* request bodies above this: 413 */
/* The API's version: raised when a change would break an existing client
 * (a path, a field or a meaning gone or changed); additions are listed in
 * serve_version_json()'s features instead. */
#define SERVE_API_VERSION 1

enum serve_route {
	ROUTE_NONE,		 /* unknown path: 404 */
	ROUTE_HEALTHZ,		 /* GET /healthz */
	ROUTE_VERSION,		 /* GET /v1/version */
	ROUTE_METRICS,		 /* GET /metrics */
	ROUTE_TARGETS,		 /* GET /v1/targets */
	ROUTE_SAMPLES,		 /* GET /v1/samples */
	ROUTE_EXPERIMENTS,	 /* GET, POST /v1/experiments */
	ROUTE_EXPERIMENT,	 /* GET, DELETE /v1/experiments/{id} */
	ROUTE_FAULTS,		 /* GET, POST /v1/faults */
	ROUTE_FAULT,		 /* GET, DELETE /v1/faults/{id} */
	ROUTE_EXPERIMENT_LEASE,	 /* POST /v1/experiments/{id}/lease */
	ROUTE_FAULT_LEASE,	 /* POST /v1/faults/{id}/lease */
	ROUTE_EXPERIMENT_REPORT, /* GET /v1/experiments/{id}/report */
};

/*
 * Match a request.  Returns the route (ROUTE_NONE: 404) and sets *status
 * to 0 when the method is allowed there, else 405 with *allow the methods
 * that are ("GET, POST").  For ROUTE_EXPERIMENT, ROUTE_FAULT and their
 * _LEASE routes the id
 * ([A-Za-z0-9-], at most SERVE_ID_MAX) goes to id.  `url` is the path
 * without the query string.
 */
enum serve_route serve_route(const char *method, const char *url, char id[SERVE_ID_MAX + 1],
			     int *status, const char **allow);

/* GET /v1/version: {"version": the agent's release (VERSION), "api":
 * SERVE_API_VERSION, "features": [...]} and a newline (malloc'd text). */
char *serve_version_json(void);

/* Length-independent time comparison of two secrets. */
bool serve_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* True when the Authorization header value is "Bearer <token>" (scheme
 * case-insensitive, token compared in constant time). */
bool serve_auth_ok(const char *header, const char *token);

/* A token must hold 32 bytes of entropy (estimated: serve_token_bits). */
#define SERVE_TOKEN_MIN_BITS 256
double serve_token_bits(const char *s);

/* Read a token file: the first line, surrounding white space removed;
 * refuses an empty token and a file others may read or write (usage
 * error naming the file). */
int serve_read_token(const char *path, char *out, size_t len, struct duress_err *err);

/* A request error: HTTP status, the field it is about ("options.max",
 * "body") and why. */
struct serve_error {
	int status;
	char field[128];
	char reason[DURESS_ERR_MSG_MAX];
};

int serve_error_set(struct serve_error *e, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Requests a web page could make (issue 12): one that carries an Origin
 * header, or a Sec-Fetch-Site other than "none", comes from a browser
 * page: refused (403), as is a POST body of any type but JSON or YAML
 * (serve_body_type_ok; the form types a page may send without asking,
 * text/plain, application/x-www-form-urlencoded, multipart/form-data:
 * 415).  On a loopback
 * TCP listener the Host must name the loopback (localhost, 127.0.0.0/8,
 * [::1], with or without a port): a page whose name was rebound to
 * 127.0.0.1 sends its own (421).  0, or the status with e filled.
 */
int serve_cross_site_check(const char *method, const char *origin, const char *fetch_site,
			   const char *content_type, const char *host, bool loopback_tcp,
			   struct serve_error *e);
bool serve_host_is_loopback(const char *host);

/* Is content_type (parameters ignored) application/json or a YAML type? */
bool serve_body_type_ok(const char *content_type);

/* The error as the JSON body of a 4xx/5xx response (malloc'd text). */
char *serve_error_json(const struct serve_error *e);

/* Make s valid UTF-8 in place, as JSON needs it: a character cut by the
 * end of the string (a message cut to its buffer, the tail of a log) is
 * dropped, any other byte that starts no valid character becomes '?'.
 * Without it jansson refuses the string and the answer loses its field. */
void serve_utf8_fix(char *s);
/* A JSON string of s made valid so (a new reference; never NULL but when
 * out of memory). */
json_t *serve_json_text(const char *s);

/*
 * Leases (docs/api.md): a job started with one is stopped (SIGTERM: it
 * reverts) when its client has not renewed it for that long, so that a
 * client that dies (a killed test run) does not leave its fault in force
 * until the fault's own duration ends.
 */
#define SERVE_LEASE_MIN_US 1000000ULL /* the loop looks once a second */
#define SERVE_LEASE_MAX_US (3600ULL * 1000000ULL)

/* A lease's text ("5s") into *us, checked (1s .. 1h); `field` names it in
 * the 422 ("lease"). */
int serve_lease_parse(const char *text, const char *field, uint64_t *us, struct serve_error *e);

#define SERVE_ARGV_MAX 128

/*
 * POST /v1/faults: {"fault": NAME, "target": SPEC, "duration": DUR,
 * "options": {OPT: VALUE}, "force": BOOL, "interval": DUR, "baseline": DUR,
 * "id": ID, "lease": DUR}.
 * Parses and checks it as `duress inject` does its command line: the
 * fault's option table (fault_opt_set, bounds and types), its validate()
 * hook, the duration (>= 100ms), the target spec's syntax.  On success f
 * is initialised (caller: fault_free) and argv holds the inject arguments
 * from "inject" on (without --samples/--summary/--state-dir; free with
 * serve_fault_req_free, after fault_free: f points into argv).  Errors: 400 for malformed JSON, 422 for a bad
 * field, naming it.
 */
struct serve_fault_req {
	const struct fault_desc *desc;
	char id[SERVE_ID_MAX + 1]; /* chosen by the client, "" = make one */
	char target[4096];
	char duration[32];
	uint64_t duration_us;
	uint64_t lease_us; /* 0: no lease */
	bool force;
	char *argv[SERVE_ARGV_MAX];
	size_t argc;
};

int serve_fault_parse(const char *body, size_t len, struct fault *f, struct serve_fault_req *req,
		      struct serve_error *e);
void serve_fault_req_free(struct serve_fault_req *req);

/* 1 when the query string value `v` names this target: the spec as given,
 * the cgroup directory or its path below the cgroup2 mount. */
bool serve_target_matches(const char *v, const char *spec, const char *dir, const char *rel);

#endif
