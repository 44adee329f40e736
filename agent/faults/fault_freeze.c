// SPDX-License-Identifier: MIT
/*
 * freeze: stop every process of the target (cgroup.freeze) for the whole
 * fault, or alternately frozen and running (--cycle ON/OFF).  A service
 * interruption that keeps all state: connections, memory, files.
 */
#include <duress/core/timing.h>
#include <duress/core/cgroup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/core/parse.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct freeze_priv {
	uint64_t on_us, off_us; /* cycle; off_us 0 = frozen throughout */
	bool frozen;
	uint64_t phase_start_us; /* since apply */
	uint64_t frozen_us;	 /* total time frozen so far */
	unsigned cycles;
	double time_to_freeze_ms; /* until cgroup.events says frozen 1 */
};

static const struct fault_opt freeze_opts[] = {
	{ .name = "cycle",
	  .type = FOPT_STRING,
	  .metavar = "ON/OFF",
	  .help = "alternate frozen ON and running OFF, e.g. 2s/8s (default: frozen throughout)" },
};

/* Pure: "2s/8s" -> on/off in microseconds; both must be > 0. */
static int freeze_parse_cycle(const char *text, uint64_t *on_us, uint64_t *off_us,
			      struct duress_err *err)
{
	char on[64];
	const char *slash = strchr(text, '/');

	if (!slash || (size_t)(slash - text) >= sizeof(on))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--cycle: '%s': expected ON/OFF durations, e.g. 2s/8s",
				       text);
	memcpy(on, text, slash - text);
	on[slash - text] = '\0';
	if (parse_duration(on, "--cycle", on_us, err) < 0 ||
	    parse_duration(slash + 1, "--cycle", off_us, err) < 0) {
		err->code = DURESS_EXIT_USAGE;
		return -1;
	}
	if (*on_us < 100000 || *off_us < 100000)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--cycle: '%s': each half must be at least 100ms", text);
	return 0;
}

static int freeze_validate(struct fault *f, struct duress_err *err)
{
	struct freeze_priv *p = f->priv;
	const struct fault_val *c = fault_opt(f, "cycle");

	if (c->set && freeze_parse_cycle(c->s, &p->on_us, &p->off_us, err) < 0)
		return -1;
	return 0;
}

static int freeze_supported(struct fault *f, struct duress_err *err)
{
	if (!cg_exists(f->target->dir, "cgroup.freeze"))
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "freeze: %s has no cgroup.freeze (needs Linux 5.2 or later)",
				       f->target->dir);
	return 0;
}

static int freeze_plan(struct fault *f, struct duress_err *err)
{
	struct freeze_priv *p = f->priv;
	char now[16] = "?", on[32], off[32];

	cg_read_buf(f->target->dir, "cgroup.freeze", now, sizeof(now), err);
	now[strcspn(now, "\n")] = '\0';
	fault_plan_add(f, "write '1' to %s/cgroup.freeze (now '%s')", f->target->dir, now);
	if (p->off_us)
		fault_plan_add(f, "then alternate: frozen %s, running %s ('0' and '1' in turn)",
			       format_duration(p->on_us, on, sizeof(on)),
			       format_duration(p->off_us, off, sizeof(off)));
	fault_plan_add(f, "revert: write '%s' back to %s/cgroup.freeze", now, f->target->dir);
	return 0;
}

/* Wait (bounded) until cgroup.events reports the frozen state. */
static double wait_frozen(const char *dir, int want, int timeout_ms)
{
	double start = (timing_now() * 1e3);

	while ((timing_now() * 1e3) - start < timeout_ms) {
		struct duress_err e = { 0 };
		char buf[128];
		uint64_t v;

		if (cg_read_buf(dir, "cgroup.events", buf, sizeof(buf), &e) < 0)
			return -1;
		if (cg_parse_keyed(buf, "frozen", &v) == 0 && (int)v == want)
			return (timing_now() * 1e3) - start;
		usleep(2000);
	}
	return -1;
}

static int freeze_apply(struct fault *f, struct duress_err *err)
{
	struct freeze_priv *p = f->priv;

	if (fault_cg_set(f, f->target->dir, "cgroup.freeze", "1", err) < 0)
		return -1;
	p->frozen = true;
	p->cycles = 1;
	p->time_to_freeze_ms = wait_frozen(f->target->dir, 1, 5000);
	if (p->time_to_freeze_ms < 0)
		fprintf(stderr, "duress: freeze: %s did not report frozen within 5s\n",
			f->target->dir);
	return 0;
}

static int freeze_tick(struct fault *f, uint64_t now_us, struct duress_err *err)
{
	struct freeze_priv *p = f->priv;
	uint64_t len = p->frozen ? p->on_us : p->off_us;

	if (!p->off_us || now_us - p->phase_start_us < len)
		return 0;
	if (p->frozen)
		p->frozen_us += now_us - p->phase_start_us;
	p->frozen = !p->frozen;
	p->phase_start_us = now_us;
	if (p->frozen)
		p->cycles++;
	return cg_write(f->target->dir, "cgroup.freeze", p->frozen ? "1" : "0", err);
}

static void freeze_report(struct fault *f, json_t *summary)
{
	struct freeze_priv *p = f->priv;

	json_object_set_new(summary, "freeze_cycles", json_integer(p->cycles));
	if (p->time_to_freeze_ms >= 0)
		json_object_set_new(summary, "time_to_freeze_ms",
				    json_real((double)(long)(p->time_to_freeze_ms * 10) / 10));
	if (p->off_us)
		json_object_set_new(summary, "frozen_s_before_last_phase",
				    json_real(p->frozen_us / 1e6));
}

const struct fault_desc fault_freeze = {
	.name = "freeze",
	.summary = "freeze every process of the target (cgroup.freeze), or cycle frozen/running",
	.opts = freeze_opts,
	.nopts = sizeof(freeze_opts) / sizeof(freeze_opts[0]),
	.priv_size = sizeof(struct freeze_priv),
	.validate = freeze_validate,
	.supported = freeze_supported,
	.plan = freeze_plan,
	.apply = freeze_apply,
	.tick = freeze_tick,
	.report = freeze_report,
};
