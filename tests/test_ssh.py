"""Boards over SSH, against a real OpenSSH server on 127.0.0.1, with the real agent."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from edgeshrink.host import board_check, deploy, inventory, push
from edgeshrink.host.compress import variants
from edgeshrink.host.connectors.local import LocalConnector
from edgeshrink.host.connectors.ssh import SshConnector
from edgeshrink.host.inventory import Device
from edgeshrink.host.lab.sshd import keygen
from edgeshrink.host.store import ResultsStore
from edgeshrink.shared.errors import ConnectError, RemoteError, TransientConnectError
from edgeshrink.shared.measurement import VariantMeasurement

from .conftest import FAST, FAST_FLAGS, REPO, cli, runs_in, ssh_devices_file



@pytest.fixture
def board(tmp_path, ssh_server, host_env):
    """A devices.toml for an SSH board whose agent root is fresh for this test."""
    return ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                            root=str(tmp_path / "board-root"), python=sys.executable)


@pytest.mark.slow
def test_demo_deploys_over_ssh_to_a_python38_board_and_the_second_deploy_sends_nothing(
        tmp_path, ssh_server, host_env, demo, python38):
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                               root=str(tmp_path / "pi"), python=python38)
    first = cli(host_env, devices, "deploy", "-d", "board", "--json", *FAST_FLAGS)
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)
    assert run["facts"]["python"].startswith("3.8.")
    assert run["push"]["sent"] == 5 and run["push"]["agent_sent"] > 0
    assert run["decision"]["install"]["installed"]
    second = cli(host_env, devices, "deploy", "-d", "board", "--json", *FAST_FLAGS)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["push"]["bytes_sent"] == 0 and again["push"]["agent_sent"] == 0
    status = cli(host_env, devices, "status", "-d", "board", "--json")
    assert json.loads(status.stdout)["active"] == again["decision"]["install"]["active"]


def test_unknown_host_key_is_refused_until_trusted(tmp_path, ssh_server, host_env):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(), known_hosts=str(empty),
                               root=str(tmp_path / "r"), python=sys.executable)
    refused = cli(host_env, devices, "status", "-d", "board")
    assert refused.returncode == 4
    assert "is not known" in refused.stderr and "edgeshrink devices trust board" in refused.stderr
    assert not (tmp_path / "r").exists()  # nothing was written on the board
    trusted = cli(host_env, devices, "devices", "trust", "board")
    assert trusted.returncode == 0 and "added ssh-ed25519 SHA256:" in trusted.stdout
    assert cli(host_env, devices, "devices", "trust", "board").stdout.count("already trusted") == 1
    assert cli(host_env, devices, "status", "-d", "board").returncode == 0


def test_accept_new_host_key_flag_records_an_unknown_key(tmp_path, ssh_server, host_env):
    known = tmp_path / "known"
    known.write_text("")
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(), known_hosts=str(known),
                               root=str(tmp_path / "r"), python=sys.executable)
    result = cli(host_env, devices, "status", "-d", "board", "--accept-new-host-key")
    assert result.returncode == 0, result.stderr
    assert "ssh-ed25519" in known.read_text()


def test_changed_host_key_is_always_refused(tmp_path, ssh_server, host_env):
    keygen(tmp_path / "impostor")
    kind, blob = (tmp_path / "impostor.pub").read_text().split()[:2]
    known = tmp_path / "known"
    known.write_text("[127.0.0.1]:%d %s %s\n" % (ssh_server.port, kind, blob))
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(), known_hosts=str(known),
                               root=str(tmp_path / "r"), python=sys.executable)
    for args in (["status", "-d", "board"], ["status", "-d", "board", "--accept-new-host-key"],
                 ["devices", "trust", "board"]):
        result = cli(host_env, devices, *args)
        assert result.returncode == 4, (args, result.stderr)
        assert "has CHANGED" in result.stderr and "ssh-keygen -R" in result.stderr
    assert known.read_text().count("\n") == 1  # nothing was added or replaced


def test_auth_failure_and_unreachable_board_are_one_clear_line(tmp_path, ssh_server, host_env):
    stranger = keygen(tmp_path / "stranger")
    creds = ssh_server.credentials()
    creds.identity_file = str(stranger)
    devices = ssh_devices_file(tmp_path / "devices.toml", creds, root=str(tmp_path / "r"))
    auth = cli(host_env, devices, "status", "-d", "board")
    assert auth.returncode == 4 and "authentication failed" in auth.stderr
    assert len(auth.stderr.strip().splitlines()) == 1
    creds = ssh_server.credentials()
    from edgeshrink.host.lab.sshd import free_port

    creds.port = free_port()
    devices = ssh_devices_file(tmp_path / "devices2.toml", creds, root=str(tmp_path / "r"))
    gone = cli(host_env, devices, "status", "-d", "board")
    assert gone.returncode == 4 and "unreachable" in gone.stderr and "device 'board'" in gone.stderr


def test_remote_paths_with_spaces_and_quotes_are_quoted_not_interpreted(tmp_path, ssh_server, host_env):
    odd_root = tmp_path / "it's a $(touch pwned) root"
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(), root=str(odd_root),
                               python=sys.executable)
    result = cli(host_env, devices, "status", "-d", "board", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["root"] == str(odd_root)
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def test_proxy_jump_reaches_the_board_through_a_bastion(tmp_path, ssh_server, host_env):
    creds = ssh_server.credentials()
    devices = ssh_devices_file(tmp_path / "devices.toml", creds, root=str(tmp_path / "r"), python=sys.executable,
                               proxy_jump="%s@127.0.0.1:%d" % (creds.user, creds.port))
    result = cli(host_env, devices, "devices", "check", "board", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["devices"][0]
    assert row["ok"] and " via " in row["connection"]


def test_devices_check_reports_each_board_and_fails_for_a_broken_one(tmp_path, ssh_server, host_env, python38):
    creds = ssh_server.credentials()
    text = creds.device_toml("good", root=str(tmp_path / "g"), python=python38, retries=1)
    text += creds.device_toml("nopython", root=str(tmp_path / "n"), python="/no/such/python", retries=1)
    devices = tmp_path / "devices.toml"
    devices.write_text(text)
    result = cli(host_env, devices, "devices", "check", "--json")
    assert result.returncode == 4, result.stderr
    rows = {r["device"]: r for r in json.loads(result.stdout)["devices"]}
    good = rows["good"]
    assert good["ok"] and good["python"].startswith("3.8.") and good["agent_version"]
    assert good["runtimes"]["onnxruntime"]["version"] == "1.19.2"
    assert good["disk_free_mb"] > 0 and good["mem_available_mb"] > 0
    assert not rows["nopython"]["ok"] and "no usable Python" in rows["nopython"]["problem"]
    table = cli(host_env, devices, "devices", "check", "good")
    assert table.returncode == 0 and "ok" in table.stdout


def test_dropped_connection_mid_benchmark_is_clear_and_stores_nothing(tmp_path, ssh_server, host_env, tiny_model):
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                               root=str(tmp_path / "r"), python=sys.executable)
    device = inventory.load(devices).get("board")
    source = deploy.resolve_model(tiny_model)
    made = deploy.compress(source, variants.default_specs())
    store = ResultsStore()

    def pull_the_cable(device_name, kind, data):
        if kind == "measurement":
            ssh_server.drop_connections()

    with pytest.raises(ConnectError) as caught:
        deploy.deploy(device, source, made, FAST, store, on_event=pull_the_cable)
    assert "device 'board'" in caught.value.message and "stopped unexpectedly" in caught.value.message
    assert runs_in(host_env["EDGESHRINK_DB"]) == 0
    # The orphaned agent notices, stops, and frees the board: the next run goes through.
    run = deploy.deploy(device, source, made, FAST, store, options=deploy.ConnectOptions(lock_timeout_s=60))
    assert run.status == "installed" and runs_in(host_env["EDGESHRINK_DB"]) == 1


@pytest.mark.slow
def test_two_deploys_to_one_board_take_turns(tmp_path, ssh_server, host_env, tiny_model):
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                               root=str(tmp_path / "shared-board"), python=sys.executable)
    args = ["deploy", str(tiny_model), "-d", "board", "--min-runs", "50", "--min-time", "0.5", "--max-time", "1"]
    cli(host_env, devices, "compress", str(tiny_model))  # both start from a warm cache
    env = dict(os.environ, **host_env)
    exe = shutil.which("edgeshrink", path=os.path.dirname(sys.executable))
    first = subprocess.Popen([exe, "--devices", str(devices)] + args, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.Popen([exe, "--devices", str(devices)] + args, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert any("waiting for the device lock" in err for _, err in outputs)
    with sqlite3.connect(host_env["EDGESHRINK_DB"]) as connection:
        windows = []
        for (run_id,) in connection.execute("SELECT id FROM runs"):
            details = [VariantMeasurement.from_dict(json.loads(d)) for (d,) in connection.execute(
                "SELECT detail_json FROM measurements WHERE run_id = ?", (run_id,))]
            windows.append((min(d.started_at for d in details), max(d.finished_at for d in details)))
    (a_start, a_end), (b_start, b_end) = sorted(windows)
    assert a_end <= b_start  # measurements never interleaved


def test_ssh_config_alias_supplies_hostname_port_user_key_and_known_hosts(tmp_path, ssh_server, host_env):
    creds = ssh_server.credentials()
    config = tmp_path / "ssh_config"
    config.write_text("Host lab-pi\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n"
                      "  UserKnownHostsFile %s\n" % (creds.port, creds.user, creds.identity_file, creds.known_hosts))
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.pi]\nconnection = "ssh"\nhost = "lab-pi"\nssh_config = "%s"\nroot = "%s"\n'
                       'python = "%s"\nretries = 1\n' % (config, tmp_path / "r", sys.executable))
    result = cli(host_env, devices, "devices", "check", "pi", "--json")
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:%d" % creds.port in json.loads(result.stdout)["devices"][0]["connection"]


@pytest.mark.slow
def test_setup_installs_the_runtime_on_a_bare_board(tmp_path, ssh_server, host_env, tiny_model):
    # No `python` in devices.toml: the board's own python3, which has neither runtime.
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(), root=str(tmp_path / "bare"),
                               runtime=["onnxruntime", "tflite"])
    refused = cli(host_env, devices, "deploy", str(tiny_model), "-d", "board", *FAST_FLAGS)
    assert refused.returncode == 7, refused.stderr
    assert "onnxruntime is not installed" in refused.stderr and "edgeshrink devices setup board" in refused.stderr
    setup = cli(host_env, devices, "devices", "setup", "board")
    assert setup.returncode == 0, setup.stderr
    assert "onnxruntime 1." in setup.stdout and str(tmp_path / "bare" / "venv") in setup.stdout
    assert "tflite ai-edge-litert 2." in setup.stdout   # the board's python3 is 3.10 or newer here
    deployed = cli(host_env, devices, "deploy", str(tiny_model), "-d", "board", "--json", *FAST_FLAGS)
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["facts"]["python_executable"].startswith(str(tmp_path / "bare" / "venv"))
    # The interpreter it installed measures a .tflite over SSH.
    tflite = cli(host_env, devices, "deploy", str(REPO / "tests" / "fixtures" / "tflite" / "fp32.tflite"), "-d",
                 "board", "--json", *FAST_FLAGS)
    assert tflite.returncode == 0, tflite.stderr
    measured = json.loads(tflite.stdout)["variants"][0]["measurement"]
    assert measured["ok"] and measured["environment"]["runtime"] == "tflite"


def test_a_board_that_boots_late_is_reached_by_retrying(tmp_path, host_env):
    from edgeshrink.host.lab.sshd import SshServer, free_port

    late = SshServer(tmp_path / "late", port=free_port())
    late.prepare()
    devices = ssh_devices_file(tmp_path / "devices.toml", late.credentials(), root=str(tmp_path / "r"),
                               python=sys.executable, retries=4)
    starter = threading.Timer(0.8, late.start)  # sshd comes up while the host backs off
    starter.start()
    try:
        result = cli(host_env, devices, "status", "-d", "board", "--json")
        assert result.returncode == 0, result.stderr
    finally:
        starter.join()
        late.stop()
    once = ssh_devices_file(tmp_path / "once.toml", late.credentials(), root=str(tmp_path / "r"), retries=1)
    assert cli(host_env, once, "status", "-d", "board").returncode == 4  # down, and no retries left


def test_a_board_python_older_than_38_is_refused_with_what_to_do(tmp_path, ssh_server, host_env):
    old = os.path.expanduser("~/.pyenv/versions/3.7.16/bin/python3.7")
    if not os.path.exists(old):
        pytest.skip("no Python 3.7 on this machine to stand in for an old board")
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(), root=str(tmp_path / "r"),
                               python=old)
    result = cli(host_env, devices, "status", "-d", "board")
    assert result.returncode == 4
    assert "is Python 3.7.16; the agent needs >= 3.8" in result.stderr


def test_only_transient_connection_failures_are_retried(tmp_path, ssh_server):
    stranger = keygen(tmp_path / "stranger")
    creds = ssh_server.credentials()
    creds.identity_file = str(stranger)
    refused_key = ssh_devices_file(tmp_path / "auth.toml", creds, root=str(tmp_path / "r"), retries=4)
    started = time.monotonic()
    with pytest.raises(ConnectError, match="authentication failed") as caught:
        SshConnector(inventory.load(refused_key).get("board")).open()
    assert not isinstance(caught.value, TransientConnectError)
    assert time.monotonic() - started < 3.0  # retrying would have backed off 0.5 + 1 + 2 s

    from edgeshrink.host.lab.sshd import free_port

    creds = ssh_server.credentials()
    creds.port = free_port()
    nobody_listens = ssh_devices_file(tmp_path / "gone.toml", creds, root=str(tmp_path / "r"), retries=2)
    started = time.monotonic()
    with pytest.raises(TransientConnectError, match="unreachable"):
        SshConnector(inventory.load(nobody_listens).get("board")).open()
    assert time.monotonic() - started >= 0.5  # one back-off before the second attempt


@pytest.mark.parametrize("connection", ["local", "ssh"])
def test_every_connector_runs_commands_from_argument_lists_alike(tmp_path, connection, request):
    root = tmp_path / "it's a $(touch pwned) root"
    if connection == "ssh":
        devices = ssh_devices_file(tmp_path / "devices.toml", request.getfixturevalue("ssh_server").credentials(),
                                   root=str(root), python=sys.executable)
        connector = SshConnector(inventory.load(devices).get("board"))
    else:
        connector = LocalConnector(Device(name="board", root=str(root), python=sys.executable))
    with connector:
        assert connector.root == str(root) and connector.python == sys.executable
        status, out, err = connector.run([connector.python, "-c", "import sys; print(sys.argv[1])", "a $(b) 'c'"])
        assert (status, out, err) == (0, "a $(b) 'c'\n", "")
        status, _, _ = connector.run([connector.python, "-c", "import sys; sys.exit(3)"])
        assert status == 3
        assert connector.run(["/no/such/program"])[0] == 127
        with pytest.raises(RemoteError, match="did not finish within 1s"):
            connector.run([connector.python, "-c", "import time; time.sleep(5)"], timeout_s=1)
    assert not (tmp_path / "pwned").exists()


def test_a_failed_check_carries_what_it_learned_in_the_error(tmp_path, ssh_server, python38):
    # pyenv's bare 3.8 interpreter: the board answers, but has no onnxruntime.
    bare = subprocess.run([python38, "-c", "import sys; print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip() + "/bin/python3.8"
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                               root=str(tmp_path / "bare"), python=bare)
    with pytest.raises(RemoteError, match="onnxruntime is not installed") as caught:
        board_check.check(inventory.load(devices).get("board"))
    learned = caught.value.details
    assert learned["device"] == "board" and learned["python"].startswith("3.8.")
    assert learned["connection"].startswith("ssh ") and learned["root"] == str(tmp_path / "bare")
    assert learned["runtimes"]["onnxruntime"]["available"] is False


def test_two_hosts_pushing_the_same_blob_at_once_both_succeed(tmp_path, ssh_server):
    payload = tmp_path / "model.bin"
    payload.write_bytes(os.urandom(8 * 2 ** 20))
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                               root=str(tmp_path / "r"), python=sys.executable)
    device = inventory.load(devices).get("board")
    together = threading.Barrier(2)
    outcomes = []

    def one_host():
        try:
            with deploy.open_session(device) as session:
                together.wait(timeout=120)  # both ask before either has the blob
                outcomes.append(push.push(session, {sha: payload}).sent)
        except Exception as exc:
            together.abort()   # the other host must not wait for this one forever
            outcomes.append(exc)

    hosts = [threading.Thread(target=one_host) for _ in range(2)]
    for host in hosts:
        host.start()
    for host in hosts:
        host.join(timeout=300)
    assert not any(host.is_alive() for host in hosts), "a host is still pushing after 300 s"
    assert all(isinstance(o, list) for o in outcomes), outcomes
    assert (tmp_path / "r" / "blobs" / sha).read_bytes() == payload.read_bytes()
