// SPDX-License-Identifier: MIT
/* Prometheus text exposition (serve_prom.h). */
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/error.h>
#include <duress/samples/sample.h>
#include <duress/serve/serve_prom.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- Prometheus ---- */

void prom_escape_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/* A value in the exposition format: integers exactly, +Inf for "max". */
static void prom_value(FILE *out, double v)
{
	if (v == (double)CG_MAX || v > 1.8e19)
		fputs("+Inf", out);
	else if (v == (double)(int64_t)v && v < 9.0e15 && v > -9.0e15)
		fprintf(out, "%" PRId64, (int64_t)v);
	else
		fprintf(out, "%.17g", v);
}

/* A metric of a target: sub-series i (0..) of sample s, with an optional
 * extra label; arg is the table entry's (which variant of the getter).
 * Returns 1 with *v set, 0 when absent, -1 past the last. */
typedef int (*prom_get)(const struct sample *s, int i, int arg, double *v, const char **lname,
			const char **lval);

#define OPT_GET(fnname, field)                                                                \
	static int fnname(const struct sample *s, int i, int arg, double *v, const char **ln, \
			  const char **lv)                                                    \
	{                                                                                     \
		if (i)                                                                        \
			return -1;                                                            \
		*v = (double)s->field.v;                                                      \
		if (s->field.set && s->field.v == CG_MAX)                                     \
			*v = (double)CG_MAX;                                                  \
		return s->field.set;                                                          \
	}

OPT_GET(get_mem_current, memory.current)
OPT_GET(get_mem_max, memory.max)
OPT_GET(get_mem_high, memory.high)
OPT_GET(get_mem_peak, memory.peak)
OPT_GET(get_swap_current, memory.swap_current)
OPT_GET(get_oom, memory.ev_oom)
OPT_GET(get_oom_kill, memory.ev_oom_kill)
OPT_GET(get_ev_max, memory.ev_max)
OPT_GET(get_ev_high, memory.ev_high)
OPT_GET(get_pids, pids.current)
OPT_GET(get_pids_max, pids.max)
OPT_GET(get_throttled, cpu.nr_throttled)

static int get_cpu_seconds(const struct sample *s, int i, int arg, double *v, const char **ln,
			   const char **lv)
{
	if (i)
		return -1;
	*v = s->cpu.usage_usec.v / 1e6;
	return s->cpu.usage_usec.set;
}

static int get_cpu_pct(const struct sample *s, int i, int arg, double *v, const char **ln,
		       const char **lv)
{
	if (i)
		return -1;
	*v = s->cpu.usage_pct;
	return s->cpu.has_usage_pct;
}

static int get_throttled_s(const struct sample *s, int i, int arg, double *v, const char **ln,
			   const char **lv)
{
	if (i)
		return -1;
	*v = s->cpu.throttled_usec.v / 1e6;
	return s->cpu.throttled_usec.set;
}

/* cpu.max as CPUs (quota / period); +Inf when unlimited */
static int get_cpu_max(const struct sample *s, int i, int arg, double *v, const char **ln,
		       const char **lv)
{
	if (i)
		return -1;
	if (!s->cpu.max_quota.set || !s->cpu.max_period.set || !s->cpu.max_period.v)
		return 0;
	*v = s->cpu.max_quota.v == CG_MAX ? (double)CG_MAX
					  : (double)s->cpu.max_quota.v / s->cpu.max_period.v;
	return 1;
}

enum { PSI_FULL = 1, PSI_TOTAL = 2 };

/* PSI by resource; arg: PSI_FULL for the full line, PSI_TOTAL for the
 * stall time in seconds instead of avg10 */
static int get_psi(const struct sample *s, int i, int arg, double *v, const char **ln,
		   const char **lv)
{
	const struct psi *p;
	const struct psi_line *l;

	if (i >= SAMPLE_PSI_N)
		return -1;
	p = sample_psi(s, i);
	*lv = sample_psi_names[i];
	*ln = "resource";
	if (!p)
		return 0;
	l = (arg & PSI_FULL) ? &p->full : &p->some;
	*v = (arg & PSI_TOTAL) ? l->total / 1e6 : l->avg10;
	return l->present;
}

enum { DIR_IO, DIR_NET_BYTES, DIR_NET_DROPS };

/* A counter with a direction label; arg says which */
static int get_dir(const struct sample *s, int i, int arg, double *v, const char **ln,
		   const char **lv)
{
	uint64_t pair[2];
	bool present;

	if (i >= 2)
		return -1;
	*ln = "direction";
	if (arg == DIR_IO) {
		*lv = i ? "write" : "read";
		pair[0] = s->io.rbytes, pair[1] = s->io.wbytes;
		present = s->io.present;
	} else {
		*lv = i ? "transmit" : "receive";
		if (arg == DIR_NET_BYTES)
			pair[0] = s->net.rx_bytes, pair[1] = s->net.tx_bytes;
		else
			pair[0] = s->net.rx_drops, pair[1] = s->net.tx_drops;
		present = s->net.present;
	}
	*v = (double)pair[i];
	return present;
}

static const struct {
	const char *name, *type, *help;
	prom_get get;
	int arg;
} target_metrics[] = {
	{ "duress_target_memory_current_bytes", "gauge", "memory.current of the target cgroup",
	  get_mem_current, 0 },
	{ "duress_target_memory_max_bytes", "gauge", "memory.max of the target cgroup (+Inf: max)",
	  get_mem_max, 0 },
	{ "duress_target_memory_high_bytes", "gauge",
	  "memory.high of the target cgroup (+Inf: max)", get_mem_high, 0 },
	{ "duress_target_memory_peak_bytes", "gauge", "memory.peak of the target cgroup",
	  get_mem_peak, 0 },
	{ "duress_target_memory_swap_current_bytes", "gauge", "memory.swap.current of the target",
	  get_swap_current, 0 },
	{ "duress_target_memory_events_max_total", "counter",
	  "memory.events max: times usage hit memory.max", get_ev_max, 0 },
	{ "duress_target_memory_events_high_total", "counter",
	  "memory.events high: times usage went over memory.high", get_ev_high, 0 },
	{ "duress_target_oom_total", "counter", "memory.events oom: OOM situations in the target",
	  get_oom, 0 },
	{ "duress_target_oom_kills_total", "counter",
	  "memory.events oom_kill: processes of the target killed by the OOM killer", get_oom_kill,
	  0 },
	{ "duress_target_cpu_usage_seconds_total", "counter", "cpu.stat usage_usec, in seconds",
	  get_cpu_seconds, 0 },
	{ "duress_target_cpu_usage_percent", "gauge",
	  "CPU used over the last sampling interval, percent of one CPU", get_cpu_pct, 0 },
	{ "duress_target_cpu_max_cpus", "gauge",
	  "cpu.max of the target as CPUs (quota / period; +Inf: max)", get_cpu_max, 0 },
	{ "duress_target_cpu_throttled_periods_total", "counter", "cpu.stat nr_throttled",
	  get_throttled, 0 },
	{ "duress_target_cpu_throttled_seconds_total", "counter",
	  "cpu.stat throttled_usec, in seconds", get_throttled_s, 0 },
	{ "duress_target_pressure_some_avg10", "gauge",
	  "PSI some avg10: percent of time some tasks stalled on the resource", get_psi, 0 },
	{ "duress_target_pressure_full_avg10", "gauge",
	  "PSI full avg10: percent of time all tasks stalled on the resource", get_psi, PSI_FULL },
	{ "duress_target_pressure_some_seconds_total", "counter",
	  "PSI some total: time some tasks stalled on the resource", get_psi, PSI_TOTAL },
	{ "duress_target_pressure_full_seconds_total", "counter",
	  "PSI full total: time all tasks stalled on the resource", get_psi, PSI_FULL | PSI_TOTAL },
	{ "duress_target_io_bytes_total", "counter", "io.stat rbytes/wbytes summed over devices",
	  get_dir, DIR_IO },
	{ "duress_target_network_bytes_total", "counter",
	  "bytes through the target's network namespace interfaces (lo excluded)", get_dir,
	  DIR_NET_BYTES },
	{ "duress_target_network_drops_total", "counter",
	  "packets dropped on the target's network namespace interfaces (lo excluded)", get_dir,
	  DIR_NET_DROPS },
	{ "duress_target_pids_current", "gauge", "pids.current of the target cgroup", get_pids, 0 },
	{ "duress_target_pids_max", "gauge", "pids.max of the target cgroup (+Inf: max)",
	  get_pids_max, 0 },
};

static void prom_head(FILE *out, const char *name, const char *type, const char *help)
{
	/* HELP text escapes backslash and newline; ours has neither */
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_targets(FILE *out, const struct prom_target *v, size_t n)
{
	for (size_t m = 0; m < DURESS_ARRAY_SIZE(target_metrics); m++) {
		bool head = false;

		for (size_t t = 0; t < n; t++) {
			for (int i = 0;; i++) {
				const char *ln = NULL, *lv = NULL;
				double val = 0;
				int r = target_metrics[m].get(v[t].s, i, target_metrics[m].arg,
							      &val, &ln, &lv);

				if (r < 0)
					break;
				if (!r)
					continue;
				if (!head) {
					prom_head(out, target_metrics[m].name,
						  target_metrics[m].type, target_metrics[m].help);
					head = true;
				}
				fprintf(out, "%s{target=\"", target_metrics[m].name);
				prom_escape_label(out, v[t].target);
				if (ln) {
					fprintf(out, "\",%s=\"", ln);
					prom_escape_label(out, lv);
				}
				fputs("\"} ", out);
				prom_value(out, val);
				fputc('\n', out);
			}
		}
	}
}

void prom_hist_observe(struct prom_hist *h, double seconds)
{
	static const double bounds[PROM_PROBE_NB] = PROM_PROBE_BOUNDS;

	if (!isfinite(seconds) || seconds < 0)
		return;
	for (int i = 0; i < PROM_PROBE_NB; i++)
		h->le[i] += seconds <= bounds[i];
	h->count++;
	h->sum += seconds;
}

static void probe_labels(FILE *out, const struct prom_probe *p)
{
	fputs("id=\"", out);
	prom_escape_label(out, p->id);
	fputs("\",experiment=\"", out);
	prom_escape_label(out, p->experiment);
	fputs("\",probe=\"", out);
	prom_escape_label(out, p->h->probe);
	fputc('"', out);
}

void prom_probes(FILE *out, const struct prom_probe *p, size_t n)
{
	static const double bounds[PROM_PROBE_NB] = PROM_PROBE_BOUNDS;

	prom_head(out, "duress_probe_duration_seconds", "histogram",
		  "latency of the steady-state probes of experiment jobs (every run: "
		  "before, during, recovery, after)");
	for (size_t i = 0; i < n; i++) {
		for (int b = 0; b <= PROM_PROBE_NB; b++) {
			fputs("duress_probe_duration_seconds_bucket{", out);
			probe_labels(out, &p[i]);
			if (b < PROM_PROBE_NB)
				fprintf(out, ",le=\"%g\"} ", bounds[b]);
			else
				fputs(",le=\"+Inf\"} ", out);
			prom_value(out,
				   (double)(b < PROM_PROBE_NB ? p[i].h->le[b] : p[i].h->count));
			fputc('\n', out);
		}
		fputs("duress_probe_duration_seconds_sum{", out);
		probe_labels(out, &p[i]);
		fputs("} ", out);
		prom_value(out, p[i].h->sum);
		fputs("\nduress_probe_duration_seconds_count{", out);
		probe_labels(out, &p[i]);
		fputs("} ", out);
		prom_value(out, (double)p[i].h->count);
		fputc('\n', out);
	}
}

void prom_agent(FILE *out, const struct prom_agent *a, const struct prom_fault *f, size_t n)
{
	const struct {
		const char *name, *type, *help;
		double v;
	} m[] = {
		{ "duress_faults_active", "gauge", "single faults in force (POST /v1/faults)",
		  a->faults_active },
		{ "duress_experiments_active", "gauge", "experiments running",
		  a->experiments_active },
		{ "duress_faults_started_total", "counter", "single faults started",
		  (double)a->faults_started },
		{ "duress_experiments_started_total", "counter", "experiments started",
		  (double)a->experiments_started },
		{ "duress_reverts_ok_total", "counter",
		  "jobs that ended with everything they changed reverted", (double)a->reverts_ok },
		{ "duress_revert_failures_total", "counter",
		  "jobs that ended with something not reverted (exit 7) or died by a signal "
		  "(their guardian reverts)",
		  (double)a->revert_failures },
		{ "duress_jobs_failed_total", "counter",
		  "jobs that ended with an error or a deviated hypothesis (exit code not 0 or 8)",
		  (double)a->jobs_failed },
		{ "duress_sample_cost_seconds", "gauge",
		  "wall time of the agent's last sampling round of every target",
		  a->sample_cost_last_s },
		{ "duress_sample_cost_seconds_total", "counter",
		  "wall time the agent spent sampling targets", a->sample_cost_total_s },
		{ "duress_samples_total", "counter", "samples the agent took of targets",
		  (double)a->samples_total },
	};

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(m); i++) {
		prom_head(out, m[i].name, m[i].type, m[i].help);
		fprintf(out, "%s ", m[i].name);
		prom_value(out, m[i].v);
		fputc('\n', out);
	}
	prom_head(out, "duress_fault_active", "gauge",
		  "1 for each fault or experiment in force, with its id, fault and target");
	for (size_t i = 0; i < n; i++) {
		fputs("duress_fault_active{id=\"", out);
		prom_escape_label(out, f[i].id);
		fputs("\",kind=\"", out);
		prom_escape_label(out, f[i].kind);
		fputs("\",fault=\"", out);
		prom_escape_label(out, f[i].fault);
		fputs("\",target=\"", out);
		prom_escape_label(out, f[i].target);
		fputs("\"} 1\n", out);
	}
}
