#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds Debian's own crun (the bookworm source package, fetched with
# apt-get source) with its libkrun handler compiled against OUR header
# (include/libkrun.h), caches the binary and publishes it:
#
#   tools/build-crun.sh OUT_DIR      OUT_DIR/crun and OUT_DIR/krun -> crun
#   tools/build-crun.sh --lookup     prints the cache entry and exits 0 when
#                                    built, 1 otherwise (never builds)
#
# A crun binary called "krun" runs every container with its libkrun handler
# (crun dlopen()s "libkrun.so.1" at run time: put our build directory on
# LD_LIBRARY_PATH, and point KRUN_KRUNFW_PATH at our libkrunfw.so.5).
#
# Needs root on a cache miss (adds a deb-src entry mirroring the deb entries
# when none is configured, apt-get update, apt-get build-dep crun) and the
# network to the Debian mirror.  Cached under ${KRUN_KERNEL_CACHE:-~/.cache/libkrun-c}
# as crun-KEY, KEY from the source version, our header and this script.
set -euo pipefail

# One compound command: bash parses it whole before running it, so editing
# this file during a build cannot derail that build.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
header_dir=$(cd "$here/../include" && pwd)
cache_root=${KRUN_KERNEL_CACHE:-$HOME/.cache/libkrun-c}
jobs=${KRUN_KERNEL_JOBS:-2}
export DEBIAN_FRONTEND=noninteractive

die() { echo "build-crun.sh: $*" >&2; exit 1; }
log() { echo "build-crun.sh: $*" >&2; }

[ $# -eq 1 ] || die "usage: $0 OUT_DIR|--lookup"
lookup=0
[ "$1" = --lookup ] && lookup=1
out_dir=$1
[ -r "$header_dir/libkrun.h" ] || die "$header_dir/libkrun.h missing"

# --- a deb-src entry for the configured Debian archive ---------------------
have_src() { apt-cache showsrc crun 2>/dev/null | grep -q '^Package: crun$'; }
src_list=/etc/apt/sources.list.d/libkrun-c-deb-src.sources
add_deb_src() {
	[ "$(id -u)" -eq 0 ] || die "no deb-src entry for crun, and adding one needs root"
	python3 - "$src_list" <<'PY'
# Mirror every enabled "deb" entry (deb822 .sources files and one-line
# sources.list files) as a deb-src entry.
import glob, re, sys
out = []
for path in sorted(glob.glob('/etc/apt/sources.list.d/*.sources')):
    if path == sys.argv[1]:
        continue
    for st in re.split(r'\n\s*\n', open(path).read().strip()):
        lines = st.splitlines()
        fields = {l.split(':', 1)[0].strip().lower(): l.split(':', 1)[1].strip()
                  for l in lines if ':' in l and not l.startswith('#')}
        if 'deb' not in fields.get('types', '').split() or fields.get('enabled', 'yes') == 'no':
            continue
        out.append('\n'.join('Types: deb-src' if l.lower().startswith('types:') else l
                             for l in lines))
for path in ['/etc/apt/sources.list'] + sorted(glob.glob('/etc/apt/sources.list.d/*.list')):
    try:
        text = open(path).read()
    except OSError:
        continue
    for l in text.splitlines():
        m = re.match(r'^deb\s+(\[[^]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$', l.strip())
        if not m or 'debian' not in m.group(2):
            continue
        opts = m.group(1) or ''
        signed = re.search(r'signed-by=(\S+?)\s*\]', opts)
        out.append('Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s%s' % (
            m.group(2), m.group(3), m.group(4),
            '\nSigned-By: ' + signed.group(1) if signed else ''))
if not out:
    sys.exit('no deb entries to mirror')
open(sys.argv[1], 'w').write('# Added by libkrun-c tools/build-crun.sh\n' + '\n\n'.join(out) + '\n')
PY
	log "added $src_list; apt-get update"
	apt-get update -qq
}
if ! have_src; then
	if [ -f "$src_list" ] && [ "$lookup" = 0 ]; then
		log "deb-src entry present but no source index yet; apt-get update"
		apt-get update -qq
	fi
	if ! have_src; then
		[ "$lookup" = 1 ] && exit 1
		add_deb_src
		have_src || die "apt-cache showsrc crun finds nothing after adding $src_list"
	fi
fi
# The newest crun source the archive offers (bookworm: 1.8.1-1+deb12u1).
version=$(apt-cache showsrc crun | sed -n 's/^Version: //p' |
	sort -V | tail -1)
[ -n "$version" ] || die "no crun source version"

key=$( {
	echo "crun=$version"
	echo "cc=$(gcc --version | head -n1)"
	cat "$header_dir/libkrun.h"
	sed -n '/^# The build recipe:/,$p' "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)
mkdir -p "$cache_root"
cache_root=$(realpath -e -- "$cache_root")
entry=$cache_root/crun-$key

if [ "$lookup" = 1 ]; then
	[ -x "$entry/crun" ] || exit 1
	echo "$entry"
	exit 0
fi
mkdir -p "$out_dir"
out_dir=$(realpath -e -- "$out_dir")

publish() {
	# Copy rather than link: a build dir must never be able to corrupt the cache.
	cp -f "$entry/crun" "$out_dir/crun.tmp"
	mv -f "$out_dir/crun.tmp" "$out_dir/crun"
	ln -sfn crun "$out_dir/krun"
	cp -f "$entry/version" "$out_dir/version"
	log "crun $version ($entry) -> $out_dir/{crun,krun}"
}
if [ -x "$entry/crun" ]; then
	publish
	exit 0
fi
exec 9>"$entry.lock"
flock 9
if [ -x "$entry/crun" ]; then
	publish
	exit 0
fi

# The build recipe: everything from here on is part of the cache key.
if [ "$(id -u)" -eq 0 ]; then
	log "installing crun's build dependencies"
	apt-get build-dep -y -qq crun >/dev/null
	# Beyond Debian's build-deps: apt-get source unpacks with dpkg-source.
	apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
else
	log "not root: assuming crun's build dependencies are installed (tools/install-deps.sh)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/build-crun.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log "apt-get source crun=$version"
apt-get source -qq "crun=$version" >"$work/source.log" 2>&1 || { cat "$work/source.log" >&2; die "apt-get source failed"; }
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'crun-*' | head -1)
[ -n "$src" ] && [ -f "$src/configure.ac" ] || die "no crun source tree in $work"
cd "$src"
# Debian's tarball ships a generated configure; regenerate only if missing.
[ -x configure ] || ./autogen.sh >"$work/autogen.log" 2>&1 || { tail -30 "$work/autogen.log" >&2; die "autogen failed"; }
log "configure --with-libkrun against $header_dir/libkrun.h"
# -I first: crun's krun handler includes <libkrun.h>, which must be ours.
# Static libcrun: one self-contained binary (no libtool wrapper, no libcrun.so).
if ! CPPFLAGS="-I$header_dir" ./configure --with-libkrun --disable-shared --enable-static \
	>"$work/configure.log" 2>&1; then
	tail -40 "$work/configure.log" >&2
	die "configure failed"
fi
grep -q '^#define HAVE_LIBKRUN 1' config.h && grep -q '^#define HAVE_DLOPEN 1' config.h ||
	die "configure did not enable the libkrun handler (HAVE_LIBKRUN/HAVE_DLOPEN in config.h)"
log "make -j$jobs"
if ! make -j"$jobs" >"$work/make.log" 2>&1; then
	tail -40 "$work/make.log" >&2
	die "make failed"
fi
./crun --version | grep -q '+LIBKRUN' || die "built crun lacks +LIBKRUN"
tmp_entry=$entry.tmp.$$
rm -rf "$tmp_entry"
mkdir -p "$tmp_entry"
cp crun "$tmp_entry/crun"
echo "$version" >"$tmp_entry/version"
./crun --version >"$tmp_entry/crun-version.txt"
rm -rf "$entry"
mv "$tmp_entry" "$entry"
publish
exit 0
}
