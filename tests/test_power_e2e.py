"""Power through a whole deploy: the real agent, a meter command replaying a recorded
trace, on the board (the agent runs it) and on the host (edgeshrink runs it and maps
the agent's windows onto its own clock).

The expected energy of every variant is computed by hand from the trace over the
windows the agent reports, within 0.5%.
"""

import json
import sys

import pytest

from .conftest import cli
from .test_energy import METERS, TRACE, hand_energy, trace_points
from .test_thermal_e2e import path_with_only, write_small_recipe

TIMING = ("--min-runs", "20", "--min-time", "0.3", "--max-time", "2")


def devices_with_meter(tmp_path, where, extra=""):
    start_file = tmp_path / ("meter-start-" + where)
    command = [sys.executable, str(METERS / "replay_meter.py"), str(TRACE), "--start-file", str(start_file)]
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.board]\nconnection = "local"\nroot = "%s"\n%s[devices.board.power]\n'
                       'command = %s\nwhere = "%s"\n[devices.board.bench]\nidle_s = 0.5\n'
                       % (tmp_path / "board", extra, json.dumps(command), where))
    return devices, start_file


def measured_windows(variant):
    return [r["window_monotonic"] for r in variant["measurement"]["latency_pass"]["rounds"]]


@pytest.mark.parametrize("where", ["board", "host"])
def test_a_deploy_with_a_meter_reports_energy_per_inference_for_every_variant(where, tmp_path, tiny_model, host_env):
    devices, start_file = devices_with_meter(tmp_path, where)
    env = dict(host_env, PATH=path_with_only(None, tmp_path))
    result = cli(env, devices, "deploy", str(tiny_model), "-d", "board", "--json", "--recipe",
                 str(write_small_recipe(tmp_path)), "--rounds", "2", *TIMING)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    start = float(start_file.read_text())
    for variant in document["variants"]:
        power = variant["measurement"]["power"]
        assert power["measured"] is True, power
        assert power["where"] == where and power["source"] == "command"
        windows = measured_windows(variant)
        assert len(windows) == 2          # two rounds, integrated over both
        expected_j = sum(hand_energy(trace_points(), start, t0, t1) for t0, t1 in windows)
        seconds = sum(t1 - t0 for t0, t1 in windows)
        inferences = sum(r["n"] for r in variant["measurement"]["latency_pass"]["rounds"])
        assert power["inferences"] == inferences
        assert power["mean_w"] == pytest.approx(expected_j / seconds, rel=0.005)
        assert power["energy_per_inference_mj"] == pytest.approx(expected_j / inferences * 1000, rel=0.005)
        assert 4.5 < power["idle_w"] < 5.6 and 4.5 < power["idle_after_w"] < 5.6, power
        assert power["net_energy_per_inference_mj"] == pytest.approx(
            (expected_j - power["idle_w"] * seconds) / inferences * 1000, rel=0.05, abs=0.01)
        if where == "host":
            # the link delay's share: bounded by the round trip of a local pipe
            assert 0 <= power["uncertainty_mj"] < 0.05 * power["energy_per_inference_mj"]
        else:
            assert power["uncertainty_mj"] is None
    notes = document["decision"]["notes"]
    assert any(n.startswith("power from command (meter") for n in notes), notes
    assert any(n.startswith("idle power ") for n in notes), notes
    # the table on stderr/stdout of a human run shows the energy column
    human = cli(env, devices, "select", "-d", "board", "--objective", "energy")
    assert human.returncode == 0, human.stderr
    assert "mJ/inf" in human.stdout and "least energy per inference" in human.stdout


def test_the_energy_objective_is_a_device_setting_and_unknown_energy_is_refused(tmp_path, tiny_model, host_env):
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.board]\nconnection = "local"\nroot = "%s"\nobjective = "energy"\n'
                       % (tmp_path / "board"))
    env = dict(host_env, PATH=path_with_only(None, tmp_path))
    result = cli(env, devices, "deploy", str(tiny_model), "-d", "board", "--json", "--recipe",
                 str(write_small_recipe(tmp_path)), *TIMING)
    # This machine has no power source: nothing can be ranked by energy, and it says why.
    assert result.returncode == 9, result.stderr
    document = json.loads(result.stdout)
    decision = document["decision"]
    assert decision["chosen"] is None and decision["ranked_by"] == "energy"
    for row in decision["variants"]:
        assert row["reason"].startswith("feasible but its energy is unknown (power not measured: no power source")
    assert any(n.startswith("power not measured: no power source") for n in decision["notes"])


def test_bad_power_tables_exit_3_naming_the_key(tmp_path, host_env):
    cases = {'command = "meter"': "power.command' must be a list of strings",
             'where = "host"': "power.where' \"host\" needs a meter command",
             'source = "psu"': "power.source' must be one of rapl",
             'unit = "kWh"\ncommand = ["m"]': "power.unit' must be one of W, J",
             'volts = 5': "power.volts' is not a power setting"}
    for body, expected in cases.items():
        devices = tmp_path / "devices.toml"
        devices.write_text('[devices.board]\nconnection = "local"\n[devices.board.power]\n%s\n' % body)
        result = cli(host_env, devices, "devices", "list")
        assert result.returncode == 3, (body, result.stderr)
        assert expected in result.stderr, (body, result.stderr)
