// SPDX-License-Identifier: MIT
/*
 * duress serve's requests (serve_http.h): answers, routing, the bearer
 * token, the job handlers (POST and DELETE of faults and experiments,
 * their listings) and /metrics.  Samples streams are serve_stream.c's, the
 * target listing serve_listing.c's, the loop serve_daemon.c's.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/timing.h>
#include <duress/core/undo.h>
#include <duress/experiment/manifest.h>
#include <duress/experiment/report.h>
#include <duress/experiment/manifest_validate.h>
#include <duress/faults/fault.h>
#include <duress/serve/serve_conn.h>
#include <duress/serve/serve_daemon.h>
#include <duress/serve/serve_http.h>
#include <duress/serve/serve_listing.h>
#include <duress/serve/serve_reply.h>
#include <duress/serve/serve_prom.h>
#include <duress/serve/serve_stream.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void http_resume_waiters(struct job *j)
{
	for (size_t i = 0; i < j->nwaiters; i++)
		MHD_resume_connection(j->waiters[i]);
	j->nwaiters = 0;
}

/* ---- handlers ---- */

static enum MHD_Result post_fault(struct serve_server *srv, struct MHD_Connection *c,
				  struct serve_req *r)
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
		return reply_error(c, &e);
	/* the guard rails (the agent's own cgroup, system slices, PID 1) are
	 * the operator's to lift, not an API client's */
	if (fr.force && !srv->allow_force) {
		serve_error_set(&e, 403, "force",
				"force: lifting the guard rails is refused over "
				"the API unless the server runs with --allow-force");
		goto out;
	}
	j = job_new(&srv->tab, false, fr.id, &e);
	if (!j)
		goto out;
	snprintf(j->what, sizeof(j->what), "%s", fr.desc->name);
	snprintf(j->kinds, sizeof(j->kinds), "%s", fr.desc->name);
	snprintf(j->spec, sizeof(j->spec), "%s", fr.target);
	if (job_resolve_target(&srv->tab, j, fr.force, &e) < 0 ||
	    job_busy_check(&srv->tab, j, &e) < 0)
		goto out_job;
	undo_log_init(&undo);
	f.root = &srv->root;
	f.target = &j->t;
	f.undo = &undo;
	if (fault_prepare(&f, &err) < 0) {
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
	fr.argv[fr.argc++] = strdup(srv->state_dir);
	fr.argv[fr.argc] = NULL;
	for (size_t i = 0; i < fr.argc; i++)
		if (!fr.argv[i]) {
			serve_error_set(&e, 500, "", "out of memory");
			goto out_job;
		}
	{
		/* argv[0] is the agent's name; fr.argv starts at "inject" */
		char *argv[SERVE_ARGV_MAX + 1];

		argv[0] = srv->self_exe;
		memcpy(argv + 1, fr.argv, (fr.argc + 1) * sizeof(char *));
		if (fr.lease_us)
			job_lease_renew(j, fr.lease_us);
		if (job_spawn(&srv->tab, j, argv, &e) < 0)
			goto out_job;
	}
	fault_free(&f);
	serve_fault_req_free(&fr);
	ret = reply_json(c, 201, job_json(j, false));
	return ret;
out_job:
	job_discard(j);
out:
	fault_free(&f);
	serve_fault_req_free(&fr);
	return reply_error(c, &e);
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
		json_object_set_new(o, "message", serve_json_text(d->v[i].msg));
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
static int api_policy_check(const struct serve_server *srv, const struct experiment *x,
			    struct serve_error *e)
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

	if (srv->allow_commands)
		return 0;
	for (size_t i = 0; i < x->nsteady; i++)
		if (probe_runs_command(&x->steady[i]))
			return serve_error_set(
				e, 422, "steady_state",
				"steady-state probe '%s' (line %u): a process probe %s",
				x->steady[i].name ? x->steady[i].name : "", x->steady[i].pos.line,
				why);
	for (size_t l = 0; l < DURESS_ARRAY_SIZE(lists); l++)
		for (size_t i = 0; i < lists[l].n; i++) {
			const struct action *a = &lists[l].a[i];

			if (a->type == ACT_PROBE && probe_runs_command(&a->probe))
				return serve_error_set(e, 422, lists[l].part,
						       "%s activity '%s' (line %u): a process "
						       "provider %s",
						       lists[l].part, a->name ? a->name : "",
						       a->pos.line, why);
		}
	json_object_foreach(config, key, v) {
		const char *type = json_string_value(json_object_get(v, "type"));

		if (json_is_object(v) && type && !strcmp(type, "env"))
			return serve_error_set(
				e, 422, "configuration",
				"configuration.%s: {type: env} reads the server's "
				"environment: refused over the API unless the server "
				"runs with --allow-commands",
				key);
	}
	return 0;
}

static enum MHD_Result post_experiment(struct serve_server *srv, struct MHD_Connection *c,
				       struct serve_req *r)
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
	char path[PATH_MAX + 128], journal[PATH_MAX + 128], samples[PATH_MAX + 128],
		probes[PATH_MAX + 128];
	const char *name = json ? "manifest.json" : "manifest.yaml";
	FILE *f;

	if (!r->len)
		return reply_fail(c, 400, "body", "%s",
				  "body: empty: an experiment manifest (YAML or JSON)");
	if (lease && serve_lease_parse(lease, "lease", &lease_us, &e) < 0)
		return reply_error(c, &e);
	mf_diags_init(&d, name);
	/* without --allow-commands the environment is never read, not even to
	 * validate (a diagnostic could carry it back) */
	if (manifest_load_text_opts(name, r->body, r->len,
				    srv->allow_commands ? 0 : MANIFEST_NO_ENV, &x, &d, &err) < 0) {
		json_t *o = json_object();
		int status = !x.root ? 400 : 422; /* a syntax error, else invalid or unsupported */

		json_object_set_new(o, "error", serve_json_text(err.msg));
		json_object_set_new(o, "field", json_string("body"));
		json_object_set_new(o, "status", json_integer(status));
		json_object_set_new(o, "problems", diags_json(&d));
		manifest_free(&x);
		mf_diags_free(&d);
		return reply_json(c, (unsigned)status, o);
	}
	mf_diags_free(&d);
	if (api_policy_check(srv, &x, &e) < 0) {
		manifest_free(&x);
		return reply_error(c, &e);
	}
	/* the target checked is the target run: refused whole, never cut */
	if (override && strlen(override) >= sizeof(j->spec)) {
		manifest_free(&x);
		return reply_fail(c, 422, "target", "target: too long (at most %zu bytes)",
				  sizeof(j->spec) - 1);
	}
	j = job_new(&srv->tab, true, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id"),
		    &e);
	if (!j) {
		manifest_free(&x);
		return reply_error(c, &e);
	}
	snprintf(j->what, sizeof(j->what), "%s", x.title ? x.title : "");
	snprintf(j->spec, sizeof(j->spec), "%s",
		 override && *override ? override
		 : x.target	       ? x.target
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
	manifest_free(&x);
	if (job_resolve_target(&srv->tab, j, false, &e) < 0 || job_busy_check(&srv->tab, j, &e) < 0)
		goto out_job;
	snprintf(path, sizeof(path), "%s/%s", j->dir, name);
	snprintf(journal, sizeof(journal), "%s/journal.json", j->dir);
	snprintf(samples, sizeof(samples), "%s/samples.jsonl", j->dir);
	snprintf(probes, sizeof(probes), "%s/probes.jsonl", j->dir);
	f = fopen(path, "wxe");
	if (f) {
		/* closed whatever happened: a full filesystem must not leak the
		 * FILE, its descriptor and the space (out_job removes the file) */
		bool written = fwrite(r->body, 1, r->len, f) == r->len;

		if (fclose(f) != 0 || !written)
			f = NULL;
	}
	if (!f) {
		serve_error_set(&e, 500, "", "cannot write %s: %s", path, strerror(errno));
		goto out_job;
	}
	{
		char *argv[16 + 2 * SERVE_PROBE_NET_MAX];
		size_t n = 0;

		argv[n++] = srv->self_exe;
		argv[n++] = "run";
		argv[n++] = path;
		argv[n++] = "-q";
		argv[n++] = "--journal";
		argv[n++] = journal;
		argv[n++] = "--samples";
		argv[n++] = samples;
		argv[n++] = "--probes";
		argv[n++] = probes;
		argv[n++] = "--state-dir";
		argv[n++] = srv->state_dir;
		if (j->spec[0]) {
			argv[n++] = "-t";
			argv[n++] = j->spec;
		}
		/* its http probes reach no loopback, link-local or metadata
		 * address but those the operator allowed */
		argv[n++] = "--probe-net-guard";
		for (size_t i = 0; i < srv->nallow_probe_net; i++) {
			argv[n++] = "--allow-probe-net";
			argv[n++] = (char *)srv->allow_probe_net[i];
		}
		argv[n] = NULL;
		if (lease_us)
			job_lease_renew(j, lease_us);
		if (job_spawn(&srv->tab, j, argv, &e) < 0)
			goto out_job;
	}
	return reply_json(c, 201, job_json(j, false));
out_job:
	unlink(path);
	job_discard(j);
	return reply_error(c, &e);
}

static enum MHD_Result list_jobs(struct serve_server *srv, struct MHD_Connection *c,
				 bool experiment)
{
	json_t *a = json_array();

	for (size_t i = 0; i < srv->tab.njobs; i++)
		if (srv->tab.jobs[i]->experiment == experiment)
			json_array_append_new(a, job_json(srv->tab.jobs[i], false));
	return reply_json(c, 200, a);
}

static enum MHD_Result delete_job(struct MHD_Connection *c, struct serve_req *r, struct job *j)
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
	return reply_json(c, j->state == JOB_EXITED ? 200 : 202, job_json(j, true));
}

static enum MHD_Result get_metrics(struct serve_server *srv, struct MHD_Connection *c)
{
	struct prom_target tv[SERVE_MAX_JOBS];
	struct prom_fault fv[SERVE_MAX_JOBS];
	struct prom_probe pv[SERVE_MAX_JOBS * JOB_MAX_PROBES];
	size_t nt = 0, nf = 0, np = 0, len = 0;
	char *buf = NULL;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return MHD_NO;
	for (size_t i = 0; i < srv->tab.njobs; i++) {
		struct job *j = srv->tab.jobs[i];
		bool dup = false;

		/* the probes' histograms of every experiment still listed,
		 * ended or not (bounded: the table, JOB_MAX_PROBES each) */
		job_read_probes(j);
		for (size_t k = 0; k < j->nprobes; k++)
			pv[np++] = (struct prom_probe){ .id = j->id,
							.experiment = j->what,
							.h = &j->probes[k] };
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
	prom_agent(out, &srv->tab.stats, fv, nf);
	prom_targets(out, tv, nt);
	prom_probes(out, pv, np);
	if (fclose(out) != 0) {
		free(buf);
		return MHD_NO;
	}
	return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
}

enum MHD_Result http_metrics_handle(void *cls, struct MHD_Connection *c, const char *url,
				    const char *method, const char *version, const char *upload,
				    size_t *upload_size, void **con_cls)
{
	struct serve_server *srv = cls;
	static int seen;

	/* a request with a body: answered at once, the body is not read */
	if (!*con_cls)
		*con_cls = &seen;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_fail(c, 405, "", "%s", "only GET here (the metrics listener)");
	if (!strcmp(url, "/healthz")) {
		char *ok = strdup("ok\n");

		return ok ? reply(c, 200, "text/plain; charset=utf-8", ok, 3) : MHD_NO;
	}
	if (strcmp(url, "/metrics"))
		return reply_fail(c, 404, "", "%s",
				  "the metrics listener serves /metrics and /healthz only");
	if (!serve_auth_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION),
			   srv->metrics_token)) {
		struct serve_error e;

		serve_error_set(&e, 401, "Authorization",
				"a bearer token is required (Authorization: Bearer TOKEN)");
		return reply_error_hdr(c, &e, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				       "Bearer realm=\"duress-metrics\"");
	}
	return get_metrics(srv, c);
}

/* GET /v1/experiments/ID/report[?format=markdown]: duress report of an
 * ended experiment's journal and samples (docs/report.md) */
static enum MHD_Result get_report(struct MHD_Connection *c, const struct job *j)
{
	const char *fmt_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
	json_auto_t *journal = NULL, *samples = NULL;
	enum report_format fmt = REPORT_HTML;
	struct duress_err err = { 0 };
	char path[PATH_MAX + 128];
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	if (fmt_arg && report_format_parse(fmt_arg, &fmt, &err) < 0)
		return reply_fail(c, 400, "format", "%s", err.msg);
	if (j->state != JOB_EXITED)
		return reply_fail(c, 409, "state",
				  "'%s' is still running: its report comes once "
				  "it has ended",
				  j->id);
	snprintf(path, sizeof(path), "%s/journal.json", j->dir);
	if (report_journal_load(path, &journal, &err) < 0)
		return reply_fail(c, 404, "journal", "'%s' left no journal: %s", j->id, err.msg);
	snprintf(path, sizeof(path), "%s/samples.jsonl", j->dir);
	if (access(path, F_OK) == 0 && report_samples_load(path, &samples, &err) < 0)
		return reply_fail(c, 500, "samples", "%s", err.msg);
	out = open_memstream(&buf, &len);
	if (!out)
		return MHD_NO;
	if (report_write(out, journal, samples, fmt, &err) < 0) {
		fclose(out);
		free(buf);
		return reply_fail(c, 500, "report", "%s", err.msg);
	}
	if (fclose(out) != 0) {
		free(buf);
		return MHD_NO;
	}
	return reply(c, 200,
		     fmt == REPORT_HTML ? "text/html; charset=utf-8"
					: "text/markdown; charset=utf-8",
		     buf, len);
}

static enum MHD_Result dispatch(struct serve_server *srv, struct MHD_Connection *c,
				struct serve_req *r, const char *method)
{
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	struct job *j;

	switch (r->route) {
	case ROUTE_HEALTHZ:
		return reply(c, 200, "text/plain", strdup("ok\n"), 3);
	case ROUTE_VERSION: {
		char *v = serve_version_json();

		return v ? reply(c, 200, "application/json", v, strlen(v)) : MHD_NO;
	}
	case ROUTE_METRICS:
		return get_metrics(srv, c);
	case ROUTE_TARGETS:
		return listing_get(c, r, srv->self_exe);
	case ROUTE_SAMPLES:
		return stream_get_samples(srv, c);
	case ROUTE_EXPERIMENTS:
	case ROUTE_FAULTS:
		if (get)
			return list_jobs(srv, c, r->route == ROUTE_EXPERIMENTS);
		if (srv->stopping)
			return reply_fail(c, 503, "", "%s", "the agent is stopping");
		return r->route == ROUTE_EXPERIMENTS ? post_experiment(srv, c, r)
						     : post_fault(srv, c, r);
	case ROUTE_EXPERIMENT_LEASE:
	case ROUTE_FAULT_LEASE:
		j = job_find(&srv->tab, r->id, r->route == ROUTE_EXPERIMENT_LEASE);
		if (!j)
			return reply_fail(c, 404, "id", "'%s': no such job", r->id);
		if (j->lease_s <= 0)
			return reply_fail(c, 409, "lease", "'%s' was started without a lease",
					  r->id);
		/* a job that ended or is stopping stays so: its state tells the client */
		if (j->state == JOB_RUNNING)
			job_lease_renew(j, 0);
		return reply_json(c, 200, job_json(j, false));
	case ROUTE_EXPERIMENT_REPORT:
		j = job_find(&srv->tab, r->id, true);
		if (!j)
			return reply_fail(c, 404, "id", "'%s': no such job", r->id);
		return get_report(c, j);
	case ROUTE_EXPERIMENT:
	case ROUTE_FAULT:
		/* by id again after a suspended DELETE: never a pointer kept across
		 * event loop rounds */
		j = job_find(&srv->tab, r->id, r->route == ROUTE_EXPERIMENT);
		if (!j)
			return reply_fail(c, 404, "id", "'%s': no such job", r->id);
		if (get)
			return reply_json(c, 200, job_json(j, true));
		return delete_job(c, r, j);
	case ROUTE_NONE:
		break;
	}
	return reply_fail(c, 404, "", "%s", "no such resource");
}

enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
			    const char *method, const char *version, const char *upload,
			    size_t *upload_size, void **con_cls)
{
	struct serve_server *srv = cls;
	struct serve_req *r = *con_cls;

	if (!r) {
		const char *allow = NULL, *cl;
		int status;

		conn_stage_set(c, CONN_BODY); /* its head is here */
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		{
			struct serve_error e;
#define HDR(name) MHD_lookup_connection_value(c, MHD_HEADER_KIND, name)

			if (serve_cross_site_check(method, HDR("Origin"), HDR("Sec-Fetch-Site"),
						   HDR(MHD_HTTP_HEADER_CONTENT_TYPE),
						   HDR(MHD_HTTP_HEADER_HOST), srv->loopback_tcp,
						   &e))
				return reply_error(c, &e);
#undef HDR
		}
		r->route = serve_route(method, url, r->id, &status, &allow);
		if (srv->need_token && r->route != ROUTE_HEALTHZ &&
		    !serve_auth_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_AUTHORIZATION),
				   srv->token)) {
			struct serve_error e;

			serve_error_set(&e, 401, "Authorization",
					"a bearer token is required (Authorization: Bearer TOKEN)");
			return reply_error_hdr(c, &e, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					       "Bearer realm=\"duress\"");
		}
		if (r->route == ROUTE_NONE)
			return reply_fail(c, 404, "", "%s", "no such resource (see docs/api.md)");
		if (status == 405) {
			struct serve_error e;

			serve_error_set(&e, 405, "", "method %s not allowed here (allowed: %s)",
					method, allow);
			return reply_error_hdr(c, &e, MHD_HTTP_HEADER_ALLOW, allow);
		}
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > SERVE_BODY_MAX)
			return reply_fail(c, 413, "body", "body: larger than %d bytes",
					  SERVE_BODY_MAX);
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
	conn_stage_set(c, CONN_SERVED);
	if (r->too_big)
		return reply_fail(c, 413, "body", "body: larger than %d bytes", SERVE_BODY_MAX);
	if (r->deleting)
		r->resumed = true;
	return dispatch(srv, c, r, method);
}

void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct serve_req *r = *con_cls;

	/* the next request on this connection starts now */
	conn_stage_set(c, CONN_HEAD);
	conn_stream(c, false);
	if (!r)
		return;
	free(r->body);
	free(r);
	*con_cls = NULL;
}
