// SPDX-License-Identifier: MIT
/*
 * Time to apply and to revert a filtered netem rule (prio root, netem on
 * one band, one u32 filter on a destination), the way duress does it
 * (netlink from the agent: enter the namespace on a thread, save the root,
 * install; revert through the "qdisc" undo step, which resolves the
 * namespace again and restores) against running tc as peer tools do
 * (nsenter + tc per command, and the best case: one tc -batch).  Medians
 * of N rounds, side by side in one run.  Needs root.
 *
 *   bench_network PID IFACE N
 *
 * PID is a process in the network namespace to shape, IFACE an interface
 * there whose root qdisc is the kernel's default.
 */
#include <duress/net/netundo.h>
#include <duress/net/netshape.h>
#include <duress/net/qdisc.h>
#include <duress/core/undo.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int run(char *const argv[])
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

/* duress: open, save, install; the undo record's text comes back in *saved */
static int ours_apply(int fd, const char *ifname, const struct ns_u32_rule *rule,
		      const struct ns_netem *netem, char **saved, struct duress_err *err)
{
	struct netshape *ns = NULL;
	struct ns_link l;
	struct ns_saved s;
	int rc = -1;

	if (netshape_open(fd, &ns, err) < 0)
		return -1;
	if (netshape_link_find(ns, ifname, &l, err) != 0 || qdisc_save_root(ns, &l, &s, err) < 0)
		goto out;
	if (ns_saved_format(&s, saved, err) == 0 &&
	    qdisc_install(ns, l.ifindex, netem, rule, 1, &s, err) == 0)
		rc = 0;
	ns_saved_free(&s);
out:
	netshape_close(ns);
	return rc;
}

int main(int argc, char **argv)
{
	struct duress_err err = { 0 };
	struct ns_netem netem = { .delay_us = 100000 };
	struct ns_match m = { .ncidrs = 1 };
	struct ns_u32_rule *rules = NULL;
	const struct undo_kind *k = &undo_kind_qdisc;
	char path[64], pidtxt[16], batch[] = "/tmp/bench-network-XXXXXX";
	double *t[6];
	int n, fd, bfd;
	pid_t pid;
	const char *ifname;

	if (argc != 4 || (pid = atoi(argv[1])) <= 0 || (n = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: bench_network PID IFACE N\n");
		return 2;
	}
	ifname = argv[2];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	snprintf(pidtxt, sizeof(pidtxt), "%d", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !k || ns_parse_cidr("10.0.0.1/32", "--to", &m.cidrs[0], &err) < 0 ||
	    ns_match_rules(&m, false, &rules, &err) != 1) {
		fprintf(stderr, "bench_network: setup: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < 6; i++)
		t[i] = calloc((size_t)n, sizeof(double));
	bfd = mkstemp(batch);
	dprintf(bfd,
		"qdisc add dev %s root handle 1: prio bands 2 priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
		"qdisc add dev %s parent 1:2 handle 10: netem delay 100ms\n"
		"filter add dev %s parent 1: protocol ip prio 1 u32 match ip dst 10.0.0.1/32 flowid 1:2\n",
		ifname, ifname, ifname);
	close(bfd);
	for (int i = 0; i < n; i++) {
		struct undo_rec rec = { .kind = &undo_kind_qdisc };
		char *saved = NULL;
		bool gone;
		double a;
		char *tc1[] = { "nsenter", "-t",     pidtxt,
				"-n",	   "tc",     "qdisc",
				"add",	   "dev",    (char *)ifname,
				"root",	   "handle", "1:",
				"prio",	   "bands",  "2",
				"priomap", "0",	     "0",
				"0",	   "0",	     "0",
				"0",	   "0",	     "0",
				"0",	   "0",	     "0",
				"0",	   "0",	     "0",
				"0",	   "0",	     NULL };
		char *tc2[] = { "nsenter", "-t",    pidtxt,	    "-n",     "tc",  "qdisc",
				"add",	   "dev",   (char *)ifname, "parent", "1:2", "handle",
				"10:",	   "netem", "delay",	    "100ms",  NULL };
		char *tc3[] = { "nsenter", "-t",       pidtxt, "-n",	       "tc",
				"filter",  "add",      "dev",  (char *)ifname, "parent",
				"1:",	   "protocol", "ip",   "prio",	       "1",
				"u32",	   "match",    "ip",   "dst",	       "10.0.0.1/32",
				"flowid",  "1:2",      NULL };
		char *tcdel[] = { "nsenter", "-t",  pidtxt,	    "-n",   "tc", "qdisc",
				  "del",     "dev", (char *)ifname, "root", NULL };
		char *tcb[] = { "nsenter", "-t", pidtxt, "-n", "tc", "-batch", batch, NULL };

		a = now_ms();
		if (ours_apply(fd, ifname, rules, &netem, &saved, &err) < 0) {
			fprintf(stderr, "bench_network: apply: %s\n", err.msg);
			return 1;
		}
		t[0][i] = now_ms() - a;
		if (netshape_ref_make(pid, fd, rec.where, sizeof(rec.where), &err) < 0)
			return 1;
		snprintf(rec.what, sizeof(rec.what), "%s root", ifname);
		rec.value = saved;
		a = now_ms();
		if (k->revert(&rec, &gone, &err) < 0) {
			fprintf(stderr, "bench_network: revert: %s\n", err.msg);
			return 1;
		}
		t[1][i] = now_ms() - a;
		free(saved);

		a = now_ms();
		if (run(tc1) || run(tc2) || run(tc3)) {
			fprintf(stderr, "bench_network: tc failed\n");
			return 1;
		}
		t[2][i] = now_ms() - a;
		a = now_ms();
		if (run(tcdel))
			return 1;
		t[3][i] = now_ms() - a;

		a = now_ms();
		if (run(tcb))
			return 1;
		t[4][i] = now_ms() - a;
		a = now_ms();
		if (run(tcdel))
			return 1;
		t[5][i] = now_ms() - a;
	}
	unlink(batch);
	double oa = median(t[0], n), orv = median(t[1], n), ta = median(t[2], n),
	       tr = median(t[3], n), ba = median(t[4], n), br = median(t[5], n);

	printf("filtered netem rule (prio + netem + 1 u32 filter), median of %d rounds:\n", n);
	printf("  apply:  duress %.2f ms | tc, 3 x nsenter+tc %.2f ms (x%.1f) | tc -batch %.2f ms (x%.1f)\n",
	       oa, ta, ta / oa, ba, ba / oa);
	printf("  revert: duress %.2f ms | tc, nsenter+tc %.2f ms (x%.1f) | same for -batch %.2f ms (x%.1f)\n",
	       orv, tr, tr / orv, br, br / orv);
	printf("  (duress's apply enters the namespace on a thread, saves the root and installs; its\n"
	       "   revert resolves the namespace from the undo record, restores and verifies)\n");
	for (int i = 0; i < 5 && i < n; i++) {
		double a = now_ms();

		if (qdisc_probe(true, false, &err) < 0) {
			fprintf(stderr, "bench_network: probe: %s\n", err.msg);
			return 1;
		}
		t[0][i] = now_ms() - a;
	}
	printf("  (once per run, before planning, the agent probes the kernel in a namespace of its "
	       "own: %.2f ms)\n",
	       median(t[0], n < 5 ? n : 5));
	return 0;
}
