/* SPDX-License-Identifier: MIT */
/*
 * Containers of an OCI runtime, runc and crun (agent/targets/oci.c), found
 * through the runtime's state directories: the init process's pid and start
 * time (the cgroup is read from /proc/PID/cgroup).
 */
#ifndef DURESS_OCI_H
#define DURESS_OCI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <duress/core/error.h>
#include <duress/targets/container.h>

enum oci_format {
	OCI_FORMAT_RUNC, /* <id>/state.json: init_process_pid, init_process_start */
	OCI_FORMAT_CRUN, /* <id>/status: pid, process-start-time */
};

/* Pure: a character an OCI container id may hold ([A-Za-z0-9_.+-]). */
bool oci_id_char_ok(char c);

/* Pure: the init pid and start time from a state file's text. */
int oci_parse_state(const char *text, enum oci_format fmt, pid_t *pid, unsigned long long *start,
		    struct duress_err *err);

/* The state roots: $DURESS_OCI_ROOTS (':'-separated) or the defaults. */
size_t oci_roots(char roots[][PATH_MAX], size_t max);

/* Containers whose init process runs (start time checked); *list malloc'd,
 * sorted by id. */
int oci_scan(struct container_info **list, size_t *n, struct duress_err *err);

#endif
