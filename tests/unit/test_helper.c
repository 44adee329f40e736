// SPDX-License-Identifier: MIT
/*
 * Helper processes of faults: journaled before they run, counters over the
 * control channel (summed across restarts), restarts with backoff up to a
 * limit, a death past it reported, stop and release leave nothing running,
 * and the child keeps only the descriptors it was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <duress/core/proc.h>
#include <duress/core/undo.h>
#include <duress/faults/helper.h>

static const struct fault_desc desc = { .name = "test" };

static void setup_fault(struct fault *f, struct undo_log *log)
{
	memset(f, 0, sizeof(*f));
	undo_log_init(log);
	f->desc = &desc;
	f->undo = log;
}

static size_t pending_kills(const struct undo_log *log)
{
	size_t n = 0;

	for (size_t i = 0; i < log->n; i++)
		n += !log->recs[i].done && log->recs[i].kind == &undo_kind_helper;
	return n;
}

static bool alive(pid_t pid)
{
	return pid > 0 && kill(pid, 0) == 0;
}

/* ---- children ---- */

static int probe_fd = -1;

/* ready (saying whether probe_fd reached it), counters, then serve until
 * the channel closes */
static int main_counts(void *arg, int ctl)
{
	json_t *d = json_pack("{s:{s:i,s:f}}", "x", "n", 5, "p99", 1.5);
	json_t *r = json_pack("{s:b}", "probe_open", fcntl(probe_fd, F_GETFD) >= 0);
	char c;

	(void)arg;
	fault_helper_send(ctl, "ready", r, NULL);
	fault_helper_send(ctl, "event", NULL, "hello from the helper");
	fault_helper_send(ctl, "stats", d, NULL);
	json_decref(d);
	json_decref(r);
	while (read(ctl, &c, 1) != 0)
		;
	return 0;
}

static int main_dies(void *arg, int ctl)
{
	json_t *d = json_pack("{s:{s:i}}", "x", "n", 2);

	(void)arg;
	fault_helper_send(ctl, "ready", NULL, NULL);
	fault_helper_send(ctl, "stats", d, NULL);
	fault_helper_send(ctl, "error", NULL, "upstream went away");
	json_decref(d);
	usleep(20000);
	return 3;
}

static int main_silent(void *arg, int ctl)
{
	(void)arg;
	(void)ctl;
	pause();
	return 0;
}

static int main_refuses(void *arg, int ctl)
{
	(void)arg;
	fault_helper_send(ctl, "error", NULL, "cannot listen: Address already in use");
	return 4;
}

/* ---- tests ---- */

static void test_merge(void **state)
{
	json_t *a = json_pack("{s:{s:i,s:f,s:{s:i}},s:i}", "http", "requests", 10, "p99", 3.0,
			      "injected", "abort", 1, "top", 7);
	json_t *b = json_pack("{s:{s:i,s:f,s:{s:i,s:i}},s:s}", "http", "requests", 5, "p99", 9.5,
			      "injected", "abort", 2, "delay", 4, "note", "x");

	(void)state;
	fault_helper_merge(a, b);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(a, "http"), "requests")), 15);
	assert_true(json_real_value(json_object_get(json_object_get(a, "http"), "p99")) == 9.5);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(a, "http"), "injected"), "abort")),
			 3);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(a, "http"), "injected"), "delay")),
			 4);
	assert_int_equal(json_integer_value(json_object_get(a, "top")), 7);
	assert_string_equal(json_string_value(json_object_get(a, "note")), "x");
	json_decref(a);
	json_decref(b);
}

static void test_start_counters_stop(void **state)
{
	struct fault_helper_spec spec = { .name = "duress-test",
					  .netns_fd = -1,
					  .main = main_counts,
					  .ready_timeout_us = 5000000 };
	struct duress_err err = { 0 };
	struct fault_helper h;
	struct undo_log log;
	struct fault f;
	json_t *c = NULL, *s;
	pid_t pid;

	(void)state;
	setup_fault(&f, &log);
	probe_fd = open("/dev/null", O_RDONLY); /* not in keep_fds: closed in the child */
	assert_true(probe_fd >= 0);
	if (fault_helper_start(&f, &h, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	pid = h.pid;
	assert_true(alive(pid));
	/* the kill step names the pid and its start time, recorded first */
	assert_int_equal(pending_kills(&log), 1);
	{
		char want[16];
		unsigned long long st;

		snprintf(want, sizeof(want), "%d", (int)pid);
		assert_string_equal(log.recs[0].where, want);
		assert_int_equal(proc_starttime(pid, &st), 0);
		assert_int_equal(strtoull(log.recs[0].what, NULL, 10), st);
	}
	for (int i = 0; i < 200 && !c; i++) {
		assert_int_equal(fault_helper_poll(&h, &err), 0);
		c = fault_helper_counters(&h);
		if (!c)
			usleep(10000);
	}
	assert_non_null(c);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "x"), "n")), 5);
	json_decref(c);
	s = json_object();
	fault_helper_sample(&h, s);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "x"), "n")), 5);
	json_decref(s);
	fault_helper_stop(&h);
	assert_false(fault_helper_running(&h));
	assert_false(alive(pid));
	assert_int_equal(pending_kills(&log), 0);
	/* counters stay readable after the stop */
	c = fault_helper_counters(&h);
	assert_non_null(c);
	json_decref(c);
	fault_helper_release(&h);
	close(probe_fd);
	undo_log_free(&log);
}

/* The child kept none of the agent's descriptors: main_counts says whether
 * probe_fd was open in it (it reads the ready line itself). */
static void test_fds_closed(void **state)
{
	struct fault_helper_spec spec = { .name = "duress-test",
					  .netns_fd = -1,
					  .main = main_counts };
	struct duress_err err = { 0 };
	struct fault_helper h;
	struct undo_log log;
	struct fault f;
	char buf[4096];
	ssize_t n = 0;

	(void)state;
	setup_fault(&f, &log);
	probe_fd = open("/dev/null", O_RDONLY);
	if (fault_helper_start(&f, &h, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	for (int i = 0; i < 200 && n <= 0; i++) {
		n = recv(h.ctl, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n <= 0)
			usleep(10000);
	}
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"probe_open\":false"));
	/* kept when asked */
	fault_helper_stop(&h);
	fault_helper_release(&h);
	spec.keep_fds[0] = probe_fd;
	spec.nkeep = 1;
	if (fault_helper_start(&f, &h, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	n = 0;
	for (int i = 0; i < 200 && n <= 0; i++) {
		n = recv(h.ctl, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n <= 0)
			usleep(10000);
	}
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"probe_open\":true"));
	fault_helper_stop(&h);
	fault_helper_release(&h);
	close(probe_fd);
	undo_log_free(&log);
}

static void test_restart_then_give_up(void **state)
{
	struct fault_helper_spec spec = { .name = "duress-test",
					  .netns_fd = -1,
					  .main = main_dies,
					  .max_restarts = 2,
					  .ready_timeout_us = 5000000 };
	struct duress_err err = { 0 };
	struct fault_helper h;
	struct undo_log log;
	struct fault f;
	pid_t first;
	int rc = 0, i;
	json_t *c;

	(void)state;
	setup_fault(&f, &log);
	if (fault_helper_start(&f, &h, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	first = h.pid;
	/* 100 ms then 200 ms of backoff: well within 5 s */
	for (i = 0; i < 500 && rc == 0; i++) {
		rc = fault_helper_poll(&h, &err);
		usleep(10000);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(h.restarts, 2);
	assert_false(alive(first));
	assert_false(fault_helper_running(&h));
	assert_non_null(strstr(err.msg, "exited with 3"));
	assert_non_null(strstr(err.msg, "upstream went away"));
	/* every helper's step is done: nothing for the revert to kill */
	assert_int_equal(pending_kills(&log), 0);
	assert_int_equal(log.n, 3);
	/* three helpers said n=2 each */
	c = fault_helper_counters(&h);
	assert_non_null(c);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "x"), "n")), 6);
	json_decref(c);
	/* and it keeps saying so */
	duress_err_clear(&err);
	assert_int_equal(fault_helper_poll(&h, &err), -1);
	fault_helper_release(&h);
	undo_log_free(&log);
}

static void test_not_ready(void **state)
{
	struct fault_helper_spec spec = { .name = "duress-test",
					  .netns_fd = -1,
					  .main = main_silent,
					  .ready_timeout_us = 200000 };
	struct duress_err err = { 0 };
	struct fault_helper h;
	struct undo_log log;
	struct fault f;

	(void)state;
	setup_fault(&f, &log);
	assert_int_equal(fault_helper_start(&f, &h, &spec, &err), -1);
	assert_non_null(strstr(err.msg, "not ready within 0.2s"));
	assert_false(fault_helper_running(&h));
	assert_int_equal(pending_kills(&log), 0);
	fault_helper_release(&h);

	/* what the child said before dying is the error */
	spec.main = main_refuses;
	spec.ready_timeout_us = 5000000;
	duress_err_clear(&err);
	assert_int_equal(fault_helper_start(&f, &h, &spec, &err), -1);
	assert_non_null(strstr(err.msg, "exited with 4"));
	assert_non_null(strstr(err.msg, "Address already in use"));
	assert_int_equal(pending_kills(&log), 0);
	fault_helper_release(&h);
	undo_log_free(&log);
}

static int main_stubborn(void *arg, int ctl)
{
	(void)arg;
	signal(SIGTERM, SIG_IGN);
	fault_helper_send(ctl, "ready", NULL, NULL);
	for (;;)
		pause();
	return 0;
}

static int main_last_words(void *arg, int ctl)
{
	sigset_t term;
	int sig;
	json_t *d = json_pack("{s:{s:i}}", "x", "final", 1);

	(void)arg;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);
	fault_helper_send(ctl, "ready", NULL, NULL);
	sigwait(&term, &sig);
	fault_helper_send(ctl, "stats", d, NULL);
	json_decref(d);
	return 0;
}

/* The revert's step ends it: SIGTERM first (a helper that takes it says
 * its final counters, collected after), SIGKILL for one that ignores it. */
static void test_revert_kills(void **state)
{
	struct fault_helper_spec spec = { .name = "duress-test",
					  .netns_fd = -1,
					  .main = main_silent };
	struct duress_err err = { 0 };
	struct undo_report rep;
	struct fault_helper h;
	struct undo_log log;
	struct fault f;
	pid_t pid;
	int st;

	(void)state;
	setup_fault(&f, &log);
	if (fault_helper_start(&f, &h, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	pid = h.pid;
	assert_int_equal(undo_revert_all(&log, &rep), 0);
	assert_int_equal(rep.reverted, 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	h.pid = 0; /* reaped here, by the test */
	fault_helper_release(&h);

	spec.main = main_stubborn;
	spec.ready_timeout_us = 5000000;
	if (fault_helper_start(&f, &h, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	pid = h.pid;
	assert_int_equal(undo_revert_all(&log, &rep), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	h.pid = 0;
	fault_helper_release(&h);

	spec.main = main_last_words;
	if (fault_helper_start(&f, &h, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	pid = h.pid;
	assert_int_equal(undo_revert_all(&log, &rep), 0);
	fault_helper_collect(&h);
	assert_false(fault_helper_running(&h));
	assert_int_equal(pending_kills(&log), 0);
	{
		json_t *c = fault_helper_counters(&h);

		assert_non_null(c);
		assert_int_equal(
			json_integer_value(json_object_get(json_object_get(c, "x"), "final")), 1);
		json_decref(c);
	}
	fault_helper_release(&h);
	/* a pid whose start time differs (reused) is never signalled */
	{
		const struct undo_kind *k = &undo_kind_helper;
		struct undo_rec rec = { .kind = k, .value = (char *)"x" };
		bool gone = false;

		snprintf(rec.where, sizeof(rec.where), "%d", (int)getpid());
		snprintf(rec.what, sizeof(rec.what), "1");
		assert_int_equal(k->revert(&rec, &gone, &err), 0);
		assert_true(gone);
	}
	undo_log_free(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),	   cmocka_unit_test(test_start_counters_stop),
		cmocka_unit_test(test_fds_closed), cmocka_unit_test(test_restart_then_give_up),
		cmocka_unit_test(test_not_ready),  cmocka_unit_test(test_revert_kills),
	};

	/* the agent's helpers are forks of a process named duress, which the
	 * revert checks (a reused pid is never signalled): so are these */
	prctl(PR_SET_NAME, "duress-tests");
	return cmocka_run_group_tests_name("helper", tests, NULL, NULL);
}
