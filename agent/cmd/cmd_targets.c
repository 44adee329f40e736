// SPDX-License-Identifier: MIT
/*
 * duress targets: list the containers (or, with --all, every cgroup with
 * processes) that can be given to -t, with a snapshot of their usage.
 */
#include <duress/targets/container.h>
#include <duress/core/cgroup.h>
#include <duress/targets/cgview.h>
#include <duress/core/cleanup.h>
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/core/parse.h>
#include <duress/targets/target.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long CPU usage is measured for the CPU% column. */
#define CPU_WINDOW_NS 250000000L
#define WALK_MAX_DEPTH 32

struct row {
	char id[CONTAINER_ID_MAX + 1]; /* "" for a plain cgroup (--all) */
	const char *runtime;	       /* NULL for a plain cgroup */
	char rel[PATH_MAX];
	char dir[PATH_MAX];
	bool has_pids, has_mem, has_cpu0, has_cpu_pct;
	uint64_t pids, mem, cpu0;
	double cpu_pct;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static void usage(FILE *f)
{
	fputs("usage: duress targets [--format table|json] [--all]\n"
	      "\n"
	      "List the containers on this host that -t container:ID can name, with a\n"
	      "snapshot of their usage (CPU% is of one CPU, measured over 250 ms).\n"
	      "\n"
	      "  -f, --format FMT   table (default) or json\n"
	      "  -a, --all          also list every other cgroup that has processes\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Containers are recognised by the cgroup names that docker, containerd,\n"
	      "CRI-O, podman and kubelet give them (docs/targets.md), and by the state\n"
	      "of the OCI runtimes runc and crun (docs/containers.md).\n",
	      f);
}

static int rows_add(struct rows *r, const struct cg_root *root, const char *id, const char *runtime,
		    const char *rel, struct duress_err *err)
{
	struct row *row;

	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct row *nv = realloc(r->v, ncap * sizeof(*nv));

		if (!nv)
			return duress_err_set(err, ENOMEM, "list targets");
		r->v = nv;
		r->cap = ncap;
	}
	row = &r->v[r->n];
	memset(row, 0, sizeof(*row));
	snprintf(row->id, sizeof(row->id), "%s", id ? id : "");
	row->runtime = runtime;
	snprintf(row->rel, sizeof(row->rel), "%s", rel);
	/* An OCI container's cgroup outside our cgroup namespace ("/../x"):
	 * listed, not measured (docs/containers.md). */
	if (cg_rel_outside(rel))
		row->dir[0] = '\0';
	else if (cg_path_join(root, rel, row->dir, sizeof(row->dir), err) < 0)
		return -1;
	r->n++;
	return 0;
}

static bool has_procs(const char *dir)
{
	char buf[32];
	struct duress_err e = { 0 };

	return cg_read_buf(dir, "cgroup.procs", buf, sizeof(buf), &e) > 0;
}

/*
 * --all: every cgroup with processes.  Containers are listed as such and
 * their children are not (they belong to the container).  Directories that
 * vanish or cannot be read are skipped.
 */
static int walk_all(const struct cg_root *root, const char *rel, int depth, struct rows *r,
		    struct duress_err *err)
{
	char dir[PATH_MAX];
	cleanup_dir DIR *d = NULL;
	struct dirent *de;

	if (cg_path_join(root, rel, dir, sizeof(dir), err) < 0)
		return -1;
	if (has_procs(dir) && rows_add(r, root, NULL, NULL, rel, err) < 0)
		return -1;
	if (depth + 1 >= WALK_MAX_DEPTH)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char sub[PATH_MAX], id[CONTAINER_ID_MAX + 1];
		const char *runtime = NULL;
		struct stat st;
		int n;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (de->d_type == DT_UNKNOWN &&
		    (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		     !S_ISDIR(st.st_mode)))
			continue;
		n = snprintf(sub, sizeof(sub), "%s/%s", strcmp(rel, "/") ? rel : "", de->d_name);
		if (n < 0 || (size_t)n >= sizeof(sub))
			continue;
		if (container_match_name(sub, id, sizeof(id), &runtime)) {
			if (rows_add(r, root, id, runtime, sub, err) < 0)
				return -1;
			continue;
		}
		if (walk_all(root, sub, depth + 1, r, err) < 0)
			return -1;
	}
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return strcmp(x->rel, y->rel);
}

static bool read_cpu_usage(const char *dir, uint64_t *usec)
{
	struct duress_err e = { 0 };
	cleanup_free char *text = NULL;

	if (cg_read(dir, "cpu.stat", &text, &e) < 0)
		return false;
	return cg_parse_keyed(text, "usage_usec", usec) == 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Read pids.current, memory.current and CPU% (over one shared window). */
static void measure(struct rows *r)
{
	struct timespec window = { 0, CPU_WINDOW_NS };
	uint64_t t0, t1;

	if (r->n == 0)
		return;
	t0 = mono_ns();
	for (size_t i = 0; i < r->n; i++)
		r->v[i].has_cpu0 = r->v[i].dir[0] && read_cpu_usage(r->v[i].dir, &r->v[i].cpu0);
	while (nanosleep(&window, &window) < 0 && errno == EINTR)
		;
	t1 = mono_ns();
	for (size_t i = 0; i < r->n; i++) {
		struct row *row = &r->v[i];
		struct duress_err e = { 0 };
		uint64_t u;

		if (row->has_cpu0 && read_cpu_usage(row->dir, &u) && u >= row->cpu0 && t1 > t0) {
			row->cpu_pct = (double)(u - row->cpu0) * 1000.0 * 100.0 / (double)(t1 - t0);
			row->has_cpu_pct = true;
		}
		if (!row->dir[0])
			continue;
		row->has_pids = cg_read_u64(row->dir, "pids.current", &row->pids, &e) == 0;
		row->has_mem = cg_read_u64(row->dir, "memory.current", &row->mem, &e) == 0;
	}
}

static void print_table(const struct rows *r)
{
	printf("%-12s  %-10s  %5s  %10s  %6s  %s\n", "ID", "RUNTIME", "PIDS", "MEMORY", "CPU%",
	       "CGROUP");
	for (size_t i = 0; i < r->n; i++) {
		const struct row *row = &r->v[i];
		char pids[24] = "-", mem[32] = "-", cpu[24] = "-";

		if (row->has_pids)
			snprintf(pids, sizeof(pids), "%llu", (unsigned long long)row->pids);
		if (row->has_mem)
			format_size(row->mem, mem, sizeof(mem));
		if (row->has_cpu_pct)
			snprintf(cpu, sizeof(cpu), "%.1f", row->cpu_pct);
		/* A 64-hex id is cut to 12 like docker does; an OCI name is whole. */
		printf("%-12.*s  %-10s  %5s  %10s  %6s  %s\n",
		       strlen(row->id) == CONTAINER_ID_MAX ? 12 : CONTAINER_ID_MAX,
		       row->id[0] ? row->id : "-", row->runtime ? row->runtime : "-", pids, mem,
		       cpu, row->rel);
	}
}

static json_t *json_opt_u64(bool has, uint64_t v)
{
	return has ? json_integer((json_int_t)v) : json_null();
}

static int print_json(const struct rows *r, struct duress_err *err)
{
	json_t *arr = json_array();
	int ret = 0;

	if (!arr)
		return duress_err_set(err, ENOMEM, "targets as JSON");
	for (size_t i = 0; i < r->n && ret == 0; i++) {
		const struct row *row = &r->v[i];
		json_t *id = row->id[0] ? json_string(row->id) : json_null();
		json_t *rt = row->runtime ? json_string(row->runtime) : json_null();
		json_t *cpu = row->has_cpu_pct ? json_real(row->cpu_pct) : json_null();
		json_t *o = json_pack("{s:o, s:o, s:s, s:o, s:o, s:o}", "id", id, "runtime", rt,
				      "cgroup", row->rel, "pids",
				      json_opt_u64(row->has_pids, row->pids), "memory_current",
				      json_opt_u64(row->has_mem, row->mem), "cpu_pct", cpu);

		if (!o || json_array_append_new(arr, o) < 0)
			ret = duress_err_set(err, 0, "cannot write cgroup %s as JSON (not UTF-8?)",
					     row->rel);
	}
	if (ret == 0) {
		if (json_dumpf(arr, stdout, JSON_INDENT(2)) < 0)
			ret = duress_err_set(err, errno, "write JSON");
		else
			putchar('\n');
	}
	json_decref(arr);
	return ret;
}

/* also listed by `duress __complete options targets` */
const struct option targets_longopts[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "all", no_argument, NULL, 'a' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_targets(int argc, char **argv)
{
	struct duress_err err = { 0 };
	struct cg_root root;
	struct rows r = { NULL, 0, 0 };
	bool json = false, all = false;
	int opt, ret = DURESS_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":f:ah", targets_longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (!strcmp(optarg, "json"))
				json = true;
			else if (!strcmp(optarg, "table"))
				json = false;
			else
				return cli_usage_error("targets",
						       "--format: '%s' is not one of table, json",
						       optarg);
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			usage(stdout);
			return DURESS_EXIT_OK;
		case ':':
			return cli_usage_error("targets", "%s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("targets", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("targets", "unexpected argument '%s'", argv[optind]);

	if (cg_root_discover(&root, &err) < 0)
		return cli_fail(&err);

	if (all) {
		if (walk_all(&root, "/", 0, &r, &err) < 0) {
			free(r.v);
			return cli_fail(&err);
		}
		if (r.n > 1)
			qsort(r.v, r.n, sizeof(*r.v), row_cmp);
	} else {
		cleanup_free struct container_info *list = NULL;
		size_t n = 0;

		if (container_list_all(&root, &list, &n, &err) < 0)
			return cli_fail(&err);
		for (size_t i = 0; i < n; i++) {
			if (rows_add(&r, &root, list[i].id, list[i].runtime, list[i].rel, &err) <
			    0) {
				free(r.v);
				return cli_fail(&err);
			}
		}
	}

	measure(&r);
	if (json) {
		if (print_json(&r, &err) < 0)
			ret = cli_fail(&err);
	} else if (r.n == 0) {
		printf("No %s found under %s\n", all ? "cgroups with processes" : "containers",
		       root.mount);
	} else {
		print_table(&r);
	}
	free(r.v);
	if (fflush(stdout) != 0 && ret == DURESS_EXIT_OK) {
		duress_err_setc(&err, DURESS_EXIT_FAILED, errno, "write to stdout");
		ret = cli_fail(&err);
	}
	return ret;
}
