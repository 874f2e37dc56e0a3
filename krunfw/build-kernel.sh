#!/bin/bash
# Build a Linux kernel from Debian's linux-source-6.1 with one of our config
# fragments, caching the result so CI and developers pay for each distinct
# kernel only once.
#
# usage: build-kernel.sh [--kind NAME] [--config FRAGMENT] [--patches DIR] OUT_DIR
#        build-kernel.sh [same options] --lookup
#
# --lookup prints the cache entry directory (holding vmlinux, bzImage, config)
# and exits 0 if this kernel is already built, exits 1 otherwise; it never builds.
#
# Defaults build the libkrunfw guest kernel (kind "guest", krunfw/guest-kernel.config,
# krunfw/patches/). OUT_DIR receives vmlinux, bzImage and config.
#
# Environment:
#   KRUN_KERNEL_CACHE   cache root (default $HOME/.cache/libkrun-c)
#   KRUN_KERNEL_SOURCE  source tarball (default /usr/src/linux-source-6.1.tar.xz)
#   KRUN_KERNEL_JOBS    make -j value (default 2: build machines are shared)
#   KRUN_KERNEL_KEEP_TREE=1  keep the build tree next to the cache entry
set -euo pipefail

# The whole body is one compound command so bash parses it completely before
# running: editing this file during a long build must not derail that build.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kind=guest
fragment=$here/guest-kernel.config
patch_dir=$here/patches

while [ $# -gt 1 ]; do
	case "$1" in
	--kind) kind=$2; shift 2 ;;
	--config) fragment=$2; shift 2 ;;
	--patches) patch_dir=$2; shift 2 ;;
	--no-patches) patch_dir=; shift ;;
	*) break ;;
	esac
done
lookup=0
if [ $# -eq 1 ] && [ "$1" = --lookup ]; then
	lookup=1
elif [ $# -ne 1 ] || [ "${1#-}" != "$1" ]; then
	echo "usage: $0 [--kind NAME] [--config FRAGMENT] [--patches DIR|--no-patches] OUT_DIR|--lookup" >&2
	exit 2
fi
out_dir=$1

source_tar=${KRUN_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
cache_root=${KRUN_KERNEL_CACHE:-$HOME/.cache/libkrun-c}
jobs=${KRUN_KERNEL_JOBS:-2}

die() { echo "build-kernel.sh ($kind): $*" >&2; exit 1; }

[ -r "$source_tar" ] || die "kernel source $source_tar missing (apt-get install linux-source-6.1)"
[ -r "$fragment" ] || die "config fragment $fragment missing"
# The build cd's into its work tree: every path it uses after that is absolute.
source_tar=$(realpath -e -- "$source_tar")
fragment=$(realpath -e -- "$fragment")
[ -z "$patch_dir" ] || [ ! -d "$patch_dir" ] || patch_dir=$(realpath -e -- "$patch_dir")
mkdir -p "$cache_root"
cache_root=$(realpath -e -- "$cache_root")

patches=()
if [ -n "$patch_dir" ] && [ -d "$patch_dir" ]; then
	while IFS= read -r p; do patches+=("$p"); done < <(find "$patch_dir" -maxdepth 1 -name '*.patch' | LC_ALL=C sort)
fi

# The source version comes from dpkg when the tarball is the packaged one;
# size+mtime stand in for anything else so a swapped tarball never hits the cache.
source_version() {
	local v=""
	if [ "$source_tar" = /usr/src/linux-source-6.1.tar.xz ]; then
		v=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || true)
	fi
	echo "$v $(stat -c '%s %Y' "$source_tar")"
}

# Anything that changes the produced image belongs in the key: the compiler too.
key=$( {
	echo "kind=$kind"
	echo "source=$(source_version)"
	echo "cc=$(gcc --version | head -n1)"
	cat "$fragment"
	for p in "${patches[@]}"; do echo "patch=$(basename "$p")"; cat "$p"; done
	sed -n '/^# The build recipe:/,$p' "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)

entry=$cache_root/$kind-$key
if [ $lookup = 1 ]; then
	[ -f "$entry/bzImage" ] || exit 1
	echo "$entry"
	exit 0
fi
mkdir -p "$out_dir"
out_dir=$(realpath -e -- "$out_dir")

publish() {
	local f
	for f in vmlinux bzImage config; do
		# Copy rather than link: a build dir must never be able to corrupt the cache.
		cp -f "$entry/$f" "$out_dir/$f.tmp"
		mv -f "$out_dir/$f.tmp" "$out_dir/$f"
	done
	echo "build-kernel.sh ($kind): $entry -> $out_dir"
}

if [ -f "$entry/bzImage" ]; then
	publish
	exit 0
fi

# Two builds of the same key (meson and a test script, say) wait for each other.
exec 9>"$entry.lock"
flock 9
if [ -f "$entry/bzImage" ]; then
	publish
	exit 0
fi

# The build recipe: from here on, this script is part of the cache key.
work=$entry.work
rm -rf "$work"
mkdir -p "$work"
cleanup() { [ "${KRUN_KERNEL_KEEP_TREE:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

start=$(date +%s)
echo "build-kernel.sh ($kind): cache miss $key, building in $work"
tar -xf "$source_tar" -C "$work" --strip-components=1
cd "$work"
for p in "${patches[@]}"; do
	echo "build-kernel.sh ($kind): applying $(basename "$p")"
	patch -p1 --quiet --forward < "$p"
done

# Fixed build identity keeps images identical across machines for a given key.
export KBUILD_BUILD_USER=krun KBUILD_BUILD_HOST=libkrun-c KBUILD_BUILD_VERSION=1
export KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$(stat -c %Y "$source_tar")")"

make -s ARCH=x86_64 tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m -O . .config "$fragment" >/dev/null
make -s ARCH=x86_64 olddefconfig >/dev/null

# Fail loudly when kconfig silently dropped an option (unmet dependency or typo):
# a fragment that does not describe the kernel we ship is worse than no fragment.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF -- "$line" .config || { echo "  wanted '$line', got '$(grep -E "^(# )?${line%%=*}[= ]" .config || echo unset)'" >&2; bad=1; }
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		! grep -q "^$opt=" .config || { echo "  wanted '$opt' unset, got '$(grep "^$opt=" .config)'" >&2; bad=1; }
		;;
	esac
done < "$fragment"
[ $bad = 0 ] || die "config fragment not honoured (see above)"

make -s ARCH=x86_64 -j"$jobs" vmlinux bzImage

tmp_entry=$entry.tmp
rm -rf "$tmp_entry"
mkdir -p "$tmp_entry"
cp vmlinux "$tmp_entry/vmlinux"
cp arch/x86/boot/bzImage "$tmp_entry/bzImage"
cp .config "$tmp_entry/config"
rm -rf "$entry"
mv "$tmp_entry" "$entry"
echo "build-kernel.sh ($kind): built in $(( $(date +%s) - start )) s"
publish
exit 0
}
