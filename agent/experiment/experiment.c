// SPDX-License-Identifier: MIT
/* The experiment runner; see include/duress/experiment.h. */
#include <duress/samples/sample_format.h>
#include <duress/experiment/journal.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/experiment.h>
#include <duress/core/timing.h>
#include <duress/core/proc.h>

#include <duress/experiment/probe.h>
#include <duress/samples/sample.h>
#include <duress/samples/summary.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TICK_USEC 100000
#define DEFAULT_PROBE_INTERVAL_US 1000000
#define MAX_PIDS 4096

struct probe_stats {
	unsigned runs, failures, consecutive;
	double *lat;
	size_t nlat, cap;
	json_t *timeline;
};

enum loop_mode {
	LOOP_PLAIN,    /* sample only */
	LOOP_METHOD,   /* + ticks, probes, abort checks, background expiry */
	LOOP_RECOVERY, /* + probes until they hold, pressure until it is back */
};

struct run {
	const struct experiment *x;
	const struct exp_opts *o;
	struct target *t;
	struct undo_log *undo;
	struct fault_run *faults;
	size_t nfaults;
	int sfd;
	double t0, t0_real;
	/* samples */
	struct sample prev;
	bool have_prev;
	json_t *first, *last;
	const char *phase;
	struct phase_stats before, during, after;
	double psi_before[SAMPLE_PSI_N];
	bool psi_known[SAMPLE_PSI_N];
	pid_t *pids_before;
	size_t npids_before;
	/* probes */
	struct probe_stats *ps;
	json_t *during_rounds;
	bool probe_failed_during;
	/* psi triggers */
	int trig_fd[ABORT_MAX_TRIGGERS];
	/* outcome */
	json_t *run_recs, *rollback_recs, *steady_before, *steady_after, *events;
	bool before_met, after_met, after_ran, applied_any;
	bool aborted;
	char abort_kind[32], abort_reason[512];
	double abort_at;
	int stop_signal;
	bool vanished;
	bool had_procs; /* the target had processes of its own at the first apply */
	int fail_code;
	double method_start, revert_at, revert_ms;
	struct undo_report rep;
	struct undo_report early; /* faults ended by their own duration */
	double recovery_s, pressure_recovery_s;
	bool recovered, pressure_back;
	struct live_status live; /* for the hooks' status */
};

static double now(const struct run *r)
{
	return timing_now() - r->t0;
}

static double round3(double v)
{
	return round(v * 1000) / 1000;
}

/* ---- the status for a live view ---- */

static void live_update(struct run *r, bool changed)
{
	r->live.now = now(r);
	if (r->o->hooks.status)
		r->o->hooks.status(r->o->hooks.ctx, &r->live, changed);
}

static void live_phase(struct run *r, const char *phase, double ends)
{
	r->live.phase = phase;
	r->live.phase_ends = ends;
	live_update(r, true);
}

/* The status of an action of the method or of the rollbacks. */
static struct live_action *live_act(struct run *r, const struct action *a)
{
	size_t i = 0;

	for (size_t k = 0; k < r->x->nmethod; k++, i++)
		if (&r->x->method[k] == a)
			return i < r->live.nactions ? &r->live.actions[i] : NULL;
	for (size_t k = 0; k < r->x->nrollback; k++, i++)
		if (&r->x->rollback[k] == a)
			return i < r->live.nactions ? &r->live.actions[i] : NULL;
	return NULL;
}

static void live_act_set(struct run *r, const struct action *a, enum live_state st, double ends)
{
	struct live_action *la = live_act(r, a);

	if (!la)
		return;
	la->state = st;
	la->ends = ends;
	live_update(r, true);
}

static void live_act_init(struct live_action *la, const struct action *a, bool rollback)
{
	snprintf(la->name, sizeof(la->name), "%s", a->name ? a->name : "");
	snprintf(la->kind, sizeof(la->kind), "%s",
		 rollback		? "rollback"
		 : a->type == ACT_FAULT ? a->fault->name
		 : a->type == ACT_PAUSE ? "pause"
		 : a->is_probe		? "probe"
					: "action");
	la->background = a->background;
}

static void live_init(struct run *r)
{
	const struct experiment *x = r->x;

	r->live.no_target = r->o->no_target;
	for (size_t i = 0; i < x->nmethod && r->live.nactions < LIVE_MAX_ACTIONS; i++)
		live_act_init(&r->live.actions[r->live.nactions++], &x->method[i], false);
	for (size_t i = 0; i < x->nrollback && r->live.nactions < LIVE_MAX_ACTIONS; i++)
		live_act_init(&r->live.actions[r->live.nactions++], &x->rollback[i], true);
	for (size_t i = 0; i < x->nsteady && i < LIVE_MAX_PROBES; i++)
		snprintf(r->live.probes[r->live.nprobes++].name, sizeof(r->live.probes[0].name),
			 "%s", x->steady[i].name ? x->steady[i].name : "");
}

/* A steady-state probe's run: the live view's history, and a line of
 * --probes (flushed: duress serve reads it while the run goes on). */
static void live_probe(struct run *r, size_t i, const struct probe_result *pr)
{
	json_t *o;

	if (i < r->live.nprobes)
		live_probe_push(&r->live.probes[i], pr->ok, pr->latency_ms);
	if (!r->o->probes)
		return;
	o = json_pack("{s:f, s:s, s:s, s:b, s:f}", "t", round3(now(r)), "phase",
		      r->live.phase ? r->live.phase : "", "probe",
		      r->x->steady[i].name ? r->x->steady[i].name : "", "ok", pr->ok, "latency_ms",
		      round3(pr->latency_ms));
	if (o && json_dumpf(o, r->o->probes, JSON_COMPACT) == 0) {
		fputc('\n', r->o->probes);
		fflush(r->o->probes);
	}
	json_decref(o);
}

static void say(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct run *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* the last one is the live view's EVENT line, quiet or not */
	n = snprintf(r->live.event, sizeof(r->live.event), "[%6.2fs] ", now(r));
	va_start(ap, fmt);
	vsnprintf(r->live.event + n, sizeof(r->live.event) - (size_t)n, fmt, ap);
	va_end(ap);
	live_update(r, true);
	if (r->o->quiet)
		return;
	fprintf(stderr, "duress: [%6.2fs] ", now(r));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void do_abort(struct run *r, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void do_abort(struct run *r, const char *kind, const char *fmt, ...)
{
	va_list ap;

	if (r->aborted)
		return;
	r->aborted = true;
	r->abort_at = now(r);
	snprintf(r->abort_kind, sizeof(r->abort_kind), "%s", kind);
	va_start(ap, fmt);
	vsnprintf(r->abort_reason, sizeof(r->abort_reason), fmt, ap);
	va_end(ap);
	snprintf(r->live.event, sizeof(r->live.event), "[%6.2fs] ABORT (%.24s): %.110s",
		 r->abort_at, kind, r->abort_reason);
	live_update(r, true);
	if (!r->o->own_messages)
		fprintf(stderr, "duress: ABORT (%s): %s; reverting everything\n", kind,
			r->abort_reason);
}

static bool stopping(const struct run *r)
{
	return r->aborted || r->stop_signal || r->vanished;
}

static void drain_timer(int fd)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
}

/* ---- records ---- */

static json_t *activity_record(const struct action *a, double start, double end, const char *status)
{
	json_t *j = json_object();
	char ts[64];

	json_object_set_new(j, "activity",
			    a && a->source ? mf_to_json_raw(a->source) : json_object());
	json_object_set_new(j, "status", json_string(status));
	journal_time(start, ts, sizeof(ts));
	json_object_set_new(j, "start", json_string(ts));
	journal_time(end, ts, sizeof(ts));
	json_object_set_new(j, "end", json_string(ts));
	json_object_set_new(j, "duration", json_real(round3(end - start)));
	return j;
}

static json_t *probe_record(const struct probe *p, const struct probe_result *pr, bool steady)
{
	json_t *j = json_object(), *act = json_object();
	bool failed = p->ctk ? pr->raised : !pr->ok && !steady;
	char ts[64];

	if (p->source) { /* the activity as written, tolerance and all */
		json_decref(act);
		act = mf_to_json_raw(p->source);
		goto recorded;
	}
	json_object_set_new(act, "type", json_string("probe"));
	json_object_set_new(act, "name", json_string(p->name ? p->name : "probe"));
	json_object_set_new(act, "provider",
			    json_pack("{s:s}", "type",
				      p->type == PROBE_HTTP	 ? "http"
				      : p->type == PROBE_PROCESS ? "process"
								 : "metric"));
recorded:
	json_object_set_new(j, "activity", act);
	json_object_set_new(j, "status", json_string(failed ? "failed" : "succeeded"));
	journal_time(pr->start, ts, sizeof(ts));
	json_object_set_new(j, "start", json_string(ts));
	journal_time(pr->end, ts, sizeof(ts));
	json_object_set_new(j, "end", json_string(ts));
	json_object_set_new(j, "duration", json_real(round3(pr->end - pr->start)));
	json_object_set_new(j, "output", pr->output ? json_incref(pr->output) : json_null());
	json_object_set_new(j, "latency_ms", json_real(round3(pr->latency_ms)));
	if (steady)
		json_object_set_new(j, "tolerance_met", json_boolean(pr->ok));
	if (p->ctk ? pr->raised : !pr->ok)
		json_object_set_new(j, "exception", json_pack("[s]", pr->reason));
	return j;
}

/* ---- samples ---- */

static void psi_avg(const struct sample *s, double out[SAMPLE_PSI_N], bool have[SAMPLE_PSI_N])
{
	for (int k = 0; k < SAMPLE_PSI_N; k++) {
		const struct psi *p = sample_psi(s, k);

		have[k] = p && p->some.present;
		out[k] = have[k] ? p->some.avg10 : 0;
	}
}

static void check_abort_metrics(struct run *r)
{
	for (size_t i = 0; i < r->x->abort.nmetrics; i++) {
		struct duress_err e = { 0 };
		double v;
		bool holds;

		if (metric_eval(&r->x->abort.metrics[i], r->last, r->first, &v, &holds, &e) == 0 &&
		    holds) {
			do_abort(r, "metric", "%s (%s is %g)", r->x->abort.metrics[i].text,
				 r->x->abort.metrics[i].key, v);
			return;
		}
	}
}

static int take(struct run *r, enum loop_mode mode)
{
	struct duress_err err = { 0 };
	struct sample s;
	json_t *j;

	if (r->o->no_target)
		return 0;
	if (sample_take(r->t, r->have_prev ? &r->prev : NULL, now(r), &s, &err) < 0) {
		if (err.errnum == ENOENT) {
			r->vanished = true;
			if (!r->o->own_messages)
				fprintf(stderr, "duress: the target vanished; ending the run\n");
		} else {
			duress_err_print(stderr, &err);
		}
		return -1;
	}
	s.phase = r->phase;
	if (!strcmp(r->phase, "before"))
		phase_stats_add(&r->before, &s);
	else if (!strcmp(r->phase, "during"))
		phase_stats_add(&r->during, &s);
	else
		phase_stats_add(&r->after, &s);
	j = sample_to_json(&s);
	/* the faults in force add their own counters (a proxy's requests) */
	for (size_t i = 0; j && i < r->nfaults; i++)
		fault_sample(&r->faults[i].f, j);
	if (r->o->samples && j) {
		/* flushed: a run killed outright keeps every sample taken */
		if (sample_jsonl_write(r->o->samples, j, &err) < 0)
			duress_err_print(stderr, &err);
		fflush(r->o->samples);
	}
	if (r->o->hooks.sample)
		r->o->hooks.sample(r->o->hooks.ctx, &s);
	if (!r->first)
		r->first = json_incref(j);
	json_decref(r->last);
	r->last = j;
	r->prev = s;
	r->have_prev = true;
	if (mode == LOOP_METHOD)
		check_abort_metrics(r);
	if (mode == LOOP_RECOVERY && !r->pressure_back) {
		double cur[3];
		bool have[3], back = true;

		psi_avg(&s, cur, have);
		for (int k = 0; k < 3; k++)
			if (have[k] && r->psi_known[k] &&
			    cur[k] > r->psi_before[k] + fmax(1.0, r->psi_before[k] * 0.1))
				back = false;
		if (back) {
			r->pressure_back = true;
			r->pressure_recovery_s = now(r) - r->revert_at;
			say(r, "pressure back to its level before the faults after %.2fs",
			    r->pressure_recovery_s);
		}
	}
	return 0;
}

/* ---- probes ---- */

static void probe_ctx(struct run *r, struct probe_ctx *c)
{
	c->target = r->t;
	c->sample = r->last;
	c->first_sample = r->first;
	c->no_tolerance = false;
}

/* Run every steady-state probe once; returns true when all hold.
 * `out` gets {steady_state_met, probes: [...]}. */
static bool steady_round(struct run *r, json_t **out)
{
	struct probe_ctx c;
	json_t *probes = json_array();
	bool met = true;

	probe_ctx(r, &c);
	for (size_t i = 0; i < r->x->nsteady; i++) {
		struct probe_result pr;

		probe_run(&r->x->steady[i], &c, &pr);
		live_probe(r, i, &pr);
		if (!pr.ok) {
			met = false;
			say(r, "probe '%s' failed: %s", r->x->steady[i].name, pr.reason);
		}
		json_array_append_new(probes, probe_record(&r->x->steady[i], &pr, true));
		probe_result_free(&pr);
		/* chaostoolkit-lib's hypothesis stops at the first probe not met */
		if (!met && r->x->ctk)
			break;
	}
	*out = json_pack("{s:b, s:o}", "steady_state_met", met, "probes", probes);
	return met;
}

/* A fault that hits the target (kill): the time from its last hit to the
 * first probe round that passes (0 when none failed in between). */
static void after_hits(struct run *r, bool met)
{
	for (size_t i = 0; i < r->nfaults; i++) {
		struct fault_run *fr = &r->faults[i];
		double at = 0, s;
		unsigned n = fault_hits(&fr->f, &at);

		if (n != fr->hits_seen) {
			if (!fr->hits_seen)
				fr->pass_again_s = -1;
			fr->hits_seen = n;
			fr->hit_at = at;
			fr->hit_pending = true;
			fr->hit_failed = false;
		}
		if (!fr->hit_pending)
			continue;
		if (!met) {
			fr->hit_failed = true;
			continue;
		}
		s = fr->hit_failed ? now(r) - fr->hit_at : 0;
		fr->hit_pending = false;
		if (s > fr->pass_again_s)
			fr->pass_again_s = s;
	}
}

/* A probe round during the method: error rate, latency, abort check. */
static void method_probes(struct run *r)
{
	struct probe_ctx c;
	json_t *round = json_array();
	bool met = true;

	probe_ctx(r, &c);
	for (size_t i = 0; i < r->x->nsteady && !r->aborted; i++) {
		const struct probe *p = &r->x->steady[i];
		struct probe_stats *ps = &r->ps[i];
		struct probe_result pr;
		json_t *point;

		probe_run(p, &c, &pr);
		live_probe(r, i, &pr);
		ps->runs++;
		if (ps->nlat == ps->cap) {
			size_t cap = ps->cap ? ps->cap * 2 : 64;
			double *v = realloc(ps->lat, cap * sizeof(*v));

			if (v) {
				ps->lat = v;
				ps->cap = cap;
			}
		}
		if (ps->nlat < ps->cap)
			ps->lat[ps->nlat++] = pr.latency_ms;
		point = json_pack("{s:f, s:b, s:f}", "t", round3(now(r) - r->method_start), "ok",
				  pr.ok, "latency_ms", round3(pr.latency_ms));
		if (!pr.ok)
			json_object_set_new(point, "reason", json_string(pr.reason));
		json_array_append_new(ps->timeline, point);
		json_array_append_new(round, probe_record(p, &pr, true));
		if (pr.ok) {
			ps->consecutive = 0;
		} else {
			met = false;
			ps->failures++;
			ps->consecutive++;
			r->probe_failed_during = true;
			say(r, "probe '%s' failed (%u in a row): %s", p->name, ps->consecutive,
			    pr.reason);
			if (r->x->abort.probe_failures &&
			    ps->consecutive >= r->x->abort.probe_failures)
				do_abort(r, "probe", "probe '%s' failed %u time%s in a row: %s",
					 p->name, ps->consecutive, ps->consecutive == 1 ? "" : "s",
					 pr.reason);
		}
		probe_result_free(&pr);
	}
	json_array_append_new(r->during_rounds,
			      json_pack("{s:b, s:o}", "steady_state_met", met, "probes", round));
	after_hits(r, met);
}

static void recovery_probes(struct run *r)
{
	json_t *round;

	if (r->recovered)
		return;
	if (steady_round(r, &round)) {
		after_hits(r, true);
		r->recovered = true;
		r->recovery_s = now(r) - r->revert_at;
		say(r, "steady-state probes hold again %.2fs after the revert", r->recovery_s);
	}
	json_decref(round);
}

/* ---- faults ---- */

/* A fault whose own duration is over: revert its steps, newest first. */
static void end_fault(struct run *r, struct fault_run *fr)
{
	if (!fault_in_force(&fr->f))
		return;
	fault_stop(&fr->f, now(r));
	live_act_set(r, fr->a, LIVE_DONE, 0);
	undo_report_add(&r->early, &fr->f.stop_rep);
	for (size_t i = 0;
	     i < fr->f.stop_rep.failed && i < DURESS_ARRAY_SIZE(fr->f.stop_rep.failures); i++)
		say(r, "%s fault '%s': not reverted yet (tried again at the end): %s",
		    fr->f.desc->name, fr->a->name, fr->f.stop_rep.failures[i]);
	say(r, "%s fault '%s' ended (in force %.2fs), reverted", fr->f.desc->name, fr->a->name,
	    fr->f.ended_at - fr->f.started_at);
}

static void tick_faults(struct run *r)
{
	/* A container whose processes all exited is gone, and so is a
	 * cgroup removed: stop before a fault restarts workers into it (and
	 * keeps its cgroup alive). */
	bool may_empty = false;

	/* ... unless a fault ends processes itself (kill): until its
	 * supervisor restarts them the cgroup may be empty */
	for (size_t i = 0; i < r->nfaults; i++)
		may_empty = may_empty || fault_may_empty(&r->faults[i].f);
	if (!r->o->no_target &&
	    ((r->had_procs && !may_empty && target_own_procs(r->t) <= 0) || !target_alive(r->t))) {
		r->vanished = true;
		return;
	}
	for (size_t i = 0; i < r->nfaults; i++) {
		struct fault_run *fr = &r->faults[i];
		struct duress_err e = { 0 };

		if (!fault_in_force(&fr->f))
			continue;
		if (now(r) >= fr->ends_at) {
			end_fault(r, fr);
			continue;
		}
		if (fault_tick(&fr->f, now(r), &e) < 0) {
			if (!r->o->no_target && !target_alive(r->t))
				r->vanished = true;
			else
				duress_err_print(stderr, &e);
		}
	}
}

static int apply_fault(struct run *r, struct fault_run *fr)
{
	struct duress_err e = { 0 };

	if (!r->applied_any)
		r->had_procs = !r->o->no_target && target_own_procs(r->t) > 0;
	r->applied_any = true;
	if (fault_start(&fr->f, now(r), &e) < 0) {
		/* its cgroup went away under it: the target vanished, nothing
		 * failed (what it did record is reverted with the rest) */
		if (!r->o->no_target && !target_alive(r->t)) {
			r->vanished = true;
			if (!r->o->own_messages)
				fprintf(stderr,
					"duress: the target vanished while the %s fault "
					"'%s' was being applied\n",
					fr->f.desc->name, fr->a->name);
			return -1;
		}
		if (!r->o->own_messages)
			fprintf(stderr, "duress: %s fault '%s' could not be applied: %s\n",
				fr->f.desc->name, fr->a->name, e.msg);
		if (r->o->hooks.fault_failed)
			r->o->hooks.fault_failed(r->o->hooks.ctx, fr, &e);
		live_act_set(r, fr->a, LIVE_FAILED, 0);
		r->fail_code = e.code ? e.code : DURESS_EXIT_INTERNAL;
		do_abort(r, "fault", "the %s fault '%s' could not be applied: %s", fr->f.desc->name,
			 fr->a->name, e.msg);
		return -1;
	}
	fr->ok = true;
	fr->ends_at = fr->f.started_at + (double)fr->a->duration_us / 1e6;
	live_act_set(r, fr->a, LIVE_ON, fr->ends_at);
	say(r, "%s fault '%s' in force for %.1fs%s", fr->f.desc->name, fr->a->name,
	    (double)fr->a->duration_us / 1e6, fr->a->background ? " (background)" : "");
	if (r->o->hooks.fault_started)
		r->o->hooks.fault_started(r->o->hooks.ctx, fr);
	/* what the target looks like the moment it is in force */
	take(r, LOOP_METHOD);
	return 0;
}

/* ---- the loop ---- */

static bool faults_active(const struct run *r)
{
	for (size_t i = 0; i < r->nfaults; i++)
		if (fault_in_force(&r->faults[i].f))
			return true;
	return false;
}

static void open_triggers(struct run *r)
{
	for (size_t i = 0; i < r->x->abort.ntriggers; i++) {
		const struct psi_trigger *pt = &r->x->abort.triggers[i];
		struct duress_err e = { 0 };

		r->trig_fd[i] = cg_psi_trigger(r->t->dir, pt->resource, pt->full, pt->stall_us,
					       pt->window_us, &e);
		if (r->trig_fd[i] < 0)
			fprintf(stderr, "duress: %s; the abort metrics still apply\n", e.msg);
	}
}

/*
 * Run until `until` (run clock), or earlier when stopping (abort, signal,
 * vanished) or, in recovery, when the probes hold and pressure is back.
 */
static void loop(struct run *r, double until, enum loop_mode mode)
{
	uint64_t piv = r->x->probe_interval_us ? r->x->probe_interval_us
					       : DEFAULT_PROBE_INTERVAL_US;
	bool probing = r->x->nsteady &&
		       ((mode == LOOP_METHOD && r->x->probe_interval_us) || mode == LOOP_RECOVERY);
	cleanup_close int sample_fd = timing_periodic_fd(r->x->sample_interval_us);
	cleanup_close int tick_fd = mode == LOOP_METHOD ? timing_periodic_fd(TICK_USEC) : -1;
	cleanup_close int probe_fd = probing ? timing_periodic_fd(piv) : -1;

	while (!stopping(r)) {
		struct pollfd pfd[4 + ABORT_MAX_TRIGGERS];
		double left = until - now(r);
		size_t n = 0;

		if (left <= 0)
			return;
		if (mode == LOOP_RECOVERY && (r->recovered || !r->x->nsteady) && r->pressure_back)
			return;
		if (mode == LOOP_METHOD && r->x->abort.max_duration_us &&
		    now(r) >= (double)r->x->abort.max_duration_us / 1e6) {
			do_abort(r, "wall-clock", "the run reached abort.max_duration (%.1fs)",
				 (double)r->x->abort.max_duration_us / 1e6);
			return;
		}
		pfd[n++] = (struct pollfd){ .fd = r->sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sample_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = tick_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = probe_fd, .events = POLLIN };
		for (size_t i = 0; i < r->x->abort.ntriggers; i++)
			pfd[n++] = (struct pollfd){ .fd = mode == LOOP_METHOD ? r->trig_fd[i] : -1,
						    .events = POLLPRI };
		if (poll(pfd, n, (int)(left * 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(r->sfd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGPIPE) {
				r->stop_signal = (int)si.ssi_signo;
				if (!r->o->own_messages)
					fprintf(stderr,
						"duress: %s: stopping; reverting everything\n",
						strsignal(r->stop_signal));
				return;
			}
		}
		for (size_t i = 4; i < n; i++)
			if (pfd[i].revents & (POLLPRI | POLLERR)) {
				const struct psi_trigger *pt = &r->x->abort.triggers[i - 4];

				do_abort(r, "pressure",
					 "PSI trigger: %s %s stalled %.0f ms within "
					 "%.0f ms",
					 pt->resource, pt->full ? "full" : "some",
					 pt->stall_us / 1e3, pt->window_us / 1e3);
				return;
			}
		/* the sample first: it sees the faults as they were in force
		 * during the interval, before a tick ends one (and none is
		 * ticked once stopping, so none restarts into a dying run) */
		if (pfd[1].revents & POLLIN) {
			drain_timer(sample_fd);
			take(r, mode);
		}
		if (pfd[2].revents & POLLIN) {
			drain_timer(tick_fd);
			if (!stopping(r))
				tick_faults(r);
		}
		if (!stopping(r) && (pfd[3].revents & POLLIN)) {
			drain_timer(probe_fd);
			if (mode == LOOP_METHOD)
				method_probes(r);
			else
				recovery_probes(r);
		}
		live_update(r, false); /* the countdowns */
	}
}

/* ---- the run ---- */

static void read_pids(struct run *r, pid_t **out, size_t *n)
{
	struct duress_err e = { 0 };

	*out = NULL;
	*n = 0;
	if (r->o->no_target || cg_procs(r->t->dir, out, n, &e) < 0) {
		*out = NULL;
		*n = 0;
	}
}

static bool has_pid(const pid_t *v, size_t n, pid_t p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == p)
			return true;
	return false;
}

static void run_action(struct run *r, const struct action *a, json_t *recs,
		       struct fault_run **next_fault)
{
	double start = timing_real();
	json_t *rec;

	if (a->pause_before_us)
		loop(r, now(r) + (double)a->pause_before_us / 1e6,
		     recs == r->run_recs ? LOOP_METHOD : LOOP_PLAIN);
	if (stopping(r))
		return;
	switch (a->type) {
	case ACT_FAULT: {
		struct fault_run *fr = (*next_fault)++;

		say(r, "action '%s': %s fault", a->name, a->fault->name);
		if (apply_fault(r, fr) == 0 && !a->background)
			loop(r, fr->ends_at, LOOP_METHOD);
		/* on abort or a signal the one revert below takes it with the rest */
		if (!a->background && !stopping(r))
			end_fault(r, fr);
		return; /* its record is made at the end (report, in-force time) */
	}
	case ACT_PAUSE:
		live_act_set(r, a, LIVE_ON, now(r) + (double)a->duration_us / 1e6);
		say(r, "pause '%s' for %.1fs", a->name, (double)a->duration_us / 1e6);
		loop(r, now(r) + (double)a->duration_us / 1e6,
		     recs == r->run_recs ? LOOP_METHOD : LOOP_PLAIN);
		live_act_set(r, a, LIVE_DONE, 0);
		rec = activity_record(a, start, timing_real(), "succeeded");
		json_object_set_new(rec, "output", json_null());
		json_array_append_new(recs, rec);
		break;
	case ACT_PROBE: {
		struct probe_ctx c;
		struct probe_result pr;

		bool ok;

		probe_ctx(r, &c);
		c.no_tolerance = true;
		live_act_set(r, a, LIVE_ON, 0);
		probe_run(&a->probe, &c, &pr);
		/* Chaos Toolkit: only an activity that raised failed (an http 503
		 * or an exit code 1 is its output; no tolerance in the method) */
		ok = a->probe.ctk ? !pr.raised : pr.ok;
		live_act_set(r, a, ok ? LIVE_DONE : LIVE_FAILED, 0);
		say(r, "%s '%s': %s%s%s", a->is_probe ? "probe" : "action", a->name,
		    ok ? "succeeded" : "failed", ok ? "" : ": ", ok ? "" : pr.reason);
		rec = activity_record(a, pr.start, pr.end, ok ? "succeeded" : "failed");
		json_object_set_new(rec, "output",
				    pr.output ? json_incref(pr.output) : json_null());
		if (!ok)
			json_object_set_new(rec, "exception", json_pack("[s]", pr.reason));
		json_array_append_new(recs, rec);
		probe_result_free(&pr);
		break;
	}
	}
	if (a->pause_after_us && !stopping(r))
		loop(r, now(r) + (double)a->pause_after_us / 1e6,
		     recs == r->run_recs ? LOOP_METHOD : LOOP_PLAIN);
}

static json_t *fault_record(struct run *r, struct fault_run *fr)
{
	const struct fault *f = &fr->f;
	double start = r->t0_real + f->started_at;
	double end = r->t0_real + (f->ended ? f->ended_at : r->revert_at);
	json_t *rec = activity_record(fr->a, start, end, f->started ? "succeeded" : "failed");
	json_t *out = json_object(), *plan = json_array(), *rep = json_object();

	for (size_t i = 0; i < f->nplan; i++)
		json_array_append_new(plan, json_string(f->plan[i]));
	fault_report(&fr->f, rep);
	json_object_set_new(out, "fault", json_string(f->desc->name));
	json_object_set_new(out, "plan", plan);
	json_object_set_new(out, "applied_at_s",
			    json_real(round3(f->started_at - r->method_start)));
	json_object_set_new(
		out, "in_force_s",
		json_real(round3((f->ended ? f->ended_at : r->revert_at) - f->started_at)));
	json_object_set_new(out, "undo_steps", json_integer((json_int_t)f->nsteps));
	json_object_set_new(out, "background", json_boolean(fr->a->background));
	json_object_set_new(out, "fault_report", rep);
	if (fr->hits_seen && r->x->nsteady)
		json_object_set_new(out, "probes_pass_again_s",
				    fr->pass_again_s >= 0 ? json_real(round3(fr->pass_again_s))
							  : json_null());
	json_object_set_new(rec, "output", out);
	return rec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static json_t *probe_stats_json(struct run *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < r->x->nsteady; i++) {
		struct probe_stats *ps = &r->ps[i];
		json_t *o = json_object(), *lat = json_object();
		double sum = 0;

		json_object_set_new(o, "name", json_string(r->x->steady[i].name));
		json_object_set_new(o, "runs", json_integer(ps->runs));
		json_object_set_new(o, "failures", json_integer(ps->failures));
		json_object_set_new(o, "error_rate",
				    json_real(ps->runs ? round3((double)ps->failures / ps->runs)
						       : 0));
		if (ps->nlat) {
			qsort(ps->lat, ps->nlat, sizeof(double), cmp_double);
			for (size_t k = 0; k < ps->nlat; k++)
				sum += ps->lat[k];
			json_object_set_new(lat, "mean", json_real(round3(sum / ps->nlat)));
			json_object_set_new(lat, "p50", json_real(round3(ps->lat[ps->nlat / 2])));
			json_object_set_new(
				lat, "p95",
				json_real(round3(ps->lat[(ps->nlat * 95) / 100 < ps->nlat
								 ? (ps->nlat * 95) / 100
								 : ps->nlat - 1])));
			json_object_set_new(lat, "max", json_real(round3(ps->lat[ps->nlat - 1])));
		}
		json_object_set_new(o, "latency_ms", lat);
		json_object_set_new(o, "timeline", json_incref(ps->timeline));
		json_array_append_new(arr, o);
	}
	return arr;
}

static void add_event(json_t *events, const char *kind, double value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_event(json_t *events, const char *kind, double value, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_array_append_new(events, json_pack("{s:s, s:f, s:s}", "kind", kind, "value", value,
						"detail", detail));
}

/* Kernel-side events from the last sample before the faults to the end. */
static void kernel_events(struct run *r)
{
	const struct sample *b = &r->before.last, *e = &r->prev;
	pid_t *now_pids;
	size_t nnow, gone = 0, fresh = 0;
	uint64_t d;

	r->events = json_array();
	if (!r->before.n || !r->have_prev)
		return;
	d = phase_delta(&b->memory.ev_oom_kill, &e->memory.ev_oom_kill);
	if (d)
		add_event(r->events, "oom_kill", (double)d,
			  "%llu process%s of the target killed by the OOM killer (memory.events "
			  "oom_kill)",
			  (unsigned long long)d, d == 1 ? "" : "es");
	d = phase_delta(&b->memory.ev_max, &e->memory.ev_max);
	if (d)
		add_event(r->events, "memory_max", (double)d,
			  "memory.max reached %llu times (reclaim at the limit)",
			  (unsigned long long)d);
	d = phase_delta(&b->memory.ev_high, &e->memory.ev_high);
	if (d)
		add_event(r->events, "memory_high", (double)d,
			  "memory.high exceeded %llu times (throttled reclaim)",
			  (unsigned long long)d);
	d = phase_delta(&b->cpu.nr_throttled, &e->cpu.nr_throttled);
	if (d)
		add_event(r->events, "cpu_throttled", (double)d,
			  "CPU throttled in %llu periods (%.3f s; cpu.stat)", (unsigned long long)d,
			  (double)phase_delta(&b->cpu.throttled_usec, &e->cpu.throttled_usec) /
				  1e6);
	for (int k = 0; k < SAMPLE_PSI_N; k++) {
		const char *const *res = sample_psi_names;

		if (r->during.has_psi[k] && r->during.psi_some_peak[k] > r->x->silent_pressure_pct)
			add_event(r->events, "pressure", r->during.psi_some_peak[k],
				  "%s pressure peaked at %.1f%% (some avg10) above the %.1f%% "
				  "threshold",
				  res[k], r->during.psi_some_peak[k], r->x->silent_pressure_pct);
	}
	read_pids(r, &now_pids, &nnow);
	for (size_t i = 0; i < r->npids_before; i++)
		gone += !has_pid(now_pids, nnow, r->pids_before[i]);
	for (size_t i = 0; i < nnow; i++)
		fresh += !has_pid(r->pids_before, r->npids_before, now_pids[i]);
	if (gone || fresh)
		add_event(r->events, "process_restart", (double)(gone > fresh ? gone : fresh),
			  "%zu process%s of the target exited and %zu started since the baseline",
			  gone, gone == 1 ? "" : "es", fresh);
	free(now_pids);
}

static const char *verdict(const struct run *r)
{
	if (r->stop_signal)
		return "interrupted";
	if (r->aborted)
		return "aborted";
	if (!r->before_met)
		return "not-steady-before";
	if (r->after_ran && !r->after_met)
		return "deviated";
	return "held";
}

/* Python's platform.platform() on Linux: Linux-RELEASE-MACHINE-with-glibcX.Y */
static const char *platform_name(char *buf, size_t len)
{
	struct utsname u;

	if (uname(&u) < 0)
		return "Linux";
	snprintf(buf, len, "%s-%s-%s-with-glibc%s", u.sysname, u.release, u.machine,
		 gnu_get_libc_version());
	return buf;
}

static json_t *build_journal(struct run *r, int code, double end_real)
{
	json_t *j = json_object(), *d = json_object(), *steady = json_object(), *phases;
	json_t *rev = json_object(), *fails = json_array(), *rec = json_object(), *ev;
	json_t *silent = json_array(), *faults = json_array();
	const char *v = verdict(r), *status;
	char ts[64], host[256] = "", pf[512];
	size_t i;

	status = r->stop_signal					       ? "interrupted"
		 : r->aborted					       ? "aborted"
		 : (!r->before_met || (r->after_ran && !r->after_met)) ? "failed"
								       : "completed";
	gethostname(host, sizeof(host) - 1);
	/* chaostoolkit-lib: its __version__ and platform.platform() */
	json_object_set_new(j, "chaoslib-version", json_string("duress " DURESS_VERSION));
	json_object_set_new(j, "platform", json_string(platform_name(pf, sizeof(pf))));
	json_object_set_new(j, "node", json_string(host));
	json_object_set_new(j, "experiment", json_incref(r->x->source));
	journal_time(r->t0_real, ts, sizeof(ts));
	json_object_set_new(j, "start", json_string(ts));
	journal_time(end_real, ts, sizeof(ts));
	json_object_set_new(j, "end", json_string(ts));
	json_object_set_new(j, "duration", json_real(round3(end_real - r->t0_real)));
	json_object_set_new(j, "status", json_string(status));
	json_object_set_new(j, "deviated", json_boolean(r->after_ran && !r->after_met));
	json_object_set_new(steady, "before",
			    r->steady_before ? json_incref(r->steady_before) : json_null());
	json_object_set_new(steady, "after",
			    r->steady_after ? json_incref(r->steady_after) : json_null());
	json_object_set_new(steady, "during", json_incref(r->during_rounds));
	json_object_set_new(j, "steady_states", steady);
	json_object_set_new(j, "run", json_incref(r->run_recs));
	json_object_set_new(j, "rollbacks", json_incref(r->rollback_recs));

	json_object_set_new(d, "format", json_string(r->x->ctk ? "chaostoolkit" : "duress"));
	json_object_set_new(d, "verdict", json_string(v));
	json_object_set_new(d, "exit_code", json_integer(code));
	json_object_set_new(d, "target",
			    r->o->no_target
				    ? json_null()
				    : json_pack("{s:s, s:s}", "dir", r->t->dir, "kind",
						r->t->kind == TARGET_SANDBOX	 ? "sandbox"
						: r->t->kind == TARGET_CONTAINER ? "container"
						: r->t->kind == TARGET_PID	 ? "pid"
										 : "cgroup"));
	if (r->aborted)
		json_object_set_new(d, "abort",
				    json_pack("{s:s, s:s, s:f}", "kind", r->abort_kind, "reason",
					      r->abort_reason, "at_s",
					      round3(r->abort_at - r->method_start)));
	else
		json_object_set_new(d, "abort", json_null());
	phases = json_object();
	json_object_set_new(phases, "before", phase_stats_json(&r->before, NULL));
	json_object_set_new(phases, "during", phase_stats_json(&r->during, &r->before));
	json_object_set_new(phases, "after", phase_stats_json(&r->after, &r->during));
	json_object_set_new(d, "phases", phases);
	json_object_set_new(rev, "ms", json_real(round(r->revert_ms * 10) / 10));
	json_object_set_new(rev, "reverted",
			    json_integer((json_int_t)(r->rep.reverted + r->early.reverted)));
	json_object_set_new(rev, "at_end", json_integer((json_int_t)r->rep.reverted));
	json_object_set_new(rev, "already_gone", json_integer((json_int_t)r->rep.gone));
	for (i = 0; i < r->rep.failed && i < DURESS_ARRAY_SIZE(r->rep.failures); i++)
		json_array_append_new(fails, json_string(r->rep.failures[i]));
	for (i = 0; i < r->early.failed && i < DURESS_ARRAY_SIZE(r->early.failures); i++)
		json_array_append_new(fails, json_string(r->early.failures[i]));
	json_object_set_new(rev, "not_reverted", fails);
	json_object_set_new(rev, "at_s",
			    r->applied_any ? json_real(round3(r->revert_at - r->method_start))
					   : json_null());
	json_object_set_new(d, "revert", rev);
	json_object_set_new(rec, "timeout_s", json_real(r->x->recovery_timeout_us / 1e6));
	json_object_set_new(rec, "probes_s",
			    r->recovered ? json_real(round3(r->recovery_s)) : json_null());
	json_object_set_new(rec, "pressure_s",
			    r->pressure_back ? json_real(round3(r->pressure_recovery_s))
					     : json_null());
	json_object_set_new(rec, "pressure_before",
			    json_pack("{s:f, s:f, s:f}", "cpu", r->psi_before[0], "memory",
				      r->psi_before[1], "io", r->psi_before[2]));
	json_object_set_new(d, "recovery", rec);
	json_object_set_new(d, "probes", probe_stats_json(r));
	json_object_set_new(d, "kernel_events", json_incref(r->events));
	json_array_foreach(r->events, i, ev)
		if (!r->probe_failed_during)
			json_array_append(silent, ev);
	json_object_set_new(d, "silent_failures", silent);
	for (i = 0; i < r->nfaults; i++)
		if (r->faults[i].f.started)
			json_array_append_new(faults,
					      json_pack("{s:s, s:s}", "name", r->faults[i].a->name,
							"fault", r->faults[i].f.desc->name));
	json_object_set_new(d, "faults", faults);
	/* the run clock of the samples' `t` (s since the run began), for
	 * reports that put samples, actions and probes on one axis */
	json_object_set_new(
		d, "timeline",
		json_pack("{s:o, s:o, s:o, s:f}", "method_start_s",
			  r->method_start > 0 ? json_real(round3(r->method_start)) : json_null(),
			  "revert_at_s",
			  r->applied_any ? json_real(round3(r->revert_at)) : json_null(),
			  "abort_at_s", r->aborted ? json_real(round3(r->abort_at)) : json_null(),
			  "end_s", round3(end_real - r->t0_real)));
	json_object_set_new(j, "duress", d);
	return j;
}

int experiment_run(const struct experiment *x, struct target *t, struct fault_run *faults,
		   size_t nfaults, struct undo_log *undo, int sfd, const struct exp_opts *o,
		   json_t **journal, struct exp_result *res)
{
	struct run rr = { .x = x,
			  .o = o,
			  .t = t,
			  .undo = undo,
			  .faults = faults,
			  .nfaults = nfaults,
			  .sfd = sfd };
	struct run *r = &rr;
	struct fault_run *next_fault = faults;
	double t0;
	int code;

	if (!o->no_target || nfaults) /* nothing to revert in a probe-only run */
		proc_protect_self();
	r->t0 = timing_now();
	r->t0_real = timing_real();
	r->phase = "before";
	r->run_recs = json_array();
	r->rollback_recs = json_array();
	r->during_rounds = json_array();
	r->ps = calloc(x->nsteady + 1, sizeof(*r->ps));
	for (size_t i = 0; i < x->nsteady && r->ps; i++)
		r->ps[i].timeline = json_array();
	for (size_t i = 0; i < ABORT_MAX_TRIGGERS; i++)
		r->trig_fd[i] = -1;
	phase_stats_init(&r->before);
	phase_stats_init(&r->during);
	phase_stats_init(&r->after);
	if (!r->ps) {
		fprintf(stderr, "duress: out of memory\n");
		return DURESS_EXIT_INTERNAL;
	}

	live_init(r);
	live_phase(r, "baseline", (double)x->baseline_us / 1e6);
	/* baseline, then the steady state before */
	take(r, LOOP_PLAIN);
	if (x->baseline_us)
		loop(r, (double)x->baseline_us / 1e6, LOOP_PLAIN);
	read_pids(r, &r->pids_before, &r->npids_before);
	if (r->before.n) {
		/* the baseline's last avg10 is the level pressure must come back to */
		bool have[3];

		psi_avg(&r->before.last, r->psi_before, have);
		for (int k = 0; k < 3; k++)
			r->psi_known[k] = have[k];
	}
	if (!stopping(r)) {
		live_phase(r, "steady state before", 0);
		r->before_met = steady_round(r, &r->steady_before);
		say(r, "steady state before: %s", r->before_met ? "met" : "NOT met");
	}

	/* the method */
	if (r->before_met && !stopping(r)) {
		r->phase = "during";
		r->method_start = now(r);
		live_phase(r, "method", 0);
		open_triggers(r);
		for (size_t i = 0; i < x->nmethod && !stopping(r); i++)
			run_action(r, &x->method[i], r->run_recs, &next_fault);
		/* background faults with time left run it out */
		while (!stopping(r) && faults_active(r)) {
			double until = 0;

			for (size_t i = 0; i < nfaults; i++)
				if (fault_in_force(&faults[i].f) && faults[i].ends_at > until)
					until = faults[i].ends_at;
			loop(r, until + 0.001, LOOP_METHOD);
			if (!stopping(r))
				tick_faults(r);
		}
	}

	/* one revert covers every fault */
	t0 = timing_now();
	undo_revert_all(undo, &r->rep);
	/* A step a fault's early end could not revert (a hog's cgroup still
	 * emptying on a loaded host) was tried again just now, with every
	 * other: what still failed is in r->rep; the early failures are not
	 * counted twice, nor against steps now reverted. */
	r->early.failed = 0;
	r->revert_ms = (timing_now() - t0) * 1e3;
	r->revert_at = now(r);
	for (size_t i = 0; i < nfaults; i++) {
		fault_ended(&faults[i].f, r->revert_at);
		if (faults[i].ok)
			live_act_set(r, faults[i].a, LIVE_DONE, 0);
	}
	for (size_t i = 0; i < ABORT_MAX_TRIGGERS; i++)
		if (r->trig_fd[i] >= 0)
			close(r->trig_fd[i]);
	if (r->applied_any)
		say(r, "reverted everything in %.1f ms (%zu undone, %zu already gone, %zu failed)",
		    r->revert_ms, r->rep.reverted, r->rep.gone, r->rep.failed);
	r->phase = "after";

	/* rollbacks, recovery, steady state after */
	if (r->before_met && !r->stop_signal && !r->vanished) {
		bool was_aborted = r->aborted;

		r->aborted = false; /* the rollbacks and the recovery run after an abort too */
		if (x->nrollback)
			live_phase(r, "rollback", 0);
		for (size_t i = 0; i < x->nrollback && !stopping(r); i++)
			run_action(r, &x->rollback[i], r->rollback_recs, &next_fault);
		/* nothing to wait for without probes or time (inject) */
		if (r->applied_any && !stopping(r) && (x->nsteady || x->recovery_timeout_us)) {
			live_phase(r, "recovering",
				   r->revert_at + (double)x->recovery_timeout_us / 1e6);
			take(r, LOOP_RECOVERY);
			recovery_probes(r);
			loop(r, r->revert_at + (double)x->recovery_timeout_us / 1e6, LOOP_RECOVERY);
			if (!r->recovered && x->nsteady)
				say(r, "steady-state probes did not hold within recovery_timeout");
		}
		if (!stopping(r)) {
			live_phase(r, "steady state after", 0);
			take(r, LOOP_PLAIN);
			r->after_met = steady_round(r, &r->steady_after);
			r->after_ran = true;
			say(r, "steady state after: %s",
			    r->after_met ? "met" : "NOT met (deviated)");
		}
		r->aborted = was_aborted || r->aborted;
	} else if (r->stop_signal && !r->vanished) {
		take(r, LOOP_PLAIN); /* what the target looks like once reverted */
	}
	/* the faults' records once recovery is measured too (a kill's
	 * probes_pass_again_s may come from a recovery round) */
	for (size_t i = 0; i < nfaults; i++)
		if (faults[i].f.started)
			json_array_append_new(r->run_recs, fault_record(r, &faults[i]));
	kernel_events(r);

	if (r->rep.failed || r->early.failed) {
		for (size_t i = 0; !o->own_messages && i < r->rep.failed &&
				   i < DURESS_ARRAY_SIZE(r->rep.failures);
		     i++)
			fprintf(stderr, "duress: NOT REVERTED: %s\n", r->rep.failures[i]);
		code = DURESS_EXIT_NOT_REVERTED;
	} else if (r->stop_signal) {
		code = DURESS_EXIT_INTERRUPTED;
	} else if (r->fail_code) {
		code = r->fail_code;
	} else if (r->aborted || r->vanished) {
		if (r->vanished && !r->aborted)
			do_abort(r, "target", "the target vanished");
		code = DURESS_EXIT_ABORTED;
	} else if (!r->before_met || (r->after_ran && !r->after_met)) {
		code = DURESS_EXIT_FAILED;
	} else {
		code = DURESS_EXIT_OK;
	}
	live_phase(r, "done", 0);
	*journal = build_journal(r, code, timing_real());
	if (res) {
		res->stop_signal = r->stop_signal;
		res->vanished = r->vanished;
		res->aborted = r->aborted;
		res->revert = r->rep;
		res->revert_ms = r->revert_ms;
		res->revert_at = r->revert_at;
		res->before = r->before;
		res->during = r->during;
		res->after = r->after;
	}

	json_decref(r->first);
	json_decref(r->last);
	json_decref(r->run_recs);
	json_decref(r->rollback_recs);
	json_decref(r->during_rounds);
	json_decref(r->steady_before);
	json_decref(r->steady_after);
	json_decref(r->events);
	for (size_t i = 0; i < x->nsteady; i++) {
		free(r->ps[i].lat);
		json_decref(r->ps[i].timeline);
	}
	free(r->ps);
	free(r->pids_before);
	return code;
}

void experiment_one(struct experiment *x, struct action *a, struct fault_run *fr,
		    uint64_t duration_us, uint64_t baseline_us, uint64_t interval_us)
{
	memset(x, 0, sizeof(*x));
	memset(a, 0, sizeof(*a));
	a->type = ACT_FAULT;
	a->fault = fr->f.desc;
	a->name = fr->f.desc->name;
	a->duration_us = duration_us;
	x->title = fr->f.desc->name;
	x->duration_us = duration_us;
	x->sample_interval_us = interval_us;
	x->baseline_us = baseline_us;
	x->method = a;
	x->nmethod = 1;
	fr->a = a;
}
