// SPDX-License-Identifier: MIT
/*
 * dns: error answers (NXDOMAIN, SERVFAIL, REFUSED), spoofed addresses,
 * delays and drops for the names asked, on a percentage of the matching
 * queries.  The target's DNS queries (UDP port 53, going out) are
 * redirected by an nftables table of duress's own to a responder
 * (proxy/dnsf.c) that runs in a helper process inside the target's network
 * namespace; it answers matching names as asked and forwards everything
 * else unchanged.  Explicit mode (--listen/--upstream) needs no target and
 * redirects nothing.  See docs/faults/dns.md.
 *
 * The state and the revert are a proxy fault's (faults/proxyfault.h: the
 * helper's "kill" step, then the "nft-table" step), so tick, report,
 * sample and release are pxf's.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/regex.h>
#include <duress/faults/fault.h>
#include <duress/faults/proxyfault.h>
#include <duress/proxy/dnsf.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DNS_PORT 53
#define DNS_MAX_DELAY_US (60ULL * 1000000)
#define DNS_UPSTREAM_CHECK_MS 2000
#define DNS_MAX_REGEX 16

static const char *const dns_error_choices[] = { "nxdomain", "servfail", "refused", NULL };

static const struct fault_opt dns_opts[] = {
	{ .name = "domain",
	  .type = FOPT_LIST,
	  .metavar = "PATTERN",
	  .help = "only names matching PATTERN: example.com, *.example.com (below it), * "
		  "(repeatable; default: every name)" },
	{ .name = "domain-regex",
	  .type = FOPT_LIST,
	  .metavar = "REGEX",
	  .help = "only names matching this POSIX extended regex (any case; the name without "
		  "its trailing dot), repeatable" },
	{ .name = "error",
	  .type = FOPT_ENUM,
	  .metavar = "RCODE",
	  .choices = dns_error_choices,
	  .help = "answer nxdomain, servfail or refused" },
	{ .name = "spoof",
	  .type = FOPT_LIST,
	  .metavar = "IP",
	  .help = "answer with this address (A for IPv4, AAAA for IPv6; one of each)" },
	{ .name = "ttl",
	  .type = FOPT_UINT,
	  .metavar = "SECONDS",
	  .max = 86400,
	  .help = "TTL of spoofed records (default 30)" },
	{ .name = "drop", .type = FOPT_FLAG, .help = "never answer: the client times out" },
	{ .name = "delay",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "answer DUR late (alone: the real answer; with --error/--spoof: that one)" },
	{ .name = "percent",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "apply to PCT of the matching queries (default 100)" },
	{ .name = "to",
	  .type = FOPT_LIST,
	  .metavar = "CIDR",
	  .help = "transparent: only queries to these servers, repeatable (default: any)" },
	{ .name = "listen",
	  .type = FOPT_STRING,
	  .metavar = "ADDR:PORT",
	  .help = "explicit responder: listen here (UDP; no redirect, no target needed)" },
	{ .name = "upstream",
	  .type = FOPT_STRING,
	  .metavar = "ADDR[:PORT]",
	  .help = "the server that answers the rest (default, transparent: the target's first "
		  "nameserver in /etc/resolv.conf)" },
};

struct dns_priv {
	struct pxf px; /* listener, helper, table: a proxy fault's */
	struct dnsf_config dc;
	bool upstream_given;
	regex_t re[DNS_MAX_REGEX];
	size_t nre;
};

static void free_regexes(struct dns_priv *p)
{
	for (size_t i = 0; i < p->nre; i++)
		regfree(&p->re[i]);
	p->nre = 0;
}

static bool is_set(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set;
}

/* "1.2.3.4", "::1" (port 53), or "1.2.3.4:5353", "[::1]:5353". */
static int parse_server(const char *text, const char *what, struct sockaddr_storage *out,
			socklen_t *len, struct duress_err *err)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(DNS_PORT);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(DNS_PORT);
		*len = sizeof(*s6);
		return 0;
	}
	return proxy_parse_addr(text, what, out, len, err);
}

static int dns_validate(struct fault *f, struct duress_err *err)
{
	struct dns_priv *p = f->priv;
	struct pxf *x = &p->px;
	struct dnsf_config *c = &p->dc;
	const struct fault_val *dom = fault_opt(f, "domain"), *rx = fault_opt(f, "domain-regex"),
			       *spoof = fault_opt(f, "spoof"), *to = fault_opt(f, "to"),
			       *lis = fault_opt(f, "listen"), *up = fault_opt(f, "upstream"),
			       *delay = fault_opt(f, "delay");
	int actions = is_set(f, "error") + is_set(f, "spoof") + is_set(f, "drop");

	pxf_init(x);
	snprintf(x->helper_name, sizeof(x->helper_name), "duress-dns");
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < dom->nlist; i++) {
		const char *why = dnsf_pattern_invalid(dom->list[i]);

		if (why)
			return fault_usage(err, "--domain '%s': %s", dom->list[i], why);
	}
	c->domains = dom->list;
	c->ndomains = dom->nlist;
	free_regexes(p);
	if (rx->nlist > DNS_MAX_REGEX)
		return fault_usage(err, "--domain-regex: at most %d expressions", DNS_MAX_REGEX);
	for (size_t i = 0; i < rx->nlist; i++) {
		if (regex_compile(&p->re[i], rx->list[i], REG_EXTENDED | REG_ICASE | REG_NOSUB,
				  "--domain-regex", err) < 0)
			return -1;
		p->nre++;
	}
	c->regexes = p->re;
	c->nregexes = p->nre;
	if (actions > 1)
		return fault_usage(err,
				   "--error, --spoof and --drop exclude each other (one answer per "
				   "query)");
	if (is_set(f, "drop") && delay->set)
		return fault_usage(err, "--drop never answers: --delay makes no sense with it");
	if (!actions && !delay->set)
		return fault_usage(err,
				   "dns: nothing to do: give --error nxdomain|servfail|refused, "
				   "--spoof IP, --drop or --delay DUR");
	if (delay->set && delay->u == 0)
		return fault_usage(err, "--delay: give more than 0");
	if (delay->u > DNS_MAX_DELAY_US)
		return fault_usage(err, "--delay: at most 60s (clients give up long before)");
	if (is_set(f, "ttl") && !spoof->set)
		return fault_usage(err, "--ttl is the TTL of spoofed records: it needs --spoof");
	c->delay_ns = delay->u * 1000;
	c->action = is_set(f, "error")
			    ? (enum dnsf_action)dnsf_action_parse(fault_opt(f, "error")->s)
		    : spoof->set	? DNSF_SPOOF
		    : is_set(f, "drop") ? DNSF_DROP
					: DNSF_FORWARD;
	for (size_t i = 0; i < spoof->nlist; i++) {
		const char *s = spoof->list[i];

		if (inet_pton(AF_INET, s, &c->v4) == 1) {
			if (c->has_v4)
				return fault_usage(
					err, "--spoof: one IPv4 address at most ('%s' is a second)",
					s);
			c->has_v4 = true;
		} else if (inet_pton(AF_INET6, s, &c->v6) == 1) {
			if (c->has_v6)
				return fault_usage(
					err, "--spoof: one IPv6 address at most ('%s' is a second)",
					s);
			c->has_v6 = true;
		} else {
			return fault_usage(err, "--spoof '%s': not an IPv4 or IPv6 address", s);
		}
	}
	c->ttl = is_set(f, "ttl") ? (uint32_t)fault_opt(f, "ttl")->u : DNSF_DEFAULT_TTL;
	c->percent = is_set(f, "percent") ? fault_opt(f, "percent")->d : 100;

	x->port = DNS_PORT;
	x->inbound = false;
	if (up->set && parse_server(up->s, "--upstream", &x->upstream, &x->upstream_len, err) < 0)
		return -1;
	p->upstream_given = up->set;
	if (lis->set) {
		if (!up->set)
			return fault_usage(
				err, "dns: --listen needs --upstream ADDR[:PORT] (the server that "
				     "answers the rest)");
		if (to->nlist)
			return fault_usage(
				err, "dns: --to picks the queries a redirect takes; an explicit "
				     "responder (--listen) redirects nothing");
		if (proxy_parse_addr(lis->s, "--listen", &x->listen_addr, &x->listen_len, err) < 0)
			return -1;
		x->explicit_mode = true;
		return 0;
	}
	if (to->nlist > NFT_MAX_CIDRS)
		return fault_usage(err, "--to: at most %d addresses", NFT_MAX_CIDRS);
	for (size_t i = 0; i < to->nlist; i++)
		if (ns_parse_cidr(to->list[i], "--to", &x->cidrs[x->ncidrs++], err) < 0)
			return -1;
	return 0;
}

static bool dns_no_target(const struct fault *f)
{
	return fault_opt(f, "listen")->set;
}

/* The first nameserver of the target's /etc/resolv.conf: 0, or < 0. */
static int target_nameserver(struct fault *f, struct pxf *x, struct duress_err *err)
{
	char path[64], line[512];
	cleanup_fclose FILE *fp = NULL;

	snprintf(path, sizeof(path), "/proc/%d/root/etc/resolv.conf", (int)f->target->pid);
	fp = fopen(path, "re");
	if (!fp)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, errno,
				       "dns: the target's %s (its nameserver, where the other "
				       "queries go): give --upstream ADDR",
				       path);
	while (fgets(line, sizeof(line), fp)) {
		char ns[128];
		struct duress_err e2 = { 0 };

		if (sscanf(line, " nameserver %127s", ns) != 1)
			continue;
		if (strchr(ns, '%'))
			*strchr(ns, '%') = '\0'; /* fe80::1%eth0: the scope is the namespace's */
		if (parse_server(ns, "nameserver", &x->upstream, &x->upstream_len, &e2) == 0)
			return 0;
	}
	return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
			       "dns: no nameserver in the target's %s: give --upstream ADDR", path);
}

/* Does a DNS server answer at addr (a query for the root's NS)?  0 or errno. */
static int upstream_answers(const struct sockaddr_storage *a, socklen_t len)
{
	uint8_t q[17] = { 0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1 };
	uint8_t r[512];
	cleanup_close int fd = socket(a->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct pollfd pf;
	uint16_t id;

	if (fd < 0)
		return errno;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)getpid();
	memcpy(q, &id, 2);
	if (connect(fd, (const struct sockaddr *)a, len) < 0 || send(fd, q, sizeof(q), 0) < 0)
		return errno;
	pf.fd = fd;
	pf.events = POLLIN;
	for (;;) {
		ssize_t n;

		if (poll(&pf, 1, DNS_UPSTREAM_CHECK_MS) <= 0)
			return ETIMEDOUT;
		n = recv(fd, r, sizeof(r), 0);
		if (n < 0)
			return errno;
		if (n >= 12 && memcmp(r, &id, 2) == 0 && (r[2] & 0x80))
			return 0;
	}
}

static int shared_namespace(struct fault *f, struct pxf *x, struct duress_err *err)
{
	const char *whose = f->force ? NULL : pxf_shared_netns(x);

	if (!whose)
		return 0;
	return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
			       "dns: the target has no network namespace of its own (it shares "
			       "%s, net:[%llu]): a redirect there would take every DNS query of "
			       "this host; use an explicit responder (--listen ADDR:PORT "
			       "--upstream ADDR) or --force",
			       whose, x->netns_ino);
}

static int dns_supported(struct fault *f, struct duress_err *err)
{
	struct dns_priv *p = f->priv;
	struct pxf *x = &p->px;
	char a[INET6_ADDRSTRLEN + 8];
	int e;

	if (x->explicit_mode) {
		if (x->listen_fd < 0 && proxy_listen_udp(-1, (struct sockaddr *)&x->listen_addr,
							 x->listen_len, DNSF_RCVBUF, &x->listen_fd,
							 &x->listen_port, "--listen", err) < 0)
			return -1;
		e = upstream_answers(&x->upstream, x->upstream_len);
		if (e)
			return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, e,
					       "--upstream %s: no DNS server answers there",
					       proxy_format_addr((struct sockaddr *)&x->upstream, a,
								 sizeof(a)));
		return 0;
	}
	if (f->target->netns_fd < 0 || f->target->pid <= 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "dns: the target has no process, hence no network namespace "
				       "to redirect in (an explicit responder needs none: "
				       "--listen/--upstream)");
	if (netshape_fd_ino(f->target->netns_fd, &x->netns_ino) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "dns: the target's network namespace");
	if (shared_namespace(f, x, err) < 0)
		return -1;
	if (!p->upstream_given && target_nameserver(f, x, err) < 0)
		return -1;
	if (nft_probe(true, false, err) < 0)
		return duress_err_wrap(err, "dns: the redirect needs nftables with NAT");
	return 0;
}

static int dns_plan(struct fault *f, struct duress_err *err)
{
	struct dns_priv *p = f->priv;
	struct pxf *x = &p->px;
	struct dnsf_config *c = &p->dc;
	char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8], line[1024], to[1024] = "";
	size_t n = 0;

	if (x->explicit_mode) {
		fault_plan_add(f,
			       "start the dns responder (process %s) on UDP %s, forwarding the "
			       "rest to %s; no redirect",
			       x->helper_name,
			       proxy_format_addr((struct sockaddr *)&x->listen_addr, a, sizeof(a)),
			       proxy_format_addr((struct sockaddr *)&x->upstream, b, sizeof(b)));
	} else {
		if (netshape_ref_make(f->target->pid, f->target->netns_fd, x->ref, sizeof(x->ref),
				      err) < 0)
			return -1;
		nft_table_name(f->desc->name, x->table, sizeof(x->table));
		for (size_t i = 0; i < x->ncidrs; i++) {
			size_t k = strlen(to);
			char cb[64];

			snprintf(to + k, sizeof(to) - k, "%s%s", i ? ", " : " to ",
				 ns_format_cidr(&x->cidrs[i], cb, sizeof(cb)));
		}
		fault_plan_add(f,
			       "start the dns responder (process %s) inside the target's network "
			       "namespace net:[%llu], on a UDP port of its own, forwarding the "
			       "rest to %s",
			       x->helper_name, x->netns_ino,
			       proxy_format_addr((struct sockaddr *)&x->upstream, b, sizeof(b)));
		fault_plan_add(f,
			       "nftables table inet %s in net:[%llu]: nat output: udp dport 53%s "
			       "redirect to the responder (its own queries, marked 0x%08x, "
			       "excluded)",
			       x->table, x->netns_ino, to, PROXY_MARK);
	}
#define PUT(...) \
	(n += (size_t)snprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0, __VA_ARGS__))
	PUT("%g%% of the queries for ", c->percent);
	if (!c->ndomains && !c->nregexes)
		PUT("any name");
	for (size_t i = 0; i < c->ndomains; i++)
		PUT("%s%s", i ? ", " : "", c->domains[i]);
	for (size_t i = 0; i < c->nregexes; i++)
		PUT("%s/%s/", i || c->ndomains ? ", " : "", fault_opt(f, "domain-regex")->list[i]);
	PUT(":");
	if (c->delay_ns)
		PUT(" %s late", format_duration(c->delay_ns / 1000, a, sizeof(a)));
	switch (c->action) {
	case DNSF_FORWARD:
		PUT(" (the real answer)");
		break;
	case DNSF_DROP:
		PUT(" never answered");
		break;
	case DNSF_SPOOF:
		PUT(" answered");
		if (c->has_v4)
			PUT(" A %s", inet_ntop(AF_INET, &c->v4, a, sizeof(a)));
		if (c->has_v6)
			PUT(" AAAA %s", inet_ntop(AF_INET6, &c->v6, a, sizeof(a)));
		PUT(" (TTL %u)", c->ttl);
		break;
	default:
		PUT(" answered %s", dnsf_action_name(c->action));
		break;
	}
#undef PUT
	fault_plan_add(f, "%s", line);
	if (x->explicit_mode)
		fault_plan_add(f, "revert: end the responder");
	else
		fault_plan_add(f, "revert: delete table inet %s, then end the responder", x->table);
	return 0;
}

/* ---- the helper ---- */

static void hook_ready(void *arg)
{
	fault_helper_send(*(int *)arg, "ready", NULL, NULL);
}

static void hook_report(json_t *stats, void *arg)
{
	fault_helper_send(*(int *)arg, "stats", stats, NULL);
}

static int helper_main(void *arg, int ctl)
{
	struct dns_priv *p = arg;
	struct pxf *x = &p->px;
	struct dnsf_serve_config sc = { .listen_fd = x->listen_fd,
					.mark = x->explicit_mode ? 0 : PROXY_MARK };
	struct proxy_hooks hooks = { hook_ready, hook_report, NULL, &ctl };
	struct duress_err err = { 0 };

	memcpy(&sc.upstream, &x->upstream, x->upstream_len);
	sc.upstream_len = x->upstream_len;
	dnsf_init(&p->dc);
	if (dnsf_serve(&p->dc, &sc, ctl, &hooks, &err) < 0) {
		fault_helper_send(ctl, "error", NULL, err.msg);
		return DURESS_EXIT_INTERNAL;
	}
	return 0;
}

static int dns_apply(struct fault *f, struct duress_err *err)
{
	struct dns_priv *p = f->priv;
	struct pxf *x = &p->px;
	struct fault_helper_spec spec = { .name = x->helper_name,
					  .main = helper_main,
					  .arg = p,
					  .netns_fd = -1,
					  .max_restarts = PXF_MAX_RESTARTS,
					  .ready_timeout_us = PXF_READY_TIMEOUT_US };
	struct nft_redirect r = { .l4proto = IPPROTO_UDP,
				  .inbound = false,
				  .port = DNS_PORT,
				  .skip_mark = PROXY_MARK,
				  .cidrs = x->cidrs,
				  .ncidrs = x->ncidrs };

	if (!x->explicit_mode) {
		/* in the target's namespace, held by the agent: a restarted
		 * helper gets the same port */
		if (proxy_listen_udp(f->target->netns_fd, NULL, 0, DNSF_RCVBUF, &x->listen_fd,
				     &x->listen_port, "dns responder", err) < 0)
			return -1;
		spec.netns_fd = f->target->netns_fd;
	} else if (x->listen_fd < 0 && proxy_listen_udp(-1, (struct sockaddr *)&x->listen_addr,
							x->listen_len, DNSF_RCVBUF, &x->listen_fd,
							&x->listen_port, "--listen", err) < 0) {
		return -1;
	}
	spec.keep_fds[0] = x->listen_fd;
	spec.nkeep = 1;
	if (fault_helper_start(f, &x->helper, &spec, err) < 0)
		return duress_err_wrap(err, "dns: start the responder");
	x->helper_started = true;
	if (x->explicit_mode)
		return 0;
	r.to_port = x->listen_port;
	if (nft_open(f->target->netns_fd, &x->nft, err) < 0)
		return duress_err_wrap(err, "dns");
	if (undo_record(f->undo, &undo_kind_nft_table, f->desc->name, x->ref, x->table, "inet",
			err) < 0)
		return -1;
	if (nft_redirect_add(x->nft, x->table, &r, err) < 0)
		return duress_err_wrap(err, "dns: redirect udp port 53");
	return 0;
}

static int dns_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct dns_priv *p = f->priv;

	(void)since_apply_us;
	return pxf_tick(f, &p->px, err);
}

static void dns_report(struct fault *f, json_t *summary)
{
	struct dns_priv *p = f->priv;
	char a[INET6_ADDRSTRLEN + 8];

	pxf_report(f, &p->px, summary);
	if (!p->px.explicit_mode)
		json_object_set_new(summary, "upstream",
				    json_string(proxy_format_addr(
					    (struct sockaddr *)&p->px.upstream, a, sizeof(a))));
}

static void dns_sample(struct fault *f, json_t *sample)
{
	struct dns_priv *p = f->priv;

	pxf_sample(f, &p->px, sample);
}

static void dns_release(struct fault *f)
{
	struct dns_priv *p = f->priv;

	pxf_release(&p->px);
	free_regexes(p);
}

const struct fault_desc fault_dns = {
	.name = "dns",
	.summary = "NXDOMAIN, SERVFAIL, REFUSED, spoofed addresses, delays and drops for the "
		   "names the target asks (a responder its DNS queries are redirected to)",
	.opts = dns_opts,
	.nopts = DURESS_ARRAY_SIZE(dns_opts),
	.priv_size = sizeof(struct dns_priv),
	.validate = dns_validate,
	.supported = dns_supported,
	.plan = dns_plan,
	.apply = dns_apply,
	.tick = dns_tick,
	.report = dns_report,
	.release = dns_release,
	.no_target = dns_no_target,
	.sample = dns_sample,
};
