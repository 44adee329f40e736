/* SPDX-License-Identifier: MIT */
/*
 * duress serve, the daemon (agent/serve/serve_daemon.c): the state
 * directory, the replay of dead agents' journals, the listener and
 * libmicrohttpd in the agent's own event loop (one thread: its epoll fd
 * polled beside a signalfd and a 1 Hz timerfd, so a handler may fork
 * without the hazards of a threaded fork and no state needs a lock), then
 * the shutdown that reverts every job.  docs/api.md.
 */
#ifndef DURESS_SERVE_DAEMON_H
#define DURESS_SERVE_DAEMON_H

#include <stdbool.h>
#include <sys/socket.h>

#include <duress/core/error.h>

#define SERVE_DEFAULT_LISTEN "unix:/run/duress/duress.sock"
#define SERVE_PROBE_NET_MAX 16 /* --allow-probe-net CIDRs */

/* What the command line decided, checked (cmd/cmd_serve.c). */
struct serve_opts {
	const char *listen; /* "unix:PATH" or the TCP text, for messages */
	bool tcp;
	struct sockaddr_storage ss; /* tcp: the parsed address */
	socklen_t sslen;
	const char *token; /* NULL: no token needed */
	/* a second TCP listener for Prometheus only (GET /metrics with
	 * metrics_token, /healthz); NULL: none */
	const char *metrics_listen;
	struct sockaddr_storage mss;
	socklen_t msslen;
	const char *metrics_token;
	bool allow_commands;
	bool allow_force; /* clients may lift the guard rails ("force": true) */
	const char *allow_probe_net[SERVE_PROBE_NET_MAX]; /* CIDRs http probes may reach */
	size_t nallow_probe_net;
	const char *state_dir; /* resolved */
};

/* Serve until SIGTERM or SIGINT.  Returns the exit code (0, or
 * DURESS_EXIT_NOT_REVERTED when a job reported a revert it could not
 * make), or < 0 with err when it could not start. */
int daemon_run(const struct serve_opts *o, struct duress_err *err);

#endif
