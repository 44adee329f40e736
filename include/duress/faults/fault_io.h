/* SPDX-License-Identifier: MIT */
/* Pure helpers of the io fault (agent/faults/fault_io.c), unit-tested:
 * io.max lines. */
#ifndef DURESS_FAULT_IO_H
#define DURESS_FAULT_IO_H

#include <stddef.h>
#include <stdint.h>

/* One device's limits; IO_LIMIT_KEEP (0) = not given: the kernel keeps
 * what the device has.  CG_MAX lifts a limit ("max"). */
#define IO_LIMIT_KEEP 0
struct io_limits {
	uint64_t rbps, wbps, riops, wiops;
};

/*
 * Pure: the line to write for one device, only the keys that are set, in
 * the kernel's order: "254:0 wbps=1048576 riops=100".  Fails (-1, errno
 * EINVAL) when no key is set, (-1, ENAMETOOLONG) when buf is too small.
 */
int io_max_format(unsigned int major, unsigned int minor, const struct io_limits *l, char *buf,
		  size_t len);

/*
 * Pure: the line of device major:minor in io.max text, without its
 * newline and surrounding blanks.  Returns 1 if found; 0 if the device has
 * no line (all its limits are max), and then buf gets the line that puts
 * it back: "MAJ:MIN rbps=max wbps=max riops=max wiops=max"; -1 (errno
 * ENAMETOOLONG) if buf is too small.
 */
int io_max_find(const char *text, unsigned int major, unsigned int minor, char *buf, size_t len);

#endif
