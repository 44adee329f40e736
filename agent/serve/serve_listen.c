// SPDX-License-Identifier: MIT
/*
 * duress serve's listeners (serve.h): a unix socket (mode 0600 in a 0700
 * directory, a stale socket of a dead server taken over, a live one
 * refused) or TCP on a numeric address.
 */
#include <duress/core/exitcode.h>
#include <duress/serve/serve_listen.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

bool listen_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

int listen_parse_tcp(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long port;
	size_t hl;

	if (!colon)
		return -1;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port == 0 || port > 65535)
		return -1;
	hl = (size_t)(colon - text);
	if (hl >= sizeof(host) || hl == 0)
		return -1;
	memcpy(host, text, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
}

static int mkdir_parent(const char *path, struct duress_err *err)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "mkdir %s", dir);
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "mkdir %s", dir);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return duress_err_setc(err, DURESS_EXIT_USAGE, ENOTDIR, "--listen: %s", dir);
	return 0;
}

int listen_unix(const char *path, struct duress_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path) || path[0] != '/')
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--listen: unix:%s: needs an absolute path of at most %zu "
				       "characters",
				       path, sizeof(sa.sun_path) - 1);
	if (mkdir_parent(path, err) < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode))
			return duress_err_setc(err, DURESS_EXIT_REFUSED, EEXIST,
					       "--listen: %s exists and is not a socket", path);
		/* a socket file: in use by a live server, or stale */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			return duress_err_setc(err, DURESS_EXIT_REFUSED, EADDRINUSE,
					       "--listen: %s: another server answers there", path);
		}
		if (probe >= 0)
			close(probe);
		fprintf(stderr, "duress serve: removing the stale socket %s\n", path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "socket");
	/* the socket file is made 0600 by bind itself (the umask), never by a
	 * chmod of its path afterwards: whoever can replace the path in
	 * between with a symlink would have root chmod what it points to */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "--listen: bind %s", path);
		close(fd);
		return -1;
	}
	/* and what is there now is checked, not followed */
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 0177) ||
	    st.st_uid != geteuid()) {
		duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				"--listen: %s is not the socket just made (replaced while it was "
				"made?)",
				path);
		close(fd);
		return -1;
	}
	return fd;
}

int listen_tcp(const struct sockaddr_storage *ss, socklen_t len, const char *text,
	       struct duress_err *err)
{
	int one = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, 64) < 0) {
		duress_err_setc(err, DURESS_EXIT_USAGE, errno, "--listen: %s", text);
		close(fd);
		return -1;
	}
	return fd;
}
