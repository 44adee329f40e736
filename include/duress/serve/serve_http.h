/* SPDX-License-Identifier: MIT */
/*
 * duress serve's requests (agent/serve/serve_http.c): libmicrohttpd's
 * request callbacks (their cls is the struct serve_server of
 * serve_reply.h): the bearer token, routing, the job handlers, /metrics.
 */
#ifndef DURESS_SERVE_HTTP_H
#define DURESS_SERVE_HTTP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include <microhttpd.h>

#include <duress/serve/serve_jobs.h>
#include <duress/serve/serve_reply.h>

/* libmicrohttpd's access handler and completion callback. */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
			    const char *method, const char *version, const char *upload,
			    size_t *upload_size, void **con_cls);
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe);

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
void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);
/* Close the connections past their deadline (the 1 Hz round). */
void http_conn_tick(void);
/* Streams open from c's client address (unix socket clients: one). */
unsigned http_conn_streams(struct MHD_Connection *c);
void http_conn_stream(struct MHD_Connection *c, bool open);

/* A job ended (or waited too long): answer the DELETEs waiting for it. */
void http_resume_waiters(struct job *j);

#endif
