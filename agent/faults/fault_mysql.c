// SPDX-License-Identifier: MIT
/*
 * mysql: MySQL and MariaDB faults through a proxy that speaks the wire
 * protocol (proxy/myf.c), transparent (an nftables redirect in the
 * target's network namespace) or explicit (--listen/--upstream): error
 * packets with any server error number (deadlocks, interrupted queries,
 * lock wait timeouts), server shutdowns, refused connections, delays,
 * dropped connections, failing migrations and corrupted result rows (text
 * and binary protocol), on a percentage of the statements that match a
 * regex, inside a transaction or not.  See docs/faults/mysql.md.
 */
#include <duress/core/cleanup.h>
#include <duress/faults/fault.h>
#include <duress/faults/sqlfault.h>
#include <duress/proxy/myf.h>

static const struct fault_opt my_opts[] = { SQLFAULT_OPTS(
	"only statements inside a transaction (the server's status says so: after BEGIN, or "
	"with autocommit off)",
	"N", "the client gets server error N (1213, 1062, ...) instead of the statement's result",
	"PCT of the matching statements fail with 1213 (40001) Deadlock found",
	"refused: MySQL has no error of its own for it (use --deadlock)",
	"PCT fail with 1317 (70100) Query execution was interrupted",
	"PCT end the connection with 1053 (08S01) Server shutdown in progress",
	"PCT of the new connections get 1040 Too many connections at connect",
	"schema changes (CREATE, ALTER, DROP, ...) fail (1205 lock wait timeout, or --error)") };

static const struct sqlfault_shortcut my_shortcuts[] = {
	{ "deadlock", "1213", NULL },
	{ "serialization-failure", NULL,
	  "MySQL has no serialization failure error: InnoDB reports a serializable "
	  "transaction's conflict as a deadlock (1213, SQLSTATE 40001) or a lock wait "
	  "timeout (1205): use --deadlock or --error 1205" },
	{ "query-canceled", "1317", NULL },
};

static const struct sqlfault_dialect my_dialect = {
	.name = "mysql",
	.filter = &myf_filter,
	.code_valid = myf_error_valid,
	.code_what = "not a MySQL server error number (1000-1999 or 3000-4999: 1213, 1062, "
		     "...; 2000-2999 are the client library's own)",
	.code_name = "N",
	.shortcuts = my_shortcuts,
	.nshortcuts = DURESS_ARRAY_SIZE(my_shortcuts),
	.ddl_default = "1205",
	.shutdown = "1053",
	.too_many = "1040",
};

static int my_validate(struct fault *f, struct duress_err *err)
{
	return sqlfault_validate(f, f->priv, &my_dialect, err);
}

const struct fault_desc fault_mysql = {
	.name = "mysql",
	.summary = "MySQL/MariaDB errors (deadlocks, interrupted queries, shutdowns), delays, "
		   "dropped connections, failing migrations, corrupted rows through a proxy",
	.opts = my_opts,
	.nopts = DURESS_ARRAY_SIZE(my_opts),
	.validate = my_validate,
	SQLFAULT_HOOKS,
};
