/* SPDX-License-Identifier: MIT */
/*
 * The MySQL filter of the proxy engine: the client/server protocol (MySQL
 * 4.1+, MariaDB), packet by packet, streamed (a packet is only held whole
 * when it arrives split and is at most MYF_MAX_MSG; larger ones, and the
 * 0xffffff continuations of packets over 16 MiB, pass as they come; a
 * result set is never held).
 *
 * The handshake (v10 greeting, the client's response, the authentication
 * exchange of any plugin: mysql_native_password, caching_sha2_password,
 * ed25519...) passes untouched; the filter only reads the capabilities
 * (CLIENT_PROTOCOL_41, CLIENT_DEPRECATE_EOF, MariaDB's cached metadata).
 * A client that asks for TLS (an SSL request), or for compression, gets the
 * connection passed through byte for byte: only TCP-level faults.
 *
 * Commands: COM_QUERY, COM_STMT_PREPARE (its text classified and kept under
 * the statement id the server gives, also for MariaDB's pipelined prepare
 * and execute with id 0xffffffff), COM_STMT_EXECUTE (matched on that text),
 * COM_STMT_CLOSE/RESET/SEND_LONG_DATA, COM_PING, COM_INIT_DB,
 * COM_SET_OPTION, COM_RESET_CONNECTION, COM_STATISTICS; any other command
 * (COM_CHANGE_USER, binlog, a cursor fetch) hands the connection over to
 * plain forwarding.  Responses: OK, ERR, text and binary result sets with
 * or without the EOF packets, several in a row (SERVER_MORE_RESULTS_EXISTS),
 * LOCAL INFILE (the file's packets pass).  Whether the connection is in a
 * transaction comes from the server's status flags in OK and EOF packets
 * (SERVER_STATUS_IN_TRANS, or autocommit off).
 *
 * The faults (the kinds of proxy/sqlrule.h):
 *   error         the statement is replaced by one the server runs
 *                 harmlessly (DO 0; ROLLBACK for 1213, whose real
 *                 counterpart rolls the transaction back) and its OK is
 *                 replaced by an ERR packet with the error number, its
 *                 SQLSTATE and message, and the response's sequence id
 *   admin_shutdown the same with 1053 "Server shutdown in progress", then
 *                 the connection closes
 *   delay         the command reaches the server delay_ns late
 *   drop          the connection is closed (both sides) at the statement
 *   fail_ddl      DDL statements after the first ddl_after get an error
 *                 (default 1205 lock wait timeout: what a migration meets
 *                 on a busy table; an ALTER waiting for a metadata lock)
 *   corrupt_rows  this share of the rows of picked statements gets one
 *                 value changed: text rows a digit or letter (same length),
 *                 binary rows an integer's low byte, a float's mantissa, a
 *                 digit or letter of a string or decimal; NULLs stay NULL
 *   too_many      at connect: the server's greeting is never asked for,
 *                 the client gets ERR 1040 "Too many connections" as a
 *                 refusing server sends it (sequence id 0), and the close
 */
#ifndef DURESS_MYF_H
#define DURESS_MYF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duress/proxy/proxy.h>
#include <duress/proxy/sqlrule.h>

#define MYF_MAX_MSG (1024 * 1024) /* largest packet looked into */
#define MYF_MAX_COLS 64		  /* column types remembered */
#define MYF_MAX_STMTS 32	  /* prepared statements remembered */

/* The SQLSTATE and message a client sees for a server error number, or
 * NULL when duress has no text of its own for it. */
const char *myf_error_message(unsigned code, const char **sqlstate);
/* An error number duress can send: decimal, a server error (1000-1999,
 * 3000-4999), not a client one (2000-2999). */
bool myf_error_valid(const char *s);

/* Its filter_arg is a struct sqlr_config (proxy/sqlrule.h): code and
 * ddl_code are error numbers, ddl_code "" sends 1205. */
extern const struct proxy_filter myf_filter;

#endif
