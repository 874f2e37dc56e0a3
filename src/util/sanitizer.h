// SPDX-License-Identifier: Apache-2.0
#ifndef KRUN_UTIL_SANITIZER_H
#define KRUN_UTIL_SANITIZER_H

#include <stdbool.h>

/* ASan and UBSan runtimes make syscalls and read files of their own
 * (reports, shadow memory, /proc/self/maps for leak checks, symbolizing)
 * that no sandbox of ours allows: sanitized builds run unsandboxed. */
static inline bool krun_sanitized_build(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

#endif
