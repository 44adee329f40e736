/* SPDX-License-Identifier: MIT */
/*
 * A target's filesystems and disks (agent/targets/fsinfo.c): which whole
 * disk holds a path (what io.max takes), mountinfo lookups, and paths
 * opened as the target sees them (its root).  The sysfs lookups take the
 * sysfs root as an argument, so that they are unit-tested with fixtures
 * (tests/unit/test_storage.c).
 */
#ifndef DURESS_FSINFO_H
#define DURESS_FSINFO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <duress/core/error.h>

/* ---- block devices ---- */

/* Pure: "MAJ:MIN" (decimal, nothing else) -> 0, else -1. */
int fs_parse_majmin(const char *s, unsigned int *major, unsigned int *minor);

struct fs_disk {
	unsigned int major, minor;	     /* the whole disk (what io.max takes) */
	unsigned int part_major, part_minor; /* the device asked about (a partition or the disk) */
	bool is_partition;
	char name[64]; /* kernel name of the disk: "vda", "nvme0n1" */
};

/*
 * The whole disk of block device major:minor, from <sysfs>/dev/block/M:m:
 * the device itself, or its parent when it has a `partition` file.  A device
 * sysfs does not know fails with errno ENODEV ("no block device 8:99").
 */
int fs_whole_disk(const char *sysfs, unsigned int major, unsigned int minor, struct fs_disk *out,
		  struct duress_err *err);

struct fs_mount {
	unsigned int major, minor; /* st_dev of the mounted filesystem */
	char mountpoint[PATH_MAX];
	char fstype[64];
	char source[PATH_MAX];
	char upperdir[PATH_MAX]; /* overlay: its upperdir= option, else "" */
};

/*
 * Pure: the first /proc/PID/mountinfo line whose MAJ:MIN is major:minor,
 * octal escapes (\040) decoded.  Returns 0 if found, -1 if not.
 */
int fs_mountinfo_find(const char *text, unsigned int major, unsigned int minor,
		      struct fs_mount *out);

/*
 * The whole disk under a filesystem whose st_dev is dev.  A real device
 * number goes through fs_whole_disk(); an anonymous one (major 0: tmpfs,
 * overlay, 9p, nfs, but also btrfs) is looked up in `mountinfo` (text of
 * the mount namespace the path was seen in): a source that is a block
 * device (btrfs on /dev/sda2) is used, anything else fails with errno
 * ENODEV and a message naming the filesystem type, where it is mounted and
 * that --device picks a disk.  `what` names the path for messages.
 */
int fs_disk_of_dev(const char *sysfs, const char *mountinfo, dev_t dev, const char *what,
		   struct fs_disk *out, struct duress_err *err);

/*
 * The whole disk under `path` (a block device node: that device; any other
 * file: the disk of its filesystem), in the agent's own view (/proc/self).
 */
int fs_disk_of_path(const char *path, struct fs_disk *out, struct duress_err *err);

/* ---- paths seen from inside a target ---- */

/*
 * Open `path` as the process pid sees it (pid 0: the agent's own view):
 * relative to /proc/PID/root, absolute symlinks staying inside that root
 * (openat2 RESOLVE_IN_ROOT, plain openat before Linux 5.6).  `flags` as for
 * open(2); O_CLOEXEC is added.  The error names the path and the view.
 */
int fs_open_in_root(pid_t pid, const char *path, int flags, struct duress_err *err);

/* "/proc/PID/root" or "/" for messages and plans. */
const char *fs_root_view(pid_t pid, char *buf, size_t len);

/* Name of a filesystem from its statfs f_type ("ext4", "tmpfs"), NULL if unknown. */
const char *fs_type_name(long f_type);

#endif
