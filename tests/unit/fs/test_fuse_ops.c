// SPDX-License-Identifier: Apache-2.0
/* FUSE passthrough operations, driven directly with in-memory requests. */
#include <dirent.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "test.h"
#include "fs_test_util.h"

static void test_init_negotiation(void)
{
	struct t t;
	const struct fuse_init_out *o;

	CHECK_EQ(t_setup_opts(&t, false, false), 0);
	/* Nothing but INIT before INIT. */
	CHECK_EQ(t_getattr(&t, FUSE_ROOT_ID, NULL), -EIO);

	CHECK_EQ(t_init(&t, 7, 38), 0);
	o = t_payload(&t);
	CHECK_EQ(t.len, sizeof(*o));
	CHECK_EQ(o->major, 7);
	CHECK_EQ(o->minor, 38);
	CHECK_EQ(o->max_write, 1u << 20);
	CHECK_EQ(o->max_pages, 256);
	CHECK_EQ(o->max_readahead, 128 * 1024);
	CHECK(o->flags & FUSE_DO_READDIRPLUS);
	CHECK(o->flags & FUSE_POSIX_LOCKS);
	CHECK(o->flags & FUSE_FLOCK_LOCKS);
	CHECK(o->flags & FUSE_MAX_PAGES);
	CHECK(!(o->flags & FUSE_EXPORT_SUPPORT));
	CHECK(!(o->flags & FUSE_WRITEBACK_CACHE));
	CHECK(!(o->flags & FUSE_SETXATTR_EXT));

	/* The guest 6.1 kernel: 7.37 -> we answer 7.37. */
	CHECK_EQ(t_init(&t, 7, 37), 0);
	CHECK_EQ(((const struct fuse_init_out *)t_payload(&t))->minor, 37);
	CHECK_EQ(t_init(&t, 7, 31), 0);
	CHECK_EQ(((const struct fuse_init_out *)t_payload(&t))->minor, 31);
	/* A newer minor is answered with ours. */
	CHECK_EQ(t_init(&t, 7, 99), 0);
	CHECK_EQ(((const struct fuse_init_out *)t_payload(&t))->minor, 38);
	/* Too old. */
	CHECK_EQ(t_init(&t, 7, 26), -EPROTO);
	CHECK_EQ(t_init(&t, 6, 40), -EPROTO);
	/* Newer major: only major/minor come back. */
	CHECK_EQ(t_init(&t, 8, 0), 0);
	CHECK_EQ(t.len, 8);
	CHECK_EQ(((const struct fuse_init_out *)t_payload(&t))->major, 7);

	/* A pre-7.36 kernel sends the short struct. */
	{
		struct fuse_init_in in = { .major = 7, .minor = 33, .flags = FUSE_ASYNC_READ };

		CHECK_EQ(t_req(&t, FUSE_INIT, 0, &in, (size_t)16, END), 0);
		CHECK_EQ(((const struct fuse_init_out *)t_payload(&t))->flags, FUSE_ASYNC_READ);
	}
	t_teardown(&t);
}

static void test_lookup_getattr(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_attr a;
	struct stat st;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "file"), "12345");
	stat(tpath(&t, "file"), &st);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "file", &e), 0);
	CHECK(e.nodeid > FUSE_ROOT_ID);
	CHECK_EQ(e.attr.size, 5);
	CHECK_EQ(e.attr.ino, st.st_ino);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(t_getattr(&t, e.nodeid, &a), 0);
	CHECK_EQ(a.size, 5);
	CHECK_EQ(t_getattr(&t, FUSE_ROOT_ID, &a), 0);
	CHECK(S_ISDIR(a.mode));
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "missing", NULL), -ENOENT);
	/* Looking up again gives the same nodeid. */
	{
		struct fuse_entry_out e2;

		CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "file", &e2), 0);
		CHECK_EQ(e2.nodeid, e.nodeid);
	}
	t_teardown(&t);
}

static void test_forget(void)
{
	struct t t;
	struct fuse_entry_out e;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "f"), "x");
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &e), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", NULL), 0);
	t_forget(&t, e.nodeid, 1);
	CHECK_EQ(t.reply_len, 0);
	CHECK_EQ(t.ret, 0);
	CHECK_EQ(t_getattr(&t, e.nodeid, NULL), 0);
	t_forget(&t, e.nodeid, 1);
	CHECK_EQ(t_getattr(&t, e.nodeid, NULL), -ESTALE);

	/* BATCH_FORGET */
	{
		struct fuse_entry_out e2;
		struct fuse_batch_forget_in b = { .count = 2 };
		struct fuse_forget_one one[2];

		write_host(tpath(&t, "g"), "y");
		CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &e), 0);
		CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "g", &e2), 0);
		one[0].nodeid = e.nodeid;
		one[0].nlookup = 1;
		one[1].nodeid = e2.nodeid;
		one[1].nlookup = 5;
		t_req(&t, FUSE_BATCH_FORGET, 0, ARG(b), ARG(one), END);
		CHECK_EQ(t.reply_len, 0);
		CHECK_EQ(t_getattr(&t, e.nodeid, NULL), -ESTALE);
		CHECK_EQ(t_getattr(&t, e2.nodeid, NULL), -ESTALE);
		/* A reused slot has a new generation: the old id stays dead. */
		CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "g", &e2), 0);
		CHECK(e2.nodeid != e.nodeid);
		CHECK_EQ(t_getattr(&t, e.nodeid, NULL), -ESTALE);
	}
	t_teardown(&t);
}

static void test_create_write_read(void)
{
	struct t t;
	struct fuse_entry_out e;
	uint64_t fh;
	char buf[64];
	const char msg[] = "hello, virtio-fs world";

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "new", O_RDWR, 0640, &e, &fh), 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.mode & 0777, 0640);
	CHECK_EQ(t_write(&t, e.nodeid, fh, 0, msg, sizeof(msg) - 1), 0);
	CHECK_EQ(((const struct fuse_write_out *)t_payload(&t))->size, sizeof(msg) - 1);
	CHECK_EQ(read_host(tpath(&t, "new"), buf, sizeof(buf)), (int)sizeof(msg) - 1);
	CHECK_STR(buf, msg);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 7, 100), 0);
	CHECK_EQ(t.len, sizeof(msg) - 1 - 7);
	CHECK(memcmp(t_payload(&t), msg + 7, t.len) == 0);
	/* Read at EOF: empty reply. */
	CHECK_EQ(t_read(&t, e.nodeid, fh, 1000, 100), 0);
	CHECK_EQ(t.len, 0);
	/* Exclusive create of an existing name. */
	{
		uint64_t fh2;

		CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "new", O_RDWR | O_EXCL, 0640, NULL, &fh2),
			 -EEXIST);
		/* Non-exclusive create opens the existing file (and O_TRUNC truncates). */
		CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "new", O_RDWR | O_TRUNC, 0640, &e, &fh2), 0);
		CHECK_EQ(e.attr.size, 0);
		CHECK_EQ(t_release(&t, e.nodeid, fh2, false), 0);
	}
	CHECK_EQ(t_release(&t, e.nodeid, fh, false), 0);
	CHECK_EQ(t_release(&t, e.nodeid, fh, false), -EBADF);
	t_teardown(&t);
}

/* Requests and replies split across several segments at odd offsets. */
static void test_scatter_gather(void)
{
	struct t t;
	struct fuse_entry_out e;
	uint64_t fh;
	unsigned char req[200], reply[300];
	struct fuse_in_header h;
	struct fuse_write_in w;
	struct fuse_read_in rd;
	struct iovec in[4], out[5];
	size_t rlen;
	char buf[64];

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "sg", O_RDWR, 0644, &e, &fh), 0);
	memset(&h, 0, sizeof(h));
	h.len = sizeof(h) + sizeof(w) + 26;
	h.opcode = FUSE_WRITE;
	h.unique = 77;
	h.nodeid = e.nodeid;
	memset(&w, 0, sizeof(w));
	w.fh = fh;
	w.size = 26;
	memcpy(req, &h, sizeof(h));
	memcpy(req + sizeof(h), &w, sizeof(w));
	memcpy(req + sizeof(h) + sizeof(w), "abcdefghijklmnopqrstuvwxyz", 26);
	in[0] = (struct iovec){ req, 7 };
	in[1] = (struct iovec){ req + 7, 50 };
	in[2] = (struct iovec){ req + 57, 30 };
	in[3] = (struct iovec){ req + 87, h.len - 87 };
	out[0] = (struct iovec){ reply, 5 };
	out[1] = (struct iovec){ reply + 5, 100 };
	CHECK_EQ(fuse_server_handle(t.srv, in, 4, out, 2, &rlen), 0);
	CHECK_EQ(rlen, sizeof(struct fuse_out_header) + sizeof(struct fuse_write_out));
	CHECK_EQ(read_host(tpath(&t, "sg"), buf, sizeof(buf)), 26);
	CHECK_STR(buf, "abcdefghijklmnopqrstuvwxyz");

	h.len = sizeof(h) + sizeof(rd);
	h.opcode = FUSE_READ;
	memset(&rd, 0, sizeof(rd));
	rd.fh = fh;
	rd.size = 26;
	memcpy(req, &h, sizeof(h));
	memcpy(req + sizeof(h), &rd, sizeof(rd));
	in[0] = (struct iovec){ req, 3 };
	in[1] = (struct iovec){ req + 3, h.len - 3 };
	memset(reply, 0, sizeof(reply));
	out[0] = (struct iovec){ reply, 10 };
	out[1] = (struct iovec){ reply + 10, 0 };
	out[2] = (struct iovec){ reply + 10, 9 };
	out[3] = (struct iovec){ reply + 19, 4 };
	out[4] = (struct iovec){ reply + 23, 100 };
	CHECK_EQ(fuse_server_handle(t.srv, in, 2, out, 5, &rlen), 0);
	CHECK_EQ(rlen, 16 + 26);
	CHECK(memcmp(reply + 16, "abcdefghijklmnopqrstuvwxyz", 26) == 0);
	/* A reply room smaller than requested: short read, no overflow. */
	out[0] = (struct iovec){ reply, 20 };
	CHECK_EQ(fuse_server_handle(t.srv, in, 2, out, 1, &rlen), 0);
	CHECK_EQ(rlen, 20);
	t_teardown(&t);
}

static void test_mkdir_rmdir(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct stat st;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "d", 0750, &e), 0);
	CHECK(S_ISDIR(e.attr.mode));
	CHECK_EQ(e.attr.mode & 0777, 0750);
	CHECK_EQ(stat(tpath(&t, "d"), &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0750);
	CHECK_EQ(t_mkdir(&t, e.nodeid, "sub", 0755, NULL), 0);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "d", 0755, NULL), -EEXIST);
	CHECK_EQ(t_req(&t, FUSE_RMDIR, FUSE_ROOT_ID, STR("d"), END), -ENOTEMPTY);
	CHECK_EQ(t_req(&t, FUSE_RMDIR, e.nodeid, STR("sub"), END), 0);
	CHECK_EQ(t_req(&t, FUSE_RMDIR, FUSE_ROOT_ID, STR("d"), END), 0);
	CHECK(stat(tpath(&t, "d"), &st) < 0);
	t_teardown(&t);
}

static void test_unlink(void)
{
	struct t t;
	struct stat st;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "f"), "x");
	mkdir(tpath(&t, "dir"), 0755);
	CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR("f"), END), 0);
	CHECK(stat(tpath(&t, "f"), &st) < 0);
	CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR("f"), END), -ENOENT);
	CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR("dir"), END), -EISDIR);
	t_teardown(&t);
}

static void test_rename(void)
{
	struct t t;
	struct fuse_entry_out d;
	struct fuse_rename_in rn;
	struct fuse_rename2_in r2;
	char buf[32];

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "a"), "AAA");
	write_host(tpath(&t, "b"), "BBB");
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "dir", 0755, &d), 0);
	rn.newdir = d.nodeid;
	CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("a"), STR("a2"), END), 0);
	CHECK_EQ(read_host(tpath(&t, "dir/a2"), buf, sizeof(buf)), 3);
	CHECK_STR(buf, "AAA");

	memset(&r2, 0, sizeof(r2));
	r2.newdir = FUSE_ROOT_ID;
	r2.flags = RENAME_NOREPLACE;
	CHECK_EQ(t_req(&t, FUSE_RENAME2, d.nodeid, ARG(r2), STR("a2"), STR("b"), END), -EEXIST);
	r2.flags = RENAME_EXCHANGE;
	CHECK_EQ(t_req(&t, FUSE_RENAME2, d.nodeid, ARG(r2), STR("a2"), STR("b"), END), 0);
	CHECK_EQ(read_host(tpath(&t, "b"), buf, sizeof(buf)), 3);
	CHECK_STR(buf, "AAA");
	CHECK_EQ(read_host(tpath(&t, "dir/a2"), buf, sizeof(buf)), 3);
	CHECK_STR(buf, "BBB");
	r2.flags = 0;
	CHECK_EQ(t_req(&t, FUSE_RENAME2, d.nodeid, ARG(r2), STR("a2"), STR("c"), END), 0);
	CHECK_EQ(read_host(tpath(&t, "c"), buf, sizeof(buf)), 3);
	t_teardown(&t);
}

static void test_link_same_nodeid(void)
{
	struct t t;
	struct fuse_entry_out e, l;
	struct fuse_link_in li;
	struct stat st;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "orig"), "data");
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "orig", &e), 0);
	li.oldnodeid = e.nodeid;
	CHECK_EQ(t_req(&t, FUSE_LINK, FUSE_ROOT_ID, ARG(li), STR("hard"), END), 0);
	memcpy(&l, t_payload(&t), sizeof(l));
	CHECK_EQ(l.nodeid, e.nodeid);
	CHECK_EQ(l.attr.nlink, 2);
	CHECK_EQ(stat(tpath(&t, "hard"), &st), 0);
	CHECK_EQ(st.st_nlink, 2);
	/* A link created on the host also maps to the same nodeid. */
	{
		char src[2 * PATH_MAX];

		snprintf(src, sizeof(src), "%s", tpath(&t, "orig"));
		CHECK_EQ(link(src, tpath(&t, "hard2")), 0);
	}
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "hard2", &l), 0);
	CHECK_EQ(l.nodeid, e.nodeid);
	t_teardown(&t);
}

static void test_symlink_readlink(void)
{
	struct t t;
	struct fuse_entry_out e;
	char buf[64];
	ssize_t n;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_req(&t, FUSE_SYMLINK, FUSE_ROOT_ID, STR("sl"), STR("target/path"), END), 0);
	memcpy(&e, t_payload(&t), sizeof(e));
	CHECK(S_ISLNK(e.attr.mode));
	n = readlink(tpath(&t, "sl"), buf, sizeof(buf));
	CHECK_EQ(n, 11);
	CHECK_EQ(t_req(&t, FUSE_READLINK, e.nodeid, END), 0);
	CHECK_EQ(t.len, 11);
	CHECK(memcmp(t_payload(&t), "target/path", 11) == 0);
	CHECK_EQ(t_req(&t, FUSE_READLINK, FUSE_ROOT_ID, END), -EINVAL);
	t_teardown(&t);
}

static void test_mknod_fifo(void)
{
	struct t t;
	struct fuse_mknod_in in = { .mode = S_IFIFO | 0644 };
	struct fuse_entry_out e;
	struct stat st;
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_req(&t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(in), STR("fifo"), END), 0);
	memcpy(&e, t_payload(&t), sizeof(e));
	CHECK(S_ISFIFO(e.attr.mode));
	CHECK_EQ(lstat(tpath(&t, "fifo"), &st), 0);
	CHECK(S_ISFIFO(st.st_mode));
	/* The guest kernel opens FIFOs itself; the server must never block on one. */
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), -ENXIO);
	in.mode = S_IFSOCK | 0600;
	CHECK_EQ(t_req(&t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(in), STR("sock"), END), 0);
	CHECK(S_ISSOCK(((const struct fuse_entry_out *)t_payload(&t))->attr.mode));
	/* A device node is the guest's only (test_fuse_privilege.c has the
	 * rest); opening it through FUSE never reaches a host object. */
	in.mode = S_IFCHR | 0600;
	in.rdev = (1 << 8) | 3; /* 1:3 = /dev/null */
	CHECK_EQ(t_req(&t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(in), STR("null"), END), 0);
	CHECK_EQ(lstat(tpath(&t, "null"), &st), 0);
	CHECK(S_ISREG(st.st_mode));
	memcpy(&e, t_payload(&t), sizeof(e));
	CHECK(S_ISCHR(e.attr.mode));
	CHECK_EQ(e.attr.rdev, (1 << 8) | 3);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh), -ENXIO);
	t_teardown(&t);
}

static void test_setattr(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_setattr_in in;
	struct stat st;
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "f"), "0123456789");
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &e), 0);

	memset(&in, 0, sizeof(in));
	in.valid = FATTR_MODE;
	in.mode = 0600;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(in), END), 0);
	CHECK_EQ(((const struct fuse_attr_out *)t_payload(&t))->attr.mode & 07777, 0600);
	stat(tpath(&t, "f"), &st);
	CHECK_EQ(st.st_mode & 07777, 0600);

	in.valid = FATTR_SIZE;
	in.size = 3;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(in), END), 0);
	stat(tpath(&t, "f"), &st);
	CHECK_EQ(st.st_size, 3);

	in.valid = FATTR_ATIME | FATTR_MTIME;
	in.atime = 1000000;
	in.atimensec = 5;
	in.mtime = 2000000;
	in.mtimensec = 7;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(in), END), 0);
	stat(tpath(&t, "f"), &st);
	CHECK_EQ(st.st_atim.tv_sec, 1000000);
	CHECK_EQ(st.st_atim.tv_nsec, 5);
	CHECK_EQ(st.st_mtim.tv_sec, 2000000);
	CHECK_EQ(st.st_mtim.tv_nsec, 7);

	in.valid = FATTR_MTIME | FATTR_MTIME_NOW;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(in), END), 0);
	stat(tpath(&t, "f"), &st);
	CHECK(st.st_mtim.tv_sec > 2000000);
	CHECK_EQ(st.st_atim.tv_sec, 1000000);

	/* Via an open handle (ftruncate). */
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh), 0);
	in.valid = FATTR_SIZE | FATTR_FH;
	in.fh = fh;
	in.size = 1;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(in), END), 0);
	stat(tpath(&t, "f"), &st);
	CHECK_EQ(st.st_size, 1);
	in.fh = fh + 12345;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(in), END), -EBADF);

	if (geteuid() == 0) {
		in.valid = FATTR_UID | FATTR_GID;
		in.uid = 1234;
		in.gid = 4321;
		CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(in), END), 0);
		stat(tpath(&t, "f"), &st);
		CHECK_EQ(st.st_uid, 1234);
		CHECK_EQ(st.st_gid, 4321);
	}
	t_teardown(&t);
}

struct dent_seen {
	char names[128][64];
	uint64_t nodeids[128];
	int n;
	uint64_t last_off;
};

static void parse_dirents(const unsigned char *p, size_t len, bool plus, struct dent_seen *s)
{
	size_t off = 0;

	while (off < len) {
		struct fuse_entry_out e;
		struct fuse_dirent d;
		size_t base = off;

		memset(&e, 0, sizeof(e));
		if (plus) {
			memcpy(&e, p + off, sizeof(e));
			off += sizeof(e);
		}
		memcpy(&d, p + off, sizeof(d));
		if (s->n < 128 && d.namelen < 64) {
			memcpy(s->names[s->n], p + off + FUSE_NAME_OFFSET, d.namelen);
			s->names[s->n][d.namelen] = 0;
			s->nodeids[s->n] = e.nodeid;
			s->n++;
		}
		s->last_off = d.off;
		off = base + FUSE_DIRENT_ALIGN((plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET) +
					       d.namelen);
	}
}

static int find_name(const struct dent_seen *s, const char *name)
{
	int count = 0;

	for (int i = 0; i < s->n; i++)
		count += strcmp(s->names[i], name) == 0;
	return count;
}

static void list_dir(struct t *t, uint64_t node, bool plus, uint32_t chunk, struct dent_seen *s)
{
	struct fuse_read_in in;
	uint64_t fh;
	int rounds = 0;

	memset(s, 0, sizeof(*s));
	CHECK_EQ(t_opendir(t, node, &fh), 0);
	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.size = chunk;
	for (;;) {
		CHECK_EQ(t_req(t, plus ? FUSE_READDIRPLUS : FUSE_READDIR, node, ARG(in), END), 0);
		if (t->error || t->len == 0 || ++rounds > 200)
			break;
		parse_dirents(t_payload(t), t->len, plus, s);
		in.offset = s->last_off;
	}
	CHECK(rounds > 2); /* the small chunk forced resumption */
	CHECK_EQ(t_release(t, node, fh, true), 0);
}

static void test_readdir(void)
{
	struct t t;
	struct dent_seen s;
	char name[32];

	CHECK_EQ(t_setup(&t), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "file-%02d", i);
		write_host(tpath(&t, name), "x");
	}
	list_dir(&t, FUSE_ROOT_ID, false, 200, &s);
	CHECK_EQ(s.n, 42);
	CHECK_EQ(find_name(&s, "."), 1);
	CHECK_EQ(find_name(&s, ".."), 1);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "file-%02d", i);
		CHECK_EQ(find_name(&s, name), 1);
	}
	/* A buffer too small for any entry gives an empty reply, not an error. */
	{
		struct fuse_read_in in;
		uint64_t fh;

		CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &fh), 0);
		memset(&in, 0, sizeof(in));
		in.fh = fh;
		in.size = 10;
		CHECK_EQ(t_req(&t, FUSE_READDIR, FUSE_ROOT_ID, ARG(in), END), 0);
		CHECK_EQ(t.len, 0);
		CHECK_EQ(t_release(&t, FUSE_ROOT_ID, fh, true), 0);
	}
	t_teardown(&t);
}

static int count_host_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/*
 * What "rm -rf" does: list a chunk, unlink what it got, list on from the
 * returned offset.  On tmpfs (before Linux 6.6) the offsets are positions,
 * so a server that seeks to them after the unlinks skips entries and the
 * directory is left not empty.
 */
static void test_readdir_while_unlinking(void)
{
	struct t t;
	struct fuse_read_in in;
	char name[64];
	uint64_t fh;
	int unlinked = 0, rounds = 0;

	/* /dev/shm is tmpfs on Linux; elsewhere the check still holds. */
	CHECK_EQ(t_setup_at(&t, access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", false, true), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "an-entry-with-a-rather-long-name-%03d", i);
		write_host(tpath(&t, name), "x");
	}
	CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &fh), 0);
	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.size = 1024;
	for (;;) {
		struct dent_seen s;

		CHECK_EQ(t_req(&t, FUSE_READDIR, FUSE_ROOT_ID, ARG(in), END), 0);
		if (t.error || t.len == 0 || ++rounds > 1000)
			break;
		memset(&s, 0, sizeof(s));
		parse_dirents(t_payload(&t), t.len, false, &s);
		for (int i = 0; i < s.n; i++) {
			if (strcmp(s.names[i], ".") && strcmp(s.names[i], "..")) {
				CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR(s.names[i]), END), 0);
				unlinked++;
			}
		}
		in.offset = s.last_off;
	}
	CHECK_EQ(t_release(&t, FUSE_ROOT_ID, fh, true), 0);
	CHECK_EQ(unlinked, 300);
	CHECK_EQ(count_host_entries(t.share), 0);
	t_teardown(&t);
}

static void test_readdirplus(void)
{
	struct t t;
	struct dent_seen s;
	struct fuse_entry_out e;
	char name[32];

	CHECK_EQ(t_setup(&t), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		write_host(tpath(&t, name), "x");
	}
	list_dir(&t, FUSE_ROOT_ID, true, 700, &s);
	CHECK_EQ(s.n, 22);
	for (int i = 0; i < s.n; i++) {
		if (strcmp(s.names[i], ".") == 0 || strcmp(s.names[i], "..") == 0) {
			CHECK_EQ(s.nodeids[i], 0);
			continue;
		}
		CHECK(s.nodeids[i] > 1);
		/* The entry counts as a lookup: one FORGET releases it. */
		CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, s.names[i], &e), 0);
		CHECK_EQ(e.nodeid, s.nodeids[i]);
		t_forget(&t, e.nodeid, 2);
		CHECK_EQ(t_getattr(&t, e.nodeid, NULL), -ESTALE);
	}
	t_teardown(&t);
}

static void test_statfs(void)
{
	struct t t;
	struct statvfs;
	const struct fuse_statfs_out *o;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_req(&t, FUSE_STATFS, FUSE_ROOT_ID, END), 0);
	CHECK_EQ(t.len, sizeof(*o));
	o = t_payload(&t);
	CHECK(o->st.blocks > 0);
	CHECK(o->st.bsize > 0);
	CHECK_EQ(o->st.namelen, 255);
	t_teardown(&t);
}

static void test_xattr(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_setxattr_in si = { .size = 5, .flags = 0 };
	struct fuse_getxattr_in gi = { .size = 0 };
	char buf[64];

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "f"), "x");
	if (setxattr(tpath(&t, "f"), "user.probe", "1", 1, 0) < 0) {
		printf("SKIP test_xattr: %s has no user xattrs (%s)\n", t.share, strerror(errno));
		t_teardown(&t);
		return;
	}
	removexattr(tpath(&t, "f"), "user.probe");
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &e), 0);
	/* The kernel sends the 8-byte compat struct unless SETXATTR_EXT. */
	CHECK_EQ(t_req(&t, FUSE_SETXATTR, e.nodeid, &si, (size_t)8, STR("user.k"), "vaLue", (size_t)5,
		       END), 0);
	CHECK_EQ(getxattr(tpath(&t, "f"), "user.k", buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "vaLue", 5) == 0);
	CHECK_EQ(t_req(&t, FUSE_GETXATTR, e.nodeid, ARG(gi), STR("user.k"), END), 0);
	CHECK_EQ(((const struct fuse_getxattr_out *)t_payload(&t))->size, 5);
	gi.size = 64;
	CHECK_EQ(t_req(&t, FUSE_GETXATTR, e.nodeid, ARG(gi), STR("user.k"), END), 0);
	CHECK_EQ(t.len, 5);
	CHECK(memcmp(t_payload(&t), "vaLue", 5) == 0);
	gi.size = 2;
	CHECK_EQ(t_req(&t, FUSE_GETXATTR, e.nodeid, ARG(gi), STR("user.k"), END), -ERANGE);
	CHECK_EQ(t_req(&t, FUSE_GETXATTR, e.nodeid, ARG(gi), STR("user.none"), END), -ENODATA);
	gi.size = 0;
	CHECK_EQ(t_req(&t, FUSE_LISTXATTR, e.nodeid, ARG(gi), END), 0);
	CHECK(((const struct fuse_getxattr_out *)t_payload(&t))->size >= 7);
	gi.size = 256;
	CHECK_EQ(t_req(&t, FUSE_LISTXATTR, e.nodeid, ARG(gi), END), 0);
	CHECK(memmem(t_payload(&t), t.len, "user.k", 7) != NULL);
	si.flags = XATTR_CREATE;
	CHECK_EQ(t_req(&t, FUSE_SETXATTR, e.nodeid, &si, (size_t)8, STR("user.k"), "vaLue", (size_t)5,
		       END), -EEXIST);
	CHECK_EQ(t_req(&t, FUSE_REMOVEXATTR, e.nodeid, STR("user.k"), END), 0);
	CHECK(getxattr(tpath(&t, "f"), "user.k", buf, sizeof(buf)) < 0);
	CHECK_EQ(t_req(&t, FUSE_REMOVEXATTR, e.nodeid, STR("user.k"), END), -ENODATA);
	/* Value length beyond the request. */
	si.size = 1000;
	si.flags = 0;
	CHECK_EQ(t_req(&t, FUSE_SETXATTR, e.nodeid, &si, (size_t)8, STR("user.k"), "v", (size_t)1,
		       END), -EINVAL);
	t_teardown(&t);
}

static int32_t t_lk(struct t *t, uint32_t op, uint64_t node, uint64_t fh, uint32_t type,
		    uint64_t start, uint64_t end, uint32_t lk_flags)
{
	struct fuse_lk_in in;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.owner = fh;
	in.lk.type = type;
	in.lk.start = start;
	in.lk.end = end;
	in.lk_flags = lk_flags;
	return t_req(t, op, node, ARG(in), END);
}

static void test_posix_lock_conflict(void)
{
	struct t t;
	struct fuse_entry_out e;
	const struct fuse_lk_out *lo;
	uint64_t fh1, fh2;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "lk"), "0123456789");
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "lk", &e), 0);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh1), 0);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh2), 0);

	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh1, F_WRLCK, 0, 4, 0), 0);
	CHECK_EQ(t_lk(&t, FUSE_GETLK, e.nodeid, fh2, F_RDLCK, 2, INT64_MAX, 0), 0);
	lo = t_payload(&t);
	CHECK_EQ(lo->lk.type, F_WRLCK);
	CHECK_EQ(lo->lk.start, 0);
	CHECK_EQ(lo->lk.end, 4);
	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh2, F_WRLCK, 3, 8, 0), -EAGAIN);
	/* A waiting lock never parks the worker. */
	CHECK_EQ(t_lk(&t, FUSE_SETLKW, e.nodeid, fh2, F_WRLCK, 3, 8, 0), -EAGAIN);
	/* No overlap: fine. */
	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh2, F_WRLCK, 5, INT64_MAX, 0), 0);
	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh1, F_UNLCK, 0, INT64_MAX, 0), 0);
	CHECK_EQ(t_lk(&t, FUSE_GETLK, e.nodeid, fh2, F_WRLCK, 0, 4, 0), 0);
	CHECK_EQ(((const struct fuse_lk_out *)t_payload(&t))->lk.type, F_UNLCK);

	/* flock() */
	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh1, F_WRLCK, 0, INT64_MAX, FUSE_LK_FLOCK), 0);
	CHECK_EQ(t_lk(&t, FUSE_SETLKW, e.nodeid, fh2, F_RDLCK, 0, INT64_MAX, FUSE_LK_FLOCK),
		 -EAGAIN);
	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh1, F_UNLCK, 0, INT64_MAX, FUSE_LK_FLOCK), 0);
	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh2, F_RDLCK, 0, INT64_MAX, FUSE_LK_FLOCK), 0);
	CHECK_EQ(t_lk(&t, FUSE_SETLK, e.nodeid, fh1, F_WRLCK, 9, 2, 0), -EINVAL);
	CHECK_EQ(t_release(&t, e.nodeid, fh1, false), 0);
	CHECK_EQ(t_release(&t, e.nodeid, fh2, false), 0);
	t_teardown(&t);
}

static void test_fallocate(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_fallocate_in in;
	struct stat st;
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "fa", O_RDWR, 0644, &e, &fh), 0);
	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.offset = 0;
	in.length = 65536;
	CHECK_EQ(t_req(&t, FUSE_FALLOCATE, e.nodeid, ARG(in), END), 0);
	stat(tpath(&t, "fa"), &st);
	CHECK_EQ(st.st_size, 65536);
	CHECK(st.st_blocks >= 128);
	in.mode = 0x40; /* unknown mode bit: the host decides */
	CHECK(t_req(&t, FUSE_FALLOCATE, e.nodeid, ARG(in), END) < 0);
	t_teardown(&t);
}

static void test_lseek_data_hole(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_lseek_in in;
	uint64_t fh;
	const uint64_t far = 4u << 20;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "sparse", O_RDWR, 0644, &e, &fh), 0);
	CHECK_EQ(t_write(&t, e.nodeid, fh, 0, "head", 4), 0);
	CHECK_EQ(t_write(&t, e.nodeid, fh, far, "tail", 4), 0);
	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.whence = SEEK_HOLE;
	CHECK_EQ(t_req(&t, FUSE_LSEEK, e.nodeid, ARG(in), END), 0);
	CHECK(((const struct fuse_lseek_out *)t_payload(&t))->offset < far);
	in.whence = SEEK_DATA;
	in.offset = 1u << 20;
	CHECK_EQ(t_req(&t, FUSE_LSEEK, e.nodeid, ARG(in), END), 0);
	CHECK(((const struct fuse_lseek_out *)t_payload(&t))->offset <= far);
	CHECK(((const struct fuse_lseek_out *)t_payload(&t))->offset > (1u << 20) - 1);
	in.offset = far + 100;
	CHECK_EQ(t_req(&t, FUSE_LSEEK, e.nodeid, ARG(in), END), -ENXIO);
	t_teardown(&t);
}

static void test_copy_file_range(void)
{
	struct t t;
	struct fuse_entry_out a, b;
	struct fuse_copy_file_range_in in;
	uint64_t fa, fb;
	char buf[32];

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "src", O_RDWR, 0644, &a, &fa), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "dst", O_RDWR, 0644, &b, &fb), 0);
	CHECK_EQ(t_write(&t, a.nodeid, fa, 0, "0123456789", 10), 0);
	memset(&in, 0, sizeof(in));
	in.fh_in = fa;
	in.off_in = 2;
	in.nodeid_out = b.nodeid;
	in.fh_out = fb;
	in.off_out = 1;
	in.len = 5;
	CHECK_EQ(t_req(&t, FUSE_COPY_FILE_RANGE, a.nodeid, ARG(in), END), 0);
	CHECK_EQ(((const struct fuse_write_out *)t_payload(&t))->size, 5);
	CHECK_EQ(read_host(tpath(&t, "dst"), buf, sizeof(buf)), 6);
	CHECK(memcmp(buf + 1, "23456", 5) == 0);
	in.flags = 1;
	CHECK_EQ(t_req(&t, FUSE_COPY_FILE_RANGE, a.nodeid, ARG(in), END), -EINVAL);
	in.flags = 0;
	in.fh_out = 999999;
	CHECK_EQ(t_req(&t, FUSE_COPY_FILE_RANGE, a.nodeid, ARG(in), END), -EBADF);
	t_teardown(&t);
}

static void test_misc_ops(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_fsync_in fs;
	struct fuse_flush_in fl;
	struct fuse_access_in ac = { .mask = R_OK };
	uint64_t fh, dfh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "m", O_RDWR, 0644, &e, &fh), 0);
	memset(&fs, 0, sizeof(fs));
	fs.fh = fh;
	CHECK_EQ(t_req(&t, FUSE_FSYNC, e.nodeid, ARG(fs), END), 0);
	fs.fsync_flags = FUSE_FSYNC_FDATASYNC;
	CHECK_EQ(t_req(&t, FUSE_FSYNC, e.nodeid, ARG(fs), END), 0);
	memset(&fl, 0, sizeof(fl));
	fl.fh = fh;
	CHECK_EQ(t_req(&t, FUSE_FLUSH, e.nodeid, ARG(fl), END), 0);
	CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &dfh), 0);
	fs.fh = dfh;
	CHECK_EQ(t_req(&t, FUSE_FSYNCDIR, FUSE_ROOT_ID, ARG(fs), END), 0);
	CHECK_EQ(t_release(&t, FUSE_ROOT_ID, dfh, true), 0);
	CHECK_EQ(t_req(&t, FUSE_ACCESS, e.nodeid, ARG(ac), END), 0);
	CHECK_EQ(t_req(&t, FUSE_SYNCFS, FUSE_ROOT_ID, (const void *)"\0\0\0\0\0\0\0\0", (size_t)8,
		       END), 0);
	CHECK_EQ(t_opendir(&t, e.nodeid, NULL), -ENOTDIR);
	CHECK_EQ(t_open(&t, FUSE_ROOT_ID, O_RDONLY, NULL), -EISDIR);
	/* INTERRUPT takes no reply. */
	{
		struct fuse_interrupt_in ii = { .unique = 1 };

		t_req(&t, FUSE_INTERRUPT, 0, ARG(ii), END);
		CHECK_EQ(t.reply_len, 0);
		CHECK_EQ(t.ret, 0);
	}
	CHECK_EQ(t_req(&t, FUSE_DESTROY, 0, END), 0);
	/* After DESTROY the old nodeids are gone and INIT is needed again. */
	CHECK_EQ(t_getattr(&t, FUSE_ROOT_ID, NULL), -EIO);
	CHECK_EQ(t_init(&t, 7, 38), 0);
	CHECK_EQ(t_getattr(&t, FUSE_ROOT_ID, NULL), 0);
	t_teardown(&t);
}

int main(void)
{
	RUN_TEST(test_init_negotiation);
	RUN_TEST(test_lookup_getattr);
	RUN_TEST(test_forget);
	RUN_TEST(test_create_write_read);
	RUN_TEST(test_scatter_gather);
	RUN_TEST(test_mkdir_rmdir);
	RUN_TEST(test_unlink);
	RUN_TEST(test_rename);
	RUN_TEST(test_link_same_nodeid);
	RUN_TEST(test_symlink_readlink);
	RUN_TEST(test_mknod_fifo);
	RUN_TEST(test_setattr);
	RUN_TEST(test_readdir);
	RUN_TEST(test_readdirplus);
	RUN_TEST(test_readdir_while_unlinking);
	RUN_TEST(test_statfs);
	RUN_TEST(test_xattr);
	RUN_TEST(test_posix_lock_conflict);
	RUN_TEST(test_fallocate);
	RUN_TEST(test_lseek_data_hole);
	RUN_TEST(test_copy_file_range);
	RUN_TEST(test_misc_ops);
	TEST_MAIN_END();
}
