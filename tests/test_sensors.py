"""Thermal and throttling readings against fixture trees shaped like real boards' /sys
(layouts from ../shared/reference/power-and-thermal-sources.md; trees in fixtures/sysfs).

Throttling is a change during the run: a static cap is a note, not a verdict, and a
board with no readable source gets "unknown", never "not throttled".
"""

from pathlib import Path

import pytest

from edgeshrink.agent import facts
from edgeshrink.agent.sensors import SYSFS_ROOT_ENV, Sensors, throttling_verdict

from .conftest import install_vcgencmd

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NO_VCGENCMD = "/nonexistent/vcgencmd"


def fake_vcgencmd(tmp_path, folder):
    return install_vcgencmd(tmp_path, FIXTURES / folder)


def snapshot(tree, vcgencmd=NO_VCGENCMD):
    return Sensors(str(FIXTURES / "sysfs" / tree), vcgencmd=vcgencmd).snapshot()


def verdict_of(tree, vcgencmd=NO_VCGENCMD):
    """Before and after read the same static tree, as in a run where nothing changed."""
    return throttling_verdict(snapshot(tree, vcgencmd), snapshot(tree, vcgencmd))


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_pi4_tree_reads_temperature_frequency_governor_and_volt_alarm(tmp_path):
    snap = snapshot("pi4", fake_vcgencmd(tmp_path, "bin-pi-sticky"))
    assert snap["temperatures_c"] == {"cpu-thermal": 48.312}
    assert snap["passive_trips_c"] == {}  # the Pi's only trip point is critical
    assert snap["cpufreq_khz"]["policy0"] == {"cur": 600000, "max": 1500000, "hw_max": 1500000,
                                              "governor": "ondemand", "driver": "cpufreq-dt"}
    assert snap["vcgencmd_throttled"] == 0x50000 and snap["rpi_undervoltage_alarm"] == 0


def test_jetson_zones_through_class_symlinks_skip_offline_zones_with_passive_trips(tmp_path):
    snap = snapshot("static-cap")
    assert snap["temperatures_c"] == {"cpu-thermal": 47.687, "gpu-thermal": 48.625,
                                      "soc0-thermal": 47.468, "tj-thermal": 48.625}
    assert "cv0-thermal" not in snap["temperatures_c"]  # -256 C: offline
    assert snap["passive_trips_c"]["cpu-thermal"] == 95.5
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "PMIC-Die\n")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "50000\n")
    assert Sensors(str(tmp_path), vcgencmd=NO_VCGENCMD).temperatures_c() == {}


def test_a_static_power_mode_cap_is_a_note_not_throttling():
    verdict = verdict_of("static-cap")
    assert verdict["throttled"] is False and verdict["evidence"] == []
    assert "static cap: policy0, policy4 limited to 960000 of 1510400 kHz; not throttling" in verdict["notes"]
    assert verdict["sources"] == ["cpufreq", "thermal zones"]


def test_a_clock_held_down_under_the_performance_governor_is_throttling():
    verdict = verdict_of("firmware-throttling")
    assert verdict["throttled"] is True
    assert verdict["evidence"][0].startswith("cpufreq: policy0 at 729600 kHz under the performance governor")


def test_a_zone_past_its_passive_trip_point_is_throttling():
    verdict = verdict_of("hot-zone")
    assert verdict["throttled"] is True
    assert ("thermal zone cpu-thermal at 97.5 C, at or above its passive trip point 95.5 C"
            in verdict["evidence"])
    assert not any(e.startswith("cpufreq") for e in verdict["evidence"])  # the clock is at its limit


def test_a_limit_that_dropped_during_the_run_is_throttling():
    before, after = snapshot("pi4"), snapshot("pi4-limit-dropped")
    verdict = throttling_verdict(before, after)
    assert verdict["throttled"] is True
    assert verdict["evidence"] == ["cpufreq: policy0 limit dropped from 1500000 to 1000000 kHz during the run"]
    # The same lowered limit already there before the run is only a static cap.
    steady = throttling_verdict(after, after)
    assert steady["throttled"] is False
    assert "static cap: policy0 limited to 1000000 of 1500000 kHz; not throttling" in steady["notes"]


def test_cur_below_the_limit_is_not_blamed_under_ondemand_or_a_measured_average_driver(tmp_path):
    verdict = verdict_of("pi4")  # ondemand at 600 of 1500 MHz: the governor's choice
    assert verdict["throttled"] is False
    assert any("governor ondemand lowers the clock itself on policy0" in n for n in verdict["notes"])
    policy = "sys/devices/system/cpu/cpufreq/policy%d/"
    for cpu in range(2):
        for name, value in (("scaling_cur_freq", "800000"), ("scaling_max_freq", "4200000"),
                            ("cpuinfo_max_freq", "4200000"), ("scaling_governor", "performance"),
                            ("scaling_driver", "intel_pstate")):
            write(tmp_path, policy % cpu + name, value + "\n")
    snap = Sensors(str(tmp_path), vcgencmd=NO_VCGENCMD).snapshot()
    x86 = throttling_verdict(snap, snap)
    assert x86["throttled"] is False
    assert x86["notes"] == ["cpufreq: driver intel_pstate reports a measured average that falls when cores "
                            "idle on policy0, policy1; only a drop of the limit counts"]


def test_pi_under_voltage_now_is_throttling(tmp_path):
    verdict = verdict_of("pi-undervoltage", fake_vcgencmd(tmp_path, "bin-pi-undervoltage"))
    assert verdict["throttled"] is True
    assert "vcgencmd: under-voltage now (get_throttled=0x50005)" in verdict["evidence"]
    assert "vcgencmd: throttling now (get_throttled=0x50005)" in verdict["evidence"]
    assert "rpi_volt: under-voltage alarm (in0_lcrit_alarm=1)" in verdict["evidence"]
    assert {"vcgencmd", "rpi_volt", "cpufreq"} <= set(verdict["sources"])


def test_sticky_bits_set_before_the_run_are_a_note_and_new_ones_are_evidence(tmp_path):
    sticky = fake_vcgencmd(tmp_path, "bin-pi-sticky")
    verdict = verdict_of("pi4", sticky)
    assert verdict["throttled"] is False and verdict["evidence"] == []
    assert "vcgencmd: under-voltage occurred before this run (sticky bit set since boot)" in verdict["notes"]
    clean = dict(snapshot("pi4", sticky), vcgencmd_throttled=0x0)
    latched = throttling_verdict(clean, snapshot("pi4", sticky))
    assert latched["throttled"] is True
    assert "vcgencmd: under-voltage occurred during this run (get_throttled 0x0 -> 0x50000)" in latched["evidence"]
    assert "vcgencmd: throttling occurred during this run (get_throttled 0x0 -> 0x50000)" in latched["evidence"]


def test_no_readable_source_is_unknown_with_the_reason():
    verdict = verdict_of("no-source")
    root = str(FIXTURES / "sysfs" / "no-source")
    assert verdict == {"throttled": None, "evidence": [], "notes": [], "sources": [],
                       "reason": "no readable source (no cpufreq, vcgencmd, thermal_throttle counters or "
                                 "thermal zones with a passive trip point under %s)" % root}


def test_temperatures_alone_cannot_say_not_throttled(tmp_path):
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "47000\n")
    snap = Sensors(str(tmp_path), vcgencmd=NO_VCGENCMD).snapshot()
    assert snap["temperatures_c"] == {"x86_pkg_temp": 47.0}
    assert throttling_verdict(snap, snap)["throttled"] is None


def test_x86_throttle_counter_growth(tmp_path):
    write(tmp_path, "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "3\n")
    write(tmp_path, "sys/devices/system/cpu/cpu1/thermal_throttle/package_throttle_count", "1\n")
    sensors = Sensors(str(tmp_path), vcgencmd=NO_VCGENCMD)
    before = sensors.snapshot()
    assert throttling_verdict(before, before) == {"throttled": False, "evidence": [], "notes": [],
                                                  "sources": ["thermal_throttle"]}
    write(tmp_path, "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "5\n")
    verdict = throttling_verdict(before, sensors.snapshot())
    assert verdict["throttled"] is True
    assert verdict["evidence"] == ["thermal_throttle: kernel throttle count rose by 2"]


@pytest.mark.parametrize("tree, board, governors", [
    ("static-cap", "NVIDIA Jetson Orin Nano Developer Kit", ["performance"]),
    ("pi4", "Raspberry Pi 4 Model B Rev 1.4", ["ondemand"]),
    ("no-source", None, []),
])
def test_the_sysfs_root_comes_from_the_environment(tree, board, governors, monkeypatch, tmp_path):
    root = str(FIXTURES / "sysfs" / tree)
    monkeypatch.setenv(SYSFS_ROOT_ENV, root)
    assert Sensors().sys_root == root
    collected = facts.collect(str(tmp_path))
    assert collected["sysfs_root"] == root and collected["thermal"]["sys_root"] == root
    assert collected["board"] == board and collected["governors"] == governors
