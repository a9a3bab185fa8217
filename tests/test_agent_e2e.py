"""The real agent zipapp, through the local connector, under the host's Python and 3.8."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from edgeshrink.host import agent_bundle, dataset, deploy, push
from edgeshrink.host.compress import variants
from edgeshrink.host.connectors.local import LocalConnector
from edgeshrink.host.inventory import Device
from edgeshrink.host.session import AgentSession
from edgeshrink.shared.errors import ProtocolError, RemoteError
from edgeshrink.shared.measurement import SCHEMA_VERSION

from .conftest import FAST
from edgeshrink.host.lab.models import tiny_inputs


@pytest.fixture(params=["host-python", "python3.8"])
def agent_python(request):
    if request.param == "host-python":
        return sys.executable
    return request.getfixturevalue("python38")


@pytest.fixture
def tiny_variants(tmp_path, tiny_model):
    x = tiny_inputs(48)
    data = dataset.Dataset(inputs={"x": x}, calibration={"x": x}, labels=np.arange(48) % 10, source="test")
    made = variants.make_variants(tiny_model, data, variants.default_specs(), cache_dir=tmp_path / "cache",
                                  log=lambda m: None)
    return deploy.ModelSource(tiny_model, "tiny", data), made


def session_for(tmp_path, python, name="board"):
    device = Device(name=name, root=str(tmp_path / name), python=python)
    return AgentSession(LocalConnector(device), agent_bundle.build(tmp_path / "agent"))


def test_hello_reports_the_board(tmp_path, agent_python):
    with session_for(tmp_path, agent_python) as session:
        facts = session.hello.facts
        assert session.hello.python == facts["python"]
        assert facts["runtimes"]["onnxruntime"]["available"] is True
        assert facts["cpu_count"] >= 1 and facts["mem_total_mb"] > 0
        assert facts["power"]["measured"] is False and facts["power"]["reason"]
        if agent_python != sys.executable:
            assert facts["python"].startswith("3.8.")


def test_unknown_op_is_an_error_reply_and_the_agent_keeps_serving(tmp_path):
    with session_for(tmp_path, sys.executable) as session:
        with pytest.raises(ProtocolError, match="unknown op 'teleport'"):
            session.call("teleport")
        assert session.call("ping")["pong"] is True


def test_measure_every_variant_then_push_nothing_again(tmp_path, agent_python, tiny_variants, host_env):
    source, made = tiny_variants
    events = []
    with session_for(tmp_path, agent_python) as session:
        run = deploy.measure(session, source, made, FAST, on_event=lambda d, k, data: events.append((k, data)))
        again = push.push(session, {v.sha256: v.path for v in made})
    assert again.bytes_sent == 0 and again.bytes_skipped == sum(v.path.stat().st_size for v in made)
    assert run.push["sent"] == len(made) + 1  # the variants and the evaluation file
    kinds = [k for k, _ in events]
    assert kinds.count("measurement") == len(made)
    assert any(k == "progress" and d.get("phase") == "timed" for k, d in events)
    for v in run.variants:
        m = v.measurement
        assert m.ok, m.error
        assert m.schema == SCHEMA_VERSION
        lp = m.latency_pass
        lat = lp.latency
        assert lat.n == len(m.samples_ms) >= FAST.min_runs
        assert m.figure("p50_ms").value <= m.figure("p90_ms").value <= lat.max_ms
        assert m.figure("load_ms").value > 0 and m.figure("first_inference_ms").value > 0
        assert lp.warmup_runs == FAST.warmup_runs
        assert lp.stop_reason in ("min_runs_and_min_time", "max_runs", "max_time")
        assert lp.runtime_settings["intra_op_num_threads"] == 1
        assert m.figure("peak_rss_mb").value >= m.memory.baseline_rss_mb > 0
        assert lp.fidelity.measured and lp.fidelity.samples == 48
        assert 0.0 <= m.figure("accuracy").value <= 1.0
        assert m.environment.runtime == "onnxruntime" and m.environment.runtime_version
        assert m.environment.threads == 1 and m.environment.providers == ["CPUExecutionProvider"]
        assert not m.figure("power_w").known and "not measured" in m.figure("power_w").missing
    by_name = {v.name: v.measurement for v in run.variants}
    assert by_name["fp32"].figure("sqnr_db").value == float("inf")
    assert by_name["fp32"].figure("top1_agreement").value == 1.0
    assert by_name["int8-static"].figure("cosine_mean").value > 0.99


def test_a_variant_that_cannot_load_is_reported_not_fatal(tmp_path, tiny_variants, host_env):
    source, made = tiny_variants
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    broken = variants.Variant("junk", junk, {"sha256": __import__("hashlib").sha256(junk.read_bytes()).hexdigest(),
                                             "size_bytes": junk.stat().st_size})
    with session_for(tmp_path, sys.executable) as session:
        run = deploy.measure(session, source, [made[0], broken], FAST)
    results = {v.name: v.measurement for v in run.variants}
    assert results["fp32"].ok
    assert not results["junk"].ok and results["junk"].error.code == "model"
    assert "failed on the device" in results["junk"].figure("p50_ms").missing


def test_install_checks_before_it_switches_so_a_broken_model_is_never_active(tmp_path, agent_python, tiny_variants):
    source, made = tiny_variants
    good = next(v for v in made if v.name == "int8-static")
    with session_for(tmp_path, agent_python) as session:
        first = deploy.install(session, good)
        assert first.installed and first.previous is None and first.check["ok"]
        root = session.root
        assert os.readlink(os.path.join(root, "active")) == "deployments/" + first.active

        # A file that passes the transfer checks but is not a runnable model.
        junk = tmp_path / "corrupt.onnx"
        junk.write_bytes(good.path.read_bytes()[: good.path.stat().st_size // 2])
        sha = __import__("hashlib").sha256(junk.read_bytes()).hexdigest()
        bad = variants.Variant("corrupt", junk, {"sha256": sha, "technique": "fp32"})
        link_before = os.lstat(os.path.join(root, "active"))
        second = deploy.install(session, bad)
        assert not second.installed and not second.rolled_back    # never switched, nothing to undo
        link_after = os.lstat(os.path.join(root, "active"))
        assert (link_after.st_ino, link_after.st_mtime_ns) == (link_before.st_ino, link_before.st_mtime_ns)
        assert second.active == first.active and second.check["code"] == "model"
        assert os.readlink(os.path.join(root, "active")) == "deployments/" + first.active
        status = session.call("status")
        assert status["active"] == first.active
        assert status["manifest"]["technique"] == "int8-static"
        assert not [p for p in os.listdir(root) if p.endswith(".new")]


def test_corrupted_upload_is_refused_and_never_becomes_a_blob(tmp_path):
    with session_for(tmp_path, sys.executable) as session:
        payload = tmp_path / "payload.bin"
        payload.write_bytes(b"x" * 1000)
        session.upload(payload, "incoming/up.part")
        with pytest.raises(Exception, match="corrupted in transit"):
            session.call("commit_blob", {"sha256": "0" * 64, "incoming": "up.part"})
        assert session.call("have_blobs", {"sha256": ["0" * 64]})["missing"] == ["0" * 64]
        with pytest.raises(ProtocolError, match="not a valid name"):
            session.call("commit_blob", {"sha256": "0" * 64, "incoming": "../../etc/passwd"})


def test_a_symlink_in_the_upload_area_never_becomes_a_blob(tmp_path):
    import hashlib

    secret = tmp_path / "outside-the-root.txt"
    secret.write_bytes(b"not an upload" * 100)
    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    with session_for(tmp_path, sys.executable) as session:
        incoming = os.path.join(session.root, "incoming")
        os.makedirs(incoming, exist_ok=True)
        os.symlink(str(secret), os.path.join(incoming, "link.part"))
        with pytest.raises(Exception, match="not a regular file"):
            session.call("commit_blob", {"sha256": sha, "incoming": "link.part"})
        assert session.call("have_blobs", {"sha256": [sha]})["missing"] == [sha]
        assert not os.path.lexists(os.path.join(incoming, "link.part"))   # removed, never followed
        assert secret.exists()


def test_a_board_without_the_runtime_is_told_what_to_install(tmp_path, python38, tiny_variants, host_env):
    # pyenv's bare 3.8 interpreter: a real Python with no onnxruntime, like a fresh board.
    bare = subprocess.run([python38, "-c", "import sys; print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip() + "/bin/python3.8"
    source, made = tiny_variants
    with session_for(tmp_path, bare) as session:
        probe = session.hello.facts["runtimes"]["onnxruntime"]
        assert probe["available"] is False and "pip install onnxruntime" in probe["install_hint"]
        with pytest.raises(RemoteError, match="onnxruntime is not installed") as caught:
            deploy.measure(session, source, made, FAST)
        assert "pip install onnxruntime" in caught.value.one_line()
    assert not list((tmp_path / "board" / "blobs").iterdir())  # nothing was pushed


def test_receive_blob_verifies_while_receiving_and_refuses_bad_or_stalled_uploads(tmp_path):
    import hashlib

    from edgeshrink.shared.errors import TransferError

    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(3 * 2 ** 20))
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    with session_for(tmp_path, sys.executable) as session:
        waiting = session.send("receive_blob", {"sha256": sha, "incoming": "good.part", "size": 3 * 2 ** 20})
        session.upload(payload, "incoming/good.part")
        assert session.wait(waiting, "receive_blob") == {"sha256": sha, "size": 3 * 2 ** 20}
        assert session.call("have_blobs", {"sha256": [sha]})["missing"] == []

        wrong = "1" * 64
        waiting = session.send("receive_blob", {"sha256": wrong, "incoming": "bad.part", "size": 3 * 2 ** 20})
        session.upload(payload, "incoming/bad.part")
        with pytest.raises(TransferError, match="corrupted in transit"):
            session.wait(waiting, "receive_blob")
        assert session.call("have_blobs", {"sha256": [wrong]})["missing"] == [wrong]

        with pytest.raises(TransferError, match="stalled at 0 of 10 bytes"):
            session.call("receive_blob", {"sha256": wrong, "incoming": "never.part", "size": 10,
                                          "stall_timeout_s": 0.3})
        root = session.root
        assert not [n for n in os.listdir(os.path.join(root, "incoming")) if not n.startswith("never")]


def test_a_frozen_agent_cannot_hang_the_host(tmp_path, monkeypatch):
    import signal

    from edgeshrink.host import silence
    from edgeshrink.shared.errors import ConnectError

    monkeypatch.setattr(silence, "QUICK_S", 2.0)   # a minute in use; seconds here
    with session_for(tmp_path, sys.executable) as session:
        pid = session.channel.process.pid
        os.kill(pid, signal.SIGSTOP)               # stopped, not dead: the link stays open
        try:
            started = time.monotonic()
            with pytest.raises(ConnectError, match="no answer from the agent within 2s while waiting for "
                                                   "the answer to 'status'"):
                session.call("status")
            assert time.monotonic() - started < 10
        finally:
            os.kill(pid, signal.SIGCONT)
    assert silence.limit_for("bench", {"lock_timeout_s": 5, "settings": {"max_time_s": 10}}) == 375.0
    assert silence.limit_for("install", {"lock_timeout_s": 600}) == 960.0


def test_an_agent_killed_during_the_health_check_leaves_the_checked_model_active(tmp_path, tiny_variants):
    import signal

    from edgeshrink.shared.errors import ConnectError

    source, made = tiny_variants
    first_model, second_model = made[0], made[1]
    with session_for(tmp_path, sys.executable) as session:
        first = deploy.install(session, first_model)
        assert first.installed
    with session_for(tmp_path, sys.executable) as session:
        pid = session.channel.process.pid

        def kill_during_check(device, kind, data):
            if kind == "progress" and data.get("phase") == "health_check":
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(ConnectError, match="stopped unexpectedly"):
            deploy.install(session, second_model, on_event=kill_during_check)
    with session_for(tmp_path, sys.executable) as session:
        status = session.call("status")
    assert status["active"] == first.active        # never the unchecked model
    assert status["manifest"]["sha256"] == first_model.sha256
