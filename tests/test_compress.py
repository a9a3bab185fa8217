import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgeshrink.host import dataset, modelinfo
from edgeshrink.host.compress import variants
from edgeshrink.host.compress.variants import VariantSpec
from edgeshrink.shared.errors import ModelError, UsageError

from edgeshrink.host.lab.models import tiny_inputs


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def tiny_data():
    x = tiny_inputs(64)
    return dataset.Dataset(inputs={"x": x}, calibration={"x": x}, source="test")


def test_model_facts_count_parameters_and_multiply_adds(tiny_model):
    model = modelinfo.load(tiny_model)
    assert [s.name for s in modelinfo.inputs(model)] == ["x"]
    assert modelinfo.inputs(model)[0].shape == ["batch", 3, 16, 16]
    assert modelinfo.parameter_count(model) == 8 * 3 * 3 * 3 + 8 + 10 * 8 + 10
    # Conv: 8x16x16 outputs x (3*3*3) MACs each; Gemm: 10 outputs x 8.
    assert modelinfo.multiply_adds(model) == 8 * 16 * 16 * 27 + 10 * 8


def test_every_default_variant_stays_close_to_the_original(tmp_path, tiny_model, tiny_data):
    made = variants.make_variants(tiny_model, tiny_data, variants.default_specs(), cache_dir=tmp_path / "c",
                                  log=lambda m: None)
    x = tiny_inputs(16, seed=7)
    reference = run(tiny_model, x)
    results = {v.name: run(v.path, x) for v in made}
    assert np.array_equal(results["fp32"], reference)
    assert cosine(results["fp16"], reference) > 0.9999
    assert cosine(results["int8-dynamic"], reference) > 0.99
    assert cosine(results["int8-static"], reference) > 0.99


def test_variants_are_structurally_what_they_claim(tmp_path, tiny_model, tiny_data):
    made = {v.name: v for v in variants.make_variants(tiny_model, tiny_data, variants.default_specs(),
                                                      cache_dir=tmp_path / "c", log=lambda m: None)}
    fp16 = onnx.load(str(made["fp16"].path))
    assert {i.data_type for i in fp16.graph.initializer} == {onnx.TensorProto.FLOAT16}
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # keep_io_types
    static_ops = {n.op_type for n in onnx.load(str(made["int8-static"].path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= static_ops
    dynamic_ops = {n.op_type for n in onnx.load(str(made["int8-dynamic"].path)).graph.node}
    assert "DynamicQuantizeLinear" in dynamic_ops
    # Per-channel static quantization gives one weight scale per output channel.
    scales = [i for i in onnx.load(str(made["int8-static"].path)).graph.initializer
              if i.name.startswith("w") and "scale" in i.name]
    assert scales and scales[0].dims == [8]


def test_manifest_records_what_a_variant_is(tmp_path, tiny_model, tiny_data):
    made = variants.make_variants(tiny_model, tiny_data, variants.default_specs(), cache_dir=tmp_path / "c",
                                  log=lambda m: None)
    static = next(v for v in made if v.name == "int8-static")
    m = static.manifest
    assert m["technique"] == "int8-static" and m["options"]["per_channel"] is True
    assert m["sha256"] == modelinfo.sha256_file(static.path)
    assert m["size_bytes"] == static.path.stat().st_size
    assert m["macs"] == 8 * 16 * 16 * 27 + 10 * 8
    assert m["source"]["sha256"] == modelinfo.sha256_file(tiny_model)
    assert m["calibration"]["sha256"] and m["lineage"][0]["technique"] == "int8-static"
    assert json.loads((static.path.parent / "manifest.json").read_text()) == m


def test_unchanged_inputs_are_not_compressed_twice(tmp_path, tiny_model, tiny_data):
    cache = tmp_path / "c"
    first = variants.make_variants(tiny_model, tiny_data, variants.default_specs(), cache_dir=cache,
                                   log=lambda m: None)
    logged = []
    second = variants.make_variants(tiny_model, tiny_data, variants.default_specs(), cache_dir=cache,
                                    log=logged.append)
    assert all(v.cached for v in second) and not logged
    assert [v.sha256 for v in first] == [v.sha256 for v in second]
    # New options make a new static variant; new data makes every variant anew (each
    # manifest's figures are computed on the data, so none is reused for other data).
    third = variants.make_variants(tiny_model, tiny_data, variants.default_specs(reduce_range=True),
                                   cache_dir=cache, log=lambda m: None)
    reused = {v.name: v.cached for v in third}
    assert reused["fp32"] and reused["fp16"] and not reused["int8-static"]
    other = dataset.Dataset(inputs=tiny_data.inputs, calibration={"x": tiny_inputs(64, seed=9)}, source="t")
    fourth = variants.make_variants(tiny_model, other, variants.default_specs(), cache_dir=cache,
                                    log=lambda m: None)
    assert not any(v.cached for v in fourth)


def test_reduce_range_changes_the_static_weights(tmp_path, tiny_model, tiny_data):
    full, reduced = (variants.make_variants(tiny_model, tiny_data, variants.default_specs(reduce_range=r),
                                            cache_dir=tmp_path / "c", log=lambda m: None)[3] for r in (False, True))
    assert full.sha256 != reduced.sha256 and reduced.manifest["options"]["reduce_range"] is True


def test_bad_model_files_and_options_are_clear_errors(tmp_path, tiny_data):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        variants.make_variants(broken, tiny_data, variants.default_specs(), cache_dir=tmp_path / "c")
    with pytest.raises(ModelError, match="not found"):
        variants.make_variants(tmp_path / "absent.onnx", tiny_data, variants.default_specs())
    with pytest.raises(UsageError, match="calibration must be one of"):
        VariantSpec.build("x", "int8-static", calibration="magic")
    with pytest.raises(UsageError, match="unknown option"):
        VariantSpec.build("x", "fp16", colour="red")
    with pytest.raises(UsageError, match="unknown technique"):
        VariantSpec.build("x", "int3")
    assert not (tmp_path / "c").exists()  # nothing was half-written into the cache
