"""The console command as a user runs it: real demo model, real agent, real store."""

import inspect
import json
import os

import pytest

from edgeshrink.host.runs import Run

from .conftest import FAST_FLAGS, REPO, cli, runs_in



@pytest.fixture
def devices_file(tmp_path):
    path = tmp_path / "devices.toml"
    path.write_text((REPO / "devices.toml").read_text())
    return path


@pytest.mark.slow
def test_deploy_demo_decides_installs_and_reuses_the_cache(demo, host_env, devices_file):
    first = cli(host_env, devices_file, "deploy", "--device", "local", *FAST_FLAGS)
    assert first.returncode == 0, first.stderr
    assert "Decision: " in first.stdout and "Installed" in first.stdout
    for name in ("fp32", "fp16", "int8-dynamic", "int8-static"):
        assert name in first.stdout
    assert "pushed 5 file(s)" in first.stderr

    second = cli(host_env, devices_file, "deploy", "--device", "local", "--json", *FAST_FLAGS)
    assert second.returncode == 0, second.stderr
    assert "compress:" not in second.stderr  # every variant came from the cache
    run = json.loads(second.stdout)
    assert run["ok"] is True
    assert run["push"]["bytes_sent"] == 0 and run["push"]["skipped"] == 5
    decision = run["decision"]
    assert decision["chosen"] in {v["name"] for v in run["variants"]}
    assert decision["install"]["installed"] is True
    fp32 = Run.from_dict(run).variant("fp32").measurement
    assert fp32.figure("accuracy").value > 0.9  # the demo really learned the digits
    assert len(fp32.samples_ms) >= 20
    assert run["facts"]["runtimes"]["onnxruntime"]["available"]
    assert runs_in(host_env["EDGESHRINK_DB"]) == 2

    status = cli(host_env, devices_file, "status", "--device", "local", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["ok"] is True
    assert json.loads(status.stdout)["active"].startswith(decision["chosen"] + "-")

    # The stored run can be decided again; a stricter device then has no feasible variant.
    devices_file.write_text(devices_file.read_text().replace("max_latency_ms = 100.0", "max_latency_ms = 0.001"))
    strict = cli(host_env, devices_file, "select", "--device", "local")
    assert strict.returncode == 9
    assert "no variant" in strict.stderr and "infeasible: p90" in strict.stdout
    strict_json = cli(host_env, devices_file, "select", "--device", "local", "--json")
    assert strict_json.returncode == 9
    failure = json.loads(strict_json.stdout)
    assert failure["ok"] is False and failure["error"]["code"] == "constraint"
    assert failure["error"]["exit_code"] == 9 and "no variant" in failure["error"]["message"]
    assert failure["run"] == run["id"] and failure["decision"]["chosen"] is None


@pytest.mark.slow
def test_no_feasible_variant_exits_9_stores_the_run_and_installs_nothing(demo, host_env, devices_file):
    devices_file.write_text(devices_file.read_text().replace("max_model_size_mb = 64.0", "max_model_size_mb = 0.1"))
    result = cli(host_env, devices_file, "deploy", "--device", "local", "--json", *FAST_FLAGS)
    assert result.returncode == 9, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("edgeshrink: error:")]
    assert len(error_lines) == 1 and "no variant meets the constraints" in error_lines[0]
    failure = json.loads(result.stdout)  # the whole of stdout is one document
    assert failure["ok"] is False
    assert failure["error"]["code"] == "constraint" and failure["error"]["exit_code"] == 9
    assert failure["id"] == 1 and failure["status"] == "no_feasible_variant"  # the stored run comes with it
    verdicts = failure["decision"]["variants"]
    assert failure["decision"]["chosen"] is None and len(verdicts) == 4
    assert all("file size" in v["reason"] for v in verdicts)
    assert runs_in(host_env["EDGESHRINK_DB"]) == 1
    status = cli(host_env, devices_file, "status", "--device", "local", "--json")
    assert json.loads(status.stdout)["active"] is None


@pytest.mark.parametrize("case, expected_code, words", [
    ("unknown-device", 3, "no device named 'pi9'"),
    ("broken-devices", 3, "not valid TOML"),
    ("missing-model", 8, "model file not found"),
    ("corrupt-model", 8, "is not a valid ONNX model"),
    ("bad-settings", 2, "min_runs <= max_runs"),
    ("no-runs", 2, "need 1 <= min_runs"),
    ("too-many-runs", 2, "max_runs must be <= 100000"),
    ("fractional-runs-in-devices-file", 3, "key 'bench.min_runs' must be an integer, got 1.5"),
])
def test_bad_input_is_one_line_with_an_exit_code_and_touches_nothing(tmp_path, host_env, devices_file,
                                                                      case, expected_code, words):
    from edgeshrink.host.lab.models import tiny_convnet

    model_args = [str(tiny_convnet(tmp_path / "tiny.onnx"))]
    device = "local"
    extra = []
    if case == "unknown-device":
        device = "pi9"
    elif case == "broken-devices":
        devices_file.write_text("[devices.local\nthreads = 1\n")
    elif case == "missing-model":
        model_args = [str(tmp_path / "nope.onnx")]
    elif case == "corrupt-model":
        corrupt = tmp_path / "corrupt.onnx"
        corrupt.write_bytes(b"\x08\x07" + os.urandom(200))
        model_args = [str(corrupt)]
    elif case == "bad-settings":
        extra = ["--min-runs", "50", "--max-runs", "10"]
    elif case == "no-runs":
        extra = ["--min-runs", "0"]
    elif case == "too-many-runs":
        extra = ["--max-runs", "200000"]
    elif case == "fractional-runs-in-devices-file":
        devices_file.write_text(devices_file.read_text() + "\n[devices.local.bench]\nmin_runs = 1.5\n")
    # A cache of its own, so that "nothing was compressed" can be seen.
    env = dict(host_env, EDGESHRINK_CACHE=str(tmp_path / "cache"))
    result = cli(env, devices_file, "deploy", *model_args, "--device", device, "--json", *extra)
    assert result.returncode == expected_code, (result.stdout, result.stderr)
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("edgeshrink: error:")]
    assert len(error_lines) == 1 and words in error_lines[0]
    assert "Traceback" not in result.stderr and "compress:" not in result.stderr
    failure = json.loads(result.stdout)
    assert failure == {"ok": False, "error": {"code": failure["error"]["code"], "exit_code": expected_code,
                                              "message": error_lines[0][len("edgeshrink: error: "):]}}
    assert not list((tmp_path / "cache").rglob("*.onnx"))     # nothing compressed
    assert not os.path.exists(env["EDGESHRINK_DB"])            # results store untouched
    assert not os.path.exists(env["EDGESHRINK_LOCAL_ROOT"])    # device untouched


def test_third_party_model_without_data_warns_and_measures_fidelity(tmp_path, host_env, devices_file):
    from edgeshrink.host.lab.models import tiny_convnet

    model = tiny_convnet(tmp_path / "tiny.onnx")
    result = cli(host_env, devices_file, "deploy", str(model), "--device", "local", "--json", *FAST_FLAGS)
    assert result.returncode == 0, result.stderr
    assert "synthetic inputs" in result.stderr
    run = json.loads(result.stdout)
    int8 = Run.from_dict(run).variant("int8-static").measurement
    assert int8.figure("cosine_mean").value > 0.99
    assert "no labels" in int8.figure("accuracy").missing  # no labels: no accuracy, and it says why
    assert any("judged by top-1 agreement (default for output" in note for note in run["decision"]["notes"])


def test_compress_and_devices_list(tmp_path, host_env, devices_file):
    from edgeshrink.host.lab.models import tiny_convnet

    model = tiny_convnet(tmp_path / "tiny.onnx")
    result = cli(host_env, devices_file, "compress", str(model), "--json")
    assert result.returncode == 0, result.stderr
    names = [v["name"] for v in json.loads(result.stdout)["variants"]]
    assert names == ["fp32", "fp16", "int8-dynamic", "int8-static"]
    listing = cli(host_env, devices_file, "devices", "list", "--json")
    assert json.loads(listing.stdout)["devices"]["local"]["connection"] == "local"


@pytest.mark.slow
def test_deploy_with_a_combined_recipe(tmp_path, demo, host_env, devices_file):
    recipe = tmp_path / "combined.toml"
    recipe.write_text('[[variant]]\nname = "p50-kd-int8"\nsteps = [{ step = "prune", ratio = 0.5 },'
                      ' { step = "distill", epochs = 1 }, { step = "int8-static" }]\n')
    result = cli(host_env, devices_file, "deploy", "--device", "local", "--recipe", str(recipe), "--json",
                 *FAST_FLAGS)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert [v["name"] for v in run["variants"]] == ["fp32", "p50-kd-int8"]
    combined = next(v for v in run["variants"] if v["name"] == "p50-kd-int8")
    assert [s["technique"] for s in combined["manifest"]["lineage"]] == ["prune", "distill", "int8-static"]
    fp32 = next(v for v in run["variants"] if v["name"] == "fp32")
    assert combined["manifest"]["macs"] < 0.5 * fp32["manifest"]["macs"]
    assert Run.from_dict(run).variant("p50-kd-int8").measurement.figure("accuracy").value > 0.9
    assert run["decision"]["chosen"] in ("fp32", "p50-kd-int8")


def _ended(command, capsys, **values):
    """Run a wrapped command in-process: its exit code, its one JSON document, its stderr."""
    import typer

    with pytest.raises(typer.Exit) as ended:
        command(**values)
    captured = capsys.readouterr()
    return ended.value.exit_code, json.loads(captured.out), captured.err


def test_interrupts_bugs_and_fleet_failures_still_print_one_json_document(capsys):
    from edgeshrink.host.cli import common
    from edgeshrink.shared.errors import ConnectError, ConstraintError

    @common.command
    def interrupted(as_json: bool = False):
        raise KeyboardInterrupt

    @common.command
    def buggy(as_json: bool = False):
        raise ValueError("boom")

    @common.command
    def two_boards_failed(as_json: bool = False):
        raise common.CommandFailed([ConstraintError("board a: nothing fits"), ConnectError("board b: unreachable")],
                                   {"devices": [{"device": "a"}, {"device": "b"}]})

    code, document, stderr = _ended(interrupted, capsys, as_json=True)
    assert code == 130 and "interrupted" in stderr
    assert document == {"ok": False, "error": {"code": "interrupted", "message": "interrupted", "exit_code": 130}}

    code, document, stderr = _ended(buggy, capsys, as_json=True)
    assert code == 1 and "internal error: ValueError: boom" in stderr
    assert document["ok"] is False and document["error"]["code"] == "internal"
    assert document["error"]["exit_code"] == 1 and "boom" in document["error"]["message"]

    code, document, stderr = _ended(two_boards_failed, capsys, as_json=True)
    assert code == 9  # the first failing device decides
    assert stderr.count("edgeshrink: error:") == 2 and "board b: unreachable" in stderr
    assert document["ok"] is False and document["error"]["code"] == "constraint"
    assert [d["device"] for d in document["devices"]] == ["a", "b"]


def test_option_groups_become_options_and_refuse_a_name_declared_twice():
    from dataclasses import dataclass

    from edgeshrink.host.cli.option_groups import expand_option_groups

    @dataclass(frozen=True)
    class Window:
        start: int = 0
        stop: int = 10

    def span(window: Window, verbose: bool = False):
        return window, verbose

    expanded = expand_option_groups(span)
    assert list(inspect.signature(expanded).parameters) == ["start", "stop", "verbose"]
    assert expanded(start=2, stop=5, verbose=True) == (Window(2, 5), True)

    def clash(window: Window, stop: int = 3):
        return window, stop

    with pytest.raises(TypeError, match="stop"):
        expand_option_groups(clash)


def test_control_characters_from_a_file_name_or_a_board_never_reach_the_terminal(tmp_path, host_env, devices_file):
    from edgeshrink.host import render
    from edgeshrink.host.runs import VariantResult
    from edgeshrink.shared.measurement import VariantError, VariantMeasurement

    hostile = "model\x1b]0;owned\x07\x1b[2J\x9b.onnx"
    result = cli(host_env, devices_file, "compress", str(tmp_path / hostile))
    assert result.returncode == 8, result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr and "\x9b" not in result.stderr
    assert "model\\x1b]0;owned\\x07\\x1b[2J\\x9b.onnx" in result.stderr

    # An error message a board sent, shown in the results table.
    board_said = VariantMeasurement(variant="fp32", ok=False, error=VariantError("model", "bad\x1b[31m\rmodel"))
    with render.out.capture() as captured:
        render.out.print(render.results_table([VariantResult("fp32\x1b[5m", {"size_bytes": 1}, board_said)]))
    assert "\x1b" not in captured.get() and "fp32\\x1b[5m" in captured.get()
