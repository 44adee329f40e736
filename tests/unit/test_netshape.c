// SPDX-License-Identifier: MIT
/*
 * The network fault's pure helpers (rates, CIDRs, ports, probabilities,
 * u32 keys, distribution tables, the saved-qdisc text), and, as root, the
 * namespace confinement of the netlink socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <duress/core/exitcode.h>
#include <duress/net/netshape.h>

/* ---- rates ---- */

static uint64_t rate_ok(const char *s)
{
	struct duress_err err = { 0 };
	uint64_t v = 0;

	if (ns_parse_rate(s, "--rate", &v, &err) < 0)
		fail_msg("'%s' refused: %s", s, err.msg);
	return v;
}

static void rate_bad(const char *s, const char *needle)
{
	struct duress_err err = { 0 };
	uint64_t v = 4242;

	assert_int_equal(ns_parse_rate(s, "--rate", &v, &err), -1);
	assert_int_equal(v, 4242);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
	assert_non_null(strstr(err.msg, "--rate"));
}

static void test_rate_parse(void **state)
{
	(void)state;
	assert_int_equal(rate_ok("1mbit"), 1000000);
	assert_int_equal(rate_ok("1Mbit"), 1000000);
	assert_int_equal(rate_ok("512kbit"), 512000);
	assert_int_equal(rate_ok("10MB/s"), 80000000);
	assert_int_equal(rate_ok("1.5gbit"), 1500000000);
	assert_int_equal(rate_ok("100bit"), 100);
	assert_int_equal(rate_ok("8bit"), 8);
	assert_int_equal(rate_ok("1 mbit"), 1000000);
	assert_int_equal(rate_ok(" 2mbit/s "), 2000000);
	assert_int_equal(rate_ok("10Mb/s"), 10000000);
	assert_int_equal(rate_ok("1KiB/s"), 8192);
	assert_int_equal(rate_ok("1mibit"), 1048576);
	assert_int_equal(rate_ok("1B/s"), 8);
	assert_int_equal(rate_ok("2GB/s"), 16000000000ULL);
	assert_int_equal(rate_ok("0.5kbit"), 500);
	assert_int_equal(rate_ok("40gbit"), 40000000000ULL);
}

static void test_rate_errors(void **state)
{
	(void)state;
	rate_bad("", "empty");
	rate_bad("10", "needs a unit");
	rate_bad("10MB", "size, not a rate");
	rate_bad("1kbps", "ambiguous");
	rate_bad("1mbps", "ambiguous");
	rate_bad("-1mbit", "negative");
	rate_bad("abc", "not a rate");
	rate_bad("1furlong", "unknown unit");
	rate_bad("10mb", "unknown unit");
	rate_bad("0mbit", "too low");
	rate_bad("7bit", "too low");
	rate_bad("1e30gbit", "too high");
}

static void test_rate_format(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(ns_format_rate(1000000, buf, sizeof(buf)), "1mbit");
	assert_string_equal(ns_format_rate(512000, buf, sizeof(buf)), "512kbit");
	assert_string_equal(ns_format_rate(1500000, buf, sizeof(buf)), "1500kbit");
	assert_string_equal(ns_format_rate(80000000, buf, sizeof(buf)), "80mbit");
	assert_string_equal(ns_format_rate(1234, buf, sizeof(buf)), "1234bit");
	assert_string_equal(ns_format_rate(2000000000, buf, sizeof(buf)), "2gbit");
}

/* ---- CIDRs ---- */

static struct ns_cidr cidr_ok(const char *s)
{
	struct duress_err err = { 0 };
	struct ns_cidr c;

	if (ns_parse_cidr(s, "--to", &c, &err) < 0)
		fail_msg("'%s' refused: %s", s, err.msg);
	return c;
}

static void cidr_bad(const char *s, const char *needle)
{
	struct duress_err err = { 0 };
	struct ns_cidr c;

	assert_int_equal(ns_parse_cidr(s, "--to", &c, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
	assert_non_null(strstr(err.msg, "--to"));
}

static void test_cidr(void **state)
{
	struct ns_cidr c;
	char buf[64];
	unsigned char a[16];

	(void)state;
	c = cidr_ok("10.0.0.0/8");
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_string_equal(ns_format_cidr(&c, buf, sizeof(buf)), "10.0.0.0/8");
	c = cidr_ok("10.1.2.3");
	assert_int_equal(c.prefix, 32);
	c = cidr_ok("10.1.2.3/23"); /* host bits cleared */
	assert_string_equal(ns_format_cidr(&c, buf, sizeof(buf)), "10.1.2.0/23");
	c = cidr_ok("fd00::1/64");
	assert_int_equal(c.family, AF_INET6);
	assert_string_equal(ns_format_cidr(&c, buf, sizeof(buf)), "fd00::/64");
	c = cidr_ok("::/0");
	assert_int_equal(c.prefix, 0);
	c = cidr_ok("2001:db8::7");
	assert_int_equal(c.prefix, 128);

	c = cidr_ok("10.1.2.0/23");
	inet_pton(AF_INET, "10.1.3.200", a);
	assert_true(ns_cidr_contains(&c, a));
	inet_pton(AF_INET, "10.1.4.1", a);
	assert_false(ns_cidr_contains(&c, a));
	c = cidr_ok("fd00:1::/33");
	inet_pton(AF_INET6, "fd00:1:7fff::9", a);
	assert_true(ns_cidr_contains(&c, a));
	inet_pton(AF_INET6, "fd00:1:8000::9", a);
	assert_false(ns_cidr_contains(&c, a));

	cidr_bad("10.0.0/8", "malformed CIDR");
	cidr_bad("10.0.0.1/33", "exceeds 32");
	cidr_bad("fd00::/129", "exceeds 128");
	cidr_bad("1.2.3.4/", "no prefix length");
	cidr_bad("/8", "malformed CIDR");
	cidr_bad("abc", "not an IPv4 address");
	cidr_bad("1.2.3.4/a", "bad prefix length");
	cidr_bad("256.1.1.1", "malformed CIDR");
	cidr_bad("fd00::g", "not an IPv6 address");
	cidr_bad("", "empty");
}

/* ---- ports ---- */

static void test_ports(void **state)
{
	struct duress_err err = { 0 };
	uint16_t lo, hi;

	(void)state;
	assert_int_equal(ns_parse_ports("53", "--port", &lo, &hi, &err), 0);
	assert_int_equal(lo, 53);
	assert_int_equal(hi, 53);
	assert_int_equal(ns_parse_ports("8000-8100", "--port", &lo, &hi, &err), 0);
	assert_int_equal(lo, 8000);
	assert_int_equal(hi, 8100);
	assert_int_equal(ns_parse_ports("1-65535", "--port", &lo, &hi, &err), 0);
	static const char *const bad[] = { "0",	 "65536", "100-50", "a",    "1-",
					   "-5", "",	  "5-x",    "1--2", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (ns_parse_ports(bad[i], "--port", &lo, &hi, &err) != -1)
			fail_msg("port '%s' accepted", bad[i]);
		assert_int_equal(err.code, DURESS_EXIT_USAGE);
		assert_non_null(strstr(err.msg, "--port"));
	}
}

/* The blocks of [lo, hi] cover exactly that range, without overlap. */
static void check_blocks(unsigned lo, unsigned hi)
{
	struct ns_port_block b[32];
	size_t n = ns_port_blocks((uint16_t)lo, (uint16_t)hi, b, 32);

	assert_true(n >= 1 && n <= 32);
	for (unsigned port = 1; port <= 65535; port++) {
		int hits = 0;

		for (size_t i = 0; i < n; i++)
			if ((port & b[i].mask) == b[i].value)
				hits++;
		if (hits != (port >= lo && port <= hi))
			fail_msg("[%u, %u]: port %u matched %d blocks", lo, hi, port, hits);
	}
}

static void test_port_blocks(void **state)
{
	struct ns_port_block b[32];

	(void)state;
	assert_int_equal(ns_port_blocks(53, 53, b, 32), 1);
	assert_int_equal(b[0].value, 53);
	assert_int_equal(b[0].mask, 0xffff);
	assert_int_equal(ns_port_blocks(1024, 2047, b, 32), 1);
	assert_int_equal(b[0].mask, 0xfc00);
	check_blocks(53, 53);
	check_blocks(8000, 8100);
	check_blocks(1, 65535);
	check_blocks(1024, 65535);
	check_blocks(65535, 65535);
	check_blocks(3, 4);
	check_blocks(1, 1023);
}

/* ---- probabilities ---- */

static void test_prob(void **state)
{
	(void)state;
	assert_int_equal(ns_prob32(0), 0);
	assert_int_equal(ns_prob32(-3), 0);
	assert_int_equal(ns_prob32(100), UINT32_MAX);
	assert_int_equal(ns_prob32(150), UINT32_MAX);
	/* above 50% must not wrap (an int would) */
	assert_true(ns_prob32(50) >= 2147483647u && ns_prob32(50) <= 2147483648u);
	assert_true(ns_prob32(75) > 3221225000u && ns_prob32(75) < 3221226000u);
	assert_true(ns_prob32(99.9999) < UINT32_MAX && ns_prob32(99.9999) > 4294960000u);
	assert_int_equal(ns_prob32(1e-9), 0);
	assert_true(ns_prob32(0.0001) > 0);
	for (double pct = 0.5; pct < 100; pct += 0.5) {
		assert_true(ns_prob32(pct) > ns_prob32(pct - 0.5));
		assert_true(fabs(ns_prob_pct(ns_prob32(pct)) - pct) < 1e-6);
	}
}

/* ---- u32 rules ---- */

static void test_rules(void **state)
{
	struct duress_err err = { 0 };
	struct ns_match m = { 0 };
	struct ns_u32_rule *r = NULL;
	int n;

	(void)state;
	/* everything: one match-all rule */
	n = ns_match_rules(&m, false, &r, &err);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].family, AF_UNSPEC);
	assert_int_equal(r[0].nkeys, 1);
	assert_int_equal(r[0].keys[0].mask, 0);
	free(r);

	/* one IPv4 peer: destination on egress, source on ingress */
	assert_int_equal(ns_parse_cidr("10.1.2.0/24", "--to", &m.cidrs[0], &err), 0);
	m.ncidrs = 1;
	n = ns_match_rules(&m, false, &r, &err);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].family, AF_INET);
	assert_int_equal(r[0].pref, NS_PREF_BASE);
	assert_int_equal(r[0].nkeys, 1);
	assert_int_equal(r[0].keys[0].off, 16);
	assert_int_equal(r[0].keys[0].val, 0x0a010200);
	assert_int_equal(r[0].keys[0].mask, 0xffffff00);
	assert_string_equal(r[0].desc, "dst 10.1.2.0/24");
	free(r);
	n = ns_match_rules(&m, true, &r, &err);
	assert_int_equal(r[0].keys[0].off, 12);
	assert_string_equal(r[0].desc, "src 10.1.2.0/24");
	free(r);

	/* one IPv6 host: four words from offset 24 */
	assert_int_equal(ns_parse_cidr("fd00::1", "--to", &m.cidrs[0], &err), 0);
	n = ns_match_rules(&m, false, &r, &err);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].family, AF_INET6);
	assert_int_equal(r[0].pref, NS_PREF_BASE + 1);
	assert_int_equal(r[0].nkeys, 4);
	assert_int_equal(r[0].keys[0].off, 24);
	assert_int_equal(r[0].keys[0].val, 0xfd000000);
	assert_int_equal(r[0].keys[3].off, 36);
	assert_int_equal(r[0].keys[3].val, 1);
	assert_int_equal(r[0].keys[3].mask, 0xffffffff);
	free(r);
	/* a /40: one full word and 8 bits of the next */
	assert_int_equal(ns_parse_cidr("2001:db8:ab00::/40", "--to", &m.cidrs[0], &err), 0);
	n = ns_match_rules(&m, false, &r, &err);
	assert_int_equal(r[0].nkeys, 2);
	assert_int_equal(r[0].keys[1].mask, 0xff000000);
	assert_int_equal(r[0].keys[1].val, 0xab000000);
	free(r);

	/* a port without protocol: tcp and udp, either end, both families */
	m.ncidrs = 0;
	m.has_ports = true;
	m.port_lo = m.port_hi = 53;
	n = ns_match_rules(&m, false, &r, &err);
	assert_int_equal(n, 8);
	/* the first: IPv4 tcp source port 53, checked on plain first fragments */
	assert_int_equal(r[0].family, AF_INET);
	assert_string_equal(r[0].desc, "ip tcp sport 53");
	assert_int_equal(r[0].keys[0].off, 8);
	assert_int_equal(r[0].keys[0].val, 6 << 16);
	assert_int_equal(r[0].keys[r[0].nkeys - 1].off, 20);
	assert_int_equal(r[0].keys[r[0].nkeys - 1].val, 53u << 16);
	assert_int_equal(r[0].keys[r[0].nkeys - 1].mask, 0xffff0000);
	assert_string_equal(r[1].desc, "ip tcp dport 53");
	assert_int_equal(r[1].keys[r[1].nkeys - 1].mask, 0x0000ffff);
	assert_string_equal(r[4].desc, "ipv6 tcp sport 53");
	assert_int_equal(r[4].keys[0].off, 4);
	assert_int_equal(r[4].keys[0].val, 6 << 8);
	assert_int_equal(r[4].keys[r[4].nkeys - 1].off, 40);
	free(r);

	/* icmp covers ICMPv6 too; icmp with a port is refused */
	m.has_ports = false;
	m.proto = NS_PROTO_ICMP;
	n = ns_match_rules(&m, false, &r, &err);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].keys[0].val, 1 << 16);
	assert_int_equal(r[1].keys[0].val, 58 << 8);
	free(r);
	m.has_ports = true;
	assert_true(ns_match_rules(&m, false, &r, &err) < 0);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "--port"));

	/* too many filters: a usage error, not a flood */
	m.proto = NS_PROTO_ANY;
	m.port_lo = 1;
	m.port_hi = 65534;
	for (m.ncidrs = 0; m.ncidrs < 40; m.ncidrs++) {
		char a[32];

		snprintf(a, sizeof(a), "10.0.%zu.1", m.ncidrs);
		assert_int_equal(ns_parse_cidr(a, "--to", &m.cidrs[m.ncidrs], &err), 0);
	}
	memset(&err, 0, sizeof(err));
	assert_true(ns_match_rules(&m, false, &r, &err) < 0);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "u32 filters"));
}

static void test_covers_tcp(void **state)
{
	struct duress_err err = { 0 };
	struct ns_match m = { 0 };
	unsigned char a[16];

	(void)state;
	inet_pton(AF_INET, "10.0.2.2", a);
	assert_true(ns_match_covers_tcp(&m, AF_INET, a, 50000, 22));
	assert_int_equal(ns_parse_cidr("10.0.0.0/8", "--to", &m.cidrs[0], &err), 0);
	m.ncidrs = 1;
	assert_true(ns_match_covers_tcp(&m, AF_INET, a, 50000, 22));
	inet_pton(AF_INET6, "::ffff:10.0.2.2", a); /* a dual-stack socket's view */
	assert_true(ns_match_covers_tcp(&m, AF_INET6, a, 50000, 22));
	inet_pton(AF_INET, "192.168.1.1", a);
	assert_false(ns_match_covers_tcp(&m, AF_INET, a, 50000, 22));
	m.ncidrs = 0;
	m.has_ports = true;
	m.port_lo = m.port_hi = 5432;
	assert_false(ns_match_covers_tcp(&m, AF_INET, a, 50000, 22));
	m.port_lo = 20;
	m.port_hi = 30;
	assert_true(ns_match_covers_tcp(&m, AF_INET, a, 50000, 22));
	m.has_ports = false;
	m.proto = NS_PROTO_UDP;
	assert_false(ns_match_covers_tcp(&m, AF_INET, a, 50000, 22));
}

/* ---- distribution tables ---- */

static void table_moments(const int16_t *t, size_t n, double *mean, double *sd)
{
	double s = 0, v = 0;

	for (size_t i = 0; i < n; i++)
		s += t[i];
	*mean = s / (double)n;
	for (size_t i = 0; i < n; i++)
		v += (t[i] - *mean) * (t[i] - *mean);
	*sd = sqrt(v / (double)n);
}

static void test_dist(void **state)
{
	static int16_t t[NS_DIST_SIZE];
	double mean, sd;

	(void)state;
	assert_int_equal(ns_dist_table(NS_DIST_UNIFORM, t, NS_DIST_SIZE), -1);
	assert_int_equal(ns_dist_table(NS_DIST_NORMAL, t, NS_DIST_SIZE), 0);
	table_moments(t, NS_DIST_SIZE, &mean, &sd);
	assert_true(fabs(mean) < 2);
	assert_true(fabs(sd - NS_DIST_SCALE) < 0.01 * NS_DIST_SCALE);
	for (size_t i = 1; i < NS_DIST_SIZE; i++)
		assert_true(t[i] >= t[i - 1]);
	for (size_t i = 0; i < NS_DIST_SIZE / 2; i++)
		assert_true(abs(t[i] + t[NS_DIST_SIZE - 1 - i]) <= 1);
	/* the median of a normal law is its mean; 1 sd at the 84th percentile */
	assert_true(abs(t[NS_DIST_SIZE / 2]) < 10);
	assert_true(abs(t[(size_t)(0.8413 * NS_DIST_SIZE)] - NS_DIST_SCALE) < 60);

	for (int d = NS_DIST_PARETO; d <= NS_DIST_PARETONORMAL; d++) {
		assert_int_equal(ns_dist_table((enum ns_dist)d, t, NS_DIST_SIZE), 0);
		table_moments(t, NS_DIST_SIZE, &mean, &sd);
		assert_true(fabs(mean) < 1);
		assert_true(fabs(sd - NS_DIST_SCALE) < 0.01 * NS_DIST_SCALE);
		/* skewed: a long right tail, the median below the mean */
		assert_true(t[NS_DIST_SIZE / 2] < 0);
		assert_true(t[NS_DIST_SIZE - 1] > 3 * NS_DIST_SCALE);
		for (size_t i = 1; i < NS_DIST_SIZE; i++)
			assert_true(t[i] >= t[i - 1]);
	}
}

/* ---- saved qdiscs ---- */

/* A tbf 8002: (rate 1mbit burst 10k latency 50ms) as the 6.1 kernel
 * reported it. */
#define TBF_TEXT                                                                       \
	"parent=root handle=8002: kind=tbf attrs=2c00020028000100000100000000000048e8" \
	"01000000000000000000000000006a4000000088130000000000"

static void test_saved_roundtrip(void **state)
{
	struct duress_err err = { 0 };
	struct ns_saved s, back;
	unsigned char a1[] = { 8, 0, 2, 0, 1, 2, 3, 4 };
	char *text = NULL, desc[128];

	(void)state;
	memset(&s, 0, sizeof(s));
	s.n = 2;
	s.q[0].parent = NS_H_ROOT;
	s.q[0].handle = NS_H(0x8001, 0);
	strcpy(s.q[0].kind, "mq");
	s.q[0].attrs = NULL;
	s.q[0].attrs_len = 0;
	s.q[1].parent = NS_H(0x8001, 1);
	s.q[1].handle = NS_H(0x8002, 0);
	strcpy(s.q[1].kind, "fq_codel");
	s.q[1].attrs = a1;
	s.q[1].attrs_len = sizeof(a1);
	assert_int_equal(ns_saved_format(&s, &text, &err), 0);
	assert_string_equal(text,
			    "parent=root handle=8001: kind=mq attrs=; "
			    "parent=8001:1 handle=8002: kind=fq_codel attrs=0800020001020304");
	assert_int_equal(ns_saved_parse(text, &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_false(back.none);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(back.q[i].parent, s.q[i].parent);
		assert_int_equal(back.q[i].handle, s.q[i].handle);
		assert_string_equal(back.q[i].kind, s.q[i].kind);
		assert_int_equal(back.q[i].attrs_len, s.q[i].attrs_len);
		if (s.q[i].attrs_len)
			assert_memory_equal(back.q[i].attrs, s.q[i].attrs, s.q[i].attrs_len);
	}
	assert_string_equal(ns_saved_describe(&back, desc, sizeof(desc)),
			    "mq 8001: with 1 child qdisc");
	ns_saved_free(&back);
	free(text);

	/* the real tbf: parse, then format gives the same text back */
	assert_int_equal(ns_saved_parse(TBF_TEXT, &back, &err), 0);
	assert_int_equal(back.n, 1);
	assert_string_equal(back.q[0].kind, "tbf");
	assert_int_equal(back.q[0].handle, NS_H(0x8002, 0));
	assert_int_equal(back.q[0].parent, NS_H_ROOT);
	assert_int_equal(back.q[0].attrs_len, 44);
	assert_int_equal(ns_saved_format(&back, &text, &err), 0);
	assert_string_equal(text, TBF_TEXT);
	free(text);
	ns_saved_free(&back);

	/* the kernel's default, and nothing */
	assert_int_equal(ns_saved_parse("parent=root handle=0: kind=noqueue attrs=", &back, &err),
			 0);
	assert_int_equal(back.q[0].handle, 0);
	assert_string_equal(ns_saved_describe(&back, desc, sizeof(desc)),
			    "the kernel's default (noqueue)");
	ns_saved_free(&back);
	assert_int_equal(ns_saved_parse("none", &back, &err), 0);
	assert_true(back.none);
	assert_int_equal(ns_saved_format(&back, &text, &err), 0);
	assert_string_equal(text, "none");
	free(text);

	static const char *const bad[] = {
		"",
		"garbage",
		"parent=root handle=8001: kind=tbf",
		"parent=root handle=8001: kind=tbf attrs=abc",
		"parent=root handle=8001: kind=t;bf attrs=",
		"parent=x handle=8001: kind=tbf attrs=",
		"parent=root handle=8001: kind=tbf attrs=zz",
		"parent=root handle=12345: kind=tbf attrs=",
		"parent=root handle=8001: kind=tbf attrs= color=blue",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (ns_saved_parse(bad[i], &back, &err) == 0)
			fail_msg("saved text '%s' accepted", bad[i]);
		assert_non_null(strstr(err.msg, "saved qdisc"));
	}
}

static void test_handles(void **state)
{
	uint32_t h;
	char buf[16];

	(void)state;
	assert_string_equal(ns_handle_str(NS_H_ROOT, buf, sizeof(buf)), "root");
	assert_string_equal(ns_handle_str(NS_H_INGRESS, buf, sizeof(buf)), "ingress");
	assert_string_equal(ns_handle_str(NS_H(0xd5a0, 0), buf, sizeof(buf)), "d5a0:");
	assert_string_equal(ns_handle_str(NS_H(0xd5a0, 2), buf, sizeof(buf)), "d5a0:2");
	assert_string_equal(ns_handle_str(NS_H_CLSACT_INGRESS, buf, sizeof(buf)), "ffff:fff2");
	assert_int_equal(ns_handle_parse("ffff:fff2", &h), 0);
	assert_int_equal(h, NS_H_CLSACT_INGRESS);
	assert_int_equal(ns_handle_parse("8001:", &h), 0);
	assert_int_equal(h, 0x80010000);
	assert_int_equal(ns_handle_parse("0:", &h), 0);
	assert_int_equal(h, 0);
	assert_int_equal(ns_handle_parse("8001", &h), -1);
	assert_int_equal(ns_handle_parse(":1", &h), -1);
}

static void test_codel_replay(void **state)
{
	(void)state;
	/* fq_codel's defaults: 5ms and 100ms are reported as 4999us and 99999us */
	assert_int_equal(ns_codel_us_replay(4999), 5000);
	assert_int_equal(ns_codel_us_replay(99999), 100000);
	/* for every value a user can set, replaying the report gives the
	 * kernel the same internal value (us * 1000 / 1024) */
	for (uint64_t us = 0; us <= 300000; us += 7) {
		uint64_t c = us * 1000 / 1024;
		uint32_t dumped = (uint32_t)(c * 1024 / 1000);
		uint64_t again = (uint64_t)ns_codel_us_replay(dumped) * 1000 / 1024;

		if (again != c)
			fail_msg("%llu us: held %llu, reported %u, replayed to %llu",
				 (unsigned long long)us, (unsigned long long)c, dumped,
				 (unsigned long long)again);
	}
}

static void test_netem_text(void **state)
{
	struct ns_netem n = { .delay_us = 100000,
			      .jitter_us = 10000,
			      .dist = NS_DIST_NORMAL,
			      .loss = 5,
			      .rate_bps = 1000000 };
	char buf[256];

	(void)state;
	assert_string_equal(ns_netem_describe(&n, buf, sizeof(buf)),
			    "delay 100ms jitter 10ms (normal) loss 5% rate 1mbit limit 32");
	n.rate_bps = 0;
	assert_int_equal(ns_netem_limit(&n), 1000);
	n.rate_bps = 100000000; /* 100 mbit with 100 ms: 350 ms of packets */
	assert_int_equal(ns_netem_limit(&n), 2917);
}

static void test_refs(void **state)
{
	pid_t pid;
	unsigned long long ino;
	char name[32];

	(void)state;
	assert_int_equal(ns_ref_parse("/proc/123/ns/net@4026532177", &pid, &ino), 0);
	assert_int_equal(pid, 123);
	assert_int_equal(ino, 4026532177ULL);
	assert_int_equal(ns_ref_parse("/proc/123/ns/net", &pid, &ino), -1);
	assert_int_equal(ns_ref_parse("/proc/0/ns/net@1", &pid, &ino), -1);
	assert_int_equal(ns_ref_parse("/proc/12/ns/net@1x", &pid, &ino), -1);
	ns_ifb_name(0x3fffff, 0x1234, name, sizeof(name));
	assert_string_equal(name, "drs3fffff.1234");
	ns_ifb_name(0x3fffff, 0x123456, name, sizeof(name));
	assert_true(strlen(name) < 16);
	assert_int_equal(strncmp(name, "drs", 3), 0);
}

/* ---- confinement (root only) ---- */

static pid_t child_in_netns(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	close(p[0]);
	return pid;
}

static void test_confinement(void **state)
{
	struct duress_err err = { 0 };
	struct netshape *ns = NULL;
	struct ns_link *links = NULL, l;
	unsigned long long self_before, self_after, child_ino;
	char path[64], ref[128], bad[128];
	size_t n;
	pid_t child;
	int fd, ifb = 0, r;
	bool gone;

	(void)state;
	if (geteuid() != 0)
		skip();
	child = child_in_netns();
	if (child < 0)
		skip(); /* no permission for network namespaces here */
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)child);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(netshape_fd_ino(fd, &child_ino), 0);
	assert_int_equal(netshape_self_ino(&self_before), 0);
	assert_true(child_ino != self_before);

	if (netshape_open(fd, &ns, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(netshape_self_ino(&self_after), 0);
	assert_true(self_after == self_before); /* we never left our namespace */
	assert_true(netshape_ino(ns) == child_ino);
	assert_int_equal(netshape_links(ns, &links, &n, &err), 0);
	assert_int_equal(n, 1); /* a fresh namespace: lo only */
	assert_string_equal(links[0].name, "lo");
	free(links);

	/* a device made through the socket appears there, not here */
	r = netshape_add_ifb(ns, "drsunit0", &ifb, &err);
	if (r == 0) {
		assert_int_equal(netshape_link_find(ns, "drsunit0", &l, &err), 0);
		assert_string_equal(l.kind, "ifb");
		assert_true(access("/sys/class/net/drsunit0", F_OK) != 0);
		assert_int_equal(netshape_del_link(ns, "drsunit0", "ifb", &err), 0);
		assert_int_equal(netshape_del_link(ns, "drsunit0", "ifb", &err),
				 1);						/* idempotent */
		assert_int_equal(netshape_del_link(ns, "lo", "ifb", &err), -1); /* not ours */
	} else {
		print_message("ifb unavailable on this kernel (%s): device part not run\n",
			      err.msg);
	}
	netshape_close(ns);

	/* references: the right inode opens, a wrong one is gone, never ours */
	assert_int_equal(netshape_ref_make(child, fd, ref, sizeof(ref), &err), 0);
	assert_int_equal(netshape_open_ref(ref, &ns, &gone, &err), 0);
	assert_false(gone);
	assert_true(netshape_ino(ns) == child_ino);
	netshape_close(ns);
	snprintf(bad, sizeof(bad), "/proc/%d/ns/net@%llu", (int)getpid(), child_ino + 1000000);
	ns = NULL;
	assert_int_equal(netshape_open_ref(bad, &ns, &gone, &err), 0);
	assert_true(gone);
	assert_null(ns);
	close(fd);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* the child's namespace died with it: its reference is gone too */
	for (int i = 0; i < 50; i++) {
		assert_int_equal(netshape_open_ref(ref, &ns, &gone, &err), 0);
		if (gone)
			break;
		netshape_close(ns);
		ns = NULL;
		usleep(20000);
	}
	assert_true(gone);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_rate_errors),
		cmocka_unit_test(test_rate_format),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_port_blocks),
		cmocka_unit_test(test_prob),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_covers_tcp),
		cmocka_unit_test(test_dist),
		cmocka_unit_test(test_saved_roundtrip),
		cmocka_unit_test(test_handles),
		cmocka_unit_test(test_codel_replay),
		cmocka_unit_test(test_netem_text),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_confinement),
	};

	return cmocka_run_group_tests_name("netshape", tests, NULL, NULL);
}
