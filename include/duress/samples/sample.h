/* SPDX-License-Identifier: MIT */
/*
 * Usage samples of a target: what the target went through.
 *
 * sample_take() reads the target's cgroup files (and the network counters
 * of its network namespace) once.  Every field carries a presence flag: a
 * field the kernel does not offer is absent from the output, never zero.
 * Rates (cpu.usage_pct, io and net per-second rates in the table) come from
 * the difference to the previous sample.
 * The JSON schema is documented in docs/samples.md.
 */
#ifndef DURESS_SAMPLE_H
#define DURESS_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/targets/target.h>

struct opt_u64 {
	bool set;
	uint64_t v; /* CG_MAX means "max" */
};

#define SAMPLE_MAX_IO_DEVS 16
#define SAMPLE_MAX_NET_IFS 16

struct net_if_stat {
	char name[32];
	uint64_t rx_bytes, rx_packets, rx_drops, rx_errors;
	uint64_t tx_bytes, tx_packets, tx_drops, tx_errors;
};

struct sample {
	double t;             /* seconds since the sampler started */
	struct timespec ts;   /* CLOCK_REALTIME when taken */
	uint64_t mono_ns;     /* CLOCK_MONOTONIC when taken */
	const char *phase;    /* "before", "during", "after" around a fault; NULL: none */

	struct {
		struct opt_u64 usage_usec, user_usec, system_usec;
		struct opt_u64 nr_periods, nr_throttled, throttled_usec;
		bool has_usage_pct;
		double usage_pct; /* percent of one CPU over the interval */
		struct opt_u64 max_quota, max_period; /* cpu.max; quota CG_MAX = max */
		struct opt_u64 weight;
	} cpu;

	struct {
		struct opt_u64 current, peak, max, high, low, min, swap_current, swap_max;
		struct opt_u64 ev_low, ev_high, ev_max, ev_oom, ev_oom_kill;
		struct opt_u64 anon, file, shmem, kernel;
	} memory;

	struct {
		bool present;
		size_t ndevs;
		struct io_dev_stat devs[SAMPLE_MAX_IO_DEVS];
		uint64_t rbytes, wbytes, rios, wios; /* totals over all devices */
	} io;

	struct {
		struct opt_u64 current, max;
	} pids;

	struct {
		bool cpu_present, memory_present, io_present;
		struct psi cpu, memory, io;
	} psi;

	struct {
		bool present;
		size_t nifs;
		struct net_if_stat ifs[SAMPLE_MAX_NET_IFS]; /* lo excluded from totals */
		uint64_t rx_bytes, rx_packets, rx_drops, tx_bytes, tx_packets, tx_drops;
	} net;
};

/*
 * Read everything once.  `prev` (may be NULL) gives the CPU usage percent.
 * A target whose cgroup vanished fails with errno ENOENT in err->errnum.
 * Network counters come from /proc/<t->pid>/net/dev (the target's netns);
 * absent when the target has no process.
 */
int sample_take(const struct target *t, const struct sample *prev, double t_rel,
		struct sample *out, struct duress_err *err);

/*
 * Pure parser of /proc/PID/net/dev text (header lines skipped).  Fills up
 * to max interfaces in ifs, lo included, and sets *n to the number found
 * (may exceed max).  total (may be NULL) gets the sums over every interface
 * but lo, those beyond max included.  Returns -1 (errno EINVAL) on a
 * malformed interface line.
 */
int net_dev_parse(const char *text, struct net_if_stat *ifs, size_t max, size_t *n,
		  struct net_if_stat *total);

/* ---- formatters (agent/samples/sample_format.c) ---- */

/* The nested JSON object of docs/samples.md (new reference). */
json_t *sample_to_json(const struct sample *s);

/* json_dump*() flags for samples: compact, and reals with 12 significant
 * digits so that 12.34 prints as 12.34, not 12.339999999999999. */
#define SAMPLE_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

enum sample_format {
	SAMPLE_FORMAT_JSONL,
	SAMPLE_FORMAT_CSV,
	SAMPLE_FORMAT_TABLE,
};

int sample_format_parse(const char *text, enum sample_format *out, struct duress_err *err);

struct sample_writer {
	enum sample_format format;
	FILE *out;
	bool header_done;       /* csv: header written */
	char **csv_columns;     /* csv: columns fixed by the first sample */
	size_t ncsv_columns;
	const char *title;      /* table: target description */
	struct sample prev;     /* table: for rates */
	bool have_prev;
};

void sample_writer_init(struct sample_writer *w, enum sample_format format, FILE *out,
			const char *title);
/* Write one sample; flushes so that `tail -f` and pipes see it at once. */
int sample_writer_write(struct sample_writer *w, const struct sample *s, struct duress_err *err);
void sample_writer_close(struct sample_writer *w);

/* Flatten a JSON object into dotted keys ("memory.events.oom_kill"). */
typedef void (*json_flat_cb)(const char *key, json_t *value, void *data);
void json_flatten(json_t *obj, json_flat_cb cb, void *data);

/* Pressure (PSI) by resource index: 0 cpu, 1 memory, 2 io, the order of
 * every PSI array (phase_stats, reports, /metrics). */
#define SAMPLE_PSI_N 3
extern const char *const sample_psi_names[SAMPLE_PSI_N];
/* The pressure of resource i in s, or NULL when the kernel gave none. */
const struct psi *sample_psi(const struct sample *s, int i);

/* A number from a sample's JSON (sample_to_json) by flattened key
 * ("psi.memory.full_avg10"); "max" is +infinity.  0, or -1 when absent. */
int sample_lookup(json_t *sample, const char *key, double *out);

#endif
