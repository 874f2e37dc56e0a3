// SPDX-License-Identifier: Apache-2.0
/*
 * Guest half of the TSI UDP check (built static, copied into the guest's
 * root): an unconnected UDP socket sends "ping" with sendto() to
 * 127.0.0.1:PORT, where nothing in the guest listens, so TSI takes it to
 * the host, and prints the answer recvfrom() gets within 30 s.
 * usage: tsi_udp_guest PORT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 30 };
	char buf[256];

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    sendto(fd, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)) != 4) {
		perror("udp_guest: send");
		return 1;
	}
	ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, NULL, NULL);
	if (n < 0) {
		perror("udp_guest: recv");
		return 1;
	}
	buf[n] = 0;
	printf("guest: udp reply %s\n", buf);
	return 0;
}
