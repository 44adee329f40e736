// SPDX-License-Identifier: MIT
/*
 * The proxy engine on real sockets of this process (socketpairs and
 * loopback TCP): forwarding both ways, FIN passed on, bytes held until
 * their release time and kept in order, resets, a filter that answers
 * alone, explicit mode through a listener, and the address parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <duress/core/exitcode.h>
#include <duress/proxy/proxy.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Run the loop until cond(arg) or timeout_ms. */
static bool spin(struct proxy *p, bool (*cond)(void *), void *arg, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000;
	struct duress_err err = { 0 };

	while (now_ns() < end) {
		if (cond && cond(arg))
			return true;
		assert_int_equal(proxy_run_once(p, 5, &err), 0);
	}
	return cond ? cond(arg) : true;
}

struct reader {
	int fd;
	char buf[1 << 20];
	size_t len;
	bool eof;
	int err;
	size_t want;
};

static bool read_some(void *arg)
{
	struct reader *r = arg;

	for (;;) {
		ssize_t n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);

		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0)
			r->eof = true;
		else if (errno != EAGAIN)
			r->err = errno;
		break;
	}
	return r->eof || r->err || (r->want && r->len >= r->want);
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_forward(void **state)
{
	struct proxy_config cfg = { .listen_fd = -1 };
	struct duress_err err = { 0 };
	static struct reader r;
	struct proxy *p;
	int a[2], b[2]; /* a: client <-> proxy, b: proxy <-> server */
	static char big[300000];

	(void)state;
	assert_int_equal(proxy_new(&cfg, &p, &err), 0);
	pair(a);
	pair(b);
	assert_int_equal(proxy_adopt(p, a[1], b[0], &err), 0);
	/* client -> server, more than one read and the queue's mark */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	{
		size_t off = 0;

		memset(&r, 0, sizeof(r));
		r.fd = b[1];
		r.want = sizeof(big);
		while (off < sizeof(big) || !read_some(&r)) {
			ssize_t w = off < sizeof(big) ? send(a[0], big + off, sizeof(big) - off,
							     MSG_DONTWAIT | MSG_NOSIGNAL)
						      : 0;

			if (w > 0)
				off += (size_t)w;
			proxy_run_once(p, 1, &err);
			read_some(&r);
			if (r.len >= sizeof(big))
				break;
		}
	}
	assert_int_equal(r.len, sizeof(big));
	assert_memory_equal(r.buf, big, sizeof(big));
	/* server -> client, then the server's FIN reaches the client */
	assert_int_equal(send(b[1], "pong", 4, 0), 4);
	shutdown(b[1], SHUT_WR);
	memset(&r, 0, sizeof(r));
	r.fd = a[0];
	assert_true(spin(p, read_some, &r, 2000));
	spin(p, read_some, &r, 50);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.buf, "pong", 4);
	assert_true(r.eof);
	/* client's FIN: the connection ends, both descriptors closed */
	shutdown(a[0], SHUT_WR);
	memset(&r, 0, sizeof(r));
	r.fd = b[1];
	assert_true(spin(p, read_some, &r, 2000));
	assert_true(r.eof);
	spin(p, NULL, NULL, 20);
	assert_int_equal(proxy_active(p), 0);
	{
		json_t *s = proxy_stats(p), *o = json_object_get(s, "proxy");

		assert_int_equal(json_integer_value(json_object_get(o, "connections")), 1);
		assert_int_equal(json_integer_value(json_object_get(o, "bytes_up")), sizeof(big));
		assert_int_equal(json_integer_value(json_object_get(o, "bytes_down")), 4);
		json_decref(s);
	}
	close(a[0]);
	close(b[1]);
	proxy_free(p);
}

/* ---- a filter that holds every chunk 80 ms, and answers "RESET" with a
 * reset after "bye" reached the client ---- */

struct hold_state {
	int chunks;
};

static void hold_data(struct proxy_conn *c, enum proxy_dir dir, const char *buf, size_t len)
{
	struct hold_state *st = proxy_conn_priv(c);

	st->chunks++;
	if (dir == PROXY_UP && len >= 5 && !memcmp(buf, "RESET", 5)) {
		proxy_send(c, PROXY_DOWN, "bye", 3, 0);
		proxy_reset(c, true);
		return;
	}
	if (dir == PROXY_UP && len >= 4 && !memcmp(buf, "ANSW", 4)) {
		proxy_send(c, PROXY_DOWN, "myself", 6, 0);
		return;
	}
	proxy_send(c, dir, buf, len, proxy_conn_now(c) + 80000000);
}

static int alone_open(struct proxy_conn *c)
{
	(void)c;
	return PROXY_OPEN_NO_UPSTREAM;
}

static const struct proxy_filter hold_filter = {
	.name = "hold",
	.conn_size = sizeof(struct hold_state),
	.data = hold_data,
};
static const struct proxy_filter alone_filter = {
	.name = "alone",
	.conn_size = sizeof(struct hold_state),
	.open = alone_open,
	.data = hold_data,
};

static void test_hold_and_reset(void **state)
{
	struct proxy_config cfg = { .listen_fd = -1, .filter = &hold_filter };
	struct duress_err err = { 0 };
	static struct reader r;
	struct proxy *p;
	int a[2], b[2];
	uint64_t t0, took;

	(void)state;
	assert_int_equal(proxy_new(&cfg, &p, &err), 0);
	pair(a);
	pair(b);
	assert_int_equal(proxy_adopt(p, a[1], b[0], &err), 0);
	t0 = now_ns();
	assert_int_equal(send(a[0], "one", 3, 0), 3);
	spin(p, NULL, NULL, 10);
	assert_int_equal(send(a[0], "two", 3, 0), 3);
	memset(&r, 0, sizeof(r));
	r.fd = b[1];
	r.want = 6;
	assert_true(spin(p, read_some, &r, 2000));
	took = now_ns() - t0;
	assert_memory_equal(r.buf, "onetwo", 6);
	/* held at least 80 ms, and not far beyond */
	assert_true(took >= 80000000);
	assert_true(took < 1000000000);
	/* "bye" reaches the client, then a reset */
	assert_int_equal(send(a[0], "RESET", 5, 0), 5);
	memset(&r, 0, sizeof(r));
	r.fd = a[0];
	assert_true(spin(p, read_some, &r, 2000));
	spin(p, read_some, &r, 100);
	assert_true(r.len >= 3);
	assert_memory_equal(r.buf, "bye", 3);
	assert_true(r.eof || r.err);
	assert_int_equal(proxy_active(p), 0);
	close(a[0]);
	close(b[1]);
	proxy_free(p);
}

static void test_no_upstream(void **state)
{
	struct proxy_config cfg = { .listen_fd = -1, .filter = &alone_filter };
	struct duress_err err = { 0 };
	static struct reader r;
	struct proxy *p;
	int a[2], b[2];

	(void)state;
	assert_int_equal(proxy_new(&cfg, &p, &err), 0);
	pair(a);
	pair(b);
	assert_int_equal(proxy_adopt(p, a[1], b[0], &err), 0);
	assert_int_equal(send(a[0], "ANSW", 4, 0), 4);
	memset(&r, 0, sizeof(r));
	r.fd = a[0];
	r.want = 6;
	assert_true(spin(p, read_some, &r, 2000));
	assert_memory_equal(r.buf, "myself", 6);
	/* the server end was closed at once */
	{
		char c;

		assert_int_equal(recv(b[1], &c, 1, 0), 0);
	}
	/* the client's FIN ends it */
	shutdown(a[0], SHUT_WR);
	memset(&r, 0, sizeof(r));
	r.fd = a[0];
	assert_true(spin(p, read_some, &r, 2000));
	assert_true(r.eof);
	spin(p, NULL, NULL, 20);
	assert_int_equal(proxy_active(p), 0);
	close(a[0]);
	close(b[1]);
	proxy_free(p);
}

/* Explicit mode over loopback TCP: listener -> upstream listener. */
static void test_explicit_tcp(void **state)
{
	struct sockaddr_storage up;
	socklen_t upl;
	struct duress_err err = { 0 };
	struct proxy_config cfg = { 0 };
	struct sockaddr_in any = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static struct reader r;
	struct proxy *p;
	int lfd, ufd, cfd, sfd = -1;
	uint16_t lport, uport;
	char text[64];

	(void)state;
	assert_int_equal(proxy_listen(-1, (struct sockaddr *)&any, sizeof(any), &ufd, &uport,
				      "--upstream", &err),
			 0);
	assert_int_equal(proxy_listen(-1, (struct sockaddr *)&any, sizeof(any), &lfd, &lport,
				      "--listen", &err),
			 0);
	snprintf(text, sizeof(text), "127.0.0.1:%u", uport);
	assert_int_equal(proxy_parse_addr(text, "--upstream", &up, &upl, &err), 0);
	cfg.listen_fd = lfd;
	memcpy(&cfg.upstream, &up, upl);
	cfg.upstream_len = upl;
	assert_int_equal(proxy_new(&cfg, &p, &err), 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	any.sin_port = htons(lport);
	connect(cfd, (struct sockaddr *)&any, sizeof(any));
	for (int i = 0; i < 400 && sfd < 0; i++) {
		proxy_run_once(p, 5, &err);
		sfd = accept4(ufd, NULL, NULL, SOCK_NONBLOCK);
	}
	assert_true(sfd >= 0);
	spin(p, NULL, NULL, 20);
	assert_int_equal(send(cfd, "hello", 5, 0), 5);
	memset(&r, 0, sizeof(r));
	r.fd = sfd;
	r.want = 5;
	assert_true(spin(p, read_some, &r, 2000));
	assert_memory_equal(r.buf, "hello", 5);
	/* the server goes away with a reset: the client gets one too */
	{
		struct linger l = { 1, 0 };

		setsockopt(sfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(sfd);
	}
	memset(&r, 0, sizeof(r));
	r.fd = cfd;
	assert_true(spin(p, read_some, &r, 2000));
	assert_int_equal(r.err, ECONNRESET);
	close(cfd);
	spin(p, NULL, NULL, 20);
	assert_int_equal(proxy_active(p), 0);
	/* an upstream nobody listens on: the client is reset, the error counted */
	close(ufd);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(cfd, (struct sockaddr *)&any, sizeof(any));
	memset(&r, 0, sizeof(r));
	r.fd = cfd;
	assert_true(spin(p, read_some, &r, 3000));
	assert_true(r.err == ECONNRESET || r.eof);
	{
		json_t *s = proxy_stats(p);

		assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "proxy"),
								    "upstream_errors")),
				 1);
		json_decref(s);
	}
	close(cfd);
	proxy_free(p);
	close(lfd);
}

/* A filter whose eof passes the FIN on itself (it wakes the connection
 * while the engine ends it): many short connections, one after the other
 * and overlapping, each request answered and closed by the server (a
 * connection ended in the same turn as another one starts must not be lost). */
static void fin_eof(struct proxy_conn *c, enum proxy_dir dir)
{
	proxy_shutdown(c, dir);
}

static void fin_data(struct proxy_conn *c, enum proxy_dir dir, const char *buf, size_t len)
{
	proxy_send(c, dir, buf, len, dir == PROXY_UP ? proxy_conn_now(c) + 1000000 : 0);
}

static const struct proxy_filter fin_filter = {
	.name = "fin",
	.data = fin_data,
	.eof = fin_eof,
};

static void test_many_short(void **state)
{
	struct proxy_config cfg = { .listen_fd = -1, .filter = &fin_filter };
	struct duress_err err = { 0 };
	struct proxy *p;
	enum { N = 300, AT_ONCE = 4 };
	int cl[AT_ONCE], sv[AT_ONCE], done = 0;

	(void)state;
	assert_int_equal(proxy_new(&cfg, &p, &err), 0);
	while (done < N) {
		int k = N - done < AT_ONCE ? N - done : AT_ONCE;

		for (int i = 0; i < k; i++) {
			int a[2], b[2];

			pair(a);
			pair(b);
			assert_int_equal(proxy_adopt(p, a[1], b[0], &err), 0);
			cl[i] = a[0];
			sv[i] = b[1];
			assert_int_equal(send(cl[i], "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
		}
		for (int i = 0; i < k; i++) {
			static struct reader r;

			memset(&r, 0, sizeof(r));
			r.fd = sv[i];
			r.want = 18;
			assert_true(spin(p, read_some, &r, 2000));
			assert_int_equal(send(sv[i], "HTTP/1.0 200 OK\r\n\r\nx", 20, 0), 20);
			close(sv[i]);
			memset(&r, 0, sizeof(r));
			r.fd = cl[i];
			assert_true(spin(p, read_some, &r, 2000));
			spin(p, read_some, &r, 5);
			assert_int_equal(r.len, 20);
			assert_true(r.eof);
			close(cl[i]);
		}
		done += k;
	}
	assert_true(spin(p, NULL, NULL, 20));
	for (int i = 0; i < 100 && proxy_active(p); i++)
		proxy_run_once(p, 5, &err);
	assert_int_equal(proxy_active(p), 0);
	proxy_free(p);
}

static void test_addr(void **state)
{
	struct sockaddr_storage a;
	struct duress_err err = { 0 };
	socklen_t l;
	char buf[64];

	(void)state;
	assert_int_equal(proxy_parse_addr("127.0.0.1:8080", "--listen", &a, &l, &err), 0);
	assert_string_equal(proxy_format_addr((struct sockaddr *)&a, buf, sizeof(buf)),
			    "127.0.0.1:8080");
	assert_int_equal(proxy_parse_addr("[::1]:1", "--listen", &a, &l, &err), 0);
	assert_string_equal(proxy_format_addr((struct sockaddr *)&a, buf, sizeof(buf)), "[::1]:1");
	assert_int_equal(proxy_parse_addr("localhost:99", "--listen", &a, &l, &err), 0);
	assert_string_equal(proxy_format_addr((struct sockaddr *)&a, buf, sizeof(buf)),
			    "127.0.0.1:99");
	static const char *const bad[] = {
		"",	  "8080",    "127.0.0.1",      "127.0.0.1:0", "1.2.3.4:65536",
		"::1:80", "[::1]80", "example.com:80", "1.2.3.4:x"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		duress_err_clear(&err);
		if (proxy_parse_addr(bad[i], "--upstream", &a, &l, &err) == 0)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(err.code, DURESS_EXIT_USAGE);
		assert_non_null(strstr(err.msg, "--upstream"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward),	    cmocka_unit_test(test_hold_and_reset),
		cmocka_unit_test(test_no_upstream), cmocka_unit_test(test_explicit_tcp),
		cmocka_unit_test(test_many_short),  cmocka_unit_test(test_addr),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
