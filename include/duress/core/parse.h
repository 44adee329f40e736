/* SPDX-License-Identifier: MIT */
/*
 * Parsers and formatters for the units users type: sizes, durations,
 * percentages.  Pure functions; unit-tested in tests/unit/test_parse.c.
 */
#ifndef DURESS_PARSE_H
#define DURESS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <duress/core/error.h>

/*
 * A size as typed: bytes with an optional binary suffix (K, M, G, T, P;
 * KB/KiB alike, case-insensitive, decimals allowed: "1.5G"), or a
 * percentage ("50%") of a base that is only known later (the target's
 * limit, see docs/cli.md).
 */
struct size_spec {
	bool is_pct;
	double pct;	/* 0..100 when is_pct */
	uint64_t bytes; /* when !is_pct */
};

/* `what` names the option for the message ("--max"). */
int parse_size_spec(const char *s, const char *what, struct size_spec *out, struct duress_err *err);
/* Bytes only; a percentage is an error. */
int parse_size(const char *s, const char *what, uint64_t *out, struct duress_err *err);
/* Resolve a size_spec against a base (bytes); rounds down. */
uint64_t size_spec_resolve(const struct size_spec *spec, uint64_t base);

/*
 * Durations: a number with a unit (ns, us, ms, s, m, h, d), or several
 * run together ("1m30s"); a bare number means seconds.  Result in
 * microseconds.  Zero is allowed; callers that need > 0 check it.
 */
int parse_duration(const char *s, const char *what, uint64_t *usec, struct duress_err *err);

/* A percentage 0..100, with or without a trailing '%'. */
int parse_percent(const char *s, const char *what, double *out, struct duress_err *err);

/* Unsigned integer in [min, max]. */
int parse_uint(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
	       struct duress_err *err);

/*
 * The components of a slash-separated path, slashes skipped:
 *     for (const char *p = path; path_next(&p, &len); p += len)
 * sees each one at p, len bytes long.
 */
static inline bool path_next(const char **p, size_t *len)
{
	while (**p == '/')
		(*p)++;
	if (!**p)
		return false;
	*len = strcspn(*p, "/");
	return true;
}

/* "1.5 GiB", "512 KiB", "100 B".  Returns buf. */
char *format_size(uint64_t bytes, char *buf, size_t len);
/* "1h2m3s", "1m30s", "2s", "150ms", "20us", "0s".  Returns buf. */
char *format_duration(uint64_t usec, char *buf, size_t len);

#endif
