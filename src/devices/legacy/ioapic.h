/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IOAPIC of split-irqchip mode (krun_split_irqchip): the local APICs
 * stay in the hypervisor, this register file lives in the VMM on the MMIO
 * bus.  It never injects anything itself: each unmasked pin becomes an MSI
 * route for its GSI, so the irqfds devices already signal on GSIs 0..23 are
 * delivered by the hypervisor as the redirection entry says.
 *
 * Every line is an edge (devices pulse their irqfd; no resample), as with
 * the in-kernel irqchip.  A pin the guest programs level-triggered gets a
 * level MSI, whose EOI the hypervisor reports (ioapic_eoi, or a write of the
 * EOI register): that clears the pin's Remote IRR, which never stays set
 * since no line is ever held high.  Masked pins and pins with a delivery
 * mode that has no MSI form (ExtINT: there is no PIC; the reserved modes)
 * get no route, so interrupts on them are dropped as a masked edge is.
 */
#ifndef KRUN_IOAPIC_H
#define KRUN_IOAPIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_NR_PINS 24
#define IOAPIC_VERSION 0x20
#define IOAPIC_MMIO_LEN 0x1000

#define IOAPIC_REG_SEL 0x00
#define IOAPIC_REG_WIN 0x10
#define IOAPIC_REG_EOI 0x40

#define IOAPIC_IDX_ID 0x00
#define IOAPIC_IDX_VER 0x01
#define IOAPIC_IDX_ARB 0x02
#define IOAPIC_IDX_REDIR 0x10

#define IOAPIC_RTE_MASKED (1ull << 16)
#define IOAPIC_RTE_LEVEL (1ull << 15)
#define IOAPIC_RTE_REMOTE_IRR (1ull << 14)

struct ioapic_route {
	uint32_t gsi;
	uint64_t addr;
	uint32_t data;
};

/* Replaces the hypervisor's whole GSI routing table with routes[0..nr).
 * Returns 0 or -errno; called with the IOAPIC's lock held. */
typedef int (*ioapic_set_routes_fn)(void *opaque, const struct ioapic_route *routes,
				    unsigned int nr);

struct ioapic {
	pthread_mutex_t lock;
	uint8_t id;	/* all 8 bits: the MP table's ID may exceed 15 */
	uint32_t ioregsel;
	uint64_t rte[IOAPIC_NR_PINS];
	bool routed[IOAPIC_NR_PINS];		/* what the hypervisor has now */
	struct ioapic_route route[IOAPIC_NR_PINS];
	bool warned_extint;
	ioapic_set_routes_fn set_routes;
	void *opaque;
};

/* Every pin masked, no route. Returns 0 or the sink's -errno. */
int ioapic_init(struct ioapic *io, uint8_t id, ioapic_set_routes_fn set_routes, void *opaque);
void ioapic_destroy(struct ioapic *io);
/* The MMIO window (offset within IOAPIC_MMIO_LEN); any access is safe. */
void ioapic_mmio_read(void *opaque, uint64_t offset, void *data, uint32_t len);
void ioapic_mmio_write(void *opaque, uint64_t offset, const void *data, uint32_t len);
/* A local APIC's EOI of a level-triggered vector. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* The MSI a redirection entry stands for; false when it gets none. */
bool ioapic_rte_to_msi(uint64_t rte, uint64_t *addr, uint32_t *data);

#endif
