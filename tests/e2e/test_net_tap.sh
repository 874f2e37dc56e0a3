#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: virtio-net over a host tap device, in a network namespace of
# the test's own: the tap and its 203.0.113.0/24 address exist only there.
# The guest sets its address, fetches a file from a host server on the
# tap's address, and the host fetches one from a guest server (sha256 both
# ways).
# usage: test_net_tap.sh KRUN LIBKRUNFW
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
enter_net_namespace "$0" "$@"
krun=$(realpath "${1:?krun}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
# shellcheck source=net_exchange.sh
. "$here/net_exchange.sh"

# --- tap ---------------------------------------------------------------------
ip tuntap add dev krun-tap0 mode tap vnet_hdr ||
	{ echo "FAIL tap device (host kernel without CONFIG_TUN?)"; exit 1; }
ip addr add 203.0.113.1/24 dev krun-tap0
ip link set krun-tap0 up
busybox httpd -f -p "203.0.113.1:8082" -h "$work/www" &
httpd_pid=$!
pids+=($httpd_pid)
exchange "tap" "tap:krun-tap0"
