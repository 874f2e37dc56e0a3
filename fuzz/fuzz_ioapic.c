// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the split-irqchip IOAPIC's MMIO window, driven by
 * random access sequences, with a route sink that may fail.
 *
 * Input (missing bytes read as 0): ops, each a u8 whose bits 0-2 are the
 * kind:
 *   0 read  (u16 offset in the window, bits 3-4: size 1/2/4/8)
 *   1 write (u16 offset, bits 3-4: size, u32 u32 the value)
 *   2 select and write the window (u8 index, u32 value)
 *   3 select and read the window (u8 index)
 *   4 EOI from the hypervisor (u8 vector)
 *   5 the sink fails its next pushes (bit 3: on or off)
 *   else: write the redirection entry (u8 pin, u32 low, u32 high)
 * Checks after every step (__builtin_trap): reads never write past their
 * size; the version register; the pushed table holds at most 24 routes,
 * GSIs 0..23 each once, each matching its pin's current entry, none for a
 * masked pin or an entry without an MSI form; a successful push matches
 * what ioapic_rte_to_msi gives for every pin.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/legacy/ioapic.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 512

struct sink {
	struct ioapic_route routes[IOAPIC_NR_PINS];
	unsigned int nr;
	int fail;
};

static int record(void *opaque, const struct ioapic_route *routes, unsigned int nr)
{
	struct sink *s = opaque;
	check(nr <= IOAPIC_NR_PINS);
	check(routes != NULL);
	uint32_t seen = 0;
	for (unsigned int i = 0; i < nr; i++) {
		check(routes[i].gsi < IOAPIC_NR_PINS);
		check(!(seen & (1u << routes[i].gsi)));
		seen |= 1u << routes[i].gsi;
		check((routes[i].addr & 0xfff00000ull) == 0xfee00000ull);
	}
	if (s->fail)
		return s->fail;
	memcpy(s->routes, routes, nr * sizeof(routes[0]));
	s->nr = nr;
	return 0;
}

static uint32_t window(struct ioapic *io, uint32_t idx)
{
	uint32_t v = idx;
	ioapic_mmio_write(io, IOAPIC_REG_SEL, &v, 4);
	v = 0xdeadbeef;
	ioapic_mmio_read(io, IOAPIC_REG_WIN, &v, 4);
	return v;
}

/* After a successful push, the table is exactly the entries' routes. */
static void check_table(struct ioapic *io, const struct sink *s)
{
	unsigned int expect = 0;
	uint32_t sel;
	ioapic_mmio_read(io, IOAPIC_REG_SEL, &sel, 4);
	for (unsigned int pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		uint64_t rte = ((uint64_t)window(io, IOAPIC_IDX_REDIR + 2 * pin + 1) << 32) |
			       window(io, IOAPIC_IDX_REDIR + 2 * pin);
		uint64_t addr;
		uint32_t data;
		const struct ioapic_route *r = NULL;
		for (unsigned int i = 0; i < s->nr; i++)
			if (s->routes[i].gsi == pin)
				r = &s->routes[i];
		if (!ioapic_rte_to_msi(rte, &addr, &data)) {
			check(r == NULL);
			continue;
		}
		expect++;
		check(r != NULL && r->addr == addr && r->data == data);
	}
	check(expect == s->nr);
	ioapic_mmio_write(io, IOAPIC_REG_SEL, &sel, 4);
}

static void step(struct ioapic *io, struct sink *s, struct reader *r)
{
	uint8_t op = get8(r);
	uint32_t len = 1u << ((op >> 3) & 3);
	uint8_t buf[16];
	switch (op & 7) {
	case 0: {
		uint16_t off = get16(r) % IOAPIC_MMIO_LEN;
		memset(buf, 0xa5, sizeof(buf));
		ioapic_mmio_read(io, off, buf, len);
		for (unsigned int i = len; i < sizeof(buf); i++)
			check(buf[i] == 0xa5);
		break;
	}
	case 1: {
		uint16_t off = get16(r) % IOAPIC_MMIO_LEN;
		uint32_t lo = get32(r), hi = get32(r);
		memcpy(buf, &lo, 4);
		memcpy(buf + 4, &hi, 4);
		ioapic_mmio_write(io, off, buf, len);
		break;
	}
	case 2: {
		uint32_t idx = get8(r), v = get32(r);
		ioapic_mmio_write(io, IOAPIC_REG_SEL, &idx, 4);
		ioapic_mmio_write(io, IOAPIC_REG_WIN, &v, 4);
		break;
	}
	case 3:
		window(io, get8(r));
		break;
	case 4:
		ioapic_eoi(io, get8(r));
		break;
	case 5:
		s->fail = (op & 8) ? -12 : 0;
		break;
	default: {
		uint32_t pin = get8(r) % IOAPIC_NR_PINS;
		uint32_t lo = get32(r), hi = get32(r);
		uint32_t idx = IOAPIC_IDX_REDIR + 2 * pin + 1;
		ioapic_mmio_write(io, IOAPIC_REG_SEL, &idx, 4);
		ioapic_mmio_write(io, IOAPIC_REG_WIN, &hi, 4);
		idx--;
		ioapic_mmio_write(io, IOAPIC_REG_SEL, &idx, 4);
		ioapic_mmio_write(io, IOAPIC_REG_WIN, &lo, 4);
		break;
	}
	}
	check(window(io, IOAPIC_IDX_VER) == (((IOAPIC_NR_PINS - 1u) << 16) | IOAPIC_VERSION));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	krun_log_configure(2, LOG_LVL_OFF);
	struct reader r = {.p = data, .left = size};
	struct sink s = {0};
	struct ioapic io;
	require(ioapic_init(&io, 2, record, &s) == 0);
	for (unsigned int n = 0; n < MAX_OPS && r.left; n++) {
		step(&io, &s, &r);
		if (!s.fail) {
			/* Rewriting an entry re-pushes what a failed push left. */
			uint32_t sel, v;
			ioapic_mmio_read(&io, IOAPIC_REG_SEL, &sel, 4);
			v = window(&io, IOAPIC_IDX_REDIR);
			ioapic_mmio_write(&io, IOAPIC_REG_WIN, &v, 4);
			ioapic_mmio_write(&io, IOAPIC_REG_SEL, &sel, 4);
			check_table(&io, &s);
		}
	}
	ioapic_destroy(&io);
	return 0;
}
