/* SPDX-License-Identifier: MIT */
/*
 * Processes (agent/core/proc.c): a process's start time (what tells a pid
 * from a reused one), the one set-up every child of the agent goes through
 * after fork(), the registry of descriptors that children must not keep
 * (undo journal, locks), the OOM score, and the signals the agent reads
 * from a signalfd.
 */
#ifndef DURESS_PROC_H
#define DURESS_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* Start time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat).  -1 if it cannot be read (gone). */
int proc_starttime(pid_t pid, unsigned long long *out);

/* The state letter of a process (R, S, T, Z, ...), 0 if it is gone. */
char proc_state(pid_t pid);

/* Is pid one of the agent's own processes (its name, comm, starts with
 * "duress": helpers, workers, the guardian)?  A replay kills nothing else. */
bool proc_is_agents(pid_t pid);

/* What a child does first after fork() (stress-ng's one child set-up). */
struct proc_child {
	const char *name;      /* PR_SET_NAME (comm), or NULL */
	int deathsig;	       /* PR_SET_PDEATHSIG: SIGKILL, SIGTERM; 0: outlive the agent */
	pid_t parent;	       /* with deathsig: exit if the parent died before the prctl */
	bool default_handlers; /* every handler back to SIG_DFL (the agent may ignore some) */
	bool keep_private;     /* keep the agent's private descriptors (the guardian) */
	bool set_oom;	       /* write oom_score_adj */
	int oom_score_adj;
	const sigset_t *mask; /* the signal mask to leave (NULL: none blocked) */
};

/*
 * In the child after fork(): close the agent's private descriptors, set
 * the parent-death signal (_exit(exit_code) if it cannot be set or the
 * parent is already gone), clear the signal mask (or set c->mask: a
 * signal that may come before the program run installs its handling stays
 * pending rather than kill it), reset handlers, name
 * it, set its OOM score.  Returns 0, or -1 with errno when the OOM score
 * could not be set (the caller decides whether that is fatal).
 */
int proc_child_setup(const struct proc_child *c, int exit_code);

/* Descriptors no forked child may keep (the undo journal, the locks): a
 * worker holding a lock would keep it after the agent died. */
void proc_private_fd(int fd);
void proc_private_forget(int fd);
void proc_close_private(void);

/* Write /proc/self/oom_score_adj.  -1 with errno on failure. */
int proc_oom_score_adj(int value);
/* The agent protects itself from the OOM killer (-1000); the hogs it runs
 * get 1000.  A failure is reported, not fatal. */
void proc_protect_self(void);

/* Block SIGINT, SIGTERM, SIGHUP and SIGPIPE and return a signalfd for
 * them (the one loop reads signals there); *old gets the previous mask. */
int proc_signals_to_fd(sigset_t *old);

#endif
