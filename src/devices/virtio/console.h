/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-console (device id 3) with VIRTIO_CONSOLE_F_SIZE and F_MULTIPORT.
 *
 * Ports are configured before the device is attached; port 0 is the one
 * the guest shows as hvc0.  Queue layout: port 0 rx/tx = 0/1, control
 * rx/tx = 2/3, port N >= 1 rx/tx = 2+2N/3+2N.
 *
 * One worker thread per device (started at DRIVER_OK, joined at reset or
 * destroy) multiplexes the queue eventfds and the host fds with epoll.
 */
#ifndef KRUN_VIRTIO_CONSOLE_H
#define KRUN_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_mmio.h"

#define VIRTIO_ID_CONSOLE_DEV 3
#define CONSOLE_QUEUE_SIZE 32
/* Every port needs two queues and control takes two more. */
#define CONSOLE_MAX_PORTS (VIRTIO_MMIO_MAX_QUEUES / 2 - 1)
#define CONSOLE_PORT_NAME_MAX 63

struct virtio_console;

struct virtio_console *virtio_console_create(void);
/* Stops the worker (if the transport did not already reset it) and frees.
 * Call after virtio_mmio_destroy() of the device it was attached to. */
void virtio_console_destroy(struct virtio_console *con);

/*
 * Adds the next port (ids are given in call order, from 0).  in_fd is read
 * for host->guest data and out_fd receives guest->host data; either may be
 * -1.  The fds are duplicated (or, for pipes and terminals, reopened so
 * that O_NONBLOCK stays private to the console): the caller keeps its own.
 * is_console marks a terminal port (CONSOLE_PORT + RESIZE).  name may be
 * NULL.  Returns the port id, or -EINVAL / -ENOSPC / -EBUSY (already
 * attached) / -errno.
 */
int virtio_console_add_port(struct virtio_console *con, const char *name, int in_fd,
			    int out_fd, bool is_console);

/* Whether the guest has the port open (some process in it reads it).  Safe
 * from any thread. */
bool virtio_console_port_guest_open(struct virtio_console *con, unsigned int id);

/* Terminal size shown in config space and sent as RESIZE to console ports.
 * Safe from any thread (e.g. a SIGWINCH-driven one). */
int virtio_console_resize(struct virtio_console *con, uint16_t cols, uint16_t rows);

/*
 * The guest numbers hvc consoles in the order it is told about them,
 * whichever device gets there first, so with several console devices the
 * kernel's console=hvc0 could land on any of them.  gate_fd, an eventfd
 * shared by the consoles of one VM (the caller owns it), orders them: the
 * primary signals it once the guest has made one of its console ports an
 * hvc; the others hold their console ports back until then.  Call before
 * the device is activated.
 */
void virtio_console_order(struct virtio_console *con, int gate_fd, bool primary);

/* Ops for virtio_mmio_init(dev, ops, con, ...).  num_queues depends on the
 * ports, so the table belongs to the instance; add all ports first. */
const struct virtio_device_ops *virtio_console_ops(struct virtio_console *con);

#endif
