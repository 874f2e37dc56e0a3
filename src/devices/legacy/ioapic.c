// SPDX-License-Identifier: Apache-2.0
/* Split-irqchip IOAPIC: register file and redirection entries as MSI routes. */
#include "ioapic.h"

#include <string.h>

#include "util/log.h"

#define MSI_ADDR_BASE 0xfee00000ull
#define RTE_VECTOR(r) ((uint32_t)((r) & 0xff))
#define RTE_DELIVERY(r) ((unsigned int)(((r) >> 8) & 7))
#define RTE_DEST_LOGICAL(r) ((unsigned int)(((r) >> 11) & 1))
/* Bits the guest may write: vector, delivery and destination mode,
 * polarity, trigger, mask; destination ID and the extended destination ID
 * (bits 49-55) Linux uses past 255 APIC IDs.  Delivery status and Remote
 * IRR are the IOAPIC's own. */
#define RTE_WRITABLE 0xfffe00000001afffull

enum { DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_EXTINT = 7 };

bool ioapic_rte_to_msi(uint64_t rte, uint64_t *addr, uint32_t *data)
{
	unsigned int dm = RTE_DELIVERY(rte);
	if (rte & IOAPIC_RTE_MASKED)
		return false;
	if (dm != DM_FIXED && dm != DM_LOWEST && dm != DM_SMI && dm != DM_NMI && dm != DM_INIT)
		return false;
	/* Destination in address bits 19:12, extended destination in 11:5. */
	*addr = MSI_ADDR_BASE | (((rte >> 56) & 0xff) << 12) | (((rte >> 49) & 0x7f) << 5) |
		(RTE_DEST_LOGICAL(rte) << 2);
	*data = RTE_VECTOR(rte) | (dm << 8) | (rte & IOAPIC_RTE_LEVEL ? 1u << 15 : 0);
	return true;
}

static void warn_unroutable(struct ioapic *io, unsigned int pin, uint64_t rte)
{
	if (rte & IOAPIC_RTE_MASKED || io->warned_extint)
		return;
	unsigned int dm = RTE_DELIVERY(rte);
	if (dm == DM_FIXED || dm == DM_LOWEST || dm == DM_SMI || dm == DM_NMI || dm == DM_INIT)
		return;
	io->warned_extint = true;
	log_warn("IOAPIC pin %u: delivery mode %u (%s) has no MSI form in split-irqchip mode; "
		 "the pin stays masked", pin, dm, dm == DM_EXTINT ? "ExtINT, no PIC" : "reserved");
}

/* Pushes the routes of every routable pin when any of them changed. */
static void sync_routes(struct ioapic *io)
{
	bool routed[IOAPIC_NR_PINS];
	struct ioapic_route route[IOAPIC_NR_PINS];
	struct ioapic_route table[IOAPIC_NR_PINS];
	unsigned int n = 0;
	bool changed = false;

	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		route[pin] = (struct ioapic_route){.gsi = pin};
		routed[pin] = ioapic_rte_to_msi(io->rte[pin], &route[pin].addr, &route[pin].data);
		if (routed[pin])
			table[n++] = route[pin];
		if (routed[pin] != io->routed[pin] ||
		    (routed[pin] && (route[pin].addr != io->route[pin].addr ||
				     route[pin].data != io->route[pin].data)))
			changed = true;
	}
	if (!changed)
		return;
	int ret = io->set_routes(io->opaque, table, n);
	if (ret) {
		log_error("IOAPIC: cannot update the interrupt routes: %s", strerror(-ret));
		return;
	}
	memcpy(io->routed, routed, sizeof(routed));
	memcpy(io->route, route, sizeof(route));
}

int ioapic_init(struct ioapic *io, uint8_t id, ioapic_set_routes_fn set_routes, void *opaque)
{
	memset(io, 0, sizeof(*io));
	pthread_mutex_init(&io->lock, NULL);
	io->id = id;
	io->set_routes = set_routes;
	io->opaque = opaque;
	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		io->rte[pin] = IOAPIC_RTE_MASKED;
	int ret = set_routes(opaque, io->route, 0);
	if (ret)
		log_error("IOAPIC: cannot clear the interrupt routes: %s", strerror(-ret));
	return ret;
}

void ioapic_destroy(struct ioapic *io)
{
	pthread_mutex_destroy(&io->lock);
}

static uint32_t read_window(const struct ioapic *io)
{
	uint32_t idx = io->ioregsel;
	switch (idx) {
	case IOAPIC_IDX_ID:
	case IOAPIC_IDX_ARB:
		return (uint32_t)io->id << 24;
	case IOAPIC_IDX_VER:
		return ((uint32_t)(IOAPIC_NR_PINS - 1) << 16) | IOAPIC_VERSION;
	default:
		break;
	}
	if (idx < IOAPIC_IDX_REDIR || idx >= IOAPIC_IDX_REDIR + 2 * IOAPIC_NR_PINS)
		return 0;
	uint64_t rte = io->rte[(idx - IOAPIC_IDX_REDIR) / 2];
	return (idx & 1) ? (uint32_t)(rte >> 32) : (uint32_t)rte;
}

static void write_window(struct ioapic *io, uint32_t val)
{
	uint32_t idx = io->ioregsel;
	if (idx == IOAPIC_IDX_ID) {
		io->id = (uint8_t)(val >> 24);
		return;
	}
	if (idx < IOAPIC_IDX_REDIR || idx >= IOAPIC_IDX_REDIR + 2 * IOAPIC_NR_PINS)
		return;	/* version, arbitration, unimplemented: read-only */
	unsigned int pin = (idx - IOAPIC_IDX_REDIR) / 2;
	uint64_t old = io->rte[pin];
	uint64_t v = (idx & 1) ? ((uint64_t)val << 32) | (old & 0xffffffffull)
			       : (old & 0xffffffff00000000ull) | val;
	v = (v & RTE_WRITABLE) | (old & ~RTE_WRITABLE);
	/* An edge pin has no Remote IRR. */
	if (!(v & IOAPIC_RTE_LEVEL))
		v &= ~IOAPIC_RTE_REMOTE_IRR;
	io->rte[pin] = v;
	warn_unroutable(io, pin, v);
	sync_routes(io);
}

static void eoi_locked(struct ioapic *io, uint8_t vector)
{
	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		if ((io->rte[pin] & IOAPIC_RTE_LEVEL) && RTE_VECTOR(io->rte[pin]) == vector)
			io->rte[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
}

/* Registers are 32 bits wide at 16-byte strides; other sizes and offsets
 * read as zeros and are ignored on write, as on the chip. */
void ioapic_mmio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct ioapic *io = opaque;
	uint32_t v = 0;
	memset(data, 0, len);
	if (len != 4)
		return;
	pthread_mutex_lock(&io->lock);
	if (offset == IOAPIC_REG_SEL)
		v = io->ioregsel;
	else if (offset == IOAPIC_REG_WIN)
		v = read_window(io);
	pthread_mutex_unlock(&io->lock);
	memcpy(data, &v, sizeof(v));
}

void ioapic_mmio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct ioapic *io = opaque;
	uint32_t v;
	if (len != 4)
		return;
	memcpy(&v, data, sizeof(v));
	pthread_mutex_lock(&io->lock);
	if (offset == IOAPIC_REG_SEL)
		io->ioregsel = v & 0xff;
	else if (offset == IOAPIC_REG_WIN)
		write_window(io, v);
	else if (offset == IOAPIC_REG_EOI)
		eoi_locked(io, (uint8_t)v);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	eoi_locked(io, vector);
	pthread_mutex_unlock(&io->lock);
}
