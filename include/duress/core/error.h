/* SPDX-License-Identifier: MIT */
/*
 * One error convention for the whole agent.
 *
 * A fallible function takes a `struct duress_err *err` as its last argument
 * and returns < 0 on failure, after filling err with the errno value (0 when
 * the failure is not a system error) and a message that names the object
 * (path, option, device) and the cause.  Success leaves err untouched.
 * Callers add context with duress_err_wrap().  Best-effort cleanup on an
 * error path uses a local error of its own so that it never clobbers the
 * real one (see cleanup notes in docs/design.md).
 */
#ifndef DURESS_ERROR_H
#define DURESS_ERROR_H

#include <stdio.h>

#define DURESS_ERR_MSG_MAX 1024

struct duress_err {
	int errnum;		      /* errno of the cause, 0 if none */
	int code;		      /* exit code class (enum duress_exit), 0 = unset */
	char msg[DURESS_ERR_MSG_MAX]; /* "what: why", with strerror appended */
};

/* Fill err; appends ": strerror(errnum)" when errnum != 0.  Returns -1. */
int duress_err_set(struct duress_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like duress_err_set, and tags the error with an exit code class. */
int duress_err_setc(struct duress_err *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix the existing message with context ("ctx: old message").  Returns -1. */
int duress_err_wrap(struct duress_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "duress: <msg>\n" to f. */
void duress_err_print(FILE *f, const struct duress_err *err);

/* Reset to the empty state. */
void duress_err_clear(struct duress_err *err);

#endif
