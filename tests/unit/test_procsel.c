// SPDX-License-Identifier: MIT
/*
 * Process selection (targets/procsel.c) and the process faults' checks:
 * selectors, signals, name and pattern matching, the main process, the
 * listening sockets of /proc/net/tcp, a scan of a fake cgroup directory
 * holding real children; the kill and stop faults' option checks; the
 * "cont" undo kind on a real stopped child (and a reused pid left alone).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

#include <duress/core/exitcode.h>
#include <duress/core/proc.h>
#include <duress/core/undo.h>
#include <duress/faults/fault.h>
#include <duress/session/recover.h>
#include <duress/targets/procsel.h>
#include <duress/targets/target.h>

#include <jansson.h>

static void add_ok(struct procsel *s, const char *text)
{
	struct duress_err err = { 0 };

	if (procsel_add(s, text, "--process", &err) != 0)
		fail_msg("--process %s: %s", text, err.msg);
}

static void add_bad(const char *text, const char *needle)
{
	struct procsel s = { 0 };
	struct duress_err err = { 0 };

	assert_int_equal(procsel_add(&s, text, "--process", &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	if (!strstr(err.msg, needle) || !strstr(err.msg, "--process"))
		fail_msg("--process '%s': '%s' lacks '%s'", text, err.msg, needle);
	assert_int_equal(s.n, 0);
	procsel_free(&s);
}

static void test_selectors(void **state)
{
	struct procsel s = { 0 };
	char buf[256];

	(void)state;
	procsel_describe(&s, buf, sizeof(buf));
	assert_string_equal(buf, "main");
	assert_true(procsel_has_main(&s));
	add_ok(&s, "nginx");
	assert_false(procsel_has_main(&s));
	procsel_free(&s);
	add_ok(&s, "main");
	assert_true(procsel_has_main(&s));
	add_ok(&s, "nginx");
	add_ok(&s, "/worker [0-9]+$/");
	assert_int_equal(s.n, 3);
	assert_int_equal(s.rules[0].kind, PROCSEL_MAIN);
	assert_int_equal(s.rules[1].kind, PROCSEL_NAME);
	assert_int_equal(s.rules[2].kind, PROCSEL_REGEX);
	assert_string_equal(s.rules[2].name, "worker [0-9]+$");
	s.port = 8080;
	procsel_describe(&s, buf, sizeof(buf));
	assert_string_equal(buf, "main, nginx, /worker [0-9]+$/, port 8080");
	procsel_free(&s);
	assert_int_equal(s.n, 0);

	add_bad("", "needs a value");
	add_bad("/", "between slashes");
	add_bad("//", "between slashes");
	add_bad("/abc", "between slashes");
	add_bad("/a(b/", "Unmatched"); /* regcomp's own words */
	add_bad("/x{0,9999}/", "repetition");
	add_bad("usr/bin/x", "no '/'");
	add_bad("bad\tname", "control");
}

static void sig_ok(const char *text, int want)
{
	struct duress_err err = { 0 };
	int sig = -1;

	if (procsel_signal(text, "--signal", &sig, &err) != 0)
		fail_msg("--signal %s: %s", text, err.msg);
	assert_int_equal(sig, want);
}

static void sig_bad(const char *text, const char *needle)
{
	struct duress_err err = { 0 };
	int sig = -1;

	assert_int_equal(procsel_signal(text, "--signal", &sig, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	if (!strstr(err.msg, needle) || !strstr(err.msg, "--signal"))
		fail_msg("--signal '%s': '%s' lacks '%s'", text, err.msg, needle);
}

static void test_signals(void **state)
{
	char buf[32];

	(void)state;
	sig_ok("TERM", SIGTERM);
	sig_ok("SIGKILL", SIGKILL);
	sig_ok("hup", SIGHUP);
	sig_ok("sigint", SIGINT);
	sig_ok("USR1", SIGUSR1);
	sig_ok("9", 9);
	sig_ok("RTMIN", SIGRTMIN);
	sig_ok("RTMIN+2", SIGRTMIN + 2);
	sig_bad("", "needs a signal");
	sig_bad("TERMINATE", "not a signal");
	sig_bad("0", "between 1 and");
	sig_bad("99999", "between 1 and");
	sig_bad("RTMIN+999", "not a signal");
	sig_bad("RTMIN-1", "not a signal");
	sig_bad("STOP", "stop fault");
	sig_bad("SIGCONT", "stop fault");
	sig_bad("19", "stop fault");
	assert_string_equal(procsel_signal_name(SIGTERM, buf, sizeof(buf)), "TERM");
	assert_string_equal(procsel_signal_name(SIGRTMIN + 3, buf, sizeof(buf)), "RTMIN+3");
}

static void test_matching(void **state)
{
	struct procsel s = { 0 };

	(void)state;
	add_ok(&s, "nginx");
	add_ok(&s, "very-long-server-name");
	add_ok(&s, "/--worker( |$)/");
	/* NAME: comm, or the first word of the command line or its basename */
	assert_true(procsel_rule_matches(&s.rules[0], "nginx", ""));
	assert_true(procsel_rule_matches(&s.rules[0], "x", "/usr/sbin/nginx -g daemon"));
	assert_true(procsel_rule_matches(&s.rules[0], "x", "nginx"));
	assert_false(procsel_rule_matches(&s.rules[0], "x", "/usr/sbin/xnginx"));
	assert_false(procsel_rule_matches(&s.rules[0], "x", "sh -c nginx"));
	assert_false(procsel_rule_matches(&s.rules[0], "nginx2", "nginx2"));
	/* comm is cut at 15 characters; the command line is not */
	assert_true(procsel_rule_matches(&s.rules[1], "very-long-serve",
					 "/opt/very-long-server-name --port 1"));
	assert_false(procsel_rule_matches(&s.rules[1], "very-long-serve", "/opt/very-long-serve"));
	/* REGEX: the whole command line */
	assert_true(procsel_rule_matches(&s.rules[2], "python3", "python3 app.py --worker 2"));
	assert_true(procsel_rule_matches(&s.rules[2], "python3", "python3 app.py --worker"));
	assert_false(procsel_rule_matches(&s.rules[2], "python3", "python3 app.py --workers 2"));
	procsel_free(&s);
}

static void test_main_process(void **state)
{
	/* 10 started by 1 (outside), 11 and 12 its children, 20 a second
	 * tree started later, 30 an older one whose parent is inside */
	struct procsel_proc v[] = {
		{ .pid = 11, .ppid = 10, .start = 200 }, { .pid = 20, .ppid = 1, .start = 500 },
		{ .pid = 10, .ppid = 1, .start = 100 },	 { .pid = 12, .ppid = 10, .start = 300 },
		{ .pid = 30, .ppid = 12, .start = 50 },
	};

	(void)state;
	assert_int_equal(procsel_main(v, 5), 2);
	assert_int_equal(procsel_main(v, 2), 0); /* 11's parent is not in the set: 11, older */
	v[1].start = 100;			 /* a tie: the lower pid */
	assert_int_equal(procsel_main(v + 1, 2), 1);
	assert_int_equal(procsel_main(v, 0), -1);
	assert_true(procsel_is_root(v, 5, 2));
	assert_false(procsel_is_root(v, 5, 0));
	assert_false(procsel_is_root(v, 5, 4));
}

static const char tcp_table[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
	"timeout inode\n"
	"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
	"        0 4242 1 0000000000000000 100 0 0 10 0\n"
	"   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
	"        0 4343 1 0000000000000000 100 0 0 10 0\n"
	"   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0"
	"        0 4444 1 0000000000000000 100 0 0 10 0\n";

static const char tcp6_table[] =
	"  sl  local_address                         remote_address                        st "
	"tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
	"00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 100 0 0 "
	"10 0\n";

static void test_parse_tcp(void **state)
{
	unsigned long in[4];

	(void)state;
	/* port 8080 = 0x1F90: the listener only, not the connection */
	assert_int_equal(procsel_parse_tcp(tcp_table, 8080, in, 4), 1);
	assert_int_equal(in[0], 4242);
	assert_int_equal(procsel_parse_tcp(tcp_table, 8081, in, 4), 1);
	assert_int_equal(in[0], 4343);
	assert_int_equal(procsel_parse_tcp(tcp_table, 80, in, 4), 0);
	assert_int_equal(procsel_parse_tcp(tcp6_table, 8080, in, 4), 1);
	assert_int_equal(in[0], 5151);
	assert_int_equal(procsel_parse_tcp(tcp_table, 8080, in, 0), 0);
	assert_int_equal(procsel_parse_tcp("garbage\n1 2 3\n", 8080, in, 4), -1);
	assert_int_equal(procsel_parse_tcp("", 8080, in, 4), -1);
}

static void test_cmdline(void **state)
{
	char a[] = "python3\0app.py\0--worker\0";
	char b[] = "";
	char c[] = "sh\0-c\0echo a\nb\0";

	(void)state;
	procsel_cmdline_join(a, sizeof(a) - 1);
	assert_string_equal(a, "python3 app.py --worker");
	procsel_cmdline_join(b, 0);
	assert_string_equal(b, "");
	procsel_cmdline_join(c, sizeof(c) - 1);
	assert_string_equal(c, "sh -c echo a b");
}

static pid_t child(const char *name)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execlp("sleep", name, "30", (char *)NULL);
		_exit(127);
	}
	/* wait until it has exec'd (its comm is sleep's) */
	for (int i = 0; i < 2000; i++) {
		char path[64], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (!strncmp(comm, "sleep", 5))
			break;
		usleep(1000);
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A fake cgroup: cgroup.procs files naming real children (and gone pids,
 * the agent's own), a duress-* child cgroup skipped. */
static void test_scan_and_select(void **state)
{
	char tmp[] = "/tmp/duress-procsel-XXXXXX", text[128];
	pid_t a, b, c;
	struct procsel_proc *procs = NULL;
	struct procsel s = { 0 };
	struct duress_err err = { 0 };
	bool sel[8];
	size_t n = 0;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	a = child("sleep");
	b = child("worker-7");
	c = child("hidden");
	snprintf(text, sizeof(text), "%d\n%d\n999999999\n", (int)a, (int)getpid());
	fx_put(tmp, "cgroup.procs", text);
	snprintf(text, sizeof(text), "%d\n", (int)b);
	fx_put(tmp, "sub/cgroup.procs", text);
	snprintf(text, sizeof(text), "%d\n", (int)c);
	fx_put(tmp, "duress-cpu/cgroup.procs", text);
	assert_int_equal(procsel_scan(tmp, &procs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(procs[0].pid, a);
	assert_int_equal(procs[1].pid, b);
	assert_string_equal(procs[0].cmdline, "sleep 30");
	assert_string_equal(procs[1].cmdline, "worker-7 30");
	assert_string_equal(procs[1].comm, "sleep");

	/* default: main (both parents are this test, outside: the older) */
	assert_int_equal(procsel_select(&s, procs, n, sel, &err), 1);
	assert_true(sel[0] && !sel[1]);
	add_ok(&s, "/^worker-[0-9]/");
	assert_int_equal(procsel_select(&s, procs, n, sel, &err), 1);
	assert_true(!sel[0] && sel[1]);
	add_ok(&s, "sleep"); /* comm: both */
	assert_int_equal(procsel_select(&s, procs, n, sel, &err), 2);
	procsel_free(&s);
	s.port = 1; /* nobody listens on 1 */
	assert_int_equal(procsel_select(&s, procs, n, sel, &err), 0);
	procsel_procs_free(procs, n);

	assert_int_equal(procsel_scan("/tmp/duress-procsel-nonexistent", &procs, &n, &err), -1);
	assert_int_equal(n, 0);
	reap(a);
	reap(b);
	reap(c);
	fx_rm_tree(tmp);
}

/* The option tables of kill and stop: what validate() refuses. */
static void check_fault(const char *kind, const char *const *args, int want_rc, const char *needle)
{
	struct fault f;
	struct duress_err err = { 0 };
	const struct fault_desc *d = fault_find(kind);
	int rc = 0;

	assert_non_null(d);
	assert_int_equal(fault_init(&f, d, &err), 0);
	for (size_t i = 0; args[i] && !rc; i += 2) {
		int idx = fault_opt_index(d, args[i]);

		assert_true(idx >= 0);
		rc = fault_opt_set(&f, idx, args[i + 1], args[i], &err);
	}
	if (!rc)
		rc = fault_check(&f, &err);
	assert_int_equal(rc, want_rc);
	if (want_rc) {
		assert_int_equal(err.code, DURESS_EXIT_USAGE);
		if (!strstr(err.msg, needle))
			fail_msg("%s: '%s' lacks '%s'", kind, err.msg, needle);
	}
	fault_free(&f);
}

static void test_fault_options(void **state)
{
	(void)state;
	check_fault("kill",
		    (const char *const[]){ "signal", "KILL", "process", "all", "process", "/x/",
					   "port", "80", "every", "1s", "count", "3", NULL },
		    0, NULL);
	check_fault("kill", (const char *const[]){ "count", "3", NULL }, -1, "needs --every");
	check_fault("kill", (const char *const[]){ "signal", "STOP", NULL }, -1, "stop fault");
	check_fault("kill", (const char *const[]){ "every", "10ms", NULL }, -1, "at least");
	check_fault("kill", (const char *const[]){ "port", "70000", NULL }, -1,
		    "between 1 and 65535");
	check_fault("kill", (const char *const[]){ "process", "/(/", NULL }, -1, "--process");
	check_fault("stop", (const char *const[]){ "process", "main", "port", "5432", NULL }, 0,
		    NULL);
	check_fault("stop", (const char *const[]){ "process", "a/b", NULL }, -1, "--process");
	assert_int_equal(fault_opt_index(fault_find("stop"), "signal"), -1);
	assert_true(fault_find("kill")->may_empty);
	assert_false(fault_find("stop")->may_empty);
}

/* "cont": a stopped child resumed; a record whose start time differs
 * (a reused pid) is left alone, reported gone; the replay finds the kind
 * and refuses records that are not a pid and a start time. */
static void test_undo_cont(void **state)
{
	const struct undo_kind *k = recover_kind_find("cont");
	struct undo_rec rec = { 0 };
	struct duress_err err = { 0 };
	unsigned long long start;
	char why[128];
	bool gone = false;
	pid_t pid;
	int i;

	(void)state;
	assert_ptr_equal(k, &undo_kind_cont);
	pid = child("sleep");
	assert_int_equal(proc_starttime(pid, &start), 0);
	snprintf(rec.where, sizeof(rec.where), "%d", (int)pid);
	snprintf(rec.what, sizeof(rec.what), "%llu", start + 1); /* not this process */
	rec.value = "sleep";
	rec.kind = k;
	assert_int_equal(k->check(&rec, why, sizeof(why)), 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	for (i = 0; i < 2000 && proc_state(pid) != 'T'; i++)
		usleep(1000);
	assert_int_equal(proc_state(pid), 'T');
	assert_int_equal(k->revert(&rec, &gone, &err), 0);
	assert_true(gone);
	assert_int_equal(proc_state(pid), 'T'); /* left alone */
	snprintf(rec.what, sizeof(rec.what), "%llu", start);
	gone = false;
	assert_int_equal(k->revert(&rec, &gone, &err), 0);
	assert_false(gone);
	for (i = 0; i < 2000 && proc_state(pid) == 'T'; i++)
		usleep(1000);
	assert_int_not_equal(proc_state(pid), 'T');
	/* twice is fine (idempotent) */
	assert_int_equal(k->revert(&rec, &gone, &err), 0);
	reap(pid);
	gone = false;
	assert_int_equal(k->revert(&rec, &gone, &err), 0);
	assert_true(gone);

	snprintf(rec.where, sizeof(rec.where), "1; rm");
	assert_int_equal(k->check(&rec, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a pid"));
	snprintf(rec.where, sizeof(rec.where), "0");
	assert_int_equal(k->check(&rec, why, sizeof(why)), -1);
}

/* Write the pids to the fake cgroup's cgroup.procs. */
static void put_procs(const char *dir, const pid_t *pids, size_t n)
{
	char text[256] = "";
	size_t off = 0;

	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%d\n", (int)pids[i]);
	fx_put(dir, "cgroup.procs", text);
}

/* kill on a fake cgroup of real children: the plan names the main one,
 * apply signals it only, a new process written in counts as the restart
 * (its start time minus the signal's), the report says so. */
static void test_kill_restart(void **state)
{
	char tmp[] = "/tmp/duress-kill-XXXXXX";
	struct fault f;
	struct target t;
	struct undo_log log;
	struct duress_err err = { 0 };
	pid_t procs[2];
	json_t *rep;
	int status;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	procs[0] = child("sleep");
	usleep(20000); /* a later start time: procs[0] is the main one */
	procs[1] = child("other");
	put_procs(tmp, procs, 2);
	target_init(&t);
	snprintf(t.dir, sizeof(t.dir), "%s", tmp);
	undo_log_init(&log);
	assert_int_equal(fault_init(&f, fault_find("kill"), &err), 0);
	f.target = &t;
	f.undo = &log;
	assert_int_equal(fault_prepare(&f, &err), 0);
	assert_true(f.nplan >= 3);
	{
		char want[64];

		snprintf(want, sizeof(want), "now %d (sleep)", (int)procs[0]);
		if (!strstr(f.plan[0], want))
			fail_msg("plan '%s' lacks '%s'", f.plan[0], want);
	}
	assert_int_equal(fault_start(&f, 1.0, &err), 0);
	assert_int_equal(log.n, 0); /* nothing to undo */
	assert_int_equal(waitpid(procs[0], &status, 0), procs[0]);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	assert_true(strchr("RS", proc_state(procs[1]))); /* not selected: runs */
	/* no new process yet: no restart */
	assert_int_equal(fault_tick(&f, 1.1, &err), 0);
	rep = json_object();
	fault_report(&f, rep);
	assert_true(json_is_null(json_object_get(rep, "restart_time")));
	assert_int_equal(json_integer_value(json_object_get(rep, "exited")), 1);
	json_decref(rep);
	/* the supervisor brings it back */
	usleep(50000);
	procs[0] = child("sleep");
	put_procs(tmp, procs, 2);
	assert_int_equal(fault_tick(&f, 1.3, &err), 0);
	rep = json_object();
	fault_report(&f, rep);
	assert_int_equal(json_integer_value(json_object_get(rep, "restarts")), 1);
	assert_true(json_real_value(json_object_get(rep, "restart_time")) >= 0.04);
	assert_int_equal(json_integer_value(json_object_get(rep, "rounds")), 1);
	assert_string_equal(json_string_value(json_object_get(rep, "signal")), "TERM");
	json_decref(rep);
	assert_int_equal(fault_hits(&f, &(double){ 0 }), 1);
	assert_true(fault_may_empty(&f));
	fault_free(&f);
	undo_log_free(&log);
	reap(procs[0]);
	reap(procs[1]);
	fx_rm_tree(tmp);
}

/* stop on a fake cgroup of a real child: the "cont" step is recorded, the
 * child is in state T, the revert of the log resumes it. */
static void test_stop_undo(void **state)
{
	char tmp[] = "/tmp/duress-stop-XXXXXX";
	struct fault f;
	struct target t;
	struct undo_log log;
	struct undo_report rep;
	struct duress_err err = { 0 };
	pid_t pid;
	int i;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	pid = child("sleep");
	put_procs(tmp, &pid, 1);
	target_init(&t);
	snprintf(t.dir, sizeof(t.dir), "%s", tmp);
	undo_log_init(&log);
	assert_int_equal(fault_init(&f, fault_find("stop"), &err), 0);
	f.target = &t;
	f.undo = &log;
	assert_int_equal(fault_prepare(&f, &err), 0);
	assert_int_equal(fault_start(&f, 1.0, &err), 0);
	assert_int_equal(log.n, 1);
	assert_ptr_equal(log.recs[0].kind, &undo_kind_cont);
	assert_int_equal(proc_state(pid), 'T');
	assert_int_equal(undo_revert_all(&log, &rep), 0);
	assert_int_equal(rep.reverted, 1);
	for (i = 0; i < 2000 && proc_state(pid) == 'T'; i++)
		usleep(1000);
	assert_true(strchr("RS", proc_state(pid)));
	fault_free(&f);
	undo_log_free(&log);
	reap(pid);
	fx_rm_tree(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selectors),	cmocka_unit_test(test_signals),
		cmocka_unit_test(test_matching),	cmocka_unit_test(test_main_process),
		cmocka_unit_test(test_parse_tcp),	cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_scan_and_select), cmocka_unit_test(test_fault_options),
		cmocka_unit_test(test_undo_cont),	cmocka_unit_test(test_kill_restart),
		cmocka_unit_test(test_stop_undo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
