/* SPDX-License-Identifier: MIT */
/*
 * Cgroup-namespace views (docs/containers.md): when the agent sits in its
 * own cgroup namespace (a sidecar), a target's /proc/PID/cgroup reads
 * "0::/../other" and the agent's cgroup2 mount does not show it.  A view is
 * a fresh cgroup2 mounted, in a private mount namespace of the agent, while
 * in the target process's cgroup namespace, at
 * <base>/<pid>-<starttime> (base: $DURESS_CGNS_DIR, else
 * $DURESS_STATE_DIR/cgns, else /run/duress/cgns).
 * Interface files are then opened from the agent's own cgroup namespace.
 */
#ifndef DURESS_CGVIEW_H
#define DURESS_CGVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <duress/core/error.h>
#include <duress/core/undo.h>

#define CGVIEW_BASE_DEFAULT "/run/duress/cgns"

/* The base directory of views. */
const char *cg_view_base(void);

/* Pure: true if a cgroup path (from /proc/PID/cgroup) lies outside the
 * reader's cgroup namespace ("/..", "/../x"). */
bool cg_rel_outside(const char *rel);

/* Pure: true if rel is only ".." components ("/..", "/../.."): an
 * ancestor of the reader's own cgroup. */
bool cg_rel_only_up(const char *rel);

/*
 * Make (or reuse) the view for process pid: dir gets the mount point, rel
 * the process's cgroup below it ("/" when it is its namespace's root).
 * Errors name the step and the capability it needs (code NO_TARGET).
 */
int cg_view_for_pid(pid_t pid, char *dir, size_t dirlen, char *rel, size_t rellen,
		    struct duress_err *err);

/*
 * For a path recorded earlier (undo journal): if it lies below a view
 * directory that is not mounted in this process, mount it again from the
 * same process's cgroup namespace.  0 if nothing to do or done; < 0 with
 * errnum ESRCH if that process is gone (or its pid was reused).
 */
int cg_view_ensure(const char *path, struct duress_err *err);

/*
 * The views this process mounted are unmounted and their directories
 * removed when it exits.  Whoever removes an undo journal does it first:
 * an agent at the end of its session (cg_views_release: the views it
 * mounted), a replay for every view its steps name (cg_view_remove: also
 * those a dead agent mounted in a namespace that died with it).  Killed in
 * between, the journal is still there and its replay removes them; never
 * the other way round, an empty directory that no journal names.
 */
void cg_views_release(void);
/* If path lies below a view: unmount it here (if it is) and remove its
 * directory.  0 when no view directory is left (or path is not below a
 * view), < 0 when it could not be removed. */
int cg_view_remove(const char *path);

/* Pure: parse "<base>/<pid>-<start>[/...]"; 1 if path is a view path. */
int cg_view_parse(const char *base, const char *path, pid_t *pid, unsigned long long *start,
		  char *dir, size_t dirlen);

/*
 * $DURESS_CGROUPNS (docs/containers.md): "host" (the cgroup namespace of
 * PID 1, with the host's PID namespace) or a /proc/PID/ns/cgroup path.  The
 * agent joins that namespace for good, at start-up, and (unless
 * $DURESS_CGROUP_ROOT names the tree) mounts a cgroup2 rooted there over
 * /sys/fs/cgroup in a private mount namespace: the agent then sees and
 * moves processes as an agent on the host does (workers too).  Unset: 0.
 */
int cg_ns_join_from_env(struct duress_err *err);

/*
 * The undo kinds of cgroups (agent/targets/cgview.c), replayed through a
 * view mounted again when the agent that recorded them used one:
 *   cgroup-write   where = cgroup dir, what = file, value = original content
 *                  (for io.max: the original line of one device, or
 *                  "MAJ:MIN rbps=max wbps=max riops=max wiops=max")
 *   cgroup-remove  where = cgroup dir made by the agent: kill its processes
 *                  and remove it (workers, the sandbox)
 */
extern const struct undo_kind undo_kind_cgroup_write;
extern const struct undo_kind undo_kind_cgroup_remove;

#endif
