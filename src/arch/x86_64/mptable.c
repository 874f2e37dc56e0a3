// SPDX-License-Identifier: Apache-2.0
#include "arch/x86_64/mptable.h"
#include "arch/x86_64/layout.h"
#include "vmm/guest_mem.h"

#include <errno.h>
#include <string.h>

#define MP_SPEC_REV		4	/* 1.4 */
#define APIC_VERSION		0x14
#define CPU_ENABLED		0x01
#define CPU_BOOTPROCESSOR	0x02
#define CPU_SIGNATURE		0x600	/* family 6 */
#define CPU_FEATURE_FPU		(1u << 0)
#define CPU_FEATURE_APIC	(1u << 9)
#define IOAPIC_ENABLED		0x01

enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_INTSRC = 3,
	MP_LINTSRC = 4,
};

enum mp_irq_type {
	MP_INT = 0,
	MP_NMI = 1,
	MP_EXTINT = 3,
};

struct mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length;		/* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table {
	char signature[4];
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint32_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;	/* 0: conforms to the bus (ISA: edge, high) */
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

#define MPTABLE_BUF_MAX                                                        \
	(sizeof(struct mpf_intel) + sizeof(struct mpc_table) +                 \
	 X86_MPTABLE_MAX_CPUS * sizeof(struct mpc_cpu) +                       \
	 sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +                  \
	 (X86_MPTABLE_ISA_IRQS + 2) * sizeof(struct mpc_intsrc))

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "processor entry is 20 bytes");
_Static_assert(MPTABLE_BUF_MAX <= 0xffff, "config table length is 16-bit");

struct mp_writer {
	uint8_t *buf;
	size_t off;
};

static void put(struct mp_writer *w, const void *entry, size_t len)
{
	memcpy(w->buf + w->off, entry, len);
	w->off += len;
}

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

uint64_t x86_mptable_size(unsigned int nr_cpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       (uint64_t)nr_cpus * sizeof(struct mpc_cpu) +
	       sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       (X86_MPTABLE_ISA_IRQS + 2) * sizeof(struct mpc_intsrc);
}

static void put_cpus(struct mp_writer *w, unsigned int nr_cpus)
{
	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = APIC_VERSION,
			.cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
			.cpufeature = CPU_SIGNATURE,
			.featureflag = CPU_FEATURE_APIC | CPU_FEATURE_FPU,
		};
		put(w, &cpu, sizeof(cpu));
	}
}

/*
 * ISA IRQ i goes to IOAPIC pin i, IRQ 0 included: KVM's in-kernel PIT
 * raises GSI 0, and the default KVM routing wires GSI i to pin i, so the
 * usual "IRQ0 -> pin 2" override would point Linux at a silent pin.
 */
static void put_irqs(struct mp_writer *w, uint8_t ioapic_id)
{
	for (unsigned int i = 0; i < X86_MPTABLE_ISA_IRQS; i++) {
		struct mpc_intsrc src = {
			.type = MP_INTSRC, .irqtype = MP_INT, .srcbus = 0,
			.srcbusirq = (uint8_t)i, .dstapic = ioapic_id,
			.dstirq = (uint8_t)i,
		};
		put(w, &src, sizeof(src));
	}
	/* Virtual wire: the PIC reaches the BSP through LINT0, NMIs via LINT1. */
	struct mpc_intsrc lint0 = {
		.type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xff,
		.dstirq = 0,
	};
	struct mpc_intsrc lint1 = {
		.type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xff,
		.dstirq = 1,
	};
	put(w, &lint0, sizeof(lint0));
	put(w, &lint1, sizeof(lint1));
}

static void put_bus_ioapic(struct mp_writer *w, uint8_t ioapic_id)
{
	struct mpc_bus bus = { .type = MP_BUS, .busid = 0 };
	struct mpc_ioapic ioapic = {
		.type = MP_IOAPIC, .apicid = ioapic_id, .apicver = APIC_VERSION,
		.flags = IOAPIC_ENABLED, .apicaddr = (uint32_t)X86_IOAPIC_ADDR,
	};

	memcpy(bus.bustype, "ISA   ", sizeof(bus.bustype));
	put(w, &bus, sizeof(bus));
	put(w, &ioapic, sizeof(ioapic));
}

static void put_floating_pointer(struct mp_writer *w)
{
	struct mpf_intel mpf = {
		.physptr = (uint32_t)(X86_MPTABLE_ADDR + sizeof(mpf)),
		.length = 1,
		.specification = MP_SPEC_REV,
	};

	memcpy(mpf.signature, "_MP_", 4);
	mpf.checksum = mp_checksum((const uint8_t *)&mpf, sizeof(mpf));
	put(w, &mpf, sizeof(mpf));
}

/* The header goes in last: its length and checksum cover the entries. */
static void finish_config_table(uint8_t *table, size_t len, unsigned int nr_entries)
{
	struct mpc_table hdr = {
		.length = (uint16_t)len,
		.spec = MP_SPEC_REV,
		.oemcount = (uint16_t)nr_entries,
		.lapic = (uint32_t)X86_LAPIC_ADDR,
	};

	memcpy(hdr.signature, "PCMP", 4);
	memcpy(hdr.oem, "LIBKRUN ", sizeof(hdr.oem));
	memcpy(hdr.productid, "MICROVM     ", sizeof(hdr.productid));
	memcpy(table, &hdr, sizeof(hdr));
	hdr.checksum = mp_checksum(table, len);
	memcpy(table, &hdr, sizeof(hdr));
}

uint8_t x86_mptable_ioapic_id(unsigned int nr_cpus)
{
	return (uint8_t)(nr_cpus + 1);
}

int x86_write_mptable(const struct guest_mem *gm, unsigned int nr_cpus)
{
	uint8_t buf[MPTABLE_BUF_MAX];
	struct mp_writer w = { .buf = buf };
	uint8_t ioapic_id = x86_mptable_ioapic_id(nr_cpus);

	if (nr_cpus == 0 || nr_cpus > X86_MPTABLE_MAX_CPUS)
		return -EINVAL;
	memset(buf, 0, sizeof(buf));
	put_floating_pointer(&w);

	size_t table_off = w.off;
	w.off += sizeof(struct mpc_table);
	put_cpus(&w, nr_cpus);
	put_bus_ioapic(&w, ioapic_id);
	put_irqs(&w, ioapic_id);
	finish_config_table(buf + table_off, w.off - table_off,
			    nr_cpus + 2 + X86_MPTABLE_ISA_IRQS + 2);
	return gm_write(gm, X86_MPTABLE_ADDR, buf, w.off);
}
