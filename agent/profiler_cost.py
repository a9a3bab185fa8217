"""What onnxruntime's profiler itself costs per node, measured on this board.

With profiling on, onnxruntime formats every node's input and output shapes into text
and records an event per node: a few microseconds a node, whatever the operator. Part
of it falls inside the node's own kernel event (the shapes are formatted between the
event's two timestamps) and the rest between kernels. On a model of many small nodes
that is a tenth of a run or more: the operators' raw sum falls short of the profiled
run, and every small operator looks bigger than it is.

Two chains of nodes that do next to nothing (agent/chain_model.py: 10 and 110 Relu
nodes on four numbers) are timed plain and profiled, in the same process with the same
threads as the variant. Per node, from the difference between the chains (so a run's
fixed costs cancel):

- plain run: the executor's own per-node work, plus a kernel that does almost nothing;
- profiled run: that plus the profiler's cost, which is the difference;
- kernel events: the profiler's cost inside them, plus the calibration kernel's own
  work, which lies somewhere within the plain per-node time. Half of it is taken,
  and the other half is the stated uncertainty.

Standard library only (numpy comes with the runtime): the agent runs on Python 3.8.
"""

import statistics

from ..shared.errors import first_line
from .chain_model import INPUT, SHAPE, relu_chain
from .op_profile import aggregate, profile_events

CHAIN_NODES = (10, 110)
WARMUP_RUNS = 10


def calibration_runs(runs):
    """Runs per chain: as many as the variant's profile, within [30, 100]."""
    return max(30, min(int(runs), 100))


def _chain_point(backend, nodes, threads, runs, profile_prefix, timed):
    import numpy as np

    model = relu_chain(nodes)
    feeds = {INPUT: np.ones(SHAPE, dtype=np.float32)}
    plain = backend.load(model, threads)
    timed(plain, feeds, WARMUP_RUNS)
    plain_ms = timed(plain, feeds, runs)
    del plain
    profiled = backend.load(model, threads, profile_prefix=profile_prefix)
    timed(profiled, feeds, runs + 1)      # the first profiled run is dropped, as for a variant
    summary = aggregate(profile_events(profiled))
    if summary is None:
        return None
    return {"plain_ms": statistics.mean(plain_ms), "kernels_ms": summary["op_sum_ms"],
            "run_ms": summary["mean_run_ms"], "nodes": summary["nodes_per_run"]}


def cost_from(short, long, runs):
    """(cost dict, None) from the two chains' points, or (None, why not)."""
    if short is None or long is None:
        return None, "the runtime's profile of a calibration chain recorded no run"
    nodes = long["nodes"] - short["nodes"]
    if nodes <= 0:
        return None, "the calibration chains ran %.0f and %.0f nodes" % (short["nodes"], long["nodes"])

    def per_node_us(key):
        return 1000.0 * (long[key] - short[key]) / nodes

    executor, kernels, run = per_node_us("plain_ms"), per_node_us("kernels_ms"), per_node_us("run_ms")
    profiler = run - executor
    if profiler <= 0 or kernels <= 0:
        return None, ("the calibration chains gave no positive profiler cost (%.2f us per node profiled, "
                      "%.2f us plain): the board was too noisy to tell" % (run, executor))
    in_kernel = min(profiler, max(0.0, kernels - executor / 2.0))
    return {"per_node_us": profiler, "in_kernel_us": in_kernel, "in_kernel_uncertainty_us": max(0.0, executor) / 2.0,
            "executor_us": executor, "chain_nodes": [int(round(short["nodes"])), int(round(long["nodes"]))],
            "runs": runs}, None


def measure(backend, threads, runs, profile_prefix, timed):
    """(cost dict, None) measured now with ``threads``, or (None, why not). ``timed`` is
    the measuring child's timing loop: (runner, feeds, runs) -> [ms]."""
    runs = calibration_runs(runs)
    try:
        short, long = (_chain_point(backend, nodes, threads, runs, profile_prefix, timed) for nodes in CHAIN_NODES)
    except Exception as exc:   # the variant's own profile stands without the correction
        return None, "the calibration chains could not run: %s" % first_line(exc)
    return cost_from(short, long, runs)
