// SPDX-License-Identifier: Apache-2.0
/*
 * Explicit multiport consoles: krun_add_virtio_console_multiport and
 * krun_add_console_port_{tty,inout}.  Only the configuration is recorded
 * here; krun_start_enter() builds one virtio-console per multiport console.
 *
 * Console ids count the consoles added through the API, as upstream does:
 * krun_add_virtio_console_default is one of them, the implicit console is
 * not.  Port fds are taken over, as upstream takes them: from a successful
 * call on, the context owns them and closes them when it goes away (after
 * the VM, or at krun_free_ctx / a refused krun_start_enter).  A refused call
 * takes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libkrun.h"

#include "api/api.h"
#include "devices/virtio/console.h"

_Static_assert(CTX_MAX_CONSOLE_PORTS == CONSOLE_MAX_PORTS,
	       "the context records as many ports as the device takes");

KRUN_API int32_t krun_add_virtio_console_multiport(uint32_t ctx_id)
{
	LOCK_CTX(c, ctx_id);
	int ret;
	if (c->nr_multiports >= CTX_MAX_CONSOLES) {
		log_error("%s: at most %d multiport consoles", __func__, CTX_MAX_CONSOLES);
		ret = -ENOSPC;
	} else {
		/* krun_add_virtio_console_default can be called once; if it was,
		 * it holds one of the ids before this one. */
		struct ctx_multiport *m = &c->multiports[c->nr_multiports];
		memset(m, 0, sizeof(*m));
		m->console_id = c->nr_multiports + (c->has_default_console ? 1u : 0u);
		c->nr_multiports++;
		ret = (int)m->console_id;
	}
	ctx_unlock();
	return ret;
}

static struct ctx_multiport *find_multiport(struct krun_ctx *c, uint32_t console_id)
{
	for (unsigned int i = 0; i < c->nr_multiports; i++)
		if (c->multiports[i].console_id == console_id)
			return &c->multiports[i];
	return NULL;
}

/* Whether the context already owns fd: taking it twice would close it twice. */
static bool fd_owned(const struct krun_ctx *c, int fd)
{
	for (unsigned int i = 0; i < c->nr_multiports; i++) {
		const struct ctx_multiport *m = &c->multiports[i];
		for (unsigned int j = 0; j < m->nr_ports; j++)
			if (m->ports[j].in_fd == fd || m->ports[j].out_fd == fd)
				return true;
	}
	return false;
}

static int check_fd_open(const char *fn, int fd)
{
	if (fd >= 0 && fcntl(fd, F_GETFD) < 0) {
		log_error("%s: fd %d is not open", fn, fd);
		return -EBADF;
	}
	return 0;
}

/* Checks everything that does not need the context, then records the port. */
static int add_port(const char *fn, uint32_t ctx_id, uint32_t console_id, const char *name,
		    int in_fd, int out_fd, bool tty)
{
	/* Upstream takes NULL as an unnamed port. */
	if (!name)
		name = "";
	if (strlen(name) > CONSOLE_PORT_NAME_MAX) {
		log_error("%s: port name is longer than %d bytes", fn, CONSOLE_PORT_NAME_MAX);
		return -EINVAL;
	}
	int ret = check_fd_open(fn, in_fd);
	if (!ret && out_fd != in_fd)
		ret = check_fd_open(fn, out_fd);
	if (ret)
		return ret;

	LOCK_CTX(c, ctx_id);
	struct ctx_multiport *m = find_multiport(c, console_id);
	if (!m) {
		log_error("%s: console %u is not a multiport console of context %u", fn,
			  console_id, ctx_id);
		ret = -EINVAL;
	} else if (m->nr_ports >= CTX_MAX_CONSOLE_PORTS) {
		log_error("%s: console %u already has %d ports, the most a device takes", fn,
			  console_id, CTX_MAX_CONSOLE_PORTS);
		ret = -ENOSPC;
	} else if ((in_fd >= 0 && fd_owned(c, in_fd)) || (out_fd >= 0 && fd_owned(c, out_fd))) {
		log_error("%s: an fd was already handed over for another port", fn);
		ret = -EINVAL;
	} else {
		struct ctx_port *p = &m->ports[m->nr_ports];
		p->name = strdup(name);
		if (p->name) {
			p->in_fd = in_fd;
			p->out_fd = out_fd;
			p->tty = tty;
			m->nr_ports++;
		} else {
			ret = -ENOMEM;
		}
	}
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_add_console_port_tty(uint32_t ctx_id, uint32_t console_id, const char *name,
					   int tty_fd)
{
	if (tty_fd < 0)
		return api_refuse(__func__, "tty fd is negative");
	int ret = check_fd_open(__func__, tty_fd);
	if (ret)
		return ret;
	if (!isatty(tty_fd)) {
		log_error("%s: fd %d is not a terminal", __func__, tty_fd);
		return -ENOTTY;
	}
	return add_port(__func__, ctx_id, console_id, name, tty_fd, tty_fd, true);
}

KRUN_API int32_t krun_add_console_port_inout(uint32_t ctx_id, uint32_t console_id,
					     const char *name, int input_fd, int output_fd)
{
	if (input_fd < 0 && output_fd < 0)
		return api_refuse(__func__, "neither an input nor an output fd");
	return add_port(__func__, ctx_id, console_id, name, input_fd < 0 ? -1 : input_fd,
			output_fd < 0 ? -1 : output_fd, false);
}
