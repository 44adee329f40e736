/* SPDX-License-Identifier: MIT */
/*
 * Replays of the undo journals that agents leave when they die
 * (agent/session/recover.c; docs/crash-safety.md): the guardian replays its
 * agent's, `duress recover`, every agent and `duress serve` at start-up
 * replay those of dead agents.  The only place that maps a journal's kind
 * names to kinds (include/duress/session/undo_kinds.h).
 */
#ifndef DURESS_RECOVER_H
#define DURESS_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <duress/core/error.h>
#include <duress/core/undo.h>

struct recover_report {
	size_t journals, busy, reverted, gone, failed;
	size_t refused; /* journals not replayed: not the agent's, or a record no
			 * fault writes (planted or corrupt; kept as *.refused) */
};

/* The undo kind of that name, or NULL. */
const struct undo_kind *recover_kind_find(const char *name);

/*
 * Replay one journal file: lock it exclusive (non-blocking unless wait),
 * revert every pending step newest first, mark each DONE, remove the
 * views its steps name and then the file.  A journal locked by a live
 * agent is skipped (report->busy).  `dry_run` lists the steps without
 * touching anything.  Messages go to `out` (one line per step).
 */
int recover_journal(const char *path, bool wait, bool dry_run, FILE *out,
		    struct recover_report *report, struct duress_err *err);

/* Replay every journal in the state dir's journal folder (skipping
 * `except`, the caller's own).  Journals of live agents are counted in
 * report->busy; with quiet_busy they are not mentioned on `out` (an agent
 * starting up).  Returns < 0 if a step failed. */
int recover_all(const char *state_dir, const char *except, bool dry_run, bool quiet_busy, FILE *out,
		struct recover_report *report, struct duress_err *err);

#endif
