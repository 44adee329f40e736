// SPDX-License-Identifier: MIT
/*
 * Containers: recognise the cgroups that container runtimes create, walk
 * the cgroup2 hierarchy for them, and find one by a prefix of its id.
 * The naming rules per runtime are listed in docs/targets.md.
 */
#include <duress/targets/container.h>
#include <duress/targets/oci.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/targets/target.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How far below the mount the scan looks (kubepods trees are ~5 deep). */
#define SCAN_MAX_DEPTH 32

/* Directory names "<prefix><64 hex>" with an optional ".scope" suffix:
 * the systemd driver adds ".scope", the cgroupfs driver of CRI-O and
 * podman does not.  "crio-conmon-<id>" and "libpod-conmon-<id>" do not
 * match because "conmon-" is not hex. */
static const struct {
	const char *prefix;
	const char *runtime;
} scope_names[] = {
	{ "docker-", "docker" },
	{ "cri-containerd-", "containerd" },
	{ "crio-", "crio" },
	{ "libpod-", "podman" },
};

static bool is_hex_id(const char *s, size_t len)
{
	if (len != CONTAINER_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

/* A path component, not NUL-terminated. */
struct comp {
	const char *s;
	size_t len;
};

static bool comp_is(const struct comp *c, const char *word)
{
	return c->len == strlen(word) && !memcmp(c->s, word, c->len);
}

static bool comp_starts(const struct comp *c, const char *prefix)
{
	size_t pl = strlen(prefix);

	return c->len >= pl && !memcmp(c->s, prefix, pl);
}

/* "<prefix><id>[.scope]": returns the runtime and points *id at the id. */
static const char *match_scope_name(const struct comp *c, const char **id)
{
	for (size_t i = 0; i < DURESS_ARRAY_SIZE(scope_names); i++) {
		size_t pl = strlen(scope_names[i].prefix);
		size_t rest;

		if (!comp_starts(c, scope_names[i].prefix))
			continue;
		rest = c->len - pl;
		if (rest == CONTAINER_ID_MAX + strlen(".scope") &&
		    !memcmp(c->s + c->len - strlen(".scope"), ".scope", strlen(".scope")))
			rest = CONTAINER_ID_MAX;
		if (!is_hex_id(c->s + pl, rest))
			continue;
		*id = c->s + pl;
		return scope_names[i].runtime;
	}
	return NULL;
}

static void put_id(const char *src, char *id, size_t idlen)
{
	size_t n = CONTAINER_ID_MAX;

	if (!id || idlen == 0)
		return;
	if (n > idlen - 1)
		n = idlen - 1;
	memcpy(id, src, n);
	id[n] = '\0';
}

int container_match_name(const char *rel, char *id, size_t idlen, const char **runtime)
{
	struct comp last = { NULL, 0 }, parent = { NULL, 0 };
	bool under_kubepods = false;
	const char *rt, *idp = NULL;
	size_t len;

	if (!rel)
		return 0;
	for (const char *p = rel; path_next(&p, &len); p += len) {
		if (last.s && comp_starts(&last, "kubepods"))
			under_kubepods = true;
		parent = last;
		last.s = p;
		last.len = len;
	}
	if (!last.s)
		return 0;

	rt = match_scope_name(&last, &idp);
	/* podman (crun) with a cgroup namespace puts the processes in a
	 * "container" child of the scope: the id is the parent's. */
	if (!rt && parent.s && comp_is(&last, "container"))
		rt = match_scope_name(&parent, &idp);
	if (!rt && is_hex_id(last.s, last.len)) {
		idp = last.s;
		if (parent.s && comp_is(&parent, "docker"))
			rt = "docker";
		else if (under_kubepods)
			rt = "kubepods";
	}
	if (!rt)
		return 0;
	put_id(idp, id, idlen);
	if (runtime)
		*runtime = rt;
	return 1;
}

/* ---- scan ---- */

struct scan_list {
	struct container_info *v;
	size_t n, cap;
};

static int scan_add(struct scan_list *l, const char *id, const char *runtime, const char *rel,
		    struct duress_err *err)
{
	struct container_info *ci;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct container_info *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return duress_err_set(err, ENOMEM, "list containers");
		l->v = nv;
		l->cap = ncap;
	}
	ci = &l->v[l->n++];
	memset(ci, 0, sizeof(*ci));
	snprintf(ci->id, sizeof(ci->id), "%s", id);
	ci->runtime = runtime;
	snprintf(ci->rel, sizeof(ci->rel), "%s", rel);
	return 0;
}

/* A subdirectory, not a symlink (d_type may be DT_UNKNOWN on some filesystems). */
static bool entry_is_dir(DIR *d, const struct dirent *de)
{
	struct stat st;

	if (de->d_type == DT_DIR)
		return true;
	if (de->d_type != DT_UNKNOWN)
		return false;
	if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return S_ISDIR(st.st_mode);
}

/* Errors of a directory that vanished or that we may not read: skip it. */
static bool skippable(int e)
{
	return e == ENOENT || e == EACCES || e == EPERM || e == ENOTDIR || e == ELOOP ||
	       e == ESTALE;
}

/*
 * Scan the directory open on fd (consumed), whose path below the mount is
 * rel[0..rlen) ("" for the mount itself).  rel is a PATH_MAX buffer that
 * is extended in place for the children and restored before returning.
 */
static int scan_dir(const struct cg_root *root, int fd, char *rel, size_t rlen, int depth,
		    struct scan_list *l, struct duress_err *err)
{
	cleanup_dir DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		int e = errno;

		close(fd);
		return duress_err_set(err, e, "scan cgroup %s%s", root->mount, rel);
	}
	for (;;) {
		char id[CONTAINER_ID_MAX + 1];
		const char *runtime = NULL;
		int n, cfd;

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!entry_is_dir(d, de))
			continue;
		n = snprintf(rel + rlen, PATH_MAX - rlen, "/%s", de->d_name);
		if (n < 0 || (size_t)n >= PATH_MAX - rlen) {
			rel[rlen] = '\0';
			continue;
		}
		if (container_match_name(rel, id, sizeof(id), &runtime)) {
			/* A container's children belong to it: do not descend. */
			if (scan_add(l, id, runtime, rel, err) < 0)
				return -1;
			rel[rlen] = '\0';
			continue;
		}
		if (depth + 1 >= SCAN_MAX_DEPTH) {
			rel[rlen] = '\0';
			continue;
		}
		cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			int e = errno;

			if (skippable(e)) {
				rel[rlen] = '\0';
				continue;
			}
			duress_err_set(err, e, "scan cgroup %s%s", root->mount, rel);
			rel[rlen] = '\0';
			return -1;
		}
		if (scan_dir(root, cfd, rel, rlen + n, depth + 1, l, err) < 0) {
			rel[rlen] = '\0';
			return -1;
		}
		rel[rlen] = '\0';
	}
	/* A directory removed while we read it just ends. */
	if (errno && !skippable(errno))
		return duress_err_set(err, errno, "scan cgroup %s%s", root->mount, rel);
	return 0;
}

static int info_cmp(const void *a, const void *b)
{
	const struct container_info *x = a, *y = b;

	return strcmp(x->rel, y->rel);
}

int container_scan(const struct cg_root *root, struct container_info **list, size_t *n,
		   struct duress_err *err)
{
	struct scan_list l = { NULL, 0, 0 };
	char rel[PATH_MAX] = "";
	int fd;

	if (!root->mount[0])
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "scan for containers: no cgroup v2 mount");
	fd = open(root->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return duress_err_set(err, errno, "scan for containers: open %s", root->mount);
	if (scan_dir(root, fd, rel, 0, 0, &l, err) < 0) {
		free(l.v);
		return duress_err_wrap(err, "scan for containers");
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), info_cmp);
	*list = l.v;
	*n = l.n;
	return 0;
}

/* ---- find ---- */

/* Append to a message buffer; returns false (and leaves buf alone) if the
 * text does not fit in the first `limit` bytes. */
static bool __attribute__((format(printf, 4, 5)))
msg_add(char *buf, size_t limit, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= limit)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, limit - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= limit - *off) {
		buf[*off] = '\0';
		return false;
	}
	*off += n;
	return true;
}

/* Room for the list part of a message, leaving space for the rest; items
 * stop 32 bytes short of it so that "and N more" always fits. */
#define LIST_LIMIT (DURESS_ERR_MSG_MAX - 200)

static size_t common_prefix(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] && a[i] == b[i])
		i++;
	return i;
}

static bool all_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Does ci match `want` (as given) / `lower` (lowercased) exactly, or by prefix? */
static bool id_matches(const struct container_info *ci, const char *want, const char *lower,
		       bool hex, bool exact)
{
	size_t plen = strlen(want);

	if (ci->pid > 0) /* an OCI name: case-sensitive */
		return exact ? !strcmp(ci->id, want) : !strncmp(ci->id, want, plen);
	if (!hex)
		return false;
	return exact ? !strcmp(ci->id, lower) : !strncmp(ci->id, lower, plen);
}

/* Cgroup-named containers, then the OCI runtime's ones not already listed. */
static int all_containers(const struct cg_root *root, struct container_info **out, size_t *n,
			  struct duress_err *err)
{
	cleanup_free struct container_info *oci = NULL;
	struct container_info *list = NULL, *nv;
	size_t nc = 0, no = 0, k;

	if (container_scan(root, &list, &nc, err) < 0)
		return -1;
	if (oci_scan(&oci, &no, err) < 0) {
		free(list);
		return -1;
	}
	nv = realloc(list, (nc + no + 1) * sizeof(*list));
	if (!nv) {
		free(list);
		return duress_err_set(err, ENOMEM, "list containers");
	}
	list = nv;
	k = nc;
	for (size_t i = 0; i < no; i++) {
		bool dup = false;

		for (size_t j = 0; j < nc && !dup; j++)
			dup = !strcmp(list[j].id, oci[i].id);
		if (!dup)
			list[k++] = oci[i];
	}
	*out = list;
	*n = k;
	return 0;
}

int container_list_all(const struct cg_root *root, struct container_info **list, size_t *n,
		       struct duress_err *err)
{
	return all_containers(root, list, n, err);
}

int container_find(const struct cg_root *root, const char *prefix, struct container_info *out,
		   struct duress_err *err)
{
	cleanup_free struct container_info *list = NULL;
	cleanup_free size_t *hits = NULL;
	char want[CONTAINER_ID_MAX + 1], lower[CONTAINER_ID_MAX + 1];
	char msg[LIST_LIMIT];
	size_t n = 0, nhits = 0, plen, off = 0, shown, idw = 12;
	bool hex;

	plen = prefix ? strlen(prefix) : 0;
	if (plen < 1 || plen > CONTAINER_ID_MAX)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "container id '%.80s' must have 1 to 64 characters",
				       prefix ? prefix : "");
	for (size_t i = 0; i < plen; i++) {
		if (!oci_id_char_ok(prefix[i]))
			return duress_err_setc(
				err, DURESS_EXIT_USAGE, 0,
				"container id '%s': '%c' is not a letter, digit, '_', "
				"'.', '+' or '-'",
				prefix, prefix[i]);
		lower[i] = (char)tolower((unsigned char)prefix[i]);
	}
	memcpy(want, prefix, plen);
	want[plen] = lower[plen] = '\0';
	hex = plen >= 6 && all_hex(want, plen);

	if (all_containers(root, &list, &n, err) < 0)
		return -1;
	hits = calloc(n ? n : 1, sizeof(*hits));
	if (!hits)
		return duress_err_set(err, ENOMEM, "find container %s", want);
	/* An exact id wins over longer ids it is a prefix of. */
	for (size_t i = 0; i < n; i++)
		if (id_matches(&list[i], want, lower, hex, true))
			hits[nhits++] = i;
	if (nhits == 0)
		for (size_t i = 0; i < n; i++)
			if (id_matches(&list[i], want, lower, hex, false))
				hits[nhits++] = i;

	if (nhits == 1) {
		*out = list[hits[0]];
		return 0;
	}
	if (hex)
		memcpy(want, lower, plen + 1);
	if (nhits == 0) {
		for (shown = 0; shown < n; shown++)
			if (!msg_add(msg, sizeof(msg) - 32, &off, "%s%.*s (%s)", shown ? ", " : "",
				     list[shown].pid > 0 ? CONTAINER_ID_MAX : 12, list[shown].id,
				     list[shown].runtime))
				break;
		if (n == 0)
			return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
					       "no container with id prefix '%s' (0 containers "
					       "found under %s or in the OCI runtimes' state)",
					       want, root->mount);
		return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
				       "no container with id prefix '%s' (%zu container%s found: "
				       "%s%s)",
				       want, n, n == 1 ? "" : "s", msg, shown < n ? ", ..." : "");
	}

	/* Show enough of each id to tell them apart. */
	for (size_t i = 0; i < nhits; i++)
		for (size_t j = i + 1; j < nhits; j++) {
			size_t c = common_prefix(list[hits[i]].id, list[hits[j]].id) + 1;

			if (c > idw)
				idw = c;
		}
	if (idw > CONTAINER_ID_MAX)
		idw = CONTAINER_ID_MAX;
	for (shown = 0; shown < nhits; shown++) {
		const struct container_info *ci = &list[hits[shown]];

		if (!msg_add(msg, sizeof(msg) - 32, &off, "%s%.*s (%s, %s)", shown ? ", " : "",
			     ci->pid > 0 ? CONTAINER_ID_MAX : (int)idw, ci->id, ci->runtime,
			     ci->pid > 0 && ci->state[0] ? ci->state : ci->rel))
			break;
	}
	if (shown < nhits)
		msg_add(msg, sizeof(msg), &off, "%sand %zu more", shown ? ", " : "", nhits - shown);
	return duress_err_setc(err, DURESS_EXIT_NO_TARGET, 0,
			       "container id prefix '%s' is ambiguous: matches %s; give more of "
			       "the id, or use cgroup:PATH",
			       want, msg);
}
