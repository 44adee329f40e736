// SPDX-License-Identifier: MIT
/* Whole small files and directories (fileio.h). */
#include <duress/core/cleanup.h>
#include <duress/core/fileio.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t fileio_read_fd(int fd, size_t max, char **out)
{
	size_t cap = 4096, off = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -1;
	for (;;) {
		ssize_t r;

		if (off + 1 >= cap) {
			char *nb;

			if (cap > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + off, cap - 1 - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		off += (size_t)r;
		if (off > max) {
			free(buf);
			errno = EFBIG;
			return -1;
		}
	}
	buf[off] = '\0';
	*out = buf;
	return (ssize_t)off;
}

char *fileio_slurp(const char *path, size_t max, bool tail, size_t *len)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	char *buf;
	long size;
	size_t n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0)
		return NULL;
	if ((size_t)size > max) {
		if (!tail)
			return NULL;
		fseek(f, size - (long)max, SEEK_SET);
		size = (long)max;
	} else {
		rewind(f);
	}
	buf = malloc((size_t)size + 1);
	if (!buf)
		return NULL;
	n = fread(buf, 1, (size_t)size, f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int fileio_mkdir_p(const char *path, mode_t mode, char *failed)
{
	char buf[PATH_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST) {
			if (failed)
				snprintf(failed, PATH_MAX, "%s", buf);
			return -1;
		}
		if (!c)
			break;
		*p = c;
	}
	return 0;
}
