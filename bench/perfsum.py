#!/usr/bin/env python3
"""Summaries of bench/run.sh's perf recordings, per request of the round
they were taken in (the last round of each matching scenario).

  perfsum.py packages WORK   (BENCH_PERF) CPU time per request by Go package
                             and by function, in µs, each profile beside the
                             first one profiled: which of the second
                             process's costs the first does not have, in time
                             rather than in counted instructions
  perfsum.py packets WORK    (BENCH_PACKETS) the TCP segments the measured
                             process sends per request, by what sent them:
                             its writes (data), the kernel's ACKs on its reads
                             (tcp_recvmsg: two small pushed segments since the
                             last ACK, or more than a segment's worth of data),
                             and the rest (timers, softirq)

WORK is run.sh's work directory: its results file gives each scenario's
requests per round, and the scenario's tag (its name with every character
outside [a-z0-9] made "_") names its recordings.
"""
import collections
import glob
import json
import os
import re
import subprocess
import sys


def tag(name):
    return "".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789" else "_" for c in name + "\n")


def last_rounds(work):
    """Scenario tags in the order they first ran, and each one's requests
    in its last round."""
    order, reqs = [], {}
    for line in open(os.path.join(work, "results")):
        r = json.loads(line)
        t = tag(r["name"])
        if t not in reqs:
            order.append(t)
        reqs[t] = max(r["requests"], 1)
    return order, reqs


def package(sym):
    """The Go package (or runtime routine) a symbol belongs to."""
    if sym.startswith("0x"):
        return "?"
    s = sym.replace("github.com/bulwarkhq/bulwark/", "bulwark/")
    head = s.split("(")[0]  # methods: pkg.(*T).m
    last = head.rsplit("/", 1)[-1]
    if "." in last:
        head = head[: len(head) - len(last)] + last.split(".")[0]
    return head


def profile(path):
    """CPU time (ns, perf's cpu-clock periods) by package and by symbol."""
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "-g", "none", "--sort", "dso,sym",
                          "--stdio", "-F", "period,dso,sym"], capture_output=True, text=True, check=False).stdout
    pkgs, syms = collections.Counter(), collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if not m or line.startswith("#"):
            continue
        ns, dso, kind, sym = int(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
        if kind == "k":
            pkgs["[kernel]"] += ns
        elif dso == "[vdso]":
            pkgs["[vdso] (clock reads)"] += ns
            syms["[vdso]"] += ns
        else:
            pkgs[package(sym)] += ns
            syms[sym.replace("github.com/bulwarkhq/bulwark/", "bulwark/")] += ns
    return pkgs, syms


def side_by_side(title, a, b, na, nb, rows):
    print(title)
    keys = sorted(set(a) | set(b), key=lambda k: b[k] / nb - a[k] / na, reverse=True)
    shown = keys[:rows] + [k for k in keys[-8:] if k not in keys[:rows]]
    for k in shown:
        print(f"   {k[:72]:72s} {a[k] / na / 1e3:8.2f} {b[k] / nb / 1e3:8.2f} {(b[k] / nb - a[k] / na) / 1e3:+8.2f}")


def packages(work):
    order, reqs = last_rounds(work)
    profs = [(t, profile(os.path.join(work, f"perf.{t}.data"))) for t in order
             if os.path.exists(os.path.join(work, f"perf.{t}.data"))]
    for t, (pkgs, _) in profs:
        total = sum(pkgs.values()) / reqs[t] / 1e3
        print(f"== perf by package: {t} (last round: {total:.1f} µs per request sampled)")
    if len(profs) < 2:
        return
    (ta, (pa, sa)) = profs[0]
    for tb, (pb, sb) in profs[1:]:
        head = f"   {'(µs per request)':72s} {'first':>8s} {'this':>8s} {'Δ':>8s}"
        side_by_side(f"== {tb} beside {ta}, by package (largest differences, then the most negative)\n{head}",
                     pa, pb, reqs[ta], reqs[tb], 30)
        side_by_side(f"== {tb} beside {ta}, by function\n{head}", sa, sb, reqs[ta], reqs[tb], 40)


def packets(work):
    order, reqs = last_rounds(work)
    for t in order:
        path = os.path.join(work, f"xmit.{t}.data")
        if not os.path.exists(path):
            continue
        out = subprocess.run(["perf", "script", "-i", path], capture_output=True, text=True, check=False).stdout
        kinds = collections.Counter()
        for block in out.split("\n\n"):
            if not block.strip():
                continue
            if "tcp_sendmsg" in block:
                kinds["data (the process's writes)"] += 1
            elif "tcp_recvmsg" in block:
                kinds["ACK on a read (tcp_recvmsg)"] += 1
            else:
                kinds["other (timers, softirq)"] += 1
        n = reqs[t]
        print(f"== TCP segments sent per request: {t} (last round, total {sum(kinds.values()) / n:.2f})")
        print("   " + "  ".join(f"{k}={v / n:.2f}" for k, v in kinds.most_common()))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("packages", "packets"):
        sys.exit("usage: perfsum.py packages|packets WORK")
    {"packages": packages, "packets": packets}[sys.argv[1]](sys.argv[2])
