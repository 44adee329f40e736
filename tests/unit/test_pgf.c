// SPDX-License-Identifier: MIT
/*
 * The PostgreSQL filter in the proxy engine, on socketpairs of this process
 * (the test plays client and server with crafted protocol bytes): an
 * SSLRequest answered 'N', the startup passed byte for byte; simple queries
 * matched and replaced by a raise, others untouched, also when they arrive
 * a byte at a time; the extended protocol pipelined (Parse/Bind/Execute/
 * Sync) with the error raised at the Sync and the extra ReadyForQuery
 * swallowed; --in-transaction following ReadyForQuery's status; failing DDL
 * after N; corrupted DataRows of the same length; too many connections at
 * startup; large messages streamed; the pure helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <duress/core/regex.h>
#include <duress/proxy/pgf.h>

#include "sqlrig.h"

static void rig_up(struct rig *g)
{
	rig_up_with(g, &pgf_filter);
}

/* A typed message into out: its length. */
static size_t msg(char *out, char type, const void *body, size_t n)
{
	uint32_t l = (uint32_t)n + 4;

	out[0] = type;
	out[1] = (char)(l >> 24);
	out[2] = (char)(l >> 16);
	out[3] = (char)(l >> 8);
	out[4] = (char)l;
	memcpy(out + 5, body, n);
	return n + 5;
}

static size_t query(char *out, const char *sql)
{
	return msg(out, 'Q', sql, strlen(sql) + 1);
}

static size_t ready(char *out, char status)
{
	return msg(out, 'Z', &status, 1);
}

static const char startup[] = { 0, 0,	0,   23,  0,   3,   0,	 0,   'u', 's', 'e', 'r',
				0, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 0,	0 };

/* startup through: the server gets it byte for byte */
static void connect_up(struct rig *g)
{
	char buf[64];

	rig_put(g, g->client, startup, sizeof(startup));
	assert_int_equal(get(g, g->server, buf, sizeof(startup), 2000, NULL), sizeof(startup));
	assert_memory_equal(buf, startup, sizeof(startup));
}

static void test_ssl_and_startup(void **state)
{
	static struct rig g;
	static const char ssl[] = { 0, 0, 0, 8, 0x04, (char)0xd2, 0x16, 0x2f };
	char buf[64];

	(void)state;
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "40P01");
	rig_up(&g);
	rig_put(&g, g.client, ssl, sizeof(ssl));
	assert_int_equal(get(&g, g.client, buf, 1, 2000, NULL), 1);
	assert_int_equal(buf[0], 'N');
	assert_int_equal(get(&g, g.server, buf, 1, 100, NULL), 0);
	connect_up(&g);
	rig_down(&g);
}

/* A matching Query becomes a DO block raising the SQLSTATE; one that does
 * not match (fed a byte at a time) reaches the server unchanged. */
static void test_simple_query(void **state)
{
	static struct rig g;
	static char m[256], buf[1024];
	struct duress_err err = { 0 };
	size_t n, got;

	(void)state;
	assert_int_equal(regex_compile(&g.cfg.match, "^update",
				       REG_EXTENDED | REG_ICASE | REG_NOSUB, "--match", &err),
			 0);
	g.cfg.has_match = true;
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "40P01");
	rig_up(&g);
	connect_up(&g);
	n = query(m, "SELECT 1");
	for (size_t i = 0; i < n; i++)
		rig_put(&g, g.client, m + i, 1);
	assert_int_equal(get(&g, g.server, buf, n, 2000, NULL), n);
	assert_memory_equal(buf, m, n);
	n = query(m, "UPDATE t SET v = 1");
	rig_put(&g, g.client, m, n);
	got = get(&g, g.server, buf, sizeof(buf) - 1, 300, NULL);
	buf[got] = '\0';
	assert_true(got > 5 && buf[0] == 'Q');
	assert_non_null(strstr(buf + 5, "RAISE EXCEPTION"));
	assert_non_null(strstr(buf + 5, "'40P01'"));
	assert_non_null(strstr(buf + 5, "deadlock detected"));
	assert_null(strstr(buf + 5, "UPDATE t"));
	assert_int_equal(g.cfg.statements, 2);
	assert_int_equal(g.cfg.injected[SQLR_ERROR], 1);
	rig_down(&g);
}

/* Parse/Bind/Execute/Sync pipelined twice: the first exchange passes, the
 * second (matching) loses its Execute, the server gets Sync + the raise,
 * and the client sees one ReadyForQuery per Sync. */
static void test_extended(void **state)
{
	static struct rig g;
	static char out[1024], buf[8192], srv[256];
	static const char parse[] = "\0UPDATE t SET v = $1\0\0\0";
	static const char bind[] = "\0\0\0\0\0\0\0\0\0\0";
	static const char exec[] = "\0\0\0\0\0";
	struct duress_err err = { 0 };
	size_t n = 0, want = 0, got, rn = 0;

	(void)state;
	assert_int_equal(regex_compile(&g.cfg.match, "^update",
				       REG_EXTENDED | REG_ICASE | REG_NOSUB, "--match", &err),
			 0);
	g.cfg.has_match = true;
	g.cfg.error_pct = 50;
	strcpy(g.cfg.code, "40001");
	g.cfg.seed = 1;
	rig_up(&g);
	connect_up(&g);
	/* 50%: with seed 1, some of the 8 pass and some fail */
	for (int i = 0; i < 8; i++) {
		n += msg(out + n, 'P', parse, sizeof(parse) - 1);
		n += msg(out + n, 'B', bind, sizeof(bind) - 1);
		n += msg(out + n, 'E', exec, sizeof(exec) - 1);
		n += msg(out + n, 'S', "", 0);
	}
	rig_put(&g, g.client, out, n);
	got = get(&g, g.server, buf, sizeof(buf), 300, NULL);
	want = (size_t)(8 - g.cfg.injected[SQLR_ERROR]);
	assert_true(g.cfg.injected[SQLR_ERROR] > 0 && g.cfg.injected[SQLR_ERROR] < 8);
	assert_int_equal(g.cfg.statements, 8);
	/* every Sync reaches the server; Executes only of those that pass;
	 * one raise Query per failed one */
	{
		size_t syncs = 0, execs = 0, raises = 0;

		for (size_t o = 0; o + 5 <= got;) {
			uint32_t l = (uint32_t)(uint8_t)buf[o + 1] << 24 |
				     (uint32_t)(uint8_t)buf[o + 2] << 16 |
				     (uint32_t)(uint8_t)buf[o + 3] << 8 | (uint8_t)buf[o + 4];

			syncs += buf[o] == 'S';
			execs += buf[o] == 'E';
			raises += buf[o] == 'Q' && memmem(buf + o, l, "'40001'", 7);
			o += 1 + l;
		}
		assert_int_equal(syncs, 8);
		assert_int_equal(execs, want);
		assert_int_equal(raises, 8 - want);
	}
	/* the server answers each Sync, and each raise: the client gets 8 */
	for (size_t i = 0; i < 8 + (8 - want); i++)
		rn += ready(srv + rn, 'I');
	rig_put(&g, g.server, srv, rn);
	got = get(&g, g.client, buf, sizeof(buf), 300, NULL);
	assert_int_equal(got, 8 * 6);
	rig_down(&g);
}

/* --in-transaction: an UPDATE outside passes; after BEGIN's
 * ReadyForQuery 'T' the same UPDATE is raised instead. */
static void test_in_transaction(void **state)
{
	static struct rig g;
	static char m[256], buf[1024];
	size_t n, got;

	(void)state;
	g.cfg.in_transaction = true;
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "40P01");
	rig_up(&g);
	connect_up(&g);
	n = query(m, "UPDATE t SET v = 1");
	rig_put(&g, g.client, m, n);
	assert_int_equal(get(&g, g.server, buf, n, 2000, NULL), n);
	assert_memory_equal(buf, m, n);
	n = ready(m, 'I');
	rig_put(&g, g.server, m, n);
	get(&g, g.client, buf, n, 2000, NULL);
	n = query(m, "BEGIN");
	rig_put(&g, g.client, m, n);
	assert_int_equal(get(&g, g.server, buf, n, 2000, NULL), n);
	n = ready(m, 'T');
	rig_put(&g, g.server, m, n);
	get(&g, g.client, buf, n, 2000, NULL);
	n = query(m, "UPDATE t SET v = 1");
	rig_put(&g, g.client, m, n);
	got = get(&g, g.server, buf, sizeof(buf) - 1, 300, NULL);
	buf[got] = '\0';
	assert_non_null(strstr(buf + 5, "'40P01'"));
	assert_int_equal(g.cfg.injected[SQLR_ERROR], 1);
	rig_down(&g);
}

/* --fail-ddl --after 1: the first CREATE passes, the second is raised
 * (55P03), a SELECT is never touched. */
static void test_fail_ddl(void **state)
{
	static struct rig g;
	static char m[256], buf[1024];
	size_t n, got;

	(void)state;
	g.cfg.fail_ddl = true;
	g.cfg.ddl_pct = 100;
	g.cfg.ddl_after = 1;
	rig_up(&g);
	connect_up(&g);
	n = query(m, "  -- migration 1\nCREATE TABLE a (x int)");
	rig_put(&g, g.client, m, n);
	assert_int_equal(get(&g, g.server, buf, n, 2000, NULL), n);
	assert_memory_equal(buf, m, n);
	n = query(m, "SELECT 1");
	rig_put(&g, g.client, m, n);
	assert_int_equal(get(&g, g.server, buf, n, 2000, NULL), n);
	assert_memory_equal(buf, m, n);
	n = query(m, "alter table a add column y int");
	rig_put(&g, g.client, m, n);
	got = get(&g, g.server, buf, sizeof(buf) - 1, 300, NULL);
	buf[got] = '\0';
	assert_non_null(strstr(buf + 5, "'55P03'"));
	assert_int_equal(g.cfg.ddl_seen, 2);
	assert_int_equal(g.cfg.injected[SQLR_FAIL_DDL], 1);
	rig_down(&g);
}

/* --corrupt-rows 100: a DataRow (int4, text, bool, and a NULL) arrives
 * changed in one value, same length; RowDescription, CommandComplete and
 * ReadyForQuery unchanged. */
static void test_corrupt_rows(void **state)
{
	static struct rig g;
	static char m[256], in[512], buf[512];
	static const char rowdesc[] = "\0\3"
				      "id\0"
				      "\0\0\0\0"
				      "\0\0"
				      "\0\0\0\27"
				      "\0\4"
				      "\377\377\377\377"
				      "\0\0"
				      "s\0"
				      "\0\0\0\0"
				      "\0\0"
				      "\0\0\0\31"
				      "\377\377"
				      "\377\377\377\377"
				      "\0\0"
				      "b\0"
				      "\0\0\0\0"
				      "\0\0"
				      "\0\0\0\20"
				      "\0\1"
				      "\377\377\377\377"
				      "\0\0";
	static const char row[] = "\0\4\0\0\0\00242\0\0\0\5alpha\0\0\0\1t\377\377\377\377";
	size_t n, rn = 0, dpos;

	(void)state;
	g.cfg.corrupt_pct = 100;
	rig_up(&g);
	connect_up(&g);
	n = query(m, "SELECT id, s, b, NULL FROM t");
	rig_put(&g, g.client, m, n);
	get(&g, g.server, buf, n, 2000, NULL);
	rn += msg(in + rn, 'T', rowdesc, sizeof(rowdesc) - 1);
	dpos = rn;
	rn += msg(in + rn, 'D', row, sizeof(row) - 1);
	rn += msg(in + rn, 'C', "SELECT 1", 9);
	rn += ready(in + rn, 'I');
	/* in two pieces, the row split */
	rig_put(&g, g.server, in, dpos + 9);
	rig_put(&g, g.server, in + dpos + 9, rn - dpos - 9);
	assert_int_equal(get(&g, g.client, buf, rn, 2000, NULL), rn);
	assert_memory_equal(buf, in, dpos);
	assert_memory_equal(buf + dpos, in + dpos, 7);
	assert_memory_not_equal(buf + dpos, in + dpos, sizeof(row) - 1 + 5);
	assert_memory_equal(buf + dpos + 5 + sizeof(row) - 1, in + dpos + 5 + sizeof(row) - 1,
			    rn - dpos - 5 - (sizeof(row) - 1));
	/* the NULL stays NULL, lengths stay */
	assert_memory_equal(buf + dpos + 5 + sizeof(row) - 5, "\377\377\377\377", 4);
	assert_memory_equal(buf + dpos + 5 + 2, "\0\0\0\2", 4);
	assert_memory_equal(buf + dpos + 5 + 8, "\0\0\0\5", 4);
	assert_int_equal(g.cfg.rows_corrupted, 1);
	rig_down(&g);
}

/* Numbers stay numbers: 50 rows of int4 "42" all change, none to "02". */
static void test_corrupt_numbers(void **state)
{
	static struct rig g;
	static char m[256], in[2048], buf[2048];
	static const char rowdesc[] = "\0\1"
				      "n\0"
				      "\0\0\0\0"
				      "\0\0"
				      "\0\0\0\27"
				      "\0\4"
				      "\377\377\377\377"
				      "\0\0";
	static const char row[] = "\0\1\0\0\0\00242";
	size_t n, rn = 0, first;

	(void)state;
	g.cfg.corrupt_pct = 100;
	rig_up(&g);
	connect_up(&g);
	n = query(m, "SELECT n FROM t");
	rig_put(&g, g.client, m, n);
	get(&g, g.server, buf, n, 2000, NULL);
	rn += msg(in + rn, 'T', rowdesc, sizeof(rowdesc) - 1);
	first = rn;
	for (int i = 0; i < 50; i++)
		rn += msg(in + rn, 'D', row, sizeof(row) - 1);
	rig_put(&g, g.server, in, rn);
	assert_int_equal(get(&g, g.client, buf, rn, 2000, NULL), rn);
	for (int i = 0; i < 50; i++) {
		const char *v = buf + first + (size_t)i * (5 + sizeof(row) - 1) + 11;

		assert_memory_equal(v - 4, "\0\0\0\2", 4);
		assert_true(v[0] >= '1' && v[0] <= '9' && v[1] >= '0' && v[1] <= '9');
		assert_memory_not_equal(v, "42", 2);
	}
	assert_int_equal(g.cfg.rows_corrupted, 50);
	rig_down(&g);
}

/* --too-many-connections 100: FATAL 53300 to the client, then EOF; the
 * server never gets the startup. */
static void test_too_many(void **state)
{
	static struct rig g;
	static char buf[256];
	bool eof = false;
	size_t got;

	(void)state;
	g.cfg.too_many_pct = 100;
	rig_up(&g);
	rig_put(&g, g.client, startup, sizeof(startup));
	got = get(&g, g.client, buf, sizeof(buf) - 1, 2000, &eof);
	buf[got] = '\0';
	assert_true(got > 5 && buf[0] == 'E');
	assert_non_null(memmem(buf, got, "C53300", 7));
	assert_non_null(memmem(buf, got, "too many clients", 16));
	if (!eof)
		get(&g, g.client, buf, 1, 2000, &eof);
	assert_true(eof);
	assert_int_equal(get(&g, g.server, buf, 1, 100, NULL), 0);
	rig_down(&g);
}

/* A 3 MB Query (larger than PGF_MAX_MSG) streams through unchanged. */
static void test_large_streams(void **state)
{
	static struct rig g;
	size_t len = 3u << 20, n;
	char *m = malloc(len + 16);

	(void)state;
	assert_non_null(m);
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "40P01");
	rig_up(&g);
	connect_up(&g);
	memset(m + 5, 'x', len);
	memcpy(m + 5, "SELECT '", 8);
	memcpy(m + 5 + len - 2, "'", 2);
	m[5 + len - 1] = '\0';
	n = msg(m, 'Q', m + 5, len);
	rig_through(&g, g.client, g.server, m, n);
	assert_int_equal(g.cfg.injected[SQLR_ERROR], 0);
	free(m);
	rig_down(&g);
}

static void test_pure(void **state)
{
	(void)state;
	assert_true(pgf_sqlstate_valid("40P01"));
	assert_true(pgf_sqlstate_valid("23505"));
	assert_true(pgf_sqlstate_valid("XX000"));
	assert_false(pgf_sqlstate_valid("00000"));
	assert_false(pgf_sqlstate_valid("01000"));
	assert_false(pgf_sqlstate_valid("40p01"));
	assert_false(pgf_sqlstate_valid("4001"));
	assert_false(pgf_sqlstate_valid("ZZ999"));
	assert_true(sqlr_is_ddl("create table x()", 16));
	assert_true(sqlr_is_ddl("/* c */ -- x\n ALTER TABLE", 25));
	assert_false(sqlr_is_ddl("SELECT 'CREATE'", 15));
	assert_false(sqlr_is_ddl("", 0));
	assert_string_equal(pgf_sqlstate_message("40P01"), "deadlock detected");
	assert_null(pgf_sqlstate_message("22012"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ssl_and_startup), cmocka_unit_test(test_simple_query),
		cmocka_unit_test(test_extended),	cmocka_unit_test(test_in_transaction),
		cmocka_unit_test(test_fail_ddl),	cmocka_unit_test(test_corrupt_rows),
		cmocka_unit_test(test_corrupt_numbers), cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_large_streams),	cmocka_unit_test(test_pure),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("pgf", tests, NULL, NULL);
}
