/* SPDX-License-Identifier: MIT */
/*
 * What every handler of duress serve shares (agent/serve/serve_reply.c):
 * the server's state, the request in progress, and the answers.
 */
#ifndef DURESS_SERVE_REPLY_H
#define DURESS_SERVE_REPLY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include <jansson.h>
#include <microhttpd.h>

#include <duress/core/cgroup.h>
#include <duress/serve/serve_api.h>
#include <duress/serve/serve_jobs.h>

/* One per server process (serve_daemon.c). */
struct serve_server {
	struct MHD_Daemon *d;
	struct MHD_Daemon *md; /* --metrics-listen, or NULL */
	char metrics_token[512];
	char token[512];
	bool need_token;
	bool allow_commands;		    /* --allow-commands: process probes, ${env} */
	bool allow_force;		    /* --allow-force: a fault's "force": true */
	bool loopback_tcp;		    /* a TCP listener on the loopback: Host checked */
	const char *const *allow_probe_net; /* --allow-probe-net CIDRs, checked */
	size_t nallow_probe_net;
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
	bool deleting;		   /* a DELETE suspended until its job exits */
	unsigned long targets_gen; /* GET /v1/targets: waits for this listing */
};

/* Answers: the body is malloc'd and handed over (freed on failure too). */
enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
		      size_t len);
enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j);
enum MHD_Result reply_error(struct MHD_Connection *c, const struct serve_error *e);
/* An error answer with one more header (WWW-Authenticate, Allow). */
enum MHD_Result reply_error_hdr(struct MHD_Connection *c, const struct serve_error *e,
				const char *header, const char *value);
enum MHD_Result reply_fail(struct MHD_Connection *c, int status, const char *field, const char *fmt,
			   ...) __attribute__((format(printf, 4, 5)));

#endif
