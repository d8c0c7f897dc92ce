#!/usr/bin/env python3
"""A/B the criterion benchmarks of two builds, interleaved, so that machine drift hits
both sides alike.

Usage: scripts/bench-ab.py BEFORE_TARGET_DIR AFTER_TARGET_DIR [--rounds N] [--benches a,b]
                           [--filter SUBSTRING]

Each TARGET_DIR holds a release build of the suite (`CARGO_TARGET_DIR=DIR cargo bench
--no-run`, the before side from a worktree of the older commit). For each criterion bench
binary (sync_chain, into_stream, handoff, fan_in, virtual_time by default) it runs the
before binary, then the after binary, `--rounds` times (default 3), with
`--warm-up-time 1 --measurement-time 2`, and reads criterion's median per entry from its
output. It prints, per entry, the medians of every round and the ratio after / before of
the best (lowest) median of each side, then how many entries are more than 5% slower.
`--filter` passes criterion a filter (only the entries whose name contains it run).

Why interleaved: on a shared machine a whole-suite run on one commit, then on the other,
measures the machine as much as the code (the engine redesign's first comparison showed
unchanged peers 10-40% "slower" in the second run). Alternating bench by bench, and
comparing the best of several rounds, leaves the code's difference.
"""
import os
import re
import subprocess
import sys

DEFAULT_BENCHES = ["sync_chain", "into_stream", "handoff", "fan_in", "virtual_time"]
UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
RESULT = re.compile(r"^(\S.*?)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", re.M)
NAME_THEN_TIME = re.compile(r"^(\S[^\n]*)\n\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", re.M)


def binary(target, bench):
    deps = os.path.join(target, "release", "deps")
    found = [
        f
        for f in os.listdir(deps)
        if f.startswith(bench + "-") and "." not in f and os.access(os.path.join(deps, f), os.X_OK)
    ]
    if not found:
        sys.exit(f"no {bench} binary in {deps}: build with CARGO_TARGET_DIR={target} cargo bench --no-run")
    found.sort(key=lambda f: os.path.getmtime(os.path.join(deps, f)))
    return os.path.join(deps, found[-1])


def run(path, filt):
    args = [path, "--bench", "--warm-up-time", "1", "--measurement-time", "2", "--noplot"]
    out = subprocess.run(
        args + ([filt] if filt else []),
        capture_output=True,
        text=True,
    ).stdout
    medians = {}
    for pattern in (RESULT, NAME_THEN_TIME):
        for m in pattern.finditer(out):
            name = m.group(1).strip()
            medians[name] = float(m.group(2)) * UNITS[m.group(3)]
    return medians


def fmt(ns):
    return f"{ns / 1e6:.2f} ms" if ns >= 1e6 else (f"{ns / 1e3:.2f} us" if ns >= 1e3 else f"{ns:.1f} ns")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    before_dir, after_dir, rounds, benches, filt = argv[0], argv[1], 3, DEFAULT_BENCHES, None
    rest = iter(argv[2:])
    for a in rest:
        if a == "--rounds":
            rounds = int(next(rest))
        elif a == "--benches":
            benches = next(rest).split(",")
        elif a == "--filter":
            filt = next(rest)
    results = {}  # entry -> {"before": [..], "after": [..]}
    for bench in benches:
        paths = {"before": binary(before_dir, bench), "after": binary(after_dir, bench)}
        for r in range(rounds):
            for side in ("before", "after"):
                for name, ns in run(paths[side], filt).items():
                    results.setdefault(name, {"before": [], "after": []})[side].append(ns)
            print(f"{bench}: round {r + 1} of {rounds} done", file=sys.stderr)
    print("| entry (time per iteration) | before, each round | after, each round | best after / best before |")
    print("|---|---|---|---:|")
    slower = 0
    for name in sorted(results):
        b, a = results[name]["before"], results[name]["after"]
        if not b or not a:
            continue
        ratio = min(a) / min(b)
        slower += ratio > 1.05
        flag = " **slower**" if ratio > 1.05 else ""
        print(f"| `{name}` | {', '.join(fmt(x) for x in b)} | {', '.join(fmt(x) for x in a)} | {ratio:.3f}{flag} |")
    print()
    print(f"{len(results)} entries, {slower} more than 5% slower (best of {rounds} rounds each side, interleaved).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
