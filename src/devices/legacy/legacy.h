/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few PC devices a Linux guest touches on its way to virtio: an 8250
 * UART (early console), the i8042 reset line (reboot=k) and CMOS (memory
 * size, wall clock).  They sit on the port-I/O bus.
 */
#ifndef KRUN_LEGACY_H
#define KRUN_LEGACY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ 4
#define SERIAL_NR_PORTS 8
#define SERIAL_RX_BUF 64
#define SERIAL_TX_BUF (64 * 1024)

/*
 * Output never touches out_fd on the caller's (vCPU) thread: bytes go into
 * a SERIAL_TX_BUF ring that a drain thread owned by the device writes out
 * (poll()ed, PIPE_BUF at a time, on its own dup of out_fd, whose file
 * status flags stay as they are).  A full ring holds the writing vCPU back
 * while the reader makes progress; once it made none for 200 ms the output
 * counts as stalled and bytes are dropped (counted, one log line) until the
 * reader drains the ring again.  The ring and its thread exist from the
 * first byte written; serial_destroy() flushes what is queued for at most
 * half a second and never waits for a write the drain thread is blocked in.
 */
struct serial_tx;
struct serial_rx;
struct krun_launcher;

struct serial {
	pthread_mutex_t lock;
	int out_fd;	/* -1: discard output; not owned */
	bool out_is_sock;	/* written with send(MSG_NOSIGNAL) */
	struct serial_tx *tx;	/* NULL until the first byte */
	bool tx_failed;	/* no ring or thread could be set up: output discarded */
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, dll, dlm;
	bool thre_pending;
	uint8_t rx[SERIAL_RX_BUF];
	unsigned int rx_head, rx_count;
	struct serial_rx *input;	/* NULL: no host input */
	int rx_wake_fd;		/* the input thread's eventfd; -1: none */
	bool rx_want_space;	/* it holds bytes until the guest empties rx[] */
	void (*raise_irq)(void *opaque);
	void *irq_opaque;
	/* Creates the drain thread (seccomp-filtered), which a vCPU's first
	 * byte starts; NULL (unit tests): a plain thread.  Set after init. */
	struct krun_launcher *launcher;
};

void serial_init(struct serial *s, int out_fd, void (*raise_irq)(void *), void *opaque);
void serial_destroy(struct serial *s);
void serial_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len);
void serial_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len);
/* Queues host input; returns how many bytes were accepted. */
unsigned int serial_feed_input(struct serial *s, const uint8_t *buf, unsigned int len);
/*
 * Host input from in_fd (a dup is kept; in_fd stays the caller's), read by
 * a thread of the device's own, never by a vCPU.  It holds at most
 * SERIAL_RX_BUF bytes beyond the guest's receive buffer and hands them
 * over only once the guest has emptied that buffer, so each batch raises
 * a fresh receive interrupt and the host fd is not read faster than the
 * guest reads.  EOF or a read error ends the input (one log line);
 * EAGAIN on a non-blocking fd is waited out with poll().  Call after
 * serial_init() and setting the launcher.
 */
int serial_attach_input(struct serial *s, int in_fd);
/* Output bytes dropped so far because the reader stalled or went away. */
uint64_t serial_tx_dropped(struct serial *s);

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

struct i8042 {
	uint8_t ctrl;	/* controller command byte */
	uint8_t pending_cmd;
	uint8_t out;
	bool out_full;
	void (*reset)(void *opaque);
	void *reset_opaque;
};

void i8042_init(struct i8042 *k, void (*reset)(void *), void *opaque);
void i8042_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len);
void i8042_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len);

#define CMOS_PORT 0x70
#define CMOS_NR_PORTS 2

struct cmos {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t nvram[128];
};

/* below_4g / above_4g: guest RAM sizes the BIOS-style size words report. */
void cmos_init(struct cmos *c, uint64_t mem_below_4g, uint64_t mem_above_4g);
void cmos_destroy(struct cmos *c);
void cmos_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len);
void cmos_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len);

#endif
