/* SPDX-License-Identifier: MIT */
/*
 * The rig of the database filter tests (test_pgf.c, test_myf.c): the proxy
 * engine with one filter and a connection adopted from two socketpairs;
 * the test plays client and server with crafted protocol bytes.  Include
 * after <cmocka.h>.
 */
#ifndef DURESS_TEST_SQLRIG_H
#define DURESS_TEST_SQLRIG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <duress/proxy/proxy.h>
#include <duress/proxy/sqlrule.h>

struct rig {
	struct proxy *p;
	struct sqlr_config cfg;
	int client, server;
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void rig_up_with(struct rig *g, const struct proxy_filter *filter)
{
	struct proxy_config pc = { .listen_fd = -1, .filter = filter };
	struct duress_err err = { 0 };
	int a[2], b[2];

	g->cfg.seed = 11;
	sqlr_init(&g->cfg);
	pc.filter_arg = &g->cfg;
	assert_int_equal(proxy_new(&pc, &g->p, &err), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
	assert_int_equal(proxy_adopt(g->p, a[1], b[0], &err), 0);
	g->client = a[0];
	g->server = b[1];
}

static inline void rig_down(struct rig *g)
{
	close(g->client);
	close(g->server);
	proxy_free(g->p);
	sqlr_free(&g->cfg);
	memset(g, 0, sizeof(*g));
}

static inline void put(struct rig *g, int fd, const void *s, size_t len)
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

/* Up to want bytes from fd within timeout_ms (turning the loop); *eof set
 * when the peer closed. */
static inline size_t get(struct rig *g, int fd, void *out, size_t want, int timeout_ms, bool *eof)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000;
	struct duress_err err = { 0 };
	size_t len = 0;

	if (eof)
		*eof = false;
	while (len < want && now_ns() < end) {
		ssize_t r = recv(fd, (char *)out + len, want - len, MSG_DONTWAIT);

		if (r > 0) {
			len += (size_t)r;
			continue;
		}
		if (r == 0) {
			if (eof)
				*eof = true;
			break;
		}
		proxy_run_once(g->p, 2, &err);
	}
	return len;
}

/* n bytes sent on from, all read on to: the same bytes (large ones too:
 * the loop turns while both go). */
static inline void through(struct rig *g, int from, int to, const char *m, size_t n)
{
	struct duress_err err = { 0 };
	char *buf = malloc(n ? n : 1);
	size_t got = 0;

	assert_non_null(buf);
	for (size_t off = 0; off < n || got < n;) {
		ssize_t w = off < n ? send(from, m + off, n - off, MSG_NOSIGNAL) : 0;
		ssize_t r;

		if (w > 0)
			off += (size_t)w;
		proxy_run_once(g->p, 1, &err);
		r = recv(to, buf + got, n - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
	}
	assert_int_equal(got, n);
	assert_memory_equal(buf, m, n);
	free(buf);
}

#endif
