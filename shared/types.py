"""Value types both sides use: benchmark settings and device constraints.

They cross the wire as plain dicts (``to_dict``/``from_dict``); unknown keys are
ignored on the way in so an older agent accepts a newer host's settings.
"""

import math
from dataclasses import asdict, dataclass, field, fields
from typing import List, Optional

PERCENTILES = ("p50", "p90", "p99")
# Fewest samples for which a percentile is quoted: beyond the 1-in-N tail we would be
# reporting the maximum, not the percentile.
MIN_SAMPLES_FOR = {"p50": 1, "p90": 10, "p99": 100}


def _from_dict(cls, data):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in known})


# Raw latency samples travel in one measurement frame, so the run count is bounded.
MAX_TIME_LIMIT_S = 3600
MAX_WARMUP_RUNS = 1000000
MAX_THREADS_LIMIT = 1024
MAX_RUNS_LIMIT = 100000
MAX_ROUNDS = 50
MAX_PROFILE_RUNS = 10000
MAX_IDLE_S = 600
MAX_COOLDOWN_S = 3600


def _is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    # A bool is an int to Python but never a number of runs or seconds to a user;
    # nan and inf would pass every comparison in validate() or never end a pass.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_cpu_list(value):
    return value is None or (isinstance(value, list) and all(_is_integer(c) and c >= 0 for c in value))


def accepts(kind, value):
    """Whether ``value`` is a ``kind`` (bool, int, float, str, dict, list) as a user means
    it: true is not 1, 1.5 is not an integer, NaN and infinity are not numbers."""
    if kind is int:
        return _is_integer(value)
    if kind is float:
        return _is_number(value)
    return isinstance(value, kind)


# What each declared field type accepts: int fields only integers, float fields any number.
_ACCEPTS = {int: (_is_integer, "an integer"), float: (_is_number, "a finite number"),
            bool: (lambda value: isinstance(value, bool), "true or false"),
            Optional[List[int]]: (_is_cpu_list, "a list of CPU numbers")}


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
    # Fair order: every variant is timed once per round, the order reversed every other
    # round (A B C, C B A, ...), so slow drift or heat cannot favour the variant measured
    # first; the count and time settings are shared out between the rounds. Two by
    # default: a linear drift cancels, for one more process per variant.
    rounds: int = 2
    shuffle: bool = False       # a new random order each round instead (the seed is recorded)
    # Stop a round once the 95% CI of its median is within +/- this % of the median
    # (after min_runs and min_time_s; max_runs and max_time_s still bound it). 0: off.
    precision_pct: float = 0.0
    sample_power: bool = True   # read the board's power source during the timed window (thermal traces regardless)
    idle_s: float = 2.0         # idle power baseline before the first variant and after the last
    cooldown_s: float = 0.0     # pause before each variant's timing
    cooldown_to_c: float = 0.0  # or wait until the hottest zone is at or below this (0: off)
    # Runs of the per-operator profile taken once per variant, in its own process (and
    # as many unprofiled, for the profiler's overhead); it explains the decision. 0: off.
    profile_runs: int = 30

    @classmethod
    def type_problem(cls, name, value):
        """Why ``value`` cannot be the setting ``name``, or None when it can.

        devices.toml, the command line and the wire all arrive here, so ``1.5`` runs
        or ``true`` seconds are refused the same way wherever they come from.
        """
        kind = next(f.type for f in fields(cls) if f.name == name)
        accepts, description = _ACCEPTS[kind]
        return None if accepts(value) else "must be %s, got %r" % (description, value)

    def validate(self):
        problems = []
        for f in fields(self):
            problem = self.type_problem(f.name, getattr(self, f.name))
            if problem:
                problems.append("%s %s" % (f.name, problem))
        if problems:
            return problems  # the comparisons below need numbers
        if self.threads < 1:
            problems.append("threads must be >= 1")
        if self.min_runs < 1 or self.max_runs < self.min_runs:
            problems.append("need 1 <= min_runs <= max_runs")
        if self.max_runs > MAX_RUNS_LIMIT:
            problems.append("max_runs must be <= %d (raw samples must fit in one protocol frame)" % MAX_RUNS_LIMIT)
        if self.min_time_s < 0 or self.max_time_s < self.min_time_s:
            problems.append("need 0 <= min_time_s <= max_time_s")
        if self.max_time_s > MAX_TIME_LIMIT_S:
            problems.append("max_time_s must be <= %d (the timing of one variant)" % MAX_TIME_LIMIT_S)
        if self.threads > MAX_THREADS_LIMIT:
            problems.append("threads must be <= %d" % MAX_THREADS_LIMIT)
        if not 0 <= self.warmup_runs <= MAX_WARMUP_RUNS:
            problems.append("warmup_runs must be from 0 to %d" % MAX_WARMUP_RUNS)
        if self.fidelity_samples < 0:
            problems.append("fidelity_samples must be >= 0 (0: every sample)")
        if not 1 <= self.rounds <= MAX_ROUNDS:
            problems.append("rounds must be from 1 to %d" % MAX_ROUNDS)
        if not 0 <= self.precision_pct <= 100:
            problems.append("precision_pct must be from 0 (off) to 100")
        if not 0 <= self.idle_s <= MAX_IDLE_S:
            problems.append("idle_s must be from 0 to %d" % MAX_IDLE_S)
        if not 0 <= self.cooldown_s <= MAX_COOLDOWN_S:
            problems.append("cooldown_s must be from 0 to %d" % MAX_COOLDOWN_S)
        if not 0 <= self.profile_runs <= MAX_PROFILE_RUNS:
            problems.append("profile_runs must be from 0 (off) to %d" % MAX_PROFILE_RUNS)
        if not 0 <= self.cooldown_to_c <= 150:
            problems.append("cooldown_to_c must be from 0 (off) to 150 degrees C")
        return problems

    def round_share(self):
        """The settings of one round: the floors and ceilings divided between the rounds,
        and the precision target widened so the pooled samples meet it (a CI narrows
        with the square root of the sample count)."""
        if self.rounds == 1:
            return self
        share = BenchSettings.from_dict(self.to_dict())
        share.min_runs = max(1, -(-self.min_runs // self.rounds))
        share.max_runs = max(share.min_runs, self.max_runs // self.rounds)
        share.min_time_s = self.min_time_s / self.rounds
        share.max_time_s = max(share.min_time_s, self.max_time_s / self.rounds)
        share.precision_pct = self.precision_pct * math.sqrt(self.rounds)
        return share

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
    # Power is not measured by this agent version: a variant constrained on it is
    # unknown, hence not chosen, unless allow_unknown names the constraint.
    max_power_w: Optional[float] = None
    max_energy_mj: Optional[float] = None
    # The evidence policy (README): throttling that no source can check is let through
    # with a note, unless this is set; then such a variant is not chosen.
    require_thermal_evidence: bool = False
    # Constraints whose "unknown" may pass (the decision says so for each variant).
    allow_unknown: List[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        return _from_dict(cls, data)
