// SPDX-License-Identifier: MIT
/* The fault registry, option tables, and what every fault shares. */
#include <duress/targets/cgview.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct fault_desc *const faults[] = {
#define FAULT(sym) &sym,
#include <duress/faults/faults.h>
#undef FAULT
};

const struct fault_desc *fault_find(const char *name)
{
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(faults); i++)
		if (!strcmp(faults[i]->name, name))
			return faults[i];
	return NULL;
}

void fault_for_each(void (*fn)(const struct fault_desc *d, void *data), void *data)
{
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(faults); i++)
		fn(faults[i], data);
}

int fault_init(struct fault *f, const struct fault_desc *desc, struct duress_err *err)
{
	memset(f, 0, sizeof(*f));
	f->desc = desc;
	f->vals = calloc(desc->nopts ? desc->nopts : 1, sizeof(*f->vals));
	f->priv = calloc(1, desc->priv_size ? desc->priv_size : 1);
	if (!f->vals || !f->priv) {
		fault_free(f);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "fault %s", desc->name);
	}
	return 0;
}

void fault_free(struct fault *f)
{
	if (f->desc && f->desc->release && f->priv)
		f->desc->release(f);
	free(f->steps);
	if (f->vals)
		for (size_t i = 0; i < f->desc->nopts; i++)
			free(f->vals[i].list);
	free(f->vals);
	free(f->priv);
	for (size_t i = 0; i < f->nplan; i++)
		free(f->plan[i]);
	memset(f, 0, sizeof(*f));
}

int fault_opt_index(const struct fault_desc *d, const char *name)
{
	for (size_t i = 0; i < d->nopts; i++)
		if (!strcmp(d->opts[i].name, name))
			return (int)i;
	return -1;
}

const struct fault_val *fault_opt(const struct fault *f, const char *name)
{
	static const struct fault_val unset;
	int i = fault_opt_index(f->desc, name);

	return i < 0 ? &unset : &f->vals[i];
}

static int check_bounds(const struct fault_opt *o, double v, const char *text, const char *what,
			struct duress_err *err)
{
	if (v < o->min)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: '%s': must be at least %g",
				       what, text, o->min);
	if (o->max > 0 && v > o->max)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: '%s': must be at most %g",
				       what, text, o->max);
	return 0;
}

int fault_opt_set(struct fault *f, int idx, const char *text, const char *what,
		  struct duress_err *err)
{
	const struct fault_opt *o = &f->desc->opts[idx];
	struct fault_val *v = &f->vals[idx];
	struct duress_err e = { 0 };
	char *end;

	if (o->type != FOPT_FLAG && (!text || !*text))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: needs a value (%s)", what,
				       o->metavar ? o->metavar : "value");
	switch (o->type) {
	case FOPT_FLAG:
		v->u = 1;
		break;
	case FOPT_UINT:
		if (parse_uint(text, what, (uint64_t)o->min,
			       o->max > 0 ? (uint64_t)o->max : UINT64_MAX, &v->u, &e) < 0)
			goto usage;
		break;
	case FOPT_DOUBLE:
		errno = 0;
		v->d = strtod(text, &end);
		if (errno || end == text || *end || v->d != v->d)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: '%s': expected a number", what, text);
		if (check_bounds(o, v->d, text, what, err) < 0)
			return -1;
		break;
	case FOPT_PERCENT:
		if (parse_percent(text, what, &v->d, &e) < 0)
			goto usage;
		if (check_bounds(o, v->d, text, what, err) < 0)
			return -1;
		break;
	case FOPT_SIZE:
		if (parse_size(text, what, &v->u, &e) < 0)
			goto usage;
		v->size.bytes = v->u;
		if (check_bounds(o, (double)v->u, text, what, err) < 0)
			return -1;
		break;
	case FOPT_SIZE_PCT:
		if (parse_size_spec(text, what, &v->size, &e) < 0)
			goto usage;
		if (!v->size.is_pct && check_bounds(o, (double)v->size.bytes, text, what, err) < 0)
			return -1;
		if (v->size.is_pct && v->size.pct <= 0)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: '%s': a percentage must be more than 0", what,
					       text);
		break;
	case FOPT_DURATION:
		if (parse_duration(text, what, &v->u, &e) < 0)
			goto usage;
		if (check_bounds(o, (double)v->u, text, what, err) < 0)
			return -1;
		break;
	case FOPT_ENUM: {
		int found = -1;
		char choices[256] = "";

		for (int i = 0; o->choices && o->choices[i]; i++) {
			size_t n = strlen(choices);

			snprintf(choices + n, sizeof(choices) - n, "%s%s", n ? ", " : "",
				 o->choices[i]);
			if (!strcmp(o->choices[i], text))
				found = i;
		}
		if (found < 0)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: '%s': must be one of %s", what, text, choices);
		v->choice = found;
		v->s = text;
		break;
	}
	case FOPT_STRING:
		v->s = text;
		break;
	case FOPT_LIST: {
		const char **nl = realloc(v->list, (v->nlist + 1) * sizeof(*nl));

		if (!nl)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", what);
		nl[v->nlist++] = text;
		v->list = nl;
		v->s = text;
		break;
	}
	}
	v->set = true;
	return 0;
usage:
	*err = e;
	err->code = DURESS_EXIT_USAGE;
	return -1;
}

/* ---- the lifecycle ---- */

int fault_check(struct fault *f, struct duress_err *err)
{
	if (f->checked)
		return 0;
	if (f->desc->validate && f->desc->validate(f, err) < 0)
		return -1;
	f->checked = true;
	return 0;
}

int fault_prepare(struct fault *f, struct duress_err *err)
{
	if (f->prepared)
		return 0;
	if (fault_check(f, err) < 0 || (f->desc->supported && f->desc->supported(f, err) < 0) ||
	    (f->desc->plan && f->desc->plan(f, err) < 0))
		return -1;
	f->prepared = true;
	return 0;
}

/* The undo steps recorded since `from` are the fault's own. */
static void keep_steps(struct fault *f, size_t from)
{
	for (size_t i = from; f->undo && i < f->undo->n; i++) {
		size_t *v = realloc(f->steps, (f->nsteps + 1) * sizeof(*v));

		if (!v)
			return; /* still reverted by the revert of the whole log */
		f->steps = v;
		f->steps[f->nsteps++] = i;
	}
}

int fault_start(struct fault *f, double now, struct duress_err *err)
{
	size_t n0 = f->undo ? f->undo->n : 0;
	int rc;

	f->started = true; /* what it did record is reverted either way */
	f->started_at = now;
	rc = f->desc->apply(f, err);
	keep_steps(f, n0);
	return rc;
}

int fault_tick(struct fault *f, double now, struct duress_err *err)
{
	size_t n0 = f->undo ? f->undo->n : 0;
	int rc = 0;

	if (!fault_in_force(f) || !f->desc->tick)
		return 0;
	rc = f->desc->tick(f, (uint64_t)((now - f->started_at) * 1e6), err);
	keep_steps(f, n0);
	return rc;
}

bool fault_in_force(const struct fault *f)
{
	return f->started && !f->ended;
}

int fault_stop(struct fault *f, double now)
{
	struct timespec t0, t1;

	if (!fault_in_force(f))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	undo_revert_steps(f->undo, f->steps, f->nsteps, &f->stop_rep);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	f->stop_ms =
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fault_ended(f, now);
	return f->stop_rep.failed ? -1 : 0;
}

void fault_ended(struct fault *f, double now)
{
	if (!fault_in_force(f))
		return;
	f->ended = true;
	f->ended_at = now;
}

void fault_report(struct fault *f, json_t *out)
{
	if (f->started && f->desc->report)
		f->desc->report(f, out);
}

void fault_sample(struct fault *f, json_t *sample)
{
	if (fault_in_force(f) && f->desc->sample)
		f->desc->sample(f, sample);
}

bool fault_needs_target(const struct fault *f)
{
	return !(f->desc->no_target && f->desc->no_target(f));
}

unsigned fault_hits(const struct fault *f, double *last_at)
{
	double since = 0;
	unsigned n;

	if (!f->started || !f->desc->hits)
		return 0;
	n = f->desc->hits(f, &since);
	if (n)
		*last_at = f->started_at + since;
	return n;
}

bool fault_may_empty(const struct fault *f)
{
	return f->started && f->desc->may_empty;
}

int fault_usage(struct duress_err *err, const char *fmt, ...)
{
	char msg[DURESS_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s", msg);
}

int fault_plan_add(struct fault *f, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	int r;

	if (f->nplan >= FAULT_PLAN_MAX)
		return -1;
	va_start(ap, fmt);
	r = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	f->plan[f->nplan++] = line;
	return 0;
}

static const char *type_metavar(enum fopt_type t)
{
	switch (t) {
	case FOPT_FLAG:
		return "";
	case FOPT_UINT:
		return "N";
	case FOPT_DOUBLE:
		return "X";
	case FOPT_PERCENT:
		return "PCT";
	case FOPT_SIZE:
		return "SIZE";
	case FOPT_SIZE_PCT:
		return "SIZE|PCT";
	case FOPT_DURATION:
		return "DUR";
	case FOPT_ENUM:
	case FOPT_STRING:
	case FOPT_LIST:
		return "VALUE";
	}
	return "";
}

void fault_print_options(const struct fault_desc *d, FILE *out)
{
	for (size_t i = 0; i < d->nopts; i++) {
		const struct fault_opt *o = &d->opts[i];
		char left[64];

		snprintf(left, sizeof(left), "--%s %s", o->name,
			 o->metavar ? o->metavar : type_metavar(o->type));
		fprintf(out, "  %-26s %s\n", left, o->help ? o->help : "");
	}
}

/* Read a whole cgroup file, without the trailing newline. */
static int read_trimmed(const char *dir, const char *file, char **out, struct duress_err *err)
{
	char *text = NULL;
	int n = cg_read(dir, file, &text, err);

	if (n < 0)
		return -1;
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	*out = text;
	return n;
}

int fault_cg_set(struct fault *f, const char *dir, const char *file, const char *value,
		 struct duress_err *err)
{
	cleanup_free char *orig = NULL;

	if (read_trimmed(dir, file, &orig, err) < 0)
		return duress_err_wrap(err, "%s fault: save %s before changing it", f->desc->name,
				       file);
	if (undo_record(f->undo, &undo_kind_cgroup_write, f->desc->name, dir, file, orig, err) < 0)
		return -1;
	return cg_write(dir, file, value, err);
}

/* ---- capacity of the target ---- */

/* The cgroup2 mount: t->dir with t->rel cut off its end. */
