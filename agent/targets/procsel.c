// SPDX-License-Identifier: MIT
/* Process selection of the process faults (procsel.h). */
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/fileio.h>
#include <duress/core/parse.h>
#include <duress/core/proc.h>
#include <duress/core/regex.h>
#include <duress/targets/procsel.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what is read from /proc: a command line, a socket table. */
#define PROCSEL_CMDLINE_MAX 4096
#define PROCSEL_TCP_MAX (16u << 20)
#define PROCSEL_INODES_MAX 256
#define PROCSEL_DEPTH_MAX 16

int procsel_add(struct procsel *s, const char *text, const char *what, struct duress_err *err)
{
	struct procsel_rule r = { 0 };
	struct procsel_rule *nr;
	size_t len = strlen(text);

	if (!len)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: needs a value (main, all, NAME or /REGEX/)", what);
	if (len >= sizeof(r.name))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: '%.40s...': longer than %zu "
				       "characters",
				       what, text, sizeof(r.name) - 1);
	if (!strcmp(text, "main")) {
		r.kind = PROCSEL_MAIN;
	} else if (!strcmp(text, "all")) {
		r.kind = PROCSEL_ALL;
	} else if (text[0] == '/') {
		if (len < 3 || text[len - 1] != '/')
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: '%s': a regular expression is written /REGEX/ "
					       "(non-empty, between slashes)",
					       what, text);
		r.kind = PROCSEL_REGEX;
		memcpy(r.name, text + 1, len - 2);
		r.name[len - 2] = '\0';
		if (regex_compile(&r.re, r.name, REG_EXTENDED | REG_NOSUB, what, err) < 0)
			return -1;
		r.re_set = true;
	} else {
		for (const char *p = text; *p; p++)
			if (!isprint((unsigned char)*p) || *p == '/')
				return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
						       "%s: '%s': a process name has no '/' or "
						       "control characters (a pattern: /REGEX/)",
						       what, text);
		r.kind = PROCSEL_NAME;
		memcpy(r.name, text, len + 1);
	}
	nr = realloc(s->rules, (s->n + 1) * sizeof(*nr));
	if (!nr) {
		if (r.re_set)
			regfree(&r.re);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", what);
	}
	s->rules = nr;
	s->rules[s->n++] = r;
	return 0;
}

void procsel_free(struct procsel *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rules[i].re_set)
			regfree(&s->rules[i].re);
	free(s->rules);
	memset(s, 0, sizeof(*s));
}

/* ---- signals ---- */

int procsel_signal(const char *text, const char *what, int *sig, struct duress_err *err)
{
	const char *name = text;
	uint64_t n;
	struct duress_err e = { 0 };

	if (!*text)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: needs a signal", what);
	if (isdigit((unsigned char)*text)) {
		if (parse_uint(text, what, 1, (uint64_t)SIGRTMAX, &n, &e) < 0) {
			*err = e;
			err->code = DURESS_EXIT_USAGE;
			return -1;
		}
		*sig = (int)n;
	} else {
		*sig = 0;
		if (!strncasecmp(name, "SIG", 3))
			name += 3;
		for (int s = 1; s < SIGRTMIN && !*sig; s++) {
			const char *abbr = sigabbrev_np(s);

			if (abbr && !strcasecmp(abbr, name))
				*sig = s;
		}
		if (!*sig && !strncasecmp(name, "RTMIN", 5)) {
			uint64_t off = 0;

			if (name[5] && (name[5] != '+' ||
					parse_uint(name + 6, what, 0,
						   (uint64_t)(SIGRTMAX - SIGRTMIN), &off, &e) < 0))
				off = UINT64_MAX;
			if (off != UINT64_MAX)
				*sig = SIGRTMIN + (int)off;
		}
		if (!*sig)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: '%s': not a signal (a name such as TERM, KILL, "
					       "HUP, INT, USR1, RTMIN+2, or a number)",
					       what, text);
	}
	if (*sig == SIGSTOP || *sig == SIGCONT || *sig == SIGTSTP || *sig == SIGTTIN ||
	    *sig == SIGTTOU)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: '%s': stopping processes is the stop fault (duress "
				       "inject stop), which resumes them afterwards",
				       what, text);
	return 0;
}

const char *procsel_signal_name(int sig, char *buf, size_t len)
{
	const char *abbr = sig > 0 && sig < SIGRTMIN ? sigabbrev_np(sig) : NULL;

	if (abbr)
		snprintf(buf, len, "%s", abbr);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "RTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "%d", sig);
	return buf;
}

/* ---- pure matching ---- */

bool procsel_rule_matches(const struct procsel_rule *r, const char *comm, const char *cmdline)
{
	size_t nl, wl;
	const char *sp;

	switch (r->kind) {
	case PROCSEL_ALL:
		return true;
	case PROCSEL_MAIN:
		return false; /* decided over the whole set (procsel_main) */
	case PROCSEL_REGEX:
		return r->re_set && regexec(&r->re, cmdline, 0, NULL, 0) == 0;
	case PROCSEL_NAME:
		if (!strcmp(comm, r->name))
			return true;
		/* comm is cut at 15 characters; the command's first word is not */
		sp = strchr(cmdline, ' ');
		wl = sp ? (size_t)(sp - cmdline) : strlen(cmdline);
		nl = strlen(r->name);
		if (wl < nl)
			return false;
		return !strncmp(cmdline + wl - nl, r->name, nl) &&
		       (wl == nl || cmdline[wl - nl - 1] == '/');
	}
	return false;
}

bool procsel_is_root(const struct procsel_proc *procs, size_t n, size_t i)
{
	for (size_t k = 0; k < n; k++)
		if (k != i && procs[k].pid == procs[i].ppid)
			return false;
	return true;
}

bool procsel_has_main(const struct procsel *s)
{
	if (!s->n && !s->port)
		return true;
	for (size_t i = 0; i < s->n; i++)
		if (s->rules[i].kind == PROCSEL_MAIN)
			return true;
	return false;
}

ssize_t procsel_main(const struct procsel_proc *procs, size_t n)
{
	ssize_t best = -1;

	for (size_t i = 0; i < n; i++) {
		if (!procsel_is_root(procs, n, i))
			continue;
		if (best < 0 || procs[i].start < procs[best].start ||
		    (procs[i].start == procs[best].start && procs[i].pid < procs[best].pid))
			best = (ssize_t)i;
	}
	return best;
}

int procsel_parse_tcp(const char *text, unsigned port, unsigned long *inodes, size_t max)
{
	const char *line = strchr(text, '\n');
	int n = 0;

	/* the header: "  sl  local_address rem_address   st ..." */
	if (!line || !strstr(text, "local_address") || (size_t)(line - text) > 512)
		return -1;
	for (line++; *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
		char local[64], rem[64], st[8];
		unsigned long inode;
		unsigned p;
		const char *colon;

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*[0-9]: %63s %63s %7s %*s %*s %*s %*u %*u %lu", local, rem, st,
			   &inode) != 4)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &p) != 1)
			continue;
		if (p != port || strcmp(st, "0A") || !inode)
			continue;
		if ((size_t)n < max)
			inodes[n++] = inode;
	}
	return n;
}

void procsel_cmdline_join(char *buf, size_t len)
{
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	buf[len] = '\0';
}

/* ---- reading /proc ---- */

/* Read a /proc file of pid into a malloc'd buffer (NUL-terminated). */
static ssize_t read_proc(pid_t pid, const char *file, size_t max, char **out)
{
	char path[64];
	cleanup_close int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return fileio_read_fd(fd, max, out);
}

/* comm and ppid from /proc/PID/stat: "pid (comm) S ppid ...". */
static int read_stat(pid_t pid, struct procsel_proc *p)
{
	cleanup_free char *text = NULL;
	char *open_p, *close_p;
	size_t cl;

	if (read_proc(pid, "stat", 4096, &text) < 0)
		return -1;
	open_p = strchr(text, '(');
	close_p = strrchr(text, ')');
	if (!open_p || !close_p || close_p < open_p)
		return -1;
	cl = (size_t)(close_p - open_p - 1);
	if (cl >= sizeof(p->comm))
		cl = sizeof(p->comm) - 1;
	memcpy(p->comm, open_p + 1, cl);
	p->comm[cl] = '\0';
	if (sscanf(close_p + 2, "%*c %d", &p->ppid) != 1)
		return -1;
	return proc_starttime(pid, &p->start) < 0 ? -1 : 0;
}

static int add_proc(struct procsel_proc **procs, size_t *n, size_t *cap, pid_t pid)
{
	struct procsel_proc p = { .pid = pid };
	char *cmd = NULL;
	ssize_t len;

	if (pid == getpid())
		return 0;
	if (read_stat(pid, &p) < 0)
		return 0; /* exited meanwhile */
	len = read_proc(pid, "cmdline", PROCSEL_CMDLINE_MAX, &cmd);
	if (len < 0) {
		/* longer than the bound: its first PROCSEL_CMDLINE_MAX bytes */
		free(cmd);
		cmd = calloc(1, PROCSEL_CMDLINE_MAX + 1);
		len = 0;
		if (cmd) {
			char path[64];
			cleanup_close int fd = -1;

			snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			len = fd < 0 ? 0 : read(fd, cmd, PROCSEL_CMDLINE_MAX);
			if (len < 0)
				len = 0;
		}
	}
	if (!cmd)
		return -1;
	procsel_cmdline_join(cmd, (size_t)len);
	p.cmdline = cmd;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct procsel_proc *np = realloc(*procs, ncap * sizeof(*np));

		if (!np) {
			free(cmd);
			return -1;
		}
		*procs = np;
		*cap = ncap;
	}
	(*procs)[(*n)++] = p;
	return 0;
}

static int scan_dir(const char *dir, int depth, struct procsel_proc **procs, size_t *n, size_t *cap,
		    struct duress_err *err)
{
	cleanup_free pid_t *pids = NULL;
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	size_t np = 0;

	if (cg_procs(dir, &pids, &np, err) < 0)
		return -1;
	for (size_t i = 0; i < np; i++)
		if (add_proc(procs, n, cap, pids[i]) < 0)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "processes of %s",
					       dir);
	if (depth >= PROCSEL_DEPTH_MAX)
		return 0;
	d = opendir(dir);
	if (!d)
		return depth ? 0 : duress_err_set(err, errno, "open %s", dir);
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		struct duress_err e = { 0 };

		if (de->d_type != DT_DIR || de->d_name[0] == '.' ||
		    !strncmp(de->d_name, "duress-", 7))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		if (scan_dir(sub, depth + 1, procs, n, cap, &e) < 0 &&
		    e.code == DURESS_EXIT_INTERNAL) {
			*err = e;
			return -1;
		}
	}
	return 0;
}

int procsel_scan(const char *dir, struct procsel_proc **procs, size_t *n, struct duress_err *err)
{
	size_t cap = 0;

	*procs = NULL;
	*n = 0;
	if (scan_dir(dir, 0, procs, n, &cap, err) < 0) {
		procsel_procs_free(*procs, *n);
		*procs = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

void procsel_procs_free(struct procsel_proc *procs, size_t n)
{
	for (size_t i = 0; procs && i < n; i++)
		free(procs[i].cmdline);
	free(procs);
}

/* ---- --port ---- */

struct netns_socks {
	dev_t dev;
	ino_t ino;
	unsigned long inodes[PROCSEL_INODES_MAX];
	size_t n;
};

/* The listening sockets on port of pid's network namespace (both tables). */
static void read_listeners(pid_t pid, unsigned port, struct netns_socks *ns)
{
	static const char *const tables[] = { "net/tcp", "net/tcp6" };

	ns->n = 0;
	for (size_t t = 0; t < DURESS_ARRAY_SIZE(tables); t++) {
		cleanup_free char *text = NULL;
		int k;

		if (read_proc(pid, tables[t], PROCSEL_TCP_MAX, &text) < 0)
			continue;
		k = procsel_parse_tcp(text, port, ns->inodes + ns->n, PROCSEL_INODES_MAX - ns->n);
		if (k > 0)
			ns->n += (size_t)k;
	}
}

/* Does pid hold one of the socket inodes? */
static bool holds_socket(pid_t pid, const struct netns_socks *ns)
{
	char path[64];
	cleanup_dir DIR *d = NULL;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while ((de = readdir(d))) {
		char link[PATH_MAX], target[64];
		unsigned long inode;
		ssize_t l;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		l = readlinkat(AT_FDCWD, link, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) != 1)
			continue;
		for (size_t i = 0; i < ns->n; i++)
			if (ns->inodes[i] == inode)
				return true;
	}
	return false;
}

static bool on_port(pid_t pid, unsigned port, struct netns_socks *cache, size_t *ncache, size_t max)
{
	char path[64];
	struct stat st;
	struct netns_socks *ns = NULL;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &st) < 0)
		return false;
	for (size_t i = 0; i < *ncache && !ns; i++)
		if (cache[i].dev == st.st_dev && cache[i].ino == st.st_ino)
			ns = &cache[i];
	if (!ns) {
		if (*ncache == max)
			return false;
		ns = &cache[(*ncache)++];
		ns->dev = st.st_dev;
		ns->ino = st.st_ino;
		read_listeners(pid, port, ns);
	}
	return ns->n && holds_socket(pid, ns);
}

int procsel_select(const struct procsel *s, const struct procsel_proc *procs, size_t n, bool *sel,
		   struct duress_err *err)
{
	int count = 0;

	for (size_t i = 0; i < n; i++)
		sel[i] = false;
	if (s->port) {
		cleanup_free struct netns_socks *cache = calloc(8, sizeof(*cache));
		size_t ncache = 0;

		if (!cache)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "--port");
		for (size_t i = 0; i < n; i++)
			sel[i] = on_port(procs[i].pid, s->port, cache, &ncache, 8);
	}
	if (!s->n && !s->port) {
		ssize_t m = procsel_main(procs, n);

		if (m >= 0)
			sel[m] = true;
	}
	for (size_t r = 0; r < s->n; r++) {
		if (s->rules[r].kind == PROCSEL_MAIN) {
			ssize_t m = procsel_main(procs, n);

			if (m >= 0)
				sel[m] = true;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (!sel[i] &&
			    procsel_rule_matches(&s->rules[r], procs[i].comm, procs[i].cmdline))
				sel[i] = true;
	}
	for (size_t i = 0; i < n; i++)
		count += sel[i];
	return count;
}

void procsel_describe(const struct procsel *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!s->n && !s->port) {
		snprintf(buf, len, "main");
		return;
	}
	for (size_t i = 0; i < s->n && off < len; i++) {
		const struct procsel_rule *r = &s->rules[i];

		off += (size_t)snprintf(buf + off, len - off, "%s%s%s%s", off ? ", " : "",
					r->kind == PROCSEL_REGEX ? "/" : "",
					r->kind == PROCSEL_MAIN	 ? "main"
					: r->kind == PROCSEL_ALL ? "all"
								 : r->name,
					r->kind == PROCSEL_REGEX ? "/" : "");
	}
	if (s->port && off < len)
		snprintf(buf + off, len - off, "%sport %u", off ? ", " : "", s->port);
}
