# SPDX-License-Identifier: Apache-2.0
# Sourced by the e2e scripts that move data both ways over a virtio-net card
# on 203.0.113.0/24 (the caller sets $here, $krun; lib.sh is loaded).  Sets
# up $work with a demo root and $mib MiB each way, the guest's script
# /tap.sh, and exchange NAME KRUN-NET-SPEC: one VM, data both ways over the
# card, sha256 checked.
mib=${KRUN_NET_TAP_MIB:-32}

work=$(mktemp -d /tmp/krun-net-tap.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$work/www" "$root/www"
head -c $((mib * 1024 * 1024)) /dev/urandom >"$work/www/down.bin"
head -c $((mib * 1024 * 1024 + 77)) /dev/urandom >"$root/www/up.bin"
want_down=$(sha256sum "$work/www/down.bin" | cut -d' ' -f1)
want_up=$(sha256sum "$root/www/up.bin" | cut -d' ' -f1)

# The guest's side: a static address (no DHCP server on a bare tap), a
# download from the host, then a server until the host has fetched.
cat >"$root/tap.sh" <<'SH'
ip addr add 203.0.113.2/24 dev eth0 && ip link set eth0 up
sum=$(timeout 300 wget -q -O - http://203.0.113.1:8082/down.bin | sha256sum | cut -d' ' -f1)
echo "guest: down sha256 $sum"
httpd -f -p 8000 -h /www &
echo "guest: httpd started"
for i in $(seq 600); do ls /www | grep -qx fetched && break; sleep 0.5; done
kill %1
exit 0
SH

# exchange NAME KRUN-NET-SPEC: one VM, data both ways over 203.0.113.0/24.
exchange() {
	local name=$1 spec=$2 up_sum="" vm
	rm -f "$root/www/fetched"
	timeout -k 10 900 "$krun" --net "$spec" "$root" /bin/sh /tap.sh \
		</dev/null >"$work/out" 2>"$work/err" &
	vm=$!
	for _ in $(seq 600); do
		if grep -q "guest: httpd started" "$work/out" 2>/dev/null; then
			up_sum=$(curl -sf --max-time 300 "http://203.0.113.2:8000/up.bin" | sha256sum | cut -d' ' -f1)
			[ "$up_sum" = "$want_up" ] && break
		fi
		kill -0 "$vm" 2>/dev/null || break
		sleep 0.5
	done
	touch "$root/www/fetched"
	wait "$vm"
	rc=$?
	check "$name: the guest fetches $mib MiB from the host over the card, sha256 equal" \
		grep -qx "guest: down sha256 $want_down" "$work/out"
	check "$name: the host fetches $mib MiB from the guest's server, sha256 equal" \
		[ "$up_sum" = "$want_up" ]
	check "$name: the VM ends with status 0" [ "$rc" -eq 0 ]
}
