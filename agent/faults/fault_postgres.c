// SPDX-License-Identifier: MIT
/*
 * postgres: PostgreSQL faults through a proxy that speaks the wire
 * protocol (proxy/pgf.c), transparent (an nftables redirect in the
 * target's network namespace) or explicit (--listen/--upstream): errors
 * with any SQLSTATE raised by the server itself (deadlocks, serialization
 * failures, cancels), administrator shutdowns, refused connections, delays,
 * dropped connections, failing migrations and corrupted result rows, on a
 * percentage of the statements that match a regex, inside a transaction or
 * not.  See docs/faults/postgres.md.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/regex.h>
#include <duress/faults/fault.h>
#include <duress/faults/proxyfault.h>
#include <duress/proxy/pgf.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PG_MAX_DELAY_US (600ULL * 1000000)

static const struct fault_opt pg_opts[] = {
	PXF_OPTS,
	{ .name = "match",
	  .type = FOPT_STRING,
	  .metavar = "REGEX",
	  .help = "only statements whose SQL text matches REGEX (extended, case-insensitive)" },
	{ .name = "in-transaction",
	  .type = FOPT_FLAG,
	  .help = "only statements inside a transaction block (BEGIN ... COMMIT)" },
	{ .name = "percent",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "--error, --delay and --fail-ddl apply to PCT of the matching statements "
		  "(default 100)" },
	{ .name = "error",
	  .type = FOPT_STRING,
	  .metavar = "SQLSTATE",
	  .help = "the server raises SQLSTATE (40P01, 23505, ...) instead of the statement" },
	{ .name = "deadlock",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "PCT of the matching statements fail with 40P01 deadlock detected" },
	{ .name = "serialization-failure",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "PCT fail with 40001 could not serialize access" },
	{ .name = "query-canceled",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "PCT fail with 57014 canceling statement" },
	{ .name = "admin-shutdown",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "PCT end the connection with FATAL 57P01 (the backend terminates itself)" },
	{ .name = "too-many-connections",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "PCT of the new connections get FATAL 53300 too many clients at startup" },
	{ .name = "delay",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "hold each matching statement DUR before it reaches the server" },
	{ .name = "drop-connection",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "PCT of the matching statements: the connection is closed instead" },
	{ .name = "fail-ddl",
	  .type = FOPT_FLAG,
	  .help = "schema changes (CREATE, ALTER, DROP, ...) fail (55P03 lock timeout, or --error)" },
	{ .name = "after",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .max = 1000000000,
	  .help = "--fail-ddl: let the first N schema changes through" },
	{ .name = "corrupt-rows",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "change one value in PCT of the result rows of matching statements" },
	{ .name = "seed",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .help = "seed of the percentage draws (default: random)" },
};

struct pg_priv {
	struct pxf px;
	struct pgf_config pc;
	char desc[768];
};

static bool is_set(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set;
}

static double pct(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set ? fault_opt(f, name)->d : 0;
}

static void pg_filter_init(void *arg)
{
	pgf_init(arg);
}

static void describe(struct pg_priv *p, const struct fault *f)
{
	const struct pgf_config *c = &p->pc;
	char a[32];
	size_t n = 0;
	char *b = p->desc;
	size_t cap = sizeof(p->desc);

#define PUT(...) (n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__))
	PUT("statements");
	if (c->has_match)
		PUT(" matching /%s/", fault_opt(f, "match")->s);
	if (c->in_transaction)
		PUT(" in a transaction");
	PUT(":");
	if (c->error_pct > 0)
		PUT(" %g%% raise %s", c->error_pct, c->sqlstate);
	if (c->shutdown_pct > 0)
		PUT(" %g%% FATAL 57P01 and closed", c->shutdown_pct);
	if (c->delay_ns)
		PUT(" %g%% delayed %s", c->delay_pct,
		    format_duration(c->delay_ns / 1000, a, sizeof(a)));
	if (c->drop_pct > 0)
		PUT(" %g%% connection dropped", c->drop_pct);
	if (c->fail_ddl)
		PUT(" %g%% of schema changes after the first %llu raise %s", c->ddl_pct,
		    (unsigned long long)c->ddl_after,
		    c->ddl_sqlstate[0] ? c->ddl_sqlstate : "55P03");
	if (c->corrupt_pct > 0)
		PUT(" %g%% of result rows corrupted", c->corrupt_pct);
	if (c->too_many_pct > 0)
		PUT("; %g%% of new connections refused (53300)", c->too_many_pct);
#undef PUT
}

static int pg_validate(struct fault *f, struct duress_err *err)
{
	static const struct {
		const char *opt, *code;
	} shortcuts[] = {
		{ "deadlock", "40P01" },
		{ "serialization-failure", "40001" },
		{ "query-canceled", "57014" },
	};
	struct pg_priv *p = f->priv;
	struct pgf_config *c = &p->pc;
	const struct fault_val *v;
	double percent = is_set(f, "percent") ? fault_opt(f, "percent")->d : 100;
	const char *errors = NULL;

	if (c->has_match)
		regfree(&c->match);
	memset(c, 0, sizeof(*c));
	if (pxf_validate(f, &p->px, err) < 0)
		return -1;
	v = fault_opt(f, "error");
	if (v->set) {
		if (!pgf_sqlstate_valid(v->s))
			return fault_usage(err,
					   "--error '%s': not a PostgreSQL error SQLSTATE (five "
					   "characters of 0-9 and A-Z in an error class: 40P01, "
					   "23505, ...)",
					   v->s);
		errors = "error";
	}
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(shortcuts); i++) {
		if (!is_set(f, shortcuts[i].opt))
			continue;
		if (errors)
			return fault_usage(err,
					   "--%s and --%s exclude each other (one error at a time)",
					   errors, shortcuts[i].opt);
		errors = shortcuts[i].opt;
		snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", shortcuts[i].code);
		c->error_pct = pct(f, shortcuts[i].opt);
	}
	if (is_set(f, "after") && !is_set(f, "fail-ddl"))
		return fault_usage(
			err, "--after counts the schema changes let through: it needs --fail-ddl");
	if (is_set(f, "fail-ddl")) {
		c->fail_ddl = true;
		c->ddl_pct = percent;
		c->ddl_after = fault_opt(f, "after")->u;
		if (is_set(f, "error"))
			snprintf(c->ddl_sqlstate, sizeof(c->ddl_sqlstate), "%s",
				 fault_opt(f, "error")->s);
		else if (errors)
			return fault_usage(
				err,
				"--fail-ddl and --%s exclude each other (--error SQLSTATE "
				"sets the error of --fail-ddl)",
				errors);
	} else if (is_set(f, "error")) {
		snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", fault_opt(f, "error")->s);
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
		if (v->u > PG_MAX_DELAY_US)
			return fault_usage(err, "--delay: at most 10m");
		c->delay_ns = v->u * 1000;
		c->delay_pct = percent;
	}
	if (!c->error_pct && !c->sqlstate[0] && !c->fail_ddl && !c->shutdown_pct &&
	    !c->too_many_pct && !c->drop_pct && !c->corrupt_pct && !c->delay_ns &&
	    !is_set(f, "deadlock") && !is_set(f, "serialization-failure") &&
	    !is_set(f, "query-canceled") && !is_set(f, "admin-shutdown") &&
	    !is_set(f, "too-many-connections") && !is_set(f, "drop-connection") &&
	    !is_set(f, "corrupt-rows"))
		return fault_usage(
			err, "postgres: nothing to do: give --error, --deadlock, "
			     "--serialization-failure, --query-canceled, --admin-shutdown, "
			     "--too-many-connections, --delay, --drop-connection, --fail-ddl or "
			     "--corrupt-rows");
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
	describe(p, f);
	p->px.filter = &pgf_filter;
	p->px.filter_arg = c;
	p->px.filter_init = pg_filter_init;
	return 0;
}

static bool pg_no_target(const struct fault *f)
{
	return pxf_no_target(f);
}

static int pg_supported(struct fault *f, struct duress_err *err)
{
	struct pg_priv *p = f->priv;

	return pxf_supported(f, &p->px, err);
}

static int pg_plan(struct fault *f, struct duress_err *err)
{
	struct pg_priv *p = f->priv;

	if (pxf_plan(f, &p->px, err) < 0)
		return -1;
	fault_plan_add(f, "%s", p->desc);
	return 0;
}

static int pg_apply(struct fault *f, struct duress_err *err)
{
	struct pg_priv *p = f->priv;

	return pxf_apply(f, &p->px, err);
}

static int pg_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct pg_priv *p = f->priv;

	(void)since_apply_us;
	return pxf_tick(f, &p->px, err);
}

static void pg_report(struct fault *f, json_t *summary)
{
	struct pg_priv *p = f->priv;

	json_object_set_new(summary, "rule", json_string(p->desc));
	pxf_report(f, &p->px, summary);
}

static void pg_sample(struct fault *f, json_t *sample)
{
	struct pg_priv *p = f->priv;

	pxf_sample(f, &p->px, sample);
}

static void pg_release(struct fault *f)
{
	struct pg_priv *p = f->priv;

	pxf_release(&p->px);
	if (p->pc.has_match) {
		regfree(&p->pc.match);
		p->pc.has_match = false;
	}
}

const struct fault_desc fault_postgres = {
	.name = "postgres",
	.summary = "PostgreSQL errors (deadlocks, serialization failures, shutdowns), delays, "
		   "dropped connections, failing migrations, corrupted rows through a proxy",
	.opts = pg_opts,
	.nopts = DURESS_ARRAY_SIZE(pg_opts),
	.priv_size = sizeof(struct pg_priv),
	.validate = pg_validate,
	.supported = pg_supported,
	.plan = pg_plan,
	.apply = pg_apply,
	.tick = pg_tick,
	.report = pg_report,
	.release = pg_release,
	.no_target = pg_no_target,
	.sample = pg_sample,
};
