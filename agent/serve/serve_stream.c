// SPDX-License-Identifier: MIT
/* GET /v1/samples, plain and followed (serve_stream.h). */
#include <duress/core/cleanup.h>
#include <duress/core/fileio.h>
#include <duress/serve/serve_conn.h>
#include <duress/serve/serve_reply.h>
#include <duress/serve/serve_stream.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* GET /v1/samples?follow=1: a response that waits (suspended) for the
 * next sample of its job: the server's own (target=, from the job's ring)
 * or the job's file (job=, read from an offset, whole lines only). */
struct follower {
	struct serve_server *srv;
	char id[SERVE_ID_MAX + 1];
	uint64_t next; /* ring: the next sample's number */
	bool file;     /* job=: DIR/samples.jsonl */
	char path[PATH_MAX + 128];
	uint64_t off; /* file: bytes already sent */
	struct MHD_Connection *c;
	bool suspended;
	struct follower *nextf;
};

static struct follower *followers;

/* New samples (or the end of the job, or of the server): wake them all. */
void stream_resume_all(void)
{
	for (struct follower *f = followers; f; f = f->nextf)
		if (f->suspended) {
			f->suspended = false;
			MHD_resume_connection(f->c);
		}
}

/* The whole lines of f's file from f->off that fit in max bytes (a line
 * longer than max goes in pieces); 0 when nothing new. */
static size_t follow_file(struct follower *f, char *buf, size_t max)
{
	cleanup_close int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : pread(fd, buf, max, (off_t)f->off);
	char *nl;

	if (n <= 0)
		return 0;
	nl = memrchr(buf, '\n', (size_t)n);
	if (nl)
		n = nl - buf + 1;
	else if ((size_t)n < max)
		return 0; /* a line still being written */
	f->off += (uint64_t)n;
	return (size_t)n;
}

static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follower *f = cls;
	struct job *j = job_by_id(&f->srv->tab, f->id);
	size_t n = 0;

	if (!j || f->srv->stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (f->file) {
		bool ended = j->state == JOB_EXITED; /* before the read: no last line lost */

		n = follow_file(f, buf, max);
		if (n)
			return (ssize_t)n;
		if (ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		f->suspended = true;
		MHD_suspend_connection(f->c);
		return 0;
	}
	if (f->next + SERVE_RING < j->total)
		f->next = j->total - SERVE_RING;
	while (f->next < j->total) {
		const char *line = j->ring[f->next % SERVE_RING];
		size_t l = strlen(line);

		if (n + l + 1 > max)
			break;
		memcpy(buf + n, line, l);
		buf[n + l] = '\n';
		n += l + 1;
		f->next++;
	}
	if (n)
		return (ssize_t)n;
	if (j->state == JOB_EXITED)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* nothing new: wait for the next sampling round */
	f->suspended = true;
	MHD_suspend_connection(f->c);
	return 0;
}

static void follow_free(void *cls)
{
	struct follower *f = cls;

	for (struct follower **pp = &followers; *pp; pp = &(*pp)->nextf)
		if (*pp == f) {
			*pp = f->nextf;
			break;
		}
	free(f);
}

/* Where the last `want` lines of a file begin (0: all of it when want is 0). */
static uint64_t last_lines_offset(const char *path, size_t want)
{
	size_t len = 0, lines = 0;
	cleanup_free char *tail = NULL;
	struct stat st;
	char *p;

	if (!want || stat(path, &st) < 0)
		return 0;
	tail = fileio_slurp(path, 8 << 20, true, &len);
	if (!tail)
		return 0;
	p = tail + len;
	while (p > tail && p[-1] == '\n')
		p--; /* the end of the last line */
	while (p > tail) {
		if (p[-1] == '\n' && ++lines == want)
			break;
		p--;
	}
	/* the tail was read from (size - len): p - tail bytes into it */
	return (uint64_t)st.st_size - len + (uint64_t)(p - tail);
}

/* Stream job j's samples: the server's own of its target (from the ring,
 * the last `want`), or with file set the job's own file (the last `want`
 * lines; 0: all). */
static enum MHD_Result follow(struct serve_server *srv, struct MHD_Connection *c, struct job *j,
			      size_t want, bool file)
{
	struct follower *f;
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* long-lived: a few per client, the other slots stay for the rest */
	if (conn_streams(c) >= SERVE_STREAMS_PER_CLIENT)
		return reply_fail(c, 429, "follow", "follow: %d streams from this client already",
				  SERVE_STREAMS_PER_CLIENT);
	f = calloc(1, sizeof(*f));
	if (!f)
		return MHD_NO;
	f->srv = srv;
	snprintf(f->id, sizeof(f->id), "%s", j->id);
	if (file) {
		f->file = true;
		snprintf(f->path, sizeof(f->path), "%s/samples.jsonl", j->dir);
		f->off = last_lines_offset(f->path, want);
	} else {
		f->next = j->total - (j->ring_n < want ? j->ring_n : want);
	}
	f->c = c;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, follow_read, f,
					      follow_free);
	if (!r) {
		free(f);
		return MHD_NO;
	}
	f->nextf = followers;
	followers = f;
	MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	if (ret == MHD_YES)
		conn_stream(c, true);
	return ret;
}

/* GET /v1/samples?target=X (or ?job=ID): JSON Lines; &follow=1 streams. */
enum MHD_Result stream_get_samples(struct serve_server *srv, struct MHD_Connection *c)
{
	const char *target = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "target");
	const char *jid = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "job");
	const char *last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last");
	const char *fol = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "follow");
	const char *now = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "now");
	bool follow_on = false;
	struct job *j = NULL;
	size_t want = SERVE_RING, cap = 4096, n = 0;
	char *out;

	if (last) {
		char *end;
		unsigned long v = strtoul(last, &end, 10);

		if (!*last || *end || v == 0 || v > SERVE_RING)
			return reply_fail(c, 422, "last",
					  "last: '%s': expected a count of 1 to 120", last);
		want = v;
	}
	if (fol) {
		if (!strcmp(fol, "1") || !strcmp(fol, "true") || !*fol)
			follow_on = true;
		else if (strcmp(fol, "0") && strcmp(fol, "false"))
			return reply_fail(c, 422, "follow",
					  "follow: '%s': expected 1, true, 0 or false", fol);
	}
	if (jid) {
		char path[PATH_MAX + 128];
		size_t len = 0;
		char *text;

		j = job_by_id(&srv->tab, jid);
		if (!j)
			return reply_fail(c, 404, "job", "job: '%s': no such job", jid);
		if (follow_on)
			return follow(srv, c, j, last ? want : 0, true);
		snprintf(path, sizeof(path), "%s/samples.jsonl", j->dir);
		text = fileio_slurp(path, 8 << 20, true, &len);
		if (!text)
			text = strdup("");
		return reply(c, 200, "application/x-ndjson", text, text ? strlen(text) : 0);
	}
	if (!target)
		return reply_fail(c, 422, "target", "%s",
				  "target: required (?target=SPEC or ?job=ID)");
	if (now && strcmp(now, "0") && strcmp(now, "false")) {
		struct serve_error e;
		char *line;
		size_t len;

		if (strcmp(now, "1") && strcmp(now, "true") && *now)
			return reply_fail(c, 422, "now", "now: '%s': expected 1, true, 0 or false",
					  now);
		if (follow_on || last)
			return reply_fail(c, 422, "now", "%s",
					  "now: one sample now, without follow or last");
		line = jobs_sample_now(&srv->tab, target, &e);
		if (!line)
			return reply_error(c, &e);
		len = strlen(line);
		line[len] = '\n'; /* in place of json_dumps' NUL: the len + 1 bytes sent */
		return reply(c, 200, "application/x-ndjson", line, len + 1);
	}
	/* the newest job on that target, a running one first */
	for (int pass = 0; pass < 2 && !j; pass++)
		for (size_t i = srv->tab.njobs; i-- > 0 && !j;)
			if (srv->tab.jobs[i]->have_t &&
			    (pass || srv->tab.jobs[i]->state != JOB_EXITED) &&
			    serve_target_matches(target, srv->tab.jobs[i]->spec,
						 srv->tab.jobs[i]->t.dir, srv->tab.jobs[i]->t.rel))
				j = srv->tab.jobs[i];
	if (!j)
		return reply_fail(
			c, 404, "target",
			"target: '%s': not the target of a fault or experiment of this agent",
			target);
	if (follow_on)
		return follow(srv, c, j, want, false);
	out = malloc(cap);
	if (!out)
		return MHD_NO;
	out[0] = '\0';
	for (size_t k = j->ring_n > want ? j->ring_n - want : 0; k < j->ring_n; k++) {
		const char *line =
			j->ring[(j->ring_head + SERVE_RING - j->ring_n + k) % SERVE_RING];
		size_t l = strlen(line);

		if (n + l + 2 > cap) {
			char *p;

			cap = (n + l + 2) * 2;
			p = realloc(out, cap);
			if (!p) {
				free(out);
				return MHD_NO;
			}
			out = p;
		}
		memcpy(out + n, line, l);
		n += l;
		out[n++] = '\n';
		out[n] = '\0';
	}
	return reply(c, 200, "application/x-ndjson", out, n);
}
