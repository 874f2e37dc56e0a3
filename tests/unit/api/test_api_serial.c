// SPDX-License-Identifier: Apache-2.0
/* krun_add_serial_console_default: argument checks, one COM1 console, and
 * the fds handed over (closed with the context).  krun_set_smbios_oem_strings:
 * the strings' bounds are checked at the call. */
#include "../test.h"

#include <errno.h>
#include <fcntl.h>
#include <libkrun.h>
#include <string.h>
#include <unistd.h>

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_serial_console(void)
{
	int ctx = krun_create_ctx();
	CHECK(ctx >= 0);
	uint32_t c = (uint32_t)ctx;
	int in[2], out[2];
	CHECK_EQ(pipe(in), 0);
	CHECK_EQ(pipe(out), 0);
	CHECK_EQ(krun_add_serial_console_default(999999, in[0], out[1]), -ENOENT);
	/* A closed fd is refused; negative means "no such direction". */
	CHECK_EQ(krun_add_serial_console_default(c, 1000, out[1]), -EBADF);
	CHECK_EQ(krun_add_serial_console_default(c, in[0], 1000), -EBADF);
	CHECK_EQ(krun_add_serial_console_default(c, in[0], out[1]), 0);
	/* One 8250 port: a second console is refused and its fds stay ours. */
	CHECK_EQ(krun_add_serial_console_default(c, in[1], out[0]), -ENOSPC);
	CHECK(fd_open(in[1]) && fd_open(out[0]));
	CHECK_EQ(krun_set_kernel_console(c, "ttyS0"), 0);
	CHECK_EQ(krun_free_ctx(c), 0);
	/* Handed over: the context closed them. */
	CHECK(!fd_open(in[0]));
	CHECK(!fd_open(out[1]));
	close(in[1]);
	close(out[0]);

	/* Output only. */
	ctx = krun_create_ctx();
	CHECK(ctx >= 0);
	CHECK_EQ(pipe(out), 0);
	CHECK_EQ(krun_add_serial_console_default((uint32_t)ctx, -1, out[1]), 0);
	CHECK_EQ(krun_free_ctx((uint32_t)ctx), 0);
	CHECK(!fd_open(out[1]));
	close(out[0]);
}

static void test_smbios_oem_strings(void)
{
	int ctx = krun_create_ctx();
	CHECK(ctx >= 0);
	uint32_t c = (uint32_t)ctx;
	const char *const ok[] = {"io.systemd.credential:a=b", "two", NULL};
	const char *const none[] = {NULL};
	const char *const empty[] = {"a", "", NULL};
	CHECK_EQ(krun_set_smbios_oem_strings(c, NULL), -EINVAL);
	CHECK_EQ(krun_set_smbios_oem_strings(999999, ok), -ENOENT);
	CHECK_EQ(krun_set_smbios_oem_strings(c, ok), 0);
	CHECK_EQ(krun_set_smbios_oem_strings(c, none), 0); /* replaces: none */
	CHECK_EQ(krun_set_smbios_oem_strings(c, empty), -EINVAL);
	static char long_str[1026];
	memset(long_str, 'x', sizeof(long_str) - 1);
	const char *const too_long[] = {long_str, NULL};
	CHECK_EQ(krun_set_smbios_oem_strings(c, too_long), -EINVAL);
	long_str[1024] = 0; /* 1024 bytes: the limit */
	CHECK_EQ(krun_set_smbios_oem_strings(c, too_long), 0);
	const char *many[257];
	for (int i = 0; i < 256; i++)
		many[i] = "s";
	many[256] = NULL;
	CHECK_EQ(krun_set_smbios_oem_strings(c, many), -EINVAL);
	many[255] = NULL;
	CHECK_EQ(krun_set_smbios_oem_strings(c, many), 0);
	CHECK_EQ(krun_free_ctx(c), 0);
}

int main(void)
{
	krun_set_log_level(KRUN_LOG_LEVEL_OFF);
	RUN_TEST(test_serial_console);
	RUN_TEST(test_smbios_oem_strings);
	TEST_MAIN_END();
}
