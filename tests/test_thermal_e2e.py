"""The real agent, under Python 3.8 through the local connector, reading a fixture board.

EDGESHRINK_SYSFS_ROOT points the agent's sensors at a tree from fixtures/sysfs and
PATH decides whether a (fake) vcgencmd exists; the local connector's agent inherits
both, so this is the whole measuring path a deploy takes. Before and after read the
same static tree, so each throttled case is one whose evidence shows in a single
snapshot: the clock held below its limit under the performance governor, a zone past
its passive trip point, a "now" bit from vcgencmd.
"""

import os
from pathlib import Path

import pytest

from edgeshrink.agent.sensors import SYSFS_ROOT_ENV
from edgeshrink.host import agent_bundle, dataset, deploy
from edgeshrink.host.compress import variants
from edgeshrink.host.connectors.local import LocalConnector
from edgeshrink.host.inventory import Device
from edgeshrink.host.lab.models import tiny_inputs
from edgeshrink.host.session import AgentSession

from .conftest import FAST, install_vcgencmd

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def path_with_only(bin_folder, tmp_path):
    """PATH with no real vcgencmd, and the fixture's fake one first when given."""
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not os.path.exists(os.path.join(d, "vcgencmd"))]
    if bin_folder is None:
        return os.pathsep.join(kept)
    fake = os.path.dirname(install_vcgencmd(tmp_path, FIXTURES / bin_folder))
    return os.pathsep.join([fake] + kept)


@pytest.fixture
def fp32_only(tmp_path, tiny_model):
    x = tiny_inputs(16)
    data = dataset.Dataset(inputs={"x": x}, calibration={"x": tiny_inputs(16, seed=2)}, source="test")
    made = variants.make_variants(tiny_model, data, [variants.VariantSpec.build("fp32", "fp32")],
                                  cache_dir=tmp_path / "cache", log=lambda m: None)
    return deploy.ModelSource(tiny_model, "tiny", data), made


@pytest.mark.parametrize("tree, bin_folder, throttled, expected", [
    ("static-cap", None, False, "static cap: policy0, policy4 limited to 960000 of 1510400 kHz; not throttling"),
    ("firmware-throttling", None, True, "cpufreq: policy0 at 729600 kHz under the performance governor"),
    ("hot-zone", None, True, "thermal zone cpu-thermal at 97.5 C, at or above its passive trip point 95.5 C"),
    ("pi-undervoltage", "bin-pi-undervoltage", True, "vcgencmd: under-voltage now (get_throttled=0x50005)"),
    ("pi4", "bin-pi-sticky", False, "vcgencmd: under-voltage occurred before this run"),
    ("no-source", None, None, "no readable source (no cpufreq, vcgencmd, thermal_throttle counters"),
])
def test_the_agent_judges_throttling_from_the_board_it_reads(tree, bin_folder, throttled, expected, tmp_path,
                                                             python38, fp32_only, host_env, monkeypatch):
    root = str(FIXTURES / "sysfs" / tree)
    monkeypatch.setenv(SYSFS_ROOT_ENV, root)
    monkeypatch.setenv("PATH", path_with_only(bin_folder, tmp_path))
    source, made = fp32_only
    device = Device(name="fixture", root=str(tmp_path / "fixture"), python=python38)
    with AgentSession(LocalConnector(device), agent_bundle.build(tmp_path / "agent")) as session:
        run = deploy.measure(session, source, made, FAST)
    assert run.facts.sysfs_root == root and run.facts.thermal["sys_root"] == root
    measurement = run.variants[0].measurement
    assert measurement.ok, measurement.error
    assert measurement.thermal.before["sys_root"] == measurement.thermal.after["sys_root"] == root
    verdict = measurement.thermal.verdict
    assert verdict.throttled is throttled and measurement.figure("throttled").value is throttled
    said = verdict.evidence + verdict.notes + [verdict.reason or ""]
    assert any(line.startswith(expected) for line in said), said
    if throttled is None:
        assert verdict.sources == [] and verdict.evidence == []
        assert measurement.figure("throttled").missing.startswith("throttling could not be checked: no readable")


@pytest.mark.parametrize("tree, require, code", [
    ("no-source", True, 9),      # throttling unknown and evidence required: not chosen
    ("no-source", False, 0),     # unknown, let through with a note
    ("static-cap", True, 0),     # a static cap is evidence of no throttling
    ("firmware-throttling", False, 9),
])
def test_a_whole_deploy_follows_the_evidence_policy(tree, require, code, tmp_path, tiny_model, host_env,
                                                    monkeypatch):
    import json

    from .conftest import cli

    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.board]\nconnection = "local"\nroot = "%s"\n[devices.board.constraints]\n'
                       'require_thermal_evidence = %s\n' % (tmp_path / "board", "true" if require else "false"))
    env = dict(host_env, **{SYSFS_ROOT_ENV: str(FIXTURES / "sysfs" / tree), "PATH": path_with_only(None, tmp_path)})
    result = cli(env, devices, "deploy", str(tiny_model), "-d", "board", "--json", "--recipe",
                 str(write_small_recipe(tmp_path)), "--min-runs", "20", "--min-time", "0.05", "--max-time", "1")
    assert result.returncode == code, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is (code == 0)
    fp32 = next(v for v in document["decision"]["variants"] if v["name"] == "fp32")
    throttling = next(c for c in fp32["checks"] if c["constraint"] == "throttling")
    if tree == "no-source":
        assert throttling["verdict"] == "unknown"
        assert any(line.startswith("throttling could not be checked") for line in document["decision"]["missing_evidence"])
        assert ("require_thermal_evidence" in fp32["reason"]) is require
    else:
        assert throttling["verdict"] == ("fail" if tree == "firmware-throttling" else "pass")


def write_small_recipe(tmp_path):
    recipe = tmp_path / "small.toml"
    recipe.write_text('[[variant]]\nname = "fp16"\nsteps = [{ step = "fp16" }]\n')   # fp32 comes with it
    return recipe
