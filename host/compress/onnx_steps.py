"""More ONNX-level generators: unstructured pruning, 4-bit weights, mixed precision.

Each registers itself in the registry and returns the details worth recording in the
variant's lineage (actual sparsity, nodes kept in float). Mixed precision is a search
that can take long: it reports progress through ``log``, stops at a time budget, and
flags (accounting.MISSED_TARGET) a result below its target.
"""

import math
import time
from dataclasses import dataclass, field
from typing import List

import numpy as np

from ...shared.errors import ModelError
from ...shared.fidelity import compare_outputs
from ...shared.task_metrics import MetricSpec
from ..dataset import outputs_on
from . import options as opts
from .accounting import CUT_SHORT, MISSED_TARGET, step_flag
from .quantization import (CalibrationReader, calibration_feeds, calibration_method, per_channel_for, preprocessed,
                           quant_type)
from .registry import generation_failed, register

_WEIGHT_OPS = {"Conv": 1, "Gemm": 1, "MatMul": 1}


@register("prune-magnitude", opts.MagnitudePruneOptions,
          "unstructured magnitude pruning: zeros that shrink the compressed file, not the latency")
def prune_magnitude(source, target, options, dataset, workdir):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    # Depthwise kernels hold ~1% of the weights but every one of them matters: leave them.
    depthwise = {node.input[1] for node in model.graph.node if node.op_type == "Conv"
                 and any(a.name == "group" and a.i > 1 for a in node.attribute)}
    weights = {node.input[_WEIGHT_OPS[node.op_type]] for node in model.graph.node
               if node.op_type in _WEIGHT_OPS and len(node.input) > 1} - depthwise
    conv_weights = {node.input[1] for node in model.graph.node if node.op_type == "Conv"}
    zeros = total = 0
    for index, init in enumerate(model.graph.initializer):
        if init.name not in weights or len(init.dims) < 2:
            continue
        values = numpy_helper.to_array(init).copy()
        # Per output filter: exported graphs fold batch norm into the weights, so filter
        # scales differ widely and one tensor-wide threshold would erase whole filters.
        rows = values.reshape(values.shape[0], -1) if init.name in conv_weights else values.T
        cut = np.quantile(np.abs(rows), options.sparsity, axis=1, keepdims=True)
        rows[np.abs(rows) <= cut] = 0
        zeros += int((values == 0).sum())
        total += values.size
        model.graph.initializer[index].CopyFrom(numpy_helper.from_array(values, init.name))
    if not total:
        raise ModelError("no Conv/Gemm/MatMul weights to prune in %s" % source)
    onnx.save(model, str(target))
    return {"sparsity": round(zeros / float(total), 4)}


@register("int4-weight", opts.Int4Options,
          "4-bit block-wise weight-only quantization of MatMul (onnxruntime MatMulNBits)")
def int4_weight(source, target, options, dataset, workdir):
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = onnx.load(str(source))
    if not any(n.op_type == "MatMul" for n in model.graph.node):
        # Gemm layers are rewritten as MatMul + Add so the 4-bit kernel can take them.
        model = _gemm_as_matmul(model)
    try:
        quantizer = MatMulNBitsQuantizer(model, bits=4, block_size=options.block_size,
                                         is_symmetric=options.symmetric)
        quantizer.process()
        quantizer.model.save_model_to_file(str(target))
    except Exception as exc:
        raise generation_failed("4-bit weight quantization", exc)
    quantized = sum(1 for n in onnx.load(str(target)).graph.node if n.op_type == "MatMulNBits")
    if not quantized:
        raise ModelError("no MatMul/Gemm layer could be quantized to 4 bits in %s" % source)
    return {"matmul_nbits_nodes": quantized}


def _gemm_as_matmul(model):
    import onnx
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        b = inits.get(node.input[1]) if node.op_type == "Gemm" and len(node.input) > 1 else None
        if b is None or attrs.get("transA") or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(b)
        if attrs.get("transB"):
            weight = weight.T
        name = node.input[1] + "_kxn"
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), name))
        product = node.output[0] + "_matmul" if len(node.input) > 2 else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=node.name + "_matmul"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=node.name + "_add"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def _with_unique_node_names(path):
    """The model with every node named once: nodes are kept in float by name, and graphs
    built by hand or by some exporters leave names empty (excluding "" would keep every
    unnamed node in float while counting only one)."""
    import onnx

    model = onnx.load(str(path))
    taken, renamed = set(), False
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in taken:
            node.name = "%s_%d" % (node.op_type, index)
            while node.name in taken:
                node.name += "_"
            renamed = True
        taken.add(node.name)
    if not renamed:
        return path
    target = path.with_name("named-" + path.name)
    onnx.save(model, str(target))
    return target


def _silent(message):
    pass


@dataclass
class _Search:
    """Where a mixed-precision search stands: nodes kept in float, the last cosine, and
    what the time budget cut."""

    nodes: List[str]
    ranked: List[str]
    scanned: int = 0
    kept: List[str] = field(default_factory=list)
    cosine: float = 0.0
    passes: int = 0
    budget_hit: bool = False


@register("mixed-precision", opts.MixedPrecisionOptions,
          "int8 static except the most sensitive nodes, kept in float until a fidelity target is met")
def mixed_precision(source, target, options, dataset, workdir, log=_silent):
    import onnx
    from onnxruntime.quantization import QuantFormat, quantize_static

    deadline = time.monotonic() + options.max_seconds
    prepared = _with_unique_node_names(preprocessed(source, workdir))
    nodes = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    feeds = calibration_feeds(dataset.calibration_samples(), options.calibration_samples)
    reference = outputs_on(prepared, feeds)
    # Cosine over every output (the worst one counts), each at its own shape.
    specs = [MetricSpec(name, "cosine", chosen_by="mixed-precision target") for name in reference]
    method = calibration_method(options.calibration)
    per_channel, note = per_channel_for(source, options.per_channel)

    def quantize(out, include=None, exclude=None):
        quantize_static(str(prepared), str(out), CalibrationReader(dataset.calibration_samples(), len(feeds)),
                        quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        reduce_range=options.reduce_range, activation_type=quant_type("int8"),
                        weight_type=quant_type("int8"), calibrate_method=method,
                        nodes_to_quantize=include, nodes_to_exclude=exclude)
        fidelity = compare_outputs(outputs_on(out, feeds), reference, specs)
        if not fidelity.measured:
            raise ModelError("mixed-precision quantization: %s" % fidelity.reason)
        return fidelity.cosine_mean

    def out_of_time():
        return time.monotonic() > deadline

    try:
        search = _scan(nodes, lambda node: quantize(workdir / "mixed-probe.onnx", include=[node]), out_of_time, log)
        _widen(search, lambda kept: quantize(target, exclude=kept), options.target_cosine, out_of_time, log)
    except ModelError:
        raise
    except Exception as exc:
        raise generation_failed("mixed-precision quantization", exc)
    details = _search_details(search, options, log)
    if note:
        details.update(per_channel=False, note=note)
    return details


def _scan(nodes, probe, out_of_time, log):
    """Each weight node quantized alone; the budget may stop the scan, and the nodes it
    did not reach rank as most sensitive (they are the first kept in float)."""
    loss = {}
    every = max(1, len(nodes) // 10)   # about ten progress lines, whatever the model
    for node in nodes:
        if out_of_time():
            break
        loss[node] = 1.0 - probe(node)
        if len(loss) % every == 0 or len(loss) == len(nodes):
            log("mixed-precision: sensitivity scan %d/%d nodes" % (len(loss), len(nodes)))
    ranked = sorted(nodes, key=lambda node: loss.get(node, math.inf), reverse=True)
    return _Search(nodes, ranked, scanned=len(loss), budget_hit=len(loss) < len(nodes))


def _widen(search, quantize_keeping, target_cosine, out_of_time, log):
    """Quantize everything, then keep the most sensitive nodes in float, more of them each
    pass (geometrically: few passes), until the target is met, every node is in float, or
    the budget is spent. The first pass always runs: the step must leave a model."""
    step = 1
    while True:
        search.cosine = quantize_keeping(search.kept)
        search.passes += 1
        log("mixed-precision: pass %d: %d of %d nodes in float, cosine %.6f (target %g)"
            % (search.passes, len(search.kept), len(search.nodes), search.cosine, target_cosine))
        if search.cosine >= target_cosine or len(search.kept) >= len(search.ranked):
            return
        if out_of_time():
            search.budget_hit = True
            return
        search.kept = search.ranked[:len(search.kept) + step]
        step *= 2


def _search_details(search, options, log):
    """The lineage details, with a flag (and a warning line) when the search missed its
    target or the budget cut it: such a variant is never presented as meeting it."""
    met = search.cosine >= options.target_cosine
    all_float = len(search.kept) >= len(search.nodes)
    stopped = "target met" if met else "every node in float" if all_float else "time budget"
    details = {"float_nodes": search.kept, "quantized_nodes": len(search.nodes) - len(search.kept),
               "cosine_on_calibration": round(search.cosine, 6), "most_sensitive": search.ranked[:5],
               "target_cosine": options.target_cosine, "target_met": met, "stopped": stopped,
               "scanned_nodes": search.scanned, "weight_nodes": len(search.nodes), "passes": search.passes}
    budget = ("the %g s time budget (max_seconds) stopped it after scanning %d of %d nodes and %d quantization "
              "pass%s" % (options.max_seconds, search.scanned, len(search.nodes), search.passes,
                          "" if search.passes == 1 else "es"))
    flags = []
    if not met:
        why = budget if not all_float else ("even with all %d Conv/MatMul/Gemm nodes in float, the ops still "
                                            "quantized cost the rest" % len(search.nodes))
        flags.append(step_flag(MISSED_TARGET, "cosine %.6f on calibration data, below its target %g; %s"
                               % (search.cosine, options.target_cosine, why)))
    # A budget-cut search depends on how busy the machine was, unless its result is one
    # no ranking could change: every node quantized and the target met, or every node float.
    if search.budget_hit and not all_float and (search.kept or not met):
        flags.append(step_flag(CUT_SHORT, "%s; the result depends on how busy the machine was (raise "
                               "max_seconds)" % budget))
    said = {MISSED_TARGET: "missed its target", CUT_SHORT: "was cut short"}
    for raised in flags:
        log("warning: mixed-precision %s: %s" % (said[raised["flag"]], raised["text"]))
    if flags:
        details["flags"] = flags
    return details
