#!/usr/bin/env python3
"""Compare criterion results of the same suite on two builds, entry by entry.

Usage: scripts/bench-compare.py BEFORE_CRITERION_DIR AFTER_CRITERION_DIR [AFTER_DIR ...]

Each directory is a `target/criterion` (or a copy of one) left by
`cargo bench -- --warm-up-time 1 --measurement-time 3`. For every entry present in all of
them it prints criterion's median time per item before, after (one column per AFTER dir)
and the ratio after / before (above 1: slower). `--limit 1.05` (the default) marks the
entries whose every after-run is slower than that; an entry slower in one run only is
noise on a shared machine, one slower in all of them is a regression. Exit status 1 if
any entry is marked and `--strict` is given.

Used for the engine redesign (issue 13): the suite on the commit before it and on the
commit after it, back to back on one machine (see BENCHMARKS.md).
"""
import glob
import json
import os
import sys


def load(root):
    rows = {}
    for bench in glob.glob(os.path.join(root, "**", "new", "benchmark.json"), recursive=True):
        d = os.path.dirname(bench)
        try:
            meta = json.load(open(bench))
            est = json.load(open(os.path.join(d, "estimates.json")))
        except (OSError, ValueError):
            continue
        elems = (meta.get("throughput") or {}).get("Elements") or 1
        rows[meta["full_id"]] = est["median"]["point_estimate"] / elems
    return rows


def fmt(ns):
    return f"{ns:.2f} ns" if ns < 1000 else f"{ns / 1000:.2f} us"


def main(argv):
    limit, strict, dirs = 1.05, False, []
    args = iter(argv)
    for a in args:
        if a == "--limit":
            limit = float(next(args))
        elif a == "--strict":
            strict = True
        else:
            dirs.append(a)
    if len(dirs) < 2:
        print(__doc__)
        return 2
    before, afters = load(dirs[0]), [load(d) for d in dirs[1:]]
    common = sorted(set(before).intersection(*afters))
    heads = " | ".join(f"after {i + 1}" for i in range(len(afters)))
    ratios = " | ".join(f"ratio {i + 1}" for i in range(len(afters)))
    print(f"| entry | before | {heads} | {ratios} | verdict |")
    print("|---" * (3 + 2 * len(afters)) + "|")
    marked = 0
    for key in common:
        b = before[key]
        rs = [a[key] / b for a in afters]
        slower = all(r > limit for r in rs)
        marked += slower
        verdict = f"slower than {limit:.2f}x in every run" if slower else "ok"
        cells = " | ".join(fmt(a[key]) for a in afters)
        rcells = " | ".join(f"{r:.3f}" for r in rs)
        print(f"| `{key}` | {fmt(b)} | {cells} | {rcells} | {verdict} |")
    missing = sorted(set(before).symmetric_difference(set().union(*afters)))
    print()
    print(f"{len(common)} entries compared, {marked} slower than {limit:.2f}x in every after-run.")
    if missing:
        print(f"Not in every run (not compared): {', '.join(missing)}")
    return 1 if (strict and marked) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
