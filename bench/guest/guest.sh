#!/bin/sh
# Workloads run identically by both VMs (and natively on the host for the fs
# part). Every command goes through $BB (busybox) so the same binary does the
# work everywhere. Results go to files in the shared directory, never to a
# console: the peer has none, and consoles are not what is measured.
#   guest.sh idle READY_FILE               report ready, then sleep (footprint)
#   guest.sh heavy READY_FILE TAR          untar + find + read, report ready, sleep
#   guest.sh fs OUT BASE MB NRAND NSMALL TAR   timed fs workload, "name seconds" lines
#   guest.sh net OUT SETUP SERVER PORT RRPORT SECS NRR   iperf3 both ways + tcprr:
#       OUT.up.json, OUT.down.json (iperf3 -J), OUT.rr (tcprr's line), OUT the
#       "name status" lines and "done". SETUP: how eth0 gets configured
#       (none, passt, tap: see below).
BB=${BB:-/bin/busybox}
RR=${RR:-/krun-bench/randread}	# bench/guest/randread.c, static
mode=$1
shift

# /proc/uptime: no fork per timestamp (the `read` builtin), 10 ms resolution,
# fine for operations that take seconds.
now() { read -r _t _ </proc/uptime; echo "$_t"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }

case "$mode" in
idle)
	echo ready >"$1"
	exec $BB sleep 600
	;;
heavy)
	ready=$1 tar=$2 d=/krun-bench/work/heavy.$$
	$BB mkdir -p "$d" && $BB tar xf "$tar" -C "$d" && $BB find "$d" | $BB wc -l >/dev/null
	$BB cat $($BB find "$d" -type f) >/dev/null 2>&1
	$BB rm -rf "$d"
	echo ready >"$ready"
	exec $BB sleep 600
	;;
fs)
	out=$1 base=$2 mb=$3 nrand=$4 nsmall=$5 tar=$6
	: >"$out"
	$BB mkdir -p "$base"
	t() {	# t NAME CMD...: time CMD, append "NAME seconds status"
		_n=$1; shift
		_a=$(now); "$@" 2>"$out.err"; _s=$?; _b=$(now)
		echo "$_n $(echo "$_b $_a" | $BB awk '{printf "%.2f", $1 - $2}') $_s" >>"$out"
		# A failed step says why (the peer has no console to look at).
		[ "$_s" = 0 ] || $BB tail -n 3 "$out.err" | $BB sed "s/^/# $_n: /" >>"$out"
	}
	seqwrite() { $BB dd if=/dev/zero of="$base/big" bs=1M count="$mb" conv=fsync; }
	seqread() { $BB dd if="$base/big" of=/dev/null bs=1M; }
	randread() { "$RR" "$base/big" "$nrand" 42; }
	create() { $BB mkdir "$base/small" && cd "$base/small" && $BB seq 1 "$nsmall" | $BB xargs $BB touch; _r=$?; cd /; return $_r; }
	statall() { $BB ls -l "$base/small" >/dev/null; }
	unlinkall() { cd "$base/small" && $BB seq 1 "$nsmall" | $BB xargs $BB rm -f; _r=$?; cd /; $BB rmdir "$base/small"; return $_r; }
	untar() { $BB mkdir "$base/tree" && $BB tar xf "$tar" -C "$base/tree"; }
	findall() { $BB find "$base/tree" | $BB wc -l >/dev/null; }
	drop; t seqwrite seqwrite
	drop; t seqread seqread
	drop; t randread randread
	$BB rm -f "$base/big"
	drop; t create create
	drop; t stat statall
	drop; t unlink unlinkall
	drop; t untar untar
	drop; t find findall
	$BB rm -rf "$base/tree"
	echo done >>"$out"
	;;
net)
	out=$1 setup=$2 server=$3 port=$4 rrport=$5 secs=$6 nrr=$7
	: >"$out"
	# iperf3 mmaps a scratch file in $TMPDIR: keep it off the shared root.
	$BB mkdir -p /krun-bench/tmp.$$ && $BB mount -t tmpfs tmpfs /krun-bench/tmp.$$
	export TMPDIR=/krun-bench/tmp.$$
	# The peer has no DHCP client in its init: "passt" sets what passt's DHCP
	# hands out (address, default route, MTU 65520), "tap" the tap's subnet.
	# "dhcp": our init's DHCP client should have (ours + passt); when eth0 has
	# no address, say so and fall back to "passt". "none": no card (TSI).
	if [ "$setup" = dhcp ]; then
		setup=none
		$BB ip -4 addr show dev eth0 | $BB grep -q inet || {
			echo "# dhcp: no lease from the VMM's init; eth0 configured statically" >>"$out"
			setup=passt
		}
	fi
	case "$setup" in
	passt)
		$BB ip link set eth0 mtu 65520 && $BB ip addr add 198.51.100.1/24 dev eth0 &&
			$BB ip link set eth0 up &&
			$BB ip route add default via 198.51.100.254 dev eth0 ||
			echo "# passt setup of eth0 failed" >>"$out"
		;;
	tap)
		$BB ip addr add 192.0.2.2/24 dev eth0 && $BB ip link set eth0 up ||
			echo "# tap setup of eth0 failed" >>"$out"
		;;
	esac
	ip3() {	# ip3 NAME ARGS...: one iperf3 run, retried while the server is not up yet
		_n=$1; shift
		for _i in 1 2 3 4 5; do
			/krun-bench/iperf3 -c "$server" -p "$port" -t "$secs" -J "$@" >"$out.$_n.json" 2>"$out.err"
			_s=$?
			# With -J a failed test can still exit 0: its JSON says "error".
			[ "$_s" = 0 ] && $BB grep -q '"error"' "$out.$_n.json" && _s=1
			[ "$_s" = 0 ] && break
			$BB sleep 1
		done
		echo "$_n $_s" >>"$out"
		[ "$_s" = 0 ] || $BB tail -n 3 "$out.err" | $BB sed "s/^/# $_n: /" >>"$out"
	}
	ip3 up
	ip3 down -R
	/krun-bench/tcprr client "$server" "$rrport" "$nrr" >"$out.rr" 2>"$out.err"
	_s=$?
	echo "rr $_s" >>"$out"
	[ "$_s" = 0 ] || $BB tail -n 3 "$out.err" | $BB sed "s/^/# rr: /" >>"$out"
	$BB umount /krun-bench/tmp.$$ && $BB rmdir /krun-bench/tmp.$$
	echo done >>"$out"
	;;
esac
