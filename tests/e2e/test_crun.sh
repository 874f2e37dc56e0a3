#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: containers in microVMs through OUR libkrun.
#   1. crun (Debian's source package built --with-libkrun against our header
#      by tools/build-crun.sh; tests/run-all builds it into BUILD/crun before
#      the VM tier, the test host having no network) called as "krun" runs an
#      OCI bundle with a busybox root.
#   2. Debian's podman with --runtime pointing at that krun runs a locally
#      imported busybox image (no registry) with podman run --rm.
# Both check what a user sees: stdout and stderr apart, the spec's
# environment, working directory and hostname, the exit status, and that the
# workload ran in a VM (guest kernel command line) rather than in the container.
# usage: test_crun.sh KRUN_RUNTIME LIBKRUN LIBKRUNFW
#   KRUN_RUNTIME: the crun binary's "krun" symlink; LIBKRUN: our libkrun.so.1
#   (crun dlopen()s "libkrun.so.1": its directory goes on LD_LIBRARY_PATH).
set -u
runtime_arg=${1:?crun-as-krun}
libkrun_arg=${2:?libkrun.so.1}
krunfw_arg=${3:?libkrunfw.so.5}
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-crun.XXXXXX)
chmod 755 "$work"
cleanup() {
	# podman's vfs layers and crun's state are plain directories in $work.
	rm -rf "$work" 2>/dev/null
}
trap cleanup EXIT

# shellcheck source=lib.sh
. "$here/lib.sh"
# meson test (not only run-tests.py, which counts FAIL lines) sees failures too.
failures=0
eval "lib_$(declare -f ko)"
ko() { failures=$((failures + 1)); lib_ko "$@"; }

# --- prerequisites: a missing one is a failure, never a skip ----------------
if [ ! -x "$runtime_arg" ]; then
	echo "FAIL crun not built: $runtime_arg missing (tools/build-crun.sh $(dirname "$runtime_arg"); tests/run-all does this before the VM tier)"
	exit 1
fi
runtime=$(cd "$(dirname "$runtime_arg")" && pwd)/$(basename "$runtime_arg")
if [ "$(basename "$runtime")" != krun ]; then
	echo "FAIL $runtime: crun picks its libkrun handler only when called as krun"
	exit 1
fi
if ! "$runtime" --version 2>&1 | grep -q '+LIBKRUN'; then
	echo "FAIL $runtime was built without the libkrun handler (no +LIBKRUN in --version)"
	exit 1
fi
libdir=$(dirname "$(realpath "$libkrun_arg")")
if [ ! -e "$libdir/libkrun.so.1" ]; then
	echo "FAIL no libkrun.so.1 in $libdir (crun dlopen()s that name)"
	exit 1
fi
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Read by our library when crun dlopen()s it, on the host side: the VM starts
# inside the container root, where neither library exists.
[ -r "$krunfw_arg" ] || { echo "FAIL $krunfw_arg missing"; exit 1; }
export KRUN_KRUNFW_PATH=$(realpath "$krunfw_arg")

# What the test host lacks and a container host has: cgroup v2 at
# /sys/fs/cgroup.  Only ever mounted inside the throwaway test host.
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] && [ -n "${KRUN_IN_TEST_HOST:-}" ]; then
	if ! mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>"$work/cgroup.err"; then
		echo "FAIL cgroup2 on /sys/fs/cgroup: $(cat "$work/cgroup.err") (test host kernel needs CONFIG_CGROUPS, tests/host/host-kernel.config)"
		exit 1
	fi
fi

root=$work/bundle/rootfs
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }

# The OCI spec: crun's own default, then what the check needs.
(cd "$work/bundle" && "$runtime" spec) || { echo "FAIL krun spec"; exit 1; }
spec() { # ARGS_JSON: rewrite config.json with these process.args
	python3 - "$work/bundle/config.json" "$1" <<'PY'
import json, sys
path, args = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(path))
c['process']['terminal'] = False
c['process']['args'] = args
c['process']['env'] = ['PATH=/bin:/usr/bin:/sbin:/usr/sbin', 'FOO=bar']
c['process']['cwd'] = '/tmp'
c['hostname'] = 'krun-oci-test'
c['root']['readonly'] = False
json.dump(c, open(path, 'w'), indent=2)
PY
}
workload='echo out; echo err >&2; echo $FOO; pwd; hostname; exit 7'
want_out=$(printf 'out\nbar\n/tmp\n%s' krun-oci-test)

crun_run() { # name: run the bundle, stdout/stderr to $work/out,err, status in $rc
	timeout -k 10 300 "$runtime" --root "$work/crun-state" run --bundle "$work/bundle" "$1" \
		</dev/null >"$work/out" 2>"$work/err"
	rc=$?
}

# --- 1. crun as krun runs an OCI bundle ------------------------------------
spec "$(python3 -c 'import json,sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$workload")" ||
	{ echo "FAIL config.json"; exit 1; }
crun_run krun-e2e-$$
check "crun: exit status 7 comes back" [ "$rc" -eq 7 ]
check "crun: stdout is out, \$FOO, cwd, hostname" [ "$(cat "$work/out")" = "$want_out" ]
check "crun: env FOO=bar from the spec" grep -qx bar "$work/out"
check "crun: cwd /tmp from the spec" grep -qx /tmp "$work/out"
check "crun: hostname from the spec" grep -qx krun-oci-test "$work/out"
check "crun: stderr has err" grep -qx err "$work/err"
check "crun: stderr has no stdout text" bash -c "! grep -qx out '$work/err'"
check "crun: stdout has no stderr text" bash -c "! grep -qx err '$work/out'"
check "crun: the container is gone afterwards" \
	bash -c "! '$runtime' --root '$work/crun-state' state krun-e2e-$$ >/dev/null 2>&1"

spec '["/bin/cat", "/proc/cmdline"]' || { echo "FAIL config.json"; exit 1; }
crun_run krun-e2e-vm-$$
check "crun: the workload runs in a microVM (guest kernel command line)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'virtio_mmio.device=' '$work/out'"

# --- 2. podman run --rm with --runtime krun --------------------------------
command -v podman >/dev/null || { echo "FAIL podman not installed (tools/install-deps.sh)"; exit 1; }
pod=$work/podman
mkdir -p "$pod/tmp"
# conmon starts the runtime with only the environment containers.conf gives it.
cat >"$pod/containers.conf" <<EOF
[engine]
conmon_env_vars = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LD_LIBRARY_PATH=$LD_LIBRARY_PATH", "KRUN_KRUNFW_PATH=$KRUN_KRUNFW_PATH"]
EOF
export CONTAINERS_CONF=$pod/containers.conf
podman_() {
	timeout -k 10 300 podman --root "$pod/root" --runroot "$pod/runroot" --tmpdir "$pod/tmp" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file \
		--runtime "$runtime" "$@"
}
tar -C "$work/bundle/rootfs" --exclude ./.krun_config.json -cf "$pod/busybox.tar" .
podman_ import "$pod/busybox.tar" localhost/krun-e2e-busybox:latest >"$work/out" 2>"$work/err"
rc=$?
check "podman: import of a busybox root tarball" [ "$rc" -eq 0 ]
podman_ run --rm --network=none --hostname krun-pod-test -e FOO=bar -w /tmp \
	localhost/krun-e2e-busybox:latest /bin/sh -c "$workload" </dev/null >"$work/out" 2>"$work/err"
rc=$?
check "podman: exit status 7 comes back" [ "$rc" -eq 7 ]
check "podman: stdout is out, \$FOO, cwd, hostname" \
	[ "$(cat "$work/out")" = "$(printf 'out\nbar\n/tmp\nkrun-pod-test')" ]
check "podman: stderr has err" grep -qx err "$work/err"
check "podman: stderr has no stdout text" bash -c "! grep -qx out '$work/err'"
check "podman: stdout has no stderr text" bash -c "! grep -qx err '$work/out'"
podman_ run --rm --network=none localhost/krun-e2e-busybox:latest /bin/cat /proc/cmdline \
	</dev/null >"$work/out" 2>"$work/err"
rc=$?
check "podman: the workload runs in a microVM (guest kernel command line)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'virtio_mmio.device=' '$work/out'"
podman_ ps -a --format '{{.ID}}' >"$work/out" 2>"$work/err"
check "podman: --rm left no container behind" [ ! -s "$work/out" ]
[ "$failures" -eq 0 ]
