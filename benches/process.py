#!/usr/bin/env python3
"""The whole-process benchmark of BENCHMARKS.md: `batchpart inspect --summary` against
`count_delimiters` (a memmem count over 64 KiB reads), on one file of 9,000 form-data parts
of 1 KiB, each process run 15 times; the medians and their ratio go to
target/process.json, which benches/report.py reads.

Usage: python3 benches/process.py   (builds both in release first)"""
import json, pathlib, statistics, subprocess, time

root = pathlib.Path(__file__).resolve().parent.parent
target = root / "target"
boundary = "batchpart-process-bench"
data = target / "process-9000x1KiB.txt"


def noise(i):
    x = ((i * 2654435761) & 0xFFFFFFFF)
    x = ((x << 13) | (x >> 19)) & 0xFFFFFFFF
    b = x >> 24
    return ord("x") if b == 13 else b


def write_input():
    fill = bytes(noise(i) for i in range(1024))
    with open(data, "wb") as f:
        for i in range(9000):
            f.write(f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"; filename="f{i}.bin"\r\n'
                    f'Content-Type: application/octet-stream\r\n\r\n'.encode())
            f.write(fill)
            f.write(b"\r\n")
        f.write(f"--{boundary}--\r\n".encode())


def median_time(cmd, runs=15):
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True).stdout
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    subprocess.run(["cargo", "build", "--release", "--features", "cli", "--bin", "batchpart"],
                   check=True, cwd=root)
    built = subprocess.run(["cargo", "bench", "--bench", "count_delimiters", "--no-run",
                            "--message-format=json"], check=True, cwd=root,
                           capture_output=True, text=True).stdout
    count = next(m["executable"] for m in map(json.loads, built.splitlines())
                 if m.get("reason") == "compiler-artifact" and m.get("executable")
                 and m["target"]["name"] == "count_delimiters")
    write_input()
    tool = target / "release" / "batchpart"
    t_inspect, out = median_time([tool, "inspect", "--summary", "--boundary", boundary, data])
    assert json.loads(out)["parts"] == 9000, out
    t_memmem, out = median_time([count, boundary, data])
    # The first delimiter opens the file, without a CRLF before it.
    assert int(out) == 9000, out
    result = {
        "file_bytes": data.stat().st_size,
        "inspect_summary_s": t_inspect,
        "memmem_process_s": t_memmem,
        "ratio": t_memmem / t_inspect,
    }
    (target / "process.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


main()
