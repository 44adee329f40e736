/* SPDX-License-Identifier: MIT */
/*
 * Process selection (agent/targets/procsel.c): which processes of a target
 * a process fault (kill, stop) signals, and with which signal.
 *
 *   main      the target's main process: the oldest one whose parent is
 *             not in the target (a container's init, the sandbox workload)
 *   all       every process of the target
 *   NAME      processes whose name (comm) is NAME, or whose command line's
 *             first word ends in "/NAME" or is NAME
 *   /REGEX/   processes whose command line (arguments joined by spaces)
 *             matches the POSIX extended REGEX (core/regex.c's bounds)
 *   --port N  processes holding a TCP socket listening on port N in their
 *             network namespace (/proc/PID/net/tcp, tcp6 and the socket
 *             inodes of /proc/PID/fd)
 *
 * Several selectors select the union.  The target's processes are those of
 * its cgroup and the cgroups below it, except the agent's own cgroups
 * (duress-*: workers, hogs) and the agent itself.  A sandbox's workload
 * (duress-sandbox) is the sandbox's main process.
 */
#ifndef DURESS_PROCSEL_H
#define DURESS_PROCSEL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <duress/core/error.h>

enum procsel_kind {
	PROCSEL_MAIN,
	PROCSEL_ALL,
	PROCSEL_NAME,
	PROCSEL_REGEX,
};

#define PROCSEL_NAME_MAX 256

struct procsel_rule {
	enum procsel_kind kind;
	char name[PROCSEL_NAME_MAX]; /* NAME; the pattern for REGEX */
	regex_t re;
	bool re_set;
};

struct procsel {
	struct procsel_rule *rules;
	size_t n;
	unsigned port; /* --port: 1..65535, 0 none */
};

/* One process of a target, as the selection sees it. */
struct procsel_proc {
	pid_t pid, ppid;
	unsigned long long start; /* start time (clock ticks since boot) */
	char comm[32];
	char *cmdline; /* arguments joined by spaces (malloc'd, may be "") */
};

/*
 * Add one selector from text ("main", "all", "/REGEX/", NAME); `what` names
 * the option in messages ("--process").  Usage errors (DURESS_EXIT_USAGE)
 * name the text and why.
 */
int procsel_add(struct procsel *s, const char *text, const char *what, struct duress_err *err);
void procsel_free(struct procsel *s);

/* Pure: a signal from text: a name with or without "SIG" (TERM, SIGKILL,
 * hup, RTMIN+2) or a number 1..SIGRTMAX.  SIGSTOP and SIGCONT are refused
 * (the stop fault does that, with an undo).  Usage errors name `what`. */
int procsel_signal(const char *text, const char *what, int *sig, struct duress_err *err);
/* The name of a signal without "SIG" ("TERM", "RTMIN+2", "33"). */
const char *procsel_signal_name(int sig, char *buf, size_t len);

/* Pure: does one process match one rule (NAME and REGEX only)? */
bool procsel_rule_matches(const struct procsel_rule *r, const char *comm, const char *cmdline);

/* Pure: index of the main process of procs[0..n): the oldest (smallest
 * start time, then pid) whose parent is not among them; -1 if n is 0. */
ssize_t procsel_main(const struct procsel_proc *procs, size_t n);

/* Pure: the socket inodes of /proc/net/tcp or tcp6 text listening (state
 * 0A) on port; at most max into inodes.  Returns how many, or -1 when the
 * text is not such a table. */
int procsel_parse_tcp(const char *text, unsigned port, unsigned long *inodes, size_t max);

/* Pure: /proc/PID/cmdline bytes (NUL-separated) to one line, in place:
 * the NULs between arguments become spaces, the trailing one dropped. */
void procsel_cmdline_join(char *buf, size_t len);

/*
 * The processes of the cgroup dir and those below it (except duress-*
 * cgroups and the agent itself).  *procs is malloc'd (free with
 * procsel_procs_free); an empty cgroup gives 0 processes.  < 0 when dir
 * is gone (ENOENT).
 */
int procsel_scan(const char *dir, struct procsel_proc **procs, size_t *n, struct duress_err *err);
void procsel_procs_free(struct procsel_proc *procs, size_t n);

/*
 * Mark in sel[0..n) the processes s selects (no rules and no port: main).
 * Returns how many are selected, or < 0 on error.
 */
int procsel_select(const struct procsel *s, const struct procsel_proc *procs, size_t n, bool *sel,
		   struct duress_err *err);

/* Pure: does the selection pick the main process (main, or nothing given)? */
bool procsel_has_main(const struct procsel *s);

/* Pure: is procs[i] a root of procs[0..n) (its parent not among them)? */
bool procsel_is_root(const struct procsel_proc *procs, size_t n, size_t i);

/* Describe the selection ("main", "all", "nginx, /worker [0-9]/", "port 8080"). */
void procsel_describe(const struct procsel *s, char *buf, size_t len);

#endif
