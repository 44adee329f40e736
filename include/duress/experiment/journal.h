/* SPDX-License-Identifier: MIT */
/*
 * Experiment reports (agent/experiment/journal.c): the journal (Chaos
 * Toolkit's journal.json plus a `duress` section) and JUnit XML derived
 * from it.  Not the undo journal (core/undo_journal.h).
 */
#ifndef DURESS_JOURNAL_H
#define DURESS_JOURNAL_H

#include <stddef.h>

#include <jansson.h>

#include <duress/core/error.h>

/* ISO 8601 UTC with microseconds, as Chaos Toolkit writes them. */
void journal_time(double real_s, char *buf, size_t len);

/* The JUnit XML of a journal: each steady-state probe (before, after, and
 * its error rate during the method), each method and rollback activity,
 * the recovery and the abort as test cases. */
int journal_junit_write(json_t *journal, const char *path, struct duress_err *err);

/* Write JSON to path (indented); errors name the file. */
int journal_write(json_t *journal, const char *path, struct duress_err *err);

/* Check a journal against the documented schema (the keys CI relies on);
 * the first missing or mistyped key is the error. */
int journal_check(json_t *journal, struct duress_err *err);

#endif
