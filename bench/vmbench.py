#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""VM half of the benchmark: runs where a real KVM is (directly, or inside the
nested test host through tests/host/run-in-kvm-host) and writes raw samples as
JSON. bench/run prepares the inputs and turns the samples into the report.

Every measurement runs our VMM (the krun CLI over libkrun.so.1) and the peer
(QEMU -M microvm + QEMU's virtiofsd) back to back, same guest kernel (the
vmlinux inside libkrunfw), same root directory (a copy of the busybox demo root
on tmpfs, so neither VMM pays for the 9p root of the test host), same workload.
Runs alternate ours/peer so slow drift of the machine hits both alike.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

A = None          # parsed arguments
ROOT = None       # the shared root directory (tmpfs copy)
KB = "krun-bench"  # our directory inside the root


def log(msg):
    print(f"[vmbench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- the peer: exact command lines -------------------------------------------

# Our library's default command line (src/api/start.c DEFAULT_CMDLINE + quiet),
# minus what only applies to our devices. Differences, on purpose:
#   reboot=t   QEMU microvm has no i8042 unless asked for; a triple fault is
#              its way out (with -no-reboot the process exits).
#   console=   none: the peer has no console device (-nodefaults, no serial);
#              results come back through the shared directory.
#   panic=0    a peer that panics must hang (and time out as a failure):
#              with panic=-1 a failed boot exits exactly like a good one and
#              would be recorded as a fast boot.
PEER_CMDLINE = ("reboot=t panic=0 panic_print=0 nomodule rw no-kvmapf quiet "
                "root=/dev/root rootfstype=virtiofs init=/" + KB + "/peer-init.sh")


def virtiofsd_cmd(sock):
    return ["/usr/lib/qemu/virtiofsd", f"--socket-path={sock}",
            "-o", f"source={ROOT}", "-o", "cache=auto"]


def qemu_net_args(backend):
    """The peer's network card: virtio-net on microvm's virtio-mmio.
    ("passt", SOCK): passt's qemu socket (`passt -s SOCK`) through -netdev
    stream, new in QEMU 7.2, whose unix-socket client speaks the
    length-prefixed frames passt expects (QEMU <= 7.1 needed -netdev socket
    and passt's qrap). ("tap", NAME): a host tap device, vhost off (QEMU's
    default; ours has no vhost either)."""
    if not backend:
        return []
    kind, arg = backend
    if kind == "passt":
        nd = f"stream,id=n0,server=off,addr.type=unix,addr.path={arg}"
    else:
        nd = f"tap,id=n0,ifname={arg},script=no,downscript=no"
    return ["-netdev", nd, "-device", "virtio-net-device,netdev=n0"]


def passt_peer_cmd(sock):
    return ["passt", "-f", "-q", "-s", sock]


def qemu_cmd(sock, cpus, mem, init_args, net=None):
    return ["qemu-system-x86_64",
            # acpi=off: our guest kernel has no ACPI (the VMM hands it an MP
            # table); with ACPI off QEMU lists the virtio-mmio devices on the
            # kernel command line and qboot builds the MP table.
            "-M", "microvm,x-option-roms=off,rtc=off,isa-serial=off,acpi=off,memory-backend=mem",
            "-enable-kvm", "-cpu", "host", "-m", str(mem), "-smp", str(cpus),
            "-object", f"memory-backend-memfd,id=mem,size={mem}M,share=on",
            "-chardev", f"socket,id=char0,path={sock}",
            "-device", "vhost-user-fs-device,queue-size=1024,chardev=char0,tag=/dev/root",
            *qemu_net_args(net),
            "-kernel", A.vmlinux,
            # Not "-- ARGS": QEMU appends its virtio_mmio.device= entries at
            # the end, which after "--" would go to init instead of the
            # kernel. An unknown name=value reaches init as an environment
            # variable instead.
            "-append", PEER_CMDLINE + " krun_bench=" + ",".join(init_args),
            # microvm's virtio-mmio is legacy (version 1) by default, and
            # virtiofsd (libvhost-user) refuses legacy devices: it drops the
            # connection and the guest never finds its root.
            "-global", "virtio-mmio.force-legacy=false",
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]


def ours_cmd(cpus, mem, argv, opts=()):
    return [A.krun, "-c", str(cpus), "-m", str(mem), *opts, ROOT] + argv


def ours_env():
    env = dict(os.environ)
    env["KRUN_KRUNFW_PATH"] = A.krunfw
    return env


class Peer:
    """One peer VM: virtiofsd first (QEMU connects to its socket at start)."""
    n = 0

    def __init__(self, cpus, mem, init_args, net=None):
        Peer.n += 1
        self.sock = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                 f"krun-bench-vfs.{os.getpid()}.{Peer.n}.sock")
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
        self.t0 = time.monotonic()
        self.vfs = subprocess.Popen(virtiofsd_cmd(self.sock), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        # QEMU fails if the socket is not there yet: the wait is part of the
        # peer's start-up cost, as it would be for any user of it.
        while not os.path.exists(self.sock):
            if self.vfs.poll() is not None:
                raise RuntimeError("virtiofsd exited: " + self.vfs.stderr.read().decode()[-500:])
            time.sleep(0.002)
        self.qemu = subprocess.Popen(qemu_cmd(self.sock, cpus, mem, init_args, net),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, timeout):
        try:
            self.qemu.wait(timeout)
        except subprocess.TimeoutExpired:
            dump = threads_dump(self.qemu.pid)
            self.kill()
            err = self.qemu.stderr.read().decode(errors="replace")[-800:]
            raise RuntimeError(f"qemu hung ({timeout}s): threads {dump}; stderr: {err}")
        t = time.monotonic() - self.t0
        err = self.qemu.stderr.read().decode()
        self._reap_vfs()
        if self.qemu.returncode != 0:
            raise RuntimeError(f"qemu exit {self.qemu.returncode}: {err[-500:]}")
        return t

    def _reap_vfs(self):
        # virtiofsd ends when its vhost-user peer goes away; don't rely on it.
        try:
            self.vfs.wait(5)
        except subprocess.TimeoutExpired:
            self.vfs.kill()
            self.vfs.wait()
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass

    def kill(self):
        self.qemu.kill()
        self.qemu.wait()
        self._reap_vfs()


def threads_dump(pid):
    """Where each thread of a hung VMM sits: makes a timeout report useful."""
    out = []
    try:
        for tid in sorted(os.listdir(f"/proc/{pid}/task")):
            d = f"/proc/{pid}/task/{tid}"
            try:
                comm = open(d + "/comm").read().strip()
                wchan = open(d + "/wchan").read().strip()
                sc = open(d + "/syscall").read().split()[:1]
            except OSError:
                continue
            out.append(f"{comm}:{wchan}:{sc[0] if sc else '?'}")
    except OSError:
        pass
    return " ".join(out)


class Ours:
    def __init__(self, cpus, mem, argv, stdout=subprocess.DEVNULL, opts=()):
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(ours_cmd(cpus, mem, argv, opts), env=ours_env(),
                                  stdout=stdout, stderr=subprocess.PIPE)

    def wait(self, timeout):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            dump = threads_dump(self.p.pid)
            self.kill()
            err = self.p.stderr.read().decode(errors="replace")[-800:]
            raise RuntimeError(f"krun hung ({timeout}s): threads {dump}; stderr: {err}")
        t = time.monotonic() - self.t0
        if self.p.returncode != 0:
            raise RuntimeError(f"krun exit {self.p.returncode}: "
                               + self.p.stderr.read().decode()[-500:])
        return t

    def kill(self):
        self.p.kill()
        self.p.wait()


# ---- measurements ---------------------------------------------------------------

def save(results):
    # Rewritten after every part: a batch cut short by its timeout still
    # leaves the parts that finished.
    with open(A.out + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(A.out + ".tmp", A.out)


def guard(results, key, fn):
    """Runs one measurement; a failure is recorded, not fatal, so one broken
    piece still leaves the others' numbers."""
    try:
        results[key] = fn()
    except Exception as e:  # noqa: BLE001 - reported in the JSON
        log(f"{key}: FAILED: {e}")
        results.setdefault("errors", {})[key] = str(e)[-1000:]
    save(results)


def boot_to_exit(cpus, mem, runs):
    ours, peer = [], []
    for i in range(runs):
        ours.append(Ours(cpus, mem, ["/bin/true"]).wait(A.vm_timeout))
        peer.append(Peer(cpus, mem, ["true"]).wait(A.vm_timeout))
        log(f"boot {cpus}/{mem}: run {i + 1}/{runs}: ours {ours[-1]:.3f}s peer {peer[-1]:.3f}s")
    return {"ours": ours, "peer": peer, "unit": "s", "better": "lower"}


def boot_to_init(cpus, mem, runs):
    ours, peer = [], []
    out = os.path.join(ROOT, KB, "out")
    for i in range(runs):
        o = Ours(cpus, mem, ["/bin/cat", "/proc/uptime"], stdout=subprocess.PIPE)
        o.wait(A.vm_timeout)
        ours.append(float(o.p.stdout.read().split()[0]))
        f = os.path.join(out, f"uptime.{i}")
        if os.path.exists(f):
            os.unlink(f)  # never read a previous configuration's figure
        Peer(cpus, mem, ["uptime", f"/{KB}/out/uptime.{i}"]).wait(A.vm_timeout)
        with open(f) as fh:
            up, ncpu = fh.read().split()[:2]
        peer.append(float(up))
        if int(ncpu) != cpus:
            raise RuntimeError(f"peer guest saw {ncpu} CPUs, not {cpus}")
        log(f"init {cpus}/{mem}: run {i + 1}/{runs}: ours {ours[-1]:.2f}s peer {peer[-1]:.2f}s")
    return {"ours": ours, "peer": peer, "unit": "s", "better": "lower"}


def wait_all(vms):
    """Waits for every VM; on any failure the others are killed, not leaked."""
    try:
        for v in vms:
            v.wait(A.vm_timeout * 4)
    except BaseException:
        for v in vms:
            try:
                v.kill()
            except Exception:  # noqa: BLE001 - already gone
                pass
        raise


def parallel(n, runs):
    ours, peer = [], []
    for i in range(runs):
        t0 = time.monotonic()
        wait_all([Ours(1, 128, ["/bin/true"]) for _ in range(n)])
        ours.append(time.monotonic() - t0)
        t0 = time.monotonic()
        wait_all([Peer(1, 128, ["true"]) for _ in range(n)])
        peer.append(time.monotonic() - t0)
        log(f"parallel x{n}: run {i + 1}/{runs}: ours {ours[-1]:.2f}s peer {peer[-1]:.2f}s")
    return {"ours": ours, "peer": peer, "unit": "s", "better": "lower"}


def smaps(pid, ram_kib):
    """(total Rss, total Pss, guest Rss, guest Pss) in KiB. Guest memory is any
    mapping at least half the guest RAM size (our anonymous RAM, QEMU's memfd
    backend) plus libkrunfw's mappings, which back the guest kernel image
    directly (QEMU copies its kernel into guest RAM instead)."""
    tot_rss = tot_pss = g_rss = g_pss = 0
    guest = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if "-" in fields[0] and not fields[0].endswith(":"):
                path = fields[5] if len(fields) > 5 else ""
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                guest = (hi - lo) // 1024 >= ram_kib // 2 or "libkrunfw" in path
            elif fields[0] == "Rss:":
                v = int(fields[1])
                tot_rss += v
                g_rss += v if guest else 0
            elif fields[0] == "Pss:":
                v = int(fields[1])
                tot_pss += v
                g_pss += v if guest else 0
    return tot_rss, tot_pss, g_rss, g_pss


def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def wait_file(path, timeout, procs):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        for p in procs:
            if p.poll() is not None:
                err = p.stderr.read().decode(errors="replace")[-800:] if p.stderr else ""
                raise RuntimeError(f"VM exited before ready ({p.returncode}): {err}")
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + path)
        time.sleep(0.05)
    time.sleep(A.settle)  # let the guest go idle: sample a quiet VM


def footprint(mode, cpus, mem):
    ram_kib = mem * 1024
    res = {}
    out = os.path.join(ROOT, KB, "out")
    args = ["/bin/sh", f"/{KB}/guest.sh", mode, f"/{KB}/out/ready.ours.{mode}"]
    if mode == "heavy":
        args.append(f"/{KB}/tree.tar")
    o = Ours(cpus, mem, args)
    try:
        wait_file(os.path.join(out, f"ready.ours.{mode}"), A.vm_timeout, [o.p])
        t, p, gt, gp = smaps(o.p.pid, ram_kib)
        res["ours"] = {"rss_kib": t, "pss_kib": p, "guest_rss_kib": gt, "guest_pss_kib": gp,
                       "vmm_rss_kib": t - gt, "vmm_pss_kib": p - gp}
    finally:
        o.kill()
    args = ["guest"] + args[2:]
    args[2] = f"/{KB}/out/ready.peer.{mode}"
    v = Peer(cpus, mem, args)
    try:
        wait_file(os.path.join(out, f"ready.peer.{mode}"), A.vm_timeout, [v.qemu, v.vfs])
        t, p, gt, gp = smaps(v.qemu.pid, ram_kib)
        vt = vp = 0
        for pid in descendants(v.vfs.pid):  # virtiofsd forks into its sandbox
            a, b, _, _ = smaps(pid, 1 << 40)
            vt, vp = vt + a, vp + b
        res["peer"] = {"rss_kib": t, "pss_kib": p, "guest_rss_kib": gt, "guest_pss_kib": gp,
                       "qemu_vmm_rss_kib": t - gt, "virtiofsd_rss_kib": vt,
                       "virtiofsd_pss_kib": vp,
                       "vmm_rss_kib": t - gt + vt, "vmm_pss_kib": p - gp + vp}
    finally:
        v.kill()
    log(f"footprint {mode}: ours {res['ours']['vmm_rss_kib']} KiB, "
        f"peer {res['peer']['vmm_rss_kib']} KiB (VMM RSS without guest RAM)")
    return res


FS_OPS = ["seqwrite", "seqread", "randread", "create", "stat", "unlink", "untar", "find"]


def read_steps(path, what):
    """The "NAME [VALUE] STATUS" lines of a guest.sh result file, checked: the
    workload reached "done" and every step exited 0."""
    with open(path) as f:
        lines = f.read().split("\n")
    if "done" not in lines:
        raise RuntimeError(f"{what} workload incomplete: " + " | ".join(lines))
    steps = [ln.split() for ln in lines if ln.strip() and ln != "done" and not ln.startswith("#")]
    for p in steps:
        if p[-1] != "0":
            raise RuntimeError(f"{what} step {p[0]} failed (status {p[-1]}) in {path}: "
                               + " | ".join(lines))
    return steps


def parse_fs(path):
    return {p[0]: float(p[1]) for p in read_steps(path, "fs") if len(p) == 3}


def fs_bench(runs):
    base = f"/{KB}/work/fs"
    common = [str(A.file_mb), str(A.rand_reads), str(A.small_files), f"/{KB}/tree.tar"]
    out = {"ours": [], "peer": [], "native": []}
    def fresh():
        # Each side starts from an empty work directory, whatever the
        # previous run left behind.
        shutil.rmtree(ROOT + base, ignore_errors=True)

    for i in range(runs):
        fresh()
        f = f"/{KB}/out/fs.ours.{i}"
        Ours(A.fs_cpus, A.fs_mem, ["/bin/sh", f"/{KB}/guest.sh", "fs", f, base] + common
             ).wait(A.fs_timeout)
        out["ours"].append(parse_fs(ROOT + f))
        fresh()
        f = f"/{KB}/out/fs.peer.{i}"
        Peer(A.fs_cpus, A.fs_mem, ["guest", "fs", f, base] + common).wait(A.fs_timeout)
        out["peer"].append(parse_fs(ROOT + f))
        # Native: the same script and busybox on the same tmpfs directory.
        fresh()
        f = f"/{KB}/out/fs.native.{i}"
        env = dict(os.environ, BB=os.path.join(ROOT, "bin/busybox"),
                   RR=os.path.join(ROOT, KB, "randread"))
        subprocess.run([os.path.join(ROOT, "bin/busybox"), "sh", os.path.join(ROOT, KB, "guest.sh"),
                        "fs", ROOT + f, ROOT + base, str(A.file_mb), str(A.rand_reads),
                        str(A.small_files), os.path.join(ROOT, KB, "tree.tar")],
                       env=env, check=True, timeout=A.fs_timeout)
        out["native"].append(parse_fs(ROOT + f))
        log(f"fs run {i + 1}/{runs}: ours {out['ours'][-1]} peer {out['peer'][-1]} "
            f"native {out['native'][-1]}")
    return out


# ---- network ----------------------------------------------------------------------
#
# Ways out of the same guest, each running iperf3 (Debian's, copied into the
# root with its libraries) against an iperf3 server on the host, plus tcprr
# (bench/guest/tcprr.c) against a host echo server:
#   tsi         ours, no card: the guest's sockets are the VMM's (TSI); the
#               guest connects to 127.0.0.1 itself
#   ours_passt  ours with `krun --net passt` (virtio-net, passt on a socket
#               pair, DHCP by our init; when that got no lease the guest
#               configures eth0 as for the peer and the run records
#               dhcp_fallback); the host at passt's gateway address
#   peer_passt  QEMU microvm + virtio-net-device + -netdev stream to
#               `passt -s SOCK`, the guest configured statically (the address,
#               route and MTU passt's DHCP hands out)
#   ours_tap    `krun --net tap:benchtap0`, servers on the tap's host address
#   peer_tap    QEMU microvm + virtio-net-device + -netdev tap, the same tap
# passt needs an interface with a default route, and nothing may reach off the
# machine: the whole part runs in a network namespace of its own with one
# dummy interface, 198.51.100.1/24 (TEST-NET-2) via 198.51.100.254, and the
# tap, 192.0.2.1/24 (TEST-NET-1). passt gives the guest the dummy's address
# and maps its gateway to the host's loopback, where the servers listen.

NET_HOST_ADDR = "198.51.100.1"
NET_GW = "198.51.100.254"
NET_TAP = "benchtap0"
NET_TAP_HOST = "192.0.2.1"
IPERF_PORT = 5201
RR_PORT = 5202
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
# name: (guest's server address, host bind address, guest setup, our krun
# options or None for the peer, the peer's backend)
NET_CONFIGS = {
    "tsi": ("127.0.0.1", "127.0.0.1", "none", [], None),
    "ours_passt": (NET_GW, "127.0.0.1", "dhcp", ["--net", "passt"], None),
    "peer_passt": (NET_GW, "127.0.0.1", "passt", None, "passt"),
    "ours_tap": (NET_TAP_HOST, NET_TAP_HOST, "tap", ["--net", "tap:" + NET_TAP], None),
    "peer_tap": (NET_TAP_HOST, NET_TAP_HOST, "tap", None, "tap"),
}


def net_namespace():
    """Moves this process (and everything it starts from now on) into a new
    network namespace with lo, the dummy bench0 and the tap."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err != 1:  # EPERM: not root (hardware KVM as a user): own a user ns too
            raise OSError(err, "unshare(CLONE_NEWNET): " + os.strerror(err))
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "unshare(CLONE_NEWUSER|CLONE_NEWNET): " + os.strerror(err))
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "link", "add", "bench0", "type", "dummy"],
                ["ip", "addr", "add", NET_HOST_ADDR + "/24", "dev", "bench0"],
                ["ip", "link", "set", "bench0", "up"],
                ["ip", "route", "add", "default", "via", NET_GW, "dev", "bench0"],
                ["ip", "tuntap", "add", "dev", NET_TAP, "mode", "tap"],
                ["ip", "addr", "add", NET_TAP_HOST + "/24", "dev", NET_TAP],
                ["ip", "link", "set", NET_TAP, "up"]):
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError(" ".join(cmd) + ": " + r.stderr.strip())


def copy_with_libs(binary, root, dest):
    """binary into root at dest, and the shared libraries ldd lists (plus the
    dynamic loader) at their own paths: the busybox root has no /lib."""
    shutil.copy(binary, root + dest)
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0]
        if not path.startswith("/"):
            continue  # linux-vdso
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        shutil.copy(path, root + path)  # follows symlinks: a real file


class Server:
    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def wait_port(addr, port, timeout=10):
    end = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((addr, port), 1).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise RuntimeError(f"nothing listens on {addr}:{port}")
            time.sleep(0.05)


def parse_net(out):
    read_steps(out, "net")
    with open(out) as f:
        res = {"dhcp_fallback": "# dhcp: no lease" in f.read()}
    for name in ("up", "down"):
        with open(f"{out}.{name}.json") as f:
            j = json.load(f)
        if "error" in j:
            raise RuntimeError(f"iperf3 {name}: {j['error']}")
        end = j["end"]
        res[name + "_gbps"] = end["sum_received"]["bits_per_second"] / 1e9
        res[name + "_sender_gbps"] = end["sum_sent"]["bits_per_second"] / 1e9
        res[name + "_retransmits"] = end["sum_sent"].get("retransmits")
    with open(out + ".rr") as f:
        mean, med, p99, lo, hi = (float(x) for x in f.read().split())
    res.update(rr_mean_us=mean, rr_median_us=med, rr_p99_us=p99, rr_min_us=lo, rr_max_us=hi)
    return res


def start_peer_passt(sock):
    if os.path.exists(sock):
        os.unlink(sock)
    passt = Server(passt_peer_cmd(sock))
    end = time.monotonic() + 10
    while not os.path.exists(sock):
        if passt.p.poll() is not None or time.monotonic() > end:
            passt.stop()
            raise RuntimeError("passt -s did not start: " + passt.p.stderr.read().decode()[-500:])
        time.sleep(0.02)
    return passt


def net_run(who, f, timeout, sock):
    """One VM of configuration who: its guest writes f (guest.sh net)."""
    server, bind, setup, ours_opts, peer_backend = NET_CONFIGS[who]
    args = ["net", f, setup, server, str(IPERF_PORT), str(RR_PORT), str(A.net_seconds),
            str(A.net_rr)]
    # A fresh iperf3 server per VM: one stuck in a broken test cannot make
    # the next configuration fail.
    ip3 = Server(["iperf3", "-s", "-B", bind, "-p", str(IPERF_PORT)])
    passt = None
    try:
        wait_port(bind, IPERF_PORT)
        if peer_backend == "passt":
            passt = start_peer_passt(sock)
            Peer(A.net_cpus, A.net_mem, ["guest"] + args, net=("passt", sock)).wait(timeout)
        elif peer_backend == "tap":
            Peer(A.net_cpus, A.net_mem, ["guest"] + args, net=("tap", NET_TAP)).wait(timeout)
        else:
            Ours(A.net_cpus, A.net_mem, ["/bin/sh", f"/{KB}/guest.sh"] + args,
                 opts=ours_opts).wait(timeout)
    finally:
        ip3.stop()
        if passt:
            passt.stop()
    return parse_net(ROOT + f)


def net_bench(runs):
    net_namespace()
    copy_with_libs(shutil.which("iperf3"), ROOT, f"/{KB}/iperf3")
    shutil.copy(A.tcprr, os.path.join(ROOT, KB, "tcprr"))
    binds = sorted({c[1] for c in NET_CONFIGS.values()})
    rr = [Server([A.tcprr, "server", b, str(RR_PORT)]) for b in binds]
    whos = [w for w in NET_CONFIGS if A.net_tap or "tap" not in w]
    out = {"seconds": A.net_seconds, "rr_count": A.net_rr, "cpus": A.net_cpus,
           "mem": A.net_mem, **{w: [] for w in whos}}
    timeout = A.vm_timeout + 4 * A.net_seconds + 60
    sock = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"krun-bench-passt.{os.getpid()}.sock")
    try:
        for b in binds:
            wait_port(b, RR_PORT)
        for i in range(runs):
            for who in whos:
                # One configuration failing leaves the others' numbers.
                try:
                    r = net_run(who, f"/{KB}/out/net.{who}.{i}", timeout, sock)
                except Exception as e:  # noqa: BLE001 - reported in the JSON
                    log(f"net {who} run {i + 1}/{runs}: FAILED: {e}")
                    out.setdefault("errors", {})[f"{who}.{i}"] = str(e)[-1000:]
                    continue
                out[who].append(r)
                log(f"net {who} run {i + 1}/{runs}: guest->host {r['up_gbps']:.3f} Gbit/s, "
                    f"host->guest {r['down_gbps']:.3f} Gbit/s, rr mean {r['rr_mean_us']:.0f} us")
    finally:
        for s in rr:
            s.stop()
    return out


def main():
    global A, ROOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--krun", required=True)
    ap.add_argument("--krunfw", required=True)
    ap.add_argument("--vmlinux", required=True)
    ap.add_argument("--root", required=True, help="demo root to copy")
    ap.add_argument("--bench-dir", required=True, help="bench/ (guest scripts)")
    ap.add_argument("--tree-tar", required=True)
    ap.add_argument("--randread", required=True, help="static random-read helper")
    ap.add_argument("--tcprr", default="", help="static TCP request/response helper (net)")
    ap.add_argument("--net-runs", type=int, default=2)
    ap.add_argument("--net-seconds", type=int, default=10)
    ap.add_argument("--net-rr", type=int, default=1000)
    ap.add_argument("--net-cpus", type=int, default=2)
    ap.add_argument("--net-mem", type=int, default=512)
    ap.add_argument("--net-tap", type=int, default=1, help="also ours+tap vs QEMU+tap")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--init-runs", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=10)
    ap.add_argument("--parallel-runs", type=int, default=2)
    ap.add_argument("--fs-runs", type=int, default=2)
    ap.add_argument("--file-mb", type=int, default=1024)
    ap.add_argument("--rand-reads", type=int, default=1000)
    ap.add_argument("--small-files", type=int, default=10000)
    ap.add_argument("--fs-cpus", type=int, default=2)
    ap.add_argument("--fs-mem", type=int, default=512)
    ap.add_argument("--vm-timeout", type=float, default=120)
    ap.add_argument("--fs-timeout", type=float, default=900)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--only", default="", help="comma list: boot,init,parallel,footprint,fs,net")
    A = ap.parse_args()
    only = set(filter(None, A.only.split(",")))

    def want(k):
        return not only or k in only

    # The shared root: a tmpfs copy, so writes work and neither VMM is
    # measuring the test host's 9p root underneath.
    scratch = os.environ.get("TMPDIR", "/tmp")
    ROOT = os.path.join(scratch, f"krun-bench-root.{os.getpid()}")
    shutil.copytree(A.root, ROOT, symlinks=True)
    kb = os.path.join(ROOT, KB)
    os.makedirs(os.path.join(kb, "out"))
    os.makedirs(os.path.join(kb, "work"))
    for name in ("peer-init.sh", "guest.sh"):
        shutil.copy(os.path.join(A.bench_dir, "guest", name), kb)
        os.chmod(os.path.join(kb, name), 0o755)
    shutil.copy(A.randread, os.path.join(kb, "randread"))
    shutil.copy(A.tree_tar, os.path.join(kb, "tree.tar"))

    hw = open("/proc/cpuinfo").read()
    env = {
        "nested_test_host": socket.gethostname() == "krun-test-host",
        "hostname": socket.gethostname(),
        "kernel": os.uname().release,
        "cpus": os.cpu_count(),
        "cpu_flags_svm_vmx": ("svm" in hw.split()) or ("vmx" in hw.split()),
        "peer_cmdline": {"virtiofsd": virtiofsd_cmd("SOCK"),
                         "qemu": qemu_cmd("SOCK", "CPUS", "MEM", ["INIT-ARGS"])},
        "ours_cmdline": ours_cmd("CPUS", "MEM", ["COMMAND"]),
        "net_cmdline": {"ours_passt": ours_cmd("CPUS", "MEM", ["COMMAND"], ["--net", "passt"]),
                        "peer_passt": passt_peer_cmd("SOCK"),
                        "peer_passt_qemu_extra": qemu_net_args(("passt", "SOCK")),
                        "ours_tap": ours_cmd("CPUS", "MEM", ["COMMAND"], ["--net", "tap:" + NET_TAP]),
                        "peer_tap_qemu_extra": qemu_net_args(("tap", NET_TAP)),
                        "iperf3_server": ["iperf3", "-s", "-B", "127.0.0.1", "-p",
                                          str(IPERF_PORT)]},
    }
    env["peer_cmdline"]["qemu"][env["peer_cmdline"]["qemu"].index("-kernel") + 1] = "VMLINUX"
    env["ours_cmdline"][env["ours_cmdline"].index(ROOT)] = "ROOT"
    for k in ("ours_passt", "ours_tap"):
        c = env["net_cmdline"][k]
        c[c.index(ROOT)] = "ROOT"
    for k in ("virtiofsd", "qemu"):
        env["peer_cmdline"][k] = [a.replace(ROOT, "ROOT") for a in env["peer_cmdline"][k]]
    res = {"env": env, "params": vars(A)}
    log(f"root copy at {ROOT}; nested test host: {env['nested_test_host']}")

    # A first boot of each, untimed: page cache, first-run effects.
    if want("boot") or want("init"):
        guard(res, "warmup", lambda: [Ours(1, 128, ["/bin/true"]).wait(A.vm_timeout),
                                      Peer(1, 128, ["true"]).wait(A.vm_timeout)])
    for cpus, mem in ((1, 128), (2, 512)):
        if want("boot"):
            guard(res, f"boot_exit_{cpus}c_{mem}m", lambda: boot_to_exit(cpus, mem, A.runs))
        if want("init"):
            guard(res, f"boot_init_{cpus}c_{mem}m", lambda: boot_to_init(cpus, mem, A.init_runs))
    if want("parallel"):
        guard(res, f"parallel_{A.parallel}", lambda: parallel(A.parallel, A.parallel_runs))
    if want("footprint"):
        guard(res, "footprint_idle", lambda: footprint("idle", 1, 128))
        guard(res, "footprint_heavy", lambda: footprint("heavy", 1, 128))
    if want("fs"):
        guard(res, "fs", lambda: fs_bench(A.fs_runs))
    # Last: it moves this process into a network namespace of its own.
    if want("net"):
        guard(res, "net", lambda: net_bench(A.net_runs))

    res["complete"] = True
    save(res)
    shutil.rmtree(ROOT, ignore_errors=True)
    log("done")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    main()
