"""`edgeshrink profile`: the board's inventory and each variant's per-operator time, from
the runtime's own profiler through the real agent."""

import json

import pytest

from hypothesis import given
from hypothesis import strategies as st

from edgeshrink.agent.op_profile import aggregate
from edgeshrink.host.lab.models import tiny_convnet

from .conftest import FAST_FLAGS, REPO, cli

FIXTURES = REPO / "tests" / "fixtures" / "tflite"


def run_event(ts, dur):
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}


def node_event(name, op, ts, dur):
    return {"cat": "Node", "name": name + "_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}


def test_the_first_run_is_dropped_and_times_are_per_run():
    events = [run_event(0, 5000), node_event("conv1", "Conv", 10, 4000),           # the first run: dropped
              run_event(10000, 1000), node_event("conv1", "Conv", 10010, 600), node_event("fc", "Gemm", 10700, 200),
              run_event(20000, 1200), node_event("conv1", "Conv", 20010, 800), node_event("fc", "Gemm", 20900, 200),
              {"cat": "Node", "name": "conv1_fence_before", "ts": 10005, "dur": 0},
              {"cat": "Session", "name": "session_initialization", "ts": 0, "dur": 99999}]
    summary = aggregate(events)
    assert summary["runs"] == 2 and summary["run_ms"] == 1.1 and summary["mean_run_ms"] == 1.1
    assert [(r["op"], r["ms_per_run"], r["nodes"]) for r in summary["by_op_type"]] == [("Conv", 0.7, 1),
                                                                                      ("Gemm", 0.2, 1)]
    assert abs(summary["op_sum_ms"] - 0.9) < 1e-12 and abs(summary["coverage"] - 0.9 / 1.1) < 1e-12
    # Two kernels a run; 0.2 ms of each 1.1 ms run is between them: 100 us per node.
    assert summary["nodes_per_run"] == 2 and abs(summary["between_per_node_us"] - 100.0) < 1e-9
    assert abs(sum(r["share"] for r in summary["by_op_type"]) - 1) < 1e-12
    top = summary["top_nodes"][0]
    assert (top["node"], top["op"], top["ms_per_run"]) == ("conv1", "Conv", 0.7)
    assert abs(top["share"] - 0.7 / 0.9) < 1e-12
    assert aggregate([run_event(0, 10)]) is None            # only the dropped run


def test_each_operator_carries_the_input_types_its_kernels_ran_on():
    def typed(name, op, ts, types):
        event = node_event(name, op, ts, 100)
        event["args"]["input_type_shape"] = [{t: [1, 4]} for t in types]
        return event

    events = [run_event(0, 1000), run_event(1000, 1000),
              typed("cast", "Cast", 1010, ["float16"]), typed("conv", "Conv", 1200, ["float", "float", "float"]),
              typed("conv2", "Conv", 1400, ["float16"]), node_event("gemm", "Gemm", 1600, 100)]
    rows = {row["op"]: row for row in aggregate(events)["by_op_type"]}
    assert rows["Conv"]["input_types"] == ["float", "float16"] and rows["Cast"]["input_types"] == ["float16"]
    assert rows["Gemm"]["input_types"] is None               # the profiler did not say


_values = st.one_of(st.none(), st.integers(-5, 10 ** 6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20))


@given(st.lists(st.dictionaries(st.sampled_from(["cat", "name", "ts", "dur", "args"]), _values), max_size=30))
def test_any_event_list_aggregates_or_is_none(events):
    summary = aggregate(events)
    assert summary is None or summary["runs"] >= 1


def test_profile_prints_the_inventory_and_each_variants_operators(tmp_path, host_env):
    # Wide and large enough that the convolution is clearly the most expensive operator:
    # at 8 channels on 16x16 the Conv and the pooling are both a few microseconds, and
    # either can come first once the profiler's cost is taken out.
    model = tiny_convnet(tmp_path / "conv.onnx", channels=32, size=64)
    recipe = tmp_path / "one.toml"
    recipe.write_text('[[variant]]\nname = "int8"\nsteps = [{ step = "int8-dynamic" }]\n')
    result = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", str(model), "--recipe", str(recipe),
                 "--runs", "30", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["profile"]
    assert report["facts"]["cpu_features"]["source"]
    profiles = {v["name"]: v["profile"] for v in report["variants"]}
    assert set(profiles) == {"fp32", "int8"}
    assert profiles["fp32"]["by_op_type"][0]["op"] == "Conv"
    assert "ConvInteger" in {row["op"] for row in profiles["int8"]["by_op_type"]}
    for profile in profiles.values():
        assert profile["available"] and profile["runs"] == 30
        assert abs(sum(row["share"] for row in profile["by_op_type"]) - 1) < 1e-9
        assert profile["overhead"] > 0.5 and profile["plain_p50_ms"] > 0
        assert profile["nodes_per_run"] == sum(row["nodes"] for row in profile["by_op_type"])
        # The profiler's cost per node was measured on the board and taken out of the
        # kernel events and out of the run they are set against; the raw figures stay.
        cost = profile["profiler_cost"]
        assert cost["chain_nodes"] == [10, 110] and 0 < cost["in_kernel_us"] <= cost["per_node_us"], cost
        assert profile["op_sum_ms"] < profile["raw_op_sum_ms"] < profile["mean_run_ms"]
        expected_run = profile["mean_run_ms"] - profile["nodes_per_run"] * cost["per_node_us"] / 1000.0
        assert abs(profile["run_less_profiler_ms"] - expected_run) < 1e-9
        assert abs(profile["coverage"] - profile["op_sum_ms"] / profile["run_less_profiler_ms"]) < 1e-9
        assert 0.3 < profile["coverage"] < 1.5 and 0.3 < profile["raw_coverage"] <= 1.0, profile
        assert profile["unprofiled_coverage"] > 0.3 and profile["between_per_node_us"] >= 0
        for row in profile["by_op_type"]:
            assert row["ms_per_run"] <= row["raw_ms_per_run"]
    human = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", str(model), "--runs", "5")
    assert human.returncode == 0, human.stderr
    assert "CPU features" in human.stdout and "Conv" in human.stdout and "profiler overhead" in human.stdout
    assert "input types" in human.stdout and "float" in human.stdout
    assert "the profiler's own cost, measured on this board" in human.stdout and "as the profiler timed" in human.stdout


def test_a_tflite_variant_says_why_it_has_no_operator_profile(host_env):
    result = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", str(FIXTURES / "fp32.tflite"), "--runs",
                 "5", "--json", "--min-runs", "5", "--min-time", "0")
    assert result.returncode == 0, result.stderr
    variants = json.loads(result.stdout)["profile"]["variants"]
    assert variants and all(not v["profile"]["available"] and "per-operator" in v["profile"]["reason"]
                            for v in variants if v["profile"])


def test_profile_active_profiles_what_is_installed(tmp_path, host_env, tiny_model):
    nothing = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", "--active")
    assert nothing.returncode == 2 and "no active deployment" in nothing.stderr
    deployed = cli(host_env, REPO / "devices.toml", "deploy", "-d", "local", str(tiny_model), "--json",
                   *FAST_FLAGS)
    assert deployed.returncode == 0, deployed.stderr
    chosen = json.loads(deployed.stdout)["decision"]["chosen"]
    active = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", "--active", "--runs", "10", "--json")
    assert active.returncode == 0, active.stderr
    variants = json.loads(active.stdout)["profile"]["variants"]
    assert [v["name"] for v in variants] == [chosen] and variants[0]["profile"]["available"]
    assert json.loads(active.stdout)["profile"]["sustained"] is None      # only when asked
    both = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", "--active", str(tiny_model))
    assert both.returncode == 2 and "--active" in both.stderr

    # The sustained mode after the profiles, on the installed variant, in the same session.
    sustained = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", "--active", "--runs", "5",
                    "--sustained", "3", "--bucket", "1", "--json")
    assert sustained.returncode == 0, sustained.stderr
    run = json.loads(sustained.stdout)["profile"]["sustained"]
    assert run["variant"] == chosen and len(run["buckets"]) >= 2 and all(b["n"] > 0 for b in run["buckets"])
    human = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", "--active", "--runs", "5",
                "--sustained", "2")
    assert human.returncode == 0, human.stderr
    assert "profiler overhead" in human.stdout and "cold" in human.stdout


@pytest.mark.parametrize("args, message", [
    (["--variant", "fp32"], "--variant and --bucket go with --sustained"),
    (["--bucket", "2"], "--variant and --bucket go with --sustained"),
    (["--active", "--sustained", "2", "--variant", "fp32"], "takes no --variant"),
    (["--sustained", "2", "--variant", "nope"], "no variant named 'nope' could be made"),
])
def test_profile_refuses_a_sustained_request_it_cannot_run_before_the_board_spends_time(host_env, tiny_model,
                                                                                        args, message):
    model = [] if "--active" in args else [str(tiny_model)]
    result = cli(host_env, REPO / "devices.toml", "profile", "-d", "local", *model, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in result.stderr
    assert "profiler overhead" not in result.stdout
