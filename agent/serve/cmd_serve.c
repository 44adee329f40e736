// SPDX-License-Identifier: MIT
/*
 * duress serve: the HTTP API (docs/api.md).
 *
 * One thread.  libmicrohttpd runs in the agent's own event loop (its epoll
 * fd polled beside a signalfd and a 1 Hz timerfd), so a request handler
 * may fork without the hazards of a threaded fork, and no state needs a
 * lock.  Every experiment or fault is a job (serve_jobs.c): a child
 * process re-executing the agent (`duress run` / `duress inject`) with its
 * journal, samples and summary in a directory of its own under
 * STATE/serve/, so the undo journal, the guardian, the locks and the
 * signal handling of the command line cover it, and a crash in a job
 * cannot take the API down.  Input is checked here first, as the command
 * line checks it, so that bad input is a 4xx and nothing starts.  DELETE
 * sends the job SIGTERM (it reverts and exits 8) and answers once it has
 * exited.  The agent samples the targets of its jobs itself at 1 Hz for
 * /metrics and /v1/samples.
 */
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/cmd/cli.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/experiment/manifest.h>
#include <duress/session/runtime.h>
#include <duress/samples/sample.h>
#include <duress/serve/serve.h>
#include <duress/session/session.h>
#include <duress/targets/target.h>
#include <duress/core/undo_journal.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN "unix:/run/duress/duress.sock"
#define STOP_WAIT_S 60 /* a DELETE answers 202 if the job is not gone by then */

struct server {
	struct MHD_Daemon *d;
	char token[512];
	bool need_token;
	bool allow_commands; /* --allow-commands: process probes, ${env} */
	char state_dir[PATH_MAX];
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct cg_root root;
	bool have_root;
	struct job_table tab;
	bool stopping;
};

static struct server S;
static char self_exe[PATH_MAX] = "duress"; /* argv[0] of jobs: the agent's path, for ps */

/* GET /v1/samples?follow=1: a response that waits (suspended) for the
 * next sample of its job: the server's own (target=, from the job's ring)
 * or the job's file (job=, read from an offset, whole lines only). */
struct follower {
	char id[SERVE_ID_MAX + 1];
	uint64_t next;          /* ring: the next sample's number */
	bool file;              /* job=: DIR/samples.jsonl */
	char path[PATH_MAX + 128];
	uint64_t off;           /* file: bytes already sent */
	struct MHD_Connection *c;
	bool suspended;
	struct follower *nextf;
};

static struct follower *followers;
static void resume_followers(void);

struct req {
	enum serve_route route;
	char id[SERVE_ID_MAX + 1];
	char *body;
	size_t len;
	bool too_big;
	size_t discarded;
	bool resumed;
	bool deleting; /* a DELETE suspended until its job exits */
	unsigned long targets_gen; /* GET /v1/targets: waits for this listing */
};

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
			       char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
	size_t n;

	json_decref(j);
	if (!s)
		return MHD_NO;
	n = strlen(s);
	s = realloc(s, n + 2);
	if (!s)
		return MHD_NO;
	s[n] = '\n';
	s[n + 1] = '\0';
	return respond(c, status, "application/json", s, n + 1);
}

static enum MHD_Result respond_error(struct MHD_Connection *c, const struct serve_error *e)
{
	char *s = serve_error_json(e);

	if (!s)
		return MHD_NO;
	return respond(c, (unsigned)e->status, "application/json", s, strlen(s));
}

/* An error answer with one more header (WWW-Authenticate, Allow). */
static enum MHD_Result respond_error_hdr(struct MHD_Connection *c, const struct serve_error *e,
					 const char *header, const char *value)
{
	char *s = serve_error_json(e);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(s ? strlen(s) : 0, s, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, header, value);
	ret = MHD_queue_response(c, (unsigned)e->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *field,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *field,
			    const char *fmt, ...)
{
	struct serve_error e;
	va_list ap;

	serve_error_set(&e, status, field, "%s", "");
	va_start(ap, fmt);
	vsnprintf(e.reason, sizeof(e.reason), fmt, ap);
	va_end(ap);
	return respond_error(c, &e);
}

static void resume_waiters(struct job *j)
{
	for (size_t i = 0; i < j->nwaiters; i++)
		MHD_resume_connection(j->waiters[i]);
	j->nwaiters = 0;
}

/* ---- handlers ---- */

static enum MHD_Result post_fault(struct MHD_Connection *c, struct req *r)
{
	struct serve_error e = { 0 };
	struct serve_fault_req fr;
	struct duress_err err = { 0 };
	struct fault f;
	struct undo_log undo;
	struct job *j;
	char samples[PATH_MAX + 128], summary[PATH_MAX + 128];
	enum MHD_Result ret;

	if (serve_fault_parse(r->body ? r->body : "", r->len, &f, &fr, &e) < 0)
		return respond_error(c, &e);
	j = job_new(&S.tab, false, fr.id, &e);
	if (!j)
		goto out;
	snprintf(j->what, sizeof(j->what), "%s", fr.desc->name);
	snprintf(j->kinds, sizeof(j->kinds), "%s", fr.desc->name);
	snprintf(j->spec, sizeof(j->spec), "%s", fr.target);
	if (job_resolve_target(&S.tab, j, fr.force, &e) < 0 || job_busy_check(&S.tab, j, &e) < 0)
		goto out_job;
	undo_log_init(&undo);
	f.root = &S.root;
	f.target = &j->t;
	f.undo = &undo;
	if ((fr.desc->supported && fr.desc->supported(&f, &err) < 0) ||
	    (fr.desc->plan && fr.desc->plan(&f, &err) < 0)) {
		/* usage, refused, unsupported: the request cannot run here */
		serve_error_set(&e, err.code == DURESS_EXIT_INTERNAL || !err.code ? 500 : 422,
				"options", "%s", err.msg);
		undo_log_free(&undo);
		goto out_job;
	}
	undo_log_free(&undo);
	snprintf(samples, sizeof(samples), "%s/samples.jsonl", j->dir);
	snprintf(summary, sizeof(summary), "%s/summary.json", j->dir);
	if (fr.argc + 6 >= SERVE_ARGV_MAX) {
		serve_error_set(&e, 422, "options", "too many options");
		goto out_job;
	}
	fr.argv[fr.argc++] = strdup("--samples");
	fr.argv[fr.argc++] = strdup(samples);
	fr.argv[fr.argc++] = strdup("--summary");
	fr.argv[fr.argc++] = strdup(summary);
	fr.argv[fr.argc++] = strdup("--state-dir");
	fr.argv[fr.argc++] = strdup(S.state_dir);
	fr.argv[fr.argc] = NULL;
	for (size_t i = 0; i < fr.argc; i++)
		if (!fr.argv[i]) {
			serve_error_set(&e, 500, "", "out of memory");
			goto out_job;
		}
	{
		/* argv[0] is the agent's name; fr.argv starts at "inject" */
		char *argv[SERVE_ARGV_MAX + 1];

		argv[0] = self_exe;
		memcpy(argv + 1, fr.argv, (fr.argc + 1) * sizeof(char *));
		if (fr.lease_us)
			job_lease_renew(j, fr.lease_us);
		if (job_spawn(&S.tab, j, argv, &e) < 0)
			goto out_job;
	}
	fault_free(&f);
	serve_fault_req_free(&fr);
	ret = respond_json(c, 201, job_json(j, false));
	return ret;
out_job:
	job_discard(j);
out:
	fault_free(&f);
	serve_fault_req_free(&fr);
	return respond_error(c, &e);
}

static bool looks_json(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
			continue;
		return s[i] == '{';
	}
	return false;
}

static json_t *diags_json(struct mf_diags *d)
{
	json_t *a = json_array();

	for (size_t i = 0; i < d->n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "line", json_integer(d->v[i].pos.line));
		json_object_set_new(o, "column", json_integer(d->v[i].pos.col));
		json_object_set_new(o, "message", json_string(d->v[i].msg));
		json_object_set_new(o, "unsupported", json_boolean(d->v[i].unsupported));
		json_array_append_new(a, o);
	}
	return a;
}

/*
 * What the API refuses unless the server runs with --allow-commands: a
 * process probe or action runs a program as root on this host, and an
 * {type: env} configuration value reads the server's environment (its
 * secrets among it).  Over the API either would turn a fault injector into
 * a remote shell, so they are the operator's choice, not the client's.
 */
static int api_policy_check(const struct experiment *x, struct serve_error *e)
{
	static const char why[] = "runs a program as root on this host: refused over the API "
				  "unless the server runs with --allow-commands";
	const struct {
		const char *part;
		const struct action *a;
		size_t n;
	} lists[] = {
		{ "method", x->method, x->nmethod },
		{ "rollback", x->rollback, x->nrollback },
	};
	json_t *config = json_object_get(x->source, "configuration"), *v;
	const char *key;

	if (S.allow_commands)
		return 0;
	for (size_t i = 0; i < x->nsteady; i++)
		if (x->steady[i].type == PROBE_PROCESS)
			return serve_error_set(e, 422, "steady_state",
					       "steady-state probe '%s' (line %u): a process probe %s",
					       x->steady[i].name ? x->steady[i].name : "",
					       x->steady[i].pos.line, why);
	for (size_t l = 0; l < DURESS_ARRAY_SIZE(lists); l++)
		for (size_t i = 0; i < lists[l].n; i++) {
			const struct action *a = &lists[l].a[i];

			if (a->type == ACT_PROBE && a->probe.type == PROBE_PROCESS)
				return serve_error_set(e, 422, lists[l].part,
						       "%s activity '%s' (line %u): a process "
						       "provider %s",
						       lists[l].part, a->name ? a->name : "",
						       a->pos.line, why);
		}
	json_object_foreach(config, key, v) {
		const char *type = json_string_value(json_object_get(v, "type"));

		if (json_is_object(v) && type && !strcmp(type, "env"))
			return serve_error_set(e, 422, "configuration",
					       "configuration.%s: {type: env} reads the server's "
					       "environment: refused over the API unless the server "
					       "runs with --allow-commands",
					       key);
	}
	return 0;
}

static enum MHD_Result post_experiment(struct MHD_Connection *c, struct req *r)
{
	struct serve_error e = { 0 };
	struct duress_err err = { 0 };
	struct experiment x;
	struct mf_diags d;
	struct job *j;
	const char *override = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "target");
	const char *lease = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "lease");
	uint64_t lease_us = 0;
	bool json = looks_json(r->body ? r->body : "", r->len);
	char path[PATH_MAX + 128], journal[PATH_MAX + 128], samples[PATH_MAX + 128];
	const char *name = json ? "manifest.json" : "manifest.yaml";
	FILE *f;

	if (!r->len)
		return fail(c, 400, "body", "%s", "body: empty: an experiment manifest (YAML or JSON)");
	if (lease && serve_lease_parse(lease, "lease", &lease_us, &e) < 0)
		return respond_error(c, &e);
	mf_diags_init(&d, name);
	if (experiment_load_text(name, r->body, r->len, &x, &d, &err) < 0) {
		json_t *o = json_object();
		int status = !x.root ? 400 : err.code == DURESS_EXIT_UNSUPPORTED ? 422 : 422;

		json_object_set_new(o, "error", json_string(err.msg));
		json_object_set_new(o, "field", json_string("body"));
		json_object_set_new(o, "status", json_integer(status));
		json_object_set_new(o, "problems", diags_json(&d));
		experiment_free(&x);
		mf_diags_free(&d);
		return respond_json(c, (unsigned)status, o);
	}
	mf_diags_free(&d);
	if (api_policy_check(&x, &e) < 0) {
		experiment_free(&x);
		return respond_error(c, &e);
	}
	j = job_new(&S.tab, true, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id"), &e);
	if (!j) {
		experiment_free(&x);
		return respond_error(c, &e);
	}
	snprintf(j->what, sizeof(j->what), "%s", x.title ? x.title : "");
	snprintf(j->spec, sizeof(j->spec), "%s", override && *override ? override
						 : x.target		 ? x.target
									 : "");
	for (size_t i = 0; i < x.nmethod; i++) {
		const char *k = x.method[i].type == ACT_FAULT ? x.method[i].fault->name : NULL;
		char have[sizeof(j->kinds) + 2], want[64];

		if (!k)
			continue;
		snprintf(have, sizeof(have), " %s ", j->kinds);
		snprintf(want, sizeof(want), " %s ", k);
		if (!strstr(have, want))
			snprintf(j->kinds + strlen(j->kinds), sizeof(j->kinds) - strlen(j->kinds),
				 "%s%s", j->kinds[0] ? " " : "", k);
	}
	experiment_free(&x);
	if (job_resolve_target(&S.tab, j, false, &e) < 0 || job_busy_check(&S.tab, j, &e) < 0)
		goto out_job;
	snprintf(path, sizeof(path), "%s/%s", j->dir, name);
	snprintf(journal, sizeof(journal), "%s/journal.json", j->dir);
	snprintf(samples, sizeof(samples), "%s/samples.jsonl", j->dir);
	f = fopen(path, "wxe");
	if (!f || fwrite(r->body, 1, r->len, f) != r->len || fclose(f) != 0) {
		serve_error_set(&e, 500, "", "cannot write %s", path);
		goto out_job;
	}
	{
		char *argv[16];
		size_t n = 0;

		argv[n++] = self_exe;
		argv[n++] = "run";
		argv[n++] = path;
		argv[n++] = "-q";
		argv[n++] = "--journal";
		argv[n++] = journal;
		argv[n++] = "--samples";
		argv[n++] = samples;
		argv[n++] = "--state-dir";
		argv[n++] = S.state_dir;
		if (j->spec[0]) {
			argv[n++] = "-t";
			argv[n++] = j->spec;
		}
		argv[n] = NULL;
		if (lease_us)
			job_lease_renew(j, lease_us);
		if (job_spawn(&S.tab, j, argv, &e) < 0)
			goto out_job;
	}
	return respond_json(c, 201, job_json(j, false));
out_job:
	unlink(path);
	job_discard(j);
	return respond_error(c, &e);
}

static enum MHD_Result list_jobs(struct MHD_Connection *c, bool experiment)
{
	json_t *a = json_array();

	for (size_t i = 0; i < S.tab.njobs; i++)
		if (S.tab.jobs[i]->experiment == experiment)
			json_array_append_new(a, job_json(S.tab.jobs[i], false));
	return respond_json(c, 200, a);
}

static enum MHD_Result delete_job(struct MHD_Connection *c, struct req *r, struct job *j)
{
	if (j->state == JOB_RUNNING) {
		job_stop(j);
		fprintf(stderr, "duress serve: %s %s: DELETE: stopping (SIGTERM to %d)\n",
			j->experiment ? "experiment" : "fault", j->id, j->pid);
	}
	if (j->state == JOB_STOPPING && !r->resumed && j->nwaiters < SERVE_MAX_WAITERS) {
		/* answer once it has reverted and exited (reap() resumes us) */
		j->waiters[j->nwaiters++] = c;
		r->deleting = true;
		MHD_suspend_connection(c);
		return MHD_YES;
	}
	return respond_json(c, j->state == JOB_EXITED ? 200 : 202, job_json(j, true));
}

/* New samples (or the end of the job, or of the server): wake them all. */
static void resume_followers(void)
{
	for (struct follower *f = followers; f; f = f->nextf)
		if (f->suspended) {
			f->suspended = false;
			MHD_resume_connection(f->c);
		}
}

/* The whole lines of f's file from f->off that fit in max bytes (a line
 * longer than max goes in pieces); 0 when nothing new. */
static size_t follow_file(struct follower *f, char *buf, size_t max)
{
	cleanup_close int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : pread(fd, buf, max, (off_t)f->off);
	char *nl;

	if (n <= 0)
		return 0;
	nl = memrchr(buf, '\n', (size_t)n);
	if (nl)
		n = nl - buf + 1;
	else if ((size_t)n < max)
		return 0; /* a line still being written */
	f->off += (uint64_t)n;
	return (size_t)n;
}

static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follower *f = cls;
	struct job *j = job_by_id(&S.tab, f->id);
	size_t n = 0;

	if (!j || S.stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (f->file) {
		bool ended = j->state == JOB_EXITED; /* before the read: no last line lost */

		n = follow_file(f, buf, max);
		if (n)
			return (ssize_t)n;
		if (ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		f->suspended = true;
		MHD_suspend_connection(f->c);
		return 0;
	}
	if (f->next + SERVE_RING < j->total)
		f->next = j->total - SERVE_RING;
	while (f->next < j->total) {
		const char *line = j->ring[f->next % SERVE_RING];
		size_t l = strlen(line);

		if (n + l + 1 > max)
			break;
		memcpy(buf + n, line, l);
		buf[n + l] = '\n';
		n += l + 1;
		f->next++;
	}
	if (n)
		return (ssize_t)n;
	if (j->state == JOB_EXITED)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* nothing new: wait for the next sampling round */
	f->suspended = true;
	MHD_suspend_connection(f->c);
	return 0;
}

static void follow_free(void *cls)
{
	struct follower *f = cls;

	for (struct follower **pp = &followers; *pp; pp = &(*pp)->nextf)
		if (*pp == f) {
			*pp = f->nextf;
			break;
		}
	free(f);
}

/* Where the last `want` lines of a file begin (0: all of it when want is 0). */
static uint64_t last_lines_offset(const char *path, size_t want)
{
	size_t len = 0, lines = 0;
	cleanup_free char *tail = NULL;
	struct stat st;
	char *p;

	if (!want || stat(path, &st) < 0)
		return 0;
	tail = serve_slurp(path, 8 << 20, true, &len);
	if (!tail)
		return 0;
	p = tail + len;
	while (p > tail && p[-1] == '\n')
		p--; /* the end of the last line */
	while (p > tail) {
		if (p[-1] == '\n' && ++lines == want)
			break;
		p--;
	}
	/* the tail was read from (size - len): p - tail bytes into it */
	return (uint64_t)st.st_size - len + (uint64_t)(p - tail);
}

/* Stream job j's samples: the server's own of its target (from the ring,
 * the last `want`), or with file set the job's own file (the last `want`
 * lines; 0: all). */
static enum MHD_Result follow(struct MHD_Connection *c, struct job *j, size_t want, bool file)
{
	struct follower *f = calloc(1, sizeof(*f));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!f)
		return MHD_NO;
	snprintf(f->id, sizeof(f->id), "%s", j->id);
	if (file) {
		f->file = true;
		snprintf(f->path, sizeof(f->path), "%s/samples.jsonl", j->dir);
		f->off = last_lines_offset(f->path, want);
	} else {
		f->next = j->total - (j->ring_n < want ? j->ring_n : want);
	}
	f->c = c;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, follow_read, f,
					      follow_free);
	if (!r) {
		free(f);
		return MHD_NO;
	}
	f->nextf = followers;
	followers = f;
	MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* GET /v1/samples?target=X (or ?job=ID): JSON Lines; &follow=1 streams. */
static enum MHD_Result get_samples(struct MHD_Connection *c)
{
	const char *target = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "target");
	const char *jid = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "job");
	const char *last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last");
	const char *fol = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "follow");
	const char *now = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "now");
	bool follow_on = false;
	struct job *j = NULL;
	size_t want = SERVE_RING, cap = 4096, n = 0;
	char *out;

	if (last) {
		char *end;
		unsigned long v = strtoul(last, &end, 10);

		if (!*last || *end || v == 0 || v > SERVE_RING)
			return fail(c, 422, "last", "last: '%s': expected a count of 1 to 120",
				    last);
		want = v;
	}
	if (fol) {
		if (!strcmp(fol, "1") || !strcmp(fol, "true") || !*fol)
			follow_on = true;
		else if (strcmp(fol, "0") && strcmp(fol, "false"))
			return fail(c, 422, "follow", "follow: '%s': expected 1, true, 0 or false",
				    fol);
	}
	if (jid) {
		char path[PATH_MAX + 128];
		size_t len = 0;
		char *text;

		j = job_by_id(&S.tab, jid);
		if (!j)
			return fail(c, 404, "job", "job: '%s': no such job", jid);
		if (follow_on)
			return follow(c, j, last ? want : 0, true);
		snprintf(path, sizeof(path), "%s/samples.jsonl", j->dir);
		text = serve_slurp(path, 8 << 20, true, &len);
		if (!text)
			text = strdup("");
		return respond(c, 200, "application/x-ndjson", text, text ? strlen(text) : 0);
	}
	if (!target)
		return fail(c, 422, "target", "%s", "target: required (?target=SPEC or ?job=ID)");
	if (now && strcmp(now, "0") && strcmp(now, "false")) {
		struct serve_error e;
		char *line;
		size_t len;

		if (strcmp(now, "1") && strcmp(now, "true") && *now)
			return fail(c, 422, "now", "now: '%s': expected 1, true, 0 or false", now);
		if (follow_on || last)
			return fail(c, 422, "now", "%s", "now: one sample now, without follow or last");
		line = jobs_sample_now(&S.tab, target, &e);
		if (!line)
			return respond_error(c, &e);
		len = strlen(line);
		line[len] = '\n'; /* in place of json_dumps' NUL: the len + 1 bytes sent */
		return respond(c, 200, "application/x-ndjson", line, len + 1);
	}
	/* the newest job on that target, a running one first */
	for (int pass = 0; pass < 2 && !j; pass++)
		for (size_t i = S.tab.njobs; i-- > 0 && !j;)
			if (S.tab.jobs[i]->have_t && (pass || S.tab.jobs[i]->state != JOB_EXITED) &&
			    serve_target_matches(target, S.tab.jobs[i]->spec, S.tab.jobs[i]->t.dir,
						 S.tab.jobs[i]->t.rel))
				j = S.tab.jobs[i];
	if (!j)
		return fail(c, 404, "target",
			    "target: '%s': not the target of a fault or experiment of this agent",
			    target);
	if (follow_on)
		return follow(c, j, want, false);
	out = malloc(cap);
	if (!out)
		return MHD_NO;
	out[0] = '\0';
	for (size_t k = j->ring_n > want ? j->ring_n - want : 0; k < j->ring_n; k++) {
		const char *line = j->ring[(j->ring_head + SERVE_RING - j->ring_n + k) % SERVE_RING];
		size_t l = strlen(line);

		if (n + l + 2 > cap) {
			char *p;

			cap = (n + l + 2) * 2;
			p = realloc(out, cap);
			if (!p) {
				free(out);
				return MHD_NO;
			}
			out = p;
		}
		memcpy(out + n, line, l);
		n += l;
		out[n++] = '\n';
		out[n] = '\0';
	}
	return respond(c, 200, "application/x-ndjson", out, n);
}

static enum MHD_Result get_metrics(struct MHD_Connection *c)
{
	struct prom_target tv[SERVE_MAX_JOBS];
	struct prom_fault fv[SERVE_MAX_JOBS];
	size_t nt = 0, nf = 0, len = 0;
	char *buf = NULL;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return MHD_NO;
	for (size_t i = 0; i < S.tab.njobs; i++) {
		struct job *j = S.tab.jobs[i];
		bool dup = false;

		if (j->state == JOB_EXITED)
			continue;
		fv[nf++] = (struct prom_fault){ .id = j->id,
						.kind = j->experiment ? "experiment" : "fault",
						.fault = j->experiment ? "experiment" : j->what,
						.target = j->have_t ? j->t.dir : "sandbox" };
		if (!j->have_last)
			continue;
		for (size_t k = 0; k < nt; k++)
			dup |= !strcmp(tv[k].target, j->t.dir);
		if (!dup)
			tv[nt++] = (struct prom_target){ .target = j->t.dir, .s = &j->last };
	}
	prom_agent(out, &S.tab.stats, fv, nf);
	prom_targets(out, tv, nt);
	if (fclose(out) != 0) {
		free(buf);
		return MHD_NO;
	}
	return respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
}

/* GET /v1/targets: what `duress targets --format json` prints, from a
 * child (never a shell), at most 10 s. */
/*
 * GET /v1/targets: `duress targets --format json` in a child, read by the
 * event loop (never waited for in a handler: it measures CPU use for a
 * moment, and a host with many containers takes longer).  Requests that
 * come meanwhile wait (suspended) for the same listing; its end (or the
 * TARGETS_WAIT_S limit) answers them all.
 */
#define TARGETS_WAIT_S 10
#define TARGETS_MAX_WAITERS 32
#define TARGETS_MAX_BYTES (16 << 20)

static struct {
	pid_t pid; /* > 0 while a listing runs */
	int fd;    /* its standard output */
	double started;
	char *buf;
	size_t n, cap;
	unsigned long gen; /* listings started */
	struct MHD_Connection *waiters[TARGETS_MAX_WAITERS];
	size_t nwaiters;
	/* the last listing that ended: what its waiters are answered */
	char *answer;
	size_t answer_len;
	bool answer_ok;
	unsigned long answer_gen;
} L = { .fd = -1 };

static int targets_start(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int fd = open("/dev/null", O_RDWR);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], STDOUT_FILENO);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl("/proc/self/exe", self_exe, "targets", "--format", "json", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	L.pid = pid;
	L.fd = p[0];
	L.started = mono_seconds();
	L.n = 0;
	L.gen++;
	return 0;
}

/* The listing ended (EOF), or was stopped (why: too slow, too big, the
 * server stops): keep its answer, wake its waiters. */
static void targets_finish(const char *why)
{
	int status = 0;

	kill(L.pid, SIGKILL);
	if (waitpid(L.pid, &status, 0) < 0)
		status = -1;
	close(L.fd);
	L.fd = -1;
	L.pid = 0;
	free(L.answer);
	L.answer = L.buf;
	L.answer_len = L.n;
	L.answer_ok = !why && status == 0 && L.n > 0;
	L.answer_gen = L.gen;
	L.buf = NULL;
	L.n = L.cap = 0;
	if (why)
		fprintf(stderr, "duress serve: duress targets stopped: %s\n", why);
	for (size_t i = 0; i < L.nwaiters; i++)
		MHD_resume_connection(L.waiters[i]);
	L.nwaiters = 0;
}

/* Read what the listing wrote (the loop saw its fd ready). */
static void targets_read(void)
{
	for (;;) {
		ssize_t r;

		if (L.n + 4096 > L.cap) {
			size_t cap = L.cap ? L.cap * 2 : 65536;
			char *q = cap <= TARGETS_MAX_BYTES ? realloc(L.buf, cap + 1) : NULL;

			if (!q) {
				targets_finish("its output is too big");
				return;
			}
			L.buf = q;
			L.cap = cap;
		}
		r = read(L.fd, L.buf + L.n, L.cap - L.n);
		if (r > 0) {
			L.n += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EAGAIN)
			return;
		L.buf[L.n] = '\0';
		targets_finish(NULL);
		return;
	}
}

static enum MHD_Result get_targets(struct MHD_Connection *c, struct req *r)
{
	if (r->targets_gen && r->targets_gen <= L.answer_gen) {
		if (!L.answer_ok)
			return fail(c, 500, "", "%s", "duress targets failed");
		char *copy = malloc(L.answer_len + 1);

		if (!copy)
			return MHD_NO;
		memcpy(copy, L.answer, L.answer_len);
		return respond(c, 200, "application/json", copy, L.answer_len);
	}
	if (!L.pid && targets_start() < 0)
		return fail(c, 500, "", "duress targets: %s", strerror(errno));
	if (L.nwaiters == TARGETS_MAX_WAITERS)
		return fail(c, 503, "", "%s", "too many requests wait for the target list");
	L.waiters[L.nwaiters++] = c;
	r->targets_gen = L.gen;
	MHD_suspend_connection(c);
	return MHD_YES;
}

static enum MHD_Result dispatch(struct MHD_Connection *c, struct req *r, const char *method)
{
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	struct job *j;

	switch (r->route) {
	case ROUTE_HEALTHZ:
		return respond(c, 200, "text/plain", strdup("ok\n"), 3);
	case ROUTE_VERSION: {
		char *v = serve_version_json();

		return v ? respond(c, 200, "application/json", v, strlen(v)) : MHD_NO;
	}
	case ROUTE_METRICS:
		return get_metrics(c);
	case ROUTE_TARGETS:
		return get_targets(c, r);
	case ROUTE_SAMPLES:
		return get_samples(c);
	case ROUTE_EXPERIMENTS:
	case ROUTE_FAULTS:
		if (get)
			return list_jobs(c, r->route == ROUTE_EXPERIMENTS);
		if (S.stopping)
			return fail(c, 503, "", "%s", "the agent is stopping");
		return r->route == ROUTE_EXPERIMENTS ? post_experiment(c, r) : post_fault(c, r);
	case ROUTE_EXPERIMENT_LEASE:
	case ROUTE_FAULT_LEASE:
		j = job_find(&S.tab, r->id, r->route == ROUTE_EXPERIMENT_LEASE);
		if (!j)
			return fail(c, 404, "id", "'%s': no such job", r->id);
		if (j->lease_s <= 0)
			return fail(c, 409, "lease", "'%s' was started without a lease", r->id);
		/* a job that ended or is stopping stays so: its state tells the client */
		if (j->state == JOB_RUNNING)
			job_lease_renew(j, 0);
		return respond_json(c, 200, job_json(j, false));
	case ROUTE_EXPERIMENT:
	case ROUTE_FAULT:
		/* by id again after a suspended DELETE: never a pointer kept across
		 * event loop rounds */
		j = job_find(&S.tab, r->id, r->route == ROUTE_EXPERIMENT);
		if (!j)
			return fail(c, 404, "id", "'%s': no such job", r->id);
		if (get)
			return respond_json(c, 200, job_json(j, true));
		return delete_job(c, r, j);
	case ROUTE_NONE:
		break;
	}
	return fail(c, 404, "", "%s", "no such resource");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;

	if (!r) {
		const char *allow = NULL, *cl;
		int status;

		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		r->route = serve_route(method, url, r->id, &status, &allow);
		if (S.need_token && r->route != ROUTE_HEALTHZ &&
		    !serve_auth_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_AUTHORIZATION),
				   S.token)) {
			struct serve_error e;

			serve_error_set(&e, 401, "Authorization",
					"a bearer token is required (Authorization: Bearer TOKEN)");
			return respond_error_hdr(c, &e, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						 "Bearer realm=\"duress\"");
		}
		if (r->route == ROUTE_NONE)
			return fail(c, 404, "", "%s", "no such resource (see docs/api.md)");
		if (status == 405) {
			struct serve_error e;

			serve_error_set(&e, 405, "", "method %s not allowed here (allowed: %s)",
					method, allow);
			return respond_error_hdr(c, &e, MHD_HTTP_HEADER_ALLOW, allow);
		}
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > SERVE_BODY_MAX)
			return fail(c, 413, "body", "body: larger than %d bytes", SERVE_BODY_MAX);
		return MHD_YES;
	}
	if (*upload_size) {
		if (!r->too_big && r->len + *upload_size <= SERVE_BODY_MAX) {
			char *p = realloc(r->body, r->len + *upload_size + 1);

			if (!p)
				return MHD_NO;
			r->body = p;
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		} else {
			/* a chunked body without a length: libmicrohttpd answers only
			 * once the body is read, so discard it (413 at the end), and
			 * drop the connection of an endless one */
			r->too_big = true;
			r->discarded += *upload_size;
			if (r->discarded > 16 * (size_t)SERVE_BODY_MAX)
				return MHD_NO;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return fail(c, 413, "body", "body: larger than %d bytes", SERVE_BODY_MAX);
	if (r->deleting)
		r->resumed = true;
	return dispatch(c, r, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	if (!r)
		return;
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* A job has ended: answer the DELETEs that wait for it, end the streams
 * of its samples. */
static void job_ended(struct job *j)
{
	resume_waiters(j);
	resume_followers();
}

/* The 1 Hz round: samples of every job's target, streams woken; a DELETE
 * waits at most STOP_WAIT_S for its job to end, then gets 202. */
static void tick(void)
{
	if (L.pid && mono_seconds() - L.started > TARGETS_WAIT_S)
		targets_finish("it took over 10 s");
	jobs_expire_leases(&S.tab);
	jobs_sample(&S.tab);
	resume_followers(); /* new samples in the rings, new lines in the jobs' files */
	for (size_t i = 0; i < S.tab.njobs; i++)
		if (S.tab.jobs[i]->state == JOB_STOPPING && S.tab.jobs[i]->nwaiters &&
		    mono_seconds() - S.tab.jobs[i]->stop_mono > STOP_WAIT_S)
			resume_waiters(S.tab.jobs[i]);
}

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: duress serve [--listen unix:PATH | --listen ADDR:PORT] [--token-file FILE]\n"
		   "                    [--insecure-loopback] [--allow-commands] [--state-dir DIR]\n\n"
		   "Serves the HTTP API (docs/api.md): experiments and faults as jobs, /metrics for\n"
		   "Prometheus, /v1/targets, /v1/samples, /healthz.\n\n"
		   "  --listen unix:PATH    a unix socket, mode 0600 (default " DEFAULT_LISTEN ")\n"
		   "  --listen ADDR:PORT    TCP on a numeric address (127.0.0.1:9100, [::1]:9100);\n"
		   "                        needs --token-file, or --insecure-loopback on loopback\n"
		   "  --token-file FILE     bearer token (first line, >= 16 characters, file mode\n"
		   "                        0600 or stricter); every request but /healthz needs it\n"
		   "  --insecure-loopback   allow TCP on a loopback address without a token\n"
		   "  --allow-commands      accept posted experiments with process probes or\n"
		   "                        actions and {type: env} configuration (refused by\n"
		   "                        default: they run programs as root / read secrets)\n"
		   "  --state-dir DIR       undo journals, locks and job directories (default\n"
		   "                        /run/duress)\n"
		   "SIGTERM or SIGINT stops every job (each reverts) and exits 0 (7 if something\n"
		   "could not be reverted).\n");
}

enum { OPT_LISTEN = 256, OPT_TOKEN, OPT_INSECURE, OPT_STATE, OPT_ALLOW_COMMANDS };

const struct option serve_longopts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "token-file", required_argument, NULL, OPT_TOKEN },
	{ "insecure-loopback", no_argument, NULL, OPT_INSECURE },
	{ "allow-commands", no_argument, NULL, OPT_ALLOW_COMMANDS },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_serve(int argc, char **argv)
{
	const char *listen_at = DEFAULT_LISTEN, *token_file = NULL, *state = NULL;
	bool insecure = false, allow_commands = false, tcp;
	struct duress_err err = { 0 };
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	cleanup_close int sfd = -1;
	cleanup_close int tfd = -1;
	int lfd, c, rc = DURESS_EXIT_OK;
	sigset_t mask;
	const union MHD_DaemonInfo *info;
	char jobs_dir[PATH_MAX + 16];

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", serve_longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			listen_at = optarg;
			break;
		case OPT_TOKEN:
			token_file = optarg;
			break;
		case OPT_INSECURE:
			insecure = true;
			break;
		case OPT_ALLOW_COMMANDS:
			allow_commands = true;
			break;
		case OPT_STATE:
			state = optarg;
			break;
		case 'h':
			serve_usage(stdout);
			return DURESS_EXIT_OK;
		case ':':
			return cli_usage_error("serve", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	memset(&S, 0, sizeof(S));
	S.allow_commands = allow_commands;
	{
		ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

		if (n > 0)
			self_exe[n] = '\0';
		else
			snprintf(self_exe, sizeof(self_exe), "duress");
	}
	tcp = strncmp(listen_at, "unix:", 5) != 0;
	if (tcp && serve_parse_tcp(listen_at, &ss, &sslen) < 0)
		return cli_usage_error("serve",
				       "--listen: '%s': expected unix:PATH or a numeric ADDR:PORT "
				       "(127.0.0.1:9100, [::1]:9100)",
				       listen_at);
	if (insecure && (!tcp || !serve_is_loopback((struct sockaddr *)&ss)))
		return cli_usage_error("serve", "--insecure-loopback: only for a TCP listener on a "
						"loopback address (127.0.0.0/8, ::1)");
	if (tcp && !token_file && !insecure)
		return cli_usage_error("serve",
				       "--listen %s: a TCP listener needs --token-file FILE%s",
				       listen_at,
				       serve_is_loopback((struct sockaddr *)&ss)
					       ? " (or --insecure-loopback)"
					       : ": anyone who can reach it could inject faults");
	if (token_file) {
		if (serve_read_token(token_file, S.token, sizeof(S.token), &err) < 0)
			return cli_usage_error("serve", "%s", err.msg);
		S.need_token = true;
	}
	if (cli_require_root("serve", &err) < 0)
		return cli_fail(&err);
	snprintf(S.state_dir, sizeof(S.state_dir), "%s", state_dir_resolve(state));
	if (mkdir(S.state_dir, 0700) < 0 && errno != EEXIST) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "mkdir %s", S.state_dir);
		return cli_fail(&err);
	}
	snprintf(jobs_dir, sizeof(jobs_dir), "%s/serve", S.state_dir);
	if (mkdir(jobs_dir, 0700) < 0 && errno != EEXIST) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "mkdir %s", jobs_dir);
		return cli_fail(&err);
	}
	/* A server restarted after a crash (a pod's container, the unit) first
	 * reverts what its dead jobs left, guardians and all gone, before it
	 * takes requests; live agents' journals are skipped. */
	session_recover_dead(S.state_dir, "duress serve");
	{
		struct duress_err e2 = { 0 };

		S.have_root = cg_root_discover(&S.root, &e2) == 0;
		if (!S.have_root)
			fprintf(stderr, "duress serve: %s (faults and experiments on targets will be "
					"refused)\n",
				e2.msg);
	}
	/* job ids go on from the last run's, so that directories are not reused */
	S.tab.seq = (unsigned long)time(NULL) % 100000 * 1000;
	S.tab.state_dir = S.state_dir;
	S.tab.root = S.have_root ? &S.root : NULL;
	S.tab.on_exit = job_ended;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = periodic_timer(1000000);
	if (sfd < 0 || tfd < 0) {
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, errno, "signalfd/timerfd");
		return cli_fail(&err);
	}
	lfd = tcp ? serve_listen_tcp(&ss, sslen, listen_at, &err)
		  : serve_listen_unix(listen_at + 5, &err);
	if (lfd < 0)
		return cli_fail(&err);
	if (!tcp) /* removed at exit */
		snprintf(S.sock_path, sizeof(S.sock_path), "%s", listen_at + 5);
	S.tab.mono0 = mono_seconds();
	S.d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
			       NULL, handle, NULL, MHD_OPTION_LISTEN_SOCKET, lfd,
			       MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
			       MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (!S.d) {
		close(lfd);
		if (S.sock_path[0])
			unlink(S.sock_path);
		duress_err_setc(&err, DURESS_EXIT_INTERNAL, 0, "libmicrohttpd did not start");
		return cli_fail(&err);
	}
	info = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_EPOLL_FD);
	fprintf(stderr, "duress serve: listening on %s%s (state %s)\n", listen_at,
		S.need_token ? " (bearer token required)" : "", S.state_dir);
	while (!S.stopping) {
		struct pollfd p[4] = {
			{ .fd = info->epoll_fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = tfd, .events = POLLIN },
			{ .fd = L.fd, .events = POLLIN }, /* -1: none */
		};
		MHD_UNSIGNED_LONG_LONG to;
		int timeout = 1000;
		struct signalfd_siginfo si;
		uint64_t ticks;

		if (MHD_get_timeout(S.d, &to) == MHD_YES)
			timeout = to < 1000 ? (int)to : 1000;
		if (poll(p, 4, timeout) < 0 && errno != EINTR)
			break;
		if (L.pid && (p[3].revents & (POLLIN | POLLHUP | POLLERR)))
			targets_read();
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGCHLD)
				jobs_reap(&S.tab);
			else if (si.ssi_signo != SIGPIPE) {
				fprintf(stderr, "duress serve: %s: stopping every job\n",
					strsignal((int)si.ssi_signo));
				S.stopping = true;
			}
		}
		jobs_reap(&S.tab);
		if (p[2].revents & POLLIN) {
			if (read(tfd, &ticks, sizeof(ticks)) < 0)
				(void)0;
			tick();
		}
		MHD_run(S.d);
	}
	/* stop accepting, revert every job, answer the DELETEs still waiting */
	MHD_quiesce_daemon(S.d);
	if (L.pid)
		targets_finish("the server stops");
	jobs_stop_all(&S.tab, sfd);
	resume_followers(); /* they end their streams: S.stopping */
	for (int i = 0; i < 5; i++)
		MHD_run(S.d);
	MHD_stop_daemon(S.d);
	close(lfd);
	if (S.sock_path[0])
		unlink(S.sock_path);
	free(L.answer);
	free(L.buf);
	for (size_t i = 0; i < S.tab.njobs; i++) {
		if (S.tab.jobs[i]->state == JOB_EXITED && !S.tab.jobs[i]->signal &&
		    S.tab.jobs[i]->exit_code == DURESS_EXIT_NOT_REVERTED)
			rc = DURESS_EXIT_NOT_REVERTED;
		job_free(S.tab.jobs[i]);
	}
	fprintf(stderr, "duress serve: stopped; %llu job(s) ran, %llu revert failure(s)\n",
		(unsigned long long)(S.tab.stats.faults_started + S.tab.stats.experiments_started),
		(unsigned long long)S.tab.stats.revert_failures);
	return rc;
}
