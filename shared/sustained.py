"""A sustained run: one variant run without pause for minutes, and what heat did to it.

The agent fills it (agent/sustained.py); the host type-checks and prints it. Every
row is one bucket of continuous runs with the temperature, frequency and power the
agent sampled over the same seconds.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from .records import Record

# Latency this far above the cold latency, for two buckets running, is a slowdown.
SLOWDOWN_FRACTION = 0.10
# A frequency this far below the run's first reading is the clock being pulled down.
FREQUENCY_DROP = 0.90


@dataclass
class SustainedBucket(Record):
    t0_s: float = 0.0
    t1_s: float = 0.0
    n: int = 0
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    temp_c: Optional[float] = None        # the hottest zone
    cpu_mhz: Optional[float] = None       # the lowest current CPU frequency
    power_w: Optional[float] = None


@dataclass
class SustainedRun(Record):
    variant: str = ""
    duration_s: float = 0.0
    buckets: List[SustainedBucket] = field(default_factory=list)
    cold_p50_ms: Optional[float] = None       # the first bucket
    steady_p50_ms: Optional[float] = None     # the median of the last quarter's buckets
    steady_vs_cold: Optional[float] = None
    slowdown_started_s: Optional[float] = None    # latency > cold x (1 + SLOWDOWN_FRACTION), and stayed
    throttling_started_s: Optional[float] = None
    throttling: Optional[bool] = None         # None: no source could tell
    throttling_evidence: List[str] = field(default_factory=list)
    throttling_reason: Optional[str] = None   # why it is None
    power_reason: Optional[str] = None        # why power_w is None
    load_ms: Optional[float] = None
