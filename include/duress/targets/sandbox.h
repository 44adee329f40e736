/* SPDX-License-Identifier: MIT */
/*
 * The sandbox target: with no -t, the agent creates duress-sandbox-<pid>
 * below the cgroup2 root, starts a small built-in workload in it (CPU,
 * memory, disk and loopback network in its own network namespace), and
 * removes it all at exit.
 */
#ifndef DURESS_SANDBOX_H
#define DURESS_SANDBOX_H

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/targets/target.h>

/* Create the cgroup, start the workload, fill t (kind TARGET_SANDBOX, owned). */
int sandbox_create(const struct cg_root *root, struct target *t, struct duress_err *err);

/* Stop the workload and remove the cgroup (cg_destroy); idempotent. */
int sandbox_destroy(struct target *t, struct duress_err *err);

/*
 * The workload itself (runs in the child; exported for tests): loops until
 * killed.  Uses about 20% of one CPU, keeps 32 MiB resident, writes and
 * fsyncs a small scratch file every second, and echoes messages over a
 * loopback TCP connection (lo must be up).  Once every part runs, it
 * writes one byte to ready_fd and closes it (ready_fd < 0: no report).
 * Returns only on a failure before that point (err filled, its threads
 * stopped and joined); afterwards it never returns and its own errors are
 * not fatal.  Run it in a process of its own: it only ends when killed.
 */
int sandbox_workload_main(int ready_fd, struct duress_err *err);

#endif
