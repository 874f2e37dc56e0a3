// SPDX-License-Identifier: Apache-2.0
/*
 * init/init_lib.c - pure helpers of the guest init (see init_lib.h).
 */
#include "init_lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int init_status_from_wait(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	/* Stopped/continued never reach us without WUNTRACED; be safe. */
	return INIT_EXIT_SETUP;
}

int init_exec_failure_status(int err)
{
	return err == ENOENT ? INIT_EXIT_NOTFOUND : INIT_EXIT_NOEXEC;
}

const char *init_exec_failure_text(int err)
{
	return err == ENOENT ? "not found" : "not executable";
}

int init_port_role(const char *name)
{
	static const char *const roles[] = { "krun-stdin", "krun-stdout", "krun-stderr",
					     "krun-signals" };
	size_t n;

	if (!name)
		return -1;
	n = strcspn(name, "\n");
	for (int i = 0; i < 4; i++)
		if (strlen(roles[i]) == n && !strncmp(name, roles[i], n) &&
		    (name[n] == '\0' || !strcmp(name + n, "\n")))
			return i;
	return -1;
}

static bool env_is(const char *entry, const char *key)
{
	size_t n = strlen(key);

	return !strncmp(entry, key, n) && entry[n] == '=';
}

const char *init_env_get(const char *const *envp, const char *key)
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (env_is(envp[i], key))
			return envp[i] + strlen(key) + 1;
	return NULL;
}

bool init_env_has(const char *const *envp, const char *key)
{
	return init_env_get(envp, key) != NULL;
}

static size_t count_strings(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

const char **init_build_env(const char *const *envp, bool on_tty)
{
	size_t n = count_strings(envp), k = 0;
	const char **out = calloc(n + 4, sizeof(*out));

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		out[k++] = envp[i];
	/* Without PATH, execvp would fall back to glibc's short default. */
	if (!init_env_has(envp, "PATH"))
		out[k++] = INIT_DEFAULT_PATH;
	if (!init_env_has(envp, "HOME"))
		out[k++] = INIT_DEFAULT_HOME;
	/*
	 * The console tty is a pipe to the host user's terminal emulator, not
	 * a Linux VT, so "linux" would be wrong; xterm-256color fits nearly
	 * every emulator.  Non-tty output gets no TERM, like a pipe would.
	 */
	if (on_tty && !init_env_has(envp, "TERM"))
		out[k++] = INIT_DEFAULT_TERM;
	out[k] = NULL;
	return out;
}

/* ---- config environment ----------------------------------------------- */

/* idx orders entries: envp's first, then the config's, each in order. */
struct env_ref {
	const char *s;
	size_t idx;
};

static int cmp_env_key(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");
	int c = memcmp(a, b, la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

static int cmp_env_ref(const void *a, const void *b)
{
	const struct env_ref *x = a, *y = b;
	int c = cmp_env_key(x->s, y->s);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static bool config_overrides(const char *entry)
{
	return !cmp_env_key(entry, "HOME") || !cmp_env_key(entry, "TERM");
}

/* One key's entries r[0..cnt), sorted by idx (envp's before the config's). */
static void choose_env(const struct env_ref *r, size_t cnt, size_t nbase, bool *keep)
{
	size_t first_cfg = 0;
	bool override;

	while (first_cfg < cnt && r[first_cfg].idx < nbase)
		first_cfg++;
	override = first_cfg < cnt && config_overrides(r[0].s);
	for (size_t i = 0; i < first_cfg; i++)
		keep[r[i].idx] = !override;
	if (override)
		keep[r[cnt - 1].idx] = true;
	else if (first_cfg == 0)
		keep[r[0].idx] = true;
}

const char **init_merge_env(const char *const *envp, const char *const *cfg_env)
{
	size_t n = count_strings(envp), total = n + count_strings(cfg_env), k = 0;
	struct env_ref *refs = calloc(total + 1, sizeof(*refs));
	bool *keep = calloc(total + 1, sizeof(*keep));
	const char **out = calloc(total + 1, sizeof(*out));

	if (!refs || !keep || !out) {
		free(out);
		out = NULL;
		goto done;
	}
	for (size_t i = 0; i < total; i++)
		refs[i] = (struct env_ref){ i < n ? envp[i] : cfg_env[i - n], i };
	qsort(refs, total, sizeof(*refs), cmp_env_ref);
	for (size_t g = 0, e; g < total; g = e) {
		for (e = g + 1; e < total && !cmp_env_key(refs[g].s, refs[e].s); e++)
			;
		choose_env(refs + g, e - g, n, keep);
	}
	for (size_t i = 0; i < total; i++)
		if (keep[i])
			out[k++] = i < n ? envp[i] : cfg_env[i - n];
done:
	free(refs);
	free(keep);
	return out;
}

int init_split_rlimits(char *s, const char **out, size_t max)
{
	size_t n = 0, len;
	char *tok, *save = NULL;

	if (!s || max == 0)
		return -E2BIG;
	len = strlen(s);
	/* The kernel command line hands the quotes through to init's env. */
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s[len - 1] = '\0';
		s++;
	}
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n + 1 >= max)
			return -E2BIG;
		out[n++] = tok;
	}
	out[n] = NULL;
	return (int)n;
}

bool init_dirent_is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* ---- fallback job from the kernel command line ------------------------- */

static const char *env_value(char *const *envp, const char *key)
{
	return init_env_get((const char *const *)envp, key);
}

static const char *env_entry(char *const *envp, const char *key)
{
	const char *v = env_value(envp, key);

	return v ? v - strlen(key) - 1 : NULL;
}

static int fallback_argv(int argc, char *const *argv, char *const *envp,
			 struct workload_view *out)
{
	const char *init = env_value(envp, "KRUN_INIT");
	size_t k = 0;

	out->argv = calloc((size_t)(argc > 0 ? argc : 0) + 2, sizeof(*out->argv));
	if (!out->argv)
		return -ENOMEM;
	if (init && init[0])
		out->argv[k++] = init;
	for (int i = 1; i < argc; i++)
		out->argv[k++] = argv[i];
	if (k == 0)
		out->argv[k++] = "/bin/sh";
	out->argv[k] = NULL;
	out->argc = k;
	out->exec_path = out->argv[0];
	return 0;
}

/*
 * KRUN_HOME / KRUN_TERM override HOME / TERM; the "KRUN_" prefix is five
 * bytes, so the entry itself minus that prefix is the replacement.
 */
static int fallback_env(char *const *envp, struct workload_view *out)
{
	const char *home = env_entry(envp, "KRUN_HOME");
	const char *term = env_entry(envp, "KRUN_TERM");
	size_t n = count_strings((const char *const *)envp), k = 0;

	out->envp = calloc(n + 3, sizeof(*out->envp));
	if (!out->envp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(envp[i], "KRUN_", 5) ||
		    (home && env_is(envp[i], "HOME")) ||
		    (term && env_is(envp[i], "TERM")))
			continue;
		out->envp[k++] = envp[i];
	}
	if (home)
		out->envp[k++] = home + 5;
	if (term)
		out->envp[k++] = term + 5;
	out->envp[k] = NULL;
	out->envc = k;
	return 0;
}

/*
 * The split copy of KRUN_RLIMITS lives in the same allocation as the
 * pointer array, so workload_view_free() releases both.
 */
static int fallback_rlimits(char *const *envp, struct workload_view *out)
{
	const char *v = env_value(envp, "KRUN_RLIMITS");
	size_t slots = WORKLOAD_MAX_RLIMITS + 1;
	size_t vlen = v ? strlen(v) + 1 : 0;
	struct rlimit rl;
	char *copy;
	int n, res;

	out->rlimits = calloc(1, slots * sizeof(*out->rlimits) + vlen);
	if (!out->rlimits)
		return -ENOMEM;
	if (!v)
		return 0;
	copy = (char *)(out->rlimits + slots);
	memcpy(copy, v, vlen);
	n = init_split_rlimits(copy, out->rlimits, slots);
	if (n < 0)
		return -EINVAL;
	out->nrlimits = (size_t)n;
	for (int i = 0; i < n; i++)
		if (parse_rlimit(out->rlimits[i], &res, &rl))
			return -EINVAL;
	return 0;
}

int init_view_from_env(int argc, char *const *argv, char *const *environ_,
		       struct workload_view *out)
{
	const char *workdir = env_value(environ_, "KRUN_WORKDIR");
	const char *host = env_value(environ_, "HOSTNAME");
	const char *init = env_value(environ_, "KRUN_INIT");
	int ret;

	memset(out, 0, sizeof(*out));
	out->version = WORKLOAD_VERSION;
	if (!init || !init[0])
		out->flags = WORKLOAD_F_DEFAULT_EXEC;
	out->workdir = workdir && workdir[0] ? workdir : NULL;
	if (host && host[0] && strlen(host) <= WORKLOAD_MAX_HOSTNAME)
		out->hostname = host;
	ret = fallback_argv(argc, argv, environ_, out);
	if (!ret)
		ret = fallback_env(environ_, out);
	if (!ret)
		ret = fallback_rlimits(environ_, out);
	if (ret)
		workload_view_free(out);
	return ret;
}
