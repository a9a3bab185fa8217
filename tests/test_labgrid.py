"""Boards in a labgrid farm (issue 14, item 2): a real coordinator and exporter on
127.0.0.1 export the lab sshd as place pi4-07. A device names the place (or its tags)
instead of a host; deploys from two host processes at once are serialized by the
reservation; the place is given back on success, on a timeout and on Ctrl-C."""

import json
import re
import signal
import sys
import time

import pytest

from edgeshrink.host.connectors.labgrid_lease import PlaceLease
from edgeshrink.host.inventory import load
from edgeshrink.shared.errors import InventoryError

from .conftest import FAST_FLAGS, cli, start_cli



@pytest.fixture(scope="module")
def farm(ssh_server, tmp_path_factory):
    from edgeshrink.host.lab.labgrid_lab import LabgridFarm, unavailable

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with LabgridFarm({"pi4-07": (ssh_server.credentials(), {"board": "pi4", "pool": "lab"})},
                     tmp_path_factory.mktemp("labgrid")) as started:
        yield started


def farm_devices(tmp_path, farm, ssh_server, **extra):
    from edgeshrink.host.lab.labgrid_lab import device_toml

    extra.setdefault("python", sys.executable)
    credentials = ssh_server.credentials()
    path = tmp_path / "devices.toml"
    path.write_text(device_toml("by-place", credentials, farm.address, place="pi4-07",
                                root=str(tmp_path / "root"), **extra)
                    + device_toml("by-tags", credentials, farm.address, tags={"board": "pi4"},
                                  root=str(tmp_path / "root"), **extra))
    return path


def lease_times(stderr, device):
    acquired = re.search(r"%s: acquired labgrid place pi4-07 at ([0-9.]+) after ([0-9.]+) s" % device, stderr)
    released = re.search(r"%s: released labgrid place pi4-07 at ([0-9.]+)" % device, stderr)
    assert acquired and released, stderr
    return float(acquired.group(1)), float(released.group(1)), float(acquired.group(2))


def place_is_free(farm, within_s=5.0):
    """Another client gets the place at once: nothing was left reserved or acquired."""
    lease = PlaceLease("probe", farm.address, {"name": "pi4-07"}, within_s, notice=lambda m: None)
    started = time.monotonic()
    lease.take()
    lease.give_back()
    return time.monotonic() - started < within_s


@pytest.mark.slow
def test_two_hosts_deploying_to_one_place_take_turns(farm, ssh_server, tmp_path, host_env, tiny_model):
    devices = farm_devices(tmp_path, farm, ssh_server)
    # One host names the place, the other only its tags: the coordinator gives both pi4-07.
    runs = [start_cli(["--devices", str(devices), "deploy", str(tiny_model), "-d", name, "--json"] + FAST_FLAGS,
                      host_env) for name in ("by-place", "by-tags")]
    results = [run.communicate(timeout=300) + (run.returncode,) for run in runs]
    for out, err, code in results:
        assert code == 0, err
        assert json.loads(out)["decision"]["install"]["installed"] is True
    first, second = sorted([lease_times(results[0][1], "by-place"), lease_times(results[1][1], "by-tags")])
    assert first[1] <= second[0], (first, second)   # the second acquired only after the first released
    assert second[2] > 1.0                          # ... and it waited for that
    assert place_is_free(farm)


def test_a_place_not_freed_in_time_is_exit_4_and_leaves_nothing_reserved(farm, ssh_server, tmp_path, host_env,
                                                                            tiny_model):
    devices = farm_devices(tmp_path, farm, ssh_server, labgrid_wait_s=2)
    holder = PlaceLease("holder", farm.address, {"name": "pi4-07"}, 10, notice=lambda m: None)
    holder.take()
    try:
        result = cli(host_env, devices, "devices", "check", "by-place")
    finally:
        holder.give_back()
    assert result.returncode == 4, result.stderr
    assert "place pi4-07 was not free within 2 s" in result.stderr and "Traceback" not in result.stderr
    assert place_is_free(farm)   # its waiting reservation was cancelled, not left to expire


def test_ctrl_c_while_waiting_or_measuring_gives_the_place_back(farm, ssh_server, tmp_path, host_env, tiny_model):
    devices = farm_devices(tmp_path, farm, ssh_server)
    holder = PlaceLease("holder", farm.address, {"name": "pi4-07"}, 10, notice=lambda m: None)
    holder.take()
    try:
        waiting = start_cli(["--devices", str(devices), "devices", "check", "by-place"], host_env)
        time.sleep(3)
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 130, err
    finally:
        holder.give_back()
    assert place_is_free(farm)

    measuring = start_cli(["--devices", str(devices), "bench", str(tiny_model), "-d", "by-place", "--min-time", "30",
                           "--max-time", "60", "--min-runs", "100000", "--max-runs", "100000"], host_env)
    deadline = time.monotonic() + 120
    seen = ""
    while "acquired labgrid place" not in seen and time.monotonic() < deadline:
        time.sleep(0.5)
        line = measuring.stderr.readline()
        seen += line
    time.sleep(2)
    measuring.send_signal(signal.SIGINT)
    _, err = measuring.communicate(timeout=60)
    assert measuring.returncode == 130, seen + err
    assert "released labgrid place pi4-07" in seen + err
    assert place_is_free(farm)


@pytest.mark.parametrize("table, says", [
    ('connection = "ssh"\nhost = "pi"\nlabgrid_place = "pi4-07"', "comes from the labgrid place"),
    ('connection = "ssh"\nlabgrid_place = "pi4-07"\nlabgrid_tags = { board = "pi4" }', "give one"),
    ('connection = "local"\nlabgrid_place = "pi4-07"', 'must be "ssh" for a labgrid place'),
    ('connection = "ssh"\nlabgrid_tags = { Board = "pi4" }', "tag names"),
    ('connection = "ssh"\nlabgrid_place = "pi4 07"', "must be a place name"),
    ('connection = "ssh"\nlabgrid_place = "p"\nlabgrid_wait_s = 0', "labgrid_wait_s"),
    ('connection = "ssh"\nlabgrid_coordinator = "c:1"', "labgrid_place' is needed"),
])
def test_labgrid_keys_are_checked_in_one_line(tmp_path, table, says):
    path = tmp_path / "devices.toml"
    path.write_text("[devices.farm]\n%s\n" % table)
    with pytest.raises(InventoryError) as refused:
        load(path)
    assert says in str(refused.value.message)


def test_an_unreachable_coordinator_is_one_line_and_exit_4(tmp_path, host_env):
    pytest.importorskip("labgrid", reason="labgrid is not installed (pip install 'edgeshrink[labgrid]')")
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.farm]\nconnection = "ssh"\nlabgrid_tags = { board = "[bold]pi4" }\n'
                       'labgrid_coordinator = "127.0.0.1:1"\n')
    listed = cli(host_env, devices, "devices", "list")
    assert "labgrid board=[bold]pi4" in listed.stdout   # markup in a tag is shown, not obeyed
    result = cli(host_env, devices, "devices", "check", "farm")
    assert result.returncode == 4
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["edgeshrink: error: device 'farm': labgrid coordinator 127.0.0.1:1: Error: Could not connect "
                     "to coordinator (check labgrid_coordinator in devices.toml (or $LG_COORDINATOR) and that the "
                     "coordinator runs)"], result.stderr
