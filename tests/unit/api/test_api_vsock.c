// SPDX-License-Identifier: Apache-2.0
/* Argument checks and upstream's rules for the vsock entry points, and what
 * krun_start_enter would build from them (vsock_device_for). */
#include "../test.h"

#include <errno.h>
#include <fcntl.h>
#include <libkrun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/ctx.h"
#include "api/vsock.h"

static char tmpdir[] = "/tmp/krun-vsock-api-XXXXXX";

static const char *tmp_path(const char *name)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* The device krun_start_enter would create for ctx (NULL: none). */
static struct virtio_vsock *device_of(uint32_t id, int *ret)
{
	struct krun_ctx *c = ctx_take(id);
	struct virtio_vsock *v = NULL;
	*ret = c ? vsock_device_for(c, &v) : -ENOENT;
	ctx_destroy(c);
	return v;
}

static void test_add_port_arguments(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	char longp[200];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;

	CHECK_EQ(krun_add_vsock_port(c, 1, NULL), -EINVAL);
	CHECK_EQ(krun_add_vsock_port(c, 1, ""), -EINVAL);
	CHECK_EQ(krun_add_vsock_port(c, 1, longp), -EINVAL);
	CHECK_EQ(krun_add_vsock_port(12345, 1, "/tmp/x.sock"), -ENOENT);
	CHECK_EQ(krun_add_vsock_port(c, 1, tmp_path("a.sock")), 0);
	CHECK_EQ(krun_add_vsock_port2(c, 1, tmp_path("b.sock"), false), -EEXIST);
	CHECK_EQ(krun_add_vsock_port2(c, 2, tmp_path("b.sock"), true), 0);
	/* listen=true refuses a path that exists (as upstream). */
	int fd = open(tmp_path("exists"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	CHECK_EQ(krun_add_vsock_port2(c, 3, tmp_path("exists"), true), -EEXIST);
	CHECK_EQ(krun_add_vsock_port2(c, 3, tmp_path("exists"), false), 0);
	for (uint32_t p = 4; p < CTX_MAX_VSOCK_PORTS + 1; p++)
		CHECK_EQ(krun_add_vsock_port(c, p, tmp_path("many.sock")), 0);
	CHECK_EQ(krun_add_vsock_port(c, 1000, tmp_path("many.sock")), -ENOSPC);
	krun_free_ctx(c);
	unlink(tmp_path("exists"));
}

static void test_add_vsock_rules(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_vsock(c, 0), -EEXIST);	/* implicit one still there */
	CHECK_EQ(krun_disable_implicit_vsock(c), 0);
	CHECK_EQ(krun_add_vsock_port(c, 1, tmp_path("a.sock")), -ENODEV);
	CHECK_EQ(krun_add_vsock(c, 1u << 5), -EINVAL);
	CHECK_EQ(krun_add_vsock(c, KRUN_TSI_HIJACK_INET | KRUN_TSI_HIJACK_UNIX), 0);
	CHECK_EQ(krun_add_vsock(c, 0), -EEXIST);	/* only one device */
	CHECK_EQ(krun_add_vsock_port(c, 1, tmp_path("a.sock")), 0);
	krun_free_ctx(c);
	CHECK_EQ(krun_disable_implicit_vsock(12345), -ENOENT);
	CHECK_EQ(krun_add_vsock(12345, 0), -ENOENT);
}

static void test_device_creation(void)
{
	int ret;
	/* No ports, no krun_add_vsock, no port map: the implicit device, with
	 * TSI for inet sockets (the VM's network), as upstream. */
	uint32_t c = (uint32_t)krun_create_ctx();
	CHECK_EQ(vsock_tsi_flags(ctx_lock(c)), KRUN_TSI_HIJACK_INET);
	ctx_unlock();
	struct virtio_vsock *implicit = device_of(c, &ret);
	CHECK(implicit != NULL);
	CHECK_EQ(ret, 0);
	virtio_vsock_destroy(implicit);
	/* Disabled: no device, no TSI. */
	c = (uint32_t)krun_create_ctx();
	krun_disable_implicit_vsock(c);
	CHECK_EQ(vsock_tsi_flags(ctx_lock(c)), 0);
	ctx_unlock();
	CHECK(device_of(c, &ret) == NULL);
	CHECK_EQ(ret, 0);

	/* Explicit device without ports. */
	c = (uint32_t)krun_create_ctx();
	krun_disable_implicit_vsock(c);
	krun_add_vsock(c, 0);
	struct virtio_vsock *v = device_of(c, &ret);
	CHECK(v != NULL);
	virtio_vsock_destroy(v);

	/* Ports: the listener's socket file exists while the device does. */
	c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_vsock_port2(c, 7, tmp_path("l.sock"), true), 0);
	CHECK_EQ(krun_add_vsock_port(c, 8, tmp_path("c.sock")), 0);
	v = device_of(c, &ret);
	CHECK(v != NULL);
	struct stat st;
	CHECK(stat(tmp_path("l.sock"), &st) == 0 && S_ISSOCK(st.st_mode));
	virtio_vsock_destroy(v);
	CHECK(access(tmp_path("l.sock"), F_OK) != 0);

	/* The path appeared between the API call and the start. */
	c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_vsock_port2(c, 7, tmp_path("late.sock"), true), 0);
	int fd = open(tmp_path("late.sock"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	CHECK(device_of(c, &ret) == NULL);
	CHECK_EQ(ret, -EADDRINUSE);
	CHECK_EQ(access(tmp_path("late.sock"), F_OK), 0);
	unlink(tmp_path("late.sock"));

	/* Ports recorded, then the device disabled: none. */
	c = (uint32_t)krun_create_ctx();
	krun_add_vsock_port(c, 9, tmp_path("c.sock"));
	krun_disable_implicit_vsock(c);
	CHECK(device_of(c, &ret) == NULL);
	CHECK_EQ(ret, 0);
}

static void test_port_map(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	const char *const ok[] = { "8080:80", "2222:22", "0:65535", NULL };
	CHECK_EQ(krun_set_port_map(c, ok), 0);
	struct krun_ctx *x = ctx_lock(c);
	CHECK(x != NULL);
	CHECK(x->has_port_map);
	CHECK_EQ(x->nr_port_map, 3);
	CHECK_EQ(x->port_map[0].host, 8080);
	CHECK_EQ(x->port_map[0].guest, 80);
	CHECK_EQ(x->port_map[2].guest, 65535);
	ctx_unlock();
	/* The implicit device with TSI for inet sockets. */
	CHECK_EQ(vsock_tsi_flags(ctx_lock(c)), KRUN_TSI_HIJACK_INET);
	ctx_unlock();

	static const char *const bad[][3] = {
		{ "80", NULL }, { "80:", NULL }, { ":80", NULL }, { "65536:1", NULL },
		{ "1:2:3", NULL }, { "+1:2", NULL }, { " 1:2", NULL }, { "1:2x", NULL },
		{ "", NULL }, { "1:2", "1:3" }, { "1:2", "3:2" }, { "000001:2", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(krun_set_port_map(c, bad[i]), -EINVAL);
	/* A refused map leaves the previous one. */
	x = ctx_lock(c);
	CHECK_EQ(x->nr_port_map, 3);
	ctx_unlock();
	/* NULL: TSI without a map (every guest listener exposed as itself). */
	CHECK_EQ(krun_set_port_map(c, NULL), 0);
	x = ctx_lock(c);
	CHECK(!x->has_port_map);
	ctx_unlock();
	krun_free_ctx(c);
	CHECK_EQ(krun_set_port_map(c, ok), -ENOENT);

	c = (uint32_t)krun_create_ctx();
	krun_disable_implicit_vsock(c);
	CHECK_EQ(krun_set_port_map(c, ok), -ENODEV);
	/* An explicit device's TSI is what krun_add_vsock asked for. */
	CHECK_EQ(krun_add_vsock(c, 0), 0);
	CHECK_EQ(krun_set_port_map(c, ok), 0);
	CHECK_EQ(vsock_tsi_flags(ctx_lock(c)), 0);
	ctx_unlock();
	int ret;
	struct virtio_vsock *v = device_of(c, &ret);
	CHECK(v != NULL);
	virtio_vsock_destroy(v);

	/* A map on the implicit device keeps its inet TSI. */
	c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_set_port_map(c, ok), 0);
	CHECK_EQ(vsock_tsi_flags(ctx_lock(c)), KRUN_TSI_HIJACK_INET);
	ctx_unlock();
	v = device_of(c, &ret);
	CHECK(v != NULL);
	CHECK_EQ(ret, 0);
	virtio_vsock_destroy(v);

	/* Unix TSI needs the host's / as the guest's root. */
	c = (uint32_t)krun_create_ctx();
	krun_disable_implicit_vsock(c);
	krun_add_vsock(c, KRUN_TSI_HIJACK_INET | KRUN_TSI_HIJACK_UNIX);
	CHECK_EQ(krun_set_root(c, tmpdir), 0);
	CHECK_EQ(vsock_tsi_flags(ctx_lock(c)), KRUN_TSI_HIJACK_INET);
	ctx_unlock();
	krun_free_ctx(c);
	c = (uint32_t)krun_create_ctx();
	krun_disable_implicit_vsock(c);
	krun_add_vsock(c, KRUN_TSI_HIJACK_UNIX);
	CHECK_EQ(krun_set_root(c, "/"), 0);
	CHECK_EQ(vsock_tsi_flags(ctx_lock(c)), KRUN_TSI_HIJACK_UNIX);
	ctx_unlock();
	krun_free_ctx(c);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	krun_set_log_level(KRUN_LOG_LEVEL_OFF);
	RUN_TEST(test_add_port_arguments);
	RUN_TEST(test_add_vsock_rules);
	RUN_TEST(test_device_creation);
	RUN_TEST(test_port_map);
	rmdir(tmpdir);
	TEST_MAIN_END();
}
