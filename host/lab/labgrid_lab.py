"""A real labgrid farm on 127.0.0.1: a coordinator and an exporter whose NetworkService
resources point at lab boards' sshd, with places made and tagged by labgrid's own
client. For the tests and for trying `labgrid_place` without a lab.

The coordinator keeps its state files in its working directory (a temporary one
here); the exporter is stopped before the coordinator, which otherwise waits out its
grace period for the exporter's stream.
"""

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .sshd import free_port

READY_WAIT_S = 30


def _tool(name):
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def unavailable():
    """Why no labgrid farm can start here, or None."""
    try:
        import labgrid  # noqa: F401
    except ImportError:
        return "labgrid is not installed (pip install 'edgeshrink[labgrid]')"
    missing = [name for name in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client") if not _tool(name)]
    return "no %s beside the Python running the tests" % ", ".join(missing) if missing else None



class LabgridFarm:
    """``LabgridFarm({"pi4-07": (credentials, {"board": "pi4"})}).start()``: one exporter
    group and one place per board, each place matching its group's NetworkService."""

    def __init__(self, boards, workdir=None):
        self.boards = dict(boards)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="edgeshrink-labgrid-"))
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.processes = []

    def client(self, *args, check=True):
        result = subprocess.run([_tool("labgrid-client"), "-x", self.address] + list(args), capture_output=True,
                                text=True, timeout=60, cwd=str(self.workdir))
        if check and result.returncode != 0:
            raise RuntimeError("labgrid-client %s: %s" % (" ".join(args), result.stderr.strip()[-500:]))
        return result.stdout

    def _start(self, argv, log_name, ready_text):
        log = open(self.workdir / log_name, "w")
        process = subprocess.Popen(argv, cwd=str(self.workdir), stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        deadline = time.monotonic() + READY_WAIT_S
        while ready_text not in (self.workdir / log_name).read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s did not start: %s" % (argv[0], (self.workdir / log_name).read_text()[-500:]))
            time.sleep(0.05)

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start([_tool("labgrid-coordinator"), "--listen", self.address], "coordinator.log", "listening on")
            groups = {}
            for place, (credentials, _) in self.boards.items():
                groups[place + "-board"] = {"NetworkService": {
                    "address": credentials.host, "port": credentials.port, "username": credentials.user}}
            (self.workdir / "exporter.yaml").write_text(json.dumps(groups))   # YAML reads JSON
            self._start([_tool("labgrid-exporter"), "--coordinator", self.address, "--name", "lab-exporter",
                         "--hostname", "127.0.0.1", str(self.workdir / "exporter.yaml")],
                        "exporter.log", "Exporter ready")
            deadline = time.monotonic() + READY_WAIT_S
            while not all("%s-board/NetworkService" % place in self.client("resources", check=False)
                          for place in self.boards):
                if time.monotonic() > deadline:
                    raise RuntimeError("the exporter's resources never reached the coordinator")
                time.sleep(0.2)
            for place, (_, tags) in self.boards.items():
                self.client("-p", place, "create")
                self.client("-p", place, "add-match", "lab-exporter/%s-board/NetworkService" % place)
                if tags:
                    self.client("-p", place, "set-tags", *("%s=%s" % item for item in sorted(tags.items())))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for process in reversed(self.processes):   # the exporter first
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def device_toml(name, credentials, coordinator, place=None, tags=None, **extra):
    """A [devices.NAME] table for a board leased through labgrid (no host: the place has it)."""
    values = {"connection": "ssh", "identity_file": credentials.identity_file,
              "known_hosts": credentials.known_hosts, "labgrid_coordinator": coordinator}
    if place:
        values["labgrid_place"] = place
    values.update(extra)
    lines = ["[devices.%s]" % name] + ["%s = %s" % (k, json.dumps(v)) for k, v in values.items()]
    if tags:
        lines.append("labgrid_tags = { %s }" % ", ".join("%s = %s" % (k, json.dumps(v)) for k, v in tags.items()))
    return "\n".join(lines) + "\n\n"
