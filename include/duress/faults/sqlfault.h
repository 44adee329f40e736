/* SPDX-License-Identifier: MIT */
/*
 * What the database protocol faults (postgres, mysql) share: their
 * options are the same but for the error codes, so is turning them into a
 * rule (proxy/sqlrule.h) and the hooks around the proxy (faults/proxyfault.h).
 * A fault gives its dialect: its name, its error-code check, its shortcuts
 * (--deadlock: 40P01 or 1213) and how its plan names a few codes.
 */
#ifndef DURESS_SQLFAULT_H
#define DURESS_SQLFAULT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/faults/fault.h>
#include <duress/faults/proxyfault.h>
#include <duress/proxy/sqlrule.h>

/* The option table of a database fault; the texts are the dialect's. */
#define SQLFAULT_OPTS(tx_help, error_metavar, error_help, deadlock_help, serial_help,        \
		      canceled_help, shutdown_help, too_many_help, ddl_help)                 \
	PXF_OPTS,                                                                            \
		{ .name = "match",                                                           \
		  .type = FOPT_STRING,                                                       \
		  .metavar = "REGEX",                                                        \
		  .help = "only statements whose SQL text matches REGEX (extended, "         \
			  "case-insensitive)" },                                             \
		{ .name = "in-transaction", .type = FOPT_FLAG, .help = tx_help },            \
		{ .name = "percent",                                                         \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = "--error, --delay and --fail-ddl apply to PCT of the matching "    \
			  "statements (default 100)" },                                      \
		{ .name = "error",                                                           \
		  .type = FOPT_STRING,                                                       \
		  .metavar = error_metavar,                                                  \
		  .help = error_help },                                                      \
		{ .name = "deadlock",                                                        \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = deadlock_help },                                                   \
		{ .name = "serialization-failure",                                           \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = serial_help },                                                     \
		{ .name = "query-canceled",                                                  \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = canceled_help },                                                   \
		{ .name = "admin-shutdown",                                                  \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = shutdown_help },                                                   \
		{ .name = "too-many-connections",                                            \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = too_many_help },                                                   \
		{ .name = "delay",                                                           \
		  .type = FOPT_DURATION,                                                     \
		  .metavar = "DUR",                                                          \
		  .help = "hold each matching statement DUR before it reaches the server" }, \
		{ .name = "drop-connection",                                                 \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = "PCT of the matching statements: the connection is closed "        \
			  "instead" },                                                       \
		{ .name = "fail-ddl", .type = FOPT_FLAG, .help = ddl_help },                 \
		{ .name = "after",                                                           \
		  .type = FOPT_UINT,                                                         \
		  .metavar = "N",                                                            \
		  .max = 1000000000,                                                         \
		  .help = "--fail-ddl: let the first N schema changes through" },            \
		{ .name = "corrupt-rows",                                                    \
		  .type = FOPT_PERCENT,                                                      \
		  .metavar = "PCT",                                                          \
		  .max = 100,                                                                \
		  .help = "change one value in PCT of the result rows of matching "          \
			  "statements" },                                                    \
	{                                                                                    \
		.name = "seed", .type = FOPT_UINT, .metavar = "N", .min = 1,                 \
		.help = "seed of the percentage draws (default: random)"                     \
	}

struct sqlfault_shortcut {
	const char *opt;  /* "deadlock" */
	const char *code; /* "40P01"; NULL: refused, with why */
	const char *why;
};

struct sqlfault_dialect {
	const char *name; /* "postgres" */
	const struct proxy_filter *filter;
	/* a code --error may give; false: usage error "--error 'X': <what>" */
	bool (*code_valid)(const char *code);
	const char *code_what; /* "not a PostgreSQL error SQLSTATE (...)" */
	const char *code_name; /* "SQLSTATE" */
	const struct sqlfault_shortcut *shortcuts;
	size_t nshortcuts;
	const char *ddl_default; /* "55P03" */
	const char *shutdown;	 /* "FATAL 57P01" */
	const char *too_many;	 /* "53300" */
};

struct sqlfault {
	struct pxf px;
	struct sqlr_config rc;
	char desc[768];
};

/* validate: the options into s->rc and s->px. */
int sqlfault_validate(struct fault *f, struct sqlfault *s, const struct sqlfault_dialect *d,
		      struct duress_err *err);

/* The hooks, for the fault's descriptor (priv is a struct sqlfault):
 * SQLFAULT_HOOKS in it, and a validate calling sqlfault_validate. */
#define SQLFAULT_HOOKS                                                                           \
	.priv_size = sizeof(struct sqlfault), .supported = sqlfault_supported,                   \
	.plan = sqlfault_plan, .apply = sqlfault_apply, .tick = sqlfault_tick,                   \
	.report = sqlfault_report, .release = sqlfault_release, .no_target = sqlfault_no_target, \
	.sample = sqlfault_sample
bool sqlfault_no_target(const struct fault *f);
int sqlfault_supported(struct fault *f, struct duress_err *err);
int sqlfault_plan(struct fault *f, struct duress_err *err);
int sqlfault_apply(struct fault *f, struct duress_err *err);
int sqlfault_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err);
void sqlfault_report(struct fault *f, json_t *summary);
void sqlfault_sample(struct fault *f, json_t *sample);
void sqlfault_release(struct fault *f);

#endif
