// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the guest init's container-config path on arbitrary
 * bytes (JSON parser, argv/env/cwd extraction, environment merge), as PID 1
 * runs it on a file from the guest's root.  Besides the sanitizers it
 * checks the invariants the init relies on and aborts when one breaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/init_config.h"
#include "init/init_lib.h"
#include "init/json.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every node is reached exactly once from the root, within the depth cap. */
static uint32_t walk(const struct json_doc *doc, const struct json_node *n, int depth)
{
	uint32_t seen = 1, members = 0;

	require(depth < JSON_MAX_DEPTH);
	if (n->type == JSON_STRING)
		require(strlen(n->str) <= n->len);
	for (const struct json_node *m = json_first(doc, n); m; m = json_next(doc, m)) {
		require((n->type == JSON_OBJECT) == (m->key != NULL));
		seen += walk(doc, m, depth + 1);
		members++;
	}
	require(members == ((n->type == JSON_ARRAY || n->type == JSON_OBJECT) ? n->len : 0));
	return seen;
}

static void check_json(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct json_doc doc;

	memcpy(buf, data, size);
	if (json_parse(buf, size, &doc) == 0) {
		require(walk(&doc, &doc.nodes[0], 0) == doc.count);
		json_free(&doc);
	} else {
		require(doc.nodes == NULL && doc.error && doc.error_offset <= size);
	}
	free(buf);
}

static void check_config(const uint8_t *data, size_t size)
{
	static const char *const base[] = { "PATH=/bin", "HOME=/root", "TERM=vt100", NULL };
	char *buf = malloc(size ? size : 1);
	struct init_config cfg;
	const char **env;

	memcpy(buf, data, size);
	if (init_config_parse(buf, size, &cfg)) {
		require(cfg.error && !cfg.argv && !cfg.envp);
		free(buf);
		return;
	}
	for (size_t i = 0; i < cfg.argc; i++)
		require(cfg.argv[i] != NULL);
	require(!cfg.argv || (cfg.argc && !cfg.argv[cfg.argc]));
	for (size_t i = 0; i < cfg.envc; i++)
		require(strchr(cfg.envp[i], '=') > cfg.envp[i]);
	env = init_merge_env(base, cfg.envp);
	require(env != NULL);
	require(init_env_has(env, "PATH") && init_env_has(env, "HOME"));
	free(env);
	init_config_free(&cfg);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_json(data, size);
	check_config(data, size);
	return 0;
}
