/* SPDX-License-Identifier: MIT */
/*
 * POSIX extended regular expressions from outside (manifests, the API,
 * fault options), compiled within bounds (agent/core/regex.c): what a
 * pattern makes regcomp(3) do is bounded, so a 20-byte `x{0,32767}` can
 * neither take seconds nor gigabytes, in the server's event loop least of
 * all.  A pattern longer than REGEX_MAX_LEN or with a repetition count
 * above REGEX_MAX_REPEAT is refused at once; any other is first compiled
 * in a child with CPU and memory limits, then here.
 */
#ifndef DURESS_REGEX_H
#define DURESS_REGEX_H

#include <regex.h>
#include <stddef.h>

#include <duress/core/error.h>

#define REGEX_MAX_LEN 1024
#define REGEX_MAX_REPEAT 255
#define REGEX_CHILD_CPU_S 1
#define REGEX_CHILD_MEM (256u << 20)

/* Pure: the cheap checks (length, repetition counts); NULL or why not. */
const char *regex_pattern_untrusted(const char *pattern, char *why, size_t len);

/* regcomp(re, pattern, flags) within the bounds above; `what` names the
 * field in messages.  Usage errors (DURESS_EXIT_USAGE) for a refused or
 * invalid pattern; on success the caller regfree()s. */
int regex_compile(regex_t *re, const char *pattern, int flags, const char *what,
		  struct duress_err *err);

#endif
