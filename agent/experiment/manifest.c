// SPDX-License-Identifier: MIT
/*
 * Manifest loader: YAML (libyaml events) or JSON into a tree of nodes that
 * know their line and column, diagnostics, and ${name} substitution.
 */
#include <duress/core/cleanup.h>
#include <duress/experiment/manifest.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deeper nesting than any experiment needs; bounds the recursion. */
#define MF_MAX_DEPTH 64
/* values in one document: a 1 MiB body of tiny keys is ~200,000 */
#define MF_MAX_NODES 100000

/* ---- diagnostics ---- */

void mf_diags_init(struct mf_diags *d, const char *file)
{
	memset(d, 0, sizeof(*d));
	d->file = file;
}

void mf_diags_free(struct mf_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].msg);
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
	for (size_t i = 0; i < d->nsecrets; i++) {
		free(d->secrets[i].value);
		free(d->secrets[i].written);
	}
	free(d->secrets);
	d->secrets = NULL;
	d->nsecrets = 0;
}

/* Every value read from the environment in msg replaced by what was
 * written (${name}): a diagnostic quotes the manifest, never a secret.  A
 * value of fewer than 4 characters is replaced only where it is quoted
 * ('5'), not inside other words and numbers. */
static char *redact(const struct mf_diags *d, char *msg)
{
	for (size_t i = 0; i < d->nsecrets; i++) {
		const struct mf_secret *s = &d->secrets[i];
		size_t vl = strlen(s->value);
		char *out = NULL, *p;
		size_t len = 0;
		FILE *m;

		if (!vl)
			continue;
		m = open_memstream(&out, &len);
		if (!m) {
			free(msg);
			return NULL;
		}
		for (p = msg; *p;) {
			bool hit = !strncmp(p, s->value, vl);

			if (hit && vl < 4)
				hit = p > msg && p[-1] == '\'' && p[vl] == '\'';
			if (hit) {
				fputs(s->written, m);
				p += vl;
			} else {
				fputc(*p++, m);
			}
		}
		if (fclose(m) != 0) {
			free(out);
			free(msg);
			return NULL;
		}
		free(msg);
		msg = out;
	}
	return msg;
}

void mf_diag_add(struct mf_diags *d, struct mf_pos pos, bool unsupported, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct mf_diag *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return;
		d->v = v;
		d->cap = cap;
	}
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	msg = redact(d, msg);
	if (!msg)
		return;
	d->v[d->n].pos = pos;
	d->v[d->n].msg = msg;
	d->v[d->n].unsupported = unsupported;
	d->n++;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct mf_diag *x = a, *y = b;

	if (x->pos.line != y->pos.line)
		return x->pos.line < y->pos.line ? -1 : 1;
	if (x->pos.col != y->pos.col)
		return x->pos.col < y->pos.col ? -1 : 1;
	return 0;
}

void mf_diags_print(struct mf_diags *d, FILE *out)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].pos.line)
			fprintf(out, "%s:%u:%u: %s\n", d->file, d->v[i].pos.line, d->v[i].pos.col,
				d->v[i].msg);
		else
			fprintf(out, "%s: %s\n", d->file, d->v[i].msg);
	}
}

bool mf_diags_only_unsupported(const struct mf_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (!d->v[i].unsupported)
			return false;
	return d->n > 0;
}

/* ---- the tree ---- */

void mf_node_free(struct mf_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		mf_node_free(n->kids[i]);
		if (n->keys)
			free(n->keys[i]);
	}
	free(n->kids);
	free(n->keys);
	free(n->kpos);
	free(n->text);
	free(n->raw);
	free(n);
}

int mf_find(const struct mf_node *map, const char *key)
{
	if (!map || map->type != MF_MAP)
		return -1;
	for (size_t i = 0; i < map->n; i++)
		if (!strcmp(map->keys[i], key))
			return (int)i;
	return -1;
}

struct mf_node *mf_get(const struct mf_node *map, const char *key)
{
	int i = mf_find(map, key);

	return i < 0 ? NULL : map->kids[i];
}

bool mf_is_null(const struct mf_node *n)
{
	return n && n->type == MF_SCALAR && n->plain &&
	       (!n->text[0] || !strcmp(n->text, "~") || !strcmp(n->text, "null") ||
		!strcmp(n->text, "Null") || !strcmp(n->text, "NULL"));
}

static int plain_bool(const struct mf_node *n)
{
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };

	if (!n || n->type != MF_SCALAR || !n->plain)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (!strcmp(n->text, t[i]))
			return 1;
		if (!strcmp(n->text, f[i]))
			return 0;
	}
	return -1;
}

/* 1 integer, 2 real, 0 not a number */
static int plain_number(const struct mf_node *n, long long *iv, double *dv)
{
	char *end;

	if (!n || n->type != MF_SCALAR || !n->plain || !n->text[0])
		return 0;
	errno = 0;
	*iv = strtoll(n->text, &end, 10);
	if (!*end && !errno)
		return 1;
	errno = 0;
	*dv = strtod(n->text, &end);
	if (!*end && !errno && strpbrk(n->text, "0123456789") && !strpbrk(n->text, "xXnN"))
		return 2;
	return 0;
}

const char *mf_type_name(const struct mf_node *n)
{
	long long iv;
	double dv;
	int b;

	if (!n)
		return "nothing";
	if (n->type == MF_SEQ)
		return "a list";
	if (n->type == MF_MAP)
		return "a map";
	if (mf_is_null(n))
		return "null";
	b = plain_bool(n);
	if (b >= 0)
		return b ? "true" : "false";
	if (plain_number(n, &iv, &dv))
		return "a number";
	return "a string";
}

static json_t *to_json(const struct mf_node *n, bool raw)
{
	json_t *j;
	long long iv;
	double dv;
	int b, k;

	if (!n)
		return json_null();
	switch (n->type) {
	case MF_SEQ:
		j = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(j, to_json(n->kids[i], raw));
		return j;
	case MF_MAP:
		j = json_object();
		for (size_t i = 0; i < n->n; i++)
			json_object_set_new(j, n->keys[i], to_json(n->kids[i], raw));
		return j;
	case MF_SCALAR:
		break;
	}
	if (raw && n->raw) {
		struct mf_node w = *n;

		w.text = n->raw;
		w.plain = n->raw_plain;
		w.raw = NULL;
		return to_json(&w, false);
	}
	if (mf_is_null(n))
		return json_null();
	b = plain_bool(n);
	if (b >= 0)
		return json_boolean(b);
	k = plain_number(n, &iv, &dv);
	if (k == 1)
		return json_integer(iv);
	if (k == 2)
		return json_real(dv);
	return json_string(n->text);
}

json_t *mf_to_json(const struct mf_node *n)
{
	return to_json(n, false);
}

json_t *mf_to_json_raw(const struct mf_node *n)
{
	return to_json(n, true);
}

/* ---- parsing (libyaml events) ---- */

static struct mf_pos mark_pos(const yaml_mark_t *m)
{
	struct mf_pos p = { .line = (unsigned)m->line + 1, .col = (unsigned)m->column + 1 };

	return p;
}

static struct mf_node *node_new(enum mf_type type, const yaml_mark_t *m)
{
	struct mf_node *n = calloc(1, sizeof(*n));

	if (n) {
		n->type = type;
		n->pos = mark_pos(m);
	}
	return n;
}

static int parse_error(yaml_parser_t *p, struct mf_diags *d)
{
	struct mf_pos pos = mark_pos(&p->problem_mark);

	if (p->context)
		mf_diag_add(d, pos, false, "syntax: %s %s (from line %zu)", p->problem, p->context,
			    p->context_mark.line + 1);
	else
		mf_diag_add(d, pos, false, "syntax: %s",
			    p->problem ? p->problem : "malformed YAML");
	return -1;
}

static int next_event(yaml_parser_t *p, yaml_event_t *ev, struct mf_diags *d)
{
	if (!yaml_parser_parse(p, ev))
		return parse_error(p, d);
	return 0;
}

/* Append a child (and its key); room grows geometrically, so a list or
 * map of N entries costs O(N). */
static int push_kid(struct mf_node *n, struct mf_node *kid, char *key, struct mf_pos kpos)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 4;
		struct mf_node **kids = realloc(n->kids, cap * sizeof(*kids));

		if (!kids)
			return -1;
		n->kids = kids;
		if (n->type == MF_MAP) {
			char **keys = realloc(n->keys, cap * sizeof(*keys));
			struct mf_pos *kp;

			if (!keys)
				return -1;
			n->keys = keys;
			kp = realloc(n->kpos, cap * sizeof(*kp));
			if (!kp)
				return -1;
			n->kpos = kp;
		}
		n->cap = cap;
	}
	if (n->type == MF_MAP) {
		n->keys[n->n] = key;
		n->kpos[n->n] = kpos;
	}
	n->kids[n->n++] = kid;
	return 0;
}

static int parse_node(yaml_parser_t *p, yaml_event_t *ev, struct mf_node **out, struct mf_diags *d,
		      int depth, size_t *nodes);

/* The keys of one map while it is parsed: an open-addressing set of
 * indices into n->keys, so that duplicates are found in linear time. */
struct keyset {
	size_t *slot; /* index + 1; 0: empty */
	size_t cap;
};

static uint64_t key_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The index of key among n's keys, or -1; adds nothing. */
static int keyset_find(const struct keyset *ks, const struct mf_node *n, const char *key)
{
	if (!ks->cap)
		return -1;
	for (size_t i = key_hash(key) & (ks->cap - 1);; i = (i + 1) & (ks->cap - 1)) {
		if (!ks->slot[i])
			return -1;
		if (!strcmp(n->keys[ks->slot[i] - 1], key))
			return (int)(ks->slot[i] - 1);
	}
}

/* Index n->keys[idx]; the table grows at half full.  -1 out of memory. */
static int keyset_add(struct keyset *ks, const struct mf_node *n, size_t idx)
{
	if ((idx + 1) * 2 > ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 16;
		size_t *slot = calloc(cap, sizeof(*slot));

		if (!slot)
			return -1;
		free(ks->slot);
		ks->slot = slot;
		ks->cap = cap;
		for (size_t k = 0; k < idx; k++) {
			size_t i = key_hash(n->keys[k]) & (cap - 1);

			while (slot[i])
				i = (i + 1) & (cap - 1);
			slot[i] = k + 1;
		}
	}
	for (size_t i = key_hash(n->keys[idx]) & (ks->cap - 1);; i = (i + 1) & (ks->cap - 1))
		if (!ks->slot[i]) {
			ks->slot[i] = idx + 1;
			return 0;
		}
}

static int children(yaml_parser_t *p, struct mf_node *n, struct mf_diags *d, int depth,
		    size_t *nodes, struct keyset *ks);

/* Parse the content of a sequence or mapping until its end event. */
static int parse_children(yaml_parser_t *p, struct mf_node *n, struct mf_diags *d, int depth,
			  size_t *nodes)
{
	struct keyset ks = { 0 };
	int rc = children(p, n, d, depth, nodes, &ks);

	free(ks.slot);
	return rc;
}

static int children(yaml_parser_t *p, struct mf_node *n, struct mf_diags *d, int depth,
		    size_t *nodes, struct keyset *ks)
{
	for (;;) {
		yaml_event_t ev;
		struct mf_node *kid = NULL;
		char *key = NULL;
		struct mf_pos kpos = { 0, 0 };
		int dup;

		if (next_event(p, &ev, d) < 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (n->type == MF_MAP) {
			kpos = mark_pos(&ev.start_mark);
			if (ev.type != YAML_SCALAR_EVENT) {
				mf_diag_add(d, kpos, false,
					    "syntax: a key must be plain text, not %s",
					    ev.type == YAML_ALIAS_EVENT ? "an alias"
									: "a list or a map");
				yaml_event_delete(&ev);
				return -1;
			}
			key = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
			yaml_event_delete(&ev);
			if (!key)
				return -1;
			if (next_event(p, &ev, d) < 0) {
				free(key);
				return -1;
			}
		}
		if (parse_node(p, &ev, &kid, d, depth + 1, nodes) < 0) {
			free(key);
			return -1;
		}
		dup = key ? keyset_find(ks, n, key) : -1;
		if (dup >= 0) {
			mf_diag_add(d, kpos, false, "%s: given twice (first at line %u, column %u)",
				    key, n->kpos[dup].line, n->kpos[dup].col);
			free(key);
			mf_node_free(kid);
			continue;
		}
		if (push_kid(n, kid, key, kpos) < 0 || (key && keyset_add(ks, n, n->n - 1) < 0)) {
			if (n->n && n->kids[n->n - 1] == kid)
				n->n--; /* pushed, not indexed: it goes with the error */
			free(key);
			mf_node_free(kid);
			mf_diag_add(d, kpos, false, "out of memory");
			return -1;
		}
	}
}

/* ev is the node's first event; it is consumed (deleted) here. */
static int parse_node(yaml_parser_t *p, yaml_event_t *ev, struct mf_node **out, struct mf_diags *d,
		      int depth, size_t *nodes)
{
	struct mf_node *n = NULL;
	int r = 0;

	if (++*nodes > MF_MAX_NODES) {
		mf_diag_add(d, mark_pos(&ev->start_mark), false,
			    "syntax: more than %d values in one document", MF_MAX_NODES);
		yaml_event_delete(ev);
		return -1;
	}
	if (depth > MF_MAX_DEPTH) {
		mf_diag_add(d, mark_pos(&ev->start_mark), false,
			    "syntax: nested more than %d levels deep", MF_MAX_DEPTH);
		yaml_event_delete(ev);
		return -1;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = node_new(MF_SCALAR, &ev->start_mark);
		if (!n)
			break;
		n->text = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
		if (!n->text) {
			mf_node_free(n);
			n = NULL;
		}
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if ((ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor) ||
		    (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor)) {
			mf_diag_add(d, mark_pos(&ev->start_mark), false,
				    "syntax: anchors and aliases are not supported");
			r = -1;
			break;
		}
		n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? MF_SEQ : MF_MAP,
			     &ev->start_mark);
		if (n && parse_children(p, n, d, depth, nodes) < 0) {
			mf_node_free(n);
			yaml_event_delete(ev);
			return -1;
		}
		break;
	case YAML_ALIAS_EVENT:
		mf_diag_add(d, mark_pos(&ev->start_mark), false,
			    "syntax: anchors and aliases are not supported");
		r = -1;
		break;
	default:
		mf_diag_add(d, mark_pos(&ev->start_mark), false, "syntax: unexpected YAML event");
		r = -1;
		break;
	}
	if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.anchor) {
		mf_diag_add(d, mark_pos(&ev->start_mark), false,
			    "syntax: anchors and aliases are not supported");
		mf_node_free(n);
		n = NULL;
		r = -1;
	}
	yaml_event_delete(ev);
	if (r < 0)
		return -1;
	if (!n) {
		mf_diag_add(d, (struct mf_pos){ 0, 0 }, false, "out of memory");
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_yaml(const char *text, size_t len, struct mf_node **root, struct mf_diags *d)
{
	size_t nodes = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	struct mf_node *n = NULL;
	int r = -1;

	if (!yaml_parser_initialize(&p)) {
		mf_diag_add(d, (struct mf_pos){ 0, 0 }, false, "cannot initialise libyaml");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	/* stream start, then a document start (or the stream's end: empty) */
	if (next_event(&p, &ev, d) < 0)
		goto out;
	yaml_event_delete(&ev);
	if (next_event(&p, &ev, d) < 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		mf_diag_add(d, (struct mf_pos){ 1, 1 }, false, "the file is empty");
		goto out;
	}
	yaml_event_delete(&ev);
	if (next_event(&p, &ev, d) < 0 || parse_node(&p, &ev, &n, d, 0, &nodes) < 0)
		goto out;
	if (next_event(&p, &ev, d) < 0) /* document end */
		goto out;
	yaml_event_delete(&ev);
	if (next_event(&p, &ev, d) < 0)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		mf_diag_add(d, mark_pos(&ev.start_mark), false,
			    "syntax: a second document: an experiment is one document");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	*root = n;
	n = NULL;
	r = 0;
out:
	mf_node_free(n);
	yaml_parser_delete(&p);
	return r;
}

int mf_parse(const char *text, size_t len, bool json, struct mf_node **root, struct mf_diags *d)
{
	size_t before = d->n;

	if (json) {
		json_error_t je;
		json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);

		if (!j) {
			mf_diag_add(d,
				    (struct mf_pos){ (unsigned)(je.line > 0 ? je.line : 1),
						     (unsigned)(je.column > 0 ? je.column : 1) },
				    false, "syntax: %s", je.text);
			return -1;
		}
		json_decref(j);
	}
	if (parse_yaml(text, len, root, d) < 0)
		return -1;
	if (d->n > before) { /* duplicate keys */
		mf_node_free(*root);
		*root = NULL;
		return -1;
	}
	return 0;
}

/* ---- ${name} substitution ---- */

/* The value of configuration entry `name`: NULL (diagnostic added) if none. */
static void remember_secret(struct mf_diags *d, const char *value, const char *name)
{
	struct mf_secret *v = realloc(d->secrets, (d->nsecrets + 1) * sizeof(*v));
	char *w = NULL;

	if (!v)
		return;
	d->secrets = v;
	if (asprintf(&w, "${%s}", name) < 0)
		return;
	v[d->nsecrets].value = strdup(value);
	v[d->nsecrets].written = w;
	if (!v[d->nsecrets].value) {
		free(w);
		return;
	}
	d->nsecrets++;
}

/* Where ${name} values come from: the configuration, then (Chaos Toolkit)
 * every scope of `secrets`. */
struct subst {
	const struct mf_node *config, *secrets;
	bool no_env;
	bool ctk; /* an unknown name stays as written (string.Template.safe_substitute) */
	struct mf_diags *d;
};

/* A {type: env, key: VAR[, default: X]} entry; `what` is "configuration"
 * or "secrets.SCOPE". */
static const char *env_value(const struct subst *c, const struct mf_node *v, const char *name,
			     const char *what, const struct mf_node *at, bool *plain)
{
	struct mf_node *type = mf_get(v, "type"), *key = mf_get(v, "key"),
		       *def = mf_get(v, "default");
	const char *env;

	if (v->type != MF_MAP || !type || type->type != MF_SCALAR || strcmp(type->text, "env") ||
	    !key || key->type != MF_SCALAR) {
		if (type && type->type == MF_SCALAR && !strcmp(type->text, "vault"))
			mf_diag_add(c->d, at->pos, true,
				    "${%s}: %s.%s is a vault secret: not "
				    "supported (inline and env ones are)",
				    name, what, name);
		else
			mf_diag_add(c->d, at->pos, false,
				    "${%s}: %s value must be a scalar or {type: env, key: "
				    "VARIABLE, default: VALUE}",
				    name, what);
		return NULL;
	}
	if (c->no_env) {
		mf_diag_add(c->d, at->pos, false,
			    "${%s}: %s.%s is {type: env}: it reads the agent's environment, "
			    "refused here (the server runs without --allow-commands)",
			    name, what, name);
		return NULL;
	}
	env = getenv(key->text);
	*plain = true; /* untyped text from the environment */
	if (env) {
		remember_secret(c->d, env, name);
		return env;
	}
	if (def && def->type == MF_SCALAR) {
		*plain = def->plain;
		return def->text;
	}
	mf_diag_add(c->d, at->pos, false,
		    "${%s}: environment variable %s is not set and has no default", name,
		    key->text);
	return NULL;
}

/* The value of `name`: NULL if none (a diagnostic added, or for Chaos
 * Toolkit *unknown set: the text stays as written). */
static const char *config_value(const struct subst *c, const char *name, const struct mf_node *at,
				bool *plain, bool *unknown)
{
	struct mf_node *v = mf_get(c->config, name);

	*unknown = false;
	for (size_t i = 0; !v && c->secrets && c->secrets->type == MF_MAP && i < c->secrets->n;
	     i++) {
		struct mf_node *scope = c->secrets->kids[i];
		char what[160];

		if (scope->type != MF_MAP || !(v = mf_get(scope, name)))
			continue;
		if (v->type == MF_SCALAR) {
			*plain = v->plain;
			if (!mf_is_null(v))
				remember_secret(c->d, v->text, name);
			return v->text;
		}
		snprintf(what, sizeof(what), "secrets.%s", c->secrets->keys[i]);
		return env_value(c, v, name, what, at, plain);
	}
	if (!v) {
		*unknown = c->ctk;
		if (!c->ctk)
			mf_diag_add(c->d, at->pos, false, "${%s}: no such key in configuration",
				    name);
		return NULL;
	}
	if (v->type == MF_SCALAR) {
		*plain = v->plain;
		return v->text;
	}
	return env_value(c, v, name, "configuration", at, plain);
}

static void substitute_scalar(struct mf_node *n, const struct subst *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m;
	const char *s = n->text;
	bool whole = false, plain = n->plain, failed = false;
	int subs = 0;

	if (!strstr(s, "${"))
		return;
	m = open_memstream(&out, &len);
	if (!m)
		return;
	while (*s) {
		const char *end;
		char name[128];
		const char *val;
		bool unknown;

		if (s[0] != '$' || s[1] != '{' || !(end = strchr(s + 2, '}')) ||
		    (size_t)(end - s - 2) >= sizeof(name)) {
			fputc(*s++, m);
			continue;
		}
		memcpy(name, s + 2, end - s - 2);
		name[end - s - 2] = '\0';
		val = config_value(c, name, n, &plain, &unknown);
		if (unknown) {
			fwrite(s, 1, (size_t)(end + 1 - s), m);
			s = end + 1;
			continue;
		}
		whole = s == n->text && !end[1];
		failed |= !val;
		fputs(val ? val : "", m);
		subs++;
		s = end + 1;
	}
	if (fclose(m) != 0) {
		free(out);
		return;
	}
	/* none made, or one failed (its diagnostic said why): the text stays as
	 * written, so that no second message follows from an empty value */
	if (!subs || failed) {
		free(out);
		return;
	}
	if (!n->raw) {
		n->raw = n->text;
		n->raw_plain = n->plain;
	} else {
		free(n->text);
	}
	n->text = out;
	/* a value that is the whole scalar keeps its type (number, boolean) */
	n->plain = subs == 1 && whole ? plain : false;
}

static void substitute(struct mf_node *n, const struct subst *c, bool top)
{
	if (n->type == MF_SCALAR) {
		substitute_scalar(n, c);
		return;
	}
	for (size_t i = 0; i < n->n; i++) {
		if (top && n->keys && !strcmp(n->keys[i], "configuration"))
			continue;
		substitute(n->kids[i], c, false);
	}
}

static void substitute_key(struct mf_node *map, const char *key, const struct subst *c)
{
	struct mf_node *n = mf_get(map, key);

	if (n)
		substitute(n, c, false);
}

/*
 * A Chaos Toolkit activity: only where chaostoolkit-lib calls substitute():
 * http url, headers, timeout and arguments; process arguments (not its
 * path); pauses; a string tolerance and a tolerance's pattern, path and
 * expect; a probe tolerance as an activity.  Our duress provider: all of it.
 */
static void substitute_activity(struct mf_node *a, const struct subst *c)
{
	struct mf_node *prov, *type, *tol;

	if (!a || a->type != MF_MAP)
		return;
	prov = mf_get(a, "provider");
	type = prov ? mf_get(prov, "type") : NULL;
	if (type && type->type == MF_SCALAR) {
		if (!strcmp(type->text, "http")) {
			static const char *const keys[] = { "url", "headers", "timeout",
							    "arguments" };

			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				substitute_key(prov, keys[i], c);
		} else if (!strcmp(type->text, "process")) {
			substitute_key(prov, "arguments", c);
		} else if (!strcmp(type->text, "duress")) {
			substitute(prov, c, false);
		}
	}
	substitute_key(a, "pauses", c);
	tol = mf_get(a, "tolerance");
	if (tol && tol->type == MF_SCALAR) {
		substitute_scalar(tol, c);
	} else if (tol && tol->type == MF_MAP) {
		struct mf_node *tt = mf_get(tol, "type");

		substitute_key(tol, "pattern", c);
		substitute_key(tol, "path", c);
		substitute_key(tol, "expect", c);
		if (tt && tt->type == MF_SCALAR && !strcmp(tt->text, "probe"))
			substitute_activity(tol, c);
	}
}

static void substitute_list(struct mf_node *l, const struct subst *c)
{
	for (size_t i = 0; l && l->type == MF_SEQ && i < l->n; i++)
		substitute_activity(l->kids[i], c);
}

void mf_substitute_ctk(struct mf_node *root, const struct mf_node *config,
		       const struct mf_node *secrets, bool no_env, struct mf_diags *d)
{
	struct subst c = {
		.config = config, .secrets = secrets, .no_env = no_env, .ctk = true, .d = d
	};
	struct mf_node *h = mf_get(root, "steady-state-hypothesis"), *ext;

	if (h && h->type == MF_MAP)
		substitute_list(mf_get(h, "probes"), &c);
	substitute_list(mf_get(root, "method"), &c);
	substitute_list(mf_get(root, "rollbacks"), &c);
	ext = mf_get(root, "extensions");
	for (size_t i = 0; ext && ext->type == MF_SEQ && i < ext->n; i++) {
		struct mf_node *e = ext->kids[i], *en = mf_get(e, "name");

		if (en && en->type == MF_SCALAR && !strcmp(en->text, "duress"))
			substitute(e, &c, false);
	}
	/* every secret is loaded when the run starts (load_secrets): a
	 * missing variable is an error even if no activity names it */
	for (size_t i = 0; secrets && secrets->type == MF_MAP && i < secrets->n; i++) {
		struct mf_node *scope = secrets->kids[i];
		char what[160];

		snprintf(what, sizeof(what), "secrets.%s", secrets->keys[i]);
		if (scope->type != MF_MAP) {
			mf_diag_add(d, scope->pos, false, "%s: expected a map of names to values",
				    what);
			continue;
		}
		for (size_t k = 0; k < scope->n; k++) {
			bool plain;

			if (scope->kids[k]->type == MF_MAP)
				env_value(&c, scope->kids[k], scope->keys[k], what, scope->kids[k],
					  &plain);
		}
	}
}

void mf_substitute(struct mf_node *root, const struct mf_node *config, bool no_env,
		   struct mf_diags *d)
{
	struct subst c = { .config = config, .no_env = no_env, .d = d };

	substitute(root, &c, true);
}
