// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the guest init's container config: the strict JSON parser
 * (accepts RFC 8259, refuses everything else, bounded on hostile input),
 * the extraction of argv/env/cwd from the OCI and image-config forms, and
 * the rules that merge the config's environment into the job's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_config.h"
#include "init/init_lib.h"
#include "init/json.h"
#include "../test.h"

/* The parser writes into its input: hand it a private copy. */
static int parse(const char *text, struct json_doc *doc, char **copy)
{
	size_t n = strlen(text);

	*copy = malloc(n + 1);
	memcpy(*copy, text, n + 1);
	return json_parse(*copy, n, doc);
}

static int parse_status(const char *text)
{
	struct json_doc doc;
	char *copy;
	int ret = parse(text, &doc, &copy);

	/* A message points into the input, never past it (a trailing "\"). */
	if (ret)
		CHECK(doc.error && doc.error_offset <= strlen(text));
	json_free(&doc);
	free(copy);
	return ret;
}

static int config(const char *text, struct init_config *cfg, char **copy)
{
	size_t n = strlen(text);

	*copy = malloc(n + 1);
	memcpy(*copy, text, n + 1);
	return init_config_parse(*copy, n, cfg);
}

static void check_strv(const char *const *got, const char *const *want)
{
	size_t i;

	CHECK(got != NULL);
	if (!got)
		return;
	for (i = 0; want[i]; i++) {
		CHECK(got[i] != NULL);
		if (!got[i])
			return;
		CHECK_STR(got[i], want[i]);
	}
	CHECK(got[i] == NULL);
}

/* ---- parser ------------------------------------------------------------ */

static void test_json_accepts(void)
{
	static const char *const ok[] = {
		"{}", "[]", " \t\r\n{ } \n", "0", "-0", "1.5", "-12.5e+3", "1E-2", "0e0",
		"123456789012345678901234567890", "\"\"", "true", "false", "null",
		"[1,\"a\",true,false,null,{},[]]", "{\"a\":{\"b\":[{\"c\":null}]}}",
		"\"\\u00e9\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
		"{\"\":1,\"a\":2,\"a\":3}", "\"\\u0000\"", "[ 1 , 2 ]",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int ret = parse_status(ok[i]);

		if (ret)
			fprintf(stderr, "  refused %s\n", ok[i]);
		CHECK_EQ(ret, 0);
	}
}

static void test_json_rejects(void)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
		"{a:1}", "{'a':1}", "{\"a\" 1}", "[1 2]", "01", "-", "1.", ".5", "+1", "1e",
		"1e+", "0x10", "NaN", "Infinity", "tru", "truee", "nul", "True", "\"abc",
		"\"a\nb\"", "\"a\tb\"", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"",
		"\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"\xc0\xaf\"",
		"\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"", "\"\x80\"",
		"\"\xff\"", "{}{}", "[] x", "\xef\xbb\xbf{}", "[1]]", "{\"a\":1}}", "/*c*/{}",
		"\"\\\"", "[\"a\" \"b\"]", "\"#\\", "\"\\u00",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse_status(bad[i]);

		if (ret != -EINVAL)
			fprintf(stderr, "  accepted or odd (%d): %s\n", ret, bad[i]);
		CHECK_EQ(ret, -EINVAL);
	}
	/* Bytes after an embedded NUL still count: no C-string shortcuts. */
	char nul[] = { '[', '1', ']', '\0', ' ' };
	struct json_doc doc;

	CHECK_EQ(json_parse(nul, sizeof(nul), &doc), -EINVAL);
	CHECK(doc.nodes == NULL);
	CHECK_EQ(json_parse(NULL, 0, &doc), -EINVAL);
}

static void test_json_tree(void)
{
	struct json_doc doc;
	char *copy;
	const struct json_node *root, *a, *n;

	CHECK_EQ(parse("{\"Name\":\"x\",\"list\":[1,-2.5e3,\"s\",null],\"o\":{}}", &doc, &copy),
		 0);
	root = &doc.nodes[0];
	CHECK_EQ(root->type, JSON_OBJECT);
	CHECK_EQ(root->len, 3);
	CHECK_STR(json_get(&doc, root, "name")->str, "x");
	CHECK_STR(json_get(&doc, root, "NAME")->str, "x");
	CHECK(json_get(&doc, root, "nam") == NULL);
	CHECK(json_get(&doc, root, "names") == NULL);
	a = json_get(&doc, root, "list");
	CHECK_EQ(a->type, JSON_ARRAY);
	CHECK_EQ(a->len, 4);
	n = json_first(&doc, a);
	CHECK_EQ(n->type, JSON_NUMBER);
	CHECK_EQ(n->len, 1);
	n = json_next(&doc, n);
	CHECK_EQ(n->len, 6);
	CHECK(!memcmp(n->str, "-2.5e3", 6));
	n = json_next(&doc, n);
	CHECK_STR(n->str, "s");
	n = json_next(&doc, n);
	CHECK_EQ(n->type, JSON_NULL);
	CHECK(json_next(&doc, n) == NULL);
	CHECK(json_first(&doc, json_get(&doc, root, "o")) == NULL);
	CHECK(json_get(&doc, a, "x") == NULL); /* not an object */
	json_free(&doc);
	free(copy);
}

static void test_json_escapes(void)
{
	struct json_doc doc;
	char *copy;

	CHECK_EQ(parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u0041\\u00E9\\u20ac\\uD83D\\uDE00\","
		       " \"\\u0000x\", \"\\ud7ff\\ue000\\uffff\"]",
		       &doc, &copy),
	     0);
	const struct json_node *n = json_first(&doc, &doc.nodes[0]);

	CHECK_STR(n->str, "\"\\/\b\f\n\r\t");
	CHECK_EQ(n->len, 8);
	n = json_next(&doc, n);
	CHECK_STR(n->str, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	n = json_next(&doc, n);
	CHECK_EQ(n->len, 2);
	CHECK(!memcmp(n->str, "\0x", 2));
	n = json_next(&doc, n);
	CHECK_STR(n->str, "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf");
	json_free(&doc);
	free(copy);
}

static char *repeat(const char *unit, size_t times, const char *prefix, const char *suffix)
{
	size_t u = strlen(unit), p = strlen(prefix), s = strlen(suffix);
	char *buf = malloc(p + u * times + s + 1), *w = buf;

	memcpy(w, prefix, p);
	w += p;
	for (size_t i = 0; i < times; i++, w += u)
		memcpy(w, unit, u);
	memcpy(w, suffix, s + 1);
	return buf;
}

static void test_json_depth_limit(void)
{
	char *ok = malloc(2 * JSON_MAX_DEPTH + 1), *deep = malloc(2 * JSON_MAX_DEPTH + 3);
	struct json_doc doc;

	for (int i = 0; i < JSON_MAX_DEPTH; i++) {
		ok[i] = '[';
		ok[2 * JSON_MAX_DEPTH - 1 - i] = ']';
	}
	ok[2 * JSON_MAX_DEPTH] = '\0';
	CHECK_EQ(parse_status(ok), 0);
	for (int i = 0; i <= JSON_MAX_DEPTH; i++) {
		deep[i] = '[';
		deep[2 * JSON_MAX_DEPTH + 1 - i] = ']';
	}
	deep[2 * JSON_MAX_DEPTH + 2] = '\0';
	CHECK_EQ(json_parse(deep, strlen(deep), &doc), -EINVAL);
	CHECK_STR(doc.error, "nested too deeply");
	CHECK_EQ(doc.error_offset, JSON_MAX_DEPTH);
	free(ok);
	free(deep);
	/* A million open brackets: refused at the limit, no deep recursion. */
	char *million = repeat("{\"a\":", 1000000, "", "");

	CHECK_EQ(parse_status(million), -EINVAL);
	free(million);
}

static void test_json_huge(void)
{
	/* One more value than the node table holds. */
	char *many = repeat("0,", JSON_MAX_NODES - 1, "[", "0]");
	char *fits = repeat("0,", JSON_MAX_NODES - 2, "[", "0]");
	char *longstr = repeat("\\u00e9", 150000, "\"", "\"");
	struct json_doc doc;
	char *copy;

	CHECK_EQ(parse_status(many), -E2BIG);
	CHECK_EQ(parse_status(fits), 0);
	CHECK_EQ(parse(longstr, &doc, &copy), 0);
	CHECK_EQ(doc.nodes[0].len, 300000);
	json_free(&doc);
	free(copy);
	CHECK_EQ(json_parse(longstr, (size_t)JSON_MAX_INPUT + 1, &doc), -E2BIG);
	free(many);
	free(fits);
	free(longstr);
}

/* Flipping bytes of valid documents never crashes (ASan build checks). */
static void test_json_mutations(void)
{
	const char *seed = "{\"process\":{\"args\":[\"/bin/sh\",\"-c\",\"e\\u00e9\"],"
			   "\"env\":[\"A=1\"],\"cwd\":\"/\"},\"n\":[1.5e3,true,null]}";
	size_t n = strlen(seed);
	uint32_t x = 12345;
	char *buf = malloc(n);
	struct init_config cfg;

	for (int iter = 0; iter < 20000; iter++) {
		memcpy(buf, seed, n);
		for (int k = 0; k < 3; k++) {
			x = x * 1103515245u + 12345u;
			buf[(x >> 8) % n] = (char)(x >> 16);
		}
		x = x * 1103515245u + 12345u;
		if (init_config_parse(buf, (x >> 8) % (n + 1), &cfg) == 0)
			init_config_free(&cfg);
	}
	free(buf);
}

/* ---- extraction -------------------------------------------------------- */

static void test_config_oci(void)
{
	static const char *const argv[] = { "/bin/sh", "-c", "echo hi", NULL };
	static const char *const env[] = { "PATH=/bin", "A=b=c", NULL };
	struct init_config cfg;
	char *copy;

	CHECK_EQ(config("{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,"
			"\"user\":{\"uid\":0},\"args\":[\"/bin/sh\",\"-c\",\"echo hi\"],"
			"\"env\":[\"PATH=/bin\",\"A=b=c\"],\"cwd\":\"/work\"},"
			"\"root\":{\"path\":\"rootfs\"},\"hostname\":\"oci-host\","
			"\"Cmd\":[\"ignored\"]}",
			&cfg, &copy),
		 0);
	CHECK_STR(cfg.hostname, "oci-host");
	check_strv(cfg.argv, argv);
	CHECK_EQ(cfg.argc, 3);
	check_strv(cfg.envp, env);
	CHECK_EQ(cfg.envc, 2);
	CHECK_STR(cfg.cwd, "/work");
	init_config_free(&cfg);
	CHECK(cfg.argv == NULL);
	free(copy);
}

static void test_config_image_forms(void)
{
	static const char *const argv[] = { "/entry", "--flag", "run", "x", NULL };
	static const char *const env[] = { "K=V", NULL };
	static const char *const forms[] = {
		"{\"Config\":{\"Entrypoint\":[\"/entry\",\"--flag\"],\"Cmd\":[\"run\",\"x\"],"
		"\"Env\":[\"K=V\"],\"WorkingDir\":\"/w\"},\"architecture\":\"amd64\"}",
		"{\"Entrypoint\":[\"/entry\",\"--flag\"],\"Cmd\":[\"run\",\"x\"],"
		"\"Env\":[\"K=V\"],\"WorkingDir\":\"/w\"}",
		/* Keys in any case, args before Cmd, cwd before WorkingDir. */
		"{\"config\":{\"ENTRYPOINT\":[\"/entry\",\"--flag\"],\"ARGS\":[\"run\",\"x\"],"
		"\"cmd\":[\"no\"],\"eNv\":[\"K=V\"],\"Cwd\":\"/w\",\"workingdir\":\"/no\"}}",
	};
	struct init_config cfg;
	char *copy;

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		CHECK_EQ(config(forms[i], &cfg, &copy), 0);
		check_strv(cfg.argv, argv);
		CHECK_EQ(cfg.argc, 4);
		check_strv(cfg.envp, env);
		CHECK_STR(cfg.cwd, "/w");
		init_config_free(&cfg);
		free(copy);
	}
}

static void test_config_partial(void)
{
	static const char *const entry_only[] = { "/e", NULL };
	static const char *const cmd_only[] = { "/c", "1", NULL };
	struct init_config cfg;
	char *copy;

	/* Docker writes null for what an image leaves unset. */
	CHECK_EQ(config("{\"Config\":{\"Entrypoint\":null,\"Cmd\":[\"/c\",\"1\"],\"Env\":null,"
			"\"WorkingDir\":\"\"}}", &cfg, &copy), 0);
	check_strv(cfg.argv, cmd_only);
	CHECK(cfg.envp == NULL);
	CHECK(cfg.cwd == NULL);
	init_config_free(&cfg);
	free(copy);

	CHECK_EQ(config("{\"Entrypoint\":[\"/e\"],\"Cmd\":[]}", &cfg, &copy), 0);
	check_strv(cfg.argv, entry_only);
	init_config_free(&cfg);
	free(copy);

	CHECK_EQ(config("{\"process\":{\"args\":[],\"env\":[]}}", &cfg, &copy), 0);
	CHECK(cfg.argv == NULL);
	CHECK_EQ(cfg.argc, 0);
	CHECK(cfg.envp == NULL);
	init_config_free(&cfg);
	free(copy);

	CHECK_EQ(config(" {} ", &cfg, &copy), 0);
	CHECK(cfg.argv == NULL && cfg.envp == NULL && cfg.cwd == NULL);
	init_config_free(&cfg);
	free(copy);

	CHECK_EQ(config("{\"process\":null,\"Cmd\":[\"/c\",\"1\"]}", &cfg, &copy), 0);
	check_strv(cfg.argv, cmd_only);
	init_config_free(&cfg);
	free(copy);
}

static void check_config_error(const char *text, int want, const char *key, const char *why)
{
	struct init_config cfg;
	char *copy;
	int ret = config(text, &cfg, &copy);

	if (ret != want)
		fprintf(stderr, "  %s: got %d\n", text, ret);
	CHECK_EQ(ret, want);
	CHECK(cfg.argv == NULL && cfg.envp == NULL && cfg.doc.nodes == NULL);
	CHECK_STR(cfg.error, why);
	if (key)
		CHECK_STR(cfg.error_key, key);
	else
		CHECK(cfg.error_key == NULL);
	free(copy);
}

static void test_config_errors(void)
{
	check_config_error("[]", -EINVAL, NULL, "the top level is not an object");
	check_config_error("\"x\"", -EINVAL, NULL, "the top level is not an object");
	check_config_error("{\"process\":[]}", -EINVAL, "process", "is not an object");
	check_config_error("{\"Config\":\"x\"}", -EINVAL, "Config", "is not an object");
	check_config_error("{\"process\":{\"args\":\"/bin/sh\"}}", -EINVAL, "args",
			   "is not an array of strings");
	check_config_error("{\"process\":{\"args\":[\"/bin/sh\",1]}}", -EINVAL, "args",
			   "is not an array of strings");
	check_config_error("{\"Cmd\":[[\"x\"]]}", -EINVAL, "Cmd", "is not an array of strings");
	check_config_error("{\"Entrypoint\":{}}", -EINVAL, "Entrypoint",
			   "is not an array of strings");
	check_config_error("{\"Env\":[\"NOEQUALS\"]}", -EINVAL, "Env",
			   "has an entry that is not KEY=VALUE");
	check_config_error("{\"Env\":[\"=x\"]}", -EINVAL, "Env",
			   "has an entry that is not KEY=VALUE");
	check_config_error("{\"env\":[null]}", -EINVAL, "env", "is not an array of strings");
	check_config_error("{\"cwd\":7}", -EINVAL, "cwd", "is not a string");
	check_config_error("{\"hostname\":[]}", -EINVAL, "hostname", "is not a string");
	check_config_error("{\"Hostname\":\"0123456789012345678901234567890123456789"
			   "01234567890123456789012345\"}",
			   -EINVAL, "Hostname", "is longer than 64 bytes");
	check_config_error("{\"WorkingDir\":[\"/\"]}", -EINVAL, "WorkingDir", "is not a string");
	check_config_error("{\"args\":[\"a\\u0000b\"]}", -EINVAL, "args",
			   "contains a NUL character");
	check_config_error("{\"cwd\":\"/\\u0000\"}", -EINVAL, "cwd", "contains a NUL character");
	check_config_error("{\"args\":[\"x\"],}", -EINVAL, NULL, "not valid JSON");

	struct init_config cfg;
	char *copy;

	CHECK_EQ(config("{\n  \"args\": [tru]\n}", &cfg, &copy), -EINVAL);
	CHECK(cfg.error_has_offset);
	CHECK_EQ(cfg.error_offset, 13);
	free(copy);
	char *big = repeat(" ", INIT_CONFIG_MAX_SIZE, "{", "}");

	CHECK_EQ(init_config_parse(big, strlen(big), &cfg), -E2BIG);
	CHECK_STR(cfg.error, "is bigger than 1 MiB");
	CHECK(!cfg.error_has_offset);
	big[INIT_CONFIG_MAX_SIZE - 1] = '}';
	CHECK_EQ(init_config_parse(big, INIT_CONFIG_MAX_SIZE, &cfg), 0);
	init_config_free(&cfg);
	free(big);
}

/* ---- environment merge ------------------------------------------------- */

static void check_merge(const char *const *base, const char *const *cfg_env,
			const char *const *want)
{
	const char **got = init_merge_env(base, cfg_env);

	check_strv(got, want);
	free(got);
}

static void test_merge_env(void)
{
	static const char *const base[] = { "PATH=/host", "HOME=/root", "A=1", "AB=2", NULL };
	static const char *const cfg[] = { "A=cfg", "B=cfg", "HOME=/cfg", "TERM=dumb",
					   "PATH=/cfg", "A=", "ABC=3", NULL };
	static const char *const want[] = { "PATH=/host", "A=1", "AB=2", "B=cfg",
					    "HOME=/cfg", "TERM=dumb", "ABC=3", NULL };
	static const char *const none[] = { NULL };

	check_merge(base, cfg, want);
	check_merge(base, NULL, base);
	check_merge(NULL, base, base);
	check_merge(NULL, NULL, none);
}

static void test_merge_env_duplicates(void)
{
	/* First config entry of a key wins; for HOME and TERM the last. */
	static const char *const base[] = { "X=base", "X=base2", "TERM=xterm", NULL };
	static const char *const cfg[] = { "Y=1", "HOME=/a", "Y=2", "HOME=/b", "X=cfg",
					   "TERM=t1", "TERM=t2", NULL };
	static const char *const want[] = { "X=base", "X=base2", "Y=1", "HOME=/b", "TERM=t2",
					    NULL };

	check_merge(base, cfg, want);
}

/* Quadratic merging would take minutes here; PID 1 must not stall. */
static void test_merge_env_large(void)
{
	enum { N = 200000 };
	const char **base = calloc(N + 1, sizeof(*base)), **cfg = calloc(N + 1, sizeof(*cfg));
	char *store = malloc((size_t)N * 2 * 16);
	const char **got;
	size_t k = 0;

	for (int i = 0; i < N; i++) {
		char *b = store + (size_t)i * 32, *c = b + 16;

		snprintf(b, 16, "V%d=b", i);
		snprintf(c, 16, "V%d=c", i + N / 2);
		base[i] = b;
		cfg[i] = c;
	}
	got = init_merge_env(base, cfg);
	CHECK(got != NULL);
	while (got && got[k])
		k++;
	CHECK_EQ(k, N + N / 2);
	if (got) {
		CHECK_STR(got[N], "V200000=c");
		CHECK_STR(got[N - 1], base[N - 1]);
	}
	free(got);
	free(base);
	free(cfg);
	free(store);
}

static void test_env_get(void)
{
	static const char *const env[] = { "KRUN_CONFIG=/c.json", "HOSTNAME=", "A=1", "A=2",
					   NULL };

	CHECK_STR(init_env_get(env, "KRUN_CONFIG"), "/c.json");
	CHECK_STR(init_env_get(env, "HOSTNAME"), "");
	CHECK_STR(init_env_get(env, "A"), "1");
	CHECK(init_env_get(env, "KRUN") == NULL);
	CHECK(init_env_get(NULL, "A") == NULL);
}

int main(void)
{
	RUN_TEST(test_json_accepts);
	RUN_TEST(test_json_rejects);
	RUN_TEST(test_json_tree);
	RUN_TEST(test_json_escapes);
	RUN_TEST(test_json_depth_limit);
	RUN_TEST(test_json_huge);
	RUN_TEST(test_json_mutations);
	RUN_TEST(test_config_oci);
	RUN_TEST(test_config_image_forms);
	RUN_TEST(test_config_partial);
	RUN_TEST(test_config_errors);
	RUN_TEST(test_merge_env);
	RUN_TEST(test_merge_env_duplicates);
	RUN_TEST(test_merge_env_large);
	RUN_TEST(test_env_get);
	TEST_MAIN_END();
}
