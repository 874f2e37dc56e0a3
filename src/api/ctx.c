// SPDX-License-Identifier: Apache-2.0
#include "ctx.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one piece of mutable global state: the table of live contexts. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct krun_ctx **table;
static size_t table_len;
static uint32_t next_id;

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

int strv_dup(const char *const *in, char ***out)
{
	size_t n = 0;
	while (in[n]) {
		if (++n > CTX_MAX_STRV)
			return -E2BIG;
	}
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(in[i]);
		if (!v[i]) {
			strv_free(v);
			return -ENOMEM;
		}
	}
	*out = v;
	return 0;
}

static void release_port(struct ctx_port *p)
{
	if (p->in_fd >= 0)
		close(p->in_fd);
	if (p->out_fd >= 0 && p->out_fd != p->in_fd)
		close(p->out_fd);
	free(p->name);
}

void ctx_net_release(struct ctx_net *n)
{
	free(n->path);
	n->path = NULL;
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

void ctx_destroy(struct krun_ctx *c)
{
	if (!c)
		return;
	free(c->kernel_path);
	free(c->kernel_cmdline);
	free(c->initramfs_path);
	free(c->kernel_console);
	for (unsigned int i = 0; i < c->nr_shares; i++) {
		free(c->shares[i].tag);
		free(c->shares[i].path);
	}
	for (unsigned int i = 0; i < c->nr_overlays; i++) {
		free(c->overlays[i].tag);
		free(c->overlays[i].path);
	}
	for (unsigned int i = 0; i < c->nr_disks; i++) {
		free(c->disks[i].block_id);
		free(c->disks[i].path);
	}
	free(c->root_disk);
	free(c->data_disk);
	free(c->remount_device);
	free(c->remount_fstype);
	free(c->remount_options);
	free(c->exec_path);
	strv_free(c->argv);
	strv_free(c->envp);
	free(c->workdir);
	strv_free(c->rlimits);
	free(c->console_output);
	for (unsigned int i = 0; i < c->nr_multiports; i++)
		for (unsigned int j = 0; j < c->multiports[i].nr_ports; j++)
			release_port(&c->multiports[i].ports[j]);
	if (c->has_serial_console)
		release_port(&c->serial_console);
	strv_free(c->smbios_oem_strings);
	for (unsigned int i = 0; i < c->nr_vhost_users; i++) {
		free(c->vhost_users[i].path);
		free(c->vhost_users[i].name);
	}
	for (unsigned int i = 0; i < c->nr_vsock_ports; i++)
		free(c->vsock_ports[i].path);
	for (unsigned int i = 0; i < c->nr_nets; i++)
		ctx_net_release(&c->nets[i]);
	if (c->has_legacy_net)
		ctx_net_release(&c->legacy_net);
	free(c);
}

int ctx_create(void)
{
	struct krun_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->nr_vcpus = 1;
	c->ram_mib = 128;
	c->implicit_console = true;
	c->implicit_init = true;
	/* Upstream's MAC for the legacy card. */
	memcpy(c->legacy_mac, (uint8_t[6]){0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee}, 6);

	pthread_mutex_lock(&table_lock);
	int ret;
	if (next_id > INT32_MAX) {
		ret = -ENOSPC;
		goto out;
	}
	size_t slot = table_len;
	for (size_t i = 0; i < table_len; i++) {
		if (!table[i]) {
			slot = i;
			break;
		}
	}
	if (slot == table_len) {
		struct krun_ctx **t = realloc(table, (table_len + 8) * sizeof(*t));
		if (!t) {
			ret = -ENOMEM;
			goto out;
		}
		memset(t + table_len, 0, 8 * sizeof(*t));
		table = t;
		table_len += 8;
	}
	c->id = next_id++;
	table[slot] = c;
	ret = (int)c->id;
	c = NULL;
out:
	pthread_mutex_unlock(&table_lock);
	free(c);
	return ret;
}

static struct krun_ctx **find_locked(uint32_t id)
{
	for (size_t i = 0; i < table_len; i++)
		if (table[i] && table[i]->id == id)
			return &table[i];
	return NULL;
}

struct krun_ctx *ctx_take(uint32_t id)
{
	pthread_mutex_lock(&table_lock);
	struct krun_ctx **slot = find_locked(id);
	struct krun_ctx *c = slot ? *slot : NULL;
	if (slot)
		*slot = NULL;
	pthread_mutex_unlock(&table_lock);
	return c;
}

int ctx_free(uint32_t id)
{
	struct krun_ctx *c = ctx_take(id);
	if (!c)
		return -ENOENT;
	ctx_destroy(c);
	return 0;
}

struct krun_ctx *ctx_lock(uint32_t id)
{
	pthread_mutex_lock(&table_lock);
	struct krun_ctx **slot = find_locked(id);
	if (!slot) {
		pthread_mutex_unlock(&table_lock);
		return NULL;
	}
	return *slot;
}

void ctx_unlock(void)
{
	pthread_mutex_unlock(&table_lock);
}
