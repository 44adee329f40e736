// SPDX-License-Identifier: MIT
/* Probes (http with libcurl, process with fork/exec, metric on samples). */
#include <duress/samples/sample_format.h>
#include <duress/core/timing.h>
#include <duress/core/proc.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
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
#include <time.h>
#include <unistd.h>

#define PROBE_OUTPUT_MAX (1 << 20) /* bytes of a body or stdout kept for checks */
#define PROBE_JOURNAL_MAX 4096     /* bytes of it kept in the journal */

static void fail(struct probe_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
		return duress_err_set(err, 0, "%s: not in the sample (absent is not zero: the "
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

			doc = (!n || *end || (n > 1 && tok[0] == '0')) ? NULL : json_array_get(doc, i);
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

static void check_output(const struct probe *p, const char *what, const char *text,
			 size_t len, struct probe_result *r)
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
			     guard.on ? "(withheld)" : got ? got : "?", want ? want : "?");
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
	static const char *const refused[] = { "127.0.0.0/8",	   "0.0.0.0/8", "169.254.0.0/16",
					       "100.100.100.200/32", "::1/128",	  "::/128",
					       "fe80::/10",	      "fd00:ec2::254/128" };
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

static void run_http(const struct probe *p, const struct probe_ctx *ctx, struct probe_result *r)
{
	struct guard_state gs = { "" };
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct buf body = { 0 };
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

	t0 = (timing_now() * 1e3);
	if (enter_netns(p, ctx, &saved, r) == 0) {
		cr = curl_easy_perform(c);
		leave_netns(saved);
		r->latency_ms = (timing_now() * 1e3) - t0;
		if (cr != CURLE_OK && gs.refused[0]) {
			fail(r, "%s %s: %s: a loopback, link-local or metadata address, refused for "
				"a job started over the API (duress serve --allow-probe-net CIDR)",
			     p->method, p->url, gs.refused);
		} else if (cr != CURLE_OK) {
			fail(r, "%s %s: %s", p->method, p->url, errbuf[0] ? errbuf
								 : curl_easy_strerror(cr));
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

static void run_process(const struct probe *p, const struct probe_ctx *ctx,
			struct probe_result *r)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, status = 0;
	cleanup_free const char **argv = calloc(p->nargs + 2, sizeof(*argv));
	struct buf o = { 0 }, e = { 0 };
	bool oo = true, eo = true, timed_out = false;
	double t0 = (timing_now() * 1e3), deadline = t0 + (double)p->timeout_us / 1e3;
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
		if (p->in_target_netns &&
		    (!ctx->target || ctx->target->netns_fd < 0 ||
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
		if (poll(pfd, 2, (int)left + 1) < 0 && errno != EINTR)
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
	if (r->ok && p->max_latency_us && r->latency_ms > (double)p->max_latency_us / 1e3)
		fail(r, "latency %.1f ms above max_latency %.1f ms", r->latency_ms,
		     (double)p->max_latency_us / 1e3);
	r->end = timing_real();
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
