/* SPDX-License-Identifier: MIT */
/*
 * The rig of the proxy filter tests (test_httpf.c, and test_pgf.c and
 * test_myf.c through sqlrig.h): the proxy engine with one filter and one
 * connection adopted from two socketpairs; the test plays client and
 * server, feeding bytes in at one end and collecting what the filter lets
 * out at the other.  Include after <cmocka.h>, with RIG_CONFIG defined
 * first: the members struct rig keeps for the filter's configuration, e.g.
 *	#define RIG_CONFIG struct sqlr_config cfg;
 */
#ifndef DURESS_TEST_PROXYRIG_H
#define DURESS_TEST_PROXYRIG_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <duress/proxy/proxy.h>

struct rig {
	struct proxy *p;
	int client, server; /* the test's ends */
	RIG_CONFIG
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The engine with filter (its argument arg) and the connection between
 * g->client and g->server. */
static inline void rig_open(struct rig *g, const struct proxy_filter *filter, void *arg)
{
	struct proxy_config pc = { .listen_fd = -1, .filter = filter, .filter_arg = arg };
	struct duress_err err = { 0 };
	int a[2], b[2];

	assert_int_equal(proxy_new(&pc, &g->p, &err), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
	assert_int_equal(proxy_adopt(g->p, a[1], b[0], &err), 0);
	g->client = a[0];
	g->server = b[1];
}

static inline void rig_close(struct rig *g)
{
	close(g->client);
	close(g->server);
	proxy_free(g->p);
}

/* len bytes of s sent on fd, all of them (turning the loop). */
static inline void rig_put(struct rig *g, int fd, const void *s, size_t len)
{
	struct duress_err err = { 0 };
	size_t off = 0;

	while (off < len) {
		ssize_t w = send(fd, (const char *)s + off, len - off, MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		proxy_run_once(g->p, 1, &err);
	}
}

/* How a read ended early: the peer closed (EOF) or reset the connection. */
enum rig_end { RIG_OPEN, RIG_EOF, RIG_RESET };

/* Read from fd into buf (turning the loop), at most room bytes: until want
 * bytes (0: no count), or the text until (NULL: none) stands in what was
 * read, or the peer closes or resets (*end, when not NULL), or timeout_ms;
 * returns the length read. */
static inline size_t rig_read(struct rig *g, int fd, void *buf, size_t room, size_t want,
			      const char *until, int timeout_ms, enum rig_end *end)
{
	uint64_t stop = now_ns() + (uint64_t)timeout_ms * 1000000;
	struct duress_err err = { 0 };
	size_t len = 0;

	if (end)
		*end = RIG_OPEN;
	while (len < room && now_ns() < stop) {
		ssize_t r = recv(fd, (char *)buf + len, room - len, MSG_DONTWAIT);

		if (r > 0) {
			len += (size_t)r;
			if ((want && len >= want) ||
			    (until && memmem(buf, len, until, strlen(until))))
				break;
			continue;
		}
		if (r == 0 || errno == ECONNRESET) {
			if (end)
				*end = r == 0 ? RIG_EOF : RIG_RESET;
			break;
		}
		proxy_run_once(g->p, 2, &err);
	}
	return len;
}

/* n bytes of m sent on from while what comes out on to is read into buf,
 * at most room bytes, until all are sent and want bytes were read (0: no
 * count) or the text until (NULL: none) stands in them, or timeout_ms;
 * returns the length read.  For a filter that changes what passes: what
 * it lets out is then the test's to check. */
static inline size_t rig_pump(struct rig *g, int from, const char *m, size_t n, int to, void *buf,
			      size_t room, size_t want, const char *until, int timeout_ms)
{
	uint64_t stop = now_ns() + (uint64_t)timeout_ms * 1000000;
	struct duress_err err = { 0 };
	size_t off = 0, len = 0;

	while (now_ns() < stop) {
		if (off < n) {
			ssize_t w = send(from, m + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0)
				off += (size_t)w;
		}
		proxy_run_once(g->p, 1, &err);
		while (len < room) {
			ssize_t r = recv(to, (char *)buf + len, room - len, MSG_DONTWAIT);

			if (r <= 0)
				break;
			len += (size_t)r;
		}
		if (off == n &&
		    ((want && len >= want) || (until && memmem(buf, len, until, strlen(until)))))
			break;
	}
	return len;
}

/* n bytes sent on from, all read on to: the same bytes (large ones too:
 * the loop turns while both go). */
static inline void rig_through(struct rig *g, int from, int to, const char *m, size_t n)
{
	char *buf = malloc(n ? n : 1);

	assert_non_null(buf);
	assert_int_equal(rig_pump(g, from, m, n, to, buf, n, n, NULL, 60000), n);
	assert_memory_equal(buf, m, n);
	free(buf);
}

#endif
