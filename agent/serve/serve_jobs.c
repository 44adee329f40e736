// SPDX-License-Identifier: MIT
/*
 * The jobs of `duress serve` (serve.h): every posted experiment or fault
 * runs as a child process that re-executes the agent (`duress run` /
 * `duress inject`) in a directory of its own, STATE/serve/ID, so that the
 * undo journal, the guardian, the locks and the signal handling of the
 * command line cover it.  Here: the table of jobs, the checks before one
 * starts (its target, a kind of fault already in force there), its start
 * and end, the agent's own 1 Hz samples of its target (a ring of the last
 * SERVE_RING), and the job as JSON.  Nothing here touches HTTP: the daemon
 * (serve_daemon.c) is told through on_exit.
 */
#include <duress/samples/sample_format.h>
#include <duress/core/fileio.h>
#include <duress/core/proc.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/timing.h>

#include <duress/samples/sample.h>
#include <duress/serve/serve_jobs.h>
#include <duress/session/session.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_TAIL 8192 /* bytes of a job's log in its full JSON */

/* ---- small helpers ---- */

static void rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	char date[48];
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", date, (int)(ts->tv_nsec / 1000000));
}

static const char *exit_name(int code)
{
	static const char *const names[] = {
		"ok",	     "deviated",	 "usage",
		"no target", "unsupported",	 "internal",
		"refused",   "not reverted",	 "interrupted",
		"aborted",   "invalid manifest",
	};

	return code >= 0 && code < (int)DURESS_ARRAY_SIZE(names) ? names[code] : "unknown";
}

/* The phase of the last sample the job wrote ("before", "during", ...). */
static json_t *last_phase(const struct job *j)
{
	char path[PATH_MAX + 128];
	cleanup_free char *text = NULL;
	char *line, *end;
	json_t *o, *p = NULL;

	snprintf(path, sizeof(path), "%s/samples.jsonl", j->dir);
	text = fileio_slurp(path, 65536, true, NULL);
	if (!text)
		return json_null();
	end = text + strlen(text);
	while (end > text && end[-1] == '\n')
		*--end = '\0';
	line = strrchr(text, '\n');
	line = line ? line + 1 : text;
	o = json_loads(line, 0, NULL);
	if (o)
		p = json_incref(json_object_get(o, "phase"));
	json_decref(o);
	return p ? p : json_null();
}

void serve_withhold_bodies(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_t *out = json_object_get(v, "output");

		if (json_is_object(out) && json_object_get(out, "body"))
			json_object_set_new(out, "body", json_null());
		json_object_foreach(v, k, x)
			serve_withhold_bodies(x);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			serve_withhold_bodies(x);
	}
}

json_t *job_json(const struct job *j, bool full)
{
	static const char *const states[] = { "running", "stopping", "exited" };
	json_t *o = json_object();
	char ts[80], path[PATH_MAX + 128];
	struct timespec now;

	json_object_set_new(o, "id", json_string(j->id));
	json_object_set_new(o, "kind", json_string(j->experiment ? "experiment" : "fault"));
	json_object_set_new(o, j->experiment ? "title" : "fault", serve_json_text(j->what));
	json_object_set_new(o, "target", j->spec[0] ? serve_json_text(j->spec) : json_null());
	json_object_set_new(o, "target_dir",
			    j->have_t || j->t.dir[0] ? serve_json_text(j->t.dir) : json_null());
	json_object_set_new(o, "state", json_string(states[j->state]));
	json_object_set_new(o, "phase", last_phase(j));
	json_object_set_new(o, "pid", json_integer(j->pid));
	rfc3339(&j->started, ts, sizeof(ts));
	json_object_set_new(o, "started", json_string(ts));
	if (j->state == JOB_EXITED) {
		rfc3339(&j->ended, ts, sizeof(ts));
		json_object_set_new(o, "ended", json_string(ts));
		json_object_set_new(o, "exit_code",
				    j->signal ? json_null() : json_integer(j->exit_code));
		json_object_set_new(o, "outcome",
				    json_string(j->signal ? "killed" : exit_name(j->exit_code)));
		if (j->signal)
			json_object_set_new(o, "signal", json_integer(j->signal));
		now = j->ended;
	} else {
		json_object_set_new(o, "ended", json_null());
		json_object_set_new(o, "exit_code", json_null());
		clock_gettime(CLOCK_REALTIME, &now);
	}
	json_object_set_new(o, "elapsed_s",
			    json_real((double)(now.tv_sec - j->started.tv_sec) +
				      (now.tv_nsec - j->started.tv_nsec) / 1e9));
	if (j->lease_s > 0) {
		json_t *l = json_object();
		double left = j->lease_deadline - timing_now();

		json_object_set_new(l, "seconds", json_real(j->lease_s));
		json_object_set_new(l, "expires_in_s",
				    j->state == JOB_RUNNING && left > 0
					    ? json_real(round(left * 1000) / 1000)
					    : json_null());
		json_object_set_new(l, "expired", json_boolean(j->lease_expired));
		json_object_set_new(o, "lease", l);
	}
	if (!full)
		return o;
	snprintf(path, sizeof(path), "%s/%s", j->dir,
		 j->experiment ? "journal.json" : "summary.json");
	{
		json_t *doc = json_load_file(path, 0, NULL);

		serve_withhold_bodies(doc);
		json_object_set_new(o, j->experiment ? "journal" : "summary", doc ?: json_null());
	}
	{
		cleanup_free char *log = NULL;

		snprintf(path, sizeof(path), "%s/log", j->dir);
		log = fileio_slurp(path, LOG_TAIL, true, NULL);
		json_object_set_new(o, "log",
				    log ? serve_json_text(log) ?: json_null() : json_null());
	}
	return o;
}

struct job *job_find(const struct job_table *tab, const char *id, bool experiment)
{
	for (size_t i = 0; i < tab->njobs; i++)
		if (!strcmp(tab->jobs[i]->id, id) && tab->jobs[i]->experiment == experiment)
			return tab->jobs[i];
	return NULL;
}

struct job *job_by_id(const struct job_table *tab, const char *id)
{
	for (size_t i = 0; i < tab->njobs; i++)
		if (!strcmp(tab->jobs[i]->id, id))
			return tab->jobs[i];
	return NULL;
}

void job_free(struct job *j)
{
	for (size_t i = 0; i < SERVE_RING; i++)
		free(j->ring[i]);
	target_release(&j->t);
	free(j);
}

/* The job's directory: opened without following a link in its last
 * component (the state directory above it is checked, statedir.h). */
static DIR *job_dir_open(const struct job *j)
{
	int fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

uint64_t job_dir_bytes(const struct job *j)
{
	DIR *d = job_dir_open(j);
	uint64_t n = 0;
	struct dirent *de;
	struct stat st;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			n += (uint64_t)st.st_blocks * 512;
	closedir(d);
	return n;
}

/* Remove the job's directory and what the job wrote in it (files only:
 * a job makes no directories; a link is removed, never followed). */
static void job_dir_remove(const struct job *j)
{
	DIR *d = job_dir_open(j);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				(void)unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	(void)rmdir(j->dir);
}

void job_discard(struct job *j)
{
	job_dir_remove(j);
	job_free(j);
}

/* Drop finished job i: its directory goes with it. */
static void job_evict(struct job_table *tab, size_t i)
{
	job_discard(tab->jobs[i]);
	memmove(&tab->jobs[i], &tab->jobs[i + 1], (tab->njobs - i - 1) * sizeof(tab->jobs[0]));
	tab->njobs--;
}

/* Room for one more job: drop the oldest finished one when full. */
static bool job_room(struct job_table *tab)
{
	if (tab->njobs < SERVE_MAX_JOBS)
		return true;
	for (size_t i = 0; i < tab->njobs; i++) {
		if (tab->jobs[i]->state != JOB_EXITED)
			continue;
		job_evict(tab, i);
		return true;
	}
	return false;
}

void jobs_trim(struct job_table *tab)
{
	uint64_t total = 0, cap = tab->bytes_max ? tab->bytes_max : SERVE_STATE_BYTES_MAX;
	size_t finished = 0;

	for (size_t i = 0; i < tab->njobs; i++) {
		const struct job *j = tab->jobs[i];

		/* a finished job's files no longer grow: counted once */
		total += j->state == JOB_EXITED ? j->bytes : job_dir_bytes(j);
		finished += j->state == JOB_EXITED;
	}
	/* the oldest finished first; the newest stays, whatever its size (its
	 * client is about to read it) */
	for (size_t i = 0; i < tab->njobs && total > cap && finished > 1;) {
		if (tab->jobs[i]->state != JOB_EXITED) {
			i++;
			continue;
		}
		total -= tab->jobs[i]->bytes;
		finished--;
		job_evict(tab, i);
	}
}

struct job *job_new(struct job_table *tab, bool experiment, const char *id, struct serve_error *e)
{
	struct job *j;
	int rc;

	if (id && *id) {
		bool ok = strlen(id) <= SERVE_ID_MAX;

		for (const char *p = id; ok && *p; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-';
		if (!ok) {
			serve_error_set(e, 422, "id", "id: expected 1 to %d letters, digits or '-'",
					SERVE_ID_MAX);
			return NULL;
		}
	}
	for (size_t i = 0; id && *id && i < tab->njobs; i++)
		if (!strcmp(tab->jobs[i]->id, id)) {
			serve_error_set(e, 409, "id", "id: '%s' is taken (by a job %s)", id,
					tab->jobs[i]->state == JOB_EXITED ? "that ended"
									  : "in force");
			return NULL;
		}

	if (!job_room(tab)) {
		serve_error_set(e, 503, "", "too many jobs (%d) running", SERVE_MAX_JOBS);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		serve_error_set(e, 500, "", "out of memory");
		return NULL;
	}
	target_init(&j->t);
	j->experiment = experiment;
	++tab->seq;
	if (id && *id)
		snprintf(j->id, sizeof(j->id), "%s", id);
	else /* never one a client chose: the next number that is free */
		for (;; tab->seq++) {
			snprintf(j->id, sizeof(j->id), "%s-%lu", experiment ? "exp" : "flt",
				 tab->seq);
			if (!job_by_id(tab, j->id))
				break;
		}
	/* a directory of its own, also when an earlier server used the id */
	snprintf(j->dir, sizeof(j->dir), "%s/serve/%s", tab->state_dir, j->id);
	rc = mkdir(j->dir, 0700);
	if (rc < 0 && errno == EEXIST) {
		snprintf(j->dir, sizeof(j->dir), "%s/serve/%s.%lu", tab->state_dir, j->id,
			 tab->seq);
		rc = mkdir(j->dir, 0700);
	}
	if (rc < 0) {
		serve_error_set(e, 500, "", "mkdir %s: %s", j->dir, strerror(errno));
		free(j);
		return NULL;
	}
	return j;
}

/* Resolve the target and check what the command line checks before it
 * changes anything (guard rails, supported, plan: plan touches nothing). */
int job_resolve_target(struct job_table *tab, struct job *j, bool force, struct serve_error *e)
{
	struct duress_err err = { 0 };
	struct target_spec spec;

	if (target_spec_parse(j->spec, &spec, &err) < 0)
		return serve_error_set(e, 422, "target", "target: %s", err.msg);
	if (spec.kind == TARGET_SANDBOX)
		return 0;
	if (!tab->root)
		return serve_error_set(e, 503, "target", "no cgroup v2 hierarchy on this host");
	if (target_resolve(tab->root, &spec, &j->t, &err) < 0)
		return serve_error_set(e, 422, "target", "target: %s", err.msg);
	if (target_guard(&j->t, force, &err) < 0)
		return serve_error_set(e, 422, "target", "target: %s", err.msg);
	j->have_t = true;
	return 0;
}

/* Does job j's target already have one of j's kinds of fault in force:
 * by another job of this server (not locked yet while its child starts)
 * or by any agent (its lock)?  409 naming the target, before anything
 * starts: the child would only be refused (exit 6) afterwards. */
int job_busy_check(const struct job_table *tab, const struct job *j, struct serve_error *e)
{
	char kinds[sizeof(j->kinds)], *save = NULL;

	if (!j->have_t)
		return 0;
	snprintf(kinds, sizeof(kinds), "%s", j->kinds);
	for (char *k = strtok_r(kinds, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		struct duress_err err = { 0 };

		for (size_t i = 0; i < tab->njobs; i++) {
			const struct job *o = tab->jobs[i];
			char theirs[sizeof(o->kinds) + 2], mine[64];

			if (o == j || o->state == JOB_EXITED || !o->have_t ||
			    strcmp(o->t.dir, j->t.dir))
				continue;
			snprintf(theirs, sizeof(theirs), " %s ", o->kinds);
			snprintf(mine, sizeof(mine), " %s ", k);
			if (strstr(theirs, mine))
				return serve_error_set(
					e, 409, "target",
					"a %s fault is already in force on %s (%s %s); "
					"one per target and resource, different "
					"resources may combine",
					k, j->t.dir, o->experiment ? "experiment" : "fault", o->id);
		}
		if (session_lock_probe(tab->state_dir, &j->t, k, &err) < 0)
			return serve_error_set(e, err.code == DURESS_EXIT_REFUSED ? 409 : 500,
					       "target", "%s", err.msg);
	}
	return 0;
}

/*
 * Start a job: fork, and re-execute the agent with argv in the child, its
 * standard output and error into DIR/log.  The child dies (SIGTERM: it
 * reverts) when the server dies.
 */
int job_spawn(struct job_table *tab, struct job *j, char **argv, struct serve_error *e)
{
	char log[PATH_MAX + 128];
	pid_t ppid = getpid();
	pid_t pid;

	snprintf(log, sizeof(log), "%s/log", j->dir);
	pid = fork();
	if (pid < 0)
		return serve_error_set(e, 500, "", "fork: %s", strerror(errno));
	if (pid == 0) {
		/* SIGTERM: the job reverts and exits when the server dies.  The
		 * signals that stop a job stay blocked through the exec until the
		 * agent reads them from its signalfd: an early DELETE (or the
		 * server's death) is then an interrupted job, not one killed
		 * before it could set up anything (counted as a revert failure) */
		sigset_t stop;
		struct proc_child setup = {
			.deathsig = SIGTERM, .parent = ppid, .default_handlers = true, .mask = &stop
		};
		int fd;

		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGHUP);

		(void)proc_child_setup(&setup, DURESS_EXIT_INTERRUPTED);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	j->pid = pid;
	j->state = JOB_RUNNING;
	clock_gettime(CLOCK_REALTIME, &j->started);
	j->started_mono = timing_now();
	if (j->experiment) {
		tab->stats.experiments_active++;
		tab->stats.experiments_started++;
	} else {
		tab->stats.faults_active++;
		tab->stats.faults_started++;
	}
	tab->jobs[tab->njobs++] = j;
	fprintf(stderr, "duress serve: %s %s started (pid %d): %s on %s\n",
		j->experiment ? "experiment" : "fault", j->id, pid, j->what,
		j->spec[0] ? j->spec : "a sandbox");
	return 0;
}

void job_stop(struct job *j)
{
	if (j->state != JOB_RUNNING)
		return;
	kill(j->pid, SIGTERM);
	j->state = JOB_STOPPING;
	j->stop_mono = timing_now();
}

void job_lease_renew(struct job *j, uint64_t us)
{
	if (us)
		j->lease_s = us / 1e6;
	j->lease_deadline = timing_now() + j->lease_s;
}

void jobs_expire_leases(struct job_table *tab)
{
	double now = timing_now();

	for (size_t i = 0; i < tab->njobs; i++) {
		struct job *j = tab->jobs[i];

		if (j->state != JOB_RUNNING || j->lease_s <= 0 || now < j->lease_deadline)
			continue;
		fprintf(stderr,
			"duress serve: %s %s: its lease (%.3gs) was not renewed: stopping it\n",
			j->experiment ? "experiment" : "fault", j->id, j->lease_s);
		j->lease_expired = true;
		job_stop(j);
	}
}

static void job_exited(struct job_table *tab, struct job *j, int status)
{
	j->state = JOB_EXITED;
	j->bytes = job_dir_bytes(j);
	clock_gettime(CLOCK_REALTIME, &j->ended);
	if (WIFSIGNALED(status)) {
		j->signal = WTERMSIG(status);
		tab->stats.revert_failures++;
		tab->stats.jobs_failed++;
	} else {
		j->exit_code = WEXITSTATUS(status);
		if (j->exit_code == DURESS_EXIT_NOT_REVERTED)
			tab->stats.revert_failures++;
		else
			tab->stats.reverts_ok++;
		if (j->exit_code != DURESS_EXIT_OK && j->exit_code != DURESS_EXIT_INTERRUPTED)
			tab->stats.jobs_failed++;
	}
	if (j->experiment)
		tab->stats.experiments_active--;
	else
		tab->stats.faults_active--;
	fprintf(stderr, "duress serve: %s %s ended: %s (exit %d%s)\n",
		j->experiment ? "experiment" : "fault", j->id,
		j->signal ? "killed" : exit_name(j->exit_code), j->signal ? -1 : j->exit_code,
		j->signal ? ", killed by a signal" : "");
	job_read_probes(j); /* its last ones */
	if (tab->on_exit)
		tab->on_exit(j);
}

void jobs_reap(struct job_table *tab)
{
	int status;
	pid_t pid;

	bool any = false;

	/* its own children only: the daemon waits for the others it starts */
	for (size_t i = 0; i < tab->njobs; i++) {
		struct job *j = tab->jobs[i];

		if (j->state != JOB_EXITED && (pid = waitpid(j->pid, &status, WNOHANG)) == j->pid) {
			job_exited(tab, j, status);
			any = true;
		}
	}
	if (any)
		jobs_trim(tab);
}

/* One line of probes.jsonl: {"probe": name, "latency_ms": >= 0, ...}. */
static void probe_line(struct job *j, const char *line)
{
	json_auto_t *o = json_loads(line, 0, NULL);
	json_t *name = json_object_get(o, "probe"), *lat = json_object_get(o, "latency_ms");
	struct prom_hist *h = NULL;
	char cut[PROM_PROBE_NAME_MAX];

	if (!json_is_string(name) || !json_is_number(lat) || !(json_number_value(lat) >= 0) ||
	    !isfinite(json_number_value(lat)))
		return;
	snprintf(cut, sizeof(cut), "%s", json_string_value(name));
	for (size_t i = 0; i < j->nprobes && !h; i++)
		if (!strcmp(j->probes[i].probe, cut))
			h = &j->probes[i];
	if (!h) {
		if (j->nprobes == JOB_MAX_PROBES)
			return; /* bounded: the first probes only */
		h = &j->probes[j->nprobes++];
		memcpy(h->probe, cut, sizeof(cut));
	}
	prom_hist_observe(h, json_number_value(lat) / 1e3);
}

void job_read_probes(struct job *j)
{
	char path[PATH_MAX + 128], line[4096];
	cleanup_fclose FILE *f = NULL;

	if (!j->experiment)
		return;
	snprintf(path, sizeof(path), "%s/probes.jsonl", j->dir);
	f = fopen(path, "re");
	if (!f || fseek(f, j->probes_off, SEEK_SET) < 0)
		return;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (!n || line[n - 1] != '\n') {
			/* a line still being written: read it next time; one too
			 * long for any probe's record is skipped */
			if (n == sizeof(line) - 1) {
				int c;

				while ((c = fgetc(f)) != EOF && c != '\n')
					;
				j->probes_off = ftell(f);
			}
			break;
		}
		probe_line(j, line);
		j->probes_off = ftell(f);
	}
}

void jobs_sample(struct job_table *tab)
{
	double t0 = timing_now();
	unsigned n = 0;

	for (size_t i = 0; i < tab->njobs; i++) {
		struct job *j = tab->jobs[i];
		struct duress_err err = { 0 };
		struct sample s;
		json_t *o;
		char *line;

		if (j->state == JOB_EXITED || !j->have_t)
			continue;
		if (j->t.pid <= 0 || kill(j->t.pid, 0) < 0) {
			struct duress_err e2 = { 0 };

			target_refresh_pid(&j->t, &e2);
		}
		if (sample_take(&j->t, j->have_last ? &j->last : NULL, timing_now() - tab->mono0,
				&s, &err) < 0)
			continue;
		n++;
		o = sample_to_json(&s);
		json_object_set_new(o, "job", json_string(j->id));
		json_object_set_new(o, "target", json_string(j->t.dir));
		line = json_dumps(o, SAMPLE_JSON_FLAGS);
		json_decref(o);
		if (line) {
			free(j->ring[j->ring_head]);
			j->ring[j->ring_head] = line;
			j->ring_head = (j->ring_head + 1) % SERVE_RING;
			if (j->ring_n < SERVE_RING)
				j->ring_n++;
			j->total++;
		}
		j->last = s;
		j->have_last = true;
	}
	if (n) {
		double cost = timing_now() - t0;

		tab->stats.sample_cost_last_s = cost;
		tab->stats.sample_cost_total_s += cost;
		tab->stats.samples_total += n;
	}
}

char *jobs_sample_now(const struct job_table *tab, const char *spec, struct serve_error *e)
{
	struct duress_err err = { 0 };
	const struct sample *prev = NULL;
	struct target_spec ts;
	struct target t;
	struct sample s;
	json_t *o;
	char *line;

	if (target_spec_parse(spec, &ts, &err) < 0) {
		serve_error_set(e, 422, "target", "target: %s", err.msg);
		return NULL;
	}
	if (ts.kind == TARGET_SANDBOX) {
		serve_error_set(e, 422, "target",
				"target: required: cgroup:PATH, pid:N or "
				"container:ID");
		return NULL;
	}
	if (!tab->root) {
		serve_error_set(e, 503, "target", "no cgroup v2 hierarchy on this host");
		return NULL;
	}
	target_init(&t);
	if (target_resolve(tab->root, &ts, &t, &err) < 0) {
		serve_error_set(e, 422, "target", "target: %s", err.msg);
		target_release(&t);
		return NULL;
	}
	for (size_t i = 0; i < tab->njobs; i++) {
		const struct job *j = tab->jobs[i];

		if (j->state != JOB_EXITED && j->have_t && j->have_last && !strcmp(j->t.dir, t.dir))
			prev = &j->last;
	}
	if (sample_take(&t, prev, timing_now() - tab->mono0, &s, &err) < 0) {
		serve_error_set(e, err.errnum == ENOENT ? 404 : 500, "target", "target: %s",
				err.msg);
		target_release(&t);
		return NULL;
	}
	o = sample_to_json(&s);
	json_object_set_new(o, "target", json_string(t.dir));
	line = json_dumps(o, SAMPLE_JSON_FLAGS);
	json_decref(o);
	target_release(&t);
	if (!line) {
		serve_error_set(e, 500, "", "out of memory");
		return NULL;
	}
	return line;
}

unsigned jobs_running(const struct job_table *tab)
{
	unsigned n = 0;

	for (size_t i = 0; i < tab->njobs; i++)
		n += tab->jobs[i]->state != JOB_EXITED;
	return n;
}

/* Stop every job (each reverts), wait for them. */
void jobs_stop_all(struct job_table *tab, int sfd)
{
	double t0 = timing_now();
	bool killed = false;

	for (size_t i = 0; i < tab->njobs; i++)
		job_stop(tab->jobs[i]);
	while (jobs_running(tab)) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		struct signalfd_siginfo si;

		if (!killed && timing_now() - t0 > SERVE_SHUTDOWN_WAIT_S) {
			/* their guardians revert what they leave */
			fprintf(stderr,
				"duress serve: jobs still running after %ds: killing them\n",
				SERVE_SHUTDOWN_WAIT_S);
			for (size_t i = 0; i < tab->njobs; i++)
				if (tab->jobs[i]->state != JOB_EXITED)
					kill(tab->jobs[i]->pid, SIGKILL);
			killed = true;
		}
		if (poll(&p, 1, 500) > 0 && read(sfd, &si, sizeof(si)) < 0)
			(void)0;
		jobs_reap(tab);
	}
}
