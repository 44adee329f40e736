/* SPDX-License-Identifier: MIT */
/*
 * Pure helpers of the cpu fault (agent/faults/fault_cpu.c), exposed for the unit
 * tests (tests/unit/test_fault_cpu.c).  The fault itself is the descriptor
 * fault_cpu, registered in include/duress/faults.h; docs/faults/cpu.md
 * describes it.
 */
#ifndef DURESS_FAULT_CPU_H
#define DURESS_FAULT_CPU_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_PERIOD_US 100000ULL	 /* cpu.max period written by --quota */
#define CPU_QUOTA_MIN_US 1000ULL /* the kernel's smallest cpu.max quota */
#define CPU_SLICE_NS 10000000ULL /* duty-cycle slice of a worker: 10 ms */

/*
 * The cpu.max text for `cpus` CPUs per period_us: "50000 100000" for 0.5.
 * The quota is rounded to the nearest microsecond and must be at least
 * CPU_QUOTA_MIN_US.  Returns -1 (errno EINVAL or ENAMETOOLONG) otherwise.
 */
int cpu_quota_format(double cpus, uint64_t period_us, char *buf, size_t len);

/* Workers for a capacity of `cpus` CPUs: rounded up, at least 1. */
unsigned int cpu_default_workers(double cpus);

/*
 * A cpuset list ("0-3,8,10-11\n", as in cpuset.cpus.effective) into set;
 * *count gets the number of CPUs.  Empty text is an empty set.  Returns -1
 * (errno EINVAL) on malformed text or a CPU beyond CPU_SETSIZE.
 */
int cpu_list_parse(const char *text, cpu_set_t *set, unsigned int *count);

/*
 * The duty cycle of one worker.  Each slice of period_ns the worker is busy
 * for cpu_duty_budget() ns, then sleeps to the end of the slice.  After
 * each slice it reports the wall time that passed since its last report
 * and the CPU time it used meanwhile (busy phase, wake-up, clock reads)
 * with cpu_duty_account().  The wanted share of that wall time minus the
 * CPU time used is carried to the next slices, so the long-run average is
 * the requested load, also when a slice was cut short by preemption or
 * skipped because the worker woke up late, or cost more than planned.
 * What the worker is owed is bounded by one slice, so a worker that was
 * throttled (cpu.max), frozen or starved does not burst afterwards; what it
 * overspent is paid back (by sleeping) up to CPU_DUTY_PAYBACK_SLICES.
 */
#define CPU_DUTY_PAYBACK_SLICES 10

struct cpu_duty {
	uint64_t period_ns;
	double load;	 /* fraction of one CPU, 0..1 */
	int64_t debt_ns; /* wanted minus used so far, within [-10, 1] periods */
};

/* load_pct in (0, 100]; values outside are clamped. */
void cpu_duty_init(struct cpu_duty *d, double load_pct, uint64_t period_ns);
/* Busy time for the next slice, in [0, period_ns]. */
uint64_t cpu_duty_budget(const struct cpu_duty *d);
/* elapsed_ns of wall time passed, used_ns of CPU time used in it. */
void cpu_duty_account(struct cpu_duty *d, uint64_t elapsed_ns, uint64_t used_ns);

/*
 * The busy phase does `chunk` rounds of arithmetic between two clock reads.
 * Where reading the clock is cheap (vDSO) that hardly matters; where it is a
 * system call or an emulated device (HPET in a VM) reading it in a tight
 * loop costs far more than the loop and stalls the CPU.  After each read
 * the chunk is adapted so that reads come every CPU_CHECK_MIN_NS to
 * CPU_CHECK_MAX_NS (50-200 us: what the busy phase overshoots by is paid
 * back by the duty cycle's carry): doubled when the last chunk took less,
 * halved when it took more.  Returns the next chunk, in [1, CPU_CHUNK_MAX].
 */
#define CPU_CHECK_MIN_NS 50000ULL
#define CPU_CHECK_MAX_NS 200000ULL
#define CPU_CHUNK_MAX (1U << 20)
unsigned int cpu_chunk_adapt(unsigned int chunk, uint64_t took_ns);

#endif
