// SPDX-License-Identifier: MIT
/*
 * httpd PORT: test fixture, a tiny HTTP/1.1 server.  Listens on every
 * address of its network namespace (run it in the target's), prints
 * "ready", and answers every request, one at a time, with
 * 200 and the body {"status":"ok","served":N} (N counts requests), then
 * closes the connection.  A request that does not arrive within 2 s is
 * dropped.  Runs until killed; exit 2 on a usage error, 1 if it cannot
 * listen.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void serve(int c, unsigned long n)
{
	char req[4096], body[64], resp[256];
	size_t got = 0;
	int len;

	while (got < sizeof(req) - 1) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 2000) <= 0)
			return;
		r = read(c, req + got, sizeof(req) - 1 - got);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	len = snprintf(body, sizeof(body), "{\"status\":\"ok\",\"served\":%lu}", n);
	len = snprintf(resp, sizeof(resp),
		       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		       "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
		       len, body);
	if (write(c, resp, (size_t)len) < 0)
		return;
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	unsigned long served = 0;
	int one = 1, zero = 0, s;
	char *end;
	long port;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) <= 0 || port > 65535 || *end) {
		fprintf(stderr, "usage: httpd PORT\n");
		return 2;
	}
	a.sin6_port = htons((unsigned short)port);
	s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0) {
		fprintf(stderr, "httpd: cannot listen on port %ld: %s\n", port, strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			continue;
		serve(c, ++served);
		close(c);
	}
}
