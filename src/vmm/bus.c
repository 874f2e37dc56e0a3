// SPDX-License-Identifier: Apache-2.0
#include "bus.h"

#include <errno.h>
#include <string.h>

int bus_add(struct bus *bus, const struct bus_device *dev)
{
	if (dev->len == 0 || dev->base + dev->len < dev->base)
		return -EINVAL;
	if (bus->nr >= BUS_MAX_DEVICES)
		return -ENOSPC;
	for (unsigned int i = 0; i < bus->nr; i++) {
		const struct bus_device *d = &bus->devs[i];
		if (dev->base < d->base + d->len && d->base < dev->base + dev->len)
			return -EEXIST;
	}
	bus->devs[bus->nr++] = *dev;
	return 0;
}

static const struct bus_device *bus_lookup(const struct bus *bus, uint64_t addr, uint32_t len)
{
	for (unsigned int i = 0; i < bus->nr; i++) {
		const struct bus_device *d = &bus->devs[i];
		if (addr >= d->base && addr - d->base < d->len && len <= d->len - (addr - d->base))
			return d;
	}
	return NULL;
}

int bus_read(const struct bus *bus, uint64_t addr, void *data, uint32_t len)
{
	const struct bus_device *d = bus_lookup(bus, addr, len);
	if (!d || !d->read) {
		memset(data, 0xff, len);
		return -ENODEV;
	}
	d->read(d->opaque, addr - d->base, data, len);
	return 0;
}

int bus_write(const struct bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	const struct bus_device *d = bus_lookup(bus, addr, len);
	if (!d || !d->write)
		return -ENODEV;
	d->write(d->opaque, addr - d->base, data, len);
	return 0;
}
