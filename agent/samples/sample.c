// SPDX-License-Identifier: MIT
/*
 * Usage samples: one read of each cgroup interface file of the target, and
 * of /proc/PID/net/dev for the counters of its network namespace.
 *
 * A file that does not exist (controller not enabled, older kernel, the
 * root cgroup) leaves its fields absent.  Files are read into a stack
 * buffer; one that fills it is read again whole (cg_read), so nothing is
 * parsed from a truncated copy.  The field list is docs/samples.md.
 */
#include <duress/samples/sample.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* memory.stat is ~1.5-2.5 KiB, io.stat ~100 bytes per device. */
#define SAMPLE_READ_BUF 8192

struct sample_reader {
	const char *dir;
	bool missing; /* a file was ENOENT: check that dir still exists */
	char *big;    /* whole copy of a file that filled buf */
	char buf[SAMPLE_READ_BUF];
};

static int target_gone(const char *dir, struct duress_err *err)
{
	struct stat st;

	if (stat(dir, &st) == 0)
		return 0;
	if (errno == ENOENT) {
		duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0, "target %s vanished", dir);
		err->errnum = ENOENT;
		return -1;
	}
	return duress_err_set(err, errno, "stat target %s", dir);
}

/* ENOENT: no such file; EOPNOTSUPP: PSI disabled (psi=0 on kernels < 6.1). */
static bool absent_errno(int e)
{
	return e == ENOENT || e == EOPNOTSUPP;
}

/*
 * Read dir/file.  Returns 1 with *text set, 0 if the file is absent, < 0
 * on error.  *text stays valid until the next call.
 */
static int sr_read(struct sample_reader *r, const char *dir, const char *file, const char **text,
		   struct duress_err *err)
{
	struct duress_err e = { 0 };
	int n;

	free(r->big);
	r->big = NULL;
	n = cg_read_buf(dir, file, r->buf, sizeof(r->buf), &e);
	if (n >= 0 && (size_t)n + 1 < sizeof(r->buf)) {
		*text = r->buf;
		return 1;
	}
	if (n >= 0 && cg_read(dir, file, &r->big, &e) >= 0) {
		*text = r->big;
		return 1;
	}
	if (absent_errno(e.errnum)) {
		if (dir == r->dir)
			r->missing = true;
		return 0;
	}
	/* A cgroup removed while its file was open reads as ENODEV. */
	if (dir == r->dir && target_gone(r->dir, err) < 0)
		return -1;
	*err = e;
	return -1;
}

static int bad_content(const char *dir, const char *file, const char *text, struct duress_err *err)
{
	size_t n = strcspn(text, "\n");

	return duress_err_set(err, EINVAL, "%s/%s: unexpected content '%.*s'", dir, file,
			      (int)(n < 40 ? n : 40), text);
}

/* A file holding one number or "max". */
static int read_u64(struct sample_reader *r, const char *file, struct opt_u64 *out,
		    struct duress_err *err)
{
	const char *text;
	int ret = sr_read(r, r->dir, file, &text, err);

	if (ret <= 0)
		return ret;
	if (cg_parse_u64(text, &out->v) < 0)
		return bad_content(r->dir, file, text, err);
	out->set = true;
	return 0;
}

struct keyed_field {
	const char *key;
	struct opt_u64 *out;
};

/* A flat keyed file; keys the kernel does not print stay absent. */
static int read_keyed(struct sample_reader *r, const char *file, const struct keyed_field *f,
		      size_t nf, struct duress_err *err)
{
	const char *text;
	int ret = sr_read(r, r->dir, file, &text, err);

	if (ret <= 0)
		return ret;
	for (size_t i = 0; i < nf; i++)
		if (cg_parse_keyed(text, f[i].key, &f[i].out->v) == 0)
			f[i].out->set = true;
	return 0;
}

/* cpu.max: "<quota> <period>" or "max <period>". */
static int read_cpu_max(struct sample_reader *r, struct sample *s, struct duress_err *err)
{
	char quota[32];
	unsigned long long period;
	const char *text;
	int ret = sr_read(r, r->dir, "cpu.max", &text, err);

	if (ret <= 0)
		return ret;
	if (sscanf(text, "%31s %llu", quota, &period) != 2 ||
	    cg_parse_u64(quota, &s->cpu.max_quota.v) < 0)
		return bad_content(r->dir, "cpu.max", text, err);
	s->cpu.max_quota.set = true;
	s->cpu.max_period.set = true;
	s->cpu.max_period.v = period;
	return 0;
}

static int read_io(struct sample_reader *r, struct sample *s, struct duress_err *err)
{
	cleanup_free struct io_dev_stat *all = NULL;
	const struct io_dev_stat *devs = s->io.devs;
	const char *text;
	size_t n = 0;
	int ret = sr_read(r, r->dir, "io.stat", &text, err);

	if (ret <= 0)
		return ret;
	cg_parse_io_stat(text, s->io.devs, SAMPLE_MAX_IO_DEVS, &n);
	if (n > SAMPLE_MAX_IO_DEVS) {
		/* Keep the first devices, but total them all. */
		size_t n2 = 0;

		all = calloc(n, sizeof(*all));
		if (!all)
			return duress_err_set(err, ENOMEM, "%s/io.stat: %zu devices", r->dir, n);
		cg_parse_io_stat(text, all, n, &n2);
		devs = all;
		s->io.ndevs = SAMPLE_MAX_IO_DEVS;
	} else {
		s->io.ndevs = n;
	}
	for (size_t i = 0; i < n; i++) {
		s->io.rbytes += devs[i].rbytes;
		s->io.wbytes += devs[i].wbytes;
		s->io.rios += devs[i].rios;
		s->io.wios += devs[i].wios;
	}
	s->io.present = true;
	return 0;
}

static int read_psi(struct sample_reader *r, const char *file, bool *present, struct psi *out,
		    struct duress_err *err)
{
	const char *text;
	int ret = sr_read(r, r->dir, file, &text, err);

	if (ret <= 0)
		return ret;
	if (cg_parse_pressure(text, out) < 0)
		return bad_content(r->dir, file, text, err);
	*present = true;
	return 0;
}

static int read_net(struct sample_reader *r, pid_t pid, struct sample *s, struct duress_err *err)
{
	struct duress_err e = { 0 };
	struct net_if_stat total;
	char dir[64];
	const char *text;
	size_t n = 0;
	int ret;

	snprintf(dir, sizeof(dir), "/proc/%d/net", (int)pid);
	ret = sr_read(r, dir, "dev", &text, &e);
	if (ret < 0 && e.errnum == ESRCH)
		return 0; /* the process exited since the last target refresh */
	if (ret < 0) {
		*err = e;
		return -1;
	}
	if (ret == 0)
		return 0;
	if (net_dev_parse(text, s->net.ifs, SAMPLE_MAX_NET_IFS, &n, &total) < 0)
		return bad_content(dir, "dev", text, err);
	s->net.nifs = n < SAMPLE_MAX_NET_IFS ? n : SAMPLE_MAX_NET_IFS;
	s->net.rx_bytes = total.rx_bytes;
	s->net.rx_packets = total.rx_packets;
	s->net.rx_drops = total.rx_drops;
	s->net.tx_bytes = total.tx_bytes;
	s->net.tx_packets = total.tx_packets;
	s->net.tx_drops = total.tx_drops;
	s->net.present = true;
	return 0;
}

static void usage_pct(const struct sample *prev, struct sample *s)
{
	uint64_t dns;

	if (!prev || !prev->cpu.usage_usec.set || !s->cpu.usage_usec.set)
		return;
	if (s->mono_ns <= prev->mono_ns || s->cpu.usage_usec.v < prev->cpu.usage_usec.v)
		return;
	dns = s->mono_ns - prev->mono_ns;
	s->cpu.usage_pct = (double)(s->cpu.usage_usec.v - prev->cpu.usage_usec.v) * 1000.0 /
			   (double)dns * 100.0;
	s->cpu.has_usage_pct = true;
}

static int read_all(struct sample_reader *r, const struct target *t, struct sample *s,
		    struct duress_err *err)
{
	const struct keyed_field cpu_stat[] = {
		{ "usage_usec", &s->cpu.usage_usec },
		{ "user_usec", &s->cpu.user_usec },
		{ "system_usec", &s->cpu.system_usec },
		{ "nr_periods", &s->cpu.nr_periods },
		{ "nr_throttled", &s->cpu.nr_throttled },
		{ "throttled_usec", &s->cpu.throttled_usec },
	};
	const struct keyed_field mem_events[] = {
		{ "low", &s->memory.ev_low },		{ "high", &s->memory.ev_high },
		{ "max", &s->memory.ev_max },		{ "oom", &s->memory.ev_oom },
		{ "oom_kill", &s->memory.ev_oom_kill },
	};
	const struct keyed_field mem_stat[] = {
		{ "anon", &s->memory.anon },
		{ "file", &s->memory.file },
		{ "shmem", &s->memory.shmem },
		{ "kernel", &s->memory.kernel },
	};
	const struct {
		const char *file;
		struct opt_u64 *out;
	} single[] = {
		{ "cpu.weight", &s->cpu.weight },
		{ "memory.current", &s->memory.current },
		{ "memory.peak", &s->memory.peak },
		{ "memory.max", &s->memory.max },
		{ "memory.high", &s->memory.high },
		{ "memory.low", &s->memory.low },
		{ "memory.min", &s->memory.min },
		{ "memory.swap.current", &s->memory.swap_current },
		{ "memory.swap.max", &s->memory.swap_max },
		{ "pids.current", &s->pids.current },
		{ "pids.max", &s->pids.max },
	};

	if (target_gone(t->dir, err) < 0)
		return -1;
	if (read_keyed(r, "cpu.stat", cpu_stat, DURESS_ARRAY_SIZE(cpu_stat), err) < 0 ||
	    read_cpu_max(r, s, err) < 0)
		return -1;
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(single); i++)
		if (read_u64(r, single[i].file, single[i].out, err) < 0)
			return -1;
	if (read_keyed(r, "memory.events", mem_events, DURESS_ARRAY_SIZE(mem_events), err) < 0 ||
	    read_keyed(r, "memory.stat", mem_stat, DURESS_ARRAY_SIZE(mem_stat), err) < 0 ||
	    read_io(r, s, err) < 0 ||
	    read_psi(r, "cpu.pressure", &s->psi.cpu_present, &s->psi.cpu, err) < 0 ||
	    read_psi(r, "memory.pressure", &s->psi.memory_present, &s->psi.memory, err) < 0 ||
	    read_psi(r, "io.pressure", &s->psi.io_present, &s->psi.io, err) < 0)
		return -1;
	/* Files that were missing may have gone with the whole directory. */
	if (r->missing && target_gone(t->dir, err) < 0)
		return -1;
	if (t->pid > 0 && read_net(r, t->pid, s, err) < 0)
		return -1;
	return 0;
}

int sample_take(const struct target *t, const struct sample *prev, double t_rel, struct sample *out,
		struct duress_err *err)
{
	struct sample_reader r = { .dir = t->dir };
	struct timespec mono;
	int ret;

	memset(out, 0, sizeof(*out));
	out->t = t_rel;
	clock_gettime(CLOCK_REALTIME, &out->ts);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	out->mono_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	ret = read_all(&r, t, out, err);
	free(r.big);
	if (ret < 0)
		return -1;
	usage_pct(prev, out);
	return 0;
}

/* ---- /proc/PID/net/dev ---- */

/*
 * Inter-|   Receive                                                |  Transmit
 *  face |bytes    packets errs drop fifo frame compressed multicast|bytes ...
 *     lo:  123456     789    0    0    0     0          0         0   123456 ...
 *
 * Names cannot hold ':' (dev_valid_name), and a long one may run into the
 * first number ("veth1234abcd:123456").
 */
#define NET_DEV_FIELDS 16

int net_dev_parse(const char *text, struct net_if_stat *ifs, size_t max, size_t *n,
		  struct net_if_stat *total)
{
	size_t count = 0;

	if (total)
		memset(total, 0, sizeof(*total));
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *colon = memchr(line, ':', (size_t)(end - line));
		const char *name = line, *p;
		uint64_t v[NET_DEV_FIELDS] = { 0 };
		struct net_if_stat st;
		size_t nlen, nv = 0;

		line = nl ? nl + 1 : NULL;
		if (!colon || memchr(name, '|', (size_t)(end - name)))
			continue; /* header */
		while (name < colon && isspace((unsigned char)*name))
			name++;
		nlen = (size_t)(colon - name);
		if (nlen == 0)
			goto bad;
		for (p = colon + 1; nv < NET_DEV_FIELDS;) {
			char *e;

			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p >= end)
				break;
			if (!isdigit((unsigned char)*p))
				goto bad;
			errno = 0;
			v[nv++] = strtoull(p, &e, 10);
			if (errno || e > end)
				goto bad;
			p = e;
		}
		/* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes
		 * packets errs drop fifo colls carrier compressed. */
		if (nv < 12)
			goto bad;
		memset(&st, 0, sizeof(st));
		if (nlen >= sizeof(st.name))
			nlen = sizeof(st.name) - 1;
		memcpy(st.name, name, nlen);
		st.rx_bytes = v[0];
		st.rx_packets = v[1];
		st.rx_errors = v[2];
		st.rx_drops = v[3];
		st.tx_bytes = v[8];
		st.tx_packets = v[9];
		st.tx_errors = v[10];
		st.tx_drops = v[11];
		if (count < max)
			ifs[count] = st;
		count++;
		if (total && strcmp(st.name, "lo")) {
			total->rx_bytes += st.rx_bytes;
			total->rx_packets += st.rx_packets;
			total->rx_errors += st.rx_errors;
			total->rx_drops += st.rx_drops;
			total->tx_bytes += st.tx_bytes;
			total->tx_packets += st.tx_packets;
			total->tx_errors += st.tx_errors;
			total->tx_drops += st.tx_drops;
		}
	}
	*n = count;
	return 0;
bad:
	*n = count;
	errno = EINVAL;
	return -1;
}

const char *const sample_psi_names[SAMPLE_PSI_N] = { "cpu", "memory", "io" };

const struct psi *sample_psi(const struct sample *s, int i)
{
	switch (i) {
	case 0:
		return s->psi.cpu_present ? &s->psi.cpu : NULL;
	case 1:
		return s->psi.memory_present ? &s->psi.memory : NULL;
	case 2:
		return s->psi.io_present ? &s->psi.io : NULL;
	}
	return NULL;
}
