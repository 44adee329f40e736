// SPDX-License-Identifier: MIT
/* The PostgreSQL filter; see include/duress/proxy/pgf.h. */
#include <duress/proxy/pgf.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PG_SSL_REQUEST 80877103u
#define PG_GSS_REQUEST 80877104u
#define PG_CANCEL_REQUEST 80877102u
#define PG_PROTOCOL_3 196608u
#define PGF_RING 64 /* outstanding Query/Sync remembered */

static const struct {
	const char *code, *msg;
} messages[] = {
	{ "40P01", "deadlock detected" },
	{ "40001", "could not serialize access due to concurrent update" },
	{ "57014", "canceling statement due to user request" },
	{ "57P01", "terminating connection due to administrator command" },
	{ "53300", "sorry, too many clients already" },
	{ "55P03", "canceling statement due to lock timeout" },
	{ "53100", "could not extend file: No space left on device" },
	{ "53200", "out of memory" },
	{ "23505", "duplicate key value violates unique constraint" },
	{ "42501", "permission denied" },
	{ "25006", "cannot execute statement in a read-only transaction" },
	{ "08006", "connection failure" },
	{ "XX000", "internal error" },
};

const char *pgf_sqlstate_message(const char *sqlstate)
{
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (!strcmp(messages[i].code, sqlstate))
			return messages[i].msg;
	return NULL;
}

bool pgf_sqlstate_valid(const char *s)
{
	/* the error classes of PostgreSQL's errcodes.txt */
	static const char *const classes[] = {
		"03", "08", "09", "0A", "0B", "0F", "0L", "0P", "0Z", "20", "21", "22", "23", "24",
		"25", "26", "27", "28", "2B", "2D", "2F", "34", "38", "39", "3B", "3D", "3F", "40",
		"42", "44", "53", "54", "55", "57", "58", "72", "F0", "HV", "P0", "XX",
	};

	if (strlen(s) != 5)
		return false;
	for (size_t i = 0; i < 5; i++)
		if (!isdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]))
			return false;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (!strncmp(s, classes[i], 2))
			return true;
	return false;
}

/* ---- per connection ---- */

struct named {
	uint64_t hash;
	unsigned flags;
	bool used;
};

struct pconn {
	struct sqlr_link l; /* first: the framing's */
	bool typed;	    /* past the startup packet */
	char status;	    /* 'I', 'T', 'E' (predicted for what the client sends next) */
	/* what was sent and awaits a ReadyForQuery: corrupt-rows picks */
	bool ring[PGF_RING];
	uint32_t rhead, rtail;
	unsigned swallow; /* ReadyForQuery messages the client must not see */
	bool batch_pick;  /* extended: an Execute since the last Sync was picked */
	bool skipping;	  /* extended: dropping until Sync, then raise */
	enum sqlr_kind skip_kind;
	struct named stmts[PGF_MAX_NAMES], portals[PGF_MAX_NAMES];
	unsigned stmt_rr, portal_rr;
	uint16_t ncols;
	uint32_t oids[PGF_MAX_COLS];
	bool text_fmt[PGF_MAX_COLS];
};

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint16_t be16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] << 8 | b[1]);
}

static void put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static struct named *lookup(struct named *t, const char *name)
{
	uint64_t h = hash_name(name);

	for (size_t i = 0; i < PGF_MAX_NAMES; i++)
		if (t[i].used && t[i].hash == h)
			return &t[i];
	return NULL;
}

static void remember(struct named *t, unsigned *rr, const char *name, unsigned flags)
{
	struct named *e = lookup(t, name);

	if (!e) {
		e = &t[*rr];
		*rr = (*rr + 1) % PGF_MAX_NAMES;
	}
	e->hash = hash_name(name);
	e->flags = flags;
	e->used = true;
}

static void ring_push(struct pconn *pc, bool pick)
{
	if (pc->rtail - pc->rhead < PGF_RING)
		pc->ring[pc->rtail++ % PGF_RING] = pick;
	else
		pc->rtail++; /* too many in flight: remembered as not picked */
}

static bool ring_head(const struct pconn *pc)
{
	return pc->rtail != pc->rhead && pc->rtail - pc->rhead <= PGF_RING &&
	       pc->ring[pc->rhead % PGF_RING];
}

static void ring_pop(struct pconn *pc)
{
	if (pc->rtail != pc->rhead)
		pc->rhead++;
}

static void after_statement(struct pconn *pc, unsigned fl)
{
	if (fl & SQLR_BEGIN)
		pc->status = 'T';
	else if (fl & (SQLR_END | SQLR_ROLLBACK))
		pc->status = 'I';
}

/* A Query message carrying sql, sent to the server. */
static void send_query(struct proxy_conn *c, const char *sql)
{
	size_t n = strlen(sql);
	char *m = malloc(n + 6);

	if (!m) {
		proxy_close(c);
		return;
	}
	m[0] = 'Q';
	put32(m + 1, (uint32_t)(n + 5));
	memcpy(m + 5, sql, n + 1);
	proxy_send(c, PROXY_UP, m, n + 6, 0);
	free(m);
}

/* What the server runs instead of a statement that is to fail. */
static void send_raise(struct proxy_conn *c, enum sqlr_kind k)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	const char *code, *msg;
	char sql[512];

	if (k == SQLR_ADMIN_SHUTDOWN) {
		send_query(c, "DO $duress$BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); "
			      "PERFORM pg_sleep(5); END$duress$");
		return;
	}
	code = k == SQLR_FAIL_DDL ? (cfg->ddl_code[0] ? cfg->ddl_code : "55P03") : cfg->code;
	msg = pgf_sqlstate_message(code);
	if (k == SQLR_FAIL_DDL && !cfg->ddl_code[0])
		msg = "canceling statement due to lock timeout";
	snprintf(sql, sizeof(sql),
		 "DO $duress$BEGIN RAISE EXCEPTION USING ERRCODE = '%s', MESSAGE = '%s', "
		 "DETAIL = 'injected by duress'; END$duress$",
		 code, msg ? msg : "injected error");
	send_query(c, sql);
}

/* FATAL ErrorResponse to the client. */
static void send_fatal(struct proxy_conn *c, const char *code, const char *msg)
{
	char m[256];
	int n = snprintf(m + 5, sizeof(m) - 5, "SFATAL%cVFATAL%cC%s%cM%s%c%c", 0, 0, code, 0, msg,
			 0, 0);

	if (n < 0 || (size_t)n >= sizeof(m) - 5)
		return;
	m[0] = 'E';
	put32(m + 1, (uint32_t)n + 4);
	proxy_send(c, PROXY_DOWN, m, (size_t)n + 5, 0);
}

static void apply_kind(struct proxy_conn *c, struct pconn *pc, enum sqlr_kind k)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);

	cfg->injected[k]++;
	if (k == SQLR_DROP) {
		proxy_event(c, "postgres: connection %llu dropped mid-statement",
			    (unsigned long long)proxy_conn_id(c));
		pc->l.dead = true;
		proxy_close(c);
	}
}

/* ---- the messages looked into; true: forward them as they are ---- */

static bool on_startup(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	uint32_t code = be32(m + 4);

	(void)n;
	if (code == PG_SSL_REQUEST || code == PG_GSS_REQUEST) {
		proxy_send(c, PROXY_DOWN, "N", 1, 0);
		return false;
	}
	if (code != PG_PROTOCOL_3) {
		/* CancelRequest, or a protocol this filter does not know */
		pc->l.passthrough = true;
		return true;
	}
	pc->typed = true;
	if (cfg->too_many_pct > 0 && hrule_rng_pct(&cfg->rng, cfg->too_many_pct)) {
		cfg->injected[SQLR_TOO_MANY]++;
		send_fatal(c, "53300", "sorry, too many clients already");
		pc->l.dead = true;
		proxy_close(c);
		return false;
	}
	return true;
}

static bool cstr(const char *s, size_t len, size_t *end)
{
	const char *z = memchr(s, '\0', len);

	if (!z)
		return false;
	*end = (size_t)(z - s);
	return true;
}

static bool on_query(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	unsigned fl = 0;
	enum sqlr_kind k;
	size_t e;

	cfg->statements++;
	if (cstr(m + 5, n - 5, &e))
		fl = sqlr_classify(cfg, m + 5, e);
	k = sqlr_decide(cfg, pc->status != 'I', fl);
	after_statement(pc, fl);
	if (k == SQLR_NKINDS) {
		ring_push(pc, sqlr_pick_rows(cfg, pc->status != 'I', fl));
		return true;
	}
	apply_kind(c, pc, k);
	switch (k) {
	case SQLR_DROP:
		return false;
	case SQLR_DELAY:
		ring_push(pc, false);
		proxy_send(c, PROXY_UP, m, n, proxy_conn_now(c) + cfg->delay_ns);
		return false;
	default:
		ring_push(pc, false);
		send_raise(c, k);
		if (k != SQLR_ADMIN_SHUTDOWN && pc->status == 'T')
			pc->status = 'E';
		return false;
	}
}

static bool on_parse(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	size_t e1, e2;

	if (!cstr(m + 5, n - 5, &e1) || !cstr(m + 6 + e1, n - 6 - e1, &e2))
		return true;
	remember(pc->stmts, &pc->stmt_rr, m + 5, sqlr_classify(cfg, m + 6 + e1, e2));
	return true;
}

static bool on_bind(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	struct named *s;
	size_t e1, e2;

	(void)c;
	if (!cstr(m + 5, n - 5, &e1) || !cstr(m + 6 + e1, n - 6 - e1, &e2))
		return true;
	s = lookup(pc->stmts, m + 6 + e1);
	remember(pc->portals, &pc->portal_rr, m + 5, s ? s->flags : 0);
	return true;
}

static bool on_execute(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	struct named *p;
	unsigned fl = 0;
	enum sqlr_kind k;
	size_t e;

	cfg->statements++;
	if (cstr(m + 5, n - 5, &e) && (p = lookup(pc->portals, m + 5)))
		fl = p->flags;
	k = sqlr_decide(cfg, pc->status != 'I', fl);
	after_statement(pc, fl);
	if (k == SQLR_NKINDS) {
		if (cfg->corrupt_pct > 0 && (fl & SQLR_MATCH))
			pc->batch_pick = true;
		return true;
	}
	apply_kind(c, pc, k);
	switch (k) {
	case SQLR_DROP:
		return false;
	case SQLR_DELAY:
		proxy_send(c, PROXY_UP, m, n, proxy_conn_now(c) + cfg->delay_ns);
		return false;
	default:
		/* the rest up to the Sync goes nowhere; the Sync raises */
		pc->skipping = true;
		pc->skip_kind = k;
		return false;
	}
}

static bool on_sync(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	if (!pc->skipping) {
		ring_push(pc, pc->batch_pick);
		pc->batch_pick = false;
		return true;
	}
	/* The Sync ends the extended exchange (and an error the server may
	 * already be ignoring messages after); its ReadyForQuery is not the
	 * client's: the raise's is. */
	proxy_send(c, PROXY_UP, m, n, 0);
	pc->swallow++;
	send_raise(c, pc->skip_kind);
	ring_push(pc, false);
	if (pc->skip_kind != SQLR_ADMIN_SHUTDOWN && pc->status == 'T')
		pc->status = 'E';
	pc->skipping = false;
	pc->batch_pick = false;
	return false;
}

static bool on_ready(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	(void)c;
	if (n < 6)
		return true;
	if (pc->swallow) {
		pc->swallow--;
		return false;
	}
	ring_pop(pc);
	if (pc->rhead == pc->rtail)
		pc->status = m[5];
	return true;
}

static bool on_rowdesc(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	size_t off = 7;
	uint16_t nf;

	(void)c;
	pc->ncols = 0;
	if (n < 7)
		return true;
	nf = be16(m + 5);
	for (uint16_t i = 0; i < nf && i < PGF_MAX_COLS; i++) {
		size_t e;

		if (!cstr(m + off, n - off, &e) || off + e + 1 + 18 > n)
			break;
		off += e + 1;
		pc->oids[i] = be32(m + off + 6);
		pc->text_fmt[i] = be16(m + off + 16) == 0;
		off += 18;
		pc->ncols = (uint16_t)(i + 1);
	}
	return true;
}

static enum sqlr_col col_type(uint32_t oid)
{
	switch (oid) {
	case 16:
		return SQLR_COL_BOOL;
	case 20:
	case 21:
	case 23:
	case 26:
	case 700:
	case 701:
	case 1700:
		return SQLR_COL_NUMBER;
	case 18:
	case 19:
	case 25:
	case 1042:
	case 1043:
		return SQLR_COL_TEXT;
	default:
		return SQLR_COL_NONE;
	}
}

/* Change one value of the row in place (same length); false: nothing
 * could be changed. */
static bool corrupt_row(struct sqlr_config *cfg, struct pconn *pc, char *m, size_t n)
{
	size_t off[PGF_MAX_COLS], cand[PGF_MAX_COLS], ncand = 0, o = 7;
	uint32_t len[PGF_MAX_COLS];
	uint16_t nf;

	if (n < 7)
		return false;
	nf = be16(m + 5);
	for (uint16_t i = 0; i < nf && i < PGF_MAX_COLS; i++) {
		int32_t l;

		if (o + 4 > n)
			return false;
		l = (int32_t)be32(m + o);
		o += 4;
		if (l < 0)
			continue;
		if ((size_t)l > n - o)
			return false;
		off[i] = o;
		len[i] = (uint32_t)l;
		o += (size_t)l;
		if (l > 0 && i < pc->ncols && pc->text_fmt[i] &&
		    col_type(pc->oids[i]) != SQLR_COL_NONE)
			cand[ncand++] = i;
	}
	while (ncand) {
		size_t pick = hrule_rng_next(&cfg->rng) % ncand, col = cand[pick];

		if (sqlr_corrupt_value(&cfg->rng, m + off[col], len[col], col_type(pc->oids[col])))
			return true;
		cand[pick] = cand[--ncand];
	}
	return false;
}

static bool on_datarow(struct proxy_conn *c, struct pconn *pc, const char *m, size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	char *copy;

	if (!ring_head(pc))
		return true;
	cfg->rows++;
	if (!hrule_rng_pct(&cfg->rng, cfg->corrupt_pct))
		return true;
	copy = malloc(n);
	if (!copy)
		return true;
	memcpy(copy, m, n);
	if (corrupt_row(cfg, pc, copy, n)) {
		cfg->rows_corrupted++;
		cfg->injected[SQLR_CORRUPT_ROWS]++;
		proxy_send(c, PROXY_DOWN, copy, n, 0);
		free(copy);
		return false;
	}
	free(copy);
	return true;
}

static bool handle(struct proxy_conn *c, struct pconn *pc, enum proxy_dir dir, const char *m,
		   size_t n)
{
	if (dir == PROXY_UP && !pc->typed)
		return on_startup(c, pc, m, n);
	if (dir == PROXY_UP) {
		switch (m[0]) {
		case 'Q':
			return on_query(c, pc, m, n);
		case 'P':
			return on_parse(c, pc, m, n);
		case 'B':
			return on_bind(c, pc, m, n);
		case 'E':
			return on_execute(c, pc, m, n);
		case 'S':
			return on_sync(c, pc, m, n);
		default:
			return true;
		}
	}
	switch (m[0]) {
	case 'Z':
		return on_ready(c, pc, m, n);
	case 'T':
		return on_rowdesc(c, pc, m, n);
	case 'D':
		return on_datarow(c, pc, m, n);
	default:
		return true;
	}
}

static size_t pg_hdr_size(struct proxy_conn *c, enum proxy_dir dir)
{
	const struct pconn *pc = proxy_conn_priv(c);

	return dir == PROXY_UP && !pc->typed ? 4 : 5;
}

static enum sqlr_what pg_what(struct proxy_conn *c, enum proxy_dir dir, const uint8_t *h,
			      uint64_t *total)
{
	const struct sqlr_config *cfg = proxy_conn_arg(c);
	const struct pconn *pc = proxy_conn_priv(c);
	bool want;

	if (dir == PROXY_UP && !pc->typed) {
		*total = be32(h);
		/* not PostgreSQL as this filter knows it: hands off */
		return *total < 8 || *total > PGF_MAX_STARTUP ? SQLR_W_FOREIGN : SQLR_W_INSPECT;
	}
	*total = 1 + (uint64_t)be32(h + 1);
	if (*total < 5)
		return SQLR_W_FOREIGN;
	if (dir == PROXY_UP) {
		if (pc->skipping && h[0] != 'S')
			return SQLR_W_DROP;
		want = strchr("QPBES", h[0]) != NULL;
	} else {
		want = h[0] == 'Z' || (cfg->corrupt_pct > 0 && (h[0] == 'T' || h[0] == 'D'));
	}
	return want && *total <= PGF_MAX_MSG ? SQLR_W_INSPECT : SQLR_W_STREAM;
}

static bool pg_handle(struct proxy_conn *c, enum proxy_dir dir, const char *m, size_t n)
{
	return handle(c, proxy_conn_priv(c), dir, m, n);
}

static const struct sqlr_framing pg_framing = {
	.hdr_size = pg_hdr_size,
	.what = pg_what,
	.handle = pg_handle,
};

static int p_open(struct proxy_conn *c)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	struct pconn *pc = proxy_conn_priv(c);

	cfg->connections++;
	pc->status = 'I';
	pc->l.fr = &pg_framing;
	return PROXY_OPEN_CONNECT;
}

const struct proxy_filter pgf_filter = {
	.name = "postgres",
	.conn_size = sizeof(struct pconn),
	.open = p_open,
	.data = sqlr_data,
	.close = sqlr_close,
	.stats = sqlr_stats,
};
