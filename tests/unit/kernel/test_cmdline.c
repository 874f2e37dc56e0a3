// SPDX-License-Identifier: Apache-2.0
#include "../test.h"
#include "kernel/cmdline.h"

#include <errno.h>

static struct cmdline c;	/* 64 KiB: keep it off the stack */

static void test_basic(void)
{
	CHECK_EQ(cmdline_init(&c, CMDLINE_GUEST_LIMIT), 0);
	CHECK_STR(cmdline_str(&c), "");
	CHECK_EQ(cmdline_len(&c), 0);
	CHECK_EQ(cmdline_append(&c, "reboot=k"), 0);
	CHECK_EQ(cmdline_append(&c, "panic=-1"), 0);
	CHECK_EQ(cmdline_append_kv(&c, "console", "hvc0"), 0);
	CHECK_STR(cmdline_str(&c), "reboot=k panic=-1 console=hvc0");
	CHECK_EQ(cmdline_len(&c), strlen("reboot=k panic=-1 console=hvc0"));
}

static void test_init_limits(void)
{
	CHECK_EQ(cmdline_init(&c, 0), -EINVAL);
	CHECK_EQ(cmdline_init(&c, CMDLINE_CAPACITY), -EINVAL);
	CHECK_EQ(cmdline_init(&c, CMDLINE_CAPACITY - 1), 0);
}

static void test_rejects_bad_tokens(void)
{
	CHECK_EQ(cmdline_init(&c, 100), 0);
	CHECK_EQ(cmdline_append(&c, "a b"), -EINVAL);
	CHECK_EQ(cmdline_append(&c, "a\"b"), -EINVAL);
	CHECK_EQ(cmdline_append(&c, ""), -EINVAL);
	CHECK_EQ(cmdline_append(&c, "a\nb"), -EINVAL);
	CHECK_EQ(cmdline_append(&c, "a\tb"), -EINVAL);
	CHECK_EQ(cmdline_append(&c, NULL), -EINVAL);
	CHECK_EQ(cmdline_append_kv(&c, "A=B", "c"), -EINVAL);
	CHECK_EQ(cmdline_append_kv(&c, "", "c"), -EINVAL);
	CHECK_EQ(cmdline_append_kv(&c, "K", "x\"y"), -EINVAL);
	CHECK_EQ(cmdline_append_kv(&c, "K", "x\ny"), -EINVAL);
	CHECK_EQ(cmdline_append_quoted(&c, "a\"b"), -EINVAL);
	CHECK_EQ(cmdline_len(&c), 0);
}

static void test_quoting(void)
{
	CHECK_EQ(cmdline_init(&c, 200), 0);
	CHECK_EQ(cmdline_append_kv(&c, "KRUN_WORKDIR", "/my dir"), 0);
	CHECK_EQ(cmdline_append_kv(&c, "EMPTY", ""), 0);
	CHECK_EQ(cmdline_append_kv(&c, "PATH", "/bin:/usr/bin"), 0);
	CHECK_EQ(cmdline_append(&c, "--"), 0);
	CHECK_EQ(cmdline_append_quoted(&c, "hello world"), 0);
	CHECK_EQ(cmdline_append_quoted(&c, ""), 0);
	CHECK_STR(cmdline_str(&c),
		  "KRUN_WORKDIR=\"/my dir\" EMPTY=\"\" PATH=/bin:/usr/bin -- \"hello world\" \"\"");
}

/* The guest truncates silently at 2047 characters; we refuse instead. */
static void test_limit_refuses(void)
{
	char tok[64];

	CHECK_EQ(cmdline_init(&c, 10), 0);
	CHECK_EQ(cmdline_append(&c, "0123456789"), 0);
	CHECK_EQ(cmdline_append(&c, "x"), -E2BIG);
	CHECK_STR(cmdline_str(&c), "0123456789");

	CHECK_EQ(cmdline_init(&c, 10), 0);
	CHECK_EQ(cmdline_append(&c, "01234"), 0);
	CHECK_EQ(cmdline_append(&c, "6789"), 0);	/* "01234 6789" = 10 */
	CHECK_EQ(cmdline_append(&c, "a"), -E2BIG);
	CHECK_EQ(cmdline_len(&c), 10);

	CHECK_EQ(cmdline_init(&c, CMDLINE_GUEST_LIMIT), 0);
	int ret = 0;
	unsigned int n = 0;
	while (ret == 0) {
		snprintf(tok, sizeof(tok), "KEY%04u=value", n++);
		ret = cmdline_append(&c, tok);
	}
	CHECK_EQ(ret, -E2BIG);
	CHECK(cmdline_len(&c) <= CMDLINE_GUEST_LIMIT);
	CHECK(cmdline_len(&c) > CMDLINE_GUEST_LIMIT - 16);
	CHECK_EQ(strlen(cmdline_str(&c)), cmdline_len(&c));
}

static void test_capacity(void)
{
	static char big[CMDLINE_CAPACITY];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(cmdline_init(&c, CMDLINE_CAPACITY - 1), 0);
	CHECK_EQ(cmdline_append(&c, big), 0);
	CHECK_EQ(cmdline_len(&c), CMDLINE_CAPACITY - 1);
	CHECK_EQ(cmdline_append(&c, "b"), -E2BIG);
	CHECK_EQ(c.buf[CMDLINE_CAPACITY - 1], '\0');
}

static void test_replace_console(void)
{
	CHECK_EQ(cmdline_init(&c, 200), 0);
	CHECK_EQ(cmdline_append(&c, "quiet"), 0);
	CHECK_EQ(cmdline_append(&c, "console=hvc0"), 0);
	CHECK_EQ(cmdline_append(&c, "rw"), 0);
	CHECK_EQ(cmdline_replace_console(&c, "ttyS0"), 0);
	CHECK_STR(cmdline_str(&c), "quiet console=ttyS0 rw");
	CHECK_EQ(cmdline_len(&c), strlen("quiet console=ttyS0 rw"));
	CHECK_EQ(cmdline_replace_console(&c, "hvc1"), 0);
	CHECK_STR(cmdline_str(&c), "quiet console=hvc1 rw");
	CHECK_EQ(cmdline_replace_console(&c, "bad id"), -EINVAL);
	CHECK_EQ(cmdline_replace_console(&c, ""), -EINVAL);
}

/* Upstream panics when console= is absent or last. */
static void test_replace_console_absent_or_last(void)
{
	CHECK_EQ(cmdline_init(&c, 200), 0);
	CHECK_EQ(cmdline_replace_console(&c, "hvc0"), 0);
	CHECK_STR(cmdline_str(&c), "console=hvc0");
	CHECK_EQ(cmdline_replace_console(&c, "ttyS0"), 0);
	CHECK_STR(cmdline_str(&c), "console=ttyS0");

	CHECK_EQ(cmdline_init(&c, 200), 0);
	CHECK_EQ(cmdline_append(&c, "xconsole=foo"), 0);
	CHECK_EQ(cmdline_append_kv(&c, "A", "x console=y"), 0);
	CHECK_EQ(cmdline_append(&c, "--"), 0);
	CHECK_EQ(cmdline_append(&c, "console=arg"), 0);
	CHECK_EQ(cmdline_replace_console(&c, "hvc0"), 0);
	/* Before "--": after it the kernel hands the word to init. */
	CHECK_STR(cmdline_str(&c), "xconsole=foo A=\"x console=y\" console=hvc0 -- console=arg");
}

static void test_replace_console_limit(void)
{
	CHECK_EQ(cmdline_init(&c, 16), 0);
	CHECK_EQ(cmdline_append(&c, "console=hvc0"), 0);
	CHECK_EQ(cmdline_replace_console(&c, "ttyS00"), 0);	/* 14 */
	CHECK_EQ(cmdline_replace_console(&c, "ttyS00000"), -E2BIG);
	CHECK_STR(cmdline_str(&c), "console=ttyS00");
}

static void test_virtio_mmio(void)
{
	CHECK_EQ(cmdline_init(&c, 200), 0);
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0xd0000000, 0x1000, 5), 0);
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0xd0001000, 0x1000, 6), 0);
	CHECK_STR(cmdline_str(&c),
		  "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
	CHECK_EQ(cmdline_init(&c, 200), 0);
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0x1000, 0x200, 15), 0);
	CHECK_STR(cmdline_str(&c), "virtio_mmio.device=512@0x00001000:15");
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0x1000, 0, 5), -EINVAL);
	CHECK_EQ(cmdline_init(&c, 20), 0);
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0xd0000000, 0x1000, 5), -E2BIG);
	CHECK_EQ(cmdline_len(&c), 0);
}

/* Found by fuzz_bootparams: after a caller's "--" the devices reached init. */
static void test_virtio_mmio_before_dashes(void)
{
	CHECK_EQ(cmdline_init(&c, 200), 0);
	CHECK_EQ(cmdline_append(&c, "rw"), 0);
	CHECK_EQ(cmdline_append(&c, "--"), 0);
	CHECK_EQ(cmdline_append(&c, "/bin/sh"), 0);
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0xd0000000, 0x1000, 5), 0);
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0xd0001000, 0x1000, 6), 0);
	CHECK_STR(cmdline_str(&c), "rw virtio_mmio.device=4K@0xd0000000:5 "
		  "virtio_mmio.device=4K@0xd0001000:6 -- /bin/sh");
	CHECK_EQ(cmdline_len(&c), strlen(cmdline_str(&c)));

	CHECK_EQ(cmdline_init(&c, 40), 0);
	CHECK_EQ(cmdline_append(&c, "--"), 0);
	CHECK_EQ(cmdline_append_quoted(&c, "a -- b"), 0);	/* quoted: not a "--" */
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0xd0000000, 0x1000, 5), -E2BIG);
	CHECK_STR(cmdline_str(&c), "-- \"a -- b\"");
	CHECK_EQ(cmdline_init(&c, 60), 0);
	CHECK_EQ(cmdline_append(&c, "--"), 0);
	CHECK_EQ(cmdline_append_quoted(&c, "a -- b"), 0);
	CHECK_EQ(cmdline_add_virtio_mmio(&c, 0xd0000000, 0x1000, 5), 0);
	CHECK_STR(cmdline_str(&c), "virtio_mmio.device=4K@0xd0000000:5 -- \"a -- b\"");
	/* The kernel strips the quotes of "\"--\"" before it looks for "--". */
	CHECK_EQ(cmdline_init(&c, 60), 0);
	CHECK_EQ(cmdline_append_quoted(&c, "--"), 0);
	CHECK_EQ(cmdline_replace_console(&c, "hvc0"), 0);
	CHECK_STR(cmdline_str(&c), "console=hvc0 \"--\"");
}

/* Found by fuzz_bootparams: Linux's isspace() counts 0xa0 (UTF-8 "\u00e0" ends in it). */
static void test_nbsp_is_space(void)
{
	CHECK_EQ(cmdline_init(&c, 100), 0);
	CHECK_EQ(cmdline_append(&c, "init.greeting=voil\xc3\xa0"), -EINVAL);
	CHECK_EQ(cmdline_append_kv(&c, "K\xa0", "v"), -EINVAL);
	CHECK_EQ(cmdline_replace_console(&c, "tty\xa0"), -EINVAL);
	CHECK_EQ(cmdline_len(&c), 0);
	CHECK_EQ(cmdline_append_kv(&c, "GREETING", "voil\xc3\xa0"), 0);
	CHECK_EQ(cmdline_append_quoted(&c, "\xc2\xa0"), 0);
	CHECK_STR(cmdline_str(&c), "GREETING=\"voil\xc3\xa0\" \"\xc2\xa0\"");
}

static void test_str_add_param(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "quiet console=hvc0", "quiet console=hvc0 p" },
		{ "a -- x y", "a p -- x y" },
		{ "-- x", "p -- x" },
		{ "a --x b--", "a --x b-- p" },
		{ "a --", "a p --" },
		{ "", "p" },
	};
	char b[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(b, cases[i].in);
		CHECK_EQ(cmdline_str_add_param(b, sizeof(b), "p"), 0);
		CHECK_STR(b, cases[i].out);
	}
	strcpy(b, "0123456789012345678901234");
	CHECK_EQ(cmdline_str_add_param(b, sizeof(b), "tsi_hijack"), -E2BIG);
	CHECK_STR(b, "0123456789012345678901234");
}

int main(void)
{
	RUN_TEST(test_basic);
	RUN_TEST(test_init_limits);
	RUN_TEST(test_rejects_bad_tokens);
	RUN_TEST(test_quoting);
	RUN_TEST(test_limit_refuses);
	RUN_TEST(test_capacity);
	RUN_TEST(test_replace_console);
	RUN_TEST(test_replace_console_absent_or_last);
	RUN_TEST(test_replace_console_limit);
	RUN_TEST(test_virtio_mmio);
	RUN_TEST(test_virtio_mmio_before_dashes);
	RUN_TEST(test_nbsp_is_space);
	RUN_TEST(test_str_add_param);
	TEST_MAIN_END();
}
