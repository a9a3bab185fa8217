"""Where a variant's time goes, operator by operator, from onnxruntime's own profiler.

onnxruntime writes one JSON event per node execution ("cat": "Node", name
"<node>_kernel_time", args.op_name) and one per run ("cat": "Session", "model_run").
Node events are assigned to the run whose window holds them; the first run is dropped
(it pays for allocations and lazy kernel set-up a steady state never sees). Times are
reported per run, so the operators' sum can be set against the profiled run's own
latency: what the sum leaves out is the runtime's work between kernels. The profiler's
own bookkeeping, measured on the board (agent/profiler_cost.py), is taken out of both.

Standard library only: the agent runs on the board's Python 3.8.
"""

import json
import os
import statistics

KERNEL_SUFFIX = "_kernel_time"
TOP_NODES = 15


def _runs(events):
    """[(start_us, end_us)] of each model_run, in order."""
    runs = [(e["ts"], e["ts"] + e["dur"]) for e in events
            if e.get("cat") == "Session" and e.get("name") == "model_run"
            and isinstance(e.get("ts"), (int, float)) and isinstance(e.get("dur"), (int, float))]
    return sorted(runs)


def _kernel_events(events):
    for event in events:
        name = event.get("name")
        if event.get("cat") != "Node" or not isinstance(name, str) or not name.endswith(KERNEL_SUFFIX):
            continue
        if not isinstance(event.get("ts"), (int, float)) or not isinstance(event.get("dur"), (int, float)):
            continue
        args = event.get("args") if isinstance(event.get("args"), dict) else {}
        yield name[:-len(KERNEL_SUFFIX)], str(args.get("op_name") or "?"), event["ts"], event["dur"], \
            _input_types(args)


def _input_types(args):
    """The element types of a kernel's inputs as the profiler recorded them ("float",
    "float16", "int8", ...): whether an fp16 model's Conv really ran in float16, or the
    runtime converted back to float around it. Empty when not recorded."""
    shapes = args.get("input_type_shape")
    if not isinstance(shapes, list):
        return ()
    return tuple(str(name) for entry in shapes if isinstance(entry, dict) for name in entry)


def aggregate(events, drop_first=1, cost=None):
    """{runs, run_ms (median profiled run), mean_run_ms, op_sum_ms, coverage, by_op_type, top_nodes, ...}
    from a profile's events; None when no run was recorded.

    ``cost`` (agent/profiler_cost.py, measured on this board) removes the profiler's own
    bookkeeping: ``in_kernel_us`` from each kernel event, ``per_node_us`` per node from
    the run. The raw figures stay beside the corrected ones."""
    runs = _runs(events)[drop_first:]
    if not runs:
        return None
    totals, executions, op_of, types_of_op = {}, {}, {}, {}
    for node, op, ts, dur, types in _kernel_events(events):
        if any(start <= ts <= end for start, end in runs):
            totals[node] = totals.get(node, 0) + dur
            executions[node] = executions.get(node, 0) + 1
            op_of[node] = op
            types_of_op.setdefault(op, set()).update(types)
    count = float(len(runs))
    durations = [(end - start) / 1000.0 for start, end in runs]
    run_ms, mean_run_ms = statistics.median(durations), sum(durations) / count
    in_kernel_us = cost["in_kernel_us"] if cost else 0.0
    raw_ms = {node: total / 1000.0 / count for node, total in totals.items()}
    # A node quicker than the bookkeeping around it is taken as taking no time, never less.
    node_ms = {node: max(0.0, (total - in_kernel_us * executions[node]) / 1000.0 / count)
               for node, total in totals.items()}
    total_ms, raw_total_ms = sum(node_ms.values()), sum(raw_ms.values())
    nodes_per_run = sum(executions.values()) / count
    # The run the operators are set against: the profiled run, less the profiler's own
    # cost for every node it ran when that cost was measured.
    basis_ms = mean_run_ms - nodes_per_run * cost["per_node_us"] / 1000.0 if cost else mean_run_ms
    by_op = {}
    for node, ms in node_ms.items():
        entry = by_op.setdefault(op_of[node], {"op": op_of[node], "ms_per_run": 0.0, "raw_ms_per_run": 0.0,
                                               "nodes": 0})
        entry["ms_per_run"] += ms
        entry["raw_ms_per_run"] += raw_ms[node]
        entry["nodes"] += 1

    def share(ms):
        return ms / total_ms if total_ms > 0 else None

    op_rows = sorted(by_op.values(), key=lambda row: -row["ms_per_run"])
    for row in op_rows:
        row["share"] = share(row["ms_per_run"])
        row["input_types"] = sorted(types_of_op[row["op"]]) or None   # None: the profiler did not say
    nodes = sorted(node_ms.items(), key=lambda item: -item[1])[:TOP_NODES]
    # Per-run node times are means, so they are set against the mean run.
    # What no kernel accounts for, per kernel run, as the profiler timed it: the same few
    # microseconds for every variant of a model means a per-node cost, not an operator.
    return {"runs": len(runs), "run_ms": run_ms, "mean_run_ms": mean_run_ms,
            "op_sum_ms": total_ms, "raw_op_sum_ms": raw_total_ms,
            "run_less_profiler_ms": basis_ms if cost else None,
            "coverage": total_ms / basis_ms if basis_ms > 0 else None,
            "raw_coverage": raw_total_ms / mean_run_ms if mean_run_ms > 0 else None,
            "nodes_per_run": nodes_per_run,
            "between_per_node_us": (1000.0 * (mean_run_ms - raw_total_ms) / nodes_per_run
                                    if nodes_per_run else None),
            "by_op_type": op_rows,
            "top_nodes": [{"node": node, "op": op_of[node], "ms_per_run": ms, "raw_ms_per_run": raw_ms[node],
                           "share": share(ms)} for node, ms in nodes]}


def profile_events(runner):
    """The events a profiling session recorded; its file is removed."""
    path = runner.end_profiling()
    try:
        with open(path) as handle:
            events = json.load(handle)
    finally:
        os.remove(path)
    return events if isinstance(events, list) else []


def profile_job(root, runs):
    """What a measuring child needs, beyond the variant, to profile it (agent/measure.py)."""
    # Under the agent's root, where it may write; the child removes the file.
    return {"mode": "profile", "runs": int(runs),
            "profile_prefix": os.path.join(root.incoming, "profile-%d" % os.getpid())}
