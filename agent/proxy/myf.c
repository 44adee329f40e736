// SPDX-License-Identifier: MIT
/* The MySQL filter; see include/duress/proxy/myf.h. */
#include <duress/proxy/myf.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MY_MAX_PAYLOAD 0xffffffu
#define MYF_RING 32 /* commands awaiting their response */

/* capabilities */
#define CAP_PROTOCOL_41 0x00000200u
#define CAP_SSL 0x00000800u
#define CAP_COMPRESS 0x00000020u
#define CAP_ZSTD 0x04000000u
#define CAP_DEPRECATE_EOF 0x01000000u
#define CAP_MYSQL 0x00000001u		/* clear: MariaDB's extended capabilities */
#define MARIADB_EXTENDED_METADATA 0x08u /* of the extended capabilities */
#define MARIADB_CACHE_METADATA 0x10u

/* status flags */
#define ST_IN_TRANS 0x0001u
#define ST_AUTOCOMMIT 0x0002u
#define ST_MORE_RESULTS 0x0008u
#define ST_CURSOR_EXISTS 0x0040u

/* commands */
#define COM_QUIT 0x01
#define COM_INIT_DB 0x02
#define COM_QUERY 0x03
#define COM_STATISTICS 0x09
#define COM_PING 0x0e
#define COM_STMT_PREPARE 0x16
#define COM_STMT_EXECUTE 0x17
#define COM_STMT_SEND_LONG_DATA 0x18
#define COM_STMT_CLOSE 0x19
#define COM_STMT_RESET 0x1a
#define COM_SET_OPTION 0x1b
#define COM_RESET_CONNECTION 0x1f

/* column types */
enum {
	T_DECIMAL = 0x00,
	T_TINY = 0x01,
	T_SHORT = 0x02,
	T_LONG = 0x03,
	T_FLOAT = 0x04,
	T_DOUBLE = 0x05,
	T_NULL = 0x06,
	T_TIMESTAMP = 0x07,
	T_LONGLONG = 0x08,
	T_INT24 = 0x09,
	T_DATE = 0x0a,
	T_TIME = 0x0b,
	T_DATETIME = 0x0c,
	T_YEAR = 0x0d,
	T_VARCHAR = 0x0f,
	T_NEWDECIMAL = 0xf6,
	T_VAR_STRING = 0xfd,
	T_STRING = 0xfe,
};

static const struct {
	unsigned code;
	const char *state, *msg;
} messages[] = {
	{ 1213, "40001", "Deadlock found when trying to get lock; try restarting transaction" },
	{ 1205, "HY000", "Lock wait timeout exceeded; try restarting transaction" },
	{ 1317, "70100", "Query execution was interrupted" },
	{ 1040, "08004", "Too many connections" },
	{ 1053, "08S01", "Server shutdown in progress" },
	{ 1927, "70100", "Connection was killed" },
	{ 1062, "23000", "Duplicate entry for key 'PRIMARY'" },
	{ 1146, "42S02", "Table doesn't exist" },
	{ 1142, "42000", "command denied to user" },
	{ 1290, "HY000",
	  "The server is running with the --read-only option so it cannot "
	  "execute this statement" },
	{ 1021, "HY000", "Disk full; waiting for someone to free some space..." },
	{ 1114, "HY000", "The table is full" },
	{ 1180, "HY000", "Got error during COMMIT" },
	{ 1041, "HY000", "Out of memory" },
};

const char *myf_error_message(unsigned code, const char **sqlstate)
{
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (messages[i].code == code) {
			if (sqlstate)
				*sqlstate = messages[i].state;
			return messages[i].msg;
		}
	if (sqlstate)
		*sqlstate = "HY000";
	return NULL;
}

bool myf_error_valid(const char *s)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (!n || n > 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return (v >= 1000 && v <= 1999) || (v >= 3000 && v <= 4999);
}

/* ---- per connection ---- */

enum phase { PH_GREETING, PH_LOGIN, PH_AUTH, PH_COMMAND };

enum rstate {
	R_FIRST,    /* the first packet of a result */
	R_COLS,	    /* column definitions */
	R_COLS_EOF, /* the EOF after them */
	R_ROWS,
	R_PREP, /* definitions of a prepared statement's parameters and columns */
};

struct exp {
	uint8_t cmd;
	bool pick;    /* corrupt-rows candidate */
	bool replace; /* the server's answer is swallowed and kind's ERR sent */
	enum sqlr_kind kind;
	int8_t stmt;	/* execute: its slot; -1: none */
	unsigned flags; /* prepare: the statement's classification */
};

struct stmt {
	uint32_t id;
	unsigned flags;
	bool used;
	uint8_t ncols;
	uint8_t types[MYF_MAX_COLS];
};

struct mconn {
	struct sqlr_link l;	/* first: the framing's */
	bool cont[2];		/* the next packet continues one of 16 MiB */
	bool streaming_cont[2]; /* the packet streamed is such a continuation */
	enum phase phase;
	uint32_t caps, ext_caps;
	uint16_t status;
	bool infile; /* the client sends a LOCAL INFILE's packets */
	struct exp ring[MYF_RING];
	uint32_t rhead, rtail;
	enum rstate rs;
	uint64_t left;	      /* R_COLS, R_PREP: packets still to come */
	uint32_t ncols;	      /* of the current result */
	int prep_slot;	      /* R_PREP: the slot being filled (-1 none) */
	uint32_t prep_params; /* R_PREP: parameter definitions (then columns) */
	uint32_t prep_seen;   /* R_PREP: definitions seen */
	bool binary;	      /* rows of the current result are binary */
	uint8_t types[MYF_MAX_COLS];
	uint16_t charsets[MYF_MAX_COLS];
	unsigned last_prep; /* flags of the last COM_STMT_PREPARE sent */
	struct stmt stmts[MYF_MAX_STMTS];
	unsigned stmt_rr;
};

static uint32_t le16(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8;
}

static uint32_t le24(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
}

static uint32_t le32(const uint8_t *b)
{
	return le24(b) | (uint32_t)b[3] << 24;
}

/* A length-encoded integer at p (end e): its value, *n its size; false if
 * it runs past e or is the NULL marker (0xfb, *null set). */
static bool lenenc(const uint8_t *p, const uint8_t *e, uint64_t *v, size_t *n, bool *null)
{
	size_t sz;

	if (null)
		*null = false;
	if (p >= e)
		return false;
	switch (*p) {
	case 0xfb:
		if (null)
			*null = true;
		*n = 1;
		*v = 0;
		return true;
	case 0xfc:
		sz = 3;
		break;
	case 0xfd:
		sz = 4;
		break;
	case 0xfe:
		sz = 9;
		break;
	case 0xff:
		return false;
	default:
		*v = *p;
		*n = 1;
		return true;
	}
	if ((size_t)(e - p) < sz)
		return false;
	*v = 0;
	for (size_t i = sz - 1; i >= 1; i--)
		*v = *v << 8 | p[i];
	*n = sz;
	return true;
}

static bool in_tx(const struct mconn *pc)
{
	return (pc->status & ST_IN_TRANS) || !(pc->status & ST_AUTOCOMMIT);
}

static struct stmt *stmt_find(struct mconn *pc, uint32_t id)
{
	for (size_t i = 0; i < MYF_MAX_STMTS; i++)
		if (pc->stmts[i].used && pc->stmts[i].id == id)
			return &pc->stmts[i];
	return NULL;
}

static bool ring_push(struct mconn *pc, const struct exp *e)
{
	if (pc->rtail - pc->rhead >= MYF_RING)
		return false;
	pc->ring[pc->rtail++ % MYF_RING] = *e;
	return true;
}

static struct exp *ring_head(struct mconn *pc)
{
	return pc->rtail != pc->rhead ? &pc->ring[pc->rhead % MYF_RING] : NULL;
}

/* The response ended (or the result did, with more to come). */
static void result_end(struct mconn *pc, uint16_t status, bool known)
{
	if (known)
		pc->status = status;
	if (known && (status & ST_MORE_RESULTS)) {
		pc->rs = R_FIRST;
		return;
	}
	pc->rhead++;
	pc->rs = R_FIRST;
}

/* Hand the rest of the connection to plain forwarding. */
static void give_up(struct proxy_conn *c, struct mconn *pc, const char *why)
{
	if (!pc->l.passthrough)
		proxy_event(c, "mysql: connection %llu passed through: %s",
			    (unsigned long long)proxy_conn_id(c), why);
	pc->l.passthrough = true;
}

/* An ERR packet with sequence id seq. */
static void send_err(struct proxy_conn *c, struct mconn *pc, uint8_t seq, unsigned code,
		     bool with_state)
{
	const char *state, *msg = myf_error_message(code, &state);
	char m[320], text[96];
	size_t n = 4;

	if (!msg) {
		snprintf(text, sizeof(text), "Error %u injected by duress", code);
		msg = text;
	}
	m[n++] = (char)0xff;
	m[n++] = (char)(code & 0xff);
	m[n++] = (char)(code >> 8);
	if (with_state && (pc->caps & CAP_PROTOCOL_41)) {
		m[n++] = '#';
		memcpy(m + n, state, 5);
		n += 5;
	}
	n += (size_t)snprintf(m + n, sizeof(m) - n, "%s", msg);
	if (n >= sizeof(m))
		n = sizeof(m) - 1;
	m[0] = (char)((n - 4) & 0xff);
	m[1] = (char)((n - 4) >> 8);
	m[2] = 0;
	m[3] = (char)seq;
	proxy_send(c, PROXY_DOWN, m, n, 0);
}

static unsigned kind_code(const struct sqlr_config *cfg, enum sqlr_kind k)
{
	if (k == SQLR_ADMIN_SHUTDOWN)
		return 1053;
	if (k == SQLR_FAIL_DDL)
		return cfg->ddl_code[0] ? (unsigned)atoi(cfg->ddl_code) : 1205;
	return (unsigned)atoi(cfg->code);
}

/* A COM_QUERY of sql, sequence id 0, to the server. */
static void send_query(struct proxy_conn *c, const char *sql)
{
	char m[64];
	size_t n = strlen(sql);

	m[0] = (char)(n + 1);
	m[1] = 0;
	m[2] = 0;
	m[3] = 0;
	m[4] = COM_QUERY;
	memcpy(m + 5, sql, n);
	proxy_send(c, PROXY_UP, m, n + 5, 0);
}

/* ---- client -> server ---- */

static bool on_login(struct proxy_conn *c, struct mconn *pc, const uint8_t *m, size_t n)
{
	uint32_t caps;

	if (n < 4 + 4) {
		give_up(c, pc, "a login packet of an old protocol");
		return true;
	}
	caps = le32(m + 4);
	if (!(caps & CAP_PROTOCOL_41)) {
		give_up(c, pc, "a client of the pre-4.1 protocol");
		return true;
	}
	if (caps & CAP_SSL) {
		give_up(c, pc, "the client asked for TLS");
		return true;
	}
	if (caps & (CAP_COMPRESS | CAP_ZSTD)) {
		give_up(c, pc, "the client asked for compression");
		return true;
	}
	pc->caps &= caps;
	if (!(pc->caps & CAP_MYSQL) && n >= 4 + 32)
		pc->ext_caps &= le32(m + 4 + 28);
	else
		pc->ext_caps = 0;
	pc->phase = PH_AUTH;
	return true;
}

static bool on_command(struct proxy_conn *c, struct mconn *pc, const uint8_t *m, size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	struct exp e = { .stmt = -1 };
	unsigned fl = 0;
	enum sqlr_kind k;
	struct stmt *s = NULL;
	char *sql;

	if (n < 5)
		return true;
	e.cmd = m[4];
	switch (m[4]) {
	case COM_STMT_CLOSE: /* its id may be given again */
		if (n >= 4 + 5 && (s = stmt_find(pc, le32(m + 5))))
			s->used = false;
		return true;
	case COM_QUIT:
	case COM_STMT_SEND_LONG_DATA:
		return true;
	case COM_STMT_RESET:
	case COM_PING:
	case COM_INIT_DB:
	case COM_SET_OPTION:
	case COM_RESET_CONNECTION:
	case COM_STATISTICS:
		if (!ring_push(pc, &e))
			give_up(c, pc, "too many commands in flight");
		return true;
	case COM_STMT_PREPARE:
		sql = strndup((const char *)m + 5, n - 5);
		if (sql) {
			e.flags = sqlr_classify(cfg, sql, n - 5);
			free(sql);
		}
		pc->last_prep = e.flags;
		if (!ring_push(pc, &e))
			give_up(c, pc, "too many commands in flight");
		return true;
	case COM_QUERY:
		sql = strndup((const char *)m + 5, n - 5);
		if (sql) {
			fl = sqlr_classify(cfg, sql, n - 5);
			free(sql);
		}
		break;
	case COM_STMT_EXECUTE:
		if (n < 4 + 10) {
			give_up(c, pc, "a short COM_STMT_EXECUTE");
			return true;
		}
		if (m[9] & 0x0f) { /* a cursor: COM_STMT_FETCH follows */
			give_up(c, pc, "a cursor (COM_STMT_FETCH is not followed)");
			return true;
		}
		if (le32(m + 5) == 0xffffffffu) { /* MariaDB: the last one prepared */
			fl = pc->last_prep;
		} else if ((s = stmt_find(pc, le32(m + 5)))) {
			fl = s->flags;
			e.stmt = (int8_t)(s - pc->stmts);
		}
		break;
	default:
		give_up(c, pc, "a command this filter does not follow");
		return true;
	}
	cfg->statements++;
	k = sqlr_decide(cfg, in_tx(pc), fl);
	if (k == SQLR_NKINDS || k == SQLR_DELAY) {
		e.pick = sqlr_pick_rows(cfg, in_tx(pc), fl);
		if (!ring_push(pc, &e)) {
			give_up(c, pc, "too many commands in flight");
			return true;
		}
		if (k == SQLR_NKINDS)
			return true;
		cfg->injected[k]++;
		proxy_send(c, PROXY_UP, m, n, proxy_conn_now(c) + cfg->delay_ns);
		return false;
	}
	cfg->injected[k]++;
	if (k == SQLR_DROP) {
		proxy_event(c, "mysql: connection %llu dropped mid-statement",
			    (unsigned long long)proxy_conn_id(c));
		pc->l.dead = true;
		proxy_close(c);
		return false;
	}
	e.cmd = COM_QUERY;
	e.replace = true;
	e.kind = k;
	if (!ring_push(pc, &e)) {
		give_up(c, pc, "too many commands in flight");
		return true;
	}
	/* a real deadlock rolls the transaction back; other errors only the
	 * statement: the server runs what leaves it in the same state */
	send_query(c, k == SQLR_ERROR && kind_code(cfg, k) == 1213 ? "ROLLBACK" : "DO 0");
	return false;
}

static bool handle_up(struct proxy_conn *c, struct mconn *pc, const uint8_t *m, size_t n)
{
	switch (pc->phase) {
	case PH_GREETING:
		give_up(c, pc, "the client spoke before the server's greeting");
		return true;
	case PH_LOGIN:
		return on_login(c, pc, m, n);
	case PH_AUTH:
		return true;
	case PH_COMMAND:
		if (pc->infile) {
			if (n == 4) /* the empty packet that ends the file */
				pc->infile = false;
			return true;
		}
		return on_command(c, pc, m, n);
	}
	return true;
}

/* ---- server -> client ---- */

static bool on_greeting(struct proxy_conn *c, struct mconn *pc, const uint8_t *m, size_t n)
{
	const uint8_t *p = m + 4, *e = m + n, *z;

	if (n < 5 || p[0] != 10) {
		give_up(c, pc,
			p < e && p[0] == 0xff ? "the server refused the connection"
					      : "not a v10 greeting");
		return true;
	}
	z = memchr(p + 1, 0, (size_t)(e - p - 1));
	if (!z || e - z < 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2) {
		give_up(c, pc, "a short greeting");
		return true;
	}
	p = z + 1 + 4 + 8 + 1;
	pc->caps = le16(p);
	pc->status = (uint16_t)le16(p + 3);
	pc->caps |= le16(p + 5) << 16;
	/* MariaDB: the extended capabilities in the last 4 reserved bytes */
	if (!(pc->caps & CAP_MYSQL) && e - p >= 2 + 1 + 2 + 2 + 1 + 6 + 4)
		pc->ext_caps = le32(p + 2 + 1 + 2 + 2 + 1 + 6);
	pc->phase = PH_LOGIN;
	return true;
}

static uint16_t ok_status(const uint8_t *m, size_t n, bool *known)
{
	const uint8_t *p = m + 5, *e = m + n;
	uint64_t v;
	size_t k;

	*known = false;
	if (!lenenc(p, e, &v, &k, NULL))
		return 0;
	p += k;
	if (!lenenc(p, e, &v, &k, NULL))
		return 0;
	p += k;
	if (e - p < 2)
		return 0;
	*known = true;
	return (uint16_t)le16(p);
}

static uint16_t eof_status(const uint8_t *m, size_t n, bool *known)
{
	*known = n >= 4 + 5;
	return *known ? (uint16_t)le16(m + 7) : 0;
}

static bool is_end(const struct mconn *pc, const uint8_t *m, size_t n)
{
	(void)pc;
	return n > 4 && m[4] == 0xfe && n - 4 < MY_MAX_PAYLOAD;
}

static uint16_t end_status(const struct mconn *pc, const uint8_t *m, size_t n, bool *known)
{
	if (pc->caps & CAP_DEPRECATE_EOF)
		return ok_status(m, n, known);
	return eof_status(m, n, known);
}

/* A column definition: its type and character set. */
static void column_def(struct mconn *pc, const uint8_t *m, size_t n, uint32_t i, uint8_t *types)
{
	const uint8_t *p = m + 4, *e = m + n;
	uint64_t v;
	size_t k;

	/* catalog, schema, table, org_table, name, org_name, MariaDB's extended
	 * metadata */
	for (int f = 0; f < ((pc->ext_caps & MARIADB_EXTENDED_METADATA) ? 7 : 6); f++) {
		if (!lenenc(p, e, &v, &k, NULL) || v > (uint64_t)(e - p - (ptrdiff_t)k))
			goto unknown;
		p += k + v;
	}
	if (!lenenc(p, e, &v, &k, NULL) || e - p < (ptrdiff_t)(k + 7))
		goto unknown;
	p += k;
	if (i < MYF_MAX_COLS) {
		types[i] = p[6];
		if (types == pc->types)
			pc->charsets[i] = (uint16_t)le16(p);
	}
	return;
unknown:
	if (i < MYF_MAX_COLS)
		types[i] = 0xff; /* geometry: never corrupted */
}

static enum sqlr_col text_col(uint8_t t)
{
	switch (t) {
	case T_DECIMAL:
	case T_TINY:
	case T_SHORT:
	case T_LONG:
	case T_FLOAT:
	case T_DOUBLE:
	case T_LONGLONG:
	case T_INT24:
	case T_YEAR:
	case T_NEWDECIMAL:
		return SQLR_COL_NUMBER;
	case T_VARCHAR:
	case T_VAR_STRING:
	case T_STRING:
		return SQLR_COL_TEXT;
	default:
		return SQLR_COL_NONE;
	}
}

struct cand {
	size_t off, len;
	uint8_t type;
};

static bool corrupt_text(struct sqlr_config *cfg, struct mconn *pc, uint8_t *m, size_t n)
{
	struct cand cand[MYF_MAX_COLS];
	const uint8_t *e = m + n;
	uint8_t *p = m + 4;
	size_t ncand = 0;

	for (uint32_t i = 0; i < pc->ncols && i < MYF_MAX_COLS; i++) {
		uint64_t v;
		size_t k;
		bool null;

		if (!lenenc(p, e, &v, &k, &null))
			return false;
		p += k;
		if (null)
			continue;
		if (v > (uint64_t)(e - p))
			return false;
		if (v && text_col(pc->types[i]) != SQLR_COL_NONE)
			cand[ncand++] = (struct cand){ (size_t)(p - m), (size_t)v, pc->types[i] };
		p += v;
	}
	while (ncand) {
		size_t pick = hrule_rng_next(&cfg->rng) % ncand;

		if (sqlr_corrupt_value(&cfg->rng, (char *)m + cand[pick].off, cand[pick].len,
				       text_col(cand[pick].type)))
			return true;
		cand[pick] = cand[--ncand];
	}
	return false;
}

/* Bytes of a binary value of type t at p (0: not one this filter knows). */
static size_t bin_len(uint8_t t, const uint8_t *p, const uint8_t *e, size_t *hdr)
{
	uint64_t v;
	size_t k;

	*hdr = 0;
	switch (t) {
	case T_TINY:
		return 1;
	case T_SHORT:
	case T_YEAR:
		return 2;
	case T_LONG:
	case T_INT24:
	case T_FLOAT:
		return 4;
	case T_LONGLONG:
	case T_DOUBLE:
		return 8;
	case T_DATE:
	case T_DATETIME:
	case T_TIMESTAMP:
	case T_TIME:
		if (p >= e)
			return 0;
		*hdr = 1;
		return 1 + (size_t)*p;
	case T_NULL:
		return 0;
	default:
		if (t == 0xff || !lenenc(p, e, &v, &k, NULL) || v > (uint64_t)(e - p))
			return 0;
		*hdr = k;
		return k + (size_t)v;
	}
}

static bool corrupt_binary(struct sqlr_config *cfg, struct mconn *pc, uint8_t *m, size_t n)
{
	struct cand cand[MYF_MAX_COLS];
	const uint8_t *e = m + n, *bitmap = m + 5;
	size_t ncand = 0, nb = (pc->ncols + 7 + 2) / 8;
	uint8_t *p = m + 5 + nb;

	if (n < 5 + nb || m[4] != 0x00)
		return false;
	for (uint32_t i = 0; i < pc->ncols && i < MYF_MAX_COLS; i++) {
		size_t hdr, l;
		uint8_t t = pc->types[i];

		if (bitmap[(i + 2) / 8] & (1u << ((i + 2) % 8)))
			continue; /* NULL */
		l = bin_len(t, p, e, &hdr);
		if (!l || l > (size_t)(e - p))
			break; /* the rest cannot be found */
		if (t == T_TINY || t == T_SHORT || t == T_YEAR || t == T_LONG || t == T_INT24 ||
		    t == T_LONGLONG || t == T_FLOAT || t == T_DOUBLE ||
		    (text_col(t) != SQLR_COL_NONE && l > hdr))
			cand[ncand++] = (struct cand){ (size_t)(p - m) + hdr, l - hdr, t };
		p += l;
	}
	while (ncand) {
		size_t pick = hrule_rng_next(&cfg->rng) % ncand;
		uint8_t *v = m + cand[pick].off;
		unsigned r = 1 + (unsigned)(hrule_rng_next(&cfg->rng) % 9);

		switch (cand[pick].type) {
		case T_FLOAT: /* the top bit of the mantissa: x1.5 or /1.5, about */
			v[2] ^= 0x40;
			return true;
		case T_DOUBLE:
			v[6] ^= 0x08;
			return true;
		case T_TINY:
		case T_SHORT:
		case T_YEAR:
		case T_LONG:
		case T_INT24:
		case T_LONGLONG:
			v[0] = (uint8_t)(v[0] + r); /* the low byte */
			return true;
		default:
			if (sqlr_corrupt_value(&cfg->rng, (char *)v, cand[pick].len,
					       text_col(cand[pick].type)))
				return true;
		}
		cand[pick] = cand[--ncand];
	}
	return false;
}

static bool on_row(struct proxy_conn *c, struct mconn *pc, const uint8_t *m, size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	struct exp *h = ring_head(pc);
	uint8_t *copy;
	bool done;

	if (!h || !h->pick)
		return true;
	cfg->rows++;
	if (!hrule_rng_pct(&cfg->rng, cfg->corrupt_pct))
		return true;
	copy = malloc(n);
	if (!copy)
		return true;
	memcpy(copy, m, n);
	done = pc->binary ? corrupt_binary(cfg, pc, copy, n) : corrupt_text(cfg, pc, copy, n);
	if (done) {
		cfg->rows_corrupted++;
		cfg->injected[SQLR_CORRUPT_ROWS]++;
		proxy_send(c, PROXY_DOWN, copy, n, 0);
	}
	free(copy);
	return !done;
}

/* The response to a replaced statement: swallowed, the fault's ERR sent. */
static bool on_replaced(struct proxy_conn *c, struct mconn *pc, struct exp *h, const uint8_t *m,
			size_t n)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	enum sqlr_kind k = h->kind;
	bool known = false;
	uint16_t st = 0;

	if (m[4] == 0x00)
		st = ok_status(m, n, &known);
	result_end(pc, st, known);
	pc->status &= (uint16_t)~ST_MORE_RESULTS;
	send_err(c, pc, m[3], kind_code(cfg, k), true);
	if (k == SQLR_ADMIN_SHUTDOWN) {
		pc->l.dead = true;
		proxy_close(c);
	}
	return false;
}

static bool on_response(struct proxy_conn *c, struct mconn *pc, const uint8_t *m, size_t n)
{
	struct exp *h = ring_head(pc);
	bool known;
	uint16_t st;
	uint64_t v;
	size_t k;

	if (!h) {
		if (n > 4 && m[4] == 0xff) /* an error the server sends unasked (shutdown, kill) */
			return true;
		give_up(c, pc, "a packet from the server nothing asked for");
		return true;
	}
	if (n >= 4 + 3 && m[4] == 0xff && le16(m + 5) == 0xffff)
		return true; /* MariaDB's progress report, not an error */
	if (h->replace)
		return on_replaced(c, pc, h, m, n);
	if (h->cmd != COM_QUERY && h->cmd != COM_STMT_EXECUTE && h->cmd != COM_STMT_PREPARE) {
		/* OK, ERR, EOF (COM_SET_OPTION), a string (COM_STATISTICS) */
		st = n > 4 && m[4] == 0x00   ? ok_status(m, n, &known)
		     : n > 4 && m[4] == 0xfe ? end_status(pc, m, n, &known)
					     : (known = false, 0);
		result_end(pc, st, known);
		return true;
	}
	switch (pc->rs) {
	case R_FIRST:
		if (n < 5)
			break;
		if (m[4] == 0xff) {
			result_end(pc, 0, false);
			return true;
		}
		if (h->cmd == COM_STMT_PREPARE) {
			struct stmt *s;

			if (m[4] != 0x00 || n < 4 + 12)
				break;
			s = stmt_find(pc, le32(m + 5));
			if (!s) {
				s = &pc->stmts[pc->stmt_rr];
				pc->stmt_rr = (pc->stmt_rr + 1) % MYF_MAX_STMTS;
			}
			*s = (struct stmt){ .id = le32(m + 5), .flags = h->flags, .used = true };
			s->ncols =
				(uint8_t)(le16(m + 9) < MYF_MAX_COLS ? le16(m + 9) : MYF_MAX_COLS);
			pc->prep_slot = (int)(s - pc->stmts);
			pc->prep_params = le16(m + 11);
			pc->prep_seen = 0;
			pc->left = pc->prep_params + le16(m + 9);
			if (!(pc->caps & CAP_DEPRECATE_EOF))
				pc->left += (pc->prep_params > 0) + (le16(m + 9) > 0);
			if (!pc->left)
				result_end(pc, 0, false);
			else
				pc->rs = R_PREP;
			return true;
		}
		if (m[4] == 0x00) {
			st = ok_status(m, n, &known);
			result_end(pc, st, known);
			return true;
		}
		if (m[4] == 0xfb && h->cmd == COM_QUERY) {
			pc->infile = true; /* then the server's OK or ERR */
			return true;
		}
		if (!lenenc(m + 4, m + n, &v, &k, NULL) || !v)
			break;
		pc->ncols = (uint32_t)(v < UINT32_MAX ? v : UINT32_MAX);
		pc->binary = h->cmd == COM_STMT_EXECUTE;
		memset(pc->types, 0xff, sizeof(pc->types));
		if ((pc->ext_caps & MARIADB_CACHE_METADATA) && n > 4 + k && m[4 + k] == 0) {
			/* the metadata is the prepared statement's, not sent again */
			if (h->stmt >= 0)
				memcpy(pc->types, pc->stmts[h->stmt].types, MYF_MAX_COLS);
			pc->rs = R_ROWS;
			return true;
		}
		pc->left = pc->ncols;
		pc->rs = R_COLS;
		return true;
	case R_COLS:
		column_def(pc, m, n, pc->ncols - (uint32_t)pc->left, pc->types);
		if (h->stmt >= 0 && pc->ncols - pc->left < MYF_MAX_COLS)
			pc->stmts[h->stmt].types[pc->ncols - pc->left] =
				pc->types[pc->ncols - pc->left];
		if (!--pc->left)
			pc->rs = pc->caps & CAP_DEPRECATE_EOF ? R_ROWS : R_COLS_EOF;
		return true;
	case R_COLS_EOF:
		st = eof_status(m, n, &known);
		if (known && (st & ST_CURSOR_EXISTS)) {
			result_end(pc, st, known);
			return true;
		}
		pc->rs = R_ROWS;
		return true;
	case R_ROWS:
		if (n > 4 && m[4] == 0xff) {
			result_end(pc, 0, false);
			return true;
		}
		if (is_end(pc, m, n)) {
			st = end_status(pc, m, n, &known);
			result_end(pc, st, known);
			return true;
		}
		return on_row(c, pc, m, n);
	case R_PREP: {
		/* parameters [EOF] columns [EOF]: the columns' types are kept */
		struct stmt *st_ = &pc->stmts[pc->prep_slot];
		uint32_t np = pc->prep_params, idx = pc->prep_seen++;
		uint32_t first = np + (np > 0 && !(pc->caps & CAP_DEPRECATE_EOF));

		if (idx >= first && idx - first < st_->ncols)
			column_def(pc, m, n, idx - first, st_->types);
		if (!--pc->left)
			result_end(pc, 0, false);
		return true;
	}
	}
	give_up(c, pc, "a response this filter cannot follow");
	return true;
}

static bool handle_down(struct proxy_conn *c, struct mconn *pc, const uint8_t *m, size_t n)
{
	switch (pc->phase) {
	case PH_GREETING:
		return on_greeting(c, pc, m, n);
	case PH_LOGIN:
		give_up(c, pc, "the server spoke before the client's login");
		return true;
	case PH_AUTH:
		if (n > 4 && m[4] == 0x00) {
			bool known;
			uint16_t st = ok_status(m, n, &known);

			if (known)
				pc->status = st;
			pc->phase = PH_COMMAND;
		}
		return true;
	case PH_COMMAND:
		return on_response(c, pc, m, n);
	}
	return true;
}

static bool handle(struct proxy_conn *c, struct mconn *pc, enum proxy_dir dir, const char *m,
		   size_t n)
{
	if (dir == PROXY_UP)
		return handle_up(c, pc, (const uint8_t *)m, n);
	return handle_down(c, pc, (const uint8_t *)m, n);
}

/* A packet too large to look into, its first byte type: what it is. */
static void on_big(struct proxy_conn *c, struct mconn *pc, enum proxy_dir dir, uint8_t type)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);

	if (pc->phase != PH_COMMAND) {
		give_up(c, pc, "a large packet in the handshake");
		return;
	}
	if (dir == PROXY_UP) {
		struct exp e = { .cmd = type, .stmt = -1 };

		if (pc->infile || type == COM_STMT_SEND_LONG_DATA)
			return;
		if (type != COM_QUERY && type != COM_STMT_EXECUTE) {
			give_up(c, pc, "a large command this filter does not follow");
			return;
		}
		cfg->statements++; /* not looked into: never picked */
		if (!ring_push(pc, &e))
			give_up(c, pc, "too many commands in flight");
		return;
	}
	if (pc->rs == R_ROWS && ring_head(pc) && !ring_head(pc)->replace) {
		if (ring_head(pc)->pick)
			cfg->rows++;
		return;
	}
	give_up(c, pc, "a large packet out of a result set");
}

static size_t my_hdr_size(struct proxy_conn *c, enum proxy_dir dir)
{
	(void)c;
	(void)dir;
	return 4;
}

static enum sqlr_what my_what(struct proxy_conn *c, enum proxy_dir dir, const uint8_t *h,
			      uint64_t *total)
{
	struct mconn *pc = proxy_conn_priv(c);
	bool cont = pc->cont[dir];

	*total = 4 + (uint64_t)le24(h);
	pc->cont[dir] = le24(h) == MY_MAX_PAYLOAD;
	pc->streaming_cont[dir] = cont;
	return cont || *total > MYF_MAX_MSG ? SQLR_W_STREAM : SQLR_W_INSPECT;
}

static bool my_handle(struct proxy_conn *c, enum proxy_dir dir, const char *m, size_t n)
{
	return handle(c, proxy_conn_priv(c), dir, m, n);
}

static void my_streamed(struct proxy_conn *c, enum proxy_dir dir, uint8_t first)
{
	struct mconn *pc = proxy_conn_priv(c);

	if (!pc->streaming_cont[dir])
		on_big(c, pc, dir, first);
}

static const struct sqlr_framing my_framing = {
	.hdr_size = my_hdr_size,
	.what = my_what,
	.handle = my_handle,
	.streamed = my_streamed,
};

static int p_open(struct proxy_conn *c)
{
	struct sqlr_config *cfg = proxy_conn_arg(c);
	struct mconn *pc = proxy_conn_priv(c);

	cfg->connections++;
	pc->status = ST_AUTOCOMMIT;
	pc->l.fr = &my_framing;
	pc->prep_slot = -1;
	if (cfg->too_many_pct > 0 && hrule_rng_pct(&cfg->rng, cfg->too_many_pct)) {
		cfg->injected[SQLR_TOO_MANY]++;
		/* what a full server sends instead of its greeting: no SQLSTATE
		 * (nothing is negotiated yet), sequence id 0 */
		send_err(c, pc, 0, 1040, false);
		pc->l.dead = true;
		proxy_close(c);
		return PROXY_OPEN_NO_UPSTREAM;
	}
	return PROXY_OPEN_CONNECT;
}

const struct proxy_filter myf_filter = {
	.name = "mysql",
	.conn_size = sizeof(struct mconn),
	.open = p_open,
	.data = sqlr_data,
	.close = sqlr_close,
	.stats = sqlr_stats,
};
