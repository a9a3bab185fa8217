"""What a board is, as its agent reports it in ``hello``: stored with every run so a
nightly comparison can say what changed between two runs."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .measurement import Power
from .records import Record


@dataclass
class RuntimeProbe(Record):
    """One runtime on the board: installed or not, its version, and why not."""

    available: bool = False
    version: Optional[str] = None
    reason: Optional[str] = None
    install_hint: Optional[str] = None
    package: Optional[str] = None   # the distribution that provides it (tflite: ai-edge-litert or tflite-runtime)


@dataclass
class DeviceFacts(Record):
    hostname: Optional[str] = None
    system: Optional[str] = None
    kernel: Optional[str] = None
    machine: Optional[str] = None
    board: Optional[str] = None
    cpu_model: Optional[str] = None
    cpu_count: Optional[int] = None
    cpu_features: dict = field(default_factory=dict)    # agent/cpu_features.py: family, present, absent, source
    core_kinds: List[dict] = field(default_factory=list)   # ARM: [{part, cpus}] per kind of core (big.LITTLE)
    cpus_allowed: Optional[int] = None
    limits: dict = field(default_factory=dict)          # cgroup cpu_cores / memory_mb
    mem_total_mb: Optional[float] = None
    mem_available_mb: Optional[float] = None
    disk_free_mb: Optional[float] = None
    python: Optional[str] = None
    python_executable: Optional[str] = None
    agent_version: Optional[str] = None
    runtimes: Dict[str, RuntimeProbe] = field(default_factory=dict)
    numpy: Optional[str] = None
    psutil: Optional[str] = None
    governors: List[str] = field(default_factory=list)
    thermal: dict = field(default_factory=dict)         # a sensors snapshot at hello time
    power: Power = field(default_factory=Power)
    sysfs_root: Optional[str] = None                    # where sensors were read (a testing aid)
    root: Optional[str] = None

    @classmethod
    def from_dict(cls, data):
        facts = super().from_dict(data)
        # Dict[str, record] is not one of the shapes records.from_dict recurses into.
        facts.runtimes = {name: probe if isinstance(probe, RuntimeProbe) else RuntimeProbe.from_dict(probe)
                          for name, probe in (facts.runtimes or {}).items()}
        return facts
