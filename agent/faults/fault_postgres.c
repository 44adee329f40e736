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
#include <duress/faults/fault.h>
#include <duress/faults/sqlfault.h>
#include <duress/proxy/pgf.h>

static const struct fault_opt pg_opts[] = { SQLFAULT_OPTS(
	"only statements inside a transaction block (BEGIN ... COMMIT)", "SQLSTATE",
	"the server raises SQLSTATE (40P01, 23505, ...) instead of the statement",
	"PCT of the matching statements fail with 40P01 deadlock detected",
	"PCT fail with 40001 could not serialize access", "PCT fail with 57014 canceling statement",
	"PCT end the connection with FATAL 57P01 (the backend terminates itself)",
	"PCT of the new connections get FATAL 53300 too many clients at startup",
	"schema changes (CREATE, ALTER, DROP, ...) fail (55P03 lock timeout, or --error)") };

static const struct sqlfault_shortcut pg_shortcuts[] = {
	{ "deadlock", "40P01", NULL },
	{ "serialization-failure", "40001", NULL },
	{ "query-canceled", "57014", NULL },
};

static const struct sqlfault_dialect pg_dialect = {
	.name = "postgres",
	.filter = &pgf_filter,
	.code_valid = pgf_sqlstate_valid,
	.code_what = "not a PostgreSQL error SQLSTATE (five characters of 0-9 and A-Z in an "
		     "error class: 40P01, 23505, ...)",
	.code_name = "SQLSTATE",
	.shortcuts = pg_shortcuts,
	.nshortcuts = DURESS_ARRAY_SIZE(pg_shortcuts),
	.ddl_default = "55P03",
	.shutdown = "FATAL 57P01",
	.too_many = "53300",
};

static int pg_validate(struct fault *f, struct duress_err *err)
{
	return sqlfault_validate(f, f->priv, &pg_dialect, err);
}

const struct fault_desc fault_postgres = {
	.name = "postgres",
	.summary = "PostgreSQL errors (deadlocks, serialization failures, shutdowns), delays, "
		   "dropped connections, failing migrations, corrupted rows through a proxy",
	.opts = pg_opts,
	.nopts = DURESS_ARRAY_SIZE(pg_opts),
	.validate = pg_validate,
	SQLFAULT_HOOKS,
};
