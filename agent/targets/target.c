// SPDX-License-Identifier: MIT
/*
 * Targets: parse "-t" specs and resolve them to a cgroup v2 directory, a
 * process of it and handles on that process's namespaces.  The sandbox
 * kind is made by agent/targets/sandbox.c, containers are found by container.c.
 */
#include <duress/targets/container.h>
#include <duress/targets/oci.h>
#include <duress/targets/cgview.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/targets/target.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TARGET_FORMS                                                                           \
	"accepted forms: cgroup:PATH, pid:N, container:ID (an OCI container name, or 6 to 64 " \
	"hex chars of an id), or no -t for a sandbox"

/* How deep target_refresh_pid looks below the target for a process. */
#define PID_SEARCH_MAX_DEPTH 32

void target_init(struct target *t)
{
	memset(t, 0, sizeof(*t));
	t->kind = TARGET_SANDBOX;
	t->netns_fd = -1;
	t->mntns_fd = -1;
}

void target_release(struct target *t)
{
	if (t->netns_fd >= 0)
		close(t->netns_fd);
	if (t->mntns_fd >= 0)
		close(t->mntns_fd);
	t->netns_fd = -1;
	t->mntns_fd = -1;
}

/* ---- parsing ---- */

static bool has_dotdot(const char *path)
{
	size_t len;

	for (const char *p = path; path_next(&p, &len); p += len)
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return true;
	return false;
}

static int parse_cgroup(const char *text, const char *path, struct target_spec *spec,
			struct duress_err *err)
{
	if (!*path)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%s': empty cgroup path (%s)", text, TARGET_FORMS);
	if (has_dotdot(path))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%s': the cgroup path must not contain '..' (%s)",
				       text, TARGET_FORMS);
	if (strlen(path) >= sizeof(spec->value))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%.64s...': the cgroup path is too long", text);
	spec->kind = TARGET_CGROUP;
	snprintf(spec->value, sizeof(spec->value), "%s", path);
	return 0;
}

static int parse_pid(const char *text, const char *num, struct target_spec *spec,
		     struct duress_err *err)
{
	unsigned long long v;
	char *end;

	if (!*num)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "target '%s': empty pid (%s)",
				       text, TARGET_FORMS);
	if (*num == '-' && isdigit((unsigned char)num[1]))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%s': the pid must be a positive integer (%s)", text,
				       TARGET_FORMS);
	for (const char *p = num; *p; p++)
		if (!isdigit((unsigned char)*p))
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "target '%s': '%s' is not a process id, expected a "
					       "positive integer (%s)",
					       text, num, TARGET_FORMS);
	errno = 0;
	v = strtoull(num, &end, 10);
	if (v == 0 && errno == 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%s': the pid must be a positive integer (%s)", text,
				       TARGET_FORMS);
	/* pid_t is an int on Linux. */
	if (errno == ERANGE || v > (unsigned long long)INT_MAX)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%s': pid %s is out of range (at most %d)", text,
				       num, INT_MAX);
	spec->kind = TARGET_PID;
	spec->pid = (pid_t)v;
	return 0;
}

static int parse_container(const char *text, const char *id, struct target_spec *spec,
			   struct duress_err *err)
{
	size_t len = strlen(id);

	if (!len)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%s': empty container id (%s)", text, TARGET_FORMS);
	for (size_t i = 0; i < len; i++) {
		if (oci_id_char_ok(id[i]))
			continue;
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%.80s': container id has a character '%c' that no "
				       "id has (letters, digits, '_', '.', '+', '-') (%s)",
				       text, id[i], TARGET_FORMS);
	}
	if (len > CONTAINER_ID_MAX)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "target '%.80s...': container id is too long (%zu chars, at "
				       "most %d)",
				       text, len, CONTAINER_ID_MAX);
	spec->kind = TARGET_CONTAINER;
	memcpy(spec->value, id, len + 1);
	return 0;
}

int target_spec_parse(const char *text, struct target_spec *spec, struct duress_err *err)
{
	static const char cg[] = "cgroup:", pid[] = "pid:", ctr[] = "container:";
	struct target_spec s;

	memset(&s, 0, sizeof(s));
	s.kind = TARGET_SANDBOX;
	if (!text || !*text) {
		*spec = s;
		return 0;
	}
	if (!strncmp(text, cg, sizeof(cg) - 1)) {
		if (parse_cgroup(text, text + sizeof(cg) - 1, &s, err) < 0)
			return -1;
	} else if (!strncmp(text, pid, sizeof(pid) - 1)) {
		if (parse_pid(text, text + sizeof(pid) - 1, &s, err) < 0)
			return -1;
	} else if (!strncmp(text, ctr, sizeof(ctr) - 1)) {
		if (parse_container(text, text + sizeof(ctr) - 1, &s, err) < 0)
			return -1;
	} else {
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "unknown target '%.200s' (%s)",
				       text, TARGET_FORMS);
	}
	*spec = s;
	return 0;
}

/* ---- resolving ---- */

/*
 * Collapse repeated '/', drop "." components and trailing '/'.  ".."
 * is refused.  "" stays "", "/" stays "/".
 */
static int normalise_path(const char *in, char *out, size_t len)
{
	size_t o = 0;
	const char *p = in;

	if (len < 2)
		return -1;
	if (*p == '/')
		out[o++] = '/';
	for (size_t cl; path_next(&p, &cl); p += cl) {
		if (cl == 1 && p[0] == '.')
			continue;
		if (cl == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (o + (o && out[o - 1] != '/') + cl + 1 > len)
			return -1;
		if (o && out[o - 1] != '/')
			out[o++] = '/';
		memcpy(out + o, p, cl);
		o += cl;
	}
	out[o] = '\0';
	return 0;
}

static int no_target(struct duress_err *err, int errnum, const char *what, const char *dir,
		     const char *why)
{
	return duress_err_setc(err, DURESS_EXIT_NO_TARGET, errnum, "%s: %s%s", what, dir, why);
}

/* dir must be a cgroup v2 directory: a directory with cgroup.procs. */
static int check_cgroup_dir(const char *what, const char *dir, struct duress_err *err)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return no_target(err, 0, what, dir, " does not exist");
		return no_target(err, errno, what, dir, "");
	}
	if (!S_ISDIR(st.st_mode))
		return no_target(err, 0, what, dir, " is not a directory");
	if (!cg_exists(dir, "cgroup.procs"))
		return no_target(err, 0, what, dir,
				 " is not a cgroup v2 directory (it has no cgroup.procs)");
	return 0;
}

static bool is_cgroup_dir(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && cg_exists(dir, "cgroup.procs");
}

/* Fill t->dir from a cgroup: path, absolute or relative to the mount. */
static int resolve_cgroup_path(const struct cg_root *root, const char *path, struct target *t,
			       struct duress_err *err)
{
	char what[PATH_MAX + 16], norm[PATH_MAX], mount[PATH_MAX], alt[PATH_MAX];
	const char *relpart = NULL;

	snprintf(what, sizeof(what), "target cgroup:%s", path);
	if (normalise_path(path, norm, sizeof(norm)) < 0)
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
				       "%s: not a usable path (too long or with '..')", what);
	if (normalise_path(root->mount, mount, sizeof(mount)) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENAMETOOLONG, "cgroup2 mount %s",
				       root->mount);
	if (norm[0] != '/') {
		relpart = norm;
	} else {
		size_t ml = strlen(mount);

		if (!strcmp(mount, "/"))
			relpart = norm;
		else if (!strncmp(norm, mount, ml) && (norm[ml] == '/' || norm[ml] == '\0'))
			relpart = norm + ml;
	}
	if (!relpart) {
		/* "/system.slice/x.service" as /proc/PID/cgroup shows it. */
		if (cg_path_join(root, norm, alt, sizeof(alt), err) == 0 && is_cgroup_dir(alt)) {
			relpart = norm;
		} else {
			return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
					       "%s: not below the cgroup2 mount %s (and %s%s is no "
					       "cgroup either)",
					       what, root->mount, root->mount, norm);
		}
	}
	if (cg_path_join(root, relpart, t->dir, sizeof(t->dir), err) < 0) {
		err->code = DURESS_EXIT_NO_TARGET;
		return duress_err_wrap(err, "%s", what);
	}
	return check_cgroup_dir(what, t->dir, err);
}

static void fill_rel(const struct cg_root *root, struct target *t)
{
	snprintf(t->rel, sizeof(t->rel), "%s", cg_path_rel(root, t->dir));
}

/* The target's cgroup may itself be a container's: note its id. */
static void fill_container(struct target *t)
{
	const char *runtime = NULL;

	if (container_match_name(t->rel, t->id, sizeof(t->id), &runtime))
		t->runtime = runtime;
}

static void open_ns(struct target *t)
{
	char path[64];

	if (t->pid <= 0)
		return;
	if (t->netns_fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)t->pid);
		t->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (t->mntns_fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)t->pid);
		t->mntns_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
}

static bool pid_exists(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return access(path, F_OK) == 0;
}

static int resolve_pid(const struct cg_root *root, pid_t pid, struct target *t,
		       struct duress_err *err)
{
	char rel[PATH_MAX], what[PATH_MAX + 64];

	snprintf(what, sizeof(what), "target pid:%d", (int)pid);
	if (!pid_exists(pid))
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0, "%s: no process %d", what,
				       (int)pid);
	if (cg_of_pid(pid, rel, sizeof(rel), err) < 0) {
		if (err->errnum == ESRCH || !pid_exists(pid))
			return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0, "%s: no process %d",
					       what, (int)pid);
		err->code = DURESS_EXIT_NO_TARGET;
		return duress_err_wrap(err, "%s", what);
	}
	if (cg_rel_outside(rel)) {
		/* Outside our cgroup namespace: a sidecar (docs/containers.md). */
		char vrel[PATH_MAX];

		snprintf(t->nsrel, sizeof(t->nsrel), "%s", rel);
		if (cg_view_for_pid(pid, t->view, sizeof(t->view), vrel, sizeof(vrel), err) < 0)
			return duress_err_wrap(err,
					       "%s: its cgroup %s is outside the agent's cgroup "
					       "namespace",
					       what, rel);
		if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s%s", t->view,
				     strcmp(vrel, "/") ? vrel : "") >= sizeof(t->dir))
			return duress_err_setc(err, DURESS_EXIT_NO_TARGET, ENAMETOOLONG, "%s",
					       what);
		snprintf(t->rel, sizeof(t->rel), "%s", vrel);
	} else if (cg_path_join(root, rel, t->dir, sizeof(t->dir), err) < 0) {
		err->code = DURESS_EXIT_NO_TARGET;
		return duress_err_wrap(err, "%s", what);
	}
	snprintf(what, sizeof(what), "target pid:%d (cgroup %s)", (int)pid, rel);
	if (check_cgroup_dir(what, t->dir, err) < 0)
		return -1;
	t->pid = pid;
	t->pin_pid = true;
	open_ns(t);
	return 0;
}

int target_resolve(const struct cg_root *root, const struct target_spec *spec, struct target *t,
		   struct duress_err *err)
{
	struct container_info ci;

	target_init(t);
	t->kind = spec->kind;
	switch (spec->kind) {
	case TARGET_CGROUP:
		if (resolve_cgroup_path(root, spec->value, t, err) < 0)
			goto fail;
		fill_rel(root, t);
		fill_container(t);
		break;
	case TARGET_PID:
		if (resolve_pid(root, spec->pid, t, err) < 0)
			goto fail;
		if (!t->view[0])
			fill_rel(root, t);
		fill_container(t);
		return 0;
	case TARGET_CONTAINER:
		if (container_find(root, spec->value, &ci, err) < 0)
			goto fail;
		if (ci.pid > 0) {
			/* An OCI runtime's container: the cgroup of its init. */
			if (resolve_pid(root, ci.pid, t, err) < 0) {
				duress_err_wrap(err, "container %s (%s, init pid %d)", ci.id,
						ci.runtime, (int)ci.pid);
				goto fail;
			}
			if (!t->view[0])
				fill_rel(root, t);
			snprintf(t->id, sizeof(t->id), "%s", ci.id);
			t->runtime = ci.runtime;
			return 0;
		}
		if (cg_path_join(root, ci.rel, t->dir, sizeof(t->dir), err) < 0)
			goto fail;
		fill_rel(root, t);
		snprintf(t->id, sizeof(t->id), "%s", ci.id);
		t->runtime = ci.runtime;
		break;
	default:
		duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				"resolve target: a sandbox is made by sandbox_create()");
		goto fail;
	}
	if (target_refresh_pid(t, err) < 0)
		goto fail;
	return 0;
fail:
	target_release(t);
	return -1;
}

struct pid_search {
	int depth;
	pid_t *pid;
};

static int find_first_pid(const char *dir, int depth, pid_t *pid, struct duress_err *err);

static int search_child(const char *sub, void *data)
{
	struct pid_search *ps = data;

	find_first_pid(sub, ps->depth + 1, ps->pid, NULL);
	return *ps->pid != 0;
}

/*
 * The first process in dir's cgroup.procs, else the first found in its
 * descendants, depth first.  *pid stays 0 if there is none.  Errors only
 * for dir itself (depth 0); descendants that vanish are skipped.
 */
static int find_first_pid(const char *dir, int depth, pid_t *pid, struct duress_err *err)
{
	cleanup_free pid_t *pids = NULL;
	struct duress_err local = { 0 };
	struct pid_search ps = { depth, pid };
	size_t n = 0;

	if (cg_procs(dir, &pids, &n, depth ? &local : err) < 0)
		return depth ? 0 : -1;
	if (n > 0) {
		*pid = pids[0];
		return 0;
	}
	if (depth + 1 < PID_SEARCH_MAX_DEPTH)
		cg_for_each_child(dir, search_child, &ps);
	return 0;
}

int target_refresh_pid(struct target *t, struct duress_err *err)
{
	pid_t pid = 0;

	/* pid:N (and an OCI container's init) stays on that process while it lives. */
	if (t->pin_pid && t->pid > 0 && pid_exists(t->pid)) {
		open_ns(t);
		return 0;
	}
	if (find_first_pid(t->dir, 0, &pid, err) < 0)
		return duress_err_wrap(err, "find a process of cgroup %s",
				       t->rel[0] ? t->rel : t->dir);
	if (pid != t->pid)
		target_release(t);
	t->pid = pid;
	open_ns(t);
	return 0;
}

int target_alive(const struct target *t)
{
	struct stat st;

	if (!t->dir[0])
		return 0;
	if (stat(t->dir, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : 1;
	return S_ISDIR(st.st_mode) ? 1 : 0;
}

const char *target_describe(const struct target *t, char *buf, size_t len)
{
	const char *rel = t->nsrel[0] ? t->nsrel : t->rel[0] ? t->rel : t->dir;

	switch (t->kind) {
	case TARGET_CONTAINER:
		if (t->runtime && (!strcmp(t->runtime, "runc") || !strcmp(t->runtime, "crun")))
			snprintf(buf, len, "container %s %s", t->runtime, t->id);
		else
			snprintf(buf, len, "container %s %.12s", t->runtime ? t->runtime : "?",
				 t->id);
		break;
	case TARGET_PID:
		snprintf(buf, len, "pid %d (cgroup %s)", (int)t->pid, rel);
		break;
	case TARGET_CGROUP:
		snprintf(buf, len, "cgroup %s", rel);
		break;
	case TARGET_SANDBOX:
	default:
		snprintf(buf, len, "sandbox %s", rel);
		break;
	}
	return buf;
}

static int count_procs(const char *dir, int depth)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	char buf[256];
	struct duress_err e = { 0 };
	int n = 0, r;

	r = cg_read_buf(dir, "cgroup.procs", buf, sizeof(buf), &e);
	if (r < 0)
		return -1;
	for (char *p = buf; *p; p++)
		n += *p == '\n';
	if (n || depth > 16)
		return n;
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.' ||
		    !strncmp(de->d_name, "duress-", 7))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		r = count_procs(sub, depth + 1);
		if (r > 0)
			return r;
	}
	return 0;
}

int target_own_procs(const struct target *t)
{
	return count_procs(t->dir, 0);
}

int target_guard(const struct target *t, bool force, struct duress_err *err)
{
	struct duress_err e = { 0 };
	char own[PATH_MAX], init[PATH_MAX];

	if (force || t->owned)
		return 0;
	if (t->view[0]) {
		/* Seen from the agent's cgroup namespace ("/../app"): "/.."
		 * alone (or more of them) is an ancestor of the agent itself. */
		if (cg_rel_only_up(t->nsrel))
			return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
					       "refusing: target %s holds the agent itself (it is "
					       "an ancestor of the agent's cgroup namespace) (use "
					       "--force)",
					       t->nsrel);
		/* No PID 1 check: in a sidecar PID 1 is the first container
		 * of the shared PID namespace, a legitimate target. */
		return 0;
	}
	if (!strcmp(t->rel, "/"))
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "refusing to put the root cgroup under duress: that is the "
				       "whole host (use --force if you mean it)");
	if (cg_of_pid(getpid(), own, sizeof(own), &e) == 0 && cg_rel_covers(t->rel, own))
		return duress_err_setc(
			err, DURESS_EXIT_REFUSED, 0,
			"refusing: target %s holds the agent itself (its cgroup is "
			"%s); the agent could not revert what it breaks (use --force)",
			t->rel, own);
	if (cg_of_pid(1, init, sizeof(init), &e) == 0 && cg_rel_covers(t->rel, init))
		return duress_err_setc(err, DURESS_EXIT_REFUSED, 0,
				       "refusing: target %s holds PID 1 of this host (cgroup %s) "
				       "(use --force)",
				       t->rel, init);
	return 0;
}

/* ---- what the target may use (percentages, defaults) ---- */

static void mount_of(const struct target *t, char *out, size_t len)
{
	size_t dl = strlen(t->dir), rl = strcmp(t->rel, "/") ? strlen(t->rel) : 0;

	if (rl <= dl && !strcmp(t->dir + dl - rl, rl ? t->rel : ""))
		snprintf(out, len, "%.*s", (int)(dl - rl), t->dir);
	else
		snprintf(out, len, "%s", t->dir);
}

/* Walk from dir up to (and including) mount, calling fn on each; stops when fn returns 1. */
static int walk_up(const char *dir, const char *mount, int (*fn)(const char *d, void *data),
		   void *data)
{
	char cur[PATH_MAX];

	snprintf(cur, sizeof(cur), "%s", dir);
	for (;;) {
		char *slash;
		int r = fn(cur, data);

		if (r)
			return r;
		if (!strcmp(cur, mount) || strlen(cur) <= strlen(mount))
			return 0;
		slash = strrchr(cur, '/');
		if (!slash || slash == cur)
			return 0;
		*slash = '\0';
	}
}

struct mem_walk {
	uint64_t bytes;
	char where[PATH_MAX];
};

static int mem_limit_at(const char *d, void *data)
{
	struct mem_walk *w = data;
	struct duress_err e = { 0 };
	uint64_t v;

	/* the effective limit is the smallest on the way up, not the nearest */
	if (cg_read_u64(d, "memory.max", &v, &e) < 0 || v == CG_MAX)
		return 0;
	if (!w->bytes || v < w->bytes) {
		w->bytes = v;
		snprintf(w->where, sizeof(w->where), "%s", d);
	}
	return 0;
}

static uint64_t host_memtotal(void)
{
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			return (uint64_t)kb * 1024;
	return 0;
}

int target_memory_capacity(const struct target *t, uint64_t *bytes, char *source, size_t len,
			   struct duress_err *err)
{
	struct mem_walk w = { 0 };
	char mount[PATH_MAX];

	mount_of(t, mount, sizeof(mount));
	walk_up(t->dir, mount, mem_limit_at, &w);
	if (w.bytes) {
		*bytes = w.bytes;
		snprintf(source, len, "memory.max of %s", w.where);
		return 0;
	}
	*bytes = host_memtotal();
	if (!*bytes)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EIO,
				       "cannot read MemTotal from /proc/meminfo");
	snprintf(source, len, "host RAM (no memory.max on %s or above)", t->rel);
	return 0;
}

struct cpu_walk {
	double cpus;
	char where[PATH_MAX];
};

static int cpu_limit_at(const char *d, void *data)
{
	struct cpu_walk *w = data;
	struct duress_err e = { 0 };
	char buf[64];
	char quota[32];
	unsigned long long period;

	if (cg_read_buf(d, "cpu.max", buf, sizeof(buf), &e) < 0)
		return 0;
	if (sscanf(buf, "%31s %llu", quota, &period) != 2 || !strcmp(quota, "max") || !period)
		return 0;
	/* the smallest quota on the way up is the one that binds */
	if (!w->where[0] || strtod(quota, NULL) / (double)period < w->cpus) {
		w->cpus = strtod(quota, NULL) / (double)period;
		snprintf(w->where, sizeof(w->where), "%s", d);
	}
	return 0;
}

/* Count the CPUs in a list like "0-3,8,10-11". */
static int cpulist_count(const char *s)
{
	int n = 0;

	while (*s && !isspace((unsigned char)*s)) {
		char *end;
		long a = strtol(s, &end, 10), b;

		if (end == s)
			return -1;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a)
				return -1;
		}
		n += (int)(b - a + 1);
		s = end;
		if (*s == ',')
			s++;
	}
	return n;
}

int target_cpu_capacity(const struct target *t, double *cpus, char *source, size_t len,
			struct duress_err *err)
{
	struct cpu_walk w = { 0 };
	struct duress_err e = { 0 };
	char mount[PATH_MAX], buf[1024], where[PATH_MAX];
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	double set = online > 0 ? (double)online : 1;
	bool have_set = false;

	mount_of(t, mount, sizeof(mount));
	/* the nearest cgroup with the cpuset controller says which CPUs */
	snprintf(where, sizeof(where), "%s", t->dir);
	for (;;) {
		char *slash;

		if (cg_read_buf(where, "cpuset.cpus.effective", buf, sizeof(buf), &e) >= 0) {
			int n = cpulist_count(buf);

			if (n > 0) {
				set = n;
				have_set = true;
				break;
			}
		}
		slash = strrchr(where, '/');
		if (strlen(where) <= strlen(mount) || !slash || slash == where)
			break;
		*slash = '\0';
	}
	walk_up(t->dir, mount, cpu_limit_at, &w);
	if (w.where[0] && w.cpus < set) {
		*cpus = w.cpus;
		snprintf(source, len, "cpu.max of %s", w.where);
		return 0;
	}
	*cpus = set;
	if (have_set)
		snprintf(source, len, "cpuset.cpus.effective of %s", where);
	else
		snprintf(source, len, "host CPUs");
	(void)err;
	return 0;
}
