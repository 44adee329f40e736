/* SPDX-License-Identifier: MIT */
/*
 * Pure helpers of the network fault (agent/net/netparse.c): our handles and
 * filter priorities, rates, CIDRs, ports, probabilities, delay distribution
 * tables, netem parameters, u32 keys, the saved-qdisc text of a "qdisc"
 * undo record, namespace references and ifb names.  No netlink, no kernel:
 * unit-tested in tests/unit/test_netshape.c.
 */
#ifndef DURESS_NETPARSE_H
#define DURESS_NETPARSE_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <duress/core/error.h>

/* ---- our handles and filter priorities ---- */

#define NS_MAJ_ROOT 0xd5a0u  /* our root: netem, or prio when filtered */
#define NS_MAJ_NETEM 0xd5a1u /* netem on the prio's shaped band */
#define NS_MAJ_INNER 0xd5a2u /* copy of the original qdisc for the rest */
#define NS_MAJ_LAST 0xd5afu  /* majors NS_MAJ_ROOT..NS_MAJ_LAST are ours */
#define NS_PREF_BASE 0xd5a0u /* u32 filters: +0 IPv4, +1 IPv6, +2 all */
#define NS_IFB_PREFIX "drs"  /* ifb devices: drs<agent pid hex>.<ifindex hex> */

#define NS_H(maj, min) (((uint32_t)(maj) << 16) | ((uint32_t)(min)&0xffffu))
#define NS_H_ROOT 0xffffffffu
#define NS_H_INGRESS 0xfffffff1u
#define NS_H_CLSACT_INGRESS 0xfffffff2u

/* ---- parsers ---- */

/*
 * A bandwidth: number (decimals allowed) with a unit, in bits per second
 * out.  Bits: bit, kbit, mbit, gbit, tbit (powers of 1000), kibit, mibit,
 * gibit (1024), optionally "/s", any case ("1Mbit", "512kbit", "1.5gbit/s");
 * "Mb/s" style (lower-case b) is bits too.  Bytes: B/s, KB/s, MB/s, GB/s
 * (1000), KiB/s, MiB/s, GiB/s (1024), with an upper-case B.  "kbps" and
 * friends are refused as ambiguous; a bare number needs a unit.  At least
 * 8 bit/s (one byte per second); `what` names the option.
 */
int ns_parse_rate(const char *s, const char *what, uint64_t *bps, struct duress_err *err);
/* "1mbit", "512kbit", "1.5gbit", "100bit": exact when possible.  Returns buf. */
char *ns_format_rate(uint64_t bps, char *buf, size_t len);

struct ns_cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order, host bits cleared */
	unsigned prefix;	/* 0..32 or 0..128 */
};

/* "10.0.0.1", "10.0.0.0/8", "fd00::1", "2001:db8::/32".  Host bits beyond
 * the prefix are cleared. */
int ns_parse_cidr(const char *s, const char *what, struct ns_cidr *out, struct duress_err *err);
/* "10.0.0.0/8".  Returns buf. */
char *ns_format_cidr(const struct ns_cidr *c, char *buf, size_t len);
/* Is addr (network order, of c->family) inside c? */
bool ns_cidr_contains(const struct ns_cidr *c, const unsigned char *addr);

/* "53" or "8000-8100": 1..65535, lo <= hi. */
int ns_parse_ports(const char *s, const char *what, uint16_t *lo, uint16_t *hi,
		   struct duress_err *err);

/*
 * Split [lo, hi] into aligned blocks that each match with one (value, mask)
 * pair on 16 bits.  Returns how many blocks there are (at most 32); writes
 * up to max of them.
 */
struct ns_port_block {
	uint16_t value, mask;
};
size_t ns_port_blocks(uint16_t lo, uint16_t hi, struct ns_port_block *out, size_t max);

/* A percentage 0..100 as netem's u32 probability (0 .. UINT32_MAX): no
 * overflow above 50%, 100% is always. */
uint32_t ns_prob32(double pct);
/* Back to a percentage (for plans and reports). */
double ns_prob_pct(uint32_t p);

/* ---- netem parameters ---- */

enum ns_dist {
	NS_DIST_UNIFORM, /* netem without a table */
	NS_DIST_NORMAL,
	NS_DIST_PARETO,
	NS_DIST_PARETONORMAL,
};

#define NS_DIST_SIZE 4096  /* entries of our tables */
#define NS_DIST_SCALE 8192 /* netem: one standard deviation */

/*
 * Fill a delay distribution table: NS_DIST_SIZE quantiles of the law,
 * standardised (mean 0, standard deviation NS_DIST_SCALE) in int16, as
 * netem reads them (delay = mu + sigma * table[random] / NS_DIST_SCALE).
 * Normal: exact quantiles (via erfc); pareto: shape 3; paretonormal: 1/4
 * normal + 3/4 pareto, quantile by quantile.  16 bits hold +-4 deviations:
 * a long tail is cut there, and the body is widened until the deviation is
 * one again, so --jitter stays the standard deviation for every law.
 * Computed here: no table files needed.  Returns 0, or -1 for
 * NS_DIST_UNIFORM (no table).
 */
int ns_dist_table(enum ns_dist d, int16_t *table, size_t n);
const char *ns_dist_name(enum ns_dist d);

struct ns_netem {
	uint64_t delay_us, jitter_us;
	double delay_corr; /* percent */
	enum ns_dist dist;
	double loss, loss_corr;	   /* percent */
	double duplicate, corrupt; /* percent */
	double reorder;		   /* percent; needs a delay */
	uint32_t gap;		   /* reorder gap, 0: 1 when reorder is set */
	uint64_t rate_bps;	   /* bits per second, 0: none */
	uint32_t limit;		   /* packets; 0: computed (ns_netem_limit) */
};

/* netem's queue limit for a spec: 1000 packets, or with a rate enough for
 * the delay plus 250 ms of backlog at that rate (at least 32 packets). */
uint32_t ns_netem_limit(const struct ns_netem *n);
/* "delay 100ms jitter 10ms (normal) loss 5% rate 1mbit limit 1000". */
char *ns_netem_describe(const struct ns_netem *n, char *buf, size_t len);

/* ---- which traffic ---- */

enum ns_proto {
	NS_PROTO_ANY,
	NS_PROTO_TCP,
	NS_PROTO_UDP,
	NS_PROTO_ICMP,
};

#define NS_MATCH_MAX_CIDRS 64

struct ns_match {
	struct ns_cidr cidrs[NS_MATCH_MAX_CIDRS];
	size_t ncidrs; /* 0: any address */
	bool has_ports;
	uint16_t port_lo, port_hi; /* either end of the connection */
	enum ns_proto proto;
};

/* Matches every packet (no --to, --port, --protocol). */
bool ns_match_all(const struct ns_match *m);

/* One u32 filter: keys are ANDed, in host byte order, offsets from the
 * network header. */
struct ns_u32_key {
	uint32_t val, mask;
	int off;
};

#define NS_U32_MAX_KEYS 8

struct ns_u32_rule {
	int family;    /* AF_INET, AF_INET6, or AF_UNSPEC (every packet) */
	uint16_t pref; /* filter priority: NS_PREF_BASE + 0/1/2 */
	struct ns_u32_key keys[NS_U32_MAX_KEYS];
	int nkeys;
	char desc[128]; /* "dst 10.0.0.0/8 tcp dport 53" */
};

#define NS_MAX_RULES 512

/*
 * The u32 filters for a match: the peer address is the destination on
 * egress and the source on ingress (peer_is_src).  Ports match either
 * end (one filter for the source port, one for the destination port);
 * ports without a protocol mean TCP and UDP; icmp means ICMP and ICMPv6.
 * Returns the number of rules (malloc'd in *out) or < 0 (usage error when
 * more than NS_MAX_RULES would be needed).
 */
int ns_match_rules(const struct ns_match *m, bool peer_is_src, struct ns_u32_rule **out,
		   struct duress_err *err);

/* Does a TCP connection (peer address/port, local port) fall under m?
 * For the self-lockout guard. */
bool ns_match_covers_tcp(const struct ns_match *m, int family, const unsigned char *peer,
			 uint16_t peer_port, uint16_t local_port);

/* ---- saved qdiscs: the text of a "qdisc" undo record ---- */

#define NS_SAVED_MAX 32
#define NS_KIND_MAX 32

struct ns_saved_qdisc {
	uint32_t parent, handle; /* handle 0: the kernel's default */
	char kind[NS_KIND_MAX];
	unsigned char *attrs; /* raw netlink attributes but TCA_KIND, malloc'd */
	size_t attrs_len;
};

struct ns_saved {
	bool none; /* nothing there (ingress): delete ours */
	size_t n;  /* [0] is the root (or the ingress) */
	struct ns_saved_qdisc q[NS_SAVED_MAX];
};

/*
 * Text form, one line:
 *   "none"
 *   "parent=root handle=8001: kind=fq_codel attrs=0800010088130000...;
 *    parent=8001:1 handle=8002: kind=pfifo attrs=..."
 * Returns a malloc'd string in *text.
 */
int ns_saved_format(const struct ns_saved *s, char **text, struct duress_err *err);
int ns_saved_parse(const char *text, struct ns_saved *s, struct duress_err *err);
void ns_saved_free(struct ns_saved *s);
/* "fq_codel 8001: (+2 children)", "the default (noqueue)", "none". */
char *ns_saved_describe(const struct ns_saved *s, char *buf, size_t len);

/* Classless kinds (and tbf) that we copy under our qdisc, so that the
 * traffic we do not shape keeps the link's own discipline. */
bool ns_kind_copyable(const char *kind);

/* "root", "ingress", "8001:", "8001:1". */
char *ns_handle_str(uint32_t h, char *buf, size_t len);
int ns_handle_parse(const char *s, uint32_t *h);

/*
 * codel keeps its times in 1024 ns units and reports them rounded down
 * to microseconds: the microseconds to send so that the kernel holds the
 * same value again (fq_codel and codel target, interval, ce_threshold).
 */
uint32_t ns_codel_us_replay(uint32_t dumped_us);

/* A namespace reference "/proc/<pid>/ns/net@<inode>" (netshape_ref_make). */
int ns_ref_parse(const char *ref, pid_t *pid, unsigned long long *ino);

/* ifb name for (agent pid, ifindex): "drs1a2b.3". */
void ns_ifb_name(pid_t pid, int ifindex, char *buf, size_t len);

#endif
