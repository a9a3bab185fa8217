"""Honest accounting of a variant: what it costs to store, compute, and how far it drifts.

- ``size_bytes`` is the file as shipped; ``entropy_coded_bytes`` is that file after
  lzma, which is what weight sharing and unstructured sparsity actually buy (a size
  gain only: the runtime still executes dense float tensors).
- ``params`` counts stored weight elements; ``macs`` counts Conv/Gemm/MatMul
  multiply-adds per sample.
- ``host_fidelity`` compares the variant's outputs with the original model's on the
  evaluation inputs, computed with onnxruntime on the host at compression time; the
  device measures the same again with its own runtime.
- ``host_timing`` (quantized variants) times the source and the variant side by side
  on one sample on the host: a hint, never a verdict (the board decides).
- ``flags`` lists what makes a variant other than its recipe asked for: a step that
  missed its target or was cut short by a time limit, a quantized variant larger or
  slower than its source. Each is ``{"flag": kind, "step": technique, "text": line}``.
"""

import lzma
import os
import statistics
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from ...shared.errors import first_line
from ...shared.fidelity import compare_outputs, summarize
from ...shared.measurement import Fidelity
from .. import modelinfo, tflite_model
from .. import metrics
from ..dataset import model_outputs

FIDELITY_SAMPLES = 256

# Flag kinds (manifest "flags"): each says the variant is not what its recipe asked for.
MISSED_TARGET = "missed_target"            # a step ended below its own fidelity target
CUT_SHORT = "cut_short"                    # a wall-clock safety stop ended a step early
LARGER_THAN_SOURCE = "larger_than_source"  # a quantized variant whose file grew
SLOWER_ON_HOST = "slower_on_host"          # a quantized variant clearly slower on the host
FLAG_KINDS = (MISSED_TARGET, CUT_SHORT, LARGER_THAN_SOURCE, SLOWER_ON_HOST)

# Host timing: interleaved runs of source and variant on one sample, one thread each.
TIMING_PAIRS = 30
TIMING_MIN_PAIRS = 5
TIMING_SECONDS = 1.5
# Slower than this ratio is past the run-to-run noise of a short host timing.
SLOWER_RATIO = 1.10
# Ops a quantizer or a precision cast adds between float and integer/half tensors.
CONVERSION_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Cast"}
MIB = float(2 ** 20)


def describe(path, source_info=None, input_shapes=None):
    """``input_shapes``: the shapes each input is fed at (Dataset.feed_shapes), so the
    multiply-adds of a model with dynamic dimensions count at the measured size."""
    if tflite_model.is_tflite(path):
        return tflite_model.describe(path, source_info)
    model = modelinfo.load(path)
    macs = modelinfo.multiply_adds(model, input_shapes)
    with open(path, "rb") as handle:
        data = handle.read()
    return {"size_bytes": os.path.getsize(path), "sha256": modelinfo.sha256_file(path),
            "entropy_coded_bytes": len(lzma.compress(data, preset=1)),
            "params": modelinfo.parameter_count(model),
            # A quantized graph does the same arithmetic in another precision; when its
            # DQ/QDQ nodes defeat shape inference, the source's count still holds.
            "macs": macs if macs is not None else (source_info or {}).get("macs")}


@dataclass
class Reference:
    """The original model's outputs ({output: stacked per sample}) on the first samples,
    and the metric judging each output (None: the defaults for their shapes)."""

    outputs: Dict[str, np.ndarray]
    metric_specs: Optional[list] = None


def reference(source, dataset, metric_specs=None, known_outputs=None):
    """``known_outputs``: the source's outputs on every evaluation sample when the caller
    has them already (deploy's ModelSource), so the source is not run a second time."""
    count = min(FIDELITY_SAMPLES, dataset.count)
    outputs = ({name: stacked[:count] for name, stacked in known_outputs.items()} if known_outputs is not None
               else model_outputs(source, dataset, count))
    return None if outputs is None else Reference(outputs, metric_specs)


def fidelity(path, dataset, reference, io_names=None):
    """The same comparison the agent makes on the board, so host and device figures agree
    (``io_names``: the original's names for a file that names its tensors otherwise)."""
    if reference is None:
        return None
    reference_outputs, metric_specs = reference.outputs, reference.metric_specs
    count = len(next(iter(reference_outputs.values())))
    outputs = model_outputs(path, dataset, count, io_names)
    if outputs is None or set(outputs) != set(reference_outputs):
        return Fidelity(measured=False, reason="the variant's inputs or outputs differ from the original's").to_dict()
    specs = metric_specs if metric_specs is not None else metrics.resolve(reference_outputs, {})
    labels = None if dataset.labels is None else np.asarray(dataset.labels)[:count]
    result = compare_outputs(outputs, reference_outputs, specs, labels)
    for spec in specs:
        if spec.kind == "custom" and result.output(spec.output) is not None:
            metrics.custom_score(spec, reference_outputs[spec.output], outputs[spec.output],
                                 result.output(spec.output))
    return summarize(result).to_dict()


# -- flags ----------------------------------------------------------------------------

def step_flag(kind, text):
    """A flag a step raises in its details (``details["flags"]``); the manifest lists it
    with the step's name."""
    assert kind in FLAG_KINDS, kind
    return {"flag": kind, "text": text}


def lineage_flags(lineage):
    """Every flag the steps of a lineage raised, named by step, in chain order."""
    found = []
    for record in lineage:
        details = record.get("details")
        for raised in (details.get("flags") or []) if isinstance(details, dict) else []:
            found.append({"flag": raised["flag"], "step": record["technique"], "text": raised["text"]})
    return found


def made_under_time_pressure(manifest):
    """A variant a time limit cut short depends on how busy the machine was: it is made
    again rather than reused from the cache."""
    return any(f["flag"] == CUT_SHORT for f in manifest.get("flags") or [])


def quantized_flags(step, source, variant, source_info, variant_info, timing):
    """Flags for a quantized variant that came out larger, or clearly slower on the
    host, than its source, each with the reason the graphs show."""
    grown = variant_info["size_bytes"] - source_info["size_bytes"]
    slower = bool(timing.get("measured")) and (timing.get("ratio") or 0.0) > SLOWER_RATIO
    if grown <= 0 and not slower:
        return []
    reason = why_not_smaller(source, variant)
    flags = []
    if grown > 0:
        flags.append({"flag": LARGER_THAN_SOURCE, "step": step, "text": "larger than its source: %s vs %s (+%.0f%%); %s"
                      % (readable_size(variant_info["size_bytes"]), readable_size(source_info["size_bytes"]),
                         100.0 * grown / source_info["size_bytes"], reason)})
    if slower:
        flags.append({"flag": SLOWER_ON_HOST, "step": step, "text": "%.2fx slower than its source on this host "
                      "(median %.3f ms vs %.3f ms, one sample, %s CPU, 1 thread): a host observation, the "
                      "board's measurement decides; %s" % (timing["ratio"], timing["variant_ms_median"],
                                                           timing["source_ms_median"],
                                                           timing.get("runtime", "onnxruntime"), reason)})
    return flags


def why_not_smaller(source, variant):
    """What the variant's graph shows against quantization paying off."""
    reasons = []
    weights = tflite_model.float_weights(variant) if tflite_model.is_tflite(variant) else float_weights(variant)
    if weights["float32"]:
        reasons.append("weights stayed float: %d of %d weight tensors are float32, %s"
                       % (weights["float32"], weights["total"], readable_size(weights["float32_bytes"])))
    converting, before = _conversions(variant), _conversions(source)
    if len(converting) > len(before):
        reasons.append("%d conversion %s added (%s)" % (
            len(converting) - len(before), "ops" if tflite_model.is_tflite(variant) else "nodes",
            ", ".join(sorted(set(converting)))))
    return "; ".join(reasons) or "no weight stayed float32 and no conversion node was added"


def readable_size(size_bytes):
    """Bytes as MiB, KiB or bytes: a tiny model's sizes stay readable."""
    if size_bytes >= MIB:
        return "%.2f MiB" % (size_bytes / MIB)
    return "%.1f KiB" % (size_bytes / 1024.0) if size_bytes >= 1024 else "%d bytes" % size_bytes


def float_weights(path):
    """How many weight tensors (initializers of two or more dimensions: kernels and
    matrices, not biases, scales or zero points) a model holds, and how many of them,
    and how many bytes, are still float32."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = [t for t in model.graph.initializer if len(t.dims) >= 2]
    floats = [t for t in weights if t.data_type == onnx.TensorProto.FLOAT]
    return {"total": len(weights), "float32": len(floats),
            "float32_bytes": sum(4 * int(np.prod(t.dims)) for t in floats)}


def _conversions(path):
    """The op types of a model's conversion nodes (one entry per node)."""
    import onnx

    if tflite_model.is_tflite(path):
        return tflite_model.conversions(path)
    graph = onnx.load(str(path), load_external_data=False).graph
    return [node.op_type for node in graph.node if node.op_type in CONVERSION_OPS]


# -- host timing ----------------------------------------------------------------------

def host_timing(source, variant, dataset, io_names=None):
    """Source and variant timed side by side on the first evaluation sample: interleaved
    (alternating which runs first, so neither gains from the other's warm caches), one
    thread each, median of up to TIMING_PAIRS runs, bounded to about TIMING_SECONDS.
    Never fails the variant: a model that cannot be timed this way says why."""
    try:
        runners = [_host_runner(source, io_names), _host_runner(variant, io_names)]
        feeds = [_one_sample(names, dataset) for _, names in runners]
    except Exception as exc:  # the runtimes raise many types; this is a hint, not a gate
        return {"measured": False, "reason": first_line(exc)[:300]}
    missing = next((f for f in feeds if isinstance(f, str)), None)
    if missing:
        return {"measured": False, "reason": missing}
    try:
        times = _interleaved([run for run, _ in runners], feeds)
    except Exception as exc:
        return {"measured": False, "reason": first_line(exc)[:300]}
    source_ms, variant_ms = (1000.0 * statistics.median(t) for t in times)
    return {"measured": True, "sample": "evaluation sample 0", "threads": 1, "runs": len(times[0]),
            "runtime": "tflite" if tflite_model.is_tflite(variant) else "onnxruntime",
            "source_ms_median": round(source_ms, 4), "variant_ms_median": round(variant_ms, 4),
            "ratio": round(variant_ms / source_ms, 3) if source_ms > 0 else None}


def _session(path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread: the two models compete for no cores, and the user's machine stays usable.
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _host_runner(path, io_names=None):
    """(run(feed), input names) of a model on the host's CPU, one thread."""
    if tflite_model.is_tflite(path):
        return tflite_model.host_runner(path, io_names)
    session = _session(path)
    return (lambda feed: session.run(None, feed)), [i.name for i in session.get_inputs()]


def _one_sample(input_names, dataset):
    """The feeds of evaluation sample 0, or a sentence saying which input the data lacks."""
    feeds = _first_sample(dataset)
    for name in input_names:
        if name not in feeds:
            return "input '%s' is not in the evaluation data" % name
    return feeds


def _first_sample(dataset) -> Dict[str, np.ndarray]:
    """Sample 0 fed as the measurement feeds it: at each input's sample axis, with the
    inputs given once (a Dataset without ``samples`` stacks every input on axis 0)."""
    samples = getattr(dataset, "samples", None)
    if samples is not None:
        return dict(samples().feeds(0))
    return {name: values[:1] for name, values in dataset.inputs.items()}


def _interleaved(runs, feeds):
    for run, feed in zip(runs, feeds):   # warm-up: the first runs allocate
        run(feed)
        run(feed)
    times: List[List[float]] = [[], []]
    started = time.perf_counter()
    for pair in range(TIMING_PAIRS):
        for index in ((0, 1) if pair % 2 == 0 else (1, 0)):
            begun = time.perf_counter()
            runs[index](feeds[index])
            times[index].append(time.perf_counter() - begun)
        if pair + 1 >= TIMING_MIN_PAIRS and time.perf_counter() - started > TIMING_SECONDS:
            break
    return times
