#!/bin/bash
# Build (or fetch from the cache) the nested test host kernel.
#
# usage: build-host-kernel.sh OUT_DIR     OUT_DIR receives bzImage, vmlinux, config
#        build-host-kernel.sh --lookup    print the cache entry dir if already built
# Same cache as the guest kernel (KRUN_KERNEL_CACHE), entries named host-<key>.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$here/../../krunfw/build-kernel.sh" --kind host --config "$here/host-kernel.config" \
	--no-patches "$@"
