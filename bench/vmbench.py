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


def qemu_cmd(sock, cpus, mem, init_args):
    return ["qemu-system-x86_64",
            # acpi=off: our guest kernel has no ACPI (the VMM hands it an MP
            # table); with ACPI off QEMU lists the virtio-mmio devices on the
            # kernel command line and qboot builds the MP table.
            "-M", "microvm,x-option-roms=off,rtc=off,isa-serial=off,acpi=off,memory-backend=mem",
            "-enable-kvm", "-cpu", "host", "-m", str(mem), "-smp", str(cpus),
            "-object", f"memory-backend-memfd,id=mem,size={mem}M,share=on",
            "-chardev", f"socket,id=char0,path={sock}",
            "-device", "vhost-user-fs-device,queue-size=1024,chardev=char0,tag=/dev/root",
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


def ours_cmd(cpus, mem, argv):
    return [A.krun, "-c", str(cpus), "-m", str(mem), ROOT] + argv


def ours_env():
    env = dict(os.environ)
    env["KRUN_KRUNFW_PATH"] = A.krunfw
    return env


class Peer:
    """One peer VM: virtiofsd first (QEMU connects to its socket at start)."""
    n = 0

    def __init__(self, cpus, mem, init_args):
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
        self.qemu = subprocess.Popen(qemu_cmd(self.sock, cpus, mem, init_args),
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
    def __init__(self, cpus, mem, argv, stdout=subprocess.DEVNULL):
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(ours_cmd(cpus, mem, argv), env=ours_env(), stdout=stdout,
                                  stderr=subprocess.PIPE)

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


def parse_fs(path):
    res = {}
    with open(path) as f:
        lines = f.read().split("\n")
    if "done" not in lines:
        raise RuntimeError("fs workload incomplete: " + " | ".join(lines))
    for ln in lines:
        p = ln.split()
        if len(p) == 3 and not ln.startswith("#"):
            if p[2] != "0":
                raise RuntimeError(f"fs op {p[0]} failed (status {p[2]}) in {path}: "
                                   + " | ".join(lines))
            res[p[0]] = float(p[1])
    return res


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
    ap.add_argument("--only", default="", help="comma list: boot,init,parallel,footprint,fs")
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
    }
    env["peer_cmdline"]["qemu"][env["peer_cmdline"]["qemu"].index("-kernel") + 1] = "VMLINUX"
    env["ours_cmdline"][env["ours_cmdline"].index(ROOT)] = "ROOT"
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

    res["complete"] = True
    save(res)
    shutil.rmtree(ROOT, ignore_errors=True)
    log("done")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    main()
