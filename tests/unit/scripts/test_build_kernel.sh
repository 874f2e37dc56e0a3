#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# krunfw/build-kernel.sh against a stand-in kernel tree (a Makefile that
# "builds" in milliseconds): cache miss and cache hit, with relative and
# absolute output directories and a relative cache.  A fresh machine takes the
# cache-miss path, which a machine holding the real kernel cache never runs.
set -uo pipefail
script=$(realpath "$(dirname "$0")/../../../krunfw/build-kernel.sh")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; failed=1; }
check() { # name, command...
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}
failed=0

# The stand-in tree: just enough of Linux's build for the script's steps.
tree=$tmp/src/linux-standin
mkdir -p "$tree/scripts/kconfig"
cat > "$tree/Makefile" <<'MK'
tinyconfig:
	echo 'CONFIG_TINY=y' > .config
olddefconfig:
	@true
vmlinux:
	echo "vmlinux built from $$(cat .config | tr '\n' ' ')" > vmlinux
	echo built >> build-count
bzImage: vmlinux
	mkdir -p arch/x86/boot
	echo bzImage > arch/x86/boot/bzImage
MK
cat > "$tree/scripts/kconfig/merge_config.sh" <<'SH'
#!/bin/sh
# merge_config.sh -m -O DIR BASE FRAGMENT
cat "$5" >> "$3/$4"
SH
chmod +x "$tree/scripts/kconfig/merge_config.sh"
tar -cJf "$tmp/standin.tar.xz" -C "$tmp/src" linux-standin
printf 'CONFIG_STANDIN=y\n# CONFIG_UNWANTED is not set\n' > "$tmp/fragment.config"
mkdir "$tmp/patches"
cat > "$tmp/patches/0001-marker.patch" <<'P'
--- a/marker
+++ b/marker
@@ -0,0 +1 @@
+patched
P

export KRUN_KERNEL_SOURCE=$tmp/standin.tar.xz KRUN_KERNEL_JOBS=1
run() { # cwd, out_dir, cache
	(cd "$1" && KRUN_KERNEL_CACHE=$3 "$script" --kind standin --config "$tmp/fragment.config" \
		--patches "$tmp/patches" "$2") >"$tmp/log" 2>&1
}
published() { # dir
	[ -f "$1/vmlinux" ] && [ -f "$1/bzImage" ] && [ -f "$1/config" ] &&
		grep -q CONFIG_STANDIN=y "$1/config" && grep -q 'CONFIG_STANDIN=y' "$1/vmlinux"
}

mkdir -p "$tmp/work/sub"
check "build-kernel: cache miss with a relative OUT_DIR" run "$tmp/work" out/rel "$tmp/cache"
check "build-kernel: relative OUT_DIR lands under the caller's cwd" published "$tmp/work/out/rel"
[ "$failed" = 0 ] || cat "$tmp/log"
entry=$(KRUN_KERNEL_CACHE=$tmp/cache "$script" --kind standin --config "$tmp/fragment.config" \
	--patches "$tmp/patches" --lookup)
check "build-kernel: --lookup finds the entry after a miss" [ -f "$entry/bzImage" ]
check "build-kernel: work tree removed after the build" [ ! -e "$entry.work" ]
check "build-kernel: cache hit with an absolute OUT_DIR" run "$tmp/work/sub" "$tmp/abs" "$tmp/cache"
check "build-kernel: cache hit publishes" published "$tmp/abs"
check "build-kernel: cache hit does not rebuild" grep -q -- "-> $tmp/abs" "$tmp/log"
check "build-kernel: cache hit says no cache miss" bash -c "! grep -q 'cache miss' '$tmp/log'"
check "build-kernel: cache miss with a relative cache and OUT_DIR" run "$tmp/work" out2 relcache
check "build-kernel: relative cache publishes" published "$tmp/work/out2"
check "build-kernel: relative cache lands under the caller's cwd" \
	bash -c "ls -d '$tmp'/work/relcache/standin-* | grep -qv '\.lock$'"
printf 'CONFIG_MISSING_DEP=y\n' >> "$tmp/fragment.config"
sed -i 's/^olddefconfig:/olddefconfig:\n\tsed -i "\/MISSING_DEP\/d" .config/' "$tree/Makefile"
tar -cJf "$tmp/standin.tar.xz" -C "$tmp/src" linux-standin
if run "$tmp/work" out3 "$tmp/cache"; then
	fail "build-kernel: a dropped config option fails the build"
else
	check "build-kernel: a dropped config option fails the build" grep -q "not honoured" "$tmp/log"
fi
exit "$failed"
