/* SPDX-License-Identifier: MIT */
/*
 * The undo kinds of the network fault (agent/net/netundo.c); where = the
 * namespace reference (netshape_ref_make): qdisc (a link's saved qdisc
 * tree), link (an ifb device the agent made), tc-filter (a filter it
 * added).  docs/faults/network.md.
 */
#ifndef DURESS_NETUNDO_H
#define DURESS_NETUNDO_H

#include <duress/core/undo.h>

extern const struct undo_kind undo_kind_qdisc;
extern const struct undo_kind undo_kind_link;
extern const struct undo_kind undo_kind_tc_filter;

#endif
