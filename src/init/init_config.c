// SPDX-License-Identifier: Apache-2.0
/*
 * init/init_config.c - container config -> argv/env/cwd (see init_config.h).
 */
#include "init_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int bad(struct init_config *cfg, const char *key, const char *why)
{
	cfg->error_key = key;
	cfg->error = why;
	return -EINVAL;
}

/* The first of the names present with a non-null value, else NULL. */
static const struct json_node *field(const struct init_config *cfg,
				     const struct json_node *obj, const char *const *names)
{
	for (; *names; names++) {
		const struct json_node *n = json_get(&cfg->doc, obj, *names);

		if (n && n->type != JSON_NULL)
			return n;
	}
	return NULL;
}

/* argv and env end up in exec(): no string may hide a NUL.  Errors name
 * the key as the file spells it (keys are NUL-terminated in the buffer). */
static int check_string(struct init_config *cfg, const struct json_node *n, const char *key)
{
	if (n->type != JSON_STRING)
		return bad(cfg, key, "is not a string");
	if (strlen(n->str) != n->len)
		return bad(cfg, key, "contains a NUL character");
	return 0;
}

static int check_string_array(struct init_config *cfg, const struct json_node *a)
{
	int ret;

	if (!a)
		return 0;
	if (a->type != JSON_ARRAY)
		return bad(cfg, a->key, "is not an array of strings");
	for (const struct json_node *n = json_first(&cfg->doc, a); n;
	     n = json_next(&cfg->doc, n)) {
		if (n->type != JSON_STRING)
			return bad(cfg, a->key, "is not an array of strings");
		if ((ret = check_string(cfg, n, a->key)))
			return ret;
	}
	return 0;
}

/* Copies the strings of arrays a and b (either may be NULL) into one
 * NULL-terminated array; *out stays NULL when both are empty. */
static int join_strings(const struct init_config *cfg, const struct json_node *a,
			const struct json_node *b, const char ***out, size_t *count)
{
	const struct json_node *parts[2] = { a, b };
	size_t n = (a ? a->len : 0) + (b ? b->len : 0), k = 0;

	*out = NULL;
	*count = 0;
	if (!n)
		return 0;
	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (int i = 0; i < 2; i++)
		for (const struct json_node *s = json_first(&cfg->doc, parts[i]); s;
		     s = json_next(&cfg->doc, s))
			(*out)[k++] = s->str;
	*count = k;
	return 0;
}

static int check_env(struct init_config *cfg, const struct json_node *env)
{
	for (size_t i = 0; i < cfg->envc; i++) {
		const char *eq = strchr(cfg->envp[i], '=');

		if (!eq || eq == cfg->envp[i])
			return bad(cfg, env->key, "has an entry that is not KEY=VALUE");
	}
	return 0;
}

/* OCI keeps the job under "process", an image config under "Config". */
static int job_object(struct init_config *cfg, const struct json_node **obj)
{
	static const char *const process[] = { "process", NULL };
	static const char *const config[] = { "config", NULL };
	const struct json_node *root = &cfg->doc.nodes[0], *n;

	if (root->type != JSON_OBJECT)
		return bad(cfg, NULL, "the top level is not an object");
	*obj = root;
	n = field(cfg, root, process);
	if (!n)
		n = field(cfg, root, config);
	if (!n)
		return 0;
	if (n->type != JSON_OBJECT)
		return bad(cfg, n->key, "is not an object");
	*obj = n;
	return 0;
}

/* An OCI runtime config names the container's hostname at its top level
 * (crun sets no HOSTNAME variable for it). */
static int extract_hostname(struct init_config *cfg)
{
	static const char *const keys[] = { "hostname", NULL };
	const struct json_node *n = field(cfg, &cfg->doc.nodes[0], keys);
	int ret = n ? check_string(cfg, n, n->key) : 0;

	if (!ret && n && n->len > INIT_CONFIG_MAX_HOSTNAME)
		ret = bad(cfg, n->key, "is longer than 64 bytes");
	if (!ret)
		cfg->hostname = n && n->len ? n->str : NULL;
	return ret;
}

static int extract(struct init_config *cfg)
{
	static const char *const args_keys[] = { "args", "cmd", NULL };
	static const char *const entry_keys[] = { "entrypoint", NULL };
	static const char *const env_keys[] = { "env", NULL };
	static const char *const cwd_keys[] = { "cwd", "workingdir", NULL };
	const struct json_node *obj, *args, *entry, *env, *cwd;
	int ret;

	if ((ret = job_object(cfg, &obj)))
		return ret;
	args = field(cfg, obj, args_keys);
	entry = field(cfg, obj, entry_keys);
	env = field(cfg, obj, env_keys);
	cwd = field(cfg, obj, cwd_keys);
	if ((ret = check_string_array(cfg, entry)) ||
	    (ret = check_string_array(cfg, args)) ||
	    (ret = check_string_array(cfg, env)) ||
	    (cwd && (ret = check_string(cfg, cwd, cwd->key))))
		return ret;
	if ((ret = join_strings(cfg, entry, args, &cfg->argv, &cfg->argc)) ||
	    (ret = join_strings(cfg, env, NULL, &cfg->envp, &cfg->envc)))
		return ret;
	cfg->cwd = cwd && cwd->len ? cwd->str : NULL;
	if ((ret = extract_hostname(cfg)))
		return ret;
	return check_env(cfg, env);
}

int init_config_parse(char *buf, size_t len, struct init_config *cfg)
{
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (len > INIT_CONFIG_MAX_SIZE) {
		cfg->error = "is bigger than 1 MiB";
		return -E2BIG;
	}
	ret = json_parse(buf, len, &cfg->doc);
	if (ret) {
		cfg->error = cfg->doc.error;
		cfg->error_offset = cfg->doc.error_offset;
		cfg->error_has_offset = ret == -EINVAL;
		return ret;
	}
	ret = extract(cfg);
	if (ret) {
		const char *error = cfg->error, *key = cfg->error_key;

		init_config_free(cfg);
		cfg->error = error ? error : "out of memory";
		cfg->error_key = key;
	}
	return ret;
}

void init_config_free(struct init_config *cfg)
{
	free(cfg->argv);
	free(cfg->envp);
	json_free(&cfg->doc);
	memset(cfg, 0, sizeof(*cfg));
}
