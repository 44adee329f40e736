// SPDX-License-Identifier: MIT
/*
 * Cost of sampling: N target cgroups (each with one sleeping process, so
 * that network counters are read too) sampled at HZ for SECONDS by one
 * process, through the same code as `duress sample` (sample_take and the
 * JSON formatter).  Prints the process's CPU (percent of one CPU), peak
 * RSS and the mean cost of one sample.  Needs root and cgroup v2.
 *
 *   bench_sample TARGETS HZ SECONDS
 */
#include <duress/samples/sample_format.h>
#include <duress/core/cgroup.h>
#include <duress/samples/sample.h>
#include <duress/targets/target.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct duress_err err = { 0 };
	struct cg_root root;
	struct target *t;
	struct sample *prev, cur;
	pid_t *kids;
	int n, hz, secs;
	double start, spent = 0, cpu_s;
	long samples = 0;
	struct rusage ru;
	FILE *devnull = fopen("/dev/null", "w");

	if (argc != 4 || (n = atoi(argv[1])) < 1 || (hz = atoi(argv[2])) < 1 ||
	    (secs = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: bench_sample TARGETS HZ SECONDS\n");
		return 2;
	}
	if (cg_root_discover(&root, &err) < 0) {
		duress_err_print(stderr, &err);
		return 4;
	}
	t = calloc(n, sizeof(*t));
	prev = calloc(n, sizeof(*prev));
	kids = calloc(n, sizeof(*kids));
	for (int i = 0; i < n; i++) {
		target_init(&t[i]);
		if ((size_t)snprintf(t[i].dir, sizeof(t[i].dir), "%.3000s/duress-bench-%d-%d",
				     root.mount, (int)getpid(), i) >= sizeof(t[i].dir))
			return 5;
		snprintf(t[i].rel, sizeof(t[i].rel), "%s", cg_path_rel(&root, t[i].dir));
		if (cg_create(t[i].dir, false, &err) < 0) {
			duress_err_print(stderr, &err);
			return 5;
		}
		kids[i] = fork();
		if (kids[i] == 0) {
			cg_attach(t[i].dir, 0, &err);
			pause();
			_exit(0);
		}
		t[i].pid = kids[i];
	}
	usleep(200000);
	start = now_s();
	for (int tick = 0; tick < hz * secs; tick++) {
		double due = start + (double)(tick + 1) / hz, t0 = now_s();

		for (int i = 0; i < n; i++) {
			json_t *j;

			if (sample_take(&t[i], tick ? &prev[i] : NULL, t0 - start, &cur, &err) <
			    0) {
				duress_err_print(stderr, &err);
				return 5;
			}
			j = sample_to_json(&cur);
			json_dumpf(j, devnull, SAMPLE_JSON_FLAGS);
			fputc('\n', devnull);
			json_decref(j);
			prev[i] = cur;
			samples++;
		}
		spent += now_s() - t0;
		while (now_s() < due)
			usleep((useconds_t)((due - now_s()) * 1e6) + 1);
	}
	getrusage(RUSAGE_SELF, &ru);
	cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		ru.ru_stime.tv_usec / 1e6;
	printf("targets=%d hz=%d seconds=%d samples=%ld cpu_pct=%.2f max_rss_kib=%ld us_per_sample=%.1f\n",
	       n, hz, secs, samples, cpu_s / secs * 100, ru.ru_maxrss, spent / samples * 1e6);
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
		rmdir(t[i].dir);
	}
	free(t);
	free(prev);
	free(kids);
	fclose(devnull);
	return 0;
}
