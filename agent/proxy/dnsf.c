// SPDX-License-Identifier: MIT
/* The DNS responder of the dns fault; see include/duress/proxy/dnsf.h. */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/proxy/dnsf.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

static const char *const action_names[DNSF_NACTIONS] = {
	[DNSF_FORWARD] = "delay",   [DNSF_NXDOMAIN] = "nxdomain", [DNSF_SERVFAIL] = "servfail",
	[DNSF_REFUSED] = "refused", [DNSF_SPOOF] = "spoof",	  [DNSF_DROP] = "drop",
};

static const char *const counter_names[DNSF_NCOUNTERS] = {
	[DNSF_C_QUERIES] = "queries",
	[DNSF_C_MATCHED] = "matched",
	[DNSF_C_FORWARDED] = "forwarded",
	[DNSF_C_ANSWERS] = "answers",
	[DNSF_C_UPSTREAM_TIMEOUTS] = "upstream_timeouts",
	[DNSF_C_UPSTREAM_ERRORS] = "upstream_errors",
	[DNSF_C_UNPARSED] = "unparsed",
	[DNSF_C_OVERLOAD] = "overload",
};

const char *dnsf_action_name(enum dnsf_action a)
{
	return a >= 0 && a < DNSF_NACTIONS ? action_names[a] : "?";
}

int dnsf_action_parse(const char *s)
{
	for (int a = DNSF_NXDOMAIN; a <= DNSF_REFUSED; a++)
		if (strcmp(s, action_names[a]) == 0)
			return a;
	return -1;
}

/* ---- names ---- */

const char *dnsf_pattern_invalid(const char *p)
{
	size_t n = strlen(p);
	const char *rest = p;

	if (n == 0)
		return "empty";
	if (strcmp(p, "*") == 0)
		return NULL;
	if (strncmp(p, "*.", 2) == 0)
		rest = p + 2;
	n = strlen(rest);
	if (n && rest[n - 1] == '.')
		n--;
	if (n == 0)
		return "no name after the wildcard";
	if (n > 253)
		return "longer than a DNS name (253 characters)";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rest[i];

		if (c == '*')
			return "'*' only as the whole first label (*.example.com)";
		if (c <= ' ' || c >= 0x7f)
			return "a character that is not in DNS names";
		if (c == '.' && (i == 0 || rest[i - 1] == '.'))
			return "an empty label";
	}
	return NULL;
}

/* Case-insensitive compare of a[0..n) with b[0..m), a trailing dot on
 * either side ignored. */
static bool same_name(const char *a, size_t n, const char *b, size_t m)
{
	if (n && a[n - 1] == '.')
		n--;
	if (m && b[m - 1] == '.')
		m--;
	return n == m && strncasecmp(a, b, n) == 0;
}

bool dnsf_name_match(const char *pattern, const char *name)
{
	size_t pn, nn = strlen(name);

	if (strcmp(pattern, "*") == 0)
		return true;
	if (strncmp(pattern, "*.", 2) != 0)
		return same_name(pattern, strlen(pattern), name, nn);
	pattern += 2;
	pn = strlen(pattern);
	if (pn && pattern[pn - 1] == '.')
		pn--;
	if (nn && name[nn - 1] == '.')
		nn--;
	/* a strict subdomain: "<something>." then the pattern */
	if (nn < pn + 2 || name[nn - pn - 1] != '.')
		return false;
	return strncasecmp(name + nn - pn, pattern, pn) == 0;
}

/* ---- deciding and answering ---- */

void dnsf_init(struct dnsf_config *cfg)
{
	uint64_t seed = cfg->seed;

	if (!seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)(uintptr_t)cfg ^ 0x9e3779b97f4a7c15ULL;
	hrule_rng_seed(&cfg->rng, seed);
}

static void pkt_free(ldns_pkt **p)
{
	if (*p)
		ldns_pkt_free(*p);
}

#define cleanup_pkt __attribute__((cleanup(pkt_free)))

/* The one question of a query, or NULL. */
static const ldns_rr *question(const ldns_pkt *p)
{
	if (ldns_pkt_qr(p) || ldns_pkt_get_opcode(p) != LDNS_PACKET_QUERY ||
	    ldns_pkt_qdcount(p) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(p)) != 1)
		return NULL;
	return ldns_rr_list_rr(ldns_pkt_question(p), 0);
}

void dnsf_decide(struct dnsf_config *cfg, const uint8_t *msg, size_t len, struct dnsf_verdict *v)
{
	cleanup_pkt ldns_pkt *p = NULL;
	const ldns_rr *q;
	char *s;
	size_t n;

	memset(v, 0, sizeof(*v));
	v->action = DNSF_FORWARD;
	cfg->counters[DNSF_C_QUERIES]++;
	if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK || !(q = question(p))) {
		cfg->counters[DNSF_C_UNPARSED]++;
		return;
	}
	s = ldns_rdf2str(ldns_rr_owner(q));
	if (!s) {
		cfg->counters[DNSF_C_UNPARSED]++;
		return;
	}
	snprintf(v->qname, sizeof(v->qname), "%s", s);
	free(s);
	n = strlen(v->qname);
	if (n > 1 && v->qname[n - 1] == '.')
		v->qname[n - 1] = '\0';
	for (char *c = v->qname; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	v->qtype = (uint16_t)ldns_rr_get_type(q);
	v->parsed = true;
	v->matched = cfg->ndomains == 0 && cfg->nregexes == 0;
	for (size_t i = 0; i < cfg->ndomains && !v->matched; i++)
		v->matched = dnsf_name_match(cfg->domains[i], v->qname);
	for (size_t i = 0; i < cfg->nregexes && !v->matched; i++)
		v->matched = regexec(&cfg->regexes[i], v->qname, 0, NULL, 0) == 0;
	if (!v->matched)
		return;
	cfg->counters[DNSF_C_MATCHED]++;
	if (!hrule_rng_pct(&cfg->rng, cfg->percent))
		return;
	v->picked = true;
	v->action = cfg->action;
	v->delay_ns = cfg->action == DNSF_DROP ? 0 : cfg->delay_ns;
	if (cfg->action != DNSF_FORWARD)
		cfg->injected[cfg->action]++;
	if (v->delay_ns) {
		cfg->injected[DNSF_FORWARD]++;
		cfg->delayed += v->delay_ns;
	}
}

static void rr_free(ldns_rr **r)
{
	if (*r)
		ldns_rr_free(*r);
}

/* A record of type t for owner with the address a (4 or 16 bytes). */
static int push_address(ldns_pkt *a, const ldns_rr *q, ldns_rr_type t, const void *addr, size_t n,
			uint32_t ttl)
{
	__attribute__((cleanup(rr_free))) ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner, *data;

	if (!rr || !(owner = ldns_rdf_clone(ldns_rr_owner(q))))
		return -1;
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, t);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	data = ldns_rdf_new_frm_data(t == LDNS_RR_TYPE_A ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, n,
				     addr);
	if (!data || !ldns_rr_push_rdf(rr, data)) {
		if (data)
			ldns_rdf_deep_free(data);
		return -1;
	}
	if (!ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr))
		return -1;
	rr = NULL; /* the packet has it */
	return 0;
}

int dnsf_answer(const struct dnsf_config *cfg, const uint8_t *msg, size_t len,
		enum dnsf_action action, uint8_t *out, size_t size, size_t *outlen)
{
	cleanup_pkt ldns_pkt *p = NULL;
	cleanup_pkt ldns_pkt *a = NULL;
	const ldns_rr *q;
	ldns_rr *qc;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	uint8_t rcode = LDNS_RCODE_NOERROR;

	if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK || !(q = question(p)))
		return -1;
	switch (action) {
	case DNSF_NXDOMAIN:
		rcode = LDNS_RCODE_NXDOMAIN;
		break;
	case DNSF_SERVFAIL:
		rcode = LDNS_RCODE_SERVFAIL;
		break;
	case DNSF_REFUSED:
		rcode = LDNS_RCODE_REFUSED;
		break;
	case DNSF_SPOOF:
		break;
	default:
		return -1;
	}
	a = ldns_pkt_new();
	if (!a)
		return -1;
	ldns_pkt_set_id(a, ldns_pkt_id(p));
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_opcode(a, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(a, ldns_pkt_rd(p));
	ldns_pkt_set_cd(a, ldns_pkt_cd(p));
	ldns_pkt_set_ra(a, true);
	ldns_pkt_set_rcode(a, rcode);
	qc = ldns_rr_clone(q);
	if (!qc || !ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, qc)) {
		if (qc)
			ldns_rr_free(qc);
		return -1;
	}
	if (action == DNSF_SPOOF && ldns_rr_get_class(q) == LDNS_RR_CLASS_IN) {
		ldns_rr_type t = ldns_rr_get_type(q);
		int r = 0;

		if (cfg->has_v4 && (t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_ANY))
			r = push_address(a, q, LDNS_RR_TYPE_A, &cfg->v4, 4, cfg->ttl);
		if (r == 0 && cfg->has_v6 && (t == LDNS_RR_TYPE_AAAA || t == LDNS_RR_TYPE_ANY))
			r = push_address(a, q, LDNS_RR_TYPE_AAAA, &cfg->v6, 16, cfg->ttl);
		if (r < 0)
			return -1;
	}
	if (ldns_pkt_edns(p)) {
		/* answer EDNS with EDNS (no options) */
		ldns_pkt_set_edns_udp_size(a, 1232);
		ldns_pkt_set_edns_do(a, ldns_pkt_edns_do(p));
	}
	if (ldns_pkt2wire(&wire, a, &wlen) != LDNS_STATUS_OK || !wire)
		return -1;
	if (wlen > size) {
		free(wire);
		return -1;
	}
	memcpy(out, wire, wlen);
	*outlen = wlen;
	free(wire);
	return 0;
}

void dnsf_stats(const struct dnsf_config *cfg, json_t *out)
{
	json_t *inj = json_object();

	for (int k = 0; k < DNSF_NCOUNTERS; k++)
		json_object_set_new(out, counter_names[k],
				    json_integer((json_int_t)cfg->counters[k]));
	for (int a = 0; a < DNSF_NACTIONS; a++)
		json_object_set_new(inj, action_names[a],
				    json_integer((json_int_t)cfg->injected[a]));
	json_object_set_new(out, "injected", inj);
	json_object_set_new(out, "delay_added_ms",
			    json_integer((json_int_t)(cfg->delayed / 1000000)));
}

/* ---- the loop ---- */

enum pend_state { P_FREE = 0, P_HOLD_ANSWER, P_HOLD_FORWARD, P_UPSTREAM };

/* Where a query came from and to which of our addresses. */
struct peer {
	struct sockaddr_storage addr;
	socklen_t len;
	int pkt_family; /* AF_INET: in4 valid; AF_INET6: in6; 0: none */
	struct in_pktinfo in4;
	struct in6_pktinfo in6;
};

struct pend {
	enum pend_state state;
	int fd;	     /* P_UPSTREAM */
	uint64_t at; /* release (HOLD) or give-up (UPSTREAM) time */
	struct peer peer;
	size_t len;
	uint8_t buf[DNSF_MSG_MAX];
};

struct dnsl {
	struct dnsf_config *cfg;
	const struct dnsf_serve_config *sc;
	struct pend *pend;
	size_t npend; /* in use */
	uint64_t now;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static ssize_t recv_query(int fd, uint8_t *buf, size_t size, struct peer *pe)
{
	union {
		char b[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
		       CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { buf, size };
	struct msghdr m = { .msg_name = &pe->addr,
			    .msg_namelen = sizeof(pe->addr),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = c.b,
			    .msg_controllen = sizeof(c.b) };
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);

	if (n < 0)
		return n;
	pe->len = m.msg_namelen;
	pe->pkt_family = 0;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) {
			memcpy(&pe->in4, CMSG_DATA(h), sizeof(pe->in4));
			pe->pkt_family = AF_INET;
		} else if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO) {
			memcpy(&pe->in6, CMSG_DATA(h), sizeof(pe->in6));
			pe->pkt_family = AF_INET6;
		}
	}
	if (m.msg_flags & MSG_TRUNC)
		return -2;
	return n;
}

/* Send to the peer from the address its query came to. */
static void send_reply(int fd, const uint8_t *buf, size_t len, const struct peer *pe)
{
	union {
		char b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_name = (void *)&pe->addr,
			    .msg_namelen = pe->len,
			    .msg_iov = &iov,
			    .msg_iovlen = 1 };
	struct cmsghdr *h;

	memset(&c, 0, sizeof(c));
	if (pe->pkt_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = pe->in4.ipi_addr };

		m.msg_control = c.b;
		m.msg_controllen = CMSG_SPACE(sizeof(pi));
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = IPPROTO_IP;
		h->cmsg_type = IP_PKTINFO;
		h->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(h), &pi, sizeof(pi));
	} else if (pe->pkt_family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = pe->in6.ipi6_addr };

		m.msg_control = c.b;
		m.msg_controllen = CMSG_SPACE(sizeof(pi));
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = IPPROTO_IPV6;
		h->cmsg_type = IPV6_PKTINFO;
		h->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(h), &pi, sizeof(pi));
	}
	if (sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && m.msg_control) {
		/* an address we may not send from: let the kernel pick */
		m.msg_control = NULL;
		m.msg_controllen = 0;
		(void)!sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

static struct pend *pend_get(struct dnsl *l)
{
	for (size_t i = 0; i < DNSF_MAX_PENDING; i++)
		if (l->pend[i].state == P_FREE) {
			l->npend++;
			l->pend[i].fd = -1;
			return &l->pend[i];
		}
	return NULL;
}

static void pend_put(struct dnsl *l, struct pend *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->state = P_FREE;
	l->npend--;
}

/* Send p's query to the upstream; p becomes P_UPSTREAM (or is freed). */
static void forward(struct dnsl *l, struct pend *p)
{
	const struct dnsf_serve_config *sc = l->sc;
	int fd = socket(sc->upstream.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	/* unmarked, the redirect would send it straight back to us */
	if (fd >= 0 && sc->mark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &sc->mark, sizeof(sc->mark)) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 || connect(fd, (const struct sockaddr *)&sc->upstream, sc->upstream_len) < 0 ||
	    send(fd, p->buf, p->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		if (fd >= 0)
			close(fd);
		l->cfg->counters[DNSF_C_UPSTREAM_ERRORS]++;
		pend_put(l, p);
		return;
	}
	l->cfg->counters[DNSF_C_FORWARDED]++;
	p->fd = fd;
	p->state = P_UPSTREAM;
	p->at = l->now + DNSF_UPSTREAM_TIMEOUT_NS;
}

static void on_query(struct dnsl *l)
{
	for (int k = 0; k < 64; k++) {
		struct pend tmp_hdr;
		struct pend *p;
		struct dnsf_verdict v;
		uint8_t ans[DNSF_MSG_MAX];
		size_t alen = 0;
		ssize_t n;

		p = pend_get(l);
		if (!p) {
			/* full: read and drop, so the socket does not clog */
			uint8_t junk[DNSF_MSG_MAX];

			p = &tmp_hdr;
			n = recv_query(l->sc->listen_fd, junk, sizeof(junk), &p->peer);
			if (n < 0 && n != -2)
				return;
			l->cfg->counters[DNSF_C_QUERIES]++;
			l->cfg->counters[DNSF_C_OVERLOAD]++;
			continue;
		}
		n = recv_query(l->sc->listen_fd, p->buf, sizeof(p->buf), &p->peer);
		if (n == -2) {
			/* larger than a DNS UDP message we relay: dropped */
			l->cfg->counters[DNSF_C_QUERIES]++;
			l->cfg->counters[DNSF_C_UNPARSED]++;
			pend_put(l, p);
			continue;
		}
		if (n < 0) {
			pend_put(l, p);
			return;
		}
		p->len = (size_t)n;
		dnsf_decide(l->cfg, p->buf, p->len, &v);
		if (v.action == DNSF_DROP) {
			pend_put(l, p);
			continue;
		}
		if (v.action != DNSF_FORWARD) {
			if (dnsf_answer(l->cfg, p->buf, p->len, v.action, ans, sizeof(ans), &alen) <
			    0) {
				/* cannot build it: the upstream answers instead */
				v.action = DNSF_FORWARD;
			} else {
				memcpy(p->buf, ans, alen);
				p->len = alen;
			}
		}
		if (v.delay_ns) {
			p->state = v.action == DNSF_FORWARD ? P_HOLD_FORWARD : P_HOLD_ANSWER;
			p->at = l->now + v.delay_ns;
			continue;
		}
		if (v.action == DNSF_FORWARD) {
			forward(l, p);
		} else {
			send_reply(l->sc->listen_fd, p->buf, p->len, &p->peer);
			pend_put(l, p);
		}
	}
}

static void on_answer(struct dnsl *l, struct pend *p)
{
	uint8_t buf[DNSF_MSG_MAX];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		/* ECONNREFUSED: nothing at the upstream */
		l->cfg->counters[DNSF_C_UPSTREAM_ERRORS]++;
		pend_put(l, p);
		return;
	}
	l->cfg->counters[DNSF_C_ANSWERS]++;
	send_reply(l->sc->listen_fd, buf, (size_t)n, &p->peer);
	pend_put(l, p);
}

static void on_time(struct dnsl *l)
{
	for (size_t i = 0; i < DNSF_MAX_PENDING; i++) {
		struct pend *p = &l->pend[i];

		if (p->state == P_FREE || p->at > l->now)
			continue;
		if (p->state == P_HOLD_ANSWER) {
			send_reply(l->sc->listen_fd, p->buf, p->len, &p->peer);
			pend_put(l, p);
		} else if (p->state == P_HOLD_FORWARD) {
			forward(l, p);
		} else {
			l->cfg->counters[DNSF_C_UPSTREAM_TIMEOUTS]++;
			pend_put(l, p);
		}
	}
}

static void report(struct dnsl *l, const struct proxy_hooks *hooks)
{
	json_t *s, *d;

	if (!hooks || !hooks->report)
		return;
	s = json_object();
	d = json_object();
	dnsf_stats(l->cfg, d);
	json_object_set_new(s, "dns", d);
	hooks->report(s, hooks->arg);
	json_decref(s);
}

int dnsf_serve(struct dnsf_config *cfg, const struct dnsf_serve_config *sc, int watch_fd,
	       const struct proxy_hooks *hooks, struct duress_err *err)
{
	struct dnsl l = { .cfg = cfg, .sc = sc };
	struct pollfd *pfd;
	struct pend **who;
	uint64_t next_report;
	sigset_t term;
	int sfd;
	bool stop = false;

	l.pend = calloc(DNSF_MAX_PENDING, sizeof(*l.pend));
	pfd = calloc(DNSF_MAX_PENDING + 3, sizeof(*pfd));
	who = calloc(DNSF_MAX_PENDING + 3, sizeof(*who));
	if (!l.pend || !pfd || !who) {
		free(l.pend);
		free(pfd);
		free(who);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "dns responder: memory");
	}
	for (size_t i = 0; i < DNSF_MAX_PENDING; i++)
		l.pend[i].fd = -1;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, NULL);
	sfd = signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC);
	if (hooks && hooks->ready)
		hooks->ready(hooks->arg);
	l.now = mono_ns();
	next_report = l.now + PROXY_NS_PER_S / 2;
	while (!stop) {
		uint64_t due = next_report;
		nfds_t n = 0;
		int wait, r;

		pfd[n++] = (struct pollfd){ .fd = sc->listen_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = watch_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (size_t i = 0; i < DNSF_MAX_PENDING; i++) {
			struct pend *p = &l.pend[i];

			if (p->state == P_FREE)
				continue;
			if (p->at < due)
				due = p->at;
			if (p->state == P_UPSTREAM) {
				who[n] = p;
				pfd[n++] = (struct pollfd){ .fd = p->fd, .events = POLLIN };
			}
		}
		wait = due > l.now ? (int)((due - l.now + 999999) / 1000000) : 0;
		r = poll(pfd, n, wait);
		if (r < 0 && errno != EINTR) {
			int e = errno;

			stop = true;
			duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "dns responder: poll");
			break;
		}
		l.now = mono_ns();
		if (r > 0) {
			if (pfd[1].revents) {
				char b[256];
				ssize_t k = read(watch_fd, b, sizeof(b));

				if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
					stop = true;
			}
			if (pfd[2].revents)
				stop = true;
			for (nfds_t i = 3; i < n; i++)
				if (pfd[i].revents && who[i]->state == P_UPSTREAM)
					on_answer(&l, who[i]);
			if (pfd[0].revents)
				on_query(&l);
		}
		on_time(&l);
		if (l.now >= next_report) {
			next_report = l.now + PROXY_NS_PER_S / 2;
			report(&l, hooks);
		}
	}
	report(&l, hooks);
	for (size_t i = 0; i < DNSF_MAX_PENDING; i++)
		if (l.pend[i].fd >= 0)
			close(l.pend[i].fd);
	if (sfd >= 0)
		close(sfd);
	free(l.pend);
	free(pfd);
	free(who);
	return err->code ? -1 : 0;
}
