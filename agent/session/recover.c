// SPDX-License-Identifier: MIT
/*
 * Replays of undo journals left by agents that died (recover.h): the
 * guardian, `duress recover`, every agent and server at start-up.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/fileio.h>
#include <duress/core/statedir.h>
#include <duress/core/undo.h>
#include <duress/core/undo_journal.h>
#include <duress/net/netundo.h>
#include <duress/net/nft.h>
#include <duress/session/recover.h>
#include <duress/targets/cgview.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A journal larger than this is not one the agent wrote (a step is a few
 * hundred bytes; a saved qdisc tree a few KiB). */
#define RECOVER_JOURNAL_MAX (64 << 20)

/* Every kind a journal may name, once: its owner module declares it. */
static const struct undo_kind *const kinds[] = {
#define UNDO_KIND(sym) &sym,
#include <duress/session/undo_kinds.h>
#undef UNDO_KIND
};

const struct undo_kind *recover_kind_find(const char *name)
{
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(kinds); i++)
		if (!strcmp(kinds[i]->name, name))
			return kinds[i];
	return NULL;
}

/* Every record of a journal is one the agent could have written, or the
 * journal is not replayed at all (a planted or corrupt one). */
static int check_records(const struct undo_log *steps, char *why, size_t len)
{
	for (size_t i = 0; i < steps->n; i++)
		if (steps->recs[i].kind->check(&steps->recs[i], why, len) < 0)
			return -1;
	return 0;
}

/* Replay the journal `name` of the journal folder dfd; path names it in
 * messages. */
static int replay(int dfd, const char *name, const char *path, bool wait, bool dry_run,
		  bool quiet_busy, FILE *out, struct recover_report *report, struct duress_err *err)
{
	cleanup_close int fd = -1;
	cleanup_free char *text = NULL;
	struct undo_journal j = { .fd = -1, .dirfd = -1 };
	struct undo_log steps;
	struct undo_report rep;
	unsigned long long start;
	size_t torn, pending = 0, views_left = 0;
	char why[512] = "";
	const char *untrusted;
	pid_t pid;
	struct stat st;

	/* Looked at before it is opened for real (O_PATH: opening a FIFO, a
	 * device or a socket planted under a journal's name has effects of
	 * its own, or blocks); never through a symlink. */
	fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* replayed meanwhile by someone else */
		return duress_err_set(err, errno, "open journal %s", path);
	}
	/* only a journal this agent's user wrote: a regular file of its own,
	 * one link, nobody else may write it */
	if (fstat(fd, &st) < 0)
		return duress_err_set(err, errno, "journal %s", path);
	untrusted = S_ISLNK(st.st_mode) ? "a symbolic link"
					: statedir_file_untrusted(&st, geteuid());
	if (untrusted && !(st.st_nlink == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())) {
		report->refused++;
		fprintf(out, "%s: not replayed: %s\n", path, untrusted);
		return 0;
	}
	{
		char self[64];
		int rfd;

		/* the very file looked at, now for reading and appending */
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		rfd = open(self, O_RDWR | O_APPEND | O_NONBLOCK | O_CLOEXEC);
		if (rfd < 0)
			return duress_err_set(err, errno, "open journal %s", path);
		close(fd);
		fd = rfd;
	}
	if (flock(fd, (dry_run ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EWOULDBLOCK) {
			report->busy++;
			if (!quiet_busy)
				fprintf(out, "%s: in use by a live agent, left alone\n", path);
			return 0;
		}
		return duress_err_set(err, errno, "lock journal %s", path);
	}
	/* unlinked while we waited for the lock: already replayed */
	if (fstat(fd, &st) == 0 && st.st_nlink == 0)
		return 0;
	undo_log_init(&steps);
	if (st.st_size > RECOVER_JOURNAL_MAX) {
		/* never read whole: no journal the agent writes is that large */
		snprintf(why, sizeof(why),
			 "%lld bytes, more than any journal the agent writes (%d MiB)",
			 (long long)st.st_size, RECOVER_JOURNAL_MAX >> 20);
	} else if (fileio_read_fd(fd, RECOVER_JOURNAL_MAX, &text) < 0) {
		if (errno != EFBIG) /* (grown meanwhile) */
			return duress_err_set(err, errno, "read journal %s", path);
		snprintf(why, sizeof(why), "more than any journal the agent writes (%d MiB)",
			 RECOVER_JOURNAL_MAX >> 20);
	} else if (undo_journal_parse(text, recover_kind_find, &steps, &pid, &start, &torn, err) <
		   0) {
		if (err->errnum == ENOMEM) {
			undo_log_free(&steps);
			return duress_err_wrap(err, "journal %s", path);
		}
		/* a record the agent never writes (a kind it does not record,
		 * a field too long for it): the journal is not its own */
		snprintf(why, sizeof(why), "%.400s", err->msg);
		memset(err, 0, sizeof(*err));
	} else if (check_records(&steps, why, sizeof(why)) == 0) {
		why[0] = '\0';
	}
	if (why[0]) {
		char aside[300];

		undo_log_free(&steps);
		report->refused++;
		snprintf(aside, sizeof(aside), "%.200s.refused", name);
		fprintf(out, "%s: not replayed, kept as %s: %s\n", path, aside, why);
		if (!dry_run && renameat(dfd, name, dfd, aside) < 0)
			return duress_err_set(err, errno, "journal %s: rename to %s", path, aside);
		return 0;
	}
	report->journals++;
	for (size_t i = 0; i < steps.n; i++)
		pending += !steps.recs[i].done;
	if (torn)
		fprintf(out,
			"%s: its last record was torn (the agent died while writing it); "
			"replaying the %zu complete ones\n",
			path, steps.n);
	for (size_t i = steps.n; i-- > 0;) {
		char desc[1024];

		if (steps.recs[i].done)
			continue;
		steps.recs[i].kind->describe(&steps.recs[i], desc, sizeof(desc));
		fprintf(out, "%s %s (%s fault of agent %d)\n",
			dry_run ? "would revert:" : "revert:", desc, steps.recs[i].fault, (int)pid);
	}
	if (dry_run) {
		report->reverted += pending;
		undo_log_free(&steps);
		return 0;
	}
	/* Each step replayed is marked DONE (by its original id) in this same
	 * file, so an interrupted replay resumes where it stopped. */
	j.fd = fd;
	snprintf(j.path, sizeof(j.path), "%s", path);
	j.seq = 1000000000;
	undo_journal_attach(&j, &steps);
	undo_revert_all(&steps, &rep);
	undo_journal_attach(NULL, &steps);
	/* The views its steps went through, done ones too, go before the
	 * journal that names them; one that cannot be removed keeps it. */
	for (size_t i = 0; !rep.failed && i < steps.n; i++)
		if (cg_view_remove(steps.recs[i].where) < 0)
			views_left++;
	undo_log_free(&steps);
	report->reverted += rep.reverted;
	report->gone += rep.gone;
	report->failed += rep.failed;
	for (size_t i = 0; i < rep.failed && i < DURESS_ARRAY_SIZE(rep.failures); i++)
		fprintf(out, "NOT REVERTED: %s\n", rep.failures[i]);
	if (views_left)
		fprintf(out, "%s: kept: %zu view director%s it names could not be removed\n", path,
			views_left, views_left == 1 ? "y" : "ies");
	if (!rep.failed && !views_left)
		unlinkat(dfd, name, 0);
	return rep.failed ? -1 : 0;
}

int recover_journal(const char *path, bool wait, bool dry_run, FILE *out,
		    struct recover_report *report, struct duress_err *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	cleanup_close int dfd = -1;

	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return duress_err_set(err, EINVAL, "journal %s: not a path in a folder", path);
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	/* the journal folder, checked as the state directory is */
	dfd = statedir_open(dir, false, err);
	if (dfd < 0)
		return duress_err_wrap(err, "journal %s", path);
	return replay(dfd, slash + 1, path, wait, dry_run, false, out, report, err);
}

int recover_all(const char *state_dir, const char *except, bool dry_run, bool quiet_busy, FILE *out,
		struct recover_report *report, struct duress_err *err)
{
	cleanup_close int sfd = -1;
	cleanup_close int dfd = -1;
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int rc = 0;

	memset(report, 0, sizeof(*report));
	sfd = statedir_open(state_dir, false, err);
	if (sfd < 0)
		return err->errnum == ENOENT ? 0 : -1;
	dfd = statedir_subdir(sfd, "journal", false, err);
	if (dfd < 0)
		return err->errnum == ENOENT ? 0 : -1;
	d = fdopendir(dup(dfd));
	if (!d)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "open %s/journal",
				       state_dir);
	while ((de = readdir(d))) {
		char path[4096 + 512];
		size_t nl = strlen(de->d_name);

		if (nl < 6 || strcmp(de->d_name + nl - 5, ".undo"))
			continue;
		snprintf(path, sizeof(path), "%s/journal/%s", state_dir, de->d_name);
		if (except && !strcmp(path, except))
			continue;
		if (replay(dfd, de->d_name, path, false, dry_run, quiet_busy, out, report, err) <
		    0) {
			fprintf(out, "%s\n", err->msg);
			rc = -1;
		}
	}
	return rc;
}
