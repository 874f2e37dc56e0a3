// SPDX-License-Identifier: Apache-2.0
/*
 * i8042 keyboard controller, reduced to what a guest without a keyboard
 * needs: the command/status handshake and the 0xFE pulse of the CPU reset
 * line, which Linux's reboot=k uses and which ends the VM.
 */
#include "legacy.h"

#include <string.h>

#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define STATUS_CMD 0x08

#define CMD_READ_CTRL 0x20
#define CMD_WRITE_CTRL 0x60
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_SELF_TEST 0xaa
#define CMD_PULSE_RESET 0xfe

void i8042_init(struct i8042 *k, void (*reset)(void *), void *opaque)
{
	memset(k, 0, sizeof(*k));
	k->reset = reset;
	k->reset_opaque = opaque;
}

static void set_output(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->out_full = true;
}

void i8042_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = 0;
	if (offset == 4) {
		v = STATUS_SYS | (k->out_full ? STATUS_OBF : 0);
	} else if (offset == 0) {
		v = k->out;
		k->out_full = false;
	}
	memset(data, 0, len);
	*(uint8_t *)data = v;
}

static void command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CTRL:
		set_output(k, k->ctrl);
		break;
	case CMD_READ_OUTPORT:
		set_output(k, 0x01); /* reset line high: not in reset */
		break;
	case CMD_SELF_TEST:
		set_output(k, 0x55);
		break;
	case CMD_WRITE_CTRL:
	case CMD_WRITE_OUTPORT:
		k->pending_cmd = cmd;
		break;
	case CMD_PULSE_RESET:
		if (k->reset)
			k->reset(k->reset_opaque);
		break;
	default:
		break;
	}
}

void i8042_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = *(const uint8_t *)data;
	if (len != 1)
		return;
	if (offset == 4) {
		command(k, v);
		return;
	}
	if (offset != 0)
		return;
	if (k->pending_cmd == CMD_WRITE_CTRL) {
		k->ctrl = v;
	} else if (k->pending_cmd == CMD_WRITE_OUTPORT) {
		/* Bit 0 low asserts the CPU reset line. */
		if (!(v & 1) && k->reset)
			k->reset(k->reset_opaque);
	} else {
		set_output(k, 0xfa); /* ACK anything sent to the (absent) keyboard */
	}
	k->pending_cmd = 0;
}
