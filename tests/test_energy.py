"""Energy over a timed window (shared/energy.py) and the external meter (shared/meter.py).

Every expected value is computed by hand from the trace in the test, independently of
the code under test: a counter's rise with its wraparound added back, a trapezoid, or a
fine numerical integral of the replayed trace.
"""

import math
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from edgeshrink.shared.energy import ENERGY, POWER, power_trace, window_energy
from edgeshrink.shared.meter import CommandMeter, MeterError, parse_line

METERS = Path(__file__).resolve().parent / "fixtures" / "meters"
TRACE = METERS / "usb_meter_trace.txt"


def test_a_power_trace_integrates_by_trapezoids_with_edges_interpolated():
    readings = [(0.0, 2.0), (1.0, 4.0), (2.0, 4.0), (3.0, 1.0)]
    # [0.5, 2.5]: 0.5 s from 3 W to 4 W, 1 s at 4 W, 0.5 s from 4 W to 2.5 W
    expected = 0.5 * 3.5 + 1.0 * 4.0 + 0.5 * 3.25
    energy = window_energy(readings, POWER, 0.5, 2.5)
    assert energy.joules == pytest.approx(expected) and energy.samples == 2


def test_a_rapl_counter_wrapping_inside_the_window_is_unwrapped():
    wrap_j = 262143.328850            # max_energy_range_uj of a laptop's package-0, in J
    # 10 W for 4 s: the counter passes its range between the second and third reading
    start = wrap_j - 15.0
    readings = [(t, (start + 10.0 * t) % wrap_j) for t in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert readings[2][1] < readings[1][1]   # it did wrap
    energy = window_energy(readings, ENERGY, 0.25, 3.75, wrap_j=wrap_j)
    assert energy.joules == pytest.approx(10.0 * 3.5, rel=1e-9)
    unknown = window_energy(readings, ENERGY, 0.25, 3.75)
    assert unknown.joules is None and "wrap range is unknown" in unknown.missing


def test_a_window_the_readings_do_not_cover_is_not_measured():
    readings = [(1.0, 5.0), (2.0, 5.0)]
    assert "do not cover" in window_energy(readings, POWER, 0.5, 1.5).missing
    assert "do not cover" in window_energy(readings, POWER, 1.5, 2.5).missing
    assert window_energy(readings, POWER, 1.5, 1.5).missing == "the window is empty"


@pytest.mark.parametrize("line, unit, value", [
    ("4.87", "W", 4.87), ("4.87 W", "W", 4.87), ("  12.5J\n", "J", 12.5), ("1e-3 W", "W", 0.001),
    ("4.87 W", "J", None), ("# banner", "W", None), ("", "W", None), ("-1", "W", None), ("nan", "W", None),
    ("inf W", "W", None), ("5 W 6 W", "W", None),
])
def test_meter_lines(line, unit, value):
    assert parse_line(line, unit) == value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["W", "J"]))
def test_any_meter_line_parses_to_a_finite_reading_or_none(text, unit):
    value = parse_line(text, unit)
    assert value is None or (math.isfinite(value) and value >= 0)


def trace_points():
    return [tuple(map(float, line.split())) for line in TRACE.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def hand_energy(points, start, t0, t1, step=0.0005):
    """The replayed trace's energy over [t0, t1] (monotonic times), by fine midpoint sums
    of the piecewise-linear recording repeated every period."""
    period = points[-1][0] + (points[-1][0] - points[-2][0])
    extended = points + [(period, points[0][1])]

    def watts(t):
        phase = (t - start) % period
        for (ta, wa), (tb, wb) in zip(extended, extended[1:]):
            if ta <= phase <= tb:
                return wa + (wb - wa) * (phase - ta) / (tb - ta)
        raise AssertionError(phase)

    n = int(round((t1 - t0) / step))
    return sum(watts(t0 + (i + 0.5) * (t1 - t0) / n) for i in range(n)) * (t1 - t0) / n


@pytest.mark.parametrize("joules", [False, True])
def test_a_replayed_meter_trace_gives_the_hand_computed_energy(tmp_path, joules):
    start_file = tmp_path / "start"
    command = [sys.executable, str(METERS / "replay_meter.py"), str(TRACE), "--start-file", str(start_file)]
    meter = CommandMeter(command + (["--joules"] if joules else []), "J" if joules else "W").start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        time.sleep(1.7)           # a window that is not a whole number of trace periods
        t1 = time.monotonic()
        assert meter.wait_for_reading_after(t1, 2.0)
        energy = window_energy(meter.snapshot(), meter.kind, t0, t1)
    finally:
        meter.stop()
    assert meter.skipped_lines == 1          # the banner
    assert meter.period_s() == pytest.approx(0.05, abs=0.01)
    expected = hand_energy(trace_points(), float(start_file.read_text()), t0, t1)
    assert energy.joules == pytest.approx(expected, rel=0.005), (energy, expected)
    assert energy.samples >= 30


def test_a_meter_that_cannot_start_or_dies_says_why(tmp_path):
    with pytest.raises(MeterError, match="could not start"):
        CommandMeter([str(tmp_path / "no-such-meter")]).start()
    meter = CommandMeter([sys.executable, "-c", "import sys; sys.stderr.write('no device /dev/ttyUSB0\\n'); "
                          "sys.exit(3)"]).start()
    time.sleep(0.5)
    meter.stop()
    assert meter.failure() == "the meter command exited with status 3: no device /dev/ttyUSB0"
    with pytest.raises(MeterError, match="unit"):
        CommandMeter(["true"], unit="kWh")


def test_a_power_trace_is_the_readings_inside_the_window_and_a_counter_becomes_watts():
    watts = [(9.8, 1.0), (9.9, 2.0), (10.5, 3.0), (11.1, 4.0), (11.2, 9.0)]
    # The readings inside and the one on each side: what the window's energy came from.
    assert power_trace(watts, POWER, 10.0, 11.0) == [[-0.1, 2.0], [0.5, 3.0], [1.1, 4.0]]
    # A window shorter than the source's period still has its two bracketing readings.
    assert power_trace(watts, POWER, 10.6, 10.7) == [[-0.1, 3.0], [0.5, 4.0]]
    # A counter (joules) read every 0.5 s, wrapping at 100 J between the 2nd and 3rd reads:
    # 2 W, then 4 W across the wrap, then 6 W, each at the middle of its interval.
    joules = [(0.0, 97.0), (0.5, 98.0), (1.0, 0.0), (1.5, 3.0)]
    assert power_trace(joules, ENERGY, 0.0, 1.5, wrap_j=100.0) == [[0.25, 2.0], [0.75, 4.0], [1.25, 6.0]]
    # Without the wrap range the backwards step is left out, never turned into negative power.
    assert power_trace(joules, ENERGY, 0.0, 1.5) == [[0.25, 2.0], [1.25, 6.0]]


def test_a_dense_power_trace_is_averaged_down_to_its_point_budget():
    readings = [(i / 1000.0, float(i % 2)) for i in range(1001)]      # 1 kHz, alternating 0 and 1 W
    trace = power_trace(readings, POWER, 0.0, 1.0, max_points=10)
    assert len(trace) == 10 and all(abs(w - 0.5) < 0.02 for _, w in trace), trace
    assert [t for t, _ in trace] == sorted(t for t, _ in trace) and 0 <= trace[0][0] and trace[-1][0] <= 1.0
