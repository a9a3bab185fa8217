"""The results store: SQLite, one file, written one whole run per transaction.

A run is saved only when it is complete, so an interrupted deploy leaves no
partial results behind. Schema (created on first use):

    runs(id, started_at, finished_at, device, model_path, model_sha256, settings_json,
         facts_json, constraints_json, decision_json, push_json, status)
    variants(id, run_id, name, technique, sha256, size_bytes, params, macs, manifest_json)
    measurements(id, run_id, variant_id, ok, p50_ms, p90_ms, p99_ms, mean_ms, std_ms, cov,
                 load_ms, first_inference_ms, peak_rss_mb, accuracy, top1_agreement,
                 cosine_mean, sqnr_db, throttled, samples_json, detail_json)
"""

import json
import sqlite3
import time
from pathlib import Path

from ..shared.errors import EdgeshrinkError
from . import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started_at REAL, finished_at REAL, device TEXT NOT NULL,
    model_path TEXT, model_sha256 TEXT, settings_json TEXT, facts_json TEXT,
    constraints_json TEXT, decision_json TEXT, push_json TEXT, status TEXT);
CREATE TABLE IF NOT EXISTS variants (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT,
    technique TEXT, sha256 TEXT, size_bytes INTEGER, params INTEGER, macs INTEGER,
    manifest_json TEXT);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
    variant_id INTEGER NOT NULL REFERENCES variants(id), ok INTEGER,
    p50_ms REAL, p90_ms REAL, p99_ms REAL, mean_ms REAL, std_ms REAL, cov REAL,
    load_ms REAL, first_inference_ms REAL, peak_rss_mb REAL, accuracy REAL,
    top1_agreement REAL, cosine_mean REAL, sqnr_db REAL, throttled INTEGER,
    samples_json TEXT, detail_json TEXT);
CREATE INDEX IF NOT EXISTS runs_by_device ON runs(device, id);
"""


class StoreError(EdgeshrinkError):
    code = "store"
    exit_code = 10


def _dumps(value):
    return json.dumps(value, sort_keys=True)


class ResultsStore:
    def __init__(self, path=None):
        self.path = Path(path) if path else paths.results_db()

    def _connect(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(self.path), timeout=30)
            connection.executescript(SCHEMA)
            return connection
        except (OSError, sqlite3.Error) as exc:
            raise StoreError("results store %s is not usable: %s" % (self.path, exc),
                             "pass --db PATH or set EDGESHRINK_DB")

    def save_run(self, run):
        """Save one complete run (see deploy.RunRecord.to_dict); returns its id."""
        connection = self._connect()
        try:
            with connection:  # one transaction: all of the run or none of it
                cursor = connection.execute(
                    "INSERT INTO runs (started_at, finished_at, device, model_path, model_sha256,"
                    " settings_json, facts_json, constraints_json, decision_json, push_json, status)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (run["started_at"], run.get("finished_at", time.time()), run["device"],
                     run["model_path"], run["model_sha256"], _dumps(run["settings"]),
                     _dumps(run["facts"]), _dumps(run["constraints"]), _dumps(run.get("decision")),
                     _dumps(run.get("push")), run.get("status", "measured")))
                run_id = cursor.lastrowid
                for variant in run["variants"]:
                    self._save_variant(connection, run_id, variant)
            return run_id
        except sqlite3.Error as exc:
            raise StoreError("could not save results to %s: %s" % (self.path, exc))
        finally:
            connection.close()

    def _save_variant(self, connection, run_id, variant):
        manifest = variant["manifest"]
        cursor = connection.execute(
            "INSERT INTO variants (run_id, name, technique, sha256, size_bytes, params, macs,"
            " manifest_json) VALUES (?,?,?,?,?,?,?,?)",
            (run_id, variant["name"], manifest.get("technique"), manifest.get("sha256"),
             manifest.get("size_bytes"), manifest.get("params"), manifest.get("macs"), _dumps(manifest)))
        m = variant["measurement"]
        latency = (m.get("latency_pass") or {}).get("latency") or {}
        fidelity = (m.get("latency_pass") or {}).get("fidelity") or {}
        verdict = ((m.get("thermal") or {}).get("verdict") or {}).get("throttled")
        detail = {k: v for k, v in m.items() if k != "latency_pass"}
        detail["latency_pass"] = {k: v for k, v in (m.get("latency_pass") or {}).items() if k != "samples_ms"}
        connection.execute(
            "INSERT INTO measurements (run_id, variant_id, ok, p50_ms, p90_ms, p99_ms, mean_ms,"
            " std_ms, cov, load_ms, first_inference_ms, peak_rss_mb, accuracy, top1_agreement,"
            " cosine_mean, sqnr_db, throttled, samples_json, detail_json)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, cursor.lastrowid, int(bool(m.get("ok"))), latency.get("p50_ms"), latency.get("p90_ms"),
             latency.get("p99_ms"), latency.get("mean_ms"), latency.get("std_ms"), latency.get("cov"),
             (m.get("latency_pass") or {}).get("load_ms"),
             (m.get("latency_pass") or {}).get("first_inference_ms"),
             (m.get("memory") or {}).get("peak_rss_mb"), fidelity.get("accuracy"),
             fidelity.get("top1_agreement"), fidelity.get("cosine_mean"), fidelity.get("sqnr_db"),
             None if verdict is None else int(verdict),
             _dumps((m.get("latency_pass") or {}).get("samples_ms")), _dumps(detail)))

    def set_decision(self, run_id, decision, status):
        connection = self._connect()
        try:
            with connection:
                connection.execute("UPDATE runs SET decision_json = ?, status = ? WHERE id = ?",
                                   (_dumps(decision), status, run_id))
        finally:
            connection.close()

    def load_run(self, run_id=None, device=None):
        """A stored run (the latest for ``device`` when no id is given), as saved."""
        if not self.path.exists():
            raise StoreError("no results yet at %s" % self.path, "run `edgeshrink bench` or `deploy` first")
        connection = self._connect()
        connection.row_factory = sqlite3.Row
        try:
            if run_id is not None:
                row = connection.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            else:
                row = connection.execute("SELECT * FROM runs WHERE device = ? ORDER BY id DESC LIMIT 1",
                                         (device,)).fetchone()
            if row is None:
                raise StoreError("no stored run %s" % (("#%s" % run_id) if run_id is not None
                                                        else "for device '%s'" % device))
            variants = []
            for v in connection.execute(
                    "SELECT v.name, v.manifest_json, m.samples_json, m.detail_json FROM variants v"
                    " JOIN measurements m ON m.variant_id = v.id WHERE v.run_id = ? ORDER BY v.id",
                    (row["id"],)):
                measurement = json.loads(v["detail_json"])
                measurement.setdefault("latency_pass", {})["samples_ms"] = json.loads(v["samples_json"])
                variants.append({"name": v["name"], "manifest": json.loads(v["manifest_json"]),
                                 "measurement": measurement})
            return {"id": row["id"], "device": row["device"], "started_at": row["started_at"],
                    "finished_at": row["finished_at"], "model_path": row["model_path"],
                    "model_sha256": row["model_sha256"], "settings": json.loads(row["settings_json"]),
                    "facts": json.loads(row["facts_json"]), "constraints": json.loads(row["constraints_json"]),
                    "decision": json.loads(row["decision_json"] or "null"),
                    "push": json.loads(row["push_json"] or "null"), "status": row["status"],
                    "variants": variants}
        finally:
            connection.close()

    def count_runs(self):
        if not self.path.exists():
            return 0
        connection = self._connect()
        try:
            return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        finally:
            connection.close()
