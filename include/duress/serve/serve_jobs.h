/* SPDX-License-Identifier: MIT */
/*
 * The jobs of `duress serve` (agent/serve/serve_jobs.c): every posted
 * experiment or fault runs as a child process that re-executes the agent
 * (`duress run` / `duress inject`), checked before it starts; their end,
 * and the agent's own samples of their targets.
 */
#ifndef DURESS_SERVE_JOBS_H
#define DURESS_SERVE_JOBS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <duress/core/cgroup.h>
#include <duress/samples/sample.h>
#include <duress/serve/serve_api.h>
#include <duress/serve/serve_prom.h>
#include <duress/targets/target.h>

#define SERVE_MAX_JOBS 256	  /* kept, finished ones included (oldest finished dropped) */
#define SERVE_RING 120		  /* samples kept per job: two minutes at 1 Hz */
#define SERVE_MAX_WAITERS 8	  /* DELETE requests waiting for one job to end */
#define SERVE_SHUTDOWN_WAIT_S 120 /* serve's SIGTERM: jobs get this long to revert */
/* bytes the jobs' directories may hold under STATE/serve (a tmpfs /run or
 * a memory-backed volume): past it the oldest finished jobs are dropped,
 * directories and all */
#define SERVE_STATE_BYTES_MAX (64ULL << 20)

enum job_state { JOB_RUNNING, JOB_STOPPING, JOB_EXITED };

struct MHD_Connection;

#define JOB_MAX_PROBES 8

struct job {
	char id[SERVE_ID_MAX + 1];
	bool experiment;
	char what[256];	     /* fault name, or the experiment's title */
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
	uint64_t bytes; /* its directory's, once it has ended */
	/* an experiment's probe latencies, from its probes.jsonl (read up to
	 * probes_off); at most JOB_MAX_PROBES probes, the others left out */
	struct prom_hist probes[JOB_MAX_PROBES];
	size_t nprobes;
	long probes_off;
};

struct job_table {
	struct job *jobs[SERVE_MAX_JOBS];
	size_t njobs;
	unsigned long seq;	    /* numbers the ids the server chooses */
	struct prom_agent stats;    /* for /metrics */
	const char *state_dir;	    /* job directories go below STATE/serve/ */
	const struct cg_root *root; /* NULL: no cgroup v2 here, targets refused */
	double mono0;		    /* samples' t = 0 */
	uint64_t bytes_max;	    /* 0: SERVE_STATE_BYTES_MAX */
	/* called when a job has ended (the daemon answers who waits for it) */
	void (*on_exit)(struct job *j);
};

/* A new job: the id given (checked: [A-Za-z0-9-], not taken) or one
 * chosen, and a directory of its own, STATE/serve/ID.  NULL with e set
 * (422, 409, 503 when the table is full of running jobs, 500). */
struct job *job_new(struct job_table *tab, bool experiment, const char *id, struct serve_error *e);
/* Drop a job that was never started: its directory and the job. */
void job_discard(struct job *j); /* its directory removed too */
/* Bytes the job's directory holds (its files, as allocated). */
uint64_t job_dir_bytes(const struct job *j);
/* Drop the oldest finished jobs, directories and all, while the jobs'
 * directories hold more than the table's cap (the newest finished job is
 * kept).  Called when jobs end. */
void jobs_trim(struct job_table *tab);
void job_free(struct job *j);
/* Read what an experiment job's run added to DIR/probes.jsonl (complete
 * lines, validated) into j->probes. */
void job_read_probes(struct job *j);
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
/* Over the API no body an http probe fetched is shown (the agent fetched
 * it as root, from where the client may not reach): every "output" object's
 * "body" becomes null. */
void serve_withhold_bodies(json_t *v);
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

#endif
