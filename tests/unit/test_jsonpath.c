// SPDX-License-Identifier: MIT
/* The JSONPath subset (agent/experiment/jsonpath.c) of Chaos Toolkit
 * jsonpath tolerances: each query against the values jsonpath2 (what
 * chaostoolkit-lib uses) selects for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <duress/experiment/jsonpath.h>

static const char doc_text[] =
	"{\"status\": 200, \"body\": {\"items\": [{\"id\": 1, \"name\": \"a\", \"up\": true},"
	" {\"id\": 2, \"name\": \"b\", \"up\": false}, {\"id\": 3, \"name\": \"c\"}],"
	" \"meta\": {\"count\": 3, \"odd key\": \"x\"}}}";

/* The matches of `path`, compact JSON, compared with `want`. */
static void expect(const char *path, const char *want)
{
	json_t *doc = json_loads(doc_text, 0, NULL), *out = NULL;
	struct duress_err err = { 0 };
	char *got;

	assert_non_null(doc);
	if (jsonpath_query(path, doc, &out, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	got = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
	if (strcmp(got, want))
		fail_msg("%s: got %s, wanted %s", path, got, want);
	free(got);
	json_decref(out);
	json_decref(doc);
}

static void test_selectors(void **state)
{
	(void)state;
	expect("$", "[{\"status\":200,\"body\":{\"items\":[{\"id\":1,\"name\":\"a\",\"up\":true},"
		    "{\"id\":2,\"name\":\"b\",\"up\":false},{\"id\":3,\"name\":\"c\"}],"
		    "\"meta\":{\"count\":3,\"odd key\":\"x\"}}}]");
	expect("$.status", "[200]");
	expect("$.nope", "[]");
	expect("$.body.items[0].name", "[\"a\"]");
	expect("$.body.items[-1].id", "[3]");
	expect("$.body.items[5]", "[]");
	expect("$.body.items[*].id", "[1,2,3]");
	expect("$.body.items.*.name", "[\"a\",\"b\",\"c\"]");
	expect("$['body']['meta']['odd key']", "[\"x\"]");
	expect("$[\"body\"].meta.count", "[3]");
	expect("$.body.items[0,2].id", "[1,3]");
	expect("$.body.items[1:].id", "[2,3]");
	expect("$.body.items[:2].id", "[1,2]");
	expect("$.body.items[::-1].id", "[3,2,1]");
	expect("$..id", "[1,2,3]");
	expect("$..count", "[3]");
}

static void test_filters(void **state)
{
	(void)state;
	expect("$.body.items[?(@.id > 1)].name", "[\"b\",\"c\"]");
	expect("$.body.items[?(@.id = 2)].name", "[\"b\"]");
	expect("$.body.items[?(@.id == 2)].name", "[\"b\"]");
	expect("$.body.items[?(@.name != 'a')].id", "[2,3]");
	expect("$.body.items[?(@.up == true)].id", "[1]");
	expect("$.body.items[?(@.up)].id", "[1,2]");
	expect("$.body.items[?(@['name'] == \"c\")].id", "[3]");
	expect("$..items[?(@.id <= 1)].name", "[\"a\"]");
}

static void test_refused(void **state)
{
	static const char *const bad[] = { "",
					   "status",
					   "$.",
					   "$[",
					   "$['a'",
					   "$.a[?(@.x == 1 "
					   "and @.y == 2)]",
					   "$.a[1:2:0]",
					   "$.a()",
					   "$.a[?(x)]" };
	struct duress_err err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (jsonpath_check(bad[i], &err) == 0)
			fail_msg("'%s' accepted", bad[i]);
	assert_non_null(strstr(err.msg, "jsonpath '$.a[?(x)]'"));
	assert_int_equal(jsonpath_check("$..items[?(@.id >= 2)].name", &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selectors),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
