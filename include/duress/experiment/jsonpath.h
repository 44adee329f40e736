/* SPDX-License-Identifier: MIT */
/*
 * A JSONPath subset on jansson (agent/experiment/jsonpath.c), for Chaos
 * Toolkit `jsonpath` tolerances (chaostoolkit-lib evaluates them with the
 * jsonpath2 package; Debian has no C JSONPath library).  Supported
 * (docs/manifests.md):
 *
 *   $            the document           @ (in a filter) the item tested
 *   .name        a member               ['name'] ["name"] the same, any text
 *   .* [*]       every member or item   ..name ..*  recursive descent
 *   [N] [-N]     an item                [a,b,...]   several names or indexes
 *   [start:end:step]  a slice
 *   [?(@.k OP v)] a filter: OP one of = == != < <= > >=; v a number, a
 *                'string' or "string", true, false, null; [?(@.k)] exists;
 *                the left side is any relative path (@, @.a.b, @['a'])
 *
 * Anything else (and/or in filters, functions, script expressions) is
 * refused when parsed, so a tolerance is never half-understood.
 */
#ifndef DURESS_JSONPATH_H
#define DURESS_JSONPATH_H

#include <jansson.h>

#include <duress/core/error.h>

/* Check that `path` is in the subset; the error names the position. */
int jsonpath_check(const char *path, struct duress_err *err);

/* Every value `path` selects in `doc`, in document order, as a new array. */
int jsonpath_query(const char *path, json_t *doc, json_t **out, struct duress_err *err);

#endif
