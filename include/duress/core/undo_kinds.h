/* SPDX-License-Identifier: MIT */
/* The registered undo kinds: one line each (X-macro; see undo.h). */
UNDO_KIND(undo_kind_cgroup_write)
UNDO_KIND(undo_kind_cgroup_remove)
UNDO_KIND(undo_kind_unlink)
UNDO_KIND(undo_kind_kill)
UNDO_KIND(undo_kind_qdisc)
UNDO_KIND(undo_kind_link)
UNDO_KIND(undo_kind_tc_filter)
UNDO_KIND(undo_kind_nft_table)
UNDO_KIND(undo_kind_helper)
