/* SPDX-License-Identifier: MIT */
/*
 * Pure helpers of the memory fault (agent/faults/fault_memory.c), for the
 * unit tests (tests/unit/test_fault_memory.c).  The fault itself is the
 * descriptor fault_memory; docs/faults/memory.md describes it.
 */
#ifndef DURESS_FAULT_MEMORY_H
#define DURESS_FAULT_MEMORY_H

#include <stdint.h>

#include <duress/core/error.h>
#include <duress/core/parse.h>

/*
 * Resolve a --max/--high/--hog value against the target's capacity, rounded
 * down to whole pages (the kernel keeps memory.max in pages).  Less than one
 * page is a usage error naming the option.
 */
int memory_resolve(const struct size_spec *spec, uint64_t base, uint64_t page, const char *what,
		   uint64_t *out, struct duress_err *err);

/* How much of the hog should be resident elapsed_us into a ramp of ramp_us
 * (0: all at once), in whole pages; never more than total. */
uint64_t memory_ramp_bytes(uint64_t total, uint64_t elapsed_us, uint64_t ramp_us, uint64_t page);

/* Delay before restarting a hog killed `streak` times in a row (>= 1). */
uint64_t memory_backoff_us(unsigned int streak);

#endif
