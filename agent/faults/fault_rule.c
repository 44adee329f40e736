// SPDX-License-Identifier: MIT
/* Rules as option values; see include/duress/faults/fault_rule.h. */
#include <duress/core/exitcode.h>
#include <duress/faults/fault_rule.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fault_rule_items_free(struct fault_rule_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++) {
		free(items[i].key);
		free(items[i].value);
	}
	free(items);
}

static int usage(struct duress_err *err, const char *what, const char *text, const char *why)
{
	return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: '%s': %s", what, text, why);
}

int fault_rule_split(const char *text, const char *what, struct fault_rule_item **items, size_t *n,
		     struct duress_err *err)
{
	size_t len = strlen(text), cap = FAULT_RULE_MAX_ITEMS;
	struct fault_rule_item *v = calloc(cap, sizeof(*v));
	const char *p = text;

	*items = NULL;
	*n = 0;
	if (!v)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", what);
	while (isspace((unsigned char)*p))
		p++;
	if (!*p) {
		free(v);
		return usage(err, what, text, "empty rule");
	}
	while (*p) {
		const char *k = p, *ke;
		char *val = NULL;

		while (*p && *p != '=' && *p != ',')
			p++;
		ke = p;
		while (ke > k && isspace((unsigned char)ke[-1]))
			ke--;
		if (ke == k) {
			fault_rule_items_free(v, *n);
			return usage(err, what, text, "an item without a name (key=value,...)");
		}
		if (*n == cap) {
			fault_rule_items_free(v, *n);
			return usage(err, what, text, "too many items");
		}
		if (*p == '=') {
			size_t o = 0;

			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			val = malloc(len + 1);
			if (!val) {
				fault_rule_items_free(v, *n);
				return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s",
						       what);
			}
			if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					val[o++] = *p;
				}
				if (*p != '"') {
					free(val);
					fault_rule_items_free(v, *n);
					return usage(err, what, text, "a quote is not closed");
				}
				p++;
				while (*p == ' ' || *p == '\t')
					p++;
				if (*p && *p != ',') {
					free(val);
					fault_rule_items_free(v, *n);
					return usage(
						err, what, text,
						"text after a quoted value (a comma separates items)");
				}
			} else {
				while (*p && *p != ',')
					val[o++] = *p++;
				while (o && isspace((unsigned char)val[o - 1]))
					o--;
			}
			val[o] = '\0';
		}
		v[*n].key = strndup(k, (size_t)(ke - k));
		v[*n].value = val;
		(*n)++;
		if (!v[*n - 1].key) {
			fault_rule_items_free(v, *n);
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "%s", what);
		}
		if (*p == ',')
			p++;
		while (isspace((unsigned char)*p))
			p++;
	}
	*items = v;
	return 0;
}

int fault_rule_parse(const struct fault_desc *desc, const char *text, const char *what,
		     const char *const *excluded, struct fault *out, struct fault_rule_item **items,
		     size_t *nitems, struct duress_err *err)
{
	if (fault_rule_split(text, what, items, nitems, err) < 0)
		return -1;
	if (fault_init(out, desc, err) < 0) {
		fault_rule_items_free(*items, *nitems);
		*items = NULL;
		return -1;
	}
	for (size_t i = 0; i < *nitems; i++) {
		const struct fault_rule_item *it = &(*items)[i];
		int idx = fault_opt_index(desc, it->key);
		char w[160];

		for (size_t k = 0; idx >= 0 && excluded && excluded[k]; k++)
			if (!strcmp(excluded[k], it->key))
				idx = -2;
		if (idx == -2) {
			duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					"%s: %s: given once for the whole fault, not in a rule",
					what, it->key);
			goto fail;
		}
		if (idx < 0) {
			duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					"%s: %s: not an option of the %s fault", what, it->key,
					desc->name);
			goto fail;
		}
		snprintf(w, sizeof(w), "%s: %s", what, it->key);
		if (desc->opts[idx].type == FOPT_FLAG && it->value && strcmp(it->value, "true")) {
			if (!strcmp(it->value, "false"))
				continue;
			duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					"%s: a flag (true, false or bare)", w);
			goto fail;
		}
		if (out->vals[idx].set && desc->opts[idx].type != FOPT_LIST) {
			duress_err_setc(err, DURESS_EXIT_USAGE, 0, "%s: given twice", w);
			goto fail;
		}
		if (fault_opt_set(out, idx, desc->opts[idx].type == FOPT_FLAG ? NULL : it->value, w,
				  err) < 0)
			goto fail;
	}
	return 0;
fail:
	fault_free(out);
	fault_rule_items_free(*items, *nitems);
	*items = NULL;
	*nitems = 0;
	return -1;
}

int fault_rule_append(char *buf, size_t len, const char *key, const char *value)
{
	size_t o = strlen(buf), vl = value ? strlen(value) : 0, need;
	bool quote = false;

	if (value)
		quote = !vl || strpbrk(value, ",\"\\") || isspace((unsigned char)value[0]) ||
			isspace((unsigned char)value[vl - 1]);
	/* what it takes, escapes counted, before writing anything */
	need = (o ? 1 : 0) + strlen(key) + (value ? 1 + vl + (quote ? 2 : 0) : 0);
	for (size_t i = 0; quote && i < vl; i++)
		need += value[i] == '"' || value[i] == '\\';
	if (o + need + 1 > len)
		return -1;
	if (o)
		buf[o++] = ',';
	for (const char *k = key; *k; k++)
		buf[o++] = *k;
	if (value) {
		buf[o++] = '=';
		if (quote)
			buf[o++] = '"';
		for (const char *v = value; *v; v++) {
			if (quote && (*v == '"' || *v == '\\'))
				buf[o++] = '\\';
			buf[o++] = *v;
		}
		if (quote)
			buf[o++] = '"';
	}
	buf[o] = '\0';
	return 0;
}
