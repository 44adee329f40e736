// SPDX-License-Identifier: MIT
/*
 * The DNS responder's logic, pure, on crafted packets (wire bytes written
 * here by hand, not by ldns): name patterns, what a query gets (matching,
 * percentages, what cannot be read), and the answers built (id, flags,
 * question, rcode, spoofed records, EDNS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include <duress/proxy/dnsf.h>

/* A query: id, RD, one question (name in dotted form), optional OPT. */
static size_t mkquery(uint8_t *b, uint16_t id, const char *name, uint16_t qtype, bool edns)
{
	size_t n = 0;
	const char *s = name;

	b[n++] = (uint8_t)(id >> 8);
	b[n++] = (uint8_t)id;
	b[n++] = 0x01; /* RD */
	b[n++] = 0x00;
	b[n++] = 0, b[n++] = 1;	   /* QDCOUNT */
	b[n++] = 0, b[n++] = 0;	   /* ANCOUNT */
	b[n++] = 0, b[n++] = 0;	   /* NSCOUNT */
	b[n++] = 0, b[n++] = edns; /* ARCOUNT */
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		b[n++] = (uint8_t)l;
		memcpy(b + n, s, l);
		n += l;
		s += l + (dot ? 1 : 0);
	}
	b[n++] = 0;
	b[n++] = (uint8_t)(qtype >> 8), b[n++] = (uint8_t)qtype;
	b[n++] = 0, b[n++] = 1; /* IN */
	if (edns) {
		b[n++] = 0;		      /* root */
		b[n++] = 0, b[n++] = 41;      /* OPT */
		b[n++] = 0x10, b[n++] = 0x00; /* 4096 */
		b[n++] = 0, b[n++] = 0, b[n++] = 0, b[n++] = 0;
		b[n++] = 0, b[n++] = 0;
	}
	return n;
}

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void test_patterns(void **state)
{
	(void)state;
	assert_true(dnsf_name_match("example.com", "example.com"));
	assert_true(dnsf_name_match("example.com", "EXAMPLE.Com."));
	assert_true(dnsf_name_match("example.com.", "example.com"));
	assert_false(dnsf_name_match("example.com", "www.example.com"));
	assert_false(dnsf_name_match("example.com", "example.co"));
	assert_true(dnsf_name_match("*.example.com", "www.example.com"));
	assert_true(dnsf_name_match("*.example.com", "a.b.EXAMPLE.com."));
	assert_false(dnsf_name_match("*.example.com", "example.com"));
	assert_false(dnsf_name_match("*.example.com", "badexample.com"));
	assert_false(dnsf_name_match("*.example.com", "www.example.com.evil"));
	assert_true(dnsf_name_match("*", "anything.at.all"));

	assert_null(dnsf_pattern_invalid("example.com"));
	assert_null(dnsf_pattern_invalid("*.example.com"));
	assert_null(dnsf_pattern_invalid("*"));
	assert_null(dnsf_pattern_invalid("localhost."));
	assert_non_null(dnsf_pattern_invalid(""));
	assert_non_null(dnsf_pattern_invalid("*."));
	assert_non_null(dnsf_pattern_invalid("a.*.com"));
	assert_non_null(dnsf_pattern_invalid("ex ample.com"));
	assert_non_null(dnsf_pattern_invalid("a..b"));
	assert_non_null(dnsf_pattern_invalid(".a"));

	assert_int_equal(dnsf_action_parse("nxdomain"), DNSF_NXDOMAIN);
	assert_int_equal(dnsf_action_parse("servfail"), DNSF_SERVFAIL);
	assert_int_equal(dnsf_action_parse("refused"), DNSF_REFUSED);
	assert_int_equal(dnsf_action_parse("spoof"), -1);
}

static void test_decide(void **state)
{
	static const char *const doms[] = { "*.fail.test", "exact.test" };
	struct dnsf_config c = {
		.domains = doms, .ndomains = 2, .action = DNSF_SERVFAIL, .percent = 100, .seed = 42
	};
	struct dnsf_verdict v;
	uint8_t q[512];
	size_t n;

	(void)state;
	dnsf_init(&c);
	n = mkquery(q, 7, "WWW.Fail.test", 1, false);
	dnsf_decide(&c, q, n, &v);
	assert_true(v.parsed && v.matched && v.picked);
	assert_string_equal(v.qname, "www.fail.test");
	assert_int_equal(v.qtype, 1);
	assert_int_equal(v.action, DNSF_SERVFAIL);

	n = mkquery(q, 8, "exact.test", 28, true);
	dnsf_decide(&c, q, n, &v);
	assert_true(v.matched);
	assert_int_equal(v.qtype, 28);

	n = mkquery(q, 9, "other.test", 1, false);
	dnsf_decide(&c, q, n, &v);
	assert_true(v.parsed);
	assert_false(v.matched);
	assert_int_equal(v.action, DNSF_FORWARD);

	/* what is not a query we can read is forwarded, counted */
	memcpy(q, "garbage", 7);
	dnsf_decide(&c, q, 7, &v);
	assert_false(v.parsed);
	assert_int_equal(v.action, DNSF_FORWARD);
	n = mkquery(q, 10, "www.fail.test", 1, false);
	q[2] |= 0x80; /* a response, not a query */
	dnsf_decide(&c, q, n, &v);
	assert_false(v.parsed);
	n = mkquery(q, 11, "www.fail.test", 1, false);
	q[5] = 2; /* two questions announced, one there */
	dnsf_decide(&c, q, n, &v);
	assert_false(v.parsed);
	n = mkquery(q, 12, "www.fail.test", 1, false);
	dnsf_decide(&c, q, n - 3, &v); /* cut short */
	assert_false(v.parsed);

	assert_int_equal(c.counters[DNSF_C_QUERIES], 7);
	assert_int_equal(c.counters[DNSF_C_MATCHED], 2);
	assert_int_equal(c.counters[DNSF_C_UNPARSED], 4);
	assert_int_equal(c.injected[DNSF_SERVFAIL], 2);

	/* a delay goes with the answer; drop has none */
	c.delay_ns = 300000000;
	n = mkquery(q, 13, "exact.test", 1, false);
	dnsf_decide(&c, q, n, &v);
	assert_int_equal(v.delay_ns, 300000000);
	c.action = DNSF_DROP;
	dnsf_decide(&c, q, n, &v);
	assert_int_equal(v.action, DNSF_DROP);
	assert_int_equal(v.delay_ns, 0);
}

static void test_regex(void **state)
{
	static const char *const doms[] = { "exact.test" };
	regex_t re;
	struct dnsf_config c = { .domains = doms,
				 .ndomains = 1,
				 .regexes = &re,
				 .nregexes = 1,
				 .action = DNSF_REFUSED,
				 .percent = 100,
				 .seed = 3 };
	struct dnsf_verdict v;
	uint8_t q[512];
	size_t n;

	(void)state;
	assert_int_equal(regcomp(&re, "^(api|auth)[0-9]*\\.svc\\.test$",
				 REG_EXTENDED | REG_ICASE | REG_NOSUB),
			 0);
	dnsf_init(&c);
	n = mkquery(q, 1, "API12.svc.test", 1, false);
	dnsf_decide(&c, q, n, &v);
	assert_true(v.matched);
	assert_int_equal(v.action, DNSF_REFUSED);
	n = mkquery(q, 2, "auth.svc.test.evil", 1, false);
	dnsf_decide(&c, q, n, &v);
	assert_false(v.matched);
	n = mkquery(q, 3, "exact.test", 1, false); /* the pattern still counts */
	dnsf_decide(&c, q, n, &v);
	assert_true(v.matched);
	n = mkquery(q, 4, "other.test", 1, false);
	dnsf_decide(&c, q, n, &v);
	assert_false(v.matched);
	regfree(&re);
}

static void test_percent(void **state)
{
	struct dnsf_config c = { .action = DNSF_NXDOMAIN, .percent = 30, .seed = 7 };
	struct dnsf_verdict v;
	uint8_t q[512];
	size_t n = mkquery(q, 1, "a.test", 1, false);
	unsigned picked = 0;

	(void)state;
	dnsf_init(&c);
	for (int i = 0; i < 10000; i++) {
		dnsf_decide(&c, q, n, &v);
		picked += v.picked;
	}
	/* 30% of 10000: 3000 +/- 4.4 sigma */
	assert_in_range(picked, 2800, 3200);
	assert_int_equal(c.injected[DNSF_NXDOMAIN], picked);
	c.percent = 0;
	dnsf_decide(&c, q, n, &v);
	assert_true(v.matched);
	assert_false(v.picked);
}

static void test_answer_rcode(void **state)
{
	struct dnsf_config c = { 0 };
	uint8_t q[512], a[DNSF_MSG_MAX];
	size_t n = mkquery(q, 0xbeef, "Www.Fail.test", 1, false), alen = 0;
	const uint8_t rcodes[] = { [DNSF_NXDOMAIN] = 3, [DNSF_SERVFAIL] = 2, [DNSF_REFUSED] = 5 };

	(void)state;
	for (int act = DNSF_NXDOMAIN; act <= DNSF_REFUSED; act++) {
		assert_int_equal(dnsf_answer(&c, q, n, act, a, sizeof(a), &alen), 0);
		assert_int_equal(u16(a), 0xbeef);
		assert_true(a[2] & 0x80);		/* QR */
		assert_true(a[2] & 0x01);		/* RD copied */
		assert_int_equal((a[2] >> 3) & 0xf, 0); /* QUERY */
		assert_true(a[3] & 0x80);		/* RA */
		assert_int_equal(a[3] & 0x0f, rcodes[act]);
		assert_int_equal(u16(a + 4), 1);  /* the question */
		assert_int_equal(u16(a + 6), 0);  /* no answers */
		assert_int_equal(u16(a + 10), 0); /* no OPT: the query had none */
		/* the question as asked, case kept */
		assert_int_equal(alen, n);
		assert_memory_equal(a + 12, q + 12, n - 12);
	}
	/* EDNS answered with EDNS */
	n = mkquery(q, 5, "x.test", 1, true);
	assert_int_equal(dnsf_answer(&c, q, n, DNSF_NXDOMAIN, a, sizeof(a), &alen), 0);
	assert_int_equal(u16(a + 10), 1);
	/* no room, or not a query: no answer */
	assert_int_equal(dnsf_answer(&c, q, n, DNSF_NXDOMAIN, a, 20, &alen), -1);
	assert_int_equal(dnsf_answer(&c, q, 5, DNSF_NXDOMAIN, a, sizeof(a), &alen), -1);
	assert_int_equal(dnsf_answer(&c, q, n, DNSF_DROP, a, sizeof(a), &alen), -1);
}

/* The first answer record's type and rdata (after the question). */
static void first_answer(const uint8_t *a, size_t qlen, uint16_t *type, uint32_t *ttl,
			 const uint8_t **rdata, uint16_t *rdlen)
{
	const uint8_t *p = a + qlen; /* answer owner: a compression pointer or the name */

	if ((p[0] & 0xc0) == 0xc0) {
		p += 2;
	} else {
		while (*p)
			p += *p + 1;
		p++;
	}
	*type = u16(p);
	*ttl = (uint32_t)u16(p + 4) << 16 | u16(p + 6);
	*rdlen = u16(p + 8);
	*rdata = p + 10;
}

static void test_answer_spoof(void **state)
{
	struct dnsf_config c = { .has_v4 = true, .has_v6 = true, .ttl = 42 };
	uint8_t q[512], a[DNSF_MSG_MAX];
	size_t n, alen = 0;
	uint16_t type, rdlen;
	uint32_t ttl;
	const uint8_t *rd;

	(void)state;
	inet_pton(AF_INET, "192.0.2.7", &c.v4);
	inet_pton(AF_INET6, "2001:db8::7", &c.v6);
	n = mkquery(q, 1, "api.test", 1, false);
	assert_int_equal(dnsf_answer(&c, q, n, DNSF_SPOOF, a, sizeof(a), &alen), 0);
	assert_int_equal(a[3] & 0x0f, 0);
	assert_int_equal(u16(a + 6), 1);
	first_answer(a, n, &type, &ttl, &rd, &rdlen);
	assert_int_equal(type, 1);
	assert_int_equal(ttl, 42);
	assert_int_equal(rdlen, 4);
	assert_memory_equal(rd, &c.v4, 4);

	n = mkquery(q, 2, "api.test", 28, false);
	assert_int_equal(dnsf_answer(&c, q, n, DNSF_SPOOF, a, sizeof(a), &alen), 0);
	assert_int_equal(u16(a + 6), 1);
	first_answer(a, n, &type, &ttl, &rd, &rdlen);
	assert_int_equal(type, 28);
	assert_int_equal(rdlen, 16);
	assert_memory_equal(rd, &c.v6, 16);

	/* no address of that family, or another type: NOERROR, no records */
	c.has_v6 = false;
	assert_int_equal(dnsf_answer(&c, q, n, DNSF_SPOOF, a, sizeof(a), &alen), 0);
	assert_int_equal(a[3] & 0x0f, 0);
	assert_int_equal(u16(a + 6), 0);
	n = mkquery(q, 3, "api.test", 15, false); /* MX */
	assert_int_equal(dnsf_answer(&c, q, n, DNSF_SPOOF, a, sizeof(a), &alen), 0);
	assert_int_equal(u16(a + 6), 0);
}

static void test_stats(void **state)
{
	struct dnsf_config c = { .action = DNSF_NXDOMAIN, .percent = 100, .seed = 1 };
	struct dnsf_verdict v;
	uint8_t q[512];
	size_t n = mkquery(q, 1, "a.test", 1, false);
	json_t *j = json_object();

	(void)state;
	dnsf_init(&c);
	dnsf_decide(&c, q, n, &v);
	dnsf_decide(&c, q, n, &v);
	dnsf_stats(&c, j);
	assert_int_equal(json_integer_value(json_object_get(j, "queries")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "matched")), 2);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(j, "injected"), "nxdomain")), 2);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(j, "injected"), "spoof")), 0);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),     cmocka_unit_test(test_decide),
		cmocka_unit_test(test_regex),	     cmocka_unit_test(test_percent),
		cmocka_unit_test(test_answer_rcode), cmocka_unit_test(test_answer_spoof),
		cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests_name("dnsf", tests, NULL, NULL);
}
