// SPDX-License-Identifier: MIT
/* Probes (http with libcurl, process with fork/exec, metric on samples). */
#include <duress/samples/sample_format.h>
#include <duress/core/timing.h>
#include <duress/core/proc.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/jsonpath.h>
#include <duress/experiment/probe.h>
#include <duress/samples/sample.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define PROBE_OUTPUT_MAX (1 << 20) /* bytes of a body or stdout kept for checks */
#define PROBE_JOURNAL_MAX 4096	   /* bytes of it kept in the journal */

static void fail(struct probe_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct probe_net_guard guard; /* probe_net_guard_set() */

static void fail(struct probe_result *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->ok)
		return; /* keep the first reason */
	r->ok = false;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

/* The activity itself failed (chaostoolkit-lib raised ActivityFailed). */
static void raise_(struct probe_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void raise_(struct probe_result *r, const char *fmt, ...)
{
	va_list ap;

	r->raised = true;
	if (!r->ok)
		return;
	r->ok = false;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

/* ---- metric expressions ---- */

int metric_parse(const char *text, struct metric_expr *m, struct duress_err *err)
{
	static const struct {
		const char *s;
		enum metric_op op;
	} ops[] = { { "==", METRIC_EQ }, { "!=", METRIC_NE }, { "<=", METRIC_LE },
		    { ">=", METRIC_GE }, { "<", METRIC_LT },  { ">", METRIC_GT } };
	const char *s = text, *k;
	size_t klen;
	char *end;
	bool found = false;

	memset(m, 0, sizeof(*m));
	snprintf(m->text, sizeof(m->text), "%s", text);
	while (isspace((unsigned char)*s))
		s++;
	if (!strncmp(s, "increase(", 9)) {
		m->increase = true;
		s += 9;
	}
	k = s;
	while (isalnum((unsigned char)*s) || (*s && strchr("_.:-", *s)))
		s++;
	klen = (size_t)(s - k);
	if (!klen || klen >= sizeof(m->key))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "'%s': expected KEY OP NUMBER, e.g. 'cpu.usage_pct < 95'",
				       text);
	memcpy(m->key, k, klen);
	if (m->increase) {
		if (*s != ')')
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "'%s': increase( needs its closing ')'", text);
		s++;
	}
	while (isspace((unsigned char)*s))
		s++;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].s);

		if (!strncmp(s, ops[i].s, n)) {
			m->op = ops[i].op;
			s += n;
			found = true;
			break;
		}
	}
	if (!found)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "'%s': expected a comparison (==, !=, <, <=, >, >=) after "
				       "'%s'",
				       text, m->key);
	while (isspace((unsigned char)*s))
		s++;
	if (!strncmp(s, "max", 3)) {
		m->value = INFINITY;
		end = (char *)s + 3;
	} else {
		errno = 0;
		m->value = strtod(s, &end);
		if (end == s || errno || !isfinite(m->value))
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "'%s': expected a number (or max) after the "
					       "comparison",
					       text);
	}
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "'%s': unexpected '%s' after the number", text, end);
	return 0;
}

int metric_eval(const struct metric_expr *m, json_t *sample, json_t *first, double *value,
		bool *holds, struct duress_err *err)
{
	double v, base = 0;

	if (sample_lookup(sample, m->key, &v) < 0)
		return duress_err_set(err, 0,
				      "%s: not in the sample (absent is not zero: the "
				      "kernel or the target does not offer it)",
				      m->key);
	if (m->increase) {
		if (sample_lookup(first ? first : sample, m->key, &base) < 0)
			base = v;
		v -= base;
	}
	*value = v;
	switch (m->op) {
	case METRIC_EQ:
		*holds = v == m->value;
		break;
	case METRIC_NE:
		*holds = v != m->value;
		break;
	case METRIC_LT:
		*holds = v < m->value;
		break;
	case METRIC_LE:
		*holds = v <= m->value;
		break;
	case METRIC_GT:
		*holds = v > m->value;
		break;
	case METRIC_GE:
		*holds = v >= m->value;
		break;
	}
	return 0;
}

/* ---- JSON pointer (RFC 6901) ---- */

json_t *json_pointer_get(json_t *doc, const char *ptr)
{
	char tok[256];

	if (!*ptr)
		return doc;
	if (*ptr != '/')
		return NULL;
	while (doc && *ptr == '/') {
		size_t n = 0;

		ptr++;
		while (*ptr && *ptr != '/' && n + 1 < sizeof(tok)) {
			if (ptr[0] == '~' && ptr[1] == '1') {
				tok[n++] = '/';
				ptr += 2;
			} else if (ptr[0] == '~' && ptr[1] == '0') {
				tok[n++] = '~';
				ptr += 2;
			} else {
				tok[n++] = *ptr++;
			}
		}
		tok[n] = '\0';
		if (json_is_object(doc)) {
			doc = json_object_get(doc, tok);
		} else if (json_is_array(doc)) {
			char *end;
			unsigned long i = strtoul(tok, &end, 10);

			doc = (!n || *end || (n > 1 && tok[0] == '0')) ? NULL
								       : json_array_get(doc, i);
		} else {
			doc = NULL;
		}
	}
	return *ptr ? NULL : doc;
}

/* ---- output checks (http body, process stdout) ---- */

static void trimmed(const char *s, size_t len, const char **b, size_t *n)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	*b = s;
	*n = len;
}

static bool json_same(json_t *a, json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

static void check_output(const struct probe *p, const char *what, const char *text, size_t len,
			 struct probe_result *r)
{
	if (p->contains && !strstr(text, p->contains))
		fail(r, "%s does not contain '%s'", what, p->contains);
	if (p->equals) {
		const char *a, *b;
		size_t na, nb;

		trimmed(text, len, &a, &na);
		trimmed(p->equals, strlen(p->equals), &b, &nb);
		if (na != nb || memcmp(a, b, na))
			fail(r, "%s is not '%s'", what, p->equals);
	}
	if (p->regex) {
		regex_t re;

		if (regcomp(&re, p->regex, REG_EXTENDED | REG_NOSUB) == 0) {
			if (regexec(&re, text, 0, NULL, 0))
				fail(r, "%s does not match /%s/", what, p->regex);
			regfree(&re);
		}
	}
	if (p->json_pointer) {
		json_error_t je;
		json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &je), *v;

		if (!doc) {
			fail(r, "%s is not JSON (%s at line %d)", what, je.text, je.line);
			return;
		}
		v = json_pointer_get(doc, p->json_pointer);
		if (!v) {
			fail(r, "%s has nothing at %s", what, p->json_pointer);
		} else if (p->json_value && !json_same(v, p->json_value)) {
			char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			char *want = json_dumps(p->json_value, JSON_ENCODE_ANY | JSON_COMPACT);

			/* a job of duress serve shows no part of a body to its client */
			fail(r, "%s: %s is %.100s, expected %.100s", what, p->json_pointer,
			     guard.on ? "(withheld)"
			     : got    ? got
				      : "?",
			     want ? want : "?");
			free(got);
			free(want);
		}
		json_decref(doc);
	}
}

static bool status_ok(const struct probe *p, long code, long dflt_lo, long dflt_hi)
{
	if (!p->nstatus)
		return code >= dflt_lo && code <= dflt_hi;
	for (size_t i = 0; i < p->nstatus; i++)
		if (code >= p->status[i].lo && code <= p->status[i].hi)
			return true;
	return false;
}

/* Output text as chaostoolkit-lib keeps it: UTF-8 as it is; other bytes
 * (where it would decode with another codec) as '?'. */
static json_t *ctk_text(char *s, size_t len)
{
	json_t *j = json_stringn(s, len);

	if (j)
		return j;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			s[i] = '?';
	return json_stringn_nocheck(s, len);
}

static json_t *text_json(const char *s, size_t len)
{
	return json_stringn_nocheck(s, len > PROBE_JOURNAL_MAX ? PROBE_JOURNAL_MAX : len);
}

/* Make text valid for JSON: replace bytes that are not UTF-8 by '?'. */
static void sanitize(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80 || (s[i] < 0x20 && !isspace((unsigned char)s[i])))
			s[i] = '?';
}

/* ---- network namespace switch ---- */

static int enter_netns(const struct probe *p, const struct probe_ctx *ctx, int *saved,
		       struct probe_result *r)
{
	*saved = -1;
	if (!p->in_target_netns)
		return 0;
	if (!ctx->target || ctx->target->netns_fd < 0) {
		fail(r, "netns target: the target has no process, hence no network namespace");
		return -1;
	}
	*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0 || setns(ctx->target->netns_fd, CLONE_NEWNET) < 0) {
		fail(r, "enter the target's network namespace: %s", strerror(errno));
		if (*saved >= 0)
			close(*saved);
		*saved = -1;
		return -1;
	}
	return 0;
}

static void leave_netns(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET) < 0)
		fprintf(stderr, "duress: cannot return to the agent's network namespace: %s\n",
			strerror(errno));
	close(saved);
}

/* ---- http ---- */

struct buf {
	char *p;
	size_t n;
};

static size_t write_cb(char *data, size_t size, size_t nmemb, void *user)
{
	struct buf *b = user;
	size_t len = size * nmemb, room = PROBE_OUTPUT_MAX - b->n;
	char *np;

	if (len > room)
		len = room;
	np = realloc(b->p, b->n + len + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, len);
	b->n += len;
	b->p[b->n] = '\0';
	return size * nmemb;
}

/* ---- where http probes may connect ---- */

void probe_net_guard_set(const struct probe_net_guard *g)
{
	guard = *g;
}

bool probe_net_refused(const struct probe_net_guard *g, int family, const unsigned char *addr)
{
	static const char *const refused[] = { "127.0.0.0/8",	 "0.0.0.0/8",
					       "169.254.0.0/16", "100.100.100.200/32",
					       "::1/128",	 "::/128",
					       "fe80::/10",	 "fd00:ec2::254/128" };
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	bool bad = false;

	if (!g->on)
		return false;
	for (size_t i = 0; i < g->nallow; i++)
		if (g->allow[i].family == family && ns_cidr_contains(&g->allow[i], addr))
			return false;
	/* ::ffff:a.b.c.d is a.b.c.d */
	if (family == AF_INET6 && !memcmp(addr, mapped, sizeof(mapped)))
		return probe_net_refused(g, AF_INET, addr + 12);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]) && !bad; i++) {
		struct duress_err err = { 0 };
		struct ns_cidr c;

		if (ns_parse_cidr(refused[i], "guard", &c, &err) == 0 && c.family == family)
			bad = ns_cidr_contains(&c, addr);
	}
	return bad;
}

struct guard_state {
	char refused[64]; /* the address refused, "" if none */
};

/* curl's socket: none for an address the guard refuses (checked on the
 * address resolved, so a name that resolves there is refused too) */
static curl_socket_t guard_open(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct guard_state *gs = user;
	const unsigned char *ip = NULL;

	(void)purpose;
	if (a->family == AF_INET)
		ip = (const unsigned char *)&((struct sockaddr_in *)&a->addr)->sin_addr;
	else if (a->family == AF_INET6)
		ip = (const unsigned char *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr;
	if (!ip || probe_net_refused(&guard, a->family, ip)) {
		if (!ip || !inet_ntop(a->family, ip, gs->refused, sizeof(gs->refused)))
			snprintf(gs->refused, sizeof(gs->refused), "an address of family %d",
				 a->family);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Response headers as requests' dict: the last response's, a repeated
 * header joined with ", ". */
static size_t header_cb(char *data, size_t size, size_t nmemb, void *user)
{
	json_t *h = user;
	size_t len = size * nmemb, k;
	const char *colon = memchr(data, ':', len), *v, *e = data + len;
	char name[256];
	json_t *old;
	char *joined;

	if (len > 5 && !strncmp(data, "HTTP/", 5)) {
		json_object_clear(h); /* a new response (redirect, 100 Continue) */
		return len;
	}
	if (!colon || (size_t)(colon - data) >= sizeof(name))
		return len;
	k = (size_t)(colon - data);
	memcpy(name, data, k);
	name[k] = '\0';
	for (v = colon + 1; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	old = json_object_get(h, name);
	if (old && asprintf(&joined, "%s, %.*s", json_string_value(old), (int)(e - v), v) >= 0) {
		json_object_set_new(h, name, json_string_nocheck(joined));
		free(joined);
	} else if (!old) {
		json_object_set_new(h, name, json_stringn_nocheck(v, (size_t)(e - v)));
	}
	return len;
}

/* requests' r.headers.get("Content-Type") == "application/json":
 * case-insensitive name, exact value. */
static bool json_reply(json_t *h)
{
	const char *k;
	json_t *v;

	json_object_foreach(h, k, v)
		if (!strcasecmp(k, "Content-Type"))
			return !strcmp(json_string_value(v), "application/json");
	return false;
}

static void run_http(const struct probe *p, const struct probe_ctx *ctx, struct probe_result *r)
{
	struct guard_state gs = { "" };
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct buf body = { 0 };
	json_t *rh = json_object();
	unsigned attempt = 0;
	char errbuf[CURL_ERROR_SIZE] = "";
	long code = 0;
	int saved;
	CURLcode cr;
	double t0;

	if (!c) {
		fail(r, "cannot initialise libcurl");
		return;
	}
	for (size_t i = 0; i < p->nheaders; i++)
		hdrs = curl_slist_append(hdrs, p->headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, p->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(p->timeout_us / 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(p->timeout_us / 1000));
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, p->verify_tls ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, p->verify_tls ? 2L : 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "duress-probe");
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	if (!strcasecmp(p->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcasecmp(p->method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, p->method);
	if (p->body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->body);
	if (guard.on) {
		curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, guard_open);
		curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &gs);
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	}
	if (p->ctk) {
		/* requests follows redirects and keeps the headers */
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 30L);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, rh);
	}

	t0 = (timing_now() * 1e3);
	if (enter_netns(p, ctx, &saved, r) == 0) {
		/* max_retries: urllib3's Retry(N, read=False) retries what never
		 * reached the server */
		do
			cr = curl_easy_perform(c);
		while ((cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST) &&
		       attempt++ < p->max_retries);
		leave_netns(saved);
		r->latency_ms = (timing_now() * 1e3) - t0;
		if (cr != CURLE_OK && gs.refused[0]) {
			fail(r,
			     "%s %s: %s: a loopback, link-local or metadata address, refused for "
			     "a job started over the API (duress serve --allow-probe-net CIDR)",
			     p->method, p->url, gs.refused);
		} else if (cr != CURLE_OK) {
			(p->ctk ? raise_ : fail)(r, "%s %s: %s", p->method, p->url,
						 errbuf[0] ? errbuf : curl_easy_strerror(cr));
		} else if (p->ctk) {
			json_t *b = NULL;

			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
			if (json_reply(rh))
				b = json_loadb(body.p ? body.p : "", body.n, JSON_DECODE_ANY, NULL);
			r->output = json_pack(
				"{s:I, s:O, s:o}", "status", (json_int_t)code, "headers", rh,
				"body", b ? b : ctk_text(body.p ? body.p : (char[]){ 0 }, body.n));
		} else {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
			if (body.p)
				sanitize(body.p, body.n);
			r->output = json_pack("{s:I, s:o}", "status", (json_int_t)code, "body",
					      text_json(body.p ? body.p : "", body.n));
			if (!status_ok(p, code, 100, 399))
				fail(r, "%s %s: status %ld not expected", p->method, p->url, code);
			check_output(p, "body", body.p ? body.p : "", body.n, r);
		}
	}
	json_decref(rh);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(body.p);
}

/* ---- process ---- */

static void drain(int fd, struct buf *b, bool *open_)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n > 0)
		write_cb(chunk, 1, (size_t)n, b);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		*open_ = false;
}

static void run_process(const struct probe *p, const struct probe_ctx *ctx, struct probe_result *r)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, status = 0;
	cleanup_free const char **argv = calloc(p->nargs + 2, sizeof(*argv));
	struct buf o = { 0 }, e = { 0 };
	bool oo = true, eo = true, timed_out = false;
	double t0 = (timing_now() * 1e3);
	double deadline = p->timeout_us ? t0 + (double)p->timeout_us / 1e3 : INFINITY;
	pid_t pid, parent = getpid();

	if (!argv || pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(errp, O_CLOEXEC | O_NONBLOCK) < 0) {
		fail(r, "%s: pipe: %s", p->path, strerror(errno));
		goto out;
	}
	argv[0] = p->path;
	for (size_t i = 0; i < p->nargs; i++)
		argv[i + 1] = p->args[i];
	pid = fork();
	if (pid < 0) {
		fail(r, "%s: fork: %s", p->path, strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* a probe the agent no longer waits for must not outlive it */
		const struct proc_child setup = { .deathsig = SIGKILL, .parent = parent };
		int devnull;

		(void)proc_child_setup(&setup, 127);
		devnull = open("/dev/null", O_RDONLY);
		setpgid(0, 0);
		if (p->in_target_netns && (!ctx->target || ctx->target->netns_fd < 0 ||
					   setns(ctx->target->netns_fd, CLONE_NEWNET) < 0)) {
			dprintf(errp[1], "cannot enter the target's network namespace\n");
			_exit(126);
		}
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		execv(p->path, (char *const *)argv);
		dprintf(2, "exec %s: %s\n", p->path, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	while (oo || eo) {
		struct pollfd pfd[2] = { { .fd = oo ? out[0] : -1, .events = POLLIN },
					 { .fd = eo ? errp[0] : -1, .events = POLLIN } };
		double left = deadline - (timing_now() * 1e3);

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(pfd, 2, isinf(left) ? -1 : (int)left + 1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			drain(out[0], &o, &oo);
		if (pfd[1].revents)
			drain(errp[0], &e, &eo);
	}
	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r->latency_ms = (timing_now() * 1e3) - t0;
	if (o.p)
		sanitize(o.p, o.n);
	if (e.p)
		sanitize(e.p, e.n);
	if (p->ctk) {
		/* subprocess.run: a signal is a negative returncode; the whole
		 * output is kept */
		r->output = json_pack("{s:i, s:o, s:o}", "status",
				      WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status),
				      "stdout", ctk_text(o.p ? o.p : (char[]){ 0 }, o.n), "stderr",
				      ctk_text(e.p ? e.p : (char[]){ 0 }, e.n));
		if (timed_out)
			raise_(r, "process activity took too long to complete (timeout %.3gs)",
			       p->timeout_us / 1e6);
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && e.p &&
			 !strncmp(e.p, "exec ", 5))
			raise_(r, "%.*s", (int)strcspn(e.p, "\n"), e.p);
		goto out;
	}
	r->output = json_pack("{s:i, s:o, s:o}", "status",
			      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			      "stdout", text_json(o.p ? o.p : "", o.n), "stderr",
			      text_json(e.p ? e.p : "", e.n));
	if (timed_out)
		fail(r, "%s: timed out after %.0f ms (killed)", p->path, p->timeout_us / 1e3);
	else if (WIFSIGNALED(status))
		fail(r, "%s: killed by signal %d", p->path, WTERMSIG(status));
	else if (WEXITSTATUS(status) == 127 && e.p && !strncmp(e.p, "exec ", 5))
		fail(r, "%.*s", (int)strcspn(e.p, "\n"), e.p);
	else if (!status_ok(p, WEXITSTATUS(status), 0, 0))
		fail(r, "%s: exit code %d not expected%s%.*s", p->path, WEXITSTATUS(status),
		     e.p ? ": " : "", e.p ? (int)strcspn(e.p, "\n") : 0, e.p ? e.p : "");
	check_output(p, "output", o.p ? o.p : "", o.n, r);
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(o.p);
	free(e.p);
}

/* ---- metric ---- */

static void run_metric(const struct probe *p, const struct probe_ctx *ctx, struct probe_result *r)
{
	struct duress_err err = { 0 };
	double v = 0;
	bool holds = false;

	if (metric_eval(&p->metric, ctx->sample, ctx->first_sample, &v, &holds, &err) < 0) {
		fail(r, "%s", err.msg);
		return;
	}
	r->output = json_pack("{s:s, s:f}", "key", p->metric.key, "value", isinf(v) ? -1.0 : v);
	if (isinf(v))
		json_object_set_new(r->output, "value", json_string("max"));
	if (!holds)
		fail(r, "%s: %s is %g", p->metric.text, p->metric.key, v);
}

/* ---- Chaos Toolkit tolerances (chaoslib/hypothesis.py within_tolerance) ---- */

/* value.get(target, value) */
static json_t *ctk_target(json_t *tol, json_t *value)
{
	json_t *t = json_object_get(tol, "target"), *v;

	if (!json_is_string(t) || !json_is_object(value))
		return value;
	v = json_object_get(value, json_string_value(t));
	return v ? v : value;
}

/* Python's == between JSON values: 1 == 1.0, true == 1. */
static bool py_equal(json_t *a, json_t *b)
{
	if ((json_is_number(a) || json_is_boolean(a)) &&
	    (json_is_number(b) || json_is_boolean(b))) {
		double x = json_is_boolean(a) ? json_is_true(a) : json_number_value(a);
		double y = json_is_boolean(b) ? json_is_true(b) : json_number_value(b);

		return x == y;
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!py_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	return json_equal(a, b);
}

/* Decimal(value): a number, a bool or a numeric string. */
static bool py_decimal(json_t *v, double *out)
{
	char *end;
	const char *s;

	if (json_is_number(v) || json_is_boolean(v)) {
		*out = json_is_boolean(v) ? json_is_true(v) : json_number_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	while (isspace((unsigned char)*s))
		s++;
	*out = strtod(s, &end);
	if (end == s)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	return !*end;
}

/* Python re patterns in POSIX ERE: \d and \D (glibc knows \w \s \b). */
static char *py_regex(const char *pat)
{
	size_t n = strlen(pat);
	char *o = malloc(n * 4 + 1), *w = o;
	bool in_class = false;

	if (!o)
		return NULL;
	for (const char *s = pat; *s; s++) {
		if (*s == '\\' && (s[1] == 'd' || (s[1] == 'D' && !in_class))) {
			w = stpcpy(w, s[1] == 'D' ? "[^0-9]" : in_class ? "0-9" : "[0-9]");
			s++;
			continue;
		}
		if (*s == '\\' && s[1]) {
			*w++ = *s++;
			*w++ = *s;
			continue;
		}
		if (*s == '[')
			in_class = true;
		else if (*s == ']')
			in_class = false;
		*w++ = *s;
	}
	*w = '\0';
	return o;
}

static bool ctk_met(const struct probe *p, const struct probe_ctx *ctx, json_t *tol, json_t *value,
		    char *why, size_t len)
{
	json_t *type, *v, *x;
	size_t i;

	if (json_is_boolean(tol) || json_is_string(tol)) {
		snprintf(why, len,
			 "the output is not %s (chaostoolkit-lib compares the whole "
			 "output)",
			 json_is_boolean(tol) ? (json_is_true(tol) ? "true" : "false")
					      : "that string");
		return json_equal(value, tol);
	}
	if (json_is_integer(tol)) {
		v = json_is_object(value) && json_object_get(value, "status")
			    ? json_object_get(value, "status")
			    : value;
		snprintf(why, len, "status is not %lld", (long long)json_integer_value(tol));
		return py_equal(v, tol);
	}
	if (json_is_array(tol)) {
		v = json_is_object(value) ? json_object_get(value, "status") : NULL;
		snprintf(why, len, "%s not in the tolerance's list", v ? "status" : "value");
		if (!v && json_array_size(tol) == 2) {
			double a, b, c;

			snprintf(why, len, "value not within the tolerance's bounds");
			return py_decimal(json_array_get(tol, 0), &a) &&
			       py_decimal(json_array_get(tol, 1), &b) && json_is_number(value) &&
			       py_decimal(value, &c) && a <= c && c <= b;
		}
		json_array_foreach(tol, i, x)
			if (py_equal(x, v ? v : value))
				return true;
		return false;
	}
	type = json_object_get(tol, "type");
	if (!json_is_string(type))
		return false;
	if (!strcmp(json_string_value(type), "probe")) {
		struct probe_result tr;
		bool met;

		probe_run(p->tol_probe, ctx, &tr);
		met = !tr.raised;
		snprintf(why, len, "tolerance probe failed: %.300s", tr.reason);
		probe_result_free(&tr);
		return met;
	}
	v = ctk_target(tol, value);
	if (!strcmp(json_string_value(type), "regex")) {
		cleanup_free char *pat =
			py_regex(json_string_value(json_object_get(tol, "pattern")));
		regex_t re;
		bool m;

		if (!json_is_string(v)) {
			snprintf(why, len,
				 "regex: the value is not text (give target: status, body, "
				 "stdout or stderr)");
			return false;
		}
		if (!pat || regcomp(&re, pat, REG_EXTENDED | REG_NOSUB)) {
			snprintf(why, len, "regex: cannot compile");
			return false;
		}
		m = !regexec(&re, json_string_value(v), 0, NULL, 0);
		if (!m) {
			/* Python's $ also matches before a final newline */
			size_t n = strlen(json_string_value(v));
			cleanup_free char *cut = n && json_string_value(v)[n - 1] == '\n'
							 ? strndup(json_string_value(v), n - 1)
							 : NULL;

			m = cut && !regexec(&re, cut, 0, NULL, 0);
		}
		regfree(&re);
		snprintf(why, len, "%s does not match /%s/",
			 json_is_string(json_object_get(tol, "target"))
				 ? json_string_value(json_object_get(tol, "target"))
				 : "value",
			 json_string_value(json_object_get(tol, "pattern")));
		return m;
	}
	if (!strcmp(json_string_value(type), "range")) {
		json_t *r = json_object_get(tol, "range");
		double a, b, c;

		snprintf(why, len, "value not within range");
		return py_decimal(v, &c) && py_decimal(json_array_get(r, 0), &a) &&
		       py_decimal(json_array_get(r, 1), &b) && a <= c && c <= b;
	}
	if (!strcmp(json_string_value(type), "jsonpath")) {
		struct duress_err e = { 0 };
		json_t *doc = json_incref(v), *vals = NULL, *cnt = json_object_get(tol, "count");
		json_t *expect = json_object_get(tol, "expect");
		bool met;

		if (json_is_string(v)) {
			json_t *parsed = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);

			if (parsed) {
				json_decref(doc);
				doc = parsed;
			}
		}
		if (jsonpath_query(json_string_value(json_object_get(tol, "path")), doc, &vals,
				   &e) < 0) {
			json_decref(doc);
			snprintf(why, len, "%.300s", e.msg);
			return false;
		}
		met = json_array_size(vals) > 0;
		if (cnt)
			met = json_is_number(cnt) &&
			      (double)json_array_size(vals) == json_number_value(cnt);
		if (json_object_get(tol, "expect"))
			met = json_is_array(expect)
				      ? py_equal(vals, expect)
				      : json_array_size(vals) == 1 &&
						py_equal(json_array_get(vals, 0), expect);
		{
			char *got = json_dumps(vals, JSON_COMPACT);

			snprintf(why, len, "jsonpath %s found %.200s",
				 json_string_value(json_object_get(tol, "path")), got ? got : "?");
			free(got);
		}
		json_decref(vals);
		json_decref(doc);
		return met;
	}
	return false;
}

void probe_run(const struct probe *p, const struct probe_ctx *ctx, struct probe_result *r)
{
	memset(r, 0, sizeof(*r));
	r->ok = true;
	r->start = timing_real();
	switch (p->type) {
	case PROBE_HTTP:
		run_http(p, ctx, r);
		break;
	case PROBE_PROCESS:
		run_process(p, ctx, r);
		break;
	case PROBE_METRIC:
		run_metric(p, ctx, r);
		break;
	}
	if (p->ctk && r->ok && p->tolerance && !ctx->no_tolerance) {
		char why[400] = "";

		if (!ctk_met(p, ctx, p->tolerance, r->output ? r->output : json_null(), why,
			     sizeof(why)))
			fail(r, "tolerance not met: %s", why);
	}
	if (r->ok && p->max_latency_us && r->latency_ms > (double)p->max_latency_us / 1e3)
		fail(r, "latency %.1f ms above max_latency %.1f ms", r->latency_ms,
		     (double)p->max_latency_us / 1e3);
	r->end = timing_real();
}

bool probe_runs_command(const struct probe *p)
{
	return p->type == PROBE_PROCESS || (p->tol_probe && probe_runs_command(p->tol_probe));
}

void probe_result_free(struct probe_result *r)
{
	json_decref(r->output);
	r->output = NULL;
}

int probe_global_init(struct duress_err *err)
{
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (c != CURLE_OK)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0, "libcurl: %s",
				       curl_easy_strerror(c));
	return 0;
}

void probe_global_cleanup(void)
{
	curl_global_cleanup();
}
