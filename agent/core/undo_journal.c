// SPDX-License-Identifier: MIT
/* The persisted undo journal; format and locking in undo_journal.h. */
#include <duress/core/proc.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/statedir.h>
#include <duress/core/undo.h>
#include <duress/core/undo_journal.h>

#include <ctype.h>
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

uint32_t undo_journal_crc32(const void *buf, size_t len)
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

int undo_journal_escape(const char *in, char *out, size_t len)
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

int undo_journal_unescape(char *s)
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
	n = snprintf(line, bl + 16, "%08" PRIx32 " %s\n", undo_journal_crc32(body, bl), body);
	do
		w = write(j->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w != n)
		return duress_err_set(err, w < 0 ? errno : EIO, "append to journal %s", j->path);
	if (fdatasync(j->fd) < 0)
		return duress_err_set(err, errno, "fdatasync journal %s", j->path);
	return 0;
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
			return 0;
		}
		if (errno != EEXIST || unlinkat(j->dirfd, name, 0) < 0)
			break;
	}
	return duress_err_set(err, errno, "create journal %s", j->path);
}

int undo_journal_add(struct undo_journal *j, struct undo_rec *rec, struct duress_err *err)
{
	size_t vlen = strlen(rec->value) * 3 + 2;
	cleanup_free char *body = malloc(vlen + 3 * (sizeof(rec->where) + sizeof(rec->what)) + 256);
	cleanup_free char *val = malloc(vlen);
	char fault[128], where[3 * sizeof(rec->where) + 2], what[3 * sizeof(rec->what) + 2];

	if (!body || !val)
		return duress_err_set(err, ENOMEM, "journal %s", j->path);
	if (undo_journal_escape(rec->fault, fault, sizeof(fault)) < 0 ||
	    undo_journal_escape(rec->where, where, sizeof(where)) < 0 ||
	    undo_journal_escape(rec->what, what, sizeof(what)) < 0 ||
	    undo_journal_escape(rec->value, val, vlen) < 0)
		return duress_err_set(err, ENAMETOOLONG, "journal %s: field too long", j->path);
	rec->jid = j->next_id++; /* unique across the logs sharing the journal */
	sprintf(body, "%" PRIu64 " ADD %zu %s %s %s %s %s", ++j->seq, rec->jid, rec->kind->name,
		fault, where, what, val);
	if (append_line(j, body, err) < 0)
		return -1;
	/* named once it holds a step: a replay reads the file by its name */
	return j->unnamed ? journal_name(j, err) : 0;
}

static int sink_add(void *ctx, struct undo_rec *rec, struct duress_err *err)
{
	return undo_journal_add(ctx, rec, err);
}

static int sink_done(void *ctx, const struct undo_rec *rec, struct duress_err *err)
{
	return undo_journal_done(ctx, rec->jid, err);
}

static const struct undo_sink journal_sink = { .add = sink_add, .done = sink_done };

void undo_journal_attach(struct undo_journal *j, struct undo_log *log)
{
	log->sink = j ? &journal_sink : NULL;
	log->sink_ctx = j;
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
	char body[4096 + 128], ecmd[1024], name[32];
	unsigned long long start = 0;
	cleanup_close int sfd = -1;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	j->dirfd = -1;
	snprintf(name, sizeof(name), "%d.undo", (int)getpid());
	if ((size_t)snprintf(j->path, sizeof(j->path), "%.4000s/journal/%s", state_dir, name) >=
	    sizeof(j->path))
		return duress_err_set(err, ENAMETOOLONG, "%s", state_dir);
	/* the state directory, checked (statedir.h); the journal folder below
	 * it is held open for the journal's life: every name is resolved from
	 * it, never from a path again */
	sfd = statedir_open(state_dir, true, err);
	if (sfd < 0)
		return -1;
	j->dirfd = statedir_subdir(sfd, "journal", true, err);
	if (j->dirfd < 0)
		return -1;
	/* Without a name until its first step (undo_journal_add): an agent
	 * killed before it changed anything leaves no file.  Filesystems
	 * without O_TMPFILE get the name at once. */
	j->fd = openat(j->dirfd, ".", O_TMPFILE | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
	j->unnamed = j->fd >= 0;
	if (j->fd < 0) {
		/* a stale file of a dead process with our pid */
		unlinkat(j->dirfd, name, 0);
		j->fd = openat(j->dirfd, name,
			       O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
			       0600);
	}
	if (j->fd < 0) {
		int e = errno;

		close(j->dirfd);
		j->dirfd = -1;
		return duress_err_set(err, e, "create journal %s", j->path);
	}
	if (flock(j->fd, LOCK_SH | LOCK_NB) < 0) {
		int e = errno;

		close(j->fd);
		j->fd = -1;
		return duress_err_set(err, e, "lock journal %s", j->path);
	}
	proc_starttime(getpid(), &start);
	if (undo_journal_escape(cmd, ecmd, sizeof(ecmd)) < 0)
		snprintf(ecmd, sizeof(ecmd), "?");
	snprintf(body, sizeof(body), "0 BEGIN pid=%d start=%llu cmd=%s", (int)getpid(), start,
		 ecmd);
	if (append_line(j, body, err) < 0) {
		undo_journal_close(j, true);
		return -1;
	}
	if (!j->unnamed)
		fsync(j->dirfd);
	return 0;
}

void undo_journal_close(struct undo_journal *j, bool remove)
{
	if (j->fd < 0)
		return;
	if (remove && !j->unnamed && j->dirfd >= 0)
		unlinkat(j->dirfd, strrchr(j->path, '/') + 1, 0);
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

int undo_journal_parse(const char *text, undo_kind_lookup find, struct undo_log *steps, pid_t *pid,
		       unsigned long long *start, size_t *torn, struct duress_err *err)
{
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
		if (end != buf + 8 || crc != undo_journal_crc32(buf + 9, ll - 9)) {
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
			const struct undo_kind *k = find(f[3]);
			struct duress_err e = { 0 };

			for (int i = 4; i < 8; i++)
				if (undo_journal_unescape(f[i]) < 0) {
					(*torn)++;
					return 0;
				}
			if (!k)
				/* not one the agent records (kill, unlink and umount
				 * are not kinds any more): not its journal */
				return duress_err_set(
					err, EPROTO, "record %s: unknown kind '%.40s'", f[2], f[3]);
			if (undo_record(steps, k, f[4], f[5], f[6], f[7], &e) < 0) {
				*err = e;
				return -1;
			}
			steps->recs[steps->n - 1].jid = strtoul(f[2], NULL, 10);
		} else if (nf == 3 && !strcmp(f[1], "DONE")) {
			/* Done steps stay in, marked: a replay skips them, but the
			 * views they went through must still be removed before the
			 * journal (a guardian killed after its last DONE and before
			 * the unlink). */
			size_t id = strtoul(f[2], NULL, 10);

			for (size_t i = 0; i < steps->n; i++)
				if (steps->recs[i].jid == id)
					steps->recs[i].done = true;
		} else {
			(*torn)++;
			break;
		}
	}
	return 0;
}
