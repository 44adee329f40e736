/* SPDX-License-Identifier: MIT */
/*
 * nftables over netlink (libnftnl + libmnl), never by running nft or
 * iptables: tables of duress's own in a target's network namespace that
 * redirect connections to a local port (the proxies of the http and tcp
 * faults, later a DNS responder) or reject traffic (partitions that fail
 * fast).
 *
 * Every table is of family inet (IPv4 and IPv6 in one), named
 * "duress_<fault>_<agent pid>_<n>" (nft_table_name), and made in one
 * atomic batch with its chains and rules: it is there whole or not at all.
 * The caller records the "nft-table" undo step (namespace reference, table
 * name) BEFORE nft_redirect_add()/nft_reject_add(); its revert deletes
 * exactly that table and refuses any name without NFT_TABLE_PREFIX.
 *
 * Ownership: tables are made with NFT_TABLE_F_OWNER where the kernel has it
 * (5.12+): the kernel itself removes them when the agent's netlink socket
 * closes, so a kill -9 of the agent takes the redirect with it even before
 * the guardian replays the journal.  The socket stays open (in this
 * module) until the table's undo step is reverted.
 *
 * Namespaces: the netlink socket is opened on a short-lived thread that
 * entered the target's network namespace (setns is per thread), checked to
 * live there (SIOCGSKNS), and used from the agent's own thread afterwards;
 * the agent never leaves its own namespace.
 *
 * The batch builders are pure (a buffer in, netlink messages out) and are
 * unit-tested in tests/unit/test_nft.c by parsing them back with libnftnl.
 */
#ifndef DURESS_NFT_H
#define DURESS_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <duress/core/error.h>
#include <duress/core/undo.h>
#include <duress/net/netshape.h>

#define NFT_TABLE_PREFIX "duress"
#define NFT_NAME_MAX 64

/* Redirect connections to a local port. */
struct nft_redirect {
	int l4proto;		     /* IPPROTO_TCP or IPPROTO_UDP */
	bool inbound;		     /* prerouting: to local port `port`;
				  * else output: from the namespace to `port` */
	uint16_t port;		     /* the destination port matched */
	uint16_t to_port;	     /* redirected to this local port */
	uint32_t skip_mark;	     /* packets with this mark (SO_MARK of the
				  * proxy's own sockets) are left alone; 0: none */
	const struct ns_cidr *cidrs; /* outbound: only to these; none: any */
	size_t ncidrs;
};

/* Reject instead of dropping: TCP gets a reset, everything else an ICMP
 * (v4 or v6) administratively-prohibited.  Both directions of traffic with
 * the peers (or all traffic but loopback when there are none). */
struct nft_reject {
	const struct ns_cidr *cidrs;
	size_t ncidrs;
	uint32_t skip_mark;
};

#define NFT_MAX_CIDRS 64

/* "duress_<fault>_<pid>_<n>", n counting up within the process. */
void nft_table_name(const char *fault, char *buf, size_t len);
/* Does the name carry our prefix (and only characters we use)? */
bool nft_name_ours(const char *name);

/*
 * Pure: the netlink batch that makes the table, its chain and rules, in
 * buf (at least NFT_BATCH_MIN bytes; more with many CIDRs).  *len gets its
 * size; seq numbers start at seq and are noted per message in labels[]
 * (what the message makes, for errors), at most *nlabels.  Usage errors
 * (too many CIDRs, bad proto) carry DURESS_EXIT_USAGE.
 */
#define NFT_BATCH_MIN 16384
struct nft_label {
	uint32_t seq;
	const char *what;   /* "table", "nat chain", "redirect rule", ... */
	const char *module; /* kernel module that makes it possible */
};
int nft_build_redirect(void *buf, size_t size, uint32_t seq, const char *table, bool owner,
		       const struct nft_redirect *r, size_t *len, struct nft_label *labels,
		       size_t *nlabels, struct duress_err *err);
int nft_build_reject(void *buf, size_t size, uint32_t seq, const char *table, bool owner,
		     const struct nft_reject *r, size_t *len, struct nft_label *labels,
		     size_t *nlabels, struct duress_err *err);
int nft_build_deltable(void *buf, size_t size, uint32_t seq, const char *table, size_t *len,
		       struct duress_err *err);

/* ---- a netlink socket in a namespace ---- */

struct nft;

/* netns_fd: the namespace (an open /proc/PID/ns/net). */
int nft_open(int netns_fd, struct nft **out, struct duress_err *err);
void nft_close(struct nft *n);
unsigned long long nft_ino(const struct nft *n);

/*
 * Make the table with its chain and rules.  Kernel refusals that mean a
 * missing feature are DURESS_EXIT_UNSUPPORTED and name the module
 * ("the kernel lacks nft_redir (nftables redirect): ...").  On success the
 * socket is kept (the table's owner) until nft_table_del() or the revert.
 */
int nft_redirect_add(struct nft *n, const char *table, const struct nft_redirect *r,
		     struct duress_err *err);
int nft_reject_add(struct nft *n, const char *table, const struct nft_reject *r,
		   struct duress_err *err);

/* Delete our table: 0 (with *gone when it was not there).  Refuses a name
 * without our prefix. */
int nft_table_del(struct nft *n, const char *table, bool *gone, struct duress_err *err);

/* Is there a table of that name (family inet)?  1 yes, 0 no. */
int nft_table_exists(struct nft *n, const char *table, struct duress_err *err);

/*
 * Can this kernel do it?  Tried in a throwaway network namespace of its own
 * (nothing of the target's is touched): a table with a nat chain and a
 * redirect rule (redirect), a filter chain with reject rules (reject).
 * DURESS_EXIT_UNSUPPORTED naming the missing module.
 */
int nft_probe(bool redirect, bool reject, struct duress_err *err);

/* The "nft-table" undo step's parts: where = namespace reference
 * (netshape_ref_make), what = table name, value = "inet". */

/* The undo kind of a table (agent/net/nft.c): where = namespace reference,
 * what = the table's name (NFT_TABLE_PREFIX...), value = its family. */
extern const struct undo_kind undo_kind_nft_table;

#endif
