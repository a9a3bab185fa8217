"""How much of a run the per-operator profile accounts for, for each demo variant on `local`.

`edgeshrink profile` times each variant's runs with onnxruntime's profiler and, in the
same process, the same runs without it, and measures the profiler's own cost per node
with chains of do-nothing nodes (agent/profiler_cost.py). This prints, over --repeats
profile calls per variant (medians, with their range):

- the operators' raw sum over the mean profiled run, as onnxruntime's profiler timed them;
- the operators over the profiled run, the profiler's measured cost taken out of both
  (the issue's goal: within 10%);
- the same operators over the mean of the same runs unprofiled: a check of the cost
  taken out that owes nothing to the profiler (also within 10%);
- the raw time between kernels per node, the profiler's measured cost per node and the
  part of it inside each kernel event;
- the profiler's overhead on p50.

Usage: python bench/profile_coverage.py [--runs 200] [--repeats 3] [--threads 1]
"""

import argparse
import statistics

from common import Report, demo_variants, isolated_home, local_device, row

FIGURES = (("raw ops/profiled", lambda p: p.raw_coverage, "%.3f"),
           ("ops/profiled", lambda p: p.coverage, "%.3f"),
           ("ops/unprofiled", lambda p: p.unprofiled_coverage, "%.3f"),
           ("between us/node", lambda p: p.between_per_node_us, "%.2f"),
           ("profiler us/node", lambda p: p.profiler_cost.per_node_us, "%.2f"),
           ("in kernel us/node", lambda p: p.profiler_cost.in_kernel_us, "%.2f"),
           ("profiler x", lambda p: p.overhead, "%.3f"))
CHECKED = (("ops/profiled", lambda p: p.coverage), ("ops/unprofiled", lambda p: p.unprofiled_coverage))


def spread(values, pattern):
    return "%s (%s..%s)" % (pattern % statistics.median(values), pattern % min(values), pattern % max(values))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads; other than 1 saves to profile_coverage_threadsN.txt")
    args = parser.parse_args()
    isolated_home()
    from edgeshrink.host import profiling
    from edgeshrink.shared.types import BenchSettings

    source, variants = demo_variants()
    device = local_device(threads=args.threads)
    settings = BenchSettings(threads=args.threads, warmup_runs=20)
    seen = {}
    for _ in range(args.repeats):
        report_once = profiling.profile(device, source, variants, settings, runs=args.runs)
        for variant in report_once.variants:
            if variant.profile is not None and variant.profile.available and variant.profile.profiler_cost:
                seen.setdefault(variant.name, []).append(variant.profile)
    report = Report("profile_coverage" if args.threads == 1 else "profile_coverage_threads%d" % args.threads)
    report.print("per-operator profile of the demo's variants on local (threads=%d), %d profiled and %d unprofiled "
                 "runs per call, %d calls; the profiler's own cost measured in each call with chains of 10 and 110 "
                 "do-nothing nodes; medians (range)" % (args.threads, args.runs, args.runs, args.repeats))
    widths = [14, 6] + [22] * len(FIGURES)
    report.print(row("variant", "nodes", *[name for name, _, _ in FIGURES], widths=widths))
    for name, profiles in seen.items():
        cells = [spread([figure(p) for p in profiles], pattern) for _, figure, pattern in FIGURES]
        report.print(row(name, "%.0f" % profiles[0].nodes_per_run, *cells, widths=widths))
    report.print()
    missing = [v for v in variants if v.ok and v.name not in seen]
    failed = bool(missing) or not seen
    for label, figure in CHECKED:
        verdicts = []
        for name, profiles in seen.items():
            ok = abs(statistics.median(figure(p) for p in profiles) - 1) <= 0.10
            failed = failed or not ok
            verdicts.append("%s %s" % (name, "yes" if ok else "no"))
        report.print("%s within 10%%: %s" % (label, ", ".join(verdicts)))
    if missing:
        report.print("no calibrated profile for: %s" % ", ".join(v.name for v in missing))
    report.save()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
