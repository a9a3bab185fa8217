"""`history`: a device's stored measurements per variant file, with their change points."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import List

from .change_points import e_divisive

COLUMNS = ("device", "variant", "sha256", "runtime", "runtime_version", "run", "date", "status", "p50_ms",
           "p90_ms", "p99_ms", "peak_rss_mb", "accuracy", "agreement", "energy_mj", "change_point")


@dataclass
class KeyHistory:
    device: str
    sha256: str
    runtime: str
    rows: List[dict] = field(default_factory=list)
    change_points: List[dict] = field(default_factory=list)

    def to_dict(self):
        return {"device": self.device, "sha256": self.sha256, "runtime": self.runtime, "rows": self.rows,
                "change_points": self.change_points}


def _row(device, entry):
    m = entry.measurement
    return {"device": device, "variant": entry.name, "sha256": entry.manifest.get("sha256"), "runtime": entry.runtime,
            "runtime_version": entry.runtime_version, "run": entry.run_id,
            "date": datetime.fromtimestamp(entry.started_at).strftime("%Y-%m-%d %H:%M"), "status": entry.status,
            **{name: m.figure(name).value for name in ("p50_ms", "p90_ms", "p99_ms", "peak_rss_mb", "accuracy",
                                                       "agreement", "energy_mj")},
            "change_point": False}


def histories(store, device, model_sha256=None):
    """[KeyHistory] of every variant file measured on ``device``: one per file and runtime."""
    found = []
    for sha in store.variant_files(device, model_sha256):
        by_runtime = {}
        for entry in store.history(device, sha):
            if entry.measurement.ok:
                by_runtime.setdefault(entry.runtime, []).append(entry)
        for runtime, entries in by_runtime.items():
            key = KeyHistory(device, sha, runtime, [_row(device, e) for e in entries])
            series = [row["p50_ms"] for row in key.rows]
            if all(value is not None for value in series):
                for point in e_divisive(series):
                    row = key.rows[point.index]
                    row["change_point"] = True
                    key.change_points.append({"run": row["run"], "date": row["date"],
                                              "change": point.relative_change, "p_value": point.p_value})
            found.append(key)
    return found
