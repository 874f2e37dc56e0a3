// SPDX-License-Identifier: Apache-2.0
/* Argument checks and upstream's rules for the network-card entry points:
 * what is refused, that a card turns the implicit TSI off, the legacy
 * card's rules, and that handed-over fds are the context's to close. */
#include "../test.h"

#include <errno.h>
#include <fcntl.h>
#include <libkrun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/ctx.h"
#include "api/vsock.h"

static uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int stream_fd(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	close(sv[1]);
	return sv[0];
}

static void test_unixstream_arguments(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	int fd = stream_fd();
	char longp[200];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;

	CHECK_EQ(krun_add_net_unixstream(c, NULL, -1, mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_unixstream(c, "/tmp/p.sock", fd, mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_unixstream(c, "/tmp/p.sock", -1, NULL, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_unixstream(c, longp, -1, mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_unixstream(c, "", -1, mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_unixstream(c, NULL, 1000, mac, 0, 0), -EINVAL);	/* not open */
	CHECK_EQ(krun_add_net_unixstream(c, NULL, fd, mac, 1u << 2, 0), -EINVAL);
	CHECK_EQ(krun_add_net_unixstream(c, NULL, fd, mac, 0, NET_FLAG_VFKIT), -EINVAL);
	CHECK_EQ(krun_add_net_unixstream(12345, NULL, fd, mac, 0, 0), -ENOENT);
	CHECK(fd_open(fd));	/* refused calls do not take the fd */
	CHECK_EQ(krun_add_net_unixstream(c, NULL, fd, mac, COMPAT_NET_FEATURES,
					 NET_FLAG_DHCP_CLIENT), 0);
	CHECK_EQ(krun_add_net_unixstream(c, "/tmp/p.sock", -1, mac, NET_FEATURE_HOST_TSO6, 0), 0);
	/* The context owns the fd it took: freeing it closes the fd. */
	CHECK_EQ(krun_free_ctx(c), 0);
	CHECK(!fd_open(fd));
}

static void test_unixgram_and_tap_arguments(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();

	CHECK_EQ(krun_add_net_unixgram(c, NULL, -1, mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_unixgram(c, "/tmp/g.sock", -1, mac, 0, 1u << 2), -EINVAL);
	CHECK_EQ(krun_add_net_unixgram(c, "/tmp/g.sock", -1, mac, 0,
				       NET_FLAG_VFKIT | NET_FLAG_DHCP_CLIENT), 0);
	CHECK_EQ(krun_add_net_tap(c, NULL, mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_tap(c, (char *)"", mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_tap(c, (char *)"a-name-longer-than-ifnamsiz", mac, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_tap(c, (char *)"tap0", NULL, 0, 0), -EINVAL);
	CHECK_EQ(krun_add_net_tap(c, (char *)"tap0", mac, NET_FEATURE_GUEST_TSO4, 0), -EINVAL);
	CHECK_EQ(krun_add_net_tap(c, (char *)"tap0", mac, NET_FEATURE_GUEST_UFO, 0), -EINVAL);
	CHECK_EQ(krun_add_net_tap(c, (char *)"tap0", mac,
				  NET_FEATURE_GUEST_CSUM | NET_FEATURE_GUEST_TSO4, 0), 0);
	/* At most CTX_MAX_NETS cards. */
	for (int i = 2; i < CTX_MAX_NETS; i++)
		CHECK_EQ(krun_add_net_tap(c, (char *)"tap1", mac, 0, 0), 0);
	CHECK_EQ(krun_add_net_tap(c, (char *)"tap9", mac, 0, 0), -ENOSPC);
	krun_free_ctx(c);
}

static void test_card_turns_tsi_off(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	const char *map[] = { "8080:80", NULL };

	CHECK_EQ(krun_add_net_unixstream(c, "/tmp/p.sock", -1, mac, 0, 0), 0);
	/* The port map is TSI's, and TSI is off with a card (as upstream). */
	CHECK_EQ(krun_set_port_map(c, map), -EINVAL);
	struct krun_ctx *ctx = ctx_lock(c);
	CHECK_EQ(vsock_tsi_flags(ctx), 0);
	ctx_unlock();
	krun_free_ctx(c);

	/* Without a card the implicit device carries inet TSI. */
	c = (uint32_t)krun_create_ctx();
	ctx = ctx_lock(c);
	CHECK_EQ(vsock_tsi_flags(ctx), KRUN_TSI_HIJACK_INET);
	ctx_unlock();
	/* The legacy card turns it off as well. */
	CHECK_EQ(krun_set_gvproxy_path(c, (char *)"/tmp/gv.sock"), 0);
	ctx = ctx_lock(c);
	CHECK_EQ(vsock_tsi_flags(ctx), 0);
	ctx_unlock();
	krun_free_ctx(c);
}

static void test_legacy_card(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	int fd = stream_fd(), fd2 = stream_fd();

	CHECK_EQ(krun_set_passt_fd(c, -1), -EINVAL);
	CHECK_EQ(krun_set_gvproxy_path(c, NULL), -EINVAL);
	CHECK_EQ(krun_set_net_mac(c, NULL), -EINVAL);
	CHECK_EQ(krun_set_net_mac(c, mac), 0);
	CHECK_EQ(krun_set_passt_fd(c, fd), 0);
	struct krun_ctx *ctx = ctx_lock(c);
	CHECK(ctx->has_legacy_net);
	CHECK_EQ(ctx->legacy_net.features, COMPAT_NET_FEATURES);
	CHECK(memcmp(ctx->legacy_mac, mac, 6) == 0);
	ctx_unlock();
	/* A second legacy call replaces the card and closes the first fd. */
	CHECK_EQ(krun_set_passt_fd(c, fd2), 0);
	CHECK(!fd_open(fd));
	CHECK(fd_open(fd2));
	krun_free_ctx(c);
	CHECK(!fd_open(fd2));

	/* Legacy calls next to krun_add_net_* are refused. */
	c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_net_unixgram(c, "/tmp/g.sock", -1, mac, 0, 0), 0);
	CHECK_EQ(krun_set_gvproxy_path(c, (char *)"/tmp/gv.sock"), -EINVAL);
	CHECK_EQ(krun_set_net_mac(c, mac), -EINVAL);
	krun_free_ctx(c);
}

/* A peer that is not there fails the start, before the VM exists. */
static void test_missing_peer_fails_start(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();

	CHECK_EQ(krun_set_root(c, "/"), 0);
	/* Any file: the start refuses before it reads the kernel. */
	CHECK_EQ(krun_set_kernel(c, "/proc/self/exe", KRUN_KERNEL_FORMAT_ELF, NULL, NULL), 0);
	CHECK_EQ(krun_add_net_unixstream(c, "/nonexistent/passt.sock", -1, mac, 0, 0), 0);
	CHECK_EQ(krun_start_enter(c), -ENOENT);
	CHECK_EQ(krun_free_ctx(c), -ENOENT);	/* the start took the context */
}

int main(void)
{
	krun_set_log_level(getenv("TEST_LOG") ? KRUN_LOG_LEVEL_DEBUG : KRUN_LOG_LEVEL_OFF);
	CHECK_EQ(krun_has_feature(KRUN_FEATURE_NET), 1);
	RUN_TEST(test_unixstream_arguments);
	RUN_TEST(test_unixgram_and_tap_arguments);
	RUN_TEST(test_card_turns_tsi_off);
	RUN_TEST(test_legacy_card);
	RUN_TEST(test_missing_peer_fails_start);
	TEST_MAIN_END();
}
