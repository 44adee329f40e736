/* SPDX-License-Identifier: MIT */
/*
 * An agent session: what every command that changes a target sets up
 * before its first change, so that nothing outlives the agent.
 *
 *   session_begin()  replay journals that dead agents left in the state
 *                    directory (unless no_recover), then open this run's
 *                    undo journal (undo_journal.h);
 *   session_lock()   one lock per target and fault kind: a second agent
 *                    (or experiment) on the same target and resource is
 *                    refused, different resources combine;
 *   session_guard()  start the guardian: a process in its own session,
 *                    protected from the OOM killer, that holds a pidfd on
 *                    the agent and, if the agent dies in any way, replays
 *                    the journal at once.  It inherits the journal's and
 *                    the locks' open files, so the target stays locked and
 *                    the journal cannot be replayed twice until both the
 *                    agent and the guardian are gone;
 *   session_end()    close the journal (removing it when nothing is
 *                    pending) and release the locks.
 *
 * Attach the journal to an undo log with `log.journal = &s.journal`.
 */
#ifndef DURESS_SESSION_H
#define DURESS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>
#include <duress/core/undo_journal.h>

#define SESSION_MAX_LOCKS 16

struct agent_session {
	char state_dir[4096];
	struct undo_journal journal;
	int lock_fds[SESSION_MAX_LOCKS];
	size_t nlocks;
	pid_t guardian;
};

/* Replay the undo journals that dead agents left in state_dir (live ones
 * are skipped), saying what was done on stderr as `who`. */
void session_recover_dead(const char *state_dir, const char *who);
int session_begin(struct agent_session *s, const char *state_dir_opt, bool no_recover,
		  const char *what, struct duress_err *err);
/* Refused (DURESS_EXIT_REFUSED) when another live agent holds it. */
int session_lock(struct agent_session *s, const struct target *t, const char *fault,
		 struct duress_err *err);
/* Would session_lock() be refused now?  0 if not (the lock is not taken),
 * else the same refusal (`duress serve` asks before it starts a job). */
int session_lock_probe(const char *state_dir, const struct target *t, const char *fault,
		       struct duress_err *err);
int session_guard(struct agent_session *s, struct duress_err *err);
void session_end(struct agent_session *s, bool nothing_pending);

/*
 * The sandbox target of a session: start the guardian, journal the
 * sandbox's removal, then make it (sandbox.h).  A killed agent's sandbox is
 * removed by its guardian, the next start, or duress recover.
 */
int session_sandbox(struct agent_session *s, const struct cg_root *root, struct undo_log *sbx,
		    struct target *t, struct duress_err *err);

/* Remove an owned sandbox: the faults' steps first (they may live inside
 * it), then the sandbox, marking its journal step done. */
void session_drop_sandbox(struct target *t, struct undo_log *faults, struct undo_log *sbx);

/*
 * The end of a run, whatever path got there: revert anything still
 * recorded in either log, then close the journal (kept for the guardian and
 * recover when a step is still pending).  Returns rc, or
 * DURESS_EXIT_NOT_REVERTED when rc was OK and a step failed.
 */
int session_finish(struct agent_session *s, bool started, struct undo_log *faults,
		   struct undo_log *sbx, int rc);

/* The hidden command the guardian runs as: duress __guardian PID FD PATH READY_FD */
int guardian_main(int argc, char **argv);

#endif
