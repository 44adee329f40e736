/* SPDX-License-Identifier: MIT */
/*
 * What every command that puts a target under duress shares (inject, run):
 * the guard rails, the signal and timer descriptors of the one poll loop,
 * the monotonic clock, and the agent's protection from the OOM killer.
 */
#ifndef DURESS_RUNTIME_H
#define DURESS_RUNTIME_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <duress/core/error.h>
#include <duress/targets/target.h>

/*
 * Guard rails, refused with DURESS_EXIT_REFUSED unless force: the root
 * cgroup (the whole host), the agent's own cgroup or an ancestor of it (the
 * agent could not revert what it breaks), the cgroup that holds PID 1.
 * A sandbox the agent made is always allowed.
 */
int target_guard(const struct target *t, bool force, struct duress_err *err);

/* Pure: is `anc` (a path below the cgroup2 mount) equal to or above `rel`? */
bool cg_rel_covers(const char *anc, const char *rel);

/* Block SIGINT, SIGTERM, SIGHUP and SIGPIPE (old mask in *old) and return
 * a non-blocking signalfd for them, or -1 with errno. */
int signals_to_fd(sigset_t *old);

/* A periodic CLOCK_MONOTONIC timerfd (non-blocking), or -1 with errno. */
int periodic_timer(uint64_t interval_us);

/* CLOCK_MONOTONIC in seconds. */
double mono_seconds(void);

/* oom_score_adj -1000: the OOM killer takes the hogs, never the agent. */
void protect_agent(void);

#endif
