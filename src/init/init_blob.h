/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init/init_blob.h - the static guest init embedded in libkrun, served to
 * the guest as the virtual file "/init.krun".
 */
#ifndef KRUN_INIT_BLOB_H
#define KRUN_INIT_BLOB_H

#include <stddef.h>
#include <stdint.h>

#define KRUN_INIT_BLOB_NAME "init.krun"

/* The ELF image (page aligned, read-only, lives as long as the library). */
const uint8_t *krun_init_blob(size_t *len);

#endif
