"""The measurement of one variant on a device: what the agent sends, the store keeps,
and selection, rendering and the benchmarks read.

Every figure is read through ``VariantMeasurement.figure(name)``, which gives either
its value or the reason it was not measured: a failed variant, a pass that did not
run, too few runs for a percentile, no labels, no sensor. Nothing reads these records
by indexing nested dicts.

Schema history: 1 (agent 0.1.0, untyped dicts of the same shape, no ``schema`` key);
2 adds ``schema``, ``environment``, throttling ``notes``/``sources`` and fidelity that
is "not measured" when the comparison itself fails; 3 adds fidelity per output with a
task metric (``Fidelity.outputs``, ``Fidelity.agreement``); 4 adds measured power and
energy (``Power``), interleaved rounds and the precision stop (``LatencyPass.rounds``),
and temperature and frequency traces (``Thermal.trace``). Older rows read as the
current version with the new fields at their defaults.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from .op_profile import OperatorProfile
from .records import Record
from .types import MIN_SAMPLES_FOR

SCHEMA_VERSION = 4
# Raw latency samples are kept at 0.1 microsecond: finer digits are clock noise, and the
# rounding bounds a measurement frame (MAX_RUNS_LIMIT samples fit well inside FRAME_CAP).
SAMPLE_DECIMALS = 4


@dataclass(frozen=True)
class Figure:
    """One figure: a value, or ``None`` with the reason it is unknown."""

    name: str
    value: object = None
    missing: Optional[str] = None

    @property
    def known(self):
        return self.missing is None


@dataclass
class MemoryPass(Record):
    baseline_rss_mb: Optional[float] = None
    rss_after_load_mb: Optional[float] = None
    peak_rss_mb: Optional[float] = None
    model_peak_delta_mb: Optional[float] = None
    runtime_settings: dict = field(default_factory=dict)
    cpu_affinity: Optional[List[int]] = None


@dataclass
class LatencyStats(Record):
    """Summary of the timed runs (agent/stats.py): a percentile is None when the sample
    is too small to resolve it (MIN_SAMPLES_FOR)."""

    n: int = 0
    mean_ms: Optional[float] = None
    std_ms: Optional[float] = None
    cov: Optional[float] = None
    min_ms: Optional[float] = None
    max_ms: Optional[float] = None
    median_ci95_ms: Optional[List[float]] = None
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    ci_half_width_pct: Optional[float] = None   # half the median's 95% CI, in % of the median
    ci_basis: Optional[str] = None   # what bounded it: order statistics, batch or round medians (agent/stats.py)


@dataclass
class RoundSummary(Record):
    """One round of a variant's timing (interleaved rounds: A B C, C B A, ...)."""

    round: int = 0
    position: int = 0                 # its place in that round's order
    n: int = 0
    median_ms: Optional[float] = None
    stop_reason: Optional[str] = None
    window_monotonic: Optional[List[float]] = None   # [start, end] of the timed runs, agent's monotonic clock


@dataclass
class OutputFidelity(Record):
    """One output of the variant against the same output of the original model, judged
    by the task metric that fits it (shared/task_metrics.py) plus the generic figures."""

    output: str = ""
    metric: str = ""                     # classification, sequence, map, cosine, custom
    chosen_by: str = ""                  # "--metric", "recipe", or the default's reasoning
    measured: bool = False
    reason: Optional[str] = None         # why the task metric is not measured
    score_name: str = ""                 # e.g. "top-1 agreement", "exact-sequence agreement", "IoU@0.5"
    score: Optional[float] = None        # 0..1; 1: the variant's output is the original's
    position_agreement: Optional[float] = None   # sequence: per-position argmax agreement
    iou_min: Optional[float] = None      # map: the worst sample's IoU
    accuracy: Optional[float] = None     # classification with labels
    cosine_mean: Optional[float] = None
    sqnr_db: Optional[float] = None      # None with identical=True: infinite
    identical: bool = False
    max_abs_error: Optional[float] = None


@dataclass
class Fidelity(Record):
    """How far the variant's outputs are from the original model's, on the device.

    ``outputs`` holds every output's comparison; the top-level figures summarise them:
    ``agreement`` is the lowest task score (``worst_output`` names it), cosine and SQNR
    the worst output's, ``top1_agreement`` the lowest over classification outputs, and
    ``accuracy`` the labelled output's (``labelled_output``).
    """

    measured: bool = False
    reason: Optional[str] = None        # why not measured
    samples: int = 0
    cosine_mean: Optional[float] = None
    cosine_min: Optional[float] = None
    sqnr_db: Optional[float] = None     # None with identical=True: infinite
    identical: bool = False
    max_abs_error: Optional[float] = None
    top1_agreement: Optional[float] = None
    accuracy: Optional[float] = None    # only with labels
    agreement: Optional[float] = None
    worst_output: Optional[str] = None
    labelled_output: Optional[str] = None
    outputs: List[OutputFidelity] = field(default_factory=list)

    def output(self, name):
        return next((o for o in self.outputs if o.output == name), None)


@dataclass
class LatencyPass(Record):
    load_ms: Optional[float] = None
    first_inference_ms: Optional[float] = None
    warmup_runs: int = 0
    warmup_total_ms: Optional[float] = None
    stop_reason: Optional[str] = None
    latency: LatencyStats = field(default_factory=LatencyStats)
    samples_ms: List[float] = field(default_factory=list)
    runtime_settings: dict = field(default_factory=dict)
    input_specs: List[dict] = field(default_factory=list)
    fidelity: Fidelity = field(default_factory=lambda: Fidelity(reason="fidelity pass did not run"))
    cpu_affinity: Optional[List[int]] = None
    # base64 .npz of the outputs a host-side metric needs; the host removes it once used
    returned_outputs: Optional[str] = None
    rounds: List[RoundSummary] = field(default_factory=list)
    round_spread_pct: Optional[float] = None       # (max - min) of the round medians, % of the median
    precision_target_pct: Optional[float] = None   # the +/-% asked for, when a precision stop was set
    precision_reached: Optional[bool] = None

    def windows(self):
        """The timed windows [start, end] on the agent's monotonic clock, with their run counts."""
        return [(r.window_monotonic, r.n) for r in self.rounds if r.window_monotonic]


@dataclass
class ThrottleVerdict(Record):
    """Did the board throttle during the timed window? ``throttled`` None: unknown."""

    throttled: Optional[bool] = None
    evidence: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    sources: List[str] = field(default_factory=list)
    reason: Optional[str] = None


@dataclass
class Thermal(Record):
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    verdict: ThrottleVerdict = field(default_factory=ThrottleVerdict)
    # [round, seconds into the round's window, hottest zone C, lowest current CPU MHz]
    trace: List[list] = field(default_factory=list)
    cooldowns: List[dict] = field(default_factory=list)   # {round, waited_s, reached, temp_c}


@dataclass
class Power(Record):
    """Power and energy over the timed windows, from one source (agent/power_sources.py
    on the board, or a meter command on the board or the host)."""

    measured: bool = False
    reason: Optional[str] = "no power source was read"
    source: Optional[str] = None        # rapl, hwmon, ina3221, ina3221x, pi5-pmic, command
    rail: Optional[str] = None
    boundary: Optional[str] = None      # what the figure covers (module input, CPU package, PMIC rails, wall)
    where: Optional[str] = None         # board or host (where the source was read)
    mean_w: Optional[float] = None
    idle_w: Optional[float] = None      # mean power idle before the first variant
    idle_after_w: Optional[float] = None   # the same after the last variant (drift)
    energy_per_inference_mj: Optional[float] = None        # gross: everything the source saw
    net_energy_per_inference_mj: Optional[float] = None    # minus idle_w over the same time
    uncertainty_mj: Optional[float] = None   # a host-side meter: the link delay's share, per inference
    window_s: Optional[float] = None
    inferences: int = 0
    samples: int = 0                    # readings inside the windows
    sample_rate_hz: Optional[float] = None
    note: Optional[str] = None          # a caveat on a measured figure (too few readings inside)
    trace: List[list] = field(default_factory=list)   # [[round, seconds into its window, W]] (shared/energy.power_trace)


@dataclass
class Environment(Record):
    """What the numbers depend on besides the model: recorded with every variant."""

    runtime: Optional[str] = None
    runtime_version: Optional[str] = None
    threads: Optional[int] = None
    cpu_affinity: Optional[List[int]] = None
    providers: List[str] = field(default_factory=list)
    python: Optional[str] = None
    agent_version: Optional[str] = None


@dataclass
class HealthCheck(Record):
    """An installed model loaded and ran once on inputs made from its input spec."""

    ok: bool = False
    load_ms: Optional[float] = None
    outputs: int = 0
    real_sample: bool = False   # ran the evaluation data's probe sample, not inputs made from the spec


# VariantError.code of a variant the host could not make: it never reached the device.
COMPRESSION_FAILED = "compression"


@dataclass
class VariantError(Record):
    code: str = "remote"      # an error wire code, or COMPRESSION_FAILED
    message: str = ""


# figure name -> unit, for tables and JSON consumers
FIGURES = {
    "p50_ms": "ms", "p90_ms": "ms", "p99_ms": "ms", "mean_ms": "ms", "std_ms": "ms", "cov": "",
    "load_ms": "ms", "first_inference_ms": "ms", "peak_rss_mb": "MiB", "accuracy": "",
    "top1_agreement": "", "cosine_mean": "", "sqnr_db": "dB", "throttled": "", "power_w": "W",
    "energy_mj": "mJ", "net_energy_mj": "mJ", "agreement": "",
}
_LATENCY_FIGURES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cov")
_POWER_FIGURES = {"power_w": "mean_w", "energy_mj": "energy_per_inference_mj",
                  "net_energy_mj": "net_energy_per_inference_mj"}
_FIDELITY_FIGURES = ("accuracy", "top1_agreement", "cosine_mean", "sqnr_db", "agreement")


@dataclass
class VariantMeasurement(Record):
    variant: str = ""
    blob: str = ""
    ok: bool = False
    schema: int = 1
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    wall_s: Optional[float] = None
    memory: Optional[MemoryPass] = None
    latency_pass: Optional[LatencyPass] = None
    thermal: Optional[Thermal] = None
    power: Power = field(default_factory=Power)
    environment: Environment = field(default_factory=Environment)
    error: Optional[VariantError] = None
    operators: Optional[OperatorProfile] = None     # where its time goes (settings.profile_runs > 0)

    def without_samples(self):
        """A copy whose latency pass has no raw samples (they are stored on their own)."""
        copy = VariantMeasurement.from_dict(self.to_dict())
        if copy.latency_pass is not None:
            copy.latency_pass.samples_ms = []
        return copy

    @property
    def samples_ms(self):
        return list(self.latency_pass.samples_ms) if self.latency_pass else []

    def figure(self, name):
        """The one accessor: a figure's value, or why it is unknown."""
        if name not in FIGURES:
            raise KeyError("unknown figure %r; known: %s" % (name, ", ".join(FIGURES)))
        if name in _POWER_FIGURES:
            value = getattr(self.power, _POWER_FIGURES[name])
            return Figure(name, value, None if value is not None else
                          ("power not measured: %s" % (self.power.reason or "no reading")))
        if name == "throttled":
            return self._throttled()
        failed = self._failure()
        if name == "peak_rss_mb":
            if self.memory is None or self.memory.peak_rss_mb is None:
                return Figure(name, None, failed or "the memory pass did not run")
            return Figure(name, self.memory.peak_rss_mb)
        if self.latency_pass is None:
            return Figure(name, None, failed or "the latency pass did not run")
        if name in ("load_ms", "first_inference_ms"):
            value = getattr(self.latency_pass, name)
            return Figure(name, value, None if value is not None else "not recorded")
        if name in _LATENCY_FIGURES:
            return self._latency(name)
        return self._fidelity(name)

    @property
    def failed_in_compression(self):
        return self.error is not None and self.error.code == COMPRESSION_FAILED

    def _failure(self):
        if self.ok:
            return None
        if self.failed_in_compression:
            return "the variant could not be made: %s" % self.error.message
        if self.error is not None:
            return "the variant failed on the device: %s: %s" % (self.error.code, self.error.message)
        return "the variant failed on the device"

    def _latency(self, name):
        stats = self.latency_pass.latency
        value = getattr(stats, name)
        if value is not None:
            return Figure(name, value)
        percentile = name[:-3]
        if percentile in MIN_SAMPLES_FOR and stats.n < MIN_SAMPLES_FOR[percentile]:
            return Figure(name, None, "%s needs >= %d timed runs, got %d (raise bench.min_runs)"
                          % (percentile, MIN_SAMPLES_FOR[percentile], stats.n))
        return Figure(name, None, "%s not computable from %d timed runs" % (name, stats.n))

    def _fidelity(self, name):
        fidelity = self.latency_pass.fidelity
        if not fidelity.measured:
            return Figure(name, None, "fidelity not measured: %s" % (fidelity.reason or "no reason given"))
        value = getattr(fidelity, name)
        if name == "agreement" and value is None and not fidelity.outputs:
            value = fidelity.top1_agreement   # schema 2 and older: top-1 was the only task figure
        if name == "sqnr_db" and value is None and fidelity.identical:
            return Figure(name, float("inf"))
        if value is not None:
            return Figure(name, value)
        if name == "accuracy":
            return Figure(name, None, "accuracy not measured: no labels in the evaluation data")
        if name == "top1_agreement":
            return Figure(name, None, "top-1 agreement not measured: no output is judged as classification")
        if name == "agreement":
            reasons = "; ".join("%s: %s" % (o.output, o.reason) for o in fidelity.outputs if o.reason)
            return Figure(name, None, "no output's task metric was measured" + (" (%s)" % reasons if reasons else ""))
        return Figure(name, None, "%s not measured" % name)

    def _throttled(self):
        if self.thermal is None:
            return Figure("throttled", None, self._failure() or "thermal state was not read")
        verdict = self.thermal.verdict
        if verdict.throttled is None:
            return Figure("throttled", None, "throttling could not be checked: %s"
                          % (verdict.reason or "no readable source"))
        return Figure("throttled", verdict.throttled)


def round_samples(samples_ms):
    return [round(s, SAMPLE_DECIMALS) for s in samples_ms]
