// SPDX-License-Identifier: MIT
/*
 * The parts of `duress serve` that neither listen nor touch the kernel:
 * routing, the bearer token, single-fault requests, Prometheus text.
 */
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/serve/serve.h>
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

			if (!slash || n == 0 || n > SERVE_ID_MAX || strcmp(slash, lease))
				continue;
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			if (!id_ok(tmp))
				continue;
			memcpy(id, tmp, n + 1);
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
	if (r->desc->validate && r->desc->validate(f, &err) < 0)
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

/* ---- Prometheus ---- */

void prom_escape_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/* A value in the exposition format: integers exactly, +Inf for "max". */
static void prom_value(FILE *out, double v)
{
	if (v == (double)CG_MAX || v > 1.8e19)
		fputs("+Inf", out);
	else if (v == (double)(int64_t)v && v < 9.0e15 && v > -9.0e15)
		fprintf(out, "%" PRId64, (int64_t)v);
	else
		fprintf(out, "%.17g", v);
}

/* A metric of a target: sub-series i (0..) of sample s, with an optional
 * extra label; arg is the table entry's (which variant of the getter).
 * Returns 1 with *v set, 0 when absent, -1 past the last. */
typedef int (*prom_get)(const struct sample *s, int i, int arg, double *v, const char **lname,
			const char **lval);

#define OPT_GET(fnname, field)                                                                    \
	static int fnname(const struct sample *s, int i, int arg, double *v, const char **ln,     \
			  const char **lv)                                                        \
	{                                                                                         \
		if (i)                                                                            \
			return -1;                                                                \
		*v = (double)s->field.v;                                                          \
		if (s->field.set && s->field.v == CG_MAX)                                         \
			*v = (double)CG_MAX;                                                      \
		return s->field.set;                                                              \
	}

OPT_GET(get_mem_current, memory.current)
OPT_GET(get_mem_max, memory.max)
OPT_GET(get_mem_high, memory.high)
OPT_GET(get_mem_peak, memory.peak)
OPT_GET(get_swap_current, memory.swap_current)
OPT_GET(get_oom, memory.ev_oom)
OPT_GET(get_oom_kill, memory.ev_oom_kill)
OPT_GET(get_ev_max, memory.ev_max)
OPT_GET(get_ev_high, memory.ev_high)
OPT_GET(get_pids, pids.current)
OPT_GET(get_pids_max, pids.max)
OPT_GET(get_throttled, cpu.nr_throttled)

static int get_cpu_seconds(const struct sample *s, int i, int arg, double *v, const char **ln,
			   const char **lv)
{
	if (i)
		return -1;
	*v = s->cpu.usage_usec.v / 1e6;
	return s->cpu.usage_usec.set;
}

static int get_cpu_pct(const struct sample *s, int i, int arg, double *v, const char **ln,
		       const char **lv)
{
	if (i)
		return -1;
	*v = s->cpu.usage_pct;
	return s->cpu.has_usage_pct;
}

static int get_throttled_s(const struct sample *s, int i, int arg, double *v, const char **ln,
			   const char **lv)
{
	if (i)
		return -1;
	*v = s->cpu.throttled_usec.v / 1e6;
	return s->cpu.throttled_usec.set;
}

static const struct psi *psi_of(const struct sample *s, int i, const char **name)
{
	static const char *const names[] = { "cpu", "memory", "io" };
	const struct psi *p[] = { &s->psi.cpu, &s->psi.memory, &s->psi.io };
	bool present[] = { s->psi.cpu_present, s->psi.memory_present, s->psi.io_present };

	*name = names[i];
	return present[i] ? p[i] : NULL;
}

enum { PSI_FULL = 1, PSI_TOTAL = 2 };

/* PSI by resource; arg: PSI_FULL for the full line, PSI_TOTAL for the
 * stall time in seconds instead of avg10 */
static int get_psi(const struct sample *s, int i, int arg, double *v, const char **ln,
		   const char **lv)
{
	const struct psi *p;
	const struct psi_line *l;

	if (i >= 3)
		return -1;
	p = psi_of(s, i, lv);
	*ln = "resource";
	if (!p)
		return 0;
	l = (arg & PSI_FULL) ? &p->full : &p->some;
	*v = (arg & PSI_TOTAL) ? l->total / 1e6 : l->avg10;
	return l->present;
}

enum { DIR_IO, DIR_NET_BYTES, DIR_NET_DROPS };

/* A counter with a direction label; arg says which */
static int get_dir(const struct sample *s, int i, int arg, double *v, const char **ln,
		   const char **lv)
{
	uint64_t pair[2];
	bool present;

	if (i >= 2)
		return -1;
	*ln = "direction";
	if (arg == DIR_IO) {
		*lv = i ? "write" : "read";
		pair[0] = s->io.rbytes, pair[1] = s->io.wbytes;
		present = s->io.present;
	} else {
		*lv = i ? "transmit" : "receive";
		if (arg == DIR_NET_BYTES)
			pair[0] = s->net.rx_bytes, pair[1] = s->net.tx_bytes;
		else
			pair[0] = s->net.rx_drops, pair[1] = s->net.tx_drops;
		present = s->net.present;
	}
	*v = (double)pair[i];
	return present;
}

static const struct {
	const char *name, *type, *help;
	prom_get get;
	int arg;
} target_metrics[] = {
	{ "duress_target_memory_current_bytes", "gauge", "memory.current of the target cgroup",
	  get_mem_current, 0 },
	{ "duress_target_memory_max_bytes", "gauge", "memory.max of the target cgroup (+Inf: max)",
	  get_mem_max, 0 },
	{ "duress_target_memory_high_bytes", "gauge", "memory.high of the target cgroup (+Inf: max)",
	  get_mem_high, 0 },
	{ "duress_target_memory_peak_bytes", "gauge", "memory.peak of the target cgroup",
	  get_mem_peak, 0 },
	{ "duress_target_memory_swap_current_bytes", "gauge", "memory.swap.current of the target",
	  get_swap_current, 0 },
	{ "duress_target_memory_events_max_total", "counter",
	  "memory.events max: times usage hit memory.max", get_ev_max, 0 },
	{ "duress_target_memory_events_high_total", "counter",
	  "memory.events high: times usage went over memory.high", get_ev_high, 0 },
	{ "duress_target_oom_total", "counter", "memory.events oom: OOM situations in the target",
	  get_oom, 0 },
	{ "duress_target_oom_kills_total", "counter",
	  "memory.events oom_kill: processes of the target killed by the OOM killer", get_oom_kill, 0 },
	{ "duress_target_cpu_usage_seconds_total", "counter", "cpu.stat usage_usec, in seconds",
	  get_cpu_seconds, 0 },
	{ "duress_target_cpu_usage_percent", "gauge",
	  "CPU used over the last sampling interval, percent of one CPU", get_cpu_pct, 0 },
	{ "duress_target_cpu_throttled_periods_total", "counter", "cpu.stat nr_throttled",
	  get_throttled, 0 },
	{ "duress_target_cpu_throttled_seconds_total", "counter", "cpu.stat throttled_usec, in seconds",
	  get_throttled_s, 0 },
	{ "duress_target_pressure_some_avg10", "gauge",
	  "PSI some avg10: percent of time some tasks stalled on the resource", get_psi, 0 },
	{ "duress_target_pressure_full_avg10", "gauge",
	  "PSI full avg10: percent of time all tasks stalled on the resource", get_psi, PSI_FULL },
	{ "duress_target_pressure_some_seconds_total", "counter",
	  "PSI some total: time some tasks stalled on the resource", get_psi, PSI_TOTAL },
	{ "duress_target_pressure_full_seconds_total", "counter",
	  "PSI full total: time all tasks stalled on the resource", get_psi, PSI_FULL | PSI_TOTAL },
	{ "duress_target_io_bytes_total", "counter", "io.stat rbytes/wbytes summed over devices",
	  get_dir, DIR_IO },
	{ "duress_target_network_bytes_total", "counter",
	  "bytes through the target's network namespace interfaces (lo excluded)",
	  get_dir, DIR_NET_BYTES },
	{ "duress_target_network_drops_total", "counter",
	  "packets dropped on the target's network namespace interfaces (lo excluded)",
	  get_dir, DIR_NET_DROPS },
	{ "duress_target_pids_current", "gauge", "pids.current of the target cgroup", get_pids, 0 },
	{ "duress_target_pids_max", "gauge", "pids.max of the target cgroup (+Inf: max)",
	  get_pids_max, 0 },
};

static void prom_head(FILE *out, const char *name, const char *type, const char *help)
{
	/* HELP text escapes backslash and newline; ours has neither */
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_targets(FILE *out, const struct prom_target *v, size_t n)
{
	for (size_t m = 0; m < DURESS_ARRAY_SIZE(target_metrics); m++) {
		bool head = false;

		for (size_t t = 0; t < n; t++) {
			for (int i = 0;; i++) {
				const char *ln = NULL, *lv = NULL;
				double val = 0;
				int r = target_metrics[m].get(v[t].s, i, target_metrics[m].arg, &val,
							      &ln, &lv);

				if (r < 0)
					break;
				if (!r)
					continue;
				if (!head) {
					prom_head(out, target_metrics[m].name, target_metrics[m].type,
						  target_metrics[m].help);
					head = true;
				}
				fprintf(out, "%s{target=\"", target_metrics[m].name);
				prom_escape_label(out, v[t].target);
				if (ln) {
					fprintf(out, "\",%s=\"", ln);
					prom_escape_label(out, lv);
				}
				fputs("\"} ", out);
				prom_value(out, val);
				fputc('\n', out);
			}
		}
	}
}

void prom_agent(FILE *out, const struct prom_agent *a, const struct prom_fault *f, size_t n)
{
	const struct {
		const char *name, *type, *help;
		double v;
	} m[] = {
		{ "duress_faults_active", "gauge", "single faults in force (POST /v1/faults)",
		  a->faults_active },
		{ "duress_experiments_active", "gauge", "experiments running", a->experiments_active },
		{ "duress_faults_started_total", "counter", "single faults started",
		  (double)a->faults_started },
		{ "duress_experiments_started_total", "counter", "experiments started",
		  (double)a->experiments_started },
		{ "duress_reverts_ok_total", "counter",
		  "jobs that ended with everything they changed reverted", (double)a->reverts_ok },
		{ "duress_revert_failures_total", "counter",
		  "jobs that ended with something not reverted (exit 7) or died by a signal "
		  "(their guardian reverts)",
		  (double)a->revert_failures },
		{ "duress_jobs_failed_total", "counter",
		  "jobs that ended with an error or a deviated hypothesis (exit code not 0 or 8)",
		  (double)a->jobs_failed },
		{ "duress_sample_cost_seconds", "gauge",
		  "wall time of the agent's last sampling round of every target",
		  a->sample_cost_last_s },
		{ "duress_sample_cost_seconds_total", "counter",
		  "wall time the agent spent sampling targets", a->sample_cost_total_s },
		{ "duress_samples_total", "counter", "samples the agent took of targets",
		  (double)a->samples_total },
	};

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(m); i++) {
		prom_head(out, m[i].name, m[i].type, m[i].help);
		fprintf(out, "%s ", m[i].name);
		prom_value(out, m[i].v);
		fputc('\n', out);
	}
	prom_head(out, "duress_fault_active", "gauge",
		  "1 for each fault or experiment in force, with its id, fault and target");
	for (size_t i = 0; i < n; i++) {
		fputs("duress_fault_active{id=\"", out);
		prom_escape_label(out, f[i].id);
		fputs("\",kind=\"", out);
		prom_escape_label(out, f[i].kind);
		fputs("\",fault=\"", out);
		prom_escape_label(out, f[i].fault);
		fputs("\",target=\"", out);
		prom_escape_label(out, f[i].target);
		fputs("\"} 1\n", out);
	}
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
