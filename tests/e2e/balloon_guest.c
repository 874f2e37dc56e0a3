// SPDX-License-Identifier: Apache-2.0
/*
 * Guest side of test_balloon.sh (static, run as the workload):
 *   balloon_guest MIB
 * touches MIB of anonymous memory (a pattern, read back), says "touched",
 * waits for the host to create /go (it measures the VMM's RSS meanwhile),
 * frees it all and says "freed", waits for /again, then allocates the same
 * amount again and checks that it reads as zeros before writing it and
 * holds what was written after (memory the host discarded comes back
 * right), says "reused ok" and exits 0.  Every wait is bounded (exit 2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ul

static void say(const char *what)
{
	printf("%s\n", what);
	fflush(stdout);
}

static int wait_for(const char *path, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(100 * 1000);
	}
	fprintf(stderr, "balloon_guest: no %s after %d s\n", path, seconds);
	return -1;
}

/* Fresh memory must read as zeros; then it must hold what is written.
 * 0 ok, -1 not. */
static int reuse(size_t len, uint8_t seed)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int bad = 0;

	if (p == MAP_FAILED) {
		perror("balloon_guest: mmap");
		return -1;
	}
	for (size_t off = 0; off < len; off += PAGE) {
		if (p[off] || p[off + PAGE - 1])
			bad = 1;
		p[off] = (uint8_t)(seed + off / PAGE);
		p[off + PAGE - 1] = seed;
	}
	for (size_t off = 0; off < len; off += PAGE)
		if (p[off] != (uint8_t)(seed + off / PAGE) || p[off + PAGE - 1] != seed)
			bad = 1;
	munmap(p, len);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 10) : 400) << 20;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("balloon_guest: mmap");
		return 1;
	}
	for (size_t off = 0; off < len; off += PAGE)
		p[off] = (uint8_t)(off / PAGE) | 1;
	for (size_t off = 0; off < len; off += PAGE)
		if (p[off] != ((uint8_t)(off / PAGE) | 1))
			return 1;
	say("touched");
	if (wait_for("/go", 600))
		return 2;
	munmap(p, len);
	say("freed");
	if (wait_for("/again", 600))
		return 2;
	if (reuse(len, 0x5a)) {
		say("reused bad");
		return 1;
	}
	say("reused ok");
	return 0;
}
