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
 * The qdisc trees (save, install, restore) are qdisc.h's, the undo kinds
 * netundo.h's.  Save and restore: before a root qdisc is replaced, its
 * configuration is saved as text (the kernel's own netlink attributes, as hex; see
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

/* ---- one request and its answers (for qdisc.c and netundo.c) ---- */

struct nl_msg;
struct nlmsghdr;
struct nlattr;

/* Called on every answer of a request (a dump's entries). */
typedef int (*netshape_msg_cb)(struct nlmsghdr *h, void *arg);

/* Send msg and read until its ack (or the end of the dump), calling cb on
 * every answer.  0, or -errno of the kernel's refusal, err filled as
 * "<what>: the kernel says '<its extended ack>'". */
int netshape_talk(struct netshape *ns, struct nl_msg *msg, netshape_msg_cb cb, void *arg,
		  struct duress_err *err, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* The same without err: the kernel's explanation in kmsg. */
int netshape_talk_raw(struct netshape *ns, struct nl_msg *msg, netshape_msg_cb cb, void *arg,
		      char *kmsg, size_t kmsglen);
/* Run check on a socket in a throwaway network namespace of its own (what
 * the kernel can do); its result. */
int netshape_check_private(int (*check)(struct netshape *ns, void *arg, struct duress_err *err),
			   void *arg, struct duress_err *err);
/* An RTM_*QDISC / *TFILTER message (NULL when out of memory). */
struct nl_msg *netshape_tc_msg(int type, int flags, int ifindex, uint32_t parent, uint32_t handle,
			       uint32_t info);
/* A nest without NLA_F_NESTED: TCA_OPTIONS of several qdiscs starts with a
 * structure, not attributes. */
struct nlattr *netshape_nest_open(struct nl_msg *m, int type);
void netshape_nest_close(struct nl_msg *m, struct nlattr *a);
/* libnl's error numbers back to errno. */
int netshape_nle_errno(int nle);

void netshape_nlmsg_freep(struct nl_msg **m);
#define cleanup_nlmsg __attribute__((cleanup(netshape_nlmsg_freep)))
void netshape_closep(struct netshape **ns);
#define cleanup_netshape __attribute__((cleanup(netshape_closep)))

/* The filter priorities found at a parent (a u32 filter answers with
 * several entries: its table and its keys; one priority is one filter
 * chain as tc shows it). */
struct netshape_prefs {
	size_t n;	    /* distinct priorities */
	uint16_t prefs[16]; /* the first of them */
	uint16_t lo, hi;
	size_t in_range; /* of them in [lo, hi] */
};
/* Filters attached at parent (a qdisc handle, or the ingress hook). */
int netshape_filter_scan(struct netshape *ns, int ifindex, uint32_t parent,
			 struct netshape_prefs *p, struct duress_err *err);

/* ---- links ---- */

struct ns_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[32];	/* "veth", "ifb", ... ("" for physical and lo) */
	unsigned flags; /* IFF_UP, IFF_LOOPBACK, ... */
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
	unsigned char *attrs; /* configuration attributes (as in ns_saved_qdisc) */
	size_t attrs_len;
	bool has_stab; /* a size table: cannot be read back */
	bool has_stats;
	uint64_t bytes, packets, drops, overlimits, requeues;
	uint32_t qlen, backlog;
};

/* Every visible qdisc of ifindex. */
int netshape_qdiscs(struct netshape *ns, int ifindex, struct ns_qdisc **out, size_t *n,
		    struct duress_err *err);
void netshape_qdiscs_free(struct ns_qdisc *q, size_t n);

/* Create an ifb device and set it up; its ifindex in *ifindex. */
int netshape_add_ifb(struct netshape *ns, const char *name, int *ifindex, struct duress_err *err);
/* Delete a link of kind `kind` by name: 0 done, 1 not there; refuses
 * another kind. */
int netshape_del_link(struct netshape *ns, const char *name, const char *kind,
		      struct duress_err *err);

/* Counters of our qdisc handle `handle` on ifindex: 0, 1 when absent. */
int netshape_qdisc_stats(struct netshape *ns, int ifindex, uint32_t handle, struct ns_qdisc *out,
			 struct duress_err *err);

#endif
