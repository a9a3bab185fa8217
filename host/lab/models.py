"""Tiny ONNX graphs built by hand: quick models for tests, benchmarks and trying the lab."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_convnet(path, seed=0, channels=8, size=16, classes=10, opset=17, weights_in_constants=False):
    """input (batch,3,S,S) -> Conv 3x3 -> Relu -> GlobalAveragePool -> Flatten -> Gemm.

    Variations other exporters write: ``opset`` 11 or 12 (per-channel quantization
    needs 13); ``weights_in_constants`` puts the weights in Constant nodes instead of
    initializers (where quantizers look for them)."""
    rng = np.random.RandomState(seed)
    weight = (rng.standard_normal((channels, 3, 3, 3)) * 0.3).astype(np.float32)
    bias = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    fc = (rng.standard_normal((classes, channels)) * 0.5).astype(np.float32)
    fc_bias = np.zeros(classes, dtype=np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["y"], transB=1),
    ]
    weights = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
               numpy_helper.from_array(fc, "fc"), numpy_helper.from_array(fc_bias, "fcb")]
    if weights_in_constants:
        nodes = [helper.make_node("Constant", [], [t.name], value=t) for t in weights] + nodes
        weights = []
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", classes])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset >= 15 else 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tiny_inputs(count=32, size=16, seed=1):
    return np.random.RandomState(seed).standard_normal((count, 3, size, size)).astype(np.float32)
