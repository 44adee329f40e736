/* SPDX-License-Identifier: MIT */
/*
 * duress serve's listeners (agent/serve/serve_listen.c): a unix socket
 * (mode 0600 in a 0700 directory, a stale socket of a dead server taken
 * over, a live one refused) or TCP on a numeric address.
 */
#ifndef DURESS_SERVE_LISTEN_H
#define DURESS_SERVE_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

#include <duress/core/error.h>

/* True for 127.0.0.0/8 and ::1. */
bool listen_is_loopback(const struct sockaddr *sa);

/* Pure: "127.0.0.1:8080", "[::1]:8080" into ss/len; numeric only, never a
 * name lookup.  -1 if the text is not that. */
int listen_parse_tcp(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* A listening unix socket at path (absolute): parent directories made,
 * the last one 0700, the socket 0600; a stale socket (nobody answers) is
 * replaced, a live one refused (DURESS_EXIT_REFUSED).  The fd, or < 0. */
int listen_unix(const char *path, struct duress_err *err);

/* A listening TCP socket; `text` names it in errors.  The fd, or < 0. */
int listen_tcp(const struct sockaddr_storage *ss, socklen_t len, const char *text,
	       struct duress_err *err);

#endif
