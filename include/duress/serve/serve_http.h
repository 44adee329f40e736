/* SPDX-License-Identifier: MIT */
/*
 * duress serve's requests (agent/serve/serve_http.c): the server's state,
 * the answers every handler gives, and libmicrohttpd's request callbacks
 * (their cls is the struct serve_server).
 */
#ifndef DURESS_SERVE_HTTP_H
#define DURESS_SERVE_HTTP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include <microhttpd.h>

#include <duress/core/cgroup.h>
#include <duress/serve/serve_api.h>
#include <duress/serve/serve_jobs.h>

/* One per server process (serve_daemon.c). */
struct serve_server {
	struct MHD_Daemon *d;
	char token[512];
	bool need_token;
	bool allow_commands; /* --allow-commands: process probes, ${env} */
	char state_dir[PATH_MAX];
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct cg_root root;
	bool have_root;
	struct job_table tab;
	bool stopping;
	char self_exe[PATH_MAX]; /* argv[0] of jobs: the agent's path, for ps */
};

/* A request in progress (libmicrohttpd's per-connection pointer). */
struct serve_req {
	enum serve_route route;
	char id[SERVE_ID_MAX + 1];
	char *body;
	size_t len;
	bool too_big;
	size_t discarded;
	bool resumed;
	bool deleting; /* a DELETE suspended until its job exits */
	unsigned long targets_gen; /* GET /v1/targets: waits for this listing */
};


/* Answers: the body is malloc'd and handed over (freed on failure too). */
enum MHD_Result http_respond(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body, size_t len);
enum MHD_Result http_respond_json(struct MHD_Connection *c, unsigned status, json_t *j);
enum MHD_Result http_respond_error(struct MHD_Connection *c, const struct serve_error *e);
/* An error answer with one more header (WWW-Authenticate, Allow). */
enum MHD_Result http_respond_error_hdr(struct MHD_Connection *c, const struct serve_error *e,
				       const char *header, const char *value);
enum MHD_Result http_fail(struct MHD_Connection *c, int status, const char *field,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* libmicrohttpd's access handler and completion callback. */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
			    const char *method, const char *version, const char *upload,
			    size_t *upload_size, void **con_cls);
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe);

/* A job ended (or waited too long): answer the DELETEs waiting for it. */
void http_resume_waiters(struct job *j);

#endif
