// SPDX-License-Identifier: MIT
/*
 * Targets and containers: spec parsing, container naming rules, and scan,
 * find and resolve against a fake cgroup hierarchy in a temporary dir.
 */
#include <duress/targets/container.h>
#include <duress/core/cgroup.h>
#include <duress/core/exitcode.h>
#include <duress/targets/target.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

#define ID_D1 "abc1234f152c8fc6ef30802fde462ba0be9cf085f7580dc69efd72e002abbb35"
#define ID_D2 "abc123fee15318fcd2af9b73b4ebbb33a903b020de7b307d71f5fed0f433e548"
#define ID_P1 "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"
#define ID_K1 "6ab9f1eb8f7d3388f4f9d586f66e99fd54080df2c446f0e58668b09c08a16dd0"
#define ID_K2 "015f7e6bc5aeaf483724089e9252cc13b50951a6b69412522765cff4d780306e"
#define ID_C1 "d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982"
#define ID_X "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
/* Share their first 19 characters. */
#define ID_W1 "deadbeef0000111122235afc28bf63ca91d2016a0a288f90f9a32f89d3fffcaf"
#define ID_W2 "deadbeef000011112224d063a07ba4ffaf1ece9a1d473c588565231cdc8e59cc"

/* Room for a mount and a path below it, for -Wformat-truncation. */
#define BIG (2 * PATH_MAX + 128)

#define POD_SD "kubepods-burstable-pod1f2e3d4c_5b6a_7980_a1b2_c3d4e5f60718.slice"
#define POD_BE_SD "kubepods-besteffort-pod0a1b2c3d_4e5f_6071_8293_a4b5c6d7e8f9.slice"
#define POD_FS "pod1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"
#define POD_BE_FS "pod0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"

#define K1_REL "/kubepods.slice/kubepods-burstable.slice/" POD_SD "/cri-containerd-" ID_K1 ".scope"
#define K2_REL "/kubepods/besteffort/" POD_BE_FS "/" ID_K2
#define W1_REL "/kubepods/burstable/" POD_FS "/" ID_W1
#define W2_REL "/kubepods/burstable/" POD_FS "/crio-" ID_W2
#define D1_REL "/system.slice/docker-" ID_D1 ".scope"
#define D2_REL "/docker/" ID_D2
#define P1_REL "/machine.slice/libpod-" ID_P1 ".scope"

/* ---- fake hierarchy helpers ---- */

static void mkdir_p(const char *base, const char *rel)
{
	char path[PATH_MAX];

	assert_true((size_t)snprintf(path, sizeof(path), "%s%s", base, rel) < sizeof(path));
	for (char *p = path + strlen(base) + (rel[0] ? 1 : 0); *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* A cgroup directory with cgroup.procs holding `procs`. */
static void make_cgroup(const char *base, const char *rel, const char *procs)
{
	char file[PATH_MAX];

	mkdir_p(base, rel);
	snprintf(file, sizeof(file), "%s/cgroup.procs", rel);
	fx_put(base, file, procs);
}

struct fake {
	struct cg_root root;
};

static int fake_new(struct fake **out)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root.mount, sizeof(f->root.mount), "/tmp/duress-test-target-XXXXXX");
	if (!mkdtemp(f->root.mount)) {
		free(f);
		return -1;
	}
	*out = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;

	if (f) {
		fx_rm_tree(f->root.mount);
		free(f);
	}
	return 0;
}

/* The realistic tree: one or more containers of every runtime. */
static int tree_setup(void **state)
{
	struct fake *f;
	const char *m;
	char self[32], link[BIG];

	if (fake_new(&f) < 0)
		return -1;
	m = f->root.mount;
	snprintf(self, sizeof(self), "%d\n", (int)getpid());

	make_cgroup(m, "", "");
	make_cgroup(m, "/system.slice", "");
	make_cgroup(m, "/system.slice/sshd.service", "");
	make_cgroup(m, "/system.slice/containerd.service", "");
	make_cgroup(m, D1_REL, "");
	/* A nested container inside D1: not listed (children belong to D1). */
	make_cgroup(m, D1_REL "/docker-" ID_X ".scope", self);
	make_cgroup(m, "/system.slice/crio-conmon-" ID_C1 ".scope", "");
	make_cgroup(m, "/docker", "");
	make_cgroup(m, D2_REL, "");
	make_cgroup(m, "/machine.slice", "");
	make_cgroup(m, P1_REL, "");
	make_cgroup(m, P1_REL "/container", "");
	make_cgroup(m, "/machine.slice/libpod-conmon-" ID_P1 ".scope", "");
	make_cgroup(m, K1_REL, "");
	make_cgroup(m, "/kubepods.slice/kubepods-besteffort.slice/" POD_BE_SD, "");
	make_cgroup(m, K2_REL, "");
	make_cgroup(m, W1_REL, "");
	make_cgroup(m, W2_REL, "");
	make_cgroup(m, "/kubepods/burstable/" POD_FS "/crio-conmon-" ID_W2, "");
	make_cgroup(m, "/user.slice/user-1000.slice", "");
	/* Not a cgroup: no cgroup.procs. */
	mkdir_p(m, "/plain");
	/* A symlink to a container must not be followed. */
	snprintf(link, sizeof(link), "%s/link", m);
	if (symlink("system.slice", link) < 0)
		return -1;
	*state = f;
	return 0;
}

static int empty_setup(void **state)
{
	struct fake *f;

	if (fake_new(&f) < 0)
		return -1;
	make_cgroup(f->root.mount, "", "");
	*state = f;
	return 0;
}

/* ---- target_spec_parse ---- */

static void test_spec_parse_ok(void **state)
{
	struct target_spec s;
	struct duress_err err = { 0 };

	(void)state;
	assert_int_equal(target_spec_parse(NULL, &s, &err), 0);
	assert_int_equal(s.kind, TARGET_SANDBOX);
	assert_int_equal(target_spec_parse("", &s, &err), 0);
	assert_int_equal(s.kind, TARGET_SANDBOX);

	assert_int_equal(
		target_spec_parse("cgroup:/sys/fs/cgroup/system.slice/x.service", &s, &err), 0);
	assert_int_equal(s.kind, TARGET_CGROUP);
	assert_string_equal(s.value, "/sys/fs/cgroup/system.slice/x.service");
	assert_int_equal(target_spec_parse("cgroup:system.slice/x.service", &s, &err), 0);
	assert_int_equal(s.kind, TARGET_CGROUP);
	assert_string_equal(s.value, "system.slice/x.service");
	/* ".." inside a name is fine, only a ".." component is refused. */
	assert_int_equal(target_spec_parse("cgroup:a..b/c", &s, &err), 0);
	assert_string_equal(s.value, "a..b/c");

	assert_int_equal(target_spec_parse("pid:1", &s, &err), 0);
	assert_int_equal(s.kind, TARGET_PID);
	assert_int_equal(s.pid, 1);
	assert_int_equal(target_spec_parse("pid:4194304", &s, &err), 0);
	assert_int_equal(s.pid, 4194304);
	assert_int_equal(target_spec_parse("pid:2147483647", &s, &err), 0);
	assert_int_equal(s.pid, INT_MAX);

	/* The id is kept as given: OCI names are case-sensitive, hex ids are
	 * matched in any case (container_find). */
	assert_int_equal(target_spec_parse("container:ABCDEF", &s, &err), 0);
	assert_int_equal(s.kind, TARGET_CONTAINER);
	assert_string_equal(s.value, "ABCDEF");
	assert_int_equal(target_spec_parse("container:web", &s, &err), 0);
	assert_string_equal(s.value, "web");
	assert_int_equal(target_spec_parse("container:ci-job_7.x+1", &s, &err), 0);
	assert_string_equal(s.value, "ci-job_7.x+1");
	assert_int_equal(target_spec_parse("container:" ID_D1, &s, &err), 0);
	assert_string_equal(s.value, ID_D1);
	assert_int_equal(target_spec_parse("container:3F2A1B9C0D1E", &s, &err), 0);
	assert_string_equal(s.value, "3F2A1B9C0D1E");

	/* Success leaves the error untouched. */
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
}

static void test_spec_parse_errors(void **state)
{
	static const struct {
		const char *text;
		const char *want; /* in the message */
	} cases[] = {
		{ "cgroup:", "target 'cgroup:': empty cgroup path" },
		{ "cgroup:../etc",
		  "target 'cgroup:../etc': the cgroup path must not contain '..'" },
		{ "cgroup:/sys/fs/cgroup/a/../b", "must not contain '..'" },
		{ "cgroup:a/..", "must not contain '..'" },
		{ "pid:", "target 'pid:': empty pid" },
		{ "pid:0", "target 'pid:0': the pid must be a positive integer" },
		{ "pid:-3", "target 'pid:-3': the pid must be a positive integer" },
		{ "pid:abc", "target 'pid:abc': 'abc' is not a process id" },
		{ "pid:12x", "'12x' is not a process id" },
		{ "pid: 5", "' 5' is not a process id" },
		{ "pid:+5", "'+5' is not a process id" },
		{ "pid:2147483648", "target 'pid:2147483648': pid 2147483648 is out of range" },
		{ "pid:99999999999999999999999", "is out of range" },
		{ "container:", "target 'container:': empty container id" },
		{ "container:a/b", "target 'container:a/b': container id has a character '/' that "
				   "no id has (letters, digits, '_', '.', '+', '-')" },
		{ "container:a b", "a character ' '" },
		{ "container:x:y", "a character ':'" },
		{ "container:" ID_D1 "0", "container id is too long (65 chars, at most 64)" },
		{ "foo:bar", "unknown target 'foo:bar'" },
		{ "Cgroup:/x", "unknown target 'Cgroup:/x'" },
		{ "1234", "unknown target '1234'" },
		{ "docker:abcdef", "unknown target 'docker:abcdef'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct target_spec s;
		struct duress_err err = { 0 };

		if (target_spec_parse(cases[i].text, &s, &err) != -1)
			fail_msg("'%s' was accepted", cases[i].text);
		assert_int_equal(err.code, DURESS_EXIT_USAGE);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("'%s': message '%s' lacks '%s'", cases[i].text, err.msg,
				 cases[i].want);
	}
}

static void test_spec_parse_lists_forms(void **state)
{
	struct target_spec s;
	struct duress_err err = { 0 };

	(void)state;
	assert_int_equal(target_spec_parse("foo:bar", &s, &err), -1);
	assert_string_equal(err.msg, "unknown target 'foo:bar' (accepted forms: cgroup:PATH, "
				     "pid:N, container:ID (an OCI container name, or 6 to 64 hex "
				     "chars of an id), or no -t for a sandbox)");
	assert_int_equal(err.errnum, 0);
}

/* ---- container_match_name ---- */

static void test_match_name(void **state)
{
	static const struct {
		const char *rel;
		const char *runtime; /* NULL: not a container */
		const char *id;
	} cases[] = {
		/* docker: systemd driver and cgroupfs driver */
		{ "/system.slice/docker-" ID_D1 ".scope", "docker", ID_D1 },
		{ "/docker/" ID_D2, "docker", ID_D2 },
		{ "/docker/" ID_D2 "/", "docker", ID_D2 },
		/* containerd (kubelet with the systemd driver) */
		{ K1_REL, "containerd", ID_K1 },
		{ "/system.slice/cri-containerd-" ID_K1 ".scope", "containerd", ID_K1 },
		/* CRI-O: systemd and cgroupfs drivers; conmon is not the container */
		{ "/kubepods.slice/kubepods-besteffort.slice/" POD_BE_SD "/crio-" ID_C1 ".scope",
		  "crio", ID_C1 },
		{ "/kubepods.slice/kubepods-besteffort.slice/" POD_BE_SD "/crio-conmon-" ID_C1
		  ".scope",
		  NULL, NULL },
		{ W2_REL, "crio", ID_W2 },
		{ "/kubepods/burstable/" POD_FS "/crio-conmon-" ID_W2, NULL, NULL },
		/* podman: root, rootless, cgroupfs, and the cgroupns "container" child */
		{ P1_REL, "podman", ID_P1 },
		{ P1_REL "/container", "podman", ID_P1 },
		{ "/machine.slice/libpod-conmon-" ID_P1 ".scope", NULL, NULL },
		{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_P1 ".scope",
		  "podman", ID_P1 },
		{ "/libpod_parent/libpod-" ID_P1, "podman", ID_P1 },
		/* kubepods, cgroupfs driver: burstable, besteffort, guaranteed */
		{ W1_REL, "kubepods", ID_W1 },
		{ K2_REL, "kubepods", ID_K2 },
		{ "/kubepods/" POD_FS "/" ID_K2, "kubepods", ID_K2 },
		/* kubepods, systemd driver with a bare id */
		{ "/kubepods.slice/kubepods-burstable.slice/" POD_SD "/" ID_K2, "kubepods", ID_K2 },
		{ "/kubepods.slice/kubepods-besteffort.slice/" POD_BE_SD "/" ID_K2, "kubepods",
		  ID_K2 },
		/* not containers */
		{ "/", NULL, NULL },
		{ "", NULL, NULL },
		{ "/system.slice/sshd.service", NULL, NULL },
		{ "/system.slice/docker.service", NULL, NULL },
		{ "/user.slice", NULL, NULL },
		{ "/user.slice/user-1000.slice/session-3.scope", NULL, NULL },
		{ "/kubepods.slice/kubepods-burstable.slice/" POD_SD, NULL, NULL },
		{ "/kubepods/burstable/" POD_FS, NULL, NULL },
		{ "/" ID_D1, NULL, NULL },
		{ "/system.slice/" ID_D1, NULL, NULL },
		{ "/system.slice/docker-" ID_D1 ".scope/init.scope", NULL, NULL },
		{ "/system.slice/docker-" ID_D1 ".service", NULL, NULL },
		{ "/system.slice/docker-abc1234f152c.scope", NULL, NULL },
		{ "/system.slice/docker-" ID_D1 "0.scope", NULL, NULL },
		{ "/system.slice/docker-ABC1234F152C8FC6EF30802FDE462BA0"
		  "BE9CF085F7580DC69EFD72E002ABBB35.scope",
		  NULL, NULL },
		{ "/system.slice/podman-" ID_P1 ".scope", NULL, NULL },
		{ "/container", NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[CONTAINER_ID_MAX + 1] = "unset";
		const char *runtime = "unset";
		int r = container_match_name(cases[i].rel, id, sizeof(id), &runtime);

		if (!cases[i].runtime) {
			if (r != 0)
				fail_msg("'%s' matched as %s %s", cases[i].rel, runtime, id);
			continue;
		}
		if (r != 1)
			fail_msg("'%s' did not match", cases[i].rel);
		assert_string_equal(runtime, cases[i].runtime);
		assert_string_equal(id, cases[i].id);
	}
}

static void test_match_name_short_buffer(void **state)
{
	char id[13];
	const char *runtime = NULL;

	(void)state;
	assert_int_equal(container_match_name(D1_REL, id, sizeof(id), &runtime), 1);
	assert_string_equal(id, "abc1234f152c");
	assert_string_equal(runtime, "docker");
	/* Both outputs are optional. */
	assert_int_equal(container_match_name(D1_REL, NULL, 0, NULL), 1);
	assert_int_equal(container_match_name(NULL, NULL, 0, NULL), 0);
}

/* ---- container_scan / container_find ---- */

static void test_scan(void **state)
{
	struct fake *f = *state;
	struct container_info *list = NULL;
	struct duress_err err = { 0 };
	size_t n = 0;
	static const struct {
		const char *rel, *id, *runtime;
	} want[] = {
		/* sorted by rel */
		{ D2_REL, ID_D2, "docker" },   { K1_REL, ID_K1, "containerd" },
		{ K2_REL, ID_K2, "kubepods" }, { W2_REL, ID_W2, "crio" },
		{ W1_REL, ID_W1, "kubepods" }, { P1_REL, ID_P1, "podman" },
		{ D1_REL, ID_D1, "docker" },
	};

	assert_int_equal(container_scan(&f->root, &list, &n, &err), 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(list[i].rel, want[i].rel);
		assert_string_equal(list[i].id, want[i].id);
		assert_string_equal(list[i].runtime, want[i].runtime);
	}
	free(list);
}

static void test_scan_empty(void **state)
{
	struct fake *f = *state;
	struct container_info *list = NULL;
	struct duress_err err = { 0 };
	size_t n = 99;

	assert_int_equal(container_scan(&f->root, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	free(list);
}

static void test_scan_depth_bound(void **state)
{
	struct fake *f = *state;
	struct container_info *list = NULL;
	struct duress_err err = { 0 };
	char rel[PATH_MAX] = "";
	size_t n = 99;

	/* One container 8 levels down (found), one 40 levels down (beyond the bound). */
	for (int i = 0; i < 8; i++)
		strcat(rel, "/n");
	make_cgroup(f->root.mount, rel, "");
	strcat(rel, "/docker-" ID_D1 ".scope");
	make_cgroup(f->root.mount, rel, "");
	rel[0] = '\0';
	for (int i = 0; i < 40; i++)
		strcat(rel, "/d");
	make_cgroup(f->root.mount, rel, "");
	strcat(rel, "/docker-" ID_D2 ".scope");
	make_cgroup(f->root.mount, rel, "");

	assert_int_equal(container_scan(&f->root, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, ID_D1);
	assert_string_equal(list[0].rel, "/n/n/n/n/n/n/n/n/docker-" ID_D1 ".scope");
	free(list);
}

static void test_scan_no_mount(void **state)
{
	struct cg_root root;
	struct container_info *list = NULL;
	struct duress_err err = { 0 };
	size_t n = 0;

	(void)state;
	memset(&root, 0, sizeof(root));
	snprintf(root.mount, sizeof(root.mount), "/nonexistent/duress-test");
	assert_int_equal(container_scan(&root, &list, &n, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/duress-test"));
}

static void test_find(void **state)
{
	struct fake *f = *state;
	struct container_info ci;
	struct duress_err err = { 0 };

	assert_int_equal(container_find(&f->root, "abc1234", &ci, &err), 0);
	assert_string_equal(ci.id, ID_D1);
	assert_string_equal(ci.runtime, "docker");
	assert_string_equal(ci.rel, D1_REL);

	/* Upper case prefixes are lowered. */
	assert_int_equal(container_find(&f->root, "F64551", &ci, &err), 0);
	assert_string_equal(ci.id, ID_P1);
	assert_string_equal(ci.runtime, "podman");
	assert_string_equal(ci.rel, P1_REL);

	assert_int_equal(container_find(&f->root, ID_K2, &ci, &err), 0);
	assert_string_equal(ci.runtime, "kubepods");
	assert_string_equal(ci.rel, K2_REL);
	assert_int_equal(err.code, 0);
}

static void test_find_ambiguous(void **state)
{
	struct fake *f = *state;
	struct container_info ci;
	struct duress_err err = { 0 };

	assert_int_equal(container_find(&f->root, "abc123", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_string_equal(err.msg, "container id prefix 'abc123' is ambiguous: matches "
				     "abc123fee153 (docker, " D2_REL "), "
				     "abc1234f152c (docker, " D1_REL "); "
				     "give more of the id, or use cgroup:PATH");

	/* Ids that share more than 12 characters are shown until they differ. */
	duress_err_clear(&err);
	assert_int_equal(container_find(&f->root, "DEADBEEF", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_string_equal(err.msg, "container id prefix 'deadbeef' is ambiguous: matches "
				     "deadbeef000011112224 (crio, " W2_REL "), "
				     "deadbeef000011112223 (kubepods, " W1_REL "); "
				     "give more of the id, or use cgroup:PATH");
}

static void test_find_not_found(void **state)
{
	struct fake *f = *state;
	struct container_info ci;
	struct duress_err err = { 0 };

	assert_int_equal(container_find(&f->root, "ffffff", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_string_equal(err.msg, "no container with id prefix 'ffffff' (7 containers found: "
				     "abc123fee153 (docker), 6ab9f1eb8f7d (containerd), "
				     "015f7e6bc5ae (kubepods), deadbeef0000 (crio), "
				     "deadbeef0000 (kubepods), f64551fcd6f0 (podman), "
				     "abc1234f152c (docker))");
	/* crio-conmon ids are not containers */
	duress_err_clear(&err);
	assert_int_equal(container_find(&f->root, "d0f631", &ci, &err), -1);
	assert_non_null(strstr(err.msg, "no container with id prefix 'd0f631'"));

	/* Shorter than 6 hex chars, or not hex: could only be an OCI name,
	 * so it matches no cgroup-named container. */
	duress_err_clear(&err);
	assert_int_equal(container_find(&f->root, "abc12", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_non_null(strstr(err.msg, "no container with id prefix 'abc12'"));
	duress_err_clear(&err);
	assert_int_equal(container_find(&f->root, "abc12z", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	/* A character no id has is a usage error. */
	duress_err_clear(&err);
	assert_int_equal(container_find(&f->root, "abc/12", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "'/' is not a letter, digit"));
}

static void test_find_none_at_all(void **state)
{
	struct fake *f = *state;
	struct container_info ci;
	struct duress_err err = { 0 };
	char want[BIG];

	assert_int_equal(container_find(&f->root, "abcdef", &ci, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	snprintf(want, sizeof(want),
		 "no container with id prefix 'abcdef' (0 containers found under %s or in the "
		 "OCI runtimes' state)",
		 f->root.mount);
	assert_string_equal(err.msg, want);
}

/* ---- target_resolve ---- */

static int resolve(struct fake *f, const char *text, struct target *t, struct duress_err *err)
{
	struct target_spec spec;

	if (target_spec_parse(text, &spec, err) < 0)
		return -1;
	return target_resolve(&f->root, &spec, t, err);
}

static void test_resolve_cgroup(void **state)
{
	struct fake *f = *state;
	struct target t;
	struct duress_err err = { 0 };
	char text[BIG], want[BIG], buf[BIG];

	/* Relative to the mount; a container's cgroup: its process is found below. */
	target_init(&t);
	assert_int_equal(resolve(f, "cgroup:system.slice/docker-" ID_D1 ".scope", &t, &err), 0);
	assert_int_equal(t.kind, TARGET_CGROUP);
	snprintf(want, sizeof(want), "%s%s", f->root.mount, D1_REL);
	assert_string_equal(t.dir, want);
	assert_string_equal(t.rel, D1_REL);
	assert_string_equal(t.id, ID_D1);
	assert_string_equal(t.runtime, "docker");
	assert_int_equal(t.pid, getpid());
	assert_true(t.netns_fd >= 0);
	assert_true(t.mntns_fd >= 0);
	assert_string_equal(target_describe(&t, buf, sizeof(buf)), "cgroup " D1_REL);
	assert_int_equal(target_alive(&t), 1);
	target_release(&t);
	assert_int_equal(t.netns_fd, -1);
	assert_int_equal(t.mntns_fd, -1);
	target_release(&t);
	assert_int_equal(t.netns_fd, -1);

	/* Absolute, with doubled and trailing slashes; no process at all. */
	snprintf(text, sizeof(text), "cgroup:%s//system.slice/./sshd.service/", f->root.mount);
	assert_int_equal(resolve(f, text, &t, &err), 0);
	snprintf(want, sizeof(want), "%s/system.slice/sshd.service", f->root.mount);
	assert_string_equal(t.dir, want);
	assert_string_equal(t.rel, "/system.slice/sshd.service");
	assert_string_equal(t.id, "");
	assert_null(t.runtime);
	assert_int_equal(t.pid, 0);
	assert_int_equal(t.netns_fd, -1);
	assert_int_equal(t.mntns_fd, -1);
	target_release(&t);

	/* A path as /proc/PID/cgroup shows it. */
	assert_int_equal(resolve(f, "cgroup:/system.slice/sshd.service", &t, &err), 0);
	assert_string_equal(t.dir, want);
	target_release(&t);

	/* The mount itself. */
	assert_int_equal(resolve(f, "cgroup:.", &t, &err), 0);
	assert_string_equal(t.dir, f->root.mount);
	assert_string_equal(t.rel, "/");
	target_release(&t);
	assert_int_equal(err.code, 0);
}

static void test_resolve_cgroup_errors(void **state)
{
	struct fake *f = *state;
	struct target t;
	struct duress_err err = { 0 };
	char want[BIG];

	target_init(&t);
	assert_int_equal(resolve(f, "cgroup:nonexistent.slice", &t, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	snprintf(want, sizeof(want),
		 "target cgroup:nonexistent.slice: %s/nonexistent.slice does not exist",
		 f->root.mount);
	assert_string_equal(err.msg, want);

	duress_err_clear(&err);
	assert_int_equal(resolve(f, "cgroup:plain", &t, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	snprintf(want, sizeof(want),
		 "target cgroup:plain: %s/plain is not a cgroup v2 directory (it has no "
		 "cgroup.procs)",
		 f->root.mount);
	assert_string_equal(err.msg, want);

	duress_err_clear(&err);
	assert_int_equal(resolve(f, "cgroup:system.slice/sshd.service/cgroup.procs", &t, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_non_null(strstr(err.msg, "is not a directory"));

	duress_err_clear(&err);
	assert_int_equal(resolve(f, "cgroup:/etc", &t, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_non_null(strstr(err.msg, "target cgroup:/etc: not below the cgroup2 mount"));
	assert_int_equal(t.netns_fd, -1);
	assert_int_equal(t.mntns_fd, -1);
}

static void test_resolve_container(void **state)
{
	struct fake *f = *state;
	struct target t;
	struct duress_err err = { 0 };
	char want[BIG], buf[128];

	target_init(&t);
	assert_int_equal(resolve(f, "container:ABC1234", &t, &err), 0);
	assert_int_equal(t.kind, TARGET_CONTAINER);
	assert_string_equal(t.id, ID_D1);
	assert_string_equal(t.runtime, "docker");
	assert_string_equal(t.rel, D1_REL);
	snprintf(want, sizeof(want), "%s%s", f->root.mount, D1_REL);
	assert_string_equal(t.dir, want);
	assert_int_equal(t.pid, getpid());
	assert_true(t.netns_fd >= 0);
	assert_string_equal(target_describe(&t, buf, sizeof(buf)), "container docker abc1234f152c");
	target_release(&t);

	/* A container with no process anywhere: pid 0, no namespaces. */
	assert_int_equal(resolve(f, "container:f64551", &t, &err), 0);
	assert_string_equal(t.rel, P1_REL);
	assert_int_equal(t.pid, 0);
	assert_int_equal(t.netns_fd, -1);
	target_release(&t);

	assert_int_equal(resolve(f, "container:abc123", &t, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_non_null(strstr(err.msg, "is ambiguous"));
	duress_err_clear(&err);
	assert_int_equal(resolve(f, "container:0000000", &t, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_non_null(strstr(err.msg, "no container with id prefix '0000000'"));
}

static void test_resolve_pid(void **state)
{
	struct fake *f = *state;
	struct target t;
	struct duress_err err = { 0 };
	char rel[PATH_MAX], text[64], want[BIG], buf[BIG];

	/* Our own process: put its real cgroup path into the fake tree. */
	if (cg_of_pid(getpid(), rel, sizeof(rel), &err) < 0) {
		print_message("skip: %s\n", err.msg);
		skip();
	}
	make_cgroup(f->root.mount, strcmp(rel, "/") ? rel : "", "");
	snprintf(text, sizeof(text), "pid:%d", (int)getpid());
	target_init(&t);
	assert_int_equal(resolve(f, text, &t, &err), 0);
	assert_int_equal(t.kind, TARGET_PID);
	assert_int_equal(t.pid, getpid());
	assert_string_equal(t.rel, rel);
	snprintf(want, sizeof(want), "%s%s", f->root.mount, strcmp(rel, "/") ? rel : "");
	assert_string_equal(t.dir, want);
	assert_true(t.netns_fd >= 0);
	assert_true(t.mntns_fd >= 0);
	snprintf(want, sizeof(want), "pid %d (cgroup %s)", (int)getpid(), rel);
	assert_string_equal(target_describe(&t, buf, sizeof(buf)), want);
	/* The process lives: refresh keeps it. */
	assert_int_equal(target_refresh_pid(&t, &err), 0);
	assert_int_equal(t.pid, getpid());
	assert_true(t.netns_fd >= 0);
	target_release(&t);
}

static void test_resolve_pid_errors(void **state)
{
	struct fake *f = *state;
	struct target t;
	struct duress_err err = { 0 };

	/* Above any pid_max, so never a process. */
	target_init(&t);
	assert_int_equal(resolve(f, "pid:2147483647", &t, &err), -1);
	assert_int_equal(err.code, DURESS_EXIT_NO_TARGET);
	assert_string_equal(err.msg, "target pid:2147483647: no process 2147483647");
	assert_int_equal(t.netns_fd, -1);
}

static void test_target_gone(void **state)
{
	struct fake *f = *state;
	struct target t;
	struct duress_err err = { 0 };
	char path[BIG];

	make_cgroup(f->root.mount, "/gone", "");
	target_init(&t);
	assert_int_equal(resolve(f, "cgroup:gone", &t, &err), 0);
	assert_int_equal(target_alive(&t), 1);
	snprintf(path, sizeof(path), "%s/gone/cgroup.procs", f->root.mount);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/gone", f->root.mount);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(target_alive(&t), 0);
	/* Refreshing a vanished target says so with ENOENT. */
	assert_int_equal(target_refresh_pid(&t, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	target_release(&t);

	target_init(&t);
	assert_int_equal(target_alive(&t), 0);
	assert_int_equal(t.netns_fd, -1);
	assert_int_equal(t.mntns_fd, -1);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_spec_parse_ok),
		cmocka_unit_test(test_spec_parse_errors),
		cmocka_unit_test(test_spec_parse_lists_forms),
		cmocka_unit_test(test_match_name),
		cmocka_unit_test(test_match_name_short_buffer),
		cmocka_unit_test(test_scan_no_mount),
	};
	const struct CMUnitTest tree[] = {
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_find_ambiguous),
		cmocka_unit_test(test_find_not_found),
		cmocka_unit_test(test_resolve_cgroup),
		cmocka_unit_test(test_resolve_cgroup_errors),
		cmocka_unit_test(test_resolve_container),
		cmocka_unit_test(test_resolve_pid_errors),
		cmocka_unit_test(test_target_gone),
	};
	const struct CMUnitTest empty[] = {
		cmocka_unit_test_setup_teardown(test_scan_empty, empty_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_find_none_at_all, empty_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_scan_depth_bound, empty_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_resolve_pid, empty_setup, fake_teardown),
	};
	int fails = 0;

	/* No OCI runtime state from the host in these tests (test_oci.c). */
	setenv("DURESS_OCI_ROOTS", "", 1);
	fails += cmocka_run_group_tests_name("target: pure", pure, NULL, NULL);
	fails += cmocka_run_group_tests_name("target: fake hierarchy", tree, tree_setup,
					     fake_teardown);
	fails += cmocka_run_group_tests_name("target: small trees", empty, NULL, NULL);
	return fails ? 1 : 0;
}
