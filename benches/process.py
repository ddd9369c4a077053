#!/usr/bin/env python3
"""The whole-process benchmark of BENCHMARKS.md: `batchpart inspect --summary` against
`count_delimiters` (a memmem count over 64 KiB reads), on a file of 9,000 form-data parts
of 1 KiB and one of 16 parts of 16 MiB, each process run 15 times, alternated; the medians
and their ratios go to target/process.json, which benches/report.py reads (the first file's
as before, the second's under "large").

Usage: python3 benches/process.py   (builds both in release first)"""
import json, pathlib, statistics, subprocess, time

root = pathlib.Path(__file__).resolve().parent.parent
target = root / "target"
boundary = "batchpart-process-bench"
data = target / "process-9000x1KiB.txt"
large = target / "process-16x16MiB.txt"


def noise(i):
    x = ((i * 2654435761) & 0xFFFFFFFF)
    x = ((x << 13) | (x >> 19)) & 0xFFFFFFFF
    b = x >> 24
    return ord("x") if b == 13 else b


def write_input(path, parts, size):
    if path.exists() and path.stat().st_size > parts * size:
        return
    fill = bytes(noise(i) for i in range(1024)) * (size // 1024)
    with open(path, "wb") as f:
        for i in range(parts):
            f.write(f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"; filename="f{i}.bin"\r\n'
                    f'Content-Type: application/octet-stream\r\n\r\n'.encode())
            f.write(fill)
            f.write(b"\r\n")
        f.write(f"--{boundary}--\r\n".encode())


def median_times(a, b, runs=15):
    """Runs two commands alternately, `runs` times each: their median times and outputs."""
    times = ([], [])
    outs = [None, None]
    for _ in range(runs):
        for k, cmd in enumerate((a, b)):
            t = time.perf_counter()
            outs[k] = subprocess.run(cmd, check=True, capture_output=True).stdout
            times[k].append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1]), outs


def compare(tool, count, path, parts):
    t_inspect, t_memmem, (out_i, out_m) = median_times(
        [tool, "inspect", "--summary", "--boundary", boundary, path], [count, boundary, path])
    assert json.loads(out_i)["parts"] == parts, out_i
    # The first delimiter opens the file, without a CRLF before it.
    assert int(out_m) == parts, out_m
    return {
        "file_bytes": path.stat().st_size,
        "inspect_summary_s": t_inspect,
        "memmem_process_s": t_memmem,
        "ratio": t_memmem / t_inspect,
    }


def main():
    subprocess.run(["cargo", "build", "--release", "--features", "cli", "--bin", "batchpart"],
                   check=True, cwd=root)
    built = subprocess.run(["cargo", "bench", "--bench", "count_delimiters", "--no-run",
                            "--message-format=json"], check=True, cwd=root,
                           capture_output=True, text=True).stdout
    count = next(m["executable"] for m in map(json.loads, built.splitlines())
                 if m.get("reason") == "compiler-artifact" and m.get("executable")
                 and m["target"]["name"] == "count_delimiters")
    write_input(data, 9000, 1024)
    write_input(large, 16, 16 << 20)
    tool = target / "release" / "batchpart"
    result = compare(tool, count, data, 9000)
    result["large"] = compare(tool, count, large, 16)
    (target / "process.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


main()
