// SPDX-License-Identifier: MIT
/*
 * Replays of undo journals left by agents that died (recover.h): the
 * guardian, `duress recover`, every agent and server at start-up.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/fileio.h>
#include <duress/core/undo.h>
#include <duress/core/undo_journal.h>
#include <duress/net/netundo.h>
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

static int replay(const char *path, bool wait, bool dry_run, bool quiet_busy, FILE *out,
		  struct recover_report *report, struct duress_err *err)
{
	cleanup_close int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	cleanup_free char *text = NULL;
	struct undo_journal j = { .fd = -1, .dirfd = -1 };
	struct undo_log steps;
	struct undo_report rep;
	unsigned long long start;
	size_t torn, pending = 0, views_left = 0;
	pid_t pid;
	struct stat st;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* replayed meanwhile by someone else */
		return duress_err_set(err, errno, "open journal %s", path);
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
	if (fileio_read_fd(fd, RECOVER_JOURNAL_MAX, &text) < 0)
		return duress_err_set(err, errno, "read journal %s", path);
	undo_log_init(&steps);
	if (undo_journal_parse(text, recover_kind_find, &steps, &pid, &start, &torn, err) < 0)
		return duress_err_wrap(err, "journal %s", path);
	report->journals++;
	for (size_t i = 0; i < steps.n; i++)
		pending += !steps.recs[i].done;
	if (torn)
		fprintf(out, "%s: its last record was torn (the agent died while writing it); "
			     "replaying the %zu complete ones\n",
			path, steps.n);
	for (size_t i = steps.n; i-- > 0;) {
		char desc[1024];

		if (steps.recs[i].done)
			continue;
		steps.recs[i].kind->describe(&steps.recs[i], desc, sizeof(desc));
		fprintf(out, "%s %s (%s fault of agent %d)\n", dry_run ? "would revert:" : "revert:",
			desc, steps.recs[i].fault, (int)pid);
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
		unlink(path);
	return rep.failed ? -1 : 0;
}

int recover_journal(const char *path, bool wait, bool dry_run, FILE *out,
		   struct recover_report *report, struct duress_err *err)
{
	return replay(path, wait, dry_run, false, out, report, err);
}

int recover_all(const char *state_dir, const char *except, bool dry_run, bool quiet_busy,
			FILE *out, struct recover_report *report, struct duress_err *err)
{
	char dir[4096];
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int rc = 0;

	memset(report, 0, sizeof(*report));
	if ((size_t)snprintf(dir, sizeof(dir), "%s/journal", state_dir) >= sizeof(dir))
		return duress_err_set(err, ENAMETOOLONG, "%s", state_dir);
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "open %s", dir);
	}
	while ((de = readdir(d))) {
		char path[4096 + 256];
		size_t nl = strlen(de->d_name);

		if (nl < 6 || strcmp(de->d_name + nl - 5, ".undo"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (except && !strcmp(path, except))
			continue;
		if (replay(path, false, dry_run, quiet_busy, out, report, err) < 0) {
			fprintf(out, "%s\n", err->msg);
			rc = -1;
		}
	}
	return rc;
}
