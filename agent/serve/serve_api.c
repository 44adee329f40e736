// SPDX-License-Identifier: MIT
/*
 * The parts of `duress serve` that neither listen nor touch the kernel:
 * routing, the bearer token, single-fault requests, Prometheus text.
 */
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/serve/serve_api.h>
#include <duress/targets/target.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- routing ---- */

static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > SERVE_ID_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

static enum serve_route allow(enum serve_route r, const char *method, const char *methods,
			      int *status, const char **allowed)
{
	char m[16];
	const char *p = methods;
	size_t ml = strlen(method);

	*allowed = methods;
	*status = 405;
	if (ml >= sizeof(m))
		return r;
	while ((p = strstr(p, method))) {
		if ((p == methods || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0')) {
			*status = 0;
			break;
		}
		p += ml;
	}
	/* HEAD goes wherever GET does (libmicrohttpd drops the body) */
	if (*status && !strcmp(method, "HEAD") && strstr(methods, "GET"))
		*status = 0;
	return r;
}

enum serve_route serve_route(const char *method, const char *url, char id[SERVE_ID_MAX + 1],
			     int *status, const char **allowed)
{
	static const struct {
		const char *path;
		enum serve_route r, item, lease;
		const char *methods, *item_methods;
	} routes[] = {
		{ "/healthz", ROUTE_HEALTHZ, ROUTE_NONE, ROUTE_NONE, "GET", NULL },
		{ "/v1/version", ROUTE_VERSION, ROUTE_NONE, ROUTE_NONE, "GET", NULL },
		{ "/metrics", ROUTE_METRICS, ROUTE_NONE, ROUTE_NONE, "GET", NULL },
		{ "/v1/targets", ROUTE_TARGETS, ROUTE_NONE, ROUTE_NONE, "GET", NULL },
		{ "/v1/samples", ROUTE_SAMPLES, ROUTE_NONE, ROUTE_NONE, "GET", NULL },
		{ "/v1/experiments", ROUTE_EXPERIMENTS, ROUTE_EXPERIMENT, ROUTE_EXPERIMENT_LEASE,
		  "GET, POST", "GET, DELETE" },
		{ "/v1/faults", ROUTE_FAULTS, ROUTE_FAULT, ROUTE_FAULT_LEASE, "GET, POST",
		  "GET, DELETE" },
	};
	static const char lease[] = "/lease";

	*status = 404;
	*allowed = NULL;
	id[0] = '\0';
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(routes); i++) {
		size_t pl = strlen(routes[i].path);

		if (strncmp(url, routes[i].path, pl))
			continue;
		if (url[pl] == '\0' || (url[pl] == '/' && url[pl + 1] == '\0'))
			return allow(routes[i].r, method, routes[i].methods, status, allowed);
		if (url[pl] == '/' && routes[i].item != ROUTE_NONE && id_ok(url + pl + 1)) {
			snprintf(id, SERVE_ID_MAX + 1, "%s", url + pl + 1);
			return allow(routes[i].item, method, routes[i].item_methods, status, allowed);
		}
		/* ID/lease: the id's length checked before it is copied */
		if (url[pl] == '/' && routes[i].lease != ROUTE_NONE) {
			const char *s = url + pl + 1, *slash = strchr(s, '/');
			size_t n = slash ? (size_t)(slash - s) : 0;
			char tmp[SERVE_ID_MAX + 1];
			/* an experiment's report: ID/report */
			bool report = slash && routes[i].r == ROUTE_EXPERIMENTS &&
				      !strcmp(slash, "/report");

			if (!slash || n == 0 || n > SERVE_ID_MAX || (strcmp(slash, lease) && !report))
				continue;
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			if (!id_ok(tmp))
				continue;
			memcpy(id, tmp, n + 1);
			if (report)
				return allow(ROUTE_EXPERIMENT_REPORT, method, "GET", status, allowed);
			return allow(routes[i].lease, method, "POST", status, allowed);
		}
	}
	return ROUTE_NONE;
}

/* ---- version ---- */

char *serve_version_json(void)
{
	/* what this agent's API offers beyond version 1 as first released */
	static const char *const features[] = { "lease", "sample-now", NULL };
	json_t *o = json_object(), *f = json_array();
	char *s, *nl;
	size_t n;

	json_object_set_new(o, "version", json_string(DURESS_VERSION));
	json_object_set_new(o, "api", json_integer(SERVE_API_VERSION));
	for (size_t i = 0; features[i]; i++)
		json_array_append_new(f, json_string(features[i]));
	json_object_set_new(o, "features", f);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return NULL;
	n = strlen(s);
	nl = realloc(s, n + 2);
	if (!nl) {
		free(s);
		return NULL;
	}
	nl[n] = '\n';
	nl[n + 1] = '\0';
	return nl;
}

/* ---- authentication ---- */

bool serve_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* every byte of the longer one is looked at, whatever differs */
	size_t n = alen > blen ? alen : blen;
	volatile unsigned char diff = (unsigned char)(alen != blen);

	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		unsigned char y = i < blen ? (unsigned char)b[i] : 0;

		diff |= x ^ y;
	}
	return diff == 0;
}

bool serve_auth_ok(const char *header, const char *token)
{
	if (!header || !token || !*token)
		return false;
	while (*header == ' ')
		header++;
	if (strncasecmp(header, "Bearer ", 7))
		return false;
	header += 7;
	while (*header == ' ')
		header++;
	return serve_secret_equal(header, strlen(header), token, strlen(token));
}

int serve_read_token(const char *path, char *out, size_t len, struct duress_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[1024];
	struct stat st;
	ssize_t n;
	char *s, *e;

	if (fd < 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "--token-file: cannot open %s",
				       path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--token-file: %s is not a regular file", path);
	if (st.st_mode & 077)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--token-file: %s is readable or writable by others (mode "
				       "%04o): chmod 600 it",
				       path, (unsigned)(st.st_mode & 07777));
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "--token-file: read %s", path);
	buf[n] = '\0';
	s = buf;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strcspn(s, "\r\n");
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	if (e - s < 16)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--token-file: %s: the token (first line) must have at least "
				       "16 characters",
				       path);
	if ((size_t)(e - s) >= len)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "--token-file: %s: token too long",
				       path);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "--token-file: %s: the token must be printable "
					       "ASCII without spaces",
					       path);
	memcpy(out, s, (size_t)(e - s) + 1);
	return 0;
}

/* ---- errors ---- */

int serve_error_set(struct serve_error *e, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	return -1;
}

char *serve_error_json(const struct serve_error *e)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "error", json_string(e->reason));
	if (e->field[0])
		json_object_set_new(o, "field", json_string(e->field));
	json_object_set_new(o, "status", json_integer(e->status));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* ---- POST /v1/faults ---- */

static int push(struct serve_fault_req *r, const char *s)
{
	if (r->argc + 1 >= SERVE_ARGV_MAX)
		return -1;
	r->argv[r->argc] = strdup(s);
	if (!r->argv[r->argc])
		return -1;
	r->argc++;
	r->argv[r->argc] = NULL;
	return 0;
}

void serve_fault_req_free(struct serve_fault_req *req)
{
	for (size_t i = 0; i < req->argc; i++)
		free(req->argv[i]);
	req->argc = 0;
	req->argv[0] = NULL;
}

/* A JSON scalar as option text: strings as they are, numbers printed
 * (integers exactly), true for a flag. */
static int value_text(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.17g", json_real_value(v));
	else
		return -1;
	return 0;
}

static int get_duration_field(json_t *o, const char *key, uint64_t *us, char *text, size_t len,
			      struct serve_error *e)
{
	json_t *v = json_object_get(o, key);
	struct duress_err err = { 0 };

	if (!v)
		return 0;
	if (!json_is_string(v))
		return serve_error_set(e, 422, key, "%s: expected a duration string like \"30s\"",
				       key);
	if (parse_duration(json_string_value(v), key, us, &err) < 0)
		return serve_error_set(e, 422, key, "%s", err.msg);
	snprintf(text, len, "%s", json_string_value(v));
	return 1;
}

static int fault_options(json_t *opts, struct fault *f, struct serve_fault_req *r,
			 struct serve_error *e)
{
	const struct fault_desc *d = f->desc;
	struct duress_err err = { 0 };
	const char *k;
	json_t *v;

	if (!opts)
		return 0;
	if (!json_is_object(opts))
		return serve_error_set(e, 422, "options", "options: expected an object of the %s "
							   "fault's options",
				       d->name);
	json_object_foreach(opts, k, v) {
		int idx = fault_opt_index(d, k);
		char what[160], text[256], flag[160];

		snprintf(what, sizeof(what), "options.%s", k);
		if (idx < 0)
			return serve_error_set(e, 422, what, "%s: unknown option of the %s fault "
							     "(see docs/faults/%s.md)",
					       what, d->name, d->name);
		snprintf(flag, sizeof(flag), "--%s", k);
		if (d->opts[idx].type == FOPT_FLAG) {
			if (!json_is_boolean(v))
				return serve_error_set(e, 422, what, "%s: expected true or false",
						       what);
			if (json_is_false(v))
				continue;
			if (fault_opt_set(f, idx, NULL, what, &err) < 0 || push(r, flag) < 0)
				return serve_error_set(e, 422, what, "%s", err.msg);
			continue;
		}
		if (d->opts[idx].type == FOPT_LIST && json_is_array(v)) {
			size_t i;
			json_t *item;

			if (!json_array_size(v))
				return serve_error_set(e, 422, what, "%s: empty list", what);
			json_array_foreach(v, i, item) {
				if (value_text(item, text, sizeof(text)) < 0)
					return serve_error_set(e, 422, what,
							       "%s[%zu]: expected a string or a "
							       "number",
							       what, i);
				/* the fault keeps pointers to string values: give it
				 * the copy in argv, which outlives it */
				if (push(r, flag) < 0 || push(r, text) < 0)
					return serve_error_set(e, 422, what, "too many options");
				if (fault_opt_set(f, idx, r->argv[r->argc - 1], what, &err) < 0)
					return serve_error_set(e, 422, what, "%s", err.msg);
			}
			continue;
		}
		if (value_text(v, text, sizeof(text)) < 0)
			return serve_error_set(e, 422, what, "%s: expected a string or a number%s",
					       what,
					       d->opts[idx].type == FOPT_LIST ? " (or a list of them)"
									      : "");
		if (push(r, flag) < 0 || push(r, text) < 0)
			return serve_error_set(e, 422, what, "too many options");
		if (fault_opt_set(f, idx, r->argv[r->argc - 1], what, &err) < 0)
			return serve_error_set(e, 422, what, "%s", err.msg);
	}
	return 0;
}

int serve_lease_parse(const char *text, const char *field, uint64_t *us, struct serve_error *e)
{
	struct duress_err err = { 0 };

	if (parse_duration(text, field, us, &err) < 0)
		return serve_error_set(e, 422, field, "%s", err.msg);
	if (*us < SERVE_LEASE_MIN_US || *us > SERVE_LEASE_MAX_US)
		return serve_error_set(e, 422, field, "%s: '%s': must be from 1s to 1h", field, text);
	return 0;
}

static int fault_parse(json_t *o, struct fault *f, struct serve_fault_req *r, bool *have_f,
		       struct serve_error *e)
{
	static const char *const keys[] = { "fault",	"target",   "duration", "options", "force",
					    "interval", "baseline", "id",	"lease",   NULL };
	struct duress_err err = { 0 };
	struct target_spec spec;
	char interval[32] = "1s", baseline[32] = "0s";
	uint64_t us;
	const char *k, *name, *target;
	json_t *v;
	int rc;

	if (!json_is_object(o))
		return serve_error_set(e, 400, "body", "body: expected a JSON object");
	json_object_foreach(o, k, v) {
		bool known = false;

		for (size_t i = 0; keys[i]; i++)
			known |= !strcmp(k, keys[i]);
		if (!known)
			return serve_error_set(e, 422, k, "%s: unknown field (fields: fault, target, "
							  "duration, options, force, interval, "
							  "baseline, id, lease)",
					       k);
	}
	v = json_object_get(o, "id");
	if (v) {
		const char *id = json_is_string(v) ? json_string_value(v) : "";
		size_t n = strlen(id), ok = n && n <= SERVE_ID_MAX;

		for (size_t i = 0; ok && i < n; i++)
			ok = isalnum((unsigned char)id[i]) || id[i] == '-';
		if (!ok)
			return serve_error_set(e, 422, "id", "id: expected 1 to %d letters, digits "
							     "or '-'",
					       SERVE_ID_MAX);
		snprintf(r->id, sizeof(r->id), "%s", id);
	}
	v = json_object_get(o, "fault");
	if (!v || !json_is_string(v))
		return serve_error_set(e, 422, "fault", "fault: required, a fault name (memory, cpu, "
							"io, disk-fill, freeze, network)");
	name = json_string_value(v);
	r->desc = fault_find(name);
	if (!r->desc)
		return serve_error_set(e, 422, "fault", "fault: '%s': unknown fault", name);
	v = json_object_get(o, "target");
	if (!v || !json_is_string(v) || !*json_string_value(v))
		return serve_error_set(e, 422, "target", "target: required: cgroup:PATH, pid:N or "
							 "container:ID (a sandbox exists only "
							 "while a command runs)");
	target = json_string_value(v);
	if (target_spec_parse(target, &spec, &err) < 0)
		return serve_error_set(e, 422, "target", "target: %s", err.msg);
	snprintf(r->target, sizeof(r->target), "%s", target);
	rc = get_duration_field(o, "duration", &r->duration_us, r->duration, sizeof(r->duration), e);
	if (rc < 0)
		return -1;
	if (!rc)
		return serve_error_set(e, 422, "duration", "duration: required: how long the fault "
							   "stays in force (\"30s\")");
	if (r->duration_us < 100000)
		return serve_error_set(e, 422, "duration", "duration: '%s': must be at least 100ms",
				       r->duration);
	rc = get_duration_field(o, "interval", &us, interval, sizeof(interval), e);
	if (rc < 0)
		return -1;
	if (rc && us < 10000)
		return serve_error_set(e, 422, "interval", "interval: '%s': must be at least 10ms",
				       interval);
	if (get_duration_field(o, "baseline", &us, baseline, sizeof(baseline), e) < 0)
		return -1;
	v = json_object_get(o, "lease");
	if (v && !json_is_string(v))
		return serve_error_set(e, 422, "lease", "lease: expected a duration string like \"5s\"");
	if (v && serve_lease_parse(json_string_value(v), "lease", &r->lease_us, e) < 0)
		return -1;
	v = json_object_get(o, "force");
	if (v && !json_is_boolean(v))
		return serve_error_set(e, 422, "force", "force: expected true or false");
	r->force = v && json_is_true(v);

	if (fault_init(f, r->desc, &err) < 0)
		return serve_error_set(e, 500, "", "%s", err.msg);
	*have_f = true;
	f->duration_us = r->duration_us;
	f->force = r->force;
	if (push(r, "inject") < 0 || push(r, r->desc->name) < 0 || push(r, "-t") < 0 ||
	    push(r, r->target) < 0 || push(r, "--for") < 0 || push(r, r->duration) < 0 ||
	    push(r, "--interval") < 0 || push(r, interval) < 0 || push(r, "--baseline") < 0 ||
	    push(r, baseline) < 0 || push(r, "-q") < 0 || (r->force && push(r, "--force") < 0))
		return serve_error_set(e, 500, "", "out of memory");
	if (fault_options(json_object_get(o, "options"), f, r, e) < 0)
		return -1;
	if (fault_check(f, &err) < 0)
		return serve_error_set(e, 422, "options", "options: %s", err.msg);
	return 0;
}

int serve_fault_parse(const char *body, size_t len, struct fault *f, struct serve_fault_req *req,
		      struct serve_error *e)
{
	json_error_t je;
	json_t *o;
	bool have_f = false;
	int rc;

	memset(req, 0, sizeof(*req));
	memset(f, 0, sizeof(*f));
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return serve_error_set(e, 400, "body", "body: malformed JSON at line %d column %d: %s",
				       je.line, je.column, je.text);
	rc = fault_parse(o, f, req, &have_f, e);
	json_decref(o);
	if (rc < 0) {
		if (have_f)
			fault_free(f);
		serve_fault_req_free(req);
	}
	return rc;
}

bool serve_target_matches(const char *v, const char *spec, const char *dir, const char *rel)
{
	if (!v || !*v)
		return false;
	if ((spec && !strcmp(v, spec)) || (dir && !strcmp(v, dir)) || (rel && !strcmp(v, rel)))
		return true;
	if (!strncmp(v, "cgroup:", 7))
		return serve_target_matches(v + 7, NULL, dir, rel);
	return false;
}
