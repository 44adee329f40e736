/* SPDX-License-Identifier: MIT */
/*
 * The state directory, trusted only as far as it is checked
 * (agent/core/statedir.c; docs/crash-safety.md, "What is trusted").
 *
 * As systemd's chase() and sshd's StrictModes do: the path is opened from /
 * one component at a time with O_NOFOLLOW, each component a directory owned
 * by root or by the agent's user that nobody else may write to unless it is
 * sticky (/tmp); the state directory itself is made (0700) when missing and
 * must then be the agent's own with no group or other write: its mode is
 * put right when the agent owns it (a Kubernetes emptyDir is 0777), another
 * user's directory is refused.  Everything below it is reached from its fd
 * with openat(..., O_NOFOLLOW): subdirectories (the same rule) and files
 * (regular, the agent's own, one link, no group or other write).
 */
#ifndef DURESS_STATEDIR_H
#define DURESS_STATEDIR_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <duress/core/error.h>

/* Open the directory at path (absolute), making the missing components
 * (0700) when create.  An O_DIRECTORY fd, or < 0 (code DURESS_EXIT_UNSUPPORTED when it
 * is not safe to use, with why). */
int statedir_open(const char *path, bool create, struct duress_err *err);

/* A subdirectory of dirfd by name (one component), made 0700 when create;
 * the same checks.  < 0 with errnum ENOENT when it is missing. */
int statedir_subdir(int dirfd, const char *name, bool create, struct duress_err *err);

/* A file of dirfd by name, never through a symlink: flags as open(2)
 * (O_CLOEXEC added), mode for O_CREAT.  The file must be a regular file of
 * the agent's user with one link and no group or other write, which is
 * checked before it is opened (O_PATH: a FIFO, a device or a socket under
 * the name is never opened); a missing one is made new (O_EXCL); else < 0
 * (errnum EPERM, why in the message). */
int statedir_file(int dirfd, const char *name, int flags, mode_t mode, struct duress_err *err);

/* Pure: is st a file the agent may trust (regular, owned by uid, one link,
 * no group or other write)?  NULL, or why not. */
const char *statedir_file_untrusted(const struct stat *st, uid_t uid);

/* Pure: may a directory component with st be on the way to the state
 * directory (owned by root or uid; writable by others only if sticky)?
 * NULL, or why not. */
const char *statedir_component_untrusted(const struct stat *st, uid_t uid);

#endif
