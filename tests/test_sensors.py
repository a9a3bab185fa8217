"""Thermal and throttling readings against fixture trees shaped like real boards' /sys
(layouts from ../shared/reference/power-and-thermal-sources.md)."""

import stat

from edgeshrink.agent.sensors import Sensors, throttling_verdict


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def pi4_tree(root, max_freq=1500000):
    write(root, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n")
    write(root, "sys/class/thermal/thermal_zone0/temp", "48312\n")
    policy = "sys/devices/system/cpu/cpufreq/policy0/"
    for name, value in (("scaling_cur_freq", "600000"), ("scaling_max_freq", str(max_freq)),
                        ("cpuinfo_max_freq", "1500000"), ("scaling_governor", "ondemand")):
        write(root, policy + name, value + "\n")


def fake_vcgencmd(tmp_path, value):
    script = tmp_path / "vcgencmd"
    script.write_text("#!/bin/sh\necho throttled=%s\n" % value)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_pi4_tree_reads_temperature_frequency_and_governor(tmp_path):
    pi4_tree(tmp_path)
    snap = Sensors(str(tmp_path), vcgencmd=fake_vcgencmd(tmp_path, "0x0")).snapshot()
    assert snap["temperatures_c"] == {"cpu-thermal": 48.312}
    assert snap["cpufreq_khz"]["policy0"] == {"cur": 600000, "max": 1500000, "hw_max": 1500000,
                                              "governor": "ondemand"}
    assert snap["vcgencmd_throttled"] == 0


def test_jetson_offline_zones_and_pmic_are_skipped(tmp_path):
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "47687\n")
    write(tmp_path, "sys/class/thermal/thermal_zone1/type", "cv0-thermal\n")
    write(tmp_path, "sys/class/thermal/thermal_zone1/temp", "-256000\n")
    write(tmp_path, "sys/class/thermal/thermal_zone2/type", "PMIC-Die\n")
    write(tmp_path, "sys/class/thermal/thermal_zone2/temp", "50000\n")
    assert Sensors(str(tmp_path), vcgencmd="/nonexistent").temperatures_c() == {"cpu-thermal": 47.687}


def test_vcgencmd_current_and_newly_latched_bits_flag_the_run(tmp_path):
    pi4_tree(tmp_path)
    before = Sensors(str(tmp_path), vcgencmd=fake_vcgencmd(tmp_path, "0x50000")).snapshot()
    after_same = Sensors(str(tmp_path), vcgencmd=fake_vcgencmd(tmp_path, "0x50000")).snapshot()
    # Bits that latched before the run (0x50000) do not blame this run.
    assert throttling_verdict(before, after_same)["throttled"] is False
    after_hot = Sensors(str(tmp_path), vcgencmd=fake_vcgencmd(tmp_path, "0x50004")).snapshot()
    verdict = throttling_verdict(before, after_hot)
    assert verdict["throttled"] is True and "vcgencmd: throttled" in verdict["evidence"]


def test_frequency_cap_is_evidence_and_no_source_is_unknown(tmp_path):
    pi4_tree(tmp_path, max_freq=1000000)
    snap = Sensors(str(tmp_path), vcgencmd="/nonexistent").snapshot()
    verdict = throttling_verdict(snap, snap)
    assert verdict["throttled"] is True and "policy0 capped" in verdict["evidence"][0]
    empty = Sensors(str(tmp_path / "nothing"), vcgencmd="/nonexistent").snapshot()
    unknown = throttling_verdict(empty, empty)
    assert unknown["throttled"] is None and "no throttling source" in unknown["reason"]


def test_x86_throttle_counter_growth(tmp_path):
    write(tmp_path, "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "3\n")
    sensors = Sensors(str(tmp_path), vcgencmd="/nonexistent")
    before = sensors.snapshot()
    write(tmp_path, "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "5\n")
    verdict = throttling_verdict(before, sensors.snapshot())
    assert verdict["throttled"] is True and "rose by 2" in verdict["evidence"][0]
