// SPDX-License-Identifier: MIT
/*
 * http: HTTP/1.1 faults through a proxy, transparent (an nftables redirect
 * in the target's network namespace) or explicit (--listen/--upstream):
 * answers without the server (--abort, --rate-limit), delays (--delay,
 * --slow-body, --rate-limit-queue), broken responses (--truncate-body,
 * --corrupt-body, --replace-body, --content-type, --malformed-json) and
 * resets, on a percentage of the requests that match a method, a path and
 * headers.  Several rules (--rule, or a list in a manifest), each with its
 * own matchers and percentage.  See docs/faults/http.md.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/fault_rule.h>
#include <duress/faults/proxyfault.h>
#include <duress/net/netshape.h>
#include <duress/proxy/httpf.h>
#include <duress/proxy/httprule.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTTP_MAX_RULES 32
#define HTTP_MAX_DELAY_US (600ULL * 1000000)

static const struct fault_opt http_opts[] = {
	PXF_OPTS,
	{ .name = "percent",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "apply to PCT of the matching requests (default 100)" },
	{ .name = "method",
	  .type = FOPT_LIST,
	  .metavar = "METHOD",
	  .help = "only requests with this method (GET, POST, ...), repeatable" },
	{ .name = "path",
	  .type = FOPT_LIST,
	  .metavar = "URL-PATH",
	  .help = "only paths that start with URL-PATH, or match a glob (/api/*), repeatable" },
	{ .name = "header",
	  .type = FOPT_LIST,
	  .metavar = "NAME[:VALUE]",
	  .help = "only requests with this header (value exact or a glob), repeatable: all of them" },
	{ .name = "abort",
	  .type = FOPT_UINT,
	  .metavar = "STATUS",
	  .min = 200,
	  .max = 599,
	  .help = "answer STATUS without the server (500, 502, 503; 429 comes with Retry-After)" },
	{ .name = "abort-body",
	  .type = FOPT_STRING,
	  .metavar = "TEXT",
	  .help = "the body of the --abort answer (default: the status's reason)" },
	{ .name = "retry-after",
	  .type = FOPT_UINT,
	  .metavar = "SECONDS",
	  .max = 86400,
	  .help = "Retry-After header of the --abort answer" },
	{ .name = "delay",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "hold each request DUR before it goes to the server" },
	{ .name = "slow-body",
	  .type = FOPT_STRING,
	  .metavar = "RATE",
	  .help = "throttle response bodies to RATE (10KB/s, 256kbit)" },
	{ .name = "rate-limit",
	  .type = FOPT_STRING,
	  .metavar = "N/s",
	  .help = "let N requests a second through (N/m: a minute); the excess gets 429 + Retry-After" },
	{ .name = "rate-limit-burst",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .max = 1000000,
	  .help = "requests --rate-limit lets through at once (default 1)" },
	{ .name = "rate-limit-queue",
	  .type = FOPT_FLAG,
	  .help = "hold the excess until its turn (at most 60s) instead of answering 429" },
	{ .name = "truncate-body",
	  .type = FOPT_SIZE_PCT,
	  .metavar = "SIZE|PCT",
	  .help = "send only this much of the response body (bytes or a share), then close" },
	{ .name = "corrupt-body",
	  .type = FOPT_FLAG,
	  .help = "flip about 1% of the response body's bytes (the length stays)" },
	{ .name = "replace-body",
	  .type = FOPT_STRING,
	  .metavar = "PATH",
	  .help = "send the file at PATH (1 MiB at most) as the response body" },
	{ .name = "content-type",
	  .type = FOPT_STRING,
	  .metavar = "TYPE",
	  .help = "set the response's Content-Type to TYPE (a wrong one)" },
	{ .name = "malformed-json",
	  .type = FOPT_FLAG,
	  .help = "send half of the response body, framed as the whole: JSON that does not parse" },
	{ .name = "reset",
	  .type = FOPT_FLAG,
	  .help = "reset the connection (RST) halfway through the response body" },
	{ .name = "rule",
	  .type = FOPT_LIST,
	  .metavar = "K=V,...",
	  .help = "one more rule with matchers, percent and faults of its own, repeatable "
		  "(method=GET,path=/api/*,abort=503,percent=10)" },
};

/* The options that make a rule do something. */
static const char *const fault_keys[] = { "abort",
					  "delay",
					  "slow-body",
					  "rate-limit",
					  "truncate-body",
					  "corrupt-body",
					  "replace-body",
					  "content-type",
					  "malformed-json",
					  "reset",
					  NULL };
/* ...and those that only qualify a rule. */
static const char *const qualifier_keys[] = { "percent",	  "method",	      "path",
					      "header",		  "abort-body",	      "retry-after",
					      "rate-limit-burst", "rate-limit-queue", NULL };

struct http_priv {
	struct pxf px;
	struct httpf_config hc;
	struct hrule rules[HTTP_MAX_RULES];
	size_t nrules;
	char *desc[HTTP_MAX_RULES];
};

static bool is_set(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set;
}

static bool any_set(const struct fault *f, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		if (is_set(f, names[i]))
			return true;
	return false;
}

/* No control characters (a header value, a matcher): nothing may inject
 * a line into a head. */
static bool clean_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static int read_body_file(const char *path, const char *what, char **out, size_t *len,
			  struct duress_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, errno, "%s: %s", what, path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: %s: not a regular file",
				       what, path);
	if (st.st_size > HRULE_BODY_MAX)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: %s: %lld bytes, at most %d",
				       what, path, (long long)st.st_size, HRULE_BODY_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", what);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r <= 0) {
			free(buf);
			return duress_err_setc(err, DURESS_EXIT_USAGE, r < 0 ? errno : EIO,
					       "%s: read %s", what, path);
		}
		got += (size_t)r;
	}
	*out = buf;
	*len = got;
	return 0;
}

static int conflicts(const struct fault *src, const char *w, struct duress_err *err)
{
	static const char *const pairs[][2] = {
		{ "abort", "rate-limit" },
		{ "abort", "slow-body" },
		{ "abort", "truncate-body" },
		{ "abort", "corrupt-body" },
		{ "abort", "replace-body" },
		{ "abort", "content-type" },
		{ "abort", "malformed-json" },
		{ "abort", "reset" },
		{ "replace-body", "malformed-json" },
		{ "replace-body", "truncate-body" },
		{ "replace-body", "corrupt-body" },
		{ "replace-body", "reset" },
		{ "malformed-json", "truncate-body" },
		{ "malformed-json", "reset" },
		{ "truncate-body", "reset" },
	};

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(pairs); i++)
		if (is_set(src, pairs[i][0]) && is_set(src, pairs[i][1]))
			return fault_usage(err,
					   "%s--%s and --%s exclude each other (use two rules)", w,
					   pairs[i][0], pairs[i][1]);
	if (is_set(src, "abort-body") && !is_set(src, "abort"))
		return fault_usage(err, "%s--abort-body needs --abort", w);
	if (is_set(src, "retry-after") && !is_set(src, "abort"))
		return fault_usage(
			err, "%s--retry-after needs --abort (a --rate-limit computes its own)", w);
	if ((is_set(src, "rate-limit-burst") || is_set(src, "rate-limit-queue")) &&
	    !is_set(src, "rate-limit"))
		return fault_usage(err, "%s--rate-limit-%s needs --rate-limit", w,
				   is_set(src, "rate-limit-burst") ? "burst" : "queue");
	return 0;
}

/* The rule that the options of src describe ("rule 2: " prefixes messages). */
static int build_rule(const struct fault *src, struct hrule *r, const char *w,
		      struct duress_err *err)
{
	const struct fault_val *v;

	if (conflicts(src, w, err) < 0)
		return -1;
	v = fault_opt(src, "percent");
	r->percent = v->set ? v->d : 100;
	v = fault_opt(src, "method");
	if (v->nlist > HRULE_MAX_MATCH || fault_opt(src, "path")->nlist > HRULE_MAX_MATCH ||
	    fault_opt(src, "header")->nlist > HRULE_MAX_MATCH)
		return fault_usage(err, "%sat most %d of each matcher", w, HRULE_MAX_MATCH);
	for (size_t i = 0; i < v->nlist; i++) {
		char *m = strdup(v->list[i]);

		if (!m)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "http");
		for (char *p = m; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		r->methods[r->nmethods++] = m;
		if (!token(m))
			return fault_usage(err, "%s--method '%s': not an HTTP method", w,
					   v->list[i]);
	}
	v = fault_opt(src, "path");
	for (size_t i = 0; i < v->nlist; i++) {
		if ((v->list[i][0] != '/' && v->list[i][0] != '*') || !clean_text(v->list[i]))
			return fault_usage(err,
					   "%s--path '%s': a path starts with '/' (a glob: /api/*)",
					   w, v->list[i]);
		if (!(r->paths[r->npaths++] = strdup(v->list[i])))
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "http");
	}
	v = fault_opt(src, "header");
	for (size_t i = 0; i < v->nlist; i++) {
		const char *colon = strchr(v->list[i], ':');
		struct hrule_header *h = &r->headers[r->nheaders++];

		h->name = strndup(v->list[i],
				  colon ? (size_t)(colon - v->list[i]) : strlen(v->list[i]));
		if (!h->name)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "http");
		if (!token(h->name) || !clean_text(v->list[i]))
			return fault_usage(err, "%s--header '%s': expected NAME or NAME:VALUE", w,
					   v->list[i]);
		if (colon) {
			const char *val = colon + 1;

			while (*val == ' ' || *val == '\t')
				val++;
			if (!(h->value = strdup(val)))
				return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "http");
		}
	}
	v = fault_opt(src, "abort");
	if (v->set) {
		if (!hrule_status_reason((unsigned)v->u))
			return fault_usage(err, "%s--abort %llu: not a known HTTP status", w,
					   (unsigned long long)v->u);
		r->abort_status = (unsigned)v->u;
	}
	v = fault_opt(src, "abort-body");
	if (v->set) {
		r->abort_body_len = strlen(v->s);
		if (r->abort_body_len > HRULE_BODY_MAX)
			return fault_usage(err, "%s--abort-body: at most %d bytes", w,
					   HRULE_BODY_MAX);
		if (!(r->abort_body = strdup(v->s)))
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "http");
	}
	v = fault_opt(src, "retry-after");
	r->has_retry_after = v->set;
	r->retry_after_s = v->u;
	v = fault_opt(src, "delay");
	if (v->set && v->u > HTTP_MAX_DELAY_US)
		return fault_usage(err, "%s--delay: at most 10m", w);
	r->delay_ns = v->u * 1000;
	v = fault_opt(src, "slow-body");
	if (v->set) {
		uint64_t bps;
		char what[64];

		snprintf(what, sizeof(what), "%s--slow-body", w);
		if (ns_parse_rate(v->s, what, &bps, err) < 0)
			return -1;
		r->slow_body_bps = bps / 8 ? bps / 8 : 1;
	}
	v = fault_opt(src, "rate-limit");
	if (v->set) {
		char what[64];

		snprintf(what, sizeof(what), "%s--rate-limit", w);
		if (hrule_parse_rate(v->s, what, &r->rate, err) < 0)
			return -1;
		r->rate_burst = is_set(src, "rate-limit-burst")
					? (unsigned)fault_opt(src, "rate-limit-burst")->u
					: 1;
		r->rate_queue = is_set(src, "rate-limit-queue");
	}
	v = fault_opt(src, "truncate-body");
	if (v->set) {
		r->truncate = true;
		r->truncate_pct = v->size.is_pct;
		r->truncate_keep_pct = v->size.pct;
		r->truncate_keep_bytes = v->size.bytes;
	}
	r->corrupt = is_set(src, "corrupt-body");
	v = fault_opt(src, "replace-body");
	if (v->set) {
		char what[64];

		snprintf(what, sizeof(what), "%s--replace-body", w);
		if (read_body_file(v->s, what, &r->replace_body, &r->replace_len, err) < 0)
			return -1;
	}
	v = fault_opt(src, "content-type");
	if (v->set) {
		if (!*v->s || !clean_text(v->s) || strlen(v->s) > 200)
			return fault_usage(err,
					   "%s--content-type '%s': a header value (no control "
					   "characters, 200 at most)",
					   w, v->s);
		if (!(r->content_type = strdup(v->s)))
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "http");
	}
	r->malformed_json = is_set(src, "malformed-json");
	r->reset = is_set(src, "reset");
	return 0;
}

/* "10% of GET requests to /api/ with X-Canary: 1: answer 503 ..." */
static char *describe(const struct hrule *r)
{
	char buf[1024], sz[32];
	size_t n = 0;

#define PUT(...) \
	(n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, __VA_ARGS__))
	PUT("%g%% of", r->percent);
	for (size_t i = 0; i < r->nmethods; i++)
		PUT("%s%s", i ? "|" : " ", r->methods[i]);
	if (!r->nmethods)
		PUT(" all");
	PUT(" requests");
	for (size_t i = 0; i < r->npaths; i++)
		PUT("%s%s", i ? "|" : " to ", r->paths[i]);
	for (size_t i = 0; i < r->nheaders; i++)
		PUT(" with %s%s%s", r->headers[i].name, r->headers[i].value ? ": " : "",
		    r->headers[i].value ? r->headers[i].value : "");
	PUT(":");
	if (r->abort_status)
		PUT(" answer %u %s%s", r->abort_status, hrule_status_reason(r->abort_status),
		    r->has_retry_after ? " with Retry-After" : "");
	if (r->delay_ns)
		PUT(" delay %s", format_duration(r->delay_ns / 1000, sz, sizeof(sz)));
	if (r->rate > 0)
		PUT(" rate limit %g/s (burst %u), the excess %s", r->rate, r->rate_burst,
		    r->rate_queue ? "held" : "answered 429");
	if (r->slow_body_bps)
		PUT(" body at %s/s", format_size(r->slow_body_bps, sz, sizeof(sz)));
	if (r->truncate) {
		if (r->truncate_pct)
			PUT(" body cut to %g%%", r->truncate_keep_pct);
		else
			PUT(" body cut to %s", format_size(r->truncate_keep_bytes, sz, sizeof(sz)));
	}
	if (r->corrupt)
		PUT(" body corrupted (1%% of bytes flipped)");
	if (r->replace_body)
		PUT(" body replaced (%zu bytes)", r->replace_len);
	if (r->content_type)
		PUT(" Content-Type: %s", r->content_type);
	if (r->malformed_json)
		PUT(" malformed JSON (half the body)");
	if (r->reset)
		PUT(" reset mid-body");
#undef PUT
	return strdup(buf);
}

static void free_rules(struct http_priv *p)
{
	for (size_t i = 0; i < p->nrules; i++) {
		hrule_free(&p->rules[i]);
		free(p->desc[i]);
		p->desc[i] = NULL;
	}
	p->nrules = 0;
}

static int add_rule(struct http_priv *p, const struct fault *src, const char *w,
		    struct duress_err *err)
{
	struct hrule *r;

	if (p->nrules == HTTP_MAX_RULES)
		return fault_usage(err, "http: at most %d rules", HTTP_MAX_RULES);
	if (!any_set(src, fault_keys))
		return fault_usage(
			err,
			"%sno fault in it (--abort, --delay, --slow-body, --rate-limit, "
			"--truncate-body, --corrupt-body, --replace-body, --content-type, "
			"--malformed-json or --reset)",
			w);
	r = &p->rules[p->nrules++];
	if (build_rule(src, r, w, err) < 0)
		return -1;
	p->desc[p->nrules - 1] = describe(r);
	return 0;
}

static void http_filter_init(void *arg)
{
	httpf_init(arg);
}

static int http_validate(struct fault *f, struct duress_err *err)
{
	struct http_priv *p = f->priv;
	const struct fault_val *rules = fault_opt(f, "rule");

	free_rules(p);
	if (pxf_validate(f, &p->px, err) < 0)
		return -1;
	if (any_set(f, fault_keys)) {
		if (add_rule(p, f, "", err) < 0)
			return -1;
	} else if (any_set(f, qualifier_keys)) {
		for (size_t i = 0; qualifier_keys[i]; i++)
			if (is_set(f, qualifier_keys[i]))
				return fault_usage(
					err,
					"http: --%s qualifies a fault given beside it, and "
					"there is none (--abort, --delay, ...); inside "
					"--rule it goes as %s=...",
					qualifier_keys[i], qualifier_keys[i]);
	}
	for (size_t i = 0; i < rules->nlist; i++) {
		struct fault tmp;
		struct fault_rule_item *items = NULL;
		size_t nitems = 0;
		char w[32];
		int r;

		snprintf(w, sizeof(w), "--rule %zu", i + 1);
		if (fault_rule_parse(f->desc, rules->list[i], w, pxf_global_opts, &tmp, &items,
				     &nitems, err) < 0)
			return -1;
		snprintf(w, sizeof(w), "--rule %zu: ", i + 1);
		r = add_rule(p, &tmp, w, err);
		fault_free(&tmp);
		fault_rule_items_free(items, nitems);
		if (r < 0)
			return -1;
	}
	if (!p->nrules)
		return fault_usage(
			err, "http: nothing to do: give a fault (--abort, --delay, --slow-body, "
			     "--rate-limit, --truncate-body, --corrupt-body, --replace-body, "
			     "--content-type, --malformed-json, --reset) or --rule");
	p->hc.rules = p->rules;
	p->hc.nrules = p->nrules;
	p->px.filter = &httpf_filter;
	p->px.filter_arg = &p->hc;
	p->px.filter_init = http_filter_init;
	return 0;
}

static bool http_no_target(const struct fault *f)
{
	return pxf_no_target(f);
}

static int http_supported(struct fault *f, struct duress_err *err)
{
	struct http_priv *p = f->priv;

	return pxf_supported(f, &p->px, err);
}

static int http_plan(struct fault *f, struct duress_err *err)
{
	struct http_priv *p = f->priv;

	if (pxf_plan(f, &p->px, err) < 0)
		return -1;
	for (size_t i = 0; i < p->nrules; i++)
		fault_plan_add(f, "rule %zu: %s", i + 1, p->desc[i] ? p->desc[i] : "?");
	return 0;
}

static int http_apply(struct fault *f, struct duress_err *err)
{
	struct http_priv *p = f->priv;

	return pxf_apply(f, &p->px, err);
}

static int http_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct http_priv *p = f->priv;

	(void)since_apply_us;
	return pxf_tick(f, &p->px, err);
}

static void http_report(struct fault *f, json_t *summary)
{
	struct http_priv *p = f->priv;
	json_t *rules = json_array();

	for (size_t i = 0; i < p->nrules; i++)
		json_array_append_new(rules, json_string(p->desc[i] ? p->desc[i] : "?"));
	json_object_set_new(summary, "rules", rules);
	pxf_report(f, &p->px, summary);
}

static void http_sample(struct fault *f, json_t *sample)
{
	struct http_priv *p = f->priv;

	pxf_sample(f, &p->px, sample);
}

static void http_release(struct fault *f)
{
	struct http_priv *p = f->priv;

	pxf_release(&p->px);
	free_rules(p);
}

const struct fault_desc fault_http = {
	.name = "http",
	.summary = "HTTP errors, delays, rate limits, broken bodies and resets through a proxy "
		   "(transparent or explicit)",
	.opts = http_opts,
	.nopts = DURESS_ARRAY_SIZE(http_opts),
	.priv_size = sizeof(struct http_priv),
	.validate = http_validate,
	.supported = http_supported,
	.plan = http_plan,
	.apply = http_apply,
	.tick = http_tick,
	.report = http_report,
	.release = http_release,
	.no_target = http_no_target,
	.sample = http_sample,
};
