/* SPDX-License-Identifier: Apache-2.0 */
/* Dispatch of trapped port-I/O and MMIO accesses to devices. */
#ifndef KRUN_BUS_H
#define KRUN_BUS_H

#include <stdint.h>

#define BUS_MAX_DEVICES 32

struct bus_device {
	uint64_t base;
	uint64_t len;
	void *opaque;
	void (*read)(void *opaque, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const void *data, uint32_t len);
};

struct bus {
	struct bus_device devs[BUS_MAX_DEVICES];
	unsigned int nr;
};

/* -EEXIST on overlap, -ENOSPC when full. */
int bus_add(struct bus *bus, const struct bus_device *dev);
/* Returns false if nothing is mapped there (reads then see all ones). */
int bus_read(const struct bus *bus, uint64_t addr, void *data, uint32_t len);
int bus_write(const struct bus *bus, uint64_t addr, const void *data, uint32_t len);

#endif
