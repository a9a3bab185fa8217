"""One test body, run against the `local` connector and an SSH lab board alike: hello,
push, bench, install and status must not depend on how the board is reached."""

import sys

import numpy as np
import pytest

from edgeshrink.host import dataset, deploy, inventory, push
from edgeshrink.host.compress import variants
from edgeshrink.host.lab.models import tiny_inputs
from edgeshrink.shared.conventions import Op
from edgeshrink.shared.device_facts import DeviceFacts

from .conftest import FAST, ssh_devices_file


@pytest.fixture(params=["local", "ssh"])
def device(request, tmp_path, host_env):
    if request.param == "local":
        return inventory.Device(name="board", root=str(tmp_path / "board-root"), python=sys.executable)
    ssh_server = request.getfixturevalue("ssh_server")
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                               root=str(tmp_path / "board-root"), python=sys.executable)
    return inventory.load(devices).get("board")


@pytest.fixture
def tiny(tmp_path, tiny_model):
    x = tiny_inputs(32)
    data = dataset.Dataset(inputs={"x": x}, calibration={"x": x}, labels=np.arange(32) % 10, source="test")
    specs = [s for s in variants.default_specs() if s.name in ("fp32", "int8-static")]
    made = variants.make_variants(tiny_model, data, specs, cache_dir=tmp_path / "cache", log=lambda m: None)
    return deploy.ModelSource(tiny_model, "tiny", data), made


def test_hello_push_bench_install_status(device, tiny, tmp_path):
    source, made = tiny
    with deploy.open_session(device) as session:
        facts = DeviceFacts.from_dict(session.hello.facts)
        assert facts.runtimes["onnxruntime"].available and facts.root == str(tmp_path / "board-root")
        assert session.call(Op.PING)["pong"] is True

        run = deploy.measure(session, source, made, FAST)
        assert run.push["sent"] == len(made) + 1 and run.push["bytes_sent"] > 0
        assert [v.name for v in run.variants] == ["fp32", "int8-static"]
        for v in run.variants:
            assert v.measurement.ok, v.measurement.error
            assert v.measurement.figure("p50_ms").value > 0
            assert v.measurement.figure("accuracy").known
        assert push.push(session, {v.sha256: v.path for v in made}).bytes_sent == 0

        winner = made[1]
        outcome = deploy.install(session, winner)
        assert outcome.installed and outcome.check["ok"]
        status = session.call(Op.STATUS)
        assert status["active"] == outcome.active and status["active"].startswith("int8-static-")
        assert status["manifest"]["sha256"] == winner.sha256
