/* SPDX-License-Identifier: MIT */
/*
 * The one module that touches cgroups.
 *
 * Discovery of hierarchies and controllers goes through libcgroup (it
 * understands v1, v2 and hybrid hosts); every read and write of a cgroup
 * interface file goes straight to cgroupfs, because libcgroup 2.0.2
 * mishandles cgroup v2 writes, creation and deletion (docs/design.md).
 *
 * Paths: `dir` arguments are absolute cgroupfs directories
 * ("/sys/fs/cgroup/system.slice/foo.service").  `rel` paths are relative to
 * the cgroup2 mount and start with '/' ("/system.slice/foo.service"), as
 * in /proc/PID/cgroup.
 */
#ifndef DURESS_CGROUP_H
#define DURESS_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <duress/core/error.h>

/* Marks "max" (unlimited) in values read from cgroup files. */
#define CG_MAX UINT64_MAX

struct cg_root {
	char mount[PATH_MAX];  /* cgroup2 mount point, "" if none */
	char controllers[256]; /* root cgroup.controllers, space-separated */
	/* Controllers libcgroup found on v1 hierarchies ("memory cpu ..."). */
	char v1_controllers[256];
	char v1_memory_mount[PATH_MAX]; /* for the hint, "" if none */
};

/*
 * Find the cgroup2 mount and which controllers it offers.  The environment
 * variable DURESS_CGROUP_ROOT overrides the mount point (tests, sidecars).
 * Fails (code DURESS_EXIT_UNSUPPORTED) when there is no cgroup2 mount.
 */
int cg_root_discover(struct cg_root *root, struct duress_err *err);

/* True if `ctrl` is in root->controllers. */
bool cg_root_has(const struct cg_root *root, const char *ctrl);

/*
 * Check that the cgroup2 hierarchy offers every controller in `needed`
 * (space-separated).  The error explains what is missing and, on a hybrid
 * or v1 host, where those controllers are mounted instead, with a hint.
 */
int cg_root_require(const struct cg_root *root, const char *needed, struct duress_err *err);

/* Join root->mount and rel into out.  Fails if it does not fit. */
int cg_path_join(const struct cg_root *root, const char *rel, char *out, size_t len,
		 struct duress_err *err);
/* The part of an absolute dir below the mount ("/" for the root itself). */
const char *cg_path_rel(const struct cg_root *root, const char *dir);

/* ---- file access (direct cgroupfs) ---- */

/* Read a whole interface file into a malloc'd NUL-terminated buffer. */
int cg_read(const char *dir, const char *file, char **out, struct duress_err *err);
/* Read into buf (NUL-terminated); returns the length.  ENOENT is an error. */
int cg_read_buf(const char *dir, const char *file, char *buf, size_t len, struct duress_err *err);
/* A single number, or "max" as CG_MAX. */
int cg_read_u64(const char *dir, const char *file, uint64_t *out, struct duress_err *err);
/* Write value in one write(2); the error names the file and the value. */
int cg_write(const char *dir, const char *file, const char *value, struct duress_err *err);
bool cg_exists(const char *dir, const char *file);

/* ---- pure parsers of kernel formats (unit-tested with fixtures) ---- */

/* "max" -> CG_MAX, else a decimal number. */
int cg_parse_u64(const char *text, uint64_t *out);

/* Flat keyed files (cpu.stat, memory.stat, memory.events): "key value" lines.
 * Returns 0 and sets *out if key was found, -1 (ENOENT) if not. */
int cg_parse_keyed(const char *text, const char *key, uint64_t *out);

/* One resource's pressure file (cpu.pressure, memory.pressure, io.pressure). */
struct psi_line {
	bool present;
	double avg10, avg60, avg300;
	uint64_t total; /* microseconds stalled */
};
struct psi {
	struct psi_line some, full;
};
int cg_parse_pressure(const char *text, struct psi *out);

/* io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" lines. */
struct io_dev_stat {
	unsigned int major, minor;
	uint64_t rbytes, wbytes, rios, wios, dbytes, dios;
};
/* Fills up to max entries, sets *n to the number found (may exceed max). */
int cg_parse_io_stat(const char *text, struct io_dev_stat *devs, size_t max, size_t *n);

/*
 * /proc/PID/cgroup: returns the v2 path (the "0::/path" line) in out.
 * Fails with ENOENT if the process has no v2 membership (v1-only host).
 */
int cg_parse_proc_cgroup(const char *text, char *out, size_t len);

/* ---- processes and lifecycle ---- */

/* The cgroup (rel path) of a process, from /proc/PID/cgroup. */
int cg_of_pid(pid_t pid, char *rel, size_t len, struct duress_err *err);
/* PIDs in cgroup.procs.  *pids is malloc'd. */
int cg_procs(const char *dir, pid_t **pids, size_t *n, struct duress_err *err);
/* 1 if cgroup.events says populated 1, 0 if not, < 0 on error. */
int cg_populated(const char *dir, struct duress_err *err);

/* mkdir; EEXIST is an error unless exist_ok. */
int cg_create(const char *dir, bool exist_ok, struct duress_err *err);
/* Write "+ctrl ..." to dir/cgroup.subtree_control for each controller in
 * `ctrls` not yet enabled; names EBUSY (internal processes) and ENOENT. */
int cg_enable_controllers(const char *dir, const char *ctrls, struct duress_err *err);
/* Move a process (pid 0 = the caller) into dir. */
int cg_attach(const char *dir, pid_t pid, struct duress_err *err);
/* cgroup.kill (5.14+), else SIGKILL to every pid until empty. */
int cg_kill(const char *dir, struct duress_err *err);
/*
 * Teardown in the fixed order: kill, wait for populated 0 (timeout_ms),
 * rmdir children depth-first then dir, retrying on EBUSY.  ENOENT is done.
 */
int cg_destroy(const char *dir, int timeout_ms, struct duress_err *err);

/* Pure: is `anc` (a path below the cgroup2 mount) equal to or above `rel`? */
bool cg_rel_covers(const char *anc, const char *rel);

/* Call fn(path) for each child cgroup (directory) of dir, until fn
 * returns non-zero (then that value).  -1 with errno if dir cannot be
 * opened. */
int cg_for_each_child(const char *dir, int (*fn)(const char *sub, void *data), void *data);

/* A PSI trigger on dir/<resource>.pressure ("cpu", "memory", "io"): the
 * fd becomes ready (POLLPRI) when tasks stall `stall_us` within any
 * `window_us` (some, or full).  The fd, or < 0. */
int cg_psi_trigger(const char *dir, const char *resource, bool full, uint64_t stall_us,
		   uint64_t window_us, struct duress_err *err);

#endif
