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

/* The access handler of --metrics-listen: GET /metrics with the metrics
 * token (401 without), GET /healthz; 404 for anything else, 405 for
 * another method.  Nothing of the API. */
enum MHD_Result http_metrics_handle(void *cls, struct MHD_Connection *c, const char *url,
				    const char *method, const char *version, const char *upload,
				    size_t *upload_size, void **con_cls);

/* A job ended (or waited too long): answer the DELETEs waiting for it. */
void http_resume_waiters(struct job *j);

#endif
