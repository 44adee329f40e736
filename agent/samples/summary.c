// SPDX-License-Identifier: MIT
/* Per-phase aggregates of samples; see include/duress/summary.h. */
#include <duress/core/parse.h>
#include <duress/samples/summary.h>

#include <math.h>
#include <string.h>

void phase_stats_init(struct phase_stats *ps)
{
	memset(ps, 0, sizeof(*ps));
}

static void psi_peak(struct phase_stats *ps, int i, const struct psi *p)
{
	if (!p)
		return;
	ps->has_psi[i] = true;
	if (p->some.present && p->some.avg10 > ps->psi_some_peak[i])
		ps->psi_some_peak[i] = p->some.avg10;
	if (p->full.present && p->full.avg10 > ps->psi_full_peak[i])
		ps->psi_full_peak[i] = p->full.avg10;
}

void phase_stats_add(struct phase_stats *ps, const struct sample *s)
{
	if (ps->n == 0)
		ps->first = *s;
	ps->last = *s;
	ps->n++;
	if (s->cpu.has_usage_pct) {
		ps->cpu_pct_sum += s->cpu.usage_pct;
		ps->cpu_pct_n++;
		if (s->cpu.usage_pct > ps->cpu_pct_max)
			ps->cpu_pct_max = s->cpu.usage_pct;
	}
	if (s->memory.current.set) {
		ps->has_mem = true;
		if (s->memory.current.v > ps->mem_peak)
			ps->mem_peak = s->memory.current.v;
	}
	for (int i = 0; i < SAMPLE_PSI_N; i++)
		psi_peak(ps, i, sample_psi(s, i));
}

uint64_t phase_delta(const struct opt_u64 *first, const struct opt_u64 *last)
{
	if (!first->set || !last->set || last->v < first->v || last->v == UINT64_MAX)
		return 0;
	return last->v - first->v;
}

static double round2(double v)
{
	return round(v * 100) / 100;
}

static void put_delta(json_t *o, const char *key, const struct opt_u64 *a, const struct opt_u64 *b)
{
	if (a->set && b->set)
		json_object_set_new(o, key, json_integer((json_int_t)phase_delta(a, b)));
}

json_t *phase_stats_json(const struct phase_stats *ps, const struct phase_stats *prev)
{
	const char *const *res = sample_psi_names;
	const struct sample *a = prev && prev->n ? &prev->last : &ps->first;
	const struct sample *b = &ps->last;
	json_t *o = json_object(), *cpu, *mem, *ev, *io, *psi;

	json_object_set_new(o, "samples", json_integer(ps->n));
	if (!ps->n)
		return o;
	json_object_set_new(o, "seconds", json_real(round2(b->t - a->t)));
	cpu = json_object();
	if (ps->cpu_pct_n) {
		json_object_set_new(cpu, "usage_pct_avg",
				    json_real(round2(ps->cpu_pct_sum / ps->cpu_pct_n)));
		json_object_set_new(cpu, "usage_pct_max", json_real(round2(ps->cpu_pct_max)));
	}
	put_delta(cpu, "nr_throttled", &a->cpu.nr_throttled, &b->cpu.nr_throttled);
	put_delta(cpu, "throttled_usec", &a->cpu.throttled_usec, &b->cpu.throttled_usec);
	json_object_set_new(o, "cpu", cpu);
	mem = json_object();
	if (ps->has_mem)
		json_object_set_new(mem, "peak", json_integer((json_int_t)ps->mem_peak));
	ev = json_object();
	put_delta(ev, "low", &a->memory.ev_low, &b->memory.ev_low);
	put_delta(ev, "high", &a->memory.ev_high, &b->memory.ev_high);
	put_delta(ev, "max", &a->memory.ev_max, &b->memory.ev_max);
	put_delta(ev, "oom", &a->memory.ev_oom, &b->memory.ev_oom);
	put_delta(ev, "oom_kill", &a->memory.ev_oom_kill, &b->memory.ev_oom_kill);
	json_object_set_new(mem, "events", ev);
	json_object_set_new(o, "memory", mem);
	if (a->io.present && b->io.present) {
		io = json_object();
		json_object_set_new(io, "rbytes",
				    json_integer((json_int_t)(b->io.rbytes >= a->io.rbytes
								      ? b->io.rbytes - a->io.rbytes
								      : 0)));
		json_object_set_new(io, "wbytes",
				    json_integer((json_int_t)(b->io.wbytes >= a->io.wbytes
								      ? b->io.wbytes - a->io.wbytes
								      : 0)));
		json_object_set_new(io, "rios",
				    json_integer((json_int_t)(b->io.rios >= a->io.rios
								      ? b->io.rios - a->io.rios
								      : 0)));
		json_object_set_new(io, "wios",
				    json_integer((json_int_t)(b->io.wios >= a->io.wios
								      ? b->io.wios - a->io.wios
								      : 0)));
		json_object_set_new(o, "io", io);
	}
	if (a->net.present && b->net.present) {
		json_t *net = json_object();

		json_object_set_new(net, "rx_bytes",
				    json_integer((json_int_t)(b->net.rx_bytes - a->net.rx_bytes)));
		json_object_set_new(net, "tx_bytes",
				    json_integer((json_int_t)(b->net.tx_bytes - a->net.tx_bytes)));
		json_object_set_new(net, "rx_drops",
				    json_integer((json_int_t)(b->net.rx_drops - a->net.rx_drops)));
		json_object_set_new(net, "tx_drops",
				    json_integer((json_int_t)(b->net.tx_drops - a->net.tx_drops)));
		json_object_set_new(o, "net", net);
	}
	psi = json_object();
	for (int i = 0; i < 3; i++) {
		json_t *r;

		if (!ps->has_psi[i])
			continue;
		r = json_object();
		json_object_set_new(r, "some_avg10_peak", json_real(round2(ps->psi_some_peak[i])));
		json_object_set_new(r, "full_avg10_peak", json_real(round2(ps->psi_full_peak[i])));
		json_object_set_new(psi, res[i], r);
	}
	json_object_set_new(o, "psi", psi);
	return o;
}

/* "12.3%", or "-" when absent */
static void pct_cell(char *buf, size_t len, double v, bool present)
{
	if (present)
		snprintf(buf, len, "%.1f%%", v);
	else
		snprintf(buf, len, "-");
}

void phase_stats_print(FILE *f, const struct phase_stats *before, const struct phase_stats *during)
{
	const char *const *res = sample_psi_names;
	const struct sample *a = before->n ? &before->last : &during->first;
	const struct sample *b = &during->last;
	char c1[48], c2[64];

	if (!during->n)
		return;
	fprintf(f, "  %-26s %16s %16s\n", "", "before", "during");
	pct_cell(c1, sizeof(c1), before->cpu_pct_n ? before->cpu_pct_sum / before->cpu_pct_n : 0,
		 before->cpu_pct_n);
	pct_cell(c2, sizeof(c2), during->cpu_pct_n ? during->cpu_pct_sum / during->cpu_pct_n : 0,
		 during->cpu_pct_n);
	fprintf(f, "  %-26s %16s %16s\n", "cpu usage (avg, 1 CPU=100)", c1, c2);
	if (b->cpu.throttled_usec.set) {
		snprintf(c2, sizeof(c2), "%.2fs (%llu)",
			 phase_delta(&a->cpu.throttled_usec, &b->cpu.throttled_usec) / 1e6,
			 (unsigned long long)phase_delta(&a->cpu.nr_throttled,
							 &b->cpu.nr_throttled));
		fprintf(f, "  %-26s %16s %16s\n", "cpu throttled (periods)", "", c2);
	}
	if (during->has_mem) {
		if (before->has_mem)
			format_size(before->mem_peak, c1, sizeof(c1));
		else
			snprintf(c1, sizeof(c1), "-");
		format_size(during->mem_peak, c2, sizeof(c2));
		fprintf(f, "  %-26s %16s %16s\n", "memory.current peak", c1, c2);
	}
	if (b->memory.ev_oom_kill.set) {
		snprintf(c2, sizeof(c2), "%llu / %llu / %llu",
			 (unsigned long long)phase_delta(&a->memory.ev_oom_kill,
							 &b->memory.ev_oom_kill),
			 (unsigned long long)phase_delta(&a->memory.ev_max, &b->memory.ev_max),
			 (unsigned long long)phase_delta(&a->memory.ev_high, &b->memory.ev_high));
		fprintf(f, "  %-26s %16s %16s\n", "oom_kill / max / high evts", "", c2);
	}
	if (a->io.present && b->io.present) {
		char r[28], w[28];

		format_size(b->io.rbytes - a->io.rbytes, r, sizeof(r));
		format_size(b->io.wbytes - a->io.wbytes, w, sizeof(w));
		snprintf(c2, sizeof(c2), "%s / %s", r, w);
		fprintf(f, "  %-26s %16s %16s\n", "io read / written", "", c2);
	}
	for (int i = 0; i < 3; i++) {
		char label[48];

		if (!during->has_psi[i])
			continue;
		snprintf(label, sizeof(label), "psi %s some/full peak", res[i]);
		if (before->has_psi[i])
			snprintf(c1, sizeof(c1), "%.1f / %.1f", before->psi_some_peak[i],
				 before->psi_full_peak[i]);
		else
			snprintf(c1, sizeof(c1), "-");
		snprintf(c2, sizeof(c2), "%.1f / %.1f", during->psi_some_peak[i],
			 during->psi_full_peak[i]);
		fprintf(f, "  %-26s %16s %16s\n", label, c1, c2);
	}
}
