/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal unit-test harness: each test binary runs its cases, prints one
 * line per case and exits non-zero if any failed.  meson's test() runs the
 * binaries; tests/run-all counts the cases.
 */
#ifndef KRUN_TEST_H
#define KRUN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_in_case;
static int test_cases_passed;
static int test_cases_failed;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,     \
				__LINE__, #cond);                                    \
			test_failures_in_case++;                                     \
		}                                                                    \
	} while (0)

#define CHECK_EQ(a, b)                                                               \
	do {                                                                         \
		long long _a = (long long)(a), _b = (long long)(b);                  \
		if (_a != _b) {                                                      \
			fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n",  \
				__FILE__, __LINE__, #a, #b, _a, _b);                 \
			test_failures_in_case++;                                     \
		}                                                                    \
	} while (0)

#define CHECK_STR(a, b)                                                              \
	do {                                                                         \
		const char *_a = (a), *_b = (b);                                     \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                             \
			fprintf(stderr, "  %s:%d: %s == \"%s\" failed: got \"%s\"\n", \
				__FILE__, __LINE__, #a, _b ? _b : "(null)",          \
				_a ? _a : "(null)");                                 \
			test_failures_in_case++;                                     \
		}                                                                    \
	} while (0)

#define RUN_TEST(fn)                                                                 \
	do {                                                                         \
		test_failures_in_case = 0;                                           \
		fn();                                                                \
		if (test_failures_in_case) {                                         \
			test_cases_failed++;                                         \
			printf("FAIL %s\n", #fn);                                    \
		} else {                                                             \
			test_cases_passed++;                                         \
			printf("PASS %s\n", #fn);                                    \
		}                                                                    \
		fflush(stdout);                                                      \
	} while (0)

#define TEST_MAIN_END()                                                              \
	do {                                                                         \
		printf("%d passed, %d failed\n", test_cases_passed, test_cases_failed); \
		return test_cases_failed ? 1 : 0;                                    \
	} while (0)

#endif
