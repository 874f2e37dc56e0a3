// SPDX-License-Identifier: Apache-2.0
/*
 * Guest-visible metadata that must not become host privilege.
 *
 * A guest root (and the VMM may well be host root) could otherwise plant a
 * device node or a set-uid file in a share, usable by anyone on the host who
 * reaches the directory.  So, unless the caller chose full passthrough:
 *  - char and block devices are created as empty regular files, mode 0600;
 *  - set-uid/set-gid bits of non-directories never reach the host file;
 * and what the guest asked for is kept in the xattr podman uses for the same
 * purpose, user.containers.override_stat, then shown in every attribute
 * reply.  Its value is text, "UID:GID:0MODE" with MODE the full st_mode in
 * octal (type, set-id and permission bits: libkrun on macOS writes
 * "0:0:0100755"), and for devices ":char-MAJOR-MINOR" or
 * ":block-MAJOR-MINOR" after it (the type field fuse-overlayfs reads).  UID
 * and GID are the host owner when the record was written: ownership passes
 * through to the host, so they are informative only and never read back.
 * Only regular host files carry a record (Linux has no user.* xattrs on
 * fifos, sockets or symlinks); directories keep their set-gid bit on the
 * host, where it gives no privilege and gives the guest group inheritance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "fs_priv.h"

#define META_MAX 96


/* Parses a decimal or (octal) number up to end or sep; advances *p. */
static int parse_num(const char **p, int base, char sep, unsigned long max, unsigned long *v)
{
	char *end;

	if (**p < '0' || **p > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoul(*p, &end, base);
	if (errno || *v > max || (*end != sep && *end != '\0'))
		return -EINVAL;
	*p = end;
	return 0;
}

/* The optional type field: only devices matter to us. */
static int parse_type(const char *s, struct fs_meta *m)
{
	unsigned long ma, mi;
	mode_t type;

	if (strncmp(s, "char-", 5) == 0)
		type = S_IFCHR;
	else if (strncmp(s, "block-", 6) == 0)
		type = S_IFBLK;
	else
		return 0;
	s = strchr(s, '-') + 1;
	if (parse_num(&s, 10, '-', 0xfff, &ma) || *s++ != '-' ||
	    parse_num(&s, 10, '\0', 0xfffff, &mi) || *s)
		return -EINVAL;
	if ((m->mode & S_IFMT) && (m->mode & S_IFMT) != type)
		return -EINVAL;
	m->mode = (m->mode & 07777) | type;
	m->rdev = makedev((unsigned int)ma, (unsigned int)mi);
	return 0;
}

int fs_meta_parse(const char *s, struct fs_meta *m)
{
	unsigned long uid, gid, mode;

	memset(m, 0, sizeof(*m));
	if (parse_num(&s, 10, ':', UINT32_MAX, &uid) || *s++ != ':' ||
	    parse_num(&s, 10, ':', UINT32_MAX, &gid) || *s++ != ':' ||
	    parse_num(&s, 8, ':', 0177777, &mode))
		return -EINVAL;
	m->mode = (mode_t)mode;
	if (*s == ':')
		return parse_type(s + 1, m);
	return 0;
}

int fs_meta_format(const struct fs_meta *m, uid_t uid, gid_t gid, char *buf, size_t size)
{
	int n;

	if (fs_meta_is_dev(m->mode))
		n = snprintf(buf, size, "%u:%u:0%o:%s-%u-%u", uid, gid, (unsigned int)m->mode,
			     S_ISCHR(m->mode) ? "char" : "block", major(m->rdev), minor(m->rdev));
	else
		n = snprintf(buf, size, "%u:%u:0%o", uid, gid, (unsigned int)m->mode);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}

bool fs_meta_on(const struct fuse_server *srv, const struct fs_inode *ino)
{
	return !srv->passthrough && !fs_inode_virtual(ino) && S_ISREG(ino->type);
}

/* 0 with the record, -ENODATA without a (valid) one, else -errno. */
int fs_meta_read(const struct fs_inode *ino, struct fs_meta *m)
{
	char path[32], buf[META_MAX + 1];
	ssize_t n;
	int ret = fs_proc_path(ino, path, sizeof(path));

	if (ret)
		return ret;
	n = getxattr(path, FS_META_XATTR, buf, META_MAX);
	if (n < 0)
		return errno == ERANGE || errno == ENOTSUP ? -ENODATA : -errno;
	buf[n] = '\0';
	return fs_meta_parse(buf, m) ? -ENODATA : 0;
}

/*
 * user.* xattrs need write permission on the inode: an unprivileged VMM
 * owning a read-only file lends itself u+w for the moment of the change.
 */
static int set_writable(const char *path, int (*op)(const char *path, const void *arg),
			const void *arg)
{
	struct stat st;
	int ret = op(path, arg);

	if (ret != -EACCES || stat(path, &st) < 0 || (st.st_mode & S_IWUSR))
		return ret;
	if (chmod(path, (st.st_mode & 07777) | S_IWUSR) < 0)
		return ret;
	ret = op(path, arg);
	chmod(path, st.st_mode & 07777);
	return ret;
}

static int do_set(const char *path, const void *arg)
{
	const char *value = arg;

	return setxattr(path, FS_META_XATTR, value, strlen(value), 0) < 0 ? -errno : 0;
}

static int do_remove(const char *path, const void *arg)
{
	(void)arg;
	/* Nothing to remove where user.* xattrs do not exist at all. */
	if (removexattr(path, FS_META_XATTR) == 0 || errno == ENODATA || errno == ENOTSUP)
		return 0;
	return -errno;
}

/* No record support on the host filesystem: the guest is refused. */
static int meta_errno(int ret)
{
	return ret == -ENOTSUP ? -EPERM : ret;
}

/* fd: an O_PATH or open descriptor of the host file. */
int fs_meta_write_fd(int fd, const struct fs_meta *m)
{
	char path[32], value[META_MAX];
	struct stat st;
	int n = snprintf(path, sizeof(path), "/proc/self/fd/%d", fd), ret;

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	ret = fs_meta_format(m, st.st_uid, st.st_gid, value, sizeof(value));
	if (ret < 0)
		return ret;
	return meta_errno(set_writable(path, do_set, value));
}

int fs_meta_write(const struct fs_inode *ino, const struct fs_meta *m)
{
	return fs_meta_write_fd(ino->fd, m);
}

int fs_meta_clear(const struct fs_inode *ino)
{
	char path[32];
	int ret = fs_proc_path(ino, path, sizeof(path));

	return ret ? ret : meta_errno(set_writable(path, do_remove, NULL));
}

/* What a record changes in a host regular file's attributes. */
static void meta_apply(const struct fs_meta *m, struct stat *st)
{
	if (fs_meta_is_dev(m->mode)) {
		st->st_mode = m->mode;
		st->st_rdev = m->rdev;
		st->st_size = 0;
		st->st_blocks = 0;
		return;
	}
	st->st_mode = (st->st_mode & ~(mode_t)(S_ISUID | S_ISGID)) | (m->mode & (S_ISUID | S_ISGID));
}

void fs_meta_view(const struct fuse_server *srv, const struct fs_inode *ino, struct stat *st)
{
	struct fs_meta m;

	/* Without a readable record the host's attributes are the truth. */
	if (fs_meta_on(srv, ino) && S_ISREG(st->st_mode) && fs_meta_read(ino, &m) == 0)
		meta_apply(&m, st);
}

bool fs_meta_dev(const struct fuse_server *srv, const struct fs_inode *ino)
{
	struct fs_meta m;

	return fs_meta_on(srv, ino) && fs_meta_read(ino, &m) == 0 && fs_meta_is_dev(m.mode);
}

/*
 * The guest set mode (type bits of what it sees, 07777 of what it wants)
 * on a host regular file: the record takes what the host file must not.
 */
int fs_meta_set_mode(const struct fs_inode *ino, mode_t guest_type, mode_t mode, dev_t rdev)
{
	struct fs_meta m = { .mode = guest_type | (mode & 07777), .rdev = rdev };

	if (fs_meta_is_dev(guest_type) || (mode & (S_ISUID | S_ISGID)))
		return fs_meta_write(ino, &m);
	return fs_meta_clear(ino);
}
