// SPDX-License-Identifier: MIT
/*
 * memhold SIZE_MIB [SECONDS]: test fixture that keeps SIZE_MIB MiB of
 * anonymous memory resident.  Every page is written once, then "ready" is
 * printed and the process sleeps for SECONDS (a duration as duress takes
 * them: "30", "1m30s"), or until it is killed.  Exit 0; 1 if the memory
 * cannot be had, 2 on a usage error.
 */
#include <duress/core/error.h>
#include <duress/core/parse.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: memhold SIZE_MIB [SECONDS]\n");
	return 2;
}

/* Sleep usec microseconds in total, across interruptions. */
static void sleep_usec(uint64_t usec)
{
	struct timespec left = {
		.tv_sec = (time_t)(usec / 1000000),
		.tv_nsec = (long)(usec % 1000000) * 1000,
	};

	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct duress_err err = { 0 };
	uint64_t mib, usec = 0;
	size_t size, page;
	unsigned char *mem;
	long pg = sysconf(_SC_PAGESIZE);

	if (argc < 2 || argc > 3)
		return usage();
	/* 1 TiB is far beyond any test; it keeps size computations exact. */
	if (parse_uint(argv[1], "SIZE_MIB", 1, 1 << 20, &mib, &err) < 0 ||
	    (argc == 3 && parse_duration(argv[2], "SECONDS", &usec, &err) < 0)) {
		fprintf(stderr, "memhold: %s\n", err.msg);
		return usage();
	}

	size = (size_t)mib << 20;
	page = pg > 0 ? (size_t)pg : 4096;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "memhold: mmap %llu MiB: %s\n", (unsigned long long)mib,
			strerror(errno));
		return 1;
	}
	/* A write, not a read: a read would map the shared zero page. */
	for (size_t off = 0; off < size; off += page)
		mem[off] = 1;

	printf("ready\n");
	fflush(stdout);

	if (argc == 3)
		sleep_usec(usec);
	else
		for (;;)
			pause();
	munmap(mem, size);
	return 0;
}
