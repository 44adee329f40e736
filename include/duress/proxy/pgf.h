/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL filter of the proxy engine: the frontend/backend protocol
 * v3, message by message, streamed (a message is only held whole when the
 * filter must look into it, and then only up to PGF_MAX_MSG; a result set
 * never is).
 *
 * Client -> server: the startup packet (an SSLRequest or GSSENCRequest is
 * answered 'N' by the proxy, so the client goes on in plain text: a client
 * that requires TLS gives up, and gets only the tcp fault; a CancelRequest
 * passes untouched), then typed messages: Query ('Q'), and the extended
 * protocol's Parse/Bind/Execute/Sync, pipelined or not.  Everything else
 * (authentication, COPY data, Describe, Close, Flush, function calls)
 * passes as it comes.
 * Server -> client: ReadyForQuery gives the transaction status ('I', 'T',
 * 'E'); RowDescription and DataRow are read only for --corrupt-rows.
 *
 * A statement (the text of a Query, or the Parse behind an Execute) is
 * picked when it matches (regex on the text, in a transaction or not, a
 * DDL statement for fail_ddl) and the percentage draws it.  The faults:
 *
 *   error         the statement is replaced by a DO block that makes the
 *                 server raise the SQLSTATE: the client sees the server's
 *                 own ErrorResponse and the server's transaction is aborted
 *                 as a real error would leave it (extended protocol: from
 *                 the Execute to the Sync is dropped and the DO block sent
 *                 at the Sync); needs PL/pgSQL (there by default)
 *   admin_shutdown the backend terminates itself (pg_terminate_backend of
 *                 its own pid): FATAL 57P01, then the connection closes
 *   delay         the statement reaches the server delay_ns late
 *   drop          the connection is closed (both sides) at the statement
 *   fail_ddl      DDL statements (CREATE, ALTER, DROP, ...) after the first
 *                 ddl_after raise fail_sqlstate (default 55P03, a lock
 *                 timeout: what a migration meets on a busy table)
 *   corrupt_rows  this share of the DataRows of picked statements gets one
 *                 value changed (a digit, a letter, t/f), same length, of a
 *                 column whose type is text-like, numeric or boolean
 *   too_many      at startup: FATAL 53300 "sorry, too many clients
 *                 already", and the connection closes unseen by the server
 */
#ifndef DURESS_PGF_H
#define DURESS_PGF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duress/proxy/sqlrule.h>
#include <duress/proxy/proxy.h>

#define PGF_MAX_MSG (1024 * 1024) /* largest message looked into */
#define PGF_MAX_STARTUP 10000	  /* a startup packet (PostgreSQL's own limit) */
#define PGF_MAX_COLS 256	  /* RowDescription columns remembered */
#define PGF_MAX_NAMES 64	  /* prepared statements and portals remembered */

/* The message a client sees for a SQLSTATE ("deadlock detected"), or NULL
 * when duress has no text of its own for it. */
const char *pgf_sqlstate_message(const char *sqlstate);
/* A SQLSTATE duress can raise: five of [0-9A-Z] in a class PostgreSQL
 * defines, and an error (not 00 success, 01 warning, 02 no data). */
bool pgf_sqlstate_valid(const char *s);

/* Its filter_arg is a struct sqlr_config (proxy/sqlrule.h): code and
 * ddl_code are SQLSTATEs, ddl_code "" raises 55P03. */
extern const struct proxy_filter pgf_filter;

#endif
