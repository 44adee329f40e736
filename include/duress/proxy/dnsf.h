/* SPDX-License-Identifier: MIT */
/*
 * The DNS responder of the dns fault: a UDP loop run in a helper process
 * (faults/helper.h), in the target's network namespace where an nftables
 * redirect (net/nft.h) sends the target's queries to it, or on an explicit
 * --listen address.  Messages are parsed and built with ldns (Debian's
 * libldns), never by hand.
 *
 * Each query: parsed (one question, opcode QUERY, QR clear; anything else
 * is forwarded unchanged and counted as "unparsed"); its name matched
 * against the patterns (none: every name); a matching one is picked with
 * probability percent/100.  A picked query gets:
 *   nxdomain | servfail | refused   an answer with that rcode
 *   spoof                           A / AAAA records of the given addresses
 *                                   (NOERROR without records for a type
 *                                   there is no address of)
 *   drop                            nothing: the client times out
 *   forward (delay alone)           the upstream's answer
 * each after delay_ns when set.  Everything else goes to the upstream
 * unchanged, on a socket of its own per query (SO_MARK PROXY_MARK, so the
 * redirect leaves it alone), and its answer back unchanged.  Answers leave
 * from the address the query came to (IP_PKTINFO / IPV6_PKTINFO), so the
 * redirect's reverse translation makes them come from the original server.
 *
 * Names: "example.com" matches exactly that name; "*.example.com" every
 * name below it (not example.com itself); "*" every name.  Case and a
 * trailing dot do not matter.  Regular expressions (core/regex.h, compiled
 * by the caller) are matched against the name in lower case without its
 * trailing dot; a name matches when any pattern or expression does.
 */
#ifndef DURESS_DNSF_H
#define DURESS_DNSF_H

#include <netinet/in.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/proxy/httprule.h>
#include <duress/proxy/proxy.h>

#define DNSF_MSG_MAX 4096     /* bytes of a UDP message relayed */
#define DNSF_MAX_PENDING 1024 /* queries held or at the upstream */
#define DNSF_UPSTREAM_TIMEOUT_NS (5ULL * 1000000000)
#define DNSF_NAME_MAX 256 /* presentation form, with the NUL */
#define DNSF_DEFAULT_TTL 30
#define DNSF_RCVBUF (4 << 20) /* the listener's receive buffer */

enum dnsf_action {
	DNSF_FORWARD = 0,
	DNSF_NXDOMAIN,
	DNSF_SERVFAIL,
	DNSF_REFUSED,
	DNSF_SPOOF,
	DNSF_DROP,
	DNSF_NACTIONS,
};

enum dnsf_counter {
	DNSF_C_QUERIES,	  /* received from clients */
	DNSF_C_MATCHED,	  /* whose name matched */
	DNSF_C_FORWARDED, /* sent to the upstream */
	DNSF_C_ANSWERS,	  /* upstream answers relayed */
	DNSF_C_UPSTREAM_TIMEOUTS,
	DNSF_C_UPSTREAM_ERRORS,
	DNSF_C_UNPARSED, /* not a query we could read: forwarded */
	DNSF_C_OVERLOAD, /* dropped: DNSF_MAX_PENDING in flight */
	DNSF_NCOUNTERS,
};

struct dnsf_config {
	const char *const *domains; /* patterns; none (nor regexes): every name */
	size_t ndomains;
	const regex_t *regexes; /* compiled REG_EXTENDED | REG_ICASE | REG_NOSUB */
	size_t nregexes;
	enum dnsf_action action; /* for a picked query */
	bool has_v4, has_v6;	 /* spoof addresses */
	struct in_addr v4;
	struct in6_addr v6;
	uint32_t ttl;	   /* of spoofed records */
	uint64_t delay_ns; /* before a picked query's answer */
	double percent;	   /* of the matching queries */
	uint64_t seed;	   /* 0: from getrandom */
	/* state in the responder */
	struct hrule_rng rng;
	uint64_t counters[DNSF_NCOUNTERS];
	uint64_t injected[DNSF_NACTIONS]; /* [DNSF_FORWARD]: delays alone */
	uint64_t delayed;
};

/* What one query is to get. */
struct dnsf_verdict {
	bool parsed, matched, picked;
	enum dnsf_action action;
	uint64_t delay_ns;
	char qname[DNSF_NAME_MAX]; /* lower case, no trailing dot ("." root) */
	uint16_t qtype;
};

const char *dnsf_action_name(enum dnsf_action a);
/* "nxdomain" -> DNSF_NXDOMAIN...; -1 for none. */
int dnsf_action_parse(const char *s);

/* Pure: is a pattern one we take?  NULL, or why not (for a usage error). */
const char *dnsf_pattern_invalid(const char *pattern);
/* Pure: does name (any case, trailing dot or not) match pattern? */
bool dnsf_name_match(const char *pattern, const char *name);

void dnsf_init(struct dnsf_config *cfg);
/* Read a query and decide (counts queries, matched, injected). */
void dnsf_decide(struct dnsf_config *cfg, const uint8_t *msg, size_t len, struct dnsf_verdict *v);
/*
 * Pure: the answer to query msg for action (NXDOMAIN, SERVFAIL, REFUSED,
 * SPOOF) into out (at most size bytes; *outlen its length): the query's
 * id, RD and question, QR and RA set.  0, or -1 when the query cannot be
 * read or the answer does not fit.
 */
int dnsf_answer(const struct dnsf_config *cfg, const uint8_t *msg, size_t len,
		enum dnsf_action action, uint8_t *out, size_t size, size_t *outlen);

/* {"queries", "matched", ..., "injected": {"nxdomain", ...}} into out. */
void dnsf_stats(const struct dnsf_config *cfg, json_t *out);

struct dnsf_serve_config {
	int listen_fd;
	struct sockaddr_storage upstream;
	socklen_t upstream_len;
	uint32_t mark; /* SO_MARK of upstream sockets; 0: none */
};

/* Serve until watch_fd is at EOF or SIGTERM/SIGINT; hooks as the proxy's
 * (ready once, report about twice a second with {"dns": {...}}). */
int dnsf_serve(struct dnsf_config *cfg, const struct dnsf_serve_config *sc, int watch_fd,
	       const struct proxy_hooks *hooks, struct duress_err *err);

#endif
