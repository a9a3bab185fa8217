"""Power through a whole deploy: the real agent, a meter command replaying a recorded
trace, on the board (the agent runs it) and on the host (edgeshrink runs it and maps
the agent's windows onto its own clock).

The expected energy of every variant is computed by hand from the trace over the
windows the agent reports, within 0.5%.
"""

import json
import os
import sys

import pytest

from .conftest import cli, install_vcgencmd
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


@pytest.mark.slow
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
        # A live replay: on a loaded host its lines arrive late by a few ms, which moves the
        # integral by up to a few percent (the 0.5% check against traces is in test_energy).
        assert power["mean_w"] == pytest.approx(expected_j / seconds, rel=0.03)
        assert power["energy_per_inference_mj"] == pytest.approx(expected_j / inferences * 1000, rel=0.03)
        assert 4.5 < power["idle_w"] < 5.6 and 4.5 < power["idle_after_w"] < 5.6, power
        assert power["net_energy_per_inference_mj"] == pytest.approx(
            (expected_j - power["idle_w"] * seconds) / inferences * 1000, rel=0.05, abs=0.01)
        # The trace the report draws: readings inside each round's window, in watts.
        rounds = {row[0] for row in power["trace"]}
        assert rounds == {r["round"] for r in variant["measurement"]["latency_pass"]["rounds"]}, power["trace"]
        low, high = min(w for _, w in trace_points()), max(w for _, w in trace_points())
        assert all(low - 1e-9 <= w <= high + 1e-9 for _, _, w in power["trace"]), power["trace"]
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


def test_the_agent_under_python38_reads_a_pi5_pmic_and_interleaves_rounds(tmp_path, python38, tiny_model,
                                                                         host_env, monkeypatch):
    """The whole measuring path on a fixture Pi 5: its PMIC through (fake) vcgencmd, idle
    before and after, energy over two interleaved rounds per variant."""
    from edgeshrink.agent.sensors import SYSFS_ROOT_ENV
    from edgeshrink.host import agent_bundle, deploy
    from edgeshrink.host.connectors.local import LocalConnector
    from edgeshrink.host.inventory import Device
    from edgeshrink.host.session import AgentSession
    from edgeshrink.shared.types import BenchSettings

    from .test_power_sources import PI5_RAILS
    from .test_thermal_e2e import fp32_only  # noqa: F401  (a fixture)

    pi5_watts = sum(volts * amps for volts, amps in PI5_RAILS.values())
    monkeypatch.setenv(SYSFS_ROOT_ENV, str(FIXTURES_POWER / "pi5"))
    bin_dir = os.path.dirname(install_vcgencmd(tmp_path, FIXTURES_POWER / "bin-pi5"))
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, path_with_only(None, tmp_path)))
    source, made = small_variants(tmp_path, tiny_model)
    settings = BenchSettings(threads=1, warmup_runs=3, min_runs=20, max_runs=100000, min_time_s=0.6,
                             max_time_s=2.0, idle_s=0.3, rounds=2, shuffle=True)
    device = Device(name="pi5", root=str(tmp_path / "pi5"), python=python38)
    with AgentSession(LocalConnector(device), agent_bundle.build(tmp_path / "agent")) as session:
        run = deploy.measure(session, source, made, settings)
    for result in run.variants:
        m = result.measurement
        assert m.ok, m.error
        power = m.power
        assert (power.source, power.rail, power.where) == ("pi5-pmic", "sum of 12 PMIC rails", "board")
        assert power.mean_w == pytest.approx(pi5_watts, rel=1e-6) and power.idle_w == pytest.approx(pi5_watts)
        assert power.energy_per_inference_mj == pytest.approx(pi5_watts * power.window_s / power.inferences * 1000,
                                                              rel=0.005)
        # Constant power: the net energy of inference is zero within rounding.
        assert abs(power.net_energy_per_inference_mj) < 1e-6 * power.energy_per_inference_mj
        assert power.sample_rate_hz > 2 and power.note is None   # 10 Hz asked; vcgencmd is slow in a busy run
        rounds = m.latency_pass.rounds
        assert [r.round for r in rounds] == [1, 2] and m.latency_pass.round_spread_pct is not None
        assert m.latency_pass.latency.n == sum(r.n for r in rounds) == len(m.samples_ms)
        assert m.latency_pass.fidelity.measured   # judged once, in the first round


FIXTURES_POWER = METERS.parent / "power"


def small_variants(tmp_path, tiny_model):
    from edgeshrink.host import dataset, deploy
    from edgeshrink.host.compress import variants
    from edgeshrink.host.lab.models import tiny_inputs

    data = dataset.Dataset(inputs={"x": tiny_inputs(16)}, calibration={"x": tiny_inputs(16, seed=2)}, source="test")
    made = variants.make_variants(tiny_model, data, [variants.VariantSpec.build("fp32", "fp32"),
                                                     variants.VariantSpec.build("fp16", "fp16")],
                                  cache_dir=tmp_path / "cache", log=lambda m: None)
    return deploy.ModelSource(tiny_model, "tiny", data), made


def test_the_precision_stop_and_cool_down_are_recorded(tmp_path, tiny_model, host_env, monkeypatch):
    from edgeshrink.agent.sensors import SYSFS_ROOT_ENV
    from edgeshrink.host import agent_bundle, deploy
    from edgeshrink.host.connectors.local import LocalConnector
    from edgeshrink.host.inventory import Device
    from edgeshrink.host.session import AgentSession
    from edgeshrink.shared.types import BenchSettings

    # A Jetson tree at about 48 C: cooling to 60 C is reached at once, and says so.
    monkeypatch.setenv(SYSFS_ROOT_ENV, str(METERS.parent / "sysfs" / "static-cap"))
    source, made = small_variants(tmp_path, tiny_model)
    settings = BenchSettings(threads=1, warmup_runs=3, min_runs=20, max_runs=100000, min_time_s=0.05,
                             max_time_s=5.0, precision_pct=5.0, cooldown_s=0.2, cooldown_to_c=60.0, rounds=1)
    device = Device(name="board", root=str(tmp_path / "board"))
    with AgentSession(LocalConnector(device), agent_bundle.build(tmp_path / "agent")) as session:
        run = deploy.measure(session, source, made, settings)
    first, second = (r.measurement for r in run.variants)
    for m in (first, second):
        assert m.ok, m.error
        latency = m.latency_pass
        assert latency.precision_target_pct == 5.0
        assert latency.precision_reached is (latency.latency.ci_half_width_pct <= 5.0)
        if latency.stop_reason == "precision":
            assert latency.precision_reached and latency.latency.n >= 50
        assert m.power.reason.startswith("no power source")
        assert m.thermal.trace and all(row[0] == 1 and row[2] == 48.625 for row in m.thermal.trace)
    assert first.thermal.cooldowns == []      # nothing ran before the first variant
    assert second.thermal.cooldowns == [{"round": 1, "waited_s": 0.2},
                                        {"round": 1, "waited_s": 0.0, "temp_c": 48.625, "reached": True}]


@pytest.mark.slow
def test_a_sustained_run_traces_latency_temperature_and_the_throttling_onset(tmp_path, tiny_model, host_env):
    """A board tree whose CPU clock is pulled down while the run goes on: the trace shows
    when, and the latency is traced bucket by bucket."""
    import threading
    import time

    board_root = tmp_path / "sys-root"
    import shutil
    shutil.copytree(METERS.parent / "sysfs" / "static-cap", board_root, symlinks=True)
    cur = next(board_root.glob("sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq"))
    devices, start_file = devices_with_meter(tmp_path, "board")
    env = dict(host_env, PATH=path_with_only(None, tmp_path), EDGESHRINK_SYSFS_ROOT=str(board_root))

    def pull_the_clock_down():
        time.sleep(4.0)
        cur.write_text("480000\n")   # from 960000 kHz: a firmware cap halfway through

    pulling = threading.Thread(target=pull_the_clock_down)
    pulling.start()
    result = cli(env, devices, "sustained", str(tiny_model), "-d", "board", "--recipe",
                 str(write_small_recipe(tmp_path)), "--duration", "6", "--bucket", "1", "--json")
    pulling.join()
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["sustained"]
    assert run["variant"] == "fp32" and len(run["buckets"]) >= 5
    assert all(b["n"] > 0 and b["p50_ms"] > 0 and b["temp_c"] == 48.625 for b in run["buckets"])
    assert all(4.5 < b["power_w"] < 5.6 for b in run["buckets"])       # the replayed meter
    assert run["buckets"][0]["cpu_mhz"] == 960 and run["buckets"][-1]["cpu_mhz"] == 480
    assert run["throttling"] is True and 1.0 <= run["throttling_started_s"] <= 5.0
    assert any("below 90% of the first 960 MHz" in line for line in run["throttling_evidence"])
    assert run["steady_vs_cold"] == pytest.approx(run["steady_p50_ms"] / run["cold_p50_ms"])


def test_rounds_reverse_the_order_every_other_round_unless_shuffled():
    from edgeshrink.agent.bench import Runs
    from edgeshrink.shared.types import BenchSettings

    variants = [{"name": n, "blob": "0" * 64} for n in "ABC"]
    default = Runs(None, "r", variants, None, "onnxruntime", BenchSettings(), None, None)
    assert BenchSettings().rounds == 2
    assert [default._order(r) for r in (1, 2, 3, 4)] == [[0, 1, 2], [2, 1, 0], [0, 1, 2], [2, 1, 0]]
    shuffled = Runs(None, "r", variants, None, "onnxruntime", BenchSettings(rounds=8, shuffle=True), None, None)
    orders = [shuffled._order(r) for r in range(1, 9)]
    assert all(sorted(o) == [0, 1, 2] for o in orders) and shuffled.seed is not None
    assert orders == [shuffled._order(r) for r in range(1, 9)]   # the recorded seed reproduces them
