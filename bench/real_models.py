"""Models as their authors export them (issue 8), each through `deploy -d local`.

For every test model: the chosen variant, its speed (fp32 p50 / chosen p50) and size
(fp32 bytes / chosen bytes) ratios measured side by side in the same run, its fidelity
by the task metric of every output, and the decision table (each variant's p50, size,
worst-output agreement, accuracy drop and verdict).

    python bench/real_models.py [--threads 1] [--min-time 1.0]
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Report, isolated_home, local_device  # noqa: E402


def _models(folder):
    """(label, model path, data path or None, --metric values, input shapes) per class."""
    from edgeshrink.host import dataset, modelinfo
    from edgeshrink.host.compress import variants
    from edgeshrink.host.lab import exported_models as exported
    from edgeshrink.host.lab.models import dynamic_size_convnet, tiny_convnet

    float_model = tiny_convnet(folder / "float.onnx", channels=32, classes=64)
    int8 = next(v for v in variants.make_variants(
        float_model, dataset.synthetic(modelinfo.inputs(modelinfo.load(float_model))), variants.default_specs(),
        cache_dir=folder / "cache", log=lambda m: None) if v.name == "int8-static")
    shipped = folder / "shipped-int8.onnx"
    shipped.write_bytes(int8.path.read_bytes())
    return [
        ("weights in Constant nodes, opset 11", tiny_convnet(folder / "constants11.onnx", opset=11, channels=32,
                                                            classes=64, weights_in_constants=True), None, [], None),
        ("already int8", shipped, None, [], None),
        ("dynamic H and W", dynamic_size_convnet(folder / "dynamic.onnx"), None, [], ["x=1,3,48,64"]),
        ("streaming VAD: state on axis 1, rate once", exported.streaming_vad(folder / "vad.onnx"),
         exported.streaming_vad_data(folder / "vad.npz"), [], None),
        ("CTC recogniser: [T, N, C] sequence", exported.ctc_recognizer(folder / "crnn.onnx"),
         exported.images_data(folder / "crnn.npz", (1, 16, 32)), ["logits=sequence,blank=0"], None),
        ("text detector: probability map", exported.text_detector(folder / "det.onnx"),
         exported.images_data(folder / "det.npz", (3, 32, 32)), [], None),
        ("two heads: scores and boxes", exported.two_head_detector(folder / "heads.onnx"),
         exported.images_data(folder / "heads.npz", (3, 16, 16)), [], None),
    ]


def _fmt(value, pattern, missing="-"):
    return missing if value is None else pattern % value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=1.0)
    args = parser.parse_args()
    isolated_home()

    from edgeshrink.host import deploy, input_shapes, metrics
    from edgeshrink.host.compress import variants
    from edgeshrink.shared.errors import EdgeshrinkError
    from edgeshrink.shared.types import BenchSettings, Constraints

    settings = BenchSettings(threads=args.threads, warmup_runs=20, min_runs=200, max_runs=5000,
                             min_time_s=args.min_time, max_time_s=max(5.0, 2 * args.min_time))
    device = local_device("real-models", threads=args.threads)
    device.constraints = Constraints(max_accuracy_drop=0.01)
    report = Report("real_models")
    report.print("each model through deploy -d local (threads=%d, >= %d runs and >= %.1f s per variant, "
                 "max_accuracy_drop 1 point); ratios vs fp32 in the same run"
                 % (args.threads, settings.min_runs, settings.min_time_s))
    with tempfile.TemporaryDirectory() as scratch:
        for label, model, data, metric_values, shapes in _models(Path(scratch)):
            report.print()
            report.print("## " + label)
            try:
                source = deploy.resolve_model(model, data, metrics=metrics.parse(metric_values),
                                              input_shape=input_shapes.parse(shapes))
                made = deploy.compress(source, variants.default_specs())
                run = deploy.deploy(device, source, made, settings)
            except EdgeshrinkError as exc:
                report.print("FAILED: " + exc.one_line())
                continue
            for spec in source.metrics:
                report.print("metric %s: %s (%s)" % (spec.output, spec.describe(), spec.chosen_by or "given"))
            fp32, chosen = run.variant("fp32"), run.variant(run.decision.chosen)
            speed = {q: fp32.measurement.figure(q + "_ms").value / chosen.measurement.figure(q + "_ms").value
                     for q in ("p50", "p90")}
            report.print("chosen %s: %.2fx faster at p90 (the objective; %.2fx at p50), %.2fx smaller than fp32; "
                         "fidelity %s" % (
                chosen.name, speed["p90"], speed["p50"], fp32.manifest["size_bytes"] / chosen.manifest["size_bytes"],
                "; ".join("%s %s %s" % (o.output, o.score_name or o.metric, _fmt(o.score, "%.4f"))
                          for o in chosen.measurement.latency_pass.fidelity.outputs)))
            report.print("%-14s %9s %9s %9s %9s %9s  %s" % ("variant", "p50 ms", "p90 ms", "MiB", "agree", "drop pt",
                                                            "verdict"))
            for verdict in run.decision.variants:
                result = run.variant(verdict.name)
                p50 = result.measurement.figure("p50_ms").value if result.measurement.ok else None
                report.print("%-14s %9s %9s %9s %9s %9s  %s" % (
                    verdict.name, _fmt(p50, "%.4f"), _fmt(verdict.latency_ms, "%.4f"), _fmt(verdict.size_mb, "%.3f"),
                    _fmt(verdict.agreement, "%.4f"),
                    _fmt(None if verdict.accuracy_drop is None else 100 * verdict.accuracy_drop, "%.2f"),
                    verdict.reason[:100]))
    report.save()


if __name__ == "__main__":
    main()
