/* SPDX-License-Identifier: MIT */
/* Pure helpers of the disk-fill fault (agent/faults/fault_disk_fill.c),
 * unit-tested: how much a fill must allocate. */
#ifndef DURESS_FAULT_DISK_FILL_H
#define DURESS_FAULT_DISK_FILL_H

#include <stdbool.h>
#include <stdint.h>

enum fill_mode {
	FILL_SIZE,    /* allocate this many bytes */
	FILL_PERCENT, /* until this percent of the filesystem is in use (as df shows Use%) */
	FILL_LEAVE,   /* until this many bytes are left to unprivileged users (f_bavail) */
};

struct fill_goal {
	enum fill_mode mode;
	uint64_t bytes; /* FILL_SIZE, FILL_LEAVE */
	double pct;	/* FILL_PERCENT, 0..100 */
};

/* The statfs numbers a fill works from, all in bytes. */
struct fs_space {
	uint64_t total; /* f_blocks * f_frsize */
	uint64_t free;	/* f_bfree: root may use it, reserved blocks included */
	uint64_t avail; /* f_bavail: what unprivileged users may still use */
	uint64_t block; /* f_frsize (allocation granularity) */
};

/*
 * Pure: how many more bytes the fill must hold to reach the goal, given
 * the space now and what the fill file holds already (`held`).  Negative
 * when it holds too much (a correction frees the difference).  PERCENT
 * follows df: in use = total - free, of (in use + avail); the goal is
 * rounded down to whole blocks so df shows the percentage asked for.
 */
int64_t fill_needed(const struct fill_goal *g, const struct fs_space *s, uint64_t held);

/* Pure: what unprivileged users have left once `fill` more bytes are held. */
uint64_t fill_avail_after(const struct fs_space *s, uint64_t fill);

/* Pure: true if that leaves less than pct percent of the filesystem free. */
bool fill_leaves_too_little(const struct fs_space *s, uint64_t fill, double pct);

#endif
