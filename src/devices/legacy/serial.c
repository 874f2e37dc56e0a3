// SPDX-License-Identifier: Apache-2.0
/* 16550-compatible UART, enough for Linux's 8250 driver and earlyprintk. */
#include "legacy.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

enum {
	REG_DATA = 0, REG_IER = 1, REG_IIR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_DEFAULT 0xb0 /* DCD, DSR, CTS: a peer is always there */

void serial_init(struct serial *s, int out_fd, void (*raise_irq)(void *), void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->iir = IIR_NONE;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_DEFAULT;
	s->raise_irq = raise_irq;
	s->irq_opaque = opaque;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

/* Recomputes IIR; returns true when an interrupt edge must be sent. */
static bool update_iir(struct serial *s)
{
	uint8_t old = s->iir;
	if ((s->ier & IER_RDI) && s->rx_count)
		s->iir = IIR_RDI;
	else if ((s->ier & IER_THRI) && s->thre_pending)
		s->iir = IIR_THRI;
	else
		s->iir = IIR_NONE;
	return s->iir != IIR_NONE && s->iir != old;
}

static void emit(struct serial *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP) {
		if (s->rx_count < SERIAL_RX_BUF) {
			s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_BUF] = byte;
			s->rx_count++;
			s->lsr |= LSR_DR;
		}
		return;
	}
	if (s->out_fd < 0)
		return;
	ssize_t r;
	do {
		r = write(s->out_fd, &byte, 1);
	} while (r < 0 && errno == EINTR);
}

static bool write_reg(struct serial *s, unsigned int reg, uint8_t v)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (reg) {
	case REG_DATA:
		if (dlab) {
			s->dll = v;
			return false;
		}
		emit(s, v);
		/* Transmission is instantaneous, so THR is empty again at once. */
		s->thre_pending = true;
		break;
	case REG_IER:
		if (dlab) {
			s->dlm = v;
			return false;
		}
		/* Enabling THRI with an empty THR raises an interrupt at once. */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thre_pending = true;
		s->ier = v & 0x0f;
		break;
	case REG_IIR:
		return false; /* FCR: FIFOs are always on and never overrun here. */
	case REG_LCR:
		s->lcr = v;
		return false;
	case REG_MCR:
		s->mcr = v;
		return false;
	case REG_SCR:
		s->scr = v;
		return false;
	default:
		return false;
	}
	return update_iir(s);
}

static uint8_t read_reg(struct serial *s, unsigned int reg, bool *irq)
{
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t v = 0;
	switch (reg) {
	case REG_DATA:
		if (dlab)
			return s->dll;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_RX_BUF;
			s->rx_count--;
		}
		if (!s->rx_count)
			s->lsr &= (uint8_t)~LSR_DR;
		*irq = update_iir(s);
		return v;
	case REG_IER:
		return dlab ? s->dlm : s->ier;
	case REG_IIR:
		v = s->iir | IIR_FIFO;
		/* Reading IIR acknowledges a THRE interrupt. */
		if (s->iir == IIR_THRI) {
			s->thre_pending = false;
			*irq = update_iir(s);
		}
		return v;
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return s->lsr;
	case REG_MSR:
		return s->msr;
	case REG_SCR:
		return s->scr;
	}
	return 0;
}

void serial_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct serial *s = opaque;
	bool irq = false;
	memset(data, 0, len);
	if (len != 1 || offset >= SERIAL_NR_PORTS)
		return;
	pthread_mutex_lock(&s->lock);
	*(uint8_t *)data = read_reg(s, (unsigned int)offset, &irq);
	pthread_mutex_unlock(&s->lock);
	if (irq && s->raise_irq)
		s->raise_irq(s->irq_opaque);
}

void serial_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct serial *s = opaque;
	if (len != 1 || offset >= SERIAL_NR_PORTS)
		return;
	pthread_mutex_lock(&s->lock);
	bool irq = write_reg(s, (unsigned int)offset, *(const uint8_t *)data);
	pthread_mutex_unlock(&s->lock);
	if (irq && s->raise_irq)
		s->raise_irq(s->irq_opaque);
}

unsigned int serial_feed_input(struct serial *s, const uint8_t *buf, unsigned int len)
{
	unsigned int n = 0;
	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_count < SERIAL_RX_BUF) {
		s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_BUF] = buf[n++];
		s->rx_count++;
	}
	if (s->rx_count)
		s->lsr |= LSR_DR;
	bool irq = update_iir(s);
	pthread_mutex_unlock(&s->lock);
	if (irq && s->raise_irq)
		s->raise_irq(s->irq_opaque);
	return n;
}
