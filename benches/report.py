#!/usr/bin/env python3
"""Turns criterion's results (target/criterion) into the tables of BENCHMARKS.md.

Usage: python3 benches/report.py > /tmp/tables.md   (after `cargo bench --all-features`, and
`python3 benches/process.py` for the whole-process row). Also writes the chart
`throughput.svg` beside BENCHMARKS.md (throughput against part size).
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


def ratio_range(values):
    values = [v for v in values if v]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{lo:.2f}x" if abs(hi - lo) < 0.005 else f"{lo:.2f}x to {hi:.2f}x"


def goals(rows):
    """The speed table of issue 18: each row's figure from this run, and its goal."""
    r = {g[len("decode/"):]: {k: v[0] for k, v in rows[g].items()} for g in rows if g.startswith("decode/")}
    tiny = [s for s in r if s.startswith(("10000x10B", "1000x100B"))]
    def worst(shape, ours_of):
        vals = []
        for ch in ("whole", "64KiB", "1KiB"):
            peer = r[shape].get(f"nostd-multipart/{ch}")
            ours = ours_of(r[shape], ch)
            if peer and ours:
                vals.append(ours / peer)
        return min(vals) if vals else None
    best = lambda x, ch: max(x.get(f"batchpart-core/{ch}", 0), x.get(f"batchpart-stream/{ch}", 0),
                             x.get("batchpart-whole", 0) if ch == "whole" else 0)
    stream = lambda x, ch: x.get(f"batchpart-stream/{ch}")
    large = lambda b: [s for s in r if s.startswith(("16x1MiB", "1x16MiB")) and s.endswith(b)]
    core64 = lambda b: [r[s].get("batchpart-core/64KiB", 0) / r[s]["memmem-limit/64KiB"]
                        for s in large(b) if r[s].get("memmem-limit/64KiB")]
    out = ["| shape | this run | goal |", "|---|---|---|"]
    out.append(f"| tiny parts (10 B and 100 B bodies), best of ours against nostd-multipart, worst chunking | "
               f"{ratio_range([worst(s, best) for s in tiny])} | ≥ 1.3x |")
    out.append(f"| Stream layer, tiny parts, against nostd-multipart (worst chunking) | "
               f"{ratio_range([worst(s, stream) for s in tiny])} | ≥ 1.0x |")
    out.append(f"| core, large parts in 64 KiB chunks, against the memmem limit in the same chunks, 10-character boundary | "
               f"{ratio_range(core64('/b10'))} | ≥ 0.9x on every size |")
    out.append(f"| the same, 70-character boundary | {ratio_range(core64('/b70'))} | ≥ 0.9x |")
    proc = root.parent / "process.json"
    if proc.exists():
        p = json.loads(proc.read_text())
        out.append(f"| `inspect --summary`, whole process, 9,000 parts of 1 KiB, against the memmem process | "
                   f"{p['ratio']:.2f}x ({p['inspect_summary_s'] * 1e3:.1f} ms against {p['memmem_process_s'] * 1e3:.1f} ms) | ≥ 0.8x |")
        if "large" in p:
            q = p["large"]
            out.append(f"| the same, 16 parts of 16 MiB | "
                       f"{q['ratio']:.2f}x ({q['inspect_summary_s'] * 1e3:.1f} ms against {q['memmem_process_s'] * 1e3:.1f} ms) | ≥ 0.9x |")
    b = rows.get("batch/decode-100-ops", {})
    if "core" in b:
        cost = lambda k: b[k][2] / b["core"][2] if k in b else None
        out.append(f"| multipart and JSON batch readers, per operation, against the core decoding the same bytes | "
                   f"multipart {cost('multipart'):.1f}x, JSON {cost('json'):.1f}x the cost | ≤ 2x |")
    return "\n".join(out)


def chart(rows, path):
    """Throughput against part size, 10-character boundary, 64 KiB chunks (form-net reads the
    whole buffer), log-log, as a plain SVG."""
    import math
    sizes = [("10000x10B", 10), ("1000x100B", 100), ("1000x1KiB", 1024), ("16x1MiB", 2**20), ("1x16MiB", 2**24)]
    series = [("batchpart core", "batchpart-core/64KiB", "#1f77b4"), ("batchpart Stream", "batchpart-stream/64KiB", "#17becf"),
              ("nostd-multipart", "nostd-multipart/64KiB", "#ff7f0e"), ("multer", "multer/64KiB", "#d62728"),
              ("form-net (whole buffer)", "form-net", "#9467bd"), ("memmem limit", "memmem-limit/64KiB", "#7f7f7f")]
    pts = {}
    for label, key, _ in series:
        for shape, size in sizes:
            g = rows.get(f"decode/{shape}/b10", {})
            if key in g:
                pts.setdefault(label, []).append((size, g[key][0]))
    if not pts:
        return
    W, H, L, R, T, B = 760, 440, 70, 190, 30, 50
    ys = [y for v in pts.values() for _, y in v]
    ylo, yhi = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    xlo, xhi = 1, math.log10(2**24)
    X = lambda x: L + (math.log10(x) - xlo) / (xhi - xlo) * (W - L - R)
    Y = lambda y: H - B - (math.log10(y) - ylo) / (yhi - ylo) * (H - T - B)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="18" font-size="14">Decoding throughput against part size (10-character boundary, 64 KiB chunks)</text>']
    for e in range(ylo, yhi + 1):
        y = Y(10 ** e)
        svg.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{10 ** e if e >= 0 else 10.0 ** e:g} GiB/s</text>')
    for _, size in sizes:
        x = X(size)
        name = f"{size} B" if size < 1024 else (f"{size // 1024} KiB" if size < 2**20 else f"{size // 2**20} MiB")
        svg.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{H - B}" stroke="#eee"/>')
        svg.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">{name}</text>')
    svg.append(f'<text x="{(L + W - R) / 2:.0f}" y="{H - 10}" text-anchor="middle">part size (log)</text>')
    for i, (label, key, color) in enumerate(series):
        p = sorted(pts.get(label, []))
        if not p:
            continue
        d = " ".join(f"{'M' if j == 0 else 'L'}{X(x):.1f},{Y(y):.1f}" for j, (x, y) in enumerate(p))
        svg.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in p:
            svg.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3" fill="{color}"/>')
        ly = T + 20 + i * 20
        svg.append(f'<line x1="{W - R + 12}" x2="{W - R + 32}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        svg.append(f'<text x="{W - R + 38}" y="{ly + 4}">{label}</text>')
    svg.append("</svg>")
    path.write_text("\n".join(svg) + "\n")


def main():
    rows = load()
    if not rows:
        sys.exit("no criterion results under target/criterion: run `cargo bench --all-features` first")
    print("### Goals (issue 18)\n")
    print(goals(rows) + "\n")
    chart(rows, pathlib.Path(__file__).resolve().parent.parent / "throughput.svg")
    decode = sorted(g for g in rows if g.startswith("decode/"))
    contenders = ["memmem-limit", "memmem-limit/64KiB", "memmem-limit/1KiB", "batchpart-whole", "batchpart-core/whole", "batchpart-core/64KiB", "batchpart-core/1KiB",
                  "batchpart-stream/whole", "batchpart-stream/64KiB", "batchpart-stream/1KiB", "multer/whole", "multer/64KiB",
                  "multer/1KiB", "nostd-multipart/whole", "nostd-multipart/64KiB", "nostd-multipart/1KiB", "form-net"]
    print("### Decoding throughput (median)\n")
    print("| shape | " + " | ".join(contenders) + " |")
    print("|---" * (len(contenders) + 1) + "|")
    for g in decode:
        r = rows[g]
        print(f"| {g[len('decode/'):]} | " + " | ".join(fmt(*r[c][:2]) if c in r else "-" for c in contenders) + " |")
    print("\n### Ratios\n")
    print("| shape | core whole / memmem whole | core 64KiB / memmem 64KiB | best ours / multer (same chunking) | best ours / best peer (same chunking) |")
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
        lim64 = r.get("memmem-limit/64KiB", lim)
        print(f"| {g[len('decode/'):]} | {f(r.get('batchpart-core/whole', 0) / lim)} | {f(r.get('batchpart-core/64KiB', 0) / lim64)} | {f(worst_multer)} (worst chunking) | {f(worst_peer)} (worst chunking) |")
    for g in sorted(x for x in rows if not x.startswith("decode/")):
        print(f"\n### {g}\n")
        print("| contender | median time | throughput |")
        print("|---|---|---|")
        for name, (rate, unit, ns) in sorted(rows[g].items()):
            t = f"{ns / 1e6:.3f} ms" if ns >= 1e5 else f"{ns / 1e3:.2f} µs"
            print(f"| {name} | {t} | {fmt(rate, unit)} |")


main()
