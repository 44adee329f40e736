// SPDX-License-Identifier: MIT
/*
 * The MySQL filter in the proxy engine, on socketpairs of this process
 * (the test plays client and server with crafted protocol bytes): the
 * handshake passed byte for byte, TLS requests handed over; a matching
 * COM_QUERY replaced (DO 0, ROLLBACK for 1213) and the server's OK turned
 * into an ERR with the response's sequence id; unmatched ones untouched,
 * also a byte at a time; --in-transaction from the status flags; text
 * result sets with and without CLIENT_DEPRECATE_EOF and binary ones of a
 * prepared statement corrupted with the framing and NULLs kept; a 16 MiB
 * packet (0xffffff + continuation) streamed, the filter still in step;
 * 1040 at connect; the pure helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include <duress/core/regex.h>
#include <duress/proxy/myf.h>

#include "sqlrig.h"

#define CAPS_41 0x000fa20fu /* protocol 4.1, secure connection, plugin auth, ... */
#define CAP_DEPRECATE_EOF 0x01000000u

/* A packet: header (length, seq) and payload. */
static size_t pkt(char *out, uint8_t seq, const void *p, size_t n)
{
	out[0] = (char)(n & 0xff);
	out[1] = (char)((n >> 8) & 0xff);
	out[2] = (char)((n >> 16) & 0xff);
	out[3] = (char)seq;
	memcpy(out + 4, p, n);
	return n + 4;
}

static size_t command(char *out, uint8_t cmd, const char *text)
{
	char p[256];

	p[0] = (char)cmd;
	memcpy(p + 1, text, strlen(text));
	return pkt(out, 0, p, strlen(text) + 1);
}

/* OK: affected 0, insert id 0, status, warnings 0. */
static size_t ok(char *out, uint8_t seq, uint8_t head, uint16_t status)
{
	const char p[] = { (char)head, 0, 0, (char)(status & 0xff), (char)(status >> 8), 0, 0 };

	return pkt(out, seq, p, sizeof(p));
}

static size_t eof(char *out, uint8_t seq, uint16_t status)
{
	const char p[] = { (char)0xfe, 0, 0, (char)(status & 0xff), (char)(status >> 8) };

	return pkt(out, seq, p, sizeof(p));
}

/* A column definition of type t. */
static size_t coldef(char *out, uint8_t seq, const char *name, uint8_t t)
{
	char p[128];
	size_t n = 0, l = strlen(name);

	memcpy(p, "\3def\1t\1x\1x", 10);
	n = 10;
	p[n++] = (char)l;
	memcpy(p + n, name, l);
	n += l;
	p[n++] = (char)l;
	memcpy(p + n, name, l);
	n += l;
	p[n++] = 0x0c;
	p[n++] = 33; /* utf8 */
	p[n++] = 0;
	memcpy(p + n, "\x40\0\0\0", 4);
	n += 4;
	p[n++] = (char)t;
	memset(p + n, 0, 5);
	n += 5;
	return pkt(out, seq, p, n);
}

/* greeting, login, OK: all passed byte for byte */
static void connect_up(struct rig *g, uint32_t caps)
{
	char gr[128], lg[128], p[96];
	size_t n = 0;

	p[n++] = 10;
	memcpy(p + n, "10.11.0-MariaDB\0", 16);
	n += 16;
	memcpy(p + n, "\1\0\0\0abcdefgh\0", 13); /* thread id, scramble 1, filler */
	n += 13;
	p[n++] = (char)(caps & 0xff);
	p[n++] = (char)((caps >> 8) & 0xff);
	p[n++] = 33;
	p[n++] = 2; /* status: autocommit */
	p[n++] = 0;
	p[n++] = (char)((caps >> 16) & 0xff);
	p[n++] = (char)(caps >> 24);
	p[n++] = 21;
	memset(p + n, 0, 10);
	n += 10;
	memcpy(p + n, "ijklmnopqrst\0mysql_native_password\0", 35);
	n += 35;
	n = pkt(gr, 0, p, n);
	rig_through(g, g->server, g->client, gr, n);
	n = 0;
	memcpy(p, &caps, 4); /* little-endian host */
	memcpy(p + 4, "\0\0\0\1\x21", 5);
	memset(p + 9, 0, 23);
	memcpy(p + 32, "root\0\0", 6);
	n = pkt(lg, 1, p, 38);
	rig_through(g, g->client, g->server, lg, n);
	n = ok(gr, 2, 0, 2);
	rig_through(g, g->server, g->client, gr, n);
}

static void match(struct rig *g, const char *re)
{
	struct duress_err err = { 0 };

	assert_int_equal(regex_compile(&g->cfg.match, re, REG_EXTENDED | REG_ICASE | REG_NOSUB,
				       "--match", &err),
			 0);
	g->cfg.has_match = true;
}

/* The server answers what it got with OK (status st); the client must
 * get ERR code/state with sequence id 1. */
static void expect_err(struct rig *g, const char *sent, uint16_t st, unsigned code,
		       const char *state)
{
	char buf[512], m[64];
	size_t n, got;

	got = get(g, g->server, buf, sizeof(buf) - 1, 300, NULL);
	buf[got] = '\0';
	assert_true(got == 5 + strlen(sent));
	assert_int_equal(buf[3], 0);
	assert_int_equal(buf[4], 0x03);
	assert_memory_equal(buf + 5, sent, strlen(sent));
	n = ok(m, 1, 0, st);
	rig_put(g, g->server, m, n);
	got = get(g, g->client, buf, 4, 2000, NULL);
	assert_int_equal(got, 4);
	n = (size_t)(uint8_t)buf[0] | (size_t)(uint8_t)buf[1] << 8;
	assert_int_equal(buf[3], 1);
	assert_int_equal(get(g, g->client, buf + 4, n, 2000, NULL), n);
	assert_int_equal((uint8_t)buf[4], 0xff);
	assert_int_equal((unsigned)(uint8_t)buf[5] | (unsigned)(uint8_t)buf[6] << 8, code);
	assert_int_equal(buf[7], '#');
	assert_memory_equal(buf + 8, state, 5);
}

static void test_query_error(void **state)
{
	static struct rig g;
	static char m[256], buf[256];
	size_t n;

	(void)state;
	match(&g, "^update");
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "1213");
	rig_up_with(&g, &myf_filter);
	connect_up(&g, CAPS_41);
	n = command(m, 0x03, "SELECT 1");
	for (size_t i = 0; i < n; i++)
		rig_put(&g, g.client, m + i, 1);
	assert_int_equal(get(&g, g.server, buf, n, 2000, NULL), n);
	assert_memory_equal(buf, m, n);
	n = ok(m, 1, 0, 2);
	rig_through(&g, g.server, g.client, m, n);
	n = command(m, 0x03, "UPDATE t SET v = 1");
	rig_put(&g, g.client, m, n);
	expect_err(&g, "ROLLBACK", 2, 1213, "40001");
	assert_int_equal(g.cfg.statements, 2);
	assert_int_equal(g.cfg.injected[SQLR_ERROR], 1);
	rig_down(&g);
}

/* --in-transaction: the server's status flags say when. */
static void test_in_transaction(void **state)
{
	static struct rig g;
	static char m[256];
	size_t n;

	(void)state;
	g.cfg.in_transaction = true;
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "1317");
	rig_up_with(&g, &myf_filter);
	connect_up(&g, CAPS_41);
	n = command(m, 0x03, "UPDATE t SET v = 1"); /* autocommit: untouched */
	rig_through(&g, g.client, g.server, m, n);
	n = ok(m, 1, 0, 2);
	rig_through(&g, g.server, g.client, m, n);
	n = command(m, 0x03, "BEGIN"); /* still outside */
	rig_through(&g, g.client, g.server, m, n);
	n = ok(m, 1, 0, 3); /* in a transaction now */
	rig_through(&g, g.server, g.client, m, n);
	n = command(m, 0x03, "UPDATE t SET v = 1");
	rig_put(&g, g.client, m, n);
	expect_err(&g, "DO 0", 3, 1317, "70100");
	n = command(m, 0x03, "ROLLBACK"); /* never made to fail */
	rig_through(&g, g.client, g.server, m, n);
	n = ok(m, 1, 0, 2);
	rig_through(&g, g.server, g.client, m, n);
	n = command(m, 0x03, "SET autocommit = 0");
	rig_through(&g, g.client, g.server, m, n);
	n = ok(m, 1, 0, 0); /* autocommit off: every statement is in one */
	rig_through(&g, g.server, g.client, m, n);
	n = command(m, 0x03, "SELECT 1");
	rig_put(&g, g.client, m, n);
	expect_err(&g, "DO 0", 0, 1317, "70100");
	rig_down(&g);
}

/* A text result set (int, varchar; a NULL) corrupted: same framing. */
static void result_text(struct rig *g, bool deprecate_eof)
{
	static char m[4096], buf[4096];
	size_t n = 0, got, rows_at, end;

	n += pkt(m, 1, "\2", 1);
	n += coldef(m + n, 2, "id", 0x03);
	n += coldef(m + n, 3, "name", 0xfd);
	if (!deprecate_eof)
		n += eof(m + n, 4, 2);
	rows_at = n;
	n += pkt(m + n, 5, "\00242\011item-zz42", 13);
	n += pkt(m + n, 6, "\xfb\011item-yy17", 11);
	n += deprecate_eof ? ok(m + n, 7, 0xfe, 2) : eof(m + n, 7, 2);
	rig_put(g, g->server, m, n);
	got = get(g, g->client, buf, n, 2000, NULL);
	assert_int_equal(got, n);
	assert_memory_equal(buf, m, rows_at);
	assert_memory_not_equal(buf + rows_at, m + rows_at, 17);
	assert_memory_not_equal(buf + rows_at + 17, m + rows_at + 17, 15);
	assert_int_equal((uint8_t)buf[rows_at + 17 + 4], 0xfb); /* NULL stays */
	end = deprecate_eof ? 11 : 9;
	assert_memory_equal(buf + n - end, m + n - end, end);
}

static void test_corrupt_text(void **state)
{
	static struct rig g;
	static char m[256];
	size_t n;

	(void)state;
	for (int de = 0; de < 2; de++) {
		match(&g, "from items");
		g.cfg.corrupt_pct = 100;
		rig_up_with(&g, &myf_filter);
		connect_up(&g, CAPS_41 | (de ? CAP_DEPRECATE_EOF : 0));
		n = command(m, 0x03, "SELECT id, name FROM items");
		rig_through(&g, g.client, g.server, m, n);
		result_text(&g, de);
		assert_int_equal(g.cfg.rows_corrupted, 2);
		/* in step: the next one is not corrupted, an OK passes */
		n = command(m, 0x03, "SELECT 1");
		rig_through(&g, g.client, g.server, m, n);
		n = ok(m, 1, 0, 2);
		rig_through(&g, g.server, g.client, m, n);
		rig_down(&g);
	}
}

/* A prepared statement: its text kept under the id; binary rows. */
static void test_prepared(void **state)
{
	static struct rig g;
	static char m[4096], buf[4096];
	const char exec[] = { 0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0 };
	size_t n, got, rows_at;

	(void)state;
	match(&g, "from items");
	g.cfg.corrupt_pct = 100;
	rig_up_with(&g, &myf_filter);
	connect_up(&g, CAPS_41);
	n = command(m, 0x16, "SELECT id, name FROM items");
	rig_through(&g, g.client, g.server, m, n);
	n = pkt(m, 1, "\0\7\0\0\0\2\0\0\0\0\0\0", 12);
	n += coldef(m + n, 2, "id", 0x03);
	n += coldef(m + n, 3, "name", 0xfd);
	n += eof(m + n, 4, 2);
	rig_through(&g, g.server, g.client, m, n);
	n = pkt(m, 0, exec, sizeof(exec));
	rig_through(&g, g.client, g.server, m, n);
	n = pkt(m, 1, "\2", 1);
	n += coldef(m + n, 2, "id", 0x03);
	n += coldef(m + n, 3, "name", 0xfd);
	n += eof(m + n, 4, 2);
	rows_at = n;
	/* header, NULL bitmap (1 byte for 2 columns), int 42, "item-zz" */
	n += pkt(m + n, 5, "\0\0\x2a\0\0\0\7item-zz", 14);
	/* id NULL (bit 2), name */
	n += pkt(m + n, 6, "\0\4\7item-yy", 10);
	n += eof(m + n, 7, 2);
	rig_put(&g, g.server, m, n);
	got = get(&g, g.client, buf, n, 2000, NULL);
	assert_int_equal(got, n);
	assert_memory_equal(buf, m, rows_at);
	assert_memory_not_equal(buf + rows_at, m + rows_at, 18);
	assert_memory_equal(buf + rows_at + 18, m + rows_at + 18, 6); /* header, NULL bitmap */
	assert_memory_not_equal(buf + rows_at + 24, m + rows_at + 24, 8);
	assert_int_equal(g.cfg.rows_corrupted, 2);
	rig_down(&g);
	/* the same statement executed under --error: ERR, seq 1 */
	memset(&g, 0, sizeof(g));
	match(&g, "from items");
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "1062");
	rig_up_with(&g, &myf_filter);
	connect_up(&g, CAPS_41);
	n = command(m, 0x16, "SELECT id, name FROM items");
	rig_through(&g, g.client, g.server, m, n);
	n = pkt(m, 1, "\0\7\0\0\0\0\0\0\0\0\0\0", 12);
	rig_through(&g, g.server, g.client, m, n);
	n = pkt(m, 0, exec, sizeof(exec));
	rig_put(&g, g.client, m, n);
	expect_err(&g, "DO 0", 2, 1062, "23000");
	rig_down(&g);
}

/* COM_STMT_CLOSE forgets the id: the server may give it to the next
 * statement, whose text is then the one matched. */
static void test_stmt_id_reused(void **state)
{
	static struct rig g;
	static char m[256];
	const char exec[] = { 0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0 };
	const char close7[] = { 0x19, 7, 0, 0, 0 };
	size_t n;

	(void)state;
	match(&g, "from items");
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "1062");
	rig_up_with(&g, &myf_filter);
	connect_up(&g, CAPS_41);
	n = command(m, 0x16, "SELECT id FROM items");
	rig_through(&g, g.client, g.server, m, n);
	n = pkt(m, 1, "\0\7\0\0\0\0\0\0\0\0\0\0", 12);
	rig_through(&g, g.server, g.client, m, n);
	n = pkt(m, 0, close7, sizeof(close7));
	rig_through(&g, g.client, g.server, m, n);
	n = command(m, 0x16, "SELECT 1");
	rig_through(&g, g.client, g.server, m, n);
	n = pkt(m, 1, "\0\7\0\0\0\0\0\0\0\0\0\0", 12);
	rig_through(&g, g.server, g.client, m, n);
	n = pkt(m, 0, exec, sizeof(exec));
	rig_through(&g, g.client, g.server, m, n);
	assert_int_equal(g.cfg.injected[SQLR_ERROR], 0);
	rig_down(&g);
}

/* A 16 MiB + 10 COM_QUERY (0xffffff, then a continuation) streams through;
 * the filter stays in step. */
static void test_large_packets(void **state)
{
	static struct rig g;
	size_t len = 0xffffff + 11, n = len + 8;
	char *m = malloc(n), hdr[64];

	(void)state;
	assert_non_null(m);
	match(&g, "^update");
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "1213");
	rig_up_with(&g, &myf_filter);
	connect_up(&g, CAPS_41);
	memset(m, 'x', n);
	m[0] = m[1] = m[2] = (char)0xff;
	m[3] = 0;
	memcpy(m + 4, "\3UPDATE ", 8); /* not looked into: too large */
	m[4 + 0xffffff] = 11;
	m[4 + 0xffffff + 1] = 0;
	m[4 + 0xffffff + 2] = 0;
	m[4 + 0xffffff + 3] = 1;
	n = 4 + 0xffffff + 4 + 11;
	rig_through(&g, g.client, g.server, m, n);
	assert_int_equal(g.cfg.injected[SQLR_ERROR], 0);
	n = ok(hdr, 2, 0, 2);
	rig_through(&g, g.server, g.client, hdr, n);
	n = command(hdr, 0x03, "UPDATE t SET v = 1");
	rig_put(&g, g.client, hdr, n);
	expect_err(&g, "ROLLBACK", 2, 1213, "40001");
	free(m);
	rig_down(&g);
}

static void test_too_many(void **state)
{
	static struct rig g;
	static char buf[256];
	bool end = false;
	size_t got;

	(void)state;
	g.cfg.too_many_pct = 100;
	rig_up_with(&g, &myf_filter);
	got = get(&g, g.client, buf, sizeof(buf), 2000, &end);
	assert_true(got > 7);
	assert_int_equal(buf[3], 0); /* sequence id 0: instead of the greeting */
	assert_int_equal((uint8_t)buf[4], 0xff);
	assert_int_equal((uint8_t)buf[5] | (uint8_t)buf[6] << 8, 1040);
	assert_memory_equal(buf + 7, "Too many connections", 20); /* no SQLSTATE yet */
	if (!end)
		get(&g, g.client, buf, 1, 2000, &end);
	assert_true(end);
	assert_int_equal(g.cfg.injected[SQLR_TOO_MANY], 1);
	rig_down(&g);
}

/* A client asking for TLS: everything passes byte for byte. */
static void test_tls_passthrough(void **state)
{
	static struct rig g;
	static char m[256];
	uint32_t caps = CAPS_41 | 0x800;
	size_t n;

	(void)state;
	g.cfg.error_pct = 100;
	strcpy(g.cfg.code, "1213");
	rig_up_with(&g, &myf_filter);
	n = pkt(m, 0,
		"\12"
		"5.7\0\1\0\0\0abcdefgh\0\xff\xff\x21\2\0\xff\xff\0",
		26);
	rig_through(&g, g.server, g.client, m, n);
	memcpy(m + 4, &caps, 4);
	memset(m + 8, 0, 28);
	n = pkt(m, 1, m + 4, 32);
	rig_through(&g, g.client, g.server, m, n);
	n = command(m, 0x03, "UPDATE t SET v = 1"); /* would be TLS records: untouched */
	rig_through(&g, g.client, g.server, m, n);
	assert_int_equal(g.cfg.injected[SQLR_ERROR], 0);
	rig_down(&g);
}

/* Random packets both ways after the login (valid framing, any content):
 * the filter never reads out of bounds (valgrind, ASan) and never stalls a
 * direction for good. */
static void test_random_packets(void **state)
{
	static struct rig g;
	static char m[600], buf[1 << 16];
	unsigned seed = 7;

	(void)state;
	for (int round = 0; round < 6; round++) {
		match(&g, "a");
		g.cfg.corrupt_pct = 100;
		g.cfg.error_pct = 30;
		strcpy(g.cfg.code, "1213");
		g.cfg.in_transaction = round % 2;
		rig_up_with(&g, &myf_filter);
		connect_up(&g, CAPS_41 | (round % 3 ? CAP_DEPRECATE_EOF : 0));
		for (int i = 0; i < 120; i++) {
			size_t n = (size_t)(rand_r(&seed) % 120);
			char p[512];

			for (size_t k = 0; k < n; k++)
				p[k] = (char)(rand_r(&seed) & 0xff);
			if (n && i % 5 == 0)
				p[0] = (char)(rand_r(&seed) % 2 ? 0x03 : 0x17);
			n = pkt(m, (uint8_t)(rand_r(&seed) & 0xff), p, n);
			rig_put(&g, i % 2 ? g.server : g.client, m, n);
			get(&g, g.client, buf, sizeof(buf), 1, NULL);
			get(&g, g.server, buf, sizeof(buf), 1, NULL);
		}
		rig_down(&g);
	}
}

static void test_pure(void **state)
{
	const char *st;

	(void)state;
	assert_true(myf_error_valid("1213"));
	assert_true(myf_error_valid("1062"));
	assert_true(myf_error_valid("3572"));
	assert_false(myf_error_valid("2013"));
	assert_false(myf_error_valid("999"));
	assert_false(myf_error_valid("40P01"));
	assert_false(myf_error_valid("12130"));
	assert_false(myf_error_valid(""));
	assert_string_equal(myf_error_message(1213, &st),
			    "Deadlock found when trying to get lock; try restarting transaction");
	assert_string_equal(st, "40001");
	assert_null(myf_error_message(1999, &st));
	assert_string_equal(st, "HY000");
	/* the shared classifier, with MySQL's own comment and DDL */
	assert_true(sqlr_is_ddl("# note\n RENAME TABLE a TO b", 29));
	assert_true(sqlr_is_ddl("/*!40101 x */ ALTER TABLE t", 27));
	assert_false(sqlr_is_ddl("SELECT 'DROP'", 13));
	{
		struct sqlr_config cfg = { 0 };

		assert_true(sqlr_classify(&cfg, "START TRANSACTION", 17) & SQLR_BEGIN);
		assert_true(sqlr_classify(&cfg, "rollback", 8) & SQLR_ROLLBACK);
		assert_true(sqlr_classify(&cfg, " commit", 7) & SQLR_END);
		assert_true(sqlr_classify(&cfg, "x", 1) & SQLR_MATCH);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_error),	cmocka_unit_test(test_in_transaction),
		cmocka_unit_test(test_corrupt_text),	cmocka_unit_test(test_prepared),
		cmocka_unit_test(test_large_packets),	cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_tls_passthrough), cmocka_unit_test(test_random_packets),
		cmocka_unit_test(test_stmt_id_reused),	cmocka_unit_test(test_pure),
	};

	return cmocka_run_group_tests_name("myf", tests, NULL, NULL);
}
