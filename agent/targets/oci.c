// SPDX-License-Identifier: MIT
/*
 * Containers of an OCI runtime (runc, crun) found through the runtime's
 * state directories: the init process's pid and start time (the cgroup is
 * then that process's).  Roots and formats: docs/containers.md.
 */
#include <duress/targets/container.h>
#include <duress/targets/oci.h>
#include <duress/core/proc.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/fileio.h>
#include <duress/targets/target.h>
#include <duress/core/undo.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OCI_ROOTS_MAX 16
/* A state file is a few KiB (runc's holds the whole config). */
#define STATE_MAX (1 << 20)

bool oci_id_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '+' || c == '-';
}

static bool oci_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > CONTAINER_ID_MAX || !strcmp(id, ".") || !strcmp(id, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!oci_id_char_ok(id[i]))
			return false;
	return true;
}

static int json_u64(json_t *o, const char *key, unsigned long long *out)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (unsigned long long)json_integer_value(v);
		return 0;
	}
	/* Some versions write numbers as strings. */
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		errno = 0;
		*out = strtoull(s, &end, 10);
		if (end != s && !*end && !errno)
			return 0;
	}
	return -1;
}

int oci_parse_state(const char *text, enum oci_format fmt, pid_t *pid, unsigned long long *start,
		    struct duress_err *err)
{
	const char *kpid = fmt == OCI_FORMAT_RUNC ? "init_process_pid" : "pid";
	const char *kstart = fmt == OCI_FORMAT_RUNC ? "init_process_start" : "process-start-time";
	const char *file = fmt == OCI_FORMAT_RUNC ? "state.json" : "status";
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	unsigned long long p = 0, s = 0;
	int ret = 0;

	if (!o || !json_is_object(o)) {
		ret = duress_err_set(err, EINVAL, "%s: not a JSON object (%s)", file,
				     o ? "" : jerr.text);
	} else if (json_u64(o, kpid, &p) < 0 || p == 0 || p > INT_MAX) {
		ret = duress_err_set(err, EINVAL, "%s: no positive \"%s\"", file, kpid);
	} else if (json_u64(o, kstart, &s) < 0) {
		ret = duress_err_set(err, EINVAL, "%s: no \"%s\"", file, kstart);
	} else {
		*pid = (pid_t)p;
		*start = s;
	}
	json_decref(o);
	return ret;
}

static int read_small(int dirfd_, const char *name, char **out)
{
	cleanup_close int fd = openat(dirfd_, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	return fd < 0 || fileio_read_fd(fd, STATE_MAX, out) < 0 ? -1 : 0;
}

struct oci_list {
	struct container_info *v;
	size_t n, cap;
};

static int list_add(struct oci_list *l, const struct container_info *ci, struct duress_err *err)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		struct container_info *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return duress_err_set(err, ENOMEM, "list OCI containers");
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = *ci;
	return 0;
}

/*
 * The runtime wrote the init's pid as its own PID namespace numbers it.
 * An agent in another PID namespace (a sidecar sharing the container's)
 * sees the same process under another number: find it by its start time,
 * which does not depend on the namespace.  Only a unique match counts.
 */
static pid_t find_by_start(unsigned long long start)
{
	cleanup_dir DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned long long st;
		char *end;
		long p = strtol(de->d_name, &end, 10);

		if (*end || p <= 0)
			continue;
		if (proc_starttime((pid_t)p, &st) < 0 || st != start)
			continue;
		if (found)
			return 0; /* two processes started in the same tick */
		found = (pid_t)p;
	}
	return found;
}

/* One container's state directory: added if its init process runs. */
static int scan_one(int parent, const char *id, const char *statedir, struct oci_list *l,
		    struct duress_err *err)
{
	cleanup_close int fd = openat(parent, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	cleanup_free char *text = NULL;
	struct duress_err e = { 0 };
	struct container_info ci;
	enum oci_format fmt;
	unsigned long long start, now;
	pid_t pid;

	if (fd < 0)
		return 0;
	if (read_small(fd, "state.json", &text) == 0)
		fmt = OCI_FORMAT_RUNC;
	else if (read_small(fd, "status", &text) == 0)
		fmt = OCI_FORMAT_CRUN;
	else
		return 1; /* not a container: maybe a namespace directory */
	if (!oci_id_ok(id))
		return 0;
	/* "created": the user process has not been started yet. */
	if (faccessat(fd, "exec.fifo", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (oci_parse_state(text, fmt, &pid, &start, &e) < 0)
		return 0;
	/* Gone, the pid now belongs to another process, or the runtime's
	 * PID namespace is not ours. */
	if (proc_starttime(pid, &now) < 0 || now != start) {
		pid = find_by_start(start);
		if (!pid)
			return 0;
	}
	memset(&ci, 0, sizeof(ci));
	if ((size_t)snprintf(ci.id, sizeof(ci.id), "%s", id) >= sizeof(ci.id))
		return 0; /* longer than an OCI id may be (oci_id_ok) */
	ci.runtime = fmt == OCI_FORMAT_RUNC ? "runc" : "crun";
	ci.pid = pid;
	ci.start = start;
	if ((size_t)snprintf(ci.state, sizeof(ci.state), "%s/%s", statedir, id) >= sizeof(ci.state))
		return 0;
	if (cg_of_pid(pid, ci.rel, sizeof(ci.rel), &e) < 0)
		return 0;
	return list_add(l, &ci, err) < 0 ? -1 : 0;
}

static int scan_root(const char *dir, int depth, struct oci_list *l, struct duress_err *err)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return 0; /* absent or unreadable: no containers there */
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		int r;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		r = scan_one(dirfd(d), de->d_name, dir, l, err);
		if (r < 0)
			return -1;
		if (r == 1 && depth == 0 &&
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) < sizeof(sub) &&
		    scan_root(sub, 1, l, err) < 0)
			return -1;
	}
	return 0;
}

size_t oci_roots(char roots[][PATH_MAX], size_t max)
{
	static const char *const defaults[] = {
		"/run/runc",
		"/run/crun",
		"/run/containerd/runc",
		"/run/docker/runtime-runc",
	};
	const char *env = getenv("DURESS_OCI_ROOTS");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	size_t n = 0;

	if (env) {
		for (const char *p = env; *p && n < max;) {
			size_t len = strcspn(p, ":");

			if (len && len < PATH_MAX) {
				memcpy(roots[n], p, len);
				roots[n][len] = '\0';
				n++;
			}
			p += len;
			if (*p == ':')
				p++;
		}
		return n;
	}
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(defaults) && n < max; i++)
		snprintf(roots[n++], PATH_MAX, "%s", defaults[i]);
	if (xdg && *xdg == '/') {
		if (n < max && (size_t)snprintf(roots[n], PATH_MAX, "%s/runc", xdg) < PATH_MAX)
			n++;
		if (n < max && (size_t)snprintf(roots[n], PATH_MAX, "%s/crun", xdg) < PATH_MAX)
			n++;
	}
	return n;
}

static int info_cmp(const void *a, const void *b)
{
	const struct container_info *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : strcmp(x->state, y->state);
}

int oci_scan(struct container_info **list, size_t *n, struct duress_err *err)
{
	char roots[OCI_ROOTS_MAX][PATH_MAX];
	size_t nroots = oci_roots(roots, OCI_ROOTS_MAX);
	struct oci_list l = { NULL, 0, 0 };

	for (size_t i = 0; i < nroots; i++) {
		if (scan_root(roots[i], 0, &l, err) < 0) {
			free(l.v);
			return duress_err_wrap(err, "scan OCI state %s", roots[i]);
		}
	}
	/* The same container under two roots (a runc root bind-mounted
	 * twice) is listed once. */
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), info_cmp);
	for (size_t i = 1; i < l.n;) {
		if (!strcmp(l.v[i].id, l.v[i - 1].id) && l.v[i].pid == l.v[i - 1].pid) {
			memmove(&l.v[i], &l.v[i + 1], (l.n - i - 1) * sizeof(*l.v));
			l.n--;
			continue;
		}
		i++;
	}
	*list = l.v;
	*n = l.n;
	return 0;
}
