/* SPDX-License-Identifier: MIT */
/*
 * Usage samples of a target: what the target went through.
 *
 * sample_take() reads the target's cgroup files (and the network counters
 * of its network namespace) once.  Every field carries a presence flag: a
 * field the kernel does not offer is absent from the output, never zero.
 * Rates (cpu.usage_pct, io and net per-second rates in the table) come from
 * the difference to the previous sample.
 * The JSON schema is documented in docs/samples.md.
 */
#ifndef DURESS_SAMPLE_H
#define DURESS_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/targets/target.h>

struct opt_u64 {
	bool set;
	uint64_t v; /* CG_MAX means "max" */
};

#define SAMPLE_MAX_IO_DEVS 16
#define SAMPLE_MAX_NET_IFS 16

struct net_if_stat {
	char name[32];
	uint64_t rx_bytes, rx_packets, rx_drops, rx_errors;
	uint64_t tx_bytes, tx_packets, tx_drops, tx_errors;
};

struct sample {
	double t;	    /* seconds since the sampler started */
	struct timespec ts; /* CLOCK_REALTIME when taken */
	uint64_t mono_ns;   /* CLOCK_MONOTONIC when taken */
	const char *phase;  /* "before", "during", "after" around a fault; NULL: none */

	struct {
		struct opt_u64 usage_usec, user_usec, system_usec;
		struct opt_u64 nr_periods, nr_throttled, throttled_usec;
		bool has_usage_pct;
		double usage_pct;		      /* percent of one CPU over the interval */
		struct opt_u64 max_quota, max_period; /* cpu.max; quota CG_MAX = max */
		struct opt_u64 weight;
	} cpu;

	struct {
		struct opt_u64 current, peak, max, high, low, min, swap_current, swap_max;
		struct opt_u64 ev_low, ev_high, ev_max, ev_oom, ev_oom_kill;
		struct opt_u64 anon, file, shmem, kernel;
	} memory;

	struct {
		bool present;
		size_t ndevs;
		struct io_dev_stat devs[SAMPLE_MAX_IO_DEVS];
		uint64_t rbytes, wbytes, rios, wios; /* totals over all devices */
	} io;

	struct {
		struct opt_u64 current, max;
	} pids;

	struct {
		bool cpu_present, memory_present, io_present;
		struct psi cpu, memory, io;
	} psi;

	struct {
		bool present;
		size_t nifs;
		struct net_if_stat ifs[SAMPLE_MAX_NET_IFS]; /* lo excluded from totals */
		uint64_t rx_bytes, rx_packets, rx_drops, tx_bytes, tx_packets, tx_drops;
	} net;
};

/*
 * Read everything once.  `prev` (may be NULL) gives the CPU usage percent.
 * A target whose cgroup vanished fails with errno ENOENT in err->errnum.
 * Network counters come from /proc/<t->pid>/net/dev (the target's netns);
 * absent when the target has no process.
 */
int sample_take(const struct target *t, const struct sample *prev, double t_rel, struct sample *out,
		struct duress_err *err);

/*
 * Pure parser of /proc/PID/net/dev text (header lines skipped).  Fills up
 * to max interfaces in ifs, lo included, and sets *n to the number found
 * (may exceed max).  total (may be NULL) gets the sums over every interface
 * but lo, those beyond max included.  Returns -1 (errno EINVAL) on a
 * malformed interface line.
 */
int net_dev_parse(const char *text, struct net_if_stat *ifs, size_t max, size_t *n,
		  struct net_if_stat *total);

/* Pressure (PSI) by resource index: 0 cpu, 1 memory, 2 io, the order of
 * every PSI array (phase_stats, reports, /metrics). */
#define SAMPLE_PSI_N 3
extern const char *const sample_psi_names[SAMPLE_PSI_N];
/* The pressure of resource i in s, or NULL when the kernel gave none. */
const struct psi *sample_psi(const struct sample *s, int i);

#endif
