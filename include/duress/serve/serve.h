/* SPDX-License-Identifier: MIT */
/*
 * duress serve: the HTTP API (docs/api.md).
 *
 * agent/serve/serve_api.c holds the parts that do not touch the network or the
 * kernel, so that they can be unit tested: routing, the bearer token
 * check, the single-fault request (JSON) into the arguments of the
 * `duress inject` child, and the Prometheus text exposition.
 * agent/serve/serve_listen.c makes the listeners (unix socket, TCP).
 * agent/serve/serve_jobs.c keeps the jobs: child processes of the agent itself
 * that run each posted experiment or fault, their checks before they
 * start, their end, and the agent's own samples of their targets.
 * agent/serve/cmd_serve.c is the daemon: libmicrohttpd in the agent's own event
 * loop (one thread), the handlers and the loop.
 */
#ifndef DURESS_SERVE_H
#define DURESS_SERVE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/faults/fault.h>
#include <duress/samples/sample.h>
#include <duress/targets/target.h>

#define SERVE_ID_MAX 32
#define SERVE_BODY_MAX (1024 * 1024) /* request bodies above this: 413 */
/* The API's version: raised when a change would break an existing client
 * (a path, a field or a meaning gone or changed); additions are listed in
 * serve_version_json()'s features instead. */
#define SERVE_API_VERSION 1

enum serve_route {
	ROUTE_NONE,        /* unknown path: 404 */
	ROUTE_HEALTHZ,     /* GET /healthz */
	ROUTE_VERSION,     /* GET /v1/version */
	ROUTE_METRICS,     /* GET /metrics */
	ROUTE_TARGETS,     /* GET /v1/targets */
	ROUTE_SAMPLES,     /* GET /v1/samples */
	ROUTE_EXPERIMENTS, /* GET, POST /v1/experiments */
	ROUTE_EXPERIMENT,  /* GET, DELETE /v1/experiments/{id} */
	ROUTE_FAULTS,      /* GET, POST /v1/faults */
	ROUTE_FAULT,       /* GET, DELETE /v1/faults/{id} */
	ROUTE_EXPERIMENT_LEASE, /* POST /v1/experiments/{id}/lease */
	ROUTE_FAULT_LEASE,      /* POST /v1/faults/{id}/lease */
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

/* The error as the JSON body of a 4xx/5xx response (malloc'd text). */
char *serve_error_json(const struct serve_error *e);

/*
 * Leases (docs/api.md): a job started with one is stopped (SIGTERM: it
 * reverts) when its client has not renewed it for that long, so that a
 * client that dies (a killed test run) does not leave its fault in force
 * until the fault's own duration ends.
 */
#define SERVE_LEASE_MIN_US 1000000ULL           /* the loop looks once a second */
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

/* ---- Prometheus text exposition (version 0.0.4) ---- */

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

/* 1 when the query string value `v` names this target: the spec as given,
 * the cgroup directory or its path below the cgroup2 mount. */
bool serve_target_matches(const char *v, const char *spec, const char *dir, const char *rel);

/* ---- listeners (agent/serve/serve_listen.c) ---- */

/* True for 127.0.0.0/8 and ::1. */
bool serve_is_loopback(const struct sockaddr *sa);

/* Pure: "127.0.0.1:8080", "[::1]:8080" into ss/len; numeric only, never a
 * name lookup.  -1 if the text is not that. */
int serve_parse_tcp(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* A listening unix socket at path (absolute): parent directories made,
 * the last one 0700, the socket 0600; a stale socket (nobody answers) is
 * replaced, a live one refused (DURESS_EXIT_REFUSED).  The fd, or < 0. */
int serve_listen_unix(const char *path, struct duress_err *err);

/* A listening TCP socket; `text` names it in errors.  The fd, or < 0. */
int serve_listen_tcp(const struct sockaddr_storage *ss, socklen_t len, const char *text,
		     struct duress_err *err);

/* ---- jobs (agent/serve/serve_jobs.c) ---- */

#define SERVE_MAX_JOBS 256   /* kept, finished ones included (oldest finished dropped) */
#define SERVE_RING 120       /* samples kept per job: two minutes at 1 Hz */
#define SERVE_MAX_WAITERS 8  /* DELETE requests waiting for one job to end */
#define SERVE_SHUTDOWN_WAIT_S 120 /* serve's SIGTERM: jobs get this long to revert */

enum job_state { JOB_RUNNING, JOB_STOPPING, JOB_EXITED };

struct MHD_Connection;

struct job {
	char id[SERVE_ID_MAX + 1];
	bool experiment;
	char what[256];      /* fault name, or the experiment's title */
	char kinds[256];     /* the faults it applies, space-separated ("memory cpu") */
	char spec[PATH_MAX]; /* target as given ("" = a sandbox) */
	struct target t;
	bool have_t;
	char dir[PATH_MAX + 64];
	pid_t pid;
	enum job_state state;
	int exit_code, signal;
	struct timespec started, ended;
	double started_mono, stop_mono;
	/* the agent's own samples of the target, JSON lines: sample k is
	 * ring[k % SERVE_RING] while k + SERVE_RING >= total */
	char *ring[SERVE_RING];
	size_t ring_n, ring_head;
	uint64_t total;
	struct sample last;
	bool have_last;
	/* lease: stopped when not renewed for lease_s (0: none) */
	double lease_s, lease_deadline;
	bool lease_expired;
	/* DELETE requests answered when it ends (the daemon's business) */
	struct MHD_Connection *waiters[SERVE_MAX_WAITERS];
	size_t nwaiters;
};

struct job_table {
	struct job *jobs[SERVE_MAX_JOBS];
	size_t njobs;
	unsigned long seq;           /* numbers the ids the server chooses */
	struct prom_agent stats;     /* for /metrics */
	const char *state_dir;       /* job directories go below STATE/serve/ */
	const struct cg_root *root;  /* NULL: no cgroup v2 here, targets refused */
	double mono0;                /* samples' t = 0 */
	/* called when a job has ended (the daemon answers who waits for it) */
	void (*on_exit)(struct job *j);
};

/* A new job: the id given (checked: [A-Za-z0-9-], not taken) or one
 * chosen, and a directory of its own, STATE/serve/ID.  NULL with e set
 * (422, 409, 503 when the table is full of running jobs, 500). */
struct job *job_new(struct job_table *tab, bool experiment, const char *id,
		    struct serve_error *e);
/* Drop a job that was never started: its directory and the job. */
void job_discard(struct job *j);
void job_free(struct job *j);
/* Resolve the job's target (j->spec) and check what the command line
 * checks before it changes anything (guard rails); 422 naming it. */
int job_resolve_target(struct job_table *tab, struct job *j, bool force, struct serve_error *e);
/* 409 when one of j's kinds of fault is already in force on its target,
 * by another job of this server or by any agent (its lock). */
int job_busy_check(const struct job_table *tab, const struct job *j, struct serve_error *e);
/* Start it: re-execute the agent with argv (argv[0]: its name), output to
 * DIR/log; the child gets SIGTERM (reverts) if the server dies.  Added to
 * the table. */
int job_spawn(struct job_table *tab, struct job *j, char **argv, struct serve_error *e);
/* SIGTERM to a running job (it reverts and exits 8). */
void job_stop(struct job *j);
/* Give j a lease of us microseconds, or renew it (from now). */
void job_lease_renew(struct job *j, uint64_t us);
/* Stop the running jobs whose lease ran out (the 1 Hz round). */
void jobs_expire_leases(struct job_table *tab);
struct job *job_find(const struct job_table *tab, const char *id, bool experiment);
struct job *job_by_id(const struct job_table *tab, const char *id);
/* The job as the API shows it; full adds the journal or summary and the
 * end of its log. */
json_t *job_json(const struct job *j, bool full);
/* Reap ended children, mark their jobs, count them, call on_exit. */
void jobs_reap(struct job_table *tab);
/* Sample the target of every running job (the 1 Hz round). */
void jobs_sample(struct job_table *tab);
/* GET /v1/samples?target=SPEC&now=1: one sample of any target, taken now
 * (with the CPU rate when a running job's last sample of the same cgroup
 * gives one), as a JSON line with "target" (its directory) added;
 * malloc'd.  NULL with e set: 422 naming target, 503 without cgroup v2. */
char *jobs_sample_now(const struct job_table *tab, const char *spec, struct serve_error *e);
unsigned jobs_running(const struct job_table *tab);
/* Stop every job and wait (signals read from sfd) until all have ended;
 * what is still running after SERVE_SHUTDOWN_WAIT_S is killed (its
 * guardian reverts). */
void jobs_stop_all(struct job_table *tab, int sfd);

/* A whole small file (at most max bytes from its end when tail), NUL
 * terminated; NULL if it cannot be read. */
char *serve_slurp(const char *path, size_t max, bool tail, size_t *len);

#endif
