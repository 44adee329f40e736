// SPDX-License-Identifier: MIT
/*
 * duress serve's connections (serve_conn.h): each followed from its accept
 * (libmicrohttpd's connection notification), with deadlines for a
 * request's head and body, slots kept for requests that arrive whole, and
 * the samples streams each client address holds.
 */
#include <duress/core/timing.h>
#include <duress/serve/serve_conn.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_conn {
	struct http_conn *prev, *next; /* oldest first */
	int fd;
	double since; /* the start of its current request */
	enum conn_stage stage;
	bool tcp, closing, stream;
	struct sockaddr_storage addr;
};

static struct http_conn *conn_first, *conn_last;

static struct http_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

static bool same_addr(const struct http_conn *a, const struct http_conn *b)
{
	if (!a->tcp || !b->tcp)
		return a->tcp == b->tcp; /* the unix socket's clients: one */
	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->addr)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&b->addr)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
		       &((const struct sockaddr_in6 *)&b->addr)->sin6_addr,
		       sizeof(struct in6_addr));
}

/* libmicrohttpd notices the end of the stream and closes it cleanly */
static void conn_close(struct http_conn *k)
{
	if (!k->closing)
		shutdown(k->fd, SHUT_RDWR);
	k->closing = true;
}

/* Too many connections wait for a head (from one address, or at all):
 * close the one waiting longest. */
static void conn_limit(const struct http_conn *newest)
{
	struct http_conn *oldest = NULL, *oldest_here = NULL;
	unsigned pending = 0, here = 0;

	for (struct http_conn *k = conn_first; k; k = k->next) {
		if (k->stage != CONN_HEAD || k->closing)
			continue;
		pending++;
		if (!oldest && k != newest)
			oldest = k;
		if (newest->tcp && same_addr(k, newest)) {
			here++;
			if (!oldest_here && k != newest)
				oldest_here = k;
		}
	}
	if (here > SERVE_PENDING_PER_ADDR && oldest_here)
		conn_close(oldest_here);
	else if (pending > SERVE_PENDING_MAX && oldest)
		conn_close(oldest);
}

void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		 enum MHD_ConnectionNotificationCode code)
{
	struct http_conn *k = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *a =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		k = calloc(1, sizeof(*k));
		if (!k)
			return;
		k->fd = fd ? fd->connect_fd : -1;
		k->since = timing_now();
		if (a && a->client_addr &&
		    (a->client_addr->sa_family == AF_INET ||
		     a->client_addr->sa_family == AF_INET6)) {
			k->tcp = true;
			memcpy(&k->addr, a->client_addr,
			       a->client_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
								    : sizeof(struct sockaddr_in6));
		}
		k->prev = conn_last;
		if (conn_last)
			conn_last->next = k;
		else
			conn_first = k;
		conn_last = k;
		*socket_context = k;
		conn_limit(k);
		return;
	}
	if (!k)
		return;
	if (k->prev)
		k->prev->next = k->next;
	else
		conn_first = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		conn_last = k->prev;
	free(k);
	*socket_context = NULL;
}

void conn_tick(void)
{
	double now = timing_now();

	for (struct http_conn *k = conn_first; k; k = k->next)
		if ((k->stage == CONN_HEAD && now - k->since > SERVE_HEAD_DEADLINE_S) ||
		    (k->stage == CONN_BODY && now - k->since > SERVE_REQUEST_DEADLINE_S))
			conn_close(k);
}

unsigned conn_streams(struct MHD_Connection *c)
{
	struct http_conn *me = conn_of(c);
	unsigned n = 0;

	for (struct http_conn *k = conn_first; me && k; k = k->next)
		n += k->stream && !k->closing && same_addr(k, me);
	return n;
}

void conn_stream(struct MHD_Connection *c, bool open)
{
	struct http_conn *k = conn_of(c);

	if (k)
		k->stream = open;
}

void conn_stage_set(struct MHD_Connection *c, enum conn_stage s)
{
	struct http_conn *k = conn_of(c);

	if (!k)
		return;
	if (s == CONN_HEAD)
		k->since = timing_now();
	k->stage = s;
}
