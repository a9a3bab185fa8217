"""Honest compression steps (issue 8, part 6): a variant that missed its target, was cut
short by a time limit, or came out larger or slower than its source says so in its
manifest ("flags") and on the command line; the cache key and the manifest name the data
every figure used."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeshrink.host import dataset as datasets
from edgeshrink.host import modelinfo
from edgeshrink.host.compress import accounting, variants
from edgeshrink.host.compress.variants import VariantSpec
from edgeshrink.host.lab.models import tiny_inputs

from .conftest import run_cli


def synthetic_for(model):
    return datasets.synthetic(modelinfo.inputs(modelinfo.load(model)))


def make(model, data, specs, cache):
    logged = []
    made = variants.make_variants(model, data, specs, cache_dir=cache, log=logged.append)
    return {v.name: v for v in made}, logged


def kinds(variant):
    return {(f["flag"], f["step"]) for f in variant.flags}


def transpose_and_scale(path, side=64):
    """x -> Transpose -> Mul(w) -> Add(b): dynamic int8 quantizes none of these ops (it
    takes Conv, MatMul, Gather, ...), so its weights stay float, and the shape information
    its preprocessing adds makes the file grow: an "int8" variant larger than fp32."""
    rng = np.random.RandomState(0)
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
         helper.make_node("Mul", ["t", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
        "scale", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", side, side])],
        [numpy_helper.from_array(rng.standard_normal((side, side)).astype(np.float32), "w"),
         numpy_helper.from_array(rng.standard_normal((side, side)).astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_every_manifest_has_flags_and_names_its_data(tmp_path, tiny_model):
    made, _ = make(tiny_model, synthetic_for(tiny_model), variants.default_specs(), tmp_path / "c")
    for variant in made.values():
        manifest = variant.manifest
        assert isinstance(manifest["flags"], list)
        assert manifest["data"]["synthetic"] is True and manifest["data"]["source"] == "synthetic"
        assert manifest["data"]["evaluation_samples"] == manifest["data"]["calibration_samples"] == 64
        assert manifest["host_fidelity"]["data"] == {
            "sha256": manifest["data"]["sha256"], "set": "evaluation", "source": "synthetic", "synthetic": True,
            "samples": 64}
    assert made["fp32"].manifest["host_timing"] is None          # nothing quantized: nothing to time
    timing = made["int8-static"].manifest["host_timing"]
    assert timing["measured"] and timing["runs"] >= accounting.TIMING_MIN_PAIRS
    assert timing["ratio"] == pytest.approx(timing["variant_ms_median"] / timing["source_ms_median"], rel=0.01)


def test_mixed_precision_out_of_time_below_its_target_is_flagged(tmp_path, tiny_model):
    spec = VariantSpec.build("mixed", "mixed-precision", target_cosine=0.999999, max_seconds=0.001)
    made, logged = make(tiny_model, synthetic_for(tiny_model), [spec], tmp_path / "c")
    details = made["mixed"].manifest["lineage"][-1]["details"]
    assert details["target_met"] is False and details["stopped"] == "time budget"
    assert details["scanned_nodes"] < details["weight_nodes"] == 2 and details["passes"] == 1
    assert {f["flag"] for f in details["flags"]} == {"missed_target", "cut_short"}
    # (On so tiny a model the QDQ nodes also make it larger, which is flagged too.)
    assert kinds(made["mixed"]) >= {("missed_target", "mixed-precision"), ("cut_short", "mixed-precision")}
    missed = next(f["text"] for f in made["mixed"].flags if f["flag"] == "missed_target")
    assert "below its target 0.999999" in missed and "0.001 s time budget" in missed
    assert any(line.startswith("mixed-precision: pass 1: 0 of 2 nodes in float") for line in logged)
    assert any(line.startswith("warning: mixed-precision missed its target: ") for line in logged)


def test_mixed_precision_that_meets_its_target_shows_progress_and_no_flag(tmp_path, tiny_model):
    spec = VariantSpec.build("mixed", "mixed-precision", target_cosine=0.9)
    made, logged = make(tiny_model, synthetic_for(tiny_model), [spec], tmp_path / "c")
    details = made["mixed"].manifest["lineage"][-1]["details"]
    assert details["target_met"] is True and details["stopped"] == "target met" and "flags" not in details
    assert not {"missed_target", "cut_short"} & {f["flag"] for f in made["mixed"].flags}
    assert "mixed-precision: sensitivity scan 2/2 nodes" in logged


def test_a_quantized_variant_whose_weights_stayed_float_is_flagged_larger(tmp_path):
    model = transpose_and_scale(tmp_path / "scale.onnx")
    made, _ = make(model, synthetic_for(model), [VariantSpec.build("int8", "int8-dynamic")], tmp_path / "c")
    dynamic = made["int8"]
    assert dynamic.manifest["size_bytes"] > model.stat().st_size
    larger, = [f for f in dynamic.flags if f["flag"] == "larger_than_source"]
    assert larger["step"] == "int8-dynamic"
    assert larger["text"].startswith("larger than its source: 32.")
    assert larger["text"].endswith("; weights stayed float: 2 of 2 weight tensors are float32, 32.0 KiB")


def test_slower_on_the_host_is_flagged_only_past_the_noise(tmp_path):
    model = transpose_and_scale(tmp_path / "scale.onnx")
    info = accounting.describe(model)
    timing = {"measured": True, "ratio": 1.5, "source_ms_median": 0.01, "variant_ms_median": 0.015}
    slower = accounting.quantized_flags("int8-dynamic", model, model, info, info, timing)
    assert [f["flag"] for f in slower] == ["slower_on_host"]
    assert slower[0]["text"].startswith("1.50x slower than its source on this host (median 0.015 ms vs 0.010 ms")
    assert "the board's measurement decides" in slower[0]["text"]
    assert "weights stayed float: 2 of 2" in slower[0]["text"]
    for ratio in (1.05, accounting.SLOWER_RATIO):
        assert accounting.quantized_flags("int8-dynamic", model, model, info, info, dict(timing, ratio=ratio)) == []
    assert accounting.quantized_flags("fp16", model, model, info, info, {"measured": False, "reason": "x"}) == []


def test_the_cache_key_holds_the_whole_dataset(tmp_path, tiny_model):
    cache = tmp_path / "c"
    fp32 = [VariantSpec.build("fp32", "fp32")]
    synthetic = synthetic_for(tiny_model)
    first, _ = make(tiny_model, synthetic, fp32, cache)
    x = tiny_inputs(64)
    real = datasets.Dataset(inputs={"x": x[:32]}, calibration={"x": x[32:]}, labels=np.arange(32) % 10,
                            source="digits.npz")
    second, _ = make(tiny_model, real, fp32, cache)
    # fp32 uses no data to be made, but its host fidelity is computed on the evaluation data.
    assert not second["fp32"].cached
    assert second["fp32"].manifest["cache_key"] != first["fp32"].manifest["cache_key"]
    assert second["fp32"].manifest["data"]["synthetic"] is False
    assert second["fp32"].manifest["host_fidelity"]["accuracy"] is not None
    again, _ = make(tiny_model, real, fp32, cache)
    assert again["fp32"].cached
    hashes = {variants.dataset_hash(real)}
    for changed in (dict(labels=np.zeros(32, dtype=np.int64)), dict(inputs={"x": x[:32] * 2}),
                    dict(calibration={"x": x[32:] * 2})):
        hashes.add(variants.dataset_hash(datasets.Dataset(**dict(
            dict(inputs=real.inputs, calibration=real.calibration, labels=real.labels, source=real.source),
            **changed))))
    real.constants = {"sample_rate": np.array(16000, dtype=np.int64)}   # inputs given once for every sample
    hashes.add(variants.dataset_hash(real))
    assert len(hashes) == 5


def small_classifier_source(tmp_path):
    import torch
    from torch import nn

    from edgeshrink.host.compress.torch_source import TorchSource, state_hash
    from edgeshrink.host.torch_export import export_onnx

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(8, 4)).eval()

    rng = np.random.RandomState(0)
    source = TorchSource(build, (1, 1, 16, 16), "image", "logits", state_hash(build()),
                         rng.rand(64, 1, 16, 16).astype(np.float32), rng.randint(0, 4, 64))
    onnx_path = export_onnx(build(), source.input_shape, tmp_path / "model.onnx", "image", "logits")
    return source, onnx_path


def test_distillation_cut_short_by_its_safety_limit_is_flagged_and_made_again(tmp_path):
    source, model = small_classifier_source(tmp_path)
    data = synthetic_for(model)
    spec = VariantSpec.chain("kd", [{"step": "distill", "epochs": 3, "max_seconds": 1e-6}])
    logged = []
    kd, = variants.make_variants(model, data, [spec], cache_dir=tmp_path / "c", log=logged.append,
                                 torch_source=source)
    details = kd.manifest["lineage"][0]["details"]
    assert (details["epochs"], details["epochs_completed"]) == (3, 1)
    assert kinds(kd) == {("cut_short", "distill")}
    assert "stopped distillation after 1 of 3 epochs" in kd.flags[0]["text"]
    assert any(line.startswith("warning: distill was cut short: ") for line in logged)
    # It depended on how busy the machine was: the next run makes it again.
    again, = variants.make_variants(model, data, [spec], cache_dir=tmp_path / "c", log=logged.append,
                                    torch_source=source)
    assert not again.cached and "compress: kd was cut short by a time limit when it was made: making it again" \
        in logged
    full = VariantSpec.chain("kd", [{"step": "distill", "epochs": 2}])
    done, = variants.make_variants(model, data, [full], cache_dir=tmp_path / "c", log=logged.append,
                                   torch_source=source)
    assert done.flags == [] and done.manifest["lineage"][0]["details"]["epochs_completed"] == 2


def test_compress_prints_each_flag_as_a_warning(tmp_path, host_env):
    model = transpose_and_scale(tmp_path / "scale.onnx")
    result = run_cli(["compress", str(model), "--json"], host_env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    flagged = [f for f in document["flags"] if f["flag"] == "larger_than_source"]
    assert {f["variant"] for f in flagged} == {"int8-dynamic"}
    for flag in document["flags"]:
        assert "warning: %s: %s (step %s): " % (flag["variant"], flag["flag"], flag["step"]) in result.stderr
