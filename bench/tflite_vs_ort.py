"""TensorFlow Lite vs ONNX Runtime on one board, the same model, side by side in one run.

On `local` at 1 thread, with the real agent: the demo's fp32 and static int8 in both
runtimes (ONNX Runtime: fp32, int8-static (QDQ); TFLite: tflite-fp32 (litert-torch),
tflite-int8-static (ai-edge-quantizer static_wi8_ai8)), plus TFLite's other recipes.

1. latency ratio TFLite / ONNX Runtime, fp32 and int8-static: per-round ratios of the
   medians, rounds paired (every variant once per round, a fresh agent child each) with
   the order reversed every other round; geometric mean and 95% bootstrap CI.
2. the best TFLite variant within 1 point of accuracy of tflite-fp32 (accuracy on the
   held-out digits, measured by the agent): its speed and size ratios vs tflite-fp32 and
   vs ONNX Runtime's fp32.

Usage: python bench/tflite_vs_ort.py [--rounds 10] [--runs 300] [--quick]
"""

import argparse
import sys

from common import Report, bootstrap_ci, geomean, isolated_home, local_device, median, row

PAIRS = (("fp32", "fp32", "tflite-fp32"), ("int8-static", "int8-static", "tflite-int8-static"))
ACCURACY_POINT = 0.01


def variants_of_demo():
    from edgeshrink.host import deploy
    from edgeshrink.host.compress import variants

    source = deploy.resolve_model(None, log=lambda m: print(m, file=sys.stderr))
    specs = [s for s in variants.default_specs() if s.name in ("fp32", "int8-static")] + variants.tflite_specs()
    made = deploy.compress(source, specs, log=lambda m: print(m, file=sys.stderr))
    failed = [v.name for v in made if not v.ok]
    if failed:
        raise SystemExit("variants not made: %s" % ", ".join(failed))
    return source, made


def measure_rounds(source, made, args):
    """{variant: [median per round]}, {variant: accuracy}, facts of the board."""
    from edgeshrink.host import deploy
    from edgeshrink.shared.types import BenchSettings

    settings = BenchSettings(threads=1, warmup_runs=20, min_runs=args.runs, max_runs=args.runs, min_time_s=0.0,
                             max_time_s=600.0, idle_s=0.0, rounds=1)
    device = local_device(threads=1)
    device.runtimes = ["onnxruntime", "tflite"]
    medians = {v.name: [] for v in made}
    accuracy, environment = {}, {}
    with deploy.open_session(device) as session:
        for r in range(args.rounds):
            order = made if r % 2 == 0 else list(reversed(made))
            run = deploy.measure(session, source, order, settings)
            for result in run.variants:
                m = result.measurement
                if not m.ok:
                    raise SystemExit("%s failed on the board: %s" % (result.name, m.error.message))
                medians[result.name].append(m.figure("p50_ms").value)
                accuracy[result.name] = m.figure("accuracy").value
                environment[result.name] = "%s %s%s" % (m.environment.runtime, m.environment.runtime_version,
                                                        " +XNNPACK" if "XNNPACK" in m.environment.providers else "")
            print("round %d/%d: %s" % (r + 1, args.rounds, "  ".join(
                "%s %.3f" % (name, values[-1]) for name, values in medians.items())), file=sys.stderr)
    return medians, accuracy, environment


def ratio_text(ratios):
    low, high = bootstrap_ci(ratios)
    return "%.3f [95%% CI %.3f, %.3f] (%d rounds; single rounds %.3f..%.3f)" % (
        geomean(ratios), low, high, len(ratios), min(ratios), max(ratios))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=300, help="timed runs per variant per round")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 100 runs: a smoke test, no figures")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.runs = 3, 100
    isolated_home()
    source, made = variants_of_demo()
    medians, accuracy, environment = measure_rounds(source, made, args)
    sizes = {v.name: v.manifest["size_bytes"] for v in made}
    report = Report("tflite_vs_ort")
    if args.quick:
        report.print("QUICK RUN (3 rounds of 100 runs): figures meaningless, for a smoke test only")
    report.print("demo (digits MobileNet, 1x1x8x8 input), local device, threads=1, %d rounds x %d timed runs "
                 "per variant, order reversed every other round" % (args.rounds, args.runs))
    report.print(row("variant", "runtime", "p50 ms", "size KiB", "accuracy", widths=[22, 26, 10, 10, 10]))
    for v in made:
        report.print(row(v.name, environment[v.name], "%.3f" % median(medians[v.name]), "%.1f" % (sizes[v.name] / 1024),
                         "%.2f%%" % (100 * accuracy[v.name]), widths=[22, 26, 10, 10, 10]))
    report.print("")
    report.print("1. latency TFLite / ONNX Runtime, same model, geometric mean of per-round ratios of medians:")
    for label, onnx_name, tflite_name in PAIRS:
        ratios = [t / o for t, o in zip(medians[tflite_name], medians[onnx_name])]
        report.print("   %-12s %s / %s = %s" % (label, tflite_name, onnx_name, ratio_text(ratios)))
    report.print("")
    baseline = accuracy["tflite-fp32"]
    eligible = [v.name for v in made if v.name.startswith("tflite-") and accuracy[v.name] >= baseline - ACCURACY_POINT]
    fastest = min(eligible, key=lambda name: median(medians[name]))
    smallest = min(eligible, key=lambda name: sizes[name])
    report.print("2. TFLite variants within 1 point of tflite-fp32's accuracy (%.2f%%): %s"
                 % (100 * baseline, ", ".join(eligible)))
    for label, best in (("fastest", fastest), ("smallest", smallest)):
        report.print("   %s: %s (%.2f%%)" % (label, best, 100 * accuracy[best]))
        for reference in ("tflite-fp32", "fp32"):
            speed = [r / b for r, b in zip(medians[reference], medians[best])]
            report.print("     vs %-12s speed %s; size ratio %.3f (%d vs %d bytes)" % (
                reference, ratio_text(speed), sizes[best] / sizes[reference], sizes[best], sizes[reference]))
    report.print("   (speed = reference median / variant median per round: above 1 is faster)")
    report.save()


if __name__ == "__main__":
    main()
