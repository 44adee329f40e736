/* SPDX-License-Identifier: MIT */
/*
 * duress serve's samples (agent/serve/serve_stream.c): GET /v1/samples by
 * target (the server's own samples of it) or by job (the job's file), as
 * JSON Lines, and with follow=1 as streams that wait (suspended) for the
 * next sample or line and end with their job or the server.
 */
#ifndef DURESS_SERVE_STREAM_H
#define DURESS_SERVE_STREAM_H

#include <microhttpd.h>

struct serve_server;

enum MHD_Result stream_get_samples(struct serve_server *srv, struct MHD_Connection *c);
/* New samples, a job's end or the server's: wake every waiting stream. */
void stream_resume_all(void);

#endif
