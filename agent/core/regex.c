// SPDX-License-Identifier: MIT
/* Regular expressions compiled within bounds (regex.h). */
#include <duress/core/exitcode.h>
#include <duress/core/proc.h>
#include <duress/core/regex.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

const char *regex_pattern_untrusted(const char *pattern, char *why, size_t len)
{
	size_t n = strlen(pattern);

	if (n > REGEX_MAX_LEN) {
		snprintf(why, len, "longer than %d characters", REGEX_MAX_LEN);
		return why;
	}
	for (const char *p = pattern; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p != '{')
			continue;
		/* {m}, {m,} or {m,n}: each count at most REGEX_MAX_REPEAT */
		for (const char *q = p + 1; *q && *q != '}'; q++) {
			if (*q < '0' || *q > '9')
				continue;
			if (strtoul(q, NULL, 10) > REGEX_MAX_REPEAT) {
				snprintf(why, len, "a repetition count above %d", REGEX_MAX_REPEAT);
				return why;
			}
			while (q[1] >= '0' && q[1] <= '9')
				q++;
		}
	}
	return NULL;
}

/* The address space this process has mapped now, in bytes (0 if unknown). */
static unsigned long long mapped_now(void)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &pages) != 1)
		pages = 0;
	fclose(f);
	return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

/* Compile in a child with CPU and memory limits: 0 if it compiled within
 * them, regcomp's error code if it did not (REG_ESPACE: out of the memory
 * allowed), -1 if it went over a limit.  The memory limit is what the
 * compile may add to the address space the child starts with: a build with
 * AddressSanitizer has terabytes of shadow reserved before it compiles
 * anything, and an absolute RLIMIT_AS would leave it no room at all. */
static int trial(const char *pattern, int flags)
{
	const struct proc_child setup = { .deathsig = SIGKILL, .parent = getpid() };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		unsigned long long as = mapped_now();
		struct rlimit cpu = { REGEX_CHILD_CPU_S, REGEX_CHILD_CPU_S };
		struct rlimit mem;
		regex_t re;

		(void)proc_child_setup(&setup, 3);
		if (!as)
			_exit(3);
		mem.rlim_cur = mem.rlim_max = as + REGEX_CHILD_MEM;
		if (setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_AS, &mem) < 0)
			_exit(3);
		_exit(10 + regcomp(&re, pattern, flags));
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) >= 10)
		return WEXITSTATUS(status) - 10;
	return -1;
}

int regex_compile(regex_t *re, const char *pattern, int flags, const char *what,
		  struct duress_err *err)
{
	char why[128], msg[256];
	int r;

	if (regex_pattern_untrusted(pattern, why, sizeof(why)))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: '%.100s': %s", what, pattern,
				       why);
	/* only what compiled within the limits is compiled here */
	r = trial(pattern, flags);
	if (r < 0 || r == REG_ESPACE)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: '%.100s': too costly to compile (over %d s of CPU or "
				       "%u MiB)",
				       what, pattern, REGEX_CHILD_CPU_S, REGEX_CHILD_MEM >> 20);
	if (r) {
		regerror(r, NULL, msg, sizeof(msg));
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: '%.100s': %s", what, pattern,
				       msg);
	}
	r = regcomp(re, pattern, flags);
	if (r) {
		regerror(r, re, msg, sizeof(msg));
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: '%.100s': %s", what, pattern,
				       msg);
	}
	return 0;
}
