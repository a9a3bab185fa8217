"""A variant's per-operator profile as the agent reports it (agent/op_profile.py makes it
from the runtime's profiler; the host type-checks it before trusting a board's numbers)."""

from dataclasses import dataclass, field
from typing import List, Optional

from .records import Record


@dataclass
class OperatorTime(Record):
    op: str = ""
    ms_per_run: float = 0.0
    nodes: int = 0
    share: Optional[float] = None       # of the operators' sum


@dataclass
class NodeTime(Record):
    node: str = ""
    op: str = ""
    ms_per_run: float = 0.0
    share: Optional[float] = None


@dataclass
class OperatorProfile(Record):
    available: bool = False
    reason: Optional[str] = None            # why not available
    runs: int = 0                           # profiled runs kept (the first is dropped)
    run_ms: Optional[float] = None          # median profiled run, as the runtime timed it
    mean_run_ms: Optional[float] = None
    op_sum_ms: Optional[float] = None       # the operators' mean time per run, summed
    coverage: Optional[float] = None        # op_sum_ms / mean_run_ms: the rest is between kernels
    nodes_per_run: Optional[float] = None   # kernels run per profiled run
    between_per_node_us: Optional[float] = None   # (mean_run_ms - op_sum_ms) per kernel run, in microseconds
    plain_p50_ms: Optional[float] = None    # the same runs without the profiler
    profiled_p50_ms: Optional[float] = None
    overhead: Optional[float] = None        # profiled_p50_ms / plain_p50_ms
    plain_mean_ms: Optional[float] = None
    unprofiled_coverage: Optional[float] = None   # op_sum_ms / plain_mean_ms
    by_op_type: List[OperatorTime] = field(default_factory=list)
    top_nodes: List[NodeTime] = field(default_factory=list)
    runtime_settings: dict = field(default_factory=dict)
