// SPDX-License-Identifier: MIT
/*
 * The HTTP filter in the proxy engine, on socketpairs of this process (the
 * test plays client and server, byte for byte): pipelined requests keep
 * their order when one is answered by the proxy, request bodies of
 * answered requests go nowhere, HEAD and 1xx and chunked framing, corrupt
 * bodies re-chunked validly, malformed JSON framed as whole, Upgrade and
 * bytes that are not HTTP passed untouched, Connection: close honoured.
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

#include <duress/proxy/httpf.h>

#define RIG_CONFIG               \
	struct httpf_config cfg; \
	struct hrule rules[4];
#include "proxyrig.h"

static void rig_up(struct rig *g, size_t nrules)
{
	g->cfg.rules = g->rules;
	g->cfg.nrules = nrules;
	g->cfg.seed = 7;
	httpf_init(&g->cfg);
	rig_open(g, &httpf_filter, &g->cfg);
}

static void rig_down(struct rig *g)
{
	rig_close(g);
	for (size_t i = 0; i < 4; i++)
		memset(&g->rules[i], 0, sizeof(g->rules[i]));
}

/* The C string s sent on fd. */
static void put(struct rig *g, int fd, const char *s)
{
	rig_put(g, fd, s, strlen(s));
}

/* Read from fd (turning the loop) until `want` bytes, or `until` appears,
 * or EOF, or timeout; NUL-terminated in buf; returns the length, -2 reset. */
static ssize_t get(struct rig *g, int fd, char *buf, size_t cap, size_t want, const char *until,
		   int timeout_ms, bool *eof)
{
	enum rig_end end;
	size_t len = rig_read(g, fd, buf, cap - 1, want, until, timeout_ms, &end);

	buf[len] = '\0';
	if (eof)
		*eof = end == RIG_EOF;
	return end == RIG_RESET ? -2 : (ssize_t)len;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Three pipelined requests, the middle one answered by the proxy: the
 * server sees two, the client gets three answers in order; the answered
 * one's body never reaches the server. */
static void test_pipeline_abort(void **state)
{
	static struct rig g;
	static char buf[8192];

	(void)state;
	g.rules[0].paths[g.rules[0].npaths++] = (char *)"/fail";
	g.rules[0].percent = 100;
	g.rules[0].abort_status = 503;
	rig_up(&g, 1);
	put(&g, g.client,
	    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /fail HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nSECRET"
	    "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_true(get(&g, g.server, buf, sizeof(buf), 0, "GET /c", 2000, NULL) > 0);
	assert_non_null(strstr(buf, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\n"));
	assert_null(strstr(buf, "/fail"));
	assert_null(strstr(buf, "SECRET"));
	/* nothing for the client until the first answer: order */
	assert_int_equal(get(&g, g.client, buf, sizeof(buf), 1, NULL, 100, NULL), 0);
	put(&g, g.server, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA");
	put(&g, g.server, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nC");
	get(&g, g.client, buf, sizeof(buf), 0, "\r\n\r\nC", 2000, NULL);
	{
		char *a = strstr(buf, "\r\n\r\nA"), *f = strstr(buf, "503 Service Unavailable"),
		     *c = strstr(buf, "\r\n\r\nC");

		assert_non_null(a);
		assert_non_null(f);
		assert_non_null(c);
		assert_true(a < f && f < c);
	}
	assert_int_equal(g.cfg.requests, 3);
	assert_int_equal(g.cfg.answered, 1);
	assert_int_equal(g.cfg.injected[HR_ABORT], 1);
	rig_down(&g);
}

/* HEAD (its response has a length and no body), then a chunked GET, an
 * Expect: 100-continue POST with its interim answer: all passed as is. */
static void test_framing_passes(void **state)
{
	static struct rig g;
	static char buf[8192];
	const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";

	(void)state;
	g.rules[0].paths[g.rules[0].npaths++] = (char *)"/never";
	g.rules[0].percent = 100;
	g.rules[0].abort_status = 500;
	rig_up(&g, 1);
	put(&g, g.client, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
	get(&g, g.server, buf, sizeof(buf), 0, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n", 2000, NULL);
	put(&g, g.server, head);
	put(&g, g.server, chunked);
	get(&g, g.client, buf, sizeof(buf), strlen(head) + strlen(chunked), NULL, 2000, NULL);
	assert_int_equal(strlen(buf), strlen(head) + strlen(chunked));
	assert_memory_equal(buf, head, strlen(head));
	assert_string_equal(buf + strlen(head), chunked);
	/* Expect: 100-continue */
	put(&g, g.client,
	    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
	get(&g, g.server, buf, sizeof(buf), 0, "100-continue\r\n\r\n", 2000, NULL);
	put(&g, g.server, "HTTP/1.1 100 Continue\r\n\r\n");
	get(&g, g.client, buf, sizeof(buf), 0, "100 Continue\r\n\r\n", 2000, NULL);
	assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	put(&g, g.client, "abc");
	get(&g, g.server, buf, sizeof(buf), 3, NULL, 2000, NULL);
	assert_string_equal(buf, "abc");
	put(&g, g.server, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
	get(&g, g.client, buf, sizeof(buf), 0, "\r\n\r\nok", 2000, NULL);
	assert_string_equal(buf, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
	assert_int_equal(g.cfg.requests, 3);
	assert_int_equal(g.cfg.responses, 3);
	assert_int_equal(g.cfg.matched, 0);
	rig_down(&g);
}

/* A chunked body corrupted: still valid chunked framing, the same decoded
 * length, different bytes. */
static void test_corrupt_chunked(void **state)
{
	static struct rig g;
	static char buf[65536], body[4096];
	static char resp[16384];
	size_t n = 0, dec = 0;
	const char *p;

	(void)state;
	g.rules[0].percent = 100;
	g.rules[0].corrupt = true;
	rig_up(&g, 1);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)('a' + i % 26);
	n = (size_t)snprintf(resp, sizeof(resp),
			     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (size_t off = 0; off < sizeof(body); off += 1024)
		n += (size_t)snprintf(resp + n, sizeof(resp) - n, "400\r\n%.1024s\r\n", body + off);
	n += (size_t)snprintf(resp + n, sizeof(resp) - n, "0\r\n\r\n");
	put(&g, g.client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	get(&g, g.server, buf, sizeof(buf), 0, "\r\n\r\n", 2000, NULL);
	put(&g, g.server, resp);
	get(&g, g.client, buf, sizeof(buf), 0, "\r\n0\r\n\r\n", 2000, NULL);
	p = strstr(buf, "\r\n\r\n");
	assert_non_null(p);
	p += 4;
	/* decode it */
	{
		static char got[8192];
		size_t diff = 0;

		for (;;) {
			char *end;
			unsigned long sz = strtoul(p, &end, 16);

			assert_true(end[0] == '\r' && end[1] == '\n');
			p = end + 2;
			if (!sz)
				break;
			memcpy(got + dec, p, sz);
			dec += sz;
			p += sz;
			assert_true(p[0] == '\r' && p[1] == '\n');
			p += 2;
		}
		assert_int_equal(dec, sizeof(body));
		for (size_t i = 0; i < dec; i++)
			diff += got[i] != body[i];
		/* about 1% of 4096, at least one */
		assert_in_range(diff, 1, 200);
	}
	assert_int_equal(g.cfg.injected[HR_CORRUPT], 1);
	rig_down(&g);
}

/* Malformed JSON of a Content-Length body: half of it, announced as the
 * whole; the connection stays usable (keep-alive) for the next one. */
static void test_malformed_keepalive(void **state)
{
	static struct rig g;
	static char buf[8192];

	(void)state;
	g.rules[0].paths[g.rules[0].npaths++] = (char *)"/json";
	g.rules[0].percent = 100;
	g.rules[0].malformed_json = true;
	rig_up(&g, 1);
	put(&g, g.client,
	    "GET /json HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
	get(&g, g.server, buf, sizeof(buf), 0, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", 2000, NULL);
	put(&g, g.server,
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"
	    "{\"a\":[1,2]}\n");
	put(&g, g.server, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext");
	get(&g, g.client, buf, sizeof(buf), 0, "\r\n\r\nnext", 2000, NULL);
	assert_non_null(strstr(buf, "Content-Length: 6\r\n"));
	assert_null(strstr(buf, "Content-Length: 12"));
	assert_non_null(strstr(buf, "\r\n\r\n{\"a\":[HTTP/1.1 200 OK\r\n"));
	assert_int_equal(g.cfg.injected[HR_MALFORMED_JSON], 1);
	rig_down(&g);
}

/* Upgrade: the handshake and every byte after it pass untouched, faults
 * or not. */
static void test_upgrade(void **state)
{
	static struct rig g;
	static char buf[8192];

	(void)state;
	g.rules[0].percent = 100;
	g.rules[0].abort_status = 503;
	rig_up(&g, 1);
	put(&g, g.client,
	    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	    "\x81\x05hello");
	get(&g, g.server, buf, sizeof(buf), 0, "hello", 2000, NULL);
	assert_non_null(
		strstr(buf, "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"));
	put(&g, g.server,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n\x81\x02hi");
	get(&g, g.client, buf, sizeof(buf), 0, "hi", 2000, NULL);
	assert_non_null(strstr(buf, "101 Switching Protocols"));
	put(&g, g.client, "GET /not-http-any-more HTTP/1.1\r\n\r\n");
	get(&g, g.server, buf, sizeof(buf), 0, "any-more HTTP/1.1\r\n\r\n", 2000, NULL);
	assert_string_equal(buf, "GET /not-http-any-more HTTP/1.1\r\n\r\n");
	assert_int_equal(g.cfg.upgrades, 1);
	assert_int_equal(g.cfg.answered, 0);
	rig_down(&g);
}

/* Bytes that are not HTTP: counted, passed both ways. */
static void test_not_http(void **state)
{
	static struct rig g;
	static char buf[8192];

	(void)state;
	g.rules[0].percent = 100;
	g.rules[0].abort_status = 503;
	rig_up(&g, 1);
	/* a TLS ClientHello's first bytes (no NUL: put() sends a C string) */
	put(&g, g.client, "\x16\x03\x01\x02\x01\x01\xfc\x03\x03 binary");
	get(&g, g.server, buf, sizeof(buf), 0, "binary", 2000, NULL);
	assert_string_equal(buf, "\x16\x03\x01\x02\x01\x01\xfc\x03\x03 binary");
	put(&g, g.server, "answer");
	get(&g, g.client, buf, sizeof(buf), 6, NULL, 2000, NULL);
	assert_string_equal(buf, "answer");
	assert_int_equal(g.cfg.parse_errors, 1);
	rig_down(&g);
}

/* Connection: close on an answered request: the answer says so, and the
 * connection ends after it. */
static void test_abort_close(void **state)
{
	static struct rig g;
	static char buf[8192];
	bool eof;

	(void)state;
	g.rules[0].percent = 100;
	g.rules[0].abort_status = 429;
	rig_up(&g, 1);
	put(&g, g.client, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	get(&g, g.client, buf, sizeof(buf), 0, NULL, 2000, &eof);
	assert_true(eof);
	assert_non_null(strstr(buf, "HTTP/1.1 429 Too Many Requests\r\n"));
	assert_non_null(strstr(buf, "Retry-After: 1\r\n"));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_int_equal(count(buf, "HTTP/1.1"), 1);
	rig_down(&g);
}

/* Reset halfway through the body: the client has the head and half the
 * body, then a reset. */
static void test_reset(void **state)
{
	static struct rig g;
	static char buf[8192];
	ssize_t n;

	(void)state;
	g.rules[0].percent = 100;
	g.rules[0].reset = true;
	rig_up(&g, 1);
	put(&g, g.client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	get(&g, g.server, buf, sizeof(buf), 0, "\r\n\r\n", 2000, NULL);
	put(&g, g.server, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
	n = get(&g, g.client, buf, sizeof(buf), 0, NULL, 2000, NULL);
	/* a socketpair has no RST: EOF after exactly the half */
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\r\n\r\n01234"));
	assert_null(strstr(buf, "56789"));
	assert_int_equal(g.cfg.injected[HR_RESET], 1);
	rig_down(&g);
}

/* Large Content-Length bodies the filter has nothing to do with go past
 * it (forwarded, spliced): both ways, then the next message is parsed and
 * faulted as usual. */
static void test_forward_bodies(void **state)
{
	static struct rig g;
	static char buf[1 << 20], body[300000];
	static char msg[400000];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)('A' + i % 23);
	g.rules[0].paths[g.rules[0].npaths++] = (char *)"/fail";
	g.rules[0].percent = 100;
	g.rules[0].abort_status = 503;
	rig_up(&g, 1);
	/* an upload of 300000 bytes, then a request that is answered */
	n = (size_t)snprintf(msg, sizeof(msg),
			     "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
			     sizeof(body));
	memcpy(msg + n, body, sizeof(body));
	n += sizeof(body);
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
	msg[n] = '\0';
	{
		/* sent while what the server end gets is read */
		size_t got = rig_pump(&g, g.client, msg, n, g.server, buf, sizeof(buf) - 1,
				      sizeof(body) + 50, NULL, 60000);

		buf[got] = '\0';
		assert_non_null(strstr(buf, "\r\n\r\n"));
		assert_memory_equal(strstr(buf, "\r\n\r\n") + 4, body, sizeof(body));
		/* the answered request did not reach the server */
		assert_null(strstr(strstr(buf, "\r\n\r\n") + 4, "GET /fail"));
	}
	/* a download of 300000 bytes, then the proxy's own answer in order */
	n = (size_t)snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
			     sizeof(body));
	memcpy(msg + n, body, sizeof(body));
	msg[n + sizeof(body)] = '\0';
	{
		size_t got = rig_pump(&g, g.server, msg, n + sizeof(body), g.client, buf,
				      sizeof(buf) - 1, 0, "injected by duress", 60000);
		char *a;

		buf[got] = '\0';
		a = strstr(buf, "\r\n\r\n");
		assert_non_null(a);
		assert_memory_equal(a + 4, body, sizeof(body));
		assert_memory_equal(a + 4 + sizeof(body), "HTTP/1.1 503 Service Unavailable\r\n",
				    34);
	}
	assert_int_equal(g.cfg.requests, 2);
	assert_int_equal(g.cfg.responses, 1);
	assert_int_equal(g.cfg.answered, 1);
	rig_down(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_abort),	cmocka_unit_test(test_framing_passes),
		cmocka_unit_test(test_corrupt_chunked), cmocka_unit_test(test_malformed_keepalive),
		cmocka_unit_test(test_upgrade),		cmocka_unit_test(test_not_http),
		cmocka_unit_test(test_abort_close),	cmocka_unit_test(test_reset),
		cmocka_unit_test(test_forward_bodies),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("httpf", tests, NULL, NULL);
}
