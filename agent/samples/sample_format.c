// SPDX-License-Identifier: MIT
/*
 * Sample output: the nested JSON object of docs/samples.md, and the three
 * writers built on it (JSONL, CSV, a live table for terminals).
 */
#include <duress/samples/sample_format.h>
#include <duress/samples/sample.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/core/timing.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- JSON ---- */

static json_t *u64_json(uint64_t v)
{
	if (v == CG_MAX)
		return json_string("max");
	if (v > (uint64_t)INT64_MAX)
		return json_real((double)v);
	return json_integer((json_int_t)v);
}

static void put_u64(json_t *obj, const char *key, uint64_t v)
{
	json_object_set_new(obj, key, u64_json(v));
}

static void put_opt(json_t *obj, const char *key, const struct opt_u64 *v)
{
	if (v->set)
		put_u64(obj, key, v->v);
}

/* Attach child under key, or drop it when it has no fields. */
static void put_obj(json_t *parent, const char *key, json_t *child)
{
	if (child && json_object_size(child) > 0)
		json_object_set_new(parent, key, child);
	else
		json_decref(child);
}

static double round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

/* RFC 3339, UTC, milliseconds: "2026-11-26T21:50:49.123Z". */
static void format_ts(const struct timespec *ts, char *buf, size_t len)
{
	time_t sec = ts->tv_sec;
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", (long)(ts->tv_nsec / 1000000));
}

static json_t *cpu_json(const struct sample *s)
{
	json_t *o = json_object(), *max = json_object();

	if (s->cpu.has_usage_pct)
		json_object_set_new(o, "usage_pct", json_real(round_to(s->cpu.usage_pct, 0.01)));
	put_opt(o, "usage_usec", &s->cpu.usage_usec);
	put_opt(o, "user_usec", &s->cpu.user_usec);
	put_opt(o, "system_usec", &s->cpu.system_usec);
	put_opt(o, "nr_periods", &s->cpu.nr_periods);
	put_opt(o, "nr_throttled", &s->cpu.nr_throttled);
	put_opt(o, "throttled_usec", &s->cpu.throttled_usec);
	put_opt(max, "quota", &s->cpu.max_quota);
	put_opt(max, "period", &s->cpu.max_period);
	put_obj(o, "max", max);
	put_opt(o, "weight", &s->cpu.weight);
	return o;
}

static json_t *memory_json(const struct sample *s)
{
	json_t *o = json_object(), *ev = json_object(), *st = json_object();

	put_opt(o, "current", &s->memory.current);
	put_opt(o, "peak", &s->memory.peak);
	put_opt(o, "max", &s->memory.max);
	put_opt(o, "high", &s->memory.high);
	put_opt(o, "low", &s->memory.low);
	put_opt(o, "min", &s->memory.min);
	put_opt(o, "swap_current", &s->memory.swap_current);
	put_opt(o, "swap_max", &s->memory.swap_max);
	put_opt(ev, "low", &s->memory.ev_low);
	put_opt(ev, "high", &s->memory.ev_high);
	put_opt(ev, "max", &s->memory.ev_max);
	put_opt(ev, "oom", &s->memory.ev_oom);
	put_opt(ev, "oom_kill", &s->memory.ev_oom_kill);
	put_obj(o, "events", ev);
	put_opt(st, "anon", &s->memory.anon);
	put_opt(st, "file", &s->memory.file);
	put_opt(st, "shmem", &s->memory.shmem);
	put_opt(st, "kernel", &s->memory.kernel);
	put_obj(o, "stat", st);
	return o;
}

static json_t *io_json(const struct sample *s)
{
	json_t *o = json_object(), *devs = json_object();

	if (!s->io.present)
		goto out;
	put_u64(o, "rbytes", s->io.rbytes);
	put_u64(o, "wbytes", s->io.wbytes);
	put_u64(o, "rios", s->io.rios);
	put_u64(o, "wios", s->io.wios);
	for (size_t i = 0; i < s->io.ndevs && i < SAMPLE_MAX_IO_DEVS; i++) {
		const struct io_dev_stat *d = &s->io.devs[i];
		json_t *dj = json_object();
		char name[32];

		snprintf(name, sizeof(name), "%u:%u", d->major, d->minor);
		put_u64(dj, "rbytes", d->rbytes);
		put_u64(dj, "wbytes", d->wbytes);
		put_u64(dj, "rios", d->rios);
		put_u64(dj, "wios", d->wios);
		put_u64(dj, "dbytes", d->dbytes);
		put_u64(dj, "dios", d->dios);
		put_obj(devs, name, dj);
	}
out:
	put_obj(o, "devices", devs);
	return o;
}

static void psi_line_json(json_t *o, const char *kind, const struct psi_line *l)
{
	char key[32];

	if (!l->present)
		return;
	snprintf(key, sizeof(key), "%s_avg10", kind);
	json_object_set_new(o, key, json_real(l->avg10));
	snprintf(key, sizeof(key), "%s_avg60", kind);
	json_object_set_new(o, key, json_real(l->avg60));
	snprintf(key, sizeof(key), "%s_avg300", kind);
	json_object_set_new(o, key, json_real(l->avg300));
	snprintf(key, sizeof(key), "%s_total", kind);
	put_u64(o, key, l->total);
}

static json_t *psi_json(bool present, const struct psi *p)
{
	json_t *o = json_object();

	if (present) {
		psi_line_json(o, "some", &p->some);
		psi_line_json(o, "full", &p->full);
	}
	return o;
}

static json_t *net_json(const struct sample *s)
{
	json_t *o = json_object(), *ifs = json_object();

	if (!s->net.present)
		goto out;
	put_u64(o, "rx_bytes", s->net.rx_bytes);
	put_u64(o, "rx_packets", s->net.rx_packets);
	put_u64(o, "rx_drops", s->net.rx_drops);
	put_u64(o, "tx_bytes", s->net.tx_bytes);
	put_u64(o, "tx_packets", s->net.tx_packets);
	put_u64(o, "tx_drops", s->net.tx_drops);
	for (size_t i = 0; i < s->net.nifs && i < SAMPLE_MAX_NET_IFS; i++) {
		const struct net_if_stat *n = &s->net.ifs[i];
		json_t *ij = json_object();

		put_u64(ij, "rx_bytes", n->rx_bytes);
		put_u64(ij, "rx_packets", n->rx_packets);
		put_u64(ij, "rx_drops", n->rx_drops);
		put_u64(ij, "rx_errors", n->rx_errors);
		put_u64(ij, "tx_bytes", n->tx_bytes);
		put_u64(ij, "tx_packets", n->tx_packets);
		put_u64(ij, "tx_drops", n->tx_drops);
		put_u64(ij, "tx_errors", n->tx_errors);
		put_obj(ifs, n->name, ij);
	}
out:
	put_obj(o, "interfaces", ifs);
	return o;
}

json_t *sample_to_json(const struct sample *s)
{
	json_t *o = json_object(), *psi;
	char ts[48];

	if (!o)
		return NULL;
	format_ts(&s->ts, ts, sizeof(ts));
	json_object_set_new(o, "t", json_real(round_to(s->t, 0.001)));
	json_object_set_new(o, "ts", json_string(ts));
	if (s->phase)
		json_object_set_new(o, "phase", json_string(s->phase));
	put_obj(o, "cpu", cpu_json(s));
	put_obj(o, "memory", memory_json(s));
	put_obj(o, "io", io_json(s));
	psi = json_object();
	put_obj(psi, "cpu", psi_json(s->psi.cpu_present, &s->psi.cpu));
	put_obj(psi, "memory", psi_json(s->psi.memory_present, &s->psi.memory));
	put_obj(psi, "io", psi_json(s->psi.io_present, &s->psi.io));
	{
		json_t *pids = json_object();

		put_opt(pids, "current", &s->pids.current);
		put_opt(pids, "max", &s->pids.max);
		put_obj(o, "pids", pids);
	}
	put_obj(o, "psi", psi);
	put_obj(o, "net", net_json(s));
	return o;
}

static void flatten(json_t *obj, char *key, size_t len, size_t cap, sample_flat_cb cb, void *data)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		int n = snprintf(key + len, cap - len, "%s%s", len ? "." : "", k);

		if (n < 0 || (size_t)n >= cap - len)
			continue; /* deeper than any key of the schema */
		if (json_is_object(v))
			flatten(v, key, len + n, cap, cb, data);
		else
			cb(key, v, data);
	}
	key[len] = '\0';
}

void sample_json_flatten(json_t *obj, sample_flat_cb cb, void *data)
{
	char key[512] = "";

	if (json_is_object(obj))
		flatten(obj, key, 0, sizeof(key), cb, data);
}

/* ---- writers ---- */

int sample_format_parse(const char *text, enum sample_format *out, struct duress_err *err)
{
	static const struct {
		const char *name;
		enum sample_format format;
	} formats[] = {
		{ "jsonl", SAMPLE_FORMAT_JSONL },
		{ "csv", SAMPLE_FORMAT_CSV },
		{ "table", SAMPLE_FORMAT_TABLE },
	};

	for (size_t i = 0; text && i < DURESS_ARRAY_SIZE(formats); i++) {
		if (!strcmp(text, formats[i].name)) {
			*out = formats[i].format;
			return 0;
		}
	}
	return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
			       "unknown output format '%s' (expected jsonl, csv or table)",
			       text ? text : "");
}

static bool env_utf8(void)
{
	const char *vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(vars); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
	}
	return false;
}

void sample_writer_init(struct sample_writer *w, enum sample_format format, FILE *out,
			const char *title)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");
	struct winsize ws;

	memset(w, 0, sizeof(*w));
	w->format = format;
	w->out = out;
	w->title = title;
	w->cols = 80;
	w->rows = 24;
	if (out && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		w->cols = ws.ws_col;
		w->rows = ws.ws_row;
	}
	/* no TERM at all (a cron job, a CI runner) keeps the ANSI view asked for */
	w->dumb = term && !strcmp(term, "dumb");
	w->color = !w->dumb && !(nc && *nc);
	w->utf8 = env_utf8();
}

void sample_writer_close(struct sample_writer *w)
{
	for (size_t i = 0; i < w->ncsv_columns; i++)
		free(w->csv_columns[i]);
	free(w->csv_columns);
	w->csv_columns = NULL;
	w->ncsv_columns = 0;
	w->header_done = false;
	w->have_prev = false;
}

static const char *format_name(enum sample_format f)
{
	switch (f) {
	case SAMPLE_FORMAT_JSONL:
		return "jsonl";
	case SAMPLE_FORMAT_CSV:
		return "csv";
	case SAMPLE_FORMAT_TABLE:
		return "table";
	}
	return "?";
}

int sample_jsonl_write(FILE *out, json_t *j, struct duress_err *err)
{
	if (json_dumpf(j, out, SAMPLE_JSON_FLAGS) < 0)
		return duress_err_set(err, errno ? errno : EIO, "write jsonl sample");
	fputc('\n', out);
	return 0;
}

static int write_jsonl(struct sample_writer *w, const struct sample *s, struct duress_err *err)
{
	json_t *j = sample_to_json(s);
	int ret;

	if (!j)
		return duress_err_set(err, ENOMEM, "format sample as JSON");
	ret = sample_jsonl_write(w->out, j, err);
	json_decref(j);
	return ret;
}

/*
 * CSV: the columns are the flattened keys of the first sample, fixed for
 * the whole stream.  A later sample leaves an empty cell where it lacks a
 * value, and a key that only appears later (a new io device or interface)
 * is dropped: CSV cannot grow columns after the header.
 */
struct csv_keys {
	char **keys;
	size_t n, cap;
	bool failed;
};

static void collect_key(const char *key, json_t *value, void *data)
{
	struct csv_keys *c = data;

	if (c->failed)
		return;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		char **nk = realloc(c->keys, ncap * sizeof(*nk));

		if (!nk) {
			c->failed = true;
			return;
		}
		c->keys = nk;
		c->cap = ncap;
	}
	c->keys[c->n] = strdup(key);
	if (!c->keys[c->n]) {
		c->failed = true;
		return;
	}
	c->n++;
}

static void collect_value(const char *key, json_t *value, void *data)
{
	json_object_set(data, key, value);
}

/* RFC 4180: quote a field holding a comma, a quote or a line break. */
static void csv_text(FILE *f, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_value(FILE *f, json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(f, "%.12g", json_real_value(v));
		break;
	case JSON_STRING:
		csv_text(f, json_string_value(v));
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	default:
		break;
	}
}

static int csv_header(struct sample_writer *w, json_t *j, struct duress_err *err)
{
	struct csv_keys c = { 0 };

	sample_json_flatten(j, collect_key, &c);
	if (c.failed) {
		for (size_t i = 0; i < c.n; i++)
			free(c.keys[i]);
		free(c.keys);
		return duress_err_set(err, ENOMEM, "csv header");
	}
	w->csv_columns = c.keys;
	w->ncsv_columns = c.n;
	for (size_t i = 0; i < c.n; i++) {
		if (i)
			fputc(',', w->out);
		csv_text(w->out, c.keys[i]);
	}
	fputc('\n', w->out);
	w->header_done = true;
	return 0;
}

static int write_csv(struct sample_writer *w, const struct sample *s, struct duress_err *err)
{
	json_t *j = sample_to_json(s), *flat = json_object();
	int ret = -1;

	if (!j || !flat) {
		duress_err_set(err, ENOMEM, "format sample as CSV");
		goto out;
	}
	if (!w->header_done && csv_header(w, j, err) < 0)
		goto out;
	sample_json_flatten(j, collect_value, flat);
	for (size_t i = 0; i < w->ncsv_columns; i++) {
		json_t *v = json_object_get(flat, w->csv_columns[i]);

		if (i)
			fputc(',', w->out);
		if (v)
			csv_value(w->out, v);
	}
	fputc('\n', w->out);
	ret = 0;
out:
	json_decref(flat);
	json_decref(j);
	return ret;
}

/* ---- table ---- */

#define TABLE_COLS 80

struct screen {
	char buf[8192];
	size_t len;
	int cols;
	bool color;
};

/* Append one line, cut to sc->cols display columns (a UTF-8 character is
 * one; colour escapes none, and a cut line still resets the colour). */
static void __attribute__((format(printf, 2, 3))) line(struct screen *sc, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n, cols = 0, cut;
	bool esc = false;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	while (n > 0 && tmp[n - 1] == ' ')
		n--;
	for (cut = 0; cut < n; cut++) {
		unsigned char ch = (unsigned char)tmp[cut];

		if (ch == 0x1b)
			esc = true;
		if (esc) {
			esc = ch != 'm';
			continue;
		}
		if ((ch & 0xc0) == 0x80)
			continue;
		if (cols == sc->cols)
			break;
		cols++;
	}
	if (sc->len + (size_t)cut + 8 >= sizeof(sc->buf))
		return;
	memcpy(sc->buf + sc->len, tmp, (size_t)cut);
	sc->len += (size_t)cut;
	if (cut < n && sc->color) {
		memcpy(sc->buf + sc->len, "\033[0m", 4);
		sc->len += 4;
	}
	sc->buf[sc->len++] = '\n';
}

struct field {
	char s[32];
};

/* Human size, "max" or "-" (absent). */
static const char *hsize(const struct opt_u64 *v, struct field *f)
{
	if (!v->set)
		return "-";
	if (v->v == CG_MAX)
		return "max";
	return format_size(v->v, f->s, sizeof(f->s));
}

static const char *hnum(const struct opt_u64 *v, struct field *f)
{
	if (!v->set)
		return "-";
	if (v->v == CG_MAX)
		return "max";
	snprintf(f->s, sizeof(f->s), "%" PRIu64, v->v);
	return f->s;
}

/* Bytes per second from the previous sample, or "-". */
static const char *hrate(const struct sample_writer *w, const struct sample *s, bool present,
			 bool prev_present, uint64_t cur, uint64_t prev, struct field *f)
{
	char sz[24];
	double dt;

	if (!present || !w->have_prev || !prev_present || cur < prev ||
	    s->mono_ns <= w->prev.mono_ns)
		return "-";
	dt = (double)(s->mono_ns - w->prev.mono_ns) / 1e9;
	format_size((uint64_t)llround((double)(cur - prev) / dt), sz, sizeof(sz));
	snprintf(f->s, sizeof(f->s), "%s/s", sz);
	return f->s;
}

static void table_cpu(struct screen *sc, const struct sample *s)
{
	struct field a, b, c;
	char pct[32] = "-", limit[384] = "-", thr[32] = "-";

	if (s->cpu.has_usage_pct)
		snprintf(pct, sizeof(pct), "%.1f%%", s->cpu.usage_pct);
	if (s->cpu.max_quota.set && s->cpu.max_quota.v == CG_MAX)
		snprintf(limit, sizeof(limit), "none");
	else if (s->cpu.max_quota.set && s->cpu.max_period.v)
		snprintf(limit, sizeof(limit), "%.1f%% (%" PRIu64 "/%" PRIu64 " us)",
			 (double)s->cpu.max_quota.v * 100.0 / (double)s->cpu.max_period.v,
			 s->cpu.max_quota.v, s->cpu.max_period.v);
	line(sc, "CPU      %6s of one CPU   limit %-26s weight %s", pct, limit,
	     hnum(&s->cpu.weight, &a));
	if (s->cpu.throttled_usec.set)
		format_duration(s->cpu.throttled_usec.v / 1000 * 1000, thr, sizeof(thr));
	line(sc, "         throttled %s of %s periods, %s in all", hnum(&s->cpu.nr_throttled, &b),
	     hnum(&s->cpu.nr_periods, &c), thr);
}

static void table_memory(struct screen *sc, const struct sample *s)
{
	struct field a, b, c, d, e;
	char pct[16] = "";
	const struct opt_u64 *cur = &s->memory.current, *max = &s->memory.max;

	if (cur->set && max->set && max->v != CG_MAX && max->v)
		snprintf(pct, sizeof(pct), " (%.0f%%)", (double)cur->v * 100.0 / (double)max->v);
	line(sc, "MEMORY   current %s / max %s%s   peak %s", hsize(cur, &a), hsize(max, &b), pct,
	     hsize(&s->memory.peak, &c));
	line(sc, "         high %s   low %s   min %s   swap %s / %s", hsize(&s->memory.high, &a),
	     hsize(&s->memory.low, &b), hsize(&s->memory.min, &c),
	     hsize(&s->memory.swap_current, &d), hsize(&s->memory.swap_max, &e));
	line(sc, "         events: low %s  high %s  max %s  oom %s  oom_kill %s",
	     hnum(&s->memory.ev_low, &a), hnum(&s->memory.ev_high, &b), hnum(&s->memory.ev_max, &c),
	     hnum(&s->memory.ev_oom, &d), hnum(&s->memory.ev_oom_kill, &e));
	line(sc, "         anon %s   file %s   shmem %s   kernel %s", hsize(&s->memory.anon, &a),
	     hsize(&s->memory.file, &b), hsize(&s->memory.shmem, &c), hsize(&s->memory.kernel, &d));
}

static void table_io(struct screen *sc, const struct sample_writer *w, const struct sample *s)
{
	struct field a, b;
	bool p = s->io.present, pp = w->prev.io.present;

	if (!p) {
		line(sc, "IO       -");
		return;
	}
	line(sc, "IO       read  %-12s total %s, %" PRIu64 " ops",
	     hrate(w, s, p, pp, s->io.rbytes, w->prev.io.rbytes, &a),
	     hsize(&(struct opt_u64){ true, s->io.rbytes }, &b), s->io.rios);
	line(sc, "         write %-12s total %s, %" PRIu64 " ops",
	     hrate(w, s, p, pp, s->io.wbytes, w->prev.io.wbytes, &a),
	     hsize(&(struct opt_u64){ true, s->io.wbytes }, &b), s->io.wios);
}

static void psi_cell(char *buf, size_t len, bool present, const struct psi_line *l)
{
	if (present && l->present)
		snprintf(buf, len, "%.2f%%", l->avg10);
	else
		snprintf(buf, len, "-");
}

static void table_psi(struct screen *sc, const struct sample *s)
{
	const struct {
		const char *name;
		bool present;
		const struct psi *p;
	} res[] = {
		{ "cpu", s->psi.cpu_present, &s->psi.cpu },
		{ "memory", s->psi.memory_present, &s->psi.memory },
		{ "io", s->psi.io_present, &s->psi.io },
	};

	line(sc, "PSI      %-8s %8s   %8s", "avg10", "some", "full");
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(res); i++) {
		char some[16], full[16];

		psi_cell(some, sizeof(some), res[i].present, &res[i].p->some);
		psi_cell(full, sizeof(full), res[i].present, &res[i].p->full);
		line(sc, "         %-8s %8s   %8s", res[i].name, some, full);
	}
}

static void table_net(struct screen *sc, const struct sample_writer *w, const struct sample *s)
{
	struct field a, b;
	bool p = s->net.present, pp = w->prev.net.present;

	if (!p) {
		line(sc, "NET      -");
		return;
	}
	line(sc, "NET      rx %-12s total %s, %" PRIu64 " packets, %" PRIu64 " drops",
	     hrate(w, s, p, pp, s->net.rx_bytes, w->prev.net.rx_bytes, &a),
	     hsize(&(struct opt_u64){ true, s->net.rx_bytes }, &b), s->net.rx_packets,
	     s->net.rx_drops);
	line(sc, "         tx %-12s total %s, %" PRIu64 " packets, %" PRIu64 " drops",
	     hrate(w, s, p, pp, s->net.tx_bytes, w->prev.net.tx_bytes, &a),
	     hsize(&(struct opt_u64){ true, s->net.tx_bytes }, &b), s->net.tx_packets,
	     s->net.tx_drops);
}

/* per-second rate of a counter since the previous sample, or NAN */
static double rate_of(const struct sample_writer *w, const struct sample *s, bool present,
		      uint64_t cur, uint64_t prev)
{
	if (!present || !w->have_prev || cur < prev || s->mono_ns <= w->prev.mono_ns)
		return NAN;
	return (double)(cur - prev) / ((double)(s->mono_ns - w->prev.mono_ns) / 1e9);
}

static void hist_push(struct sample_writer *w, const struct sample *s)
{
	double v[SAMPLE_HIST_N] = { NAN, NAN, NAN, NAN, NAN };

	if (s->cpu.has_usage_pct)
		v[0] = s->cpu.usage_pct;
	if (s->memory.current.set)
		v[1] = (double)s->memory.current.v;
	v[2] = rate_of(w, s, s->io.present && w->prev.io.present, s->io.rbytes + s->io.wbytes,
		       w->prev.io.rbytes + w->prev.io.wbytes);
	for (int k = 0; k < SAMPLE_PSI_N; k++) {
		const struct psi *p = sample_psi(s, k);

		if (p && p->some.present && !(v[3] >= p->some.avg10))
			v[3] = p->some.avg10;
	}
	v[4] = rate_of(w, s, s->net.present && w->prev.net.present,
		       s->net.rx_drops + s->net.tx_drops,
		       w->prev.net.rx_drops + w->prev.net.tx_drops);
	if (w->nhist == SAMPLE_HIST) {
		for (int k = 0; k < SAMPLE_HIST_N; k++)
			memmove(w->hist[k], w->hist[k] + 1, (SAMPLE_HIST - 1) * sizeof(double));
		w->nhist--;
	}
	for (int k = 0; k < SAMPLE_HIST_N; k++)
		w->hist[k][w->nhist] = v[k];
	w->nhist++;
}

/* A sparkline of the last `width` of the n values v, scaled to top (> 0);
 * a NAN value is `gap`. */
static void spark_of(const double *v, size_t nv, int width, double top, bool utf8, char gap,
		     char *out, size_t len)
{
	static const char *const blocks[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.-:=+*#";
	size_t n = nv < (size_t)width ? nv : (size_t)width, o = 0;

	out[0] = '\0';
	for (size_t i = nv - n; i < nv && o + 4 < len; i++) {
		int lvl = isfinite(v[i]) ? (int)fmin(7, fmax(0, v[i] / top * 7.999)) : -1;

		if (lvl < 0)
			out[o++] = gap;
		else if (utf8)
			o += (size_t)snprintf(out + o, len - o, "%s", blocks[lvl]);
		else
			out[o++] = ascii[lvl];
	}
	/* padded to `width` columns here: printf pads by bytes, and a block
	 * character is three */
	for (size_t i = n; i < (size_t)width && o + 1 < len; i++)
		out[o++] = ' ';
	out[o] = '\0';
}

static void spark(const struct sample_writer *w, int k, int width, double top, char *out,
		  size_t len)
{
	spark_of(w->hist[k], w->nhist, width, top, w->utf8, ' ', out, len);
}

static double hist_max(const struct sample_writer *w, int k)
{
	double m = 0;

	for (size_t i = 0; i < w->nhist; i++)
		if (isfinite(w->hist[k][i]) && w->hist[k][i] > m)
			m = w->hist[k][i];
	return m;
}

/* "\033[31m" when used is at least 90% of limit, yellow from 75% */
static const char *level_color(const struct sample_writer *w, double used, double limit)
{
	if (!w->color || !(limit > 0) || !isfinite(used))
		return "";
	return used >= 0.9 * limit ? "\033[31m" : used >= 0.75 * limit ? "\033[33m" : "";
}

/* The history block (6 lines) is drawn on a window of 24 rows or more
 * and 54 columns or more; else the numbers only. */
static bool history_fits(const struct sample_writer *w, const struct screen *sc)
{
	return sc->cols - 44 >= 10 && w->rows >= 24 && w->nhist > 0;
}

static void table_history(struct screen *sc, const struct sample_writer *w, const struct sample *s)
{
	int width = sc->cols - 44;
	char sp[SAMPLE_HIST * 4 + 8], val[64], sz[32], sz2[32];
	const char *col, *end;
	double lim, top;

	if (!history_fits(w, sc))
		return; /* narrow or short: the numbers above only */
	if (width > SAMPLE_HIST)
		width = SAMPLE_HIST;
	line(sc, "HISTORY  last %d samples, newest right", width);
	/* cpu against cpu.max */
	lim = s->cpu.max_quota.set && s->cpu.max_quota.v != CG_MAX && s->cpu.max_period.v
		      ? (double)s->cpu.max_quota.v * 100.0 / (double)s->cpu.max_period.v
		      : NAN;
	top = fmax(hist_max(w, 0), isfinite(lim) ? lim : 100);
	spark(w, 0, width, top, sp, sizeof(sp));
	col = level_color(w, w->hist[0][w->nhist - 1], lim);
	end = *col ? "\033[0m" : "";
	if (isfinite(lim))
		snprintf(val, sizeof(val), "%s%.0f%% of %.0f%%%s", col, w->hist[0][w->nhist - 1],
			 lim, end);
	else if (isfinite(w->hist[0][w->nhist - 1]))
		snprintf(val, sizeof(val), "%.0f%%, no limit", w->hist[0][w->nhist - 1]);
	else
		snprintf(val, sizeof(val), "-");
	line(sc, "  cpu    %-*s  %s", width, sp, val);
	/* memory against max (or high) */
	lim = s->memory.max.set && s->memory.max.v != CG_MAX	 ? (double)s->memory.max.v
	      : s->memory.high.set && s->memory.high.v != CG_MAX ? (double)s->memory.high.v
								 : NAN;
	top = fmax(hist_max(w, 1), isfinite(lim) ? lim : 0);
	spark(w, 1, width, top > 0 ? top : 1, sp, sizeof(sp));
	col = level_color(w, w->hist[1][w->nhist - 1], lim);
	end = *col ? "\033[0m" : "";
	if (isfinite(w->hist[1][w->nhist - 1]) && isfinite(lim))
		snprintf(val, sizeof(val), "%s%s of %s %s%s", col,
			 format_size((uint64_t)w->hist[1][w->nhist - 1], sz, sizeof(sz)),
			 s->memory.max.set && s->memory.max.v != CG_MAX ? "max" : "high",
			 format_size((uint64_t)lim, sz2, sizeof(sz2)), end);
	else if (isfinite(w->hist[1][w->nhist - 1]))
		snprintf(val, sizeof(val), "%s, no limit",
			 format_size((uint64_t)w->hist[1][w->nhist - 1], sz, sizeof(sz)));
	else
		snprintf(val, sizeof(val), "-");
	line(sc, "  memory %-*s  %s", width, sp, val);
	/* io, pressure, drops: scaled to their own peak */
	spark(w, 2, width, fmax(hist_max(w, 2), 1), sp, sizeof(sp));
	if (isfinite(w->hist[2][w->nhist - 1]))
		snprintf(val, sizeof(val), "%s/s",
			 format_size((uint64_t)w->hist[2][w->nhist - 1], sz, sizeof(sz)));
	else
		snprintf(val, sizeof(val), "-");
	line(sc, "  io     %-*s  %s", width, sp, val);
	spark(w, 3, width, fmax(hist_max(w, 3), 1), sp, sizeof(sp));
	snprintf(val, sizeof(val), isfinite(w->hist[3][w->nhist - 1]) ? "%.1f%% some avg10" : "-",
		 w->hist[3][w->nhist - 1]);
	line(sc, "  psi    %-*s  %s", width, sp, val);
	spark(w, 4, width, fmax(hist_max(w, 4), 1), sp, sizeof(sp));
	snprintf(val, sizeof(val), isfinite(w->hist[4][w->nhist - 1]) ? "%.0f drops/s" : "-",
		 w->hist[4][w->nhist - 1]);
	line(sc, "  net    %-*s  %s", width, sp, val);
}

/* TERM=dumb: one plain line per sample, scrolling */
static int write_dumb(struct sample_writer *w, const struct sample *s)
{
	struct screen sc = { .len = 0, .cols = w->cols > 0 ? w->cols : 80 };
	struct field a, b;
	const char *phase = w->status && w->status->phase ? w->status->phase
			    : s->phase			  ? s->phase
							  : w->phase;
	char cpu[24] = "-", psi[24] = "-";

	if (s->cpu.has_usage_pct)
		snprintf(cpu, sizeof(cpu), "%.1f%%", s->cpu.usage_pct);
	if (isfinite(w->hist[3][w->nhist - 1]))
		snprintf(psi, sizeof(psi), "%.1f%%", w->hist[3][w->nhist - 1]);
	line(&sc, "%7.1fs %s cpu %s mem %s max %s psi %s", s->t, phase ? phase : "-", cpu,
	     hsize(&s->memory.current, &a), hsize(&s->memory.max, &b), psi);
	fwrite(sc.buf, 1, sc.len, w->out);
	return 0;
}

/* "duress  <title> <right>" in the width; a long title ends in "..." */
static void title_line(struct screen *sc, const struct sample_writer *w, double t,
		       const char *phase, double ends)
{
	char elapsed[32], right[96], title[512], dashes[512];
	int room, wide;

	wide = sc->cols < (int)sizeof(title) - 1 ? sc->cols : (int)sizeof(title) - 1;
	format_duration((uint64_t)(t > 0 ? t : 0) * 1000000, elapsed, sizeof(elapsed));
	if (phase && ends > t)
		snprintf(right, sizeof(right), "%s %.1fs left  elapsed %s", phase, ends - t,
			 elapsed);
	else if (phase)
		snprintf(right, sizeof(right), "%s  elapsed %s", phase, elapsed);
	else
		snprintf(right, sizeof(right), "elapsed %s", elapsed);
	room = wide - 8 - 1 - (int)strlen(right);
	if (room < 4)
		room = 4;
	snprintf(title, sizeof(title), "%s", w->title ? w->title : "");
	if ((int)strlen(title) > room)
		snprintf(title + room - 3, sizeof(title) - (size_t)(room - 3), "...");
	line(sc, "duress  %-*s %s", room, title, right);
	memset(dashes, '-', (size_t)wide);
	dashes[wide] = '\0';
	line(sc, "%s", dashes);
}

/* in place: home, each line over the last one (erased to its end), then
 * the rest of the screen erased; never the whole screen, which terminals
 * (tmux's scroll-on-clear) may push into their history */
static void emit(struct sample_writer *w, const struct screen *sc)
{
	fputs("\033[H", w->out);
	for (const char *p = sc->buf, *nl; p < sc->buf + sc->len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(sc->buf + sc->len - p));
		if (!nl)
			break;
		fwrite(p, 1, (size_t)(nl - p), w->out);
		fputs("\033[K\n", w->out);
	}
	fputs("\033[J", w->out);
	w->drawn_at = timing_now();
}

/* ---- the live view of an experiment (duress run) ---- */

static const char *const run_phases[][2] = {
	{ "baseline", "baseline" },   { "steady state before", "before" },
	{ "method", "method" },	      { "rollback", "rollback" },
	{ "recovering", "recovery" }, { "steady state after", "after" },
};

/* PHASE    baseline > before > [METHOD] > rollback > recovery > after */
static void run_phase_line(struct screen *sc, const struct live_status *st)
{
	char buf[256];
	size_t o = 0;

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(run_phases) && o < sizeof(buf); i++) {
		bool cur = st->phase && !strcmp(st->phase, run_phases[i][0]);
		char name[16];

		snprintf(name, sizeof(name), "%s", run_phases[i][1]);
		for (char *c = name; cur && *c; c++)
			*c = (char)(*c - ('a' <= *c && *c <= 'z' ? 'a' - 'A' : 0));
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s%s%s", i ? " > " : "",
				      cur ? "[" : "", name, cur ? "]" : "");
	}
	if (st->phase && !strcmp(st->phase, "done") && o < sizeof(buf))
		snprintf(buf + o, sizeof(buf) - o, "  (done)");
	line(sc, "PHASE    %s", buf);
}

static void run_actions(struct screen *sc, const struct sample_writer *w,
			const struct live_status *st, int room)
{
	bool show[LIVE_MAX_ACTIONS] = { false };
	size_t n = 0, cap;
	bool first = true;

	if (!st->nactions || room <= 0)
		return;
	cap = st->nactions <= (size_t)room ? st->nactions : (size_t)(room > 1 ? room - 1 : 1);
	/* those in force first, then those to come, then those done */
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < st->nactions && n < cap; i++) {
			enum live_state ls = st->actions[i].state;

			if (!show[i] && (pass == 2 || (pass == 0 && ls == LIVE_ON) ||
					 (pass == 1 && ls == LIVE_PENDING))) {
				show[i] = true;
				n++;
			}
		}
	for (size_t i = 0; i < st->nactions; i++) {
		const struct live_action *a = &st->actions[i];
		char label[80], state[64];
		const char *col = "", *end = "";

		if (!show[i])
			continue;
		snprintf(label, sizeof(label), "%s '%s'", a->kind, a->name);
		if (strlen(label) > 30)
			snprintf(label + 26, sizeof(label) - 26, "...'");
		switch (a->state) {
		case LIVE_PENDING:
			snprintf(state, sizeof(state), "to come");
			break;
		case LIVE_ON:
			if (a->ends > 0) /* ending: 0.0 until the next tick ends it */
				snprintf(state, sizeof(state), "IN FORCE %5.1fs left%s",
					 fmax(0, a->ends - st->now),
					 a->background ? "  background" : "");
			else
				snprintf(state, sizeof(state), "IN FORCE");
			col = w->color ? "\033[33m" : "";
			break;
		case LIVE_DONE:
			snprintf(state, sizeof(state), "done");
			break;
		case LIVE_FAILED:
			snprintf(state, sizeof(state), "FAILED");
			col = w->color ? "\033[31m" : "";
			break;
		}
		end = *col ? "\033[0m" : "";
		line(sc, "%-8s %-30s %s%s%s", first ? "ACTIONS" : "", label, col, state, end);
		first = false;
	}
	if (n < st->nactions && room > 1)
		line(sc, "         ... %zu more", st->nactions - n);
}

static void run_probes(struct screen *sc, const struct sample_writer *w,
		       const struct live_status *st, int room)
{
	size_t n = st->nprobes <= (size_t)room ? st->nprobes : (size_t)(room > 1 ? room - 1 : 1);
	int width = sc->cols - 60;

	if (room <= 0)
		return;

	if (width > LIVE_HIST)
		width = LIVE_HIST;
	for (size_t i = 0; i < n; i++) {
		const struct live_probe *p = &st->probes[i];
		char sp[LIVE_HIST * 4 + 8] = "", lat[32] = "-", fails[48] = "";
		const char *res = "-", *col = "", *end = "";
		double top = 0;

		if (p->runs) {
			res = p->ok ? "ok" : "FAIL";
			col = !p->ok && w->color ? "\033[31m" : "";
			end = *col ? "\033[0m" : "";
			snprintf(lat, sizeof(lat), "%.1f ms", p->latency_ms);
			snprintf(fails, sizeof(fails), "%u of %u failed", p->failures, p->runs);
		}
		for (size_t k = 0; k < p->n; k++)
			if (isfinite(p->lat[k]) && p->lat[k] > top)
				top = p->lat[k];
		if (width >= 5)
			spark_of(p->lat, p->n, width, top > 0 ? top : 1, w->utf8, 'x', sp,
				 sizeof(sp));
		line(sc, "%-8s %-16.16s %s%-4s%s %10s  %-*s  %s", i ? "" : "PROBES", p->name, col,
		     res, end, lat, width >= 5 ? width : 0, sp, fails);
	}
	if (n < st->nprobes && room > 1)
		line(sc, "         ... %zu more", st->nprobes - n);
}

/* TARGET   cpu 45% of 50% (throttled 12)  mem 59.1 MiB of max 64 MiB  ... */
static void run_target(struct screen *sc, const struct sample_writer *w, const struct sample *s,
		       const struct live_status *st)
{
	struct field a, b, c, d;
	char cpu[64] = "-";

	if (st->no_target) {
		line(sc, "TARGET   none (probes only: nothing is sampled)");
		return;
	}
	if (!s) {
		line(sc, "TARGET   (no sample yet)");
		return;
	}
	if (s->cpu.has_usage_pct && s->cpu.max_quota.set && s->cpu.max_quota.v != CG_MAX &&
	    s->cpu.max_period.v)
		snprintf(cpu, sizeof(cpu), "%.0f%% of %.0f%%", s->cpu.usage_pct,
			 (double)s->cpu.max_quota.v * 100.0 / (double)s->cpu.max_period.v);
	else if (s->cpu.has_usage_pct)
		snprintf(cpu, sizeof(cpu), "%.0f%%", s->cpu.usage_pct);
	line(sc, "TARGET   cpu %s  thr %s  mem %s/%s  oom_kill %s  pids %s", cpu,
	     hnum(&s->cpu.nr_throttled, &a), hsize(&s->memory.current, &b),
	     hsize(&s->memory.max, &c), hnum(&s->memory.ev_oom_kill, &d),
	     hnum(&s->pids.current, &a));
}

/*
 * The experiment's screen, within w->rows - 1 lines: title, PHASE,
 * ACTIONS (in force first), PROBES (last result, latency, history), the
 * last EVENT, TARGET, and the history block of the sample view when the
 * window has room for it.
 */
static void draw_run(struct sample_writer *w, const struct sample *s)
{
	const struct live_status *st = w->status;
	struct screen sc = { .len = 0,
			     .cols = w->cols > 0 ? w->cols : TABLE_COLS,
			     .color = w->color };
	int rest = (w->rows > 1 ? w->rows - 1 : 23) - 5, prb, act;
	bool hist = s && history_fits(w, &sc);
	double t = s && s->t > st->now ? s->t : st->now;

	if (hist && rest - 6 >= (st->nactions ? 1 : 0) + (st->nprobes ? 1 : 0))
		rest -= 6;
	else
		hist = false;
	if (rest < 0)
		rest = 0;
	prb = (int)st->nprobes;
	if (prb > rest / 2 && (int)st->nactions > rest / 2)
		prb = rest / 2 > 0 ? rest / 2 : 1;
	if (prb > rest)
		prb = rest;
	act = rest - prb;
	title_line(&sc, w, t, st->phase, st->phase_ends);
	run_phase_line(&sc, st);
	run_actions(&sc, w, st, act);
	run_probes(&sc, w, st, prb);
	line(&sc, "EVENT    %s", st->event[0] ? st->event : "-");
	run_target(&sc, w, s, st);
	if (hist)
		table_history(&sc, w, s);
	emit(w, &sc);
}

static int write_table(struct sample_writer *w, const struct sample *s, struct duress_err *err)
{
	struct screen sc = { .len = 0,
			     .cols = w->cols > 0 ? w->cols : TABLE_COLS,
			     .color = w->color };
	struct field a, b;
	const char *phase = s->phase ? s->phase : w->phase;

	hist_push(w, s);
	if (w->dumb)
		return write_dumb(w, s);
	if (w->status) {
		draw_run(w, s);
		return 0;
	}
	title_line(&sc, w, s->t, phase, w->phase_ends);
	table_cpu(&sc, s);
	table_memory(&sc, s);
	table_io(&sc, w, s);
	line(&sc, "PIDS     %s / %s", hnum(&s->pids.current, &a), hnum(&s->pids.max, &b));
	table_psi(&sc, s);
	table_net(&sc, w, s);
	table_history(&sc, w, s);
	emit(w, &sc);
	return 0;
}

int sample_writer_redraw(struct sample_writer *w, bool force, struct duress_err *err)
{
	if (w->format != SAMPLE_FORMAT_TABLE || w->dumb || !w->status)
		return 0;
	if (!force && timing_now() - w->drawn_at < 0.1)
		return 0;
	errno = 0;
	draw_run(w, w->have_prev ? &w->prev : NULL);
	if (fflush(w->out) != 0 || ferror(w->out))
		return duress_err_set(err, errno ? errno : EIO, "write the live view");
	return 0;
}

void live_probe_push(struct live_probe *p, bool ok, double latency_ms)
{
	p->runs++;
	p->failures += !ok;
	p->ok = ok;
	p->latency_ms = latency_ms;
	if (p->n == LIVE_HIST) {
		memmove(p->lat, p->lat + 1, (LIVE_HIST - 1) * sizeof(double));
		p->n--;
	}
	p->lat[p->n++] = ok ? latency_ms : NAN;
}

int sample_writer_write(struct sample_writer *w, const struct sample *s, struct duress_err *err)
{
	int ret;

	errno = 0;
	switch (w->format) {
	case SAMPLE_FORMAT_JSONL:
		ret = write_jsonl(w, s, err);
		break;
	case SAMPLE_FORMAT_CSV:
		ret = write_csv(w, s, err);
		break;
	case SAMPLE_FORMAT_TABLE:
		ret = write_table(w, s, err);
		break;
	default:
		return duress_err_set(err, EINVAL, "unknown sample format %d", (int)w->format);
	}
	if (ret < 0)
		return -1;
	if (fflush(w->out) != 0 || ferror(w->out))
		return duress_err_set(err, errno ? errno : EIO, "write %s samples",
				      format_name(w->format));
	w->prev = *s;
	w->have_prev = true;
	return 0;
}

struct lookup {
	const char *key;
	json_t *found;
};

static void lookup_cb(const char *key, json_t *value, void *data)
{
	struct lookup *l = data;

	if (!l->found && !strcmp(key, l->key))
		l->found = value;
}

int sample_lookup(json_t *sample, const char *key, double *out)
{
	struct lookup l = { .key = key };

	if (!sample)
		return -1;
	sample_json_flatten(sample, lookup_cb, &l);
	if (!l.found)
		return -1;
	if (json_is_number(l.found)) {
		*out = json_number_value(l.found);
		return 0;
	}
	if (json_is_string(l.found) && !strcmp(json_string_value(l.found), "max")) {
		*out = INFINITY;
		return 0;
	}
	return -1;
}
