// SPDX-License-Identifier: Apache-2.0
/*
 * init/init_blob.c - accessor for the init image that the generated
 * init_blob.S pulls in with .incbin.
 */
#include "init_blob.h"

extern const uint8_t krun_init_blob_start[] __attribute__((visibility("hidden")));
extern const uint8_t krun_init_blob_end[] __attribute__((visibility("hidden")));

const uint8_t *krun_init_blob(size_t *len)
{
	if (len)
		*len = (size_t)(krun_init_blob_end - krun_init_blob_start);
	return krun_init_blob_start;
}
