/* SPDX-License-Identifier: MIT */
/*
 * What the database protocol filters (proxy/pgf.c, proxy/myf.c) share: the
 * rule (which statements, which faults, each with its percentage), the
 * statement classifier (regex, DDL, transaction control), the draw that
 * picks a fault for a statement, the in-place corruption of a value, and
 * the counters.  The protocol is the filter's: it turns a kind into what
 * the client and the server see.
 *
 * The error codes are text: a SQLSTATE for PostgreSQL ("40P01"), an error
 * number for MySQL ("1213"); the filter reads them.
 */
#ifndef DURESS_SQLRULE_H
#define DURESS_SQLRULE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <duress/proxy/httprule.h>
#include <duress/proxy/proxy.h>

/* statement flags (sqlr_classify) */
#define SQLR_MATCH 0x01u    /* the regex matched (or there is none) */
#define SQLR_DDL 0x02u	    /* changes the schema (sqlr_is_ddl) */
#define SQLR_BEGIN 0x04u    /* BEGIN, START TRANSACTION */
#define SQLR_END 0x08u	    /* COMMIT, END */
#define SQLR_ROLLBACK 0x10u /* ROLLBACK, ABORT: never made to fail */
#define SQLR_KNOWN 0x80u    /* classified at all */

enum sqlr_kind {
	SQLR_ERROR,
	SQLR_ADMIN_SHUTDOWN,
	SQLR_DELAY,
	SQLR_DROP,
	SQLR_FAIL_DDL,
	SQLR_CORRUPT_ROWS,
	SQLR_TOO_MANY,
	SQLR_NKINDS, /* also: no fault */
};

/* What a value to corrupt is (the filter reads it from the column's type). */
enum sqlr_col { SQLR_COL_NONE, SQLR_COL_BOOL, SQLR_COL_NUMBER, SQLR_COL_TEXT };

struct sqlr_config {
	/* matchers */
	regex_t match; /* when has_match */
	bool has_match;
	bool in_transaction; /* only statements inside a transaction */
	/* faults (each with its own percentage) */
	double error_pct; /* 0: none */
	char code[8];	  /* of error: SQLSTATE or error number */
	double shutdown_pct;
	double delay_pct;
	uint64_t delay_ns;
	double drop_pct;
	bool fail_ddl;
	double ddl_pct;	     /* default 100 */
	uint64_t ddl_after;  /* DDL statements let through first */
	char ddl_code[8];    /* "": the filter's default */
	double corrupt_pct;  /* of the rows of picked statements */
	double too_many_pct; /* of the connections */
	uint64_t seed;
	/* state in the proxy process */
	struct hrule_rng rng;
	uint64_t ddl_seen;
	uint64_t connections, statements, matched, rows, rows_corrupted;
	uint64_t injected[SQLR_NKINDS];
};

const char *sqlr_kind_name(enum sqlr_kind k);
/* Seed the draws (cfg->seed, or a random one). */
void sqlr_init(struct sqlr_config *cfg);
void sqlr_free(struct sqlr_config *cfg);

/* The statement changes the schema (first keyword CREATE, ALTER, DROP,
 * TRUNCATE, RENAME, COMMENT, GRANT, REVOKE, REINDEX; after comments, spaces
 * and opening parentheses). */
bool sqlr_is_ddl(const char *sql, size_t len);
/* SQLR_* flags of a statement; sql[len] must be '\0' (the regex reads it). */
unsigned sqlr_classify(const struct sqlr_config *cfg, const char *sql, size_t len);
/* The fault for a statement with flags fl (in_tx: the connection is in a
 * transaction), or SQLR_NKINDS; counts it.  Corrupt-rows is not drawn here:
 * sqlr_pick_rows says whether the statement's rows are candidates. */
enum sqlr_kind sqlr_decide(struct sqlr_config *cfg, bool in_tx, unsigned fl);
bool sqlr_pick_rows(const struct sqlr_config *cfg, bool in_tx, unsigned fl);
/* Change one character of the value v[0..len) in place, same length, so it
 * still reads as the type t: a digit (never a leading zero made), a letter,
 * t/f.  False: nothing in it could be changed. */
bool sqlr_corrupt_value(struct hrule_rng *rng, char *v, size_t len, enum sqlr_col t);
/* The counters, with the injected ones under "injected": a filter's stats
 * hook (arg: the struct sqlr_config). */
void sqlr_stats(void *arg, json_t *out);

/*
 * Framing: the byte streams of a connection cut into the protocol's
 * packets (a header that gives the length, then the body), streamed.  A
 * packet the filter wants to look into is handed whole to its handle hook
 * (held only when it arrives split across reads); one it does not (too
 * large, of no interest) passes as it comes, or is dropped.  A filter's
 * per-connection state starts with a struct sqlr_link.
 */
enum sqlr_what {
	SQLR_W_INSPECT, /* whole to handle() */
	SQLR_W_STREAM,	/* forwarded as it comes (first body byte to streamed()) */
	SQLR_W_DROP,	/* nowhere */
	SQLR_W_FOREIGN, /* not the protocol: everything passes from here on */
};

struct sqlr_dir {
	uint8_t hdr[8];
	size_t hlen;
	uint64_t stream_left;
	bool stream_drop, need_first;
	char *msg; /* a packet collected whole */
	size_t mlen, mwant;
	bool collecting;
};

struct sqlr_framing;

struct sqlr_link {
	const struct sqlr_framing *fr; /* set by the filter's open hook */
	struct sqlr_dir d[2];
	bool dead;	  /* closed by the filter: nothing more is forwarded */
	bool passthrough; /* handed to the engine's plain forwarding */
};

struct sqlr_framing {
	/* the header's size on dir now (at most 8) */
	size_t (*hdr_size)(struct proxy_conn *c, enum proxy_dir dir);
	/* a whole header: the packet's total size (header included) and what
	 * to do with it */
	enum sqlr_what (*what)(struct proxy_conn *c, enum proxy_dir dir, const uint8_t *hdr,
			       uint64_t *total);
	/* a packet read whole: true to forward it as it is */
	bool (*handle)(struct proxy_conn *c, enum proxy_dir dir, const char *m, size_t n);
	/* the first body byte of a streamed packet (NULL: not wanted) */
	void (*streamed)(struct proxy_conn *c, enum proxy_dir dir, uint8_t first);
};

/* A filter's data hook: buf as it arrived on dir, framed as the link's
 * framing says.  The connection's private state starts with the struct
 * sqlr_link. */
void sqlr_data(struct proxy_conn *c, enum proxy_dir dir, const char *buf, size_t len);
/* A filter's close hook: frees what the link holds. */
void sqlr_close(struct proxy_conn *c);

#endif
