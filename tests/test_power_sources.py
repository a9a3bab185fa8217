"""The power source registry against fixture trees shaped like real boards' /sys
(layouts from ../shared/reference/power-and-thermal-sources.md, sections 1, 3 and 6;
trees in fixtures/power, fake vcgencmd in fixtures/power/bin-pi4 and bin-pi5).

A board gets one source with its boundary, or no source and one line saying why:
never a guess, never a sum of sub-rails passed off as the board's input.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeshrink.agent import power_sources
from edgeshrink.agent.power_sources import (ENERGY, POWER, RAPL_NOT_PERMITTED, SOURCE_NAMES, PowerReadError,
                                            discover, parse_pmic_read_adc, read_sysfs_int)

from .conftest import install_vcgencmd

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "power"
NO_VCGENCMD = "/nonexistent/vcgencmd"
DESCRIBE_KEYS = {"name", "rail", "boundary", "kind", "unit", "period_s", "wrap_j"}
RAPL_RANGE_UJ = 262143328850

# The Pi 5 capture's rails with both readings, typed in from the reference: (volts, amps).
PI5_RAILS = {
    "3V7_WL_SW": (3.69977600, 0.09368929), "3V3_SYS": (3.31003300, 0.08783370),
    "1V8_SYS": (1.80512600, 0.18054710), "DDR_VDD2": (1.10476100, 0.22543980),
    "DDR_VDDQ": (0.60146460, 0.06666720), "1V1_SYS": (1.11025500, 0.17566740),
    "0V8_SW": (0.80146440, 0.37670900), "VDD_CORE": (0.86173300, 6.22421000),
    "3V3_DAC": (3.31318300, 0.00006105), "3V3_ADC": (3.30677300, 0.00036630),
    "0V8_AON": (0.80029220, 0.00305250), "HDMI": (5.08664000, 0.02417580),
}


def fake_vcgencmd(tmp_path, folder):
    return install_vcgencmd(tmp_path, FIXTURES / folder)


def script(tmp_path, name, body):
    """A throwaway vcgencmd stand-in."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def board(tmp_path, tree):
    """A writable copy of a fixture tree (symlinks kept as symlinks)."""
    target = tmp_path / tree
    shutil.copytree(FIXTURES / tree, target, symlinks=True)
    return target


def write(root, relative, data):
    path = Path(root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def found(tree, **kwargs):
    kwargs.setdefault("vcgencmd", NO_VCGENCMD)
    return discover(str(FIXTURES / tree), **kwargs)


def assert_one_line(discovery):
    assert discovery.reason and "\n" not in discovery.reason and "\r" not in discovery.reason
    assert all("\n" not in line for line in discovery.tried)


# ---- boards ---------------------------------------------------------------------------


def test_pi4_is_not_measured_and_says_why(tmp_path):
    for vcgencmd in (fake_vcgencmd(tmp_path, "bin-pi4"), NO_VCGENCMD):
        discovery = found("pi4", vcgencmd=vcgencmd)
        assert discovery.source is None
        assert_one_line(discovery)
        assert "Raspberry Pi 4 Model B Rev 1.4" in discovery.reason
        assert "Raspberry Pi 4 and earlier have no current sensing" in discovery.reason
        assert [line.split(":")[0] for line in discovery.tried] == list(SOURCE_NAMES)
    assert 'exited 255: error=1 error_msg="Command not registered"' in found(
        "pi4", vcgencmd=fake_vcgencmd(tmp_path, "bin-pi4")).reason
    # rpi_volt and cpu_thermal are hwmon chips, but neither measures power.
    assert "hwmon: no power or voltage x current channels in 2 hwmon chip(s) (cpu_thermal, rpi_volt)" \
        in found("pi4").tried


def test_pi5_pmic_is_the_sum_of_v_times_a_over_the_rails_with_both(tmp_path):
    discovery = found("pi5", vcgencmd=fake_vcgencmd(tmp_path, "bin-pi5"))
    source = discovery.source
    expected = sum(volts * amps for volts, amps in PI5_RAILS.values())
    assert source.name == "pi5-pmic" and source.rail == "sum of 12 PMIC rails"
    assert source.kind == POWER and source.wrap_j is None and source.period_s == 0.1
    assert source.read() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(7.2398, abs=1e-4)
    assert "excludes conversion losses and 5 V loads (USB, HATs)" in source.boundary
    assert set(source.describe()) == DESCRIBE_KEYS
    assert discovery.reason is None
    assert discovery.tried[2].startswith("pi5-pmic: sum of 12 PMIC rails from ")
    assert discovery.tried[3:] == ["hwmon: not tried (pi5-pmic sum of 12 PMIC rails came first)",
                                   "rapl: not tried (pi5-pmic sum of 12 PMIC rails came first)"]


def test_pi5_one_pmic_rail_by_name(tmp_path):
    source = found("pi5", vcgencmd=fake_vcgencmd(tmp_path, "bin-pi5"), rail="VDD_CORE").source
    assert source.rail == "VDD_CORE" and "one PMIC output rail (VDD_CORE)" in source.boundary
    assert source.read() == pytest.approx(0.86173300 * 6.22421000, rel=1e-12)
    # Voltage-only rails are not rails one can read power from.
    missing = found("pi5", vcgencmd=fake_vcgencmd(tmp_path, "bin-pi5"), source="pi5-pmic", rail="EXT5V")
    assert missing.source is None and 'no rail "EXT5V" from pi5-pmic' in missing.reason
    assert "VDD_CORE" in missing.reason


def test_pi5_without_access_to_the_firmware_says_how_to_fix_it(tmp_path):
    denied = script(tmp_path, "vcgencmd", 'echo "Can\'t open device file: /dev/vcio"\n'
                                          'echo "Try creating a device file with: sudo mknod /dev/vcio c 100 0"\n'
                                          "exit 255\n")
    discovery = found("pi5", vcgencmd=denied)
    assert discovery.source is None
    assert_one_line(discovery)
    assert "exited 255: Can't open device file: /dev/vcio" in discovery.reason
    assert "add the agent's user to the video group" in discovery.reason
    assert "no current sensing" not in discovery.reason


def test_a_pmic_read_that_loses_a_rail_fails_instead_of_summing_less(tmp_path):
    capture, marker = FIXTURES / "bin-pi5" / "vcgencmd", tmp_path / "drop"
    # Once the marker exists, the output lacks VDD_CORE_A.
    flaky = script(tmp_path, "vcgencmd", 'if [ -e "%s" ]; then sh "%s" "$1" | grep -v VDD_CORE_A; '
                                         'else sh "%s" "$1"; fi\n' % (marker, capture, capture))
    source = found("pi5", vcgencmd=flaky).source
    assert source.rail == "sum of 12 PMIC rails"
    marker.touch()
    with pytest.raises(PowerReadError, match=r"^pmic_read_adc output lacked rail\(s\) VDD_CORE$"):
        source.read()


def test_pmic_output_that_is_not_text_is_a_read_error(tmp_path):
    garbage = script(tmp_path, "vcgencmd", r"printf '\377\376 VDD_CORE_A current(7)=1.2.3A\n\000\n'" + "\n")
    discovery = found("pi5", vcgencmd=garbage)
    assert discovery.source is None
    assert "printed no rail with both a current and a voltage" in discovery.reason


def test_jetson_nano_jp4_reads_the_module_input_from_the_drivers_power_file():
    source = found("jetson-nano-jp4").source
    assert (source.name, source.rail, source.kind) == ("ina3221x", "POM_5V_IN", POWER)
    assert source.read() == pytest.approx(2.889)   # in_power0_input = 2889 mW
    assert source.unit == "in_power0_input mW / 1e3 = W"
    assert source.boundary == "module input (POM_5V_IN); excludes the carrier board and USB loads"


def test_jetson_nano_jp4_without_a_power_file_multiplies_voltage_and_current(tmp_path):
    root = board(tmp_path, "jetson-nano-jp4")
    os.remove(root / "sys/bus/i2c/devices/6-0040/iio:device0/in_power0_input")
    source = discover(str(root), NO_VCGENCMD).source
    assert source.read() == pytest.approx(5016 * 576 / 1e6)
    assert source.unit == "in_voltage0_input mV x in_current0_input mA / 1e6 = W"


@pytest.mark.parametrize("tree, chip", [("orin-nano-jp5", "hwmon3"), ("orin-nano-jp6", "hwmon1")])
def test_orin_nano_reads_vdd_in_as_millivolts_times_milliamps(tree, chip):
    discovery = found(tree)
    source = discovery.source
    assert (source.name, source.rail, source.kind) == ("ina3221", "VDD_IN", POWER)
    assert source.read() == pytest.approx(5048 * 960 / 1e6) == pytest.approx(4.84608)
    assert source.unit == "in1_input mV x curr1_input mA / 1e6 = W"
    assert source.reads[0].endswith("sys/bus/i2c/devices/1-0040/hwmon/%s/in1_input" % chip)
    assert source.boundary == "module input (VDD_IN); excludes the carrier board and USB loads"
    assert discovery.tried[0] == ("ina3221: VDD_IN from sys/bus/i2c/devices/1-0040/hwmon/%s/in1_input, "
                                  "sys/bus/i2c/devices/1-0040/hwmon/%s/curr1_input, read 4.84608 W" % (chip, chip))


def test_rails_are_matched_by_label_not_by_channel_order(tmp_path):
    root = board(tmp_path, "orin-nano-jp5")
    chip = root / "sys/bus/i2c/devices/1-0040/hwmon/hwmon3"
    write(chip, "in1_label", "VDD_SOC\n")
    write(chip, "in3_label", "VDD_IN\n")
    assert discover(str(root), NO_VCGENCMD).source.read() == pytest.approx(5048 * 288 / 1e6)


def test_the_generic_hwmon_family_leaves_ina3221_to_its_own_family():
    discovery = found("orin-nano-jp6", source="hwmon")   # the chip is also sys/class/hwmon/hwmon1
    assert discovery.source is None
    assert "ina3221 is read by the ina3221 source" in discovery.reason


def test_agx_orin_has_no_input_rail_and_is_never_summed():
    discovery = found("agx-orin")
    assert discovery.source is None
    assert_one_line(discovery)
    assert discovery.tried[0] == (
        "ina3221: no input rail (VDD_IN or POM_5V_IN) among VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0, "
        'VDDQ_VDD2_1V8AO; name one with rail = "<label>" in [devices.NAME.power]')
    # NC channels and channel 7 ("sum of shunt voltages") are not rails.
    assert "NC" not in discovery.tried[0].split("among ")[1].split(";")[0].split(", ")
    assert "sum of shunt voltages" not in discovery.reason


def test_agx_orin_with_a_named_rail_reads_that_rail_only():
    for source_name in (None, "ina3221"):
        source = found("agx-orin", rail="VIN_SYS_5V0", source=source_name).source
        assert (source.name, source.rail) == ("ina3221", "VIN_SYS_5V0")
        assert source.read() == pytest.approx(5024 * 989 / 1e6)
        assert source.unit == "in3_input mV x curr3_input mA / 1e6 = W"
        assert "one INA3221 rail (VIN_SYS_5V0) only" in source.boundary
    # The second chip's rail, on channel 2 of 1-0041.
    assert found("agx-orin", rail="VDDQ_VDD2_1V8AO").source.read() == pytest.approx(1808 * 603 / 1e6)


def test_intel_laptop_prefers_psys_as_an_energy_counter_in_joules():
    discovery = found("intel-laptop")
    source = discovery.source
    assert (source.name, source.rail, source.kind) == ("rapl", "psys", ENERGY)
    assert source.read() == pytest.approx(987.654321)
    assert source.wrap_j == pytest.approx(RAPL_RANGE_UJ / 1e6)
    assert source.unit == "energy_uj uJ / 1e6 = J"
    assert source.boundary.startswith("platform (RAPL psys domain") and source.boundary.endswith("not wall power")
    assert source.describe() == {"name": "rapl", "rail": "psys", "boundary": source.boundary, "kind": ENERGY,
                                 "unit": "energy_uj uJ / 1e6 = J", "period_s": 0.1, "wrap_j": RAPL_RANGE_UJ / 1e6}
    assert discovery.tried[-1] == "rapl: psys from sys/class/powercap/intel-rapl:1/energy_uj, read 987.654 J"


def test_intel_without_psys_reads_the_package():
    source = found("intel-desktop").source
    assert (source.name, source.rail, source.kind) == ("rapl", "package-0", ENERGY)
    assert source.read() == pytest.approx(123.456789)
    assert source.wrap_j == pytest.approx(RAPL_RANGE_UJ / 1e6)
    assert source.boundary == "CPU package only (RAPL package domain); not wall power"


def test_rapl_rails_by_name_include_subzones_and_skip_the_mmio_copy():
    assert found("intel-laptop", rail="package-0").source.read() == pytest.approx(123.456789)
    core = found("intel-laptop", source="rapl", rail="package-0/core").source
    assert core.read() == pytest.approx(61.728394) and "core domain of package-0" in core.boundary
    missing = found("intel-laptop", rail="dram")
    assert missing.reason == ('no rail "dram" under %s; rails that exist: rapl: package-0, psys, package-0/core, '
                              "package-0/uncore" % (FIXTURES / "intel-laptop"))


def test_two_packages_are_summed_and_unwrapped_per_package(tmp_path):
    root = board(tmp_path, "amd-rapl")
    source = discover(str(root), NO_VCGENCMD).source
    assert (source.rail, source.kind, source.wrap_j) == ("package-0+package-1", ENERGY, None)
    assert source.read() == pytest.approx(500.0)   # 200 J + 300 J
    zone0, zone1 = root / "sys/class/powercap/intel-rapl:0", root / "sys/class/powercap/intel-rapl:1"
    write(zone0, "energy_uj", "1000000\n")                      # package-0 wrapped
    write(zone1, "energy_uj", "301000000\n")                    # package-1 rose by 1 J
    rise_uj = (1000000 + RAPL_RANGE_UJ - 200000000) + 1000000
    assert source.read() == pytest.approx(500.0 + rise_uj / 1e6)
    assert found("amd-rapl", rail="package-1").source.read() == pytest.approx(300.0)


def test_a_single_counter_is_returned_raw_for_the_sampler_to_unwrap(tmp_path):
    root = board(tmp_path, "intel-desktop")
    source = discover(str(root), NO_VCGENCMD).source
    write(root / "sys/class/powercap/intel-rapl:0", "energy_uj", "5\n")
    assert source.read() == pytest.approx(5e-6)   # went down: a wrap, which wrap_j lets the sampler undo


def test_a_generic_hwmon_power_chip_reads_microwatts_at_its_averaging_interval():
    source = found("hwmon-power-meter").source
    assert (source.name, source.rail, source.kind) == ("hwmon", "power_meter/power1", POWER)
    assert source.read() == pytest.approx(112.5)
    assert source.period_s == 1.0   # power1_average_interval = 1000 ms
    assert source.unit == "power1_average uW / 1e6 = W"
    assert found("hwmon-power-meter", rail="power1").source.rail == "power_meter/power1"


def test_a_hwmon_chip_with_voltage_and_current_channels_is_multiplied():
    source = found("hwmon-ltc4151").source
    assert (source.name, source.rail) == ("hwmon", "ltc4151/in1*curr1")
    assert source.read() == pytest.approx(12048 * 415 / 1e6)
    assert source.unit == "in1_input mV x curr1_input mA / 1e6 = W"


def test_a_graphics_cards_power_sensor_is_not_taken_for_the_boards(tmp_path):
    root = board(tmp_path, "intel-desktop")
    write(root, "sys/class/hwmon/hwmon5/name", "amdgpu\n")
    write(root, "sys/class/hwmon/hwmon5/power1_label", "PPT\n")
    write(root, "sys/class/hwmon/hwmon5/power1_average", "31000000\n")
    discovery = discover(str(root), NO_VCGENCMD)
    assert discovery.source.rail == "package-0"
    assert discovery.tried[3].startswith("hwmon: only GPU power channels (amdgpu/PPT), not the board's; ")
    gpu = discover(str(root), NO_VCGENCMD, rail="amdgpu/PPT").source
    assert (gpu.name, gpu.read()) == ("hwmon", pytest.approx(31.0))


def test_an_empty_board_names_every_family_it_tried():
    discovery = found("no-source")
    assert discovery.source is None
    assert discovery.reason == (
        "no power source under %s: ina3221: no INA3221 hwmon chip (JetPack 5/6) under sys/bus/i2c/devices; "
        "ina3221x: no INA3221x IIO device (JetPack 4) under sys/bus/i2c/devices; "
        "pi5-pmic: vcgencmd pmic_read_adc not available (no vcgencmd at /nonexistent/vcgencmd); "
        "hwmon: no hwmon chips under sys/class/hwmon; rapl: no RAPL powercap zones under sys/class/powercap"
        % (FIXTURES / "no-source"))


# ---- selection by name ----------------------------------------------------------------


def test_a_named_source_is_the_only_family_tried():
    discovery = found("intel-laptop", source="ina3221")
    assert discovery.source is None
    assert discovery.reason == ("no power source from ina3221 under %s: ina3221: no INA3221 hwmon chip "
                                "(JetPack 5/6) under sys/bus/i2c/devices" % (FIXTURES / "intel-laptop"))
    assert len(discovery.tried) == 1
    assert found("intel-laptop", source="rapl", rail="package-0").source.rail == "package-0"


@pytest.mark.parametrize("name", ["nope", "", "RAPL", "rapl\nrm -rf /", "x" * 10000, "\x00\udcff", 42, ["rapl"]])
def test_an_unknown_source_name_lists_the_rails_that_exist(name):
    discovery = found("orin-nano-jp5", source=name)
    assert discovery.source is None
    assert_one_line(discovery)
    assert discovery.reason.startswith("unknown power source ")
    assert "(known: ina3221, ina3221x, pi5-pmic, hwmon, rapl)" in discovery.reason
    assert discovery.reason.endswith("rails that exist under %s: ina3221: VDD_IN, VDD_CPU_GPU_CV, VDD_SOC"
                                     % (FIXTURES / "orin-nano-jp5"))
    assert len(discovery.reason) < 1000


@pytest.mark.parametrize("rail", ["VDD_NOPE", "", "vdd_in", " VDD_IN", "VDD_IN\n", "\udcff" * 50, 7, None])
def test_a_rail_that_does_not_exist_lists_the_rails_that_do(rail):
    discovery = found("orin-nano-jp5", rail=rail)
    if rail is None:   # no rail named: the default
        assert discovery.source.rail == "VDD_IN"
        return
    assert discovery.source is None
    assert_one_line(discovery)
    assert discovery.reason.startswith("no rail ")
    assert discovery.reason.endswith("rails that exist: ina3221: VDD_IN, VDD_CPU_GPU_CV, VDD_SOC")


# ---- garbage ---------------------------------------------------------------------------


GARBAGE = [b"", b"\n", b"garbage\n", b"-5\n", b"9" * 100, b"\xff\xfe\x00\x01", b"12 34\n", b"1e6\n", b"+5\n",
           b"5_000\n", b"0x10\n", b"\xd9\xa5\n", b"1" * 65]


@pytest.mark.parametrize("content", GARBAGE)
def test_garbage_in_a_rapl_counter_is_found_but_unreadable(tmp_path, content):
    root = board(tmp_path, "intel-desktop")
    write(root, "sys/class/powercap/intel-rapl:0/energy_uj", content)
    discovery = discover(str(root), NO_VCGENCMD, source="rapl")
    assert discovery.source is None
    assert_one_line(discovery)
    assert discovery.reason.startswith("no power source from rapl under %s: rapl: package-0 found but unreadable: "
                                       % root)


@pytest.mark.parametrize("content", GARBAGE + [b"-960\n", b"99999999999999\n"])
def test_garbage_in_a_jetson_rail_is_found_but_unreadable(tmp_path, content):
    root = board(tmp_path, "orin-nano-jp5")
    write(root, "sys/bus/i2c/devices/1-0040/hwmon/hwmon3/curr1_input", content)
    discovery = discover(str(root), NO_VCGENCMD)
    assert discovery.source is None
    assert_one_line(discovery)
    assert discovery.tried[0].startswith("ina3221: VDD_IN found but unreadable: ")


def test_a_counter_beyond_its_own_range_is_a_misread(tmp_path):
    root = board(tmp_path, "intel-desktop")
    write(root, "sys/class/powercap/intel-rapl:0/energy_uj", "%d\n" % (RAPL_RANGE_UJ + 1))
    assert "outside 0..max_energy_range_uj" in discover(str(root), NO_VCGENCMD).reason


def test_an_unreadable_psys_falls_back_to_the_package_and_says_so(tmp_path):
    root = board(tmp_path, "intel-laptop")
    write(root, "sys/class/powercap/intel-rapl:1/energy_uj", b"")
    discovery = discover(str(root), NO_VCGENCMD)
    assert discovery.source.rail == "package-0"
    assert discovery.tried[-1].startswith("rapl: package-0 from sys/class/powercap/intel-rapl:0/energy_uj, read ")
    assert "; psys found but unreadable: " in discovery.tried[-1]


def test_labels_that_are_not_utf8_do_not_break_discovery(tmp_path):
    root = board(tmp_path, "agx-orin")
    write(root, "sys/bus/i2c/devices/1-0040/hwmon/hwmon1/in1_label", b"VDD_\xff\xfeGPU\x00\n")
    discovery = discover(str(root), NO_VCGENCMD)
    assert discovery.source is None
    assert_one_line(discovery)
    assert "VDD_\ufffd\ufffdGPU" in discovery.reason


def test_a_tree_with_files_where_directories_belong_still_gives_a_reason(tmp_path):
    write(tmp_path, "sys/class/hwmon/hwmon0", "not a directory")
    write(tmp_path, "sys/class/powercap/intel-rapl:0", "not a directory")
    write(tmp_path, "sys/class/powercap/intel-rapl:1/name", "package-0\n")
    write(tmp_path, "sys/class/powercap/intel-rapl:1/max_energy_range_uj", "100\n")
    (tmp_path / "sys/class/powercap/intel-rapl:1/energy_uj").mkdir()   # a directory where a file belongs
    (tmp_path / "sys/class/powercap/intel-rapl:2/name").mkdir(parents=True)
    (tmp_path / "sys/class/powercap/intel-rapl:2/max_energy_range_uj").mkdir()
    write(tmp_path, "sys/bus/i2c/devices/1-0040/name", b"ina3221\n")
    write(tmp_path, "proc/device-tree/model", b"\xff" * 5000)
    discovery = discover(str(tmp_path), NO_VCGENCMD)
    assert discovery.source is None
    assert_one_line(discovery)
    assert "rapl: package-0 found but unreadable: cannot read %s/sys/class/powercap/intel-rapl:1/energy_uj: " \
        "Is a directory" % tmp_path in discovery.reason
    for root in ("/nonexistent/root", str(tmp_path / "sys/class/hwmon/hwmon0")):
        assert discover(root, vcgencmd=NO_VCGENCMD, source="hwmon").source is None
    for root in ("", None, 5):   # not a path: this machine's own /, whatever it has
        assert isinstance(discover(root, vcgencmd=NO_VCGENCMD, source="hwmon"), power_sources.Discovery)


@pytest.mark.parametrize("vcgencmd", ["", "\x00", "/", ".", "vcgencmd\n", None, 3])
def test_any_vcgencmd_setting_ends_in_a_reason(vcgencmd):
    discovery = found("pi5", vcgencmd=vcgencmd, source="pi5-pmic")
    assert discovery.source is None
    assert_one_line(discovery)
    assert discovery.reason.startswith("no power source from pi5-pmic under ")


def test_a_read_after_discovery_fails_with_power_read_error_only(tmp_path):
    root = board(tmp_path, "orin-nano-jp5")
    source = discover(str(root), NO_VCGENCMD).source
    chip = root / "sys/bus/i2c/devices/1-0040/hwmon/hwmon3"
    write(chip, "curr1_input", "garbage\n")
    with pytest.raises(PowerReadError, match="holds b'garbage\\\\n', not an integer"):
        source.read()
    os.remove(chip / "curr1_input")
    with pytest.raises(PowerReadError, match="cannot read .*curr1_input: No such file or directory"):
        source.read()
    write(chip, "curr1_input", "%d\n" % 10 ** 40)
    with pytest.raises(PowerReadError, match="outside 0..10000 W"):
        source.read()
    write(chip, "curr1_input", "960\n")
    assert source.read() == pytest.approx(4.84608)
    source.close()
    with pytest.raises(PowerReadError, match="closed"):
        source.read()


def test_reads_touch_only_the_files_resolved_at_discovery(tmp_path, monkeypatch):
    sources = [found(tree).source for tree in ("orin-nano-jp5", "jetson-nano-jp4", "intel-laptop", "amd-rapl",
                                               "hwmon-power-meter", "hwmon-ltc4151")]

    def no_glob(*args, **kwargs):
        raise AssertionError("read() globbed")
    monkeypatch.setattr(power_sources.glob, "glob", no_glob)
    monkeypatch.setattr(power_sources.os, "listdir", no_glob)
    for source in sources:
        assert source.read() >= 0
        assert source.reads and all(Path(path).is_file() for path in source.reads)


# ---- permissions -------------------------------------------------------------------------


def test_rapl_permission_denied_is_reported_with_the_fix(monkeypatch):
    real = power_sources._read_bytes

    def denied(path, limit):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return real(path, limit)
    monkeypatch.setattr(power_sources, "_read_bytes", denied)
    discovery = found("intel-laptop")
    assert discovery.source is None
    assert "rapl: psys found but unreadable: %s; package-0 found but unreadable: %s" % (
        RAPL_NOT_PERMITTED, RAPL_NOT_PERMITTED) in discovery.reason
    assert discovery.reason.startswith("no power source under ")


_AS_NOBODY = """
import json, sys
sys.path.insert(0, sys.argv[1])
from edgeshrink.agent import power_sources
root = sys.argv[2]
try:
    open(root + "/sys/class/powercap/intel-rapl:1/energy_uj").close()
    blocked = False
except PermissionError:
    blocked = True
found = power_sources.discover(root, "/nonexistent/vcgencmd")
print(json.dumps({"blocked": blocked, "found": found.source is not None, "reason": found.reason}))
"""


def _drop_privileges():
    """Ways to run a command as nobody (65534), where this system has them."""
    if shutil.which("setpriv"):
        yield [shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"]
    if shutil.which("runuser"):
        yield [shutil.which("runuser"), "-u", "nobody", "--"]


def test_rapl_energy_uj_mode_0400_is_unreadable_for_a_normal_user():
    """For real: the tree copied with energy_uj 0400 (as since Linux 5.10), discovery run as nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run discovery as another user")
    world = tempfile.mkdtemp(prefix="edgeshrink-rapl-")   # not under pytest's 0700 basetemp
    try:
        os.chmod(world, 0o755)
        root = os.path.join(world, "root")
        shutil.copytree(str(FIXTURES / "intel-laptop"), root)
        for folder, dirs, files in os.walk(root):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o400 if name == "energy_uj" else 0o444)
        # The agent as it ships (a zipapp of the agent and shared packages: standard library only).
        from edgeshrink.host.agent_bundle import build_bytes
        bundle = os.path.join(world, "agent.pyz")
        with open(bundle, "wb") as handle:
            handle.write(build_bytes())
        os.chmod(bundle, 0o444)
        result, why = None, "no setpriv or runuser"
        for drop in _drop_privileges():
            for python in (sys.executable, "/usr/bin/python3"):
                run = subprocess.run(drop + [python, "-I", "-c", _AS_NOBODY, bundle, root], capture_output=True,
                                     text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
                if run.returncode == 0:
                    result = json.loads(run.stdout)
                    break
                why = "%s %s: %s" % (drop[0], python, run.stderr.strip()[-200:])
            if result:
                break
        if result is None:
            pytest.skip("cannot run Python as an unprivileged user: %s" % why)
        assert result["blocked"], "the unprivileged user could read energy_uj"
        assert result["found"] is False
        assert "rapl: psys found but unreadable: " + RAPL_NOT_PERMITTED in result["reason"]
        assert "hwmon: no power or voltage x current channels in 1 hwmon chip(s) (coretemp)" in result["reason"]
    finally:
        shutil.rmtree(world, ignore_errors=True)


# ---- parsers, fuzzed ----------------------------------------------------------------------


def test_pmic_lines_pair_by_name_not_by_index():
    text = ("  VDD_CORE_V volt(15)=0.86173300V\n HDMI_A current(22)=0.02417580A\n"
            "  VDD_CORE_A current(7)=6.22421000A\n     EXT5V_V volt(24)=5.09066000V\n"
            "      HDMI_V volt(3)=5.08664000V\n")
    assert parse_pmic_read_adc(text) == pytest.approx({"VDD_CORE": 0.86173300 * 6.22421000,
                                                       "HDMI": 5.08664000 * 0.02417580})
    assert parse_pmic_read_adc(text.encode().replace(b"\n", b"\x00")) == parse_pmic_read_adc(text)
    assert parse_pmic_read_adc('vc_gencmd_read_response returned -1\nerror=1 error_msg="Command not registered"') == {}
    assert parse_pmic_read_adc(" X_A current(1)=1.2.3A\n X_V volt(2)=5V\n Y_A current(3)=.A\n") == {}


_PMIC_VALUE = st.floats(min_value=0, max_value=100, allow_nan=False)
_RAIL_NAME = st.from_regex(r"[0-9A-Z][0-9A-Z_]{0,10}[0-9A-Z]", fullmatch=True).filter(
    lambda name: not name.endswith(("_A", "_V")))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.lists(st.sampled_from(
    [" VDD_CORE_A current(7)=", "6.2", "A", "V", "volt(1)=", "\n", "\x00", "_V", "..", "1e400", "9" * 400, " "]),
    max_size=30).map("".join)))
def test_the_pmic_parser_never_raises_and_gives_finite_watts(output):
    watts = parse_pmic_read_adc(output)
    assert all(isinstance(rail, str) and math.isfinite(w) and w >= 0 for rail, w in watts.items())


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_RAIL_NAME, st.tuples(_PMIC_VALUE, _PMIC_VALUE), max_size=15), st.randoms())
def test_the_pmic_parser_recovers_every_rail_whatever_the_order(rails, rng):
    lines = []
    for index, (rail, (volts, amps)) in enumerate(rails.items()):
        lines.append("%14s current(%d)=%.8fA" % (rail + "_A", index, amps))
        lines.append("%14s volt(%d)=%.8fV" % (rail + "_V", index + 40, volts))
    rng.shuffle(lines)
    parsed = parse_pmic_read_adc("\n".join(lines))
    assert parsed == pytest.approx({rail: float("%.8f" % v) * float("%.8f" % a) for rail, (v, a) in rails.items()})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=80), st.integers().map(lambda n: b"%d\n" % n),
                 st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_the_sysfs_integer_reader_returns_an_int_or_raises_power_read_error(tmp_path, data):
    path = tmp_path / "value"
    path.write_bytes(data)
    try:
        value = read_sysfs_int(str(path))
    except PowerReadError as exc:
        assert "\n" not in str(exc)
        return
    assert value == int(data.strip(b" \t\r\n\x00"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=70), st.binary(max_size=70))
def test_a_voltage_times_current_read_returns_watts_or_power_read_error(tmp_path, volts, amps):
    write(tmp_path, "sys/class/hwmon/hwmon0/name", "ltc4151\n")
    write(tmp_path, "sys/class/hwmon/hwmon0/in1_input", volts)
    write(tmp_path, "sys/class/hwmon/hwmon0/curr1_input", amps)
    discovery = discover(str(tmp_path), NO_VCGENCMD, source="hwmon")
    if discovery.source is None:
        assert "found but unreadable" in discovery.reason and "\n" not in discovery.reason
        return
    watts = discovery.source.read()
    assert math.isfinite(watts) and 0 <= watts <= power_sources.MAX_PLAUSIBLE_W
