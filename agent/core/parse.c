// SPDX-License-Identifier: MIT
#include <duress/core/parse.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reads a non-negative decimal number; rejects signs, hex, inf and nan. */
static int read_number(const char *s, const char *what, double *val, const char **end,
		       struct duress_err *err)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '-')
		return duress_err_set(err, 0, "%s: '%s': must not be negative", what, s);
	if (!isdigit((unsigned char)*s) && *s != '.')
		return duress_err_set(err, 0, "%s: '%s': expected a number", what, s);
	errno = 0;
	*val = strtod(s, &e);
	if (e == s || errno == ERANGE || !isfinite(*val))
		return duress_err_set(err, 0, "%s: '%s': not a valid number", what, s);
	/* strtod accepts hex ("0x10"): refuse anything that is not plain decimal. */
	for (const char *p = s; p < e; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return duress_err_set(err, 0, "%s: '%s': not a plain decimal number", what,
					      s);
	*end = e;
	return 0;
}

static const struct {
	const char *suffix;
	int shift;
} size_suffixes[] = {
	{ "", 0 },    { "b", 0 },    { "k", 10 }, { "kb", 10 }, { "kib", 10 }, { "m", 20 },
	{ "mb", 20 }, { "mib", 20 }, { "g", 30 }, { "gb", 30 }, { "gib", 30 }, { "t", 40 },
	{ "tb", 40 }, { "tib", 40 }, { "p", 50 }, { "pb", 50 }, { "pib", 50 },
};

int parse_size_spec(const char *s, const char *what, struct size_spec *out, struct duress_err *err)
{
	const char *end;
	double v;
	char suffix[8];
	size_t n;

	if (!s || !*s)
		return duress_err_set(err, 0, "%s: empty size", what);
	if (read_number(s, what, &v, &end, err) < 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end == '%') {
		const char *rest = end + 1;

		while (isspace((unsigned char)*rest))
			rest++;
		if (*rest)
			return duress_err_set(err, 0, "%s: '%s': trailing characters after '%%'",
					      what, s);
		if (v > 100.0)
			return duress_err_set(err, 0, "%s: '%s': a percentage cannot exceed 100%%",
					      what, s);
		out->is_pct = true;
		out->pct = v;
		out->bytes = 0;
		return 0;
	}
	n = strlen(end);
	while (n && isspace((unsigned char)end[n - 1]))
		n--;
	if (n >= sizeof(suffix))
		return duress_err_set(err, 0, "%s: '%s': unknown size suffix", what, s);
	memcpy(suffix, end, n);
	suffix[n] = '\0';
	for (size_t i = 0; i < sizeof(size_suffixes) / sizeof(size_suffixes[0]); i++) {
		double bytes;

		if (strcasecmp(suffix, size_suffixes[i].suffix))
			continue;
		bytes = ldexp(v, size_suffixes[i].shift);
		if (bytes >= 18446744073709551616.0)
			return duress_err_set(err, 0, "%s: '%s': too large", what, s);
		if (size_suffixes[i].shift == 0 && v != floor(v))
			return duress_err_set(err, 0, "%s: '%s': a byte count must be whole", what,
					      s);
		out->is_pct = false;
		out->pct = 0;
		out->bytes = (uint64_t)bytes;
		return 0;
	}
	return duress_err_set(err, 0, "%s: '%s': unknown size suffix '%s' (use K, M, G, T or %%)",
			      what, s, suffix);
}

int parse_size(const char *s, const char *what, uint64_t *out, struct duress_err *err)
{
	struct size_spec spec;

	if (parse_size_spec(s, what, &spec, err) < 0)
		return -1;
	if (spec.is_pct)
		return duress_err_set(err, 0, "%s: '%s': a percentage is not allowed here", what,
				      s);
	*out = spec.bytes;
	return 0;
}

uint64_t size_spec_resolve(const struct size_spec *spec, uint64_t base)
{
	if (!spec->is_pct)
		return spec->bytes;
	return (uint64_t)((long double)base * spec->pct / 100.0L);
}

static const struct {
	const char *unit;
	double usec;
} duration_units[] = {
	{ "ns", 1e-3 }, { "us", 1 },   { "µs", 1 },	{ "ms", 1e3 },	 { "s", 1e6 },
	{ "sec", 1e6 }, { "m", 60e6 }, { "min", 60e6 }, { "h", 3600e6 }, { "d", 86400e6 },
};

int parse_duration(const char *s, const char *what, uint64_t *usec, struct duress_err *err)
{
	const char *p = s;
	double total = 0;
	bool any = false;

	if (!s || !*s)
		return duress_err_set(err, 0, "%s: empty duration", what);
	while (*p) {
		const char *end;
		char unit[8];
		size_t n = 0;
		double v;
		bool found = false;

		if (read_number(p, what, &v, &end, err) < 0)
			return duress_err_set(
				err, 0, "%s: '%s': not a duration (e.g. 500ms, 30s, 2m)", what, s);
		while (*end && !isdigit((unsigned char)*end) && *end != '.' && n + 1 < sizeof(unit))
			unit[n++] = *end++;
		unit[n] = '\0';
		if (n == 0) {
			if (any)
				return duress_err_set(err, 0, "%s: '%s': number without a unit",
						      what, s);
			/* A bare number is seconds. */
			found = true;
			v *= 1e6;
		}
		for (size_t i = 0; !found && i < sizeof(duration_units) / sizeof(duration_units[0]);
		     i++) {
			if (!strcmp(unit, duration_units[i].unit)) {
				v *= duration_units[i].usec;
				found = true;
			}
		}
		if (!found)
			return duress_err_set(
				err, 0, "%s: '%s': unknown unit '%s' (use ns, us, ms, s, m, h, d)",
				what, s, unit);
		total += v;
		any = true;
		p = end;
	}
	if (total >= 1.8e19)
		return duress_err_set(err, 0, "%s: '%s': too long", what, s);
	*usec = (uint64_t)llround(total);
	return 0;
}

int parse_percent(const char *s, const char *what, double *out, struct duress_err *err)
{
	const char *end;
	double v;

	if (!s || !*s)
		return duress_err_set(err, 0, "%s: empty percentage", what);
	if (read_number(s, what, &v, &end, err) < 0)
		return -1;
	if (*end == '%')
		end++;
	if (*end)
		return duress_err_set(err, 0, "%s: '%s': not a percentage", what, s);
	if (v > 100.0)
		return duress_err_set(err, 0, "%s: '%s': must be between 0 and 100", what, s);
	*out = v;
	return 0;
}

int parse_uint(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
	       struct duress_err *err)
{
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return duress_err_set(err, 0, "%s: empty value", what);
	if (*s == '-')
		return duress_err_set(err, 0, "%s: '%s': must not be negative", what, s);
	if (!isdigit((unsigned char)*s))
		return duress_err_set(err, 0, "%s: '%s': expected a whole number", what, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || *end)
		return duress_err_set(err, 0, "%s: '%s': expected a whole number", what, s);
	if (v < min || v > max)
		return duress_err_set(err, 0, "%s: '%s': must be between %llu and %llu", what, s,
				      (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

char *format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (v >= 100.0 || v == floor(v))
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

char *format_duration(uint64_t usec, char *buf, size_t len)
{
	uint64_t s = usec / 1000000, rest = usec % 1000000;

	if (usec == 0)
		snprintf(buf, len, "0s");
	else if (s == 0 && rest % 1000)
		snprintf(buf, len, "%lluus", (unsigned long long)usec);
	else if (s == 0)
		snprintf(buf, len, "%llums", (unsigned long long)(usec / 1000));
	else {
		size_t off = 0;
		uint64_t h = s / 3600, m = (s / 60) % 60, sec = s % 60;

		buf[0] = '\0';
		if (h)
			off += snprintf(buf + off, len - off, "%lluh", (unsigned long long)h);
		if (m && off < len)
			off += snprintf(buf + off, len - off, "%llum", (unsigned long long)m);
		if ((sec || rest) && off < len) {
			if (rest && rest % 1000 == 0)
				snprintf(buf + off, len - off, "%llu.%03llus",
					 (unsigned long long)sec,
					 (unsigned long long)(rest / 1000));
			else
				snprintf(buf + off, len - off, "%llus", (unsigned long long)sec);
		}
	}
	return buf;
}
