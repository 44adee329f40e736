// SPDX-License-Identifier: MIT
/*
 * Samples: the /proc/net/dev parser, sample_take() on a fixture directory
 * tree, the JSON object, its flattening, and the JSONL, CSV and table
 * writers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <duress/samples/sample_format.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/samples/sample.h>

/* ---- /proc/net/dev ---- */

static const char net_dev_fixture[] =
	"Inter-|   Receive                                                |  Transmit\n"
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
	"errs drop fifo colls carrier compressed\n"
	"    lo:   52345     612    0    0    0     0          0         0    52345     612    0 "
	"   0    0     0       0          0\n"
	"  eth0: 987654321  712345    3   17    0     0          0      1022 123456789   456789    "
	"1    5    0     0       0          0\n"
	"vethab12cd34ef5:4294967296000      10    0    2    0     0          0         0     2048 "
	"     20    0    9    0     0       0          0\n";

static void test_net_dev_parse(void **state)
{
	struct net_if_stat ifs[4], total;
	size_t n = 0;

	assert_int_equal(net_dev_parse(net_dev_fixture, ifs, 4, &n, &total), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ifs[0].name, "lo");
	assert_int_equal(ifs[0].rx_bytes, 52345);
	assert_int_equal(ifs[0].tx_packets, 612);
	assert_string_equal(ifs[1].name, "eth0");
	assert_int_equal(ifs[1].rx_bytes, 987654321);
	assert_int_equal(ifs[1].rx_packets, 712345);
	assert_int_equal(ifs[1].rx_errors, 3);
	assert_int_equal(ifs[1].rx_drops, 17);
	assert_int_equal(ifs[1].tx_bytes, 123456789);
	assert_int_equal(ifs[1].tx_packets, 456789);
	assert_int_equal(ifs[1].tx_errors, 1);
	assert_int_equal(ifs[1].tx_drops, 5);
	/* A 15-character name runs straight into a 13-digit counter. */
	assert_string_equal(ifs[2].name, "vethab12cd34ef5");
	assert_true(ifs[2].rx_bytes == 4294967296000ull);
	assert_int_equal(ifs[2].rx_drops, 2);
	assert_int_equal(ifs[2].tx_drops, 9);
	/* Totals leave lo out. */
	assert_true(total.rx_bytes == 987654321ull + 4294967296000ull);
	assert_int_equal(total.rx_packets, 712345 + 10);
	assert_int_equal(total.rx_drops, 17 + 2);
	assert_int_equal(total.tx_bytes, 123456789 + 2048);
	assert_int_equal(total.tx_packets, 456789 + 20);
	assert_int_equal(total.tx_drops, 5 + 9);
}

static void test_net_dev_parse_overflow(void **state)
{
	struct net_if_stat ifs[1], total;
	size_t n = 0;

	/* Only the first interface is kept, all are counted and totalled. */
	assert_int_equal(net_dev_parse(net_dev_fixture, ifs, 1, &n, &total), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ifs[0].name, "lo");
	assert_int_equal(total.tx_packets, 456789 + 20);
	/* Only headers: no interface. */
	assert_int_equal(net_dev_parse("Inter-| Receive | Transmit\n face |bytes|bytes\n", ifs, 1,
				       &n, NULL),
			 0);
	assert_int_equal(n, 0);
}

static void test_net_dev_parse_malformed(void **state)
{
	struct net_if_stat ifs[2];
	size_t n = 0;

	assert_int_equal(net_dev_parse("  eth0: 1 2 3\n", ifs, 2, &n, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(net_dev_parse("  eth0: 1 2 x 4 5 6 7 8 9 10 11 12\n", ifs, 2, &n, NULL),
			 -1);
	assert_int_equal(net_dev_parse("   : 1 2 3 4 5 6 7 8 9 10 11 12\n", ifs, 2, &n, NULL), -1);
}

/* ---- sample_take() on a fixture tree ---- */

struct fixture {
	char dir[64];
};

static int fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/duress-sample-XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	fx_put(fx->dir, "cgroup.procs", "4242\n");
	fx_put(fx->dir, "cpu.stat",
	       "usage_usec 8000000\nuser_usec 6000000\nsystem_usec 2000000\n"
	       "core_sched.force_idle_usec 0\nnr_periods 500\nnr_throttled 120\n"
	       "throttled_usec 1234567\nnr_bursts 0\nburst_usec 0\n");
	fx_put(fx->dir, "cpu.max", "20000 100000\n");
	fx_put(fx->dir, "cpu.weight", "100\n");
	fx_put(fx->dir, "memory.current", "33554432\n");
	fx_put(fx->dir, "memory.max", "max\n");
	fx_put(fx->dir, "memory.high", "67108864\n");
	fx_put(fx->dir, "memory.low", "0\n");
	fx_put(fx->dir, "memory.min", "0\n");
	fx_put(fx->dir, "memory.events",
	       "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\n"
	       "oom_group_kill 0\n");
	/* No "kernel" line (kernels < 5.18); file_mapped precedes file. */
	fx_put(fx->dir, "memory.stat",
	       "anon 31457280\nfile_mapped 4096\nfile 1048576\nkernel_stack 65536\n"
	       "pagetables 4096\nshmem 8192\nfile_dirty 0\n");
	fx_put(fx->dir, "io.stat",
	       "8:0 rbytes=1048576 wbytes=2097152 rios=10 wios=20 dbytes=0 dios=0\n"
	       "253:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=512 dios=1\n");
	fx_put(fx->dir, "pids.current", "5\n");
	fx_put(fx->dir, "pids.max", "max\n");
	/* cpu.pressure without "full" (kernels < 5.13). */
	fx_put(fx->dir, "cpu.pressure", "some avg10=1.20 avg60=0.50 avg300=0.10 total=123456\n");
	fx_put(fx->dir, "memory.pressure",
	       "some avg10=75.50 avg60=40.00 avg300=10.00 total=9000000\n"
	       "full avg10=70.25 avg60=35.00 avg300=8.00 total=8000000\n");
	/* Absent: memory.peak, memory.swap.*, io.pressure. */
	*state = fx;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *fx = *state;

	fx_rm_tree(fx->dir);
	free(fx);
	return 0;
}

static void fixture_target(const struct fixture *fx, struct target *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s", fx->dir);
	t->pid = 0;
	t->netns_fd = -1;
	t->mntns_fd = -1;
}

static void test_sample_take_fixture(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct target t;
	struct sample s;

	fixture_target(fx, &t);
	assert_int_equal(sample_take(&t, NULL, 2.5, &s, &err), 0);
	assert_true(s.t == 2.5);
	assert_true(s.ts.tv_sec > 1700000000);
	assert_true(s.mono_ns > 0);

	assert_true(s.cpu.usage_usec.set);
	assert_int_equal(s.cpu.usage_usec.v, 8000000);
	assert_int_equal(s.cpu.user_usec.v, 6000000);
	assert_int_equal(s.cpu.system_usec.v, 2000000);
	assert_int_equal(s.cpu.nr_periods.v, 500);
	assert_int_equal(s.cpu.nr_throttled.v, 120);
	assert_int_equal(s.cpu.throttled_usec.v, 1234567);
	assert_false(s.cpu.has_usage_pct);
	assert_true(s.cpu.max_quota.set && s.cpu.max_period.set);
	assert_int_equal(s.cpu.max_quota.v, 20000);
	assert_int_equal(s.cpu.max_period.v, 100000);
	assert_int_equal(s.cpu.weight.v, 100);

	assert_int_equal(s.memory.current.v, 33554432);
	assert_true(s.memory.max.set && s.memory.max.v == CG_MAX);
	assert_int_equal(s.memory.high.v, 67108864);
	assert_true(s.memory.low.set && s.memory.low.v == 0);
	assert_true(s.memory.min.set && s.memory.min.v == 0);
	assert_false(s.memory.peak.set);
	assert_false(s.memory.swap_current.set);
	assert_false(s.memory.swap_max.set);
	assert_int_equal(s.memory.ev_low.v, 0);
	assert_int_equal(s.memory.ev_high.v, 12);
	assert_int_equal(s.memory.ev_max.v, 3);
	assert_int_equal(s.memory.ev_oom.v, 1);
	assert_true(s.memory.ev_oom_kill.set && s.memory.ev_oom_kill.v == 1);
	assert_int_equal(s.memory.anon.v, 31457280);
	assert_int_equal(s.memory.file.v, 1048576);
	assert_int_equal(s.memory.shmem.v, 8192);
	assert_false(s.memory.kernel.set);

	assert_true(s.io.present);
	assert_int_equal(s.io.ndevs, 2);
	assert_int_equal(s.io.devs[0].major, 8);
	assert_int_equal(s.io.devs[0].minor, 0);
	assert_int_equal(s.io.devs[1].major, 253);
	assert_int_equal(s.io.devs[1].dbytes, 512);
	assert_int_equal(s.io.rbytes, 1048576 + 4096);
	assert_int_equal(s.io.wbytes, 2097152);
	assert_int_equal(s.io.rios, 11);
	assert_int_equal(s.io.wios, 20);

	assert_int_equal(s.pids.current.v, 5);
	assert_true(s.pids.max.set && s.pids.max.v == CG_MAX);

	assert_true(s.psi.cpu_present);
	assert_true(s.psi.cpu.some.present);
	assert_false(s.psi.cpu.full.present);
	assert_true(s.psi.cpu.some.avg10 == 1.20);
	assert_int_equal(s.psi.cpu.some.total, 123456);
	assert_true(s.psi.memory_present);
	assert_true(s.psi.memory.full.avg10 == 70.25);
	assert_int_equal(s.psi.memory.full.total, 8000000);
	assert_false(s.psi.io_present);

	assert_false(s.net.present);
}

static void test_sample_take_usage_pct(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct sample prev, s;
	struct target t;

	fixture_target(fx, &t);
	assert_int_equal(sample_take(&t, NULL, 0, &prev, &err), 0);
	/* Pretend the previous sample was 1 s earlier with 0.5 s less CPU. */
	prev.mono_ns -= 1000000000ull;
	prev.cpu.usage_usec.v -= 500000;
	assert_int_equal(sample_take(&t, &prev, 1, &s, &err), 0);
	assert_true(s.cpu.has_usage_pct);
	assert_true(s.cpu.usage_pct > 49.0 && s.cpu.usage_pct <= 50.0);
	/* A counter that went back (cgroup recreated) gives no percentage. */
	prev.cpu.usage_usec.v = 9000000;
	assert_int_equal(sample_take(&t, &prev, 1, &s, &err), 0);
	assert_false(s.cpu.has_usage_pct);
}

static void test_sample_take_net(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct target t;
	struct sample s;
	uint64_t rx = 0;
	bool lo = false;

	fixture_target(fx, &t);
	t.pid = getpid();
	assert_int_equal(sample_take(&t, NULL, 0, &s, &err), 0);
	assert_true(s.net.present);
	assert_true(s.net.nifs >= 1);
	for (size_t i = 0; i < s.net.nifs; i++) {
		if (!strcmp(s.net.ifs[i].name, "lo"))
			lo = true;
		else
			rx += s.net.ifs[i].rx_bytes;
	}
	assert_true(lo);
	if (s.net.nifs < SAMPLE_MAX_NET_IFS)
		assert_true(s.net.rx_bytes == rx);
	/* A process that is gone: no network counters, not an error. */
	t.pid = 999999999;
	assert_int_equal(sample_take(&t, NULL, 0, &s, &err), 0);
	assert_false(s.net.present);
}

static void test_sample_take_long_io_stat(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct target t;
	struct sample s;
	char *text = malloc(200 * 80);
	size_t off = 0;

	assert_non_null(text);
	/* 200 devices, ~12 KiB: more than the read buffer and SAMPLE_MAX_IO_DEVS. */
	for (unsigned int i = 0; i < 200; i++)
		off += snprintf(text + off, 200 * 80 - off,
				"7:%u rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n", i);
	assert_true(off > 8192);
	fx_put(fx->dir, "io.stat", text);
	free(text);
	fixture_target(fx, &t);
	assert_int_equal(sample_take(&t, NULL, 0, &s, &err), 0);
	assert_true(s.io.present);
	assert_int_equal(s.io.ndevs, SAMPLE_MAX_IO_DEVS);
	assert_int_equal(s.io.devs[15].minor, 15);
	assert_int_equal(s.io.rbytes, 200 * 1000);
	assert_int_equal(s.io.wbytes, 200 * 2000);
	assert_int_equal(s.io.wios, 400);
}

static void test_sample_take_malformed(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct target t;
	struct sample s;

	fx_put(fx->dir, "memory.current", "lots\n");
	fixture_target(fx, &t);
	assert_int_equal(sample_take(&t, NULL, 0, &s, &err), -1);
	assert_int_equal(err.errnum, EINVAL);
	assert_non_null(strstr(err.msg, "memory.current"));
}

static void test_sample_take_vanished(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	char expect[128];
	struct target t;
	struct sample s;

	fixture_target(fx, &t);
	fx_rm_tree(fx->dir);
	assert_int_equal(sample_take(&t, NULL, 0, &s, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	snprintf(expect, sizeof(expect), "target %s vanished", fx->dir);
	assert_string_equal(err.msg, expect);
}

/* ---- JSON ---- */

/* 2026-11-26T21:50:49.123Z */
static void base_sample(struct sample *s)
{
	memset(s, 0, sizeof(*s));
	s->t = 1.5;
	s->ts.tv_sec = 1795729849;
	s->ts.tv_nsec = 123999999;
	s->mono_ns = 5000000000ull;
}

static void set(struct opt_u64 *o, uint64_t v)
{
	o->set = true;
	o->v = v;
}

static void full_sample(struct sample *s)
{
	base_sample(s);
	s->cpu.has_usage_pct = true;
	s->cpu.usage_pct = 12.3456;
	set(&s->cpu.usage_usec, 8000000);
	set(&s->cpu.nr_throttled, 120);
	set(&s->cpu.throttled_usec, 1234567);
	set(&s->cpu.nr_periods, 500);
	set(&s->cpu.max_quota, CG_MAX);
	set(&s->cpu.max_period, 100000);
	set(&s->cpu.weight, 100);
	set(&s->memory.current, 33554432);
	set(&s->memory.max, CG_MAX);
	set(&s->memory.high, 67108864);
	set(&s->memory.ev_oom_kill, 2);
	set(&s->memory.anon, 31457280);
	s->io.present = true;
	s->io.ndevs = 1;
	s->io.devs[0] = (struct io_dev_stat){
		.major = 8, .minor = 0, .rbytes = 1048576, .wbytes = 4096, .rios = 10, .wios = 1
	};
	s->io.rbytes = 1048576;
	s->io.wbytes = 4096;
	s->io.rios = 10;
	s->io.wios = 1;
	s->psi.cpu_present = true;
	s->psi.cpu.some = (struct psi_line){ true, 1.25, 0.5, 0.1, 123456 };
	s->net.present = true;
	s->net.nifs = 2;
	snprintf(s->net.ifs[0].name, sizeof(s->net.ifs[0].name), "lo");
	s->net.ifs[0].rx_bytes = 100;
	snprintf(s->net.ifs[1].name, sizeof(s->net.ifs[1].name), "eth0");
	s->net.ifs[1].rx_bytes = 2048;
	s->net.ifs[1].tx_drops = 3;
	s->net.rx_bytes = 2048;
	s->net.tx_drops = 3;
}

static void test_sample_to_json(void **state)
{
	struct sample s;
	json_t *j, *cpu, *mem, *v;

	full_sample(&s);
	j = sample_to_json(&s);
	assert_non_null(j);
	assert_true(json_real_value(json_object_get(j, "t")) == 1.5);
	assert_string_equal(json_string_value(json_object_get(j, "ts")),
			    "2026-11-26T21:50:49.123Z");

	cpu = json_object_get(j, "cpu");
	assert_true(json_is_object(cpu));
	assert_true(json_real_value(json_object_get(cpu, "usage_pct")) == 12.35);
	assert_int_equal(json_integer_value(json_object_get(cpu, "usage_usec")), 8000000);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(cpu, "max"), "quota")), "max");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(cpu, "max"), "period")),
			 100000);
	assert_null(json_object_get(cpu, "user_usec"));

	mem = json_object_get(j, "memory");
	assert_int_equal(json_integer_value(json_object_get(mem, "current")), 33554432);
	assert_string_equal(json_string_value(json_object_get(mem, "max")), "max");
	assert_int_equal(json_integer_value(json_object_get(mem, "high")), 67108864);
	assert_null(json_object_get(mem, "peak"));
	assert_null(json_object_get(mem, "swap_max"));
	v = json_object_get(mem, "events");
	assert_int_equal(json_object_size(v), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "oom_kill")), 2);
	v = json_object_get(mem, "stat");
	assert_int_equal(json_object_size(v), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "anon")), 31457280);

	v = json_object_get(json_object_get(json_object_get(j, "io"), "devices"), "8:0");
	assert_int_equal(json_integer_value(json_object_get(v, "rbytes")), 1048576);
	assert_int_equal(json_integer_value(json_object_get(v, "dios")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "io"), "rios")), 10);

	/* No pids fields at all: no "pids" object.  PSI: cpu only, some only. */
	assert_null(json_object_get(j, "pids"));
	v = json_object_get(j, "psi");
	assert_int_equal(json_object_size(v), 1);
	v = json_object_get(v, "cpu");
	assert_true(json_real_value(json_object_get(v, "some_avg10")) == 1.25);
	assert_int_equal(json_integer_value(json_object_get(v, "some_total")), 123456);
	assert_null(json_object_get(v, "full_avg10"));

	v = json_object_get(j, "net");
	assert_int_equal(json_integer_value(json_object_get(v, "rx_bytes")), 2048);
	assert_int_equal(json_integer_value(json_object_get(v, "tx_drops")), 3);
	v = json_object_get(json_object_get(v, "interfaces"), "eth0");
	assert_int_equal(json_integer_value(json_object_get(v, "tx_drops")), 3);
	assert_int_equal(json_integer_value(json_object_get(v, "rx_errors")), 0);
	json_decref(j);
}

static void test_sample_to_json_empty(void **state)
{
	struct sample s;
	json_t *j;

	base_sample(&s);
	s.t = 0.0004;
	s.ts.tv_nsec = 0;
	j = sample_to_json(&s);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 2);
	assert_true(json_real_value(json_object_get(j, "t")) == 0.0);
	assert_string_equal(json_string_value(json_object_get(j, "ts")),
			    "2026-11-26T21:50:49.000Z");
	json_decref(j);
}

struct keys {
	char buf[8192];
	size_t n;
};

static void key_cb(const char *key, json_t *value, void *data)
{
	struct keys *k = data;

	k->n++;
	strncat(k->buf, key, sizeof(k->buf) - strlen(k->buf) - 2);
	strcat(k->buf, " ");
}

static void test_json_flatten(void **state)
{
	struct keys k = { .n = 0 };
	json_t *j = json_pack("{s:i, s:{s:i, s:{s:s}}, s:{}, s:[i]}", "a", 1, "b", "c", 2, "d", "e",
			      "x", "empty", "arr", 3);
	struct sample s;

	sample_json_flatten(j, key_cb, &k);
	assert_string_equal(k.buf, "a b.c b.d.e arr ");
	json_decref(j);

	memset(&k, 0, sizeof(k));
	full_sample(&s);
	j = sample_to_json(&s);
	sample_json_flatten(j, key_cb, &k);
	assert_non_null(strstr(k.buf, "t ts cpu.usage_pct cpu.usage_usec "));
	assert_non_null(strstr(k.buf, " cpu.max.quota cpu.max.period cpu.weight "));
	assert_non_null(strstr(k.buf, " memory.events.oom_kill memory.stat.anon "));
	assert_non_null(strstr(k.buf, " io.devices.8:0.rbytes "));
	assert_non_null(strstr(k.buf, " psi.cpu.some_avg10 "));
	assert_non_null(strstr(k.buf, " net.interfaces.eth0.tx_errors "));
	json_decref(j);
	/* A non-object calls nothing. */
	memset(&k, 0, sizeof(k));
	j = json_integer(1);
	sample_json_flatten(j, key_cb, &k);
	assert_int_equal(k.n, 0);
	json_decref(j);
}

/* ---- writers ---- */

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static void capture_open(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

static void capture_close(struct capture *c)
{
	fclose(c->f);
	free(c->buf);
}

static size_t count_char(const char *s, char ch)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == ch;
	return n;
}

static void test_format_parse(void **state)
{
	struct duress_err err = { 0 };
	enum sample_format f = SAMPLE_FORMAT_TABLE;

	assert_int_equal(sample_format_parse("jsonl", &f, &err), 0);
	assert_int_equal(f, SAMPLE_FORMAT_JSONL);
	assert_int_equal(sample_format_parse("csv", &f, &err), 0);
	assert_int_equal(f, SAMPLE_FORMAT_CSV);
	assert_int_equal(sample_format_parse("table", &f, &err), 0);
	assert_int_equal(f, SAMPLE_FORMAT_TABLE);
	assert_int_equal(sample_format_parse("json", &f, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "'json'"));
}

static void test_jsonl(void **state)
{
	struct duress_err err = { 0 };
	struct sample_writer w;
	struct capture c;
	struct sample s;
	json_t *j;

	full_sample(&s);
	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_JSONL, c.f, "test");
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	s.t = 2.0;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	sample_writer_close(&w);
	fflush(c.f);
	/* Two compact lines. */
	assert_int_equal(count_char(c.buf, '\n'), 2);
	assert_int_equal(c.buf[c.len - 1], '\n');
	assert_null(strstr(c.buf, ": "));
	assert_int_equal(strncmp(c.buf, "{\"t\":1.5,\"ts\":\"2026-11-26T21:50:49.123Z\",", 41), 0);
	/* Reals are printed short: 12.35, not 12.349999999999999. */
	assert_non_null(strstr(c.buf, "\"usage_pct\":12.35,"));
	*strchr(c.buf, '\n') = '\0';
	j = json_loads(c.buf, 0, NULL);
	assert_non_null(j);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(j, "memory"), "current")),
		33554432);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "memory"), "max")),
			    "max");
	json_decref(j);
	capture_close(&c);
}

static void test_csv(void **state)
{
	struct duress_err err = { 0 };
	struct sample_writer w;
	struct capture c;
	struct sample s;

	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_CSV, c.f, "test");
	base_sample(&s);
	set(&s.cpu.usage_usec, 1000);
	set(&s.memory.current, 4096);
	set(&s.memory.peak, 8192);
	set(&s.memory.max, CG_MAX);
	s.net.present = true;
	s.net.nifs = 1;
	snprintf(s.net.ifs[0].name, sizeof(s.net.ifs[0].name), "a,\"b");
	s.net.ifs[0].rx_bytes = 7;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	assert_int_equal(w.ncsv_columns, 20);

	/* Second sample: no peak (empty cell), pids appear (dropped). */
	s.t = 2.25;
	s.memory.peak.set = false;
	set(&s.cpu.usage_usec, 2000);
	set(&s.pids.current, 3);
	s.net.ifs[0].rx_bytes = 9;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	sample_writer_close(&w);
	fflush(c.f);
	assert_string_equal(
		c.buf,
		"t,ts,cpu.usage_usec,memory.current,memory.peak,memory.max,"
		"net.rx_bytes,net.rx_packets,net.rx_drops,net.tx_bytes,net.tx_packets,net.tx_drops,"
		"\"net.interfaces.a,\"\"b.rx_bytes\",\"net.interfaces.a,\"\"b.rx_packets\","
		"\"net.interfaces.a,\"\"b.rx_drops\",\"net.interfaces.a,\"\"b.rx_errors\","
		"\"net.interfaces.a,\"\"b.tx_bytes\",\"net.interfaces.a,\"\"b.tx_packets\","
		"\"net.interfaces.a,\"\"b.tx_drops\",\"net.interfaces.a,\"\"b.tx_errors\"\n"
		"1.5,2026-11-26T21:50:49.123Z,1000,4096,8192,max,0,0,0,0,0,0,7,0,0,0,0,0,0,0\n"
		"2.25,2026-11-26T21:50:49.123Z,2000,4096,,max,0,0,0,0,0,0,9,0,0,0,0,0,0,0\n");
	capture_close(&c);
}

/* The live view's modes: a narrow window (cut, no history), TERM=dumb (one
 * plain line per sample), colour only without NO_COLOR. */
static void test_table_modes(void **state)
{
	struct duress_err err = { 0 };
	struct sample_writer w;
	struct capture c;
	struct sample s;
	char *line, *save = NULL;

	full_sample(&s);
	set(&s.memory.max, 34000000); /* current 32 MiB: 98% */
	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "cgroup /app");
	w.cols = 50, w.rows = 24, w.dumb = false, w.color = true, w.utf8 = true;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	fflush(c.f);
	assert_null(strstr(c.buf, "HISTORY"));
	for (line = strtok_r(c.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		assert_true(strlen(line) <= 50 + 3 + 4 + 3); /* + home, reset, erase */
	capture_close(&c);

	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "cgroup /app");
	w.cols = 80, w.rows = 24, w.dumb = false, w.color = true, w.utf8 = true;
	s.phase = "during"; /* inject: the fault ends 3 s from now */
	w.phase_ends = s.t + 3;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	s.phase = NULL;
	fflush(c.f);
	assert_non_null(strstr(c.buf, "during 3.0s left  elapsed"));
	assert_non_null(strstr(c.buf, "\033[31m32 MiB of max 32.4 MiB\033[0m"));
	assert_non_null(strstr(c.buf, "  memory \u2588"));
	capture_close(&c);

	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "cgroup /app");
	w.cols = 80, w.rows = 24, w.dumb = false, w.color = false, w.utf8 = false;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	fflush(c.f);
	assert_null(strstr(c.buf, "\033[3"));
	assert_non_null(strstr(c.buf, "  memory #"));
	capture_close(&c);

	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "cgroup /app");
	w.cols = 80, w.rows = 24, w.dumb = true, w.color = false;
	w.phase = "during";
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	s.t += 1;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	fflush(c.f);
	assert_null(strchr(c.buf, '\033'));
	assert_non_null(strstr(c.buf, " during cpu 12.3% mem 32 MiB max 32.4 MiB"));
	assert_int_equal(strchr(strchr(c.buf, '\n') + 1, '\n')[1], '\0'); /* two lines */
	capture_close(&c);
}

/* count the lines of one frame (from its home escape) */
static int frame_lines(const char *frame)
{
	int n = 0;

	for (const char *p = frame; *p && strncmp(p, "\033[J", 3); p++)
		n += *p == '\n';
	return n;
}

/* The view of `duress run`: phase, overlapping actions (in force first),
 * probes with their history, the target's history; within the window. */
static void test_table_run(void **state)
{
	struct duress_err err = { 0 };
	struct live_status st = { .phase = "method", .now = 10 };
	struct sample_writer w;
	struct capture c;
	struct sample s;
	const char *kinds[] = { "memory", "cpu", "pause", "network", "http", "kill" };

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(kinds); i++) {
		snprintf(st.actions[i].kind, sizeof(st.actions[i].kind), "%s", kinds[i]);
		snprintf(st.actions[i].name, sizeof(st.actions[i].name), "a%zu", i);
	}
	st.nactions = DURESS_ARRAY_SIZE(kinds);
	st.actions[0] = (struct live_action){ "cap", "memory", LIVE_DONE, false, 0 };
	st.actions[1] = (struct live_action){ "hog", "cpu", LIVE_FAILED, false, 0 };
	st.actions[4] = (struct live_action){ "slow", "http", LIVE_ON, true, 12 };
	st.actions[5] = (struct live_action){ "boom", "kill", LIVE_ON, false, 11.5 };
	st.nprobes = 2;
	snprintf(st.probes[0].name, sizeof(st.probes[0].name), "api");
	snprintf(st.probes[1].name, sizeof(st.probes[1].name), "db");
	for (int i = 0; i < 10; i++) {
		live_probe_push(&st.probes[0], i != 7, 10.0 + i);
		live_probe_push(&st.probes[1], true, 5);
	}
	snprintf(st.event, sizeof(st.event), "[ 10.00s] http fault 'slow' in force");
	full_sample(&s);
	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "'x' on cgroup /app");
	w.cols = 80, w.rows = 24, w.dumb = false, w.color = false, w.utf8 = false;
	w.status = &st;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	fflush(c.f);
	assert_non_null(strstr(c.buf, "PHASE    baseline > before > [METHOD] > rollback"));
	assert_non_null(strstr(c.buf, "ACTIONS  memory 'cap'"));
	assert_non_null(
		strstr(c.buf, "http 'slow'                    IN FORCE   2.0s left  background"));
	assert_non_null(strstr(c.buf, "kill 'boom'                    IN FORCE   1.5s left"));
	assert_non_null(strstr(c.buf, "cpu 'hog'                      FAILED"));
	assert_non_null(strstr(c.buf, "PROBES   api              ok      19.0 ms  "));
	assert_non_null(strstr(c.buf, "1 of 10 failed"));
	assert_non_null(strstr(c.buf, "x")); /* the failed run in the sparkline */
	assert_non_null(strstr(c.buf, "EVENT    [ 10.00s] http fault 'slow' in force"));
	assert_non_null(strstr(c.buf, "TARGET   cpu "));
	assert_non_null(strstr(c.buf, "HISTORY"));
	assert_true(frame_lines(c.buf) <= 23);
	capture_close(&c);

	/* 12 rows: no history, the actions in force kept, the rest counted */
	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "'x' on cgroup /app");
	w.cols = 80, w.rows = 12, w.dumb = false, w.color = true, w.utf8 = false;
	w.status = &st;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	fflush(c.f);
	assert_null(strstr(c.buf, "HISTORY"));
	assert_non_null(strstr(c.buf, "\033[33mIN FORCE   2.0s left  background\033[0m"));
	assert_non_null(strstr(c.buf, "\033[33mIN FORCE   1.5s left\033[0m"));
	assert_non_null(strstr(c.buf, "more"));
	assert_true(frame_lines(c.buf) <= 11);
	capture_close(&c);

	/* no sample yet (probes only): the experiment's part alone */
	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "'x' on this host");
	w.cols = 80, w.rows = 24, w.dumb = false, w.color = false, w.utf8 = true;
	st.no_target = true;
	st.phase = "recovering";
	st.phase_ends = 13;
	w.status = &st;
	assert_int_equal(sample_writer_redraw(&w, true, &err), 0);
	fflush(c.f);
	assert_non_null(strstr(c.buf, "recovering 3.0s left"));
	assert_non_null(strstr(c.buf, "[RECOVERY]"));
	assert_non_null(strstr(c.buf, "TARGET   none (probes only"));
	/* throttled: a second redraw at once draws nothing */
	{
		size_t len = c.len;

		assert_int_equal(sample_writer_redraw(&w, false, &err), 0);
		fflush(c.f);
		assert_int_equal(c.len, len);
	}
	capture_close(&c);

	/* TERM=dumb: the sample's line carries the run's phase; no redraws */
	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f, "'x' on cgroup /app");
	w.cols = 80, w.rows = 24, w.dumb = true, w.color = false;
	st.phase = "steady state after";
	w.status = &st;
	assert_int_equal(sample_writer_redraw(&w, true, &err), 0);
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	fflush(c.f);
	assert_null(strchr(c.buf, '\033'));
	assert_non_null(strstr(c.buf, " steady state after cpu "));
	assert_int_equal(strchr(c.buf, '\n')[1], '\0'); /* one line */
	capture_close(&c);
}

static void test_table(void **state)
{
	struct duress_err err = { 0 };
	struct sample_writer w;
	struct capture c;
	struct sample s;
	char *screen2, *line, *save = NULL;

	capture_open(&c);
	sample_writer_init(&w, SAMPLE_FORMAT_TABLE, c.f,
			   "cgroup /system.slice/a-very-long-unit-name-that-does-not-fit-in-the-"
			   "title-line.service");
	/* a terminal of 80x24 whatever runs the test */
	w.cols = 80;
	w.rows = 24;
	w.dumb = false;
	w.color = false;
	w.utf8 = false;
	full_sample(&s);
	set(&s.cpu.max_quota, 20000);
	s.t = 83.2;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	/* One second later: 1 MiB more read, 2 KiB more received. */
	s.mono_ns += 1000000000ull;
	s.io.rbytes += 1048576;
	s.net.rx_bytes += 2048;
	assert_int_equal(sample_writer_write(&w, &s, &err), 0);
	sample_writer_close(&w);
	fflush(c.f);

	/* redrawn in place: home, each line erased to its end, the rest below */
	assert_int_equal(strncmp(c.buf, "\033[H", 3), 0);
	screen2 = strstr(c.buf + 3, "\033[H");
	assert_non_null(screen2);
	assert_null(strstr(c.buf, "\033[H\033[J"));
	assert_non_null(strstr(c.buf, "\033[J\033[H"));
	screen2 += 3;
	/* The first screen has no rates yet. */
	assert_non_null(strstr(c.buf, "IO       read  -  "));
	assert_non_null(strstr(screen2, "elapsed 1m23s\033[K\n"));
	/* The long title is cut with "...". */
	assert_non_null(strstr(screen2, "duress  cgroup /system.slice/a-very-long-unit-name-"));
	assert_non_null(strstr(screen2, "... elapsed"));
	assert_null(strstr(screen2, "title-line.service"));
	assert_non_null(strstr(screen2, "12.3% of one CPU"));
	assert_non_null(strstr(screen2, "limit 20.0% (20000/100000 us)"));
	assert_non_null(strstr(screen2, "throttled 120 of 500 periods, 1.234s"));
	assert_non_null(strstr(screen2, "current 32 MiB / max max"));
	assert_non_null(strstr(screen2, "oom_kill 2"));
	assert_non_null(strstr(screen2, "read  1 MiB/s"));
	assert_non_null(strstr(screen2, "write 0 B/s"));
	assert_non_null(strstr(screen2, "rx 2 KiB/s"));
	assert_non_null(strstr(screen2, "cpu         1.25%          -"));
	assert_non_null(strstr(screen2, "PIDS     - / -"));
	/* the history: cpu against its 20% limit, memory with no limit */
	assert_non_null(strstr(screen2, "HISTORY  last 36 samples, newest right"));
	assert_non_null(strstr(screen2, "  cpu    "));
	assert_non_null(strstr(screen2, "12% of 20%"));
	assert_non_null(strstr(screen2, "32 MiB of high 64 MiB"));
	for (line = strtok_r(screen2, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		assert_true(strlen(line) <= 80 + 3); /* + "\033[K" */
	capture_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_dev_parse),
		cmocka_unit_test(test_net_dev_parse_overflow),
		cmocka_unit_test(test_net_dev_parse_malformed),
		cmocka_unit_test_setup_teardown(test_sample_take_fixture, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sample_take_usage_pct, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sample_take_net, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sample_take_long_io_stat, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sample_take_malformed, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sample_take_vanished, fixture_setup,
						fixture_teardown),
		cmocka_unit_test(test_sample_to_json),
		cmocka_unit_test(test_sample_to_json_empty),
		cmocka_unit_test(test_json_flatten),
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_jsonl),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_modes),
		cmocka_unit_test(test_table_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
