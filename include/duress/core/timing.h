/* SPDX-License-Identifier: MIT */
/* Time for the agent's loops (agent/core/timing.c): a monotonic clock and
 * drift-free periodic timers (the kernel keeps the period). */
#ifndef DURESS_TIMING_H
#define DURESS_TIMING_H

#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC. */
double timing_now(void);
/* Seconds on CLOCK_REALTIME (journals, reports). */
double timing_real(void);
/* A non-blocking timerfd firing every interval_us; -1 with errno. */
int timing_periodic_fd(uint64_t interval_us);
/* Read a timerfd's expiration count (drains it); 0 if none. */
uint64_t timing_drain(int fd);

#endif
