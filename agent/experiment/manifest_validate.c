// SPDX-License-Identifier: MIT
/*
 * From the manifest tree to a typed experiment, checking everything on the
 * way: unknown keys, wrong types, out-of-range values, unknown providers,
 * missing required keys.  Every problem is a diagnostic with its position;
 * the whole file is always checked, so all of them are reported at once.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/regex.h>
#include <duress/experiment/jsonpath.h>
#include <duress/experiment/manifest.h>
#include <duress/experiment/manifest_validate.h>
#include <duress/core/parse.h>
#include <duress/faults/fault_rule.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAX_BYTES (4 << 20)
#define HTTP_TIMEOUT_US 5000000ULL
#define PROCESS_TIMEOUT_US 10000000ULL

enum section {
	SEC_STEADY,
	SEC_METHOD,
	SEC_ROLLBACK,
};

/* A named CTK activity, for `ref`. */
struct named {
	const char *name;
	struct mf_node *node;
};

struct bctx {
	struct experiment *x;
	struct mf_diags *d;
	bool ctk;
	struct named refs[128];
	size_t nrefs;
	const struct mf_node *python[64]; /* python activities already reported */
	size_t npython;
};

static void diag(struct bctx *c, const struct mf_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void diag(struct bctx *c, const struct mf_node *at, const char *fmt, ...)
{
	char msg[DURESS_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mf_diag_add(c->d, at ? at->pos : (struct mf_pos){ 0, 0 }, false, "%s", msg);
}

/* The position of the key `key` in map (falls back to the map's own). */
static struct mf_pos key_pos(const struct mf_node *map, const char *key)
{
	int i = mf_find(map, key);

	return i < 0 ? map->pos : map->kpos[i];
}

/* Unknown keys of a map. `allowed` is NULL-terminated. */
static void check_keys(struct bctx *c, const struct mf_node *map, const char *const *allowed,
		       const char *where)
{
	for (size_t i = 0; i < map->n; i++) {
		bool ok = false;
		char known[512] = "";

		for (size_t k = 0; allowed[k]; k++) {
			size_t n = strlen(known);

			if (!strcmp(allowed[k], map->keys[i]))
				ok = true;
			snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "", allowed[k]);
		}
		if (!ok)
			mf_diag_add(c->d, map->kpos[i], false, "%s: unknown key in %s (known: %s)",
				    map->keys[i], where, known);
	}
}

/* Chaos Toolkit's format: chaostoolkit-lib ignores keys it does not know
 * (extensions of other tools, controls), so duress does too. */
static void check_keys_own(struct bctx *c, const struct mf_node *map, const char *const *allowed,
			   const char *where)
{
	if (!c->ctk)
		check_keys(c, map, allowed, where);
}

static bool is_type(struct bctx *c, const struct mf_node *n, const char *key, enum mf_type t)
{
	static const char *const names[] = { "a scalar", "a list", "a map" };

	if (n->type == t && !(t == MF_SCALAR && mf_is_null(n)))
		return true;
	diag(c, n, "%s: expected %s, got %s", key, names[t], mf_type_name(n));
	return false;
}

/* A required or optional text value.  Returns 1 set, 0 absent, -1 bad. */
static int get_str(struct bctx *c, const struct mf_node *map, const char *key, bool required,
		   const char **out)
{
	struct mf_node *n = mf_get(map, key);

	if (!n) {
		if (required)
			mf_diag_add(c->d, map->pos, false, "%s: required key missing", key);
		return required ? -1 : 0;
	}
	if (!is_type(c, n, key, MF_SCALAR))
		return -1;
	*out = n->text;
	return 1;
}

static int node_bool(struct bctx *c, const struct mf_node *n, const char *key, bool *out)
{
	const char *t = mf_type_name(n);

	if (!strcmp(t, "true") || !strcmp(t, "false")) {
		*out = t[0] == 't';
		return 1;
	}
	diag(c, n, "%s: expected true or false, got %s", key, t);
	return -1;
}

static int get_bool(struct bctx *c, const struct mf_node *map, const char *key, bool *out)
{
	struct mf_node *n = mf_get(map, key);

	return n ? node_bool(c, n, key, out) : 0;
}

static int node_duration(struct bctx *c, const struct mf_node *n, const char *key, uint64_t *us)
{
	struct duress_err e = { 0 };

	if (!is_type(c, n, key, MF_SCALAR))
		return -1;
	if (parse_duration(n->text, key, us, &e) < 0) {
		diag(c, n, "%s", e.msg);
		return -1;
	}
	return 1;
}

static int get_duration(struct bctx *c, const struct mf_node *map, const char *key, uint64_t min_us,
			uint64_t *us)
{
	struct mf_node *n = mf_get(map, key);
	uint64_t v;

	if (!n)
		return 0;
	if (node_duration(c, n, key, &v) < 0)
		return -1;
	if (v < min_us) {
		char b[32];

		diag(c, n, "%s: '%s': must be at least %s", key, n->text,
		     format_duration(min_us, b, sizeof(b)));
		return -1;
	}
	*us = v;
	return 1;
}

static int node_long(struct bctx *c, const struct mf_node *n, const char *key, long lo, long hi,
		     long *out)
{
	char *end;
	long v;

	if (strcmp(mf_type_name(n), "a number")) {
		diag(c, n, "%s: expected a whole number, got %s", key, mf_type_name(n));
		return -1;
	}
	errno = 0;
	v = strtol(n->text, &end, 10);
	if (errno || *end) {
		diag(c, n, "%s: '%s': expected a whole number", key, n->text);
		return -1;
	}
	if (v < lo || v > hi) {
		diag(c, n, "%s: %ld: must be between %ld and %ld", key, v, lo, hi);
		return -1;
	}
	*out = v;
	return 1;
}

static int get_double(struct bctx *c, const struct mf_node *map, const char *key, double lo,
		      double hi, double *out)
{
	struct mf_node *n = mf_get(map, key);
	char *end;
	double v;

	if (!n)
		return 0;
	if (strcmp(mf_type_name(n), "a number")) {
		diag(c, n, "%s: expected a number, got %s", key, mf_type_name(n));
		return -1;
	}
	v = strtod(n->text, &end);
	if (v < lo || v > hi) {
		diag(c, n, "%s: %s: must be between %g and %g", key, n->text, lo, hi);
		return -1;
	}
	*out = v;
	return 1;
}

/* ---- probes ---- */

static void probe_free(struct probe *p);

/* "200", 200, "200-299", "2xx" */
static int status_item(struct bctx *c, const struct mf_node *n, const char *key, struct probe *p,
		       long lo_bound, long hi_bound)
{
	struct status_range r;
	long v;
	char *end;

	if (p->nstatus >= PROBE_MAX_STATUS) {
		diag(c, n, "%s: at most %d values", key, PROBE_MAX_STATUS);
		return -1;
	}
	if (!is_type(c, n, key, MF_SCALAR))
		return -1;
	if (!strcmp(mf_type_name(n), "a number")) {
		if (node_long(c, n, key, lo_bound, hi_bound, &v) < 0)
			return -1;
		r.lo = r.hi = v;
	} else if (strlen(n->text) == 3 && n->text[0] >= '1' && n->text[0] <= '5' &&
		   !strcmp(n->text + 1, "xx")) {
		r.lo = (n->text[0] - '0') * 100;
		r.hi = r.lo + 99;
	} else {
		errno = 0;
		r.lo = strtol(n->text, &end, 10);
		if (errno || end == n->text || *end != '-') {
			diag(c, n, "%s: '%s': expected a code, a range LO-HI or 2xx", key, n->text);
			return -1;
		}
		r.hi = strtol(end + 1, &end, 10);
		if (errno || *end || r.hi < r.lo || r.lo < lo_bound || r.hi > hi_bound) {
			diag(c, n, "%s: '%s': expected a range LO-HI within %ld-%ld", key, n->text,
			     lo_bound, hi_bound);
			return -1;
		}
	}
	p->status[p->nstatus++] = r;
	return 0;
}

static int status_spec(struct bctx *c, const struct mf_node *n, const char *key, struct probe *p)
{
	long lo = p->type == PROBE_HTTP ? 100 : 0, hi = p->type == PROBE_HTTP ? 599 : 255;

	if (n->type != MF_SEQ)
		return status_item(c, n, key, p, lo, hi);
	if (!n->n)
		diag(c, n, "%s: an empty list", key);
	for (size_t i = 0; i < n->n; i++)
		if (status_item(c, n->kids[i], key, p, lo, hi) < 0)
			return -1;
	return 0;
}

/* Within bounds (regex.h): a pattern from a posted manifest must not make
 * the server's loop compile for seconds. */
static void check_regex(struct bctx *c, const struct mf_node *n, const char *key)
{
	struct duress_err e = { 0 };
	regex_t re;

	if (regex_compile(&re, n->text, REG_EXTENDED | REG_NOSUB, key, &e) < 0) {
		diag(c, n, "%s", e.msg);
		return;
	}
	regfree(&re);
}

static int str_list(struct bctx *c, const struct mf_node *n, const char *key, const char ***out,
		    size_t *nout)
{
	const char **v;

	if (n->type == MF_SCALAR && !mf_is_null(n)) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return -1;
		v[0] = n->text;
		*out = v;
		*nout = 1;
		return 0;
	}
	if (!is_type(c, n, key, MF_SEQ))
		return -1;
	v = calloc(n->n + 1, sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		if (!is_type(c, n->kids[i], key, MF_SCALAR)) {
			free(v);
			return -1;
		}
		v[i] = n->kids[i]->text;
	}
	*out = v;
	*nout = n->n;
	return 0;
}

/*
 * Chaos Toolkit's path lookup (shutil.which(os.path.expanduser(path))): a
 * leading ~ is the home directory; a path with a '/' is taken as it is, one
 * without is searched on PATH.  The file must be a regular file we may
 * execute.  Returns a malloc'd path or NULL.
 */
static char *ctk_which(const char *path)
{
	const char *home = getenv("HOME"), *env;
	cleanup_free char *exp = NULL, *dirs = NULL;
	struct stat st;
	char *dir;

	if (path[0] == '~' && (path[1] == '/' || !path[1]) && home && *home) {
		if (asprintf(&exp, "%s%s", home, path + 1) < 0)
			return NULL;
	} else if (!(exp = strdup(path))) {
		return NULL;
	}
	if (strchr(exp, '/'))
		return !stat(exp, &st) && S_ISREG(st.st_mode) && !access(exp, X_OK) ? strdup(exp)
										    : NULL;
	env = getenv("PATH");
	dirs = strdup(env ? env : "/bin:/usr/bin");
	if (!dirs)
		return NULL;
	for (char *s = dirs; (dir = strsep(&s, ":"));) {
		char *full;

		if (asprintf(&full, "%s/%s", *dir ? dir : ".", exp) < 0)
			return NULL;
		if (!stat(full, &st) && S_ISREG(st.st_mode) && !access(full, X_OK))
			return full;
		free(full);
	}
	return NULL;
}

/* A scalar argument as Python's str() writes it; NULL for None and "", which
 * chaostoolkit-lib drops. */
static char *ctk_arg_text(const struct mf_node *n)
{
	const char *t = mf_type_name(n);
	char *s;
	json_t *j;

	if (n->type == MF_SCALAR) {
		if (mf_is_null(n) || !n->text[0])
			return NULL;
		if (!strcmp(t, "true") || !strcmp(t, "false"))
			return strdup(t[0] == 't' ? "True" : "False");
		return strdup(n->text);
	}
	j = mf_to_json(n);
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return s;
}

static void ctk_add_arg(struct probe *p, const struct mf_node *n)
{
	char *s = ctk_arg_text(n);

	if (s)
		p->owned_args[p->nowned_args++] = s;
}

/*
 * Chaos Toolkit process arguments (chaoslib/provider/process.py): a string
 * is one shell line, `/bin/sh -c "PATH ARGUMENTS"`, run as written (pipes,
 * redirects, quotes); a list is the argv; a map is flattened into key, value
 * pairs.  None and empty values are dropped.
 */
static void ctk_process_arguments(struct bctx *c, struct mf_node *n, struct probe *p)
{
	size_t cap;

	if (n->type == MF_SCALAR && !mf_is_null(n) && strcmp(mf_type_name(n), "a number") &&
	    strcmp(mf_type_name(n), "true") && strcmp(mf_type_name(n), "false")) {
		if (!p->path || !n->text[0])
			return;
		if (asprintf(&p->owned_line, "%s %s", p->path, n->text) < 0)
			return;
		p->owned_args = calloc(2, sizeof(*p->owned_args));
		if (!p->owned_args)
			return;
		p->args = calloc(3, sizeof(*p->args));
		if (!p->args)
			return;
		p->args[0] = "-c";
		p->args[1] = p->owned_line;
		p->nargs = 2;
		p->path = "/bin/sh";
		return;
	}
	if (n->type == MF_SCALAR && !mf_is_null(n)) {
		diag(c, n, "arguments: expected a string, a list or a map, got %s",
		     mf_type_name(n));
		return;
	}
	if (mf_is_null(n))
		return;
	cap = n->type == MF_MAP ? 2 * n->n : n->n;
	p->owned_args = calloc(cap + 1, sizeof(*p->owned_args));
	if (!p->owned_args)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->type == MF_MAP && n->keys[i][0])
			p->owned_args[p->nowned_args++] = strdup(n->keys[i]);
		ctk_add_arg(p, n->kids[i]);
	}
	p->args = calloc(p->nowned_args + 1, sizeof(*p->args));
	if (!p->args)
		return;
	for (size_t i = 0; i < p->nowned_args; i++)
		p->args[i] = p->owned_args[i] ? p->owned_args[i] : "";
	p->nargs = p->nowned_args;
}

static const char *const http_keys[] = { "url",	    "method",	    "headers",	  "body",
					 "timeout", "status",	    "contains",	  "equals",
					 "regex",   "json_pointer", "json_value", "max_latency",
					 "netns",   "verify_tls",   NULL };
static const char *const process_keys[] = { "path",	"arguments", "timeout", "exit_code",
					    "contains", "equals",    "regex",	"max_latency",
					    "netns",	NULL };

/* Expectations common to http bodies and process output. */
static void output_checks(struct bctx *c, const struct mf_node *m, struct probe *p)
{
	struct mf_node *n;

	get_str(c, m, "contains", false, &p->contains);
	get_str(c, m, "equals", false, &p->equals);
	if (get_str(c, m, "regex", false, &p->regex) > 0)
		check_regex(c, mf_get(m, "regex"), "regex");
	get_duration(c, m, "max_latency", 1000, &p->max_latency_us);
	n = mf_get(m, "netns");
	if (n && is_type(c, n, "netns", MF_SCALAR)) {
		if (!strcmp(n->text, "target"))
			p->in_target_netns = true;
		else if (strcmp(n->text, "agent"))
			diag(c, n, "netns: '%s': must be target or agent", n->text);
	}
}

static void http_probe(struct bctx *c, struct mf_node *m, struct probe *p)
{
	struct mf_node *n;

	p->type = PROBE_HTTP;
	p->timeout_us = c->ctk ? 0 : HTTP_TIMEOUT_US;
	p->method = "GET";
	p->verify_tls = true;
	/* chaostoolkit-lib only wants a url; requests refuses another scheme
	 * when it runs (here: the activity raises) */
	if (get_str(c, m, "url", true, &p->url) > 0 && !c->ctk && strncmp(p->url, "http://", 7) &&
	    strncmp(p->url, "https://", 8))
		diag(c, mf_get(m, "url"), "url: '%s': must start with http:// or https://", p->url);
	get_str(c, m, "method", false, &p->method);
	get_str(c, m, "body", false, &p->body);
	get_bool(c, m, "verify_tls", &p->verify_tls);
	n = mf_get(m, "timeout");
	if (n && n->type == MF_SEQ && n->n == 2) /* CTK: [connect, read] */
		n = n->kids[1];
	if (n && node_duration(c, n, "timeout", &p->timeout_us) > 0 && p->timeout_us < 1000)
		diag(c, n, "timeout: '%s': must be at least 1ms", n->text);
	n = mf_get(m, "headers");
	if (n && is_type(c, n, "headers", MF_MAP)) {
		p->headers = calloc(n->n + 1, sizeof(*p->headers));
		for (size_t i = 0; p->headers && i < n->n; i++) {
			if (!is_type(c, n->kids[i], n->keys[i], MF_SCALAR))
				continue;
			if (asprintf(&p->headers[p->nheaders], "%s: %s", n->keys[i],
				     n->kids[i]->text) < 0)
				break;
			p->nheaders++;
		}
	}
	n = mf_get(m, "status");
	if (n)
		status_spec(c, n, "status", p);
	output_checks(c, m, p);
	if (get_str(c, m, "json_pointer", false, &p->json_pointer) > 0 && p->json_pointer[0] &&
	    p->json_pointer[0] != '/')
		diag(c, mf_get(m, "json_pointer"),
		     "json_pointer: '%s': must be empty or start "
		     "with '/' (RFC 6901)",
		     p->json_pointer);
	n = mf_get(m, "json_value");
	if (n) {
		p->json_value = mf_to_json(n);
		if (!p->json_pointer)
			diag(c, n, "json_value: needs json_pointer (where to look in the body)");
	}
}

static void process_probe(struct bctx *c, struct mf_node *m, struct probe *p)
{
	struct mf_node *n;

	p->type = PROBE_PROCESS;
	p->timeout_us = c->ctk ? 0 : PROCESS_TIMEOUT_US;
	if (get_str(c, m, "path", true, &p->path) > 0) {
		if (c->ctk) {
			p->owned_path = ctk_which(p->path);
			if (!p->owned_path)
				diag(c, mf_get(m, "path"), "path: '%s': cannot be found (%s)",
				     p->path,
				     strchr(p->path, '/') ? "no executable file there"
							  : "not on PATH");
			p->path = p->owned_path;
		} else if (!strchr(p->path, '/')) {
			diag(c, mf_get(m, "path"),
			     "path: '%s': give the program's path (no shell, "
			     "no PATH search), e.g. /usr/bin/%s",
			     p->path, p->path);
		}
	}
	n = mf_get(m, "arguments");
	if (n) {
		if (c->ctk)
			ctk_process_arguments(c, n, p);
		else
			str_list(c, n, "arguments", &p->args, &p->nargs);
	}
	n = mf_get(m, "timeout");
	if (n && node_duration(c, n, "timeout", &p->timeout_us) > 0 && p->timeout_us < 1000)
		diag(c, n, "timeout: '%s': must be at least 1ms", n->text);
	n = mf_get(m, "exit_code");
	if (n)
		status_spec(c, n, "exit_code", p);
	output_checks(c, m, p);
}

static void metric_probe(struct bctx *c, struct mf_node *m, const char *key, struct probe *p)
{
	const char *text;
	struct duress_err e = { 0 };

	p->type = PROBE_METRIC;
	if (get_str(c, m, key, true, &text) > 0 && metric_parse(text, &p->metric, &e) < 0)
		diag(c, mf_get(m, key), "%s: %s", key, e.msg);
}

/* Our format: type http|process|metric with the keys flat in m. */
static void own_probe(struct bctx *c, struct mf_node *m, const char *kind, struct probe *p,
		      const char *const *extra)
{
	const char *keys[40];
	const char *const *table = !strcmp(kind, "http")      ? http_keys
				   : !strcmp(kind, "process") ? process_keys
							      : NULL;
	size_t k = 0;
	char where[64];

	for (size_t i = 0; extra[i]; i++)
		keys[k++] = extra[i];
	for (size_t i = 0; table && table[i]; i++)
		keys[k++] = table[i];
	if (!table)
		keys[k++] = "check";
	keys[k] = NULL;
	snprintf(where, sizeof(where), "a%s %s probe", kind[0] == 'h' ? "n" : "", kind);
	check_keys(c, m, keys, where);
	if (!strcmp(kind, "http"))
		http_probe(c, m, p);
	else if (!strcmp(kind, "process"))
		process_probe(c, m, p);
	else
		metric_probe(c, m, "check", p);
}

static void ctk_activity(struct bctx *c, struct mf_node *m, enum section sec, struct action *a);

static bool is_number_node(const struct mf_node *n)
{
	return n && n->type == MF_SCALAR && !strcmp(mf_type_name(n), "a number");
}

/*
 * A Chaos Toolkit tolerance, checked as chaostoolkit-lib's
 * ensure_hypothesis_tolerance_is_valid does and kept as JSON: probe.c
 * evaluates it as within_tolerance does.
 */
static void ctk_tolerance(struct bctx *c, struct mf_node *t, struct probe *p)
{
	const char *tn = mf_type_name(t), *ty;
	struct mf_node *type, *n;
	struct duress_err e = { 0 };

	if (t->type == MF_SCALAR) {
		if (mf_is_null(t) || (!strcmp(tn, "a number") && strpbrk(t->text, ".eE"))) {
			diag(c, t,
			     "tolerance: must be an integer, a string, a boolean, a list or "
			     "a map (got %s)",
			     mf_is_null(t) ? "null" : t->text);
			return;
		}
	} else if (t->type == MF_MAP) {
		type = mf_get(t, "type");
		ty = type && type->type == MF_SCALAR ? type->text : "";
		if (!strcmp(ty, "probe")) {
			struct action ta = { 0 };

			/* as a rollback is checked: no tolerance of its own, no fault */
			ctk_activity(c, t, SEC_ROLLBACK, &ta);
			if (ta.type == ACT_PROBE) {
				p->tol_probe = malloc(sizeof(*p->tol_probe));
				if (p->tol_probe) {
					*p->tol_probe = ta.probe;
					memset(&ta.probe, 0, sizeof(ta.probe));
				}
			}
			probe_free(&ta.probe);
			free(ta.opts);
			if (!p->tol_probe)
				return;
		} else if (!strcmp(ty, "regex")) {
			n = mf_get(t, "pattern");
			if (!n) {
				mf_diag_add(c->d, t->pos, false,
					    "tolerance: a regex tolerance needs "
					    "a pattern");
				return;
			}
			if (!is_type(c, n, "pattern", MF_SCALAR))
				return;
			check_regex(c, n, "pattern");
		} else if (!strcmp(ty, "jsonpath")) {
			n = mf_get(t, "path");
			if (!n) {
				mf_diag_add(c->d, t->pos, false,
					    "tolerance: a jsonpath tolerance "
					    "needs a path");
				return;
			}
			if (!is_type(c, n, "path", MF_SCALAR))
				return;
			if (jsonpath_check(n->text, &e) < 0) {
				mf_diag_add(c->d, n->pos, true,
					    "path: %s (duress implements the "
					    "subset in docs/manifests.md)",
					    e.msg);
				return;
			}
		} else if (!strcmp(ty, "range")) {
			n = mf_get(t, "range");
			if (!n || n->type != MF_SEQ || n->n != 2 || !is_number_node(n->kids[0]) ||
			    !is_number_node(n->kids[1])) {
				diag(c, n ? n : t,
				     "tolerance: range: expected [LOW, HIGH], two "
				     "numbers");
				return;
			}
		} else {
			diag(c, type ? type : t,
			     "tolerance: type '%s' is unsupported (probe, "
			     "regex, jsonpath, range)",
			     ty);
			return;
		}
		n = mf_get(t, "target");
		if (n && !is_type(c, n, "target", MF_SCALAR))
			return;
	}
	json_decref(p->tolerance);
	p->tolerance = mf_to_json(t);
}

/* ---- actions ---- */

static const char *fault_names(char *buf, size_t len);

static void fault_name_cb(const struct fault_desc *d, void *data)
{
	char *buf = data;
	size_t n = strlen(buf);

	if (n + strlen(d->name) + 3 < 256)
		snprintf(buf + n, 256 - n, "%s%s", n ? ", " : "", d->name);
}

static const char *fault_names(char *buf, size_t len)
{
	buf[0] = '\0';
	if (len >= 256)
		fault_for_each(fault_name_cb, buf);
	return buf;
}

static int add_setting(struct action *a, const char *name, const char *value, struct mf_pos pos)
{
	struct fault_setting *v = realloc(a->opts, (a->nopts + 1) * sizeof(*v));

	if (!v)
		return -1;
	a->opts = v;
	v[a->nopts++] = (struct fault_setting){ .name = name, .value = value, .pos = pos };
	return 0;
}

/* Append to a rule's text, growing *buf as needed; -1 past 2 MiB. */
static int rule_put(char **buf, size_t *cap, const char *key, const char *value)
{
	while (fault_rule_append(*buf, *cap, key, value) < 0) {
		char *n;

		if (*cap >= 2u << 20)
			return -1;
		n = realloc(*buf, *cap * 2);
		if (!n)
			return -1;
		*buf = n;
		*cap *= 2;
	}
	return 0;
}

/*
 * A map given to a repeatable option (a rule of the http fault: {path:
 * /api/, abort: 503, percent: 10}): its keys are options of the same
 * fault, written as one value in the rules' text form (fault_rule.h),
 * kept in the map node (the tree owns it).  Key errors point at the key.
 */
static void rule_setting(struct bctx *c, struct action *a, const char *key, struct mf_node *m)
{
	size_t cap = 256, before = c->d->n;
	char *buf = malloc(cap);

	if (!buf)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i];
		struct mf_node *v = m->kids[i];
		int idx = fault_opt_index(a->fault, k);
		const struct fault_opt *o;

		if (idx < 0 || !strcmp(k, key)) {
			mf_diag_add(c->d, m->kpos[i], false, "%s: %s: %s", key, k,
				    idx < 0 ? "not an option of the fault" : "a rule in a rule");
			continue;
		}
		o = &a->fault->opts[idx];
		if (o->type == FOPT_FLAG) {
			bool on;

			if (node_bool(c, v, k, &on) > 0 && on && rule_put(&buf, &cap, k, NULL) < 0)
				mf_diag_add(c->d, v->pos, false, "%s: too long", key);
			continue;
		}
		if (o->type == FOPT_LIST && v->type == MF_SEQ) {
			for (size_t j = 0; j < v->n; j++)
				if (is_type(c, v->kids[j], k, MF_SCALAR) &&
				    rule_put(&buf, &cap, k, v->kids[j]->text) < 0)
					mf_diag_add(c->d, v->pos, false, "%s: too long", key);
			continue;
		}
		if (is_type(c, v, k, MF_SCALAR) && rule_put(&buf, &cap, k, v->text) < 0)
			mf_diag_add(c->d, v->pos, false, "%s: too long", key);
	}
	if (!m->n)
		mf_diag_add(c->d, m->pos, false, "%s: an empty rule", key);
	if (c->d->n != before) {
		free(buf);
		return;
	}
	free(m->text);
	m->text = buf;
	add_setting(a, key, m->text, m->pos);
}

/* One fault option from a manifest key: its value as text for fault_opt_set. */
static void fault_option(struct bctx *c, struct action *a, const char *key, struct mf_pos kpos,
			 struct mf_node *v)
{
	int idx = fault_opt_index(a->fault, key);
	const struct fault_opt *o;
	char known[512] = "";

	if (idx < 0) {
		for (size_t i = 0; i < a->fault->nopts; i++) {
			size_t n = strlen(known);

			snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "",
				 a->fault->opts[i].name);
		}
		mf_diag_add(c->d, kpos, false, "%s: not an option of the %s fault (it has: %s)",
			    key, a->fault->name, known);
		return;
	}
	o = &a->fault->opts[idx];
	if (o->type == FOPT_FLAG) {
		bool on;

		if (node_bool(c, v, key, &on) > 0 && on)
			add_setting(a, o->name, NULL, v->pos);
		return;
	}
	if (o->type == FOPT_LIST && v->type == MF_MAP) {
		rule_setting(c, a, o->name, v);
		return;
	}
	if (o->type == FOPT_LIST && v->type == MF_SEQ) {
		for (size_t i = 0; i < v->n; i++) {
			if (v->kids[i]->type == MF_MAP)
				rule_setting(c, a, o->name, v->kids[i]);
			else if (is_type(c, v->kids[i], key, MF_SCALAR))
				add_setting(a, o->name, v->kids[i]->text, v->kids[i]->pos);
		}
		return;
	}
	if (!is_type(c, v, key, MF_SCALAR))
		return;
	add_setting(a, o->name, v->text, v->pos);
}

/* Check the options through the fault's table and its validate(). */
static void check_fault(struct bctx *c, struct action *a)
{
	struct fault f;
	struct duress_err e = { 0 };

	if (fault_init(&f, a->fault, &e) < 0) {
		mf_diag_add(c->d, a->provider_pos, false, "%s", e.msg);
		return;
	}
	f.duration_us = a->duration_us;
	for (size_t i = 0; i < a->nopts; i++) {
		int idx = fault_opt_index(a->fault, a->opts[i].name);

		duress_err_clear(&e);
		if (f.vals[idx].set && a->fault->opts[idx].type != FOPT_LIST) {
			mf_diag_add(c->d, a->opts[i].pos, false, "%s: given twice",
				    a->opts[i].name);
			goto out;
		}
		if (fault_opt_set(&f, idx, a->opts[i].value, a->opts[i].name, &e) < 0) {
			mf_diag_add(c->d, a->opts[i].pos, false, "%s", e.msg);
			goto out;
		}
	}
	duress_err_clear(&e);
	if (fault_check(&f, &e) < 0) {
		size_t n = strlen(a->fault->name);
		bool named = !strncmp(e.msg, a->fault->name, n) && e.msg[n] == ':';

		mf_diag_add(c->d, a->provider_pos, false, "%s%s%s", named ? "" : a->fault->name,
			    named ? "" : ": ", e.msg);
	}
out:
	fault_free(&f);
}

int manifest_fault_build(const struct action *a, struct fault *f, struct duress_err *err)
{
	if (fault_init(f, a->fault, err) < 0)
		return -1;
	f->duration_us = a->duration_us;
	for (size_t i = 0; i < a->nopts; i++) {
		int idx = fault_opt_index(a->fault, a->opts[i].name);

		if (idx < 0 || fault_opt_set(f, idx, a->opts[i].value, a->opts[i].name, err) < 0)
			goto fail;
	}
	if (fault_check(f, err) < 0)
		goto fail;
	return 0;
fail:
	duress_err_wrap(err, "%s (%s fault)", a->name, a->fault->name);
	fault_free(f);
	return -1;
}

static void pauses(struct bctx *c, struct mf_node *m, struct action *a)
{
	static const char *const keys[] = { "before", "after", NULL };
	struct mf_node *n = mf_get(m, "pauses");

	if (!n || (c->ctk && mf_is_null(n))) /* chaostoolkit-lib: pauses: null, none */
		return;
	if (!is_type(c, n, "pauses", MF_MAP))
		return;
	check_keys_own(c, n, keys, "pauses");
	get_duration(c, n, "before", 0, &a->pause_before_us);
	get_duration(c, n, "after", 0, &a->pause_after_us);
}

static const struct fault_desc *find_fault(struct bctx *c, struct mf_node *n, const char *key)
{
	const struct fault_desc *d = fault_find(n->text);
	char names[256];

	if (!d)
		diag(c, n, "%s: '%s': unknown provider (faults: %s; probes: http, process, metric)",
		     key, n->text, fault_names(names, sizeof(names)));
	return d;
}

static void fault_duration(struct bctx *c, struct mf_node *m, struct action *a, const char *where)
{
	if (get_duration(c, m, "duration", 100000, &a->duration_us) == 0) {
		if (c->x->duration_us)
			a->duration_us = c->x->duration_us;
		else
			mf_diag_add(c->d, m->pos, false,
				    "duration: required: how long the %s fault "
				    "stays in force (here, or %s)",
				    a->fault->name, where);
	}
}

static const char *const own_action_keys[] = { "name",	   "type",	 "provider", "description",
					       "duration", "background", "pauses",   NULL };

/* Our format: one method or rollback item.  A fault action names its
 * fault with `provider: NAME`, or with `fault: NAME` (the same, and the one
 * way for a fault whose name is also a probe's: `fault: http`). */
static void own_activity(struct bctx *c, struct mf_node *m, enum section sec, struct action *a)
{
	struct mf_node *type, *prov = NULL, *pmap = NULL, *fault_key = mf_get(m, "fault");
	const char *kind;
	size_t before;

	type = mf_get(m, "type");
	get_str(c, m, "name",
		sec != SEC_STEADY &&
			!(type && type->type == MF_SCALAR && !strcmp(type->text, "pause")),
		&a->name);
	get_bool(c, m, "background", &a->background);
	pauses(c, m, a);
	if (!type) {
		mf_diag_add(c->d, m->pos, false,
			    "type: required key missing (action, probe, "
			    "pause, http, process or metric)");
		return;
	}
	if (!is_type(c, type, "type", MF_SCALAR))
		return;
	if (!strcmp(type->text, "pause")) {
		static const char *const keys[] = { "name", "type", "duration", "description",
						    NULL };

		a->type = ACT_PAUSE;
		check_keys(c, m, keys, "a pause");
		if (get_duration(c, m, "duration", 0, &a->duration_us) == 0)
			mf_diag_add(c->d, m->pos, false,
				    "duration: required key missing (how long "
				    "to pause)");
		return;
	}
	if (!strcmp(type->text, "http") || !strcmp(type->text, "process") ||
	    !strcmp(type->text, "metric")) {
		kind = type->text;
		a->is_probe = true;
	} else if (!strcmp(type->text, "action") || !strcmp(type->text, "probe")) {
		a->is_probe = type->text[0] == 'p';
		prov = mf_get(m, "provider");
		if (fault_key && prov) {
			diag(c, fault_key, "fault: give provider or fault, not both");
			return;
		}
		if (fault_key)
			prov = fault_key;
		if (!prov) {
			mf_diag_add(c->d, m->pos, false,
				    "provider: required key missing (a fault: "
				    "memory, cpu, ...; or http, process, metric)");
			return;
		}
		if (prov->type == MF_MAP && !fault_key) {
			/* the Chaos Toolkit habit: provider: {type: process, path: ...};
			 * the provider's keys are then in the map, the action's beside */
			pmap = prov;
			prov = mf_get(pmap, "type");
			if (!prov) {
				mf_diag_add(c->d, pmap->pos, false,
					    "provider: a map needs a type "
					    "(http, process, metric or a fault)");
				return;
			}
			check_keys(c, m, own_action_keys, "an action");
		}
		if (!is_type(c, prov, pmap ? "type" : "provider", MF_SCALAR))
			return;
		kind = prov->text;
		a->provider_pos = prov->pos;
	} else if (fault_key) {
		diag(c, fault_key, "fault: only in an action (type: action)");
		return;
	} else {
		diag(c, type, "type: '%s': must be action, probe, pause, http, process or metric",
		     type->text);
		return;
	}
	if (!fault_key &&
	    (!strcmp(kind, "http") || !strcmp(kind, "process") || !strcmp(kind, "metric"))) {
		static const char *const map_keys[] = { "type", NULL };

		a->type = ACT_PROBE;
		a->probe.name = a->name;
		a->probe.pos = m->pos;
		own_probe(c, pmap ? pmap : m, kind, &a->probe, pmap ? map_keys : own_action_keys);
		return;
	}
	a->type = ACT_FAULT;
	a->fault = find_fault(c, prov, fault_key ? "fault" : "provider");
	if (!a->fault)
		return;
	if (sec == SEC_ROLLBACK) {
		diag(c, prov,
		     "%s: %s: a rollback cannot inject a fault "
		     "(every fault is reverted by itself, through the undo log); rollback "
		     "actions are http, process or pause",
		     fault_key ? "fault" : "provider", kind);
		return;
	}
	if (a->is_probe) {
		diag(c, type, "type: probe: a fault is an action, not a probe");
		return;
	}
	fault_duration(c, m, a, "top-level duration");
	before = c->d->n;
	for (size_t i = 0; pmap && i < pmap->n; i++)
		if (strcmp(pmap->keys[i], "type"))
			fault_option(c, a, pmap->keys[i], pmap->kpos[i], pmap->kids[i]);
	for (size_t i = 0; !pmap && i < m->n; i++) {
		bool reserved = false;

		for (size_t k = 0; own_action_keys[k]; k++)
			reserved |= !strcmp(own_action_keys[k], m->keys[i]);
		reserved |= fault_key && !strcmp(m->keys[i], "fault");
		if (!reserved)
			fault_option(c, a, m->keys[i], m->kpos[i], m->kids[i]);
	}
	if (c->d->n == before) /* the fault's own checks need well-typed options */
		check_fault(c, a);
}

/*
 * chaostoolkit-lib's activity cache (chaoslib/caching.py): every named
 * activity of the method, then of the steady-state hypothesis (a later one
 * replaces an earlier one of the same name); rollbacks are not in it.
 */
static void ctk_cache_refs(struct bctx *c, struct mf_node *root)
{
	struct mf_node *lists[2] = { mf_get(root, "method"), NULL }, *h;

	h = mf_get(root, "steady-state-hypothesis");
	if (h && h->type == MF_MAP)
		lists[1] = mf_get(h, "probes");
	for (size_t l = 0; l < 2; l++) {
		if (!lists[l] || lists[l]->type != MF_SEQ)
			continue;
		for (size_t i = 0; i < lists[l]->n; i++) {
			struct mf_node *m = lists[l]->kids[i], *n = mf_get(m, "name");
			size_t k;

			if (!n || n->type != MF_SCALAR || mf_get(m, "ref"))
				continue;
			for (k = 0; k < c->nrefs && strcmp(c->refs[k].name, n->text); k++)
				;
			if (k == c->nrefs && c->nrefs == DURESS_ARRAY_SIZE(c->refs))
				continue;
			c->refs[k] = (struct named){ n->text, m };
			c->nrefs += k == c->nrefs;
		}
	}
}

static struct mf_node *ctk_resolve_ref(struct bctx *c, struct mf_node *m)
{
	struct mf_node *ref = mf_get(m, "ref");

	if (!ref)
		return m;
	if (!is_type(c, ref, "ref", MF_SCALAR))
		return NULL;
	for (size_t i = 0; i < c->nrefs; i++)
		if (!strcmp(c->refs[i].name, ref->text))
			return c->refs[i].node;
	diag(c, ref, "ref: no activity named '%s' in the method or the steady-state hypothesis",
	     ref->text);
	return NULL;
}

/* A value as requests writes it in a form or a query: str() of it. */
static void form_value(char **out, size_t *len, FILE *f, const char *key, const struct mf_node *v);

/* quote_plus: letters, digits and _.-~ kept, space as '+', the rest %XX. */
static void form_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || strchr("_.-~", ch))
			fputc(ch, f);
		else if (ch == ' ')
			fputc('+', f);
		else
			fprintf(f, "%%%02X", ch);
	}
}

static void form_value(char **out, size_t *len, FILE *f, const char *key, const struct mf_node *v)
{
	char *t;

	if (v->type == MF_SEQ) { /* a list repeats the key */
		for (size_t i = 0; i < v->n; i++)
			form_value(out, len, f, key, v->kids[i]);
		return;
	}
	if (v->type == MF_SCALAR && mf_is_null(v))
		return; /* None is left out */
	t = v->type == MF_SCALAR && !v->text[0] ? strdup("") : ctk_arg_text(v);
	if (!t)
		return;
	if (ftell(f) > 0)
		fputc('&', f);
	form_escape(f, key);
	fputc('=', f);
	form_escape(f, t);
	free(t);
}

/* A map as application/x-www-form-urlencoded (malloc'd). */
static char *form_encode(const struct mf_node *m)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		form_value(&out, &len, f, m->keys[i], m->kids[i]);
	fclose(f);
	return out;
}

static void add_header(struct probe *p, const char *h)
{
	char **v = realloc(p->headers, (p->nheaders + 2) * sizeof(*v));

	if (!v)
		return;
	p->headers = v;
	v[p->nheaders] = strdup(h);
	if (v[p->nheaders])
		p->nheaders++;
	v[p->nheaders] = NULL;
}

/*
 * Chaos Toolkit http arguments (chaoslib/provider/http.py): with GET, the
 * query string (requests' params); otherwise JSON when the headers say
 * exactly `Content-Type: application/json`, else form-encoded (a string is
 * sent as it is).
 */
static void ctk_http_arguments(struct bctx *c, struct probe *p, struct mf_node *prov,
			       struct mf_node *n)
{
	struct mf_node *h = mf_get(prov, "headers"), *ct = h ? mf_get(h, "Content-Type") : NULL;
	bool json = ct && ct->type == MF_SCALAR && !strcmp(ct->text, "application/json");

	if (mf_is_null(n) || (n->type != MF_SCALAR && !n->n))
		return; /* None, {} and [] send nothing */
	if (n->type == MF_SEQ) {
		diag(c, n, "arguments: expected a map or a string, got a list");
		return;
	}
	if (!strcmp(p->method, "GET")) {
		cleanup_free char *q = n->type == MF_MAP ? form_encode(n) : ctk_arg_text(n);

		if (q && *q &&
		    asprintf(&p->owned_url, "%s%c%s", p->url, strchr(p->url, '?') ? '&' : '?', q) >=
			    0)
			p->url = p->owned_url;
		return;
	}
	if (json) {
		json_t *j = mf_to_json(n);

		p->owned_body = json_dumps(j, JSON_ENCODE_ANY);
		json_decref(j);
	} else if (n->type == MF_MAP) {
		p->owned_body = form_encode(n);
		add_header(p, "Content-Type: application/x-www-form-urlencoded");
	} else {
		p->owned_body = ctk_arg_text(n);
	}
	p->body = p->owned_body;
}

/* requests: the method upper-cased. */
static void ctk_http_method(struct probe *p)
{
	if (!p->method || !(p->owned_method = strdup(p->method)))
		return;
	for (char *s = p->owned_method; *s; s++)
		*s = (char)toupper((unsigned char)*s);
	p->method = p->owned_method;
}

/* Chaos Toolkit format: one activity. */
static void ctk_activity(struct bctx *c, struct mf_node *m, enum section sec, struct action *a)
{
	static const char *const keys[] = { "type",	     "name",	"provider",    "tolerance",
					    "background",    "pauses",	"ref",	       "controls",
					    "configuration", "secrets", "description", NULL };
	static const char *const http_ctk[] = {
		"type",	       "url",	  "method",	     "headers",
		"arguments",   "timeout", "expected_status", "verify_tls",
		"max_retries", "secrets", "netns",	     NULL
	};
	static const char *const proc_ctk[] = { "type",	   "path",  "arguments", "timeout",
						"secrets", "netns", NULL };
	static const char *const duress_ctk[] = { "type", "fault", "duration", "arguments", NULL };
	struct mf_node *type, *prov, *ptype, *n;
	const char *tn;
	size_t before;

	m = ctk_resolve_ref(c, m);
	if (!m || !is_type(c, m, "activity", MF_MAP))
		return;
	check_keys_own(c, m, keys, "an activity");
	get_str(c, m, "name", true, &a->name);
	get_bool(c, m, "background", &a->background);
	pauses(c, m, a);
	a->source = m;
	type = mf_get(m, "type");
	if (get_str(c, m, "type", true, &tn) > 0) {
		if (strcmp(tn, "probe") && strcmp(tn, "action"))
			diag(c, type, "type: '%s': must be probe or action", tn);
		a->is_probe = !strcmp(tn, "probe");
	}
	prov = mf_get(m, "provider");
	if (!prov) {
		mf_diag_add(c->d, m->pos, false, "provider: required key missing");
		return;
	}
	if (!is_type(c, prov, "provider", MF_MAP))
		return;
	a->provider_pos = prov->pos;
	ptype = mf_get(prov, "type");
	if (!ptype) {
		mf_diag_add(c->d, prov->pos, false,
			    "type: required key missing (http, process, "
			    "python or duress)");
		return;
	}
	if (!is_type(c, ptype, "type", MF_SCALAR))
		return;
	a->probe.name = a->name;
	a->probe.pos = m->pos;
	a->probe.ctk = true;
	a->probe.source = m;
	if (!strcmp(ptype->text, "python")) {
		struct mf_node *mod = mf_get(prov, "module"), *fn = mf_get(prov, "func");
		bool seen = false;

		/* one message per provider, however many refs name it */
		for (size_t i = 0; i < c->npython; i++)
			seen |= c->python[i] == prov;
		if (!seen && c->npython < DURESS_ARRAY_SIZE(c->python))
			c->python[c->npython++] = prov;
		if (!seen)
			mf_diag_add(c->d, ptype->pos, true,
				    "provider: python (%s.%s) cannot run in duress: only http, "
				    "process and duress providers run",
				    mod && mod->type == MF_SCALAR ? mod->text : "?",
				    fn && fn->type == MF_SCALAR ? fn->text : "?");
		c->x->python_providers = true;
		a->unsupported = true;
		return;
	}
	if (!strcmp(ptype->text, "http")) {
		check_keys_own(c, prov, http_ctk, "an http provider");
		a->type = ACT_PROBE;
		http_probe(c, prov, &a->probe);
		ctk_http_method(&a->probe);
		n = mf_get(prov, "max_retries");
		if (n) {
			long v;

			if (node_long(c, n, "max_retries", 0, 100, &v) > 0)
				a->probe.max_retries = (unsigned)v;
		}
		n = mf_get(prov, "arguments");
		if (n && a->probe.url)
			ctk_http_arguments(c, &a->probe, prov, n);
		/* expected_status: accepted, and (as chaostoolkit-lib does) not used */
	} else if (!strcmp(ptype->text, "process")) {
		check_keys_own(c, prov, proc_ctk, "a process provider");
		a->type = ACT_PROBE;
		process_probe(c, prov, &a->probe);
	} else if (!strcmp(ptype->text, "duress")) {
		check_keys(c, prov, duress_ctk, "a duress provider");
		if (a->is_probe) {
			diag(c, ptype, "type: a duress fault is an action, not a probe");
			return;
		}
		if (sec != SEC_METHOD) {
			diag(c, ptype,
			     "provider: duress faults belong in the method (each is "
			     "reverted by itself)");
			return;
		}
		n = mf_get(prov, "fault");
		if (!n) {
			mf_diag_add(c->d, prov->pos, false, "fault: required key missing");
			return;
		}
		if (!is_type(c, n, "fault", MF_SCALAR) || !(a->fault = find_fault(c, n, "fault")))
			return;
		a->type = ACT_FAULT;
		fault_duration(c, prov, a, "in the duress extension");
		n = mf_get(prov, "arguments");
		before = c->d->n;
		if (n && is_type(c, n, "arguments", MF_MAP))
			for (size_t i = 0; i < n->n; i++)
				fault_option(c, a, n->keys[i], n->kpos[i], n->kids[i]);
		if (c->d->n == before)
			check_fault(c, a);
		return;
	} else {
		diag(c, ptype, "type: '%s': unknown provider type (http, process, python, duress)",
		     ptype->text);
		return;
	}
	n = mf_get(m, "tolerance");
	if (n)
		ctk_tolerance(c, n, &a->probe);
	else if (sec == SEC_STEADY)
		mf_diag_add(c->d, m->pos, false, "tolerance: required in a steady-state probe");
}

static void activities(struct bctx *c, struct mf_node *list, const char *key, enum section sec,
		       struct action **out, size_t *nout)
{
	struct action *v;

	if (!is_type(c, list, key, MF_SEQ))
		return;
	v = calloc(list->n + 1, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < list->n; i++) {
		struct mf_node *m = list->kids[i];

		v[i].pos = m->pos;
		v[i].source = m;
		if (!c->ctk && !is_type(c, m, key, MF_MAP))
			continue;
		if (c->ctk)
			ctk_activity(c, m, sec, &v[i]);
		else
			own_activity(c, m, sec, &v[i]);
		if (!v[i].name)
			v[i].name = v[i].type == ACT_PAUSE ? "pause" : "activity";
	}
	*out = v;
	*nout = list->n;
}

/* Steady state: `steady_state` / `steady-state-hypothesis`. */
static void steady_state(struct bctx *c, struct mf_node *m, const char *key)
{
	static const char *const keys[] = { "title", "description", "probes", NULL };
	struct mf_node *probes;
	struct action *acts = NULL;
	size_t n = 0;

	if (!is_type(c, m, key, MF_MAP))
		return;
	check_keys_own(c, m, keys, key);
	get_str(c, m, "title", c->ctk, &c->x->hyp_title);
	get_str(c, m, "description", false, &c->x->hyp_description);
	probes = mf_get(m, "probes");
	if (!probes)
		return;
	activities(c, probes, "probes", SEC_STEADY, &acts, &n);
	if (!acts)
		return;
	c->x->steady = calloc(n + 1, sizeof(*c->x->steady));
	for (size_t i = 0; c->x->steady && i < n; i++) {
		if (acts[i].unsupported)
			continue;
		if (acts[i].type == ACT_FAULT || acts[i].type == ACT_PAUSE) {
			mf_diag_add(c->d, acts[i].pos, false,
				    "probes: a steady-state probe is http, "
				    "process or metric");
			continue;
		}
		c->x->steady[c->x->nsteady] = acts[i].probe;
		if (!c->x->steady[c->x->nsteady].name)
			c->x->steady[c->x->nsteady].name = acts[i].name;
		c->x->nsteady++;
	}
	for (size_t i = 0; i < n; i++)
		free(acts[i].opts);
	free(acts);
}

/* ---- settings (top level, or the CTK "duress" extension) ---- */

static void abort_spec(struct bctx *c, struct mf_node *m)
{
	static const char *const keys[] = { "probe_failures", "metrics", "max_duration", "pressure",
					    NULL };
	static const char *const tkeys[] = { "resource", "full", "stall", "window", NULL };
	struct abort_spec *a = &c->x->abort;
	struct mf_node *n;
	long v;

	if (!is_type(c, m, "abort", MF_MAP))
		return;
	check_keys(c, m, keys, "abort");
	n = mf_get(m, "probe_failures");
	if (n && node_long(c, n, "probe_failures", 1, 1000000, &v) > 0)
		a->probe_failures = (unsigned)v;
	get_duration(c, m, "max_duration", 100000, &a->max_duration_us);
	n = mf_get(m, "metrics");
	if (n && is_type(c, n, "metrics", MF_SEQ)) {
		a->metrics = calloc(n->n + 1, sizeof(*a->metrics));
		for (size_t i = 0; a->metrics && i < n->n; i++) {
			struct duress_err e = { 0 };

			if (!is_type(c, n->kids[i], "metrics", MF_SCALAR))
				continue;
			if (metric_parse(n->kids[i]->text, &a->metrics[a->nmetrics], &e) < 0)
				diag(c, n->kids[i], "metrics: %s", e.msg);
			else
				a->nmetrics++;
		}
	}
	n = mf_get(m, "pressure");
	if (n && is_type(c, n, "pressure", MF_SEQ)) {
		if (n->n > ABORT_MAX_TRIGGERS)
			diag(c, n, "pressure: at most %d triggers", ABORT_MAX_TRIGGERS);
		for (size_t i = 0; i < n->n && i < ABORT_MAX_TRIGGERS; i++) {
			struct mf_node *t = n->kids[i];
			struct psi_trigger *pt = &a->triggers[a->ntriggers];
			const char *res;

			if (!is_type(c, t, "pressure", MF_MAP))
				continue;
			check_keys(c, t, tkeys, "a pressure trigger");
			if (get_str(c, t, "resource", true, &res) > 0) {
				if (strcmp(res, "cpu") && strcmp(res, "memory") &&
				    strcmp(res, "io"))
					diag(c, mf_get(t, "resource"),
					     "resource: '%s': must be cpu, memory or io", res);
				snprintf(pt->resource, sizeof(pt->resource), "%s", res);
			}
			get_bool(c, t, "full", &pt->full);
			pt->window_us = 1000000;
			get_duration(c, t, "window", 500000, &pt->window_us);
			if (pt->window_us > 10000000)
				diag(c, mf_get(t, "window"),
				     "window: at most 10s (the kernel's "
				     "limit)");
			if (get_duration(c, t, "stall", 1, &pt->stall_us) == 0)
				mf_diag_add(c->d, t->pos, false,
					    "stall: required key missing (stall "
					    "time within the window that aborts, e.g. 150ms)");
			else if (pt->stall_us > pt->window_us)
				diag(c, mf_get(t, "stall"), "stall: longer than the window");
			a->ntriggers++;
		}
	}
}

static const char *const settings_keys[] = {
	"target",	   "duration",	      "probe_interval",
	"sample_interval", "baseline",	      "recovery_timeout",
	"abort",	   "silent_failures", NULL
};

static void settings(struct bctx *c, struct mf_node *m)
{
	struct experiment *x = c->x;
	struct mf_node *n;

	get_str(c, m, "target", false, &x->target);
	get_duration(c, m, "duration", 100000, &x->duration_us);
	get_duration(c, m, "probe_interval", 100000, &x->probe_interval_us);
	get_duration(c, m, "sample_interval", 10000, &x->sample_interval_us);
	x->baseline_set |= get_duration(c, m, "baseline", 0, &x->baseline_us) > 0;
	get_duration(c, m, "recovery_timeout", 0, &x->recovery_timeout_us);
	n = mf_get(m, "abort");
	if (n)
		abort_spec(c, n);
	n = mf_get(m, "silent_failures");
	if (n && is_type(c, n, "silent_failures", MF_MAP)) {
		static const char *const keys[] = { "pressure", NULL };

		check_keys(c, n, keys, "silent_failures");
		get_double(c, n, "pressure", 0, 100, &x->silent_pressure_pct);
	}
}

/* Chaos Toolkit's format: no `name`, and its own keys. */
static bool is_ctk(const struct mf_node *root)
{
	return mf_find(root, "name") < 0 &&
	       (mf_find(root, "title") >= 0 || mf_find(root, "steady-state-hypothesis") >= 0 ||
		mf_find(root, "rollbacks") >= 0);
}

static void build(struct bctx *c, struct mf_node *root)
{
	static const char *const own[] = {
		"name",	    "description",	"hypothesis",	  "steady_state",
		"method",   "rollback",		"configuration",  "tags",
		"target",   "duration",		"probe_interval", "sample_interval",
		"baseline", "recovery_timeout", "abort",	  "silent_failures",
		NULL
	};
	static const char *const ctk[] = { "version",
					   "title",
					   "description",
					   "tags",
					   "configuration",
					   "secrets",
					   "contributions",
					   "extensions",
					   "controls",
					   "runtime",
					   "steady-state-hypothesis",
					   "method",
					   "rollbacks",
					   NULL };
	struct experiment *x = c->x;
	struct mf_node *n;

	x->sample_interval_us = 1000000;
	x->baseline_us = 2000000;
	x->recovery_timeout_us = 30000000;
	x->silent_pressure_pct = 10;
	c->ctk = x->ctk = is_ctk(root);
	if (c->ctk) {
		ctk_cache_refs(c, root);
		check_keys_own(c, root, ctk, "a Chaos Toolkit experiment");
		get_str(c, root, "title", true, &x->title);
		get_str(c, root, "description", true, &x->description);
		n = mf_get(root, "extensions");
		if (n && is_type(c, n, "extensions", MF_SEQ)) {
			for (size_t i = 0; i < n->n; i++) {
				struct mf_node *e = n->kids[i], *en = mf_get(e, "name");
				const char *keys[16] = { "name" };

				if (!en || en->type != MF_SCALAR || strcmp(en->text, "duress"))
					continue;
				for (size_t k = 0; settings_keys[k]; k++)
					keys[k + 1] = settings_keys[k];
				check_keys(c, e, keys, "the duress extension");
				settings(c, e);
			}
		}
	} else {
		check_keys(c, root, own, "the experiment");
		get_str(c, root, "name", true, &x->title);
		get_str(c, root, "description", false, &x->description);
		n = mf_get(root, "hypothesis");
		if (n && is_type(c, n, "hypothesis", MF_MAP)) {
			static const char *const keys[] = { "title", "description", NULL };

			check_keys(c, n, keys, "hypothesis");
			get_str(c, n, "title", false, &x->hyp_title);
			get_str(c, n, "description", false, &x->hyp_description);
		}
		settings(c, root);
	}
	n = mf_get(root, "tags");
	if (n && n->type != MF_SEQ)
		diag(c, n, "tags: expected a list, got %s", mf_type_name(n));
	n = mf_get(root, c->ctk ? "steady-state-hypothesis" : "steady_state");
	if (n)
		steady_state(c, n, c->ctk ? "steady-state-hypothesis" : "steady_state");
	n = mf_get(root, "method");
	if (!n)
		mf_diag_add(c->d, root->pos, false, "method: required key missing (the actions)");
	else
		activities(c, n, "method", SEC_METHOD, &x->method, &x->nmethod);
	n = mf_get(root, c->ctk ? "rollbacks" : "rollback");
	if (n)
		activities(c, n, c->ctk ? "rollbacks" : "rollback", SEC_ROLLBACK, &x->rollback,
			   &x->nrollback);
	if (x->abort.probe_failures && !x->probe_interval_us)
		mf_diag_add(c->d, key_pos(root, "abort"), false,
			    "abort: probe_failures needs probe_interval (probes run during the "
			    "method only then)");
	if (x->abort.probe_failures && !x->nsteady)
		mf_diag_add(c->d, key_pos(root, "abort"), false,
			    "abort: probe_failures needs steady-state probes");
}

int manifest_load_text(const char *name, const char *text, size_t len, struct experiment *x,
		       struct mf_diags *d, struct duress_err *err)
{
	return manifest_load_text_opts(name, text, len, 0, x, d, err);
}

int manifest_load_text_opts(const char *name, const char *text, size_t len, unsigned flags,
			    struct experiment *x, struct mf_diags *d, struct duress_err *err)
{
	struct bctx c = { .x = x, .d = d };
	size_t nl = strlen(name);
	bool json = nl > 5 && !strcmp(name + nl - 5, ".json");
	struct mf_node *config;

	memset(x, 0, sizeof(*x));
	x->file = name;
	if (mf_parse(text, len, json, &x->root, d) < 0)
		goto invalid;
	if (x->root->type != MF_MAP) {
		mf_diag_add(d, x->root->pos, false, "experiment: expected a map of keys, got %s",
			    mf_type_name(x->root));
		goto invalid;
	}
	config = mf_get(x->root, "configuration");
	if (config && config->type != MF_MAP)
		diag(&c, config, "configuration: expected a map, got %s", mf_type_name(config));
	/* the journal keeps the experiment as written: no value of the
	 * environment in it */
	x->source = mf_to_json(x->root);
	if (is_ctk(x->root)) {
		struct mf_node *secrets = mf_get(x->root, "secrets");

		if (secrets && secrets->type != MF_MAP)
			diag(&c, secrets, "secrets: expected a map, got %s", mf_type_name(secrets));
		mf_substitute_ctk(x->root, config && config->type == MF_MAP ? config : NULL,
				  secrets && secrets->type == MF_MAP ? secrets : NULL,
				  flags & MANIFEST_NO_ENV, d);
	} else {
		mf_substitute(x->root, config && config->type == MF_MAP ? config : NULL,
			      flags & MANIFEST_NO_ENV, d);
	}
	build(&c, x->root);
	if (!d->n)
		return 0;
invalid:
	if (mf_diags_only_unsupported(d))
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "%s: the experiment cannot run here (%zu problem%s)", name,
				       d->n, d->n == 1 ? "" : "s");
	return duress_err_setc(err, DURESS_EXIT_INVALID_MANIFEST, 0,
			       "%s: invalid experiment (%zu problem%s)", name, d->n,
			       d->n == 1 ? "" : "s");
}

int manifest_load(const char *path, struct experiment *x, struct mf_diags *d,
		  struct duress_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	cleanup_free char *buf = NULL;
	struct stat st;
	size_t got = 0;

	memset(x, 0, sizeof(*x));
	if (fd < 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "cannot open %s", path);
	if (fstat(fd, &st) < 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "%s", path);
	if (!S_ISREG(st.st_mode) || st.st_size > MANIFEST_MAX_BYTES)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: not a regular file of at most 4 MiB", path);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", path);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "read %s", path);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	return manifest_load_text(path, buf, got, x, d, err);
}

static void probe_free(struct probe *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nheaders; i++)
		free(p->headers[i]);
	free(p->owned_body);
	free(p->owned_url);
	free(p->owned_method);
	if (p->tol_probe) {
		probe_free(p->tol_probe);
		free(p->tol_probe);
	}
	json_decref(p->tolerance);
	free(p->owned_path);
	free(p->owned_line);
	for (size_t i = 0; i < p->nowned_args; i++)
		free(p->owned_args[i]);
	free(p->owned_args);
	free(p->headers);
	free(p->args);
	json_decref(p->json_value);
}

static void actions_free(struct action *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].opts);
		probe_free(&v[i].probe);
	}
	free(v);
}

void manifest_free(struct experiment *x)
{
	for (size_t i = 0; i < x->nsteady; i++)
		probe_free(&x->steady[i]);
	free(x->steady);
	actions_free(x->method, x->nmethod);
	actions_free(x->rollback, x->nrollback);
	free(x->abort.metrics);
	json_decref(x->source);
	mf_node_free(x->root);
	memset(x, 0, sizeof(*x));
}
