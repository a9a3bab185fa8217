"""The profiler's own per-node cost: the calibration chain is a valid ONNX model that
onnxruntime runs node by node, the slopes come out of two chains, and a measured cost
comes out of every kernel event and out of the run the operators are set against."""

import json
import time

import numpy as np
import onnx
import onnxruntime
import pytest

from edgeshrink.agent.chain_model import INPUT, SHAPE, relu_chain
from edgeshrink.agent.op_profile import aggregate
from edgeshrink.agent.profiler_cost import cost_from, measure

from .test_profile import node_event, run_event


@pytest.mark.parametrize("nodes", [1, 10, 110])
def test_the_chain_is_a_valid_onnx_model_onnxruntime_runs_node_by_node(tmp_path, nodes):
    model = onnx.load_from_string(relu_chain(nodes))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Relu"] * nodes
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == list(SHAPE)
    options = onnxruntime.SessionOptions()
    options.enable_profiling, options.profile_file_prefix = True, str(tmp_path / "chain")
    session = onnxruntime.InferenceSession(relu_chain(nodes), options, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {INPUT: np.array([-1.0, 2.0, -3.0, 4.0], np.float32).reshape(SHAPE)})
    assert out.ravel().tolist() == [0.0, 2.0, 0.0, 4.0]
    session.run(None, {INPUT: np.ones(SHAPE, np.float32)})
    with open(session.end_profiling()) as handle:
        summary = aggregate(json.load(handle))
    # The optimiser keeps every node: the calibration's node count is what it says.
    assert summary["nodes_per_run"] == nodes


def test_a_chain_needs_a_node():
    with pytest.raises(ValueError):
        relu_chain(0)


def run_ms(runner, feeds):
    start = time.perf_counter()
    runner.run(feeds)
    return (time.perf_counter() - start) * 1000.0


def point(nodes, plain_us, kernels_us, run_us):
    return {"nodes": nodes, "plain_ms": plain_us / 1000.0, "kernels_ms": kernels_us / 1000.0,
            "run_ms": run_us / 1000.0}


def test_the_cost_is_the_slope_between_the_chains():
    # Per node: 0.2 us plain, 2.1 us of kernel events, 5.2 us profiled; 30 us of fixed cost a run.
    cost, why = cost_from(point(10, 32, 21, 82), point(110, 52, 231, 602), 50)
    assert why is None
    assert abs(cost["per_node_us"] - 5.0) < 1e-9 and abs(cost["executor_us"] - 0.2) < 1e-9
    # The chain's own kernel work is somewhere within the plain 0.2 us: half is taken, half is the doubt.
    assert abs(cost["in_kernel_us"] - 2.0) < 1e-9 and abs(cost["in_kernel_uncertainty_us"] - 0.1) < 1e-9
    assert cost["chain_nodes"] == [10, 110] and cost["runs"] == 50


@pytest.mark.parametrize("short, long, says", [
    (None, point(110, 52, 231, 602), "recorded no run"),
    (point(10, 32, 21, 82), point(10, 32, 21, 82), "ran 10 and 10 nodes"),
    (point(10, 32, 21, 82), point(110, 40, 200, 60), "too noisy"),
])
def test_a_calibration_that_tells_nothing_says_why(short, long, says):
    cost, why = cost_from(short, long, 30)
    assert cost is None and says in why


def test_a_measured_cost_comes_out_of_each_kernel_event_and_out_of_the_run():
    events = [run_event(0, 5000), node_event("conv1", "Conv", 10, 4000),           # dropped
              run_event(10000, 1000), node_event("conv1", "Conv", 10010, 600), node_event("fc", "Gemm", 10700, 200),
              node_event("flat", "Flatten", 10950, 2),
              run_event(20000, 1200), node_event("conv1", "Conv", 20010, 800), node_event("fc", "Gemm", 20900, 200),
              node_event("flat", "Flatten", 21150, 4)]
    cost = {"per_node_us": 50.0, "in_kernel_us": 20.0}
    summary = aggregate(events, cost=cost)
    rows = {r["op"]: r for r in summary["by_op_type"]}
    assert abs(rows["Conv"]["ms_per_run"] - 0.68) < 1e-12 and rows["Conv"]["raw_ms_per_run"] == 0.7
    assert abs(rows["Gemm"]["ms_per_run"] - 0.18) < 1e-12
    # A node quicker than the bookkeeping counts as no time, never as negative time.
    assert rows["Flatten"]["ms_per_run"] == 0.0 and rows["Flatten"]["raw_ms_per_run"] == 0.003
    assert abs(summary["op_sum_ms"] - 0.86) < 1e-12 and abs(summary["raw_op_sum_ms"] - 0.903) < 1e-12
    # Three nodes a run at 50 us of profiler cost each: 0.15 ms of the 1.1 ms mean run.
    assert abs(summary["run_less_profiler_ms"] - 0.95) < 1e-12
    assert abs(summary["coverage"] - 0.86 / 0.95) < 1e-12 and abs(summary["raw_coverage"] - 0.903 / 1.1) < 1e-12
    assert abs(sum(r["share"] for r in summary["by_op_type"]) - 1) < 1e-12
    plain = aggregate(events)
    assert plain["run_less_profiler_ms"] is None and plain["op_sum_ms"] == plain["raw_op_sum_ms"]
    assert plain["coverage"] == plain["raw_coverage"]


def test_a_calibration_that_cannot_run_says_why_and_measures_nothing(tmp_path):
    from edgeshrink.agent import backends

    def timed(runner, feeds, runs):
        return [run_ms(runner, feeds) for _ in range(runs)]

    # The profile file cannot be written: the real runtime fails, the calibration says so.
    cost, why = measure(backends.get("onnxruntime"), 1, 30, str(tmp_path / "missing" / "profile"), timed)
    assert cost is None and why.startswith("the calibration chains could not run: ") and "missing" in why
    cost, why = measure(backends.get("onnxruntime"), 1, 30, str(tmp_path / "profile"), timed)
    assert why is None and cost["chain_nodes"] == [10, 110] and cost["runs"] == 30
    assert 0 < cost["in_kernel_us"] <= cost["per_node_us"] and not list(tmp_path.iterdir())   # files removed
