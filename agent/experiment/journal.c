// SPDX-License-Identifier: MIT
/* Experiment reports: the journal (Chaos Toolkit's journal.json plus a
 * `duress` section) and JUnit XML derived from it. */
#include <duress/experiment/journal.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/experiment.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void journal_time(double real_s, char *buf, size_t len)
{
	time_t sec = (time_t)real_s;
	struct tm tm;
	char base[32];

	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06ldZ", base, (long)((real_s - (double)sec) * 1e6));
}

/*
 * Reports are written to a temporary file in the same directory, then
 * renamed over `path`: a reader sees the old file or the new one whole, and
 * a run that stops before it writes leaves an existing file as it was.
 */
static FILE *tmp_open(const char *path, char **tmp, struct duress_err *err)
{
	FILE *f;
	int fd;

	if (asprintf(tmp, "%s.XXXXXX", path) < 0) {
		*tmp = NULL;
		duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", path);
		return NULL;
	}
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		duress_err_setc(err, DURESS_EXIT_USAGE, errno, "cannot write %s", path);
		if (fd >= 0) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
		return NULL;
	}
	return f;
}

/* Close, and rename over path when everything was written; else remove. */
static int tmp_commit(FILE *f, char *tmp, const char *path, struct duress_err *err)
{
	bool bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0;
	int e = errno;

	if (fclose(f) != 0 && !bad) {
		bad = true;
		e = errno;
	}
	if (!bad && rename(tmp, path) < 0) {
		bad = true;
		e = errno;
	}
	if (bad)
		unlink(tmp);
	free(tmp);
	if (bad)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, e, "cannot write %s", path);
	return 0;
}

int journal_write(json_t *journal, const char *path, struct duress_err *err)
{
	char *tmp;
	FILE *f = tmp_open(path, &tmp, err);

	if (!f)
		return -1;
	if (json_dumpf(journal, f, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) < 0)
		errno = EIO;
	else
		fputc('\n', f);
	return tmp_commit(f, tmp, path, err);
}

/* ---- schema check ---- */

struct key_rule {
	const char *path; /* "duress.recovery" */
	json_type type;
	bool nullable;
};

static const struct key_rule rules[] = {
	{ "experiment", JSON_OBJECT, false },
	{ "start", JSON_STRING, false },
	{ "end", JSON_STRING, false },
	{ "duration", JSON_REAL, false },
	{ "status", JSON_STRING, false },
	{ "deviated", JSON_TRUE, false },
	{ "steady_states", JSON_OBJECT, false },
	{ "steady_states.before", JSON_OBJECT, true },
	{ "steady_states.after", JSON_OBJECT, true },
	{ "steady_states.during", JSON_ARRAY, false },
	{ "run", JSON_ARRAY, false },
	{ "rollbacks", JSON_ARRAY, false },
	{ "duress", JSON_OBJECT, false },
	{ "duress.format", JSON_STRING, false },
	{ "duress.verdict", JSON_STRING, false },
	{ "duress.exit_code", JSON_INTEGER, false },
	{ "duress.target", JSON_OBJECT, true }, /* null: probes only */
	{ "duress.abort", JSON_OBJECT, true },
	{ "duress.phases", JSON_OBJECT, false },
	{ "duress.phases.before", JSON_OBJECT, false },
	{ "duress.phases.during", JSON_OBJECT, false },
	{ "duress.phases.after", JSON_OBJECT, false },
	{ "duress.revert", JSON_OBJECT, false },
	{ "duress.revert.not_reverted", JSON_ARRAY, false },
	{ "duress.recovery", JSON_OBJECT, false },
	{ "duress.recovery.probes_s", JSON_REAL, true },
	{ "duress.recovery.pressure_s", JSON_REAL, true },
	{ "duress.probes", JSON_ARRAY, false },
	{ "duress.kernel_events", JSON_ARRAY, false },
	{ "duress.silent_failures", JSON_ARRAY, false },
	{ "duress.faults", JSON_ARRAY, false },
};

static json_t *get_path(json_t *j, const char *path)
{
	char key[64];

	while (j && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		j = json_object_get(j, key);
		path += n + (path[n] == '.');
	}
	return j;
}

static bool type_ok(json_t *v, json_type want, bool nullable)
{
	if (json_is_null(v))
		return nullable;
	switch (want) {
	case JSON_TRUE:
		return json_is_boolean(v);
	case JSON_REAL:
		return json_is_number(v);
	default:
		return json_typeof(v) == want;
	}
}

int journal_check(json_t *journal, struct duress_err *err)
{
	static const char *const statuses[] = { "completed", "failed", "aborted", "interrupted" };
	const char *st;
	bool ok = false;

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(rules); i++) {
		json_t *v = get_path(journal, rules[i].path);

		if (!v)
			return duress_err_set(err, 0, "journal: %s: missing", rules[i].path);
		if (!type_ok(v, rules[i].type, rules[i].nullable))
			return duress_err_set(err, 0, "journal: %s: wrong type", rules[i].path);
	}
	st = json_string_value(json_object_get(journal, "status"));
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(statuses); i++)
		ok |= !strcmp(st, statuses[i]);
	if (!ok)
		return duress_err_set(err, 0, "journal: status: '%s' is not a Chaos Toolkit status",
				      st);
	return 0;
}

/* ---- JUnit XML ---- */

static void xml_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

struct suite {
	FILE *body;
	char *text;
	size_t len;
	unsigned tests, failures, skipped;
};

static void testcase(struct suite *s, const char *cls, const char *name, double secs,
		     const char *failure, const char *skipped)
{
	fprintf(s->body, "    <testcase classname=\"");
	xml_text(s->body, cls);
	fprintf(s->body, "\" name=\"");
	xml_text(s->body, name);
	fprintf(s->body, "\" time=\"%.3f\"", secs);
	s->tests++;
	if (!failure && !skipped) {
		fprintf(s->body, "/>\n");
		return;
	}
	fprintf(s->body, ">\n      <%s message=\"", failure ? "failure" : "skipped");
	xml_text(s->body, failure ? failure : skipped);
	fprintf(s->body, "\"/>\n    </testcase>\n");
	if (failure)
		s->failures++;
	else
		s->skipped++;
}

static const char *rec_name(json_t *rec)
{
	const char *n =
		json_string_value(json_object_get(json_object_get(rec, "activity"), "name"));

	return n ? n : "activity";
}

static const char *rec_failure(json_t *rec, bool steady)
{
	json_t *exc = json_object_get(rec, "exception");

	if (steady ? json_is_false(json_object_get(rec, "tolerance_met"))
		   : !strcmp(json_string_value(json_object_get(rec, "status")) ?: "", "failed"))
		return json_string_value(json_array_get(exc, 0)) ?: "failed";
	return NULL;
}

static void steady_cases(struct suite *s, json_t *state, const char *cls)
{
	json_t *rec;
	size_t i;

	if (!json_is_object(state))
		return;
	json_array_foreach(json_object_get(state, "probes"), i, rec)
		testcase(s, cls, rec_name(rec), json_number_value(json_object_get(rec, "duration")),
			 rec_failure(rec, true), NULL);
}

int journal_junit_write(json_t *journal, const char *path, struct duress_err *err)
{
	char *tmp = NULL;
	FILE *f = tmp_open(path, &tmp, err);
	struct suite s = { 0 };
	json_t *d = json_object_get(journal, "duress"), *rec, *v;
	const char *title =
		json_string_value(json_object_get(json_object_get(journal, "experiment"), "title"));
	char msg[512];
	size_t i;

	if (!f)
		return duress_err_wrap(err, "--junit");
	if (!title)
		title = json_string_value(
			json_object_get(json_object_get(journal, "experiment"), "name"));
	s.body = open_memstream(&s.text, &s.len);
	if (!s.body) {
		fclose(f);
		unlink(tmp);
		free(tmp);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "junit");
	}
	steady_cases(&s, json_object_get(json_object_get(journal, "steady_states"), "before"),
		     "steady state before");
	json_array_foreach(json_object_get(journal, "run"), i, rec)
		testcase(&s, "method", rec_name(rec),
			 json_number_value(json_object_get(rec, "duration")),
			 rec_failure(rec, false), NULL);
	json_array_foreach(json_object_get(d, "probes"), i, v) {
		json_int_t runs = json_integer_value(json_object_get(v, "runs"));
		json_int_t fails = json_integer_value(json_object_get(v, "failures"));

		snprintf(msg, sizeof(msg), "failed %lld of %lld runs during the method",
			 (long long)fails, (long long)runs);
		testcase(&s, "during the method", json_string_value(json_object_get(v, "name")), 0,
			 fails ? msg : NULL, runs ? NULL : "no probe ran during the method");
	}
	json_array_foreach(json_object_get(journal, "rollbacks"), i, rec)
		testcase(&s, "rollback", rec_name(rec),
			 json_number_value(json_object_get(rec, "duration")),
			 rec_failure(rec, false), NULL);
	v = json_object_get(json_object_get(d, "recovery"), "probes_s");
	if (json_array_size(json_object_get(journal, "run")))
		testcase(&s, "recovery", "steady-state probes hold again",
			 json_is_number(v) ? json_number_value(v) : 0,
			 json_is_number(v) || !json_array_size(json_object_get(d, "probes"))
				 ? NULL
				 : "not within recovery_timeout",
			 NULL);
	steady_cases(&s, json_object_get(json_object_get(journal, "steady_states"), "after"),
		     "steady state after");
	v = json_object_get(d, "abort");
	if (json_is_object(v))
		testcase(&s, "abort", json_string_value(json_object_get(v, "kind")) ?: "abort", 0,
			 json_string_value(json_object_get(v, "reason")), NULL);
	json_array_foreach(json_object_get(d, "silent_failures"), i, v)
		testcase(&s, "silent failure", json_string_value(json_object_get(v, "kind")) ?: "?",
			 0, json_string_value(json_object_get(v, "detail")), NULL);
	if (fclose(s.body) != 0) {
		free(s.text);
		fclose(f);
		unlink(tmp);
		free(tmp);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "junit");
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
		   "  <testsuite name=\"");
	xml_text(f, title ? title : "experiment");
	fprintf(f, "\" tests=\"%u\" failures=\"%u\" errors=\"0\" skipped=\"%u\" time=\"%.3f\">\n",
		s.tests, s.failures, s.skipped,
		json_number_value(json_object_get(journal, "duration")));
	fwrite(s.text, 1, s.len, f);
	fprintf(f, "  </testsuite>\n</testsuites>\n");
	free(s.text);
	return tmp_commit(f, tmp, path, err);
}
