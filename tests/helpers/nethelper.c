// SPDX-License-Identifier: MIT
/*
 * Traffic for the network fault's tests.
 *
 *   nethelper sink PORT SECONDS
 *       accept one TCP connection (IPv4 or IPv6), read for SECONDS from the
 *       first byte; prints "ready" when listening, then
 *       "rate_bps=N bytes=N seconds=S", the rate measured after the first
 *       second (slow start, queues filling) to the end
 *   nethelper source HOST PORT SECONDS
 *       connect and send as fast as the socket takes it for SECONDS
 *   nethelper owd-recv PORT COUNT TIMEOUT_S
 *       receive UDP datagrams stamped by owd-send; prints "ready", then
 *       "received=N avg_ms=X tmean_ms=X median_ms=X min_ms=X max_ms=X" (one-way
 *       delays: sender and receiver share the clock of one machine; tmean
 *       leaves out the lowest and highest 10%)
 *   nethelper owd-send HOST PORT COUNT INTERVAL_MS
 *       send COUNT stamped datagrams
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_any(int type, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, type, 0), zero = 0, one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_to(const char *host, const char *port, int type)
{
	struct addrinfo hints = { .ai_socktype = type }, *res, *ai;
	int fd = -1;

	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int sink(int port, double seconds)
{
	static char buf[65536];
	int lfd = listen_any(SOCK_STREAM, port), fd;
	double first = 0, mark = 0, end;
	unsigned long long total = 0, after_mark = 0;

	if (lfd < 0) {
		perror("nethelper sink: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("nethelper sink: accept");
		return 1;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double t = now_s();
		ssize_t r;

		if (first && t >= first + seconds)
			break;
		if (poll(&p, 1, 200) <= 0)
			continue;
		r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		t = now_s();
		if (!first) {
			first = t;
			mark = first + 1.0;
		}
		total += (unsigned long long)r;
		if (t >= mark)
			after_mark += (unsigned long long)r;
	}
	end = now_s();
	if (!first || end <= mark) {
		printf("rate_bps=0 bytes=%llu seconds=0\n", total);
		return 1;
	}
	printf("rate_bps=%.0f bytes=%llu seconds=%.2f\n", (double)after_mark * 8 / (end - mark),
	       total, end - mark);
	close(fd);
	close(lfd);
	return 0;
}

static int source(const char *host, const char *port, double seconds)
{
	static char buf[16384];
	int fd = connect_to(host, port, SOCK_STREAM);
	double end = now_s() + seconds;

	if (fd < 0) {
		perror("nethelper source: connect");
		return 1;
	}
	while (now_s() < end) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, 200) <= 0)
			continue;
		if (write(fd, buf, sizeof(buf)) < 0 && errno != EINTR && errno != EAGAIN)
			break;
	}
	close(fd);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int owd_recv(int port, int count, double timeout)
{
	int fd = listen_any(SOCK_DGRAM, port), n = 0;
	double sum = 0, tsum = 0, end = now_s() + timeout,
	       *d = calloc((size_t)count + 1, sizeof(*d));

	if (fd < 0 || !d) {
		perror("nethelper owd-recv: bind");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (n < count && now_s() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double sent;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if (recv(fd, &sent, sizeof(sent), 0) != sizeof(sent))
			continue;
		d[n] = (now_s() - sent) * 1e3;
		sum += d[n];
		n++;
	}
	qsort(d, (size_t)n, sizeof(*d), cmp_double);
	/* the mean without the 10% lowest and highest: emulated machines
	 * stall now and then, and one stall weighs on a plain mean */
	for (int i = n / 10; i < n - n / 10; i++)
		tsum += d[i];
	printf("received=%d avg_ms=%.2f tmean_ms=%.2f median_ms=%.2f min_ms=%.2f max_ms=%.2f\n", n,
	       n ? sum / n : 0, n ? tsum / (n - 2 * (n / 10)) : 0, n ? d[(n - 1) / 2] : 0,
	       n ? d[0] : 0, n ? d[n - 1] : 0);
	free(d);
	close(fd);
	return 0;
}

static int owd_send(const char *host, const char *port, int count, int interval_ms)
{
	int fd = connect_to(host, port, SOCK_DGRAM);

	if (fd < 0) {
		perror("nethelper owd-send: connect");
		return 1;
	}
	for (int i = 0; i < count; i++) {
		double t = now_s();

		if (send(fd, &t, sizeof(t), 0) < 0 && errno != ECONNREFUSED)
			perror("nethelper owd-send: send");
		usleep((useconds_t)interval_ms * 1000);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "sink"))
		return sink(atoi(argv[2]), atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "source"))
		return source(argv[2], argv[3], atof(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "owd-recv"))
		return owd_recv(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "owd-send"))
		return owd_send(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr,
		"usage: nethelper sink PORT SECONDS | source HOST PORT SECONDS |\n"
		"       owd-recv PORT COUNT TIMEOUT_S | owd-send HOST PORT COUNT INTERVAL_MS\n");
	return 2;
}
