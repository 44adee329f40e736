/* SPDX-License-Identifier: MIT */
/* Scope-bound resources via __attribute__((cleanup)). */
#ifndef DURESS_CLEANUP_H
#define DURESS_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void duress_freep(void *p)
{
	free(*(void **)p);
}

static inline void duress_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void duress_fclosep(FILE **f)
{
	if (*f) {
		int saved = errno;
		fclose(*f);
		errno = saved;
	}
}

static inline void duress_closedirp(DIR **d)
{
	if (*d) {
		int saved = errno;
		closedir(*d);
		errno = saved;
	}
}

#define cleanup_free __attribute__((cleanup(duress_freep)))
#define cleanup_close __attribute__((cleanup(duress_closep)))
#define cleanup_fclose __attribute__((cleanup(duress_fclosep)))
#define cleanup_dir __attribute__((cleanup(duress_closedirp)))

/* Hand a resource out of a scope: `*out = steal_pointer(&p);`. */
static inline void *duress_steal_pointer(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) duress_steal_pointer(pp)

static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define DURESS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
