// SPDX-License-Identifier: MIT
/* Undo records, the log and its revert, the process kinds (undo.h). */
#include <duress/core/cleanup.h>
#include <duress/core/proc.h>
#include <duress/core/undo.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- kill ---- */

static int revert_kill(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	long pid = strtol(rec->where, NULL, 10);
	unsigned long long want = strtoull(rec->what, NULL, 10), now;

	if (pid <= 0)
		return duress_err_set(err, EINVAL, "kill: bad pid '%s'", rec->where);
	if (proc_starttime((pid_t)pid, &now) < 0 || now != want || !proc_is_agents((pid_t)pid)) {
		*gone = true; /* exited, or the pid was reused: not ours */
		return 0;
	}
	if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
		return duress_err_set(err, errno, "kill process %ld", pid);
	return 0;
}

static void describe_kill(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "kill process %s", rec->where);
}

/* ---- helper: a long-running process of a fault (a proxy) ---- */

/* SIGTERM (the helper says its last counters and ends), SIGKILL if it has
 * not ended after UNDO_HELPER_STOP_US.  A pid that is gone, reused (its
 * start time differs) or not one of the agent's is left alone: gone. */
#define UNDO_HELPER_STOP_US 2000000

static int revert_helper(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	long pid = strtol(rec->where, NULL, 10);
	unsigned long long want = strtoull(rec->what, NULL, 10), now;
	struct timespec t0, t;

	if (pid <= 0)
		return duress_err_set(err, EINVAL, "helper: bad pid '%s'", rec->where);
	if (proc_starttime((pid_t)pid, &now) < 0 || now != want || proc_state((pid_t)pid) == 'Z' ||
	    !proc_is_agents((pid_t)pid)) {
		*gone = true;
		return 0;
	}
	if (kill((pid_t)pid, SIGTERM) < 0) {
		if (errno == ESRCH) {
			*gone = true;
			return 0;
		}
		return duress_err_set(err, errno, "end process %ld (%s)", pid, rec->value);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char st = proc_state((pid_t)pid);

		if (!st || st == 'Z')
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000000LL + (t.tv_nsec - t0.tv_nsec) / 1000 >
		    UNDO_HELPER_STOP_US)
			break;
		usleep(2000);
	}
	if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
		return duress_err_set(err, errno, "kill process %ld (%s)", pid, rec->value);
	return 0;
}

static void describe_helper(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "end process %s (%s): SIGTERM, then SIGKILL", rec->where, rec->value);
}

static bool all_digits(const char *s);

static int check_helper(const struct undo_rec *rec, char *why, size_t len)
{
	if (!all_digits(rec->where) || !strtol(rec->where, NULL, 10) || !all_digits(rec->what) ||
	    strncmp(rec->value, "duress", 6)) {
		snprintf(why, len,
			 "helper: '%.20s' '%.30s' '%.40s' is not one of the agent's helpers",
			 rec->where, rec->what, rec->value);
		return -1;
	}
	return 0;
}

const struct undo_kind undo_kind_helper = { "helper", revert_helper, describe_helper,
					    check_helper };

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int check_kill(const struct undo_rec *rec, char *why, size_t len)
{
	if (!all_digits(rec->where) || !strtol(rec->where, NULL, 10) || !all_digits(rec->what)) {
		snprintf(why, len, "kill: '%s' '%s' is not a pid and a start time", rec->where,
			 rec->what);
		return -1;
	}
	return 0;
}

const struct undo_kind undo_kind_kill = { "kill", revert_kill, describe_kill, check_kill };

/* ---- cont: a process the stop fault stopped ---- */

static int revert_cont(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	long pid = strtol(rec->where, NULL, 10);
	unsigned long long want = strtoull(rec->what, NULL, 10), now;

	if (pid <= 0)
		return duress_err_set(err, EINVAL, "cont: bad pid '%s'", rec->where);
	if (proc_starttime((pid_t)pid, &now) < 0 || now != want) {
		*gone = true; /* exited, or the pid was reused: not the one stopped */
		return 0;
	}
	if (kill((pid_t)pid, SIGCONT) < 0) {
		if (errno == ESRCH) {
			*gone = true;
			return 0;
		}
		return duress_err_set(err, errno, "resume process %ld (%s)", pid, rec->value);
	}
	return 0;
}

static void describe_cont(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "resume process %s (%s): SIGCONT", rec->where, rec->value);
}

static int check_cont(const struct undo_rec *rec, char *why, size_t len)
{
	if (!all_digits(rec->where) || !strtol(rec->where, NULL, 10) || !all_digits(rec->what)) {
		snprintf(why, len, "cont: '%.20s' '%.30s' is not a pid and a start time",
			 rec->where, rec->what);
		return -1;
	}
	return 0;
}

const struct undo_kind undo_kind_cont = { "cont", revert_cont, describe_cont, check_cont };

/* ---- the log ---- */

void undo_log_init(struct undo_log *log)
{
	memset(log, 0, sizeof(*log));
}

void undo_log_free(struct undo_log *log)
{
	for (size_t i = 0; i < log->n; i++)
		free(log->recs[i].value);
	free(log->recs);
	memset(log, 0, sizeof(*log));
}

int undo_record(struct undo_log *log, const struct undo_kind *kind, const char *fault,
		const char *where, const char *what, const char *value, struct duress_err *err)
{
	struct undo_rec *r;

	if (log->n == log->cap) {
		size_t ncap = log->cap ? log->cap * 2 : 8;
		struct undo_rec *nr = realloc(log->recs, ncap * sizeof(*nr));

		if (!nr)
			return duress_err_set(err, ENOMEM, "undo: record %s %s", kind->name, where);
		log->recs = nr;
		log->cap = ncap;
	}
	r = &log->recs[log->n];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	snprintf(r->fault, sizeof(r->fault), "%s", fault ? fault : "");
	if ((size_t)snprintf(r->where, sizeof(r->where), "%s", where ? where : "") >=
	    sizeof(r->where))
		return duress_err_set(err, ENAMETOOLONG, "undo: record %s: '%s'", kind->name,
				      where);
	if ((size_t)snprintf(r->what, sizeof(r->what), "%s", what ? what : "") >= sizeof(r->what))
		return duress_err_set(err, ENAMETOOLONG, "undo: record %s: '%s'", kind->name, what);
	r->value = strdup(value ? value : "");
	if (!r->value)
		return duress_err_set(err, ENOMEM, "undo: record %s %s", kind->name, where);
	r->jid = log->n;
	/* Persisted before the caller may act: no journal line, no change. */
	if (log->sink && log->sink->add(log->sink_ctx, r, err) < 0) {
		free(r->value);
		r->value = NULL;
		return duress_err_wrap(err, "undo journal");
	}
	return (int)log->n++;
}

static void mark_done(struct undo_log *log, size_t idx)
{
	struct duress_err e = { 0 };

	log->recs[idx].done = true;
	/* A lost DONE line only means a harmless, idempotent second revert. */
	if (log->sink && log->sink->done(log->sink_ctx, &log->recs[idx], &e) < 0)
		fprintf(stderr, "duress: %s\n", e.msg);
}

void undo_forget(struct undo_log *log, size_t idx)
{
	if (idx < log->n && !log->recs[idx].done)
		mark_done(log, idx);
}

static int revert_rec(struct undo_log *log, size_t idx, bool *gone, struct duress_err *err)
{
	struct undo_rec *r = &log->recs[idx];

	*gone = false;
	if (r->kind->revert(r, gone, err) < 0)
		return -1;
	mark_done(log, idx);
	return 0;
}

/* Revert step i into the report (skipped when done). */
static void revert_into(struct undo_log *log, size_t i, struct undo_report *report)
{
	struct duress_err e = { 0 };
	bool gone = false;

	if (i >= log->n || log->recs[i].done)
		return;
	if (revert_rec(log, i, &gone, &e) < 0) {
		if (report->failed < DURESS_ARRAY_SIZE(report->failures))
			snprintf(report->failures[report->failed], sizeof(report->failures[0]),
				 "%s", e.msg);
		report->failed++;
		return;
	}
	if (gone)
		report->gone++;
	else
		report->reverted++;
}

int undo_revert_all(struct undo_log *log, struct undo_report *report)
{
	memset(report, 0, sizeof(*report));
	for (size_t i = log->n; i-- > 0;)
		revert_into(log, i, report);
	return report->failed ? -1 : 0;
}

int undo_revert_steps(struct undo_log *log, const size_t *idx, size_t n, struct undo_report *report)
{
	memset(report, 0, sizeof(*report));
	for (size_t k = n; k-- > 0;)
		revert_into(log, idx[k], report);
	return report->failed ? -1 : 0;
}

void undo_report_add(struct undo_report *to, const struct undo_report *from)
{
	for (size_t i = 0; i < from->failed && i < DURESS_ARRAY_SIZE(from->failures); i++)
		if (to->failed + i < DURESS_ARRAY_SIZE(to->failures))
			snprintf(to->failures[to->failed + i], sizeof(to->failures[0]), "%s",
				 from->failures[i]);
	to->reverted += from->reverted;
	to->gone += from->gone;
	to->failed += from->failed;
}

void undo_log_print(const struct undo_log *log, FILE *f, const char *prefix)
{
	for (size_t i = 0; i < log->n; i++) {
		const struct undo_rec *r = &log->recs[i];
		char buf[1024];

		if (r->done)
			continue;
		r->kind->describe(r, buf, sizeof(buf));
		fprintf(f, "%s%s\n", prefix, buf);
	}
}
