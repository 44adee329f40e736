/* SPDX-License-Identifier: MIT */
/*
 * duress serve's connections (agent/serve/serve_conn.c): deadlines, slots,
 * streams per client.
 */
#ifndef DURESS_SERVE_CONN_H
#define DURESS_SERVE_CONN_H

#include <stdbool.h>

#include <microhttpd.h>

/*
 * Slow clients (issue 12): every connection is followed from its accept.
 * A request's head must arrive within SERVE_HEAD_DEADLINE_S of the start
 * of the request (its accept, or the end of the previous request on the
 * connection) and its body within SERVE_REQUEST_DEADLINE_S; at most
 * SERVE_PENDING_MAX connections wait for a head (SERVE_PENDING_PER_ADDR
 * per TCP address): past it the one waiting longest is closed.  So the
 * rest of the connection slots stay for requests that arrive whole: health
 * checks, authenticated requests, streams.
 */
#define SERVE_CONN_MAX 256
#define SERVE_HEAD_DEADLINE_S 10
#define SERVE_REQUEST_DEADLINE_S 30
#define SERVE_PENDING_MAX 32
#define SERVE_PENDING_PER_ADDR 8
#define SERVE_STREAMS_PER_CLIENT 8 /* GET /v1/samples?follow=1 per address */

/* libmicrohttpd's connection notification (MHD_OPTION_NOTIFY_CONNECTION). */
void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		 enum MHD_ConnectionNotificationCode code);
/* Close the connections past their deadline (the 1 Hz round). */
void conn_tick(void);
/* Streams open from c's client address (unix socket clients: one). */
unsigned conn_streams(struct MHD_Connection *c);
void conn_stream(struct MHD_Connection *c, bool open);

/* Where a connection's request is: waiting for its head, its body, or
 * served (the next request's head is then awaited). */
enum conn_stage { CONN_HEAD, CONN_BODY, CONN_SERVED };
void conn_stage_set(struct MHD_Connection *c, enum conn_stage s);

#endif
