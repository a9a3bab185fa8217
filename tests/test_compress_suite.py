"""The compression suite: each generator's structure or numerics on a small model."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from edgeshrink.host import dataset as datasets
from edgeshrink.host.compress import recipe, torch_steps, variants
from edgeshrink.host.compress import options as opts
from edgeshrink.host.compress.torch_source import TorchSource, from_demo, state_hash
from edgeshrink.host.demo.model import MobileNetDemo
from edgeshrink.host.lab.models import multi_input_model
from edgeshrink.shared.errors import UsageError

from .conftest import run_cli


SMALL = {"width": 0.5, "blocks": ((32, 1), (64, 2), (64, 1), (128, 2))}


def small_mobilenet(seed=0):
    torch.manual_seed(seed)
    return MobileNetDemo(**SMALL).eval()


def work_for(model, samples=None):
    samples = samples if samples is not None else np.random.RandomState(0).rand(32, 1, 32, 32).astype(np.float32)
    source = TorchSource(lambda: model, (1, 1, 32, 32), "image", "logits", state_hash(model),
                         family="mobilenet-demo", family_args=dict(SMALL))
    return torch_steps.TorchWork(model, model, source, samples, log=lambda m: None)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("criterion", ["l1", "entropy", "thinet"])
def test_structured_pruning_keeps_every_coupled_layer_consistent(criterion):
    model = small_mobilenet()
    before = count_params(model)
    work = work_for(model)
    torch_steps.prune(work, opts.PruneOptions(ratio=0.5, criterion=criterion))
    assert count_params(work.model) < 0.5 * before
    for block in work.model.features[1:]:
        depthwise, pointwise = block.depthwise[0], block.pointwise[0]
        # The depthwise conv follows its input channels; batch norms follow their convs.
        assert depthwise.groups == depthwise.in_channels == depthwise.out_channels
        assert block.depthwise[1].num_features == depthwise.out_channels
        assert pointwise.in_channels == depthwise.out_channels
        assert block.pointwise[1].num_features == pointwise.out_channels
        assert pointwise.out_channels % 8 == 0
    assert work.model.classifier.out_features == 10  # classes are never pruned
    assert work.model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_criteria_choose_different_channels():
    kept = {}
    for criterion in ("l1", "entropy", "thinet"):
        work = work_for(small_mobilenet())
        torch_steps.prune(work, opts.PruneOptions(ratio=0.5, criterion=criterion))
        kept[criterion] = work.model.features[2].pointwise[0].weight.detach().sum().item()
    assert len({round(v, 4) for v in kept.values()}) == 3


def test_sensitivity_scan_gives_per_layer_ratios_around_the_target():
    work = work_for(small_mobilenet())
    ratios = torch_steps.sensitivity_ratios(work, opts.PruneOptions(ratio=0.4, sensitivity=True))
    values = sorted(ratios.values())
    assert len(values) >= 3 and values[0] < 0.4 < values[-1]
    assert abs(np.mean(values) - 0.4) < 0.1
    torch_steps.prune(work, opts.PruneOptions(ratio=0.4, sensitivity=True))
    assert work.model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_low_rank_linear_and_convs_reproduce_low_rank_weights():
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    linear.weight.data = torch.randn(48, 4) @ torch.randn(4, 64)  # rank 4
    factored = torch_steps._factorized_linear(linear, 0.9999)
    x = torch.randn(8, 64)
    assert torch.allclose(factored(x), linear(x), atol=1e-4)
    assert count_params(factored) < count_params(linear)

    pointwise = nn.Conv2d(64, 48, 1)
    pointwise.weight.data = (torch.randn(48, 3) @ torch.randn(3, 64))[:, :, None, None]
    image = torch.randn(2, 64, 8, 8)
    assert torch.allclose(torch_steps._factorized_conv(pointwise, 0.9999)(image), pointwise(image), atol=1e-4)

    # A 3x3 kernel with multilinear rank (6, 5): Tucker-2 reproduces it.
    core, u_out, u_in = torch.randn(6, 5, 3, 3), torch.randn(48, 6), torch.randn(64, 5)
    spatial = nn.Conv2d(64, 48, 3, padding=1)
    spatial.weight.data = torch.einsum("rskl,or,is->oikl", core, u_out, u_in)
    tucker = torch_steps._factorized_conv(spatial, 0.9999)
    assert torch.allclose(tucker(image), spatial(image), atol=1e-3)
    assert count_params(tucker) < count_params(spatial)
    assert torch_steps._factorized_linear(nn.Linear(8, 8), 0.99) is None  # full rank: no saving, left alone


def test_clustering_shares_values_and_keeps_outputs():
    work = work_for(small_mobilenet())
    x = torch.from_numpy(work.calibration[:8])
    before = work.model(x).detach()
    torch_steps.cluster(work, opts.ClusterOptions(clusters=16))
    for module in work.model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.weight.numel() >= 64:
            assert len(torch.unique(module.weight)) <= 16
    after = work.model(x).detach()
    assert nn.functional.cosine_similarity(before.flatten(1), after.flatten(1)).mean() > 0.95


@pytest.mark.slow
def test_distillation_recovers_accuracy_after_heavy_pruning(demo):
    source = from_demo(demo)
    with np.load(demo.data_path) as data:
        eval_x, eval_y, calib = torch.from_numpy(data["eval_x"]), data["eval_y"], data["calib_x"]

    def accuracy(model):
        with torch.no_grad():
            return float((model(eval_x).argmax(1).numpy() == eval_y).mean())

    work = torch_steps.TorchWork(source.fresh(), source.fresh(), source, calib, log=lambda m: None)
    torch_steps.prune(work, opts.PruneOptions(ratio=0.75, criterion="l1"))
    pruned = accuracy(work.model)
    torch_steps.distill(work, opts.DistillOptions(epochs=2, feature_weight=0.5))
    distilled = accuracy(work.model)
    assert distilled > pruned + 0.1, (pruned, distilled)
    assert distilled > 0.9


def test_magnitude_pruning_is_a_size_only_gain_reported_honestly(tmp_path, tiny_model):
    data = datasets.synthetic(variants_inputs(tiny_model))
    made = {v.name: v for v in variants.make_variants(
        tiny_model, data, [variants.VariantSpec.build("fp32", "fp32"),
                           variants.VariantSpec.build("sparse", "prune-magnitude", sparsity=0.6)],
        cache_dir=tmp_path / "c", log=lambda m: None)}
    sparse = made["sparse"].manifest
    assert sparse["lineage"][0]["details"]["sparsity"] >= 0.55
    assert sparse["size_bytes"] == pytest.approx(made["fp32"].manifest["size_bytes"], rel=0.01)
    assert sparse["entropy_coded_bytes"] < made["fp32"].manifest["entropy_coded_bytes"]
    assert sparse["params"] == made["fp32"].manifest["params"] and sparse["macs"] == made["fp32"].manifest["macs"]


def variants_inputs(path):
    from edgeshrink.host import modelinfo

    return modelinfo.inputs(modelinfo.load(path))


def weight_nodes_by_precision(path):
    """(quantized, float) names of the Conv/Gemm/MatMul nodes in a model: a quantized
    node reads its weight from a DequantizeLinear."""
    graph = onnx.load(str(path)).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    quantized, kept = set(), set()
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            (quantized if node.input[1] in dequantized else kept).add(node.name)
    return quantized, kept


def mixed_precision_details(model, target_cosine, cache_dir):
    data = datasets.synthetic(variants_inputs(model))
    spec = variants.VariantSpec.build("mixed", "mixed-precision", target_cosine=target_cosine)
    variant, = variants.make_variants(model, data, [spec], cache_dir=cache_dir, log=lambda m: None)
    return variant, variant.manifest["lineage"][0]["details"]


def test_int4_and_mixed_precision_on_a_small_model(tmp_path, tiny_model):
    data = datasets.synthetic(variants_inputs(tiny_model))
    specs = [variants.VariantSpec.build("int4", "int4-weight", block_size=16),
             variants.VariantSpec.build("mixed", "mixed-precision", target_cosine=0.99)]
    made = {v.name: v for v in variants.make_variants(tiny_model, data, specs, cache_dir=tmp_path / "c",
                                                      log=lambda m: None)}
    ops = {n.op_type for n in onnx.load(str(made["int4"].path)).graph.node}
    assert "MatMulNBits" in ops
    x = data.inputs["x"][:8]
    reference = ort.InferenceSession(str(tiny_model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for name in ("int4", "mixed"):
        out = ort.InferenceSession(str(made[name].path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        cos = (out * reference).sum(1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(reference, axis=1))
        assert cos.mean() > 0.98, name
    # The tiny model's nodes have no names: each is still counted and kept or quantized on its own.
    details = made["mixed"].manifest["lineage"][0]["details"]
    quantized, kept = weight_nodes_by_precision(made["mixed"].path)
    assert details["quantized_nodes"] == len(quantized) > 0
    assert kept == set(details["float_nodes"])
    assert details["cosine_on_calibration"] >= 0.99


def chain_of_linear_layers(path, widths=(16, 32, 32, 32, 10), coarse_layer=1, seed=0):
    """x -> (Gemm -> Relu) x3 -> Gemm, named layer0..layer3. One large weight per output
    channel of ``coarse_layer`` widens its int8 step, so quantizing every layer misses a
    0.999 cosine target while keeping one in float meets it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(seed)
    nodes, initializers, current = [], [], "x"
    last = len(widths) - 2
    for index, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
        weight = (rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)).astype(np.float32)
        if index == coarse_layer:
            weight[np.arange(fan_out), rng.randint(0, fan_in, fan_out)] = 30.0
        initializers += [numpy_helper.from_array(weight, "w%d" % index),
                         numpy_helper.from_array(np.zeros(fan_out, np.float32), "b%d" % index)]
        linear = "y" if index == last else "linear%d" % index
        nodes.append(helper.make_node("Gemm", [current, "w%d" % index, "b%d" % index], [linear],
                                      name="layer%d" % index, transB=1))
        if index != last:
            nodes.append(helper.make_node("Relu", [linear], ["relu%d" % index], name="relu%d" % index))
            current = "relu%d" % index
    graph = helper.make_graph(nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", widths[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", widths[-1]])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_mixed_precision_keeps_the_most_sensitive_layers_in_float(tmp_path):
    model = chain_of_linear_layers(tmp_path / "chain.onnx")
    loose_variant, loose = mixed_precision_details(model, 0.99, tmp_path / "c")
    assert loose["float_nodes"] == [] and loose["quantized_nodes"] == 4   # int8 everywhere meets 0.99
    # Halfway from what int8 everywhere reaches to 1 (that depends on the quantizer's
    # version): more than int8 everywhere gives, so some layers must stay float.
    all_int8 = loose["cosine_on_calibration"]
    strict_target = 1 - (1 - all_int8) / 2
    strict_variant, strict = mixed_precision_details(model, strict_target, tmp_path / "c")
    assert 1 <= len(strict["float_nodes"]) < 4, (all_int8, strict)       # some float, not all
    for variant, details, target in ((loose_variant, loose, 0.99), (strict_variant, strict, strict_target)):
        quantized, kept = weight_nodes_by_precision(variant.path)
        assert details["quantized_nodes"] == len(quantized) > 0
        assert kept == set(details["float_nodes"])
        # The layers kept in float are exactly the most sensitive ones, in order.
        assert details["float_nodes"] == details["most_sensitive"][:len(details["float_nodes"])]
        assert details["cosine_on_calibration"] >= target


def test_recipes_parse_and_refuse_what_cannot_work(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[[variant]]\nname = "a"\nsteps = [{ step = "prune", ratio = 0.3 }, { step = "distill" },'
                    ' { step = "int8-static", calibration = "entropy" }]\n')
    specs = recipe.load(good)
    assert [s.name for s in specs] == ["fp32", "a"]
    assert specs[1].technique == "prune+distill+int8-static"
    assert specs[1].steps[2].options.calibration == "entropy"
    cases = {
        '[[variant]]\nname = "b"\nsteps = [{ step = "teleport" }]\n': "unknown technique 'teleport'",
        '[[variant]]\nname = "b"\nsteps = [{ step = "prune", colour = 1 }]\n': "unknown option(s) colour",
        '[[variant]]\nname = "b"\nsteps = [{ step = "int8-static" }, { step = "prune" }]\n':
            "must come before 'int8-static'",
        '[[variant]]\nname = "b"\nsteps = [{ step = "width", width = 0.5 }]\n': "needs a distill step after it",
        '[[variant]]\nname = "b"\nsteps = [{ step = "prune", ratio = 2.0 }]\n': "ratio must be in",
        'oops = 1\n': "unknown top-level key",
    }
    for text, words in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(UsageError) as caught:
            recipe.load(bad)
        assert words in caught.value.message and str(bad) in caught.value.message
        assert caught.value.message.count("variant 'b'") <= 1


def test_module_steps_on_an_onnx_only_model_are_refused(tmp_path, tiny_model):
    data = datasets.synthetic(variants_inputs(tiny_model))
    spec = variants.VariantSpec.chain("p", [{"step": "prune"}])
    with pytest.raises(UsageError, match="--torch module:function"):
        variants.make_variants(tiny_model, data, [spec], cache_dir=tmp_path / "c")


def test_compress_a_third_party_model_with_several_inputs(tmp_path, host_env):
    model = multi_input_model(tmp_path / "multi.onnx")
    refused = run_cli(["compress", str(model)], host_env)   # no data, no shape: 'length' is unknown
    assert refused.returncode == 8
    assert ("input 'tokens' has dynamic dimension 1 ('length') and no data or shape to fix it "
            "(pass --input-shape tokens=N,N or --data file.npz)") in refused.stderr
    result = run_cli(["compress", str(model), "--json", "--input-shape", "tokens=1,12",
                      "--input-shape", "features=1,16"], host_env)
    assert result.returncode == 0, result.stderr
    assert "synthetic inputs" in result.stderr
    made = json.loads(result.stdout)["variants"]
    assert [v["name"] for v in made] == ["fp32", "fp16", "int8-dynamic", "int8-static"]
    feeds = {"tokens": np.array([[1, 2, 3]], dtype=np.int64), "features": np.ones((1, 16), np.float32)}
    for variant in made:
        session = ort.InferenceSession(variant["path"], providers=["CPUExecutionProvider"])
        assert session.run(None, feeds)[0].shape == (1, 5)
        assert variant["manifest"]["host_fidelity"]["cosine_mean"] > 0.97


def test_compress_a_pytorch_factory_with_a_recipe(tmp_path, host_env):
    (tmp_path / "usermodel.py").write_text(
        "import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 1), nn.ReLU(),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4))\n")
    rec = tmp_path / "r.toml"
    rec.write_text('[[variant]]\nname = "pruned"\nsteps = [{ step = "prune", ratio = 0.5 }, { step = "int8-static" }]\n')
    result = run_cli(["compress", "--torch", "usermodel:build", "--input-shape", "1,3,16,16", "--recipe",
                      str(rec), "--json"], host_env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    made = {v["name"]: v["manifest"] for v in json.loads(result.stdout)["variants"]}
    assert made["pruned"]["params"] < made["fp32"]["params"]
    assert [s["technique"] for s in made["pruned"]["lineage"]] == ["prune", "int8-static"]
    missing = run_cli(["compress", "--torch", "usermodel:build"], host_env, cwd=str(tmp_path))
    assert missing.returncode == 2 and "--input-shape" in missing.stderr


def test_width_and_resolution_multipliers_shrink_the_work():
    work = work_for(small_mobilenet())
    before = count_params(work.model)
    torch_steps.width(work, opts.WidthOptions(width=0.5))
    assert count_params(work.model) < 0.5 * before
    traced = []
    torch_steps.resolution(work, opts.ResolutionOptions(scale=0.5))
    work.model[1].features[0].register_forward_hook(lambda m, i, o: traced.append(i[0].shape))
    assert work.model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)
    assert tuple(traced[0][-2:]) == (16, 16)  # the network itself runs at half the resolution
    other = TorchSource(lambda: nn.Linear(4, 2), (1, 4), "x", "y", "0" * 64)
    with pytest.raises(UsageError, match="MobileNet demo family"):
        torch_steps.width(torch_steps.TorchWork(nn.Linear(4, 2), None, other, None), opts.WidthOptions())


def test_torchscript_file_is_an_input_for_onnx_steps(tmp_path, host_env):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4)).eval()
    scripted = tmp_path / "model.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 16, 16)), str(scripted))
    result = run_cli(["compress", "--torch", str(scripted), "--input-shape", "1,3,16,16", "--json"], host_env)
    assert result.returncode == 0, result.stderr
    made = {v["name"]: v["manifest"] for v in json.loads(result.stdout)["variants"]}
    assert made["int8-static"]["host_fidelity"]["cosine_mean"] > 0.98
