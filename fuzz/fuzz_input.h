/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every fuzz target shares: reading the input as a byte stream that
 * yields zeros once used up, and the two ways a target stops.  require()
 * is for the harness's own setup (a failure there is not a finding);
 * check() is an invariant of the code under test (a finding).
 */
#ifndef KRUN_FUZZ_INPUT_H
#define KRUN_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct reader {
	const uint8_t *p;
	size_t left;
};

static inline void require(int ok)
{
	if (!ok)
		abort();
}

static inline void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static inline uint8_t get8(struct reader *r)
{
	if (!r->left)
		return 0;
	r->left--;
	return *r->p++;
}

static inline uint16_t get16(struct reader *r)
{
	uint16_t lo = get8(r);

	return (uint16_t)(lo | get8(r) << 8);
}

static inline uint32_t get32(struct reader *r)
{
	uint32_t lo = get16(r);

	return lo | (uint32_t)get16(r) << 16;
}

#endif
