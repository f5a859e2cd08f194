#!/usr/bin/env python3
"""Per-request counts from callgrind dumps, side by side (bench/callgrind.sh).

Arguments: NAME=REQUESTS:DUMP:BINARY, the bare proxy first, the measured
Bulwark last; ratios are to the first, and the per-package and per-function
differences are of the last against the one before it (the bare proxy, or
with CG_BASE the base revision).

Costs are summed per instruction address (callgrind's --dump-instr=yes) and
each address is given to the symbol that contains it in the binary's symbol
table. Callgrind's own per-function totals are not used: it assigns costs
through a shadow call stack, which Go's goroutine switches leave wrong, so
its function names for Go code are often someone else's.
"""
import bisect
import collections
import re
import os
import subprocess
import sys

EVENTS = ["Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bc", "Bcm", "Bi", "Bim"]
# Rough cycle weights for AMD Zen 5, the CPU this VM runs on: an L1 miss
# served by L2 ~12 cycles, an L2 (callgrind "LL", set to 1 MiB 16-way)
# miss ~50, a mispredicted branch ~15.
WEIGHTS = {"Ir": 1, "I1mr": 12, "D1mr": 12, "D1mw": 12, "ILmr": 50, "DLmr": 50, "DLmw": 50, "Bcm": 15, "Bim": 15}
COLUMNS = [("Ir", ["Ir"]), ("I1 miss", ["I1mr"]), ("D1 miss", ["D1mr", "D1mw"]),
           ("L2 miss", ["ILmr", "DLmr", "DLmw"]), ("mispredict", ["Bcm", "Bim"])]
PACKAGES = ["modernc.org/sqlite", "modernc.org/libc", "github.com/tidwall/gjson", "github.com/prometheus",
            "net/http", "net/textproto", "net/url", "net/netip", "internal/poll", "internal/runtime", "runtime",
            "crypto", "database/sql", "context", "time", "bufio", "bytes", "strings", "strconv", "sync", "syscall",
            "log/slog", "fmt", "slices", "errors", "io", "net"]


def parse(path):
    """Costs per (object, address), and the object names."""
    costs = collections.defaultdict(lambda: [0] * len(EVENTS))
    objects, events = {}, EVENTS
    ob, addr, line, skip = None, 0, 0, False

    def num(tok, last):
        if tok == "*":
            return last
        if tok[0] in "+-":
            return last + int(tok, 0)
        return int(tok, 0)

    with open(path) as f:
        for ln in f:
            c = ln[:1]
            if c.isdigit() or c in "+-*":
                parts = ln.split()
                addr = num(parts[0], addr)
                if len(parts) > 1:
                    line = num(parts[1], line)
                if skip:  # the inclusive cost of a call, not this address's own
                    skip = False
                    continue
                row = costs[(ob, addr)]
                for i, v in enumerate(parts[2:]):
                    row[EVENTS.index(events[i])] += int(v)
            elif ln.startswith("calls="):
                skip = True
            elif ln.startswith("events:"):
                events = ln.split()[1:]
            elif ln.startswith("positions:") and ln.split()[1:] != ["instr", "line"]:
                sys.exit(f"{path}: positions {ln.split()[1:]}; run callgrind with --dump-instr=yes (and line numbers)")
            else:
                m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", ln.rstrip("\n"))
                if m:
                    if m.group(3):
                        objects[int(m.group(2))] = m.group(3)
                    if m.group(1) == "ob":
                        ob = int(m.group(2))
    return costs, objects


def symbols(binary):
    out = subprocess.run(["go", "tool", "nm", "-n", binary], capture_output=True, text=True, check=True).stdout
    addrs, names = [], []
    for ln in out.splitlines():
        p = ln.split(None, 2)
        if len(p) == 3 and p[1] in "Tt":
            addrs.append(int(p[0], 16))
            names.append(p[2])
    return addrs, names


def by_symbol(path, binary):
    costs, objects = parse(path)
    addrs, names = symbols(binary)
    base = binary.rsplit("/", 1)[-1]
    out = collections.defaultdict(lambda: [0] * len(EVENTS))
    for (ob, a), row in costs.items():
        obj = objects.get(ob, "?")
        if obj.endswith("/" + base):
            i = bisect.bisect_right(addrs, a) - 1
            sym = names[i] if i >= 0 else "?"
        else:
            sym = "[" + obj.rsplit("/", 1)[-1] + "]"
        acc = out[sym]
        for i, v in enumerate(row):
            acc[i] += v
    return out


def package(sym):
    if sym.startswith("github.com/bulwarkhq/bulwark/"):
        return "bulwark/" + sym.split("/internal/", 1)[-1].split(".", 1)[0]
    if sym in ("indexbytebody", "memeqbody", "cmpbody", "countbody") or sym.startswith("internal/bytealg"):
        return "internal/bytealg"
    if sym.startswith("aeshash"):
        return "runtime"
    for p in PACKAGES:
        if sym.startswith(p + ".") or sym.startswith(p + "/"):
            return p
    return sym.split(".", 1)[0]


def est(row):
    return sum(row[EVENTS.index(e)] * w for e, w in WEIGHTS.items())


def col(row, evs):
    return sum(row[EVENTS.index(e)] for e in evs)


def total(syms):
    t = [0] * len(EVENTS)
    for row in syms.values():
        for i, v in enumerate(row):
            t[i] += v
    return t


def table(title, ref, new, n_ref, n_new, key, limit):
    diff = {k: key(new.get(k)) / n_new - key(ref.get(k)) / n_ref for k in set(ref) | set(new)}
    print(f"\n{title}")
    print(f"{'Δ':>10} {'ref':>10} {'new':>10}  name")
    for k in sorted(diff, key=lambda k: -abs(diff[k]))[:limit]:
        print(f"{diff[k]:>10,.0f} {key(ref.get(k)) / n_ref:>10,.0f} {key(new.get(k)) / n_new:>10,.0f}  {k}")


def main():
    runs = []
    for arg in sys.argv[1:]:
        name, rest = arg.split("=", 1)
        reqs, dump, binary = rest.split(":", 2)
        runs.append((name, int(reqs), by_symbol(dump, binary)))
    print("\nper request (cycles: estimate from the counts, see bench/callgrind_sum.py)")
    hdr = "".join(f"{c:>12}" for c, _ in COLUMNS)
    print(f"{'target':<10}{'requests':>9}{hdr}{'cycles':>12}{'Ir ÷ ' + runs[0][0]:>12}{'cycles ÷ ' + runs[0][0]:>16}")
    ref_tot = None
    for name, n, syms in runs:
        t = total(syms)
        cells = "".join(f"{col(t, evs) / n:>12,.0f}" for _, evs in COLUMNS)
        if ref_tot is None:
            ref_tot, ref_n = t, n
        ir = (t[0] / n) / (ref_tot[0] / ref_n)
        cy = (est(t) / n) / (est(ref_tot) / ref_n)
        print(f"{name:<10}{n:>9}{cells}{est(t) / n:>12,.0f}{ir:>12.3f}{cy:>16.3f}")
    (rname, rn, ref), (nname, nn, new) = runs[-2], runs[-1]
    if len(runs) > 2:
        t, r = total(new), total(ref)
        print(f"{nname} ÷ {rname}: Ir {(t[0] / nn) / (r[0] / rn):.3f}, cycles {(est(t) / nn) / (est(r) / rn):.3f}")

    def grouped(syms):
        g = collections.defaultdict(lambda: [0] * len(EVENTS))
        for k, row in syms.items():
            acc = g[package(k)]
            for i, v in enumerate(row):
                acc[i] += v
        return g

    empty = [0] * len(EVENTS)
    cyc = lambda r: est(r or empty)  # noqa: E731
    irs = lambda r: (r or empty)[0]  # noqa: E731
    table(f"estimated cycles per request by package, {nname} − {rname}", grouped(ref), grouped(new), rn, nn, cyc, 25)
    top = int(os.environ.get("CG_TOP", "40"))  # functions listed
    table(f"estimated cycles per request by function, {nname} − {rname}", ref, new, rn, nn, cyc, top)
    table(f"instructions per request by function, {nname} − {rname}", ref, new, rn, nn, irs, max(25, top * 5 // 8))
    for ev in filter(None, os.environ.get("CG_EVENTS", "").split(",")):  # e.g. I1mr,Bcm
        if ev not in EVENTS:
            sys.exit(f"callgrind_sum: CG_EVENTS: unknown event {ev!r} (one of {', '.join(EVENTS)})")
        i = EVENTS.index(ev)
        table(f"{ev} per request by function, {nname} − {rname}", ref, new, rn, nn,
              lambda r, i=i: (r or empty)[i], max(25, top * 5 // 8))


if __name__ == "__main__":
    main()
