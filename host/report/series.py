"""What the report's plots draw, taken from a stored run as plain series.

Kept apart from the drawing so what a plot claims can be tested without rendering it,
and so a figure that was not measured stays None here, never a zero.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

TOP_OPERATOR_TYPES = 6
WINDOW_GAP_S = 0.5   # between one timed window's trace and the next, on the plot


@dataclass
class ParetoPoint:
    name: str
    latency_ms: float
    size_mb: float
    quality: Optional[float]     # accuracy, else agreement with the original; None: not measured
    quality_name: str
    feasible: bool
    pareto: bool
    chosen: bool
    percentile: str


def pareto_points(run) -> List[ParetoPoint]:
    """The decision's view of each variant (latency at its percentile); a run without a
    decision (`bench`) gives each variant's p50, none feasible-or-not, none chosen."""
    decision = run.decision
    if decision is not None:
        verdicts = [v for v in decision.variants if v.ok and v.latency_ms is not None and v.size_mb is not None]
        labelled = any(v.accuracy is not None for v in verdicts)
        name = "accuracy" if labelled else "agreement with the original (worst output)"
        return [ParetoPoint(v.name, v.latency_ms, v.size_mb, v.accuracy if labelled else v.agreement, name,
                            v.feasible, v.pareto, v.name == decision.chosen, decision.percentile)
                for v in verdicts]
    points = []
    for result in run.variants:
        p50, size = result.measurement.figure("p50_ms").value, result.size_mb
        if p50 is None or size is None:
            continue
        accuracy = result.measurement.figure("accuracy").value
        points.append(ParetoPoint(result.name, p50, size, accuracy if accuracy is not None
                                  else result.measurement.figure("agreement").value,
                                  "accuracy" if accuracy is not None else "agreement with the original (worst output)",
                                  True, False, False, "p50"))
    return points


@dataclass
class LatencySeries:
    name: str
    label: str
    samples_ms: List[float]


def latency_series(run) -> List[LatencySeries]:
    """Each timed variant's raw samples, fastest median first."""
    series = []
    for result in run.variants:
        samples = result.measurement.samples_ms
        if samples:
            runtime = result.measurement.environment.runtime or result.manifest.get("runtime") or "onnxruntime"
            series.append(LatencySeries(result.name, "%s (%s)" % (result.name, runtime), samples))
    return sorted(series, key=lambda s: sorted(s.samples_ms)[len(s.samples_ms) // 2])


@dataclass
class OperatorBars:
    variants: List[str]
    ops: List[str]                       # the segments, in drawing order
    ms: Dict[str, Dict[str, float]]      # variant -> segment -> ms per run
    missing: List[str] = field(default_factory=list)   # "variant: why it has no profile"
    OTHER = "other operators"
    BETWEEN = "between kernels"
    PROFILER = "profiler's own cost"


def operator_bars(run) -> Optional[OperatorBars]:
    """The operator types that matter most across the variants (each one's largest share),
    the rest folded into one segment, and the run's time no kernel accounts for."""
    profiles, missing = {}, []
    for result in run.variants:
        profile = result.measurement.operators
        if profile is not None and profile.available and profile.by_op_type:
            profiles[result.name] = profile
        else:
            missing.append("%s: %s" % (result.name, (profile.reason if profile is not None and profile.reason
                                                      else result.measurement.error.message
                                                      if result.measurement.error else "not profiled")))
    if not profiles:
        return None
    largest = {}
    for profile in profiles.values():
        for row in profile.by_op_type:
            largest[row.op] = max(largest.get(row.op, 0.0), row.ms_per_run)
    top = sorted(largest, key=lambda op: -largest[op])[:TOP_OPERATOR_TYPES]
    ms = {}
    for name, profile in profiles.items():
        segments = {op: 0.0 for op in top}
        for row in profile.by_op_type:
            key = row.op if row.op in segments else OperatorBars.OTHER
            segments[key] = segments.get(key, 0.0) + row.ms_per_run
        # The bar is the whole profiled run: the operators, the runtime's work between
        # them, and the profiler's own cost where the board measured it.
        run_ms = profile.run_less_profiler_ms if profile.run_less_profiler_ms is not None else profile.mean_run_ms
        if run_ms is not None and profile.op_sum_ms is not None:
            segments[OperatorBars.BETWEEN] = max(0.0, run_ms - profile.op_sum_ms)
        if profile.run_less_profiler_ms is not None and profile.mean_run_ms is not None:
            segments[OperatorBars.PROFILER] = max(0.0, profile.mean_run_ms - profile.run_less_profiler_ms)
        ms[name] = segments
    ops = top + [op for op in (OperatorBars.OTHER, OperatorBars.BETWEEN, OperatorBars.PROFILER)
                 if any(op in s for s in ms.values())]
    return OperatorBars(list(profiles), ops, ms, missing)


@dataclass
class ThermalSeries:
    name: str
    seconds: List[float]
    temp_c: List[Optional[float]]
    mhz: List[Optional[float]]


@dataclass
class PowerSeries:
    name: str
    seconds: List[float]
    watts: List[Optional[float]]


def _end_to_end(rows, columns):
    """Trace rows [round, seconds into its window, value...] with each window laid after
    the one before (a window's clock starts again, at the reading just before it) and a
    break (None in every column) between windows: (seconds, [values per column])."""
    seconds, values, offset, previous = [], [[] for _ in range(columns)], 0.0, None
    for row in rows:
        t = row[1]
        if previous is not None and t < previous:
            end = seconds[-1]
            seconds.append(end)
            for column in values:
                column.append(None)
            offset = end + WINDOW_GAP_S - t
        previous = t
        seconds.append(offset + t)
        for column, value in zip(values, row[2:]):
            column.append(value)
    return seconds, values


def _rows(trace, width):
    return [row for row in trace or [] if isinstance(row, list) and len(row) == width
            and isinstance(row[1], (int, float))]


def thermal_series(run) -> List[ThermalSeries]:
    """Each variant's hottest zone and lowest CPU clock through its timed windows; variants
    with neither reading are left out."""
    found = []
    for result in run.variants:
        thermal = result.measurement.thermal
        rows = _rows(thermal.trace if thermal is not None else [], 4)
        if rows and any(row[2] is not None or row[3] is not None for row in rows):
            seconds, (temp_c, mhz) = _end_to_end(rows, 2)
            found.append(ThermalSeries(result.name, seconds, temp_c, mhz))
    return found


def power_series(run) -> List[PowerSeries]:
    """Each variant's power through its timed windows, where its power was measured."""
    found = []
    for result in run.variants:
        rows = _rows(result.measurement.power.trace, 3)
        if rows:
            seconds, (watts,) = _end_to_end(rows, 1)
            found.append(PowerSeries(result.name, seconds, watts))
    return found


@dataclass
class PowerBar:
    name: str
    gross_mj: Optional[float]
    net_mj: Optional[float]
    mean_w: Optional[float]
    uncertainty_mj: Optional[float]
    source: Optional[str]
    missing: Optional[str]


def power_bars(run) -> List[PowerBar]:
    bars = []
    for result in run.variants:
        power = result.measurement.power
        source = " ".join(part for part in (power.source, power.rail, power.where and "on the " + power.where)
                          if part) or None
        bars.append(PowerBar(result.name, power.energy_per_inference_mj, power.net_energy_per_inference_mj,
                             power.mean_w, power.uncertainty_mj, source,
                             None if power.measured else (power.reason or "not measured")))
    return bars
