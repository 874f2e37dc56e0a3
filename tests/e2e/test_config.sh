#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: a client that calls only krun_set_root (as crun's krun
# handler, krunvm and muvm do) gets its job from the container config in
# the guest's root, checked as a user sees it: the command runs with the
# config's environment and working directory, its stdout/stderr and exit
# status come back, HOSTNAME names the guest; $KRUN_CONFIG picks another file
# (image-config form, Entrypoint + Cmd); krun_set_exec and krun_set_workdir
# win over the config; a malformed config or a bad cwd is status 125 with a
# clear message; KRUN_INIT_PID1=1 runs the workload as PID 1.
# usage: test_config.sh CONFIG_PROBE KRUN_TOOL LIBKRUNFW
set -u
probe_bin=$(realpath "${1:?config_probe}")
# shellcheck disable=SC2034 # $krun is lib.sh's run()'s
krun=$(realpath "${2:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${3:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-config.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$root/work/oci" "$root/work/img" "$root/cfg"

# shellcheck source=lib.sh
. "$here/lib.sh"

# probe [NAME=VALUE...]: config_probe on $root with exactly this environment
# (the guest gets it: no krun_set_env), stdout/stderr to $work/out,err.
probe() {
	timeout -k 10 300 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		KRUN_KRUNFW_PATH="$KRUN_KRUNFW_PATH" "$@" "$probe_bin" "$root" \
		</dev/null >"$work/out" 2>"$work/err"
	rc=$?
}
lines() { mapfile -t out <"$work/out"; }

# --- OCI runtime config at /.krun_config.json (what crun writes) ----------
cat >"$root/.krun_config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["/bin/sh", "-c", "echo out-line; echo err-line >&2; echo \"FOO=$FOO BAR=$BAR HOME=$HOME\"; pwd; hostname; exit 7"],
    "env": ["FOO=from-config", "BAR=from-config", "HOME=/cfg-home", "HOSTNAME=cfg-host"],
    "cwd": "/work/oci"
  },
  "root": {"path": "rootfs"},
  "linux": {"namespaces": [{"type": "pid"}]}
}
JSON
probe BAR=from-host HOME=/host-home
lines
check "OCI config: the command runs, stdout comes back" [ "${out[0]:-}" = out-line ]
check "OCI config: stderr comes back apart" bash -c "grep -qx err-line '$work/err' && ! grep -q err-line '$work/out'"
check "OCI config: env added, host's kept, HOME overridden" \
	[ "${out[1]:-}" = "FOO=from-config BAR=from-host HOME=/cfg-home" ]
check "OCI config: cwd applied" [ "${out[2]:-}" = /work/oci ]
check "OCI config: HOSTNAME sets the hostname" [ "${out[3]:-}" = cfg-host ]
check "OCI config: exit status comes back" [ "$rc" -eq 7 ]

# --- $KRUN_CONFIG: image-config form, Entrypoint prepended to Cmd ----------
cat >"$root/cfg/image.json" <<'JSON'
{"architecture": "amd64", "os": "linux",
 "Config": {"Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo \"args:$0:$1\"; echo \"IMG=$IMG\"; pwd; hostname", "zero", "one"],
            "Env": ["IMG=image-env"], "WorkingDir": "/work/img", "Labels": null}}
JSON
probe KRUN_CONFIG=/cfg/image.json
lines
check "KRUN_CONFIG: Entrypoint + Cmd run instead of /.krun_config.json" \
	[ "${out[0]:-}" = "args:zero:one" ]
check "KRUN_CONFIG: Env applied" [ "${out[1]:-}" = IMG=image-env ]
check "KRUN_CONFIG: WorkingDir applied" [ "${out[2]:-}" = /work/img ]
check "no HOSTNAME: the hostname is localhost" [ "${out[3]:-}" = localhost ]
check "KRUN_CONFIG: status 0" [ "$rc" -eq 0 ]

# --- krun_set_exec and krun_set_workdir win over the config ----------------
run -- /bin/sh -c 'echo exec-wins; pwd; echo "FOO=$FOO"'
lines
check "krun_set_exec wins over the config's args" [ "${out[0]:-}" = exec-wins ]
check "without krun_set_workdir the config's cwd applies" [ "${out[1]:-}" = /work/oci ]
check "the config's env also applies with krun_set_exec" [ "${out[2]:-}" = FOO=from-config ]
run -w /work/img -- /bin/sh -c pwd
check "krun_set_workdir wins over the config's cwd" [ "$(cat "$work/out")" = /work/img ]

# --- what a broken config looks like ---------------------------------------
printf '{"process": {"args": ["/bin/sh", ]}}' >"$root/cfg/bad.json"
probe KRUN_CONFIG=/cfg/bad.json
check "malformed JSON: status 125" [ "$rc" -eq 125 ]
# init's own messages go out on the console, a tty: lines end in \r\n.
errline() { tr -d '\r' <"$work/err" | grep -qxF "$1"; }
check "malformed JSON: one clear message" \
	errline 'krun-init: bad container config /cfg/bad.json: not valid JSON (at byte 33)'
check "malformed JSON: nothing else on stderr" [ "$(grep -c . "$work/err")" -eq 1 ]
printf '{"Config": {"Cmd": "/bin/echo hi"}}' >"$root/cfg/type.json"
probe KRUN_CONFIG=/cfg/type.json
check "wrong type: status 125" [ "$rc" -eq 125 ]
check "wrong type: the key is named" \
	errline 'krun-init: bad container config /cfg/type.json: "Cmd" is not an array of strings'
{ printf '{"Cmd": ["/bin/true"], "pad": "'; head -c 1100000 /dev/zero | tr '\0' x; printf '"}'; } \
	>"$root/cfg/big.json"
probe KRUN_CONFIG=/cfg/big.json
check "config over 1 MiB: status 125 and said so" bash -c "[ $rc -eq 125 ] &&
	grep -q 'big.json: is bigger than 1 MiB' '$work/err'"
printf '{"process": {"args": ["/bin/true"], "cwd": "/no/such/dir"}}' >"$root/cfg/cwd.json"
probe KRUN_CONFIG=/cfg/cwd.json
check "missing cwd: status 125 and said so" bash -c "[ $rc -eq 125 ] &&
	grep -q 'cannot change directory to /no/such/dir' '$work/err'"

# --- KRUN_INIT_PID1=1: the workload is PID 1 --------------------------------
printf '{"process": {"args": ["/bin/sh", "-c", "echo pid=$$; exit 3"]}}' >"$root/cfg/pid1.json"
probe KRUN_CONFIG=/cfg/pid1.json KRUN_INIT_PID1=1
check "KRUN_INIT_PID1=1: the workload runs as PID 1" grep -qx pid=1 "$work/out"
# As upstream, nothing is left to report the status: the VM just ends.
check "KRUN_INIT_PID1=1: no exit status reported (0)" [ "$rc" -eq 0 ]
probe KRUN_CONFIG=/cfg/pid1.json
check "without KRUN_INIT_PID1 the workload is a child of init" bash -c "[ $rc -eq 3 ] &&
	! grep -qx pid=1 '$work/out'"
