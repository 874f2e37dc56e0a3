// SPDX-License-Identifier: Apache-2.0
/* The split-irqchip IOAPIC: register file, redirection entries turned into
 * MSI routes (pushed only when they change), masked and unroutable pins
 * without a route, Remote IRR and EOI, and hostile register accesses. */
#include "test.h"
#include "devices/legacy/ioapic.h"

#include <errno.h>
#include <stdint.h>

struct sink {
	struct ioapic_route routes[IOAPIC_NR_PINS + 1];
	unsigned int nr;
	unsigned int calls;
	int fail;		/* returned by the next push */
};

static int record(void *opaque, const struct ioapic_route *routes, unsigned int nr)
{
	struct sink *s = opaque;
	s->calls++;
	if (s->fail)
		return s->fail;
	if (nr > IOAPIC_NR_PINS)
		return -E2BIG;
	for (unsigned int i = 0; i < nr; i++)
		s->routes[i] = routes[i];
	s->nr = nr;
	return 0;
}

static const struct ioapic_route *route_of(const struct sink *s, uint32_t gsi)
{
	for (unsigned int i = 0; i < s->nr; i++)
		if (s->routes[i].gsi == gsi)
			return &s->routes[i];
	return NULL;
}

static void wr(struct ioapic *io, uint64_t off, uint32_t v)
{
	ioapic_mmio_write(io, off, &v, 4);
}

static uint32_t rd(struct ioapic *io, uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	ioapic_mmio_read(io, off, &v, 4);
	return v;
}

static uint32_t reg(struct ioapic *io, uint32_t idx)
{
	wr(io, IOAPIC_REG_SEL, idx);
	return rd(io, IOAPIC_REG_WIN);
}

static void set_reg(struct ioapic *io, uint32_t idx, uint32_t v)
{
	wr(io, IOAPIC_REG_SEL, idx);
	wr(io, IOAPIC_REG_WIN, v);
}

static void set_rte(struct ioapic *io, unsigned int pin, uint64_t rte)
{
	set_reg(io, IOAPIC_IDX_REDIR + 2 * pin + 1, (uint32_t)(rte >> 32));
	set_reg(io, IOAPIC_IDX_REDIR + 2 * pin, (uint32_t)rte);
}

static uint64_t get_rte(struct ioapic *io, unsigned int pin)
{
	return ((uint64_t)reg(io, IOAPIC_IDX_REDIR + 2 * pin + 1) << 32) |
	       reg(io, IOAPIC_IDX_REDIR + 2 * pin);
}

static void test_identity_registers(void)
{
	struct sink s = {0};
	struct ioapic io;
	CHECK_EQ(ioapic_init(&io, 3, record, &s), 0);
	CHECK_EQ(s.calls, 1);
	CHECK_EQ(s.nr, 0);
	CHECK_EQ(reg(&io, IOAPIC_IDX_ID), 3u << 24);
	/* Max redirection entry 23 in bits 23:16, version 0x20. */
	CHECK_EQ(reg(&io, IOAPIC_IDX_VER), 0x170020);
	CHECK_EQ(reg(&io, IOAPIC_IDX_ARB), 3u << 24);
	set_reg(&io, IOAPIC_IDX_ID, 0x05000000);
	CHECK_EQ(reg(&io, IOAPIC_IDX_ID), 5u << 24);
	set_reg(&io, IOAPIC_IDX_VER, 0);
	CHECK_EQ(reg(&io, IOAPIC_IDX_VER), 0x170020);
	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		CHECK_EQ(get_rte(&io, pin), IOAPIC_RTE_MASKED);
	CHECK_EQ(s.calls, 1);
	ioapic_destroy(&io);
}

static void test_route_follows_entry(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	/* Linux's ISA edge pin: vector 0x22, fixed, physical, destination 1. */
	set_rte(&io, 4, (1ull << 56) | 0x22);
	const struct ioapic_route *r = route_of(&s, 4);
	CHECK(r != NULL);
	CHECK_EQ(s.nr, 1);
	if (r) {
		CHECK_EQ(r->addr, 0xfee01000);
		CHECK_EQ(r->data, 0x22);
	}
	/* Lowest priority, logical, level, destination 0x0f. */
	set_rte(&io, 9, (0x0full << 56) | IOAPIC_RTE_LEVEL | (1u << 11) | (1u << 8) | 0x41);
	r = route_of(&s, 9);
	CHECK_EQ(s.nr, 2);
	if (r) {
		CHECK_EQ(r->addr, 0xfee0f004);
		CHECK_EQ(r->data, 0x8141);
	} else {
		CHECK(r != NULL);
	}
	CHECK(route_of(&s, 4) != NULL);
	/* The extended destination ID (bits 49-55) lands in address bits 11:5;
	 * reserved bit 48 goes nowhere. */
	set_rte(&io, 5, (0x7full << 49) | (1ull << 48) | 0x30);
	r = route_of(&s, 5);
	if (r)
		CHECK_EQ(r->addr, 0xfee00fe0);
	else
		CHECK(r != NULL);
	ioapic_destroy(&io);
}

static void test_writes_that_change_nothing_push_nothing(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	set_rte(&io, 7, 0x33);
	unsigned int calls = s.calls;
	set_rte(&io, 7, 0x33);
	/* A masked pin's other bits do not matter to the hypervisor. */
	set_rte(&io, 8, IOAPIC_RTE_MASKED | 0x44);
	set_rte(&io, 8, IOAPIC_RTE_MASKED | 0x45);
	CHECK_EQ(s.calls, calls);
	ioapic_destroy(&io);
}

static void test_mask_removes_route(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	set_rte(&io, 3, 0x23);
	set_rte(&io, 6, 0x26);
	CHECK_EQ(s.nr, 2);
	set_rte(&io, 3, IOAPIC_RTE_MASKED | 0x23);
	CHECK_EQ(s.nr, 1);
	CHECK(route_of(&s, 3) == NULL);
	CHECK(route_of(&s, 6) != NULL);
	set_rte(&io, 3, 0x23);
	CHECK(route_of(&s, 3) != NULL);
	ioapic_destroy(&io);
}

static void test_unroutable_delivery_modes_stay_masked(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	/* ExtINT (what Linux writes to pin 0 for virtual wire at shutdown),
	 * and the reserved modes 3 and 6: no route, no crash. */
	set_rte(&io, 0, 7u << 8);
	set_rte(&io, 1, 3u << 8 | 0x50);
	set_rte(&io, 2, 6u << 8 | 0x50);
	CHECK_EQ(s.nr, 0);
	CHECK_EQ(get_rte(&io, 0), 7u << 8);
	uint64_t addr;
	uint32_t data;
	CHECK(!ioapic_rte_to_msi(7u << 8, &addr, &data));
	CHECK(ioapic_rte_to_msi(4u << 8, &addr, &data));	/* NMI */
	CHECK_EQ(data, 0x400);
	ioapic_destroy(&io);
}

static void test_read_only_bits(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	/* Delivery status (12), Remote IRR (14) and reserved bits 17-47 are
	 * not the guest's to set. */
	set_rte(&io, 10, 0x0000fffffffe5000ull | IOAPIC_RTE_LEVEL | 0x61);
	CHECK_EQ(get_rte(&io, 10), IOAPIC_RTE_LEVEL | 0x61);
	ioapic_destroy(&io);
}

static void test_eoi(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	set_rte(&io, 11, IOAPIC_RTE_LEVEL | 0x71);
	set_rte(&io, 12, IOAPIC_RTE_LEVEL | 0x72);
	/* No line is ever held high: Remote IRR is set by nothing, and an
	 * EOI for it (the hypervisor's exit or the EOI register) or for a
	 * vector no pin has changes no entry. */
	io.rte[11] |= IOAPIC_RTE_REMOTE_IRR;
	io.rte[12] |= IOAPIC_RTE_REMOTE_IRR;
	ioapic_eoi(&io, 0x71);
	CHECK_EQ(get_rte(&io, 11), IOAPIC_RTE_LEVEL | 0x71);
	CHECK_EQ(get_rte(&io, 12), IOAPIC_RTE_LEVEL | IOAPIC_RTE_REMOTE_IRR | 0x72);
	wr(&io, IOAPIC_REG_EOI, 0x72);
	CHECK_EQ(get_rte(&io, 12), IOAPIC_RTE_LEVEL | 0x72);
	ioapic_eoi(&io, 0xff);
	CHECK_EQ(get_rte(&io, 11), IOAPIC_RTE_LEVEL | 0x71);
	/* Switching a pin to edge drops its Remote IRR. */
	io.rte[11] |= IOAPIC_RTE_REMOTE_IRR;
	set_reg(&io, IOAPIC_IDX_REDIR + 22, 0x71);
	CHECK_EQ(get_rte(&io, 11), 0x71);
	ioapic_destroy(&io);
}

static void test_hostile_accesses(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	/* IOREGSEL keeps 8 bits; indices past the last entry read zero and
	 * ignore writes. */
	wr(&io, IOAPIC_REG_SEL, 0xffffffff);
	CHECK_EQ(rd(&io, IOAPIC_REG_SEL), 0xff);
	CHECK_EQ(rd(&io, IOAPIC_REG_WIN), 0);
	wr(&io, IOAPIC_REG_WIN, 0x12345678);
	for (uint32_t idx = IOAPIC_IDX_REDIR + 2 * IOAPIC_NR_PINS; idx < 0x100; idx++) {
		set_reg(&io, idx, 0);
		CHECK_EQ(reg(&io, idx), 0);
	}
	CHECK_EQ(s.calls, 1);
	/* Other sizes and offsets: zeros, no effect, no write past len. */
	uint8_t buf[8];
	memset(buf, 0xaa, sizeof(buf));
	ioapic_mmio_read(&io, IOAPIC_REG_WIN, buf, 2);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(buf[1], 0);
	CHECK_EQ(buf[2], 0xaa);
	uint64_t big = 0;
	ioapic_mmio_write(&io, IOAPIC_REG_SEL, &big, 8);
	CHECK_EQ(rd(&io, IOAPIC_REG_SEL), 0xff);
	CHECK_EQ(rd(&io, 0x20), 0);
	CHECK_EQ(rd(&io, IOAPIC_MMIO_LEN - 4), 0);
	ioapic_destroy(&io);
}

static void test_failed_push_is_retried(void)
{
	struct sink s = {0};
	struct ioapic io;
	ioapic_init(&io, 2, record, &s);
	s.fail = -ENOMEM;
	set_rte(&io, 13, 0x55);
	CHECK_EQ(s.nr, 0);
	s.fail = 0;
	/* The hypervisor still has the old table: the next write pushes the
	 * pin's route though the entry did not change. */
	set_rte(&io, 13, 0x55);
	CHECK(route_of(&s, 13) != NULL);
	ioapic_destroy(&io);
}

int main(void)
{
	RUN_TEST(test_identity_registers);
	RUN_TEST(test_route_follows_entry);
	RUN_TEST(test_writes_that_change_nothing_push_nothing);
	RUN_TEST(test_mask_removes_route);
	RUN_TEST(test_unroutable_delivery_modes_stay_masked);
	RUN_TEST(test_read_only_bits);
	RUN_TEST(test_eoi);
	RUN_TEST(test_hostile_accesses);
	RUN_TEST(test_failed_push_is_retried);
	TEST_MAIN_END();
}
