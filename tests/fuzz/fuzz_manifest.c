// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the experiment-manifest loader (issue 5): the same
 * load and validation as `duress validate` (manifest_load_text), on the
 * input as YAML and as JSON, then everything freed.  No file, no network;
 * nothing is ever run.  `make fuzz` builds and runs it (docs/testing.md).
 *
 * Invariants, beyond ASan/UBSan/LSan:
 *   - accepted (0) exactly when there is no diagnostic, and then the tree
 *     is a map and its JSON form exists;
 *   - refused with DURESS_EXIT_UNSUPPORTED exactly when every diagnostic
 *     is an "unsupported" one, else with DURESS_EXIT_INVALID_MANIFEST;
 *   - JSON is YAML read after a stricter syntax check: accepted as JSON
 *     implies accepted as YAML, with the same result when jansson agrees.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/core/exitcode.h>
#include <duress/experiment/manifest.h>
#include <duress/experiment/manifest_validate.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The loader refuses bigger files before reading them. */
#define FUZZ_MAX_BYTES (4u << 20)

struct outcome {
	int rc;
	int code;
	size_t ndiags;
	bool ctk;
};

static void fail(const char *name, const char *what)
{
	fprintf(stderr, "fuzz_manifest: %s: invariant broken: %s\n", name, what);
	abort();
}

static struct outcome load(const char *name, const char *text, size_t len)
{
	struct experiment x;
	struct mf_diags d;
	struct duress_err err = { 0 };
	struct outcome o = { 0 };
	char *buf = NULL;
	size_t blen = 0;
	FILE *mem;

	mf_diags_init(&d, name);
	o.rc = manifest_load_text(name, text, len, &x, &d, &err);
	o.code = o.rc < 0 ? err.code : 0;
	o.ndiags = d.n;
	o.ctk = x.ctk;

	if (o.rc == 0) {
		if (d.n)
			fail(name, "accepted with diagnostics");
		if (!x.root || x.root->type != MF_MAP)
			fail(name, "accepted without a map at the root");
		if (!x.source || !json_is_object(x.source))
			fail(name, "accepted without its JSON form");
	} else {
		if (o.rc != -1)
			fail(name, "failure is not -1");
		if (!d.n)
			fail(name, "refused without a diagnostic");
		if (mf_diags_only_unsupported(&d) ? err.code != DURESS_EXIT_UNSUPPORTED
						  : err.code != DURESS_EXIT_INVALID_MANIFEST)
			fail(name, "exit code does not match the diagnostics");
	}
	for (size_t i = 0; i < d.n; i++)
		if (!d.v[i].msg)
			fail(name, "diagnostic without a message");

	/* What `duress validate` prints (sorts them), into memory. */
	mem = open_memstream(&buf, &blen);
	if (mem) {
		mf_diags_print(&d, mem);
		fclose(mem);
		if (d.n && !blen)
			fail(name, "diagnostics printed nothing");
	}
	free(buf);

	manifest_free(&x);
	mf_diags_free(&d);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome y, j;
	json_error_t je;
	json_t *strict;
	char *text;

	if (size > FUZZ_MAX_BYTES)
		return 0;
	/* manifest_load() hands the loader a NUL-terminated copy. */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	y = load("fuzz.yaml", text, size);
	j = load("fuzz.json", text, size);

	if (j.rc == 0 && y.rc != 0)
		fail("fuzz.json", "accepted as JSON but refused as YAML");
	strict = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
	if (strict) {
		if (j.rc != y.rc || j.code != y.code || j.ndiags != y.ndiags || j.ctk != y.ctk)
			fail("fuzz.json", "valid JSON loads differently as YAML");
		json_decref(strict);
	}
	free(text);
	return 0;
}
