// SPDX-License-Identifier: MIT
/* The persisted undo journal; format and locking in undo_journal.h. */
#include <duress/core/proc.h>
#include <duress/targets/cgview.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/undo.h>
#include <duress/core/undo_journal.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *state_dir_resolve(const char *opt)
{
	const char *env = getenv("DURESS_STATE_DIR");

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	return DURESS_STATE_DIR_DEFAULT;
}

uint32_t journal_crc32(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

int journal_escape(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!*in) {
		/* an empty field is written as a lone "%" so fields stay positional */
		if (len < 2)
			return -1;
		out[0] = '%';
		out[1] = '\0';
		return 0;
	}
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p <= 0x20 || *p == '%' || *p >= 0x7f) {
			if (o + 3 >= len)
				return -1;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else {
			if (o + 1 >= len)
				return -1;
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int journal_unescape(char *s)
{
	char *w = s;

	if (!strcmp(s, "%")) {
		*s = '\0';
		return 0;
	}
	for (char *r = s; *r; r++) {
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		if (hexval(r[1]) < 0 || hexval(r[2]) < 0)
			return -1;
		*w++ = (char)(hexval(r[1]) << 4 | hexval(r[2]));
		r += 2;
	}
	*w = '\0';
	return 0;
}

/* Write "<crc> <body>\n" in one write and make it durable. */
static int append_line(struct undo_journal *j, const char *body, struct duress_err *err)
{
	size_t bl = strlen(body);
	cleanup_free char *line = malloc(bl + 16);
	int n;
	ssize_t w;

	if (!line)
		return duress_err_set(err, ENOMEM, "journal %s", j->path);
	n = snprintf(line, bl + 16, "%08" PRIx32 " %s\n", journal_crc32(body, bl), body);
	do
		w = write(j->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w != n)
		return duress_err_set(err, w < 0 ? errno : EIO, "append to journal %s", j->path);
	if (fdatasync(j->fd) < 0)
		return duress_err_set(err, errno, "fdatasync journal %s", j->path);
	return 0;
}

static int mkdir_p(const char *path, mode_t mode, struct duress_err *err)
{
	char buf[4096];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return duress_err_set(err, ENAMETOOLONG, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return duress_err_set(err, errno, "create state directory %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return duress_err_set(err, errno, "create state directory %s", buf);
	return 0;
}

/* make a new directory entry durable too */
static void sync_dir_of(const char *path)
{
	char dir[4096];
	char *slash;
	int dfd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

/* Give an O_TMPFILE journal its name (replacing a stale file of a dead
 * process with our pid, as O_TRUNC did).  Relative to the directory opened
 * with it: the agent may have moved to a private mount namespace since
 * (views), where the path is another mount and a link across mounts fails
 * (EXDEV). */
static int journal_name(struct undo_journal *j, struct duress_err *err)
{
	const char *name = strrchr(j->path, '/') + 1;
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", j->fd);
	for (int tries = 0; tries < 2; tries++) {
		if (linkat(AT_FDCWD, proc, j->dirfd, name, AT_SYMLINK_FOLLOW) == 0 ||
		    linkat(j->fd, "", j->dirfd, name, AT_EMPTY_PATH) == 0) {
			j->unnamed = false;
			fsync(j->dirfd);
			close(j->dirfd);
			j->dirfd = -1;
			return 0;
		}
		if (errno != EEXIST || unlinkat(j->dirfd, name, 0) < 0)
			break;
	}
	return duress_err_set(err, errno, "create journal %s", j->path);
}

int undo_journal_add(struct undo_journal *j, const struct undo_rec *rec, struct duress_err *err)
{
	size_t vlen = strlen(rec->value) * 3 + 2;
	cleanup_free char *body = malloc(vlen + 3 * (sizeof(rec->where) + sizeof(rec->what)) + 256);
	cleanup_free char *val = malloc(vlen);
	char fault[128], where[3 * sizeof(rec->where) + 2], what[3 * sizeof(rec->what) + 2];

	if (!body || !val)
		return duress_err_set(err, ENOMEM, "journal %s", j->path);
	if (journal_escape(rec->fault, fault, sizeof(fault)) < 0 ||
	    journal_escape(rec->where, where, sizeof(where)) < 0 ||
	    journal_escape(rec->what, what, sizeof(what)) < 0 ||
	    journal_escape(rec->value, val, vlen) < 0)
		return duress_err_set(err, ENAMETOOLONG, "journal %s: field too long", j->path);
	sprintf(body, "%" PRIu64 " ADD %zu %s %s %s %s %s", ++j->seq, rec->jid, rec->kind, fault,
		where, what, val);
	if (append_line(j, body, err) < 0)
		return -1;
	/* named once it holds a step: a replay reads the file by its name */
	return j->unnamed ? journal_name(j, err) : 0;
}

int undo_journal_done(struct undo_journal *j, size_t id, struct duress_err *err)
{
	char body[64];

	snprintf(body, sizeof(body), "%" PRIu64 " DONE %zu", ++j->seq, id);
	return append_line(j, body, err);
}

int undo_journal_open(struct undo_journal *j, const char *state_dir, const char *cmd,
		      struct duress_err *err)
{
	char dir[4096], body[4096 + 128], ecmd[1024];
	unsigned long long start = 0;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	j->dirfd = -1;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/journal", state_dir) >= sizeof(dir))
		return duress_err_set(err, ENAMETOOLONG, "%s", state_dir);
	if (mkdir_p(dir, 0700, err) < 0)
		return -1;
	if ((size_t)snprintf(j->path, sizeof(j->path), "%.4000s/%d.undo", dir, (int)getpid()) >=
	    sizeof(j->path))
		return duress_err_set(err, ENAMETOOLONG, "%s", dir);
	/* Without a name until its first step (undo_journal_add): an agent
	 * killed before it changed anything leaves no file.  Filesystems
	 * without O_TMPFILE get the name at once. */
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd >= 0)
		j->fd = openat(j->dirfd, ".", O_TMPFILE | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
	j->unnamed = j->fd >= 0;
	if (!j->unnamed && j->dirfd >= 0) {
		close(j->dirfd);
		j->dirfd = -1;
	}
	if (j->fd < 0)
		j->fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return duress_err_set(err, errno, "create journal %s", j->path);
	if (flock(j->fd, LOCK_SH | LOCK_NB) < 0) {
		int e = errno;

		close(j->fd);
		j->fd = -1;
		return duress_err_set(err, e, "lock journal %s", j->path);
	}
	proc_starttime(getpid(), &start);
	if (journal_escape(cmd, ecmd, sizeof(ecmd)) < 0)
		snprintf(ecmd, sizeof(ecmd), "?");
	snprintf(body, sizeof(body), "0 BEGIN pid=%d start=%llu cmd=%s", (int)getpid(), start, ecmd);
	if (append_line(j, body, err) < 0) {
		undo_journal_close(j, true);
		return -1;
	}
	if (!j->unnamed)
		sync_dir_of(j->path);
	return 0;
}

void undo_journal_close(struct undo_journal *j, bool remove)
{
	if (j->fd < 0)
		return;
	if (remove && !j->unnamed)
		unlink(j->path);
	if (j->dirfd >= 0) {
		close(j->dirfd);
		j->dirfd = -1;
	}
	close(j->fd);
	j->fd = -1;
}

/* Split a line into space-separated fields in place. */
static int split(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	return n;
}

int journal_parse(const char *text, struct undo_log *steps, pid_t *pid,
		  unsigned long long *start, size_t *torn, struct duress_err *err)
{
	struct undo_log all;
	cleanup_free size_t *ids = NULL;
	size_t nids = 0, cap = 0;

	undo_log_init(&all);
	*pid = 0;
	*start = 0;
	*torn = 0;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll;
		cleanup_free char *buf = NULL;
		char *f[9];
		int nf;
		unsigned long crc;
		char *end;

		if (!nl) {
			(*torn)++; /* the last line never made it to disk whole */
			break;
		}
		ll = nl - line;
		buf = strndup(line, ll);
		line = nl + 1;
		if (!buf || ll < 10 || buf[8] != ' ') {
			(*torn)++;
			break;
		}
		crc = strtoul(buf, &end, 16);
		if (end != buf + 8 || crc != journal_crc32(buf + 9, ll - 9)) {
			(*torn)++;
			break;
		}
		nf = split(buf + 9, f, 9);
		if (nf >= 3 && !strcmp(f[1], "BEGIN")) {
			for (int i = 2; i < nf; i++) {
				if (!strncmp(f[i], "pid=", 4))
					*pid = (pid_t)atoi(f[i] + 4);
				else if (!strncmp(f[i], "start=", 6))
					*start = strtoull(f[i] + 6, NULL, 10);
			}
		} else if (nf == 8 && !strcmp(f[1], "ADD")) {
			struct duress_err e = { 0 };

			for (int i = 4; i < 8; i++)
				if (journal_unescape(f[i]) < 0) {
					(*torn)++;
					goto out;
				}
			if (undo_record(&all, f[3], f[4], f[5], f[6], f[7], &e) < 0) {
				/* a kind this binary does not know: keep going, report */
				fprintf(stderr, "duress: journal: %s\n", e.msg);
				continue;
			}
			if (nids == cap) {
				size_t nc = cap ? cap * 2 : 16;
				size_t *ni = realloc(ids, nc * sizeof(*ni));

				if (!ni) {
					undo_log_free(&all);
					return duress_err_set(err, ENOMEM, "journal");
				}
				ids = ni;
				cap = nc;
			}
			ids[nids++] = strtoul(f[2], NULL, 10);
		} else if (nf == 3 && !strcmp(f[1], "DONE")) {
			size_t id = strtoul(f[2], NULL, 10);

			for (size_t i = 0; i < nids; i++)
				if (ids[i] == id)
					all.recs[i].done = true;
		} else {
			(*torn)++;
			break;
		}
	}
out:
	/* Done steps stay in, marked: a replay skips them, but the views they
	 * went through must still be removed before the journal (a guardian
	 * killed after its last DONE and before the unlink). */
	for (size_t i = 0; i < all.n; i++) {
		struct undo_rec *r = &all.recs[i];
		struct duress_err e = { 0 };

		if (undo_record(steps, r->kind, r->fault, r->where, r->what, r->value, &e) < 0) {
			undo_log_free(&all);
			*err = e;
			return -1;
		}
		steps->recs[steps->n - 1].jid = ids[i];
		steps->recs[steps->n - 1].done = r->done;
	}
	undo_log_free(&all);
	return 0;
}

static int read_file(int fd, char **out, struct duress_err *err, const char *path)
{
	size_t cap = 8192, off = 0;
	char *buf = malloc(cap);

	if (!buf)
		return duress_err_set(err, ENOMEM, "read %s", path);
	for (;;) {
		ssize_t r;

		if (off + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return duress_err_set(err, ENOMEM, "read %s", path);
			}
			buf = nb;
			cap *= 2;
		}
		r = pread(fd, buf + off, cap - 1 - off, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			return duress_err_set(err, e, "read %s", path);
		}
		if (r == 0)
			break;
		off += r;
	}
	buf[off] = '\0';
	*out = buf;
	return 0;
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
	if (read_file(fd, &text, err, path) < 0)
		return -1;
	undo_log_init(&steps);
	if (journal_parse(text, &steps, &pid, &start, &torn, err) < 0)
		return duress_err_wrap(err, "journal %s", path);
	report->journals++;
	for (size_t i = 0; i < steps.n; i++)
		pending += !steps.recs[i].done;
	if (torn)
		fprintf(out, "%s: its last record was torn (the agent died while writing it); "
			     "replaying the %zu complete ones\n",
			path, steps.n);
	for (size_t i = steps.n; i-- > 0;) {
		const struct undo_kind *k = undo_kind_find(steps.recs[i].kind);
		char desc[1024];

		if (steps.recs[i].done)
			continue;
		k->describe(&steps.recs[i], desc, sizeof(desc));
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
	steps.journal = &j;
	undo_revert_all(&steps, &rep);
	steps.journal = NULL;
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

int journal_replay(const char *path, bool wait, bool dry_run, FILE *out,
		   struct recover_report *report, struct duress_err *err)
{
	return replay(path, wait, dry_run, false, out, report, err);
}

int journal_recover_all(const char *state_dir, const char *except, bool dry_run, bool quiet_busy,
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
