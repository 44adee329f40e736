// SPDX-License-Identifier: MIT
/* What the database filters share; see include/duress/proxy/sqlrule.h. */
#include <duress/proxy/sqlrule.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const names[SQLR_NKINDS] = {
	[SQLR_ERROR] = "error",
	[SQLR_ADMIN_SHUTDOWN] = "admin_shutdown",
	[SQLR_DELAY] = "delay",
	[SQLR_DROP] = "drop_connection",
	[SQLR_FAIL_DDL] = "fail_ddl",
	[SQLR_CORRUPT_ROWS] = "corrupt_rows",
	[SQLR_TOO_MANY] = "too_many_connections",
};

const char *sqlr_kind_name(enum sqlr_kind k)
{
	return k < SQLR_NKINDS ? names[k] : "?";
}

void sqlr_init(struct sqlr_config *cfg)
{
	uint64_t seed = cfg->seed;

	if (!seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)(uintptr_t)cfg ^ 0x9e3779b97f4a7c15ULL;
	hrule_rng_seed(&cfg->rng, seed);
}

void sqlr_free(struct sqlr_config *cfg)
{
	if (cfg->has_match) {
		regfree(&cfg->match);
		cfg->has_match = false;
	}
}

/* The first keyword after spaces, comments and '(', upper-cased into kw. */
static void first_keyword(const char *s, size_t len, char *kw, size_t cap)
{
	size_t i = 0, n = 0;

	while (i < len) {
		if (isspace((unsigned char)s[i]) || s[i] == '(') {
			i++;
		} else if (s[i] == '-' && i + 1 < len && s[i + 1] == '-') {
			while (i < len && s[i] != '\n')
				i++;
		} else if (s[i] == '#') { /* MySQL's line comment */
			while (i < len && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
			i += 2;
			while (i + 1 < len && !(s[i] == '*' && s[i + 1] == '/'))
				i++;
			i += 2;
		} else {
			break;
		}
	}
	while (i < len && n + 1 < cap && isalpha((unsigned char)s[i]))
		kw[n++] = (char)toupper((unsigned char)s[i++]);
	kw[n] = '\0';
}

static bool kw_in(const char *kw, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(kw, list[i]))
			return true;
	return false;
}

bool sqlr_is_ddl(const char *sql, size_t len)
{
	static const char *const ddl[] = { "CREATE",  "ALTER", "DROP",	 "TRUNCATE", "RENAME",
					   "COMMENT", "GRANT", "REVOKE", "REINDEX",  NULL };
	char kw[16];

	first_keyword(sql, len, kw, sizeof(kw));
	return kw_in(kw, ddl);
}

unsigned sqlr_classify(const struct sqlr_config *cfg, const char *sql, size_t len)
{
	static const char *const begin[] = { "BEGIN", "START", NULL };
	static const char *const end[] = { "COMMIT", "END", NULL };
	static const char *const rollback[] = { "ROLLBACK", "ABORT", NULL };
	unsigned fl = SQLR_KNOWN;
	char kw[16];

	first_keyword(sql, len, kw, sizeof(kw));
	if (kw_in(kw, begin))
		fl |= SQLR_BEGIN;
	else if (kw_in(kw, end))
		fl |= SQLR_END;
	else if (kw_in(kw, rollback))
		fl |= SQLR_ROLLBACK;
	if (sqlr_is_ddl(sql, len))
		fl |= SQLR_DDL;
	if (!cfg->has_match || regexec(&cfg->match, sql, 0, NULL, 0) == 0)
		fl |= SQLR_MATCH;
	return fl;
}

enum sqlr_kind sqlr_decide(struct sqlr_config *cfg, bool in_tx, unsigned fl)
{
	if (!(fl & SQLR_MATCH))
		return SQLR_NKINDS;
	if (cfg->in_transaction && !in_tx)
		return SQLR_NKINDS;
	cfg->matched++;
	if (!(fl & SQLR_ROLLBACK)) {
		if (cfg->fail_ddl && (fl & SQLR_DDL) && ++cfg->ddl_seen > cfg->ddl_after &&
		    hrule_rng_pct(&cfg->rng, cfg->ddl_pct))
			return SQLR_FAIL_DDL;
		if (cfg->error_pct > 0 && hrule_rng_pct(&cfg->rng, cfg->error_pct))
			return SQLR_ERROR;
		if (cfg->shutdown_pct > 0 && hrule_rng_pct(&cfg->rng, cfg->shutdown_pct))
			return SQLR_ADMIN_SHUTDOWN;
	}
	if (cfg->drop_pct > 0 && hrule_rng_pct(&cfg->rng, cfg->drop_pct))
		return SQLR_DROP;
	if (cfg->delay_pct > 0 && cfg->delay_ns && hrule_rng_pct(&cfg->rng, cfg->delay_pct))
		return SQLR_DELAY;
	return SQLR_NKINDS;
}

bool sqlr_pick_rows(const struct sqlr_config *cfg, bool in_tx, unsigned fl)
{
	return cfg->corrupt_pct > 0 && (fl & SQLR_MATCH) && !(cfg->in_transaction && !in_tx);
}

bool sqlr_corrupt_value(struct hrule_rng *rng, char *v, size_t len, enum sqlr_col t)
{
	size_t pos[64], npos = 0, at;
	unsigned r;
	char *ch;
	bool lead;

	if (!len || t == SQLR_COL_NONE)
		return false;
	if (t == SQLR_COL_BOOL) {
		if (v[0] != 't' && v[0] != 'f')
			return false;
		v[0] = v[0] == 't' ? 'f' : 't';
		return true;
	}
	for (size_t j = 0; j < len && npos < 64; j++)
		if (isdigit((unsigned char)v[j]) ||
		    (t == SQLR_COL_TEXT && !(v[j] & 0x80) && isalpha((unsigned char)v[j])))
			pos[npos++] = j;
	if (!npos)
		return false;
	at = pos[hrule_rng_next(rng) % npos];
	ch = v + at;
	r = 1 + (unsigned)(hrule_rng_next(rng) % 9);
	lead = t == SQLR_COL_NUMBER && at + 1 < len && isdigit((unsigned char)v[at + 1]) &&
	       (at == 0 || v[at - 1] == '-' || v[at - 1] == '+');
	if (lead) /* 42 -> 72, never 02: still a number */
		*ch = (char)('1' + (*ch - '1' + 1 + (int)(r % 8)) % 9);
	else if (isdigit((unsigned char)*ch))
		*ch = (char)('0' + (*ch - '0' + r) % 10);
	else if (isupper((unsigned char)*ch))
		*ch = (char)('A' + (*ch - 'A' + r) % 26);
	else
		*ch = (char)('a' + (*ch - 'a' + r) % 26);
	return true;
}

void sqlr_stats(void *arg, json_t *out)
{
	const struct sqlr_config *cfg = arg;
	json_t *inj = json_object();

	json_object_set_new(out, "statements", json_integer((json_int_t)cfg->statements));
	json_object_set_new(out, "matched", json_integer((json_int_t)cfg->matched));
	json_object_set_new(out, "rows_seen", json_integer((json_int_t)cfg->rows));
	json_object_set_new(out, "rows_corrupted", json_integer((json_int_t)cfg->rows_corrupted));
	json_object_set_new(out, "ddl_seen", json_integer((json_int_t)cfg->ddl_seen));
	for (int k = 0; k < SQLR_NKINDS; k++)
		json_object_set_new(inj, names[k], json_integer((json_int_t)cfg->injected[k]));
	json_object_set_new(out, "injected", inj);
}

static void flush(struct proxy_conn *c, enum proxy_dir dir, const char **fwd, const char *to)
{
	if (to > *fwd)
		proxy_send(c, dir, *fwd, (size_t)(to - *fwd), 0);
	*fwd = to;
}

void sqlr_data(struct proxy_conn *c, enum proxy_dir dir, const char *buf, size_t len)
{
	struct sqlr_link *l = proxy_conn_priv(c);
	const struct sqlr_framing *fr = l->fr;
	struct sqlr_dir *d = &l->d[dir];
	const char *fwd = buf;
	size_t i = 0;

	while (i < len && !l->dead && !l->passthrough) {
		size_t hs = fr->hdr_size(c, dir), n;
		const uint8_t *h;
		const char *hstart = NULL;
		uint64_t total = 0, body;
		enum sqlr_what w;

		if (d->stream_left) {
			n = len - i < d->stream_left ? len - i : (size_t)d->stream_left;
			if (d->need_first) {
				d->need_first = false;
				if (fr->streamed)
					fr->streamed(c, dir, (uint8_t)buf[i]);
			}
			if (d->stream_drop)
				flush(c, dir, &fwd, buf + i);
			i += n;
			d->stream_left -= n;
			if (d->stream_drop)
				fwd = buf + i;
			continue;
		}
		if (d->collecting) {
			n = len - i < d->mwant - d->mlen ? len - i : d->mwant - d->mlen;
			memcpy(d->msg + d->mlen, buf + i, n);
			d->mlen += n;
			i += n;
			fwd = buf + i;
			if (d->mlen == d->mwant) {
				d->collecting = false;
				if (fr->handle(c, dir, d->msg, d->mlen))
					proxy_send(c, dir, d->msg, d->mlen, 0);
				free(d->msg);
				d->msg = NULL;
			}
			continue;
		}
		if (!d->hlen && len - i >= hs) {
			hstart = buf + i;
			h = (const uint8_t *)hstart;
			i += hs;
		} else {
			flush(c, dir, &fwd, buf + i);
			n = hs - d->hlen < len - i ? hs - d->hlen : len - i;
			memcpy(d->hdr + d->hlen, buf + i, n);
			d->hlen += n;
			i += n;
			fwd = buf + i;
			if (d->hlen < hs)
				continue;
			h = d->hdr;
		}
		d->hlen = 0;
		w = fr->what(c, dir, h, &total);
		if (w == SQLR_W_FOREIGN || total < hs) {
			if (!hstart)
				proxy_send(c, dir, (const char *)h, hs, 0);
			l->passthrough = true;
			break;
		}
		body = total - hs;
		if (w == SQLR_W_INSPECT && hstart && body <= len - i) {
			bool keep;

			i += (size_t)body;
			flush(c, dir, &fwd, hstart);
			keep = fr->handle(c, dir, hstart, (size_t)total);
			fwd = keep ? hstart : buf + i;
		} else if (w == SQLR_W_INSPECT) {
			flush(c, dir, &fwd, hstart ? hstart : buf + i);
			d->msg = malloc((size_t)total);
			if (!d->msg) {
				l->dead = true;
				proxy_close(c);
				return;
			}
			memcpy(d->msg, h, hs);
			d->mlen = hs;
			d->mwant = (size_t)total;
			d->collecting = true;
			fwd = buf + i;
		} else if (w == SQLR_W_STREAM) {
			if (!hstart)
				proxy_send(c, dir, (const char *)h, hs, 0);
			d->stream_left = body;
			d->stream_drop = false;
			d->need_first = body > 0;
		} else {
			if (hstart)
				flush(c, dir, &fwd, hstart);
			fwd = buf + i;
			d->stream_left = body;
			d->stream_drop = true;
			d->need_first = false;
		}
	}
	if (l->dead)
		return;
	flush(c, dir, &fwd, buf + len);
	if (l->passthrough) {
		proxy_pass(c, PROXY_UP);
		proxy_pass(c, PROXY_DOWN);
	}
}

void sqlr_close(struct proxy_conn *c)
{
	struct sqlr_link *l = proxy_conn_priv(c);

	for (int i = 0; i < 2; i++) {
		free(l->d[i].msg);
		l->d[i].msg = NULL;
	}
}
