#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: run programs from a host directory in microVMs with the krun
# tool and check what a user sees: exit statuses, stdio, environment,
# files on both sides, filesystem semantics, confinement, signals, and
# unprivileged use.  Needs a usable /dev/kvm (run through run-in-kvm-host).
# usage: test_workload.sh KRUN_TOOL LIBKRUNFW
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)
big_mib=${KRUN_E2E_BIG_FILE_MIB:-200}

work=$(mktemp -d /tmp/krun-e2e.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
root=$work/root
# Ordinary users and dropped privileges (krun -u) need the device, as on a
# host where users are in group kvm.  Only ever done inside the test host.
[ -n "${KRUN_IN_TEST_HOST:-}" ] && chmod 666 /dev/kvm
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

# --- exit statuses -------------------------------------------------------
for code in 0 1 42; do
	run -- /bin/sh -c "exit $code"
	check "exit status $code" [ "$rc" -eq "$code" ]
done
run -- /bin/sh -c 'kill -KILL $$'
check "death by SIGKILL is 137" [ "$rc" -eq 137 ]
run -- /nonexistent/program
check "missing program is 127" [ "$rc" -eq 127 ]
printf 'echo hi\n' >"$root/not-executable"
chmod 644 "$root/not-executable"
run -- /not-executable
check "non-executable program is 126" [ "$rc" -eq 126 ]

# --- the CPU the guest sees ----------------------------------------------
host_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
run -- /bin/sh -c "sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1"
check "guest CPU carries the host's name ($host_model)" \
	[ "$(cat "$work/out")" = "${host_model:-no model name on the host}" ]

# --- stdio ---------------------------------------------------------------
printf 'line one\nline two\n' >"$work/in"
stdin_file=$work/in run -- /bin/sh -c 'cat; echo after-eof; echo to-stderr >&2'
check "stdin piped in, EOF reaches the program" \
	[ "$(cat "$work/out")" = "$(printf 'line one\nline two\nafter-eof')" ]
check "stderr kept apart from stdout" grep -qx to-stderr "$work/err"
check "stdout has no stderr text" bash -c "! grep -q to-stderr '$work/out'"

# --- environment, workdir, rlimits, uid ----------------------------------
mkdir -p "$root/work/dir"
chmod 777 "$root/work/dir"
run -e FOO='bar baz' -e 'QUOTE="x"' -w /work/dir -r RLIMIT_NOFILE=123:456 -- \
	/bin/sh -c 'echo "$FOO|$QUOTE"; pwd; ulimit -n; ulimit -Hn'
mapfile -t lines <"$work/out"
check "env applied" [ "${lines[0]:-}" = 'bar baz|"x"' ]
check "workdir applied" [ "${lines[1]:-}" = /work/dir ]
check "rlimit applied" [ "${lines[2]:-}/${lines[3]:-}" = 123/456 ]
# -u drops the VMM to that user (upstream's krun_setuid) and runs the
# workload as that user in the guest.
if setpriv --reuid=1000 --regid=1000 --clear-groups sh -c '[ -r /dev/kvm ] && [ -w /dev/kvm ]'; then
	run -u 1000:1000 -- /bin/sh -c 'id -u; id -g; touch /work/dir/by-user'
	mapfile -t lines <"$work/out"
	check "uid and gid applied in the guest" [ "${lines[0]:-}:${lines[1]:-}" = 1000:1000 ]
	check "files created by the workload belong to that user" \
		[ "$(stat -c %u:%g "$root/work/dir/by-user" 2>/dev/null)" = 1000:1000 ]
else
	echo "SKIP uid and gid: uid 1000 cannot open /dev/kvm on this machine"
fi

# --- a 100 KiB environment (upstream's kernel cmdline caps it at 2 KiB) -----
envs=()
for i in $(seq 1 2000); do envs+=(-e "VAR_$i=value-$i-$(printf '%040d' "$i")"); done
run "${envs[@]}" -- /bin/sh -c 'env | grep -c "^VAR_"; echo "$VAR_1999"; env | wc -c'
mapfile -t lines <"$work/out"
check "100 KiB environment: all 2000 variables" [ "${lines[0]:-}" = 2000 ]
check "100 KiB environment: values intact" \
	[ "${lines[1]:-}" = "value-1999-$(printf '%040d' 1999)" ]
check "100 KiB environment: size" [ "${lines[2]:-0}" -ge 102400 ]

# --- files: byte-identical both ways ---------------------------------------
head -c $((big_mib << 20)) /dev/urandom >"$root/from-host.bin"
want=$(sha256sum <"$root/from-host.bin" | cut -d' ' -f1)
run -- /bin/sh -c "sha256sum /from-host.bin | cut -d' ' -f1;
	dd if=/dev/urandom of=/from-guest.bin bs=1M count=$big_mib 2>/dev/null;
	sha256sum /from-guest.bin | cut -d' ' -f1"
mapfile -t lines <"$work/out"
check "host file read in guest is byte-identical (${big_mib} MiB)" [ "${lines[0]:-}" = "$want" ]
check "guest file is byte-identical on the host (${big_mib} MiB)" \
	[ "$(sha256sum <"$root/from-guest.bin" | cut -d' ' -f1)" = "${lines[1]:-no sum from the guest}" ]
rm -f "$root/from-host.bin" "$root/from-guest.bin"

# --- filesystem semantics --------------------------------------------------
run -- /bin/sh -c '
	cd /tmp-sem 2>/dev/null || { mkdir /tmp-sem && cd /tmp-sem; }
	echo data >a && mv a b && ln b c && ln -s b d &&
	chmod 640 b && chown 1234:5678 b && mkfifo fifo && mkdir sub && rmdir sub &&
	echo ok'
check "rename, link, symlink, chmod, chown, mkfifo in the guest" grep -qx ok "$work/out"
check "rename visible on host" [ ! -e "$root/tmp-sem/a" -a -f "$root/tmp-sem/b" ]
check "hard link shares the inode on host" [ "$(stat -c %i "$root/tmp-sem/b")" = "$(stat -c %i "$root/tmp-sem/c")" ]
check "symlink target on host" [ "$(readlink "$root/tmp-sem/d")" = b ]
check "mode and owner on host" [ "$(stat -c '%a %u %g' "$root/tmp-sem/b")" = "640 1234 5678" ]
check "fifo on host" [ -p "$root/tmp-sem/fifo" ]
# rm -rf lists a directory while it unlinks: on a host filesystem whose
# directory offsets are positions (tmpfs before Linux 6.6, as in the test
# host) a server that seeks to them skips entries.
mkdir -p "$root/tmp-rm/d"
for i in $(seq 1 400); do : >"$root/tmp-rm/d/a-file-with-a-rather-long-name-$i"; done
run -- /bin/sh -c 'rm -rf /tmp-rm/d; echo "rm $?"'
check "rm -rf of a 400-entry directory in the guest" \
	[ "$(cat "$work/out")" = "rm 0" -a ! -e "$root/tmp-rm/d" ]
rm -rf "$root/tmp-rm"
echo host-side >"$root/tmp-sem/from-host"
run -- /bin/sh -c 'cat /tmp-sem/from-host; stat -c "%s %h" /tmp-sem/b'
check "host changes visible in guest, link count 2" \
	[ "$(cat "$work/out")" = "$(printf 'host-side\n5 2')" ]

# More files than the usual 1024 open-file limit: the server holds one
# descriptor per inode the guest caches.
run -- /bin/sh -c 'mkdir /many && cd /many && seq 1 5000 | xargs touch && echo created'
check "creating 5000 files in the guest works" grep -qx created "$work/out"
check "5000 files on the host" [ "$(ls "$root/many" | wc -l)" -eq 5000 ]
rm -rf "$root/many"

# --- read-only share -------------------------------------------------------
mkdir -p "$work/ro" && echo keep >"$work/ro/file"
run -v "data:$work/ro:ro" -- /bin/sh -c 'mkdir -p /mnt/ro && mount -t virtiofs data /mnt/ro &&
	cat /mnt/ro/file && { echo x >/mnt/ro/file; echo write=$?; touch /mnt/ro/new; echo touch=$?; }'
check "read-only share is readable" grep -qx keep "$work/out"
check "read-only share refuses writes" grep -qx 'write=1' "$work/out"
check "read-only share refuses creates" bash -c "grep -qx 'touch=1' '$work/out' && [ ! -e '$work/ro/new' ] && [ \"\$(cat '$work/ro/file')\" = keep ]"

# --- confinement: nothing outside the root is reachable --------------------
echo SECRET-OUTSIDE >"$work/outside-secret"
ln -sfn ../outside-secret "$root/rel-escape"
ln -sfn "$work/outside-secret" "$root/abs-escape"
ln -sfn /proc/self/root "$root/proc-escape"
mkdir -p "$root/moved"
run -- /bin/sh -c 'cat /rel-escape /abs-escape /../outside-secret /../../../outside-secret
	cat /proc-escape'"$work"'/outside-secret; ls /../ ; cat /moved/../../outside-secret; true' 
check "no escape through .., absolute, relative or /proc symlinks" \
	bash -c "! grep -q SECRET-OUTSIDE '$work/out' '$work/err'"

# --- signals relayed to the workload ---------------------------------------
"$krun" "$root" /bin/sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 1; done' \
	</dev/null >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 600); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.2; done
kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM to krun reaches the workload" [ "$rc" -eq 7 ] && grep -qx got-term "$work/out"

# --- unprivileged use ------------------------------------------------------
if command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups timeout -k 10 300 "$krun" "$root" \
		/bin/sh -c 'echo unprivileged; id -u' </dev/null >"$work/out" 2>"$work/err"
	rc=$?
	check "runs as an ordinary user" [ "$rc" -eq 0 ] && grep -qx unprivileged "$work/out"
fi
if unshare -r true 2>/dev/null; then
	unshare -r timeout -k 10 300 "$krun" "$root" /bin/sh -c 'echo in-userns' </dev/null \
		>"$work/out" 2>"$work/err"
	rc=$?
	check "runs inside a user namespace (unshare -r)" [ "$rc" -eq 0 ] && grep -qx in-userns "$work/out"
else
	echo "SKIP user namespace: unshare -r not permitted here"
fi
