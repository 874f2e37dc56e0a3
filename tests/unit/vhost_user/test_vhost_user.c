// SPDX-License-Identifier: Apache-2.0
/*
 * The vhost-user frontend's socket protocol against a fake backend played
 * by the test over a socketpair: replies are written into the socket before
 * the call that reads them, then the request the frontend sent is read back
 * and checked (framing, flags, descriptors passed with SCM_RIGHTS).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "backends/vhost_user/vhost_user.h"
#include "vu_test_msg.h"

struct pair {
	struct vu_conn c;
	int be;		/* the fake backend's end */
};

static void pair_open(struct pair *p, int timeout_ms)
{
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	vu_conn_init(&p->c, sv[0], "test", timeout_ms);
	p->be = sv[1];
}

static void pair_close(struct pair *p)
{
	vu_close(&p->c);
	if (p->be >= 0)
		close(p->be);
}

static void put_raw(struct pair *p, uint32_t req, uint32_t flags, const void *payload,
		    uint32_t size, uint32_t claimed)
{
	uint8_t buf[1024];
	memcpy(buf, &req, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &claimed, 4);
	memcpy(buf + 12, payload, size);
	CHECK_EQ(write(p->be, buf, 12 + size), (ssize_t)(12 + size));
}

static void put_reply(struct pair *p, uint32_t req, const void *payload, uint32_t size)
{
	put_raw(p, req, VU_FLAG_VERSION | VU_FLAG_REPLY, payload, size, size);
}

#define req vu_test_msg

/* Reads the next request the frontend sent, with its descriptors. */
static int get_req(struct pair *p, struct req *r)
{
	return vu_test_read_msg(p->be, MSG_DONTWAIT, r);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_get_features(void)
{
	struct pair p;
	pair_open(&p, 1000);
	uint64_t want = (1ull << 32) | (1ull << VU_F_PROTOCOL_FEATURES), got = 0;
	put_reply(&p, VU_GET_FEATURES, &want, 8);
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &got), 0);
	CHECK(got == want);
	struct req r;
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.code, VU_GET_FEATURES);
	CHECK_EQ(r.flags, VU_FLAG_VERSION);
	CHECK_EQ(r.size, 0);
	CHECK_EQ(r.nfds, 0);
	pair_close(&p);
}

static void test_set_features_payload(void)
{
	struct pair p;
	pair_open(&p, 1000);
	CHECK_EQ(vu_set_u64(&p.c, VU_SET_FEATURES, 0x123456789ull), 0);
	struct req r;
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.code, VU_SET_FEATURES);
	CHECK_EQ(r.size, 8);
	uint64_t v;
	memcpy(&v, r.payload, 8);
	CHECK(v == 0x123456789ull);
	pair_close(&p);
}

static void test_mem_table_passes_fds(void)
{
	struct pair p;
	pair_open(&p, 1000);
	int m0 = memfd_create("ram0", MFD_CLOEXEC), m1 = memfd_create("ram1", MFD_CLOEXEC);
	CHECK(m0 >= 0 && m1 >= 0);
	struct vu_region regs[2] = {
		{ .gpa = 0, .size = 0x100000, .uaddr = 0x7f0000000000, .mmap_offset = 0, .fd = m0 },
		{ .gpa = 0x200000, .size = 0x300000, .uaddr = 0x7f1000000000, .mmap_offset = 0x1000,
		  .fd = m1 },
	};
	CHECK_EQ(vu_set_mem_table(&p.c, regs, 2), 0);
	struct req r;
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.code, VU_SET_MEM_TABLE);
	CHECK_EQ(r.size, 8 + 2 * 32);
	CHECK_EQ(r.nfds, 2);
	uint32_t n;
	memcpy(&n, r.payload, 4);
	CHECK_EQ(n, 2);
	uint64_t f[4];
	memcpy(f, r.payload + 8 + 32, 32);
	CHECK(f[0] == 0x200000 && f[1] == 0x300000 && f[2] == 0x7f1000000000 && f[3] == 0x1000);
	/* The descriptors received are the same files. */
	for (int i = 0; i < r.nfds && i < 2; i++) {
		struct stat a, b;
		CHECK_EQ(fstat(r.fds[i], &a), 0);
		CHECK_EQ(fstat(regs[i].fd, &b), 0);
		CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
		close(r.fds[i]);
	}
	CHECK_EQ(vu_set_mem_table(&p.c, regs, 0), -EINVAL);
	CHECK_EQ(vu_set_mem_table(&p.c, regs, VU_MAX_REGIONS + 1), -EINVAL);
	close(m0);
	close(m1);
	pair_close(&p);
}

static void test_vring_fds(void)
{
	struct pair p;
	pair_open(&p, 1000);
	int efd[2];
	CHECK_EQ(pipe(efd), 0);
	CHECK_EQ(vu_set_vring_fd(&p.c, VU_SET_VRING_KICK, 3, efd[0]), 0);
	CHECK_EQ(vu_set_vring_fd(&p.c, VU_SET_VRING_CALL, 1, -1), 0);
	struct req r;
	uint64_t v;
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.code, VU_SET_VRING_KICK);
	CHECK_EQ(r.nfds, 1);
	memcpy(&v, r.payload, 8);
	CHECK(v == 3);
	if (r.nfds == 1)
		close(r.fds[0]);
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.code, VU_SET_VRING_CALL);
	CHECK_EQ(r.nfds, 0);
	memcpy(&v, r.payload, 8);
	CHECK(v == (1u | 1u << 8));
	close(efd[0]);
	close(efd[1]);
	pair_close(&p);
}

static void test_reply_ack(void)
{
	struct pair p;
	pair_open(&p, 1000);
	p.c.protocol_features = 1ull << VU_PROTOCOL_F_REPLY_ACK;
	uint64_t ok = 0, refused = 1;
	put_reply(&p, VU_SET_OWNER, &ok, 8);
	CHECK_EQ(vu_set_owner(&p.c), 0);
	struct req r;
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.flags, VU_FLAG_VERSION | VU_FLAG_NEED_REPLY);
	/* A request with its own reply asks for no acknowledgement. */
	uint64_t feat = 1;
	put_reply(&p, VU_GET_FEATURES, &feat, 8);
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &feat), 0);
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.flags, VU_FLAG_VERSION);
	put_reply(&p, VU_SET_FEATURES, &refused, 8);
	CHECK_EQ(vu_set_u64(&p.c, VU_SET_FEATURES, 0), -EIO);
	CHECK(p.c.broken);
	pair_close(&p);
}

/* Each malformed reply fails the call, breaks the connection, and every
 * later call fails at once without touching the socket. */
static void check_malformed(uint32_t req, uint32_t flags, uint32_t size, uint32_t claimed,
			    int want)
{
	struct pair p;
	pair_open(&p, 1000);
	uint8_t payload[600] = {0};
	put_raw(&p, req, flags, payload, size, claimed);
	uint64_t v;
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &v), want);
	CHECK(p.c.broken);
	struct req r;
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &v), -EPIPE);
	CHECK_EQ(get_req(&p, &r), -1);	/* nothing more was sent */
	pair_close(&p);
}

static void test_malformed_replies(void)
{
	const uint32_t ok = VU_FLAG_VERSION | VU_FLAG_REPLY;
	check_malformed(VU_GET_PROTOCOL_FEATURES, ok, 8, 8, -EPROTO);	/* wrong code */
	check_malformed(VU_GET_FEATURES, VU_FLAG_VERSION, 8, 8, -EPROTO);	/* no reply bit */
	check_malformed(VU_GET_FEATURES, ok | VU_FLAG_NEED_REPLY, 8, 8, -EPROTO);
	check_malformed(VU_GET_FEATURES, VU_FLAG_REPLY | 2, 8, 8, -EPROTO);	/* version 2 */
	check_malformed(VU_GET_FEATURES, ok, 4, 4, -EPROTO);		/* short u64 */
	check_malformed(VU_GET_FEATURES, ok, 16, 16, -EPROTO);	/* oversized */
	check_malformed(VU_GET_FEATURES, ok, 0, 0xffffffffu, -EPROTO);	/* huge size */
}

static void test_truncated_then_hangup(void)
{
	struct pair p;
	pair_open(&p, 2000);
	put_raw(&p, VU_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, "abcd", 4, 8);
	shutdown(p.be, SHUT_WR);
	uint64_t v;
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &v), -EPIPE);
	pair_close(&p);
}

static void test_backend_closes(void)
{
	struct pair p;
	pair_open(&p, 2000);
	close(p.be);
	p.be = -1;
	uint64_t v;
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &v), -EPIPE);
	CHECK_EQ(vu_set_owner(&p.c), -EPIPE);
	pair_close(&p);
}

static void test_silent_backend_times_out(void)
{
	struct pair p;
	pair_open(&p, 200);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t v;
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &v), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	CHECK(s >= 0.15 && s < 5.0);
	pair_close(&p);
}

static void test_backend_fds_closed(void)
{
	struct pair p;
	pair_open(&p, 1000);
	int pf[2];
	CHECK_EQ(pipe(pf), 0);
	uint8_t msg[20];
	uint32_t h[3] = { VU_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, 8 };
	uint64_t val = 7;
	memcpy(msg, h, 12);
	memcpy(msg + 12, &val, 8);
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr a;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { msg, sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(cm), pf, sizeof(pf));
	CHECK_EQ(sendmsg(p.be, &mh, 0), (ssize_t)sizeof(msg));
	int before = count_fds();
	uint64_t v = 0;
	CHECK_EQ(vu_get_u64(&p.c, VU_GET_FEATURES, &v), 0);
	CHECK(v == 7);
	CHECK_EQ(count_fds(), before);
	close(pf[0]);
	close(pf[1]);
	pair_close(&p);
}

static void test_config(void)
{
	struct pair p;
	pair_open(&p, 1000);
	uint8_t reply[12 + 40] = {0};
	uint32_t h[3] = { 0, 40, 0 };
	memcpy(reply, h, 12);
	memcpy(reply + 12, "myfs", 4);
	put_reply(&p, VU_GET_CONFIG, reply, sizeof(reply));
	uint8_t cfg[40];
	CHECK_EQ(vu_get_config(&p.c, 0, cfg, 40), 0);
	CHECK(memcmp(cfg, "myfs", 4) == 0);
	struct req r;
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.code, VU_GET_CONFIG);
	CHECK_EQ(r.size, 12 + 40);
	CHECK_EQ(vu_get_config(&p.c, 250, cfg, 40), -EINVAL);	/* past 256 bytes */
	CHECK(!p.c.broken);
	/* An answer for another offset is refused. */
	h[0] = 4;
	memcpy(reply, h, 12);
	put_reply(&p, VU_GET_CONFIG, reply, sizeof(reply));
	CHECK_EQ(vu_get_config(&p.c, 0, cfg, 40), -EPROTO);
	pair_close(&p);

	pair_open(&p, 1000);
	CHECK_EQ(vu_set_config(&p.c, 8, "\1\2\3\4", 4), 0);
	CHECK_EQ(get_req(&p, &r), 0);
	CHECK_EQ(r.code, VU_SET_CONFIG);
	CHECK_EQ(r.size, 16);
	CHECK(memcmp(r.payload + 12, "\1\2\3\4", 4) == 0);
	pair_close(&p);
}

static void test_vring_base(void)
{
	struct pair p;
	pair_open(&p, 1000);
	uint32_t s[2] = { 1, 77 };
	put_reply(&p, VU_GET_VRING_BASE, s, 8);
	uint32_t base = 0;
	CHECK_EQ(vu_get_vring_base(&p.c, 1, &base), 0);
	CHECK_EQ(base, 77);
	put_reply(&p, VU_GET_VRING_BASE, s, 8);
	CHECK_EQ(vu_get_vring_base(&p.c, 2, &base), -EPROTO);	/* other queue */
	pair_close(&p);
}

static void test_connect(void)
{
	struct vu_conn c;
	CHECK_EQ(vu_connect(&c, "/nonexistent/vhost.sock", "vhost-user-t", 100), -ENOENT);
	char path[108];
	snprintf(path, sizeof(path), "/tmp/test-vu-%d.sock", (int)getpid());
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	unlink(path);
	CHECK_EQ(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(l, 1), 0);
	CHECK_EQ(vu_connect(&c, path, "vhost-user-t", 100), 0);
	CHECK(!c.broken);
	vu_close(&c);
	close(l);
	unlink(path);
}

static void test_parse_reply(void)
{
	uint8_t buf[20] = {0}, out[8];
	size_t n = 99;
	uint32_t h[3] = { 1, 5, 8 };
	memcpy(buf, h, 12);
	CHECK_EQ(vu_parse_reply(buf, 20, 1, out, 8, &n), 0);
	CHECK_EQ(n, 8);
	CHECK_EQ(vu_parse_reply(buf, 19, 1, out, 8, &n), -EPROTO);
	CHECK_EQ(vu_parse_reply(buf, 20, 1, out, 4, &n), -EPROTO);
	CHECK_EQ(vu_parse_reply(buf, 11, 1, out, 8, &n), -EPROTO);
}

int main(void)
{
	RUN_TEST(test_parse_reply);
	RUN_TEST(test_get_features);
	RUN_TEST(test_set_features_payload);
	RUN_TEST(test_mem_table_passes_fds);
	RUN_TEST(test_vring_fds);
	RUN_TEST(test_reply_ack);
	RUN_TEST(test_malformed_replies);
	RUN_TEST(test_truncated_then_hangup);
	RUN_TEST(test_backend_closes);
	RUN_TEST(test_silent_backend_times_out);
	RUN_TEST(test_backend_fds_closed);
	RUN_TEST(test_config);
	RUN_TEST(test_vring_base);
	RUN_TEST(test_connect);
	TEST_MAIN_END();
}
