// SPDX-License-Identifier: MIT
/* HTTP fault rules: matchers, plans, buckets, synthetic and rewritten
 * responses.  See include/duress/proxy/httprule.h. */
#include <duress/core/exitcode.h>
#include <duress/proxy/httprule.h>

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

static const char *const kind_names[HR_NKINDS] = {
	[HR_ABORT] = "abort",
	[HR_DELAY] = "delay",
	[HR_SLOW_BODY] = "slow_body",
	[HR_RATE_LIMIT] = "rate_limit",
	[HR_RATE_QUEUE] = "rate_queue",
	[HR_TRUNCATE] = "truncate",
	[HR_CORRUPT] = "corrupt",
	[HR_REPLACE] = "replace",
	[HR_CONTENT_TYPE] = "content_type",
	[HR_MALFORMED_JSON] = "malformed_json",
	[HR_RESET] = "reset",
};

const char *hrule_kind_name(enum hrule_kind k)
{
	return k < HR_NKINDS ? kind_names[k] : "?";
}

/* ---- matching ---- */

bool hrule_path_match(const char *pattern, const char *path)
{
	if (strpbrk(pattern, "*?["))
		return fnmatch(pattern, path, 0) == 0;
	return !strncmp(path, pattern, strlen(pattern));
}

static bool value_match(const char *glob, const char *v)
{
	if (!glob)
		return true;
	if (strpbrk(glob, "*?["))
		return fnmatch(glob, v, 0) == 0;
	return !strcmp(glob, v);
}

bool hrule_matches(const struct hrule *r, const struct hrule_req *q)
{
	bool ok = !r->nmethods;

	for (size_t i = 0; i < r->nmethods && !ok; i++)
		ok = !strcmp(r->methods[i], q->method);
	if (!ok)
		return false;
	ok = !r->npaths;
	for (size_t i = 0; i < r->npaths && !ok; i++)
		ok = hrule_path_match(r->paths[i], q->path);
	if (!ok)
		return false;
	for (size_t i = 0; i < r->nheaders; i++) {
		bool found = false;

		for (size_t k = 0; k < q->nheaders && !found; k++)
			found = !strcasecmp(r->headers[i].name, q->hnames[k]) &&
				value_match(r->headers[i].value, q->hvalues[k]);
		if (!found)
			return false;
	}
	return true;
}

/* ---- buckets ---- */

void hrule_bucket_init(struct hrule_bucket *b, double rate, unsigned burst)
{
	memset(b, 0, sizeof(*b));
	if (rate <= 0)
		return;
	b->interval_ns = (uint64_t)(1e9 / rate);
	if (!b->interval_ns)
		b->interval_ns = 1;
	b->tolerance_ns = (uint64_t)(burst ? burst - 1 : 0) * b->interval_ns;
}

uint64_t hrule_bucket_take(struct hrule_bucket *b, uint64_t now, bool queue, bool *granted)
{
	uint64_t tat = b->tat_ns > now ? b->tat_ns : now;
	uint64_t allowed_at = tat > b->tolerance_ns ? tat - b->tolerance_ns : 0;
	uint64_t wait = allowed_at > now ? allowed_at - now : 0;

	*granted = false;
	if (!wait) {
		b->tat_ns = tat + b->interval_ns;
		*granted = true;
		return 0;
	}
	if (queue && wait <= HRULE_QUEUE_MAX_NS) {
		/* the request takes the next free slot and waits for it */
		b->tat_ns = tat + b->interval_ns;
		*granted = true;
	}
	return wait;
}

/* ---- randomness ---- */

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void hrule_rng_seed(struct hrule_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

uint64_t hrule_rng_next(struct hrule_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

bool hrule_rng_pct(struct hrule_rng *r, double pct)
{
	if (pct >= 100)
		return true;
	if (pct <= 0)
		return false;
	return (double)(hrule_rng_next(r) >> 11) * 0x1.0p-53 * 100.0 < pct;
}

/* ---- plans ---- */

static bool first(struct hrule_plan *p, enum hrule_kind k)
{
	if (p->fired & (1u << k))
		return false;
	p->fired |= 1u << k;
	return true;
}

void hrule_plan(struct hrule *rules, size_t n, const struct hrule_req *q, uint64_t now,
		struct hrule_rng *rng, struct hrule_plan *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		struct hrule *r = &rules[i];

		if (!hrule_matches(r, q))
			continue;
		out->matched = true;
		if (!hrule_rng_pct(rng, r->percent))
			continue;
		if (r->delay_ns && first(out, HR_DELAY))
			out->delay_ns += r->delay_ns;
		if (r->rate > 0 &&
		    !(out->fired & ((1u << HR_RATE_LIMIT) | (1u << HR_RATE_QUEUE)))) {
			bool granted;
			uint64_t wait = hrule_bucket_take(&r->bucket, now, r->rate_queue, &granted);

			if (granted && wait) {
				out->fired |= 1u << HR_RATE_QUEUE;
				out->delay_ns += wait;
			} else if (!granted && !out->abort_status) {
				out->fired |= 1u << HR_RATE_LIMIT;
				out->abort_status = 429;
				out->has_retry_after = true;
				out->retry_after_s = (wait + 999999999) / 1000000000;
				if (!out->retry_after_s)
					out->retry_after_s = 1;
			}
		}
		if (r->abort_status && !out->abort_status && first(out, HR_ABORT)) {
			out->abort_status = r->abort_status;
			out->abort_body = r->abort_body;
			out->abort_body_len = r->abort_body_len;
			out->has_retry_after = r->has_retry_after;
			out->retry_after_s = r->retry_after_s;
		}
		if (r->slow_body_bps && first(out, HR_SLOW_BODY))
			out->slow_body_bps = r->slow_body_bps;
		if (r->truncate && first(out, HR_TRUNCATE))
			out->truncate = r;
		if (r->corrupt && first(out, HR_CORRUPT))
			out->corrupt = true;
		if (r->replace_body && first(out, HR_REPLACE)) {
			out->replace_body = r->replace_body;
			out->replace_len = r->replace_len;
		}
		if (r->content_type && first(out, HR_CONTENT_TYPE))
			out->content_type = r->content_type;
		if (r->malformed_json && first(out, HR_MALFORMED_JSON))
			out->malformed_json = true;
		if (r->reset && first(out, HR_RESET))
			out->reset = true;
	}
	/* an answer without the server leaves nothing for the response faults */
	if (out->abort_status)
		out->fired &= (1u << HR_ABORT) | (1u << HR_RATE_LIMIT) | (1u << HR_DELAY) |
			      (1u << HR_RATE_QUEUE);
}

/* ---- responses ---- */

const char *hrule_status_reason(unsigned status)
{
	const char *s;

	if (status < 200 || status > 599)
		return NULL;
	s = http_status_str((enum http_status)status);
	return s && strcmp(s, "<unknown>") ? s : NULL;
}

static bool looks_json(const char *b, size_t n)
{
	while (n && isspace((unsigned char)*b)) {
		b++;
		n--;
	}
	return n && (*b == '{' || *b == '[');
}

int hrule_synth_response(unsigned status, const char *body, size_t body_len, bool has_retry_after,
			 uint64_t retry_after_s, int conn, char **out, size_t *len)
{
	const char *reason = hrule_status_reason(status);
	char dflt[128], head[512], ra[64] = "";
	char *buf;
	int hl;

	if (!reason)
		reason = "Error";
	if (!body) {
		snprintf(dflt, sizeof(dflt), "%s (injected by duress)\n", reason);
		body = dflt;
		body_len = strlen(dflt);
	}
	if (has_retry_after || status == 429)
		snprintf(ra, sizeof(ra), "Retry-After: %llu\r\n",
			 (unsigned long long)(has_retry_after ? retry_after_s : 1));
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
		      status, reason,
		      looks_json(body, body_len) ? "application/json" : "text/plain; charset=utf-8",
		      body_len, ra,
		      conn == HRULE_CONN_CLOSE	      ? "Connection: close\r\n"
		      : conn == HRULE_CONN_KEEP_ALIVE ? "Connection: keep-alive\r\n"
						      : "");
	buf = malloc((size_t)hl + body_len);
	if (!buf)
		return -1;
	memcpy(buf, head, (size_t)hl);
	memcpy(buf + hl, body, body_len);
	*out = buf;
	*len = (size_t)hl + body_len;
	return 0;
}

int hrule_head_rewrite(const char *head, size_t len, const char *const *drop, const char *extra,
		       char **out, size_t *outlen)
{
	size_t elen = extra ? strlen(extra) : 0, o = 0;
	char *buf = malloc(len + elen + 3);
	const char *p = head, *end = head + len;
	bool first_line = true;

	if (!buf)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		size_t content = ll;
		bool keep = true;

		while (content && (p[content - 1] == '\n' || p[content - 1] == '\r'))
			content--;
		if (!content && !first_line)
			break; /* the empty line that ends the head */
		if (!first_line) {
			const char *colon = memchr(p, ':', content);

			for (size_t i = 0; colon && drop && drop[i]; i++)
				if ((size_t)(colon - p) == strlen(drop[i]) &&
				    !strncasecmp(p, drop[i], (size_t)(colon - p)))
					keep = false;
		}
		if (keep) {
			memcpy(buf + o, p, ll);
			o += ll;
		}
		first_line = false;
		p += ll;
	}
	if (elen) {
		memcpy(buf + o, extra, elen);
		o += elen;
	}
	memcpy(buf + o, "\r\n", 2);
	o += 2;
	*out = buf;
	*outlen = o;
	return 0;
}

uint64_t hrule_truncate_keep(const struct hrule *r, uint64_t total)
{
	uint64_t keep;

	if (r->truncate_pct)
		keep = (uint64_t)floor((double)total * r->truncate_keep_pct / 100.0);
	else
		keep = r->truncate_keep_bytes;
	/* a truncated body is shorter than the whole, always */
	if (total && keep >= total)
		keep = total - 1;
	return keep;
}

int hrule_malformed(const char *body, size_t len, char **out, size_t *outlen)
{
	static const char broken[] = "{\"error\": \"malformed by duress\", \"data\": [1, 2,";
	size_t keep = len / 2;
	char *b;

	if (!len) {
		body = broken;
		keep = sizeof(broken) - 1;
	}
	b = malloc(keep ? keep : 1);
	if (!b)
		return -1;
	memcpy(b, body, keep);
	*out = b;
	*outlen = keep;
	return 0;
}

int hrule_parse_rate(const char *text, const char *what, double *rate, struct duress_err *err)
{
	char *end;
	double v, per = 1;

	errno = 0;
	v = strtod(text, &end);
	if (end == text || errno || !(v > 0) || v != v)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: '%s': expected requests per second (N/s, N/m)", what,
				       text);
	if (!strcmp(end, "/s") || !*end)
		per = 1;
	else if (!strcmp(end, "/m") || !strcmp(end, "/min"))
		per = 60;
	else if (!strcmp(end, "/h"))
		per = 3600;
	else
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: '%s': unit must be /s, /m or /h", what, text);
	v /= per;
	if (v < 0.001 || v > 1e6)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: '%s': between 0.001/s and 1000000/s", what, text);
	*rate = v;
	return 0;
}

void hrule_free(struct hrule *r)
{
	for (size_t i = 0; i < r->nmethods; i++)
		free(r->methods[i]);
	for (size_t i = 0; i < r->npaths; i++)
		free(r->paths[i]);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->abort_body);
	free(r->replace_body);
	free(r->content_type);
	memset(r, 0, sizeof(*r));
}
