// SPDX-License-Identifier: MIT
/*
 * The cgroup module: libcgroup for discovery, direct cgroupfs I/O for the
 * rest.  See include/duress/cgroup.h and docs/design.md for why.
 */
#include <duress/core/timing.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/fileio.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcgroup.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

/* cgroup files are small; cgroup.procs of a huge cgroup is the largest */
#define CG_READ_MAX (64 << 20)
#include <unistd.h>

/* libcgroup logs to stdout by default: keep it quiet. */
static void cg_quiet_logger(void *userdata, int level, const char *fmt, va_list ap)
{
	(void)userdata;
	(void)level;
	(void)fmt;
	(void)ap;
}

static bool is_cgroup2(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

static void list_append(char *list, size_t len, const char *word)
{
	size_t n = strlen(list);

	/* skip duplicates */
	for (const char *p = list; (p = strstr(p, word)); p += strlen(word)) {
		bool start = p == list || p[-1] == ' ';
		char end = p[strlen(word)];

		if (start && (end == ' ' || end == '\0'))
			return;
	}
	snprintf(list + n, len - n, "%s%s", n ? " " : "", word);
}

/* The mount table, for a cgroup2 mount libcgroup does not report (no
 * controllers enabled on it, as on hybrid hosts). */
static int find_cgroup2_in_mounts(char *out, size_t len)
{
	cleanup_fclose FILE *f = fopen("/proc/self/mounts", "re");
	char line[4096];

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[PATH_MAX], type[64];

		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) != 3)
			continue;
		if (strcmp(type, "cgroup2"))
			continue;
		snprintf(out, len, "%s", dir);
		return 0;
	}
	return -1;
}

int cg_root_discover(struct cg_root *root, struct duress_err *err)
{
	const char *env = getenv("DURESS_CGROUP_ROOT");
	struct cgroup_mount_point mp;
	void *handle = NULL;
	int ret;

	memset(root, 0, sizeof(*root));
	if (env && *env) {
		if (!is_cgroup2(env) && access(env, F_OK) != 0)
			return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, errno,
					       "DURESS_CGROUP_ROOT=%s", env);
		snprintf(root->mount, sizeof(root->mount), "%s", env);
	} else {
		cgroup_set_logger(cg_quiet_logger, -1, NULL);
		ret = cgroup_init();
		if (ret == 0) {
			ret = cgroup_get_controller_begin(&handle, &mp);
			while (ret == 0) {
				if (is_cgroup2(mp.path)) {
					if (!root->mount[0])
						snprintf(root->mount, sizeof(root->mount), "%s",
							 mp.path);
				} else {
					list_append(root->v1_controllers,
						    sizeof(root->v1_controllers), mp.name);
					if (!strcmp(mp.name, "memory"))
						snprintf(root->v1_memory_mount,
							 sizeof(root->v1_memory_mount), "%s",
							 mp.path);
				}
				ret = cgroup_get_controller_next(&handle, &mp);
			}
			cgroup_get_controller_end(&handle);
		}
		if (!root->mount[0] && find_cgroup2_in_mounts(root->mount, sizeof(root->mount)) < 0)
			root->mount[0] = '\0';
	}
	if (!root->mount[0])
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "no cgroup v2 hierarchy is mounted%s%s%s "
				       "(duress needs cgroup v2: boot with "
				       "systemd.unified_cgroup_hierarchy=1, or run scripts/vm-run)",
				       root->v1_controllers[0] ? "; this host has cgroup v1 (" : "",
				       root->v1_controllers, root->v1_controllers[0] ? ")" : "");
	if (cg_read_buf(root->mount, "cgroup.controllers", root->controllers,
			sizeof(root->controllers), err) < 0)
		return duress_err_wrap(err, "cgroup v2 at %s", root->mount);
	/* strip the trailing newline */
	root->controllers[strcspn(root->controllers, "\n")] = '\0';
	return 0;
}

static bool word_in(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += wl) {
		bool start = p == list || isspace((unsigned char)p[-1]);
		char end = p[wl];

		if (start && (end == '\0' || isspace((unsigned char)end)))
			return true;
	}
	return false;
}

bool cg_root_has(const struct cg_root *root, const char *ctrl)
{
	return word_in(root->controllers, ctrl);
}

int cg_root_require(const struct cg_root *root, const char *needed, struct duress_err *err)
{
	char missing[256] = "", on_v1[256] = "";
	char buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", needed);
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (cg_root_has(root, w))
			continue;
		list_append(missing, sizeof(missing), w);
		/* v1 calls the io controller blkio */
		if (word_in(root->v1_controllers, !strcmp(w, "io") ? "blkio" : w))
			list_append(on_v1, sizeof(on_v1), !strcmp(w, "io") ? "blkio" : w);
	}
	if (!missing[0])
		return 0;
	if (on_v1[0])
		return duress_err_setc(
			err, DURESS_EXIT_UNSUPPORTED, 0,
			"cgroup v2 at %s lacks the %s controller(s): this host mounts "
			"%s on cgroup v1%s%s (hybrid hierarchy). duress needs them on "
			"cgroup v2: boot with systemd.unified_cgroup_hierarchy=1, or "
			"run the command in a VM with scripts/vm-run",
			root->mount, missing, on_v1,
			root->v1_memory_mount[0] ? ", e.g. memory at " : "", root->v1_memory_mount);
	return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
			       "cgroup v2 at %s lacks the %s controller(s) (available: %s): "
			       "the parent cgroup has not delegated them",
			       root->mount, missing,
			       root->controllers[0] ? root->controllers : "none");
}

int cg_path_join(const struct cg_root *root, const char *rel, char *out, size_t len,
		 struct duress_err *err)
{
	int n;

	while (*rel == '/')
		rel++;
	n = snprintf(out, len, "%s%s%s", root->mount, *rel ? "/" : "", rel);
	if (n < 0 || (size_t)n >= len)
		return duress_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", root->mount, rel);
	/* drop a trailing slash */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

const char *cg_path_rel(const struct cg_root *root, const char *dir)
{
	size_t n = strlen(root->mount);

	if (strncmp(dir, root->mount, n) || (dir[n] != '/' && dir[n] != '\0'))
		return dir;
	return dir[n] ? dir + n : "/";
}

/* ---- file access ---- */

static int open_at(const char *dir, const char *file, int flags, char *path, size_t len,
		   struct duress_err *err)
{
	int fd;

	if ((size_t)snprintf(path, len, "%s/%s", dir, file) >= len)
		return duress_err_set(err, ENAMETOOLONG, "%s/%s", dir, file);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return duress_err_set(err, errno, "open %s", path);
	return fd;
}

int cg_read_buf(const char *dir, const char *file, char *buf, size_t len, struct duress_err *err)
{
	char path[PATH_MAX];
	cleanup_close int fd = open_at(dir, file, O_RDONLY, path, sizeof(path), err);
	size_t off = 0;

	if (fd < 0)
		return -1;
	if (len == 0)
		return duress_err_set(err, EINVAL, "read %s: no buffer", path);
	while (off + 1 < len) {
		ssize_t r = read(fd, buf + off, len - 1 - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return duress_err_set(err, errno, "read %s", path);
		if (r == 0)
			break;
		off += r;
	}
	buf[off] = '\0';
	return (int)off;
}

int cg_read(const char *dir, const char *file, char **out, struct duress_err *err)
{
	char path[PATH_MAX];
	cleanup_close int fd = open_at(dir, file, O_RDONLY, path, sizeof(path), err);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = fileio_read_fd(fd, CG_READ_MAX, out);
	if (n < 0)
		return duress_err_set(err, errno, "read %s", path);
	return (int)n;
}

int cg_parse_u64(const char *text, uint64_t *out)
{
	unsigned long long v;
	char *end;

	while (isspace((unsigned char)*text))
		text++;
	if (!strncmp(text, "max", 3) && (text[3] == '\0' || isspace((unsigned char)text[3]))) {
		*out = CG_MAX;
		return 0;
	}
	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int cg_read_u64(const char *dir, const char *file, uint64_t *out, struct duress_err *err)
{
	char buf[64];

	if (cg_read_buf(dir, file, buf, sizeof(buf), err) < 0)
		return -1;
	if (cg_parse_u64(buf, out) < 0)
		return duress_err_set(err, EINVAL, "%s/%s: unexpected content '%.32s'", dir, file,
				      buf);
	return 0;
}

static const char *write_hint(const char *file, int e)
{
	if (e == EBUSY && !strcmp(file, "cgroup.subtree_control"))
		return " (the cgroup has processes of its own: the kernel allows no internal "
		       "processes once controllers are enabled for children)";
	if (e == EBUSY && !strcmp(file, "cgroup.procs"))
		return " (the cgroup has controllers enabled for children, so it cannot hold "
		       "processes)";
	if (e == EINVAL && !strcmp(file, "cgroup.subtree_control"))
		return " (a realtime task may be blocking the cpu controller)";
	if (e == ENOENT && !strcmp(file, "cgroup.subtree_control"))
		return " (the controller is not available here: the parent has not delegated it)";
	if (e == ENOENT)
		return " (controller not enabled in the parent's cgroup.subtree_control?)";
	if (e == ENODEV && !strcmp(file, "io.max"))
		return " (io.max needs the whole disk's MAJ:MIN, not a partition)";
	return "";
}

int cg_write(const char *dir, const char *file, const char *value, struct duress_err *err)
{
	char path[PATH_MAX];
	cleanup_close int fd = -1;
	size_t len = strlen(value);
	ssize_t w;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return duress_err_set(err, ENAMETOOLONG, "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		return duress_err_set(err, e, "write '%s' to %s%s", value, path,
				      write_hint(file, e));
	}
	do
		w = write(fd, value, len);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		int e = errno;

		return duress_err_set(err, e, "write '%s' to %s%s", value, path,
				      write_hint(file, e));
	}
	if ((size_t)w != len)
		return duress_err_set(err, EIO, "write '%s' to %s: short write (%zd of %zu bytes)",
				      value, path, w, len);
	return 0;
}

bool cg_exists(const char *dir, const char *file)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

/* ---- pure parsers ---- */

int cg_parse_keyed(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');

		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			unsigned long long v;
			char *end;

			errno = 0;
			v = strtoull(line + kl + 1, &end, 10);
			if (errno || end == line + kl + 1)
				return -1;
			*out = v;
			return 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	errno = ENOENT;
	return -1;
}

static int parse_psi_line(const char *line, struct psi_line *pl)
{
	double a10, a60, a300;
	unsigned long long total;

	if (sscanf(line, "%*s avg10=%lf avg60=%lf avg300=%lf total=%llu", &a10, &a60, &a300,
		   &total) != 4)
		return -1;
	pl->present = true;
	pl->avg10 = a10;
	pl->avg60 = a60;
	pl->avg300 = a300;
	pl->total = total;
	return 0;
}

int cg_parse_pressure(const char *text, struct psi *out)
{
	int found = 0;

	memset(out, 0, sizeof(*out));
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');

		if (!strncmp(line, "some ", 5)) {
			if (parse_psi_line(line, &out->some) < 0)
				return -1;
			found++;
		} else if (!strncmp(line, "full ", 5)) {
			if (parse_psi_line(line, &out->full) < 0)
				return -1;
			found++;
		}
		line = nl ? nl + 1 : NULL;
	}
	return found ? 0 : -1;
}

int cg_parse_io_stat(const char *text, struct io_dev_stat *devs, size_t max, size_t *n)
{
	size_t count = 0;

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		struct io_dev_stat d = { 0 };
		char buf[512];
		char *save = NULL, *tok;
		int off = 0;

		if (ll >= sizeof(buf))
			ll = sizeof(buf) - 1;
		memcpy(buf, line, ll);
		buf[ll] = '\0';
		line = nl ? nl + 1 : NULL;
		if (sscanf(buf, "%u:%u%n", &d.major, &d.minor, &off) != 2)
			continue;
		for (tok = strtok_r(buf + off, " \t", &save); tok;
		     tok = strtok_r(NULL, " \t", &save)) {
			unsigned long long v;
			char key[16];

			if (sscanf(tok, "%15[^=]=%llu", key, &v) != 2)
				continue;
			if (!strcmp(key, "rbytes"))
				d.rbytes = v;
			else if (!strcmp(key, "wbytes"))
				d.wbytes = v;
			else if (!strcmp(key, "rios"))
				d.rios = v;
			else if (!strcmp(key, "wios"))
				d.wios = v;
			else if (!strcmp(key, "dbytes"))
				d.dbytes = v;
			else if (!strcmp(key, "dios"))
				d.dios = v;
		}
		if (count < max)
			devs[count] = d;
		count++;
	}
	*n = count;
	return 0;
}

int cg_parse_proc_cgroup(const char *text, char *out, size_t len)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);

		if (ll >= 3 && !strncmp(line, "0::", 3)) {
			size_t pl = ll - 3;

			if (pl == 0 || line[3] != '/')
				return -1;
			if (pl >= len) {
				errno = ENAMETOOLONG;
				return -1;
			}
			memcpy(out, line + 3, pl);
			out[pl] = '\0';
			/* A deleted cgroup shows as "/path (deleted)". */
			if (pl > 10 && !strcmp(out + pl - 10, " (deleted)"))
				out[pl - 10] = '\0';
			return 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	errno = ENOENT;
	return -1;
}

/* ---- processes and lifecycle ---- */

int cg_of_pid(pid_t pid, char *rel, size_t len, struct duress_err *err)
{
	char path[64], buf[4096];
	cleanup_close int fd = -1;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return duress_err_set(err, ESRCH, "no process %d", (int)pid);
		return duress_err_set(err, errno, "open %s", path);
	}
	r = read(fd, buf, sizeof(buf) - 1);
	if (r < 0)
		return duress_err_set(err, errno == ESRCH ? ESRCH : errno, "read %s", path);
	buf[r] = '\0';
	if (cg_parse_proc_cgroup(buf, rel, len) < 0)
		return duress_err_set(
			err, ENOENT,
			"process %d is in no cgroup v2 (no '0::' line in %s: a cgroup "
			"v1 host?)",
			(int)pid, path);
	return 0;
}

int cg_procs(const char *dir, pid_t **pids, size_t *n, struct duress_err *err)
{
	cleanup_free char *text = NULL;
	cleanup_free pid_t *list = NULL;
	size_t count = 0, cap = 0;

	if (cg_read(dir, "cgroup.procs", &text, err) < 0)
		return -1;
	for (char *p = text; *p;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			pid_t *nl = realloc(list, ncap * sizeof(*nl));

			if (!nl)
				return duress_err_set(err, ENOMEM, "%s/cgroup.procs", dir);
			list = nl;
			cap = ncap;
		}
		list[count++] = (pid_t)v;
		p = end;
		while (*p == '\n')
			p++;
	}
	*pids = steal_pointer(&list);
	*n = count;
	return 0;
}

int cg_populated(const char *dir, struct duress_err *err)
{
	char buf[256];
	uint64_t v;

	if (cg_read_buf(dir, "cgroup.events", buf, sizeof(buf), err) < 0)
		return -1;
	if (cg_parse_keyed(buf, "populated", &v) < 0)
		return duress_err_set(err, EINVAL, "%s/cgroup.events: no 'populated' key", dir);
	return v ? 1 : 0;
}

int cg_create(const char *dir, bool exist_ok, struct duress_err *err)
{
	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno == EEXIST && exist_ok)
		return 0;
	return duress_err_set(err, errno, "create cgroup %s", dir);
}

int cg_enable_controllers(const char *dir, const char *ctrls, struct duress_err *err)
{
	char enabled[256], buf[256];
	char *save = NULL;

	if (cg_read_buf(dir, "cgroup.subtree_control", enabled, sizeof(enabled), err) < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%s", ctrls);
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char val[64];

		if (word_in(enabled, w))
			continue;
		snprintf(val, sizeof(val), "+%s", w);
		if (cg_write(dir, "cgroup.subtree_control", val, err) < 0)
			return -1;
	}
	return 0;
}

int cg_attach(const char *dir, pid_t pid, struct duress_err *err)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", (int)pid);
	return cg_write(dir, "cgroup.procs", val, err);
}

static int kill_all(const char *dir, struct duress_err *err)
{
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;

	if (cg_procs(dir, &pids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	return 0;
}

int cg_for_each_child(const char *dir, int (*fn)(const char *sub, void *data), void *data)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		struct stat st;
		int r;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (de->d_type == DT_UNKNOWN &&
		    (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		     !S_ISDIR(st.st_mode)))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		r = fn(sub, data);
		if (r)
			return r;
	}
	return 0;
}

static int kill_child(const char *sub, void *err)
{
	cg_kill(sub, err);
	return 0;
}

int cg_kill(const char *dir, struct duress_err *err)
{
	struct duress_err e2 = { 0 };

	if (cg_write(dir, "cgroup.kill", "1", &e2) == 0)
		return 0;
	if (e2.errnum != ENOENT) {
		*err = e2;
		return -1;
	}
	/* Kernel before 5.14: no cgroup.kill.  Kill what is there (children too). */
	if (cg_for_each_child(dir, kill_child, err) < 0)
		return duress_err_set(err, errno, "open cgroup %s", dir);
	return kill_all(dir, err);
}

struct rm_ctx {
	uint64_t deadline;
	struct duress_err *err;
};

static int rmdir_tree(const char *dir, uint64_t deadline, struct duress_err *err);

static int rm_child(const char *sub, void *data)
{
	struct rm_ctx *c = data;

	return rmdir_tree(sub, c->deadline, c->err) < 0 ? 1 : 0;
}

static int rmdir_tree(const char *dir, uint64_t deadline, struct duress_err *err)
{
	struct rm_ctx c = { deadline, err };
	int r = cg_for_each_child(dir, rm_child, &c);

	if (r < 0 && errno == ENOENT)
		return 0;
	if (r < 0)
		return duress_err_set(err, errno, "open cgroup %s", dir);
	if (r > 0)
		return -1;
	for (;;) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || (uint64_t)(timing_now() * 1e3) >= deadline)
			return duress_err_set(err, errno, "remove cgroup %s", dir);
		usleep(10000);
	}
}

int cg_destroy(const char *dir, int timeout_ms, struct duress_err *err)
{
	uint64_t deadline = (uint64_t)(timing_now() * 1e3) + (timeout_ms > 0 ? timeout_ms : 0);
	struct duress_err e2 = { 0 };
	int pop;

	if (access(dir, F_OK) != 0 && errno == ENOENT)
		return 0;
	if (cg_kill(dir, &e2) < 0 && e2.errnum != ENOENT) {
		*err = e2;
		return -1;
	}
	for (;;) {
		pop = cg_populated(dir, &e2);
		if (pop < 0 && e2.errnum == ENOENT)
			return 0;
		if (pop <= 0)
			break;
		if ((uint64_t)(timing_now() * 1e3) >= deadline)
			return duress_err_set(err, EBUSY,
					      "cgroup %s still has processes %d ms after kill", dir,
					      timeout_ms);
		usleep(5000);
	}
	return rmdir_tree(dir, deadline, err);
}

bool cg_rel_covers(const char *anc, const char *rel)
{
	size_t n = strlen(anc);

	if (!strcmp(anc, "/"))
		return true;
	return !strncmp(anc, rel, n) && (rel[n] == '\0' || rel[n] == '/');
}

int cg_psi_trigger(const char *dir, const char *resource, bool full, uint64_t stall_us,
		   uint64_t window_us, struct duress_err *err)
{
	char file[32], spec[96], path[PATH_MAX];
	int fd;

	snprintf(file, sizeof(file), "%s.pressure", resource);
	snprintf(spec, sizeof(spec), "%s %llu %llu", full ? "full" : "some",
		 (unsigned long long)stall_us, (unsigned long long)window_us);
	fd = open_at(dir, file, O_RDWR | O_NONBLOCK, path, sizeof(path), err);
	if (fd < 0)
		return duress_err_wrap(err, "no PSI trigger");
	if (write(fd, spec, strlen(spec) + 1) < 0) {
		int e = errno;

		close(fd);
		return duress_err_set(err, e, "PSI trigger '%s' on %s refused", spec, path);
	}
	return fd;
}
