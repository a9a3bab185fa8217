"""Outputs judged by metrics that fit them (issue 8, item 4), end to end through the real
agent: a streaming model with recurrent state, a CTC recogniser's sequence output, a
text detector's probability map, a detector with two heads, and a user's own metric."""

import json

import onnx
import pytest
from onnx import numpy_helper

from edgeshrink.host import deploy, inventory, metrics
from edgeshrink.host.compress import options as opts
from edgeshrink.host.compress import registry, variants
from edgeshrink.host.lab import exported_models as models
from edgeshrink.host.runs import Run
from edgeshrink.shared.types import Constraints

from .conftest import FAST, FAST_FLAGS, cli

MAP_SHIFT = 0.05


@registry.register("test-shift-map", opts.Fp32Options,
                   "raises the last bias of a map model: values cross the threshold, cosine hardly moves")
def _shift_map(source, target, options, dataset, workdir):
    model = onnx.load(str(source))
    last_bias = [i for i in model.graph.initializer if len(i.dims) == 1][-1]
    last_bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(last_bias) + MAP_SHIFT, last_bias.name))
    onnx.save(model, str(target))


def devices_file(tmp_path, drop=0.02):
    path = tmp_path / "devices.toml"
    path.write_text('[devices.local]\nconnection = "local"\nroot = "%s"\n[devices.local.constraints]\n'
                    'max_accuracy_drop = %s\n' % (tmp_path / "board", drop))
    return path


def recipe(tmp_path, *steps, metrics_table=None):
    lines = []
    if metrics_table:
        lines.append("[metrics]")
        lines += ['%s = "%s"' % item for item in metrics_table.items()]
    for step in steps:
        lines += ["[[variant]]", 'name = "%s"' % step, 'steps = [{ step = "%s" }]' % step]
    path = tmp_path / "recipe.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def deployed(result):
    assert result.returncode == 0, result.stderr
    return Run.from_dict(json.loads(result.stdout))


def fidelity(run, name):
    return run.variant(name).measurement.latency_pass.fidelity


def test_a_streaming_model_with_state_on_axis_1_and_a_rate_given_once_deploys(tmp_path, host_env):
    model = models.streaming_vad(tmp_path / "vad.onnx")
    data = models.streaming_vad_data(tmp_path / "vad.npz")
    run = deployed(cli(host_env, devices_file(tmp_path), "deploy", str(model), "--data", str(data), "-d", "local",
                       "--json", *FAST_FLAGS))
    assert all(v.measurement.ok for v in run.variants), [v.measurement.error for v in run.variants]
    base = fidelity(run, "fp32")
    assert [o.output for o in base.outputs] == ["prob", "state_out"]          # every output compared
    assert {o.metric for o in base.outputs} == {"cosine"}
    assert "its name says state" in base.output("state_out").chosen_by
    assert run.decision.variant("fp32").accuracy_drop == 0.0                  # never a drop against itself
    assert run.decision.install.check["real_sample"] is True                 # the health check fed real data
    for verdict in run.decision.variants:
        assert verdict.drop_basis and ("output 'prob'" in verdict.drop_basis or
                                       "output 'state_out'" in verdict.drop_basis or verdict.name == "fp32")


def test_fp16_of_a_ctc_recogniser_that_decodes_the_same_text_passes(tmp_path, host_env):
    model = models.ctc_recognizer(tmp_path / "crnn.onnx")
    data = models.images_data(tmp_path / "crnn.npz", (1, 16, 32))
    run = deployed(cli(host_env, devices_file(tmp_path, drop=0.0), "deploy", str(model), "--data", str(data),
                       "-d", "local", "--json", "--recipe", str(recipe(tmp_path, "fp16")),
                       "--metric", "logits=sequence,blank=0", *FAST_FLAGS))
    fp16 = fidelity(run, "fp16").output("logits")
    assert fp16.metric == "sequence" and fp16.score_name == "exact-sequence agreement (CTC-decoded)"
    assert fp16.score == 1.0 and not fp16.identical          # not bit-identical, yet the same text
    host_side = run.variant("fp16").manifest["host_fidelity"]["outputs"][0]
    assert host_side["metric"] == "sequence" and host_side["score"] == 1.0   # the user's metric on the host too
    verdict = run.decision.variant("fp16")
    assert verdict.feasible, verdict.reason
    check = next(c for c in verdict.checks if c.constraint == "max_accuracy_drop")
    assert check.verdict == "pass" and "exact-sequence agreement (CTC-decoded) of output 'logits'" in check.text


def test_a_variant_that_breaks_the_probability_map_fails_iou(tmp_path, host_env):
    model = models.text_detector(tmp_path / "det.onnx")
    data_path = models.images_data(tmp_path / "det.npz", (3, 32, 32))
    source = deploy.resolve_model(model, data_path)
    assert source.metrics[0].kind == "map" and source.metrics[0].threshold == 0.5
    specs = [variants.VariantSpec.build("fp32", "fp32"), variants.VariantSpec.build("shifted", "test-shift-map")]
    made = variants.make_variants(model, source.dataset, specs, cache_dir=tmp_path / "cache", log=lambda m: None)
    device = inventory.Device(name="board", root=str(tmp_path / "board"),
                              constraints=Constraints(max_accuracy_drop=0.05))
    run = deploy.deploy(device, source, made, FAST)
    shifted = fidelity(run, "shifted").output("prob_map")
    assert shifted.cosine_mean > 0.95          # the generic figure would have let it through
    assert shifted.score < 0.9                  # the map's regions moved
    verdict = run.decision.variant("shifted")
    assert not verdict.feasible and "IoU@0.5 of output 'prob_map'" in verdict.reason
    assert run.decision.chosen == "fp32"


def test_several_outputs_are_each_judged_and_a_users_metric_runs_on_the_host(tmp_path, host_env, monkeypatch):
    model = models.two_head_detector(tmp_path / "heads.onnx")
    data = models.images_data(tmp_path / "heads.npz", (3, 16, 16))
    (tmp_path / "box_metric.py").write_text(
        "import numpy as np\n"
        "def close_boxes(reference, output):\n"
        "    return float((np.abs(reference - output).max(axis=-1) < 0.05).mean())\n")
    monkeypatch.chdir(tmp_path)
    table = {"scores": "classification"}
    run = deployed(cli(host_env, devices_file(tmp_path), "deploy", str(model), "--data", str(data), "-d", "local",
                       "--json", "--recipe", str(recipe(tmp_path, "fp16", "int8-static", metrics_table=table)),
                       "--metric", "boxes=box_metric:close_boxes", *FAST_FLAGS))
    for name in ("fp32", "fp16", "int8-static"):
        result = fidelity(run, name)
        scores, boxes = result.output("scores"), result.output("boxes")
        assert scores.metric == "classification" and scores.chosen_by == "recipe recipe.toml"
        assert boxes.metric == "custom" and boxes.measured and 0.0 <= boxes.score <= 1.0, boxes
        assert run.variant(name).measurement.latency_pass.returned_outputs is None   # used, then dropped
    assert fidelity(run, "fp32").output("boxes").score == 1.0


def test_a_metric_that_does_not_fit_or_names_no_output_is_one_clear_line(tmp_path, host_env):
    model = models.text_detector(tmp_path / "det.onnx")
    devices = devices_file(tmp_path)
    cases = [("prob_map=classification", "has 32 positions besides the class axis: use sequence"),
             ("missing=map", "which the model does not have (its outputs: prob_map)"),
             ("prob_map=nosuch", "unknown metric 'nosuch'"),
             ("prob_map=no_such_module:fn", "cannot import no_such_module")]
    for metric, message in cases:
        result = cli(host_env, devices, "compress", str(model), "--input-shape", "image=1,3,32,32",
                     "--metric", metric)
        assert result.returncode == 2, (metric, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (metric, result.stderr)
        errors = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
        assert len(errors) == 1, (metric, result.stderr)


@pytest.mark.parametrize("text", ["map,threshold=nan", "sequence,blank=x", "map,blank=0", "cosine,axis"])
def test_bad_metric_options_are_refused(text):
    with pytest.raises(Exception) as caught:
        metrics.parse(["out=" + text])
    assert caught.value.__class__.__name__ == "UsageError"
