// SPDX-License-Identifier: Apache-2.0
/* MC146818-style CMOS: memory-size words and a read-only UTC clock. */
#include "legacy.h"

#include <string.h>
#include <time.h>

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_WEEKDAY 0x06
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32

#define REG_B_24H 0x02
#define REG_D_VALID 0x80

void cmos_init(struct cmos *c, uint64_t mem_below_4g, uint64_t mem_above_4g)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	/* 0x34/0x35: 64 KiB units of RAM between 16 MiB and the 4 GiB hole. */
	uint64_t mid = mem_below_4g > (16u << 20) ? (mem_below_4g - (16u << 20)) >> 16 : 0;
	if (mid > 0xffff)
		mid = 0xffff;
	c->nvram[0x34] = (uint8_t)mid;
	c->nvram[0x35] = (uint8_t)(mid >> 8);
	/* 0x5b..0x5d: 64 KiB units above 4 GiB. */
	uint64_t high = mem_above_4g >> 16;
	c->nvram[0x5b] = (uint8_t)high;
	c->nvram[0x5c] = (uint8_t)(high >> 8);
	c->nvram[0x5d] = (uint8_t)(high >> 16);
	c->nvram[RTC_REG_B] = REG_B_24H;
	c->nvram[RTC_REG_D] = REG_D_VALID;
}

void cmos_destroy(struct cmos *c)
{
	pthread_mutex_destroy(&c->lock);
}

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t clock_reg(uint8_t index)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	switch (index) {
	case RTC_SECONDS:
		return bcd(tm.tm_sec);
	case RTC_MINUTES:
		return bcd(tm.tm_min);
	case RTC_HOURS:
		return bcd(tm.tm_hour);
	case RTC_WEEKDAY:
		return bcd(tm.tm_wday + 1);
	case RTC_DAY:
		return bcd(tm.tm_mday);
	case RTC_MONTH:
		return bcd(tm.tm_mon + 1);
	case RTC_YEAR:
		return bcd(tm.tm_year % 100);
	case RTC_CENTURY:
		return bcd((tm.tm_year + 1900) / 100);
	default:
		return 0;
	}
}

static bool is_clock_reg(uint8_t i)
{
	return i <= RTC_YEAR || i == RTC_CENTURY;
}

void cmos_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct cmos *c = opaque;
	memset(data, 0, len);
	if (len != 1 || offset != 1)
		return;
	pthread_mutex_lock(&c->lock);
	uint8_t i = c->index;
	/* Register A reads with UIP clear: the clock is never mid-update. */
	*(uint8_t *)data = is_clock_reg(i) ? clock_reg(i) : c->nvram[i];
	pthread_mutex_unlock(&c->lock);
}

void cmos_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct cmos *c = opaque;
	if (len != 1)
		return;
	pthread_mutex_lock(&c->lock);
	/* Bit 7 of the index port is the NMI mask, not part of the index. */
	if (offset == 0)
		c->index = *(const uint8_t *)data & 0x7f;
	/* The clock and size words are read-only; other NVRAM is scratch. */
	else if (offset == 1 && !is_clock_reg(c->index) && c->index > RTC_REG_D &&
		 c->index != 0x34 && c->index != 0x35 && (c->index < 0x5b || c->index > 0x5d))
		c->nvram[c->index] = *(const uint8_t *)data;
	pthread_mutex_unlock(&c->lock);
}
