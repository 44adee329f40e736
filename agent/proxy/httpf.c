// SPDX-License-Identifier: MIT
/*
 * The HTTP filter; see include/duress/proxy/httpf.h.
 *
 * Each direction has its own http_parser.  The parser is paused at the end
 * of every head (on_headers_complete) and of every message
 * (on_message_complete), so that the bytes handed over are cut exactly at
 * those two points: a head is collected whole (HTTPF_HEAD_MAX at most) and
 * decided on, a body is forwarded (or dropped, held, cut...) as it comes.
 * When paused at the end of a head, http_parser stops ON the final LF of
 * the head without consuming it; that byte belongs to the head, and is
 * given to the parser again (lf_pending) so that it goes on into the body.
 */
#include <duress/proxy/httpf.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <http_parser.h>

#define HTTPF_HEAD_MAX 65536
#define HTTPF_URL_MAX 8192
#define HTTPF_HDR_MAX 64
#define HTTPF_ARENA 16384
#define HTTPF_FIFO_PAUSE 256 /* requests awaiting answers: stop reading there */
#define HTTPF_FIFO_RESUME 128
#define HTTPF_SLICES_PER_S 20	/* slow bodies: how finely they are paced */
#define HTTPF_FORWARD_MIN 65536 /* a body this long with nothing to do goes past the parser */

struct hbuf {
	char *p;
	size_t len, cap;
};

static int hbuf_add(struct hbuf *b, const char *data, size_t len, size_t max)
{
	if (b->len + len > max)
		return -1;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *n;

		while (cap < b->len + len)
			cap *= 2;
		if (cap > max)
			cap = max;
		n = realloc(b->p, cap);
		if (!n)
			return -1;
		b->p = n;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void hbuf_free(struct hbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* What the matchers need of a request head; allocated per head. */
struct hinfo {
	char url[HTTPF_URL_MAX];
	size_t url_len;
	char arena[HTTPF_ARENA];
	size_t arena_len;
	const char *names[HTTPF_HDR_MAX], *values[HTTPF_HDR_MAX];
	size_t nh;
	bool in_value, full, expect_continue;
};

/* One request whose response is awaited (in order). */
struct hreq {
	struct hreq *next;
	bool head_method, upgrade, keep_alive;
	bool in_fifo, is_cur;
	bool drop_body; /* answered by us: its body goes nowhere */
	struct hrule_plan plan;
	char *synth; /* our answer, sent in its turn */
	size_t synth_len;
	uint64_t synth_at;
	bool close_after;
};

enum hstate {
	HS_HEAD,
	HS_BODY,
	HS_RAW,	 /* not (or no longer) HTTP: bytes pass */
	HS_DONE, /* the connection is being cut: nothing more goes out */
};

struct hside {
	http_parser p;
	enum hstate st;
	struct hbuf head;
	bool lf_pending;
	bool at_head_end, at_msg_end;
	bool interim;	 /* the response being parsed is a 1xx */
	bool forwarding; /* the rest of the body goes past us (proxy_forward) */
};

enum after { AFTER_NONE, AFTER_CLOSE, AFTER_RESET };

/* How the response to the front request is being handled. */
struct rstate {
	struct hreq *r;
	bool decoded;	 /* body from on_body pieces (else raw bytes) */
	bool rechunk;	 /* decoded pieces go out as chunks */
	bool buffer;	 /* the body is held whole, then sent */
	bool drop;	 /* the body goes nowhere */
	bool half_first; /* reset of a body of unknown length: half of the first piece */
	uint64_t limit;	 /* body bytes to forward, then `after` */
	uint64_t seen;
	enum after after;
	bool stopped;
	bool corrupt;
	uint64_t next_flip;
	uint64_t slow_bps, pace_at;
	bool truncate_pct, malformed, keep_terminator;
	struct hbuf body;
	char head_extra[512];
	const char *const *drop_headers;
};

struct hconn {
	struct proxy_conn *c;
	struct hside side[2];
	struct hinfo *info;
	struct hreq *fifo, *fifo_tail, *cur;
	size_t nfifo;
	struct rstate rs;
	bool rs_active;
	bool up_paused;
};

static http_parser_settings req_settings, resp_settings;
static char *scratch; /* flipped bytes: one read at most */

static struct httpf_config *cfg_of(struct proxy_conn *c)
{
	return proxy_conn_arg(c);
}

/* ---- requests in flight ---- */

static void req_maybe_free(struct hreq *r)
{
	if (r->in_fifo || r->is_cur)
		return;
	free(r->synth);
	free(r);
}

static void fifo_push(struct hconn *h, struct hreq *r)
{
	r->in_fifo = true;
	if (h->fifo_tail)
		h->fifo_tail->next = r;
	else
		h->fifo = r;
	h->fifo_tail = r;
	if (++h->nfifo >= HTTPF_FIFO_PAUSE && !h->up_paused) {
		h->up_paused = true;
		proxy_pause(h->c, PROXY_UP, true);
	}
}

static struct hreq *fifo_pop(struct hconn *h)
{
	struct hreq *r = h->fifo;

	if (!r)
		return NULL;
	h->fifo = r->next;
	if (!h->fifo)
		h->fifo_tail = NULL;
	r->next = NULL;
	r->in_fifo = false;
	if (--h->nfifo <= HTTPF_FIFO_RESUME && h->up_paused) {
		h->up_paused = false;
		proxy_pause(h->c, PROXY_UP, false);
	}
	return r;
}

/* Our own answers whose turn has come (nothing before them awaits the
 * server): out, in order. */
static void emit_synth_fronts(struct hconn *h)
{
	while (h->fifo && h->fifo->synth && !h->rs_active) {
		struct hreq *r = fifo_pop(h);
		bool close = r->close_after;

		proxy_send(h->c, PROXY_DOWN, r->synth, r->synth_len, r->synth_at);
		req_maybe_free(r);
		if (close) {
			h->side[PROXY_UP].st = HS_DONE;
			h->side[PROXY_DOWN].st = HS_DONE;
			proxy_close(h->c);
			return;
		}
	}
}

/* ---- giving up on HTTP: bytes pass ---- */

static void go_raw(struct hconn *h, bool count_error)
{
	struct httpf_config *cfg = cfg_of(h->c);

	if (count_error)
		cfg->parse_errors++;
	for (int d = 0; d < 2; d++) {
		struct hside *s = &h->side[d];

		if (s->st == HS_DONE)
			continue;
		/* a head not yet decided on goes as it came */
		if (s->st == HS_HEAD && s->head.len)
			proxy_send(h->c, (enum proxy_dir)d, s->head.p, s->head.len, 0);
		hbuf_free(&s->head);
		s->st = HS_RAW;
		proxy_pass(h->c, (enum proxy_dir)d);
	}
	if (h->up_paused) {
		h->up_paused = false;
		proxy_pause(h->c, PROXY_UP, false);
	}
}

/* ---- parser callbacks ---- */

static struct hconn *hc(http_parser *p)
{
	return proxy_conn_priv(p->data);
}

static int on_message_begin(http_parser *p)
{
	struct hconn *h = hc(p);

	if (p->type == HTTP_REQUEST) {
		if (!h->info)
			h->info = malloc(sizeof(*h->info));
		if (h->info) {
			h->info->url_len = 0;
			h->info->arena_len = 0;
			h->info->nh = 0;
			h->info->in_value = false;
			h->info->full = false;
			h->info->expect_continue = false;
		}
	}
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct hinfo *in = hc(p)->info;

	if (!in)
		return 0;
	if (in->url_len + len >= HTTPF_URL_MAX)
		len = HTTPF_URL_MAX - 1 - in->url_len;
	memcpy(in->url + in->url_len, at, len);
	in->url_len += len;
	return 0;
}

/* Header names and values go into the arena, NUL-terminated, pieces
 * appended as the parser hands them over. */
static void arena_piece(struct hinfo *in, const char *at, size_t len, bool value)
{
	if (in->full)
		return;
	if (value != in->in_value || (!value && !in->nh)) {
		/* a new name, or the value after a name: close the previous string */
		if (in->nh && (in->arena_len + 1 > HTTPF_ARENA)) {
			in->full = true;
			return;
		}
		if (in->nh || value)
			in->arena[in->arena_len++] = '\0';
		if (!value) {
			if (in->nh == HTTPF_HDR_MAX) {
				in->full = true;
				return;
			}
			in->names[in->nh] = in->arena + in->arena_len;
			in->values[in->nh] = "";
			in->nh++;
		} else {
			in->values[in->nh - 1] = in->arena + in->arena_len;
		}
		in->in_value = value;
	}
	if (in->arena_len + len + 1 >= HTTPF_ARENA) {
		in->full = true;
		in->arena[in->arena_len] = '\0';
		return;
	}
	memcpy(in->arena + in->arena_len, at, len);
	in->arena_len += len;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct hinfo *in = hc(p)->info;

	if (in)
		arena_piece(in, at, len, false);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct hinfo *in = hc(p)->info;

	if (in && in->nh)
		arena_piece(in, at, len, true);
	return 0;
}

static int on_req_headers_complete(http_parser *p)
{
	struct hconn *h = hc(p);

	/* the last header value ends here (room was kept for its NUL) */
	if (h->info && h->info->arena_len < HTTPF_ARENA)
		h->info->arena[h->info->arena_len] = '\0';

	h->side[PROXY_UP].at_head_end = true;
	http_parser_pause(p, 1);
	return 0;
}

static int on_resp_headers_complete(http_parser *p)
{
	struct hconn *h = hc(p);

	h->side[PROXY_DOWN].at_head_end = true;
	http_parser_pause(p, 1);
	/* a response to HEAD has no body, whatever it says */
	return h->fifo && h->fifo->head_method && p->status_code >= 200 ? 1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct hconn *h = hc(p);

	h->side[p->type == HTTP_REQUEST ? PROXY_UP : PROXY_DOWN].at_msg_end = true;
	http_parser_pause(p, 1);
	return 0;
}

static void resp_body_piece(struct hconn *h, const char *at, size_t len);

static int on_resp_body(http_parser *p, const char *at, size_t len)
{
	struct hconn *h = hc(p);

	if (h->rs_active && h->rs.decoded)
		resp_body_piece(h, at, len);
	return 0;
}

static void settings_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	req_settings.on_message_begin = on_message_begin;
	req_settings.on_url = on_url;
	req_settings.on_header_field = on_header_field;
	req_settings.on_header_value = on_header_value;
	req_settings.on_headers_complete = on_req_headers_complete;
	req_settings.on_message_complete = on_message_complete;
	resp_settings.on_headers_complete = on_resp_headers_complete;
	resp_settings.on_body = on_resp_body;
	resp_settings.on_message_complete = on_message_complete;
}

/* ---- requests ---- */

/* The path of a URL (origin form "/a?b" or absolute "http://h/a?b"),
 * without the query, NUL-terminated in place. */
static const char *url_path(struct hinfo *in)
{
	char *u = in->url, *q;

	in->url[in->url_len] = '\0';
	if (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8)) {
		char *slash = strchr(strstr(u, "//") + 2, '/');

		if (!slash)
			return "/";
		u = slash;
	}
	q = strpbrk(u, "?#");
	if (q)
		*q = '\0';
	return u;
}

static void count_plan(struct httpf_config *cfg, const struct hrule_plan *pl)
{
	static const enum hrule_kind req_kinds[] = { HR_ABORT, HR_DELAY, HR_RATE_LIMIT,
						     HR_RATE_QUEUE };

	if (pl->matched)
		cfg->matched++;
	for (size_t i = 0; i < sizeof(req_kinds) / sizeof(req_kinds[0]); i++)
		if (pl->fired & (1u << req_kinds[i]))
			cfg->injected[req_kinds[i]]++;
}

/* The head of a request is complete: decide, and send it on (or answer). */
static void req_head(struct hconn *h)
{
	struct proxy_conn *c = h->c;
	struct httpf_config *cfg = cfg_of(c);
	struct hside *s = &h->side[PROXY_UP];
	struct hreq *r = calloc(1, sizeof(*r));
	uint64_t now = proxy_conn_now(c);
	struct hrule_req q = { 0 };

	if (!r || !h->info) {
		free(r);
		go_raw(h, false);
		return;
	}
	cfg->requests++;
	r->head_method = s->p.method == HTTP_HEAD;
	r->keep_alive = http_should_keep_alive(&s->p);
	r->upgrade = s->p.upgrade;
	r->is_cur = true;
	h->cur = r;
	for (size_t i = 0; i < h->info->nh; i++)
		if (!strcasecmp(h->info->names[i], "expect") &&
		    !strcasecmp(h->info->values[i], "100-continue"))
			h->info->expect_continue = true;
	if (r->upgrade) {
		/* WebSocket, CONNECT: untouched, and raw from here on */
		cfg->upgrades++;
		proxy_send(c, PROXY_UP, s->head.p, s->head.len, 0);
		fifo_push(h, r);
		s->st = HS_RAW;
		proxy_pass(c, PROXY_UP);
		return;
	}
	q.method = http_method_str((enum http_method)s->p.method);
	q.path = url_path(h->info);
	q.hnames = h->info->names;
	q.hvalues = h->info->values;
	q.nheaders = h->info->nh;
	hrule_plan(cfg->rules, cfg->nrules, &q, now, &cfg->rng, &r->plan);
	count_plan(cfg, &r->plan);
	if (r->plan.delay_ns)
		phist_add(&cfg->latency_added, r->plan.delay_ns / 1000);
	if (r->plan.abort_status) {
		bool close = !r->keep_alive || h->info->expect_continue;

		cfg->answered++;
		int conn = close		  ? HRULE_CONN_CLOSE
			   : s->p.http_minor == 0 ? HRULE_CONN_KEEP_ALIVE
						  : HRULE_CONN_DEFAULT;

		if (hrule_synth_response(r->plan.abort_status, r->plan.abort_body,
					 r->plan.abort_body_len, r->plan.has_retry_after,
					 r->plan.retry_after_s, conn, &r->synth,
					 &r->synth_len) < 0) {
			free(r);
			h->cur = NULL;
			go_raw(h, false);
			return;
		}
		r->drop_body = true;
		r->close_after = close;
		r->synth_at = r->plan.delay_ns ? now + r->plan.delay_ns : 0;
		fifo_push(h, r);
		emit_synth_fronts(h);
		return;
	}
	proxy_send(c, PROXY_UP, s->head.p, s->head.len,
		   r->plan.delay_ns ? now + r->plan.delay_ns : 0);
	fifo_push(h, r);
}

/* The head is decided on: what the matchers needed goes (an idle
 * keep-alive connection holds none of it; the next head allocates it). */
static void req_head_done(struct hconn *h)
{
	free(h->info);
	h->info = NULL;
}

static void req_body(struct hconn *h, const char *buf, size_t len)
{
	if (!len || (h->cur && h->cur->drop_body))
		return;
	proxy_send(h->c, PROXY_UP, buf, len, 0);
}

static void req_end(struct hconn *h)
{
	struct hreq *r = h->cur;

	h->cur = NULL;
	if (r) {
		r->is_cur = false;
		req_maybe_free(r);
	}
}

/* ---- responses ---- */

static void down_out(struct hconn *h, const char *buf, size_t len)
{
	struct rstate *rs = &h->rs;
	uint64_t now = proxy_conn_now(h->c);
	size_t slice;

	if (!rs->slow_bps) {
		proxy_send(h->c, PROXY_DOWN, buf, len, 0);
		return;
	}
	slice = (size_t)(rs->slow_bps / HTTPF_SLICES_PER_S);
	if (!slice)
		slice = 1;
	if (slice > 16384)
		slice = 16384;
	while (len) {
		size_t n = len < slice ? len : slice;

		if (rs->pace_at < now)
			rs->pace_at = now;
		rs->pace_at += (uint64_t)n * PROXY_NS_PER_S / rs->slow_bps;
		proxy_send(h->c, PROXY_DOWN, buf, n, rs->pace_at);
		buf += n;
		len -= n;
	}
}

/* Body bytes out, as raw bytes or as one chunk. */
static void body_out(struct hconn *h, const char *buf, size_t len)
{
	if (!len)
		return;
	if (h->rs.rechunk) {
		char sz[24];
		int n = snprintf(sz, sizeof(sz), "%zx\r\n", len);

		down_out(h, sz, (size_t)n);
		down_out(h, buf, len);
		down_out(h, "\r\n", 2);
		return;
	}
	down_out(h, buf, len);
}

/* Flip about 1% of the bytes, the first within the first 100. */
static const char *flip(struct hconn *h, const char *buf, size_t len)
{
	struct rstate *rs = &h->rs;
	struct httpf_config *cfg = cfg_of(h->c);

	if (!scratch && !(scratch = malloc(65536)))
		return buf;
	if (len > 65536)
		len = 65536;
	memcpy(scratch, buf, len);
	while (rs->next_flip >= rs->seen && rs->next_flip < rs->seen + len) {
		size_t i = (size_t)(rs->next_flip - rs->seen);
		uint8_t x = (uint8_t)(hrule_rng_next(&cfg->rng) | 1);

		scratch[i] = (char)(scratch[i] ^ x);
		rs->next_flip += 1 + hrule_rng_next(&cfg->rng) % 199; /* 1% on average */
	}
	return scratch;
}

static void reached_limit(struct hconn *h)
{
	struct rstate *rs = &h->rs;

	rs->stopped = true;
	if (rs->after == AFTER_NONE)
		return;
	h->side[PROXY_UP].st = HS_DONE;
	h->side[PROXY_DOWN].st = HS_DONE;
	if (rs->after == AFTER_RESET)
		proxy_reset(h->c, true);
	else
		proxy_close(h->c);
}

/* Body bytes of the response (raw or decoded, as rs says). */
static void resp_body_piece(struct hconn *h, const char *buf, size_t len)
{
	struct rstate *rs = &h->rs;

	while (len > 65536) {
		resp_body_piece(h, buf, 65536);
		buf += 65536;
		len -= 65536;
	}
	if (!len || rs->stopped || rs->drop)
		return;
	if (rs->buffer) {
		if (hbuf_add(&rs->body, buf, len, HRULE_BUFFER_MAX) < 0) {
			/* past the cap: keep what fits */
			size_t room = HRULE_BUFFER_MAX - rs->body.len;

			if (room)
				hbuf_add(&rs->body, buf, room, HRULE_BUFFER_MAX);
		}
		return;
	}
	if (rs->half_first) {
		rs->limit = len / 2;
		rs->half_first = false;
	}
	if (rs->seen + len > rs->limit)
		len = (size_t)(rs->limit - rs->seen);
	if (rs->corrupt)
		buf = flip(h, buf, len);
	body_out(h, buf, len);
	rs->seen += len;
	if (rs->seen >= rs->limit)
		reached_limit(h);
}

/* Headers a rewritten head loses. */
enum { DROP_CL = 1, DROP_TE = 2, DROP_CE = 4, DROP_CT = 8 };

/* Send the head, without the headers in `drop` and with rs->head_extra. */
static void head_out(struct hconn *h, unsigned drop)
{
	struct hside *s = &h->side[PROXY_DOWN];
	const char *names[5];
	size_t n = 0;
	char *out;
	size_t olen;

	if (drop & DROP_CL)
		names[n++] = "content-length";
	if (drop & DROP_TE)
		names[n++] = "transfer-encoding";
	if (drop & DROP_CE)
		names[n++] = "content-encoding";
	if (drop & DROP_CT)
		names[n++] = "content-type";
	names[n] = NULL;
	if ((!n && !h->rs.head_extra[0]) ||
	    hrule_head_rewrite(s->head.p, s->head.len, names, h->rs.head_extra, &out, &olen) < 0) {
		proxy_send(h->c, PROXY_DOWN, s->head.p, s->head.len, 0);
		return;
	}
	proxy_send(h->c, PROXY_DOWN, out, olen, 0);
	free(out);
}

static void add_extra(struct rstate *rs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_extra(struct rstate *rs, const char *fmt, ...)
{
	size_t n = strlen(rs->head_extra);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rs->head_extra + n, sizeof(rs->head_extra) - n, fmt, ap);
	va_end(ap);
}

/* A body the proxy makes itself (replace, malformed of an empty one). */
static void own_body(struct hconn *h, const char *body, size_t len, unsigned drop)
{
	add_extra(&h->rs, "Content-Length: %zu\r\n", len);
	head_out(h, drop | DROP_CL | DROP_TE | DROP_CE);
	proxy_send(h->c, PROXY_DOWN, body, len, 0);
	h->rs.drop = true;
}

/* The head of a response is complete: how to handle it. */
static void resp_head(struct hconn *h)
{
	struct proxy_conn *c = h->c;
	struct httpf_config *cfg = cfg_of(c);
	struct hside *s = &h->side[PROXY_DOWN];
	struct rstate *rs = &h->rs;
	struct hreq *r = h->fifo && !h->fifo->synth ? h->fifo : NULL;
	unsigned status = s->p.status_code;
	bool chunked = s->p.flags & F_CHUNKED;
	bool has_len = !chunked && s->p.content_length != ULLONG_MAX;
	uint64_t clen = has_len ? s->p.content_length : 0;
	unsigned ct_drop;
	const struct hrule_plan *pl;
	bool nobody;

	if (status < 200 && status != 101) {
		/* 100 Continue and friends: passed, the final answer follows */
		s->interim = true;
		proxy_send(c, PROXY_DOWN, s->head.p, s->head.len, 0);
		hbuf_free(&s->head);
		return;
	}
	cfg->responses++;
	memset(rs, 0, sizeof(*rs));
	rs->limit = UINT64_MAX;
	h->rs_active = true;
	rs->r = r;
	if (!r || r->upgrade || status == 101) {
		proxy_send(c, PROXY_DOWN, s->head.p, s->head.len, 0);
		hbuf_free(&s->head);
		if ((r && r->upgrade) || status == 101)
			s->st = HS_RAW; /* after this head: another protocol */
		return;
	}
	pl = &r->plan;
	nobody = r->head_method || status == 204 || status == 304;
	ct_drop = pl->content_type ? DROP_CT : 0;
	if (pl->content_type) {
		cfg->injected[HR_CONTENT_TYPE]++;
		add_extra(rs, "Content-Type: %s\r\n", pl->content_type);
	}
	if (!nobody && pl->replace_body) {
		cfg->injected[HR_REPLACE]++;
		own_body(h, pl->replace_body, pl->replace_len, ct_drop);
		return;
	}
	if (!nobody && pl->malformed_json && has_len && !clen) {
		char *b;
		size_t bl;

		cfg->injected[HR_MALFORMED_JSON]++;
		if (hrule_malformed(NULL, 0, &b, &bl) == 0) {
			if (!ct_drop)
				add_extra(rs, "Content-Type: application/json\r\n");
			own_body(h, b, bl, DROP_CT);
			free(b);
			return;
		}
	}
	if (nobody || (has_len && !clen)) {
		/* nothing to corrupt, cut or throttle; a reset still resets */
		head_out(h, ct_drop);
		if (pl->reset) {
			cfg->injected[HR_RESET]++;
			rs->limit = 0;
			rs->after = AFTER_RESET;
			reached_limit(h);
		}
		return;
	}
	rs->slow_bps = pl->slow_body_bps;
	if (rs->slow_bps)
		cfg->injected[HR_SLOW_BODY]++;
	if (pl->reset) {
		cfg->injected[HR_RESET]++;
		rs->after = AFTER_RESET;
		if (has_len)
			rs->limit = clen / 2;
		else
			rs->half_first = true;
		head_out(h, ct_drop);
		if (has_len && !rs->limit)
			reached_limit(h);
		return;
	}
	if (pl->malformed_json) {
		cfg->injected[HR_MALFORMED_JSON]++;
		if (has_len) {
			/* half of the body, announced as the whole */
			rs->limit = clen / 2;
			rs->after = AFTER_NONE;
			add_extra(rs, "Content-Length: %llu\r\n", (unsigned long long)rs->limit);
			head_out(h, DROP_CL | ct_drop);
			if (!rs->limit)
				rs->stopped = true;
			return;
		}
		/* chunked or until EOF: held whole, then half of it (the head
		 * waits in the side's buffer until then) */
		rs->malformed = true;
		rs->buffer = true;
		rs->decoded = chunked;
		return;
	}
	if (pl->corrupt) {
		cfg->injected[HR_CORRUPT]++;
		rs->corrupt = true;
		rs->decoded = rs->rechunk = chunked;
		rs->next_flip = has_len ? hrule_rng_next(&cfg->rng) % (clen < 100 ? clen : 100) : 0;
	}
	if (pl->truncate) {
		cfg->injected[HR_TRUNCATE]++;
		rs->after = AFTER_CLOSE;
		if (has_len) {
			rs->limit = hrule_truncate_keep(pl->truncate, clen);
		} else if (!pl->truncate->truncate_pct) {
			rs->limit = pl->truncate->truncate_keep_bytes;
			rs->decoded = rs->rechunk = chunked;
		} else {
			rs->truncate_pct = true;
			rs->buffer = true;
			rs->decoded = chunked;
			return; /* the head waits until the length is known */
		}
		head_out(h, ct_drop);
		if (!rs->limit)
			reached_limit(h);
		return;
	}
	head_out(h, ct_drop);
}

/* Raw body bytes of the response (framing included when chunked). */
static void resp_body_raw(struct hconn *h, const char *buf, size_t len)
{
	if (!h->rs_active || h->rs.decoded)
		return;
	if (h->rs.buffer || h->rs.limit != UINT64_MAX || h->rs.corrupt || h->rs.half_first ||
	    h->rs.drop || h->rs.stopped) {
		resp_body_piece(h, buf, len);
		return;
	}
	down_out(h, buf, len);
}

/* The response is complete: finish what was held, then the next. */
static void resp_end(struct hconn *h)
{
	struct hside *s = &h->side[PROXY_DOWN];
	struct rstate *rs = &h->rs;
	struct hreq *r;

	if (s->interim) {
		s->interim = false;
		return;
	}
	if (h->rs_active && rs->buffer && !rs->stopped) {
		rs->buffer = false;
		if (rs->malformed) {
			char *b;
			size_t bl;

			if (hrule_malformed(rs->body.p, rs->body.len, &b, &bl) == 0) {
				add_extra(rs, "Content-Length: %zu\r\n", bl);
				head_out(h,
					 DROP_CL | DROP_TE |
						 (rs->r && rs->r->plan.content_type ? DROP_CT : 0));
				rs->rechunk = false;
				down_out(h, b, bl);
				free(b);
			}
			rs->stopped = true;
		} else if (rs->truncate_pct) {
			uint64_t keep = hrule_truncate_keep(rs->r->plan.truncate, rs->body.len);

			head_out(h, rs->r->plan.content_type ? DROP_CT : 0);
			rs->rechunk = s->p.flags & F_CHUNKED;
			rs->limit = keep;
			if (keep)
				resp_body_piece(h, rs->body.p, (size_t)keep);
			if (!rs->stopped)
				reached_limit(h);
		}
	}
	if (h->rs_active && rs->after == AFTER_CLOSE && !rs->stopped)
		/* a cut body that ended before the cut (its length was unknown):
		 * the client still gets it cut short, without its end */
		reached_limit(h);
	else if (h->rs_active && rs->rechunk && !rs->stopped)
		down_out(h, "0\r\n\r\n", 5);
	hbuf_free(&rs->body);
	hbuf_free(&s->head);
	h->rs_active = false;
	if (s->st == HS_DONE)
		return;
	r = fifo_pop(h);
	if (r)
		req_maybe_free(r);
	emit_synth_fronts(h);
}

/* A Content-Length body this filter has nothing to do with: the rest of
 * it goes straight through (spliced when large), the parser skipped; the
 * message ends in h_forwarded(). */
static void maybe_forward(struct hconn *h, int dir)
{
	struct hside *s = &h->side[dir];
	const struct rstate *rs = &h->rs;
	uint64_t left = s->p.content_length;

	if (s->st != HS_BODY || s->forwarding || (s->p.flags & F_CHUNKED) || left == ULLONG_MAX ||
	    left < HTTPF_FORWARD_MIN)
		return;
	if (dir == PROXY_UP && (!h->cur || h->cur->drop_body))
		return;
	if (dir == PROXY_DOWN &&
	    (!h->rs_active || rs->decoded || rs->buffer || rs->drop || rs->limit != UINT64_MAX ||
	     rs->corrupt || rs->half_first || rs->slow_bps || rs->stopped || s->interim))
		return;
	s->forwarding = true;
	proxy_forward(h->c, (enum proxy_dir)dir, left);
}

/* ---- the stream driver ---- */

static void side_head(struct hconn *h, int dir)
{
	if (dir == PROXY_UP) {
		req_head(h);
		req_head_done(h);
	} else {
		resp_head(h);
	}
}

static void side_body(struct hconn *h, int dir, const char *buf, size_t len)
{
	if (dir == PROXY_UP)
		req_body(h, buf, len);
	else
		resp_body_raw(h, buf, len);
}

static void side_end(struct hconn *h, int dir)
{
	if (dir == PROXY_UP)
		req_end(h);
	else
		resp_end(h);
}

static void feed(struct hconn *h, int dir, const char *buf, size_t len)
{
	struct hside *s = &h->side[dir];
	const http_parser_settings *set = dir == PROXY_UP ? &req_settings : &resp_settings;

	while (len) {
		size_t n, from;
		enum http_errno e;

		if (s->st == HS_DONE)
			return;
		if (s->st == HS_RAW) {
			proxy_send(h->c, (enum proxy_dir)dir, buf, len, 0);
			return;
		}
		s->p.data = h->c;
		from = s->lf_pending ? 1 : 0;
		s->lf_pending = false;
		n = http_parser_execute(&s->p, set, buf, len);
		e = HTTP_PARSER_ERRNO(&s->p);
		if (s->st == HS_HEAD) {
			if (e == HPE_PAUSED && s->at_head_end) {
				s->at_head_end = false;
				if (hbuf_add(&s->head, buf, n + 1, HTTPF_HEAD_MAX) < 0) {
					go_raw(h, false);
					continue;
				}
				http_parser_pause(&s->p, 0);
				s->st = HS_BODY;
				side_head(h, dir);
				if (s->st == HS_DONE)
					return;
				if (dir == PROXY_UP)
					hbuf_free(&s->head);
				if (s->st == HS_RAW) {
					/* the rest, after the head's LF, is another protocol */
					buf += n + 1;
					len -= n + 1;
					if (dir == PROXY_DOWN)
						go_raw(h, false);
					continue;
				}
				s->lf_pending = true;
				buf += n;
				len -= n;
				continue;
			}
			if (e != HPE_OK || n != len) {
				go_raw(h, true);
				proxy_send(h->c, (enum proxy_dir)dir, buf, len, 0);
				return;
			}
			if (hbuf_add(&s->head, buf, n, HTTPF_HEAD_MAX) < 0) {
				/* a head this big is not something we judge */
				go_raw(h, false);
				proxy_send(h->c, (enum proxy_dir)dir, buf, len, 0);
				return;
			}
			return;
		}
		/* HS_BODY */
		if (e == HPE_PAUSED && s->at_msg_end) {
			s->at_msg_end = false;
			if (n > from)
				side_body(h, dir, buf + from, n - from);
			if (s->st == HS_DONE)
				return;
			http_parser_pause(&s->p, 0);
			s->st = HS_HEAD;
			side_end(h, dir);
			buf += n;
			len -= n;
			continue;
		}
		if (e != HPE_OK) {
			go_raw(h, true);
			if (len > from)
				proxy_send(h->c, (enum proxy_dir)dir, buf + from, len - from, 0);
			return;
		}
		if (n > from)
			side_body(h, dir, buf + from, n - from);
		if (n == len)
			maybe_forward(h, dir);
		return;
	}
}

/* ---- the filter ---- */

static int h_open(struct proxy_conn *c)
{
	struct hconn *h = proxy_conn_priv(c);

	settings_init();
	h->c = c;
	http_parser_init(&h->side[PROXY_UP].p, HTTP_REQUEST);
	http_parser_init(&h->side[PROXY_DOWN].p, HTTP_RESPONSE);
	return PROXY_OPEN_CONNECT;
}

static void h_data(struct proxy_conn *c, enum proxy_dir dir, const char *buf, size_t len)
{
	struct hconn *h = proxy_conn_priv(c);

	feed(h, dir, buf, len);
}

static void h_forwarded(struct proxy_conn *c, enum proxy_dir dir)
{
	struct hconn *h = proxy_conn_priv(c);
	struct hside *s = &h->side[dir];

	/* the body went by: the message is complete, the next one starts */
	s->forwarding = false;
	http_parser_init(&s->p, dir == PROXY_UP ? HTTP_REQUEST : HTTP_RESPONSE);
	s->lf_pending = false;
	s->st = HS_HEAD;
	side_end(h, dir);
}

static void h_eof(struct proxy_conn *c, enum proxy_dir dir)
{
	struct hconn *h = proxy_conn_priv(c);
	struct hside *s = &h->side[dir];

	s->forwarding = false;
	if (dir == PROXY_DOWN && s->st == HS_BODY) {
		/* a body that runs until the server closes ends here */
		s->p.data = c;
		http_parser_execute(&s->p, &resp_settings, NULL, 0);
		if (s->at_msg_end) {
			s->at_msg_end = false;
			http_parser_pause(&s->p, 0);
			s->st = HS_HEAD;
			resp_end(h);
		}
	}
	if (s->st == HS_DONE)
		return;
	proxy_shutdown(c, dir);
}

static void h_close(struct proxy_conn *c)
{
	struct hconn *h = proxy_conn_priv(c);

	while (h->fifo) {
		struct hreq *r = fifo_pop(h);

		req_maybe_free(r);
	}
	if (h->cur) {
		h->cur->is_cur = false;
		req_maybe_free(h->cur);
		h->cur = NULL;
	}
	free(h->info);
	h->info = NULL;
	for (int d = 0; d < 2; d++)
		hbuf_free(&h->side[d].head);
	hbuf_free(&h->rs.body);
}

static void h_stats(void *arg, json_t *out)
{
	struct httpf_config *cfg = arg;
	json_t *inj = json_object();

	json_object_set_new(out, "requests", json_integer((json_int_t)cfg->requests));
	json_object_set_new(out, "responses", json_integer((json_int_t)cfg->responses));
	json_object_set_new(out, "matched", json_integer((json_int_t)cfg->matched));
	json_object_set_new(out, "answered", json_integer((json_int_t)cfg->answered));
	json_object_set_new(out, "upgrades", json_integer((json_int_t)cfg->upgrades));
	json_object_set_new(out, "parse_errors", json_integer((json_int_t)cfg->parse_errors));
	for (int k = 0; k < HR_NKINDS; k++)
		json_object_set_new(inj, hrule_kind_name((enum hrule_kind)k),
				    json_integer((json_int_t)cfg->injected[k]));
	json_object_set_new(out, "injected", inj);
	json_object_set_new(out, "latency_added_ms", phist_json(&cfg->latency_added));
}

void httpf_init(struct httpf_config *cfg)
{
	uint64_t seed = cfg->seed;

	if (!seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)(uintptr_t)cfg ^ 0x9e3779b97f4a7c15ULL;
	hrule_rng_seed(&cfg->rng, seed);
	for (size_t i = 0; i < cfg->nrules; i++)
		hrule_bucket_init(&cfg->rules[i].bucket, cfg->rules[i].rate,
				  cfg->rules[i].rate_burst ? cfg->rules[i].rate_burst : 1);
	settings_init();
}

const struct proxy_filter httpf_filter = {
	.name = "http",
	.conn_size = sizeof(struct hconn),
	.open = h_open,
	.data = h_data,
	.eof = h_eof,
	.forwarded = h_forwarded,
	.close = h_close,
	.stats = h_stats,
};
