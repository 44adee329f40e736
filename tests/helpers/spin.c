// SPDX-License-Identifier: MIT
/*
 * spin [SECONDS]: test fixture that keeps one CPU busy.  Prints "ready",
 * then runs a busy loop on one thread for SECONDS (a duration as duress
 * takes them: "10", "1m"), or until it is killed.  The clock is read only
 * every ~1M iterations, so nearly all the time is user-space spinning.
 * Exit 0; 2 on a usage error.
 */
#include <duress/core/error.h>
#include <duress/core/parse.h>

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define SPIN_CHECK_EVERY (1UL << 20)

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	struct duress_err err = { 0 };
	uint64_t usec = 0, end;
	volatile uint64_t x = 1;

	if (argc > 2) {
		fprintf(stderr, "usage: spin [SECONDS]\n");
		return 2;
	}
	if (argc == 2 && parse_duration(argv[1], "SECONDS", &usec, &err) < 0) {
		fprintf(stderr, "spin: %s\nusage: spin [SECONDS]\n", err.msg);
		return 2;
	}

	printf("ready\n");
	fflush(stdout);

	end = mono_usec() + usec;
	for (;;) {
		for (unsigned long i = 0; i < SPIN_CHECK_EVERY; i++)
			x = x * 6364136223846793005ULL + 1;
		if (argc == 2 && mono_usec() >= end)
			break;
	}
	return 0;
}
