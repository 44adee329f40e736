/* SPDX-License-Identifier: MIT */
/*
 * The persisted undo journal: what must be reverted if the agent dies.
 *
 * One file per agent run, <state-dir>/journal/<pid>.undo, line-oriented
 * (docs/crash-safety.md):
 *
 *   <crc32> <seq> BEGIN pid=<pid> start=<starttime> cmd=<what>
 *   <crc32> <seq> ADD <id> <kind> <fault> <where> <what> <value>
 *   <crc32> <seq> DONE <id>
 *
 * Fields are percent-escaped (bytes <= 0x20, '%' and >= 0x7f as %XX); the
 * CRC-32 (hex) covers the rest of the line.  ADD is written and fsync'd
 * before the change is made; DONE after its revert succeeded.  A line that
 * is torn (no newline) or fails its CRC ends the journal: everything before
 * it is still replayed.  The file is removed when nothing is pending.
 *
 * Locking (flock on the file): the agent and its guardian hold it shared
 * while the agent lives; whoever replays (the guardian after the agent
 * died, `duress recover`, an agent starting up) takes it exclusive, so a
 * live agent's journal is never replayed under it.
 */
#ifndef DURESS_UNDO_JOURNAL_H
#define DURESS_UNDO_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <duress/core/error.h>
#include <duress/core/undo.h>

#define DURESS_STATE_DIR_DEFAULT "/run/duress"

struct undo_journal {
	int fd; /* open, O_APPEND, flock'd shared */
	char path[4096];
	bool unnamed; /* made O_TMPFILE: named at path with its first step */
	int dirfd;    /* while unnamed: its directory, in the mount it was made in */
	uint64_t seq;
	size_t next_id; /* ids of ADD lines, unique across the logs sharing it */
};

/* The state directory: the option if given, else $DURESS_STATE_DIR, else
 * /run/duress. */
const char *state_dir_resolve(const char *opt);

/* Create <state>/journal/<pid>.undo (and the folders), lock it shared and
 * write BEGIN.  `cmd` says what the run is ("inject memory on /x"). */
int undo_journal_open(struct undo_journal *j, const char *state_dir, const char *cmd,
		      struct duress_err *err);

/* Append a line and fdatasync it: ADD gives rec->jid its id in the
 * journal; DONE names one. */
int undo_journal_add(struct undo_journal *j, struct undo_rec *rec, struct duress_err *err);
int undo_journal_done(struct undo_journal *j, size_t id, struct duress_err *err);

/* Make j the sink of log: each step is on disk before undo_record()
 * returns, and marked DONE once reverted.  NULL detaches. */
void undo_journal_attach(struct undo_journal *j, struct undo_log *log);

/* Close; remove the file if `remove` (nothing pending). */
void undo_journal_close(struct undo_journal *j, bool remove);

/* Pure: escape a field into out (len); returns -1 if it does not fit. */
int undo_journal_escape(const char *in, char *out, size_t len);
/* Pure: unescape in place; returns -1 on a malformed escape. */
int undo_journal_unescape(char *s);
/* Pure: CRC-32 (IEEE) of a buffer. */
uint32_t undo_journal_crc32(const void *buf, size_t len);

/* The kind of an ADD line by its name; NULL if this binary has none. */
typedef const struct undo_kind *(*undo_kind_lookup)(const char *name);

/*
 * Pure: parse journal text into a log of its steps, in order; those with a
 * DONE line are marked done (undo_revert_all skips them; a replay still
 * removes the views they name).  Stops at the first torn or corrupt line and
 * counts it in *torn.  Fills *pid and *start from BEGIN (0 if missing).
 */
int undo_journal_parse(const char *text, undo_kind_lookup find, struct undo_log *steps, pid_t *pid,
		       unsigned long long *start, size_t *torn, struct duress_err *err);

#endif
