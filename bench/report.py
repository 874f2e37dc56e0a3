#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Turns raw benchmark samples into the table, bench/results/latest.json and
bench/results/latest.png.

usage: report.py --vm VM.json --fuse FUSE.jsonl --sizes SIZES.json --out-dir DIR
                 [--command STR] [--markdown FILE]
Any input may be missing (a part that did not run): its rows say so.
"""
import argparse
import json
import os
import statistics
import sys
import time

def spread(xs):
    return (min(xs), statistics.median(xs), max(xs)) if xs else (None, None, None)


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    if unit == "MB/s":
        return f"{v:.1f} MB/s"
    if unit == "req/s":
        return f"{v:,.0f} req/s"
    if unit == "ops/s":
        return f"{v:,.0f} ops/s"
    if unit == "Gbit/s":
        return f"{v:.3f} Gbit/s" if v < 10 else f"{v:.1f} Gbit/s"
    if unit == "us":
        return f"{v:,.0f} µs"
    return f"{v:.3g} {unit}"


def sp(xs, unit):
    lo, med, hi = spread(xs)
    if lo is None:
        return "-"
    f = {"s": "{:.2f}", "MiB": "{:.1f}", "MB/s": "{:.0f}", "ops/s": "{:.0f}", "us": "{:.0f}"}.get(unit, "{:.3g}")
    return "/".join(f.format(x) for x in (lo, med, hi))


def targets(rows):
    """The issue's targets, checked against the medians: reported, never a
    failure (timings on shared machines are not pass/fail)."""
    out = []

    def verdict(ok):
        return "met" if ok else "NOT met"

    for r in rows:
        if r["ratio"] is None:
            continue
        m = r["metric"]
        if m.startswith("boot to exit"):
            out.append(f"boot to exit <= 0.5x peer: {r['ratio']:.2f}x, {verdict(r['ratio'] <= 0.5)}"
                       f" ({m.split(', ', 2)[-1]})")
        elif m.startswith("VMM memory (RSS"):
            ok = r["ours_median"] <= 5 and r["ratio"] <= 0.1
            out.append(f"VMM footprint <= 5 MiB and <= 0.1x QEMU: {r['ours_median']:.1f} MiB, "
                       f"{r['ratio']:.2f}x, {verdict(ok)} ({m.split(', ', 1)[-1]})")
        elif m.startswith("fs ") and r["better"] == "higher":
            out.append(f"virtio-fs throughput >= peer: {r['ratio']:.2f}x, "
                       f"{verdict(r['ratio'] >= 1)} ({m})")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vm")
    ap.add_argument("--fuse")
    ap.add_argument("--sizes")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--markdown")
    ap.add_argument("--vm-skip-reason", default="")
    a = ap.parse_args()

    vm = None
    if a.vm and os.path.exists(a.vm):
        with open(a.vm) as f:
            vm = json.load(f)
    fuse = []
    if a.fuse and os.path.exists(a.fuse):
        with open(a.fuse) as f:
            fuse = [json.loads(ln) for ln in f if ln.startswith("{")]
    sizes = {}
    if a.sizes and os.path.exists(a.sizes):
        with open(a.sizes) as f:
            sizes = json.load(f)

    rows = []  # dict(metric, unit, better, ours[], peer[], native[])

    def add(metric, unit, better, ours, peer, native=None, note=""):
        rows.append({"metric": metric, "unit": unit, "better": better, "ours": ours,
                     "peer": peer, "native": native or [], "note": note})

    if vm:
        for key, label in (("boot_exit_1c_128m", "boot to exit, /bin/true, 1 vCPU 128 MiB"),
                           ("boot_exit_2c_512m", "boot to exit, /bin/true, 2 vCPU 512 MiB"),
                           ("boot_init_1c_128m", "guest uptime at workload start, 1 vCPU 128 MiB"),
                           ("boot_init_2c_512m", "guest uptime at workload start, 2 vCPU 512 MiB")):
            if key in vm:
                add(label, "s", "lower", vm[key]["ours"], vm[key]["peer"])
        for key in vm:
            if key.startswith("parallel_"):
                n = key.split("_")[1]
                add(f"{n} VMs started at once, wall time to all exited", "s", "lower",
                    vm[key]["ours"], vm[key]["peer"])
        for key, label in (("footprint_idle", "idle guest"),
                           ("footprint_heavy", "after file-heavy workload")):
            if key in vm:
                fp = vm[key]
                add(f"VMM memory (RSS - guest RAM), {label}", "MiB", "lower",
                    [fp["ours"]["vmm_rss_kib"] / 1024], [fp["peer"]["vmm_rss_kib"] / 1024],
                    note="peer = QEMU non-guest RSS + virtiofsd RSS")
                add(f"VMM memory (PSS - guest RAM), {label}", "MiB", "lower",
                    [fp["ours"]["vmm_pss_kib"] / 1024], [fp["peer"]["vmm_pss_kib"] / 1024])
        if "fs" in vm:
            fs = vm["fs"]
            p = vm["params"]
            mb = p["file_mb"]

            def col(who, op, conv):
                return [conv(r[op]) for r in fs[who] if op in r and r[op] > 0]

            rate = {"seqwrite": (f"fs sequential write {mb} MiB (dd bs=1M, fsync)", "MB/s",
                                 lambda s: mb * 1.048576 / s),
                    "seqread": (f"fs sequential read {mb} MiB (dd bs=1M, cold guest cache)",
                                "MB/s", lambda s: mb * 1.048576 / s),
                    "randread": (f"fs random 4 KiB reads ({p['rand_reads']} preads, no readahead)",
                                 "ops/s", lambda s: p["rand_reads"] / s),
                    "create": (f"fs create {p['small_files']} empty files", "s", lambda s: s),
                    "stat": (f"fs stat {p['small_files']} files (ls -l)", "s", lambda s: s),
                    "unlink": (f"fs unlink {p['small_files']} files", "s", lambda s: s),
                    "untar": ("fs untar source tree", "s", lambda s: s),
                    "find": ("fs find | wc -l over the tree", "s", lambda s: s)}
            for op, (label, unit, conv) in rate.items():
                add(label, unit, "higher" if unit in ("MB/s", "ops/s") else "lower",
                    col("ours", op, conv), col("peer", op, conv), col("native", op, conv))

        if "net" in vm:
            net = vm["net"]
            secs = net.get("seconds")
            for key, label in (("up", f"net TCP guest->host (iperf3, {secs} s)"),
                               ("down", f"net TCP host->guest (iperf3 -R, {secs} s)")):
                for who, name in (("ours_passt", "ours+passt"), ("tsi", "TSI")):
                    add(f"{label}, {name} vs QEMU+passt", "Gbit/s", "higher",
                        [r[key + "_gbps"] for r in net.get(who, [])],
                        [r[key + "_gbps"] for r in net.get("peer_passt", [])])
            for who, name in (("ours_passt", "ours+passt"), ("tsi", "TSI")):
                add(f"net TCP 1-byte request/response, mean of {net.get('rr_count')}, "
                    f"{name} vs QEMU+passt", "us", "lower",
                    [r["rr_mean_us"] for r in net.get(who, [])],
                    [r["rr_mean_us"] for r in net.get("peer_passt", [])])
            if "ours_tap" in net:
                for key, label in (("up_gbps", "guest->host"), ("down_gbps", "host->guest"),
                                   ("rr_mean_us", "1-byte request/response, mean")):
                    unit, better = ("us", "lower") if key == "rr_mean_us" else ("Gbit/s", "higher")
                    add(f"net TCP {label}, ours+tap vs QEMU+tap", unit, better,
                        [r[key] for r in net["ours_tap"]],
                        [r[key] for r in net.get("peer_tap", [])])

    if sizes:
        for k, label in (("ours", "on-disk size: libkrun.so.1 + libkrunfw.so.5"),):
            if k in sizes:
                add(label, "MiB", "lower", [sizes["ours"] / 2**20], [sizes["peer"] / 2**20],
                    note="peer = qemu-system-x86_64 + virtiofsd (+ firmware/libs not counted)")

    for r in rows:
        lo, med, hi = spread(r["ours"])
        plo, pmed, phi = spread(r["peer"])
        r["ours_median"] = med
        r["peer_median"] = pmed
        r["native_median"] = spread(r["native"])[1]
        r["ratio"] = med / pmed if med is not None and pmed else None
        r["runs"] = min(len(r["ours"]), len(r["peer"]))

    env = (vm or {}).get("env", {})
    nested = env.get("nested_test_host")
    lines = []
    if vm is None:
        envline = ("VM benchmarks: NO NUMBERS" +
                   (f" ({a.vm_skip_reason})" if a.vm_skip_reason else " (the VM batch produced no results)"))
    elif nested:
        envline = ("environment: NESTED TEST HOST (QEMU TCG emulating an AMD CPU with SVM, "
                   "KVM inside it). Both VMMs run there; absolute times are distorted "
                   "(the guests' CPUs, memory and I/O are all emulated), only the ratios "
                   "against the peer from the same run mean anything.")
    else:
        envline = f"environment: hardware KVM ({env.get('hostname', '?')}, {env.get('cpus')} CPUs)"
    lines.append(envline)
    if vm is not None and not vm.get("complete"):
        envline += " VM batch INCOMPLETE (cut short): only the parts that finished are shown."
        lines.append("VM batch INCOMPLETE (timed out or crashed): only the parts that finished are shown.")
    lines.append("ratio = ours / peer in the metric's unit; 'better' says which way is good. "
                 "spread = min/median/max over runs.")
    lines.append("")
    hdr = ["metric", "ours", "peer", "ratio", "better", "runs", "ours spread", "peer spread",
           "host native"]
    table = [hdr]
    for r in rows:
        table.append([r["metric"], fmt(r["ours_median"], r["unit"]),
                      fmt(r["peer_median"], r["unit"]),
                      f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-", r["better"],
                      str(r["runs"]), sp(r["ours"], r["unit"]), sp(r["peer"], r["unit"]),
                      fmt(r["native_median"], r["unit"]) if r["native"] else ""])
    md = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for t in table[1:]:
        md.append("| " + " | ".join(t) + " |")
    w = [max(len(t[i]) for t in table) for i in range(len(hdr))]
    if rows:
        for t in table:
            lines.append("  ".join(c.ljust(w[i]) for i, c in enumerate(t)).rstrip())
    else:
        lines.append("(no VM or size rows: nothing to compare with the peer)")

    # The FUSE micro-benchmark has no peer: QEMU's virtiofsd cannot be driven
    # without a vhost-user front end.
    fuse_lines = []
    if fuse:
        fuse_lines.append("")
        fuse_lines.append("FUSE server micro-benchmark (host-side, no VM, no peer figure: "
                          "virtiofsd has no in-process entry point to drive)")
        fuse_lines.append(f"  {'path':<10} {'op':<8} {'qd':>3} {'req/s':>10} {'CPU us/req':>11}")
        for f in fuse:
            fuse_lines.append(f"  {f['path']:<10} {f['op']:<8} {f['qd']:>3} {f['rps']:>10,.0f} "
                              f"{f.get('cpu_us', 0):>11.2f}")
    lines += fuse_lines

    tl = targets(rows)
    if tl:
        lines.append("")
        lines.append("targets from the issue (reported, not asserted):")
        lines += ["  " + t for t in tl]

    errors = dict((vm or {}).get("errors", {}))
    net = (vm or {}).get("net", {})
    errors.update({f"net {k}": v for k, v in net.get("errors", {}).items()})
    fallback = sum(1 for r in net.get("ours_passt", []) if r.get("dhcp_fallback"))
    if fallback:
        errors["net ours_passt DHCP"] = (
            f"our init got no DHCP lease from passt in {fallback} of "
            f"{len(net['ours_passt'])} runs; eth0 was configured statically as for the peer")
    if errors:
        lines.append("")
        lines.append("FAILED parts:")
        for k, v in errors.items():
            lines.append(f"  {k}: {v.strip().splitlines()[-1] if v.strip() else v}")

    print("\n".join(lines))

    os.makedirs(a.out_dir, exist_ok=True)
    out = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": a.command,
           "environment": env, "environment_note": envline, "rows": rows, "fuse_micro": fuse,
           "sizes": sizes, "vm_params": (vm or {}).get("params"),
           "errors": errors if vm else {"vm": "not run"}}
    with open(os.path.join(a.out_dir, "latest.json"), "w") as f:
        json.dump(out, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(envline + "\n\n")
            if rows:
                f.write("\n".join(md) + "\n")
            if fuse:
                f.write("\nFUSE server micro-benchmark (no VM; no peer figure):\n\n")
                f.write("| path | op | qd | req/s | CPU µs/req |\n|---|---|---|---|---|\n")
                for x in fuse:
                    f.write(f"| {x['path']} | {x['op']} | {x['qd']} | {x['rps']:,.0f} | "
                            f"{x.get('cpu_us', 0):.2f} |\n")
    plot(rows, fuse, envline, os.path.join(a.out_dir, "latest.png"))


def plot(rows, fuse, envline, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: python3-matplotlib missing, no plot (tools/install-deps.sh)",
              file=sys.stderr)
        return
    vr = [r for r in rows if r["ratio"] is not None]
    n_panels = (1 if vr else 0) + (1 if fuse else 0)
    if not n_panels:
        return
    fig, axes = plt.subplots(n_panels, 1, figsize=(10, 0.42 * (len(vr) + len(fuse)) + 2.5 * n_panels),
                             squeeze=False)
    ax_i = 0
    if vr:
        ax = axes[ax_i][0]
        ax_i += 1
        labels = [r["metric"] for r in vr][::-1]
        # Always plot "how many times better than the peer" so longer = better.
        adv = [(1 / r["ratio"] if r["better"] == "lower" else r["ratio"]) for r in vr][::-1]
        colors = ["tab:green" if x >= 1 else "tab:red" for x in adv]
        ax.barh(labels, adv, color=colors)
        ax.axvline(1.0, color="black", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("advantage over QEMU microvm + virtiofsd (+ passt for net) "
                      "(x, >1 = ours better; log)")
        for i, x in enumerate(adv):
            ax.text(x, i, f" {x:.2f}x", va="center", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(envline[:110] + ("..." if len(envline) > 110 else ""), fontsize=8)
    if fuse:
        ax = axes[ax_i][0]
        labels = [f"{f['path']} {f['op']} qd{f['qd']}" for f in fuse][::-1]
        ax.barh(labels, [f["rps"] for f in fuse][::-1], color="tab:blue")
        ax.set_xlabel("requests/s")
        ax.set_title("FUSE server micro-benchmark: host-side, no VM, no peer figure", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
