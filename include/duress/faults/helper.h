/* SPDX-License-Identifier: MIT */
/*
 * A long-running helper process owned by a fault: the proxy of the http and
 * tcp faults, later a connection holder or a supervisor.  A fault uses it
 * in a handful of lines:
 *
 *     apply:   fault_helper_start(f, &p->helper, &spec, err)
 *     tick:    fault_helper_poll(&p->helper, err)     (reap, counters, restart)
 *     report:  fault_helper_counters(&p->helper)      (a JSON object)
 *     sample:  fault_helper_sample(&p->helper, sample)
 *     release: fault_helper_release(&p->helper)
 *
 * Start: one fork; the child resets its signal mask and handlers, gets
 * PR_SET_PDEATHSIG SIGKILL, closes the agent's private descriptors
 * (session_child_close) and then every other descriptor but the control
 * socket and spec->keep_fds, and WAITS on a pipe.  Meanwhile the parent
 * records a "kill" undo step naming the child's pid and start time, so the
 * revert, the guardian (after kill -9 of the agent) and `duress recover`
 * end it; only then is the child let go: it enters spec->netns_fd (if any)
 * and runs spec->main(spec->arg, ctl).  When spec->ready_timeout_us is set,
 * start returns once the child said {"t":"ready"}, or fails with what it
 * said instead.
 *
 * The control channel is a socketpair; the child writes JSON lines:
 *     {"t":"ready"}                      set up, serving
 *     {"t":"stats","data":{...}}         counters, about once a second
 *     {"t":"event","msg":"..."}          worth telling the user (stderr)
 *     {"t":"error","msg":"..."}          fatal, said before exiting
 * Counters are nested objects of numbers: across restarts, whole numbers
 * are added to those of the helpers that died before; other numbers (p99s)
 * are taken from the live one.  The parent never blocks on the channel.
 * The child ends itself when the channel reaches EOF (the agent is gone),
 * and, earlier, when a thread of it that waits on a robust mutex held by
 * the agent's main thread gets it as "owner died" (the first step of the
 * agent's exit; helper.c).
 */
#ifndef DURESS_FAULT_HELPER_H
#define DURESS_FAULT_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/faults/fault.h>

#define FAULT_HELPER_MAX_KEEP 8
#define FAULT_HELPER_LINE_MAX 65536
#define FAULT_HELPER_STOP_US 2000000 /* SIGTERM, then SIGKILL after this */
#define FAULT_HELPER_BACKOFF_MIN_US 100000
#define FAULT_HELPER_BACKOFF_MAX_US 5000000

struct fault_helper_spec {
	const char *name;		     /* process name (comm, 15 chars) and for messages */
	int netns_fd;			     /* enter this network namespace first, or -1 */
	int (*main)(void *arg, int ctl_fd);  /* in the child; its result is the exit code */
	void *arg;			     /* what main gets (the child has a copy of memory) */
	int keep_fds[FAULT_HELPER_MAX_KEEP]; /* descriptors the child keeps (a listener) */
	size_t nkeep;
	unsigned max_restarts;	   /* deaths restarted (with backoff); 0: none */
	uint64_t ready_timeout_us; /* wait for "ready"; 0: do not wait */
};

struct fault_helper {
	struct fault_helper_spec spec;
	struct fault *f; /* the owner: its undo log and name */
	pid_t pid;	 /* 0: not running */
	int ctl;	 /* our end of the channel, non-blocking; -1 */
	size_t undo_idx; /* the "kill" step of pid */
	bool has_undo;
	char *rbuf; /* partial line */
	size_t rlen;
	bool skipping;	     /* inside a line longer than the limit */
	json_t *last, *base; /* counters: live helper, dead helpers summed */
	unsigned restarts;
	uint64_t restart_at_us; /* monotonic; 0: none due */
	uint64_t backoff_us;
	int last_status;      /* wait status of the last death */
	char last_error[256]; /* its last "error" line */
	bool failed;	      /* gave up: poll reports it every time */
};

/* Start the helper (see above).  On failure nothing is left running and
 * the undo step (if recorded) is done. */
int fault_helper_start(struct fault *f, struct fault_helper *h,
		       const struct fault_helper_spec *spec, struct duress_err *err);

/*
 * From the fault's tick, never blocking: read the channel, reap the child
 * if it died (its undo step is then done), restart it when its backoff has
 * passed.  0 while all is well (or a restart is pending); < 0 once it died
 * more than spec.max_restarts times (the error says how it ended).
 */
int fault_helper_poll(struct fault_helper *h, struct duress_err *err);

/* Live: running now. */
bool fault_helper_running(const struct fault_helper *h);

/* The counters (dead helpers' whole numbers added): a new reference, or
 * NULL before the first "stats" line. */
json_t *fault_helper_counters(const struct fault_helper *h);

/* Merge the counters into a sample's JSON object (its top-level keys:
 * "http": {...} becomes http.requests and so on once flattened). */
void fault_helper_sample(const struct fault_helper *h, json_t *sample);

/* End it now: SIGTERM, SIGKILL after FAULT_HELPER_STOP_US, reaped, its
 * undo step marked done. */
void fault_helper_stop(struct fault_helper *h);

/* After the revert ended it: read what it said last (its final
 * counters), reap it; never restarts.  For report(). */
void fault_helper_collect(struct fault_helper *h);

/* After the revert (which may have killed it): reap, close, free. */
void fault_helper_release(struct fault_helper *h);

/* ---- in the child ---- */

/* Write one JSON line {"t": type, ...} to the channel, without blocking
 * (a full channel drops it: counters come again).  data (may be NULL) is
 * put under "data"; msg (may be NULL) under "msg". */
int fault_helper_send(int ctl_fd, const char *type, json_t *data, const char *msg);

/* Add src's whole numbers to dst's, recursively (objects of numbers);
 * other numbers replace dst's.  Pure; exported for tests. */
void fault_helper_merge(json_t *dst, json_t *src);

#endif
