// SPDX-License-Identifier: MIT
/* What the database faults share; see include/duress/faults/sqlfault.h. */
#include <duress/core/cleanup.h>
#include <duress/core/parse.h>
#include <duress/core/regex.h>
#include <duress/faults/sqlfault.h>

#include <stdio.h>
#include <string.h>

#define SQLFAULT_MAX_DELAY_US (600ULL * 1000000)

static bool is_set(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set;
}

static double pct(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set ? fault_opt(f, name)->d : 0;
}

static void filter_init(void *arg)
{
	sqlr_init(arg);
}

static void describe(struct sqlfault *s, const struct fault *f, const struct sqlfault_dialect *d)
{
	const struct sqlr_config *c = &s->rc;
	char a[32];
	size_t n = 0;
	char *b = s->desc;
	size_t cap = sizeof(s->desc);

#define PUT(...) (n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__))
	PUT("statements");
	if (c->has_match)
		PUT(" matching /%s/", fault_opt(f, "match")->s);
	if (c->in_transaction)
		PUT(" in a transaction");
	PUT(":");
	if (c->error_pct > 0)
		PUT(" %g%% raise %s", c->error_pct, c->code);
	if (c->shutdown_pct > 0)
		PUT(" %g%% %s and closed", c->shutdown_pct, d->shutdown);
	if (c->delay_ns)
		PUT(" %g%% delayed %s", c->delay_pct,
		    format_duration(c->delay_ns / 1000, a, sizeof(a)));
	if (c->drop_pct > 0)
		PUT(" %g%% connection dropped", c->drop_pct);
	if (c->fail_ddl)
		PUT(" %g%% of schema changes after the first %llu raise %s", c->ddl_pct,
		    (unsigned long long)c->ddl_after,
		    c->ddl_code[0] ? c->ddl_code : d->ddl_default);
	if (c->corrupt_pct > 0)
		PUT(" %g%% of result rows corrupted", c->corrupt_pct);
	if (c->too_many_pct > 0)
		PUT("; %g%% of new connections refused (%s)", c->too_many_pct, d->too_many);
#undef PUT
}

int sqlfault_validate(struct fault *f, struct sqlfault *s, const struct sqlfault_dialect *d,
		      struct duress_err *err)
{
	static const char *const kinds[] = {
		"error",	   "admin-shutdown", "too-many-connections", "delay",
		"drop-connection", "fail-ddl",	     "corrupt-rows"
	};
	struct sqlr_config *c = &s->rc;
	const struct fault_val *v;
	double percent = is_set(f, "percent") ? fault_opt(f, "percent")->d : 100;
	const char *errors = NULL;
	bool any = false;

	sqlr_free(c);
	memset(c, 0, sizeof(*c));
	if (pxf_validate(f, &s->px, err) < 0)
		return -1;
	v = fault_opt(f, "error");
	if (v->set) {
		if (!d->code_valid(v->s))
			return fault_usage(err, "--error '%s': %s", v->s, d->code_what);
		errors = "error";
	}
	for (size_t i = 0; i < d->nshortcuts; i++) {
		const struct sqlfault_shortcut *sc = &d->shortcuts[i];

		if (!is_set(f, sc->opt))
			continue;
		if (!sc->code)
			return fault_usage(err, "--%s: %s", sc->opt, sc->why);
		if (errors)
			return fault_usage(err,
					   "--%s and --%s exclude each other (one error at a time)",
					   errors, sc->opt);
		errors = sc->opt;
		snprintf(c->code, sizeof(c->code), "%s", sc->code);
		c->error_pct = pct(f, sc->opt);
		any = true;
	}
	if (is_set(f, "after") && !is_set(f, "fail-ddl"))
		return fault_usage(
			err, "--after counts the schema changes let through: it needs --fail-ddl");
	if (is_set(f, "fail-ddl")) {
		c->fail_ddl = true;
		c->ddl_pct = percent;
		c->ddl_after = fault_opt(f, "after")->u;
		if (is_set(f, "error"))
			snprintf(c->ddl_code, sizeof(c->ddl_code), "%s", fault_opt(f, "error")->s);
		else if (errors)
			return fault_usage(err,
					   "--fail-ddl and --%s exclude each other (--error %s "
					   "sets the error of --fail-ddl)",
					   errors, d->code_name);
	} else if (is_set(f, "error")) {
		snprintf(c->code, sizeof(c->code), "%s", fault_opt(f, "error")->s);
		c->error_pct = percent;
	}
	c->shutdown_pct = pct(f, "admin-shutdown");
	c->too_many_pct = pct(f, "too-many-connections");
	c->drop_pct = pct(f, "drop-connection");
	c->corrupt_pct = pct(f, "corrupt-rows");
	v = fault_opt(f, "delay");
	if (v->set) {
		if (!v->u)
			return fault_usage(err, "--delay: a duration above 0 (200ms, 2s)");
		if (v->u > SQLFAULT_MAX_DELAY_US)
			return fault_usage(err, "--delay: at most 10m");
		c->delay_ns = v->u * 1000;
		c->delay_pct = percent;
	}
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(kinds); i++)
		any = any || is_set(f, kinds[i]);
	if (!any) {
		char list[256];
		size_t n = 0;

		for (size_t i = 0; i < d->nshortcuts; i++)
			if (d->shortcuts[i].code)
				n += (size_t)snprintf(list + n,
						      n < sizeof(list) ? sizeof(list) - n : 0,
						      "--%s, ", d->shortcuts[i].opt);
		return fault_usage(err,
				   "%s: nothing to do: give --error, %s--admin-shutdown, "
				   "--too-many-connections, --delay, --drop-connection, --fail-ddl "
				   "or --corrupt-rows",
				   d->name, n < sizeof(list) ? list : "");
	}
	c->in_transaction = is_set(f, "in-transaction");
	c->seed = fault_opt(f, "seed")->u;
	v = fault_opt(f, "match");
	if (v->set) {
		if (!*v->s)
			return fault_usage(
				err, "--match: an empty pattern matches everything: leave it out");
		if (regex_compile(&c->match, v->s, REG_EXTENDED | REG_ICASE | REG_NOSUB, "--match",
				  err) < 0)
			return -1;
		c->has_match = true;
	}
	describe(s, f, d);
	s->px.filter = d->filter;
	s->px.filter_arg = c;
	s->px.filter_init = filter_init;
	return 0;
}

bool sqlfault_no_target(const struct fault *f)
{
	return pxf_no_target(f);
}

int sqlfault_supported(struct fault *f, struct duress_err *err)
{
	struct sqlfault *s = f->priv;

	return pxf_supported(f, &s->px, err);
}

int sqlfault_plan(struct fault *f, struct duress_err *err)
{
	struct sqlfault *s = f->priv;

	if (pxf_plan(f, &s->px, err) < 0)
		return -1;
	fault_plan_add(f, "%s", s->desc);
	return 0;
}

int sqlfault_apply(struct fault *f, struct duress_err *err)
{
	struct sqlfault *s = f->priv;

	return pxf_apply(f, &s->px, err);
}

int sqlfault_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct sqlfault *s = f->priv;

	(void)since_apply_us;
	return pxf_tick(f, &s->px, err);
}

void sqlfault_report(struct fault *f, json_t *summary)
{
	struct sqlfault *s = f->priv;

	json_object_set_new(summary, "rule", json_string(s->desc));
	pxf_report(f, &s->px, summary);
}

void sqlfault_sample(struct fault *f, json_t *sample)
{
	struct sqlfault *s = f->priv;

	pxf_sample(f, &s->px, sample);
}

void sqlfault_release(struct fault *f)
{
	struct sqlfault *s = f->priv;

	pxf_release(&s->px);
	sqlr_free(&s->rc);
}
