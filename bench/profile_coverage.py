"""How much of a run the per-operator profile accounts for, for each demo variant on `local`.

`edgeshrink profile` times each variant's runs with onnxruntime's profiler and, in the
same process, the same runs without it. This prints, over --repeats profile calls per
variant (medians, with their range):

- the operators' sum over the mean profiled run (the issue's goal: within 10%);
- the operators' sum over the mean of the same runs unprofiled;
- the time between kernels per node, and the nodes per run: a cost that stays the same
  per node whatever the operator is the runtime's (and its profiler's) per-node work;
- the profiler's overhead on p50.

Usage: python bench/profile_coverage.py [--runs 200] [--repeats 3]
"""

import argparse
import statistics

from common import Report, demo_variants, isolated_home, local_device, row

FIGURES = (("ops/profiled", "coverage", "%.3f"), ("ops/unprofiled", "unprofiled_coverage", "%.3f"),
           ("between us/node", "between_per_node_us", "%.2f"), ("profiler x", "overhead", "%.3f"))


def spread(values, pattern):
    return "%s (%s..%s)" % (pattern % statistics.median(values), pattern % min(values), pattern % max(values))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    isolated_home()
    from edgeshrink.host import profiling
    from edgeshrink.shared.types import BenchSettings

    source, variants = demo_variants()
    device = local_device(threads=1)
    settings = BenchSettings(threads=1, warmup_runs=20)
    seen = {}
    for _ in range(args.repeats):
        report_once = profiling.profile(device, source, variants, settings, runs=args.runs)
        for variant in report_once.variants:
            if variant.profile is not None and variant.profile.available:
                seen.setdefault(variant.name, []).append(variant.profile)
    report = Report("profile_coverage")
    report.print("per-operator profile of the demo's variants on local (threads=1), %d profiled and %d unprofiled "
                 "runs per call, %d calls; medians (range)" % (args.runs, args.runs, args.repeats))
    widths = [14, 8] + [24] * len(FIGURES)
    report.print(row("variant", "nodes", *[name for name, _, _ in FIGURES], widths=widths))
    within = []
    for name, profiles in seen.items():
        cells = [spread([getattr(p, field) for p in profiles], pattern) for _, field, pattern in FIGURES]
        report.print(row(name, "%.0f" % profiles[0].nodes_per_run, *cells, widths=widths))
        within.append((name, abs(statistics.median(p.coverage for p in profiles) - 1) <= 0.10))
    report.print()
    report.print("operators within 10%% of the profiled run: %s" % ", ".join(
        "%s %s" % (name, "yes" if ok else "no") for name, ok in within))
    report.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
