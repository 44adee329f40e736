// SPDX-License-Identifier: MIT
/* The state directory, checked as systemd and sshd check theirs (statedir.h). */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/statedir.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *statedir_component_untrusted(const struct stat *st, uid_t uid)
{
	if (!S_ISDIR(st->st_mode))
		return "not a directory";
	if (st->st_uid != 0 && st->st_uid != uid)
		return "owned by another user";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return "writable by group or others (and not sticky)";
	return NULL;
}

const char *statedir_file_untrusted(const struct stat *st, uid_t uid)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != uid)
		return "owned by another user";
	if (st->st_nlink != 1)
		return "it has other hard links";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	return NULL;
}

/* The directory at the end of the walk: ours, group and others kept out
 * (its mode put right when we own it). */
static int check_own_dir(int fd, const char *what, struct duress_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return duress_err_set(err, errno, "%s", what);
	if (!S_ISDIR(st.st_mode))
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, ENOTDIR, "%s: not a directory",
				       what);
	if (st.st_uid != geteuid())
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, EPERM,
				       "%s: owned by uid %u, not by the agent's user (uid %u): "
				       "anyone who can write it could make the agent revert "
				       "what they like; give the agent a directory of its own",
				       what, (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, errno,
				       "%s: mode %04o, and it cannot be made 0700", what,
				       (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Why a name could not be opened as asked: " is a symbolic link", ... */
static const char *kind_of(int parent, const char *name)
{
	int e = errno;
	struct stat st;
	const char *k = "";

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			k = " is a symbolic link";
		else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			k = " is not a file or a directory";
	}
	errno = e;
	return k;
}

/* openat(parent, name) as a directory, never through a symlink; made 0700
 * first when create.  -1 with errno. */
static int open_dir_at(int parent, const char *name, bool create)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
			return -1;
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd;
}

int statedir_open(const char *path, bool create, struct duress_err *err)
{
	char buf[PATH_MAX], *save = NULL, *comp, *next;
	cleanup_close int fd = -1;
	uid_t uid = geteuid();

	if (!path || path[0] != '/')
		return duress_err_setc(err, DURESS_EXIT_USAGE, EINVAL,
				       "state directory '%s': must be an absolute path",
				       path ? path : "");
	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return duress_err_set(err, ENAMETOOLONG, "state directory %s", path);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return duress_err_set(err, errno, "open /");
	comp = strtok_r(buf, "/", &save);
	if (!comp)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, EPERM,
				       "state directory /: the agent needs a directory of its own");
	for (; comp; comp = next) {
		struct stat st;
		const char *why;
		int nfd;

		next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, ".") || !strcmp(comp, ".."))
			return duress_err_setc(err, DURESS_EXIT_USAGE, EINVAL,
					       "state directory %s: '.' and '..' are not allowed",
					       path);
		nfd = open_dir_at(fd, comp, create);
		if (nfd < 0) {
			int e = errno;

			return duress_err_setc(
				err, e == ELOOP || e == ENOTDIR ? DURESS_EXIT_UNSUPPORTED : 0, e,
				"state directory %s: %s%s", path, comp, kind_of(fd, comp));
		}
		close(fd);
		fd = nfd;
		if (!next)
			break;
		if (fstat(fd, &st) < 0)
			return duress_err_set(err, errno, "state directory %s: %s", path, comp);
		why = statedir_component_untrusted(&st, uid);
		if (why)
			return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, EPERM,
					       "state directory %s: its parent %s is %s", path,
					       comp, why);
	}
	if (check_own_dir(fd, path, err) < 0)
		return duress_err_wrap(err, "state directory");
	return steal_fd(&fd);
}

int statedir_subdir(int dirfd, const char *name, bool create, struct duress_err *err)
{
	cleanup_close int fd = -1;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return duress_err_set(err, EINVAL, "state directory: bad name '%s'", name);
	fd = open_dir_at(dirfd, name, create);
	if (fd < 0)
		return duress_err_setc(
			err, errno == ELOOP || errno == ENOTDIR ? DURESS_EXIT_UNSUPPORTED : 0,
			errno, "state directory: %s%s", name, kind_of(dirfd, name));
	if (check_own_dir(fd, name, err) < 0)
		return duress_err_wrap(err, "state directory");
	return steal_fd(&fd);
}

int statedir_file(int dirfd, const char *name, int flags, mode_t mode, struct duress_err *err)
{
	cleanup_close int fd = -1;
	const char *why;
	struct stat st;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return duress_err_set(err, EINVAL, "state directory: bad name '%s'", name);
	/* Looked at (O_PATH) before it is opened for real: a FIFO, a device
	 * or a socket planted under the name is never opened (opening one
	 * blocks or has effects of its own), a symlink never followed.  A
	 * missing file is made new (O_EXCL), never opened as found. */
	for (int tries = 0; fd < 0; tries++) {
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || !(flags & O_CREAT) || tries == 3)
			break;
		fd = openat(dirfd, name, flags | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0)
			return steal_fd(&fd); /* new, ours: nothing to check */
		if (errno != EEXIST)
			break;
	}
	if (fd < 0)
		return duress_err_set(err, errno, "%s%s", name, kind_of(dirfd, name));
	if (fstat(fd, &st) < 0)
		return duress_err_set(err, errno, "%s", name);
	why = S_ISLNK(st.st_mode) ? "a symbolic link" : statedir_file_untrusted(&st, geteuid());
	if (why)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, EPERM, "%s: %s", name, why);
	{
		char self[64];
		int rfd;

		/* the very file looked at, now as asked */
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		rfd = open(self, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
		if (rfd < 0)
			return duress_err_set(err, errno, "%s", name);
		close(fd);
		fd = rfd;
	}
	return steal_fd(&fd);
}
