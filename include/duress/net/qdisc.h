/* SPDX-License-Identifier: MIT */
/*
 * The qdisc trees of the network fault (agent/net/qdisc.c): save what a
 * link has, install ours, restore exactly what was there; and probe what
 * the kernel can do.  Our objects carry fixed handles (major NS_MAJ_ROOT
 * and up) and filter priorities (NS_PREF_BASE and up), so that a revert
 * never removes what the agent did not create.
 */
#ifndef DURESS_QDISC_H
#define DURESS_QDISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duress/core/error.h>
#include <duress/net/netparse.h>
#include <duress/net/netshape.h>

/* Save the root qdisc tree of a link: refused (code DURESS_EXIT_UNSUPPORTED
 * or DURESS_EXIT_REFUSED) when it cannot be restored exactly. */
int qdisc_save_root(struct netshape *ns, const struct ns_link *link, struct ns_saved *out,
		    struct duress_err *err);

enum ns_ingress_state {
	NS_INGRESS_NONE,    /* no ingress qdisc: we add one (and delete it afterwards) */
	NS_INGRESS_INGRESS, /* an ingress qdisc: our filters go beside the owner's */
	NS_INGRESS_CLSACT,  /* a clsact qdisc: likewise, on its ingress hook */
};

/* What is on the ingress hook, and the parent our filters would use; refused
 * when the owner's filters use our priorities. */
int qdisc_ingress_state(struct netshape *ns, const struct ns_link *link, enum ns_ingress_state *st,
			uint32_t *filter_parent, struct duress_err *err);

/* Put a saved root (or "none" for the ingress hook) back; idempotent.
 * Leaves alone (error) a qdisc that is neither ours nor the saved one. */
int qdisc_restore(struct netshape *ns, const char *ifname, bool ingress, const char *text,
		  bool *gone, struct duress_err *err);

/*
 * Install our tree as the root of ifindex (replacing what is there):
 * unfiltered: netem d5a0: (with a copy of the original under it when it
 * has one of the simple kinds); filtered: prio d5a0: with 2 bands, every
 * priority on band 1 (a copy of the original, else pfifo), netem d5a1: on
 * band 2 and the u32 rules pointing at d5a0:2.
 */
int qdisc_install(struct netshape *ns, int ifindex, const struct ns_netem *netem,
		  const struct ns_u32_rule *rules, size_t nrules, const struct ns_saved *orig,
		  struct duress_err *err);

/* Add an ingress qdisc (ffff:). */
int qdisc_add_ingress(struct netshape *ns, int ifindex, struct duress_err *err);
/* u32 filters at parent that redirect matching packets to the egress of
 * ifb_ifindex (mirred). */
int qdisc_add_redirect(struct netshape *ns, int ifindex, uint32_t parent,
		       const struct ns_u32_rule *rules, size_t nrules, int ifb_ifindex,
		       struct duress_err *err);
/* Delete every filter of priority pref at parent; ENOENT is success. */
int qdisc_del_filters(struct netshape *ns, int ifindex, uint32_t parent, uint16_t pref,
		      struct duress_err *err);

/*
 * Probe, in a throwaway namespace of its own, whether the kernel can do
 * what a fault needs: netem (always), prio + u32 (filtered), ingress + ifb +
 * mirred (ingress).  Code DURESS_EXIT_UNSUPPORTED with the missing module.
 */
int qdisc_probe(bool filtered, bool ingress, struct duress_err *err);

#endif
