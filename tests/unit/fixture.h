/* SPDX-License-Identifier: MIT */
/*
 * File helpers of the unit tests that build fake trees (cgroupfs, sysfs,
 * runtime state) in a temporary directory.  Include after <cmocka.h>: a
 * failed step fails the test.
 */
#ifndef DURESS_TEST_FIXTURE_H
#define DURESS_TEST_FIXTURE_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Write text to base/rel, making the directories of rel that are missing. */
static inline void fx_put(const char *base, const char *rel, const char *text)
{
	char path[2 * PATH_MAX];
	FILE *f;

	assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", base, rel) < sizeof(path));
	for (char *p = path + strlen(base) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static inline int fx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* rm -rf dir (what is left of a fixture, also after a failed test) */
static inline void fx_rm_tree(const char *dir)
{
	nftw(dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
