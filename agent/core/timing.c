// SPDX-License-Identifier: MIT
/* Clocks and periodic timers (timing.h). */
#include <duress/core/timing.h>

#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

double timing_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double timing_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int timing_periodic_fd(uint64_t interval_us)
{
	struct itimerspec its = { 0 };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0)
		return -1;
	its.it_interval.tv_sec = (time_t)(interval_us / 1000000);
	its.it_interval.tv_nsec = (long)(interval_us % 1000000) * 1000;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

uint64_t timing_drain(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}
