"""A link that drops while a measurement pass is silent still frees the board.

The memory pass is made to run for hours (a huge warm-up count) and the link is cut
as soon as the pass starts, so nothing is written to the host that could fail and
reveal the loss: only the agent's watchdog on its stdin can notice. The board is
free when its lock can be taken and no process of that agent root is left.
"""

import errno
import fcntl
import hashlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Callable, Tuple

import pytest

from edgeshrink.host import agent_bundle, inventory, push
from edgeshrink.host.connectors.local import LocalConnector
from edgeshrink.host.connectors.ssh import SshConnector
from edgeshrink.host.inventory import Device
from edgeshrink.host.session import AgentSession
from edgeshrink.shared.errors import ConnectError, RemoteError
from edgeshrink.shared.types import BenchSettings

from .conftest import ssh_devices_file

FREED_WITHIN_S = 5.0
# The most warm-up runs allowed: tens of seconds for the tiny model, far past the few
# seconds the board has to be freed in, so only the watchdog can end the pass in time.
ENDLESS_MEMORY_PASS = BenchSettings(threads=1, warmup_runs=1000000, min_runs=1, max_runs=10,
                                    min_time_s=0.0, max_time_s=1.0)


def processes_of(root):
    """Pids whose command line names the agent root: the agent and its measuring children."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if any(str(root).encode() in arg for arg in argv):
            found.append((int(entry), [a.decode("utf-8", "replace") for a in argv if a]))
    return found


def lock_is_free(root):
    with open(os.path.join(str(root), "lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def _cut_ssh(connector):
    # As abrupt as the host side can make it: the TCP connection goes, no SSH goodbye.
    connector.clients[-1].get_transport().sock.shutdown(socket.SHUT_RDWR)


def _cut_local(session):
    session.channel.stdin.close()


@dataclass
class Board:
    session: AgentSession
    cut_the_link: Callable[[], None]
    # How the host learns of it: over SSH the whole connection is gone; a local agent
    # whose input was closed can still answer, and says its run was stopped.
    host_sees: Tuple[type, str]


def ssh_board(tmp_path, ssh_server, python, root=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    devices = ssh_devices_file(tmp_path / "devices.toml", ssh_server.credentials(),
                               root=str(root or tmp_path / "board-root"), python=python)
    connector = SshConnector(inventory.load(devices).get("board"))
    session = AgentSession(connector, agent_bundle.build(tmp_path / "agent"))
    return Board(session, lambda: _cut_ssh(connector), (ConnectError, "stopped unexpectedly"))


def local_board(tmp_path, python):
    device = Device(name="board", root=str(tmp_path / "board-root"), python=python)
    session = AgentSession(LocalConnector(device), agent_bundle.build(tmp_path / "agent"))
    return Board(session, lambda: _cut_local(session), (RemoteError, "'bench' stopped: the host's link closed"))


@pytest.fixture(params=["ssh-host-python", "ssh-python3.8", "local-python3.8"])
def board(request, tmp_path):
    python = sys.executable if request.param.endswith("host-python") else request.getfixturevalue("python38")
    if request.param.startswith("ssh"):
        return ssh_board(tmp_path, request.getfixturevalue("ssh_server"), python)
    return local_board(tmp_path, python)


def test_a_link_dropped_during_the_silent_memory_pass_frees_the_board(tmp_path, board, tiny_model):
    session = board.session
    root = tmp_path / "board-root"
    sha = hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    cut_at = []

    def on_event(kind, data):
        if kind == "progress" and data.get("phase") == "memory" and not cut_at:
            assert not lock_is_free(root)  # the run really holds the board
            cut_at.append(time.monotonic())
            board.cut_the_link()

    try:
        with session:
            push.push(session, {sha: tiny_model})
            error, message = board.host_sees
            with pytest.raises(error, match=message):
                session.call("bench", {"variants": [{"name": "tiny", "blob": sha}],
                                       "settings": ENDLESS_MEMORY_PASS.to_dict()},
                              on_event=on_event, timeout_s=60)
            assert cut_at, "the memory pass never started"
            host_noticed_s = time.monotonic() - cut_at[0]

            deadline = cut_at[0] + FREED_WITHIN_S
            while time.monotonic() < deadline and (processes_of(root) or not lock_is_free(root)):
                time.sleep(0.05)
            left = processes_of(root)
            assert lock_is_free(root), "the device lock is still held %.0fs after the link dropped" % FREED_WITHIN_S
            assert not left, "still running after the link dropped: %s" % left
            assert host_noticed_s < FREED_WITHIN_S
    finally:
        for pid, _ in processes_of(root):  # only after a failure: never leave an endless pass behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_the_agent_exits_cleanly_when_stdin_closes_while_idle_or_after_shutdown(tmp_path, python38):
    # Idle: end of input is the normal way a session ends, not a lost link.
    idle = local_board(tmp_path / "idle", python38)
    with idle.session as session:
        assert session.call("ping")["pong"] is True
        idle.cut_the_link()
        assert session.channel.process.wait(timeout=FREED_WITHIN_S) == 0
        assert "Traceback" not in session.channel.stderr_tail()
    # Shutdown with stdin still open: the agent leaves while its reader waits for input.
    with local_board(tmp_path / "shutdown", python38).session as session:
        assert session.call("shutdown") == {"bye": True}
        assert session.channel.process.wait(timeout=FREED_WITHIN_S) == 0
        assert "Fatal" not in session.channel.stderr_tail()


def test_a_link_dropped_mid_upload_then_an_immediate_retry_succeeds(tmp_path, ssh_server):
    import threading

    blob = tmp_path / "big.bin"
    blob.write_bytes(os.urandom(48 * 2 ** 20))
    sha = hashlib.sha256(blob.read_bytes()).hexdigest()
    root = tmp_path / "board-root"
    first = ssh_board(tmp_path, ssh_server, sys.executable)
    failures = []

    def push_and_fail():
        try:
            push.push(first.session, {sha: blob})
        except Exception as exc:   # the cut link: expected
            failures.append(exc)

    with first.session:
        pusher = threading.Thread(target=push_and_fail)
        pusher.start()
        incoming = root / "incoming"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                p.name.endswith(".upload") and p.stat().st_size > 2 ** 20 for p in incoming.glob("*")):
            time.sleep(0.01)
        first.cut_the_link()
        pusher.join(timeout=60)
    assert failures, "the upload finished before the link could be cut"

    # At once, as a user re-running the command would: a new session, the same blob.
    retry = ssh_board(tmp_path / "retry", ssh_server, sys.executable, root=root)
    with retry.session as session:
        # Sent again, or already there when the orphan's upload had just completed before the
        # cut: either way the retry succeeds and the blob is whole.
        push.push(session, {sha: blob})
        assert session.call("have_blobs", {"sha256": [sha]})["missing"] == []
    assert hashlib.sha256((root / "blobs" / sha).read_bytes()).hexdigest() == sha

    deadline = time.monotonic() + 10   # the orphan's watchdog gives up on its own
    while time.monotonic() < deadline and processes_of(root):
        time.sleep(0.1)
    assert not processes_of(root), "an orphaned agent is still running: %s" % processes_of(root)


def test_closing_a_session_whose_ssh_link_dropped_raises_nothing(tmp_path, ssh_server):
    from edgeshrink.shared.errors import ConnectError

    board = ssh_board(tmp_path, ssh_server, sys.executable)
    connector = board.session.connector
    with board.session as session:
        assert session.call("ping")["pong"] is True
        board.cut_the_link()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and connector.clients[-1].get_transport().is_active():
            time.sleep(0.02)
        assert not connector.clients[-1].get_transport().is_active()
        with pytest.raises(ConnectError):        # paramiko's EOFError, in the host's words
            session.call("ping")
    # Leaving the block said goodbye to nobody, quietly: no EOFError escaped.
