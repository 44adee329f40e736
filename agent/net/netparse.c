// SPDX-License-Identifier: MIT
/*
 * Pure helpers of the network fault: rates, CIDRs, ports, probabilities,
 * delay distribution tables, u32 keys and the saved-qdisc text.  No
 * system calls; see include/duress/netshape.h and tests/unit/test_netshape.c.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/net/netparse.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define USAGE(err, ...) duress_err_setc(err, DURESS_EXIT_USAGE, 0, __VA_ARGS__)

/* ---- rates ---- */

struct rate_unit {
	const char *name; /* compared case-insensitively unless `exact` */
	bool exact;
	bool needs_s; /* only a rate with "/s" ("Mb/s", "MB/s") */
	double bits;  /* bits per second for one unit */
};

static const struct rate_unit rate_units[] = {
	{ "bit", false, false, 1 },
	{ "kbit", false, false, 1e3 },
	{ "mbit", false, false, 1e6 },
	{ "gbit", false, false, 1e9 },
	{ "tbit", false, false, 1e12 },
	{ "kibit", false, false, 1024.0 },
	{ "mibit", false, false, 1048576.0 },
	{ "gibit", false, false, 1073741824.0 },
	{ "bits", false, false, 1 },
	{ "kbits", false, false, 1e3 },
	{ "mbits", false, false, 1e6 },
	{ "gbits", false, false, 1e9 },
	{ "b", true, true, 1 },
	{ "kb", true, true, 1e3 },
	{ "Kb", true, true, 1e3 },
	{ "mb", true, true, 1e6 },
	{ "Mb", true, true, 1e6 },
	{ "gb", true, true, 1e9 },
	{ "Gb", true, true, 1e9 },
	{ "B", true, true, 8 },
	{ "KB", true, true, 8e3 },
	{ "kB", true, true, 8e3 },
	{ "MB", true, true, 8e6 },
	{ "GB", true, true, 8e9 },
	{ "TB", true, true, 8e12 },
	{ "KiB", true, true, 8 * 1024.0 },
	{ "MiB", true, true, 8 * 1048576.0 },
	{ "GiB", true, true, 8 * 1073741824.0 },
	{ "bytes", false, true, 8 },
};

#define RATE_UNITS_HELP                                                                    \
	"bit, kbit, mbit, gbit (or kibit, mibit, gibit), or bytes: B/s, KB/s, MB/s, GB/s " \
	"(KiB/s, MiB/s, GiB/s)"

int ns_parse_rate(const char *s, const char *what, uint64_t *bps, struct duress_err *err)
{
	const struct rate_unit *unit_found = NULL;
	char unit[32];
	const char *p = s, *u;
	size_t ulen;
	bool per_s = false;
	double v;
	char *end;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return USAGE(err, "%s: empty rate (e.g. 1mbit, 512kbit, 10MB/s)", what);
	if (*p == '-')
		return USAGE(err, "%s: '%s': a rate cannot be negative", what, s);
	if (!isdigit((unsigned char)*p) && *p != '.')
		return USAGE(err, "%s: '%s': not a rate (e.g. 1mbit, 512kbit, 10MB/s)", what, s);
	errno = 0;
	v = strtod(p, &end);
	if (errno || end == p || !isfinite(v))
		return USAGE(err, "%s: '%s': not a rate (e.g. 1mbit, 512kbit, 10MB/s)", what, s);
	u = end;
	while (isspace((unsigned char)*u))
		u++;
	ulen = strlen(u);
	while (ulen && isspace((unsigned char)u[ulen - 1]))
		ulen--;
	if (!ulen)
		return USAGE(err, "%s: '%s': a rate needs a unit: %s", what, s, RATE_UNITS_HELP);
	if (ulen >= sizeof(unit))
		return USAGE(err, "%s: '%s': unknown unit (%s)", what, s, RATE_UNITS_HELP);
	memcpy(unit, u, ulen);
	unit[ulen] = '\0';
	if (ulen > 2 && !strcmp(unit + ulen - 2, "/s")) {
		per_s = true;
		unit[ulen - 2] = '\0';
	} else if (ulen >= 3 && !strcasecmp(unit + ulen - 3, "bps")) {
		return USAGE(err,
			     "%s: '%s': ambiguous unit '%s' (tc reads it as bytes, most people as "
			     "bits): write kbit, mbit for bits or KB/s, MB/s for bytes",
			     what, s, unit);
	}
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(rate_units); i++) {
		const struct rate_unit *r = &rate_units[i];

		if (r->exact ? !strcmp(unit, r->name) : !strcasecmp(unit, r->name)) {
			unit_found = r;
			break;
		}
	}
	if (!unit_found)
		return USAGE(err, "%s: '%s': unknown unit '%s' (%s)", what, s, unit,
			     RATE_UNITS_HELP);
	if (unit_found->needs_s && !per_s) {
		if (unit_found->bits >= 8 && strchr(unit, 'B'))
			return USAGE(err, "%s: '%s' is a size, not a rate: did you mean %s/s?",
				     what, s, s);
		return USAGE(err, "%s: '%s': unknown unit '%s' (%s)", what, s, unit,
			     RATE_UNITS_HELP);
	}
	v *= unit_found->bits;
	if (v < 8)
		return USAGE(err, "%s: '%s': too low, at least 8bit (one byte per second)", what,
			     s);
	if (v > 1.8e19)
		return USAGE(err, "%s: '%s': too high", what, s);
	*bps = (uint64_t)llround(v);
	return 0;
}

char *ns_format_rate(uint64_t bps, char *buf, size_t len)
{
	static const struct {
		uint64_t mult;
		const char *unit;
	} units[] = { { 1000000000000ULL, "tbit" },
		      { 1000000000ULL, "gbit" },
		      { 1000000ULL, "mbit" },
		      { 1000ULL, "kbit" } };

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(units); i++) {
		if (bps >= units[i].mult && bps % units[i].mult == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(bps / units[i].mult),
				 units[i].unit);
			return buf;
		}
	}
	snprintf(buf, len, "%llubit", (unsigned long long)bps);
	return buf;
}

/* ---- addresses and ports ---- */

static void cidr_mask(struct ns_cidr *c)
{
	size_t bytes = c->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < bytes; i++) {
		unsigned bits = c->prefix > i * 8 ? c->prefix - i * 8 : 0;

		if (bits >= 8)
			continue;
		c->addr[i] &= (unsigned char)(0xff00u >> bits);
	}
}

int ns_parse_cidr(const char *s, const char *what, struct ns_cidr *out, struct duress_err *err)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct ns_cidr c = { 0 };
	unsigned max;

	if (!*s)
		return USAGE(err,
			     "%s: empty address (expected an IPv4 or IPv6 address or CIDR, "
			     "e.g. 10.0.0.0/8 or fd00::/64)",
			     what);
	if (!alen || alen >= sizeof(addr))
		return USAGE(err,
			     "%s: '%s': malformed CIDR (expected e.g. 10.0.0.0/8 or fd00::/64)",
			     what, s);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (strchr(addr, ':')) {
		c.family = AF_INET6;
		max = 128;
	} else {
		c.family = AF_INET;
		max = 32;
	}
	if (inet_pton(c.family, addr, c.addr) != 1)
		return USAGE(err, "%s: '%s': malformed CIDR: '%s' is not an %s address", what, s,
			     addr, c.family == AF_INET ? "IPv4" : "IPv6");
	c.prefix = max;
	if (slash) {
		const char *p = slash + 1;
		unsigned long n = 0;

		if (!*p)
			return USAGE(err, "%s: '%s': malformed CIDR: no prefix length after '/'",
				     what, s);
		for (; *p; p++) {
			if (!isdigit((unsigned char)*p) || n > 1000)
				return USAGE(err, "%s: '%s': malformed CIDR: bad prefix length",
					     what, s);
			n = n * 10 + (unsigned long)(*p - '0');
		}
		if (n > max)
			return USAGE(err, "%s: '%s': malformed CIDR: prefix length %lu exceeds %u",
				     what, s, n, max);
		c.prefix = (unsigned)n;
	}
	cidr_mask(&c);
	*out = c;
	return 0;
}

char *ns_format_cidr(const struct ns_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(c->family, c->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, c->prefix);
	return buf;
}

bool ns_cidr_contains(const struct ns_cidr *c, const unsigned char *addr)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (memcmp(c->addr, addr, full))
		return false;
	if (!rest)
		return true;
	return (addr[full] & (unsigned char)(0xff00u >> rest)) == c->addr[full];
}

static int parse_port(const char *s, size_t len, const char *what, const char *whole, uint16_t *out,
		      struct duress_err *err)
{
	unsigned long n = 0;

	if (!len)
		return USAGE(err, "%s: '%s': expected a port N or a range N-M (1-65535)", what,
			     whole);
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return USAGE(err, "%s: '%s': expected a port N or a range N-M (1-65535)",
				     what, whole);
		n = n * 10 + (unsigned long)(s[i] - '0');
		if (n > 65535)
			return USAGE(err, "%s: '%s': ports go up to 65535", what, whole);
	}
	if (n == 0)
		return USAGE(err, "%s: '%s': port 0 does not exist (1-65535)", what, whole);
	*out = (uint16_t)n;
	return 0;
}

int ns_parse_ports(const char *s, const char *what, uint16_t *lo, uint16_t *hi,
		   struct duress_err *err)
{
	const char *dash = strchr(s, '-');
	uint16_t a, b;

	if (!dash) {
		if (parse_port(s, strlen(s), what, s, &a, err) < 0)
			return -1;
		*lo = *hi = a;
		return 0;
	}
	if (parse_port(s, (size_t)(dash - s), what, s, &a, err) < 0 ||
	    parse_port(dash + 1, strlen(dash + 1), what, s, &b, err) < 0)
		return -1;
	if (a > b)
		return USAGE(err, "%s: '%s': the range is backwards (%u > %u)", what, s, a, b);
	*lo = a;
	*hi = b;
	return 0;
}

size_t ns_port_blocks(uint16_t lo, uint16_t hi, struct ns_port_block *out, size_t max)
{
	uint32_t cur = lo, end = hi;
	size_t n = 0;

	while (cur <= end) {
		uint32_t size = 1;

		/* the largest aligned block starting at cur that fits */
		while (size < 65536 && (cur & (size * 2 - 1)) == 0 && cur + size * 2 - 1 <= end)
			size *= 2;
		if (n < max) {
			out[n].value = (uint16_t)cur;
			out[n].mask = (uint16_t)(0xffffu & ~(size - 1));
		}
		n++;
		cur += size;
	}
	return n;
}

/* ---- probabilities ---- */

uint32_t ns_prob32(double pct)
{
	double v;

	if (!(pct > 0))
		return 0;
	if (pct >= 100)
		return UINT32_MAX;
	v = pct / 100.0 * (double)UINT32_MAX;
	if (v >= (double)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)llround(v);
}

double ns_prob_pct(uint32_t p)
{
	return (double)p * 100.0 / (double)UINT32_MAX;
}

/* ---- delay distributions ---- */

const char *ns_dist_name(enum ns_dist d)
{
	switch (d) {
	case NS_DIST_UNIFORM:
		return "uniform";
	case NS_DIST_NORMAL:
		return "normal";
	case NS_DIST_PARETO:
		return "pareto";
	case NS_DIST_PARETONORMAL:
		return "paretonormal";
	}
	return "?";
}

/* Standard normal quantile by bisection on erfc: exact to double precision. */
static double normal_quantile(double u)
{
	double lo = -40, hi = 40;

	for (int i = 0; i < 200 && hi - lo > 1e-12; i++) {
		double mid = (lo + hi) / 2;

		if (0.5 * erfc(-mid / M_SQRT2) < u)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/* Pareto of shape 3 and scale 1: mean 3/2, standard deviation sqrt(3)/2. */
static double pareto_std_quantile(double u)
{
	return (pow(1.0 - u, -1.0 / 3.0) - 1.5) / (sqrt(3.0) / 2.0);
}

/* x (mean 0, sd 1) scaled by k, rounded, clamped to int16 and centred on 0;
 * returns the standard deviation of the result. */
static double dist_fill(const double *x, size_t n, double k, int16_t *table)
{
	double sum = 0, var = 0, mean;

	for (int pass = 0; pass < 8; pass++) {
		long long shift;

		sum = 0;
		for (size_t i = 0; i < n; i++) {
			double t = pass ? table[i] : x[i] * k * NS_DIST_SCALE;

			if (t > 32767)
				t = 32767;
			if (t < -32767)
				t = -32767;
			table[i] = (int16_t)lround(t);
			sum += table[i];
		}
		/* clamping the long tail moved the mean: centre it on 0 again */
		shift = llround(sum / (double)n);
		if (!shift)
			break;
		for (size_t i = 0; i < n; i++) {
			long long t = table[i] - shift;

			table[i] = (int16_t)(t > 32767 ? 32767 : t < -32767 ? -32767 : t);
		}
	}
	sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += table[i];
	mean = sum / (double)n;
	for (size_t i = 0; i < n; i++)
		var += (table[i] - mean) * (table[i] - mean);
	return sqrt(var / (double)n);
}

int ns_dist_table(enum ns_dist d, int16_t *table, size_t n)
{
	cleanup_free double *x = NULL;
	double mean = 0, var = 0, sd, lo = 1, hi = 4;

	if (d == NS_DIST_UNIFORM || !n)
		return -1;
	x = calloc(n, sizeof(*x));
	if (!x)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double u = ((double)i + 0.5) / (double)n;

		switch (d) {
		case NS_DIST_NORMAL:
			x[i] = normal_quantile(u);
			break;
		case NS_DIST_PARETO:
			x[i] = pareto_std_quantile(u);
			break;
		default:
			x[i] = 0.25 * normal_quantile(u) + 0.75 * pareto_std_quantile(u);
			break;
		}
		mean += x[i];
	}
	mean /= (double)n;
	for (size_t i = 0; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	sd = sqrt(var / (double)n);
	if (!(sd > 0))
		return -1;
	for (size_t i = 0; i < n; i++)
		x[i] = (x[i] - mean) / sd;
	/* the table holds 16 bits, +-4 deviations: a long tail gets cut, which
	 * narrows the law; widen the body until the deviation is one again */
	if (dist_fill(x, n, 1, table) >= NS_DIST_SCALE * 0.999)
		return 0;
	for (int i = 0; i < 40; i++) {
		double k = (lo + hi) / 2;

		if (dist_fill(x, n, k, table) < NS_DIST_SCALE)
			lo = k;
		else
			hi = k;
	}
	dist_fill(x, n, hi, table);
	return 0;
}

/* ---- netem ---- */

uint32_t ns_netem_limit(const struct ns_netem *n)
{
	double pkts;

	if (n->limit)
		return n->limit;
	if (!n->rate_bps)
		return 1000;
	pkts = ceil(((double)n->delay_us / 1e6 + 0.25) * ((double)n->rate_bps / 8.0) / 1500.0);
	if (pkts < 32)
		pkts = 32;
	if (pkts > 1000000)
		pkts = 1000000;
	return (uint32_t)pkts;
}

static void appendf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

static char *fmt_us(uint64_t us, char *buf, size_t len)
{
	if (us && us % 1000000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(us / 1000000));
	else if (us && us % 1000 == 0)
		snprintf(buf, len, "%llums", (unsigned long long)(us / 1000));
	else
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	return buf;
}

char *ns_netem_describe(const struct ns_netem *n, char *buf, size_t len)
{
	char a[32], b[32];

	buf[0] = '\0';
	if (n->delay_us || n->jitter_us) {
		appendf(buf, len, " delay %s", fmt_us(n->delay_us, a, sizeof(a)));
		if (n->jitter_us)
			appendf(buf, len, " jitter %s (%s)", fmt_us(n->jitter_us, b, sizeof(b)),
				ns_dist_name(n->dist));
		if (n->delay_corr > 0)
			appendf(buf, len, " correlation %g%%", n->delay_corr);
	}
	if (n->loss > 0) {
		appendf(buf, len, " loss %g%%", n->loss);
		if (n->loss_corr > 0)
			appendf(buf, len, " (correlation %g%%)", n->loss_corr);
	}
	if (n->duplicate > 0)
		appendf(buf, len, " duplicate %g%%", n->duplicate);
	if (n->corrupt > 0)
		appendf(buf, len, " corrupt %g%%", n->corrupt);
	if (n->reorder > 0)
		appendf(buf, len, " reorder %g%% gap %u", n->reorder, n->gap ? n->gap : 1);
	if (n->rate_bps)
		appendf(buf, len, " rate %s", ns_format_rate(n->rate_bps, a, sizeof(a)));
	appendf(buf, len, " limit %u", ns_netem_limit(n));
	if (buf[0] == ' ')
		memmove(buf, buf + 1, strlen(buf));
	return buf;
}

/* ---- matches and u32 rules ---- */

bool ns_match_all(const struct ns_match *m)
{
	return !m->ncidrs && !m->has_ports && m->proto == NS_PROTO_ANY;
}

static void add_key(struct ns_u32_rule *r, uint32_t val, uint32_t mask, int off)
{
	if (r->nkeys >= NS_U32_MAX_KEYS)
		return;
	r->keys[r->nkeys].val = val & mask;
	r->keys[r->nkeys].mask = mask;
	r->keys[r->nkeys].off = off;
	r->nkeys++;
}

static uint32_t prefix_mask(unsigned bits)
{
	return bits >= 32 ? 0xffffffffu : bits ? ~(0xffffffffu >> bits) : 0;
}

static void add_addr_keys(struct ns_u32_rule *r, const struct ns_cidr *c, bool src)
{
	int base = c->family == AF_INET ? (src ? 12 : 16) : (src ? 8 : 24);
	int words = c->family == AF_INET ? 1 : 4;

	for (int w = 0; w < words; w++) {
		unsigned bits = c->prefix > (unsigned)w * 32 ? c->prefix - (unsigned)w * 32 : 0;
		uint32_t v;

		if (!bits)
			break;
		memcpy(&v, c->addr + w * 4, 4);
		add_key(r, ntohl(v), prefix_mask(bits), base + w * 4);
	}
}

static int proto_number(enum ns_proto p, int family)
{
	switch (p) {
	case NS_PROTO_TCP:
		return 6;
	case NS_PROTO_UDP:
		return 17;
	case NS_PROTO_ICMP:
		return family == AF_INET ? 1 : 58;
	case NS_PROTO_ANY:
		break;
	}
	return 0;
}

static const char *proto_name(enum ns_proto p)
{
	switch (p) {
	case NS_PROTO_TCP:
		return "tcp";
	case NS_PROTO_UDP:
		return "udp";
	case NS_PROTO_ICMP:
		return "icmp";
	case NS_PROTO_ANY:
		break;
	}
	return "any";
}

struct rule_set {
	struct ns_u32_rule *v;
	size_t n, cap;
};

static struct ns_u32_rule *rule_new(struct rule_set *rs, int family)
{
	struct ns_u32_rule *r;

	if (rs->n == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 16;
		struct ns_u32_rule *nv = realloc(rs->v, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		rs->v = nv;
		rs->cap = ncap;
	}
	r = &rs->v[rs->n++];
	memset(r, 0, sizeof(*r));
	r->family = family;
	r->pref = (uint16_t)(NS_PREF_BASE + (family == AF_INET ? 0 : family == AF_INET6 ? 1 : 2));
	return r;
}

/* One family, one address (or none), one protocol (or none): the port
 * variants. */
static int rules_for(struct rule_set *rs, const struct ns_match *m, bool src, int family,
		     const struct ns_cidr *c, enum ns_proto proto)
{
	struct ns_port_block blocks[32];
	size_t nb = m->has_ports ? ns_port_blocks(m->port_lo, m->port_hi, blocks, 32) : 0;
	int variants = m->has_ports ? (int)nb * 2 : 1;
	int pnum = proto_number(proto, family);
	int l4 = family == AF_INET ? 20 : 40;

	for (int v = 0; v < variants; v++) {
		struct ns_u32_rule *r = rule_new(rs, family);
		char cidr[INET6_ADDRSTRLEN + 8];

		if (!r || rs->n > NS_MAX_RULES)
			return -1;
		if (c) {
			add_addr_keys(r, c, src);
			appendf(r->desc, sizeof(r->desc), "%s %s", src ? "src" : "dst",
				ns_format_cidr(c, cidr, sizeof(cidr)));
		} else {
			appendf(r->desc, sizeof(r->desc), "%s", family == AF_INET ? "ip" : "ipv6");
		}
		if (pnum) {
			if (family == AF_INET)
				add_key(r, (uint32_t)pnum << 16, 0x00ff0000u, 8);
			else
				add_key(r, (uint32_t)pnum << 8, 0x0000ff00u, 4);
			appendf(r->desc, sizeof(r->desc), " %s", proto_name(proto));
		}
		if (m->has_ports) {
			const struct ns_port_block *b = &blocks[v / 2];
			bool sport = v % 2 == 0;
			unsigned last = b->value + (uint16_t)~b->mask;

			if (family == AF_INET) {
				/* ports sit at offset 20 only without IP options, and only
				 * in the first fragment */
				add_key(r, 0x05000000u, 0x0f000000u, 0);
				add_key(r, 0, 0x00001fffu, 4);
			}
			if (sport)
				add_key(r, (uint32_t)b->value << 16, (uint32_t)b->mask << 16, l4);
			else
				add_key(r, b->value, b->mask, l4);
			if (last != b->value)
				appendf(r->desc, sizeof(r->desc), " %s %u-%u",
					sport ? "sport" : "dport", b->value, last);
			else
				appendf(r->desc, sizeof(r->desc), " %s %u",
					sport ? "sport" : "dport", b->value);
		}
	}
	return 0;
}

int ns_match_rules(const struct ns_match *m, bool peer_is_src, struct ns_u32_rule **out,
		   struct duress_err *err)
{
	struct rule_set rs = { 0 };
	enum ns_proto protos[2];
	int nprotos = 0;

	*out = NULL;
	if (m->proto == NS_PROTO_ICMP && m->has_ports)
		return USAGE(err, "--port: ICMP has no ports (--protocol icmp)");
	if (ns_match_all(m)) {
		struct ns_u32_rule *r = rule_new(&rs, AF_UNSPEC);

		if (!r)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "u32 rules");
		add_key(r, 0, 0, 0);
		snprintf(r->desc, sizeof(r->desc), "every packet");
		*out = rs.v;
		return 1;
	}
	if (m->proto != NS_PROTO_ANY)
		protos[nprotos++] = m->proto;
	else if (m->has_ports) {
		protos[nprotos++] = NS_PROTO_TCP;
		protos[nprotos++] = NS_PROTO_UDP;
	} else {
		protos[nprotos++] = NS_PROTO_ANY;
	}
	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;

		for (int p = 0; p < nprotos; p++) {
			int rc = 0;

			if (m->ncidrs) {
				for (size_t i = 0; i < m->ncidrs && !rc; i++)
					if (m->cidrs[i].family == family)
						rc = rules_for(&rs, m, peer_is_src, family,
							       &m->cidrs[i], protos[p]);
			} else {
				rc = rules_for(&rs, m, peer_is_src, family, NULL, protos[p]);
			}
			if (rc < 0) {
				free(rs.v);
				if (rs.n > NS_MAX_RULES)
					return USAGE(err,
						     "--to/--port: this selection needs more than "
						     "%d u32 filters; use fewer addresses or a "
						     "narrower port range",
						     NS_MAX_RULES);
				return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM,
						       "u32 rules");
			}
		}
	}
	*out = rs.v;
	return (int)rs.n;
}

bool ns_match_covers_tcp(const struct ns_match *m, int family, const unsigned char *peer,
			 uint16_t peer_port, uint16_t local_port)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	bool addr_ok = !m->ncidrs;

	if (family == AF_INET6 && !memcmp(peer, v4mapped, 12)) {
		family = AF_INET;
		peer += 12;
	}
	if (m->proto == NS_PROTO_UDP || m->proto == NS_PROTO_ICMP)
		return false;
	for (size_t i = 0; i < m->ncidrs && !addr_ok; i++)
		if (m->cidrs[i].family == family && ns_cidr_contains(&m->cidrs[i], peer))
			addr_ok = true;
	if (!addr_ok)
		return false;
	if (m->has_ports)
		return (peer_port >= m->port_lo && peer_port <= m->port_hi) ||
		       (local_port >= m->port_lo && local_port <= m->port_hi);
	return true;
}

/* ---- qdisc kinds ---- */

bool ns_kind_copyable(const char *kind)
{
	static const char *const kinds[] = { "fq_codel", "codel", "fq",		"sfq",
					     "pfifo",	 "bfifo", "pfifo_fast", "tbf",
					     "cake",	 "pie",	  "fq_pie",	"red" };

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(kinds); i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

/* ---- handles ---- */

char *ns_handle_str(uint32_t h, char *buf, size_t len)
{
	if (h == NS_H_ROOT)
		snprintf(buf, len, "root");
	else if (h == NS_H_INGRESS)
		snprintf(buf, len, "ingress");
	else if (h & 0xffff)
		snprintf(buf, len, "%x:%x", h >> 16, h & 0xffff);
	else
		snprintf(buf, len, "%x:", h >> 16);
	return buf;
}

static int hex16(const char *s, size_t len, uint32_t *out)
{
	uint32_t v = 0;

	if (len > 4)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -1;
		v = v * 16 + (uint32_t)(isdigit((unsigned char)s[i])
						? s[i] - '0'
						: tolower((unsigned char)s[i]) - 'a' + 10);
	}
	*out = v;
	return 0;
}

int ns_handle_parse(const char *s, uint32_t *h)
{
	const char *colon = strchr(s, ':');
	uint32_t maj = 0, min = 0;

	if (!strcmp(s, "root")) {
		*h = NS_H_ROOT;
		return 0;
	}
	if (!strcmp(s, "ingress")) {
		*h = NS_H_INGRESS;
		return 0;
	}
	if (!colon || colon == s || hex16(s, (size_t)(colon - s), &maj) < 0)
		return -1;
	if (colon[1] && hex16(colon + 1, strlen(colon + 1), &min) < 0)
		return -1;
	*h = NS_H(maj, min);
	return 0;
}

/* ---- saved qdiscs ---- */

void ns_saved_free(struct ns_saved *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->q[i].attrs);
	memset(s, 0, sizeof(*s));
}

int ns_saved_format(const struct ns_saved *s, char **text, struct duress_err *err)
{
	size_t cap = 16, len = 0;
	char *out;

	if (s->none || !s->n) {
		*text = strdup("none");
		return *text ? 0
			     : duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "saved qdisc");
	}
	for (size_t i = 0; i < s->n; i++)
		cap += 64 + NS_KIND_MAX + s->q[i].attrs_len * 2;
	out = malloc(cap);
	if (!out)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "saved qdisc");
	for (size_t i = 0; i < s->n; i++) {
		const struct ns_saved_qdisc *q = &s->q[i];
		char p[16], h[16];

		len += (size_t)snprintf(out + len, cap - len,
					"%sparent=%s handle=%s kind=%s attrs=", i ? "; " : "",
					ns_handle_str(q->parent, p, sizeof(p)),
					ns_handle_str(q->handle, h, sizeof(h)), q->kind);
		for (size_t j = 0; j < q->attrs_len; j++)
			len += (size_t)snprintf(out + len, cap - len, "%02x", q->attrs[j]);
	}
	*text = out;
	return 0;
}

static int bad_saved(struct duress_err *err, const char *text, const char *why)
{
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL, "saved qdisc '%.80s': %s", text,
			       why);
}

static int parse_entry(char *e, struct ns_saved_qdisc *q, const char *text, struct duress_err *err)
{
	bool have_parent = false, have_handle = false, have_kind = false, have_attrs = false;
	char *save = NULL;

	for (char *tok = strtok_r(e, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		const char *v;

		if (!eq)
			return bad_saved(err, text, "expected key=value");
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(tok, "parent")) {
			if (ns_handle_parse(v, &q->parent) < 0)
				return bad_saved(err, text, "bad parent");
			have_parent = true;
		} else if (!strcmp(tok, "handle")) {
			if (ns_handle_parse(v, &q->handle) < 0)
				return bad_saved(err, text, "bad handle");
			have_handle = true;
		} else if (!strcmp(tok, "kind")) {
			size_t n = strlen(v);

			if (!n || n >= sizeof(q->kind))
				return bad_saved(err, text, "bad kind");
			for (size_t i = 0; i < n; i++)
				if (!isalnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '-')
					return bad_saved(err, text, "bad kind");
			memcpy(q->kind, v, n + 1);
			have_kind = true;
		} else if (!strcmp(tok, "attrs")) {
			size_t n = strlen(v);

			if (n % 2)
				return bad_saved(err, text, "odd number of hex digits");
			q->attrs_len = n / 2;
			q->attrs = malloc(q->attrs_len ? q->attrs_len : 1);
			if (!q->attrs)
				return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM,
						       "saved qdisc");
			for (size_t i = 0; i < q->attrs_len; i++) {
				uint32_t b;

				if (hex16(v + 2 * i, 2, &b) < 0)
					return bad_saved(err, text, "bad hex in attrs");
				q->attrs[i] = (unsigned char)b;
			}
			have_attrs = true;
		} else {
			return bad_saved(err, text, "unknown key");
		}
	}
	if (!have_parent || !have_handle || !have_kind || !have_attrs)
		return bad_saved(err, text, "an entry needs parent, handle, kind and attrs");
	return 0;
}

int ns_saved_parse(const char *text, struct ns_saved *s, struct duress_err *err)
{
	cleanup_free char *copy = strdup(text);
	char *save = NULL;

	memset(s, 0, sizeof(*s));
	if (!copy)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "saved qdisc");
	if (!strcmp(text, "none")) {
		s->none = true;
		return 0;
	}
	for (char *e = strtok_r(copy, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
		while (*e == ' ')
			e++;
		if (!*e)
			continue;
		if (s->n >= NS_SAVED_MAX) {
			ns_saved_free(s);
			return bad_saved(err, text, "too many entries");
		}
		if (parse_entry(e, &s->q[s->n++], text, err) < 0) {
			ns_saved_free(s);
			return -1;
		}
	}
	if (!s->n)
		return bad_saved(err, text, "empty");
	return 0;
}

char *ns_saved_describe(const struct ns_saved *s, char *buf, size_t len)
{
	char h[16];

	if (s->none || !s->n) {
		snprintf(buf, len, "none");
		return buf;
	}
	if (s->q[0].handle == 0)
		snprintf(buf, len, "the kernel's default (%s)", s->q[0].kind);
	else
		snprintf(buf, len, "%s %s", s->q[0].kind,
			 ns_handle_str(s->q[0].handle, h, sizeof(h)));
	if (s->n > 1)
		appendf(buf, len, " with %zu child qdisc%s", s->n - 1, s->n > 2 ? "s" : "");
	return buf;
}

uint32_t ns_codel_us_replay(uint32_t dumped_us)
{
	/* the kernel holds c = us * 1000 / 1024 (rounded down) and reports
	 * c * 1024 / 1000 (rounded down): find c, then the smallest us for it */
	uint64_t c = ((uint64_t)dumped_us * 1000 + 1023) / 1024;
	uint64_t us;

	if (c * 1024 / 1000 != dumped_us)
		return dumped_us;
	us = (c * 1024 + 999) / 1000;
	if (us * 1000 / 1024 != c || us > UINT32_MAX)
		return dumped_us;
	return (uint32_t)us;
}

/* ---- namespace references ---- */

int ns_ref_parse(const char *ref, pid_t *pid, unsigned long long *ino)
{
	int p, n = 0;
	unsigned long long i;

	if (sscanf(ref, "/proc/%d/ns/net@%llu%n", &p, &i, &n) != 2 || ref[n] || p <= 0 || !i)
		return -1;
	*pid = p;
	*ino = i;
	return 0;
}

void ns_ifb_name(pid_t pid, int ifindex, char *buf, size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), NS_IFB_PREFIX "%x.%x", (unsigned)pid, (unsigned)ifindex);
	if (strlen(name) >= IF_NAMESIZE)
		snprintf(name, sizeof(name), NS_IFB_PREFIX "%08x",
			 ((unsigned)pid * 2654435761u) ^ (unsigned)ifindex);
	snprintf(buf, len, "%s", name);
}
