#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: the library as a distribution installs it.  `meson install`
# into a staging tree puts libkrun.so.1, libkrunfw.so.5, the header,
# libkrun.pc, the krun tool and its man page in place; a client compiled
# with pkg-config against the staged files runs a VM with an empty
# environment (no KRUN_KRUNFW_PATH, no LD_LIBRARY_PATH).
# usage: test_install.sh BUILDDIR
set -u
build=$(realpath "${1:?build dir}")
here=$(cd "$(dirname "$0")" && pwd)
unset KRUN_KRUNFW_PATH

work=$(mktemp -d /tmp/krun-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >"$work/install.log" 2>&1
check "meson install into a staging tree" [ $? -eq 0 ]
staged() { find "$stage" -name "$1" \( -type f -o -type l \) -print -quit; }
for f in libkrun.so.1 libkrunfw.so.5 libkrun.h libkrun.pc krun krun.1; do
	check "installs $f" [ -n "$(staged "$f")" ]
done
pc=$(staged libkrun.pc)
libkrun=$(staged libkrun.so.1)
[ -n "$pc" ] && [ -n "$libkrun" ] || { echo "--- install log"; tail "$work/install.log"; exit 1; }
libdir=$(dirname "$libkrun")
check "libkrunfw.so.5 is installed beside libkrun.so.1" [ -e "$libdir/libkrunfw.so.5" ]

cat >"$work/client.c" <<'C'
#include <libkrun.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	const char *const args[] = {"-c", "echo installed client ran; exit 3", NULL};
	const char *const env[] = {"PATH=/bin", NULL};
	int ctx = krun_create_ctx();
	if (argc != 2 || ctx < 0)
		return 2;
	int ret = krun_set_root((uint32_t)ctx, argv[1]);
	if (!ret)
		ret = krun_set_exec((uint32_t)ctx, "/bin/sh", args, env);
	if (!ret)
		ret = krun_start_enter((uint32_t)ctx);
	fprintf(stderr, "client: libkrun returned %d\n", ret);
	return 100;
}
C
# The .pc file names the final prefix; the files are under the staging tree.
export PKG_CONFIG_PATH=$(dirname "$pc")
prefix=$(pkg-config --variable=prefix libkrun)
flags=$(pkg-config --define-variable=prefix="$stage$prefix" --cflags --libs libkrun)
if cc -o "$work/client" "$work/client.c" $flags -Wl,-rpath,"$libdir" 2>"$work/cc.log"; then
	ok "a client compiles and links with pkg-config's flags"
else
	ko "a client compiles and links with pkg-config's flags" "$(head -5 "$work/cc.log")"
fi
env -i "$work/client" "$root" >"$work/out" 2>"$work/err" </dev/null
rc=$?
check "the installed pair runs a VM with an empty environment" \
	grep -qx "installed client ran" "$work/out"
check "its exit status comes back" [ "$rc" -eq 3 ]
