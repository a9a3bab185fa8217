"""The compression suite on the demo, measured on the `local` device in one run: per
variant, size ratio, lzma-size ratio, multiply-add ratio, latency ratio and accuracy
delta vs fp32 (accuracy on all 360 held-out digits, measured by the agent).
Goal: the best variant within 1 point of fp32 accuracy is >= 3x faster and >= 10x smaller.
Usage: python bench/compression.py [--recipe recipes/demo-combined.toml] [--threads 1]"""

import argparse
import sys

from common import REPO, Report, isolated_home, local_device, row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "demo-combined.toml"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    isolated_home()
    from edgeshrink.host import deploy
    from edgeshrink.host.compress import recipe
    from edgeshrink.shared.types import BenchSettings

    source = deploy.resolve_model(None, log=lambda m: print(m, file=sys.stderr))
    variants = deploy.compress(source, recipe.load(args.recipe), log=lambda m: print(m, file=sys.stderr))
    settings = BenchSettings(threads=args.threads, warmup_runs=20, min_runs=300, max_runs=3000,
                             min_time_s=2.0, max_time_s=10.0)
    with deploy.open_session(local_device(threads=args.threads)) as session:
        run = deploy.measure(session, source, variants, settings)
    report = Report("compression")
    rows, failed = {}, []
    for v in run.variants:
        m, manifest = v.measurement, v.manifest
        if not m.ok:
            failed.append("%s failed: %s" % (v.name, m.error.message if m.error else "no reason"))
            continue
        rows[v.name] = dict(p50=m.figure("p50_ms").value, size=manifest["size_bytes"],
                            lz=manifest["entropy_coded_bytes"], macs=manifest["macs"],
                            acc=m.figure("accuracy").value, seconds=manifest["compress_seconds"])
    base = rows["fp32"]
    report.print("demo compression suite on local (threads=%d); latency = agent p50; accuracy on %d held-out digits"
                 % (args.threads, run.variants[0].measurement.latency_pass.fidelity.samples))
    widths = [24, 9, 9, 10, 10, 10, 9, 10, 9]
    report.print(row("variant", "p50 ms", "speedup", "size x", "lzma x", "MACs x", "acc", "acc delta", "made s",
                     widths=widths))
    for name, r in rows.items():
        report.print(row(name, "%.3f" % r["p50"], "%.2f" % (base["p50"] / r["p50"]),
                         "%.1f" % (base["size"] / r["size"]), "%.1f" % (base["lz"] / r["lz"]),
                         "%.2f" % (base["macs"] / r["macs"]), "%.2f%%" % (100 * r["acc"]),
                         "%+.2f" % (100 * (r["acc"] - base["acc"])), "%.1f" % r["seconds"], widths=widths))
    for line in failed:
        report.print(line)
    within = {n: r for n, r in rows.items() if base["acc"] - r["acc"] <= 0.01}
    best = min(within, key=lambda n: within[n]["p50"])
    speedup, smaller = base["p50"] / within[best]["p50"], base["size"] / within[best]["size"]
    report.print("best within 1 point of fp32: %s, %.2fx faster, %.1fx smaller (goal >= 3x and >= 10x: %s)"
                 % (best, speedup, smaller, "met" if speedup >= 3 and smaller >= 10 else "NOT met"))
    report.save()


if __name__ == "__main__":
    main()
