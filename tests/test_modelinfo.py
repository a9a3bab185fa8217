"""Multiply-adds of tiny graphs, counted by hand, and the same count after 4-bit
weight quantization (onnxruntime's MatMulNBits does the MatMul's arithmetic)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeshrink.host import dataset as datasets, modelinfo
from edgeshrink.host.compress import variants

TOKENS, WIDTH_IN, HIDDEN, WIDTH_OUT = 8, 32, 64, 16
# Per sample: each layer does tokens x outputs x inputs multiply-adds.
MLP_MACS = TOKENS * HIDDEN * WIDTH_IN + TOKENS * WIDTH_OUT * HIDDEN


def two_layer_mlp(path):
    """x (batch, 8, 32) -> MatMul -> Relu -> MatMul -> y (batch, 8, 16).

    Two layers in a row: once quantized, the second layer's input comes out of the
    first MatMulNBits, a shape onnx's own inference cannot give.
    """
    rng = np.random.RandomState(0)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["hidden"]),
             helper.make_node("Relu", ["hidden"], ["relu"]),
             helper.make_node("MatMul", ["relu", "w2"], ["y"])]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", TOKENS, WIDTH_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", TOKENS, WIDTH_OUT])],
        [numpy_helper.from_array(rng.standard_normal((WIDTH_IN, HIDDEN)).astype(np.float32), "w1"),
         numpy_helper.from_array(rng.standard_normal((HIDDEN, WIDTH_OUT)).astype(np.float32), "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def int4_and_fp32(tmp_path, source):
    data = datasets.synthetic(modelinfo.inputs(modelinfo.load(source)), samples=4)
    specs = [variants.VariantSpec.build("fp32", "fp32"),
             variants.VariantSpec.build("int4", "int4-weight", block_size=16)]
    made = variants.make_variants(source, data, specs, cache_dir=tmp_path / "cache", log=lambda m: None)
    return {v.name: v for v in made}


def test_matmul_macs_are_counted_by_hand(tmp_path):
    assert modelinfo.multiply_adds(modelinfo.load(two_layer_mlp(tmp_path / "mlp.onnx"))) == MLP_MACS


def test_int4_matmulnbits_layers_count_the_same_macs_as_the_float_matmuls(tmp_path):
    made = int4_and_fp32(tmp_path, two_layer_mlp(tmp_path / "mlp.onnx"))
    int4 = modelinfo.load(made["int4"].path)
    assert [n.op_type for n in int4.graph.node].count("MatMulNBits") == 2
    # Counted on the 4-bit graph itself, not borrowed from the source's count.
    assert modelinfo.multiply_adds(int4) == MLP_MACS
    assert made["int4"].manifest["macs"] == made["fp32"].manifest["macs"] == MLP_MACS


def test_int4_variant_of_a_convnet_keeps_its_macs(tmp_path, tiny_model):
    made = int4_and_fp32(tmp_path, tiny_model)
    int4 = modelinfo.load(made["int4"].path)
    assert "MatMulNBits" in {n.op_type for n in int4.graph.node}
    assert modelinfo.multiply_adds(int4) == modelinfo.multiply_adds(modelinfo.load(tiny_model))
