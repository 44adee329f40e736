// SPDX-License-Identifier: MIT
/*
 * A JSONPath subset on jansson (jsonpath.h).  The path is read once, step by
 * step, each step mapping the set of selected values to the next set; a check
 * is the same walk over an empty set.  A filter runs its relative path on
 * each candidate.
 */
#include <duress/core/cleanup.h>
#include <duress/experiment/jsonpath.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct jp {
	const char *path; /* the whole text, for messages */
	const char *s;	  /* where we are */
	struct duress_err *err;
};

static int bad(struct jp *p, const char *why)
{
	return duress_err_set(p->err, 0, "jsonpath '%s': %s at offset %zu", p->path, why,
			      (size_t)(p->s - p->path));
}

static void ws(struct jp *p)
{
	while (isspace((unsigned char)*p->s))
		p->s++;
}

static void add(json_t *set, json_t *v)
{
	json_array_append(set, v);
}

static void descend(json_t *v, json_t *out)
{
	const char *k;
	json_t *x;
	size_t i;

	add(out, v);
	if (json_is_object(v))
		json_object_foreach(v, k, x)
			descend(x, out);
	else if (json_is_array(v))
		json_array_foreach(v, i, x)
			descend(x, out);
}

static void children(json_t *v, json_t *out)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v))
		json_object_foreach(v, k, x)
			add(out, x);
	else if (json_is_array(v))
		json_array_foreach(v, i, x)
			add(out, x);
}

/* A name after '.': letters, digits, '_', '-', '$' and non-ASCII. */
static int dot_name(struct jp *p, char *buf, size_t len)
{
	size_t n = 0;

	while (isalnum((unsigned char)*p->s) || *p->s == '_' || *p->s == '-' || *p->s == '$' ||
	       (unsigned char)*p->s >= 0x80) {
		if (n + 1 >= len)
			return bad(p, "name too long");
		buf[n++] = *p->s++;
	}
	buf[n] = '\0';
	return n ? 0 : bad(p, "expected a name or * after '.'");
}

/* 'text' or "text" with \ escapes of the quote and the backslash. */
static int quoted(struct jp *p, char *buf, size_t len)
{
	char q = *p->s++;
	size_t n = 0;

	while (*p->s && *p->s != q) {
		if (*p->s == '\\' && p->s[1])
			p->s++;
		if (n + 1 >= len)
			return bad(p, "string too long");
		buf[n++] = *p->s++;
	}
	if (*p->s != q)
		return bad(p, "unterminated string");
	p->s++;
	buf[n] = '\0';
	return 0;
}

static int number(struct jp *p, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(p->s, &end, 10);
	if (end == p->s || errno)
		return bad(p, "expected a number");
	p->s = end;
	return 0;
}

static int steps(struct jp *p, json_t **set);

/* A literal in a filter. */
static int literal(struct jp *p, json_t **v)
{
	char buf[256];

	if (*p->s == '\'' || *p->s == '"') {
		if (quoted(p, buf, sizeof(buf)) < 0)
			return -1;
		*v = json_string(buf);
		return 0;
	}
	for (size_t i = 0; i < 3; i++) {
		static const char *const words[] = { "true", "false", "null" };
		size_t n = strlen(words[i]);

		if (!strncmp(p->s, words[i], n) && !isalnum((unsigned char)p->s[n])) {
			p->s += n;
			*v = i == 2 ? json_null() : json_boolean(i == 0);
			return 0;
		}
	}
	{
		char *end;
		double d = strtod(p->s, &end);

		if (end == p->s)
			return bad(p, "expected a number, a quoted string, true, false or null");
		*v = d == (double)(json_int_t)d && !memchr(p->s, '.', (size_t)(end - p->s)) &&
				     !memchr(p->s, 'e', (size_t)(end - p->s))
			     ? json_integer((json_int_t)d)
			     : json_real(d);
		p->s = end;
	}
	return 0;
}

static bool compare(json_t *a, const char *op, json_t *b)
{
	int c;

	if (json_is_number(a) && json_is_number(b)) {
		double x = json_number_value(a), y = json_number_value(b);

		c = x < y ? -1 : x > y;
	} else if (json_is_string(a) && json_is_string(b)) {
		c = strcmp(json_string_value(a), json_string_value(b));
	} else {
		bool eq = json_equal(a, b);

		return !strcmp(op, "!=") ? !eq
					 : (eq && (!strcmp(op, "=") || !strcmp(op, "==") ||
						   !strcmp(op, "<=") || !strcmp(op, ">=")));
	}
	if (!strcmp(op, "=") || !strcmp(op, "=="))
		return c == 0;
	if (!strcmp(op, "!="))
		return c != 0;
	if (!strcmp(op, "<"))
		return c < 0;
	if (!strcmp(op, "<="))
		return c <= 0;
	if (!strcmp(op, ">"))
		return c > 0;
	return c >= 0;
}

/* [?(@... OP literal)] or [?(@...)], after "[?(": keeps the children of
 * each value of `set` for which it holds. */
static int filter(struct jp *p, json_t *set, json_t *out)
{
	const char *start, *after = NULL;
	static const char *const ops[] = { "==", "!=", "<=", ">=", "=", "<", ">" };
	const char *op = NULL;
	json_t *lit = NULL, *cands = json_array(), *v;
	size_t i;
	int rc = -1;

	ws(p);
	if (*p->s != '@') {
		bad(p, "a filter starts with @");
		goto out;
	}
	start = p->s;
	/* a check walk over nothing, to find where the relative path ends */
	{
		json_t *none = json_array();

		p->s++;
		rc = steps(p, &none);
		json_decref(none);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	after = p->s;
	ws(p);
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (!strncmp(p->s, ops[k], strlen(ops[k]))) {
			op = ops[k];
			p->s += strlen(op);
			break;
		}
	if (op) {
		ws(p);
		if (literal(p, &lit) < 0)
			goto out;
		ws(p);
	}
	if (strncmp(p->s, ")]", 2)) {
		bad(p, "expected ')]' to end the filter (and/or, functions are not supported)");
		goto out;
	}
	p->s += 2;
	json_array_foreach(set, i, v)
		children(v, cands);
	json_array_foreach(cands, i, v) {
		struct jp q = { .path = p->path, .s = start + 1, .err = p->err };
		json_t *sel = json_pack("[O]", v);
		bool keep = false;

		if (steps(&q, &sel) == 0 && q.s == after) {
			if (!op) {
				keep = json_array_size(sel) > 0;
			} else {
				size_t j;
				json_t *x;

				json_array_foreach(sel, j, x)
					keep |= compare(x, op, lit);
			}
		}
		json_decref(sel);
		if (keep)
			add(out, v);
	}
	rc = 0;
out:
	json_decref(lit);
	json_decref(cands);
	return rc;
}

static void index_of(json_t *v, long i, json_t *out)
{
	long n;

	if (!json_is_array(v))
		return;
	n = (long)json_array_size(v);
	if (i < 0)
		i += n;
	if (i >= 0 && i < n)
		add(out, json_array_get(v, (size_t)i));
}

static void slice(json_t *v, bool has_a, long a, bool has_b, long b, long step, json_t *out)
{
	long n;

	if (!json_is_array(v))
		return;
	n = (long)json_array_size(v);
	if (step > 0) {
		a = !has_a ? 0 : a < 0 ? (a + n < 0 ? 0 : a + n) : (a > n ? n : a);
		b = !has_b ? n : b < 0 ? (b + n < 0 ? 0 : b + n) : (b > n ? n : b);
		for (long i = a; i < b; i += step)
			add(out, json_array_get(v, (size_t)i));
	} else {
		a = !has_a ? n - 1 : a < 0 ? a + n : (a >= n ? n - 1 : a);
		b = !has_b ? -1 : b < 0 ? (b + n < 0 ? -1 : b + n) : b;
		for (long i = a; i > b && i >= 0; i += step)
			add(out, json_array_get(v, (size_t)i));
	}
}

/* Inside [ ]: after '['. */
static int bracket(struct jp *p, json_t *set, json_t *out)
{
	json_t *v;
	size_t i;

	ws(p);
	if (*p->s == '*') {
		p->s++;
		ws(p);
		if (*p->s != ']')
			return bad(p, "expected ']'");
		p->s++;
		json_array_foreach(set, i, v)
			children(v, out);
		return 0;
	}
	if (*p->s == '?') {
		p->s++;
		if (*p->s != '(')
			return bad(p, "expected '(' after '?'");
		p->s++;
		return filter(p, set, out);
	}
	for (;;) {
		char name[256];

		ws(p);
		if (*p->s == '\'' || *p->s == '"') {
			if (quoted(p, name, sizeof(name)) < 0)
				return -1;
			json_array_foreach(set, i, v)
				if (json_is_object(v) && json_object_get(v, name))
					add(out, json_object_get(v, name));
		} else {
			long a = 0, b = 0, step = 1;
			bool has_a = false, has_b = false;

			if (*p->s != ':') {
				if (number(p, &a) < 0)
					return -1;
				has_a = true;
			}
			ws(p);
			if (*p->s != ':') {
				json_array_foreach(set, i, v)
					index_of(v, a, out);
			} else {
				p->s++;
				ws(p);
				if (*p->s == '-' || isdigit((unsigned char)*p->s)) {
					if (number(p, &b) < 0)
						return -1;
					has_b = true;
				}
				ws(p);
				if (*p->s == ':') {
					p->s++;
					ws(p);
					if (*p->s != ']' && number(p, &step) < 0)
						return -1;
					if (!step)
						return bad(p, "a slice's step cannot be 0");
				}
				json_array_foreach(set, i, v)
					slice(v, has_a, a, has_b, b, step, out);
			}
		}
		ws(p);
		if (*p->s == ']') {
			p->s++;
			return 0;
		}
		if (*p->s != ',')
			return bad(p, "expected ',' or ']'");
		p->s++;
	}
}

/* Apply steps while the text goes on with '.' or '['. */
static int steps(struct jp *p, json_t **set)
{
	while (*p->s == '.' || *p->s == '[') {
		json_t *out = json_array(), *v, *from = *set;
		bool deep = false;
		size_t i;
		int rc = 0;

		if (p->s[0] == '.' && p->s[1] == '.') {
			deep = true;
			p->s += 2;
			from = json_array();
			json_array_foreach(*set, i, v)
				descend(v, from);
		} else if (*p->s == '.') {
			p->s++;
		}
		if (*p->s == '[') {
			p->s++;
			rc = bracket(p, from, out);
		} else if (*p->s == '*') {
			p->s++;
			json_array_foreach(from, i, v)
				children(v, out);
		} else {
			char name[256];

			rc = dot_name(p, name, sizeof(name));
			if (rc == 0)
				json_array_foreach(from, i, v)
					if (json_is_object(v) && json_object_get(v, name))
						add(out, json_object_get(v, name));
		}
		if (deep)
			json_decref(from);
		json_decref(*set);
		*set = out;
		if (rc < 0)
			return -1;
	}
	return 0;
}

int jsonpath_query(const char *path, json_t *doc, json_t **out, struct duress_err *err)
{
	struct jp p = { .path = path, .s = path, .err = err };
	json_t *set = doc ? json_pack("[O]", doc) : json_array();

	ws(&p);
	if (*p.s != '$') {
		json_decref(set);
		return bad(&p, "a path starts with $");
	}
	p.s++;
	if (steps(&p, &set) < 0) {
		json_decref(set);
		return -1;
	}
	ws(&p);
	if (*p.s) {
		json_decref(set);
		return bad(&p, "unexpected text (not in the supported subset)");
	}
	*out = set;
	return 0;
}

int jsonpath_check(const char *path, struct duress_err *err)
{
	json_t *out = NULL;
	int rc = jsonpath_query(path, NULL, &out, err);

	json_decref(out);
	return rc;
}
