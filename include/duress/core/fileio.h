/* SPDX-License-Identifier: MIT */
/*
 * Whole small files and directory trees (agent/core/fileio.c): the helpers
 * that were written three times over.
 */
#ifndef DURESS_FILEIO_H
#define DURESS_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What fd holds from its offset to the end (a fresh fd: all of it),
 * NUL-terminated in a malloc'd *out; at most max bytes (EFBIG beyond).
 * Returns the length, or -1 with errno. */
ssize_t fileio_read_fd(int fd, size_t max, char **out);

/* A whole small regular file (at most max bytes from its end when tail,
 * else NULL beyond), NUL-terminated; NULL if it cannot be read.  Not for
 * /proc or sysfs files, which have no size: fileio_read_fd. */
char *fileio_slurp(const char *path, size_t max, bool tail, size_t *len);

/* mkdir -p with mode for the directories it makes.  -1 with errno; *failed
 * (if not NULL, PATH_MAX bytes) gets the component that could not be made. */
int fileio_mkdir_p(const char *path, mode_t mode, char *failed);

#endif
