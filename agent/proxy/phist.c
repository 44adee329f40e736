// SPDX-License-Identifier: MIT
/* Latency histograms; see include/duress/proxy/phist.h. */
#include <duress/proxy/phist.h>

#include <math.h>

static unsigned idx(uint64_t v)
{
	unsigned e = 0;

	if (v < PHIST_SUB)
		return (unsigned)v;
	while ((v >> e) >= 2 * PHIST_SUB)
		e++;
	/* v >> e is in [SUB, 2 SUB): the bucket within power e */
	return (e + 1) * PHIST_SUB + (unsigned)((v >> e) - PHIST_SUB);
}

/* The middle of bucket i, as a value. */
static double mid(unsigned i)
{
	unsigned e, m;

	if (i < PHIST_SUB)
		return i;
	e = i / PHIST_SUB - 1;
	m = i % PHIST_SUB + PHIST_SUB;
	return ((double)m + 0.5) * (double)(1ULL << e);
}

void phist_add(struct phist *h, uint64_t us)
{
	unsigned i = idx(us);

	if (i >= PHIST_BUCKETS)
		i = PHIST_BUCKETS - 1;
	h->b[i]++;
	h->n++;
	if (us > h->max_us)
		h->max_us = us;
}

double phist_pct_ms(const struct phist *h, double pct)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil((double)h->n * pct / 100.0);
	if (!want)
		want = 1;
	for (unsigned i = 0; i < PHIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			double v = mid(i);

			return (v > (double)h->max_us ? (double)h->max_us : v) / 1000.0;
		}
	}
	return (double)h->max_us / 1000.0;
}

json_t *phist_json(const struct phist *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "count", json_integer((json_int_t)h->n));
	json_object_set_new(o, "p50", json_real(round(phist_pct_ms(h, 50) * 100) / 100));
	json_object_set_new(o, "p99", json_real(round(phist_pct_ms(h, 99) * 100) / 100));
	json_object_set_new(o, "max", json_real(round((double)h->max_us / 10.0) / 100));
	return o;
}
