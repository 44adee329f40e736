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

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
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
			return allow(routes[i].item, method, routes[i].item_methods, status,
				     allowed);
		}
		/* ID/lease: the id's length checked before it is copied */
		if (url[pl] == '/' && routes[i].lease != ROUTE_NONE) {
			const char *s = url + pl + 1, *slash = strchr(s, '/');
			size_t n = slash ? (size_t)(slash - s) : 0;
			char tmp[SERVE_ID_MAX + 1];
			/* an experiment's report: ID/report */
			bool report = slash && routes[i].r == ROUTE_EXPERIMENTS &&
				      !strcmp(slash, "/report");

			if (!slash || n == 0 || n > SERVE_ID_MAX ||
			    (strcmp(slash, lease) && !report))
				continue;
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			if (!id_ok(tmp))
				continue;
			memcpy(id, tmp, n + 1);
			if (report)
				return allow(ROUTE_EXPERIMENT_REPORT, method, "GET", status,
					     allowed);
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

/* ---- requests from web pages ---- */

bool serve_host_is_loopback(const char *host)
{
	char name[256];
	const char *end;
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;

	if (!host)
		return false;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		host++;
	} else {
		end = strchr(host, ':');
		if (!end)
			end = host + strlen(host);
	}
	n = (size_t)(end - host);
	if (!n || n >= sizeof(name))
		return false;
	memcpy(name, host, n);
	name[n] = '\0';
	if (!strcasecmp(name, "localhost") || !strcasecmp(name, "localhost."))
		return true;
	if (inet_pton(AF_INET, name, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, name, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

bool serve_body_type_ok(const char *content_type)
{
	static const char *const ok[] = { "application/json",	"application/yaml",
					  "application/x-yaml", "text/yaml",
					  "text/x-yaml",	NULL };
	size_t n = strcspn(content_type, "; \t");

	/* the media type alone (parameters such as charset do not matter);
	 * the form types a web page can send without asking (text/plain,
	 * application/x-www-form-urlencoded, multipart/form-data) are not
	 * among them */
	for (size_t i = 0; ok[i]; i++)
		if (strlen(ok[i]) == n && !strncasecmp(content_type, ok[i], n))
			return true;
	return false;
}

int serve_cross_site_check(const char *method, const char *origin, const char *fetch_site,
			   const char *content_type, const char *host, bool loopback_tcp,
			   struct serve_error *e)
{
	if (origin) {
		serve_error_set(e, 403, "Origin",
				"a request from a web page (Origin: %.100s) "
				"is refused: the API is not for browsers",
				origin);
		return e->status;
	}
	if (fetch_site && strcasecmp(fetch_site, "none")) {
		serve_error_set(e, 403, "Sec-Fetch-Site",
				"a request from a web page "
				"(Sec-Fetch-Site: %.40s) is refused",
				fetch_site);
		return e->status;
	}
	if (!strcmp(method, "POST") && content_type && !serve_body_type_ok(content_type)) {
		serve_error_set(e, 415, "Content-Type",
				"Content-Type: %.60s: a POST body must be application/json "
				"or YAML (application/yaml, application/x-yaml, text/yaml, "
				"text/x-yaml): curl --json, or -H 'Content-Type: "
				"application/json'",
				content_type);
		return e->status;
	}
	if (loopback_tcp && host && !serve_host_is_loopback(host)) {
		serve_error_set(e, 421, "Host",
				"Host: %.100s: this server answers only "
				"for the loopback (localhost, 127.0.0.1, [::1])",
				host);
		return e->status;
	}
	return 0;
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

/*
 * How many bits a token may hold, estimated from what it is made of: its
 * length times log2 of the alphabet its character classes span (hex, or
 * digits, lower case, upper case, other printable ASCII); a repetitive
 * token (under 3 bits a character in the Shannon entropy of its character
 * distribution: "abab...") spans an alphabet it does not use and counts
 * only that entropy.  What a random generator gives passes: `openssl rand
 * -hex 32` (64 hex characters, 256 bits), `openssl rand -base64 32` (44,
 * 262).
 */
double serve_token_bits(const char *s)
{
	bool digit = false, lower = false, upper = false, other = false, hex = true;
	unsigned counts[256] = { 0 };
	size_t n = strlen(s);
	double alphabet, shannon = 0, bits;

	if (!n)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		counts[*p]++;
		digit |= isdigit(*p) != 0;
		lower |= islower(*p) != 0;
		upper |= isupper(*p) != 0;
		other |= !isalnum(*p);
		hex &= isxdigit(*p) != 0;
	}
	if (hex && !(lower && upper))
		alphabet = digit && !lower && !upper ? 10 : 16;
	else
		alphabet =
			(digit ? 10 : 0) + (lower ? 26 : 0) + (upper ? 26 : 0) + (other ? 32 : 0);
	for (size_t c = 0; c < 256; c++)
		if (counts[c]) {
			double q = (double)counts[c] / (double)n;

			shannon -= q * log2(q);
		}
	bits = (double)n * log2(alphabet);
	return shannon < 3 ? shannon * (double)n : bits;
}

/* Placeholders of examples and templates: refused whatever their length. */
static const char *token_placeholder(const char *s)
{
	static const char *const words[] = { "changeme",    "change-me", "change_me",
					     "replace-me",  "replaceme", "replace_me",
					     "placeholder", "example",	 "your-token",
					     "yourtoken",   "secret",	 "password",
					     "s3cr3t",	    "passw0rd",	 NULL };

	for (size_t i = 0; words[i]; i++)
		if (strcasestr(s, words[i]))
			return words[i];
	return NULL;
}

int serve_read_token(const char *path, char *out, size_t len, struct duress_err *err)
{
	const char *word;
	double bits;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[1024];
	struct stat st;
	ssize_t n;
	char *s, *e;

	if (fd < 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno,
				       "--token-file: cannot open %s", path);
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
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "--token-file: read %s",
				       path);
	buf[n] = '\0';
	s = buf;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strcspn(s, "\r\n");
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	if (e - s == 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--token-file: %s: no token (the first line is empty)",
				       path);
	if ((size_t)(e - s) >= len)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--token-file: %s: token too long", path);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "--token-file: %s: the token must be printable "
					       "ASCII without spaces",
					       path);
	word = token_placeholder(s);
	if (word)
		return duress_err_setc(
			err, DURESS_EXIT_USAGE, 0,
			"--token-file: %s: the token is a placeholder ('%s'): make a "
			"random one, e.g. openssl rand -hex 32",
			path, word);
	bits = serve_token_bits(s);
	if (bits < SERVE_TOKEN_MIN_BITS)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--token-file: %s: the token holds at most %.0f bits, %d "
				       "needed (32 random bytes: openssl rand -hex 32)",
				       path, bits, SERVE_TOKEN_MIN_BITS);
	memcpy(out, s, (size_t)(e - s) + 1);
	return 0;
}

/* ---- errors ---- */

/* The length of the valid UTF-8 character at s, or 0 (*cut: only because
 * the string ends inside it).  What jansson accepts: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static size_t utf8_char(const unsigned char *s, bool *cut)
{
	unsigned c = s[0], cp;
	size_t n;

	*cut = false;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if (!s[i]) {
			*cut = true;
			return 0;
		}
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void serve_utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		bool cut;
		size_t n = utf8_char(p, &cut);

		if (n) {
			p += n;
		} else if (cut) {
			*p = '\0';
		} else {
			*p++ = '?';
		}
	}
}

json_t *serve_json_text(const char *s)
{
	char *copy = strdup(s ? s : "");
	json_t *v;

	if (!copy)
		return NULL;
	serve_utf8_fix(copy);
	v = json_string(copy);
	free(copy);
	return v;
}

int serve_error_set(struct serve_error *e, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	/* cut on a character boundary, whatever it quotes */
	serve_utf8_fix(e->field);
	serve_utf8_fix(e->reason);
	return -1;
}

char *serve_error_json(const struct serve_error *e)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "error", serve_json_text(e->reason));
	if (e->field[0])
		json_object_set_new(o, "field", serve_json_text(e->field));
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
 * (integers exactly), true for a flag.  -1: not a scalar; -2: longer than
 * the buffer (refused: the value checked must be the value run, never a
 * truncated copy of it). */
static int value_text(json_t *v, char *buf, size_t len)
{
	int n;

	if (json_is_string(v)) {
		if (json_string_length(v) != strlen(json_string_value(v)))
			return -1; /* an embedded NUL: the child would see less */
		n = snprintf(buf, len, "%s", json_string_value(v));
	} else if (json_is_integer(v))
		n = snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		n = snprintf(buf, len, "%.17g", json_real_value(v));
	else
		return -1;
	return n < 0 || (size_t)n >= len ? -2 : 0;
}

/* Copy a checked string whole, or refuse it (422 naming the field). */
static int copy_whole(char *buf, size_t len, const char *s, const char *field,
		      struct serve_error *e)
{
	size_t n = strlen(s);

	if (n >= len)
		return serve_error_set(e, 422, field, "%s: too long (%zu bytes, at most %zu)",
				       field, n, len - 1);
	memcpy(buf, s, n + 1);
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
	if (copy_whole(text, len, json_string_value(v), key, e) < 0)
		return -1;
	if (parse_duration(text, key, us, &err) < 0)
		return serve_error_set(e, 422, key, "%s", err.msg);
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
		return serve_error_set(e, 422, "options",
				       "options: expected an object of the %s "
				       "fault's options",
				       d->name);
	json_object_foreach(opts, k, v) {
		int idx = fault_opt_index(d, k);
		char what[160], text[256], flag[160];
		int rc;

		snprintf(what, sizeof(what), "options.%s", k);
		if (idx < 0)
			return serve_error_set(e, 422, what,
					       "%s: unknown option of the %s fault "
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
				rc = value_text(item, text, sizeof(text));
				if (rc == -2)
					return serve_error_set(e, 422, what,
							       "%s[%zu]: too long (at most %zu "
							       "bytes)",
							       what, i, sizeof(text) - 1);
				if (rc < 0)
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
		rc = value_text(v, text, sizeof(text));
		if (rc == -2)
			return serve_error_set(e, 422, what, "%s: too long (at most %zu bytes)",
					       what, sizeof(text) - 1);
		if (rc < 0)
			return serve_error_set(
				e, 422, what, "%s: expected a string or a number%s", what,
				d->opts[idx].type == FOPT_LIST ? " (or a list of them)" : "");
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
		return serve_error_set(e, 422, field, "%s: '%s': must be from 1s to 1h", field,
				       text);
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
			return serve_error_set(e, 422, k,
					       "%s: unknown field (fields: fault, target, "
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
			return serve_error_set(e, 422, "id",
					       "id: expected 1 to %d letters, digits "
					       "or '-'",
					       SERVE_ID_MAX);
		snprintf(r->id, sizeof(r->id), "%s", id);
	}
	v = json_object_get(o, "fault");
	if (!v || !json_is_string(v))
		return serve_error_set(e, 422, "fault",
				       "fault: required, a fault name (memory, cpu, "
				       "io, disk-fill, freeze, network)");
	name = json_string_value(v);
	r->desc = fault_find(name);
	if (!r->desc)
		return serve_error_set(e, 422, "fault", "fault: '%s': unknown fault", name);
	v = json_object_get(o, "target");
	if (!v || !json_is_string(v) || !*json_string_value(v))
		return serve_error_set(e, 422, "target",
				       "target: required: cgroup:PATH, pid:N or "
				       "container:ID (a sandbox exists only "
				       "while a command runs)");
	target = json_string_value(v);
	if (copy_whole(r->target, sizeof(r->target), target, "target", e) < 0)
		return -1;
	if (target_spec_parse(r->target, &spec, &err) < 0)
		return serve_error_set(e, 422, "target", "target: %s", err.msg);
	rc = get_duration_field(o, "duration", &r->duration_us, r->duration, sizeof(r->duration),
				e);
	if (rc < 0)
		return -1;
	if (!rc)
		return serve_error_set(e, 422, "duration",
				       "duration: required: how long the fault "
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
		return serve_error_set(e, 422, "lease",
				       "lease: expected a duration string like \"5s\"");
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
		return serve_error_set(e, 400, "body",
				       "body: malformed JSON at line %d column %d: %s", je.line,
				       je.column, je.text);
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
