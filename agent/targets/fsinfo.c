// SPDX-License-Identifier: MIT
/*
 * A target's filesystems and disks (fsinfo.h): which whole disk holds a
 * path (sysfs, mountinfo), and paths opened as the target sees them.
 */
#include <duress/core/fileio.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/targets/fsinfo.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- block devices ---- */

static int parse_uint_part(const char *s, const char **end, unsigned int *out)
{
	unsigned long v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > UINT_MAX)
			return -1;
		s++;
	}
	*out = (unsigned int)v;
	*end = s;
	return 0;
}

int fs_parse_majmin(const char *s, unsigned int *major, unsigned int *minor)
{
	unsigned int ma, mi;
	const char *p;

	if (parse_uint_part(s, &p, &ma) < 0 || *p != ':')
		return -1;
	if (parse_uint_part(p + 1, &p, &mi) < 0 || *p)
		return -1;
	*major = ma;
	*minor = mi;
	return 0;
}

/* Read a small sysfs attribute, trailing newline dropped. */
static int read_attr(const char *path, char *buf, size_t len)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, len - 1);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void base_name(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	const char *b = slash ? slash + 1 : path;
	size_t n = strnlen(b, len - 1);

	memcpy(out, b, n);
	out[n] = '\0';
}

int fs_whole_disk(const char *sysfs, unsigned int major, unsigned int minor, struct fs_disk *out,
		  struct duress_err *err)
{
	char link[PATH_MAX], real[PATH_MAX], attr[PATH_MAX + 16], val[64];
	struct fs_disk d = { 0 };
	struct stat st;

	if ((size_t)snprintf(link, sizeof(link), "%s/dev/block/%u:%u", sysfs, major, minor) >=
	    sizeof(link))
		return duress_err_set(err, ENAMETOOLONG, "%s/dev/block/%u:%u", sysfs, major, minor);
	if (!realpath(link, real)) {
		if (errno == ENOENT) {
			duress_err_set(err, 0, "no block device %u:%u (%s does not exist)", major,
				       minor, link);
			err->errnum = ENODEV;
			return -1;
		}
		return duress_err_set(err, errno, "block device %u:%u: %s", major, minor, link);
	}
	d.part_major = major;
	d.part_minor = minor;
	snprintf(attr, sizeof(attr), "%s/partition", real);
	if (stat(attr, &st) == 0) {
		char *slash = strrchr(real, '/');

		if (!slash || slash == real)
			return duress_err_set(err, ENODEV, "partition %u:%u: no parent disk in %s",
					      major, minor, real);
		*slash = '\0';
		d.is_partition = true;
	}
	snprintf(attr, sizeof(attr), "%s/dev", real);
	if (read_attr(attr, val, sizeof(val)) < 0)
		return duress_err_set(err, errno, "block device %u:%u: read %s", major, minor,
				      attr);
	if (fs_parse_majmin(val, &d.major, &d.minor) < 0)
		return duress_err_set(err, EINVAL, "block device %u:%u: %s holds '%s', not MAJ:MIN",
				      major, minor, attr, val);
	base_name(real, d.name, sizeof(d.name));
	*out = d;
	return 0;
}

/* Decode mountinfo's octal escapes (\040 space, \011 tab, \012, \134). */
static void unescape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	while (*in && o + 1 < len) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			out[o++] = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 4;
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = '\0';
}

static void opt_value(const char *opts, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	out[0] = '\0';
	for (const char *p = opts; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);

		if (l > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			char raw[PATH_MAX];

			snprintf(raw, sizeof(raw), "%.*s", (int)(l - kl - 1), p + kl + 1);
			unescape(raw, out, len);
			return;
		}
		p = comma ? comma + 1 : NULL;
	}
}

#define MI_FIELDS 64

int fs_mountinfo_find(const char *text, unsigned int major, unsigned int minor,
		      struct fs_mount *out)
{
	for (const char *line = text; line && *line;) {
		const char *start = line, *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		char *f[MI_FIELDS];
		char *save = NULL, *tok;
		unsigned int ma, mi;
		size_t n = 0, sep = 0;
		char buf[4 * PATH_MAX];
		const char *dash;

		line = nl ? nl + 1 : NULL;
		if (ll >= sizeof(buf))
			continue;
		memcpy(buf, start, ll);
		buf[ll] = '\0';
		for (tok = strtok_r(buf, " ", &save); tok && n < MI_FIELDS;
		     tok = strtok_r(NULL, " ", &save))
			f[n++] = tok;
		if (n < 7)
			continue;
		{
			const char *p;

			if (parse_uint_part(f[2], &p, &ma) < 0 || *p != ':' ||
			    parse_uint_part(p + 1, &p, &mi) < 0 || *p)
				continue;
		}
		if (ma != major || mi != minor)
			continue;
		for (size_t i = 6; i < n; i++) {
			if (!strcmp(f[i], "-")) {
				sep = i;
				break;
			}
		}
		if (!sep || sep + 2 >= n)
			continue;
		memset(out, 0, sizeof(*out));
		out->major = ma;
		out->minor = mi;
		unescape(f[4], out->mountpoint, sizeof(out->mountpoint));
		unescape(f[sep + 1], out->fstype, sizeof(out->fstype));
		unescape(f[sep + 2], out->source, sizeof(out->source));
		dash = sep + 3 < n ? f[sep + 3] : "";
		if (!strcmp(out->fstype, "overlay"))
			opt_value(dash, "upperdir", out->upperdir, sizeof(out->upperdir));
		return 0;
	}
	return -1;
}

/* errno ENODEV, without strerror in the message: it says it better. */
static int no_disk(struct duress_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int no_disk(struct duress_err *err, const char *fmt, ...)
{
	char msg[DURESS_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	duress_err_set(err, 0, "%s", msg);
	err->errnum = ENODEV;
	return -1;
}

int fs_disk_of_dev(const char *sysfs, const char *mountinfo, dev_t dev, const char *what,
		   struct fs_disk *out, struct duress_err *err)
{
	struct fs_mount me;
	struct stat st;

	if (major(dev) != 0) {
		if (fs_whole_disk(sysfs, major(dev), minor(dev), out, err) < 0)
			return duress_err_wrap(err, "%s", what);
		return 0;
	}
	if (fs_mountinfo_find(mountinfo, 0, minor(dev), &me) < 0)
		return no_disk(err,
			       "%s is on a filesystem with no block device (device 0:%u, not in "
			       "mountinfo): io.max needs a disk; name one with --device "
			       "PATH|MAJ:MIN",
			       what, minor(dev));
	/* btrfs and a few others show an anonymous device but sit on a disk */
	if (me.source[0] == '/' && stat(me.source, &st) == 0 && S_ISBLK(st.st_mode)) {
		if (fs_whole_disk(sysfs, major(st.st_rdev), minor(st.st_rdev), out, err) < 0)
			return duress_err_wrap(err, "%s (%s on %s)", what, me.fstype, me.source);
		return 0;
	}
	if (me.upperdir[0])
		return no_disk(err,
			       "%s is on an %s filesystem (mounted at %s, upper directory "
			       "%s) that has no block device: io.max needs a disk; name the one "
			       "under the upper directory with --device",
			       what, me.fstype, me.mountpoint, me.upperdir);
	return no_disk(err,
		       "%s is on a %s filesystem (%s mounted at %s) that has no block "
		       "device: io.max needs a disk; name one with --device PATH|MAJ:MIN",
		       what, me.fstype, me.source, me.mountpoint);
}

int fs_disk_of_path(const char *path, struct fs_disk *out, struct duress_err *err)
{
	cleanup_free char *mountinfo = NULL;
	struct stat st;

	if (stat(path, &st) < 0)
		return duress_err_set(err, errno, "%s", path);
	if (S_ISBLK(st.st_mode)) {
		if (fs_whole_disk("/sys", major(st.st_rdev), minor(st.st_rdev), out, err) < 0)
			return duress_err_wrap(err, "%s", path);
		return 0;
	}
	if (major(st.st_dev) == 0) {
		/* a proc file has no size: read it to its end */
		cleanup_close int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fileio_read_fd(fd, 64 << 20, &mountinfo) < 0)
			return duress_err_set(err, errno, "read /proc/self/mountinfo");
	}
	return fs_disk_of_dev("/sys", mountinfo ? mountinfo : "", st.st_dev, path, out, err);
}

/* ---- paths seen from inside a target ---- */

const char *fs_root_view(pid_t pid, char *buf, size_t len)
{
	if (pid > 0)
		snprintf(buf, len, "/proc/%d/root", (int)pid);
	else
		snprintf(buf, len, "/");
	return buf;
}

int fs_open_in_root(pid_t pid, const char *path, int flags, struct duress_err *err)
{
	struct open_how how = { 0 };
	cleanup_close int rootfd = -1;
	char root[64];
	const char *rel = path;
	int fd;

	fs_root_view(pid, root, sizeof(root));
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		if (pid > 0 && errno == ENOENT)
			return duress_err_set(err, ESRCH, "%s: process %d of the target is gone",
					      path, (int)pid);
		return duress_err_set(err, errno, "%s: open %s", path, root);
	}
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_IN_ROOT;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM || errno == E2BIG)) {
		while (*rel == '/')
			rel++;
		fd = openat(rootfd, *rel ? rel : ".", flags | O_CLOEXEC);
	}
	if (fd < 0) {
		int e = errno;

		if (pid > 0)
			return duress_err_set(err, e, "%s (seen through %s)", path, root);
		return duress_err_set(err, e, "%s", path);
	}
	return fd;
}

const char *fs_type_name(long f_type)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} names[] = {
		{ EXT4_SUPER_MAGIC, "ext4" },
		{ XFS_SUPER_MAGIC, "xfs" },
		{ BTRFS_SUPER_MAGIC, "btrfs" },
		{ TMPFS_MAGIC, "tmpfs" },
		{ RAMFS_MAGIC, "ramfs" },
		{ OVERLAYFS_SUPER_MAGIC, "overlay" },
		{ V9FS_MAGIC, "9p" },
		{ NFS_SUPER_MAGIC, "nfs" },
		{ 0x65735546UL, "fuse" },
		{ F2FS_SUPER_MAGIC, "f2fs" },
		{ SQUASHFS_MAGIC, "squashfs" },
		{ MSDOS_SUPER_MAGIC, "vfat" },
		{ 0x2fc12fc1UL, "zfs" },
		{ 0x6a656a63UL, "virtiofs" },
		{ PROC_SUPER_MAGIC, "proc" },
		{ SYSFS_MAGIC, "sysfs" },
		{ CGROUP2_SUPER_MAGIC, "cgroup2" },
	};

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(names); i++)
		if ((unsigned long)(unsigned int)f_type == names[i].magic)
			return names[i].name;
	return NULL;
}
