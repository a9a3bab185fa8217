"""Value types both sides use: benchmark settings and device constraints.

They cross the wire as plain dicts (``to_dict``/``from_dict``); unknown keys are
ignored on the way in so an older agent accepts a newer host's settings.
"""

from dataclasses import asdict, dataclass, field, fields
from typing import List, Optional

PERCENTILES = ("p50", "p90", "p99")
# Fewest samples for which a percentile is quoted: beyond the 1-in-N tail we would be
# reporting the maximum, not the percentile.
MIN_SAMPLES_FOR = {"p50": 1, "p90": 10, "p99": 100}


def _from_dict(cls, data):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass
class BenchSettings:
    """How the agent times one variant. Threads and affinity are recorded with results."""

    threads: int = 1
    cpu_affinity: Optional[List[int]] = None
    warmup_runs: int = 10
    min_runs: int = 100
    max_runs: int = 2000
    min_time_s: float = 1.0
    max_time_s: float = 10.0
    fidelity_samples: int = 0   # 0: every eval sample shipped with the request

    def validate(self):
        problems = []
        if self.threads < 1:
            problems.append("threads must be >= 1")
        if self.min_runs < 1 or self.max_runs < self.min_runs:
            problems.append("need 1 <= min_runs <= max_runs")
        if self.min_time_s < 0 or self.max_time_s < self.min_time_s:
            problems.append("need 0 <= min_time_s <= max_time_s")
        if self.warmup_runs < 0:
            problems.append("warmup_runs must be >= 0")
        return problems

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        return _from_dict(cls, data)


@dataclass
class Constraints:
    """What a variant must satisfy on a device. None means unconstrained."""

    max_latency_ms: Optional[float] = None
    latency_percentile: str = "p90"
    max_peak_memory_mb: Optional[float] = None
    max_model_size_mb: Optional[float] = None
    min_accuracy: Optional[float] = None        # fraction, 0..1
    max_accuracy_drop: Optional[float] = None   # fraction, vs the fp32 baseline on the same device
    # Accepted now so inventories can carry them; enforced once power is measured.
    max_power_w: Optional[float] = None
    max_energy_mj: Optional[float] = None
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        return _from_dict(cls, data)
