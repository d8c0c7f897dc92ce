#!/usr/bin/env python3
"""Summarise the Spillway benchmark suite: figures, ratios, targets met or missed.

Reads what the last `cargo bench` left behind:
  target/criterion/<group>/<bench>/new/{estimates,benchmark}.json   (criterion)
  target/bench-extra/{overflow,memory}.json                         (our harness=false parts)
and prints Markdown tables (paste-able into BENCHMARKS.md).

Figures are criterion's *median* time per iteration divided by the items per iteration
(more robust than the mean on a shared machine). Ratios are computed between entries of
the same run.

Reproduce:  cargo bench && python3 scripts/bench-report.py
            (exit status 1 if a target is missed and --strict is given)
"""
import glob
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CRIT = os.path.join(TARGET, "criterion")
EXTRA = os.path.join(TARGET, "bench-extra")


def load():
    rows = {}
    for bench in glob.glob(os.path.join(CRIT, "**", "new", "benchmark.json"), recursive=True):
        d = os.path.dirname(bench)
        try:
            meta = json.load(open(bench))
            est = json.load(open(os.path.join(d, "estimates.json")))
        except (OSError, ValueError):
            continue
        elems = (meta.get("throughput") or {}).get("Elements")
        if not elems:
            continue
        med = est["median"]["point_estimate"]  # ns per iteration
        lo = est["median"]["confidence_interval"]["lower_bound"]
        hi = est["median"]["confidence_interval"]["upper_bound"]
        rows[meta["full_id"]] = {
            "ns": med / elems,
            "lo": lo / elems,
            "hi": hi / elems,
            "mtime": os.path.getmtime(os.path.join(d, "estimates.json")),
        }
    return rows


def extra(name):
    try:
        return json.load(open(os.path.join(EXTRA, name + ".json")))
    except (OSError, ValueError):
        return None


def fmt_rate(ns):
    per_s = 1e9 / ns
    if per_s >= 1e9:
        return f"{per_s / 1e9:.2f} G/s"
    if per_s >= 1e6:
        return f"{per_s / 1e6:.1f} M/s"
    return f"{per_s / 1e3:.1f} k/s"


def main():
    strict = "--strict" in sys.argv
    r = load()
    if not r:
        print(f"no criterion results under {CRIT}: run `cargo bench` first")
        return 2
    results = []  # (target, measured, verdict, detail)

    def ns(k):
        return r[k]["ns"] if k in r else None

    def check(name, value, ok, detail):
        if value is None:
            results.append((name, "n/a", "NOT RUN", detail))
            return
        results.append((name, value, "met" if ok else "MISSED", detail))

    print("## Figures (median ns/item, 95% CI of the median, items/s)\n")
    print("| benchmark | ns/item | CI | items/s |")
    print("|---|---:|---|---:|")
    for k in sorted(r):
        v = r[k]
        print(f"| {k} | {v['ns']:.2f} | {v['lo']:.2f}-{v['hi']:.2f} | {fmt_rate(v['ns'])} |")
    times = [v["mtime"] for v in r.values()]
    if max(times) - min(times) > 3600:
        print("\n**Warning**: results span more than an hour: some are from an older run.")
    print(
        f"\nResults written between {time.strftime('%Y-%m-%d %H:%M', time.localtime(min(times)))}"
        f" and {time.strftime('%Y-%m-%d %H:%M', time.localtime(max(times)))}."
    )

    g = "map_filter_sum/"
    it, sc, fu, sp = ns(g + "iterator"), ns(g + "iterator_scalar"), ns(g + "futures_stream"), ns(g + "spillway_unbounded")
    b256, b32 = ns(g + "spillway_batched/256"), ns(g + "spillway_batched/32")
    if sp and it:
        check("(1) spillway_unbounded <= 1.5x iterator", f"{sp / it:.2f}x", sp / it <= 1.5,
              f"{sp:.2f} vs {it:.2f} ns/item" + (f"; vs scalar iterator {sp / sc:.2f}x ({sc:.2f} ns)" if sc else ""))
    else:
        check("(1) spillway_unbounded <= 1.5x iterator", None, False, "")
    if sp and fu:
        check("(1) futures_stream / spillway_unbounded >= 4x", f"{fu / sp:.2f}x", fu / sp >= 4, f"{fu:.2f} vs {sp:.2f} ns/item")
    tk = ns(g + "tokio_stream")
    if sp and tk:
        results.append(("(1) info: tokio_stream / spillway_unbounded", f"{tk / sp:.2f}x", "info", f"{tk:.2f} ns/item"))
    if sp and b256:
        check("(2) batched/256 <= 1.5x spillway_unbounded", f"{b256 / sp:.2f}x", b256 / sp <= 1.5, f"{b256:.2f} vs {sp:.2f} ns/item")
    if sp and b32:
        results.append(("(2) info: batched/32 / spillway_unbounded", f"{b32 / sp:.2f}x", "info", f"{b32:.2f} ns/item"))
    lr = ns(g + "spillway_limit_rate/256")
    if sp and lr:
        results.append(("(2) info: limit_rate(256).fold / spillway_unbounded", f"{lr / sp:.2f}x", "info",
                        f"{lr:.2f} ns/item; vs futures_stream {lr / fu:.2f}x" if fu else f"{lr:.2f} ns/item"))

    for k in ("into_stream/spillway/256", "into_stream/spillway_tokio/256", "into_stream/spillway/1024"):
        v = ns(k)
        if v and sp and fu:
            results.append((f"(3) info: {k}", f"{v / sp:.1f}x sync chain", "info",
                            f"{v:.2f} ns/item; {v / fu:.1f}x slower than the futures::Stream chain"))

    h = "handoff/"
    pub = ns(h + "spillway_publish_on")
    peers = {k: ns(h + k) for k in ("std_sync_channel", "crossbeam_bounded", "tokio_mpsc")}
    peers = {k: v for k, v in peers.items() if v}
    if pub and peers:
        best = min(peers, key=peers.get)
        ratio = peers[best] / pub
        check("(4) publish_on items/s >= 2x best channel", f"{ratio:.2f}x", ratio >= 2,
              f"{pub:.1f} ns/item vs {best} {peers[best]:.1f} ns/item")
    else:
        check("(4) publish_on >= 2x best channel", None, False, "")

    o = "overflow/"
    fut = ns(o + "futures_try_send")
    counts = extra("overflow") or {}
    fc = counts.get("futures_try_send", {})

    def delivered_per_s(key, ns_per_offered):
        c = counts.get(key, {})
        if not (ns_per_offered and c.get("delivered") and c.get("offered")):
            return None
        return c["delivered"] / (ns_per_offered * c["offered"] * 1e-9)

    fut_rate = delivered_per_s("futures_try_send", fut)
    for k in ("spillway_drop_newest", "spillway_drop_oldest"):
        v = ns(o + k)
        c = counts.get(k, {})
        rate = delivered_per_s(k, v)
        detail = (f"{rate / 1e6:.2f} vs {fut_rate / 1e6:.2f} M delivered/s "
                  f"(delivered {c.get('delivered', '?')} vs {fc.get('delivered', '?')} of {c.get('offered', '?')} "
                  f"in {v:.1f} vs {fut:.1f} ns per offered item)") if rate and fut_rate else ""
        if k == "spillway_drop_newest":
            check("(5) DropNewest delivers faster than futures try_send", f"{rate / fut_rate:.2f}x" if rate and fut_rate else None,
                  bool(rate and fut_rate and rate / fut_rate > 1), detail)
            if v and fut:
                results.append(("(5) info: time per offered item vs futures", f"{fut / v:.2f}x", "info",
                                f"{v:.1f} vs {fut:.1f} ns"))
        elif rate and fut_rate:
            results.append(("(5) info: DropOldest delivered/s vs futures try_send", f"{rate / fut_rate:.2f}x", "info", detail))

    pairs = [
        ("(6) merge(8) faster than select_all", "fan_in_8x125k/spillway_merge/32", "fan_in_8x125k/futures_select_all"),
        ("(6) flat_map(8) faster than flat_map_unordered(8)", "fan_in_8x125k/spillway_flat_map", "fan_in_8x125k/futures_flat_map_unordered"),
        ("(6) flat_map(just, 8) faster than buffer_unordered(8)", "flat_map_just_100k/spillway_flat_map", "flat_map_just_100k/futures_buffer_unordered"),
    ]
    for name, a, b in pairs:
        va, vb = ns(a), ns(b)
        check(name, f"{vb / va:.2f}x" if va and vb else None, bool(va and vb and vb / va > 1),
              f"{va:.1f} vs {vb:.1f} ns/item" if va and vb else "")

    for k in ("virtual_interval_100k/sample_10ms", "virtual_interval_100k/rate_limit_drop",
              "virtual_create_1m/sample_1ms", "virtual_create_1m/rate_limit_drop"):
        v = ns(k)
        check(f"(7) {k} >= 10M events/s", f"{1e3 / v:.1f} M/s" if v else None, bool(v and 1e3 / v >= 10),
              f"{v:.1f} ns/event; needs <= 100" if v else "")
    # Delay mode schedules a timer per item: a different strategy from the issue's "sample
    # and a rate limiter", reported for information.
    for k in ("virtual_interval_100k/interval", "virtual_create_1m/create_only",
              "virtual_range_delay_100k/rate_limit_delay"):
        v = ns(k)
        if v:
            results.append((f"(7) info: {k}", f"{1e3 / v:.1f} M/s", "info", f"{v:.1f} ns/event"))

    mem = extra("memory")
    if mem:
        for k in ("buffer_backpressure", "buffer_drop_newest"):
            m = mem.get(k)
            if m:
                check(f"(8) peak RSS flat 1M->10M: {k}", f"{m['growth_kb']:+} kB", m["flat"],
                      f"{m['kb_1m']} kB -> {m['kb_10m']} kB (slack {mem['slack_kb']} kB)")
        m = mem.get("unbounded_control")
        if m:
            results.append(("(8) control: unbounded buffer must grow", f"{m['growth_kb']:+} kB",
                            "ok" if not m["flat"] else "SUSPECT", f"{m['kb_1m']} kB -> {m['kb_10m']} kB"))
    else:
        check("(8) memory flat", None, False, "run `cargo bench --bench memory`")

    print("\n## Targets\n")
    print("| target | measured | verdict | detail |")
    print("|---|---:|---|---|")
    for name, val, verdict, detail in results:
        print(f"| {name} | {val} | {verdict} | {detail} |")
    missed = [x for x in results if x[2] in ("MISSED", "NOT RUN")]
    met = [x for x in results if x[2] == "met"]
    print(f"\n{len(met)} met, {len(missed)} missed or not run.")
    return 1 if (strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
