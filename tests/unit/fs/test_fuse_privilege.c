// SPDX-License-Identifier: Apache-2.0
/*
 * Nothing the guest does through a share gives privilege on the host:
 * device nodes, set-id bits and trusted.* / security.* xattrs stay the
 * guest's (src/backends/fs/meta.c, ops_xattr.c), unless the caller chose
 * privilege passthrough.  Runs unprivileged and as root; as root the host
 * checks are the ones that matter (root could have made all of these real).
 */
#include <dirent.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "test.h"
#include "fs_test_util.h"
#include "backends/fs/fs_priv.h"

#define DEV_1_3 ((1u << 8) | 3u) /* new_encode_dev(makedev(1, 3)) */

static int32_t t_mknod(struct t *t, const char *name, uint32_t mode, uint32_t rdev,
		       struct fuse_entry_out *e)
{
	struct fuse_mknod_in in = { .mode = mode, .rdev = rdev };
	int32_t err = t_req(t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(in), STR(name), END);

	if (!err && e)
		memcpy(e, t_payload(t), sizeof(*e));
	return err;
}

static int32_t t_setattr(struct t *t, uint64_t node, uint32_t valid, uint32_t mode,
			 struct fuse_attr *a)
{
	struct fuse_setattr_in in;
	int32_t err;

	memset(&in, 0, sizeof(in));
	in.valid = valid;
	in.mode = mode;
	in.uid = getuid();
	in.gid = getgid();
	err = t_req(t, FUSE_SETATTR, node, ARG(in), END);
	if (!err && a)
		memcpy(a, &((const struct fuse_attr_out *)t_payload(t))->attr, sizeof(*a));
	return err;
}

static int32_t t_setxattr(struct t *t, uint64_t node, const char *name, const char *value)
{
	struct fuse_setxattr_in in = { .size = (uint32_t)strlen(value) };

	return t_req(t, FUSE_SETXATTR, node, &in, (size_t)FUSE_COMPAT_SETXATTR_IN_SIZE, STR(name),
		     value, strlen(value), END);
}

/* The value in buf (NUL-terminated), or the error. */
static int32_t t_getxattr(struct t *t, uint64_t node, const char *name, char *buf, size_t size)
{
	struct fuse_getxattr_in in = { .size = (uint32_t)size - 1 };
	int32_t err = t_req(t, FUSE_GETXATTR, node, ARG(in), STR(name), END);

	if (!err) {
		memcpy(buf, t_payload(t), t->len);
		buf[t->len] = '\0';
	}
	return err;
}

/* The guest's list with NULs turned into spaces. */
static int32_t t_listxattr(struct t *t, uint64_t node, char *buf, size_t size)
{
	struct fuse_getxattr_in in = { .size = 0 };
	uint32_t need;
	int32_t err = t_req(t, FUSE_LISTXATTR, node, ARG(in), END);

	if (err)
		return err;
	need = ((const struct fuse_getxattr_out *)t_payload(t))->size;
	in.size = (uint32_t)size - 1;
	err = t_req(t, FUSE_LISTXATTR, node, ARG(in), END);
	if (err)
		return err;
	CHECK_EQ(t->len, need);
	memcpy(buf, t_payload(t), t->len);
	buf[t->len] = '\0';
	for (size_t i = 0; i < t->len; i++)
		buf[i] = buf[i] ? buf[i] : ' ';
	return 0;
}

static int32_t t_removexattr(struct t *t, uint64_t node, const char *name)
{
	return t_req(t, FUSE_REMOVEXATTR, node, STR(name), END);
}

/* The host's record of a share file, or "" without one. */
static const char *host_record(struct t *t, const char *rel)
{
	static char buf[128];
	ssize_t n = lgetxattr(tpath(t, rel), FS_META_XATTR, buf, sizeof(buf) - 1);

	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static mode_t host_mode(struct t *t, const char *rel)
{
	struct stat st;

	return lstat(tpath(t, rel), &st) == 0 ? st.st_mode : 0;
}

static void test_meta_format(void)
{
	struct fs_meta m;
	char buf[96];

	CHECK_EQ(fs_meta_parse("0:0:0100755", &m), 0);
	CHECK_EQ(m.mode, 0100755);
	CHECK_EQ(fs_meta_parse("1000:100:0755", &m), 0);
	CHECK_EQ(m.mode, 0755);
	CHECK_EQ(fs_meta_parse("0:0:020666:char-1-3", &m), 0);
	CHECK_EQ(m.mode, 020666);
	CHECK(major(m.rdev) == 1 && minor(m.rdev) == 3);
	CHECK_EQ(fs_meta_parse("0:0:0660:block-8-17", &m), 0);
	CHECK_EQ(m.mode, 060660);
	CHECK(major(m.rdev) == 8 && minor(m.rdev) == 17);
	CHECK_EQ(fs_meta_parse("0:0:04755:file", &m), 0);
	CHECK_EQ(m.mode, 04755);
	CHECK(fs_meta_parse("", &m) != 0);
	CHECK(fs_meta_parse("0:0", &m) != 0);
	CHECK(fs_meta_parse("0:0:9", &m) != 0);
	CHECK(fs_meta_parse("-1:0:0755", &m) != 0);
	CHECK(fs_meta_parse("0:0:0755x", &m) != 0);
	CHECK(fs_meta_parse("0:0:0755:char-1", &m) != 0);
	CHECK(fs_meta_parse("0:0:0100755:char-1-3", &m) != 0);
	CHECK(fs_meta_parse("0:0:0777777", &m) != 0);
	m.mode = 020620;
	m.rdev = makedev(4, 64);
	CHECK(fs_meta_format(&m, 0, 5, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "0:5:020620:char-4-64");
	m.mode = 0104755;
	CHECK(fs_meta_format(&m, 1000, 1000, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "1000:1000:0104755");
}

/* mknod c 1 3: the guest sees /dev/null, the host an empty 0600 file. */
static void test_mknod_device(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_attr a;
	char want[64];
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_mknod(&t, "null", S_IFCHR | 04666, DEV_1_3, &e), 0);
	CHECK_EQ(e.attr.mode, S_IFCHR | 04666);
	CHECK_EQ(e.attr.rdev, DEV_1_3);
	CHECK_EQ(host_mode(&t, "null"), S_IFREG | 0600);
	snprintf(want, sizeof(want), "%u:%u:024666:char-1-3", getuid(), getgid());
	CHECK_STR(host_record(&t, "null"), want);
	CHECK_EQ(t_getattr(&t, e.nodeid, &a), 0);
	CHECK_EQ(a.mode, S_IFCHR | 04666);
	CHECK_EQ(a.rdev, DEV_1_3);
	CHECK_EQ(a.size, 0);
	/* A fresh lookup reads the record again. */
	t_forget(&t, e.nodeid, 1);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "null", &e), 0);
	CHECK_EQ(e.attr.mode, S_IFCHR | 04666);
	CHECK_EQ(e.attr.rdev, DEV_1_3);
	/* The guest kernel opens devices itself; FUSE OPEN never does. */
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh), -ENXIO);
	/* chmod changes the record only; the host file stays 0600. */
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 0620, &a), 0);
	CHECK_EQ(a.mode, S_IFCHR | 0620);
	CHECK_EQ(host_mode(&t, "null"), S_IFREG | 0600);

	CHECK_EQ(t_mknod(&t, "sda1", S_IFBLK | 0660, (8u << 8) | 1u, &e), 0);
	CHECK_EQ(e.attr.mode, S_IFBLK | 0660);
	CHECK_EQ(e.attr.rdev, (8u << 8) | 1u);
	CHECK_EQ(host_mode(&t, "sda1"), S_IFREG | 0600);
	CHECK_EQ(t_mknod(&t, "null", S_IFCHR | 0666, DEV_1_3, NULL), -EEXIST);
	/* Fifos give nothing: real, without set-id bits. */
	CHECK_EQ(t_mknod(&t, "fifo", S_IFIFO | 04644, 0, &e), 0);
	CHECK(S_ISFIFO(host_mode(&t, "fifo")));
	CHECK_EQ(host_mode(&t, "fifo") & 07000, 0);
	t_teardown(&t);
}

/* READDIRPLUS gives the guest's type too. */
static void test_readdirplus_type(void)
{
	struct t t;
	struct fuse_read_in in;
	const unsigned char *p;
	uint64_t fh = 0;
	bool seen = false;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_mknod(&t, "null", S_IFCHR | 0666, DEV_1_3, NULL), 0);
	CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &fh), 0);
	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.size = 65536;
	CHECK_EQ(t_req(&t, FUSE_READDIRPLUS, FUSE_ROOT_ID, ARG(in), END), 0);
	p = t_payload(&t);
	for (size_t off = 0; off + FUSE_NAME_OFFSET_DIRENTPLUS <= t.len;) {
		const struct fuse_direntplus *d = (const void *)(p + off);

		if (d->dirent.namelen == 4 && memcmp(d->dirent.name, "null", 4) == 0) {
			seen = true;
			CHECK_EQ(d->dirent.type, DT_CHR);
			CHECK_EQ(d->entry_out.attr.mode, S_IFCHR | 0666);
		}
		off += FUSE_DIRENTPLUS_SIZE(d);
	}
	CHECK(seen);
	t_release(&t, FUSE_ROOT_ID, fh, true);
	t_teardown(&t);
}

/* touch; chmod 4755: the guest sees -rwsr-xr-x, the host -rwxr-xr-x. */
static void test_setuid_virtual(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_attr a;
	char want[64];
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "y", O_WRONLY, 0644, &e, &fh), 0);
	t_release(&t, e.nodeid, fh, false);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 04755, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 04755);
	CHECK_EQ(host_mode(&t, "y"), S_IFREG | 0755);
	snprintf(want, sizeof(want), "%u:%u:0104755", getuid(), getgid());
	CHECK_STR(host_record(&t, "y"), want);
	CHECK_EQ(t_getattr(&t, e.nodeid, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 04755);
	/* Back to plain: the record goes. */
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 0750, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 0750);
	CHECK_STR(host_record(&t, "y"), "");

	/* CREATE with set-id bits in its mode. */
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "z", O_WRONLY, 06755, &e, &fh), 0);
	CHECK_EQ(e.attr.mode, S_IFREG | 06755);
	CHECK_EQ(host_mode(&t, "z"), S_IFREG | 0755);
	t_release(&t, e.nodeid, fh, false);

	/* MKNOD of a regular file, likewise. */
	CHECK_EQ(t_mknod(&t, "w", S_IFREG | 04711, 0, &e), 0);
	CHECK_EQ(e.attr.mode, S_IFREG | 04711);
	CHECK_EQ(host_mode(&t, "w"), S_IFREG | 0711);

	/* A read-only file (the VMM unprivileged cannot write it) still takes it. */
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "ro", O_WRONLY, 0444, &e, &fh), 0);
	t_release(&t, e.nodeid, fh, false);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 04555, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 04555);
	CHECK_EQ(host_mode(&t, "ro"), S_IFREG | 0555);

	/* Directories keep set-gid on the host: group inheritance, no privilege. */
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "d", 0755, &e), 0);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 02775, &a), 0);
	CHECK_EQ(a.mode, S_IFDIR | 02775);
	CHECK_EQ(host_mode(&t, "d"), S_IFDIR | 02775);
	t_teardown(&t);
}

/* chown clears set-uid, and set-gid with group execute (Linux's rule). */
static void test_chown_kills_setid(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_attr a;
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "y", O_WRONLY, 0644, &e, &fh), 0);
	t_release(&t, e.nodeid, fh, false);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 06755, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 06755);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_UID | FATTR_GID, 0, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 0755);
	CHECK_STR(host_record(&t, "y"), "");
	/* Set-gid without group execute is a locking mark: it stays. */
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 06745, &a), 0);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_UID, 0, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 02745);
	CHECK_EQ(host_mode(&t, "y"), S_IFREG | 0745);
	/* With a mode in the same request the guest decided itself. */
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_UID | FATTR_MODE, 04755, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 04755);
	t_teardown(&t);
}

/* A record someone else wrote (podman, libkrun on macOS) is honoured. */
static void test_foreign_record(void)
{
	struct t t;
	struct fuse_entry_out e;
	static const char rec[] = "0:0:0104755";

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "f"), "x");
	chmod(tpath(&t, "f"), 0755);
	CHECK_EQ(lsetxattr(tpath(&t, "f"), FS_META_XATTR, rec, strlen(rec), 0), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &e), 0);
	CHECK_EQ(e.attr.mode, S_IFREG | 04755);
	/* Permission bits and owner are the host's; only set-id is the record's. */
	chmod(tpath(&t, "f"), 0700);
	CHECK_EQ(t_getattr(&t, e.nodeid, &e.attr), 0);
	CHECK_EQ(e.attr.mode, S_IFREG | 04700);
	CHECK_EQ(e.attr.uid, getuid());
	/* A malformed record is ignored. */
	CHECK_EQ(lsetxattr(tpath(&t, "f"), FS_META_XATTR, "junk", 4, 0), 0);
	CHECK_EQ(t_getattr(&t, e.nodeid, &e.attr), 0);
	CHECK_EQ(e.attr.mode, S_IFREG | 0700);
	t_teardown(&t);
}

/* setfattr -n trusted.t: stored as user.krun.trusted.t, seen as trusted.t. */
static void test_xattr_remap(void)
{
	struct t t;
	struct fuse_entry_out e;
	char buf[512];
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "y", O_WRONLY, 0644, &e, &fh), 0);
	t_release(&t, e.nodeid, fh, false);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 04755, NULL), 0);
	CHECK_EQ(t_setxattr(&t, e.nodeid, "trusted.t", "1"), 0);
	CHECK_EQ(t_setxattr(&t, e.nodeid, "security.capability", "caps"), 0);
	CHECK_EQ(t_setxattr(&t, e.nodeid, "user.u", "plain"), 0);

	CHECK_EQ(lgetxattr(tpath(&t, "y"), "trusted.t", buf, sizeof(buf)), -1);
	CHECK_EQ(errno, ENODATA);
	CHECK_EQ(lgetxattr(tpath(&t, "y"), "security.capability", buf, sizeof(buf)), -1);
	CHECK_EQ(lgetxattr(tpath(&t, "y"), "user.krun.trusted.t", buf, sizeof(buf)), 1);
	CHECK_EQ(lgetxattr(tpath(&t, "y"), "user.krun.security.capability", buf, sizeof(buf)), 4);
	CHECK_EQ(lgetxattr(tpath(&t, "y"), "user.u", buf, sizeof(buf)), 5);

	CHECK_EQ(t_getxattr(&t, e.nodeid, "trusted.t", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "1");
	CHECK_EQ(t_getxattr(&t, e.nodeid, "security.capability", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "caps");
	CHECK_EQ(t_listxattr(&t, e.nodeid, buf, sizeof(buf)), 0);
	CHECK(strstr(buf, "trusted.t ") != NULL);
	CHECK(strstr(buf, "security.capability ") != NULL);
	CHECK(strstr(buf, "user.u ") != NULL);
	CHECK(strstr(buf, "krun") == NULL);
	CHECK(strstr(buf, "override_stat") == NULL);

	CHECK_EQ(t_removexattr(&t, e.nodeid, "trusted.t"), 0);
	CHECK_EQ(lgetxattr(tpath(&t, "y"), "user.krun.trusted.t", buf, sizeof(buf)), -1);
	CHECK_EQ(t_getxattr(&t, e.nodeid, "trusted.t", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(t_removexattr(&t, e.nodeid, "trusted.t"), -ENODATA);
	t_teardown(&t);
}

/* The record and the remap namespace are out of the guest's reach. */
static void test_reserved_names(void)
{
	struct t t;
	struct fuse_entry_out e;
	char buf[256], want[64];
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "y", O_WRONLY, 04755, &e, &fh), 0);
	t_release(&t, e.nodeid, fh, false);
	snprintf(want, sizeof(want), "%u:%u:0104755", getuid(), getgid());
	CHECK_STR(host_record(&t, "y"), want);
	CHECK_EQ(t_setxattr(&t, e.nodeid, FS_META_XATTR, "0:0:020666:char-1-3"), -EPERM);
	CHECK_EQ(t_setxattr(&t, e.nodeid, "user.krun.trusted.t", "1"), -EPERM);
	CHECK_EQ(t_setxattr(&t, e.nodeid, "user.krun.x", "1"), -EPERM);
	CHECK_EQ(t_getxattr(&t, e.nodeid, FS_META_XATTR, buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(t_removexattr(&t, e.nodeid, FS_META_XATTR), -ENODATA);
	CHECK_STR(host_record(&t, "y"), want);
	CHECK_EQ(t_setxattr(&t, e.nodeid, "trusted.t", "1"), 0);
	CHECK_EQ(t_getxattr(&t, e.nodeid, "user.krun.trusted.t", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(t_removexattr(&t, e.nodeid, "user.krun.trusted.t"), -ENODATA);
	t_teardown(&t);
}

/* Real host trusted.* attributes (root only can set them) stay visible. */
static void test_host_trusted_xattr(void)
{
	struct t t;
	struct fuse_entry_out e;
	char buf[256];

	if (geteuid() != 0)
		return;
	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "f"), "x");
	CHECK_EQ(lsetxattr(tpath(&t, "f"), "trusted.h", "host", 4, 0), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &e), 0);
	CHECK_EQ(t_getxattr(&t, e.nodeid, "trusted.h", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "host");
	CHECK_EQ(t_listxattr(&t, e.nodeid, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "trusted.h ");
	CHECK_EQ(t_removexattr(&t, e.nodeid, "trusted.h"), -EPERM);
	/* The guest's own value shadows it, listed once. */
	CHECK_EQ(t_setxattr(&t, e.nodeid, "trusted.h", "guest"), 0);
	CHECK_EQ(t_getxattr(&t, e.nodeid, "trusted.h", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "guest");
	CHECK_EQ(t_listxattr(&t, e.nodeid, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "trusted.h ");
	CHECK_EQ(lgetxattr(tpath(&t, "f"), "trusted.h", buf, sizeof(buf)), 4);
	t_teardown(&t);
}

/* The caller's explicit choice: upstream's behaviour. */
static void test_passthrough(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_attr a;
	char buf[64];
	uint64_t fh;
	bool root = geteuid() == 0;

	CHECK_EQ(t_setup(&t), 0);
	fuse_server_set_privilege_passthrough(t.srv, true);
	CHECK_EQ(t_mknod(&t, "null", S_IFCHR | 0666, DEV_1_3, &e), root ? 0 : -EPERM);
	if (root) {
		CHECK(S_ISCHR(host_mode(&t, "null")));
		CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh), -ENXIO);
	}
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "y", O_WRONLY, 0644, &e, &fh), 0);
	t_release(&t, e.nodeid, fh, false);
	CHECK_EQ(t_setattr(&t, e.nodeid, FATTR_MODE, 04755, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 04755);
	CHECK_EQ(host_mode(&t, "y"), S_IFREG | 04755);
	CHECK_STR(host_record(&t, "y"), "");
	CHECK_EQ(t_setxattr(&t, e.nodeid, "trusted.t", "1"), root ? 0 : -EPERM);
	if (root)
		CHECK_EQ(lgetxattr(tpath(&t, "y"), "trusted.t", buf, sizeof(buf)), 1);
	CHECK_EQ(t_setxattr(&t, e.nodeid, FS_META_XATTR, "0:0:0100755"), 0);
	CHECK_EQ(t_getxattr(&t, e.nodeid, FS_META_XATTR, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "0:0:0100755");
	t_teardown(&t);
}

int main(void)
{
	RUN_TEST(test_meta_format);
	RUN_TEST(test_mknod_device);
	RUN_TEST(test_readdirplus_type);
	RUN_TEST(test_setuid_virtual);
	RUN_TEST(test_chown_kills_setid);
	RUN_TEST(test_foreign_record);
	RUN_TEST(test_xattr_remap);
	RUN_TEST(test_reserved_names);
	RUN_TEST(test_host_trusted_xattr);
	RUN_TEST(test_passthrough);
	TEST_MAIN_END();
}
