"""The decision among measured variants: which one won, and why every other lost.

The evidence policy: every constraint evaluates to ``pass``, ``fail`` or ``unknown``.
An unknown never passes silently. A variant with an unknown constrained figure is
not chosen unless the device explicitly lets that constraint's unknowns through
(``allow_unknown``), and then the check says so. Throttling is checked for every
variant; when no source can tell, it is unknown and let through with a note, unless
the device sets ``require_thermal_evidence = true``.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from .records import Record

PASS = "pass"
FAIL = "fail"
UNKNOWN = "unknown"
VERDICTS = (PASS, FAIL, UNKNOWN)
SCHEMA_VERSION = 3
OBJECTIVES = ("latency", "energy", "size")


@dataclass
class ConstraintCheck(Record):
    constraint: str = ""
    verdict: str = UNKNOWN
    limit: Optional[float] = None
    value: Optional[float] = None
    text: str = ""
    let_through: bool = False    # unknown, admitted by an explicit opt-in (or the throttling default)

    @property
    def blocks(self):
        return self.verdict == FAIL or (self.verdict == UNKNOWN and not self.let_through)


@dataclass
class CandidateVerdict(Record):
    name: str = ""
    ok: bool = False
    feasible: bool = False
    pareto: bool = False
    latency_ms: Optional[float] = None
    latency_ci_ms: Optional[List[float]] = None   # 95% CI of latency_ms, from the raw samples
    samples: int = 0
    size_mb: Optional[float] = None
    peak_rss_mb: Optional[float] = None
    accuracy: Optional[float] = None
    top1_agreement: Optional[float] = None
    agreement: Optional[float] = None      # the worst output's task score (1: same as the original)
    accuracy_drop: Optional[float] = None
    drop_basis: Optional[str] = None       # the figure and output the drop was read from
    throttled: Optional[bool] = None
    power_w: Optional[float] = None
    energy_mj: Optional[float] = None          # gross energy per inference
    net_energy_mj: Optional[float] = None      # minus the idle power over the same time
    energy_uncertainty_mj: Optional[float] = None
    energy_missing: Optional[str] = None       # why energy_mj is None
    error: Optional[str] = None
    made: bool = True              # False: the host could not make it, so it never reached the device
    flags: List[str] = field(default_factory=list)   # "kind: text" from its manifest (missed target, cut short)
    checks: List[ConstraintCheck] = field(default_factory=list)
    reason: str = ""
    explanation: Optional[str] = None   # why it is faster or slower, from its profile and the CPU (host/explain.py)

    def checks_with(self, verdict):
        return [c for c in self.checks if c.verdict == verdict]


@dataclass
class InstallOutcome(Record):
    """What the agent's ``install`` op did: checked the staged model, then switched to it, or
    kept the previous deployment active. ``rolled_back`` is true only from older agents that
    switched first and switched back."""

    installed: bool = False
    rolled_back: bool = False
    active: Optional[str] = None
    previous: Optional[str] = None
    attempted: Optional[str] = None
    check: dict = field(default_factory=dict)   # a HealthCheck, or {ok: False, code, message}

    @property
    def check_message(self):
        return self.check.get("message") or ("ok" if self.check.get("ok") else "no message")


@dataclass
class Decision(Record):
    chosen: Optional[str] = None
    percentile: str = "p90"
    ranked_by: str = "latency"     # the objective: latency, energy or size
    objective: str = ""
    baseline: str = "fp32"
    constraints: dict = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    missing_evidence: List[str] = field(default_factory=list)
    variants: List[CandidateVerdict] = field(default_factory=list)
    install: Optional[InstallOutcome] = None
    schema: int = SCHEMA_VERSION

    def variant(self, name):
        return next((v for v in self.variants if v.name == name), None)
