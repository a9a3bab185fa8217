"""What the board is: stored with every result so a nightly diff can say what changed."""

import os
import platform
import socket
import sys

from . import AGENT_VERSION, backends, cpu_features
from .backends.probing import probe_distribution
from ..shared.device_facts import DeviceFacts, RuntimeProbe
from ..shared.measurement import Power
from .power_sources import discover
from .sensors import Sensors, read_text


def _first_match(path, keys):
    try:
        with open(path) as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() in keys and value.strip():
                    return value.strip()
    except OSError:
        pass
    return None


def _meminfo_mb(key):
    value = _first_match("/proc/meminfo", (key,))
    return round(int(value.split()[0]) / 1024.0, 1) if value else None


def _module_version(name):
    # Metadata only: importing numpy just to report its version would cost the idle agent RSS.
    probe = probe_distribution(name, name)
    return probe.get("version") if probe["available"] else None


def cgroup_limits(proc_cgroup="/proc/self/cgroup", mount="/sys/fs/cgroup"):
    """CPU (cores) and memory (MiB) limits of this process's cgroup, v1 or v2.

    A board in a container, or a simulated one, is smaller than /proc/cpuinfo says;
    the results must say so. Absent keys mean no limit was found.
    """
    limits = {}
    text = read_text(proc_cgroup)
    for line in (text or "").splitlines():
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",") if controllers else []
        if not names:  # cgroup v2: one unified hierarchy
            cpu_max = (read_text(mount + path + "/cpu.max") or "max").split()
            if cpu_max[0] != "max" and len(cpu_max) == 2:
                limits["cpu_cores"] = round(int(cpu_max[0]) / float(cpu_max[1]), 3)
            memory = read_text(mount + path + "/memory.max")
            if memory and memory != "max":
                limits["memory_mb"] = round(int(memory) / 2 ** 20, 1)
        if "cpu" in names:
            folder = mount + "/" + controllers + path
            quota, period = read_text(folder + "/cpu.cfs_quota_us"), read_text(folder + "/cpu.cfs_period_us")
            if quota and period and int(quota) > 0:
                limits["cpu_cores"] = round(int(quota) / float(period), 3)
        if "memory" in names:
            memory = read_text(mount + "/" + controllers + path + "/memory.limit_in_bytes")
            if memory and int(memory) < 2 ** 60:  # v1 reports "unlimited" as a huge number
                limits["memory_mb"] = round(int(memory) / 2 ** 20, 1)
    return limits


def power_source_fact(sensors):
    """Which power source this board offers (none is measured at hello), or why none."""
    found = discover(sensors.sys_root, sensors.vcgencmd)
    if found.source is None:
        return Power(reason=found.reason)
    return Power(reason="found at hello; read while variants are timed", source=found.source.name,
                 rail=found.source.rail, boundary=found.source.boundary, where="board")


def collect(root):
    statvfs = os.statvfs(root) if os.path.isdir(root) else None
    # Sensors and the board model come from EDGESHRINK_SYSFS_ROOT (default /), so a fixture
    # tree can stand in for a board; memory, CPUs and cgroups are always this machine's.
    sensors = Sensors()
    snapshot = sensors.snapshot()
    return DeviceFacts(
        hostname=socket.gethostname(),
        system=platform.system(),
        kernel=platform.release(),
        machine=platform.machine(),
        board=sensors.board_model(),
        cpu_model=_first_match("/proc/cpuinfo", ("model name", "Model", "Hardware")),
        cpu_count=os.cpu_count(),
        cpu_features=cpu_features.read(platform.machine()),
        core_kinds=cpu_features.read_core_kinds(),
        cpus_allowed=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        limits=cgroup_limits(),
        mem_total_mb=_meminfo_mb("MemTotal"),
        mem_available_mb=_meminfo_mb("MemAvailable"),
        disk_free_mb=round(statvfs.f_bavail * statvfs.f_frsize / 2 ** 20, 1) if statvfs else None,
        python=platform.python_version(),
        python_executable=sys.executable,
        agent_version=AGENT_VERSION,
        runtimes={name: RuntimeProbe.from_dict(probe) for name, probe in backends.probe_all().items()},
        numpy=_module_version("numpy"),
        psutil=_module_version("psutil"),
        governors=sorted({f["governor"] for f in snapshot["cpufreq_khz"].values() if f.get("governor")}),
        thermal=snapshot,
        power=power_source_fact(sensors),
        sysfs_root=sensors.sys_root,
        root=root,
    ).to_dict()
