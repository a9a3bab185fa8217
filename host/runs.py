"""A run: one model's variants measured on one device, as the host keeps it.

The measurement of each variant is the agent's typed record; the manifest is the
host's own account of how the variant was made (host/compress/variants.py).
"""

from dataclasses import dataclass, field
from typing import List, Optional

from ..shared.decision import Decision
from ..shared.device_facts import DeviceFacts
from ..shared.measurement import VariantMeasurement

MIB = float(2 ** 20)


@dataclass
class VariantResult:
    name: str
    manifest: dict
    measurement: VariantMeasurement

    @property
    def size_mb(self):
        size = self.manifest.get("size_bytes")
        return None if size is None else size / MIB   # None: the variant could not be made

    def to_dict(self):
        return {"name": self.name, "manifest": self.manifest, "measurement": self.measurement.to_dict()}

    @classmethod
    def from_dict(cls, data):
        return cls(data["name"], data["manifest"], VariantMeasurement.from_dict(data["measurement"]))


@dataclass
class HistoryEntry:
    """One stored measurement of one variant file on one device (ResultsStore.history)."""

    run_id: int
    started_at: float
    status: str
    name: str
    model_sha256: Optional[str]
    facts: dict
    settings: dict
    manifest: dict
    measurement: VariantMeasurement

    @property
    def runtime(self):
        return self.measurement.environment.runtime or self.manifest.get("runtime") or "onnxruntime"

    @property
    def runtime_version(self):
        return self.measurement.environment.runtime_version


@dataclass
class Run:
    device: str
    started_at: float
    model_path: str
    model_sha256: str
    settings: dict
    constraints: dict
    facts: DeviceFacts = field(default_factory=DeviceFacts)
    push: dict = field(default_factory=dict)
    variants: List[VariantResult] = field(default_factory=list)
    decision: Optional[Decision] = None
    run_id: Optional[int] = None
    status: str = "measured"
    finished_at: Optional[float] = None
    evaluation_blob: Optional[str] = None   # sha256 of the evaluation file the device measured with
    host: Optional[str] = None   # the host that saved it (a store can be shared by several)

    def variant(self, name):
        return next((v for v in self.variants if v.name == name), None)

    @classmethod
    def from_dict(cls, data):
        """A run from its ``to_dict`` form (a --json document, for instance)."""
        decision = data.get("decision")
        return cls(device=data["device"], started_at=data["started_at"], model_path=data["model_path"],
                   model_sha256=data["model_sha256"], settings=data.get("settings") or {},
                   constraints=data.get("constraints") or {}, facts=DeviceFacts.from_dict(data.get("facts")),
                   push=data.get("push") or {}, variants=[VariantResult.from_dict(v) for v in data["variants"]],
                   decision=Decision.from_dict(decision) if decision else None, run_id=data.get("id"),
                   status=data.get("status") or "measured", finished_at=data.get("finished_at"),
                   evaluation_blob=data.get("evaluation_blob"), host=data.get("host"))

    def to_dict(self):
        return {"id": self.run_id, "device": self.device, "started_at": self.started_at,
                "finished_at": self.finished_at, "model_path": self.model_path,
                "model_sha256": self.model_sha256, "settings": self.settings,
                "constraints": self.constraints, "facts": self.facts.to_dict(), "push": self.push,
                "status": self.status, "evaluation_blob": self.evaluation_blob, "host": self.host, "decision": self.decision.to_dict() if self.decision else None,
                "variants": [v.to_dict() for v in self.variants]}
