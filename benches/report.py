#!/usr/bin/env python3
"""Turns criterion's results (target/criterion) into the tables of BENCHMARKS.md.

Usage: python3 benches/report.py > /tmp/tables.md   (after `cargo bench --all-features`)
Throughput is the median estimate: GiB/s for byte groups, operations or bodies per second
for element groups."""
import json, pathlib, sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def load():
    rows = {}
    for bench in root.rglob("new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        median_ns = est["median"]["point_estimate"]
        thr = meta.get("throughput") or {}
        group, func, value = meta["group_id"], meta.get("function_id"), meta.get("value_str")
        name = "/".join(x for x in (func, value) if x)
        if "Bytes" in thr:
            rate = thr["Bytes"] / (median_ns / 1e9) / 2**30
            unit = "GiB/s"
        elif "Elements" in thr:
            rate = thr["Elements"] / (median_ns / 1e9)
            unit = "elem/s"
        else:
            rate, unit = 1e9 / median_ns, "iter/s"
        rows.setdefault(group, {})[name] = (rate, unit, median_ns)
    return rows


def fmt(rate, unit):
    if unit == "GiB/s":
        return f"{rate:.2f} GiB/s" if rate >= 0.1 else f"{rate * 1024:.1f} MiB/s"
    return f"{rate:,.0f} {unit}"


def main():
    rows = load()
    if not rows:
        sys.exit("no criterion results under target/criterion: run `cargo bench --all-features` first")
    decode = sorted(g for g in rows if g.startswith("decode/"))
    contenders = ["memmem-limit", "batchpart-whole", "batchpart-core/whole", "batchpart-core/64KiB", "batchpart-core/1KiB",
                  "batchpart-stream/whole", "batchpart-stream/64KiB", "batchpart-stream/1KiB", "multer/whole", "multer/64KiB",
                  "multer/1KiB", "nostd-multipart/whole", "nostd-multipart/64KiB", "nostd-multipart/1KiB", "form-net"]
    print("### Decoding throughput (median)\n")
    print("| shape | " + " | ".join(contenders) + " |")
    print("|---" * (len(contenders) + 1) + "|")
    for g in decode:
        r = rows[g]
        print(f"| {g[len('decode/'):]} | " + " | ".join(fmt(*r[c][:2]) if c in r else "-" for c in contenders) + " |")
    print("\n### Ratios\n")
    print("| shape | core whole / memmem | core 64KiB / memmem | best ours / multer (same chunking) | best ours / best peer (same chunking) |")
    print("|---|---|---|---|---|")
    for g in decode:
        r = {k: v[0] for k, v in rows[g].items()}
        lim = r.get("memmem-limit")
        worst_multer, worst_peer = None, None
        for ch in ("whole", "64KiB", "1KiB"):
            ours = max(r.get(f"batchpart-core/{ch}", 0), r.get(f"batchpart-stream/{ch}", 0), r.get("batchpart-whole", 0) if ch == "whole" else 0)
            peers = [r.get(f"multer/{ch}"), r.get(f"nostd-multipart/{ch}"), r.get("form-net") if ch == "whole" else None]
            peers = [p for p in peers if p]
            m = ours / r[f"multer/{ch}"] if f"multer/{ch}" in r else None
            p = ours / max(peers) if peers else None
            worst_multer = m if worst_multer is None or (m is not None and m < worst_multer) else worst_multer
            worst_peer = p if worst_peer is None or (p is not None and p < worst_peer) else worst_peer
        f = lambda x: f"{x:.2f}x" if x else "-"
        print(f"| {g[len('decode/'):]} | {f(r.get('batchpart-core/whole', 0) / lim)} | {f(r.get('batchpart-core/64KiB', 0) / lim)} | {f(worst_multer)} (worst chunking) | {f(worst_peer)} (worst chunking) |")
    for g in sorted(x for x in rows if not x.startswith("decode/")):
        print(f"\n### {g}\n")
        print("| contender | median time | throughput |")
        print("|---|---|---|")
        for name, (rate, unit, ns) in sorted(rows[g].items()):
            t = f"{ns / 1e6:.3f} ms" if ns >= 1e5 else f"{ns / 1e3:.2f} µs"
            print(f"| {name} | {t} | {fmt(rate, unit)} |")


main()
