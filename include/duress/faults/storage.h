/* SPDX-License-Identifier: MIT */
/*
 * Storage helpers shared by the io and disk-fill faults (agent/faults/storage.c):
 * io.max lines, which whole disk holds a path, mountinfo lookups, how much
 * a fill must allocate, and the one-line reports workers send back over a
 * pipe.  The pure parts are unit-tested with fixtures (tests/unit/test_storage.c);
 * the sysfs lookups take the sysfs root as an argument for the same reason.
 */
#ifndef DURESS_STORAGE_H
#define DURESS_STORAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <duress/core/error.h>

/* ---- io.max ---- */

/* One device's limits; IO_LIMIT_KEEP (0) = not given: the kernel keeps
 * what the device has.  CG_MAX lifts a limit ("max"). */
#define IO_LIMIT_KEEP 0
struct io_limits {
	uint64_t rbps, wbps, riops, wiops;
};

/*
 * Pure: the line to write for one device, only the keys that are set, in
 * the kernel's order: "254:0 wbps=1048576 riops=100".  Fails (-1, errno
 * EINVAL) when no key is set, (-1, ENAMETOOLONG) when buf is too small.
 */
int io_max_format(unsigned int major, unsigned int minor, const struct io_limits *l, char *buf,
		  size_t len);

/*
 * Pure: the line of device major:minor in io.max text, without its
 * newline and surrounding blanks.  Returns 1 if found; 0 if the device has
 * no line (all its limits are max), and then buf gets the line that puts
 * it back: "MAJ:MIN rbps=max wbps=max riops=max wiops=max"; -1 (errno
 * ENAMETOOLONG) if buf is too small.
 */
int io_max_find(const char *text, unsigned int major, unsigned int minor, char *buf, size_t len);

/* ---- block devices ---- */

/* Pure: "MAJ:MIN" (decimal, nothing else) -> 0, else -1. */
int blk_parse_majmin(const char *s, unsigned int *major, unsigned int *minor);

struct blk_disk {
	unsigned int major, minor;     /* the whole disk (what io.max takes) */
	unsigned int part_major, part_minor; /* the device asked about (a partition or the disk) */
	bool is_partition;
	char name[64];                 /* kernel name of the disk: "vda", "nvme0n1" */
};

/*
 * The whole disk of block device major:minor, from <sysfs>/dev/block/M:m:
 * the device itself, or its parent when it has a `partition` file.  A device
 * sysfs does not know fails with errno ENODEV ("no block device 8:99").
 */
int blk_whole_disk(const char *sysfs, unsigned int major, unsigned int minor,
		   struct blk_disk *out, struct duress_err *err);

struct mount_entry {
	unsigned int major, minor; /* st_dev of the mounted filesystem */
	char mountpoint[PATH_MAX];
	char fstype[64];
	char source[PATH_MAX];
	char upperdir[PATH_MAX];   /* overlay: its upperdir= option, else "" */
};

/*
 * Pure: the first /proc/PID/mountinfo line whose MAJ:MIN is major:minor,
 * octal escapes (\040) decoded.  Returns 0 if found, -1 if not.
 */
int mountinfo_find_dev(const char *text, unsigned int major, unsigned int minor,
		       struct mount_entry *out);

/*
 * The whole disk under a filesystem whose st_dev is dev.  A real device
 * number goes through blk_whole_disk(); an anonymous one (major 0: tmpfs,
 * overlay, 9p, nfs, but also btrfs) is looked up in `mountinfo` (text of
 * the mount namespace the path was seen in): a source that is a block
 * device (btrfs on /dev/sda2) is used, anything else fails with errno
 * ENODEV and a message naming the filesystem type, where it is mounted and
 * that --device picks a disk.  `what` names the path for messages.
 */
int blk_disk_of_dev(const char *sysfs, const char *mountinfo, dev_t dev, const char *what,
		    struct blk_disk *out, struct duress_err *err);

/*
 * The whole disk under `path` (a block device node: that device; any other
 * file: the disk of its filesystem), in the agent's own view (/proc/self).
 */
int blk_disk_of_path(const char *path, struct blk_disk *out, struct duress_err *err);

/* ---- paths seen from inside a target ---- */

/*
 * Open `path` as the process pid sees it (pid 0: the agent's own view):
 * relative to /proc/PID/root, absolute symlinks staying inside that root
 * (openat2 RESOLVE_IN_ROOT, plain openat before Linux 5.6).  `flags` as for
 * open(2); O_CLOEXEC is added.  The error names the path and the view.
 */
int open_in_root(pid_t pid, const char *path, int flags, struct duress_err *err);

/* "/proc/PID/root" or "/" for messages and plans. */
const char *root_view(pid_t pid, char *buf, size_t len);

/* Name of a filesystem from its statfs f_type ("ext4", "tmpfs"), NULL if unknown. */
const char *fs_type_name(long f_type);

/* ---- disk fills ---- */

enum fill_mode {
	FILL_SIZE,    /* allocate this many bytes */
	FILL_PERCENT, /* until this percent of the filesystem is in use (as df shows Use%) */
	FILL_LEAVE,   /* until this many bytes are left to unprivileged users (f_bavail) */
};

struct fill_goal {
	enum fill_mode mode;
	uint64_t bytes; /* FILL_SIZE, FILL_LEAVE */
	double pct;     /* FILL_PERCENT, 0..100 */
};

/* The statfs numbers a fill works from, all in bytes. */
struct fs_space {
	uint64_t total; /* f_blocks * f_frsize */
	uint64_t free;  /* f_bfree: root may use it, reserved blocks included */
	uint64_t avail; /* f_bavail: what unprivileged users may still use */
	uint64_t block; /* f_frsize (allocation granularity) */
};

/*
 * Pure: how many more bytes the fill must hold to reach the goal, given
 * the space now and what the fill file holds already (`held`).  Negative
 * when it holds too much (a correction frees the difference).  PERCENT
 * follows df: in use = total - free, of (in use + avail); the goal is
 * rounded down to whole blocks so df shows the percentage asked for.
 */
int64_t fill_needed(const struct fill_goal *g, const struct fs_space *s, uint64_t held);

/* Pure: what unprivileged users have left once `fill` more bytes are held. */
uint64_t fill_avail_after(const struct fs_space *s, uint64_t fill);

/* Pure: true if that leaves less than pct percent of the filesystem free. */
bool fill_leaves_too_little(const struct fs_space *s, uint64_t fill, double pct);

/* ---- worker reports: one text line each, over a pipe ---- */

/* Child side: write one line (a '\n' is added).  Lines up to PIPE_BUF
 * arrive whole. */
void wmsg_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct wmsg {
	int fd;         /* read end, O_NONBLOCK is set by wmsg_init */
	char buf[1024];
	size_t len;
	bool eof;
};

void wmsg_init(struct wmsg *m, int fd);
/*
 * Wait up to timeout_ms (0: do not wait) for one line; copies it without
 * the '\n'.  Returns 1 with a line, 0 if none yet, -1 at end of file (the
 * worker closed the pipe or exited) with no line left.
 */
int wmsg_recv(struct wmsg *m, int timeout_ms, char *line, size_t len);

#endif
