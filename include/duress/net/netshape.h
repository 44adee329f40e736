/* SPDX-License-Identifier: MIT */
/*
 * Traffic shaping of a target's network namespace over rtnetlink (libnl),
 * never by running tc or ip.
 *
 * Namespaces: setns() is per thread.  netshape_open() enters the target's
 * network namespace on a short-lived thread of its own, opens the netlink
 * socket there, checks (SIOCGSKNS) that the socket belongs to that namespace
 * and returns: the socket stays bound to the target's namespace while the
 * agent's threads never leave their own.  A namespace that cannot be found
 * is reported as gone; nothing ever falls back to the agent's namespace.
 *
 * Save and restore: before a root qdisc is replaced, its configuration is
 * saved as text (the kernel's own netlink attributes, as hex; see
 * docs/faults/network.md): the root qdisc and every child qdisc that is
 * not a kernel default.  A root the kernel made itself (handle 0: noqueue,
 * pfifo_fast, mq, the default_qdisc) is restored by deleting ours, which
 * makes the kernel attach its default again.  Trees that cannot be put back
 * exactly (classes of htb/hfsc/drr/qfq/cbq, filters, size tables, a netem
 * of someone else) are refused before anything is touched.
 *
 * Our objects carry fixed handles (major NS_MAJ_ROOT and up) and filter
 * priorities (NS_PREF_BASE and up), so that a revert never removes what
 * the agent did not create.
 *
 * Pure helpers (parsers, u32 keys, distribution tables, the saved text,
 * handles) are netparse.h's.
 */
#ifndef DURESS_NETSHAPE_H
#define DURESS_NETSHAPE_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <duress/core/error.h>
#include <duress/core/undo.h>
#include <duress/net/netparse.h>

/* ---- network namespace references (undo records) ---- */

/*
 * "/proc/<pid>/ns/net@<inode>" (netshape_ref_make; ns_ref_parse reads it):
 * checked on use.  When the process is gone
 * the namespace is looked for by inode among every process and under
 * /run/netns; not found means gone.
 */
int netshape_ref_make(pid_t pid, int netns_fd, char *buf, size_t len, struct duress_err *err);
/* Open the namespace of a reference: 0 and *fd, or 0 with *gone set. */
int netshape_ref_open(const char *ref, int *fd, bool *gone, struct duress_err *err);
/* Inode of a namespace fd, or of /proc/<pid>/ns/net, or of the agent's. */
int netshape_fd_ino(int fd, unsigned long long *ino);
int netshape_self_ino(unsigned long long *ino);

/* ---- the netlink socket in a namespace ---- */

struct netshape;

int netshape_open(int netns_fd, struct netshape **out, struct duress_err *err);
/* Resolve a reference and open it; *gone when the namespace is not found. */
int netshape_open_ref(const char *ref, struct netshape **out, bool *gone, struct duress_err *err);
void netshape_close(struct netshape *ns);
unsigned long long netshape_ino(const struct netshape *ns);

/* ---- links ---- */

struct ns_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[32];         /* "veth", "ifb", ... ("" for physical and lo) */
	unsigned flags;        /* IFF_UP, IFF_LOOPBACK, ... */
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped, tx_dropped;
};

/* Every link of the namespace; *out malloc'd. */
int netshape_links(struct netshape *ns, struct ns_link **out, size_t *n, struct duress_err *err);
/* 0 found, 1 not found, < 0 error. */
int netshape_link_find(struct netshape *ns, const char *name, struct ns_link *out,
		       struct duress_err *err);

/* ---- qdiscs ---- */

struct ns_qdisc {
	int ifindex;
	uint32_t parent, handle;
	char kind[NS_KIND_MAX];
	unsigned char *attrs;       /* configuration attributes (as in ns_saved_qdisc) */
	size_t attrs_len;
	bool has_stab;              /* a size table: cannot be read back */
	bool has_stats;
	uint64_t bytes, packets, drops, overlimits, requeues;
	uint32_t qlen, backlog;
};

/* Every visible qdisc of ifindex. */
int netshape_qdiscs(struct netshape *ns, int ifindex, struct ns_qdisc **out, size_t *n,
		    struct duress_err *err);
void netshape_qdiscs_free(struct ns_qdisc *q, size_t n);

/* Save the root qdisc tree of a link: refused (code DURESS_EXIT_UNSUPPORTED
 * or DURESS_EXIT_REFUSED) when it cannot be restored exactly. */
int netshape_save_root(struct netshape *ns, const struct ns_link *link, struct ns_saved *out,
		       struct duress_err *err);

enum ns_ingress_state {
	NS_INGRESS_NONE,      /* no ingress qdisc: we add one (and delete it afterwards) */
	NS_INGRESS_INGRESS,   /* an ingress qdisc: our filters go beside the owner's */
	NS_INGRESS_CLSACT,    /* a clsact qdisc: likewise, on its ingress hook */
};

/* What is on the ingress hook, and the parent our filters would use; refused
 * when the owner's filters use our priorities. */
int netshape_ingress_state(struct netshape *ns, const struct ns_link *link,
			   enum ns_ingress_state *st, uint32_t *filter_parent,
			   struct duress_err *err);

/* Put a saved root (or "none" for the ingress hook) back; idempotent.
 * Leaves alone (error) a qdisc that is neither ours nor the saved one. */
int netshape_restore(struct netshape *ns, const char *ifname, bool ingress, const char *text,
		     bool *gone, struct duress_err *err);

/*
 * Install our tree as the root of ifindex (replacing what is there):
 * unfiltered: netem d5a0: (with a copy of the original under it when it
 * has one of the simple kinds); filtered: prio d5a0: with 2 bands, every
 * priority on band 1 (a copy of the original, else pfifo), netem d5a1: on
 * band 2 and the u32 rules pointing at d5a0:2.
 */
int netshape_install(struct netshape *ns, int ifindex, const struct ns_netem *netem,
		     const struct ns_u32_rule *rules, size_t nrules, const struct ns_saved *orig,
		     struct duress_err *err);

/* Add an ingress qdisc (ffff:). */
int netshape_add_ingress(struct netshape *ns, int ifindex, struct duress_err *err);
/* u32 filters at parent that redirect matching packets to the egress of
 * ifb_ifindex (mirred). */
int netshape_add_redirect(struct netshape *ns, int ifindex, uint32_t parent,
			  const struct ns_u32_rule *rules, size_t nrules, int ifb_ifindex,
			  struct duress_err *err);
/* Delete every filter of priority pref at parent; ENOENT is success. */
int netshape_del_filters(struct netshape *ns, int ifindex, uint32_t parent, uint16_t pref,
			 struct duress_err *err);

/* Create an ifb device and set it up; its ifindex in *ifindex. */
int netshape_add_ifb(struct netshape *ns, const char *name, int *ifindex,
		     struct duress_err *err);
/* Delete a link of kind `kind` by name: 0 done, 1 not there; refuses
 * another kind. */
int netshape_del_link(struct netshape *ns, const char *name, const char *kind,
		      struct duress_err *err);

/* Counters of our qdisc handle `handle` on ifindex: 0, 1 when absent. */
int netshape_qdisc_stats(struct netshape *ns, int ifindex, uint32_t handle, struct ns_qdisc *out,
			 struct duress_err *err);

/*
 * Probe, in a throwaway namespace of its own, whether the kernel can do
 * what a fault needs: netem (always), prio + u32 (filtered), ingress + ifb +
 * mirred (ingress).  Code DURESS_EXIT_UNSUPPORTED with the missing module.
 */
int netshape_probe(bool filtered, bool ingress, struct duress_err *err);

/* The undo kinds of the network fault (agent/net/netshape.c); where =
 * the namespace reference (ns_ref_*): qdisc (a link's saved qdisc tree),
 * link (an ifb device the agent made), tc-filter (a filter it added). */
extern const struct undo_kind undo_kind_qdisc;
extern const struct undo_kind undo_kind_link;
extern const struct undo_kind undo_kind_tc_filter;

#endif
