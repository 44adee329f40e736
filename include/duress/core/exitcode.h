/* SPDX-License-Identifier: MIT */
/* Process exit codes; documented in docs/cli.md.  Never renumber. */
#ifndef DURESS_EXITCODE_H
#define DURESS_EXITCODE_H

enum duress_exit {
	DURESS_EXIT_OK = 0,	      /* did what was asked */
	DURESS_EXIT_FAILED = 1,	      /* ran, but the result is a failure (later: deviated) */
	DURESS_EXIT_USAGE = 2,	      /* bad command line or option value */
	DURESS_EXIT_NO_TARGET = 3,    /* target not found, ambiguous or not a cgroup v2 */
	DURESS_EXIT_UNSUPPORTED = 4,  /* environment cannot run this: not root, no cgroup v2, ... */
	DURESS_EXIT_INTERNAL = 5,     /* unexpected system failure */
	DURESS_EXIT_REFUSED = 6,      /* a guard rail refused the target or value (see --force) */
	DURESS_EXIT_NOT_REVERTED = 7, /* ran, but some change could not be reverted: see report */
	DURESS_EXIT_INTERRUPTED = 8,  /* stopped early by a signal; everything reverted */
	DURESS_EXIT_ABORTED = 9,      /* experiment aborted by an abort condition; reverted */
	DURESS_EXIT_INVALID_MANIFEST = 10, /* experiment manifest invalid: nothing was run */
};

#endif
