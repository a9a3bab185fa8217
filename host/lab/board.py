"""A simulated board: sshd in its own network namespace behind a veth pair, with a
bandwidth cap on its link (tc tbf) and cgroup v1 CPU and memory limits that every
process it starts (sessions, the agent, measurement children) inherits.

Needs root, iproute2 and writable cgroup v1 ``cpu`` and ``memory`` controllers;
``why_unavailable()`` says which is missing so tests can skip with that reason.
"""

import os
import shutil
import subprocess
from pathlib import Path

from .sshd import SshServer

CGROUP_V1 = Path("/sys/fs/cgroup")
CGROUP_PARENT = "edgeshrink-lab"
SUBNET = "10.213"


def _run(*args):
    return subprocess.run(list(args), capture_output=True, text=True)


def why_unavailable():
    """None when simulated boards can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "simulated boards need root (network namespaces, cgroups)"
    for tool in ("ip", "tc", "pkill", "nsenter"):
        if shutil.which(tool) is None:
            return "%s is not installed (apt-get install iproute2 procps)" % tool
    for controller in ("cpu", "memory"):
        if not os.access(CGROUP_V1 / controller, os.W_OK):
            return "cgroup v1 %s controller is not writable at %s" % (controller, CGROUP_V1 / controller)
    probe = "es-probe-%d" % os.getpid()
    result = _run("ip", "netns", "add", probe)
    if result.returncode != 0:
        return "the kernel refuses network namespaces: %s" % result.stderr.strip()
    _run("ip", "netns", "del", probe)
    return None


class SimulatedBoard:
    def __init__(self, index, workdir, cpus=1.0, memory_mb=1024, rate_mbit=100, user_key=None):
        if not 0 <= index < 250:
            raise ValueError("board index must be 0..249")
        self.index = index
        self.name = "es-board%d" % index
        self.host_link = "esh%d" % index
        self.board_link = "esb%d" % index
        self.host_ip = "%s.%d.1" % (SUBNET, index)
        self.board_ip = "%s.%d.2" % (SUBNET, index)
        self.cpus, self.memory_mb, self.rate_mbit = cpus, memory_mb, rate_mbit
        self.workdir = Path(workdir)
        self.user_key = user_key
        self.server = None

    def _cgroup(self, controller):
        return CGROUP_V1 / controller / CGROUP_PARENT / self.name

    def _check(self, *args):
        result = _run(*args)
        if result.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(args), result.stderr.strip()))

    def _network(self):
        self.teardown_network()  # a board left over by a killed run
        self._check("ip", "netns", "add", self.name)
        self._check("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", self.board_link)
        self._check("ip", "link", "set", self.board_link, "netns", self.name)
        self._check("ip", "addr", "add", self.host_ip + "/24", "dev", self.host_link)
        self._check("ip", "link", "set", self.host_link, "up")
        inside = ("ip", "netns", "exec", self.name)
        self._check(*inside, "ip", "addr", "add", self.board_ip + "/24", "dev", self.board_link)
        self._check(*inside, "ip", "link", "set", self.board_link, "up")
        self._check(*inside, "ip", "link", "set", "lo", "up")
        if self.rate_mbit:
            # Shape what the host sends to the board (model pushes), like a slow link.
            self._check("tc", "qdisc", "add", "dev", self.host_link, "root", "tbf",
                        "rate", "%dmbit" % self.rate_mbit, "burst", "64kb", "latency", "50ms")

    def _cgroups(self):
        cpu, memory = self._cgroup("cpu"), self._cgroup("memory")
        for folder in (cpu, memory):
            folder.mkdir(parents=True, exist_ok=True)
        self.set_cpus(self.cpus)
        (memory / "memory.limit_in_bytes").write_text(str(int(self.memory_mb) * 2 ** 20))

    def set_cpus(self, cpus, period_us=100000):
        """Change the board's CPU quota while it runs, as a lab would make a board slower.
        A quota throttles in whole periods: work shorter than the period runs at full
        speed or waits out the period's rest, so a shorter ``period_us`` spreads the
        slowdown over more of the samples."""
        cpu = self._cgroup("cpu")
        # The kernel refuses a period whose current quota would not fit: clear it first.
        (cpu / "cpu.cfs_quota_us").write_text("-1")
        (cpu / "cpu.cfs_period_us").write_text(str(int(period_us)))
        (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * period_us)))
        self.cpus = cpus

    def start(self):
        self._network()
        self._cgroups()
        # The wrapper joins the cgroups, then becomes sshd inside the namespace (same pid),
        # so everything sshd starts is limited from its first instruction.
        join = "echo $$ > %s/cgroup.procs && echo $$ > %s/cgroup.procs && exec \"$@\"" % (
            self._cgroup("cpu"), self._cgroup("memory"))
        # nsenter switches only the network namespace; `ip netns exec` would also remount
        # /sys and hide /sys/fs/cgroup, so the board could not see its own limits.
        prefix = ["sh", "-c", join, "sh", "nsenter", "--net=/run/netns/" + self.name]
        self.server = SshServer(self.workdir, listen=self.board_ip, port=22, prefix=prefix,
                                user_key=self.user_key)
        try:
            self.server.start()
        except Exception:
            self.stop()
            raise
        return self

    def credentials(self):
        return self.server.credentials()

    def teardown_network(self):
        _run("ip", "link", "del", self.host_link)
        _run("ip", "netns", "del", self.name)

    def stop(self):
        if self.server is not None:
            self.server.stop()
        # Processes still in the cgroup (an orphaned agent) would keep it alive.
        for pid in (self._cgroup("cpu") / "cgroup.procs").read_text().split() \
                if (self._cgroup("cpu") / "cgroup.procs").exists() else []:
            _run("kill", "-9", pid)
        self.teardown_network()
        for controller in ("cpu", "memory"):
            folder = self._cgroup(controller)
            if folder.exists():
                try:
                    folder.rmdir()
                except OSError:
                    pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
