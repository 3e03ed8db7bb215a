#!/usr/bin/env python3
"""Summarises scripts/bench/run.sh results: medians, the target ratios, the growth table, and
(with matplotlib installed) the growth plot.

  summary.py RESULTS.tsv [--plot docs/performance.png]
"""
import collections
import statistics
import sys


def main():
    path = sys.argv[1]
    plot = sys.argv[sys.argv.index("--plot") + 1] if "--plot" in sys.argv else None
    vals = collections.defaultdict(list)
    for line in open(path):
        metric, size, store, _rep, value = line.rstrip("\n").split("\t")
        if value:
            vals[(metric, int(size), store)].append(float(value))
    med = {k: statistics.median(v) for k, v in vals.items()}

    def get(metric, size, store):
        return med.get((metric, size, store))

    w1 = max((k[1] for k in med if k[0] in ("sync_s", "diff_s") and k[2] in ("memory", "disk")),
             default=None)
    print("metric\tsize\tstore\tmedian\tn\tvalues")
    for k in sorted(vals):
        print(f"{k[0]}\t{k[1]}\t{k[2]}\t{med[k]:g}\t{len(vals[k])}\t{' '.join(f'{v:g}' for v in vals[k])}")
    if w1 is None:
        return
    print()
    for store in ("memory", "disk"):
        raw = get("raw_pages_s", w1, store)
        for m, what in (("diff", "warm lint cache"), ("diff_nocache", "--no-cache")):
            d = get(f"{m}_s", w1, store)
            if d and raw:
                print(f"[{store}] no-op diff ({what}) {d:.2f}s / raw pages {raw:.3f}s = {d / raw:.1f}x "
                      f"(target <= 3x); requests {get(f'{m}_requests', w1, store):g} vs pages "
                      f"{get('raw_pages_requests', w1, store):g}; peak RSS "
                      f"{get(f'{m}_maxrss_kb', w1, store) / 1024:.0f} MiB (target <= 150 MiB)")
        s, lg = get("sync_s", w1, store), get("loadgen_s", w1, store)
        if s and lg:
            n = get("sync_requests", w1, store)
            ln = get("loadgen_requests", w1, store)
            target = "0.85x, durable" if store == "disk" else "0.8x"
            print(f"[{store}] first sync {n / s:.0f} req/s ({s:.2f}s) / loadgen {ln / lg:.0f} req/s ({lg:.2f}s) "
                  f"= {(n / s) / (ln / lg):.2f}x (target >= {target})")
    cj = [k for k in med if k[0] == "curljq_s"]
    if cj:
        k = cj[0]
        scaled = med[k] * (w1 / k[1]) * (11 / 11)
        s = get("sync_s", w1, "memory")
        print(f"curl+jq loop: {med[k]:.2f}s for {k[1]} instances (+{k[1] // 10} plugins), scaled to W1 "
              f"{scaled:.1f}s; sync {s:.2f}s = {scaled / s:.1f}x faster (target >= 20x)")
    mem = max((v for k, v in med.items() if k[0].endswith("maxrss_kb") and k[1] == w1), default=None)
    if mem:
        print(f"peak RSS on W1 (any command): {mem / 1024:.0f} MiB")
    lint = get("lint_s", w1, "none")
    if lint:
        print(f"lint of W1: {lint:.2f}s --no-cache, {get('lint_warm_s', w1, 'none') or 0:.2f}s warm (target < 3s)")
    sizes = sorted({k[1] for k in med if k[2] == "growth" and k[0] == "sync_s"})
    if sizes:
        print("\n| instances | sync (s) | sync µs/instance | no-op diff (s) | diff µs/instance | peak RSS diff (MiB) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            s, d = get("sync_s", n, "growth"), get("diff_s", n, "growth")
            print(f"| {n:,} | {s:.2f} | {s / n * 1e6:.0f} | {d:.2f} | {d / n * 1e6:.0f} | "
                  f"{get('diff_maxrss_kb', n, 'growth') / 1024:.0f} |")
        if plot:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(7, 4.5))
            ax.plot(sizes, [get("sync_s", n, "growth") for n in sizes], "o-", label="first sync (--parallelism 16)")
            ax.plot(sizes, [get("diff_s", n, "growth") for n in sizes], "s-", label="no-op diff")
            top = sizes[-1]
            for m, style in (("sync_s", ":"), ("diff_s", ":")):
                per = get(m, top, "growth") / top
                ax.plot([0, top], [0, per * top], style, color="grey")
            ax.set_xlabel("plugin instances (10 per custom plugin)")
            ax.set_ylabel("seconds (median)")
            ax.set_title("plugsync against plugsync serve (on-disk store); dotted: linear")
            ax.legend()
            ax.grid(alpha=0.3)
            fig.tight_layout()
            fig.savefig(plot, dpi=110)
            print(f"\nplot: {plot}")


if __name__ == "__main__":
    main()
