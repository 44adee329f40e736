/* SPDX-License-Identifier: MIT */
/*
 * Targets: the cgroup v2 that the agent puts under duress.
 *
 *   cgroup:PATH      absolute cgroupfs path, or relative to the cgroup2 mount
 *   pid:N            the cgroup of process N (and handles on its net/mnt ns)
 *   container:ID     docker, containerd, CRI-O or podman container, by a
 *                    unique prefix of >= 6 hex chars of its id; or a
 *                    container of an OCI runtime (runc, crun) by its exact
 *                    name or a unique prefix of it (agent/targets/oci.c)
 *   (none)           a sandbox cgroup made by the agent (see sandbox.h)
 */
#ifndef DURESS_TARGET_H
#define DURESS_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>

enum target_kind {
	TARGET_SANDBOX,
	TARGET_CGROUP,
	TARGET_PID,
	TARGET_CONTAINER,
};

struct target_spec {
	enum target_kind kind;
	char value[PATH_MAX]; /* path for cgroup:, id or prefix (as given) for container: */
	pid_t pid;	      /* for pid: */
};

/* Pure: parse "-t" text.  NULL or "" means sandbox.  Usage errors name the
 * spec and why (code DURESS_EXIT_USAGE). */
int target_spec_parse(const char *text, struct target_spec *spec, struct duress_err *err);

#define CONTAINER_ID_MAX 64

struct target {
	enum target_kind kind;
	char dir[PATH_MAX];	       /* absolute cgroupfs directory */
	char rel[PATH_MAX];	       /* below the cgroup2 mount, starts with '/' */
	char id[CONTAINER_ID_MAX + 1]; /* full container id, "" if not a container */
	const char *runtime;	       /* "docker", "containerd", "crio", "podman", "kubepods",
			       * "runc", "crun" or NULL */
	pid_t pid;		       /* a process of the target (0 if it has none) */
	bool pin_pid; /* keep pid while it lives (pid:N, an OCI container's init) */
	/* Reached through a cgroup-namespace view (cgview.h): dir and rel are
	 * below view; nsrel is the cgroup as the agent's own namespace shows
	 * it ("/../app").  Both "" otherwise. */
	char view[PATH_MAX];
	char nsrel[PATH_MAX];
	int netns_fd;	    /* open /proc/PID/ns/net, or -1 */
	int mntns_fd;	    /* open /proc/PID/ns/mnt, or -1 */
	bool owned;	    /* the agent created it (sandbox): remove at exit */
	pid_t workload_pid; /* sandbox: the workload's leader process */
};

void target_init(struct target *t);

/*
 * Resolve a spec to a target on this host.  Not found, ambiguous (every
 * match listed in the message) or not a cgroup directory fail with code
 * DURESS_EXIT_NO_TARGET.  TARGET_SANDBOX is resolved by sandbox_create().
 */
int target_resolve(const struct cg_root *root, const struct target_spec *spec, struct target *t,
		   struct duress_err *err);

/* Refresh t->pid and the namespace handles from the target's current
 * processes (the first in cgroup.procs, searching below if it has none). */
int target_refresh_pid(struct target *t, struct duress_err *err);

/* Close handles; does not remove anything (see sandbox_destroy). */
void target_release(struct target *t);

/* 1 if the target's cgroup directory still exists, 0 if gone. */
int target_alive(const struct target *t);

/*
 * Processes of the target's own: in its cgroup and its children, except
 * the agent's own cgroups in it (named duress-*).  Returns the count (>= 0)
 * or < 0 if the cgroup is gone.  A target whose own processes all exited
 * (a container stopped: the runtime kills them, then removes the cgroup)
 * must not be kept alive by the agent's workers.
 */
int target_own_procs(const struct target *t);

/* Human name: "cgroup /x/y", "container docker 3f2a1b9c0d1e", "sandbox ...". */
const char *target_describe(const struct target *t, char *buf, size_t len);

/*
 * Guard rails, refused with DURESS_EXIT_REFUSED unless force: the root
 * cgroup (the whole host), the agent's own cgroup or an ancestor of it (the
 * agent could not revert what it breaks), the cgroup that holds PID 1.
 * A sandbox the agent made is always allowed.
 */
int target_guard(const struct target *t, bool force, struct duress_err *err);

/*
 * What the target may use, for percentages and defaults: the smallest
 * limit from the target up to the root (the one that binds): memory.max
 * (else the host's MemTotal); cpu.max quota/period, or the CPUs in
 * cpuset.cpus.effective when fewer (else the host's online CPUs).  `source` says where the number came from, e.g.
 * "memory.max of /sys/fs/cgroup/x" or "host RAM".
 */
int target_memory_capacity(const struct target *t, uint64_t *bytes, char *source, size_t len,
			   struct duress_err *err);
int target_cpu_capacity(const struct target *t, double *cpus, char *source, size_t len,
			struct duress_err *err);

#endif
