// SPDX-License-Identifier: Apache-2.0
/*
 * Random 4 KiB reads from one file, in one process: what fio's randread job
 * measures, without fio's shared libraries (the benchmark root is busybox
 * only).  A dd per read would mostly time process start-up in the guest.
 * Readahead is turned off so every read is a 4 KiB request.
 *   randread FILE COUNT SEED     exit 0 when all COUNT reads returned 4 KiB
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096

/* xorshift64*: the same offsets for the same seed on every side. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

int main(int argc, char **argv)
{
	static char buf[BLOCK];
	struct stat st;
	uint64_t blocks, state;
	long count;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: randread FILE COUNT SEED\n");
		return 2;
	}
	count = strtol(argv[2], NULL, 10);
	state = strtoull(argv[3], NULL, 10) | 1;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || st.st_size < BLOCK) {
		perror(argv[1]);
		return 1;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	blocks = (uint64_t)st.st_size / BLOCK;
	for (long i = 0; i < count; i++) {
		off_t off = (off_t)(next_random(&state) % blocks) * BLOCK;

		if (pread(fd, buf, BLOCK, off) != BLOCK) {
			perror("pread");
			return 1;
		}
	}
	close(fd);
	return 0;
}
