/* SPDX-License-Identifier: MIT */
/*
 * Rules: a value of a repeatable option (FOPT_LIST) that is itself a set of
 * the same fault's options, so that one invocation or manifest action can
 * carry several (the http fault's --rule, each with its own matchers and
 * percentage).  The text form, the same on the command line, in manifests
 * and through the API:
 *
 *     key=value,key=value,flag
 *
 * A value holding a comma, a quote or leading/trailing spaces is written
 * in double quotes, with \" and \\ inside: path="/a,b",abort=503.
 * Manifests may give a rule as a map instead ({abort: 503, path: /api/});
 * the loader writes it in this form (fault_rule_append).
 */
#ifndef DURESS_FAULT_RULE_H
#define DURESS_FAULT_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include <duress/core/error.h>
#include <duress/faults/fault.h>

#define FAULT_RULE_MAX_ITEMS 32

struct fault_rule_item {
	char *key;
	char *value; /* NULL for a bare flag */
};

/* Split text into items (malloc'd copies in *items, *n of them); usage
 * errors name `what` ("--rule 2"). */
int fault_rule_split(const char *text, const char *what, struct fault_rule_item **items, size_t *n,
		     struct duress_err *err);
void fault_rule_items_free(struct fault_rule_item *items, size_t n);

/*
 * Parse a rule into a fresh instance of desc (fault_init; the caller frees
 * it with fault_free, and keeps *items until then: values point into
 * them).  Keys must be options of desc and not in `excluded`
 * (NULL-terminated: options that only make sense once, like --port).
 */
int fault_rule_parse(const struct fault_desc *desc, const char *text, const char *what,
		     const char *const *excluded, struct fault *out, struct fault_rule_item **items,
		     size_t *nitems, struct duress_err *err);

/* Append "key=value" (value quoted when needed; NULL: a bare flag) to a
 * rule being built in buf (a comma first when buf is not empty).  -1 when
 * it does not fit. */
int fault_rule_append(char *buf, size_t len, const char *key, const char *value);

#endif
