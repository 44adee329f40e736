/* SPDX-License-Identifier: MIT */
/*
 * Every undo kind a journal may name, one line each (X-macro): the replay's
 * table (agent/session/recover.c).  Each is defined and declared by the
 * module that owns it: cgroups (targets/cgview.h), qdiscs, links and
 * filters (net/netundo.h), nftables tables (net/nft.h), helper processes
 * and stopped processes (core/undo.h).  No fault records a plain kill: a
 * journal naming one (or any kind not here) is not replayed.
 */
UNDO_KIND(undo_kind_cgroup_write)
UNDO_KIND(undo_kind_cgroup_remove)
UNDO_KIND(undo_kind_qdisc)
UNDO_KIND(undo_kind_link)
UNDO_KIND(undo_kind_tc_filter)
UNDO_KIND(undo_kind_nft_table)
UNDO_KIND(undo_kind_helper)
UNDO_KIND(undo_kind_cont)
