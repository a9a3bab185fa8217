"""Simulated boards: sshd in a network namespace, a tbf-capped link, cgroup v1 CPU and
memory limits. Skipped, with the reason, where the kernel or user cannot make them."""

import json
import sys
import time

import pytest

from edgeshrink.host import dataset, deploy, inventory, push
from edgeshrink.host.compress import variants
from edgeshrink.host.deploy import open_session
from edgeshrink.host.lab import board as lab_board
from edgeshrink.host.lab.models import tiny_convnet, tiny_inputs
from edgeshrink.shared.types import BenchSettings

from .conftest import run_cli

UNAVAILABLE = lab_board.why_unavailable()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))

# One round: the rounds are tested elsewhere, and on half a core every measuring child
# takes twice as long to start.
FAST_FLAGS = ["--min-runs", "20", "--min-time", "0.05", "--max-time", "2", "--rounds", "1"]


@pytest.fixture
def small_board(tmp_path):
    simulated = lab_board.SimulatedBoard(201, tmp_path / "board", cpus=0.5, memory_mb=768, rate_mbit=40)
    simulated.start()
    yield simulated
    simulated.stop()


def devices_for(tmp_path, simulated, **extra):
    path = tmp_path / "devices.toml"
    extra.setdefault("python", sys.executable)
    extra.setdefault("root", str(tmp_path / "board-root"))
    extra.setdefault("retries", 1)
    path.write_text(simulated.credentials().device_toml("sim", **extra))
    return path


def test_the_board_sees_its_own_limits(tmp_path, small_board, host_env):
    devices = devices_for(tmp_path, small_board)
    result = run_cli(["--devices", str(devices), "devices", "check", "sim", "--json"], host_env)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["devices"][0]
    assert row["limits"] == {"cpu_cores": 0.5, "memory_mb": 768.0}
    assert small_board.board_ip in row["connection"]


def test_the_link_is_capped(tmp_path, small_board, host_env):
    devices = devices_for(tmp_path, small_board)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"\0" * 8 * 2 ** 20)
    import hashlib

    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    with open_session(inventory.load(devices).get("sim")) as session:
        started = time.perf_counter()
        summary = push.push(session, {sha: payload})
        seconds = time.perf_counter() - started
    mbit_per_s = summary.bytes_sent * 8 / seconds / 1e6
    assert summary.bytes_sent == 8 * 2 ** 20
    assert mbit_per_s < 40 * 1.15, mbit_per_s  # tbf at 40 Mbit/s holds
    assert mbit_per_s > 40 * 0.3, mbit_per_s   # and the push is not pathologically slow under it


@pytest.mark.slow
def test_demo_deploys_to_a_small_board(tmp_path, small_board, host_env, demo):
    devices = devices_for(tmp_path, small_board)
    with open(devices, "a") as toml:   # the per-operator profile is tested on `local`
        toml.write("[devices.sim.bench]\nprofile_runs = 0\n")
    result = run_cli(["--devices", str(devices), "deploy", "-d", "sim", "--json"] + FAST_FLAGS, host_env)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["facts"]["limits"]["cpu_cores"] == 0.5
    assert run["decision"]["install"]["installed"]


# One thread, about a second of timed runs: ten CFS periods. The board gets 50 ms of CPU in every
# 100 ms period, so over the window it does half the work: the mean (the window's wall
# time over its runs) doubles. The median need not: a run shorter than the 50 ms slice
# usually finishes inside one, and one run per period absorbs the wait.
SAME_SETTINGS = BenchSettings(threads=1, warmup_runs=5, min_runs=20, max_runs=2000, min_time_s=1.0, max_time_s=2.0)


def test_half_a_core_is_clearly_slower_than_an_unconstrained_run(tmp_path, small_board, host_env):
    model = tiny_convnet(tmp_path / "conv.onnx", channels=64, size=64)   # CPU-bound: milliseconds a run
    x = tiny_inputs(16, size=64)
    data = dataset.Dataset(inputs={"x": x}, calibration={"x": x}, source="test")
    fp32 = variants.make_variants(model, data, [variants.VariantSpec.build("fp32", "fp32")],
                                  cache_dir=tmp_path / "variants", log=lambda m: None)
    source = deploy.ModelSource(model, "conv", data)
    devices = devices_for(tmp_path, small_board)
    with open(devices, "a") as toml:   # this host, outside the board's cgroup, same interpreter
        toml.write('[devices.here]\nconnection = "local"\nroot = "%s"\npython = "%s"\n'
                   % (tmp_path / "here-root", sys.executable))
    fleet = inventory.load(devices)

    def mean_ms(name):
        with open_session(fleet.get(name)) as session:
            run = deploy.measure(session, source, fp32, SAME_SETTINGS)
        figure = run.variants[0].measurement.figure("mean_ms")
        assert figure.known, figure.missing
        return figure.value

    unconstrained = mean_ms("here")
    half_core = mean_ms("sim")
    # Other work on this host can only slow the unconstrained run: keep its better window.
    unconstrained = min(unconstrained, mean_ms("here"))
    assert half_core / unconstrained > 1.4, (half_core, unconstrained)


@pytest.mark.slow
def test_several_boards_in_parallel_by_tag(tmp_path, host_env, tiny_model):
    boards = [lab_board.SimulatedBoard(210 + i, tmp_path / ("b%d" % i), cpus=0.3, memory_mb=512, rate_mbit=100)
              for i in range(3)]
    try:
        text = ""
        for i, simulated in enumerate(boards):
            simulated.start()
            text += simulated.credentials().device_toml("sim%d" % i, python=sys.executable, tags=["lab"],
                                                        root=str(tmp_path / ("root%d" % i)), retries=1)
        devices = tmp_path / "devices.toml"
        devices.write_text(text)
        result = run_cli(["--devices", str(devices), "deploy", str(tiny_model), "--tag", "lab", "--json"]
                         + FAST_FLAGS, host_env)
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout)["devices"]
        assert [o["device"] for o in outcome] == ["sim0", "sim1", "sim2"]
        assert all(o["error"] is None and o["run"]["decision"]["install"]["installed"] for o in outcome)
    finally:
        for simulated in boards:
            simulated.stop()


def test_regress_on_a_lab_board_passes_unchanged_and_names_a_lowered_cpu_quota(tmp_path, host_env):
    """The issue's acceptance: unchanged, `regress` exits 0 with "no regression"; after the
    board's CPU quota is lowered it exits 11 naming the figure, the change with its
    interval, and the facts that changed (the cgroup limit), and the JUnit file fails."""
    from xml.etree import ElementTree

    # About 10 ms a run on the board: longer than the CPU time a throttled period gives (below).
    model = tiny_convnet(tmp_path / "conv.onnx", channels=128, size=320)
    recipe = tmp_path / "none.toml"
    recipe.write_text('[[variant]]\nname = "half"\nsteps = [{ step = "fp16" }]\n')
    simulated = lab_board.SimulatedBoard(202, tmp_path / "board", cpus=1.0, memory_mb=1024, rate_mbit=100)
    simulated.start()
    try:
        devices = devices_for(tmp_path, simulated)
        # Floors wide enough for a shared test host; the quota below slows far past them.
        with open(devices, "a") as toml:
            toml.write("[devices.sim.regress]\nlatency = 0.3\nmemory = 0.5\nconfirm_pause_s = 1.0\n")
            # No per-operator profile: nothing here reads it, and on a throttled board its
            # sixty runs a variant are most of a measurement.
            toml.write("[devices.sim.bench]\nprofile_runs = 0\n")

        def regress(*extra):
            return run_cli(["--devices", str(devices), "regress", "-d", "sim", str(model), "--recipe", str(recipe)]
                           + FAST_FLAGS + list(extra), host_env)

        assert regress().returncode == 0                       # the first night: no history yet
        unchanged = regress()
        assert unchanged.returncode == 0, unchanged.stderr
        assert "no regression" in unchanged.stdout, unchanged.stdout

        # Half a core, given out in 10 ms periods: a run longer than the 5 ms a period
        # allows waits out the rest of a period every time, so the median cannot miss it.
        simulated.set_cpus(0.5, period_us=10000)
        junit = tmp_path / "regress.xml"
        slowed = regress("--json", "--junit", str(junit))
        assert slowed.returncode == 11, slowed.stderr
        assert "Traceback" not in slowed.stderr
        checks = json.loads(slowed.stdout)["devices"][0]["report"]["checks"]
        flagged = [c for c in checks if c["verdict"] == "regression"]
        latency = [c for c in flagged if c["figure"].startswith("latency")]
        assert {c["variant"] for c in latency} == {"fp32", "half"}, flagged
        for check in latency:
            assert check["ratio"] > 1.3 and check["ci"][0] > 1.0, check
            assert "cgroup CPU limit: 1.0 -> 0.5" in check["facts_changed"], check
            assert "confirmed by a second measurement 1 s later" in check["why"], check
        failing = [case for case in ElementTree.parse(junit).getroot().iter("testcase")
                   if case.find("failure") is not None]
        assert {(case.get("classname"), case.get("name")) for case in failing} == {
            ("sim." + c["variant"], c["figure"]) for c in flagged}
        assert all("cgroup CPU limit: 1.0 -> 0.5" in case.find("failure").text for case in failing
                   if case.get("name").startswith("latency"))
    finally:
        simulated.stop()
