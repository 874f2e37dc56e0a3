#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages needed to build and test (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
	# build
	build-essential meson ninja-build pkg-config python3 file
	# compressed kernels for krun_set_kernel (IMAGE_GZ/BZ2/ZSTD, PE_GZ) and the
	# tools its e2e test makes them with
	zlib1g-dev libbz2-dev libzstd-dev gzip bzip2 zstd
	# guest and test-host kernels from Debian's source package
	linux-source-6.1 flex bison bc libelf-dev libssl-dev xz-utils cpio kmod
	# the nested test host (QEMU TCG with SVM) and the peer VMM for benchmarks
	qemu-system-x86 qemu-system-common
	# demo and test root filesystems
	busybox-static debootstrap e2fsprogs
	# virtio-net tests: passt as clients start it; iperf3 for network benchmarks
	passt iperf3
	# benchmark plot (bench/run)
	python3-matplotlib
	# qcow2/VMDK tests: images made and checked by qemu-img and qemu-io
	qemu-utils
	# libFuzzer targets (fuzz/run)
	clang libclang-rt-14-dev
	# containers on our libkrun (tools/build-crun.sh, tests/e2e/test_crun.sh):
	# podman, and the build dependencies of Debian's crun source package
	podman conmon dpkg-dev autoconf automake libtool gperf go-md2man
	libyajl-dev libseccomp-dev libcap-dev libsystemd-dev
	golang-github-opencontainers-image-spec-dev golang-github-opencontainers-specs-dev
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
