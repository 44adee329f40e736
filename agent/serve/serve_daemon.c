// SPDX-License-Identifier: MIT
/*
 * duress serve, the daemon (serve_daemon.h).  Every experiment or fault is
 * a job (serve_jobs.c): a child process re-executing the agent (`duress
 * run` / `duress inject`) with its journal, samples and summary in a
 * directory of its own under STATE/serve/, so the undo journal, the
 * guardian, the locks and the signal handling of the command line cover
 * it, and a crash in a job cannot take the API down.  Input is checked
 * first (serve_http.c), as the command line checks it, so that bad input
 * is a 4xx and nothing starts.  DELETE sends the job SIGTERM (it reverts
 * and exits 8) and answers once it has exited.  The agent samples the
 * targets of its jobs itself at 1 Hz for /metrics and /v1/samples.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/statedir.h>
#include <duress/core/timing.h>
#include <duress/core/undo_journal.h>
#include <duress/serve/serve_daemon.h>
#include <duress/serve/serve_conn.h>
#include <duress/serve/serve_http.h>
#include <duress/serve/serve_listen.h>
#include <duress/serve/serve_listing.h>
#include <duress/serve/serve_stream.h>
#include <duress/session/session.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STOP_WAIT_S 60 /* a DELETE answers 202 if the job is not gone by then */

static struct serve_server S;

/* A job has ended: answer the DELETEs that wait for it, end the streams
 * of its samples. */
static void job_ended(struct job *j)
{
	http_resume_waiters(j);
	stream_resume_all();
}

/* The 1 Hz round: samples of every job's target, streams woken; a DELETE
 * waits at most STOP_WAIT_S for its job to end, then gets 202. */
static void tick(void)
{
	listing_tick();
	conn_tick();
	jobs_expire_leases(&S.tab);
	jobs_sample(&S.tab);
	stream_resume_all(); /* new samples in the rings, new lines in the jobs' files */
	for (size_t i = 0; i < S.tab.njobs; i++)
		if (S.tab.jobs[i]->state == JOB_STOPPING && S.tab.jobs[i]->nwaiters &&
		    timing_now() - S.tab.jobs[i]->stop_mono > STOP_WAIT_S)
			http_resume_waiters(S.tab.jobs[i]);
}

int daemon_run(const struct serve_opts *o, struct duress_err *err)
{
	cleanup_close int sfd = -1;
	cleanup_close int tfd = -1;
	int lfd, mlfd = -1, rc = DURESS_EXIT_OK;
	sigset_t mask;
	const union MHD_DaemonInfo *info, *minfo = NULL;
	cleanup_close int stfd = -1;
	cleanup_close int jfd = -1;

	memset(&S, 0, sizeof(S));
	S.allow_commands = o->allow_commands;
	S.allow_force = o->allow_force;
	S.loopback_tcp = o->tcp && listen_is_loopback((const struct sockaddr *)&o->ss);
	S.allow_probe_net = o->allow_probe_net;
	S.nallow_probe_net = o->nallow_probe_net;
	if (o->token) {
		snprintf(S.token, sizeof(S.token), "%s", o->token);
		S.need_token = true;
	}
	if (o->metrics_token)
		snprintf(S.metrics_token, sizeof(S.metrics_token), "%s", o->metrics_token);
	{
		ssize_t n = readlink("/proc/self/exe", S.self_exe, sizeof(S.self_exe) - 1);

		if (n > 0)
			S.self_exe[n] = '\0';
		else
			snprintf(S.self_exe, sizeof(S.self_exe), "duress");
	}
	snprintf(S.state_dir, sizeof(S.state_dir), "%s", o->state_dir);
	/* the state directory, checked (statedir.h) before anything in it is
	 * trusted: a shared or foreign one is refused here */
	stfd = statedir_open(S.state_dir, true, err);
	if (stfd < 0)
		return -1;
	jfd = statedir_subdir(stfd, "serve", true, err);
	if (jfd < 0)
		return -1;
	/* A server restarted after a crash (a pod's container, the unit) first
	 * reverts what its dead jobs left, guardians and all gone, before it
	 * takes requests; live agents' journals are skipped. */
	session_recover_dead(S.state_dir, "duress serve");
	{
		struct duress_err e2 = { 0 };

		S.have_root = cg_root_discover(&S.root, &e2) == 0;
		if (!S.have_root)
			fprintf(stderr,
				"duress serve: %s (faults and experiments on targets will be "
				"refused)\n",
				e2.msg);
	}
	/* job ids go on from the last run's, so that directories are not reused */
	S.tab.seq = (unsigned long)time(NULL) % 100000 * 1000;
	S.tab.state_dir = S.state_dir;
	S.tab.root = S.have_root ? &S.root : NULL;
	S.tab.on_exit = job_ended;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timing_periodic_fd(1000000);
	if (sfd < 0 || tfd < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "signalfd/timerfd");
	lfd = o->tcp ? listen_tcp(&o->ss, o->sslen, o->listen, err)
		     : listen_unix(o->listen + 5, err);
	if (lfd < 0)
		return -1;
	if (!o->tcp) /* removed at exit */
		snprintf(S.sock_path, sizeof(S.sock_path), "%s", o->listen + 5);
	S.tab.mono0 = timing_now();
	S.d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0,
			       NULL, NULL, http_handle, &S, MHD_OPTION_LISTEN_SOCKET, lfd,
			       MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
			       MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
			       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
			       MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_CONN_MAX,
			       MHD_OPTION_END);
	if (!S.d) {
		close(lfd);
		if (S.sock_path[0])
			unlink(S.sock_path);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0, "libmicrohttpd did not start");
	}
	info = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_EPOLL_FD);
	if (o->metrics_listen) {
		/* Prometheus' listener: /metrics and /healthz only, few
		 * connections, short deadlines (it holds no job open) */
		mlfd = listen_tcp(&o->mss, o->msslen, o->metrics_listen, err);
		if (mlfd >= 0)
			S.md = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
						http_metrics_handle, &S, MHD_OPTION_LISTEN_SOCKET,
						mlfd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
						MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
						MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)4,
						MHD_OPTION_END);
		if (!S.md) {
			if (mlfd >= 0) {
				close(mlfd);
				duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
						"libmicrohttpd did not start on %s",
						o->metrics_listen);
			}
			MHD_stop_daemon(S.d);
			close(lfd);
			if (S.sock_path[0])
				unlink(S.sock_path);
			return -1;
		}
		minfo = MHD_get_daemon_info(S.md, MHD_DAEMON_INFO_EPOLL_FD);
		fprintf(stderr, "duress serve: metrics on %s (bearer token required)\n",
			o->metrics_listen);
	}
	fprintf(stderr, "duress serve: listening on %s%s (state %s)\n", o->listen,
		S.need_token ? " (bearer token required)" : "", S.state_dir);
	while (!S.stopping) {
		struct pollfd p[5] = {
			{ .fd = info->epoll_fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = tfd, .events = POLLIN },
			{ .fd = listing_fd(), .events = POLLIN }, /* -1: none */
			{ .fd = minfo ? minfo->epoll_fd : -1, .events = POLLIN },
		};
		MHD_UNSIGNED_LONG_LONG to;
		int timeout = 1000;
		struct signalfd_siginfo si;

		if (MHD_get_timeout(S.d, &to) == MHD_YES)
			timeout = to < 1000 ? (int)to : 1000;
		if (S.md && MHD_get_timeout(S.md, &to) == MHD_YES && (int)to < timeout)
			timeout = (int)to;
		if (poll(p, 5, timeout) < 0 && errno != EINTR)
			break;
		if (p[3].fd >= 0 && (p[3].revents & (POLLIN | POLLHUP | POLLERR)))
			listing_read();
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGCHLD)
				jobs_reap(&S.tab);
			else if (si.ssi_signo != SIGPIPE) {
				fprintf(stderr, "duress serve: %s: stopping every job\n",
					strsignal((int)si.ssi_signo));
				S.stopping = true;
			}
		}
		jobs_reap(&S.tab);
		if ((p[2].revents & POLLIN) && timing_drain(tfd))
			tick();
		MHD_run(S.d);
		if (S.md)
			MHD_run(S.md);
	}
	/* stop accepting, revert every job, answer the DELETEs still waiting */
	MHD_quiesce_daemon(S.d);
	listing_free();
	jobs_stop_all(&S.tab, sfd);
	stream_resume_all(); /* they end their streams: S.stopping */
	for (int i = 0; i < 5; i++)
		MHD_run(S.d);
	MHD_stop_daemon(S.d);
	close(lfd);
	if (S.md) {
		MHD_stop_daemon(S.md);
		close(mlfd);
	}
	if (S.sock_path[0])
		unlink(S.sock_path);
	for (size_t i = 0; i < S.tab.njobs; i++) {
		if (S.tab.jobs[i]->state == JOB_EXITED && !S.tab.jobs[i]->signal &&
		    S.tab.jobs[i]->exit_code == DURESS_EXIT_NOT_REVERTED)
			rc = DURESS_EXIT_NOT_REVERTED;
		job_free(S.tab.jobs[i]);
	}
	fprintf(stderr, "duress serve: stopped; %llu job(s) ran, %llu revert failure(s)\n",
		(unsigned long long)(S.tab.stats.faults_started + S.tab.stats.experiments_started),
		(unsigned long long)S.tab.stats.revert_failures);
	return rc;
}
