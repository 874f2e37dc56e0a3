// SPDX-License-Identifier: Apache-2.0
/*
 * Ownership of newly created files.
 *
 * When the VMM runs privileged (euid 0, also inside a user namespace), new
 * files must belong to the guest user that created them, as on a local
 * filesystem.  setfsuid/setfsgid change only the calling thread's
 * filesystem ids (the raw syscalls are per thread; glibc does not broadcast
 * them), so concurrent workers do not see each other's ids.  Supplementary
 * groups are not switched.  Unprivileged, files simply belong to the VMM's
 * user: that is all the host allows.
 */
#include <errno.h>
#include <sys/fsuid.h>

#include "fs_priv.h"

int fs_creds_enter(const struct fuse_server *srv, const struct fuse_in_header *h,
		   struct fs_creds *c)
{
	c->switched = false;
	if (!srv->privileged || (h->uid == 0 && h->gid == 0))
		return 0;
	/* setfsuid/setfsgid never report failure directly: read back. */
	c->old_gid = (gid_t)setfsgid(h->gid);
	if ((gid_t)setfsgid((gid_t)-1) != h->gid) {
		setfsgid(c->old_gid);
		return -EPERM;
	}
	c->old_uid = (uid_t)setfsuid(h->uid);
	if ((uid_t)setfsuid((uid_t)-1) != h->uid) {
		setfsuid(c->old_uid);
		setfsgid(c->old_gid);
		return -EPERM;
	}
	c->switched = true;
	return 0;
}

void fs_creds_leave(struct fs_creds *c)
{
	if (!c->switched)
		return;
	setfsuid(c->old_uid);
	setfsgid(c->old_gid);
	c->switched = false;
}
