"""Energy over a time window from timestamped readings of a power source.

Two kinds of source (agent/power_sources.py, shared/meter.py):

- an energy counter (RAPL ``energy_uj``, a meter printing cumulative joules): the
  energy is the counter's rise, with a wraparound (the counter restarting at 0 past
  ``wrap_j``) added back between consecutive readings;
- a power sensor (INA3221, the Pi 5 PMIC, hwmon, a meter printing watts): the energy
  is the trapezoidal integral of the readings.

Either way the window's edges fall between readings, so the curve is linearly
interpolated at ``t0`` and ``t1``; a window not bracketed by readings on both sides
cannot be integrated honestly and gives None with the reason. Pure Python: the agent
runs this on the board.
"""

from dataclasses import dataclass
from typing import Optional

from .measurement import Power

# Fewer readings than this inside the timed windows: the figure leans on readings outside.
MIN_SAMPLES_INSIDE = 2
ENERGY = "energy"   # cumulative joules
POWER = "power"     # watts
TRACE_POINTS = 200   # per timed window in a Power record's trace: enough to see a throttling step


@dataclass(frozen=True)
class WindowEnergy:
    joules: Optional[float] = None
    samples: int = 0                 # readings strictly inside the window
    missing: Optional[str] = None    # why joules is None

    @property
    def known(self):
        return self.joules is not None


def _interpolated(readings, t):
    """The reading's value at time t, linearly between the readings around it."""
    for (t_a, v_a), (t_b, v_b) in zip(readings, readings[1:]):
        if t_a <= t <= t_b:
            return v_a if t_b == t_a else v_a + (v_b - v_a) * (t - t_a) / (t_b - t_a)
    return None


def _counter_rise(readings, t0, t1, wrap_j):
    """A cumulative counter's rise over [t0, t1], unwrapped; the counter is linear
    between reads (constant power), so its value at an edge is interpolated."""
    unwrapped = [readings[0]]
    for (_, v_a), (t_b, v_b) in zip(readings, readings[1:]):
        step = v_b - v_a
        if step < 0:
            # A counter only goes down when it wraps; without a known range the
            # rise cannot be recovered.
            if not wrap_j:
                return None
            step += wrap_j
        unwrapped.append((t_b, unwrapped[-1][1] + step))
    return _interpolated(unwrapped, t1) - _interpolated(unwrapped, t0)


def _power_integral(readings, t0, t1):
    """The trapezoidal integral of power over [t0, t1], the power interpolated at the edges."""
    points = [(t0, _interpolated(readings, t0))] + [r for r in readings if t0 < r[0] < t1] + \
        [(t1, _interpolated(readings, t1))]
    return sum((v_a + v_b) / 2.0 * (t_b - t_a) for (t_a, v_a), (t_b, v_b) in zip(points, points[1:]))


def window_energy(readings, kind, t0, t1, wrap_j=None):
    """Energy in joules between t0 and t1 from ``readings`` [(t, value)] sorted by time."""
    if t1 <= t0:
        return WindowEnergy(missing="the window is empty")
    readings = sorted(readings)
    if len(readings) < 2 or readings[0][0] > t0 or readings[-1][0] < t1:
        return WindowEnergy(missing="the power readings (%d) do not cover the timed window" % len(readings))
    inside = sum(1 for t, _ in readings if t0 < t < t1)
    if kind == ENERGY:
        joules = _counter_rise(readings, t0, t1, wrap_j)
        if joules is None:
            return WindowEnergy(missing="the energy counter went backwards and its wrap range is unknown")
    else:
        joules = _power_integral(readings, t0, t1)
    return WindowEnergy(joules=joules, samples=inside)


def between(readings, t0, t1):
    """The readings that bracket [t0, t1]: the last at or before t0, all inside, the first
    at or after t1. What an integration over the window needs, and no more."""
    before = [r for r in readings if r[0] <= t0]
    after = [r for r in readings if r[0] >= t1]
    inside = [r for r in readings if t0 < r[0] < t1]
    return before[-1:] + inside + after[:1]


@dataclass
class WindowsTotal:
    """The energy over a variant's timed windows (every round's), and what divides it."""

    joules: float = 0.0
    seconds: float = 0.0
    inferences: int = 0
    samples: int = 0
    windows: int = 0


def over_windows(windows, energy_of):
    """Sum ``energy_of(t0, t1)`` (a WindowEnergy) over ``windows`` [((t0, t1), runs)]:
    (WindowsTotal, None), or (None, why) when any window cannot be integrated."""
    total = WindowsTotal()
    for (t0, t1), runs in windows:
        energy = energy_of(t0, t1)
        if not energy.known:
            return None, energy.missing
        total.joules += energy.joules
        total.seconds += t1 - t0
        total.inferences += runs
        total.samples += energy.samples
        total.windows += 1
    return total, None


def energy_record(described, joules, seconds, inferences, samples, idle_w, uncertainty_j=None):
    """A measured Power record from the energy of the timed windows (``described``: the
    source's describe(), with ``where``)."""
    if not inferences or seconds <= 0:
        return Power(measured=False, reason="no timed run to divide the energy by", where=described.get("where"))
    net = None if idle_w is None else (joules - idle_w * seconds) / inferences * 1000.0
    return Power(measured=True, reason=None, source=described.get("name"), rail=described.get("rail"),
                 boundary=described.get("boundary") or "as the meter measures it", where=described.get("where"),
                 mean_w=joules / seconds, idle_w=idle_w, energy_per_inference_mj=joules / inferences * 1000.0,
                 net_energy_per_inference_mj=net,
                 uncertainty_mj=None if uncertainty_j is None else uncertainty_j / inferences * 1000.0,
                 window_s=round(seconds, 6), inferences=inferences, samples=samples,
                 sample_rate_hz=samples / seconds,
                 note=None if samples >= MIN_SAMPLES_INSIDE else (
                     "only %d reading(s) inside %.3f s of timed runs: the power is interpolated from the readings "
                     "around the window (raise min_time_s for a measured profile)" % (samples, seconds)))


def power_trace(readings, kind, t0, t1, wrap_j=None, max_points=TRACE_POINTS):
    """[[seconds since t0, watts]] through [t0, t1] from ``readings`` [(t, value)]: the
    readings inside the window and the one on each side of it (what its energy was
    integrated from, so a window shorter than the source's period still has a trace),
    as they are for a power source, or as the rise between two reads over their interval
    (at its middle) for an energy counter. At most ``max_points``: a denser trace is
    averaged over equal slices of its span."""
    readings = between(sorted(readings), t0, t1)
    if kind == ENERGY:
        points = []
        for (t_a, v_a), (t_b, v_b) in zip(readings, readings[1:]):
            step = v_b - v_a
            if step < 0 and wrap_j:
                step += wrap_j
            if t_b > t_a and step >= 0:
                points.append(((t_a + t_b) / 2.0, step / (t_b - t_a)))
    else:
        points = list(readings)
    if len(points) > max_points > 0:
        start, span = points[0][0], (points[-1][0] - points[0][0]) or 1.0
        slices = {}
        for t, w in points:
            slices.setdefault(min(max_points - 1, int(max_points * (t - start) / span)), []).append((t, w))
        points = [(sum(t for t, _ in group) / len(group), sum(w for _, w in group) / len(group))
                  for _, group in sorted(slices.items())]
    return [[round(t - t0, 4), w] for t, w in points]


def round_traces(latency_pass, trace_of):
    """[[round, seconds, W]] over a latency pass's timed windows, ``trace_of(t0, t1)`` giving
    each window's [[seconds, W]] (on the clock the window was reported on)."""
    rows = []
    for summary in latency_pass.rounds:
        if summary.window_monotonic:
            t0, t1 = summary.window_monotonic
            rows.extend([summary.round] + point for point in trace_of(t0, t1))
    return rows
