/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init/init_config.h - the job a container config describes, for clients
 * (crun's krun handler, krunvm, muvm) that call krun_set_root but not
 * krun_set_exec and leave the job in "/.krun_config.json" or $KRUN_CONFIG.
 * Pure (no I/O): linked into the guest init and the unit tests.
 *
 * Accepted forms, keys compared case-insensitively as upstream does:
 *   OCI runtime config   {"process": {"args": [...], "env": [...], "cwd": "..."}}
 *   image config         {"Config": {"Entrypoint": [...], "Cmd": [...],
 *                                    "Env": [...], "WorkingDir": "..."}}
 *   flat                 the same keys at the top level
 * In each, argv is Entrypoint followed by args (or Cmd), env entries are
 * "KEY=VALUE", cwd is cwd (or WorkingDir).  An OCI config's top-level
 * "hostname" is the guest's hostname.  null, a missing key, "" (cwd,
 * hostname) and [] (argv) all mean "not given".  Any other type is an error.
 */
#ifndef KRUN_INIT_CONFIG_H
#define KRUN_INIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

/* The guest init refuses a larger file without parsing it. */
#define INIT_CONFIG_MAX_SIZE (1u << 20)
/* A hostname longer than the kernel's is an error, not a truncation. */
#define INIT_CONFIG_MAX_HOSTNAME 64u

struct init_config {
	const char **argv;	/* NULL-terminated; NULL when the config has none */
	const char **envp;	/* NULL-terminated; NULL when the config has none */
	const char *cwd;	/* NULL when absent */
	const char *hostname;	/* OCI top-level "hostname"; NULL when absent */
	size_t argc;
	size_t envc;
	/* On failure: why, the key it is about as the file spells it (or
	 * NULL) and, for malformed JSON, the byte offset. */
	const char *error;
	const char *error_key;
	size_t error_offset;
	bool error_has_offset;
	struct json_doc doc;
};

/*
 * Parses buf[0..len) (modified in place; strings point into it, so it must
 * outlive cfg).  Returns 0, -EINVAL (malformed), -E2BIG (over the limits)
 * or -ENOMEM; on error cfg holds no allocation and error is set.
 */
int init_config_parse(char *buf, size_t len, struct init_config *cfg);
void init_config_free(struct init_config *cfg);

#endif
