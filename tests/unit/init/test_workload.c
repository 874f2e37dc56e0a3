// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the .krun_workload format: round trips, and that the
 * decoder (which runs in PID 1 on host-provided bytes) refuses every kind
 * of corruption.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "init/workload.h"
#include "../test.h"

static uint8_t *encode(const struct workload_spec *spec, size_t *len)
{
	uint8_t *buf = NULL;

	CHECK_EQ(workload_encode(spec, &buf, len), 0);
	return buf;
}

static void check_list(const char **got, size_t n, const char *const *want)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		CHECK(i < n);
		if (i < n)
			CHECK_STR(got[i], want[i]);
	}
	CHECK_EQ(i, n);
	CHECK(got[n] == NULL);
}

static void test_round_trip_basic(void)
{
	const char *argv[] = { "/bin/echo", "hello world", "", "q\"uo'te", "new\nline",
			       "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93", "  spaced  ", NULL };
	const char *envp[] = { "A=1", "EMPTY=", "PATH=/x:/y", "U=\xe2\x82\xac", NULL };
	const char *rl[] = { "RLIMIT_NOFILE=1024:4096", "6=10:20", NULL };
	struct workload_spec spec = {
		.exec_path = "/bin/echo", .argv = argv, .envp = envp,
		.workdir = "/work dir", .rlimits = rl, .hostname = "vm1",
		.flags = WORKLOAD_F_UID_SET | WORKLOAD_F_GID_SET,
		.uid = 1000, .gid = 100,
	};
	struct workload_view v;
	size_t len;
	uint8_t *buf = encode(&spec, &len);

	CHECK_EQ(workload_decode(buf, len, &v), 0);
	CHECK_STR(v.exec_path, "/bin/echo");
	check_list(v.argv, v.argc, argv);
	check_list(v.envp, v.envc, envp);
	check_list(v.rlimits, v.nrlimits, rl);
	CHECK_STR(v.workdir, "/work dir");
	CHECK_STR(v.hostname, "vm1");
	CHECK_EQ(v.flags, WORKLOAD_F_UID_SET | WORKLOAD_F_GID_SET);
	CHECK_EQ(v.uid, 1000);
	CHECK_EQ(v.gid, 100);
	CHECK_EQ(v.version, WORKLOAD_VERSION);
	workload_view_free(&v);
	CHECK(v.argv == NULL);
	free(buf);
}

static void test_round_trip_minimal(void)
{
	struct workload_spec spec = { .exec_path = "sh", .workdir = "", .hostname = "" };
	struct workload_view v;
	size_t len;
	uint8_t *buf = encode(&spec, &len);

	CHECK_EQ(workload_decode(buf, len, &v), 0);
	CHECK_STR(v.exec_path, "sh");
	CHECK_EQ(v.argc, 1);
	CHECK_STR(v.argv[0], "sh");
	CHECK_EQ(v.envc, 0);
	CHECK(v.envp && v.envp[0] == NULL);
	CHECK_EQ(v.nrlimits, 0);
	CHECK(v.workdir == NULL);
	CHECK(v.hostname == NULL);
	CHECK_EQ(v.flags, 0);
	CHECK_EQ(v.uid, 0);
	workload_view_free(&v);
	free(buf);
}

/* The guest init takes a container config's argv only with this flag. */
static void test_round_trip_default_exec(void)
{
	struct workload_spec spec = { .exec_path = "/bin/sh",
				      .flags = WORKLOAD_F_DEFAULT_EXEC | WORKLOAD_F_UID_SET,
				      .uid = 7 };
	struct workload_view v;
	size_t len;
	uint8_t *buf = encode(&spec, &len);

	CHECK_EQ(workload_decode(buf, len, &v), 0);
	CHECK_EQ(v.flags, WORKLOAD_F_DEFAULT_EXEC | WORKLOAD_F_UID_SET);
	CHECK_EQ(v.uid, 7);
	CHECK_STR(v.exec_path, "/bin/sh");
	CHECK_EQ(v.argc, 1);
	workload_view_free(&v);
	free(buf);
	spec.flags = WORKLOAD_F_ALL + 1;	/* the next, still unknown bit */
	CHECK_EQ(workload_encode(&spec, &buf, &len), -EINVAL);
}

/* Unset uid/gid must not leak whatever the caller left in the fields. */
static void test_unset_ids_zeroed(void)
{
	struct workload_spec spec = { .exec_path = "/x", .uid = 55, .gid = 66 };
	struct workload_view v;
	size_t len;
	uint8_t *buf = encode(&spec, &len);

	CHECK_EQ(workload_decode(buf, len, &v), 0);
	CHECK_EQ(v.uid, 0);
	CHECK_EQ(v.gid, 0);
	workload_view_free(&v);
	free(buf);
}

static void test_round_trip_big_env(void)
{
	enum { N = 2000 };
	const char **envp = calloc(N + 1, sizeof(*envp));
	char *store = malloc((size_t)N * 64);
	struct workload_spec spec = { .exec_path = "/bin/true" };
	struct workload_view v;
	size_t len, total = 0;
	uint8_t *buf;

	for (int i = 0; i < N; i++) {
		char *s = store + (size_t)i * 64;

		snprintf(s, 64, "VAR_%04d=%0*d", i, 48, i);
		total += strlen(s);
		envp[i] = s;
	}
	CHECK(total >= 100 * 1024);
	spec.envp = envp;
	buf = encode(&spec, &len);
	CHECK(len > total);
	CHECK_EQ(workload_decode(buf, len, &v), 0);
	CHECK_EQ(v.envc, N);
	check_list(v.envp, v.envc, envp);
	workload_view_free(&v);
	free(buf);
	free(store);
	free(envp);
}

static void test_encode_rejects(void)
{
	const char *bad_rl[] = { "NOFILE=10", NULL };
	const char *args[] = { NULL };
	struct workload_spec spec = { .exec_path = "/bin/sh", .argv = args };
	uint8_t *buf = NULL;
	size_t len;
	char host[WORKLOAD_MAX_HOSTNAME + 2];

	CHECK_EQ(workload_encode(NULL, &buf, &len), -EINVAL);
	CHECK_EQ(workload_encode(&spec, NULL, &len), -EINVAL);
	spec.exec_path = NULL;
	CHECK_EQ(workload_encode(&spec, &buf, &len), -EINVAL);
	spec.exec_path = "";
	CHECK_EQ(workload_encode(&spec, &buf, &len), -EINVAL);
	spec.exec_path = "/bin/sh";
	spec.rlimits = bad_rl;
	CHECK_EQ(workload_encode(&spec, &buf, &len), -EINVAL);
	spec.rlimits = NULL;
	spec.flags = 1u << 31;
	CHECK_EQ(workload_encode(&spec, &buf, &len), -EINVAL);
	spec.flags = 0;
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	spec.hostname = host;
	CHECK_EQ(workload_encode(&spec, &buf, &len), -EINVAL);
	CHECK(buf == NULL);
}

static void test_encode_too_big(void)
{
	size_t n = WORKLOAD_MAX_SIZE;
	char *huge = malloc(n + 1);
	const char *argv[] = { "/bin/sh", huge, NULL };
	struct workload_spec spec = { .exec_path = "/bin/sh", .argv = argv };
	uint8_t *buf = NULL;
	size_t len;

	memset(huge, 'a', n);
	huge[n] = '\0';
	CHECK_EQ(workload_encode(&spec, &buf, &len), -E2BIG);
	/* Many medium strings that only add up past the cap. */
	huge[n / 4] = '\0';
	const char *many[] = { huge, huge, huge, huge, huge, NULL };
	spec.envp = many;
	spec.argv = NULL;
	CHECK_EQ(workload_encode(&spec, &buf, &len), -E2BIG);
	CHECK(buf == NULL);
	free(huge);
}

static void test_encode_too_many_rlimits(void)
{
	const char *rl[WORKLOAD_MAX_RLIMITS + 2];
	struct workload_spec spec = { .exec_path = "/bin/sh", .rlimits = rl };
	uint8_t *buf = NULL;
	size_t len;

	for (size_t i = 0; i < WORKLOAD_MAX_RLIMITS + 1; i++)
		rl[i] = "NOFILE=1:2";
	rl[WORKLOAD_MAX_RLIMITS + 1] = NULL;
	CHECK_EQ(workload_encode(&spec, &buf, &len), -E2BIG);
	rl[WORKLOAD_MAX_RLIMITS] = NULL;
	CHECK_EQ(workload_encode(&spec, &buf, &len), 0);
	free(buf);
}

/* ---- corruption -------------------------------------------------------- */

static uint8_t *sample(size_t *len)
{
	const char *argv[] = { "/bin/prog", "a", "bb", NULL };
	const char *envp[] = { "K=V", NULL };
	const char *rl[] = { "NOFILE=1:2", NULL };
	struct workload_spec spec = {
		.exec_path = "/bin/prog", .argv = argv, .envp = envp,
		.workdir = "/w", .rlimits = rl, .hostname = "h",
	};

	return encode(&spec, len);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void test_round_trip_block_root(void)
{
	struct workload_spec spec = { .exec_path = "/bin/sh", .flags = WORKLOAD_F_BLOCK_ROOT,
				      .root_device = "/dev/vda", .root_options = "ro,noatime" };
	struct workload_view v;
	size_t len;
	uint8_t *buf = encode(&spec, &len);

	CHECK_EQ(workload_decode(buf, len, &v), 0);
	CHECK_STR(v.root_device, "/dev/vda");
	CHECK(v.root_fstype == NULL);
	CHECK_STR(v.root_options, "ro,noatime");
	workload_view_free(&v);
	/* The flag announces the records: a blob that has the flag set but
	 * not the records is refused. */
	spec.flags = 0;
	free(buf);
	buf = encode(&spec, &len);
	put32(buf + 16, WORKLOAD_F_BLOCK_ROOT);
	CHECK_EQ(workload_decode(buf, len, &v), -EINVAL);
	free(buf);
	spec.flags = WORKLOAD_F_BLOCK_ROOT;
	spec.root_device = "";
	CHECK_EQ(workload_encode(&spec, &buf, &len), -EINVAL);
}

static int decode_copy(const uint8_t *buf, size_t len)
{
	struct workload_view v;
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	memcpy(copy, buf, len);
	ret = workload_decode(copy, len, &v);
	if (ret == 0)
		workload_view_free(&v);
	else
		CHECK(v.argv == NULL && v.envp == NULL && v.rlimits == NULL);
	free(copy);
	return ret;
}

static void test_decode_truncated(void)
{
	size_t len;
	uint8_t *buf = sample(&len);

	CHECK_EQ(decode_copy(buf, len), 0);
	/* Every prefix is invalid, both with the true and a patched length. */
	for (size_t n = 0; n < len; n++) {
		CHECK_EQ(decode_copy(buf, n), -EINVAL);
		if (n >= WORKLOAD_HEADER_LEN) {
			uint8_t *c = malloc(n);

			memcpy(c, buf, n);
			put32(c + 12, (uint32_t)n);
			CHECK_EQ(decode_copy(c, n), -EINVAL);
			free(c);
		}
	}
	free(buf);
}

static void test_decode_bad_header(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	uint8_t *c = malloc(len);
	struct workload_view v;

	CHECK_EQ(workload_decode(NULL, len, &v), -EINVAL);
	CHECK_EQ(workload_decode(buf, len, NULL), -EINVAL);

	memcpy(c, buf, len);
	c[0] ^= 1;
	CHECK_EQ(decode_copy(c, len), -EINVAL);	/* magic */
	memcpy(c, buf, len);
	put32(c + 8, WORKLOAD_VERSION + 1);
	CHECK_EQ(decode_copy(c, len), -EINVAL);	/* version */
	memcpy(c, buf, len);
	put32(c + 12, (uint32_t)len + 1);
	CHECK_EQ(decode_copy(c, len), -EINVAL);	/* total_len */
	memcpy(c, buf, len);
	put32(c + 16, 1u << 20);
	CHECK_EQ(decode_copy(c, len), -EINVAL);	/* unknown flag */
	memcpy(c, buf, len);
	put32(c + 16, WORKLOAD_F_ALL + 1);
	CHECK_EQ(decode_copy(c, len), -EINVAL);	/* the first unknown flag */
	memcpy(c, buf, len);
	put32(c + 16, WORKLOAD_F_DEFAULT_EXEC);
	CHECK_EQ(decode_copy(c, len), 0);	/* a known one */
	memcpy(c, buf, len);
	put32(c + 28, 1);
	CHECK_EQ(decode_copy(c, len), -EINVAL);	/* reserved */
	free(c);
	free(buf);
}

static void test_decode_trailing_garbage(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	uint8_t *c = calloc(1, len + 4);

	memcpy(c, buf, len);
	put32(c + 12, (uint32_t)len + 4);
	CHECK_EQ(decode_copy(c, len + 4), -EINVAL);
	/* Even a well-formed extra record is garbage. */
	put32(c + 12, (uint32_t)len + 4);
	put32(c + len, 0);
	CHECK_EQ(decode_copy(c, len + 4), -EINVAL);
	free(c);
	free(buf);
}

/*
 * Offsets of the records in sample(): exec_path at 32 (len 10), argv
 * count at 46, argv[0] len at 50.
 */
#define OFF_EXEC 32u
#define OFF_ARGC 46u
#define OFF_ARGV0 50u

static void test_decode_bad_lengths(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	uint8_t *c = malloc(len);

	memcpy(c, buf, len);
	CHECK(!memcmp(c + OFF_EXEC + 4, "/bin/prog", 10));
	CHECK_EQ(c[OFF_ARGC], 3);

	put32(c + OFF_EXEC, 0xffffffffu);	/* length past the end */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_EXEC, (uint32_t)len);
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_EXEC, 0);		/* exec_path absent */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_EXEC, 9);		/* shorter: last byte not NUL */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	c[OFF_EXEC + 4 + 9] = 'x';	/* NUL overwritten */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	c[OFF_EXEC + 4 + 3] = '\0';	/* interior NUL */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_ARGV0, 0);		/* absent string inside a list */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	free(c);
	free(buf);
}

static void test_decode_bad_counts(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	uint8_t *c = malloc(len);

	memcpy(c, buf, len);
	put32(c + OFF_ARGC, 0xffffffffu);
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_ARGC, WORKLOAD_MAX_STRINGS + 1);
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_ARGC, 4);		/* one more than present */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_ARGC, 2);		/* one fewer: rest misparses */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	memcpy(c, buf, len);
	put32(c + OFF_ARGC, 0);		/* argv[0] is mandatory */
	CHECK_EQ(decode_copy(c, len), -EINVAL);
	free(c);
	free(buf);
}

/* A hand-built blob with an invalid rlimit and a long hostname. */
static void test_decode_bad_values(void)
{
	const char *rl[] = { "NOFILE=1:2", NULL };
	struct workload_spec spec = { .exec_path = "/p", .rlimits = rl, .hostname = "h" };
	size_t len;
	uint8_t *buf = encode(&spec, &len);
	uint8_t *p = memmem(buf, len, "NOFILE=1:2", 10);

	CHECK(p != NULL);
	if (p) {
		memcpy(p, "NOFILE=3:2", 10);	/* cur > max */
		CHECK_EQ(decode_copy(buf, len), -EINVAL);
		memcpy(p, "NOFILX=1:2", 10);
		CHECK_EQ(decode_copy(buf, len), -EINVAL);
	}
	free(buf);
}

/* Random byte flips must never crash or read out of bounds. */
static void test_decode_fuzz(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	unsigned int seed = 12345;
	int ok = 0;

	for (int iter = 0; iter < 20000; iter++) {
		uint8_t *c = malloc(len);
		size_t n = len;

		memcpy(c, buf, len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			c[(seed >> 8) % len] ^= (uint8_t)(1u << ((seed >> 4) % 8));
		}
		if (iter % 7 == 0)
			n = (seed >> 3) % len;
		if (decode_copy(c, n) == 0)
			ok++;
		free(c);
	}
	/* Flips inside string bytes legitimately decode. */
	CHECK(ok >= 0);
	free(buf);
}

/* ---- parse_rlimit ------------------------------------------------------ */

static void check_rl(const char *s, int want_res, rlim_t cur, rlim_t max)
{
	struct rlimit rl = { 0, 0 };
	int res = -1;

	CHECK_EQ(parse_rlimit(s, &res, &rl), 0);
	CHECK_EQ(res, want_res);
	CHECK(rl.rlim_cur == cur);
	CHECK(rl.rlim_max == max);
}

static void test_parse_rlimit_ok(void)
{
	check_rl("RLIMIT_NOFILE=1024:4096", RLIMIT_NOFILE, 1024, 4096);
	check_rl("NOFILE=1024:4096", RLIMIT_NOFILE, 1024, 4096);
	check_rl("nofile=1:1", RLIMIT_NOFILE, 1, 1);
	check_rl("rlimit_core=0:unlimited", RLIMIT_CORE, 0, RLIM_INFINITY);
	check_rl("7=10:20", 7, 10, 20);
	check_rl("6:10:20", 6, 10, 20);
	check_rl("AS=-1:-1", RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY);
	check_rl("STACK=infinity:unlimited", RLIMIT_STACK, RLIM_INFINITY, RLIM_INFINITY);
	check_rl("RTTIME=18446744073709551615:18446744073709551615", RLIMIT_RTTIME,
		 RLIM_INFINITY, RLIM_INFINITY);
	check_rl("MEMLOCK=8388608:unlimited", RLIMIT_MEMLOCK, 8388608, RLIM_INFINITY);
	check_rl("15=0:0", 15, 0, 0);
}

static void test_parse_rlimit_bad(void)
{
	static const char *const bad[] = {
		"", "NOFILE", "NOFILE=", "NOFILE=1", "NOFILE=1:", "NOFILE=:1",
		"NOFILE=1:2:3", "BOGUS=1:2", "RLIMIT_=1:2", "16=1:2", "99=1:2",
		"-1=1:2", "NOFILE=2:1", "NOFILE=0x10:20", "NOFILE= 1:2",
		"NOFILE=1:2 ", "NOFILE=+1:2", "NOFILE=-2:3", "=1:2",
		"NOFILE=18446744073709551616:1", "NOFILE=1:unlimitedx",
		"RLIMIT_NOFILEX=1:2", "1e3=1:2",
	};
	struct rlimit rl = { 7, 7 };
	int res = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_rlimit(bad[i], &res, &rl) != -EINVAL)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		CHECK_EQ(parse_rlimit(bad[i], &res, &rl), -EINVAL);
	}
	CHECK_EQ(res, 42);
	CHECK_EQ(rl.rlim_cur, 7);
	CHECK_EQ(parse_rlimit(NULL, &res, &rl), -EINVAL);
	CHECK_EQ(parse_rlimit("NOFILE=1:2", NULL, &rl), -EINVAL);
}

int main(void)
{
	RUN_TEST(test_round_trip_basic);
	RUN_TEST(test_round_trip_minimal);
	RUN_TEST(test_round_trip_default_exec);
	RUN_TEST(test_round_trip_block_root);
	RUN_TEST(test_unset_ids_zeroed);
	RUN_TEST(test_round_trip_big_env);
	RUN_TEST(test_encode_rejects);
	RUN_TEST(test_encode_too_big);
	RUN_TEST(test_encode_too_many_rlimits);
	RUN_TEST(test_decode_truncated);
	RUN_TEST(test_decode_bad_header);
	RUN_TEST(test_decode_trailing_garbage);
	RUN_TEST(test_decode_bad_lengths);
	RUN_TEST(test_decode_bad_counts);
	RUN_TEST(test_decode_bad_values);
	RUN_TEST(test_decode_fuzz);
	RUN_TEST(test_parse_rlimit_ok);
	RUN_TEST(test_parse_rlimit_bad);
	TEST_MAIN_END();
}
