// SPDX-License-Identifier: MIT
/*
 * network: shape the traffic of the target's network namespace with netem
 * (delay, jitter, loss, duplication, corruption, reordering, a rate),
 * optionally only towards some addresses, ports or a protocol (prio + u32
 * filters), on egress, ingress (an ifb device and a mirred redirect) or
 * both.  Presets: --partition, --dns-outage; --partition --reject refuses
 * instead of dropping (an nftables table of ours: TCP resets, ICMP port
 * unreachable), so clients fail at once.  Programmed over netlink
 * (agent/net/netshape.c), never by running tc; what was there is saved and
 * put back exactly.  See docs/faults/network.md.
 */
#include <duress/net/netundo.h>
#include <duress/core/timing.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/net/netshape.h>
#include <duress/net/nft.h>
#include <duress/net/qdisc.h>
#include <duress/core/parse.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NET_MAX_DEVS 16
#define NET_STATS_EVERY_US 1000000
#define NET_MAX_DELAY_US (60ULL * 1000000)

static const char *const dist_choices[] = { "uniform", "normal", "pareto", "paretonormal", NULL };
static const char *const proto_choices[] = { "tcp", "udp", "icmp", NULL };
static const char *const dir_choices[] = { "egress", "ingress", "both", NULL };

static const struct fault_opt net_opts[] = {
	{ .name = "delay",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "add DUR of latency to every packet (netem), e.g. 100ms" },
	{ .name = "jitter",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "vary the delay by DUR (uniform: +-DUR; other laws: standard deviation)" },
	{ .name = "correlation",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "how much each packet's delay follows the previous one's" },
	{ .name = "distribution",
	  .type = FOPT_ENUM,
	  .metavar = "LAW",
	  .choices = dist_choices,
	  .help = "law of the jitter: uniform (default), normal, pareto, paretonormal" },
	{ .name = "loss",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "drop PCT of the packets" },
	{ .name = "loss-correlation",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "how much each loss follows the previous one (bursts)" },
	{ .name = "duplicate",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "send PCT of the packets twice" },
	{ .name = "corrupt",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "flip a random bit in PCT of the packets" },
	{ .name = "reorder",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "send PCT of the packets at once, ahead of the delayed ones (needs --delay)" },
	{ .name = "gap",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .max = 4294967295.0,
	  .help = "reorder: only every Nth packet may jump ahead (default 1)" },
	{ .name = "rate",
	  .type = FOPT_STRING,
	  .metavar = "RATE",
	  .help = "limit the bandwidth: 1mbit, 512kbit, 10MB/s (netem rate)" },
	{ .name = "device",
	  .type = FOPT_LIST,
	  .metavar = "IFACE",
	  .help = "interface to shape, repeatable (default: every interface up but lo)" },
	{ .name = "to",
	  .type = FOPT_LIST,
	  .metavar = "CIDR",
	  .help = "shape only traffic with these peers, repeatable (IPv4 and IPv6)" },
	{ .name = "port",
	  .type = FOPT_STRING,
	  .metavar = "N[-M]",
	  .help = "shape only traffic with this port (or range) at either end" },
	{ .name = "protocol",
	  .type = FOPT_ENUM,
	  .metavar = "PROTO",
	  .choices = proto_choices,
	  .help = "shape only tcp, udp or icmp (ICMP and ICMPv6)" },
	{ .name = "direction",
	  .type = FOPT_ENUM,
	  .metavar = "DIR",
	  .choices = dir_choices,
	  .help = "egress (default), ingress (through an ifb device) or both" },
	{ .name = "partition",
	  .type = FOPT_FLAG,
	  .help = "drop all traffic with the --to peers (or all traffic), both directions" },
	{ .name = "dns-outage",
	  .type = FOPT_FLAG,
	  .help = "drop DNS: UDP and TCP port 53 (to the --to servers, if given)" },
	{ .name = "reject",
	  .type = FOPT_FLAG,
	  .help = "with --partition: refuse instead of dropping (TCP gets a reset, the rest an "
		  "ICMP port unreachable), so connections fail at once rather than time out" },
};

struct net_counters {
	uint64_t tx_packets, rx_packets, tx_dropped, rx_dropped;
	double t; /* CLOCK_MONOTONIC seconds */
	bool set;
};

struct net_dev {
	struct ns_link link;
	struct ns_saved root; /* egress: what the root was at plan time */
	enum ns_ingress_state ing;
	uint32_t ing_parent;
	char ifb[IF_NAMESIZE];
	int ifb_ifindex;
	bool egress_done, ingress_done;
	struct net_counters at_plan, at_apply, last;
	struct ns_qdisc eg_stats, in_stats;
	bool has_eg_stats, has_in_stats;
};

struct net_priv {
	struct ns_netem netem;
	struct ns_match match;
	bool egress, ingress, filtered;
	struct ns_u32_rule *eg_rules, *in_rules;
	size_t n_eg, n_in;
	struct netshape *ns;
	char ref[PATH_MAX];
	struct net_dev devs[NET_MAX_DEVS];
	size_t ndevs;
	uint64_t last_stats_us;
	bool stats_started;
	char last_error[256];
	/* --partition --reject: an nftables table instead of netem */
	bool reject;
	struct nft *nft;
	char table[NFT_NAME_MAX];
};

/* ---- validate: options alone ---- */

static bool set(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set;
}

static int check_presets(struct fault *f, struct duress_err *err)
{
	static const char *const netem_opts[] = { "delay",	  "jitter",  "correlation",
						  "distribution", "loss",    "loss-correlation",
						  "duplicate",	  "corrupt", "reorder",
						  "gap",	  "rate" };
	const char *preset = set(f, "partition") ? "--partition" : "--dns-outage";

	if (set(f, "partition") && set(f, "dns-outage"))
		return fault_usage(err, "--partition and --dns-outage exclude each other");
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(netem_opts); i++)
		if (set(f, netem_opts[i]))
			return fault_usage(
				err,
				"%s drops every packet it matches: --%s makes no sense with it",
				preset, netem_opts[i]);
	if (set(f, "dns-outage") && (set(f, "port") || set(f, "protocol")))
		return fault_usage(err,
				   "--dns-outage chooses the port (53) and protocols (udp, tcp) "
				   "itself: drop --%s",
				   set(f, "port") ? "port" : "protocol");
	if (set(f, "reject")) {
		static const char *const not_with[] = { "port", "protocol", "device", "direction" };

		if (!set(f, "partition"))
			return fault_usage(
				err, "--reject changes how --partition cuts: give --partition");
		for (size_t i = 0; i < DURESS_ARRAY_SIZE(not_with); i++)
			if (set(f, not_with[i]))
				return fault_usage(err,
						   "--partition --reject cuts all traffic with the "
						   "--to peers, both ways, on every interface: "
						   "drop --%s",
						   not_with[i]);
	}
	return 0;
}

static int net_validate(struct fault *f, struct duress_err *err)
{
	struct net_priv *p = f->priv;
	const struct fault_val *v;
	bool preset = set(f, "partition") || set(f, "dns-outage");
	int r;

	if (set(f, "reject") && !preset)
		return fault_usage(err, "--reject changes how --partition cuts: give --partition");
	if (preset && check_presets(f, err) < 0)
		return -1;
	p->reject = set(f, "reject");
	if (set(f, "jitter") && !set(f, "delay"))
		return fault_usage(err, "--jitter needs --delay: it varies the delay");
	if (set(f, "correlation") && !set(f, "delay"))
		return fault_usage(err, "--correlation needs --delay (it correlates the delays)");
	if (set(f, "distribution") && !set(f, "jitter"))
		return fault_usage(err, "--distribution shapes the jitter: give --jitter too");
	if (set(f, "loss-correlation") && !set(f, "loss"))
		return fault_usage(err, "--loss-correlation needs --loss");
	if (set(f, "reorder") && (!set(f, "delay") || !fault_opt(f, "delay")->u))
		return fault_usage(
			err, "--reorder needs --delay: netem reorders by sending some packets "
			     "at once while the others wait out the delay");
	if (set(f, "gap") && !set(f, "reorder"))
		return fault_usage(err, "--gap needs --reorder");
	if (!preset && !set(f, "delay") && !set(f, "loss") && !set(f, "duplicate") &&
	    !set(f, "corrupt") && !set(f, "reorder") && !set(f, "rate"))
		return fault_usage(err,
				   "network: nothing to do: give --delay, --loss, --duplicate, "
				   "--corrupt, --reorder, --rate, --partition or --dns-outage");
	v = fault_opt(f, "delay");
	p->netem.delay_us = v->u;
	if (v->set && v->u > NET_MAX_DELAY_US)
		return fault_usage(err, "--delay: at most 60s");
	v = fault_opt(f, "jitter");
	if (v->set && v->u > NET_MAX_DELAY_US)
		return fault_usage(err, "--jitter: at most 60s");
	p->netem.jitter_us = v->u;
	p->netem.delay_corr = fault_opt(f, "correlation")->d;
	v = fault_opt(f, "distribution");
	p->netem.dist = NS_DIST_UNIFORM;
	if (v->set)
		p->netem.dist = v->choice == 1	 ? NS_DIST_NORMAL
				: v->choice == 2 ? NS_DIST_PARETO
				: v->choice == 3 ? NS_DIST_PARETONORMAL
						 : NS_DIST_UNIFORM;
	p->netem.loss = fault_opt(f, "loss")->d;
	p->netem.loss_corr = fault_opt(f, "loss-correlation")->d;
	p->netem.duplicate = fault_opt(f, "duplicate")->d;
	p->netem.corrupt = fault_opt(f, "corrupt")->d;
	p->netem.reorder = fault_opt(f, "reorder")->d;
	p->netem.gap = (uint32_t)fault_opt(f, "gap")->u;
	v = fault_opt(f, "rate");
	if (v->set && ns_parse_rate(v->s, "--rate", &p->netem.rate_bps, err) < 0)
		return -1;
	if (preset)
		p->netem.loss = 100;

	/* which traffic */
	v = fault_opt(f, "to");
	if (v->nlist > NS_MATCH_MAX_CIDRS)
		return fault_usage(err, "--to: at most %d addresses", NS_MATCH_MAX_CIDRS);
	for (size_t i = 0; i < v->nlist; i++)
		if (ns_parse_cidr(v->list[i], "--to", &p->match.cidrs[p->match.ncidrs++], err) < 0)
			return -1;
	v = fault_opt(f, "port");
	if (v->set) {
		if (ns_parse_ports(v->s, "--port", &p->match.port_lo, &p->match.port_hi, err) < 0)
			return -1;
		p->match.has_ports = true;
	}
	v = fault_opt(f, "protocol");
	if (v->set)
		p->match.proto = v->choice == 0	  ? NS_PROTO_TCP
				 : v->choice == 1 ? NS_PROTO_UDP
						  : NS_PROTO_ICMP;
	if (p->match.proto == NS_PROTO_ICMP && p->match.has_ports)
		return fault_usage(err, "--port: ICMP has no ports (--protocol icmp)");
	if (set(f, "dns-outage")) {
		p->match.has_ports = true;
		p->match.port_lo = p->match.port_hi = 53;
	}
	v = fault_opt(f, "device");
	if (v->nlist > NET_MAX_DEVS)
		return fault_usage(err, "--device: at most %d interfaces", NET_MAX_DEVS);
	for (size_t i = 0; i < v->nlist; i++) {
		size_t n = strlen(v->list[i]);

		if (!n || n >= IF_NAMESIZE || strpbrk(v->list[i], "/ \t:"))
			return fault_usage(err, "--device: '%s' is not an interface name",
					   v->list[i]);
	}
	v = fault_opt(f, "direction");
	if (v->set) {
		p->egress = v->choice != 1;
		p->ingress = v->choice != 0;
	} else {
		p->egress = true;
		p->ingress = set(f, "partition"); /* a partition cuts both ways */
	}
	p->filtered = !ns_match_all(&p->match);
	if (p->filtered) {
		r = ns_match_rules(&p->match, false, &p->eg_rules, err);
		if (r < 0)
			return -1;
		p->n_eg = (size_t)r;
	}
	r = ns_match_rules(&p->match, true, &p->in_rules, err);
	if (r < 0)
		return -1;
	p->n_in = (size_t)r;
	return 0;
}

static int net_supported(struct fault *f, struct duress_err *err)
{
	struct net_priv *p = f->priv;

	if (f->target->netns_fd < 0 || f->target->pid <= 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "network: the target has no process, hence no network "
				       "namespace to shape");
	if (p->reject)
		return nft_probe(false, true, err) < 0
			       ? duress_err_wrap(err,
						 "network: --reject needs nftables with reject")
			       : 0;
	return qdisc_probe(p->filtered && p->egress, p->ingress, err);
}

/* ---- plan ---- */

static int read_counters(struct net_priv *p, struct duress_err *err, int which)
{
	cleanup_free struct ns_link *links = NULL;
	size_t n;
	double now = timing_now();

	if (netshape_links(p->ns, &links, &n, err) < 0)
		return -1;
	for (size_t d = 0; d < p->ndevs; d++) {
		struct net_dev *dev = &p->devs[d];
		struct net_counters *c = which == 0   ? &dev->at_plan
					 : which == 1 ? &dev->at_apply
						      : &dev->last;

		for (size_t i = 0; i < n; i++) {
			if (links[i].ifindex != dev->link.ifindex)
				continue;
			c->tx_packets = links[i].tx_packets;
			c->rx_packets = links[i].rx_packets;
			c->tx_dropped = links[i].tx_dropped;
			c->rx_dropped = links[i].rx_dropped;
			c->t = now;
			c->set = true;
		}
	}
	return 0;
}

static bool is_our_ifb(const struct ns_link *l)
{
	return !strcmp(l->kind, "ifb") && !strncmp(l->name, NS_IFB_PREFIX, strlen(NS_IFB_PREFIX));
}

static int pick_devices(struct fault *f, struct net_priv *p, struct duress_err *err)
{
	const struct fault_val *v = fault_opt(f, "device");
	cleanup_free struct ns_link *links = NULL;
	char have[512] = "";
	size_t n;

	if (netshape_links(p->ns, &links, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(have);

		snprintf(have + len, sizeof(have) - len, "%s%s", len ? ", " : "", links[i].name);
	}
	if (v->nlist) {
		for (size_t k = 0; k < v->nlist; k++) {
			bool found = false;

			for (size_t i = 0; i < n && !found; i++) {
				if (strcmp(links[i].name, v->list[k]))
					continue;
				found = true;
				for (size_t d = 0; d < p->ndevs; d++)
					if (p->devs[d].link.ifindex == links[i].ifindex)
						return fault_usage(err, "--device %s given twice",
								   v->list[k]);
				p->devs[p->ndevs++].link = links[i];
			}
			if (!found)
				return fault_usage(
					err,
					"--device: no interface '%s' in the target's network "
					"namespace (it has: %s)",
					v->list[k], have);
		}
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if ((links[i].flags & IFF_LOOPBACK) || !(links[i].flags & IFF_UP) ||
		    is_our_ifb(&links[i]))
			continue;
		if (p->ndevs >= NET_MAX_DEVS)
			return fault_usage(
				err,
				"network: more than %d interfaces are up in the target's "
				"namespace: name some with --device",
				NET_MAX_DEVS);
		p->devs[p->ndevs++].link = links[i];
	}
	if (!p->ndevs)
		return duress_err_setc(
			err, DURESS_EXIT_UNSUPPORTED, 0,
			"network: the target's network namespace has no interface up "
			"but lo (it has: %s); name one with --device (lo only that way)",
			have);
	return 0;
}

/* An established TCP connection with local port 22 (an SSH session). */
struct tcp_conn {
	int family;
	unsigned char peer[16];
	uint16_t peer_port, local_port;
};

static size_t ssh_sessions(pid_t pid, struct tcp_conn *out, size_t max)
{
	static const char *const files[] = { "tcp", "tcp6" };
	size_t n = 0;

	for (size_t k = 0; k < 2; k++) {
		char path[64], line[512];
		cleanup_fclose FILE *fp = NULL;

		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, files[k]);
		fp = fopen(path, "re");
		while (fp && fgets(line, sizeof(line), fp)) {
			char la[40], ra[40];
			unsigned lp, rp, st;
			struct tcp_conn c = { .family = k ? AF_INET6 : AF_INET };
			size_t words = k ? 4 : 1;

			if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x", la, &lp,
				   ra, &rp, &st) != 5)
				continue;
			if (st != 1 || lp != 22 || strlen(ra) != words * 8)
				continue;
			for (size_t w = 0; w < words; w++) {
				char word[9];
				uint32_t v;

				memcpy(word, ra + w * 8, 8);
				word[8] = '\0';
				v = (uint32_t)strtoul(word, NULL, 16);
				memcpy(c.peer + w * 4, &v, 4); /* printed in host order */
			}
			c.peer_port = (uint16_t)rp;
			c.local_port = (uint16_t)lp;
			if (n < max)
				out[n++] = c;
		}
	}
	return n;
}

/* Refuse to shape the namespace the agent (or the host's SSH) lives in,
 * unless the shaping leaves every SSH session and port 22 alone. */
static int lockout_guard(struct fault *f, struct net_priv *p, struct duress_err *err)
{
	unsigned long long self = 0, init = 0, target = netshape_ino(p->ns);
	struct tcp_conn conns[64];
	const char *which, *env;
	struct stat st;
	size_t n;

	if (f->force)
		return 0;
	netshape_self_ino(&self);
	if (stat("/proc/1/ns/net", &st) == 0)
		init = (unsigned long long)st.st_ino;
	if (target != self && target != init)
		return 0;
	which = target == self ? "the agent's own network namespace"
			       : "the host's network namespace (that of PID 1)";
	if (!p->filtered)
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "network: the target lives in %s (net:[%llu]): shaping all "
				       "its traffic would shape the agent's and the host's own "
				       "connections (SSH, control); narrow it with --to, --port or "
				       "--protocol, or use --force",
				       which, target);
	if (p->match.has_ports && p->match.port_lo <= 22 && p->match.port_hi >= 22 &&
	    (p->match.proto == NS_PROTO_ANY || p->match.proto == NS_PROTO_TCP))
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "network: --port %u-%u includes 22 (SSH) in %s: refusing to "
				       "cut SSH into the host (use --force)",
				       p->match.port_lo, p->match.port_hi, which);
	n = ssh_sessions(f->target->pid, conns, DURESS_ARRAY_SIZE(conns));
	for (size_t i = 0; i < n && i < DURESS_ARRAY_SIZE(conns); i++) {
		char a[INET6_ADDRSTRLEN];

		if (!ns_match_covers_tcp(&p->match, conns[i].family, conns[i].peer,
					 conns[i].peer_port, conns[i].local_port))
			continue;
		inet_ntop(conns[i].family, conns[i].peer, a, sizeof(a));
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "network: the shaping would hit the SSH session from %s "
				       "port %u into %s: refusing (use --force)",
				       a, conns[i].peer_port, which);
	}
	/* the session the agent itself runs in */
	env = getenv("SSH_CONNECTION");
	if (env && target == self) {
		char ca[64], sa[64];
		unsigned cp, sp;
		unsigned char addr[16];
		int fam;

		if (sscanf(env, "%63s %u %63s %u", ca, &cp, sa, &sp) == 4) {
			fam = strchr(ca, ':') ? AF_INET6 : AF_INET;
			if (inet_pton(fam, ca, addr) == 1 &&
			    ns_match_covers_tcp(&p->match, fam, addr, (uint16_t)cp, (uint16_t)sp))
				return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
						       "network: the shaping would hit the agent's "
						       "own SSH session from %s port %u: refusing "
						       "(use --force)",
						       ca, cp);
		}
	}
	return 0;
}

/* "dst 10.0.0.1/32; dst fd00::1/128 (+3 more)" */
static void rules_summary(const struct ns_u32_rule *r, size_t n, char *buf, size_t len)
{
	size_t used = 0, shown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t need = strlen(r[i].desc) + 2;

		if (used + need + 24 >= len)
			break;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "; " : "", r[i].desc);
		shown++;
	}
	if (shown < n)
		snprintf(buf + used, len - used, " (+%zu more)", n - shown);
}

static void plan_device(struct fault *f, struct net_priv *p, struct net_dev *d)
{
	char netem[256], orig[160], rules[640], h[16];
	const char *name = d->link.name;

	ns_netem_describe(&p->netem, netem, sizeof(netem));
	if (p->egress) {
		const struct ns_saved_qdisc *o = &d->root.q[0];
		bool copy = ns_kind_copyable(o->kind);

		ns_saved_describe(&d->root, orig, sizeof(orig));
		if (!p->filtered) {
			fault_plan_add(
				f,
				"%s egress: replace the root qdisc (now %s) with netem %x: %s%s%s",
				name, orig, NS_MAJ_ROOT, netem,
				copy ? ", and under it a copy of " : "", copy ? o->kind : "");
		} else {
			fault_plan_add(
				f,
				"%s egress: replace the root qdisc (now %s) with prio %x: (2 "
				"bands, every priority on band 1%s%s), netem %x: on band 2: %s",
				name, orig, NS_MAJ_ROOT, copy ? ", which keeps a copy of " : "",
				copy ? o->kind : "", NS_MAJ_NETEM, netem);
			rules_summary(p->eg_rules, p->n_eg, rules, sizeof(rules));
			fault_plan_add(
				f, "%s egress: %zu u32 filter%s at %x: sending to %x:2 (netem): %s",
				name, p->n_eg, p->n_eg == 1 ? "" : "s", NS_MAJ_ROOT, NS_MAJ_ROOT,
				rules);
		}
	}
	if (p->ingress) {
		struct ns_netem in = p->netem;

		ns_netem_describe(&in, netem, sizeof(netem));
		fault_plan_add(f, "%s ingress: create ifb device %s (up) with root netem %x: %s",
			       name, d->ifb, NS_MAJ_ROOT, netem);
		if (d->ing == NS_INGRESS_NONE)
			fault_plan_add(f, "%s ingress: add an ingress qdisc ffff: (none now)",
				       name);
		else
			fault_plan_add(f,
				       "%s ingress: keep its %s qdisc; our filters beside the "
				       "owner's at %s, priorities %u-%u",
				       name, d->ing == NS_INGRESS_CLSACT ? "clsact" : "ingress",
				       ns_handle_str(d->ing_parent, h, sizeof(h)), NS_PREF_BASE,
				       NS_PREF_BASE + 2);
		rules_summary(p->in_rules, p->n_in, rules, sizeof(rules));
		fault_plan_add(f,
			       "%s ingress: %zu u32 filter%s at %s redirecting (mirred) to %s: %s",
			       name, p->n_in, p->n_in == 1 ? "" : "s",
			       ns_handle_str(d->ing_parent, h, sizeof(h)), d->ifb, rules);
	}
}

static int plan_reject(struct fault *f, struct net_priv *p)
{
	char peers[1024] = "", c[64];

	for (size_t i = 0; i < p->match.ncidrs; i++) {
		size_t n = strlen(peers);

		snprintf(peers + n, sizeof(peers) - n, "%s%s", i ? ", " : "",
			 ns_format_cidr(&p->match.cidrs[i], c, sizeof(c)));
	}
	nft_table_name(f->desc->name, p->table, sizeof(p->table));
	fault_plan_add(f, "network namespace net:[%llu] of pid %d (undo records: %s)",
		       netshape_ino(p->ns), (int)f->target->pid, p->ref);
	fault_plan_add(f,
		       "nftables: table inet %s, chains input and output: traffic with %s "
		       "refused, both ways: TCP with a reset, the rest with an ICMP port "
		       "unreachable (resets themselves pass)",
		       p->table, p->match.ncidrs ? peers : "every peer (all but loopback)");
	fault_plan_add(f, "revert: delete table inet %s", p->table);
	return 0;
}

static int net_plan(struct fault *f, struct duress_err *err)
{
	struct net_priv *p = f->priv;
	struct target *t = f->target;

	if (!p->ns && netshape_open(t->netns_fd, &p->ns, err) < 0)
		return -1;
	if (netshape_ref_make(t->pid, t->netns_fd, p->ref, sizeof(p->ref), err) < 0)
		return -1;
	if (lockout_guard(f, p, err) < 0)
		return -1;
	if (p->reject)
		return plan_reject(f, p);
	if (pick_devices(f, p, err) < 0)
		return -1;
	for (size_t i = 0; i < p->ndevs; i++) {
		struct net_dev *d = &p->devs[i];

		if (p->egress && qdisc_save_root(p->ns, &d->link, &d->root, err) < 0)
			return -1;
		if (p->ingress) {
			if (qdisc_ingress_state(p->ns, &d->link, &d->ing, &d->ing_parent, err) < 0)
				return -1;
			ns_ifb_name(getpid(), d->link.ifindex, d->ifb, sizeof(d->ifb));
		}
	}
	fault_plan_add(f, "network namespace net:[%llu] of pid %d (undo records: %s)",
		       netshape_ino(p->ns), (int)t->pid, p->ref);
	for (size_t i = 0; i < p->ndevs; i++)
		plan_device(f, p, &p->devs[i]);
	for (size_t i = 0; i < p->ndevs; i++) {
		struct net_dev *d = &p->devs[i];
		char orig[160];

		if (p->egress)
			fault_plan_add(f, "revert: %s root qdisc back to %s", d->link.name,
				       ns_saved_describe(&d->root, orig, sizeof(orig)));
		if (p->ingress)
			fault_plan_add(f, "revert: %s: %s, then delete %s", d->link.name,
				       d->ing == NS_INGRESS_NONE ? "remove the ingress qdisc"
								 : "delete our ingress filters",
				       d->ifb);
	}
	/* counters at the start of the baseline, for "before" */
	read_counters(p, err, 0);
	return 0;
}

/* ---- apply ---- */

static int apply_egress(struct fault *f, struct net_priv *p, struct net_dev *d,
			struct duress_err *err)
{
	struct ns_saved now;
	cleanup_free char *text = NULL;
	char what[IF_NAMESIZE + 16];
	int rc;

	/* what is there right now is what the undo record must put back */
	if (qdisc_save_root(p->ns, &d->link, &now, err) < 0)
		return -1;
	rc = ns_saved_format(&now, &text, err);
	if (rc == 0) {
		snprintf(what, sizeof(what), "%s root", d->link.name);
		rc = undo_record(f->undo, &undo_kind_qdisc, f->desc->name, p->ref, what, text, err);
	}
	if (rc >= 0)
		rc = qdisc_install(p->ns, d->link.ifindex, &p->netem,
				   p->filtered ? p->eg_rules : NULL, p->filtered ? p->n_eg : 0,
				   &now, err);
	ns_saved_free(&now);
	if (rc < 0)
		return duress_err_wrap(err, "network: shape %s (egress)", d->link.name);
	d->egress_done = true;
	return 0;
}

static int apply_ingress(struct fault *f, struct net_priv *p, struct net_dev *d,
			 struct duress_err *err)
{
	char what[IF_NAMESIZE + 40], h[16];

	if (undo_record(f->undo, &undo_kind_link, f->desc->name, p->ref, d->ifb, "ifb", err) < 0 ||
	    netshape_add_ifb(p->ns, d->ifb, &d->ifb_ifindex, err) < 0 ||
	    qdisc_install(p->ns, d->ifb_ifindex, &p->netem, NULL, 0, NULL, err) < 0)
		goto fail;
	if (qdisc_ingress_state(p->ns, &d->link, &d->ing, &d->ing_parent, err) < 0)
		goto fail;
	if (d->ing == NS_INGRESS_NONE) {
		snprintf(what, sizeof(what), "%s ingress", d->link.name);
		if (undo_record(f->undo, &undo_kind_qdisc, f->desc->name, p->ref, what, "none",
				err) < 0 ||
		    qdisc_add_ingress(p->ns, d->link.ifindex, err) < 0)
			goto fail;
	} else {
		for (unsigned pref = NS_PREF_BASE; pref <= NS_PREF_BASE + 2; pref++) {
			snprintf(what, sizeof(what), "%s %s %u", d->link.name,
				 ns_handle_str(d->ing_parent, h, sizeof(h)), pref);
			if (undo_record(f->undo, &undo_kind_tc_filter, f->desc->name, p->ref, what,
					"", err) < 0)
				goto fail;
		}
	}
	if (qdisc_add_redirect(p->ns, d->link.ifindex, d->ing_parent, p->in_rules, p->n_in,
			       d->ifb_ifindex, err) < 0)
		goto fail;
	d->ingress_done = true;
	return 0;
fail:
	return duress_err_wrap(err, "network: shape %s (ingress)", d->link.name);
}

/* The table, journaled before it is made (its revert deletes it; the
 * kernel also drops it with the agent's socket, its owner). */
static int apply_reject(struct fault *f, struct net_priv *p, struct duress_err *err)
{
	struct nft_reject rj = { .cidrs = p->match.cidrs, .ncidrs = p->match.ncidrs };

	if (nft_open(f->target->netns_fd, &p->nft, err) < 0 ||
	    undo_record(f->undo, &undo_kind_nft_table, f->desc->name, p->ref, p->table, "inet",
			err) < 0 ||
	    nft_reject_add(p->nft, p->table, &rj, err) < 0)
		return duress_err_wrap(err, "network: --reject");
	return 0;
}

static int net_apply(struct fault *f, struct duress_err *err)
{
	struct net_priv *p = f->priv;
	struct duress_err e2 = { 0 };

	if (p->reject)
		return apply_reject(f, p, err);

	read_counters(p, &e2, 1);
	for (size_t i = 0; i < p->ndevs; i++) {
		struct net_dev *d = &p->devs[i];

		if (p->egress && apply_egress(f, p, d, err) < 0)
			return -1;
		if (p->ingress && apply_ingress(f, p, d, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- while in force ---- */

static void refresh_stats(struct net_priv *p)
{
	struct duress_err e = { 0 };

	if (read_counters(p, &e, 2) < 0) {
		snprintf(p->last_error, sizeof(p->last_error), "%.200s", e.msg);
		return;
	}
	for (size_t i = 0; i < p->ndevs; i++) {
		struct net_dev *d = &p->devs[i];
		uint32_t h = p->filtered ? NS_H(NS_MAJ_NETEM, 0) : NS_H(NS_MAJ_ROOT, 0);

		if (d->egress_done &&
		    netshape_qdisc_stats(p->ns, d->link.ifindex, h, &d->eg_stats, &e) == 0)
			d->has_eg_stats = true;
		if (d->ingress_done &&
		    netshape_qdisc_stats(p->ns, d->ifb_ifindex, NS_H(NS_MAJ_ROOT, 0), &d->in_stats,
					 &e) == 0)
			d->has_in_stats = true;
	}
}

static int net_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct net_priv *p = f->priv;

	if (p->stats_started && since_apply_us - p->last_stats_us < NET_STATS_EVERY_US)
		return 0;
	p->stats_started = true;
	p->last_stats_us = since_apply_us;
	refresh_stats(p);
	return 0;
}

static json_t *counters_json(const struct net_counters *a, const struct net_counters *b)
{
	json_t *o = json_object();
	double s = b->t - a->t;

	json_object_set_new(o, "seconds", json_real((double)(long)(s * 100) / 100));
	json_object_set_new(o, "tx_packets",
			    json_integer((json_int_t)(b->tx_packets - a->tx_packets)));
	json_object_set_new(o, "rx_packets",
			    json_integer((json_int_t)(b->rx_packets - a->rx_packets)));
	json_object_set_new(o, "tx_dropped",
			    json_integer((json_int_t)(b->tx_dropped - a->tx_dropped)));
	json_object_set_new(o, "rx_dropped",
			    json_integer((json_int_t)(b->rx_dropped - a->rx_dropped)));
	return o;
}

static json_t *qdisc_json(const struct ns_qdisc *q)
{
	json_t *o = json_object();

	json_object_set_new(o, "packets", json_integer((json_int_t)q->packets));
	json_object_set_new(o, "bytes", json_integer((json_int_t)q->bytes));
	json_object_set_new(o, "drops", json_integer((json_int_t)q->drops));
	json_object_set_new(o, "backlog_packets", json_integer((json_int_t)q->qlen));
	return o;
}

static void net_report(struct fault *f, json_t *summary)
{
	struct net_priv *p = f->priv;
	json_t *ifs = json_object();
	char netem[256];

	for (size_t i = 0; i < p->ndevs; i++) {
		struct net_dev *d = &p->devs[i];
		json_t *o = json_object();

		if (d->at_plan.set && d->at_apply.set)
			json_object_set_new(o, "before", counters_json(&d->at_plan, &d->at_apply));
		if (d->at_apply.set && d->last.set && d->last.t > d->at_apply.t)
			json_object_set_new(o, "during", counters_json(&d->at_apply, &d->last));
		if (d->has_eg_stats)
			json_object_set_new(o, "egress_netem", qdisc_json(&d->eg_stats));
		if (d->has_in_stats)
			json_object_set_new(o, "ingress_netem", qdisc_json(&d->in_stats));
		json_object_set_new(ifs, d->link.name, o);
	}
	json_object_set_new(summary, "interfaces", ifs);
	if (p->reject) {
		json_object_set_new(summary, "reject", json_true());
		json_object_set_new(summary, "nft_table", json_string(p->table));
		json_object_set_new(summary, "peers", json_integer((json_int_t)p->match.ncidrs));
		return;
	}
	json_object_set_new(summary, "netem",
			    json_string(ns_netem_describe(&p->netem, netem, sizeof(netem))));
	json_object_set_new(summary, "direction",
			    json_string(p->egress && p->ingress ? "both"
					: p->ingress		? "ingress"
								: "egress"));
	if (p->filtered)
		json_object_set_new(summary, "filters",
				    json_integer((json_int_t)((p->egress ? p->n_eg : 0) +
							      (p->ingress ? p->n_in : 0))));
	if (p->last_error[0])
		json_object_set_new(summary, "stats_error", json_string(p->last_error));
}

static void net_release(struct fault *f)
{
	struct net_priv *p = f->priv;

	for (size_t i = 0; i < p->ndevs; i++)
		ns_saved_free(&p->devs[i].root);
	free(p->eg_rules);
	free(p->in_rules);
	netshape_close(p->ns);
	nft_close(p->nft);
	p->ns = NULL;
	p->nft = NULL;
	p->eg_rules = p->in_rules = NULL;
}

const struct fault_desc fault_network = {
	.name = "network",
	.summary =
		"delay, jitter, loss, duplication, corruption, reordering, bandwidth, partitions "
		"(netem over netlink)",
	.opts = net_opts,
	.nopts = DURESS_ARRAY_SIZE(net_opts),
	.priv_size = sizeof(struct net_priv),
	.validate = net_validate,
	.supported = net_supported,
	.plan = net_plan,
	.apply = net_apply,
	.tick = net_tick,
	.report = net_report,
	.release = net_release,
};
