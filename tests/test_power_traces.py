"""Energy from each board's source, through the agent's sampler, against a trace.

A copy of a board's fixture tree (fixtures/power, laid out like the real /sys) is
rewritten between polls to play a recorded trace; the sampler reads it on a test clock
and integrates over a window that starts and ends between readings. The expected energy
is computed by hand in each test from the trace's literal numbers (within 0.5%).
"""

import shutil
from pathlib import Path

import pytest

from edgeshrink.agent.power_sampler import Sampler
from edgeshrink.agent.power_sources import discover
from edgeshrink.agent.sensors import Sensors

from .test_power_sources import PI5_RAILS, fake_vcgencmd

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "power"
NO_VCGENCMD = "/nonexistent/vcgencmd"


class SteppedClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def board(tmp_path, tree):
    root = tmp_path / tree
    shutil.copytree(FIXTURES / tree, root, symlinks=True)
    return root


def play(root, vcgencmd, trace, write, window, **choice):
    """Poll the board's source at each trace time, after ``write(root, value)`` set it."""
    found = discover(str(root), vcgencmd, **choice)
    assert found.source is not None, found.reason
    clock = SteppedClock()
    sampler = Sampler(Sensors(str(root), vcgencmd=vcgencmd), source=found.source, clock=clock)
    for t, value in trace:
        clock.now = t
        write(root, value)
        sampler.poll()
    energy, _ = sampler.energy(*window)
    return found.source, energy


def write_file(relative):
    def write(root, value):
        (root / relative).write_text("%d\n" % value)
    return write


def test_jetson_orin_jp5_vdd_in_current_trace(tmp_path):
    root = board(tmp_path, "orin-nano-jp5")
    # curr1_input (mA) at 10 Hz while a model runs; in1_input stays 5048 mV.
    trace = [(0.0, 960), (0.1, 1500), (0.2, 2100), (0.3, 1800), (0.4, 1700), (0.5, 980)]
    hwmon = next(p for p in (root / "sys/bus/i2c/devices/1-0040/hwmon").iterdir())
    source, energy = play(root, NO_VCGENCMD, trace, write_file(hwmon.relative_to(root) / "curr1_input"),
                          (0.05, 0.45))
    assert (source.name, source.rail) == ("ina3221", "VDD_IN")
    watts = [5.048 * ma / 1000 for _, ma in trace]    # V x A
    # 0.05 s from the midpoint of 0.0-0.1 to 0.1, three whole steps, 0.05 s to 0.45
    edge_in = (watts[0] + watts[1]) / 2
    edge_out = (watts[4] + watts[5]) / 2
    by_hand = (0.05 * (edge_in + watts[1]) / 2 + sum(0.1 * (a + b) / 2 for a, b in zip(watts[1:4], watts[2:5]))
               + 0.05 * (watts[4] + edge_out) / 2)
    assert energy.joules == pytest.approx(by_hand, rel=0.005) and energy.samples == 4


def test_jetson_orin_jp6_reads_the_same_rail_layout(tmp_path):
    root = board(tmp_path, "orin-nano-jp6")
    hwmon = next(p for p in (root / "sys/bus/i2c/devices/1-0040/hwmon").iterdir())
    trace = [(0.0, 1000), (0.5, 1000), (1.0, 3000)]
    source, energy = play(root, NO_VCGENCMD, trace, write_file(hwmon.relative_to(root) / "curr1_input"), (0.0, 1.0))
    volts = int((hwmon / "in1_input").read_text()) / 1000
    assert source.rail == "VDD_IN"
    assert energy.joules == pytest.approx(0.5 * volts * 1.0 + 0.5 * volts * 2.0, rel=0.005)


def test_jetson_nano_jp4_pom_5v_in_power_trace(tmp_path):
    root = board(tmp_path, "jetson-nano-jp4")
    iio = next(p for p in (root / "sys/bus/i2c/devices/6-0040").iterdir() if p.name.startswith("iio"))
    trace = [(0.0, 2889), (0.25, 4100), (0.5, 4300), (0.75, 2950)]   # in_power0_input, mW
    source, energy = play(root, NO_VCGENCMD, trace, write_file(iio.relative_to(root) / "in_power0_input"),
                          (0.0, 0.75))
    assert (source.name, source.rail) == ("ina3221x", "POM_5V_IN")
    by_hand = 0.25 * ((2.889 + 4.100) / 2 + (4.100 + 4.300) / 2 + (4.300 + 2.950) / 2)
    assert energy.joules == pytest.approx(by_hand, rel=0.005)


def test_intel_laptop_rapl_counter_wrapping_inside_the_window(tmp_path):
    root = board(tmp_path, "intel-laptop")
    zone = root / "sys/class/powercap/intel-rapl:0"
    range_uj = int((zone / "max_energy_range_uj").read_text())
    # package-0 at 12.5 W, read every 0.1 s, starting 0.3 J before the counter's range ends
    start_uj = range_uj - 300000
    trace = [(i / 10, (start_uj + 1250000 * i) % range_uj) for i in range(8)]
    assert any(b < a for (_, a), (_, b) in zip(trace, trace[1:]))   # it wraps inside the window
    source, energy = play(root, NO_VCGENCMD, trace, write_file(zone.relative_to(root) / "energy_uj"),
                          (0.05, 0.65), rail="package-0")
    assert (source.name, source.rail) == ("rapl", "package-0")
    assert energy.joules == pytest.approx(12.5 * 0.6, rel=0.005)


def test_pi5_pmic_power_through_vcgencmd(tmp_path):
    vcgencmd = fake_vcgencmd(tmp_path, "bin-pi5")
    trace = [(t / 10, None) for t in range(6)]        # the capture is static: constant power
    source, energy = play(board(tmp_path, "pi5"), vcgencmd, trace, lambda root, value: None, (0.05, 0.45))
    by_hand = sum(volts * amps for volts, amps in PI5_RAILS.values()) * 0.4
    assert source.name == "pi5-pmic" and energy.joules == pytest.approx(by_hand, rel=0.005)


def test_pi4_has_no_current_sensing_so_power_is_not_measured(tmp_path):
    found = discover(str(board(tmp_path, "pi4")), fake_vcgencmd(tmp_path, "bin-pi4"))
    assert found.source is None and "Raspberry Pi 4 and earlier have no current sensing" in found.reason


def test_the_power_trace_through_a_window_is_the_rail_in_watts(tmp_path):
    """What the report draws: the readings inside the window, as watts, on the window's clock."""
    root = board(tmp_path, "orin-nano-jp5")
    trace = [(0.0, 960), (0.1, 1500), (0.2, 2100), (0.3, 1800), (0.4, 1700), (0.5, 980)]
    hwmon = next(p for p in (root / "sys/bus/i2c/devices/1-0040/hwmon").iterdir())
    found = discover(str(root), NO_VCGENCMD)
    clock = SteppedClock()
    sampler = Sampler(Sensors(str(root), vcgencmd=NO_VCGENCMD), source=found.source, clock=clock)
    for t, value in trace:
        clock.now = t
        write_file(hwmon.relative_to(root) / "curr1_input")(root, value)
        sampler.poll()
    points = sampler.power_trace(0.05, 0.45)       # the reads inside, and the one on each side
    assert [t for t, _ in points] == pytest.approx([-0.05, 0.05, 0.15, 0.25, 0.35, 0.45])
    assert [w for _, w in points] == pytest.approx([5.048 * ma / 1000 for _, ma in trace])
