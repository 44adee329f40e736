/* SPDX-License-Identifier: MIT */
/*
 * Containers (agent/targets/container.c): recognise the cgroups container
 * runtimes create, walk the hierarchy for them, find one by a prefix of
 * its id; with the OCI runtimes' own (oci.h) in one list.
 */
#ifndef DURESS_CONTAINER_H
#define DURESS_CONTAINER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <duress/core/cgroup.h>
#include <duress/core/error.h>
#include <duress/targets/target.h>

struct container_info {
	char id[CONTAINER_ID_MAX + 1];
	const char *runtime;
	char rel[PATH_MAX];	  /* for OCI ones: the init's /proc/PID/cgroup path */
	pid_t pid;		  /* OCI: the init process, 0 for cgroup-named ones */
	unsigned long long start; /* OCI: its start time (clock ticks since boot) */
	char state[PATH_MAX];	  /* OCI: the state directory, "" otherwise */
};

/*
 * Pure: recognise a container cgroup by its directory name and parent:
 * docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 * libpod-<id>.scope, a bare <64 hex> below /docker/ or /kubepods..., or
 * libpod-<id>.scope/container; crio-conmon-... excluded.  Returns 1 and fills
 * id/runtime if it is one, else 0.
 */
int container_match_name(const char *rel, char *id, size_t idlen, const char **runtime);

/* Walk the hierarchy; *list is malloc'd. */
int container_scan(const struct cg_root *root, struct container_info **list, size_t *n,
		   struct duress_err *err);

/* Cgroup-named containers and the OCI runtimes' (not listed twice). */
int container_list_all(const struct cg_root *root, struct container_info **list, size_t *n,
		       struct duress_err *err);

/*
 * Find a container: an exact id (cgroup-named or OCI) first, else a unique
 * prefix (cgroup-named: >= 6 hex chars, any case; OCI: as given).  Not
 * found and ambiguous fail (code NO_TARGET), every match listed.
 */
int container_find(const struct cg_root *root, const char *prefix, struct container_info *out,
		   struct duress_err *err);

#endif
