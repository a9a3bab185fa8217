"""A variant's per-operator profile as the agent reports it (agent/op_profile.py makes it
from the runtime's profiler; the host type-checks it before trusting a board's numbers)."""

from dataclasses import dataclass, field
from typing import List, Optional

from .records import Record


@dataclass
class OperatorTime(Record):
    op: str = ""
    ms_per_run: float = 0.0             # the profiler's own bookkeeping taken out, when it was measured
    nodes: int = 0
    share: Optional[float] = None       # of the operators' sum
    raw_ms_per_run: Optional[float] = None   # as the profiler timed it
    # Element types its kernels' inputs had ("float", "float16", "int8", ...), as the
    # runtime's profiler recorded them; None when it did not.
    input_types: Optional[List[str]] = None


@dataclass
class NodeTime(Record):
    node: str = ""
    op: str = ""
    ms_per_run: float = 0.0
    share: Optional[float] = None
    raw_ms_per_run: Optional[float] = None


@dataclass
class ProfilerCost(Record):
    """The profiler's own cost per node, measured on the board with chains of do-nothing
    nodes (agent/profiler_cost.py)."""

    per_node_us: float = 0.0             # profiled run minus plain run, per node
    in_kernel_us: float = 0.0            # of which inside each node's kernel event
    in_kernel_uncertainty_us: float = 0.0
    executor_us: float = 0.0             # the plain run per node: the executor's own work
    chain_nodes: List[int] = field(default_factory=list)
    runs: int = 0


@dataclass
class OperatorProfile(Record):
    available: bool = False
    reason: Optional[str] = None            # why not available
    runs: int = 0                           # profiled runs kept (the first is dropped)
    run_ms: Optional[float] = None          # median profiled run, as the runtime timed it
    mean_run_ms: Optional[float] = None
    op_sum_ms: Optional[float] = None       # the operators' mean time per run, summed (profiler cost out)
    raw_op_sum_ms: Optional[float] = None   # the same as the profiler timed them
    run_less_profiler_ms: Optional[float] = None  # mean_run_ms less the profiler's cost for each node run
    coverage: Optional[float] = None        # op_sum_ms / run_less_profiler_ms (or mean_run_ms, not measured)
    raw_coverage: Optional[float] = None    # raw_op_sum_ms / mean_run_ms
    nodes_per_run: Optional[float] = None   # kernels run per profiled run
    between_per_node_us: Optional[float] = None   # (mean_run_ms - raw_op_sum_ms) per kernel run, in microseconds
    profiler_cost: Optional[ProfilerCost] = None
    profiler_cost_reason: Optional[str] = None    # why it was not measured
    plain_p50_ms: Optional[float] = None    # the same runs without the profiler
    profiled_p50_ms: Optional[float] = None
    overhead: Optional[float] = None        # profiled_p50_ms / plain_p50_ms
    plain_mean_ms: Optional[float] = None
    unprofiled_coverage: Optional[float] = None   # op_sum_ms / plain_mean_ms
    by_op_type: List[OperatorTime] = field(default_factory=list)
    top_nodes: List[NodeTime] = field(default_factory=list)
    runtime_settings: dict = field(default_factory=dict)
