// SPDX-License-Identifier: Apache-2.0
#include "../test.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "vmm/guest_mem.h"

#include <errno.h>
#include <stdint.h>

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

struct parsed {
	unsigned int cpus, bsps, buses, ioapics, ints, lints;
	uint8_t ioapic_id;
	uint32_t ioapic_addr;
	int irq_to_pin[16];
	uint8_t cpu_ids[256];
	int lint0_type, lint1_type;
};

/* Walks the config table the way Linux's mpparse does, checking lengths. */
static int parse_entries(const uint8_t *e, size_t len, struct parsed *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < 16; i++)
		out->irq_to_pin[i] = -1;
	while (off < len) {
		switch (e[off]) {
		case 0:
			out->cpu_ids[out->cpus++] = e[off + 1];
			if (e[off + 3] & 2)
				out->bsps++;
			CHECK(e[off + 3] & 1);
			off += 20;
			break;
		case 1:
			CHECK(!memcmp(e + off + 2, "ISA   ", 6));
			out->buses++;
			off += 8;
			break;
		case 2:
			out->ioapics++;
			out->ioapic_id = e[off + 1];
			out->ioapic_addr = rd32(e + off + 4);
			off += 8;
			break;
		case 3:
			CHECK_EQ(e[off + 1], 0);
			CHECK_EQ(e[off + 6], out->ioapic_id);
			if (e[off + 5] < 16)
				out->irq_to_pin[e[off + 5]] = e[off + 7];
			out->ints++;
			off += 8;
			break;
		case 4:
			if (e[off + 7] == 0)
				out->lint0_type = e[off + 1];
			else
				out->lint1_type = e[off + 1];
			CHECK_EQ(e[off + 6], 0xff);
			out->lints++;
			off += 8;
			break;
		default:
			return -1;
		}
	}
	return off == len ? 0 : -1;
}

static void check_table(unsigned int nr_cpus)
{
	struct guest_mem gm = {0};
	struct parsed p;
	uint8_t *base;

	CHECK_EQ(gm_alloc_region(&gm, 0, 0x100000), 0);
	CHECK_EQ(x86_write_mptable(&gm, nr_cpus), 0);
	base = gm_ptr(&gm, X86_MPTABLE_ADDR, x86_mptable_size(nr_cpus));
	CHECK(base != NULL);
	if (!base)
		return;

	CHECK(!memcmp(base, "_MP_", 4));
	CHECK_EQ(sum8(base, 16), 0);
	CHECK_EQ(base[8], 1);
	CHECK_EQ(base[9], 4);
	uint32_t physptr = rd32(base + 4);
	CHECK_EQ(physptr, X86_MPTABLE_ADDR + 16);

	const uint8_t *t = base + 16;
	uint16_t len = rd16(t + 4);
	CHECK(!memcmp(t, "PCMP", 4));
	CHECK_EQ(len, x86_mptable_size(nr_cpus) - 16);
	CHECK_EQ(sum8(t, len), 0);
	CHECK_EQ(t[6], 4);
	CHECK_EQ(rd32(t + 36), X86_LAPIC_ADDR);
	CHECK_EQ(rd16(t + 34), nr_cpus + 1 + 1 + 16 + 2);

	CHECK_EQ(parse_entries(t + 44, len - 44, &p), 0);
	CHECK_EQ(p.cpus, nr_cpus);
	CHECK_EQ(p.bsps, 1);
	for (unsigned int i = 0; i < p.cpus; i++)
		CHECK_EQ(p.cpu_ids[i], i);
	CHECK_EQ(p.buses, 1);
	CHECK_EQ(p.ioapics, 1);
	CHECK_EQ(p.ioapic_id, nr_cpus + 1);
	CHECK_EQ(p.ioapic_addr, X86_IOAPIC_ADDR);
	CHECK_EQ(p.ints, 16);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(p.irq_to_pin[i], i);
	CHECK_EQ(p.lints, 2);
	CHECK_EQ(p.lint0_type, 3);	/* ExtINT */
	CHECK_EQ(p.lint1_type, 1);	/* NMI */
	/* The table must sit in the range e820 reserves. */
	CHECK(X86_MPTABLE_ADDR + x86_mptable_size(nr_cpus) <= X86_HIMEM_START);
	gm_destroy(&gm);
}

static void test_one_cpu(void)
{
	check_table(1);
}

static void test_sixteen_cpus(void)
{
	check_table(16);
}

static void test_max_cpus(void)
{
	check_table(X86_MPTABLE_MAX_CPUS);
}

static void test_refused(void)
{
	struct guest_mem gm = {0};

	CHECK_EQ(gm_alloc_region(&gm, 0, 0x100000), 0);
	CHECK_EQ(x86_write_mptable(&gm, 0), -EINVAL);
	CHECK_EQ(x86_write_mptable(&gm, 255), -EINVAL);
	CHECK_EQ(x86_write_mptable(&gm, 100000), -EINVAL);
	gm_destroy(&gm);

	struct guest_mem small = {0};
	CHECK_EQ(gm_alloc_region(&small, 0, 0x9f000), 0);
	CHECK_EQ(x86_write_mptable(&small, 1), -EFAULT);
	gm_destroy(&small);
}

int main(void)
{
	RUN_TEST(test_one_cpu);
	RUN_TEST(test_sixteen_cpus);
	RUN_TEST(test_max_cpus);
	RUN_TEST(test_refused);
	TEST_MAIN_END();
}
